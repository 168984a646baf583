//! Raft's durable state on a dsim disk (Figure 2, "Persistent state on all servers:
//! updated on stable storage before responding to RPCs"): `currentTerm` and `votedFor` in
//! one small file replaced atomically, the log as an append-only file of checksummed
//! records, and the latest snapshot (§7) in a third file.
//!
//! Nothing here syncs: the server writes, asks for an fsync, and holds back every reply
//! that depends on the write until the fsync completes (`server.rs`). On restart the
//! state is read back from the disk alone; a torn or corrupted log tail (a crash in the
//! middle of an append) ends the log at the last whole record, which is safe because
//! that record was never acknowledged.

use dsim_core::digest::Digest;
use dsim_core::{Disk, DiskError, NodeId};

use crate::log::{Command, Entry, Index, Log, Payload, Term};

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// File names under a host-chosen prefix (a host may embed several servers).
#[derive(Clone, Debug)]
pub struct Files {
    pub meta: String,
    pub log: String,
    pub snapshot: String,
}

impl Files {
    pub fn new(prefix: &str) -> Self {
        Files {
            meta: format!("{prefix}meta"),
            log: format!("{prefix}log"),
            snapshot: format!("{prefix}snapshot"),
        }
    }
}

/// `currentTerm` and `votedFor`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HardState {
    pub term: Term,
    pub voted_for: Option<NodeId>,
}

pub fn encode_hard_state(h: &HardState) -> Vec<u8> {
    let mut out = Vec::with_capacity(20);
    out.extend_from_slice(&h.term.to_le_bytes());
    out.extend_from_slice(&h.voted_for.map_or(u32::MAX, |n| n.0).to_le_bytes());
    let sum = Digest::of(&out);
    out.extend_from_slice(&sum.to_le_bytes());
    out
}

pub fn decode_hard_state(b: &[u8]) -> Option<HardState> {
    if b.len() != 20 || Digest::of(&b[..12]) != u64_at(b, 12)? {
        return None;
    }
    let v = u32_at(b, 8)?;
    Some(HardState {
        term: u64_at(b, 0)?,
        voted_for: (v != u32::MAX).then_some(NodeId(v)),
    })
}

/// One log record: index, term, kind, payload length, payload, checksum.
pub fn encode_entry<C: Command>(index: Index, e: &Entry<C>) -> Vec<u8> {
    let mut payload = Vec::new();
    let kind = match &e.payload {
        Payload::Noop => 0u8,
        Payload::Command(c) => {
            c.encode(&mut payload);
            1
        }
        Payload::Config(v) => {
            for n in v {
                payload.extend_from_slice(&n.0.to_le_bytes());
            }
            2
        }
        Payload::Joint { old, new } => {
            payload.extend_from_slice(&(old.len() as u32).to_le_bytes());
            for n in old.iter().chain(new) {
                payload.extend_from_slice(&n.0.to_le_bytes());
            }
            3
        }
    };
    let mut out = Vec::with_capacity(29 + payload.len() + 8);
    out.extend_from_slice(&index.to_le_bytes());
    out.extend_from_slice(&e.term.to_le_bytes());
    out.push(kind);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&payload);
    let sum = Digest::of(&out);
    out.extend_from_slice(&sum.to_le_bytes());
    out
}

