//! ZooKeeper mode (`controller = "zookeeper"`): a broker wins `/controller`, creates the
//! topic and elects a leader for every partition; controller failover waits for the dead
//! controller's ZooKeeper session to expire (`zookeeper.session.timeout.ms`) where KRaft
//! elects a new active controller in about a second; a zombie controller's LeaderAndIsr
//! carries an old controller epoch and is ignored.

use dsim_core::config::{ChecksConfig, FaultKind, FaultSpec};
use dsim_core::fault::PlannedFault;
use dsim_core::harness::Harness;
use dsim_core::units::Duration;
use dsim_core::{run, Effect, Model, RunConfig, RunOptions, RunReport, Verdict};
use dsim_kafka::metadata::PartitionState;
use dsim_kafka::msg::Msg;
use dsim_kafka::{ControllerMode, KNode, Kafka, KafkaConfig};

fn cluster(mode: ControllerMode) -> Kafka {
    let cfg = KafkaConfig {
        controller: mode,
        brokers: 3,
        partitions: 6,
        replication_factor: 3,
        min_insync_replicas: 2,
        idempotence: true,
        produce_rate: 200,
        keys: 60,
        request_timeout: Duration::from_secs(10),
        delivery_timeout: Duration::from_secs(60),
        ..KafkaConfig::default()
    };
    Kafka::new(cfg).expect("a valid configuration")
}

fn world(crash_controller_at: Option<u64>) -> RunConfig {
    let mut w = RunConfig {
        checks: ChecksConfig {
            always: vec![
                "one-leader-per-epoch".into(),
                "leader-hw-monotonic".into(),
                "strong-isr".into(),
            ],
            eventually: vec!["partitions-online".into(), "logs-agree".into()],
            sometimes: vec!["controller-elected".into()],
            history: vec!["lost-write".into(), "duplicate".into()],
        },
        ..RunConfig::default()
    };
    w.phases.fault_phase = Duration::from_secs(40);
    w.phases.heal_phase = Duration::from_secs(20);
    if let Some(at) = crash_controller_at {
        let spec = FaultSpec {
            at: Duration::from_secs(at),
            kind: FaultKind::Crash,
            target: Some("controller".into()),
            duration: Some(Duration::from_secs(25)),
            shape: None,
            to: None,
            disk: None,
            offset: None,
            drift_ppm: None,
            factor: None,
        };
        w.faults = vec![PlannedFault::compile(&spec).expect("a valid fault")];
    }
    w
}

fn go(model: &Kafka, w: &RunConfig, seed: u64) -> RunReport {
    let opts = RunOptions {
        record: true,
        ..RunOptions::default()
    };
    let r = run(model, w, seed, opts).expect("runs");
    assert_eq!(r.verdict, Verdict::Valid, "seed {seed}: {:?}", r.violations);
    r
}

/// The largest `controller_silence_ms` any broker reported.
fn silence_ms(r: &RunReport) -> i64 {
    r.samples
        .iter()
        .filter(|s| s.name == "controller_silence_ms")
        .map(|s| s.value)
        .max()
        .unwrap_or(-1)
}

#[test]
fn zookeeper_mode_elects_one_controller_and_a_leader_for_every_partition() {
    let model = cluster(ControllerMode::ZooKeeper);
    for seed in 1..=5 {
        let r = go(&model, &world(None), seed);
        assert!(r.marks.contains("controller-elected"), "seed {seed}");
        let winners = r
            .notes
            .iter()
            .filter(|n| n.kind == "controller-elected")
            .count();
        assert_eq!(winners, 1, "seed {seed}: one broker wins /controller");
        // Every partition got a leader (leader_elected is sampled per election).
        let mut led: Vec<i64> = r
            .samples
            .iter()
            .filter(|s| s.name == "leader_elected")
            .map(|s| s.value)
            .collect();
        led.sort_unstable();
        led.dedup();
        assert_eq!(led, (0..6).collect::<Vec<i64>>(), "seed {seed}");
    }
}

