//! Finding and loading scenario files.

use std::path::{Path, PathBuf};

use anyhow::Context;
use dsim_scenario::Scenario;

use crate::registry::{self, Runner};

/// Every `*.toml` under the given paths (files as given, directories recursively, sorted).
pub fn scenario_files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut out).with_context(|| format!("reading directory {}", p.display()))?;
        } else if p.exists() {
            out.push(p.clone());
        } else {
            anyhow::bail!("{}: no such file or directory", p.display());
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for p in entries {
        if p.is_dir() {
            // A run directory (`dsim run` writes result.json and a copy of its scenario)
            // is output, not part of the catalogue.
            if !p.join("result.json").is_file() {
                walk(&p, out)?;
            }
        } else if p.extension().is_some_and(|e| e == "toml") {
            out.push(p);
        }
    }
    Ok(())
}

/// An error as dsim prints it: a scenario error renders itself (file:line:col, the line,
/// a hint); anything else is one `error:` line with its causes.
pub fn render_error(e: &anyhow::Error) -> String {
    match e.downcast_ref::<dsim_scenario::ScenarioError>() {
        Some(se) => se.to_string(),
        None => format!("error: {e:#}"),
    }
}

/// The error in one line (no snippet), for listings.
pub fn short_error(e: &anyhow::Error) -> String {
    match e.downcast_ref::<dsim_scenario::ScenarioError>() {
        Some(se) => se.message.clone(),
        None => format!("{e:#}"),
    }
}

/// Loads a scenario and binds it to its model; every problem is a ScenarioError.
pub fn load(path: &Path) -> anyhow::Result<(Scenario, Box<dyn Runner>)> {
    let scenario = Scenario::load(path)?;
    let runner = registry::build(&scenario)?;
    Ok((scenario, runner))
}
