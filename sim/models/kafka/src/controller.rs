//! A KRaft controller (KIP-500, KIP-595, KIP-631): a voter of the Raft metadata quorum
//! (`__cluster_metadata`). Every controller applies the committed metadata records to its
//! own image, so a new active controller starts with the whole state in memory; the
//! quorum leader is the active controller. It
//! * takes brokers' heartbeats, registers new incarnations (RegisterBroker) and fences a
//!   broker that misses `broker.session.timeout.ms` (FenceBroker), whose records elect new
//!   leaders deterministically as they are applied;
//! * creates the topic once every broker has registered (CreateTopic, with Kafka's
//!   replica placement);
//! * commits leaders' ISR changes (AlterPartition) and answers them once committed;
//! * tells brokers every partition state change (LeaderAndIsr), with its Raft term as
//!   the controller epoch so a deposed controller's late messages are ignored.
//!
//! Dsim simplification, written down in docs/models/kafka.md: leader elections are
//! computed while applying the fence/register records rather than written as separate
//! PartitionChangeRecords; both are deterministic functions of the log.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use dsim_core::{Ctx, IoDone, NodeId};
use dsim_raft::env::CtxEnv;
use dsim_raft::log::Payload;
use dsim_raft::msg::{RaftMsg, RaftTimer};
use dsim_raft::server::{RaftConfig, RaftServer};

use crate::isr::BrokerId;
use crate::metadata::{Election, LeaderChange, Metadata, MetadataRecord};
use crate::msg::Msg;
use crate::{KNode, Settings, Timer};

/// How often the active controller looks for brokers that missed their session.
const TICK_NS: u64 = 250_000_000;
/// Every this many ticks (2 s) the active controller resends every partition's state.
const RESEND_TICKS: u64 = 8;

#[derive(Debug)]
pub struct Controller {
    s: Arc<Settings>,
    pub raft: Box<RaftServer<MetadataRecord>>,
    pub image: Metadata,
    /// Active controller only: when each broker was last heard from (its clock).
    last_heartbeat_ns: BTreeMap<BrokerId, u64>,
    /// Proposed and not yet applied, so they are not proposed twice.
    proposed_fence: BTreeSet<BrokerId>,
    proposed_register: BTreeMap<BrokerId, u64>,
    topic_proposed: bool,
    /// AlterPartition requests waiting for their record to commit: log index → sender.
    waiting_alter: BTreeMap<u64, (NodeId, u32)>,
    was_leader: bool,
    ticks: u64,
    /// When this controller became active (for the failover metric).
    pub active_since_ns: Option<u64>,
}

impl Controller {
    pub fn new(s: Arc<Settings>) -> Controller {
        let mut cfg = RaftConfig::new(s.quorum.clone());
        cfg.file_prefix = "__cluster_metadata/".into();
        // KRaft's controller.quorum.election.timeout.ms (1 s) and fetch interval.
        cfg.election_timeout_min_ns = 1_000_000_000;
        cfg.election_timeout_max_ns = 2_000_000_000;
        cfg.heartbeat_interval_ns = 500_000_000;
        let image = Metadata::new(s.rules);
        Controller {
            s,
            raft: Box::new(RaftServer::new(cfg)),
            image,
            last_heartbeat_ns: BTreeMap::new(),
            proposed_fence: BTreeSet::new(),
            proposed_register: BTreeMap::new(),
            topic_proposed: false,
            waiting_alter: BTreeMap::new(),
            was_leader: false,
            ticks: 0,
            active_since_ns: None,
        }
    }

    pub fn is_active(&self) -> bool {
        self.raft.is_leader()
    }

    pub fn on_start(&mut self, ctx: &mut Ctx<'_, KNode>) {
        self.raft.start(&mut CtxEnv::new(ctx));
        ctx.set_timer(Timer::ControllerTick, TICK_NS);
        self.drain(ctx);
    }

    pub fn on_raft_message(
        &mut self,
        ctx: &mut Ctx<'_, KNode>,
        from: NodeId,
        m: RaftMsg<MetadataRecord>,
    ) {
        self.raft.on_message(&mut CtxEnv::new(ctx), from, m);
        self.drain(ctx);
    }

    pub fn on_raft_timer(&mut self, ctx: &mut Ctx<'_, KNode>, t: RaftTimer) {
        self.raft.on_timer(&mut CtxEnv::new(ctx), t);
        self.drain(ctx);
    }

