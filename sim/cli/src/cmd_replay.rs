//! `dsim replay`: run a scenario again with a seed and print every event in order, or
//! re-run a run directory (`--out`) and verify that it reproduces its recorded digest.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use dsim_core::trace::{TraceLine, TraceSink};
use dsim_core::units::format_ns;
use dsim_core::RunOptions;

use crate::Failure;

#[derive(Args)]
pub struct ReplayArgs {
    /// A scenario file (with --seed), or a run directory written by `dsim run --out`.
    pub target: PathBuf,
    #[arg(long)]
    pub seed: Option<u64>,
    /// Print only events whose node or text contains this.
    #[arg(long)]
    pub grep: Option<String>,
}

/// Prints trace lines as a timeline, for people.
struct Timeline<W: Write> {
    out: W,
    grep: Option<String>,
    broken: bool,
}

impl<W: Write> TraceSink for Timeline<W> {
    fn line(&mut self, line: &TraceLine<'_>) {
        if self.broken {
            return;
        }
        let text = match line {
            TraceLine::Event {
                i,
                t,
                kind,
                node,
                detail,
                ..
            } => {
                format!(
                    "{:>12}  #{i:<7} {:<12} {:<8} {detail}",
                    format_ns(*t),
                    node.unwrap_or("-"),
                    kind
                )
            }
            TraceLine::Note {
                t,
                node,
                kind,
                detail,
            } => format!(
                "{:>12}           {node:<12} note     {kind}: {detail}",
                format_ns(*t)
            ),
            TraceLine::Fault {
                t,
                kind,
                nodes,
                detail,
            } => {
                format!(
                    "{:>12}  ---- FAULT {kind} [{}] {detail}",
                    format_ns(*t),
                    nodes.join(", ")
                )
            }
            TraceLine::Op {
                t,
                node,
                op,
                outcome,
                detail,
            } => match outcome {
                None => format!(
                    "{:>12}           {node:<12} invoke   op {op}: {detail}",
                    format_ns(*t)
                ),
                Some(o) => format!(
                    "{:>12}           {node:<12} {o:<8} op {op}: {detail}",
                    format_ns(*t)
                ),
            },
            TraceLine::Footer {
                digest,
                verdict,
                events,
            } => format!("end: {verdict}, {events} events, digest {digest}"),
            TraceLine::Header { .. } | TraceLine::Nodes { .. } => return,
        };
        if let Some(g) = &self.grep {
            if !text.contains(g.as_str()) && !matches!(line, TraceLine::Footer { .. }) {
                return;
            }
        }
        // A closed pipe (`| head`) ends the printing, not the run.
        if writeln!(self.out, "{text}").is_err() {
            self.broken = true;
        }
    }
}

pub fn replay(a: ReplayArgs) -> Result<i32, Failure> {
    let (scenario_path, seed, expected_digest) = if a.target.is_dir() {
        let summary_path = a.target.join("result.json");
        let text = std::fs::read_to_string(&summary_path)
            .with_context(|| format!("reading {}", summary_path.display()))?;
        let v: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("parsing {}", summary_path.display()))?;
        let seed = v["seed"].as_u64().context("result.json has no seed")?;
        let digest = v["digest"]
            .as_str()
            .context("result.json has no digest")?
            .to_string();
        // The recorded digest only speaks for the recorded seed.
        let expected = match a.seed {
            Some(s) if s != seed => None,
            _ => Some(digest),
        };
        (
            a.target.join("scenario.toml"),
            a.seed.unwrap_or(seed),
            expected,
        )
    } else {
        (a.target.clone(), a.seed.unwrap_or(0), None)
    };
    let (scenario, runner) = crate::files::load(&scenario_path)?;
    let seed = if a.target.is_dir() || a.seed.is_some() {
        seed
    } else {
        crate::cmd_run::default_seed(&scenario)
    };
    eprintln!("dsim replay {} --seed {seed}", scenario.path);
    let stdout = std::io::stdout();
    let mut sink = Timeline {
        out: std::io::BufWriter::new(stdout.lock()),
        grep: a.grep,
        broken: false,
    };
    let report = runner.run(
        seed,
        RunOptions {
            trace: Some(&mut sink),
            ..Default::default()
        },
    );
    drop(sink);
    if let Some(want) = expected_digest {
        if want == report.digest {
            eprintln!(
                "replayed: digest {} matches the run directory",
                report.digest
            );
        } else {
            eprintln!(
                "DIVERGED: the run directory recorded digest {want}, this replay gave {}",
                report.digest
            );
            eprintln!("(a different dsim version, or nondeterminism: try `dsim run {} --seed {seed} --check-determinism`)", scenario.path);
            return Ok(1);
        }
    }
    Ok(report.verdict.exit_code())
}
