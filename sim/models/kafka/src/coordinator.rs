//! The group coordinator as a broker runs it, and the group's committed offsets in the
//! internal `__consumer_offsets` topic (Kafka's `GroupCoordinator` and
//! `GroupMetadataManager`; the Kafka documentation's "Consumer position" and "Offset
//! management"; the "Kafka Client-side Assignment Proposal" wiki for the group protocol;
//! domain note 004's questions on where consumer offsets live and what a commit means).
//!
//! * A client asks any broker `FindCoordinator`; the answer is the leader of the group's
//!   `__consumer_offsets` partition (`Settings::offsets_partition`, one partition here,
//!   replicated like the user partitions).
//! * That broker runs [`crate::group::Group`]: JoinGroup, SyncGroup (the leader's carries
//!   the assignment its client computed), Heartbeat, LeaveGroup, session expiry on its
//!   purgatory tick. Answers wait as the state machine says (a JoinGroup is answered when
//!   the join phase ends).
//! * An OffsetCommit of the current generation is appended to the offsets partition as one
//!   record per partition (key: the partition; value: the partition and the offset, two
//!   little-endian u64) and answered once the partition's high watermark passes it, like a
//!   produce with `acks=all`; only then does the coordinator's cache hold it.
//! * A broker that becomes leader of the offsets partition loads the committed offsets by
//!   reading that log (the newest record per partition wins) and starts with an empty
//!   group (group metadata records are not modelled: members rejoin after
//!   UNKNOWN_MEMBER_ID). One that stops leading stops coordinating: NOT_COORDINATOR, and
//!   its commits in flight fail.

use std::collections::BTreeMap;

use dsim_core::{Ctx, NodeId};

use crate::broker::{Broker, Role};
use crate::group::{Group, GroupError, MemberId, Reply};
use crate::log::batch::RecordBatch;
use crate::msg::{JoinedGroup, KError, Msg};
use crate::KNode;

/// A commit appended and waiting for the high watermark.
#[derive(Clone, Debug)]
struct PendingCommit {
    from: NodeId,
    request: u64,
    last_offset: u64,
    offsets: Vec<(u32, u64)>,
    deadline_ns: u64,
}

/// The coordinator of the (single) consumer group, on the leader of the offsets partition.
#[derive(Clone, Debug)]
pub struct Coordinator {
    /// The offsets partition's leader epoch this coordinator was loaded in.
    pub leader_epoch: u32,
    pub group: Group,
    /// Where each member's answers go.
    members: BTreeMap<MemberId, NodeId>,
    pending: Vec<PendingCommit>,
}

/// The record of one committed offset: key = the partition, value = partition and offset.
pub fn commit_record(partition: u32, offset: u64) -> (Option<Vec<u8>>, Vec<u8>) {
    let mut value = u64::from(partition).to_le_bytes().to_vec();
    value.extend_from_slice(&offset.to_le_bytes());
    (Some(partition.to_le_bytes().to_vec()), value)
}

/// Reads a commit record's value back; `None` for anything malformed.
pub fn decode_commit(value: &[u8]) -> Option<(u32, u64)> {
    let p = u64::from_le_bytes(value.get(0..8)?.try_into().ok()?);
    let o = u64::from_le_bytes(value.get(8..16)?.try_into().ok()?);
    Some((u32::try_from(p).ok()?, o))
}

/// The committed offsets a log holds: the newest record per partition (log order).
pub fn load_offsets<'a>(batches: impl IntoIterator<Item = &'a RecordBatch>) -> BTreeMap<u32, u64> {
    let mut out = BTreeMap::new();
    for b in batches {
        for (_, rec) in b.offsets() {
            if let Some((p, o)) = decode_commit(&rec.value) {
                out.insert(p, o);
            }
        }
    }
    out
}

fn group_error(e: GroupError) -> KError {
    match e {
        GroupError::UnknownMemberId => KError::UnknownMemberId,
        GroupError::IllegalGeneration => KError::IllegalGeneration,
        GroupError::RebalanceInProgress => KError::RebalanceInProgress,
    }
}

