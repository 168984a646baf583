//! The world as a protocol embedded in a host node sees it (design brief §3: composition by
//! type). Raft runs inside Kafka's KRaft controllers, a ZooKeeper session inside a Kafka
//! broker, each with the host's own message and timer types. Such a protocol core is
//! written against [`Env<M, T>`] — its own message type `M` and timer type `T` — and
//! [`Embed`] lends it a host's [`Ctx`], converting with `From`. Tests give a core a
//! recording `Env` of their own.

use crate::disk::Disk;
use crate::history::OpId;
use crate::id::NodeId;
use crate::node::{Ctx, Node};
use crate::rng::SimRng;

/// Everything an embedded protocol core may do to the world.
pub trait Env<M, T> {
    fn id(&self) -> NodeId;
    /// The node's own clock, in ns (skew and drift included).
    fn now(&self) -> u64;
    fn rng(&mut self) -> &mut SimRng;
    fn disk(&mut self) -> &mut Disk;
    fn send(&mut self, to: NodeId, msg: M);
    fn set_timer(&mut self, timer: T, after_ns: u64);
    fn cancel_timer(&mut self, timer: T);
    fn fsync(&mut self, token: u64);
    fn note(&mut self, kind: &'static str, detail: String);
    fn metric(&mut self, name: &'static str, value: i64);
    fn reached(&mut self, mark: &'static str);
    /// The effect of history operation `op` became visible (see `Ctx::applied`).
    fn applied(&mut self, op: OpId);
}

/// A host node's [`Ctx`] lent to an embedded core whose messages and timers convert into
/// the host's.
pub struct Embed<'c, 'a, N: Node> {
    pub ctx: &'c mut Ctx<'a, N>,
}

impl<'c, 'a, N: Node> Embed<'c, 'a, N> {
    pub fn new(ctx: &'c mut Ctx<'a, N>) -> Self {
        Embed { ctx }
    }
}

impl<N, M, T> Env<M, T> for Embed<'_, '_, N>
where
    N: Node,
    N::Msg: From<M>,
    N::Timer: From<T>,
{
    fn id(&self) -> NodeId {
        self.ctx.id()
    }
    fn now(&self) -> u64 {
        self.ctx.now()
    }
    fn rng(&mut self) -> &mut SimRng {
        self.ctx.rng()
    }
    fn disk(&mut self) -> &mut Disk {
        self.ctx.disk()
    }
    fn send(&mut self, to: NodeId, msg: M) {
        self.ctx.send(to, msg.into());
    }
    fn set_timer(&mut self, timer: T, after_ns: u64) {
        self.ctx.set_timer(timer.into(), after_ns);
    }
    fn cancel_timer(&mut self, timer: T) {
        self.ctx.cancel_timer(timer.into());
    }
    fn fsync(&mut self, token: u64) {
        self.ctx.fsync(token);
    }
    fn note(&mut self, kind: &'static str, detail: String) {
        self.ctx.note(kind, detail);
    }
    fn metric(&mut self, name: &'static str, value: i64) {
        self.ctx.metric(name, value);
    }
    fn reached(&mut self, mark: &'static str) {
        self.ctx.reached(mark);
    }
    fn applied(&mut self, op: OpId) {
        self.ctx.applied(op);
    }
}
