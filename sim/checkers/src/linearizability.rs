//! Linearizability checking of one object's client-visible history.
//!
//! # What it models
//! A history is a set of operations, each with a call time, a return time (or none, when the op
//! never returned or timed out) and an observed output (or none, when it is unknown). The history
//! is linearizable (Herlihy & Wing 1990) if every completed operation can be given a single point
//! in time between its call and its return, and pending operations either such a point after
//! their call or none at all, so that applying the operations one by one in that order to the
//! sequential specification ([`SeqSpec`]) yields every observed output.
//!
//! # Why this design
//! The search is Wing & Gong's backtracking algorithm (Wing & Gong 1993, "Testing and verifying
//! concurrent objects") with the memoisation of Lowe (2017, "Testing for linearizability"), in
//! the shape Porcupine (anishathalye/porcupine) uses: the history is a time-sorted, doubly linked
//! list of call and return entries. An operation may be linearized next only if its call entry
//! comes before the first return entry still in the list (the earliest return among operations
//! not yet linearized): otherwise that earlier-returning operation would be placed after its own
//! return. Linearizing lifts the op's call and return entries out of the list; backtracking puts
//! them back. A memo of (set of linearized ops, spec state) pairs already explored stops the
//! search from exploring the same configuration twice, which is what makes the search practical
//! on long, mostly sequential histories. The code is written from the papers, not copied.
//!
//! # Choices made here
//! * **Tie rule.** Events are sorted by time; at equal times *calls come before returns*. So an
//!   op that returns at the very nanosecond another is called is treated as concurrent with it.
//!   This is the conservative choice: it can only admit more orders, never report a violation
//!   that depends on a tie.
//! * **Unknown outputs** (`output == None`) are passed to [`SeqSpec::step`] as `None`, which
//!   accepts any output. A *timed-out* op should be given `return_ns: None`, since it may take
//!   effect after the client gave up; a completed op with a lost result keeps its return time.
//! * A return time earlier than the call time is treated as equal to the call time.
//! * **Pending ops** (`return_ns == None`) have no return entry (their return is at +infinity):
//!   they never force anything, may be linearized anywhere after their call, and may also be
//!   left out altogether (the op never took effect). The search succeeds as soon as every
//!   *completed* op is linearized. Porcupine instead makes every op take effect at some point;
//!   leaving pending ops out is what Herlihy & Wing's definition allows and matters for ops that
//!   cannot always take effect late (a set-once flag, say).
//! * **Pending ops are tried last and only where they can matter.** A history with timeouts has
//!   pending ops that never took effect and stay candidates for the rest of the search; trying
//!   each of them at every configuration multiplies the search by the subsets of them. So each
//!   configuration is searched in two passes: first the completed candidates (a walk along the
//!   list of completed ops' entries), then the pending ones, and a pending op `p` is tried only
//!   if it changes the state and some other candidate `x`, right after it, is allowed and
//!   neither *absorbs* it (`p` then `x` reaches the state `x` alone would, as a write after a
//!   write) nor *commutes* with it (`x` then `p` reaches the same state), nor is a pending op
//!   that changes nothing. This is sound: take a successful order with the fewest ops; a pending
//!   op followed by an absorbing op, or that changes nothing, can be dropped, and one followed by
//!   a commuting op can be swapped later, so some successful order places every pending op right
//!   before an op that observes it, and the search tries exactly those placements. The test of
//!   pending candidates against each other is cached by (state, pending candidates). The
//!   optional hints [`SeqSpec::read_only`] and [`SeqSpec::overwrites`] let the search skip step
//!   evaluations it knows the answer to.
//! * **Memo with dominance.** The memo is keyed by (completed ops linearized, state) and keeps
//!   the sets of pending ops that were linearized with it. A configuration is skipped if one
//!   with the same key and a subset of its pending ops was explored: linearizing fewer pending
//!   ops leaves every way on open.
//! * **Compact sets.** The set of linearized completed ops is a bitset (`Vec<u64>`, any size).
//!   Ops are numbered in call order, so in a mostly sequential history the set is a long run of
//!   ones followed by a few scattered bits; the memo stores it run-length encoded (the
//!   positions where the bits change), which keeps each entry a few words long even with tens of
//!   thousands of ops.
//! * **Budget.** A step is one completed candidate tried, one pending candidate tried, or one
//!   backtrack; the bookkeeping that picks pending candidates counts one step per 64 step
//!   evaluations. The search stops with [`Verdict::Unknown`] once the budget is used up (the
//!   count reported may pass the budget by the last bookkeeping charge).
//! * **Determinism.** The hash maps are used only for lookups, never iterated, so the search
//!   order, the verdict and the explanation depend only on the input.
//! * **Explanation.** The deepest dead end is kept: the ops linearized on the way there, the
//!   state, and the op whose return entry blocked (it had to take effect, and nothing worked).
//!   The prefix is copied incrementally, so keeping it costs time linear in the steps.

