//! A Kafka broker: the replica manager of every partition it holds (leader or follower),
//! the produce path, the fetch path for followers and consumers, and its link to the
//! controller.
//!
//! Replication follows Kafka's design ("Replication" in the Kafka documentation; KIP-101,
//! KIP-279, KIP-497, KIP-966):
//! * The leader appends a producer's batch with the next offsets and its leader epoch.
//!   Followers pull: each fetch names its offset, which tells the leader the follower's
//!   log end (LEO). The high watermark (HW) is the smallest LEO in the ISR; consumers only
//!   see records below it; `acks=all` is answered once the HW passes the batch, and with
//!   NOT_ENOUGH_REPLICAS(_AFTER_APPEND) when the ISR is below `min.insync.replicas`.
//! * A follower not caught up for `replica.lag.time.max.ms` leaves the ISR; one that
//!   catches up rejoins. The leader proposes ISR changes to the controller
//!   (AlterPartition) and, until it answers, computes the HW over the larger of the old
//!   and the new ISR (KIP-497's "maximal ISR").
//! * A follower that starts following a new leader first finds where its log diverges:
//!   it asks the leader where its latest epoch ends (OffsetsForLeaderEpoch, KIP-101),
//!   walking back epoch by epoch while the leader does not have it (KIP-279), and
//!   truncates there. The bug switch `truncate_to_high_watermark` does what Kafka did
//!   before 0.11: truncate to the follower's own (checkpointed) high watermark.
//! * Logs are written to the page cache; `flush.messages`/`flush.ms` fsync them, and the
//!   OS writes dirty pages back every `page_cache_writeback`. A crash keeps only what
//!   was flushed. The HW is checkpointed every 5 s (`replica.high.watermark.checkpoint.
//!   interval.ms`).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use dsim_core::{Ctx, IoDone, NodeId, Observation};

use crate::epoch_cache::{truncation_point, LeaderEpochCache, Truncation};
use crate::isr::{BrokerId, IsrChange, LeaderState};
use crate::log::batch::RecordBatch;
use crate::log::PartitionLog;
use crate::metadata::PartitionState;
use crate::msg::{FetchData, KError, LeaderInfo, LogBounds, Msg};
use crate::producer_state::{BatchMeta, ProducerState, Verdict as SeqVerdict};
use crate::{Acks, KNode, Settings, Timer};

/// `replica.high.watermark.checkpoint.interval.ms`.
const HW_CHECKPOINT_NS: u64 = 5_000_000_000;
/// How often held requests (produce waiting for the ISR, fetches) are checked for expiry.
const PURGATORY_TICK_NS: u64 = 100_000_000;
/// Bytes a follower fetch asks for (`replica.fetch.max.bytes`).
const REPLICA_FETCH_MAX_BYTES: u32 = 1 << 20;
const HW_FILE: &str = "replication-offset-checkpoint";
const INCARNATION_FILE: &str = "meta.properties";
/// Fsync tokens: the periodic writeback, a flush policy, the HW checkpoint.
const TOKEN_WRITEBACK: u64 = 1;
const TOKEN_FLUSH: u64 = 2;
const TOKEN_CHECKPOINT: u64 = 3;

/// A produce request held until the HW passes it (Kafka's DelayedProduce).
#[derive(Clone, Debug)]
struct HeldProduce {
    from: NodeId,
    request: u64,
    base_offset: u64,
    last_offset: u64,
    deadline_ns: u64,
}

/// A fetch held until there is something to return (Kafka's DelayedFetch).
#[derive(Clone, Debug)]
struct HeldFetch {
    from: NodeId,
    fetch_offset: u64,
    replica: Option<BrokerId>,
    max_bytes: u32,
    leader_epoch: u32,
}

#[derive(Clone, Debug)]
pub struct Lead {
    pub st: LeaderState,
    /// The ISR the controller last confirmed, and its partition epoch.
    pub committed_isr: Vec<BrokerId>,
    pub partition_epoch: u32,
    /// An ISR change was sent to the controller and not answered yet.
    pub alter_in_flight: bool,
    /// Where this leader's epoch started in its log (KAFKA-7128).
    pub epoch_start_offset: u64,
    held_produce: VecDeque<HeldProduce>,
    held_fetch: Vec<HeldFetch>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FollowPhase {
    /// Waiting for the leader's OffsetsForLeaderEpoch answer for this epoch.
    Truncating { asked_epoch: u32 },
    /// Fetching; `in_flight` while a fetch is outstanding.
    Fetching { in_flight: bool },
    /// Before KIP-101, after OFFSET_OUT_OF_RANGE: waiting for the leader's log bounds.
    ListingOffsets,
    /// Backing off after an error.
    Backoff,
}

#[derive(Clone, Debug)]
pub struct Follow {
    pub leader: BrokerId,
    pub leader_epoch: u32,
    pub phase: FollowPhase,
}

#[derive(Clone, Debug)]
pub enum Role {
    /// Assigned but with no leader known (offline, or not told yet).
    Idle,
    Leader(Box<Lead>),
    Follower(Follow),
}

/// One partition on this broker.
#[derive(Clone, Debug)]
pub struct Replica {
    pub log: PartitionLog,
    pub epochs: LeaderEpochCache,
    pub high_watermark: u64,
    pub role: Role,
    pub producers: ProducerState,
    /// The partition as the controller last described it.
    pub state: PartitionState,
}

impl Replica {
    pub fn is_leader(&self) -> bool {
        matches!(self.role, Role::Leader(_))
    }

    pub fn leader_epoch(&self) -> u32 {
        match &self.role {
            Role::Leader(l) => l.st.leader_epoch,
            Role::Follower(f) => f.leader_epoch,
            Role::Idle => self.state.leader_epoch,
        }
    }

    pub fn log_end_offset(&self) -> u64 {
        self.log.log_end_offset()
    }