impl Coordinator {
    /// A coordinator loaded from the offsets partition's log.
    pub fn load<'a>(
        leader_epoch: u32,
        rebalance_timeout_ms: i64,
        batches: impl IntoIterator<Item = &'a RecordBatch>,
    ) -> Coordinator {
        let mut group = Group::new(rebalance_timeout_ms);
        group.offsets = load_offsets(batches);
        Coordinator {
            leader_epoch,
            group,
            members: BTreeMap::new(),
            pending: Vec::new(),
        }
    }

    fn route(&mut self, ctx: &mut Ctx<'_, KNode>, replies: Vec<Reply>) {
        for r in replies {
            match r {
                Reply::Joined {
                    to,
                    generation,
                    leader,
                    members,
                } => {
                    if let Some(&node) = self.members.get(&to) {
                        ctx.send(
                            node,
                            Msg::JoinGroupReply {
                                result: Ok(JoinedGroup {
                                    generation,
                                    leader,
                                    members,
                                }),
                            },
                        );
                    }
                }
                Reply::Synced {
                    to,
                    generation,
                    partitions,
                } => {
                    if let Some(&node) = self.members.get(&to) {
                        ctx.send(
                            node,
                            Msg::SyncGroupReply {
                                generation,
                                result: Ok(partitions),
                            },
                        );
                    }
                }
                Reply::Removed { member, why } => {
                    ctx.note(
                        "group-member-removed",
                        format!(
                            "{member} left the group ({why}); generation {} rebalances",
                            self.group.generation
                        ),
                    );
                    self.members.remove(&member);
                }
            }
        }
    }
}

impl Broker {
    /// After partition states changed: start coordinating when this broker leads the
    /// offsets partition (loading the offsets from its log), stop when it no longer does.
    pub fn sync_coordinator(&mut self, ctx: &mut Ctx<'_, KNode>) {
        let Some(p) = self.s.offsets_partition() else {
            return;
        };
        let epoch = match self.replicas.get(&p).map(|r| &r.role) {
            Some(Role::Leader(l)) => Some(l.st.leader_epoch),
            _ => None,
        };
        match epoch {
            Some(e) if self.coordinator.as_ref().map(|c| c.leader_epoch) != Some(e) => {
                self.resign_coordinator(ctx);
                let r = &self.replicas[&p];
                let batches = r.log.read_below(ctx.disk(), u64::MAX);
                let rebalance_ms = (self.s.cfg.max_poll_interval.0 / 1_000_000) as i64;
                let c = Coordinator::load(e, rebalance_ms, &batches);
                ctx.note(
                    "coordinator-loaded",
                    format!(
                        "leads __consumer_offsets (topic-{p}) in epoch {e}: coordinates the group; committed offsets {:?}",
                        c.group.offsets
                    ),
                );
                self.coordinator = Some(Box::new(c));
            }
            Some(_) => {}
            None => self.resign_coordinator(ctx),
        }
    }

    fn resign_coordinator(&mut self, ctx: &mut Ctx<'_, KNode>) {
        if let Some(c) = self.coordinator.take() {
            for pc in c.pending {
                ctx.send(
                    pc.from,
                    Msg::OffsetCommitReply {
                        request: pc.request,
                        result: Err(KError::NotCoordinator),
                    },
                );
            }
            ctx.note(
                "coordinator-resigned",
                "no longer leads __consumer_offsets: stops coordinating the group",
            );
        }
    }

    /// The offsets partition's high watermark moved: answer the commits below it.
    pub fn coordinator_progress(&mut self, ctx: &mut Ctx<'_, KNode>) {
        let Some(p) = self.s.offsets_partition() else {
            return;
        };
        let Some(hw) = self.replicas.get(&p).map(|r| r.high_watermark) else {
            return;
        };
        let Some(c) = self.coordinator.as_mut() else {
            return;
        };
        let (done, wait): (Vec<_>, Vec<_>) = std::mem::take(&mut c.pending)
            .into_iter()
            .partition(|pc| pc.last_offset < hw);
        c.pending = wait;
        for pc in done {
            for &(part, o) in &pc.offsets {
                c.group.offsets.insert(part, o);
            }
            ctx.send(
                pc.from,
                Msg::OffsetCommitReply {
                    request: pc.request,
                    result: Ok(()),
                },
            );
        }
    }

