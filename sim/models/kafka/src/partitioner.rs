//! Which partition a producer sends a record to (Kafka's `DefaultPartitioner` and
//! `RoundRobinPartitioner`).
//!
//! A keyed record goes to `toPositive(murmur2(key)) % partitions`, so one key always lands
//! on one partition (and keeps its order there) — until the partition count changes. A
//! record without a key goes round-robin here (Kafka 2.4+'s sticky partitioner, KIP-480,
//! fills one partition's batch before moving on; `Sticky` models that).

/// Kafka's murmur2 (MurmurHash2, 32-bit, seed 0x9747b28c), as `Utils.murmur2` computes it;
/// the result is the Java `int`.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let len = data.len();
    let mut h: u32 = SEED ^ len as u32;
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// Kafka's `Utils.toPositive`: clears the sign bit (not `abs`, which overflows).
pub fn to_positive(n: i32) -> u32 {
    (n & 0x7fff_ffff) as u32
}

/// The partition of a keyed record.
pub fn partition_for_key(key: &[u8], partitions: u32) -> u32 {
    to_positive(murmur2(key)) % partitions.max(1)
}

/// How records without a key are spread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unkeyed {
    /// One record to each partition in turn.
    RoundRobin,
    /// Fill a batch on one partition, then move to the next (KIP-480).
    Sticky,
}

/// A producer's partitioner state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partitioner {
    pub unkeyed: Unkeyed,
    next: u32,
}

impl Partitioner {
    /// `start` is where round-robin begins (Kafka draws it at random; the caller draws it
    /// from the node's RNG stream).
    pub fn new(unkeyed: Unkeyed, start: u32) -> Partitioner {
        Partitioner {
            unkeyed,
            next: start,
        }
    }

    /// The partition for a record with `key` (None: unkeyed).
    pub fn partition(&mut self, key: Option<&[u8]>, partitions: u32) -> u32 {
        let partitions = partitions.max(1);
        match (key, self.unkeyed) {
            (Some(k), _) => partition_for_key(k, partitions),
            (None, Unkeyed::RoundRobin) => {
                let p = self.next % partitions;
                self.next = self.next.wrapping_add(1);
                p
            }
            (None, Unkeyed::Sticky) => self.next % partitions,
        }
    }

    /// A batch was sent: the sticky partitioner moves on.
    pub fn on_batch_sent(&mut self) {
        if self.unkeyed == Unkeyed::Sticky {
            self.next = self.next.wrapping_add(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vectors of Kafka's own `UtilsTest.testMurmur2`: records with these keys land
    /// on the same partitions as with the Java client.
    #[test]
    fn murmur2_matches_kafkas_test_vectors() {
        for (key, want) in [
            ("21", -973932308),
            ("foobar", -790332482),
            ("a-little-bit-long-string", -985981536),
            ("a-little-bit-longer-string", -1486304829),
            (
                "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58897971,
            ),
            ("abc", 479470107),
        ] {
            assert_eq!(murmur2(key.as_bytes()), want, "{key}");
        }
    }

    #[test]
    fn to_positive_clears_the_sign_bit() {
        assert_eq!(to_positive(-1), 0x7fff_ffff);
        assert_eq!(to_positive(i32::MIN), 0);
        assert_eq!(to_positive(5), 5);
    }

    #[test]
    fn a_key_always_goes_to_one_partition_until_the_count_changes() {
        let mut p = Partitioner::new(Unkeyed::RoundRobin, 0);
        let a = p.partition(Some(b"user-42"), 6);
        for _ in 0..10 {
            assert_eq!(p.partition(Some(b"user-42"), 6), a);
        }
        let spread: std::collections::BTreeSet<u32> = (0..200)
            .map(|i| p.partition(Some(format!("user-{i}").as_bytes()), 6))
            .collect();
        assert_eq!(spread.len(), 6, "keys spread over every partition");
    }

    #[test]
    fn unkeyed_records_go_round_robin_or_stick_per_batch() {
        let mut rr = Partitioner::new(Unkeyed::RoundRobin, 4);
        let got: Vec<u32> = (0..4).map(|_| rr.partition(None, 3)).collect();
        assert_eq!(got, vec![1, 2, 0, 1]);
        let mut sticky = Partitioner::new(Unkeyed::Sticky, 0);
        assert_eq!(sticky.partition(None, 3), sticky.partition(None, 3));
        let before = sticky.partition(None, 3);
        sticky.on_batch_sent();
        assert_ne!(sticky.partition(None, 3), before);
    }
}
