//! The client library: one ZooKeeper session (the `ZooKeeper` handle of the Java client),
//! embeddable in any host node.
//!
//! It connects to a server (chosen at random, then round-robin on failure), opens a
//! session or resumes one with the last zxid it has seen, sends requests with
//! increasing xids, pings every third of the session timeout, and treats two thirds of
//! the timeout without hearing from the server as a lost connection (the Java client's
//! read timeout). A lost connection fails outstanding requests with `ConnectionLoss`
//! (their effect is unknown) and reconnects elsewhere. Only a server can say the session
//! expired; then the host must open a new session ([`ZkSession::new_session`]).
//!
//! The host feeds messages and timers in and gets [`ZkEvent`]s back.

use std::collections::{BTreeMap, BTreeSet};

use dsim_core::{NodeId, Rng};

use crate::env::ZkEnv;
use crate::msg::{WatchKind, ZkMsg};
use crate::timer::{SessionTimer, ZkTimer};
use crate::txn::{ErrCode, ZkOp, ZkResult};
use crate::zxid::Zxid;

/// What the host learns from the session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ZkEvent {
    Connected {
        session: u64,
        server: NodeId,
    },
    /// The connection was lost; the session may still be alive.
    Disconnected,
    /// The ensemble expired the session: its ephemeral nodes are gone.
    Expired {
        session: u64,
    },
    Reply {
        xid: u64,
        result: ZkResult,
    },
    Watch {
        path: String,
        kind: WatchKind,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionState {
    Disconnected,
    Connecting(NodeId),
    Connected(NodeId),
    Expired,
}

/// Delay before retrying after a refused connection.
pub const RETRY_NS: u64 = 50_000_000;

#[derive(Clone, Debug)]
pub struct ZkSession {
    pub servers: Vec<NodeId>,
    /// Requested session timeout; replaced by the server's answer.
    pub timeout_ms: u32,
    pub state: SessionState,
    /// 0 until a session is open.
    pub session_id: u64,
    /// Highest zxid seen in a response.
    pub last_zxid: Zxid,
    next_xid: u64,
    next_server: usize,
    pending: BTreeMap<u64, ZkOp>,
    /// In-order delivery of the connection's sequenced messages.
    in_next: u64,
    in_buf: BTreeMap<u64, ZkMsg>,
    /// Watches this session holds: data watches (path -> the node existed when set) and
    /// child watches. Re-registered on reconnect.
    data_watches: BTreeMap<String, bool>,
    child_watches: BTreeSet<String>,
}

impl ZkSession {
    pub fn new(servers: Vec<NodeId>, timeout_ms: u32) -> Self {
        ZkSession {
            servers,
            timeout_ms,
            state: SessionState::Disconnected,
            session_id: 0,
            last_zxid: Zxid::ZERO,
            next_xid: 1,
            next_server: 0,
            pending: BTreeMap::new(),
            in_next: 1,
            in_buf: BTreeMap::new(),
            data_watches: BTreeMap::new(),
            child_watches: BTreeSet::new(),
        }
    }

    pub fn is_connected(&self) -> bool {
        matches!(self.state, SessionState::Connected(_))
    }

    pub fn server(&self) -> Option<NodeId> {
        match self.state {
            SessionState::Connecting(s) | SessionState::Connected(s) => Some(s),
            _ => None,
        }
    }

    fn silence_ns(&self) -> u64 {
        self.timeout_ms as u64 * 1_000_000 * 2 / 3
    }

    /// Starts connecting (from boot).
    pub fn start(&mut self, env: &mut impl ZkEnv) {
        if self.servers.is_empty() {
            return;
        }
        self.next_server = env.rng().gen_range(0..self.servers.len());
        self.connect(env);
    }

    /// After expiry: open a fresh session.
    pub fn new_session(&mut self, env: &mut impl ZkEnv) {
        self.session_id = 0;
        self.data_watches.clear();
        self.child_watches.clear();
        self.connect(env);
    }

    fn connect(&mut self, env: &mut impl ZkEnv) {
        let Some(&server) = self
            .servers
            .get(self.next_server % self.servers.len().max(1))
        else {
            return;
        };
        self.next_server = (self.next_server + 1) % self.servers.len();
        self.state = SessionState::Connecting(server);
        env.send(
            server,
            ZkMsg::Connect {
                session: self.session_id,
                timeout_ms: self.timeout_ms,
                last_zxid: self.last_zxid,
            },
        );
        env.set_timer(
            ZkTimer::Session(SessionTimer::Silence),
            (self.silence_ns() / 2).max(RETRY_NS),
        );
    }

    /// Sends a request; None when not connected (the caller sees a connection loss).
    pub fn request(&mut self, env: &mut impl ZkEnv, op: ZkOp, tag: u64) -> Option<u64> {
        let SessionState::Connected(server) = self.state else {
            return None;
        };
        let xid = self.next_xid;
        self.next_xid += 1;
        self.pending.insert(xid, op.clone());
        env.send(
            server,
            ZkMsg::Request {
                session: self.session_id,
                xid,
                tag,
                op,
            },
        );
        Some(xid)
    }

    /// Fails every outstanding request and reconnects (now, or after `delay_ns`).
    fn lose_connection(&mut self, env: &mut impl ZkEnv, out: &mut Vec<ZkEvent>, err: ErrCode) {
        for (xid, _) in std::mem::take(&mut self.pending) {
            out.push(ZkEvent::Reply {
                xid,
                result: ZkResult::Err(err),
            });
        }
        env.cancel_timer(ZkTimer::Session(SessionTimer::Ping));
        if matches!(self.state, SessionState::Connected(_)) {
            out.push(ZkEvent::Disconnected);
        }
    }

    pub fn on_message(&mut self, env: &mut impl ZkEnv, from: NodeId, msg: ZkMsg) -> Vec<ZkEvent> {
        let mut out = Vec::new();
        if self.server() != Some(from) || self.state == SessionState::Expired {
            return out;
        }
        let seq = match &msg {
            ZkMsg::Response { seq, .. } | ZkMsg::Pong { seq } | ZkMsg::WatchEvent { seq, .. } => {
                Some(*seq)
            }
            _ => None,
        };
        let Some(seq) = seq else {
            self.handle(env, from, msg, &mut out);
            return out;
        };
        if seq < self.in_next || !self.is_connected() {
            return out;
        }
        self.in_buf.insert(seq, msg);
        while let Some(m) = self.in_buf.remove(&self.in_next) {
            self.in_next += 1;
            self.handle(env, from, m, &mut out);
        }
        out
    }

    fn handle(&mut self, env: &mut impl ZkEnv, from: NodeId, msg: ZkMsg, out: &mut Vec<ZkEvent>) {
        let silence = self.silence_ns();
        match msg {
            ZkMsg::ConnectOk {
                session,
                timeout_ms,
            } => {
                if self.session_id != 0 && self.session_id != session {
                    return;
                }
                let resumed = self.session_id == session;
                self.session_id = session;
                self.timeout_ms = timeout_ms;
                self.state = SessionState::Connected(from);
                self.in_next = 1;
                self.in_buf.clear();
                if resumed && (!self.data_watches.is_empty() || !self.child_watches.is_empty()) {
                    env.send(
                        from,
                        ZkMsg::SetWatches {
                            session,
                            relative_zxid: self.last_zxid,
                            data: self
                                .data_watches
                                .iter()
                                .map(|(p, e)| (p.clone(), *e))
                                .collect(),
                            child: self.child_watches.iter().cloned().collect(),
                        },
                    );
                }
                env.set_timer(ZkTimer::Session(SessionTimer::Silence), self.silence_ns());
                env.set_timer(
                    ZkTimer::Session(SessionTimer::Ping),
                    timeout_ms as u64 * 1_000_000 / 3,
                );
                out.push(ZkEvent::Connected {
                    session,
                    server: from,
                });
            }
            ZkMsg::ConnectRefused | ZkMsg::Closed => {
                self.lose_connection(env, out, ErrCode::ConnectionLoss);
                self.state = SessionState::Disconnected;
                env.set_timer(ZkTimer::Session(SessionTimer::Silence), RETRY_NS);
            }
            ZkMsg::SessionExpired { session } => {
                if session != self.session_id {
                    return;
                }
                self.lose_connection(env, out, ErrCode::SessionExpired);
                self.state = SessionState::Expired;
                env.cancel_timer(ZkTimer::Session(SessionTimer::Silence));
                out.push(ZkEvent::Expired { session });
            }
            ZkMsg::Response {
                xid, zxid, result, ..
            } => {
                self.last_zxid = self.last_zxid.max(zxid);
                env.set_timer(ZkTimer::Session(SessionTimer::Silence), silence);
                if let Some(op) = self.pending.remove(&xid) {
                    self.note_watch(&op, &result);
                    out.push(ZkEvent::Reply { xid, result });
                }
            }
            ZkMsg::Pong { .. } => env.set_timer(ZkTimer::Session(SessionTimer::Silence), silence),
            ZkMsg::WatchEvent { path, kind, .. } => {
                match kind {
                    WatchKind::NodeChildrenChanged => {
                        self.child_watches.remove(&path);
                    }
                    WatchKind::NodeDeleted => {
                        self.child_watches.remove(&path);
                        self.data_watches.remove(&path);
                    }
                    WatchKind::NodeCreated | WatchKind::NodeDataChanged => {
                        self.data_watches.remove(&path);
                    }
                }
                out.push(ZkEvent::Watch { path, kind })
            }
            _ => {}
        }
    }

    /// Remembers a watch that a successful read left on the server.
    fn note_watch(&mut self, op: &ZkOp, result: &ZkResult) {
        match (op, result) {
            (ZkOp::GetData { path, watch: true }, ZkResult::Data { .. }) => {
                self.data_watches.insert(path.clone(), true);
            }
            (ZkOp::Exists { path, watch: true }, ZkResult::Exists(stat)) => {
                self.data_watches.insert(path.clone(), stat.is_some());
            }
            (ZkOp::GetChildren { path, watch: true }, ZkResult::Children(_)) => {
                self.child_watches.insert(path.clone());
            }
            _ => {}
        }
    }

    pub fn on_timer(&mut self, env: &mut impl ZkEnv, timer: ZkTimer) -> Vec<ZkEvent> {
        let mut out = Vec::new();
        let ZkTimer::Session(t) = timer else {
            return out;
        };
        match (t, self.state) {
            (SessionTimer::Ping, SessionState::Connected(server)) => {
                env.send(
                    server,
                    ZkMsg::Ping {
                        session: self.session_id,
                    },
                );
                env.set_timer(
                    ZkTimer::Session(SessionTimer::Ping),
                    self.timeout_ms as u64 * 1_000_000 / 3,
                );
            }
            (
                SessionTimer::Silence,
                SessionState::Connected(_)
                | SessionState::Connecting(_)
                | SessionState::Disconnected,
            ) => {
                self.lose_connection(env, &mut out, ErrCode::ConnectionLoss);
                self.connect(env);
            }
            _ => {}
        }
        out
    }
}
