//! pingpong: balls are conserved, and runs are pure functions of the seed.

use dsim_bench_models::pingpong::{PingPong, PingPongConfig};
use dsim_core::config::{Latency, NetworkConfig, PhaseConfig};
use dsim_core::units::{Duration, MS};
use dsim_core::{run, Model, RunConfig, RunOptions, RunReport, Verdict};

fn model(nodes: u32, in_flight: u32) -> PingPong {
    PingPong::new(PingPongConfig {
        nodes,
        in_flight,
        panic_at_hops: None,
    })
    .expect("valid config")
}

fn cfg(latency: Latency, sim: Duration) -> RunConfig {
    RunConfig {
        network: NetworkConfig {
            latency,
            ..NetworkConfig::default()
        },
        phases: PhaseConfig {
            fault_phase: sim,
            heal_phase: Duration::from_ms(100),
            ..PhaseConfig::default()
        },
        ..RunConfig::default()
    }
}

fn lognormal() -> Latency {
    Latency::Lognormal {
        p50: Duration(500_000),
        p99: Duration::from_ms(5),
    }
}

fn go(m: &PingPong, c: &RunConfig, seed: u64, record: bool) -> RunReport {
    let r = run(
        m,
        c,
        seed,
        RunOptions {
            record,
            ..RunOptions::default()
        },
    )
    .expect("runs");
    assert_eq!(
        r.verdict,
        Verdict::Valid,
        "limit: {:?}, panic: {:?}",
        r.limit,
        r.panic
    );
    r
}

#[test]
fn balls_are_conserved() {
    for (nodes, in_flight) in [(2, 64), (5, 3)] {
        let m = model(nodes, in_flight);
        let r = go(&m, &cfg(lognormal(), Duration::from_secs(1)), 7, true);
        let sent = r.metrics["messages_sent"];
        let delivered = r.metrics["messages_delivered"];
        let balls = (nodes * in_flight) as i64;
        // Every delivery throws the ball on: what was sent and not yet caught is exactly
        // the balls still in the air.
        assert_eq!(
            sent - delivered,
            balls,
            "nodes {nodes}, in_flight {in_flight}"
        );
        for k in [
            "messages_lost",
            "messages_partitioned",
            "messages_to_down_node",
            "messages_duplicated",
            "timers_fired",
        ] {
            assert_eq!(r.metrics[k], 0, "{k}");
        }
        // Every event but the starts and the heal-phase marker is a delivery.
        assert_eq!(r.events as i64, delivered + nodes as i64 + 1);
        // The nodes caught what the network delivered.
        let caught: i64 = r
            .observations
            .iter()
            .map(|(_, o)| {
                o.fields
                    .iter()
                    .find(|(k, _)| *k == "caught")
                    .expect("caught")
                    .1
            })
            .sum();
        assert_eq!(caught, delivered);
        assert_eq!(r.observations[0].0, "node-1");
        assert_eq!(r.observations[0].1.state, "node");
    }
}

#[test]
fn constant_latency_gives_the_exact_event_count() {
    // 128 balls, one hop per millisecond, for 100 ms + 100 ms: hops land at 1, 2, ..,
    // 200 ms, each time 128 of them.
    let m = model(2, 64);
    let r = go(
        &m,
        &cfg(
            Latency::Constant {
                value: Duration(MS),
            },
            Duration::from_ms(100),
        ),
        1,
        false,
    );
    assert_eq!(r.metrics["messages_delivered"], 128 * 200);
    assert_eq!(r.events, 128 * 200 + 2 + 1);
    assert_eq!(r.sim_time_ns, 200 * MS);
}

#[test]
fn same_seed_same_digest() {
    let m = model(3, 16);
    let c = cfg(lognormal(), Duration::from_ms(500));
    let a = go(&m, &c, 42, false);
    let b = go(&m, &c, 42, false);
    assert_eq!(a.digest, b.digest);
    assert_eq!(a.events, b.events);
    assert_eq!(a.metrics, b.metrics);
}

#[test]
fn different_seed_different_digest_and_different_schedule() {
    let m = model(2, 64);
    let c = cfg(lognormal(), Duration::from_ms(500));
    let a = go(&m, &c, 1, false);
    let b = go(&m, &c, 2, false);
    assert_ne!(a.digest, b.digest);
    // Random latency changes the schedule itself, not only the seed folded into the digest.
    assert_ne!(a.events, b.events);
}

#[test]
fn event_digests_repeat_event_by_event() {
    let m = model(2, 8);
    let c = cfg(lognormal(), Duration::from_ms(50));
    let opts = || RunOptions {
        event_digests: true,
        ..RunOptions::default()
    };
    let a = run(&m, &c, 9, opts()).expect("runs");
    let b = run(&m, &c, 9, opts()).expect("runs");
    assert_eq!(a.event_digests.len() as u64, a.events);
    assert_eq!(a.event_digests, b.event_digests);
}

