//! Each bug switch and variant of the twopc model, with the check that must catch it: the
//! check fires with the switch on (or the variant chosen) and stays quiet with it off,
//! over the same seeds. Scenario files are loaded with the real loader, so these tests
//! also pin the stories of scenarios/twopc/.

use dsim_core::config::{
    ChecksConfig, DiskConfig, FaultKind, Latency, NemesisConfig, NetworkConfig, PhaseConfig,
};
use dsim_core::units::{Duration, Probability};
use dsim_core::{RunConfig, RunReport, Verdict};
use dsim_scenario::testing::{all_valid, explain, fired, verdicts, Testbed};
use dsim_scenario::Scenario;
use dsim_twopc::{Protocol, TwoPc, TwoPcConfig};

const TWOPC: Testbed<TwoPcConfig, TwoPc> = Testbed::new("twopc", TwoPc::new);

/// A world where the nemesis crashes (and restarts) nodes of `role`, with a lossy network
/// and slow disks, so that the windows the bug switches open are hit often.
fn crashing(role: &str) -> RunConfig {
    RunConfig {
        network: NetworkConfig {
            latency: Latency::Uniform {
                min: Duration::from_ms(1),
                max: Duration::from_ms(5),
            },
            loss: Probability::one_in(20),
            ..NetworkConfig::default()
        },
        disk: DiskConfig {
            fsync_latency: Latency::Uniform {
                min: Duration::from_ms(5),
                max: Duration::from_ms(30),
            },
            ..DiskConfig::default()
        },
        phases: PhaseConfig {
            fault_phase: Duration::from_secs(10),
            heal_phase: Duration::from_secs(5),
            heal_restarts: true,
        },
        nemesis: Some(NemesisConfig {
            kinds: vec![FaultKind::Crash],
            interval_min: Duration::from_ms(300),
            interval_max: Duration::from_secs(1),
            duration_min: Duration::from_ms(100),
            duration_max: Duration::from_ms(500),
            role: Some(role.into()),
            max_faulty: 1,
            disk: Vec::new(),
            clock_jump_max: Duration::from_secs(1),
        }),
        checks: ChecksConfig {
            always: vec!["atomicity".into()],
            eventually: vec!["all-decided".into()],
            history: vec!["outcomes-agree".into()],
            ..Default::default()
        },
        ..RunConfig::default()
    }
}

fn busy() -> TwoPcConfig {
    TwoPcConfig {
        concurrency: 4,
        tx_interval_min: Duration::from_ms(1),
        tx_interval_max: Duration::from_ms(5),
        ..TwoPcConfig::default()
    }
}

/// Gray 1978 §5.8.3.3, BHG 1987 §7.3: the coordinator must force its decision record
/// before sending COMMIT. Sending first, a crash loses a commit that some participants
/// applied; the restarted coordinator presumes abort for the others.
#[test]
fn sending_the_decision_before_logging_it_breaks_atomicity() {
    let world = crashing("coordinator");
    let bug = TWOPC.runs(
        TwoPcConfig {
            log_decision_before_send: false,
            ..busy()
        },
        &world,
        1..=12,
    );
    let fixed = TWOPC.runs(busy(), &world, 1..=12);
    assert!(
        fired(&bug, "atomicity") > 0,
        "no atomicity violation in 12 seeds with the decision sent before it is logged: {:?}",
        verdicts(&bug)
    );
    assert_eq!(fired(&fixed, "atomicity"), 0);
    assert!(all_valid(&fixed), "{}", explain(&fixed));
}

/// Gray 1978 §5.8.3.3, BHG 1987 §7.3: a participant force-writes its prepared record
/// before voting yes. Voting first, a crash forgets a yes the coordinator counted; the
/// commit then finds no prepared work at that participant.
#[test]
fn voting_yes_before_the_vote_is_durable_breaks_atomicity() {
    let world = crashing("participant");
    let bug = TWOPC.runs(
        TwoPcConfig {
            fsync_vote_before_reply: false,
            ..busy()
        },
        &world,
        1..=12,
    );
    let fixed = TWOPC.runs(busy(), &world, 1..=12);
    assert!(
        fired(&bug, "atomicity") > 0,
        "no atomicity violation in 12 seeds with yes votes sent before they are durable: {:?}",
        verdicts(&bug)
    );
    assert_eq!(fired(&fixed, "atomicity"), 0);
    assert!(all_valid(&fixed));
}

/// `[run] heal_restarts = false` keeps a crashed node down to the end, even when its crash
/// has a duration that ends inside the heal phase.
#[test]
fn without_heal_restarts_a_crash_ending_in_the_heal_phase_stays_down() {
    let source = TWOPC.scenario("2pc-coordinator-lost.toml").source;
    let source = source.replace(
        "target = \"node(coordinator)\"\n",
        "target = \"node(coordinator)\"\nduration = \"7s\"\n",
    );
    assert!(source.contains("duration = \"7s\""));
    let s = Scenario::parse("crash-ends-in-heal.toml", &source).expect("parses");
    for r in TWOPC.sweep(&s, 1..=3, |_| {}) {
        assert!(
            !r.faults.iter().any(|f| f.kind == "restart"),
            "seed {}: {:?}",
            r.seed,
            r.faults
        );
        assert_eq!(r.verdict, Verdict::Liveness, "seed {}", r.seed);
    }
}

