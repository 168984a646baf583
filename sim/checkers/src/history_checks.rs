//! The register checks as models run them over their client history: the same
//! linearizability wrapper and the same "first named anomaly" search for every model with
//! a key-value history (quorum, raft, zookeeper), so each model only says how its calls
//! map to register operations and how to word its findings.

use std::collections::BTreeMap;

use dsim_core::{CheckResult, History, NodeId};

use crate::{
    check_partitioned, Anomaly, Operation, Register, RegisterInput, RegisterOp, RegisterOutput,
    Verdict,
};

/// Linearizability of per-key register operations drawn from `history`: the clients of the
/// ops the search names are the violation's nodes.
pub fn linearizable<C, R, K: Ord + Clone + std::fmt::Debug>(
    history: &History<C, R>,
    ops: &[(K, Operation<RegisterInput, RegisterOutput>)],
    budget: u64,
) -> CheckResult {
    let verdict = check_partitioned(&Register, ops, budget);
    match verdict {
        Verdict::Linearizable => CheckResult::Valid,
        Verdict::NotLinearizable(ref e) => CheckResult::Invalid {
            detail: e.to_string(),
            nodes: history.clients_of(verdict.named_ops()),
        },
        Verdict::Unknown { steps } => CheckResult::Unknown {
            detail: Verdict::gave_up(steps),
        },
    }
}

/// The first anomaly `find` reports, in key order, with how many there are in all and the
/// clients of the ops that show it.
pub struct FirstAnomaly<K> {
    pub key: K,
    pub count: usize,
    pub anomaly: Anomaly,
    pub nodes: Vec<NodeId>,
}

pub fn first_anomaly<C, R, K: Copy>(
    history: &History<C, R>,
    by_key: &BTreeMap<K, Vec<RegisterOp>>,
    find: fn(&[RegisterOp]) -> Vec<Anomaly>,
) -> Option<FirstAnomaly<K>> {
    let mut count = 0;
    let mut first = None;
    for (key, ops) in by_key {
        let found = find(ops);
        count += found.len();
        if first.is_none() {
            first = found.into_iter().next().map(|a| (*key, a));
        }
    }
    let (key, anomaly) = first?;
    let nodes = history.clients_of(anomaly.ops.iter().copied());
    Some(FirstAnomaly {
        key,
        count,
        anomaly,
        nodes,
    })
}
