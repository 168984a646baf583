//! The cluster metadata image and the controller's rules for changing it: which brokers
//! are alive, and for each partition its replicas, leader, leader epoch, ISR (and, with
//! KIP-966, its eligible leader replicas). Both controllers use it: in KRaft mode every
//! controller applies the committed metadata records to its own image (KIP-500, KIP-631);
//! in ZooKeeper mode the active controller reads the partition state from znodes, decides
//! with the same rules and writes the result back with a version check.
//!
//! The rules (Kafka's `PartitionStateMachine`/`ReplicationControlManager` and
//! `PartitionChangeBuilder`):
//! * A partition's leader is elected from its ISR, in assignment order (the first replica
//!   is the "preferred" one), among live (unfenced) brokers — a clean election.
//! * A fenced (dead) broker leaves every ISR, except that the last member stays: the
//!   partition goes offline (no leader) rather than lose the record of who has the data.
//! * With no live ISR member the partition stays offline, unless
//!   `unclean.leader.election.enable` lets any live replica lead (KIP-106 made it off by
//!   default): records the new leader lacks are gone.
//! * Every leader change bumps the leader epoch; every change bumps the partition epoch
//!   (the ZooKeeper mode's znode version), which fences stale ISR changes (KIP-497).
//! * An ISR change proposed by a leader (AlterPartition) is accepted only from the current
//!   leader at the current epochs, and never adds a fenced broker (KIP-841).
//! * KIP-966 (`eligible_leader_replicas`): replicas removed from an ISR already below
//!   `min.insync.replicas` become eligible leader replicas (ELR): the high watermark cannot
//!   have passed anything they lack; a broker that registers after an unclean shutdown
//!   leaves the ISR and the ELR, so the "last replica standing" with a torn log is not
//!   elected on its ISR membership alone. When the ISR and the ELR are both empty, the
//!   last known leader is elected once it is back (Kafka 4's balanced recovery,
//!   `PartitionChangeBuilder.canElectLastKnownLeader`): what Kafka did before 4.0.
//! * One record changes a partition's epochs at most once: a fence that removes the
//!   leader and elects the next one is one leader change (Kafka writes one
//!   `PartitionChangeRecord`).

use std::collections::BTreeMap;

use crate::isr::BrokerId;

/// One partition as the controller knows it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct PartitionState {
    pub replicas: Vec<BrokerId>,
    pub leader: Option<BrokerId>,
    pub leader_epoch: u32,
    pub partition_epoch: u32,
    pub isr: Vec<BrokerId>,
    /// KIP-966's eligible leader replicas.
    pub elr: Vec<BrokerId>,
    /// KIP-966 (`lastKnownElr` under the balanced recovery strategy): the leader the
    /// partition had when its ISR became empty; elected again once it is back if the ELR
    /// is empty too.
    pub last_known_leader: Option<BrokerId>,
}

/// How a leader was chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Election {
    /// From the ISR.
    Clean,
    /// From the ELR (KIP-966).
    Eligible,
    /// KIP-966 with an empty ISR and ELR: the last known leader, back (Kafka counts it as
    /// an unclean election).
    LastKnownLeader,
    /// From outside the ISR: `unclean.leader.election.enable`.
    Unclean,
}

/// A change the rules made, for notes and checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaderChange {
    pub partition: u32,
    pub leader: Option<BrokerId>,
    pub leader_epoch: u32,
    pub election: Option<Election>,
}

/// The settings the rules depend on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rules {
    pub unclean_leader_election: bool,
    pub min_insync_replicas: usize,
    pub eligible_leader_replicas: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct BrokerState {
    pub fenced: bool,
    /// Bumped at every registration: a restarted broker is a new incarnation.
    pub incarnation: u64,
}

/// A record of the metadata log (KRaft) or an event the ZooKeeper-mode controller handles.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum MetadataRecord {
    /// A broker (re)registered and is ready to lead; `clean_shutdown` is false after a
    /// crash (KIP-966 uses it).
    RegisterBroker {
        broker: BrokerId,
        incarnation: u64,
        clean_shutdown: bool,
    },
    /// A broker missed its session: it is fenced and leaves leadership and ISRs.
    FenceBroker { broker: BrokerId },
    /// The topic is created with this assignment (once every broker has registered).
    CreateTopic { replicas: Vec<Vec<BrokerId>> },
    /// A leader's ISR change (AlterPartition).
    AlterPartition {
        partition: u32,
        leader: BrokerId,
        leader_epoch: u32,
        partition_epoch: u32,
        isr: Vec<BrokerId>,
    },
}

