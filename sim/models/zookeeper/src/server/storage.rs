//! What a server keeps on disk, and how it comes back after a crash.
//!
//! As in ZooKeeper (`FileTxnSnapLog`): a transaction log that is appended to and fsynced
//! before a proposal is acknowledged (`zk/log`), fuzzy-free snapshots of the committed
//! tree taken every `snapshot_count` transactions (`zk/snap`), the snapshot a follower
//! received from its leader in a SNAP sync (`zk/base`: the state its log starts from), and
//! the epoch file with `acceptedEpoch` and `currentEpoch` (ZooKeeper keeps them in two
//! small files, written atomically). On restart a server loads its base, replays every
//! logged transaction over it (committed or not, as ZooKeeper does), and uses a snapshot
//! to skip work when one is valid.

use crate::codec::{Reader, Writer};
use crate::tree::DataTree;
use crate::txn::Txn;
use crate::zxid::Zxid;

pub const LOG_FILE: &str = "zk/log";
pub const SNAP_FILE: &str = "zk/snap";
pub const BASE_FILE: &str = "zk/base";
pub const EPOCH_FILE: &str = "zk/epoch";

/// One logged transaction.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Entry {
    pub zxid: Zxid,
    pub txn: Txn,
}

pub fn encode_entry(e: &Entry) -> Vec<u8> {
    let mut w = Writer::default();
    w.u64(e.zxid.as_u64());
    e.txn.encode(&mut w);
    w.framed()
}

/// Parses a log file: the good records, and the byte length they span (a torn or damaged
/// tail ends the log there).
pub fn decode_log(bytes: &[u8]) -> (Vec<Entry>, Vec<usize>) {
    let mut r = Reader::new(bytes);
    let mut out = Vec::new();
    let mut ends = Vec::new();
    while !r.at_end() {
        let Some(body) = r.record() else { break };
        let mut b = Reader::new(body);
        let (Some(z), Some(txn)) = (b.u64(), Txn::decode(&mut b)) else {
            break;
        };
        out.push(Entry {
            zxid: Zxid::from_u64(z),
            txn,
        });
        ends.push(r.pos);
    }
    (out, ends)
}

pub fn encode_tree(t: &DataTree) -> Vec<u8> {
    let mut w = Writer::default();
    t.encode(&mut w);
    w.framed()
}

pub fn decode_tree(bytes: &[u8]) -> Option<DataTree> {
    let mut r = Reader::new(bytes);
    let body = r.record()?;
    DataTree::decode(&mut Reader::new(body))
}

pub fn encode_epochs(accepted: u32, current: u32) -> Vec<u8> {
    let mut w = Writer::default();
    w.u32(accepted);
    w.u32(current);
    w.framed()
}

pub fn decode_epochs(bytes: &[u8]) -> Option<(u32, u32)> {
    let mut r = Reader::new(bytes);
    let body = r.record()?;
    let mut b = Reader::new(body);
    Some((b.u32()?, b.u32()?))
}
