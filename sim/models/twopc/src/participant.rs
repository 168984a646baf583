//! A participant (resource manager) of 2PC and 3PC.
//!
//! On PREPARE it locks the key the transaction writes (no-wait: a held lock means a no
//! vote), votes no with `no_vote_probability`, and otherwise appends a prepared record and
//! votes yes only once that record is durable (Gray 1978 §5.8.3.3; BHG 1987 §7.3). From
//! then on it is *in doubt* (uncertain): it may not decide on its own and keeps the lock
//! until it learns the outcome. A no voter aborts at once.
//!
//! When in doubt for `in_doubt_timeout`:
//! - 2PC: it asks the coordinator, again at every timeout; with `cooperative_termination`
//!   it also asks its peers, and a peer that has decided, or never voted (and so aborts
//!   now), answers (BHG §7.4). If everyone voted yes and the coordinator is gone, nobody
//!   can answer: the participant is blocked, holding its lock.
//! - 3PC: it runs the termination protocol (`termination.rs`): asks every peer for its
//!   state, waits `termination_wait`, and if it is the lowest-numbered operational
//!   participant that answered, decides, forces the decision to its log, and then tells
//!   the others.
//!
//! It acknowledges a decision once the decision record is durable, so the coordinator can
//! stop resending (in 3PC every decision record is forced). At restart it rebuilds
//! everything from its log: transactions prepared but undecided are in doubt again, with
//! their locks. In 3PC it is then a *recovering* site for them (Skeen 1981's recovery
//! protocol; BHG §7.5): it asks its peers and the coordinator, says it is recovering when
//! asked for its state, never leads a termination round, and adopts a decision only from
//! someone who holds one — or, once every participant has answered, decides from the full
//! picture (`recovery_protocol = false` is the bug that skips all this).
//!
//! `outcomes` lists, in order, every decision this incarnation holds (those read back from
//! the log first): the `atomicity` invariant reads it.

use std::collections::{BTreeMap, BTreeSet};

use dsim_core::rng::chance;
use dsim_core::{Ctx, IoDone, NodeId, Observation};

use crate::log::{self, Record};
use crate::msg::{Msg, Outcome, TermState, TxId};
use crate::{termination, Protocol, Settings, Timer, TpNode};

pub const LOG_FILE: &str = "txlog";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Voted yes in principle; the prepared record is being made durable.
    Voting,
    /// Voted yes: uncertain (Skeen's state w).
    Ready,
    /// 3PC: pre-committed (state p).
    PreCommitted,
}

#[derive(Debug, Clone)]
pub struct InDoubt {
    pub key: u32,
    pub phase: Phase,
    /// When it entered its current phase (this node's clock).
    pub since_ns: u64,
}

/// Replies that wait for an fsync.
#[derive(Debug, Clone)]
enum Pending {
    VoteYes(TxId),
    PreCommitAck(TxId),
    DecisionAck(TxId, NodeId),
    /// An answer that reports a unilateral abort: it must survive a crash, or the
    /// participant could come back with no record, vote yes, and contradict it.
    Reply(NodeId, Msg),
}

/// One 3PC termination round: the states reported so far, and which reporters are
/// recovering sites (or the coordinator) rather than operational participants.
#[derive(Debug, Default)]
struct Round {
    states: BTreeMap<NodeId, TermState>,
    recovering: BTreeSet<NodeId>,
}

#[derive(Debug)]
pub struct Participant {
    s: Settings,
    /// Transactions voted on (or being voted on) and not decided.
    pub txs: BTreeMap<TxId, InDoubt>,
    pub decided: BTreeMap<TxId, Outcome>,
    /// Every decision held by this incarnation, in the order it was taken or read.
    pub outcomes: Vec<(TxId, Outcome)>,
    /// Lock table: key → the transaction holding it.
    pub locks: BTreeMap<u32, TxId>,
    waiting: BTreeMap<u64, Vec<Pending>>,
    next_token: u64,
    /// 3PC termination rounds in progress: the states collected so far.
    term: BTreeMap<TxId, Round>,
    /// 3PC: transactions this incarnation found undecided in its log at restart. For
    /// them it is a *recovering* site, not an operational one (Skeen 1981; BHG §7.5,
    /// recovery): while it was down the operational participants may have terminated
    /// the transaction either way, so it may not take part in their election nor decide
    /// by the termination rule; it only adopts a decision someone else holds (a peer, or
    /// the coordinator's log), and blocks if nobody who knows is up.
    pub recovering: BTreeSet<TxId>,
}

