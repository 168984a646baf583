//! Each bug switch of the kafka model with the check that must catch it: the check fires
//! with the switch as the scenario ships it, and stays quiet with only that switch
//! flipped (same faults, same seeds). Sources are in docs/models/kafka.md.

use dsim_kafka::{Acks, Kafka, KafkaConfig};
use dsim_scenario::testing::{all_valid, explain, fired, Testbed};

/// The runs record: some tests read the notes.
const KAFKA: Testbed<KafkaConfig, Kafka> = Testbed::new("kafka", Kafka::new).recording();

/// Domain note 004: acks=1 answers before any follower has the record; the leader's
/// crash loses what it alone held. acks=all with min.insync.replicas=2 (and the
/// idempotent producer, so retries cannot duplicate) keeps every acknowledged record.
#[test]
fn acks_1_loses_acknowledged_records_and_acks_all_does_not() {
    let s = KAFKA.scenario("acks1-leader-crash.toml");
    let bug = KAFKA.sweep(&s, 1..=5, |_| {});
    assert_eq!(fired(&bug, "lost-write"), 5, "{}", explain(&bug));
    let fixed = KAFKA.sweep(&s, 1..=5, |c| {
        c.acks = Acks::All;
        c.min_insync_replicas = 2;
        c.idempotence = true;
    });
    assert!(all_valid(&fixed), "{}", explain(&fixed));
}

/// KIP-106: unclean.leader.election.enable elects an out-of-sync replica and loses what
/// the ISR had; off, the partition waits offline instead.
#[test]
fn unclean_election_loses_records_and_clean_election_waits() {
    let s = KAFKA.scenario("unclean-election.toml");
    let bug = KAFKA.sweep(&s, 1..=5, |_| {});
    assert_eq!(fired(&bug, "lost-write"), 5, "{}", explain(&bug));
    assert!(bug
        .iter()
        .all(|r| r.marks.contains("unclean-leader-election")));
    let fixed = KAFKA.sweep(&s, 1..=5, |c| c.unclean_leader_election = false);
    assert_eq!(fired(&fixed, "lost-write"), 0, "{}", explain(&fixed));
}

/// KIP-966: without eligible leader replicas the last ISR member, back from a power loss
/// with a shorter log, leads again and its followers truncate acknowledged records.
#[test]
fn last_replica_standing_loses_records_without_kip966() {
    let s = KAFKA.scenario("kip966-last-replica-standing.toml");
    let bug = KAFKA.sweep(&s, 1..=5, |_| {});
    assert_eq!(fired(&bug, "lost-write"), 5, "{}", explain(&bug));
    let fixed = KAFKA.sweep(&s, 1..=5, |c| c.eligible_leader_replicas = true);
    assert!(all_valid(&fixed), "{}", explain(&fixed));
    assert!(fixed.iter().all(|r| r.marks.contains("partition-offline")));
}

/// KIP-98: a retried batch whose answer was lost is appended twice without idempotence,
/// once with it.
#[test]
fn retries_duplicate_without_idempotence() {
    let s = KAFKA.scenario("retries-duplicate.toml");
    let bug = KAFKA.sweep(&s, 1..=5, |_| {});
    // Only answers in flight when the cut starts are lost: in most seeds there are some.
    assert!(fired(&bug, "duplicate") >= 3, "{}", explain(&bug));
    let fixed = KAFKA.sweep(&s, 1..=5, |c| c.idempotence = true);
    assert!(all_valid(&fixed), "{}", explain(&fixed));
}

/// Domain note 004's four settings: min.insync.replicas = 1 lets acks=all acknowledge
/// records held by the leader alone.
#[test]
fn min_insync_replicas_1_makes_acks_all_lose_records() {
    let s = KAFKA.scenario("acks-all-min-isr-1.toml");
    let bug = KAFKA.sweep(&s, 1..=5, |_| {});
    assert_eq!(fired(&bug, "lost-write"), 5, "{}", explain(&bug));
    let fixed = KAFKA.sweep(&s, 1..=5, |c| {
        c.min_insync_replicas = 2;
        c.idempotence = true;
    });
    assert_eq!(fired(&fixed, "lost-write"), 0, "{}", explain(&fixed));
}

/// KIP-101 scenario 1: a follower that truncates to its own high watermark when it
/// follows a new leader deletes acknowledged records, and is then elected; leader epochs
/// keep them.
#[test]
fn truncating_to_the_high_watermark_loses_committed_records() {
    let s = KAFKA.scenario("kip101-lost-committed-data.toml");
    let bug = KAFKA.sweep(&s, 1..=5, |_| {});
    assert_eq!(fired(&bug, "lost-write"), 5, "{}", explain(&bug));
    let fixed = KAFKA.sweep(&s, 1..=5, |c| c.truncate_to_high_watermark = false);
    assert!(all_valid(&fixed), "{}", explain(&fixed));
}

/// KIP-101 scenario 2: after two power losses the follower keeps records above the new
/// leader's log end, up to its checkpointed high watermark, and the replicas diverge;
/// with leader epochs they agree (the power losses still lose records either way).
#[test]
fn truncating_to_the_high_watermark_diverges_replicas() {
    let s = KAFKA.scenario("kip101-replica-divergence.toml");
    let bug = KAFKA.sweep(&s, 1..=5, |_| {});
    assert_eq!(fired(&bug, "logs-agree"), 5, "{}", explain(&bug));
    let fixed = KAFKA.sweep(&s, 1..=5, |c| c.truncate_to_high_watermark = false);
    assert_eq!(fired(&fixed, "logs-agree"), 0, "{}", explain(&fixed));
    assert_eq!(fired(&fixed, "lost-write"), 5, "{}", explain(&fixed));
}

/// KIP-279: asked about an epoch it never had, the leader answers for an older one; the
/// follower that takes the offset as it is keeps records of its own epoch below it.
#[test]
fn one_epoch_question_diverges_replicas_after_fast_leader_changes() {
    let s = KAFKA.scenario("kip279-fast-leader-changes.toml");
    let bug = KAFKA.sweep(&s, 1..=5, |_| {});
    assert_eq!(fired(&bug, "logs-agree"), 5, "{}", explain(&bug));
    let fixed = KAFKA.sweep(&s, 1..=5, |c| c.kip279 = true);
    assert!(all_valid(&fixed), "{}", explain(&fixed));
}

/// Before KIP-101 a follower whose fetch offset is past the new leader's log end asked
/// for that log end (ListOffsets) and, outside the ISR with unclean election off,
/// refused to truncate (Kafka 0.10's `handleOffsetOutOfRange` halted the broker; here the
/// replica stops). KIP-101 scenario 2 with the follower back before the leader has
/// written past the follower's high watermark.
#[test]
fn before_kip101_a_follower_ahead_of_the_leader_refuses_to_truncate() {
    let mut s = KAFKA.scenario("kip101-replica-divergence.toml");
    // The follower's power loss: back at 15 s, while the partition is still offline.
    s.run.faults[1].duration_ns = Some(5_000_000_000);
    let runs = KAFKA.sweep(&s, 1..=3, |_| {});
    for r in &runs {
        assert!(
            r.notes.iter().any(|n| n.kind == "truncation-refused"),
            "seed {}: no refusal in {:?}",
            r.seed,
            r.notes.iter().map(|n| n.kind).collect::<Vec<_>>()
        );
    }
}