/// The classroom case (BHG §7.3): 2PC blocks when the coordinator is lost after the
/// votes; 3PC (Skeen 1981) does not, in the same story, without partitions.
#[test]
fn a_lost_coordinator_blocks_2pc_but_not_3pc() {
    let s = TWOPC.scenario("2pc-coordinator-lost.toml");
    let cfg = TWOPC.config(&s);
    assert_eq!(cfg.protocol, Protocol::TwoPhase);
    assert!(!s.run.phases.heal_restarts);
    let two = TWOPC.runs(cfg.clone(), &s.run, 1..=5);
    for r in &two {
        assert_eq!(r.verdict, Verdict::Liveness, "seed {}", r.seed);
        let v = &r.violations[0];
        assert_eq!(v.invariant, "all-decided");
        assert!(
            v.detail.contains("in doubt on") && v.detail.contains("holding the lock"),
            "{}",
            v.detail
        );
        assert!(v.detail.contains("the coordinator is down"), "{}", v.detail);
    }
    let three = TWOPC.runs(
        TwoPcConfig {
            protocol: Protocol::ThreePhase,
            ..cfg
        },
        &s.run,
        1..=5,
    );
    assert_eq!(fired(&three, "all-decided"), 0, "{:?}", verdicts(&three));
    assert_eq!(fired(&three, "atomicity"), 0);
}

/// The restarted coordinator ends the blocking from its durable log (BHG §7.3).
#[test]
fn a_restarted_coordinator_unblocks_from_its_log() {
    let s = TWOPC.scenario("2pc-coordinator-restarts.toml");
    let runs = TWOPC.sweep(&s, 1..=5, |_| {});
    for r in &runs {
        assert_eq!(
            r.verdict,
            Verdict::Valid,
            "seed {}: {:?}",
            r.seed,
            r.violations
        );
        assert!(r.marks.contains("coordinator-recovered"));
    }
}

/// 3PC is unsafe under partitions (Skeen 1981 assumes none): the partition scenario
/// breaks atomicity with 3PC, while 2PC in the same network stays atomic (it blocks
/// instead, and recovers when the partition heals).
#[test]
fn partitions_break_3pc_but_not_2pc() {
    let s = TWOPC.scenario("3pc-partition.toml");
    let cfg = TWOPC.config(&s);
    assert_eq!(cfg.protocol, Protocol::ThreePhase);
    let three = TWOPC.runs(cfg.clone(), &s.run, 1..=6);
    assert!(fired(&three, "atomicity") > 0, "{:?}", verdicts(&three));
    // 2PC has no termination protocol: drop the 3PC mark, keep every other check.
    let mut world = s.run.clone();
    world.checks.sometimes.clear();
    let two = TWOPC.runs(
        TwoPcConfig {
            protocol: Protocol::TwoPhase,
            ..cfg
        },
        &world,
        1..=6,
    );
    assert_eq!(fired(&two, "atomicity"), 0);
    assert!(all_valid(&two), "{:?}", verdicts(&two));
}

#[test]
fn bad_settings_name_their_key() {
    let key = |cfg: TwoPcConfig| TwoPc::new(cfg).unwrap_err().key;
    assert_eq!(
        key(TwoPcConfig {
            participants: 0,
            ..TwoPcConfig::default()
        }),
        "participants"
    );
    assert_eq!(
        key(TwoPcConfig {
            participants: 65,
            ..TwoPcConfig::default()
        }),
        "participants"
    );
    assert_eq!(
        key(TwoPcConfig {
            keys: 0,
            ..TwoPcConfig::default()
        }),
        "keys"
    );
    assert_eq!(
        key(TwoPcConfig {
            concurrency: 0,
            ..TwoPcConfig::default()
        }),
        "concurrency"
    );
    assert_eq!(
        key(TwoPcConfig {
            vote_timeout: Duration(0),
            ..TwoPcConfig::default()
        }),
        "vote_timeout"
    );
    assert_eq!(
        key(TwoPcConfig {
            tx_interval_min: Duration::from_ms(50),
            tx_interval_max: Duration::from_ms(10),
            ..TwoPcConfig::default()
        }),
        "tx_interval_min"
    );
    assert_eq!(
        key(TwoPcConfig {
            protocol: Protocol::ThreePhase,
            cooperative_termination: true,
            ..TwoPcConfig::default()
        }),
        "cooperative_termination"
    );
}

#[test]
fn same_seed_same_digest() {
    let world = crashing("coordinator");
    let a = TWOPC.runs(busy(), &world, 3..=3);
    let b = TWOPC.runs(busy(), &world, 3..=3);
    let c = TWOPC.runs(busy(), &world, 4..=4);
    assert_eq!(a[0].digest, b[0].digest);
    assert_eq!(a[0].events, b[0].events);
    assert_ne!(a[0].digest, c[0].digest);
}

