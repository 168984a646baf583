//! The leader epoch cache (KIP-101): for each leader epoch, the first offset appended under
//! it. A follower that restarts or follows a new leader asks the leader "where does my
//! latest epoch end in your log?" (OffsetsForLeaderEpoch) and truncates there, instead of
//! to its own high watermark — the truncate-to-HW rule is what lost committed data and let
//! replicas diverge (KIP-101 scenarios 1 and 2). KIP-279 fixed the remaining divergence
//! after fast consecutive leader changes by having the follower ask, and truncate, epoch by
//! epoch until both logs agree on an epoch.
//!
//! Kafka keeps it in `leader-epoch-checkpoint`; here it is rebuilt from the batches' epochs
//! (which is how Kafka rebuilds it too when the checkpoint is missing).

use std::collections::BTreeMap;

/// Epoch → start offset, in epoch order; start offsets increase with epochs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeaderEpochCache {
    starts: BTreeMap<u32, u64>,
}

/// The answer to OffsetsForLeaderEpoch(epoch).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EpochEnd {
    /// The largest epoch at or below the one asked for that this log has.
    pub epoch: u32,
    /// Where that epoch ends: the start of the next epoch, or the log end offset.
    pub end_offset: u64,
}

impl LeaderEpochCache {
    /// Notes that a batch of `epoch` was appended at `offset` (called for every append; a
    /// new epoch gets an entry, an old one none).
    pub fn assign(&mut self, epoch: u32, offset: u64) {
        match self.starts.iter().next_back() {
            Some((&last, _)) if last >= epoch => {}
            _ => {
                self.starts.insert(epoch, offset);
            }
        }
    }

    pub fn latest_epoch(&self) -> Option<u32> {
        self.starts.keys().next_back().copied()
    }

    /// OffsetsForLeaderEpoch as a leader answers it (KIP-101; KIP-279 returns the epoch
    /// too): for the largest epoch at or below `epoch`, where it ends in this log. When
    /// every epoch here is newer, the answer is the asked epoch ending where this log's
    /// first epoch starts (KAFKA-7415), so the follower still learns where to cut. None
    /// (Kafka's UNDEFINED) for an empty cache, or an epoch newer than any this log has
    /// (the asker knows of a later leader than this one).
    pub fn end_offset_for(&self, epoch: u32, log_end_offset: u64) -> Option<EpochEnd> {
        if self.latest_epoch().is_some_and(|latest| epoch > latest) {
            return None;
        }
        let Some((&found, _)) = self.starts.range(..=epoch).next_back() else {
            let (_, &first_start) = self.starts.iter().next()?;
            return Some(EpochEnd {
                epoch,
                end_offset: first_start,
            });
        };
        let end_offset = self
            .starts
            .range(found + 1..)
            .next()
            .map_or(log_end_offset, |(_, &start)| start);
        Some(EpochEnd {
            epoch: found,
            end_offset,
        })
    }

    /// Forgets epochs starting at or after `offset` (the log was truncated there).
    pub fn truncate_from_end(&mut self, offset: u64) {
        self.starts.retain(|_, start| *start < offset);
    }

    /// Forgets epochs wholly before `offset` (retention moved the log start), keeping the
    /// one that covers it, moved up to start there.
    pub fn truncate_from_start(&mut self, offset: u64) {
        let covering = self
            .starts
            .iter()
            .rev()
            .find(|(_, &s)| s <= offset)
            .map(|(&e, _)| e);
        if let Some(e) = covering {
            self.starts.retain(|&epoch, _| epoch >= e);
            self.starts.insert(e, offset);
        }
    }

    pub fn entries(&self) -> impl Iterator<Item = (u32, u64)> + '_ {
        self.starts.iter().map(|(&e, &s)| (e, s))
    }
}

/// What a follower does with the leader's answer to OffsetsForLeaderEpoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Truncation {
    /// Truncate to this offset; the logs agree below it.
    To(u64),
    /// Truncate to this offset, then ask again for `epoch` (KIP-279: the follower does not
    /// have the epoch the leader answered with).
    ToThenAsk { offset: u64, epoch: u32 },
}

