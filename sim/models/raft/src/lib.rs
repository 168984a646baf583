//! Raft consensus (Ongaro & Ousterhout 2014) as a library, with a replicated key-value store on top.
//!
//! The protocol lives in [`server::RaftServer`], generic over the command type and driven
//! through the small [`env::RaftEnv`] trait, so other models embed it in their own node,
//! message and timer enums ([`env::CtxEnv`] adapts a dsim `Ctx`); `tests/embed.rs` is such
//! a host. The Figure 3 safety properties are reusable invariants in [`invariants`].
//!
//! The `raft` model itself: `server-N` nodes run Raft and an etcd-like KV store
//! ([`kv`], [`host`]); `client-N` nodes put, get and compare-and-set ([`client`]).
//! docs/models/raft.md lists the checks, switches and their sources.

pub mod admin;
pub mod checks;
pub mod client;
pub mod env;
pub mod host;
pub mod invariants;
pub mod kv;
pub mod log;
pub mod msg;
pub mod server;
pub mod storage;

use dsim_core::units::{Duration, Probability};
use dsim_core::{
    Catalogue, CheckResult, ConfigError, Ctx, History, Invariant, IoDone, Message, Model, NodeId,
    NodeSpec, Observation, View,
};
use serde::Deserialize;

use admin::Admin;
use client::{Client, ClientSettings};
use host::Server;
use invariants::{RaftObserved, RaftState};
use kv::{KvCmd, KvOp, KvResult};
use msg::{RaftMsg, RaftTimer};
use server::RaftConfig;

pub use server::{NotLeader, RaftServer, Ready, Role};

/// How a leader serves reads (thesis §6.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReadMode {
    /// ReadIndex: confirm leadership with a heartbeat round (thesis §6.4).
    ReadIndex,
    /// Leader lease (thesis §6.4.1): depends on bounded clock drift.
    Lease,
    /// Reads go through the log like writes.
    Log,
    /// The leader answers from its state without confirming it still leads (unsafe: the
    /// Jepsen etcd 2014 class of stale reads).
    Local,
}

/// The membership workload (thesis §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reconfigure {
    /// The configuration never changes.
    None,
    /// An `admin` node asks the leader, every `reconfigure_interval`, to add a spare
    /// server or remove a voter, one server at a time (thesis §4.1).
    SingleServer,
    /// The admin's requests replace the voters by any other set of the same size, through
    /// the joint configuration C_old,new (§6; thesis §4.3).
    Joint,
}

/// `[model]` of a raft scenario.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RaftModelConfig {
    /// Voting servers.
    pub servers: u32,
    pub clients: u32,
    pub keys: u32,
    /// Fraction of operations that are gets.
    pub read_ratio: Probability,
    /// Fraction of operations that are compare-and-sets (the rest are puts).
    pub cas_ratio: Probability,
    pub op_timeout: Duration,
    pub think_min: Duration,
    pub think_max: Duration,
    pub election_timeout_min: Duration,
    pub election_timeout_max: Duration,
    pub heartbeat_interval: Duration,
    /// Thesis §9.6. Off: a server that was cut off raises its term and, when it comes
    /// back, deposes a healthy leader (etcd #9333).
    pub pre_vote: bool,
    /// Thesis §6.2. Off: a leader cut off from the majority never notices, and with
    /// `read_mode = "local"` keeps serving stale reads (Jepsen, etcd 2014).
    pub check_quorum: bool,
    pub read_mode: ReadMode,
    /// The clock-drift bound leases assume (thesis §6.4.1), in ppm.
    pub lease_drift_bound_ppm: u32,
    /// Entries applied beyond the last snapshot before the log is compacted (§7); 0: never.
    pub snapshot_threshold: u64,
    /// §8: a new leader appends a no-op. Needed by ReadIndex and leases.
    pub leader_noop: bool,
    pub max_entries_per_append: u32,
    /// Bug switch (Raft §5.4.2, Figure 8): commit a previous term's entry by counting
    /// replicas.
    pub commit_previous_term_by_counting: bool,
    /// Figure 2; `false` is the bug of ongardie/raft.tla `Raft_Term_Not_Persisted.tla`:
    /// a vote is sent before currentTerm/votedFor are durable.
    pub persist_term_before_vote: bool,
    pub reconfigure: Reconfigure,
    /// Servers that start outside the configuration, for the admin to add.
    pub spare_servers: u32,
    pub reconfigure_interval: Duration,
    /// The admin makes no change from this time on (e.g. the end of the fault phase), so
    /// that `leader-elected` judges a cluster left alone; 0: never stops.
    pub reconfigure_stop: Duration,
    /// Bug switch (Ongaro, raft-dev 2015, "bug in single-server membership changes"): a
    /// new leader changes the configuration before it has committed an entry of its term.
    pub single_server_change_without_noop: bool,
    /// Scripted membership changes (with `reconfigure = "single-server"`): instead of a
    /// change every `reconfigure_interval`, the admin asks, at each `at`, that the leader
    /// add or remove the named server, e.g.
    /// `[{ at = "1s", add = "server-5" }, { at = "2s", remove = "server-4" }]`. Lets a
    /// scenario replay a known interleaving, such as the raft-dev 2015 one.
    pub reconfigure_script: Vec<admin::ScriptedChange>,
}