    /// Time passes for the group: sessions expire, join phases time out, commits that
    /// waited too long for the high watermark fail.
    pub fn coordinator_tick(&mut self, ctx: &mut Ctx<'_, KNode>) {
        let now = ctx.now();
        let Some(c) = self.coordinator.as_mut() else {
            return;
        };
        let replies = c.group.tick((now / 1_000_000) as i64);
        c.route(ctx, replies);
        let (late, wait): (Vec<_>, Vec<_>) = std::mem::take(&mut c.pending)
            .into_iter()
            .partition(|pc| pc.deadline_ns <= now);
        c.pending = wait;
        for pc in late {
            ctx.send(
                pc.from,
                Msg::OffsetCommitReply {
                    request: pc.request,
                    result: Err(KError::RequestTimedOut),
                },
            );
        }
    }

    /// The group RPCs.
    pub fn on_group_message(&mut self, ctx: &mut Ctx<'_, KNode>, from: NodeId, msg: Msg) {
        let now_ms = (ctx.now() / 1_000_000) as i64;
        if let Msg::FindCoordinator = msg {
            let coordinator = self
                .s
                .offsets_partition()
                .and_then(|p| self.leaders.get(p as usize))
                .and_then(|l| l.leader);
            ctx.send(from, Msg::FindCoordinatorReply { coordinator });
            return;
        }
        if let Msg::OffsetCommit {
            request,
            member,
            generation,
            offsets,
        } = msg
        {
            let result = self.append_commit(ctx, from, request, &member, generation, offsets);
            if let Err(e) = result {
                ctx.send(
                    from,
                    Msg::OffsetCommitReply {
                        request,
                        result: Err(e),
                    },
                );
            }
            return;
        }
        let Some(c) = self.coordinator.as_mut() else {
            let e = KError::NotCoordinator;
            let reply = match msg {
                Msg::JoinGroup { .. } => Msg::JoinGroupReply { result: Err(e) },
                Msg::SyncGroup { generation, .. } => Msg::SyncGroupReply {
                    generation,
                    result: Err(e),
                },
                Msg::Heartbeat { generation, .. } => Msg::HeartbeatReply {
                    generation,
                    error: Some(e),
                },
                Msg::OffsetFetch { .. } => Msg::OffsetFetchReply { result: Err(e) },
                _ => return,
            };
            ctx.send(from, reply);
            return;
        };
        match msg {
            Msg::JoinGroup {
                member,
                session_timeout_ms,
            } => {
                c.members.insert(member.clone(), from);
                let replies = c.group.join(&member, session_timeout_ms, now_ms);
                c.route(ctx, replies);
            }
            Msg::SyncGroup {
                member,
                generation,
                assignment,
            } => {
                let assignment = assignment.map(|a| a.into_iter().collect());
                match c.group.sync(&member, generation, assignment) {
                    Ok(replies) => {
                        if c.group.state == crate::group::GroupState::Stable {
                            ctx.note("group-stable", format!("generation {generation} assigned"));
                        }
                        c.route(ctx, replies)
                    }
                    Err(e) => ctx.send(
                        from,
                        Msg::SyncGroupReply {
                            generation,
                            result: Err(group_error(e)),
                        },
                    ),
                }
            }
            Msg::Heartbeat { member, generation } => {
                let error = c
                    .group
                    .heartbeat(&member, generation, now_ms)
                    .err()
                    .map(group_error);
                ctx.send(from, Msg::HeartbeatReply { generation, error });
            }
            Msg::LeaveGroup { member } => {
                let replies = c.group.leave(&member, now_ms);
                c.members.remove(&member);
                ctx.note("group-member-left", format!("{member} left the group"));
                c.route(ctx, replies);
            }
            Msg::OffsetFetch { partitions } => {
                let list = partitions
                    .iter()
                    .map(|p| (*p, c.group.offsets.get(p).copied()))
                    .collect();
                ctx.send(from, Msg::OffsetFetchReply { result: Ok(list) });
            }
            _ => {}
        }
    }

