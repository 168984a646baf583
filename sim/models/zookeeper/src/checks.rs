//! What is checked in a zookeeper run, and why.
//!
//! ZAB's properties (Junqueira, Reed & Serafini, DSN 2011; as invariants in
//! `zookeeper-specifications/protocol-spec/Zab.tla` in apache/zookeeper: `Leadership1/2`,
//! `PrefixConsistency`, `Integrity`, `Agreement`, `TotalOrder`, primary order):
//! - `one-leader-per-epoch` (always): at most one server establishes itself as leader of
//!   a given epoch.
//! - `agreement` (always): servers' committed histories are prefixes of one another:
//!   no two servers commit different transactions with the same zxid, a server never
//!   skips a transaction others committed, and never commits one (between committed
//!   zxids) that others skipped. This is the "zxid prefix agreement" that
//!   ZOOKEEPER-1154 and ZOOKEEPER-4643/4646 break (`PrefixConsistency`, `Agreement`).
//! - `primary-order` (always): each server commits in strictly increasing zxid order (a
//!   per-server consequence of `TotalOrder` and global primary order; weaker than the
//!   spec's primary-order invariants, which also track what each leader broadcast).
//! - `integrity` (always): a server commits only transactions a leader proposed.
//! - `leader-elected` (eventually) and `election-settles` (always, bounded: while a
//!   quorum of servers is up, none stays without a serving leader longer than
//!   `election_bound`; ZOOKEEPER-1419 breaks it). Not meaningful under partitions.
//!
//! The service (ZooKeeper programmer's guide):
//! - `version-increments` (always): every setData moves a znode's version by exactly +1.
//! - `ephemeral-gone-after-expiry` (always): no server's tree holds an ephemeral node
//!   whose session it no longer has.
//! - `dead-sessions-expire` (eventually): at the end, every session a serving server
//!   knows belongs to a live client (sessions of crashed clients expired).
//! - `linearizable` (history): writes, and reads made after a `sync`, are linearizable
//!   per key. `linearizable-all-reads` includes plain reads, which ZooKeeper does not
//!   promise; `stale-read` names a plain read that missed a completed write.
//! - `writes-resume` (eventually): some write completed in the last fifth of the run.
//! - `lock-mutual-exclusion` (always): the lock-protected resource never accepts a write
//!   from an older lock holder after a newer one wrote (two holders at once).
//! - `no-herd` (always): no lock waiter is woken while it is not next in line.
//! - `one-recipe-leader` (always): at most one election-recipe client believes it leads.

use std::collections::BTreeMap;

use dsim_checkers::history_checks::{self, FirstAnomaly, RegisterCall};
use dsim_checkers::{stale_reads, RegisterInput, RegisterOutput};
use dsim_core::units::format_ns;
use dsim_core::{
    Catalogue, CheckInfo, CheckResult, History, HistoryEntry, Invariant, NodeId, OpId, View,
};

use crate::model::{ZkCall, ZkNode, ZkRet, ZooKeeper};
use crate::zxid::Zxid;

const fn info(name: &'static str, about: &'static str) -> CheckInfo {
    CheckInfo { name, about }
}

pub const CATALOGUE: Catalogue = Catalogue {
    always: &[
        info("one-leader-per-epoch", "at most one server establishes itself leader of an epoch"),
        info("agreement", "committed histories are prefixes of one another (zxid prefix agreement)"),
        info("primary-order", "each server commits transactions in increasing zxid order"),
        info("integrity", "a server commits only transactions that a leader proposed"),
        info("election-settles", "while a quorum of servers is up, no server is without a serving leader for longer than election_bound"),
        info("version-increments", "every setData moves a znode's version by exactly one"),
        info("ephemeral-gone-after-expiry", "no tree holds an ephemeral node of a session it has closed"),
        info("lock-mutual-exclusion", "the protected resource never takes a write from an older lock holder after a newer one"),
        info("no-herd", "no lock waiter is woken while it is not next in line"),
        info("one-recipe-leader", "at most one election-recipe client believes it is the leader"),
    ],
    eventually: &[
        info("leader-elected", "an established leader is up at the end"),
        info("dead-sessions-expire", "every session a serving server knows belongs to a live client at the end"),
        info("writes-resume", "some write completed in the last fifth of the run"),
    ],
    sometimes: &[
        info("leader-elected", "a leader established an epoch"),
        info("write-ok", "a client write completed"),
        info("write-unavailable", "a client could not write: no server it reached was serving"),
        info("session-expired", "a session expired"),
        info("lock-acquired", "a client acquired the lock"),
        info("herd-wakeup", "a lock waiter was woken but was not next in line"),
        info("fenced", "the resource refused a stale fencing token"),
        info("recipe-leader", "an election-recipe client became leader"),
    ],
    history: &[
        info("linearizable", "writes and synced reads are linearizable per key"),
        info("linearizable-all-reads", "writes and all reads (synced or not) are linearizable per key"),
        info("stale-read", "no read returns a value overwritten before it began"),
    ],
};

