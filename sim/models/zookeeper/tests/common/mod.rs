//! Shared helpers: load a scenario of scenarios/zookeeper and run seeds of it.
#![allow(dead_code)]

use dsim_core::{RunConfig, RunOptions, RunReport};
use dsim_zookeeper::{ZkConfig, ZooKeeper};

pub fn load(file: &str) -> (ZkConfig, RunConfig) {
    let path = format!(
        "{}/../../../scenarios/zookeeper/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let scenario =
        dsim_scenario::Scenario::load(std::path::Path::new(&path)).expect("scenario loads");
    (scenario.model_config().expect("model config"), scenario.run)
}

pub fn run(cfg: &ZkConfig, world: &RunConfig, seed: u64) -> RunReport {
    let model = ZooKeeper::new(cfg.clone()).expect("valid config");
    dsim_core::run(&model, world, seed, RunOptions::default()).expect("runs")
}

pub fn fired(r: &RunReport, name: &str) -> bool {
    r.violations.iter().any(|v| v.invariant == name)
}

pub fn describe(r: &RunReport) -> String {
    let v: Vec<String> = r
        .violations
        .iter()
        .map(|v| format!("{}: {}", v.invariant, v.detail))
        .collect();
    format!(
        "seed {} {:?} events {} panic {:?} limit {:?} {}",
        r.seed,
        r.verdict,
        r.events,
        r.panic,
        r.limit,
        v.join(" | ")
    )
}
