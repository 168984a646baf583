//! The group coordinator's state machine for one consumer group (Kafka's classic group
//! protocol: `GroupCoordinator` and `GroupMetadata`; the rebalance protocol of the Kafka
//! documentation and KIP-62 for the separate session and rebalance timeouts).
//!
//! States: `Empty` → (a JoinGroup) `PreparingRebalance` → (every known member rejoined, or
//! the rebalance timeout) `CompletingRebalance`, with a new generation and a leader chosen →
//! (the leader's SyncGroup carries the assignment) `Stable`. A member that stops
//! heartbeating for `session.timeout.ms` is removed and the group rebalances; during a
//! rebalance heartbeats answer "rebalance in progress" and members must rejoin. Offset
//! commits are accepted only from a member of the current generation: a consumer that was
//! expelled while paused cannot commit over its successor (the generation fences it).
//!
//! Pure: times are given, and what to send comes back as values.

use std::collections::BTreeMap;

pub type MemberId = String;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
}

/// Errors the coordinator answers with (Kafka's error codes by name).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupError {
    UnknownMemberId,
    IllegalGeneration,
    RebalanceInProgress,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Member {
    session_timeout_ms: i64,
    last_heartbeat_ms: i64,
    /// Joined the current rebalance (awaiting the JoinGroup response).
    joined: bool,
    assignment: Option<Vec<u32>>,
}

/// What the coordinator sends as a result of an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// The JoinGroup response: the generation, the leader, and (for the leader only) every
    /// member, so it can compute the assignment.
    Joined {
        to: MemberId,
        generation: u32,
        leader: MemberId,
        members: Vec<MemberId>,
    },
    /// The SyncGroup response: this member's partitions.
    Synced {
        to: MemberId,
        generation: u32,
        partitions: Vec<u32>,
    },
    /// A member was removed (its session expired, or it left).
    Removed { member: MemberId, why: &'static str },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub state: GroupState,
    pub generation: u32,
    pub leader: Option<MemberId>,
    members: BTreeMap<MemberId, Member>,
    /// When the current rebalance started (to end it at the rebalance timeout).
    rebalance_started_ms: i64,
    pub rebalance_timeout_ms: i64,
    /// Committed offsets per partition.
    pub offsets: BTreeMap<u32, u64>,
}

impl Group {
    pub fn new(rebalance_timeout_ms: i64) -> Group {
        Group {
            state: GroupState::Empty,
            generation: 0,
            leader: None,
            members: BTreeMap::new(),
            rebalance_started_ms: 0,
            rebalance_timeout_ms,
            offsets: BTreeMap::new(),
        }
    }

    pub fn members(&self) -> impl Iterator<Item = &MemberId> {
        self.members.keys()
    }

    fn start_rebalance(&mut self, now_ms: i64) {
        if self.state != GroupState::PreparingRebalance {
            self.state = GroupState::PreparingRebalance;
            self.rebalance_started_ms = now_ms;
            for m in self.members.values_mut() {
                m.joined = false;
                m.assignment = None;
            }
        }
    }

    /// A JoinGroup from `member`. In a stable group, a known member other than the leader
    /// rejoining with the same subscription just gets the current generation back (Kafka
    /// rebalances only for the leader or changed metadata).
    pub fn join(&mut self, member: &str, session_timeout_ms: i64, now_ms: i64) -> Vec<Reply> {
        if self.state == GroupState::Stable
            && self.members.contains_key(member)
            && self.leader.as_deref() != Some(member)
        {
            let m = self.members.get_mut(member).expect("known");
            m.last_heartbeat_ms = now_ms;
            return vec![Reply::Joined {
                to: member.to_string(),
                generation: self.generation,
                leader: self.leader.clone().unwrap_or_default(),
                members: Vec::new(),
            }];
        }
        self.start_rebalance(now_ms);
        let m = self.members.entry(member.to_string()).or_insert(Member {
            session_timeout_ms,
            last_heartbeat_ms: now_ms,
            joined: false,
            assignment: None,
        });
        m.joined = true;
        m.last_heartbeat_ms = now_ms;
        m.session_timeout_ms = session_timeout_ms;
        self.maybe_complete_join(now_ms)
    }

