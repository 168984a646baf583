//! Checks (design brief §6): `always` invariants run after every event, `eventually`
//! expectations at the end of the heal phase, `sometimes` marks that the run must reach,
//! and history checkers over the client-visible history.
//!
//! A violation says in plain words what went wrong, when, and on which nodes; the CLI
//! adds the command that reproduces it.

use serde::Serialize;

use crate::id::NodeId;
use crate::world::View;
use crate::Node;

/// Which kind of check found a problem; it decides the exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckClass {
    /// A safety property broke (`always` or a history checker): exit 1.
    Safety,
    /// An `eventually` expectation did not come true by the end of the heal phase: exit 3.
    Liveness,
    /// A `sometimes` mark was never reached: exit 4.
    Sometimes,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// The check's name, as in the scenario's `[checks]`.
    pub invariant: String,
    pub class: CheckClass,
    /// Virtual time at which it was found.
    pub at_ns: u64,
    /// Index of the event after which it was found (None for end-of-run checks).
    pub event: Option<u64>,
    pub nodes: Vec<NodeId>,
    /// Plain words: what went wrong, with the operations or messages involved.
    pub detail: String,
    /// The history operations the words name (a history check's evidence; empty for an
    /// invariant, which fires at an event): what a report zooms into.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ops: Vec<u64>,
}

/// An invariant checked after every event that touched a node. Implementations keep
/// whatever incremental state they need, so that each call is O(change).
pub trait Invariant<N: Node> {
    /// Called after `node` handled an event (or was crashed / restarted).
    /// Returns the problem in plain words, with the nodes involved.
    fn after_event(&mut self, view: &View<'_, N>, node: NodeId) -> Option<(String, Vec<NodeId>)>;
}

/// What a history checker concluded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckResult {
    Valid,
    /// The history is impossible; the words say why, naming the ops.
    Invalid {
        detail: String,
        nodes: Vec<NodeId>,
        /// The operations that show it (ids of the history), if the check names any.
        ops: Vec<u64>,
    },
    /// The checker ran out of budget before it could decide.
    Unknown {
        detail: String,
    },
}

/// A check a model offers, for `dsim explain` and for did-you-mean on typos.
#[derive(Clone, Copy, Debug)]
pub struct CheckInfo {
    pub name: &'static str,
    pub about: &'static str,
}

/// Every check a model offers, by kind.
#[derive(Clone, Copy, Debug, Default)]
pub struct Catalogue {
    pub always: &'static [CheckInfo],
    pub eventually: &'static [CheckInfo],
    pub sometimes: &'static [CheckInfo],
    pub history: &'static [CheckInfo],
}
