//! The `admin` node of the `raft` model: an operator who keeps changing the cluster's
//! membership, one server at a time (thesis §4.1). Every `reconfigure_interval` it asks
//! every server to make one change; whichever leads acts (adds a spare, or removes a
//! voter other than itself), the others decline. Asking everyone keeps the admin from
//! waiting on a crashed leader: a change reaches a new leader within one interval.

use dsim_core::{Ctx, NodeId};

use crate::{Msg, RaftNode, Timer};

#[derive(Debug)]
pub struct Admin {
    servers: Vec<NodeId>,
    interval_ns: u64,
    /// No change from this (virtual) time on; 0: never stops.
    stop_ns: u64,
    req: u64,
}

impl Admin {
    pub fn new(servers: Vec<NodeId>, interval_ns: u64, stop_ns: u64) -> Self {
        Admin {
            servers,
            interval_ns,
            stop_ns,
            req: 0,
        }
    }

    pub fn on_start(&mut self, ctx: &mut Ctx<'_, RaftNode>) {
        ctx.set_timer(Timer::Reconfigure, self.interval_ns);
    }

    pub fn on_timer(&mut self, ctx: &mut Ctx<'_, RaftNode>, t: Timer) {
        if t == Timer::Reconfigure && (self.stop_ns == 0 || ctx.now() < self.stop_ns) {
            self.req += 1;
            for &s in &self.servers {
                ctx.send(s, Msg::Reconfigure { req: self.req });
            }
            ctx.set_timer(Timer::Reconfigure, self.interval_ns);
        }
    }

    pub fn on_message(&mut self, ctx: &mut Ctx<'_, RaftNode>, _from: NodeId, msg: Msg) {
        if let Msg::Reply { .. } = msg {
            ctx.reached("membership-changed");
        }
    }
}
