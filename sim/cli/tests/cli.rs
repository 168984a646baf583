//! End-to-end tests of the `dsim` binary against the CLI contract of the design brief §8:
//! exit codes, the messages a person reads (file:line:col, did-you-mean hints, the
//! reproduce command) and the fields of `--json`.
//!
//! Every command runs with the workspace root as its working directory, so scenario paths
//! are written as a user writes them (`scenarios/quorum/nwr-strict.toml`) and the
//! reproduce lines can be compared exactly. Scenario files for error cases are written at
//! test time into a directory of their own under the system's temp dir, from
//! `data/quorum-base.toml` with one edit each, so their line numbers are ours.
//!
//! A test marked `` shows a bug in the CLI that is not fixed yet: it
//! states the behaviour the contract asks for and fails today. `cargo test -- --ignored`
//! runs them.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The workspace root: every command runs here.
const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
const STRICT: &str = "scenarios/quorum/nwr-strict.toml";
const SLOPPY: &str = "scenarios/quorum/nwr-sloppy.toml";
/// A valid quorum scenario the error cases edit; see the file's header.
const BASE: &str = include_str!("data/quorum-base.toml");

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// What one `dsim` command did.
struct Out {
    cmd: String,
    code: i32,
    stdout: String,
    stderr: String,
}

impl Out {
    /// The whole command and its output, for assertion messages.
    fn show(&self) -> String {
        format!(
            "command: {}\nexit code: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.cmd,
            self.code,
            clip(&self.stdout),
            clip(&self.stderr)
        )
    }

    fn json(&self) -> Value {
        let v: Value = serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON value ({e})\n{}", self.show()));
        assert!(
            v.is_object(),
            "stdout is JSON but not an object\n{}",
            self.show()
        );
        v
    }

    fn assert_code(&self, want: i32) {
        assert_eq!(self.code, want, "wrong exit code\n{}", self.show());
    }

    fn assert_stderr_has(&self, part: &str) {
        assert!(
            self.stderr.contains(part),
            "stderr lacks {part:?}\n{}",
            self.show()
        );
    }

    fn assert_stdout_has(&self, part: &str) {
        assert!(
            self.stdout.contains(part),
            "stdout lacks {part:?}\n{}",
            self.show()
        );
    }

    fn stderr_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect()
    }
}

fn clip(s: &str) -> String {
    const MAX: usize = 6000;
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut cut = MAX;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}\n... ({} more bytes)", &s[..cut], s.len() - cut)
}