use std::fmt;

use crate::human;

/// How many ops an [`Explanation`]'s text lists at most in each list.
pub const MAX_LISTED: usize = 10;

/// A sequential specification: the object as it would behave with one client and no concurrency.
pub trait SeqSpec {
    type State: Clone + Eq + std::hash::Hash + std::fmt::Debug;
    type Input: Clone + std::fmt::Debug;
    type Output: Clone + std::fmt::Debug + PartialEq;
    fn init(&self) -> Self::State;
    /// Apply `input` in `state`. `output` is None when the op's return is unknown (a pending or
    /// timed-out op): then any output is acceptable. Returns the next state if the observed
    /// output is what the sequential spec would return, else None.
    fn step(
        &self,
        state: &Self::State,
        input: &Self::Input,
        output: Option<&Self::Output>,
    ) -> Option<Self::State>;

    /// Optional hint, for speed only: `true` promises that `input` never changes the state
    /// (`step` returns `None` or the same state), e.g. a read. Histories with many pending ops
    /// are checked faster with it. The default, `false`, is always correct.
    fn read_only(&self, input: &Self::Input) -> bool {
        let _ = input;
        false
    }

    /// Optional hint, for speed only: `true` promises that whenever `step` accepts `input` (with
    /// any given output, or none), the state it returns does not depend on the state before,
    /// e.g. a blind write. The default, `false`, is always correct.
    fn overwrites(&self, input: &Self::Input) -> bool {
        let _ = input;
        false
    }
}

/// One client operation as the client saw it.
#[derive(Clone, Debug)]
pub struct Operation<I, O> {
    /// Caller's op id, used in explanations.
    pub id: u64,
    pub client: u32,
    pub call_ns: u64,
    /// `None` = pending forever (return time +infinity).
    pub return_ns: Option<u64>,
    pub input: I,
    /// `None` = unknown (pending / timed out).
    pub output: Option<O>,
}

/// The operation type a spec `S` checks.
pub type SpecOperation<S> = Operation<<S as SeqSpec>::Input, <S as SeqSpec>::Output>;

/// The outcome of a check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Linearizable,
    NotLinearizable(Explanation),
    /// The search used up its step budget without deciding.
    Unknown {
        steps: u64,
    },
}

impl Verdict {
    pub fn is_linearizable(&self) -> bool {
        matches!(self, Verdict::Linearizable)
    }

    /// The ops a failed search names (the one it got stuck on, then the candidates it
    /// tried), for reports; empty otherwise.
    pub fn named_ops(&self) -> Vec<u64> {
        match self {
            Verdict::NotLinearizable(e) => std::iter::once(e.stuck.id)
                .chain(e.candidates.iter().map(|c| c.op.id))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Why the search gave up, in words, with the setting that raises its budget.
    pub fn gave_up(steps: u64) -> String {
        format!(
            "the linearizability search gave up after {steps} steps (raise [limits] checker_budget)"
        )
    }
}

/// One operation, rendered for a report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpSummary {
    pub id: u64,
    pub client: u32,
    pub call_ns: u64,
    pub return_ns: Option<u64>,
    /// `Debug` text of the input.
    pub input: String,
    /// `Debug` text of the observed output; `None` when unknown.
    pub output: Option<String>,
}

impl fmt::Display for OpSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "op {} (client {}, {} -> {}, called {}, returned {})",
            self.id,
            self.client,
            self.input,
            self.output.as_deref().unwrap_or("unknown output"),
            human::ns(self.call_ns),
            human::opt_ns(self.return_ns),
        )
    }
}

/// An op that could have been linearized next at the point where the search got stuck.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub op: OpSummary,
    /// `false`: the spec rejects the op's observed output in that state. `true`: the spec allows
    /// it, but every order of the remaining ops after it fails.
    pub allowed_by_spec: bool,
}

