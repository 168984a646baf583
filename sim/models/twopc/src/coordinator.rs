//! The coordinator (transaction manager) of 2PC and 3PC. It also generates the stream of
//! transactions and records each one's outcome in the history.
//!
//! 2PC (Gray 1978 §5.8.3.3; BHG 1987 §7.3): send PREPARE (VOTE-REQ) to every participant;
//! all yes → decide commit, any no or a missing vote by `vote_timeout` → decide abort. The
//! decision record is forced to the log *before* the decision is sent (the commit point);
//! `log_decision_before_send = false` is the bug that sends first. Decisions are resent to
//! participants that have not acknowledged them. A restarted coordinator reads its log: a
//! participant asking about a transaction with a commit record is told commit, about one
//! with no record is told abort (presumed abort: no participant can have been told commit,
//! because commit is logged before it is sent).
//!
//! 3PC (Skeen 1981 §3; BHG §7.5): after all yes votes the coordinator sends PRE-COMMIT,
//! waits for acknowledgements (at most `precommit_ack_timeout`; a silent participant will
//! terminate on its own), then logs and sends COMMIT.
//!
//! Transaction ids carry the coordinator's epoch, bumped durably at every start, so a
//! restarted coordinator never reuses an id.
//!
//! A decision record the disk refuses (a full disk) is written again every
//! [`LOG_RETRY_NS`]: the decision may not be sent before it is on stable storage (BHG
//! §7.3), and presuming abort instead is not open to 3PC, so the transaction waits, its
//! participants in doubt, until the disk takes the record.

use std::collections::{BTreeMap, BTreeSet};

use dsim_core::{Ctx, IoDone, NodeId, Observation, OpId, Rng};

use crate::log::{self, Record};
use crate::msg::{Msg, Outcome, TxId};
use crate::{Protocol, Settings, Timer, TpNode, TxCall, TxRet};

pub const LOG_FILE: &str = "decisions";
/// How long a coordinator waits before writing a refused decision record again.
pub const LOG_RETRY_NS: u64 = 100_000_000;
pub const EPOCH_FILE: &str = "epoch";
/// The fsync token of the epoch bump at start.
const EPOCH_TOKEN: u64 = 0;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    /// Collecting votes: the participants that voted yes so far.
    Voting(BTreeSet<NodeId>),
    /// 3PC: pre-commit sent; the participants that acknowledged it.
    PreCommitting(BTreeSet<NodeId>),
    /// Decided; waiting for the decision record to be durable before sending it.
    Logging(Outcome),
}

#[derive(Debug)]
struct Active {
    op: OpId,
    phase: Phase,
}

#[derive(Debug)]
pub struct Coordinator {
    s: Settings,
    /// This incarnation's epoch; 0 until read from disk.
    epoch: u32,
    /// The epoch bump is durable: transactions may start.
    ready: bool,
    next_seq: u32,
    active: BTreeMap<TxId, Active>,
    /// Decisions known to this incarnation: read from the log at start, or taken now (and
    /// logged, unless the bug switch sends first).
    pub decided: BTreeMap<TxId, Outcome>,
    /// Decisions sent but not yet acknowledged, by transaction: who still owes an ack.
    unacked: BTreeMap<TxId, (Outcome, BTreeSet<NodeId>)>,
    /// Decisions waiting for the fsync with this token before they are sent.
    waiting: BTreeMap<u64, Vec<TxId>>,
    next_token: u64,
    pub committed: u64,
    pub aborted: u64,
}

