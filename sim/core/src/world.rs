//! The world: nodes, network, disks, faults and checks, driven one event at a time.
//!
//! `run` is a pure function of (model, configuration, seed): one thread, integer virtual
//! time, events ordered by (time, sequence), every random draw from a stream derived from
//! the seed (design brief §1, §4). Each step pops the earliest event, hands it to one
//! node's handler, applies the effects the handler pushed, folds the event into the
//! digest (and the trace file, if asked) and runs the `always` invariants on that node.
//! At the end of the fault phase every fault is lifted; at the end of the heal phase the
//! `eventually`, `sometimes` and history checks give the verdict.

use std::collections::{BTreeMap, BTreeSet};
use std::panic::{catch_unwind, AssertUnwindSafe};

use rand::seq::SliceRandom;
use rand::Rng;
use serde::Serialize;

use crate::check::{CheckClass, CheckResult, Invariant, Violation};
use crate::clock::Clock;
use crate::config::{
    ChecksConfig, DiskConfig, DiskFault, FaultKind, FaultSpec, Limits, NemesisConfig,
    NetworkConfig, PartitionShape, PhaseConfig, TopologyConfig,
};
use crate::digest::Digest;
use crate::disk::Disk;
use crate::fault::PlannedFault;
use crate::history::History;
use crate::id::{NodeId, NodeSpec};
use crate::model::Model;
use crate::net::{Fate, Network, NodeSet, Sampler};
use crate::node::{Ctx, Effect, IoDone, Message, Node, Observation};
use crate::queue::EventQueue;
use crate::rng::{derive, SimRng};
use crate::select::Selector;
use crate::topology::Topology;
use crate::trace::{TraceLine, TraceSink};
use crate::units::{format_exact, format_ns, Duration};

/// Everything the engine needs from a scenario.
#[derive(Clone, Debug, Default)]
pub struct RunConfig {
    pub network: NetworkConfig,
    pub disk: DiskConfig,
    pub topology: TopologyConfig,
    pub phases: PhaseConfig,
    pub faults: Vec<PlannedFault>,
    pub nemesis: Option<NemesisConfig>,
    pub limits: Limits,
    pub checks: ChecksConfig,
}

/// What to record beyond the verdict and digest.
#[derive(Default)]
pub struct RunOptions<'a> {
    pub trace: Option<&'a mut dyn TraceSink>,
    /// Keep the rolling digest after every event (for `--check-determinism`).
    pub event_digests: bool,
    /// Keep notes, metric samples and observations (for reports and plots).
    pub record: bool,
    /// When recording: keep at most this many messages (None: all of them). The first
    /// half are kept exactly; past them, a sample: every `stride`-th send, the stride
    /// doubling each time the cap is reached (see `RunReport::message_sampling`).
    /// Messages not kept are counted in `RunReport::messages_unrecorded`.
    pub max_messages: Option<usize>,
    /// When recording: keep only messages sent in this window of virtual time (inclusive).
    pub message_window: Option<(u64, u64)>,
    /// When recording: keep at most this many notes, and as many metric samples (None:
    /// all). With a cap, a node's `observe()` numbers are also sampled, not kept at each
    /// change: at most one record per node per 1/1000 of the run's phases, plus every
    /// change of status or role and each node's final state (changes of numbers alone stop
    /// being kept once `states` holds this many records); and a node is asked for its
    /// `observe()` at most 16 times per such window while its status holds (so a role
    /// change on a very busy node is seen up to 1/1000 of the run late).
    pub max_records: Option<usize>,
    /// Describe this event (by index) in words, for divergence reports.
    pub describe_event: Option<u64>,
}

/// The verdict of a run. It has no `Ord` on purpose: compare runs by `severity`, which
/// is neither the declaration order nor the exit-code order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    #[default]
    Valid,
    /// A safety invariant or history checker failed.
    Violation,
    /// An `eventually` did not come true by the end of the heal phase.
    Liveness,
    /// A `sometimes` mark was never reached.
    NeverReached,
    /// A model panicked.
    Panic,
    /// A checker gave up within its budget.
    Unknown,
    /// A limit was exceeded.
    Limit,
}

impl Verdict {
    pub const ALL: [Verdict; 7] = [
        Verdict::Valid,
        Verdict::Violation,
        Verdict::Liveness,
        Verdict::NeverReached,
        Verdict::Panic,
        Verdict::Unknown,
        Verdict::Limit,
    ];
    /// The verdict `name` gives (the inverse of [`Verdict::name`]).
    pub fn from_name(name: &str) -> Option<Verdict> {
        Verdict::ALL.into_iter().find(|v| v.name() == name)
    }
    /// Exit code, as in the design brief §8.
    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::Valid => 0,
            Verdict::Violation => 1,
            Verdict::Limit => 2,
            Verdict::Liveness => 3,
            Verdict::NeverReached => 4,
            Verdict::Panic => 5,
            Verdict::Unknown => 6,
        }
    }
    /// Higher is worse; a sweep reports the most severe run's code.
    pub fn severity(self) -> u8 {
        match self {
            Verdict::Valid => 0,
            Verdict::Unknown => 1,
            Verdict::NeverReached => 2,
            Verdict::Liveness => 3,
            Verdict::Violation => 4,
            Verdict::Limit => 5,
            Verdict::Panic => 6,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Valid => "valid",
            Verdict::Violation => "violation",
            Verdict::Liveness => "liveness",
            Verdict::NeverReached => "never-reached",
            Verdict::Panic => "panic",
            Verdict::Unknown => "unknown",
            Verdict::Limit => "limit",
        }
    }
}

/// A fault as it happened: when, what, and whom it hit.
#[derive(Clone, Debug, Serialize)]
pub struct FaultRecord {
    pub at_ns: u64,
    pub kind: String,
    pub nodes: Vec<String>,
    pub detail: String,
}

/// A note a node wrote, for reports.
#[derive(Clone, Debug, Serialize)]
pub struct NoteRecord {
    pub at_ns: u64,
    pub node: u32,
    pub kind: &'static str,
    pub detail: String,
}

/// A metric sample, for plots.
#[derive(Clone, Debug, Serialize)]
pub struct Sample {
    pub at_ns: u64,
    pub node: u32,
    pub name: &'static str,
    pub value: i64,
}

/// A message send or delivery, for Lamport diagrams (kept only when recording).
#[derive(Clone, Debug, Serialize)]
pub struct MessageRecord {
    /// The send's index among the run's sends (while recording), for sampling.
    pub seq: u64,
    pub sent_ns: u64,
    pub from: u32,
    pub to: u32,
    /// None when the message never arrived (lost, partitioned, node down).
    pub delivered_ns: Option<u64>,
    /// Indices of the send's event and of the delivery's: the order in which a node saw
    /// them (a reply sent while handling a delivery shares its virtual time).
    pub sent_event: u64,
    pub delivered_event: Option<u64>,
    pub summary: String,
}

