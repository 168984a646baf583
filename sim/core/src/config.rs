//! The engine's part of a scenario: network, disks, topology, faults, nemesis, phases,
//! limits and checks, as they are written in TOML (design brief §5, §7).
//!
//! Every struct refuses unknown keys, so a typo is an error at its line and column rather
//! than a silently ignored setting. Semantic checks that need more than one field (a fault
//! after the end, W > N) live in `dsim-scenario`, which knows the whole file.

use serde::Deserialize;

use crate::units::{Duration, Probability};

/// A latency distribution. `normal` and `lognormal` are given by their median and 99th
/// percentile, the two figures people actually know about their network.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "dist", rename_all = "lowercase", deny_unknown_fields)]
pub enum Latency {
    Constant { value: Duration },
    Uniform { min: Duration, max: Duration },
    Normal { p50: Duration, p99: Duration },
    Lognormal { p50: Duration, p99: Duration },
}

impl Default for Latency {
    fn default() -> Self {
        Latency::Constant {
            value: Duration::from_ms(1),
        }
    }
}

impl Latency {
    /// A problem with the numbers, in words, or None.
    pub fn problem(&self) -> Option<String> {
        match *self {
            Latency::Uniform { min, max } if min > max => {
                Some(format!("uniform latency has min {min} above max {max}"))
            }
            Latency::Normal { p50, p99 } | Latency::Lognormal { p50, p99 } if p99 < p50 => {
                Some(format!("p99 {p99} is below p50 {p50}"))
            }
            Latency::Lognormal { p50, .. } if p50 == Duration::ZERO => {
                Some("a log-normal latency needs p50 above 0".into())
            }
            _ => None,
        }
    }
}

/// The virtual network (`[network]`).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkConfig {
    /// One-way delay of every message on every link.
    pub latency: Latency,
    /// Probability that a message is dropped.
    pub loss: Probability,
    /// Probability that a message is delivered twice (each copy with its own delay).
    pub duplicate: Probability,
    /// Probability that a message is held back by an extra `reorder_delay`, so that later
    /// messages overtake it. Reordering also emerges from independent delays.
    pub reorder: Probability,
    pub reorder_delay: Duration,
    /// Extra delay for a message between racks, and between zones.
    pub cross_rack_delay: Duration,
    pub cross_zone_delay: Duration,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            latency: Latency::default(),
            loss: Probability::ZERO,
            duplicate: Probability::ZERO,
            reorder: Probability::ZERO,
            reorder_delay: Duration::from_ms(10),
            cross_rack_delay: Duration::ZERO,
            cross_zone_delay: Duration::ZERO,
        }
    }
}

/// What survives a crash on a disk (`[disk] crash = ...`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CrashMode {
    /// Only what was fsynced survives.
    #[default]
    Synced,
    /// The synced data plus a torn piece of the unsynced tail: the unsynced bytes are cut
    /// at a random byte (anywhere in the tail, not only inside the last write).
    Torn,
    /// The synced data plus a random prefix of the unsynced writes, whole.
    RandomPrefix,
    /// Nothing is lost: the process died but the machine did not, and the OS still holds
    /// the page cache and writes it back (`kill -9`, an out-of-memory kill), unlike the
    /// power loss the other modes describe.
    Process,
}

/// Per-node disks (`[disk]`).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DiskConfig {
    /// Time from an fsync request to its completion.
    pub fsync_latency: Latency,
    pub crash: CrashMode,
    /// Bytes a disk holds before writes fail with "disk full".
    pub capacity_bytes: u64,
}

impl Default for DiskConfig {
    fn default() -> Self {
        DiskConfig {
            fsync_latency: Latency::Constant {
                value: Duration::from_ms(2),
            },
            crash: CrashMode::Synced,
            capacity_bytes: 1 << 30,
        }
    }
}

/// Racks and zones (`[topology]`). Nodes are placed round-robin: node i goes to rack
/// i mod racks, and rack r to zone r mod zones.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TopologyConfig {
    pub racks: u32,
    pub zones: u32,
}

impl Default for TopologyConfig {
    fn default() -> Self {
        TopologyConfig { racks: 1, zones: 1 }
    }
}

/// The two phases of a run (`[run]`): faults happen during `fault_phase`; then every fault
/// is lifted (partitions healed, crashed nodes restarted, paused nodes resumed, clocks set
/// right, slow links and disks restored) and the `heal_phase` gives liveness its chance.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PhaseConfig {
    pub fault_phase: Duration,
    pub heal_phase: Duration,
    /// Whether the heal phase restarts crashed nodes (default true). False keeps them
    /// down to the end, for stories about a node that never comes back (2PC blocking
    /// when its coordinator is lost).
    pub heal_restarts: bool,
}

impl Default for PhaseConfig {
    fn default() -> Self {
        PhaseConfig {
            fault_phase: Duration::from_secs(60),
            heal_phase: Duration::from_secs(20),
            heal_restarts: true,
        }
    }
}

impl PhaseConfig {
    pub fn end_ns(&self) -> u64 {
        self.fault_phase.0 + self.heal_phase.0
    }
}

/// Kinds of fault, scripted or drawn by the nemesis.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// The process dies; volatile state and unsynced disk writes are lost.
    Crash,
    /// A crashed node boots again from its disk.
    Restart,
    /// The process is frozen (a long GC pause): messages queue, timers fire late.
    Pause,
    /// A network partition; its shape says which links are cut.
    Partition,
    /// Every partition is lifted.
    Heal,
    /// The node's clock jumps by `offset` (may be negative: "-2s").
    ClockJump,
    /// The node's clock runs fast or slow by `drift_ppm` parts per million.
    ClockDrift,
    /// Messages to and from the node take `factor` times longer.
    Slow,
    /// A disk fault; `disk` says which.
    Disk,
}

