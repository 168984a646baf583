//! Did-you-mean, and reading serde's "unknown field / unknown variant" messages.

/// The candidate closest to `word`, when it is close enough to be a likely typo.
pub fn did_you_mean<'a, S: AsRef<str>>(word: &str, candidates: &'a [S]) -> Option<&'a str> {
    let w = word.to_lowercase();
    let mut best: Option<(usize, f64, &'a str)> = None;
    for c in candidates {
        let c = c.as_ref();
        if c == word {
            // Not a typo: nothing to suggest.
            return None;
        }
        // Words of very different lengths are never close (neither test below can pass),
        // and comparing them costs |word| x |candidate|: skip before measuring.
        let (a, b) = (word.len(), c.len());
        if a > 4 * b.max(1) || b > 4 * a.max(1) {
            continue;
        }
        let l = c.to_lowercase();
        let dist = strsim::damerau_levenshtein(&w, &l);
        let sim = strsim::jaro_winkler(&w, &l);
        let (wn, ln) = (w.chars().count(), l.chars().count());
        // A few edits for the length, or the same start; never a word replaced outright.
        let close = (dist <= (wn.min(ln) / 3).max(1) || sim >= 0.88) && dist < wn.max(ln);
        if !close {
            continue;
        }
        let better = match best {
            None => true,
            Some((d, s, _)) => dist < d || (dist == d && sim > s),
        };
        if better {
            best = Some((dist, sim, c));
        }
    }
    best.map(|(_, _, c)| c)
}

/// "did you mean `x`?", or the list of what is allowed, or nothing.
pub fn hint<S: AsRef<str>>(word: &str, candidates: &[S]) -> Option<String> {
    if let Some(c) = did_you_mean(word, candidates) {
        return Some(format!("did you mean `{c}`?"));
    }
    if candidates.is_empty() {
        return None;
    }
    Some(format!("expected one of {}", list(candidates)))
}

/// "`a`, `b`, `c`".
pub fn list<S: AsRef<str>>(items: &[S]) -> String {
    items
        .iter()
        .map(|s| format!("`{}`", s.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The backticked words of a message, in order.
pub fn backticked(message: &str) -> Vec<&str> {
    message.split('`').skip(1).step_by(2).collect()
}

/// serde's "unknown field `x`, expected one of `a`, `b`" (or "unknown variant ...").
#[derive(Debug, PartialEq, Eq)]
pub struct Unknown {
    /// true for a field (a key), false for a variant (a value).
    pub field: bool,
    pub name: String,
    pub expected: Vec<String>,
}

impl Unknown {
    pub fn parse(message: &str) -> Option<Unknown> {
        let (field, rest) = if let Some(r) = message.strip_prefix("unknown field ") {
            (true, r)
        } else if let Some(r) = message.strip_prefix("unknown variant ") {
            (false, r)
        } else {
            return None;
        };
        let words = backticked(rest);
        let name = (*words.first()?).to_string();
        let expected = words[1..].iter().map(|s| s.to_string()).collect();
        Some(Unknown {
            field,
            name,
            expected,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let keys = ["latency", "loss", "duplicate", "reorder", "reorder_delay"];
        assert_eq!(did_you_mean("los", &keys), Some("loss"));
        assert_eq!(did_you_mean("reordr", &keys), Some("reorder"));
        assert_eq!(did_you_mean("reorder-delay", &keys), Some("reorder_delay"));
        assert_eq!(did_you_mean("bandwidth", &keys), None);
        assert_eq!(
            did_you_mean("replca", &["replica", "client"]),
            Some("replica")
        );
        assert_eq!(
            did_you_mean("wrte_back", &["w", "r", "write_back"]),
            Some("write_back")
        );
        assert_eq!(did_you_mean("loss", &keys), None);
        assert_eq!(did_you_mean("", &keys), None);
        assert_eq!(did_you_mean("x", &["w", "r"]), None);
        assert_eq!(did_you_mean("Loss", &keys), Some("loss"));
    }

    #[test]
    fn reads_serde_messages() {
        let u = Unknown::parse("unknown field `los`, expected one of `latency`, `loss`").unwrap();
        assert_eq!(
            u,
            Unknown {
                field: true,
                name: "los".into(),
                expected: vec!["latency".into(), "loss".into()]
            }
        );
        let u = Unknown::parse("unknown variant `crsh`, expected `crash` or `restart`").unwrap();
        assert!(!u.field);
        assert_eq!(u.expected, ["crash", "restart"]);
        let u = Unknown::parse("unknown field `x`, there are no fields").unwrap();
        assert!(u.expected.is_empty());
        assert!(Unknown::parse("missing field `at`").is_none());
    }
}