#[test]
fn zookeeper_failover_waits_for_the_session_timeout_and_kraft_does_not() {
    let session_ms = KafkaConfig::default().zookeeper_session_timeout.0 as i64 / 1_000_000;
    let zk = cluster(ControllerMode::ZooKeeper);
    let kraft = cluster(ControllerMode::Kraft);
    for seed in 1..=3 {
        let z = go(&zk, &world(Some(10)), seed);
        let k = go(&kraft, &world(Some(10)), seed);
        let (zs, ks) = (silence_ms(&z), silence_ms(&k));
        assert!(
            zs >= session_ms,
            "seed {seed}: ZooKeeper mode's silence {zs} ms is below the session timeout"
        );
        assert!(
            (0..session_ms).contains(&ks),
            "seed {seed}: KRaft's silence {ks} ms (none reported is -1)"
        );
        // The new ZooKeeper-mode controller appears only after the old session expired.
        let took = z
            .notes
            .iter()
            .filter(|n| n.kind == "controller-elected")
            .map(|n| n.at_ns)
            .max()
            .unwrap_or(0);
        assert!(
            took >= 10_000_000_000 + (session_ms as u64 - 6_000) * 1_000_000,
            "seed {seed}: a new controller at {took} ns, too early for a session expiry"
        );
    }
}

#[test]
fn zookeeper_mode_refuses_eligible_leader_replicas() {
    let cfg = KafkaConfig {
        controller: ControllerMode::ZooKeeper,
        eligible_leader_replicas: true,
        ..KafkaConfig::default()
    };
    let e = Kafka::new(cfg).expect_err("KIP-966 is KRaft-only");
    assert!(
        format!("{e:?}").contains("eligible_leader_replicas"),
        "{e:?}"
    );
}

/// A deposed controller's LeaderAndIsr (an older controller epoch) changes nothing; the
/// current controller's does.
#[test]
fn a_zombie_controllers_leader_and_isr_is_ignored() {
    let model = cluster(ControllerMode::ZooKeeper);
    let b1 = model.s.broker_node(1);
    let (old_ctl, new_ctl) = (model.s.broker_node(2), model.s.broker_node(3));
    let mut h = Harness::new(model.boot(b1), b1, model.nodes(), 1);
    h.start();
    let state = |leader: u32, leader_epoch: u32| PartitionState {
        replicas: model.s.assignment[0].clone(),
        leader: Some(leader),
        leader_epoch,
        partition_epoch: leader_epoch,
        isr: vec![1, 2, 3],
        elr: Vec::new(),
        last_known_leader: None,
    };
    let led = |h: &Harness<KNode>| match &h.node {
        KNode::Broker(b) => (b.controller_epoch, b.replicas[&0].is_leader()),
        _ => unreachable!("broker-1 is a broker"),
    };
    // The new controller (epoch 2) makes broker 2 the leader of partition 0.
    h.deliver(
        new_ctl,
        Msg::LeaderAndIsr {
            controller_epoch: 2,
            partitions: vec![(0, state(2, 1))],
        },
    );
    assert_eq!(led(&h), (2, false));
    // The zombie (epoch 1) tries to make broker 1 the leader at a higher leader epoch.
    let effects = h.deliver(
        old_ctl,
        Msg::LeaderAndIsr {
            controller_epoch: 1,
            partitions: vec![(0, state(1, 5))],
        },
    );
    assert_eq!(led(&h), (2, false), "the zombie's LeaderAndIsr was applied");
    assert!(effects.iter().any(|e| matches!(
        e,
        Effect::Note {
            kind: "stale-controller",
            ..
        }
    )));
    // The same message from the current epoch is applied (the test can fail).
    h.deliver(
        new_ctl,
        Msg::LeaderAndIsr {
            controller_epoch: 2,
            partitions: vec![(0, state(1, 5))],
        },
    );
    assert_eq!(led(&h), (2, true));
}

#[test]
fn partition_state_packs_into_a_znode() {
    use dsim_kafka::zk_broker::{pack, unpack};
    let st = PartitionState {
        replicas: vec![2, 3, 1],
        leader: Some(3),
        leader_epoch: 12,
        partition_epoch: 4,
        isr: vec![1, 3],
        elr: Vec::new(),
        last_known_leader: None,
    };
    assert_eq!(unpack(pack(&st), &st.replicas, 4), st);
}
