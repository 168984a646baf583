//! `dsim sweep`: one scenario over a range of seeds, parallel across runs (never within
//! one). Results are gathered in seed order, so everything but `wall_ms` is the same for
//! any `--jobs`.
//!
//! Sweeps scale out in two ways. `--shard I/N` runs the I-th of N disjoint slices of the
//! range (seed `s` belongs to shard `(s - first) % N`), so a batch system that already
//! exists (a Kubernetes Indexed Job, a Slurm array) can spread millions of seeds; each
//! shard's `--json` carries one compact line per run, and `dsim merge` folds the shards into
//! the summary one unsharded sweep would have printed. `--time-budget` stops a long sweep
//! cleanly: seeds run in batches, in order, and the summary covers the prefix of the range
//! that finished.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use clap::Args;
use dsim_core::digest::Digest;
use dsim_core::units::parse_duration;
use dsim_core::{RunOptions, RunReport, Verdict};
use dsim_scenario::SeedRange;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

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
    /// Print one JSON object on stdout (and no progress bar).
    #[arg(long)]
    pub json: bool,
    /// Run only the I-th of N disjoint slices of the seeds (I counts from 0): seed s belongs
    /// to shard (s - first) % N. Combine the shards' --json files with `dsim merge`.
    #[arg(long)]
    pub shard: Option<Shard>,
    /// Stop starting new seeds after this much wall time ("90s", "10m", "2h"); the summary
    /// covers the seeds that finished, a prefix of the range.
    #[arg(long, value_parser = parse_time_budget)]
    pub time_budget: Option<u64>,
    /// Exit 0 whenever every seed ran, whatever the verdicts (they are in the output): for
    /// batch systems that retry or fail a job on a non-zero exit. Usage errors still exit 2.
    #[arg(long)]
    pub exit_zero: bool,
    /// Write the sweep's page (index.html: failures by signature, a histogram of time to
    /// violation) and its JSON (sweep.json) into this directory.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `--shard I/N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

/// At most this many shards: far more than any batch system's array.
pub const MAX_SHARDS: u64 = 1_000_000;

impl FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not a shard; write I/N with 0 <= I < N, e.g. 0/8");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: u64 = i.trim().parse().map_err(|_| bad())?;
        let count: u64 = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || count > MAX_SHARDS {
            return Err(format!("`{s}`: the shard count must be 1..={MAX_SHARDS}"));
        }
        if index >= count {
            return Err(format!(
                "`{s}`: shard {index} does not exist; shards of {count} are numbered 0..{}",
                count - 1
            ));
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// The seeds of `range` in this shard, in order.
    pub fn seeds(&self, range: &SeedRange) -> impl Iterator<Item = u64> + '_ {
        let first = range.first;
        let step = self.count;
        let start = first.checked_add(self.index);
        let last = range.last;
        std::iter::successors(start.filter(|s| *s <= last), move |s| {
            s.checked_add(step).filter(|n| *n <= last)
        })
    }
    pub fn len(&self, range: &SeedRange) -> u64 {
        let total = range.len();
        if self.index >= total {
            0
        } else {
            (total - self.index).div_ceil(self.count)
        }
    }
}

fn parse_time_budget(s: &str) -> Result<u64, String> {
    let d = parse_duration(s).map_err(|e| e.to_string())?;
    let ms = d.0 / 1_000_000;
    if ms == 0 {
        return Err(format!(
            "`{s}` is no time at all; give at least 1ms, e.g. \"10m\""
        ));
    }
    Ok(ms)
}

/// One run, as much as a summary needs: a sweep of a million seeds keeps a million of
/// these, not a million reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunLine {
    pub seed: u64,
    pub verdict: String,
    pub digest: String,
    pub events: u64,
    /// Every check that fired, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub invariants: Vec<String>,
    /// The first violation's check (or the verdict) and its words; failed runs only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invariant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Virtual time of the first violation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub violation_at_ns: Option<u64>,
    /// What groups this failure with others (see [`signature`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

impl RunLine {
    pub fn of(r: &RunReport) -> RunLine {
        let mut names: Vec<String> = r.violations.iter().map(|v| v.invariant.clone()).collect();
        names.sort();
        names.dedup();
        let failed = r.verdict != Verdict::Valid;
        RunLine {
            seed: r.seed,
            verdict: r.verdict.name().to_string(),
            digest: r.digest.clone(),
            events: r.events,
            invariants: names,
            invariant: failed.then(|| failure_name(r)),
            detail: failed.then(|| failure_detail(r)),
            violation_at_ns: r.violations.iter().map(|v| v.at_ns).min(),
            signature: failed.then(|| signature(r)),
        }
    }
    fn verdict(&self) -> Verdict {
        Verdict::from_name(&self.verdict).unwrap_or(Verdict::Unknown)
    }
}

