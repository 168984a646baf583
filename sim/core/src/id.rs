//! Node identities. A node is a dense index into the world's node table; its human name
//! ("replica-2", "client-1") and role ("replica") come from the model.

use serde::Serialize;
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct NodeId(pub u32);

impl NodeId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0)
    }
}

/// What the model says about one node of its cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeSpec {
    pub name: String,
    pub role: &'static str,
    /// The rack the model puts the node in (Kafka's `broker.rack`); `None`: the engine
    /// places it round-robin (see `Topology`).
    pub rack: Option<u32>,
}

impl NodeSpec {
    pub fn new(name: impl Into<String>, role: &'static str) -> Self {
        NodeSpec {
            name: name.into(),
            role,
            rack: None,
        }
    }

    /// The node is in rack `rack`, which the scenario's `[topology]` must have.
    pub fn in_rack(mut self, rack: u32) -> Self {
        self.rack = Some(rack);
        self
    }
}
