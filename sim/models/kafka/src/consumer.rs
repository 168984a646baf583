//! A consumer of the group, as the Java `KafkaConsumer` and its `ConsumerCoordinator`
//! work (the Kafka documentation's consumer configs and "Consumer position"; KIP-62 for
//! the background heartbeat and `max.poll.interval.ms`; the "Kafka Client-side
//! Assignment Proposal" wiki for JoinGroup/SyncGroup with the assignment computed by the
//! group leader's client; domain note 004's questions on when offsets are committed).
//!
//! The loop: FindCoordinator → JoinGroup → SyncGroup (the leader runs `assignor.rs`) →
//! OffsetFetch for the assigned partitions (nothing committed: start at 0, i.e.
//! `auto.offset.reset=earliest`) → Fetch from each partition's leader (leaders learned
//! with Metadata; consumers see only records below the high watermark) → `poll` returns
//! at most `max.poll.records` buffered records → the application processes them one by
//! one, `processing_time` each. Heartbeats go every `heartbeat.interval.ms` from a
//! background thread (KIP-62), so slow processing does not end the session; a batch that
//! takes longer than `max.poll.interval.ms` makes the consumer leave the group.
//!
//! Commits:
//! * `auto_commit = true`: every `auto.commit.interval.ms` the positions `poll` returned so
//!   far are committed, whether the records were processed or not, and again before a
//!   rejoin (`onJoinPrepare`). (The Java client commits inside `poll`, so a strictly
//!   single-threaded loop only commits what it processed; the model follows the common
//!   pattern domain note 004 warns about, where the commit clock runs independently of
//!   the processing — e.g. records handed to worker threads.) A crash in the middle of a
//!   batch then loses the rest of the batch: its offsets are committed, and the next
//!   owner starts after them (`at-least-once` is violated).
//! * `auto_commit = false`: the application commits synchronously after the whole polled
//!   batch is processed (at-least-once). A crash before the commit means the next owner
//!   processes again what was processed already (`no-duplicate-processing` is violated).
//!
//! A rebalance (a member joins, leaves, or its session expires) is learned from a
//! heartbeat's REBALANCE_IN_PROGRESS; the consumer finishes its batch, (auto-)commits,
//! gives up its partitions and rejoins at its next poll; positions restart from the
//! committed offsets. ILLEGAL_GENERATION / UNKNOWN_MEMBER_ID: the member was expelled and
//! rejoins (as a new member after UNKNOWN_MEMBER_ID), without committing.
//!
//! History: `Assign` when a generation's assignment arrives, `Poll` for each poll that
//! returns records, `Process` per record (ok when its processing ends).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use dsim_core::history::Outcome;
use dsim_core::{Ctx, NodeId, Observation, OpId};

use crate::msg::{JoinedGroup, KError, LeaderInfo, Msg};
use crate::{assignor, checks, Assignor, Call, KNode, Ret, Settings, Timer};

/// Bytes a consumer fetch asks for (`max.partition.fetch.bytes`).
const FETCH_MAX_BYTES: u32 = 1 << 20;
/// The topic's name for the assignors.
const TOPIC: &str = "topic";

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConsumerTimer {
    Poll,
    Heartbeat,
    AutoCommit,
    /// The record being processed is done.
    Process,
    /// The current group request (find, join, sync, offset fetch) got no answer.
    GroupRetry(u64),
    /// A commit got no answer.
    CommitTimeout(u64),
    /// Fetch again (after an error, or a fetch that got no answer).
    Fetch(u32),
    Metadata,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Looking for the coordinator.
    Finding,
    Joining,
    Syncing,
    /// Assigned; `offsets_known` once OffsetFetch answered.
    Stable {
        offsets_known: bool,
    },
}

