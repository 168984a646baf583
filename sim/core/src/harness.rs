//! Drive one node by hand, without a world: deliver a message, fire a timer, complete an
//! fsync, and look at what the node asked for. This is how a model's protocol rules are
//! unit-tested step by step (as raft-rs tests `step`), while whole runs test how the
//! rules play out under faults.

use crate::disk::Disk;
use crate::id::{NodeId, NodeSpec};
use crate::node::{Ctx, Effect, IoDone, Node};
use crate::rng::{derive, SimRng};

/// One node, its disk, clock and random stream.
pub struct Harness<N: Node> {
    pub node: N,
    pub id: NodeId,
    pub now_ns: u64,
    pub disk: Disk,
    rng: SimRng,
    specs: Vec<NodeSpec>,
    next_op: u64,
    effects: Vec<Effect<N>>,
}

impl<N: Node> Harness<N> {
    /// `specs` names the whole cluster (the node's `ctx.cluster()`); `seed` its stream.
    pub fn new(node: N, id: NodeId, specs: Vec<NodeSpec>, seed: u64) -> Self {
        Harness {
            node,
            id,
            now_ns: 0,
            disk: Disk::new(1 << 30),
            rng: derive(seed, &format!("node/{}", id.0)),
            specs,
            next_op: 0,
            effects: Vec::new(),
        }
    }

    fn call(&mut self, f: impl FnOnce(&mut N, &mut Ctx<'_, N>)) -> Vec<Effect<N>> {
        {
            let mut ctx = Ctx {
                id: self.id,
                local_now_ns: self.now_ns,
                rng: &mut self.rng,
                disk: &mut self.disk,
                effects: &mut self.effects,
                specs: &self.specs,
                next_op: &mut self.next_op,
                effects_max: usize::MAX,
                overflow: false,
            };
            f(&mut self.node, &mut ctx);
        }
        std::mem::take(&mut self.effects)
    }

    pub fn start(&mut self) -> Vec<Effect<N>> {
        self.call(|n, ctx| n.on_start(ctx))
    }
    pub fn deliver(&mut self, from: NodeId, msg: N::Msg) -> Vec<Effect<N>> {
        self.call(|n, ctx| n.on_message(ctx, from, msg))
    }
    pub fn fire(&mut self, timer: N::Timer) -> Vec<Effect<N>> {
        self.call(|n, ctx| n.on_timer(ctx, timer))
    }
    /// Completes an fsync: the disk's writes become durable (when `ok`), then `on_io`.
    pub fn io(&mut self, token: u64, ok: bool) -> Vec<Effect<N>> {
        if ok {
            self.disk.sync_all();
        }
        self.call(|n, ctx| n.on_io(ctx, IoDone { token, ok }))
    }
}
