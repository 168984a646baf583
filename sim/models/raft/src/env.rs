//! The small world a [`RaftServer`](crate::server::RaftServer) needs, as a trait, so that
//! any host can embed Raft inside its own node, message and timer types (design brief §3:
//! composition by type). [`CtxEnv`] adapts a dsim [`Ctx`] for any host whose message type
//! is `From<RaftMsg<C>>` and whose timer type is `From<RaftTimer>`.
//!
//! Fsync tokens: the server asks for tokens in `[token_base, token_base + TOKEN_SPAN)`
//! (`RaftConfig::token_base`), so a host's own tokens never collide with Raft's;
//! [`owns_token`] tells a host which completions to hand to the server.

use dsim_core::{Ctx, Disk, Node, NodeId, SimRng};

use crate::msg::{RaftMsg, RaftTimer};

/// How many fsync tokens a server may use above its `token_base`.
pub const TOKEN_SPAN: u64 = 1 << 40;

/// Whether `token` falls in the range of a server whose tokens start at `base`.
pub fn owns_token(base: u64, token: u64) -> bool {
    token >= base && token - base < TOKEN_SPAN
}

/// Everything the protocol core may do to the world.
pub trait RaftEnv<C> {
    fn id(&self) -> NodeId;
    /// The node's own clock, in ns (skew and drift included: leases depend on it).
    fn now(&self) -> u64;
    fn rng(&mut self) -> &mut SimRng;
    fn send(&mut self, to: NodeId, msg: RaftMsg<C>);
    fn set_timer(&mut self, timer: RaftTimer, after_ns: u64);
    fn cancel_timer(&mut self, timer: RaftTimer);
    fn disk(&mut self) -> &mut Disk;
    fn fsync(&mut self, token: u64);
    fn note(&mut self, kind: &'static str, detail: String);
    fn metric(&mut self, name: &'static str, value: i64);
}

/// Drives a server from a dsim handler context.
pub struct CtxEnv<'c, 'a, N: Node> {
    pub ctx: &'c mut Ctx<'a, N>,
}

impl<'c, 'a, N: Node> CtxEnv<'c, 'a, N> {
    pub fn new(ctx: &'c mut Ctx<'a, N>) -> Self {
        CtxEnv { ctx }
    }
}

impl<C, N> RaftEnv<C> for CtxEnv<'_, '_, N>
where
    N: Node,
    N::Msg: From<RaftMsg<C>>,
    N::Timer: From<RaftTimer>,
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
    fn send(&mut self, to: NodeId, msg: RaftMsg<C>) {
        self.ctx.send(to, msg.into());
    }
    fn set_timer(&mut self, timer: RaftTimer, after_ns: u64) {
        self.ctx.set_timer(timer.into(), after_ns);
    }
    fn cancel_timer(&mut self, timer: RaftTimer) {
        self.ctx.cancel_timer(timer.into());
    }
    fn disk(&mut self) -> &mut Disk {
        self.ctx.disk()
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
}