    /// Appends an OffsetCommit to the offsets partition; it is answered by
    /// `coordinator_progress` once committed.
    fn append_commit(
        &mut self,
        ctx: &mut Ctx<'_, KNode>,
        from: NodeId,
        request: u64,
        member: &str,
        generation: u32,
        offsets: Vec<(u32, u64)>,
    ) -> Result<(), KError> {
        let p = self.s.offsets_partition().ok_or(KError::NotCoordinator)?;
        let min_isr = self.s.cfg.min_insync_replicas as usize;
        let timeout_ns = self.s.cfg.request_timeout.0;
        let now_ms = (ctx.now() / 1_000_000) as i64;
        let c = self.coordinator.as_mut().ok_or(KError::NotCoordinator)?;
        // Generation fencing only (no offsets yet: the cache changes once committed).
        c.group
            .commit(member, generation, &[])
            .map_err(group_error)?;
        if offsets.is_empty() {
            return Err(KError::UnknownTopicOrPartition);
        }
        let r = self.replicas.get_mut(&p).ok_or(KError::NotCoordinator)?;
        let Role::Leader(lead) = &mut r.role else {
            return Err(KError::NotCoordinator);
        };
        if !lead.st.enough_replicas(min_isr) {
            return Err(KError::NotEnoughReplicas);
        }
        let records = offsets
            .iter()
            .map(|&(part, o)| {
                let (k, v) = commit_record(part, o);
                (now_ms, k, v)
            })
            .collect();
        let mut batch = RecordBatch::new(-1, -1, -1, records);
        let epoch = lead.st.leader_epoch;
        let (_, last) = r
            .log
            .append_as_leader(ctx.disk(), &mut batch, epoch, now_ms)
            .map_err(|_| KError::RequestTimedOut)?;
        let leo = r.log.log_end_offset();
        if lead.st.update_high_watermark(leo) {
            r.high_watermark = lead.st.high_watermark;
        }
        self.appended += offsets.len() as u64;
        c.pending.push(PendingCommit {
            from,
            request,
            last_offset: last,
            offsets,
            deadline_ns: ctx.now() + timeout_ns,
        });
        self.after_leader_progress(ctx, p);
        self.count_flush(ctx, batch.records.len() as u64);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(base: u64, commits: &[(u32, u64)]) -> RecordBatch {
        let mut b = RecordBatch::new(
            -1,
            -1,
            -1,
            commits
                .iter()
                .map(|&(p, o)| {
                    let (k, v) = commit_record(p, o);
                    (0, k, v)
                })
                .collect(),
        );
        b.base_offset = base;
        b
    }

    #[test]
    fn the_newest_commit_per_partition_wins() {
        let log = vec![
            batch(0, &[(0, 5), (1, 3)]),
            batch(2, &[(0, 9)]),
            batch(3, &[(1, 4), (0, 7)]),
        ];
        let c = Coordinator::load(3, 10_000, &log);
        assert_eq!(c.group.offsets, BTreeMap::from([(0, 7), (1, 4)]));
        assert_eq!(c.leader_epoch, 3);
    }

    #[test]
    fn an_empty_log_has_no_committed_offsets() {
        let c = Coordinator::load(0, 10_000, &Vec::new());
        assert!(c.group.offsets.is_empty());
    }

    #[test]
    fn malformed_records_are_skipped_not_trusted() {
        let mut b = batch(0, &[(2, 11)]);
        b.records.push(crate::log::batch::Record {
            offset_delta: 1,
            timestamp_ms: 0,
            key: None,
            value: vec![1, 2, 3],
        });
        b.last_offset_delta = 1;
        let c = Coordinator::load(1, 10_000, &[b]);
        assert_eq!(c.group.offsets, BTreeMap::from([(2, 11)]));
    }

    #[test]
    fn commit_records_round_trip() {
        let (k, v) = commit_record(7, 123_456);
        assert_eq!(k, Some(7u32.to_le_bytes().to_vec()));
        assert_eq!(decode_commit(&v), Some((7, 123_456)));
        assert_eq!(decode_commit(&v[..15]), None);
    }
}
