//! `dsim explain`: the story, the cluster, the network and the fault plan, in words.

use std::path::Path;

use dsim_core::config::{FaultKind, Latency};
use dsim_core::units::format_ns;
use dsim_core::CheckInfo;

use crate::Failure;

fn latency(l: &Latency) -> String {
    match l {
        Latency::Constant { value } => format!("constant {value}"),
        Latency::Uniform { min, max } => format!("uniform {min}..{max}"),
        Latency::Normal { p50, p99 } => format!("normal, p50 {p50}, p99 {p99}"),
        Latency::Lognormal { p50, p99 } => format!("log-normal, p50 {p50}, p99 {p99}"),
    }
}

/// A config enum's name as the scenario file spells it: `MajorityMinority` → `majority-minority`.
fn kebab<T: std::fmt::Debug>(v: &T) -> String {
    let mut out = String::new();
    for (i, c) in format!("{v:?}").chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

pub fn explain(path: &Path) -> Result<i32, Failure> {
    let (s, runner) = crate::files::load(path)?;
    let info = runner.info();
    let run = &s.run;
    println!("{} ({} model)\n", s.name, s.model);
    for line in s.description.trim().lines() {
        println!("  {}", line.trim());
    }
    println!("\ncluster: {} nodes", info.node_names.len());
    println!("  roles: {}", info.roles.join(", "));
    let shown: Vec<&str> = info
        .node_names
        .iter()
        .take(12)
        .map(|s| s.as_str())
        .collect();
    println!(
        "  nodes: {}{}",
        shown.join(", "),
        if info.node_names.len() > 12 {
            ", ..."
        } else {
            ""
        }
    );
    println!(
        "  topology: {} rack(s) in {} zone(s), {}",
        run.topology.racks,
        run.topology.zones,
        if info.names_racks {
            "the nodes the model places (e.g. broker.rack) in their racks, the others round-robin"
        } else {
            "placed round-robin"
        }
    );
    let settings: Vec<String> = s
        .model_table()
        .iter()
        .map(|(k, v)| format!("{k} = {v}"))
        .collect();
    if !settings.is_empty() {
        println!("  settings: {}", settings.join("; "));
    }
    let n = &run.network;
    println!(
        "\nnetwork: latency {}; loss {}; duplication {}; reordering {}",
        latency(&n.latency),
        n.loss,
        n.duplicate,
        n.reorder
    );
    let crash = match run.disk.crash {
        dsim_core::config::CrashMode::Process => {
            "a crash kills the process only, every write survives".to_string()
        }
        other => format!("a crash keeps {} data", kebab(&other)),
    };
    println!("disk: fsync {}; {crash}", latency(&run.disk.fsync_latency));
    println!(
        "\nphases: faults for {}, then every fault is lifted and the system has {} to heal",
        run.phases.fault_phase, run.phases.heal_phase
    );
    if run.faults.is_empty() && run.nemesis.is_none() {
        println!("faults: none");
    }
    for f in &run.faults {
        let target = f
            .target
            .as_ref()
            .map(|t| t.to_string())
            .unwrap_or_else(|| "-".into());
        let what = match f.kind {
            FaultKind::Partition => match (&f.target, f.shape) {
                (None, shape) => format!("partition ({}) of the model's fault role", shape.name()),
                (Some(_), dsim_core::config::PartitionShape::OneWay) => format!(
                    "one-way partition: {target} cannot reach {}",
                    f.to.as_ref()
                        .map(|t| t.to_string())
                        .unwrap_or_else(|| "anyone else".into())
                ),
                (Some(_), shape) => format!("partition ({}) of {target}", shape.name()),
            },
            FaultKind::Disk => format!(
                "disk fault {} on {target}",
                f.disk.map(|d| d.name()).unwrap_or_default()
            ),
            FaultKind::ClockJump => format!(
                "clock of {target} jumps by {}{}",
                if f.offset_ns < 0 { "-" } else { "+" },
                format_ns(f.offset_ns.unsigned_abs())
            ),
            FaultKind::Slow => format!("network of {target} {}x slower", f.factor),
            FaultKind::Heal => "every partition heals".to_string(),
            FaultKind::ClockDrift => format!("clock of {target} drifts {} ppm", f.drift_ppm),
            k => format!("{} {target}", k.name()),
        };
        let dur = f
            .duration_ns
            .map(|d| format!(" for {}", format_ns(d)))
            .unwrap_or_default();
        println!("  at {:>8}: {what}{dur}", format_ns(f.at_ns));
    }
    if let Some(nem) = &run.nemesis {
        let kinds: Vec<&str> = nem.kinds.iter().map(|k| k.name()).collect();
        println!(
            "  nemesis: every {}..{} one of [{}] on {} nodes, lasting {}..{}, never more than {} faulty at once",
            nem.interval_min,
            nem.interval_max,
            kinds.join(", "),
            nem.role.as_deref().unwrap_or("the model's default"),
            nem.duration_min,
            nem.duration_max,
            nem.max_faulty
        );
    }
    let about = |list: &[CheckInfo], name: &str| {
        list.iter()
            .find(|c| c.name == name)
            .map(|c| c.about)
            .unwrap_or("")
    };
    let c = &run.checks;
    let cat = info.catalogue;
    println!("\nchecks:");
    for (kind, names, list) in [
        ("always", &c.always, cat.always),
        ("eventually", &c.eventually, cat.eventually),
        ("sometimes", &c.sometimes, cat.sometimes),
        ("history", &c.history, cat.history),
    ] {
        for name in names {
            println!("  {kind:<10} {name}: {}", about(list, name));
        }
    }
    match &s.expect {
        Some(e) => {
            let inv = if e.invariants.is_empty() {
                String::new()
            } else {
                format!(", with {}", e.invariants.join(", "))
            };
            println!(
                "\nexpected: {} over seeds {}{inv}",
                e.verdict.name(),
                e.seeds
            );
        }
        None => println!("\nexpected: (no [expect])"),
    }
    println!(
        "run it:   dsim run {} --seed {}",
        s.path,
        crate::cmd_run::default_seed(&s)
    );
    Ok(0)
}