#[derive(Debug)]
pub struct Consumer {
    pub s: Arc<Settings>,
    pub index: u32,
    member: String,
    phase: Phase,
    /// Increments with every group request, so a stale timeout is recognised.
    attempt: u64,
    coordinator: Option<NodeId>,
    generation: u32,
    leaders: Vec<LeaderInfo>,
    pub assigned: Vec<u32>,
    /// Where the next fetch of each partition starts.
    fetch_pos: BTreeMap<u32, u64>,
    /// The position after the last record `poll` returned, by partition.
    consumed: BTreeMap<u32, u64>,
    /// The last positions committed successfully.
    committed: BTreeMap<u32, u64>,
    buffer: BTreeMap<u32, VecDeque<(u64, u64)>>,
    /// Each partition's high watermark, as the last fetch answer told it (for the lag).
    high_watermarks: BTreeMap<u32, u64>,
    fetching: BTreeSet<u32>,
    /// The polled batch still to process, and the record being processed.
    batch: VecDeque<(u32, u64, u64)>,
    current: Option<OpId>,
    batch_started_ns: u64,
    /// A commit in flight: its request id and whether the loop waits for it.
    commit_in_flight: Option<(u64, bool)>,
    /// A synchronous (manual) commit is due once the coordinator is known again.
    commit_wanted: bool,
    /// What the commit in flight commits.
    pending_offsets: Vec<(u32, u64)>,
    rejoin_needed: bool,
    next_request: u64,
    /// Round-robin start of the next poll over the partitions.
    poll_turn: usize,
    pub polled: u64,
    pub processed: u64,
}

impl Consumer {
    pub fn new(s: Arc<Settings>, index: u32) -> Consumer {
        Consumer {
            index,
            member: String::new(),
            phase: Phase::Finding,
            attempt: 0,
            coordinator: None,
            generation: 0,
            leaders: vec![
                LeaderInfo {
                    leader: None,
                    leader_epoch: 0
                };
                s.assignment.len()
            ],
            assigned: Vec::new(),
            fetch_pos: BTreeMap::new(),
            consumed: BTreeMap::new(),
            committed: BTreeMap::new(),
            buffer: BTreeMap::new(),
            high_watermarks: BTreeMap::new(),
            fetching: BTreeSet::new(),
            batch: VecDeque::new(),
            current: None,
            batch_started_ns: 0,
            commit_in_flight: None,
            commit_wanted: false,
            pending_offsets: Vec::new(),
            rejoin_needed: false,
            next_request: 0,
            poll_turn: 0,
            polled: 0,
            processed: 0,
            s,
        }
    }

    fn new_member_id(&mut self, ctx: &Ctx<'_, KNode>) {
        // Member ids sort like the consumers (the range assignor orders members by id).
        self.member = format!("consumer-{:02}-{}", self.index + 1, ctx.now());
    }

    /// The group took the partitions away (expelled, or a commit refused after a
    /// rebalance): forget the positions, take a new member id if the old one is unknown,
    /// and rejoin without committing.
    fn lose_partitions(&mut self, ctx: &mut Ctx<'_, KNode>, e: KError) {
        if e == KError::UnknownMemberId {
            self.new_member_id(ctx);
        }
        self.consumed.clear();
        self.committed.clear();
        self.rejoin_needed = true;
        self.maybe_rejoin(ctx);
    }

    /// A refused JoinGroup or SyncGroup: find the coordinator again, rejoin under a new
    /// member id if the coordinator forgot this one, else rejoin.
    fn on_group_error(&mut self, ctx: &mut Ctx<'_, KNode>, e: KError) {
        match e {
            KError::NotCoordinator => self.coordinator_lost(ctx),
            KError::UnknownMemberId => {
                self.new_member_id(ctx);
                self.join(ctx);
            }
            _ => self.join(ctx),
        }
    }

