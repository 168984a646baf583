//! Golden digests: a few (scenario, seed) pairs pinned to the digest, event count and
//! verdict this version produces. A change in any engine or model behaviour moves a
//! digest; when that is intended, update the table here in the same commit and say why
//! in the message. (The same scenario, seed and dsim version must give the same run on
//! any machine, so these hold everywhere, not just here.)

use std::process::Command;

/// (scenario under scenarios/, seed, digest, events, verdict)
const GOLDEN: &[(&str, u64, &str, u64, &str)] = &[
    (
        "quorum/nwr-strict.toml",
        7,
        "ba9533e86c375884",
        31252,
        "valid",
    ),
    (
        "quorum/nwr-strict.toml",
        8,
        "4fcef9ec023addaf",
        33601,
        "valid",
    ),
    (
        "quorum/nwr-sloppy.toml",
        3,
        "66f65c0d5f9826fe",
        55796,
        "violation",
    ),
    (
        "quorum/nwr-no-writeback.toml",
        2,
        "2b65c8c3e52e6dcb",
        33598,
        "violation",
    ),
    (
        "quorum/nwr-all-writes.toml",
        1,
        "58f48f968ddceae1",
        9726,
        "valid",
    ),
    (
        "quorum/nwr-ack-before-fsync.toml",
        1,
        "807d02b32145e43c",
        43909,
        "violation",
    ),
    // The engine alone: 7.2 M events, no faults (scenarios/bench/pingpong.toml).
    (
        "bench/pingpong.toml",
        1,
        "6a051b1fd1b3b9e0",
        7217931,
        "valid",
    ),
];

fn run_json(scenario: &str, seed: u64) -> serde_json::Value {
    let path = format!("{}/../../scenarios/{scenario}", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(env!("CARGO_BIN_EXE_dsim"))
        .args([
            "run",
            &path,
            "--seed",
            &seed.to_string(),
            "--json",
            "--no-report",
        ])
        .output()
        .expect("dsim runs");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{scenario} seed {seed}: no JSON on stdout ({e}); stderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn pinned_digests_hold() {
    let mut moved = Vec::new();
    for &(scenario, seed, digest, events, verdict) in GOLDEN {
        let v = run_json(scenario, seed);
        let got = (
            v["digest"].as_str().unwrap_or(""),
            v["events"].as_u64().unwrap_or(0),
            v["verdict"].as_str().unwrap_or(""),
        );
        if got != (digest, events, verdict) {
            moved.push(format!(
                "{scenario} seed {seed}: pinned ({digest}, {events}, {verdict}), got {got:?}"
            ));
        }
    }
    assert!(moved.is_empty(), "behaviour changed:\n{}", moved.join("\n"));
}
