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

use dsim_checkers::history_checks::{self, RegisterCall};
use dsim_checkers::{stale_reads, RegisterInput, RegisterOutput};
use dsim_core::{
    Catalogue, CheckInfo, CheckResult, History, HistoryEntry, Invariant, NodeId, View,
};

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
        "linearizable" => {
            history_checks::linearizable(history, |op| Some(register_call(model, op)), budget)
        }
        "stale-read" => history_checks::anomalies(
            history,
            view,
            |op| Some(register_call(model, op)),
            stale_reads,
            |f, clients| f.counted("stale read", clients),
        ),
        _ => CheckResult::Unknown {
            detail: format!("the raft model has no history check `{name}`"),
        },
    }
}

/// A KV call as a register call on its key: a put is a write, a compare-and-set is one,
/// a get is a read. What the outcomes and `applied` make of it is the same for every model
/// (`dsim_checkers::history_checks`): a timed-out put or compare-and-set stays pending if
/// some server applied it and is dropped if none did; a compare-and-set that succeeded
/// counts as a write of its new value for the anomaly finders.
pub fn register_call(model: &RaftModel, op: &HistoryEntry<KvOp, KvResult>) -> RegisterCall<u32> {
    let input = match op.call {
        KvOp::Put { value, .. } => RegisterInput::Write(value),
        KvOp::Cas { from, to, .. } => RegisterInput::Cas { from, to },
        KvOp::Get { .. } => RegisterInput::Read,
    };
    RegisterCall {
        key: op.call.key(),
        client: model.client_number(op.client),
        input,
        answer: op.ret.map(|r| match r {
            KvResult::Written => RegisterOutput::Written,
            KvResult::Read(v) => RegisterOutput::Read(v),
            KvResult::Cas(b) => RegisterOutput::Cas(b),
        }),
    }
}
