//! The leader's side of Zab (the discovery, synchronization and broadcast phases of
//! Junqueira et al., DSN 2011, as ZooKeeper's `Leader` and `LearnerHandler` implement
//! them).
//!
//! 1. Discovery: collect FOLLOWERINFO (accepted epochs) from a quorum, pick the new epoch
//!    `max + 1`, make it durable as `acceptedEpoch`, send LEADERINFO, collect ACKEPOCH from
//!    a quorum. A follower whose (currentEpoch, last zxid) is ahead of the leader's stops
//!    the leader (it should not have won).
//! 2. Synchronization: make `currentEpoch` durable, bring each follower's log equal to the
//!    leader's with DIFF, TRUNC+DIFF or SNAP, then NEWLEADER. When a quorum (leader
//!    included) acknowledged NEWLEADER the epoch is established: the leader commits its
//!    whole history and sends UPTODATE.
//! 3. Broadcast: a write becomes a proposal with zxid (epoch, counter+1), logged and
//!    fsynced by the leader and sent to every follower; it commits when a quorum has
//!    acknowledged it (after their fsync), in zxid order, and COMMIT is sent.
//!
//! The leader pings followers every tick and steps down when fewer than a quorum
//! answered within `syncLimit` ticks (or the epoch is not established within
//! `initLimit` ticks). It owns the session tracker: sessions not touched within their
//! timeout are closed with a closeSession transaction.

use std::collections::{BTreeMap, BTreeSet};

use dsim_core::NodeId;

use crate::env::ZkEnv;
use crate::msg::{LeaderReq, PeerMsg, ZkMsg};
use crate::tree::DataTree;
use crate::txn::{Txn, TxnBody};
use crate::zxid::Zxid;

use super::storage::Entry;
use super::{AfterSync, Role, ZkServer};

/// Where a follower's link stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LinkPhase {
    Info,
    EpochSent,
    EpochAcked,
    /// Sync sent: proposals and commits are forwarded from now on.
    Synced,
    /// NEWLEADER acknowledged.
    Ready,
}

/// One follower's link (`LearnerHandler`).
#[derive(Clone, Debug)]
pub struct Link {
    pub node: NodeId,
    pub conn: u64,
    out_seq: u64,
    in_next: u64,
    buf: BTreeMap<u64, PeerMsg>,
    pub accepted_epoch: u32,
    pub current_epoch: u32,
    pub last_zxid: Zxid,
    pub phase: LinkPhase,
    pub last_heard_ns: u64,
}

#[derive(Clone, Debug, Default)]
pub struct Leader {
    /// The epoch being established (0 until discovery picks it).
    pub epoch: u32,
    pub established: bool,
    pub started_ns: u64,
    pub links: BTreeMap<u32, Link>,
    infos: BTreeMap<u32, u32>,
    epoch_acks: BTreeSet<u32>,
    newleader_acks: BTreeSet<u32>,
    syncing: bool,
    /// Acks per outstanding proposal.
    pub proposals: BTreeMap<Zxid, BTreeSet<u32>>,
    counter: u32,
    /// The tree with every outstanding proposal applied (`PrepRequestProcessor`'s view).
    prep: DataTree,
    /// Session deadlines (leader's clock).
    pub expiry: BTreeMap<u64, u64>,
    closing: BTreeSet<u64>,
    /// Syncs waiting for a zxid to commit: (zxid, origin follower or None, session, cxid).
    pending_syncs: Vec<(Zxid, Option<u32>, u64, u64)>,
    /// Connections a link was ever opened for.
    used_conns: BTreeSet<u64>,
}

impl ZkServer {
    fn leader(&mut self) -> Option<&mut Leader> {
        match &mut self.role {
            Role::Leading(l) => Some(l),
            _ => None,
        }
    }

