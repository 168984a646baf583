//! Messages of two- and three-phase commit, named as in Bernstein, Hadzilacos & Goodman
//! (1987, ch. 7): VOTE-REQ (here `Prepare`), YES/NO (`Vote`), COMMIT/ABORT (`Decision`);
//! 3PC adds PRE-COMMIT and its acknowledgement (Skeen 1981, §3), and the termination
//! protocol's state request and state report (BHG §7.5; Skeen 1981, §4).

use dsim_core::Message;

/// A transaction: the coordinator's incarnation (`epoch`, bumped durably at every start, so
/// ids are never reused across crashes) and its number within that incarnation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TxId {
    pub epoch: u32,
    pub seq: u32,
}

impl std::fmt::Display for TxId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "t{}.{}", self.epoch, self.seq)
    }
}

impl TxId {
    pub fn to_u64(self) -> u64 {
        ((self.epoch as u64) << 32) | self.seq as u64
    }
    pub fn from_u64(v: u64) -> Self {
        TxId {
            epoch: (v >> 32) as u32,
            seq: v as u32,
        }
    }
}

/// How a transaction ended at one node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    Commit,
    Abort,
}

impl Outcome {
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Commit => "committed",
            Outcome::Abort => "aborted",
        }
    }
}

/// A participant's state for one transaction as the 3PC termination protocol reports it
/// (Skeen 1981's states q, w, p, a, c; BHG §7.5). A participant that has no record of the
/// transaction never voted yes, may abort it on its own, and reports `Aborted`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TermState {
    /// w: voted yes, uncertain.
    Uncertain,
    /// p: pre-committed (3PC only).
    PreCommitted,
    Committed,
    Aborted,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Msg {
    /// Coordinator → participant: can you commit `tx`? It would write `key` (and lock it).
    Prepare { tx: TxId, key: u32 },
    /// Participant → coordinator: the vote, sent (for a yes) only once the vote is durable.
    Vote { tx: TxId, yes: bool },
    /// 3PC coordinator → participant: everybody voted yes; get ready to commit.
    PreCommit { tx: TxId },
    /// 3PC participant → coordinator: pre-commit recorded.
    PreCommitAck { tx: TxId },
    /// The outcome: from the coordinator, from a peer that knows it (cooperative
    /// termination), or from a 3PC termination leader.
    Decision { tx: TxId, outcome: Outcome },
    /// Participant → coordinator: the decision is applied and durable; stop resending.
    DecisionAck { tx: TxId },
    /// A participant in doubt asks what became of `tx` (2PC termination).
    DecisionReq { tx: TxId },
    /// 3PC termination: a participant that timed out asks its peers for their state.
    StateReq { tx: TxId },
    /// The answer to a `StateReq` (and, from a restarted 3PC coordinator with no record
    /// of `tx`, the answer to a `DecisionReq`: `Uncertain`, "I never decided"). `recovering`:
    /// the sender restarted with `tx` undecided, or is the coordinator, so it is not an
    /// operational participant and may not be elected (Skeen 1981 §4–5).
    StateReport {
        tx: TxId,
        state: TermState,
        recovering: bool,
    },
}

impl Message for Msg {
    fn size_bytes(&self) -> usize {
        // A header plus a transaction id and a small field.
        match self {
            Msg::Prepare { .. } => 48,
            _ => 40,
        }
    }
}