/// A node's status and `observe()` summary from `at_ns` on, kept (when recording) each
/// time either changes: the role lanes of a report's timeline.
#[derive(Clone, Debug, Serialize)]
pub struct StateRecord {
    pub at_ns: u64,
    pub node: u32,
    /// "up", "down" or "paused".
    pub status: &'static str,
    /// `Observation::state` ("leader", "follower", ...); "down" while crashed.
    pub state: &'static str,
    pub fields: Vec<(&'static str, i64)>,
}

/// A client operation, for reports (kept only when recording).
#[derive(Clone, Debug, Serialize)]
pub struct OpRecord {
    pub id: u64,
    pub client: u32,
    pub invoke_ns: u64,
    pub complete_ns: Option<u64>,
    /// "ok", "fail", "info", or "pending" when the run ended first.
    pub outcome: &'static str,
    pub call: String,
    pub ret: Option<String>,
    pub applied: bool,
}

/// Panic details: where and what.
#[derive(Clone, Debug, Serialize)]
pub struct PanicInfo {
    pub node: String,
    pub event: u64,
    pub at_ns: u64,
    /// What the panic said (the CLI appends " (at file:line)" when it knows where).
    pub message: String,
    /// Where in the code it happened (`file:line`), when the runner's panic hook saw it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

/// The outcome of one run. (`Default` is an empty report, for runs that never started.)
#[derive(Clone, Debug, Default, Serialize)]
pub struct RunReport {
    pub seed: u64,
    pub verdict: Verdict,
    pub digest: String,
    pub events: u64,
    pub sim_time_ns: u64,
    pub violations: Vec<Violation>,
    pub unknown: Vec<String>,
    pub panic: Option<PanicInfo>,
    pub limit: Option<String>,
    pub metrics: BTreeMap<String, i64>,
    pub marks: BTreeSet<String>,
    pub faults: Vec<FaultRecord>,
    /// Every fault as it happened, spelled out as a scripted `[[faults]]` entry that names
    /// its nodes (`nodes(...)`): the nemesis' draws made explicit, for `dsim shrink`.
    #[serde(skip)]
    pub fault_plan: Vec<FaultSpec>,
    #[serde(skip)]
    pub notes: Vec<NoteRecord>,
    #[serde(skip)]
    pub samples: Vec<Sample>,
    #[serde(skip)]
    pub messages: Vec<MessageRecord>,
    /// Messages sent but not kept (past `RunOptions::max_messages` or outside its window).
    #[serde(skip)]
    pub messages_unrecorded: u64,
    /// When `max_messages` made the recording sample: (how many of `messages` are the
    /// exact prefix, the stride of the sample after it).
    #[serde(skip)]
    pub message_sampling: Option<(usize, u64)>,
    #[serde(skip)]
    pub states: Vec<StateRecord>,
    #[serde(skip)]
    pub history: Vec<OpRecord>,
    #[serde(skip)]
    pub event_digests: Vec<u64>,
    #[serde(skip)]
    pub described_event: Option<String>,
    #[serde(skip)]
    pub observations: Vec<(String, Observation)>,
    #[serde(skip)]
    pub node_names: Vec<String>,
}

/// A model-independent description of a run's failure to even start.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WorldError {
    #[error("the model has {nodes} nodes, over the limit of {limit} (`[limits] max_nodes`)")]
    TooManyNodes { nodes: usize, limit: u32 },
    #[error("the model has no nodes")]
    NoNodes,
    #[error("unknown {kind} check `{name}`")]
    UnknownCheck { kind: &'static str, name: String },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    Up,
    Down,
    Paused,
}

/// One node's place in the world (its name and role are in `World::specs`).
pub struct Slot<N: Node> {
    node: Option<N>,
    status: Status,
    incarnation: u32,
    rng: SimRng,
    disk: Disk,
    clock: Clock,
    /// Pending timers: generation (a stale event carries an older one) and the deadline
    /// on the node's monotonic clock.
    timers: BTreeMap<N::Timer, (u64, i128)>,
    timer_gen: u64,
    deferred: Vec<Ev<N>>,
    /// A `Start` event is queued: a second restart must not queue another.
    booting: bool,
}

/// Read-only access to the world for invariants, selectors and checkers.
pub struct View<'a, N: Node> {
    slots: &'a [Slot<N>],
    specs: &'a [NodeSpec],
    now_ns: u64,
    topology: &'a Topology,
}

impl<'a, N: Node> View<'a, N> {
    pub fn now_ns(&self) -> u64 {
        self.now_ns
    }
    pub fn len(&self) -> usize {
        self.slots.len()
    }
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
    pub fn spec(&self, id: NodeId) -> &'a NodeSpec {
        &self.specs[id.index()]
    }
    /// The node's state, when it is running (up or paused).
    pub fn node(&self, id: NodeId) -> Option<&'a N> {
        self.slots[id.index()].node.as_ref()
    }
    pub fn is_up(&self, id: NodeId) -> bool {
        self.slots[id.index()].status == Status::Up
    }
    pub fn is_crashed(&self, id: NodeId) -> bool {
        self.slots[id.index()].status == Status::Down
    }
    pub fn disk(&self, id: NodeId) -> &'a Disk {
        &self.slots[id.index()].disk
    }
    pub fn ids(&self) -> impl Iterator<Item = NodeId> {
        (0..self.slots.len() as u32).map(NodeId)
    }
    pub fn with_role<'b>(&'b self, role: &'b str) -> impl Iterator<Item = NodeId> + 'b {
        self.ids()
            .filter(move |id| self.specs[id.index()].role == role)
    }
    pub fn name(&self, id: NodeId) -> &'a str {
        &self.specs[id.index()].name
    }
    pub fn topology(&self) -> &'a Topology {
        self.topology
    }
}

/// Under `RunOptions::max_records`, `observe()` calls per node per sampling window
/// (1/1000 of the run's phases) when its status does not change.
const OBSERVE_PER_WINDOW: u32 = 16;

/// Events of the queue.
enum Ev<N: Node> {
    Start(NodeId),
    Deliver {
        from: NodeId,
        to: NodeId,
        msg: N::Msg,
        /// The message's `MessageRecord::seq`, when recorded.
        record: Option<u64>,
    },
    Timer {
        node: NodeId,
        timer: N::Timer,
        gen: u64,
    },
    Io {
        node: NodeId,
        incarnation: u32,
        token: u64,
    },
    Fault(usize),
    Undo(Undo),
    Nemesis,
    HealPhase,
}

enum Undo {
    Restart(Vec<NodeId>),
    Resume(Vec<NodeId>),
    Heal(u64, Vec<NodeId>),
    Clock(Vec<NodeId>, i64),
    Drift(Vec<NodeId>),
    Slow(Vec<NodeId>),
    Disk(Vec<NodeId>),
}

/// Event kinds, as tags in the digest and names in the trace.
const TAGS: [&str; 8] = [
    "start",
    "deliver",
    "timer",
    "io",
    "fault",
    "undo",
    "nemesis",
    "heal-phase",
];

impl<N: Node> Ev<N> {
    fn tag(&self) -> u64 {
        match self {
            Ev::Start(_) => 0,
            Ev::Deliver { .. } => 1,
            Ev::Timer { .. } => 2,
            Ev::Io { .. } => 3,
            Ev::Fault(_) => 4,
            Ev::Undo(_) => 5,
            Ev::Nemesis => 6,
            Ev::HealPhase => 7,
        }
    }
    fn node(&self) -> Option<NodeId> {
        match self {
            Ev::Start(n) | Ev::Timer { node: n, .. } | Ev::Io { node: n, .. } => Some(*n),
            Ev::Deliver { to, .. } => Some(*to),
            _ => None,
        }
    }
}

/// Counters every run keeps.
#[derive(Default)]
struct Counters {
    sent: i64,
    delivered: i64,
    lost: i64,
    partitioned: i64,
    to_down_node: i64,
    duplicated: i64,
    timers: i64,
    fsyncs: i64,
    crashes: i64,
    restarts: i64,
    pauses: i64,
    partitions: i64,
}

/// Why the loop stopped early.
enum Stop {
    Panic(PanicInfo),
    Limit(String),
}

struct World<'m, 'o, M: Model> {
    model: &'m M,
    cfg: &'m RunConfig,
    seed: u64,
    opts: RunOptions<'o>,
    specs: Vec<NodeSpec>,
    slots: Vec<Slot<M::Node>>,
    queue: EventQueue<Ev<M::Node>>,
    net: Network,
    net_rng: SimRng,
    fault_rng: SimRng,
    disk_rng: SimRng,
    fsync: Sampler,
    topology: Topology,
    now_ns: u64,
    events: u64,
    digest: Digest,
    effects: Vec<Effect<M::Node>>,
    history: History<<M::Node as Node>::Call, <M::Node as Node>::Ret>,
    next_op: u64,
    invariants: Vec<Armed<M::Node>>,
    violations: Vec<Violation>,
    marks: BTreeSet<String>,
    faults: Vec<FaultRecord>,
    fault_plan: Vec<FaultSpec>,
    notes: Vec<NoteRecord>,
    samples: Vec<Sample>,
    messages: Vec<MessageRecord>,
    /// Sends seen while recording, and the sampling stride past the exact prefix.
    message_seq: u64,
    message_stride: u64,
    states: Vec<StateRecord>,
    /// Per node, the index in `states` of its latest record (recording only).
    last_state: Vec<Option<usize>>,
    /// Per node, under `max_records`: the sampling window of its last `observe()` call and
    /// how many calls it had in that window.
    observed: Vec<(u64, u32)>,
    event_digests: Vec<u64>,
    described: Option<String>,
    counters: Counters,
    healing: bool,
    /// Nodes isolated by the nemesis (they count against `max_faulty`).
    nemesis_isolated: BTreeSet<NodeId>,
    max_queue: usize,
}

/// An `always` invariant with its name, and whether it has fired (each reports once).
type Armed<N> = (String, Box<dyn Invariant<N>>, bool);

/// Runs one scenario with one seed.
pub fn run<M: Model>(
    model: &M,
    cfg: &RunConfig,
    seed: u64,
    opts: RunOptions<'_>,
) -> Result<RunReport, WorldError> {
    let mut w = World::new(model, cfg, seed, opts)?;
    let stop = w.run_loop();
    Ok(w.finish(stop))
}

