//! `dsim export`: a run in the formats other tools open.
//!
//! * `chrome`: the Chrome trace event format (JSON), which Perfetto (ui.perfetto.dev) and
//!   chrome://tracing open: one track per node, spans for its roles (leader, follower,
//!   down, ...), instant events for faults and notes, and flow arrows for messages from
//!   send to delivery (a dropped message is an instant "dropped" event at its sender).
//! * `shiviz`: the log format of ShiViz (Beschastnikh et al., "Debugging distributed
//!   systems", CACM 2016), the space-time visualiser many distributed-systems courses use:
//!   every send and receive with its node's vector clock, in ShiViz's upload layout (the
//!   parser regex, an empty executions delimiter, then each event's words followed by a
//!   `host {clock}` line).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};
use dsim_core::{RunOptions, RunReport};
use serde_json::{json, Value};

use crate::Failure;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    /// Chrome trace event JSON (Perfetto, chrome://tracing).
    Chrome,
    /// ShiViz log with vector clocks.
    Shiviz,
}

#[derive(Args)]
pub struct ExportArgs {
    pub scenario: PathBuf,
    #[arg(long)]
    pub seed: Option<u64>,
    #[arg(long, value_enum)]
    pub format: Format,
    /// Where to write (default: stdout).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// At most this many messages (the first half of them exact, then an even sample), so
    /// ShiViz and Perfetto stay usable on long runs.
    #[arg(long, default_value_t = 20_000)]
    pub max_messages: usize,
}

/// Microseconds, as the trace event format counts (fractions allowed).
fn us(ns: u64) -> f64 {
    // Exact for any run shorter than about 104 days (2^53 ns).
    ns as f64 / 1000.0
}

/// The run as Chrome trace events.
pub fn chrome_trace(r: &RunReport) -> Value {
    let mut events: Vec<Value> = Vec::new();
    let name = |i: u32| {
        r.node_names
            .get(i as usize)
            .cloned()
            .unwrap_or_else(|| format!("node-{i}"))
    };
    events.push(
        json!({"name": "process_name", "ph": "M", "pid": 1, "tid": 0,
                       "args": {"name": "dsim run"}}),
    );
    for (i, n) in r.node_names.iter().enumerate() {
        events.push(json!({"name": "thread_name", "ph": "M", "pid": 1, "tid": i,
                           "args": {"name": n}}));
        events.push(
            json!({"name": "thread_sort_index", "ph": "M", "pid": 1, "tid": i,
                           "args": {"sort_index": i}}),
        );
    }
    // Role spans: each state record lasts until the node's next one (or the run's end).
    let mut by_node: BTreeMap<u32, Vec<&dsim_core::world::StateRecord>> = BTreeMap::new();
    for s in &r.states {
        by_node.entry(s.node).or_default().push(s);
    }
    for (node, states) in &by_node {
        for (k, s) in states.iter().enumerate() {
            let end = states.get(k + 1).map_or(r.sim_time_ns, |n| n.at_ns);
            if end <= s.at_ns {
                continue;
            }
            let args: BTreeMap<&str, i64> = s.fields.iter().copied().collect();
            events.push(json!({
                "name": s.state, "cat": s.status, "ph": "X", "pid": 1, "tid": node,
                "ts": us(s.at_ns), "dur": us(end - s.at_ns), "args": args,
            }));
        }
    }
    for f in &r.faults {
        let tids: Vec<u32> = f
            .nodes
            .iter()
            .filter_map(|n| r.node_names.iter().position(|x| x == n))
            .map(|i| i as u32)
            .collect();
        let scope = if tids.is_empty() { "g" } else { "t" };
        for tid in tids.iter().copied().chain(tids.is_empty().then_some(0)) {
            events.push(json!({
                "name": format!("fault: {}", f.kind), "cat": "fault", "ph": "i", "s": scope,
                "pid": 1, "tid": tid, "ts": us(f.at_ns), "args": {"detail": f.detail},
            }));
        }
    }
    for n in &r.notes {
        events.push(json!({
            "name": n.kind, "cat": "note", "ph": "i", "s": "t", "pid": 1, "tid": n.node,
            "ts": us(n.at_ns), "args": {"detail": n.detail},
        }));
    }
    for (k, m) in r.messages.iter().enumerate() {
        let label = m.summary.split_whitespace().next().unwrap_or("message");
        match m.delivered_ns {
            Some(at) => {
                events.push(json!({
                    "name": label, "cat": "message", "ph": "s", "id": k, "pid": 1,
                    "tid": m.from, "ts": us(m.sent_ns),
                    "args": {"to": name(m.to), "message": m.summary},
                }));
                events.push(json!({
                    "name": label, "cat": "message", "ph": "f", "bp": "e", "id": k,
                    "pid": 1, "tid": m.to, "ts": us(at),
                }));
                events.push(json!({
                    "name": format!("recv {label}"), "cat": "message", "ph": "i", "s": "t",
                    "pid": 1, "tid": m.to, "ts": us(at),
                    "args": {"from": name(m.from), "message": m.summary},
                }));
            }
            None => events.push(json!({
                "name": format!("dropped {label}"), "cat": "message", "ph": "i", "s": "t",
                "pid": 1, "tid": m.from, "ts": us(m.sent_ns),
                "args": {"to": name(m.to), "message": m.summary},
            })),
        }
    }
    json!({
        "displayTimeUnit": "ms",
        "otherData": {"seed": r.seed, "digest": r.digest, "verdict": r.verdict.name()},
        "traceEvents": events,
    })
}