impl Participant {
    pub fn new(s: Settings) -> Self {
        Participant {
            s,
            txs: BTreeMap::new(),
            decided: BTreeMap::new(),
            outcomes: Vec::new(),
            locks: BTreeMap::new(),
            waiting: BTreeMap::new(),
            next_token: 1,
            term: BTreeMap::new(),
            recovering: BTreeSet::new(),
        }
    }

    pub fn on_start(&mut self, ctx: &mut Ctx<'_, TpNode>) {
        let (records, torn) = log::recover(ctx.disk(), LOG_FILE);
        if torn > 0 {
            ctx.note(
                "log-tail-cut",
                format!("dropped {torn} torn byte(s) at the end of the log"),
            );
        }
        let now = ctx.now();
        for r in records {
            match r {
                Record::Prepared { tx, key } => {
                    self.locks.insert(key, tx);
                    self.txs.insert(
                        tx,
                        InDoubt {
                            key,
                            phase: Phase::Ready,
                            since_ns: now,
                        },
                    );
                }
                Record::PreCommitted { tx } => {
                    if let Some(d) = self.txs.get_mut(&tx) {
                        d.phase = Phase::PreCommitted;
                    }
                }
                Record::Commit { tx } => self.settle(tx, Outcome::Commit),
                Record::Abort { tx } => self.settle(tx, Outcome::Abort),
            }
        }
        if !self.txs.is_empty() {
            let list: Vec<String> = self.txs.keys().map(|t| t.to_string()).collect();
            ctx.note(
                "recovered-in-doubt",
                format!("in doubt after restart: {}", list.join(", ")),
            );
        }
        let txs: Vec<TxId> = self.txs.keys().copied().collect();
        if self.s.protocol == Protocol::ThreePhase && self.s.recovery_protocol {
            self.recovering = txs.iter().copied().collect();
        }
        for tx in txs {
            ctx.set_timer(Timer::InDoubt(tx), self.s.in_doubt_timeout_ns);
        }
    }

    /// Records a decision in memory (the caller logs it): releases the lock.
    fn settle(&mut self, tx: TxId, outcome: Outcome) {
        if let Some(d) = self.txs.remove(&tx) {
            if self.locks.get(&d.key) == Some(&tx) {
                self.locks.remove(&d.key);
            }
        }
        if self.decided.insert(tx, outcome).is_none() {
            self.outcomes.push((tx, outcome));
        }
        self.term.remove(&tx);
        self.recovering.remove(&tx);
    }

    fn token(&mut self) -> u64 {
        let t = self.next_token;
        self.next_token += 1;
        t
    }

    /// Asks for an fsync and queues `reply` for its completion.
    fn after_fsync(&mut self, ctx: &mut Ctx<'_, TpNode>, reply: Pending) {
        let t = self.token();
        ctx.fsync(t);
        self.waiting.entry(t).or_default().push(reply);
    }

    fn name(ctx: &Ctx<'_, TpNode>, id: NodeId) -> String {
        ctx.cluster()[id.index()].name.clone()
    }

