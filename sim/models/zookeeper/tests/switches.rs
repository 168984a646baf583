//! Each bug switch of the zookeeper model, with the check that must catch it: the check
//! fires with the switch on and stays quiet with it off, over the same seeds of the
//! scenario that tells the story.

use dsim_core::{RunReport, Verdict};
use dsim_scenario::testing::{describe, has_fired, Testbed};
use dsim_zookeeper::model::LockWatchCfg;
use dsim_zookeeper::{ZkConfig, ZooKeeper};

const ZK: Testbed<ZkConfig, ZooKeeper> = Testbed::new("zookeeper", ZooKeeper::new);

/// Runs `file` over `seeds` with `set(cfg, on)`; returns (seeds where `check` fired with
/// the switch on, the runs with it off).
fn both_ways(
    file: &str,
    seeds: std::ops::RangeInclusive<u64>,
    check: &str,
    set: fn(&mut ZkConfig, bool),
) -> (Vec<u64>, Vec<RunReport>) {
    let s = ZK.scenario(file);
    let fired_on = ZK
        .sweep(&s, seeds.clone(), |c| set(c, true))
        .iter()
        .filter(|r| has_fired(r, check))
        .map(|r| r.seed)
        .collect();
    let runs_off = ZK.sweep(&s, seeds, |c| set(c, false));
    (fired_on, runs_off)
}

fn assert_quiet(runs: &[RunReport]) {
    for r in runs {
        assert_eq!(r.verdict, Verdict::Valid, "with the fix: {}", describe(r));
    }
}

/// ZOOKEEPER-1154: without TRUNC the old leader keeps and applies its uncommitted
/// epoch-1 proposals under the new epoch's transactions.
#[test]
fn zk1154_diff_without_trunc_resurrects_uncommitted_txns() {
    let (on, off) = both_ways(
        "zk1154-diff-without-trunc.toml",
        1..=6,
        "agreement",
        |c, b| c.diff_without_trunc = b,
    );
    assert!(on.len() >= 3, "agreement fired only on seeds {on:?}");
    assert_quiet(&off);
}

/// ZOOKEEPER-4643 / ZOOKEEPER-4646 (the window left by the ZOOKEEPER-3911 fix): a
/// follower that writes `currentEpoch` and acks NEWLEADER before the synced txns are
/// durable loses committed transactions after crashes.
#[test]
fn zk3911_ack_before_durable_loses_committed_txns() {
    let (on, off) = both_ways(
        "zk3911-ack-before-durable.toml",
        1..=20,
        "agreement",
        |c, b| c.ack_newleader_before_sync_durable = b,
    );
    assert!(!on.is_empty(), "agreement never fired with the bug");
    assert_quiet(&off);
}

/// ZOOKEEPER-1419: the non-transitive vote order keeps two servers swapping votes.
#[test]
fn zk1419_non_transitive_votes_never_settle() {
    let (on, off) = both_ways(
        "zk1419-vote-cycle.toml",
        1..=10,
        "election-settles",
        |c, b| c.non_transitive_vote_order = b,
    );
    assert!(on.len() >= 2, "election-settles fired only on seeds {on:?}");
    assert_quiet(&off);
}

/// The lock recipe without fencing: a holder paused past its session timeout writes
/// after the next holder. With fencing the resource refuses it.
#[test]
fn lock_pause_breaks_exclusion_unless_fenced() {
    let (on, off) = both_ways(
        "lock-pause-no-fencing.toml",
        1..=4,
        "lock-mutual-exclusion",
        |c, b| c.fencing = !b,
    );
    assert!(
        on.len() >= 2,
        "lock-mutual-exclusion fired only on seeds {on:?}"
    );
    assert_quiet(&off);
}

/// Reads without sync can be stale (by design); with sync they are linearizable.
#[test]
fn plain_reads_can_be_stale_synced_reads_cannot() {
    let (on, off) = both_ways(
        "stale-read-without-sync.toml",
        1..=3,
        "stale-read",
        |c, b| c.reads_sync = !b,
    );
    assert!(!on.is_empty(), "no stale read without sync");
    assert_quiet(&off);
}

/// The herd variant wakes waiters out of turn; the predecessor watch never does.
#[test]
fn herd_watch_wakes_waiters_out_of_turn() {
    let scenario = ZK.scenario("lock-herd.toml");
    let cfg = ZK.config(&scenario);
    let mut world = scenario.run;
    // lock-herd.toml shows the herd with a `sometimes` mark; arm the always-check here.
    world.checks.always.push("no-herd".into());
    for s in 1..=2 {
        let herd = ZK.run(with_watch(&cfg, LockWatchCfg::Herd), &world, s);
        assert!(
            has_fired(&herd, "no-herd"),
            "herd run without an out-of-turn wake-up: {}",
            describe(&herd)
        );
        // The predecessor watch never reaches the scenario's `herd-wakeup` mark.
        let mut pred_world = world.clone();
        pred_world.checks.sometimes.retain(|m| m != "herd-wakeup");
        let pred = ZK.run(with_watch(&cfg, LockWatchCfg::Predecessor), &pred_world, s);
        assert_eq!(pred.verdict, Verdict::Valid, "{}", describe(&pred));
    }
}

/// `cfg` with the lock recipe's watch set to `w`.
fn with_watch(cfg: &ZkConfig, w: LockWatchCfg) -> ZkConfig {
    ZkConfig {
        lock_watch: w,
        ..cfg.clone()
    }
}
