//! The registry of models: the one place that maps a scenario's `model = "..."` to code.
//! Adding a model is one arm here (design brief §2); the engine never names a system.

use std::panic::{catch_unwind, AssertUnwindSafe};

use dsim_core::world::PanicInfo;
use dsim_core::{Model, RunOptions, RunReport, Verdict};
use dsim_scenario::{ModelInfo, Scenario};

/// Every model a scenario can name, with a line about it.
pub const MODELS: &[(&str, &str)] = &[
    (
        "quorum",
        "a quorum-replicated register: N replicas, W/R quorums, multi-writer ABD",
    ),
    (
        "zookeeper",
        "a ZooKeeper ensemble: ZAB (FLE, discovery, sync, broadcast), sessions, watches, recipes",
    ),
    (
        "raft",
        "Raft consensus with an etcd-like replicated KV store (put, get, compare-and-set)",
    ),
    (
        "pingpong",
        "a trivial model that bounces messages: the engine's own cost",
    ),
    (
        "heartbeat",
        "one master and many workers heartbeating: scale",
    ),
    (
        "twopc",
        "two-phase commit (and 3PC as a variant): coordinator, participants, durable logs",
    ),
    (
        "kafka",
        "Kafka: brokers with ISR replication, a KRaft or ZooKeeper controller, producers, a consumer group",
    ),
];

/// A scenario bound to its model, ready to run any seed. Shared across sweep threads.
pub trait Runner: Sync {
    fn run(&self, seed: u64, opts: RunOptions<'_>) -> RunReport;
    fn info(&self) -> ModelInfo<'static>;
}

struct Bound<M: Model> {
    model: M,
    scenario_run: dsim_core::RunConfig,
}

impl<M: Model> Runner for Bound<M> {
    fn run(&self, seed: u64, opts: RunOptions<'_>) -> RunReport {
        // Handlers are guarded inside the engine; this catches panics in end-of-run
        // checkers, so a sweep goes on past them too.
        crate::panics::take_location(); // forget any earlier run's
        match catch_unwind(AssertUnwindSafe(|| {
            dsim_core::run(&self.model, &self.scenario_run, seed, opts)
        })) {
            Ok(Ok(mut report)) => {
                // The engine caught a model's panic; the hook saw where it happened.
                if let (Some(p), Some(at)) = (report.panic.as_mut(), crate::panics::take_location())
                {
                    p.message =
                        crate::panics::with_location(std::mem::take(&mut p.message), Some(&at));
                    p.location = Some(at);
                }
                report
            }
            Ok(Err(e)) => limit_report(seed, format!("the run could not start: {e}")),
            Err(payload) => {
                let (text, at) = crate::panics::text_and_location(&payload);
                panic_report(seed, text, at)
            }
        }
    }

    fn info(&self) -> ModelInfo<'static> {
        ModelInfo::of(&self.model)
    }
}

/// A run that ended before the engine could report: it never started (a limit), or an
/// end-of-run check panicked.
fn limit_report(seed: u64, why: String) -> RunReport {
    RunReport {
        seed,
        verdict: Verdict::Limit,
        limit: Some(why),
        ..RunReport::default()
    }
}

fn panic_report(seed: u64, text: String, location: Option<String>) -> RunReport {
    let panic = PanicInfo {
        node: "(end-of-run checks)".into(),
        event: 0,
        at_ns: 0,
        message: crate::panics::with_location(text, location.as_deref()),
        location,
    };
    RunReport {
        seed,
        verdict: Verdict::Panic,
        panic: Some(panic),
        ..RunReport::default()
    }
}