/// Why a history is not linearizable: the deepest point the search reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explanation {
    /// The key whose sub-history failed, as `Debug` text (set by
    /// [`crate::partition::check_partitioned`]; `None` from [`check`]).
    pub key: Option<String>,
    /// The op that could not be linearized: it had to take effect before it returned, and no
    /// order of the ops that could go first worked.
    pub stuck: OpSummary,
    /// `Debug` text of the spec state after the longest linearizable prefix, i.e. the state in
    /// which `stuck` (and the other candidates) had to go next.
    pub state_before: String,
    /// Op ids of the longest linearizable prefix found, in the order that worked (complete; the
    /// `Display` text shows only the last [`MAX_LISTED`]).
    pub prefix: Vec<u64>,
    /// The ops that could have gone next at that point, at most [`MAX_LISTED`]: completed ops
    /// in call order (`stuck` among them unless there are more), then pending ops in call order.
    pub candidates: Vec<Candidate>,
    /// How many candidates there were in all.
    pub candidates_total: usize,
    /// Search steps used.
    pub steps: u64,
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(key) = &self.key {
            write!(f, "key {key}: ")?;
        }
        write!(
            f,
            "not linearizable: {} could not be linearized; it had to take effect before it \
             returned, but no order of the ops that could go next is allowed by the sequential \
             spec. ",
            self.stuck
        )?;
        if self.prefix.is_empty() {
            write!(
                f,
                "No op could be linearized first; the initial state is {}. ",
                self.state_before
            )?;
        } else {
            let skip = self.prefix.len().saturating_sub(MAX_LISTED);
            let listed: Vec<String> = self.prefix[skip..]
                .iter()
                .map(|id| format!("op {id}"))
                .collect();
            if skip == 0 {
                write!(
                    f,
                    "The longest linearizable prefix found has {}, in order: {}. ",
                    plural(self.prefix.len(), "op"),
                    listed.join(", ")
                )?;
            } else {
                write!(
                    f,
                    "The longest linearizable prefix found has {}; the last {}, in order: {}. ",
                    plural(self.prefix.len(), "op"),
                    listed.len(),
                    listed.join(", ")
                )?;
            }
            write!(f, "The state after that prefix is {}. ", self.state_before)?;
        }
        write!(
            f,
            "Ops that could go next ({} of {}):",
            self.candidates.len(),
            self.candidates_total
        )?;
        let (pending, completed): (Vec<&Candidate>, Vec<&Candidate>) = self
            .candidates
            .iter()
            .partition(|c| c.op.return_ns.is_none());
        for (i, c) in completed.iter().enumerate() {
            let sep = if i == 0 { " " } else { "; " };
            let why = if c.allowed_by_spec {
                "allowed by the spec, but every order after it fails"
            } else {
                "rejected, its output is not what the spec returns in that state"
            };
            write!(f, "{sep}{}: {why}", c.op)?;
        }
        if !pending.is_empty() {
            let ids: Vec<String> = pending.iter().map(|c| format!("op {}", c.op.id)).collect();
            let sep = if completed.is_empty() { " " } else { "; " };
            write!(
                f,
                "{sep}pending (never returned) {}, which may take effect or not, but no order \
                 with them works either",
                ids.join(", ")
            )?;
        }
        write!(f, ". The search took {}.", plural_u64(self.steps, "step"))
    }
}

impl std::error::Error for Explanation {}

fn plural(n: usize, what: &str) -> String {
    plural_u64(n as u64, what)
}

