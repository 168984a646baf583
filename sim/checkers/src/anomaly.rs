//! Named anomalies of a single register, for reports a person can read.
//!
//! The linearizability checker ([`crate::linearizability`], Wing & Gong 1993 with Lowe 2017's
//! memo, after Porcupine, anishathalye/porcupine) says *whether* a history is linearizable and
//! where its search got stuck. When it is not, the cause is usually one of a few classic
//! patterns, and naming the pattern with the ops involved is a much clearer report. This module
//! finds them directly, without a search, in a register history where every write writes a
//! distinct value (the dsim workloads guarantee it), so each read can be tied to the one write
//! it observed:
//!
//! * [`AnomalyKind::StaleRead`]: a read returned a value that had certainly been overwritten
//!   before the read began.
//! * [`AnomalyKind::NewOldInversion`]: a read returned an older value than a read that finished
//!   before it began.
//! * [`AnomalyKind::PhantomRead`]: a read returned a value that no write wrote.
//!
//! "Certainly" means in real time, from call and return times alone. Every comparison is strict,
//! so ops that touch at the same nanosecond count as concurrent (the conservative choice, as in
//! the checker). A write that was not acknowledged (`ok == false`) may take effect at any time
//! after its call, so its return time counts as +infinity whatever `return_ns` says; such a
//! write never "certainly precedes" anything. A value written by more than one write cannot be
//! tied to one write, so reads of it are skipped. The anomalies are sufficient for a violation,
//! not necessary: a history with none may still be non-linearizable.
//!
//! Cost: O(n log n) in the number of ops (sorting, prefix maxima and binary searches).

use std::collections::BTreeMap;

use crate::human;

/// At most this many anomalies of each kind are returned.
pub const MAX_PER_KIND: usize = 20;

/// One operation on the register.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisterOp {
    pub id: u64,
    pub client: u32,
    pub call_ns: u64,
    /// `None`: never returned.
    pub return_ns: Option<u64>,
    pub kind: RegOpKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegOpKind {
    /// `ok`: the write was acknowledged.
    Write { value: i64, ok: bool },
    /// Only completed, successful reads are passed. `None`: the initial value (never written).
    Read { value: Option<i64> },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AnomalyKind {
    StaleRead,
    NewOldInversion,
    /// A read returned a value that no write wrote.
    PhantomRead,
}

/// One anomaly. `ops[0]` is always the read at fault; the rest are the ops that prove it
/// (stale read: `[R, W2, Wv]`; new/old inversion: `[R2, R1, W1, W2]`, without `W2` when
/// `R2` read the initial value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Anomaly {
    pub kind: AnomalyKind,
    pub ops: Vec<u64>,
    pub detail: String,
}

/// A write, as far as real-time ordering goes.
#[derive(Clone, Copy)]
struct Write {
    id: u64,
    value: i64,
    call: u64,
    /// Return time if acknowledged; `None` (+infinity) otherwise.
    acked_return: Option<u64>,
}

/// Which write a read observed.
enum Source {
    Initial,
    Write(Write),
    /// A value no write wrote.
    Phantom,
    /// A value several writes wrote: cannot tell which.
    Ambiguous,
}

struct Read<'a> {
    op: &'a RegisterOp,
    value: Option<i64>,
}

fn writes_by_value(ops: &[RegisterOp]) -> BTreeMap<i64, Option<Write>> {
    let mut map: BTreeMap<i64, Option<Write>> = BTreeMap::new();
    for op in ops {
        if let RegOpKind::Write { value, ok } = op.kind {
            let w = Write {
                id: op.id,
                value,
                call: op.call_ns,
                acked_return: if ok { op.return_ns } else { None },
            };
            map.entry(value)
                .and_modify(|slot| *slot = None)
                .or_insert(Some(w));
        }
    }
    map
}