    pub fn on_start(&mut self, ctx: &mut Ctx<'_, KNode>) {
        let s = self.s.clone();
        let c = &s.cfg;
        self.new_member_id(ctx);
        let worst = c
            .processing_time
            .0
            .saturating_mul(u64::from(c.max_poll_records));
        if worst > c.max_poll_interval.0 {
            ctx.note(
                "max-poll-interval-risk",
                format!(
                    "a full poll of {} records takes {} to process, more than max.poll.interval {}: the consumer may be expelled mid-batch",
                    c.max_poll_records,
                    dsim_core::units::format_ns(worst),
                    c.max_poll_interval
                ),
            );
        }
        self.request_metadata(ctx);
        self.find_coordinator(ctx);
        ctx.set_timer(
            Timer::Consumer(ConsumerTimer::Heartbeat),
            c.heartbeat_interval.0,
        );
        if c.auto_commit {
            ctx.set_timer(
                Timer::Consumer(ConsumerTimer::AutoCommit),
                c.auto_commit_interval.0,
            );
        }
        ctx.set_timer(
            Timer::Consumer(ConsumerTimer::Metadata),
            c.metadata_max_age.0,
        );
    }

    fn request_metadata(&mut self, ctx: &mut Ctx<'_, KNode>) {
        let b = self.s.random_broker(ctx.rng());
        ctx.send(b, Msg::MetadataRequest);
    }

    fn backoff(&self) -> u64 {
        self.s.cfg.retry_backoff.0.max(1)
    }

    /// Arms the timeout of the group request just sent.
    fn arm_group_retry(&mut self, ctx: &mut Ctx<'_, KNode>, after_ns: u64) {
        self.attempt += 1;
        ctx.set_timer(
            Timer::Consumer(ConsumerTimer::GroupRetry(self.attempt)),
            after_ns,
        );
    }

    fn find_coordinator(&mut self, ctx: &mut Ctx<'_, KNode>) {
        self.phase = match self.phase {
            Phase::Stable { .. } => self.phase,
            _ => Phase::Finding,
        };
        self.coordinator = None;
        let b = self.s.random_broker(ctx.rng());
        ctx.send(b, Msg::FindCoordinator);
        let t = self.s.cfg.request_timeout.0.min(2_000_000_000);
        self.arm_group_retry(ctx, t);
    }

    /// Lost the coordinator (NOT_COORDINATOR, no answer): find it again, soon.
    fn coordinator_lost(&mut self, ctx: &mut Ctx<'_, KNode>) {
        self.coordinator = None;
        if !matches!(self.phase, Phase::Stable { .. }) {
            self.phase = Phase::Finding;
        }
        self.arm_group_retry(ctx, self.backoff());
    }

    fn join(&mut self, ctx: &mut Ctx<'_, KNode>) {
        let Some(co) = self.coordinator else {
            self.phase = Phase::Finding;
            return self.find_coordinator(ctx);
        };
        self.revoke(ctx);
        self.phase = Phase::Joining;
        self.rejoin_needed = false;
        ctx.send(
            co,
            Msg::JoinGroup {
                member: self.member.clone(),
                session_timeout_ms: (self.s.cfg.session_timeout.0 / 1_000_000) as i64,
            },
        );
        // The join waits for every member to rejoin, up to the rebalance timeout.
        let t = self.s.cfg.max_poll_interval.0 + 5_000_000_000;
        self.arm_group_retry(ctx, t);
    }

    /// Gives up the partitions (before a rejoin).
    fn revoke(&mut self, ctx: &mut Ctx<'_, KNode>) {
        if !self.assigned.is_empty() {
            ctx.note(
                "partitions-revoked",
                format!("{} gives up {:?}", self.member, self.assigned),
            );
        }
        self.assigned.clear();
        self.fetch_pos.clear();
        self.consumed.clear();
        self.committed.clear();
        self.buffer.clear();
        self.high_watermarks.clear();
        self.fetching.clear();
        self.commit_wanted = false;
    }

