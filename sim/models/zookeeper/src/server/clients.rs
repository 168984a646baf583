//! The client-facing side of a server: connections and sessions, reads served from the
//! local tree (so they can be stale: ZooKeeper guarantees sequential consistency per
//! client, not linearizable reads), writes forwarded to the leader, `sync`, and one-shot
//! watches (ZooKeeper programmer's guide, "ZooKeeper Watches" and "Consistency
//! Guarantees").
//!
//! A client connects with the last zxid it has seen; a server behind that refuses it (the
//! client tries another), so a client never sees the state go back in time. A new
//! session is a createSession transaction; sessions are kept alive by pings that the
//! server reports to the leader's session tracker. A server that stops serving (it lost
//! its leader) closes every connection; its clients reconnect elsewhere and re-register
//! their watches there (SetWatches), which fire at once if the node changed meanwhile.

use std::collections::{BTreeMap, BTreeSet};

use dsim_core::{NodeId, Rng};

use crate::env::ZkEnv;
use crate::msg::{LeaderReq, PeerMsg, WatchKind, ZkMsg};
use crate::tree::Trigger;
use crate::txn::{Txn, TxnBody, ZkOp, ZkResult};
use crate::zxid::Zxid;

use super::{Role, ZkServer};

/// Session timeouts are clamped to [2, 20] ticks, as ZooKeeper does.
pub const MIN_SESSION_TICKS: u64 = 2;
pub const MAX_SESSION_TICKS: u64 = 20;

#[derive(Clone, Debug, Default)]
pub struct Clients {
    /// Session -> the client node connected with it.
    pub conns: BTreeMap<u64, NodeId>,
    /// New sessions waiting for their createSession to commit.
    connecting: BTreeMap<u64, NodeId>,
    /// Writes and syncs waiting: (session, xid) -> client.
    pending: BTreeMap<(u64, u64), NodeId>,
    data_watches: BTreeMap<String, BTreeSet<u64>>,
    /// Last sequence number sent on each session's connection.
    out_seq: BTreeMap<u64, u64>,
    child_watches: BTreeMap<String, BTreeSet<u64>>,
}

impl ZkServer {
    pub(crate) fn on_client_msg(&mut self, env: &mut impl ZkEnv, from: NodeId, msg: ZkMsg) {
        match msg {
            ZkMsg::Connect {
                session,
                timeout_ms,
                last_zxid,
            } => self.on_connect(env, from, session, timeout_ms, last_zxid),
            ZkMsg::Request {
                session,
                xid,
                tag,
                op,
            } => {
                if !self.is_serving() || self.clients.conns.get(&session) != Some(&from) {
                    env.send(from, ZkMsg::Closed);
                    return;
                }
                self.touch(env, session);
                match op {
                    ZkOp::GetData { .. } | ZkOp::Exists { .. } | ZkOp::GetChildren { .. } => {
                        let result = self.tree.read(&op);
                        self.register_watch(session, &op, &result);
                        let zxid = self.tree.last_zxid;
                        self.send_client(env, session, |seq| ZkMsg::Response {
                            seq,
                            xid,
                            zxid,
                            result,
                        });
                    }
                    ZkOp::Sync { .. } => {
                        self.clients.pending.insert((session, xid), from);
                        self.submit(env, session, xid, tag, LeaderReq::Sync);
                    }
                    write => {
                        self.clients.pending.insert((session, xid), from);
                        self.submit(env, session, xid, tag, LeaderReq::Op(write));
                    }
                }
            }
            ZkMsg::SetWatches {
                session,
                relative_zxid,
                data,
                child,
            } if self.is_serving() && self.clients.conns.get(&session) == Some(&from) => {
                self.set_watches(env, session, relative_zxid.as_u64(), data, child);
            }
            ZkMsg::Ping { session } => {
                if self.is_serving() && self.clients.conns.get(&session) == Some(&from) {
                    self.touch(env, session);
                    self.send_client(env, session, |seq| ZkMsg::Pong { seq });
                } else {
                    env.send(from, ZkMsg::Closed);
                }
            }
            _ => {}
        }
    }

