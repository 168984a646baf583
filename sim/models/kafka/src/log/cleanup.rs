//! Log cleanup: what happens to old data (Kafka's `LogManager` cleanup and `LogCleaner`).
//!
//! * **Delete** (`cleanup.policy=delete`): whole segments go, oldest first, when they are
//!   older than `retention.ms` (by their newest record's timestamp) or while the log is
//!   over `retention.bytes` by at least a segment. Whichever limit is reached first
//!   deletes: domain note 004's "7 days and 10 GB" question. The active segment is never
//!   deleted, and nothing at or above the high watermark is (a consumer may not have it).
//! * **Compact** (`cleanup.policy=compact`): in the segments below the active one (and
//!   below the high watermark), a record is dropped when a later record has the same key;
//!   every survivor keeps its offset. Only records below the active segment and the high
//!   watermark are compared (a newer record above them may still be truncated). Records
//!   without a key are dropped (Kafka refuses them on a compacted topic). Not modelled:
//!   tombstones (deleting a key), and Kafka's rule of keeping each producer's last batch
//!   for idempotence.

use std::collections::BTreeMap;

use dsim_core::Disk;

use super::batch::{self, RecordBatch};
use super::segment::{self, Segment};
use super::{CleanupPolicy, PartitionLog};

/// Why a segment was deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeleteReason {
    /// `retention.ms`: its newest record is older than that.
    Time,
    /// `retention.bytes`: the log was over it.
    Size,
}

/// A deleted segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deleted {
    pub base_offset: u64,
    pub next_offset: u64,
    pub size_bytes: u64,
    pub reason: DeleteReason,
}

impl PartitionLog {
    /// Deletes the segments retention says must go; returns them, oldest first.
    pub fn delete_old_segments(
        &mut self,
        disk: &mut Disk,
        now_ms: i64,
        high_watermark: u64,
    ) -> Vec<Deleted> {
        if self.cfg.cleanup_policy != CleanupPolicy::Delete {
            return Vec::new();
        }
        let mut gone = Vec::new();
        let mut size = self.size_bytes();
        let dir = self.dir.clone();
        let (retention_ms, retention_bytes) = (self.cfg.retention_ms, self.cfg.retention_bytes);
        loop {
            let segs = self.segments_mut();
            if segs.len() < 2 {
                break;
            }
            let (&base, seg) = segs.iter().next().expect("two or more segments");
            if seg.next_offset > high_watermark {
                break;
            }
            let by_time = retention_ms.is_some_and(|ms| {
                seg.max_timestamp_ms != i64::MIN && now_ms - seg.max_timestamp_ms > ms
            });
            let by_size = retention_bytes.is_some_and(|b| size >= b + seg.size_bytes);
            if !by_time && !by_size {
                break;
            }
            let seg = segs.remove(&base).expect("present");
            seg.delete(disk, &dir);
            size -= seg.size_bytes;
            gone.push(Deleted {
                base_offset: base,
                next_offset: seg.next_offset,
                size_bytes: seg.size_bytes,
                reason: if by_time {
                    DeleteReason::Time
                } else {
                    DeleteReason::Size
                },
            });
        }
        if let Some(first) = self.segments_mut().keys().next().copied() {
            self.log_start_offset = self.log_start_offset.max(first);
        }
        gone
    }

    /// Compacts the closed segments below `high_watermark`: for each key only the record
    /// with the highest offset survives. Returns how many records were dropped.
    pub fn compact(&mut self, disk: &mut Disk, high_watermark: u64) -> usize {
        if self.cfg.cleanup_policy != CleanupPolicy::Compact {
            return 0;
        }
        let dir = self.dir.clone();
        let interval = self.cfg.index_interval_bytes;
        let closed: Vec<u64> = {
            let segs = self.segments_mut();
            let n = segs.len();
            segs.iter()
                .take(n.saturating_sub(1))
                .filter(|(_, s)| s.next_offset <= high_watermark)
                .map(|(b, _)| *b)
                .collect()
        };
        if closed.is_empty() {
            return 0;
        }
        // The latest offset of every key below the cleanable bound (the active segment's
        // base and the high watermark: Kafka's cleaner builds its offset map from the
        // dirty section only). A record survives unless a later *committed* record shares
        // its key; a newer record above the bound may still be truncated away.
        let bound = {
            let segs = self.segments_mut();
            let active_base = segs.keys().next_back().copied().unwrap_or(0);
            active_base.min(high_watermark)
        };
        let mut latest: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
        for base in &closed {
            for b in read_segment(disk, &dir, *base) {
                for (offset, r) in b.offsets() {
                    if offset >= bound {
                        continue;
                    }
                    if let Some(k) = &r.key {
                        latest.insert(k.clone(), offset);
                    }
                }
            }
        }
        let mut dropped = 0;
        for base in closed {
            let batches = read_segment(disk, &dir, base);
            let created = self.segments_mut()[&base].created_ms;
            let mut kept: Vec<RecordBatch> = Vec::new();
            let mut dropped_here = 0;
            for mut b in batches {
                let before = b.records.len();
                let at = b.base_offset;
                b.records.retain(|r| {
                    let offset = at + u64::from(r.offset_delta);
                    offset >= bound
                        || r.key
                            .as_ref()
                            .is_some_and(|k| latest.get(k) == Some(&offset))
                });
                dropped_here += before - b.records.len();
                if !b.records.is_empty() {
                    kept.push(b);
                }
            }
            // Rewrite the segment with the survivors (Kafka writes a `.cleaned` file and
            // swaps it in; a crash mid-way keeps the old segment, as put_atomic does).
            let bytes: Vec<u8> = kept.iter().flat_map(RecordBatch::encode).collect();
            if disk
                .put_atomic(&segment::log_name(&dir, base), &bytes)
                .is_err()
            {
                // A full disk: the segment stays as it was, nothing dropped from it.
                continue;
            }
            let old_next = self.segments_mut()[&base].next_offset;
            let (mut seg, _) = Segment::recover(disk, &dir, base, interval, created);
            // The segment's offsets stay taken even if its last records were dropped.
            seg.next_offset = old_next;
            self.segments_mut().insert(base, seg);
            dropped += dropped_here;
        }
        dropped
    }
}

/// Every decodable batch of one segment, in order.
fn read_segment(disk: &Disk, dir: &str, base: u64) -> Vec<RecordBatch> {
    let bytes = disk.read(&segment::log_name(dir, base)).unwrap_or_default();
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        match batch::decode(&bytes[at..]) {
            Ok((b, len)) => {
                at += len;
                out.push(b);
            }
            Err(_) => break,
        }
    }
    out
}