/// Runs `dsim` with `args` in the workspace root. No command may panic: the panic hook of
/// the CLI would hide the message, so a panic shows as exit code 101 (or a signal).
fn dsim<S: AsRef<str>>(args: &[S]) -> Out {
    let args: Vec<&str> = args.iter().map(|a| a.as_ref()).collect();
    let output = Command::new(env!("CARGO_BIN_EXE_dsim"))
        .args(&args)
        .current_dir(ROOT)
        .output()
        .expect("spawning dsim");
    let out = Out {
        cmd: format!("dsim {}", args.join(" ")),
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert!(
        !out.stderr.contains("panicked"),
        "dsim panicked\n{}",
        out.show()
    );
    assert!(
        out.code != 101 && output.status.code().is_some(),
        "dsim died (a panic or a signal: {:?})\n{}",
        output.status,
        out.show()
    );
    out
}

/// A fresh, empty directory for one test: `<temp>/dsim-cli-tests/<test>-<pid>`.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir()
        .join("dsim-cli-tests")
        .join(format!("{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("creating the test's temp dir");
    dir
}

/// Removes a test's directory once the test has passed (kept on failure, to look at).
fn cleanup(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
}

fn path_str(p: &Path) -> String {
    p.to_str().expect("temp paths are UTF-8").to_string()
}

/// `text` with each `(old, new)` applied; each `old` must occur exactly once.
fn edit(text: &str, edits: &[(&str, &str)]) -> String {
    let mut s = text.to_string();
    for (old, new) in edits {
        assert_eq!(
            s.matches(old).count(),
            1,
            "{old:?} must occur exactly once in the template"
        );
        s = s.replacen(old, new, 1);
    }
    s
}

/// 1-based line and column (in characters) of the only occurrence of `needle`.
fn pos(text: &str, needle: &str) -> (usize, usize) {
    assert_eq!(
        text.matches(needle).count(),
        1,
        "{needle:?} must occur exactly once"
    );
    let at = text.find(needle).expect("needle present");
    let line = text[..at].matches('\n').count() + 1;
    let line_start = text[..at].rfind('\n').map(|i| i + 1).unwrap_or(0);
    (line, text[line_start..at].chars().count() + 1)
}

fn write(dir: &Path, name: &str, contents: impl AsRef<[u8]>) -> String {
    let p = dir.join(name);
    std::fs::write(&p, contents).expect("writing a test file");
    path_str(&p)
}

/// Writes the base scenario with `edits` and runs `dsim run` on it; the command must fail
/// with exit code 2 and render a scenario error at the first character of `at` (which
/// must occur once in the edited text): `error: FILE:LINE:COL: ...`, the offending line
/// below it, every part of `message`, and `= hint: ...hint...` when a hint is given.
fn assert_scenario_error(
    test: &str,
    edits: &[(&str, &str)],
    at: &str,
    message: &[&str],
    hint: Option<&str>,
) {
    let dir = scratch(test);
    let text = edit(BASE, edits);
    let file = write(&dir, "bad.toml", &text);
    let (line, col) = pos(&text, at);
    let out = dsim(&["run", &file, "--seed", "1"]);
    out.assert_code(2);
    assert!(
        out.stdout.is_empty(),
        "a scenario error prints nothing on stdout\n{}",
        out.show()
    );
    out.assert_stderr_has(&format!("error: {file}:{line}:{col}: "));
    // The snippet: the offending line, with its number in the gutter.
    let offending = text.lines().nth(line - 1).expect("line exists");
    out.assert_stderr_has(&format!("{line} | {offending}"));
    // The message, not the path (which holds the test's name), must say it.
    let said = out.stderr.replace(&file, "FILE");
    for part in message {
        assert!(
            said.contains(part),
            "the message lacks {part:?}\n{}",
            out.show()
        );
    }
    if let Some(hint) = hint {
        let hint_line = out
            .stderr
            .lines()
            .find(|l| l.trim_start().starts_with("= hint: "))
            .unwrap_or_else(|| panic!("no `= hint:` line\n{}", out.show()));
        assert!(
            hint_line.contains(hint),
            "the hint lacks {hint:?}\n{}",
            out.show()
        );
    }
    cleanup(&dir);
}

/// Seeds 1..=10 of nwr-sloppy that fail, by `sweep --json`.
fn sloppy_failing_seed() -> u64 {
    let out = dsim(&["sweep", SLOPPY, "--seeds", "1..10", "--json"]);
    let v = out.json();
    let failures = v["failures"].as_array().expect("failures is an array");
    assert!(
        !failures.is_empty(),
        "no seed of 1..10 fails nwr-sloppy\n{}",
        out.show()
    );
    failures[0]["seed"].as_u64().expect("failure seed")
}

fn without_wall_ms(mut v: Value) -> Value {
    v.as_object_mut().expect("object").remove("wall_ms");
    v
}

// ---------------------------------------------------------------------------------------
// 0. The base template itself
// ---------------------------------------------------------------------------------------

#[test]
fn cli_base_template_is_valid() {
    let dir = scratch("cli_base_template_is_valid");
    let file = write(&dir, "base.toml", BASE);
    let out = dsim(&["explain", &file]);
    out.assert_code(0);
    cleanup(&dir);
}

// ---------------------------------------------------------------------------------------
// 1. Error classes: exit 2, file:line:col, the line, a message and a hint; never a panic
// ---------------------------------------------------------------------------------------

#[test]
fn error_unknown_top_level_key_did_you_mean() {
    assert_scenario_error(
        "error_unknown_top_level_key_did_you_mean",
        &[(
            "name = \"cli-base\"\n",
            "name = \"cli-base\"\ndescripton = \"typo\"\n",
        )],
        "descripton",
        &["unknown key `descripton` at the top level"],
        Some("did you mean `description`?"),
    );
}

#[test]
fn error_section_key_at_top_level_says_where_it_belongs() {
    assert_scenario_error(
        "error_section_key_at_top_level_says_where_it_belongs",
        &[(
            "name = \"cli-base\"\n",
            "loss = \"1/100\"\nname = \"cli-base\"\n",
        )],
        "loss = \"1/100\"",
        &["unknown key `loss` at the top level"],
        Some("`loss` belongs in [network]"),
    );
}

#[test]
fn error_unknown_key_in_network_did_you_mean_loss() {
    assert_scenario_error(
        "error_unknown_key_in_network_did_you_mean_loss",
        &[("loss = \"1/200\"", "los = \"1/200\"")],
        "los = ",
        &["unknown key `los` in [network]"],
        Some("did you mean `loss`?"),
    );
}

#[test]
fn error_unknown_key_in_quorum_model_did_you_mean_write_back() {
    assert_scenario_error(
        "error_unknown_key_in_quorum_model_did_you_mean_write_back",
        &[("write_back = true", "wrte_back = true")],
        "wrte_back",
        &["unknown key `wrte_back` in [model]"],
        Some("did you mean `write_back`?"),
    );
}

#[test]
fn error_bad_duration_unit() {
    assert_scenario_error(
        "error_bad_duration_unit",
        &[("fault_phase = \"20s\"", "fault_phase = \"10 sec\"")],
        "\"10 sec\"",
        &[
            "`10 sec` has an unknown unit `sec`",
            "units are ns, us, ms, s, m, h, d",
        ],
        None,
    );
}

#[test]
fn error_duration_without_unit() {
    assert_scenario_error(
        "error_duration_without_unit",
        &[("heal_phase = \"5s\"", "heal_phase = \"5\"")],
        "\"5\"",
        &["`5` has no unit", "e.g. \"250ms\", \"10s\", \"7d\""],
        None,
    );
}

#[test]
fn error_duration_as_bare_number() {
    assert_scenario_error(
        "error_duration_as_bare_number",
        &[("op_timeout = \"300ms\"", "op_timeout = 300")],
        "300\n",
        &["300 has no unit", "write it as a string with a unit"],
        None,
    );
}

#[test]
fn error_probability_above_one() {
    assert_scenario_error(
        "error_probability_above_one",
        &[("loss = \"1/200\"", "loss = \"3/2\"")],
        "\"3/2\"",
        &[
            "3/2 is outside 0..=1",
            "a probability is a fraction such as \"1/100\" or 0.01",
        ],
        None,
    );
}

#[test]
fn error_probability_above_one_as_float() {
    assert_scenario_error(
        "error_probability_above_one_as_float",
        &[("read_ratio = \"1/2\"", "read_ratio = 1.5")],
        "1.5",
        &["1.5 is outside 0..=1"],
        None,
    );
}

#[test]
fn error_w_larger_than_n_points_at_w() {
    assert_scenario_error(
        "error_w_larger_than_n_points_at_w",
        &[("w = 2\n", "w = 4\n")],
        "w = 4",
        &["W = 4 is larger than N = 3"],
        Some("use W <= replicas (3)"),
    );
}

#[test]
fn error_r_zero() {
    assert_scenario_error(
        "error_r_zero",
        &[("r = 2\n", "r = 0\n")],
        "r = 0",
        &["R = 0 would complete without hearing from any replica"],
        Some("1..=replicas"),
    );
}

#[test]
fn error_zero_clients() {
    assert_scenario_error(
        "error_zero_clients",
        &[("clients = 3", "clients = 0")],
        "clients = 0",
        &["no clients: nothing would happen"],
        Some("clients = "),
    );
}

#[test]
fn error_fault_after_the_fault_phase() {
    assert_scenario_error(
        "error_fault_after_the_fault_phase",
        &[("at = \"8s\"", "at = \"30s\"")],
        "at = \"30s\"",
        &["fault 2 fires at 30s, after the fault phase ends at 20s"],
        Some("lengthen [run] fault_phase"),
    );
}

#[test]
fn error_unknown_fault_kind_did_you_mean() {
    assert_scenario_error(
        "error_unknown_fault_kind_did_you_mean",
        &[("kind = \"crash\"", "kind = \"crahs\"")],
        "\"crahs\"",
        &["unknown value `crahs` for `kind` in fault 1"],
        Some("did you mean `crash`?"),
    );
}

#[test]
fn error_unknown_nemesis_kind_did_you_mean() {
    assert_scenario_error(
        "error_unknown_nemesis_kind_did_you_mean",
        &[(
            "kinds = [\"crash\", \"partition\", \"pause\"]",
            "kinds = [\"crash\", \"partiton\", \"pause\"]",
        )],
        "\"partiton\"",
        &["unknown value `partiton` for `kinds` in [nemesis]"],
        Some("did you mean `partition`?"),
    );
}

#[test]
fn error_bad_selector_syntax() {
    assert_scenario_error(
        "error_bad_selector_syntax",
        &[("target = \"random(replica)\"", "target = \"random(\"")],
        "target = \"random(\"",
        &["`random(` is not a selector", "\"random(replica)\""],
        None,
    );
}

#[test]
fn error_unknown_role_in_selector_did_you_mean() {
    assert_scenario_error(
        "error_unknown_role_in_selector_did_you_mean",
        &[(
            "target = \"random(replica)\"",
            "target = \"random(replca)\"",
        )],
        "target = \"random(replca)\"",
        &["no node has the role `replca`"],
        Some("did you mean `replica`?"),
    );
}

#[test]
fn error_unknown_node_in_selector_lists_nodes() {
    assert_scenario_error(
        "error_unknown_node_in_selector_lists_nodes",
        &[("target = \"random(replica)\"", "target = \"node(x)\"")],
        "target = \"node(x)\"",
        &["no node is named `x`"],
        Some("nodes: replica-1, replica-2, replica-3, client-1"),
    );
}

#[test]
fn error_unknown_check_name_did_you_mean() {
    assert_scenario_error(
        "error_unknown_check_name_did_you_mean",
        &[(
            "always = [\"acked-tag-durable\"]",
            "always = [\"acked-tag-durabel\"]",
        )],
        "\"acked-tag-durabel\"",
        &["unknown always check `acked-tag-durabel` for the `quorum` model"],
        Some("did you mean `acked-tag-durable`?"),
    );
}

#[test]
fn error_check_in_the_wrong_list_says_where_it_goes() {
    assert_scenario_error(
        "error_check_in_the_wrong_list_says_where_it_goes",
        &[(
            "\"new-old-inversion\"]",
            "\"new-old-inversion\", \"acked-tag-durable\"]",
        )],
        "\"acked-tag-durable\"]\n\n[expect]",
        &["unknown history check `acked-tag-durable`"],
        Some("move it to `always`"),
    );
}

#[test]
fn error_unknown_model_did_you_mean() {
    assert_scenario_error(
        "error_unknown_model_did_you_mean",
        &[("name = \"quorum\"", "name = \"qourum\"")],
        "name = \"qourum\"",
        &["unknown model `qourum`"],
        Some("did you mean `quorum`?"),
    );
}

#[test]
fn error_unknown_expect_verdict_did_you_mean() {
    assert_scenario_error(
        "error_unknown_expect_verdict_did_you_mean",
        &[("verdict = \"valid\"", "verdict = \"vaild\"")],
        "verdict = \"vaild\"",
        &["unknown verdict `vaild`"],
        Some("did you mean `valid`?"),
    );
}

#[test]
fn error_invalid_toml_syntax() {
    // An unclosed table header: toml's message, at the character where it stops making sense.
    let text = edit(BASE, &[("[network]", "[network")]);
    let (line, _) = pos(&text, "[network\n");
    let dir = scratch("error_invalid_toml_syntax");
    let file = write(&dir, "bad.toml", &text);
    let out = dsim(&["run", &file]);
    out.assert_code(2);
    out.assert_stderr_has(&format!("error: {file}:{line}:9: invalid table header"));
    out.assert_stderr_has(&format!("{line} | [network"));
    cleanup(&dir);
}

#[test]
fn error_duplicate_key() {
    assert_scenario_error(
        "error_duplicate_key",
        &[("w = 2\n", "w = 2\nw = 3\n")],
        "w = 3",
        &["duplicate key `w`"],
        None,
    );
}

#[test]
fn error_missing_file() {
    let dir = scratch("error_missing_file");
    let file = path_str(&dir.join("no-such-scenario.toml"));
    for cmd in ["run", "explain", "sweep"] {
        let out = dsim(&[cmd, &file]);
        out.assert_code(2);
        out.assert_stderr_has(&format!("error: {file}: cannot read the scenario"));
        out.assert_stderr_has("No such file");
    }
    let out = dsim(&["check", &file]);
    out.assert_code(2);
    out.assert_stderr_has(&format!("error: {file}: no such file or directory"));
    cleanup(&dir);
}

#[test]
fn error_directory_with_no_toml_given_to_run() {
    let dir = scratch("error_directory_with_no_toml_given_to_run");
    std::fs::write(dir.join("README.txt"), "no scenario here").unwrap();
    let d = path_str(&dir);
    let out = dsim(&["run", &d]);
    out.assert_code(2);
    out.assert_stderr_has(&format!("error: {d}: not a regular file"));
    cleanup(&dir);
}

#[test]
fn check_directory_with_no_toml_is_an_error() {
    let dir = scratch("check_directory_with_no_toml_is_an_error");
    std::fs::write(dir.join("README.txt"), "no scenario here").unwrap();
    let d = path_str(&dir);
    let out = dsim(&["check", &d]);
    out.assert_code(2);
    out.assert_stderr_has(&d);
    let said = out.stderr.replace(&d, "DIR");
    assert!(
        said.contains("no scenario"),
        "the message does not say there is no scenario\n{}",
        out.show()
    );
    cleanup(&dir);
}

#[test]
fn error_empty_file() {
    let dir = scratch("error_empty_file");
    let file = write(&dir, "empty.toml", "");
    let out = dsim(&["run", &file]);
    out.assert_code(2);
    out.assert_stderr_has(&format!(
        "error: {file}:1:1: missing key `name` at the top level"
    ));
    out.assert_stderr_has("= hint: add e.g. name = ");
    cleanup(&dir);
}

#[test]
fn error_file_of_random_bytes() {
    let dir = scratch("error_file_of_random_bytes");
    // Not UTF-8: the error points at the first bad byte (line 2, after 6 characters).
    let file = write(
        &dir,
        "binary.toml",
        b"abc\x00\n\x01\x02 zz \xff\xfe\x80\x89PNG\r\n",
    );
    let out = dsim(&["run", &file]);
    out.assert_code(2);
    out.assert_stderr_has(&format!("error: {file}:2:7: the file is not UTF-8 text"));
    out.assert_stderr_has("= hint: scenario files are TOML, which is UTF-8");
    // Pseudo-random bytes (a fixed LCG, so the test is the same every time), UTF-8 or not.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..24 {
        let len = 1 + (i * 397) % 3000;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let b = (x >> 33) as u8;
                // Every other file is printable ASCII, so toml rather than UTF-8 refuses it.
                if i % 2 == 0 {
                    b
                } else {
                    b' ' + b % 95
                }
            })
            .collect();
        let file = write(&dir, &format!("random-{i}.toml"), &bytes);
        let out = dsim(&["run", &file]);
        out.assert_code(2);
        assert!(
            out.stderr.starts_with(&format!("error: {file}")),
            "no `error: FILE` first\n{}",
            out.show()
        );
    }
    cleanup(&dir);
}

