//! `dsim`: run, sweep, replay and check deterministic simulations of distributed systems.
//!
//! Exit codes (design brief §8): 0 valid; 1 safety violation; 2 usage, scenario or I/O
//! error (and a limit exceeded); 3 liveness failure; 4 a `sometimes` never held; 5 model
//! panic; 6 unknown (a checker gave up). With `--json`, one JSON object goes to stdout and
//! human text to stderr.

mod cmd_check;
mod cmd_explain;
mod cmd_export;
mod cmd_list;
mod cmd_merge;
mod cmd_replay;
mod cmd_report;
mod cmd_run;
mod cmd_shrink;
mod cmd_sweep;
mod files;
mod output;
mod panics;
mod registry;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "dsim",
    version,
    about = "Deterministic simulation of distributed systems: scenarios, faults, checkers, reports"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one scenario with one seed.
    Run(cmd_run::RunArgs),
    /// Run a scenario over a range of seeds, in parallel; the result does not depend on --jobs.
    Sweep(cmd_sweep::SweepArgs),
    /// Run a scenario again and print every event; or re-run a run directory and verify its digest.
    Replay(cmd_replay::ReplayArgs),
    /// Redraw a run directory's report (index.html, plots) from its run.json, without re-running.
    Report(cmd_report::ReportArgs),
    /// Run each scenario's [expect] over its seeds: the regression suite of the catalogue.
    Check {
        /// Scenario files or directories (searched for *.toml).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Parallel runs, 1 to 1024 (default: the number of cores).
        #[arg(long, value_parser = jobs_in_range)]
        jobs: Option<usize>,
    },
    /// Find a smaller scenario that fails the same way as a failing seed, and write it.
    Shrink(cmd_shrink::ShrinkArgs),
    /// Write a run as a Chrome trace (Perfetto) or a ShiViz log.
    Export(cmd_export::ExportArgs),
    /// Combine the --json outputs of `dsim sweep --shard I/N` into one sweep's summary.
    Merge {
        /// The shards' --json files, one per shard.
        #[arg(required = true)]
        shards: Vec<PathBuf>,
        /// Print one JSON object on stdout.
        #[arg(long)]
        json: bool,
        /// Write the merged sweep's page and JSON into this directory.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// The scenario catalogue, one line a scenario.
    List {
        #[arg(default_value = "scenarios")]
        dir: PathBuf,
    },
    /// The story, topology and fault plan of a scenario, in words.
    Explain { scenario: PathBuf },
}

/// `--jobs`: at least one run at a time, and no more threads than is sane.
pub fn jobs_in_range(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=1024).contains(&n) => Ok(n),
        Ok(n) => Err(format!("{n} is not in 1..=1024")),
        Err(_) => Err(format!("`{s}` is not a number")),
    }
}

/// Errors that end a command with exit code 2, printed once, here.
pub struct Failure(pub anyhow::Error);

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure(e.into())
    }
}

fn main() -> ExitCode {
    panics::install_hook();
    let cli = Cli::parse();
    // Panics inside runs are caught and reported by the engine; one that gets here is a
    // bug in dsim itself, and the quiet hook must not swallow it.
    let outcome = std::panic::catch_unwind(|| match cli.command {
        Command::Run(a) => cmd_run::run(a),
        Command::Sweep(a) => cmd_sweep::sweep(a),
        Command::Replay(a) => cmd_replay::replay(a),
        Command::Report(a) => cmd_report::report(a),
        Command::Check { paths, jobs } => cmd_check::check(&paths, jobs),
        Command::Shrink(a) => cmd_shrink::shrink(a),
        Command::Export(a) => cmd_export::export(a),
        Command::Merge { shards, json, out } => cmd_merge::merge(&shards, json, out.as_deref()),
        Command::List { dir } => cmd_list::list(&dir),
        Command::Explain { scenario } => cmd_explain::explain(&scenario),
    });
    let result = match outcome {
        Ok(r) => r,
        Err(payload) => {
            eprintln!(
                "internal error: dsim panicked: {} (please report it with the command line)",
                panics::message(&payload)
            );
            return ExitCode::from(101);
        }
    };
    match result {
        Ok(code) => ExitCode::from(code as u8),
        Err(Failure(e)) => {
            eprintln!("{}", files::render_error(&e));
            ExitCode::from(2)
        }
    }
}
