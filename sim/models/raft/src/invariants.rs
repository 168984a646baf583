//! The safety properties of the Raft paper's Figure 3, as reusable dsim invariants over
//! any host whose node can show its Raft server ([`RaftObserved`]): the KV model of this
//! crate uses them, and so can a host embedding Raft (Kafka's KRaft controllers).
//!
//! - Election Safety: at most one leader can be elected in a given term (§5.2).
//! - Log Matching: if two logs contain an entry with the same index and term, the logs
//!   are identical in all entries up through that index (§5.3).
//! - Leader Completeness: if a log entry is committed in a given term, that entry will be
//!   present in the logs of the leaders of all higher-numbered terms (§5.4).
//! - State Machine Safety: if a server has applied a log entry at a given index to its
//!   state machine, no other server will ever apply a different entry at that index
//!   (§5.4.3).
//!
//! Plus one liveness-flavoured safety check: no healthy leader is deposed by a server that
//! cannot win an election (thesis §9.6; etcd #9333).
//!
//! Each check keeps incremental state so that a call costs O(change): per node a
//! watermark of what it has checked, reset when the node crashes or its log loses entries
//! (`log_epoch`). Log comparison uses the log's prefix digests (`log.rs`).

use std::collections::{BTreeMap, BTreeSet};

use dsim_core::{Invariant, Node, NodeId, View};

use crate::log::{Command, Index, Term};
use crate::server::{RaftServer, Role};

/// What the checks need to see of one server.
pub trait RaftState {
    fn role(&self) -> Role;
    fn term(&self) -> Term;
    fn commit_index(&self) -> Index;
    fn last_applied(&self) -> Index;
    fn last_index(&self) -> Index;
    fn base_index(&self) -> Index;
    fn term_at(&self, i: Index) -> Option<Term>;
    fn digest_at(&self, i: Index) -> Option<u64>;
    fn log_epoch(&self) -> u64;
    /// How many times a healthy leader was deposed, by whom last, and how.
    fn disruptions(&self) -> (u64, Option<NodeId>, &str);
}

impl<C: Command> RaftState for RaftServer<C> {
    fn role(&self) -> Role {
        if self.is_leader() {
            Role::Leader
        } else {
            RaftServer::role(self)
        }
    }
    fn term(&self) -> Term {
        RaftServer::term(self)
    }
    fn commit_index(&self) -> Index {
        RaftServer::commit_index(self)
    }
    fn last_applied(&self) -> Index {
        RaftServer::last_applied(self)
    }
    fn last_index(&self) -> Index {
        self.log().last_index()
    }
    fn base_index(&self) -> Index {
        self.log().base_index()
    }
    fn term_at(&self, i: Index) -> Option<Term> {
        self.log().term_at(i)
    }
    fn digest_at(&self, i: Index) -> Option<u64> {
        self.log().digest_at(i)
    }
    fn log_epoch(&self) -> u64 {
        self.log_epoch
    }
    fn disruptions(&self) -> (u64, Option<NodeId>, &str) {
        (self.disruptions, self.last_disruptor, &self.last_disruption)
    }
}

/// A host node that may contain a Raft server (None for other roles, e.g. clients).
pub trait RaftObserved {
    fn raft_state(&self) -> Option<&dyn RaftState>;
}

fn state<'a, N: Node + RaftObserved>(view: &View<'a, N>, id: NodeId) -> Option<&'a dyn RaftState> {
    view.node(id).and_then(|n| n.raft_state())
}

/// Election Safety (Figure 3, §5.2).
#[derive(Default)]
pub struct ElectionSafety {
    leaders: BTreeMap<Term, NodeId>,
}

impl<N: Node + RaftObserved> Invariant<N> for ElectionSafety {
    fn after_event(&mut self, view: &View<'_, N>, node: NodeId) -> Option<(String, Vec<NodeId>)> {
        let s = state(view, node)?;
        if s.role() != Role::Leader {
            return None;
        }
        let first = *self.leaders.entry(s.term()).or_insert(node);
        (first != node).then(|| {
            (
                format!(
                    "two leaders in term {}: {} and {} (Election Safety, Raft Figure 3)",
                    s.term(),
                    view.name(first),
                    view.name(node)
                ),
                vec![first, node],
            )
        })
    }
}

#[derive(Clone, Copy, Default)]
struct Mark {
    checked: Index,
    epoch: u64,
}

/// Per-node watermarks, reset when a node is down or its log lost entries.
#[derive(Default)]
struct Watermarks(Vec<Mark>);