    /// Cuts the log at `to` (a whole batch may take the end lower) and everything derived
    /// from it: epochs, producer sequences, the high watermark. Returns (new end, records
    /// dropped).
    fn truncate(&mut self, disk: &mut dsim_core::Disk, to: u64) -> (u64, u64) {
        let leo = self.log.log_end_offset();
        let end = self.log.truncate_to(disk, to);
        self.epochs.truncate_from_end(end);
        self.producers.truncate_from(end);
        self.high_watermark = self.high_watermark.min(end);
        (end, leo.saturating_sub(end))
    }
}

#[derive(Debug)]
pub struct Broker {
    pub id: BrokerId,
    pub s: Arc<Settings>,
    pub incarnation: u64,
    /// How the previous incarnation ended (a dsim crash is always unclean).
    clean_shutdown: bool,
    pub replicas: BTreeMap<u32, Replica>,
    /// Every partition's leader as this broker knows it (for Metadata requests).
    pub leaders: Vec<LeaderInfo>,
    pub controller_epoch: u64,
    /// KRaft: the controller that answered our last heartbeat.
    active_controller: Option<NodeId>,
    last_heartbeat_reply_ns: u64,
    unflushed_messages: u64,
    next_producer_id: i64,
    /// Counters for metrics.
    pub appended: u64,
    pub truncated_records: u64,
    /// ZooKeeper mode's controller and registration (`zk_broker.rs`).
    pub zk: Option<Box<crate::zk_broker::ZkBroker>>,
    /// The controller this broker last accepted an epoch from, and when it last heard
    /// from it (for `controller_silence_ms`).
    pub controller_node: Option<NodeId>,
    pub controller_contact_ns: u64,
    /// The group coordinator, while this broker leads `__consumer_offsets`
    /// (`coordinator.rs`).
    pub coordinator: Option<Box<crate::coordinator::Coordinator>>,
    /// KRaft: the active controller has accepted this incarnation. Until then the broker
    /// is fenced: it keeps the partition states it is sent and acts on none (a restarted
    /// broker must not serve while its old incarnation is still registered).
    registered: bool,
    fenced_states: BTreeMap<u32, PartitionState>,
    /// Followers whose next fetch waits for the flush their last append started:
    /// `flush.messages` flushes inside the append in Kafka, before the fetch that tells
    /// the leader the new log end.
    fetch_after_flush: Vec<u32>,
}

impl Broker {
    pub fn new(id: BrokerId, s: Arc<Settings>) -> Broker {
        let zk = (s.cfg.controller == crate::ControllerMode::ZooKeeper)
            .then(|| Box::new(crate::zk_broker::ZkBroker::new(&s, id)));
        Broker {
            id,
            leaders: vec![
                LeaderInfo {
                    leader: None,
                    leader_epoch: 0
                };
                s.assignment.len()
            ],
            s,
            incarnation: 0,
            clean_shutdown: true,
            replicas: BTreeMap::new(),
            controller_epoch: 0,
            active_controller: None,
            last_heartbeat_reply_ns: 0,
            unflushed_messages: 0,
            next_producer_id: 0,
            appended: 0,
            truncated_records: 0,
            zk,
            controller_node: None,
            controller_contact_ns: 0,
            coordinator: None,
            registered: false,
            fenced_states: BTreeMap::new(),
            fetch_after_flush: Vec::new(),
        }
    }

    /// KRaft mode (not ZooKeeper mode). Asked of the configuration: the ZooKeeper part is
    /// taken out of `zk` while it calls back into the broker.
    fn kraft(&self) -> bool {
        self.s.cfg.controller == crate::ControllerMode::Kraft
    }

    /// Hands the ZooKeeper-mode part the broker it lives in (it is taken out meanwhile, so
    /// a call back into it from inside is a no-op).
    fn with_zk(&mut self, f: impl FnOnce(&mut crate::zk_broker::ZkBroker, &mut Broker)) {
        if let Some(mut zk) = self.zk.take() {
            f(&mut zk, self);
            self.zk = Some(zk);
        }
    }

    fn now_ms(ctx: &Ctx<'_, KNode>) -> i64 {
        (ctx.now() / 1_000_000) as i64
    }

    pub fn on_start(&mut self, ctx: &mut Ctx<'_, KNode>) {
        let now_ms = Self::now_ms(ctx);
        let old = ctx
            .disk()
            .read(INCARNATION_FILE)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
            .unwrap_or(0);
        self.incarnation = old + 1;
        self.clean_shutdown = old == 0;
        self.next_producer_id = ((self.id as i64) << 40) | ((self.incarnation as i64) << 24);
        let _ = ctx
            .disk()
            .put_atomic(INCARNATION_FILE, &self.incarnation.to_le_bytes());
        let hws = read_hw_checkpoint(ctx.disk().read(HW_FILE).unwrap_or_default());
        // Open (and recover) the log of every partition assigned here.
        for (p, replicas) in self.s.assignment.iter().enumerate() {
            if !replicas.contains(&self.id) {
                continue;
            }
            let dir = format!("topic-{p}");
            let (log, rec) = PartitionLog::open(ctx.disk(), &dir, self.s.log.clone(), now_ms);
            if rec.truncated_bytes > 0 || rec.deleted_segments > 0 {
                ctx.note(
                    "log-recovered",
                    format!(
                        "{dir}: cut {} torn byte(s), dropped {} segment(s); log end {}",
                        rec.truncated_bytes,
                        rec.deleted_segments,
                        log.log_end_offset()
                    ),
                );
            }
            let mut epochs = LeaderEpochCache::default();
            let mut producers = ProducerState::default();
            for b in log.read_below(ctx.disk(), u64::MAX) {
                epochs.assign(b.leader_epoch, b.base_offset);
                record_producer(&mut producers, &b);
            }
            let hw = hws
                .get(&(p as u32))
                .copied()
                .unwrap_or(0)
                .min(log.log_end_offset());
            self.replicas.insert(
                p as u32,
                Replica {
                    log,
                    epochs,
                    high_watermark: hw,
                    role: Role::Idle,
                    producers,
                    state: PartitionState {
                        replicas: replicas.clone(),
                        ..PartitionState::default()
                    },
                },
            );
        }
        ctx.fsync(TOKEN_CHECKPOINT);
        let c = &self.s.cfg;
        ctx.set_timer(Timer::Writeback, c.page_cache_writeback.0);
        if c.flush_interval.0 > 0 {
            ctx.set_timer(Timer::Flush, c.flush_interval.0);
        }
        ctx.set_timer(Timer::HwCheckpoint, HW_CHECKPOINT_NS);
        ctx.set_timer(Timer::IsrExpiration, c.replica_lag_time_max.0 / 2);
        ctx.set_timer(Timer::Purgatory, PURGATORY_TICK_NS);
        ctx.set_timer(Timer::Retention, c.retention_check_interval.0);
        match &mut self.zk {
            Some(zk) => zk.start(ctx, self.id, self.incarnation, self.clean_shutdown),
            None => self.heartbeat(ctx),
        }
    }

    // --- the controller link -------------------------------------------------------------

    /// KRaft: heartbeat the active controller, or every controller when none is known.
    fn heartbeat(&mut self, ctx: &mut Ctx<'_, KNode>) {
        let msg = Msg::BrokerHeartbeat {
            broker: self.id,
            incarnation: self.incarnation,
            clean_shutdown: self.clean_shutdown,
        };
        let interval = self.s.cfg.broker_heartbeat_interval.0;
        let fresh = ctx.now().saturating_sub(self.last_heartbeat_reply_ns) < 2 * interval;
        match self.active_controller {
            Some(c) if fresh => ctx.send(c, msg),
            _ => {
                for &c in &self.s.quorum {
                    ctx.send(c, msg.clone());
                }
            }
        }
        ctx.set_timer(Timer::Heartbeat, interval);
    }

