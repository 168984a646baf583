//! A client of the quorum register: a node like any other, behind the same faulty
//! network. It runs one operation at a time, with a think time between them, and writes
//! what it asked and what it was told into the history.
//!
//! The protocol is multi-writer ABD (Attiya, Bar-Noy & Dolev, JACM 1995; Lynch &
//! Shvartsman, FTCS 1997) with Dynamo-style N/W/R quorums (DeCandia et al., SOSP 2007,
//! §4.5), each operation two round trips:
//!
//! - write(v): *query* — ask every replica for its tag, wait for R replies, take the
//!   highest counter; *store* — send (counter+1, my id, v) to every replica, wait for W
//!   acknowledgements;
//! - read: *query* — wait for R replies and take the value with the highest tag; then,
//!   when `write_back` is on, *store* that value back to W replicas before returning it.
//!
//! Without the write-back, W + R > N is not enough for linearizability: a read can see a
//! write that has reached one replica, and a later read that misses that replica returns
//! the older value (a new/old inversion). That is the lesson of `nwr-no-writeback`.
//!
//! A replica is asked in every round; the first R (or W) answers count, as in Dynamo.
//! An operation that gets too few answers before `op_timeout` ends as `info`: the client
//! cannot know whether it took effect.

use dsim_core::units::Probability;
use dsim_core::Rng;
use dsim_core::{Ctx, NodeId, OpId, Outcome};

use crate::msg::{Msg, Round, Tag, Versioned};
use crate::{QCall, QNode, QRet, Timer};

/// Settings a client needs, copied from the model's configuration.
#[derive(Clone, Debug)]
pub struct ClientSettings {
    pub replicas: Vec<NodeId>,
    pub w: usize,
    pub r: usize,
    pub write_back: bool,
    pub unique_write_tags: bool,
    pub keys: u32,
    pub read_ppb: u32,
    pub op_timeout_ns: u64,
    pub think_min_ns: u64,
    pub think_max_ns: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Read,
    Write(i64),
}

#[derive(Debug)]
struct InFlight {
    id: OpId,
    key: u32,
    kind: Kind,
    round: Round,
    /// Answers of the current round, one per replica.
    answered: Vec<NodeId>,
    /// Highest value seen in the query round.
    best: Versioned,
    disagree: bool,
    /// The tag being stored, in the store round.
    storing: Tag,
}

#[derive(Debug)]
pub struct Client {
    s: ClientSettings,
    op_seq: u64,
    current: Option<InFlight>,
    /// The highest counter this client has written with (see `msg.rs` on tag reuse).
    last_counter: u64,
    /// Drawn at start: keeps this incarnation's tags apart from a previous one's.
    session: u32,
}

impl Client {
    pub fn new(s: ClientSettings) -> Self {
        Client {
            s,
            op_seq: 0,
            current: None,
            last_counter: 0,
            session: 0,
        }
    }

    pub fn on_start(&mut self, ctx: &mut Ctx<'_, QNode>) {
        // A restarted client must not mistake replies meant for its previous life.
        self.op_seq = ctx.rng().gen_range(0..u32::MAX as u64) << 24;
        self.session = ctx.rng().gen();
        self.think(ctx);
    }

    fn think(&mut self, ctx: &mut Ctx<'_, QNode>) {
        let (a, b) = (
            self.s.think_min_ns,
            self.s.think_max_ns.max(self.s.think_min_ns),
        );
        let wait = ctx.rng().gen_range(a..=b);
        ctx.set_timer(Timer::Think, wait);
    }

    pub fn on_timer(&mut self, ctx: &mut Ctx<'_, QNode>, timer: Timer) {
        match timer {
            Timer::Think => self.begin(ctx),
            Timer::OpTimeout(seq) => {
                let Some(op) = self.current.take_if(|op| op.round.op_seq == seq) else {
                    return;
                };
                let mark = match op.kind {
                    Kind::Read => "read-timed-out",
                    Kind::Write(_) => "write-timed-out",
                };
                ctx.reached(mark);
                ctx.complete(op.id, Outcome::Info, None);
                self.think(ctx);
            }
        }
    }

