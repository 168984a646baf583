//! A quorum-replicated register: the NWR scheme of domain note 004 ("N replicas, a write
//! waits for W acknowledgements, a read for R replies; W + R > N gives strong
//! consistency"), built as multi-writer ABD so that the claim can be tested — and shown
//! false without the read's write-back phase.
//!
//! Roles: `replica` (N of them) and `client`. See `client.rs` for the protocol,
//! `replica.rs` for storage and durability, `checks.rs` for what is checked, and
//! docs/models/quorum.md for the lessons and their sources.

pub mod checks;
pub mod client;
pub mod msg;
pub mod replica;

use dsim_core::units::{Duration, Probability};
use dsim_core::{
    Catalogue, CheckResult, ConfigError, Ctx, History, Invariant, IoDone, Model, NodeId, NodeSpec,
    Observation, View,
};
use serde::Deserialize;

use client::{Client, ClientSettings};
use msg::{Msg, Tag};
use replica::Replica;

/// `[model]` of a quorum scenario.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QuorumConfig {
    /// N: how many replicas hold each key.
    pub replicas: u32,
    /// W: acknowledgements a write (and a write-back) waits for.
    pub w: u32,
    /// R: replies a read (and a write's query round) waits for.
    pub r: u32,
    /// ABD's read write-back phase. Off: W + R > N no longer gives linearizability.
    pub write_back: bool,
    /// Bug switch: when false, a replica acknowledges a write before it is on disk, so a
    /// crash can lose an acknowledged write ("fsync before ack" is what makes an
    /// acknowledgement a promise; cf. Pillai et al., OSDI 2014, and Ganesan et al.,
    /// FAST 2017, on how real systems get this wrong).
    pub fsync_before_ack: bool,
    /// Bug switch: when false, a client whose write timed out may reuse that write's tag
    /// for its next write (the next query quorum can miss the abandoned write), putting two
    /// values under one tag. ABD assumes a writer's writes complete one after another;
    /// timeouts break that. Found by dsim in a 1,000-seed sweep of nwr-strict.
    pub unique_write_tags: bool,
    pub clients: u32,
    /// How many registers (keys); each operation picks one at random.
    pub keys: u32,
    /// Fraction of operations that are reads.
    pub read_ratio: Probability,
    /// A client gives up on an operation after this long (it ends as `info`).
    pub op_timeout: Duration,
    /// Pause between a client's operations: uniform in [think_min, think_max].
    pub think_min: Duration,
    pub think_max: Duration,
}

impl Default for QuorumConfig {
    fn default() -> Self {
        QuorumConfig {
            replicas: 3,
            w: 2,
            r: 2,
            write_back: true,
            fsync_before_ack: true,
            unique_write_tags: true,
            clients: 3,
            keys: 1,
            read_ratio: Probability::one_in(2),
            op_timeout: Duration::from_ms(500),
            think_min: Duration::from_ms(5),
            think_max: Duration::from_ms(50),
        }
    }
}

/// Limits that keep a scenario within what the checkers can handle.
pub const MAX_REPLICAS: u32 = 64;
pub const MAX_CLIENTS: u32 = 256;
pub const MAX_KEYS: u32 = 1024;

/// The model, built from a validated configuration.
#[derive(Clone, Debug)]
pub struct Quorum {
    pub cfg: QuorumConfig,
}

