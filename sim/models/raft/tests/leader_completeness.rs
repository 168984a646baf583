//! `leader-completeness` is incremental (it re-checks only what changed since a leader's
//! last event); this pins it to its specification, the plain full re-scan of every earlier
//! term's committed prefix on every event at a leader. Both run side by side in the same
//! runs, over the catalogue scenarios where the check fires (Figure 8, the raft-dev
//! membership bug) and where leaders change often without a bug: they must fire at the
//! same event, on the same nodes, in the same words, or both stay quiet.

use std::collections::BTreeMap;

use dsim_core::config::{ChecksConfig, FaultKind, PartitionShape, PhaseConfig};
use dsim_core::fault::PlannedFault;
use dsim_core::select::Selector;
use dsim_core::units::Duration;
use dsim_core::{
    run, Catalogue, CheckResult, History, Invariant, Model, Node, NodeId, NodeSpec, RunConfig,
    RunOptions, RunReport, View,
};
use dsim_raft::invariants::{LeaderCompleteness, RaftObserved, RaftState};
use dsim_raft::kv::{KvOp, KvResult};
use dsim_raft::log::{Index, Term};
use dsim_raft::{RaftModel, RaftModelConfig, RaftNode, Role};
use dsim_scenario::testing::Testbed;

const RAFT: Testbed<RaftModelConfig, RaftModel> = Testbed::new("raft", RaftModel::new);

const RESCAN: &str = "leader-completeness-rescan";

/// The specification: on every event at a leader, every committed prefix recorded for an
/// earlier term must be in its log (unless compacted away).
#[derive(Default)]
struct Rescan {
    committed: BTreeMap<Term, (Index, u64, NodeId)>,
    commits: Vec<Index>,
}

impl<N: Node + RaftObserved> Invariant<N> for Rescan {
    fn after_event(&mut self, view: &View<'_, N>, node: NodeId) -> Option<(String, Vec<NodeId>)> {
        if self.commits.len() <= node.index() {
            self.commits.resize(node.index() + 1, 0);
        }
        let Some(s) = view.node(node).and_then(|n| n.raft_state()) else {
            self.commits[node.index()] = 0;
            return None;
        };
        let c = s.commit_index();
        if c > self.commits[node.index()] {
            self.commits[node.index()] = c;
            if let Some(d) = s.digest_at(c) {
                let e = self.committed.entry(s.term()).or_insert((0, 0, node));
                if c > e.0 {
                    *e = (c, d, node);
                }
            }
        }
        if s.role() != Role::Leader {
            return None;
        }
        for (t, (i, d, who)) in self.committed.range(..s.term()) {
            if *i <= s.base_index() {
                continue;
            }
            if s.digest_at(*i) != Some(*d) {
                let held = s
                    .term_at(*i)
                    .map_or("no entry".to_string(), |t| format!("an entry of term {t}"));
                return Some((
                    format!(
                        "{} leads term {} but lacks the entry at index {i} that {} had committed in term {t} \
                         (it holds {held} there, or a different history before it): a committed entry is \
                         missing from a later leader's log (Leader Completeness, Raft Figure 3)",
                        view.name(node),
                        s.term(),
                        view.name(*who)
                    ),
                    vec![node, *who],
                ));
            }
        }
        None
    }
}

/// The raft model with one more `always` check: the specification above.
struct WithRescan(RaftModel);

impl Model for WithRescan {
    type Node = RaftNode;

    fn nodes(&self) -> Vec<NodeSpec> {
        self.0.nodes()
    }
    fn boot(&self, id: NodeId) -> RaftNode {
        self.0.boot(id)
    }
    fn fault_role(&self) -> &'static str {
        self.0.fault_role()
    }
    fn selectors(&self) -> &'static [&'static str] {
        self.0.selectors()
    }
    fn select(
        &self,
        view: &View<'_, RaftNode>,
        name: &str,
        arg: Option<&str>,
    ) -> Option<Vec<NodeId>> {
        self.0.select(view, name, arg)
    }
    fn catalogue(&self) -> Catalogue {
        self.0.catalogue()
    }
    fn always(&self, name: &str) -> Option<Box<dyn Invariant<RaftNode>>> {
        if name == RESCAN {
            return Some(Box::new(Rescan::default()));
        }
        self.0.always(name)
    }
    fn eventually(
        &self,
        name: &str,
        view: &View<'_, RaftNode>,
        history: &History<KvOp, KvResult>,
    ) -> Option<(String, Vec<NodeId>)> {
        self.0.eventually(name, view, history)
    }
    fn check_histories(
        &self,
        names: &[String],
        view: &View<'_, RaftNode>,
        history: &History<KvOp, KvResult>,
        budget: u64,
    ) -> Vec<CheckResult> {
        self.0.check_histories(names, view, history, budget)
    }
    fn check_history(
        &self,
        name: &str,
        view: &View<'_, RaftNode>,
        history: &History<KvOp, KvResult>,
        budget: u64,
    ) -> CheckResult {
        self.0.check_history(name, view, history, budget)
    }
}