/// What makes two failures "the same bug": the verdict and every check that fired; for a
/// panic, where in the code it happened; for a limit, which limit.
pub fn signature(r: &RunReport) -> String {
    let mut names: Vec<&str> = r.violations.iter().map(|v| v.invariant.as_str()).collect();
    names.sort();
    names.dedup();
    match r.verdict {
        Verdict::Panic => {
            let at = r
                .panic
                .as_ref()
                .and_then(|p| p.location.as_deref())
                .unwrap_or("unknown location");
            let node_role = r
                .panic
                .as_ref()
                .map(|p| {
                    p.node
                        .trim_end_matches(|c: char| c.is_ascii_digit() || c == '-')
                })
                .unwrap_or("");
            format!("panic in {node_role} at {at}")
        }
        Verdict::Limit => {
            let l = r.limit.as_deref().unwrap_or("");
            let which = l
                .split('`')
                .nth(1)
                .map(str::to_string)
                .unwrap_or_else(|| l.split(':').next().unwrap_or(l).to_string());
            format!("limit: {which}")
        }
        Verdict::Unknown => "unknown: a checker gave up".to_string(),
        v => format!("{}: {}", v.name(), names.join(" + ")),
    }
}

/// A group of failures with one signature.
#[derive(Serialize)]
pub struct GroupJson {
    pub signature: String,
    pub count: usize,
    pub smallest_seed: u64,
    pub reproduce: String,
}

#[derive(Serialize)]
pub struct FailureJson {
    pub seed: u64,
    pub verdict: String,
    /// The first violation's check (or the verdict), and its words.
    pub invariant: String,
    pub detail: String,
    /// Every check that fired in this run, sorted.
    pub invariants: Vec<String>,
}

#[derive(Serialize)]
pub struct SweepJson {
    pub scenario: String,
    /// The scenario file's hash and the dsim version: `dsim merge` refuses shards that
    /// differ in either.
    pub scenario_hash: String,
    pub dsim_version: String,
    pub seeds: String,
    /// The seeds that finished when `--time-budget` stopped the sweep early.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub covered: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
    pub runs: usize,
    pub failed: usize,
    pub by_verdict: BTreeMap<String, usize>,
    pub by_invariant: BTreeMap<String, usize>,
    pub groups: Vec<GroupJson>,
    pub failures: Vec<FailureJson>,
    pub digest: String,
    pub events: u64,
    pub exit_code: i32,
    pub wall_ms: u64,
    /// One line per run, for `dsim merge` (shards only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub results: Option<Vec<RunLine>>,
}

/// A pool for `jobs` parallel runs (None: one per core), never more threads than runs.
fn pool(jobs: Option<usize>, runs: u64) -> anyhow::Result<rayon::ThreadPool> {
    let threads = jobs.map_or(0, |j| j.min(runs.max(1) as usize));
    Ok(rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?)
}

/// A progress bar on stderr: shown only on a terminal, never in --json mode.
fn progress(len: u64, label: &str, quiet: bool) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(
        Some(len),
        if quiet {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        },
    );
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix} [{bar:30}] {pos}/{len} seeds  {per_sec}  ETA {eta}  {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_prefix(label.to_string());
    bar.set_message("0 failed");
    bar
}