impl Quorum {
    pub fn new(cfg: QuorumConfig) -> Result<Quorum, ConfigError> {
        let n = cfg.replicas;
        if n == 0 {
            return Err(ConfigError::new(
                "replicas",
                "a register needs at least one replica",
                Some("replicas = 3 is the usual N".into()),
            ));
        }
        if n > MAX_REPLICAS {
            return Err(ConfigError::new(
                "replicas",
                format!("{n} replicas is over the limit of {MAX_REPLICAS}"),
                None,
            ));
        }
        for (key, v) in [("w", cfg.w), ("r", cfg.r)] {
            if v == 0 {
                return Err(ConfigError::new(
                    key,
                    format!(
                        "{} = 0 would complete without hearing from any replica",
                        key.to_uppercase()
                    ),
                    Some("use 1..=replicas".into()),
                ));
            }
            if v > n {
                return Err(ConfigError::new(
                    key,
                    format!("{} = {v} is larger than N = {n}: no operation could ever gather {v} answers", key.to_uppercase()),
                    Some(format!("use {} <= replicas ({n})", key.to_uppercase())),
                ));
            }
        }
        if cfg.clients == 0 {
            return Err(ConfigError::new(
                "clients",
                "no clients: nothing would happen",
                Some("clients = 3".into()),
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
        if cfg.op_timeout.0 == 0 {
            return Err(ConfigError::new(
                "op_timeout",
                "op_timeout must be above zero",
                Some("e.g. \"500ms\"".into()),
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
        Ok(Quorum { cfg })
    }

    pub fn replica_ids(&self) -> impl Iterator<Item = NodeId> {
        (0..self.cfg.replicas).map(NodeId)
    }

    /// A client's number as its name gives it: node `client-2` is client 2.
    pub fn client_number(&self, id: NodeId) -> u32 {
        id.0.saturating_sub(self.cfg.replicas) + 1
    }

    fn settings(&self) -> ClientSettings {
        ClientSettings {
            replicas: self.replica_ids().collect(),
            w: self.cfg.w as usize,
            r: self.cfg.r as usize,
            write_back: self.cfg.write_back,
            unique_write_tags: self.cfg.unique_write_tags,
            keys: self.cfg.keys,
            read_ppb: self.cfg.read_ratio.0,
            op_timeout_ns: self.cfg.op_timeout.0,
            think_min_ns: self.cfg.think_min.0,
            think_max_ns: self.cfg.think_max.0,
        }
    }
}

/// What a client asks.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum QCall {
    Read { key: u32 },
    Write { key: u32, value: i64 },
}

impl QCall {
    pub fn key(&self) -> u32 {
        match self {
            QCall::Read { key } | QCall::Write { key, .. } => *key,
        }
    }
}

/// What a client is told.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum QRet {
    Read { value: Option<i64>, tag: Tag },
    Written { tag: Tag },
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Timer {
    /// Time to start the next operation.
    Think,
    /// The operation with this number has waited long enough.
    OpTimeout(u64),
}

/// A node of the quorum model, by role.
#[derive(Debug)]
pub enum QNode {
    Replica(Replica),
    Client(Client),
}

impl dsim_core::Node for QNode {
    type Msg = Msg;
    type Timer = Timer;
    type Call = QCall;
    type Ret = QRet;

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        match self {
            QNode::Replica(r) => r.on_start(ctx),
            QNode::Client(c) => c.on_start(ctx),
        }
    }
    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match self {
            QNode::Replica(r) => r.on_message(ctx, from, msg),
            QNode::Client(c) => c.on_message(ctx, from, msg),
        }
    }
    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        if let QNode::Client(c) = self {
            c.on_timer(ctx, timer);
        }
    }
    fn on_io(&mut self, ctx: &mut Ctx<'_, Self>, done: IoDone) {
        if let QNode::Replica(r) = self {
            r.on_io(ctx, done);
        }
    }
    fn observe(&self) -> Observation {
        match self {
            QNode::Replica(r) => r.observe(),
            QNode::Client(_) => Observation {
                state: "client",
                fields: Vec::new(),
            },
        }
    }
}

impl Model for Quorum {
    type Node = QNode;

    fn nodes(&self) -> Vec<NodeSpec> {
        let replicas =
            (1..=self.cfg.replicas).map(|i| NodeSpec::new(format!("replica-{i}"), "replica"));
        let clients =
            (1..=self.cfg.clients).map(|i| NodeSpec::new(format!("client-{i}"), "client"));
        replicas.chain(clients).collect()
    }

    fn boot(&self, id: NodeId) -> QNode {
        if id.0 < self.cfg.replicas {
            QNode::Replica(Replica::new(self.cfg.keys, self.cfg.fsync_before_ack))
        } else {
            QNode::Client(Client::new(self.settings()))
        }
    }

    fn fault_role(&self) -> &'static str {
        "replica"
    }

    fn catalogue(&self) -> Catalogue {
        checks::CATALOGUE
    }

    fn always(&self, name: &str) -> Option<Box<dyn Invariant<QNode>>> {
        checks::always(self, name)
    }

    fn eventually(
        &self,
        name: &str,
        view: &View<'_, QNode>,
        history: &History<QCall, QRet>,
    ) -> Option<(String, Vec<NodeId>)> {
        checks::eventually(self, name, view, history)
    }

    fn check_history(
        &self,
        name: &str,
        view: &View<'_, QNode>,
        history: &History<QCall, QRet>,
        budget: u64,
    ) -> CheckResult {
        checks::history(self, name, view, history, budget)
    }
}
