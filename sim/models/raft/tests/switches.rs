//! Each historic bug of the raft model, with the check that must catch it: the check
//! fires with the switch on (the scenario as shipped) and stays quiet with the switch off
//! (the same scenario and faults, the fix applied), over a sweep of seeds.

use dsim_core::Verdict;
use dsim_raft::{RaftModel, RaftModelConfig};
use dsim_scenario::testing::{all_valid, fired, Testbed};

const RAFT: Testbed<RaftModelConfig, RaftModel> = Testbed::new("raft", RaftModel::new);

/// Raft §5.4.2 and Figure 8: a leader must not commit an entry of an earlier term by
/// counting replicas; a later leader may overwrite it.
#[test]
fn figure_8_counting_previous_term_entries_loses_committed_entries() {
    let s = RAFT.scenario("figure-8.toml");
    let bug = RAFT.sweep(&s, 1..=10, |_| {});
    assert!(
        fired(&bug, "leader-completeness") > 0,
        "Figure 8 never reproduced"
    );
    assert!(fired(&bug, "state-machine-safety") > 0);
    let fixed = RAFT.sweep(&s, 1..=40, |c| c.commit_previous_term_by_counting = false);
    assert!(
        all_valid(&fixed),
        "the correct commit rule must keep Figure 8 safe"
    );
}

/// Figure 2 persistence, ongardie/raft.tla `Raft_Term_Not_Persisted.tla`: a vote sent
/// before currentTerm/votedFor are durable can be cast twice in one term.
#[test]
fn voting_before_persisting_the_term_elects_two_leaders() {
    let s = RAFT.scenario("term-not-persisted.toml");
    let bug = RAFT.sweep(&s, 1..=30, |_| {});
    assert!(
        fired(&bug, "election-safety") > 0,
        "no double vote in 30 seeds"
    );
    let fixed = RAFT.sweep(&s, 1..=60, |c| c.persist_term_before_vote = true);
    assert_eq!(fired(&fixed, "election-safety"), 0);
    assert!(all_valid(&fixed));
}

/// etcd #9333 / thesis §9.6: without Pre-Vote a rejoining server deposes a healthy leader.
#[test]
fn without_pre_vote_a_rejoining_server_deposes_a_healthy_leader() {
    let s = RAFT.scenario("disruptive-rejoin.toml");
    let bug = RAFT.sweep(&s, 1..=5, |_| {});
    assert_eq!(fired(&bug, "no-disruptive-election"), 5);
    let fixed = RAFT.sweep(&s, 1..=40, |c| c.pre_vote = true);
    assert!(all_valid(&fixed));
}

/// Thesis §6.2/§6.4, Jepsen etcd 2014: local reads without CheckQuorum are stale once the
/// leader is deposed; CheckQuorum with ReadIndex is not.
#[test]
fn stale_reads_need_check_quorum_or_read_index() {
    let s = RAFT.scenario("stale-read-no-check-quorum.toml");
    let bug = RAFT.sweep(&s, 1..=10, |_| {});
    assert!(fired(&bug, "linearizable") > 0);
    assert!(fired(&bug, "stale-read") > 0);
    let fixed = RAFT.sweep(&s, 1..=40, |c| {
        c.check_quorum = true;
        c.read_mode = dsim_raft::ReadMode::ReadIndex;
    });
    assert!(all_valid(&fixed));
}

/// Thesis §6.4.1: a lease is safe only while clock drift stays within the bound it
/// assumes. The same drift with a bound that covers it, or with ReadIndex, reads nothing
/// stale.
#[test]
fn leases_read_stale_values_when_clocks_drift_beyond_the_bound() {
    let s = RAFT.scenario("lease-clock-skew.toml");
    let bug = RAFT.sweep(&s, 1..=10, |_| {});
    assert!(fired(&bug, "linearizable") > 0);
    assert!(fired(&bug, "stale-read") > 0);
    let bounded = RAFT.sweep(&s, 1..=40, |c| c.lease_drift_bound_ppm = 950_000);
    assert!(all_valid(&bounded));
    let read_index = RAFT.sweep(&s, 1..=20, |c| c.read_mode = dsim_raft::ReadMode::ReadIndex);
    assert!(all_valid(&read_index));
}

