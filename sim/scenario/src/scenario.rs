//! [`Scenario`]: a scenario file read, checked and compiled into the engine's
//! [`RunConfig`], with every problem reported at its line and column.

use std::hash::Hasher;
use std::ops::Range;
use std::path::Path;

use dsim_core::config::{
    ChecksConfig, DiskConfig, DiskFault, FaultKind, FaultSpec, Limits, NemesisConfig,
    NetworkConfig, PartitionShape, PhaseConfig, TopologyConfig,
};
use dsim_core::digest::Digest;
use dsim_core::fault::PlannedFault;
use dsim_core::select::{Selector, BUILTIN};
use dsim_core::units::{format_exact, Duration};
use dsim_core::{Catalogue, ConfigError, RunConfig, Verdict};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::error::ScenarioError;
use crate::locate::{self, describe, Index};
use crate::model_table::{ModelOnly, RawModel, NAME_KEY};
use crate::seeds::SeedRange;
use crate::suggest::{self, backticked, did_you_mean, Unknown};

/// Files above this size are refused.
pub const MAX_FILE_BYTES: usize = 1 << 20;

/// An `[expect]` range may not hold more seeds than this.
pub const MAX_EXPECT_SEEDS: u64 = 1_000_000;
/// The nemesis acts at most once per millisecond of virtual time.
pub const MIN_NEMESIS_INTERVAL: Duration = Duration(dsim_core::units::MS);

/// What `dsim check` expects of a scenario (`[expect]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expect {
    pub seeds: SeedRange,
    /// `Valid`: every seed is valid. Otherwise at least one seed has this verdict.
    /// Never `Panic` or `Limit`.
    pub verdict: Verdict,
    /// Checks that must each fire in at least one seed (only with a non-valid verdict).
    pub invariants: Vec<String>,
}

/// The verdicts an `[expect]` may name.
pub const EXPECTABLE: [&str; 5] = ["valid", "violation", "liveness", "never-reached", "unknown"];

fn verdict_named(name: &str) -> Option<Verdict> {
    Verdict::from_name(name)
}

/// What the model offers, so names in the file can be checked against it.
#[derive(Clone, Debug)]
pub struct ModelInfo<'a> {
    /// Every node's name.
    pub node_names: Vec<String>,
    /// The distinct roles.
    pub roles: Vec<&'static str>,
    /// The model's own selector names (e.g. "leader").
    pub selectors: &'a [&'static str],
    /// Check names per kind.
    pub catalogue: Catalogue,
    /// Whether the model puts some of its nodes in racks itself (`NodeSpec::rack`).
    pub names_racks: bool,
}

impl ModelInfo<'static> {
    /// What `model` offers: its nodes, roles, selectors and checks.
    pub fn of<M: dsim_core::Model>(model: &M) -> ModelInfo<'static> {
        let specs = model.nodes();
        let mut roles: Vec<&'static str> = specs.iter().map(|s| s.role).collect();
        roles.sort();
        roles.dedup();
        ModelInfo {
            names_racks: specs.iter().any(|s| s.rack.is_some()),
            node_names: specs.into_iter().map(|s| s.name).collect(),
            roles,
            selectors: model.selectors(),
            catalogue: model.catalogue(),
        }
    }
}

/// A scenario file, parsed and checked.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// The path as given by the user (for messages).
    pub path: String,
    /// The file's text.
    pub source: String,
    /// 16 hex digits: the [`Digest`] of the source bytes.
    pub source_hash: String,
    pub name: String,
    pub description: String,
    /// Which model runs it.
    pub model: String,
    /// The engine's configuration, faults compiled.
    pub run: RunConfig,
    pub expect: Option<Expect>,
    /// The `[model]` table without its `name`, as written (empty for `model = "name"`).
    model_table: toml::Table,
    /// True when the file has a `[model]` table, false for `model = "name"`.
    model_is_table: bool,
    index: Index,
}

/// The file as serde reads it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    name: String,
    description: String,
    model: RawModel,
    #[serde(default)]
    run: PhaseConfig,
    #[serde(default)]
    network: NetworkConfig,
    #[serde(default)]
    disk: DiskConfig,
    #[serde(default)]
    topology: TopologyConfig,
    #[serde(default)]
    faults: Vec<FaultSpec>,
    #[serde(default)]
    nemesis: Option<NemesisConfig>,
    #[serde(default)]
    checks: ChecksConfig,
    #[serde(default)]
    limits: Limits,
    #[serde(default)]
    expect: Option<RawExpect>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpect {
    seeds: SeedRange,
    verdict: String,
    #[serde(default)]
    invariants: Vec<String>,
}

