//! Sweeps at scale: `--shard I/N` + `dsim merge` give exactly one sweep's summary;
//! `--time-budget` stops cleanly with what it covered; failures are grouped by signature.

mod common;
use common::*;

use std::path::PathBuf;

const SLOPPY: &str = "../../scenarios/quorum/nwr-sloppy.toml";
const NO_WRITEBACK: &str = "../../scenarios/quorum/nwr-no-writeback.toml";

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dsim-shards-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Runs the shards of `seeds` into files under `dir`.
fn shards(scenario: &str, seeds: &str, count: u64, dir: &std::path::Path) -> Vec<String> {
    (0..count)
        .map(|i| {
            let (code, out, err) = dsim(&[
                "sweep",
                scenario,
                "--seeds",
                seeds,
                "--shard",
                &format!("{i}/{count}"),
                "--json",
                "--jobs",
                "1",
            ]);
            assert!(code == 0 || code == 1, "shard {i}: exit {code}: {err}");
            let path = dir.join(format!("shard-{i}.json"));
            std::fs::write(&path, out).expect("shard written");
            path.to_string_lossy().to_string()
        })
        .collect()
}

fn without_wall_ms(mut v: serde_json::Value) -> serde_json::Value {
    v.as_object_mut().expect("object").remove("wall_ms");
    v
}

#[test]
fn shards_merged_equal_one_sweep() {
    // nwr-no-writeback fails in some seeds and not others: the counts, groups and digest
    // must all come out the same.
    let (code, out, err) = dsim(&["sweep", NO_WRITEBACK, "--seeds", "1..24", "--json"]);
    assert_eq!(code, 1, "{err}");
    let whole = json(&out);
    assert!(whole["failed"].as_u64().unwrap() > 0, "{whole}");
    assert!(
        whole["failed"].as_u64().unwrap() < 24,
        "some seeds must pass for the test to mean something: {whole}"
    );
    let dir = scratch_dir("merge");
    let files = shards(NO_WRITEBACK, "1..24", 5, &dir);
    let mut args = vec!["merge", "--json"];
    // Given out of order on purpose.
    let mut reversed: Vec<&str> = files.iter().map(String::as_str).collect();
    reversed.reverse();
    args.extend(reversed);
    let (code, out, err) = dsim(&args);
    assert_eq!(code, 1, "{err}");
    assert_eq!(without_wall_ms(json(&out)), without_wall_ms(whole));
}

