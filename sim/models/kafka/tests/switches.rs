//! Each bug switch of the kafka model with the check that must catch it: the check fires
//! with the switch as the scenario ships it, and stays quiet with only that switch
//! flipped (same faults, same seeds). Sources are in docs/models/kafka.md.

mod common;

use common::{all_valid, explain, fired, scenario, sweep};
use dsim_kafka::Acks;

/// Domain note 004: acks=1 answers before any follower has the record; the leader's
/// crash loses what it alone held. acks=all with min.insync.replicas=2 (and the
/// idempotent producer, so retries cannot duplicate) keeps every acknowledged record.
#[test]
fn acks_1_loses_acknowledged_records_and_acks_all_does_not() {
    let s = scenario("acks1-leader-crash.toml");
    let bug = sweep(&s, 1..=5, |_| {});
    assert_eq!(fired(&bug, "lost-write"), 5, "{}", explain(&bug));
    let fixed = sweep(&s, 1..=5, |c| {
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
    let s = scenario("unclean-election.toml");
    let bug = sweep(&s, 1..=5, |_| {});
    assert_eq!(fired(&bug, "lost-write"), 5, "{}", explain(&bug));
    assert!(bug
        .iter()
        .all(|r| r.marks.contains("unclean-leader-election")));
    let fixed = sweep(&s, 1..=5, |c| c.unclean_leader_election = false);
    assert_eq!(fired(&fixed, "lost-write"), 0, "{}", explain(&fixed));
}

/// KIP-966: without eligible leader replicas the last ISR member, back from a power loss
/// with a shorter log, leads again and its followers truncate acknowledged records.
#[test]
fn last_replica_standing_loses_records_without_kip966() {
    let s = scenario("kip966-last-replica-standing.toml");
    let bug = sweep(&s, 1..=5, |_| {});
    assert_eq!(fired(&bug, "lost-write"), 5, "{}", explain(&bug));
    let fixed = sweep(&s, 1..=5, |c| c.eligible_leader_replicas = true);
    assert!(all_valid(&fixed), "{}", explain(&fixed));
    assert!(fixed.iter().all(|r| r.marks.contains("partition-offline")));
}

/// KIP-98: a retried batch whose answer was lost is appended twice without idempotence,
/// once with it.
#[test]
fn retries_duplicate_without_idempotence() {
    let s = scenario("retries-duplicate.toml");
    let bug = sweep(&s, 1..=5, |_| {});
    // Only answers in flight when the cut starts are lost: in most seeds there are some.
    assert!(fired(&bug, "duplicate") >= 3, "{}", explain(&bug));
    let fixed = sweep(&s, 1..=5, |c| c.idempotence = true);
    assert!(all_valid(&fixed), "{}", explain(&fixed));
}

/// Domain note 004's four settings: min.insync.replicas = 1 lets acks=all acknowledge
/// records held by the leader alone.
#[test]
fn min_insync_replicas_1_makes_acks_all_lose_records() {
    let s = scenario("acks-all-min-isr-1.toml");
    let bug = sweep(&s, 1..=5, |_| {});
    assert_eq!(fired(&bug, "lost-write"), 5, "{}", explain(&bug));
    let fixed = sweep(&s, 1..=5, |c| {
        c.min_insync_replicas = 2;
        c.idempotence = true;
    });
    assert_eq!(fired(&fixed, "lost-write"), 0, "{}", explain(&fixed));
}
