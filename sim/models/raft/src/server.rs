//! One Raft server (Ongaro & Ousterhout, "In Search of an Understandable Consensus
//! Algorithm", USENIX ATC 2014, and Ongaro's thesis, Stanford 2014), as a sans-IO core
//! generic over the command type, so that any host — the KV model of this crate, a KRaft
//! controller, a test's counter — can embed it (see `env.rs`).
//!
//! What it implements, with the sections that specify it:
//! - leader election with randomized timeouts (§5.2), the up-to-date vote rule (§5.4.1);
//! - log replication with the AppendEntries consistency check and fast backtracking by
//!   conflicting term (§5.3, thesis §3.5), pipelined optimistically;
//! - the commit rule: a leader commits by counting replicas only entries of its own term
//!   (§5.4.2), and a new leader appends a no-op to commit its predecessors' entries (§8);
//! - persistence: currentTerm, votedFor and the log are written and *fsynced before* any
//!   reply that depends on them (Figure 2); a leader counts itself only for what is
//!   durable on its own disk (thesis §10.2.1); restart recovers from the disk alone;
//! - Pre-Vote (thesis §9.6) and CheckQuorum with leader stickiness (thesis §6.2, §4.2.3);
//! - linearizable reads by ReadIndex (thesis §6.4) and by leader lease (§6.4.1), the lease
//!   shortened by a configured clock-drift bound;
//! - snapshots and log compaction with InstallSnapshot (§7).
//!
//! Bug switches (each off by default): `commit_previous_term_by_counting` (Figure 8),
//! `persist_term_before_vote = false` (ongardie/raft.tla, `Raft_Term_Not_Persisted.tla`).
//! `pre_vote = false` and `check_quorum = false` are the classic configurations whose
//! hazards (etcd #9333; Jepsen etcd 2014) the scenarios show.

use std::collections::{BTreeMap, BTreeSet};

use dsim_core::{NodeId, Rng};

use crate::env::RaftEnv;
use crate::log::{Command, Entry, Index, Log, Payload, Term};
use crate::msg::{RaftMsg, RaftTimer};
use crate::storage::{self, Files, HardState, LogFile, Snapshot};

/// How one server behaves: timing, features and bug switches.
#[derive(Clone, Debug)]
pub struct RaftConfig {
    /// Every voting member, this server included, in a fixed order.
    pub voters: Vec<NodeId>,
    pub election_timeout_min_ns: u64,
    pub election_timeout_max_ns: u64,
    pub heartbeat_interval_ns: u64,
    /// Thesis §9.6: a candidate first asks whether it could win, without raising its term.
    pub pre_vote: bool,
    /// Thesis §6.2: a leader that has not heard from a majority within an election timeout
    /// steps down; with it, servers that hear from a leader ignore vote requests for an
    /// election timeout (leader stickiness, §4.2.3).
    pub check_quorum: bool,
    /// §8: a new leader appends a no-op entry at the start of its term.
    pub leader_noop: bool,
    /// At most this many entries per AppendEntries.
    pub max_entries_per_append: usize,
    /// Thesis §6.4.1: serve reads from a lease after a heartbeat round a majority answered.
    pub lease_reads: bool,
    /// The clock-drift bound the lease assumes, in ppm: the lease lasts
    /// `election_timeout_min * (1 - bound)` of the leader's own clock. If real drift is
    /// larger, the lease outlives the followers' promise and reads can be stale.
    pub lease_drift_bound_ppm: u32,
    /// Bug switch (Raft paper §5.4.2 and Figure 8): commit an entry of a previous term
    /// once a majority stores it. A later leader can then overwrite a "committed" entry.
    pub commit_previous_term_by_counting: bool,
    /// Figure 2: currentTerm and votedFor are on stable storage before a vote is sent.
    /// `false` is the bug of ongardie/raft.tla's `Raft_Term_Not_Persisted.tla`: a server
    /// that crashes after voting forgets its vote and can vote twice in one term.
    pub persist_term_before_vote: bool,
    /// Bug switch (Ongaro, raft-dev, July 2015, "bug in single-server membership
    /// changes"): a new leader may change the configuration before committing an entry of
    /// its term; with a change left uncommitted by the previous leader, two disjoint
    /// majorities can form, two leaders lead, and a committed entry can be lost.
    pub single_server_change_without_noop: bool,
    /// Fsync tokens this server uses start here (see `env.rs`).
    pub token_base: u64,
    /// Prefix of this server's file names on the host's disk.
    pub file_prefix: String,
}

impl RaftConfig {
    /// A correct configuration with the paper's usual timing (150–300 ms, §9.3).
    pub fn new(voters: Vec<NodeId>) -> Self {
        RaftConfig {
            voters,
            election_timeout_min_ns: 150_000_000,
            election_timeout_max_ns: 300_000_000,
            heartbeat_interval_ns: 50_000_000,
            pre_vote: true,
            check_quorum: true,
            leader_noop: true,
            max_entries_per_append: 64,
            lease_reads: false,
            lease_drift_bound_ppm: 100_000,
            commit_previous_term_by_counting: false,
            persist_term_before_vote: true,
            single_server_change_without_noop: false,
            token_base: 1 << 48,
            file_prefix: "raft/".into(),
        }
    }
    fn lease_ns(&self) -> u64 {
        let keep = 1_000_000u64.saturating_sub(self.lease_drift_bound_ppm as u64);
        (self.election_timeout_min_ns as u128 * keep as u128 / 1_000_000) as u64
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Follower,
    /// Running a Pre-Vote round (thesis §9.6); still a follower as far as terms go.
    PreCandidate,
    Candidate,
    Leader,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Follower => "follower",
            Role::PreCandidate => "pre-candidate",
            Role::Candidate => "candidate",
            Role::Leader => "leader",
        }
    }
}

/// The leader's view of one follower (Figure 2, "Volatile state on leaders").
#[derive(Clone, Debug, Default)]
struct Progress {
    next_index: Index,
    match_index: Index,
    /// An AppendEntries with entries is unanswered: wait before sending more.
    inflight: bool,
    /// Highest heartbeat round the follower answered in this term.
    acked_round: u64,
    /// Answered since the last CheckQuorum tick.
    active: bool,
}

/// A read waiting for ReadIndex's conditions (thesis §6.4).
#[derive(Clone, Debug)]
struct PendingRead {
    id: u64,
    /// The commit index when the read arrived (None until the leader has committed an
    /// entry of its term: step 1 of §6.4).
    read_index: Option<Index>,
    /// A heartbeat round sent after the read arrived; once a majority answers it, the
    /// leader knows it was still the leader (step 3).
    round_needed: u64,
}

