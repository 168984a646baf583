//! Raft's rules one step at a time, on a `RaftServer` driven by hand through a recording
//! `RaftEnv` (as raft-rs tests `step`): each test cites the section it checks.

use dsim_core::NodeId;
use dsim_raft::log::{Entry, Payload};
use dsim_raft::msg::{RaftMsg, RaftTimer};
use dsim_raft::server::{RaftConfig, RaftServer, Role};

mod common;
use common::{Cmd, Env};

fn cfg() -> RaftConfig {
    let mut c = RaftConfig::new(vec![NodeId(0), NodeId(1), NodeId(2)]);
    c.pre_vote = false;
    c.check_quorum = false;
    c
}

fn server(env: &mut Env, c: RaftConfig) -> RaftServer<Cmd> {
    let mut s = RaftServer::new(c);
    s.start(env);
    env.sync(&mut s);
    s
}

fn vote_request(term: u64) -> RaftMsg<Cmd> {
    RaftMsg::RequestVote {
        term,
        last_log_index: 0,
        last_log_term: 0,
        pre_vote: false,
    }
}

/// Figure 2: currentTerm and votedFor are on stable storage before the vote is sent, and
/// a restarted server remembers its vote (it will not vote twice in a term, §5.2).
#[test]
fn a_vote_waits_for_fsync_and_survives_a_restart() {
    let mut env = Env::new(1);
    let mut s = server(&mut env, cfg());
    s.on_message(&mut env, NodeId(0), vote_request(1));
    assert!(env.take().is_empty(), "the vote left before it was durable");
    env.sync(&mut s);
    let sent = env.take();
    assert!(matches!(
        sent[..],
        [(
            NodeId(0),
            RaftMsg::RequestVoteReply {
                term: 1,
                granted: true,
                ..
            }
        )]
    ));
    // Restart from the disk alone: the vote for node 0 in term 1 is remembered.
    let mut again = RaftServer::<Cmd>::new(cfg());
    again.start(&mut env);
    assert_eq!((again.term(), again.voted_for()), (1, Some(NodeId(0))));
    again.on_message(&mut env, NodeId(2), vote_request(1));
    env.sync(&mut again);
    assert!(matches!(
        env.take()[..],
        [(NodeId(2), RaftMsg::RequestVoteReply { granted: false, .. })]
    ));
}

/// The `persist_term_before_vote = false` bug: the vote leaves at once, and a crash before
/// the fsync forgets it (Raft_Term_Not_Persisted.tla).
#[test]
fn with_the_bug_a_crash_forgets_the_vote() {
    let mut env = Env::new(1);
    let mut c = cfg();
    c.persist_term_before_vote = false;
    let mut s = server(&mut env, c.clone());
    s.on_message(&mut env, NodeId(0), vote_request(1));
    assert!(matches!(
        env.take()[..],
        [(_, RaftMsg::RequestVoteReply { granted: true, .. })]
    ));
    // Crash before the fsync: only durable bytes survive.
    env.crash();
    let mut again = RaftServer::<Cmd>::new(c);
    again.start(&mut env);
    assert_eq!(again.voted_for(), None);
    again.on_message(&mut env, NodeId(2), vote_request(1));
    assert!(
        matches!(
            env.take()[..],
            [(NodeId(2), RaftMsg::RequestVoteReply { granted: true, .. })]
        ),
        "a second vote in term 1"
    );
}

fn append(term: u64, prev: u64, prev_term: u64, entries: &[u64], commit: u64) -> RaftMsg<Cmd> {
    RaftMsg::AppendEntries {
        term,
        prev_log_index: prev,
        prev_log_term: prev_term,
        entries: entries
            .iter()
            .map(|t| Entry {
                term: *t,
                payload: Payload::Noop,
            })
            .collect(),
        leader_commit: commit,
        round: 1,
    }
}

