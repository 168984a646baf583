//! The page (`index.html`) and its text twin (`summary.md`). The page is one file: CSS in
//! a `<style>`, figures as inline SVG, no scripts and no links out, so it opens from disk
//! anywhere. Sections: the story, the verdict, the violation explained, the figures, then
//! the faults, notes and counters as tables.

use std::fmt::Write;

use dsim_core::units::format_ns;

use crate::data::RunData;
use crate::esc;
use crate::focus::{focus, narrowed, violation_focus};
use crate::plot::lamport::{drawn, involved};
use crate::plot::latency::latencies;
use crate::plot::{percentile, Figure};

const STYLE: &str = "body{font:15px/1.5 system-ui,sans-serif;max-width:1140px;margin:2em auto;padding:0 1em;color:#222}\
h1{font-size:1.6em}h2{margin-top:1.6em;border-bottom:1px solid #ddd}pre,code{background:#f4f4f4;padding:.1em .3em}pre{padding:.6em;white-space:pre-wrap}\
.valid{background:#e5f6e5;border-left:6px solid #2a2}.bad{background:#fde8e8;border-left:6px solid #c22}\
.verdict{padding:.6em 1em;font-weight:600}table{border-collapse:collapse;margin:.5em 0}td,th{padding:2px 10px;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}\
.story{background:#f8f8ff;padding:.6em 1em;border-left:4px solid #88c}.hot{background:#fff3c4}.cap{color:#555;font-size:.9em;max-width:1100px}\
figure{margin:1em 0}svg{max-width:100%;height:auto}nav a{margin-right:1em}";

/// The page.
pub fn html(d: &RunData, figs: &[Figure]) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>dsim: {name} seed {seed}</title><style>{STYLE}</style></head><body>\
         <h1>{name} <small>seed {seed}</small></h1><p><code>dsim run {path} --seed {seed}</code> · model <b>{model}</b> · dsim {ver}</p>",
        name = esc(&d.name),
        seed = d.seed,
        path = esc(&d.scenario_path),
        model = esc(&d.model),
        ver = esc(&d.dsim_version)
    );
    h.push_str("<nav>");
    for f in figs {
        let _ = write!(h, "<a href=\"#{}\">{}</a>", esc(&f.stem), esc(&f.title));
    }
    h.push_str("</nav>");
    let _ = write!(
        h,
        "<div class=\"story\"><p>{}</p></div>",
        esc(d.description.trim()).replace("\n\n", "</p><p>")
    );
    let class = if d.verdict == "valid" { "valid" } else { "bad" };
    let _ = write!(
        h,
        "<p class=\"verdict {class}\" id=\"verdict\">Verdict: {}</p>",
        esc(&d.verdict)
    );
    h.push_str(&explained(d));
    if let Some(p) = &d.panic {
        let _ = write!(
            h,
            "<h2>Panic</h2><pre>{} at {} (event {}): {}</pre>",
            esc(&p.node),
            format_ns(p.at_ns),
            p.event,
            esc(&p.message)
        );
    }
    if let Some(l) = &d.limit {
        let _ = write!(h, "<h2>Limit</h2><pre>{}</pre>", esc(l));
    }
    for f in figs {
        let _ = write!(
            h,
            "<h2 id=\"{}\">{}</h2><figure>{}<figcaption class=\"cap\">{}</figcaption></figure>",
            esc(&f.stem),
            esc(&f.title),
            strip_xml_decl(&f.svg),
            esc(&f.caption)
        );
        if f.stem == "latency-distribution" {
            h.push_str(&percentile_table(d));
        }
    }
    tables(d, &mut h);
    let _ = writeln!(
        h,
        "<p>digest <code>{}</code> · {} events · {} virtual · {} ms wall · redraw with <code>dsim report &lt;this directory&gt;</code></p></body></html>",
        esc(&d.digest),
        d.events,
        format_ns(d.sim_time_ns),
        d.wall_ms
    );
    h
}

fn strip_xml_decl(svg: &str) -> &str {
    match svg.find("<svg") {
        Some(i) => &svg[i..],
        None => svg,
    }
}

