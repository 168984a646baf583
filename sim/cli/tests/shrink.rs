//! `dsim shrink`: a failing seed becomes a smaller scenario that fails the same way.

mod common;
use common::*;

const NO_WRITEBACK: &str = "../../scenarios/quorum/nwr-no-writeback.toml";
const STRICT: &str = "../../scenarios/quorum/nwr-strict.toml";

fn first_failing_seed(scenario: &str) -> u64 {
    let (_, out, _) = dsim(&["sweep", scenario, "--seeds", "1..40", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("sweep JSON");
    v["failures"][0]["seed"]
        .as_u64()
        .expect("a failing seed in 1..40")
}

#[test]
fn a_nemesis_run_shrinks_to_a_few_explicit_faults_that_still_fail() {
    let seed = first_failing_seed(NO_WRITEBACK).to_string();
    let dir = std::env::temp_dir().join(format!("dsim-shrink-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("shrunk.toml");
    let out_s = out.to_str().unwrap();
    let (code, _, err) = dsim(&["shrink", NO_WRITEBACK, "--seed", &seed, "--out", out_s]);
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(&out).expect("the shrunk scenario is written");
    assert!(
        !text.contains("\n[nemesis]"),
        "the nemesis is spelled out:\n{text}"
    );
    assert!(text.contains("spelled out"), "the header says so:\n{text}");
    let faults = text.matches("[[faults]]").count();
    // The original has 2 scripted faults and a nemesis drawing one every 1-3 s for 20 s.
    assert!((1..=4).contains(&faults), "{faults} faults left:\n{text}");
    assert!(err.contains("before:") && err.contains("after:"), "{err}");
    // The file holds itself to the bug: the same seed fails with the same check.
    let (code, stdout, err) = dsim(&["check", out_s]);
    assert_eq!(code, 0, "{stdout}\n{err}");
    assert!(stdout.contains("1 passed, 0 failed"), "{stdout}");
}

#[test]
fn a_valid_seed_has_nothing_to_shrink() {
    let (code, _, err) = dsim(&["shrink", STRICT, "--seed", "1", "--out", "/dev/null"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("is valid"), "{err}");
}

/// `nodes(...)`, which shrinking writes, is checked against the model like `node(...)`.
#[test]
fn a_nodes_selector_naming_an_unknown_node_is_refused_with_its_line() {
    let dir = std::env::temp_dir().join(format!("dsim-nodes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("nodes.toml");
    std::fs::write(
        &f,
        "name = \"nodes\"\ndescription = \"x\"\n[model]\nname = \"quorum\"\n[run]\nfault_phase = \"2s\"\nheal_phase = \"1s\"\n\
         [[faults]]\nat = \"1s\"\nkind = \"crash\"\ntarget = \"nodes(replica-1, replica-9)\"\n",
    )
    .unwrap();
    let (code, _, err) = dsim(&["run", f.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no node is named `replica-9`"), "{err}");
    assert!(err.contains("nodes.toml:11:"), "points at the line: {err}");
}
