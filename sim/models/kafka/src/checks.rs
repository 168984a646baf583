//! What is checked in a kafka run, and why.
//!
//! Client history, analysed as Jepsen's Kafka workload does (`jepsen.tests.kafka`,
//! dsim_checkers::queue_log), one history check per anomaly so a scenario can expect
//! the one its story is about: `lost-write`, `duplicate`, `inconsistent-offsets`,
//! `nonmonotonic-poll`, `poll-skip`. At the end of the run the checker also reads every
//! partition's committed log from its leader, as Jepsen's final reads do, so an
//! acknowledged record missing from the log is found even without consumers.
//!
//! The consumer group's delivery guarantees (domain note 004; the Kafka documentation's
//! "Message Delivery Semantics"), from the consumers' `Poll` and `Process` operations:
//! * `at-least-once`: every record of the final committed log (below the high watermark,
//!   user partitions only) was processed by some consumer. Auto-commit that commits
//!   positions before the records are processed breaks it when a consumer dies mid-batch.
//! * `no-duplicate-processing`: no value was processed twice. Committing after processing
//!   (at-least-once) breaks it when a consumer dies between processing and commit.
//!
//! The internal `__consumer_offsets` partition (index `partitions`, when there are
//! consumers) is a partition like the others for the broker checks (`partitions-online`,
//! `fully-replicated`, `logs-agree`), and is left out of the final reads and the client
//! history checks, which are about the user's records.
//!
//! Broker invariants (hachikuji's kafka-specification, TLA+, and the Kafka
//! documentation's replication design):
//! * `one-leader-per-epoch` (always): no two brokers lead one partition in one leader
//!   epoch (the spec's `LeaderEpochUnique`).
//! * `leader-hw-monotonic` (always): a leader's high watermark never moves back while it
//!   leads (`HighWatermarkMonotonic`).
//! * `leader-in-isr` (always): the controller's leader of every partition is in its ISR.
//! * `strong-isr` (always): every ISR member that is up holds the leader's log up to the
//!   high watermark — its log end is at least the HW and its leader-epoch history agrees
//!   below it (`StrongIsr`). KIP-101 (truncate-to-HW) and KIP-966 (power loss of the last
//!   replica standing) break it.
//! * `logs-agree` (eventually): at the end, every live replica agrees with the leader on
//!   every record below the leader's high watermark (`ReplicaLogConsistency`).
//! * `partitions-online` (eventually): at the end every partition has a leader.
//! * `fully-replicated` (eventually): at the end every ISR is the whole assignment.
//!
//! Selectors: `leader(P)` (the broker leading partition P, default 0), `follower(P)` (a
//! live ISR follower of P), `out-of-sync(P)` (a live replica of P outside the ISR),
//! `controller` (the active controller: the KRaft quorum leader, or the ZooKeeper-mode
//! broker holding `/controller`).

use std::collections::{BTreeMap, BTreeSet};

use dsim_checkers::queue_log::{self, LogAnalysis, LogOp};
use dsim_core::{Catalogue, CheckInfo, CheckResult, History, Invariant, NodeId, Outcome, View};

use crate::broker::{Broker, Role};
use crate::{Call, KNode, Kafka, Ret};

pub const SELECTORS: &[&str] = &["leader", "follower", "controller", "out-of-sync"];

