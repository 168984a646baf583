//! dsim's engine: a deterministic discrete-event simulator of distributed systems.
//!
//! A run is a pure function of (model, scenario, seed): integer virtual time, events in
//! (time, sequence) order, random draws from streams derived from the seed, one thread.
//! Models plug in through [`Model`] and [`Node`]; the engine never names a system.
//! See docs/ARCHITECTURE.md for the whole picture.

pub mod check;
pub mod clock;
pub mod config;
pub mod digest;
pub mod disk;
pub mod embed;
pub mod fault;
pub mod harness;
pub mod history;
pub mod id;
pub mod model;
pub mod net;
pub mod node;
pub mod queue;
pub mod rng;
pub mod select;
pub mod topology;
pub mod trace;
pub mod units;
pub mod world;

pub use check::{Catalogue, CheckClass, CheckInfo, CheckResult, Invariant, Violation};
pub use disk::{Disk, DiskError};
pub use embed::{Embed, Env};
pub use history::{History, HistoryEntry, OpId, Outcome};
pub use id::{NodeId, NodeSpec};
pub use model::{ConfigError, Model};
pub use node::{Ctx, Effect, IoDone, Message, Node, Observation};
pub use rand::Rng;
pub use rng::SimRng;
pub use world::{run, RunConfig, RunOptions, RunReport, Verdict, View};

/// The version that, with the scenario and seed, pins a run.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