fn plural_u64(n: u64, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// Checks one object's history against `spec`, spending about `budget_steps` search steps
/// (the last bookkeeping charge may take it a little past).
///
/// A step is one attempt to linearize a candidate op or one backtrack. Returns
/// [`Verdict::Unknown`] when the budget runs out, so the call always terminates.
pub fn check<S: SeqSpec>(
    spec: &S,
    ops: &[Operation<S::Input, S::Output>],
    budget_steps: u64,
) -> Verdict {
    Search::new(spec, ops).run(budget_steps)
}

/// Lowe's memo of configurations already explored, keyed by (completed ops linearized, in run
/// form; spec state). The value lists the sets of pending ops linearized (sorted pending
/// indices) with which that key was explored; none of them is a subset of another.
#[allow(clippy::disallowed_types)]
type Memo<St> = std::collections::HashMap<(Box<[u32]>, St), Vec<Box<[u32]>>>; // determinism: ok — membership only, never iterated (looked up by key)

/// Cache for [`Search::chained`]: (state, pending candidates) → pending candidates observed by
/// another pending candidate.
#[allow(clippy::disallowed_types)]
type ChainMap<St> = std::collections::HashMap<(St, Box<[u32]>), std::rc::Rc<[u32]>>; // determinism: ok — membership only, never iterated (looked up by key)

/// Working out which pending ops are worth trying costs step evaluations outside the search
/// proper; every this many of them count as one search step against the budget.
const EVALS_PER_STEP: u64 = 64;

/// How many op numbers [`ChainCache`] may hold before it is emptied.
const CHAIN_CACHE_LIMIT: usize = 1 << 24;

struct ChainCache<St> {
    map: ChainMap<St>,
    /// Op numbers held, roughly.
    size: usize,
}

impl<St> Default for ChainCache<St> {
    fn default() -> Self {
        ChainCache {
            map: ChainMap::default(),
            size: 0,
        }
    }
}

/// The second pass over a configuration's candidates.
struct SecondPass<St> {
    /// Pending ops worth linearizing here: call node and the state after it.
    worth: Vec<(u32, St)>,
    /// Next one to try.
    at: usize,
    /// The first return entry in the list.
    window_end: u32,
}

/// Whether sorted `a` is a subset of sorted `b`.
fn is_subset(a: &[u32], b: &[u32]) -> bool {
    let mut b = b.iter();
    a.iter().all(|x| b.any(|y| y == x))
}

/// Records the configuration (`completed`, `pending`, `state`) as explored. Returns false if it
/// is covered by one explored before: same completed ops and state, and a subset of its pending
/// ops (fewer pending ops linearized leaves at least as many ways to go on).
fn memo_insert<St: Clone + Eq + std::hash::Hash>(
    memo: &mut Memo<St>,
    completed: &Bitset,
    pending: &[u32],
    state: &St,
) -> bool {
    let mut q: Box<[u32]> = pending.into();
    q.sort_unstable();
    match memo.entry((completed.runs(), state.clone())) {
        std::collections::hash_map::Entry::Vacant(v) => {
            v.insert(vec![q]);
            true
        }
        std::collections::hash_map::Entry::Occupied(mut o) => {
            let seen = o.get_mut();
            if seen.iter().any(|s| is_subset(s, &q)) {
                return false;
            }
            seen.retain(|s| !is_subset(&q, s));
            seen.push(q);
            true
        }
    }
}

/// "No node": end of the linked list, or a pending op's missing return entry.
const NIL: u32 = u32::MAX;
/// Head sentinel of the list of completed ops' entries (calls and returns).
const HEAD: u32 = 0;
/// Head sentinel of the list of pending ops' call entries.
const PENDING_HEAD: u32 = 1;

/// A set of op numbers.
struct Bitset {
    words: Vec<u64>,
}

impl Bitset {
    fn new(bits: usize) -> Self {
        Bitset {
            words: vec![0; bits.div_ceil(64)],
        }
    }

    fn set(&mut self, i: u32) {
        self.words[(i / 64) as usize] |= 1 << (i % 64);
    }

    fn clear(&mut self, i: u32) {
        self.words[(i / 64) as usize] &= !(1 << (i % 64));
    }

    /// Canonical run-length form: the positions `i` where bit `i` differs from bit `i - 1`
    /// (bit `-1` taken as 0). Two sets are equal iff their run forms are.
    fn runs(&self) -> Box<[u32]> {
        let mut out = Vec::new();
        let mut carry = 0u64;
        for (wi, &w) in self.words.iter().enumerate() {
            let mut changes = w ^ ((w << 1) | carry);
            carry = w >> 63;
            while changes != 0 {
                out.push(wi as u32 * 64 + changes.trailing_zeros());
                changes &= changes - 1;
            }
        }
        out.into_boxed_slice()
    }
}

/// The deepest dead end seen so far, kept for the explanation.
struct Deepest<St> {
    /// Op numbers of the linearized prefix, in order.
    prefix: Vec<u32>,
    state: St,
    /// Op number whose return entry stopped the search.
    stuck: u32,
    /// Op numbers of the candidate calls (at most `MAX_LISTED`).
    candidates: Vec<u32>,
    candidates_total: usize,
}

struct Search<'a, S: SeqSpec> {
    spec: &'a S,
    ops: &'a [Operation<S::Input, S::Output>],
    /// `order[k]` = index into `ops` of the op numbered `k` (ops numbered in call order).
    order: Vec<usize>,
    // The doubly linked list of entries; nodes `HEAD` and `PENDING_HEAD` are sentinels.
    next: Vec<u32>,
    prev: Vec<u32>,
    /// Op number of each node (unused for the head).
    node_op: Vec<u32>,
    /// Whether each node is a call entry (false for return entries and the head).
    node_is_call: Vec<bool>,
    /// Return node of each op, `NIL` for pending ops.
    ret_node: Vec<u32>,
    /// Each op's index among the completed ops, or among the pending ops, in call order.
    class_index: Vec<u32>,
    /// Completed ops (ops with a return entry).
    completed: usize,
}