/// Keys of each section, to say where a key written at the top level belongs.
const SECTION_KEYS: [(&str, &[&str]); 8] = [
    ("run", &["fault_phase", "heal_phase", "heal_restarts"]),
    (
        "network",
        &[
            "latency",
            "loss",
            "duplicate",
            "reorder",
            "reorder_delay",
            "cross_rack_delay",
            "cross_zone_delay",
        ],
    ),
    ("disk", &["fsync_latency", "crash", "capacity_bytes"]),
    ("topology", &["racks", "zones"]),
    (
        "nemesis",
        &[
            "kinds",
            "interval_min",
            "interval_max",
            "duration_min",
            "duration_max",
            "role",
            "max_faulty",
            "clock_jump_max",
        ],
    ),
    ("checks", &["always", "eventually", "sometimes", "history"]),
    (
        "limits",
        &[
            "max_events",
            "max_time",
            "max_nodes",
            "max_queue",
            "max_message_bytes",
            "checker_budget",
        ],
    ),
    ("expect", &["seeds", "verdict", "invariants"]),
];

/// The keys a fault of each kind reads (beyond `at` and `kind`).
fn fault_keys(kind: FaultKind) -> &'static [&'static str] {
    match kind {
        FaultKind::Crash | FaultKind::Pause => &["target", "duration"],
        FaultKind::Restart => &["target"],
        FaultKind::Partition => &["target", "duration", "shape", "to"],
        FaultKind::Heal => &[],
        FaultKind::ClockJump => &["target", "offset", "duration"],
        FaultKind::ClockDrift => &["target", "drift_ppm", "duration"],
        FaultKind::Slow => &["target", "factor", "duration"],
        FaultKind::Disk => &["target", "disk", "factor", "duration"],
    }
}

fn fault_present_keys(spec: &FaultSpec) -> Vec<&'static str> {
    let mut keys = Vec::new();
    let mut add = |present: bool, key: &'static str| {
        if present {
            keys.push(key);
        }
    };
    add(spec.target.is_some(), "target");
    add(spec.duration.is_some(), "duration");
    add(spec.shape.is_some(), "shape");
    add(spec.to.is_some(), "to");
    add(spec.disk.is_some(), "disk");
    add(spec.offset.is_some(), "offset");
    add(spec.drift_ppm.is_some(), "drift_ppm");
    add(spec.factor.is_some(), "factor");
    keys
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

