//! The engine loop's throughput, in events per second of wall time.
//!
//! `pingpong` makes every event a message delivery whose handler sends one message, so
//! the figure is the engine's own cost per event: queue, network routing and latency
//! sampling, digest, dispatch and effects. Each pingpong iteration is one whole run of
//! about 200k events; `heartbeat` (1,000 workers for 60 s) about 61k, and shows what many
//! nodes and timers cost. Criterion reports `elem/s`, i.e. events per second.
//!
//! Run: `cargo bench -p dsim-bench-models --bench engine -- --quick`

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

use dsim_bench_models::{Heartbeat, HeartbeatConfig, PingPong, PingPongConfig};
use dsim_core::config::{Latency, NetworkConfig, PhaseConfig};
use dsim_core::units::Duration;
use dsim_core::{run, Model, RunConfig, RunOptions, Verdict};

fn config(latency: Latency, sim: Duration) -> RunConfig {
    RunConfig {
        network: NetworkConfig {
            latency,
            ..NetworkConfig::default()
        },
        phases: PhaseConfig {
            fault_phase: sim,
            heal_phase: Duration::ZERO,
            ..PhaseConfig::default()
        },
        ..RunConfig::default()
    }
}

/// One run; returns its event count.
fn events<M: Model>(model: &M, cfg: &RunConfig, seed: u64) -> u64 {
    let report = run(model, cfg, seed, RunOptions::default()).expect("the model starts");
    assert_eq!(report.verdict, Verdict::Valid, "{:?}", report.limit);
    report.events
}

fn pingpong(c: &mut Criterion) {
    let model = PingPong::new(PingPongConfig {
        nodes: 2,
        in_flight: 64,
        panic_at_hops: None,
    })
    .expect("valid config");
    // 128 balls in the air, 1 ms a hop: 128 deliveries per virtual millisecond, so
    // 1.5625 s of virtual time is 200k events.
    let cases = [
        (
            "constant-1ms",
            Latency::Constant {
                value: Duration::from_ms(1),
            },
            Duration(1_562_500_000),
        ),
        // Log-normal with p50 500us, p99 5ms has a mean of about 816us: same event count
        // in 1.275 s, and every send draws from the sampler.
        (
            "lognormal-500us-5ms",
            Latency::Lognormal {
                p50: Duration(500_000),
                p99: Duration::from_ms(5),
            },
            Duration(1_275_000_000),
        ),
    ];
    let mut group = c.benchmark_group("engine/pingpong");
    for (name, latency, sim) in cases {
        let cfg = config(latency, sim);
        let n = events(&model, &cfg, 1);
        group.throughput(Throughput::Elements(n));
        group.bench_with_input(BenchmarkId::new(name, n), &cfg, |b, cfg| {
            b.iter(|| black_box(events(&model, cfg, black_box(1))))
        });
    }
    group.finish();
}

fn heartbeat(c: &mut Criterion) {
    // 1000 workers for 60 s of virtual time: about 20 beats each, three events a beat
    // (timer, heartbeat, ack), spread over 1001 nodes' timers.
    let model = Heartbeat::new(HeartbeatConfig {
        workers: 1000,
        ..HeartbeatConfig::default()
    })
    .expect("valid config");
    let cfg = config(
        Latency::Constant {
            value: Duration::from_ms(1),
        },
        Duration::from_secs(60),
    );
    let n = events(&model, &cfg, 1);
    let mut group = c.benchmark_group("engine/heartbeat");
    group.throughput(Throughput::Elements(n));
    group.bench_with_input(BenchmarkId::new("1000-workers-60s", n), &cfg, |b, cfg| {
        b.iter(|| black_box(events(&model, cfg, black_box(1))))
    });
    group.finish();
}

criterion_group!(benches, pingpong, heartbeat);
criterion_main!(benches);
