//! The "zookeeper" model for scenarios: an ensemble of servers and client nodes running
//! one workload (key-value clients, the lock recipe with a protected resource, or the
//! leader-election recipe). It is itself a host of the library types, through the same
//! adapter other models use (`env::HostEnv`).

use dsim_core::units::{Duration, Probability};
use dsim_core::{
    Catalogue, CheckResult, ConfigError, Ctx, History, Invariant, IoDone, Model, NodeId, NodeSpec,
    Observation, View,
};
use serde::Deserialize;

use crate::env::{is_zk_token, HostEnv};
use crate::msg::ZkMsg;
use crate::recipes::election::ElectionClient;
use crate::recipes::kv::{KvClient, KvSettings};
use crate::recipes::lock::{LockClient, LockSettings, LockWatch};
use crate::recipes::resource::Resource;
use crate::server::{ServerConfig, ZabBugs, ZkServer};
use crate::session::ZkSession;
use crate::timer::ZkTimer;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Workload {
    Kv,
    Lock,
    Election,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LockWatchCfg {
    Predecessor,
    Herd,
}

/// `[model]` of a zookeeper scenario.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ZkConfig {
    /// Servers in the ensemble.
    pub servers: u32,
    pub workload: Workload,
    /// Client nodes (0 is allowed: an ensemble alone).
    pub clients: u32,
    /// kv: number of keys (`/k0`, `/k1`, ...).
    pub keys: u32,
    /// kv: fraction of operations that are reads.
    pub read_ratio: Probability,
    /// kv: clients call `sync` before each read.
    pub reads_sync: bool,
    pub op_timeout: Duration,
    pub think_min: Duration,
    pub think_max: Duration,
    /// ZooKeeper's `tickTime`.
    pub tick_time: Duration,
    /// `initLimit` and `syncLimit`, in ticks.
    pub init_limit: u32,
    pub sync_limit: u32,
    /// Requested session timeout (clamped to [2, 20] ticks by servers).
    pub session_timeout: Duration,
    /// `snapCount`.
    pub snapshot_count: u32,
    /// Transactions the leader keeps for DIFF (`commitLogCount`).
    pub commit_log_count: u32,
    /// lock: watch the predecessor (the recipe) or the whole lock node (herd effect).
    pub lock_watch: LockWatchCfg,
    /// lock: how long a holder keeps the lock, and how often it writes to the resource.
    pub hold_time: Duration,
    pub work_interval: Duration,
    /// lock: the resource refuses stale fencing tokens.
    pub fencing: bool,
    /// `election-settles`: longest a server may stay LOOKING while a quorum is up.
    pub election_bound: Duration,
    /// ZOOKEEPER-1154 (see `server::ZabBugs`).
    pub diff_without_trunc: bool,
    /// ZOOKEEPER-4643 / ZOOKEEPER-4646, the window left by the ZOOKEEPER-3911 fix (see
    /// `server::ZabBugs`).
    pub ack_newleader_before_sync_durable: bool,
    /// ZOOKEEPER-1419 (see `zxid::vote_beats`).
    pub non_transitive_vote_order: bool,
}

impl Default for ZkConfig {
    fn default() -> Self {
        ZkConfig {
            servers: 3,
            workload: Workload::Kv,
            clients: 3,
            keys: 2,
            read_ratio: Probability::one_in(2),
            reads_sync: false,
            op_timeout: Duration::from_secs(1),
            think_min: Duration::from_ms(5),
            think_max: Duration::from_ms(50),
            tick_time: Duration::from_ms(100),
            init_limit: 10,
            sync_limit: 5,
            session_timeout: Duration::from_secs(1),
            snapshot_count: 100,
            commit_log_count: 500,
            lock_watch: LockWatchCfg::Predecessor,
            hold_time: Duration::from_ms(200),
            work_interval: Duration::from_ms(50),
            fencing: false,
            election_bound: Duration::from_secs(10),
            diff_without_trunc: false,
            ack_newleader_before_sync_durable: false,
            non_transitive_vote_order: false,
        }
    }
}

pub const MAX_SERVERS: u32 = 15;
pub const MAX_CLIENTS: u32 = 128;
pub const MAX_KEYS: u32 = 1024;

