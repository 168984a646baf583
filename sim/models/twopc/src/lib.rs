//! Two-phase commit and, as a variant, three-phase commit: the atomic-commit protocols of
//! domain note 004 ("either every participant commits the transaction or every one aborts
//! it: the usual way to get the A of ACID"; "3PC splits 2PC's commit phase in two:
//! pre-commit and commit").
//!
//! - 2PC as in Gray, "Notes on Data Base Operating Systems" (1978, §5.8.3.3) and Bernstein,
//!   Hadzilacos & Goodman, *Concurrency Control and Recovery in Database Systems* (1987,
//!   ch. 7, §7.3–7.4): the coordinator asks every participant to prepare; a participant
//!   votes yes only after its prepared record is durable and then holds its locks, in
//!   doubt, until it learns the outcome; the coordinator logs its decision durably before
//!   sending it. If the coordinator is lost after the votes, participants in doubt are
//!   blocked (BHG §7.3: "2PC is subject to blocking").
//! - 3PC as in Skeen, "Nonblocking commit protocols" (SIGMOD 1981) and BHG §7.5: a
//!   pre-commit round between the votes and the commit, and a termination protocol run by
//!   the participants when the coordinator goes silent, and a recovery protocol for
//!   participants that restart in doubt. Non-blocking for the operational participants
//!   when failures are crashes only and timeouts are right; unsafe when the network
//!   partitions.
//!
//! Roles: one `coordinator` (which also generates the stream of transactions and records
//! their outcomes in the history) and `participant`s. Modules: `msg` (the messages),
//! `log` (durable records), `coordinator`, `participant`, `termination` (3PC's decision
//! rule), `checks`. Sources and lessons: docs/models/twopc.md.

pub mod checks;
pub mod coordinator;
pub mod log;
pub mod msg;
pub mod participant;
pub mod termination;

use dsim_core::units::{Duration, Probability};
use dsim_core::{
    Catalogue, CheckResult, ConfigError, Ctx, History, Invariant, IoDone, Model, NodeId, NodeSpec,
    Observation, View,
};
use serde::Deserialize;

use coordinator::Coordinator;
use msg::{Msg, Outcome, TxId};
use participant::Participant;

/// Which atomic-commit protocol runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum Protocol {
    /// Two-phase commit (Gray 1978; BHG 1987 §7.3).
    #[serde(rename = "2pc")]
    TwoPhase,
    /// Three-phase commit with the termination protocol (Skeen 1981; BHG 1987 §7.5).
    #[serde(rename = "3pc")]
    ThreePhase,
}

/// `[model]` of a twopc scenario.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TwoPcConfig {
    /// `"2pc"` or `"3pc"`.
    pub protocol: Protocol,
    pub participants: u32,
    /// Keys (lockable items) per participant; each transaction writes one key on every
    /// participant and must lock it to vote yes (no-wait locking: a held lock means no).
    pub keys: u32,
    /// Chance that a participant votes no on its own (a failed local check).
    pub no_vote_probability: Probability,
    /// Transactions the coordinator runs at once.
    pub concurrency: u32,
    /// Time between the coordinator's attempts to start a transaction: uniform in
    /// [tx_interval_min, tx_interval_max].
    pub tx_interval_min: Duration,
    pub tx_interval_max: Duration,
    /// The coordinator aborts a transaction whose votes are not all in after this long.
    pub vote_timeout: Duration,
    /// 3PC: the coordinator commits after this long even if some pre-commit
    /// acknowledgements are missing (Skeen 1981: a silent participant terminates on its own).
    pub precommit_ack_timeout: Duration,
    /// A participant in doubt waits this long before it acts (2PC: asks for the decision,
    /// and asks again at this interval; 3PC: runs the termination protocol). The
    /// coordinator resends unacknowledged decisions at the same interval.
    pub in_doubt_timeout: Duration,
    /// 3PC termination: how long a participant collects its peers' states.
    pub termination_wait: Duration,
    /// `all-decided` counts a participant as blocked if it has been in doubt longer than
    /// this at the end of the run (younger transactions are merely in progress).
    pub blocked_after: Duration,
    /// Bug switch (default true = correct). False: the coordinator sends its decision
    /// first and writes it to its log afterwards, so a crash in between loses a decision
    /// some participants already applied; after a restart it presumes abort. Gray 1978
    /// §5.8.3.3 and BHG §7.3 require the decision record to be forced before any COMMIT
    /// is sent.
    pub log_decision_before_send: bool,
    /// Bug switch (default true = correct). False: a participant replies yes before its
    /// prepared record is durable; a crash forgets the vote the coordinator counted
    /// (Gray 1978 §5.8.3.3; BHG §7.3 rule "force-write before voting yes").
    pub fsync_vote_before_reply: bool,
    /// Variant (2PC): a participant in doubt also asks its peers, and one that has decided
    /// or never voted answers (BHG §7.4, the cooperative termination protocol). It cannot
    /// help when every participant voted yes and the coordinator is gone.
    pub cooperative_termination: bool,
    /// Bug switch (3PC; default true = correct). False: a participant that restarts in
    /// doubt rejoins the termination protocol as if it had been operational all along,
    /// and may lead it; alone (its peers down) and uncertain, it aborts what they
    /// committed while it was down. Skeen 1981 (§4–5) gives failed sites a separate
    /// recovery protocol: a recovering site asks, and blocks until someone who knows
    /// answers (BHG 1987 §7.5, "recovery").
    pub recovery_protocol: bool,
}

