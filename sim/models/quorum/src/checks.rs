//! What is checked in a quorum run, and why.
//!
//! - `linearizable` (history): the register's history must be linearizable per key
//!   (Herlihy & Wing 1990) — the "strong consistency" that domain note 004 claims for
//!   W + R > N. Checked with the Wing–Gong/Lowe search of `dsim-checkers`, fed the
//!   simulator's knowledge: a timed-out write that no replica applied is dropped, one that
//!   some replica applied stays pending.
//! - `stale-read` (history): a read returned a value that had certainly been overwritten
//!   before the read began — what W + R ≤ N allows.
//! - `new-old-inversion` (history): a later read returned an older value than an earlier
//!   read — what ABD's write-back phase prevents (Attiya, Bar-Noy & Dolev 1995, §3).
//! - `acked-tag-durable` (always): a replica never holds less than it acknowledged, even
//!   across a crash. Breaks with `fsync_before_ack = false`.
//! - `acked-writes-durable` (eventually): at the end, every acknowledged write is on the
//!   disks of at least W replicas.

use dsim_checkers::history_checks::first_anomaly;
use dsim_checkers::{
    new_old_inversions, stale_reads, Anomaly, Operation, RegOpKind, RegisterInput, RegisterOp,
    RegisterOutput,
};
use dsim_core::units::format_ns;
use std::collections::BTreeMap;

use dsim_core::{Catalogue, CheckInfo, CheckResult, History, Invariant, NodeId, Outcome, View};

use crate::msg::Tag;
use crate::replica::durable_state;
use crate::{QCall, QNode, QRet, Quorum};

pub const CATALOGUE: Catalogue = Catalogue {
    always: &[CheckInfo {
        name: "acked-tag-durable",
        about:
            "a replica never holds a lower tag for a key than it acknowledged, even after a crash",
    }],
    eventually: &[CheckInfo {
        name: "acked-writes-durable",
        about: "every acknowledged write is on the disks of at least W replicas at the end",
    }],
    sometimes: &[
        CheckInfo {
            name: "write-ok",
            about: "some write was acknowledged",
        },
        CheckInfo {
            name: "write-timed-out",
            about: "some write timed out (could not gather W acknowledgements)",
        },
        CheckInfo {
            name: "read-timed-out",
            about: "some read timed out",
        },
        CheckInfo {
            name: "replicas-disagree",
            about: "some read or write saw replicas holding different tags",
        },
        CheckInfo {
            name: "write-back-repaired",
            about: "a read's write-back brought a stale replica up to date",
        },
    ],
    history: &[
        CheckInfo {
            name: "linearizable",
            about: "the history is linearizable per key (Wing-Gong search with Lowe's memo)",
        },
        CheckInfo {
            name: "stale-read",
            about: "no read returns a value overwritten before it began",
        },
        CheckInfo {
            name: "new-old-inversion",
            about: "no later read returns an older value than an earlier read",
        },
    ],
};

pub fn always(_model: &Quorum, name: &str) -> Option<Box<dyn Invariant<QNode>>> {
    match name {
        "acked-tag-durable" => Some(Box::new(AckedTagDurable::default())),
        _ => None,
    }
}

/// Remembers, per replica and key, the highest tag the replica ever acknowledged.
#[derive(Default)]
struct AckedTagDurable {
    promised: Vec<Vec<(Tag, u64)>>,
}

impl Invariant<QNode> for AckedTagDurable {
    fn after_event(
        &mut self,
        view: &View<'_, QNode>,
        node: NodeId,
    ) -> Option<(String, Vec<NodeId>)> {
        let Some(QNode::Replica(r)) = view.node(node) else {
            return None;
        };
        if self.promised.len() <= node.index() {
            self.promised.resize(node.index() + 1, Vec::new());
        }
        let promised = &mut self.promised[node.index()];
        if promised.len() < r.keys.len() {
            promised.resize(r.keys.len(), (Tag::default(), 0));
        }
        for (k, (p, at)) in promised.iter_mut().enumerate() {
            if r.acked[k] > *p {
                *p = r.acked[k];
                *at = view.now_ns();
            }
            if r.keys[k].tag < *p {
                return Some((
                    format!(
                        "{} acknowledged key {k} at tag {p} ({}), but now holds tag {}: an acknowledged write was lost \
                         (acknowledged before it was durable, or the disk lost or damaged it; its notes say which)",
                        view.name(node),
                        format_ns(*at),
                        r.keys[k].tag
                    ),
                    vec![node],
                ));
            }
        }
        None
    }
}

pub fn eventually(
    model: &Quorum,
    name: &str,
    view: &View<'_, QNode>,
    history: &History<QCall, QRet>,
) -> Option<(String, Vec<NodeId>)> {
    match name {
        "acked-writes-durable" => acked_writes_durable(model, view, history),
        _ => Some((
            format!("the quorum model has no eventually-check `{name}`"),
            Vec::new(),
        )),
    }
}

