//! Test support for the model crates: catalogue scenarios, seed sweeps and what they found.
//!
//! Every model crate's integration tests tell the same kind of story: load a scenario of
//! the catalogue (`scenarios/<system>/<file>.toml`), run it over a range of seeds with its
//! `[model]` settings changed (a bug switch flipped, a variant chosen), and count in how
//! many runs a named check fired. This module is that machinery, written once:
//!
//! - a [`Testbed`] names one model: its catalogue directory, its constructor and whether
//!   runs record notes and samples. It loads scenarios, builds the model from a scenario's
//!   `[model]` table, binds a scenario to the model, and runs seeds ([`Testbed::sweep`],
//!   [`Testbed::runs`], [`Testbed::run`]);
//! - free functions read the reports: [`fired`], [`has_fired`], [`all_valid`],
//!   [`verdicts`], and [`explain`] / [`describe`] for assertion messages.
//!
//! The helpers panic with the file and the error when something cannot even start (a
//! scenario that does not load, a config the model refuses, a run that cannot begin):
//! in a test that is the failure to report. The catalogue is found from this crate's
//! source directory, so the helpers serve the workspace's own tests, not installed copies.

use std::path::{Path, PathBuf};

use dsim_core::{run, ConfigError, Model, RunConfig, RunOptions, RunReport, Verdict};
use serde::de::DeserializeOwned;

use crate::{ModelInfo, Scenario};

/// The workspace's scenario catalogue: `scenarios/` at the root.
pub fn catalogue_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios")
}

/// One model under test: where its scenarios live, how it is built from its config, and
/// whether its runs record (notes, samples, messages; off by default, as in `run`).
///
/// Declare one per test file as a constant:
/// `const KAFKA: Testbed<KafkaConfig, Kafka> = Testbed::new("kafka", Kafka::new).recording();`
pub struct Testbed<C, M> {
    system: &'static str,
    build: fn(C) -> Result<M, ConfigError>,
    record: bool,
}

// By hand: a derive would ask `C: Clone` and `M: Clone`, which a testbed never clones.
impl<C, M> Clone for Testbed<C, M> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<C, M> Copy for Testbed<C, M> {}

impl<C, M> std::fmt::Debug for Testbed<C, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Testbed")
            .field("system", &self.system)
            .field("record", &self.record)
            .finish_non_exhaustive()
    }
}

impl<C, M> Testbed<C, M> {
    /// The model whose scenarios are in `scenarios/<system>/`, built by `build`.
    pub const fn new(system: &'static str, build: fn(C) -> Result<M, ConfigError>) -> Self {
        Testbed {
            system,
            build,
            record: false,
        }
    }

    /// The same testbed, with runs that record (`RunOptions::record`).
    pub const fn recording(self) -> Self {
        Testbed {
            record: true,
            ..self
        }
    }

    /// The catalogue directory of this model's scenarios.
    pub fn dir(&self) -> PathBuf {
        catalogue_dir().join(self.system)
    }

    /// Loads `scenarios/<system>/<file>`; panics naming the file and the error.
    pub fn scenario(&self, file: &str) -> Scenario {
        let path = self.dir().join(file);
        Scenario::load(&path).unwrap_or_else(|e| panic!("{file}: {e}"))
    }

    /// The file names of every `*.toml` in this model's catalogue directory, sorted.
    pub fn scenario_files(&self) -> Vec<String> {
        let dir = self.dir();
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
        let mut names: Vec<String> = entries
            .map(|e| {
                e.unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                    .path()
            })
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .filter_map(|p| Some(p.file_name()?.to_str()?.to_string()))
            .collect();
        names.sort();
        names
    }

    /// The options of one run.
    fn options(&self) -> RunOptions<'static> {
        RunOptions {
            record: self.record,
            ..RunOptions::default()
        }
    }
}

impl<C: DeserializeOwned, M: Model> Testbed<C, M> {
    /// The scenario's `[model]` table as this model's config; panics with the error.
    pub fn config(&self, s: &Scenario) -> C {
        s.model_config()
            .unwrap_or_else(|e| panic!("{}: [model]: {e}", s.path))
    }

    /// The model built from `cfg`; panics with the key the model refused.
    pub fn model(&self, cfg: C) -> M {
        (self.build)(cfg)
            .unwrap_or_else(|e| panic!("the {} model refuses `{}`: {e}", self.system, e.key))
    }

    /// The model the scenario describes, after checking that every name in the file
    /// (checks, nodes, roles, selectors) exists in it, as `dsim check` does.
    pub fn bind(&self, s: &Scenario) -> M {
        let model = self.model(self.config(s));
        s.validate_with(&ModelInfo::of(&model))
            .unwrap_or_else(|e| panic!("{e}"));
        model
    }

    /// One run of the model built from `cfg`, in `world`, with `seed`.
    pub fn run(&self, cfg: C, world: &RunConfig, seed: u64) -> RunReport {
        self.run_model(&self.model(cfg), world, seed)
    }

    /// The model built from `cfg`, run in `world` once per seed.
    pub fn runs(
        &self,
        cfg: C,
        world: &RunConfig,
        seeds: impl IntoIterator<Item = u64>,
    ) -> Vec<RunReport> {
        let model = self.model(cfg);
        seeds
            .into_iter()
            .map(|seed| self.run_model(&model, world, seed))
            .collect()
    }