/// Why an AlterPartition was refused (Kafka's error codes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AlterError {
    UnknownPartition,
    /// The sender is not the leader at that leader epoch.
    FencedLeaderEpoch,
    /// The partition changed since (`INVALID_UPDATE_VERSION`).
    InvalidUpdateVersion,
    /// The new ISR names a fenced or unknown broker (`INELIGIBLE_REPLICA`, KIP-841).
    IneligibleReplica,
    /// The ISR must hold the leader and be drawn from the replicas.
    InvalidRequest,
}

/// The image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Metadata {
    pub rules: Rules,
    pub brokers: BTreeMap<BrokerId, BrokerState>,
    pub partitions: Vec<PartitionState>,
}

impl Metadata {
    pub fn new(rules: Rules) -> Metadata {
        Metadata {
            rules,
            brokers: BTreeMap::new(),
            partitions: Vec::new(),
        }
    }

    pub fn is_live(&self, b: BrokerId) -> bool {
        self.brokers.get(&b).is_some_and(|s| !s.fenced)
    }

    pub fn live_brokers(&self) -> impl Iterator<Item = BrokerId> + '_ {
        self.brokers
            .iter()
            .filter(|(_, s)| !s.fenced)
            .map(|(b, _)| *b)
    }

    pub fn topic_exists(&self) -> bool {
        !self.partitions.is_empty()
    }

    /// Applies one record; returns the partitions whose state changed, with leader changes
    /// spelled out, or the refusal of an AlterPartition.
    pub fn apply(
        &mut self,
        record: &MetadataRecord,
    ) -> Result<Vec<(u32, Option<LeaderChange>)>, AlterError> {
        match record {
            MetadataRecord::RegisterBroker {
                broker,
                incarnation,
                clean_shutdown,
            } => {
                self.brokers.insert(
                    *broker,
                    BrokerState {
                        fenced: false,
                        incarnation: *incarnation,
                    },
                );
                let before = self.partitions.clone();
                if !clean_shutdown && self.rules.eligible_leader_replicas {
                    // KIP-966 (handleBrokerUncleanShutdown): its log may be torn; it is no
                    // longer known to hold the data, and does not keep its leadership.
                    for (p, old) in self.partitions.iter_mut().zip(&before) {
                        if p.isr.contains(broker) || p.elr.contains(broker) {
                            p.isr.retain(|r| r != broker);
                            p.elr.retain(|r| r != broker);
                            if p.leader == Some(*broker) {
                                p.leader = None;
                            }
                            remember_last_leader(p, old.leader);
                        }
                    }
                }
                let elections = self.elect_where_offline();
                Ok(self.settle(&before, &elections))
            }
            MetadataRecord::FenceBroker { broker } => {
                if let Some(s) = self.brokers.get_mut(broker) {
                    s.fenced = true;
                }
                let before = self.partitions.clone();
                let min_isr = self.rules.min_insync_replicas;
                let elr_on = self.rules.eligible_leader_replicas;
                for (p, old) in self.partitions.iter_mut().zip(&before) {
                    if !p.replicas.contains(broker) {
                        continue;
                    }
                    if p.leader == Some(*broker) {
                        p.leader = None;
                    }
                    if p.isr.contains(broker) {
                        if elr_on {
                            p.isr.retain(|r| r != broker);
                            if p.isr.len() < min_isr && !p.elr.contains(broker) {
                                p.elr.push(*broker);
                            }
                            remember_last_leader(p, old.leader);
                        } else if p.isr.len() > 1 {
                            p.isr.retain(|r| r != broker);
                        }
                    }
                }
                let elections = self.elect_where_offline();
                Ok(self.settle(&before, &elections))
            }
            MetadataRecord::CreateTopic { replicas } => {
                if self.topic_exists() {
                    return Ok(Vec::new());
                }
                self.partitions = replicas
                    .iter()
                    .map(|r| PartitionState {
                        replicas: r.clone(),
                        leader: None,
                        leader_epoch: 0,
                        partition_epoch: 0,
                        isr: r.clone(),
                        elr: Vec::new(),
                        last_known_leader: None,
                    })
                    .collect();
                Ok(self.elect_offline())
            }
            MetadataRecord::AlterPartition {
                partition,
                leader,
                leader_epoch,
                partition_epoch,
                isr,
            } => {
                let live: Vec<BrokerId> = self.live_brokers().collect();
                let rules = self.rules;
                let p = self
                    .partitions
                    .get_mut(*partition as usize)
                    .ok_or(AlterError::UnknownPartition)?;
                if p.leader != Some(*leader) || p.leader_epoch != *leader_epoch {
                    return Err(AlterError::FencedLeaderEpoch);
                }
                if p.partition_epoch != *partition_epoch {
                    return Err(AlterError::InvalidUpdateVersion);
                }
                if !isr.contains(leader) || isr.iter().any(|r| !p.replicas.contains(r)) {
                    return Err(AlterError::InvalidRequest);
                }
                if isr.iter().any(|r| !p.isr.contains(r) && !live.contains(r)) {
                    return Err(AlterError::IneligibleReplica);
                }
                let mut next: Vec<BrokerId> = isr.clone();
                next.sort_unstable();
                next.dedup();
                if rules.eligible_leader_replicas {
                    // Removed while the ISR is too small: still eligible (KIP-966).
                    if next.len() < rules.min_insync_replicas {
                        for r in p.isr.iter() {
                            if !next.contains(r) && !p.elr.contains(r) {
                                p.elr.push(*r);
                            }
                        }
                    }
                    p.elr.retain(|r| !next.contains(r));
                }
                p.isr = next;
                p.partition_epoch += 1;
                Ok(vec![(*partition, None)])
            }
        }
    }

    /// Elects a leader for every partition that has none (or a fenced one): what the
    /// ZooKeeper-mode controller does after loading the states on failover (Kafka's
    /// `PartitionStateMachine.triggerOnlinePartitionStateChange`).
    pub fn elect_offline_partitions(&mut self) -> Vec<(u32, Option<LeaderChange>)> {
        self.elect_offline()
    }

    /// Elects a leader for every partition that has none (or a fenced one), as a record of
    /// its own: each election bumps the epochs.
    fn elect_offline(&mut self) -> Vec<(u32, Option<LeaderChange>)> {
        let before = self.partitions.clone();
        let elections = self.elect_where_offline();
        self.settle(&before, &elections)
    }

    /// Picks a leader wherever there is no live one, without touching the epochs (the
    /// caller settles them once for the whole record). Returns how each was elected.
    fn elect_where_offline(&mut self) -> BTreeMap<usize, Election> {
        let live: Vec<BrokerId> = self.live_brokers().collect();
        let rules = self.rules;
        let mut elections = BTreeMap::new();
        for (i, p) in self.partitions.iter_mut().enumerate() {
            if p.leader.is_some_and(|l| live.contains(&l)) {
                continue;
            }
            let Some((leader, how)) = choose_leader(p, &live, rules) else {
                p.leader = None;
                continue;
            };
            p.leader = Some(leader);
            match how {
                Election::Clean => {}
                Election::Eligible => {
                    p.isr = vec![leader];
                    p.elr.retain(|r| *r != leader);
                }
                Election::Unclean | Election::LastKnownLeader => {
                    p.isr = vec![leader];
                    p.elr.clear();
                }
            }
            p.last_known_leader = None;
            elections.insert(i, how);
        }
        elections
    }

    /// Bumps, once, the epochs of every partition that changed since `before`: the leader
    /// epoch when the leader changed, the partition epoch when anything did. Returns the
    /// changed partitions, leader changes spelled out.
    fn settle(
        &mut self,
        before: &[PartitionState],
        elections: &BTreeMap<usize, Election>,
    ) -> Vec<(u32, Option<LeaderChange>)> {
        let mut changed = Vec::new();
        for (i, (p, old)) in self.partitions.iter_mut().zip(before).enumerate() {
            let leader_changed = p.leader != old.leader;
            if !leader_changed
                && p.isr == old.isr
                && p.elr == old.elr
                && p.last_known_leader == old.last_known_leader
            {
                continue;
            }
            p.partition_epoch = old.partition_epoch + 1;
            if leader_changed {
                p.leader_epoch = old.leader_epoch + 1;
            }
            changed.push((
                i as u32,
                leader_changed.then(|| LeaderChange {
                    partition: i as u32,
                    leader: p.leader,
                    leader_epoch: p.leader_epoch,
                    election: elections.get(&i).copied(),
                }),
            ));
        }
        changed
    }
}

