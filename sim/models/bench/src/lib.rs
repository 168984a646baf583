//! Engine-cost models for dsim's benchmarks: pingpong and heartbeat.
//!
//! - [`pingpong`] measures the engine itself: every event is one message delivery and
//!   the handler does almost nothing, so a run's wall time is the engine's cost per event.
//! - [`heartbeat`] measures scale: one master watching thousands of workers' heartbeats,
//!   as YARN's ResourceManager and HDFS's NameNode do.

pub mod heartbeat;
pub mod pingpong;

pub use heartbeat::{Heartbeat, HeartbeatConfig};
pub use pingpong::{PingPong, PingPongConfig};