fn acked_writes_durable(
    model: &Quorum,
    view: &View<'_, QNode>,
    history: &History<QCall, QRet>,
) -> Option<(String, Vec<NodeId>)> {
    let held: Vec<Vec<_>> = model
        .replica_ids()
        .map(|id| durable_state(view.disk(id), model.cfg.keys))
        .collect();
    for op in &history.ops {
        let (QCall::Write { key, value }, Some(QRet::Written { tag })) = (&op.call, &op.ret) else {
            continue;
        };
        if !op.is_ok() {
            continue;
        }
        let holders = held.iter().filter(|h| h[*key as usize].tag >= *tag).count();
        if holders < model.cfg.w as usize {
            let have: Vec<String> = model
                .replica_ids()
                .zip(&held)
                .map(|(id, h)| format!("{} holds {}", view.name(id), h[*key as usize].tag))
                .collect();
            return Some((
                format!(
                    "write op {} of {value} to key {key} (tag {tag}) by {} was acknowledged at {}, but only {holders} \
                     replica disk(s) hold it or newer, fewer than W = {}: {}",
                    op.id.0,
                    view.name(op.client),
                    format_ns(op.complete_ns.unwrap_or(0)),
                    model.cfg.w,
                    have.join(", ")
                ),
                model.replica_ids().collect(),
            ));
        }
    }
    None
}

pub fn history(
    model: &Quorum,
    name: &str,
    view: &View<'_, QNode>,
    history: &History<QCall, QRet>,
    budget: u64,
) -> CheckResult {
    match name {
        "linearizable" => linearizable(model, history, budget),
        "stale-read" => anomalies(model, history, view, stale_reads, "stale read"),
        "new-old-inversion" => anomalies(
            model,
            history,
            view,
            new_old_inversions,
            "new/old inversion",
        ),
        _ => CheckResult::Unknown {
            detail: format!("the quorum model has no history check `{name}`"),
        },
    }
}

/// The history as the linearizability checker sees it.
///
/// Clients are numbered as they are named (`client-2` is client 2), so the checker's
/// words match the report's.
pub fn to_operations(
    model: &Quorum,
    history: &History<QCall, QRet>,
) -> Vec<(u32, Operation<RegisterInput, RegisterOutput>)> {
    let mut out = Vec::with_capacity(history.len());
    for op in &history.ops {
        let key = op.call.key();
        let (input, output) = match (&op.call, op.outcome, &op.ret) {
            (QCall::Write { value, .. }, Some(Outcome::Ok), _) => {
                (RegisterInput::Write(*value), Some(RegisterOutput::Written))
            }
            // Unknown outcome: pending if some replica applied it, else it never happened.
            (QCall::Write { value, .. }, None | Some(Outcome::Info), _) if op.applied => {
                (RegisterInput::Write(*value), None)
            }
            (QCall::Read { .. }, Some(Outcome::Ok), Some(QRet::Read { value, .. })) => {
                (RegisterInput::Read, Some(RegisterOutput::Read(*value)))
            }
            // Failed ops, unapplied writes and unanswered reads have no effect.
            _ => continue,
        };
        let return_ns = if output.is_some() {
            op.complete_ns
        } else {
            None
        };
        out.push((
            key,
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

fn linearizable(model: &Quorum, history: &History<QCall, QRet>, budget: u64) -> CheckResult {
    dsim_checkers::history_checks::linearizable(history, &to_operations(model, history), budget)
}

fn anomalies(
    model: &Quorum,
    history: &History<QCall, QRet>,
    view: &View<'_, QNode>,
    find: fn(&[RegisterOp]) -> Vec<Anomaly>,
    what: &str,
) -> CheckResult {
    // One pass over the history, grouping each key's ops.
    let mut by_key: BTreeMap<u32, Vec<RegisterOp>> = BTreeMap::new();
    for o in &history.ops {
        let kind = match (&o.call, &o.ret) {
            (QCall::Write { value, .. }, _) if o.is_ok() || o.applied => RegOpKind::Write {
                value: *value,
                ok: o.is_ok(),
            },
            (QCall::Read { .. }, Some(QRet::Read { value, .. })) if o.is_ok() => {
                RegOpKind::Read { value: *value }
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
    let Some(f) = first_anomaly(history, &by_key, find) else {
        return CheckResult::Valid;
    };
    let names: Vec<&str> = f.nodes.iter().map(|n| view.name(*n)).collect();
    CheckResult::Invalid {
        detail: format!(
            "{} {what}(s); the first, on key {} (clients {}): {}",
            f.count,
            f.key,
            names.join(", "),
            f.anomaly.detail
        ),
        nodes: f.nodes,
    }
}