#[test]
fn config_is_validated_at_the_right_key() {
    let e = PingPong::new(PingPongConfig {
        nodes: 1,
        in_flight: 64,
        panic_at_hops: None,
    })
    .unwrap_err();
    assert_eq!(e.key, "nodes");
    assert!(e.hint.is_some());
    let e = PingPong::new(PingPongConfig {
        nodes: 2,
        in_flight: 0,
        panic_at_hops: None,
    })
    .unwrap_err();
    assert_eq!(e.key, "in_flight");
    assert!(PingPong::new(PingPongConfig::default()).is_ok());
}

#[test]
fn config_defaults_and_unknown_keys() {
    let c: PingPongConfig = toml::from_str("").expect("all keys default");
    assert_eq!(
        c,
        PingPongConfig {
            nodes: 2,
            in_flight: 64,
            panic_at_hops: None,
        }
    );
    let c: PingPongConfig = toml::from_str("nodes = 4").expect("parses");
    assert_eq!(
        c,
        PingPongConfig {
            nodes: 4,
            in_flight: 64,
            panic_at_hops: None,
        }
    );
    assert!(toml::from_str::<PingPongConfig>("node = 4").is_err());
}

#[test]
fn cluster_and_catalogue() {
    let m = model(3, 1);
    let names: Vec<_> = m.nodes().into_iter().map(|s| (s.name, s.role)).collect();
    assert_eq!(
        names,
        vec![
            ("node-1".to_string(), "node"),
            ("node-2".to_string(), "node"),
            ("node-3".to_string(), "node")
        ]
    );
    assert_eq!(m.fault_role(), "node");
    let cat = m.catalogue();
    assert!(
        cat.always.is_empty()
            && cat.eventually.is_empty()
            && cat.sometimes.is_empty()
            && cat.history.is_empty()
    );
    assert!(m.always("anything").is_none());
}

#[test]
fn a_crash_loses_balls_and_a_restart_throws_new_ones() {
    use dsim_core::config::{FaultKind, PartitionShape};
    use dsim_core::fault::PlannedFault;
    use dsim_core::select::Selector;
    let m = model(3, 10);
    let mut c = cfg(
        Latency::Constant {
            value: Duration(MS),
        },
        Duration::from_ms(100),
    );
    c.faults.push(PlannedFault {
        at_ns: 50 * MS + 1,
        kind: FaultKind::Crash,
        target: Some(Selector::Node("node-2".into())),
        duration_ns: Some(10 * MS),
        shape: PartitionShape::default(),
        to: None,
        disk: None,
        offset_ns: 0,
        drift_ppm: 0,
        factor: 1,
    });
    let r = go(&m, &c, 1, false);
    assert_eq!(r.metrics["crashes"], 1);
    assert_eq!(r.metrics["restarts"], 1);
    // Node i throws to node i+1. With constant latency all 30 balls move in lockstep, one
    // hop a millisecond. While node-2 is down (50..60 ms) every ball reaches it within
    // three hops and is lost there; on restart it throws 10 new balls, and those are the
    // only ones left.
    assert_eq!(r.metrics["messages_to_down_node"], 30);
    let in_air = r.metrics["messages_sent"]
        - r.metrics["messages_delivered"]
        - r.metrics["messages_to_down_node"];
    assert_eq!(in_air, 10);
}

/// A model that panics is caught by the engine: the run ends with verdict `panic`, naming
/// the node, the event index and the message, and the same seed panics at the same event.
#[test]
fn a_panicking_model_is_reported_with_its_event() {
    let model = PingPong::new(PingPongConfig {
        nodes: 3,
        in_flight: 4,
        panic_at_hops: Some(10),
    })
    .expect("valid config");
    let cfg = dsim_core::RunConfig::default();
    let a = dsim_core::run(&model, &cfg, 3, dsim_core::RunOptions::default()).expect("starts");
    let b = dsim_core::run(&model, &cfg, 3, dsim_core::RunOptions::default()).expect("starts");
    assert_eq!(a.verdict, dsim_core::Verdict::Panic);
    let p = a.panic.as_ref().expect("panic info");
    assert!(p.message.contains("reached 10 hops"), "{}", p.message);
    assert!(p.node.starts_with("node-"), "{}", p.node);
    assert_eq!(
        a.events,
        p.event + 1,
        "the panicking event is the last one counted"
    );
    assert_eq!(
        b.panic.as_ref().map(|q| (q.event, q.node.clone())),
        Some((p.event, p.node.clone()))
    );
}