    /// LeaderAndIsr / UpdateMetadata from a controller.
    pub fn on_partition_states(
        &mut self,
        ctx: &mut Ctx<'_, KNode>,
        from: NodeId,
        controller_epoch: u64,
        partitions: Vec<(u32, PartitionState)>,
    ) {
        if controller_epoch < self.controller_epoch {
            ctx.note(
                "stale-controller",
                format!(
                    "ignored partition states from a controller of epoch {controller_epoch} (current {})",
                    self.controller_epoch
                ),
            );
            return;
        }
        if controller_epoch > self.controller_epoch && self.kraft() {
            self.active_controller = Some(from);
            self.last_heartbeat_reply_ns = ctx.now();
        }
        if controller_epoch > self.controller_epoch {
            // `controller_silence_ms`: how long this broker heard nothing from any
            // controller before a new controller epoch reached it. Brokers hear the KRaft
            // controller through heartbeat answers (every broker_heartbeat_interval) and
            // LeaderAndIsr; a ZooKeeper-mode controller only speaks when it sends
            // LeaderAndIsr, so there the figure also counts the quiet time before the
            // old controller died (an upper bound on the controller-less gap).
            if self.controller_epoch > 0 {
                let gap_ms = ctx.now().saturating_sub(self.controller_contact_ns) / 1_000_000;
                ctx.metric("controller_silence_ms", gap_ms as i64);
                ctx.note(
                    "new-controller",
                    format!(
                        "controller epoch {} -> {controller_epoch} after {gap_ms} ms without a word from a controller",
                        self.controller_epoch
                    ),
                );
            }
            self.controller_node = Some(from);
        }
        self.controller_contact_ns = ctx.now();
        self.controller_epoch = controller_epoch;
        if self.kraft() && !self.registered {
            self.fenced_states.extend(partitions);
            return;
        }
        for (p, state) in partitions {
            if let Some(l) = self.leaders.get_mut(p as usize) {
                if state.leader_epoch >= l.leader_epoch {
                    *l = LeaderInfo {
                        leader: state.leader,
                        leader_epoch: state.leader_epoch,
                    };
                }
            }
            self.apply_partition_state(ctx, p, state);
        }
        self.sync_coordinator(ctx);
    }

    /// Becomes leader or follower of `p` as `state` says, if it is news.
    fn apply_partition_state(&mut self, ctx: &mut Ctx<'_, KNode>, p: u32, state: PartitionState) {
        let me = self.id;
        let now_ms = Self::now_ms(ctx);
        let Some(r) = self.replicas.get_mut(&p) else {
            return;
        };
        let known = (r.state.leader_epoch, r.state.partition_epoch);
        if (state.leader_epoch, state.partition_epoch) < known {
            return; // older than what we have
        }
        let same_epoch = state.leader_epoch == r.leader_epoch() && !matches!(r.role, Role::Idle);
        r.state = state.clone();
        match state.leader {
            Some(l) if l == me => {
                if let (Role::Leader(lead), true) = (&mut r.role, same_epoch) {
                    // The same leadership: the controller confirmed (or changed) the ISR.
                    lead.committed_isr = state.isr.clone();
                    lead.partition_epoch = state.partition_epoch;
                    lead.alter_in_flight = false;
                    lead.st.isr = state.isr.clone();
                    return;
                }
                let leo = r.log.log_end_offset();
                r.epochs.assign(state.leader_epoch, leo);
                let mut st = LeaderState::new(
                    me,
                    state.leader_epoch,
                    state.replicas.clone(),
                    state.isr.clone(),
                    r.high_watermark,
                    now_ms,
                );
                st.update_high_watermark(leo);
                fail_held(ctx, p, &mut r.role, KError::NotLeaderOrFollower);
                r.role = Role::Leader(Box::new(Lead {
                    st,
                    committed_isr: state.isr.clone(),
                    partition_epoch: state.partition_epoch,
                    alter_in_flight: false,
                    epoch_start_offset: leo,
                    held_produce: VecDeque::new(),
                    held_fetch: Vec::new(),
                }));
                ctx.note(
                    "become-leader",
                    format!(
                        "topic-{p} leader epoch {} (ISR {:?}, log end {leo}, HW {})",
                        state.leader_epoch, state.isr, r.high_watermark
                    ),
                );
                ctx.metric("leader_elected", i64::from(p));
            }
            Some(l) => {
                if same_epoch && matches!(r.role, Role::Follower(_)) {
                    return;
                }
                fail_held(ctx, p, &mut r.role, KError::NotLeaderOrFollower);
                r.role = Role::Follower(Follow {
                    leader: l,
                    leader_epoch: state.leader_epoch,
                    phase: FollowPhase::Backoff,
                });
                self.start_following(ctx, p);
            }
            None => {
                fail_held(ctx, p, &mut r.role, KError::NotLeaderOrFollower);
                r.role = Role::Idle;
            }
        }
    }

    /// A new leader to follow: find the divergence point, then fetch.
    fn start_following(&mut self, ctx: &mut Ctx<'_, KNode>, p: u32) {
        let Some(r) = self.replicas.get_mut(&p) else {
            return;
        };
        if !matches!(r.role, Role::Follower(_)) {
            return;
        }
        if self.s.cfg.truncate_to_high_watermark {
            // Before KIP-101: the follower trusts only its own high watermark.
            let hw = r.high_watermark;
            if hw < r.log.log_end_offset() {
                self.truncate_follower(ctx, p, hw, "its high watermark", "");
            }
            return self.fetch(ctx, p);
        }
        match r.epochs.latest_epoch() {
            None => self.fetch(ctx, p),
            Some(epoch) => self.ask_epoch_end(ctx, p, epoch),
        }
    }

    /// Asks the leader where `epoch` ends in its log (OffsetsForLeaderEpoch, KIP-101); an
    /// answer lost on the network is asked again.
    fn ask_epoch_end(&mut self, ctx: &mut Ctx<'_, KNode>, p: u32, epoch: u32) {
        let Some(Role::Follower(f)) = self.replicas.get_mut(&p).map(|r| &mut r.role) else {
            return;
        };
        f.phase = FollowPhase::Truncating { asked_epoch: epoch };
        ctx.send(
            self.s.broker_node(f.leader),
            Msg::OffsetsForLeaderEpoch {
                partition: p,
                current_leader_epoch: f.leader_epoch,
                epoch,
            },
        );
        ctx.set_timer(
            Timer::FollowerRetry(p),
            self.s.cfg.replica_fetch_backoff.0 * 3,
        );
    }

    fn fetch(&mut self, ctx: &mut Ctx<'_, KNode>, p: u32) {
        let s = self.s.clone();
        let Some(r) = self.replicas.get_mut(&p) else {
            return;
        };
        let Role::Follower(f) = &mut r.role else {
            return;
        };
        f.phase = FollowPhase::Fetching { in_flight: true };
        ctx.send(
            s.broker_node(f.leader),
            Msg::Fetch {
                partition: p,
                leader_epoch: f.leader_epoch,
                fetch_offset: r.log.log_end_offset(),
                replica: Some(self.id),
                max_bytes: REPLICA_FETCH_MAX_BYTES,
            },
        );
        // A fetch lost on the network is retried.
        ctx.set_timer(
            Timer::FollowerRetry(p),
            s.cfg.replica_fetch_wait_max.0 + s.cfg.request_timeout.0.min(30_000_000_000) / 3,
        );
    }

    // --- messages ------------------------------------------------------------------------

