//! The broker's side of the idempotent producer (KIP-98, Kafka's `ProducerStateManager`).
//!
//! A producer with idempotence gets a producer id and numbers its batches per partition
//! with sequence numbers. The partition leader remembers, per producer id, the epoch and
//! the last few batches (five, as many as a producer may have in flight) with the offsets
//! they got. A retried batch that was in fact appended (its acknowledgement was lost) is
//! recognised by its sequence numbers and answered with its original offsets instead of
//! being appended twice; a gap in the sequence is refused (`OutOfOrderSequence`); a batch
//! from an older epoch is fenced. Without idempotence a retry is simply appended again:
//! the duplicates of domain note 004.

use std::collections::{BTreeMap, VecDeque};

/// How many recent batches are remembered per producer (`max.in.flight.requests` ≤ 5).
pub const BATCHES_REMEMBERED: usize = 5;

/// `seq + n` as Kafka counts sequences: after `i32::MAX` they wrap to 0, never negative.
pub fn increment_sequence(seq: i32, n: u32) -> i32 {
    ((i64::from(seq) + i64::from(n)) % (i64::from(i32::MAX) + 1)) as i32
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchMeta {
    pub first_sequence: i32,
    pub last_sequence: i32,
    pub first_offset: u64,
    pub last_offset: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct ProducerEntry {
    epoch: i16,
    batches: VecDeque<BatchMeta>,
}

/// What the leader does with an incoming batch from an idempotent producer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Append it.
    Append,
    /// Already appended: answer with these offsets, append nothing.
    Duplicate(BatchMeta),
    /// A gap: the producer must not skip sequence numbers.
    OutOfOrder { expected: i32, got: i32 },
    /// The producer was fenced by a newer epoch of the same id.
    Fenced { current_epoch: i16 },
}

/// Per partition: every idempotent producer's recent batches.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProducerState {
    producers: BTreeMap<i64, ProducerEntry>,
}

impl ProducerState {
    /// Checks a batch of `count` records starting at `first_sequence`.
    pub fn check(&self, producer_id: i64, epoch: i16, first_sequence: i32, count: u32) -> Verdict {
        let Some(p) = self.producers.get(&producer_id) else {
            return if first_sequence == 0 {
                Verdict::Append
            } else {
                // A producer this partition has never seen (or whose state retention
                // dropped) must start at 0; Kafka answers UNKNOWN_PRODUCER_ID then.
                Verdict::OutOfOrder {
                    expected: 0,
                    got: first_sequence,
                }
            };
        };
        if epoch < p.epoch {
            return Verdict::Fenced {
                current_epoch: p.epoch,
            };
        }
        if epoch > p.epoch {
            // A new epoch starts its sequences again at 0.
            return if first_sequence == 0 {
                Verdict::Append
            } else {
                Verdict::OutOfOrder {
                    expected: 0,
                    got: first_sequence,
                }
            };
        }
        let last_sequence = increment_sequence(first_sequence, count.saturating_sub(1));
        if let Some(b) = p
            .batches
            .iter()
            .find(|b| b.first_sequence == first_sequence && b.last_sequence == last_sequence)
        {
            return Verdict::Duplicate(*b);
        }
        let expected = p
            .batches
            .back()
            .map_or(0, |b| increment_sequence(b.last_sequence, 1));
        if first_sequence != expected {
            return Verdict::OutOfOrder {
                expected,
                got: first_sequence,
            };
        }
        Verdict::Append
    }

    /// Records an appended batch (leader after `check` said Append, or a follower copying
    /// the leader's log, so a new leader knows the producers too).
    pub fn record(&mut self, producer_id: i64, epoch: i16, meta: BatchMeta) {
        let p = self.producers.entry(producer_id).or_default();
        if epoch != p.epoch {
            p.epoch = epoch;
            p.batches.clear();
        }
        p.batches.push_back(meta);
        while p.batches.len() > BATCHES_REMEMBERED {
            p.batches.pop_front();
        }
    }

    /// Forgets batches at or above `offset` (the log was truncated there).
    pub fn truncate_from(&mut self, offset: u64) {
        for p in self.producers.values_mut() {
            p.batches.retain(|b| b.last_offset < offset);
        }
        self.producers.retain(|_, p| !p.batches.is_empty());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(first: i32, last: i32, off: u64) -> BatchMeta {
        BatchMeta {
            first_sequence: first,
            last_sequence: last,
            first_offset: off,
            last_offset: off + (last - first) as u64,
        }
    }

    #[test]
    fn a_retried_batch_is_answered_not_appended() {
        let mut s = ProducerState::default();
        assert_eq!(s.check(7, 0, 0, 3), Verdict::Append);
        s.record(7, 0, meta(0, 2, 100));
        // The ack was lost; the producer retries the same batch.
        assert_eq!(s.check(7, 0, 0, 3), Verdict::Duplicate(meta(0, 2, 100)));
        assert_eq!(s.check(7, 0, 3, 2), Verdict::Append);
    }

    #[test]
    fn a_gap_in_sequences_is_refused() {
        let mut s = ProducerState::default();
        s.record(7, 0, meta(0, 2, 100));
        assert_eq!(
            s.check(7, 0, 5, 1),
            Verdict::OutOfOrder {
                expected: 3,
                got: 5
            }
        );
        assert_eq!(
            s.check(8, 0, 4, 1),
            Verdict::OutOfOrder {
                expected: 0,
                got: 4
            }
        );
    }

    #[test]
    fn an_older_epoch_is_fenced_and_a_newer_one_restarts_at_zero() {
        let mut s = ProducerState::default();
        s.record(7, 1, meta(0, 0, 10));
        assert_eq!(s.check(7, 0, 1, 1), Verdict::Fenced { current_epoch: 1 });
        assert_eq!(s.check(7, 2, 0, 1), Verdict::Append);
        assert!(matches!(s.check(7, 2, 3, 1), Verdict::OutOfOrder { .. }));
    }

    #[test]
    fn only_the_last_five_batches_are_remembered() {
        let mut s = ProducerState::default();
        for i in 0..7 {
            s.record(7, 0, meta(i, i, 100 + i as u64));
        }
        assert!(matches!(s.check(7, 0, 6, 1), Verdict::Duplicate(_)));
        assert!(matches!(s.check(7, 0, 2, 1), Verdict::Duplicate(_)));
        // Older than the window: no longer recognised (Kafka answers with an error too).
        assert!(matches!(s.check(7, 0, 1, 1), Verdict::OutOfOrder { .. }));
    }

    #[test]
    fn truncation_forgets_the_batches_it_removed() {
        let mut s = ProducerState::default();
        s.record(7, 0, meta(0, 1, 0));
        s.record(7, 0, meta(2, 3, 2));
        s.truncate_from(2);
        assert_eq!(
            s.check(7, 0, 2, 2),
            Verdict::Append,
            "may be appended again"
        );
    }

    #[test]
    fn sequences_wrap_to_zero_after_the_largest_int() {
        assert_eq!(increment_sequence(i32::MAX, 1), 0);
        assert_eq!(increment_sequence(i32::MAX - 1, 3), 1);
        let mut s = ProducerState::default();
        s.record(7, 0, meta(i32::MAX - 1, i32::MAX, 0));
        assert_eq!(s.check(7, 0, 0, 1), Verdict::Append);
    }
}
