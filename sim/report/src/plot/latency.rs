//! Client-side latency and throughput from the recorded history (Jepsen's latency plots
//! are the model: each operation a point at its completion time, by kind and outcome).
//! - latency over time: one point per completed operation, coloured by kind; failed or
//!   indeterminate ones as crosses; fault windows (any node) shaded behind;
//! - the distribution: per kind, the share of operations at or under each latency (a
//!   CDF), with p50, p95 and p99 marked;
//! - throughput: successful operations per time bucket, per kind, fault windows shaded.

use std::collections::BTreeMap;

use plotters::prelude::*;

use super::{legend_row, millis, percentile, secs, series_color, shade_color, svg, Figure};
use crate::data::RunData;
use crate::windows::{any_node_windows, fault_windows, Shade};

/// Latencies (ns) of completed operations per kind, sorted; and per kind the points
/// (completion ns, latency ns, ok).
pub struct Latencies {
    pub kinds: Vec<String>,
    pub sorted_ok: BTreeMap<String, Vec<u64>>,
    pub points: BTreeMap<String, Vec<(u64, u64, bool)>>,
}

pub fn latencies(d: &RunData) -> Latencies {
    let mut points: BTreeMap<String, Vec<(u64, u64, bool)>> = BTreeMap::new();
    for o in &d.history {
        if let Some(c) = o.complete_ns {
            points.entry(o.kind().to_string()).or_default().push((
                c,
                c.saturating_sub(o.invoke_ns),
                o.outcome == "ok",
            ));
        }
    }
    let sorted_ok = points
        .iter()
        .map(|(k, v)| {
            let mut s: Vec<u64> = v.iter().filter(|p| p.2).map(|p| p.1).collect();
            s.sort();
            (k.clone(), s)
        })
        .collect();
    Latencies {
        kinds: points.keys().cloned().collect(),
        sorted_ok,
        points,
    }
}

fn shade_background<DB: DrawingBackend>(
    chart: &mut ChartContext<
        '_,
        DB,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
    d: &RunData,
    ymax: f64,
) -> Result<(), Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
    let spans = any_node_windows(&fault_windows(d));
    chart
        .draw_series(spans.iter().map(|(s, a, b)| {
            Rectangle::new(
                [(secs(*a), 0.0), (secs(*b), ymax)],
                shade_color(*s).mix(0.15).filled(),
            )
        }))
        .map_err(|e| e.to_string())?;
    Ok(())
}

fn shade_legend(d: &RunData) -> Vec<(RGBColor, String)> {
    let mut seen: Vec<Shade> = any_node_windows(&fault_windows(d))
        .iter()
        .map(|x| x.0)
        .collect();
    seen.sort();
    seen.dedup();
    seen.into_iter()
        .map(|s| {
            (
                shade_color(s).mix(0.4).to_rgba().into_rgb(),
                format!("{} (some node)", s.name()),
            )
        })
        .collect()
}

trait IntoRgb {
    fn into_rgb(self) -> RGBColor;
}
impl IntoRgb for RGBAColor {
    fn into_rgb(self) -> RGBColor {
        // Blend over white, so the legend swatch matches the shaded background.
        let a = self.3;
        let f = |c: u8| (c as f64 * a + 255.0 * (1.0 - a)) as u8;
        RGBColor(f(self.0), f(self.1), f(self.2))
    }
}

/// Latency over time.
pub fn over_time(d: &RunData, l: &Latencies) -> Figure {
    let end = d.sim_time_ns.max(1);
    let ymax = l
        .points
        .values()
        .flat_map(|v| v.iter().map(|p| millis(p.1)))
        .fold(1.0f64, f64::max)
        * 1.08;
    let svg = svg(1100, 380, |root| {
        let (top, bottom) = root.split_vertically(340);
        let mut chart = ChartBuilder::on(&top)
            .margin(10)
            .x_label_area_size(32)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..secs(end), 0f64..ymax)?;
        chart
            .configure_mesh()
            .x_desc("virtual time (s), at completion")
            .y_desc("latency (ms)")
            .draw()?;
        shade_background(&mut chart, d, ymax)?;
        for (i, k) in l.kinds.iter().enumerate() {
            let c = series_color(i);
            let pts = &l.points[k];
            chart.draw_series(
                pts.iter()
                    .filter(|p| p.2)
                    .map(|p| Circle::new((secs(p.0), millis(p.1)), 2, c.filled())),
            )?;
            chart.draw_series(
                pts.iter()
                    .filter(|p| !p.2)
                    .map(|p| Cross::new((secs(p.0), millis(p.1)), 3, c.stroke_width(1))),
            )?;
        }
        let mut items: Vec<(RGBColor, String)> = l
            .kinds
            .iter()
            .enumerate()
            .map(|(i, k)| (series_color(i), format!("{k} (× failed or unknown)")))
            .collect();
        items.extend(shade_legend(d));
        legend_row(&bottom, 10, 20, &items)?;
        Ok(())
    });
    Figure {
        stem: "latency".into(),
        title: "Latency over time".into(),
        svg,
        caption: "Each completed operation at the moment it completed, at the height of its \
                  latency; dots succeeded, crosses failed or ended in doubt (a timeout). Shaded: \
                  some node was crashed, paused, cut off, skewed or slowed."
            .into(),
    }
}

