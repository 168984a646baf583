//! The client-visible history: what each client asked for and what it was told, in
//! virtual time, as Jepsen records it (invoke, then ok / fail / info).
//!
//! The simulator also knows what clients cannot: whether an operation that timed out
//! reached any replica. Models report that with `Ctx::applied`, and the linearizability
//! checker uses it: a timed-out write that no replica ever applied is dropped instead of
//! being left pending forever, which keeps the search small and the verdict sharp.

use crate::id::NodeId;

/// Identifies one operation across invoke and completion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OpId(pub u64);

/// How an operation ended, in Jepsen's words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// It happened, and `ret` says what it returned.
    Ok,
    /// It certainly did not happen.
    Fail,
    /// The client does not know (a timeout): it may or may not have happened.
    Info,
}

impl Outcome {
    /// Jepsen's word for it.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Fail => "fail",
            Outcome::Info => "info",
        }
    }
}

/// One operation of the history.
#[derive(Clone, Debug)]
pub struct HistoryEntry<C, R> {
    pub id: OpId,
    pub client: NodeId,
    pub call: C,
    pub invoke_ns: u64,
    /// None while the operation is still pending (the run ended first).
    pub complete_ns: Option<u64>,
    pub outcome: Option<Outcome>,
    pub ret: Option<R>,
    /// Some replica applied it (the simulator's knowledge, not the client's).
    pub applied: bool,
}

impl<C, R> HistoryEntry<C, R> {
    /// Completed with `ok`.
    pub fn is_ok(&self) -> bool {
        self.outcome == Some(Outcome::Ok)
    }
    /// Its effect is unknown to the client: timed out or still pending.
    pub fn is_indeterminate(&self) -> bool {
        matches!(self.outcome, None | Some(Outcome::Info))
    }
}

/// The whole history of a run, in invocation order.
#[derive(Clone, Debug)]
pub struct History<C, R> {
    pub ops: Vec<HistoryEntry<C, R>>,
}

impl<C, R> Default for History<C, R> {
    fn default() -> Self {
        History { ops: Vec::new() }
    }
}

impl<C, R> History<C, R> {
    pub fn invoke(&mut self, client: NodeId, call: C, now_ns: u64) -> OpId {
        let id = OpId(self.ops.len() as u64);
        self.ops.push(HistoryEntry {
            id,
            client,
            call,
            invoke_ns: now_ns,
            complete_ns: None,
            outcome: None,
            ret: None,
            applied: false,
        });
        id
    }

    /// Records a completion. A second completion of the same op is ignored: the first
    /// answer is the one the client acted on.
    pub fn complete(&mut self, id: OpId, outcome: Outcome, ret: Option<R>, now_ns: u64) {
        if let Some(e) = self.ops.get_mut(id.0 as usize) {
            if e.complete_ns.is_none() {
                e.complete_ns = Some(now_ns);
                e.outcome = Some(outcome);
                e.ret = ret;
            }
        }
    }

    pub fn mark_applied(&mut self, id: OpId) {
        if let Some(e) = self.ops.get_mut(id.0 as usize) {
            e.applied = true;
        }
    }

    pub fn get(&self, id: OpId) -> Option<&HistoryEntry<C, R>> {
        self.ops.get(id.0 as usize)
    }

    /// The clients that invoked `ops` (op numbers, as checkers name them), sorted, once
    /// each: the nodes a history violation is about.
    pub fn clients_of(&self, ops: impl IntoIterator<Item = u64>) -> Vec<NodeId> {
        let mut out: Vec<NodeId> = ops
            .into_iter()
            .filter_map(|id| self.get(OpId(id)).map(|o| o.client))
            .collect();
        out.sort();
        out.dedup();
        out
    }

    pub fn len(&self) -> usize {
        self.ops.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}
