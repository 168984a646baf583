//! `dsim shrink <scenario> --seed N`: from a failing run, a smaller scenario that fails the
//! same way — the smallest bug report that still shows the bug.
//!
//! Every candidate is one deterministic run of the same seed, judged by whether it ends
//! with the same verdict and the same check (for a panic: the same code location). The
//! steps, each keeping only what still fails:
//! 1. the nemesis' draws are spelled out as scripted `[[faults]]` naming their nodes (the
//!    engine records every fault as it happened), and the `[nemesis]` goes;
//! 2. delta debugging (Zeller and Hildebrandt, "Simplifying and Isolating Failure-Inducing
//!    Input", TSE 2002) over the fault list;
//! 3. fewer of everything the model counts (clients, keys, servers, ...), where the model
//!    accepts it;
//! 4. a shorter fault phase and heal phase.
//!
//! The result is written as a new scenario file whose header says what was removed, with an
//! `[expect]` of the seed and the violation, so `dsim check` holds it to the bug.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};
use clap::Args;
use dsim_core::config::FaultSpec;
use dsim_core::units::{format_exact, parse_duration, Duration};
use dsim_core::{RunOptions, RunReport, Verdict};
use dsim_scenario::Scenario;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use toml_edit::{value, Array, ArrayOfTables, DocumentMut, Item, Table};

use crate::cmd_sweep::signature;
use crate::Failure;

#[derive(Args)]
pub struct ShrinkArgs {
    pub scenario: PathBuf,
    /// The failing seed.
    #[arg(long)]
    pub seed: u64,
    /// Where to write the smaller scenario (default: reports/<name>/shrunk-seed-<N>.toml).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// At most this many candidate runs.
    #[arg(long, default_value_t = 400, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub max_runs: u64,
}

/// `[model]` keys that count things; shrinking tries fewer of each.
const COUNT_KEYS: [&str; 12] = [
    "clients",
    "keys",
    "servers",
    "replicas",
    "participants",
    "brokers",
    "partitions",
    "nodes",
    "workers",
    "consumers",
    "producers",
    "voters",
];

/// What "fails the same way" means for one failing run.
struct Target {
    verdict: Verdict,
    /// The first violation's check, when the run had one.
    invariant: Option<String>,
    /// The sweep signature, for panics, limits and unknowns.
    signature: String,
}

impl Target {
    fn of(r: &RunReport) -> Target {
        Target {
            verdict: r.verdict,
            invariant: r.violations.first().map(|v| v.invariant.clone()),
            signature: signature(r),
        }
    }
    fn matches(&self, r: &RunReport) -> bool {
        if r.verdict != self.verdict {
            return false;
        }
        match &self.invariant {
            Some(name) => r.violations.iter().any(|v| &v.invariant == name),
            None => signature(r) == self.signature,
        }
    }
    fn describe(&self) -> String {
        match &self.invariant {
            Some(i) => format!("{} ({i})", self.verdict.name()),
            None => self.signature.clone(),
        }
    }
}

/// The search: the current smallest failing document and the budget.
struct Shrinker<'a> {
    path: &'a str,
    seed: u64,
    target: Target,
    runs: u64,
    max_runs: u64,
    bar: ProgressBar,
    /// The last run that failed the same way (for the "after" figures).
    best: RunReport,
}

impl Shrinker<'_> {
    /// Runs `doc`; Some(report) when it loads and fails the same way.
    fn attempt(&mut self, doc: &DocumentMut) -> Option<RunReport> {
        if self.runs >= self.max_runs {
            return None;
        }
        let text = doc.to_string();
        let scenario = Scenario::parse(self.path, &text).ok()?;
        let runner = crate::registry::build(&scenario).ok()?;
        self.runs += 1;
        self.bar.inc(1);
        let r = runner.run(self.seed, RunOptions::default());
        if self.target.matches(&r) {
            self.best = r.clone();
            Some(r)
        } else {
            None
        }
    }
    fn out_of_runs(&self) -> bool {
        self.runs >= self.max_runs
    }
}