    /// The group asked for a rejoin: at the next poll, i.e. once the batch is done and a
    /// synchronous commit answered.
    fn maybe_rejoin(&mut self, ctx: &mut Ctx<'_, KNode>) {
        if !self.rejoin_needed || self.busy() {
            return;
        }
        if self.commit_in_flight.is_some() {
            return;
        }
        if self.s.cfg.auto_commit
            && matches!(
                self.phase,
                Phase::Stable {
                    offsets_known: true
                }
            )
            && self.consumed != self.committed
            && !self.consumed.is_empty()
        {
            // onJoinPrepare: commit what poll returned, then rejoin.
            self.commit(ctx, true);
            return;
        }
        self.join(ctx);
    }

    fn busy(&self) -> bool {
        self.current.is_some() || !self.batch.is_empty()
    }

    pub fn on_timer(&mut self, ctx: &mut Ctx<'_, KNode>, t: ConsumerTimer) {
        let s = self.s.clone();
        let c = &s.cfg;
        match t {
            ConsumerTimer::Heartbeat => {
                ctx.set_timer(
                    Timer::Consumer(ConsumerTimer::Heartbeat),
                    c.heartbeat_interval.0,
                );
                if !matches!(self.phase, Phase::Stable { .. }) {
                    return;
                }
                if self.busy()
                    && ctx.now().saturating_sub(self.batch_started_ns) > c.max_poll_interval.0
                    && !self.rejoin_needed
                {
                    // KIP-62: poll was not called within max.poll.interval.ms.
                    ctx.note(
                        "max-poll-interval-exceeded",
                        format!(
                            "{} leaves the group: its batch outlasted max.poll.interval {}",
                            self.member, c.max_poll_interval
                        ),
                    );
                    if let Some(co) = self.coordinator {
                        ctx.send(
                            co,
                            Msg::LeaveGroup {
                                member: self.member.clone(),
                            },
                        );
                    }
                    self.new_member_id(ctx);
                    self.rejoin_needed = true;
                    return;
                }
                if let Some(co) = self.coordinator {
                    ctx.send(
                        co,
                        Msg::Heartbeat {
                            member: self.member.clone(),
                            generation: self.generation,
                        },
                    );
                }
            }
            ConsumerTimer::AutoCommit => {
                ctx.set_timer(
                    Timer::Consumer(ConsumerTimer::AutoCommit),
                    c.auto_commit_interval.0,
                );
                if matches!(
                    self.phase,
                    Phase::Stable {
                        offsets_known: true
                    }
                ) && self.commit_in_flight.is_none()
                    && self.consumed != self.committed
                    && !self.rejoin_needed
                {
                    self.commit(ctx, false);
                }
            }
            ConsumerTimer::Process => self.process_done(ctx),
            ConsumerTimer::Poll => self.maybe_poll(ctx),
            ConsumerTimer::GroupRetry(attempt) => {
                if attempt != self.attempt {
                    return;
                }
                match self.phase {
                    Phase::Finding => self.find_coordinator(ctx),
                    Phase::Joining | Phase::Syncing => {
                        // No answer: the coordinator may have moved.
                        self.find_coordinator(ctx)
                    }
                    Phase::Stable { offsets_known } => {
                        if self.coordinator.is_none() {
                            self.find_coordinator(ctx);
                        } else if !offsets_known {
                            self.offset_fetch(ctx);
                        }
                    }
                }
            }
            ConsumerTimer::CommitTimeout(request) => {
                if let Some((r, _)) = self.commit_in_flight {
                    if r == request {
                        self.commit_failed(ctx, KError::RequestTimedOut);
                    }
                }
            }
            ConsumerTimer::Fetch(p) => {
                self.fetching.remove(&p);
                self.fetch(ctx, p);
            }
            ConsumerTimer::Metadata => {
                self.request_metadata(ctx);
                ctx.set_timer(
                    Timer::Consumer(ConsumerTimer::Metadata),
                    c.metadata_max_age.0,
                );
            }
        }
    }

