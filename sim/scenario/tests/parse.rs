//! Parsing: every section, the defaults, and each model-independent error at its
//! file:line:col with its message and hint.

use dsim_core::config::{
    ChecksConfig, CrashMode, DiskConfig, DiskFault, FaultKind, Latency, Limits, NetworkConfig,
    PartitionShape, PhaseConfig, TopologyConfig,
};
use dsim_core::select::Selector;
use dsim_core::units::{Duration, Probability, MS, SEC};
use dsim_core::Verdict;
use dsim_scenario::{Scenario, ScenarioError, SeedRange};

const FULL: &str = include_str!("data/full.toml");
const HEAD: &str = "name = \"t\"\ndescription = \"d\"\nmodel = \"quorum\"\n";

fn parse(src: &str) -> Scenario {
    match Scenario::parse("t.toml", src) {
        Ok(s) => s,
        Err(e) => panic!("expected a valid scenario, got:\n{e}"),
    }
}

fn err(src: &str) -> ScenarioError {
    match Scenario::parse("t.toml", src) {
        Ok(_) => panic!("expected an error for:\n{src}"),
        Err(e) => e,
    }
}

/// Asserts the error's place and that its message (and hint) contain the given words.
fn assert_at(e: &ScenarioError, line: usize, col: usize, message: &str, hint: Option<&str>) {
    assert_eq!(e.file, "t.toml");
    assert_eq!(
        (e.line, e.col),
        (Some(line), Some(col)),
        "wrong place for:\n{e}"
    );
    assert!(
        e.message.contains(message),
        "message {:?} lacks {message:?}\n{e}",
        e.message
    );
    if let Some(h) = hint {
        assert!(
            e.hint.as_deref().is_some_and(|x| x.contains(h)),
            "hint {:?} lacks {h:?}\n{e}",
            e.hint
        );
    }
    assert!(e.snippet.is_some(), "no snippet:\n{e}");
}

fn with(extra: &str) -> String {
    format!("{HEAD}{extra}")
}