pub const CATALOGUE: Catalogue = Catalogue {
    always: &[
        CheckInfo {
            name: "one-leader-per-epoch",
            about: "no two brokers lead one partition in one leader epoch",
        },
        CheckInfo {
            name: "leader-hw-monotonic",
            about: "a leader's high watermark never moves back while it leads",
        },
        CheckInfo {
            name: "leader-in-isr",
            about: "the active controller's leader of every partition is in that partition's ISR",
        },
        CheckInfo {
            name: "strong-isr",
            about: "every live ISR member holds the leader's log up to the high watermark (StrongIsr)",
        },
    ],
    eventually: &[
        CheckInfo {
            name: "logs-agree",
            about: "at the end, every live replica agrees with its leader below the leader's high watermark",
        },
        CheckInfo {
            name: "partitions-online",
            about: "at the end, every partition has a leader",
        },
        CheckInfo {
            name: "fully-replicated",
            about: "at the end, every partition's ISR holds all its replicas",
        },
    ],
    sometimes: &[
        CheckInfo {
            name: "controller-elected",
            about: "a KRaft controller became active",
        },
        CheckInfo {
            name: "unclean-leader-election",
            about: "a leader was elected from outside the ISR",
        },
        CheckInfo {
            name: "partition-offline",
            about: "a partition was left with no eligible leader",
        },
        CheckInfo {
            name: "segment-deleted-by-time",
            about: "retention.ms deleted a log segment",
        },
        CheckInfo {
            name: "segment-deleted-by-size",
            about: "retention.bytes deleted a log segment",
        },
    ],
    history: &[
        CheckInfo {
            name: "lost-write",
            about: "an acknowledged record is missing from the log that polls (and the final read) see",
        },
        CheckInfo {
            name: "duplicate",
            about: "one sent value is at two offsets (a retry appended twice)",
        },
        CheckInfo {
            name: "inconsistent-offsets",
            about: "two different values were seen at one offset",
        },
        CheckInfo {
            name: "nonmonotonic-poll",
            about: "a consumer's poll went back to an offset it had already read",
        },
        CheckInfo {
            name: "poll-skip",
            about: "a consumer's successive polls skipped offsets that hold records",
        },
        CheckInfo {
            name: "at-least-once",
            about: "every record of the final committed log was processed by some consumer",
        },
        CheckInfo {
            name: "no-duplicate-processing",
            about: "no record was processed twice (by one consumer or two)",
        },
    ],
};

pub fn always(_model: &Kafka, name: &str) -> Option<Box<dyn Invariant<KNode>>> {
    Some(match name {
        "one-leader-per-epoch" => Box::new(OneLeaderPerEpoch::default()),
        "leader-hw-monotonic" => Box::new(LeaderHwMonotonic::default()),
        "leader-in-isr" => Box::new(LeaderInIsr),
        "strong-isr" => Box::new(StrongIsr),
        _ => return None,
    })
}

fn broker_name(b: u32) -> String {
    format!("broker-{b}")
}

#[derive(Default)]
struct OneLeaderPerEpoch {
    seen: BTreeMap<(u32, u32), NodeId>,
}

impl Invariant<KNode> for OneLeaderPerEpoch {
    fn after_event(
        &mut self,
        view: &View<'_, KNode>,
        node: NodeId,
    ) -> Option<(String, Vec<NodeId>)> {
        let b = view.node(node)?.broker()?;
        for (p, r) in &b.replicas {
            let Role::Leader(l) = &r.role else { continue };
            let key = (*p, l.st.leader_epoch);
            match self.seen.get(&key) {
                None => {
                    self.seen.insert(key, node);
                }
                Some(other) if *other != node => {
                    return Some((
                        format!(
                            "topic-{p} has two leaders in leader epoch {}: {} and {}",
                            key.1,
                            view.name(*other),
                            view.name(node)
                        ),
                        vec![*other, node],
                    ));
                }
                Some(_) => {}
            }
        }
        None
    }
}

#[derive(Default)]
struct LeaderHwMonotonic {
    /// (node, partition) -> (leader epoch, incarnation, HW).
    last: BTreeMap<(NodeId, u32), (u32, u64, u64)>,
}

