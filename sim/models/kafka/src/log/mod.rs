//! A partition's log on a broker's disk: segments named by base offset, each with a sparse
//! index; appends go to the newest (active) segment, which rolls when it is full or old;
//! reads find an offset by binary search over the segments, then over the segment's
//! index, then a scan of the batches (domain notes 003 and 004, the offset-1008 example);
//! old segments go by time or size (`retention.ms`, `retention.bytes`) or are compacted
//! (`cleanup.policy=compact`).
//!
//! Durability is the disk model's: appends land in the page cache and survive a crash
//! only once flushed (`flush` asks for an fsync). On restart `open` rebuilds the log from
//! the bytes that survived, cutting a torn last batch, as Kafka's log recovery does.

pub mod batch;
pub mod cleanup;
pub mod segment;

use std::collections::BTreeMap;

use dsim_core::{Disk, DiskError};

use batch::RecordBatch;
use segment::{IndexEntry, Segment};

/// A partition log's settings (Kafka's topic-level names in the doc comments).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogConfig {
    /// `segment.bytes`: roll to a new segment past this size.
    pub segment_bytes: u64,
    /// `segment.ms`: roll a segment this old, even if not full (None: never).
    pub segment_ms: Option<i64>,
    /// `index.interval.bytes`: an index entry every this many bytes of log.
    pub index_interval_bytes: u64,
    /// `retention.ms` (None: keep forever).
    pub retention_ms: Option<i64>,
    /// `retention.bytes` (None: no size limit).
    pub retention_bytes: Option<u64>,
    /// `cleanup.policy`.
    pub cleanup_policy: CleanupPolicy,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CleanupPolicy {
    /// Whole old segments are deleted by retention.
    Delete,
    /// Old records are dropped when a newer record has the same key.
    Compact,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1 << 30,
            segment_ms: Some(7 * 24 * 3600 * 1000),
            index_interval_bytes: 4096,
            retention_ms: Some(7 * 24 * 3600 * 1000),
            retention_bytes: None,
            cleanup_policy: CleanupPolicy::Delete,
        }
    }
}

/// Why a read or append was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LogError {
    #[error("offset {offset} is out of range [{log_start_offset}, {log_end_offset}]")]
    OffsetOutOfRange {
        offset: u64,
        log_start_offset: u64,
        log_end_offset: u64,
    },
    #[error("a follower's batch starts at {got}, but the log ends at {log_end_offset}")]
    NotContiguous { got: u64, log_end_offset: u64 },
    #[error("a batch of {0} bytes is over the limit")]
    BatchTooLarge(usize),
    #[error("an empty batch")]
    EmptyBatch,
    #[error(transparent)]
    Disk(#[from] DiskError),
}

/// How a read found its offset: the steps of domain note 004's lookup, for teaching.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lookup {
    /// The segment whose base offset is the largest at or below the offset.
    pub segment_base_offset: u64,
    /// The index entry the scan started from.
    pub index_entry: IndexEntry,
    /// Batches read in the scan before the one holding the offset.
    pub batches_skipped: u32,
    /// Byte position of the batch holding the offset.
    pub position: u64,
}

/// What `open` found on disk.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    pub segments: usize,
    /// Bytes of torn or corrupt batches cut from the end of the log.
    pub truncated_bytes: u64,
    /// Segments after a damaged one, deleted whole.
    pub deleted_segments: usize,
}

/// One partition's log on one broker.
#[derive(Clone, Debug)]
pub struct PartitionLog {
    /// The directory (file-name prefix) of this partition: "topic-0".
    pub dir: String,
    pub cfg: LogConfig,
    segments: BTreeMap<u64, Segment>,
    /// The first offset still held (retention and truncation move it).
    pub log_start_offset: u64,
}

