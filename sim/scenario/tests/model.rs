//! The model's side: `model_config` into the model's own type, and `validate_with` against
//! what the model offers.

use dsim_core::units::Duration;
use dsim_core::{Catalogue, CheckInfo};
use dsim_scenario::{ModelInfo, Scenario, ScenarioError};
use serde::Deserialize;

/// A stand-in for a model's `[model]` type.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct QuorumLike {
    replicas: u32,
    w: u32,
    r: u32,
    write_back: bool,
    op_timeout: Duration,
}

impl Default for QuorumLike {
    fn default() -> Self {
        QuorumLike {
            replicas: 3,
            w: 2,
            r: 2,
            write_back: true,
            op_timeout: Duration::from_ms(500),
        }
    }
}

/// A type with a required key.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Needs {
    workers: u32,
}

fn parse(src: &str) -> Scenario {
    Scenario::parse("t.toml", src).unwrap_or_else(|e| panic!("{e}"))
}

fn at(e: &ScenarioError, line: usize, col: usize, message: &str, hint: Option<&str>) {
    assert_eq!(
        (e.line, e.col),
        (Some(line), Some(col)),
        "wrong place:\n{e}"
    );
    assert!(
        e.message.contains(message),
        "message lacks {message:?}:\n{e}"
    );
    if let Some(h) = hint {
        assert!(
            e.hint.as_deref().is_some_and(|x| x.contains(h)),
            "hint lacks {h:?}:\n{e}"
        );
    }
}

const HEAD: &str = "name = \"t\"\ndescription = \"d\"\n";

#[test]
fn model_config_reads_the_table() {
    let s = parse(&format!(
        "{HEAD}[model]\nname = \"quorum\"\nreplicas = 5\nw = 3\nop_timeout = \"1s\"\n"
    ));
    let q: QuorumLike = s.model_config().unwrap();
    assert_eq!(
        q,
        QuorumLike {
            replicas: 5,
            w: 3,
            op_timeout: Duration::from_secs(1),
            ..QuorumLike::default()
        }
    );
    // `model = "name"`: the type's defaults.
    let s = parse(&format!("{HEAD}model = \"quorum\"\n"));
    assert_eq!(
        s.model_config::<QuorumLike>().unwrap(),
        QuorumLike::default()
    );
    // Inline table.
    let s = parse(&format!("{HEAD}model = {{ name = \"quorum\", r = 1 }}\n"));
    assert_eq!(s.model_config::<QuorumLike>().unwrap().r, 1);
}

#[test]
fn model_config_unknown_key_points_at_its_line() {
    let s = parse(&format!(
        "{HEAD}\n[model]\nname = \"quorum\"\nreplicas = 3\nwrte_back = true\n"
    ));
    let e = s.model_config::<QuorumLike>().unwrap_err();
    at(
        &e,
        7,
        1,
        "unknown key `wrte_back` in [model]",
        Some("did you mean `write_back`?"),
    );
    assert_eq!(e.snippet.as_deref(), Some("wrte_back = true\n^^^^^^^^^"));
    let s = parse(&format!(
        "{HEAD}model = {{ name = \"quorum\", wrte_back = true }}\n"
    ));
    let e = s.model_config::<QuorumLike>().unwrap_err();
    at(
        &e,
        3,
        28,
        "unknown key `wrte_back` in [model]",
        Some("did you mean `write_back`?"),
    );
}

#[test]
fn model_config_value_errors_keep_their_place() {
    let s = parse(&format!("{HEAD}[model]\nname = \"quorum\"\nw = \"two\"\n"));
    let e = s.model_config::<QuorumLike>().unwrap_err();
    at(&e, 5, 5, "invalid type", None);
    let s = parse(&format!(
        "{HEAD}[model]\nname = \"quorum\"\nop_timeout = \"5 sec\"\n"
    ));
    let e = s.model_config::<QuorumLike>().unwrap_err();
    at(&e, 5, 14, "`5 sec` has an unknown unit", None);
    // A required key that is missing.
    let s = parse(&format!("{HEAD}[model]\nname = \"heartbeat\"\n"));
    let e = s.model_config::<Needs>().unwrap_err();
    at(&e, 3, 1, "missing key `workers` in [model]", None);
    let s = parse(&format!("{HEAD}model = \"heartbeat\"\n"));
    let e = s.model_config::<Needs>().unwrap_err();
    at(
        &e,
        3,
        1,
        "the `heartbeat` model needs `workers`",
        Some("[model]"),
    );
}

static ALWAYS: [CheckInfo; 2] = [
    CheckInfo {
        name: "no-stale-read",
        about: "",
    },
    CheckInfo {
        name: "acked-durable",
        about: "",
    },
];
static EVENTUALLY: [CheckInfo; 1] = [CheckInfo {
    name: "converged",
    about: "",
}];
static SOMETIMES: [CheckInfo; 1] = [CheckInfo {
    name: "write-acked",
    about: "",
}];
static HISTORY: [CheckInfo; 1] = [CheckInfo {
    name: "linearizable",
    about: "",
}];
static SELECTORS: [&str; 1] = ["leader"];

