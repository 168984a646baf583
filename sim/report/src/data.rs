//! `run.json`: everything a report is drawn from, written next to the page so that
//! `dsim report <dir>` can redraw it without simulating again. It is the engine's
//! `RunReport` (recorded parts included) with owned strings and node names resolved,
//! plus what the scenario said about itself. `format` names the layout's version.

use std::collections::BTreeMap;

use dsim_core::RunReport;
use serde::{Deserialize, Serialize};

/// The layout version of `run.json`; `dsim report` refuses others.
pub const FORMAT: &str = "dsim-run/1";

/// Where a run came from, as the scenario and the CLI know it.
pub struct Provenance<'a> {
    pub scenario_path: &'a str,
    pub name: &'a str,
    pub description: &'a str,
    pub model: &'a str,
    pub wall_ms: u64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RunData {
    pub format: String,
    pub dsim_version: String,
    pub scenario_path: String,
    pub name: String,
    pub description: String,
    pub model: String,
    pub seed: u64,
    pub verdict: String,
    pub digest: String,
    pub events: u64,
    pub sim_time_ns: u64,
    pub wall_ms: u64,
    pub node_names: Vec<String>,
    pub violations: Vec<ViolationData>,
    pub unknown: Vec<String>,
    pub panic: Option<PanicData>,
    pub limit: Option<String>,
    pub metrics: BTreeMap<String, i64>,
    pub faults: Vec<FaultData>,
    pub notes: Vec<NoteData>,
    pub samples: Vec<SampleData>,
    pub messages: Vec<MessageData>,
    /// Messages sent but not kept (the engine keeps a bounded number; see docs/reports.md).
    pub messages_unrecorded: u64,
    /// When the exact part of `messages` missed the violation: every message sent in this
    /// window, recorded by a second pass of the same run (same seed), in `window_messages`.
    pub message_window: Option<(u64, u64)>,
    #[serde(default)]
    pub window_messages: Vec<MessageData>,
    /// When the recording sampled: (how many of `messages` are an exact prefix, the
    /// stride of the sample after them: each kept message stands for that many).
    #[serde(default)]
    pub message_sampling: Option<(usize, u64)>,
    pub states: Vec<StateData>,
    pub history: Vec<OpData>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ViolationData {
    pub invariant: String,
    /// "safety", "liveness" or "sometimes".
    pub class: String,
    pub at_ns: u64,
    pub event: Option<u64>,
    pub nodes: Vec<String>,
    pub detail: String,
    /// The history operations the check names (what the report zooms into).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ops: Vec<u64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PanicData {
    pub node: String,
    pub event: u64,
    pub at_ns: u64,
    pub message: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FaultData {
    pub at_ns: u64,
    pub kind: String,
    pub nodes: Vec<String>,
    pub detail: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NoteData {
    pub at_ns: u64,
    pub node: u32,
    pub kind: String,
    pub detail: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SampleData {
    pub at_ns: u64,
    pub node: u32,
    pub name: String,
    pub value: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MessageData {
    pub sent_ns: u64,
    pub from: u32,
    pub to: u32,
    /// None: never arrived (lost, partitioned, sent to a down node, or still in flight).
    pub delivered_ns: Option<u64>,
    pub summary: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StateData {
    pub at_ns: u64,
    pub node: u32,
    pub status: String,
    pub state: String,
    pub fields: Vec<(String, i64)>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OpData {
    pub id: u64,
    pub client: u32,
    pub invoke_ns: u64,
    pub complete_ns: Option<u64>,
    pub outcome: String,
    pub call: String,
    pub ret: Option<String>,
    pub applied: bool,
}

impl OpData {
    /// The operation's kind: the leading word of its call ("Read", "Write", "Cas").
    pub fn kind(&self) -> &str {
        let end = self
            .call
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(self.call.len());
        if end == 0 {
            "op"
        } else {
            &self.call[..end]
        }
    }
}

impl RunData {
    /// The data of a recorded run (`RunOptions::record`).
    pub fn new(p: &Provenance<'_>, r: &RunReport) -> Self {
        let names = &r.node_names;
        let class = |c: dsim_core::CheckClass| {
            serde_json::to_value(c)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        };
        RunData {
            format: FORMAT.into(),
            dsim_version: dsim_core::VERSION.into(),
            scenario_path: p.scenario_path.into(),
            name: p.name.into(),
            description: p.description.into(),
            model: p.model.into(),
            seed: r.seed,
            verdict: r.verdict.name().into(),
            digest: r.digest.clone(),
            events: r.events,
            sim_time_ns: r.sim_time_ns,
            wall_ms: p.wall_ms,
            node_names: names.clone(),
            violations: r
                .violations
                .iter()
                .map(|v| ViolationData {
                    invariant: v.invariant.clone(),
                    class: class(v.class),
                    at_ns: v.at_ns,
                    event: v.event,
                    nodes: v
                        .nodes
                        .iter()
                        .filter_map(|n| names.get(n.index()).cloned())
                        .collect(),
                    detail: v.detail.clone(),
                    ops: v.ops.clone(),
                })
                .collect(),
            unknown: r.unknown.clone(),
            panic: r.panic.as_ref().map(|p| PanicData {
                node: p.node.clone(),
                event: p.event,
                at_ns: p.at_ns,
                message: p.message.clone(),
            }),
            limit: r.limit.clone(),
            metrics: r.metrics.clone(),
            faults: r
                .faults
                .iter()
                .map(|f| FaultData {
                    at_ns: f.at_ns,
                    kind: f.kind.clone(),
                    nodes: f.nodes.clone(),
                    detail: f.detail.clone(),
                })
                .collect(),
            notes: r
                .notes
                .iter()
                .map(|n| NoteData {
                    at_ns: n.at_ns,
                    node: n.node,
                    kind: n.kind.into(),
                    detail: n.detail.clone(),
                })
                .collect(),
            samples: r
                .samples
                .iter()
                .map(|s| SampleData {
                    at_ns: s.at_ns,
                    node: s.node,
                    name: s.name.into(),
                    value: s.value,
                })
                .collect(),
            messages: r
                .messages
                .iter()
                .map(|m| MessageData {
                    sent_ns: m.sent_ns,
                    from: m.from,
                    to: m.to,
                    delivered_ns: m.delivered_ns,
                    summary: m.summary.clone(),
                })
                .collect(),
            messages_unrecorded: r.messages_unrecorded,
            message_window: None,
            window_messages: Vec::new(),
            message_sampling: r.message_sampling,
            states: r
                .states
                .iter()
                .map(|s| StateData {
                    at_ns: s.at_ns,
                    node: s.node,
                    status: s.status.into(),
                    state: s.state.into(),
                    fields: s.fields.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
                })
                .collect(),
            history: r
                .history
                .iter()
                .map(|o| OpData {
                    id: o.id,
                    client: o.client,
                    invoke_ns: o.invoke_ns,
                    complete_ns: o.complete_ns,
                    outcome: o.outcome.into(),
                    call: o.call.clone(),
                    ret: o.ret.clone(),
                    applied: o.applied,
                })
                .collect(),
        }
    }

    /// The messages recorded exactly (every send in their span): all of them, or the
    /// prefix before the sample.
    pub fn exact_messages(&self) -> &[MessageData] {
        if self.message_window.is_some() {
            return &self.window_messages;
        }
        match self.message_sampling {
            Some((prefix, _)) => &self.messages[..prefix.min(self.messages.len())],
            None => &self.messages,
        }
    }

    /// A node's name, or `n<i>` when the index is out of range.
    pub fn node_name(&self, i: u32) -> String {
        self.node_names
            .get(i as usize)
            .cloned()
            .unwrap_or_else(|| format!("n{i}"))
    }

    /// The index of a node by name.
    pub fn node_index(&self, name: &str) -> Option<usize> {
        self.node_names.iter().position(|n| n == name)
    }
}
