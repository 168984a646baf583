//! Replica placement: which brokers hold each partition's replicas, as Kafka assigns them
//! when a topic is created (`AdminUtils.assignReplicasToBrokers`, Kafka's
//! "Rack awareness" documentation, KIP-36).
//!
//! Without racks: the first replica of partition `p` goes to broker `(p + start) % n`,
//! the others follow it at a shift that grows every `n` partitions, so leaders spread
//! evenly and followers of one broker's leaders spread over the others. With racks: the
//! brokers are first ordered alternating racks (rack a, rack b, rack c, rack a, ...), and
//! a partition's next replica skips brokers on racks it already uses until every rack has
//! one, so one rack's loss never takes every replica.
//!
//! `start` and the initial shift are random in Kafka; here the caller draws them from the
//! run's RNG stream, so placement is deterministic per seed.

use std::collections::BTreeMap;

/// Why replicas cannot be placed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlacementError {
    #[error("replication factor {rf} is larger than the {brokers} brokers")]
    TooFewBrokers { rf: usize, brokers: usize },
    #[error("the replication factor must be at least 1")]
    ZeroReplicationFactor,
}

fn replica_index(first: usize, shift: usize, j: usize, n: usize) -> usize {
    (first + 1 + (shift + j) % (n - 1)) % n
}

/// Replicas per partition for `brokers` (ids, any order) without rack information.
pub fn assign(
    brokers: &[u32],
    partitions: usize,
    rf: usize,
    start: usize,
    shift: usize,
) -> Result<Vec<Vec<u32>>, PlacementError> {
    let n = brokers.len();
    if rf == 0 {
        return Err(PlacementError::ZeroReplicationFactor);
    }
    if rf > n {
        return Err(PlacementError::TooFewBrokers { rf, brokers: n });
    }
    let mut sorted = brokers.to_vec();
    sorted.sort_unstable();
    let mut out = Vec::with_capacity(partitions);
    let mut shift = shift % n.max(1);
    for p in 0..partitions {
        if p > 0 && p % n == 0 {
            shift += 1;
        }
        let first = (p + start) % n;
        let mut replicas = vec![sorted[first]];
        for j in 0..rf - 1 {
            replicas.push(sorted[replica_index(first, shift, j, n)]);
        }
        out.push(replicas);
    }
    Ok(out)
}

/// Replicas per partition for `brokers` given as (id, rack): rack-aware.
pub fn assign_rack_aware(
    brokers: &[(u32, u32)],
    partitions: usize,
    rf: usize,
    start: usize,
    shift: usize,
) -> Result<Vec<Vec<u32>>, PlacementError> {
    let n = brokers.len();
    if rf == 0 {
        return Err(PlacementError::ZeroReplicationFactor);
    }
    if rf > n {
        return Err(PlacementError::TooFewBrokers { rf, brokers: n });
    }
    // Brokers by rack, each rack's in id order; then interleaved rack by rack.
    let mut by_rack: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for &(id, rack) in brokers {
        by_rack.entry(rack).or_default().push(id);
    }
    for v in by_rack.values_mut() {
        v.sort_unstable();
    }
    let rack_of: BTreeMap<u32, u32> = brokers.iter().copied().collect();
    let racks = by_rack.len();
    let mut ordered = Vec::with_capacity(n);
    let mut i = 0;
    while ordered.len() < n {
        for v in by_rack.values() {
            if let Some(&b) = v.get(i) {
                ordered.push(b);
            }
        }
        i += 1;
    }
    let mut out = Vec::with_capacity(partitions);
    let mut shift = shift % n.max(1);
    for p in 0..partitions {
        if p > 0 && p % n == 0 {
            shift += 1;
        }
        let first = (p + start) % n;
        let leader = ordered[first];
        let mut replicas = vec![leader];
        let mut racks_used = vec![rack_of[&leader]];
        let mut k = 0;
        while replicas.len() < rf {
            let b = ordered[replica_index(first, shift, k, n)];
            k += 1;
            let rack = rack_of[&b];
            let rack_taken = racks_used.contains(&rack) && racks_used.len() < racks;
            if replicas.contains(&b) || rack_taken {
                continue;
            }
            replicas.push(b);
            if !racks_used.contains(&rack) {
                racks_used.push(rack);
            }
        }
        out.push(replicas);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaders_spread_evenly_and_replicas_are_distinct() {
        let a = assign(&[0, 1, 2, 3, 4], 10, 3, 0, 0).unwrap();
        let mut leaders = [0; 5];
        for r in &a {
            leaders[r[0] as usize] += 1;
            let mut d = r.clone();
            d.sort_unstable();
            d.dedup();
            assert_eq!(d.len(), 3, "{r:?}");
        }
        assert_eq!(leaders, [2; 5]);
    }

    #[test]
    fn the_kafka_example_layout() {
        // Kafka's comment example: 5 brokers, 10 partitions, rf 3, start 0, shift 0.
        let a = assign(&[0, 1, 2, 3, 4], 10, 3, 0, 0).unwrap();
        assert_eq!(a[0], vec![0, 1, 2]);
        assert_eq!(a[4], vec![4, 0, 1]);
        // After n partitions the shift grows: followers move one further.
        assert_eq!(a[5], vec![0, 2, 3]);
        assert_eq!(a[9], vec![4, 1, 2]);
    }

    #[test]
    fn too_few_brokers_is_an_error() {
        assert_eq!(
            assign(&[0, 1], 1, 3, 0, 0),
            Err(PlacementError::TooFewBrokers { rf: 3, brokers: 2 })
        );
        assert!(assign(&[0], 1, 0, 0, 0).is_err());
    }

    #[test]
    fn rack_aware_placement_uses_every_rack_before_repeating_one() {
        let brokers = [(0, 0), (1, 0), (2, 1), (3, 1), (4, 2), (5, 2)];
        for start in 0..6 {
            let a = assign_rack_aware(&brokers, 12, 3, start, start).unwrap();
            for r in &a {
                let mut racks: Vec<u32> = r.iter().map(|b| brokers[*b as usize].1).collect();
                racks.sort_unstable();
                racks.dedup();
                assert_eq!(racks.len(), 3, "partition replicas {r:?} share a rack");
            }
        }
        // Two racks, rf 3: one rack must hold two, never three.
        let two = [(0, 0), (1, 0), (2, 1), (3, 1)];
        for r in assign_rack_aware(&two, 8, 3, 1, 0).unwrap() {
            let on_rack0 = r.iter().filter(|b| two[**b as usize].1 == 0).count();
            assert!((1..=2).contains(&on_rack0), "{r:?}");
        }
    }
}
