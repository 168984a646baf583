//! Each bug switch of the quorum model, with the check that must catch it: the check fires
//! with the switch on and stays quiet with it off, over the same seeds.

use dsim_core::config::{
    ChecksConfig, FaultKind, Latency, NemesisConfig, NetworkConfig, PhaseConfig,
};
use dsim_core::units::{Duration, Probability};
use dsim_core::RunConfig;
use dsim_quorum::{Quorum, QuorumConfig};
use dsim_scenario::testing::{all_valid, fired, Testbed};

const QUORUM: Testbed<QuorumConfig, Quorum> = Testbed::new("quorum", Quorum::new);

fn faulty_world(checks: ChecksConfig, kinds: Vec<FaultKind>) -> RunConfig {
    RunConfig {
        network: NetworkConfig {
            latency: Latency::Lognormal {
                p50: Duration::from_ms(2),
                p99: Duration::from_ms(30),
            },
            loss: Probability::one_in(200),
            ..NetworkConfig::default()
        },
        phases: PhaseConfig {
            fault_phase: Duration::from_secs(15),
            heal_phase: Duration::from_secs(5),
            ..PhaseConfig::default()
        },
        nemesis: Some(NemesisConfig {
            kinds,
            interval_min: Duration::from_ms(500),
            interval_max: Duration::from_secs(2),
            duration_min: Duration::from_ms(200),
            duration_max: Duration::from_secs(2),
            role: Some("replica".into()),
            max_faulty: 1,
            disk: Vec::new(),
            clock_jump_max: Duration::from_secs(1),
        }),
        checks,
        ..RunConfig::default()
    }
}

fn base() -> QuorumConfig {
    QuorumConfig {
        op_timeout: Duration::from_ms(300),
        think_min: Duration::from_ms(1),
        think_max: Duration::from_ms(20),
        ..QuorumConfig::default()
    }
}

/// ABD §3 (Attiya, Bar-Noy & Dolev 1995): the read's second phase is what makes a
/// majority-quorum register atomic. Without it, new/old inversions appear.
#[test]
fn without_write_back_reads_invert() {
    let checks = ChecksConfig {
        history: vec!["linearizable".into(), "new-old-inversion".into()],
        ..Default::default()
    };
    let world = faulty_world(
        checks,
        vec![FaultKind::Crash, FaultKind::Partition, FaultKind::Pause],
    );
    let off = QUORUM.runs(
        QuorumConfig {
            write_back: false,
            ..base()
        },
        &world,
        1..=40,
    );
    let on = QUORUM.runs(
        QuorumConfig {
            write_back: true,
            ..base()
        },
        &world,
        1..=40,
    );
    assert!(
        fired(&off, "new-old-inversion") > 0,
        "no inversion without write-back in 40 seeds"
    );
    assert!(
        fired(&off, "linearizable") >= fired(&off, "new-old-inversion"),
        "every inversion is a linearizability violation"
    );
    assert_eq!(fired(&on, "new-old-inversion"), 0);
    assert_eq!(fired(&on, "linearizable"), 0);
    assert!(all_valid(&on));
}

/// An acknowledgement sent before fsync is a promise kept in memory only: a crash loses an
/// acknowledged write (Pillai et al., OSDI 2014, "All File Systems Are Not Created Equal").
#[test]
fn acking_before_fsync_loses_acknowledged_writes() {
    let checks = ChecksConfig {
        always: vec!["acked-tag-durable".into()],
        ..Default::default()
    };
    let world = faulty_world(checks, vec![FaultKind::Crash]);
    let slow_disk = |mut w: RunConfig| {
        w.disk.fsync_latency = Latency::Uniform {
            min: Duration::from_ms(5),
            max: Duration::from_ms(40),
        };
        w
    };
    let world = slow_disk(world);
    let bug = QUORUM.runs(
        QuorumConfig {
            fsync_before_ack: false,
            ..base()
        },
        &world,
        1..=20,
    );
    let fixed = QUORUM.runs(
        QuorumConfig {
            fsync_before_ack: true,
            ..base()
        },
        &world,
        1..=20,
    );
    assert!(
        fired(&bug, "acked-tag-durable") > 0,
        "acking before fsync never lost a write in 20 seeds"
    );
    assert_eq!(fired(&fixed, "acked-tag-durable"), 0);
}

/// W + R <= N (Dynamo's "sloppy" settings, DeCandia et al. 2007 §4.5): reads can miss the
/// last write.
#[test]
fn sloppy_quorums_serve_stale_reads() {
    let checks = ChecksConfig {
        history: vec!["stale-read".into()],
        ..Default::default()
    };
    let world = faulty_world(checks, vec![FaultKind::Partition, FaultKind::Crash]);
    let sloppy = QUORUM.runs(
        QuorumConfig {
            w: 1,
            r: 1,
            ..base()
        },
        &world,
        1..=20,
    );
    let strict = QUORUM.runs(base(), &world, 1..=20);
    assert!(fired(&sloppy, "stale-read") > 0);
    assert_eq!(fired(&strict, "stale-read"), 0);
}

#[test]
fn config_refuses_impossible_quorums() {
    let e = Quorum::new(QuorumConfig { w: 4, ..base() }).unwrap_err();
    assert_eq!(e.key, "w");
    assert!(e.message.contains("larger than N = 3"), "{}", e.message);
    assert_eq!(
        Quorum::new(QuorumConfig { r: 0, ..base() })
            .unwrap_err()
            .key,
        "r"
    );
    assert_eq!(
        Quorum::new(QuorumConfig {
            replicas: 0,
            ..base()
        })
        .unwrap_err()
        .key,
        "replicas"
    );
    assert_eq!(
        Quorum::new(QuorumConfig {
            clients: 0,
            ..base()
        })
        .unwrap_err()
        .key,
        "clients"
    );
}

#[test]
fn same_seed_same_digest_and_history() {
    let checks = ChecksConfig {
        history: vec!["linearizable".into()],
        ..Default::default()
    };
    let world = faulty_world(checks, vec![FaultKind::Crash, FaultKind::Partition]);
    let a = QUORUM.runs(base(), &world, 5..=5);
    let b = QUORUM.runs(base(), &world, 5..=5);
    let c = QUORUM.runs(base(), &world, 6..=6);
    assert_eq!(a[0].digest, b[0].digest);
    assert_eq!(a[0].events, b[0].events);
    assert_ne!(a[0].digest, c[0].digest);
}
