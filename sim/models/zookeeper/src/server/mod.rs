//! A ZooKeeper server: a ZAB peer (Fast Leader Election, then discovery, synchronization
//! and broadcast as leader or follower), its data tree, its session tracker and the
//! client connections it serves.
//!
//! The server is a library type: its handlers take any [`ZkEnv`], so a host model embeds
//! it in its own node enum (see `env.rs` and tests/embed.rs). Module map:
//! `storage` (disk layout and recovery), `election` (FLE), `leader` and `follower` (Zab
//! phases 1-3), `clients` (sessions, requests, watches, `sync`).
//!
//! Sources: Junqueira, Reed & Serafini, "Zab: High-performance broadcast for
//! primary-backup systems" (DSN 2011); Medeiros, "ZooKeeper's atomic broadcast protocol:
//! Theory and practice" (2012); the ZooKeeper internals guide; and the TLA+ specifications
//! in apache/zookeeper `zookeeper-specifications/`.

pub mod clients;
pub mod election;
pub mod follower;
pub mod leader;
pub mod storage;

use std::collections::BTreeMap;

use dsim_core::{IoDone, NodeId, Observation, OpId, Rng};

use crate::env::{ZkEnv, ZK_TOKEN_BIT};
use crate::msg::{PeerMsg, ZkMsg};
use crate::timer::{ServerTimer, ZkTimer};
use crate::tree::{DataTree, Trigger};
use crate::txn::{Txn, ZkResult};
use crate::zxid::{Vote, Zxid};
use storage::Entry;

pub use clients::Clients;
pub use election::Election;
pub use follower::Follower;
pub use leader::Leader;

/// The historic bugs a server can be built with (all off = correct behaviour).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ZabBugs {
    /// ZOOKEEPER-1154 ("Data inconsistency when the node(s) with the highest zxid is not
    /// present at the time of leader election"; fixed in 3.3.4 and 3.4.0 together with
    /// ZOOKEEPER-1156). `LearnerHandler` sent a DIFF whenever the follower's last zxid lay
    /// between the leader's min and max committed-log zxids, even when the leader had
    /// never logged that zxid (an old leader's uncommitted proposal); the fix sends TRUNC
    /// to the last zxid both share first. With the switch the leader skips that TRUNC, and
    /// the follower keeps (and applies) the old leader's uncommitted transaction.
    pub diff_without_trunc: bool,
    /// ZOOKEEPER-4643 ("Committed txns lost when follower crashes after updating
    /// currentEpoch") and ZOOKEEPER-4646 (the same after replying the NEWLEADER ack but
    /// before the txns reach disk). After the ZOOKEEPER-3911 fix (3.5.10, 3.6.3, 3.7.0)
    /// `Learner.syncWithLeader` handled NEWLEADER by writing `currentEpoch`, queuing the
    /// synced txns for asynchronous logging, then acknowledging; a crash before they were
    /// on disk loses them, and the follower's higher `currentEpoch` wins the next
    /// election over servers that hold them. Closed by ZOOKEEPER-4785 (3.8.5, 3.9.2: log
    /// and flush the txns, then the epoch, then the ack) and the 3.9.3 rework that cites
    /// 4643/4646. With the switch the follower makes the epoch durable and acknowledges
    /// first, and writes the synced txns after the acknowledgement.
    pub ack_newleader_before_sync_durable: bool,
    /// ZOOKEEPER-1419 ("Leader election never settles for a 5-node cluster"; in 3.4.0 to
    /// 3.4.3, fixed in 3.4.4 and 3.5.0): the non-transitive vote comparison of FLE (see
    /// `zxid::vote_beats`).
    pub non_transitive_vote_order: bool,
}