/// The violations in words, then the operations and messages involved, highlighted.
fn explained(d: &RunData) -> String {
    if d.violations.is_empty() {
        return String::new();
    }
    let mut s = String::from("<h2 id=\"violation\">What went wrong</h2><ul>");
    for v in &d.violations {
        let _ = write!(
            s,
            "<li><b>{}</b> ({}) at {} {}<br>{}</li>",
            esc(&v.invariant),
            esc(&v.class),
            format_ns(v.at_ns),
            if v.nodes.is_empty() {
                String::new()
            } else {
                format!("on {}", esc(&v.nodes.join(", ")))
            },
            esc(&v.detail)
        );
    }
    s.push_str("</ul>");
    let Some(f) = violation_focus(d) else {
        return s;
    };
    let ops: Vec<_> = d.history.iter().filter(|o| f.ops.contains(&o.id)).collect();
    if !ops.is_empty() {
        s.push_str("<h3>The operations involved</h3><p>");
        for o in &ops {
            let _ = write!(
                s,
                "Operation {} (<code>{}</code>) by {} was asked at {} and {}. ",
                o.id,
                esc(&o.call),
                esc(&d.node_name(o.client)),
                format_ns(o.invoke_ns),
                match o.complete_ns {
                    Some(t) => format!(
                        "answered at {} ({} later): {} <code>{}</code>",
                        format_ns(t),
                        format_ns(t - o.invoke_ns),
                        esc(&o.outcome),
                        esc(o.ret.as_deref().unwrap_or(""))
                    ),
                    None => "was never answered".into(),
                }
            );
        }
        s.push_str("They are in gold in the Lamport diagram, and highlighted in this table of the operations around them:</p>");
        s.push_str("<details><summary>operations in the window</summary><table><tr><th>op</th><th>client</th><th>asked</th><th>answered</th><th>call</th><th>result</th></tr>");
        let (w0, w1) = (f.t0, f.t1);
        for o in d
            .history
            .iter()
            .filter(|o| o.invoke_ns <= w1 && o.complete_ns.unwrap_or(u64::MAX) >= w0)
            .take(60)
        {
            let _ =
                write!(
                s,
                "<tr{}><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} {}</td></tr>",
                if f.ops.contains(&o.id) { " class=\"hot\"" } else { "" },
                o.id,
                esc(&d.node_name(o.client)),
                format_ns(o.invoke_ns),
                o.complete_ns.map(format_ns).unwrap_or_else(|| "never".into()),
                esc(&o.call),
                esc(&o.outcome),
                esc(o.ret.as_deref().unwrap_or(""))
            );
        }
        s.push_str("</table></details>");
    }
    let zoom = narrowed(d, &f);
    let shown = drawn(d, &zoom);
    let hot = involved(d, &zoom, &shown);
    if !hot.is_empty() {
        let _ = write!(
            s,
            "<h3>The messages involved</h3><p>{} messages went to or from the clients of those operations while they ran (orange in the Lamport diagram).</p>\
             <details><summary>the messages</summary><table><tr><th>sent</th><th>from</th><th>to</th><th>delivered</th><th>message</th></tr>",
            hot.len()
        );
        for &i in hot.iter().take(40) {
            let m = &d.exact_messages()[i];
            let _ = write!(
                s,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                format_ns(m.sent_ns),
                esc(&d.node_name(m.from)),
                esc(&d.node_name(m.to)),
                m.delivered_ns
                    .map(format_ns)
                    .unwrap_or_else(|| "<b>never</b>".into()),
                esc(&m.summary)
            );
        }
        s.push_str("</table></details>");
    }
    s
}

fn percentile_table(d: &RunData) -> String {
    let l = latencies(d);
    let mut s = String::from("<table><tr><th>kind</th><th>ok</th><th>failed or unknown</th><th>p50</th><th>p95</th><th>p99</th><th>max</th></tr>");
    for k in &l.kinds {
        let v = &l.sorted_ok[k];
        let bad = l.points[k].iter().filter(|p| !p.2).count();
        let p = |q| {
            percentile(v, q)
                .map(format_ns)
                .unwrap_or_else(|| "-".into())
        };
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{bad}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(k),
            v.len(),
            p(50),
            p(95),
            p(99),
            p(100)
        );
    }
    s.push_str("</table>");
    s
}

