//! `dsim list`: the catalogue, one line a scenario.

use std::path::Path;

use crate::Failure;

pub fn list(dir: &Path) -> Result<i32, Failure> {
    let files = crate::files::scenario_files(&[dir.to_path_buf()])?;
    let mut code = 0;
    // Columns as wide as their widest entry, so the stories line up.
    let mut rows: Vec<[String; 4]> = Vec::new();
    for f in files {
        match crate::files::load(&f) {
            Ok((s, _runner)) => {
                let expect = s
                    .expect
                    .as_ref()
                    .map(|e| format!("{} over {}", e.verdict.name(), e.seeds))
                    .unwrap_or_else(|| "no [expect]".into());
                let story = first_sentence(&s.description);
                rows.push([s.path.clone(), s.model.clone(), expect, story]);
            }
            Err(e) => {
                let why = format!("(does not load: {})", crate::files::short_error(&e));
                rows.push([f.display().to_string(), String::new(), String::new(), why]);
                code = 2;
            }
        }
    }
    let width = |k: usize| rows.iter().map(|r| r[k].chars().count()).max().unwrap_or(0);
    let (w0, w1, w2) = (width(0), width(1), width(2));
    for [path, model, expect, story] in &rows {
        println!("{path:<w0$}  {model:<w1$}  {expect:<w2$}  {story}");
    }
    Ok(code)
}

/// The description's first sentence, cut to fit a line.
fn first_sentence(text: &str) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let end = flat.find(". ").map(|i| i + 1).unwrap_or(flat.len());
    let mut s: String = flat[..end].chars().take(90).collect();
    if s.len() < end {
        s.push_str("...");
    }
    s
}
