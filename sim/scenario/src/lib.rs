//! Scenario files for dsim: TOML to a validated [`Scenario`], with errors at file:line:col.
//!
//! A scenario is one story (design brief §7): which model runs, its settings, the network,
//! disks, topology, scripted faults and nemesis, the checks, the limits and what
//! `dsim check` expects over a range of seeds. [`Scenario::parse`] takes the file's text, refuses
//! unknown keys with a did-you-mean, checks everything that does not need the model, and
//! compiles the faults; [`Scenario::model_config`] hands the `[model]` table to the
//! model's own config type, and [`Scenario::validate_with`] checks the names in the file
//! (checks, nodes, roles, selectors) against the model. The format is documented in
//! docs/scenario-format.md.
//!
//! [`testing`] is what the model crates' integration tests share: catalogue scenarios run
//! over seeds with their `[model]` changed, and which checks fired.

// `ScenarioError` is a plain struct with public fields (the CLI's contract); it is only
// built on the error path, so its size does not matter.
#![allow(clippy::result_large_err)]

mod error;
mod locate;
mod model_table;
mod scenario;
mod seeds;
mod suggest;
pub mod testing;

pub use error::ScenarioError;
pub use scenario::{Expect, ModelInfo, Scenario, EXPECTABLE, MAX_EXPECT_SEEDS, MAX_FILE_BYTES};
pub use seeds::{SeedRange, SeedRangeError};
pub use suggest::did_you_mean;
