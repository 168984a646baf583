//! heartbeat: the master sees every worker, declares silent ones dead, and takes them back.

use dsim_bench_models::heartbeat::{Heartbeat, HeartbeatConfig, HeartbeatNode, MASTER};
use dsim_core::config::{
    ChecksConfig, FaultKind, Latency, NetworkConfig, PartitionShape, PhaseConfig,
};
use dsim_core::fault::PlannedFault;
use dsim_core::select::Selector;
use dsim_core::units::{Duration, SEC};
use dsim_core::{run, Model, RunConfig, RunOptions, RunReport, Verdict};

fn model(workers: u32) -> Heartbeat {
    Heartbeat::new(HeartbeatConfig {
        workers,
        ..HeartbeatConfig::default()
    })
    .expect("valid config")
}

fn cfg(fault_s: u64, heal_s: u64, sometimes: bool) -> RunConfig {
    RunConfig {
        network: NetworkConfig {
            latency: Latency::Constant {
                value: Duration::from_ms(1),
            },
            ..NetworkConfig::default()
        },
        phases: PhaseConfig {
            fault_phase: Duration::from_secs(fault_s),
            heal_phase: Duration::from_secs(heal_s),
            ..PhaseConfig::default()
        },
        checks: ChecksConfig {
            eventually: vec!["all-workers-live".into()],
            sometimes: if sometimes {
                vec!["worker-declared-dead".into()]
            } else {
                vec![]
            },
            ..ChecksConfig::default()
        },
        ..RunConfig::default()
    }
}

fn fault(at_s: u64, kind: FaultKind, node: &str, duration_s: Option<u64>) -> PlannedFault {
    PlannedFault {
        at_ns: at_s * SEC,
        kind,
        target: Some(Selector::Node(node.into())),
        duration_ns: duration_s.map(|d| d * SEC),
        shape: PartitionShape::default(),
        to: None,
        disk: None,
        offset_ns: 0,
        drift_ppm: 0,
        factor: 1,
    }
}

fn go(m: &Heartbeat, c: &RunConfig, seed: u64) -> RunReport {
    let r = run(
        m,
        c,
        seed,
        RunOptions {
            record: true,
            ..RunOptions::default()
        },
    )
    .expect("runs");
    assert!(
        r.panic.is_none() && r.limit.is_none(),
        "panic {:?}, limit {:?}",
        r.panic,
        r.limit
    );
    r
}

/// (time, node name) of each note of `kind`, in order.
fn notes(r: &RunReport, kind: &str) -> Vec<(u64, String)> {
    r.notes
        .iter()
        .filter(|n| n.kind == kind)
        .map(|n| (n.at_ns, n.detail.clone()))
        .collect()
}

fn master_field(r: &RunReport, field: &str) -> i64 {
    let (name, obs) = &r.observations[0];
    assert_eq!(name, "master");
    obs.fields
        .iter()
        .find(|(k, _)| *k == field)
        .expect("field")
        .1
}

#[test]
fn a_healthy_cluster_stays_live() {
    let m = model(50);
    let r = go(&m, &cfg(60, 40, false), 1);
    assert_eq!(r.verdict, Verdict::Valid, "{:?}", r.violations);
    assert_eq!(master_field(&r, "live_workers"), 50);
    assert_eq!(master_field(&r, "dead_workers"), 0);
    assert!(notes(&r, "worker-dead").is_empty());
    assert!(!r.marks.contains("worker-declared-dead"));
    // Every check sampled the live count: 10 checks in 100 s, all at 50.
    let live: Vec<i64> = r
        .samples
        .iter()
        .filter(|s| s.name == "live_workers")
        .map(|s| s.value)
        .collect();
    assert_eq!(live.len(), 10);
    assert!(live.iter().all(|v| *v == 50), "{live:?}");
    // Both directions carry traffic: one ack per heartbeat (bar those in flight at the end).
    let beats = master_field(&r, "heartbeats");
    assert!(beats >= 50 * 33, "{beats}");
    assert!(r.metrics["messages_sent"] >= 2 * beats);
    assert_eq!(r.metrics["messages_lost"], 0);
}

