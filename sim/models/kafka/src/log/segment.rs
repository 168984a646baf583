//! A log segment: one `.log` file of record batches named by its base offset (the first
//! offset it holds, zero-padded to 20 digits: `00000000000000001000.log`), and its sparse
//! offset index (`.index`): an entry (offset relative to the base, byte position) every
//! `index.interval.bytes` of log, so the index stays small enough to keep in memory
//! (domain note 003; Kafka's `LogSegment` and `OffsetIndex`).
//!
//! The index lives in memory and in its file; after a crash the index of the segment being
//! written is rebuilt from the log, as Kafka's recovery does.

use dsim_core::{Disk, DiskError};

use super::batch::{self, RecordBatch};

/// One entry of the sparse index: the batch that starts at byte `position` holds offset
/// `base_offset + relative_offset` (its first offset).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexEntry {
    pub relative_offset: u32,
    pub position: u32,
}

/// A segment's place in the log and its in-memory index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    pub base_offset: u64,
    /// Offset after the last batch (the base offset when empty).
    pub next_offset: u64,
    pub size_bytes: u64,
    pub index: Vec<IndexEntry>,
    /// Log bytes written since the last index entry.
    bytes_since_index: u64,
    /// Largest record timestamp, for time-based retention (`log.retention.ms`).
    pub max_timestamp_ms: i64,
    /// When the segment was created (the broker's clock), for `segment.ms` rolls.
    pub created_ms: i64,
}

/// The file name of a segment's log in `dir`.
pub fn log_name(dir: &str, base_offset: u64) -> String {
    format!("{dir}/{base_offset:020}.log")
}

/// The file name of a segment's index in `dir`.
pub fn index_name(dir: &str, base_offset: u64) -> String {
    format!("{dir}/{base_offset:020}.index")
}

