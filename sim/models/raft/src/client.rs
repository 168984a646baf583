//! A client of the replicated KV store: a node behind the same faulty network, running one
//! operation at a time with a think time between them, as a Jepsen client does. It sends
//! to the server it believes leads; a server that does not lead redirects it (with a hint
//! when it knows the leader), and the client retries there — safe, because a redirected
//! request was not appended. An operation that gets no answer within `op_timeout` ends as
//! `info`: it may or may not have taken effect.
//!
//! Writes put unique values (the op's history id + 1); a compare-and-set expects the last
//! value this client saw for the key, so that some of them succeed.

use std::collections::BTreeMap;

use dsim_core::{Ctx, NodeId, OpId, Outcome, Rng};

use crate::kv::{KvOp, KvResult};
use crate::{Msg, RaftNode, Timer};

#[derive(Clone, Debug)]
pub struct ClientSettings {
    pub servers: Vec<NodeId>,
    pub keys: u32,
    pub read_ppb: u32,
    pub cas_ppb: u32,
    pub op_timeout_ns: u64,
    pub think_min_ns: u64,
    pub think_max_ns: u64,
    /// Pause before retrying a redirected request.
    pub retry_ns: u64,
}

#[derive(Debug)]
struct InFlight {
    id: OpId,
    op: KvOp,
}

#[derive(Debug)]
pub struct Client {
    s: ClientSettings,
    guess: usize,
    current: Option<InFlight>,
    last_seen: BTreeMap<u32, i64>,
}

impl Client {
    pub fn new(s: ClientSettings) -> Self {
        Client {
            s,
            guess: 0,
            current: None,
            last_seen: BTreeMap::new(),
        }
    }

    pub fn on_start(&mut self, ctx: &mut Ctx<'_, RaftNode>) {
        self.guess = ctx.rng().gen_range(0..self.s.servers.len());
        self.think(ctx);
    }

    fn think(&mut self, ctx: &mut Ctx<'_, RaftNode>) {
        let (a, b) = (
            self.s.think_min_ns,
            self.s.think_max_ns.max(self.s.think_min_ns),
        );
        let wait = ctx.rng().gen_range(a..=b);
        ctx.set_timer(Timer::Think, wait);
    }

    fn send(&mut self, ctx: &mut Ctx<'_, RaftNode>) {
        if let Some(op) = &self.current {
            let to = self.s.servers[self.guess];
            ctx.send(
                to,
                Msg::Request {
                    req: op.id.0,
                    op: op.op,
                },
            );
        }
    }

    fn begin(&mut self, ctx: &mut Ctx<'_, RaftNode>) {
        if self.current.is_some() {
            return;
        }
        let key = ctx.rng().gen_range(0..self.s.keys);
        let draw = ctx.rng().gen_range(0..1_000_000_000u32);
        let value = ctx.next_op_id().0 as i64 + 1;
        let op = if draw < self.s.read_ppb {
            KvOp::Get { key }
        } else if draw < self.s.read_ppb.saturating_add(self.s.cas_ppb) {
            match self.last_seen.get(&key) {
                Some(&from) => KvOp::Cas {
                    key,
                    from,
                    to: value,
                },
                None => KvOp::Put { key, value },
            }
        } else {
            KvOp::Put { key, value }
        };
        let id = ctx.invoke(op);
        self.current = Some(InFlight { id, op });
        self.send(ctx);
        ctx.set_timer(Timer::OpTimeout(id.0), self.s.op_timeout_ns);
    }

    pub fn on_timer(&mut self, ctx: &mut Ctx<'_, RaftNode>, timer: Timer) {
        match timer {
            Timer::Think => self.begin(ctx),
            Timer::Retry(req) => {
                if self.current.as_ref().is_some_and(|op| op.id.0 == req) {
                    self.send(ctx);
                }
            }
            Timer::OpTimeout(req) => {
                let Some(op) = self.current.take_if(|op| op.id.0 == req) else {
                    return;
                };
                ctx.complete(op.id, Outcome::Info, None);
                // Maybe the server we asked is down or cut off: try the next one.
                self.guess = (self.guess + 1) % self.s.servers.len();
                self.think(ctx);
            }
            Timer::Raft(_) | Timer::Reconfigure | Timer::ScriptedChange(_) => {}
        }
    }

    pub fn on_message(&mut self, ctx: &mut Ctx<'_, RaftNode>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Reply { req, result } => {
                let Some(op) = self.current.take_if(|op| op.id.0 == req) else {
                    return;
                };
                ctx.cancel_timer(Timer::OpTimeout(req));
                match (op.op, result) {
                    (KvOp::Put { key, value }, _) => {
                        self.last_seen.insert(key, value);
                    }
                    (KvOp::Get { key }, KvResult::Read(Some(v))) => {
                        self.last_seen.insert(key, v);
                    }
                    (KvOp::Cas { key, to, .. }, KvResult::Cas(true)) => {
                        self.last_seen.insert(key, to);
                    }
                    _ => {}
                }
                if let Some(i) = self.s.servers.iter().position(|s| *s == from) {
                    self.guess = i;
                }
                ctx.complete(op.id, Outcome::Ok, Some(result));
                self.think(ctx);
            }
            Msg::Redirect { req, hint } => {
                if self.current.as_ref().is_none_or(|op| op.id.0 != req) {
                    return;
                }
                let asked = self.s.servers[self.guess];
                self.guess = match hint.and_then(|h| self.s.servers.iter().position(|s| *s == h)) {
                    Some(i) if self.s.servers[i] != asked => i,
                    _ => (self.guess + 1) % self.s.servers.len(),
                };
                ctx.set_timer(Timer::Retry(req), self.s.retry_ns);
            }
            _ => {}
        }
    }
}
