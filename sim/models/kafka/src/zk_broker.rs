//! ZooKeeper mode: a broker's ZooKeeper session and registration, and the controller on
//! the broker that wins `/controller` — Kafka as it ran before KRaft.
//!
//! Sources: Kafka's `KafkaController`, `KafkaZkClient` and `ControllerContext`
//! (kafka 2.x, `core/src/main/scala/kafka/controller/`); the "Kafka Controller Internals"
//! wiki page; KIP-500's motivation (controller failover must reload every partition's
//! state from ZooKeeper, so it grows with the partition count); KIP-380 (the czxid of a
//! broker's registration znode is its "broker epoch"); the `zookeeper.session.timeout.ms`
//! documentation (a dead broker, or a dead controller, is noticed only when its session
//! expires, 18 s by default).
//!
//! What it does:
//! * Every broker holds a [`ZkSession`] and registers the ephemeral `/brokers/ids/<id>`
//!   (creating the persistent parents first; "node exists" is fine). A restarted broker
//!   whose previous session still holds the znode waits, with an `Exists` watch, for it to
//!   go.
//! * Every broker tries to create the ephemeral `/controller` (data: its id). The winner is
//!   the controller; the others watch `/controller` and try again when it is deleted —
//!   which happens when the old controller's session expires.
//! * The winner bumps the persistent `/controller_epoch` with a compare-and-set on its
//!   version and uses it as `controller_epoch` in LeaderAndIsr: brokers ignore older
//!   epochs, which fences a zombie controller.
//! * It watches the children of `/brokers/ids` and reads every partition's state znode
//!   `/brokers/topics/topic/partitions/<p>/state` ([`pack`] documents the encoding; the
//!   znode version is the partition epoch). Loading every partition on failover is what
//!   makes ZooKeeper-mode failover grow with the partition count.
//! * When no state exists and every broker is registered it creates the topic with the
//!   configured assignment (the preferred replica leads). When brokers die or appear (or
//!   re-register with a new czxid, KIP-380) it re-reads the states, applies the same rules
//!   as KRaft by feeding `FenceBroker`/`RegisterBroker` to a [`Metadata`] image built from
//!   what it read, writes the changed states with a version check and sends LeaderAndIsr
//!   to every broker.
//! * ISR changes: the leader writes its partition's state znode itself with a version
//!   check (Kafka before 2.7, KIP-497 moved this to AlterPartition). On a version
//!   mismatch it reads the znode and counts the write as done if the data is what it
//!   wanted (Kafka's `checkLeaderAndIsrZkData`, for a write whose answer was lost).
//! * Session expiry: the broker opens a new session and registers again; a controller
//!   that lost its session stops acting as controller.
//!
//! Dsim simplifications: ZkOp has no `multi`, so the controller's state writes are guarded
//! by the partition's znode version only (Kafka ≥ 2.2 also checks `/controller_epoch`'s
//! version in the same multi-op, KAFKA-6082); a zombie's writes are still refused by any
//! version change, and its LeaderAndIsr by the epoch.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use dsim_core::{Ctx, IoDone, NodeId};
use dsim_zookeeper::msg::WatchKind;
use dsim_zookeeper::txn::{ErrCode, ZkOp, ZkResult};
use dsim_zookeeper::{HostEnv, ZkEvent, ZkMsg, ZkSession, ZkTimer};

use crate::broker::Broker;
use crate::isr::BrokerId;
use crate::metadata::{AlterError, Metadata, MetadataRecord, PartitionState};
use crate::msg::Msg;
use crate::{KNode, Settings, Timer};

const CONTROLLER: &str = "/controller";
const CONTROLLER_EPOCH: &str = "/controller_epoch";
const IDS: &str = "/brokers/ids";
const REG_PARENTS: [&str; 2] = ["/brokers", IDS];
/// The persistent parents of a partition's state znode, outermost first.
const TOPIC_PARENTS: [&str; 3] = [
    "/brokers/topics",
    "/brokers/topics/topic",
    "/brokers/topics/topic/partitions",
];
/// Retry delay after a failed controller read.
const RETRY_NS: u64 = 500_000_000;

fn state_path(p: u32) -> String {
    format!("/brokers/topics/topic/partitions/{p}/state")
}

fn broker_path(b: BrokerId) -> String {
    format!("{IDS}/{b}")
}