/// Static settings of one server.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// This server's id, 1-based (`server.N`).
    pub sid: u32,
    /// The ensemble's servers; `peers[i]` has sid `i + 1`.
    pub peers: Vec<NodeId>,
    pub tick_ns: u64,
    /// Ticks a follower may take to connect and sync (`initLimit`).
    pub init_limit: u32,
    /// Ticks a follower may lag or be silent (`syncLimit`).
    pub sync_limit: u32,
    /// Snapshot every this many committed transactions (`snapCount`).
    pub snapshot_count: u32,
    /// How many recent transactions the leader keeps for DIFF syncs (`commitLogCount`);
    /// older followers get a SNAP.
    pub commit_log_count: u32,
    /// Session timeouts are clamped to [2, 20] ticks, as ZooKeeper does.
    pub bugs: ZabBugs,
}

impl ServerConfig {
    pub fn quorum(&self) -> usize {
        self.peers.len() / 2 + 1
    }
    pub fn node_of(&self, sid: u32) -> Option<NodeId> {
        self.peers.get(sid.checked_sub(1)? as usize).copied()
    }
    pub fn sid_of(&self, node: NodeId) -> Option<u32> {
        self.peers
            .iter()
            .position(|p| *p == node)
            .map(|i| i as u32 + 1)
    }
}

/// The server's role.
#[derive(Debug)]
pub enum Role {
    Looking(Election),
    Following(Follower),
    Leading(Box<Leader>),
}

/// What to do when an fsync completes.
#[derive(Clone, Debug)]
enum AfterSync {
    Nothing,
    /// Follower: the synced transactions are durable; now write `currentEpoch`, then
    /// acknowledge NEWLEADER (the order of the ZOOKEEPER-4643/4646 fix, ZOOKEEPER-4785).
    SyncedTxnsDurable {
        gen: u64,
        epoch: u32,
        acks: Vec<Zxid>,
    },
    /// Follower: acknowledge NEWLEADER of this epoch (role generation checked), then the
    /// leader's outstanding proposals that came with the sync (`acks`).
    AckNewLeader {
        gen: u64,
        epoch: u32,
        acks: Vec<Zxid>,
    },
    /// Follower: acknowledge the new epoch (ACKEPOCH) after `acceptedEpoch` is durable.
    AckEpoch {
        gen: u64,
    },
    /// Leader: its `acceptedEpoch` / `currentEpoch` is durable.
    LeaderEpochDurable {
        gen: u64,
    },
}

pub struct ZkServer {
    pub cfg: ServerConfig,
    pub accepted_epoch: u32,
    pub current_epoch: u32,
    /// The state the log starts from (empty, or a snapshot received in a SNAP sync).
    pub base_tree: DataTree,
    pub base_zxid: Zxid,
    /// Every logged transaction after the base, in zxid order (what `zk/log` holds,
    /// written or about to be written).
    pub log: Vec<Entry>,
    /// End offsets in `zk/log` of the entries written so far (`offsets.len()` entries).
    offsets: Vec<usize>,
    /// Bug 4643/4646: entries are not written to disk while this is set.
    hold_writes: bool,
    /// Entries `[0, commit_idx)` are known committed.
    pub commit_idx: usize,
    /// Entries `[0, applied_idx)` are applied to `tree`.
    pub applied_idx: usize,
    /// Highest zxid known durable in the log.
    pub durable_zxid: Zxid,
    pub tree: DataTree,
    pub role: Role,
    /// Bumped at every role change; stale fsync actions check it.
    pub role_gen: u64,
    /// The vote this server decided on in its last election, and that election's epoch.
    pub vote: Vote,
    pub election_epoch: u64,
    /// Client connections, pending requests and watches.
    pub clients: Clients,
    /// Commits since the last snapshot.
    since_snapshot: u32,
    next_token: u64,
    waits: BTreeMap<u64, (Zxid, AfterSync)>,
    /// Proposals received in broadcast that still need an ACK once durable.
    to_ack: Vec<Zxid>,
    /// A number that changes at each restart (for checkers).
    pub incarnation: u64,
    /// Zxids this server proposed as leader of `current_epoch`, for checks.
    pub proposed: Vec<(Zxid, u64)>,
    /// FLE notifications sent, and the newest (incarnation, counter) seen per sender.
    notify_seq: BTreeMap<u32, u64>,
    notify_in: BTreeMap<u32, election::NotifyQueue>,
    /// When this server last entered LOOKING (its clock), for `election-settles`.
    pub looking_since_ns: u64,
}