impl Invariant<KNode> for LeaderHwMonotonic {
    fn after_event(
        &mut self,
        view: &View<'_, KNode>,
        node: NodeId,
    ) -> Option<(String, Vec<NodeId>)> {
        let b = view.node(node)?.broker()?;
        for (p, r) in &b.replicas {
            let Role::Leader(l) = &r.role else { continue };
            let now = (l.st.leader_epoch, b.incarnation, l.st.high_watermark);
            if let Some(&(epoch, inc, hw)) = self.last.get(&(node, *p)) {
                if epoch == now.0 && inc == now.1 && now.2 < hw {
                    return Some((
                        format!(
                            "the high watermark of topic-{p} on its leader {} went back from {hw} to {} in leader epoch {epoch}",
                            view.name(node),
                            now.2
                        ),
                        vec![node],
                    ));
                }
            }
            self.last.insert((node, *p), now);
        }
        None
    }
}

struct LeaderInIsr;

impl Invariant<KNode> for LeaderInIsr {
    fn after_event(
        &mut self,
        view: &View<'_, KNode>,
        node: NodeId,
    ) -> Option<(String, Vec<NodeId>)> {
        let KNode::Controller(c) = view.node(node)? else {
            return None;
        };
        if !c.is_active() {
            return None;
        }
        for (p, st) in c.image.partitions.iter().enumerate() {
            if let Some(l) = st.leader {
                if !st.isr.contains(&l) {
                    return Some((
                        format!(
                            "topic-{p}: the controller's leader {} is not in the ISR {:?}",
                            broker_name(l),
                            st.isr
                        ),
                        vec![node],
                    ));
                }
            }
        }
        None
    }
}

/// The leader of `p` among live brokers: the one leading at the highest epoch.
fn leader_of<'a>(view: &View<'a, KNode>, p: u32) -> Option<(NodeId, &'a Broker)> {
    view.ids()
        .filter(|id| view.is_up(*id))
        .filter_map(|id| Some((id, view.node(id)?.broker()?)))
        .filter(|(_, b)| b.replicas.get(&p).is_some_and(|r| r.is_leader()))
        .max_by_key(|(_, b)| b.replicas[&p].leader_epoch())
}

struct StrongIsr;

impl Invariant<KNode> for StrongIsr {
    fn after_event(
        &mut self,
        view: &View<'_, KNode>,
        node: NodeId,
    ) -> Option<(String, Vec<NodeId>)> {
        let b = view.node(node)?.broker()?;
        let s = &b.s;
        // Check the partitions this broker holds, against their leaders.
        for p in b.replicas.keys() {
            let Some((lid, leader)) = leader_of(view, *p) else {
                continue; // offline: nothing to hold up to
            };
            let lr = &leader.replicas[p];
            let Role::Leader(lead) = &lr.role else {
                continue;
            };
            let hw = lead.st.high_watermark;
            for member in &lead.committed_isr {
                let mid = s.broker_node(*member);
                if mid == lid || !view.is_up(mid) {
                    continue;
                }
                let Some(m) = view.node(mid).and_then(|n| n.broker()) else {
                    continue;
                };
                let Some(mr) = m.replicas.get(p) else {
                    continue;
                };
                let leo = mr.log_end_offset();
                let problem = if leo < hw {
                    Some(format!("its log ends at {leo}"))
                } else {
                    epoch_disagreement(&lr.epochs, &mr.epochs, hw)
                };
                if let Some(why) = problem {
                    return Some((
                        format!(
                            "topic-{p}: {} is in the ISR {:?} of leader {} (epoch {}) but does not hold the log up to the high watermark {hw}: {why}",
                            view.name(mid),
                            lead.committed_isr,
                            view.name(lid),
                            lead.st.leader_epoch,
                        ),
                        vec![lid, mid],
                    ));
                }
            }
        }
        None
    }
}

/// Where two epoch histories disagree below `hw`, in words.
fn epoch_disagreement(
    leader: &crate::epoch_cache::LeaderEpochCache,
    other: &crate::epoch_cache::LeaderEpochCache,
    hw: u64,
) -> Option<String> {
    let a: Vec<(u32, u64)> = leader.entries().filter(|(_, o)| *o < hw).collect();
    let b: Vec<(u32, u64)> = other.entries().filter(|(_, o)| *o < hw).collect();
    (a != b).then(|| format!("its leader epochs below the HW are {b:?}, the leader's {a:?}"))
}