    /// Ends the join phase once every member rejoined, or at the rebalance timeout (then
    /// the members that did not rejoin are dropped).
    fn maybe_complete_join(&mut self, now_ms: i64) -> Vec<Reply> {
        if self.state != GroupState::PreparingRebalance {
            return Vec::new();
        }
        let all_in = self.members.values().all(|m| m.joined);
        let timed_out = now_ms - self.rebalance_started_ms >= self.rebalance_timeout_ms;
        if !all_in && !timed_out {
            return Vec::new();
        }
        let mut replies = Vec::new();
        let late: Vec<MemberId> = self
            .members
            .iter()
            .filter(|(_, m)| !m.joined)
            .map(|(id, _)| id.clone())
            .collect();
        for id in late {
            self.members.remove(&id);
            replies.push(Reply::Removed {
                member: id,
                why: "did not rejoin within the rebalance timeout",
            });
        }
        if self.members.is_empty() {
            self.state = GroupState::Empty;
            self.leader = None;
            return replies;
        }
        self.generation += 1;
        // The first member (by id) leads; Kafka keeps the old leader when it rejoined.
        let keep = self
            .leader
            .as_ref()
            .filter(|l| self.members.contains_key(*l))
            .cloned();
        let leader = keep.unwrap_or_else(|| self.members.keys().next().expect("non-empty").clone());
        self.leader = Some(leader.clone());
        self.state = GroupState::CompletingRebalance;
        let all: Vec<MemberId> = self.members.keys().cloned().collect();
        for id in &all {
            replies.push(Reply::Joined {
                to: id.clone(),
                generation: self.generation,
                leader: leader.clone(),
                members: if *id == leader {
                    all.clone()
                } else {
                    Vec::new()
                },
            });
        }
        replies
    }

    /// A SyncGroup from `member`; the leader's carries everyone's assignment.
    pub fn sync(
        &mut self,
        member: &str,
        generation: u32,
        assignment: Option<BTreeMap<MemberId, Vec<u32>>>,
    ) -> Result<Vec<Reply>, GroupError> {
        self.check_member(member, generation)?;
        match self.state {
            GroupState::PreparingRebalance => return Err(GroupError::RebalanceInProgress),
            GroupState::Stable => {
                let partitions = self.members[member].assignment.clone().unwrap_or_default();
                return Ok(vec![Reply::Synced {
                    to: member.to_string(),
                    generation,
                    partitions,
                }]);
            }
            _ => {}
        }
        if self.leader.as_deref() == Some(member) {
            if let Some(a) = assignment {
                for (id, m) in self.members.iter_mut() {
                    m.assignment = Some(a.get(id).cloned().unwrap_or_default());
                }
                self.state = GroupState::Stable;
                return Ok(self
                    .members
                    .iter()
                    .map(|(id, m)| Reply::Synced {
                        to: id.clone(),
                        generation,
                        partitions: m.assignment.clone().unwrap_or_default(),
                    })
                    .collect());
            }
        }
        // A follower waits for the leader's assignment.
        Ok(Vec::new())
    }

    fn check_member(&self, member: &str, generation: u32) -> Result<(), GroupError> {
        if !self.members.contains_key(member) {
            return Err(GroupError::UnknownMemberId);
        }
        if generation != self.generation {
            return Err(GroupError::IllegalGeneration);
        }
        Ok(())
    }

    /// A heartbeat: keeps the session alive; tells the member to rejoin during a rebalance.
    pub fn heartbeat(
        &mut self,
        member: &str,
        generation: u32,
        now_ms: i64,
    ) -> Result<(), GroupError> {
        self.check_member(member, generation)?;
        self.members
            .get_mut(member)
            .expect("checked")
            .last_heartbeat_ms = now_ms;
        if self.state == GroupState::PreparingRebalance {
            return Err(GroupError::RebalanceInProgress);
        }
        Ok(())
    }

