//! What `run` prints: the JSON object of the design brief §8, and the same in words.

use std::collections::BTreeMap;

use dsim_core::units::format_ns;
use dsim_core::world::{FaultRecord, PanicInfo};
use dsim_core::{RunReport, Verdict};
use dsim_scenario::Scenario;
use serde::Serialize;

#[derive(Serialize)]
pub struct ViolationJson {
    pub invariant: String,
    pub class: dsim_core::CheckClass,
    pub at_ns: u64,
    pub event: Option<u64>,
    pub nodes: Vec<String>,
    pub detail: String,
    /// The history operations a history check names as its evidence.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ops: Vec<u64>,
}

#[derive(Serialize)]
pub struct RunJson<'a> {
    pub scenario: &'a str,
    pub name: &'a str,
    pub model: &'a str,
    pub seed: u64,
    pub verdict: &'static str,
    pub exit_code: i32,
    pub digest: &'a str,
    pub events: u64,
    pub sim_time_ns: u64,
    pub wall_ms: u64,
    pub events_per_sec: u64,
    pub violations: Vec<ViolationJson>,
    pub unknown: &'a [String],
    pub panic: Option<&'a PanicInfo>,
    pub limit: Option<&'a str>,
    pub metrics: &'a BTreeMap<String, i64>,
    pub marks: Vec<&'a str>,
    pub faults: &'a [FaultRecord],
    pub reproduce: String,
    pub dsim_version: &'static str,
    pub scenario_hash: &'a str,
}

pub fn reproduce(scenario: &Scenario, seed: u64) -> String {
    format!("dsim run {} --seed {seed}", scenario.path)
}

pub fn violations_json(report: &RunReport) -> Vec<ViolationJson> {
    report
        .violations
        .iter()
        .map(|v| ViolationJson {
            invariant: v.invariant.clone(),
            class: v.class,
            at_ns: v.at_ns,
            event: v.event,
            nodes: v
                .nodes
                .iter()
                .map(|n| {
                    report
                        .node_names
                        .get(n.index())
                        .cloned()
                        .unwrap_or_else(|| n.to_string())
                })
                .collect(),
            detail: v.detail.clone(),
            ops: v.ops.clone(),
        })
        .collect()
}

pub fn run_json<'a>(scenario: &'a Scenario, report: &'a RunReport, wall_ms: u64) -> RunJson<'a> {
    RunJson {
        scenario: &scenario.path,
        name: &scenario.name,
        model: &scenario.model,
        seed: report.seed,
        verdict: report.verdict.name(),
        exit_code: report.verdict.exit_code(),
        digest: &report.digest,
        events: report.events,
        sim_time_ns: report.sim_time_ns,
        wall_ms,
        events_per_sec: (report.events * 1000).checked_div(wall_ms).unwrap_or(0),
        violations: violations_json(report),
        unknown: &report.unknown,
        panic: report.panic.as_ref(),
        limit: report.limit.as_deref(),
        metrics: &report.metrics,
        marks: report.marks.iter().map(|s| s.as_str()).collect(),
        faults: &report.faults,
        reproduce: reproduce(scenario, report.seed),
        dsim_version: dsim_core::VERSION,
        scenario_hash: &scenario.source_hash,
    }
}

/// One sentence for a verdict.
pub fn verdict_words(v: Verdict) -> &'static str {
    match v {
        Verdict::Valid => "VALID: every check held",
        Verdict::Violation => "VIOLATION: a safety property broke",
        Verdict::Liveness => {
            "LIVENESS FAILURE: an expectation did not come true by the end of the heal phase"
        }
        Verdict::NeverReached => "NEVER REACHED: the run did not show what the scenario claims",
        Verdict::Panic => "PANIC: a model crashed the simulator",
        Verdict::Unknown => "UNKNOWN: a checker gave up within its budget",
        Verdict::Limit => "LIMIT: the run exceeded a limit",
    }
}

/// The report in words, for stderr.
pub fn human(scenario: &Scenario, report: &RunReport, wall_ms: u64) -> String {
    let mut s = String::new();
    let name = |i: &dsim_core::NodeId| {
        report
            .node_names
            .get(i.index())
            .cloned()
            .unwrap_or_else(|| i.to_string())
    };
    s.push_str(&format!("{}\n", verdict_words(report.verdict)));
    for v in &report.violations {
        let nodes: Vec<String> = v.nodes.iter().map(name).collect();
        let at = match v.event {
            Some(e) => format!("at {} (event {e})", format_ns(v.at_ns)),
            None => format!("at the end ({})", format_ns(v.at_ns)),
        };
        s.push_str(&format!(
            "  - {} [{}] {at}",
            v.invariant,
            class_word(v.class)
        ));
        if !nodes.is_empty() {
            s.push_str(&format!(" on {}", nodes.join(", ")));
        }
        s.push_str(&format!(":\n      {}\n", v.detail));
    }
    for u in &report.unknown {
        s.push_str(&format!("  - unknown: {u}\n"));
    }
    if let Some(p) = &report.panic {
        s.push_str(&format!(
            "  - {} panicked at {} (event {}): {}\n",
            p.node,
            format_ns(p.at_ns),
            p.event,
            p.message
        ));
    }
    if let Some(l) = &report.limit {
        s.push_str(&format!("  - {l}\n"));
    }
    if !report.faults.is_empty() {
        s.push_str(&format!("faults ({}):\n", report.faults.len()));
        for f in report.faults.iter().take(12) {
            s.push_str(&format!(
                "  {:>10}  {:<11} {:<24} {}\n",
                format_ns(f.at_ns),
                f.kind,
                f.nodes.join(","),
                f.detail
            ));
        }
        if report.faults.len() > 12 {
            s.push_str(&format!(
                "  ... and {} more (see --trace or --out)\n",
                report.faults.len() - 12
            ));
        }
    }
    let m = &report.metrics;
    let g = |k: &str| m.get(k).copied().unwrap_or(0);
    s.push_str(&format!(
        "history: {} ops ({} ok, {} indeterminate); messages: {} sent, {} delivered, {} lost, {} cut by partitions\n",
        g("history_ops"),
        g("history_ok"),
        g("history_indeterminate"),
        g("messages_sent"),
        g("messages_delivered"),
        g("messages_lost"),
        g("messages_partitioned"),
    ));
    if !report.marks.is_empty() {
        s.push_str(&format!(
            "reached: {}\n",
            report.marks.iter().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    s.push_str(&format!(
        "digest {}  events {}  virtual time {}  wall {} ms\n",
        report.digest,
        report.events,
        format_ns(report.sim_time_ns),
        wall_ms
    ));
    if report.verdict != Verdict::Valid {
        s.push_str(&format!(
            "reproduce: {}\n",
            reproduce(scenario, report.seed)
        ));
    }
    s
}

fn class_word(c: dsim_core::CheckClass) -> &'static str {
    match c {
        dsim_core::CheckClass::Safety => "safety",
        dsim_core::CheckClass::Liveness => "liveness",
        dsim_core::CheckClass::Sometimes => "sometimes",
    }
}