    pub fn on_message(&mut self, ctx: &mut Ctx<'_, KNode>, from: NodeId, msg: Msg) {
        match msg {
            Msg::MetadataReply { partitions } => {
                for (mine, new) in self.leaders.iter_mut().zip(partitions) {
                    if new.leader_epoch >= mine.leader_epoch {
                        *mine = new;
                    }
                }
                let idle: Vec<u32> = self
                    .assigned
                    .iter()
                    .copied()
                    .filter(|p| !self.fetching.contains(p))
                    .collect();
                for p in idle {
                    self.fetch(ctx, p);
                }
            }
            Msg::FindCoordinatorReply { coordinator } => {
                if self.coordinator.is_some() {
                    return;
                }
                let Some(b) = coordinator else {
                    self.arm_group_retry(ctx, self.backoff().max(100_000_000));
                    return;
                };
                self.coordinator = Some(self.s.broker_node(b));
                match self.phase {
                    Phase::Finding => self.join(ctx),
                    Phase::Stable { offsets_known } => {
                        if !offsets_known {
                            self.offset_fetch(ctx);
                        } else if self.commit_wanted && self.commit_in_flight.is_none() {
                            self.commit(ctx, true);
                        } else {
                            self.maybe_rejoin(ctx);
                        }
                    }
                    _ => {}
                }
            }
            Msg::JoinGroupReply { result } => {
                if self.phase != Phase::Joining || Some(from) != self.coordinator {
                    return;
                }
                match result {
                    Ok(joined) => self.on_joined(ctx, joined),
                    Err(e) => self.on_group_error(ctx, e),
                }
            }
            Msg::SyncGroupReply { generation, result } => {
                if self.phase != Phase::Syncing
                    || generation != self.generation
                    || Some(from) != self.coordinator
                {
                    return;
                }
                match result {
                    Ok(partitions) => self.on_assigned(ctx, partitions),
                    Err(e) => self.on_group_error(ctx, e),
                }
            }
            Msg::HeartbeatReply { generation, error } => {
                if generation != self.generation || !matches!(self.phase, Phase::Stable { .. }) {
                    return;
                }
                match error {
                    None => {}
                    Some(KError::RebalanceInProgress) => {
                        if !self.rejoin_needed {
                            ctx.note(
                                "rebalance",
                                format!("{} must rejoin (generation {generation})", self.member),
                            );
                        }
                        self.rejoin_needed = true;
                        self.maybe_rejoin(ctx);
                    }
                    Some(KError::NotCoordinator) => self.coordinator_lost(ctx),
                    Some(e) => {
                        // Expelled: the partitions are lost, not revoked; no commit.
                        ctx.note(
                            "member-expelled",
                            format!("{}: {} — rejoins", self.member, e.name()),
                        );
                        self.lose_partitions(ctx, e);
                    }
                }
            }
            Msg::OffsetFetchReply { result } => {
                if self.phase
                    != (Phase::Stable {
                        offsets_known: false,
                    })
                {
                    return;
                }
                match result {
                    Ok(list) => {
                        for (p, o) in list {
                            if !self.assigned.contains(&p) {
                                continue;
                            }
                            let at = o.unwrap_or(0);
                            self.fetch_pos.insert(p, at);
                            self.consumed.insert(p, at);
                            if let Some(o) = o {
                                self.committed.insert(p, o);
                            }
                        }
                        ctx.note(
                            "positions",
                            format!("{} starts at {:?}", self.member, self.fetch_pos),
                        );
                        self.phase = Phase::Stable {
                            offsets_known: true,
                        };
                        for p in self.assigned.clone() {
                            self.fetch(ctx, p);
                        }
                    }
                    Err(KError::NotCoordinator) => self.coordinator_lost(ctx),
                    Err(_) => self.arm_group_retry(ctx, self.backoff()),
                }
            }
            Msg::OffsetCommitReply { request, result } => {
                let Some((r, _)) = self.commit_in_flight else {
                    return;
                };
                if r != request {
                    return;
                }
                ctx.cancel_timer(Timer::Consumer(ConsumerTimer::CommitTimeout(request)));
                match result {
                    Ok(()) => {
                        self.commit_in_flight = None;
                        self.commit_wanted = false;
                        for (p, o) in std::mem::take(&mut self.pending_offsets) {
                            if self.assigned.contains(&p) {
                                self.committed.insert(p, o);
                            }
                        }
                        self.maybe_rejoin(ctx);
                        self.maybe_poll(ctx);
                    }
                    Err(e) => self.commit_failed(ctx, e),
                }
            }
            Msg::FetchReply {
                partition,
                fetch_offset,
                result,
                ..
            } => self.on_fetch_reply(ctx, partition, fetch_offset, result),
            _ => {}
        }
    }

