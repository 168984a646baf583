//! A producer client, as the Java `KafkaProducer` works (its `RecordAccumulator` and
//! `Sender`): `send` picks a partition (murmur2 of the key, or the sticky partitioner
//! for unkeyed records, KIP-480), appends to that partition's open batch, which closes
//! when full (`batch.size`) or old (`linger.ms`); the sender ships closed batches to
//! each partition's leader, at most `max.in.flight.requests.per.connection` per broker.
//! A retriable error or a `request.timeout.ms` without an answer sends the batch again
//! after `retry.backoff.ms`, up to `retries` times and within `delivery.timeout.ms` of
//! `send`; without idempotence a retry of a batch that was in fact appended appends it
//! twice (KIP-98). With `enable.idempotence` the producer gets a producer id and numbers
//! its records per partition, and the leader drops a batch it already has.
//!
//! Every record is one operation of the history: invoked at `send`, completed `ok` with
//! its offset when acknowledged, `fail` when it certainly never reached a log, `info`
//! when the producer gave up not knowing (Jepsen's vocabulary). Its value is unique:
//! `(producer << 40) | n`, written in the record's first 8 bytes.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use dsim_core::history::Outcome;
use dsim_core::Rng;
use dsim_core::{Ctx, NodeId, Observation, OpId};

use crate::log::batch::RecordBatch;
use crate::msg::{KError, LeaderInfo, Msg};
use crate::partitioner::{partition_for_key, Partitioner, Unkeyed};
use crate::{Acks, Call, KNode, Ret, Settings, Timer};

/// How often the producer looks for expired batches.
const TICK_NS: u64 = 10_000_000;

#[derive(Clone, Debug)]
struct Pending {
    value: u64,
    key: Option<u32>,
    op: OpId,
    sent_ns: u64,
}

#[derive(Clone, Debug)]
struct Batch {
    partition: u32,
    records: Vec<Pending>,
    bytes: usize,
    /// The idempotent producer's sequence of the first record (-1 without).
    base_sequence: i32,
    attempts: u32,
    /// Sent at least once: a failure is then "unknown", not "did not happen".
    sent: bool,
    /// Not before this time (retry backoff).
    not_before_ns: u64,
    /// The producer epoch its sequence numbers belong to.
    epoch: i16,
    created_ns: u64,
}

#[derive(Debug)]
struct InFlight {
    batch: Batch,
    broker: NodeId,
}

#[derive(Debug)]
pub struct Producer {
    s: Arc<Settings>,
    pub index: u32,
    /// Records per second for this producer.
    rate: u64,
    producer_id: Option<(i64, i16)>,
    leaders: Vec<LeaderInfo>,
    metadata_wanted: bool,
    partitioner: Partitioner,
    produced: u64,
    started_ns: u64,
    open: BTreeMap<u32, Batch>,
    ready: BTreeMap<u32, VecDeque<Batch>>,
    in_flight: BTreeMap<u64, InFlight>,
    next_sequence: BTreeMap<u32, i32>,
    next_request: u64,
    pub acked: u64,
    pub failed: u64,
    pub retried: u64,
}

impl Producer {
    pub fn new(s: Arc<Settings>, index: u32) -> Producer {
        let n = u64::from(s.cfg.producers.max(1));
        let rate = s.cfg.produce_rate / n + u64::from(u64::from(index) < s.cfg.produce_rate % n);
        Producer {
            index,
            rate,
            producer_id: None,
            leaders: vec![
                LeaderInfo {
                    leader: None,
                    leader_epoch: 0
                };
                s.cfg.partitions as usize
            ],
            metadata_wanted: true,
            partitioner: Partitioner::new(Unkeyed::Sticky, 0),
            produced: 0,
            started_ns: 0,
            open: BTreeMap::new(),
            ready: BTreeMap::new(),
            in_flight: BTreeMap::new(),
            next_sequence: BTreeMap::new(),
            next_request: 0,
            acked: 0,
            failed: 0,
            retried: 0,
            s,
        }
    }