impl Scenario {
    /// Reads and parses a scenario file. I/O problems are `ScenarioError`s too (no line).
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let shown = path.display().to_string();
        let meta = std::fs::metadata(path).map_err(|e| {
            ScenarioError::whole_file(&shown, format!("cannot read the scenario: {e}"), None)
        })?;
        if !meta.is_file() {
            // A device or a pipe could be endless, or never end.
            return Err(ScenarioError::whole_file(
                &shown,
                "not a regular file".to_string(),
                Some("give the path of a scenario file (*.toml)".into()),
            ));
        }
        if meta.len() > MAX_FILE_BYTES as u64 {
            return Err(too_large(&shown, meta.len()));
        }
        let bytes = std::fs::read(path).map_err(|e| {
            ScenarioError::whole_file(&shown, format!("cannot read the scenario: {e}"), None)
        })?;
        let source = match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => {
                let valid = e.utf8_error().valid_up_to();
                let bytes = e.into_bytes();
                let text = String::from_utf8_lossy(&bytes[..valid]).into_owned();
                return Err(ScenarioError::at_span(
                    &shown,
                    &text,
                    valid..valid,
                    "the file is not UTF-8 text",
                    Some("scenario files are TOML, which is UTF-8".into()),
                ));
            }
        };
        Scenario::parse(&shown, &source)
    }

    /// Parses and checks a scenario's text; `path` is only used in messages.
    pub fn parse(path: &str, source: &str) -> Result<Scenario, ScenarioError> {
        if source.len() > MAX_FILE_BYTES {
            return Err(too_large(path, source.len() as u64));
        }
        let index = Index::build(source);
        let raw: RawFile = toml::from_str(source)
            .map_err(|e| toml_error(path, source, index.as_ref(), &e, TopLevel::Scenario))?;
        let index = index.unwrap_or_default();
        let mut digest = Digest::default();
        digest.write(source.as_bytes());
        let (model, model_table, model_is_table) = match raw.model {
            RawModel::Name(n) => (n, toml::Table::new(), false),
            RawModel::Table(mut t) => {
                // A missing or non-string name is reported by `check_header`, at its line.
                let name = match t.remove(NAME_KEY) {
                    Some(toml::Value::String(s)) => s,
                    _ => String::new(),
                };
                (name, t, true)
            }
        };
        let mut s = Scenario {
            path: path.to_string(),
            source: source.to_string(),
            source_hash: digest.hex(),
            name: raw.name,
            description: raw.description,
            model,
            run: RunConfig {
                network: raw.network,
                disk: raw.disk,
                topology: raw.topology,
                phases: raw.run,
                faults: Vec::new(),
                nemesis: raw.nemesis,
                limits: raw.limits,
                checks: raw.checks,
            },
            expect: None,
            model_table,
            model_is_table,
            index,
        };
        s.check_header()?;
        s.check_engine()?;
        s.compile_faults(&raw.faults)?;
        s.expect = match raw.expect {
            Some(e) => Some(s.check_expect(e)?),
            None => None,
        };
        Ok(s)
    }

    /// The `[model]` table as written, without `name` (empty for `model = "name"`).
    pub fn model_table(&self) -> &toml::Table {
        &self.model_table
    }

    /// Deserializes the `[model]` table into the model's config type `T` (which should use
    /// `deny_unknown_fields`); its errors point at the right line and column.
    pub fn model_config<T: DeserializeOwned>(&self) -> Result<T, ScenarioError> {
        if !self.model_is_table {
            return T::deserialize(toml::Value::Table(toml::Table::new())).map_err(|e| {
                let msg = e.message().trim().to_string();
                let (message, hint) = match backticked(&msg).first().filter(|_| msg.starts_with("missing field")) {
                    Some(key) => (
                        format!("the `{}` model needs `{key}`", self.model),
                        Some(format!("write the model as a table: [model] with name = \"{}\" and {key} = ...", self.model)),
                    ),
                    None => (msg, None),
                };
                self.error_at(&["model"], message, hint)
            });
        }
        match toml::from_str::<ModelOnly<T>>(&self.source) {
            Ok(ModelOnly(Some(t))) => Ok(t),
            Ok(ModelOnly(None)) => {
                Err(self.error_at(&["model"], "the file has no [model] table", None))
            }
            Err(e) => Err(toml_error(
                &self.path,
                &self.source,
                Some(&self.index),
                &e,
                TopLevel::Model,
            )),
        }
    }

    /// An error pointing at a key path, e.g. `&["model", "w"]` or `&["faults", "2", "at"]`
    /// (array elements by their 0-based index). Falls back to the nearest existing parent,
    /// then to line 1.
    pub fn error_at(
        &self,
        key_path: &[&str],
        message: impl Into<String>,
        hint: Option<String>,
    ) -> ScenarioError {
        let span = self.span_of(key_path).unwrap_or(0..0);
        ScenarioError::at_span(&self.path, &self.source, span, message, hint)
    }

    /// Whether the file writes this key (`["topology", "racks"]`).
    pub fn has_key(&self, key_path: &[&str]) -> bool {
        self.index.find(key_path).is_some()
    }

    fn span_of(&self, key_path: &[&str]) -> Option<Range<usize>> {
        self.index.find_nearest(key_path).and_then(|e| e.span())
    }

    /// A model's refusal of its settings, as an error at `["model", key]`.
    pub fn config_error(&self, e: ConfigError) -> ScenarioError {
        self.error_at(&["model", e.key], e.message, e.hint)
    }

    /// Checks the names in the file against the model: check names against its catalogue,
    /// `[expect] invariants` against all its checks, node names, roles and the model's own
    /// selectors in `[[faults]]`, and the `[nemesis]` role.
    pub fn validate_with(&self, info: &ModelInfo<'_>) -> Result<(), ScenarioError> {
        let cat = &info.catalogue;
        let kinds: [(&str, &[String], &[dsim_core::CheckInfo]); 4] = [
            ("always", &self.run.checks.always, cat.always),
            ("eventually", &self.run.checks.eventually, cat.eventually),
            ("sometimes", &self.run.checks.sometimes, cat.sometimes),
            ("history", &self.run.checks.history, cat.history),
        ];
        for (kind, names, offered) in kinds {
            let offered: Vec<&str> = offered.iter().map(|c| c.name).collect();
            for (i, name) in names.iter().enumerate() {
                if offered.contains(&name.as_str()) {
                    continue;
                }
                let elsewhere = kinds
                    .iter()
                    .find(|(_, _, infos)| infos.iter().any(|c| c.name == name))
                    .map(|(k, _, _)| *k);
                let hint = match elsewhere {
                    Some(other) => Some(format!(
                        "`{name}` is one of the model's {other} checks: move it to `{other}`"
                    )),
                    None => suggest::hint(name, &offered).or_else(|| {
                        Some(format!("the `{}` model has no {kind} checks", self.model))
                    }),
                };
                let i = i.to_string();
                return Err(self.error_at(
                    &["checks", kind, &i],
                    format!(
                        "unknown {kind} check `{name}` for the `{}` model",
                        self.model
                    ),
                    hint,
                ));
            }
        }
        if let Some(expect) = &self.expect {
            let all: Vec<&str> = [cat.always, cat.eventually, cat.sometimes, cat.history]
                .iter()
                .flat_map(|c| c.iter().map(|c| c.name))
                .collect();
            for (i, name) in expect.invariants.iter().enumerate() {
                if !all.contains(&name.as_str()) {
                    let i = i.to_string();
                    return Err(self.error_at(
                        &["expect", "invariants", &i],
                        format!("the `{}` model has no check named `{name}`", self.model),
                        suggest::hint(name, &all),
                    ));
                }
            }
        }
        for (i, fault) in self.run.faults.iter().enumerate() {
            for (field, sel) in fault.selectors() {
                let problem = match sel {
                    Selector::Node(n) if !info.node_names.iter().any(|x| x == n) => Some((
                        format!("no node is named `{n}`"),
                        name_hint(n, &info.node_names, "nodes"),
                    )),
                    Selector::Nodes(ns) => ns
                        .iter()
                        .find(|n| !info.node_names.iter().any(|x| x == *n))
                        .map(|n| {
                            (
                                format!("no node is named `{n}`"),
                                name_hint(n, &info.node_names, "nodes"),
                            )
                        }),
                    Selector::Role(r)
                    | Selector::Random(Some(r))
                    | Selector::Minority(Some(r))
                    | Selector::Majority(Some(r))
                        if !info.roles.contains(&r.as_str()) =>
                    {
                        Some((
                            format!("no node has the role `{r}`"),
                            name_hint(r, &info.roles, "roles"),
                        ))
                    }
                    Selector::Model { name, .. } if !info.selectors.contains(&name.as_str()) => {
                        let mut known: Vec<&str> = BUILTIN.to_vec();
                        known.extend(info.selectors.iter().copied());
                        let hint = did_you_mean(name, &known).map(|s| format!("did you mean `{s}`?")).or_else(|| {
                            Some(format!(
                                "selectors: all, node(NAME), role(ROLE), random, random(ROLE), minority, majority, rack(N), zone(N){}",
                                info.selectors.iter().map(|s| format!(", {s}")).collect::<String>()
                            ))
                        });
                        Some((
                            format!(
                                "unknown selector `{name}` (the `{}` model has no such selector)",
                                self.model
                            ),
                            hint,
                        ))
                    }
                    _ => None,
                };
                if let Some((message, hint)) = problem {
                    let i = i.to_string();
                    return Err(self.error_at(&["faults", &i, field], message, hint));
                }
            }
        }
        if let Some(role) = self.run.nemesis.as_ref().and_then(|n| n.role.as_ref()) {
            if !info.roles.contains(&role.as_str()) {
                return Err(self.error_at(
                    &["nemesis", "role"],
                    format!("no node has the role `{role}`"),
                    name_hint(role, &info.roles, "roles"),
                ));
            }
        }
        Ok(())
    }

    // ---- checks inside parse ----------------------------------------------------------

    fn check_header(&self) -> Result<(), ScenarioError> {
        if !is_name(&self.name) {
            return Err(self.error_at(
                &["name"],
                format!(
                    "`{}` is not a scenario name: use lowercase letters, digits and `-`",
                    self.name
                ),
                Some("e.g. name = \"nwr-strict\"".into()),
            ));
        }
        if self.description.trim().is_empty() {
            return Err(self.error_at(
                &["description"],
                "the description is empty",
                Some("say what a student should see when running this scenario".into()),
            ));
        }
        if self.model_is_table {
            match self.index.find(&["model", NAME_KEY]) {
                None => {
                    return Err(self.error_at(
                        &["model"],
                        "the [model] table has no `name`",
                        Some("add name = \"quorum\" (the model to run) to [model]".into()),
                    ))
                }
                Some(e) if e.text.is_none() => {
                    return Err(self.error_at(
                        &["model", NAME_KEY],
                        "the model's `name` must be a string",
                        Some("e.g. name = \"quorum\"".into()),
                    ))
                }
                Some(_) => {}
            }
        }
        if self.model.trim().is_empty() {
            return Err(self.error_at(
                &["model"],
                "the model's name is empty",
                Some("e.g. model = \"quorum\"".into()),
            ));
        }
        Ok(())
    }

    fn check_engine(&self) -> Result<(), ScenarioError> {
        let run = &self.run;
        let phases = &run.phases;
        if phases.fault_phase == Duration::ZERO {
            return Err(self.error_at(
                &["run", "fault_phase"],
                "the fault phase is 0: nothing would run",
                Some("e.g. fault_phase = \"60s\"".into()),
            ));
        }
        let Some(end) = phases.fault_phase.0.checked_add(phases.heal_phase.0) else {
            return Err(self.error_at(
                &["run", "heal_phase"],
                "the two phases together are too long",
                None,
            ));
        };
        if let Some(p) = run.network.latency.problem() {
            return Err(self.error_at(&["network", "latency"], p, None));
        }
        if let Some(p) = run.disk.fsync_latency.problem() {
            return Err(self.error_at(&["disk", "fsync_latency"], p, None));
        }
        for (key, v) in [("racks", run.topology.racks), ("zones", run.topology.zones)] {
            if v == 0 {
                return Err(self.error_at(
                    &["topology", key],
                    format!("{key} is 0: there must be at least one"),
                    None,
                ));
            }
            if run.limits.max_nodes > 0 && v > run.limits.max_nodes {
                return Err(self.error_at(
                    &["topology", key],
                    format!(
                        "{key} = {v} is more than `[limits] max_nodes` = {}",
                        run.limits.max_nodes
                    ),
                    Some(format!(
                        "a {} with no node in it shows nothing; use at most one per node",
                        &key[..key.len() - 1]
                    )),
                ));
            }
        }
        let l = &run.limits;
        for (key, v) in [
            ("max_events", l.max_events),
            ("max_nodes", l.max_nodes as u64),
            ("max_queue", l.max_queue),
            ("max_message_bytes", l.max_message_bytes),
            ("checker_budget", l.checker_budget),
        ] {
            if v == 0 {
                return Err(self.error_at(
                    &["limits", key],
                    format!("{key} is 0: nothing could run"),
                    None,
                ));
            }
        }
        if let Some(max) = l.max_time {
            if max.0 < end {
                // Point at what the user wrote: the limit if they set it, else the phases
                // that outgrew the default limit.
                let written = self.index.find(&["limits", "max_time"]).is_some();
                let at: &[&str] = if written {
                    &["limits", "max_time"]
                } else if phases.fault_phase >= phases.heal_phase {
                    &["run", "fault_phase"]
                } else {
                    &["run", "heal_phase"]
                };
                return Err(self.error_at(
                    at,
                    format!(
                        "max_time {} is shorter than the run: fault phase {} + heal phase {}",
                        format_exact(max),
                        format_exact(phases.fault_phase),
                        format_exact(phases.heal_phase)
                    ),
                    Some(if written {
                        format!("raise it to at least {}, or shorten [run]", format_exact(Duration(end)))
                    } else {
                        format!(
                            "the default limit is {}; shorten [run], or set [limits] max_time to at least {}",
                            format_exact(max),
                            format_exact(Duration(end))
                        )
                    }),
                ));
            }
        }
        if let Some(n) = &run.nemesis {
            self.check_nemesis(n)?;
        }
        Ok(())
    }

    fn check_nemesis(&self, n: &NemesisConfig) -> Result<(), ScenarioError> {
        let phase = self.run.phases.fault_phase;
        if n.kinds.is_empty() {
            return Err(self.error_at(
                &["nemesis", "kinds"],
                "the nemesis has no kinds of fault to draw from",
                Some(format!(
                    "e.g. kinds = [\"crash\", \"partition\"]; kinds: {}",
                    FaultKind::ALL.join(", ")
                )),
            ));
        }
        if n.interval_min < MIN_NEMESIS_INTERVAL {
            return Err(self.error_at(
                &["nemesis", "interval_min"],
                format!(
                    "interval_min {} is below the nemesis's minimum of 1ms",
                    format_exact(n.interval_min)
                ),
                Some("give the time between faults, e.g. interval_min = \"1s\"".into()),
            ));
        }
        if n.interval_min > n.interval_max {
            return Err(self.error_at(
                &["nemesis", "interval_min"],
                format!(
                    "interval_min {} is above interval_max {}",
                    format_exact(n.interval_min),
                    format_exact(n.interval_max)
                ),
                None,
            ));
        }
        if n.duration_min > n.duration_max {
            return Err(self.error_at(
                &["nemesis", "duration_min"],
                format!(
                    "duration_min {} is above duration_max {}",
                    format_exact(n.duration_min),
                    format_exact(n.duration_max)
                ),
                None,
            ));
        }
        if n.interval_min >= phase {
            return Err(self.error_at(
                &["nemesis", "interval_min"],
                format!(
                    "interval_min {} is not before the end of the fault phase ({}): the nemesis would never act",
                    format_exact(n.interval_min),
                    format_exact(phase)
                ),
                Some("shorten interval_min or lengthen [run] fault_phase".into()),
            ));
        }
        if n.clock_jump_max.0 > i64::MAX as u64 {
            return Err(self.error_at(
                &["nemesis", "clock_jump_max"],
                format!(
                    "clock_jump_max {} is too large",
                    format_exact(n.clock_jump_max)
                ),
                None,
            ));
        }
        if !n.disk.is_empty() && !n.kinds.contains(&FaultKind::Disk) {
            return Err(self.error_at(
                &["nemesis", "disk"],
                "`disk` has no effect: `kinds` does not include \"disk\"",
                Some("add \"disk\" to kinds, or remove `disk`".into()),
            ));
        }
        Ok(())
    }

    fn compile_faults(&mut self, specs: &[FaultSpec]) -> Result<(), ScenarioError> {
        let phase = self.run.phases.fault_phase;
        let mut out = Vec::with_capacity(specs.len());
        for (i, spec) in specs.iter().enumerate() {
            let idx = i.to_string();
            let at = |field: &str| -> [String; 3] { ["faults".into(), idx.clone(), field.into()] };
            let err = |field: &str, message: String, hint: Option<String>| {
                let p = at(field);
                self.error_at(
                    &[p[0].as_str(), p[1].as_str(), p[2].as_str()],
                    message,
                    hint,
                )
            };
            let n = i + 1;
            let kind = spec.kind.name();
            if spec.at >= phase {
                return Err(err(
                    "at",
                    format!(
                        "fault {n} fires at {}, after the fault phase ends at {}",
                        format_exact(spec.at),
                        format_exact(phase)
                    ),
                    Some("move it earlier, or lengthen [run] fault_phase".into()),
                ));
            }
            let planned =
                PlannedFault::compile(spec).map_err(|e| err(e.field, e.message, e.hint))?;
            // Keys the engine would silently ignore for this kind of fault.
            let reads = fault_keys(spec.kind);
            for key in fault_present_keys(spec) {
                if !reads.contains(&key) {
                    let hint = if reads.is_empty() {
                        format!("a `{kind}` fault takes only `at`; remove `{key}`")
                    } else {
                        format!(
                            "a `{kind}` fault reads {}; remove `{key}`",
                            suggest::list(reads)
                        )
                    };
                    return Err(err(
                        key,
                        format!("`{key}` has no effect on a `{kind}` fault"),
                        Some(hint),
                    ));
                }
            }
            match spec.kind {
                FaultKind::Partition => {
                    if planned.shape == PartitionShape::Isolate && planned.target.is_none() {
                        return Err(err(
                            "kind",
                            "an isolating partition needs a `target`: the nodes to cut off".into(),
                            Some("add e.g. target = \"random(replica)\", or shape = \"majority-minority\"".into()),
                        ));
                    }
                    if spec.to.is_some() && planned.shape != PartitionShape::OneWay {
                        return Err(err(
                            "to",
                            "`to` only applies to one-way partitions".into(),
                            Some("add shape = \"one-way\", or remove `to`".into()),
                        ));
                    }
                }
                FaultKind::Disk => {
                    let which = spec.disk.unwrap_or(DiskFault::LoseUnsynced);
                    if spec.factor.is_some() && which != DiskFault::Slow {
                        return Err(err(
                            "factor",
                            "`factor` only applies to disk = \"slow\"".into(),
                            Some("remove `factor`".into()),
                        ));
                    }
                    if spec.duration.is_some()
                        && !matches!(which, DiskFault::Full | DiskFault::Slow)
                    {
                        return Err(err(
                            "duration",
                            "`duration` has no effect on this disk fault: it cannot be undone".into(),
                            Some("only disk = \"full\" and \"slow\" are lifted after a duration; remove `duration`".into()),
                        ));
                    }
                }
                _ => {}
            }
            for (field, sel) in planned.selectors() {
                let (what, n, count) = match sel {
                    Selector::Rack(r) => ("rack", *r, self.run.topology.racks),
                    Selector::Zone(z) => ("zone", *z, self.run.topology.zones),
                    _ => continue,
                };
                if n >= count {
                    return Err(err(
                        field,
                        format!("{what}({n}) does not exist: [topology] has {count} {what}(s), numbered from 0"),
                        Some(format!("use {what}(0) to {what}({})", count.saturating_sub(1))),
                    ));
                }
            }
            out.push(planned);
        }
        self.run.faults = out;
        Ok(())
    }

    fn check_expect(&self, e: RawExpect) -> Result<Expect, ScenarioError> {
        let verdict = match verdict_named(&e.verdict) {
            Some(Verdict::Panic | Verdict::Limit) => {
                return Err(self.error_at(
                    &["expect", "verdict"],
                    format!(
                        "`{}` cannot be expected: a panic or an exceeded limit is always a failure",
                        e.verdict
                    ),
                    Some(format!("verdicts: {}", EXPECTABLE.join(", "))),
                ))
            }
            Some(v) => v,
            None => {
                return Err(self.error_at(
                    &["expect", "verdict"],
                    format!("unknown verdict `{}`", e.verdict),
                    suggest::hint(&e.verdict, &EXPECTABLE),
                ))
            }
        };
        if e.seeds.len() > MAX_EXPECT_SEEDS {
            return Err(self.error_at(
                &["expect", "seeds"],
                format!(
                    "{} seeds is too many: at most {MAX_EXPECT_SEEDS}",
                    e.seeds.len()
                ),
                Some(
                    "`dsim check` runs every seed of the range; keep it small and sweep separately"
                        .into(),
                ),
            ));
        }
        if verdict == Verdict::Valid && !e.invariants.is_empty() {
            return Err(self.error_at(
                &["expect", "invariants"],
                "`invariants` only goes with a failing verdict: with `valid`, no check may fire",
                Some("remove `invariants`, or expect e.g. verdict = \"violation\"".into()),
            ));
        }
        let checks = &self.run.checks;
        for (i, name) in e.invariants.iter().enumerate() {
            let on = [
                &checks.always,
                &checks.eventually,
                &checks.sometimes,
                &checks.history,
            ]
            .iter()
            .any(|l| l.contains(name));
            if !on {
                let i = i.to_string();
                return Err(self.error_at(
                    &["expect", "invariants", &i],
                    format!("`{name}` is not in [checks], so it can never fire"),
                    Some(format!("add `{name}` to the right list of [checks] (always, eventually, sometimes or history)")),
                ));
            }
        }
        Ok(Expect {
            seeds: e.seeds,
            verdict,
            invariants: e.invariants,
        })
    }
}