fn source(writes: &BTreeMap<i64, Option<Write>>, value: Option<i64>) -> Source {
    match value {
        None => Source::Initial,
        Some(v) => match writes.get(&v) {
            None => Source::Phantom,
            Some(None) => Source::Ambiguous,
            Some(Some(w)) => Source::Write(*w),
        },
    }
}

fn reads(ops: &[RegisterOp]) -> Vec<Read<'_>> {
    ops.iter()
        .filter_map(|op| match op.kind {
            RegOpKind::Read { value } => Some(Read { op, value }),
            RegOpKind::Write { .. } => None,
        })
        .collect()
}

fn describe_read(op: &RegisterOp) -> String {
    format!(
        "read op {} by client {} at {}",
        op.id,
        op.client,
        human::ns(op.call_ns)
    )
}

fn describe_value(v: Option<i64>) -> String {
    match v {
        Some(v) => v.to_string(),
        None => "nothing (the initial value)".to_string(),
    }
}

/// For items sorted by a key, `best[j]` = index (among the first `j + 1`) of the item with the
/// largest `score`, the first one on ties.
fn prefix_argmax<T>(items: &[T], score: impl Fn(&T) -> u64) -> Vec<usize> {
    let mut best = Vec::with_capacity(items.len());
    for (j, item) in items.iter().enumerate() {
        let b = match best.last() {
            Some(&b) if score(&items[b]) >= score(item) => b,
            _ => j,
        };
        best.push(b);
    }
    best
}

/// Sorts by the read at fault and keeps at most [`MAX_PER_KIND`] of each kind.
fn finish(mut found: Vec<Anomaly>) -> Vec<Anomaly> {
    found.sort_by(|a, b| (a.ops[0], a.kind).cmp(&(b.ops[0], b.kind)));
    let mut per_kind: BTreeMap<AnomalyKind, usize> = BTreeMap::new();
    found.retain(|a| {
        let n = per_kind.entry(a.kind).or_insert(0);
        *n += 1;
        *n <= MAX_PER_KIND
    });
    found
}

/// Stale reads, and phantom reads (values no write wrote), ordered by the read's op id, at most
/// [`MAX_PER_KIND`] of each kind.
///
/// A read R that returned v, written by Wv (or the initial value), is stale when some
/// acknowledged write W2 finished before R was called and started after Wv had finished (after
/// nothing, for the initial value): Wv < W2 < R in real time, so v was certainly overwritten
/// when R began. `ops[0]` is R, `ops[1]` is W2, and `ops[2]` is Wv unless v is the initial value.
pub fn stale_reads(ops: &[RegisterOp]) -> Vec<Anomaly> {
    let writes = writes_by_value(ops);
    // Acknowledged writes by return time, with the latest-called one among each prefix.
    let mut acked: Vec<(u64, Write)> = writes
        .values()
        .flatten()
        .filter_map(|w| w.acked_return.map(|r| (r, *w)))
        .collect();
    acked.sort_by_key(|&(r, w)| (r, w.id));
    let latest_call = prefix_argmax(&acked, |&(_, w)| w.call);

    let mut found = Vec::new();
    for read in reads(ops) {
        let op = read.op;
        let src = source(&writes, read.value);
        if let Source::Phantom = src {
            found.push(Anomaly {
                kind: AnomalyKind::PhantomRead,
                ops: vec![op.id],
                detail: format!(
                    "{} returned {}, a value no write wrote",
                    describe_read(op),
                    describe_value(read.value)
                ),
            });
            continue;
        }
        // Acknowledged writes that finished strictly before the read was called.
        let before = acked.partition_point(|&(r, _)| r < op.call_ns);
        if before == 0 {
            continue;
        }
        let (w2_ret, w2) = acked[latest_call[before - 1]];
        match src {
            Source::Initial => found.push(Anomaly {
                kind: AnomalyKind::StaleRead,
                ops: vec![op.id, w2.id],
                detail: format!(
                    "{} returned {}, but write op {} of {} had finished at {}: the read is stale",
                    describe_read(op),
                    describe_value(None),
                    w2.id,
                    w2.value,
                    human::ns(w2_ret)
                ),
            }),
            Source::Write(wv) => {
                if let Some(wv_ret) = wv.acked_return {
                    if w2.call > wv_ret {
                        found.push(Anomaly {
                            kind: AnomalyKind::StaleRead,
                            ops: vec![op.id, w2.id, wv.id],
                            detail: format!(
                                "{} returned {}, but write op {} of {} finished at {}, after \
                                 write op {} of {} had finished: the read is stale",
                                describe_read(op),
                                wv.value,
                                w2.id,
                                w2.value,
                                human::ns(w2_ret),
                                wv.id,
                                wv.value
                            ),
                        });
                    }
                }
            }
            Source::Phantom | Source::Ambiguous => {}
        }
    }
    finish(found)
}