impl Default for TwoPcConfig {
    fn default() -> Self {
        TwoPcConfig {
            protocol: Protocol::TwoPhase,
            participants: 3,
            keys: 8,
            no_vote_probability: Probability::one_in(20),
            concurrency: 2,
            tx_interval_min: Duration::from_ms(5),
            tx_interval_max: Duration::from_ms(20),
            vote_timeout: Duration::from_ms(100),
            precommit_ack_timeout: Duration::from_ms(100),
            in_doubt_timeout: Duration::from_ms(300),
            termination_wait: Duration::from_ms(50),
            blocked_after: Duration::from_secs(2),
            log_decision_before_send: true,
            fsync_vote_before_reply: true,
            cooperative_termination: false,
            recovery_protocol: true,
        }
    }
}

pub const MAX_PARTICIPANTS: u32 = 64;
pub const MAX_KEYS: u32 = 1 << 16;
pub const MAX_CONCURRENCY: u32 = 64;

/// What every node needs to know, copied from the configuration.
#[derive(Clone, Debug)]
pub struct Settings {
    pub protocol: Protocol,
    pub coordinator: NodeId,
    pub participants: Vec<NodeId>,
    pub keys: u32,
    pub no_vote_probability: Probability,
    pub concurrency: usize,
    pub tx_interval_min_ns: u64,
    pub tx_interval_max_ns: u64,
    pub vote_timeout_ns: u64,
    pub precommit_ack_timeout_ns: u64,
    pub in_doubt_timeout_ns: u64,
    pub termination_wait_ns: u64,
    pub log_decision_before_send: bool,
    pub fsync_vote_before_reply: bool,
    pub cooperative_termination: bool,
    pub recovery_protocol: bool,
}

/// The model, built from a validated configuration.
#[derive(Clone, Debug)]
pub struct TwoPc {
    pub cfg: TwoPcConfig,
    settings: Settings,
}

impl TwoPc {
    pub fn new(cfg: TwoPcConfig) -> Result<TwoPc, ConfigError> {
        let n = cfg.participants;
        if n == 0 || n > MAX_PARTICIPANTS {
            return Err(ConfigError::new(
                "participants",
                format!("participants must be 1..={MAX_PARTICIPANTS}, not {n}"),
                Some("participants = 3".into()),
            ));
        }
        if cfg.keys == 0 || cfg.keys > MAX_KEYS {
            return Err(ConfigError::new(
                "keys",
                format!("keys must be 1..={MAX_KEYS}, not {}", cfg.keys),
                None,
            ));
        }
        if cfg.concurrency == 0 || cfg.concurrency > MAX_CONCURRENCY {
            return Err(ConfigError::new(
                "concurrency",
                format!(
                    "concurrency must be 1..={MAX_CONCURRENCY}, not {}",
                    cfg.concurrency
                ),
                None,
            ));
        }
        for (key, d) in [
            ("tx_interval_max", cfg.tx_interval_max),
            ("vote_timeout", cfg.vote_timeout),
            ("precommit_ack_timeout", cfg.precommit_ack_timeout),
            ("in_doubt_timeout", cfg.in_doubt_timeout),
            ("termination_wait", cfg.termination_wait),
            ("blocked_after", cfg.blocked_after),
        ] {
            ConfigError::require_positive(key, d)?;
        }
        if cfg.tx_interval_min > cfg.tx_interval_max {
            return Err(ConfigError::new(
                "tx_interval_min",
                format!(
                    "tx_interval_min {} is above tx_interval_max {}",
                    cfg.tx_interval_min, cfg.tx_interval_max
                ),
                None,
            ));
        }
        if cfg.cooperative_termination && cfg.protocol == Protocol::ThreePhase {
            return Err(ConfigError::new(
                "cooperative_termination",
                "cooperative termination is a 2PC variant; 3PC has its own termination protocol",
                Some("remove it, or use protocol = \"2pc\"".into()),
            ));
        }
        let settings = Settings {
            protocol: cfg.protocol,
            coordinator: NodeId(0),
            participants: (1..=n).map(NodeId).collect(),
            keys: cfg.keys,
            no_vote_probability: cfg.no_vote_probability,
            concurrency: cfg.concurrency as usize,
            tx_interval_min_ns: cfg.tx_interval_min.0,
            tx_interval_max_ns: cfg.tx_interval_max.0,
            vote_timeout_ns: cfg.vote_timeout.0,
            precommit_ack_timeout_ns: cfg.precommit_ack_timeout.0,
            in_doubt_timeout_ns: cfg.in_doubt_timeout.0,
            termination_wait_ns: cfg.termination_wait.0,
            log_decision_before_send: cfg.log_decision_before_send,
            fsync_vote_before_reply: cfg.fsync_vote_before_reply,
            cooperative_termination: cfg.cooperative_termination,
            recovery_protocol: cfg.recovery_protocol,
        };
        Ok(TwoPc { cfg, settings })
    }