impl Watermarks {
    fn get(&mut self, node: NodeId, epoch: Option<u64>) -> &mut Mark {
        if self.0.len() <= node.index() {
            self.0.resize(node.index() + 1, Mark::default());
        }
        let m = &mut self.0[node.index()];
        match epoch {
            None => *m = Mark::default(),
            Some(e) if e != m.epoch => {
                *m = Mark {
                    checked: 0,
                    epoch: e,
                }
            }
            Some(_) => {}
        }
        m
    }
}

/// Log Matching (Figure 3, §5.3), by prefix digest: every (index, term) pair seen in any
/// log must always come with the same prefix.
#[derive(Default)]
pub struct LogMatching {
    seen: BTreeMap<(Index, Term), (u64, NodeId)>,
    marks: Watermarks,
}

impl<N: Node + RaftObserved> Invariant<N> for LogMatching {
    fn after_event(&mut self, view: &View<'_, N>, node: NodeId) -> Option<(String, Vec<NodeId>)> {
        let Some(s) = state(view, node) else {
            self.marks.get(node, None);
            return None;
        };
        let m = self.marks.get(node, Some(s.log_epoch()));
        let from = m.checked.max(s.base_index()) + 1;
        let last = s.last_index();
        m.checked = m.checked.max(last);
        for i in from..=last {
            let (Some(t), Some(d)) = (s.term_at(i), s.digest_at(i)) else {
                continue;
            };
            let (d0, n0) = *self.seen.entry((i, t)).or_insert((d, node));
            if d0 != d && n0 == node {
                return Some((
                    format!(
                        "{} held an entry of term {t} at index {i} earlier, and now holds a different entry (or \
                         history) under the same index and term: two different entries share an index and a term \
                         (Log Matching, Raft Figure 3)",
                        view.name(node)
                    ),
                    vec![node],
                ));
            }
            if d0 != d {
                return Some((
                    format!(
                        "{} and {} both hold an entry of term {t} at index {i}, but their logs differ at or \
                         before it (Log Matching, Raft Figure 3)",
                        view.name(n0),
                        view.name(node)
                    ),
                    vec![n0, node],
                ));
            }
        }
        None
    }
}

/// Leader Completeness (Figure 3, §5.4): a server's commit index, seen in its term T,
/// marks a committed prefix; every leader of a term above T must hold that prefix.
///
/// Incremental: every change to the committed prefix recorded for a term gets a stamp,
/// and per node the check remembers what it has verified of its log: as of which stamp,
/// for the terms below which term, in which log epoch. Within one log epoch a server's log
/// only grows at its end (truncation, compaction and snapshots bump the epoch; a crash
/// forgets the mark), so what held then still holds: an event at a leader re-checks only
/// the terms whose prefix changed since and the terms newly below its own, in term order,
/// and so fires exactly where a full re-scan would, with the same words.
#[derive(Default)]
pub struct LeaderCompleteness {
    /// Per observing term: the highest committed index seen, its prefix digest, who saw it.
    committed: BTreeMap<Term, Committed>,
    /// The latest change of each term's entry in `committed`, by stamp (one per term).
    changes: BTreeMap<u64, Term>,
    /// The stamp of the latest change.
    stamp: u64,
    commits: Vec<Index>,
    verified: Vec<Option<Verified>>,
}

#[derive(Clone, Copy)]
struct Committed {
    index: Index,
    digest: u64,
    who: NodeId,
    stamp: u64,
}

/// A node's log holds, in log epoch `epoch`, every committed prefix recorded for a term
/// below `below` as of stamp `stamp`.
#[derive(Clone, Copy)]
struct Verified {
    epoch: u64,
    below: Term,
    stamp: u64,
}