/// The follower's side of KIP-101 with KIP-279's rule, given its own epoch cache, log end
/// and high watermark, and the leader's answer for the follower's latest epoch. An
/// undefined answer falls back to the pre-KIP-101 rule: truncate to the high watermark.
pub fn truncation_point(
    follower: &LeaderEpochCache,
    follower_leo: u64,
    follower_hw: u64,
    leader: Option<EpochEnd>,
) -> Truncation {
    let Some(l) = leader else {
        return Truncation::To(follower_hw.min(follower_leo));
    };
    match follower.end_offset_for(l.epoch, follower_leo) {
        None => Truncation::To(l.end_offset.min(follower_leo)),
        Some(own) if own.epoch == l.epoch => Truncation::To(l.end_offset.min(own.end_offset)),
        Some(own) => Truncation::ToThenAsk {
            offset: l.end_offset.min(own.end_offset),
            epoch: own.epoch,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(entries: &[(u32, u64)]) -> LeaderEpochCache {
        let mut c = LeaderEpochCache::default();
        for &(e, o) in entries {
            c.assign(e, o);
        }
        c
    }

    #[test]
    fn only_new_epochs_get_entries() {
        let mut c = LeaderEpochCache::default();
        c.assign(1, 0);
        c.assign(1, 5);
        c.assign(3, 7);
        c.assign(2, 9); // an older epoch arriving late changes nothing
        assert_eq!(c.entries().collect::<Vec<_>>(), vec![(1, 0), (3, 7)]);
    }

    #[test]
    fn an_epoch_ends_where_the_next_starts_or_at_the_log_end() {
        let c = cache(&[(1, 0), (3, 7)]);
        assert_eq!(
            c.end_offset_for(1, 10),
            Some(EpochEnd {
                epoch: 1,
                end_offset: 7
            })
        );
        assert_eq!(
            c.end_offset_for(2, 10),
            Some(EpochEnd {
                epoch: 1,
                end_offset: 7
            })
        );
        assert_eq!(
            c.end_offset_for(3, 10),
            Some(EpochEnd {
                epoch: 3,
                end_offset: 10
            })
        );
        // Every epoch here is newer: epoch 1 ends where epoch 2 starts (KAFKA-7415).
        assert_eq!(
            cache(&[(2, 3)]).end_offset_for(1, 4),
            Some(EpochEnd {
                epoch: 1,
                end_offset: 3
            })
        );
        assert_eq!(LeaderEpochCache::default().end_offset_for(1, 0), None);
        // Asked about an epoch newer than any here: undefined, and the asker falls back
        // to its high watermark.
        assert_eq!(c.end_offset_for(4, 10), None);
        assert_eq!(truncation_point(&c, 10, 6, None), Truncation::To(6));
    }

    /// KIP-101 scenario 1: the follower had offsets 0..=1 in epoch 1 with HW 1; truncating
    /// to its HW would lose offset 1, which the leader (epoch 1 ends at 2) still has.
    #[test]
    fn kip_101_scenario_1_keeps_what_the_leader_has() {
        let leader = cache(&[(1, 0)]);
        let follower = cache(&[(1, 0)]);
        let answer = leader.end_offset_for(1, 2);
        assert_eq!(truncation_point(&follower, 2, 1, answer), Truncation::To(2));
    }

    /// KIP-101 scenario 2: both replicas lost their tails differently; the new leader
    /// wrote offset 1 in epoch 2, the follower had offset 1 from epoch 1 — it truncates
    /// to 1 (where epoch 1 ends on the leader) instead of keeping a divergent entry.
    #[test]
    fn kip_101_scenario_2_cuts_the_divergent_entry() {
        let leader = cache(&[(1, 0), (2, 1)]);
        let follower = cache(&[(1, 0)]);
        let answer = leader.end_offset_for(1, 2);
        assert_eq!(truncation_point(&follower, 2, 1, answer), Truncation::To(1));
    }

    /// KIP-279: the follower's latest epoch (3) is unknown to the new leader, whose
    /// latest epoch below it is 2, ending at 6; the follower's own epoch 2 ends at 5.
    /// Same epoch: truncate to the smaller end.
    #[test]
    fn kip_279_truncates_to_the_smaller_end_of_the_common_epoch() {
        let leader = cache(&[(1, 0), (2, 4), (4, 6)]);
        let follower = cache(&[(1, 0), (2, 4), (3, 5)]);
        let answer = leader.end_offset_for(3, 9);
        assert_eq!(
            answer,
            Some(EpochEnd {
                epoch: 2,
                end_offset: 6
            })
        );
        assert_eq!(truncation_point(&follower, 8, 3, answer), Truncation::To(5));
    }

    /// KIP-279: the leader (now in epoch 4, which its cache holds since it became leader,
    /// KAFKA-7415) answers with an epoch (2) the follower never had; the follower
    /// truncates to where its own older epoch (1) ends and asks again for epoch 1.
    #[test]
    fn kip_279_asks_again_when_the_follower_lacks_the_answered_epoch() {
        let leader = cache(&[(1, 0), (2, 3), (4, 6)]);
        let follower = cache(&[(1, 0), (3, 4)]);
        let answer = leader.end_offset_for(3, 6);
        assert_eq!(
            truncation_point(&follower, 7, 2, answer),
            Truncation::ToThenAsk {
                offset: 4,
                epoch: 1
            }
        );
        // The second round: epoch 1 ends at 3 on the leader, at 4 here.
        let again = leader.end_offset_for(1, 6);
        assert_eq!(truncation_point(&follower, 4, 2, again), Truncation::To(3));
    }

    #[test]
    fn truncation_forgets_epochs() {
        let mut c = cache(&[(1, 0), (2, 4), (4, 6)]);
        c.truncate_from_end(5);
        assert_eq!(c.entries().collect::<Vec<_>>(), vec![(1, 0), (2, 4)]);
        c.truncate_from_start(4);
        assert_eq!(c.entries().collect::<Vec<_>>(), vec![(2, 4)]);
        let mut c = cache(&[(1, 0), (2, 4)]);
        c.truncate_from_start(2);
        assert_eq!(c.entries().collect::<Vec<_>>(), vec![(1, 2), (2, 4)]);
    }
}