impl<'a, S: SeqSpec> Search<'a, S> {
    fn new(spec: &'a S, ops: &'a [Operation<S::Input, S::Output>]) -> Self {
        assert!(
            ops.len() < (u32::MAX / 2) as usize,
            "history too large for the linearizability checker"
        );
        let mut order: Vec<usize> = (0..ops.len()).collect();
        order.sort_by_key(|&i| (ops[i].call_ns, i));

        // (time, 0 = call / 1 = return, op number): all keys distinct, so the order is total.
        let mut events: Vec<(u64, u8, u32)> = Vec::with_capacity(2 * ops.len());
        let mut completed = 0;
        let mut pending = 0;
        let mut class_index = Vec::with_capacity(ops.len());
        for (k, &i) in order.iter().enumerate() {
            let op = &ops[i];
            events.push((op.call_ns, 0, k as u32));
            if let Some(r) = op.return_ns {
                events.push((r.max(op.call_ns), 1, k as u32));
                class_index.push(completed);
                completed += 1;
            } else {
                class_index.push(pending);
                pending += 1;
            }
        }
        events.sort_unstable();

        // Two lists threaded through the same arrays, both in time order: the completed ops'
        // calls and returns, and the pending ops' calls. Node numbers follow time order.
        let nodes = events.len() + 2;
        let mut next = vec![NIL; nodes];
        let mut prev = vec![NIL; nodes];
        let mut node_op = vec![NIL; nodes];
        let mut node_is_call = vec![false; nodes];
        let mut ret_node = vec![NIL; ops.len()];
        let mut tails = [HEAD, PENDING_HEAD];
        for (j, &(_, kind, k)) in events.iter().enumerate() {
            let node = (j + 2) as u32;
            let is_pending = ops[order[k as usize]].return_ns.is_none();
            let tail = &mut tails[is_pending as usize];
            next[*tail as usize] = node;
            prev[node as usize] = *tail;
            *tail = node;
            node_op[node as usize] = k;
            node_is_call[node as usize] = kind == 0;
            if kind == 1 {
                ret_node[k as usize] = node;
            }
        }
        Search {
            spec,
            ops,
            order,
            next,
            prev,
            node_op,
            node_is_call,
            ret_node,
            class_index,
            completed: completed as usize,
        }
    }

