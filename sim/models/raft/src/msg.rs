//! Raft's RPCs (Figure 2 of the paper, plus Pre-Vote from thesis §9.6), as plain messages:
//! a "reply" is a message back, and nothing waits for it.
//!
//! `round` is the leader's heartbeat round number: a follower echoes it, so the leader
//! knows which of its broadcasts a majority has answered. ReadIndex (thesis §6.4), leases
//! (§6.4.1) and CheckQuorum (§6.2) are built on it.

use dsim_core::Message;

use crate::log::{Command, Entry, Index, Term};

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RaftMsg<C> {
    /// RequestVote (§5.2), or a Pre-Vote when `pre_vote` (thesis §9.6): then `term` is the
    /// term the candidate *would* use, and nobody changes state for it.
    RequestVote {
        term: Term,
        last_log_index: Index,
        last_log_term: Term,
        pre_vote: bool,
    },
    RequestVoteReply {
        term: Term,
        granted: bool,
        pre_vote: bool,
    },
    /// AppendEntries (§5.3); with no entries it is a heartbeat.
    AppendEntries {
        term: Term,
        prev_log_index: Index,
        prev_log_term: Term,
        entries: Vec<Entry<C>>,
        leader_commit: Index,
        round: u64,
    },
    /// `match_index` on success; on failure the fast-backtracking hint (§5.3, last
    /// paragraphs; thesis §3.5): the follower's conflicting term, if any, and the first
    /// index it holds of that term (or its last index + 1).
    AppendEntriesReply {
        term: Term,
        success: bool,
        match_index: Index,
        conflict_term: Option<Term>,
        conflict_index: Index,
        round: u64,
    },
    /// InstallSnapshot (§7), sent whole (no chunking): the state machine's bytes up to
    /// `last_included_index`, and the configuration-free snapshot metadata.
    InstallSnapshot {
        term: Term,
        last_included_index: Index,
        last_included_term: Term,
        digest: u64,
        data: Vec<u8>,
        round: u64,
    },
}

impl<C: Command> Message for RaftMsg<C> {
    fn size_bytes(&self) -> usize {
        match self {
            RaftMsg::AppendEntries { entries, .. } => 64 + 48 * entries.len(),
            RaftMsg::InstallSnapshot { data, .. } => 64 + data.len(),
            _ => 48,
        }
    }
}

/// Raft's two timers. A host wraps them in its own timer enum (`From<RaftTimer>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RaftTimer {
    /// Followers and candidates: start an election (§5.2). Leaders: the CheckQuorum tick
    /// (thesis §6.2).
    Election,
    /// Leaders: send heartbeats / retransmit AppendEntries (§5.2).
    Heartbeat,
}
