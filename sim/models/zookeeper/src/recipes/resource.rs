//! The resource a lock protects: it records which lock holder wrote, in the order the
//! writes arrive. Each write carries the holder's fencing token (the czxid of its lock
//! znode, which grows with every acquisition). A write with a token older than one
//! already accepted means two clients acted as holders at once: the lock failed to
//! exclude. With `fencing` on, such writes are refused instead (Kleppmann 2016).

use dsim_core::{Ctx, NodeId};

use crate::model::ZkNode;

#[derive(Debug, Default)]
pub struct Resource {
    pub fencing: bool,
    /// Highest token accepted, and from which client.
    pub max_token: u64,
    pub max_client: u32,
    pub writes: u64,
    pub refused: u64,
    /// The first overlap seen: (older client, its token, newer client, newer token).
    pub overlap: Option<(u32, u64, u32, u64)>,
}

impl Resource {
    pub fn new(fencing: bool) -> Self {
        Resource {
            fencing,
            ..Resource::default()
        }
    }

    pub fn on_work(&mut self, ctx: &mut Ctx<'_, ZkNode>, _from: NodeId, client: u32, token: u64) {
        if token < self.max_token {
            if self.fencing {
                self.refused += 1;
                ctx.note("fenced", format!("refused client-{client}'s write with stale token {token:#x} (newest {:#x})", self.max_token));
                ctx.reached("fenced");
                return;
            }
            if self.overlap.is_none() {
                self.overlap = Some((client, token, self.max_client, self.max_token));
                ctx.note("overlap", format!("client-{client} wrote with token {token:#x} after client-{} wrote with {:#x}", self.max_client, self.max_token));
            }
        } else {
            self.max_token = token;
            self.max_client = client;
        }
        self.writes += 1;
    }
}
