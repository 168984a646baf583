//! The scenario files of `scenarios/bench/` parse into the engine's and the models' config
//! types, and run to the verdict their `[expect]` claims.
//!
//! The real loader lives in `dsim-scenario`; this reads only the sections these files use,
//! with the engine's own serde types, so a typo in a file or a renamed key fails here too.
//! Full-size runs are `#[ignore]`d: `cargo test -p dsim-bench-models --release -- --ignored`.

use std::path::PathBuf;

use serde::Deserialize;

use dsim_bench_models::{Heartbeat, HeartbeatConfig, PingPong, PingPongConfig};
use dsim_core::config::{ChecksConfig, Limits, NetworkConfig, PhaseConfig};
use dsim_core::{run, Model, RunConfig, RunOptions, RunReport};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    name: String,
    description: String,
    model: toml::Table,
    run: PhaseConfig,
    #[serde(default)]
    network: NetworkConfig,
    #[serde(default)]
    checks: ChecksConfig,
    #[serde(default)]
    limits: Limits,
    expect: Expect,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    seeds: String,
    verdict: String,
}

struct Scenario {
    file: File,
    model_name: String,
}

fn load(name: &str) -> Scenario {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../scenarios/bench")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut file: File =
        toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let model_name = match file.model.remove("name") {
        Some(toml::Value::String(s)) => s,
        other => panic!("{name}: [model] name is {other:?}"),
    };
    assert!(
        !file.name.is_empty() && file.description.len() > 100,
        "{name}: name and a paragraph of description"
    );
    assert!(file.network.latency.problem().is_none());
    Scenario { file, model_name }
}

impl Scenario {
    fn model_config<T: serde::de::DeserializeOwned>(&self) -> T {
        toml::Value::Table(self.file.model.clone())
            .try_into()
            .expect("[model] fits the model's config")
    }
    fn run_config(&self) -> RunConfig {
        RunConfig {
            network: self.file.network.clone(),
            phases: self.file.run.clone(),
            limits: self.file.limits.clone(),
            checks: self.file.checks.clone(),
            ..RunConfig::default()
        }
    }
    /// The seeds of `[expect]`, "A..B" inclusive.
    fn seeds(&self) -> std::ops::RangeInclusive<u64> {
        let (a, b) = self.file.expect.seeds.split_once("..").expect("A..B");
        a.parse().expect("A")..=b.parse().expect("B")
    }
    fn check<M: Model>(&self, model: &M, cfg: &RunConfig) -> Vec<RunReport> {
        let catalogue = model.catalogue();
        for name in &cfg.checks.eventually {
            assert!(
                catalogue.eventually.iter().any(|c| c.name == name),
                "{name} is not in the catalogue"
            );
        }
        for name in &cfg.checks.sometimes {
            assert!(
                catalogue.sometimes.iter().any(|c| c.name == name),
                "{name} is not in the catalogue"
            );
        }
        self.seeds()
            .map(|seed| {
                let r = run(model, cfg, seed, RunOptions::default()).expect("runs");
                assert_eq!(
                    r.verdict.name(),
                    self.file.expect.verdict,
                    "seed {seed}: {:?} {:?}",
                    r.limit,
                    r.violations
                );
                r
            })
            .collect()
    }
}

#[test]
fn pingpong_scenario_parses() {
    let s = load("pingpong.toml");
    assert_eq!(s.model_name, "pingpong");
    let cfg: PingPongConfig = s.model_config();
    assert_eq!(
        cfg,
        PingPongConfig {
            nodes: 2,
            in_flight: 64,
            panic_at_hops: None,
        }
    );
    PingPong::new(cfg).expect("valid");
    assert_eq!(s.seeds(), 1..=1);
}

#[test]
fn heartbeat_scenario_parses_and_a_small_copy_runs_clean() {
    let s = load("heartbeat-10k.toml");
    assert_eq!(s.model_name, "heartbeat");
    let cfg: HeartbeatConfig = s.model_config();
    assert_eq!(cfg.workers, 10_000);
    Heartbeat::new(cfg.clone()).expect("valid");
    // The same story with 200 workers for the same hour: about 720k events.
    let small = Heartbeat::new(HeartbeatConfig {
        workers: 200,
        ..cfg
    })
    .expect("valid");
    let reports = s.check(&small, &s.run_config());
    assert!(reports[0].events > 700_000, "{}", reports[0].events);
}

#[test]
#[ignore = "7 million events: run with --ignored"]
fn pingpong_scenario_runs_as_expected() {
    let s = load("pingpong.toml");
    let model = PingPong::new(s.model_config()).expect("valid");
    let cfg = s.run_config();
    for r in s.check(&model, &cfg) {
        println!(
            "pingpong seed {}: {} events, digest {}",
            r.seed, r.events, r.digest
        );
        assert!((5_000_000..10_000_000).contains(&r.events));
        assert!(r.events < cfg.limits.max_events);
    }
}

#[test]
#[ignore = "36 million events: run with --ignored"]
fn heartbeat_10k_scenario_runs_as_expected() {
    let s = load("heartbeat-10k.toml");
    let model = Heartbeat::new(s.model_config()).expect("valid");
    let cfg = s.run_config();
    for r in s.check(&model, &cfg) {
        println!(
            "heartbeat-10k seed {}: {} events, digest {}",
            r.seed, r.events, r.digest
        );
        assert!(r.events < cfg.limits.max_events);
    }
}
