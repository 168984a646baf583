//! The data tree: znodes with data and versions, the session table, and ephemeral nodes
//! bound to sessions (ZooKeeper's `DataTree`).
//!
//! `prepare` is the leader's request check (`PrepRequestProcessor`): it validates a write
//! against the tree as it will be after every outstanding proposal and produces a
//! transaction, an error transaction if the write fails. `apply` runs a committed
//! transaction; it is deterministic, so every server that applies the same sequence of
//! transactions has the same tree. `apply` reports the watch triggers it caused.

use std::collections::{BTreeMap, BTreeSet};

use crate::codec::{Reader, Writer};
use crate::txn::{ErrCode, Stat, Txn, TxnBody, ZkOp, ZkResult};
use crate::zxid::Zxid;

/// Longest path accepted.
pub const MAX_PATH_BYTES: usize = 256;

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Znode {
    pub data: i64,
    pub stat: Stat,
    pub children: BTreeSet<String>,
}

/// A change that fires watches.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Trigger {
    Created(String),
    Deleted(String),
    DataChanged(String),
    ChildrenChanged(String),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DataTree {
    pub nodes: BTreeMap<String, Znode>,
    /// Live sessions and their timeouts.
    pub sessions: BTreeMap<u64, u32>,
    /// Ephemeral nodes per owning session.
    pub ephemerals: BTreeMap<u64, BTreeSet<String>>,
    /// Last applied transaction.
    pub last_zxid: Zxid,
    /// The first time a setData moved a version by anything but +1 (for the
    /// `version-increments` check).
    pub version_anomaly: Option<String>,
}

impl Default for DataTree {
    fn default() -> Self {
        let mut nodes = BTreeMap::new();
        nodes.insert("/".to_string(), Znode::default());
        DataTree {
            nodes,
            sessions: BTreeMap::new(),
            ephemerals: BTreeMap::new(),
            last_zxid: Zxid::ZERO,
            version_anomaly: None,
        }
    }
}

/// The parent of a valid path ("/a/b" -> "/a", "/a" -> "/"), and the child's name.
pub fn split(path: &str) -> Option<(&str, &str)> {
    let i = path.rfind('/')?;
    let parent = if i == 0 { "/" } else { &path[..i] };
    Some((parent, &path[i + 1..]))
}

/// ZooKeeper's path rules (subset): absolute, no empty component, no trailing slash.
pub fn valid_path(path: &str) -> bool {
    path.len() <= MAX_PATH_BYTES
        && path.starts_with('/')
        && (path == "/" || (!path.ends_with('/') && !path.contains("//")))
}

impl DataTree {
    pub fn get(&self, path: &str) -> Option<&Znode> {
        self.nodes.get(path)
    }

    /// The leader's check of a write, against this tree (which includes every outstanding
    /// proposal). `session_live` is whether the asking session is open.
    pub fn prepare(&self, session: u64, op: &ZkOp) -> TxnBody {
        let err = |err| TxnBody::Error { err };
        if !self.sessions.contains_key(&session) {
            return err(ErrCode::SessionExpired);
        }
        if !valid_path(op.path()) {
            return err(ErrCode::BadArguments);
        }
        match op {
            ZkOp::Create {
                path,
                data,
                ephemeral,
                sequential,
            } => {
                if path == "/" {
                    return err(ErrCode::NodeExists);
                }
                let Some((parent, _)) = split(path) else {
                    return err(ErrCode::BadArguments);
                };
                let Some(p) = self.nodes.get(parent) else {
                    return err(ErrCode::NoNode);
                };
                if p.stat.ephemeral_owner != 0 {
                    return err(ErrCode::NoChildrenForEphemerals);
                }
                let path = if *sequential {
                    // The sequence number is the parent's children version, 10 digits.
                    format!("{path}{:010}", p.stat.cversion)
                } else {
                    path.clone()
                };
                if self.nodes.contains_key(&path) {
                    return err(ErrCode::NodeExists);
                }
                TxnBody::Create {
                    path,
                    data: *data,
                    ephemeral_owner: if *ephemeral { session } else { 0 },
                }
            }
            ZkOp::Delete { path, version } => {
                let Some(n) = self.nodes.get(path) else {
                    return err(ErrCode::NoNode);
                };
                if path == "/" {
                    return err(ErrCode::BadArguments);
                }
                if *version != -1 && *version != n.stat.version {
                    return err(ErrCode::BadVersion);
                }
                if !n.children.is_empty() {
                    return err(ErrCode::NotEmpty);
                }
                TxnBody::Delete { path: path.clone() }
            }
            ZkOp::SetData {
                path,
                data,
                version,
            } => {
                let Some(n) = self.nodes.get(path) else {
                    return err(ErrCode::NoNode);
                };
                if *version != -1 && *version != n.stat.version {
                    return err(ErrCode::BadVersion);
                }
                TxnBody::SetData {
                    path: path.clone(),
                    data: *data,
                    version: n.stat.version + 1,
                }
            }
            _ => err(ErrCode::BadArguments),
        }
    }