/// New/old inversions, ordered by the later read's op id, at most [`MAX_PER_KIND`].
///
/// Reads R1 and R2 with R1 finished before R2 was called, R1 returned v1 written by W1, R2
/// returned v2 written by W2 (or the initial value), and W2 certainly precedes W1 (W2 was
/// acknowledged before W1 was called, or v2 is the initial value): the later read saw an older
/// value. `ops` is `[R2, R1, W1, W2]` (no W2 for the initial value). For each R2 at most one
/// anomaly is reported, naming the R1 whose write started latest.
pub fn new_old_inversions(ops: &[RegisterOp]) -> Vec<Anomaly> {
    let writes = writes_by_value(ops);
    let all_reads = reads(ops);
    // Candidate earlier reads: completed, and tied to a single write. Sorted by return time, with
    // the one whose write was called latest among each prefix.
    let mut earlier: Vec<(u64, &RegisterOp, Write)> = all_reads
        .iter()
        .filter_map(|r| match (r.op.return_ns, source(&writes, r.value)) {
            (Some(ret), Source::Write(w)) => Some((ret, r.op, w)),
            _ => None,
        })
        .collect();
    earlier.sort_by_key(|&(ret, op, _)| (ret, op.id));
    let latest_write = prefix_argmax(&earlier, |&(_, _, w)| w.call);

    let mut found = Vec::new();
    for r2 in &all_reads {
        let w2 = match source(&writes, r2.value) {
            Source::Initial => None,
            Source::Write(w) => match w.acked_return {
                Some(ret) => Some((w, ret)),
                // An unacknowledged write precedes nothing for certain.
                None => continue,
            },
            Source::Phantom | Source::Ambiguous => continue,
        };
        let before = earlier.partition_point(|&(ret, _, _)| ret < r2.op.call_ns);
        if before == 0 {
            continue;
        }
        let (r1_ret, r1, w1) = earlier[latest_write[before - 1]];
        let head = format!(
            "{} returned {}, after {} had returned {} (finished at {})",
            describe_read(r2.op),
            describe_value(r2.value),
            describe_read(r1),
            w1.value,
            human::ns(r1_ret)
        );
        match w2 {
            None => found.push(Anomaly {
                kind: AnomalyKind::NewOldInversion,
                ops: vec![r2.op.id, r1.id, w1.id],
                detail: format!(
                    "{head}, written by write op {}: a later read saw an older value",
                    w1.id
                ),
            }),
            Some((w2, w2_ret)) if w1.call > w2_ret => found.push(Anomaly {
                kind: AnomalyKind::NewOldInversion,
                ops: vec![r2.op.id, r1.id, w1.id, w2.id],
                detail: format!(
                    "{head}; but write op {} of {} finished at {}, before write op {} of {} \
                     started at {}: a later read saw an older value",
                    w2.id,
                    w2.value,
                    human::ns(w2_ret),
                    w1.id,
                    w1.value,
                    human::ns(w1.call)
                ),
            }),
            Some(_) => {}
        }
    }
    finish(found)
}