impl<N: Node + RaftObserved> Invariant<N> for LeaderCompleteness {
    fn after_event(&mut self, view: &View<'_, N>, node: NodeId) -> Option<(String, Vec<NodeId>)> {
        if self.commits.len() <= node.index() {
            self.commits.resize(node.index() + 1, 0);
            self.verified.resize(node.index() + 1, None);
        }
        let Some(s) = state(view, node) else {
            self.commits[node.index()] = 0;
            self.verified[node.index()] = None;
            return None;
        };
        let c = s.commit_index();
        if c > self.commits[node.index()] {
            self.commits[node.index()] = c;
            if let Some(d) = s.digest_at(c) {
                let term = s.term();
                if self.committed.get(&term).is_none_or(|e| c > e.index) {
                    self.stamp += 1;
                    let e = Committed {
                        index: c,
                        digest: d,
                        who: node,
                        stamp: self.stamp,
                    };
                    if let Some(old) = self.committed.insert(term, e) {
                        self.changes.remove(&old.stamp);
                    }
                    self.changes.insert(self.stamp, term);
                }
            }
        }
        if s.role() != Role::Leader {
            return None;
        }
        let (term, epoch) = (s.term(), s.log_epoch());
        let v = match self.verified[node.index()] {
            Some(v) if v.epoch == epoch => v,
            _ => Verified {
                epoch,
                below: 0,
                stamp: 0,
            },
        };
        // The terms below `v.below` hold unless their entry changed; those from `v.below`
        // up to this term were never checked against this log.
        let below = v.below.min(term);
        let mut todo: BTreeSet<Term> = self
            .changes
            .range(v.stamp + 1..)
            .map(|(_, t)| *t)
            .filter(|t| *t < below)
            .collect();
        todo.extend(self.committed.range(below..term).map(|(t, _)| *t));
        for t in todo {
            let Committed {
                index: i,
                digest: d,
                who,
                ..
            } = self.committed[&t];
            if i <= s.base_index() {
                continue;
            }
            if s.digest_at(i) != Some(d) {
                let held = s
                    .term_at(i)
                    .map_or("no entry".to_string(), |t| format!("an entry of term {t}"));
                return Some((
                    format!(
                        "{} leads term {} but lacks the entry at index {i} that {} had committed in term {t} \
                         (it holds {held} there, or a different history before it): a committed entry is \
                         missing from a later leader's log (Leader Completeness, Raft Figure 3)",
                        view.name(node),
                        s.term(),
                        view.name(who)
                    ),
                    vec![node, who],
                ));
            }
        }
        self.verified[node.index()] = Some(Verified {
            epoch,
            below: term,
            stamp: self.stamp,
        });
        None
    }
}

/// State Machine Safety (Figure 3, §5.4.3): no two servers apply different entries (by
/// term, which with Log Matching identifies the entry) at one index.
#[derive(Default)]
pub struct StateMachineSafety {
    applied: BTreeMap<Index, (Term, NodeId)>,
    marks: Watermarks,
}

impl<N: Node + RaftObserved> Invariant<N> for StateMachineSafety {
    fn after_event(&mut self, view: &View<'_, N>, node: NodeId) -> Option<(String, Vec<NodeId>)> {
        let Some(s) = state(view, node) else {
            self.marks.get(node, None);
            return None;
        };
        // Applied entries never change; only a restart resets the watermark.
        let m = self.marks.get(node, Some(0));
        let from = m.checked.max(s.base_index()) + 1;
        let upto = s.last_applied();
        m.checked = m.checked.max(upto);
        for i in from..=upto {
            let Some(t) = s.term_at(i) else { continue };
            let (t0, n0) = *self.applied.entry(i).or_insert((t, node));
            if t0 != t {
                return Some((
                    format!(
                        "{} applied the entry of term {t0} at index {i}, and {} applied a different entry \
                         (term {t}) at the same index (State Machine Safety, Raft Figure 3)",
                        view.name(n0),
                        view.name(node)
                    ),
                    vec![n0, node],
                ));
            }
        }
        None
    }
}

/// No healthy leader is deposed by a server whose log lacks committed entries (thesis
/// §9.6, "disruptive servers"; etcd #9333).
#[derive(Default)]
pub struct NoDisruptiveElection;

impl<N: Node + RaftObserved> Invariant<N> for NoDisruptiveElection {
    fn after_event(&mut self, view: &View<'_, N>, node: NodeId) -> Option<(String, Vec<NodeId>)> {
        let s = state(view, node)?;
        let (n, by, what) = s.disruptions();
        if n == 0 {
            return None;
        }
        let mut nodes = vec![node];
        let by_name = by.map_or("?", |b| view.name(b));
        nodes.extend(by);
        Some((
            format!("{}: {what} (that server: {by_name})", view.name(node)),
            nodes,
        ))
    }
}

/// The current leader, if any: an up server leading in the highest term among up servers.
pub fn current_leader<N: Node + RaftObserved>(view: &View<'_, N>) -> Option<NodeId> {
    let mut best: Option<(Term, NodeId)> = None;
    let mut max_term = 0;
    for id in view.ids() {
        if !view.is_up(id) {
            continue;
        }
        let Some(s) = state(view, id) else { continue };
        max_term = max_term.max(s.term());
        if s.role() == Role::Leader && best.is_none_or(|(t, _)| s.term() > t) {
            best = Some((s.term(), id));
        }
    }
    best.filter(|(t, _)| *t == max_term).map(|(_, id)| id)
}