/// What the host must act on after a call: entries to apply in order, reads whose
/// conditions hold, reads refused, and a snapshot to restore first.
#[derive(Clone, Debug)]
pub struct Ready<C> {
    /// A snapshot (from disk at start, or from the leader) to load before `committed`.
    pub restore: Option<Snapshot>,
    pub committed: Vec<(Index, Entry<C>)>,
    /// Read ids that can now be answered from the state machine.
    pub reads_ready: Vec<u64>,
    /// Read ids dropped because this server stopped leading.
    pub reads_failed: Vec<u64>,
}

impl<C> Default for Ready<C> {
    fn default() -> Self {
        Ready {
            restore: None,
            committed: Vec::new(),
            reads_ready: Vec::new(),
            reads_failed: Vec::new(),
        }
    }
}

/// Why a membership change was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigRefused {
    NotLeader(Option<NodeId>),
    /// Only one server may be added or removed at a time (thesis §4.1).
    NotSingleServer,
    /// The previous change is not committed yet.
    ChangeInProgress,
    /// No entry of the leader's term is committed yet (raft-dev 2015 fix).
    NoEntryCommittedInTerm,
}

/// Why a proposal or read was refused: this server is not the leader; `hint` is who it
/// thinks leads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotLeader {
    pub hint: Option<NodeId>,
}

#[derive(Debug)]
pub struct RaftServer<C> {
    pub cfg: RaftConfig,
    files: Files,
    hard: HardState,
    log: Log<C>,
    file: LogFile,
    snapshot: Option<Snapshot>,
    restore: Option<Snapshot>,
    role: Role,
    leader: Option<NodeId>,
    commit_index: Index,
    last_applied: Index,
    /// The voting configuration in effect: the latest `Config` entry in the log
    /// (committed or not, thesis §4.1), else `cfg.voters`.
    config: Vec<NodeId>,
    /// During joint consensus, C_new (decisions need majorities of both `config` and it).
    config_new: Option<Vec<NodeId>>,
    /// Index of the entry that set `config` (0: the initial configuration).
    config_index: Index,
    votes: BTreeSet<NodeId>,
    /// Servers that answered this candidacy (granted or not).
    answered: BTreeSet<NodeId>,
    progress: BTreeMap<NodeId, Progress>,
    /// The own log is durable up to here (a leader counts itself only this far).
    durable_index: Index,
    unsynced: bool,
    sync_in_flight: bool,
    next_token: u64,
    /// Replies that depend on unsynced writes, sent when the fsync completes.
    held: Vec<(NodeId, RaftMsg<C>)>,
    round: u64,
    round_sent_at: BTreeMap<u64, u64>,
    quorum_round: u64,
    /// Local time when a majority last confirmed this leader (start of that round).
    quorum_at: Option<u64>,
    lease_until: u64,
    reads: Vec<PendingRead>,
    read_round_outstanding: bool,
    failed_reads: Vec<u64>,
    /// Local time before which no election may start (§5.2's randomized timeout).
    election_due: u64,
    /// Local time the pending election timer fires, if one is set.
    election_timer_at: Option<u64>,
    /// Local time of the last AppendEntries from a current leader.
    heard_leader_at: Option<u64>,
    /// A disk write failed: the server stops, as etcd does on a WAL error.
    stopped: bool,
    /// Ghost counters for checks: times a healthy leader was deposed by a server that
    /// could not win (thesis §9.6, etcd #9333), and a description of the last.
    pub disruptions: u64,
    pub last_disruption: String,
    pub last_disruptor: Option<NodeId>,
    /// Times this server became leader.
    pub elections_won: u64,
    /// Bumped whenever entries leave the log (truncation, compaction), for checkers.
    pub log_epoch: u64,
}

impl<C: Command> RaftServer<C> {
    /// A server with no volatile state; `start` reads the disk.
    pub fn new(cfg: RaftConfig) -> Self {
        let files = Files::new(&cfg.file_prefix);
        let config = cfg.voters.clone();
        RaftServer {
            cfg,
            files,
            hard: HardState::default(),
            log: Log::default(),
            file: LogFile::default(),
            snapshot: None,
            restore: None,
            role: Role::Follower,
            leader: None,
            commit_index: 0,
            last_applied: 0,
            config,
            config_new: None,
            config_index: 0,
            votes: BTreeSet::new(),
            answered: BTreeSet::new(),
            progress: BTreeMap::new(),
            durable_index: 0,
            unsynced: false,
            sync_in_flight: false,
            next_token: 0,
            held: Vec::new(),
            round: 0,
            round_sent_at: BTreeMap::new(),
            quorum_round: 0,
            quorum_at: None,
            lease_until: 0,
            reads: Vec::new(),
            read_round_outstanding: false,
            failed_reads: Vec::new(),
            heard_leader_at: None,
            election_due: 0,
            election_timer_at: None,
            stopped: false,
            disruptions: 0,
            last_disruption: String::new(),
            last_disruptor: None,
            elections_won: 0,
            log_epoch: 0,
        }
    }

    // ----- read-only accessors (for hosts and checkers) -----

    pub fn role(&self) -> Role {
        self.role
    }
    pub fn is_leader(&self) -> bool {
        self.role == Role::Leader && !self.stopped
    }
    pub fn term(&self) -> Term {
        self.hard.term
    }
    pub fn voted_for(&self) -> Option<NodeId> {
        self.hard.voted_for
    }
    pub fn leader_hint(&self) -> Option<NodeId> {
        self.leader
    }
    pub fn commit_index(&self) -> Index {
        self.commit_index
    }
    pub fn last_applied(&self) -> Index {
        self.last_applied
    }
    pub fn log(&self) -> &Log<C> {
        &self.log
    }
    pub fn snapshot(&self) -> Option<&Snapshot> {
        self.snapshot.as_ref()
    }
    /// The leader holds a valid lease now (thesis §6.4.1).
    pub fn lease_valid(&self, now: u64) -> bool {
        self.is_leader() && now < self.lease_until
    }

    // ----- entry points -----

    /// After boot or restart: rebuild from the disk alone (Figure 2's persistent state;
    /// commitIndex and lastApplied are volatile and start at the snapshot, §7).
    pub fn start(&mut self, env: &mut impl RaftEnv<C>) {
        let loaded = storage::load::<C>(env.disk(), &self.files);
        for d in loaded.damage {
            env.note("raft-disk-damage", d);
        }
        self.hard = loaded.hard;
        self.log = loaded.log;
        self.file = loaded.file;
        self.durable_index = self.log.last_index();
        self.refresh_config();
        if let Some(s) = loaded.snapshot {
            self.commit_index = s.index;
            self.last_applied = s.index;
            self.restore = Some(s.clone());
            self.snapshot = Some(s);
        }
        env.note(
            "raft-recovered",
            format!(
                "term {} voted for {:?}, log {}..={} (last term {})",
                self.hard.term,
                self.hard.voted_for.map(|n| n.0),
                self.log.first_index(),
                self.log.last_index(),
                self.log.last_term()
            ),
        );
        self.reset_election_timer(env);
    }

