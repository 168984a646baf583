//! Run reports: one self-contained HTML page per run (no scripts, no external files), so a
//! teacher can open it from a USB stick. It tells the story (the scenario's description),
//! the verdict in plain words, each violation, the faults on a per-node timeline (SVG), the
//! nodes' notes and the run's counters. Plots and Lamport diagrams grow here.

use std::fmt::Write;

use dsim_core::units::format_ns;
use dsim_core::RunReport;

/// What a report page is made of.
pub struct ReportInput<'a> {
    pub scenario_path: &'a str,
    pub name: &'a str,
    pub description: &'a str,
    pub model: &'a str,
    pub report: &'a RunReport,
    pub wall_ms: u64,
}

/// Escapes text for HTML.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font:15px/1.5 system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}\
h1{font-size:1.6em}pre,code{background:#f4f4f4;padding:.1em .3em}pre{padding:.6em;white-space:pre-wrap}\
.valid{background:#e5f6e5;border-left:6px solid #2a2}.bad{background:#fde8e8;border-left:6px solid #c22}\
.verdict{padding:.6em 1em;font-weight:600}table{border-collapse:collapse}td,th{padding:2px 10px;border-bottom:1px solid #ddd;text-align:left}\
.story{background:#f8f8ff;padding:.6em 1em;border-left:4px solid #88c}";

/// The page.
pub fn html(input: &ReportInput<'_>) -> String {
    let r = input.report;
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>dsim: {name} seed {seed}</title><style>{STYLE}</style></head><body>\
         <h1>{name} <small>seed {seed}</small></h1><p><code>dsim run {path} --seed {seed}</code> · model <b>{model}</b> · dsim {ver}</p>",
        name = esc(input.name),
        seed = r.seed,
        path = esc(input.scenario_path),
        model = esc(input.model),
        ver = dsim_core::VERSION
    );
    let _ = write!(
        h,
        "<div class=\"story\"><p>{}</p></div>",
        esc(input.description.trim()).replace("\n\n", "</p><p>")
    );
    let class = if r.verdict == dsim_core::Verdict::Valid {
        "valid"
    } else {
        "bad"
    };
    let _ = write!(
        h,
        "<p class=\"verdict {class}\">Verdict: {}</p>",
        esc(r.verdict.name())
    );
    if !r.violations.is_empty() {
        h.push_str("<h2>What went wrong</h2><ul>");
        for v in &r.violations {
            let nodes: Vec<&str> = v
                .nodes
                .iter()
                .filter_map(|n| r.node_names.get(n.index()).map(|s| s.as_str()))
                .collect();
            let _ = write!(
                h,
                "<li><b>{}</b> at {} {}<br>{}</li>",
                esc(&v.invariant),
                format_ns(v.at_ns),
                if nodes.is_empty() {
                    String::new()
                } else {
                    format!("on {}", esc(&nodes.join(", ")))
                },
                esc(&v.detail)
            );
        }
        h.push_str("</ul>");
    }
    if let Some(p) = &r.panic {
        let _ = write!(
            h,
            "<h2>Panic</h2><pre>{} at {} (event {}): {}</pre>",
            esc(&p.node),
            format_ns(p.at_ns),
            p.event,
            esc(&p.message)
        );
    }
    if let Some(l) = &r.limit {
        let _ = write!(h, "<h2>Limit</h2><pre>{}</pre>", esc(l));
    }
    h.push_str(&history_section(r));
    h.push_str("<h2>Timeline</h2>");
    h.push_str(&timeline_svg(r));
    if !r.faults.is_empty() {
        h.push_str("<h2>Faults</h2><table><tr><th>time</th><th>fault</th><th>nodes</th><th>detail</th></tr>");
        for f in &r.faults {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                format_ns(f.at_ns),
                esc(&f.kind),
                esc(&f.nodes.join(", ")),
                esc(&f.detail)
            );
        }
        h.push_str("</table>");
    }
    if !r.notes.is_empty() {
        let _ = write!(h, "<h2>Notes ({})</h2><table><tr><th>time</th><th>node</th><th>what</th><th>detail</th></tr>", r.notes.len());
        for n in r.notes.iter().take(500) {
            let node = r
                .node_names
                .get(n.node as usize)
                .map(|s| s.as_str())
                .unwrap_or("?");
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                format_ns(n.at_ns),
                esc(node),
                esc(n.kind),
                esc(&n.detail)
            );
        }
        h.push_str("</table>");
    }
    h.push_str("<h2>Counters</h2><table>");
    for (k, v) in &r.metrics {
        let _ = write!(h, "<tr><td>{}</td><td>{v}</td></tr>", esc(k));
    }
    let _ = writeln!(
        h,
        "</table><p>digest <code>{}</code> · {} events · {} virtual · {} ms wall</p></body></html>",
        r.digest,
        r.events,
        format_ns(r.sim_time_ns),
        input.wall_ms
    );
    h
}

/// One lane per node: red bars while it was down, orange while paused, grey while cut off
/// by a partition; a mark where a violation was found.
pub fn timeline_svg(r: &RunReport) -> String {
    let lanes = r.node_names.len().min(40);
    let end = r.sim_time_ns.max(1);
    let (left, width, lane_h) = (110.0, 900.0, 18.0);
    let x = |t: u64| left + width * (t as f64 / end as f64);
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" font-size=\"11\">",
        left + width + 10.0,
        lane_h * (lanes as f64 + 2.0)
    );
    for (i, name) in r.node_names.iter().take(lanes).enumerate() {
        let y = lane_h * i as f64 + 4.0;
        let _ = write!(s, "<text x=\"0\" y=\"{}\">{}</text><line x1=\"{left}\" x2=\"{}\" y1=\"{}\" y2=\"{}\" stroke=\"#ccc\"/>", y + 11.0, esc(name), left + width, y + 8.0, y + 8.0);
        // Down / paused / cut intervals from the fault records.
        let mut open: Option<(u64, &str)> = None;
        for f in &r.faults {
            let hits = f.nodes.iter().any(|n| n == name);
            let closes_all = f.kind == "heal-phase" || (f.kind == "heal" && f.nodes.is_empty());
            if let Some((t0, color)) = open {
                let closes = (hits && matches!(f.kind.as_str(), "restart" | "resume" | "heal"))
                    || closes_all;
                if closes {
                    let _ = write!(s, "<rect x=\"{:.1}\" y=\"{y}\" width=\"{:.1}\" height=\"14\" fill=\"{color}\" opacity=\"0.7\"/>", x(t0), (x(f.at_ns) - x(t0)).max(1.0));
                    open = None;
                }
            }
            if hits && open.is_none() {
                let color = match f.kind.as_str() {
                    "crash" => Some("#d33"),
                    "pause" => Some("#e90"),
                    "partition" => Some("#888"),
                    _ => None,
                };
                if let Some(c) = color {
                    open = Some((f.at_ns, c));
                }
            }
        }
        if let Some((t0, color)) = open {
            let _ = write!(s, "<rect x=\"{:.1}\" y=\"{y}\" width=\"{:.1}\" height=\"14\" fill=\"{color}\" opacity=\"0.7\"/>", x(t0), (x(end) - x(t0)).max(1.0));
        }
    }
    for v in &r.violations {
        let _ = write!(s, "<line x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"0\" y2=\"{1}\" stroke=\"#c00\" stroke-width=\"2\"><title>{2}</title></line>", x(v.at_ns), lane_h * lanes as f64, esc(&v.invariant));
    }
    let _ = write!(s, "<text x=\"{left}\" y=\"{0}\">0</text><text x=\"{1}\" y=\"{0}\" text-anchor=\"end\">{2}</text>", lane_h * (lanes as f64 + 1.0), left + width, format_ns(end));
    s.push_str("</svg><p><small>red: crashed · orange: paused · grey: cut off by a partition · red line: a violation found</small></p>");
    s
}