    /// The scenario over `seeds`, with its `[model]` settings changed by `change` (the
    /// same world, faults and checks: only the model differs).
    pub fn sweep(
        &self,
        s: &Scenario,
        seeds: impl IntoIterator<Item = u64>,
        change: impl FnOnce(&mut C),
    ) -> Vec<RunReport> {
        let mut cfg = self.config(s);
        change(&mut cfg);
        self.runs(cfg, &s.run, seeds)
    }

    fn run_model(&self, model: &M, world: &RunConfig, seed: u64) -> RunReport {
        run(model, world, seed, self.options())
            .unwrap_or_else(|e| panic!("seed {seed}: the run could not start: {e}"))
    }
}

/// Whether the check named `check` reported a violation in this run.
pub fn has_fired(report: &RunReport, check: &str) -> bool {
    report.violations.iter().any(|v| v.invariant == check)
}

/// In how many of the runs the check named `check` reported a violation.
pub fn fired(reports: &[RunReport], check: &str) -> usize {
    reports.iter().filter(|r| has_fired(r, check)).count()
}

/// Whether every run ended with verdict `valid`.
pub fn all_valid(reports: &[RunReport]) -> bool {
    reports.iter().all(|r| r.verdict == Verdict::Valid)
}

/// Each run's (seed, verdict).
pub fn verdicts(reports: &[RunReport]) -> Vec<(u64, Verdict)> {
    reports.iter().map(|r| (r.seed, r.verdict)).collect()
}

/// Every violation of the runs, one a line: `seed S: check: detail`.
pub fn explain(reports: &[RunReport]) -> String {
    reports
        .iter()
        .flat_map(|r| {
            r.violations
                .iter()
                .map(move |v| format!("seed {}: {}: {}", r.seed, v.invariant, v.detail))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// One run on one line: seed, verdict, events, panic, limit and its violations.
pub fn describe(r: &RunReport) -> String {
    let v: Vec<String> = r
        .violations
        .iter()
        .map(|v| format!("{}: {}", v.invariant, v.detail))
        .collect();
    format!(
        "seed {} {:?} events {} panic {:?} limit {:?} {}",
        r.seed,
        r.verdict,
        r.events,
        r.panic,
        r.limit,
        v.join(" | ")
    )
}

#[cfg(test)]
mod tests {
    use dsim_core::{CheckClass, Violation};

    use super::*;

    fn report(seed: u64, verdict: Verdict, checks: &[&str]) -> RunReport {
        let violations = checks
            .iter()
            .map(|c| Violation {
                invariant: c.to_string(),
                class: CheckClass::Safety,
                at_ns: 0,
                event: None,
                nodes: Vec::new(),
                detail: format!("{c} broke"),
                ops: Vec::new(),
            })
            .collect();
        RunReport {
            seed,
            verdict,
            violations,
            ..RunReport::default()
        }
    }

    fn three() -> Vec<RunReport> {
        vec![
            report(1, Verdict::Valid, &[]),
            report(2, Verdict::Violation, &["lost-write", "duplicate"]),
            report(3, Verdict::Violation, &["lost-write"]),
        ]
    }

    #[test]
    fn fired_counts_runs_not_violations() {
        let reports = three();
        assert_eq!(fired(&reports, "lost-write"), 2);
        assert_eq!(fired(&reports, "duplicate"), 1);
        assert_eq!(fired(&reports, "logs-agree"), 0);
        assert!(has_fired(&reports[1], "duplicate"));
        assert!(!has_fired(&reports[0], "lost-write"));
    }

    #[test]
    fn all_valid_needs_every_run_valid() {
        let reports = three();
        assert!(!all_valid(&reports));
        assert!(all_valid(&reports[..1]));
        assert!(all_valid(&[]));
        assert_eq!(
            verdicts(&reports),
            vec![
                (1, Verdict::Valid),
                (2, Verdict::Violation),
                (3, Verdict::Violation)
            ]
        );
    }

    #[test]
    fn explain_lists_each_violation_with_its_seed() {
        assert_eq!(
            explain(&three()),
            "seed 2: lost-write: lost-write broke\n\
             seed 2: duplicate: duplicate broke\n\
             seed 3: lost-write: lost-write broke"
        );
        assert_eq!(explain(&three()[..1]), "");
    }

    #[test]
    fn describe_puts_one_run_on_one_line() {
        let r = report(2, Verdict::Violation, &["lost-write", "duplicate"]);
        assert_eq!(
            describe(&r),
            "seed 2 Violation events 0 panic None limit None \
             lost-write: lost-write broke | duplicate: duplicate broke"
        );
    }

    #[test]
    fn the_catalogue_is_the_workspace_scenarios_directory() {
        let dir = catalogue_dir();
        assert!(dir.join("quorum/nwr-strict.toml").is_file(), "{dir:?}");
    }

    #[test]
    fn a_testbed_lists_and_loads_its_systems_scenarios() {
        // Listing and loading need no model: a unit "model" stands in.
        let quorum: Testbed<(), ()> = Testbed::new("quorum", |()| Ok(()));
        let files = quorum.scenario_files();
        assert!(files.contains(&"nwr-strict.toml".to_string()), "{files:?}");
        assert!(files.iter().all(|f| f.ends_with(".toml")), "{files:?}");
        assert!(files.windows(2).all(|w| w[0] < w[1]), "{files:?}");
        assert_eq!(quorum.scenario("nwr-strict.toml").model, "quorum");
    }
}