#[test]
fn error_sweep_malformed_seeds() {
    let out = dsim(&["sweep", STRICT, "--seeds", "5..2"]);
    out.assert_code(2);
    out.assert_stderr_has("'5..2'");
    out.assert_stderr_has("`5..2` is empty: the first seed 5 is above the last 2");

    let out = dsim(&["sweep", STRICT, "--seeds", "abc"]);
    out.assert_code(2);
    out.assert_stderr_has("`abc` is not a seed range");
    out.assert_stderr_has("write \"1..200\"");
}

#[test]
fn sweep_with_an_enormous_seed_range_is_refused() {
    // 2^64 - 1 seeds: the CLI collects every seed into a Vec before running any. The
    // expected behaviour is a usage error (exit 2) that says the range is too large.
    let output = Command::new(env!("CARGO_BIN_EXE_dsim"))
        .args([
            "sweep",
            STRICT,
            "--seeds",
            "1..18446744073709551615",
            "--jobs",
            "1",
        ])
        .current_dir(ROOT)
        .output()
        .expect("spawning dsim");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(2),
        "exit status {:?}, stderr: {stderr:?}",
        output.status
    );
    assert!(
        stderr.contains("seeds"),
        "stderr should say the range is too large: {stderr:?}"
    );
}

#[test]
fn no_panic_on_mutated_scenarios() {
    // Byte-level mutations of the base scenario, loaded and checked by `dsim explain` (no
    // run): each either loads (0) or is refused with a rendered error (2), never a panic.
    let dir = scratch("no_panic_on_mutated_scenarios");
    let insert = [
        "=", "[", "]", "{", "}", "\"", "'", "\n", "#", ".", ",", "0", "-", "x", "é",
    ];
    let mut x: u64 = 42;
    let mut next = |n: usize| {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((x >> 33) as usize) % n
    };
    for i in 0..80 {
        let mut text = BASE.to_string();
        let mut at = next(text.len());
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        if i % 2 == 0 {
            let mut end = at + 1;
            while end < text.len() && !text.is_char_boundary(end) {
                end += 1;
            }
            text.replace_range(at..end.min(text.len()), "");
        } else {
            text.insert_str(at, insert[next(insert.len())]);
        }
        let file = write(&dir, &format!("m{i}.toml"), &text);
        let out = dsim(&["explain", &file]);
        assert!(
            out.code == 0 || out.code == 2,
            "unexpected exit code\n{}",
            out.show()
        );
        if out.code == 2 {
            assert!(
                out.stderr.starts_with(&format!("error: {file}")),
                "no `error: FILE` first\n{}",
                out.show()
            );
        }
    }
    cleanup(&dir);
}