impl Coordinator {
    pub fn new(s: Settings) -> Self {
        Coordinator {
            s,
            epoch: 0,
            ready: false,
            next_seq: 0,
            active: BTreeMap::new(),
            decided: BTreeMap::new(),
            unacked: BTreeMap::new(),
            waiting: BTreeMap::new(),
            next_token: EPOCH_TOKEN + 1,
            committed: 0,
            aborted: 0,
        }
    }

    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    pub fn on_start(&mut self, ctx: &mut Ctx<'_, TpNode>) {
        let (records, torn) = log::recover(ctx.disk(), LOG_FILE);
        if torn > 0 {
            ctx.note(
                "log-tail-cut",
                format!("dropped {torn} torn byte(s) at the end of the decision log"),
            );
        }
        for r in &records {
            match *r {
                Record::Commit { tx } => self.decided.insert(tx, Outcome::Commit),
                Record::Abort { tx } => self.decided.insert(tx, Outcome::Abort),
                _ => None,
            };
        }
        let old = ctx
            .disk()
            .read(EPOCH_FILE)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
            .unwrap_or(0);
        self.epoch = old + 1;
        if old > 0 {
            ctx.note(
                "recovered",
                format!(
                    "epoch {} from a log of {} decision(s); undecided transactions of earlier epochs are presumed aborted",
                    self.epoch,
                    records.len()
                ),
            );
        }
        if ctx
            .disk()
            .put_atomic(EPOCH_FILE, &self.epoch.to_le_bytes())
            .is_err()
        {
            ctx.note("disk-full", "cannot record the new epoch; no transactions");
            return;
        }
        ctx.fsync(EPOCH_TOKEN);
    }

    pub fn on_io(&mut self, ctx: &mut Ctx<'_, TpNode>, done: IoDone) {
        if done.token == EPOCH_TOKEN {
            if done.ok {
                self.ready = true;
                self.schedule_next(ctx);
            } else {
                ctx.note("fsync-failed", "epoch not durable; retrying");
                ctx.fsync(EPOCH_TOKEN);
            }
            return;
        }
        let Some(txs) = self.waiting.remove(&done.token) else {
            return;
        };
        if !done.ok {
            // The decisions are not durable yet: ask again, still holding them back.
            let t = self.token();
            ctx.note(
                "fsync-failed",
                format!("{} decision(s) not durable; retrying", txs.len()),
            );
            ctx.fsync(t);
            self.waiting.insert(t, txs);
            return;
        }
        for tx in txs {
            if let Some(Active {
                phase: Phase::Logging(outcome),
                ..
            }) = self.active.get(&tx)
            {
                let outcome = *outcome;
                self.publish(ctx, tx, outcome);
            }
        }
    }

    fn token(&mut self) -> u64 {
        let t = self.next_token;
        self.next_token += 1;
        t
    }

    fn schedule_next(&mut self, ctx: &mut Ctx<'_, TpNode>) {
        let (lo, hi) = (self.s.tx_interval_min_ns, self.s.tx_interval_max_ns);
        let after = ctx.rng().gen_range(lo..=hi);
        ctx.set_timer(Timer::NextTx, after);
    }

    pub fn on_timer(&mut self, ctx: &mut Ctx<'_, TpNode>, timer: Timer) {
        match timer {
            Timer::NextTx => {
                if self.ready && self.active.len() < self.s.concurrency {
                    self.begin(ctx);
                }
                self.schedule_next(ctx);
            }
            Timer::VoteTimeout(tx) => {
                if let Some(Active {
                    phase: Phase::Voting(yes),
                    ..
                }) = self.active.get(&tx)
                {
                    let missing: Vec<String> = self
                        .s
                        .participants
                        .iter()
                        .filter(|p| !yes.contains(p))
                        .map(|p| ctx.cluster()[p.index()].name.clone())
                        .collect();
                    ctx.note(
                        "vote-timeout",
                        format!("{tx}: no vote from {}; aborting", missing.join(", ")),
                    );
                    self.decide(ctx, tx, Outcome::Abort);
                }
            }
            Timer::PreCommitAckTimeout(tx) => {
                if let Some(Active {
                    phase: Phase::PreCommitting(_),
                    ..
                }) = self.active.get(&tx)
                {
                    ctx.note(
                        "precommit-ack-timeout",
                        format!("{tx}: some pre-commit acks missing; committing anyway (3PC)"),
                    );
                    self.decide(ctx, tx, Outcome::Commit);
                }
            }
            Timer::LogRetry(tx) => {
                if let Some(Active {
                    phase: Phase::Logging(outcome),
                    ..
                }) = self.active.get(&tx)
                {
                    let outcome = *outcome;
                    self.log_decision(ctx, tx, outcome);
                }
            }
            Timer::Resend(tx) => {
                if let Some((outcome, owed)) = self.unacked.get(&tx) {
                    for p in owed.clone() {
                        ctx.send(
                            p,
                            Msg::Decision {
                                tx,
                                outcome: *outcome,
                            },
                        );
                    }
                    ctx.set_timer(Timer::Resend(tx), self.s.in_doubt_timeout_ns);
                }
            }
            Timer::InDoubt(_) | Timer::TermCollect(_) => {}
        }
    }