    pub fn on_message(&mut self, ctx: &mut Ctx<'_, TpNode>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Prepare { tx, key } => self.prepare(ctx, from, tx, key),
            Msg::PreCommit { tx } => {
                let Some(d) = self.txs.get_mut(&tx) else {
                    return;
                };
                match d.phase {
                    Phase::Voting => {}
                    Phase::PreCommitted => {
                        ctx.send(from, Msg::PreCommitAck { tx });
                    }
                    Phase::Ready => {
                        d.phase = Phase::PreCommitted;
                        d.since_ns = ctx.now();
                        let rec = log::encode(Record::PreCommitted { tx });
                        if ctx.disk().append(LOG_FILE, &rec).is_ok() {
                            self.after_fsync(ctx, Pending::PreCommitAck(tx));
                        }
                        ctx.set_timer(Timer::InDoubt(tx), self.s.in_doubt_timeout_ns);
                    }
                }
            }
            Msg::Decision { tx, outcome } => self.learn(ctx, from, tx, outcome),
            Msg::DecisionReq { tx } => {
                // A peer in doubt asks (cooperative termination, BHG §7.4).
                if let Some(outcome) = self.decided.get(&tx) {
                    ctx.send(
                        from,
                        Msg::Decision {
                            tx,
                            outcome: *outcome,
                        },
                    );
                } else if !self.txs.contains_key(&tx) {
                    // Never voted: abort on our own, and say so once that is durable.
                    self.unilateral_abort(ctx, tx, "a peer asked before we voted");
                    let answer = Msg::Decision {
                        tx,
                        outcome: Outcome::Abort,
                    };
                    self.after_fsync(ctx, Pending::Reply(from, answer));
                }
            }
            Msg::StateReq { tx } => {
                let state = match (self.decided.get(&tx), self.txs.get(&tx)) {
                    (Some(Outcome::Commit), _) => Some(TermState::Committed),
                    (Some(Outcome::Abort), _) => Some(TermState::Aborted),
                    (None, Some(d)) => match d.phase {
                        Phase::Voting => None,
                        Phase::Ready => Some(TermState::Uncertain),
                        Phase::PreCommitted => Some(TermState::PreCommitted),
                    },
                    (None, None) => {
                        self.unilateral_abort(
                            ctx,
                            tx,
                            "the termination protocol asked before we voted",
                        );
                        let answer = Msg::StateReport {
                            tx,
                            state: TermState::Aborted,
                            recovering: false,
                        };
                        self.after_fsync(ctx, Pending::Reply(from, answer));
                        None
                    }
                };
                if let Some(state) = state {
                    // A recovering site says so: it is not operational for `tx`, so it
                    // may not lead and its state does not count in the election (Skeen
                    // 1981; BHG §7.5).
                    let recovering = self.recovering.contains(&tx);
                    let answer = Msg::StateReport {
                        tx,
                        state,
                        recovering,
                    };
                    if matches!(state, TermState::Committed | TermState::Aborted) {
                        // Whoever hears a decision may act on it: it must be durable
                        // first, like any decision that leaves a node.
                        self.after_fsync(ctx, Pending::Reply(from, answer));
                    } else {
                        ctx.send(from, answer);
                    }
                }
            }
            Msg::StateReport {
                tx,
                state,
                recovering,
            } => {
                if let Some(round) = self.term.get_mut(&tx) {
                    round.states.insert(from, state);
                    if recovering {
                        round.recovering.insert(from);
                    }
                }
            }
            Msg::Vote { .. } | Msg::PreCommitAck { .. } | Msg::DecisionAck { .. } => {}
        }
    }

    fn prepare(&mut self, ctx: &mut Ctx<'_, TpNode>, from: NodeId, tx: TxId, key: u32) {
        if let Some(outcome) = self.decided.get(&tx) {
            if *outcome == Outcome::Abort {
                ctx.send(from, Msg::Vote { tx, yes: false });
            }
            return;
        }
        if let Some(d) = self.txs.get(&tx) {
            // A resent request: repeat a yes that is already durable.
            if d.phase != Phase::Voting {
                ctx.send(from, Msg::Vote { tx, yes: true });
            }
            return;
        }
        if let Some(holder) = self.locks.get(&key) {
            let why = format!("key {key} is locked by {holder}");
            self.vote_no(ctx, from, tx, &why);
            return;
        }
        if chance(ctx.rng(), self.s.no_vote_probability) {
            self.vote_no(ctx, from, tx, "local check failed");
            return;
        }
        let rec = log::encode(Record::Prepared { tx, key });
        if ctx.disk().append(LOG_FILE, &rec).is_err() {
            self.vote_no(ctx, from, tx, "disk full");
            return;
        }
        self.locks.insert(key, tx);
        self.txs.insert(
            tx,
            InDoubt {
                key,
                phase: Phase::Voting,
                since_ns: ctx.now(),
            },
        );
        if self.s.fsync_vote_before_reply {
            self.after_fsync(ctx, Pending::VoteYes(tx));
        } else {
            // The bug: the yes goes out while the prepared record is still in the cache.
            self.voted_yes(ctx, tx);
            let t = self.token();
            ctx.fsync(t);
        }
    }

    fn vote_no(&mut self, ctx: &mut Ctx<'_, TpNode>, from: NodeId, tx: TxId, why: &str) {
        ctx.note("vote-no", format!("{tx}: {why}"));
        let _ = ctx
            .disk()
            .append(LOG_FILE, &log::encode(Record::Abort { tx }));
        self.settle(tx, Outcome::Abort);
        ctx.send(from, Msg::Vote { tx, yes: false });
    }

    fn unilateral_abort(&mut self, ctx: &mut Ctx<'_, TpNode>, tx: TxId, why: &str) {
        ctx.note("unilateral-abort", format!("{tx}: {why}"));
        let _ = ctx
            .disk()
            .append(LOG_FILE, &log::encode(Record::Abort { tx }));
        self.settle(tx, Outcome::Abort);
    }

    /// The yes vote goes out: the participant is now in doubt.
    fn voted_yes(&mut self, ctx: &mut Ctx<'_, TpNode>, tx: TxId) {
        let Some(d) = self.txs.get_mut(&tx) else {
            return;
        };
        d.phase = Phase::Ready;
        d.since_ns = ctx.now();
        ctx.send(self.s.coordinator, Msg::Vote { tx, yes: true });
        ctx.set_timer(Timer::InDoubt(tx), self.s.in_doubt_timeout_ns);
    }

    /// A decision arrives, from the coordinator or a peer.
    fn learn(&mut self, ctx: &mut Ctx<'_, TpNode>, from: NodeId, tx: TxId, outcome: Outcome) {
        self.apply(ctx, from, tx, outcome, Vec::new());
    }

    /// Applies a decision and logs it. In 3PC the record is always forced: a peer may
    /// have learnt the outcome from this participant alone (a termination leader, or one
    /// that reported its state), and a crash must not turn it back into "uncertain". `then`
    /// (messages that reveal the decision) waits for that fsync, as a coordinator's
    /// decision waits for its log (Gray 1978 §5.8.3.3; BHG §7.5).
    fn apply(
        &mut self,
        ctx: &mut Ctx<'_, TpNode>,
        from: NodeId,
        tx: TxId,
        outcome: Outcome,
        mut then: Vec<Pending>,
    ) {
        if let Some(had) = self.decided.get(&tx) {
            if *had != outcome {
                ctx.note(
                    "conflicting-decision",
                    format!(
                        "{tx}: {} says {}, but this participant already {}",
                        Self::name(ctx, from),
                        outcome.word(),
                        had.word()
                    ),
                );
            }
            if from == self.s.coordinator {
                self.after_fsync(ctx, Pending::DecisionAck(tx, from));
            }
            return;
        }
        let applied = match (self.txs.get(&tx), outcome) {
            (Some(_), o) => o,
            (None, Outcome::Abort) => Outcome::Abort,
            (None, Outcome::Commit) => {
                // No prepared record: the work this commit needs is gone (the yes vote
                // was never made durable). The participant cannot commit it.
                ctx.note(
                    "commit-without-prepare",
                    format!(
                        "{tx}: told to commit by {}, but there is no prepared record (the yes vote was lost); \
                         the transaction's work is gone here",
                        Self::name(ctx, from)
                    ),
                );
                Outcome::Abort
            }
        };
        let rec = match applied {
            Outcome::Commit => Record::Commit { tx },
            Outcome::Abort => Record::Abort { tx },
        };
        let _ = ctx.disk().append(LOG_FILE, &log::encode(rec));
        self.settle(tx, applied);
        ctx.cancel_timer(Timer::InDoubt(tx));
        ctx.cancel_timer(Timer::TermCollect(tx));
        ctx.note("decided", format!("{tx}: {}", applied.word()));
        if from == self.s.coordinator {
            then.push(Pending::DecisionAck(tx, from));
        }
        if !then.is_empty() || self.s.protocol == Protocol::ThreePhase {
            let t = self.token();
            ctx.fsync(t);
            self.waiting.entry(t).or_default().extend(then);
        }
    }

    pub fn on_timer(&mut self, ctx: &mut Ctx<'_, TpNode>, timer: Timer) {
        match timer {
            Timer::InDoubt(tx) => {
                let Some(d) = self.txs.get(&tx) else {
                    return;
                };
                if d.phase == Phase::Voting {
                    return;
                }
                ctx.reached("participant-in-doubt");
                ctx.set_timer(Timer::InDoubt(tx), self.s.in_doubt_timeout_ns);
                let me = ctx.id();
                let peers: Vec<NodeId> = self
                    .s
                    .participants
                    .iter()
                    .copied()
                    .filter(|p| *p != me)
                    .collect();
                match self.s.protocol {
                    Protocol::TwoPhase => {
                        ctx.send(self.s.coordinator, Msg::DecisionReq { tx });
                        if self.s.cooperative_termination {
                            for p in peers {
                                ctx.send(p, Msg::DecisionReq { tx });
                            }
                        }
                    }
                    Protocol::ThreePhase => {
                        if self.recovering.contains(&tx) {
                            // A recovering site also asks the coordinator, which answers
                            // from its log only (Skeen 1981's recovery protocol).
                            ctx.send(self.s.coordinator, Msg::DecisionReq { tx });
                        }
                        if self.term.contains_key(&tx) {
                            return; // a round is still collecting states
                        }
                        let mine = match d.phase {
                            Phase::PreCommitted => TermState::PreCommitted,
                            _ => TermState::Uncertain,
                        };
                        let mut round = Round::default();
                        round.states.insert(me, mine);
                        self.term.insert(tx, round);
                        for p in peers {
                            ctx.send(p, Msg::StateReq { tx });
                        }
                        ctx.set_timer(Timer::TermCollect(tx), self.s.termination_wait_ns);
                    }
                }
            }
            Timer::TermCollect(tx) => {
                let Some(mut round) = self.term.remove(&tx) else {
                    return;
                };
                if !self.txs.contains_key(&tx) {
                    return;
                }
                // Our own state may have moved on since the round began.
                let me = ctx.id();
                if let Some(d) = self.txs.get(&tx) {
                    let mine = match d.phase {
                        Phase::PreCommitted => TermState::PreCommitted,
                        _ => TermState::Uncertain,
                    };
                    round.states.insert(me, mine);
                }
                if self.recovering.contains(&tx) {
                    round.recovering.insert(me);
                }
                let states = &round.states;
                let operational: BTreeMap<NodeId, TermState> = states
                    .iter()
                    .filter(|(n, _)| !round.recovering.contains(n))
                    .map(|(n, s)| (*n, *s))
                    .collect();
                let everyone = self.s.participants.iter().all(|p| states.contains_key(p));
                // A peer that has decided settles it (rules 1 and 2) for whoever asked.
                // Otherwise the operational participants elect a leader, which decides
                // from their states; the others retry at their next timeout in case it
                // fails. A recovering site never leads; but once every participant has
                // answered and none has decided, the full picture is known to it: any
                // pre-committed → commit; all uncertain → abort, but only if the
                // coordinator also reported that it never decided (it might have committed
                // on a pre-commit record since lost). Otherwise: blocked.
                let outcome = if termination::someone_decided(states) {
                    termination::decide(states)
                } else if !round.recovering.contains(&me)
                    && termination::leader(&operational) == Some(me)
                {
                    termination::decide(&operational)
                } else if round.recovering.contains(&me)
                    && everyone
                    && (states.values().any(|s| *s == TermState::PreCommitted)
                        || states.contains_key(&self.s.coordinator))
                {
                    termination::decide(states)
                } else {
                    return;
                };
                let seen: Vec<String> = states
                    .iter()
                    .map(|(n, s)| format!("{} {:?}", Self::name(ctx, *n), s))
                    .collect();
                ctx.note(
                    "termination-decided",
                    format!(
                        "{tx}: termination protocol, states seen [{}]: {}",
                        seen.join(", "),
                        outcome.word()
                    ),
                );
                ctx.reached("termination-protocol");
                // Acting as coordinator: the decision is logged and durable before anyone
                // hears it.
                let tell: Vec<Pending> = self
                    .s
                    .participants
                    .iter()
                    .filter(|p| **p != me)
                    .map(|p| Pending::Reply(*p, Msg::Decision { tx, outcome }))
                    .collect();
                self.apply(ctx, me, tx, outcome, tell);
            }
            Timer::NextTx
            | Timer::VoteTimeout(_)
            | Timer::PreCommitAckTimeout(_)
            | Timer::Resend(_)
            | Timer::LogRetry(_) => {}
        }
    }

    pub fn on_io(&mut self, ctx: &mut Ctx<'_, TpNode>, done: IoDone) {
        let Some(replies) = self.waiting.remove(&done.token) else {
            return;
        };
        if !done.ok {
            ctx.note(
                "fsync-failed",
                format!("fsync {} failed; retrying", done.token),
            );
            let t = self.token();
            ctx.fsync(t);
            self.waiting.insert(t, replies);
            return;
        }
        for r in replies {
            match r {
                Pending::VoteYes(tx) => {
                    if matches!(self.txs.get(&tx), Some(d) if d.phase == Phase::Voting) {
                        self.voted_yes(ctx, tx);
                    }
                }
                Pending::PreCommitAck(tx) => {
                    if matches!(self.txs.get(&tx), Some(d) if d.phase == Phase::PreCommitted) {
                        ctx.send(self.s.coordinator, Msg::PreCommitAck { tx });
                    }
                }
                Pending::DecisionAck(tx, to) => ctx.send(to, Msg::DecisionAck { tx }),
                Pending::Reply(to, msg) => ctx.send(to, msg),
            }
        }
    }

    pub fn observe(&self) -> Observation {
        let in_doubt = self
            .txs
            .values()
            .filter(|d| d.phase != Phase::Voting)
            .count();
        let committed = self
            .decided
            .values()
            .filter(|o| **o == Outcome::Commit)
            .count();
        Observation {
            state: "participant",
            fields: vec![
                ("in_doubt", in_doubt as i64),
                ("locks", self.locks.len() as i64),
                ("committed", committed as i64),
                ("aborted", (self.decided.len() - committed) as i64),
            ],
        }
    }
}