    pub fn on_message(&mut self, ctx: &mut Ctx<'_, KNode>, from: NodeId, msg: Msg) {
        match msg {
            Msg::BrokerHeartbeatReply { registered } => {
                if registered && !self.registered {
                    self.registered = true;
                    let states = std::mem::take(&mut self.fenced_states);
                    self.on_partition_states(
                        ctx,
                        from,
                        self.controller_epoch,
                        states.into_iter().collect(),
                    );
                }
                self.active_controller = Some(from);
                self.last_heartbeat_reply_ns = ctx.now();
                if self.controller_node == Some(from) {
                    self.controller_contact_ns = ctx.now();
                }
            }
            Msg::LeaderAndIsr {
                controller_epoch,
                partitions,
            } => self.on_partition_states(ctx, from, controller_epoch, partitions),
            Msg::AlterPartitionReply { partition, result } => {
                self.on_alter_reply(ctx, partition, result)
            }
            Msg::OffsetsForLeaderEpoch {
                partition,
                current_leader_epoch,
                epoch,
            } => {
                let result = match self.check_leader(partition, current_leader_epoch) {
                    Err(e) => Err(e),
                    Ok(r) => Ok(r.epochs.end_offset_for(epoch, r.log.log_end_offset())),
                };
                ctx.send(
                    from,
                    Msg::OffsetsForLeaderEpochReply {
                        partition,
                        requested_epoch: epoch,
                        result,
                    },
                );
            }
            Msg::OffsetsForLeaderEpochReply {
                partition,
                requested_epoch,
                result,
            } => self.on_epoch_end(ctx, partition, requested_epoch, result),
            Msg::ListOffsets {
                partition,
                current_leader_epoch,
            } => {
                let result =
                    self.check_leader(partition, current_leader_epoch)
                        .map(|r| LogBounds {
                            log_start_offset: r.log.log_start_offset,
                            log_end_offset: r.log.log_end_offset(),
                        });
                ctx.send(
                    from,
                    Msg::ListOffsetsReply {
                        partition,
                        leader_epoch: current_leader_epoch,
                        result,
                    },
                );
            }
            Msg::ListOffsetsReply {
                partition,
                leader_epoch,
                result,
            } => self.on_log_bounds(ctx, partition, leader_epoch, result),
            Msg::Fetch {
                partition,
                leader_epoch,
                fetch_offset,
                replica,
                max_bytes,
            } => self.on_fetch(
                ctx,
                partition,
                HeldFetch {
                    from,
                    fetch_offset,
                    replica,
                    max_bytes,
                    leader_epoch,
                },
                true,
            ),
            Msg::FetchReply {
                partition,
                fetch_offset,
                leader_epoch,
                result,
            } => self.on_fetch_reply(ctx, partition, fetch_offset, leader_epoch, result),
            Msg::MetadataRequest => {
                ctx.send(
                    from,
                    Msg::MetadataReply {
                        partitions: self.leaders.clone(),
                    },
                );
            }
            Msg::InitProducerId => {
                self.next_producer_id += 1;
                ctx.send(
                    from,
                    Msg::InitProducerIdReply {
                        producer_id: self.next_producer_id,
                        producer_epoch: 0,
                    },
                );
            }
            Msg::Produce {
                request,
                partition,
                batch,
                acks,
            } => self.on_produce(ctx, from, request, partition, batch, acks),
            m @ (Msg::FindCoordinator
            | Msg::JoinGroup { .. }
            | Msg::SyncGroup { .. }
            | Msg::Heartbeat { .. }
            | Msg::LeaveGroup { .. }
            | Msg::OffsetCommit { .. }
            | Msg::OffsetFetch { .. }) => self.on_group_message(ctx, from, m),
            Msg::Zk(m) => {
                self.with_zk(|zk, b| zk.on_message(b, ctx, from, m));
            }
            _ => {}
        }
    }

    /// The replica of `p` if this broker leads it at `leader_epoch`.
    fn check_leader(&self, p: u32, leader_epoch: u32) -> Result<&Replica, KError> {
        let r = self.replicas.get(&p).ok_or(KError::NotLeaderOrFollower)?;
        let Role::Leader(l) = &r.role else {
            return Err(KError::NotLeaderOrFollower);
        };
        match leader_epoch.cmp(&l.st.leader_epoch) {
            std::cmp::Ordering::Less => Err(KError::FencedLeaderEpoch),
            std::cmp::Ordering::Greater => Err(KError::UnknownLeaderEpoch),
            std::cmp::Ordering::Equal => Ok(r),
        }
    }

    fn on_produce(
        &mut self,
        ctx: &mut Ctx<'_, KNode>,
        from: NodeId,
        request: u64,
        p: u32,
        mut batch: RecordBatch,
        acks: Acks,
    ) {
        let now_ms = Self::now_ms(ctx);
        let min_isr = self.s.cfg.min_insync_replicas as usize;
        let timeout_ns = self.s.cfg.request_timeout.0;
        let reply = |ctx: &mut Ctx<'_, KNode>, result: Result<u64, KError>| {
            if acks != Acks::None {
                ctx.send(
                    from,
                    Msg::ProduceReply {
                        request,
                        partition: p,
                        result,
                    },
                );
            }
        };
        let Some(r) = self.replicas.get_mut(&p) else {
            return reply(ctx, Err(KError::NotLeaderOrFollower));
        };
        let Role::Leader(lead) = &mut r.role else {
            return reply(ctx, Err(KError::NotLeaderOrFollower));
        };
        if acks == Acks::All && !lead.st.enough_replicas(min_isr) {
            return reply(ctx, Err(KError::NotEnoughReplicas));
        }
        let count = batch.records.len() as u32;
        let idempotent = batch.producer_id >= 0;
        // An idempotent producer's retry of a batch this leader already has is not
        // appended again, but is answered like the original: with acks=all only once the
        // high watermark passes it (Kafka's DelayedProduce waits for the duplicate too).
        let mut duplicate = None;
        if idempotent {
            match r.producers.check(
                batch.producer_id,
                batch.producer_epoch,
                batch.base_sequence,
                count,
            ) {
                SeqVerdict::Append => {}
                SeqVerdict::Duplicate(meta) => {
                    ctx.note(
                        "duplicate-batch",
                        format!(
                            "topic-{p}: producer {} sequence {} already at offset {}; not appended again",
                            batch.producer_id, batch.base_sequence, meta.first_offset
                        ),
                    );
                    duplicate = Some((meta.first_offset, meta.last_offset));
                }
                SeqVerdict::OutOfOrder { .. } => {
                    return reply(ctx, Err(KError::OutOfOrderSequence))
                }
                SeqVerdict::Fenced { .. } => return reply(ctx, Err(KError::ProducerFenced)),
            }
        }
        let appended = duplicate.is_none();
        let (base, last) = match duplicate {
            Some(offsets) => offsets,
            None => {
                let epoch = lead.st.leader_epoch;
                match r
                    .log
                    .append_as_leader(ctx.disk(), &mut batch, epoch, now_ms)
                {
                    Ok(o) => o,
                    Err(e) => {
                        ctx.note("append-failed", format!("topic-{p}: {e}"));
                        return reply(ctx, Err(KError::RequestTimedOut));
                    }
                }
            }
        };
        if appended {
            if idempotent {
                record_producer(&mut r.producers, &batch);
            }
            self.appended += u64::from(count);
            let leo = r.log.log_end_offset();
            if hw_may_advance(&self.s, &lead.st) && lead.st.update_high_watermark(leo) {
                r.high_watermark = lead.st.high_watermark;
            }
        }
        match acks {
            Acks::None | Acks::Leader => reply(ctx, Ok(base)),
            Acks::All => {
                // Kept in offset order: answered from the front as the HW passes them.
                let at = lead.held_produce.partition_point(|h| h.last_offset <= last);
                lead.held_produce.insert(
                    at,
                    HeldProduce {
                        from,
                        request,
                        base_offset: base,
                        last_offset: last,
                        deadline_ns: ctx.now() + timeout_ns,
                    },
                );
            }
        }
        self.after_leader_progress(ctx, p);
        if appended {
            self.count_flush(ctx, u64::from(count));
        }
    }

