//! Kafka for dsim: brokers with ISR replication, a controller on KRaft (the Raft crate) or
//! on ZooKeeper (the ZooKeeper crate), producers, and a consumer group — so the failure
//! modes of domain notes 003/004 and the historic bugs of KIP-101, KIP-279, KIP-106,
//! KIP-966, KIP-98 and Jepsen's 2013 analysis can be run, seen and checked.
//!
//! Layers, bottom up (each module opens with what it models and its sources):
//! * [`log`]: a partition's log on disk — record batches with CRCs (message format v2),
//!   segments with sparse offset indexes, lookup, truncation, crash recovery, retention
//!   and compaction.
//! * [`epoch_cache`]: the leader epoch cache and OffsetsForLeaderEpoch truncation
//!   (KIP-101, KIP-279).
//! * [`isr`]: a leader's view of its followers: ISR shrink and expand, high watermark.
//! * [`metadata`]: the controller's image and election rules (clean, unclean, KIP-966).
//! * [`placement`], [`partitioner`], [`assignor`], [`group`], [`producer_state`]: replica
//!   placement, key hashing, consumer-group assignment, the group coordinator, the
//!   idempotent producer's sequence checks.
//! * Nodes: [`broker`], [`controller`] (KRaft), [`zk_broker`] (ZooKeeper mode: the broker's
//!   session and, on the broker that wins `/controller`, the controller), [`producer`],
//!   [`consumer`].
//! * [`checks`]: Jepsen's Kafka anomalies on the client history, the broker invariants of
//!   hachikuji's kafka-specification (TLA+), and the consumer group's delivery guarantees.
//!
//! Roles, in node-id order: the quorum (`controller-N` in KRaft mode, `zk-N` in ZooKeeper
//! mode), `broker-N`, `producer-N`, `consumer-N`. Sources and lessons:
//! docs/models/kafka.md.

pub mod assignor;
pub mod broker;
pub mod checks;
pub mod config;
pub mod consumer;
pub mod controller;
pub mod coordinator;
pub mod epoch_cache;
pub mod group;
pub mod isr;
pub mod log;
pub mod metadata;
pub mod msg;
pub mod partitioner;
pub mod placement;
pub mod producer;
pub mod producer_state;
pub mod zk_broker;

use std::sync::Arc;

use dsim_core::{
    Catalogue, CheckResult, ConfigError, Ctx, History, Invariant, IoDone, Model, NodeId, NodeSpec,
    Observation, View,
};
use dsim_raft::env::owns_token;
use dsim_raft::msg::RaftTimer;
use dsim_zookeeper::server::ServerConfig;
use dsim_zookeeper::{ZabBugs, ZkServer, ZkTimer};

pub use config::{Acks, Assignor, Cleanup, ControllerMode, KafkaConfig};

use broker::Broker;
use consumer::Consumer;
use controller::Controller;
use isr::BrokerId;
use log::{CleanupPolicy, LogConfig};
use metadata::Rules;
use msg::Msg;
use producer::Producer;

/// What every node knows, from the configuration.
#[derive(Clone, Debug)]
pub struct Settings {
    pub cfg: KafkaConfig,
    /// The metadata quorum: KRaft controllers or ZooKeeper servers.
    pub quorum: Vec<NodeId>,
    /// `brokers[b - 1]` is broker `b`'s node.
    pub brokers: Vec<NodeId>,
    pub producers: Vec<NodeId>,
    pub consumers: Vec<NodeId>,
    /// The topic's replica assignment, by partition (Kafka's placement, racks included).
    pub assignment: Vec<Vec<BrokerId>>,
    pub rules: Rules,
    pub log: LogConfig,
}

impl Settings {
    pub fn broker_node(&self, b: BrokerId) -> NodeId {
        self.brokers[(b - 1) as usize]
    }

    /// A broker drawn from `rng`: where a client sends a request any broker can answer
    /// (Metadata, FindCoordinator). Kafka's clients pick the least loaded node (fewest
    /// requests in flight); a random one is the simplification.
    pub fn random_broker(&self, rng: &mut dsim_core::SimRng) -> NodeId {
        use dsim_core::Rng;
        // Drawn as u64, not usize: the same draw on every platform.
        let n = self.brokers.len() as u64;
        self.brokers[rng.gen_range(0..n) as usize]
    }