// --- selectors ----------------------------------------------------------------------------

pub fn select(
    model: &Kafka,
    view: &View<'_, KNode>,
    name: &str,
    arg: Option<&str>,
) -> Option<Vec<NodeId>> {
    let p: u32 = arg.and_then(|a| a.trim().parse().ok()).unwrap_or(0);
    match name {
        "leader" => leader_of(view, p).map(|(id, _)| vec![id]),
        "follower" => {
            let (lid, leader) = leader_of(view, p)?;
            let Role::Leader(lead) = &leader.replicas[&p].role else {
                return None;
            };
            lead.st
                .isr
                .iter()
                .map(|b| model.s.broker_node(*b))
                .find(|id| *id != lid && view.is_up(*id))
                .map(|id| vec![id])
        }
        "out-of-sync" => {
            // A live replica of P outside the leader's ISR.
            let (_, leader) = leader_of(view, p)?;
            let Role::Leader(lead) = &leader.replicas[&p].role else {
                return None;
            };
            lead.st
                .replicas
                .iter()
                .filter(|b| !lead.st.isr.contains(b))
                .map(|b| model.s.broker_node(*b))
                .find(|id| view.is_up(*id))
                .map(|id| vec![id])
        }
        "controller" => view
            .ids()
            .filter(|id| view.is_up(*id))
            .find(|id| match view.node(*id) {
                Some(KNode::Controller(c)) => c.is_active(),
                Some(KNode::Broker(b)) => b.zk.as_ref().is_some_and(|z| z.is_controller()),
                _ => false,
            })
            .map(|id| vec![id]),
        _ => None,
    }
}

// --- end of run ---------------------------------------------------------------------------

