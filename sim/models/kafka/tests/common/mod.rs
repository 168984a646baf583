//! What the kafka integration tests share: a catalogue scenario, run over seeds with its
//! `[model]` changed, and the checks that fired.
#![allow(dead_code)] // each test file uses its own subset

use std::path::PathBuf;

use dsim_core::{run, RunOptions, RunReport, Verdict};
use dsim_kafka::{Kafka, KafkaConfig};
use dsim_scenario::Scenario;

pub fn scenario(name: &str) -> Scenario {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../scenarios/kafka")
        .join(name);
    Scenario::load(&path).unwrap_or_else(|e| panic!("{name}: {e}"))
}

pub fn history_checks(s: &mut Scenario, names: &[&str]) {
    s.run.checks.history = names.iter().map(|n| n.to_string()).collect();
}

/// Runs the scenario's seeds with its `[model]`, changed by `change`.
pub fn sweep(
    s: &Scenario,
    seeds: std::ops::RangeInclusive<u64>,
    change: impl Fn(&mut KafkaConfig),
) -> Vec<RunReport> {
    let mut cfg: KafkaConfig = s.model_config().expect("model config");
    change(&mut cfg);
    let model = Kafka::new(cfg).expect("valid config");
    seeds
        .map(|seed| {
            let opts = RunOptions {
                record: true,
                ..RunOptions::default()
            };
            run(&model, &s.run, seed, opts).expect("runs")
        })
        .collect()
}

pub fn fired(reports: &[RunReport], name: &str) -> usize {
    reports
        .iter()
        .filter(|r| r.violations.iter().any(|v| v.invariant == name))
        .count()
}

pub fn explain(reports: &[RunReport]) -> String {
    reports
        .iter()
        .flat_map(|r| {
            r.violations
                .iter()
                .map(move |v| format!("seed {}: {}: {}", r.seed, v.invariant, v.detail))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn all_valid(reports: &[RunReport]) -> bool {
    reports.iter().all(|r| r.verdict == Verdict::Valid)
}
