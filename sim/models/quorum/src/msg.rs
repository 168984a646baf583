//! Messages and tags of the quorum register.
//!
//! A tag orders writes: (counter, writer). Multi-writer ABD (Lynch & Shvartsman 1997,
//! extending Attiya, Bar-Noy & Dolev 1995) breaks counter ties by the writer's id, so two
//! writers that read the same highest counter still produce distinct, totally ordered tags.
//!
//! The algorithm assumes a writer's writes run to completion one after another. A client
//! that gives up on a write (a timeout) breaks that assumption: the abandoned write may sit
//! on one replica, and the next write's query quorum can miss it and pick the same counter
//! — two values under one tag, and the register is no longer atomic (dsim found this at
//! seed 934 of nwr-strict). So a client never reuses a counter (it remembers its last),
//! and `session`, drawn when the client starts, keeps tags unique across its restarts.

use dsim_core::{Message, OpId};

/// A write's place in the total order of writes: compared by counter, then writer.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tag {
    pub counter: u64,
    pub writer: u32,
    pub session: u32,
}

/// Traces and reports show a tag as `counter.writer`; the session only breaks ties.
impl std::fmt::Debug for Tag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.counter, self.writer)
    }
}

impl std::fmt::Display for Tag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.counter, self.writer)
    }
}

/// A stored value with its tag. `value` is None only for the initial, never-written state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Versioned {
    pub tag: Tag,
    pub value: Option<i64>,
}

/// Which round trip of an operation a message belongs to; replies to an old round are
/// ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Round {
    /// The client's operation number.
    pub op_seq: u64,
    /// 0 = query (read the highest tag), 1 = store (write / write back).
    pub phase: u8,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Msg {
    /// Client → replica: what do you hold for `key`?
    Get { key: u32, round: Round },
    /// Replica → client.
    GetReply {
        key: u32,
        round: Round,
        held: Versioned,
    },
    /// Client → replica: store this if it is newer than what you hold. `op` is the
    /// history id of a client write (None for a read's write-back), for the checker.
    Put {
        key: u32,
        round: Round,
        versioned: Versioned,
        op: Option<OpId>,
    },
    /// Replica → client: I hold `key` at a tag at least this new, durably.
    PutAck { key: u32, round: Round },
}

impl Message for Msg {
    fn size_bytes(&self) -> usize {
        match self {
            Msg::Get { .. } | Msg::PutAck { .. } => 32,
            Msg::GetReply { .. } | Msg::Put { .. } => 56,
        }
    }
}
