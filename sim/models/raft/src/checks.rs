//! What is checked in a `raft` run, and why; the catalogue `dsim explain` shows.
//!
//! - `always`: the four safety properties of Raft's Figure 3 (`election-safety`,
//!   `log-matching`, `leader-completeness`, `state-machine-safety`, see `invariants.rs`),
//!   and `no-disruptive-election` (thesis §9.6, etcd #9333).
//! - `eventually`: `leader-elected` — after the heal phase an up server leads in the
//!   highest term any up server knows (§5.2: elections terminate when the network is
//!   stable; thesis §9.3).
//! - `history`: `linearizable` — the KV history is linearizable per key (Herlihy & Wing
//!   1990), checked with the Wing–Gong/Lowe search of `dsim-checkers`, with the
//!   simulator's knowledge of which timed-out writes some server applied; `stale-read` —
//!   no get returns a value overwritten before it began (the anomaly a deposed leader's
//!   local reads or an expired lease produce).
//!
//! Model selectors: `leader` (the current leader), `follower` (the lowest-numbered up
//! server that does not lead) and `leader-with(NODE)` (the leader and NODE, e.g. a client,
//! so that a partition keeps that client on the old leader's side).

use std::collections::BTreeMap;

use dsim_checkers::history_checks::first_anomaly;
use dsim_checkers::{stale_reads, Operation, RegOpKind, RegisterInput, RegisterOp, RegisterOutput};
use dsim_core::{Catalogue, CheckInfo, CheckResult, History, Invariant, NodeId, Outcome, View};

use crate::invariants::{
    current_leader, ElectionSafety, LeaderCompleteness, LogMatching, NoDisruptiveElection,
    RaftObserved, StateMachineSafety,
};
use crate::kv::{KvOp, KvResult};
use crate::{RaftModel, RaftNode, Role};

pub const SELECTORS: &[&str] = &["leader", "follower", "leader-with"];

pub const CATALOGUE: Catalogue = Catalogue {
    always: &[
        CheckInfo {
            name: "election-safety",
            about: "at most one leader per term (Raft Figure 3, §5.2)",
        },
        CheckInfo {
            name: "log-matching",
            about: "logs with an entry of the same index and term are identical up to it (Figure 3, §5.3)",
        },
        CheckInfo {
            name: "leader-completeness",
            about: "an entry committed in a term is in the log of every leader of a later term (Figure 3, §5.4)",
        },
        CheckInfo {
            name: "state-machine-safety",
            about: "no two servers apply different entries at one index (Figure 3, §5.4.3)",
        },
        CheckInfo {
            name: "no-disruptive-election",
            about: "no healthy leader is deposed by a server that cannot win (thesis §9.6, etcd #9333)",
        },
    ],
    eventually: &[CheckInfo {
        name: "leader-elected",
        about: "after the heal phase, an up server leads in the highest term any up server knows",
    }],
    sometimes: &[
        CheckInfo {
            name: "re-election",
            about: "a leader was elected in a term above 1",
        },
        CheckInfo {
            name: "membership-changed",
            about: "the admin's membership change was appended by a leader",
        },
        CheckInfo {
            name: "snapshot-installed",
            about: "a server loaded a snapshot (from its disk or from the leader, §7)",
        },
    ],
    history: &[
        CheckInfo {
            name: "linearizable",
            about: "the KV history is linearizable per key (Wing-Gong search with Lowe's memo)",
        },
        CheckInfo {
            name: "stale-read",
            about: "no get returns a value overwritten before it began",
        },
    ],
};

pub fn always(name: &str) -> Option<Box<dyn Invariant<RaftNode>>> {
    Some(match name {
        "election-safety" => Box::new(ElectionSafety::default()),
        "log-matching" => Box::new(LogMatching::default()),
        "leader-completeness" => Box::new(LeaderCompleteness::default()),
        "state-machine-safety" => Box::new(StateMachineSafety::default()),
        "no-disruptive-election" => Box::new(NoDisruptiveElection),
        _ => return None,
    })
}

pub fn select(view: &View<'_, RaftNode>, name: &str, arg: Option<&str>) -> Option<Vec<NodeId>> {
    let leader = current_leader(view);
    match name {
        "leader" => leader.map(|l| vec![l]),
        "follower" => view
            .ids()
            .filter(|id| view.is_up(*id) && Some(*id) != leader)
            .find(|id| {
                view.node(*id)
                    .and_then(|n| n.raft_state())
                    .is_some_and(|s| s.role() != Role::Leader)
            })
            .map(|id| vec![id]),
        "leader-with" => {
            let l = leader?;
            let other = view.ids().find(|id| Some(view.name(*id)) == arg)?;
            Some(if other == l { vec![l] } else { vec![l, other] })
        }
        _ => None,
    }
}

