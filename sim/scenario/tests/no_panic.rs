//! No input makes the loader panic: random text, random token soup, and random mutations
//! of a valid file, through parse, model_config, validate_with, error_at and Display.

use dsim_core::units::Duration;
use dsim_core::{Catalogue, CheckInfo};
use dsim_scenario::{ModelInfo, Scenario};
use proptest::prelude::*;
use serde::Deserialize;

const FULL: &str = include_str!("data/full.toml");

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[allow(dead_code)]
struct Cfg {
    replicas: u32,
    w: u32,
    r: u32,
    write_back: bool,
    op_timeout: Duration,
    nested: Option<Nested>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Nested {
    a: u32,
}

impl Default for Cfg {
    fn default() -> Self {
        Cfg {
            replicas: 3,
            w: 2,
            r: 2,
            write_back: true,
            op_timeout: Duration::ZERO,
            nested: None,
        }
    }
}

static ALWAYS: [CheckInfo; 1] = [CheckInfo {
    name: "no-stale-read",
    about: "",
}];
static HISTORY: [CheckInfo; 1] = [CheckInfo {
    name: "linearizable",
    about: "",
}];
static SELECTORS: [&str; 1] = ["leader"];

fn exercise(src: &str) {
    match Scenario::parse("fuzz.toml", src) {
        Ok(s) => {
            let _ = s.model_config::<Cfg>().map_err(|e| e.to_string());
            let _ = s.model_config::<toml::Table>().map_err(|e| e.to_string());
            let info = ModelInfo {
                names_racks: false,
                node_names: vec!["replica-1".into(), "client-1".into()],
                roles: vec!["client", "replica"],
                selectors: &SELECTORS,
                catalogue: Catalogue {
                    always: &ALWAYS,
                    history: &HISTORY,
                    ..Catalogue::default()
                },
            };
            let _ = s.validate_with(&info).map_err(|e| e.to_string());
            for path in [
                &["model", "w"][..],
                &["faults", "2", "at"],
                &["faults", "99"],
                &[],
                &["x", "y", "z"],
            ] {
                let _ = s.error_at(path, "m", Some("h".into())).to_string();
            }
            let _ = s
                .config_error(dsim_core::ConfigError::new("w", "m", None))
                .to_string();
        }
        Err(e) => {
            let shown = e.to_string();
            assert!(shown.starts_with("error: fuzz.toml"), "{shown}");
            if let Some(line) = e.line {
                assert!(
                    line >= 1 && line <= src.lines().count().max(1) + 1,
                    "line {line} outside the file:\n{shown}"
                );
            }
        }
    }
}

/// Pieces of scenario files, to make token soup that gets past the TOML parser more often.
const TOKENS: [&str; 48] = [
    "\n",
    "\n",
    " ",
    "=",
    "\"",
    "[",
    "]",
    "[[",
    "]]",
    "{",
    "}",
    ",",
    ".",
    "name",
    "description",
    "model",
    "run",
    "network",
    "faults",
    "nemesis",
    "checks",
    "expect",
    "limits",
    "topology",
    "disk",
    "at",
    "kind",
    "target",
    "\"crash\"",
    "\"1s\"",
    "\"90s\"",
    "\"random(\"",
    "\"random(replica)\"",
    "\"1/0\"",
    "\"3/2\"",
    "0",
    "-1",
    "18446744073709551615",
    "\"9999999999999d\"",
    "1e400",
    "\"20000000000/20000000000\"",
    "\"x\"",
    "latency",
    "dist",
    "\"uniform\"",
    "seeds",
    "\"0..18446744073709551615\"",
    "verdict",
];

fn soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS.to_vec()), 0..80).prop_map(|v| v.concat())
}

#[derive(Debug, Clone)]
enum Edit {
    Delete(usize, usize),
    Insert(usize, String),
    DuplicateLine(usize),
    SwapLines(usize, usize),
    /// Replaces the value of a `key = value` line.
    ReplaceValue(usize, &'static str),
}

/// Values that are valid somewhere, to get past the parser and into the semantic checks.
const VALUES: [&str; 30] = [
    "0",
    "1",
    "-1",
    "3",
    "4294967296",
    "18446744073709551615",
    "0.5",
    "true",
    "\"0\"",
    "\"1s\"",
    "\"90s\"",
    "\"1ms\"",
    "\"-2s\"",
    "\"1/3\"",
    "\"crash\"",
    "\"heal\"",
    "\"partition\"",
    "\"disk\"",
    "\"slow\"",
    "\"all\"",
    "\"rack(7)\"",
    "\"node(nope)\"",
    "\"random(x)\"",
    "\"leader(a)\"",
    "\"one-way\"",
    "\"bridge\"",
    "[]",
    "[\"crash\"]",
    "\"1..1\"",
    "{ dist = \"uniform\", min = \"2s\", max = \"1s\" }",
];

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 0usize..40).prop_map(|(a, n)| Edit::Delete(a, n)),
        (
            any::<usize>(),
            prop_oneof![soup(), "\\PC{0,12}".prop_map(|s| s)]
        )
            .prop_map(|(a, s)| Edit::Insert(a, s)),
        any::<usize>().prop_map(Edit::DuplicateLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::SwapLines(a, b)),
        (any::<usize>(), prop::sample::select(VALUES.to_vec()))
            .prop_map(|(a, v)| Edit::ReplaceValue(a, v)),
        (any::<usize>(), prop::sample::select(VALUES.to_vec()))
            .prop_map(|(a, v)| Edit::ReplaceValue(a, v)),
    ]
}