pub fn eventually(
    model: &Kafka,
    name: &str,
    view: &View<'_, KNode>,
    _history: &History<Call, Ret>,
) -> Option<(String, Vec<NodeId>)> {
    // Every partition, `__consumer_offsets` included.
    let partitions = model.s.assignment.len() as u32;
    match name {
        "partitions-online" => {
            let offline: Vec<u32> = (0..partitions)
                .filter(|p| leader_of(view, *p).is_none())
                .collect();
            (!offline.is_empty()).then(|| {
                (
                    format!(
                        "{} partition(s) have no leader at the end: {}",
                        offline.len(),
                        offline
                            .iter()
                            .take(8)
                            .map(|p| format!("topic-{p}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    Vec::new(),
                )
            })
        }
        "fully-replicated" => {
            for p in 0..partitions {
                let Some((lid, leader)) = leader_of(view, p) else {
                    return Some((format!("topic-{p} has no leader at the end"), Vec::new()));
                };
                let Role::Leader(lead) = &leader.replicas[&p].role else {
                    continue;
                };
                if lead.st.isr.len() < lead.st.replicas.len() {
                    return Some((
                        format!(
                            "topic-{p}: ISR {:?} of {:?} at the end (leader {})",
                            lead.st.isr,
                            lead.st.replicas,
                            view.name(lid)
                        ),
                        vec![lid],
                    ));
                }
            }
            None
        }
        "logs-agree" => logs_agree(model, view),
        _ => Some((
            format!("the kafka model has no eventually-check `{name}`"),
            Vec::new(),
        )),
    }
}

/// The values of `b`'s log of `p` at offsets below `end`, by offset.
fn values_below(
    view: &View<'_, KNode>,
    id: NodeId,
    b: &Broker,
    p: u32,
    end: u64,
) -> BTreeMap<u64, u64> {
    let mut out = BTreeMap::new();
    let Some(r) = b.replicas.get(&p) else {
        return out;
    };
    for batch in r.log.read_below(view.disk(id), end) {
        for (o, rec) in batch.offsets() {
            if o < end {
                out.insert(o, value_of(&rec.value));
            }
        }
    }
    out
}

/// The unique value a producer wrote in a record's first 8 bytes.
pub fn value_of(bytes: &[u8]) -> u64 {
    bytes
        .get(0..8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_le_bytes)
        .unwrap_or(u64::MAX)
}

fn logs_agree(model: &Kafka, view: &View<'_, KNode>) -> Option<(String, Vec<NodeId>)> {
    for p in 0..model.s.assignment.len() as u32 {
        let Some((lid, leader)) = leader_of(view, p) else {
            continue;
        };
        let hw = leader.replicas[&p].high_watermark;
        let theirs = values_below(view, lid, leader, p, hw);
        for b in &model.s.assignment[p as usize] {
            let id = model.s.broker_node(*b);
            if id == lid || !view.is_up(id) {
                continue;
            }
            let Some(other) = view.node(id).and_then(|n| n.broker()) else {
                continue;
            };
            let mine = values_below(view, id, other, p, hw);
            for (o, v) in &mine {
                if let Some(w) = theirs.get(o) {
                    if v != w {
                        return Some((
                            format!(
                                "topic-{p} offset {o}: {} has value {v:#x}, its leader {} has {w:#x} (below the HW {hw})",
                                view.name(id),
                                view.name(lid)
                            ),
                            vec![lid, id],
                        ));
                    }
                }
            }
        }
    }
    None
}

// --- the history --------------------------------------------------------------------------

/// The process number of the checker's own final reads.
pub const FINAL_READER: u32 = u32::MAX;

/// The history as Jepsen's Kafka analysis sees it, plus the final reads.
pub fn log_ops(model: &Kafka, view: &View<'_, KNode>, history: &History<Call, Ret>) -> Vec<LogOp> {
    let mut ops = Vec::with_capacity(history.ops.len() + 1);
    // Records retention deleted were not lost: the final read cannot see below the log
    // start, so sends there count as unacknowledged.
    let log_start: Vec<u64> = (0..model.s.cfg.partitions)
        .map(|p| leader_of(view, p).map_or(0, |(_, b)| b.replicas[&p].log.log_start_offset))
        .collect();
    for e in &history.ops {
        let process = e.client.0;
        match (&e.call, &e.ret) {
            (Call::Send { partition, value }, ret) => {
                let offset = match ret {
                    Some(Ret::Sent { offset }) => *offset,
                    _ => None,
                };
                let expired = offset
                    .is_some_and(|o| o < log_start.get(*partition as usize).copied().unwrap_or(0));
                ops.push(LogOp::Send {
                    id: e.id.0,
                    process,
                    key: *partition,
                    value: *value,
                    acked: e.outcome == Some(Outcome::Ok) && !expired,
                    offset,
                });
            }
            (Call::Poll, Some(Ret::Polled { records })) if e.outcome == Some(Outcome::Ok) => ops
                .push(LogOp::Poll {
                    id: e.id.0,
                    process,
                    records: records.clone(),
                }),
            (Call::Assign { .. }, _) => ops.push(LogOp::Assign { process }),
            _ => {}
        }
    }
    ops.push(LogOp::Poll {
        id: queue_log::FINAL_READ,
        process: FINAL_READER,
        records: final_read(model, view),
    });
    ops
}

/// The final read: every user partition's committed log (below the HW), from its leader.
pub fn final_read(model: &Kafka, view: &View<'_, KNode>) -> Vec<(u32, u64, u64)> {
    let mut records = Vec::new();
    for p in 0..model.s.cfg.partitions {
        if let Some((lid, leader)) = leader_of(view, p) {
            let hw = leader.replicas[&p].high_watermark;
            for (o, v) in values_below(view, lid, leader, p, hw) {
                records.push((p, o, v));
            }
        }
    }
    records
}

/// Jepsen's analysis of the history and the final read, with processes named after the
/// run's nodes.
pub fn analysis(
    model: &Kafka,
    view: &View<'_, KNode>,
    history: &History<Call, Ret>,
) -> LogAnalysis {
    let name = |p: u32| {
        if p == FINAL_READER {
            "the final read".to_string()
        } else {
            view.name(NodeId(p)).to_string()
        }
    };
    queue_log::analyse_with(&log_ops(model, view, history), &name)
}

/// Every history check the scenario names, with Jepsen's analysis done once for all the
/// anomaly names among them.
pub fn histories(
    model: &Kafka,
    names: &[String],
    view: &View<'_, KNode>,
    history: &History<Call, Ret>,
) -> Vec<CheckResult> {
    let mut shared: Option<LogAnalysis> = None;
    names
        .iter()
        .map(|name| match name.as_str() {
            "at-least-once" => at_least_once(model, view, history),
            "no-duplicate-processing" => no_duplicate_processing(view, history),
            n if queue_log::VIOLATIONS.contains(&n) => {
                let a = shared.get_or_insert_with(|| analysis(model, view, history));
                anomaly_result(model, a, n)
            }
            n => CheckResult::Unknown {
                detail: format!("the kafka model has no history check `{n}`"),
            },
        })
        .collect()
}

pub fn history(
    model: &Kafka,
    name: &str,
    view: &View<'_, KNode>,
    history: &History<Call, Ret>,
) -> CheckResult {
    histories(model, &[name.to_string()], view, history)
        .pop()
        .expect("one result per name")
}

/// One of Jepsen's anomalies as a check result.
fn anomaly_result(model: &Kafka, a: &LogAnalysis, name: &str) -> CheckResult {
    if a.count(name) == 0 {
        return CheckResult::Valid;
    }
    let detail = a
        .explain(name)
        .unwrap_or_else(|| format!("{} {name}", a.count(name)));
    CheckResult::Invalid {
        detail: format!(
            "{detail} ({} acknowledged sends, {} values read; keys are partitions)",
            a.acked, a.seen
        ),
        ops: a.first_ops(name),
        nodes: model.s.producers.clone(),
    }
}

// --- the consumer group's delivery guarantees ---------------------------------------------

fn at(ns: u64) -> String {
    dsim_core::units::format_ns(ns)
}

/// Every record of the final committed log was processed (completed `Process`).
fn at_least_once(
    model: &Kafka,
    view: &View<'_, KNode>,
    history: &History<Call, Ret>,
) -> CheckResult {
    if model.s.cfg.consumers == 0 {
        return CheckResult::Unknown {
            detail: "at-least-once needs consumers (consumers = 0)".into(),
        };
    }
    let mut processed = BTreeSet::new();
    // value -> (consumer, poll time), the first poll that returned it.
    let mut polled: BTreeMap<u64, (NodeId, u64)> = BTreeMap::new();
    // value -> (consumer, start) of a processing that never completed.
    let mut cut: BTreeMap<u64, (NodeId, u64)> = BTreeMap::new();
    // value -> the operation that shows what happened to it (the cut processing, or the
    // first poll that returned it).
    let mut evidence: BTreeMap<u64, u64> = BTreeMap::new();
    for e in &history.ops {
        match (&e.call, &e.ret) {
            (Call::Process { value, .. }, _) if e.is_ok() => {
                processed.insert(*value);
            }
            (Call::Process { value, .. }, _) => {
                cut.entry(*value).or_insert((e.client, e.invoke_ns));
                evidence.insert(*value, e.id.0);
            }
            (Call::Poll, Some(Ret::Polled { records })) => {
                for (_, _, v) in records {
                    polled.entry(*v).or_insert((e.client, e.invoke_ns));
                    evidence.entry(*v).or_insert(e.id.0);
                }
            }
            _ => {}
        }
    }
    let log = final_read(model, view);
    let missing: Vec<&(u32, u64, u64)> = log
        .iter()
        .filter(|(_, _, v)| !processed.contains(v))
        .collect();
    if missing.is_empty() {
        return CheckResult::Valid;
    }
    let mut nodes = BTreeSet::new();
    let examples: Vec<String> = missing
        .iter()
        .take(4)
        .map(|(p, o, v)| {
            let whose = match (cut.get(v), polled.get(v)) {
                (Some((c, t)), _) => {
                    nodes.insert(*c);
                    format!(
                        "{} polled it and started processing it at {} but never finished (it went down)",
                        view.name(*c),
                        at(*t)
                    )
                }
                (None, Some((c, t))) => {
                    nodes.insert(*c);
                    format!(
                        "{} polled it at {} and went down before processing it; its offset had been committed past it, so no one polled it again",
                        view.name(*c),
                        at(*t)
                    )
                }
                (None, None) => "no consumer ever polled it".to_string(),
            };
            format!("topic-{p} offset {o} (value {v:#x}): {whose}")
        })
        .collect();
    let never_polled = missing
        .iter()
        .filter(|(_, _, v)| !polled.contains_key(v))
        .count();
    CheckResult::Invalid {
        detail: format!(
            "{} of {} committed record(s) were never processed ({} never polled at all){}: {}",
            missing.len(),
            log.len(),
            never_polled,
            if never_polled == missing.len() {
                " — did the run end before the consumers caught up?"
            } else {
                ""
            },
            examples.join("; ")
        ),
        nodes: nodes.into_iter().collect(),
        ops: missing
            .iter()
            .take(4)
            .filter_map(|(_, _, v)| evidence.get(v).copied())
            .collect(),
    }
}

/// No value was processed (to completion) twice.
fn no_duplicate_processing(view: &View<'_, KNode>, history: &History<Call, Ret>) -> CheckResult {
    let mut first: BTreeMap<u64, (NodeId, u64)> = BTreeMap::new();
    // value -> the operation that processed it first; the pairs of the examples.
    let mut first_op: BTreeMap<u64, u64> = BTreeMap::new();
    let mut ops: Vec<u64> = Vec::new();
    // (partition, offset, value, first processing, second processing)
    type Seen = (NodeId, u64);
    let mut dups: Vec<(u32, u64, u64, Seen, Seen)> = Vec::new();
    let mut count = 0usize;
    for e in &history.ops {
        let Call::Process {
            partition,
            offset,
            value,
        } = &e.call
        else {
            continue;
        };
        if !e.is_ok() {
            continue;
        }
        let now = (e.client, e.complete_ns.unwrap_or(e.invoke_ns));
        match first.get(value) {
            None => {
                first.insert(*value, now);
                first_op.insert(*value, e.id.0);
            }
            Some(earlier) => {
                count += 1;
                if dups.len() < 4 {
                    dups.push((*partition, *offset, *value, *earlier, now));
                    ops.extend(first_op.get(value).copied());
                    ops.push(e.id.0);
                }
            }
        }
    }
    if count == 0 {
        return CheckResult::Valid;
    }
    let mut nodes = BTreeSet::new();
    let examples: Vec<String> = dups
        .iter()
        .map(|(p, o, v, (c1, t1), (c2, t2))| {
            nodes.insert(*c1);
            nodes.insert(*c2);
            format!(
                "topic-{p} offset {o} (value {v:#x}) by {} at {} and again by {} at {}",
                view.name(*c1),
                at(*t1),
                view.name(*c2),
                at(*t2)
            )
        })
        .collect();
    CheckResult::Invalid {
        detail: format!(
            "{count} record(s) were processed twice (their offsets were not committed when the first processing ended, and the partition was consumed again from the older committed offset): {}",
            examples.join("; ")
        ),
        nodes: nodes.into_iter().collect(),
        ops,
    }
}