    /// Time passes: sessions expire (the group rebalances), a join phase may time out. A
    /// member waiting for its JoinGroup or SyncGroup answer is kept alive (the client does
    /// not heartbeat then; Kafka's `shouldKeepAlive`).
    pub fn tick(&mut self, now_ms: i64) -> Vec<Reply> {
        let waiting = matches!(
            self.state,
            GroupState::PreparingRebalance | GroupState::CompletingRebalance
        );
        let expired: Vec<MemberId> = self
            .members
            .iter()
            .filter(|(_, m)| !(waiting && m.joined))
            .filter(|(_, m)| now_ms - m.last_heartbeat_ms > m.session_timeout_ms)
            .map(|(id, _)| id.clone())
            .collect();
        let mut replies = Vec::new();
        if !expired.is_empty() {
            for id in expired {
                self.members.remove(&id);
                replies.push(Reply::Removed {
                    member: id,
                    why: "its session timed out",
                });
            }
            if self.members.is_empty() {
                self.state = GroupState::Empty;
                self.leader = None;
                return replies;
            }
            self.start_rebalance(now_ms);
        }
        replies.extend(self.maybe_complete_join(now_ms));
        replies
    }

    /// A LeaveGroup: the member goes at once and the group rebalances.
    pub fn leave(&mut self, member: &str, now_ms: i64) -> Vec<Reply> {
        if self.members.remove(member).is_none() {
            return Vec::new();
        }
        if self.members.is_empty() {
            self.state = GroupState::Empty;
            self.leader = None;
            return Vec::new();
        }
        self.start_rebalance(now_ms);
        self.maybe_complete_join(now_ms)
    }

