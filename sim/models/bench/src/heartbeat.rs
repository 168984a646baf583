//! `heartbeat`: one master tracking the liveness of many workers by their heartbeats.
//!
//! This is the membership layer under YARN and HDFS, and the scale model of dsim's
//! benchmarks: its cost grows with the number of nodes and timers rather than with the
//! cleverness of a protocol, so `heartbeat-10k` shows what ten thousand nodes cost the
//! engine for an hour of virtual time.
//!
//! - YARN: every NodeManager heartbeats the ResourceManager
//!   (`yarn.resourcemanager.nodemanagers.heartbeat-interval-ms`, default 1000 ms); the
//!   RM's `NMLivelinessMonitor` declares a NodeManager lost when it has not heard from it
//!   for `yarn.nm.liveness-monitor.expiry-interval-ms` (default 600000 ms, 10 min),
//!   checking every third of that.
//! - HDFS: every DataNode heartbeats the NameNode every `dfs.heartbeat.interval` (default
//!   3 s); the NameNode rechecks every `dfs.namenode.heartbeat.recheck-interval` (default
//!   5 min) and declares a DataNode dead after 2 × recheck + 10 × heartbeat = 10.5 min.
//!
//! Here the master (`master`) keeps, per worker, the local time of its last heartbeat in
//! a `Vec<u64>` indexed by worker. Every `check_interval` it marks dead each worker not
//! heard from for more than `expiry`, and a dead worker that heartbeats again comes back.
//! That last rule is a simplification: in YARN and HDFS a node the master has dropped must
//! register again (the heartbeat response asks the NodeManager to resync, or tells the
//! DataNode to re-register); here its next heartbeat is enough.
//! Workers (`worker-1` .. `worker-W`) heartbeat every `interval`; each draws its first
//! heartbeat uniformly in `[0, interval)` from its own random stream, as real workers that
//! booted at different moments do, so the ten thousand do not all fire at the same instant.
//! The master acks each heartbeat (YARN answers every heartbeat with a
//! `NodeHeartbeatResponse`), so both directions carry traffic.
//!
//! The defaults keep HDFS's 3 s heartbeat and scale the rest down (expiry 30 s instead of
//! 10–10.5 min, a check every 10 s) so that a death is detected within a short run.

use rand::Rng;
use serde::Deserialize;

use dsim_core::check::CheckInfo;
use dsim_core::units::Duration;
use dsim_core::{
    Catalogue, CheckResult, ConfigError, Ctx, History, Invariant, Message, Model, Node, NodeId,
    NodeSpec, Observation, View,
};

/// Workers past which a scenario is refused at load rather than exhausting memory (the
/// default `[limits] max_nodes` of 100,000 refuses even fewer, at load too).
pub const MAX_WORKERS: u32 = 1_000_000;

/// `[model]` of a heartbeat scenario.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HeartbeatConfig {
    /// Workers (the master comes on top).
    pub workers: u32,
    /// Time between two heartbeats of one worker.
    pub interval: Duration,
    /// Silence after which the master declares a worker dead.
    pub expiry: Duration,
    /// Time between two of the master's liveness checks.
    pub check_interval: Duration,
}

impl Default for HeartbeatConfig {
    fn default() -> Self {
        HeartbeatConfig {
            workers: 3,
            interval: Duration::from_secs(3),
            expiry: Duration::from_secs(30),
            check_interval: Duration::from_secs(10),
        }
    }
}

/// Messages between a worker and the master.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HeartbeatMsg {
    /// Worker to master: "still here", with the worker's heartbeat count.
    Heartbeat { seq: u64 },
    /// Master to worker: the answer to heartbeat `seq`.
    Ack { seq: u64 },
}