impl Default for RaftModelConfig {
    fn default() -> Self {
        RaftModelConfig {
            servers: 3,
            clients: 3,
            keys: 3,
            read_ratio: Probability::one_in(2),
            cas_ratio: Probability::one_in(5),
            op_timeout: Duration::from_ms(500),
            think_min: Duration::from_ms(5),
            think_max: Duration::from_ms(50),
            election_timeout_min: Duration::from_ms(150),
            election_timeout_max: Duration::from_ms(300),
            heartbeat_interval: Duration::from_ms(50),
            pre_vote: true,
            check_quorum: true,
            read_mode: ReadMode::ReadIndex,
            lease_drift_bound_ppm: 100_000,
            snapshot_threshold: 0,
            leader_noop: true,
            max_entries_per_append: 64,
            commit_previous_term_by_counting: false,
            persist_term_before_vote: true,
            reconfigure: Reconfigure::None,
            spare_servers: 0,
            reconfigure_interval: Duration::from_ms(500),
            reconfigure_stop: Duration(0),
            single_server_change_without_noop: false,
            reconfigure_script: Vec::new(),
        }
    }
}

pub const MAX_SERVERS: u32 = 15;
pub const MAX_CLIENTS: u32 = 256;
pub const MAX_KEYS: u32 = 1024;
pub const MAX_ENTRIES_PER_APPEND: u32 = 4096;
pub const MAX_SCRIPTED_CHANGES: usize = 64;

/// The model, built from a validated configuration.
#[derive(Clone, Debug)]
pub struct RaftModel {
    pub cfg: RaftModelConfig,
}

fn refuse(key: &'static str, msg: String, hint: Option<&str>) -> ConfigError {
    ConfigError::new(key, msg, hint.map(str::to_string))
}