const LEADER_SHIFT: u32 = 32;
const EPOCH_SHIFT: u32 = 38;
const EPOCH_MASK: i64 = (1 << 24) - 1;

/// A partition's leader, leader epoch and ISR packed into a znode's `i64` data (Kafka
/// stores JSON `{"leader":..,"leader_epoch":..,"isr":[..]}`):
/// * bits 0..32: the ISR as a bitmask, bit `b - 1` for broker `b` (broker ids are at most
///   32, `config::MAX_BROKERS`);
/// * bits 32..38: the leader's id, 0 for none;
/// * bits 38..62: the leader epoch (24 bits; larger epochs wrap — no run gets near).
///
/// The replicas are the configured assignment; the partition epoch is the znode version.
pub fn pack(st: &PartitionState) -> i64 {
    let mut isr: i64 = 0;
    for b in &st.isr {
        if (1..=32).contains(b) {
            isr |= 1 << (b - 1);
        }
    }
    let leader = st.leader.filter(|l| (1..=32).contains(l)).unwrap_or(0) as i64;
    ((i64::from(st.leader_epoch) & EPOCH_MASK) << EPOCH_SHIFT) | (leader << LEADER_SHIFT) | isr
}

/// The inverse of [`pack`]; the ISR comes out sorted.
pub fn unpack(data: i64, replicas: &[BrokerId], version: i32) -> PartitionState {
    let leader = ((data >> LEADER_SHIFT) & 0x3f) as u32;
    PartitionState {
        replicas: replicas.to_vec(),
        leader: (leader != 0).then_some(leader),
        leader_epoch: ((data >> EPOCH_SHIFT) & EPOCH_MASK) as u32,
        partition_epoch: version.max(0) as u32,
        isr: (1..=32u32).filter(|b| data & (1 << (b - 1)) != 0).collect(),
        elr: Vec::new(),
        last_known_leader: None,
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ZkControllerTimer {
    /// Retry a controller read that failed.
    Tick,
}

/// What an outstanding ZooKeeper request was for.
#[derive(Clone, Debug)]
enum Op {
    /// Creating the persistent parent `REG_PARENTS[i]` before registering. Requests are
    /// not answered in the order they were sent (the network reorders them), so each
    /// create waits for its parent's.
    RegParent(usize),
    /// Creating the topic's persistent parent `TOPIC_PARENTS[i]`.
    TopicParent(usize),
    /// Creating `/brokers/topics/topic/partitions/<p>`, then its state.
    PartitionDir(u32, PartitionState),
    Register,
    RegisterCheck,
    ControllerCreate,
    ControllerRead,
    EpochRead,
    EpochWrite(u64),
    Children(u64),
    BrokerRead(u64, BrokerId),
    StateRead(u64, u32),
    StateWrite(u32, PartitionState),
    AlterIsr(u32, PartitionState),
    AlterCheck(u32, PartitionState),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Not the controller (watching `/controller`).
    Follower,
    /// Creating `/controller`.
    Claiming,
    /// Holds `/controller`; bumping `/controller_epoch`.
    Epoch,
    /// Holds `/controller` and its epoch; loading every partition's state.
    Loading,
    Active,
}

/// One round of controller reads: live brokers and every partition's state.
#[derive(Debug)]
struct Sync {
    gen: u64,
    outstanding: usize,
    /// Live brokers and the czxid of their registration (KIP-380's broker epoch).
    live: BTreeMap<BrokerId, u64>,
    /// Partition states read, with their znode versions; absent: no znode.
    states: BTreeMap<u32, PartitionState>,
}

#[derive(Debug)]
pub struct ZkBroker {
    s: Arc<Settings>,
    id: BrokerId,
    pub session: ZkSession,
    ops: BTreeMap<u64, Op>,
    phase: Phase,
    /// The controller epoch this broker holds while it is the controller.
    pub epoch: u64,
    gen: u64,
    sync: Option<Sync>,
    /// The brokers the controller's last complete decision saw; `None` until its first.
    known: Option<BTreeMap<BrokerId, u64>>,
    /// The state of every partition as the controller last wrote or read it.
    image: BTreeMap<u32, PartitionState>,
    writes_outstanding: usize,
    write_failed: bool,
    written: Vec<(u32, PartitionState)>,
    /// State znodes to create once the topic's parents exist.
    pending_creates: Vec<(u32, PartitionState)>,
    decided_live: BTreeMap<BrokerId, u64>,
    newly_registered: BTreeSet<BrokerId>,
    resync_wanted: bool,
    /// The first decision after winning `/controller` sends every state.
    failover_pending: bool,
    claimed_at_ns: u64,
}

impl ZkBroker {
    pub fn new(s: &Arc<Settings>, id: BrokerId) -> ZkBroker {
        let timeout_ms = (s.cfg.zookeeper_session_timeout.0 / 1_000_000).min(u32::MAX as u64);
        ZkBroker {
            s: s.clone(),
            id,
            session: ZkSession::new(s.quorum.clone(), timeout_ms as u32),
            ops: BTreeMap::new(),
            phase: Phase::Follower,
            epoch: 0,
            gen: 0,
            sync: None,
            known: None,
            image: BTreeMap::new(),
            writes_outstanding: 0,
            write_failed: false,
            written: Vec::new(),
            pending_creates: Vec::new(),
            decided_live: BTreeMap::new(),
            newly_registered: BTreeSet::new(),
            resync_wanted: false,
            failover_pending: false,
            claimed_at_ns: 0,
        }
    }

    /// Holds `/controller` (and so acts as the controller).
    pub fn is_controller(&self) -> bool {
        matches!(self.phase, Phase::Epoch | Phase::Loading | Phase::Active)
    }

    /// Holds `/controller` and has loaded every partition's state.
    pub fn is_active_controller(&self) -> bool {
        self.phase == Phase::Active
    }

    pub fn start(
        &mut self,
        ctx: &mut Ctx<'_, KNode>,
        _id: BrokerId,
        _incarnation: u64,
        _clean: bool,
    ) {
        self.session.start(&mut HostEnv::new(ctx));
    }

    pub fn on_message(&mut self, b: &mut Broker, ctx: &mut Ctx<'_, KNode>, from: NodeId, m: ZkMsg) {
        let events = self.session.on_message(&mut HostEnv::new(ctx), from, m);
        self.handle(b, ctx, events);
    }

    pub fn on_timer(&mut self, b: &mut Broker, ctx: &mut Ctx<'_, KNode>, t: ZkTimer) {
        let events = self.session.on_timer(&mut HostEnv::new(ctx), t);
        self.handle(b, ctx, events);
    }

    pub fn on_controller_timer(
        &mut self,
        _b: &mut Broker,
        ctx: &mut Ctx<'_, KNode>,
        t: ZkControllerTimer,
    ) {
        match t {
            ZkControllerTimer::Tick => {
                if matches!(self.phase, Phase::Loading | Phase::Active) && self.sync.is_none() {
                    self.resync(ctx);
                }
            }
        }
    }

    /// ZooKeeper sessions do no disk I/O on the client side.
    pub fn on_io(&mut self, _b: &mut Broker, _ctx: &mut Ctx<'_, KNode>, _done: IoDone) {}

    fn request(&mut self, ctx: &mut Ctx<'_, KNode>, op: ZkOp, what: Op) -> bool {
        match self.session.request(&mut HostEnv::new(ctx), op, 0) {
            Some(xid) => {
                self.ops.insert(xid, what);
                true
            }
            None => false,
        }
    }

    fn create(&mut self, ctx: &mut Ctx<'_, KNode>, path: String, data: i64, eph: bool, what: Op) {
        let op = ZkOp::Create {
            path,
            data,
            ephemeral: eph,
            sequential: false,
        };
        self.request(ctx, op, what);
    }

    fn get_data(&mut self, ctx: &mut Ctx<'_, KNode>, path: String, watch: bool, what: Op) -> bool {
        self.request(ctx, ZkOp::GetData { path, watch }, what)
    }

    fn handle(&mut self, b: &mut Broker, ctx: &mut Ctx<'_, KNode>, events: Vec<ZkEvent>) {
        for e in events {
            match e {
                ZkEvent::Connected { .. } => self.on_connected(ctx),
                ZkEvent::Disconnected => {}
                ZkEvent::Expired { session } => {
                    ctx.note(
                        "zk-session-expired",
                        format!("session {session:#x} expired; opening a new one"),
                    );
                    if self.is_controller() {
                        ctx.note(
                            "controller-resigned",
                            format!(
                                "lost its ZooKeeper session in controller epoch {}",
                                self.epoch
                            ),
                        );
                    }
                    self.resign();
                    self.ops.clear();
                    self.session.new_session(&mut HostEnv::new(ctx));
                }
                ZkEvent::Reply { xid, result } => {
                    if let Some(op) = self.ops.remove(&xid) {
                        self.on_reply(b, ctx, op, result);
                    }
                }
                ZkEvent::Watch { path, kind } => self.on_watch(ctx, &path, kind),
            }
        }
    }

    fn resign(&mut self) {
        self.phase = Phase::Follower;
        self.sync = None;
        self.known = None;
        self.image.clear();
        self.writes_outstanding = 0;
        self.written.clear();
        self.pending_creates.clear();
        self.resync_wanted = false;
        self.failover_pending = false;
    }

    /// (Re)connected: register, and claim `/controller` or carry on as its holder.
    fn on_connected(&mut self, ctx: &mut Ctx<'_, KNode>) {
        self.create(ctx, REG_PARENTS[0].into(), 0, false, Op::RegParent(0));
    }

    /// The parents exist: register, and claim `/controller` or carry on as its holder.
    fn after_parents(&mut self, ctx: &mut Ctx<'_, KNode>) {
        self.register(ctx);
        match self.phase {
            Phase::Follower | Phase::Claiming => self.claim(ctx),
            Phase::Epoch => {
                self.get_data(ctx, CONTROLLER_EPOCH.into(), false, Op::EpochRead);
            }
            Phase::Loading | Phase::Active => {
                // Requests in flight were lost with the connection.
                self.writes_outstanding = 0;
                self.written.clear();
                self.pending_creates.clear();
                self.resync(ctx);
            }
        }
    }

    fn register(&mut self, ctx: &mut Ctx<'_, KNode>) {
        let path = broker_path(self.id);
        self.create(ctx, path, i64::from(self.id), true, Op::Register);
    }

    fn claim(&mut self, ctx: &mut Ctx<'_, KNode>) {
        self.phase = Phase::Claiming;
        self.create(
            ctx,
            CONTROLLER.into(),
            i64::from(self.id),
            true,
            Op::ControllerCreate,
        );
    }

    fn won_controller(&mut self, ctx: &mut Ctx<'_, KNode>) {
        self.phase = Phase::Epoch;
        self.claimed_at_ns = ctx.now();
        self.get_data(ctx, CONTROLLER_EPOCH.into(), false, Op::EpochRead);
    }

    fn on_watch(&mut self, ctx: &mut Ctx<'_, KNode>, path: &str, kind: WatchKind) {
        if path == CONTROLLER {
            match kind {
                WatchKind::NodeDeleted if self.phase == Phase::Follower => {
                    ctx.note("controller-gone", "/controller deleted; trying to take it");
                    self.claim(ctx);
                }
                WatchKind::NodeDeleted => {}
                _ => {
                    self.get_data(ctx, CONTROLLER.into(), true, Op::ControllerRead);
                }
            }
        } else if path == IDS {
            if matches!(self.phase, Phase::Loading | Phase::Active) {
                self.resync(ctx);
            }
        } else if path == broker_path(self.id) && kind == WatchKind::NodeDeleted {
            // The previous session's registration is gone: ours can be made now.
            self.register(ctx);
        }
    }

    fn on_reply(&mut self, b: &mut Broker, ctx: &mut Ctx<'_, KNode>, op: Op, r: ZkResult) {
        match op {
            Op::RegParent(_) | Op::TopicParent(_) | Op::PartitionDir(..)
                if r == ZkResult::Err(ErrCode::ConnectionLoss) => {}
            Op::RegParent(i) => match REG_PARENTS.get(i + 1) {
                Some(next) => self.create(ctx, next.to_string(), 0, false, Op::RegParent(i + 1)),
                None => self.after_parents(ctx),
            },
            Op::TopicParent(i) => match TOPIC_PARENTS.get(i + 1) {
                Some(next) => self.create(ctx, next.to_string(), 0, false, Op::TopicParent(i + 1)),
                None => {
                    for (p, st) in std::mem::take(&mut self.pending_creates) {
                        self.create_partition(ctx, p, st);
                    }
                }
            },
            Op::PartitionDir(p, st) => {
                let op = ZkOp::Create {
                    path: state_path(p),
                    data: pack(&st),
                    ephemeral: false,
                    sequential: false,
                };
                self.request(ctx, op, Op::StateWrite(p, st));
            }
            Op::Register => match r {
                ZkResult::Created { .. } => {
                    ctx.note("zk-registered", format!("{} created", broker_path(self.id)));
                }
                ZkResult::Err(ErrCode::NodeExists) => {
                    let op = ZkOp::Exists {
                        path: broker_path(self.id),
                        watch: true,
                    };
                    self.request(ctx, op, Op::RegisterCheck);
                }
                _ => {}
            },
            Op::RegisterCheck => match r {
                ZkResult::Exists(None) => self.register(ctx),
                ZkResult::Exists(Some(stat)) if stat.ephemeral_owner != self.session.session_id => {
                    ctx.note(
                        "zk-registration-waits",
                        "a previous session still holds our registration; waiting for it to expire",
                    );
                }
                _ => {}
            },
            Op::ControllerCreate => match r {
                ZkResult::Created { .. } => self.won_controller(ctx),
                ZkResult::Err(ErrCode::NodeExists) => {
                    self.phase = Phase::Follower;
                    self.get_data(ctx, CONTROLLER.into(), true, Op::ControllerRead);
                }
                _ => {}
            },
            Op::ControllerRead => match r {
                ZkResult::Data { stat, .. }
                    if stat.ephemeral_owner == self.session.session_id
                        && matches!(self.phase, Phase::Follower | Phase::Claiming) =>
                {
                    // Our own create went through before its answer was lost.
                    self.won_controller(ctx);
                }
                ZkResult::Err(ErrCode::NoNode) if self.phase == Phase::Follower => self.claim(ctx),
                _ => {}
            },
            Op::EpochRead if self.phase == Phase::Epoch => match r {
                ZkResult::Data { data, stat } => {
                    let next = data.max(0) as u64 + 1;
                    let op = ZkOp::SetData {
                        path: CONTROLLER_EPOCH.into(),
                        data: next as i64,
                        version: stat.version,
                    };
                    self.request(ctx, op, Op::EpochWrite(next));
                }
                ZkResult::Err(ErrCode::NoNode) => {
                    self.create(ctx, CONTROLLER_EPOCH.into(), 1, false, Op::EpochWrite(1));
                }
                _ => {}
            },
            Op::EpochWrite(e) if self.phase == Phase::Epoch => match r {
                ZkResult::Set { .. } | ZkResult::Created { .. } => {
                    self.epoch = e;
                    self.phase = Phase::Loading;
                    self.failover_pending = true;
                    self.known = None;
                    ctx.note(
                        "controller-elected",
                        format!("broker-{} won /controller; controller epoch {e}", self.id),
                    );
                    self.resync(ctx);
                }
                ZkResult::Err(ErrCode::BadVersion | ErrCode::NodeExists) => {
                    self.get_data(ctx, CONTROLLER_EPOCH.into(), false, Op::EpochRead);
                }
                _ => {}
            },
            Op::EpochRead | Op::EpochWrite(_) => {}
            Op::Children(gen) => {
                let names = match r {
                    ZkResult::Children(names) => names,
                    _ => return self.abandon_sync(ctx, gen),
                };
                let n = self.s.cfg.brokers;
                let ids: Vec<BrokerId> = names
                    .iter()
                    .filter_map(|c| c.rsplit('/').next()?.parse().ok())
                    .filter(|b| (1..=n).contains(b))
                    .collect();
                let mut asked = 0;
                for b in ids {
                    if self.get_data(ctx, broker_path(b), false, Op::BrokerRead(gen, b)) {
                        asked += 1;
                    }
                }
                if let Some(s) = self.sync.as_mut().filter(|s| s.gen == gen) {
                    s.outstanding += asked;
                }
                self.read_done(b, ctx, gen);
            }
            Op::BrokerRead(gen, broker) => {
                if let (ZkResult::Data { stat, .. }, Some(s)) =
                    (&r, self.sync.as_mut().filter(|s| s.gen == gen))
                {
                    s.live.insert(broker, stat.czxid);
                }
                match r {
                    ZkResult::Data { .. } | ZkResult::Err(ErrCode::NoNode) => {
                        self.read_done(b, ctx, gen)
                    }
                    _ => self.abandon_sync(ctx, gen),
                }
            }
            Op::StateRead(gen, p) => match r {
                ZkResult::Data { data, stat } => {
                    let replicas = self
                        .s
                        .assignment
                        .get(p as usize)
                        .cloned()
                        .unwrap_or_default();
                    if let Some(s) = self.sync.as_mut().filter(|s| s.gen == gen) {
                        s.states.insert(p, unpack(data, &replicas, stat.version));
                    }
                    self.read_done(b, ctx, gen);
                }
                ZkResult::Err(ErrCode::NoNode) => self.read_done(b, ctx, gen),
                _ => self.abandon_sync(ctx, gen),
            },
            Op::StateWrite(p, mut st) => {
                if !matches!(self.phase, Phase::Loading | Phase::Active) {
                    return;
                }
                match r {
                    ZkResult::Created { stat, .. } | ZkResult::Set { stat } => {
                        st.partition_epoch = stat.version.max(0) as u32;
                        self.image.insert(p, st.clone());
                        self.written.push((p, st));
                    }
                    _ => {
                        // Someone (the leader's ISR write) changed it since we read it.
                        self.write_failed = true;
                        self.resync_wanted = true;
                    }
                }
                self.writes_outstanding = self.writes_outstanding.saturating_sub(1);
                if self.writes_outstanding == 0 {
                    self.finish_decision(b, ctx);
                }
            }
            Op::AlterIsr(p, mut st) => match r {
                ZkResult::Set { stat } => {
                    st.partition_epoch = stat.version.max(0) as u32;
                    b.on_alter_reply(ctx, p, Ok(st));
                }
                ZkResult::Err(ErrCode::BadVersion) => {
                    // Did our own earlier write go through? (Kafka's checkLeaderAndIsrZkData.)
                    if !self.get_data(ctx, state_path(p), false, Op::AlterCheck(p, st)) {
                        b.on_alter_reply(ctx, p, Err(AlterError::InvalidUpdateVersion));
                    }
                }
                _ => b.on_alter_reply(ctx, p, Err(AlterError::InvalidUpdateVersion)),
            },
            Op::AlterCheck(p, mut st) => match r {
                ZkResult::Data { data, stat } if data == pack(&st) => {
                    st.partition_epoch = stat.version.max(0) as u32;
                    b.on_alter_reply(ctx, p, Ok(st));
                }
                _ => b.on_alter_reply(ctx, p, Err(AlterError::InvalidUpdateVersion)),
            },
        }
    }

    // --- the controller ------------------------------------------------------------------

    /// Reads the live brokers (watching `/brokers/ids`) and every partition's state.
    fn resync(&mut self, ctx: &mut Ctx<'_, KNode>) {
        if !matches!(self.phase, Phase::Loading | Phase::Active) {
            return;
        }
        if self.writes_outstanding > 0 {
            self.resync_wanted = true;
            return;
        }
        self.resync_wanted = false;
        self.gen += 1;
        let gen = self.gen;
        self.sync = Some(Sync {
            gen,
            outstanding: 0,
            live: BTreeMap::new(),
            states: BTreeMap::new(),
        });
        let mut asked = 0;
        let op = ZkOp::GetChildren {
            path: IDS.into(),
            watch: true,
        };
        if self.request(ctx, op, Op::Children(gen)) {
            asked += 1;
        }
        for p in 0..self.s.cfg.partitions {
            if self.get_data(ctx, state_path(p), false, Op::StateRead(gen, p)) {
                asked += 1;
            }
        }
        if asked < 1 + self.s.cfg.partitions as usize {
            // Not connected: the reconnection resyncs.
            self.sync = None;
            return;
        }
        if let Some(s) = self.sync.as_mut() {
            s.outstanding = asked;
        }
    }

    fn abandon_sync(&mut self, ctx: &mut Ctx<'_, KNode>, gen: u64) {
        if self.sync.as_ref().is_some_and(|s| s.gen == gen) {
            self.sync = None;
            ctx.set_timer(Timer::ZkController(ZkControllerTimer::Tick), RETRY_NS);
        }
    }

    fn read_done(&mut self, b: &mut Broker, ctx: &mut Ctx<'_, KNode>, gen: u64) {
        let Some(s) = self.sync.as_mut().filter(|s| s.gen == gen) else {
            return;
        };
        s.outstanding = s.outstanding.saturating_sub(1);
        if s.outstanding == 0 {
            let s = self.sync.take().expect("checked above");
            self.decide(b, ctx, s);
        }
    }

    /// Applies KRaft's rules to what was read and writes the changes back.
    fn decide(&mut self, b: &mut Broker, ctx: &mut Ctx<'_, KNode>, sync: Sync) {
        let n = self.s.cfg.brokers;
        let live = sync.live;
        let mut image = Metadata::new(self.s.rules);
        for broker in 1..=n {
            image.brokers.insert(broker, Default::default());
        }
        let mut creating = false;
        if sync.states.is_empty() {
            if !(1..=n).all(|x| live.contains_key(&x)) {
                // The topic is created once every broker has registered.
                self.image.clear();
                self.decided_live = live;
                self.write_failed = false;
                self.newly_registered.clear();
                return self.finish_decision(b, ctx);
            }
            let _ = image.apply(&MetadataRecord::CreateTopic {
                replicas: self.s.assignment.clone(),
            });
            creating = true;
        } else {
            image.partitions = (0..self.s.cfg.partitions)
                .map(|p| {
                    sync.states.get(&p).cloned().unwrap_or_else(|| {
                        let r = self.s.assignment[p as usize].clone();
                        PartitionState {
                            isr: r.clone(),
                            replicas: r,
                            ..PartitionState::default()
                        }
                    })
                })
                .collect();
        }
        let mut changes = Vec::new();
        self.newly_registered.clear();
        for broker in 1..=n {
            if !live.contains_key(&broker) {
                if let Ok(c) = image.apply(&MetadataRecord::FenceBroker { broker }) {
                    changes.extend(c);
                }
            }
        }
        for (&broker, &czxid) in &live {
            let Some(prev) = &self.known else { continue };
            if prev.get(&broker) == Some(&czxid) {
                continue;
            }
            if prev.contains_key(&broker) {
                // A new registration under the same id: the broker bounced (KIP-380).
                if let Ok(c) = image.apply(&MetadataRecord::FenceBroker { broker }) {
                    changes.extend(c);
                }
            }
            if let Ok(c) = image.apply(&MetadataRecord::RegisterBroker {
                broker,
                incarnation: czxid,
                clean_shutdown: true,
            }) {
                changes.extend(c);
            }
            self.newly_registered.insert(broker);
        }
        changes.extend(image.elect_offline_partitions());
        for c in changes.iter().filter_map(|(_, c)| c.as_ref()) {
            crate::controller::announce(ctx, c);
        }
        // Write what changed, each guarded by the version it was read at.
        self.image.clear();
        self.write_failed = false;
        self.decided_live = live;
        let mut writes = Vec::new();
        for (p, st) in image.partitions.iter().enumerate() {
            let p = p as u32;
            let mut st = st.clone();
            st.elr.clear();
            match sync.states.get(&p) {
                Some(old) => {
                    let same = old.leader == st.leader
                        && old.leader_epoch == st.leader_epoch
                        && old.isr == sorted(&st.isr);
                    if same {
                        self.image.insert(p, old.clone());
                    } else {
                        st.isr = sorted(&st.isr);
                        writes.push((p, st, Some(old.partition_epoch)));
                    }
                }
                None => writes.push((p, st, None)),
            }
        }
        for (p, st, version) in writes {
            let data = pack(&st);
            let sent = match version {
                Some(v) => {
                    let op = ZkOp::SetData {
                        path: state_path(p),
                        data,
                        version: v as i32,
                    };
                    self.request(ctx, op, Op::StateWrite(p, st))
                }
                None if creating => {
                    self.pending_creates.push((p, st));
                    true
                }
                None => self.create_partition(ctx, p, st),
            };
            if sent {
                self.writes_outstanding += 1;
            } else {
                self.write_failed = true;
            }
        }
        if creating && !self.pending_creates.is_empty() {
            let first = TOPIC_PARENTS[0].to_string();
            self.create(ctx, first, 0, false, Op::TopicParent(0));
        }
        if self.writes_outstanding == 0 {
            self.finish_decision(b, ctx);
        }
    }

    /// Creates a partition's znode, then (on the answer) its state znode.
    fn create_partition(&mut self, ctx: &mut Ctx<'_, KNode>, p: u32, st: PartitionState) -> bool {
        let dir = format!("/brokers/topics/topic/partitions/{p}");
        let op = ZkOp::Create {
            path: dir,
            data: 0,
            ephemeral: false,
            sequential: false,
        };
        self.request(ctx, op, Op::PartitionDir(p, st))
    }

    /// Every write answered: tell the brokers.
    fn finish_decision(&mut self, b: &mut Broker, ctx: &mut Ctx<'_, KNode>) {
        if !self.write_failed {
            self.known = Some(std::mem::take(&mut self.decided_live));
        }
        let written = std::mem::take(&mut self.written);
        if self.failover_pending {
            self.failover_pending = false;
            self.phase = Phase::Active;
            let load_ms = (ctx.now().saturating_sub(self.claimed_at_ns) / 1_000_000) as i64;
            ctx.metric("controller_load_ms", load_ms);
            ctx.note(
                "active-controller",
                format!(
                    "broker-{} active in controller epoch {} after loading {} partition state(s) in {load_ms} ms",
                    self.id,
                    self.epoch,
                    self.image.len()
                ),
            );
            ctx.reached("controller-elected");
            let all: Vec<_> = self.image.iter().map(|(p, s)| (*p, s.clone())).collect();
            self.send_states(b, ctx, None, all);
        } else {
            if !written.is_empty() {
                self.send_states(b, ctx, None, written);
            }
            let all: Vec<_> = self.image.iter().map(|(p, s)| (*p, s.clone())).collect();
            for nb in std::mem::take(&mut self.newly_registered) {
                self.send_states(b, ctx, Some(nb), all.clone());
            }
        }
        if self.resync_wanted {
            self.resync(ctx);
        }
    }

    /// LeaderAndIsr to every broker (or one), applied directly on this one.
    fn send_states(
        &mut self,
        b: &mut Broker,
        ctx: &mut Ctx<'_, KNode>,
        to: Option<BrokerId>,
        partitions: Vec<(u32, PartitionState)>,
    ) {
        if partitions.is_empty() {
            return;
        }
        let targets: Vec<BrokerId> = match to {
            Some(t) => vec![t],
            None => (1..=self.s.cfg.brokers).collect(),
        };
        for t in targets {
            if t == self.id {
                let me = ctx.id();
                b.on_partition_states(ctx, me, self.epoch, partitions.clone());
            } else {
                let msg = Msg::LeaderAndIsr {
                    controller_epoch: self.epoch,
                    partitions: partitions.clone(),
                };
                ctx.send(self.s.broker_node(t), msg);
            }
        }
    }

    // --- the leader's ISR writes ---------------------------------------------------------

    /// The leader writes its partition's new ISR straight to ZooKeeper, guarded by the
    /// partition epoch (the znode version) it knows.
    #[allow(clippy::too_many_arguments)]
    pub fn alter_isr(
        &mut self,
        b: &mut Broker,
        ctx: &mut Ctx<'_, KNode>,
        p: u32,
        leader_epoch: u32,
        partition_epoch: u32,
        isr: Vec<BrokerId>,
    ) {
        let st = PartitionState {
            replicas: self
                .s
                .assignment
                .get(p as usize)
                .cloned()
                .unwrap_or_default(),
            leader: Some(b.id),
            leader_epoch,
            partition_epoch: partition_epoch + 1,
            isr: sorted(&isr),
            elr: Vec::new(),
            last_known_leader: None,
        };
        let op = ZkOp::SetData {
            path: state_path(p),
            data: pack(&st),
            version: partition_epoch as i32,
        };
        if !self.request(ctx, op, Op::AlterIsr(p, st)) {
            // Not connected: try again later.
            ctx.set_timer(Timer::AlterRetry(p), self.s.cfg.replica_fetch_backoff.0);
        }
    }
}

fn sorted(v: &[BrokerId]) -> Vec<BrokerId> {
    let mut v = v.to_vec();
    v.sort_unstable();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_round_trips() {
        let st = PartitionState {
            replicas: vec![3, 1, 32],
            leader: Some(32),
            leader_epoch: 77,
            partition_epoch: 5,
            isr: vec![1, 3, 32],
            elr: Vec::new(),
            last_known_leader: None,
        };
        let back = unpack(pack(&st), &st.replicas, 5);
        assert_eq!(back, st);
        let none = PartitionState {
            replicas: vec![1],
            leader: None,
            leader_epoch: 3,
            partition_epoch: 0,
            isr: vec![1],
            elr: Vec::new(),
            last_known_leader: None,
        };
        assert_eq!(unpack(pack(&none), &[1], 0), none);
        assert!(pack(&st) >= 0);
    }
}
