//! A partition leader's view of its replicas: the in-sync replica set (ISR), each
//! follower's log end offset as its fetches reveal it, and the high watermark (Kafka's
//! `Partition` and `Replica`; the ISR design of the Kafka documentation, "Replication").
//!
//! * A follower fetching from offset `o` has everything below `o`: its LEO is `o`.
//! * A follower is caught up at a fetch that reaches the leader's LEO as of that fetch,
//!   and also — at its *previous* fetch's time — when it reaches the LEO the leader had at
//!   that previous fetch (Kafka's `updateFetchState`), so a follower keeping pace with a
//!   steady stream of appends stays in. One that has not been caught up for
//!   `replica.lag.time.max.ms` leaves the ISR (time based since Kafka 0.9).
//! * An out-of-sync follower rejoins once its LEO reaches the high watermark and the
//!   start of the leader's current epoch (KAFKA-7128).
//! * The high watermark is the smallest LEO in the ISR (the leader's included); it never
//!   moves back on a leader.
//! * `acks=all` completes when the high watermark passes the batch and is refused while
//!   the ISR is smaller than `min.insync.replicas`.

use std::collections::BTreeMap;

/// A broker id.
pub type BrokerId = u32;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FollowerState {
    pub log_end_offset: u64,
    /// The last time (leader's clock, ms) the follower was caught up (see the module doc).
    pub last_caught_up_ms: i64,
    /// The previous fetch: when, and the leader's LEO then.
    pub last_fetch_ms: i64,
    pub last_fetch_leader_leo: u64,
}

/// A change of the ISR, to be propagated (to the controller, or ZooKeeper in ZK mode).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IsrChange {
    Shrink { removed: Vec<BrokerId> },
    Expand { added: BrokerId },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaderState {
    pub leader: BrokerId,
    pub leader_epoch: u32,
    /// Every replica of the partition, leader included (the assignment).
    pub replicas: Vec<BrokerId>,
    pub isr: Vec<BrokerId>,
    pub followers: BTreeMap<BrokerId, FollowerState>,
    pub high_watermark: u64,
}

impl LeaderState {
    /// A broker becomes leader of a partition with the ISR the controller chose.
    pub fn new(
        leader: BrokerId,
        leader_epoch: u32,
        replicas: Vec<BrokerId>,
        isr: Vec<BrokerId>,
        high_watermark: u64,
        now_ms: i64,
    ) -> LeaderState {
        let followers = replicas
            .iter()
            .filter(|&&r| r != leader)
            .map(|&r| {
                (
                    r,
                    FollowerState {
                        log_end_offset: 0,
                        last_caught_up_ms: now_ms,
                        last_fetch_ms: now_ms,
                        last_fetch_leader_leo: 0,
                    },
                )
            })
            .collect();
        LeaderState {
            leader,
            leader_epoch,
            replicas,
            isr,
            followers,
            high_watermark,
        }
    }

    /// A follower fetched from `fetch_offset` while the leader's log ended at `leader_leo`;
    /// `epoch_start_offset` is where the leader's current epoch began. Returns an ISR
    /// expansion when the follower rejoined.
    pub fn on_fetch(
        &mut self,
        follower: BrokerId,
        fetch_offset: u64,
        leader_leo: u64,
        epoch_start_offset: u64,
        now_ms: i64,
    ) -> Option<IsrChange> {
        let f = self.followers.get_mut(&follower)?;
        f.log_end_offset = fetch_offset.min(leader_leo);
        if fetch_offset >= leader_leo {
            f.last_caught_up_ms = now_ms;
        } else if fetch_offset >= f.last_fetch_leader_leo {
            f.last_caught_up_ms = f.last_caught_up_ms.max(f.last_fetch_ms);
        }
        f.last_fetch_ms = now_ms;
        f.last_fetch_leader_leo = leader_leo;
        let rejoin = !self.isr.contains(&follower)
            && f.log_end_offset >= self.high_watermark
            && f.log_end_offset >= epoch_start_offset;
        if rejoin {
            self.isr.push(follower);
            self.isr.sort_unstable();
            return Some(IsrChange::Expand { added: follower });
        }
        None
    }

    /// Moves the high watermark to the smallest LEO in the ISR; it never moves back.
    /// Returns whether it moved.
    pub fn update_high_watermark(&mut self, leader_leo: u64) -> bool {
        let min_isr_leo = self
            .isr
            .iter()
            .map(|r| {
                if *r == self.leader {
                    leader_leo
                } else {
                    self.followers.get(r).map_or(0, |f| f.log_end_offset)
                }
            })
            .min()
            .unwrap_or(leader_leo);
        if min_isr_leo > self.high_watermark {
            self.high_watermark = min_isr_leo;
            true
        } else {
            false
        }
    }

    /// Followers not caught up for longer than `lag_time_max_ms` leave the ISR.
    pub fn maybe_shrink(&mut self, now_ms: i64, lag_time_max_ms: i64) -> Option<IsrChange> {
        let removed: Vec<BrokerId> = self
            .isr
            .iter()
            .copied()
            .filter(|r| *r != self.leader)
            .filter(|r| {
                self.followers
                    .get(r)
                    .is_some_and(|f| now_ms - f.last_caught_up_ms > lag_time_max_ms)
            })
            .collect();
        if removed.is_empty() {
            return None;
        }
        self.isr.retain(|r| !removed.contains(r));
        Some(IsrChange::Shrink { removed })
    }

