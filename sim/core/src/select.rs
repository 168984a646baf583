//! Selectors: which nodes a fault hits, written in the scenario and resolved when the
//! fault fires (so `random(replica)` picks among the replicas that are up *then*, and
//! `leader` names whoever leads at that moment). The choice is recorded in the trace.
//!
//! Grammar: `all`, `node(NAME)`, `nodes(NAME, NAME, ...)`, `role(ROLE)`, `random` / `random(ROLE)`,
//! `minority` / `minority(ROLE)`, `majority` / `majority(ROLE)`, `rack(N)`, `zone(N)`,
//! or a model's own selector `NAME` / `NAME(ARG)` (e.g. `leader`, `leader(topic-0)`).

use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Selector {
    All,
    Node(String),
    /// Several nodes by name: how `dsim shrink` spells out faults the nemesis drew.
    Nodes(Vec<String>),
    Role(String),
    /// One node, drawn from the fault stream among those the fault can hit.
    Random(Option<String>),
    /// A random minority (⌊(n−1)/2⌋ nodes) of the role.
    Minority(Option<String>),
    /// A random majority (⌊n/2⌋+1 nodes) of the role.
    Majority(Option<String>),
    Rack(u32),
    Zone(u32),
    /// A selector the model resolves.
    Model {
        name: String,
        arg: Option<String>,
    },
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let opt = |name: &str, a: &Option<String>| match a {
            Some(a) => format!("{name}({a})"),
            None => name.to_string(),
        };
        match self {
            Selector::All => f.write_str("all"),
            Selector::Node(n) => write!(f, "node({n})"),
            Selector::Nodes(ns) => write!(f, "nodes({})", ns.join(", ")),
            Selector::Role(r) => write!(f, "role({r})"),
            Selector::Random(r) => f.write_str(&opt("random", r)),
            Selector::Minority(r) => f.write_str(&opt("minority", r)),
            Selector::Majority(r) => f.write_str(&opt("majority", r)),
            Selector::Rack(n) => write!(f, "rack({n})"),
            Selector::Zone(n) => write!(f, "zone({n})"),
            Selector::Model { name, arg } => f.write_str(&opt(name, arg)),
        }
    }
}

/// The engine's own selector names, for did-you-mean.
pub const BUILTIN: [&str; 9] = [
    "all", "node", "nodes", "role", "random", "minority", "majority", "rack", "zone",
];

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    #[error("`{0}` is not a selector: write e.g. \"random(replica)\", \"node(replica-1)\", \"minority\"")]
    Malformed(String),
    #[error("`{sel}` needs an argument: {hint}")]
    MissingArg { sel: String, hint: &'static str },
    #[error("`{0}` needs a number: e.g. \"rack(0)\"")]
    NotANumber(String),
}

impl Selector {
    /// Parses the text of a selector. Model selectors are accepted here and checked
    /// against the model's list by the scenario loader.
    pub fn parse(text: &str) -> Result<Selector, SelectorError> {
        let s = text.trim();
        let (name, arg) = match s.find('(') {
            Some(open) => {
                if !s.ends_with(')') {
                    return Err(SelectorError::Malformed(text.into()));
                }
                let arg = s[open + 1..s.len() - 1].trim();
                if arg.is_empty() {
                    return Err(SelectorError::Malformed(text.into()));
                }
                (&s[..open], Some(arg.to_string()))
            }
            None => (s, None),
        };
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        {
            return Err(SelectorError::Malformed(text.into()));
        }
        let num = |a: Option<String>| -> Result<u32, SelectorError> {
            a.as_deref()
                .ok_or_else(|| SelectorError::NotANumber(text.into()))?
                .parse()
                .map_err(|_| SelectorError::NotANumber(text.into()))
        };
        Ok(match name {
            "all" => Selector::All,
            "node" => Selector::Node(arg.ok_or(SelectorError::MissingArg {
                sel: text.into(),
                hint: "name the node, e.g. \"node(replica-1)\"",
            })?),
            "nodes" => {
                let list = arg.ok_or(SelectorError::MissingArg {
                    sel: text.into(),
                    hint: "name the nodes, e.g. \"nodes(replica-1, replica-2)\"",
                })?;
                let names: Vec<String> = list.split(',').map(|n| n.trim().to_string()).collect();
                if names.iter().any(String::is_empty) {
                    return Err(SelectorError::Malformed(text.into()));
                }
                Selector::Nodes(names)
            }
            "role" => Selector::Role(arg.ok_or(SelectorError::MissingArg {
                sel: text.into(),
                hint: "name the role, e.g. \"role(replica)\"",
            })?),
            "random" => Selector::Random(arg),
            "minority" => Selector::Minority(arg),
            "majority" => Selector::Majority(arg),
            "rack" => Selector::Rack(num(arg)?),
            "zone" => Selector::Zone(num(arg)?),
            _ => Selector::Model {
                name: name.to_string(),
                arg,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        assert_eq!(Selector::parse("all").unwrap(), Selector::All);
        assert_eq!(Selector::parse("random").unwrap(), Selector::Random(None));
        assert_eq!(
            Selector::parse("random(replica)").unwrap(),
            Selector::Random(Some("replica".into()))
        );
        assert_eq!(
            Selector::parse("node(replica-1)").unwrap(),
            Selector::Node("replica-1".into())
        );
        assert_eq!(Selector::parse("rack(2)").unwrap(), Selector::Rack(2));
        assert_eq!(
            Selector::parse("nodes(a, b)").unwrap(),
            Selector::Nodes(vec!["a".into(), "b".into()])
        );
        assert_eq!(
            Selector::parse("nodes(a,b)").unwrap().to_string(),
            "nodes(a, b)"
        );
        assert_eq!(
            Selector::parse("leader(topic-0)").unwrap(),
            Selector::Model {
                name: "leader".into(),
                arg: Some("topic-0".into())
            }
        );
        for s in [
            "all",
            "random(replica)",
            "minority",
            "rack(1)",
            "leader(t-0)",
        ] {
            assert_eq!(Selector::parse(s).unwrap().to_string(), s);
        }
    }

    #[test]
    fn refuses_malformed() {
        assert!(Selector::parse("random(").is_err());
        assert!(Selector::parse("node").is_err());
        assert!(Selector::parse("rack(x)").is_err());
        assert!(Selector::parse("a b").is_err());
        assert!(Selector::parse("node()").is_err());
        assert!(Selector::parse("nodes(a,,b)").is_err());
    }
}
