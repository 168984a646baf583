//! Kafka-style brokers for dsim (issue 4). This crate grows in layers; what exists now:
//!
//! * [`log`]: a partition's log on a broker's disk — record batches with CRCs (message
//!   format v2), segments named by base offset with sparse offset indexes, lookup by
//!   binary search over segments and index then a scan (domain notes 003/004), rolling,
//!   truncation (for KIP-101 follower truncation), crash recovery that cuts a torn tail,
//!   and cleanup by retention time/size or compaction.
//! * [`epoch_cache`]: the leader epoch cache and OffsetsForLeaderEpoch truncation
//!   (KIP-101, with KIP-279's epoch-by-epoch rule).
//! * [`isr`]: a leader's view of its followers: ISR shrink and expand, high watermark,
//!   `min.insync.replicas`.
//! * [`placement`]: replica assignment across brokers and racks (KIP-36).
//! * [`partitioner`]: murmur2 key hashing as the Java client does it, round-robin and
//!   sticky (KIP-480) spreading of unkeyed records.
//! * [`group`]: the group coordinator's state machine: join, sync, heartbeats, session
//!   and rebalance timeouts, generation-fenced offset commits.
//! * [`assignor`]: consumer group assignment, range and round-robin.
//! * [`producer_state`]: the leader's idempotent-producer state (KIP-98): duplicates of a
//!   retried batch recognised by sequence number, gaps refused, old epochs fenced.
//!
//! Brokers and the replication protocol that uses these, producers, consumer groups,
//! the controller (on the ZooKeeper or Raft crates) and the checks come next; see
//! docs/models/kafka.md once they land.

pub mod assignor;
pub mod epoch_cache;
pub mod group;
pub mod isr;
pub mod log;
pub mod partitioner;
pub mod placement;
pub mod producer_state;