    pub fn on_start(&mut self, ctx: &mut Ctx<'_, KNode>) {
        let partitions = self.s.cfg.partitions;
        let start = ctx.rng().gen_range(0..partitions);
        self.partitioner = Partitioner::new(Unkeyed::Sticky, start);
        self.started_ns = ctx.now();
        self.request_metadata(ctx);
        ctx.set_timer(Timer::MetadataRefresh, self.s.cfg.metadata_max_age.0);
        ctx.set_timer(Timer::ProducerTick, TICK_NS);
        if self.rate > 0 {
            ctx.set_timer(Timer::Produce, self.produce_interval_ns());
        }
    }

    fn produce_interval_ns(&self) -> u64 {
        if self.rate <= 1000 {
            1_000_000_000 / self.rate.max(1)
        } else {
            1_000_000
        }
    }

    fn request_metadata(&mut self, ctx: &mut Ctx<'_, KNode>) {
        let b = self.s.random_broker(ctx.rng());
        ctx.send(b, Msg::MetadataRequest);
        if self.s.cfg.idempotence && self.producer_id.is_none() {
            ctx.send(b, Msg::InitProducerId);
        }
        self.metadata_wanted = false;
        // Ask again soon if the answer does not come or names no leaders.
        ctx.set_timer(
            Timer::MetadataRetry,
            self.s.cfg.retry_backoff.0.max(100_000_000),
        );
    }

    pub fn on_timer(&mut self, ctx: &mut Ctx<'_, KNode>, timer: Timer) {
        match timer {
            Timer::Produce => {
                self.produce_due(ctx);
                let stop = self.s.cfg.produce_for.0;
                if stop == 0 || ctx.now() < self.started_ns + stop {
                    ctx.set_timer(Timer::Produce, self.produce_interval_ns());
                }
            }
            Timer::Linger(p) => {
                if let Some(b) = self.open.remove(&p) {
                    self.ready.entry(p).or_default().push_back(b);
                }
                self.drain(ctx);
            }
            Timer::ProducerTick => {
                self.expire(ctx);
                self.drain(ctx);
                ctx.set_timer(Timer::ProducerTick, TICK_NS);
            }
            Timer::MetadataRefresh => {
                self.request_metadata(ctx);
                ctx.set_timer(Timer::MetadataRefresh, self.s.cfg.metadata_max_age.0);
            }
            Timer::MetadataRetry => {
                let unknown = self.leaders.iter().any(|l| l.leader.is_none());
                let no_pid = self.s.cfg.idempotence && self.producer_id.is_none();
                if self.metadata_wanted || unknown || no_pid {
                    self.request_metadata(ctx);
                }
            }
            Timer::RequestTimeout(request) => {
                if let Some(f) = self.in_flight.remove(&request) {
                    ctx.note(
                        "request-timeout",
                        format!(
                            "produce to topic-{} got no answer in {}",
                            f.batch.partition, self.s.cfg.request_timeout
                        ),
                    );
                    self.retry_or_fail(ctx, f.batch, KError::RequestTimedOut);
                    self.drain(ctx);
                }
            }
            _ => {}
        }
    }

    /// Sends the records due by now at this producer's rate.
    fn produce_due(&mut self, ctx: &mut Ctx<'_, KNode>) {
        let elapsed = ctx.now().saturating_sub(self.started_ns);
        let due = if self.rate <= 1000 {
            self.produced + 1
        } else {
            (u128::from(self.rate) * u128::from(elapsed) / 1_000_000_000) as u64
        };
        while self.produced < due {
            self.send_one(ctx);
        }
        self.drain(ctx);
    }

