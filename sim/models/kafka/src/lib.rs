//! Kafka-style brokers for dsim (issue 4). This crate grows in layers; what exists now:
//!
//! * [`log`]: a partition's log on a broker's disk — record batches with CRCs (message
//!   format v2), segments named by base offset with sparse offset indexes, lookup by
//!   binary search over segments and index then a scan (domain notes 003/004), rolling,
//!   truncation (for KIP-101 follower truncation), crash recovery that cuts a torn tail,
//!   and cleanup by retention time/size or compaction.
//!
//! Brokers, replication (ISR, high watermark, leader epochs), producers, consumer groups,
//! the controller (on the ZooKeeper or Raft crates) and the checks come next; see
//! docs/models/kafka.md once they land.

pub mod log;