    /// Answers held produces the HW passed, and held fetches that now have data.
    pub(crate) fn after_leader_progress(&mut self, ctx: &mut Ctx<'_, KNode>, p: u32) {
        let min_isr = self.s.cfg.min_insync_replicas as usize;
        let Some(r) = self.replicas.get_mut(&p) else {
            return;
        };
        let Role::Leader(lead) = &mut r.role else {
            return;
        };
        let hw = lead.st.high_watermark;
        while lead
            .held_produce
            .front()
            .is_some_and(|h| h.last_offset < hw)
        {
            let h = lead.held_produce.pop_front().expect("front exists");
            // Kafka's DelayedProduce: committed, but is the ISR still big enough?
            let result = if lead.st.enough_replicas(min_isr) {
                Ok(h.base_offset)
            } else {
                Err(KError::NotEnoughReplicasAfterAppend)
            };
            ctx.send(
                h.from,
                Msg::ProduceReply {
                    request: h.request,
                    partition: p,
                    result,
                },
            );
        }
        let leo = r.log.log_end_offset();
        let held = std::mem::take(&mut lead.held_fetch);
        let mut keep = Vec::new();
        for h in held {
            let limit = if h.replica.is_some() { leo } else { hw };
            if h.fetch_offset < limit {
                self.answer_fetch(ctx, p, h);
            } else {
                keep.push(h);
            }
        }
        if let Some(Role::Leader(lead)) = self.replicas.get_mut(&p).map(|r| &mut r.role) {
            lead.held_fetch.extend(keep);
        }
        if self.s.offsets_partition() == Some(p) {
            self.coordinator_progress(ctx);
        }
    }