    pub fn on_io(&mut self, ctx: &mut Ctx<'_, KNode>, done: IoDone) {
        self.raft.on_io(&mut CtxEnv::new(ctx), done.token, done.ok);
        self.drain(ctx);
    }

    pub fn on_message(&mut self, ctx: &mut Ctx<'_, KNode>, from: NodeId, msg: Msg) {
        if !self.raft.is_leader() {
            return; // brokers find the active controller by its answers
        }
        match msg {
            Msg::BrokerHeartbeat {
                broker,
                incarnation,
                clean_shutdown,
            } => {
                let known = self.image.brokers.get(&broker).copied();
                if known.is_some_and(|b| !b.fenced && b.incarnation != incarnation) {
                    // A restarted broker while its old incarnation's session is still
                    // valid: refused (DUPLICATE_BROKER_REGISTRATION) until that session
                    // expires and the old incarnation is fenced, leadership and all.
                    ctx.send(from, Msg::BrokerHeartbeatReply { registered: false });
                    return;
                }
                self.last_heartbeat_ns.insert(broker, ctx.now());
                let current = known.is_some_and(|b| b.incarnation == incarnation && !b.fenced);
                let pending = self.proposed_register.get(&broker) == Some(&incarnation);
                if !current && !pending {
                    let rec = MetadataRecord::RegisterBroker {
                        broker,
                        incarnation,
                        clean_shutdown,
                    };
                    if self.raft.propose(&mut CtxEnv::new(ctx), rec).is_ok() {
                        self.proposed_register.insert(broker, incarnation);
                    }
                }
                ctx.send(
                    from,
                    Msg::BrokerHeartbeatReply {
                        registered: current,
                    },
                );
            }
            Msg::AlterPartition {
                partition,
                leader,
                leader_epoch,
                partition_epoch,
                isr,
            } => {
                let rec = MetadataRecord::AlterPartition {
                    partition,
                    leader,
                    leader_epoch,
                    partition_epoch,
                    isr,
                };
                if let Ok(index) = self.raft.propose(&mut CtxEnv::new(ctx), rec) {
                    self.waiting_alter.insert(index, (from, partition));
                }
            }
            _ => {}
        }
        self.drain(ctx);
    }

    pub fn on_tick(&mut self, ctx: &mut Ctx<'_, KNode>) {
        ctx.set_timer(Timer::ControllerTick, TICK_NS);
        if !self.raft.is_leader() {
            return;
        }
        let now = ctx.now();
        // KRaft brokers pull the metadata log, so a lost update is fetched again; here
        // the active controller resends the whole image every few seconds instead.
        self.ticks += 1;
        if self.ticks.is_multiple_of(RESEND_TICKS) {
            self.broadcast_all(ctx);
        }
        let timeout = self.s.cfg.broker_session_timeout.0;
        let live: Vec<BrokerId> = self.image.live_brokers().collect();
        for b in live {
            let last = *self.last_heartbeat_ns.entry(b).or_insert(now);
            if now.saturating_sub(last) > timeout && !self.proposed_fence.contains(&b) {
                let rec = MetadataRecord::FenceBroker { broker: b };
                if self.raft.propose(&mut CtxEnv::new(ctx), rec).is_ok() {
                    self.proposed_fence.insert(b);
                    ctx.note(
                        "fence-broker",
                        format!(
                            "broker-{b} missed its session ({} without a heartbeat)",
                            dsim_core::units::format_ns(now - last)
                        ),
                    );
                }
            }
        }
        let all_registered = (1..=self.s.cfg.brokers).all(|b| self.image.is_live(b));
        if all_registered && !self.image.topic_exists() && !self.topic_proposed {
            let rec = MetadataRecord::CreateTopic {
                replicas: self.s.assignment.clone(),
            };
            if self.raft.propose(&mut CtxEnv::new(ctx), rec).is_ok() {
                self.topic_proposed = true;
            }
        }
        self.drain(ctx);
    }