#[test]
fn first_heartbeats_are_spread_over_the_first_interval() {
    let m = model(50);
    let r = go(&m, &cfg(2, 2, false), 3);
    let mut first: Vec<u64> = Vec::new();
    for w in 1..=50u32 {
        let t = r
            .messages
            .iter()
            .find(|msg| msg.from == w)
            .expect("each worker beats")
            .sent_ns;
        assert!(t < 3 * SEC);
        first.push(t);
    }
    first.sort();
    first.dedup();
    assert!(
        first.len() >= 45,
        "only {} distinct first heartbeat times",
        first.len()
    );
    // And they are the seed's doing: another seed, another spread.
    let r2 = go(&m, &cfg(2, 2, false), 4);
    let t1 = r2
        .messages
        .iter()
        .find(|msg| msg.from == 1)
        .expect("beats")
        .sent_ns;
    let t1_before = r
        .messages
        .iter()
        .find(|msg| msg.from == 1)
        .expect("beats")
        .sent_ns;
    assert_ne!(t1, t1_before);
}

#[test]
fn crashed_workers_are_declared_dead_and_come_back_after_the_heal() {
    let m = model(50);
    let mut c = cfg(90, 60, true);
    for w in ["worker-3", "worker-17", "worker-42"] {
        c.faults.push(fault(5, FaultKind::Crash, w, None));
    }
    let r = go(&m, &c, 1);
    assert_eq!(r.verdict, Verdict::Valid, "{:?}", r.violations);
    assert!(r.marks.contains("worker-declared-dead"));
    assert_eq!(r.metrics["crashes"], 3);
    assert_eq!(r.metrics["restarts"], 3);

    let dead = notes(&r, "worker-dead");
    let mut dead_names: Vec<&str> = dead.iter().map(|(_, n)| n.as_str()).collect();
    dead_names.sort();
    assert_eq!(dead_names, ["worker-17", "worker-3", "worker-42"]);
    // Last heartbeat at most 3 s before the crash at 5 s; declared at a check (every
    // 10 s) once 30 s have passed: between 35 s and 50 s.
    for (t, name) in &dead {
        assert!(
            (35 * SEC..=50 * SEC).contains(t),
            "{name} declared dead at {t}"
        );
    }
    // The heal phase restarts them at 90 s; each is back within one interval.
    let back = notes(&r, "worker-back");
    let mut back_names: Vec<&str> = back.iter().map(|(_, n)| n.as_str()).collect();
    back_names.sort();
    assert_eq!(back_names, ["worker-17", "worker-3", "worker-42"]);
    for (t, name) in &back {
        assert!(
            (90 * SEC..=93 * SEC + 1_000_000).contains(t),
            "{name} back at {t}"
        );
    }
    // While they were down the master counted 47.
    let live: Vec<i64> = r
        .samples
        .iter()
        .filter(|s| s.name == "live_workers")
        .map(|s| s.value)
        .collect();
    assert_eq!(live.iter().min(), Some(&47));
    assert_eq!(live.last(), Some(&50));
    assert_eq!(master_field(&r, "live_workers"), 50);
}

#[test]
fn without_a_heal_phase_the_dead_stay_dead() {
    let m = model(20);
    let mut c = cfg(60, 0, true);
    c.faults.push(fault(5, FaultKind::Crash, "worker-7", None));
    let r = go(&m, &c, 1);
    assert_eq!(r.verdict, Verdict::Liveness);
    let v = &r.violations[0];
    assert_eq!(v.invariant, "all-workers-live");
    assert!(
        v.detail.contains("19 of 20") && v.detail.contains("worker-7"),
        "{}",
        v.detail
    );
    assert_eq!(v.nodes.len(), 1);
    assert_eq!(r.node_names[v.nodes[0].index()], "worker-7");
}

#[test]
fn a_worker_paused_longer_than_expiry_is_declared_dead() {
    let m = model(10);
    let mut c = cfg(120, 30, true);
    c.faults
        .push(fault(10, FaultKind::Pause, "worker-2", Some(45)));
    let r = go(&m, &c, 5);
    assert_eq!(r.verdict, Verdict::Valid, "{:?}", r.violations);
    assert!(r.marks.contains("worker-declared-dead"));
    let dead = notes(&r, "worker-dead");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].1, "worker-2");
    assert!(
        (40 * SEC..=50 * SEC).contains(&dead[0].0),
        "declared at {}",
        dead[0].0
    );
    // On resume at 55 s its late timer fires at once and the master takes it back.
    let back = notes(&r, "worker-back");
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].1, "worker-2");
    assert!(
        (55 * SEC..=55 * SEC + 10_000_000).contains(&back[0].0),
        "back at {}",
        back[0].0
    );
}

