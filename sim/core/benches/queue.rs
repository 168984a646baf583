//! Throughput of the event queue, `dsim_core::queue::EventQueue`.
//!
//! - `steady/N`: N events queued; each iteration pops the earliest and pushes one a
//!   pseudo-random delay later, as a run does when each event schedules the next. The
//!   figure is pop+push pairs per second.
//! - `fill-drain/100000`: push 100k events at pseudo-random times into an empty queue,
//!   then pop them all. The figure is events (one push and one pop each) per second.
//!
//! The payload is 32 bytes, about the size of the engine's own events (a delivery carries
//! two node ids, a small message and a record slot). Times come from a fixed xorshift, so
//! every run of the bench does the same work.
//!
//! Run: `cargo bench -p dsim-core --bench queue -- --quick`

use criterion::{
    black_box, criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput,
};

use dsim_core::queue::EventQueue;

/// An event-sized payload.
#[derive(Clone, Copy)]
struct Payload([u64; 4]);

/// xorshift64: a fixed sequence of delays, no OS randomness.
struct Delays(u64);

impl Delays {
    /// A delay in [0, 1 ms), in nanoseconds.
    #[inline]
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x % 1_000_000
    }
}

fn filled(n: usize, delays: &mut Delays) -> EventQueue<Payload> {
    let mut q = EventQueue::with_capacity(n + 1);
    for i in 0..n as u64 {
        q.push(delays.next(), Payload([i; 4]));
    }
    q
}

fn steady(c: &mut Criterion) {
    let mut group = c.benchmark_group("queue/steady");
    group.throughput(Throughput::Elements(1));
    for n in [128usize, 10_000, 1_000_000] {
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            let mut delays = Delays(0x9e37_79b9_7f4a_7c15);
            let mut q = filled(n, &mut delays);
            b.iter(|| {
                let s = q.pop().expect("never empty");
                let at = s.at_ns + delays.next();
                q.push(at, black_box(s.event));
            });
            black_box(q.len());
        });
    }
    group.finish();
}

fn fill_drain(c: &mut Criterion) {
    const N: usize = 100_000;
    let mut group = c.benchmark_group("queue/fill-drain");
    group.throughput(Throughput::Elements(N as u64));
    group.bench_function(BenchmarkId::from_parameter(N), |b| {
        b.iter_batched(
            || EventQueue::<Payload>::with_capacity(N),
            |mut q| {
                let mut delays = Delays(0x2545_f491_4f6c_dd1d);
                for i in 0..N as u64 {
                    q.push(delays.next(), Payload([i; 4]));
                }
                let mut sum = 0u64;
                while let Some(s) = q.pop() {
                    sum = sum.wrapping_add(s.event.0[0] ^ s.at_ns);
                }
                black_box(sum)
            },
            BatchSize::LargeInput,
        );
    });
    group.finish();
}

criterion_group!(benches, steady, fill_drain);
criterion_main!(benches);