    pub(crate) fn become_leader(&mut self, env: &mut impl ZkEnv) {
        let mut l = Leader {
            started_ns: env.now(),
            ..Leader::default()
        };
        l.infos.insert(self.cfg.sid, self.accepted_epoch);
        self.set_role(env, Role::Leading(Box::new(l)));
        env.note(
            "leading",
            format!("sid {} leads; discovery starts", self.cfg.sid),
        );
        self.check_discovery(env);
    }

    fn check_discovery(&mut self, env: &mut impl ZkEnv) {
        let quorum = self.quorum();
        let Some(l) = self.leader() else { return };
        if l.epoch != 0 || l.infos.len() < quorum {
            return;
        }
        let epoch = l.infos.values().copied().max().unwrap_or(0) + 1;
        l.epoch = epoch;
        let sids: Vec<u32> = l
            .links
            .iter()
            .filter(|(_, k)| k.phase == LinkPhase::Info)
            .map(|(s, _)| *s)
            .collect();
        self.accepted_epoch = epoch;
        self.persist_epochs(env);
        let gen = self.role_gen;
        self.fsync(env, AfterSync::LeaderEpochDurable { gen });
        env.note("new-epoch", format!("proposes epoch {epoch}"));
        for sid in sids {
            self.leader_send(env, sid, PeerMsg::LeaderInfo { new_epoch: epoch });
            if let Some(k) = self.leader().and_then(|l| l.links.get_mut(&sid)) {
                k.phase = LinkPhase::EpochSent;
            }
        }
    }

    /// The leader's own epoch write is durable: its ACKEPOCH, or its NEWLEADER ack.
    pub(crate) fn leader_epoch_durable(&mut self, env: &mut impl ZkEnv) {
        let me = self.cfg.sid;
        let Some(l) = self.leader() else { return };
        if !l.epoch_acks.contains(&me) {
            l.epoch_acks.insert(me);
            self.check_epoch_acks(env);
        } else {
            l.newleader_acks.insert(me);
            self.check_newleader(env);
        }
    }

    fn check_epoch_acks(&mut self, env: &mut impl ZkEnv) {
        let quorum = self.quorum();
        let mine = (self.current_epoch, self.last_zxid());
        let Some(l) = self.leader() else { return };
        if l.syncing || l.epoch_acks.len() < quorum {
            return;
        }
        let ahead = l
            .links
            .iter()
            .filter(|(s, _)| l.epoch_acks.contains(s))
            .find(|(_, k)| (k.current_epoch, k.last_zxid) > mine)
            .map(|(s, k)| (*s, k.current_epoch, k.last_zxid));
        if let Some((sid, ce, lz)) = ahead {
            env.note(
                "follower-ahead",
                format!("sid {sid} has epoch {ce} zxid {lz}, ahead of this leader; giving up"),
            );
            self.start_looking(env);
            return;
        }
        l.syncing = true;
        let epoch = l.epoch;
        let acked: Vec<u32> = l
            .links
            .iter()
            .filter(|(_, k)| k.phase == LinkPhase::EpochAcked)
            .map(|(s, _)| *s)
            .collect();
        self.current_epoch = epoch;
        self.persist_epochs(env);
        let gen = self.role_gen;
        self.fsync(env, AfterSync::LeaderEpochDurable { gen });
        for sid in acked {
            self.send_sync(env, sid);
        }
    }

