//! What the CLI test files share: running the `dsim` binary and reading its JSON.

#![allow(dead_code)] // each test file uses a part

use std::process::Command;

/// Runs `dsim` with `args`: (exit code, stdout, stderr). Fails the test if dsim itself
/// panicked (a panic inside a model is reported, not raised).
pub fn dsim(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_dsim"))
        .args(args)
        .output()
        .expect("dsim runs");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        !stderr.contains("thread '"),
        "dsim itself panicked: {stderr}"
    );
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        stderr,
    )
}

/// One JSON object.
pub fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}
