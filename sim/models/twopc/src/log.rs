//! The durable logs of 2PC/3PC: an append-only file of fixed-size, checksummed records.
//!
//! Gray (1978, §5.8.3) makes the log the heart of commit: a participant force-writes its
//! "prepared" record before voting yes, and the coordinator force-writes the commit record
//! before telling anyone to commit; recovery reads the log and nothing else (BHG 1987,
//! §7.3–7.4). A crash may tear the last record (`[disk] crash = "torn"`): reading stops at
//! the first record whose checksum fails, and the node truncates the tail before it
//! appends again.

use dsim_core::digest::Digest;
use dsim_core::Disk;

use crate::msg::TxId;

/// What a record says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Record {
    /// Participant: voted yes on `tx`, which writes `key` (the lock to take back at restart).
    Prepared {
        tx: TxId,
        key: u32,
    },
    /// Participant (3PC): received pre-commit.
    PreCommitted {
        tx: TxId,
    },
    /// A decision (coordinator: the decision taken; participant: the outcome applied).
    Commit {
        tx: TxId,
    },
    Abort {
        tx: TxId,
    },
}

/// kind (1) + tx (8) + key (4) + checksum (8).
pub const RECORD_BYTES: usize = 1 + 8 + 4 + 8;

pub fn encode(r: Record) -> [u8; RECORD_BYTES] {
    let (kind, tx, key) = match r {
        Record::Prepared { tx, key } => (1u8, tx, key),
        Record::PreCommitted { tx } => (2, tx, 0),
        Record::Commit { tx } => (3, tx, 0),
        Record::Abort { tx } => (4, tx, 0),
    };
    let mut out = [0u8; RECORD_BYTES];
    out[0] = kind;
    out[1..9].copy_from_slice(&tx.to_u64().to_le_bytes());
    out[9..13].copy_from_slice(&key.to_le_bytes());
    let sum = Digest::of(&out[..13]);
    out[13..].copy_from_slice(&sum.to_le_bytes());
    out
}

pub fn decode(bytes: &[u8]) -> Option<Record> {
    if bytes.len() != RECORD_BYTES {
        return None;
    }
    if Digest::of(&bytes[..13]).to_le_bytes() != bytes[13..] {
        return None;
    }
    let tx = TxId::from_u64(u64::from_le_bytes(bytes[1..9].try_into().ok()?));
    let key = u32::from_le_bytes(bytes[9..13].try_into().ok()?);
    match bytes[0] {
        1 => Some(Record::Prepared { tx, key }),
        2 => Some(Record::PreCommitted { tx }),
        3 => Some(Record::Commit { tx }),
        4 => Some(Record::Abort { tx }),
        _ => None,
    }
}

/// The valid records of a log, in order, and the byte length they cover.
pub fn parse(bytes: &[u8]) -> (Vec<Record>, usize) {
    let mut out = Vec::new();
    let mut at = 0;
    while at + RECORD_BYTES <= bytes.len() {
        match decode(&bytes[at..at + RECORD_BYTES]) {
            Some(r) => out.push(r),
            None => break,
        }
        at += RECORD_BYTES;
    }
    (out, at)
}

/// Reads `file` at start: its valid records. A torn or damaged tail is cut off (and the
/// number of bytes dropped returned) so that later appends line up again.
pub fn recover(disk: &mut Disk, file: &str) -> (Vec<Record>, usize) {
    let Some(bytes) = disk.read(file) else {
        return (Vec::new(), 0);
    };
    let total = bytes.len();
    let (records, valid) = parse(bytes);
    if valid < total {
        disk.truncate(file, valid);
    }
    (records, total - valid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_torn_tails_are_cut() {
        let tx = TxId { epoch: 3, seq: 17 };
        let all = [
            Record::Prepared { tx, key: 5 },
            Record::PreCommitted { tx },
            Record::Commit { tx },
            Record::Abort { tx },
        ];
        let mut bytes = Vec::new();
        for r in all {
            assert_eq!(decode(&encode(r)), Some(r));
            bytes.extend_from_slice(&encode(r));
        }
        let (back, len) = parse(&bytes);
        assert_eq!(back, all.to_vec());
        assert_eq!(len, bytes.len());
        // A torn last record is not read.
        let (back, len) = parse(&bytes[..bytes.len() - 3]);
        assert_eq!(back.len(), 3);
        assert_eq!(len, 3 * RECORD_BYTES);
        // A flipped bit anywhere in a record is caught.
        let one = encode(all[0]);
        for i in 0..RECORD_BYTES {
            let mut bad = one;
            bad[i] ^= 0x04;
            assert_eq!(decode(&bad), None, "flipped byte {i} went unnoticed");
        }
    }
}