    pub fn on_message(&mut self, env: &mut impl RaftEnv<C>, from: NodeId, msg: RaftMsg<C>) {
        if self.stopped {
            return;
        }
        match msg {
            RaftMsg::RequestVote {
                term,
                last_log_index,
                last_log_term,
                pre_vote,
            } => self.on_request_vote(env, from, term, last_log_index, last_log_term, pre_vote),
            RaftMsg::RequestVoteReply {
                term,
                granted,
                pre_vote,
            } => self.on_vote_reply(env, from, term, granted, pre_vote),
            RaftMsg::AppendEntries {
                term,
                prev_log_index,
                prev_log_term,
                entries,
                leader_commit,
                round,
            } => self.on_append(
                env,
                from,
                term,
                prev_log_index,
                prev_log_term,
                entries,
                leader_commit,
                round,
            ),
            RaftMsg::AppendEntriesReply {
                term,
                success,
                match_index,
                conflict_term,
                conflict_index,
                round,
            } => self.on_append_reply(
                env,
                from,
                term,
                success,
                match_index,
                conflict_term,
                conflict_index,
                round,
            ),
            RaftMsg::InstallSnapshot {
                term,
                last_included_index,
                last_included_term,
                digest,
                data,
                round,
            } => {
                let s = Snapshot {
                    index: last_included_index,
                    term: last_included_term,
                    digest,
                    data,
                };
                self.on_install_snapshot(env, from, term, s, round)
            }
        }
    }

    pub fn on_timer(&mut self, env: &mut impl RaftEnv<C>, timer: RaftTimer) {
        if self.stopped {
            return;
        }
        match (timer, self.role) {
            (RaftTimer::Election, Role::Leader) => {
                self.election_timer_at = None;
                self.check_quorum_tick(env)
            }
            (RaftTimer::Election, _) => {
                self.election_timer_at = None;
                let now = env.now();
                if now < self.election_due {
                    // A leader was heard since the timer was set: wait out the rest (at
                    // most one maximum timeout, should the clock have jumped back).
                    let rest = (self.election_due - now).min(self.cfg.election_timeout_max_ns);
                    self.arm_election_timer(env, rest);
                    return;
                }
                if !self.is_member(env.id()) {
                    // Not a voter (a spare, or removed): it never campaigns (thesis §4.2.3).
                    self.reset_election_timer(env);
                    return;
                }
                if self.cfg.pre_vote {
                    self.start_pre_vote(env);
                } else {
                    self.start_election(env);
                }
            }
            (RaftTimer::Heartbeat, Role::Leader) => {
                for p in self.progress.values_mut() {
                    p.inflight = false;
                }
                self.broadcast(env);
                env.set_timer(RaftTimer::Heartbeat, self.cfg.heartbeat_interval_ns);
            }
            (RaftTimer::Heartbeat, Role::Candidate) => {
                // §5.1: RPCs are retried when no response comes in time.
                let waiting: Vec<NodeId> = self
                    .others(env)
                    .into_iter()
                    .filter(|p| !self.answered.contains(p))
                    .collect();
                for to in waiting {
                    let msg = RaftMsg::RequestVote {
                        term: self.hard.term,
                        last_log_index: self.log.last_index(),
                        last_log_term: self.log.last_term(),
                        pre_vote: false,
                    };
                    self.send_vote_msg(env, to, msg);
                }
                env.set_timer(RaftTimer::Heartbeat, self.cfg.heartbeat_interval_ns);
            }
            (RaftTimer::Heartbeat, _) => {}
        }
    }

    /// An fsync completed. Returns false when the token is not this server's.
    pub fn on_io(&mut self, env: &mut impl RaftEnv<C>, token: u64, ok: bool) -> bool {
        if !crate::env::owns_token(self.cfg.token_base, token) {
            return false;
        }
        self.sync_in_flight = false;
        if self.stopped {
            return true;
        }
        if ok {
            // Every write made until now is durable (dsim's fsync semantics).
            self.unsynced = false;
            self.durable_index = self.log.last_index();
            for (to, msg) in std::mem::take(&mut self.held) {
                env.send(to, msg);
            }
            if self.role == Role::Leader {
                self.maybe_commit(env);
            }
        } else {
            env.note("raft-fsync-failed", "fsync failed; retrying".into());
            self.request_sync(env);
        }
        true
    }

    /// Appends a command if this server leads (§5.3); it commits later, or never.
    pub fn propose(&mut self, env: &mut impl RaftEnv<C>, command: C) -> Result<Index, NotLeader> {
        if !self.is_leader() {
            return Err(NotLeader { hint: self.leader });
        }
        let entry = Entry {
            term: self.hard.term,
            payload: Payload::Command(command),
        };
        let index = self
            .append_local(env, entry)
            .ok_or(NotLeader { hint: None })?;
        let peers: Vec<NodeId> = self.progress.keys().copied().collect();
        for p in peers {
            if !self.progress[&p].inflight {
                self.send_append(env, p);
            }
        }
        Ok(index)
    }

    /// Starts a linearizable read (ReadIndex, thesis §6.4; by lease, §6.4.1, when
    /// `lease_reads`). The id comes back in `Ready::reads_ready` once the state machine
    /// may answer it, or in `reads_failed`.
    pub fn read_index(&mut self, env: &mut impl RaftEnv<C>, id: u64) -> Result<(), NotLeader> {
        if !self.is_leader() {
            return Err(NotLeader { hint: self.leader });
        }
        let committed_in_term = self.log.term_at(self.commit_index) == Some(self.hard.term);
        let read_index = committed_in_term.then_some(self.commit_index);
        if self.cfg.lease_reads && committed_in_term && env.now() < self.lease_until {
            self.reads.push(PendingRead {
                id,
                read_index,
                round_needed: 0,
            });
        } else {
            self.reads.push(PendingRead {
                id,
                read_index,
                round_needed: self.round + 1,
            });
            if !self.read_round_outstanding {
                self.read_round_outstanding = true;
                self.broadcast(env);
            }
        }
        Ok(())
    }