    /// Answers a read from this tree.
    pub fn read(&self, op: &ZkOp) -> ZkResult {
        match op {
            ZkOp::GetData { path, .. } => match self.nodes.get(path) {
                Some(n) => ZkResult::Data {
                    data: n.data,
                    stat: self.stat(n),
                },
                None => ZkResult::Err(ErrCode::NoNode),
            },
            ZkOp::Exists { path, .. } => {
                ZkResult::Exists(self.nodes.get(path).map(|n| self.stat(n)))
            }
            ZkOp::GetChildren { path, .. } => match self.nodes.get(path) {
                Some(n) => ZkResult::Children(n.children.iter().cloned().collect()),
                None => ZkResult::Err(ErrCode::NoNode),
            },
            _ => ZkResult::Err(ErrCode::BadArguments),
        }
    }

    fn stat(&self, n: &Znode) -> Stat {
        Stat {
            num_children: n.children.len() as u32,
            ..n.stat
        }
    }

    /// Applies a committed transaction; returns the answer for the client that asked and
    /// the watch triggers.
    pub fn apply(&mut self, zxid: Zxid, txn: &Txn) -> (ZkResult, Vec<Trigger>) {
        self.last_zxid = zxid;
        let mut triggers = Vec::new();
        let z = zxid.as_u64();
        let result = match &txn.body {
            TxnBody::CreateSession { timeout_ms } => {
                self.sessions.insert(txn.session, *timeout_ms);
                ZkResult::Synced
            }
            TxnBody::CloseSession => {
                self.sessions.remove(&txn.session);
                let owned = self.ephemerals.remove(&txn.session).unwrap_or_default();
                for path in owned {
                    self.delete(&path, z, &mut triggers);
                }
                ZkResult::Deleted
            }
            TxnBody::Create {
                path,
                data,
                ephemeral_owner,
            } => {
                let Some((parent, name)) = split(path) else {
                    return (ZkResult::Err(ErrCode::BadArguments), triggers);
                };
                // Idempotent: a transaction replayed over a state that has it is a no-op
                // on structure (ZooKeeper's fuzzy snapshots rely on this).
                if self.nodes.contains_key(path) || !self.nodes.contains_key(parent) {
                    return (ZkResult::Err(ErrCode::NodeExists), triggers);
                }
                let stat = Stat {
                    czxid: z,
                    mzxid: z,
                    version: 0,
                    cversion: 0,
                    pzxid: z,
                    ephemeral_owner: *ephemeral_owner,
                    num_children: 0,
                };
                self.nodes.insert(
                    path.clone(),
                    Znode {
                        data: *data,
                        stat,
                        children: BTreeSet::new(),
                    },
                );
                if let Some(p) = self.nodes.get_mut(parent) {
                    p.children.insert(name.to_string());
                    p.stat.cversion += 1;
                    p.stat.pzxid = z;
                }
                if *ephemeral_owner != 0 {
                    self.ephemerals
                        .entry(*ephemeral_owner)
                        .or_default()
                        .insert(path.clone());
                }
                triggers.push(Trigger::Created(path.clone()));
                triggers.push(Trigger::ChildrenChanged(parent.to_string()));
                ZkResult::Created {
                    path: path.clone(),
                    stat,
                }
            }
            TxnBody::Delete { path } => {
                if !self.nodes.contains_key(path) {
                    return (ZkResult::Err(ErrCode::NoNode), triggers);
                }
                self.delete(path, z, &mut triggers);
                ZkResult::Deleted
            }
            TxnBody::SetData {
                path,
                data,
                version,
            } => {
                let Some(n) = self.nodes.get_mut(path) else {
                    return (ZkResult::Err(ErrCode::NoNode), triggers);
                };
                if *version != n.stat.version + 1 && self.version_anomaly.is_none() {
                    self.version_anomaly = Some(format!(
                        "setData {zxid} moved {path} from version {} to {version}",
                        n.stat.version
                    ));
                }
                n.data = *data;
                n.stat.version = *version;
                n.stat.mzxid = z;
                let stat = Stat {
                    num_children: n.children.len() as u32,
                    ..n.stat
                };
                triggers.push(Trigger::DataChanged(path.clone()));
                ZkResult::Set { stat }
            }
            TxnBody::Error { err } => ZkResult::Err(*err),
        };
        (result, triggers)
    }

