//! What is checked in a twopc run, and why.
//!
//! - `atomicity` (always): no transaction is committed at one participant and aborted at
//!   another (nor committed and later aborted at the same one). The property atomic commit
//!   exists for (BHG 1987 §7.2, AC1: "all processes that reach a decision reach the same
//!   one"; Gray 1978 §5.8.3). Broken by `log_decision_before_send = false`, by
//!   `fsync_vote_before_reply = false`, by 3PC's `recovery_protocol = false`, and by 3PC
//!   under a partition.
//! - `all-decided` (eventually): at the end of the heal phase no live participant has been
//!   in doubt longer than `blocked_after`: every transaction it voted yes on is decided
//!   there. 2PC fails it when the coordinator is lost after the votes (BHG §7.3: 2PC
//!   "blocks"); the violation names each blocked participant, the transaction and the
//!   lock it holds.
//! - `outcomes-agree` (history): every outcome the coordinator reported matches the
//!   outcome recorded at every live participant that decided the transaction.
//! - Marks (sometimes): `participant-in-doubt` (a participant waited past its timeout for
//!   a decision), `tx-committed`, `tx-aborted`, `coordinator-recovered` (a restarted
//!   coordinator answered from its log or presumed abort), `termination-protocol` (a 3PC
//!   participant decided by the termination protocol, as leader or from a decided peer).

use std::collections::BTreeMap;

use dsim_core::units::format_ns;
use dsim_core::{
    Catalogue, CheckInfo, CheckResult, History, Invariant, NodeId, Outcome as OpOutcome, View,
};

use crate::msg::{Outcome, TxId};
use crate::participant::Phase;
use crate::{TpNode, TwoPc, TxCall, TxRet};

pub const CATALOGUE: Catalogue = Catalogue {
    always: &[CheckInfo {
        name: "atomicity",
        about: "no transaction is committed at one participant and aborted at another",
    }],
    eventually: &[CheckInfo {
        name: "all-decided",
        about: "at the end, no live participant is still in doubt (blocked, holding locks) on a transaction older than blocked_after",
    }],
    sometimes: &[
        CheckInfo {
            name: "participant-in-doubt",
            about: "a participant that voted yes waited past in_doubt_timeout for the decision",
        },
        CheckInfo {
            name: "tx-committed",
            about: "the coordinator sent a commit decision",
        },
        CheckInfo {
            name: "tx-aborted",
            about: "the coordinator sent an abort decision",
        },
        CheckInfo {
            name: "coordinator-recovered",
            about: "a restarted coordinator answered a participant in doubt from its log (or by presumed abort)",
        },
        CheckInfo {
            name: "termination-protocol",
            about: "a 3PC participant decided a transaction by the termination protocol, without the coordinator",
        },
    ],
    history: &[CheckInfo {
        name: "outcomes-agree",
        about: "every outcome the coordinator reported matches every live participant's outcome for that transaction",
    }],
};

pub fn always(name: &str) -> Option<Box<dyn Invariant<TpNode>>> {
    match name {
        "atomicity" => Some(Box::new(Atomicity::default())),
        _ => None,
    }
}

/// Remembers the first outcome seen for every transaction; reads only the decisions each
/// participant took since the last call (`Participant::outcomes` grows by appending; a
/// crash resets the cursor, and the restarted node's outcomes are read again).
#[derive(Default)]
struct Atomicity {
    cursor: Vec<usize>,
    first: BTreeMap<TxId, (Outcome, NodeId, u64)>,
}

impl Invariant<TpNode> for Atomicity {
    fn after_event(
        &mut self,
        view: &View<'_, TpNode>,
        node: NodeId,
    ) -> Option<(String, Vec<NodeId>)> {
        if self.cursor.len() <= node.index() {
            self.cursor.resize(node.index() + 1, 0);
        }
        let Some(TpNode::Participant(p)) = view.node(node) else {
            self.cursor[node.index()] = 0;
            return None;
        };
        let cursor = &mut self.cursor[node.index()];
        if p.outcomes.len() < *cursor {
            *cursor = 0;
        }
        for (tx, outcome) in &p.outcomes[*cursor..] {
            match self.first.get(tx) {
                None => {
                    self.first.insert(*tx, (*outcome, node, view.now_ns()));
                }
                Some((o, who, at)) if o != outcome => {
                    let (o, who, at) = (*o, *who, *at);
                    *cursor = p.outcomes.len();
                    return Some((
                        format!(
                            "transaction {tx} was {} at {} ({}) but {} at {} ({}): not atomic",
                            o.word(),
                            view.name(who),
                            format_ns(at),
                            outcome.word(),
                            view.name(node),
                            format_ns(view.now_ns()),
                        ),
                        if who == node {
                            vec![node]
                        } else {
                            vec![who, node]
                        },
                    ));
                }
                Some(_) => {}
            }
        }
        *cursor = p.outcomes.len();
        None
    }
}