    fn on_fetch(&mut self, ctx: &mut Ctx<'_, KNode>, p: u32, h: HeldFetch, may_hold: bool) {
        let now_ms = Self::now_ms(ctx);
        let reply_err = |ctx: &mut Ctx<'_, KNode>, e: KError| {
            ctx.send(
                h.from,
                Msg::FetchReply {
                    partition: p,
                    fetch_offset: h.fetch_offset,
                    leader_epoch: h.leader_epoch,
                    result: Err(e),
                },
            );
        };
        if let Err(e) = self.check_leader(p, h.leader_epoch) {
            return reply_err(ctx, e);
        }
        let r = self.replicas.get_mut(&p).expect("checked");
        let leo = r.log.log_end_offset();
        if h.fetch_offset > leo || h.fetch_offset < r.log.log_start_offset {
            return reply_err(ctx, KError::OffsetOutOfRange);
        }
        let Role::Leader(lead) = &mut r.role else {
            unreachable!("checked")
        };
        if let Some(follower) = h.replica {
            let change = lead.st.on_fetch(
                follower,
                h.fetch_offset,
                leo,
                lead.epoch_start_offset,
                now_ms,
            );
            if hw_may_advance(&self.s, &lead.st) && lead.st.update_high_watermark(leo) {
                r.high_watermark = lead.st.high_watermark;
                ctx.metric("high_watermark", r.high_watermark as i64);
            }
            if let Some(IsrChange::Expand { added }) = change {
                ctx.note(
                    "isr-expand",
                    format!("topic-{p}: broker-{added} caught up and rejoins the ISR"),
                );
                self.propose_isr(ctx, p);
            }
            self.after_leader_progress(ctx, p);
        }
        let r = self.replicas.get_mut(&p).expect("checked");
        let limit = if h.replica.is_some() {
            r.log.log_end_offset()
        } else {
            r.high_watermark
        };
        if h.fetch_offset < limit || !may_hold {
            self.answer_fetch(ctx, p, h);
        } else if let Role::Leader(lead) = &mut r.role {
            let wait = if h.replica.is_some() {
                self.s.cfg.replica_fetch_wait_max.0
            } else {
                self.s.cfg.fetch_wait_max.0
            };
            ctx.set_timer(
                Timer::FetchWait {
                    partition: p,
                    from: h.from,
                },
                wait,
            );
            lead.held_fetch.retain(|x| x.from != h.from);
            lead.held_fetch.push(h);
        }
    }

    fn answer_fetch(&mut self, ctx: &mut Ctx<'_, KNode>, p: u32, h: HeldFetch) {
        ctx.cancel_timer(Timer::FetchWait {
            partition: p,
            from: h.from,
        });
        let Some(r) = self.replicas.get(&p) else {
            return;
        };
        let limit = if h.replica.is_some() {
            r.log.log_end_offset()
        } else {
            r.high_watermark
        };
        let mut batches = if h.fetch_offset < limit {
            r.log
                .read(ctx.disk(), h.fetch_offset, h.max_bytes as usize)
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        // Consumers see only committed records.
        batches.retain(|b| b.base_offset < limit);
        ctx.send(
            h.from,
            Msg::FetchReply {
                partition: p,
                fetch_offset: h.fetch_offset,
                leader_epoch: h.leader_epoch,
                result: Ok(FetchData {
                    batches,
                    high_watermark: r.high_watermark,
                    log_start_offset: r.log.log_start_offset,
                }),
            },
        );
    }

    fn on_fetch_reply(
        &mut self,
        ctx: &mut Ctx<'_, KNode>,
        p: u32,
        fetch_offset: u64,
        leader_epoch: u32,
        result: Result<FetchData, KError>,
    ) {
        let now_ms = Self::now_ms(ctx);
        let backoff = self.s.cfg.replica_fetch_backoff.0;
        let message_level = self.s.cfg.truncate_to_high_watermark;
        let Some(r) = self.replicas.get_mut(&p) else {
            return;
        };
        let Role::Follower(f) = &mut r.role else {
            return;
        };
        if f.leader_epoch != leader_epoch
            || f.phase != (FollowPhase::Fetching { in_flight: true })
            || fetch_offset != r.log.log_end_offset()
        {
            return; // an answer to an older fetch
        }
        match result {
            Ok(data) => {
                let mut appended = 0u64;
                for b in &data.batches {
                    let leo = r.log.log_end_offset();
                    if b.last_offset() < leo {
                        continue;
                    }
                    // A batch that starts below this log's end means the two logs cut
                    // their batches at different offsets: they diverged. Kafka 0.10 fetched
                    // single messages, so before KIP-101 the follower simply took the
                    // messages from its log end on; since v2 batches Kafka refuses the
                    // append (UnexpectedAppendOffsetException) and the fetch backs off.
                    let trimmed = (b.base_offset < leo && message_level)
                        .then(|| b.from_offset(leo))
                        .flatten();
                    let b = trimmed.as_ref().unwrap_or(b);
                    if let Err(e) = r.log.append_as_follower(ctx.disk(), b, now_ms) {
                        ctx.note("append-refused", format!("topic-{p}: {e}"));
                        f.phase = FollowPhase::Backoff;
                        ctx.set_timer(Timer::FollowerRetry(p), backoff);
                        return;
                    }
                    r.epochs.assign(b.leader_epoch, b.base_offset);
                    record_producer(&mut r.producers, b);
                    appended += u64::from(b.last_offset_delta) + 1;
                }
                let hw = data.high_watermark.min(r.log.log_end_offset());
                if hw > r.high_watermark || r.high_watermark > r.log.log_end_offset() {
                    r.high_watermark = hw;
                }
                f.phase = FollowPhase::Fetching { in_flight: false };
                if self.count_flush(ctx, appended) {
                    self.fetch_after_flush.push(p);
                } else {
                    self.fetch(ctx, p);
                }
            }
            Err(KError::OffsetOutOfRange) if self.s.cfg.truncate_to_high_watermark => {
                // Before KIP-101 the follower asked the leader for its log end (ListOffsets).
                f.phase = FollowPhase::ListingOffsets;
                self.list_offsets(ctx, p);
            }
            Err(KError::OffsetOutOfRange) => {
                // The leader's log is shorter: find the divergence again.
                f.phase = FollowPhase::Backoff;
                self.start_following(ctx, p);
            }
            Err(_) => {
                f.phase = FollowPhase::Backoff;
                ctx.set_timer(Timer::FollowerRetry(p), backoff);
            }
        }
    }

    /// Cuts a follower's log at `to` (whole batches, as Kafka does), counts and notes it:
    /// "topic-P: to {what} END{after} (dropped N record(s))".
    fn truncate_follower(
        &mut self,
        ctx: &mut Ctx<'_, KNode>,
        p: u32,
        to: u64,
        what: &str,
        after: &str,
    ) {
        let Some(r) = self.replicas.get_mut(&p) else {
            return;
        };
        let (end, dropped) = r.truncate(ctx.disk(), to);
        self.truncated_records += dropped;
        ctx.note(
            "truncate",
            format!("topic-{p}: to {what} {end}{after} (dropped {dropped} record(s))"),
        );
    }

    /// Asks the leader for its log bounds (before KIP-101, after OFFSET_OUT_OF_RANGE); a
    /// lost answer is asked again.
    fn list_offsets(&mut self, ctx: &mut Ctx<'_, KNode>, p: u32) {
        let Some(Role::Follower(f)) = self.replicas.get(&p).map(|r| &r.role) else {
            return;
        };
        ctx.send(
            self.s.broker_node(f.leader),
            Msg::ListOffsets {
                partition: p,
                current_leader_epoch: f.leader_epoch,
            },
        );
        ctx.set_timer(
            Timer::FollowerRetry(p),
            self.s.cfg.replica_fetch_backoff.0 * 3,
        );
    }

    /// Kafka 0.10's `ReplicaFetcherThread.handleOffsetOutOfRange`: a leader whose log ends
    /// below the follower's means an unclean election happened, so the follower truncates
    /// to the leader's log end — or, when it is outside the ISR and unclean election is
    /// off, refuses to truncate and stops (0.10 halted the whole broker; here the broker
    /// stops replicating this partition). A follower below the leader's log start backs
    /// off and fetches again (0.10 would have emptied its log; not modelled).
    fn on_log_bounds(
        &mut self,
        ctx: &mut Ctx<'_, KNode>,
        p: u32,
        leader_epoch: u32,
        result: Result<LogBounds, KError>,
    ) {
        let me = self.id;
        let unclean = self.s.cfg.unclean_leader_election;
        let backoff = self.s.cfg.replica_fetch_backoff.0;
        let Some(r) = self.replicas.get_mut(&p) else {
            return;
        };
        let Role::Follower(f) = &mut r.role else {
            return;
        };
        if f.leader_epoch != leader_epoch || f.phase != FollowPhase::ListingOffsets {
            return;
        }
        let leo = r.log.log_end_offset();
        match result {
            Ok(b) if b.log_end_offset < leo => {
                if !unclean && !r.state.isr.contains(&me) {
                    ctx.note(
                        "truncation-refused",
                        format!(
                            "topic-{p}: the leader's log ends at {} below this log's end {leo}, and truncating is not allowed outside the ISR without unclean election: this replica stops (Kafka 0.10 halted the broker)",
                            b.log_end_offset
                        ),
                    );
                    r.role = Role::Idle;
                    return;
                }
                self.truncate_follower(
                    ctx,
                    p,
                    b.log_end_offset,
                    "the leader's log end",
                    " after OFFSET_OUT_OF_RANGE",
                );
                self.fetch(ctx, p);
            }
            _ => {
                f.phase = FollowPhase::Backoff;
                ctx.set_timer(Timer::FollowerRetry(p), backoff);
            }
        }
    }

    fn on_epoch_end(
        &mut self,
        ctx: &mut Ctx<'_, KNode>,
        p: u32,
        requested_epoch: u32,
        result: Result<Option<crate::epoch_cache::EpochEnd>, KError>,
    ) {
        let kip279 = self.s.cfg.kip279;
        let backoff = self.s.cfg.replica_fetch_backoff.0;
        let Some(r) = self.replicas.get_mut(&p) else {
            return;
        };
        let Role::Follower(f) = &mut r.role else {
            return;
        };
        if f.phase
            != (FollowPhase::Truncating {
                asked_epoch: requested_epoch,
            })
        {
            return;
        }
        let answer = match result {
            Ok(a) => a,
            Err(_) => {
                f.phase = FollowPhase::Backoff;
                ctx.set_timer(Timer::FollowerRetry(p), backoff);
                return;
            }
        };
        let leo = r.log.log_end_offset();
        let point = if kip279 {
            truncation_point(&r.epochs, leo, r.high_watermark, answer)
        } else {
            // KIP-101 as first shipped (0.11): one question, and the leader's answer is
            // taken as it is, even when this follower never had the epoch answered.
            match answer {
                None => Truncation::To(r.high_watermark.min(leo)),
                Some(a) => Truncation::To(a.end_offset.min(leo)),
            }
        };
        let (to, ask_again) = match point {
            Truncation::To(o) => (o, None),
            Truncation::ToThenAsk { offset, epoch } => (offset, Some(epoch)),
        };
        if to < leo {
            let after = format!(" after asking where epoch {requested_epoch} ends");
            self.truncate_follower(ctx, p, to, "offset", &after);
        }
        match ask_again {
            Some(epoch) => self.ask_epoch_end(ctx, p, epoch),
            None => self.fetch(ctx, p),
        }
    }

    // --- the ISR -------------------------------------------------------------------------

    /// Sends the leader's current ISR to the controller if it differs from the committed
    /// one and nothing is in flight.
    fn propose_isr(&mut self, ctx: &mut Ctx<'_, KNode>, p: u32) {
        let me = self.id;
        let Some(r) = self.replicas.get_mut(&p) else {
            return;
        };
        let Role::Leader(lead) = &mut r.role else {
            return;
        };
        if lead.alter_in_flight || lead.st.isr == lead.committed_isr {
            return;
        }
        let isr = lead.st.isr.clone();
        lead.alter_in_flight = true;
        let (leader_epoch, partition_epoch) = (lead.st.leader_epoch, lead.partition_epoch);
        if self.s.cfg.controller == crate::ControllerMode::ZooKeeper {
            match self.zk.take() {
                Some(mut zk) => {
                    zk.alter_isr(self, ctx, p, leader_epoch, partition_epoch, isr);
                    self.zk = Some(zk);
                }
                // Called back from inside the ZooKeeper session (an answer to the last
                // write): write again right after it.
                None => ctx.set_timer(Timer::AlterRetry(p), 1_000_000),
            }
            return;
        }
        let msg = Msg::AlterPartition {
            partition: p,
            leader: me,
            leader_epoch,
            partition_epoch,
            isr,
        };
        match self.active_controller {
            Some(c) => ctx.send(c, msg),
            None => {
                for &c in &self.s.quorum {
                    ctx.send(c, msg.clone());
                }
            }
        }
        ctx.set_timer(Timer::AlterRetry(p), self.s.cfg.broker_heartbeat_interval.0);
    }

    pub fn on_alter_reply(
        &mut self,
        ctx: &mut Ctx<'_, KNode>,
        p: u32,
        result: Result<PartitionState, crate::metadata::AlterError>,
    ) {
        let Some(r) = self.replicas.get_mut(&p) else {
            return;
        };
        let Role::Leader(lead) = &mut r.role else {
            return;
        };
        ctx.cancel_timer(Timer::AlterRetry(p));
        match result {
            Ok(state) if state.leader_epoch == lead.st.leader_epoch => {
                lead.alter_in_flight = false;
                lead.committed_isr = state.isr.clone();
                lead.partition_epoch = state.partition_epoch;
                lead.st.isr = state.isr.clone();
                r.state = state;
                ctx.metric("isr_size", lead.st.isr.len() as i64);
                self.after_leader_progress(ctx, p);
                self.propose_isr(ctx, p);
            }
            Ok(_) => {}
            Err(e) => {
                // Stale: wait for the controller's LeaderAndIsr to bring us up to date.
                lead.alter_in_flight = false;
                ctx.note("alter-partition-refused", format!("topic-{p}: {e:?}"));
            }
        }
    }

    // --- timers --------------------------------------------------------------------------

    pub fn on_timer(&mut self, ctx: &mut Ctx<'_, KNode>, timer: Timer) {
        let s = self.s.clone();
        let c = &s.cfg;
        match timer {
            Timer::Heartbeat => self.heartbeat(ctx),
            Timer::Writeback => {
                ctx.fsync(TOKEN_WRITEBACK);
                ctx.set_timer(Timer::Writeback, c.page_cache_writeback.0);
            }
            Timer::Flush => {
                ctx.fsync(TOKEN_FLUSH);
                ctx.set_timer(Timer::Flush, c.flush_interval.0);
            }
            Timer::HwCheckpoint => {
                let hws: Vec<(u32, u64)> = self
                    .replicas
                    .iter()
                    .map(|(p, r)| (*p, r.high_watermark))
                    .collect();
                if ctx
                    .disk()
                    .put_atomic(HW_FILE, &write_hw_checkpoint(&hws))
                    .is_ok()
                {
                    ctx.fsync(TOKEN_CHECKPOINT);
                }
                ctx.set_timer(Timer::HwCheckpoint, HW_CHECKPOINT_NS);
            }
            Timer::IsrExpiration => {
                self.isr_expiration(ctx);
                ctx.set_timer(Timer::IsrExpiration, c.replica_lag_time_max.0 / 2);
            }
            Timer::Purgatory => {
                self.expire_held(ctx);
                self.coordinator_tick(ctx);
                ctx.set_timer(Timer::Purgatory, PURGATORY_TICK_NS);
            }
            Timer::Retention => {
                self.retention(ctx);
                ctx.set_timer(Timer::Retention, c.retention_check_interval.0);
            }
            Timer::FetchWait { partition, from } => {
                let held = match self.replicas.get_mut(&partition).map(|r| &mut r.role) {
                    Some(Role::Leader(lead)) => lead
                        .held_fetch
                        .iter()
                        .position(|h| h.from == from)
                        .map(|i| lead.held_fetch.remove(i)),
                    _ => None,
                };
                if let Some(h) = held {
                    self.answer_fetch(ctx, partition, h);
                }
            }
            Timer::FollowerRetry(p) => {
                let phase = match self.replicas.get(&p).map(|r| &r.role) {
                    Some(Role::Follower(f)) => f.phase,
                    _ => return,
                };
                match phase {
                    FollowPhase::Truncating { .. } => self.start_following(ctx, p),
                    FollowPhase::ListingOffsets => self.list_offsets(ctx, p),
                    FollowPhase::Fetching { .. } | FollowPhase::Backoff => self.fetch(ctx, p),
                }
            }
            Timer::AlterRetry(p) => {
                if let Some(Role::Leader(lead)) = self.replicas.get_mut(&p).map(|r| &mut r.role) {
                    lead.alter_in_flight = false;
                }
                self.propose_isr(ctx, p);
            }
            Timer::Zk(t) => {
                self.with_zk(|zk, b| zk.on_timer(b, ctx, t));
            }
            Timer::ZkController(t) => {
                self.with_zk(|zk, b| zk.on_controller_timer(b, ctx, t));
            }
            _ => {}
        }
    }

    pub fn on_io(&mut self, ctx: &mut Ctx<'_, KNode>, done: IoDone) {
        if done.token == TOKEN_FLUSH {
            for p in std::mem::take(&mut self.fetch_after_flush) {
                self.fetch(ctx, p);
            }
            return;
        }
        if dsim_zookeeper::is_zk_token(done.token) {
            self.with_zk(|zk, b| zk.on_io(b, ctx, done));
        }
    }

    /// `flush.messages`: fsync after this many records. Returns whether it did.
    pub(crate) fn count_flush(&mut self, ctx: &mut Ctx<'_, KNode>, records: u64) -> bool {
        let every = self.s.cfg.flush_messages;
        if every == 0 || records == 0 {
            return false;
        }
        self.unflushed_messages += records;
        if self.unflushed_messages < every {
            return false;
        }
        self.unflushed_messages = 0;
        ctx.fsync(TOKEN_FLUSH);
        true
    }

    fn isr_expiration(&mut self, ctx: &mut Ctx<'_, KNode>) {
        let now_ms = Self::now_ms(ctx);
        let lag_ms = (self.s.cfg.replica_lag_time_max.0 / 1_000_000) as i64;
        let mut shrunk = Vec::new();
        for (p, r) in self.replicas.iter_mut() {
            let Role::Leader(lead) = &mut r.role else {
                continue;
            };
            if lead.alter_in_flight {
                continue;
            }
            // Decide on a copy: the HW keeps using the old (maximal) ISR until the
            // controller confirms the shrink (KIP-497).
            let mut trial = lead.st.clone();
            if let Some(IsrChange::Shrink { removed }) = trial.maybe_shrink(now_ms, lag_ms) {
                ctx.note(
                    "isr-shrink",
                    format!(
                        "topic-{p}: {} not caught up for {} ms; ISR {:?} -> {:?}",
                        removed
                            .iter()
                            .map(|b| format!("broker-{b}"))
                            .collect::<Vec<_>>()
                            .join(", "),
                        lag_ms,
                        lead.st.isr,
                        trial.isr
                    ),
                );
                shrunk.push((*p, trial.isr));
            }
        }
        for (p, isr) in shrunk {
            let Some(Role::Leader(lead)) = self.replicas.get_mut(&p).map(|r| &mut r.role) else {
                continue;
            };
            // Propose the smaller set; keep the old one for the HW meanwhile.
            let old = std::mem::replace(&mut lead.st.isr, isr);
            self.propose_isr(ctx, p);
            if let Some(Role::Leader(lead)) = self.replicas.get_mut(&p).map(|r| &mut r.role) {
                if lead.alter_in_flight {
                    lead.st.isr = old;
                }
            }
        }
    }

    fn expire_held(&mut self, ctx: &mut Ctx<'_, KNode>) {
        let now = ctx.now();
        for (p, r) in self.replicas.iter_mut() {
            let Role::Leader(lead) = &mut r.role else {
                continue;
            };
            let (expired, waiting): (VecDeque<HeldProduce>, VecDeque<HeldProduce>) = lead
                .held_produce
                .drain(..)
                .partition(|h| h.deadline_ns <= now);
            lead.held_produce = waiting;
            for h in expired {
                ctx.send(
                    h.from,
                    Msg::ProduceReply {
                        request: h.request,
                        partition: *p,
                        result: Err(KError::RequestTimedOut),
                    },
                );
            }
        }
    }

    fn retention(&mut self, ctx: &mut Ctx<'_, KNode>) {
        let now_ms = Self::now_ms(ctx);
        let compact = self.s.cfg.cleanup_policy == crate::Cleanup::Compact;
        for (p, r) in self.replicas.iter_mut() {
            if compact {
                let n = r.log.compact(ctx.disk(), r.high_watermark);
                if n > 0 {
                    ctx.note("compacted", format!("topic-{p}: {n} record(s) cleaned"));
                }
                continue;
            }
            let deleted = r
                .log
                .delete_old_segments(ctx.disk(), now_ms, r.high_watermark);
            for d in deleted {
                ctx.reached(match d.reason {
                    crate::log::cleanup::DeleteReason::Time => "segment-deleted-by-time",
                    _ => "segment-deleted-by-size",
                });
                ctx.note(
                    "segment-deleted",
                    format!(
                        "topic-{p}: segment {}..{} ({} bytes) by {:?}; log start now {}",
                        d.base_offset,
                        d.next_offset,
                        d.size_bytes,
                        d.reason,
                        r.log.log_start_offset
                    ),
                );
            }
            r.epochs.truncate_from_start(r.log.log_start_offset);
        }
    }

    pub fn observe(&self) -> Observation {
        let leaders = self.replicas.values().filter(|r| r.is_leader()).count();
        let under = self
            .replicas
            .values()
            .filter(|r| match &r.role {
                Role::Leader(l) => l.st.under_replicated(),
                _ => false,
            })
            .count();
        let leo: u64 = self.replicas.values().map(|r| r.log.log_end_offset()).sum();
        let hw: u64 = self.replicas.values().map(|r| r.high_watermark).sum();
        // ReplicaManager's MaxLag, seen from the leaders here: the most records any
        // follower of theirs is behind.
        let lag_max = self
            .replicas
            .values()
            .filter_map(|r| match &r.role {
                Role::Leader(l) => {
                    let leo = r.log.log_end_offset();
                    l.st.followers
                        .values()
                        .map(|f| leo.saturating_sub(f.log_end_offset))
                        .max()
                }
                _ => None,
            })
            .max()
            .unwrap_or(0);
        Observation {
            state: if leaders > 0 { "leader" } else { "follower" },
            fields: vec![
                ("leaders", leaders as i64),
                ("under_replicated", under as i64),
                ("log_end_offset", leo as i64),
                ("high_watermark", hw as i64),
                ("truncated", self.truncated_records as i64),
                ("replica_lag_max", lag_max as i64),
            ],
        }
    }
}