    /// `KafkaProducer.send`: one record into its partition's open batch.
    fn send_one(&mut self, ctx: &mut Ctx<'_, KNode>) {
        let c = &self.s.cfg;
        let n = self.produced;
        self.produced += 1;
        let value = (u64::from(self.index + 1) << 40) | n;
        let key = (c.keys > 0).then(|| ctx.rng().gen_range(0..c.keys));
        let partition = match key {
            Some(k) => partition_for_key(&key_bytes(k), c.partitions),
            None => self.partitioner.partition(None, c.partitions),
        };
        let op = ctx.invoke(Call::Send { partition, value });
        let record_bytes = c.record_bytes as usize + key.map_or(0, |_| 8) + 16;
        let now = ctx.now();
        let batch_bytes = c.batch_bytes as usize;
        // As in the Java accumulator, a batch waiting to be sent still takes records
        // while it has room; linger only decides when it may go.
        if let Some(b) = self
            .ready
            .get_mut(&partition)
            .and_then(|q| q.back_mut())
            .filter(|b| !b.sent && b.bytes + record_bytes <= batch_bytes)
        {
            b.records.push(Pending {
                value,
                key,
                op,
                sent_ns: now,
            });
            b.bytes += record_bytes;
            return;
        }
        let b = self.open.entry(partition).or_insert_with(|| Batch {
            partition,
            records: Vec::new(),
            bytes: 61, // the v2 batch header
            base_sequence: -1,
            attempts: 0,
            sent: false,
            not_before_ns: 0,
            epoch: -1,
            created_ns: now,
        });
        let first = b.records.is_empty();
        b.records.push(Pending {
            value,
            key,
            op,
            sent_ns: now,
        });
        b.bytes += record_bytes;
        if b.bytes + record_bytes > batch_bytes {
            let b = self.open.remove(&partition).expect("just used");
            ctx.cancel_timer(Timer::Linger(partition));
            self.ready.entry(partition).or_default().push_back(b);
            self.partitioner.on_batch_sent();
        } else if first {
            ctx.set_timer(Timer::Linger(partition), c.linger.0.max(1));
        }
    }

    /// The sender: ships ready batches whose leader is known, within the in-flight cap.
    fn drain(&mut self, ctx: &mut Ctx<'_, KNode>) {
        let now = ctx.now();
        let max_in_flight = self.s.cfg.max_in_flight as usize;
        let partitions: Vec<u32> = self.ready.keys().copied().collect();
        for p in partitions {
            while let Some(info) = self.leaders.get(p as usize).copied() {
                let Some(leader) = info.leader else {
                    self.metadata_wanted = true;
                    break;
                };
                if self.s.cfg.idempotence && self.producer_id.is_none() {
                    break;
                }
                let broker = self.s.broker_node(leader);
                let busy = self
                    .in_flight
                    .values()
                    .filter(|f| f.broker == broker)
                    .count();
                if busy >= max_in_flight {
                    break;
                }
                let Some(q) = self.ready.get_mut(&p) else {
                    break;
                };
                if q.front().is_none_or(|b| b.not_before_ns > now) {
                    break;
                }
                let mut batch = q.pop_front().expect("front exists");
                self.ship(ctx, &mut batch, broker);
                if self.s.cfg.acks == Acks::None {
                    // Fire and forget: done as soon as it is on the wire.
                    for r in &batch.records {
                        ctx.complete(r.op, Outcome::Ok, Some(Ret::Sent { offset: None }));
                    }
                    continue;
                }
                self.next_request += 1;
                let request = self.next_request;
                ctx.set_timer(Timer::RequestTimeout(request), self.s.cfg.request_timeout.0);
                self.in_flight.insert(request, InFlight { batch, broker });
                // The request itself was sent by `ship` under this id.
            }
        }
        self.ready.retain(|_, q| !q.is_empty());
    }

    fn ship(&mut self, ctx: &mut Ctx<'_, KNode>, batch: &mut Batch, broker: NodeId) {
        let (pid, epoch) = if self.s.cfg.idempotence {
            self.producer_id.expect("checked by drain")
        } else {
            (-1, -1)
        };
        if pid >= 0 && (batch.base_sequence < 0 || batch.epoch != epoch) {
            batch.epoch = epoch;
            let seq = self.next_sequence.entry(batch.partition).or_insert(0);
            batch.base_sequence = *seq;
            *seq = crate::producer_state::increment_sequence(*seq, batch.records.len() as u32);
        }
        let now_ms = (ctx.now() / 1_000_000) as i64;
        let record_bytes = self.s.cfg.record_bytes as usize;
        let records = batch
            .records
            .iter()
            .map(|r| {
                let mut v = r.value.to_le_bytes().to_vec();
                v.resize(record_bytes, 0);
                (now_ms, r.key.map(key_bytes), v)
            })
            .collect();
        let rb = RecordBatch::new(pid, epoch, batch.base_sequence, records);
        batch.attempts += 1;
        batch.sent = true;
        ctx.send(
            broker,
            Msg::Produce {
                request: self.next_request + 1,
                partition: batch.partition,
                batch: rb,
                acks: self.s.cfg.acks,
            },
        );
    }

