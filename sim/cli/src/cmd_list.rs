//! `dsim list`: the catalogue, one line a scenario.

use std::path::Path;

use crate::Failure;

pub fn list(dir: &Path) -> Result<i32, Failure> {
    let files = crate::files::scenario_files(&[dir.to_path_buf()])?;
    let mut code = 0;
    for f in files {
        match crate::files::load(&f) {
            Ok((s, _runner)) => {
                let expect = s
                    .expect
                    .as_ref()
                    .map(|e| format!("{} over {}", e.verdict.name(), e.seeds))
                    .unwrap_or_else(|| "no [expect]".into());
                let story = first_sentence(&s.description);
                println!("{:<34} {:<10} {:<24} {}", s.path, s.model, expect, story);
            }
            Err(e) => {
                println!(
                    "{:<34} (does not load: {})",
                    f.display(),
                    crate::files::short_error(&e)
                );
                code = 2;
            }
        }
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