/// Runs `file` over `seeds` (its `[model]` changed by `change`) with both checks, asserts
/// they agree in every run, and returns in how many runs they fired.
fn agree(
    file: &str,
    seeds: std::ops::RangeInclusive<u64>,
    change: impl FnOnce(&mut RaftModelConfig),
) -> usize {
    let s = RAFT.scenario(file);
    let mut cfg = RAFT.config(&s);
    change(&mut cfg);
    let model = WithRescan(RAFT.model(cfg));
    // Only the two checks: no other violation can end a run before they would fire.
    let mut world = s.run.clone();
    world.checks = ChecksConfig {
        always: vec!["leader-completeness".into(), RESCAN.into()],
        ..ChecksConfig::default()
    };
    let mut fired = 0;
    for seed in seeds {
        let r: RunReport = run(&model, &world, seed, RunOptions::default())
            .unwrap_or_else(|e| panic!("{file} seed {seed}: {e}"));
        let found = |name: &str| {
            r.violations
                .iter()
                .find(|v| v.invariant == name)
                .map(|v| (v.at_ns, v.event, v.nodes.clone(), v.detail.clone()))
        };
        let (incremental, rescan) = (found("leader-completeness"), found(RESCAN));
        assert_eq!(
            incremental, rescan,
            "{file} seed {seed}: the incremental check and the full re-scan disagree"
        );
        fired += usize::from(rescan.is_some());
    }
    fired
}

/// Raft §5.4.2 and Figure 8: fires in most seeds with the bug, never with the fix.
#[test]
fn figure_8_fires_exactly_where_the_full_rescan_does() {
    assert!(
        agree("figure-8.toml", 1..=10, |_| {}) > 0,
        "Figure 8 never fired"
    );
    assert_eq!(
        agree("figure-8.toml", 1..=10, |c| c
            .commit_previous_term_by_counting =
            false),
        0
    );
}

/// The raft-dev 2015 single-server membership bug: a later leader lacks a committed entry.
#[test]
fn the_membership_bug_fires_exactly_where_the_full_rescan_does() {
    assert!(
        agree("membership-no-noop.toml", 1..=10, |_| {}) > 0,
        "the membership bug never fired"
    );
}

/// Many elections, crashes and restarts (log epochs, snapshots, truncations) without a
/// safety bug, and a vote that is not persisted (two leaders in one term): the two agree
/// in every run.
#[test]
fn busy_elections_agree_with_the_full_rescan() {
    agree("nemesis-5.toml", 1..=4, |_| {});
    agree("term-not-persisted.toml", 1..=30, |_| {});
    agree("membership-joint.toml", 1..=2, |_| {});
}

// ----- Constructed states: the cases the incremental bookkeeping must not miss -----

const MS: u64 = 1_000_000;

/// A server's state as the checks see it, set by a script rather than by Raft: the log
/// after `base` as (term, label) pairs, with prefix digests chained from the labels.
#[derive(Clone, Debug)]
struct Fake {
    role: Role,
    term: Term,
    commit: Index,
    base: Index,
    base_digest: u64,
    log: Vec<(Term, u64)>,
    epoch: u64,
}

fn chain(prev: u64, term: Term, label: char) -> u64 {
    prev.wrapping_mul(1_000_003) ^ (term << 8 | label as u64)
}

impl Fake {
    /// A follower of `term` holding `entries` (e.g. `[(1, 'a'), (1, 'b')]`) from index 1.
    fn new(term: Term, entries: &[(Term, char)]) -> Self {
        let mut d = 0;
        let log = entries
            .iter()
            .map(|(t, l)| {
                d = chain(d, *t, *l);
                (*t, d)
            })
            .collect();
        Fake {
            role: Role::Follower,
            term,
            commit: 0,
            base: 0,
            base_digest: 0,
            log,
            epoch: 0,
        }
    }
    fn leading(mut self) -> Self {
        self.role = Role::Leader;
        self
    }
    fn committed(mut self, c: Index) -> Self {
        self.commit = c;
        self
    }
    fn epoch(mut self, e: u64) -> Self {
        self.epoch = e;
        self
    }
    /// Compacts every entry up to `upto` into the snapshot point.
    fn compacted(mut self, upto: Index) -> Self {
        let k = (upto - self.base) as usize;
        self.base_digest = self.log[k - 1].1;
        self.log.drain(..k);
        self.base = upto;
        self
    }
}

