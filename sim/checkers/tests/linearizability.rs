//! Tests of the linearizability checker and per-key partitioning on hand-built and generated
//! register histories.

mod common;

use common::{cas, linearizable_history, read, write, GenConfig, Op, Rng};
use dsim_checkers::linearizability::{check, Explanation, Operation, SeqSpec, Verdict};
use dsim_checkers::partition::check_partitioned;
use dsim_checkers::register::{Register, RegisterInput, RegisterOutput};
use proptest::prelude::*;

const BUDGET: u64 = 1_000_000;

fn verdict(ops: &[Op]) -> Verdict {
    check(&Register, ops, BUDGET)
}

fn explanation(ops: &[Op]) -> Explanation {
    match verdict(ops) {
        Verdict::NotLinearizable(e) => e,
        other => panic!("expected NotLinearizable, got {other:?}"),
    }
}

#[track_caller]
fn assert_linearizable(ops: &[Op]) {
    let v = verdict(ops);
    assert!(v.is_linearizable(), "expected Linearizable, got {v:?}");
}

#[test]
fn empty_history_is_linearizable() {
    assert_linearizable(&[]);
    // Even with no budget at all.
    assert_eq!(check(&Register, &[], 0), Verdict::Linearizable);
}

#[test]
fn sequential_valid() {
    let h = [
        read(1, 1, 0, 5, None),
        write(2, 1, 10, Some(20), 1),
        read(3, 2, 30, 40, Some(1)),
        write(4, 2, 50, Some(60), 2),
        read(5, 1, 70, 80, Some(2)),
        cas(6, 3, 90, 100, 2, 3, true),
        read(7, 2, 110, 120, Some(3)),
    ];
    assert_linearizable(&h);
}

#[test]
fn sequential_read_of_wrong_value_is_invalid() {
    let h = [write(1, 1, 0, Some(10), 1), read(2, 1, 20, 30, Some(2))];
    let e = explanation(&h);
    assert_eq!(e.stuck.id, 2);
    assert_eq!(e.prefix, vec![1]);
    assert_eq!(e.state_before, "Some(1)");
}

#[test]
fn concurrent_valid_only_one_order() {
    // W(2) is called first, but the reads force W(1) < Ra < W(2) < Rb: the only order that works.
    // A checker that tried only call order (W2 then W1) would reject it.
    let h = [
        write(1, 1, 0, Some(50), 2),
        write(2, 2, 10, Some(60), 1),
        read(3, 3, 20, 40, Some(1)),
        read(4, 3, 70, 80, Some(2)),
        read(5, 1, 90, 100, Some(2)),
    ];
    assert_linearizable(&h);
    // And the order really is forced: if the last read saw 1 instead, nothing works.
    let mut bad = h.to_vec();
    bad[4] = read(5, 1, 90, 100, Some(1));
    let e = explanation(&bad);
    assert_eq!(e.stuck.id, 5);
}

#[test]
fn stale_read_is_invalid() {
    let h = [
        write(1, 1, 0, Some(10), 1),
        write(2, 2, 20, Some(30), 2),
        read(3, 3, 40, 50, Some(1)),
    ];
    let e = explanation(&h);
    assert_eq!(e.key, None);
    assert_eq!(e.stuck.id, 3);
    assert_eq!(e.stuck.client, 3);
    assert_eq!(e.prefix, vec![1, 2]);
    assert_eq!(e.state_before, "Some(2)");
    assert_eq!(e.candidates_total, 1);
    assert_eq!(e.candidates[0].op.id, 3);
    assert!(!e.candidates[0].allowed_by_spec);
    let text = e.to_string();
    assert!(
        text.contains("op 3 (client 3, Read -> Read(Some(1))"),
        "{text}"
    );
    assert!(text.contains("in order: op 1, op 2"), "{text}");
    assert!(
        text.contains("The state after that prefix is Some(2)"),
        "{text}"
    );
    assert!(!text.contains("key"), "{text}");
}

#[test]
fn new_old_inversion_is_invalid() {
    // W(2) is slow; Ra sees 2, then Rb (which starts after Ra returned) sees the older 1.
    let h = [
        write(1, 1, 0, Some(10), 1),
        write(2, 2, 20, Some(100), 2),
        read(3, 3, 30, 40, Some(2)),
        read(4, 4, 50, 60, Some(1)),
    ];
    let e = explanation(&h);
    assert_eq!(e.stuck.id, 4);
    assert_eq!(e.prefix, vec![1, 2, 3]);
    // Either read alone is fine.
    assert_linearizable(&h[..3]);
    assert_linearizable(&[h[0].clone(), h[1].clone(), h[3].clone()]);
}