/// The base offset a segment file name gives (`dir/00000000000000001000.log` → 1000).
pub fn parse_log_name(dir: &str, name: &str) -> Option<u64> {
    let rest = name.strip_prefix(dir)?.strip_prefix('/')?;
    let digits = rest.strip_suffix(".log")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

impl Segment {
    pub fn new(base_offset: u64, created_ms: i64) -> Segment {
        Segment {
            base_offset,
            next_offset: base_offset,
            size_bytes: 0,
            index: Vec::new(),
            bytes_since_index: 0,
            max_timestamp_ms: i64::MIN,
            created_ms,
        }
    }

    /// Appends an encoded batch (already given its offsets) to the segment's files,
    /// adding an index entry when `index_interval_bytes` of log have gone by.
    pub fn append(
        &mut self,
        disk: &mut Disk,
        dir: &str,
        b: &RecordBatch,
        bytes: &[u8],
        index_interval_bytes: u64,
    ) -> Result<(), DiskError> {
        let position = self.size_bytes;
        disk.append(&log_name(dir, self.base_offset), bytes)?;
        if self.index.is_empty() || self.bytes_since_index >= index_interval_bytes {
            let entry = IndexEntry {
                relative_offset: (b.base_offset - self.base_offset) as u32,
                position: position as u32,
            };
            let mut raw = [0u8; 8];
            raw[..4].copy_from_slice(&entry.relative_offset.to_be_bytes());
            raw[4..].copy_from_slice(&entry.position.to_be_bytes());
            disk.append(&index_name(dir, self.base_offset), &raw)?;
            self.index.push(entry);
            self.bytes_since_index = 0;
        }
        self.bytes_since_index += bytes.len() as u64;
        self.size_bytes += bytes.len() as u64;
        self.next_offset = b.next_offset();
        self.max_timestamp_ms = self.max_timestamp_ms.max(b.max_timestamp_ms());
        Ok(())
    }

    /// The index entry to start a scan for `offset` from: the last entry at or below it
    /// (binary search), or the segment's start.
    pub fn index_lookup(&self, offset: u64) -> IndexEntry {
        let rel = offset.saturating_sub(self.base_offset);
        let at = self
            .index
            .partition_point(|e| u64::from(e.relative_offset) <= rel);
        match at {
            0 => IndexEntry {
                relative_offset: 0,
                position: 0,
            },
            i => self.index[i - 1],
        }
    }

    /// Rebuilds the segment from its log bytes after a restart: every whole, CRC-valid
    /// batch in order; the first torn or corrupt one and everything after it are cut off
    /// (Kafka's `LogSegment.recover`). Returns the segment and how many bytes were cut.
    pub fn recover(
        disk: &mut Disk,
        dir: &str,
        base_offset: u64,
        index_interval_bytes: u64,
        now_ms: i64,
    ) -> (Segment, u64) {
        let name = log_name(dir, base_offset);
        let bytes = disk.read(&name).map(<[u8]>::to_vec).unwrap_or_default();
        let mut seg = Segment::new(base_offset, now_ms);
        let mut at = 0usize;
        let mut expected = base_offset;
        while at < bytes.len() {
            match batch::decode(&bytes[at..]) {
                Ok((b, len)) if b.base_offset >= expected => {
                    seg.note_recovered(&b, at as u64, len as u64, index_interval_bytes);
                    expected = b.next_offset();
                    at += len;
                }
                _ => break,
            }
        }
        let cut = (bytes.len() - at) as u64;
        if cut > 0 {
            disk.truncate(&name, at);
        }
        seg.rewrite_index(disk, dir);
        (seg, cut)
    }

    fn note_recovered(&mut self, b: &RecordBatch, position: u64, len: u64, interval: u64) {
        if self.index.is_empty() || self.bytes_since_index >= interval {
            self.index.push(IndexEntry {
                relative_offset: (b.base_offset - self.base_offset) as u32,
                position: position as u32,
            });
            self.bytes_since_index = 0;
        }
        self.bytes_since_index += len;
        self.size_bytes = position + len;
        self.next_offset = b.next_offset();
        self.max_timestamp_ms = self.max_timestamp_ms.max(b.max_timestamp_ms());
    }

    /// Writes the in-memory index to its file (after recovery or truncation).
    fn rewrite_index(&self, disk: &mut Disk, dir: &str) {
        let mut raw = Vec::with_capacity(self.index.len() * 8);
        for e in &self.index {
            raw.extend_from_slice(&e.relative_offset.to_be_bytes());
            raw.extend_from_slice(&e.position.to_be_bytes());
        }
        // A full disk leaves the old index; it is rebuilt from the log on the next start.
        let _ = disk.put(&index_name(dir, self.base_offset), &raw);
    }

    /// Cuts the segment at byte `position` (the start of a batch) and drops index entries
    /// past it; `next_offset` becomes `offset`.
    pub fn truncate(&mut self, disk: &mut Disk, dir: &str, position: u64, offset: u64) {
        disk.truncate(&log_name(dir, self.base_offset), position as usize);
        self.size_bytes = position;
        self.next_offset = offset;
        self.index.retain(|e| u64::from(e.position) < position);
        self.bytes_since_index = position - self.index.last().map_or(0, |e| u64::from(e.position));
        self.rewrite_index(disk, dir);
    }

    /// Deletes both files.
    pub fn delete(&self, disk: &mut Disk, dir: &str) {
        disk.remove(&log_name(dir, self.base_offset));
        disk.remove(&index_name(dir, self.base_offset));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_zero_padded_base_offset() {
        assert_eq!(log_name("t-0", 1000), "t-0/00000000000000001000.log");
        assert_eq!(
            parse_log_name("t-0", "t-0/00000000000000001000.log"),
            Some(1000)
        );
        assert_eq!(
            parse_log_name("t-0", "t-0/00000000000000001000.index"),
            None
        );
        assert_eq!(parse_log_name("t-0", "t-1/00000000000000001000.log"), None);
        assert_eq!(parse_log_name("t-0", "t-0/1000.log"), None);
    }

    #[test]
    fn the_index_lookup_takes_the_last_entry_at_or_below() {
        let mut s = Segment::new(1000, 0);
        s.index = [(0, 0), (3, 20), (6, 45), (9, 70)]
            .into_iter()
            .map(|(r, p)| IndexEntry {
                relative_offset: r,
                position: p,
            })
            .collect();
        // Domain note 004: offset 1008 is relative 8; the index row (6, 45) starts the scan.
        assert_eq!(
            s.index_lookup(1008),
            IndexEntry {
                relative_offset: 6,
                position: 45
            }
        );
        assert_eq!(s.index_lookup(1000).position, 0);
        assert_eq!(s.index_lookup(1009).position, 70);
    }
}