impl RaftState for Fake {
    fn role(&self) -> Role {
        self.role
    }
    fn term(&self) -> Term {
        self.term
    }
    fn commit_index(&self) -> Index {
        self.commit
    }
    fn last_applied(&self) -> Index {
        self.commit
    }
    fn last_index(&self) -> Index {
        self.base + self.log.len() as Index
    }
    fn base_index(&self) -> Index {
        self.base
    }
    fn term_at(&self, i: Index) -> Option<Term> {
        match i.checked_sub(self.base + 1) {
            Some(k) => self.log.get(k as usize).map(|e| e.0),
            None => None,
        }
    }
    fn digest_at(&self, i: Index) -> Option<u64> {
        if i == self.base {
            return Some(self.base_digest);
        }
        let k = i.checked_sub(self.base + 1)?;
        self.log.get(k as usize).map(|e| e.1)
    }
    fn log_epoch(&self) -> u64 {
        self.epoch
    }
    fn disruptions(&self) -> (u64, Option<NodeId>, &str) {
        (0, None, "")
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum NoMsg {}
impl dsim_core::Message for NoMsg {}

/// A node that takes the states of its script at their times (a step's index is its
/// timer); it boots, and reboots after a crash, in its first state.
#[derive(Debug)]
struct Scripted {
    now: Fake,
    steps: Vec<(u64, Fake)>,
}

impl RaftObserved for Scripted {
    fn raft_state(&self) -> Option<&dyn RaftState> {
        Some(&self.now)
    }
}

impl Node for Scripted {
    type Msg = NoMsg;
    type Timer = usize;
    type Call = ();
    type Ret = ();

    fn on_start(&mut self, ctx: &mut dsim_core::Ctx<'_, Self>) {
        for (k, (at, _)) in self.steps.iter().enumerate() {
            if *at > ctx.now() {
                ctx.set_timer(k, at - ctx.now());
            }
        }
    }
    fn on_message(&mut self, _: &mut dsim_core::Ctx<'_, Self>, _: NodeId, msg: NoMsg) {
        match msg {}
    }
    fn on_timer(&mut self, _: &mut dsim_core::Ctx<'_, Self>, k: usize) {
        self.now = self.steps[k].1.clone();
    }
}

/// Servers `server-1`.. with their first states and their scripts (time in ms, state).
struct Script(Vec<(Fake, Vec<(u64, Fake)>)>);

impl Model for Script {
    type Node = Scripted;

    fn nodes(&self) -> Vec<NodeSpec> {
        (1..=self.0.len())
            .map(|i| NodeSpec::new(format!("server-{i}"), "server"))
            .collect()
    }
    fn boot(&self, id: NodeId) -> Scripted {
        let (first, steps) = &self.0[id.index()];
        Scripted {
            now: first.clone(),
            steps: steps.iter().map(|(ms, f)| (ms * MS, f.clone())).collect(),
        }
    }
    fn fault_role(&self) -> &'static str {
        "server"
    }
    fn catalogue(&self) -> Catalogue {
        Catalogue::default()
    }
    fn always(&self, name: &str) -> Option<Box<dyn Invariant<Scripted>>> {
        match name {
            "leader-completeness" => Some(Box::new(LeaderCompleteness::default())),
            RESCAN => Some(Box::new(Rescan::default())),
            _ => None,
        }
    }
    fn eventually(
        &self,
        _: &str,
        _: &View<'_, Scripted>,
        _: &History<(), ()>,
    ) -> Option<(String, Vec<NodeId>)> {
        None
    }
    fn check_history(
        &self,
        _: &str,
        _: &View<'_, Scripted>,
        _: &History<(), ()>,
        _: u64,
    ) -> CheckResult {
        CheckResult::Valid
    }
}

/// Runs the script with both checks (and `faults`), asserts they agree, and returns when
/// (ms) and on which nodes `leader-completeness` fired, with its words.
fn scripted(script: Script, faults: Vec<PlannedFault>) -> Option<(u64, Vec<NodeId>, String)> {
    let world = RunConfig {
        phases: PhaseConfig {
            fault_phase: Duration::from_secs(1),
            heal_phase: Duration::from_secs(1),
            ..PhaseConfig::default()
        },
        faults,
        checks: ChecksConfig {
            always: vec!["leader-completeness".into(), RESCAN.into()],
            ..ChecksConfig::default()
        },
        ..RunConfig::default()
    };
    let r = run(&script, &world, 1, RunOptions::default()).expect("runs");
    let found = |name: &str| {
        r.violations
            .iter()
            .find(|v| v.invariant == name)
            .map(|v| (v.at_ns / MS, v.nodes.clone(), v.detail.clone()))
    };
    let (incremental, rescan) = (found("leader-completeness"), found(RESCAN));
    assert_eq!(
        incremental, rescan,
        "the incremental check and the full re-scan disagree"
    );
    incremental
}

fn crash(node: &str, at_ms: u64, down_ms: u64) -> PlannedFault {
    PlannedFault {
        at_ns: at_ms * MS,
        kind: FaultKind::Crash,
        target: Some(Selector::Node(node.into())),
        duration_ns: Some(down_ms * MS),
        shape: PartitionShape::default(),
        to: None,
        disk: None,
        offset_ns: 0,
        drift_ppm: 0,
        factor: 1,
    }
}

const AB: &[(Term, char)] = &[(1, 'a'), (1, 'b')];
const ABC: &[(Term, char)] = &[(1, 'a'), (1, 'b'), (1, 'c')];

/// A leader that held the committed prefix of term 1 when it checked is checked again
/// when a server of term 1 commits further: it lacks the new entry.
#[test]
fn a_prefix_committed_later_in_an_earlier_term_is_checked_again() {
    let leader_log = &[(1, 'a'), (1, 'b'), (2, 'x')];
    let found = scripted(
        Script(vec![
            (
                Fake::new(1, ABC),
                vec![
                    (100, Fake::new(1, ABC).committed(2)),
                    (300, Fake::new(1, ABC).committed(3)),
                ],
            ),
            (
                Fake::new(1, AB),
                vec![
                    (200, Fake::new(2, leader_log).leading()),
                    // No change of its own: only term 1's prefix grew meanwhile.
                    (400, Fake::new(2, leader_log).leading()),
                ],
            ),
        ]),
        vec![],
    );
    let (at, nodes, detail) = found.expect("the later leader lacks index 3");
    assert_eq!((at, nodes), (400, vec![NodeId(1), NodeId(0)]));
    assert!(
        detail.starts_with(
            "server-2 leads term 2 but lacks the entry at index 3 that server-1 had committed in term 1 \
             (it holds an entry of term 2 there"
        ),
        "{detail}"
    );
}

/// What a leader verified is forgotten when its log loses entries (a new log epoch):
/// leading a later term with a rewritten log, it is checked from scratch.
#[test]
fn a_rewritten_log_is_checked_from_scratch() {
    let rewritten = &[(1, 'a'), (3, 'y')];
    let found = scripted(
        Script(vec![
            (Fake::new(1, AB), vec![(100, Fake::new(1, AB).committed(2))]),
            (
                Fake::new(1, AB),
                vec![
                    (200, Fake::new(2, &[(1, 'a'), (1, 'b'), (2, 'x')]).leading()),
                    (300, Fake::new(3, rewritten).epoch(1)),
                    (400, Fake::new(4, rewritten).epoch(1).leading()),
                ],
            ),
        ]),
        vec![],
    );
    let (at, nodes, _) = found.expect("the rewritten leader lacks index 2");
    assert_eq!((at, nodes), (400, vec![NodeId(1), NodeId(0)]));
}

/// A crash forgets what a server verified, though its log epoch starts again at 0.
#[test]
fn a_restarted_server_is_checked_from_scratch() {
    let found = scripted(
        Script(vec![
            (Fake::new(1, AB), vec![(100, Fake::new(1, AB).committed(2))]),
            (
                Fake::new(0, &[]),
                vec![
                    (200, Fake::new(2, &[(1, 'a'), (1, 'b'), (2, 'x')]).leading()),
                    // Crashed at 300 ms, back at 400 ms (with its disk's epoch, 0).
                    (500, Fake::new(3, &[(1, 'a'), (3, 'z')]).leading()),
                ],
            ),
        ]),
        vec![crash("server-2", 300, 100)],
    );
    let (at, nodes, _) = found.expect("the restarted leader lacks index 2");
    assert_eq!((at, nodes), (500, vec![NodeId(1), NodeId(0)]));
}

/// A committed entry inside a leader's snapshot is not looked for in its log; one above
/// it is.
#[test]
fn a_compacted_prefix_is_skipped_and_the_rest_is_checked() {
    let log = &[(1, 'a'), (1, 'b'), (2, 'x'), (2, 'w')];
    let quiet = scripted(
        Script(vec![
            (Fake::new(1, AB), vec![(100, Fake::new(1, AB).committed(2))]),
            (
                Fake::new(1, AB),
                vec![(200, Fake::new(3, log).compacted(3).epoch(1).leading())],
            ),
        ]),
        vec![],
    );
    assert_eq!(quiet, None);
    let other = &[(1, 'a'), (1, 'b'), (2, 'x'), (2, 'v')];
    let found = scripted(
        Script(vec![
            (
                Fake::new(2, other),
                vec![(100, Fake::new(2, other).committed(4))],
            ),
            (
                Fake::new(1, AB),
                vec![(200, Fake::new(3, log).compacted(3).epoch(1).leading())],
            ),
        ]),
        vec![],
    );
    let (at, nodes, _) = found.expect("index 4 differs above the snapshot");
    assert_eq!((at, nodes), (200, vec![NodeId(1), NodeId(0)]));
}
