//! The Lamport (space-time) diagram: one horizontal lane per node, time to the right, and
//! each message an arrow from the moment it was sent on the sender's lane to the moment it
//! was delivered on the receiver's (Lamport 1978, "Time, Clocks, and the Ordering of
//! Events in a Distributed System", fig. 1, turned on its side). A message that never
//! arrived is a dashed red stub ending in a cross. Client operations are bars on their
//! client's lane; the ones the violation names, and the messages their clients sent or
//! received while they ran, are highlighted.
//!
//! A run can send millions of messages: the diagram draws only a window (the one around
//! the first violation; see `focus`), narrowed until it holds at most `MAX_DRAWN`
//! messages. A second figure, the message density, shows where that window sits.

use std::collections::BTreeSet;

use plotters::prelude::*;

use super::{font, left_mid, legend_row, millis, right_mid, secs, svg, Figure};
use crate::data::{MessageData, RunData};
use crate::focus::Focus;

/// Indexes (in `d.messages`) of the messages the diagram draws for `f`, in send order.
pub fn drawn(d: &RunData, f: &Focus) -> Vec<usize> {
    let inside = |t: u64| (f.t0..=f.t1).contains(&t);
    d.exact_messages()
        .iter()
        .enumerate()
        .filter(|(_, m)| inside(m.sent_ns) || m.delivered_ns.is_some_and(inside))
        .map(|(i, _)| i)
        .take(crate::focus::MAX_DRAWN * 2)
        .collect()
}

/// Messages "involved" in the violation: sent or received by the client of a named
/// operation while that operation ran.
pub fn involved(d: &RunData, f: &Focus, drawn: &[usize]) -> BTreeSet<usize> {
    let ops: Vec<_> = d.history.iter().filter(|o| f.ops.contains(&o.id)).collect();
    drawn
        .iter()
        .copied()
        .filter(|&i| {
            let m = &d.exact_messages()[i];
            ops.iter().any(|o| {
                let end = o.complete_ns.unwrap_or(f.t1);
                let during = |t: u64| (o.invoke_ns..=end).contains(&t);
                (m.from == o.client && during(m.sent_ns))
                    || (m.to == o.client && m.delivered_ns.is_some_and(during))
            })
        })
        .collect()
}

/// The lanes: every node when there are few, else the nodes the window's messages and
/// operations touch.
fn lanes(d: &RunData, f: &Focus, drawn: &[usize]) -> Vec<u32> {
    if d.node_names.len() <= 16 {
        return (0..d.node_names.len() as u32).collect();
    }
    let mut s: BTreeSet<u32> = BTreeSet::new();
    for &i in drawn {
        s.insert(d.exact_messages()[i].from);
        s.insert(d.exact_messages()[i].to);
    }
    for o in d.history.iter().filter(|o| f.ops.contains(&o.id)) {
        s.insert(o.client);
    }
    s.into_iter().take(40).collect()
}