#[test]
fn a_short_pause_goes_unnoticed() {
    let m = model(10);
    let mut c = cfg(120, 30, true);
    c.faults
        .push(fault(10, FaultKind::Pause, "worker-2", Some(20)));
    let r = go(&m, &c, 5);
    // 20 s of silence is under the 30 s expiry: the `sometimes` mark is never reached.
    assert_eq!(r.verdict, Verdict::NeverReached, "{:?}", r.violations);
    assert!(notes(&r, "worker-dead").is_empty());
}

#[test]
fn a_master_restart_gives_workers_a_fresh_grace_period() {
    let m = model(30);
    let mut c = cfg(100, 30, false);
    // worker-1 dies for good before the master restarts at 25 s, so the new master never
    // hears from it; the others beat within 3 s of the restart.
    c.faults.push(fault(10, FaultKind::Crash, "worker-1", None));
    c.faults
        .push(fault(20, FaultKind::Crash, "master", Some(5)));
    let r = go(&m, &c, 2);
    assert_eq!(r.verdict, Verdict::Valid, "{:?}", r.violations);
    let dead = notes(&r, "worker-dead");
    // Only worker-1 is declared dead, and only once the grace period (restart + 30 s
    // expiry) has passed: with no grace, the first check after the restart would do it.
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].1, "worker-1");
    assert!(
        dead[0].0 > 55 * SEC,
        "declared dead at {} ns, inside the grace period",
        dead[0].0
    );
    assert_eq!(
        master_field(&r, "live_workers"),
        30,
        "worker-1 is back after the heal"
    );
}

#[test]
fn same_seed_same_digest() {
    let m = model(40);
    let mut c = cfg(45, 45, true);
    c.faults.push(fault(3, FaultKind::Crash, "worker-5", None));
    let a = go(&m, &c, 11);
    let b = go(&m, &c, 11);
    assert_eq!(a.digest, b.digest);
    assert_eq!(a.events, b.events);
    let d = go(&m, &c, 12);
    assert_ne!(a.digest, d.digest);
}

#[test]
fn cluster_roles_and_catalogue() {
    let m = model(3);
    let specs: Vec<_> = m.nodes().into_iter().map(|s| (s.name, s.role)).collect();
    assert_eq!(
        specs,
        vec![
            ("master".to_string(), "master"),
            ("worker-1".to_string(), "worker"),
            ("worker-2".to_string(), "worker"),
            ("worker-3".to_string(), "worker"),
        ]
    );
    assert_eq!(m.fault_role(), "worker");
    assert!(matches!(m.boot(MASTER), HeartbeatNode::Master(_)));
    let cat = m.catalogue();
    assert_eq!(
        cat.eventually.iter().map(|c| c.name).collect::<Vec<_>>(),
        ["all-workers-live"]
    );
    assert_eq!(
        cat.sometimes.iter().map(|c| c.name).collect::<Vec<_>>(),
        ["worker-declared-dead"]
    );
    assert!(cat.always.is_empty() && cat.history.is_empty());
    assert!(cat
        .eventually
        .iter()
        .chain(cat.sometimes)
        .all(|c| !c.about.is_empty()));
}

#[test]
fn config_is_validated_at_the_right_key() {
    let ok = HeartbeatConfig::default();
    let bad = |f: fn(&mut HeartbeatConfig)| {
        let mut c = ok.clone();
        f(&mut c);
        Heartbeat::new(c).unwrap_err().key
    };
    assert_eq!(bad(|c| c.workers = 0), "workers");
    assert_eq!(bad(|c| c.interval = Duration::ZERO), "interval");
    assert_eq!(bad(|c| c.expiry = c.interval), "expiry");
    assert_eq!(bad(|c| c.check_interval = Duration::ZERO), "check_interval");
    assert!(Heartbeat::new(ok).is_ok());
}

#[test]
fn config_parses_durations_and_refuses_unknown_keys() {
    let c: HeartbeatConfig = toml::from_str("workers = 7\ninterval = \"1500ms\"").expect("parses");
    assert_eq!(c.workers, 7);
    assert_eq!(c.interval, Duration::from_ms(1500));
    assert_eq!(c.expiry, Duration::from_secs(30));
    assert_eq!(c.check_interval, Duration::from_secs(10));
    assert!(toml::from_str::<HeartbeatConfig>("worker = 7").is_err());
    assert!(toml::from_str::<HeartbeatConfig>("interval = 3").is_err());
}
