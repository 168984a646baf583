//! The report's plots, drawn with plotters into SVG strings (inlined into `index.html`
//! and written under `plots/`). Each plot module draws one figure from `RunData`.
//! Time axes are in seconds of virtual time; latencies in milliseconds.

pub mod lamport;
pub mod latency;
pub mod metrics;
pub mod timeline;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::windows::Shade;

pub type Res = Result<(), Box<dyn std::error::Error>>;
pub type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

/// A drawn figure: a file stem (`plots/<stem>.svg`), a heading, and the SVG text.
pub struct Figure {
    pub stem: String,
    pub title: String,
    pub svg: String,
    /// Words under the figure (what to look at).
    pub caption: String,
}

/// Draws a `w` x `h` SVG; a drawing error becomes a one-line SVG that says so.
pub fn svg(w: u32, h: u32, draw: impl FnOnce(&Area<'_>) -> Res) -> String {
    let mut buf = String::new();
    let err = {
        let root = SVGBackend::with_string(&mut buf, (w, h)).into_drawing_area();
        let r = root
            .fill(&WHITE)
            .map_err(|e| e.into())
            .and_then(|_| draw(&root));
        let r2 = root.present();
        r.err()
            .map(|e| e.to_string())
            .or(r2.err().map(|e| e.to_string()))
    };
    match err {
        None => buf,
        Some(e) => format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"30\"><text x=\"4\" y=\"20\">plot failed: {}</text></svg>",
            crate::esc(&e)
        ),
    }
}

/// Nanoseconds as seconds, for time axes.
pub fn secs(ns: u64) -> f64 {
    ns as f64 / 1e9
}

/// Nanoseconds as milliseconds, for latencies.
pub fn millis(ns: u64) -> f64 {
    ns as f64 / 1e6
}

pub fn rgb(c: (u8, u8, u8)) -> RGBColor {
    RGBColor(c.0, c.1, c.2)
}

pub fn shade_color(s: Shade) -> RGBColor {
    rgb(s.rgb())
}

/// A distinct colour per series index.
pub fn series_color(i: usize) -> RGBColor {
    const P: [(u8, u8, u8); 10] = [
        (31, 119, 180),
        (255, 127, 14),
        (44, 160, 44),
        (148, 103, 189),
        (140, 86, 75),
        (227, 119, 194),
        (23, 190, 207),
        (188, 189, 34),
        (127, 127, 127),
        (214, 39, 40),
    ];
    rgb(P[i % P.len()])
}

/// A colour for a role name: the common roles fixed, the rest from a stable hash.
pub fn role_color(state: &str) -> RGBColor {
    match state {
        "leader" | "primary" | "master" | "coordinator" => RGBColor(76, 175, 80),
        "follower" | "backup" | "replica" | "worker" => RGBColor(144, 191, 232),
        "candidate" | "looking" | "electing" => RGBColor(250, 210, 60),
        "observer" | "learner" => RGBColor(120, 200, 190),
        "client" => RGBColor(225, 225, 235),
        "down" => shade_color(Shade::Crash),
        _ => {
            let h = state
                .bytes()
                .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32));
            let base = [
                (180, 200, 230),
                (200, 230, 180),
                (230, 200, 180),
                (210, 190, 230),
                (190, 225, 225),
            ];
            rgb(base[(h % base.len() as u32) as usize])
        }
    }
}

pub fn font(size: u32) -> TextStyle<'static> {
    ("sans-serif", size).into_font().color(&BLACK)
}

/// Text anchored at its left and vertical middle.
pub fn left_mid(size: u32) -> TextStyle<'static> {
    font(size).pos(Pos::new(HPos::Left, VPos::Center))
}

/// Text anchored at its right and vertical middle.
pub fn right_mid(size: u32) -> TextStyle<'static> {
    font(size).pos(Pos::new(HPos::Right, VPos::Center))
}

/// A rough width of `text` in pixels at `size` (for deciding whether a label fits).
pub fn text_width(text: &str, size: u32) -> i32 {
    (text.chars().count() as f64 * size as f64 * 0.58) as i32
}

/// The pth percentile (0..=100) of sorted values, nearest-rank.
pub fn percentile(sorted: &[u64], p: u64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len() as u64).div_ceil(100).max(1) as usize;
    sorted.get(rank - 1).copied()
}

/// Draws a legend row of coloured boxes with labels, left to right, at pixel (x, y).
pub fn legend_row(area: &Area<'_>, x: i32, y: i32, items: &[(RGBColor, String)]) -> Res {
    let mut cx = x;
    for (c, label) in items {
        area.draw(&Rectangle::new([(cx, y - 6), (cx + 12, y + 6)], c.filled()))?;
        area.draw(&Text::new(label.clone(), (cx + 16, y), left_mid(12)))?;
        cx += 16 + text_width(label, 12) + 18;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(super::percentile(&v, 50), Some(50));
        assert_eq!(super::percentile(&v, 99), Some(99));
        assert_eq!(super::percentile(&v, 100), Some(100));
        assert_eq!(super::percentile(&[7], 95), Some(7));
        assert_eq!(super::percentile(&[], 50), None);
    }
}
