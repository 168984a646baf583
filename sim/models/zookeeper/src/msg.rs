//! Messages of the ensemble: Fast Leader Election notifications, the ZAB link between a
//! leader and each follower (a FIFO channel, as ZooKeeper's TCP connections are), and the
//! client protocol.
//!
//! ZAB assumes FIFO, prefix-complete links (Junqueira et al., DSN 2011). The simulated network reorders and
//! may drop, so every ZAB message travels as `Peer { conn, seq }`: the receiver delivers
//! a connection's messages in `seq` order and waits at a gap; a lost message stalls the
//! link until a timeout tears it down, as a broken TCP connection would.

use dsim_core::Message;

use crate::tree::DataTree;
use crate::txn::{Txn, ZkOp, ZkResult};
use crate::zxid::{Vote, Zxid};

/// A server's state as FLE notifications report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PeerState {
    Looking,
    Following,
    Leading,
}

/// What a follower asks the leader to order.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum LeaderReq {
    Op(ZkOp),
    CreateSession {
        timeout_ms: u32,
    },
    /// `sync`: answered after everything committed before it reached the leader.
    Sync,
}

/// Messages on the leader-follower link (ZooKeeper's `QuorumPacket` types).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PeerMsg {
    /// Follower -> leader: FOLLOWERINFO (discovery, Zab phase 1).
    FollowerInfo {
        sid: u32,
        accepted_epoch: u32,
        last_zxid: Zxid,
    },
    /// Leader -> follower: LEADERINFO, the new epoch.
    LeaderInfo {
        new_epoch: u32,
    },
    /// Follower -> leader: ACKEPOCH with its history's freshness.
    AckEpoch {
        current_epoch: u32,
        last_zxid: Zxid,
    },
    /// Leader -> follower: synchronization (Zab phase 2): TRUNC and/or DIFF, or SNAP,
    /// followed by NEWLEADER for `new_epoch`. Transactions up to `commit_upto` are
    /// committed.
    Sync {
        trunc: Option<Zxid>,
        snap: Option<Box<DataTree>>,
        txns: Vec<(Zxid, Txn)>,
        commit_upto: Zxid,
        new_epoch: u32,
    },
    /// Follower -> leader: ACK of NEWLEADER.
    AckNewLeader {
        epoch: u32,
    },
    /// Leader -> follower: UPTODATE; the follower may serve clients.
    UpToDate {
        commit_upto: Zxid,
    },
    /// Broadcast (Zab phase 3).
    Proposal {
        zxid: Zxid,
        txn: Txn,
    },
    Ack {
        zxid: Zxid,
    },
    Commit {
        zxid: Zxid,
    },
    /// Follower -> leader: a client's write, session creation or sync.
    Request {
        session: u64,
        cxid: u64,
        tag: u64,
        req: LeaderReq,
    },
    /// Leader -> follower: the sync of (session, cxid) has passed.
    SyncDone {
        session: u64,
        cxid: u64,
    },
    Ping,
    /// Follower -> leader: sessions its clients touched since the last ping.
    PingReply {
        touched: Vec<u64>,
    },
}

/// Kinds of watch events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WatchKind {
    NodeCreated,
    NodeDeleted,
    NodeDataChanged,
    NodeChildrenChanged,
}

/// Every message of the ZooKeeper model.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ZkMsg {
    /// FLE notification.
    Notification {
        sid: u32,
        /// The sender's incarnation and a counter: FLE runs over FIFO TCP connections,
        /// so a receiver ignores a notification older than one it already has.
        inc: u64,
        seq: u64,
        vote: Vote,
        election_epoch: u64,
        state: PeerState,
    },
    Peer {
        conn: u64,
        seq: u64,
        body: PeerMsg,
    },
    /// Client -> server: open (session 0) or resume a session.
    Connect {
        session: u64,
        timeout_ms: u32,
        last_zxid: Zxid,
    },
    ConnectOk {
        session: u64,
        timeout_ms: u32,
    },
    /// The server is not serving, or is behind what the client has seen.
    ConnectRefused,
    Request {
        session: u64,
        xid: u64,
        tag: u64,
        op: ZkOp,
    },
    /// Server -> client messages of one connection carry `seq` (1, 2, ... after
    /// ConnectOk): the client handles them in order, as ZooKeeper's TCP connection
    /// delivers them. A watch event thus never overtakes the response that set it.
    Response {
        seq: u64,
        xid: u64,
        zxid: Zxid,
        result: ZkResult,
    },
    /// Client -> server after reconnecting: re-register the watches the client still
    /// holds (ZooKeeper's SetWatches). The server fires at once those whose node changed
    /// after `relative_zxid`, the last zxid the client saw.
    SetWatches {
        session: u64,
        relative_zxid: Zxid,
        /// (path, the node existed when the watch was set)
        data: Vec<(String, bool)>,
        child: Vec<String>,
    },
    Ping {
        session: u64,
    },
    Pong {
        seq: u64,
    },
    WatchEvent {
        seq: u64,
        path: String,
        kind: WatchKind,
    },
    SessionExpired {
        session: u64,
    },
    /// The server dropped the connection (it stopped serving).
    Closed,
}

impl Message for ZkMsg {
    fn size_bytes(&self) -> usize {
        match self {
            ZkMsg::Peer { body, .. } => match body {
                PeerMsg::Sync { snap, txns, .. } => {
                    64 + snap.as_ref().map_or(0, |t| t.size_bytes())
                        + txns.iter().map(|(_, t)| t.size_bytes() + 8).sum::<usize>()
                }
                PeerMsg::Proposal { txn, .. } => 32 + txn.size_bytes(),
                PeerMsg::PingReply { touched } => 32 + 8 * touched.len(),
                _ => 48,
            },
            ZkMsg::Response {
                result: ZkResult::Children(c),
                ..
            } => 48 + c.iter().map(|s| s.len() + 4).sum::<usize>(),
            _ => 64,
        }
    }
}