// ---------------------------------------------------------------------------------------
// 2. run --json: determinism of the digest, the fields of §8, one object on stdout
// ---------------------------------------------------------------------------------------

#[test]
fn run_json_digest_is_a_function_of_the_seed() {
    let a = dsim(&["run", STRICT, "--seed", "7", "--json"]);
    let b = dsim(&["run", STRICT, "--seed", "7", "--json"]);
    let c = dsim(&["run", STRICT, "--seed", "8", "--json"]);
    for out in [&a, &b, &c] {
        out.assert_code(0);
        // Exactly one JSON object: one line, and the whole of stdout parses as one value.
        assert_eq!(
            out.stdout.trim_end().lines().count(),
            1,
            "stdout is not one line\n{}",
            out.show()
        );
        out.json();
    }
    let (ja, jb, jc) = (a.json(), b.json(), c.json());
    for key in [
        "scenario",
        "seed",
        "verdict",
        "digest",
        "events",
        "sim_time_ns",
        "wall_ms",
        "violations",
        "metrics",
    ] {
        assert!(ja.get(key).is_some(), "--json lacks `{key}`\n{}", a.show());
    }
    assert_eq!(ja["scenario"], STRICT);
    assert_eq!(ja["seed"], 7);
    assert_eq!(ja["verdict"], "valid");
    assert!(
        ja["violations"].as_array().is_some_and(|v| v.is_empty()),
        "violations: {}",
        ja["violations"]
    );
    assert!(ja["metrics"].is_object(), "metrics: {}", ja["metrics"]);
    assert!(ja["events"].as_u64().is_some_and(|e| e > 0));
    assert!(ja["sim_time_ns"].as_u64().is_some_and(|t| t > 0));
    assert!(ja["wall_ms"].is_u64());
    let digest = ja["digest"].as_str().expect("digest is a string");
    assert!(!digest.is_empty());
    assert_eq!(ja["digest"], jb["digest"], "same seed, different digest");
    // Apart from the wall clock (wall_ms and events_per_sec, its rate), the same run.
    let timeless = |v: &Value| {
        let mut v = without_wall_ms(v.clone());
        v.as_object_mut().expect("object").remove("events_per_sec");
        v
    };
    assert_eq!(timeless(&ja), timeless(&jb), "same seed, different JSON");
    assert_eq!(jc["seed"], 8);
    assert_ne!(
        ja["digest"], jc["digest"],
        "seeds 7 and 8 gave the same digest"
    );
    // Human text goes to stderr; its first line says how to reproduce the run.
    let first = a.stderr.lines().next().unwrap_or("");
    assert!(
        first.contains("dsim run") && first.contains("--seed 7"),
        "first stderr line: {first:?}"
    );
    assert!(
        first.contains(&format!("dsim run {STRICT} --seed 7")),
        "first stderr line: {first:?}"
    );
    a.assert_stderr_has(&format!("digest {digest}"));
}

#[test]
fn run_without_seed_uses_the_first_expect_seed() {
    let out = dsim(&["run", STRICT, "--json"]);
    out.assert_code(0);
    let first = out.stderr.lines().next().unwrap_or("");
    assert!(first.contains("--seed 1"), "first stderr line: {first:?}");
    assert_eq!(out.json()["seed"], 1);
}

// ---------------------------------------------------------------------------------------
// 3. --check-determinism
// ---------------------------------------------------------------------------------------