/// Messages of the model: the library's, plus the lock holders' writes to the resource.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ModelMsg {
    Zk(ZkMsg),
    /// A lock holder's write to the protected resource, with its fencing token.
    Work {
        client: u32,
        token: u64,
    },
}

impl From<ZkMsg> for ModelMsg {
    fn from(m: ZkMsg) -> Self {
        ModelMsg::Zk(m)
    }
}

impl dsim_core::Message for ModelMsg {
    fn size_bytes(&self) -> usize {
        match self {
            ModelMsg::Zk(m) => m.size_bytes(),
            ModelMsg::Work { .. } => 32,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ModelTimer {
    Zk(ZkTimer),
    Think,
    OpTimeout(u64),
    Hold,
    WorkStep,
}

impl From<ZkTimer> for ModelTimer {
    fn from(t: ZkTimer) -> Self {
        ModelTimer::Zk(t)
    }
}

/// What a kv client asks (the history).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ZkCall {
    /// getData of `/k<key>`, after a `sync` when `synced`.
    Read {
        key: u32,
        synced: bool,
    },
    Write {
        key: u32,
        value: i64,
    },
}

impl ZkCall {
    pub fn key(&self) -> u32 {
        match self {
            ZkCall::Read { key, .. } | ZkCall::Write { key, .. } => *key,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ZkRet {
    Read { value: Option<i64> },
    Written { version: i32 },
}

/// A node of the model, by role.
#[derive(Debug)]
pub enum ZkNode {
    Server(Box<ZkServer>),
    Kv(Box<KvClient>),
    Lock(Box<LockClient>),
    Elect(Box<ElectionClient>),
    Resource(Resource),
}

impl dsim_core::Node for ZkNode {
    type Msg = ModelMsg;
    type Timer = ModelTimer;
    type Call = ZkCall;
    type Ret = ZkRet;

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        match self {
            ZkNode::Server(s) => s.on_start(&mut HostEnv::new(ctx)),
            ZkNode::Kv(c) => c.on_start(ctx),
            ZkNode::Lock(c) => c.on_start(ctx),
            ZkNode::Elect(c) => c.on_start(ctx),
            ZkNode::Resource(_) => {}
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: ModelMsg) {
        match (self, msg) {
            (ZkNode::Server(s), ModelMsg::Zk(m)) => s.on_message(&mut HostEnv::new(ctx), from, m),
            (ZkNode::Kv(c), ModelMsg::Zk(m)) => c.on_message(ctx, from, m),
            (ZkNode::Lock(c), ModelMsg::Zk(m)) => c.on_message(ctx, from, m),
            (ZkNode::Elect(c), ModelMsg::Zk(m)) => c.on_message(ctx, from, m),
            (ZkNode::Resource(r), ModelMsg::Work { client, token }) => {
                r.on_work(ctx, from, client, token)
            }
            _ => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: ModelTimer) {
        match self {
            ZkNode::Server(s) => {
                if let ModelTimer::Zk(t) = timer {
                    s.on_timer(&mut HostEnv::new(ctx), t);
                }
            }
            ZkNode::Kv(c) => c.on_timer(ctx, timer),
            ZkNode::Lock(c) => c.on_timer(ctx, timer),
            ZkNode::Elect(c) => c.on_timer(ctx, timer),
            ZkNode::Resource(_) => {}
        }
    }

    fn on_io(&mut self, ctx: &mut Ctx<'_, Self>, done: IoDone) {
        if let ZkNode::Server(s) = self {
            if is_zk_token(done.token) {
                s.on_io(&mut HostEnv::new(ctx), done);
            }
        }
    }

    fn observe(&self) -> Observation {
        match self {
            ZkNode::Server(s) => s.observe(),
            ZkNode::Kv(_) => Observation {
                state: "client",
                fields: Vec::new(),
            },
            ZkNode::Lock(c) => Observation {
                state: if c.holding() { "holding" } else { "waiting" },
                fields: vec![
                    ("wakeups", c.wakeups as i64),
                    ("wasted_wakeups", c.wasted_wakeups as i64),
                    ("acquisitions", c.acquisitions as i64),
                ],
            },
            ZkNode::Elect(c) => Observation {
                state: if c.is_leader {
                    "recipe-leader"
                } else {
                    "candidate"
                },
                fields: Vec::new(),
            },
            ZkNode::Resource(r) => Observation {
                state: "resource",
                fields: vec![("writes", r.writes as i64), ("refused", r.refused as i64)],
            },
        }
    }
}

/// The model, built from a validated configuration.
#[derive(Clone, Debug)]
pub struct ZooKeeper {
    pub cfg: ZkConfig,
}

impl ZooKeeper {
    pub fn new(cfg: ZkConfig) -> Result<ZooKeeper, ConfigError> {
        if cfg.servers == 0 || cfg.servers > MAX_SERVERS {
            return Err(ConfigError::new(
                "servers",
                format!("servers must be 1..={MAX_SERVERS}, not {}", cfg.servers),
                Some("an ensemble of 3 or 5 is usual".into()),
            ));
        }
        if cfg.clients > MAX_CLIENTS {
            return Err(ConfigError::new(
                "clients",
                format!("{} clients is over the limit of {MAX_CLIENTS}", cfg.clients),
                None,
            ));
        }
        if cfg.keys == 0 || cfg.keys > MAX_KEYS {
            return Err(ConfigError::new(
                "keys",
                format!("keys must be 1..={MAX_KEYS}"),
                None,
            ));
        }
        for (k, d) in [
            ("op_timeout", cfg.op_timeout),
            ("tick_time", cfg.tick_time),
            ("session_timeout", cfg.session_timeout),
            ("hold_time", cfg.hold_time),
            ("work_interval", cfg.work_interval),
            ("election_bound", cfg.election_bound),
        ] {
            ConfigError::require_positive(k, d)?;
        }
        if !cfg.tick_time.0.is_multiple_of(1_000_000) {
            return Err(ConfigError::new(
                "tick_time",
                "tick_time must be a whole number of milliseconds",
                None,
            ));
        }
        if cfg.think_min > cfg.think_max {
            return Err(ConfigError::new(
                "think_min",
                format!(
                    "think_min {} is above think_max {}",
                    cfg.think_min, cfg.think_max
                ),
                None,
            ));
        }
        for (k, v) in [
            ("init_limit", cfg.init_limit),
            ("sync_limit", cfg.sync_limit),
            ("snapshot_count", cfg.snapshot_count),
            ("commit_log_count", cfg.commit_log_count),
        ] {
            if v == 0 {
                return Err(ConfigError::new(k, format!("{k} must be at least 1"), None));
            }
        }
        if cfg.session_timeout.0 / 1_000_000 > u32::MAX as u64 {
            return Err(ConfigError::new(
                "session_timeout",
                "session_timeout is too long",
                None,
            ));
        }
        Ok(ZooKeeper { cfg })
    }

    pub fn server_ids(&self) -> impl Iterator<Item = NodeId> {
        (0..self.cfg.servers).map(NodeId)
    }

    pub fn client_ids(&self) -> impl Iterator<Item = NodeId> {
        (self.cfg.servers..self.cfg.servers + self.cfg.clients).map(NodeId)
    }

    pub fn resource_id(&self) -> Option<NodeId> {
        (self.cfg.workload == Workload::Lock).then_some(NodeId(self.cfg.servers + self.cfg.clients))
    }

    /// A client's number as its name gives it (`client-2` is 2).
    pub fn client_number(&self, id: NodeId) -> u32 {
        id.0.saturating_sub(self.cfg.servers) + 1
    }

    pub fn server_config(&self, sid: u32) -> ServerConfig {
        ServerConfig {
            sid,
            peers: self.server_ids().collect(),
            tick_ns: self.cfg.tick_time.0,
            init_limit: self.cfg.init_limit,
            sync_limit: self.cfg.sync_limit,
            snapshot_count: self.cfg.snapshot_count,
            commit_log_count: self.cfg.commit_log_count,
            bugs: ZabBugs {
                diff_without_trunc: self.cfg.diff_without_trunc,
                ack_newleader_before_sync_durable: self.cfg.ack_newleader_before_sync_durable,
                non_transitive_vote_order: self.cfg.non_transitive_vote_order,
            },
        }
    }

    fn session(&self) -> ZkSession {
        ZkSession::new(
            self.server_ids().collect(),
            (self.cfg.session_timeout.0 / 1_000_000) as u32,
        )
    }
}

impl Model for ZooKeeper {
    type Node = ZkNode;

    fn nodes(&self) -> Vec<NodeSpec> {
        let servers = (1..=self.cfg.servers).map(|i| NodeSpec::new(format!("zk-{i}"), "server"));
        let clients =
            (1..=self.cfg.clients).map(|i| NodeSpec::new(format!("client-{i}"), "client"));
        let resource = self
            .resource_id()
            .map(|_| NodeSpec::new("resource", "resource"));
        servers.chain(clients).chain(resource).collect()
    }

    fn boot(&self, id: NodeId) -> ZkNode {
        if id.0 < self.cfg.servers {
            return ZkNode::Server(Box::new(ZkServer::new(self.server_config(id.0 + 1))));
        }
        if Some(id) == self.resource_id() {
            return ZkNode::Resource(Resource::new(self.cfg.fencing));
        }
        let c = &self.cfg;
        match c.workload {
            Workload::Kv => ZkNode::Kv(Box::new(KvClient::new(
                self.session(),
                KvSettings {
                    keys: c.keys,
                    read_ppb: c.read_ratio.0,
                    reads_sync: c.reads_sync,
                    op_timeout_ns: c.op_timeout.0,
                    think_min_ns: c.think_min.0,
                    think_max_ns: c.think_max.0,
                },
            ))),
            Workload::Lock => ZkNode::Lock(Box::new(LockClient::new(
                self.session(),
                LockSettings {
                    watch: match c.lock_watch {
                        LockWatchCfg::Predecessor => LockWatch::Predecessor,
                        LockWatchCfg::Herd => LockWatch::Herd,
                    },
                    hold_ns: c.hold_time.0,
                    work_interval_ns: c.work_interval.0,
                    think_min_ns: c.think_min.0,
                    think_max_ns: c.think_max.0,
                    resource: self.resource_id(),
                    client_no: self.client_number(id),
                },
            ))),
            Workload::Election => ZkNode::Elect(Box::new(ElectionClient::new(
                self.session(),
                c.think_max.0.max(1_000_000),
            ))),
        }
    }

    fn fault_role(&self) -> &'static str {
        "server"
    }

    fn selectors(&self) -> &'static [&'static str] {
        &["leader", "follower", "lock-holder", "recipe-leader"]
    }

    fn select(
        &self,
        view: &View<'_, ZkNode>,
        name: &str,
        _arg: Option<&str>,
    ) -> Option<Vec<NodeId>> {
        let pick = |f: &dyn Fn(&ZkNode) -> bool| -> Option<Vec<NodeId>> {
            view.ids()
                .find(|id| view.is_up(*id) && view.node(*id).is_some_and(f))
                .map(|id| vec![id])
        };
        match name {
            "leader" => pick(&|n| matches!(n, ZkNode::Server(s) if s.is_established_leader()))
                .or_else(|| {
                    pick(&|n| matches!(n, ZkNode::Server(s) if s.state_name() == "establishing"))
                }),
            "follower" => {
                pick(&|n| matches!(n, ZkNode::Server(s) if s.state_name() == "following"))
            }
            "lock-holder" => pick(&|n| matches!(n, ZkNode::Lock(c) if c.holding())),
            "recipe-leader" => pick(&|n| matches!(n, ZkNode::Elect(c) if c.is_leader)),
            _ => None,
        }
    }

    fn catalogue(&self) -> Catalogue {
        crate::checks::CATALOGUE
    }

    fn always(&self, name: &str) -> Option<Box<dyn Invariant<ZkNode>>> {
        crate::checks::always(self, name)
    }

    fn eventually(
        &self,
        name: &str,
        view: &View<'_, ZkNode>,
        history: &History<ZkCall, ZkRet>,
    ) -> Option<(String, Vec<NodeId>)> {
        crate::checks::eventually(self, name, view, history)
    }

    fn check_history(
        &self,
        name: &str,
        view: &View<'_, ZkNode>,
        history: &History<ZkCall, ZkRet>,
        budget: u64,
    ) -> CheckResult {
        crate::checks::history(self, name, view, history, budget)
    }
}