/// The number of blocked votes `all-decided` reports (0 when it holds).
fn blocked(r: &RunReport) -> usize {
    r.violations
        .iter()
        .find(|v| v.invariant == "all-decided")
        .and_then(|v| v.detail.split(' ').next()?.parse().ok())
        .unwrap_or(0)
}

/// Skeen 1981 (§4–5, the recovery protocol) and BHG 1987 §7.5: a 3PC participant that
/// restarts in doubt is not operational for that transaction; it asks and waits. Without
/// that (`recovery_protocol = false`) a restarted participant, alone and uncertain while
/// its peers are down, aborts what they committed while it was away. Crashes only: no
/// partitions, no message loss.
#[test]
fn without_the_recovery_protocol_a_restarted_3pc_participant_breaks_atomicity() {
    let s = TWOPC.scenario("3pc-crash-recovery.toml");
    let cfg = TWOPC.config(&s);
    assert_eq!(cfg.protocol, Protocol::ThreePhase);
    assert!(cfg.recovery_protocol);
    let bug = TWOPC.runs(
        TwoPcConfig {
            recovery_protocol: false,
            ..cfg.clone()
        },
        &s.run,
        1..=30,
    );
    assert!(
        fired(&bug, "atomicity") > 0,
        "no atomicity violation in 30 seeds without the recovery protocol: {:?}",
        verdicts(&bug)
    );
    let fixed = TWOPC.runs(cfg, &s.run, 1..=30);
    assert_eq!(fired(&fixed, "atomicity"), 0);
    assert!(all_valid(&fixed), "{:?}", verdicts(&fixed));
}

/// BHG §7.4: cooperative termination lets a participant in doubt learn the outcome from a
/// peer that voted no or never voted, but not when every participant voted yes: then only
/// the lost coordinator knows, and 2PC still blocks.
#[test]
fn cooperative_termination_helps_but_cannot_end_the_blocking() {
    let s = TWOPC.scenario("2pc-coordinator-lost.toml");
    let cfg = TWOPC.config(&s);
    let seeds = 1..=10;
    let plain = TWOPC.runs(cfg.clone(), &s.run, seeds.clone());
    let coop = TWOPC.runs(
        TwoPcConfig {
            cooperative_termination: true,
            ..cfg
        },
        &s.run,
        seeds,
    );
    let (b_plain, b_coop): (Vec<usize>, Vec<usize>) = (
        plain.iter().map(blocked).collect(),
        coop.iter().map(blocked).collect(),
    );
    assert_eq!(fired(&coop, "atomicity"), 0);
    assert!(
        b_plain.iter().zip(&b_coop).all(|(p, c)| c <= p),
        "cooperation never adds blocking: {b_plain:?} vs {b_coop:?}"
    );
    assert!(
        b_coop.iter().sum::<usize>() < b_plain.iter().sum::<usize>(),
        "cooperation resolved nothing: {b_plain:?} vs {b_coop:?}"
    );
    assert!(
        fired(&coop, "all-decided") > 0,
        "all-yes transactions must still block: {b_coop:?}"
    );
}

/// Every scenario of scenarios/twopc loads, binds to this model (settings, node names,
/// roles and check names), and has an expectation.
#[test]
fn every_scenario_loads_and_binds() {
    let files = TWOPC.scenario_files();
    assert!(files.len() >= 4, "{files:?}");
    for file in files {
        let s = TWOPC.scenario(&file);
        assert_eq!(s.model, "twopc");
        TWOPC.bind(&s);
        assert!(s.expect.is_some(), "{file} has no [expect]");
    }
}

/// A coordinator whose disk refuses the decision record writes it again until the disk
/// takes it (BHG §7.3: no decision is sent before it is on stable storage): the
/// transactions caught by two seconds of a full disk are decided once it clears, and no
/// participant is left in doubt. (Before the retry they stayed blocked for good.)
#[test]
fn a_refused_decision_record_is_written_again_once_the_disk_clears() {
    let base = TWOPC.scenario("2pc-coordinator-restarts.toml");
    let faults = "[[faults]]\nat = \"5s\"\nkind = \"disk\"\ndisk = \"full\"\n\
                  target = \"node(coordinator)\"\nduration = \"2s\"\n\n";
    let text = base.source.replace(
        "[[faults]]\nat = \"5s\"\nkind = \"crash\"\ntarget = \"node(coordinator)\"\nduration = \"3s\"\n\n",
        faults,
    );
    assert_ne!(
        text, base.source,
        "the scenario's crash fault is where this test expects"
    );
    let text = text.replace(", \"coordinator-recovered\"", "");
    let s = Scenario::parse("disk-full.toml", &text).expect("parses");
    let runs = TWOPC.sweep(&s, 1..=10, |_| {});
    assert!(all_valid(&runs), "{}", explain(&runs));
}