    pub fn on_message(&mut self, ctx: &mut Ctx<'_, KNode>, _from: NodeId, msg: Msg) {
        match msg {
            Msg::MetadataReply { partitions } => {
                for (mine, new) in self.leaders.iter_mut().zip(partitions) {
                    if new.leader_epoch >= mine.leader_epoch {
                        *mine = new;
                    }
                }
                self.drain(ctx);
            }
            Msg::InitProducerIdReply {
                producer_id,
                producer_epoch,
            } if self.producer_id.is_none() => {
                self.producer_id = Some((producer_id, producer_epoch));
                self.drain(ctx);
            }
            Msg::ProduceReply {
                request, result, ..
            } => {
                let Some(f) = self.in_flight.remove(&request) else {
                    return; // timed out already
                };
                ctx.cancel_timer(Timer::RequestTimeout(request));
                match result {
                    Ok(base) => {
                        for (i, r) in f.batch.records.iter().enumerate() {
                            ctx.complete(
                                r.op,
                                Outcome::Ok,
                                Some(Ret::Sent {
                                    offset: Some(base + i as u64),
                                }),
                            );
                        }
                        self.acked += f.batch.records.len() as u64;
                        let latency_ms =
                            ctx.now().saturating_sub(f.batch.records[0].sent_ns) / 1_000_000;
                        ctx.metric("produce_latency_ms", latency_ms as i64);
                    }
                    Err(e) => self.retry_or_fail(ctx, f.batch, e),
                }
                self.drain(ctx);
            }
            _ => {}
        }
    }

    fn retry_or_fail(&mut self, ctx: &mut Ctx<'_, KNode>, mut batch: Batch, e: KError) {
        let s = self.s.clone();
        let c = &s.cfg;
        let expired = ctx.now().saturating_sub(batch.created_ns) >= c.delivery_timeout.0;
        if c.idempotence
            && matches!(e, KError::OutOfOrderSequence | KError::ProducerFenced)
            && !self.earlier_in_flight(&batch)
        {
            // A gap the leader cannot fill: it lost this producer's earlier records. The
            // batch fails (the Java producer raises OutOfOrderSequenceException), and so
            // does every batch numbered in the old epoch that may already be in a log:
            // sent again under new numbers it could be appended twice.
            self.bump_epoch(ctx, &batch, e);
            ctx.note(
                "produce-failed",
                format!(
                    "{} record(s) to topic-{}: {} (the leader lost earlier records)",
                    batch.records.len(),
                    batch.partition,
                    e.name()
                ),
            );
            return self.fail(ctx, batch);
        }
        let retriable = e.retriable()
            || (c.idempotence && matches!(e, KError::OutOfOrderSequence | KError::ProducerFenced));
        if retriable && batch.attempts <= c.retries && !expired {
            self.retried += 1;
            // A sequence gap means an earlier batch of this partition was overtaken on
            // the network (dsim's links reorder; Kafka's TCP connections do not): send it
            // again at once, behind the earlier one, rather than back off.
            batch.not_before_ns = if e == KError::OutOfOrderSequence {
                ctx.now()
            } else {
                ctx.now() + c.retry_backoff.0
            };
            if matches!(
                e,
                KError::NotLeaderOrFollower
                    | KError::FencedLeaderEpoch
                    | KError::UnknownLeaderEpoch
                    | KError::RequestTimedOut
                    | KError::LeaderNotAvailable
            ) {
                self.metadata_wanted = true;
                self.request_metadata(ctx);
            }
            // Back in sequence order, ahead of newer batches.
            let q = self.ready.entry(batch.partition).or_default();
            let at = q
                .iter()
                .position(|b| b.base_sequence < 0 || b.base_sequence > batch.base_sequence)
                .unwrap_or(q.len());
            q.insert(at, batch);
            return;
        }
        ctx.note(
            "produce-failed",
            format!(
                "{} record(s) to topic-{} failed after {} attempt(s): {}",
                batch.records.len(),
                batch.partition,
                batch.attempts,
                e.name()
            ),
        );
        self.fail(ctx, batch);
    }