impl PartitionLog {
    /// Opens the log in `dir`, rebuilding it from whatever the disk kept.
    pub fn open(
        disk: &mut Disk,
        dir: &str,
        cfg: LogConfig,
        now_ms: i64,
    ) -> (PartitionLog, Recovery) {
        let mut bases: Vec<u64> = disk
            .files()
            .filter_map(|n| segment::parse_log_name(dir, n))
            .collect();
        bases.sort_unstable();
        let mut log = PartitionLog {
            dir: dir.to_string(),
            cfg,
            segments: BTreeMap::new(),
            log_start_offset: bases.first().copied().unwrap_or(0),
        };
        let mut rec = Recovery::default();
        let mut expected = log.log_start_offset;
        let mut damaged = false;
        for base in bases {
            if damaged || base < expected {
                // Past a damaged segment nothing can be trusted to follow on.
                Segment::new(base, now_ms).delete(disk, dir);
                rec.deleted_segments += 1;
                continue;
            }
            let (seg, cut) =
                Segment::recover(disk, dir, base, log.cfg.index_interval_bytes, now_ms);
            rec.truncated_bytes += cut;
            damaged = cut > 0;
            expected = seg.next_offset;
            if seg.size_bytes == 0 && !log.segments.is_empty() {
                seg.delete(disk, dir);
                rec.deleted_segments += 1;
                continue;
            }
            log.segments.insert(base, seg);
        }
        if log.segments.is_empty() {
            let start = log.log_start_offset;
            log.segments.insert(start, Segment::new(start, now_ms));
        }
        rec.segments = log.segments.len();
        (log, rec)
    }

    /// The offset the next record gets (LEO).
    pub fn log_end_offset(&self) -> u64 {
        self.active().next_offset
    }

    pub fn size_bytes(&self) -> u64 {
        self.segments.values().map(|s| s.size_bytes).sum()
    }

    pub fn segments(&self) -> impl Iterator<Item = &Segment> {
        self.segments.values()
    }

    fn active(&self) -> &Segment {
        self.segments
            .values()
            .next_back()
            .expect("a log always has an active segment")
    }

    /// The segments in offset order, for cleanup (crate-internal).
    pub(crate) fn segments_mut(&mut self) -> &mut BTreeMap<u64, Segment> {
        &mut self.segments
    }

    fn active_mut(&mut self) -> &mut Segment {
        self.segments
            .values_mut()
            .next_back()
            .expect("a log always has an active segment")
    }

    /// Rolls to a new segment when the active one is full or old (Kafka's `maybeRoll`).
    fn maybe_roll(&mut self, incoming_bytes: u64, now_ms: i64) {
        let a = self.active();
        let full = a.size_bytes > 0 && a.size_bytes + incoming_bytes > self.cfg.segment_bytes;
        let old = self
            .cfg
            .segment_ms
            .is_some_and(|ms| a.size_bytes > 0 && now_ms - a.created_ms >= ms);
        if full || old {
            let base = a.next_offset;
            self.segments.insert(base, Segment::new(base, now_ms));
        }
    }

    /// A leader appends a producer's batch: it gets the next offsets and the leader's
    /// epoch. Returns (first offset, last offset).
    pub fn append_as_leader(
        &mut self,
        disk: &mut Disk,
        batch: &mut RecordBatch,
        leader_epoch: u32,
        now_ms: i64,
    ) -> Result<(u64, u64), LogError> {
        if batch.records.is_empty() {
            return Err(LogError::EmptyBatch);
        }
        batch.base_offset = self.log_end_offset();
        batch.leader_epoch = leader_epoch;
        self.append(disk, batch, now_ms)?;
        Ok((batch.base_offset, batch.last_offset()))
    }

    /// A follower appends a batch fetched from its leader, offsets and epoch as they are.
    pub fn append_as_follower(
        &mut self,
        disk: &mut Disk,
        batch: &RecordBatch,
        now_ms: i64,
    ) -> Result<(), LogError> {
        let leo = self.log_end_offset();
        if batch.base_offset != leo {
            return Err(LogError::NotContiguous {
                got: batch.base_offset,
                log_end_offset: leo,
            });
        }
        self.append(disk, batch, now_ms)
    }

    fn append(
        &mut self,
        disk: &mut Disk,
        batch: &RecordBatch,
        now_ms: i64,
    ) -> Result<(), LogError> {
        let bytes = batch.encode();
        if bytes.len() > batch::MAX_BATCH_BYTES {
            return Err(LogError::BatchTooLarge(bytes.len()));
        }
        self.maybe_roll(bytes.len() as u64, now_ms);
        let (dir, interval) = (self.dir.clone(), self.cfg.index_interval_bytes);
        self.active_mut()
            .append(disk, &dir, batch, &bytes, interval)?;
        Ok(())
    }