/// Decodes the record at the start of `b`: (index, entry, record length).
pub fn decode_entry<C: Command>(b: &[u8]) -> Option<(Index, Entry<C>, usize)> {
    let index = u64_at(b, 0)?;
    let term = u64_at(b, 8)?;
    let kind = *b.get(16)?;
    let len = u32_at(b, 17)? as usize;
    let end = 21 + len;
    let sum = u64_at(b, end)?;
    if Digest::of(&b[..end]) != sum {
        return None;
    }
    let payload = match kind {
        0 if len == 0 => Payload::Noop,
        1 => Payload::Command(C::decode(&b[21..end])?),
        2 if len.is_multiple_of(4) => Payload::Config(
            b[21..end]
                .chunks_exact(4)
                .map(|c| NodeId(u32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                .collect(),
        ),
        3 if len >= 4 && len.is_multiple_of(4) => {
            let ids: Vec<NodeId> = b[21..end]
                .chunks_exact(4)
                .map(|c| NodeId(u32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                .collect();
            let n_old = ids[0].0 as usize;
            if n_old > ids.len() - 1 {
                return None;
            }
            Payload::Joint {
                old: ids[1..1 + n_old].to_vec(),
                new: ids[1 + n_old..].to_vec(),
            }
        }
        _ => return None,
    };
    Some((index, Entry { term, payload }, end + 8))
}

/// A snapshot: the state machine up to `index` (§7).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Snapshot {
    pub index: Index,
    pub term: Term,
    /// The log's prefix digest at `index` (ghost state, kept so checkers can go on
    /// comparing logs after compaction).
    pub digest: u64,
    pub data: Vec<u8>,
}

pub fn encode_snapshot(s: &Snapshot) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + s.data.len() + 8);
    out.extend_from_slice(&s.index.to_le_bytes());
    out.extend_from_slice(&s.term.to_le_bytes());
    out.extend_from_slice(&s.digest.to_le_bytes());
    out.extend_from_slice(&(s.data.len() as u64).to_le_bytes());
    out.extend_from_slice(&s.data);
    let sum = Digest::of(&out);
    out.extend_from_slice(&sum.to_le_bytes());
    out
}

pub fn decode_snapshot(b: &[u8]) -> Option<Snapshot> {
    let len = u64_at(b, 24)? as usize;
    let end = 32usize.checked_add(len)?;
    if b.len() != end + 8 || Digest::of(&b[..end]) != u64_at(b, end)? {
        return None;
    }
    Some(Snapshot {
        index: u64_at(b, 0)?,
        term: u64_at(b, 8)?,
        digest: u64_at(b, 16)?,
        data: b[32..end].to_vec(),
    })
}

/// The log file as the server mirrors it: the byte offset where each in-memory entry's
/// record ends, so a conflicting suffix can be cut off the file (§5.3).
#[derive(Clone, Debug, Default)]
pub struct LogFile {
    /// `ends[k]` is the end offset of the record of entry `base + 1 + k`.
    ends: Vec<usize>,
    base: Index,
    /// Offset where the records of entries after `base` begin.
    start: usize,
}

impl LogFile {
    pub fn append<C: Command>(
        &mut self,
        disk: &mut Disk,
        name: &str,
        index: Index,
        e: &Entry<C>,
    ) -> Result<(), DiskError> {
        let rec = encode_entry(index, e);
        disk.append(name, &rec)?;
        let prev = self.ends.last().copied().unwrap_or(self.start);
        self.ends.push(prev + rec.len());
        Ok(())
    }

    /// Cuts the file after entry `i - 1`.
    pub fn truncate_from(&mut self, disk: &mut Disk, name: &str, i: Index) {
        if i <= self.base {
            return;
        }
        let keep = (i - self.base - 1) as usize;
        if keep < self.ends.len() {
            self.ends.truncate(keep);
            let at = self.ends.last().copied().unwrap_or(self.start);
            disk.truncate(name, at);
        }
    }

    /// Rewrites the file with only the entries after the snapshot (log compaction, §7).
    pub fn rewrite<C: Command>(
        &mut self,
        disk: &mut Disk,
        name: &str,
        log: &Log<C>,
    ) -> Result<(), DiskError> {
        let mut bytes = Vec::new();
        let mut ends = Vec::new();
        for (i, e) in log.iter_from(log.first_index()) {
            bytes.extend_from_slice(&encode_entry(i, e));
            ends.push(bytes.len());
        }
        disk.put_atomic(name, &bytes)?;
        self.ends = ends;
        self.base = log.base_index();
        self.start = 0;
        Ok(())
    }
}

/// Everything a server reads back at start.
pub struct Loaded<C> {
    pub hard: HardState,
    pub log: Log<C>,
    pub file: LogFile,
    pub snapshot: Option<Snapshot>,
    /// What was wrong with the disk, in words, for a note.
    pub damage: Vec<String>,
}

/// Reads the durable state (and cuts a torn log tail off the file).
pub fn load<C: Command>(disk: &mut Disk, files: &Files) -> Loaded<C> {
    let mut damage = Vec::new();
    let hard = match disk.read(&files.meta) {
        None => HardState::default(),
        Some(b) => decode_hard_state(b).unwrap_or_else(|| {
            damage.push(format!("{} failed its checksum", files.meta));
            HardState::default()
        }),
    };
    let snapshot = match disk.read(&files.snapshot) {
        None => None,
        Some(b) => {
            let s = decode_snapshot(b);
            if s.is_none() {
                damage.push(format!("{} failed its checksum", files.snapshot));
            }
            s
        }
    };
    let mut log = Log::default();
    if let Some(s) = &snapshot {
        log.compact_to(s.index, s.term, s.digest);
    }
    let mut file = LogFile {
        base: log.base_index(),
        ..LogFile::default()
    };
    let bytes = disk
        .read(&files.log)
        .map(<[u8]>::to_vec)
        .unwrap_or_default();
    let mut at = 0;
    let mut started = false;
    while at < bytes.len() {
        let Some((index, entry, len)) = decode_entry::<C>(&bytes[at..]) else {
            damage.push(format!(
                "{} ends in a torn or corrupt record at byte {at} of {}; the log ends at index {}",
                files.log,
                bytes.len(),
                log.last_index()
            ));
            break;
        };
        if index <= log.base_index() {
            at += len;
            file.start = at;
            continue;
        }
        if index != log.last_index() + 1 {
            damage.push(format!(
                "{} skips from index {} to {index}",
                files.log,
                log.last_index()
            ));
            break;
        }
        if !started {
            started = true;
            file.start = at;
        }
        log.append(entry);
        at += len;
        file.ends.push(at);
    }
    if at < bytes.len() {
        disk.truncate(&files.log, at);
    }
    Loaded {
        hard,
        log,
        file,
        snapshot,
        damage,
    }
}
