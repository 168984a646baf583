//! Run reports. A run directory holds what a run recorded (`run.json`, see `data`), and
//! this crate turns it into one self-contained page, `index.html` (inline SVG and CSS, no
//! scripts, nothing fetched), that a student can open from disk, plus the same figures as
//! files under `plots/`, a `summary.md` and a `metrics.csv`. The page tells the story (the
//! scenario's description), the verdict, the violation explained (the operations and
//! messages involved, highlighted), and draws: the timeline of roles and faults, the
//! Lamport diagram around the first violation, latency and throughput, and the model's
//! own metrics. `dsim report <dir>` redraws everything from `run.json` alone.
//! docs/reports.md describes each file and figure. A sweep gets a page of its own
//! (`sweep`): failures by signature and a histogram of time to violation.

pub mod data;
pub mod focus;
mod page;
pub mod plot;
pub mod sweep;
pub mod windows;

use std::path::{Path, PathBuf};

pub use data::{Provenance, RunData};
pub use page::{html, summary_md};

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

/// Every figure of a report, in page order.
pub fn figures(d: &RunData) -> Vec<plot::Figure> {
    let f = focus::focus(d);
    let zoom = focus::narrowed(d, &f);
    let mut out = vec![
        plot::timeline::timeline(d, Some(&zoom)),
        plot::lamport::lamport(d, &zoom),
        plot::lamport::density(d, &zoom),
    ];
    if !d.history.is_empty() {
        let l = plot::latency::latencies(d);
        out.push(plot::latency::over_time(d, &l));
        out.push(plot::latency::distribution(&l));
        out.push(plot::latency::throughput(d, &l));
    }
    out.extend(plot::metrics::model_plots(d));
    out
}

/// `metrics.csv`: every metric sample, one a line (`at_ns,node,name,value`).
pub fn metrics_csv(d: &RunData) -> String {
    let mut s = String::from("at_ns,node,name,value\n");
    for m in &d.samples {
        s.push_str(&format!(
            "{},{},{},{}\n",
            m.at_ns,
            csv_field(&d.node_name(m.node)),
            csv_field(&m.name),
            m.value
        ));
    }
    s
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Writes `run.json`, then everything drawn from it (see `render_dir`).
pub fn write_run_dir(dir: &Path, d: &RunData) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("run.json");
    std::fs::write(
        &path,
        serde_json::to_string(d).map_err(std::io::Error::other)? + "\n",
    )?;
    let mut written = vec![path];
    written.extend(render_dir(dir, d)?);
    Ok(written)
}

/// Reads a run directory's `run.json`.
pub fn read_run_dir(dir: &Path) -> Result<RunData, String> {
    let path = dir.join("run.json");
    let text =
        std::fs::read_to_string(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let d: RunData =
        serde_json::from_str(&text).map_err(|e| format!("parsing {}: {e}", path.display()))?;
    if d.format != data::FORMAT {
        return Err(format!(
            "{} is in format `{}`; this dsim reads `{}`",
            path.display(),
            d.format,
            data::FORMAT
        ));
    }
    Ok(d)
}

/// Writes `index.html`, `summary.md`, `metrics.csv` and `plots/*.svg` from the data.
pub fn render_dir(dir: &Path, d: &RunData) -> std::io::Result<Vec<PathBuf>> {
    let figs = figures(d);
    let plots = dir.join("plots");
    std::fs::create_dir_all(&plots)?;
    let mut written = Vec::new();
    for f in &figs {
        let p = plots.join(format!("{}.svg", f.stem));
        std::fs::write(&p, &f.svg)?;
        written.push(p);
    }
    for (name, text) in [
        ("index.html", html(d, &figs)),
        ("summary.md", summary_md(d)),
        ("metrics.csv", metrics_csv(d)),
    ] {
        let p = dir.join(name);
        std::fs::write(&p, text)?;
        written.push(p);
    }
    Ok(written)
}

/// PNG copies of every `plots/*.svg` in a run directory (`dsim run --png`), rasterised
/// with resvg. Text needs a font from the system (DejaVu Sans or Liberation Sans, as
/// Chromium installs them, or any sans-serif); without one the shapes are drawn and the
/// text is left out. PNGs are for slides and bug reports; the page itself stays SVG.
pub fn write_pngs(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut opt = resvg::usvg::Options::default();
    {
        let db = opt.fontdb_mut();
        db.load_system_fonts();
        let families: Vec<String> = db
            .faces()
            .flat_map(|f| f.families.iter().map(|(name, _)| name.clone()))
            .collect();
        if let Some(found) = ["DejaVu Sans", "Liberation Sans", "Arial", "Noto Sans"]
            .into_iter()
            .find(|want| families.iter().any(|f| f == want))
        {
            db.set_sans_serif_family(found);
        }
    }
    let plots = dir.join("plots");
    let mut svgs: Vec<PathBuf> = std::fs::read_dir(&plots)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "svg"))
        .collect();
    svgs.sort();
    let mut written = Vec::new();
    for svg in svgs {
        let text = std::fs::read_to_string(&svg)?;
        let tree = resvg::usvg::Tree::from_str(&text, &opt)
            .map_err(|e| std::io::Error::other(format!("{}: {e}", svg.display())))?;
        let size = tree.size().to_int_size();
        let mut pixmap = resvg::tiny_skia::Pixmap::new(size.width(), size.height())
            .ok_or_else(|| std::io::Error::other(format!("{}: empty image", svg.display())))?;
        pixmap.fill(resvg::tiny_skia::Color::WHITE);
        resvg::render(
            &tree,
            resvg::tiny_skia::Transform::default(),
            &mut pixmap.as_mut(),
        );
        let png = pixmap
            .encode_png()
            .map_err(|e| std::io::Error::other(format!("{}: {e}", svg.display())))?;
        let out = svg.with_extension("png");
        std::fs::write(&out, png)?;
        written.push(out);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            esc("<a href=\"x\">&</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;"
        );
    }

    #[test]
    fn csv_quotes_what_needs_it() {
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("plain"), "plain");
    }
}