/// KIP-966: with eligible leader replicas the high watermark advances only while the ISR
/// is at least `min.insync.replicas`, so every ELR member holds everything below it.
fn hw_may_advance(s: &Settings, st: &LeaderState) -> bool {
    !s.cfg.eligible_leader_replicas || st.isr.len() >= s.cfg.min_insync_replicas as usize
}

/// Fails every held produce and fetch of a leadership that ends.
fn fail_held(ctx: &mut Ctx<'_, KNode>, p: u32, role: &mut Role, e: KError) {
    if let Role::Leader(lead) = role {
        for h in lead.held_produce.drain(..) {
            ctx.send(
                h.from,
                Msg::ProduceReply {
                    request: h.request,
                    partition: p,
                    result: Err(e),
                },
            );
        }
        lead.held_fetch.clear();
    }
}

/// A follower (or a restarted broker) learns the idempotent producers' sequences from
/// the batches it holds, so it can take over as leader (Kafka's ProducerStateManager).
fn record_producer(state: &mut ProducerState, b: &RecordBatch) {
    if b.producer_id < 0 {
        return;
    }
    state.record(
        b.producer_id,
        b.producer_epoch,
        BatchMeta {
            first_sequence: b.base_sequence,
            last_sequence: crate::producer_state::increment_sequence(
                b.base_sequence,
                b.last_offset_delta,
            ),
            first_offset: b.base_offset,
            last_offset: b.last_offset(),
        },
    );
}

fn write_hw_checkpoint(hws: &[(u32, u64)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hws.len() * 12);
    for (p, hw) in hws {
        out.extend_from_slice(&p.to_le_bytes());
        out.extend_from_slice(&hw.to_le_bytes());
    }
    out
}

fn read_hw_checkpoint(bytes: &[u8]) -> BTreeMap<u32, u64> {
    bytes
        .chunks_exact(12)
        .map(|c| {
            (
                u32::from_le_bytes(c[0..4].try_into().expect("4 bytes")),
                u64::from_le_bytes(c[4..12].try_into().expect("8 bytes")),
            )
        })
        .collect()
}