#[test]
fn check_determinism_says_deterministic() {
    let run = dsim(&["run", STRICT, "--seed", "7", "--json"]).json();
    let out = dsim(&["run", STRICT, "--seed", "7", "--check-determinism"]);
    out.assert_code(0);
    out.assert_stderr_has("deterministic: two runs gave digest");
    out.assert_stderr_has(run["digest"].as_str().expect("digest"));
    assert!(!out.stderr.contains("NOT DETERMINISTIC"), "{}", out.show());

    let out = dsim(&[
        "run",
        STRICT,
        "--seed",
        "7",
        "--check-determinism",
        "--json",
    ]);
    out.assert_code(0);
    let v = out.json();
    assert_eq!(v["deterministic"], true);
    assert_eq!(v["digest"], run["digest"]);
    assert_eq!(v["events"], run["events"]);
}

#[test]
fn check_determinism_json_has_the_run_fields() {
    let out = dsim(&[
        "run",
        STRICT,
        "--seed",
        "7",
        "--check-determinism",
        "--json",
    ]);
    out.assert_code(0);
    let v = out.json();
    for key in [
        "scenario",
        "seed",
        "verdict",
        "digest",
        "events",
        "sim_time_ns",
        "wall_ms",
        "violations",
        "metrics",
    ] {
        assert!(
            v.get(key).is_some(),
            "--check-determinism --json lacks `{key}`\n{}",
            out.show()
        );
    }
}

// ---------------------------------------------------------------------------------------
// 4. A failing run: exit 1, violations, the reproduce command at the end
// ---------------------------------------------------------------------------------------

#[test]
fn failing_run_reports_violations_and_ends_with_the_reproduce_command() {
    let seed = sloppy_failing_seed();
    let s = seed.to_string();
    let out = dsim(&["run", SLOPPY, "--seed", &s, "--json"]);
    out.assert_code(1);
    let v = out.json();
    assert_eq!(v["verdict"], "violation");
    assert_eq!(v["seed"], seed);
    let violations = v["violations"].as_array().expect("violations is an array");
    assert!(
        !violations.is_empty(),
        "a violation verdict with no violations\n{}",
        out.show()
    );
    for viol in violations {
        assert!(
            viol["invariant"].as_str().is_some_and(|s| !s.is_empty()),
            "invariant: {viol}"
        );
        assert!(viol["at_ns"].is_u64(), "at_ns: {viol}");
        assert!(
            viol["detail"].as_str().is_some_and(|s| !s.is_empty()),
            "detail: {viol}"
        );
    }
    assert!(
        violations.iter().any(|x| x["invariant"] == "stale-read"),
        "no stale-read\n{}",
        out.show()
    );
    let lines = out.stderr_lines();
    assert!(
        lines[0].contains(&format!("dsim run {SLOPPY} --seed {seed}")),
        "first line: {:?}",
        lines[0]
    );
    out.assert_stderr_has("VIOLATION");
    let last = lines.last().expect("stderr has lines");
    assert!(
        last.contains(&format!("dsim run {SLOPPY} --seed {seed}")),
        "last stderr line: {last:?}\n{}",
        out.show()
    );
    assert_eq!(v["reproduce"], format!("dsim run {SLOPPY} --seed {seed}"));
}

// ---------------------------------------------------------------------------------------
// 5. sweep: the result does not depend on --jobs; the §8 fields; exit codes
// ---------------------------------------------------------------------------------------

#[test]
fn sweep_is_the_same_for_any_jobs() {
    let one = dsim(&["sweep", SLOPPY, "--seeds", "1..20", "--json", "--jobs", "1"]);
    let two = dsim(&["sweep", SLOPPY, "--seeds", "1..20", "--json", "--jobs", "2"]);
    one.assert_code(1);
    two.assert_code(1);
    let (a, b) = (one.json(), two.json());
    assert!(a["wall_ms"].is_u64(), "wall_ms: {}", a["wall_ms"]);
    assert_eq!(
        without_wall_ms(a.clone()),
        without_wall_ms(b.clone()),
        "--jobs 1 and --jobs 2 differ"
    );
    // Byte-identical apart from wall_ms, as serialized.
    let strip = |s: &str| {
        let v: Value = serde_json::from_str(s).expect("json");
        serde_json::to_string(&without_wall_ms(v)).expect("json")
    };
    assert_eq!(strip(&one.stdout), strip(&two.stdout));
    for key in [
        "scenario",
        "seeds",
        "runs",
        "failed",
        "by_invariant",
        "failures",
        "digest",
        "wall_ms",
    ] {
        assert!(
            a.get(key).is_some(),
            "sweep --json lacks `{key}`\n{}",
            one.show()
        );
    }
    assert_eq!(a["scenario"], SLOPPY);
    assert_eq!(a["seeds"], "1..20");
    assert_eq!(a["runs"], 20);
    let failures = a["failures"].as_array().expect("failures is an array");
    assert_eq!(a["failed"].as_u64(), Some(failures.len() as u64));
    assert!(!failures.is_empty());
    assert!(
        a["by_invariant"]["stale-read"]
            .as_u64()
            .is_some_and(|n| n > 0),
        "by_invariant: {}",
        a["by_invariant"]
    );
    let mut last_seed = 0;
    for f in failures {
        let seed = f["seed"].as_u64().expect("failure seed");
        assert!(
            (1..=20).contains(&seed) && seed > last_seed,
            "failures out of seed order: {}",
            a["failures"]
        );
        last_seed = seed;
        assert!(
            f["verdict"].as_str().is_some_and(|s| !s.is_empty()),
            "verdict: {f}"
        );
        assert!(
            f["invariant"].as_str().is_some_and(|s| !s.is_empty()),
            "invariant: {f}"
        );
    }
    assert!(a["digest"].as_str().is_some_and(|s| !s.is_empty()));
    one.assert_stderr_has(&format!(
        "reproduce the first: dsim run {SLOPPY} --seed {}",
        failures[0]["seed"]
    ));
}

#[test]
fn sweep_of_a_valid_scenario_exits_zero() {
    let out = dsim(&["sweep", STRICT, "--seeds", "1..20", "--json"]);
    out.assert_code(0);
    let v = out.json();
    assert_eq!(v["runs"], 20);
    assert_eq!(v["failed"], 0);
    assert_eq!(v["failures"], Value::Array(vec![]));
    assert_eq!(v["by_invariant"], serde_json::json!({}));
}

#[test]
fn sweep_digest_changes_with_the_seed_range() {
    let a = dsim(&["sweep", STRICT, "--seeds", "1..3", "--json", "--jobs", "2"]).json();
    let b = dsim(&["sweep", STRICT, "--seeds", "2..4", "--json", "--jobs", "2"]).json();
    assert_eq!(a["runs"], 3);
    assert_ne!(a["digest"], b["digest"]);
}