/// The run's messages as a ShiViz log: each send and receive with its vector clock.
pub fn shiviz_log(r: &RunReport) -> String {
    #[derive(PartialEq, Eq, PartialOrd, Ord)]
    enum Kind {
        Recv,
        Send,
    }
    // In event order: a node's handler receives a message, then sends what it sends, in
    // the same event (so within one event the receive comes first). A message is always
    // delivered in a later event than the one that sent it.
    let mut steps: Vec<(u64, Kind, usize)> = Vec::new();
    for (k, m) in r.messages.iter().enumerate() {
        steps.push((m.sent_event, Kind::Send, k));
        if let Some(e) = m.delivered_event {
            steps.push((e, Kind::Recv, k));
        }
    }
    steps.sort();
    let n = r.node_names.len();
    let mut clocks: Vec<Vec<u64>> = vec![vec![0; n]; n];
    let mut carried: Vec<Vec<u64>> = vec![Vec::new(); r.messages.len()];
    // ShiViz's upload format: the parser regex, the (empty) multiple-executions delimiter,
    // then each event's description followed by `host {vector clock}`.
    let mut out = String::from("(?<event>.*)\\n(?<host>\\S*) (?<clock>{.*})\n\n");
    let clock_json = |c: &[u64]| -> String {
        let parts: Vec<String> = c
            .iter()
            .enumerate()
            .filter(|(_, v)| **v > 0)
            .map(|(i, v)| format!("\"{}\":{v}", r.node_names[i]))
            .collect();
        format!("{{{}}}", parts.join(", "))
    };
    for (_, kind, k) in steps {
        let m = &r.messages[k];
        let (node, text) = match kind {
            Kind::Send => {
                let c = &mut clocks[m.from as usize];
                c[m.from as usize] += 1;
                carried[k] = c.clone();
                let fate = if m.delivered_ns.is_some() {
                    ""
                } else {
                    " (dropped)"
                };
                (
                    m.from,
                    format!(
                        "send #{k} {} to {}{fate} at {} (event {})",
                        m.summary,
                        r.node_names[m.to as usize],
                        dsim_core::units::format_ns(m.sent_ns),
                        m.sent_event
                    ),
                )
            }
            Kind::Recv => {
                let c = &mut clocks[m.to as usize];
                for (mine, theirs) in c.iter_mut().zip(&carried[k]) {
                    *mine = (*mine).max(*theirs);
                }
                c[m.to as usize] += 1;
                (
                    m.to,
                    format!(
                        "recv #{k} {} from {} at {} (event {})",
                        m.summary,
                        r.node_names[m.from as usize],
                        dsim_core::units::format_ns(m.delivered_ns.unwrap_or(m.sent_ns)),
                        m.delivered_event.unwrap_or(m.sent_event)
                    ),
                )
            }
        };
        out.push_str(&format!(
            "{}\n{} {}\n",
            text.replace('\n', " "),
            r.node_names[node as usize],
            clock_json(&clocks[node as usize]),
        ));
    }
    out
}

pub fn export(a: ExportArgs) -> Result<i32, Failure> {
    let (scenario, runner) = crate::files::load(&a.scenario)?;
    let seed = a
        .seed
        .unwrap_or_else(|| crate::cmd_run::default_seed(&scenario));
    let report = runner.run(
        seed,
        RunOptions {
            record: true,
            max_messages: Some(a.max_messages),
            // Notes, samples and states are capped as for a report: a long run's role
            // changes are sampled, not kept without bound.
            max_records: Some(crate::cmd_run::RECORD_CAP),
            ..RunOptions::default()
        },
    );
    let text = match a.format {
        Format::Chrome => serde_json::to_string(&chrome_trace(&report))?,
        Format::Shiviz => shiviz_log(&report),
    };
    match &a.out {
        Some(p) => std::fs::write(p, text).with_context(|| format!("writing {}", p.display()))?,
        None => std::io::stdout()
            .write_all(text.as_bytes())
            .context("writing to stdout")?,
    }
    eprintln!(
        "dsim export {} --seed {seed} --format {:?}: {} messages{}",
        scenario.path,
        a.format,
        report.messages.len(),
        if report.messages_unrecorded > 0 {
            format!(
                " ({} kept of {}: raise --max-messages for all)",
                report.messages.len(),
                report.messages.len() as u64 + report.messages_unrecorded
            )
        } else {
            String::new()
        }
    );
    Ok(0)
}