    /// An offset commit: only a member of the current generation may commit, and not while
    /// the new generation's assignment is being handed out. Like Kafka's
    /// `GroupCoordinator.doCommitOffsets`, a member of the current generation may still
    /// commit while the group prepares a rebalance (that is how it commits what it
    /// processed before it rejoins, `onJoinPrepare`).
    pub fn commit(
        &mut self,
        member: &str,
        generation: u32,
        offsets: &[(u32, u64)],
    ) -> Result<(), GroupError> {
        self.check_member(member, generation)?;
        if self.state == GroupState::CompletingRebalance {
            return Err(GroupError::RebalanceInProgress);
        }
        for &(p, o) in offsets {
            self.offsets.insert(p, o);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stable_two() -> Group {
        let mut g = Group::new(5_000);
        assert!(g
            .join("a", 10_000, 0)
            .iter()
            .any(|r| matches!(r, Reply::Joined { .. })));
        // A second member joins: a new rebalance; "a" must rejoin.
        assert!(g.join("b", 10_000, 10).is_empty(), "waits for a to rejoin");
        let replies = g.join("a", 10_000, 20);
        assert_eq!(replies.len(), 2);
        assert_eq!(g.generation, 2);
        assert_eq!(g.state, GroupState::CompletingRebalance);
        let assignment: BTreeMap<MemberId, Vec<u32>> =
            [("a".to_string(), vec![0, 1]), ("b".to_string(), vec![2])].into();
        assert!(g.sync("b", 2, None).unwrap().is_empty());
        let synced = g.sync("a", 2, Some(assignment)).unwrap();
        assert_eq!(synced.len(), 2);
        assert_eq!(g.state, GroupState::Stable);
        g
    }

    #[test]
    fn join_then_sync_gives_every_member_its_partitions() {
        let mut g = stable_two();
        assert_eq!(
            g.sync("b", 2, None).unwrap(),
            vec![Reply::Synced {
                to: "b".into(),
                generation: 2,
                partitions: vec![2]
            }]
        );
        assert_eq!(g.leader.as_deref(), Some("a"));
    }

    #[test]
    fn a_silent_member_is_removed_after_its_session_timeout_and_the_group_rebalances() {
        let mut g = stable_two();
        g.heartbeat("a", 2, 9_000).unwrap();
        assert!(g.tick(10_000).is_empty());
        let r = g.tick(10_021);
        assert_eq!(
            r[0],
            Reply::Removed {
                member: "b".into(),
                why: "its session timed out"
            }
        );
        assert_eq!(g.state, GroupState::PreparingRebalance);
        assert_eq!(
            g.heartbeat("a", 2, 10_100),
            Err(GroupError::RebalanceInProgress)
        );
        assert!(g
            .join("a", 10_000, 10_200)
            .iter()
            .any(|r| matches!(r, Reply::Joined { generation: 3, .. })));
    }

    /// The paused consumer of domain note 004: expelled while it was stalled, it wakes and
    /// tries to commit; its old generation is refused.
    #[test]
    fn an_expelled_member_cannot_commit_over_its_successor() {
        let mut g = stable_two();
        g.heartbeat("a", 2, 10_000).unwrap();
        g.tick(10_050); // b's session expired
        g.join("a", 10_000, 10_060);
        assert_eq!(
            g.commit("b", 2, &[(2, 40)]),
            Err(GroupError::UnknownMemberId)
        );
        assert_eq!(
            g.commit("a", 2, &[(0, 5)]),
            Err(GroupError::IllegalGeneration)
        );
        let a: BTreeMap<MemberId, Vec<u32>> = [("a".to_string(), vec![0, 1, 2])].into();
        g.sync("a", 3, Some(a)).unwrap();
        g.commit("a", 3, &[(2, 7)]).unwrap();
        assert_eq!(g.offsets[&2], 7);
    }

    #[test]
    fn members_that_do_not_rejoin_are_dropped_at_the_rebalance_timeout() {
        let mut g = stable_two();
        g.leave("a", 100);
        assert_eq!(g.state, GroupState::PreparingRebalance);
        assert!(g.tick(1_000).is_empty(), "b still has time to rejoin");
        let r = g.tick(5_200);
        assert!(r
            .iter()
            .any(|x| matches!(x, Reply::Removed { member, .. } if member == "b")));
        assert_eq!(g.state, GroupState::Empty);
    }

    /// Members waiting in a rebalance do not heartbeat; they must not expire meanwhile.
    #[test]
    fn members_waiting_for_a_rebalance_are_kept_alive() {
        let mut g = stable_two();
        g.join("c", 10_000, 1_000);
        g.join("a", 10_000, 1_000);
        // b never rejoins; the rebalance timeout (5 s) drops it, a and c carry on.
        let r = g.tick(12_000);
        assert!(r
            .iter()
            .any(|x| matches!(x, Reply::Removed { member, .. } if member == "b")));
        assert_eq!(g.state, GroupState::CompletingRebalance);
        assert_eq!(g.members().cloned().collect::<Vec<_>>(), vec!["a", "c"]);
        assert!(
            g.tick(20_000).is_empty(),
            "a and c wait for the leader's SyncGroup"
        );
    }

    #[test]
    fn a_member_may_commit_while_a_rebalance_is_prepared_not_while_it_completes() {
        let mut g = stable_two();
        g.join("c", 10_000, 1_000);
        assert_eq!(g.state, GroupState::PreparingRebalance);
        g.commit("a", 2, &[(0, 3)]).unwrap();
        g.join("a", 10_000, 1_001);
        g.join("b", 10_000, 1_002);
        assert_eq!(g.state, GroupState::CompletingRebalance);
        assert_eq!(
            g.commit("a", 3, &[(0, 4)]),
            Err(GroupError::RebalanceInProgress)
        );
        assert_eq!(g.offsets[&0], 3);
    }

    #[test]
    fn a_follower_rejoining_a_stable_group_does_not_rebalance_it() {
        let mut g = stable_two();
        let r = g.join("b", 10_000, 500);
        assert_eq!(g.state, GroupState::Stable);
        assert!(matches!(&r[..], [Reply::Joined { generation: 2, .. }]));
    }
}
