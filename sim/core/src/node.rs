//! The sans-IO node interface (design brief §3).
//!
//! A node is a plain struct with synchronous handlers, in the spirit of raft-rs and
//! quinn-proto: it never touches a socket, a clock or a file. Each handler receives a
//! [`Ctx`], the node's whole world, and pushes effects into it (send, set a timer, write
//! to disk); the engine applies them after the handler returns. Clients are nodes too,
//! behind the same faulty network.
//!
//! Call order, per node incarnation: `on_start` first (after boot and after every
//! restart, with volatile state empty and only the durable disk left), then any mix of
//! `on_message`, `on_timer` and `on_io`, one at a time, until the node crashes.

use std::fmt::Debug;
use std::hash::Hash;

use crate::disk::Disk;
use crate::history::{OpId, Outcome};
use crate::id::{NodeId, NodeSpec};
use crate::rng::SimRng;

/// A message on the virtual network.
pub trait Message: Clone + Debug + Hash {
    /// Size on the wire, checked against `[limits] max_message_bytes`.
    fn size_bytes(&self) -> usize {
        64
    }
}

/// A role-typed state machine. Messages, timers and history payloads are the model's
/// own types (an enum per model), never strings or `dyn Any`.
pub trait Node: Sized {
    type Msg: Message;
    /// Timers are keyed by value: setting one that is already set moves it.
    type Timer: Clone + Debug + Hash + Ord;
    /// What a client asks for, and what it is told, for the history.
    type Call: Clone + Debug;
    type Ret: Clone + Debug;

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>);
    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Self::Msg);
    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Self::Timer);
    /// A disk operation finished (an fsync, or its failure).
    fn on_io(&mut self, _ctx: &mut Ctx<'_, Self>, _done: IoDone) {}
    /// A small summary for plots and reports: role and a few named numbers.
    fn observe(&self) -> Observation {
        Observation::default()
    }
}

/// Completion of a disk request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IoDone {
    /// The token the node gave to `Ctx::fsync`.
    pub token: u64,
    /// False when the disk refused (full, or a fault).
    pub ok: bool,
}

/// A node's summary for plots: `(name, value)` pairs such as `("term", 3)`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observation {
    pub state: &'static str,
    pub fields: Vec<(&'static str, i64)>,
}

/// Effects a handler asks for; applied by the engine after the handler returns, or
/// returned as they are by the test harness (`harness.rs`).
#[derive(Debug)]
pub enum Effect<N: Node> {
    Send {
        to: NodeId,
        msg: N::Msg,
    },
    SetTimer {
        timer: N::Timer,
        after_ns: u64,
    },
    CancelTimer {
        timer: N::Timer,
    },
    Fsync {
        token: u64,
    },
    Note {
        kind: &'static str,
        detail: String,
    },
    Metric {
        name: &'static str,
        value: i64,
    },
    Invoke {
        call: N::Call,
        id: OpId,
    },
    Complete {
        id: OpId,
        outcome: Outcome,
        ret: Option<N::Ret>,
    },
    Applied {
        id: OpId,
    },
    Reached {
        mark: &'static str,
    },
}

/// The node's whole world during one handler call.
pub struct Ctx<'a, N: Node> {
    pub(crate) id: NodeId,
    pub(crate) local_now_ns: u64,
    pub(crate) rng: &'a mut SimRng,
    pub(crate) disk: &'a mut Disk,
    pub(crate) effects: &'a mut Vec<Effect<N>>,
    pub(crate) specs: &'a [NodeSpec],
    /// Next history id: ops are numbered in invocation order across the run.
    pub(crate) next_op: &'a mut u64,
    /// At most this many effects per handler call (`[limits] max_queue`); past it the
    /// effect is dropped and the run stops with a limit error.
    pub(crate) effects_max: usize,
    pub(crate) overflow: bool,
}

impl<'a, N: Node> Ctx<'a, N> {
    #[inline]
    fn push(&mut self, e: Effect<N>) {
        if self.effects.len() < self.effects_max {
            self.effects.push(e);
        } else {
            self.overflow = true;
        }
    }

    /// This node.
    pub fn id(&self) -> NodeId {
        self.id
    }
    /// The node's own clock, in nanoseconds: virtual time plus this node's skew and drift.
    pub fn now(&self) -> u64 {
        self.local_now_ns
    }
    /// The node's own random stream (derived from the seed and the node's id).
    pub fn rng(&mut self) -> &mut SimRng {
        self.rng
    }
    /// The node's disk. Writes land in a volatile cache until an fsync completes.
    pub fn disk(&mut self) -> &mut Disk {
        self.disk
    }
    /// Names and roles of every node, indexed by id.
    pub fn cluster(&self) -> &[NodeSpec] {
        self.specs
    }
    pub fn send(&mut self, to: NodeId, msg: N::Msg) {
        self.push(Effect::Send { to, msg });
    }
    /// Fires `timer` after `after_ns` of this node's clock; replaces a timer of equal value.
    pub fn set_timer(&mut self, timer: N::Timer, after_ns: u64) {
        self.push(Effect::SetTimer { timer, after_ns });
    }
    pub fn cancel_timer(&mut self, timer: N::Timer) {
        self.push(Effect::CancelTimer { timer });
    }
    /// Asks the disk for an fsync; `on_io` gets `token` back when it completes. On
    /// completion every write made *until then* is durable (a disk may persist more than
    /// it was asked to; never less). A crash before completion keeps only older syncs.
    pub fn fsync(&mut self, token: u64) {
        self.push(Effect::Fsync { token });
    }
    /// A structured event for the trace and the report ("became-leader", "stored v7").
    pub fn note(&mut self, kind: &'static str, detail: impl Into<String>) {
        self.push(Effect::Note {
            kind,
            detail: detail.into(),
        });
    }
    /// A sample of a time series for plots (`("version", 7)`).
    pub fn metric(&mut self, name: &'static str, value: i64) {
        self.push(Effect::Metric { name, value });
    }
    /// The id the next `invoke` will return (ids are unique across the run, so a model can
    /// derive unique write values from them).
    pub fn next_op_id(&self) -> OpId {
        OpId(*self.next_op)
    }
    /// A client starts an operation; the returned id goes with its completion.
    pub fn invoke(&mut self, call: N::Call) -> OpId {
        let id = OpId(*self.next_op);
        *self.next_op += 1;
        self.push(Effect::Invoke { call, id });
        id
    }
    /// A client learns how an operation ended.
    pub fn complete(&mut self, id: OpId, outcome: Outcome, ret: Option<N::Ret>) {
        self.push(Effect::Complete { id, outcome, ret });
    }
    /// A replica applied (stored) an operation: the simulator's knowledge for checkers.
    pub fn applied(&mut self, id: OpId) {
        self.push(Effect::Applied { id });
    }
    /// A `sometimes` mark was reached.
    pub fn reached(&mut self, mark: &'static str) {
        self.push(Effect::Reached { mark });
    }
}
