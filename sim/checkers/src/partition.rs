//! Per-key (P-compositional) linearizability checking.
//!
//! Linearizability is local (Herlihy & Wing 1990): a history over independent objects is
//! linearizable iff each object's sub-history is. A key-value store's keys are independent
//! registers, so the history is split by key and each key is checked on its own with the
//! Wing & Gong (1993) search and Lowe's (2017) memo from [`crate::linearizability`]. Porcupine
//! (anishathalye/porcupine) partitions the same way; it turns one search over the product of
//! all keys' states into many small ones, which is the difference between practical and
//! hopeless on long histories.
//!
//! Keys are grouped in a `BTreeMap`, so keys are checked, and the failing key chosen, in key
//! order: the result is deterministic.

use std::collections::BTreeMap;

use crate::linearizability::{check, SeqSpec, SpecOperation, Verdict};

/// Checks each key's sub-history independently, `budget_steps` per key.
///
/// Returns the first failing key in key order ([`Verdict::NotLinearizable`], whose explanation's
/// `key` is the key's `Debug` text); otherwise [`Verdict::Unknown`] if any key ran out of budget,
/// with `steps` the total steps spent on the keys that did; otherwise
/// [`Verdict::Linearizable`]. Within a key, ops keep their relative order from `ops`.
pub fn check_partitioned<S: SeqSpec, K: Ord + Clone + std::fmt::Debug>(
    spec: &S,
    ops: &[(K, SpecOperation<S>)],
    budget_steps: u64,
) -> Verdict {
    let mut by_key: BTreeMap<&K, Vec<SpecOperation<S>>> = BTreeMap::new();
    for (key, op) in ops {
        by_key.entry(key).or_default().push(op.clone());
    }
    let mut unknown_steps: Option<u64> = None;
    for (key, sub) in &by_key {
        match check(spec, sub, budget_steps) {
            Verdict::Linearizable => {}
            Verdict::NotLinearizable(mut e) => {
                e.key = Some(format!("{key:?}"));
                return Verdict::NotLinearizable(e);
            }
            Verdict::Unknown { steps } => {
                unknown_steps = Some(unknown_steps.unwrap_or(0).saturating_add(steps));
            }
        }
    }
    match unknown_steps {
        Some(steps) => Verdict::Unknown { steps },
        None => Verdict::Linearizable,
    }
}