/// KIP-966: when a record empties the ISR, the leader the partition had is remembered
/// (Kafka's `maybeUpdateLastKnownLeader`), to be elected if the ELR empties too.
fn remember_last_leader(p: &mut PartitionState, old_leader: Option<BrokerId>) {
    if p.isr.is_empty() && old_leader.is_some() {
        p.last_known_leader = old_leader;
    }
}

/// The leader the rules pick for `p` among the `live` brokers, and how.
pub fn choose_leader(
    p: &PartitionState,
    live: &[BrokerId],
    rules: Rules,
) -> Option<(BrokerId, Election)> {
    let in_order = |set: &[BrokerId]| {
        p.replicas
            .iter()
            .copied()
            .find(|r| set.contains(r) && live.contains(r))
    };
    if let Some(l) = in_order(&p.isr) {
        return Some((l, Election::Clean));
    }
    if rules.eligible_leader_replicas {
        if let Some(l) = in_order(&p.elr) {
            return Some((l, Election::Eligible));
        }
        if p.isr.is_empty() && p.elr.is_empty() {
            if let Some(l) = p.last_known_leader.filter(|l| live.contains(l)) {
                return Some((l, Election::LastKnownLeader));
            }
        }
    }
    if rules.unclean_leader_election {
        if let Some(l) = p.replicas.iter().copied().find(|r| live.contains(r)) {
            return Some((l, Election::Unclean));
        }
    }
    None
}