    fn begin(&mut self, ctx: &mut Ctx<'_, TpNode>) {
        self.next_seq += 1;
        let tx = TxId {
            epoch: self.epoch,
            seq: self.next_seq,
        };
        let op = ctx.invoke(TxCall { tx });
        for &p in &self.s.participants {
            let key = ctx.rng().gen_range(0..self.s.keys);
            ctx.send(p, Msg::Prepare { tx, key });
        }
        self.active.insert(
            tx,
            Active {
                op,
                phase: Phase::Voting(BTreeSet::new()),
            },
        );
        ctx.set_timer(Timer::VoteTimeout(tx), self.s.vote_timeout_ns);
    }

    pub fn on_message(&mut self, ctx: &mut Ctx<'_, TpNode>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Vote { tx, yes } => {
                let Some(a) = self.active.get_mut(&tx) else {
                    return;
                };
                let Phase::Voting(votes) = &mut a.phase else {
                    return;
                };
                if !yes {
                    ctx.note(
                        "vote-no",
                        format!("{tx}: {} voted no", ctx.cluster()[from.index()].name),
                    );
                    self.decide(ctx, tx, Outcome::Abort);
                    return;
                }
                votes.insert(from);
                if votes.len() < self.s.participants.len() {
                    return;
                }
                ctx.cancel_timer(Timer::VoteTimeout(tx));
                match self.s.protocol {
                    Protocol::TwoPhase => self.decide(ctx, tx, Outcome::Commit),
                    Protocol::ThreePhase => {
                        a.phase = Phase::PreCommitting(BTreeSet::new());
                        for &p in &self.s.participants {
                            ctx.send(p, Msg::PreCommit { tx });
                        }
                        ctx.set_timer(
                            Timer::PreCommitAckTimeout(tx),
                            self.s.precommit_ack_timeout_ns,
                        );
                    }
                }
            }
            Msg::PreCommitAck { tx } => {
                let Some(a) = self.active.get_mut(&tx) else {
                    return;
                };
                let Phase::PreCommitting(acks) = &mut a.phase else {
                    return;
                };
                acks.insert(from);
                if acks.len() == self.s.participants.len() {
                    ctx.cancel_timer(Timer::PreCommitAckTimeout(tx));
                    self.decide(ctx, tx, Outcome::Commit);
                }
            }
            Msg::DecisionAck { tx } => {
                if let Some((_, owed)) = self.unacked.get_mut(&tx) {
                    owed.remove(&from);
                    if owed.is_empty() {
                        self.unacked.remove(&tx);
                        ctx.cancel_timer(Timer::Resend(tx));
                    }
                }
            }
            Msg::DecisionReq { tx } => self.answer(ctx, from, tx),
            Msg::Prepare { .. }
            | Msg::PreCommit { .. }
            | Msg::Decision { .. }
            | Msg::StateReq { .. }
            | Msg::StateReport { .. } => {}
        }
    }

    /// A participant in doubt asks about `tx` (2PC termination, BHG §7.3).
    fn answer(&mut self, ctx: &mut Ctx<'_, TpNode>, from: NodeId, tx: TxId) {
        if let Some(outcome) = self.decided.get(&tx) {
            if tx.epoch < self.epoch {
                ctx.reached("coordinator-recovered");
            }
            ctx.send(
                from,
                Msg::Decision {
                    tx,
                    outcome: *outcome,
                },
            );
            return;
        }
        if self.active.contains_key(&tx) || tx.epoch >= self.epoch {
            return; // still deciding: the participant will ask again
        }
        if self.s.protocol == Protocol::ThreePhase {
            // No presumption in 3PC: the participants may have terminated this
            // transaction by commit without the coordinator (Skeen 1981). Only a logged
            // decision is a decision; otherwise it reports that it never decided, which
            // the participants weigh with their own states.
            ctx.send(
                from,
                Msg::StateReport {
                    tx,
                    state: crate::msg::TermState::Uncertain,
                    recovering: true,
                },
            );
            return;
        }
        // Presumed abort: no record of a decision from an earlier incarnation.
        ctx.note(
            "presumed-abort",
            format!(
                "{tx}: no decision in the log; answering abort to {}",
                ctx.cluster()[from.index()].name
            ),
        );
        ctx.reached("coordinator-recovered");
        ctx.send(
            from,
            Msg::Decision {
                tx,
                outcome: Outcome::Abort,
            },
        );
    }

    /// Takes the decision: logs it and sends it after the log is durable (the commit
    /// point), or, with the bug switch, sends first.
    fn decide(&mut self, ctx: &mut Ctx<'_, TpNode>, tx: TxId, outcome: Outcome) {
        let Some(a) = self.active.get_mut(&tx) else {
            return;
        };
        ctx.cancel_timer(Timer::VoteTimeout(tx));
        ctx.cancel_timer(Timer::PreCommitAckTimeout(tx));
        a.phase = Phase::Logging(outcome);
        self.log_decision(ctx, tx, outcome);
    }

    /// Writes the decision record; sends the decision once it is durable (or, with the
    /// bug switch, at once). A refused write is tried again after [`LOG_RETRY_NS`].
    fn log_decision(&mut self, ctx: &mut Ctx<'_, TpNode>, tx: TxId, outcome: Outcome) {
        let record = match outcome {
            Outcome::Commit => Record::Commit { tx },
            Outcome::Abort => Record::Abort { tx },
        };
        let logged = ctx.disk().append(LOG_FILE, &log::encode(record)).is_ok();
        if !logged {
            ctx.note(
                "disk-full",
                format!(
                    "{tx}: cannot log the decision to {}; trying again",
                    outcome.word()
                ),
            );
        }
        if self.s.log_decision_before_send {
            if logged {
                let t = self.token();
                ctx.fsync(t);
                self.waiting.insert(t, vec![tx]);
            } else {
                // Not logged: the decision cannot be sent yet; participants stay in doubt.
                ctx.set_timer(Timer::LogRetry(tx), LOG_RETRY_NS);
            }
        } else {
            let t = self.token();
            // The bug: the decision goes out before it is durable.
            self.publish(ctx, tx, outcome);
            ctx.fsync(t);
        }
    }

    /// The decision is (or, with the bug, is taken to be) on record: tell everyone.
    fn publish(&mut self, ctx: &mut Ctx<'_, TpNode>, tx: TxId, outcome: Outcome) {
        let Some(a) = self.active.remove(&tx) else {
            return;
        };
        self.decided.insert(tx, outcome);
        for &p in &self.s.participants {
            ctx.send(p, Msg::Decision { tx, outcome });
        }
        self.unacked
            .insert(tx, (outcome, self.s.participants.iter().copied().collect()));
        ctx.set_timer(Timer::Resend(tx), self.s.in_doubt_timeout_ns);
        ctx.complete(a.op, dsim_core::Outcome::Ok, Some(TxRet { outcome }));
        match outcome {
            Outcome::Commit => {
                self.committed += 1;
                ctx.metric("committed", self.committed as i64);
            }
            Outcome::Abort => {
                self.aborted += 1;
                ctx.metric("aborted", self.aborted as i64);
            }
        }
        ctx.reached(match outcome {
            Outcome::Commit => "tx-committed",
            Outcome::Abort => "tx-aborted",
        });
    }

    pub fn observe(&self) -> Observation {
        Observation {
            state: "coordinator",
            fields: vec![
                ("epoch", self.epoch as i64),
                ("active", self.active.len() as i64),
                ("committed", self.committed as i64),
                ("aborted", self.aborted as i64),
            ],
        }
    }
}
