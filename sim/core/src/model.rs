//! How a model plugs into the engine: one trait, implemented once per system (quorum,
//! raft, zookeeper, kafka, ...). The engine never names a system; the CLI's registry maps
//! a scenario's `model = "..."` to the implementation (design brief §2).

use crate::check::{Catalogue, CheckResult, Invariant};
use crate::history::History;
use crate::id::{NodeId, NodeSpec};
use crate::node::Node;
use crate::world::View;

pub trait Model: Send + Sync {
    type Node: Node;

    /// Every node of the cluster, clients included, in id order.
    fn nodes(&self) -> Vec<NodeSpec>;

    /// A node as it is at boot or restart: no volatile state. `on_start` follows and reads
    /// whatever the disk kept.
    fn boot(&self, id: NodeId) -> Self::Node;

    /// The role that faults hit when a selector names none ("random" = "random(ROLE)").
    fn fault_role(&self) -> &'static str;

    /// The model's own selector names (`leader`, ...), for validation and did-you-mean.
    fn selectors(&self) -> &'static [&'static str] {
        &[]
    }

    /// Resolves one of the model's own selectors, or None when it names nothing now.
    fn select(
        &self,
        _view: &View<'_, Self::Node>,
        _name: &str,
        _arg: Option<&str>,
    ) -> Option<Vec<NodeId>> {
        None
    }

    /// Every check the model offers.
    fn catalogue(&self) -> Catalogue;

    /// A fresh instance of the `always` invariant `name`.
    fn always(&self, name: &str) -> Option<Box<dyn Invariant<Self::Node>>>;

    /// Evaluates the `eventually` expectation `name` at the end of the heal phase; returns
    /// the problem in words, with the nodes involved, or None when it holds.
    fn eventually(
        &self,
        name: &str,
        view: &View<'_, Self::Node>,
        history: &History<<Self::Node as Node>::Call, <Self::Node as Node>::Ret>,
    ) -> Option<(String, Vec<NodeId>)>;

    /// Runs the history checkers `names`, in order, within `budget` steps each: one result
    /// per name. A model whose checks share one analysis of the history (one check per
    /// anomaly it finds) overrides this to analyse once per run.
    fn check_histories(
        &self,
        names: &[String],
        view: &View<'_, Self::Node>,
        history: &History<<Self::Node as Node>::Call, <Self::Node as Node>::Ret>,
        budget: u64,
    ) -> Vec<CheckResult> {
        names
            .iter()
            .map(|name| self.check_history(name, view, history, budget))
            .collect()
    }

    /// Runs the history checker `name` within `budget` steps.
    fn check_history(
        &self,
        name: &str,
        view: &View<'_, Self::Node>,
        history: &History<<Self::Node as Node>::Call, <Self::Node as Node>::Ret>,
        budget: u64,
    ) -> CheckResult;
}

/// A model's refusal of its `[model]` settings (e.g. W > N), pointing at the key; the
/// scenario loader turns it into an error at that key's line and column.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ConfigError {
    /// The key under `[model]` to point at ("w").
    pub key: &'static str,
    pub message: String,
    pub hint: Option<String>,
}

impl ConfigError {
    /// Refuses a zero duration for `key` (a timeout or interval that must pass time).
    pub fn require_positive(
        key: &'static str,
        d: crate::units::Duration,
    ) -> Result<(), ConfigError> {
        if d.0 == 0 {
            return Err(ConfigError::new(
                key,
                format!("{key} must be above zero"),
                None,
            ));
        }
        Ok(())
    }

    pub fn new(
        key: &'static str,
        message: impl Into<String>,
        hint: impl Into<Option<String>>,
    ) -> Self {
        ConfigError {
            key,
            message: message.into(),
            hint: hint.into(),
        }
    }
}
