//! Tests of the named register anomalies.

mod common;

use common::{linearizable_history, to_register_ops, GenConfig};
use dsim_checkers::anomaly::{
    new_old_inversions, stale_reads, AnomalyKind, RegOpKind, RegisterOp, MAX_PER_KIND,
};
use proptest::prelude::*;

const MS: u64 = 1_000_000;

fn w(id: u64, client: u32, call: u64, ret: Option<u64>, value: i64, ok: bool) -> RegisterOp {
    RegisterOp {
        id,
        client,
        call_ns: call,
        return_ns: ret,
        kind: RegOpKind::Write { value, ok },
    }
}

fn r(id: u64, client: u32, call: u64, ret: u64, value: Option<i64>) -> RegisterOp {
    RegisterOp {
        id,
        client,
        call_ns: call,
        return_ns: Some(ret),
        kind: RegOpKind::Read { value },
    }
}

#[test]
fn stale_read_detected() {
    let h = [
        w(9, 1, 1_000 * MS, Some(1_050 * MS), 5, true),
        w(12, 2, 1_060 * MS, Some(1_100 * MS), 8, true),
        r(17, 3, 1_204 * MS, 1_300 * MS, Some(5)),
    ];
    let found = stale_reads(&h);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].kind, AnomalyKind::StaleRead);
    assert_eq!(found[0].ops, vec![17, 12, 9]);
    assert_eq!(
        found[0].detail,
        "read op 17 by client 3 at 1.204s returned 5, but write op 12 of 8 finished at \
         1.100s, after write op 9 of 5 had finished: the read is stale"
    );
    // Not an inversion: there is only one read.
    assert!(new_old_inversions(&h).is_empty());
}

#[test]
fn stale_read_of_the_initial_value() {
    let h = [
        w(1, 1, 0, Some(10 * MS), 5, true),
        r(2, 2, 250 * MS, 260 * MS, None),
    ];
    let found = stale_reads(&h);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].kind, AnomalyKind::StaleRead);
    assert_eq!(found[0].ops, vec![2, 1]);
    assert_eq!(
        found[0].detail,
        "read op 2 by client 2 at 250ms returned nothing (the initial value), but write op 1 \
         of 5 had finished at 10ms: the read is stale"
    );
}

#[test]
fn not_stale_when_the_overwrite_is_uncertain() {
    // The overwriting write overlaps the one that was read: it may have come first.
    let overlapping = [
        w(1, 1, 0, Some(25), 1, true),
        w(2, 2, 20, Some(30), 2, true),
        r(3, 3, 40, 50, Some(1)),
    ];
    assert!(stale_reads(&overlapping).is_empty());
    // The overwrite was never acknowledged.
    let unacked = [
        w(1, 1, 0, Some(10), 1, true),
        w(2, 2, 20, Some(30), 2, false),
        r(3, 3, 40, 50, Some(1)),
    ];
    assert!(stale_reads(&unacked).is_empty());
    // The overwrite finished exactly when the read started: concurrent under the tie rule.
    let tie = [
        w(1, 1, 0, Some(10), 1, true),
        w(2, 2, 20, Some(40), 2, true),
        r(3, 3, 40, 50, Some(1)),
    ];
    assert!(stale_reads(&tie).is_empty());
    // The value read was written by an unacknowledged write: it may have landed late.
    let late = [
        w(1, 1, 0, None, 1, false),
        w(2, 2, 20, Some(30), 2, true),
        r(3, 3, 40, 50, Some(1)),
    ];
    assert!(stale_reads(&late).is_empty());
}

#[test]
fn new_old_inversion_detected() {
    // W(1) done; W(2) slow; Ra sees 2; Rb, called after Ra returned, sees the older 1.
    let h = [
        w(1, 1, 0, Some(10 * MS), 1, true),
        w(2, 2, 20 * MS, Some(100 * MS), 2, true),
        r(3, 3, 30 * MS, 40 * MS, Some(2)),
        r(4, 4, 50 * MS, 60 * MS, Some(1)),
    ];
    let found = new_old_inversions(&h);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].kind, AnomalyKind::NewOldInversion);
    assert_eq!(found[0].ops, vec![4, 3, 2, 1]);
    assert_eq!(
        found[0].detail,
        "read op 4 by client 4 at 50ms returned 1, after read op 3 by client 3 at 30ms had \
         returned 2 (finished at 40ms); but write op 1 of 1 finished at 10ms, before write op 2 \
         of 2 started at 20ms: a later read saw an older value"
    );
    // Neither read is stale on its own: W(2) had not finished when Rb began.
    assert!(stale_reads(&h).is_empty());
}

#[test]
fn new_old_inversion_to_the_initial_value() {
    let h = [
        w(1, 1, 0, Some(100), 1, false),
        r(2, 2, 10, 20, Some(1)),
        r(3, 3, 30, 40, None),
    ];
    let found = new_old_inversions(&h);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].ops, vec![3, 2, 1]);
    assert!(found[0]
        .detail
        .contains("returned nothing (the initial value)"));
}

#[test]
fn no_inversion_when_reads_overlap_or_writes_are_concurrent() {
    // The reads overlap: either order is possible.
    let overlapping_reads = [
        w(1, 1, 0, Some(10), 1, true),
        w(2, 2, 20, Some(100), 2, true),
        r(3, 3, 30, 55, Some(2)),
        r(4, 4, 50, 60, Some(1)),
    ];
    assert!(new_old_inversions(&overlapping_reads).is_empty());
    // The writes overlap: 2 may have come before 1.
    let concurrent_writes = [
        w(1, 1, 0, Some(25), 1, true),
        w(2, 2, 20, Some(100), 2, true),
        r(3, 3, 30, 40, Some(2)),
        r(4, 4, 50, 60, Some(1)),
    ];
    assert!(new_old_inversions(&concurrent_writes).is_empty());
}