    /// DIFF, TRUNC+DIFF or SNAP, then NEWLEADER (`LearnerHandler.syncFollower`).
    fn send_sync(&mut self, env: &mut impl ZkEnv, sid: u32) {
        let Some(peer_last) = self
            .leader()
            .and_then(|l| l.links.get(&sid))
            .map(|k| k.last_zxid)
        else {
            return;
        };
        let leader_last = self.last_zxid();
        let window = self
            .log
            .len()
            .saturating_sub(self.cfg.commit_log_count as usize);
        let min_diff = if window == 0 {
            self.base_zxid
        } else {
            self.log[window - 1].zxid
        };
        let after = |from: usize, log: &[Entry]| -> Vec<(Zxid, Txn)> {
            log[from..]
                .iter()
                .map(|e| (e.zxid, e.txn.clone()))
                .collect()
        };
        let (trunc, snap, txns, kind) = if peer_last == leader_last {
            (None, None, Vec::new(), "DIFF (empty)".to_string())
        } else if peer_last > leader_last {
            (
                Some(leader_last),
                None,
                Vec::new(),
                format!("TRUNC to {leader_last}"),
            )
        } else if peer_last >= min_diff {
            let pos = if peer_last == self.base_zxid {
                Some(0)
            } else {
                self.log
                    .iter()
                    .position(|e| e.zxid == peer_last)
                    .map(|i| i + 1)
            };
            match pos {
                Some(i) => (
                    None,
                    None,
                    after(i, &self.log),
                    format!("DIFF after {peer_last}"),
                ),
                None => {
                    // The follower holds a zxid this leader never logged: a transaction of
                    // an old epoch that was never committed. Cut it off first (TRUNC to the
                    // previous proposal's zxid: the ZOOKEEPER-1154 fix in LearnerHandler).
                    let i = self.log.iter().take_while(|e| e.zxid < peer_last).count();
                    let prev = if i == 0 {
                        self.base_zxid
                    } else {
                        self.log[i - 1].zxid
                    };
                    if self.cfg.bugs.diff_without_trunc {
                        (
                            None,
                            None,
                            after(i, &self.log),
                            format!("DIFF after {prev} without TRUNC (ZOOKEEPER-1154)"),
                        )
                    } else {
                        (
                            Some(prev),
                            None,
                            after(i, &self.log),
                            format!("TRUNC to {prev} + DIFF"),
                        )
                    }
                }
            }
        } else {
            let snap = self.tree.clone();
            (
                None,
                Some(Box::new(snap)),
                after(self.applied_idx, &self.log),
                format!("SNAP at {}", self.tree.last_zxid),
            )
        };
        let commit_upto = self.committed_zxid();
        let Some(l) = self.leader() else { return };
        let new_epoch = l.epoch;
        if let Some(k) = l.links.get_mut(&sid) {
            k.phase = LinkPhase::Synced;
        }
        env.note(
            "sync",
            format!(
                "sid {sid} (last {peer_last}): {kind}, {} txn(s)",
                txns.len()
            ),
        );
        self.leader_send(
            env,
            sid,
            PeerMsg::Sync {
                trunc,
                snap,
                txns,
                commit_upto,
                new_epoch,
            },
        );
    }

    fn check_newleader(&mut self, env: &mut impl ZkEnv) {
        let quorum = self.quorum();
        let me = self.cfg.sid;
        let Some(l) = self.leader() else { return };
        if l.established || l.newleader_acks.len() < quorum || !l.newleader_acks.contains(&me) {
            return;
        }
        l.established = true;
        let epoch = l.epoch;
        // The whole initial history is committed now.
        let last = self.last_zxid();
        self.commit_upto(env, last);
        let now = env.now();
        let tick = self.cfg.tick_ns;
        let sessions: Vec<(u64, u32)> = self.tree.sessions.iter().map(|(s, t)| (*s, *t)).collect();
        let prep = self.tree.clone();
        let committed = self.committed_zxid();
        let Some(l) = self.leader() else { return };
        l.prep = prep;
        l.counter = 0;
        for (s, t) in sessions {
            l.expiry.insert(s, now + (t as u64) * 1_000_000 + tick);
        }
        let ready: Vec<u32> = l
            .links
            .iter()
            .filter(|(_, k)| k.phase == LinkPhase::Ready)
            .map(|(s, _)| *s)
            .collect();
        self.proposed.clear();
        env.note(
            "established",
            format!("epoch {epoch} established, history up to {committed} committed"),
        );
        env.reached("leader-elected");
        for sid in ready {
            self.leader_send(
                env,
                sid,
                PeerMsg::UpToDate {
                    commit_upto: committed,
                },
            );
        }
    }

