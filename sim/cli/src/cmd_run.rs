//! `dsim run`: one scenario, one seed; the verdict in words (stderr) or JSON (stdout).

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use dsim_core::trace::{JsonLines, TraceLine, TraceSink};
use dsim_core::{RunOptions, RunReport};
use dsim_scenario::Scenario;

use crate::output;
use crate::registry::Runner;
use crate::Failure;

#[derive(Args)]
pub struct RunArgs {
    pub scenario: PathBuf,
    /// The seed (default: the first seed of the scenario's [expect], else 1).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Print one JSON object on stdout (human text goes to stderr).
    #[arg(long)]
    pub json: bool,
    /// Write every event as JSON Lines to FILE.
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// Write a run directory: summary.json, report.html, scenario.toml and trace.jsonl.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Run twice and compare every event's digest; name the first divergent event
    /// (exit 0 when they match, 1 when they do not).
    #[arg(long)]
    pub check_determinism: bool,
}

/// Milliseconds since `start`: the CLI times itself; the engine never sees it.
#[allow(clippy::disallowed_methods)] // determinism: ok — wall time is reported, never fed to a run
pub fn stopwatch() -> impl Fn() -> u64 {
    let start = std::time::Instant::now();
    move || start.elapsed().as_millis() as u64
}

pub fn default_seed(s: &Scenario) -> u64 {
    s.expect.as_ref().map(|e| e.seeds.first).unwrap_or(1)
}

fn write_trace(
    runner: &dyn Runner,
    scenario: &Scenario,
    seed: u64,
    path: &Path,
    record: bool,
) -> anyhow::Result<RunReport> {
    let file =
        File::create(path).with_context(|| format!("creating trace file {}", path.display()))?;
    let mut sink = JsonLines::new(BufWriter::new(file));
    sink.line(&TraceLine::Header {
        dsim: dsim_core::VERSION,
        scenario: &scenario.path,
        scenario_hash: &scenario.source_hash,
        seed,
        model: &scenario.model,
    });
    let report = runner.run(
        seed,
        RunOptions {
            trace: Some(&mut sink),
            record,
            ..Default::default()
        },
    );
    sink.finish()
        .with_context(|| format!("writing trace file {}", path.display()))?;
    Ok(report)
}

pub fn run(a: RunArgs) -> Result<i32, Failure> {
    let (scenario, runner) = crate::files::load(&a.scenario)?;
    let seed = a.seed.unwrap_or_else(|| default_seed(&scenario));
    eprintln!(
        "dsim run {} --seed {seed}    # {}",
        scenario.path, scenario.name
    );
    if a.check_determinism {
        return check_determinism(runner.as_ref(), &scenario, seed, a.json);
    }
    let elapsed = stopwatch();
    let record = a.out.is_some();
    let report = match (&a.trace, &a.out) {
        (Some(path), _) => {
            let report = write_trace(runner.as_ref(), &scenario, seed, path, record)?;
            if let Some(dir) = &a.out {
                // The run directory is complete on its own: it gets a copy of the trace.
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                std::fs::copy(path, dir.join("trace.jsonl"))
                    .with_context(|| format!("copying the trace into {}", dir.display()))?;
            }
            report
        }
        (None, Some(dir)) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            write_trace(
                runner.as_ref(),
                &scenario,
                seed,
                &dir.join("trace.jsonl"),
                true,
            )?
        }
        (None, None) => runner.run(seed, RunOptions::default()),
    };
    let wall_ms = elapsed();
    let json = output::run_json(&scenario, &report, wall_ms);
    if let Some(dir) = &a.out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let summary = serde_json::to_string_pretty(&json)?;
        std::fs::write(dir.join("summary.json"), summary + "\n")
            .with_context(|| format!("writing {}/summary.json", dir.display()))?;
        let html = dsim_report::html(&dsim_report::ReportInput {
            scenario_path: &scenario.path,
            name: &scenario.name,
            description: &scenario.description,
            model: &scenario.model,
            report: &report,
            wall_ms,
        });
        std::fs::write(dir.join("report.html"), html)
            .with_context(|| format!("writing {}/report.html", dir.display()))?;
        std::fs::write(dir.join("scenario.toml"), &scenario.source)?;
        eprintln!("report: {}", dir.join("report.html").display());
    }
    eprint!("{}", output::human(&scenario, &report, wall_ms));
    if a.json {
        println!("{}", serde_json::to_string(&json)?);
    }
    Ok(report.verdict.exit_code())
}

fn check_determinism(
    runner: &dyn Runner,
    scenario: &Scenario,
    seed: u64,
    json: bool,
) -> Result<i32, Failure> {
    let opts = || RunOptions {
        event_digests: true,
        ..Default::default()
    };
    let elapsed = stopwatch();
    let a = runner.run(seed, opts());
    let wall_ms = elapsed();
    let b = runner.run(seed, opts());
    let first = a
        .event_digests
        .iter()
        .zip(&b.event_digests)
        .position(|(x, y)| x != y)
        .or_else(|| {
            (a.event_digests.len() != b.event_digests.len())
                .then(|| a.event_digests.len().min(b.event_digests.len()))
        });
    let verdict = match first {
        None if a.digest == b.digest => {
            eprintln!(
                "deterministic: two runs gave digest {} over {} events",
                a.digest, a.events
            );
            None
        }
        None => Some(
            "every event matched but the final digests differ: the runs stopped differently (a panic or a limit)"
                .to_string(),
        ),
        Some(i) => {
            let describe = |r: &dyn Runner| {
                r.run(
                    seed,
                    RunOptions {
                        describe_event: Some(i as u64),
                        ..Default::default()
                    },
                )
                .described_event
                .unwrap_or_else(|| "(past the end of the run)".into())
            };
            Some(format!(
                "runs diverge at event {i}:\n  first run:  {}\n  second run: {}",
                describe(runner),
                describe(runner)
            ))
        }
    };
    if json {
        // The first run's usual fields, plus what the gate found.
        let mut v = serde_json::to_value(output::run_json(scenario, &a, wall_ms))?;
        v["deterministic"] = serde_json::Value::Bool(verdict.is_none());
        v["divergence"] = serde_json::json!(verdict);
        println!("{v}");
    }
    match verdict {
        None => Ok(0),
        Some(why) => {
            eprintln!("NOT DETERMINISTIC: {why}");
            Ok(1)
        }
    }
}
