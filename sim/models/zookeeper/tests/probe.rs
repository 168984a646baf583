//! Not a test: `ZK_PROBE=file.toml ZK_SEEDS=1..5 cargo test --test probe -- --ignored --nocapture`
//! prints each seed's verdict, for tuning scenarios.

use dsim_scenario::testing::{describe, Testbed};
use dsim_zookeeper::{ZkConfig, ZooKeeper};

const ZK: Testbed<ZkConfig, ZooKeeper> = Testbed::new("zookeeper", ZooKeeper::new).recording();

#[test]
#[ignore]
fn probe() {
    let Ok(file) = std::env::var("ZK_PROBE") else {
        return;
    };
    let seeds = std::env::var("ZK_SEEDS").unwrap_or_else(|_| "1..3".into());
    let (a, b) = seeds.split_once("..").expect("A..B");
    let s = ZK.scenario(&file);
    let cfg = ZK.config(&s);
    for seed in a.parse::<u64>().unwrap()..=b.parse::<u64>().unwrap() {
        let r = ZK.run(cfg.clone(), &s.run, seed);
        println!("{}", describe(&r));
        if let Ok(node) = std::env::var("ZK_MSGS") {
            let node: u32 = node.parse().expect("node index");
            let from: u64 = std::env::var("ZK_FROM")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            for m in &r.messages {
                if (m.from == node || m.to == node) && m.sent_ns >= from {
                    println!(
                        "  {:>12} {}->{} {:?} {}",
                        m.sent_ns, m.from, m.to, m.delivered_ns, m.summary
                    );
                }
            }
        }
        for (name, o) in &r.observations {
            if std::env::var("ZK_OBS").is_ok() {
                println!("  obs {name}: {o:?}");
            }
        }
        if let Ok(kinds) = std::env::var("ZK_NOTES") {
            for n in &r.notes {
                if kinds.is_empty() || kinds.split(',').any(|k| k == n.kind) {
                    println!("  {:>12} zk#{} {}: {}", n.at_ns, n.node, n.kind, n.detail);
                }
            }
        }
    }
}