impl RaftModel {
    pub fn new(cfg: RaftModelConfig) -> Result<RaftModel, ConfigError> {
        if cfg.servers == 0 || cfg.servers > MAX_SERVERS {
            return Err(refuse(
                "servers",
                format!("servers must be 1..={MAX_SERVERS}"),
                Some("servers = 5"),
            ));
        }
        if cfg.clients > MAX_CLIENTS {
            return Err(refuse(
                "clients",
                format!("clients must be 0..={MAX_CLIENTS}"),
                None,
            ));
        }
        if cfg.keys == 0 || cfg.keys > MAX_KEYS {
            return Err(refuse("keys", format!("keys must be 1..={MAX_KEYS}"), None));
        }
        if cfg.read_ratio.0 as u64 + cfg.cas_ratio.0 as u64 > Probability::one_in(1).0 as u64 {
            return Err(refuse(
                "cas_ratio",
                "read_ratio + cas_ratio is above 1".into(),
                None,
            ));
        }
        if cfg.op_timeout.0 == 0 {
            return Err(refuse(
                "op_timeout",
                "op_timeout must be above zero".into(),
                Some("e.g. \"1s\""),
            ));
        }
        if cfg.think_min > cfg.think_max {
            return Err(refuse(
                "think_min",
                "think_min is above think_max".into(),
                None,
            ));
        }
        if cfg.election_timeout_min.0 == 0 {
            return Err(refuse(
                "election_timeout_min",
                "must be above zero".into(),
                Some("\"150ms\""),
            ));
        }
        if cfg.election_timeout_min > cfg.election_timeout_max {
            return Err(refuse(
                "election_timeout_min",
                "election_timeout_min is above election_timeout_max".into(),
                None,
            ));
        }
        if cfg.heartbeat_interval.0 == 0 || cfg.heartbeat_interval >= cfg.election_timeout_min {
            return Err(refuse(
                "heartbeat_interval",
                "heartbeat_interval must be above zero and below election_timeout_min (§5.6: broadcastTime << electionTimeout)".into(),
                None,
            ));
        }
        if cfg.lease_drift_bound_ppm >= 1_000_000 {
            return Err(refuse(
                "lease_drift_bound_ppm",
                "must be below 1000000 (100%)".into(),
                None,
            ));
        }
        if cfg.max_entries_per_append == 0 || cfg.max_entries_per_append > MAX_ENTRIES_PER_APPEND {
            return Err(refuse(
                "max_entries_per_append",
                format!("must be 1..={MAX_ENTRIES_PER_APPEND}"),
                None,
            ));
        }
        if !cfg.leader_noop && matches!(cfg.read_mode, ReadMode::ReadIndex | ReadMode::Lease) {
            return Err(refuse(
                "leader_noop",
                "ReadIndex and lease reads need the leader's no-op entry (thesis §6.4)".into(),
                Some("read_mode = \"log\" works without it"),
            ));
        }
        if cfg.spare_servers > MAX_SERVERS {
            return Err(refuse(
                "spare_servers",
                format!("spare_servers must be 0..={MAX_SERVERS}"),
                None,
            ));
        }
        if cfg.reconfigure != Reconfigure::None {
            if cfg.servers + cfg.spare_servers < 2 {
                return Err(refuse(
                    "reconfigure",
                    "membership changes need at least two servers".into(),
                    Some("spare_servers = 1"),
                ));
            }
            if cfg.snapshot_threshold > 0 {
                return Err(refuse(
                    "snapshot_threshold",
                    "snapshots do not carry the configuration yet: use snapshot_threshold = 0 with reconfigure".into(),
                    None,
                ));
            }
            if cfg.reconfigure_interval.0 == 0 {
                return Err(refuse(
                    "reconfigure_interval",
                    "must be above zero".into(),
                    None,
                ));
            }
        }
        if !cfg.reconfigure_script.is_empty() {
            if cfg.reconfigure != Reconfigure::SingleServer {
                return Err(refuse(
                    "reconfigure_script",
                    "scripted changes are single-server changes".into(),
                    Some("reconfigure = \"single-server\""),
                ));
            }
            if cfg.reconfigure_script.len() > MAX_SCRIPTED_CHANGES {
                return Err(refuse(
                    "reconfigure_script",
                    format!("at most {MAX_SCRIPTED_CHANGES} scripted changes"),
                    None,
                ));
            }
            let total = cfg.servers + cfg.spare_servers;
            for c in &cfg.reconfigure_script {
                c.server(total).map_err(|msg| {
                    refuse(
                        "reconfigure_script",
                        msg,
                        Some("{ at = \"1s\", add = \"server-5\" }"),
                    )
                })?;
            }
        }
        Ok(RaftModel { cfg })
    }

    /// Every server node, voters first, then spares.
    pub fn all_server_ids(&self) -> Vec<NodeId> {
        (0..self.cfg.servers + self.cfg.spare_servers)
            .map(NodeId)
            .collect()
    }

