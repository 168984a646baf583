//! Model plots, generic: whatever the model reports, per node, over time.
//! - every metric name the nodes emitted with `ctx.metric` (ISR size, replication lag,
//!   consumer lag, ...): one line per node, a step at each sample;
//! - every number a node's `observe()` reported (commit index, term, ...): the same;
//! - for duration-like metrics (names ending in `_ms`, `_us`, `_ns` or holding
//!   `duration`, `latency` or `_time`, such as `election_ms`): the distribution too, with
//!   p50, p95 and p99.

use std::collections::BTreeMap;

use plotters::prelude::*;

use super::{legend_row, percentile, secs, series_color, svg, Figure};
use crate::data::RunData;

/// Plots drawn at most per family (metrics, observed fields).
pub const MAX_PLOTS: usize = 12;

/// Whether a metric's values are durations, worth a distribution.
pub fn duration_like(name: &str) -> bool {
    name.ends_with("_ms")
        || name.ends_with("_us")
        || name.ends_with("_ns")
        || name.contains("duration")
        || name.contains("latency")
        || name.contains("_time")
}

/// name -> node -> [(t, value)], from the metric samples.
pub fn metric_series(d: &RunData) -> BTreeMap<String, BTreeMap<u32, Vec<(u64, i64)>>> {
    let mut out: BTreeMap<String, BTreeMap<u32, Vec<(u64, i64)>>> = BTreeMap::new();
    for s in &d.samples {
        out.entry(s.name.clone())
            .or_default()
            .entry(s.node)
            .or_default()
            .push((s.at_ns, s.value));
    }
    out
}

/// field -> node -> [(t, value)], from the recorded `observe()` states (a value holds
/// until the next record).
pub fn field_series(d: &RunData) -> BTreeMap<String, BTreeMap<u32, Vec<(u64, i64)>>> {
    let mut out: BTreeMap<String, BTreeMap<u32, Vec<(u64, i64)>>> = BTreeMap::new();
    for s in &d.states {
        for (k, v) in &s.fields {
            let series = out.entry(k.clone()).or_default().entry(s.node).or_default();
            if series.last().map(|p| p.1) != Some(*v) {
                series.push((s.at_ns, *v));
            }
        }
    }
    out
}

/// A step plot of per-node series.
pub fn step_plot(
    d: &RunData,
    stem: String,
    title: String,
    caption: String,
    series: &BTreeMap<u32, Vec<(u64, i64)>>,
) -> Figure {
    let end = d.sim_time_ns.max(1);
    let lo = series
        .values()
        .flatten()
        .map(|p| p.1)
        .min()
        .unwrap_or(0)
        .min(0);
    let hi = series
        .values()
        .flatten()
        .map(|p| p.1)
        .max()
        .unwrap_or(1)
        .max(lo + 1);
    let pad = ((hi - lo) / 10).max(1);
    let nodes: Vec<u32> = series.keys().copied().collect();
    let svg = svg(1100, 300, |root| {
        let (top, bottom) = root.split_vertically(260);
        let mut chart = ChartBuilder::on(&top)
            .margin(10)
            .x_label_area_size(32)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..secs(end), (lo as f64)..((hi + pad) as f64))?;
        chart.configure_mesh().x_desc("virtual time (s)").draw()?;
        for (i, n) in nodes.iter().enumerate() {
            let pts = &series[n];
            let mut line = Vec::with_capacity(pts.len() * 2 + 1);
            for (j, (t, v)) in pts.iter().enumerate() {
                if j > 0 {
                    line.push((secs(*t), pts[j - 1].1 as f64));
                }
                line.push((secs(*t), *v as f64));
            }
            if let Some((_, v)) = pts.last() {
                line.push((secs(end), *v as f64));
            }
            chart.draw_series(LineSeries::new(line, series_color(i).stroke_width(2)))?;
        }
        let items: Vec<(RGBColor, String)> = nodes
            .iter()
            .enumerate()
            .take(16)
            .map(|(i, n)| (series_color(i), d.node_name(*n)))
            .collect();
        legend_row(&bottom, 10, 20, &items)?;
        Ok(())
    });
    Figure {
        stem,
        title,
        svg,
        caption,
    }
}

/// The distribution of a duration-like metric's values (all nodes together).
pub fn distribution_plot(name: &str, values: &mut [i64]) -> Figure {
    values.sort();
    let v: Vec<u64> = values.iter().map(|x| (*x).max(0) as u64).collect();
    let xmax = v.last().copied().unwrap_or(1).max(1) as f64 * 1.05;
    let n = v.len().max(1) as f64;
    let svg = svg(1100, 280, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(10)
            .x_label_area_size(32)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..xmax, 0f64..100.0)?;
        chart
            .configure_mesh()
            .x_desc(name.to_string())
            .y_desc("% at or under")
            .draw()?;
        chart.draw_series(LineSeries::new(
            v.iter()
                .enumerate()
                .map(|(j, x)| (*x as f64, (j + 1) as f64 * 100.0 / n)),
            series_color(0).stroke_width(2),
        ))?;
        for p in [50u64, 95, 99] {
            if let Some(x) = percentile(&v, p) {
                chart.draw_series(std::iter::once(Circle::new(
                    (x as f64, p as f64),
                    4,
                    series_color(3).filled(),
                )))?;
                chart.draw_series(std::iter::once(Text::new(
                    format!("p{p} {x}"),
                    (x as f64 + xmax / 150.0, p as f64 - 4.0),
                    super::left_mid(10),
                )))?;
            }
        }
        Ok(())
    });
    Figure {
        stem: format!("metric-{}-distribution", file_safe(name)),
        title: format!("{name}: distribution"),
        svg,
        caption: format!(
            "{} samples of `{name}`, all nodes together: the share at or under each value, with \
             p50, p95 and p99 marked.",
            values.len()
        ),
    }
}

/// A name safe in a file name.
pub fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// Every model plot of a run.
pub fn model_plots(d: &RunData) -> Vec<Figure> {
    let mut out = Vec::new();
    for (name, series) in metric_series(d).iter().take(MAX_PLOTS) {
        let count: usize = series.values().map(|v| v.len()).sum();
        out.push(step_plot(
            d,
            format!("metric-{}", file_safe(name)),
            format!("Metric `{name}`"),
            format!("{count} samples of `{name}` the nodes reported, one line per node."),
            series,
        ));
        if duration_like(name) {
            let mut values: Vec<i64> = series.values().flatten().map(|p| p.1).collect();
            out.push(distribution_plot(name, &mut values));
        }
    }
    for (name, series) in field_series(d).iter().take(MAX_PLOTS) {
        out.push(step_plot(
            d,
            format!("observed-{}", file_safe(name)),
            format!("Observed `{name}`"),
            format!(
                "`{name}` as each node's `observe()` reported it over the run (recorded when it \
                 changed), one line per node."
            ),
            series,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations_are_recognised() {
        assert!(super::duration_like("election_ms"));
        assert!(super::duration_like("commit_latency"));
        assert!(!super::duration_like("isr_size"));
        assert_eq!(super::file_safe("a/b c"), "a-b-c");
    }
}