impl Message for HeartbeatMsg {
    /// A heartbeat carries the node's identity and a status summary (a YARN
    /// `NodeHeartbeatRequest` with an idle `NodeStatus`, an HDFS heartbeat with one storage
    /// report): a couple of hundred bytes. The ack is a response id and no commands.
    fn size_bytes(&self) -> usize {
        match self {
            HeartbeatMsg::Heartbeat { .. } => 200,
            HeartbeatMsg::Ack { .. } => 48,
        }
    }
}

/// Timers: a worker's next heartbeat, the master's next liveness check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HeartbeatTimer {
    Beat,
    Check,
}

/// Never heard from since this master started.
const NEVER: u64 = u64::MAX;

/// The master's state.
#[derive(Clone, Debug)]
pub struct Master {
    expiry_ns: u64,
    check_ns: u64,
    /// Local time at which this incarnation started: a worker never heard from is given
    /// `expiry` from here (a modelling choice: a restarted master cannot know when it last
    /// heard from anyone, so it waits a full expiry before declaring anyone dead).
    started_ns: u64,
    /// Local time of the last heartbeat from worker `i` (node `i + 1`), or [`NEVER`].
    last_seen: Vec<u64>,
    dead: Vec<bool>,
    dead_count: u32,
    heartbeats: u64,
}

impl Master {
    /// Workers this master currently counts live: heard from since it started, and not
    /// marked dead by its last check.
    pub fn live_workers(&self) -> u32 {
        self.last_seen
            .iter()
            .zip(&self.dead)
            .filter(|(seen, dead)| **seen != NEVER && !**dead)
            .count() as u32
    }

    /// Worker indexes (0-based) the master does not count live.
    pub fn not_live(&self) -> impl Iterator<Item = usize> + '_ {
        self.last_seen
            .iter()
            .zip(&self.dead)
            .enumerate()
            .filter(|(_, (seen, dead))| **seen == NEVER || **dead)
            .map(|(i, _)| i)
    }

    /// Workers marked dead by the last check (and not heard from since).
    pub fn dead_workers(&self) -> u32 {
        self.dead_count
    }

    /// Heartbeats received by this incarnation.
    pub fn heartbeats(&self) -> u64 {
        self.heartbeats
    }

    fn check(&mut self, ctx: &mut Ctx<'_, HeartbeatNode>) {
        let now = ctx.now();
        let mut live = 0i64;
        for i in 0..self.last_seen.len() {
            if self.dead[i] {
                continue;
            }
            let heard = self.last_seen[i] != NEVER;
            let since = if heard {
                self.last_seen[i]
            } else {
                self.started_ns
            };
            if now.saturating_sub(since) > self.expiry_ns {
                self.dead[i] = true;
                self.dead_count += 1;
                ctx.note("worker-dead", ctx.cluster()[i + 1].name.clone());
                ctx.reached("worker-declared-dead");
            } else if heard {
                live += 1;
            }
        }
        // Same count as `live_workers()`: heard from, and not dead.
        ctx.metric("live_workers", live);
        ctx.set_timer(HeartbeatTimer::Check, self.check_ns);
    }
}

/// A worker's state.
#[derive(Clone, Debug)]
pub struct Worker {
    interval_ns: u64,
    master: NodeId,
    sent: u64,
    acked: u64,
}

impl Worker {
    /// Heartbeats sent by this incarnation.
    pub fn sent(&self) -> u64 {
        self.sent
    }
    /// Acks received by this incarnation.
    pub fn acked(&self) -> u64 {
        self.acked
    }
}

/// A node of the heartbeat cluster: the master or a worker.
#[derive(Clone, Debug)]
pub enum HeartbeatNode {
    Master(Master),
    Worker(Worker),
}

impl HeartbeatNode {
    pub fn as_master(&self) -> Option<&Master> {
        match self {
            HeartbeatNode::Master(m) => Some(m),
            HeartbeatNode::Worker(_) => None,
        }
    }
}