    fn first_client(&self) -> u32 {
        self.cfg.servers + self.cfg.spare_servers
    }

    fn admin_id(&self) -> Option<NodeId> {
        (self.cfg.reconfigure != Reconfigure::None)
            .then(|| NodeId(self.first_client() + self.cfg.clients))
    }

    /// The validated `reconfigure_script`, as (time, change).
    fn script(&self) -> Vec<(u64, admin::Change)> {
        let total = self.cfg.servers + self.cfg.spare_servers;
        self.cfg
            .reconfigure_script
            .iter()
            .filter_map(|c| c.server(total).ok().map(|ch| (c.at.0, ch)))
            .collect()
    }

    pub fn server_ids(&self) -> Vec<NodeId> {
        (0..self.cfg.servers).map(NodeId).collect()
    }

    pub fn client_number(&self, id: NodeId) -> u32 {
        id.0.saturating_sub(self.first_client()) + 1
    }

    pub fn raft_config(&self) -> RaftConfig {
        let c = &self.cfg;
        RaftConfig {
            election_timeout_min_ns: c.election_timeout_min.0,
            election_timeout_max_ns: c.election_timeout_max.0,
            heartbeat_interval_ns: c.heartbeat_interval.0,
            pre_vote: c.pre_vote,
            check_quorum: c.check_quorum,
            leader_noop: c.leader_noop,
            max_entries_per_append: c.max_entries_per_append as usize,
            lease_reads: c.read_mode == ReadMode::Lease,
            lease_drift_bound_ppm: c.lease_drift_bound_ppm,
            commit_previous_term_by_counting: c.commit_previous_term_by_counting,
            persist_term_before_vote: c.persist_term_before_vote,
            single_server_change_without_noop: c.single_server_change_without_noop,
            ..RaftConfig::new(self.server_ids())
        }
    }

    fn client_settings(&self) -> ClientSettings {
        ClientSettings {
            servers: self.all_server_ids(),
            keys: self.cfg.keys,
            read_ppb: self.cfg.read_ratio.0,
            cas_ppb: self.cfg.cas_ratio.0,
            op_timeout_ns: self.cfg.op_timeout.0,
            think_min_ns: self.cfg.think_min.0,
            think_max_ns: self.cfg.think_max.0,
            retry_ns: self.cfg.heartbeat_interval.0 / 2,
        }
    }
}

/// Messages of the raft model: Raft's own, and the KV client protocol.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Msg {
    Raft(RaftMsg<KvCmd>),
    /// Client → server; `req` is the op's history id.
    Request {
        req: u64,
        op: KvOp,
    },
    Reply {
        req: u64,
        result: KvResult,
    },
    /// "I am not the leader; try `hint`."
    Redirect {
        req: u64,
        hint: Option<NodeId>,
    },
    /// Admin → server: change the membership by one server (thesis §4.1): the one
    /// `change` names, or (`None`) one the leader picks.
    Reconfigure {
        req: u64,
        change: Option<admin::Change>,
    },
}

impl From<RaftMsg<KvCmd>> for Msg {
    fn from(m: RaftMsg<KvCmd>) -> Self {
        Msg::Raft(m)
    }
}

