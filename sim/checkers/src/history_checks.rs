//! The register checks as models run them over their client history, in one copy for every
//! model with a key-value history (quorum, raft, zookeeper).
//!
//! What is the same for all of them lives here: how an entry's outcome and the simulator's
//! `applied` knowledge decide what the linearizability checker sees ([`operations`]) and
//! what the anomaly finders see ([`ops_by_key`]), the linearizability call with its budget
//! and its verdict's wording ([`linearizable`]), and the report of the first named anomaly
//! ([`anomalies`]). A model only says what each of its calls is to a register (a closure
//! giving a [`RegisterCall`]) and how to word what it finds.

use std::collections::BTreeMap;
use std::fmt::{Debug, Display};

use dsim_core::{CheckResult, History, HistoryEntry, Node, NodeId, Outcome, View};

use crate::{
    check_partitioned, Anomaly, Operation, RegOpKind, Register, RegisterInput, RegisterOp,
    RegisterOutput, Verdict,
};

/// One history entry as a register sees it, as the model maps it: the key, the client's
/// number (as its name gives it, so the checkers' words match the report's), what the call
/// asked, and what its answer says (`None` when the entry has no answer).
///
/// The model maps every answer it has: an answer of the wrong kind for the call (a write
/// answered with a read) is dropped here, never by the model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisterCall<K> {
    pub key: K,
    pub client: u32,
    pub input: RegisterInput,
    pub answer: Option<RegisterOutput>,
}

/// The history as the linearizability checker sees it, in invocation order, per key:
///
/// - an ok write, an ok compare-and-set (with its answer) and an ok read (with the value
///   it returned) are complete operations;
/// - a write or compare-and-set whose outcome is unknown (timed out, or still pending at
///   the end) stays pending (no return time, unknown output) if some replica applied it,
///   and is dropped if none did: it never happened;
/// - failed ops, unanswered reads and ops `call` maps to `None` have no effect.
pub fn operations<C, R, K>(
    history: &History<C, R>,
    call: impl Fn(&HistoryEntry<C, R>) -> Option<RegisterCall<K>>,
) -> Vec<(K, Operation<RegisterInput, RegisterOutput>)> {
    let mut out = Vec::with_capacity(history.len());
    for e in &history.ops {
        let Some(c) = call(e) else { continue };
        let ok = e.outcome == Some(Outcome::Ok);
        let pending = e.is_indeterminate() && e.applied;
        let output = match (&c.input, c.answer) {
            (RegisterInput::Write(_), _) if ok => Some(RegisterOutput::Written),
            (RegisterInput::Cas { .. }, Some(RegisterOutput::Cas(b))) if ok => {
                Some(RegisterOutput::Cas(b))
            }
            (RegisterInput::Write(_) | RegisterInput::Cas { .. }, _) if !ok && pending => None,
            (RegisterInput::Read, Some(RegisterOutput::Read(v))) if ok => {
                Some(RegisterOutput::Read(v))
            }
            _ => continue,
        };
        let return_ns = if output.is_some() {
            e.complete_ns
        } else {
            None
        };
        out.push((
            c.key,
            Operation {
                id: e.id.0,
                client: c.client,
                call_ns: e.invoke_ns,
                return_ns,
                input: c.input,
                output,
            },
        ));
    }
    out
}

/// The history as the anomaly finders see it, grouped by key in invocation order:
///
/// - a write that was acknowledged, or that some replica applied, is a write (`ok` when
///   acknowledged);
/// - a compare-and-set counts as a write of its new value when it succeeded (ok, answered
///   `true`), or when some replica applied it and the client never got an answer;
/// - an ok read with its value is a read; nothing else counts.
pub fn ops_by_key<C, R, K: Ord>(
    history: &History<C, R>,
    call: impl Fn(&HistoryEntry<C, R>) -> Option<RegisterCall<K>>,
) -> BTreeMap<K, Vec<RegisterOp>> {
    let mut by_key: BTreeMap<K, Vec<RegisterOp>> = BTreeMap::new();
    for e in &history.ops {
        let Some(c) = call(e) else { continue };
        let ok = e.is_ok();
        let kind = match (c.input, c.answer) {
            (RegisterInput::Write(value), _) if ok || e.applied => RegOpKind::Write { value, ok },
            (RegisterInput::Cas { to, .. }, Some(RegisterOutput::Cas(true))) if ok => {
                RegOpKind::Write {
                    value: to,
                    ok: true,
                }
            }
            // A compare-and-set some replica applied, whose answer the client never got.
            (RegisterInput::Cas { to, .. }, None) if e.applied => RegOpKind::Write {
                value: to,
                ok: false,
            },
            (RegisterInput::Read, Some(RegisterOutput::Read(value))) if ok => {
                RegOpKind::Read { value }
            }
            _ => continue,
        };
        by_key.entry(c.key).or_default().push(RegisterOp {
            id: e.id.0,
            client: c.client,
            call_ns: e.invoke_ns,
            return_ns: e.complete_ns,
            kind,
        });
    }
    by_key
}

