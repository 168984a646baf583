//! Time windows drawn on the plots: when each node was crashed, paused, cut off by a
//! partition, skewed (clock jump or drift), slowed or had a disk fault; and each node's
//! role segments (the `observe()` state the engine recorded each time it changed).
//!
//! Crash and pause windows come from the recorded node statuses (exact); the others pair
//! a fault record with the record that ends it ("partition" with "heal" or the heal phase,
//! "clock-jump"/"clock-drift" with "clock-reset", "slow" with "slow-end", "disk" with
//! "disk-heal"). A "heal" that names no nodes ends every open partition window.

use crate::data::RunData;

/// What a shaded window means.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Shade {
    Crash,
    Pause,
    Partition,
    Skew,
    Slow,
    Disk,
}

impl Shade {
    pub const ALL: [Shade; 6] = [
        Shade::Crash,
        Shade::Pause,
        Shade::Partition,
        Shade::Skew,
        Shade::Slow,
        Shade::Disk,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Shade::Crash => "crashed",
            Shade::Pause => "paused",
            Shade::Partition => "cut off (partition)",
            Shade::Skew => "clock skewed",
            Shade::Slow => "slow network",
            Shade::Disk => "disk fault",
        }
    }
    /// Fill colour, RGB.
    pub fn rgb(self) -> (u8, u8, u8) {
        match self {
            Shade::Crash => (214, 51, 51),
            Shade::Pause => (238, 153, 0),
            Shade::Partition => (120, 120, 120),
            Shade::Skew => (140, 80, 200),
            Shade::Slow => (40, 150, 170),
            Shade::Disk => (150, 100, 40),
        }
    }
}

/// One shaded window on one node's lane, [t0, t1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    pub shade: Shade,
    pub node: usize,
    pub t0: u64,
    pub t1: u64,
}

/// One role segment on one node's lane, [t0, t1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    pub node: usize,
    pub t0: u64,
    pub t1: u64,
    /// "up", "down" or "paused".
    pub status: String,
    pub state: String,
    pub fields: Vec<(String, i64)>,
}

/// Each node's status/state segments, in node then time order.
pub fn segments(d: &RunData) -> Vec<Segment> {
    let end = d.sim_time_ns.max(1);
    let mut out = Vec::new();
    for node in 0..d.node_names.len() {
        let recs: Vec<_> = d
            .states
            .iter()
            .filter(|s| s.node as usize == node)
            .collect();
        for (i, s) in recs.iter().enumerate() {
            let t1 = recs.get(i + 1).map(|n| n.at_ns).unwrap_or(end).max(s.at_ns);
            out.push(Segment {
                node,
                t0: s.at_ns,
                t1,
                status: s.status.clone(),
                state: s.state.clone(),
                fields: s.fields.clone(),
            });
        }
    }
    out
}

/// Every fault window, per node, sorted by (node, start).
pub fn fault_windows(d: &RunData) -> Vec<Window> {
    let end = d.sim_time_ns.max(1);
    let mut out = Vec::new();
    // Crash and pause from the recorded statuses, when the run recorded them.
    for s in segments(d) {
        let shade = match s.status.as_str() {
            "down" => Shade::Crash,
            "paused" => Shade::Pause,
            _ => continue,
        };
        if s.t1 > s.t0 {
            out.push(Window {
                shade,
                node: s.node,
                t0: s.t0,
                t1: s.t1,
            });
        }
    }
    let from_statuses = !d.states.is_empty();
    // The rest (and crash/pause when no statuses were recorded) from the fault records.
    let n = d.node_names.len();
    let mut open: Vec<Vec<(Shade, u64)>> = vec![Vec::new(); n];
    let close = |open: &mut Vec<(Shade, u64)>,
                 out: &mut Vec<Window>,
                 node: usize,
                 at: u64,
                 which: &[Shade]| {
        open.retain(|(shade, t0)| {
            if which.contains(shade) {
                out.push(Window {
                    shade: *shade,
                    node,
                    t0: *t0,
                    t1: at.max(*t0),
                });
                false
            } else {
                true
            }
        });
    };
    for f in &d.faults {
        let nodes: Vec<usize> = f.nodes.iter().filter_map(|x| d.node_index(x)).collect();
        let opens = match f.kind.as_str() {
            "crash" if !from_statuses => Some(Shade::Crash),
            "pause" if !from_statuses => Some(Shade::Pause),
            "partition" => Some(Shade::Partition),
            "clock-jump" | "clock-drift" => Some(Shade::Skew),
            "slow" => Some(Shade::Slow),
            "disk" => Some(Shade::Disk),
            _ => None,
        };
        let closes: &[Shade] = match f.kind.as_str() {
            "restart" => &[Shade::Crash],
            "resume" => &[Shade::Pause],
            "heal" => &[Shade::Partition],
            "clock-reset" => &[Shade::Skew],
            "slow-end" => &[Shade::Slow],
            "disk-heal" => &[Shade::Disk],
            "heal-phase" => &[
                Shade::Pause,
                Shade::Partition,
                Shade::Skew,
                Shade::Slow,
                Shade::Disk,
            ],
            _ => &[],
        };
        let everyone = f.nodes.is_empty() && matches!(f.kind.as_str(), "heal" | "heal-phase");
        if !closes.is_empty() {
            let targets: Vec<usize> = if everyone {
                (0..n).collect()
            } else {
                nodes.clone()
            };
            for i in targets {
                close(&mut open[i], &mut out, i, f.at_ns, closes);
            }
        }
        if let Some(shade) = opens {
            for &i in &nodes {
                if !open[i].iter().any(|(s, _)| *s == shade) {
                    open[i].push((shade, f.at_ns));
                }
            }
        }
    }
    for (i, o) in open.iter_mut().enumerate() {
        close(o, &mut out, i, end, &Shade::ALL);
    }
    out.retain(|w| w.t1 > w.t0);
    out.sort_by_key(|w| (w.node, w.t0, w.shade));
    out
}