    pub(crate) fn leader_send(&mut self, env: &mut impl ZkEnv, sid: u32, body: PeerMsg) {
        let Some(k) = self.leader().and_then(|l| l.links.get_mut(&sid)) else {
            return;
        };
        let seq = k.out_seq;
        k.out_seq += 1;
        let (node, conn) = (k.node, k.conn);
        env.send(node, ZkMsg::Peer { conn, seq, body });
    }

    pub(crate) fn leader_on_peer(
        &mut self,
        env: &mut impl ZkEnv,
        from: NodeId,
        conn: u64,
        seq: u64,
        body: PeerMsg,
    ) {
        let Some(sid) = self.cfg.sid_of(from) else {
            return;
        };
        let now = env.now();
        let Some(l) = self.leader() else { return };
        if let PeerMsg::FollowerInfo {
            sid: s,
            accepted_epoch,
            last_zxid,
        } = &body
        {
            // A link is opened once per connection: a FOLLOWERINFO resent on a connection
            // we already served (or dropped) is ignored, so sequence numbers never restart
            // within a connection. The follower times out and reconnects.
            if seq != 0 || *s != sid || !l.used_conns.insert(conn) {
                return;
            }
            l.links.insert(
                sid,
                Link {
                    node: from,
                    conn,
                    out_seq: 0,
                    in_next: 1,
                    buf: BTreeMap::new(),
                    accepted_epoch: *accepted_epoch,
                    current_epoch: 0,
                    last_zxid: *last_zxid,
                    phase: LinkPhase::Info,
                    last_heard_ns: now,
                },
            );
            let accepted = *accepted_epoch;
            if l.epoch == 0 {
                l.infos.insert(sid, accepted);
                self.check_discovery(env);
            } else if l.epoch <= accepted && !l.established {
                // This follower accepted a newer epoch: we cannot lead it.
                let e = l.epoch;
                env.note(
                    "epoch-behind",
                    format!("sid {sid} accepted epoch {accepted} >= {e}"),
                );
            } else {
                let e = l.epoch;
                if let Some(k) = l.links.get_mut(&sid) {
                    k.phase = LinkPhase::EpochSent;
                }
                self.leader_send(env, sid, PeerMsg::LeaderInfo { new_epoch: e });
            }
            return;
        }
        let Some(k) = l.links.get_mut(&sid) else {
            return;
        };
        if k.conn != conn || seq < k.in_next {
            return;
        }
        k.buf.insert(seq, body);
        loop {
            let Some(k) = self.leader().and_then(|l| l.links.get_mut(&sid)) else {
                return;
            };
            let next = k.in_next;
            let Some(msg) = k.buf.remove(&next) else {
                return;
            };
            k.in_next += 1;
            // Only progress counts as hearing from the peer: a gap (a lost message)
            // stalls the link until the sync limit drops it, as a broken TCP
            // connection would.
            k.last_heard_ns = now;
            self.leader_handle(env, sid, msg);
        }
    }

    fn leader_handle(&mut self, env: &mut impl ZkEnv, sid: u32, msg: PeerMsg) {
        match msg {
            PeerMsg::AckEpoch {
                current_epoch,
                last_zxid,
            } => {
                let Some(l) = self.leader() else { return };
                let syncing = l.syncing;
                let Some(k) = l.links.get_mut(&sid) else {
                    return;
                };
                if k.phase != LinkPhase::EpochSent {
                    return;
                }
                k.phase = LinkPhase::EpochAcked;
                k.current_epoch = current_epoch;
                k.last_zxid = last_zxid;
                l.epoch_acks.insert(sid);
                if syncing {
                    self.send_sync(env, sid);
                } else {
                    self.check_epoch_acks(env);
                }
            }
            PeerMsg::AckNewLeader { epoch } => {
                let committed = self.committed_zxid();
                let Some(l) = self.leader() else { return };
                if epoch != l.epoch {
                    return;
                }
                let Some(k) = l.links.get_mut(&sid) else {
                    return;
                };
                if k.phase != LinkPhase::Synced {
                    return;
                }
                k.phase = LinkPhase::Ready;
                l.newleader_acks.insert(sid);
                if l.established {
                    self.leader_send(
                        env,
                        sid,
                        PeerMsg::UpToDate {
                            commit_upto: committed,
                        },
                    );
                } else {
                    self.check_newleader(env);
                }
            }
            PeerMsg::Ack { zxid } => {
                let Some(l) = self.leader() else { return };
                if let Some(acks) = l.proposals.get_mut(&zxid) {
                    acks.insert(sid);
                    self.try_commit(env);
                }
            }
            PeerMsg::Request {
                session,
                cxid,
                tag,
                req,
            } => self.leader_request(env, Some(sid), session, cxid, tag, req),
            PeerMsg::PingReply { touched } => {
                for s in touched {
                    self.leader_touch(env, s);
                }
            }
            _ => {}
        }
    }