    fn on_joined(&mut self, ctx: &mut Ctx<'_, KNode>, joined: JoinedGroup) {
        self.generation = joined.generation;
        self.phase = Phase::Syncing;
        let assignment = (joined.leader == self.member).then(|| {
            let topics = BTreeMap::from([(TOPIC.to_string(), self.s.cfg.partitions)]);
            let plan = match self.s.cfg.assignor {
                Assignor::Range => assignor::range(&joined.members, &topics),
                Assignor::RoundRobin => assignor::round_robin(&joined.members, &topics),
            };
            ctx.note(
                "group-leader-assigns",
                format!(
                    "{} leads generation {}: {:?}",
                    self.member,
                    joined.generation,
                    plan.iter()
                        .map(|(m, tps)| (
                            m.clone(),
                            tps.iter().map(|(_, p)| *p).collect::<Vec<_>>()
                        ))
                        .collect::<Vec<_>>()
                ),
            );
            plan.into_iter()
                .map(|(m, tps)| (m, tps.into_iter().map(|(_, p)| p).collect()))
                .collect()
        });
        if let Some(co) = self.coordinator {
            ctx.send(
                co,
                Msg::SyncGroup {
                    member: self.member.clone(),
                    generation: self.generation,
                    assignment,
                },
            );
        }
        let t = self.s.cfg.max_poll_interval.0 + 5_000_000_000;
        self.arm_group_retry(ctx, t);
    }

    fn on_assigned(&mut self, ctx: &mut Ctx<'_, KNode>, mut partitions: Vec<u32>) {
        partitions.sort_unstable();
        partitions.dedup();
        partitions.retain(|p| *p < self.s.cfg.partitions);
        let op = ctx.invoke(Call::Assign {
            partitions: partitions.clone(),
        });
        ctx.complete(op, Outcome::Ok, Some(Ret::Assigned));
        ctx.note(
            "assigned",
            format!(
                "{} gets {:?} in generation {}",
                self.member, partitions, self.generation
            ),
        );
        self.revoke(ctx);
        self.assigned = partitions;
        self.phase = Phase::Stable {
            offsets_known: false,
        };
        self.offset_fetch(ctx);
    }

    fn offset_fetch(&mut self, ctx: &mut Ctx<'_, KNode>) {
        let Some(co) = self.coordinator else {
            return self.find_coordinator(ctx);
        };
        ctx.send(
            co,
            Msg::OffsetFetch {
                partitions: self.assigned.clone(),
            },
        );
        let t = self.s.cfg.request_timeout.0.min(2_000_000_000);
        self.arm_group_retry(ctx, t);
    }

    fn fetch(&mut self, ctx: &mut Ctx<'_, KNode>, p: u32) {
        if !matches!(
            self.phase,
            Phase::Stable {
                offsets_known: true
            }
        ) || !self.assigned.contains(&p)
            || self.fetching.contains(&p)
        {
            return;
        }
        if self.buffer.get(&p).map_or(0, |b| b.len()) >= self.s.cfg.max_poll_records as usize {
            return; // enough buffered; fetch again when poll drains it
        }
        let Some(&offset) = self.fetch_pos.get(&p) else {
            return;
        };
        let info = self.leaders.get(p as usize).copied().unwrap_or(LeaderInfo {
            leader: None,
            leader_epoch: 0,
        });
        self.fetching.insert(p);
        let Some(leader) = info.leader else {
            self.request_metadata(ctx);
            ctx.set_timer(
                Timer::Consumer(ConsumerTimer::Fetch(p)),
                self.backoff().max(100_000_000),
            );
            return;
        };
        ctx.send(
            self.s.broker_node(leader),
            Msg::Fetch {
                partition: p,
                leader_epoch: info.leader_epoch,
                fetch_offset: offset,
                replica: None,
                max_bytes: FETCH_MAX_BYTES,
            },
        );
        // A fetch that gets no answer is sent again.
        ctx.set_timer(
            Timer::Consumer(ConsumerTimer::Fetch(p)),
            self.s.cfg.fetch_wait_max.0 + self.s.cfg.request_timeout.0.min(2_000_000_000),
        );
    }