impl Message for Msg {
    fn size_bytes(&self) -> usize {
        match self {
            Msg::Raft(m) => m.size_bytes(),
            _ => 48,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Timer {
    Raft(RaftTimer),
    Think,
    OpTimeout(u64),
    Retry(u64),
    /// The admin's next membership change.
    Reconfigure,
    /// The admin's scripted change number k (`reconfigure_script`).
    ScriptedChange(usize),
}

impl From<RaftTimer> for Timer {
    fn from(t: RaftTimer) -> Self {
        Timer::Raft(t)
    }
}

#[derive(Debug)]
pub enum RaftNode {
    Server(Box<Server>),
    Client(Client),
    Admin(Admin),
}

impl RaftObserved for RaftNode {
    fn raft_state(&self) -> Option<&dyn RaftState> {
        match self {
            RaftNode::Server(s) => Some(&s.raft),
            RaftNode::Client(_) | RaftNode::Admin(_) => None,
        }
    }
}

impl dsim_core::Node for RaftNode {
    type Msg = Msg;
    type Timer = Timer;
    type Call = KvOp;
    type Ret = KvResult;

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        match self {
            RaftNode::Server(s) => s.on_start(ctx),
            RaftNode::Client(c) => c.on_start(ctx),
            RaftNode::Admin(a) => a.on_start(ctx),
        }
    }
    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match self {
            RaftNode::Server(s) => s.on_message(ctx, from, msg),
            RaftNode::Client(c) => c.on_message(ctx, from, msg),
            RaftNode::Admin(a) => a.on_message(ctx, from, msg),
        }
    }
    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        match (self, timer) {
            (RaftNode::Server(s), Timer::Raft(t)) => s.on_timer(ctx, t),
            (RaftNode::Client(c), t) => c.on_timer(ctx, t),
            (RaftNode::Admin(a), t) => a.on_timer(ctx, t),
            _ => {}
        }
    }
    fn on_io(&mut self, ctx: &mut Ctx<'_, Self>, done: IoDone) {
        if let RaftNode::Server(s) = self {
            s.on_io(ctx, done);
        }
    }
    fn observe(&self) -> Observation {
        match self {
            RaftNode::Server(s) => s.observe(),
            RaftNode::Client(_) => Observation {
                state: "client",
                fields: Vec::new(),
            },
            RaftNode::Admin(_) => Observation {
                state: "admin",
                fields: Vec::new(),
            },
        }
    }
}

impl Model for RaftModel {
    type Node = RaftNode;

    fn nodes(&self) -> Vec<NodeSpec> {
        let servers = (1..=self.cfg.servers + self.cfg.spare_servers)
            .map(|i| NodeSpec::new(format!("server-{i}"), "server"));
        let clients =
            (1..=self.cfg.clients).map(|i| NodeSpec::new(format!("client-{i}"), "client"));
        let admin = self.admin_id().map(|_| NodeSpec::new("admin", "admin"));
        servers.chain(clients).chain(admin).collect()
    }

    fn boot(&self, id: NodeId) -> RaftNode {
        if id.0 < self.first_client() {
            RaftNode::Server(Box::new(Server::new(
                self.raft_config(),
                self.cfg.read_mode,
                self.cfg.snapshot_threshold,
                self.all_server_ids(),
                self.cfg.reconfigure == Reconfigure::Joint,
            )))
        } else if Some(id) == self.admin_id() {
            RaftNode::Admin(Admin::new(
                self.all_server_ids(),
                self.cfg.reconfigure_interval.0,
                self.cfg.reconfigure_stop.0,
                self.script(),
            ))
        } else {
            RaftNode::Client(Client::new(self.client_settings()))
        }
    }

    fn fault_role(&self) -> &'static str {
        "server"
    }

    fn selectors(&self) -> &'static [&'static str] {
        checks::SELECTORS
    }

    fn select(
        &self,
        view: &View<'_, RaftNode>,
        name: &str,
        arg: Option<&str>,
    ) -> Option<Vec<NodeId>> {
        checks::select(view, name, arg)
    }

    fn catalogue(&self) -> Catalogue {
        checks::CATALOGUE
    }

    fn always(&self, name: &str) -> Option<Box<dyn Invariant<RaftNode>>> {
        checks::always(name)
    }

    fn eventually(
        &self,
        name: &str,
        view: &View<'_, RaftNode>,
        history: &History<KvOp, KvResult>,
    ) -> Option<(String, Vec<NodeId>)> {
        checks::eventually(self, name, view, history)
    }

    fn check_history(
        &self,
        name: &str,
        view: &View<'_, RaftNode>,
        history: &History<KvOp, KvResult>,
        budget: u64,
    ) -> CheckResult {
        checks::history(self, name, view, history, budget)
    }
}