pub fn eventually(
    model: &TwoPc,
    name: &str,
    view: &View<'_, TpNode>,
    _history: &History<TxCall, TxRet>,
) -> Option<(String, Vec<NodeId>)> {
    match name {
        "all-decided" => all_decided(model, view),
        _ => Some((
            format!("the twopc model has no eventually-check `{name}`"),
            Vec::new(),
        )),
    }
}

fn all_decided(model: &TwoPc, view: &View<'_, TpNode>) -> Option<(String, Vec<NodeId>)> {
    let now = view.now_ns();
    let grace = model.cfg.blocked_after.0;
    let mut blocked: Vec<String> = Vec::new();
    let mut nodes = Vec::new();
    let mut total = 0usize;
    for id in model.participant_ids() {
        let Some(TpNode::Participant(p)) = view.node(id) else {
            continue; // down: not live
        };
        let mut mine = 0;
        for (tx, d) in &p.txs {
            if d.phase == Phase::Voting || now.saturating_sub(d.since_ns) <= grace {
                continue;
            }
            mine += 1;
            total += 1;
            if blocked.len() < 8 {
                blocked.push(format!(
                    "{} in doubt on {tx} since {} ({}), holding the lock on key {}",
                    view.name(id),
                    format_ns(d.since_ns),
                    match d.phase {
                        Phase::PreCommitted => "pre-committed",
                        _ => "voted yes",
                    },
                    d.key
                ));
            }
        }
        if mine > 0 {
            nodes.push(id);
        }
    }
    if total == 0 {
        return None;
    }
    let coord = NodeId(0);
    let why = if view.is_crashed(coord) {
        "the coordinator is down and only it knows the decision"
    } else {
        "the coordinator is up, yet the decision never arrived"
    };
    let more = if total > blocked.len() {
        format!(" (and {} more)", total - blocked.len())
    } else {
        String::new()
    };
    Some((
        format!(
            "{total} transaction vote(s) blocked at the end: {}{more}; {why}",
            blocked.join("; ")
        ),
        nodes,
    ))
}

pub fn history(
    model: &TwoPc,
    name: &str,
    view: &View<'_, TpNode>,
    history: &History<TxCall, TxRet>,
) -> CheckResult {
    match name {
        "outcomes-agree" => outcomes_agree(model, view, history),
        _ => CheckResult::Unknown {
            detail: format!("the twopc model has no history check `{name}`"),
        },
    }
}

fn outcomes_agree(
    model: &TwoPc,
    view: &View<'_, TpNode>,
    history: &History<TxCall, TxRet>,
) -> CheckResult {
    let mut bad = Vec::new();
    let mut ops: Vec<u64> = Vec::new();
    let mut nodes = Vec::new();
    for op in &history.ops {
        let (Some(OpOutcome::Ok), Some(TxRet { outcome })) = (op.outcome, &op.ret) else {
            continue;
        };
        for id in model.participant_ids() {
            let Some(TpNode::Participant(p)) = view.node(id) else {
                continue;
            };
            if let Some(o) = p.decided.get(&op.call.tx) {
                if o != outcome {
                    if bad.len() < 8 {
                        ops.push(op.id.0);
                        bad.push(format!(
                            "op {}: the coordinator reported {} {}, {} has it {}",
                            op.id.0,
                            op.call.tx,
                            outcome.word(),
                            view.name(id),
                            o.word()
                        ));
                    }
                    if !nodes.contains(&id) {
                        nodes.push(id);
                    }
                }
            }
        }
    }
    if bad.is_empty() {
        CheckResult::Valid
    } else {
        nodes.sort();
        ops.dedup();
        CheckResult::Invalid {
            detail: bad.join("; "),
            nodes,
            ops,
        }
    }
}
