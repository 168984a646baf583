//! Analysis of a replicated-log history (Kafka's topics), in the way and with the names of
//! Jepsen's Kafka workload (`jepsen.tests.kafka`, Kingsbury 2022, the Redpanda and Bufstream
//! analyses). Clients send unique values to keys (partitions) and are told the offset each
//! landed at; consumers poll and see `(offset, value)` pairs per key. From that alone:
//!
//! * **inconsistent-offsets**: two different values observed at one offset of one key —
//!   replicas disagree on the log.
//! * **duplicate**: one value at two offsets (a retried send appended twice).
//! * **lost-write**: an acknowledged send whose value no poll ever saw, although polls on
//!   its key read past its offset — the log the consumers read does not hold it.
//! * **unseen**: an acknowledged send no poll saw, and no poll read past it (not proven
//!   lost; often a consumer that simply stopped early). Reported, not a violation.
//! * **nonmonotonic-poll**: a consumer's poll on a key starts at or before an offset it had
//!   already read (without a rebalance or seek in between): it went backwards.
//! * **poll-skip**: a consumer's successive reads on a key jump over offsets that hold
//!   values others saw — records it never delivered.
//!
//! Values must be unique per send (dsim's workloads guarantee it). A consumer's position
//! resets when it is (re)assigned partitions, as in Jepsen. Cost: O(n log n).

use std::collections::{BTreeMap, BTreeSet};

/// At most this many examples of each anomaly are kept in words.
pub const EXAMPLES_MAX: usize = 8;

/// One operation of the history, in the order of the history (invocation order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogOp {
    /// A send of `value` to `key`; `offset` when acknowledged with one.
    Send {
        id: u64,
        process: u32,
        key: u32,
        value: u64,
        /// True when the producer was told it succeeded.
        acked: bool,
        offset: Option<u64>,
    },
    /// A poll returned these records, in the order delivered.
    Poll {
        id: u64,
        process: u32,
        records: Vec<(u32, u64, u64)>,
    },
    /// The consumer was (re)assigned partitions or seeked: its positions reset.
    Assign { process: u32 },
}

/// One named anomaly with the operations that show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogAnomaly {
    pub name: &'static str,
    pub ops: Vec<u64>,
    pub detail: String,
}

/// Everything found, by name: counts and a few examples.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogAnalysis {
    pub counts: BTreeMap<&'static str, usize>,
    pub examples: Vec<LogAnomaly>,
    /// Acknowledged sends, and how many values polls saw in all.
    pub acked: usize,
    pub seen: usize,
}

/// The anomalies that make a history invalid (`unseen` alone does not).
pub const VIOLATIONS: [&str; 5] = [
    "inconsistent-offsets",
    "duplicate",
    "lost-write",
    "nonmonotonic-poll",
    "poll-skip",
];

impl LogAnalysis {
    fn add(&mut self, a: LogAnomaly) {
        let n = self.counts.entry(a.name).or_insert(0);
        *n += 1;
        if self.examples.iter().filter(|e| e.name == a.name).count() < EXAMPLES_MAX {
            self.examples.push(a);
        }
    }

    pub fn count(&self, name: &str) -> usize {
        self.counts.get(name).copied().unwrap_or(0)
    }

    /// True when none of [`VIOLATIONS`] was found.
    pub fn is_valid(&self) -> bool {
        VIOLATIONS.iter().all(|n| self.count(n) == 0)
    }

    /// The first example of `name`, in words.
    /// The history operations of the first example of `name` (the checker's own final
    /// read left out: it is not an operation of the history).
    pub fn first_ops(&self, name: &str) -> Vec<u64> {
        self.examples
            .iter()
            .find(|e| e.name == name)
            .map(|e| e.ops.iter().copied().filter(|o| *o != FINAL_READ).collect())
            .unwrap_or_default()
    }

    pub fn explain(&self, name: &str) -> Option<String> {
        let n = self.count(name);
        let e = self.examples.iter().find(|e| e.name == name)?;
        Some(format!("{n} {name}; the first: {}", e.detail))
    }
}