    fn on_connect(
        &mut self,
        env: &mut impl ZkEnv,
        from: NodeId,
        session: u64,
        timeout_ms: u32,
        last_zxid: Zxid,
    ) {
        if !self.is_serving() || self.tree.last_zxid < last_zxid {
            env.send(from, ZkMsg::ConnectRefused);
            return;
        }
        let tick_ms = self.cfg.tick_ns / 1_000_000;
        let timeout_ms = (timeout_ms as u64)
            .clamp(MIN_SESSION_TICKS * tick_ms, MAX_SESSION_TICKS * tick_ms)
            as u32;
        if session == 0 {
            let id = (env.rng().gen::<u64>() >> 1) | 1;
            self.clients.connecting.insert(id, from);
            self.submit(env, id, 0, 0, LeaderReq::CreateSession { timeout_ms });
        } else if let Some(t) = self.tree.sessions.get(&session).copied() {
            self.clients.conns.retain(|_, n| *n != from);
            self.clients.conns.insert(session, from);
            self.clients.out_seq.insert(session, 0);
            self.touch(env, session);
            env.send(
                from,
                ZkMsg::ConnectOk {
                    session,
                    timeout_ms: t,
                },
            );
        } else {
            env.send(from, ZkMsg::SessionExpired { session });
        }
    }

    fn submit(&mut self, env: &mut impl ZkEnv, session: u64, cxid: u64, tag: u64, req: LeaderReq) {
        match &self.role {
            Role::Leading(_) => self.leader_request(env, None, session, cxid, tag, req),
            Role::Following(_) => self.follower_send(
                env,
                PeerMsg::Request {
                    session,
                    cxid,
                    tag,
                    req,
                },
            ),
            Role::Looking(_) => {}
        }
    }

    fn touch(&mut self, env: &mut impl ZkEnv, session: u64) {
        match &self.role {
            Role::Leading(_) => self.leader_touch(env, session),
            Role::Following(_) => self.follower_touch(session),
            Role::Looking(_) => {}
        }
    }

    fn register_watch(&mut self, session: u64, op: &ZkOp, result: &ZkResult) {
        match op {
            ZkOp::GetData { path, watch: true } if !matches!(result, ZkResult::Err(_)) => {
                self.clients
                    .data_watches
                    .entry(path.clone())
                    .or_default()
                    .insert(session);
            }
            // exists() leaves a watch whether or not the node exists.
            ZkOp::Exists { path, watch: true } => {
                self.clients
                    .data_watches
                    .entry(path.clone())
                    .or_default()
                    .insert(session);
            }
            ZkOp::GetChildren { path, watch: true } if !matches!(result, ZkResult::Err(_)) => {
                self.clients
                    .child_watches
                    .entry(path.clone())
                    .or_default()
                    .insert(session);
            }
            _ => {}
        }
    }

    /// A committed transaction was applied here.
    pub(crate) fn clients_on_commit(
        &mut self,
        env: &mut impl ZkEnv,
        zxid: Zxid,
        txn: &Txn,
        result: ZkResult,
        triggers: Vec<Trigger>,
    ) {
        if matches!(self.role, Role::Leading(_)) {
            self.leader_track_session(env, txn);
        }
        match txn.body {
            TxnBody::CreateSession { timeout_ms } => {
                if let Some(client) = self.clients.connecting.remove(&txn.session) {
                    self.clients.conns.retain(|_, n| *n != client);
                    self.clients.conns.insert(txn.session, client);
                    self.clients.out_seq.insert(txn.session, 0);
                    env.send(
                        client,
                        ZkMsg::ConnectOk {
                            session: txn.session,
                            timeout_ms,
                        },
                    );
                }
            }
            TxnBody::CloseSession => {
                if let Some(client) = self.clients.conns.remove(&txn.session) {
                    env.send(
                        client,
                        ZkMsg::SessionExpired {
                            session: txn.session,
                        },
                    );
                }
                for w in self
                    .clients
                    .data_watches
                    .values_mut()
                    .chain(self.clients.child_watches.values_mut())
                {
                    w.remove(&txn.session);
                }
            }
            _ => {}
        }
        if self
            .clients
            .pending
            .remove(&(txn.session, txn.cxid))
            .is_some()
        {
            let xid = txn.cxid;
            self.send_client(env, txn.session, |seq| ZkMsg::Response {
                seq,
                xid,
                zxid,
                result,
            });
        }
        let mut fired = 0;
        for t in triggers {
            let (path, kinds): (&String, &[(bool, WatchKind)]) = match &t {
                Trigger::Created(p) => (p, &[(true, WatchKind::NodeCreated)]),
                Trigger::Deleted(p) => (
                    p,
                    &[
                        (true, WatchKind::NodeDeleted),
                        (false, WatchKind::NodeDeleted),
                    ],
                ),
                Trigger::DataChanged(p) => (p, &[(true, WatchKind::NodeDataChanged)]),
                Trigger::ChildrenChanged(p) => (p, &[(false, WatchKind::NodeChildrenChanged)]),
            };
            for (data, kind) in kinds {
                let map = if *data {
                    &mut self.clients.data_watches
                } else {
                    &mut self.clients.child_watches
                };
                let Some(sessions) = map.remove(path) else {
                    continue;
                };
                for s in sessions {
                    let (path, kind) = (path.clone(), *kind);
                    if self.send_client(env, s, |seq| ZkMsg::WatchEvent { seq, path, kind }) {
                        fired += 1;
                    }
                }
            }
        }
        if fired > 0 {
            env.metric("watch-notifications", fired);
        }
    }

