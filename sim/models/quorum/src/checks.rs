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

use dsim_checkers::history_checks::{self, RegisterCall};
use dsim_checkers::{
    new_old_inversions, stale_reads, Anomaly, RegisterInput, RegisterOp, RegisterOutput,
};
use dsim_core::units::format_ns;

use dsim_core::{
    Catalogue, CheckInfo, CheckResult, History, HistoryEntry, Invariant, NodeId, View,
};

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
        "linearizable" => {
            history_checks::linearizable(history, |op| Some(register_call(model, op)), budget)
        }
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

/// A quorum call as a register call on its key: a write is a write, a read a read.
///
/// Clients are numbered as they are named (`client-2` is client 2), so the checker's
/// words match the report's. What the outcomes and `applied` make of it is the same for
/// every model (`dsim_checkers::history_checks`): a timed-out write that no replica
/// applied is dropped, one that some replica applied stays pending.
pub fn register_call(model: &Quorum, op: &HistoryEntry<QCall, QRet>) -> RegisterCall<u32> {
    let input = match op.call {
        QCall::Write { value, .. } => RegisterInput::Write(value),
        QCall::Read { .. } => RegisterInput::Read,
    };
    RegisterCall {
        key: op.call.key(),
        client: model.client_number(op.client),
        input,
        answer: op.ret.as_ref().map(|r| match r {
            QRet::Written { .. } => RegisterOutput::Written,
            QRet::Read { value, .. } => RegisterOutput::Read(*value),
        }),
    }
}

fn anomalies(
    model: &Quorum,
    history: &History<QCall, QRet>,
    view: &View<'_, QNode>,
    find: fn(&[RegisterOp]) -> Vec<Anomaly>,
    what: &str,
) -> CheckResult {
    history_checks::anomalies(
        history,
        view,
        |op| Some(register_call(model, op)),
        find,
        |f, clients| f.counted(what, clients),
    )
}