impl Node for HeartbeatNode {
    type Msg = HeartbeatMsg;
    type Timer = HeartbeatTimer;
    type Call = ();
    type Ret = ();

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        match self {
            HeartbeatNode::Master(m) => {
                m.started_ns = ctx.now();
                ctx.set_timer(HeartbeatTimer::Check, m.check_ns);
            }
            HeartbeatNode::Worker(w) => {
                // Jitter once, at start; after that the worker keeps its own rhythm.
                let first = ctx.rng().gen_range(0..w.interval_ns);
                ctx.set_timer(HeartbeatTimer::Beat, first);
            }
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: HeartbeatMsg) {
        match (self, msg) {
            (HeartbeatNode::Master(m), HeartbeatMsg::Heartbeat { seq }) => {
                let Some(i) = from
                    .index()
                    .checked_sub(1)
                    .filter(|i| *i < m.last_seen.len())
                else {
                    return;
                };
                m.heartbeats += 1;
                m.last_seen[i] = ctx.now();
                if m.dead[i] {
                    m.dead[i] = false;
                    m.dead_count -= 1;
                    ctx.note("worker-back", ctx.cluster()[from.index()].name.clone());
                }
                ctx.send(from, HeartbeatMsg::Ack { seq });
            }
            (HeartbeatNode::Worker(w), HeartbeatMsg::Ack { .. }) => w.acked += 1,
            // Nothing else is ever sent.
            _ => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: HeartbeatTimer) {
        match (self, timer) {
            (HeartbeatNode::Master(m), HeartbeatTimer::Check) => m.check(ctx),
            (HeartbeatNode::Worker(w), HeartbeatTimer::Beat) => {
                w.sent += 1;
                ctx.send(w.master, HeartbeatMsg::Heartbeat { seq: w.sent });
                ctx.set_timer(HeartbeatTimer::Beat, w.interval_ns);
            }
            _ => {}
        }
    }

    fn observe(&self) -> Observation {
        let clamp = |x: u64| i64::try_from(x).unwrap_or(i64::MAX);
        match self {
            HeartbeatNode::Master(m) => Observation {
                state: "master",
                fields: vec![
                    ("live_workers", m.live_workers() as i64),
                    ("dead_workers", m.dead_count as i64),
                    ("heartbeats", clamp(m.heartbeats)),
                ],
            },
            HeartbeatNode::Worker(w) => Observation {
                state: "worker",
                fields: vec![("sent", clamp(w.sent)), ("acked", clamp(w.acked))],
            },
        }
    }
}

/// The heartbeat model: a validated [`HeartbeatConfig`].
#[derive(Clone, Debug)]
pub struct Heartbeat {
    cfg: HeartbeatConfig,
}

/// The master is node 0; worker `k` (named `worker-k`) is node `k`.
pub const MASTER: NodeId = NodeId(0);

const EVENTUALLY: &[CheckInfo] = &[CheckInfo {
    name: "all-workers-live",
    about: "at the end of the heal phase the master is up and counts every worker live",
}];

const SOMETIMES: &[CheckInfo] = &[CheckInfo {
    name: "worker-declared-dead",
    about: "the master declared at least one worker dead (its heartbeats stopped for longer than expiry)",
}];

impl Heartbeat {
    /// Refuses a cluster with no worker or too many, a zero interval, or an expiry that a
    /// healthy worker could not meet.
    pub fn new(cfg: HeartbeatConfig) -> Result<Heartbeat, ConfigError> {
        if cfg.workers == 0 {
            return Err(ConfigError::new(
                "workers",
                "heartbeat needs at least one worker",
                Some("use workers = 1 or more".to_string()),
            ));
        }
        if cfg.workers > MAX_WORKERS {
            return Err(ConfigError::new(
                "workers",
                format!(
                    "{} workers is over heartbeat's limit of {MAX_WORKERS}",
                    cfg.workers
                ),
                Some("10,000 workers already show how the engine scales".to_string()),
            ));
        }
        if cfg.interval == Duration::ZERO {
            return Err(ConfigError::new(
                "interval",
                "a heartbeat interval of 0 would make every worker beat without end at one instant",
                Some("use e.g. interval = \"3s\" (HDFS's dfs.heartbeat.interval)".to_string()),
            ));
        }
        if cfg.expiry <= cfg.interval {
            return Err(ConfigError::new(
                "expiry",
                format!(
                    "expiry {} is not longer than the heartbeat interval {}: healthy workers would be declared dead",
                    cfg.expiry, cfg.interval
                ),
                Some("make expiry several intervals long, e.g. 10 x interval".to_string()),
            ));
        }
        if cfg.check_interval == Duration::ZERO {
            return Err(ConfigError::new(
                "check_interval",
                "a check interval of 0 would make the master check without end at one instant",
                Some("use e.g. check_interval = \"10s\"".to_string()),
            ));
        }
        Ok(Heartbeat { cfg })
    }