#[test]
fn merge_refuses_missing_duplicate_and_foreign_shards() {
    let dir = scratch_dir("refuse");
    let files = shards(SLOPPY, "1..6", 3, &dir);
    let (code, _, err) = dsim(&["merge", &files[0], &files[2]]);
    assert_eq!(code, 2);
    assert!(err.contains("missing: 1/3"), "{err}");

    let (code, _, err) = dsim(&["merge", &files[0], &files[1], &files[2], &files[1]]);
    assert_eq!(code, 2);
    assert!(err.contains("given twice"), "{err}");

    let other = scratch_dir("refuse-other");
    let foreign = shards(SLOPPY, "1..9", 3, &other);
    let (code, _, err) = dsim(&["merge", &files[0], &files[1], &foreign[2]]);
    assert_eq!(code, 2);
    assert!(err.contains("must come from one sweep"), "{err}");

    let (_, out, _) = dsim(&["sweep", SLOPPY, "--seeds", "1..3", "--json"]);
    let plain = dir.join("plain.json");
    std::fs::write(&plain, out).unwrap();
    let (code, _, err) = dsim(&["merge", plain.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("unsharded"), "{err}");
}

#[test]
fn bad_shard_text_is_a_usage_error() {
    for bad in ["3/3", "1/0", "a/b", "2"] {
        let (code, _, err) = dsim(&["sweep", SLOPPY, "--seeds", "1..3", "--shard", bad]);
        assert_eq!(code, 2, "--shard {bad}: {err}");
        assert!(err.contains("shard"), "--shard {bad}: {err}");
    }
}

#[test]
fn a_time_budget_stops_cleanly_and_says_what_it_covered() {
    let (code, out, err) = dsim(&[
        "sweep",
        SLOPPY,
        "--seeds",
        "1..1000000",
        "--time-budget",
        "300ms",
        "--json",
    ]);
    assert_eq!(code, 1, "{err}");
    let v = json(&out);
    let covered = v["covered"].as_str().expect("covered is set");
    let runs = v["runs"].as_u64().unwrap();
    assert!(runs > 0 && runs < 1_000_000, "{v}");
    assert_eq!(covered, format!("1..{runs}"), "a prefix of the range");
    assert!(err.contains("stopped by the time budget"), "{err}");
    // The covered prefix summarises exactly like a plain sweep of it.
    let (_, plain, _) = dsim(&["sweep", SLOPPY, "--seeds", covered, "--json"]);
    assert_eq!(json(&plain)["digest"], v["digest"]);
}

#[test]
fn failures_are_grouped_by_signature_with_the_smallest_seed() {
    let (_, out, _) = dsim(&["sweep", NO_WRITEBACK, "--seeds", "1..24", "--json"]);
    let v = json(&out);
    let groups = v["groups"].as_array().expect("groups");
    assert!(!groups.is_empty(), "{v}");
    let mut total = 0;
    for g in groups {
        let seed = g["smallest_seed"].as_u64().unwrap();
        let sig = g["signature"].as_str().unwrap();
        total += g["count"].as_u64().unwrap();
        assert!(sig.starts_with("violation: "), "{sig}");
        assert_eq!(
            g["reproduce"].as_str().unwrap(),
            format!("dsim run {NO_WRITEBACK} --seed {seed}")
        );
        // The smallest seed of the group is the first failure with these checks.
        let first = v["failures"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| {
                let names: Vec<&str> = f["invariants"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|n| n.as_str().unwrap())
                    .collect();
                format!("violation: {}", names.join(" + ")) == sig
            })
            .expect("a failure of the group");
        assert_eq!(first["seed"].as_u64().unwrap(), seed);
    }
    assert_eq!(total, v["failed"].as_u64().unwrap());
}

#[test]
fn merge_refuses_a_shard_missing_runs_or_from_another_scenario_file() {
    let dir = scratch_dir("tamper");
    let files = shards(SLOPPY, "1..6", 2, &dir);
    // A shard that lost some of its results.
    let mut v = json(&std::fs::read_to_string(&files[1]).unwrap());
    v["results"].as_array_mut().unwrap().pop();
    let cut = dir.join("cut.json");
    std::fs::write(&cut, v.to_string()).unwrap();
    let (code, _, err) = dsim(&["merge", &files[0], cut.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("holds 2 runs"), "{err}");
    // A shard of a different version of the scenario file.
    let mut v = json(&std::fs::read_to_string(&files[1]).unwrap());
    v["scenario_hash"] = serde_json::Value::String("0000".into());
    let other = dir.join("other.json");
    std::fs::write(&other, v.to_string()).unwrap();
    let (code, _, err) = dsim(&["merge", &files[0], other.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("same file with the same dsim"), "{err}");
    // A forged shard count.
    let mut v = json(&std::fs::read_to_string(&files[1]).unwrap());
    v["shard"]["count"] = serde_json::json!(u64::MAX);
    let forged = dir.join("forged.json");
    std::fs::write(&forged, v.to_string()).unwrap();
    let (code, _, err) = dsim(&["merge", forged.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("shard count"), "{err}");
}

#[test]
fn exit_zero_reports_failures_in_the_output_but_exits_0() {
    let (code, out, err) = dsim(&["sweep", SLOPPY, "--seeds", "1..3", "--json", "--exit-zero"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(json(&out)["failed"], 3);
    assert_eq!(json(&out)["exit_code"], 1, "the verdict stays in the JSON");
}

#[test]
fn a_sweep_writes_its_page_with_groups_and_the_time_to_violation_histogram() {
    let dir = scratch_dir("page");
    let out = dir.join("sweep");
    let (code, _, err) = dsim(&[
        "sweep",
        NO_WRITEBACK,
        "--seeds",
        "1..24",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{err}");
    let html = std::fs::read_to_string(out.join("index.html")).expect("index.html");
    assert!(html.contains("Failures by signature"), "{html}");
    assert!(html.contains(&format!("dsim run {NO_WRITEBACK} --seed")));
    assert!(html.contains("id=\"time-to-violation\"") && html.contains("<rect"));
    assert!(!html.contains("<script"), "self-contained, no scripts");
    let v = json(&std::fs::read_to_string(out.join("sweep.json")).unwrap());
    assert_eq!(v["runs"], 24);
}