    /// Everything the host must apply or answer now. Call after every entry point.
    pub fn take_ready(&mut self) -> Ready<C> {
        let mut ready = Ready {
            restore: self.restore.take(),
            ..Ready::default()
        };
        if self.commit_index > self.last_applied {
            for i in self.last_applied + 1..=self.commit_index {
                if let Some(e) = self.log.get(i) {
                    ready.committed.push((i, e.clone()));
                }
            }
            self.last_applied = self.commit_index;
        }
        let (applied, quorum) = (self.last_applied, self.quorum_round);
        self.reads.retain(|r| {
            let done = r.read_index.is_some_and(|i| i <= applied) && r.round_needed <= quorum;
            if done {
                ready.reads_ready.push(r.id);
            }
            !done
        });
        ready.reads_failed = std::mem::take(&mut self.failed_reads);
        ready
    }

    /// Log compaction (§7): the host's state machine, serialized as `data`, reflects every
    /// entry up to `index` (at most `last_applied`). Older entries leave the log.
    pub fn compact(&mut self, env: &mut impl RaftEnv<C>, index: Index, data: Vec<u8>) {
        if self.stopped || index <= self.log.base_index() || index > self.last_applied {
            return;
        }
        let (Some(term), Some(digest)) = (self.log.term_at(index), self.log.digest_at(index))
        else {
            return;
        };
        let s = Snapshot {
            index,
            term,
            digest,
            data,
        };
        if env
            .disk()
            .put_atomic(&self.files.snapshot, &storage::encode_snapshot(&s))
            .is_err()
        {
            return self.stop(env, "writing a snapshot");
        }
        self.log.compact_to(index, term, digest);
        self.log_epoch += 1;
        if self
            .file
            .rewrite(env.disk(), &self.files.log, &self.log)
            .is_err()
        {
            return self.stop(env, "rewriting the log after a snapshot");
        }
        env.note(
            "raft-snapshot",
            format!("log compacted up to index {index} (term {term})"),
        );
        self.snapshot = Some(s);
        self.unsynced = true;
        self.request_sync(env);
    }

    /// Single-server membership change (thesis §4.1, §4.3): proposes `voters` as the
    /// new configuration. Refused unless this server leads, the change adds or removes
    /// exactly one server, no other change is uncommitted, and — the rule Ongaro added on
    /// raft-dev in 2015 ("bug in single-server membership changes") — an entry of the
    /// current term has been committed. `single_server_change_without_noop` skips that rule.
    pub fn propose_config(
        &mut self,
        env: &mut impl RaftEnv<C>,
        voters: Vec<NodeId>,
    ) -> Result<Index, ConfigRefused> {
        if !self.is_leader() {
            return Err(ConfigRefused::NotLeader(self.leader));
        }
        let added = voters.iter().filter(|v| !self.config.contains(v)).count();
        let removed = self.config.iter().filter(|v| !voters.contains(v)).count();
        if added + removed != 1 || voters.is_empty() {
            return Err(ConfigRefused::NotSingleServer);
        }
        if self.config_index > self.commit_index || self.config_new.is_some() {
            return Err(ConfigRefused::ChangeInProgress);
        }
        let committed_in_term = self.log.term_at(self.commit_index) == Some(self.hard.term);
        if !committed_in_term && !self.cfg.single_server_change_without_noop {
            return Err(ConfigRefused::NoEntryCommittedInTerm);
        }
        let what = format!(
            "voters {:?}",
            voters.iter().map(|v| v.0).collect::<Vec<_>>()
        );
        self.append_config(env, Payload::Config(voters), &what)
    }

    /// Appends a configuration entry as leader, says so, and sends it to every peer.
    fn append_config(
        &mut self,
        env: &mut impl RaftEnv<C>,
        payload: Payload<C>,
        what: &str,
    ) -> Result<Index, ConfigRefused> {
        let term = self.hard.term;
        let index = self
            .append_local(env, Entry { term, payload })
            .ok_or(ConfigRefused::NotLeader(None))?;
        env.note("raft-config", format!("proposed {what} at index {index}"));
        let peers: Vec<NodeId> = self.progress.keys().copied().collect();
        for p in peers {
            self.send_append(env, p);
        }
        Ok(index)
    }

    /// Joint consensus (§6; thesis §4.3): proposes any new set of voters. The leader
    /// appends C_old,new; once that commits it appends C_new by itself; a leader not in
    /// C_new steps down once C_new commits (§6, thesis §4.2.2). Refused while another
    /// change is uncommitted.
    pub fn propose_joint(
        &mut self,
        env: &mut impl RaftEnv<C>,
        voters: Vec<NodeId>,
    ) -> Result<Index, ConfigRefused> {
        if !self.is_leader() {
            return Err(ConfigRefused::NotLeader(self.leader));
        }
        if voters.is_empty() {
            return Err(ConfigRefused::NotSingleServer);
        }
        if self.config_new.is_some() || self.config_index > self.commit_index {
            return Err(ConfigRefused::ChangeInProgress);
        }
        let what = format!(
            "C_old,new with new voters {:?}",
            voters.iter().map(|v| v.0).collect::<Vec<_>>()
        );
        let old = self.config.clone();
        self.append_config(env, Payload::Joint { old, new: voters }, &what)
    }

    /// The current voting configuration (C_old while joint).
    pub fn config(&self) -> &[NodeId] {
        &self.config
    }

    /// C_new while a joint configuration is in effect.
    pub fn config_new(&self) -> Option<&[NodeId]> {
        self.config_new.as_deref()
    }

    /// A leader replicates to exactly the members of its current configuration.
    fn sync_progress(&mut self, env: &mut impl RaftEnv<C>) {
        if self.role != Role::Leader {
            return;
        }
        let next = self.log.last_index();
        let others = self.others(env);
        self.progress.retain(|n, _| others.contains(n));
        for o in others {
            self.progress.entry(o).or_insert(Progress {
                next_index: next,
                ..Progress::default()
            });
        }
    }

    // ----- elections (§5.2, §5.4.1, thesis §9.6) -----

    fn election_timeout(&self, env: &mut impl RaftEnv<C>) -> u64 {
        let (a, b) = (
            self.cfg.election_timeout_min_ns,
            self.cfg
                .election_timeout_max_ns
                .max(self.cfg.election_timeout_min_ns),
        );
        env.rng().gen_range(a..=b)
    }

    /// Pushes the election deadline a fresh random timeout away (§5.2). The timer itself
    /// is only moved when it would fire too late; when it fires early it re-arms for the
    /// rest (`on_timer`), so a heartbeat costs no timer event.
    fn reset_election_timer(&mut self, env: &mut impl RaftEnv<C>) {
        let now = env.now();
        let t = self.election_timeout(env);
        self.election_due = now + t;
        match self.election_timer_at {
            Some(at) if at <= self.election_due && at >= now => {}
            _ => self.arm_election_timer(env, t),
        }
    }

