//! One scenario per verdict that the catalogue never produces on purpose, each checked for
//! its exit code (design brief §8) and its words: 3 liveness, 4 a `sometimes` never
//! reached, 5 a model panic (and a sweep that goes on past it), 6 a checker that gave up.

use std::path::PathBuf;
use std::process::{Command, Output};

fn scratch(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dsim-exit-codes-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).expect("scenario written");
    path
}

fn dsim(args: &[&str]) -> (i32, String, String) {
    let out: Output = Command::new(env!("CARGO_BIN_EXE_dsim"))
        .args(args)
        .output()
        .expect("dsim runs");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    // Rust's own panic message means dsim itself crashed (a model's panic is reported
    // in dsim's words instead).
    assert!(!stderr.contains("thread '"), "{stderr}");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        stderr,
    )
}

const QUORUM_CALM: &str = r#"
name = "calm"
description = "No faults at all."
[model]
name = "quorum"
[run]
fault_phase = "5s"
heal_phase = "1s"
"#;

#[test]
fn a_mark_never_reached_exits_4() {
    let f = scratch(
        "never",
        &format!("{QUORUM_CALM}[checks]\nsometimes = [\"write-timed-out\"]\n"),
    );
    let (code, _, err) = dsim(&["run", f.to_str().unwrap(), "--seed", "1"]);
    assert_eq!(code, 4, "{err}");
    assert!(
        err.contains("NEVER REACHED") && err.contains("write-timed-out"),
        "{err}"
    );
}

#[test]
fn a_liveness_failure_exits_3() {
    // A worker crashed for good: the heal phase restarts it, but ends before the master
    // hears from it again.
    let f = scratch(
        "liveness",
        r#"
name = "no-time-to-heal"
description = "A worker is down when the fault phase ends; the heal phase is too short to notice it back."
[model]
name = "heartbeat"
workers = 5
[run]
fault_phase = "60s"
heal_phase = "1ms"
[[faults]]
at = "10s"
kind = "crash"
target = "node(worker-2)"
[checks]
eventually = ["all-workers-live"]
"#,
    );
    let (code, _, err) = dsim(&["run", f.to_str().unwrap(), "--seed", "1"]);
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("LIVENESS") && err.contains("worker-2"),
        "{err}"
    );
}

#[test]
fn a_model_panic_exits_5_with_seed_and_event_and_a_sweep_goes_on() {
    let f = scratch(
        "panic",
        r#"
name = "panics"
description = "A test switch makes the model panic."
[model]
name = "pingpong"
nodes = 3
in_flight = 2
panic_at_hops = 50
[run]
fault_phase = "1s"
heal_phase = "1s"
"#,
    );
    let path = f.to_str().unwrap();
    let (code, out, err) = dsim(&["run", path, "--seed", "4", "--json"]);
    assert_eq!(code, 5, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("one JSON object");
    assert_eq!(v["verdict"], "panic");
    assert!(v["panic"]["event"].as_u64().is_some(), "{v}");
    assert!(
        v["panic"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("50 hops"),
        "{v}"
    );
    assert!(
        err.contains("--seed 4"),
        "the reproduce command names the seed: {err}"
    );
    assert!(err.contains("(event "), "the event index is named: {err}");
    let (code, out, err) = dsim(&["sweep", path, "--seeds", "1..5", "--json"]);
    assert_eq!(code, 5, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("one JSON object");
    assert_eq!(v["runs"], 5, "the sweep went on past the first panic: {v}");
    let sig = v["groups"][0]["signature"].as_str().unwrap_or("");
    assert!(
        sig.starts_with("panic in node at sim/models/bench/src/pingpong.rs:"),
        "a panic is grouped by its role and code location: {v}"
    );
    assert_eq!(v["by_verdict"]["panic"], 5, "{v}");
}

#[test]
fn a_checker_out_of_budget_exits_6() {
    let f = scratch(
        "unknown",
        &format!(
            "{QUORUM_CALM}[checks]\nhistory = [\"linearizable\"]\n[limits]\nchecker_budget = 5\n"
        ),
    );
    let (code, _, err) = dsim(&["run", f.to_str().unwrap(), "--seed", "1"]);
    assert_eq!(code, 6, "{err}");
    assert!(
        err.contains("UNKNOWN") && err.contains("checker_budget"),
        "{err}"
    );
}