    fn delete(&mut self, path: &str, z: u64, triggers: &mut Vec<Trigger>) {
        let Some(n) = self.nodes.remove(path) else {
            return;
        };
        if n.stat.ephemeral_owner != 0 {
            if let Some(set) = self.ephemerals.get_mut(&n.stat.ephemeral_owner) {
                set.remove(path);
            }
        }
        if let Some((parent, name)) = split(path) {
            if let Some(p) = self.nodes.get_mut(parent) {
                p.children.remove(name);
                p.stat.cversion += 1;
                p.stat.pzxid = z;
            }
            triggers.push(Trigger::Deleted(path.to_string()));
            triggers.push(Trigger::ChildrenChanged(parent.to_string()));
        }
    }

    /// Serializes the tree (a snapshot).
    pub fn encode(&self, w: &mut Writer) {
        w.u64(self.last_zxid.as_u64());
        w.u32(self.sessions.len() as u32);
        for (s, t) in &self.sessions {
            w.u64(*s);
            w.u32(*t);
        }
        w.u32(self.nodes.len() as u32);
        for (path, n) in &self.nodes {
            w.str(path);
            w.i64(n.data);
            w.u64(n.stat.czxid);
            w.u64(n.stat.mzxid);
            w.i32(n.stat.version);
            w.i32(n.stat.cversion);
            w.u64(n.stat.pzxid);
            w.u64(n.stat.ephemeral_owner);
        }
    }

    pub fn decode(r: &mut Reader<'_>) -> Option<DataTree> {
        let mut t = DataTree {
            nodes: BTreeMap::new(),
            last_zxid: Zxid::from_u64(r.u64()?),
            ..DataTree::default()
        };
        for _ in 0..r.u32()? {
            let s = r.u64()?;
            t.sessions.insert(s, r.u32()?);
        }
        for _ in 0..r.u32()? {
            let path = r.str()?;
            let n = Znode {
                data: r.i64()?,
                stat: Stat {
                    czxid: r.u64()?,
                    mzxid: r.u64()?,
                    version: r.i32()?,
                    cversion: r.i32()?,
                    pzxid: r.u64()?,
                    ephemeral_owner: r.u64()?,
                    num_children: 0,
                },
                children: BTreeSet::new(),
            };
            if n.stat.ephemeral_owner != 0 {
                t.ephemerals
                    .entry(n.stat.ephemeral_owner)
                    .or_default()
                    .insert(path.clone());
            }
            t.nodes.insert(path, n);
        }
        let paths: Vec<String> = t.nodes.keys().filter(|p| *p != "/").cloned().collect();
        for p in paths {
            let (parent, name) = split(&p)?;
            t.nodes.get_mut(parent)?.children.insert(name.to_string());
        }
        Some(t)
    }