// ---------------------------------------------------------------------------------------
// 6. check: N passed, M failed
// ---------------------------------------------------------------------------------------

fn with_expect(scenario: &str, expect: &str) -> String {
    let at = scenario
        .find("[expect]")
        .expect("the scenario has an [expect]");
    format!("{}{expect}", &scenario[..at])
}

#[test]
fn check_counts_passed_and_failed() {
    let dir = scratch("check_counts_passed_and_failed");
    let sloppy = std::fs::read_to_string(Path::new(ROOT).join(SLOPPY)).expect("reading nwr-sloppy");
    let strict = std::fs::read_to_string(Path::new(ROOT).join(STRICT)).expect("reading nwr-strict");
    write(
        &dir,
        "a-sloppy-claims-valid.toml",
        with_expect(&sloppy, "[expect]\nseeds = \"1..3\"\nverdict = \"valid\"\n"),
    );
    write(
        &dir,
        "b-strict-valid.toml",
        with_expect(&strict, "[expect]\nseeds = \"1..3\"\nverdict = \"valid\"\n"),
    );
    let d = path_str(&dir);
    let out = dsim(&["check", &d]);
    out.assert_code(1);
    assert_eq!(
        out.stdout.lines().last(),
        Some("1 passed, 1 failed"),
        "{}",
        out.show()
    );
    out.assert_stdout_has("FAIL  ");
    out.assert_stdout_has("a-sloppy-claims-valid.toml");
    out.assert_stdout_has("expected valid, but seed 1 gave violation");
    out.assert_stdout_has("PASS  ");
    out.assert_stdout_has("b-strict-valid.toml");

    // A malformed file: exit 2, its error on stderr, and still the last line.
    let bad = edit(BASE, &[("loss = \"1/200\"", "los = \"1/200\"")]);
    let bad_file = write(&dir, "c-malformed.toml", &bad);
    let (line, col) = pos(&bad, "los = ");
    let out = dsim(&["check", &d]);
    out.assert_code(2);
    out.assert_stderr_has(&format!(
        "error: {bad_file}:{line}:{col}: unknown key `los` in [network]"
    ));
    out.assert_stdout_has(&format!("ERROR {bad_file}"));
    assert_eq!(
        out.stdout.lines().last(),
        Some("1 passed, 2 failed"),
        "{}",
        out.show()
    );
    cleanup(&dir);
}

#[test]
fn check_of_a_malformed_file_alone_still_prints_the_count() {
    let dir = scratch("check_of_a_malformed_file_alone_still_prints_the_count");
    write(&dir, "bad.toml", edit(BASE, &[("w = 2\n", "w = 4\n")]));
    let out = dsim(&["check", &path_str(&dir)]);
    out.assert_code(2);
    out.assert_stderr_has("W = 4 is larger than N = 3");
    assert_eq!(
        out.stdout.lines().last(),
        Some("0 passed, 1 failed"),
        "{}",
        out.show()
    );
    cleanup(&dir);
}

// ---------------------------------------------------------------------------------------
// 7. --trace: JSON Lines with a header and a footer
// ---------------------------------------------------------------------------------------

#[test]
fn trace_file_has_header_events_and_footer() {
    let dir = scratch("trace_file_has_header_events_and_footer");
    let trace = path_str(&dir.join("t.jsonl"));
    let out = dsim(&["run", STRICT, "--seed", "7", "--json", "--trace", &trace]);
    out.assert_code(0);
    let run = out.json();
    let text = std::fs::read_to_string(&trace).expect("the trace file exists");
    let lines: Vec<Value> = text
        .lines()
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("trace line {} is not JSON ({e}): {l}", i + 1))
        })
        .collect();
    assert!(lines.len() > 2);
    let header = &lines[0];
    assert_eq!(header["type"], "header", "first line: {header}");
    assert_eq!(header["seed"], 7);
    assert_eq!(
        header["dsim"],
        env!("CARGO_PKG_VERSION"),
        "header: {header}"
    );
    assert!(
        header["scenario_hash"]
            .as_str()
            .is_some_and(|h| !h.is_empty()),
        "header: {header}"
    );
    assert_eq!(header["scenario_hash"], run["scenario_hash"]);
    assert_eq!(header["scenario"], STRICT);
    let footer = lines.last().expect("a last line");
    assert_eq!(footer["type"], "footer", "last line: {footer}");
    assert_eq!(
        footer["digest"], run["digest"],
        "footer digest differs from --json digest"
    );
    assert_eq!(footer["verdict"], run["verdict"]);
    assert_eq!(footer["events"], run["events"]);
    let events = lines.iter().filter(|l| l["type"] == "event").count() as u64;
    assert_eq!(
        Some(events),
        run["events"].as_u64(),
        "the trace has one event line per event"
    );
    cleanup(&dir);
}

#[test]
fn trace_of_a_failing_run_ends_with_its_verdict() {
    let dir = scratch("trace_of_a_failing_run_ends_with_its_verdict");
    let seed = sloppy_failing_seed().to_string();
    let trace = path_str(&dir.join("t.jsonl"));
    let out = dsim(&["run", SLOPPY, "--seed", &seed, "--json", "--trace", &trace]);
    out.assert_code(1);
    let text = std::fs::read_to_string(&trace).expect("the trace file exists");
    let footer: Value = serde_json::from_str(text.lines().last().expect("a line")).expect("JSON");
    assert_eq!(footer["verdict"], "violation");
    assert_eq!(footer["digest"], out.json()["digest"]);
    cleanup(&dir);
}

// ---------------------------------------------------------------------------------------
// 8. --out DIR and replay DIR
// ---------------------------------------------------------------------------------------