    fn arm_election_timer(&mut self, env: &mut impl RaftEnv<C>, after_ns: u64) {
        self.election_timer_at = Some(env.now() + after_ns);
        env.set_timer(RaftTimer::Election, after_ns);
    }

    /// Every voter of the configuration in effect (both sides while joint).
    fn members(&self) -> Vec<NodeId> {
        let mut m = self.config.clone();
        if let Some(new) = &self.config_new {
            for n in new {
                if !m.contains(n) {
                    m.push(*n);
                }
            }
        }
        m
    }

    fn is_member(&self, n: NodeId) -> bool {
        self.config.contains(&n) || self.config_new.as_ref().is_some_and(|v| v.contains(&n))
    }

    fn others(&self, env: &impl RaftEnv<C>) -> Vec<NodeId> {
        let me = env.id();
        self.members().into_iter().filter(|v| *v != me).collect()
    }

    /// Whether the servers for which `yes` holds form a quorum: a majority of the
    /// configuration, and while joint a majority of C_new too (§6).
    fn quorum(&self, yes: impl Fn(NodeId) -> bool) -> bool {
        let ok = |set: &[NodeId]| set.iter().filter(|n| yes(**n)).count() > set.len() / 2;
        ok(&self.config) && self.config_new.as_deref().is_none_or(ok)
    }

    /// The highest value a quorum has reached (each server's value from `of`).
    fn quorum_value(&self, of: impl Fn(NodeId) -> Option<u64>) -> Option<u64> {
        // The value a majority has reached: the (n/2)-th largest. Called on every append
        // reply, so configurations of up to 16 voters are ranked on the stack.
        let side = |set: &[NodeId]| -> Option<u64> {
            let rank = |v: &mut [u64]| -> Option<u64> {
                if v.is_empty() {
                    return None;
                }
                let mid = v.len() / 2;
                let (_, m, _) = v.select_nth_unstable_by(mid, |a, b| b.cmp(a));
                Some(*m)
            };
            let mut stack = [0u64; 16];
            if set.len() <= stack.len() {
                let v = &mut stack[..set.len()];
                for (slot, n) in v.iter_mut().zip(set) {
                    *slot = of(*n).unwrap_or(0);
                }
                rank(v)
            } else {
                let mut v: Vec<u64> = set.iter().map(|n| of(*n).unwrap_or(0)).collect();
                rank(&mut v)
            }
        };
        let a = side(&self.config)?;
        match &self.config_new {
            Some(new) => Some(a.min(side(new)?)),
            None => Some(a),
        }
    }

    /// Re-reads the configuration from the log (after a load, append or truncation).
    fn refresh_config(&mut self) {
        let mut i = self.log.last_index();
        while i >= self.log.first_index() && i > 0 {
            match self.log.get(i).map(|e| &e.payload) {
                Some(Payload::Config(v)) => {
                    self.config = v.clone();
                    self.config_new = None;
                    self.config_index = i;
                    return;
                }
                Some(Payload::Joint { old, new }) => {
                    self.config = old.clone();
                    self.config_new = Some(new.clone());
                    self.config_index = i;
                    return;
                }
                _ => {}
            }
            i -= 1;
        }
        if self.config_index > self.log.base_index() || self.config_index == 0 {
            self.config = self.cfg.voters.clone();
            self.config_new = None;
            self.config_index = 0;
        }
    }

    fn start_pre_vote(&mut self, env: &mut impl RaftEnv<C>) {
        self.role = Role::PreCandidate;
        self.leader = None;
        self.votes.clear();
        self.votes.insert(env.id());
        env.note(
            "raft-pre-vote",
            format!("asking for term {}", self.hard.term + 1),
        );
        self.reset_election_timer(env);
        if self.quorum(|n| self.votes.contains(&n)) {
            return self.start_election(env);
        }
        for to in self.others(env) {
            env.send(
                to,
                RaftMsg::RequestVote {
                    term: self.hard.term + 1,
                    last_log_index: self.log.last_index(),
                    last_log_term: self.log.last_term(),
                    pre_vote: true,
                },
            );
        }
    }

    fn start_election(&mut self, env: &mut impl RaftEnv<C>) {
        let me = env.id();
        self.role = Role::Candidate;
        self.leader = None;
        self.hard = HardState {
            term: self.hard.term + 1,
            voted_for: Some(me),
        };
        self.save_hard(env);
        self.votes.clear();
        self.votes.insert(me);
        env.note("raft-candidate", format!("term {}", self.hard.term));
        self.reset_election_timer(env);
        self.answered.clear();
        env.set_timer(RaftTimer::Heartbeat, self.cfg.heartbeat_interval_ns);
        if self.quorum(|n| self.votes.contains(&n)) {
            return self.become_leader(env);
        }
        for to in self.others(env) {
            let msg = RaftMsg::RequestVote {
                term: self.hard.term,
                last_log_index: self.log.last_index(),
                last_log_term: self.log.last_term(),
                pre_vote: false,
            };
            // The candidate's own vote is persistent state too (Figure 2).
            self.send_vote_msg(env, to, msg);
        }
    }

    /// Sends a vote-related message: after the fsync of currentTerm/votedFor, or at once
    /// with the `persist_term_before_vote = false` bug.
    fn send_vote_msg(&mut self, env: &mut impl RaftEnv<C>, to: NodeId, msg: RaftMsg<C>) {
        if self.cfg.persist_term_before_vote {
            self.reply(env, to, msg);
        } else {
            env.send(to, msg);
        }
    }

    fn log_up_to_date(&self, last_log_index: Index, last_log_term: Term) -> bool {
        (last_log_term, last_log_index) >= (self.log.last_term(), self.log.last_index())
    }

    /// Heard from a current leader within the minimum election timeout (§4.2.3).
    fn leader_recently_heard(&self, now: u64) -> bool {
        self.heard_leader_at
            .is_some_and(|t| now.saturating_sub(t) < self.cfg.election_timeout_min_ns)
    }

