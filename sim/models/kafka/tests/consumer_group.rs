//! The consumer group end to end: the group coordinator on the leader of
//! `__consumer_offsets`, the consumers' join/sync/heartbeat/fetch/poll/commit loop, and the
//! delivery-guarantee checks (`at-least-once`, `no-duplicate-processing`) on the scenarios
//! of `scenarios/kafka/` — each check shown to fire where the story says and to stay quiet
//! where it must.

use dsim_core::{RunReport, Verdict};
use dsim_kafka::{Assignor, Kafka, KafkaConfig};
use dsim_scenario::testing::{all_valid, explain, fired, Testbed};
use dsim_scenario::Scenario;

/// The runs record: the tests read the consumers' notes.
const KAFKA: Testbed<KafkaConfig, Kafka> = Testbed::new("kafka", Kafka::new).recording();

/// Arms exactly these history checks.
fn history_checks(s: &mut Scenario, names: &[&str]) {
    s.run.checks.history = names.iter().map(|n| n.to_string()).collect();
}

/// The last assignment each consumer noted, by member-id prefix (`consumer-01`, ...).
fn last_assignments(r: &RunReport) -> Vec<(String, String)> {
    let mut out: std::collections::BTreeMap<String, String> = Default::default();
    for n in r.notes.iter().filter(|n| n.kind == "assigned") {
        let (member, rest) = n.detail.split_once(" gets ").expect("assigned note");
        let consumer = member[..11].to_string();
        let partitions = rest
            .split(" in generation")
            .next()
            .unwrap_or("")
            .to_string();
        out.insert(consumer, partitions);
    }
    out.into_iter().collect()
}

/// No faults: two consumers split four partitions by range (consumer-1 the lower half),
/// every committed record is processed, none twice, and each consumer's polls move
/// forward without gaps.
#[test]
fn a_group_of_two_splits_the_partitions_and_processes_every_record() {
    let mut s = KAFKA.scenario("manual-commit-at-least-once.toml");
    s.run.faults.clear();
    history_checks(
        &mut s,
        &[
            "at-least-once",
            "no-duplicate-processing",
            "nonmonotonic-poll",
            "poll-skip",
            "lost-write",
        ],
    );
    let reports = KAFKA.sweep(&s, 1..=5, |c| {
        c.partitions = 4;
        c.assignor = Assignor::Range;
    });
    for r in &reports {
        assert_eq!(r.verdict, Verdict::Valid, "{}", explain(&reports));
        assert_eq!(
            last_assignments(r),
            vec![
                ("consumer-01".to_string(), "[0, 1]".to_string()),
                ("consumer-02".to_string(), "[2, 3]".to_string()),
            ],
            "seed {}",
            r.seed
        );
    }
}

/// The same run with processing far too slow to finish: at-least-once must fire (the
/// check can fail, and the run above had records to process).
#[test]
fn records_left_unprocessed_at_the_end_are_reported() {
    let mut s = KAFKA.scenario("manual-commit-at-least-once.toml");
    s.run.faults.clear();
    history_checks(&mut s, &["at-least-once"]);
    let reports = KAFKA.sweep(&s, 1..=3, |c| {
        c.processing_time = dsim_core::units::Duration::from_ms(2_000);
        c.max_poll_interval = dsim_core::units::Duration::from_ms(300_000);
    });
    assert_eq!(fired(&reports, "at-least-once"), 3);
}

/// Auto-commit and round-robin without faults: polls are monotonic and skip nothing, and
/// everything is processed.
#[test]
fn auto_commit_without_faults_polls_in_order_and_processes_everything() {
    let mut s = KAFKA.scenario("auto-commit-loses-records.toml");
    s.run.faults.clear();
    history_checks(
        &mut s,
        &[
            "at-least-once",
            "no-duplicate-processing",
            "nonmonotonic-poll",
            "poll-skip",
        ],
    );
    let reports = KAFKA.sweep(&s, 1..=5, |c| c.assignor = Assignor::RoundRobin);
    assert!(all_valid(&reports), "{}", explain(&reports));
}

/// Domain note 004: auto-commit commits what poll returned; a crash mid-batch loses the
/// rest of the batch. The manual-commit twin, same crash, loses nothing.
#[test]
fn auto_commit_crash_loses_records_and_manual_commit_does_not() {
    let mut auto = KAFKA.scenario("auto-commit-loses-records.toml");
    history_checks(&mut auto, &["at-least-once"]);
    let lost = KAFKA.sweep(&auto, 1..=5, |_| {});
    // The crash must land mid-batch, which the seed's timing decides: most seeds, not all.
    assert!(fired(&lost, "at-least-once") >= 3, "{}", explain(&lost));
    assert!(lost
        .iter()
        .flat_map(|r| &r.violations)
        .all(|v| v.detail.contains("consumer-1 polled it")));

    let mut manual = KAFKA.scenario("manual-commit-at-least-once.toml");
    history_checks(&mut manual, &["at-least-once"]);
    let kept = KAFKA.sweep(&manual, 1..=5, |_| {});
    assert_eq!(fired(&kept, "at-least-once"), 0, "{}", explain(&kept));

    // The same switch on the first scenario: only auto_commit differs.
    let fixed = KAFKA.sweep(&auto, 1..=5, |c| c.auto_commit = false);
    assert_eq!(fired(&fixed, "at-least-once"), 0, "{}", explain(&fixed));
}

/// Commit after processing: the crash before the commit makes the new owner process the
/// batch's finished records again.
#[test]
fn a_crash_before_the_commit_means_duplicates_after_the_rebalance() {
    let mut s = KAFKA.scenario("rebalance-duplicates.toml");
    history_checks(&mut s, &["at-least-once", "no-duplicate-processing"]);
    let reports = KAFKA.sweep(&s, 1..=5, |_| {});
    assert!(
        fired(&reports, "no-duplicate-processing") >= 3,
        "{}",
        explain(&reports)
    );
    assert_eq!(fired(&reports, "at-least-once"), 0, "{}", explain(&reports));
    let detail = &reports[0].violations[0].detail;
    assert!(
        detail.contains("by consumer-1") && detail.contains("again by consumer-2"),
        "{detail}"
    );
}

/// The coordinator moves: the broker leading `__consumer_offsets` crashes; the new leader
/// loads the committed offsets from the log and the group carries on, losing nothing.
#[test]
fn the_group_survives_the_coordinator_crash() {
    // The consumer crash replaced by a crash of the offsets partition's (2) leader.
    let file = KAFKA.scenario("manual-commit-at-least-once.toml");
    let source = file
        .source
        .replace("target = \"nodes(consumer-1)\"", "target = \"leader(2)\"");
    assert_ne!(source, file.source);
    let mut s = Scenario::parse("coordinator-crash.toml", &source).expect("parses");
    history_checks(
        &mut s,
        &[
            "at-least-once",
            "nonmonotonic-poll",
            "poll-skip",
            "lost-write",
        ],
    );
    let reports = KAFKA.sweep(&s, 1..=5, |_| {});
    assert_eq!(fired(&reports, "at-least-once"), 0, "{}", explain(&reports));
    assert!(reports.iter().all(|r| r
        .notes
        .iter()
        .filter(|n| n.kind == "coordinator-loaded")
        .count()
        >= 2));
}