#[test]
fn pending_write_must_take_effect() {
    // The write never returned, yet its value is read: it must be assumed to have taken effect.
    let h = [write(1, 1, 0, None, 1), read(2, 2, 10, 20, Some(1))];
    assert_linearizable(&h);
    // Without the write, the read is impossible...
    assert!(!verdict(&h[1..]).is_linearizable());
    // ...and a pending write cannot take effect before it was called.
    let late = [write(1, 1, 30, None, 1), read(2, 2, 10, 20, Some(1))];
    let e = explanation(&late);
    assert_eq!(e.stuck.id, 2);
}

#[test]
fn pending_write_must_not_take_effect() {
    // W(2) never returned and is never observed: it must be assumed not to have taken effect
    // (or only after everything observed).
    let h = [
        write(1, 1, 0, Some(10), 1),
        write(2, 2, 5, None, 2),
        read(3, 3, 20, 30, Some(1)),
        read(4, 3, 40, 50, Some(1)),
    ];
    assert_linearizable(&h);
    // Once observed it cannot be undone.
    let mut bad = h.to_vec();
    bad[2] = read(3, 3, 20, 30, Some(2));
    let e = explanation(&bad);
    assert_eq!(e.stuck.id, 4);
}

/// A spec where an op cannot always be appended at the end: a flag that may be set only once.
struct SetOnce;

impl SeqSpec for SetOnce {
    type State = bool;
    type Input = ();
    type Output = ();
    fn init(&self) -> bool {
        false
    }
    fn step(&self, state: &bool, _: &(), _: Option<&()>) -> Option<bool> {
        (!*state).then_some(true)
    }
}

#[test]
fn pending_op_may_be_left_out_entirely() {
    // The pending Set can take effect neither before nor after the completed one: the only
    // explanation is that it never took effect, which linearizability allows for pending ops.
    let op = |id, call, ret: Option<u64>| Operation {
        id,
        client: id as u32,
        call_ns: call,
        return_ns: ret,
        input: (),
        output: ret.map(|_| ()),
    };
    let h = [op(1, 0, None), op(2, 10, Some(20))];
    assert_eq!(check(&SetOnce, &h, BUDGET), Verdict::Linearizable);
    // Two completed Sets are a violation.
    let bad = [op(1, 0, Some(5)), op(2, 10, Some(20))];
    match check(&SetOnce, &bad, BUDGET) {
        Verdict::NotLinearizable(e) => assert_eq!(e.stuck.id, 2),
        other => panic!("{other:?}"),
    }
}

fn pending(id: u64, client: u32, call: u64, input: RegisterInput) -> Op {
    Operation {
        id,
        client,
        call_ns: call,
        return_ns: None,
        input,
        output: None,
    }
}

#[test]
fn chain_of_pending_ops() {
    // Only W(5) then CAS(5 -> 6), both pending, explain the read of 6.
    let h = [
        write(1, 1, 0, Some(10), 1),
        pending(2, 2, 20, RegisterInput::Write(5)),
        pending(3, 3, 30, RegisterInput::Cas { from: 5, to: 6 }),
        read(4, 4, 40, 50, Some(6)),
    ];
    assert_linearizable(&h);
    assert_eq!(check(&NoHints(Register), &h, BUDGET), Verdict::Linearizable);
    // Without the pending write the CAS cannot succeed.
    let without = [h[0].clone(), h[2].clone(), h[3].clone()];
    assert_eq!(explanation(&without).stuck.id, 4);
    // A pending write called after the read returned cannot help.
    let late = [
        h[0].clone(),
        pending(2, 2, 60, RegisterInput::Write(5)),
        h[2].clone(),
        h[3].clone(),
    ];
    assert_eq!(explanation(&late).stuck.id, 4);
}