pub fn lamport(d: &RunData, f: &Focus) -> Figure {
    let drawn = drawn(d, f);
    let hot = involved(d, f, &drawn);
    let lanes = lanes(d, f, &drawn);
    let lane_of = |n: u32| lanes.iter().position(|x| *x == n);
    let n = lanes.len().max(1);
    let lane_px = if n > 12 { 34 } else { 60 };
    let (w, h) = (1100u32, 80 + lane_px * n as u32 + 40);
    let (x0, x1) = (millis(f.t0), millis(f.t1.max(f.t0 + 1)));
    let delays: Vec<u64> = {
        let mut v: Vec<u64> = drawn
            .iter()
            .filter_map(|&i| {
                d.exact_messages()[i]
                    .delivered_ns
                    .map(|t| t - d.exact_messages()[i].sent_ns)
            })
            .collect();
        v.sort();
        v
    };
    let typical = super::percentile(&delays, 50)
        .unwrap_or((f.t1 - f.t0) / 20)
        .max(1);
    let dropped = drawn
        .iter()
        .filter(|&&i| d.exact_messages()[i].delivered_ns.is_none())
        .count();
    let svg = svg(w, h, |root| {
        let (top, bottom) = root.split_vertically(h - 40);
        let mut chart = ChartBuilder::on(&top)
            .margin(10)
            .x_label_area_size(32)
            .y_label_area_size(120)
            .build_cartesian_2d(x0..x1, 0f64..n as f64)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(0)
            .x_desc("virtual time (ms)")
            .x_labels(10)
            .light_line_style(RGBColor(238, 238, 238))
            .draw()?;
        let y = |lane: usize| (n - lane) as f64 - 0.5;
        for (i, node) in lanes.iter().enumerate() {
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(x0, y(i)), (x1, y(i))],
                RGBColor(90, 90, 90).stroke_width(1),
            )))?;
            let (px, py) = chart.backend_coord(&(x0, y(i)));
            root.draw(&Text::new(d.node_name(*node), (px - 6, py), right_mid(12)))?;
        }
        // Operations on their clients' lanes; a label that would overlap the previous one
        // on its lane is left out (the table on the page lists them all).
        let mut label_end: Vec<i32> = vec![i32::MIN; n];
        for o in &d.history {
            let end = o.complete_ns.unwrap_or(f.t1);
            if end < f.t0 || o.invoke_ns > f.t1 {
                continue;
            }
            let Some(l) = lane_of(o.client) else { continue };
            let named = f.ops.contains(&o.id);
            let c = if named {
                RGBColor(244, 180, 0)
            } else if o.outcome == "ok" {
                RGBColor(158, 197, 232)
            } else {
                RGBColor(200, 200, 200)
            };
            let (a, b) = (millis(o.invoke_ns.max(f.t0)), millis(end.min(f.t1)));
            chart.draw_series(std::iter::once(Rectangle::new(
                [(a, y(l) + 0.16), (b, y(l) + 0.04)],
                c.filled(),
            )))?;
            let (px, _) = chart.backend_coord(&(a, y(l)));
            if named && px > label_end[l] {
                let (px, py) = chart.backend_coord(&(a, y(l) + 0.28));
                let label = format!(
                    "op {} {} → {}",
                    o.id,
                    o.call,
                    o.ret.as_deref().unwrap_or(&o.outcome)
                );
                label_end[l] = px + super::text_width(&label, 11) + 6;
                root.draw(&Text::new(label, (px, py), left_mid(11)))?;
            }
        }
        // Messages: quiet ones first, highlighted ones on top.
        let mut order: Vec<usize> = drawn.iter().copied().filter(|i| !hot.contains(i)).collect();
        order.extend(hot.iter().copied());
        for i in order {
            let m: &MessageData = &d.exact_messages()[i];
            let (Some(lf), Some(lt)) = (lane_of(m.from), lane_of(m.to)) else {
                continue;
            };
            let is_hot = hot.contains(&i);
            let (ya, yb) = (y(lf), y(lt));
            let (ta, tb, lost) = match m.delivered_ns {
                Some(t) => (m.sent_ns, t, false),
                None => (m.sent_ns, m.sent_ns + typical, true),
            };
            // Clip to the window by interpolation.
            let at = |t: u64| {
                let frac = if tb == ta {
                    1.0
                } else {
                    (t as f64 - ta as f64) / (tb as f64 - ta as f64)
                };
                let yy = ya + (yb - ya) * if lost { frac / 2.0 } else { frac };
                (millis(t), yy)
            };
            let p0 = at(ta.clamp(f.t0, f.t1));
            let p1 = at(tb.clamp(f.t0, f.t1));
            let color = match (lost, is_hot) {
                (true, _) => RGBColor(210, 40, 40),
                (false, true) => RGBColor(200, 90, 0),
                (false, false) => RGBColor(70, 110, 170),
            };
            let width = if is_hot { 2 } else { 1 };
            let (q0, q1) = (chart.backend_coord(&p0), chart.backend_coord(&p1));
            if lost {
                root.draw(&plotters::element::DashedPathElement::new(
                    vec![q0, q1],
                    4,
                    3,
                    color.stroke_width(width),
                ))?;
                let s = 4;
                root.draw(&PathElement::new(
                    vec![(q1.0 - s, q1.1 - s), (q1.0 + s, q1.1 + s)],
                    color.stroke_width(2),
                ))?;
                root.draw(&PathElement::new(
                    vec![(q1.0 - s, q1.1 + s), (q1.0 + s, q1.1 - s)],
                    color.stroke_width(2),
                ))?;
            } else {
                let style = if is_hot {
                    color.stroke_width(2)
                } else {
                    color.mix(0.6).stroke_width(1)
                };
                root.draw(&PathElement::new(vec![q0, q1], style))?;
                if tb <= f.t1 {
                    // Arrowhead at the delivery.
                    let (dx, dy) = ((q1.0 - q0.0) as f64, (q1.1 - q0.1) as f64);
                    let len = (dx * dx + dy * dy).sqrt().max(1.0);
                    let (ux, uy) = (dx / len, dy / len);
                    let size = if is_hot { 8.0 } else { 6.0 };
                    let back = (q1.0 as f64 - ux * size, q1.1 as f64 - uy * size);
                    let side = (-uy * size * 0.45, ux * size * 0.45);
                    root.draw(&Polygon::new(
                        vec![
                            q1,
                            ((back.0 + side.0) as i32, (back.1 + side.1) as i32),
                            ((back.0 - side.0) as i32, (back.1 - side.1) as i32),
                        ],
                        color.filled(),
                    ))?;
                }
            }
        }
        legend_row(
            &bottom,
            10,
            20,
            &[
                (RGBColor(70, 110, 170), "message".into()),
                (RGBColor(200, 90, 0), "involved in the violation".into()),
                (RGBColor(210, 40, 40), "never arrived (dashed, ×)".into()),
                (
                    RGBColor(244, 180, 0),
                    "operation the violation names".into(),
                ),
                (RGBColor(158, 197, 232), "other operation".into()),
            ],
        )?;
        if drawn.is_empty() {
            root.draw(&Text::new(
                "no recorded message in this window".to_string(),
                (140, 60),
                font(13),
            ))?;
        }
        Ok(())
    });
    let caption = format!(
        "{} messages drawn between {} and {} ({} never arrived, {} highlighted). {}",
        drawn.len(),
        dsim_core::units::format_ns(f.t0),
        dsim_core::units::format_ns(f.t1),
        dropped,
        hot.len(),
        if f.invariant.is_empty() {
            "The run had no violation to zoom into: this is the first stretch after the first fault.".to_string()
        } else {
            format!(
                "The window is the one around the first `{}` violation.",
                f.invariant
            )
        }
    );
    Figure {
        stem: "lamport".into(),
        title: "Lamport diagram: the messages around the violation".into(),
        svg,
        caption,
    }
}