impl std::fmt::Debug for ZkServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ZkServer(sid {}, {}, epoch {}/{}, last {})",
            self.cfg.sid,
            self.state_name(),
            self.accepted_epoch,
            self.current_epoch,
            self.last_zxid()
        )
    }
}

impl ZkServer {
    pub fn new(cfg: ServerConfig) -> Self {
        ZkServer {
            cfg,
            accepted_epoch: 0,
            current_epoch: 0,
            base_tree: DataTree::default(),
            base_zxid: Zxid::ZERO,
            log: Vec::new(),
            offsets: Vec::new(),
            hold_writes: false,
            commit_idx: 0,
            applied_idx: 0,
            durable_zxid: Zxid::ZERO,
            tree: DataTree::default(),
            role: Role::Looking(Election::default()),
            role_gen: 0,
            vote: Vote::default(),
            election_epoch: 0,
            clients: Clients::default(),
            since_snapshot: 0,
            next_token: 0,
            waits: BTreeMap::new(),
            to_ack: Vec::new(),
            incarnation: 0,
            proposed: Vec::new(),
            looking_since_ns: 0,
            notify_seq: BTreeMap::new(),
            notify_in: BTreeMap::new(),
        }
    }

    pub fn state_name(&self) -> &'static str {
        match &self.role {
            Role::Looking(_) => "looking",
            Role::Following(f) if f.serving => "following",
            Role::Following(_) => "syncing",
            Role::Leading(l) if l.established => "leading",
            Role::Leading(_) => "establishing",
        }
    }

    /// Established leader of `current_epoch`.
    pub fn is_established_leader(&self) -> bool {
        matches!(&self.role, Role::Leading(l) if l.established)
    }

    pub fn is_serving(&self) -> bool {
        match &self.role {
            Role::Leading(l) => l.established,
            Role::Following(f) => f.serving,
            Role::Looking(_) => false,
        }
    }

    /// The last logged zxid.
    pub fn last_zxid(&self) -> Zxid {
        self.log.last().map_or(self.base_zxid, |e| e.zxid)
    }

    /// The last committed zxid.
    pub fn committed_zxid(&self) -> Zxid {
        match self.commit_idx {
            0 => self.base_zxid,
            i => self.log[i - 1].zxid,
        }
    }

    pub fn quorum(&self) -> usize {
        self.cfg.quorum()
    }

    /// Boot or restart: rebuild from the disk alone, then look for a leader.
    pub fn on_start(&mut self, env: &mut impl ZkEnv) {
        self.incarnation = env.rng().gen::<u64>();
        if let Some((a, c)) = env
            .disk()
            .read(storage::EPOCH_FILE)
            .and_then(storage::decode_epochs)
        {
            self.accepted_epoch = a;
            self.current_epoch = c;
        }
        if let Some(t) = env
            .disk()
            .read(storage::BASE_FILE)
            .and_then(storage::decode_tree)
        {
            self.base_zxid = t.last_zxid;
            self.base_tree = t;
        }
        let bytes = env.disk().read(storage::LOG_FILE).map(|b| b.to_vec());
        if let Some(bytes) = bytes {
            let (entries, ends) = storage::decode_log(&bytes);
            let good = ends.last().copied().unwrap_or(0);
            if good < bytes.len() {
                env.note(
                    "log-tail-dropped",
                    format!(
                        "{} torn or damaged bytes at the end of the log",
                        bytes.len() - good
                    ),
                );
                env.disk().truncate(storage::LOG_FILE, good);
            }
            self.log = entries;
            self.offsets = ends;
        }
        self.durable_zxid = self.last_zxid();
        // A valid snapshot that matches the log saves replaying its prefix.
        let snap = env
            .disk()
            .read(storage::SNAP_FILE)
            .and_then(storage::decode_tree);
        let snap_at = snap.as_ref().and_then(|s| {
            if s.last_zxid == self.base_zxid {
                Some(0)
            } else {
                self.log
                    .iter()
                    .position(|e| e.zxid == s.last_zxid)
                    .map(|i| i + 1)
            }
        });
        match (snap, snap_at) {
            (Some(s), Some(i)) => {
                self.tree = s;
                self.applied_idx = i;
            }
            _ => {
                self.tree = self.base_tree.clone();
                self.applied_idx = 0;
            }
        }
        // Snapshots hold committed state only.
        self.commit_idx = self.applied_idx;
        // Replay everything logged, committed or not (ZooKeeper's `loadDataBase`).
        while self.applied_idx < self.log.len() {
            let e = &self.log[self.applied_idx];
            self.tree.apply(e.zxid, &e.txn);
            self.applied_idx += 1;
        }
        env.note(
            "recovered",
            format!(
                "epochs accepted {} current {}, {} logged txns, last zxid {}",
                self.accepted_epoch,
                self.current_epoch,
                self.log.len(),
                self.last_zxid()
            ),
        );
        env.set_timer(ZkTimer::Server(ServerTimer::Tick), self.cfg.tick_ns);
        self.start_looking(env);
    }

    pub fn on_message(&mut self, env: &mut impl ZkEnv, from: NodeId, msg: ZkMsg) {
        match msg {
            ZkMsg::Notification {
                sid,
                inc,
                seq,
                vote,
                election_epoch,
                state,
            } => self.on_notification(env, from, sid, inc, seq, vote, election_epoch, state),
            ZkMsg::Peer { conn, seq, body } => self.on_peer(env, from, conn, seq, body),
            other => self.on_client_msg(env, from, other),
        }
    }

    pub fn on_timer(&mut self, env: &mut impl ZkEnv, timer: ZkTimer) {
        let ZkTimer::Server(t) = timer else { return };
        match t {
            ServerTimer::ElectionResend => self.on_election_resend(env),
            ServerTimer::Finalize => self.on_finalize(env),
            ServerTimer::Tick => {
                env.set_timer(ZkTimer::Server(ServerTimer::Tick), self.cfg.tick_ns);
                self.flush_notifications(env);
                match &self.role {
                    Role::Leading(_) => self.leader_tick(env),
                    Role::Following(_) => self.follower_tick(env),
                    Role::Looking(_) => {}
                }
            }
            ServerTimer::Reconnect => {}
        }
    }

    /// Routes ZAB link messages by role.
    fn on_peer(&mut self, env: &mut impl ZkEnv, from: NodeId, conn: u64, seq: u64, body: PeerMsg) {
        match &self.role {
            Role::Leading(_) => self.leader_on_peer(env, from, conn, seq, body),
            Role::Following(_) => self.follower_on_peer(env, from, conn, seq, body),
            Role::Looking(_) => {}
        }
    }

    /// A disk request finished.
    pub fn on_io(&mut self, env: &mut impl ZkEnv, done: IoDone) {
        let Some((upto, after)) = self.waits.remove(&(done.token | ZK_TOKEN_BIT)) else {
            return;
        };
        if !done.ok {
            env.note(
                "fsync-failed",
                format!("fsync {} failed", done.token & !ZK_TOKEN_BIT),
            );
            return;
        }
        // From the end: the entry an fsync covers is nearly always among the last written
        // (a scan from the front made every fsync cost the whole log).
        if upto > self.durable_zxid && self.log.iter().rev().any(|e| e.zxid == upto) {
            self.durable_zxid = upto;
        }
        match after {
            AfterSync::Nothing => {}
            AfterSync::SyncedTxnsDurable { gen, epoch, acks } if gen == self.role_gen => {
                self.follower_synced_txns_durable(env, epoch, acks)
            }
            AfterSync::AckNewLeader { gen, epoch, acks } if gen == self.role_gen => {
                self.follower_ack_newleader(env, epoch, acks)
            }
            AfterSync::AckEpoch { gen } if gen == self.role_gen => self.follower_ack_epoch(env),
            AfterSync::LeaderEpochDurable { gen } if gen == self.role_gen => {
                self.leader_epoch_durable(env)
            }
            _ => {}
        }
        self.after_durable(env);
    }

    /// Acknowledge (follower) or count (leader) proposals that are now durable.
    fn after_durable(&mut self, env: &mut impl ZkEnv) {
        let durable = self.durable_zxid;
        match &self.role {
            Role::Following(_) => {
                let ready: Vec<Zxid> = self
                    .to_ack
                    .iter()
                    .copied()
                    .filter(|z| *z <= durable)
                    .collect();
                self.to_ack.retain(|z| *z > durable);
                for zxid in ready {
                    self.follower_send(env, PeerMsg::Ack { zxid });
                }
            }
            Role::Leading(_) => self.leader_self_ack(env),
            Role::Looking(_) => self.to_ack.clear(),
        }
    }

    // ---- the log ----

    /// Appends an entry to the in-memory log and writes it (unless writes are held).
    pub(crate) fn append(&mut self, env: &mut impl ZkEnv, entry: Entry) {
        self.log.push(entry);
        self.write_pending(env);
    }

    /// Writes every entry not yet on disk, unless writes are held (bug 4643/4646).
    pub(crate) fn write_pending(&mut self, env: &mut impl ZkEnv) {
        if self.hold_writes {
            return;
        }
        while self.offsets.len() < self.log.len() {
            let bytes = storage::encode_entry(&self.log[self.offsets.len()]);
            if env.disk().append(storage::LOG_FILE, &bytes).is_err() {
                env.note(
                    "disk-full",
                    "the transaction log could not grow".to_string(),
                );
                return;
            }
            let end = self.offsets.last().copied().unwrap_or(0) + bytes.len();
            self.offsets.push(end);
        }
    }

    /// Requests an fsync covering everything written so far.
    fn fsync(&mut self, env: &mut impl ZkEnv, after: AfterSync) {
        self.next_token += 1;
        let token = self.next_token | ZK_TOKEN_BIT;
        let upto = match self.offsets.len() {
            0 => self.base_zxid,
            n => self.log[n - 1].zxid,
        };
        self.waits.insert(token, (upto, after));
        env.fsync(token);
    }

    /// Cuts the log after `zxid` (TRUNC) and rebuilds the tree from the base.
    pub(crate) fn truncate_after(&mut self, env: &mut impl ZkEnv, zxid: Zxid) {
        if zxid < self.base_zxid {
            env.note(
                "truncate-below-base",
                format!(
                    "asked to truncate to {zxid}, below the base snapshot {}; starting empty",
                    self.base_zxid
                ),
            );
            self.base_tree = DataTree::default();
            self.base_zxid = Zxid::ZERO;
            let _ = env.disk().put_atomic(storage::BASE_FILE, &[]);
            self.log.clear();
            self.offsets.clear();
            env.disk().truncate(storage::LOG_FILE, 0);
        } else {
            let keep = self.log.iter().take_while(|e| e.zxid <= zxid).count();
            if keep < self.log.len() {
                env.note(
                    "truncated",
                    format!(
                        "log cut after {zxid}: {} txn(s) dropped",
                        self.log.len() - keep
                    ),
                );
            }
            self.log.truncate(keep);
            if keep < self.offsets.len() {
                let len = if keep == 0 { 0 } else { self.offsets[keep - 1] };
                self.offsets.truncate(keep);
                env.disk().truncate(storage::LOG_FILE, len);
            }
        }
        let _ = env.disk().put_atomic(storage::SNAP_FILE, &[]);
        self.durable_zxid = self.durable_zxid.min(self.last_zxid());
        self.tree = self.base_tree.clone();
        self.applied_idx = 0;
        self.commit_idx = self.commit_idx.min(self.log.len());
        while self.applied_idx < self.log.len() {
            let e = &self.log[self.applied_idx];
            self.tree.apply(e.zxid, &e.txn);
            self.applied_idx += 1;
        }
    }

    /// Replaces everything with a snapshot from the leader (SNAP).
    pub(crate) fn install_snapshot(&mut self, env: &mut impl ZkEnv, tree: DataTree) {
        let _ = env
            .disk()
            .put_atomic(storage::BASE_FILE, &storage::encode_tree(&tree));
        let _ = env.disk().put_atomic(storage::SNAP_FILE, &[]);
        env.disk().truncate(storage::LOG_FILE, 0);
        self.base_zxid = tree.last_zxid;
        self.base_tree = tree.clone();
        self.tree = tree;
        self.log.clear();
        self.offsets.clear();
        self.commit_idx = 0;
        self.applied_idx = 0;
        self.durable_zxid = Zxid::ZERO;
    }

    pub(crate) fn persist_epochs(&mut self, env: &mut impl ZkEnv) {
        let bytes = storage::encode_epochs(self.accepted_epoch, self.current_epoch);
        if env.disk().put_atomic(storage::EPOCH_FILE, &bytes).is_err() {
            env.note(
                "disk-full",
                "the epoch file could not be written".to_string(),
            );
        }
    }

    /// Commits every entry up to and including `zxid` and applies it.
    pub(crate) fn commit_upto(&mut self, env: &mut impl ZkEnv, zxid: Zxid) {
        while self.commit_idx < self.log.len() && self.log[self.commit_idx].zxid <= zxid {
            self.commit_idx += 1;
            if self.applied_idx < self.commit_idx {
                let e = self.log[self.applied_idx].clone();
                self.applied_idx += 1;
                let (result, triggers) = self.tree.apply(e.zxid, &e.txn);
                self.delivered(env, &e.zxid, &e.txn, result, triggers);
            }
        }
        self.maybe_snapshot(env);
    }

    /// A committed transaction was applied: answer the client, fire watches.
    fn delivered(
        &mut self,
        env: &mut impl ZkEnv,
        zxid: &Zxid,
        txn: &Txn,
        result: ZkResult,
        triggers: Vec<Trigger>,
    ) {
        if txn.is_effective() && txn.tag != 0 {
            env.applied(OpId(txn.tag - 1));
        }
        self.since_snapshot += 1;
        self.clients_on_commit(env, *zxid, txn, result, triggers);
    }

    fn maybe_snapshot(&mut self, env: &mut impl ZkEnv) {
        if self.since_snapshot >= self.cfg.snapshot_count && self.applied_idx == self.commit_idx {
            self.since_snapshot = 0;
            let bytes = storage::encode_tree(&self.tree);
            if env.disk().put_atomic(storage::SNAP_FILE, &bytes).is_ok() {
                env.note("snapshot", format!("snapshot at {}", self.tree.last_zxid));
            }
        }
    }

    /// Leaves the current role; clients are disconnected.
    pub(crate) fn set_role(&mut self, env: &mut impl ZkEnv, role: Role) {
        self.role_gen += 1;
        self.hold_writes = false;
        self.write_pending(env);
        self.to_ack.clear();
        self.drop_clients(env);
        self.role = role;
    }

    pub fn observe(&self) -> Observation {
        Observation {
            state: self.state_name(),
            fields: vec![
                ("sid", self.cfg.sid as i64),
                ("accepted_epoch", self.accepted_epoch as i64),
                ("current_epoch", self.current_epoch as i64),
                ("last_zxid", self.last_zxid().as_u64() as i64),
                ("committed_zxid", self.committed_zxid().as_u64() as i64),
                ("sessions", self.tree.sessions.len() as i64),
            ],
        }
    }

    /// The sessions this server's tree knows (for checks).
    pub fn sessions(&self) -> &BTreeMap<u64, u32> {
        &self.tree.sessions
    }

    /// Zxids of the committed prefix, for checks.
    pub fn committed_entries(&self) -> &[Entry] {
        &self.log[..self.commit_idx]
    }
}