    /// Whether a batch of the same partition with an earlier sequence (of the same epoch)
    /// is still in flight or waiting to be retried: then a sequence gap only means that
    /// batch has not landed yet.
    fn earlier_in_flight(&self, batch: &Batch) -> bool {
        let earlier = |b: &Batch| {
            b.partition == batch.partition
                && b.epoch == batch.epoch
                && b.base_sequence >= 0
                && b.base_sequence < batch.base_sequence
        };
        self.in_flight.values().any(|f| earlier(&f.batch))
            || self
                .ready
                .get(&batch.partition)
                .is_some_and(|q| q.iter().any(earlier))
    }

    /// KIP-360: the leader has lost the producer's history (a sequence gap it cannot
    /// fill, typically after a leader lost acknowledged records). The idempotent producer
    /// bumps its epoch and numbers everything not yet acknowledged from 0 again.
    fn bump_epoch(&mut self, ctx: &mut Ctx<'_, KNode>, batch: &Batch, e: KError) {
        let Some((pid, epoch)) = self.producer_id else {
            return;
        };
        if batch.epoch < epoch {
            return; // already bumped since this batch was numbered
        }
        self.producer_id = Some((pid, epoch.wrapping_add(1).max(0)));
        self.next_sequence.clear();
        let mut sent_before = Vec::new();
        for q in self.ready.values_mut() {
            let (sent, unsent): (VecDeque<Batch>, VecDeque<Batch>) =
                q.drain(..).partition(|b| b.sent);
            sent_before.extend(sent);
            *q = unsent;
            for b in q.iter_mut() {
                b.base_sequence = -1;
            }
        }
        for b in sent_before {
            self.fail(ctx, b);
        }
        ctx.note(
            "producer-epoch-bump",
            format!(
                "{} on topic-{} with nothing earlier in flight: producer {pid} bumps its epoch to {} and renumbers (KIP-360)",
                e.name(),
                batch.partition,
                epoch + 1
            ),
        );
    }

    fn fail(&mut self, ctx: &mut Ctx<'_, KNode>, batch: Batch) {
        // A batch that went out may have been appended although we were not told.
        let outcome = if batch.sent {
            Outcome::Info
        } else {
            Outcome::Fail
        };
        for r in &batch.records {
            ctx.complete(r.op, outcome, None);
        }
        self.failed += batch.records.len() as u64;
    }

    /// `delivery.timeout.ms` for batches still waiting (open or ready).
    fn expire(&mut self, ctx: &mut Ctx<'_, KNode>) {
        let now = ctx.now();
        let timeout = self.s.cfg.delivery_timeout.0;
        let mut dead = Vec::new();
        for q in self.ready.values_mut() {
            while q
                .front()
                .is_some_and(|b| now.saturating_sub(b.created_ns) >= timeout)
            {
                dead.push(q.pop_front().expect("front exists"));
            }
        }
        let old: Vec<u32> = self
            .open
            .iter()
            .filter(|(_, b)| now.saturating_sub(b.created_ns) >= timeout)
            .map(|(p, _)| *p)
            .collect();
        for p in old {
            dead.extend(self.open.remove(&p));
        }
        for b in dead {
            self.fail(ctx, b);
        }
    }

    pub fn observe(&self) -> Observation {
        Observation {
            state: "producer",
            fields: vec![
                ("acked", self.acked as i64),
                ("failed", self.failed as i64),
                ("retried", self.retried as i64),
                ("in_flight", self.in_flight.len() as i64),
            ],
        }
    }
}

/// A record key as bytes: "key-<n>".
pub fn key_bytes(k: u32) -> Vec<u8> {
    format!("key-{k}").into_bytes()
}
