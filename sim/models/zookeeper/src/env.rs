//! The environment a ZooKeeper server or client session runs in, and the adapter that
//! gives it one from any host node's `Ctx`.
//!
//! Other models (Kafka in ZooKeeper mode, HDFS/YARN HA) embed `ZkServer`s and
//! `ZkSession`s inside their own node enums, with their own message and timer types
//! (composition by type, design brief §3). All they need is `Msg: From<ZkMsg>` and
//! `Timer: From<ZkTimer>`; [`HostEnv`] wraps their `Ctx` in a few lines. The fsync tokens
//! the ZooKeeper code uses all have [`ZK_TOKEN_BIT`] set, so a host routes `on_io` with
//! [`is_zk_token`] and keeps its own tokens below that bit.

use dsim_core::{Ctx, Disk, Node, NodeId, OpId, SimRng};

use crate::msg::ZkMsg;
use crate::timer::ZkTimer;

/// Every fsync token issued by this crate has this bit set.
pub const ZK_TOKEN_BIT: u64 = 1 << 63;

/// Is this fsync completion one of ours?
pub fn is_zk_token(token: u64) -> bool {
    token & ZK_TOKEN_BIT != 0
}

/// What a server or session may do: the few effects of `Ctx` it needs.
pub trait ZkEnv {
    fn id(&self) -> NodeId;
    fn now(&self) -> u64;
    fn rng(&mut self) -> &mut SimRng;
    fn disk(&mut self) -> &mut Disk;
    fn send(&mut self, to: NodeId, msg: ZkMsg);
    fn set_timer(&mut self, timer: ZkTimer, after_ns: u64);
    fn cancel_timer(&mut self, timer: ZkTimer);
    /// `token` must have [`ZK_TOKEN_BIT`] set.
    fn fsync(&mut self, token: u64);
    fn note(&mut self, kind: &'static str, detail: String);
    fn metric(&mut self, name: &'static str, value: i64);
    fn reached(&mut self, mark: &'static str);
    /// A transaction carrying this client tag was applied (tag = history op id + 1).
    fn applied(&mut self, tag: u64);
}

/// A host node's `Ctx` as a [`ZkEnv`].
pub struct HostEnv<'c, 'a, N: Node> {
    pub ctx: &'c mut Ctx<'a, N>,
}

impl<'c, 'a, N: Node> HostEnv<'c, 'a, N> {
    pub fn new(ctx: &'c mut Ctx<'a, N>) -> Self {
        HostEnv { ctx }
    }
}

impl<N> ZkEnv for HostEnv<'_, '_, N>
where
    N: Node,
    N::Msg: From<ZkMsg>,
    N::Timer: From<ZkTimer>,
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
    fn send(&mut self, to: NodeId, msg: ZkMsg) {
        self.ctx.send(to, msg.into());
    }
    fn set_timer(&mut self, timer: ZkTimer, after_ns: u64) {
        self.ctx.set_timer(timer.into(), after_ns);
    }
    fn cancel_timer(&mut self, timer: ZkTimer) {
        self.ctx.cancel_timer(timer.into());
    }
    fn fsync(&mut self, token: u64) {
        debug_assert!(is_zk_token(token));
        self.ctx.fsync(token | ZK_TOKEN_BIT);
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
    fn applied(&mut self, tag: u64) {
        if tag != 0 {
            self.ctx.applied(OpId(tag - 1));
        }
    }
}
