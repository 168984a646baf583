//! The window of virtual time a report zooms into: around the first violation. A history
//! checker (stale read, linearizability) names the operations that show the violation
//! (`Violation::ops`); the window spans the tightest set of them, completed, that any
//! violation gives. An
//! `always` invariant fires at an event; the window ends just after it. Without either,
//! the report zooms into the first stretch of the run that holds a readable number of
//! messages (around the first fault, if there is one).

use crate::data::RunData;

/// Messages a Lamport diagram draws at most; more than this is narrowed, not crammed.
pub const MAX_DRAWN: usize = 300;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Focus {
    pub t0: u64,
    pub t1: u64,
    /// The operations the violation names (highlighted).
    pub ops: Vec<u64>,
    /// The invariant it is about, or "" when the run had no violation.
    pub invariant: String,
    /// Where the window is centred when it must be narrowed.
    pub center: u64,
}

/// The window around the first violation, if the run had one that can be placed in time.
pub fn violation_focus(d: &RunData) -> Option<Focus> {
    let span = |ops: &[u64]| -> Option<(u64, u64, u64)> {
        let picked: Vec<_> = ops
            .iter()
            .filter_map(|id| {
                d.history
                    .iter()
                    .find(|o| o.id == *id && o.complete_ns.is_some())
            })
            .collect();
        let t0 = picked.iter().map(|o| o.invoke_ns).min()?;
        let t1 = picked.iter().filter_map(|o| o.complete_ns).max()?;
        // Centre on the latest-starting op: the read that saw too little, the late one.
        let c = picked.iter().map(|o| o.invoke_ns).max()?;
        Some((t0, t1.max(t0 + 1), c))
    };
    let by_ops = d
        .violations
        .iter()
        .filter_map(|v| {
            let mut ops = v.ops.clone();
            ops.sort_unstable();
            ops.dedup();
            span(&ops).map(|s| (s, ops, v.invariant.clone()))
        })
        .min_by_key(|((t0, t1, _), _, _)| t1 - t0);
    if let Some(((t0, t1, center), ops, invariant)) = by_ops {
        let pad = (t1 - t0) / 8 + 1_000_000;
        return Some(Focus {
            t0: t0.saturating_sub(pad),
            t1: t1.saturating_add(pad).min(d.sim_time_ns.max(t1)),
            ops,
            invariant,
            center,
        });
    }
    let v = d
        .violations
        .iter()
        .filter(|v| v.event.is_some())
        .min_by_key(|v| v.at_ns)?;
    let back = (d.sim_time_ns / 40).clamp(5_000_000, 2_000_000_000);
    Some(Focus {
        t0: v.at_ns.saturating_sub(back),
        t1: v.at_ns.saturating_add(back / 10),
        ops: Vec::new(),
        invariant: v.invariant.clone(),
        center: v.at_ns,
    })
}

/// The window a report zooms into: the violation's, else one that starts at the first
/// fault (or at 0) and spans the first `MAX_DRAWN` messages recorded from there.
pub fn focus(d: &RunData) -> Focus {
    if let Some(f) = violation_focus(d) {
        return f;
    }
    let start = d.faults.first().map(|f| f.at_ns).unwrap_or(0);
    let start = start.saturating_sub(start / 50);
    let mut sent: Vec<u64> = d
        .exact_messages()
        .iter()
        .map(|m| m.sent_ns)
        .filter(|t| *t >= start)
        .collect();
    sent.sort();
    let end = sent
        .get(MAX_DRAWN.saturating_sub(1))
        .or(sent.last())
        .copied()
        .unwrap_or(d.sim_time_ns)
        .max(start + 1);
    Focus {
        t0: start,
        t1: end,
        ops: Vec::new(),
        invariant: String::new(),
        center: start,
    }
}

/// Narrows `f` around its centre until at most `MAX_DRAWN` recorded messages are sent in it.
pub fn narrowed(d: &RunData, f: &Focus) -> Focus {
    let count = |a: u64, b: u64| {
        d.exact_messages()
            .iter()
            .filter(|m| (a..=b).contains(&m.sent_ns))
            .count()
    };
    let (mut a, mut b) = (f.t0, f.t1);
    let c = f.center.clamp(a, b);
    while count(a, b) > MAX_DRAWN && b - a > 2 {
        // Two thirds as wide, the centre three quarters of the way in (the cause comes
        // before the effect), inside the original window.
        let w = (b - a) * 2 / 3;
        let (lo, hi) = (f.t0, f.t1);
        a = c.saturating_sub(w * 3 / 4).max(lo);
        b = (a + w).min(hi);
        a = b.saturating_sub(w).max(lo);
    }
    Focus {
        t0: a,
        t1: b.max(a + 1),
        ..f.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{MessageData, OpData, ViolationData};

    fn op(id: u64, invoke_ns: u64, complete_ns: u64) -> OpData {
        OpData {
            id,
            client: 0,
            invoke_ns,
            complete_ns: Some(complete_ns),
            outcome: "ok".into(),
            call: "Read { key: 0 }".into(),
            ret: None,
            applied: false,
        }
    }

    #[test]
    fn window_spans_the_named_ops_and_narrows_to_a_readable_count() {
        let mut d = RunData {
            sim_time_ns: 10_000_000_000,
            history: vec![
                op(1, 100_000_000, 200_000_000),
                op(2, 300_000_000, 400_000_000),
            ],
            violations: vec![ViolationData {
                invariant: "stale-read".into(),
                class: "safety".into(),
                at_ns: 10_000_000_000,
                event: None,
                nodes: vec![],
                detail: "read op 2 returned what op 1 overwrote".into(),
                ops: vec![2, 1, 2],
            }],
            ..Default::default()
        };
        let f = focus(&d);
        assert!(
            f.t0 < 100_000_000 && f.t1 > 400_000_000 && f.t1 < 500_000_000,
            "{f:?}"
        );
        assert_eq!(f.ops, vec![1, 2]);
        assert_eq!(f.center, 300_000_000);
        d.messages = (0..10_000u64)
            .map(|i| MessageData {
                sent_ns: i * 100_000,
                from: 0,
                to: 1,
                delivered_ns: None,
                summary: String::new(),
            })
            .collect();
        let n = narrowed(&d, &f);
        let inside = d
            .messages
            .iter()
            .filter(|m| (n.t0..=n.t1).contains(&m.sent_ns))
            .count();
        assert!(
            inside <= MAX_DRAWN && inside > MAX_DRAWN / 3,
            "{inside} in {n:?}"
        );
        assert!((n.t0..=n.t1).contains(&300_000_000));
    }
}