    fn on_request_vote(
        &mut self,
        env: &mut impl RaftEnv<C>,
        from: NodeId,
        term: Term,
        last_log_index: Index,
        last_log_term: Term,
        pre_vote: bool,
    ) {
        let now = env.now();
        let up_to_date = self.log_up_to_date(last_log_index, last_log_term);
        // Leader stickiness (thesis §4.2.3, with CheckQuorum as in etcd): a server that
        // hears from a leader, or is one, ignores requests to replace it.
        let sticky = self.cfg.check_quorum
            && (self.role == Role::Leader || self.leader_recently_heard(now))
            && term > self.hard.term;
        if pre_vote {
            // Thesis §9.6: grant if the candidate could win and no leader is heard.
            let granted = term > self.hard.term
                && up_to_date
                && self.role != Role::Leader
                && !self.leader_recently_heard(now);
            env.send(
                from,
                RaftMsg::RequestVoteReply {
                    term: self.hard.term,
                    granted,
                    pre_vote: true,
                },
            );
            return;
        }
        if sticky {
            env.send(
                from,
                RaftMsg::RequestVoteReply {
                    term: self.hard.term,
                    granted: false,
                    pre_vote: false,
                },
            );
            return;
        }
        if term > self.hard.term {
            if self.role == Role::Leader {
                self.note_disruption(env, from, "a RequestVote", up_to_date, last_log_index);
            }
            self.become_follower(env, term, None);
        }
        let granted =
            term == self.hard.term && up_to_date && self.hard.voted_for.is_none_or(|v| v == from);
        if granted {
            if self.hard.voted_for.is_none() {
                self.hard.voted_for = Some(from);
                self.save_hard(env);
            }
            self.reset_election_timer(env);
        }
        let reply = RaftMsg::RequestVoteReply {
            term: self.hard.term,
            granted,
            pre_vote: false,
        };
        self.send_vote_msg(env, from, reply);
    }

    /// A leader deposed by a higher term from a server whose log lacks entries the leader
    /// has committed: that server cannot win, so the election only disrupts (thesis §9.6).
    /// Counted when the leader was healthy (a majority answered within an election timeout).
    fn note_disruption(
        &mut self,
        env: &mut impl RaftEnv<C>,
        from: NodeId,
        what: &str,
        up_to_date: bool,
        their_last: Index,
    ) {
        let now = env.now();
        let healthy = self
            .quorum_at
            .is_some_and(|t| now.saturating_sub(t) < self.cfg.election_timeout_min_ns);
        let behind = !up_to_date && their_last < self.commit_index;
        if healthy && behind {
            self.disruptions += 1;
            self.last_disruption = format!(
                "leader of term {} (commit index {}) was deposed by {what} with a higher term from a server \
                 whose log (last index {their_last}) lacks committed entries, while a majority was answering it",
                self.hard.term, self.commit_index
            );
            self.last_disruptor = Some(from);
            env.note(
                "raft-disrupted",
                format!("by node {}: {}", from.0, self.last_disruption),
            );
        }
    }

    fn on_vote_reply(
        &mut self,
        env: &mut impl RaftEnv<C>,
        from: NodeId,
        term: Term,
        granted: bool,
        pre_vote: bool,
    ) {
        if term > self.hard.term && !granted {
            self.become_follower(env, term, None);
            return;
        }
        if pre_vote {
            if self.role == Role::PreCandidate && granted {
                self.votes.insert(from);
                if self.quorum(|n| self.votes.contains(&n)) {
                    self.start_election(env);
                }
            }
            return;
        }
        if self.role == Role::Candidate && term == self.hard.term {
            self.answered.insert(from);
        }
        if self.role == Role::Candidate && term == self.hard.term && granted {
            self.votes.insert(from);
            if self.quorum(|n| self.votes.contains(&n)) {
                self.become_leader(env);
            }
        }
    }

    fn become_follower(&mut self, env: &mut impl RaftEnv<C>, term: Term, leader: Option<NodeId>) {
        let was = self.role;
        if term > self.hard.term {
            self.hard = HardState {
                term,
                voted_for: None,
            };
            self.save_hard(env);
        }
        self.role = Role::Follower;
        self.leader = leader;
        if was == Role::Leader {
            env.note("raft-step-down", format!("now follower in term {term}"));
            env.cancel_timer(RaftTimer::Heartbeat);
            self.progress.clear();
            self.lease_until = 0;
            self.quorum_at = None;
            self.read_round_outstanding = false;
            self.failed_reads.extend(self.reads.drain(..).map(|r| r.id));
            self.reset_election_timer(env);
        } else if was != Role::Follower {
            self.reset_election_timer(env);
        }
    }

    fn become_leader(&mut self, env: &mut impl RaftEnv<C>) {
        let now = env.now();
        self.role = Role::Leader;
        self.leader = Some(env.id());
        self.elections_won += 1;
        // Election time as this server saw it: from the last word of the old leader.
        if let Some(t) = self.heard_leader_at {
            let ms = now.saturating_sub(t) / 1_000_000;
            env.metric("election_ms", ms as i64);
            env.note(
                "raft-election-time",
                format!(
                    "{ms} ms from the last heartbeat this server heard to leading term {}",
                    self.hard.term
                ),
            );
        }
        self.heard_leader_at = None;
        env.note("raft-leader", format!("term {}", self.hard.term));
        let next = self.log.last_index() + 1;
        self.progress = self
            .others(env)
            .into_iter()
            .map(|p| {
                (
                    p,
                    Progress {
                        next_index: next,
                        ..Progress::default()
                    },
                )
            })
            .collect();
        self.round_sent_at.clear();
        self.quorum_round = self.round;
        self.quorum_at = None;
        self.lease_until = 0;
        if self.cfg.leader_noop {
            let term = self.hard.term;
            self.append_local(
                env,
                Entry {
                    term,
                    payload: Payload::Noop,
                },
            );
        }
        self.broadcast(env);
        env.set_timer(RaftTimer::Heartbeat, self.cfg.heartbeat_interval_ns);
        self.arm_election_timer(env, self.cfg.election_timeout_min_ns);
        if self.progress.is_empty() {
            self.maybe_commit(env);
        }
    }

    /// CheckQuorum (thesis §6.2): a leader that has not heard from a majority during the
    /// last election timeout steps down.
    fn check_quorum_tick(&mut self, env: &mut impl RaftEnv<C>) {
        if self.cfg.check_quorum {
            let me = env.id();
            let active = 1 + self.progress.values().filter(|p| p.active).count();
            if !self.quorum(|n| n == me || self.progress.get(&n).is_some_and(|p| p.active)) {
                env.note(
                    "raft-check-quorum",
                    format!(
                        "heard from {active} of {} servers in an election timeout; stepping down",
                        self.members().len()
                    ),
                );
                let term = self.hard.term;
                self.become_follower(env, term, None);
                return;
            }
        }
        for p in self.progress.values_mut() {
            p.active = false;
        }
        self.arm_election_timer(env, self.cfg.election_timeout_min_ns);
    }

    // ----- replication (§5.3) -----

    fn broadcast(&mut self, env: &mut impl RaftEnv<C>) {
        self.round += 1;
        self.round_sent_at.insert(self.round, env.now());
        let peers: Vec<NodeId> = self.progress.keys().copied().collect();
        for p in peers {
            self.send_append(env, p);
        }
    }

