//! The scenario files of `scenarios/bench/` load with the real loader (`dsim-scenario`)
//! into these models' config types, and a small copy of heartbeat-10k runs to the verdict
//! its `[expect]` claims. The full-size runs are `dsim check scenarios/` (in CI) and the
//! pinned pingpong digest in `sim/cli/tests/golden.rs`.

use dsim_bench_models::{Heartbeat, HeartbeatConfig, PingPong, PingPongConfig};
use dsim_scenario::testing::Testbed;

const PINGPONG: Testbed<PingPongConfig, PingPong> = Testbed::new("bench", PingPong::new);
const HEARTBEAT: Testbed<HeartbeatConfig, Heartbeat> = Testbed::new("bench", Heartbeat::new);

#[test]
fn pingpong_scenario_loads() {
    let s = PINGPONG.scenario("pingpong.toml");
    assert_eq!(s.model, "pingpong");
    let cfg = PINGPONG.config(&s);
    assert_eq!(
        cfg,
        PingPongConfig {
            nodes: 2,
            in_flight: 64,
            panic_at_hops: None
        }
    );
    PINGPONG.model(cfg);
    assert_eq!(s.expect.expect("[expect]").seeds.iter(), 1..=1);
}

#[test]
fn heartbeat_scenario_loads_and_a_small_copy_meets_its_expectation() {
    let s = HEARTBEAT.scenario("heartbeat-10k.toml");
    assert_eq!(s.model, "heartbeat");
    let cfg = HEARTBEAT.config(&s);
    assert_eq!(cfg.workers, 10_000);
    // The same story with 200 workers for the same hour: about 720k events.
    let expect = s.expect.clone().expect("[expect]");
    for r in HEARTBEAT.sweep(&s, expect.seeds.iter(), |c| c.workers = 200) {
        assert_eq!(
            r.verdict, expect.verdict,
            "seed {}: {:?} {:?}",
            r.seed, r.limit, r.violations
        );
        assert!(r.events > 700_000, "{}", r.events);
    }
}