fn out_and_replay(test: &str, scenario: &str, seed: &str, want_code: i32) {
    let dir = scratch(test);
    let run_dir = dir.join("run");
    let rd = path_str(&run_dir);
    // The trace is written only when asked for (--trace), and then copied in.
    let trace = path_str(&dir.join("t.jsonl"));
    let out = dsim(&[
        "run", scenario, "--seed", seed, "--json", "--out", &rd, "--trace", &trace,
    ]);
    out.assert_code(want_code);
    let run = out.json();
    for f in [
        "result.json",
        "run.json",
        "trace.jsonl",
        "index.html",
        "summary.md",
        "metrics.csv",
        "plots/timeline.svg",
        "scenario.toml",
    ] {
        let meta = std::fs::metadata(run_dir.join(f))
            .unwrap_or_else(|e| panic!("{f} missing in {rd}: {e}\n{}", out.show()));
        assert!(meta.len() > 0, "{f} is empty");
    }
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("result.json")).unwrap())
            .expect("result.json is JSON");
    assert_eq!(summary["digest"], run["digest"]);
    assert_eq!(summary["seed"], run["seed"]);
    assert_eq!(summary["verdict"], run["verdict"]);
    let source = std::fs::read_to_string(Path::new(ROOT).join(scenario)).unwrap();
    assert_eq!(
        std::fs::read_to_string(run_dir.join("scenario.toml")).unwrap(),
        source,
        "scenario.toml is not the scenario"
    );
    let trace = std::fs::read_to_string(run_dir.join("trace.jsonl")).unwrap();
    let footer: Value = serde_json::from_str(trace.lines().last().unwrap()).expect("JSON");
    assert_eq!(footer["digest"], run["digest"]);
    let html = std::fs::read_to_string(run_dir.join("index.html")).unwrap();
    assert!(
        html.to_ascii_lowercase().contains("<html"),
        "index.html is not HTML"
    );

    let replay = dsim(&["replay", &rd]);
    replay.assert_code(want_code);
    let digest = run["digest"].as_str().unwrap();
    replay.assert_stderr_has(&format!(
        "replayed: digest {digest} matches the run directory"
    ));
    assert!(!replay.stderr.contains("DIVERGED"), "{}", replay.show());
    // The timeline ends with the verdict and the digest.
    let last = replay.stdout.lines().last().unwrap_or("");
    assert!(
        last.contains(digest) && last.contains(run["verdict"].as_str().unwrap()),
        "last timeline line: {last:?}"
    );
    cleanup(&dir);
}

#[test]
fn out_dir_and_replay_of_a_valid_run() {
    out_and_replay("out_dir_and_replay_of_a_valid_run", STRICT, "7", 0);
}

#[test]
fn out_dir_and_replay_of_a_failing_run() {
    let seed = sloppy_failing_seed().to_string();
    out_and_replay("out_dir_and_replay_of_a_failing_run", SLOPPY, &seed, 1);
}

#[test]
fn replay_of_a_tampered_run_dir_diverges() {
    let dir = scratch("replay_of_a_tampered_run_dir_diverges");
    let rd = path_str(&dir.join("run"));
    dsim(&["run", STRICT, "--seed", "7", "--out", &rd]).assert_code(0);
    let path = dir.join("run").join("result.json");
    let mut summary: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    summary["digest"] = Value::from("0000000000000000");
    std::fs::write(&path, serde_json::to_string(&summary).unwrap()).unwrap();
    let out = dsim(&["replay", &rd]);
    assert_ne!(out.code, 0, "{}", out.show());
    out.assert_stderr_has("DIVERGED: the run directory recorded digest 0000000000000000");
    cleanup(&dir);
}

#[test]
fn replay_of_a_dir_without_summary_is_an_io_error() {
    let dir = scratch("replay_of_a_dir_without_summary_is_an_io_error");
    let d = path_str(&dir);
    let out = dsim(&["replay", &d]);
    out.assert_code(2);
    out.assert_stderr_has(&format!("error: reading {d}/result.json"));
    cleanup(&dir);
}

#[test]
fn out_dir_has_a_trace_even_with_trace_file() {
    let dir = scratch("out_dir_has_a_trace_even_with_trace_file");
    let rd = dir.join("run");
    let trace = path_str(&dir.join("t.jsonl"));
    let out = dsim(&[
        "run",
        STRICT,
        "--seed",
        "7",
        "--trace",
        &trace,
        "--out",
        &path_str(&rd),
    ]);
    out.assert_code(0);
    assert!(Path::new(&trace).exists(), "no {trace}");
    assert!(
        rd.join("trace.jsonl").exists(),
        "--out DIR has no trace.jsonl when --trace is given too\n{}",
        out.show()
    );
    cleanup(&dir);
}

#[test]
fn replay_dir_with_another_seed_does_not_claim_nondeterminism() {
    let dir = scratch("replay_dir_with_another_seed_does_not_claim_nondeterminism");
    let rd = path_str(&dir.join("run"));
    dsim(&["run", STRICT, "--seed", "7", "--out", &rd]).assert_code(0);
    let out = dsim(&["replay", &rd, "--seed", "8"]);
    // Either a usage error (the run directory fixes the seed) or a replay of seed 8 that
    // does not compare against seed 7's digest; never a claim of nondeterminism.
    assert!(!out.stderr.contains("DIVERGED"), "{}", out.show());
    // (The scratch path holds this test's name, so look for the claim, not the word.)
    assert!(!out.stderr.contains("or nondeterminism"), "{}", out.show());
    assert!(out.code == 0 || out.code == 2, "{}", out.show());
    cleanup(&dir);
}

// ---------------------------------------------------------------------------------------
// 9. list and explain
// ---------------------------------------------------------------------------------------

/// Every *.toml under scenarios/, as paths relative to the workspace root.
fn catalogue() -> Vec<String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).expect("reading scenarios/") {
            let p = e.expect("dir entry").path();
            if p.is_dir() {
                // Run directories (result.json beside a scenario copy) are not scenarios.
                if !p.join("result.json").is_file() {
                    walk(&p, out);
                }
            } else if p.extension().is_some_and(|x| x == "toml") {
                out.push(p);
            }
        }
    }
    let root = Path::new(ROOT);
    let mut files = Vec::new();
    walk(&root.join("scenarios"), &mut files);
    let mut names: Vec<String> = files
        .iter()
        .map(|p| path_str(p.strip_prefix(root).unwrap()))
        .collect();
    names.sort();
    names
}

#[test]
fn list_prints_one_line_per_scenario() {
    let files = catalogue();
    assert!(files.len() >= 6, "the catalogue shrank: {files:?}");
    let out = dsim(&["list", "scenarios"]);
    out.assert_code(0);
    let lines: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert!(lines.len() >= 6, "fewer than 6 lines\n{}", out.show());
    assert_eq!(
        lines.len(),
        files.len(),
        "not one line per scenario\n{}",
        out.show()
    );
    for (line, file) in lines.iter().zip(&files) {
        assert!(
            line.starts_with(file.as_str()),
            "line {line:?} does not start with {file}"
        );
        assert!(!line.contains("does not load"), "{line}");
    }
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(STRICT) && l.contains("quorum") && l.contains("valid over")),
        "{}",
        out.show()
    );
    // `dsim list` defaults to scenarios/.
    let default = dsim(&["list"]);
    default.assert_code(0);
    assert_eq!(default.stdout, out.stdout);
}