    /// Counts the leader's own ack for every durable outstanding proposal.
    pub(crate) fn leader_self_ack(&mut self, env: &mut impl ZkEnv) {
        let durable = self.durable_zxid;
        let me = self.cfg.sid;
        let Some(l) = self.leader() else { return };
        let mut any = false;
        for (_, acks) in l.proposals.range_mut(..=durable) {
            any |= acks.insert(me);
        }
        if any {
            self.try_commit(env);
        }
    }

    /// Commits outstanding proposals in zxid order while the next one has a quorum.
    fn try_commit(&mut self, env: &mut impl ZkEnv) {
        let quorum = self.quorum();
        loop {
            let Some(l) = self.leader() else { return };
            if !l.established {
                return;
            }
            let Some((&zxid, acks)) = l.proposals.iter().next() else {
                return;
            };
            if acks.len() < quorum {
                return;
            }
            l.proposals.remove(&zxid);
            let forward: Vec<u32> = l
                .links
                .iter()
                .filter(|(_, k)| k.phase >= LinkPhase::Synced)
                .map(|(s, _)| *s)
                .collect();
            self.commit_upto(env, zxid);
            for sid in forward {
                self.leader_send(env, sid, PeerMsg::Commit { zxid });
            }
            // Syncs that waited for this commit.
            let Some(l) = self.leader() else { return };
            let (done, rest): (Vec<_>, Vec<_>) =
                l.pending_syncs.drain(..).partition(|s| s.0 <= zxid);
            l.pending_syncs = rest;
            for (_, origin, session, cxid) in done {
                self.reply_sync(env, origin, session, cxid);
            }
        }
    }

    fn reply_sync(&mut self, env: &mut impl ZkEnv, origin: Option<u32>, session: u64, cxid: u64) {
        match origin {
            None => self.clients_sync_done(env, session, cxid),
            Some(sid) => self.leader_send(env, sid, PeerMsg::SyncDone { session, cxid }),
        }
    }

    /// A write, session creation or sync, from a follower (`origin`) or this server.
    pub(crate) fn leader_request(
        &mut self,
        env: &mut impl ZkEnv,
        origin: Option<u32>,
        session: u64,
        cxid: u64,
        tag: u64,
        req: LeaderReq,
    ) {
        let last = self.last_zxid();
        let committed = self.committed_zxid();
        let Some(l) = self.leader() else { return };
        if !l.established {
            return;
        }
        let body = match req {
            LeaderReq::Op(op) => l.prep.prepare(session, &op),
            LeaderReq::CreateSession { timeout_ms } => TxnBody::CreateSession { timeout_ms },
            LeaderReq::Sync => {
                if last > committed {
                    l.pending_syncs.push((last, origin, session, cxid));
                } else {
                    self.reply_sync(env, origin, session, cxid);
                }
                return;
            }
        };
        self.propose(
            env,
            Txn {
                session,
                cxid,
                tag,
                body,
            },
        );
    }

