//! The scenario files of `scenarios/bench/` load with the real loader (`dsim-scenario`)
//! into these models' config types, and a small copy of heartbeat-10k runs to the verdict
//! its `[expect]` claims. The full-size runs are `dsim check scenarios/` (in CI) and the
//! pinned pingpong digest in `sim/cli/tests/golden.rs`.

use std::path::PathBuf;

use dsim_bench_models::{Heartbeat, HeartbeatConfig, PingPong, PingPongConfig};
use dsim_core::{run, RunOptions};
use dsim_scenario::Scenario;

fn load(name: &str) -> Scenario {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../scenarios/bench")
        .join(name);
    Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn pingpong_scenario_loads() {
    let s = load("pingpong.toml");
    assert_eq!(s.model, "pingpong");
    let cfg: PingPongConfig = s.model_config().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        cfg,
        PingPongConfig {
            nodes: 2,
            in_flight: 64,
            panic_at_hops: None
        }
    );
    PingPong::new(cfg).expect("valid");
    assert_eq!(s.expect.expect("[expect]").seeds.iter(), 1..=1);
}

#[test]
fn heartbeat_scenario_loads_and_a_small_copy_meets_its_expectation() {
    let s = load("heartbeat-10k.toml");
    assert_eq!(s.model, "heartbeat");
    let cfg: HeartbeatConfig = s.model_config().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.workers, 10_000);
    // The same story with 200 workers for the same hour: about 720k events.
    let small = Heartbeat::new(HeartbeatConfig {
        workers: 200,
        ..cfg
    })
    .expect("valid");
    let expect = s.expect.clone().expect("[expect]");
    for seed in expect.seeds.iter() {
        let r = run(&small, &s.run, seed, RunOptions::default()).expect("runs");
        assert_eq!(
            r.verdict, expect.verdict,
            "seed {seed}: {:?} {:?}",
            r.limit, r.violations
        );
        assert!(r.events > 700_000, "{}", r.events);
    }
}