impl FaultKind {
    pub const ALL: [&'static str; 9] = [
        "crash",
        "restart",
        "pause",
        "partition",
        "heal",
        "clock-jump",
        "clock-drift",
        "slow",
        "disk",
    ];
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Crash => "crash",
            FaultKind::Restart => "restart",
            FaultKind::Pause => "pause",
            FaultKind::Partition => "partition",
            FaultKind::Heal => "heal",
            FaultKind::ClockJump => "clock-jump",
            FaultKind::ClockDrift => "clock-drift",
            FaultKind::Slow => "slow",
            FaultKind::Disk => "disk",
        }
    }
}

/// Shapes of partition.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PartitionShape {
    /// The target nodes are cut off from everyone else.
    #[default]
    Isolate,
    /// The pool (the target, or every node of the target's role) is split at random into a
    /// majority and a minority that cannot talk to each other.
    MajorityMinority,
    /// Two halves that each talk to one bridge node, but not to each other (Jepsen's
    /// "bridge"): the bridge is drawn at random from the pool.
    Bridge,
    /// Messages from `target` to `to` are dropped; the other way still works.
    OneWay,
}

impl PartitionShape {
    /// The name a scenario file uses.
    pub fn name(self) -> &'static str {
        match self {
            PartitionShape::Isolate => "isolate",
            PartitionShape::MajorityMinority => "majority-minority",
            PartitionShape::Bridge => "bridge",
            PartitionShape::OneWay => "one-way",
        }
    }
}

/// Disk faults.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DiskFault {
    /// Writes not yet fsynced vanish now (a lying disk cache).
    LoseUnsynced,
    /// A dirty file's unsynced tail is cut at a random byte and what is left made durable.
    TornWrite,
    /// One random durable byte of one random file is flipped.
    Corrupt,
    /// The disk reports full: writes and fsyncs fail until healed.
    Full,
    /// Fsyncs take `factor` times longer until healed.
    Slow,
}

impl DiskFault {
    /// The name a scenario file uses.
    pub fn name(self) -> &'static str {
        match self {
            DiskFault::LoseUnsynced => "lose-unsynced",
            DiskFault::TornWrite => "torn-write",
            DiskFault::Corrupt => "corrupt",
            DiskFault::Full => "full",
            DiskFault::Slow => "slow",
        }
    }
}

/// One scripted fault (`[[faults]]`).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// Virtual time at which the fault fires, from the start of the run.
    pub at: Duration,
    pub kind: FaultKind,
    /// Which nodes: a selector such as "random(replica)", "node(replica-1)", "minority",
    /// "all", "rack(0)", or a model's own ("leader"). Resolved when the fault fires.
    #[serde(default)]
    pub target: Option<String>,
    /// When set, the fault is undone after this long (restart, resume, heal, reset).
    #[serde(default)]
    pub duration: Option<Duration>,
    #[serde(default)]
    pub shape: Option<PartitionShape>,
    /// For one-way partitions: the receiving side.
    #[serde(default)]
    pub to: Option<String>,
    #[serde(default)]
    pub disk: Option<DiskFault>,
    /// Clock jumps: a duration, optionally negative ("-2s").
    #[serde(default)]
    pub offset: Option<String>,
    #[serde(default)]
    pub drift_ppm: Option<i64>,
    /// Slow node / slow disk: how many times slower.
    #[serde(default)]
    pub factor: Option<u32>,
}

/// The random nemesis (`[nemesis]`): draws faults from the seed during the fault phase.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NemesisConfig {
    pub kinds: Vec<FaultKind>,
    /// Time between the start of one fault and the next: uniform in [min, max].
    pub interval_min: Duration,
    pub interval_max: Duration,
    /// How long each fault lasts: uniform in [min, max].
    pub duration_min: Duration,
    pub duration_max: Duration,
    /// The role whose nodes the nemesis may hit (clients are usually spared).
    #[serde(default)]
    pub role: Option<String>,
    /// Never more than this many nodes crashed, paused or isolated at once.
    #[serde(default = "one")]
    pub max_faulty: u32,
    #[serde(default)]
    pub disk: Vec<DiskFault>,
    #[serde(default = "default_jump")]
    pub clock_jump_max: Duration,
}

fn one() -> u32 {
    1
}
fn default_jump() -> Duration {
    Duration::from_secs(5)
}

/// Limits on everything (`[limits]`); each is a clear error when exceeded.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    pub max_events: u64,
    /// The longest run allowed: the loader refuses `fault_phase + heal_phase` above it, and
    /// the engine stops with a limit error if virtual time ever passes it.
    pub max_time: Option<Duration>,
    pub max_nodes: u32,
    pub max_queue: u64,
    pub max_message_bytes: u64,
    /// Steps the history checkers may take before answering "unknown".
    pub checker_budget: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_events: 50_000_000,
            max_time: Some(Duration(30 * crate::units::DAY)),
            max_nodes: 100_000,
            max_queue: 10_000_000,
            max_message_bytes: 16 << 20,
            checker_budget: 5_000_000,
        }
    }
}

/// Which checks run (`[checks]`); names come from the model's catalogue.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChecksConfig {
    /// Invariants checked after every event.
    pub always: Vec<String>,
    /// Expectations that must hold by the end of the heal phase.
    pub eventually: Vec<String>,
    /// Marks the run must reach at least once.
    pub sometimes: Vec<String>,
    /// Checkers over the client-visible history, run at the end.
    pub history: Vec<String>,
}
