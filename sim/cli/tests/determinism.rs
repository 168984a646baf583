//! The determinism gate as a test: every quorum scenario of the catalogue, run twice in one
//! process with `--check-determinism`, must match event by event. A std `HashMap` iterated
//! in a model, a wall-clock read or a thread would show up here, since each map instance
//! gets its own random hash keys even within one process.

use std::process::Command;

#[test]
fn catalogue_scenarios_repeat_event_for_event() {
    let dir = format!("{}/../../scenarios/quorum", env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("scenarios/quorum")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    assert!(files.len() >= 4, "expected the quorum catalogue in {dir}");
    for f in files {
        for seed in ["1", "7"] {
            let out = Command::new(env!("CARGO_BIN_EXE_dsim"))
                .args([
                    "run",
                    f.to_str().expect("utf-8 path"),
                    "--seed",
                    seed,
                    "--check-determinism",
                ])
                .output()
                .expect("dsim runs");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(
                out.status.code(),
                Some(0),
                "{} seed {seed}:\n{stderr}",
                f.display()
            );
            assert!(
                stderr.contains("deterministic: two runs gave digest"),
                "{stderr}"
            );
        }
    }
}