#[test]
fn many_pending_ops_stay_within_budget() {
    // 300 pending writes that never took effect, interleaved with a sequential history, then a
    // read of a value nobody wrote.
    let mut h = Vec::new();
    let mut t = 0;
    for i in 0..300u64 {
        h.push(pending(
            10_000 + i,
            9,
            t,
            RegisterInput::Write(100_000 + i as i64),
        ));
        h.push(write(2 * i, 1, t + 1, Some(t + 5), i as i64));
        h.push(read(2 * i + 1, 2, t + 6, t + 9, Some(i as i64)));
        t += 10;
    }
    assert_linearizable(&h);
    h.push(read(5_000, 2, t + 1, t + 2, Some(-1)));
    // The 300 floating pending writes are only tried where something could observe them, so
    // this is decided in a few thousand steps.
    match check(&Register, &h, 200_000) {
        Verdict::NotLinearizable(e) => {
            assert_eq!(e.stuck.id, 5_000);
            assert_eq!(e.prefix.len(), 600);
            assert_eq!(e.candidates_total, 301);
            let text = e.to_string();
            assert!(
                text.contains("; pending (never returned) op 10000, op 10001,"),
                "{text}"
            );
        }
        other => panic!("expected NotLinearizable, got {other:?}"),
    }
}

#[test]
fn read_with_unknown_output() {
    let unknown_read = |id, client, call, ret| Operation {
        id,
        client,
        call_ns: call,
        return_ns: ret,
        input: RegisterInput::Read,
        output: None,
    };
    // A completed read whose result was lost, and a read that never returned.
    let h = [
        write(1, 1, 0, Some(10), 1),
        unknown_read(2, 2, 20, Some(30)),
        write(3, 1, 40, Some(50), 2),
        unknown_read(4, 3, 45, None),
        read(5, 2, 60, 70, Some(2)),
    ];
    assert_linearizable(&h);
    // An unknown read does not hide a real violation elsewhere.
    let mut bad = h.to_vec();
    bad[4] = read(5, 2, 60, 70, Some(1));
    assert_eq!(explanation(&bad).stuck.id, 5);
}

#[test]
fn cas_valid() {
    let h = [
        write(1, 1, 0, Some(10), 1),
        cas(2, 1, 20, 30, 1, 2, true),
        cas(3, 2, 40, 50, 1, 3, false),
        read(4, 3, 60, 70, Some(2)),
        // Two concurrent CAS from 2: exactly one wins.
        cas(5, 1, 80, 100, 2, 5, false),
        cas(6, 2, 85, 95, 2, 6, true),
        read(7, 3, 110, 120, Some(6)),
    ];
    assert_linearizable(&h);
}

#[test]
fn cas_invalid() {
    // Both concurrent CAS from 2 claim to have won.
    let both_win = [
        write(1, 1, 0, Some(10), 2),
        cas(2, 1, 20, 40, 2, 5, true),
        cas(3, 2, 25, 35, 2, 6, true),
    ];
    assert!(!verdict(&both_win).is_linearizable());
    // A CAS on the initial (unset) value fails.
    let on_initial = [cas(1, 1, 0, 10, 0, 1, true)];
    assert_eq!(explanation(&on_initial).stuck.id, 1);
    // A CAS that should have succeeded reports failure.
    let false_failure = [write(1, 1, 0, Some(10), 1), cas(2, 1, 20, 30, 1, 2, false)];
    let e = explanation(&false_failure);
    assert_eq!(e.stuck.id, 2);
    assert_eq!(e.state_before, "Some(1)");
    // A successful CAS whose effect a later read does not see.
    let lost = [
        write(1, 1, 0, Some(10), 1),
        cas(2, 1, 20, 30, 1, 2, true),
        read(3, 2, 40, 50, Some(1)),
    ];
    assert_eq!(explanation(&lost).stuck.id, 3);
}

#[test]
fn equal_times_count_as_concurrent() {
    // The read is called at the very nanosecond W(2) returns: the tie rule (calls before
    // returns) treats them as concurrent, so the read may still see 1.
    let h = [
        write(1, 1, 0, Some(10), 1),
        write(2, 2, 20, Some(30), 2),
        read(3, 3, 30, 40, Some(1)),
    ];
    assert_linearizable(&h);
    // One nanosecond later it is stale.
    let late = [h[0].clone(), h[1].clone(), read(3, 3, 31, 40, Some(1))];
    assert!(!verdict(&late).is_linearizable());
}