    /// The internal `__consumer_offsets` partition, when there is a consumer group: it is
    /// partition `cfg.partitions`, after the user partitions `0..cfg.partitions`, placed and
    /// replicated like them (so the controller, elections and replication handle it
    /// unchanged). Its leader is the group coordinator.
    pub fn offsets_partition(&self) -> Option<u32> {
        (self.cfg.consumers > 0).then_some(self.cfg.partitions)
    }

    pub fn broker_of(&self, node: NodeId) -> Option<BrokerId> {
        let first = self.brokers.first()?.0;
        (node.0 >= first && node.0 < first + self.brokers.len() as u32).then(|| node.0 - first + 1)
    }
}

/// One operation of the client history (Jepsen's Kafka workload vocabulary).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Call {
    /// A producer sends `value` to `partition`.
    Send { partition: u32, value: u64 },
    /// A consumer polls.
    Poll,
    /// A consumer is given these partitions by a rebalance (its positions reset).
    Assign { partitions: Vec<u32> },
    /// A consumer's application processes one polled record (completed `ok` when the
    /// processing is done; left pending when the consumer died during it).
    Process {
        partition: u32,
        offset: u64,
        value: u64,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Ret {
    /// Acknowledged at this offset (`None` with `acks=0`).
    Sent {
        offset: Option<u64>,
    },
    /// `(partition, offset, value)` in the order delivered.
    Polled {
        records: Vec<(u32, u64, u64)>,
    },
    Assigned,
    Processed,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Timer {
    Raft(RaftTimer),
    Zk(ZkTimer),
    ZkController(zk_broker::ZkControllerTimer),
    // brokers
    Heartbeat,
    Writeback,
    Flush,
    HwCheckpoint,
    IsrExpiration,
    Purgatory,
    Retention,
    FetchWait { partition: u32, from: NodeId },
    FollowerRetry(u32),
    AlterRetry(u32),
    // KRaft controllers
    ControllerTick,
    // producers
    Produce,
    Linger(u32),
    ProducerTick,
    MetadataRefresh,
    MetadataRetry,
    RequestTimeout(u64),
    // consumers
    Consumer(consumer::ConsumerTimer),
}

impl From<RaftTimer> for Timer {
    fn from(t: RaftTimer) -> Self {
        Timer::Raft(t)
    }
}

impl From<ZkTimer> for Timer {
    fn from(t: ZkTimer) -> Self {
        Timer::Zk(t)
    }
}

/// A node of the kafka model, by role.
#[derive(Debug)]
pub enum KNode {
    Controller(Box<Controller>),
    ZooKeeper(Box<ZkServer>),
    Broker(Box<Broker>),
    Producer(Box<Producer>),
    Consumer(Box<Consumer>),
}

impl KNode {
    pub fn broker(&self) -> Option<&Broker> {
        match self {
            KNode::Broker(b) => Some(b),
            _ => None,
        }
    }
}

impl dsim_raft::invariants::RaftObserved for KNode {
    fn raft_state(&self) -> Option<&dyn dsim_raft::invariants::RaftState> {
        match self {
            KNode::Controller(c) => Some(c.raft.as_ref()),
            _ => None,
        }
    }
}

impl dsim_core::Node for KNode {
    type Msg = Msg;
    type Timer = Timer;
    type Call = Call;
    type Ret = Ret;

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        match self {
            KNode::Controller(c) => c.on_start(ctx),
            KNode::ZooKeeper(s) => s.on_start(&mut dsim_zookeeper::HostEnv::new(ctx)),
            KNode::Broker(b) => b.on_start(ctx),
            KNode::Producer(p) => p.on_start(ctx),
            KNode::Consumer(c) => c.on_start(ctx),
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match (self, msg) {
            (KNode::Controller(c), Msg::Raft(m)) => c.on_raft_message(ctx, from, m),
            (KNode::Controller(c), m) => c.on_message(ctx, from, m),
            (KNode::ZooKeeper(s), Msg::Zk(m)) => {
                s.on_message(&mut dsim_zookeeper::HostEnv::new(ctx), from, m)
            }
            (KNode::ZooKeeper(_), _) => {}
            (KNode::Broker(b), m) => b.on_message(ctx, from, m),
            (KNode::Producer(p), m) => p.on_message(ctx, from, m),
            (KNode::Consumer(c), m) => c.on_message(ctx, from, m),
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        match (self, timer) {
            (KNode::Controller(c), Timer::Raft(t)) => c.on_raft_timer(ctx, t),
            (KNode::Controller(c), Timer::ControllerTick) => c.on_tick(ctx),
            (KNode::ZooKeeper(s), Timer::Zk(t)) => {
                s.on_timer(&mut dsim_zookeeper::HostEnv::new(ctx), t)
            }
            (KNode::Broker(b), t) => b.on_timer(ctx, t),
            (KNode::Producer(p), t) => p.on_timer(ctx, t),
            (KNode::Consumer(c), Timer::Consumer(t)) => c.on_timer(ctx, t),
            _ => {}
        }
    }

    fn on_io(&mut self, ctx: &mut Ctx<'_, Self>, done: IoDone) {
        match self {
            KNode::Controller(c) if owns_token(c.raft.cfg.token_base, done.token) => {
                c.on_io(ctx, done)
            }
            KNode::ZooKeeper(s) => s.on_io(&mut dsim_zookeeper::HostEnv::new(ctx), done),
            KNode::Broker(b) => b.on_io(ctx, done),
            _ => {}
        }
    }

    fn observe(&self) -> Observation {
        match self {
            KNode::Controller(c) => Observation {
                state: if c.is_active() { "active" } else { "standby" },
                fields: vec![
                    ("term", c.raft.term() as i64),
                    ("commit_index", c.raft.commit_index() as i64),
                ],
            },
            KNode::ZooKeeper(_) => Observation {
                state: "zookeeper",
                fields: Vec::new(),
            },
            KNode::Broker(b) => b.observe(),
            KNode::Producer(p) => p.observe(),
            KNode::Consumer(c) => c.observe(),
        }
    }
}

/// The model, built from a validated configuration.
#[derive(Clone, Debug)]
pub struct Kafka {
    pub s: Arc<Settings>,
}

impl Kafka {
    pub fn new(cfg: KafkaConfig) -> Result<Kafka, ConfigError> {
        cfg.validate()?;
        let q = cfg.quorum_servers;
        let quorum: Vec<NodeId> = (0..q).map(NodeId).collect();
        let brokers: Vec<NodeId> = (q..q + cfg.brokers).map(NodeId).collect();
        let p0 = q + cfg.brokers;
        let producers: Vec<NodeId> = (p0..p0 + cfg.producers).map(NodeId).collect();
        let c0 = p0 + cfg.producers;
        let consumers: Vec<NodeId> = (c0..c0 + cfg.consumers).map(NodeId).collect();
        // The user partitions, then `__consumer_offsets` (one partition) with a group.
        let all_partitions = cfg.partitions as usize + usize::from(cfg.consumers > 0);
        let assignment = if cfg.racks > 0 {
            let racks: Vec<(BrokerId, u32)> = (1..=cfg.brokers)
                .map(|b| (b, broker_rack(b, cfg.racks)))
                .collect();
            placement::assign_rack_aware(
                &racks,
                all_partitions,
                cfg.replication_factor as usize,
                0,
                0,
            )
        } else {
            let ids: Vec<BrokerId> = (1..=cfg.brokers).collect();
            placement::assign(&ids, all_partitions, cfg.replication_factor as usize, 0, 0)
        }
        .map_err(|e| ConfigError::new("replication_factor", e.to_string(), None))?;
        let ms = |d: dsim_core::units::Duration| (d.0 > 0).then_some((d.0 / 1_000_000) as i64);
        let log = LogConfig {
            segment_bytes: cfg.segment_bytes,
            segment_ms: ms(cfg.segment_age),
            index_interval_bytes: 4096,
            retention_ms: ms(cfg.retention),
            retention_bytes: (cfg.retention_bytes > 0).then_some(cfg.retention_bytes),
            cleanup_policy: match cfg.cleanup_policy {
                Cleanup::Delete => CleanupPolicy::Delete,
                Cleanup::Compact => CleanupPolicy::Compact,
            },
        };
        let rules = Rules {
            unclean_leader_election: cfg.unclean_leader_election,
            min_insync_replicas: cfg.min_insync_replicas as usize,
            eligible_leader_replicas: cfg.eligible_leader_replicas,
        };
        Ok(Kafka {
            s: Arc::new(Settings {
                cfg,
                quorum,
                brokers,
                producers,
                consumers,
                assignment,
                rules,
                log,
            }),
        })
    }
}

impl Model for Kafka {
    type Node = KNode;

    fn nodes(&self) -> Vec<NodeSpec> {
        let c = &self.s.cfg;
        let quorum = (1..=c.quorum_servers).map(|i| match c.controller {
            ControllerMode::Kraft => NodeSpec::new(format!("controller-{i}"), "controller"),
            ControllerMode::ZooKeeper => NodeSpec::new(format!("zk-{i}"), "zookeeper"),
        });
        // `broker.rack`: the engine puts each broker in the rack placement assumed, so a
        // rack(N) fault takes out exactly the brokers placement spread replicas across.
        let brokers = (1..=c.brokers).map(|i| {
            let spec = NodeSpec::new(format!("broker-{i}"), "broker");
            match c.racks {
                0 => spec,
                racks => spec.in_rack(broker_rack(i, racks)),
            }
        });
        let producers =
            (1..=c.producers).map(|i| NodeSpec::new(format!("producer-{i}"), "producer"));
        let consumers =
            (1..=c.consumers).map(|i| NodeSpec::new(format!("consumer-{i}"), "consumer"));
        quorum
            .chain(brokers)
            .chain(producers)
            .chain(consumers)
            .collect()
    }

    fn boot(&self, id: NodeId) -> KNode {
        let s = &self.s;
        if s.quorum.contains(&id) {
            return match s.cfg.controller {
                ControllerMode::Kraft => KNode::Controller(Box::new(Controller::new(s.clone()))),
                ControllerMode::ZooKeeper => {
                    KNode::ZooKeeper(Box::new(ZkServer::new(ServerConfig {
                        sid: id.0 + 1,
                        peers: s.quorum.clone(),
                        // tickTime: bounds the session timeouts ZooKeeper grants.
                        tick_ns: config::ZK_TICK_NS,
                        init_limit: 10,
                        sync_limit: 5,
                        snapshot_count: 1000,
                        commit_log_count: 500,
                        bugs: ZabBugs::default(),
                    })))
                }
            };
        }
        if let Some(b) = s.broker_of(id) {
            return KNode::Broker(Box::new(Broker::new(b, s.clone())));
        }
        if let Some(i) = s.producers.iter().position(|p| *p == id) {
            return KNode::Producer(Box::new(Producer::new(s.clone(), i as u32)));
        }
        let i = s
            .consumers
            .iter()
            .position(|c| *c == id)
            .expect("every node id has a role");
        KNode::Consumer(Box::new(Consumer::new(s.clone(), i as u32)))
    }

    fn fault_role(&self) -> &'static str {
        "broker"
    }

    fn selectors(&self) -> &'static [&'static str] {
        checks::SELECTORS
    }

    fn select(&self, view: &View<'_, KNode>, name: &str, arg: Option<&str>) -> Option<Vec<NodeId>> {
        checks::select(self, view, name, arg)
    }

    fn catalogue(&self) -> Catalogue {
        checks::CATALOGUE
    }

    fn always(&self, name: &str) -> Option<Box<dyn Invariant<KNode>>> {
        checks::always(self, name)
    }

    fn eventually(
        &self,
        name: &str,
        view: &View<'_, KNode>,
        history: &History<Call, Ret>,
    ) -> Option<(String, Vec<NodeId>)> {
        checks::eventually(self, name, view, history)
    }

    fn check_histories(
        &self,
        names: &[String],
        view: &View<'_, KNode>,
        history: &History<Call, Ret>,
        _budget: u64,
    ) -> Vec<CheckResult> {
        checks::histories(self, names, view, history)
    }

    fn check_history(
        &self,
        name: &str,
        view: &View<'_, KNode>,
        history: &History<Call, Ret>,
        _budget: u64,
    ) -> CheckResult {
        checks::history(self, name, view, history)
    }
}

/// The rack of broker `b` (`broker.rack`): brokers round-robin over `racks` racks.
fn broker_rack(b: BrokerId, racks: u32) -> u32 {
    (b - 1) % racks
}
