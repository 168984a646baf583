//! A server node of the `raft` model: a [`RaftServer`] driving the [`KvStore`], and the
//! client-facing side (etcd-like): puts and compare-and-sets go through the log and are
//! answered when applied; gets are served by the configured read path (thesis §6.4):
//!
//! - `log`: a get is a log entry like a write (always linearizable, slowest);
//! - `read-index`: ReadIndex — confirm leadership with a heartbeat round, then answer
//!   once the state machine has applied the commit index seen when the read arrived;
//! - `lease`: answer at once while the leader's lease holds (§6.4.1), else as ReadIndex;
//!   safe only while clocks drift less than `lease_drift_bound_ppm`;
//! - `local`: the leader answers from its state without confirming anything: stale after
//!   it has been deposed (the Jepsen etcd 2014 class of bug).

use std::collections::BTreeMap;

use dsim_core::{Ctx, IoDone, NodeId, Observation, OpId};

use crate::admin::Change;
use crate::env::CtxEnv;
use crate::kv::{KvCmd, KvOp, KvResult, KvStore};
use crate::log::{Index, Payload};
use crate::server::{RaftConfig, RaftServer};
use crate::{Msg, RaftNode, ReadMode};

#[derive(Debug)]
pub struct Server {
    pub raft: RaftServer<KvCmd>,
    pub kv: KvStore,
    read_mode: ReadMode,
    snapshot_threshold: u64,
    /// Client requests in the log, by index: (client, request id).
    pending: BTreeMap<Index, (NodeId, u64)>,
    /// Reads waiting for ReadIndex: (client, request id, key), by read id.
    reads: BTreeMap<u64, (NodeId, u64, u32)>,
    next_read: u64,
    elections_seen: u64,
    /// Every server node, members or spares (candidates for membership changes).
    all_servers: Vec<NodeId>,
    /// Size of the initial configuration: the admin grows it by one, then shrinks it back.
    voters_initial: usize,
    /// Membership changes go through joint consensus (any new set of voters).
    joint: bool,
}

impl Server {
    pub fn new(
        cfg: RaftConfig,
        read_mode: ReadMode,
        snapshot_threshold: u64,
        all_servers: Vec<NodeId>,
        joint: bool,
    ) -> Self {
        let cfg_voters = cfg.voters.len();
        Server {
            raft: RaftServer::new(cfg),
            kv: KvStore::default(),
            read_mode,
            snapshot_threshold,
            pending: BTreeMap::new(),
            reads: BTreeMap::new(),
            next_read: 0,
            elections_seen: 0,
            voters_initial: cfg_voters,
            joint,
            all_servers,
        }
    }

    pub fn on_start(&mut self, ctx: &mut Ctx<'_, RaftNode>) {
        self.raft.start(&mut CtxEnv::new(ctx));
        self.drain(ctx);
    }