    fn propose(&mut self, env: &mut impl ZkEnv, txn: Txn) {
        let Some(l) = self.leader() else { return };
        l.counter += 1;
        let zxid = Zxid::new(l.epoch, l.counter);
        l.prep.apply(zxid, &txn);
        l.proposals.insert(zxid, BTreeSet::new());
        let forward: Vec<u32> = l
            .links
            .iter()
            .filter(|(_, k)| k.phase >= LinkPhase::Synced)
            .map(|(s, _)| *s)
            .collect();
        self.proposed.push((zxid, txn.fingerprint()));
        self.append(
            env,
            Entry {
                zxid,
                txn: txn.clone(),
            },
        );
        self.fsync(env, AfterSync::Nothing);
        for sid in forward {
            self.leader_send(
                env,
                sid,
                PeerMsg::Proposal {
                    zxid,
                    txn: txn.clone(),
                },
            );
        }
    }

    /// A client of this session was heard from: push its deadline.
    pub(crate) fn leader_touch(&mut self, env: &mut impl ZkEnv, session: u64) {
        let now = env.now();
        let timeout = self.tree.sessions.get(&session).copied();
        let Some(l) = self.leader() else { return };
        if let (Some(t), Some(d)) = (timeout, l.expiry.get_mut(&session)) {
            *d = (*d).max(now + t as u64 * 1_000_000);
        }
    }

    pub(crate) fn leader_tick(&mut self, env: &mut impl ZkEnv) {
        let now = env.now();
        let tick = self.cfg.tick_ns;
        let init = tick * self.cfg.init_limit as u64;
        let sync = tick * self.cfg.sync_limit as u64;
        let quorum = self.quorum();
        let Some(l) = self.leader() else { return };
        if !l.established {
            if now.saturating_sub(l.started_ns) > init {
                env.note(
                    "init-limit",
                    "epoch not established within initLimit; looking again".to_string(),
                );
                self.start_looking(env);
            }
            return;
        }
        // Followers silent for syncLimit ticks are dropped.
        let silent: Vec<u32> = l
            .links
            .iter()
            .filter(|(_, k)| now.saturating_sub(k.last_heard_ns) > sync)
            .map(|(s, _)| *s)
            .collect();
        for s in &silent {
            l.links.remove(s);
            l.newleader_acks.remove(s);
        }
        let ready = l
            .links
            .values()
            .filter(|k| k.phase == LinkPhase::Ready)
            .count();
        if ready + 1 < quorum {
            env.note(
                "lost-quorum",
                format!(
                    "only {} of {} servers in touch; stepping down",
                    ready + 1,
                    quorum
                ),
            );
            self.start_looking(env);
            return;
        }
        let linked: Vec<u32> = l.links.keys().copied().collect();
        let expired: Vec<u64> = l
            .expiry
            .iter()
            .filter(|(s, d)| **d < now && !l.closing.contains(s))
            .map(|(s, _)| *s)
            .collect();
        for s in &expired {
            l.closing.insert(*s);
        }
        for sid in linked {
            self.leader_send(env, sid, PeerMsg::Ping);
        }
        for s in expired {
            env.note(
                "session-expired",
                format!("session {s:#x} expired; closing it"),
            );
            env.reached("session-expired");
            self.propose(
                env,
                Txn {
                    session: s,
                    cxid: 0,
                    tag: 0,
                    body: TxnBody::CloseSession,
                },
            );
        }
    }

    /// The leader's session tracker follows committed session transactions.
    pub(crate) fn leader_track_session(&mut self, env: &mut impl ZkEnv, txn: &Txn) {
        let now = env.now();
        let Some(l) = self.leader() else { return };
        match txn.body {
            TxnBody::CreateSession { timeout_ms } => {
                l.expiry
                    .insert(txn.session, now + timeout_ms as u64 * 1_000_000);
            }
            TxnBody::CloseSession => {
                l.expiry.remove(&txn.session);
                l.closing.remove(&txn.session);
            }
            _ => {}
        }
    }
}