fn bind<M: Model + 'static>(scenario: &Scenario, model: M) -> anyhow::Result<Box<dyn Runner>> {
    let nodes = model.nodes().len();
    let max_nodes = scenario.run.limits.max_nodes as usize;
    if nodes > max_nodes {
        return Err(scenario
            .error_at(
                &["model", "name"],
                format!("this model has {nodes} nodes, over `[limits] max_nodes` = {max_nodes}"),
                Some("use fewer nodes, or raise [limits] max_nodes".into()),
            )
            .into());
    }
    let racks = scenario.run.topology.racks.max(1);
    if let Some(s) = model
        .nodes()
        .into_iter()
        .find(|s| s.rack.is_some_and(|r| r >= racks))
    {
        let rack = s.rack.unwrap_or(0);
        // Point at `[topology] racks` if the file sets it, else at the model's racks.
        let at: &[&str] = if scenario.has_key(&["topology", "racks"]) {
            &["topology", "racks"]
        } else {
            &["model", "racks"]
        };
        return Err(scenario
            .error_at(
                at,
                format!(
                    "the model puts {} in rack {rack}, but `[topology] racks` = {racks} (racks 0..{})",
                    s.name,
                    racks - 1
                ),
                Some(format!(
                    "set `[topology] racks = {}` or more, so that the network and the rack(N) selector see the model's racks",
                    rack + 1
                )),
            )
            .into());
    }
    let bound = Bound {
        model,
        scenario_run: scenario.run.clone(),
    };
    scenario.validate_with(&bound.info())?;
    Ok(Box::new(bound))
}

/// Builds the runner for a loaded scenario, validating its `[model]` and check names.
/// Every refusal is a [`ScenarioError`] (inside the `anyhow::Error`), pointing into the file.
pub fn build(scenario: &Scenario) -> anyhow::Result<Box<dyn Runner>> {
    match scenario.model.as_str() {
        "quorum" => {
            let cfg = scenario.model_config::<dsim_quorum::QuorumConfig>()?;
            let model = dsim_quorum::Quorum::new(cfg).map_err(|e| scenario.config_error(e))?;
            bind(scenario, model)
        }
        "zookeeper" => {
            let cfg = scenario.model_config::<dsim_zookeeper::ZkConfig>()?;
            let model =
                dsim_zookeeper::ZooKeeper::new(cfg).map_err(|e| scenario.config_error(e))?;
            bind(scenario, model)
        }
        "raft" => {
            let cfg = scenario.model_config::<dsim_raft::RaftModelConfig>()?;
            let model = dsim_raft::RaftModel::new(cfg).map_err(|e| scenario.config_error(e))?;
            bind(scenario, model)
        }
        "pingpong" => {
            let cfg = scenario.model_config::<dsim_bench_models::pingpong::PingPongConfig>()?;
            let model = dsim_bench_models::pingpong::PingPong::new(cfg)
                .map_err(|e| scenario.config_error(e))?;
            bind(scenario, model)
        }
        "heartbeat" => {
            let cfg = scenario.model_config::<dsim_bench_models::heartbeat::HeartbeatConfig>()?;
            let model = dsim_bench_models::heartbeat::Heartbeat::new(cfg)
                .map_err(|e| scenario.config_error(e))?;
            bind(scenario, model)
        }
        "twopc" => {
            let cfg = scenario.model_config::<dsim_twopc::TwoPcConfig>()?;
            let model = dsim_twopc::TwoPc::new(cfg).map_err(|e| scenario.config_error(e))?;
            bind(scenario, model)
        }
        "kafka" => {
            let cfg = scenario.model_config::<dsim_kafka::KafkaConfig>()?;
            let model = dsim_kafka::Kafka::new(cfg).map_err(|e| scenario.config_error(e))?;
            bind(scenario, model)
        }
        other => {
            let names: Vec<&str> = MODELS.iter().map(|(n, _)| *n).collect();
            let hint = dsim_scenario::did_you_mean(other, &names[..])
                .map(|s| format!("did you mean `{s}`?"))
                .unwrap_or_else(|| format!("models: {}", names.join(", ")));
            Err(scenario
                .error_at(
                    &["model", "name"],
                    format!("unknown model `{other}`"),
                    Some(hint),
                )
                .into())
        }
    }
}
