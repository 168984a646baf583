//! Partition log tests: the lookup of domain note 004, rolling, truncation, recovery of a
//! torn tail, retention by time and by size, compaction.

use dsim_core::Disk;
use proptest::prelude::*;

use super::batch::RecordBatch;
use super::cleanup::DeleteReason;
use super::segment::log_name;
use super::*;

const DAY_MS: i64 = 24 * 3600 * 1000;

fn one(ts: i64, key: &str, value: &str) -> RecordBatch {
    RecordBatch::new(
        -1,
        0,
        -1,
        vec![(ts, Some(key.as_bytes().to_vec()), value.as_bytes().to_vec())],
    )
}

fn cfg() -> LogConfig {
    LogConfig {
        segment_bytes: 1 << 20,
        segment_ms: None,
        index_interval_bytes: 100,
        retention_ms: None,
        retention_bytes: None,
        cleanup_policy: CleanupPolicy::Delete,
    }
}

fn values(log: &PartitionLog, disk: &Disk, from: u64) -> Vec<(u64, String)> {
    log.read(disk, from, usize::MAX)
        .unwrap()
        .iter()
        .flat_map(|b| {
            b.offsets()
                .map(|(o, r)| (o, String::from_utf8_lossy(&r.value).to_string()))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Domain note 004: "to find offset 1008, binary-search the segment below it
/// (00000000000000001000.log), take 1008 - 1000 = 8, binary-search the index for the
/// entry at or below 8, and scan the log from its position".
#[test]
fn offset_1008_is_found_by_segment_then_index_then_scan() {
    let mut disk = Disk::new(1 << 30);
    let mut c = cfg();
    c.segment_ms = Some(1000);
    let (mut log, _) = PartitionLog::open(&mut disk, "t-0", c, 0);
    for i in 0..1000 {
        log.append_as_leader(&mut disk, &mut one(0, "k", &format!("v{i}")), 1, 0)
            .unwrap();
    }
    // Time passes: the next append rolls a segment whose base offset is 1000.
    for i in 1000..1020 {
        log.append_as_leader(&mut disk, &mut one(2000, "k", &format!("v{i}")), 1, 2000)
            .unwrap();
    }
    assert!(disk.read(&log_name("t-0", 1000)).is_some());
    let found = log.lookup(&disk, 1008).unwrap();
    assert_eq!(found.segment_base_offset, 1000);
    let entry = found.index_entry;
    assert!(
        entry.relative_offset <= 8 && entry.relative_offset > 0,
        "{entry:?}"
    );
    assert_eq!(
        found.batches_skipped as u64,
        8 - u64::from(entry.relative_offset),
        "the scan starts at the index entry, not at the segment's start"
    );
    assert_eq!(values(&log, &disk, 1008)[0], (1008, "v1008".into()));
    assert!(matches!(
        log.lookup(&disk, 1020),
        Err(LogError::OffsetOutOfRange { .. })
    ));
}

#[test]
fn a_full_segment_rolls_and_reads_cross_segments() {
    let mut disk = Disk::new(1 << 30);
    let mut c = cfg();
    c.segment_bytes = 300;
    let (mut log, _) = PartitionLog::open(&mut disk, "t-0", c, 0);
    for i in 0..40 {
        log.append_as_leader(&mut disk, &mut one(i, "k", &format!("v{i}")), 1, i)
            .unwrap();
    }
    assert!(log.segments().count() > 3);
    for s in log.segments() {
        assert!(s.size_bytes <= 300, "{s:?}");
    }
    let all = values(&log, &disk, 0);
    assert_eq!(all.len(), 40);
    assert!(all.iter().enumerate().all(|(i, (o, _))| *o == i as u64));
}

#[test]
fn a_follower_appends_only_at_its_log_end() {
    let mut disk = Disk::new(1 << 30);
    let (mut log, _) = PartitionLog::open(&mut disk, "t-0", cfg(), 0);
    let mut b = one(0, "k", "v");
    b.base_offset = 3;
    assert_eq!(
        log.append_as_follower(&mut disk, &b, 0),
        Err(LogError::NotContiguous {
            got: 3,
            log_end_offset: 0
        })
    );
    b.base_offset = 0;
    log.append_as_follower(&mut disk, &b, 0).unwrap();
    assert_eq!(log.log_end_offset(), 1);
}

#[test]
fn truncation_removes_the_whole_batch_holding_the_offset() {
    let mut disk = Disk::new(1 << 30);
    let (mut log, _) = PartitionLog::open(&mut disk, "t-0", cfg(), 0);
    let mut three = RecordBatch::new(-1, 0, -1, (0..3).map(|i| (0, None, vec![i])).collect());
    log.append_as_leader(&mut disk, &mut one(0, "a", "0"), 1, 0)
        .unwrap();
    log.append_as_leader(&mut disk, &mut three, 1, 0).unwrap(); // offsets 1..=3
    log.append_as_leader(&mut disk, &mut one(0, "b", "4"), 1, 0)
        .unwrap();
    assert_eq!(
        log.truncate_to(&mut disk, 2),
        1,
        "offsets 1..=3 go together"
    );
    assert_eq!(values(&log, &disk, 0), vec![(0, "0".into())]);
    log.append_as_leader(&mut disk, &mut one(0, "c", "new"), 2, 0)
        .unwrap();
    assert_eq!(values(&log, &disk, 0)[1], (1, "new".into()));
}

#[test]
fn recovery_cuts_a_torn_last_batch_and_keeps_the_rest() {
    let mut disk = Disk::new(1 << 30);
    let (mut log, _) = PartitionLog::open(&mut disk, "t-0", cfg(), 0);
    for i in 0..10 {
        log.append_as_leader(&mut disk, &mut one(0, "k", &format!("v{i}")), 1, 0)
            .unwrap();
    }
    let name = log_name("t-0", 0);
    let len = disk.read(&name).unwrap().len();
    disk.truncate(&name, len - 5); // a crash tore the last write
    let (log, rec) = PartitionLog::open(&mut disk, "t-0", cfg(), 0);
    assert_eq!(log.log_end_offset(), 9);
    assert!(rec.truncated_bytes > 0);
    assert_eq!(values(&log, &disk, 0).len(), 9);
}

#[test]
fn recovery_stops_at_a_corrupt_batch() {
    let mut disk = Disk::new(1 << 30);
    let (mut log, _) = PartitionLog::open(&mut disk, "t-0", cfg(), 0);
    for i in 0..10 {
        log.append_as_leader(&mut disk, &mut one(0, "k", &format!("v{i}")), 1, 0)
            .unwrap();
    }
    let name = log_name("t-0", 0);
    let mut bytes = disk.read(&name).unwrap().to_vec();
    let at = log.lookup(&disk, 6).unwrap().position as usize + 30;
    bytes[at] ^= 0xff;
    disk.put(&name, &bytes).unwrap();
    let (log, _) = PartitionLog::open(&mut disk, "t-0", cfg(), 0);
    assert_eq!(
        log.log_end_offset(),
        6,
        "batches from the corrupt one on are cut"
    );
}

/// Domain note 004's "7 days and 10 GB": whichever limit is reached first deletes.
#[test]
fn retention_deletes_by_time_or_by_size_whichever_comes_first() {
    let mut c = cfg();
    c.segment_bytes = 1000;
    c.retention_ms = Some(7 * DAY_MS);
    c.retention_bytes = Some(10_000);
    // Time first: a day of data per segment, small.
    let mut disk = Disk::new(1 << 30);
    let (mut log, _) = PartitionLog::open(&mut disk, "t-0", c.clone(), 0);
    for day in 0..10 {
        for _ in 0..10 {
            log.append_as_leader(&mut disk, &mut one(day * DAY_MS, "k", "v"), 1, day * DAY_MS)
                .unwrap();
        }
    }
    let hw = log.log_end_offset();
    let gone = log.delete_old_segments(&mut disk, 10 * DAY_MS, hw);
    assert!(!gone.is_empty());
    assert!(
        gone.iter().all(|d| d.reason == DeleteReason::Time),
        "{gone:?}"
    );
    assert!(log.size_bytes() < 10_000);
    for s in log.segments() {
        assert!(10 * DAY_MS - s.max_timestamp_ms <= 7 * DAY_MS);
    }
    assert_eq!(
        log.log_start_offset,
        log.segments().next().unwrap().base_offset
    );
    // Size first: all of it written today, far over 10 KB.
    let mut disk = Disk::new(1 << 30);
    let (mut log, _) = PartitionLog::open(&mut disk, "t-0", c, 0);
    for _ in 0..600 {
        log.append_as_leader(&mut disk, &mut one(0, "k", "value"), 1, 0)
            .unwrap();
    }
    let hw = log.log_end_offset();
    let gone = log.delete_old_segments(&mut disk, 0, hw);
    assert!(
        gone.iter().all(|d| d.reason == DeleteReason::Size),
        "{gone:?}"
    );
    assert!(log.size_bytes() <= 10_000 + 1000);
    assert!(matches!(
        log.lookup(&disk, 0),
        Err(LogError::OffsetOutOfRange { .. })
    ));
}

#[test]
fn retention_never_deletes_above_the_high_watermark() {
    let mut c = cfg();
    c.segment_bytes = 200;
    c.retention_bytes = Some(1);
    let mut disk = Disk::new(1 << 30);
    let (mut log, _) = PartitionLog::open(&mut disk, "t-0", c, 0);
    for _ in 0..20 {
        log.append_as_leader(&mut disk, &mut one(0, "k", "v"), 1, 0)
            .unwrap();
    }
    let gone = log.delete_old_segments(&mut disk, 0, 0);
    assert!(gone.is_empty(), "nothing is below a high watermark of 0");
}

#[test]
fn compaction_keeps_the_latest_value_of_each_key_at_its_offset() {
    let mut c = cfg();
    c.segment_bytes = 200;
    c.cleanup_policy = CleanupPolicy::Compact;
    let mut disk = Disk::new(1 << 30);
    let (mut log, _) = PartitionLog::open(&mut disk, "t-0", c, 0);
    for i in 0..30 {
        let key = ["a", "b", "c"][i % 3];
        log.append_as_leader(&mut disk, &mut one(0, key, &format!("{key}{i}")), 1, 0)
            .unwrap();
    }
    let leo = log.log_end_offset();
    let dropped = log.compact(&mut disk, leo);
    assert!(dropped > 0);
    let after = values(&log, &disk, log.log_start_offset);
    // In the closed segments each key appears at most once, and only if it is not
    // overwritten later; offsets keep increasing and stay where they were.
    assert!(after.windows(2).all(|w| w[0].0 < w[1].0));
    for (o, v) in &after {
        assert!(v.ends_with(&o.to_string()), "{o} holds {v}");
    }
    assert_eq!(log.log_end_offset(), leo);
    let last: Vec<&str> = after
        .iter()
        .rev()
        .take(3)
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(last, vec!["c29", "b28", "a27"]);
}

proptest! {
    /// Whatever is appended, truncated and cut by a crash, reopening gives a log whose
    /// offsets are a prefix of what was written, contiguous from its start.
    #[test]
    fn reopening_after_a_torn_tail_keeps_a_contiguous_prefix(
        sizes in proptest::collection::vec(1usize..5, 1..40),
        truncate_at in 0u64..60,
        cut in 0usize..40,
    ) {
        let mut c = cfg();
        c.segment_bytes = 250;
        let mut disk = Disk::new(1 << 30);
        let (mut log, _) = PartitionLog::open(&mut disk, "t-0", c.clone(), 0);
        for n in &sizes {
            let mut b = RecordBatch::new(-1, 0, -1, (0..*n).map(|i| (0, None, vec![i as u8; 7])).collect());
            log.append_as_leader(&mut disk, &mut b, 1, 0).unwrap();
        }
        let written = log.log_end_offset();
        log.truncate_to(&mut disk, truncate_at);
        let leo = log.log_end_offset();
        prop_assert!(leo <= written && leo <= truncate_at.max(leo));
        let last: Option<String> = disk.files().filter(|n| n.ends_with(".log")).last().map(str::to_string);
        if let Some(name) = last {
            let len = disk.read(&name).unwrap().len();
            disk.truncate(&name, len.saturating_sub(cut));
        }
        let (log, _) = PartitionLog::open(&mut disk, "t-0", c, 0);
        prop_assert!(log.log_end_offset() <= leo);
        let offsets: Vec<u64> = log
            .read(&disk, log.log_start_offset, usize::MAX)
            .map(|bs| bs.iter().flat_map(|b| b.offsets().map(|(o, _)| o).collect::<Vec<_>>()).collect())
            .unwrap_or_default();
        prop_assert!(offsets.windows(2).all(|w| w[1] == w[0] + 1));
        prop_assert_eq!(offsets.len() as u64, log.log_end_offset() - log.log_start_offset);
    }
}

/// A committed record is not compacted away because of a newer record above the high
/// watermark: that one may still be truncated, and the key would be gone.
#[test]
fn compaction_never_drops_a_record_for_an_uncommitted_successor() {
    let mut c = cfg();
    c.segment_bytes = 120;
    c.cleanup_policy = CleanupPolicy::Compact;
    let mut disk = Disk::new(1 << 30);
    let (mut log, _) = PartitionLog::open(&mut disk, "t-0", c, 0);
    log.append_as_leader(&mut disk, &mut one(0, "k", "committed"), 1, 0)
        .unwrap();
    log.append_as_leader(&mut disk, &mut one(0, "x", "filler-to-roll"), 1, 0)
        .unwrap();
    log.append_as_leader(&mut disk, &mut one(0, "k", "uncommitted"), 1, 0)
        .unwrap();
    log.append_as_leader(&mut disk, &mut one(0, "y", "active"), 1, 0)
        .unwrap();
    assert!(
        log.segments().count() >= 2,
        "{:?}",
        log.segments().collect::<Vec<_>>()
    );
    // Only offset 0 is committed.
    log.compact(&mut disk, 1);
    log.truncate_to(&mut disk, 1);
    assert_eq!(values(&log, &disk, 0), vec![(0, "committed".into())]);
}
