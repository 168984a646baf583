//! [`ScenarioError`]: one problem with a scenario file, at its line and column, rendered
//! the way rustc and cargo render theirs.

use std::fmt;
use std::ops::Range;

/// A problem with a scenario file.
///
/// `line` and `col` are 1-based (the column counts characters, not bytes); both are None
/// when the problem is not at a place in the file (it cannot be read, it is too large).
/// `snippet` is the offending line of the file followed by a line that underlines the
/// offending part with `^`, without gutters; [`Display`](fmt::Display) adds them:
///
/// ```text
/// error: scenarios/quorum/bad.toml:7:1: unknown key `wrte_back` in [model]
///   |
/// 7 | wrte_back = true
///   | ^^^^^^^^^
///   = hint: did you mean `write_back`?
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    pub file: String,
    pub line: Option<usize>,
    pub col: Option<usize>,
    pub message: String,
    pub hint: Option<String>,
    pub snippet: Option<String>,
}

impl ScenarioError {
    /// An error that is not at a place in the file.
    pub fn whole_file(file: &str, message: impl Into<String>, hint: Option<String>) -> Self {
        ScenarioError {
            file: file.to_string(),
            line: None,
            col: None,
            message: message.into(),
            hint,
            snippet: None,
        }
    }

    /// An error at a byte range of `source` (clamped to the source; only its first line is
    /// underlined).
    pub(crate) fn at_span(
        file: &str,
        source: &str,
        span: Range<usize>,
        message: impl Into<String>,
        hint: Option<String>,
    ) -> Self {
        let at = Position::of(source, span);
        ScenarioError {
            file: file.to_string(),
            line: Some(at.line),
            col: Some(at.col),
            message: message.into(),
            hint,
            snippet: Some(at.snippet),
        }
    }
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.col) {
            (Some(line), Some(col)) => {
                write!(f, "error: {}:{line}:{col}: {}", self.file, self.message)?
            }
            (Some(line), None) => write!(f, "error: {}:{line}: {}", self.file, self.message)?,
            _ => write!(f, "error: {}: {}", self.file, self.message)?,
        }
        let number = self.line.map(|l| l.to_string()).unwrap_or_default();
        let pad = " ".repeat(number.len().max(1));
        if let Some(snippet) = &self.snippet {
            write!(f, "\n{pad} |")?;
            let mut lines = snippet.lines();
            if let Some(text) = lines.next() {
                let label = if number.is_empty() {
                    pad.clone()
                } else {
                    number.clone()
                };
                write!(f, "\n{label} | {text}")?;
            }
            for under in lines {
                write!(f, "\n{pad} | {under}")?;
            }
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n{pad} = hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ScenarioError {}

/// Where a byte range starts, as a person counts: line, column and the line itself.
pub(crate) struct Position {
    pub line: usize,
    pub col: usize,
    pub snippet: String,
}

/// The largest char boundary of `s` at or below `i`.
pub(crate) fn floor_boundary(s: &str, i: usize) -> usize {
    let mut i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl Position {
    pub fn of(source: &str, span: Range<usize>) -> Position {
        let start = floor_boundary(source, span.start);
        let end = floor_boundary(source, span.end.max(start));
        let line_start = source[..start].rfind('\n').map(|i| i + 1).unwrap_or(0);
        let line_end = source[start..]
            .find('\n')
            .map(|i| start + i)
            .unwrap_or(source.len());
        let line = source[..start].matches('\n').count() + 1;
        let before = &source[line_start..start];
        let col = before.chars().count() + 1;
        let text = source[line_start..line_end].trim_end_matches('\r');
        let under_end = end.min(line_start + text.len()).max(start);
        let width = source[start..under_end].chars().count().max(1);
        // Keep tabs so that the carets line up under the text.
        let indent: String = before
            .chars()
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        let snippet = format!("{text}\n{indent}{}", "^".repeat(width));
        Position { line, col, snippet }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_counts_lines_and_chars() {
        let src = "a = 1\nbé = \"x\"\n";
        let p = Position::of(src, 12..15);
        assert_eq!((p.line, p.col), (2, 6));
        assert_eq!(p.snippet, "bé = \"x\"\n     ^^^");
    }

    #[test]
    fn position_survives_nonsense_spans() {
        let src = "é";
        let p = Position::of(src, 1..100);
        assert_eq!((p.line, p.col), (1, 1));
        let p = Position::of("", Range { start: 5, end: 2 });
        assert_eq!((p.line, p.col), (1, 1));
        assert_eq!(p.snippet, "\n^");
    }

    #[test]
    fn display_has_gutter_snippet_and_hint() {
        let e = ScenarioError::at_span(
            "bad.toml",
            "[model]\nname = \"quorum\"\n\n\n\n\nwrte_back = true\n",
            28..37,
            "unknown key `wrte_back` in [model]",
            Some("did you mean `write_back`?".into()),
        );
        assert_eq!(
            e.to_string(),
            "error: bad.toml:7:1: unknown key `wrte_back` in [model]\n  |\n7 | wrte_back = true\n  | ^^^^^^^^^\n  = hint: did you mean `write_back`?"
        );
        let e = ScenarioError::whole_file("x.toml", "cannot read it", None);
        assert_eq!(e.to_string(), "error: x.toml: cannot read it");
    }
}