/// The windows merged across nodes, per shade: when *some* node was in that fault, for
/// shading plots that are not per node (latency, throughput).
pub fn any_node_windows(windows: &[Window]) -> Vec<(Shade, u64, u64)> {
    let mut out = Vec::new();
    for shade in Shade::ALL {
        let mut spans: Vec<(u64, u64)> = windows
            .iter()
            .filter(|w| w.shade == shade)
            .map(|w| (w.t0, w.t1))
            .collect();
        spans.sort();
        let mut cur: Option<(u64, u64)> = None;
        for (a, b) in spans {
            cur = match cur {
                Some((c0, c1)) if a <= c1 => Some((c0, c1.max(b))),
                Some(c) => {
                    out.push((shade, c.0, c.1));
                    Some((a, b))
                }
                None => Some((a, b)),
            };
        }
        if let Some(c) = cur {
            out.push((shade, c.0, c.1));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{FaultData, StateData};

    fn data() -> RunData {
        RunData {
            sim_time_ns: 100,
            node_names: vec!["a".into(), "b".into()],
            ..Default::default()
        }
    }

    fn fault(at_ns: u64, kind: &str, nodes: &[&str]) -> FaultData {
        FaultData {
            at_ns,
            kind: kind.into(),
            nodes: nodes.iter().map(|s| s.to_string()).collect(),
            detail: String::new(),
        }
    }

    #[test]
    fn partition_heal_and_skew_pair_up() {
        let mut d = data();
        d.faults = vec![
            fault(10, "partition", &["b"]),
            fault(20, "clock-jump", &["a"]),
            fault(30, "heal", &[]),
            fault(40, "clock-reset", &["a"]),
            fault(50, "partition", &["a"]),
        ];
        let w = fault_windows(&d);
        assert_eq!(
            w,
            vec![
                Window {
                    shade: Shade::Skew,
                    node: 0,
                    t0: 20,
                    t1: 40
                },
                Window {
                    shade: Shade::Partition,
                    node: 0,
                    t0: 50,
                    t1: 100
                },
                Window {
                    shade: Shade::Partition,
                    node: 1,
                    t0: 10,
                    t1: 30
                },
            ]
        );
    }

    #[test]
    fn crash_windows_come_from_statuses() {
        let mut d = data();
        let st = |at_ns, node, status: &str| StateData {
            at_ns,
            node,
            status: status.into(),
            state: "x".into(),
            fields: vec![],
        };
        d.states = vec![
            st(0, 0, "up"),
            st(0, 1, "up"),
            st(5, 1, "down"),
            st(9, 1, "up"),
        ];
        // A crash record without statuses would open a window to the end; with them it
        // is ignored in favour of the exact statuses.
        d.faults = vec![fault(5, "crash", &["b"])];
        assert_eq!(
            fault_windows(&d),
            vec![Window {
                shade: Shade::Crash,
                node: 1,
                t0: 5,
                t1: 9
            }]
        );
        assert_eq!(
            any_node_windows(&fault_windows(&d)),
            vec![(Shade::Crash, 5, 9)]
        );
    }
}
