//! `dsim merge`: folds the `--json` outputs of `dsim sweep --shard I/N` into the summary one
//! unsharded sweep of the same seeds would have printed (same counts, groups, failures and
//! digest; `wall_ms` is the shards' total). Every shard must be present exactly once and
//! all must come from the same scenario and seed range.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use dsim_scenario::SeedRange;
use serde::Deserialize;

use crate::cmd_sweep::{print_summary, summarize, RunLine, Shard};
use crate::Failure;
use dsim_core::Verdict;

/// The part of a shard's `sweep --json` that merging needs.
#[derive(Deserialize)]
struct ShardFile {
    scenario: String,
    #[serde(default)]
    scenario_hash: String,
    #[serde(default)]
    dsim_version: String,
    seeds: String,
    shard: Option<Shard>,
    #[serde(default)]
    covered: Option<String>,
    wall_ms: u64,
    results: Option<Vec<RunLine>>,
}

/// At most this many bytes per shard file (a million runs' lines fit well within it).
const MAX_SHARD_FILE_BYTES: u64 = 1 << 30;

fn read_shard(path: &Path) -> anyhow::Result<ShardFile> {
    let meta = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    if meta.len() > MAX_SHARD_FILE_BYTES {
        bail!(
            "{} is {} bytes, over the limit of {MAX_SHARD_FILE_BYTES} for a shard file",
            path.display(),
            meta.len()
        );
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    // A shard's stdout may be preceded by nothing else; take the last JSON line.
    let line = text
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .ok_or_else(|| {
            anyhow!(
                "{} holds no JSON object; it should be the stdout of `dsim sweep ... --shard I/N --json`",
                path.display()
            )
        })?;
    let f: ShardFile = serde_json::from_str(line).with_context(|| {
        format!(
            "{} is not the output of `dsim sweep --shard I/N --json`",
            path.display()
        )
    })?;
    let Some(shard) = f.shard else {
        bail!(
            "{} is the output of an unsharded sweep; merge takes the --json outputs of `dsim sweep ... --shard I/N --json`",
            path.display()
        );
    };
    // The same checks as on the command line (a file is not to be trusted more).
    shard
        .to_string()
        .parse::<Shard>()
        .map_err(|e| anyhow!("{}: {e}", path.display()))?;
    let Some(results) = &f.results else {
        bail!(
            "{} has no `results`: it is not a shard's --json output",
            path.display()
        );
    };
    for l in results {
        if Verdict::from_name(&l.verdict).is_none() {
            bail!(
                "{}: seed {} has the verdict `{}`, which dsim does not know",
                path.display(),
                l.seed,
                l.verdict
            );
        }
    }
    Ok(f)
}

pub fn merge(paths: &[PathBuf], json: bool, out: Option<&Path>) -> Result<i32, Failure> {
    let mut shards: Vec<(PathBuf, ShardFile)> = Vec::new();
    for p in paths {
        shards.push((p.clone(), read_shard(p)?));
    }
    let (first_path, first) = shards
        .first()
        .ok_or_else(|| anyhow!("no shard files given"))?;
    let count = first.shard.map_or(1, |s| s.count);
    let mut seen: Vec<Option<&Path>> = vec![None; count.min(1 << 20) as usize];
    for (p, f) in &shards {
        let shard = f.shard.expect("checked in read_shard");
        if f.scenario_hash != first.scenario_hash || f.dsim_version != first.dsim_version {
            return Err(anyhow!(
                "{} ran scenario {} (hash {}) with dsim {}, but {} ran hash {} with dsim {}: shards must run the same file with the same dsim",
                p.display(),
                f.scenario,
                f.scenario_hash,
                f.dsim_version,
                first_path.display(),
                first.scenario_hash,
                first.dsim_version
            )
            .into());
        }
        if f.scenario != first.scenario || f.seeds != first.seeds {
            return Err(anyhow!(
                "{} is a sweep of {} seeds {}, but {} is of {} seeds {}: shards must come from one sweep",
                p.display(),
                f.scenario,
                f.seeds,
                first_path.display(),
                first.scenario,
                first.seeds
            )
            .into());
        }
        if shard.count != count {
            return Err(anyhow!(
                "{} is shard {shard} but {} is one of {count}: shards must come from one split",
                p.display(),
                first_path.display()
            )
            .into());
        }
        let slot = seen
            .get_mut(shard.index as usize)
            .ok_or_else(|| anyhow!("{}: shard {shard} is out of range", p.display()))?;
        if let Some(other) = slot {
            return Err(anyhow!(
                "shard {shard} is given twice: {} and {}",
                other.display(),
                p.display()
            )
            .into());
        }
        *slot = Some(p);
    }
    let missing: Vec<String> = seen
        .iter()
        .enumerate()
        .filter(|(_, s)| s.is_none())
        .map(|(i, _)| format!("{i}/{count}"))
        .collect();
    if !missing.is_empty() {
        let shown: Vec<&str> = missing.iter().take(20).map(String::as_str).collect();
        return Err(anyhow!(
            "{} of {count} shards are missing: {}{}",
            missing.len(),
            shown.join(", "),
            if missing.len() > 20 { ", ..." } else { "" }
        )
        .into());
    }
    let seeds: SeedRange = first
        .seeds
        .parse()
        .map_err(|e| anyhow!("{}: {e}", first_path.display()))?;
    let mut lines: Vec<RunLine> = Vec::new();
    let mut stopped: Vec<String> = Vec::new();
    let mut wall_ms = 0u64;
    let scenario = first.scenario.clone();
    let scenario_hash = first.scenario_hash.clone();
    for (p, f) in shards {
        let shard = f.shard.expect("checked in read_shard");
        let results = f.results.expect("checked in read_shard");
        if f.covered.is_some() {
            stopped.push(shard.to_string());
        } else if results.len() as u64 != shard.len(&seeds) {
            return Err(anyhow!(
                "{} holds {} runs, but shard {shard} of seeds {seeds} has {}, and it does not say it stopped early",
                p.display(),
                results.len(),
                shard.len(&seeds)
            )
            .into());
        }
        wall_ms = wall_ms.saturating_add(f.wall_ms);
        let mut seen_here = std::collections::BTreeSet::new();
        for l in results {
            if !seen_here.insert(l.seed) {
                return Err(anyhow!("{}: seed {} appears twice", p.display(), l.seed).into());
            }
            if !seeds.contains(l.seed) || (l.seed - seeds.first) % count != shard.index {
                return Err(anyhow!(
                    "{}: seed {} does not belong to shard {shard} of {}",
                    p.display(),
                    l.seed,
                    seeds
                )
                .into());
            }
            lines.push(l);
        }
    }
    lines.sort_by_key(|l| l.seed);
    if let Some(w) = lines.windows(2).find(|w| w[0].seed == w[1].seed) {
        return Err(anyhow!("seed {} appears in two shards", w[0].seed).into());
    }
    let mut summary = summarize(&scenario, &scenario_hash, &seeds, &lines);
    summary.wall_ms = wall_ms;
    if !stopped.is_empty() {
        summary.covered = Some(format!(
            "{} of {} seeds (stopped early by their time budget: shard {})",
            lines.len(),
            seeds.len(),
            stopped.join(", ")
        ));
    }
    print_summary(
        &summary,
        &format!("{scenario} (merged from {count} shards)"),
    );
    if let Some(dir) = out {
        crate::cmd_sweep::write_page(dir, &summary, &lines)?;
    }
    if json {
        println!("{}", serde_json::to_string(&summary)?);
    }
    Ok(summary.exit_code)
}