    pub fn config(&self) -> &HeartbeatConfig {
        &self.cfg
    }
}

impl Model for Heartbeat {
    type Node = HeartbeatNode;

    fn nodes(&self) -> Vec<NodeSpec> {
        let mut v = Vec::with_capacity(self.cfg.workers as usize + 1);
        v.push(NodeSpec::new("master", "master"));
        v.extend((1..=self.cfg.workers).map(|k| NodeSpec::new(format!("worker-{k}"), "worker")));
        v
    }

    fn boot(&self, id: NodeId) -> HeartbeatNode {
        if id == MASTER {
            let w = self.cfg.workers as usize;
            HeartbeatNode::Master(Master {
                expiry_ns: self.cfg.expiry.as_ns(),
                check_ns: self.cfg.check_interval.as_ns(),
                started_ns: 0,
                last_seen: vec![NEVER; w],
                dead: vec![false; w],
                dead_count: 0,
                heartbeats: 0,
            })
        } else {
            HeartbeatNode::Worker(Worker {
                interval_ns: self.cfg.interval.as_ns(),
                master: MASTER,
                sent: 0,
                acked: 0,
            })
        }
    }

    fn fault_role(&self) -> &'static str {
        "worker"
    }

    fn catalogue(&self) -> Catalogue {
        Catalogue {
            always: &[],
            eventually: EVENTUALLY,
            sometimes: SOMETIMES,
            history: &[],
        }
    }

    fn always(&self, _name: &str) -> Option<Box<dyn Invariant<HeartbeatNode>>> {
        None
    }

    fn eventually(
        &self,
        name: &str,
        view: &View<'_, HeartbeatNode>,
        _history: &History<(), ()>,
    ) -> Option<(String, Vec<NodeId>)> {
        if name != "all-workers-live" {
            return Some(("no such check".into(), vec![]));
        }
        let Some(master) = view.node(MASTER).and_then(HeartbeatNode::as_master) else {
            return Some((
                "the master is not running at the end of the heal phase".into(),
                vec![MASTER],
            ));
        };
        let missing: Vec<usize> = master.not_live().collect();
        if missing.is_empty() {
            return None;
        }
        const SHOWN: usize = 10;
        let ids: Vec<NodeId> = missing
            .iter()
            .take(SHOWN)
            .map(|i| NodeId(*i as u32 + 1))
            .collect();
        let names: Vec<&str> = ids.iter().map(|id| view.name(*id)).collect();
        let more = missing.len().saturating_sub(SHOWN);
        let more_text = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        Some((
            format!(
                "at the end of the heal phase the master counts {} of {} workers live; not live: {}{}",
                master.live_workers(),
                self.cfg.workers,
                names.join(", "),
                more_text
            ),
            ids,
        ))
    }

    fn check_history(
        &self,
        _name: &str,
        _view: &View<'_, HeartbeatNode>,
        _history: &History<(), ()>,
        _budget: u64,
    ) -> CheckResult {
        CheckResult::Unknown {
            detail: "no such check".into(),
        }
    }
}