    fn send_append(&mut self, env: &mut impl RaftEnv<C>, to: NodeId) {
        let (term, commit, round) = (self.hard.term, self.commit_index, self.round);
        let last = self.log.last_index();
        let max = self.cfg.max_entries_per_append.max(1) as u64;
        let Some(p) = self.progress.get_mut(&to) else {
            return;
        };
        if p.next_index <= self.log.base_index() {
            if let Some(s) = &self.snapshot {
                env.send(
                    to,
                    RaftMsg::InstallSnapshot {
                        term,
                        last_included_index: s.index,
                        last_included_term: s.term,
                        digest: s.digest,
                        data: s.data.clone(),
                        round,
                    },
                );
                p.next_index = s.index + 1;
                p.inflight = true;
                return;
            }
            p.next_index = self.log.first_index();
        }
        let prev = p.next_index - 1;
        let prev_term = self.log.term_at(prev).unwrap_or(0);
        let to_index = last.min(prev + max);
        let entries = if to_index > prev {
            self.log.slice(prev + 1, to_index)
        } else {
            Vec::new()
        };
        p.inflight = !entries.is_empty();
        p.next_index = prev + entries.len() as u64 + 1;
        env.send(
            to,
            RaftMsg::AppendEntries {
                term,
                prev_log_index: prev,
                prev_log_term: prev_term,
                entries,
                leader_commit: commit,
                round,
            },
        );
    }

    /// Adopts a leader's term and resets the election timer (§5.2).
    fn heard_from_leader(&mut self, env: &mut impl RaftEnv<C>, from: NodeId, term: Term) {
        if term > self.hard.term || self.role != Role::Follower {
            self.become_follower(env, term, Some(from));
        }
        self.leader = Some(from);
        self.heard_leader_at = Some(env.now());
        self.reset_election_timer(env);
    }

    #[allow(clippy::too_many_arguments)]
    fn on_append(
        &mut self,
        env: &mut impl RaftEnv<C>,
        from: NodeId,
        term: Term,
        mut prev: Index,
        mut prev_term: Term,
        mut entries: Vec<Entry<C>>,
        leader_commit: Index,
        round: u64,
    ) {
        if term < self.hard.term {
            let reply = self.append_reply(false, 0, None, 0, round);
            return self.reply(env, from, reply);
        }
        self.heard_from_leader(env, from, term);
        // Entries inside our snapshot are committed, hence identical (Log Matching).
        let base = self.log.base_index();
        if prev < base {
            let skip = (base - prev) as usize;
            if skip >= entries.len() {
                let m = prev + entries.len() as u64;
                let reply = self.append_reply(true, m, None, 0, round);
                return self.reply(env, from, reply);
            }
            entries.drain(..skip);
            prev = base;
            prev_term = self.log.term_at(base).unwrap_or(0);
        }
        match self.log.term_at(prev) {
            None => {
                let hint = self.log.last_index() + 1;
                let reply = self.append_reply(false, 0, None, hint, round);
                return self.reply(env, from, reply);
            }
            Some(t) if t != prev_term => {
                let first = self.log.first_index_of_term(prev, t);
                let reply = self.append_reply(false, 0, Some(t), first, round);
                return self.reply(env, from, reply);
            }
            Some(_) => {}
        }
        let new_last = prev + entries.len() as u64;
        for (k, e) in entries.into_iter().enumerate() {
            let i = prev + 1 + k as u64;
            match self.log.term_at(i) {
                Some(t) if t == e.term => continue,
                Some(_) => {
                    if i <= self.commit_index {
                        env.note(
                            "raft-truncate-committed",
                            format!(
                                "overwriting entry {i} at or below commit index {}",
                                self.commit_index
                            ),
                        );
                    }
                    self.log.truncate_from(i);
                    self.log_epoch += 1;
                    if self.config_index >= i {
                        self.refresh_config();
                    }
                    self.file.truncate_from(env.disk(), &self.files.log, i);
                    self.durable_index = self.durable_index.min(i - 1);
                    self.unsynced = true;
                    if self.append_local(env, e).is_none() {
                        return;
                    }
                }
                None => {
                    if self.append_local(env, e).is_none() {
                        return;
                    }
                }
            }
        }
        if leader_commit > self.commit_index {
            self.commit_index = leader_commit.min(new_last).max(self.commit_index);
        }
        let reply = self.append_reply(true, new_last, None, 0, round);
        self.reply(env, from, reply);
    }