    /// Whether an `acks=all` produce may be appended (`min.insync.replicas`).
    pub fn enough_replicas(&self, min_insync_replicas: usize) -> bool {
        self.isr.len() >= min_insync_replicas
    }

    /// Whether a batch ending at `last_offset` is committed (every ISR member has it).
    pub fn committed(&self, last_offset: u64) -> bool {
        self.high_watermark > last_offset
    }

    /// Under-replicated: the ISR is smaller than the assignment.
    pub fn under_replicated(&self) -> bool {
        self.isr.len() < self.replicas.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn three() -> LeaderState {
        LeaderState::new(1, 1, vec![1, 2, 3], vec![1, 2, 3], 0, 0)
    }

    #[test]
    fn the_high_watermark_is_the_smallest_leo_in_the_isr() {
        let mut p = three();
        p.on_fetch(2, 5, 10, 0, 100);
        p.on_fetch(3, 7, 10, 0, 100);
        assert!(p.update_high_watermark(10));
        assert_eq!(p.high_watermark, 5);
        assert!(p.committed(4) && !p.committed(5));
    }

    #[test]
    fn the_high_watermark_never_moves_back() {
        let mut p = three();
        p.on_fetch(2, 8, 10, 0, 0);
        p.on_fetch(3, 8, 10, 0, 0);
        p.update_high_watermark(10);
        assert_eq!(p.high_watermark, 8);
        // A follower that restarted and fetches from lower down.
        p.on_fetch(3, 2, 10, 0, 0);
        assert!(!p.update_high_watermark(10));
        assert_eq!(p.high_watermark, 8);
    }

    #[test]
    fn a_lagging_follower_leaves_the_isr_and_the_high_watermark_advances() {
        let mut p = three();
        p.on_fetch(2, 10, 10, 0, 1_000);
        p.on_fetch(3, 4, 10, 0, 1_000);
        assert_eq!(p.maybe_shrink(20_000, 30_000), None);
        assert_eq!(
            p.maybe_shrink(31_000, 30_000),
            Some(IsrChange::Shrink { removed: vec![3] }),
            "broker 3 was last caught up at 0 (became follower), 31 s ago"
        );
        assert_eq!(p.isr, vec![1, 2]);
        p.update_high_watermark(10);
        assert_eq!(p.high_watermark, 10);
        assert!(p.under_replicated());
        assert!(p.enough_replicas(2) && !p.enough_replicas(3));
    }

    #[test]
    fn a_follower_rejoins_once_it_reaches_the_high_watermark() {
        let mut p = LeaderState::new(1, 1, vec![1, 2, 3], vec![1, 2], 10, 0);
        assert_eq!(p.on_fetch(3, 9, 12, 0, 0), None);
        assert_eq!(
            p.on_fetch(3, 10, 12, 0, 0),
            Some(IsrChange::Expand { added: 3 })
        );
        assert_eq!(p.isr, vec![1, 2, 3]);
    }

    #[test]
    fn a_leader_alone_in_the_isr_commits_by_itself() {
        // The min.insync.replicas = 1 trap of domain note 004: acks=all means "all of the
        // ISR", and the ISR may be the leader alone.
        let mut p = LeaderState::new(1, 1, vec![1, 2, 3], vec![1], 0, 0);
        assert!(p.enough_replicas(1));
        assert!(p.update_high_watermark(5));
        assert!(p.committed(4));
    }

    /// A follower that always fetches up to where the leader was at its previous fetch,
    /// while the leader keeps appending, is keeping pace: it stays in the ISR.
    #[test]
    fn a_follower_keeping_pace_with_a_steady_stream_stays_in_sync() {
        let mut p = three();
        let mut leader_leo = 0;
        let mut t = 0;
        let mut previous_leo = 0;
        while t < 120_000 {
            leader_leo += 10;
            p.on_fetch(2, leader_leo, leader_leo, 0, t);
            p.on_fetch(3, previous_leo, leader_leo, 0, t);
            previous_leo = leader_leo;
            assert_eq!(p.maybe_shrink(t, 30_000), None, "at {t} ms");
            t += 500;
        }
        // One that stops fetching falls out.
        assert_eq!(
            p.maybe_shrink(t + 31_000, 30_000),
            Some(IsrChange::Shrink {
                removed: vec![2, 3]
            })
        );
    }

    #[test]
    fn a_follower_below_the_leaders_epoch_start_does_not_rejoin() {
        let mut p = LeaderState::new(1, 4, vec![1, 2, 3], vec![1, 2], 10, 0);
        assert_eq!(
            p.on_fetch(3, 10, 20, 15, 0),
            None,
            "below the epoch start 15"
        );
        assert_eq!(
            p.on_fetch(3, 15, 20, 15, 0),
            Some(IsrChange::Expand { added: 3 })
        );
    }
}