/// The id of a checker's own final read (Jepsen's final reads at the end of the test):
/// a `Poll` with this id is not an operation of the history and is named as such.
pub const FINAL_READ: u64 = u64::MAX;

fn op_name(id: u64) -> String {
    if id == FINAL_READ {
        "the final read".to_string()
    } else {
        format!("op {id}")
    }
}

/// Analyses `ops`, naming processes "process N".
pub fn analyse(ops: &[LogOp]) -> LogAnalysis {
    analyse_with(ops, &|p| format!("process {p}"))
}

/// Analyses `ops`, naming each process with `process_name` (a node's name, say).
pub fn analyse_with(ops: &[LogOp], process_name: &dyn Fn(u32) -> String) -> LogAnalysis {
    let mut out = LogAnalysis::default();
    // What is known to be at each (key, offset), and which op says so.
    let mut at: BTreeMap<(u32, u64), BTreeMap<u64, u64>> = BTreeMap::new();
    // Where each value was seen or acknowledged.
    let mut where_: BTreeMap<u64, BTreeSet<(u32, u64)>> = BTreeMap::new();
    let mut polled_values: BTreeSet<u64> = BTreeSet::new();
    let mut max_polled: BTreeMap<u32, (u64, u64)> = BTreeMap::new();
    for op in ops {
        match op {
            LogOp::Send {
                id,
                key,
                value,
                acked: true,
                offset: Some(o),
                ..
            } => {
                at.entry((*key, *o))
                    .or_default()
                    .entry(*value)
                    .or_insert(*id);
                where_.entry(*value).or_default().insert((*key, *o));
            }
            LogOp::Poll { id, records, .. } => {
                for &(key, o, value) in records {
                    at.entry((key, o)).or_default().entry(value).or_insert(*id);
                    where_.entry(value).or_default().insert((key, o));
                    polled_values.insert(value);
                    let m = max_polled.entry(key).or_insert((o, *id));
                    if o > m.0 {
                        *m = (o, *id);
                    }
                }
            }
            _ => {}
        }
    }
    out.seen = polled_values.len();
    for ((key, o), values) in &at {
        if values.len() > 1 {
            let list: Vec<String> = values
                .iter()
                .map(|(v, op)| format!("{v} ({})", op_name(*op)))
                .collect();
            out.add(LogAnomaly {
                name: "inconsistent-offsets",
                ops: values.values().copied().collect(),
                detail: format!(
                    "offset {o} of key {key} holds different values: {}",
                    list.join(" and ")
                ),
            });
        }
    }
    for (value, places) in &where_ {
        if places.len() > 1 {
            let list: Vec<String> = places.iter().map(|(k, o)| format!("{k}/{o}")).collect();
            let ops_seen: BTreeSet<u64> = places
                .iter()
                .filter_map(|p| at.get(p).and_then(|m| m.get(value)).copied())
                .collect();
            out.add(LogAnomaly {
                name: "duplicate",
                ops: ops_seen.into_iter().collect(),
                detail: format!(
                    "value {value} appears at {} offsets (key/offset {})",
                    places.len(),
                    list.join(", ")
                ),
            });
        }
    }
    for op in ops {
        let LogOp::Send {
            id,
            process,
            key,
            value,
            acked: true,
            offset,
        } = op
        else {
            continue;
        };
        out.acked += 1;
        if polled_values.contains(value) {
            continue;
        }
        let read_past = match (offset, max_polled.get(key)) {
            (Some(o), Some(&(m, by))) if m > *o => Some((m, by)),
            _ => None,
        };
        match read_past {
            Some((m, by)) => out.add(LogAnomaly {
                name: "lost-write",
                ops: vec![*id, by],
                detail: format!(
                    "send op {id} by {} of value {value} to key {key} was acknowledged at offset {}, but no poll ever saw it, though {} read key {key} up to offset {m}",
                    process_name(*process),
                    offset.map_or("?".into(), |o| o.to_string()),
                    op_name(by)
                ),
            }),
            None => out.add(LogAnomaly {
                name: "unseen",
                ops: vec![*id],
                detail: format!(
                    "send op {id} of value {value} to key {key} was acknowledged but no poll read that far"
                ),
            }),
        }
    }
    // Per consumer and key: the last offset delivered, and by which op.
    let mut pos: BTreeMap<(u32, u32), (u64, u64)> = BTreeMap::new();
    let known: BTreeMap<u32, BTreeSet<u64>> = at.keys().fold(BTreeMap::new(), |mut m, (k, o)| {
        m.entry(*k).or_insert_with(BTreeSet::new).insert(*o);
        m
    });
    for op in ops {
        match op {
            LogOp::Assign { process } => pos.retain(|(p, _), _| p != process),
            LogOp::Poll {
                id,
                process,
                records,
            } => {
                for &(key, o, _) in records {
                    if let Some(&(last, last_op)) = pos.get(&(*process, key)) {
                        if o <= last {
                            out.add(LogAnomaly {
                                name: "nonmonotonic-poll",
                                ops: vec![last_op, *id],
                                detail: format!(
                                    "{} read key {key} offset {o} in {} after it had read offset {last} in {}",
                                    process_name(*process),
                                    op_name(*id),
                                    op_name(last_op)
                                ),
                            });
                        } else if let Some(skipped) =
                            known.get(&key).and_then(|s| s.range(last + 1..o).next())
                        {
                            out.add(LogAnomaly {
                                name: "poll-skip",
                                ops: vec![last_op, *id],
                                detail: format!(
                                    "{} read key {key} offset {last} ({}) then offset {o} ({}), skipping offset {skipped}, which holds a value",
                                    process_name(*process),
                                    op_name(last_op),
                                    op_name(*id)
                                ),
                            });
                        }
                    }
                    pos.insert((*process, key), (o, *id));
                }
            }
            LogOp::Send { .. } => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send(id: u64, key: u32, value: u64, offset: u64) -> LogOp {
        LogOp::Send {
            id,
            process: 0,
            key,
            value,
            acked: true,
            offset: Some(offset),
        }
    }

    fn poll(id: u64, process: u32, records: &[(u32, u64, u64)]) -> LogOp {
        LogOp::Poll {
            id,
            process,
            records: records.to_vec(),
        }
    }

    #[test]
    fn a_clean_history_is_valid() {
        let h = vec![
            send(1, 0, 10, 0),
            send(2, 0, 11, 1),
            poll(3, 9, &[(0, 0, 10), (0, 1, 11)]),
        ];
        let a = analyse(&h);
        assert!(a.is_valid(), "{a:?}");
        assert_eq!((a.acked, a.seen), (2, 2));
    }

    /// acks=1 and a leader crash: the acknowledged value at offset 1 is gone, and the
    /// new leader's offset 1 holds another value that consumers read.
    #[test]
    fn an_acked_write_overwritten_by_a_new_leader_is_lost_and_inconsistent() {
        let h = vec![
            send(1, 0, 10, 0),
            send(2, 0, 11, 1),
            send(3, 0, 12, 1),
            send(4, 0, 13, 2),
            poll(5, 9, &[(0, 0, 10), (0, 1, 12), (0, 2, 13)]),
        ];
        let a = analyse(&h);
        assert_eq!(a.count("lost-write"), 1);
        assert_eq!(a.count("inconsistent-offsets"), 1);
        assert!(a.explain("lost-write").unwrap().contains("value 11"));
        assert!(!a.is_valid());
    }

    #[test]
    fn an_acked_write_nobody_read_up_to_is_unseen_not_lost() {
        let h = vec![
            send(1, 0, 10, 0),
            send(2, 0, 11, 1),
            poll(3, 9, &[(0, 0, 10)]),
        ];
        let a = analyse(&h);
        assert_eq!(a.count("unseen"), 1);
        assert_eq!(a.count("lost-write"), 0);
        assert!(a.is_valid());
    }

    #[test]
    fn a_retried_send_appended_twice_is_a_duplicate() {
        let h = vec![send(1, 0, 10, 0), poll(2, 9, &[(0, 0, 10), (0, 1, 10)])];
        let a = analyse(&h);
        assert_eq!(a.count("duplicate"), 1);
        assert!(a.explain("duplicate").unwrap().contains("2 offsets"));
    }

    #[test]
    fn reading_backwards_without_a_rebalance_is_nonmonotonic() {
        let h = vec![
            poll(1, 7, &[(0, 0, 10), (0, 1, 11)]),
            poll(2, 7, &[(0, 1, 11)]),
        ];
        assert_eq!(analyse(&h).count("nonmonotonic-poll"), 1);
        // After a rebalance re-delivery is allowed (at-least-once), not an anomaly.
        let h = vec![
            poll(1, 7, &[(0, 0, 10), (0, 1, 11)]),
            LogOp::Assign { process: 7 },
            poll(2, 7, &[(0, 1, 11)]),
        ];
        assert_eq!(analyse(&h).count("nonmonotonic-poll"), 0);
    }

    /// Auto-commit before processing, then a crash: the group resumes past records the
    /// crashed consumer never processed — the consumer that takes over skips them.
    #[test]
    fn jumping_over_offsets_that_hold_values_is_a_poll_skip() {
        let h = vec![
            send(1, 0, 10, 0),
            send(2, 0, 11, 1),
            send(3, 0, 12, 2),
            poll(4, 7, &[(0, 0, 10)]),
            poll(5, 7, &[(0, 2, 12)]),
            poll(6, 8, &[(0, 1, 11)]),
        ];
        let a = analyse(&h);
        assert_eq!(a.count("poll-skip"), 1);
        assert!(a
            .explain("poll-skip")
            .unwrap()
            .contains("skipping offset 1"));
        // A gap where no value is known (compaction, aborted sends) is not a skip.
        let h = vec![poll(1, 7, &[(0, 0, 10)]), poll(2, 7, &[(0, 5, 15)])];
        assert_eq!(analyse(&h).count("poll-skip"), 0);
    }

    #[test]
    fn unacknowledged_sends_prove_nothing() {
        let h = vec![LogOp::Send {
            id: 1,
            process: 0,
            key: 0,
            value: 10,
            acked: false,
            offset: None,
        }];
        let a = analyse(&h);
        assert!(a.is_valid());
        assert_eq!(a.acked, 0);
    }

    proptest::proptest! {
        /// A correct log never yields a violation: sends append to per-key logs, and each
        /// consumer reads every key from where it stopped, in order.
        #[test]
        fn a_correct_log_is_always_valid(
            steps in proptest::collection::vec((0u32..3, 0u32..3, proptest::bool::ANY, 1usize..4), 1..80)
        ) {
            let mut logs: Vec<Vec<u64>> = vec![Vec::new(); 3];
            let mut read_to: BTreeMap<(u32, u32), usize> = BTreeMap::new();
            let mut h = Vec::new();
            let mut next_value = 100;
            for (id, (key, who, is_send, n)) in steps.into_iter().enumerate() {
                let id = id as u64;
                if is_send {
                    let offset = logs[key as usize].len() as u64;
                    logs[key as usize].push(next_value);
                    h.push(send(id, key, next_value, offset));
                    next_value += 1;
                } else {
                    let from = read_to.get(&(who, key)).copied().unwrap_or(0);
                    let log = &logs[key as usize];
                    let to = (from + n).min(log.len());
                    let records: Vec<(u32, u64, u64)> =
                        (from..to).map(|o| (key, o as u64, log[o])).collect();
                    read_to.insert((who, key), to);
                    h.push(poll(id, who, &records));
                }
            }
            let a = analyse(&h);
            proptest::prop_assert!(a.is_valid(), "{:?}", a);
        }
    }
}
