//! Client operations, transactions and results: the vocabulary of the ZooKeeper service.
//!
//! A client *operation* (`ZkOp`) is what the client API offers (ZooKeeper programmer's
//! guide: create, delete, setData, getData, exists, getChildren, sync). Writes are turned
//! by the leader's request processor into idempotent *transactions* (`TxnBody`): the
//! sequential name is resolved, the new version computed, and a request that fails its
//! checks still gets a zxid as an error transaction (`PrepRequestProcessor`), so every
//! server answers it the same way.

use std::fmt;

use crate::codec::{Reader, Writer};

/// A client operation.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ZkOp {
    Create {
        path: String,
        data: i64,
        ephemeral: bool,
        sequential: bool,
    },
    /// `version = -1` deletes whatever version is there.
    Delete {
        path: String,
        version: i32,
    },
    /// `version = -1` sets unconditionally; otherwise a compare-and-set on the version.
    SetData {
        path: String,
        data: i64,
        version: i32,
    },
    GetData {
        path: String,
        watch: bool,
    },
    Exists {
        path: String,
        watch: bool,
    },
    GetChildren {
        path: String,
        watch: bool,
    },
    /// Waits until the server has applied everything the leader committed before the
    /// sync reached it (ZooKeeper's `sync`), so a following read is up to date.
    Sync {
        path: String,
    },
}

impl ZkOp {
    /// Writes go through ZAB; reads are answered by the server the client is connected to.
    pub fn is_write(&self) -> bool {
        matches!(
            self,
            ZkOp::Create { .. } | ZkOp::Delete { .. } | ZkOp::SetData { .. }
        )
    }
    pub fn path(&self) -> &str {
        match self {
            ZkOp::Create { path, .. }
            | ZkOp::Delete { path, .. }
            | ZkOp::SetData { path, .. }
            | ZkOp::GetData { path, .. }
            | ZkOp::Exists { path, .. }
            | ZkOp::GetChildren { path, .. }
            | ZkOp::Sync { path } => path,
        }
    }
}

/// ZooKeeper's error codes (the subset this model produces).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrCode {
    NoNode,
    NodeExists,
    BadVersion,
    NotEmpty,
    NoChildrenForEphemerals,
    SessionExpired,
    BadArguments,
    /// The connection to the server was lost with the request outstanding: the client
    /// cannot tell whether it took effect.
    ConnectionLoss,
}

impl ErrCode {
    fn code(self) -> u8 {
        self as u8
    }
    fn from_code(c: u8) -> Option<Self> {
        use ErrCode::*;
        [
            NoNode,
            NodeExists,
            BadVersion,
            NotEmpty,
            NoChildrenForEphemerals,
            SessionExpired,
            BadArguments,
            ConnectionLoss,
        ]
        .get(c as usize)
        .copied()
    }
}

impl fmt::Display for ErrCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A znode's metadata, as `Stat` in ZooKeeper.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Stat {
    pub czxid: u64,
    pub mzxid: u64,
    /// Data version: +1 per setData.
    pub version: i32,
    /// Children version: +1 per child created or deleted.
    pub cversion: i32,
    /// Zxid of the last change to the children.
    pub pzxid: u64,
    /// Session id of the owner of an ephemeral node, 0 otherwise.
    pub ephemeral_owner: u64,
    pub num_children: u32,
}

/// What a transaction does, once prepared by the leader.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TxnBody {
    CreateSession {
        timeout_ms: u32,
    },
    /// Closes (expires) the session and deletes its ephemeral nodes.
    CloseSession,
    Create {
        /// Final path (sequential suffix included).
        path: String,
        data: i64,
        ephemeral_owner: u64,
    },
    Delete {
        path: String,
    },
    SetData {
        path: String,
        data: i64,
        /// The version the node gets: the old version + 1.
        version: i32,
    },
    /// A request that failed its checks.
    Error {
        err: ErrCode,
    },
}

