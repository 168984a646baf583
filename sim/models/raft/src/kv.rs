//! The replicated key-value state machine (etcd-like: put, get, compare-and-set) that the
//! `raft` model runs on top of [`RaftServer`](crate::server::RaftServer).
//!
//! Every server applies the same committed commands in the same order (§5, "replicated
//! state machine"), so every server holds the same store. Commands carry the client's id
//! and a per-client sequence number; the store remembers each client's last sequence
//! number and answer, so a command that reaches the log twice (a duplicated message, a
//! retry) takes effect once (thesis §6.3, "Implementing linearizable semantics").

use std::collections::BTreeMap;

use crate::log::Command;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KvOp {
    Put {
        key: u32,
        value: i64,
    },
    Get {
        key: u32,
    },
    /// Set `key` to `to` if it holds `from` (etcd's compare-and-swap transaction).
    Cas {
        key: u32,
        from: i64,
        to: i64,
    },
}

impl KvOp {
    pub fn key(&self) -> u32 {
        match self {
            KvOp::Put { key, .. } | KvOp::Get { key } | KvOp::Cas { key, .. } => *key,
        }
    }
}

/// A command in the log: the op, who asked, and the history id (also the client's
/// sequence number: ids grow in invocation order, so per client too).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KvCmd {
    pub client: u32,
    pub seq: u64,
    pub op: KvOp,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KvResult {
    Written,
    Read(Option<i64>),
    Cas(bool),
}

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}
fn get_u64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

impl Command for KvCmd {
    fn encode(&self, out: &mut Vec<u8>) {
        put_u64(out, self.client as u64);
        put_u64(out, self.seq);
        match self.op {
            KvOp::Put { key, value } => {
                out.push(0);
                put_u64(out, key as u64);
                put_u64(out, value as u64);
            }
            KvOp::Get { key } => {
                out.push(1);
                put_u64(out, key as u64);
            }
            KvOp::Cas { key, from, to } => {
                out.push(2);
                put_u64(out, key as u64);
                put_u64(out, from as u64);
                put_u64(out, to as u64);
            }
        }
    }
    fn decode(b: &[u8]) -> Option<Self> {
        let client = u32::try_from(get_u64(b, 0)?).ok()?;
        let seq = get_u64(b, 8)?;
        let key = u32::try_from(get_u64(b, 17)?).ok()?;
        let op = match *b.get(16)? {
            0 if b.len() == 33 => KvOp::Put {
                key,
                value: get_u64(b, 25)? as i64,
            },
            1 if b.len() == 25 => KvOp::Get { key },
            2 if b.len() == 41 => KvOp::Cas {
                key,
                from: get_u64(b, 25)? as i64,
                to: get_u64(b, 33)? as i64,
            },
            _ => return None,
        };
        Some(KvCmd { client, seq, op })
    }
}

/// The store and its client sessions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KvStore {
    pub values: BTreeMap<u32, i64>,
    /// Per client: the last sequence number applied and its answer.
    sessions: BTreeMap<u32, (u64, KvResult)>,
}

impl KvStore {
    /// Applies a committed command. Returns the answer and whether it took effect now
    /// (false: a duplicate of a command already applied).
    pub fn apply(&mut self, cmd: &KvCmd) -> (KvResult, bool) {
        if let Some((seq, res)) = self.sessions.get(&cmd.client) {
            if cmd.seq <= *seq {
                let res = if cmd.seq == *seq {
                    *res
                } else {
                    KvResult::Cas(false)
                };
                return (res, false);
            }
        }
        let res = match cmd.op {
            KvOp::Put { key, value } => {
                self.values.insert(key, value);
                KvResult::Written
            }
            KvOp::Get { key } => KvResult::Read(self.values.get(&key).copied()),
            KvOp::Cas { key, from, to } => {
                let ok = self.values.get(&key) == Some(&from);
                if ok {
                    self.values.insert(key, to);
                }
                KvResult::Cas(ok)
            }
        };
        self.sessions.insert(cmd.client, (cmd.seq, res));
        (res, true)
    }

    pub fn get(&self, key: u32) -> Option<i64> {
        self.values.get(&key).copied()
    }

    /// Serializes the store for a snapshot (§7).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        put_u64(&mut out, self.values.len() as u64);
        for (k, v) in &self.values {
            put_u64(&mut out, *k as u64);
            put_u64(&mut out, *v as u64);
        }
        put_u64(&mut out, self.sessions.len() as u64);
        for (c, (seq, res)) in &self.sessions {
            put_u64(&mut out, *c as u64);
            put_u64(&mut out, *seq);
            let (tag, v) = match res {
                KvResult::Written => (0u64, 0u64),
                KvResult::Read(None) => (1, 0),
                KvResult::Read(Some(v)) => (2, *v as u64),
                KvResult::Cas(b) => (3, *b as u64),
            };
            put_u64(&mut out, tag);
            put_u64(&mut out, v);
        }
        out
    }

    pub fn decode(b: &[u8]) -> Option<KvStore> {
        let mut at = 0;
        let mut next = || {
            let v = get_u64(b, at);
            at += 8;
            v
        };
        let mut s = KvStore::default();
        let n = next()?;
        for _ in 0..n {
            let k = u32::try_from(next()?).ok()?;
            let v = next()? as i64;
            s.values.insert(k, v);
        }
        let m = next()?;
        for _ in 0..m {
            let c = u32::try_from(next()?).ok()?;
            let seq = next()?;
            let res = match (next()?, next()?) {
                (0, _) => KvResult::Written,
                (1, _) => KvResult::Read(None),
                (2, v) => KvResult::Read(Some(v as i64)),
                (3, v) => KvResult::Cas(v != 0),
                _ => return None,
            };
            s.sessions.insert(c, (seq, res));
        }
        Some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_snapshots_round_trip() {
        for op in [
            KvOp::Put { key: 3, value: -7 },
            KvOp::Get { key: 9 },
            KvOp::Cas {
                key: 1,
                from: 2,
                to: 3,
            },
        ] {
            let c = KvCmd {
                client: 4,
                seq: 99,
                op,
            };
            let mut b = Vec::new();
            c.encode(&mut b);
            assert_eq!(KvCmd::decode(&b), Some(c));
        }
        let mut s = KvStore::default();
        s.apply(&KvCmd {
            client: 1,
            seq: 1,
            op: KvOp::Put { key: 1, value: 5 },
        });
        s.apply(&KvCmd {
            client: 2,
            seq: 2,
            op: KvOp::Cas {
                key: 1,
                from: 5,
                to: 6,
            },
        });
        assert_eq!(KvStore::decode(&s.encode()), Some(s.clone()));
        assert_eq!(s.get(1), Some(6));
    }

    /// Thesis §6.3: a command applied twice takes effect once.
    #[test]
    fn duplicates_take_effect_once() {
        let mut s = KvStore::default();
        let put = |v| KvCmd {
            client: 1,
            seq: 10,
            op: KvOp::Put { key: 0, value: v },
        };
        assert_eq!(s.apply(&put(1)), (KvResult::Written, true));
        s.apply(&KvCmd {
            client: 2,
            seq: 11,
            op: KvOp::Put { key: 0, value: 2 },
        });
        assert_eq!(s.apply(&put(1)), (KvResult::Written, false));
        assert_eq!(s.get(0), Some(2));
    }
}