    fn begin(&mut self, ctx: &mut Ctx<'_, QNode>) {
        if self.current.is_some() {
            return;
        }
        self.op_seq += 1;
        let key = ctx.rng().gen_range(0..self.s.keys);
        let read = dsim_core::rng::chance(ctx.rng(), Probability(self.s.read_ppb));
        // Values are unique across the run: the write's history id, plus one.
        let (kind, call) = if read {
            (Kind::Read, QCall::Read { key })
        } else {
            let value = ctx.next_op_id().0 as i64 + 1;
            (Kind::Write(value), QCall::Write { key, value })
        };
        let id = ctx.invoke(call);
        let round = Round {
            op_seq: self.op_seq,
            phase: 0,
        };
        self.current = Some(InFlight {
            id,
            key,
            kind,
            round,
            answered: Vec::new(),
            best: Versioned::default(),
            disagree: false,
            storing: Tag::default(),
        });
        for &r in &self.s.replicas {
            ctx.send(r, Msg::Get { key, round });
        }
        ctx.set_timer(Timer::OpTimeout(self.op_seq), self.s.op_timeout_ns);
    }

    pub fn on_message(&mut self, ctx: &mut Ctx<'_, QNode>, from: NodeId, msg: Msg) {
        let Some(op) = self.current.as_mut() else {
            return;
        };
        match msg {
            Msg::GetReply { key, round, held } if round == op.round && key == op.key => {
                if op.answered.contains(&from) {
                    return; // a duplicated message
                }
                if !op.answered.is_empty() && held.tag != op.best.tag {
                    op.disagree = true;
                }
                op.answered.push(from);
                if op.answered.len() == 1 || held.tag > op.best.tag {
                    op.best = held;
                }
                if op.answered.len() < self.s.r {
                    return;
                }
                if op.disagree {
                    ctx.reached("replicas-disagree");
                }
                self.after_query(ctx);
            }
            Msg::PutAck { key, round } if round == op.round && key == op.key => {
                if op.answered.contains(&from) {
                    return;
                }
                op.answered.push(from);
                if op.answered.len() < self.s.w {
                    return;
                }
                let op = self.current.take().expect("checked above");
                ctx.cancel_timer(Timer::OpTimeout(op.round.op_seq));
                let ret = match op.kind {
                    Kind::Read => QRet::Read {
                        value: op.best.value,
                        tag: op.best.tag,
                    },
                    Kind::Write(_) => {
                        ctx.reached("write-ok");
                        QRet::Written { tag: op.storing }
                    }
                };
                ctx.complete(op.id, Outcome::Ok, Some(ret));
                self.think(ctx);
            }
            _ => {} // a reply to an earlier round or operation
        }
    }

    /// The query round has its R answers: store (write), write back, or return (read).
    fn after_query(&mut self, ctx: &mut Ctx<'_, QNode>) {
        let me = ctx.id();
        let op = self.current.as_mut().expect("in flight");
        let versioned = match op.kind {
            Kind::Write(value) => {
                let counter = if self.s.unique_write_tags {
                    op.best.tag.counter.max(self.last_counter) + 1
                } else {
                    op.best.tag.counter + 1 // the bug: may repeat an abandoned write's tag
                };
                self.last_counter = counter;
                let tag = Tag {
                    counter,
                    writer: me.0,
                    session: self.session,
                };
                Versioned {
                    tag,
                    value: Some(value),
                }
            }
            Kind::Read if self.s.write_back => op.best,
            Kind::Read => {
                let op = self.current.take().expect("in flight");
                ctx.cancel_timer(Timer::OpTimeout(op.round.op_seq));
                ctx.complete(
                    op.id,
                    Outcome::Ok,
                    Some(QRet::Read {
                        value: op.best.value,
                        tag: op.best.tag,
                    }),
                );
                self.think(ctx);
                return;
            }
        };
        op.round.phase = 1;
        op.answered.clear();
        op.storing = versioned.tag;
        let history_op = match op.kind {
            Kind::Write(_) => Some(op.id),
            Kind::Read => None,
        };
        let (key, round) = (op.key, op.round);
        for &r in &self.s.replicas {
            ctx.send(
                r,
                Msg::Put {
                    key,
                    round,
                    versioned,
                    op: history_op,
                },
            );
        }
    }
}