    fn on_fetch_reply(
        &mut self,
        ctx: &mut Ctx<'_, KNode>,
        p: u32,
        fetch_offset: u64,
        result: Result<crate::msg::FetchData, KError>,
    ) {
        if !self.fetching.contains(&p) || self.fetch_pos.get(&p) != Some(&fetch_offset) {
            return; // an answer to an older fetch, or a revoked partition
        }
        self.fetching.remove(&p);
        ctx.cancel_timer(Timer::Consumer(ConsumerTimer::Fetch(p)));
        match result {
            Ok(data) => {
                let mut pos = fetch_offset;
                let buf = self.buffer.entry(p).or_default();
                for b in &data.batches {
                    for (o, rec) in b.offsets() {
                        if o >= pos && o < data.high_watermark {
                            buf.push_back((o, checks::value_of(&rec.value)));
                            pos = o + 1;
                        }
                    }
                }
                self.fetch_pos.insert(p, pos);
                self.high_watermarks.insert(p, data.high_watermark);
                self.fetch(ctx, p);
                self.maybe_poll(ctx);
            }
            Err(e) => {
                if e != KError::OffsetOutOfRange {
                    self.request_metadata(ctx);
                } else {
                    ctx.note(
                        "offset-out-of-range",
                        format!("topic-{p} offset {fetch_offset}"),
                    );
                }
                self.fetching.insert(p);
                ctx.set_timer(
                    Timer::Consumer(ConsumerTimer::Fetch(p)),
                    self.backoff().max(100_000_000),
                );
            }
        }
    }

    /// `poll`: when the application is ready for more, hand it up to `max.poll.records`.
    fn maybe_poll(&mut self, ctx: &mut Ctx<'_, KNode>) {
        if !matches!(
            self.phase,
            Phase::Stable {
                offsets_known: true
            }
        ) || self.busy()
            || self.rejoin_needed
            || self.commit_in_flight.is_some_and(|(_, wait)| wait)
            || self.commit_wanted
        {
            return;
        }
        let max = self.s.cfg.max_poll_records as usize;
        let parts: Vec<u32> = self.assigned.clone();
        if parts.is_empty() {
            return;
        }
        let mut records = Vec::new();
        for i in 0..parts.len() {
            let p = parts[(self.poll_turn + i) % parts.len()];
            let Some(buf) = self.buffer.get_mut(&p) else {
                continue;
            };
            while records.len() < max {
                let Some((o, v)) = buf.pop_front() else { break };
                records.push((p, o, v));
                self.consumed.insert(p, o + 1);
            }
        }
        self.poll_turn = (self.poll_turn + 1) % parts.len();
        if records.is_empty() {
            return;
        }
        let op = ctx.invoke(Call::Poll);
        ctx.complete(
            op,
            Outcome::Ok,
            Some(Ret::Polled {
                records: records.clone(),
            }),
        );
        self.polled += records.len() as u64;
        self.batch = records.into();
        self.batch_started_ns = ctx.now();
        for p in parts {
            self.fetch(ctx, p);
        }
        self.process_next(ctx);
    }