#[test]
fn budget_exhaustion_returns_unknown() {
    // 300 writes and 300 reads, all concurrent.
    let mut h = Vec::new();
    for i in 0..300u64 {
        h.push(write(i, i as u32, i, Some(10_000 + i), i as i64));
    }
    for i in 0..300u64 {
        h.push(read(300 + i, i as u32, 10 + i, 20_000 + i, Some(299)));
    }
    match check(&Register, &h, 10) {
        Verdict::Unknown { steps } => assert_eq!(steps, 10),
        other => panic!("expected Unknown, got {other:?}"),
    }
    assert_eq!(check(&Register, &h, 0), Verdict::Unknown { steps: 0 });
    // With enough budget it is decided (and the history is fine).
    assert_eq!(check(&Register, &h, BUDGET), Verdict::Linearizable);
}

#[test]
fn hard_invalid_history_hits_budget_not_hang() {
    // 24 concurrent writes then a read of a value none of them wrote: every subset of writes
    // with every last write is a distinct configuration, far beyond a small budget.
    let mut h: Vec<Op> = (0..24u64)
        .map(|i| write(i, i as u32, i, Some(1_000), i as i64))
        .collect();
    h.push(read(100, 99, 2_000, 2_010, Some(-1)));
    assert_eq!(
        check(&Register, &h, 50_000),
        Verdict::Unknown { steps: 50_000 }
    );
}

#[test]
fn partition_names_the_broken_key() {
    let ops = vec![
        ("a", write(1, 1, 0, Some(10), 1)),
        ("b", write(2, 1, 0, Some(10), 1)),
        ("b", write(3, 2, 20, Some(30), 2)),
        ("a", read(4, 2, 20, 30, Some(1))),
        ("b", read(5, 3, 40, 50, Some(1))),
        ("a", write(6, 3, 40, Some(50), 7)),
        ("a", read(7, 1, 60, 70, Some(7))),
    ];
    match check_partitioned(&Register, &ops, BUDGET) {
        Verdict::NotLinearizable(e) => {
            assert_eq!(e.key.as_deref(), Some("\"b\""));
            assert_eq!(e.stuck.id, 5);
            assert!(e.to_string().starts_with("key \"b\": not linearizable"));
        }
        other => panic!("expected NotLinearizable, got {other:?}"),
    }
    // Unchecked together, the same ops would mix the keys' values and fail differently; per
    // key, "a" alone is fine.
    let only_a: Vec<_> = ops.iter().filter(|(k, _)| *k == "a").cloned().collect();
    assert_eq!(
        check_partitioned(&Register, &only_a, BUDGET),
        Verdict::Linearizable
    );
}

