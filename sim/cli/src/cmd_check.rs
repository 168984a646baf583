//! `dsim check`: the regression suite of the scenario catalogue. Each scenario's
//! `[expect]` is run over its seeds; the last line is `N passed, M failed`.
//!
//! An expectation of `valid` holds when every seed is valid. Any other verdict holds when
//! at least one seed ends with it, every invariant named in `invariants` fires in at least
//! one seed, and no seed panics or exceeds a limit.

use std::path::PathBuf;

use dsim_core::{RunReport, Verdict};
use dsim_scenario::Expect;

use crate::cmd_run::stopwatch;
use crate::cmd_sweep::{failure_detail, failure_name, run_seeds};
use crate::Failure;

/// Whether the runs meet the expectation; the reason when they do not.
pub fn judge(expect: &Expect, reports: &[RunReport]) -> Result<String, String> {
    let broken = reports
        .iter()
        .find(|r| matches!(r.verdict, Verdict::Panic | Verdict::Limit));
    if let Some(r) = broken {
        return Err(format!(
            "seed {} ended with {}: {}",
            r.seed,
            r.verdict.name(),
            failure_detail(r)
        ));
    }
    if expect.verdict == Verdict::Valid {
        return match reports.iter().find(|r| r.verdict != Verdict::Valid) {
            None => Ok(format!("valid over {} seeds", reports.len())),
            Some(r) => Err(format!(
                "expected valid, but seed {} gave {} ({}): {}",
                r.seed,
                r.verdict.name(),
                failure_name(r),
                r.violations
                    .first()
                    .map(|v| v.detail.as_str())
                    .unwrap_or("")
            )),
        };
    }
    let hits: Vec<&RunReport> = reports
        .iter()
        .filter(|r| r.verdict == expect.verdict)
        .collect();
    if hits.is_empty() {
        return Err(format!(
            "expected some seed to end with `{}`, but none did in {} seeds",
            expect.verdict.name(),
            reports.len()
        ));
    }
    let mut found = Vec::new();
    for name in &expect.invariants {
        match reports
            .iter()
            .find(|r| r.violations.iter().any(|v| &v.invariant == name))
        {
            Some(r) => found.push(format!("{name} (first at seed {})", r.seed)),
            None => {
                return Err(format!(
                    "expected `{name}` to fire in some seed, but it never did in {} seeds",
                    reports.len()
                ))
            }
        }
    }
    Ok(format!(
        "{} in {} of {} seeds{}",
        expect.verdict.name(),
        hits.len(),
        reports.len(),
        if found.is_empty() {
            String::new()
        } else {
            format!(": {}", found.join(", "))
        }
    ))
}

pub fn check(paths: &[PathBuf], jobs: Option<usize>) -> Result<i32, Failure> {
    let files = crate::files::scenario_files(paths)?;
    if files.is_empty() {
        let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        println!("0 passed, 0 failed");
        return Err(anyhow::anyhow!(
            "no scenario files (*.toml) under {}: nothing was checked",
            shown.join(", ")
        )
        .into());
    }
    let (mut passed, mut failed, mut broken) = (0, 0, 0);
    for file in &files {
        let (scenario, runner) = match crate::files::load(file) {
            Ok(x) => x,
            Err(e) => {
                eprintln!("{}", crate::files::render_error(&e));
                println!("ERROR {}: the scenario does not load", file.display());
                broken += 1;
                continue;
            }
        };
        let Some(expect) = scenario.expect.clone() else {
            println!(
                "FAIL  {}: no [expect] section (every scenario states what it shows)",
                scenario.path
            );
            failed += 1;
            continue;
        };
        let elapsed = stopwatch();
        let reports = run_seeds(runner.as_ref(), &expect.seeds, jobs, &scenario.name)?;
        let ms = elapsed();
        match judge(&expect, &reports) {
            Ok(words) => {
                passed += 1;
                println!(
                    "PASS  {} (seeds {}, {ms} ms): {words}",
                    scenario.path, expect.seeds
                );
            }
            Err(why) => {
                failed += 1;
                println!(
                    "FAIL  {} (seeds {}, {ms} ms): {why}",
                    scenario.path, expect.seeds
                );
            }
        }
    }
    println!("{} passed, {} failed", passed, failed + broken);
    Ok(if broken > 0 {
        2
    } else if failed > 0 {
        1
    } else {
        0
    })
}