/// Messages per time bucket over the whole run (recorded ones), those that never arrived
/// in red, with the Lamport window marked: where the zoom sits in the run.
pub fn density(d: &RunData, f: &Focus) -> Figure {
    let end = d.sim_time_ns.max(1);
    let buckets = 200usize;
    let mut sent = vec![0u32; buckets];
    let mut lost = vec![0u32; buckets];
    let (prefix, stride) = d.message_sampling.unwrap_or((d.messages.len(), 1));
    for (i, m) in d.messages.iter().enumerate() {
        let b = ((m.sent_ns as u128 * buckets as u128 / end as u128) as usize).min(buckets - 1);
        // A sampled message stands for `stride` sends.
        let weight = if i < prefix { 1 } else { stride as u32 };
        sent[b] += weight;
        if m.delivered_ns.is_none() {
            lost[b] += weight;
        }
    }
    let top = sent.iter().copied().max().unwrap_or(0).max(1);
    let width_s = secs(end) / buckets as f64;
    let svg = svg(1100, 200, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(120)
            .build_cartesian_2d(0f64..secs(end), 0u32..top + top / 10 + 1)?;
        chart
            .configure_mesh()
            .x_desc("virtual time (s)")
            .y_desc("messages")
            .disable_x_mesh()
            .draw()?;
        chart.draw_series(std::iter::once(Rectangle::new(
            [
                (secs(f.t0), 0),
                (secs(f.t1.max(f.t0 + end / 300)), top + top / 10 + 1),
            ],
            RGBColor(255, 215, 0).mix(0.5).filled(),
        )))?;
        chart.draw_series(sent.iter().enumerate().map(|(i, c)| {
            let x = i as f64 * width_s;
            Rectangle::new([(x, 0), (x + width_s, *c)], RGBColor(70, 110, 170).filled())
        }))?;
        chart.draw_series(lost.iter().enumerate().map(|(i, c)| {
            let x = i as f64 * width_s;
            Rectangle::new([(x, 0), (x + width_s, *c)], RGBColor(210, 40, 40).filled())
        }))?;
        Ok(())
    });
    let mut capped = match d.message_sampling {
        Some((prefix, stride)) => format!(
            " The recording is bounded: the first {prefix} messages exactly, then one send in \
             {stride} (each counted {stride} times here); {} messages recorded, {} not.",
            d.messages.len(),
            d.messages_unrecorded
        ),
        None => String::new(),
    };
    if let Some((a, b)) = d.message_window {
        capped.push_str(&format!(
            " The Lamport diagram's messages ({} sent between {} and {}) come from a second \
             pass of the same run that recorded that window exactly.",
            d.window_messages.len(),
            dsim_core::units::format_ns(a),
            dsim_core::units::format_ns(b)
        ));
    }
    Figure {
        stem: "messages".into(),
        title: "Messages over time".into(),
        svg,
        caption: format!(
            "Messages sent per {} of virtual time (blue), of which never arrived (red); the \
             yellow band is the Lamport diagram's window.{capped}",
            dsim_core::units::format_ns(end / buckets as u64)
        ),
    }
}
