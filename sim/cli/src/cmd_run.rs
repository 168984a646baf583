//! `dsim run`: one scenario, one seed; the verdict in words (stderr) or JSON (stdout),
//! and a run directory (default `reports/<scenario>/seed-<N>/`): `result.json`,
//! `run.json`, `summary.md`, `metrics.csv`, `index.html`, `plots/`, `scenario.toml`,
//! and `trace.jsonl` when `--trace` asks for one. docs/reports.md describes them.

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
    /// The run directory to write (default: reports/<scenario>/seed-<N>/ under the
    /// current directory): result.json, run.json, summary.md, metrics.csv, index.html,
    /// plots/, scenario.toml, and trace.jsonl with --trace.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Write no run directory (and record nothing: the fastest run).
    #[arg(long, conflicts_with = "out")]
    pub no_report: bool,
    /// Also write each plot as PNG (plots/*.png), for slides and bug reports.
    #[arg(long, conflicts_with = "no_report")]
    pub png: bool,
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

/// Messages a report records at most (the rest are counted, not kept): a Lamport diagram
/// draws a few hundred, and `run.json` stays a few megabytes even for big runs.
pub const MESSAGE_CAP: usize = 20_000;

/// Notes and metric samples a report records at most (each); with it, a node's
/// `observe()` numbers are sampled (see `RunOptions::max_records`).
pub const RECORD_CAP: usize = 100_000;

/// What a run records for its report.
fn record_opts<'a>(record: bool, window: Option<(u64, u64)>) -> RunOptions<'a> {
    RunOptions {
        record,
        max_messages: record.then_some(MESSAGE_CAP),
        max_records: record.then_some(RECORD_CAP),
        message_window: window,
        ..Default::default()
    }
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
            ..record_opts(record, None)
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
    let dir = match (&a.out, a.no_report) {
        (_, true) => None,
        (Some(d), false) => Some(d.clone()),
        (None, false) => Some(default_dir(&scenario, seed)),
    };
    let record = dir.is_some();
    let report = match &a.trace {
        Some(path) => write_trace(runner.as_ref(), &scenario, seed, path, record)?,
        None => runner.run(seed, record_opts(record, None)),
    };
    let wall_ms = elapsed();
    let json = output::run_json(&scenario, &report, wall_ms);
    if let Some(dir) = &dir {
        write_run_dir(dir, &a, runner.as_ref(), &scenario, &report, wall_ms, &json)?;
        if a.png {
            let pngs = dsim_report::write_pngs(dir)
                .map_err(|e| anyhow::anyhow!("writing PNG plots in {}: {e}", dir.display()))?;
            eprintln!(
                "{} PNG plots in {}",
                pngs.len(),
                dir.join("plots").display()
            );
        }
    }
    eprint!("{}", output::human(&scenario, &report, wall_ms));
    if a.json {
        println!("{}", serde_json::to_string(&json)?);
    }
    Ok(report.verdict.exit_code())
}

/// `reports/<scenario name>/seed-<N>`, relative to the current directory.
pub fn default_dir(scenario: &Scenario, seed: u64) -> PathBuf {
    let name: String = scenario
        .name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    PathBuf::from("reports")
        .join(if name.is_empty() { "run".into() } else { name })
        .join(format!("seed-{seed}"))
}

/// The run directory: the files that describe the run, then the report drawn from them.
fn write_run_dir(
    dir: &Path,
    a: &RunArgs,
    runner: &dyn Runner,
    scenario: &Scenario,
    report: &RunReport,
    wall_ms: u64,
    json: &output::RunJson<'_>,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let ctx = |f: &str| format!("writing {}", dir.join(f).display());
    std::fs::write(
        dir.join("result.json"),
        serde_json::to_string_pretty(json)? + "\n",
    )
    .with_context(|| ctx("result.json"))?;
    std::fs::write(dir.join("scenario.toml"), &scenario.source)
        .with_context(|| ctx("scenario.toml"))?;
    if let Some(trace) = &a.trace {
        // The run directory is complete on its own: it gets a copy of the trace.
        std::fs::copy(trace, dir.join("trace.jsonl"))
            .with_context(|| format!("copying the trace into {}", dir.display()))?;
    }
    let provenance = dsim_report::Provenance {
        scenario_path: &scenario.path,
        name: &scenario.name,
        description: &scenario.description,
        model: &scenario.model,
        wall_ms,
    };
    let mut data = dsim_report::RunData::new(&provenance, report);
    // A big run records its first MESSAGE_CAP / 2 messages exactly, then a sample; when the
    // violation's window lies past the exact part, run again (same seed, so the same run)
    // keeping only that window's messages.
    if let Some(f) = dsim_report::focus::violation_focus(&data) {
        let covered = data.message_sampling.is_none()
            || data
                .exact_messages()
                .last()
                .is_some_and(|m| m.sent_ns >= f.t1);
        if !covered {
            let again = runner.run(report.seed, record_opts(true, Some((f.t0, f.t1))));
            if again.digest == report.digest {
                data.message_window = Some((f.t0, f.t1));
                data.window_messages = dsim_report::RunData::new(&provenance, &again).messages;
            }
        }
    }
    dsim_report::write_run_dir(dir, &data)
        .with_context(|| format!("writing the report in {}", dir.display()))?;
    eprintln!("report: {}", dir.join("index.html").display());
    Ok(())
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