    pub(crate) fn clients_sync_done(&mut self, env: &mut impl ZkEnv, session: u64, cxid: u64) {
        if self.clients.pending.remove(&(session, cxid)).is_some() {
            let zxid = self.tree.last_zxid;
            self.send_client(env, session, |seq| ZkMsg::Response {
                seq,
                xid: cxid,
                zxid,
                result: ZkResult::Synced,
            });
        }
    }

    /// Re-registers a reconnecting client's watches, firing those already triggered.
    fn set_watches(
        &mut self,
        env: &mut impl ZkEnv,
        session: u64,
        rel: u64,
        data: Vec<(String, bool)>,
        child: Vec<String>,
    ) {
        for (path, existed) in data {
            let kind = match (self.tree.get(&path), existed) {
                (None, true) => Some(WatchKind::NodeDeleted),
                (Some(_), false) => Some(WatchKind::NodeCreated),
                (Some(n), true) if n.stat.mzxid > rel => Some(WatchKind::NodeDataChanged),
                _ => None,
            };
            match kind {
                Some(kind) => {
                    self.send_client(env, session, |seq| ZkMsg::WatchEvent { seq, path, kind });
                }
                None => {
                    self.clients
                        .data_watches
                        .entry(path)
                        .or_default()
                        .insert(session);
                }
            }
        }
        for path in child {
            let kind = match self.tree.get(&path) {
                None => Some(WatchKind::NodeDeleted),
                Some(n) if n.stat.pzxid > rel => Some(WatchKind::NodeChildrenChanged),
                _ => None,
            };
            match kind {
                Some(kind) => {
                    self.send_client(env, session, |seq| ZkMsg::WatchEvent { seq, path, kind });
                }
                None => {
                    self.clients
                        .child_watches
                        .entry(path)
                        .or_default()
                        .insert(session);
                }
            }
        }
    }

    /// Sends on a session's connection with its next sequence number; false when the
    /// session is not connected here.
    fn send_client(
        &mut self,
        env: &mut impl ZkEnv,
        session: u64,
        msg: impl FnOnce(u64) -> ZkMsg,
    ) -> bool {
        let Some(client) = self.clients.conns.get(&session).copied() else {
            return false;
        };
        let seq = self.clients.out_seq.entry(session).or_insert(0);
        *seq += 1;
        env.send(client, msg(*seq));
        true
    }

    /// Stops serving: every connection is closed.
    pub(crate) fn drop_clients(&mut self, env: &mut impl ZkEnv) {
        let c = std::mem::take(&mut self.clients);
        let mut told = BTreeSet::new();
        for n in c
            .conns
            .values()
            .chain(c.connecting.values())
            .chain(c.pending.values())
        {
            if told.insert(*n) {
                env.send(*n, ZkMsg::Closed);
            }
        }
    }
}