fn fault_table(f: &FaultSpec) -> Table {
    let mut t = Table::new();
    t.insert("at", value(format_exact(f.at)));
    t.insert("kind", value(f.kind.name()));
    if let Some(target) = &f.target {
        t.insert("target", value(target.as_str()));
    }
    if let Some(shape) = f.shape {
        t.insert("shape", value(shape.name()));
    }
    if let Some(to) = &f.to {
        t.insert("to", value(to.as_str()));
    }
    if let Some(d) = f.duration {
        t.insert("duration", value(format_exact(d)));
    }
    if let Some(disk) = f.disk {
        t.insert("disk", value(disk.name()));
    }
    if let Some(o) = &f.offset {
        t.insert("offset", value(o.as_str()));
    }
    if let Some(p) = f.drift_ppm {
        t.insert("drift_ppm", value(p));
    }
    if let Some(x) = f.factor {
        t.insert("factor", value(i64::from(x)));
    }
    t
}

fn faults_of(doc: &DocumentMut) -> Vec<Table> {
    doc.get("faults")
        .and_then(Item::as_array_of_tables)
        .map(|a| a.iter().cloned().collect())
        .unwrap_or_default()
}

fn with_faults(doc: &DocumentMut, faults: &[Table]) -> DocumentMut {
    let mut d = doc.clone();
    if faults.is_empty() {
        d.remove("faults");
    } else {
        let mut a = ArrayOfTables::new();
        for f in faults {
            a.push(f.clone());
        }
        d.insert("faults", Item::ArrayOfTables(a));
    }
    d
}

/// Delta debugging (ddmin) over `items`: a smallest subset (1-minimal) for which `fails`
/// holds, given that it holds for all of `items`.
fn ddmin<T: Clone>(items: Vec<T>, mut fails: impl FnMut(&[T]) -> bool) -> Vec<T> {
    if items.is_empty() || fails(&[]) {
        return Vec::new();
    }
    let mut items = items;
    let mut n = 2usize;
    while items.len() >= 2 {
        let size = items.len().div_ceil(n);
        let chunks: Vec<Vec<T>> = items.chunks(size).map(<[T]>::to_vec).collect();
        let mut reduced = false;
        for c in &chunks {
            if fails(c) {
                items = c.clone();
                n = 2;
                reduced = true;
                break;
            }
        }
        if !reduced && chunks.len() > 2 {
            for i in 0..chunks.len() {
                let rest: Vec<T> = chunks
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .flat_map(|(_, c)| c.iter().cloned())
                    .collect();
                if fails(&rest) {
                    items = rest;
                    n = (n - 1).max(2);
                    reduced = true;
                    break;
                }
            }
        }
        if !reduced {
            if n >= items.len() {
                break;
            }
            n = (n * 2).min(items.len());
        }
    }
    items
}

fn get_duration(doc: &DocumentMut, table: &str, key: &str, default: Duration) -> Duration {
    doc.get(table)
        .and_then(|t| t.get(key))
        .and_then(Item::as_str)
        .and_then(|s| parse_duration(s).ok())
        .unwrap_or(default)
}

fn set_str(doc: &mut DocumentMut, table: &str, key: &str, text: String) {
    if doc.get(table).is_none() {
        doc.insert(table, Item::Table(Table::new()));
    }
    doc[table][key] = value(text);
}

/// Tries ever shorter values for a phase, halving towards `floor`; keeps the shortest
/// that still fails.
fn shorten_phase(s: &mut Shrinker<'_>, doc: &mut DocumentMut, key: &str, floor: Duration) {
    let mut cur = get_duration(doc, "run", key, Duration::ZERO);
    loop {
        if s.out_of_runs() || cur.0 <= floor.0 {
            return;
        }
        // Halve, rounded up to a millisecond so the file stays readable.
        let half = (cur.0 / 2).max(floor.0).div_ceil(1_000_000) * 1_000_000;
        let next = if half >= cur.0 { floor.0 } else { half };
        if next >= cur.0 {
            return;
        }
        let mut cand = doc.clone();
        set_str(&mut cand, "run", key, format_exact(Duration(next)));
        if s.attempt(&cand).is_some() {
            *doc = cand;
            cur = Duration(next);
        } else {
            return;
        }
    }
}