    pub fn on_message(&mut self, ctx: &mut Ctx<'_, RaftNode>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Raft(m) => self.raft.on_message(&mut CtxEnv::new(ctx), from, m),
            Msg::Request { req, op } => self.on_request(ctx, from, req, op),
            Msg::Reconfigure { req, change: None } => self.on_reconfigure(ctx, from, req),
            Msg::Reconfigure {
                req,
                change: Some(change),
            } => self.on_scripted_change(ctx, from, req, change),
            Msg::Reply { .. } | Msg::Redirect { .. } => {}
        }
        self.drain(ctx);
    }

    pub fn on_timer(&mut self, ctx: &mut Ctx<'_, RaftNode>, t: crate::msg::RaftTimer) {
        self.raft.on_timer(&mut CtxEnv::new(ctx), t);
        self.drain(ctx);
    }

    pub fn on_io(&mut self, ctx: &mut Ctx<'_, RaftNode>, done: IoDone) {
        self.raft.on_io(&mut CtxEnv::new(ctx), done.token, done.ok);
        self.drain(ctx);
    }

    fn redirect(&self, ctx: &mut Ctx<'_, RaftNode>, to: NodeId, req: u64, hint: Option<NodeId>) {
        ctx.send(to, Msg::Redirect { req, hint });
    }

    fn on_request(&mut self, ctx: &mut Ctx<'_, RaftNode>, from: NodeId, req: u64, op: KvOp) {
        if let KvOp::Get { key } = op {
            match self.read_mode {
                ReadMode::Log => {}
                ReadMode::Local => {
                    if self.raft.is_leader() {
                        let value = self.kv.get(key);
                        ctx.send(
                            from,
                            Msg::Reply {
                                req,
                                result: KvResult::Read(value),
                            },
                        );
                    } else {
                        self.redirect(ctx, from, req, self.raft.leader_hint());
                    }
                    return;
                }
                ReadMode::ReadIndex | ReadMode::Lease => {
                    self.next_read += 1;
                    let id = self.next_read;
                    match self.raft.read_index(&mut CtxEnv::new(ctx), id) {
                        Ok(()) => {
                            self.reads.insert(id, (from, req, key));
                        }
                        Err(e) => self.redirect(ctx, from, req, e.hint),
                    }
                    return;
                }
            }
        }
        let cmd = KvCmd {
            client: from.0,
            seq: req,
            op,
        };
        match self.raft.propose(&mut CtxEnv::new(ctx), cmd) {
            Ok(index) => {
                self.pending.insert(index, (from, req));
            }
            Err(e) => self.redirect(ctx, from, req, e.hint),
        }
    }

    /// The admin's request: add a spare server while the configuration is at its
    /// smallest, else remove a voter other than this leader (one server at a time,
    /// thesis §4.1). Refusals (a change in progress, no entry of the term committed yet)
    /// are noted; the admin asks again at its next interval.
    fn on_reconfigure(&mut self, ctx: &mut Ctx<'_, RaftNode>, from: NodeId, req: u64) {
        use dsim_core::Rng;
        if !self.raft.is_leader() {
            return; // the admin asks every server; only the leader answers
        }
        let me = ctx.id();
        if self.joint {
            return self.on_joint_reconfigure(ctx, from, req);
        }
        let config = self.raft.config().to_vec();
        let spares: Vec<NodeId> = self
            .all_servers
            .iter()
            .copied()
            .filter(|s| !config.contains(s))
            .collect();
        let removable: Vec<NodeId> = config.iter().copied().filter(|s| *s != me).collect();
        let mut next = config.clone();
        if !spares.is_empty() && (config.len() <= self.voters_initial || removable.is_empty()) {
            let pick = spares[ctx.rng().gen_range(0..spares.len())];
            next.push(pick);
            next.sort();
        } else if !removable.is_empty() {
            let pick = removable[ctx.rng().gen_range(0..removable.len())];
            next.retain(|s| *s != pick);
        } else {
            return;
        }
        match self.raft.propose_config(&mut CtxEnv::new(ctx), next) {
            Ok(_) => ctx.send(
                from,
                Msg::Reply {
                    req,
                    result: KvResult::Written,
                },
            ),
            Err(e) => ctx.note("raft-config-refused", format!("{e:?}")),
        }
    }

    /// A scripted change (`reconfigure_script`): the leader adds or removes the named
    /// server, if that is a change of its current configuration.
    fn on_scripted_change(
        &mut self,
        ctx: &mut Ctx<'_, RaftNode>,
        from: NodeId,
        req: u64,
        change: Change,
    ) {
        if !self.raft.is_leader() {
            return;
        }
        let mut next = self.raft.config().to_vec();
        match change {
            Change::Add(s) if !next.contains(&s) => {
                next.push(s);
                next.sort();
            }
            Change::Remove(s) if next.contains(&s) => next.retain(|v| *v != s),
            _ => {
                return ctx.note(
                    "raft-config-refused",
                    format!("{change:?}: no change to voters {:?}", next),
                )
            }
        }
        match self.raft.propose_config(&mut CtxEnv::new(ctx), next) {
            Ok(_) => ctx.send(
                from,
                Msg::Reply {
                    req,
                    result: KvResult::Written,
                },
            ),
            Err(e) => ctx.note("raft-config-refused", format!("{change:?}: {e:?}")),
        }
    }

    /// Joint consensus: a new set of voters of the initial size, drawn among all servers
    /// (it may drop this leader, and replace several servers at once).
    fn on_joint_reconfigure(&mut self, ctx: &mut Ctx<'_, RaftNode>, from: NodeId, req: u64) {
        use dsim_core::Rng;
        let mut pool = self.all_servers.clone();
        let mut next = Vec::new();
        while next.len() < self.voters_initial && !pool.is_empty() {
            let k = ctx.rng().gen_range(0..pool.len());
            next.push(pool.remove(k));
        }
        next.sort();
        if next.as_slice() == self.raft.config() {
            return;
        }
        match self.raft.propose_joint(&mut CtxEnv::new(ctx), next) {
            Ok(_) => ctx.send(
                from,
                Msg::Reply {
                    req,
                    result: KvResult::Written,
                },
            ),
            Err(e) => ctx.note("raft-config-refused", format!("{e:?}")),
        }
    }

    /// Applies what committed, answers clients, compacts the log when it is long.
    fn drain(&mut self, ctx: &mut Ctx<'_, RaftNode>) {
        let ready = self.raft.take_ready();
        if let Some(s) = ready.restore {
            match KvStore::decode(&s.data) {
                Some(kv) => self.kv = kv,
                None => ctx.note(
                    "raft-bad-snapshot",
                    format!("snapshot at {} does not decode", s.index),
                ),
            }
            ctx.reached("snapshot-installed");
            self.pending = self.pending.split_off(&(s.index + 1));
        }
        for (i, e) in ready.committed {
            let Payload::Command(cmd) = e.payload else {
                self.pending.remove(&i);
                continue;
            };
            let (result, fresh) = self.kv.apply(&cmd);
            if fresh && !matches!(cmd.op, KvOp::Get { .. }) {
                ctx.applied(OpId(cmd.seq));
            }
            if let Some((client, req)) = self.pending.remove(&i) {
                if req == cmd.seq && client.0 == cmd.client {
                    ctx.send(client, Msg::Reply { req, result });
                }
            }
        }
        for id in ready.reads_ready {
            if let Some((client, req, key)) = self.reads.remove(&id) {
                let value = self.kv.get(key);
                ctx.send(
                    client,
                    Msg::Reply {
                        req,
                        result: KvResult::Read(value),
                    },
                );
            }
        }
        for id in ready.reads_failed {
            if let Some((client, req, _)) = self.reads.remove(&id) {
                self.redirect(ctx, client, req, self.raft.leader_hint());
            }
        }
        if !self.raft.is_leader() {
            // A deposed leader cannot know whether its entries will commit: the clients
            // time out (their ops stay indeterminate).
            self.pending.clear();
        }
        if self.raft.elections_won > self.elections_seen {
            self.elections_seen = self.raft.elections_won;
            if self.raft.term() > 1 {
                ctx.reached("re-election");
            }
        }
        let applied = self.raft.last_applied();
        if self.snapshot_threshold > 0
            && applied.saturating_sub(self.raft.log().base_index()) >= self.snapshot_threshold
        {
            let data = self.kv.encode();
            self.raft.compact(&mut CtxEnv::new(ctx), applied, data);
        }
    }

    pub fn observe(&self) -> Observation {
        Observation {
            state: self.raft.role().name(),
            fields: vec![
                ("term", self.raft.term() as i64),
                ("commit_index", self.raft.commit_index() as i64),
                ("last_index", self.raft.log().last_index() as i64),
            ],
        }
    }
}