/// Runs every seed of `seeds` on a pool of `jobs` threads; reports come back in seed order.
pub fn run_seeds(
    runner: &dyn Runner,
    seeds: &SeedRange,
    jobs: Option<usize>,
    label: &str,
) -> anyhow::Result<Vec<RunReport>> {
    let pool = pool(jobs, seeds.len())?;
    let bar = progress(seeds.len(), label, false);
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

/// Runs `seeds` in order, in batches, keeping one line per run; stops starting batches
/// once `budget_ms` of wall time has gone. Returns the lines (a prefix of `seeds`).
fn run_lines(
    runner: &dyn Runner,
    seeds: impl Iterator<Item = u64>,
    total: u64,
    jobs: Option<usize>,
    label: &str,
    quiet: bool,
    budget_ms: Option<u64>,
) -> anyhow::Result<(Vec<RunLine>, bool)> {
    let pool = pool(jobs, total)?;
    let batch = (pool.current_num_threads() * 16).max(16);
    let bar = progress(total, label, quiet);
    let elapsed = stopwatch();
    let mut lines: Vec<RunLine> = Vec::with_capacity(total.min(1 << 20) as usize);
    let mut failed = 0usize;
    let mut seeds = seeds.peekable();
    let mut stopped = false;
    let over_budget = || budget_ms.is_some_and(|b| elapsed() >= b);
    while seeds.peek().is_some() && !stopped {
        let chunk: Vec<u64> = seeds.by_ref().take(batch).collect();
        // The budget is checked before each seed starts; what finished is kept up to the
        // first seed that did not start, so the summary covers a prefix.
        let done: Vec<Option<RunLine>> = pool.install(|| {
            chunk
                .par_iter()
                .map(|&seed| {
                    if over_budget() {
                        return None;
                    }
                    let line = RunLine::of(&runner.run(seed, RunOptions::default()));
                    bar.inc(1);
                    Some(line)
                })
                .collect()
        });
        for line in done {
            match line {
                Some(l) if !stopped => {
                    failed += usize::from(l.verdict != "valid");
                    lines.push(l);
                }
                _ => stopped = true,
            }
        }
        bar.set_message(format!("{failed} failed"));
    }
    bar.finish_and_clear();
    Ok((lines, stopped))
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

/// The summary of a sweep from its runs' lines, which must be in seed order. Shards merged
/// by `dsim merge` give the same summary as one unsharded sweep.
pub fn summarize(
    scenario_path: &str,
    scenario_hash: &str,
    seeds: &SeedRange,
    lines: &[RunLine],
) -> SweepJson {
    let mut digest = Digest::default();
    let mut by_verdict = BTreeMap::new();
    let mut by_invariant = BTreeMap::new();
    let mut groups: BTreeMap<String, (usize, u64)> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut worst = Verdict::Valid;
    for l in lines {
        digest.value(&l.seed);
        digest.value(l.digest.as_str());
        *by_verdict.entry(l.verdict.clone()).or_insert(0) += 1;
        let v = l.verdict();
        if v.severity() > worst.severity() {
            worst = v;
        }
        for n in &l.invariants {
            *by_invariant.entry(n.clone()).or_insert(0) += 1;
        }
        if v != Verdict::Valid {
            let sig = l.signature.clone().unwrap_or_else(|| l.verdict.clone());
            let g = groups.entry(sig).or_insert((0, l.seed));
            g.0 += 1;
            g.1 = g.1.min(l.seed);
            failures.push(FailureJson {
                seed: l.seed,
                verdict: l.verdict.clone(),
                invariant: l.invariant.clone().unwrap_or_else(|| l.verdict.clone()),
                detail: l.detail.clone().unwrap_or_default(),
                invariants: l.invariants.clone(),
            });
        }
    }
    let mut groups: Vec<GroupJson> = groups
        .into_iter()
        .map(|(signature, (count, smallest_seed))| GroupJson {
            reproduce: format!("dsim run {scenario_path} --seed {smallest_seed}"),
            signature,
            count,
            smallest_seed,
        })
        .collect();
    groups.sort_by(|a, b| b.count.cmp(&a.count).then(a.signature.cmp(&b.signature)));
    SweepJson {
        scenario: scenario_path.to_string(),
        scenario_hash: scenario_hash.to_string(),
        dsim_version: env!("CARGO_PKG_VERSION").to_string(),
        seeds: seeds.to_string(),
        covered: None,
        shard: None,
        runs: lines.len(),
        failed: failures.len(),
        by_verdict,
        by_invariant,
        groups,
        failures,
        digest: digest.hex(),
        events: lines.iter().map(|l| l.events).sum(),
        exit_code: worst.exit_code(),
        wall_ms: 0,
        results: None,
    }
}

/// Writes `index.html` and `sweep.json` for a sweep (or merged shards) into `dir`.
pub fn write_page(
    dir: &std::path::Path,
    summary: &SweepJson,
    lines: &[RunLine],
) -> anyhow::Result<()> {
    use anyhow::Context;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let page = dsim_report::sweep::SweepPage {
        scenario: &summary.scenario,
        seeds: &summary.seeds,
        runs: summary.runs,
        failed: summary.failed,
        digest: &summary.digest,
        covered: summary.covered.as_deref(),
        by_verdict: summary
            .by_verdict
            .iter()
            .map(|(v, n)| (v.clone(), *n))
            .collect(),
        groups: summary
            .groups
            .iter()
            .map(|g| dsim_report::sweep::Group {
                signature: g.signature.clone(),
                count: g.count,
                smallest_seed: g.smallest_seed,
                reproduce: g.reproduce.clone(),
            })
            .collect(),
        violation_times: lines
            .iter()
            .filter_map(|l| l.violation_at_ns.map(|t| (l.seed, t)))
            .collect(),
    };
    let index = dir.join("index.html");
    std::fs::write(&index, dsim_report::sweep::sweep_html(&page))
        .with_context(|| format!("writing {}", index.display()))?;
    let json = dir.join("sweep.json");
    std::fs::write(&json, serde_json::to_string_pretty(summary)? + "\n")
        .with_context(|| format!("writing {}", json.display()))?;
    eprintln!("sweep page: {}", index.display());
    Ok(())
}

/// The human summary on stderr, shared by `sweep` and `merge`.
pub fn print_summary(summary: &SweepJson, name: &str) {
    let covered = summary
        .covered
        .as_ref()
        .map(|c| {
            format!(
                ", stopped by the time budget: covered {c} (of seeds {})",
                summary.seeds
            )
        })
        .unwrap_or_default();
    eprintln!(
        "{name}: {} runs, {} failed ({} ms){covered}",
        summary.runs, summary.failed, summary.wall_ms
    );
    for (name, count) in &summary.by_invariant {
        eprintln!("  {name}: {count} seed(s)");
    }
    if !summary.groups.is_empty() {
        eprintln!("failures by signature:");
    }
    for g in &summary.groups {
        eprintln!(
            "  {:>6} x {}\n         smallest seed {}: {}",
            g.count, g.signature, g.smallest_seed, g.reproduce
        );
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
            summary.scenario, f.seed
        );
    }
    eprintln!("sweep digest {}", summary.digest);
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
    let runs = a.shard.map_or(seeds.len(), |s| s.len(&seeds));
    let max = dsim_scenario::MAX_EXPECT_SEEDS;
    if runs > max {
        let needed = seeds.len().div_ceil(max);
        let hint = if needed <= MAX_SHARDS {
            format!("split it into at least {needed} shards with --shard I/{needed} and combine them with `dsim merge`")
        } else {
            format!("even {MAX_SHARDS} shards would hold more than {max} seeds each; sweep a smaller range")
        };
        return Err(anyhow::anyhow!(
            "--seeds {seeds} is {runs} runs{}, over the limit of {max} for one sweep; {hint}",
            a.shard
                .map(|s| format!(" in shard {s}"))
                .unwrap_or_default(),
        )
        .into());
    }
    let elapsed = stopwatch();
    let label = match a.shard {
        Some(s) => format!("{} [shard {s}]", scenario.name),
        None => scenario.name.clone(),
    };
    let (lines, stopped) = match a.shard {
        Some(shard) => run_lines(
            runner.as_ref(),
            shard.seeds(&seeds),
            runs,
            a.jobs,
            &label,
            a.json,
            a.time_budget,
        )?,
        None => run_lines(
            runner.as_ref(),
            seeds.iter(),
            runs,
            a.jobs,
            &label,
            a.json,
            a.time_budget,
        )?,
    };
    let mut summary = summarize(&scenario.path, &scenario.source_hash, &seeds, &lines);
    summary.wall_ms = elapsed();
    if stopped {
        summary.covered = Some(match (lines.last(), a.shard) {
            (None, _) => "none".to_string(),
            (Some(l), None) => format!("{}..{}", seeds.first, l.seed),
            (Some(l), Some(shard)) => format!(
                "{} of the {runs} seeds of shard {shard}, up to seed {}",
                lines.len(),
                l.seed
            ),
        });
    }
    if let Some(shard) = a.shard {
        summary.shard = Some(shard);
        summary.results = Some(lines.clone());
    }
    print_summary(&summary, &label);
    if let Some(dir) = &a.out {
        write_page(dir, &summary, &lines)?;
    }
    if a.json {
        println!("{}", serde_json::to_string(&summary)?);
    }
    Ok(if a.exit_zero { 0 } else { summary.exit_code })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_the_range() {
        let range = SeedRange::new(5, 27);
        let mut all: Vec<u64> = Vec::new();
        for i in 0..4 {
            let s = Shard { index: i, count: 4 };
            let seeds: Vec<u64> = s.seeds(&range).collect();
            assert_eq!(seeds.len() as u64, s.len(&range), "shard {s}");
            all.extend(seeds);
        }
        all.sort();
        assert_eq!(all, range.iter().collect::<Vec<_>>());
    }

    #[test]
    fn more_shards_than_seeds_leaves_some_empty() {
        let range = SeedRange::new(1, 3);
        let s = Shard { index: 5, count: 8 };
        assert_eq!(s.seeds(&range).count(), 0);
        assert_eq!(s.len(&range), 0);
    }

    #[test]
    fn shards_near_the_top_of_u64_do_not_overflow() {
        let range = SeedRange::new(u64::MAX - 2, u64::MAX);
        let s = Shard { index: 1, count: 2 };
        assert_eq!(s.seeds(&range).collect::<Vec<_>>(), vec![u64::MAX - 1]);
    }

    #[test]
    fn shard_text_is_checked() {
        assert_eq!("2/8".parse::<Shard>(), Ok(Shard { index: 2, count: 8 }));
        assert!("8/8".parse::<Shard>().unwrap_err().contains("0..7"));
        assert!("1/0".parse::<Shard>().is_err());
        assert!("x".parse::<Shard>().is_err());
    }
}