fn info() -> ModelInfo<'static> {
    ModelInfo {
        names_racks: false,
        node_names: vec![
            "replica-1".into(),
            "replica-2".into(),
            "replica-3".into(),
            "client-1".into(),
        ],
        roles: vec!["client", "replica"],
        selectors: &SELECTORS,
        catalogue: Catalogue {
            always: &ALWAYS,
            eventually: &EVENTUALLY,
            sometimes: &SOMETIMES,
            history: &HISTORY,
        },
    }
}

const M: &str = "name = \"t\"\ndescription = \"d\"\nmodel = \"quorum\"\n";

#[test]
fn validate_accepts_known_names() {
    let s = parse(include_str!("data/full.toml"));
    s.validate_with(&info()).unwrap();
}

#[test]
fn validate_unknown_check_suggests_nearest() {
    let s = parse(&format!(
        "{M}[checks]\nalways = [\"no-stale-read\", \"acked-durabel\"]\n"
    ));
    let e = s.validate_with(&info()).unwrap_err();
    at(
        &e,
        5,
        28,
        "unknown always check `acked-durabel`",
        Some("did you mean `acked-durable`?"),
    );
    // A check of another kind says where it belongs.
    let s = parse(&format!("{M}[checks]\nalways = [\"linearizable\"]\n"));
    let e = s.validate_with(&info()).unwrap_err();
    at(
        &e,
        5,
        11,
        "unknown always check `linearizable`",
        Some("move it to `history`"),
    );
    // Nothing close: the list.
    let s = parse(&format!(
        "{M}[checks]\nhistory = [\"serializable-snapshot\"]\n"
    ));
    let e = s.validate_with(&info()).unwrap_err();
    at(&e, 5, 12, "unknown history check", Some("`linearizable`"));
}

#[test]
fn validate_expect_invariants_against_the_catalogue() {
    let s = parse(&format!(
        "{M}[checks]\nalways = [\"no-stale-reed\"]\n[expect]\nseeds = \"1..2\"\nverdict = \"violation\"\ninvariants = [\"no-stale-reed\"]\n"
    ));
    // The [checks] entry is reported first.
    let e = s.validate_with(&info()).unwrap_err();
    at(
        &e,
        5,
        11,
        "unknown always check `no-stale-reed`",
        Some("did you mean `no-stale-read`?"),
    );
}

#[test]
fn validate_unknown_role_in_random() {
    let s = parse(&format!(
        "{M}[[faults]]\nat = \"1s\"\nkind = \"crash\"\ntarget = \"random(replca)\"\n"
    ));
    let e = s.validate_with(&info()).unwrap_err();
    at(
        &e,
        7,
        1,
        "no node has the role `replca`",
        Some("did you mean `replica`?"),
    );
    let s = parse(&format!("{M}[[faults]]\nat = \"1s\"\nkind = \"partition\"\nshape = \"majority-minority\"\ntarget = \"role(storage)\"\n"));
    let e = s.validate_with(&info()).unwrap_err();
    at(
        &e,
        8,
        1,
        "no node has the role `storage`",
        Some("roles: client, replica"),
    );
}

#[test]
fn validate_unknown_node() {
    let s = parse(&format!(
        "{M}[[faults]]\nat = \"1s\"\nkind = \"crash\"\ntarget = \"node(x)\"\n"
    ));
    let e = s.validate_with(&info()).unwrap_err();
    at(
        &e,
        7,
        1,
        "no node is named `x`",
        Some("nodes: replica-1, replica-2"),
    );
    let s = parse(&format!("{M}[[faults]]\nat = \"1s\"\nkind = \"partition\"\nshape = \"one-way\"\ntarget = \"node(replica-1)\"\nto = \"node(replica-4)\"\n"));
    let e = s.validate_with(&info()).unwrap_err();
    at(
        &e,
        9,
        1,
        "no node is named `replica-4`",
        Some("did you mean `replica-1`?"),
    );
}

#[test]
fn validate_unknown_model_selector() {
    let s = parse(&format!(
        "{M}[[faults]]\nat = \"1s\"\nkind = \"crash\"\ntarget = \"leadr\"\n"
    ));
    let e = s.validate_with(&info()).unwrap_err();
    at(
        &e,
        7,
        1,
        "unknown selector `leadr`",
        Some("did you mean `leader`?"),
    );
    let s = parse(&format!(
        "{M}[[faults]]\nat = \"1s\"\nkind = \"crash\"\ntarget = \"majorty\"\n"
    ));
    let e = s.validate_with(&info()).unwrap_err();
    at(
        &e,
        7,
        1,
        "unknown selector `majorty`",
        Some("did you mean `majority`?"),
    );
    let s = parse(&format!(
        "{M}[[faults]]\nat = \"1s\"\nkind = \"crash\"\ntarget = \"coordinator\"\n"
    ));
    let e = s.validate_with(&info()).unwrap_err();
    at(
        &e,
        7,
        1,
        "unknown selector `coordinator`",
        Some("random(ROLE)"),
    );
}

#[test]
fn validate_nemesis_role() {
    let s = parse(&format!(
        "{M}[nemesis]\nkinds = [\"crash\"]\ninterval_min = \"1s\"\ninterval_max = \"2s\"\nduration_min = \"1s\"\nduration_max = \"2s\"\nrole = \"replicas\"\n"
    ));
    let e = s.validate_with(&info()).unwrap_err();
    at(
        &e,
        10,
        1,
        "no node has the role `replicas`",
        Some("did you mean `replica`?"),
    );
}