    /// Finds the batch holding `offset`: binary search over the segments (by base
    /// offset), then over the segment's sparse index, then a scan of batches.
    pub fn lookup(&self, disk: &Disk, offset: u64) -> Result<Lookup, LogError> {
        let leo = self.log_end_offset();
        if offset < self.log_start_offset || offset >= leo {
            return Err(LogError::OffsetOutOfRange {
                offset,
                log_start_offset: self.log_start_offset,
                log_end_offset: leo,
            });
        }
        let (&first_base, seg) = self
            .segments
            .range(..=offset)
            .next_back()
            .expect("offset >= log start offset");
        let entry = seg.index_lookup(offset);
        let mut skipped = 0;
        // Normally the batch is in this segment; after compaction dropped the offset, the
        // read goes on to the next batch that exists, as a Kafka fetch does.
        for (&base, _) in self.segments.range(first_base..) {
            let bytes = disk
                .read(&segment::log_name(&self.dir, base))
                .unwrap_or_default();
            let mut at = if base == first_base {
                entry.position as usize
            } else {
                0
            };
            while at < bytes.len() {
                let Ok((b, len)) = batch::decode(&bytes[at..]) else {
                    break;
                };
                if b.last_offset() >= offset {
                    return Ok(Lookup {
                        segment_base_offset: base,
                        index_entry: entry,
                        batches_skipped: skipped,
                        position: at as u64,
                    });
                }
                skipped += 1;
                at += len;
            }
        }
        Err(LogError::OffsetOutOfRange {
            offset,
            log_start_offset: self.log_start_offset,
            log_end_offset: leo,
        })
    }

    /// Reads batches from the one holding `offset` on, up to about `max_bytes` (at least
    /// one batch, as a fetch always returns one).
    pub fn read(
        &self,
        disk: &Disk,
        offset: u64,
        max_bytes: usize,
    ) -> Result<Vec<RecordBatch>, LogError> {
        let found = self.lookup(disk, offset)?;
        let mut out = Vec::new();
        let mut total = 0usize;
        for (base, _) in self.segments.range(found.segment_base_offset..) {
            let bytes = disk
                .read(&segment::log_name(&self.dir, *base))
                .unwrap_or_default();
            let mut at = if *base == found.segment_base_offset {
                found.position as usize
            } else {
                0
            };
            while at < bytes.len() {
                let Ok((b, len)) = batch::decode(&bytes[at..]) else {
                    break;
                };
                if !out.is_empty() && total + len > max_bytes {
                    return Ok(out);
                }
                total += len;
                at += len;
                out.push(b);
            }
        }
        Ok(out)
    }

    /// Every batch from the log start up to the first at or past `end` (whole batches, so
    /// the last may hold offsets at or above `end`): for recovery, loading and checks.
    pub fn read_below(&self, disk: &Disk, end: u64) -> Vec<RecordBatch> {
        let mut out = Vec::new();
        let mut at = self.log_start_offset;
        while at < end.min(self.log_end_offset()) {
            let Ok(batches) = self.read(disk, at, 1 << 20) else {
                break;
            };
            let Some(next) = batches.last().map(|b| b.next_offset()) else {
                break;
            };
            out.extend(batches);
            if next <= at {
                break;
            }
            at = next;
        }
        out
    }

    /// Removes every record at `offset` and after (a follower truncating to its leader's
    /// log, KIP-101). A batch holding `offset` goes whole, as in Kafka, so the new log end
    /// may be below `offset`; it is returned.
    pub fn truncate_to(&mut self, disk: &mut Disk, offset: u64) -> u64 {
        if offset >= self.log_end_offset() {
            return self.log_end_offset();
        }
        let dir = self.dir.clone();
        let later: Vec<u64> = self.segments.range(offset + 1..).map(|(b, _)| *b).collect();
        for base in later {
            if let Some(seg) = self.segments.remove(&base) {
                seg.delete(disk, &dir);
            }
        }
        if offset < self.log_start_offset || self.segments.is_empty() {
            // Everything went: start again, empty, at `offset`.
            for (_, seg) in std::mem::take(&mut self.segments) {
                seg.delete(disk, &dir);
            }
            self.log_start_offset = offset;
            self.segments.insert(offset, Segment::new(offset, 0));
            return offset;
        }
        let cut = self.lookup(disk, offset).ok().map(|l| l.position);
        let seg = self.active_mut();
        if let Some(position) = cut {
            // The batch at `position` holds `offset`: it starts at its base offset.
            let bytes = disk
                .read(&segment::log_name(&dir, seg.base_offset))
                .unwrap_or_default();
            let new_end = batch::peek(&bytes[position as usize..]).map_or(offset, |(base, _)| base);
            seg.truncate(disk, &dir, position, new_end);
        } else if seg.next_offset > offset {
            // No batch at or above `offset` is left (compaction emptied the tail of the
            // segment): only the log end moves back.
            seg.next_offset = offset;
        }
        self.log_end_offset()
    }
}

#[cfg(test)]
mod tests;