/// Linearizability of the register operations `call` draws from `history` ([`operations`]),
/// per key, within `budget` search steps: the clients of the ops the search names are the
/// violation's nodes.
pub fn linearizable<C, R, K: Ord + Clone + Debug>(
    history: &History<C, R>,
    call: impl Fn(&HistoryEntry<C, R>) -> Option<RegisterCall<K>>,
    budget: u64,
) -> CheckResult {
    let ops = operations(history, call);
    let verdict = check_partitioned(&Register, &ops, budget);
    match verdict {
        Verdict::Linearizable => CheckResult::Valid,
        Verdict::NotLinearizable(ref e) => CheckResult::Invalid {
            detail: e.to_string(),
            nodes: history.clients_of(verdict.named_ops()),
            ops: verdict.named_ops(),
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

impl<K: Display> FirstAnomaly<K> {
    /// The usual wording: "3 stale read(s); the first, on key 2 (clients client-1,
    /// client-2): ..." for `what` = "stale read".
    pub fn counted(&self, what: &str, clients: &str) -> String {
        format!(
            "{} {what}(s); the first, on key {} (clients {clients}): {}",
            self.count, self.key, self.anomaly.detail
        )
    }
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

/// A named-anomaly check over the register operations `call` draws from `history`
/// ([`ops_by_key`]): valid when `find` finds none; else invalid on the clients of the
/// first one, in the words `word` gives it (the anomaly and the clients' names, joined by
/// ", "), e.g. `|f, clients| f.counted("stale read", clients)`.
pub fn anomalies<C, R, K: Ord + Copy, N: Node>(
    history: &History<C, R>,
    view: &View<'_, N>,
    call: impl Fn(&HistoryEntry<C, R>) -> Option<RegisterCall<K>>,
    find: fn(&[RegisterOp]) -> Vec<Anomaly>,
    word: impl FnOnce(&FirstAnomaly<K>, &str) -> String,
) -> CheckResult {
    let by_key = ops_by_key(history, call);
    let Some(f) = first_anomaly(history, &by_key, find) else {
        return CheckResult::Valid;
    };
    let names: Vec<&str> = f.nodes.iter().map(|n| view.name(*n)).collect();
    CheckResult::Invalid {
        detail: word(&f, &names.join(", ")),
        nodes: f.nodes,
        ops: f.anomaly.ops,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{stale_reads, AnomalyKind};
    use Outcome::{Fail, Info, Ok};

    /// A toy client call: every kind of register call, on key 0.
    #[derive(Clone, Copy)]
    enum Call {
        Put(i64),
        Cas(i64, i64),
        Get,
    }

    #[derive(Clone, Copy)]
    enum Ret {
        Written,
        Cas(bool),
        Read(Option<i64>),
    }

    fn call(e: &HistoryEntry<Call, Ret>) -> Option<RegisterCall<u32>> {
        let input = match e.call {
            Call::Put(v) => RegisterInput::Write(v),
            Call::Cas(from, to) => RegisterInput::Cas { from, to },
            Call::Get => RegisterInput::Read,
        };
        Some(RegisterCall {
            key: 0,
            client: e.client.0 + 1,
            input,
            answer: e.ret.map(|r| match r {
                Ret::Written => RegisterOutput::Written,
                Ret::Cas(b) => RegisterOutput::Cas(b),
                Ret::Read(v) => RegisterOutput::Read(v),
            }),
        })
    }

    /// One entry per line: call, outcome (None: pending at the end), answer, applied.
    fn history(rows: &[(Call, Option<Outcome>, Option<Ret>, bool)]) -> History<Call, Ret> {
        let mut h = History::default();
        for (k, (c, outcome, ret, applied)) in rows.iter().enumerate() {
            let t = 10 * k as u64;
            let id = h.invoke(NodeId(k as u32 % 3), *c, t);
            if let Some(o) = outcome {
                h.complete(id, *o, *ret, t + 5);
            }
            if *applied {
                h.mark_applied(id);
            }
        }
        h
    }

    #[test]
    fn outcomes_and_applied_decide_what_the_search_sees() {
        let h = history(&[
            (Call::Put(1), Some(Ok), Some(Ret::Written), true), // 0: complete
            (Call::Put(2), Some(Info), None, true),             // 1: pending
            (Call::Put(3), Some(Info), None, false),            // 2: never happened
            (Call::Put(4), Some(Fail), None, true),             // 3: failed: no effect
            (Call::Put(5), None, None, true),                   // 4: pending at the end
            (Call::Cas(1, 6), Some(Ok), Some(Ret::Cas(true)), true), // 5: complete
            (Call::Cas(1, 7), Some(Ok), Some(Ret::Read(None)), true), // 6: wrong answer
            (Call::Cas(6, 8), Some(Info), None, true),          // 7: pending
            (Call::Get, Some(Ok), Some(Ret::Read(Some(6))), false), // 8: complete
            (Call::Get, Some(Info), None, false),               // 9: unanswered
            (Call::Get, Some(Ok), Some(Ret::Written), false),   // 10: wrong answer
        ]);
        let ops = operations(&h, call);
        let seen: Vec<(u64, Option<u64>, Option<RegisterOutput>)> = ops
            .iter()
            .map(|(_, o)| (o.id, o.return_ns, o.output.clone()))
            .collect();
        assert_eq!(
            seen,
            vec![
                (0, Some(5), Some(RegisterOutput::Written)),
                (1, None, None),
                (4, None, None),
                (5, Some(55), Some(RegisterOutput::Cas(true))),
                (7, None, None),
                (8, Some(85), Some(RegisterOutput::Read(Some(6)))),
            ]
        );
        assert_eq!(ops[0].1.client, 1);
        assert_eq!(ops[0].1.call_ns, 0);
    }

    #[test]
    fn outcomes_and_applied_decide_what_the_anomaly_finders_see() {
        let h = history(&[
            (Call::Put(1), Some(Ok), Some(Ret::Written), true), // 0: acked write
            (Call::Put(2), Some(Info), None, true),             // 1: unacked write
            (Call::Put(3), Some(Info), None, false),            // 2: never happened
            (Call::Put(4), Some(Fail), None, true),             // 3: failed but applied
            (Call::Cas(1, 6), Some(Ok), Some(Ret::Cas(true)), true), // 4: write of 6
            (Call::Cas(1, 7), Some(Ok), Some(Ret::Cas(false)), false), // 5: no effect
            (Call::Cas(6, 8), Some(Info), None, true),          // 6: unacked write of 8
            (Call::Cas(6, 9), Some(Info), None, false),         // 7: never happened
            (Call::Get, Some(Ok), Some(Ret::Read(Some(6))), false), // 8: read
            (Call::Get, Some(Info), None, false),               // 9: unanswered
        ]);
        let by_key = ops_by_key(&h, call);
        let kinds: Vec<(u64, RegOpKind)> =
            by_key[&0].iter().map(|o| (o.id, o.kind.clone())).collect();
        let w = |value, ok| RegOpKind::Write { value, ok };
        assert_eq!(
            kinds,
            vec![
                (0, w(1, true)),
                (1, w(2, false)),
                (3, w(4, false)),
                (4, w(6, true)),
                (6, w(8, false)),
                (8, RegOpKind::Read { value: Some(6) }),
            ]
        );
        assert_eq!(by_key[&0][1].return_ns, Some(15));
    }

    #[test]
    fn the_first_anomaly_is_counted_and_worded() {
        // Write 1, then write 2 completes, then a read that begins after it returns 1.
        let h = history(&[
            (Call::Put(1), Some(Ok), Some(Ret::Written), true),
            (Call::Put(2), Some(Ok), Some(Ret::Written), true),
            (Call::Get, Some(Ok), Some(Ret::Read(Some(1))), false),
        ]);
        let by_key = ops_by_key(&h, call);
        let f = first_anomaly(&h, &by_key, stale_reads).expect("a stale read");
        assert_eq!(f.anomaly.kind, AnomalyKind::StaleRead);
        assert_eq!((f.key, f.count), (0, 1));
        assert_eq!(f.nodes, vec![NodeId(0), NodeId(1), NodeId(2)]);
        let text = f.counted("stale read", "a, b, c");
        assert!(
            text.starts_with("1 stale read(s); the first, on key 0 (clients a, b, c): "),
            "{text}"
        );
        assert!(text.ends_with(&f.anomaly.detail));
    }
}