pub fn always(model: &ZooKeeper, name: &str) -> Option<Box<dyn Invariant<ZkNode>>> {
    Some(match name {
        "one-leader-per-epoch" => Box::new(OneLeader::default()),
        "agreement" => Box::new(Ledger::new(LedgerCheck::Agreement)),
        "primary-order" => Box::new(Ledger::new(LedgerCheck::PrimaryOrder)),
        "integrity" => Box::new(Ledger::new(LedgerCheck::Integrity)),
        "election-settles" => Box::new(Settles::new(model)),
        "version-increments" => Box::new(StateCheck(version_increments)),
        "ephemeral-gone-after-expiry" => Box::new(StateCheck(ephemerals_owned)),
        "lock-mutual-exclusion" => Box::new(StateCheck(lock_exclusion)),
        "no-herd" => Box::new(StateCheck(no_herd)),
        "one-recipe-leader" => Box::new(OneRecipeLeader),
        _ => return None,
    })
}

type Found = Option<(String, Vec<NodeId>)>;

/// A check of one node's state after its event.
struct StateCheck(fn(&View<'_, ZkNode>, NodeId, &ZkNode) -> Found);

impl Invariant<ZkNode> for StateCheck {
    fn after_event(&mut self, view: &View<'_, ZkNode>, node: NodeId) -> Found {
        view.node(node).and_then(|n| (self.0)(view, node, n))
    }
}

fn version_increments(view: &View<'_, ZkNode>, id: NodeId, n: &ZkNode) -> Found {
    let ZkNode::Server(s) = n else { return None };
    s.tree
        .version_anomaly
        .as_ref()
        .map(|a| (format!("{}: {a}", view.name(id)), vec![id]))
}

fn ephemerals_owned(view: &View<'_, ZkNode>, id: NodeId, n: &ZkNode) -> Found {
    let ZkNode::Server(s) = n else { return None };
    let (owner, paths) = s
        .tree
        .ephemerals
        .iter()
        .find(|(o, p)| !p.is_empty() && !s.tree.sessions.contains_key(o))?;
    Some((
        format!(
            "{} holds ephemeral node(s) {:?} of session {owner:#x}, which its tree has closed",
            view.name(id),
            paths.iter().take(3).collect::<Vec<_>>()
        ),
        vec![id],
    ))
}

fn lock_exclusion(view: &View<'_, ZkNode>, id: NodeId, n: &ZkNode) -> Found {
    let ZkNode::Resource(r) = n else { return None };
    let (old_c, old_t, new_c, new_t) = r.overlap?;
    Some((
        format!(
            "{} accepted a write from client-{old_c} holding lock token {old_t:#x} after client-{new_c} had written with the newer token {new_t:#x}: \
             two clients acted as lock holder at once (client-{old_c}'s lock node had gone with its session, and it did not know)",
            view.name(id)
        ),
        vec![id],
    ))
}

fn no_herd(view: &View<'_, ZkNode>, id: NodeId, n: &ZkNode) -> Found {
    let ZkNode::Lock(c) = n else { return None };
    (c.wasted_wakeups > 0).then(|| {
        (
            format!(
                "{} was woken {} time(s) by a watch while not next in line ({} wake-ups in all)",
                view.name(id),
                c.wasted_wakeups,
                c.wakeups
            ),
            vec![id],
        )
    })
}

struct OneRecipeLeader;

impl Invariant<ZkNode> for OneRecipeLeader {
    fn after_event(&mut self, view: &View<'_, ZkNode>, node: NodeId) -> Found {
        // A second leader appears only by an event at a node that now leads.
        if !matches!(view.node(node), Some(ZkNode::Elect(c)) if c.is_leader) {
            return None;
        }
        let leaders: Vec<NodeId> = view
            .ids()
            .filter(|id| matches!(view.node(*id), Some(ZkNode::Elect(c)) if c.is_leader))
            .collect();
        (leaders.len() > 1).then(|| {
            let names: Vec<&str> = leaders.iter().map(|i| view.name(*i)).collect();
            (
                format!(
                    "{} all believe they are the recipe's leader",
                    names.join(", ")
                ),
                leaders,
            )
        })
    }
}

#[derive(Default)]
struct OneLeader {
    leaders: BTreeMap<u32, (NodeId, u64)>,
}

impl Invariant<ZkNode> for OneLeader {
    fn after_event(&mut self, view: &View<'_, ZkNode>, node: NodeId) -> Found {
        let Some(ZkNode::Server(s)) = view.node(node) else {
            return None;
        };
        if !s.is_established_leader() {
            return None;
        }
        let epoch = s.current_epoch;
        match self.leaders.get(&epoch) {
            Some((other, at)) if *other != node => Some((
                format!(
                    "{} established epoch {epoch}, which {} had established at {}",
                    view.name(node),
                    view.name(*other),
                    format_ns(*at)
                ),
                vec![*other, node],
            )),
            Some(_) => None,
            None => {
                self.leaders.insert(epoch, (node, view.now_ns()));
                None
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum LedgerCheck {
    Agreement,
    PrimaryOrder,
    Integrity,
}

#[derive(Default, Clone)]
struct Track {
    incarnation: u64,
    base: Zxid,
    checked: usize,
    /// Zxid of entry `checked - 1` (to notice a rewritten prefix).
    tip: Option<Zxid>,
    last: Zxid,
    /// How many of the server's proposals `integrity` has recorded (0 for other checks).
    proposed_seen: usize,
}

/// The ZAB broadcast properties over every server's committed prefix.
struct Ledger {
    check: LedgerCheck,
    /// zxid -> (fingerprint, first server to commit it).
    committed: BTreeMap<Zxid, (u64, NodeId)>,
    /// zxid -> fingerprint of every proposal seen; kept by `integrity` only.
    proposed: BTreeMap<Zxid, u64>,
    per: Vec<Track>,
}

impl Ledger {
    fn new(check: LedgerCheck) -> Self {
        Ledger {
            check,
            committed: BTreeMap::new(),
            proposed: BTreeMap::new(),
            per: Vec::new(),
        }
    }
}

impl Invariant<ZkNode> for Ledger {
    fn after_event(&mut self, view: &View<'_, ZkNode>, node: NodeId) -> Found {
        let Some(ZkNode::Server(s)) = view.node(node) else {
            return None;
        };
        if self.per.len() <= node.index() {
            self.per.resize(node.index() + 1, Track::default());
        }
        let t = &mut self.per[node.index()];
        // Proposals of the current leader: only `integrity` reads them, so only it keeps them.
        if self.check == LedgerCheck::Integrity {
            if t.incarnation != s.incarnation || t.proposed_seen > s.proposed.len() {
                t.proposed_seen = 0;
            }
            for (z, h) in &s.proposed[t.proposed_seen..] {
                match self.proposed.get(z) {
                    Some(h2) if h2 != h => {
                        return Some((format!("two different transactions were proposed with zxid {z} (the second by {})", view.name(node)), vec![node]));
                    }
                    Some(_) => {}
                    None => {
                        self.proposed.insert(*z, *h);
                    }
                }
            }
            t.proposed_seen = s.proposed.len();
        }
        let log = s.committed_entries();
        let rewritten =
            t.checked > 0 && (t.checked > log.len() || Some(log[t.checked - 1].zxid) != t.tip);
        if t.incarnation != s.incarnation || t.base != s.base_zxid || rewritten {
            *t = Track {
                incarnation: s.incarnation,
                base: s.base_zxid,
                checked: 0,
                tip: None,
                last: s.base_zxid,
                proposed_seen: t.proposed_seen,
            };
        }
        let name = view.name(node);
        for e in &log[t.checked..] {
            let h = e.txn.fingerprint();
            let z = e.zxid;
            match self.check {
                LedgerCheck::PrimaryOrder => {
                    if z <= t.last {
                        return Some((
                            format!("{name} committed {z} after {}: out of zxid order", t.last),
                            vec![node],
                        ));
                    }
                }
                LedgerCheck::Integrity => {
                    if self.proposed.get(&z) != Some(&h) {
                        return Some((
                            format!(
                                "{name} committed {z} ({:?}), which no leader proposed",
                                e.txn.body
                            ),
                            vec![node],
                        ));
                    }
                }
                LedgerCheck::Agreement => {
                    if let Some((skipped, (_, by))) =
                        self.committed.range(t.last..z).find(|(k, _)| **k > t.last)
                    {
                        return Some((
                            format!(
                                "{name} committed {z} right after {}, skipping {skipped}, which {} committed: a committed transaction is missing from {name}'s history",
                                t.last,
                                view.name(*by)
                            ),
                            vec![node, *by],
                        ));
                    }
                    match self.committed.get(&z) {
                        Some((h2, by)) if *h2 != h => {
                            return Some((
                                format!("{name} committed {z} as {:?}, but {} committed a different transaction with that zxid", e.txn.body, view.name(*by)),
                                vec![node, *by],
                            ));
                        }
                        Some(_) => {}
                        None => {
                            if let Some((above, (_, by))) = self.committed.range(z..).next() {
                                return Some((
                                    format!(
                                        "{name} committed {z} ({:?}), which {} skipped: it committed {above} without it. An uncommitted transaction came back to life",
                                        e.txn.body,
                                        view.name(*by)
                                    ),
                                    vec![node, *by],
                                ));
                            }
                            self.committed.insert(z, (h, node));
                        }
                    }
                }
            }
            t.last = z;
        }
        t.checked = log.len();
        t.tip = log.last().map(|e| e.zxid);
        None
    }
}

/// `election-settles`.
struct Settles {
    servers: Vec<NodeId>,
    quorum: usize,
    bound_ns: u64,
    quorum_since: Option<u64>,
    settled_at: Vec<u64>,
}

impl Settles {
    fn new(m: &ZooKeeper) -> Self {
        let servers: Vec<NodeId> = m.server_ids().collect();
        Settles {
            quorum: servers.len() / 2 + 1,
            settled_at: vec![0; servers.len()],
            servers,
            bound_ns: m.cfg.election_bound.0,
            quorum_since: None,
        }
    }
}

impl Invariant<ZkNode> for Settles {
    fn after_event(&mut self, view: &View<'_, ZkNode>, _node: NodeId) -> Found {
        let now = view.now_ns();
        let up = self.servers.iter().filter(|s| view.is_up(**s)).count();
        if up < self.quorum {
            self.quorum_since = None;
        } else if self.quorum_since.is_none() {
            self.quorum_since = Some(now);
        }
        for (i, s) in self.servers.iter().enumerate() {
            let serving = matches!(view.node(*s), Some(ZkNode::Server(z)) if z.is_serving());
            if serving || !view.is_up(*s) {
                self.settled_at[i] = now;
            }
        }
        let since = self.quorum_since?;
        let (i, at) = self
            .settled_at
            .iter()
            .enumerate()
            .min_by_key(|(_, t)| **t)?;
        let from = (*at).max(since);
        (now.saturating_sub(from) > self.bound_ns).then(|| {
            let s = self.servers[i];
            let vote = match view.node(s) {
                Some(ZkNode::Server(z)) => match &z.role {
                    crate::server::Role::Looking(e) => format!(", voting for {}", e.proposal),
                    _ => String::new(),
                },
                _ => String::new(),
            };
            (
                format!(
                    "{} has had no serving leader since {} although {up} of {} servers are up (election_bound {}){vote}: the election does not settle",
                    view.name(s),
                    format_ns(from),
                    self.servers.len(),
                    format_ns(self.bound_ns)
                ),
                vec![s],
            )
        })
    }
}

pub fn eventually(
    model: &ZooKeeper,
    name: &str,
    view: &View<'_, ZkNode>,
    history: &History<ZkCall, ZkRet>,
) -> Found {
    match name {
        "leader-elected" => {
            let any = model.server_ids().any(|s| {
                view.is_up(s)
                    && matches!(view.node(s), Some(ZkNode::Server(z)) if z.is_established_leader())
            });
            (!any).then(|| {
                let states: Vec<String> = model
                    .server_ids()
                    .map(|s| match view.node(s) {
                        Some(ZkNode::Server(z)) if view.is_up(s) => {
                            format!("{} {}", view.name(s), z.state_name())
                        }
                        _ => format!("{} down", view.name(s)),
                    })
                    .collect();
                (
                    format!("no established leader at the end: {}", states.join(", ")),
                    model.server_ids().collect(),
                )
            })
        }
        "dead-sessions-expire" => dead_sessions(model, view),
        "writes-resume" => {
            let from = view.now_ns() / 5 * 4;
            let ok = history.ops.iter().any(|o| {
                o.is_ok()
                    && matches!(o.call, ZkCall::Write { .. })
                    && o.complete_ns.is_some_and(|t| t >= from)
            });
            (!ok).then(|| {
                (
                    format!("no write completed after {}", format_ns(from)),
                    model.server_ids().collect(),
                )
            })
        }
        _ => Some((
            format!("the zookeeper model has no eventually-check `{name}`"),
            Vec::new(),
        )),
    }
}

fn client_session(n: &ZkNode) -> Option<u64> {
    match n {
        ZkNode::Kv(c) => Some(c.session_id()),
        ZkNode::Lock(c) => Some(c.session.session_id),
        ZkNode::Elect(c) => Some(c.session.session_id),
        _ => None,
    }
}

fn dead_sessions(model: &ZooKeeper, view: &View<'_, ZkNode>) -> Found {
    let live: Vec<u64> = model
        .client_ids()
        .filter(|c| view.is_up(*c))
        .filter_map(|c| view.node(c).and_then(client_session))
        .collect();
    for s in model.server_ids() {
        let Some(ZkNode::Server(z)) = view.node(s) else {
            continue;
        };
        if !view.is_up(s) || !z.is_serving() {
            continue;
        }
        if let Some((sess, _)) = z.sessions().iter().find(|(id, _)| !live.contains(id)) {
            let eph = z.tree.ephemerals.get(sess).map_or(0, |p| p.len());
            return Some((
                format!("{} still has session {sess:#x} ({eph} ephemeral node(s)), which no live client holds: it should have expired", view.name(s)),
                vec![s],
            ));
        }
    }
    None
}

pub fn history(
    model: &ZooKeeper,
    name: &str,
    view: &View<'_, ZkNode>,
    history: &History<ZkCall, ZkRet>,
    budget: u64,
) -> CheckResult {
    match name {
        "linearizable" => linearizable(model, history, budget, false),
        "linearizable-all-reads" => linearizable(model, history, budget, true),
        "stale-read" => stale(model, view, history),
        _ => CheckResult::Unknown {
            detail: format!("the zookeeper model has no history check `{name}`"),
        },
    }
}

/// A client call as a register call on `/k<key>`: setData is a write, getData a read
/// (synced or not: `linearizable` leaves plain reads out itself). What the outcomes and
/// `applied` make of it is the same for every model (`dsim_checkers::history_checks`).
fn register_call(model: &ZooKeeper, op: &HistoryEntry<ZkCall, ZkRet>) -> RegisterCall<u32> {
    let input = match op.call {
        ZkCall::Write { value, .. } => RegisterInput::Write(value),
        ZkCall::Read { .. } => RegisterInput::Read,
    };
    RegisterCall {
        key: op.call.key(),
        client: model.client_number(op.client),
        input,
        answer: op.ret.as_ref().map(|r| match r {
            ZkRet::Written { .. } => RegisterOutput::Written,
            ZkRet::Read { value } => RegisterOutput::Read(*value),
        }),
    }
}

/// Writes and synced reads (ZooKeeper's promise), or with `all_reads` plain reads too.
fn linearizable(
    model: &ZooKeeper,
    history: &History<ZkCall, ZkRet>,
    budget: u64,
    all_reads: bool,
) -> CheckResult {
    let call = |op: &HistoryEntry<ZkCall, ZkRet>| match op.call {
        ZkCall::Read { synced: false, .. } if !all_reads => None,
        _ => Some(register_call(model, op)),
    };
    history_checks::linearizable(history, call, budget)
}

fn stale(
    model: &ZooKeeper,
    view: &View<'_, ZkNode>,
    history: &History<ZkCall, ZkRet>,
) -> CheckResult {
    let word = |f: &FirstAnomaly<u32>, clients: &str| {
        let synced = history
            .get(OpId(f.anomaly.ops[0]))
            .is_some_and(|o| matches!(o.call, ZkCall::Read { synced: true, .. }));
        format!(
            "{} stale read(s); the first, on /k{} (clients {clients}), was {}: {}. ZooKeeper serves reads from the server a client is connected to, \
             which may not have applied the latest commits yet; call sync() first to read the latest",
            f.count,
            f.key,
            if synced { "made after sync" } else { "a plain read without sync" },
            f.anomaly.detail
        )
    };
    history_checks::anomalies(
        history,
        view,
        |op| Some(register_call(model, op)),
        stale_reads,
        word,
    )
}
