//! Transaction ids and election votes.
//!
//! A zxid is the pair (epoch, counter): the epoch of the leader that proposed the
//! transaction and its position in that epoch (Junqueira, Reed & Serafini, "Zab:
//! High-performance broadcast for primary-backup systems", DSN 2011; ZooKeeper packs
//! them into the high and low 32 bits of one 64-bit number). Zxids order transactions
//! totally: first by epoch, then by counter.
//!
//! Fast Leader Election orders votes by (peer epoch, zxid, server id), lexicographically
//! (`FastLeaderElection.totalOrderPredicate`; `TotalOrderPredicate` in
//! `zookeeper-specifications/system-spec/zk-3.7/FastLeaderElection.tla`). ZOOKEEPER-1419
//! ("Leader election never settles for a 5-node cluster") was the 3.4.0-3.4.3 form of that
//! predicate: its third clause (same zxid, higher sid) did not require equal epochs, which
//! made it non-transitive, so two servers could each prefer the other's vote and swap
//! forever. Fixed in 3.4.4 and 3.5.0 by nesting both tie-breaks under the equal-epoch
//! test. [`vote_beats`] models both.

use std::fmt;

/// (epoch, counter), ordered lexicographically.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Zxid {
    pub epoch: u32,
    pub counter: u32,
}

impl Zxid {
    pub const ZERO: Zxid = Zxid {
        epoch: 0,
        counter: 0,
    };
    pub fn new(epoch: u32, counter: u32) -> Self {
        Zxid { epoch, counter }
    }
    /// The 64-bit form ZooKeeper uses (epoch in the high half).
    pub fn as_u64(self) -> u64 {
        ((self.epoch as u64) << 32) | self.counter as u64
    }
    pub fn from_u64(v: u64) -> Self {
        Zxid {
            epoch: (v >> 32) as u32,
            counter: v as u32,
        }
    }
}

impl fmt::Display for Zxid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:x}{:08x}", self.epoch, self.counter)
    }
}

/// A Fast Leader Election vote: the proposed leader, its last zxid and its current epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Vote {
    /// Server id (1-based, as in `zoo.cfg`'s `server.N`).
    pub leader: u32,
    pub zxid: Zxid,
    pub peer_epoch: u32,
}

impl fmt::Display for Vote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "(epoch {}, zxid {}, sid {})",
            self.peer_epoch, self.zxid, self.leader
        )
    }
}

/// True when `new` should replace `cur` as this server's proposal.
///
/// Correct order (ZooKeeper 3.4.4 / 3.5.0 and later): lexicographic on (peer_epoch, zxid,
/// sid). With `non_transitive` (ZOOKEEPER-1419, the predicate of 3.4.0-3.4.3): "higher
/// epoch, or equal epoch and higher zxid, or equal zxid and higher sid"; the last clause
/// ignores the epochs, so a vote with a lower epoch but an equal zxid and higher sid beats
/// one with a higher epoch, while the latter also beats the former.
pub fn vote_beats(new: &Vote, cur: &Vote, non_transitive: bool) -> bool {
    if non_transitive {
        new.peer_epoch > cur.peer_epoch
            || (new.peer_epoch == cur.peer_epoch && new.zxid > cur.zxid)
            || (new.zxid == cur.zxid && new.leader > cur.leader)
    } else {
        (new.peer_epoch, new.zxid, new.leader) > (cur.peer_epoch, cur.zxid, cur.leader)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(leader: u32, e: u32, z: Zxid) -> Vote {
        Vote {
            leader,
            zxid: z,
            peer_epoch: e,
        }
    }

    #[test]
    fn zxids_order_by_epoch_then_counter() {
        assert!(Zxid::new(2, 0) > Zxid::new(1, 99));
        assert!(Zxid::new(1, 5) > Zxid::new(1, 4));
        assert_eq!(Zxid::from_u64(Zxid::new(3, 7).as_u64()), Zxid::new(3, 7));
    }

    #[test]
    fn correct_vote_order_is_a_total_order() {
        let a = v(1, 2, Zxid::new(1, 5));
        let b = v(2, 1, Zxid::new(1, 5));
        assert!(vote_beats(&a, &b, false));
        assert!(!vote_beats(&b, &a, false));
    }

    /// ZOOKEEPER-1419: with the faulty predicate both votes beat each other.
    #[test]
    fn faulty_vote_order_has_a_cycle() {
        let a = v(1, 2, Zxid::new(1, 5));
        let b = v(2, 1, Zxid::new(1, 5));
        assert!(vote_beats(&a, &b, true));
        assert!(vote_beats(&b, &a, true));
    }
}