#[test]
fn list_flags_a_file_that_does_not_load() {
    let dir = scratch("list_flags_a_file_that_does_not_load");
    write(&dir, "good.toml", BASE);
    let bad = write(
        &dir,
        "zz-bad.toml",
        edit(BASE, &[("loss = \"1/200\"", "los = \"1/200\"")]),
    );
    let out = dsim(&["list", &path_str(&dir)]);
    out.assert_code(2);
    assert_eq!(out.stdout.lines().count(), 2, "{}", out.show());
    out.assert_stdout_has(&bad);
    out.assert_stdout_has("does not load: unknown key `los` in [network]");
    cleanup(&dir);
}

#[test]
fn list_flags_a_file_whose_model_settings_do_not_load() {
    let dir = scratch("list_flags_a_file_whose_model_settings_do_not_load");
    write(&dir, "good.toml", BASE);
    let bad = write(
        &dir,
        "zz-bad.toml",
        edit(BASE, &[("write_back = true", "wrte_back = true")]),
    );
    dsim(&["run", &bad]).assert_code(2);
    let out = dsim(&["list", &path_str(&dir)]);
    out.assert_code(2);
    out.assert_stdout_has("does not load: unknown key `wrte_back` in [model]");
    cleanup(&dir);
}

/// The strings of `key = [...]` or `key = "..."` in `[section]` of a scenario's text.
fn toml_strings(text: &str, section: &str, key: &str) -> Vec<String> {
    let mut inside = false;
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            inside = t == format!("[{section}]");
            continue;
        }
        if inside {
            if let Some(rest) = t
                .strip_prefix(key)
                .map(str::trim_start)
                .and_then(|r| r.strip_prefix('='))
            {
                return rest
                    .split('"')
                    .skip(1)
                    .step_by(2)
                    .map(str::to_string)
                    .collect();
            }
        }
    }
    Vec::new()
}

#[test]
fn explain_tells_the_story_the_nemesis_the_checks_and_the_expectation() {
    let text = std::fs::read_to_string(Path::new(ROOT).join(STRICT)).unwrap();
    let out = dsim(&["explain", STRICT]);
    out.assert_code(0);
    out.assert_stdout_has("nwr-strict (quorum model)");
    let kinds = toml_strings(&text, "nemesis", "kinds");
    assert!(!kinds.is_empty(), "{STRICT} has no [nemesis] kinds");
    out.assert_stdout_has(&format!(
        "nemesis: every {}..{} one of [{}]",
        toml_strings(&text, "nemesis", "interval_min")[0],
        toml_strings(&text, "nemesis", "interval_max")[0],
        kinds.join(", ")
    ));
    out.assert_stdout_has("checks:");
    let mut n = 0;
    for kind in ["always", "eventually", "sometimes", "history"] {
        for check in toml_strings(&text, "checks", kind) {
            let shown = out.stdout.lines().any(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                w.len() >= 2 && w[0] == kind && w[1] == format!("{check}:")
            });
            assert!(
                shown,
                "explain does not list the {kind} check {check}\n{}",
                out.show()
            );
            n += 1;
        }
    }
    assert!(n >= 4, "found only {n} checks in {STRICT}");
    let verdict = toml_strings(&text, "expect", "verdict");
    let seeds = toml_strings(&text, "expect", "seeds");
    assert_eq!((verdict.len(), seeds.len()), (1, 1));
    out.assert_stdout_has(&format!("expected: {} over seeds {}", verdict[0], seeds[0]));
    out.assert_stdout_has(&format!("dsim run {STRICT} --seed"));
}

// ---------------------------------------------------------------------------------------
// 10. Limits
// ---------------------------------------------------------------------------------------

#[test]
fn max_events_limit_gives_verdict_limit_and_exit_2() {
    let dir = scratch("max_events_limit_gives_verdict_limit_and_exit_2");
    let file = write(
        &dir,
        "limited.toml",
        format!("{BASE}\n[limits]\nmax_events = 1000\n"),
    );
    let out = dsim(&["run", &file, "--seed", "1", "--json"]);
    out.assert_code(2);
    let v = out.json();
    assert_eq!(v["verdict"], "limit");
    assert_eq!(v["events"], 1000);
    assert!(
        v["limit"]
            .as_str()
            .is_some_and(|l| l.contains("max_events")),
        "limit: {}",
        v["limit"]
    );
    out.assert_stderr_has("LIMIT");
    out.assert_stderr_has("`[limits] max_events`");
    let last = *out.stderr_lines().last().unwrap();
    assert!(
        last.contains(&format!("dsim run {file} --seed 1")),
        "last stderr line: {last:?}"
    );

    let out = dsim(&["sweep", &file, "--seeds", "1..2", "--json"]);
    out.assert_code(2);
    let v = out.json();
    assert_eq!(v["failed"], 2);
    assert_eq!(v["failures"][0]["verdict"], "limit");
    cleanup(&dir);
}

#[test]
fn check_names_the_limit_that_was_hit() {
    let dir = scratch("check_names_the_limit_that_was_hit");
    let file = write(
        &dir,
        "limited.toml",
        format!("{BASE}\n[limits]\nmax_events = 1000\n"),
    );
    let out = dsim(&["check", &file]);
    assert_ne!(out.code, 0, "{}", out.show());
    assert_eq!(
        out.stdout.lines().last(),
        Some("0 passed, 1 failed"),
        "{}",
        out.show()
    );
    assert!(
        out.stdout.contains("max_events") || out.stderr.contains("max_events"),
        "the limit is not named\n{}",
        out.show()
    );
    cleanup(&dir);
}

// ---------------------------------------------------------------------------------------
// Misleading scenario errors found while writing the above
// ---------------------------------------------------------------------------------------

#[test]
fn long_fault_phase_error_points_at_the_phase() {
    assert_scenario_error(
        "long_fault_phase_error_points_at_the_phase",
        &[("fault_phase = \"20s\"", "fault_phase = \"40d\"")],
        "fault_phase = \"40d\"",
        &["max_time"],
        Some("[limits]"),
    );
}

#[test]
fn negative_duration_says_negative() {
    assert_scenario_error(
        "negative_duration_says_negative",
        &[("at = \"3s\"", "at = \"-1s\"")],
        "\"-1s\"",
        &["negative"],
        None,
    );
}