#[test]
fn partition_reports_first_failing_key_in_key_order() {
    let bad = |id| {
        [
            write(id, 1, 0, Some(10), 1),
            read(id + 1, 2, 20, 30, Some(99)),
        ]
    };
    let mut ops = Vec::new();
    for k in [3u32, 1, 2] {
        for op in bad(10 * k as u64) {
            ops.push((k, op));
        }
    }
    match check_partitioned(&Register, &ops, BUDGET) {
        Verdict::NotLinearizable(e) => {
            assert_eq!(e.key.as_deref(), Some("1"));
            assert_eq!(e.stuck.id, 11);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn partition_unknown_when_a_key_runs_out_and_none_fails() {
    let mut ops = vec![("a", write(1, 1, 0, Some(10), 1))];
    for i in 0..50u64 {
        ops.push(("b", write(100 + i, i as u32, 0, Some(100), i as i64)));
    }
    match check_partitioned(&Register, &ops, 5) {
        Verdict::Unknown { steps } => assert_eq!(steps, 5),
        other => panic!("{other:?}"),
    }
    // A failing key wins over an unknown one, even when it comes later in key order.
    ops.push(("c", read(500, 1, 0, 5, Some(42))));
    match check_partitioned(&Register, &ops, 5) {
        Verdict::NotLinearizable(e) => assert_eq!(e.key.as_deref(), Some("\"c\"")),
        other => panic!("{other:?}"),
    }
}

fn five_client_config(ops: usize) -> GenConfig {
    GenConfig {
        ops,
        clients: 5,
        write_pct: 35,
        cas_pct: 15,
        timeout_pct: 2,
        max_duration: 200,
        max_gap: 100,
    }
}

#[test]
fn five_thousand_ops_from_five_clients() {
    let h = linearizable_history(7, &five_client_config(5_000));
    assert_eq!(check(&Register, &h, 5_000_000), Verdict::Linearizable);
}

#[test]
fn twenty_thousand_ops_from_eight_clients() {
    let cfg = GenConfig {
        clients: 8,
        ..five_client_config(20_000)
    };
    let h = linearizable_history(11, &cfg);
    assert_eq!(check(&Register, &h, 5_000_000), Verdict::Linearizable);
}

/// Index of a completed read in `h` whose value can be replaced, near the middle.
fn middle_read(h: &[Op]) -> usize {
    (h.len() / 2..h.len())
        .find(|&i| matches!(h[i].input, RegisterInput::Read) && h[i].output.is_some())
        .expect("a completed read")
}

#[test]
fn corrupted_long_history_is_explained_deterministically() {
    let mut h = linearizable_history(3, &five_client_config(5_000));
    let i = middle_read(&h);
    h[i].output = Some(RegisterOutput::Read(Some(-5)));
    let first = explanation(&h);
    assert_eq!(first.stuck.id, h[i].id);
    assert!(first.prefix.len() > 1_000, "{}", first.prefix.len());
    assert!(first.candidates.len() <= 10);
    let text = first.to_string();
    // The Display caps the prefix at the last ten ops.
    assert!(text.contains("the last 10, in order:"), "{text}");
    // Same input, same output, byte for byte.
    let second = explanation(&h);
    assert_eq!(first, second);
    assert_eq!(text, second.to_string());
}

#[test]
fn display_is_plain_and_exact() {
    let h = [
        write(1, 1, 1_000_000_000, Some(1_100_000_000), 1),
        read(2, 2, 1_204_000_000, 1_300_000_000, Some(7)),
    ];
    assert_eq!(
        explanation(&h).to_string(),
        "not linearizable: op 2 (client 2, Read -> Read(Some(7)), called 1.204s, returned \
         1.300s) could not be linearized; it had to take effect before it returned, but no \
         order of the ops that could go next is allowed by the sequential spec. The longest \
         linearizable prefix found has 1 op, in order: op 1. The state after that prefix is \
         Some(1). Ops that could go next (1 of 1): op 2 (client 2, Read -> Read(Some(7)), called \
         1.204s, returned 1.300s): rejected, its output is not what the spec returns in that \
         state. The search took 4 steps."
    );
}

/// The register without its speed hints, to test the search's general path.
struct NoHints<S>(S);

impl<S: SeqSpec> SeqSpec for NoHints<S> {
    type State = S::State;
    type Input = S::Input;
    type Output = S::Output;
    fn init(&self) -> S::State {
        self.0.init()
    }
    fn step(&self, s: &S::State, i: &S::Input, o: Option<&S::Output>) -> Option<S::State> {
        self.0.step(s, i, o)
    }
}

/// Brute force: try every order of the ops that respects real time (a before b when
/// a.return < b.call), where pending ops may also be left out.
fn brute_force(ops: &[Op]) -> bool {
    fn go(ops: &[Op], used: &mut Vec<bool>, state: Option<i64>) -> bool {
        if ops
            .iter()
            .zip(used.iter())
            .all(|(op, &u)| u || op.return_ns.is_none())
        {
            return true;
        }
        for i in 0..ops.len() {
            if used[i] {
                continue;
            }
            // Some unused completed op must not have returned before this one's call.
            let blocked = ops
                .iter()
                .zip(used.iter())
                .any(|(o, &u)| !u && o.return_ns.is_some_and(|r| r < ops[i].call_ns));
            if blocked {
                continue;
            }
            if let Some(next) = Register.step(&state, &ops[i].input, ops[i].output.as_ref()) {
                used[i] = true;
                if go(ops, used, next) {
                    return true;
                }
                used[i] = false;
            }
        }
        false
    }
    go(ops, &mut vec![false; ops.len()], None)
}

fn small_history() -> impl Strategy<Value = Vec<Op>> {
    // Small times and values so that ties, overlaps and coincidences are common.
    let op = (
        0u64..12,
        0u64..6,
        0u8..4,
        0i64..3,
        0i64..3,
        any::<bool>(),
        0u8..8,
    );
    proptest::collection::vec(op, 0..8).prop_map(|raw| {
        raw.into_iter()
            .enumerate()
            .map(|(i, (call, dur, kind, a, b, flag, fate))| {
                let id = i as u64;
                let ret = call + dur;
                let (input, output) = match kind {
                    0 => (RegisterInput::Write(a), RegisterOutput::Written),
                    1 => (
                        RegisterInput::Cas { from: a, to: b },
                        RegisterOutput::Cas(flag),
                    ),
                    _ => (RegisterInput::Read, RegisterOutput::Read(flag.then_some(a))),
                };
                // fate: 0 = pending, 1 = completed with unknown output, else known.
                let (return_ns, output) = match fate {
                    0 => (None, None),
                    1 => (Some(ret), None),
                    _ => (Some(ret), Some(output)),
                };
                Operation {
                    id,
                    client: i as u32,
                    call_ns: call,
                    return_ns,
                    input,
                    output,
                }
            })
            .collect()
    })
}

/// A sequential history generated from a real register, and the values it never writes.
fn sequential_history() -> impl Strategy<Value = Vec<Op>> {
    let op = (0u8..3, 0i64..20, 0i64..20, 1u64..50, 0u64..50, 0u32..4);
    proptest::collection::vec(op, 1..60).prop_map(|raw| {
        let mut state: Option<i64> = None;
        let mut t = 0;
        let mut h = Vec::new();
        for (i, (kind, a, b, dur, gap, client)) in raw.into_iter().enumerate() {
            let call = t + gap;
            let ret = call + dur;
            t = ret + 1;
            let id = i as u64;
            h.push(match kind {
                0 => {
                    state = Some(a);
                    write(id, client, call, Some(ret), a)
                }
                1 => {
                    let ok = state == Some(a);
                    if ok {
                        state = Some(b);
                    }
                    cas(id, client, call, ret, a, b, ok)
                }
                _ => read(id, client, call, ret, state),
            });
        }
        h
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn sequential_histories_are_linearizable(h in sequential_history()) {
        prop_assert_eq!(verdict(&h), Verdict::Linearizable);
    }

    #[test]
    fn reading_a_never_written_value_is_never_linearizable(
        h in sequential_history(),
        pick in any::<prop::sample::Index>(),
        phantom in 1_000i64..2_000,
    ) {
        let mut h = h;
        // Make sure there is a read to corrupt: append one if needed.
        let reads: Vec<usize> = (0..h.len()).filter(|&i| matches!(h[i].input, RegisterInput::Read)).collect();
        let i = if reads.is_empty() {
            let t = h.last().and_then(|o| o.return_ns).unwrap_or(0) + 1;
            h.push(read(h.len() as u64, 0, t, t + 1, None));
            h.len() - 1
        } else {
            reads[pick.index(reads.len())]
        };
        h[i].output = Some(RegisterOutput::Read(Some(phantom)));
        match verdict(&h) {
            Verdict::NotLinearizable(e) => prop_assert_eq!(e.stuck.id, h[i].id),
            other => prop_assert!(false, "expected NotLinearizable, got {:?}", other),
        }
    }

    #[test]
    fn agrees_with_brute_force_on_small_concurrent_histories(h in small_history()) {
        let expected = brute_force(&h);
        let got = verdict(&h);
        prop_assert_eq!(got.is_linearizable(), expected, "{:?} on {:?}", got, h);
        let plain = check(&NoHints(Register), &h, BUDGET);
        prop_assert_eq!(plain.is_linearizable(), expected, "{:?} on {:?}", plain, h);
        let decided = !matches!(got, Verdict::Unknown { .. });
        prop_assert!(decided);
    }

    #[test]
    fn generated_concurrent_histories_are_linearizable(seed in any::<u64>()) {
        let cfg = GenConfig {
            ops: 300,
            clients: 4,
            write_pct: 40,
            cas_pct: 20,
            timeout_pct: 5,
            max_duration: 100,
            max_gap: 30,
        };
        let h = linearizable_history(seed, &cfg);
        prop_assert_eq!(verdict(&h), Verdict::Linearizable);
    }

    #[test]
    fn generated_histories_pass_per_key(seed in any::<u64>()) {
        let cfg = GenConfig {
            ops: 200,
            clients: 3,
            write_pct: 40,
            cas_pct: 10,
            timeout_pct: 5,
            max_duration: 50,
            max_gap: 20,
        };
        let mut rng = Rng(seed);
        let a = linearizable_history(rng.next(), &cfg);
        let b = linearizable_history(rng.next(), &cfg);
        let ops: Vec<(&str, Op)> = a.into_iter().map(|o| ("a", o))
            .chain(b.into_iter().map(|o| ("b", o)))
            .collect();
        prop_assert_eq!(check_partitioned(&Register, &ops, BUDGET), Verdict::Linearizable);
    }
}