fn floor(s: &str, i: usize) -> usize {
    let mut i = i % (s.len() + 1);
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn apply(src: &str, edits: &[Edit]) -> String {
    let mut s = src.to_string();
    for e in edits {
        match e {
            Edit::Delete(a, n) => {
                let a = floor(&s, *a);
                let b = floor(&s, (a + n).min(s.len()));
                s.replace_range(a..b.max(a), "");
            }
            Edit::Insert(a, t) => {
                let a = floor(&s, *a);
                s.insert_str(a, t);
            }
            Edit::DuplicateLine(i) => {
                let lines: Vec<&str> = s.lines().collect();
                if !lines.is_empty() {
                    let i = i % lines.len();
                    let mut out: Vec<&str> = lines.clone();
                    out.insert(i, lines[i]);
                    s = out.join("\n");
                }
            }
            Edit::ReplaceValue(i, v) => {
                let lines: Vec<String> = s
                    .lines()
                    .enumerate()
                    .map(|(n, l)| match l.split_once(" = ") {
                        Some((k, _)) if n == i % s.lines().count().max(1) => format!("{k} = {v}"),
                        _ => l.to_string(),
                    })
                    .collect();
                s = lines.join("\n");
            }
            Edit::SwapLines(a, b) => {
                let mut lines: Vec<&str> = s.lines().collect();
                if !lines.is_empty() {
                    let (a, b) = (a % lines.len(), b % lines.len());
                    lines.swap(a, b);
                    s = lines.join("\n");
                }
            }
        }
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_text_never_panics(src in "\\PC{0,400}") {
        exercise(&src);
    }

    #[test]
    fn token_soup_never_panics(src in soup()) {
        exercise(&src);
    }

    #[test]
    fn revalued_valid_file_never_panics(
        edits in prop::collection::vec(
            (any::<usize>(), prop::sample::select(VALUES.to_vec())).prop_map(|(a, v)| Edit::ReplaceValue(a, v)),
            1..3,
        )
    ) {
        exercise(&apply(FULL, &edits));
    }

    #[test]
    fn mutated_valid_file_never_panics(edits in prop::collection::vec(edit(), 1..6)) {
        exercise(&apply(FULL, &edits));
    }
}

#[test]
fn the_unmutated_file_is_valid() {
    let s = Scenario::parse("full.toml", FULL).unwrap();
    s.model_config::<Cfg>().unwrap();
}

#[test]
fn odd_inputs_do_not_panic() {
    for src in [
        "",
        "\u{feff}",
        "\r\n\r\n",
        "name = \"t\"\r\ndescription = \"d\"\r\nmodel = \"q\"\r\nnmae = 1\r\n",
        "model = 1\nname = \"t\"\ndescription = \"d\"\n",
        "name = \"t\"\ndescription = \"d\"\nmodel = []\n",
        "name = \"t\"\ndescription = \"d\"\nmodel = {}\n",
        "name = \"t\"\ndescription = \"d\"\n[model]\nname = \"\"\n",
        "name = \"t\"\ndescription = \"d\"\nmodel = \"q\"\n[expect]\nseeds = \"0..18446744073709551615\"\nverdict = \"valid\"\n",
        "name = \"t\"\ndescription = \"d\"\nmodel = \"q\"\n[expect]\nseeds = -3\nverdict = \"valid\"\n",
        "name = \"t\"\ndescription = \"d\"\nmodel = \"q\"\n[run]\nfault_phase = \"213503d\"\nheal_phase = \"213503d\"\n",
        "name = \"t\"\ndescription = \"d\"\nmodel = \"q\"\n[[faults]]\nat = \"1s\"\nkind = \"clock-jump\"\ntarget = \"all\"\noffset = \"-213503d\"\n",
        "name = \"t\"\ndescription = \"d\"\nmodel = \"q\"\n[nemesis]\nkinds = [\"clock-jump\"]\ninterval_min = \"1s\"\ninterval_max = \"1s\"\nduration_min = \"1s\"\nduration_max = \"1s\"\nclock_jump_max = \"213503d\"\n",
        "name = \"t\"\ndescription = \"d\"\nmodel = \"q\"\nfaults = [{ at = \"1s\", kind = \"crash\" }]\n",
        "name = \"t\"\ndescription = \"d\"\nmodel = \"q\"\n[network]\nloss = \"18446744073709551615/18446744073709551615\"\n",
        "name = \"t\"\ndescription = \"d\"\n[model]\nname = \"q\"\nread_ratio = \"99999999999/99999999999\"\n",
        "name = \"t\"\ndescription = \"d\"\nmodel = \"q\"\nfaults = [{ at = \"1s\", kind = \"crash\", target = \"node(a)\" }]\n",
    ] {
        exercise(src);
    }
}