/// Operation ids a violation's words name ("op 17").
pub fn named_ops(text: &str) -> Vec<u64> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("op ") {
        let tail = &rest[at + 3..];
        let digits: String = tail.chars().take_while(|c| c.is_ascii_digit()).collect();
        let word_start = at == 0 || !rest[..at].ends_with(|c: char| c.is_alphanumeric());
        if word_start && !digits.is_empty() {
            if let Ok(n) = digits.parse() {
                out.push(n);
            }
        }
        rest = &tail[digits.len()..];
    }
    out.sort();
    out.dedup();
    out
}

/// The operations around the first violation that names some, drawn as Jepsen draws a
/// history: one row per client, a bar from invocation to completion (open-ended when the
/// client never learned the outcome), the named operations highlighted, and a table.
pub fn history_section(r: &RunReport) -> String {
    // The completed operations each violation names, and the time they span; the tightest
    // story wins (a linearizability explanation may also name long-pending operations).
    let by_id = |id: u64| {
        r.history
            .iter()
            .find(|o| o.id == id && o.complete_ns.is_some())
    };
    let span = |ops: &[u64]| -> Option<(u64, u64)> {
        let picked: Vec<_> = ops.iter().filter_map(|id| by_id(*id)).collect();
        let t0 = picked.iter().map(|o| o.invoke_ns).min()?;
        let t1 = picked.iter().filter_map(|o| o.complete_ns).max()?;
        Some((t0, t1.max(t0 + 1)))
    };
    let best = r
        .violations
        .iter()
        .map(|v| named_ops(&v.detail))
        .filter_map(|n| span(&n).map(|s| (s, n)))
        .min_by_key(|((t0, t1), _)| t1 - t0);
    let Some(((t0, t1), named)) = best else {
        return String::new();
    };
    let pad = (t1 - t0) / 10 + 1;
    let (w0, w1) = (t0.saturating_sub(pad), t1 + pad);
    let mut window: Vec<_> = r
        .history
        .iter()
        .filter(|o| o.invoke_ns <= w1 && o.complete_ns.unwrap_or(u64::MAX) >= w0)
        .filter(|o| named.contains(&o.id) || o.complete_ns.is_some())
        .collect();
    window.truncate(80);
    let mut clients: Vec<u32> = window.iter().map(|o| o.client).collect();
    clients.sort();
    clients.dedup();
    let name = |c: u32| {
        r.node_names
            .get(c as usize)
            .cloned()
            .unwrap_or_else(|| format!("n{c}"))
    };
    let (left, width, row) = (90.0, 900.0, 30.0);
    let x = |t: u64| left + width * (t.clamp(w0, w1) - w0) as f64 / (w1 - w0).max(1) as f64;
    let mut s = String::from("<h2>The operations involved</h2><p>Each bar is one operation, from the moment the client asked to the moment it was answered; a bar running off the right edge was never answered. Highlighted: the operations the violation names.</p>");
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" font-size=\"11\">",
        left + width + 10.0,
        row * (clients.len() as f64 + 1.0)
    );
    for (i, c) in clients.iter().enumerate() {
        let y = row * i as f64 + 4.0;
        let _ = write!(
            s,
            "<text x=\"0\" y=\"{}\">{}</text>",
            y + 14.0,
            esc(&name(*c))
        );
        for o in window.iter().filter(|o| o.client == *c) {
            let hot = named.contains(&o.id);
            let fill = match (hot, o.outcome) {
                (true, _) => "#f4b400",
                (_, "ok") => "#9ec5e8",
                _ => "#ddd",
            };
            let end = o.complete_ns.map(x).unwrap_or(left + width);
            let label = format!(
                "op {} {} → {}",
                o.id,
                o.call,
                o.ret.as_deref().unwrap_or(o.outcome)
            );
            let _ = write!(
                s,
                "<rect x=\"{:.1}\" y=\"{y}\" width=\"{:.1}\" height=\"20\" fill=\"{fill}\" stroke=\"#555\"><title>{}</title></rect>",
                x(o.invoke_ns),
                (end - x(o.invoke_ns)).max(2.0),
                esc(&label)
            );
            if hot {
                let _ = write!(
                    s,
                    "<text x=\"{:.1}\" y=\"{}\">{}</text>",
                    x(o.invoke_ns) + 2.0,
                    y + 14.0,
                    o.id
                );
            }
        }
    }
    let _ = write!(s, "<text x=\"{left}\" y=\"{0}\">{1}</text><text x=\"{2}\" y=\"{0}\" text-anchor=\"end\">{3}</text></svg>", row * (clients.len() as f64 + 0.8), format_ns(w0), left + width, format_ns(w1));
    s.push_str("<table><tr><th>op</th><th>client</th><th>asked</th><th>answered</th><th>call</th><th>result</th></tr>");
    for o in &window {
        let style = if named.contains(&o.id) {
            " style=\"background:#fff3c4\""
        } else {
            ""
        };
        let _ =
            write!(
            s,
            "<tr{style}><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} {}</td></tr>",
            o.id,
            esc(&name(o.client)),
            format_ns(o.invoke_ns),
            o.complete_ns.map(format_ns).unwrap_or_else(|| "never".into()),
            esc(&o.call),
            o.outcome,
            esc(o.ret.as_deref().unwrap_or(""))
        );
    }
    s.push_str("</table>");
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_named_ops() {
        assert_eq!(
            super::named_ops("read op 17 by client 3 after write op 9; op 17 again; shop 5"),
            vec![9, 17]
        );
    }

    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            esc("<a href=\"x\">&</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;"
        );
    }
}