fn default_out(name: &str, seed: u64) -> PathBuf {
    Path::new("reports")
        .join(name)
        .join(format!("shrunk-seed-{seed}.toml"))
}

pub fn shrink(a: ShrinkArgs) -> Result<i32, Failure> {
    let (scenario, runner) = crate::files::load(&a.scenario)?;
    let seed = a.seed;
    eprintln!("dsim shrink {} --seed {seed}", scenario.path);
    let first = runner.run(seed, RunOptions::default());
    if first.verdict == Verdict::Valid {
        return Err(anyhow!(
            "seed {seed} of {} is valid: there is no failure to shrink (find one with `dsim sweep {} --seeds 1..100`)",
            scenario.path,
            scenario.path
        )
        .into());
    }
    let target = Target::of(&first);
    eprintln!(
        "seed {seed} fails with {}; looking for a smaller scenario that fails the same way",
        target.describe()
    );
    let mut doc: DocumentMut = scenario
        .source
        .parse()
        .with_context(|| format!("re-reading {}", scenario.path))?;
    let bar = ProgressBar::with_draw_target(Some(a.max_runs), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("shrinking [{bar:30}] {pos} runs  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut s = Shrinker {
        path: &scenario.path,
        seed,
        target,
        runs: 0,
        max_runs: a.max_runs,
        bar,
        best: first.clone(),
    };
    let mut removed: Vec<String> = Vec::new();
    let scripted_before = faults_of(&doc).len();
    let drawn = first
        .faults
        .iter()
        .filter(|f| f.detail.starts_with("nemesis"))
        .count();

    // 1. The nemesis' draws made explicit.
    if doc.get("nemesis").is_some() {
        let mut cand = with_faults(&doc, &[]);
        cand.remove("nemesis");
        let plan: Vec<Table> = first.fault_plan.iter().map(fault_table).collect();
        let cand = with_faults(&cand, &plan);
        s.bar.set_message("spelling out the nemesis' faults");
        if let Err(e) = Scenario::parse(&scenario.path, &cand.to_string()) {
            // dsim wrote a plan its own loader refuses: a bug in dsim, not in the model.
            return Err(anyhow!(
                "internal error: the spelled-out faults do not load ({}); please report it with this command",
                e.message
            )
            .into());
        }
        if s.attempt(&cand).is_some() {
            doc = cand;
            removed.push(format!(
                "the [nemesis]: its faults (and the {scripted_before} scripted ones) spelled out as {} [[faults]] naming their nodes",
                plan.len()
            ));
        } else {
            removed.push(
                "nothing from the [nemesis]: spelled out, its faults no longer failed the same way, so it stays"
                    .to_string(),
            );
        }
    }

    // 2. Fewer faults.
    let faults = faults_of(&doc);
    let before = faults.len();
    if before > 0 {
        s.bar.set_message("removing faults");
        let base = doc.clone();
        let kept = ddmin(faults, |subset| {
            s.attempt(&with_faults(&base, subset)).is_some()
        });
        if kept.len() < before {
            removed.push(format!("{} of {before} faults", before - kept.len()));
        }
        doc = with_faults(&base, &kept);
    }

    // 3. Fewer of what the model counts.
    s.bar.set_message("shrinking the cluster and workload");
    for key in COUNT_KEYS {
        let Some(orig) = doc
            .get("model")
            .and_then(|m| m.get(key))
            .and_then(Item::as_integer)
        else {
            continue;
        };
        let mut cur = orig;
        while cur > 1 && !s.out_of_runs() {
            let mut shrunk = false;
            for next in [cur / 2, cur - 1] {
                if next < 1 || next >= cur {
                    continue;
                }
                let mut cand = doc.clone();
                cand["model"][key] = value(next);
                if s.attempt(&cand).is_some() {
                    doc = cand;
                    cur = next;
                    shrunk = true;
                    break;
                }
            }
            if !shrunk {
                break;
            }
        }
        if cur < orig {
            removed.push(format!("{key} {orig} -> {cur}"));
        }
    }

    // 4. A shorter run: the fault phase must still hold every fault.
    s.bar.set_message("shortening the run");
    let phases = &scenario.run.phases;
    let phase_before = (
        get_duration(&doc, "run", "fault_phase", phases.fault_phase),
        get_duration(&doc, "run", "heal_phase", phases.heal_phase),
    );
    let last_fault = faults_of(&doc)
        .iter()
        .filter_map(|t| t.get("at").and_then(Item::as_str))
        .filter_map(|t| parse_duration(t).ok())
        .map(|d| d.0 + 1_000_000)
        .max()
        .unwrap_or(1_000_000);
    if doc.get("run").and_then(|r| r.get("fault_phase")).is_none() {
        set_str(&mut doc, "run", "fault_phase", format_exact(phase_before.0));
    }
    if doc.get("run").and_then(|r| r.get("heal_phase")).is_none() {
        set_str(&mut doc, "run", "heal_phase", format_exact(phase_before.1));
    }
    shorten_phase(&mut s, &mut doc, "fault_phase", Duration(last_fault));
    shorten_phase(&mut s, &mut doc, "heal_phase", Duration::ZERO);
    let phase_after = (
        get_duration(&doc, "run", "fault_phase", phase_before.0),
        get_duration(&doc, "run", "heal_phase", phase_before.1),
    );
    if phase_after != phase_before {
        removed.push(format!(
            "run time {} + {} -> {} + {}",
            format_exact(phase_before.0),
            format_exact(phase_before.1),
            format_exact(phase_after.0),
            format_exact(phase_after.1)
        ));
    }
    s.bar.finish_and_clear();

    // The result: named, described, with an [expect] that holds it to the bug.
    let best = s.best.clone();
    let name = format!("{}-shrunk-{seed}", scenario.name);
    doc["name"] = value(name.as_str());
    let mut expect = Table::new();
    expect.insert("seeds", value(seed.to_string()));
    expect.insert("verdict", value(best.verdict.name()));
    if let Some(inv) = &s.target.invariant {
        let mut arr = Array::new();
        arr.push(inv.as_str());
        expect.insert("invariants", value(arr));
    }
    doc.insert("expect", Item::Table(expect));
    let faults_after = faults_of(&doc).len();
    let out = a.out.unwrap_or_else(|| default_out(&scenario.name, seed));
    let header = format!(
        "# Shrunk by `dsim shrink {} --seed {seed}` in {} runs: it still fails with {}.\n\
         # Removed: {}.\n\
         # Before: {} scripted faults + {} drawn by the nemesis, {} events. After: {} faults, {} events.\n\
         # Reproduce: dsim run {} --seed {seed}\n\n",
        scenario.path,
        s.runs,
        s.target.describe(),
        if removed.is_empty() {
            "nothing (every part was needed)".to_string()
        } else {
            removed.join("; ")
        },
        scripted_before,
        drawn,
        first.events,
        faults_after,
        best.events,
        out.display(),
    );
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&out, header + &doc.to_string())
        .with_context(|| format!("writing {}", out.display()))?;
    eprintln!(
        "before: {} faults ({} scripted, {} from the nemesis), {} events, {} + {} of virtual time",
        scripted_before + drawn,
        scripted_before,
        drawn,
        first.events,
        format_exact(phase_before.0),
        format_exact(phase_before.1),
    );
    eprintln!(
        "after:  {} faults, {} events, {} + {} of virtual time ({} candidate runs)",
        faults_after,
        best.events,
        format_exact(phase_after.0),
        format_exact(phase_after.1),
        s.runs
    );
    for r in &removed {
        eprintln!("  removed {r}");
    }
    if removed.is_empty() {
        eprintln!("nothing could be removed: every fault and setting is needed for this failure");
    }
    if s.out_of_runs() {
        eprintln!(
            "stopped at --max-runs {}: a larger budget may shrink further",
            a.max_runs
        );
    }
    eprintln!("wrote {}", out.display());
    eprintln!("reproduce: dsim run {} --seed {seed}", out.display());
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::ddmin;

    #[test]
    fn ddmin_finds_the_two_items_that_matter() {
        let items: Vec<u32> = (0..20).collect();
        let mut calls = 0;
        let kept = ddmin(items, |s| {
            calls += 1;
            s.contains(&3) && s.contains(&17)
        });
        assert_eq!(kept, vec![3, 17]);
        assert!(calls < 100, "{calls} tests");
    }

    #[test]
    fn ddmin_empties_when_nothing_is_needed() {
        assert!(ddmin(vec![1, 2, 3], |_| true).is_empty());
    }

    #[test]
    fn ddmin_keeps_everything_when_everything_is_needed() {
        let items = vec![1, 2, 3, 4, 5];
        assert_eq!(ddmin(items.clone(), |s| s.len() == 5), items);
    }

    /// Every kind of fault the nemesis can draw, spelled out, loads and replays the same
    /// faults at the same times on the same nodes.
    #[test]
    fn spelled_out_faults_replay_the_nemesis() {
        use super::{fault_table, with_faults};
        use dsim_core::RunOptions;
        use dsim_scenario::Scenario;
        let text = r#"
name = "every-fault"
description = "The nemesis draws every kind of fault."
[model]
name = "quorum"
replicas = 5
clients = 3
op_timeout = "300ms"
think_min = "1ms"
think_max = "20ms"
[run]
fault_phase = "20s"
heal_phase = "2s"
[network]
latency = { dist = "uniform", min = "1ms", max = "5ms" }
[nemesis]
kinds = ["crash", "pause", "partition", "clock-jump", "clock-drift", "slow", "disk", "restart", "heal"]
disk = ["lose-unsynced", "torn-write", "corrupt", "full", "slow"]
interval_min = "100ms"
interval_max = "600ms"
duration_min = "100ms"
duration_max = "2s"
role = "replica"
max_faulty = 2
"#;
        let scenario = Scenario::parse("every-fault.toml", text).expect("loads");
        let runner = crate::registry::build(&scenario).expect("builds");
        let mut kinds = std::collections::BTreeSet::new();
        for seed in 1..=6 {
            let original = runner.run(seed, RunOptions::default());
            let mut doc: toml_edit::DocumentMut = text.parse().unwrap();
            doc.remove("nemesis");
            let plan: Vec<toml_edit::Table> = original.fault_plan.iter().map(fault_table).collect();
            let doc = with_faults(&doc, &plan);
            let spelled = Scenario::parse("every-fault.toml", &doc.to_string())
                .unwrap_or_else(|e| panic!("seed {seed}: the plan does not load: {e}\n{doc}"));
            let replay = crate::registry::build(&spelled)
                .expect("builds")
                .run(seed, RunOptions::default());
            // What happened, as far as behaviour goes: a bridge is spelled as two one-way
            // cuts (two records at one instant: the first is compared), a heal's record
            // names the cut-off side only when the nemesis made the cut (compared by time),
            // and a restart that hit no crashed node did nothing (dropped).
            let key = |r: &dsim_core::RunReport| -> Vec<(u64, String, Vec<String>)> {
                let mut out: Vec<(u64, String, Vec<String>)> = Vec::new();
                for f in &r.faults {
                    if f.kind == "heal-phase" || (f.kind == "restart" && f.nodes.is_empty()) {
                        continue;
                    }
                    let nodes = if f.kind == "heal" {
                        Vec::new()
                    } else {
                        f.nodes.clone()
                    };
                    match out.last() {
                        // The bridge's second one-way cut: its first names the same side
                        // the nemesis' record names.
                        Some(last) if last.0 == f.at_ns && last.1 == f.kind => {}
                        _ => out.push((f.at_ns, f.kind.clone(), nodes)),
                    }
                }
                out
            };
            assert_eq!(key(&replay), key(&original), "seed {seed}");
            kinds.extend(original.faults.iter().map(|f| f.kind.clone()));
        }
        for k in [
            "crash",
            "pause",
            "partition",
            "clock-jump",
            "clock-drift",
            "slow",
            "disk",
        ] {
            assert!(kinds.contains(k), "no {k} drawn in 6 seeds: {kinds:?}");
        }
    }
}