    fn process_next(&mut self, ctx: &mut Ctx<'_, KNode>) {
        let Some((partition, offset, value)) = self.batch.pop_front() else {
            return self.batch_done(ctx);
        };
        self.current = Some(ctx.invoke(Call::Process {
            partition,
            offset,
            value,
        }));
        ctx.set_timer(
            Timer::Consumer(ConsumerTimer::Process),
            self.s.cfg.processing_time.0.max(1),
        );
    }

    fn process_done(&mut self, ctx: &mut Ctx<'_, KNode>) {
        if let Some(op) = self.current.take() {
            ctx.complete(op, Outcome::Ok, Some(Ret::Processed));
            self.processed += 1;
        }
        self.process_next(ctx);
    }

    fn batch_done(&mut self, ctx: &mut Ctx<'_, KNode>) {
        if !self.s.cfg.auto_commit && self.consumed != self.committed && !self.consumed.is_empty() {
            self.commit(ctx, true);
            return;
        }
        self.maybe_rejoin(ctx);
        self.maybe_poll(ctx);
    }

    /// OffsetCommit of the positions poll returned; `wait`: the loop waits for it.
    fn commit(&mut self, ctx: &mut Ctx<'_, KNode>, wait: bool) {
        let Some(co) = self.coordinator else {
            self.commit_wanted = wait;
            return self.find_coordinator(ctx);
        };
        if self.commit_in_flight.is_some() {
            if wait {
                self.commit_wanted = true;
            }
            return;
        }
        let offsets: Vec<(u32, u64)> = self
            .consumed
            .iter()
            .filter(|(p, _)| self.assigned.contains(p))
            .map(|(p, o)| (*p, *o))
            .collect();
        if offsets.is_empty() {
            return;
        }
        self.next_request += 1;
        let request = self.next_request;
        self.commit_in_flight = Some((request, wait));
        self.commit_wanted = false;
        ctx.send(
            co,
            Msg::OffsetCommit {
                request,
                member: self.member.clone(),
                generation: self.generation,
                offsets: offsets.clone(),
            },
        );
        ctx.set_timer(
            Timer::Consumer(ConsumerTimer::CommitTimeout(request)),
            self.s.cfg.request_timeout.0,
        );
        self.pending_offsets = offsets;
    }

    fn commit_failed(&mut self, ctx: &mut Ctx<'_, KNode>, e: KError) {
        let Some((_, wait)) = self.commit_in_flight.take() else {
            return;
        };
        ctx.note(
            "commit-failed",
            format!("{}: offset commit failed: {}", self.member, e.name()),
        );
        match e {
            KError::RebalanceInProgress | KError::IllegalGeneration | KError::UnknownMemberId => {
                // CommitFailedException: the partitions went to someone else; rejoin.
                self.lose_partitions(ctx, e);
            }
            _ => {
                // Retriable (coordinator moved, timeout): a synchronous commit retries.
                if wait || self.rejoin_needed {
                    self.commit_wanted = true;
                }
                self.coordinator_lost(ctx);
            }
        }
    }

    pub fn observe(&self) -> Observation {
        Observation {
            state: match self.phase {
                Phase::Finding => "finding-coordinator",
                Phase::Joining => "joining",
                Phase::Syncing => "syncing",
                Phase::Stable { .. } if self.busy() => "processing",
                Phase::Stable { .. } => "polling",
            },
            fields: vec![
                ("generation", i64::from(self.generation)),
                ("assigned", self.assigned.len() as i64),
                ("polled", self.polled as i64),
                ("processed", self.processed as i64),
                ("consumer_lag", self.lag() as i64),
            ],
        }
    }

    /// Records behind: for every assigned partition, its high watermark (as last fetched)
    /// less the position after the last record `poll` returned (Kafka's `records-lag`).
    fn lag(&self) -> u64 {
        self.assigned
            .iter()
            .map(|p| {
                let hw = self.high_watermarks.get(p).copied().unwrap_or(0);
                let position = self
                    .consumed
                    .get(p)
                    .or_else(|| self.fetch_pos.get(p))
                    .copied()
                    .unwrap_or(hw);
                hw.saturating_sub(position)
            })
            .sum()
    }
}