fn tables(d: &RunData, h: &mut String) {
    if !d.faults.is_empty() {
        h.push_str("<h2 id=\"faults\">Faults</h2><table><tr><th>time</th><th>fault</th><th>nodes</th><th>detail</th></tr>");
        for f in &d.faults {
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
    if !d.notes.is_empty() {
        let _ = write!(
            h,
            "<h2 id=\"notes\">Notes ({})</h2><table><tr><th>time</th><th>node</th><th>what</th><th>detail</th></tr>",
            d.notes.len()
        );
        for n in d.notes.iter().take(500) {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                format_ns(n.at_ns),
                esc(&d.node_name(n.node)),
                esc(&n.kind),
                esc(&n.detail)
            );
        }
        h.push_str("</table>");
        if d.notes.len() > 500 {
            let _ = write!(h, "<p>({} more in run.json)</p>", d.notes.len() - 500);
        }
    }
    h.push_str("<h2 id=\"counters\">Counters</h2><table>");
    for (k, v) in &d.metrics {
        let _ = write!(h, "<tr><td>{}</td><td>{v}</td></tr>", esc(k));
    }
    let _ = write!(
        h,
        "<tr><td>messages recorded for this report</td><td>{}</td></tr><tr><td>messages not recorded (bounded recording)</td><td>{}</td></tr></table>",
        d.messages.len(),
        d.messages_unrecorded
    );
}

/// `summary.md`: the verdict, the violations and the counters, for a terminal or a forum post.
pub fn summary_md(d: &RunData) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# {} — seed {}\n", d.name, d.seed);
    let _ = writeln!(
        s,
        "`dsim run {} --seed {}` · model `{}` · dsim {}\n",
        d.scenario_path, d.seed, d.model, d.dsim_version
    );
    let _ = writeln!(s, "**Verdict: {}**\n", d.verdict);
    for v in &d.violations {
        let _ = writeln!(
            s,
            "- **{}** ({}) at {}{}: {}",
            v.invariant,
            v.class,
            format_ns(v.at_ns),
            if v.nodes.is_empty() {
                String::new()
            } else {
                format!(" on {}", v.nodes.join(", "))
            },
            v.detail.replace('\n', " ")
        );
    }
    if let Some(p) = &d.panic {
        let _ = writeln!(
            s,
            "- panic in {} at {}: {}",
            p.node,
            format_ns(p.at_ns),
            p.message
        );
    }
    if let Some(l) = &d.limit {
        let _ = writeln!(s, "- limit: {l}");
    }
    let f = focus(d);
    let _ = writeln!(
        s,
        "\nThe Lamport diagram (plots/lamport.svg) shows {} to {}.\n",
        format_ns(f.t0),
        format_ns(f.t1)
    );
    let l = latencies(d);
    if !l.kinds.is_empty() {
        s.push_str("| kind | ok | p50 | p95 | p99 |\n|---|---|---|---|---|\n");
        for k in &l.kinds {
            let v = &l.sorted_ok[k];
            let p = |q| {
                percentile(v, q)
                    .map(format_ns)
                    .unwrap_or_else(|| "-".into())
            };
            let _ = writeln!(
                s,
                "| {k} | {} | {} | {} | {} |",
                v.len(),
                p(50),
                p(95),
                p(99)
            );
        }
        s.push('\n');
    }
    s.push_str("| counter | value |\n|---|---|\n");
    for (k, v) in &d.metrics {
        let _ = writeln!(s, "| {k} | {v} |");
    }
    let _ = writeln!(
        s,
        "\n{} events, {} virtual, digest `{}`. Open index.html for the figures.",
        d.events,
        format_ns(d.sim_time_ns),
        d.digest
    );
    s
}
