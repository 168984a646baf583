//! Single-server membership changes (Ongaro's thesis §4.1) and the bug Ongaro reported on
//! raft-dev in July 2015 ("bug in single-server membership changes"), played message by
//! message on five servers with a hand-driven network: without the rule that a leader
//! commits an entry of its own term before changing the configuration, two leaders with
//! disjoint majorities commit different entries at the same index.

use std::collections::BTreeSet;

use dsim_core::NodeId;
use dsim_raft::log::{Index, Payload};
use dsim_raft::msg::{RaftMsg, RaftTimer};
use dsim_raft::server::{ConfigRefused, RaftConfig, RaftServer, Role};

mod common;
use common::{Cmd, Env};

struct Cluster {
    envs: Vec<Env>,
    servers: Vec<RaftServer<Cmd>>,
}

impl Cluster {
    /// Voters 0..4 (C0 = {0,1,2,3}); server 4 is a spare.
    fn new(without_noop_rule: bool) -> Self {
        let mut envs: Vec<Env> = (0..5).map(Env::new).collect();
        let servers = (0..5)
            .map(|i| {
                let mut c = RaftConfig::new((0..4).map(NodeId).collect());
                c.pre_vote = false;
                c.check_quorum = false;
                c.single_server_change_without_noop = without_noop_rule;
                let mut s = RaftServer::new(c);
                s.start(&mut envs[i]);
                s
            })
            .collect();
        Cluster { envs, servers }
    }

    /// Completes fsyncs and delivers messages between servers in `up` until quiet.
    fn pump(&mut self, up: &[u32]) {
        self.pump_if(up, |_, _, _| true);
    }

    /// As `pump`, delivering only the messages `allow` lets through.
    fn pump_if(&mut self, up: &[u32], allow: impl Fn(u32, u32, &RaftMsg<Cmd>) -> bool) {
        for _ in 0..50 {
            let mut moved = false;
            for i in 0..5 {
                let (env, s) = (&mut self.envs[i], &mut self.servers[i]);
                env.sync(s);
            }
            let mut msgs = Vec::new();
            for i in 0..5u32 {
                for (to, m) in self.envs[i as usize].take() {
                    msgs.push((NodeId(i), to, m));
                }
            }
            for (from, to, m) in msgs {
                if up.contains(&from.0) && up.contains(&to.0) && allow(from.0, to.0, &m) {
                    let k = to.index();
                    self.servers[k].on_message(&mut self.envs[k], from, m);
                    moved = true;
                }
            }
            for i in 0..5 {
                let _ = self.servers[i].take_ready();
            }
            if !moved {
                return;
            }
        }
    }

    /// A crash and restart: the server rebuilds from what its disk synced.
    fn restart(&mut self, i: usize) {
        let cfg = self.servers[i].cfg.clone();
        self.envs[i].crash();
        self.servers[i] = RaftServer::new(cfg);
        self.servers[i].start(&mut self.envs[i]);
    }

    fn timeout(&mut self, i: usize) {
        self.envs[i].now += 1_000_000_000;
        self.servers[i].on_timer(&mut self.envs[i], RaftTimer::Election);
    }

    fn config(&mut self, i: usize, voters: &[u32]) -> Result<Index, ConfigRefused> {
        let v = voters.iter().copied().map(NodeId).collect();
        self.servers[i].propose_config(&mut self.envs[i], v)
    }
}

/// Plays the raft-dev interleaving. Returns the cluster and what `propose_config` said
/// when the second leader tried to remove server 0.
fn play(without_noop_rule: bool) -> (Cluster, Result<Index, ConfigRefused>) {
    let mut c = Cluster::new(without_noop_rule);
    // Server 0 leads term 1 over C0 = {0,1,2,3}; its no-op (index 1) commits.
    c.timeout(0);
    c.pump(&[0, 1, 2, 3]);
    assert_eq!(c.servers[0].role(), Role::Leader);
    assert_eq!(c.servers[0].commit_index(), 1);
    // It adds server 4: C1 = {0,1,2,3,4} at index 2 reaches only server 4; 0 is cut off.
    c.config(0, &[0, 1, 2, 3, 4])
        .expect("the first change is allowed");
    c.pump(&[0, 4]);
    assert_eq!(c.servers[4].log().last_index(), 2);
    // Server 1 leads term 2 under C0 (votes of 1, 2, 3); its no-op reaches only 2.
    c.timeout(1);
    c.pump_if(&[1, 2, 3], |from, to, m| {
        !(from == 1 && to == 3 && matches!(m, RaftMsg::AppendEntries { .. }))
    });
    assert_eq!(c.servers[1].role(), Role::Leader);
    assert_eq!(c.servers[1].term(), 2);
    // From now on 1 and 2 talk only to each other; 0, 3 and 4 to each other.
    // Server 1 removes server 0: C2 = {1,2,3}. Committed by {1,2}, a majority of C2.
    let second = c.config(1, &[1, 2, 3]);
    c.pump(&[1, 2]);
    // Server 0 crashes and comes back; under C1 = {0..4} it wins term 3 with 3 and 4.
    c.restart(0);
    c.timeout(0); // term 2: server 3 already voted for 1
    c.pump(&[0, 3, 4]);
    c.timeout(0); // term 3
    c.pump(&[0, 3, 4]);
    (c, second)
}

