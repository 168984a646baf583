//! `dsim sweep`: one scenario over a range of seeds, parallel across runs (never within
//! one). Results are gathered in seed order, so everything but `wall_ms` is the same for
//! any `--jobs`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Args;
use dsim_core::digest::Digest;
use dsim_core::{RunOptions, RunReport, Verdict};
use dsim_scenario::{Scenario, SeedRange};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use serde::Serialize;

use crate::cmd_run::stopwatch;
use crate::registry::Runner;
use crate::Failure;

#[derive(Args)]
pub struct SweepArgs {
    pub scenario: PathBuf,
    /// Seeds, inclusive: "1..200" (default: the scenario's [expect] seeds).
    #[arg(long)]
    pub seeds: Option<SeedRange>,
    /// Parallel runs, 1 to 1024 (default: the number of cores).
    #[arg(long, value_parser = crate::jobs_in_range)]
    pub jobs: Option<usize>,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
pub struct FailureJson {
    pub seed: u64,
    pub verdict: &'static str,
    /// The first violation's check (or the verdict), and its words.
    pub invariant: String,
    pub detail: String,
    /// Every check that fired in this run, sorted.
    pub invariants: Vec<String>,
}

#[derive(Serialize)]
pub struct SweepJson<'a> {
    pub scenario: &'a str,
    pub seeds: String,
    pub runs: usize,
    pub failed: usize,
    pub by_verdict: BTreeMap<&'static str, usize>,
    pub by_invariant: BTreeMap<String, usize>,
    pub failures: Vec<FailureJson>,
    pub digest: String,
    pub events: u64,
    pub exit_code: i32,
    pub wall_ms: u64,
}

/// Runs every seed of `seeds` on a pool of `jobs` threads; reports come back in seed order.
pub fn run_seeds(
    runner: &dyn Runner,
    seeds: &SeedRange,
    jobs: Option<usize>,
    label: &str,
) -> anyhow::Result<Vec<RunReport>> {
    // Never more threads than runs; 0 asks rayon for one per core.
    let threads = jobs.map_or(0, |j| j.min(seeds.len().max(1) as usize));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    let bar = ProgressBar::new(seeds.len());
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} seeds {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_prefix(label.to_string());
    let seeds: Vec<u64> = seeds.iter().collect();
    let reports = pool.install(|| {
        seeds
            .par_iter()
            .map(|&seed| {
                let r = runner.run(seed, RunOptions::default());
                bar.inc(1);
                r
            })
            .collect::<Vec<_>>()
    });
    bar.finish_and_clear();
    Ok(reports)
}

/// The name a failed run is counted under: its first violation, or its verdict.
pub fn failure_name(r: &RunReport) -> String {
    r.violations
        .first()
        .map(|v| v.invariant.clone())
        .unwrap_or_else(|| r.verdict.name().to_string())
}

/// What went wrong in a failed run, in words.
pub fn failure_detail(r: &RunReport) -> String {
    if let Some(v) = r.violations.first() {
        return v.detail.clone();
    }
    if let Some(p) = &r.panic {
        return format!("{} panicked at event {}: {}", p.node, p.event, p.message);
    }
    if let Some(l) = &r.limit {
        return l.clone();
    }
    r.unknown.join("; ")
}

pub fn summarize<'a>(
    scenario: &'a Scenario,
    seeds: &SeedRange,
    reports: &[RunReport],
    wall_ms: u64,
) -> SweepJson<'a> {
    let mut digest = Digest::default();
    let mut by_verdict = BTreeMap::new();
    let mut by_invariant = BTreeMap::new();
    let mut failures = Vec::new();
    let mut worst = Verdict::Valid;
    for r in reports {
        digest.value(&r.seed);
        digest.value(r.digest.as_str());
        *by_verdict.entry(r.verdict.name()).or_insert(0) += 1;
        if r.verdict.severity() > worst.severity() {
            worst = r.verdict;
        }
        let mut names: Vec<&str> = r.violations.iter().map(|v| v.invariant.as_str()).collect();
        names.sort();
        names.dedup();
        for n in &names {
            *by_invariant.entry(n.to_string()).or_insert(0) += 1;
        }
        if r.verdict != Verdict::Valid {
            failures.push(FailureJson {
                seed: r.seed,
                verdict: r.verdict.name(),
                invariant: failure_name(r),
                detail: failure_detail(r),
                invariants: names.iter().map(|n| n.to_string()).collect(),
            });
        }
    }
    SweepJson {
        scenario: &scenario.path,
        seeds: seeds.to_string(),
        runs: reports.len(),
        failed: failures.len(),
        by_verdict,
        by_invariant,
        failures,
        digest: digest.hex(),
        events: reports.iter().map(|r| r.events).sum(),
        exit_code: worst.exit_code(),
        wall_ms,
    }
}

pub fn sweep(a: SweepArgs) -> Result<i32, Failure> {
    let (scenario, runner) = crate::files::load(&a.scenario)?;
    let seeds = match a
        .seeds
        .clone()
        .or_else(|| scenario.expect.as_ref().map(|e| e.seeds.clone()))
    {
        Some(s) => s,
        None => {
            return Err(anyhow::anyhow!(
                "no --seeds given and {} has no [expect] seeds; e.g. --seeds 1..100",
                scenario.path
            )
            .into())
        }
    };
    if seeds.len() > dsim_scenario::MAX_EXPECT_SEEDS {
        return Err(anyhow::anyhow!(
            "--seeds {seeds} is {} seeds, over the limit of {} for one sweep; split it into several sweeps",
            seeds.len(),
            dsim_scenario::MAX_EXPECT_SEEDS
        )
        .into());
    }
    let elapsed = stopwatch();
    let reports = run_seeds(runner.as_ref(), &seeds, a.jobs, &scenario.name)?;
    let summary = summarize(&scenario, &seeds, &reports, elapsed());
    eprintln!(
        "{}: {} runs, {} failed ({} ms)",
        scenario.name, summary.runs, summary.failed, summary.wall_ms
    );
    for (name, count) in &summary.by_invariant {
        eprintln!("  {name}: {count} seed(s)");
    }
    for f in summary.failures.iter().take(10) {
        eprintln!(
            "  seed {}: {} — {}\n      {}",
            f.seed, f.verdict, f.invariant, f.detail
        );
    }
    if summary.failures.len() > 10 {
        eprintln!(
            "  ... {} more failing seeds (use --json for all)",
            summary.failures.len() - 10
        );
    }
    if let Some(f) = summary.failures.first() {
        eprintln!(
            "reproduce the first: dsim run {} --seed {}",
            scenario.path, f.seed
        );
    }
    eprintln!("sweep digest {}", summary.digest);
    if a.json {
        println!("{}", serde_json::to_string(&summary)?);
    }
    Ok(summary.exit_code)
}
