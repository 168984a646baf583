//! The sweep page: what a sweep of many seeds found, on one self-contained page — the
//! failures grouped by signature (each with its smallest seed and the command that
//! reproduces it), and a histogram of when, in virtual time, the first violation came.
//! A late-peaking histogram says the bug needs a long run; a spike says one fault time
//! triggers it.

use plotters::prelude::*;

use crate::esc;
use crate::plot::{series_color, svg};

/// One group of failures with the same signature.
pub struct Group {
    pub signature: String,
    pub count: usize,
    pub smallest_seed: u64,
    pub reproduce: String,
}

/// What the page shows.
pub struct SweepPage<'a> {
    pub scenario: &'a str,
    pub seeds: &'a str,
    pub runs: usize,
    pub failed: usize,
    pub digest: &'a str,
    pub covered: Option<&'a str>,
    pub by_verdict: Vec<(String, usize)>,
    pub groups: Vec<Group>,
    /// (seed, virtual time of the first violation) of every failed run that had one.
    pub violation_times: Vec<(u64, u64)>,
}

/// Bins of the histogram: at most this many.
const BINS: u64 = 40;

/// The histogram of time-to-violation as SVG (empty when no run had a violation).
pub fn time_to_violation_svg(times: &[(u64, u64)]) -> String {
    if times.is_empty() {
        return String::new();
    }
    let max_ns = times.iter().map(|t| t.1).max().unwrap_or(1).max(1);
    let width_ns = max_ns.div_ceil(BINS).max(1);
    let mut bins = vec![0u64; BINS as usize + 1];
    for &(_, at) in times {
        bins[(at / width_ns) as usize] += 1;
    }
    let top = bins.iter().copied().max().unwrap_or(1).max(1);
    let secs = |ns: u64| ns as f64 / 1e9;
    svg(1100, 300, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(10)
            .x_label_area_size(34)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..secs(width_ns * (BINS + 1)), 0u64..top + top / 10 + 1)?;
        chart
            .configure_mesh()
            .x_desc("virtual time of the first violation (s)")
            .y_desc("failed seeds")
            .draw()?;
        chart.draw_series(
            bins.iter()
                .enumerate()
                .filter(|(_, c)| **c > 0)
                .map(|(i, c)| {
                    let x0 = secs(i as u64 * width_ns);
                    let x1 = secs((i as u64 + 1) * width_ns);
                    Rectangle::new([(x0, 0), (x1, *c)], series_color(0).filled())
                }),
        )?;
        Ok(())
    })
}

/// The page.
pub fn sweep_html(p: &SweepPage<'_>) -> String {
    let mut h = String::new();
    h.push_str("<!doctype html><html><head><meta charset=\"utf-8\">");
    h.push_str(&format!("<title>sweep of {}</title>", esc(p.scenario)));
    h.push_str(
        "<style>body{font-family:sans-serif;max-width:1150px;margin:2em auto;color:#222}\
         table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}\
         code{background:#f3f3f3;padding:1px 4px}.ok{color:#1a7f37}.bad{color:#b42318}</style>",
    );
    h.push_str("</head><body>");
    h.push_str(&format!(
        "<h1>Sweep of <code>{}</code></h1><p>seeds {} · {} runs · ",
        esc(p.scenario),
        esc(p.seeds),
        p.runs
    ));
    if p.failed == 0 {
        h.push_str("<span class=\"ok\">every run valid</span>");
    } else {
        h.push_str(&format!("<span class=\"bad\">{} failed</span>", p.failed));
    }
    h.push_str(&format!(
        " · sweep digest <code>{}</code></p>",
        esc(p.digest)
    ));
    if let Some(c) = p.covered {
        h.push_str(&format!(
            "<p>Stopped early by its time budget: covered {}.</p>",
            esc(c)
        ));
    }
    h.push_str("<h2>Verdicts</h2><table><tr><th>verdict</th><th>runs</th></tr>");
    for (v, n) in &p.by_verdict {
        h.push_str(&format!("<tr><td>{}</td><td>{n}</td></tr>", esc(v)));
    }
    h.push_str("</table>");
    if !p.groups.is_empty() {
        h.push_str(
            "<h2>Failures by signature</h2><p>Runs that failed the same way (same verdict and \
             checks, or the same panic location) are one group; the smallest seed is the one \
             to start from.</p><table><tr><th>signature</th><th>runs</th><th>smallest seed</th>\
             <th>reproduce</th></tr>",
        );
        for g in &p.groups {
            h.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                esc(&g.signature),
                g.count,
                g.smallest_seed,
                esc(&g.reproduce)
            ));
        }
        h.push_str("</table>");
    }
    let plot = time_to_violation_svg(&p.violation_times);
    if !plot.is_empty() {
        h.push_str(&format!(
            "<h2>Time to violation</h2><figure id=\"time-to-violation\">{plot}<figcaption>When \
             the first violation of each failed run was found, in virtual time ({} runs). \
             Invariants checked as the run goes are dated when they broke; history checks \
             (linearizability, ...) and liveness judge the whole run and are dated at its \
             end, so a bar at the very end counts those.</figcaption></figure>",
            p.violation_times.len()
        ));
    }
    h.push_str("</body></html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_names_every_group_and_draws_the_histogram() {
        let page = SweepPage {
            scenario: "scenarios/x.toml",
            seeds: "1..10",
            runs: 10,
            failed: 3,
            digest: "abc",
            covered: None,
            by_verdict: vec![("valid".into(), 7), ("violation".into(), 3)],
            groups: vec![Group {
                signature: "violation: linearizable".into(),
                count: 3,
                smallest_seed: 2,
                reproduce: "dsim run scenarios/x.toml --seed 2".into(),
            }],
            violation_times: vec![(2, 1_000_000_000), (5, 3_000_000_000), (9, 3_100_000_000)],
        };
        let html = sweep_html(&page);
        assert!(html.contains("violation: linearizable"));
        assert!(html.contains("dsim run scenarios/x.toml --seed 2"));
        assert!(html.contains("id=\"time-to-violation\""));
        assert!(html.contains("<svg"));
        assert!(!html.contains("<script"));
    }

    #[test]
    fn no_violation_no_histogram() {
        assert!(time_to_violation_svg(&[]).is_empty());
    }
}
