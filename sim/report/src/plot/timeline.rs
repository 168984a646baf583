//! The timeline: one lane per node over the whole run. Each lane is coloured by the
//! node's role as its `observe()` reported it (leader, follower, candidate, ...), red
//! while crashed and orange while paused, with the numbers it reported (term, epoch)
//! written in the segment when they fit. Partitions, clock skew, slow links and disk
//! faults are bands along the bottom of the lanes they hit; a red line marks an `always`
//! invariant firing, and a yellow band the window the Lamport diagram zooms into.

use std::collections::BTreeSet;

use plotters::prelude::*;

use super::{font, legend_row, right_mid, role_color, secs, shade_color, svg, text_width, Figure};
use crate::data::RunData;
use crate::focus::Focus;
use crate::windows::{fault_windows, segments, Shade};

/// Lanes drawn at most (the rest are listed as left out).
pub const MAX_LANES: usize = 60;

/// The fields that name an era of the protocol (Raft's term, ZooKeeper's epoch, a view or
/// ballot number), as " term 3": they label a lane's segments.
fn era_label(fields: &[(String, i64)]) -> String {
    fields
        .iter()
        .filter(|(k, _)| matches!(k.as_str(), "term" | "epoch" | "era" | "view" | "ballot"))
        .map(|(k, v)| format!(" {k} {v}"))
        .collect()
}

pub fn timeline(d: &RunData, focus: Option<&Focus>) -> Figure {
    let lanes = d.node_names.len().min(MAX_LANES);
    let end = d.sim_time_ns.max(1);
    let segs = segments(d);
    let windows = fault_windows(d);
    let lane_px = 26u32;
    let (w, h) = (1100u32, 90 + lane_px * lanes as u32 + 40);
    let roles: BTreeSet<&str> = segs
        .iter()
        .filter(|s| s.status != "down")
        .map(|s| s.state.as_str())
        .collect();
    let shades: BTreeSet<Shade> = windows.iter().map(|w| w.shade).collect();
    let svg = svg(w, h, |root| {
        let (top, bottom) = root.split_vertically(h - 40);
        let mut chart = ChartBuilder::on(&top)
            .margin(10)
            .x_label_area_size(32)
            .y_label_area_size(120)
            .build_cartesian_2d(0f64..secs(end), 0f64..lanes.max(1) as f64)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(0)
            .x_desc("virtual time (s)")
            .x_labels(12)
            .draw()?;
        let lane_y = |i: usize| (lanes - i) as f64; // top of lane i
                                                    // Role and status segments, merged where only numbers other than the era (term,
                                                    // epoch, ...) changed.
        let mut merged: Vec<(usize, u64, u64, &str, &str, String)> = Vec::new();
        for s in segs.iter().filter(|s| s.node < lanes) {
            let era = era_label(&s.fields);
            match merged.last_mut() {
                Some(m) if m.0 == s.node && m.3 == s.status && m.4 == s.state && m.5 == era => {
                    m.2 = s.t1
                }
                _ => merged.push((s.node, s.t0, s.t1, &s.status, &s.state, era)),
            }
        }
        chart.draw_series(merged.iter().map(|(node, t0, t1, status, state, _)| {
            let (node, t0, t1, status, state) = (*node, *t0, *t1, *status, *state);
            let c = match status {
                "down" => shade_color(Shade::Crash),
                "paused" => shade_color(Shade::Pause),
                _ => role_color(state),
            };
            Rectangle::new(
                [
                    (secs(t0), lane_y(node) - 0.12),
                    (secs(t1), lane_y(node) - 0.88),
                ],
                c.filled(),
            )
        }))?;
        // Labels inside segments wide enough to hold them; a label that would overlap the
        // previous one on its lane is left out.
        let mut last_end: Vec<i32> = vec![i32::MIN; lanes];
        for (node, t0, t1, status, state, era) in &merged {
            let (x0, _) = chart.backend_coord(&(secs(*t0), 0.0));
            let (x1, y) = chart.backend_coord(&(secs(*t1), lane_y(*node) - 0.5));
            let mut label = if *status == "paused" {
                format!("paused ({state})")
            } else {
                state.to_string()
            };
            label.push_str(era);
            let tw = text_width(&label, 10) + 4;
            if x1 - x0 > tw && x0 > last_end[*node] {
                last_end[*node] = x0 + tw;
                root.draw(&Text::new(label, (x0 + 3, y), super::left_mid(10)))?;
            }
        }
        // Fault windows without a status of their own: bands along the lane's bottom.
        let banded = |s: Shade| !matches!(s, Shade::Crash | Shade::Pause) || d.states.is_empty();
        chart.draw_series(
            windows
                .iter()
                .filter(|w| w.node < lanes && banded(w.shade))
                .map(|w| {
                    let full = matches!(w.shade, Shade::Crash | Shade::Pause);
                    let y0 = lane_y(w.node) - if full { 0.12 } else { 0.62 };
                    Rectangle::new(
                        [(secs(w.t0), y0), (secs(w.t1), lane_y(w.node) - 0.88)],
                        shade_color(w.shade).mix(0.85).filled(),
                    )
                }),
        )?;
        // The zoom window and the violations that fired at an event.
        if let Some(f) = focus {
            chart.draw_series(std::iter::once(Rectangle::new(
                [
                    (secs(f.t0), lanes as f64),
                    (secs(f.t1.max(f.t0 + end / 400)), 0.0),
                ],
                RGBColor(255, 215, 0).mix(0.35).filled(),
            )))?;
        }
        for v in d.violations.iter().filter(|v| v.event.is_some()) {
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(secs(v.at_ns), 0.0), (secs(v.at_ns), lanes as f64)],
                RED.stroke_width(2),
            )))?;
        }
        // Lane names.
        for (i, name) in d.node_names.iter().take(lanes).enumerate() {
            let (x, y) = chart.backend_coord(&(0.0, lane_y(i) - 0.5));
            root.draw(&Text::new(name.clone(), (x - 6, y), right_mid(12)))?;
        }
        if d.node_names.len() > lanes {
            root.draw(&Text::new(
                format!("({} more nodes not drawn)", d.node_names.len() - lanes),
                (10, h as i32 - 50),
                font(11),
            ))?;
        }
        let mut items: Vec<(RGBColor, String)> = roles
            .iter()
            .map(|r| (role_color(r), r.to_string()))
            .collect();
        for s in &shades {
            items.push((shade_color(*s), s.name().to_string()));
        }
        if focus.is_some() {
            items.push((RGBColor(255, 215, 0), "zoomed into below".into()));
        }
        if d.violations.iter().any(|v| v.event.is_some()) {
            items.push((RED, "invariant fired".into()));
        }
        legend_row(&bottom, 10, 20, &items)?;
        Ok(())
    });
    Figure {
        stem: "timeline".into(),
        title: "Timeline: roles and faults".into(),
        svg,
        caption: "One lane per node over the whole run, coloured by the role the node reported \
                  (its term or epoch, when it reports one, is written where it fits); red while crashed, \
                  orange while paused. Bands along a lane's bottom: the node was cut off by a \
                  partition (grey), its clock skewed (purple), its links slow (teal) or its disk \
                  faulty (brown). The yellow band is the window the Lamport diagram shows."
            .into(),
    }
}