/// The metadata log's encoding (KRaft's records, in dsim's own compact layout).
impl dsim_raft::log::Command for MetadataRecord {
    fn encode(&self, out: &mut Vec<u8>) {
        fn list(out: &mut Vec<u8>, v: &[BrokerId]) {
            out.extend_from_slice(&(v.len() as u32).to_le_bytes());
            for b in v {
                out.extend_from_slice(&b.to_le_bytes());
            }
        }
        match self {
            MetadataRecord::RegisterBroker {
                broker,
                incarnation,
                clean_shutdown,
            } => {
                out.push(0);
                out.extend_from_slice(&broker.to_le_bytes());
                out.extend_from_slice(&incarnation.to_le_bytes());
                out.push(u8::from(*clean_shutdown));
            }
            MetadataRecord::FenceBroker { broker } => {
                out.push(1);
                out.extend_from_slice(&broker.to_le_bytes());
            }
            MetadataRecord::CreateTopic { replicas } => {
                out.push(2);
                out.extend_from_slice(&(replicas.len() as u32).to_le_bytes());
                for r in replicas {
                    list(out, r);
                }
            }
            MetadataRecord::AlterPartition {
                partition,
                leader,
                leader_epoch,
                partition_epoch,
                isr,
            } => {
                out.push(3);
                for v in [partition, leader, leader_epoch, partition_epoch] {
                    out.extend_from_slice(&v.to_le_bytes());
                }
                list(out, isr);
            }
        }
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        struct R<'a>(&'a [u8]);
        impl R<'_> {
            fn u32(&mut self) -> Option<u32> {
                let (h, t) = self.0.split_at_checked(4)?;
                self.0 = t;
                Some(u32::from_le_bytes(h.try_into().ok()?))
            }
            fn u64(&mut self) -> Option<u64> {
                let (h, t) = self.0.split_at_checked(8)?;
                self.0 = t;
                Some(u64::from_le_bytes(h.try_into().ok()?))
            }
            fn u8(&mut self) -> Option<u8> {
                let (h, t) = self.0.split_first()?;
                self.0 = t;
                Some(*h)
            }
            fn list(&mut self) -> Option<Vec<BrokerId>> {
                let n = self.u32()? as usize;
                if n > self.0.len() / 4 {
                    return None;
                }
                (0..n).map(|_| self.u32()).collect()
            }
        }
        let mut r = R(bytes);
        let rec = match r.u8()? {
            0 => MetadataRecord::RegisterBroker {
                broker: r.u32()?,
                incarnation: r.u64()?,
                clean_shutdown: r.u8()? != 0,
            },
            1 => MetadataRecord::FenceBroker { broker: r.u32()? },
            2 => {
                let n = r.u32()? as usize;
                if n > r.0.len() / 4 {
                    return None;
                }
                MetadataRecord::CreateTopic {
                    replicas: (0..n).map(|_| r.list()).collect::<Option<_>>()?,
                }
            }
            3 => MetadataRecord::AlterPartition {
                partition: r.u32()?,
                leader: r.u32()?,
                leader_epoch: r.u32()?,
                partition_epoch: r.u32()?,
                isr: r.list()?,
            },
            _ => return None,
        };
        r.0.is_empty().then_some(rec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(unclean: bool, min_isr: usize, elr: bool) -> Rules {
        Rules {
            unclean_leader_election: unclean,
            min_insync_replicas: min_isr,
            eligible_leader_replicas: elr,
        }
    }

    fn cluster(r: Rules) -> Metadata {
        let mut m = Metadata::new(r);
        for b in 1..=3 {
            m.apply(&MetadataRecord::RegisterBroker {
                broker: b,
                incarnation: 1,
                clean_shutdown: true,
            })
            .unwrap();
        }
        m.apply(&MetadataRecord::CreateTopic {
            replicas: vec![vec![1, 2, 3], vec![2, 3, 1]],
        })
        .unwrap();
        m
    }

    #[test]
    fn the_preferred_replica_leads_a_new_topic() {
        let m = cluster(rules(false, 1, false));
        assert_eq!(m.partitions[0].leader, Some(1));
        assert_eq!(m.partitions[1].leader, Some(2));
        assert_eq!(m.partitions[0].leader_epoch, 1);
    }

    #[test]
    fn a_fenced_leader_is_replaced_from_the_isr_with_a_new_epoch() {
        let mut m = cluster(rules(false, 1, false));
        let changed = m.apply(&MetadataRecord::FenceBroker { broker: 1 }).unwrap();
        assert_eq!(m.partitions[0].leader, Some(2));
        // One record, one leader change: the epoch moves once (Kafka's single
        // PartitionChangeRecord), and so does the partition epoch.
        assert_eq!(m.partitions[0].leader_epoch, 2);
        assert_eq!(m.partitions[0].partition_epoch, 2);
        assert_eq!(m.partitions[0].isr, vec![2, 3]);
        assert_eq!(m.partitions[1].isr, vec![2, 3]);
        assert_eq!(changed.len(), 2);
    }

    #[test]
    fn the_last_isr_member_stays_and_the_partition_goes_offline() {
        let mut m = cluster(rules(false, 1, false));
        m.partitions[0].isr = vec![1];
        m.apply(&MetadataRecord::FenceBroker { broker: 1 }).unwrap();
        assert_eq!(m.partitions[0].leader, None);
        assert_eq!(m.partitions[0].isr, vec![1]);
        // It comes back: it is the only one known to have the data, and leads again.
        m.apply(&MetadataRecord::RegisterBroker {
            broker: 1,
            incarnation: 2,
            clean_shutdown: false,
        })
        .unwrap();
        assert_eq!(m.partitions[0].leader, Some(1));
    }

    #[test]
    fn unclean_election_picks_a_live_replica_outside_the_isr() {
        let mut m = cluster(rules(true, 1, false));
        m.partitions[0].isr = vec![1];
        let changed = m.apply(&MetadataRecord::FenceBroker { broker: 1 }).unwrap();
        assert_eq!(m.partitions[0].leader, Some(2));
        assert_eq!(m.partitions[0].isr, vec![2]);
        let c = changed.iter().find(|(p, _)| *p == 0).unwrap().1.clone();
        assert_eq!(c.unwrap().election, Some(Election::Unclean));
    }

    #[test]
    fn alter_partition_is_fenced_by_leader_and_partition_epochs() {
        let mut m = cluster(rules(false, 1, false));
        let p = m.partitions[0].clone();
        let alter = |le, pe, isr: Vec<u32>| MetadataRecord::AlterPartition {
            partition: 0,
            leader: 1,
            leader_epoch: le,
            partition_epoch: pe,
            isr,
        };
        assert_eq!(
            m.apply(&alter(p.leader_epoch + 1, p.partition_epoch, vec![1])),
            Err(AlterError::FencedLeaderEpoch)
        );
        assert_eq!(
            m.apply(&alter(p.leader_epoch, p.partition_epoch + 1, vec![1])),
            Err(AlterError::InvalidUpdateVersion)
        );
        assert_eq!(
            m.apply(&alter(p.leader_epoch, p.partition_epoch, vec![2])),
            Err(AlterError::InvalidRequest)
        );
        m.apply(&alter(p.leader_epoch, p.partition_epoch, vec![1]))
            .unwrap();
        assert_eq!(m.partitions[0].isr, vec![1]);
        // A fenced broker may not be added back (KIP-841).
        m.apply(&MetadataRecord::FenceBroker { broker: 3 }).unwrap();
        let p = m.partitions[0].clone();
        assert_eq!(
            m.apply(&alter(p.leader_epoch, p.partition_epoch, vec![1, 3])),
            Err(AlterError::IneligibleReplica)
        );
    }

    #[test]
    fn kip966_keeps_replicas_eligible_and_distrusts_an_unclean_restart() {
        let mut m = cluster(rules(false, 2, true));
        // Broker 3 and then 2 die: the ISR goes below min.insync.replicas and 2 stays
        // eligible; 3 left while the ISR was still big enough.
        m.apply(&MetadataRecord::FenceBroker { broker: 3 }).unwrap();
        m.apply(&MetadataRecord::FenceBroker { broker: 2 }).unwrap();
        assert_eq!(m.partitions[0].isr, vec![1]);
        assert_eq!(m.partitions[0].elr, vec![2]);
        // The last replica standing loses power.
        m.apply(&MetadataRecord::FenceBroker { broker: 1 }).unwrap();
        assert_eq!(m.partitions[0].leader, None);
        assert!(m.partitions[0].isr.is_empty());
        assert_eq!(m.partitions[0].elr, vec![2, 1]);
        // It comes back after an unclean shutdown: not trusted, not elected.
        m.apply(&MetadataRecord::RegisterBroker {
            broker: 1,
            incarnation: 2,
            clean_shutdown: false,
        })
        .unwrap();
        assert_eq!(m.partitions[0].leader, None);
        // The eligible replica comes back and leads.
        m.apply(&MetadataRecord::RegisterBroker {
            broker: 2,
            incarnation: 2,
            clean_shutdown: true,
        })
        .unwrap();
        assert_eq!(m.partitions[0].leader, Some(2));
        assert_eq!(m.partitions[0].isr, vec![2]);
    }

    #[test]
    fn kip966_elects_the_last_known_leader_when_isr_and_elr_are_empty() {
        let mut m = cluster(rules(false, 2, true));
        for b in [3, 2, 1] {
            m.apply(&MetadataRecord::FenceBroker { broker: b }).unwrap();
        }
        assert!(m.partitions[0].isr.is_empty());
        assert_eq!(m.partitions[0].elr, vec![2, 1]);
        // 2 and then 1 come back from unclean shutdowns: nobody is known to hold the data.
        for b in [2, 1] {
            m.apply(&MetadataRecord::RegisterBroker {
                broker: b,
                incarnation: 2,
                clean_shutdown: false,
            })
            .unwrap();
        }
        // broker-1 led when the ISR and the ELR emptied: it leads again, as before 4.0.
        assert_eq!(m.partitions[0].leader, Some(1));
        assert_eq!(m.partitions[0].isr, vec![1]);
        assert_eq!(m.partitions[0].last_known_leader, None);
    }

    #[test]
    fn without_a_leader_change_the_leader_epoch_stays() {
        let mut m = cluster(rules(false, 1, false));
        let before = m.partitions[0].clone();
        let changed = m.apply(&MetadataRecord::FenceBroker { broker: 3 }).unwrap();
        assert_eq!(m.partitions[0].leader_epoch, before.leader_epoch);
        assert_eq!(m.partitions[0].partition_epoch, before.partition_epoch + 1);
        assert_eq!(
            changed.iter().find(|(p, _)| *p == 0).map(|c| c.1.is_none()),
            Some(true)
        );
    }

    #[test]
    fn records_round_trip_through_the_metadata_log_encoding() {
        use dsim_raft::log::Command;
        let records = [
            MetadataRecord::RegisterBroker {
                broker: 3,
                incarnation: 7,
                clean_shutdown: false,
            },
            MetadataRecord::FenceBroker { broker: 2 },
            MetadataRecord::CreateTopic {
                replicas: vec![vec![1, 2, 3], vec![2, 3, 1]],
            },
            MetadataRecord::AlterPartition {
                partition: 5,
                leader: 1,
                leader_epoch: 4,
                partition_epoch: 9,
                isr: vec![1, 3],
            },
        ];
        for r in records {
            let mut b = Vec::new();
            r.encode(&mut b);
            assert_eq!(MetadataRecord::decode(&b), Some(r.clone()));
            b.push(0);
            assert_eq!(MetadataRecord::decode(&b), None, "trailing bytes refused");
        }
    }
}