impl<'m, 'o, M: Model> World<'m, 'o, M> {
    fn new(
        model: &'m M,
        cfg: &'m RunConfig,
        seed: u64,
        opts: RunOptions<'o>,
    ) -> Result<Self, WorldError> {
        let specs = model.nodes();
        if specs.is_empty() {
            return Err(WorldError::NoNodes);
        }
        if specs.len() > cfg.limits.max_nodes as usize {
            return Err(WorldError::TooManyNodes {
                nodes: specs.len(),
                limit: cfg.limits.max_nodes,
            });
        }
        let mut invariants = Vec::new();
        for name in &cfg.checks.always {
            let inv = model.always(name).ok_or_else(|| WorldError::UnknownCheck {
                kind: "always",
                name: name.clone(),
            })?;
            invariants.push((name.clone(), inv, false));
        }
        let slots = (0..specs.len())
            .map(|i| Slot {
                node: None,
                status: Status::Down,
                incarnation: 0,
                rng: derive(seed, &format!("node/{i}")),
                disk: Disk::new(cfg.disk.capacity_bytes),
                clock: Clock::default(),
                timers: BTreeMap::new(),
                timer_gen: 0,
                deferred: Vec::new(),
                booting: true,
            })
            .collect();
        let n = specs.len();
        let racks_asked: Vec<Option<u32>> = specs.iter().map(|s| s.rack).collect();
        let topology = Topology::new(&cfg.topology, &racks_asked);
        let mut w = World {
            model,
            cfg,
            seed,
            opts,
            specs,
            slots,
            queue: EventQueue::with_capacity(n * 4 + 64),
            net: Network::new(&cfg.network, n),
            net_rng: derive(seed, "net"),
            fault_rng: derive(seed, "faults"),
            disk_rng: derive(seed, "disk"),
            fsync: Sampler::new(&cfg.disk.fsync_latency),
            topology,
            now_ns: 0,
            events: 0,
            digest: Digest::default(),
            effects: Vec::with_capacity(64),
            history: History::default(),
            next_op: 0,
            invariants,
            violations: Vec::new(),
            marks: BTreeSet::new(),
            faults: Vec::new(),
            fault_plan: Vec::new(),
            notes: Vec::new(),
            samples: Vec::new(),
            messages: Vec::new(),
            message_seq: 0,
            message_stride: 1,
            states: Vec::new(),
            last_state: vec![None; n],
            observed: vec![(0, 0); n],
            event_digests: Vec::new(),
            described: None,
            counters: Counters::default(),
            healing: false,
            nemesis_isolated: BTreeSet::new(),
            max_queue: cfg.limits.max_queue.min(usize::MAX as u64) as usize,
        };
        w.digest.word(seed);
        for i in 0..n {
            w.queue.push(0, Ev::Start(NodeId(i as u32)));
        }
        for (i, f) in cfg.faults.iter().enumerate() {
            w.queue.push(f.at_ns, Ev::Fault(i));
        }
        if let Some(nem) = &cfg.nemesis {
            let first = w
                .fault_rng
                .gen_range(nem.interval_min.0..=nem.interval_max.0.max(nem.interval_min.0));
            if first < cfg.phases.fault_phase.0 {
                w.queue.push(first, Ev::Nemesis);
            }
        }
        w.queue.push(cfg.phases.fault_phase.0, Ev::HealPhase);
        if let Some(sink) = w.opts.trace.as_deref_mut() {
            sink.line(&TraceLine::Nodes {
                nodes: w.specs.iter().map(|s| (s.name.as_str(), s.role)).collect(),
            });
        }
        Ok(w)
    }