    /// Rough size in bytes (for message sizes).
    pub fn size_bytes(&self) -> usize {
        64 + self.nodes.keys().map(|k| k.len() + 48).sum::<usize>() + self.sessions.len() * 12
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txn(session: u64, body: TxnBody) -> Txn {
        Txn {
            session,
            cxid: 0,
            tag: 0,
            body,
        }
    }

    fn apply_op(t: &mut DataTree, z: &mut u32, session: u64, op: ZkOp) -> ZkResult {
        let body = t.prepare(session, &op);
        *z += 1;
        t.apply(Zxid::new(1, *z), &txn(session, body)).0
    }

    #[test]
    fn versions_sequential_names_and_ephemerals() {
        let mut t = DataTree::default();
        let mut z = 0;
        t.apply(
            Zxid::new(1, 0),
            &txn(9, TxnBody::CreateSession { timeout_ms: 1000 }),
        );
        let create = |path: &str, eph, seq| ZkOp::Create {
            path: path.into(),
            data: 1,
            ephemeral: eph,
            sequential: seq,
        };
        assert!(matches!(
            apply_op(&mut t, &mut z, 9, create("/lock", false, false)),
            ZkResult::Created { .. }
        ));
        let r = apply_op(&mut t, &mut z, 9, create("/lock/n-", true, true));
        assert_eq!(
            r,
            ZkResult::Created {
                path: "/lock/n-0000000000".into(),
                stat: t.get("/lock/n-0000000000").unwrap().stat
            }
        );
        let r = apply_op(&mut t, &mut z, 9, create("/lock/n-", true, true));
        assert!(matches!(r, ZkResult::Created { path, .. } if path == "/lock/n-0000000001"));
        // Compare-and-set on versions.
        let set = |v| ZkOp::SetData {
            path: "/lock".into(),
            data: 5,
            version: v,
        };
        assert!(
            matches!(apply_op(&mut t, &mut z, 9, set(0)), ZkResult::Set { stat } if stat.version == 1)
        );
        assert_eq!(
            apply_op(&mut t, &mut z, 9, set(0)),
            ZkResult::Err(ErrCode::BadVersion)
        );
        assert_eq!(
            apply_op(
                &mut t,
                &mut z,
                9,
                ZkOp::Delete {
                    path: "/lock".into(),
                    version: -1
                }
            ),
            ZkResult::Err(ErrCode::NotEmpty)
        );
        // Closing the session removes its ephemerals.
        t.apply(Zxid::new(1, 99), &txn(9, TxnBody::CloseSession));
        assert!(t.get("/lock").unwrap().children.is_empty());
        assert!(t.ephemerals.values().all(|s| s.is_empty()));
        assert!(t.version_anomaly.is_none());
        // Snapshots round-trip.
        let mut w = Writer::default();
        t.encode(&mut w);
        let back = DataTree::decode(&mut Reader::new(&w.buf)).unwrap();
        assert_eq!(back.nodes, t.nodes);
        assert_eq!(back.sessions, t.sessions);
    }

    #[test]
    fn expired_session_cannot_write() {
        let t = DataTree::default();
        let op = ZkOp::Create {
            path: "/a".into(),
            data: 0,
            ephemeral: false,
            sequential: false,
        };
        assert_eq!(
            t.prepare(1, &op),
            TxnBody::Error {
                err: ErrCode::SessionExpired
            }
        );
    }
}