#[test]
fn phantom_read_detected() {
    let h = [
        w(1, 1, 0, Some(10), 1, true),
        r(2, 7, 2_000, 3_000, Some(99)),
        r(3, 7, 4_000, 5_000, Some(1)),
    ];
    let found = stale_reads(&h);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].kind, AnomalyKind::PhantomRead);
    assert_eq!(found[0].ops, vec![2]);
    assert_eq!(
        found[0].detail,
        "read op 2 by client 7 at 2us returned 99, a value no write wrote"
    );
    // A phantom value is tied to no write, so it cannot take part in an inversion.
    assert!(new_old_inversions(&h).is_empty());
}

#[test]
fn values_written_twice_are_not_judged() {
    let h = [
        w(1, 1, 0, Some(10), 1, true),
        w(2, 2, 20, Some(30), 2, true),
        w(3, 3, 40, Some(50), 1, true),
        r(4, 4, 60, 70, Some(1)),
    ];
    assert!(stale_reads(&h).is_empty());
    assert!(new_old_inversions(&h).is_empty());
}

#[test]
fn results_are_ordered_by_read_id_and_capped() {
    let mut h = vec![
        w(1000, 1, 0, Some(10), 1, true),
        w(1001, 2, 20, Some(30), 2, true),
    ];
    // Stale reads with ids in descending order, and phantom reads.
    for i in 0..30u64 {
        h.push(r(500 - i, 3, 40 + i, 41 + i, Some(1)));
        h.push(r(900 - i, 4, 40 + i, 41 + i, Some(77)));
    }
    let found = stale_reads(&h);
    let stale: Vec<u64> = found
        .iter()
        .filter(|a| a.kind == AnomalyKind::StaleRead)
        .map(|a| a.ops[0])
        .collect();
    let phantom: Vec<u64> = found
        .iter()
        .filter(|a| a.kind == AnomalyKind::PhantomRead)
        .map(|a| a.ops[0])
        .collect();
    // The first MAX_PER_KIND of each kind, by read id.
    let cap = MAX_PER_KIND as u64;
    assert_eq!(stale, (471..471 + cap).collect::<Vec<_>>());
    assert_eq!(phantom, (871..871 + cap).collect::<Vec<_>>());
    let ids: Vec<u64> = found.iter().map(|a| a.ops[0]).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    assert_eq!(ids, sorted);
    // Deterministic: same input, same output.
    assert_eq!(found, stale_reads(&h));
}

#[test]
fn known_good_concurrent_history_has_no_anomalies() {
    // Reads overlapping writes see either value; the sequence of values only moves forward.
    let h = [
        w(1, 1, 0, Some(30), 1, true),
        r(2, 2, 5, 15, None),
        r(3, 3, 10, 40, Some(1)),
        w(4, 1, 35, Some(70), 2, true),
        r(5, 2, 41, 50, Some(1)),
        r(6, 3, 45, 80, Some(2)),
        w(7, 4, 60, None, 3, false),
        r(8, 2, 81, 90, Some(2)),
        r(9, 3, 91, 95, Some(3)),
        r(10, 2, 96, 99, Some(3)),
    ];
    assert!(stale_reads(&h).is_empty(), "{:?}", stale_reads(&h));
    assert!(new_old_inversions(&h).is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Histories that are linearizable by construction never show an anomaly: each anomaly is
    /// proof of a violation.
    #[test]
    fn linearizable_histories_have_no_anomalies(seed in any::<u64>(), clients in 1u32..8) {
        let cfg = GenConfig {
            ops: 400,
            clients,
            write_pct: 40,
            cas_pct: 0,
            timeout_pct: 5,
            max_duration: 60,
            max_gap: 30,
        };
        let h = to_register_ops(&linearizable_history(seed, &cfg));
        prop_assert_eq!(stale_reads(&h), vec![]);
        prop_assert_eq!(new_old_inversions(&h), vec![]);
    }
}

#[test]
fn large_history_is_fast_enough() {
    // 20,000 ops: the O(n log n) passes finish quickly even in a debug build.
    let cfg = GenConfig {
        ops: 20_000,
        clients: 8,
        write_pct: 30,
        cas_pct: 0,
        timeout_pct: 1,
        max_duration: 200,
        max_gap: 50,
    };
    let mut h = to_register_ops(&linearizable_history(5, &cfg));
    assert!(stale_reads(&h).is_empty());
    assert!(new_old_inversions(&h).is_empty());
    // Make one late read return the very first value written: stale, and an inversion.
    let first = h
        .iter()
        .find_map(|op| match op.kind {
            RegOpKind::Write { value, ok: true } => Some(value),
            _ => None,
        })
        .unwrap();
    let last_read = h
        .iter()
        .rposition(|op| matches!(op.kind, RegOpKind::Read { .. }))
        .unwrap();
    h[last_read].kind = RegOpKind::Read { value: Some(first) };
    let id = h[last_read].id;
    let stale = stale_reads(&h);
    assert_eq!(stale.len(), 1);
    assert_eq!(
        (stale[0].kind, stale[0].ops[0]),
        (AnomalyKind::StaleRead, id)
    );
    let inv = new_old_inversions(&h);
    assert_eq!(inv.len(), 1);
    assert_eq!(inv[0].ops[0], id);
}