    fn run_loop(&mut self) -> Option<Stop> {
        let end_ns = self.cfg.phases.end_ns();
        let max_events = self.cfg.limits.max_events;
        let max_time_ns = self.cfg.limits.max_time.map(|d| d.0).unwrap_or(u64::MAX);
        while let Some(item) = self.queue.pop() {
            if item.at_ns > end_ns {
                break;
            }
            self.now_ns = item.at_ns;
            if self.now_ns > max_time_ns {
                return Some(Stop::Limit(format!(
                    "virtual time reached {}, past `[limits] max_time` = {}",
                    format_ns(self.now_ns),
                    format_ns(max_time_ns)
                )));
            }
            if self.events >= max_events {
                return Some(Stop::Limit(format!(
                    "the run reached {} events, the limit set by `[limits] max_events`, at {}; raise it or shorten the run",
                    max_events,
                    format_ns(self.now_ns)
                )));
            }
            let index = self.events;
            self.events += 1;
            let ev = item.event;
            self.digest.word(item.at_ns);
            self.digest.word(item.seq);
            self.digest.word(ev.tag());
            if let Some(n) = ev.node() {
                self.digest.word(n.0 as u64);
            }
            if self.opts.trace.is_some() || self.opts.describe_event == Some(index) {
                self.describe(index, item.at_ns, item.seq, &ev);
            }
            let touched = ev.node();
            // A panic anywhere in the event (a handler, the model's boot, an invariant, a
            // message's size or hash) is caught here and reported with the event's index.
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                self.dispatch(ev)?;
                if let Some(node) = touched {
                    self.check_always(index, node);
                }
                if self.opts.record {
                    self.record_states(touched);
                }
                Ok(())
            }));
            match outcome {
                Ok(Ok(())) => {}
                Ok(Err(stop)) => return Some(stop),
                Err(payload) => {
                    return Some(Stop::Panic(PanicInfo {
                        node: touched
                            .map(|n| self.specs[n.index()].name.clone())
                            .unwrap_or_else(|| "(engine: fault or selector)".into()),
                        event: index,
                        at_ns: self.now_ns,
                        message: panic_message(&*payload),
                        location: None,
                    }))
                }
            }
            if self.opts.event_digests {
                self.event_digests.push(self.digest.get());
            }
            if self.queue.len() > self.max_queue {
                return Some(Stop::Limit(format!(
                    "the event queue holds {} events, over `[limits] max_queue` = {}, at {}; a node may be sending without bound",
                    self.queue.len(),
                    self.max_queue,
                    format_ns(self.now_ns)
                )));
            }
        }
        self.now_ns = self.now_ns.max(end_ns);
        None
    }

    fn describe(&mut self, index: u64, at_ns: u64, seq: u64, ev: &Ev<M::Node>) {
        let name = |id: NodeId| self.specs[id.index()].name.clone();
        let (node, detail) = match ev {
            Ev::Start(n) => (Some(name(*n)), String::new()),
            Ev::Deliver { from, to, msg, .. } => {
                (Some(name(*to)), format!("from {}: {:?}", name(*from), msg))
            }
            Ev::Timer { node, timer, .. } => (Some(name(*node)), format!("{timer:?}")),
            Ev::Io { node, token, .. } => (Some(name(*node)), format!("fsync {token}")),
            Ev::Fault(i) => (None, self.cfg.faults[*i].kind.name().to_string()),
            Ev::Undo(_) => (None, "undo".into()),
            Ev::Nemesis => (None, String::new()),
            Ev::HealPhase => (None, "faults lifted".into()),
        };
        let kind = TAGS[ev.tag() as usize];
        if self.opts.describe_event == Some(index) {
            self.described = Some(format!(
                "event {index} at {} (seq {seq}): {kind} {} {detail}",
                format_ns(at_ns),
                node.as_deref().unwrap_or("-")
            ));
        }
        if let Some(sink) = self.opts.trace.as_deref_mut() {
            sink.line(&TraceLine::Event {
                i: index,
                t: at_ns,
                seq,
                kind,
                node: node.as_deref(),
                detail: &detail,
            });
        }
    }

    /// Recording only: keeps a send (see `RunOptions::max_messages`); returns its `seq`
    /// when kept. Touches neither the digest nor any random stream.
    fn record_message(
        &mut self,
        from: NodeId,
        to: NodeId,
        msg: &<M::Node as Node>::Msg,
    ) -> Option<u64> {
        let seq = self.message_seq;
        self.message_seq += 1;
        let in_window = self
            .opts
            .message_window
            .is_none_or(|(t0, t1)| (t0..=t1).contains(&self.now_ns));
        if !in_window {
            return None;
        }
        if let Some(cap) = self.opts.max_messages {
            let prefix = cap / 2;
            let sampling = self.messages.len() >= prefix;
            if sampling && !seq.is_multiple_of(self.message_stride) {
                return None;
            }
            if self.messages.len() >= cap.max(1) {
                // Full: halve the sample past the prefix, double the stride.
                self.message_stride *= 2;
                let stride = self.message_stride;
                let mut i = 0;
                self.messages.retain(|m| {
                    i += 1;
                    i <= prefix || m.seq.is_multiple_of(stride)
                });
                if !seq.is_multiple_of(stride) {
                    return None;
                }
            }
        }
        self.messages.push(MessageRecord {
            seq,
            sent_ns: self.now_ns,
            from: from.0,
            to: to.0,
            delivered_ns: None,
            sent_event: self.events,
            delivered_event: None,
            summary: short_debug(msg),
        });
        Some(seq)
    }

    /// Recording only: a `StateRecord` for each node (the event's node, or every node after
    /// an event of no node: a fault, an undo, the nemesis) whose status or `observe()`
    /// summary changed. Reads the nodes, never changes them, the digest or the queue.
    /// Under `max_records`, a change of numbers alone is kept only when the node's last
    /// record is older than 1/1000 of the run's phases (`flush` keeps the final one).
    fn record_states(&mut self, touched: Option<NodeId>) {
        let gap_ns = match self.opts.max_records {
            Some(_) => (self.cfg.phases.fault_phase.0 + self.cfg.phases.heal_phase.0) / 1000,
            None => 0,
        };
        let range = match touched {
            Some(n) => n.index()..n.index() + 1,
            None => 0..self.slots.len(),
        };
        for i in range {
            let slot = &self.slots[i];
            let status = match slot.status {
                Status::Up => "up",
                Status::Down => "down",
                Status::Paused => "paused",
            };
            // Under a cap (gap_ns > 0): a busy node is asked at most OBSERVE_PER_WINDOW
            // times per window (its `observe()` may cost O(cluster)); a status change is
            // always seen.
            if let Some(window) = self.now_ns.checked_div(gap_ns) {
                let (w, calls) = &mut self.observed[i];
                if *w != window {
                    (*w, *calls) = (window, 0);
                }
                let same_status =
                    self.last_state[i].is_some_and(|k| self.states[k].status == status);
                if *calls >= OBSERVE_PER_WINDOW && same_status {
                    continue;
                }
                *calls += 1;
            }
            let obs = match (&slot.node, slot.status) {
                (Some(n), Status::Up | Status::Paused) => n.observe(),
                _ => Observation {
                    state: "down",
                    fields: Vec::new(),
                },
            };
            let same = self.last_state[i].is_some_and(|k| {
                let last = &self.states[k];
                last.status == status
                    && last.state == obs.state
                    && (last.fields == obs.fields
                        || self.now_ns < last.at_ns.saturating_add(gap_ns)
                        || self
                            .opts
                            .max_records
                            .is_some_and(|m| self.states.len() >= m))
            });
            if !same {
                self.last_state[i] = Some(self.states.len());
                self.states.push(StateRecord {
                    at_ns: self.now_ns,
                    node: i as u32,
                    status,
                    state: obs.state,
                    fields: obs.fields,
                });
            }
        }
    }

    fn view(&self) -> View<'_, M::Node> {
        View {
            slots: &self.slots,
            specs: &self.specs,
            now_ns: self.now_ns,
            topology: &self.topology,
        }
    }

    /// Every node id, in order.
    fn ids(&self) -> impl Iterator<Item = NodeId> {
        (0..self.slots.len() as u32).map(NodeId)
    }

    /// The nodes of a role, in id order.
    fn with_role(&self, role: &str) -> Vec<NodeId> {
        self.ids()
            .filter(|id| self.specs[id.index()].role == role)
            .collect()
    }

    /// The nodes in a status, in id order.
    fn with_status(&self, status: Status) -> Vec<NodeId> {
        self.ids()
            .filter(|id| self.slots[id.index()].status == status)
            .collect()
    }

    fn check_always(&mut self, index: u64, node: NodeId) {
        if self.invariants.is_empty() {
            return;
        }
        let view = View {
            slots: &self.slots,
            specs: &self.specs,
            now_ns: self.now_ns,
            topology: &self.topology,
        };
        for (name, inv, fired) in self.invariants.iter_mut() {
            if *fired {
                continue;
            }
            if let Some((detail, nodes)) = inv.after_event(&view, node) {
                *fired = true;
                self.violations.push(Violation {
                    invariant: name.clone(),
                    class: CheckClass::Safety,
                    at_ns: self.now_ns,
                    event: Some(index),
                    nodes,
                    detail,
                    ops: Vec::new(),
                });
            }
        }
    }

    /// Hands one event to its node (or applies a fault).
    fn dispatch(&mut self, ev: Ev<M::Node>) -> Result<(), Stop> {
        match ev {
            Ev::Start(id) => {
                self.boot(id);
                self.call(id, |n, ctx| n.on_start(ctx))
            }
            Ev::Deliver {
                from,
                to,
                msg,
                record,
            } => {
                self.digest.word(from.0 as u64);
                self.digest.word(to.0 as u64);
                self.digest.value(&msg);
                let slot = &mut self.slots[to.index()];
                match slot.status {
                    Status::Down => {
                        self.counters.to_down_node += 1;
                        return Ok(());
                    }
                    Status::Paused => {
                        slot.deferred.push(Ev::Deliver {
                            from,
                            to,
                            msg,
                            record,
                        });
                        return Ok(());
                    }
                    Status::Up => {}
                }
                if self.net.blocked(from, to) {
                    // The partition came up while the message was in flight.
                    self.counters.partitioned += 1;
                    return Ok(());
                }
                self.counters.delivered += 1;
                if let Some(seq) = record {
                    // Sampling may have dropped the record since it was sent.
                    let i = self.messages.partition_point(|m| m.seq < seq);
                    if let Some(m) = self.messages.get_mut(i).filter(|m| m.seq == seq) {
                        m.delivered_ns = Some(self.now_ns);
                        m.delivered_event = Some(self.events);
                    }
                }
                self.call(to, |n, ctx| n.on_message(ctx, from, msg))
            }
            Ev::Timer { node, timer, gen } => {
                let slot = &mut self.slots[node.index()];
                if slot.timers.get(&timer).map(|e| e.0) != Some(gen) {
                    return Ok(()); // replaced, cancelled, or from a previous incarnation
                }
                if slot.status == Status::Paused {
                    slot.deferred.push(Ev::Timer { node, timer, gen });
                    return Ok(());
                }
                slot.timers.remove(&timer);
                self.digest.value(&timer);
                self.counters.timers += 1;
                self.call(node, |n, ctx| n.on_timer(ctx, timer))
            }
            Ev::Io {
                node,
                incarnation,
                token,
            } => {
                let slot = &mut self.slots[node.index()];
                if slot.incarnation != incarnation || slot.status == Status::Down {
                    return Ok(());
                }
                if slot.status == Status::Paused {
                    slot.deferred.push(Ev::Io {
                        node,
                        incarnation,
                        token,
                    });
                    return Ok(());
                }
                let ok = !slot.disk.full;
                if ok {
                    slot.disk.sync_all();
                }
                self.digest.word(token);
                self.digest.word(ok as u64);
                self.call(node, |n, ctx| n.on_io(ctx, IoDone { token, ok }))
            }
            Ev::Fault(i) => {
                let f = self.cfg.faults[i].clone();
                self.apply_fault(&f, "scenario");
                Ok(())
            }
            Ev::Undo(u) => {
                self.undo(u);
                Ok(())
            }
            Ev::Nemesis => {
                self.nemesis_tick();
                Ok(())
            }
            Ev::HealPhase => {
                self.heal_phase();
                Ok(())
            }
        }
    }

    fn boot(&mut self, id: NodeId) {
        let slot = &mut self.slots[id.index()];
        slot.booting = false;
        if slot.status != Status::Down {
            return; // already running
        }
        slot.node = Some(self.model.boot(id));
        slot.status = Status::Up;
        slot.incarnation += 1;
        slot.timers.clear();
        slot.deferred.clear();
    }

    /// Runs one handler, then applies its effects. (Panics are caught by the event loop.)
    fn call(
        &mut self,
        id: NodeId,
        f: impl FnOnce(&mut M::Node, &mut Ctx<'_, M::Node>),
    ) -> Result<(), Stop> {
        let slot = &mut self.slots[id.index()];
        let Some(node) = slot.node.as_mut() else {
            return Ok(());
        };
        let local_now_ns = slot.clock.local(self.now_ns);
        let mut effects = std::mem::take(&mut self.effects);
        {
            let mut ctx = Ctx {
                id,
                local_now_ns,
                rng: &mut slot.rng,
                disk: &mut slot.disk,
                effects: &mut effects,
                specs: &self.specs,
                next_op: &mut self.next_op,
                effects_max: self.max_queue,
                overflow: false,
            };
            f(node, &mut ctx);
            if ctx.overflow {
                return Err(Stop::Limit(format!(
                    "{} asked for more than {} sends, timers and other effects in one handler, \
                     over `[limits] max_queue`; a node may be sending without bound",
                    self.specs[id.index()].name,
                    self.max_queue
                )));
            }
        }
        let r = self.apply_effects(id, &mut effects);
        effects.clear();
        self.effects = effects;
        r
    }

    fn apply_effects(
        &mut self,
        id: NodeId,
        effects: &mut Vec<Effect<M::Node>>,
    ) -> Result<(), Stop> {
        for e in effects.drain(..) {
            match e {
                Effect::Send { to, msg } => self.send(id, to, msg)?,
                Effect::SetTimer { timer, after_ns } => {
                    let deadline =
                        self.slots[id.index()].clock.mono(self.now_ns) + after_ns as i128;
                    self.schedule_timer(id, timer, deadline);
                }
                Effect::CancelTimer { timer } => {
                    self.slots[id.index()].timers.remove(&timer);
                }
                Effect::Fsync { token } => {
                    self.counters.fsyncs += 1;
                    let slot = &self.slots[id.index()];
                    let delay = self
                        .fsync
                        .sample(&mut self.disk_rng)
                        .saturating_mul(slot.disk.slow_factor as u64);
                    let incarnation = slot.incarnation;
                    self.queue.push(
                        self.now_ns.saturating_add(delay),
                        Ev::Io {
                            node: id,
                            incarnation,
                            token,
                        },
                    );
                }
                Effect::Note { kind, detail } => {
                    if let Some(sink) = self.opts.trace.as_deref_mut() {
                        sink.line(&TraceLine::Note {
                            t: self.now_ns,
                            node: &self.specs[id.index()].name,
                            kind,
                            detail: &detail,
                        });
                    }
                    if self.opts.record
                        && self.opts.max_records.is_none_or(|m| self.notes.len() < m)
                    {
                        self.notes.push(NoteRecord {
                            at_ns: self.now_ns,
                            node: id.0,
                            kind,
                            detail,
                        });
                    }
                }
                Effect::Metric { name, value } => {
                    if self.opts.record
                        && self.opts.max_records.is_none_or(|m| self.samples.len() < m)
                    {
                        self.samples.push(Sample {
                            at_ns: self.now_ns,
                            node: id.0,
                            name,
                            value,
                        });
                    }
                }
                Effect::Invoke { call, id: op } => {
                    if let Some(sink) = self.opts.trace.as_deref_mut() {
                        let detail = format!("{call:?}");
                        sink.line(&TraceLine::Op {
                            t: self.now_ns,
                            node: &self.specs[id.index()].name,
                            op: op.0,
                            outcome: None,
                            detail: &detail,
                        });
                    }
                    let got = self.history.invoke(id, call, self.now_ns);
                    debug_assert_eq!(got, op);
                }
                Effect::Complete {
                    id: op,
                    outcome,
                    ret,
                } => {
                    if let Some(sink) = self.opts.trace.as_deref_mut() {
                        let detail = format!("{ret:?}");
                        sink.line(&TraceLine::Op {
                            t: self.now_ns,
                            node: &self.specs[id.index()].name,
                            op: op.0,
                            outcome: Some(outcome.name()),
                            detail: &detail,
                        });
                    }
                    self.history.complete(op, outcome, ret, self.now_ns);
                }
                Effect::Applied { id: op } => self.history.mark_applied(op),
                Effect::Reached { mark } => {
                    if !self.marks.contains(mark) {
                        self.marks.insert(mark.to_string());
                    }
                }
            }
        }
        Ok(())
    }

    fn send(&mut self, from: NodeId, to: NodeId, msg: <M::Node as Node>::Msg) -> Result<(), Stop> {
        if to.index() >= self.slots.len() {
            // A model bug, reported like a panic so the seed and event are named.
            return Err(Stop::Panic(PanicInfo {
                node: self.specs[from.index()].name.clone(),
                event: self.events - 1,
                at_ns: self.now_ns,
                message: format!("sent to {to}, which does not exist"),
                location: None,
            }));
        }
        let size = msg.size_bytes() as u64;
        if size > self.cfg.limits.max_message_bytes {
            return Err(Stop::Limit(format!(
                "{} sent a {size}-byte message, over `[limits] max_message_bytes` = {}",
                self.specs[from.index()].name,
                self.cfg.limits.max_message_bytes
            )));
        }
        self.counters.sent += 1;
        let fate = self.net.route(
            &mut self.net_rng,
            from,
            to,
            self.topology.same_rack(from, to),
            self.topology.same_zone(from, to),
        );
        let record = if self.opts.record {
            self.record_message(from, to, &msg)
        } else {
            None
        };
        match fate {
            Fate::Lost => {
                self.digest.word(1);
                self.counters.lost += 1;
            }
            Fate::Partitioned => {
                self.digest.word(2);
                self.counters.partitioned += 1;
            }
            Fate::Deliver {
                delay_ns,
                duplicate_delay_ns,
            } => {
                if let Some(d2) = duplicate_delay_ns {
                    self.counters.duplicated += 1;
                    self.queue.push(
                        self.now_ns.saturating_add(d2),
                        Ev::Deliver {
                            from,
                            to,
                            msg: msg.clone(),
                            record: None,
                        },
                    );
                }
                self.queue.push(
                    self.now_ns.saturating_add(delay_ns),
                    Ev::Deliver {
                        from,
                        to,
                        msg,
                        record,
                    },
                );
            }
        }
        Ok(())
    }

    // ---- faults -------------------------------------------------------------------

    /// Changes a node's clock and moves its pending timers to match: each keeps the
    /// monotonic time it had left, measured from now at the new rate.
    fn reclock(&mut self, id: NodeId, change: impl FnOnce(&mut Clock)) {
        let now = self.now_ns;
        let slot = &mut self.slots[id.index()];
        let (before, rate) = (slot.clock.mono(now), slot.clock.drift_ppm());
        change(&mut slot.clock);
        let after = slot.clock.mono(now);
        if slot.timers.is_empty() || (after == before && slot.clock.drift_ppm() == rate) {
            return; // pending timers fall due at the same instants as before
        }
        let pending: Vec<(<M::Node as Node>::Timer, i128)> = slot
            .timers
            .iter()
            .map(|(t, (_, deadline))| (t.clone(), *deadline - before + after))
            .collect();
        for (timer, deadline) in pending {
            self.schedule_timer(id, timer, deadline);
        }
    }

    /// Sets (or moves) a timer to fire when the node's monotonic clock reaches `deadline`;
    /// a new generation makes any event already queued for it stale.
    fn schedule_timer(&mut self, id: NodeId, timer: <M::Node as Node>::Timer, deadline: i128) {
        let slot = &mut self.slots[id.index()];
        slot.timer_gen += 1;
        let gen = slot.timer_gen;
        slot.timers.insert(timer.clone(), (gen, deadline));
        let at = slot.clock.real_at(self.now_ns, deadline);
        self.queue.push(
            at,
            Ev::Timer {
                node: id,
                timer,
                gen,
            },
        );
    }

    fn record_fault(&mut self, kind: &str, nodes: &[NodeId], detail: String) {
        let names: Vec<String> = nodes
            .iter()
            .map(|n| self.specs[n.index()].name.clone())
            .collect();
        self.digest.value(kind);
        self.digest.value(&names);
        self.digest.value(detail.as_str());
        if let Some(sink) = self.opts.trace.as_deref_mut() {
            sink.line(&TraceLine::Fault {
                t: self.now_ns,
                kind,
                nodes: &names,
                detail: &detail,
            });
        }
        self.faults.push(FaultRecord {
            at_ns: self.now_ns,
            kind: kind.to_string(),
            nodes: names,
            detail,
        });
    }

    /// Nodes a selector names now. `want` filters the pool (e.g. only running nodes for a crash).
    fn resolve(&mut self, sel: &Selector, want: impl Fn(Status) -> bool) -> Vec<NodeId> {
        let role_pool = |w: &Self, role: &Option<String>| {
            w.with_role(role.as_deref().unwrap_or(w.model.fault_role()))
        };
        let mut out = match sel {
            Selector::All => self.ids().collect(),
            Selector::Node(name) => self
                .specs
                .iter()
                .position(|s| &s.name == name)
                .map(|i| vec![NodeId(i as u32)])
                .unwrap_or_default(),
            Selector::Nodes(names) => self
                .specs
                .iter()
                .enumerate()
                .filter(|(_, s)| names.contains(&s.name))
                .map(|(i, _)| NodeId(i as u32))
                .collect(),
            Selector::Role(r) => role_pool(self, &Some(r.clone())),
            Selector::Random(r) => {
                let pool: Vec<NodeId> = role_pool(self, r)
                    .into_iter()
                    .filter(|id| want(self.slots[id.index()].status))
                    .collect();
                pool.choose(&mut self.fault_rng)
                    .map(|id| vec![*id])
                    .unwrap_or_default()
            }
            Selector::Minority(r) | Selector::Majority(r) => {
                let mut pool = role_pool(self, r);
                pool.shuffle(&mut self.fault_rng);
                let n = pool.len();
                let k = if matches!(sel, Selector::Minority(_)) {
                    (n.saturating_sub(1)) / 2
                } else {
                    n / 2 + 1
                };
                pool.truncate(k);
                pool
            }
            Selector::Rack(r) => self.topology.nodes_in_rack(*r),
            Selector::Zone(z) => self.topology.nodes_in_zone(*z),
            Selector::Model { name, arg } => {
                let view = self.view();
                self.model
                    .select(&view, name, arg.as_deref())
                    .unwrap_or_default()
            }
        };
        if !matches!(sel, Selector::Random(_)) {
            out.retain(|id| want(self.slots[id.index()].status));
        }
        out.sort();
        out
    }

    fn apply_fault(&mut self, f: &PlannedFault, source: &str) {
        let running = |s: Status| s != Status::Down;
        let any = |_: Status| true;
        let targets = match (&f.target, f.kind) {
            (Some(sel), FaultKind::Restart) => self.resolve(sel, |s| s == Status::Down),
            (Some(sel), FaultKind::Crash) => self.resolve(sel, running),
            (Some(sel), FaultKind::Pause) => self.resolve(sel, |s| s == Status::Up),
            // Cutting off a crashed node would change nothing (and count it twice).
            // Spelled-out sides (`nodes(...)`, from `dsim shrink`) name crashed nodes too,
            // as the partition they came from dealt them to a side.
            (Some(sel @ Selector::Nodes(_)), FaultKind::Partition) => self.resolve(sel, any),
            (Some(sel), FaultKind::Partition) => self.resolve(sel, running),
            (Some(sel), _) => self.resolve(sel, any),
            (None, _) => Vec::new(),
        };
        let until = f.duration_ns.map(|d| self.now_ns.saturating_add(d));
        let sel_text = f.target.as_ref().map(|s| s.to_string()).unwrap_or_default();
        if !matches!(f.kind, FaultKind::Partition | FaultKind::Heal) && !targets.is_empty() {
            let spec = self.explicit(f, self.selector_of(&targets), None);
            self.fault_plan.push(spec);
        }
        match f.kind {
            FaultKind::Crash => {
                for &id in &targets {
                    self.crash(id);
                }
                self.record_fault("crash", &targets, format!("{source}: {sel_text}"));
                if let Some(t) = until {
                    self.queue.push(t, Ev::Undo(Undo::Restart(targets)));
                }
            }
            FaultKind::Restart => {
                self.record_fault("restart", &targets, format!("{source}: {sel_text}"));
                self.restart_all(&targets);
            }
            FaultKind::Pause => {
                for &id in &targets {
                    self.slots[id.index()].status = Status::Paused;
                    self.counters.pauses += 1;
                }
                self.record_fault(
                    "pause",
                    &targets,
                    format!("{source}: for {}", format_ns(f.duration_ns.unwrap_or(0))),
                );
                self.queue.push(
                    until.unwrap_or(self.now_ns),
                    Ev::Undo(Undo::Resume(targets)),
                );
            }
            FaultKind::Partition => {
                let (cut, members, detail, sides) = self.partition(f, &targets);
                self.record_fault("partition", &members, detail);
                self.spell_partition(f, sides);
                if let (Some(t), Some(cut)) = (until, cut) {
                    self.queue.push(t, Ev::Undo(Undo::Heal(cut, Vec::new())));
                }
            }
            FaultKind::Heal => {
                let n = self.net.heal_all();
                self.nemesis_isolated.clear();
                self.record_fault("heal", &[], format!("{source}: {n} partition(s) lifted"));
                let spec = self.explicit(f, None, None);
                self.fault_plan.push(spec);
            }
            FaultKind::ClockJump => {
                for &id in &targets {
                    self.slots[id.index()].clock.jump(f.offset_ns);
                }
                self.record_fault(
                    "clock-jump",
                    &targets,
                    format!(
                        "{source}: by {}{}",
                        if f.offset_ns < 0 { "-" } else { "+" },
                        format_ns(f.offset_ns.unsigned_abs())
                    ),
                );
                if let Some(t) = until {
                    self.queue
                        .push(t, Ev::Undo(Undo::Clock(targets, -f.offset_ns)));
                }
            }
            FaultKind::ClockDrift => {
                for &id in &targets {
                    let (now, ppm) = (self.now_ns, f.drift_ppm);
                    self.reclock(id, |c| c.set_drift(now, ppm));
                }
                self.record_fault(
                    "clock-drift",
                    &targets,
                    format!("{source}: {} ppm", f.drift_ppm),
                );
                if let Some(t) = until {
                    self.queue.push(t, Ev::Undo(Undo::Drift(targets)));
                }
            }
            FaultKind::Slow => {
                for &id in &targets {
                    self.net.slow_factor[id.index()] = f.factor.max(1);
                }
                self.record_fault(
                    "slow",
                    &targets,
                    format!("{source}: {}x slower network", f.factor),
                );
                if let Some(t) = until {
                    self.queue.push(t, Ev::Undo(Undo::Slow(targets)));
                }
            }
            FaultKind::Disk => {
                let which = f.disk.unwrap_or(DiskFault::LoseUnsynced);
                let mut details = Vec::new();
                for &id in &targets {
                    let slot = &mut self.slots[id.index()];
                    match which {
                        DiskFault::LoseUnsynced => slot.disk.lose_unsynced(),
                        DiskFault::TornWrite => {
                            if let Some(file) = slot.disk.tear_write(&mut self.disk_rng) {
                                details.push(format!("tore {file}"));
                            }
                        }
                        DiskFault::Corrupt => {
                            if let Some((file, at)) = slot.disk.corrupt(&mut self.disk_rng) {
                                details.push(format!("flipped a bit of {file} at byte {at}"));
                            }
                        }
                        DiskFault::Full => slot.disk.full = true,
                        DiskFault::Slow => slot.disk.slow_factor = f.factor.max(1),
                    }
                }
                self.record_fault(
                    "disk",
                    &targets,
                    if details.is_empty() {
                        format!("{source}: {}", which.name())
                    } else {
                        format!("{source}: {}: {}", which.name(), details.join(", "))
                    },
                );
                if let (Some(t), DiskFault::Full | DiskFault::Slow) = (until, which) {
                    self.queue.push(t, Ev::Undo(Undo::Disk(targets)));
                }
            }
        }
    }

    /// `nodes(...)` naming `ids`, or `node(x)` for one.
    fn selector_of(&self, ids: &[NodeId]) -> Option<String> {
        let names: Vec<String> = ids
            .iter()
            .map(|i| self.specs[i.index()].name.clone())
            .collect();
        match names.len() {
            0 => None,
            1 => Some(Selector::Node(names[0].clone()).to_string()),
            _ => Some(Selector::Nodes(names).to_string()),
        }
    }

    /// The fault `f`, as it fires now, as a scripted entry with explicit nodes.
    fn explicit(&self, f: &PlannedFault, target: Option<String>, to: Option<String>) -> FaultSpec {
        let signed = |ns: i64| {
            let text = format_exact(Duration(ns.unsigned_abs()));
            if ns < 0 {
                format!("-{text}")
            } else {
                text
            }
        };
        // Only the keys this kind of fault reads: the scenario loader refuses the others.
        let disk_slow = f.kind == FaultKind::Disk && f.disk == Some(DiskFault::Slow);
        let undoable = match f.kind {
            FaultKind::Restart | FaultKind::Heal => false,
            FaultKind::Disk => matches!(f.disk, Some(DiskFault::Full | DiskFault::Slow)),
            _ => true,
        };
        FaultSpec {
            at: Duration(self.now_ns),
            kind: f.kind,
            target,
            duration: f.duration_ns.filter(|_| undoable).map(Duration),
            shape: None,
            to,
            disk: (f.kind == FaultKind::Disk).then_some(f.disk).flatten(),
            offset: (f.kind == FaultKind::ClockJump).then(|| signed(f.offset_ns)),
            drift_ppm: (f.kind == FaultKind::ClockDrift).then_some(f.drift_ppm),
            factor: (f.kind == FaultKind::Slow || disk_slow).then_some(f.factor),
        }
    }

    /// Records a partition's cut as explicit entries: the side cut off from everyone else
    /// (`isolate`), or one-way cuts (a `one-way` fault; both directions for a bridge, whose
    /// bridge node is on neither side).
    fn spell_partition(
        &mut self,
        f: &PlannedFault,
        sides: Option<(Vec<NodeId>, Vec<NodeId>, bool)>,
    ) {
        let Some((a, b, one_way)) = sides else {
            return;
        };
        let (sa, sb) = (self.selector_of(&a), self.selector_of(&b));
        if sa.is_none() || (one_way && sb.is_none()) {
            return;
        }
        let mut spec = self.explicit(f, sa.clone(), None);
        if one_way || a.len() + b.len() < self.specs.len() {
            spec.shape = Some(PartitionShape::OneWay);
            spec.to = sb.clone();
            self.fault_plan.push(spec.clone());
            if !one_way {
                spec.target = sb;
                spec.to = sa;
                self.fault_plan.push(spec);
            }
        } else {
            spec.shape = Some(PartitionShape::Isolate);
            self.fault_plan.push(spec);
        }
    }

    /// Builds the cut for a partition fault. Returns (cut id, nodes on the cut-off side,
    /// words, the two sides and whether the cut is one-way).
    #[allow(clippy::type_complexity)]
    fn partition(
        &mut self,
        f: &PlannedFault,
        targets: &[NodeId],
    ) -> (
        Option<u64>,
        Vec<NodeId>,
        String,
        Option<(Vec<NodeId>, Vec<NodeId>, bool)>,
    ) {
        self.counters.partitions += 1;
        let all: Vec<NodeId> = self.ids().collect();
        let name = |w: &Self, ids: &[NodeId]| -> String {
            ids.iter()
                .map(|i| w.specs[i.index()].name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        match f.shape {
            PartitionShape::Isolate => {
                if targets.is_empty() {
                    return (None, Vec::new(), "isolate: no node matched".into(), None);
                }
                let a = NodeSet::from_ids(targets.iter().copied());
                let rest: Vec<NodeId> = all.iter().copied().filter(|i| !a.contains(*i)).collect();
                let b = NodeSet::from_ids(rest.iter().copied());
                let cut = self.net.add_cut(a, b, false);
                (
                    Some(cut),
                    targets.to_vec(),
                    format!("isolated {}", name(self, targets)),
                    Some((targets.to_vec(), rest, false)),
                )
            }
            PartitionShape::OneWay => {
                let to = match &f.to {
                    Some(sel) => self.resolve(sel, |_| true),
                    None => all
                        .iter()
                        .copied()
                        .filter(|i| !targets.contains(i))
                        .collect(),
                };
                let cut = self.net.add_cut(
                    NodeSet::from_ids(targets.iter().copied()),
                    NodeSet::from_ids(to.iter().copied()),
                    true,
                );
                let detail = format!(
                    "one-way: {} cannot reach {}",
                    name(self, targets),
                    name(self, &to)
                );
                (
                    Some(cut),
                    targets.to_vec(),
                    detail,
                    Some((targets.to_vec(), to, true)),
                )
            }
            PartitionShape::MajorityMinority | PartitionShape::Bridge => {
                // The pool is the target (or the fault role); the other nodes (clients) are
                // dealt to the two sides at random, as clients near one side or the other.
                let mut pool = match f.target {
                    None => self.with_role(self.model.fault_role()),
                    Some(_) => targets.to_vec(),
                };
                if pool.len() < 2 {
                    // Nothing to split: a selector that names (almost) no node does nothing.
                    return (
                        None,
                        Vec::new(),
                        format!("{}: fewer than two nodes matched", f.shape.name()),
                        None,
                    );
                }
                pool.shuffle(&mut self.fault_rng);
                let in_pool = NodeSet::from_ids(pool.iter().copied());
                let bridge = (f.shape == PartitionShape::Bridge).then(|| pool.remove(0));
                let small = if bridge.is_some() {
                    pool.len() / 2
                } else {
                    pool.len().saturating_sub(1) / 2
                };
                let mut side_a: Vec<NodeId> = pool[..small].to_vec();
                let mut side_b: Vec<NodeId> = pool[small..].to_vec();
                for id in all.iter().copied() {
                    if in_pool.contains(id) {
                        continue;
                    }
                    if self.fault_rng.gen_range(0..2u32) == 0 {
                        side_a.push(id);
                    } else {
                        side_b.push(id);
                    }
                }
                side_a.sort();
                side_b.sort();
                let cut = self.net.add_cut(
                    NodeSet::from_ids(side_a.iter().copied()),
                    NodeSet::from_ids(side_b.iter().copied()),
                    false,
                );
                let detail = match bridge {
                    Some(b) => format!(
                        "bridge {}: [{}] | [{}]",
                        self.specs[b.index()].name,
                        name(self, &side_a),
                        name(self, &side_b)
                    ),
                    None => format!(
                        "minority [{}] | majority [{}]",
                        name(self, &side_a),
                        name(self, &side_b)
                    ),
                };
                let sides = Some((side_a.clone(), side_b, false));
                (Some(cut), side_a, detail, sides)
            }
        }
    }

    fn crash(&mut self, id: NodeId) {
        let mode = self.cfg.disk.crash;
        let slot = &mut self.slots[id.index()];
        if slot.status == Status::Down {
            return;
        }
        slot.node = None;
        slot.status = Status::Down;
        slot.timers.clear();
        slot.deferred.clear();
        slot.incarnation += 1;
        slot.disk.crash(mode, &mut self.disk_rng);
        self.counters.crashes += 1;
        self.check_always(self.events.saturating_sub(1), id);
    }

    fn restart_all(&mut self, ids: &[NodeId]) {
        for &id in ids {
            let slot = &mut self.slots[id.index()];
            if slot.status == Status::Down && !slot.booting {
                slot.booting = true;
                self.counters.restarts += 1;
                // Boot at once; on_start runs as its own event so it is traced and digested.
                self.queue.push(self.now_ns, Ev::Start(id));
            }
        }
    }

    fn resume(&mut self, ids: &[NodeId]) {
        for &id in ids {
            let slot = &mut self.slots[id.index()];
            if slot.status != Status::Paused {
                continue;
            }
            slot.status = Status::Up;
            // Everything that arrived or fired during the pause happens now, in order.
            let deferred = std::mem::take(&mut slot.deferred);
            for ev in deferred {
                self.queue.push(self.now_ns, ev);
            }
        }
    }

    fn undo(&mut self, u: Undo) {
        match u {
            // `heal_restarts = false`: what is down at the heal phase stays down, even when
            // its own crash ends later.
            Undo::Restart(..) if self.healing && !self.cfg.phases.heal_restarts => {}
            Undo::Restart(ids) => {
                self.record_fault("restart", &ids, "end of crash".into());
                self.restart_all(&ids);
            }
            Undo::Resume(ids) => {
                self.record_fault("resume", &ids, "end of pause".into());
                self.resume(&ids);
            }
            Undo::Heal(cut, isolated) => {
                if self.net.remove_cut(cut) {
                    for id in &isolated {
                        self.nemesis_isolated.remove(id);
                    }
                    self.record_fault("heal", &isolated, "end of partition".into());
                }
            }
            // The heal phase already set every clock right; undoing the jump again would
            // skew it the other way.
            Undo::Clock(..) if self.healing => {}
            Undo::Clock(ids, by) => {
                for &id in &ids {
                    self.slots[id.index()].clock.jump(by);
                }
                self.record_fault("clock-reset", &ids, "end of clock jump".into());
            }
            Undo::Drift(ids) => {
                for &id in &ids {
                    let now = self.now_ns;
                    self.reclock(id, |c| c.set_drift(now, 0));
                }
                self.record_fault("clock-reset", &ids, "end of drift".into());
            }
            Undo::Slow(ids) => {
                for &id in &ids {
                    self.net.slow_factor[id.index()] = 1;
                }
                self.record_fault("slow-end", &ids, "network speed restored".into());
            }
            Undo::Disk(ids) => {
                for &id in &ids {
                    let d = &mut self.slots[id.index()].disk;
                    d.full = false;
                    d.slow_factor = 1;
                }
                self.record_fault("disk-heal", &ids, "disk healthy again".into());
            }
        }
    }

    /// Nodes the nemesis has made faulty right now.
    fn faulty_now(&self) -> usize {
        self.slots.iter().filter(|s| s.status != Status::Up).count() + self.nemesis_isolated.len()
    }

    fn nemesis_tick(&mut self) {
        let Some(nem) = self.cfg.nemesis.as_ref() else {
            return;
        };
        if self.healing || nem.kinds.is_empty() {
            return;
        }
        let kind = nem.kinds[self.fault_rng.gen_range(0..nem.kinds.len())];
        let duration = self
            .fault_rng
            .gen_range(nem.duration_min.0..=nem.duration_max.0.max(nem.duration_min.0));
        let role = nem.role.clone();
        let room = (nem.max_faulty as usize).saturating_sub(self.faulty_now());
        let mut f = PlannedFault {
            at_ns: self.now_ns,
            kind,
            target: Some(Selector::Random(role.clone())),
            duration_ns: Some(duration),
            shape: PartitionShape::Isolate,
            to: None,
            disk: None,
            offset_ns: 0,
            drift_ppm: 0,
            factor: 10,
        };
        let mut apply = true;
        match kind {
            FaultKind::Crash | FaultKind::Pause => apply = room >= 1,
            FaultKind::Partition => {
                let shapes = [
                    PartitionShape::Isolate,
                    PartitionShape::MajorityMinority,
                    PartitionShape::Bridge,
                ];
                f.shape = shapes[self.fault_rng.gen_range(0..shapes.len())];
                let pool = role.as_deref().unwrap_or(self.model.fault_role());
                let pool_n = self.with_role(pool).len();
                // Pool nodes on the small side (a bridge leaves (n-1)/2 there too).
                let cut_off = match f.shape {
                    PartitionShape::Isolate => 1,
                    _ => pool_n.saturating_sub(1) / 2,
                };
                if cut_off > room {
                    f.shape = PartitionShape::Isolate;
                    apply = room >= 1;
                }
                if f.shape != PartitionShape::Isolate {
                    f.target = Some(Selector::Role(pool.to_string()));
                }
            }
            FaultKind::ClockJump => {
                let max = nem.clock_jump_max.0 as i64;
                f.offset_ns = self.fault_rng.gen_range(-max..=max);
            }
            FaultKind::ClockDrift => f.drift_ppm = self.fault_rng.gen_range(-200_000..=200_000),
            FaultKind::Disk => {
                let kinds = if nem.disk.is_empty() {
                    &[DiskFault::LoseUnsynced][..]
                } else {
                    &nem.disk[..]
                };
                f.disk = Some(kinds[self.fault_rng.gen_range(0..kinds.len())]);
            }
            FaultKind::Restart | FaultKind::Heal | FaultKind::Slow => {}
        }
        if apply {
            if kind == FaultKind::Partition {
                // Healed below by a cut-specific undo that also releases the count.
                f.duration_ns = None;
            }
            let before = self.net.cuts().len();
            let planned_before = self.fault_plan.len();
            self.apply_fault(&f, "nemesis");
            if kind == FaultKind::Partition && self.net.cuts().len() > before {
                // Track which pool nodes the nemesis cut off (clients dealt to that side do
                // not count), so max_faulty holds, and heal the cut by its id.
                let pool = role.as_deref().unwrap_or(self.model.fault_role());
                let cut = self.net.cuts().last().expect("just added");
                let members: Vec<NodeId> = cut
                    .a
                    .ids()
                    .filter(|id| self.specs[id.index()].role == pool)
                    .collect();
                for id in &members {
                    self.nemesis_isolated.insert(*id);
                }
                let cut_id = cut.id;
                self.queue.push(
                    self.now_ns.saturating_add(duration),
                    Ev::Undo(Undo::Heal(cut_id, members)),
                );
                // Spelled out, the cut heals after the same time.
                for spec in &mut self.fault_plan[planned_before..] {
                    spec.duration = Some(Duration(duration));
                }
            }
        }
        let next = self.now_ns.saturating_add(
            self.fault_rng
                .gen_range(nem.interval_min.0..=nem.interval_max.0.max(nem.interval_min.0))
                .max(1),
        );
        if next < self.cfg.phases.fault_phase.0 {
            self.queue.push(next, Ev::Nemesis);
        }
    }

    /// End of the fault phase: every fault is lifted and crashed nodes restart.
    fn heal_phase(&mut self) {
        self.healing = true;
        let cuts = self.net.heal_all();
        self.nemesis_isolated.clear();
        let down = self.with_status(Status::Down);
        let paused = self.with_status(Status::Paused);
        for i in 0..self.slots.len() {
            // Clocks are set right again: drift stops and any jump is undone (as an NTP
            // step would), so a clock may move backwards here.
            self.reclock(NodeId(i as u32), |c| *c = Clock::default());
            let s = &mut self.slots[i];
            s.disk.full = false;
            s.disk.slow_factor = 1;
        }
        for f in self.net.slow_factor.iter_mut() {
            *f = 1;
        }
        self.record_fault(
            "heal-phase",
            &[],
            format!(
                "faults lifted: {cuts} partition(s) healed, {} node(s) restarted, {} resumed",
                if self.cfg.phases.heal_restarts {
                    down.len()
                } else {
                    0
                },
                paused.len()
            ),
        );
        self.resume(&paused);
        if self.cfg.phases.heal_restarts {
            self.restart_all(&down);
        }
    }

    // ---- the end ------------------------------------------------------------------

    fn finish(mut self, stop: Option<Stop>) -> RunReport {
        let mut panic = None;
        let mut limit = None;
        let mut unknown = Vec::new();
        match stop {
            Some(Stop::Panic(p)) => panic = Some(p),
            Some(Stop::Limit(l)) => limit = Some(l),
            None => {
                let checks = &self.cfg.checks;
                let view = View {
                    slots: &self.slots,
                    specs: &self.specs,
                    now_ns: self.now_ns,
                    topology: &self.topology,
                };
                for name in &checks.eventually {
                    if let Some((detail, nodes)) = self.model.eventually(name, &view, &self.history)
                    {
                        self.violations.push(Violation {
                            invariant: name.clone(),
                            class: CheckClass::Liveness,
                            at_ns: self.now_ns,
                            event: None,
                            nodes,
                            detail,
                            ops: Vec::new(),
                        });
                    }
                }
                for name in &checks.sometimes {
                    if !self.marks.contains(name) {
                        self.violations.push(Violation {
                            invariant: name.clone(),
                            class: CheckClass::Sometimes,
                            at_ns: self.now_ns,
                            event: None,
                            nodes: Vec::new(),
                            detail: format!("the run never reached `{name}`: the scenario did not show what it claims to"),
                            ops: Vec::new(),
                        });
                    }
                }
                let results = self.model.check_histories(
                    &checks.history,
                    &view,
                    &self.history,
                    self.cfg.limits.checker_budget,
                );
                for (name, result) in checks.history.iter().zip(results) {
                    match result {
                        CheckResult::Valid => {}
                        CheckResult::Invalid { detail, nodes, ops } => {
                            self.violations.push(Violation {
                                invariant: name.clone(),
                                class: CheckClass::Safety,
                                at_ns: self.now_ns,
                                event: None,
                                nodes,
                                detail,
                                ops,
                            })
                        }
                        CheckResult::Unknown { detail } => {
                            unknown.push(format!("{name}: {detail}"))
                        }
                    }
                }
            }
        }
        let verdict = if panic.is_some() {
            Verdict::Panic
        } else if limit.is_some() {
            Verdict::Limit
        } else if self
            .violations
            .iter()
            .any(|v| v.class == CheckClass::Safety)
        {
            Verdict::Violation
        } else if self
            .violations
            .iter()
            .any(|v| v.class == CheckClass::Liveness)
        {
            Verdict::Liveness
        } else if self
            .violations
            .iter()
            .any(|v| v.class == CheckClass::Sometimes)
        {
            Verdict::NeverReached
        } else if !unknown.is_empty() {
            Verdict::Unknown
        } else {
            Verdict::Valid
        };
        let c = &self.counters;
        let mut metrics = BTreeMap::new();
        for (k, v) in [
            ("messages_sent", c.sent),
            ("messages_delivered", c.delivered),
            ("messages_lost", c.lost),
            ("messages_partitioned", c.partitioned),
            ("messages_to_down_node", c.to_down_node),
            ("messages_duplicated", c.duplicated),
            ("timers_fired", c.timers),
            ("fsyncs", c.fsyncs),
            ("crashes", c.crashes),
            ("restarts", c.restarts),
            ("pauses", c.pauses),
            ("partitions", c.partitions),
            ("history_ops", self.history.len() as i64),
            (
                "history_ok",
                self.history.ops.iter().filter(|o| o.is_ok()).count() as i64,
            ),
            (
                "history_indeterminate",
                self.history
                    .ops
                    .iter()
                    .filter(|o| o.is_indeterminate())
                    .count() as i64,
            ),
        ] {
            metrics.insert(k.to_string(), v);
        }
        if self.opts.record {
            // The final numbers of nodes whose last change was sampled away.
            let gap = self.opts.max_records.take();
            self.record_states(None);
            self.opts.max_records = gap;
        }
        let observations = if self.opts.record {
            self.slots
                .iter()
                .zip(&self.specs)
                .map(|(s, spec)| {
                    (
                        spec.name.clone(),
                        s.node.as_ref().map(|n| n.observe()).unwrap_or(Observation {
                            state: "down",
                            fields: Vec::new(),
                        }),
                    )
                })
                .collect()
        } else {
            Vec::new()
        };
        let history = if self.opts.record {
            self.history
                .ops
                .iter()
                .map(|o| OpRecord {
                    id: o.id.0,
                    client: o.client.0,
                    invoke_ns: o.invoke_ns,
                    complete_ns: o.complete_ns,
                    outcome: o.outcome.map_or("pending", |x| x.name()),
                    call: format!("{:?}", o.call),
                    ret: o.ret.as_ref().map(|r| format!("{r:?}")),
                    applied: o.applied,
                })
                .collect()
        } else {
            Vec::new()
        };
        let digest = self.digest.hex();
        if let Some(sink) = self.opts.trace.as_deref_mut() {
            sink.line(&TraceLine::Footer {
                digest: &digest,
                verdict: verdict.name(),
                events: self.events,
            });
        }
        let unrecorded = self.message_seq - self.messages.len() as u64;
        RunReport {
            seed: self.seed,
            verdict,
            digest,
            events: self.events,
            sim_time_ns: self.now_ns,
            violations: self.violations,
            unknown,
            panic,
            limit,
            metrics,
            marks: self.marks,
            faults: self.faults,
            fault_plan: self.fault_plan,
            notes: self.notes,
            samples: self.samples,
            messages: self.messages,
            messages_unrecorded: unrecorded,
            message_sampling: (self.message_stride > 1)
                .then(|| (self.opts.max_messages.unwrap_or(0) / 2, self.message_stride)),
            states: self.states,
            history,
            event_digests: self.event_digests,
            described_event: self.described,
            observations,
            node_names: self.specs.iter().map(|s| s.name.clone()).collect(),
        }
    }
}

/// The text of a caught panic's payload (the CLI reports panics with it too).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(non-text panic payload)".into())
}

fn short_debug<T: std::fmt::Debug>(v: &T) -> String {
    let mut s = format!("{v:?}");
    if s.len() > 120 {
        let mut cut = 117;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("...");
    }
    s
}