pub fn eventually(
    _model: &RaftModel,
    name: &str,
    view: &View<'_, RaftNode>,
    _history: &History<KvOp, KvResult>,
) -> Option<(String, Vec<NodeId>)> {
    match name {
        "leader-elected" => {
            match current_leader(view) {
                Some(_) => None,
                None => {
                    let terms: Vec<String> = view
                        .ids()
                        .filter_map(|id| {
                            let s = view.node(id)?.raft_state()?;
                            Some(format!(
                                "{} {} in term {}",
                                view.name(id),
                                s.role().name(),
                                s.term()
                            ))
                        })
                        .collect();
                    Some((
                    format!("no up server leads in the highest term at the end of the heal phase: {}", terms.join(", ")),
                    Vec::new(),
                ))
                }
            }
        }
        _ => Some((
            format!("the raft model has no eventually-check `{name}`"),
            Vec::new(),
        )),
    }
}

pub fn history(
    model: &RaftModel,
    name: &str,
    view: &View<'_, RaftNode>,
    history: &History<KvOp, KvResult>,
    budget: u64,
) -> CheckResult {
    match name {
        "linearizable" => linearizable(model, history, budget),
        "stale-read" => stale(model, view, history),
        _ => CheckResult::Unknown {
            detail: format!("the raft model has no history check `{name}`"),
        },
    }
}

/// The KV history as the linearizability checker sees it: ok ops with their results;
/// a timed-out put or compare-and-set stays pending if some server applied it, and is
/// dropped if none did; failed ops and unanswered gets have no effect.
pub fn to_operations(
    model: &RaftModel,
    history: &History<KvOp, KvResult>,
) -> Vec<(u32, Operation<RegisterInput, RegisterOutput>)> {
    let mut out = Vec::with_capacity(history.len());
    for op in &history.ops {
        let ok = op.outcome == Some(Outcome::Ok);
        let (input, output) = match (op.call, ok, op.ret) {
            (KvOp::Put { value, .. }, true, _) => {
                (RegisterInput::Write(value), Some(RegisterOutput::Written))
            }
            (KvOp::Put { value, .. }, false, _)
                if op.applied && op.outcome != Some(Outcome::Fail) =>
            {
                (RegisterInput::Write(value), None)
            }
            (KvOp::Cas { from, to, .. }, true, Some(KvResult::Cas(b))) => (
                RegisterInput::Cas { from, to },
                Some(RegisterOutput::Cas(b)),
            ),
            (KvOp::Cas { from, to, .. }, false, _)
                if op.applied && op.outcome != Some(Outcome::Fail) =>
            {
                (RegisterInput::Cas { from, to }, None)
            }
            (KvOp::Get { .. }, true, Some(KvResult::Read(v))) => {
                (RegisterInput::Read, Some(RegisterOutput::Read(v)))
            }
            _ => continue,
        };
        let return_ns = if output.is_some() {
            op.complete_ns
        } else {
            None
        };
        out.push((
            op.call.key(),
            Operation {
                id: op.id.0,
                client: model.client_number(op.client),
                call_ns: op.invoke_ns,
                return_ns,
                input,
                output,
            },
        ));
    }
    out
}

fn linearizable(model: &RaftModel, history: &History<KvOp, KvResult>, budget: u64) -> CheckResult {
    dsim_checkers::history_checks::linearizable(history, &to_operations(model, history), budget)
}

/// Stale reads over puts and gets (a compare-and-set that succeeded counts as a write of
/// its new value).
fn stale(
    model: &RaftModel,
    view: &View<'_, RaftNode>,
    history: &History<KvOp, KvResult>,
) -> CheckResult {
    let mut by_key: BTreeMap<u32, Vec<RegisterOp>> = BTreeMap::new();
    for o in &history.ops {
        let kind = match (o.call, o.ret) {
            (KvOp::Put { value, .. }, _) if o.is_ok() || o.applied => RegOpKind::Write {
                value,
                ok: o.is_ok(),
            },
            (KvOp::Cas { to, .. }, Some(KvResult::Cas(true))) if o.is_ok() => RegOpKind::Write {
                value: to,
                ok: true,
            },
            // A compare-and-set some server applied, whose answer the client never got.
            (KvOp::Cas { to, .. }, None) if o.applied => RegOpKind::Write {
                value: to,
                ok: false,
            },
            (KvOp::Get { .. }, Some(KvResult::Read(value))) if o.is_ok() => {
                RegOpKind::Read { value }
            }
            _ => continue,
        };
        by_key.entry(o.call.key()).or_default().push(RegisterOp {
            id: o.id.0,
            client: model.client_number(o.client),
            call_ns: o.invoke_ns,
            return_ns: o.complete_ns,
            kind,
        });
    }
    let Some(f) = first_anomaly(history, &by_key, stale_reads) else {
        return CheckResult::Valid;
    };
    let names: Vec<&str> = f.nodes.iter().map(|n| view.name(*n)).collect();
    CheckResult::Invalid {
        detail: format!(
            "{} stale read(s); the first, on key {} (clients {}): {}",
            f.count,
            f.key,
            names.join(", "),
            f.anomaly.detail
        ),
        nodes: f.nodes,
    }
}
