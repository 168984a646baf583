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
//! * **Pending ops** (`return_ns == None`) have no return entry (their return is at +infinity):
//!   they never force anything, may be linearized anywhere after their call, and may also be left
//!   out altogether (the op never took effect). The search succeeds as soon as every *completed*
//!   op is linearized.
//! * **Unknown outputs** (`output == None`) are passed to [`SeqSpec::step`] as `None`, which
//!   accepts any output. A *timed-out* op should be given `return_ns: None` too, since it may
//!   take effect after the client gave up.
//! * A return time earlier than the call time is treated as equal to the call time.
//! * The set of linearized ops is a bitset (`Vec<u64>`, any size). Ops are numbered in call
//!   order, so in a mostly sequential history the set is a long run of ones followed by a few
//!   scattered bits; the memo stores it run-length encoded (the positions where the bits change),
//!   which keeps each memo entry a few words long even with tens of thousands of ops.
//! * The memo is a hash set used only for membership, never iterated, so the search order, the
//!   verdict and the explanation are deterministic.

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
    /// The ops that could have gone next at that point, in call order, at most [`MAX_LISTED`].
    /// Includes `stuck` when it is among the first [`MAX_LISTED`].
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
        for (i, c) in self.candidates.iter().enumerate() {
            let sep = if i == 0 { " " } else { "; " };
            let why = if c.allowed_by_spec {
                "allowed by the spec, but every order after it fails"
            } else {
                "rejected, its output is not what the spec returns in that state"
            };
            write!(f, "{sep}{}: {why}", c.op)?;
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

/// Checks one object's history against `spec`, spending at most `budget_steps` search steps.
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
type Memo<St> = std::collections::HashMap<(Box<[u32]>, St), Vec<Box<[u32]>>>; // determinism: ok — lookups only, never iterated

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
/// The list's head sentinel.
const HEAD: u32 = 0;

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
    // The doubly linked list of entries; node 0 is the head sentinel.
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

        let nodes = events.len() + 1;
        let mut next = Vec::with_capacity(nodes);
        let mut prev = Vec::with_capacity(nodes);
        let mut node_op = Vec::with_capacity(nodes);
        let mut node_is_call = Vec::with_capacity(nodes);
        let mut ret_node = vec![NIL; ops.len()];
        // Head sentinel.
        next.push(if events.is_empty() { NIL } else { 1 });
        prev.push(NIL);
        node_op.push(NIL);
        node_is_call.push(false);
        for (j, &(_, kind, k)) in events.iter().enumerate() {
            let node = (j + 1) as u32;
            next.push(if j + 1 < events.len() { node + 1 } else { NIL });
            prev.push(node - 1);
            node_op.push(k);
            node_is_call.push(kind == 0);
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
        // Call node of each linearized op and the state before it.
        let mut stack: Vec<(u32, S::State)> = Vec::new();
        let mut remaining = self.completed;
        let mut steps = 0u64;
        let mut deepest: Option<Deepest<S::State>> = None;
        // Lowest stack depth since `deepest` was last recorded (see `record`).
        let mut low_water = 0usize;
        // Where the walk over the candidates is, and which pass it is in: completed ops are
        // tried first, pending ops second (see the module docs).
        let mut entry = self.next[HEAD as usize];
        let mut pending_pass = false;
        let mut c = [0u64; 8];

        loop {
            if remaining == 0 {
                return Verdict::Linearizable;
            }
            // While a completed op is unlinearized its return entry is in the list, and the walk
            // never goes past the first return entry, so `entry` is a real node here.
            debug_assert_ne!(entry, NIL);
            if self.node_is_call[entry as usize] {
                let k = self.node_op[entry as usize];
                let pending = self.is_pending(k);
                if pending != pending_pass {
                    entry = self.next[entry as usize];
                    continue;
                }
                if steps >= budget {
                    return Verdict::Unknown { steps };
                }
                steps += 1;
                if steps % 5_000_000 == 0 { eprintln!("DBG steps={steps} depth={} remaining={remaining} pend={} memo={} p1att,p2att,push1,push2,pop,memorej,stepfail,obsrej={:?}", stack.len(), pending_in.len(), memo.len(), c); }
                c[pending as usize] += 1;
                let op = self.op(k);
                if let Some(next_state) = spec.step(&state, &op.input, op.output.as_ref()) {
                    let idx = self.class_index[k as usize];
                    if !pending
                        || (next_state != state
                            && self.worth_inserting(&state, k, &next_state))
                    {
                        if pending {
                            pending_in.push(idx);
                        } else {
                            linearized.set(idx);
                        }
                        if memo_insert(&mut memo, &linearized, &pending_in, &next_state) {
                            c[2 + pending as usize] += 1;
                            stack.push((entry, std::mem::replace(&mut state, next_state)));
                            self.lift(entry);
                            if !pending {
                                remaining -= 1;
                            }
                            entry = self.next[HEAD as usize];
                            pending_pass = false;
                            continue;
                        }
                        c[5] += 1;
                        if pending {
                            pending_in.pop();
                        } else {
                            linearized.clear(idx);
                        }
                    } else { c[7] += 1; }
                } else { c[6] += 1; }
                entry = self.next[entry as usize];
            } else if !pending_pass {
                // End of the candidates' window: now try the pending ops in it.
                pending_pass = true;
                entry = self.next[HEAD as usize];
            } else {
                // Dead end: the earliest-returning unlinearized op must already have taken
                // effect, and no candidate before it led anywhere.
                if steps >= budget {
                    return Verdict::Unknown { steps };
                }
                steps += 1;
                let deeper = match &deepest {
                    None => true,
                    Some(d) => stack.len() > d.prefix.len(),
                };
                if deeper {
                    self.record(&mut deepest, &stack, low_water, &state, entry);
                    low_water = stack.len();
                }
                let Some((call, before)) = stack.pop() else {
                    let d = deepest.expect("a dead end was just recorded");
                    return Verdict::NotLinearizable(self.explain(d, steps));
                };
                low_water = low_water.min(stack.len());
                c[4] += 1;
                let k = self.node_op[call as usize];
                let pending = self.is_pending(k);
                if pending {
                    pending_in.pop();
                } else {
                    linearized.clear(self.class_index[k as usize]);
                    remaining += 1;
                }
                state = before;
                self.unlift(call);
                entry = self.next[call as usize];
                pending_pass = pending;
            }
        }
    }

    /// Whether it can be worth linearizing pending op `k` now, reaching `next_state` from
    /// `state`: whether some other candidate `x`, applied right after it, is allowed and
    /// * is not a pending op that changes nothing,
    /// * does not absorb it (reach the same state as `x` alone would), and
    /// * does not commute with it (`x` then `k` reaching the same state).
    ///
    /// If no candidate qualifies, any success that linearizes `k` here also succeeds with `k`
    /// moved later or left out, so this configuration need not be entered (see the module docs).
    fn worth_inserting(&self, state: &S::State, k: u32, next_state: &S::State) -> bool {
        let me = self.op(k);
        let mut x = self.next[HEAD as usize];
        while x != NIL && self.node_is_call[x as usize] {
            let j = self.node_op[x as usize];
            x = self.next[x as usize];
            if j == k {
                continue;
            }
            let op = self.op(j);
            let Some(after) = self.spec.step(next_state, &op.input, op.output.as_ref()) else {
                continue;
            };
            if self.is_pending(j) && &after == next_state {
                continue;
            }
            match self.spec.step(state, &op.input, op.output.as_ref()) {
                Some(alone) if alone == after => continue,
                Some(alone) => {
                    if self.spec.step(&alone, &me.input, None).as_ref() == Some(&after) {
                        continue;
                    }
                }
                None => {}
            }
            return true;
        }
        false
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
        let mut candidates = Vec::new();
        let mut total = 0;
        let mut x = self.next[HEAD as usize];
        while x != NIL && self.node_is_call[x as usize] {
            if candidates.len() < MAX_LISTED {
                candidates.push(self.node_op[x as usize]);
            }
            total += 1;
            x = self.next[x as usize];
        }
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