    fn op(&self, k: u32) -> &'a Operation<S::Input, S::Output> {
        &self.ops[self.order[k as usize]]
    }

    fn unlink(&mut self, x: u32) {
        let (p, n) = (self.prev[x as usize], self.next[x as usize]);
        self.next[p as usize] = n;
        if n != NIL {
            self.prev[n as usize] = p;
        }
    }

    /// Puts back a node removed by `unlink`; nodes must be restored in reverse removal order.
    fn relink(&mut self, x: u32) {
        let (p, n) = (self.prev[x as usize], self.next[x as usize]);
        self.next[p as usize] = x;
        if n != NIL {
            self.prev[n as usize] = x;
        }
    }

    /// Removes an op's call entry and its return entry (if any).
    fn lift(&mut self, call: u32) {
        let ret = self.ret_node[self.node_op[call as usize] as usize];
        self.unlink(call);
        if ret != NIL {
            self.unlink(ret);
        }
    }

    fn unlift(&mut self, call: u32) {
        let ret = self.ret_node[self.node_op[call as usize] as usize];
        if ret != NIL {
            self.relink(ret);
        }
        self.relink(call);
    }

    fn is_pending(&self, k: u32) -> bool {
        self.ret_node[k as usize] == NIL
    }

    fn run(mut self, budget: u64) -> Verdict {
        let spec = self.spec;
        let mut state = spec.init();
        // Completed ops linearized so far (by completed index), and pending ones (by pending
        // index, in the order they were linearized).
        let mut linearized = Bitset::new(self.completed);
        let mut pending_in: Vec<u32> = Vec::new();
        let mut memo: Memo<S::State> = Memo::default();
        let mut chain_cache = ChainCache::default();
        // Call node of each linearized op and the state before it.
        let mut stack: Vec<(u32, S::State)> = Vec::new();
        let mut remaining = self.completed;
        let mut steps = 0u64;
        let mut deepest: Option<Deepest<S::State>> = None;
        // Lowest stack depth since `deepest` was last recorded (see `record`).
        let mut low_water = 0usize;
        // First pass over a configuration's candidates: a walk along the list of completed
        // ops' entries up to the first return. Second pass: the pending ops worth inserting
        // there, worked out once.
        let mut entry = self.next[HEAD as usize];
        let mut second: Option<SecondPass<S::State>> = None;

        loop {
            if remaining == 0 {
                return Verdict::Linearizable;
            }
            let Some(pass) = &mut second else {
                // While a completed op is unlinearized its return entry is in the list, and the
                // walk stops at the first return entry, so `entry` is a real node here.
                debug_assert_ne!(entry, NIL);
                if !self.node_is_call[entry as usize] {
                    // End of the window: on to the pending ops.
                    let (pass, work) = self.second_pass(&state, entry, HEAD, &mut chain_cache);
                    steps = steps.saturating_add(work / EVALS_PER_STEP);
                    second = Some(pass);
                    continue;
                }
                let k = self.node_op[entry as usize];
                debug_assert!(!self.is_pending(k), "pending ops have a list of their own");
                if steps >= budget {
                    return Verdict::Unknown { steps };
                }
                steps += 1;
                let op = self.op(k);
                if let Some(next_state) = spec.step(&state, &op.input, op.output.as_ref()) {
                    let idx = self.class_index[k as usize];
                    linearized.set(idx);
                    if memo_insert(&mut memo, &linearized, &pending_in, &next_state) {
                        stack.push((entry, std::mem::replace(&mut state, next_state)));
                        self.lift(entry);
                        remaining -= 1;
                        entry = self.next[HEAD as usize];
                        continue;
                    }
                    linearized.clear(idx);
                }
                entry = self.next[entry as usize];
                continue;
            };
            if steps >= budget {
                return Verdict::Unknown { steps };
            }
            steps += 1;
            if let Some((call, next_state)) = pass.worth.get(pass.at).cloned() {
                pass.at += 1;
                let k = self.node_op[call as usize];
                pending_in.push(self.class_index[k as usize]);
                if memo_insert(&mut memo, &linearized, &pending_in, &next_state) {
                    stack.push((call, std::mem::replace(&mut state, next_state)));
                    self.lift(call);
                    entry = self.next[HEAD as usize];
                    second = None;
                } else {
                    pending_in.pop();
                }
                continue;
            }
            // Dead end: the earliest-returning unlinearized op must already have taken effect,
            // and no candidate led anywhere.
            let window_end = pass.window_end;
            let deeper = match &deepest {
                None => true,
                Some(d) => stack.len() > d.prefix.len(),
            };
            if deeper {
                self.record(&mut deepest, &stack, low_water, &state, window_end);
                low_water = stack.len();
            }
            let Some((call, before)) = stack.pop() else {
                let d = deepest.expect("a dead end was just recorded");
                return Verdict::NotLinearizable(self.explain(d, steps));
            };
            low_water = low_water.min(stack.len());
            let k = self.node_op[call as usize];
            state = before;
            self.unlift(call);
            if self.is_pending(k) {
                pending_in.pop();
                // Back in this configuration's second pass, after the op just undone.
                let end = self.window_end();
                let (pass, work) = self.second_pass(&state, end, call, &mut chain_cache);
                steps = steps.saturating_add(work / EVALS_PER_STEP);
                second = Some(pass);
            } else {
                linearized.clear(self.class_index[k as usize]);
                remaining += 1;
                entry = self.next[call as usize];
                second = None;
            }
        }
    }

    /// The first return entry in the list (the end of the candidates' window).
    fn window_end(&self) -> u32 {
        let mut x = self.next[HEAD as usize];
        while x != NIL && self.node_is_call[x as usize] {
            x = self.next[x as usize];
        }
        x
    }

    /// Works out which pending candidates are worth linearizing next in `state`, in list order,
    /// keeping those whose call node comes after `after` (node numbers follow list order).
    ///
    /// A pending op `p` is worth it only if it changes the state and some other candidate `x`,
    /// applied right after it, is allowed and neither absorbs it (reaches the state `x` alone
    /// would) nor commutes with it (`x` then `p` reaches the same state), nor is a pending op
    /// that changes nothing. Otherwise any success that linearizes `p` here also succeeds with
    /// `p` moved later or left out (see the module docs). Checking pending `x` against pending
    /// `p` costs a step evaluation per pair, so that part is cached by state and pending
    /// candidates, which change far less often than the completed ones.
    ///
    /// Also returns the number of step evaluations spent, for the budget.
    fn second_pass(
        &self,
        state: &S::State,
        window_end: u32,
        after: u32,
        chain_cache: &mut ChainCache<S::State>,
    ) -> (SecondPass<S::State>, u64) {
        let mut work = 0u64;
        // Pending candidates that could change the state (read-only ones never can).
        let mut pending: Vec<u32> = Vec::new();
        let mut x = self.next[PENDING_HEAD as usize];
        while x != NIL && x < window_end {
            if !self
                .spec
                .read_only(&self.op(self.node_op[x as usize]).input)
            {
                pending.push(x);
            }
            x = self.next[x as usize];
        }
        let mut worth = Vec::new();
        if pending.iter().all(|&p| p <= after) {
            let pass = SecondPass {
                worth,
                at: 0,
                window_end,
            };
            return (pass, work);
        }
        // Completed candidates that could observe a pending op, with their result alone.
        let mut completed: Vec<(u32, Option<S::State>)> = Vec::new();
        let mut x = self.next[HEAD as usize];
        while x != window_end {
            let k = self.node_op[x as usize];
            let op = self.op(k);
            let alone = self.spec.step(state, &op.input, op.output.as_ref());
            work += 1;
            // An overwriting op allowed here absorbs any pending op before it.
            if alone.is_none() || !self.spec.overwrites(&op.input) {
                completed.push((k, alone));
            }
            x = self.next[x as usize];
        }
        let (chained, chain_work) = self.chained(state, &pending, chain_cache);
        work += chain_work;
        for &p in &pending {
            if p <= after {
                continue;
            }
            let k = self.node_op[p as usize];
            let op = self.op(k);
            work += 1;
            let Some(next_state) = self.spec.step(state, &op.input, None) else {
                continue;
            };
            if &next_state == state {
                continue;
            }
            let observed = chained.binary_search(&k).is_ok()
                || completed.iter().any(|(j, alone)| {
                    work += 2;
                    self.observes(*j, alone.as_ref(), k, &next_state)
                });
            if observed {
                worth.push((p, next_state));
            }
        }
        let pass = SecondPass {
            worth,
            at: 0,
            window_end,
        };
        (pass, work)
    }

    /// Whether candidate `j` (whose result in the current state is `alone`), applied right
    /// after pending op `p` took the state to `after_p`, makes `p` matter: allowed, not a
    /// pending no-op, not absorbing `p`, not commuting with `p`.
    fn observes(&self, j: u32, alone: Option<&S::State>, p: u32, after_p: &S::State) -> bool {
        let op = self.op(j);
        let Some(after) = self.spec.step(after_p, &op.input, op.output.as_ref()) else {
            return false;
        };
        if self.is_pending(j) && &after == after_p {
            return false;
        }
        match alone {
            None => true,
            Some(alone) if *alone == after => false,
            Some(alone) => {
                let p_input = &self.op(p).input;
                self.spec.step(alone, p_input, None).as_ref() != Some(&after)
            }
        }
    }

    /// Op numbers (sorted) of the pending candidates (call nodes `pending`) that some other
    /// pending candidate observes, in `state`, and the step evaluations spent. Cached.
    fn chained(
        &self,
        state: &S::State,
        pending: &[u32],
        cache: &mut ChainCache<S::State>,
    ) -> (std::rc::Rc<[u32]>, u64) {
        let ops: Box<[u32]> = pending.iter().map(|&x| self.node_op[x as usize]).collect();
        let key = (state.clone(), ops);
        if let Some(hit) = cache.map.get(&key) {
            return (hit.clone(), 0);
        }
        let ops = &key.1;
        let mut work = ops.len() as u64;
        // Possible observers: an overwriting op allowed here absorbs whatever came before it.
        let observers: Vec<(u32, Option<S::State>)> = ops
            .iter()
            .filter_map(|&j| {
                let input = &self.op(j).input;
                let alone = self.spec.step(state, input, None);
                (alone.is_none() || !self.spec.overwrites(input)).then_some((j, alone))
            })
            .collect();
        let mut found: Vec<u32> = Vec::new();
        if !observers.is_empty() {
            for &p in ops.iter() {
                work += 1;
                let Some(after_p) = self.spec.step(state, &self.op(p).input, None) else {
                    continue;
                };
                if &after_p == state {
                    continue;
                }
                let observed = observers.iter().any(|(j, alone)| {
                    work += 2;
                    *j != p && self.observes(*j, alone.as_ref(), p, &after_p)
                });
                if observed {
                    found.push(p);
                }
            }
        }
        found.sort_unstable();
        let found: std::rc::Rc<[u32]> = found.into();
        // Keep the cache's memory bounded; dropping it only costs recomputation.
        cache.size += ops.len() + found.len() + 1;
        if cache.size > CHAIN_CACHE_LIMIT {
            cache.map.clear();
            cache.size = ops.len() + found.len() + 1;
        }
        cache.map.insert(key, found.clone());
        (found, work)
    }

    /// Records the current dead end as the deepest. The prefix is updated incrementally: the
    /// stack has not dropped below `low_water` since the last record, so the first `low_water`
    /// ops of the recorded prefix are still right and only the rest is copied. The copy is thus
    /// paid for by the pushes since the last record, which keeps the total linear in steps.
    fn record(
        &self,
        deepest: &mut Option<Deepest<S::State>>,
        stack: &[(u32, S::State)],
        low_water: usize,
        state: &S::State,
        stuck_node: u32,
    ) {
        // Candidate calls: the completed ops', then the pending ops', each in time order.
        let mut nodes = Vec::new();
        for head in [HEAD, PENDING_HEAD] {
            let mut x = self.next[head as usize];
            while x != NIL && x < stuck_node && self.node_is_call[x as usize] {
                nodes.push(x);
                x = self.next[x as usize];
            }
        }
        let total = nodes.len();
        let candidates = nodes
            .iter()
            .take(MAX_LISTED)
            .map(|&x| self.node_op[x as usize])
            .collect();
        let stuck = self.node_op[stuck_node as usize];
        let mut prefix = match deepest.take() {
            Some(d) => d.prefix,
            None => Vec::new(),
        };
        prefix.truncate(low_water.min(prefix.len()));
        let from = prefix.len();
        prefix.extend(stack[from..].iter().map(|&(c, _)| self.node_op[c as usize]));
        *deepest = Some(Deepest {
            prefix,
            state: state.clone(),
            stuck,
            candidates,
            candidates_total: total,
        });
    }

    fn summary(&self, k: u32) -> OpSummary {
        let op = self.op(k);
        OpSummary {
            id: op.id,
            client: op.client,
            call_ns: op.call_ns,
            return_ns: op.return_ns,
            input: format!("{:?}", op.input),
            output: op.output.as_ref().map(|o| format!("{o:?}")),
        }
    }

    fn explain(&self, d: Deepest<S::State>, steps: u64) -> Explanation {
        let candidates = d
            .candidates
            .iter()
            .map(|&k| {
                let op = self.op(k);
                Candidate {
                    op: self.summary(k),
                    allowed_by_spec: self
                        .spec
                        .step(&d.state, &op.input, op.output.as_ref())
                        .is_some(),
                }
            })
            .collect();
        Explanation {
            key: None,
            stuck: self.summary(d.stuck),
            state_before: format!("{:?}", d.state),
            prefix: d.prefix.iter().map(|&k| self.op(k).id).collect(),
            candidates,
            candidates_total: d.candidates_total,
            steps,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitset_runs_are_canonical() {
        let mut b = Bitset::new(200);
        assert!(b.runs().is_empty());
        for i in 0..130 {
            b.set(i);
        }
        assert_eq!(&*b.runs(), &[0, 130]);
        b.clear(0);
        b.set(199);
        assert_eq!(&*b.runs(), &[1, 130, 199, 200]);
        b.clear(64);
        assert_eq!(&*b.runs(), &[1, 64, 65, 130, 199, 200]);
        let mut c = Bitset::new(200);
        for i in [199, 1, 2, 3] {
            c.set(i);
        }
        assert_eq!(&*c.runs(), &[1, 4, 199, 200]);
        // Bit 63 and 64 straddle a word boundary.
        let mut d = Bitset::new(128);
        d.set(63);
        assert_eq!(&*d.runs(), &[63, 64]);
        d.set(64);
        assert_eq!(&*d.runs(), &[63, 65]);
    }
}