/// With the bug switch, the second leader changes the configuration before its no-op
/// commits; C1 and C2 have disjoint majorities ({0,3,4} and {1,2}), and two different
/// entries are committed at index 3 — State Machine Safety and Leader Completeness
/// (Figure 3) both break.
#[test]
fn membership_change_without_noop_loses_a_committed_entry() {
    let (c, second) = play(true);
    assert!(
        second.is_ok(),
        "the bug lets the change through: {second:?}"
    );
    let (s1, s0) = (&c.servers[1], &c.servers[0]);
    assert!(s1.commit_index() >= 3, "C2 committed by servers 1 and 2");
    assert!(matches!(
        s1.log().get(3).map(|e| &e.payload),
        Some(Payload::Config(_))
    ));
    assert_eq!(s0.role(), Role::Leader, "server 0 leads term 3 under C1");
    assert_eq!(s0.term(), 3);
    assert!(
        s0.commit_index() >= 3,
        "server 0 commits its own entry at index 3"
    );
    assert_ne!(
        s0.log().term_at(3),
        s1.log().term_at(3),
        "two different entries committed at index 3"
    );
    let leaders: BTreeSet<usize> = (0..5).filter(|i| c.servers[*i].is_leader()).collect();
    assert_eq!(
        leaders,
        BTreeSet::from([0, 1]),
        "two leaders at once, in terms 2 and 3"
    );
}

/// With the rule (the default), the second leader may not change the configuration until
/// its no-op commits, which needs three of C0 — impossible with 0 and 3 cut off — so
/// nothing is committed at index 3 on that side, and server 0's later term is legal.
#[test]
fn the_noop_rule_forbids_the_early_change() {
    let (c, second) = play(false);
    assert_eq!(second, Err(ConfigRefused::NoEntryCommittedInTerm));
    assert!(
        c.servers[1].commit_index() < 2,
        "server 1 committed nothing of term 2"
    );
    assert_eq!(c.servers[0].role(), Role::Leader);
}

/// Joint consensus (§6; thesis §4.3): while C_old,new is in effect a decision needs a
/// majority of C_old *and* of C_new; once it commits the leader appends C_new by itself,
/// and a leader outside C_new steps down when C_new commits (thesis §4.2.2).
#[test]
fn joint_consensus_needs_both_majorities_and_hands_over() {
    let mut c = Cluster::new(false);
    c.timeout(0);
    c.pump(&[0, 1, 2, 3]);
    assert_eq!(c.servers[0].role(), Role::Leader);
    let v = |xs: &[u32]| xs.iter().copied().map(NodeId).collect::<Vec<_>>();
    // C_old = {0,1,2,3} → C_new = {2,3,4}: the leader itself is not in C_new.
    let joint = c.servers[0]
        .propose_joint(&mut c.envs[0], v(&[2, 3, 4]))
        .expect("leader, nothing pending");
    // With only C_old's side reachable (0, 1, 2 is a majority of C_old, but only 2 of C_new
    // is there), the joint entry must not commit.
    c.pump(&[0, 1, 2]);
    assert!(
        c.servers[0].commit_index() < joint,
        "committed without a majority of C_new"
    );
    assert_eq!(c.servers[0].config_new(), Some(&v(&[2, 3, 4])[..]));
    // Everyone reachable: C_old,new commits, the leader appends C_new, which commits, and
    // the leader (not in C_new) steps down.
    // (The AppendEntries lost to 3 and 4 are resent with the next heartbeat.)
    c.servers[0].on_timer(&mut c.envs[0], RaftTimer::Heartbeat);
    c.pump(&[0, 1, 2, 3, 4]);
    assert!(c.servers[0].commit_index() > joint);
    assert_eq!(c.servers[0].config(), &v(&[2, 3, 4])[..]);
    assert_eq!(c.servers[0].config_new(), None);
    assert_ne!(
        c.servers[0].role(),
        Role::Leader,
        "a leader outside C_new steps down"
    );
    // A second change is refused while one is in progress.
    let mut c2 = Cluster::new(false);
    c2.timeout(0);
    c2.pump(&[0, 1, 2, 3]);
    c2.servers[0]
        .propose_joint(&mut c2.envs[0], v(&[0, 1, 4]))
        .expect("first");
    assert_eq!(
        c2.servers[0].propose_joint(&mut c2.envs[0], v(&[0, 2, 4])),
        Err(ConfigRefused::ChangeInProgress)
    );
}