/// Ongaro, raft-dev, July 2015, "bug in single-server membership changes" (the "one add,
/// one remove" case): a new leader that changes the configuration before an entry of its
/// term commits lets C+5 and C−4 — one server from C each, two from each other — commit
/// and elect with disjoint majorities; the later leader lacks a committed entry, and a
/// different entry is applied at its index.
#[test]
fn membership_change_without_noop_rule_loses_a_committed_entry() {
    let s = RAFT.scenario("membership-no-noop.toml");
    let bug = RAFT.sweep(&s, 1..=10, |_| {});
    assert!(
        fired(&bug, "leader-completeness") > 0,
        "the raft-dev interleaving never reproduced"
    );
    assert!(fired(&bug, "state-machine-safety") > 0);
    let fixed = RAFT.sweep(&s, 1..=60, |c| c.single_server_change_without_noop = false);
    assert!(all_valid(&fixed), "the no-op rule must keep it safe");
    // The shipped fixed twin is the same scenario with the rule on, and it is quiet
    // because the rule refuses the second change (not because the script missed).
    let twin = RAFT.scenario("membership-no-noop-fixed.toml");
    let mut cfg = RAFT.config(&twin);
    assert!(!cfg.single_server_change_without_noop);
    cfg.single_server_change_without_noop = true;
    assert_eq!(
        cfg,
        RAFT.config(&s),
        "the fixed twin differs from the buggy scenario only by the switch"
    );
    for r in RAFT.recording().sweep(&twin, 1..=20, |_| {}) {
        let seed = r.seed;
        assert_eq!(r.verdict, Verdict::Valid, "seed {seed}: {:?}", r.violations);
        assert!(
            r.notes
                .iter()
                .any(|n| n.kind == "raft-config-refused"
                    && n.detail.contains("NoEntryCommittedInTerm")),
            "seed {seed}: the early change was not refused by the rule"
        );
    }
}

/// The correct configuration under a random nemesis: the scenario shipped as valid.
#[test]
fn the_five_server_nemesis_scenario_is_safe() {
    let s = RAFT.scenario("nemesis-5.toml");
    let reports = RAFT.sweep(&s, 1..=20, |_| {});
    for r in &reports {
        assert_eq!(
            r.verdict,
            Verdict::Valid,
            "seed {}: {:?}",
            r.seed,
            r.violations
        );
    }
}

/// Bad settings are refused with the key at fault, never a panic.
#[test]
fn bad_config_names_the_key() {
    let bad = [
        (
            RaftModelConfig {
                servers: 0,
                ..Default::default()
            },
            "servers",
        ),
        (
            RaftModelConfig {
                servers: 99,
                ..Default::default()
            },
            "servers",
        ),
        (
            RaftModelConfig {
                keys: 0,
                ..Default::default()
            },
            "keys",
        ),
        (
            RaftModelConfig {
                heartbeat_interval: dsim_core::units::Duration::from_ms(500),
                ..Default::default()
            },
            "heartbeat_interval",
        ),
        (
            RaftModelConfig {
                leader_noop: false,
                ..Default::default()
            },
            "leader_noop",
        ),
        (
            RaftModelConfig {
                lease_drift_bound_ppm: 1_000_000,
                ..Default::default()
            },
            "lease_drift_bound_ppm",
        ),
        (
            RaftModelConfig {
                reconfigure_script: vec![script(1000, Some("server-5"), None)],
                ..Default::default()
            },
            "reconfigure_script",
        ),
        (
            RaftModelConfig {
                reconfigure: dsim_raft::Reconfigure::SingleServer,
                spare_servers: 1,
                reconfigure_script: vec![script(1000, Some("server-9"), None)],
                ..Default::default()
            },
            "reconfigure_script",
        ),
        (
            RaftModelConfig {
                reconfigure: dsim_raft::Reconfigure::SingleServer,
                spare_servers: 1,
                reconfigure_script: vec![script(1000, Some("server-4"), Some("server-1"))],
                ..Default::default()
            },
            "reconfigure_script",
        ),
        (
            RaftModelConfig {
                reconfigure: dsim_raft::Reconfigure::SingleServer,
                reconfigure_script: vec![script(1000, None, Some("client-1"))],
                ..Default::default()
            },
            "reconfigure_script",
        ),
    ];
    for (cfg, key) in bad {
        let e = RaftModel::new(cfg).expect_err(key);
        assert_eq!(e.key, key);
    }
}

fn script(at_ms: u64, add: Option<&str>, remove: Option<&str>) -> dsim_raft::admin::ScriptedChange {
    dsim_raft::admin::ScriptedChange {
        at: dsim_core::units::Duration::from_ms(at_ms),
        add: add.map(str::to_string),
        remove: remove.map(str::to_string),
    }
}