    /// Applies what the quorum committed; the active controller tells brokers.
    fn drain(&mut self, ctx: &mut Ctx<'_, KNode>) {
        let leader = self.raft.is_leader();
        if leader && !self.was_leader {
            // A new active controller: give every broker a fresh session and resend the
            // whole image so brokers learn who is active (its term is its epoch).
            self.active_since_ns = Some(ctx.now());
            let now = ctx.now();
            for b in 1..=self.s.cfg.brokers {
                self.last_heartbeat_ns.insert(b, now);
            }
            self.proposed_fence.clear();
            self.proposed_register.clear();
            self.topic_proposed = false;
            ctx.note(
                "active-controller",
                format!("KRaft controller active in term {}", self.raft.term()),
            );
            ctx.reached("controller-elected");
            self.broadcast_all(ctx);
        }
        if !leader && self.was_leader {
            self.waiting_alter.clear();
            self.active_since_ns = None;
        }
        self.was_leader = leader;
        let ready = self.raft.take_ready();
        let mut changed: BTreeSet<u32> = BTreeSet::new();
        let mut registered = false;
        for (index, entry) in ready.committed {
            let Payload::Command(rec) = entry.payload else {
                continue;
            };
            let result = self.image.apply(&rec);
            match &rec {
                MetadataRecord::FenceBroker { broker } => {
                    self.proposed_fence.remove(broker);
                }
                MetadataRecord::RegisterBroker { broker, .. } => {
                    self.proposed_register.remove(broker);
                    if leader {
                        // Unfenced: say so now rather than at its next heartbeat.
                        ctx.send(
                            self.s.broker_node(*broker),
                            Msg::BrokerHeartbeatReply { registered: true },
                        );
                    }
                    // A (re)started broker knows nothing yet: it gets the whole image,
                    // as a KRaft broker replays the metadata log.
                    registered = true;
                }
                _ => {}
            }
            if let Ok(changes) = &result {
                for (p, c) in changes {
                    changed.insert(*p);
                    if let Some(c) = c.as_ref().filter(|_| leader) {
                        announce(ctx, c);
                    }
                }
            }
            if let Some((from, partition)) = self.waiting_alter.remove(&index) {
                if leader {
                    let result = result.map(|_| self.image.partitions[partition as usize].clone());
                    ctx.send(from, Msg::AlterPartitionReply { partition, result });
                }
            }
        }
        if leader && registered {
            self.broadcast_all(ctx);
        } else if leader && !changed.is_empty() {
            let partitions: Vec<_> = changed
                .into_iter()
                .filter_map(|p| {
                    self.image
                        .partitions
                        .get(p as usize)
                        .map(|st| (p, st.clone()))
                })
                .collect();
            self.send_states(ctx, partitions);
        }
    }

    fn broadcast_all(&mut self, ctx: &mut Ctx<'_, KNode>) {
        let partitions: Vec<_> = self
            .image
            .partitions
            .iter()
            .enumerate()
            .map(|(p, st)| (p as u32, st.clone()))
            .collect();
        self.send_states(ctx, partitions);
    }

    fn send_states(
        &mut self,
        ctx: &mut Ctx<'_, KNode>,
        partitions: Vec<(u32, crate::metadata::PartitionState)>,
    ) {
        let msg = Msg::LeaderAndIsr {
            controller_epoch: self.raft.term(),
            partitions,
        };
        for &b in &self.s.brokers {
            ctx.send(b, msg.clone());
        }
    }
}

/// What an active controller's leader change means for a reader of the run: an unclean
/// election (KIP-106) or a last-known-leader one (KIP-966, which Kafka counts as unclean),
/// or a partition left without an eligible leader. Notes and marks; both controller modes
/// call it.
pub(crate) fn announce(ctx: &mut Ctx<'_, KNode>, c: &LeaderChange) {
    let elected = |how: &str| {
        format!(
            "topic-{}: broker-{} elected {how} (epoch {})",
            c.partition,
            c.leader.unwrap_or(0),
            c.leader_epoch
        )
    };
    match (c.leader, c.election) {
        (None, _) => {
            ctx.note(
                "partition-offline",
                format!("topic-{}: no eligible leader", c.partition),
            );
            ctx.reached("partition-offline");
        }
        (Some(_), Some(Election::Unclean)) => {
            ctx.note("unclean-election", elected("from outside the ISR"));
            ctx.reached("unclean-leader-election");
        }
        (Some(_), Some(Election::LastKnownLeader)) => {
            ctx.note(
                "last-known-leader-election",
                elected("as the last known leader, with the ISR and the ELR empty; Kafka counts it as unclean"),
            );
            ctx.reached("unclean-leader-election");
        }
        _ => {}
    }
}
