//! Consumer group partition assignment: which member consumes which partitions after a
//! rebalance (Kafka's `RangeAssignor` and `RoundRobinAssignor`; the group leader computes
//! it in the SyncGroup step of the group protocol, KIP-62/the consumer rebalance protocol).
//!
//! * Range, per topic: members in order of their id; the partitions in order; each member
//!   gets a contiguous range, the first `partitions % members` one extra.
//! * Round-robin: every (topic, partition) of every subscribed topic in order, dealt to the
//!   members in turn.

use std::collections::BTreeMap;

/// A topic partition.
pub type TopicPartition = (String, u32);

/// Range assignment of `topics` (name → partition count) to `members` (ids).
pub fn range(
    members: &[String],
    topics: &BTreeMap<String, u32>,
) -> BTreeMap<String, Vec<TopicPartition>> {
    let mut ids = members.to_vec();
    ids.sort();
    ids.dedup();
    let mut out: BTreeMap<String, Vec<TopicPartition>> =
        ids.iter().map(|m| (m.clone(), Vec::new())).collect();
    if ids.is_empty() {
        return out;
    }
    for (topic, &partitions) in topics {
        let n = ids.len() as u32;
        let (each, extra) = (partitions / n, partitions % n);
        let mut next = 0;
        for (i, m) in ids.iter().enumerate() {
            let count = each + u32::from((i as u32) < extra);
            let list = out.get_mut(m).expect("every member has a list");
            for p in next..next + count {
                list.push((topic.clone(), p));
            }
            next += count;
        }
    }
    out
}

/// Round-robin assignment of `topics` to `members`.
pub fn round_robin(
    members: &[String],
    topics: &BTreeMap<String, u32>,
) -> BTreeMap<String, Vec<TopicPartition>> {
    let mut ids = members.to_vec();
    ids.sort();
    ids.dedup();
    let mut out: BTreeMap<String, Vec<TopicPartition>> =
        ids.iter().map(|m| (m.clone(), Vec::new())).collect();
    if ids.is_empty() {
        return out;
    }
    let mut turn = 0;
    for (topic, &partitions) in topics {
        for p in 0..partitions {
            let m = &ids[turn % ids.len()];
            out.get_mut(m)
                .expect("every member has a list")
                .push((topic.clone(), p));
            turn += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topics(list: &[(&str, u32)]) -> BTreeMap<String, u32> {
        list.iter().map(|(t, n)| (t.to_string(), *n)).collect()
    }

    fn members(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("c{i}")).collect()
    }

    fn parts(v: &[TopicPartition]) -> Vec<String> {
        v.iter().map(|(t, p)| format!("{t}-{p}")).collect()
    }

    /// The Kafka documentation's example: two consumers, two topics of three partitions.
    /// Range gives c0 t0-0, t0-1, t1-0, t1-1 and c1 t0-2, t1-2 (uneven); round-robin deals
    /// them out evenly.
    #[test]
    fn range_is_uneven_where_round_robin_is_even() {
        let t = topics(&[("t0", 3), ("t1", 3)]);
        let r = range(&members(2), &t);
        assert_eq!(parts(&r["c0"]), vec!["t0-0", "t0-1", "t1-0", "t1-1"]);
        assert_eq!(parts(&r["c1"]), vec!["t0-2", "t1-2"]);
        let rr = round_robin(&members(2), &t);
        assert_eq!(parts(&rr["c0"]), vec!["t0-0", "t0-2", "t1-1"]);
        assert_eq!(parts(&rr["c1"]), vec!["t0-1", "t1-0", "t1-2"]);
    }

    #[test]
    fn every_partition_goes_to_exactly_one_member() {
        let t = topics(&[("a", 7), ("b", 2), ("c", 11)]);
        for n in 1..9 {
            for assignment in [range(&members(n), &t), round_robin(&members(n), &t)] {
                let mut all: Vec<TopicPartition> = assignment.values().flatten().cloned().collect();
                all.sort();
                let expected: Vec<TopicPartition> = t
                    .iter()
                    .flat_map(|(name, &k)| (0..k).map(move |p| (name.clone(), p)))
                    .collect();
                assert_eq!(all, expected, "{n} members");
            }
        }
    }

    #[test]
    fn more_members_than_partitions_leaves_some_idle() {
        let r = range(&members(4), &topics(&[("t", 2)]));
        assert_eq!(r.values().filter(|v| v.is_empty()).count(), 2);
    }
}