    pub fn participant_ids(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.settings.participants.iter().copied()
    }
}

/// A transaction, as the history records it: the coordinator starts it...
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TxCall {
    pub tx: TxId,
}

/// ...and learns its outcome (when its decision is sent).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TxRet {
    pub outcome: Outcome,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Timer {
    /// Coordinator: try to start a transaction.
    NextTx,
    /// Coordinator: the votes of `tx` are late; abort.
    VoteTimeout(TxId),
    /// Coordinator (3PC): pre-commit acknowledgements are late; commit anyway.
    PreCommitAckTimeout(TxId),
    /// Coordinator: resend the decision to participants that have not acknowledged it.
    Resend(TxId),
    /// Coordinator: the decision record of `tx` could not be written; try again.
    LogRetry(TxId),
    /// Participant: still in doubt about `tx`.
    InDoubt(TxId),
    /// Participant (3PC): time to decide from the states collected for `tx`.
    TermCollect(TxId),
}

/// A node of the twopc model, by role.
#[derive(Debug)]
pub enum TpNode {
    Coordinator(Coordinator),
    Participant(Participant),
}

impl dsim_core::Node for TpNode {
    type Msg = Msg;
    type Timer = Timer;
    type Call = TxCall;
    type Ret = TxRet;

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        match self {
            TpNode::Coordinator(c) => c.on_start(ctx),
            TpNode::Participant(p) => p.on_start(ctx),
        }
    }
    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match self {
            TpNode::Coordinator(c) => c.on_message(ctx, from, msg),
            TpNode::Participant(p) => p.on_message(ctx, from, msg),
        }
    }
    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        match self {
            TpNode::Coordinator(c) => c.on_timer(ctx, timer),
            TpNode::Participant(p) => p.on_timer(ctx, timer),
        }
    }
    fn on_io(&mut self, ctx: &mut Ctx<'_, Self>, done: IoDone) {
        match self {
            TpNode::Coordinator(c) => c.on_io(ctx, done),
            TpNode::Participant(p) => p.on_io(ctx, done),
        }
    }
    fn observe(&self) -> Observation {
        match self {
            TpNode::Coordinator(c) => c.observe(),
            TpNode::Participant(p) => p.observe(),
        }
    }
}

impl Model for TwoPc {
    type Node = TpNode;

    fn nodes(&self) -> Vec<NodeSpec> {
        let coordinator = std::iter::once(NodeSpec::new("coordinator", "coordinator"));
        let participants = (1..=self.cfg.participants)
            .map(|i| NodeSpec::new(format!("participant-{i}"), "participant"));
        coordinator.chain(participants).collect()
    }

    fn boot(&self, id: NodeId) -> TpNode {
        if id == self.settings.coordinator {
            TpNode::Coordinator(Coordinator::new(self.settings.clone()))
        } else {
            TpNode::Participant(Participant::new(self.settings.clone()))
        }
    }

    fn fault_role(&self) -> &'static str {
        "participant"
    }

    fn catalogue(&self) -> Catalogue {
        checks::CATALOGUE
    }

    fn always(&self, name: &str) -> Option<Box<dyn Invariant<TpNode>>> {
        checks::always(name)
    }

    fn eventually(
        &self,
        name: &str,
        view: &View<'_, TpNode>,
        history: &History<TxCall, TxRet>,
    ) -> Option<(String, Vec<NodeId>)> {
        checks::eventually(self, name, view, history)
    }

    fn check_history(
        &self,
        name: &str,
        view: &View<'_, TpNode>,
        history: &History<TxCall, TxRet>,
        _budget: u64,
    ) -> CheckResult {
        checks::history(self, name, view, history)
    }
}