fn name_hint<S: AsRef<str>>(word: &str, names: &[S], what: &str) -> Option<String> {
    if let Some(s) = did_you_mean(word, names) {
        return Some(format!("did you mean `{s}`?"));
    }
    if names.is_empty() {
        return None;
    }
    let shown: Vec<&str> = names.iter().take(8).map(|s| s.as_ref()).collect();
    let more = if names.len() > shown.len() {
        format!(", ... ({} in all)", names.len())
    } else {
        String::new()
    };
    Some(format!("{what}: {}{more}", shown.join(", ")))
}

fn too_large(path: &str, len: u64) -> ScenarioError {
    ScenarioError::whole_file(
        path,
        format!("the file is {len} bytes, over the limit of {MAX_FILE_BYTES} (1 MiB) for a scenario"),
        Some("a scenario is a short story: one cluster, a few faults, the checks and the expectation".into()),
    )
}

/// Which document toml was reading when it failed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum TopLevel {
    /// The whole scenario.
    Scenario,
    /// The `[model]` table, for the model's config type.
    Model,
}

/// Turns toml's error into a `ScenarioError` at the right place, with did-you-mean.
fn toml_error(
    file: &str,
    source: &str,
    index: Option<&Index>,
    e: &toml::de::Error,
    top: TopLevel,
) -> ScenarioError {
    let raw = e.message().trim();
    let given = e.span();
    let mut span = given.clone().unwrap_or(0..0);
    span.end = span.end.min(source.len());
    span.start = span.start.min(span.end);
    let mut message: String = raw
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    let mut hint = None;
    if let Some(u) = Unknown::parse(raw) {
        let mut place = None;
        if u.field {
            if let Some(ix) = index {
                if source.get(span.clone()) != Some(u.name.as_str()) {
                    if let Some(k) = ix.key_within(&u.name, &span).and_then(|e| e.key.clone()) {
                        span = k;
                    }
                }
                place = ix
                    .key_at(&span)
                    .map(|e| describe(&e.path[..e.path.len().saturating_sub(1)]));
            }
            message = match &place {
                Some(p) => format!("unknown key `{}` {p}", u.name),
                None => format!("unknown key `{}`", u.name),
            };
            let top_level = place.as_deref() == Some("at the top level");
            hint = (top_level && top == TopLevel::Scenario)
                .then(|| {
                    SECTION_KEYS
                        .iter()
                        .find(|(_, keys)| keys.contains(&u.name.as_str()))
                        .map(|(section, _)| format!("`{}` belongs in [{section}]", u.name))
                })
                .flatten()
                .or_else(|| suggest::hint(&u.name, &u.expected));
        } else {
            let mut key = None;
            if let Some(ix) = index {
                let here = source.get(span.clone()).unwrap_or("");
                if !here.contains(u.name.as_str()) || here.len() > u.name.len() + 2 {
                    if let Some(v) = ix
                        .string_within(&u.name, &span)
                        .and_then(|e| e.value.clone())
                    {
                        span = v;
                    }
                }
                if let Some(entry) = ix.value_at(&span) {
                    key = entry.key_name().map(str::to_string);
                    let mut table = entry.path.clone();
                    while table.last().is_some_and(|p| locate::is_index(p)) {
                        table.pop();
                    }
                    table.pop();
                    place = Some(describe(&table));
                }
            }
            message = match (&key, &place) {
                (Some(k), Some(p)) => format!("unknown value `{}` for `{k}` {p}", u.name),
                _ => format!("unknown value `{}`", u.name),
            };
            hint = suggest::hint(&u.name, &u.expected);
        }
    } else if let Some(rest) = raw.strip_prefix("missing field ") {
        let name = backticked(rest)
            .first()
            .map(|s| s.to_string())
            .unwrap_or_default();
        let place = match (index, &given) {
            (Some(ix), Some(g)) if g.end > g.start => ix.value_at(&span).map(|e| describe(&e.path)),
            _ => None,
        }
        .unwrap_or_else(|| match top {
            TopLevel::Scenario => describe(&[]),
            TopLevel::Model => describe(&["model".to_string()]),
        });
        message = format!("missing key `{name}` {place}");
        hint = match (top, place.as_str(), name.as_str()) {
            (TopLevel::Scenario, "at the top level", "name") => Some("add e.g. name = \"nwr-strict\"".into()),
            (TopLevel::Scenario, "at the top level", "description") => {
                Some("add description = \"...\": what a student should see".into())
            }
            (TopLevel::Scenario, "at the top level", "model") => Some("add e.g. model = \"quorum\"".into()),
            (TopLevel::Scenario, "in [nemesis]", _) => Some(
                "the nemesis needs `kinds`, `interval_min`, `interval_max`, `duration_min` and `duration_max`".into(),
            ),
            (TopLevel::Scenario, "in [expect]", _) => Some("[expect] needs `seeds` and `verdict`".into()),
            (TopLevel::Scenario, p, "at" | "kind") if p.starts_with("in fault") => {
                Some("every fault needs `at` (when it fires) and `kind` (what it does)".into())
            }
            _ => None,
        };
    } else {
        // Errors from a value (a bad duration inside a latency table, ...): point at the
        // string the message quotes, when the span covers more than it.
        if let (Some(ix), Some(word)) = (index, backticked(raw).first()) {
            if let Some(v) = ix.string_within(word, &span).and_then(|e| e.value.clone()) {
                span = v;
            }
        }
        if raw.contains("duplicate key `model`") {
            hint = Some(
                "the model's name goes inside its table: [model] with name = \"quorum\" and the settings".into(),
            );
        }
    }
    ScenarioError::at_span(file, source, span, message, hint)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table behind "`loss` belongs in [network]" must follow core's structs.
    #[test]
    fn section_keys_are_real_keys() {
        for (section, keys) in SECTION_KEYS {
            for key in keys {
                let src = format!("name = \"t\"\ndescription = \"d\"\nmodel = \"q\"\n[{section}]\n{key} = \"?\"\n");
                if let Err(e) = Scenario::parse("t.toml", &src) {
                    assert!(!e.message.contains("unknown key"), "[{section}] {key}: {e}");
                }
            }
        }
    }
}
