//! Regression tests for what an audit of inputs, faults and determinism found: each was a
//! crash, a hang, a wrong verdict or a silent no-op, and each is pinned here.

mod common;
use common::*;

use std::path::PathBuf;

fn scratch(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dsim-audit-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).expect("scenario written");
    path
}

const QUORUM: &str = r#"
name = "audit"
description = "Quorum register under one fault."
[model]
name = "quorum"
op_timeout = "300ms"
think_min = "1ms"
think_max = "20ms"
[run]
fault_phase = "20s"
heal_phase = "5s"
[network]
latency = { dist = "lognormal", p50 = "2ms", p99 = "30ms" }
"#;

/// A replica whose disk is full must not acknowledge what it could not store.
#[test]
fn a_full_disk_never_yields_an_acknowledgement() {
    let f = scratch(
        "full",
        &format!(
            "{QUORUM}[[faults]]\nat = \"5s\"\nkind = \"disk\"\ntarget = \"node(replica-1)\"\ndisk = \"full\"\nduration = \"3s\"\n\
             [checks]\nalways = [\"acked-tag-durable\"]\neventually = [\"acked-writes-durable\"]\nhistory = [\"linearizable\"]\n"
        ),
    );
    let (code, out, err) = dsim(&["sweep", f.to_str().unwrap(), "--seeds", "1..8", "--json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(json(&out)["failed"], 0);
}

/// A torn crash of a register file keeps the old record or the new (atomic replace).
#[test]
fn torn_crashes_do_not_lose_acknowledged_registers() {
    let f = scratch(
        "torn",
        &format!(
            "{QUORUM}[disk]\ncrash = \"torn\"\n[nemesis]\nkinds = [\"crash\"]\ninterval_min = \"500ms\"\ninterval_max = \"2s\"\n\
             duration_min = \"200ms\"\nduration_max = \"1s\"\nrole = \"replica\"\n[checks]\nalways = [\"acked-tag-durable\"]\n"
        ),
    );
    let (code, out, err) = dsim(&["sweep", f.to_str().unwrap(), "--seeds", "1..8", "--json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(json(&out)["failed"], 0);
}

/// The heal phase sets a clock right even after a jump took it below zero.
#[test]
fn heal_phase_sets_a_clock_right_after_a_jump_below_zero() {
    let f = scratch(
        "clock",
        r#"
name = "clock-heal"
description = "The master's clock jumps back an hour; the heal phase must set it right."
[model]
name = "heartbeat"
workers = 5
interval = "1s"
expiry = "2500ms"
check_interval = "1s"
[run]
fault_phase = "5s"
heal_phase = "60s"
[network]
loss = "1/3"
[[faults]]
at = "1s"
kind = "clock-jump"
target = "node(master)"
offset = "-1h"
[checks]
sometimes = ["worker-declared-dead"]
"#,
    );
    let (code, _, err) = dsim(&["run", f.to_str().unwrap(), "--seed", "1"]);
    assert_eq!(
        code, 0,
        "the master never noticed a lost worker after the heal: {err}"
    );
}

/// Timers set while a clock was slowed follow the clock back to normal speed.
#[test]
fn timers_follow_the_clock_when_a_drift_ends() {
    let f = scratch(
        "drift",
        &format!("{QUORUM}[[faults]]\nat = \"1s\"\nkind = \"clock-drift\"\ntarget = \"role(client)\"\ndrift_ppm = -999999\nduration = \"1s\"\n"),
    );
    let (code, out, err) = dsim(&["run", f.to_str().unwrap(), "--seed", "1", "--json"]);
    assert_eq!(code, 0, "{err}");
    // ~25 s of three clients at a few ms per op; stuck timers left about a hundred.
    let ops = json(&out)["metrics"]["history_ops"].as_i64().unwrap_or(0);
    assert!(ops > 1000, "clients stopped after the drift: {ops} ops");
}

/// A partition whose target names no node does nothing (it used to split the whole role).
#[test]
fn a_partition_of_nobody_does_nothing() {
    let f = scratch(
        "nobody",
        &format!("{QUORUM}[topology]\nracks = 10\n[[faults]]\nat = \"1s\"\nkind = \"partition\"\nshape = \"majority-minority\"\ntarget = \"rack(9)\"\n"),
    );
    let (code, out, err) = dsim(&["run", f.to_str().unwrap(), "--seed", "1", "--json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(json(&out)["metrics"]["partitions"], 1);
    assert_eq!(json(&out)["metrics"]["messages_partitioned"], 0, "{err}");
}

/// A fault's parameters are part of the digest, not only its kind and targets.
#[test]
fn fault_parameters_change_the_digest() {
    let jump = |offset: &str| {
        let f = scratch(
            &format!("jump{}", offset.replace('-', "m")),
            &format!("{QUORUM}[[faults]]\nat = \"1s\"\nkind = \"clock-jump\"\ntarget = \"node(replica-1)\"\noffset = \"{offset}\"\n"),
        );
        let (_, out, _) = dsim(&["run", f.to_str().unwrap(), "--seed", "1", "--json"]);
        json(&out)["digest"].as_str().unwrap_or("").to_string()
    };
    assert_ne!(jump("-2s"), jump("5s"));
}

/// Sizes that would exhaust memory are refused at the key that asks for them.
#[test]
fn huge_sizes_are_refused_at_their_key() {
    let cases = [
        ("racks", format!("{QUORUM}[topology]\nracks = 4000000000\n"), "racks"),
        (
            "nodes",
            "name = \"pp\"\ndescription = \"x\"\n[model]\nname = \"pingpong\"\nnodes = 4000000000\n".to_string(),
            "nodes",
        ),
        (
            "inflight",
            "name = \"pp\"\ndescription = \"x\"\n[model]\nname = \"pingpong\"\nin_flight = 4000000000\n".to_string(),
            "in_flight",
        ),
        (
            "workers",
            "name = \"hb\"\ndescription = \"x\"\n[model]\nname = \"heartbeat\"\nworkers = 4000000000\n".to_string(),
            "workers",
        ),
        (
            "nemesis",
            format!(
                "{QUORUM}[nemesis]\nkinds = [\"crash\"]\ninterval_min = \"1ns\"\ninterval_max = \"1ns\"\nduration_min = \"1ms\"\nduration_max = \"1ms\"\n"
            ),
            "interval_min",
        ),
    ];
    for (name, text, key) in cases {
        let f = scratch(name, &text);
        let (code, _, err) = dsim(&["run", f.to_str().unwrap(), "--seed", "1"]);
        assert_eq!(code, 2, "{name}: {err}");
        let line = text
            .lines()
            .position(|l| l.starts_with(key))
            .expect("key in file")
            + 1;
        assert!(
            err.contains(&format!(":{line}:")),
            "{name}: not at line {line}: {err}"
        );
    }
}

#[test]
fn paths_that_are_not_files_and_silly_job_counts_are_refused() {
    let (code, _, err) = dsim(&["run", "/dev/null"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not a regular file"), "{err}");
    let scenario = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scenarios/quorum/nwr-strict.toml"
    );
    for jobs in ["0", "5000", "x"] {
        let (code, _, err) = dsim(&["sweep", scenario, "--seeds", "1..2", "--jobs", jobs]);
        assert_eq!(code, 2, "--jobs {jobs}: {err}");
        assert!(err.contains("--jobs"), "{err}");
    }
}

/// A model bigger than `[limits] max_nodes` is refused at load, pointing at the model.
#[test]
fn a_model_over_max_nodes_is_refused_at_load() {
    let f = scratch(
        "maxnodes",
        "name = \"hb\"\ndescription = \"x\"\n[model]\nname = \"heartbeat\"\nworkers = 200000\n",
    );
    let (code, _, err) = dsim(&["run", f.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(":4:1:") && err.contains("max_nodes"), "{err}");
}

/// A model that puts a node in a rack the scenario's `[topology]` lacks is refused at
/// load, pointing at `[topology] racks` and saying how many racks it needs.
#[test]
fn a_model_rack_beyond_the_topology_is_refused_at_load() {
    let f = scratch(
        "racks",
        "name = \"k\"\ndescription = \"x\"\n[model]\nname = \"kafka\"\nracks = 3\n[topology]\nracks = 2\n",
    );
    let (code, _, err) = dsim(&["run", f.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(":7:1:"), "{err}");
    assert!(err.contains("broker-3 in rack 2"), "{err}");
    assert!(err.contains("racks = 3"), "{err}");
    // Without a [topology] table it points at the model's own racks.
    let f = scratch(
        "racks-model",
        "name = \"k\"\ndescription = \"x\"\n[model]\nname = \"kafka\"\nracks = 3\n",
    );
    let (code, _, err) = dsim(&["run", f.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(":5:1:") && err.contains("rack 1"), "{err}");
}

/// Each failing run in a sweep lists every check that fired, not only the first.
#[test]
fn sweep_failures_list_every_check_that_fired() {
    let scenario = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scenarios/quorum/nwr-no-writeback.toml"
    );
    let (_, out, err) = dsim(&["sweep", scenario, "--seeds", "1..30", "--json"]);
    let v = json(&out);
    let failures = v["failures"].as_array().unwrap_or_else(|| panic!("{err}"));
    let both = failures.iter().any(|f| {
        let names: Vec<&str> = f["invariants"]
            .as_array()
            .map(|a| a.iter().filter_map(|x| x.as_str()).collect())
            .unwrap_or_default();
        names.contains(&"linearizable") && names.contains(&"new-old-inversion")
    });
    assert!(both, "no failure lists both checks: {out}");
}