    fn append_reply(
        &self,
        success: bool,
        match_index: Index,
        conflict_term: Option<Term>,
        conflict_index: Index,
        round: u64,
    ) -> RaftMsg<C> {
        RaftMsg::AppendEntriesReply {
            term: self.hard.term,
            success,
            match_index,
            conflict_term,
            conflict_index,
            round,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_append_reply(
        &mut self,
        env: &mut impl RaftEnv<C>,
        from: NodeId,
        term: Term,
        success: bool,
        match_index: Index,
        conflict_term: Option<Term>,
        conflict_index: Index,
        round: u64,
    ) {
        if term > self.hard.term {
            if self.role == Role::Leader {
                let theirs = self.progress.get(&from).map_or(0, |p| p.match_index);
                self.note_disruption(env, from, "an AppendEntries reply", false, theirs);
            }
            self.become_follower(env, term, None);
            return;
        }
        if self.role != Role::Leader || term != self.hard.term {
            return;
        }
        let last = self.log.last_index();
        let Some(p) = self.progress.get_mut(&from) else {
            return;
        };
        p.active = true;
        p.inflight = false;
        p.acked_round = p.acked_round.max(round);
        if success {
            p.match_index = p.match_index.max(match_index);
            p.next_index = p.next_index.max(p.match_index + 1);
        } else {
            // Fast backtracking (§5.3; thesis §3.5): skip the whole conflicting term.
            let next = match conflict_term {
                Some(t) => self
                    .log
                    .last_index_of_term(t)
                    .map_or(conflict_index, |i| i + 1),
                None => conflict_index,
            };
            p.next_index = next.max(p.match_index + 1).max(1);
        }
        let more = p.next_index <= last;
        self.update_quorum_round(env);
        if success {
            self.maybe_commit(env);
        }
        if more && self.role == Role::Leader {
            self.send_append(env, from);
        }
    }

    fn on_install_snapshot(
        &mut self,
        env: &mut impl RaftEnv<C>,
        from: NodeId,
        term: Term,
        s: Snapshot,
        round: u64,
    ) {
        if term < self.hard.term {
            let reply = self.append_reply(false, 0, None, 0, round);
            return self.reply(env, from, reply);
        }
        self.heard_from_leader(env, from, term);
        let index = s.index;
        if index > self.commit_index {
            if env
                .disk()
                .put_atomic(&self.files.snapshot, &storage::encode_snapshot(&s))
                .is_err()
            {
                return self.stop(env, "writing a received snapshot");
            }
            // §7: keep the log suffix if it extends the snapshot, else discard the log.
            self.log.compact_to(s.index, s.term, s.digest);
            self.log_epoch += 1;
            if self
                .file
                .rewrite(env.disk(), &self.files.log, &self.log)
                .is_err()
            {
                return self.stop(env, "rewriting the log after a snapshot");
            }
            self.unsynced = true;
            self.durable_index = self.durable_index.min(self.log.last_index());
            self.commit_index = index;
            self.last_applied = index;
            env.note(
                "raft-install-snapshot",
                format!("snapshot up to index {index} from node {}", from.0),
            );
            self.restore = Some(s.clone());
            self.snapshot = Some(s);
        }
        let reply = self.append_reply(true, index, None, 0, round);
        self.reply(env, from, reply);
    }

    /// The commit rule (§5.3, §5.4.2): the highest index stored by a majority, if it is
    /// of the leader's term (or, with the Figure 8 bug, of any term).
    fn maybe_commit(&mut self, env: &mut impl RaftEnv<C>) {
        let me = env.id();
        let own = self.durable_index.min(self.log.last_index());
        let Some(n) = self.quorum_value(|x| {
            if x == me {
                Some(own)
            } else {
                self.progress.get(&x).map(|p| p.match_index)
            }
        }) else {
            return;
        };
        if n <= self.commit_index {
            return;
        }
        let term = self.log.term_at(n);
        if term == Some(self.hard.term) || self.cfg.commit_previous_term_by_counting {
            if term != Some(self.hard.term) {
                env.note(
                    "raft-commit-by-counting",
                    format!(
                        "committing index {n} of term {term:?} by counting replicas in term {}",
                        self.hard.term
                    ),
                );
            }
            self.commit_index = n;
            // ReadIndex step 1: reads that waited for a commit in this term.
            if term == Some(self.hard.term) {
                for r in &mut self.reads {
                    if r.read_index.is_none() {
                        r.read_index = Some(n);
                    }
                }
            }
            // Followers learn the new commit index with the next AppendEntries or
            // heartbeat (§5.3): no message of its own.
            // Thesis §4.2.2: a leader removed from the configuration steps down once
            // the configuration that removes it is committed.
            // §6: once C_old,new is committed, the leader appends C_new.
            if self.config_index <= n {
                if let Some(new) = self.config_new.clone() {
                    let term = self.hard.term;
                    env.note(
                        "raft-config",
                        format!(
                            "C_old,new committed; appending C_new {:?}",
                            new.iter().map(|v| v.0).collect::<Vec<_>>()
                        ),
                    );
                    self.append_local(
                        env,
                        Entry {
                            term,
                            payload: Payload::Config(new),
                        },
                    );
                    let peers: Vec<NodeId> = self.progress.keys().copied().collect();
                    for p in peers {
                        self.send_append(env, p);
                    }
                    return;
                }
            }
            if self.config_index <= n && !self.is_member(me) {
                env.note(
                    "raft-removed",
                    "the committed configuration excludes this leader; stepping down".into(),
                );
                let term = self.hard.term;
                self.become_follower(env, term, None);
            }
        }
    }

    /// Tracks which heartbeat round a majority has answered: confirms reads and extends
    /// the lease (thesis §6.4, §6.4.1).
    fn update_quorum_round(&mut self, env: &mut impl RaftEnv<C>) {
        let me = env.id();
        let round = self.round;
        let Some(q) = self.quorum_value(|x| {
            if x == me {
                Some(round)
            } else {
                self.progress.get(&x).map(|p| p.acked_round)
            }
        }) else {
            return;
        };
        if q <= self.quorum_round {
            return;
        }
        self.quorum_round = q;
        if let Some(&sent) = self.round_sent_at.get(&q) {
            self.quorum_at = Some(sent);
            self.lease_until = sent + self.cfg.lease_ns();
        }
        self.round_sent_at = self.round_sent_at.split_off(&q);
        if self.read_round_outstanding {
            self.read_round_outstanding = false;
            if self.reads.iter().any(|r| r.round_needed > q) {
                self.read_round_outstanding = true;
                self.broadcast(env);
            }
        }
    }

    // ----- persistence (Figure 2) -----

    fn save_hard(&mut self, env: &mut impl RaftEnv<C>) {
        let bytes = storage::encode_hard_state(&self.hard);
        if env.disk().put_atomic(&self.files.meta, &bytes).is_err() {
            return self.stop(env, "writing currentTerm/votedFor");
        }
        self.unsynced = true;
        self.request_sync(env);
    }

    /// Appends to the log in memory and on disk; None if the disk refused.
    fn append_local(&mut self, env: &mut impl RaftEnv<C>, entry: Entry<C>) -> Option<Index> {
        let index = self.log.last_index() + 1;
        if self
            .file
            .append(env.disk(), &self.files.log, index, &entry)
            .is_err()
        {
            self.stop(env, "appending to the log");
            return None;
        }
        let is_config = matches!(entry.payload, Payload::Config(_) | Payload::Joint { .. });
        self.log.append(entry);
        self.unsynced = true;
        self.request_sync(env);
        if is_config {
            self.refresh_config();
            self.sync_progress(env);
        }
        Some(index)
    }

    fn request_sync(&mut self, env: &mut impl RaftEnv<C>) {
        if !self.sync_in_flight {
            self.sync_in_flight = true;
            self.next_token = (self.next_token + 1) % crate::env::TOKEN_SPAN;
            env.fsync(self.cfg.token_base + self.next_token);
        }
    }

    /// Sends now, or after the pending fsync if there are unsynced writes (Figure 2:
    /// "updated on stable storage before responding to RPCs").
    fn reply(&mut self, env: &mut impl RaftEnv<C>, to: NodeId, msg: RaftMsg<C>) {
        if self.unsynced {
            self.held.push((to, msg));
        } else {
            env.send(to, msg);
        }
    }

    /// A write failed: stop serving (etcd panics on a WAL write error); a restart
    /// recovers from what the disk holds.
    fn stop(&mut self, env: &mut impl RaftEnv<C>, what: &str) {
        env.note(
            "raft-disk-error",
            format!("{what} failed; the server stops until restarted"),
        );
        self.stopped = true;
        self.held.clear();
        self.role = Role::Follower;
        env.cancel_timer(RaftTimer::Election);
        self.election_timer_at = None;
        env.cancel_timer(RaftTimer::Heartbeat);
    }
}