#[test]
fn full_file_parses_every_section() {
    let s = parse(FULL);
    assert_eq!(s.path, "t.toml");
    assert_eq!(s.source, FULL);
    assert_eq!(s.source_hash.len(), 16);
    assert!(s.source_hash.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(s.name, "nwr-strict");
    assert!(s.description.contains("linearizable"));
    assert_eq!(s.model, "quorum");
    let t = s.model_table();
    assert_eq!(t.get("replicas").and_then(|v| v.as_integer()), Some(3));
    assert!(t.get("name").is_none(), "`name` is not a model setting");

    let run = &s.run;
    assert_eq!(
        run.phases,
        PhaseConfig {
            fault_phase: Duration(30 * SEC),
            heal_phase: Duration(15 * SEC),
            heal_restarts: true,
        }
    );
    assert_eq!(
        run.network.latency,
        Latency::Lognormal {
            p50: Duration(2 * MS),
            p99: Duration(20 * MS)
        }
    );
    assert_eq!(run.network.loss, Probability(1_000_000));
    assert_eq!(run.network.duplicate, Probability(1_000_000));
    assert_eq!(run.network.reorder, Probability(10_000_000));
    assert_eq!(run.network.reorder_delay, Duration(5 * MS));
    assert_eq!(run.network.cross_rack_delay, Duration(MS));
    assert_eq!(run.network.cross_zone_delay, Duration(10 * MS));
    assert_eq!(
        run.disk.fsync_latency,
        Latency::Uniform {
            min: Duration(MS),
            max: Duration(4 * MS)
        }
    );
    assert_eq!(run.disk.crash, CrashMode::Torn);
    assert_eq!(run.disk.capacity_bytes, 1 << 20);
    assert_eq!(run.topology, TopologyConfig { racks: 3, zones: 1 });

    assert_eq!(run.faults.len(), 5);
    let f = &run.faults[0];
    assert_eq!(
        (f.at_ns, f.kind, f.duration_ns),
        (5 * SEC, FaultKind::Crash, Some(3 * SEC))
    );
    assert_eq!(f.target, Some(Selector::Random(Some("replica".into()))));
    let f = &run.faults[1];
    assert_eq!(f.shape, PartitionShape::OneWay);
    assert_eq!(f.target, Some(Selector::Node("replica-1".into())));
    assert_eq!(f.to, Some(Selector::Role("replica".into())));
    let f = &run.faults[2];
    assert_eq!(f.offset_ns, -2 * SEC as i64);
    assert_eq!(
        f.target,
        Some(Selector::Model {
            name: "leader".into(),
            arg: None
        })
    );
    let f = &run.faults[3];
    assert_eq!(
        (f.disk, f.factor, f.target.clone()),
        (Some(DiskFault::Slow), 4, Some(Selector::Rack(2)))
    );
    assert_eq!(run.faults[4].kind, FaultKind::Heal);

    let n = run.nemesis.as_ref().expect("nemesis");
    assert_eq!(
        n.kinds,
        [
            FaultKind::Crash,
            FaultKind::Partition,
            FaultKind::Pause,
            FaultKind::Disk
        ]
    );
    assert_eq!(
        (n.interval_min, n.interval_max),
        (Duration(2 * SEC), Duration(5 * SEC))
    );
    assert_eq!(
        (n.duration_min, n.duration_max),
        (Duration(500 * MS), Duration(3 * SEC))
    );
    assert_eq!(n.role.as_deref(), Some("replica"));
    assert_eq!(n.max_faulty, 1);
    assert_eq!(n.disk, [DiskFault::LoseUnsynced, DiskFault::TornWrite]);
    assert_eq!(n.clock_jump_max, Duration(SEC));

    assert_eq!(run.checks.always, ["no-stale-read"]);
    assert_eq!(run.checks.eventually, ["converged"]);
    assert_eq!(run.checks.sometimes, ["write-acked"]);
    assert_eq!(run.checks.history, ["linearizable"]);
    assert_eq!(
        run.limits,
        Limits {
            max_events: 1_000_000,
            max_time: Some(Duration(60 * SEC)),
            max_nodes: 64,
            max_queue: 100_000,
            max_message_bytes: 65_536,
            checker_budget: 100_000,
        }
    );
    let x = s.expect.as_ref().expect("expect");
    assert_eq!(x.seeds, SeedRange { first: 1, last: 20 });
    assert_eq!(x.verdict, Verdict::Violation);
    assert_eq!(x.invariants, ["linearizable"]);
}

#[test]
fn minimal_file_gets_defaults() {
    let s = parse(HEAD);
    assert_eq!(
        (s.name.as_str(), s.description.as_str(), s.model.as_str()),
        ("t", "d", "quorum")
    );
    assert!(s.model_table().is_empty());
    assert_eq!(s.run.phases, PhaseConfig::default());
    assert_eq!(s.run.network, NetworkConfig::default());
    assert_eq!(s.run.disk, DiskConfig::default());
    assert_eq!(s.run.topology, TopologyConfig::default());
    assert!(s.run.faults.is_empty());
    assert!(s.run.nemesis.is_none());
    assert_eq!(s.run.checks, ChecksConfig::default());
    assert_eq!(s.run.limits, Limits::default());
    assert!(s.expect.is_none());
}

#[test]
fn model_may_be_a_name_or_a_table() {
    let a = parse("name = \"t\"\ndescription = \"d\"\nmodel = { name = \"quorum\", w = 3 }\n");
    assert_eq!(a.model, "quorum");
    assert_eq!(
        a.model_table().get("w").and_then(|v| v.as_integer()),
        Some(3)
    );
    let e = err("name = \"t\"\ndescription = \"d\"\n[model]\nw = 3\n");
    assert_at(
        &e,
        3,
        1,
        "the [model] table has no `name`",
        Some("name = \"quorum\""),
    );
    let e = err("name = \"t\"\ndescription = \"d\"\nmodel = \"quorum\"\n[model]\nw = 3\n");
    assert_at(&e, 4, 1, "duplicate key `model`", Some("name = \"quorum\""));
    let e = err("name = \"t\"\ndescription = \"d\"\n[model]\nname = 3\n");
    assert_at(&e, 4, 1, "must be a string", None);
}

#[test]
fn source_hash_is_a_digest_of_the_text() {
    let a = parse(HEAD);
    let b = parse(&format!("{HEAD}\n"));
    assert_ne!(a.source_hash, b.source_hash);
    assert_eq!(a.source_hash, parse(HEAD).source_hash);
}

#[test]
fn header_errors() {
    assert_at(
        &err("description = \"d\"\nmodel = \"q\"\n"),
        1,
        1,
        "missing key `name` at the top level",
        Some("name ="),
    );
    assert_at(
        &err("name = \"t\"\nmodel = \"q\"\n"),
        1,
        1,
        "missing key `description`",
        None,
    );
    assert_at(
        &err("name = \"t\"\ndescription = \"d\"\n"),
        1,
        1,
        "missing key `model`",
        Some("model = \"quorum\""),
    );
    let e = err("name = \"NWR strict\"\ndescription = \"d\"\nmodel = \"q\"\n");
    assert_at(&e, 1, 1, "not a scenario name", Some("nwr-strict"));
    let e = err("name = \"t\"\ndescription = \"  \"\nmodel = \"q\"\n");
    assert_at(&e, 2, 1, "description is empty", None);
    let e = err("name = 3\ndescription = \"d\"\nmodel = \"q\"\n");
    assert_at(&e, 1, 8, "invalid type", None);
}

#[test]
fn toml_syntax_error_has_its_place() {
    let e = err("name = \"t\"\ndescription = \"d\nmodel = \"q\"\n");
    assert_at(&e, 2, 17, "invalid basic string", None);
    let e = err(&with("[network\nloss = 0\n"));
    assert_eq!(e.line, Some(4));
}

#[test]
fn unknown_top_level_key_with_did_you_mean() {
    let e = err(&with("nmae = \"x\"\n"));
    assert_at(
        &e,
        4,
        1,
        "unknown key `nmae` at the top level",
        Some("did you mean `name`?"),
    );
    let e = err(&with("fault = 1\n"));
    assert_at(
        &e,
        4,
        1,
        "unknown key `fault`",
        Some("did you mean `faults`?"),
    );
    // A section's key written at the top level says where it belongs.
    let e = err(&with("loss = \"1/100\"\n"));
    assert_at(
        &e,
        4,
        1,
        "unknown key `loss` at the top level",
        Some("`loss` belongs in [network]"),
    );
    let e = err(&with("xyzzy = 1\n"));
    assert_at(
        &e,
        4,
        1,
        "unknown key `xyzzy`",
        Some("expected one of `name`, `description`, `model`"),
    );
}

#[test]
fn unknown_key_in_network_suggests_loss() {
    let e = err(&with("[network]\nlos = \"1/100\"\n"));
    assert_at(
        &e,
        5,
        1,
        "unknown key `los` in [network]",
        Some("did you mean `loss`?"),
    );
    assert_eq!(e.snippet.as_deref(), Some("los = \"1/100\"\n^^^"));
    // Dotted keys and nested tables too.
    let e = err(&with("network.lss = 1\n"));
    assert_at(
        &e,
        4,
        9,
        "unknown key `lss` in [network]",
        Some("did you mean `loss`?"),
    );
    let e = err(&with(
        "[network.latency]\ndist = \"uniform\"\nmin = \"1ms\"\nmx = \"2ms\"\n",
    ));
    assert_at(
        &e,
        7,
        1,
        "unknown key `mx` in [network.latency]",
        Some("did you mean `max`?"),
    );
    let e = err(&with(
        "[network]\nlatency = { dist = \"constant\", valeu = \"1ms\" }\n",
    ));
    assert_at(
        &e,
        5,
        32,
        "unknown key `valeu` in [network.latency]",
        Some("did you mean `value`?"),
    );
}

#[test]
fn unknown_values_suggest_the_nearest() {
    let e = err(&with("[disk]\ncrash = \"tron\"\n"));
    assert_at(
        &e,
        5,
        9,
        "unknown value `tron` for `crash` in [disk]",
        Some("did you mean `torn`?"),
    );
    let e = err(&with("[network.latency]\ndist = \"gauss\"\n"));
    assert_at(
        &e,
        5,
        8,
        "unknown value `gauss` for `dist` in [network.latency]",
        Some("`lognormal`"),
    );
}

#[test]
fn bad_duration_keeps_core_message() {
    let e = err(&with("[run]\nfault_phase = \"10 sec\"\n"));
    assert_at(&e, 5, 15, "`10 sec` has an unknown unit `sec`", None);
    assert_eq!(
        e.snippet.as_deref(),
        Some("fault_phase = \"10 sec\"\n              ^^^^^^^^")
    );
    // Inside an inline latency table, the error still points at the value.
    let e = err(&with(
        "[network]\nlatency = { dist = \"uniform\", min = \"10 sec\", max = \"1s\" }\n",
    ));
    assert_at(&e, 5, 37, "`10 sec` has an unknown unit", None);
}

#[test]
fn duration_without_unit() {
    let e = err(&with("[run]\nheal_phase = 10\n"));
    assert_at(&e, 5, 14, "10 has no unit", None);
    assert!(e.message.contains("\"10ms\""), "{e}");
    let e = err(&with("[run]\nheal_phase = \"10\"\n"));
    assert_at(&e, 5, 14, "`10` has no unit", None);
}

#[test]
fn bad_probabilities() {
    let e = err(&with("[network]\nloss = 2\n"));
    assert_at(&e, 5, 8, "2 is outside 0..=1", None);
    let e = err(&with("[network]\nduplicate = \"3/2\"\n"));
    assert_at(&e, 5, 13, "3/2 is outside 0..=1", None);
    // Large terms are exact (no overflow), and terms beyond u64 are malformed.
    let s = Scenario::parse(
        "t.toml",
        &with("[network]\nloss = \"20000000000/20000000000\"\n"),
    )
    .unwrap();
    assert_eq!(s.run.network.loss, dsim_core::units::Probability::ONE);
    let e = err(&with("[network]\nloss = \"1/99999999999999999999999\"\n"));
    assert_at(&e, 5, 8, "is not a probability", None);
    let e = err(&with("[network]\nreorder = \"often\"\n"));
    assert_at(&e, 5, 11, "`often` is not a probability", None);
}

#[test]
fn fault_after_the_end() {
    let src = with("[run]\nfault_phase = \"60s\"\n\n[[faults]]\nat = \"1s\"\nkind = \"heal\"\n\n[[faults]]\nat = \"2s\"\nkind = \"heal\"\n\n[[faults]]\nat = \"90s\"\nkind = \"heal\"\n");
    let e = err(&src);
    assert_at(
        &e,
        16,
        1,
        "fault 3 fires at 90s, after the fault phase ends at 60s",
        Some("lengthen [run] fault_phase"),
    );
    // Exactly at the end is too late as well; a duration past the end is fine.
    let e = err(&with("[[faults]]\nat = \"60s\"\nkind = \"heal\"\n"));
    assert_at(&e, 5, 1, "fault 1 fires at 60s", None);
    let s = parse(&with(
        "[[faults]]\nat = \"59s\"\nkind = \"crash\"\ntarget = \"all\"\nduration = \"1h\"\n",
    ));
    assert_eq!(s.run.faults[0].duration_ns, Some(3600 * SEC));
}

#[test]
fn fault_with_unknown_kind_suggests_the_nearest() {
    let e = err(&with(
        "[[faults]]\nat = \"1s\"\nkind = \"crsh\"\ntarget = \"all\"\n",
    ));
    assert_at(
        &e,
        6,
        8,
        "unknown value `crsh` for `kind` in fault 1",
        Some("did you mean `crash`?"),
    );
    let e = err(&with(
        "[[faults]]\nat = \"1s\"\nkind = \"clock_jump\"\ntarget = \"all\"\n",
    ));
    assert_at(
        &e,
        6,
        8,
        "unknown value `clock_jump`",
        Some("did you mean `clock-jump`?"),
    );
    let e = err(&with(
        "[[faults]]\nat = \"1s\"\nkind = \"crash\"\ntraget = \"all\"\n",
    ));
    assert_at(
        &e,
        7,
        1,
        "unknown key `traget` in fault 1",
        Some("did you mean `target`?"),
    );
}

#[test]
fn fault_missing_target() {
    let e = err(&with("[[faults]]\nat = \"1s\"\nkind = \"crash\"\n"));
    assert_at(
        &e,
        6,
        1,
        "a `crash` fault needs a `target`",
        Some("target = "),
    );
    let e = err(&with("[[faults]]\nat = \"1s\"\nkind = \"partition\"\n"));
    assert_at(
        &e,
        6,
        1,
        "an isolating partition needs a `target`",
        Some("majority-minority"),
    );
    // A majority/minority split without a target splits the fault role.
    let s = parse(&with(
        "[[faults]]\nat = \"1s\"\nkind = \"partition\"\nshape = \"majority-minority\"\n",
    ));
    assert_eq!(s.run.faults[0].target, None);
    let e = err(&with("[[faults]]\nkind = \"crash\"\ntarget = \"all\"\n"));
    assert_at(&e, 4, 1, "missing key `at` in fault 1", Some("`at`"));
}

#[test]
fn fault_compile_errors_point_at_their_key() {
    let e = err(&with(
        "[[faults]]\nat = \"1s\"\nkind = \"clock-jump\"\ntarget = \"all\"\noffset = \"2 sec\"\n",
    ));
    assert_at(&e, 8, 1, "unknown unit", Some("signed duration"));
    let e = err(&with(
        "[[faults]]\nat = \"1s\"\nkind = \"slow\"\ntarget = \"all\"\nfactor = 0\n",
    ));
    assert_at(&e, 8, 1, "factor 0", None);
    let e = err(&with(
        "[[faults]]\nat = \"1s\"\nkind = \"pause\"\ntarget = \"all\"\n",
    ));
    assert_at(&e, 6, 1, "a `pause` needs a `duration`", None);
    let e = err(&with(
        "[[faults]]\nat = \"1s\"\nkind = \"crash\"\ntarget = \"all\"\nshape = \"bridge\"\n",
    ));
    assert_at(&e, 8, 1, "`shape` only applies to partitions", None);
    let e = err(&with(
        "[[faults]]\nat = \"1s\"\nkind = \"crash\"\ntarget = \"all\"\nfactor = 3\n",
    ));
    assert_at(
        &e,
        8,
        1,
        "`factor` has no effect on a `crash` fault",
        Some("`target`, `duration`"),
    );
    let e = err(&with(
        "[[faults]]\nat = \"1s\"\nkind = \"heal\"\ntarget = \"all\"\n",
    ));
    assert_at(
        &e,
        7,
        1,
        "`target` has no effect on a `heal` fault",
        Some("only `at`"),
    );
    let e = err(&with(
        "[[faults]]\nat = \"1s\"\nkind = \"partition\"\ntarget = \"all\"\nto = \"all\"\n",
    ));
    assert_at(
        &e,
        8,
        1,
        "`to` only applies to one-way partitions",
        Some("one-way"),
    );
    let e = err(&with("[[faults]]\nat = \"1s\"\nkind = \"disk\"\ntarget = \"all\"\ndisk = \"corrupt\"\nduration = \"1s\"\n"));
    assert_at(&e, 9, 1, "cannot be undone", None);
    let e = err(&with(
        "[[faults]]\nat = \"1s\"\nkind = \"crash\"\ntarget = \"rack(3)\"\n",
    ));
    assert_at(&e, 7, 1, "rack(3) does not exist", Some("rack(0)"));
}

#[test]
fn bad_selector() {
    let e = err(&with(
        "[[faults]]\nat = \"1s\"\nkind = \"crash\"\ntarget = \"random(\"\n",
    ));
    assert_at(&e, 7, 1, "`random(` is not a selector", None);
    assert!(
        e.snippet
            .as_deref()
            .unwrap()
            .starts_with("target = \"random(\""),
        "{e}"
    );
    let e = err(&with(
        "[[faults]]\nat = \"1s\"\nkind = \"crash\"\ntarget = \"node\"\n",
    ));
    assert_at(&e, 7, 1, "needs an argument", None);
}

#[test]
fn latency_problems() {
    let e = err(&with(
        "[network.latency]\ndist = \"uniform\"\nmin = \"3ms\"\nmax = \"2ms\"\n",
    ));
    assert_at(&e, 4, 1, "uniform latency has min 3ms above max 2ms", None);
    let e = err(&with(
        "[disk]\nfsync_latency = { dist = \"normal\", p50 = \"5ms\", p99 = \"1ms\" }\n",
    ));
    assert_at(&e, 5, 1, "p99 1ms is below p50 5ms", None);
}

#[test]
fn nemesis_problems() {
    let nem = |body: &str| with(&format!("[nemesis]\n{body}"));
    let ok = "interval_min = \"1s\"\ninterval_max = \"2s\"\nduration_min = \"1s\"\nduration_max = \"2s\"\n";
    let e = err(&nem(&format!("kinds = []\n{ok}")));
    assert_at(&e, 5, 1, "no kinds of fault", Some("kinds = "));
    let e = err(&nem("kinds = [\"crash\"]\ninterval_min = \"0\"\ninterval_max = \"2s\"\nduration_min = \"1s\"\nduration_max = \"2s\"\n"));
    assert_at(&e, 6, 1, "is below the nemesis's minimum of 1ms", None);
    let e = err(&nem("kinds = [\"crash\"]\ninterval_min = \"3s\"\ninterval_max = \"2s\"\nduration_min = \"1s\"\nduration_max = \"2s\"\n"));
    assert_at(&e, 6, 1, "interval_min 3s is above interval_max 2s", None);
    let e = err(&nem("kinds = [\"crash\"]\ninterval_min = \"1s\"\ninterval_max = \"2s\"\nduration_min = \"3s\"\nduration_max = \"2s\"\n"));
    assert_at(&e, 8, 1, "duration_min 3s is above duration_max 2s", None);
    let e = err(&nem(&format!("kinds = [\"crash\", \"pase\"]\n{ok}")));
    assert_at(
        &e,
        5,
        19,
        "unknown value `pase` for `kinds` in [nemesis]",
        Some("did you mean `pause`?"),
    );
    let e = err(&nem("kinds = [\"crash\"]\n"));
    assert_at(
        &e,
        4,
        1,
        "missing key `interval_min` in [nemesis]",
        Some("duration_max"),
    );
    let e = err(&nem(&format!(
        "kinds = [\"crash\"]\ndisk = [\"corrupt\"]\n{ok}"
    )));
    assert_at(&e, 6, 1, "`disk` has no effect", None);
    let e = err(&nem("kinds = [\"crash\"]\ninterval_min = \"2m\"\ninterval_max = \"3m\"\nduration_min = \"1s\"\nduration_max = \"2s\"\n"));
    assert_at(&e, 6, 1, "the nemesis would never act", None);
}

#[test]
fn phase_topology_and_limit_problems() {
    let e = err(&with("[run]\nfault_phase = \"0\"\n"));
    assert_at(&e, 5, 1, "the fault phase is 0", None);
    let e = err(&with("[topology]\nracks = 0\n"));
    assert_at(&e, 5, 1, "racks is 0", None);
    let e = err(&with("[topology]\nzones = 0\n"));
    assert_at(&e, 5, 1, "zones is 0", None);
    let e = err(&with("[limits]\nmax_time = \"70s\"\n"));
    assert_at(
        &e,
        5,
        1,
        "max_time 70s is shorter than the run: fault phase 60s + heal phase 20s",
        Some("80s"),
    );
    // Without `[limits] max_time`, the phases that outgrew the default are blamed, even
    // when the words "max_time" appear elsewhere in the file.
    let src = "name = \"t\"\ndescription = \"no max_time here\"\nmodel = \"quorum\"\n[run]\nfault_phase = \"31d\"\n";
    let e = err(src);
    assert_at(
        &e,
        5,
        1,
        "max_time 30d is shorter than the run",
        Some("the default limit is 30d"),
    );
    for key in [
        "max_events",
        "max_nodes",
        "max_queue",
        "max_message_bytes",
        "checker_budget",
    ] {
        let e = err(&with(&format!("[limits]\n{key} = 0\n")));
        assert_at(&e, 5, 1, &format!("{key} is 0"), None);
    }
    let e = err(&with("[limits]\nmax_event = 5\n"));
    assert_at(
        &e,
        5,
        1,
        "unknown key `max_event` in [limits]",
        Some("did you mean `max_events`?"),
    );
}

#[test]
fn expect_problems() {
    let x = |body: &str| {
        with(&format!(
            "[checks]\nhistory = [\"linearizable\"]\n[expect]\n{body}"
        ))
    };
    let s = parse(&x("seeds = \"1..=200\"\nverdict = \"valid\"\n"));
    assert_eq!(s.expect.unwrap().seeds.len(), 200);
    let s = parse(&x("seeds = 7\nverdict = \"never-reached\"\n"));
    assert_eq!(s.expect.unwrap().seeds, SeedRange { first: 7, last: 7 });
    let e = err(&x("seeds = \"1..200\"\nverdict = \"panic\"\n"));
    assert_at(
        &e,
        8,
        1,
        "`panic` cannot be expected",
        Some("valid, violation"),
    );
    let e = err(&x("seeds = \"1..200\"\nverdict = \"limit\"\n"));
    assert_at(&e, 8, 1, "`limit` cannot be expected", None);
    let e = err(&x("seeds = \"1..200\"\nverdict = \"violaton\"\n"));
    assert_at(
        &e,
        8,
        1,
        "unknown verdict `violaton`",
        Some("did you mean `violation`?"),
    );
    let e = err(&x(
        "seeds = \"1..200\"\nverdict = \"valid\"\ninvariants = [\"linearizable\"]\n",
    ));
    assert_at(
        &e,
        9,
        1,
        "`invariants` only goes with a failing verdict",
        None,
    );
    let e = err(&x("seeds = \"9..3\"\nverdict = \"valid\"\n"));
    assert_at(&e, 7, 9, "the first seed 9 is above the last 3", None);
    let e = err(&x("seeds = \"0..1000000\"\nverdict = \"valid\"\n"));
    assert_at(&e, 7, 1, "1000001 seeds is too many", None);
    let e = err(&x(
        "seeds = \"1..2\"\nverdict = \"violation\"\ninvariants = [\"stale-read\"]\n",
    ));
    assert_at(&e, 9, 15, "`stale-read` is not in [checks]", None);
    let e = err(&x("verdict = \"valid\"\n"));
    assert_at(
        &e,
        6,
        1,
        "missing key `seeds` in [expect]",
        Some("`seeds` and `verdict`"),
    );
}

#[test]
fn error_at_points_at_the_key_and_falls_back() {
    let src = "name = \"t\"\ndescription = \"d\"\n\n[model]\nname = \"quorum\"\nreplicas = 3\nw = 5\n\n[[faults]]\nat = \"1s\"\nkind = \"heal\"\n\n[[faults]]\nat = \"2s\"\nkind = \"heal\"\n";
    let s = parse(src);
    let e = s.error_at(
        &["model", "w"],
        "W = 5 is above N = 3",
        Some("lower w".into()),
    );
    assert_eq!((e.line, e.col), (Some(7), Some(1)));
    assert_eq!(e.snippet.as_deref(), Some("w = 5\n^^^^^"));
    let e = s.error_at(&["faults", "1", "at"], "x", None);
    assert_eq!((e.line, e.col), (Some(14), Some(1)));
    // A key that is not there: its table.
    let e = s.error_at(&["faults", "1", "target"], "x", None);
    assert_eq!((e.line, e.col), (Some(13), Some(1)));
    assert_eq!(e.snippet.as_deref(), Some("[[faults]]\n^^^^^^^^^^"));
    let e = s.error_at(&["model", "r"], "x", None);
    assert_eq!(e.line, Some(4));
    // Nothing at all: line 1.
    let e = s.error_at(&["nemesis", "role"], "x", None);
    assert_eq!((e.line, e.col), (Some(1), Some(1)));
    let e = s.error_at(&[], "x", None);
    assert_eq!(e.line, Some(1));
    // A model's refusal lands on its key.
    let e = s.config_error(dsim_core::ConfigError::new(
        "w",
        "W = 5 is above N = 3",
        Some("w <= replicas".into()),
    ));
    assert_eq!((e.line, e.col), (Some(7), Some(1)));
    assert_eq!(e.message, "W = 5 is above N = 3");
    assert_eq!(e.hint.as_deref(), Some("w <= replicas"));
}

#[test]
fn display_shows_snippet_and_hint() {
    let src = "name = \"bad\"\ndescription = \"d\"\n[model]\nname = \"quorum\"\nreplicas = 3\n\nwrte_back = true\n";
    let s = parse(src);
    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Cfg {
        replicas: u32,
        write_back: Option<bool>,
    }
    let e = s.model_config::<Cfg>().unwrap_err();
    let shown = e.to_string().replace("t.toml", "scenarios/quorum/bad.toml");
    let e = ScenarioError {
        file: "scenarios/quorum/bad.toml".into(),
        ..e
    };
    assert_eq!(
        e.to_string(),
        "error: scenarios/quorum/bad.toml:7:1: unknown key `wrte_back` in [model]\n  |\n7 | wrte_back = true\n  | ^^^^^^^^^\n  = hint: did you mean `write_back`?"
    );
    assert_eq!(shown, e.to_string());
}

#[test]
fn load_reads_files_and_reports_io_errors() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dsim-scenario-load");
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.toml");
    std::fs::write(&good, FULL).unwrap();
    let s = Scenario::load(&good).unwrap();
    assert_eq!(s.name, "nwr-strict");
    assert_eq!(s.path, good.display().to_string());

    let missing = dir.join("missing.toml");
    let e = Scenario::load(&missing).unwrap_err();
    assert_eq!((e.line, e.col), (None, None));
    assert!(e.message.contains("cannot read"), "{e}");
    assert!(
        e.to_string()
            .starts_with(&format!("error: {}: cannot read", missing.display())),
        "{e}"
    );

    let big = dir.join("big.toml");
    std::fs::write(&big, format!("{HEAD}# {}\n", "x".repeat(1 << 20))).unwrap();
    let e = Scenario::load(&big).unwrap_err();
    assert!(e.message.contains("over the limit"), "{e}");
    let e = Scenario::parse("big.toml", &"#".repeat((1 << 20) + 1)).unwrap_err();
    assert!(e.message.contains("1 MiB"), "{e}");

    let latin1 = dir.join("latin1.toml");
    std::fs::write(&latin1, b"name = \"t\"\ndescription = \"caf\xe9\"\n").unwrap();
    let e = Scenario::load(&latin1).unwrap_err();
    assert_eq!((e.line, e.col), (Some(2), Some(19)));
    assert!(e.message.contains("not UTF-8"), "{e}");
}