/// §5.3: the consistency check, and the fast-backtracking hint (the conflicting term and
/// the first index the follower holds of it); a conflicting suffix is replaced.
#[test]
fn append_entries_consistency_check_and_conflict_hint() {
    let mut env = Env::new(1);
    let mut s = server(&mut env, cfg());
    s.on_message(&mut env, NodeId(0), append(2, 0, 0, &[1, 1, 2, 2], 0));
    env.sync(&mut s);
    assert!(matches!(
        env.take()[..],
        [(
            _,
            RaftMsg::AppendEntriesReply {
                success: true,
                match_index: 4,
                ..
            }
        )]
    ));
    // A leader of term 3 whose entry 4 is of term 3: conflict at term 2, first index 3.
    s.on_message(&mut env, NodeId(2), append(3, 4, 3, &[3], 0));
    env.sync(&mut s);
    assert!(matches!(
        env.take()[..],
        [(
            _,
            RaftMsg::AppendEntriesReply {
                success: false,
                conflict_term: Some(2),
                conflict_index: 3,
                ..
            }
        )]
    ));
    // Past the end: the hint is last index + 1.
    s.on_message(&mut env, NodeId(2), append(3, 9, 3, &[3], 0));
    assert!(matches!(
        env.take()[..],
        [(
            _,
            RaftMsg::AppendEntriesReply {
                success: false,
                conflict_term: None,
                conflict_index: 5,
                ..
            }
        )]
    ));
    // Matching at 2: entries 3.. are replaced by the leader's.
    s.on_message(&mut env, NodeId(2), append(3, 2, 1, &[3, 3], 0));
    env.sync(&mut s);
    assert_eq!(s.log().last_index(), 4);
    assert_eq!(s.log().term_at(3), Some(3));
    assert_eq!(s.log().term_at(4), Some(3));
}

/// Makes server 0 the leader of term 2 with an entry of term 1 left from before.
fn leader_with_old_entry(c: RaftConfig) -> (Env, RaftServer<Cmd>) {
    let mut env = Env::new(0);
    let mut s = server(&mut env, c);
    s.on_message(&mut env, NodeId(1), append(1, 0, 0, &[1], 0));
    env.sync(&mut s);
    env.take();
    env.now = 1_000_000_000; // past any election timeout (§5.2)
    s.on_timer(&mut env, RaftTimer::Election); // candidate in term 2
    env.sync(&mut s);
    env.take();
    s.on_message(
        &mut env,
        NodeId(2),
        RaftMsg::RequestVoteReply {
            term: 2,
            granted: true,
            pre_vote: false,
        },
    );
    assert_eq!(s.role(), Role::Leader);
    env.sync(&mut s);
    env.take();
    (env, s)
}

/// §5.4.2: a leader does not commit an entry of an earlier term by counting replicas; it
/// commits once an entry of its own term is on a majority.
#[test]
fn only_current_term_entries_commit_by_counting() {
    let mut c = cfg();
    c.leader_noop = false;
    let (mut env, mut s) = leader_with_old_entry(c.clone());
    let ack = |m| RaftMsg::AppendEntriesReply {
        term: 2,
        success: true,
        match_index: m,
        conflict_term: None,
        conflict_index: 0,
        round: 1,
    };
    s.on_message(&mut env, NodeId(2), ack(1));
    assert_eq!(
        s.commit_index(),
        0,
        "entry 1 is of term 1: counting must not commit it"
    );
    s.propose(&mut env, Cmd(7)).expect("leader");
    env.sync(&mut s);
    s.on_message(&mut env, NodeId(2), ack(2));
    assert_eq!(
        s.commit_index(),
        2,
        "entry 2 of term 2 commits, and entry 1 with it"
    );
    // The Figure 8 bug switch commits the old entry at once.
    c.commit_previous_term_by_counting = true;
    let (mut env, mut s) = leader_with_old_entry(c);
    s.on_message(&mut env, NodeId(2), ack(1));
    assert_eq!(s.commit_index(), 1);
}

/// §7: a server restarted after compaction recovers from its snapshot and log suffix.
#[test]
fn compaction_and_recovery_from_a_snapshot() {
    let mut c = cfg();
    c.leader_noop = false;
    let (mut env, mut s) = leader_with_old_entry(c.clone());
    for v in 0..5 {
        s.propose(&mut env, Cmd(v)).expect("leader");
    }
    env.sync(&mut s);
    s.on_message(
        &mut env,
        NodeId(1),
        RaftMsg::AppendEntriesReply {
            term: 2,
            success: true,
            match_index: 6,
            conflict_term: None,
            conflict_index: 0,
            round: 1,
        },
    );
    assert_eq!(s.commit_index(), 6);
    let ready = s.take_ready();
    assert_eq!(ready.committed.len(), 6);
    s.compact(&mut env, 4, b"state@4".to_vec());
    env.sync(&mut s);
    assert_eq!(s.log().base_index(), 4);
    let digest6 = s.log().digest_at(6);
    let mut again = RaftServer::<Cmd>::new(c);
    again.start(&mut env);
    assert_eq!(again.log().base_index(), 4);
    assert_eq!(again.log().last_index(), 6);
    assert_eq!(
        again.log().digest_at(6),
        digest6,
        "the prefix digest survives compaction"
    );
    assert_eq!(
        again.take_ready().restore.map(|r| r.data),
        Some(b"state@4".to_vec())
    );
}