/// The latency distribution per kind, with p50/p95/p99.
pub fn distribution(l: &Latencies) -> Figure {
    let xmax = l
        .sorted_ok
        .values()
        .filter_map(|v| v.last())
        .map(|x| millis(*x))
        .fold(1.0f64, f64::max)
        * 1.05;
    let svg = svg(1100, 360, |root| {
        let (top, bottom) = root.split_vertically(320);
        let mut chart = ChartBuilder::on(&top)
            .margin(10)
            .x_label_area_size(32)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..xmax, 0f64..100.0)?;
        chart
            .configure_mesh()
            .x_desc("latency (ms)")
            .y_desc("% of successful ops at or under")
            .draw()?;
        for (i, k) in l.kinds.iter().enumerate() {
            let v = &l.sorted_ok[k];
            if v.is_empty() {
                continue;
            }
            let c = series_color(i);
            let n = v.len() as f64;
            chart.draw_series(LineSeries::new(
                v.iter()
                    .enumerate()
                    .map(|(j, x)| (millis(*x), (j + 1) as f64 * 100.0 / n)),
                c.stroke_width(2),
            ))?;
            for (p, size) in [(50u64, 4), (95, 5), (99, 6)] {
                if let Some(x) = percentile(v, p) {
                    chart.draw_series(std::iter::once(Circle::new(
                        (millis(x), p as f64),
                        size,
                        c.filled(),
                    )))?;
                    chart.draw_series(std::iter::once(Text::new(
                        format!("p{p} {:.1}", millis(x)),
                        (millis(x) + xmax / 150.0, p as f64 - 3.0 - i as f64 * 4.0),
                        super::left_mid(10),
                    )))?;
                }
            }
        }
        let items: Vec<(RGBColor, String)> = l
            .kinds
            .iter()
            .enumerate()
            .map(|(i, k)| {
                (
                    series_color(i),
                    format!("{k} ({} ok)", l.sorted_ok[k].len()),
                )
            })
            .collect();
        legend_row(&bottom, 10, 20, &items)?;
        Ok(())
    });
    Figure {
        stem: "latency-distribution".into(),
        title: "Latency distribution".into(),
        svg,
        caption: "For each kind of operation, the share of successful operations that took at \
                  most a given latency; the dots mark p50, p95 and p99 (values in ms)."
            .into(),
    }
}

/// Successful operations per bucket of time, per kind.
pub fn throughput(d: &RunData, l: &Latencies) -> Figure {
    let end = d.sim_time_ns.max(1);
    let buckets = 100u64;
    let width = end.div_ceil(buckets).max(1);
    let mut counts: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for k in &l.kinds {
        let mut v = vec![0u64; buckets as usize];
        for p in l.points[k].iter().filter(|p| p.2) {
            v[((p.0 / width) as usize).min(buckets as usize - 1)] += 1;
        }
        counts.insert(k, v);
    }
    let per_sec = |c: u64| c as f64 * 1e9 / width as f64;
    let ymax = counts
        .values()
        .flat_map(|v| v.iter().map(|c| per_sec(*c)))
        .fold(1.0f64, f64::max)
        * 1.1;
    let svg = svg(1100, 320, |root| {
        let (top, bottom) = root.split_vertically(280);
        let mut chart = ChartBuilder::on(&top)
            .margin(10)
            .x_label_area_size(32)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..secs(end), 0f64..ymax)?;
        chart
            .configure_mesh()
            .x_desc("virtual time (s)")
            .y_desc("successful ops / s")
            .draw()?;
        shade_background(&mut chart, d, ymax)?;
        for (i, k) in l.kinds.iter().enumerate() {
            chart.draw_series(LineSeries::new(
                counts[k.as_str()]
                    .iter()
                    .enumerate()
                    .map(|(j, c)| (secs(j as u64 * width + width / 2), per_sec(*c))),
                series_color(i).stroke_width(2),
            ))?;
        }
        let mut items: Vec<(RGBColor, String)> = l
            .kinds
            .iter()
            .enumerate()
            .map(|(i, k)| (series_color(i), k.clone()))
            .collect();
        items.extend(shade_legend(d));
        legend_row(&bottom, 10, 20, &items)?;
        Ok(())
    });
    Figure {
        stem: "throughput".into(),
        title: "Throughput".into(),
        svg,
        caption: format!(
            "Successful operations per second, counted in buckets of {} of virtual time; \
             shaded as in the latency plot.",
            dsim_core::units::format_ns(width)
        ),
    }
}