/// A transaction with its request header.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Txn {
    /// The session that asked for it.
    pub session: u64,
    /// The client's request number (xid) in that session.
    pub cxid: u64,
    /// An opaque tag from the client (dsim: history op id + 1, 0 for none), carried so the
    /// simulator knows which timed-out operations took effect.
    pub tag: u64,
    pub body: TxnBody,
}

impl Txn {
    pub fn encode(&self, w: &mut Writer) {
        w.u64(self.session);
        w.u64(self.cxid);
        w.u64(self.tag);
        match &self.body {
            TxnBody::CreateSession { timeout_ms } => {
                w.u8(0);
                w.u32(*timeout_ms);
            }
            TxnBody::CloseSession => w.u8(1),
            TxnBody::Create {
                path,
                data,
                ephemeral_owner,
            } => {
                w.u8(2);
                w.str(path);
                w.i64(*data);
                w.u64(*ephemeral_owner);
            }
            TxnBody::Delete { path } => {
                w.u8(3);
                w.str(path);
            }
            TxnBody::SetData {
                path,
                data,
                version,
            } => {
                w.u8(4);
                w.str(path);
                w.i64(*data);
                w.i32(*version);
            }
            TxnBody::Error { err } => {
                w.u8(5);
                w.u8(err.code());
            }
        }
    }

    pub fn decode(r: &mut Reader<'_>) -> Option<Txn> {
        let session = r.u64()?;
        let cxid = r.u64()?;
        let tag = r.u64()?;
        let body = match r.u8()? {
            0 => TxnBody::CreateSession {
                timeout_ms: r.u32()?,
            },
            1 => TxnBody::CloseSession,
            2 => TxnBody::Create {
                path: r.str()?,
                data: r.i64()?,
                ephemeral_owner: r.u64()?,
            },
            3 => TxnBody::Delete { path: r.str()? },
            4 => TxnBody::SetData {
                path: r.str()?,
                data: r.i64()?,
                version: r.i32()?,
            },
            5 => TxnBody::Error {
                err: ErrCode::from_code(r.u8()?)?,
            },
            _ => return None,
        };
        Some(Txn {
            session,
            cxid,
            tag,
            body,
        })
    }

    /// A stable fingerprint, for the agreement checks.
    pub fn fingerprint(&self) -> u64 {
        let mut w = Writer::default();
        self.encode(&mut w);
        crate::codec::checksum(&w.buf)
    }

    /// Bytes on the wire (rough).
    pub fn size_bytes(&self) -> usize {
        48 + match &self.body {
            TxnBody::Create { path, .. }
            | TxnBody::Delete { path }
            | TxnBody::SetData { path, .. } => path.len(),
            _ => 0,
        }
    }

    /// Does this transaction change the data tree (not an error)?
    pub fn is_effective(&self) -> bool {
        !matches!(self.body, TxnBody::Error { .. })
    }
}

/// What the server answers to a request.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ZkResult {
    Created { path: String, stat: Stat },
    Deleted,
    Set { stat: Stat },
    Data { data: i64, stat: Stat },
    Exists(Option<Stat>),
    Children(Vec<String>),
    Synced,
    Err(ErrCode),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn txns_round_trip() {
        let bodies = vec![
            TxnBody::CreateSession { timeout_ms: 4000 },
            TxnBody::CloseSession,
            TxnBody::Create {
                path: "/lock/n-0000000003".into(),
                data: 9,
                ephemeral_owner: 77,
            },
            TxnBody::Delete { path: "/k".into() },
            TxnBody::SetData {
                path: "/k".into(),
                data: -1,
                version: 4,
            },
            TxnBody::Error {
                err: ErrCode::BadVersion,
            },
        ];
        for body in bodies {
            let t = Txn {
                session: 5,
                cxid: 6,
                tag: 7,
                body,
            };
            let mut w = Writer::default();
            t.encode(&mut w);
            let mut r = Reader::new(&w.buf);
            assert_eq!(Txn::decode(&mut r), Some(t));
            assert!(r.at_end());
        }
    }
}
