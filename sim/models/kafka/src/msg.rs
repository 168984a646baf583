//! The messages of the kafka model: Kafka's RPCs by their protocol names (Produce, Fetch,
//! OffsetsForLeaderEpoch, Metadata, InitProducerId, LeaderAndIsr, AlterPartition,
//! BrokerHeartbeat, the group RPCs), plus the messages of the coordinator crates it runs
//! on (ZooKeeper's and Raft's), wrapped.

use dsim_core::Message;
use dsim_raft::msg::RaftMsg;
use dsim_zookeeper::ZkMsg;

use crate::epoch_cache::EpochEnd;
use crate::isr::BrokerId;
use crate::log::batch::RecordBatch;
use crate::metadata::{AlterError, MetadataRecord, PartitionState};

/// Kafka's error codes, the ones the model can return.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KError {
    /// The receiver does not lead (or follow) this partition.
    NotLeaderOrFollower,
    /// The request's leader epoch is older than the receiver's.
    FencedLeaderEpoch,
    /// The request's leader epoch is newer than the receiver knows.
    UnknownLeaderEpoch,
    /// `acks=all` and the ISR is below `min.insync.replicas`.
    NotEnoughReplicas,
    /// Appended, but the ISR shrank below `min.insync.replicas` before it was committed.
    NotEnoughReplicasAfterAppend,
    /// Idempotence: a sequence gap.
    OutOfOrderSequence,
    /// Idempotence: an older producer epoch.
    ProducerFenced,
    /// The leader gave up waiting for the followers.
    RequestTimedOut,
    /// No topic yet (it is created once every broker has registered).
    UnknownTopicOrPartition,
    OffsetOutOfRange,
    /// The receiver is not the active controller.
    NotController,
    /// The group coordinator moved, or is loading.
    NotCoordinator,
    /// A commit or heartbeat of an older generation (the member must rejoin).
    IllegalGeneration,
    UnknownMemberId,
    RebalanceInProgress,
    /// The leader is being elected / loading.
    LeaderNotAvailable,
}

impl KError {
    /// Whether a producer may retry the request (Kafka's `RetriableException`).
    pub fn retriable(self) -> bool {
        !matches!(self, KError::OutOfOrderSequence | KError::ProducerFenced)
    }

    pub fn name(self) -> &'static str {
        match self {
            KError::NotLeaderOrFollower => "NOT_LEADER_OR_FOLLOWER",
            KError::FencedLeaderEpoch => "FENCED_LEADER_EPOCH",
            KError::UnknownLeaderEpoch => "UNKNOWN_LEADER_EPOCH",
            KError::NotEnoughReplicas => "NOT_ENOUGH_REPLICAS",
            KError::NotEnoughReplicasAfterAppend => "NOT_ENOUGH_REPLICAS_AFTER_APPEND",
            KError::OutOfOrderSequence => "OUT_OF_ORDER_SEQUENCE_NUMBER",
            KError::ProducerFenced => "PRODUCER_FENCED",
            KError::RequestTimedOut => "REQUEST_TIMED_OUT",
            KError::UnknownTopicOrPartition => "UNKNOWN_TOPIC_OR_PARTITION",
            KError::OffsetOutOfRange => "OFFSET_OUT_OF_RANGE",
            KError::NotController => "NOT_CONTROLLER",
            KError::NotCoordinator => "NOT_COORDINATOR",
            KError::IllegalGeneration => "ILLEGAL_GENERATION",
            KError::UnknownMemberId => "UNKNOWN_MEMBER_ID",
            KError::RebalanceInProgress => "REBALANCE_IN_PROGRESS",
            KError::LeaderNotAvailable => "LEADER_NOT_AVAILABLE",
        }
    }
}

/// What a Fetch returns.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FetchData {
    pub batches: Vec<RecordBatch>,
    pub high_watermark: u64,
    pub log_start_offset: u64,
}

/// A leader's log start and log end offsets (a ListOffsets answer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LogBounds {
    pub log_start_offset: u64,
    pub log_end_offset: u64,
}

/// One partition's leader as the metadata knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LeaderInfo {
    pub leader: Option<BrokerId>,
    pub leader_epoch: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Msg {
    /// KRaft's metadata quorum.
    Raft(RaftMsg<MetadataRecord>),
    /// ZooKeeper mode: the ensemble, and the brokers' sessions.
    Zk(ZkMsg),

    // --- broker <-> controller ----------------------------------------------------------
    /// KRaft: a broker's heartbeat (KIP-631), which also registers it; `clean_shutdown`
    /// says how its last incarnation ended (KIP-966).
    BrokerHeartbeat {
        broker: BrokerId,
        incarnation: u64,
        clean_shutdown: bool,
    },
    /// The controller's answer: the heartbeat was seen by the active controller.
    BrokerHeartbeatReply {
        registered: bool,
    },
    /// A leader asks the controller to change its partition's ISR.
    AlterPartition {
        partition: u32,
        leader: BrokerId,
        leader_epoch: u32,
        partition_epoch: u32,
        isr: Vec<BrokerId>,
    },
    AlterPartitionReply {
        partition: u32,
        result: Result<PartitionState, AlterError>,
    },
    /// The controller tells brokers the state of partitions (LeaderAndIsr and
    /// UpdateMetadata in one); `controller_epoch` fences a deposed controller.
    LeaderAndIsr {
        controller_epoch: u64,
        partitions: Vec<(u32, PartitionState)>,
    },

    // --- replication --------------------------------------------------------------------
    /// A follower asks where `epoch` ends in the leader's log (KIP-101).
    OffsetsForLeaderEpoch {
        partition: u32,
        current_leader_epoch: u32,
        epoch: u32,
    },
    OffsetsForLeaderEpochReply {
        partition: u32,
        requested_epoch: u32,
        result: Result<Option<EpochEnd>, KError>,
    },
    /// The leader's log start and log end offsets (ListOffsets with EARLIEST and LATEST):
    /// what a follower before KIP-101 asked after OFFSET_OUT_OF_RANGE.
    ListOffsets {
        partition: u32,
        current_leader_epoch: u32,
    },
    ListOffsetsReply {
        partition: u32,
        leader_epoch: u32,
        result: Result<LogBounds, KError>,
    },
    /// A fetch from a follower (`replica` set) or a consumer.
    Fetch {
        partition: u32,
        leader_epoch: u32,
        fetch_offset: u64,
        replica: Option<BrokerId>,
        max_bytes: u32,
    },
    FetchReply {
        partition: u32,
        fetch_offset: u64,
        leader_epoch: u32,
        result: Result<FetchData, KError>,
    },

    // --- clients ------------------------------------------------------------------------
    MetadataRequest,
    MetadataReply {
        partitions: Vec<LeaderInfo>,
    },
    InitProducerId,
    InitProducerIdReply {
        producer_id: i64,
        producer_epoch: i16,
    },
    Produce {
        request: u64,
        partition: u32,
        batch: RecordBatch,
        acks: crate::Acks,
    },
    ProduceReply {
        request: u64,
        partition: u32,
        result: Result<u64, KError>,
    },

    // --- the consumer group (coordinator.rs, consumer.rs) -------------------------------
    /// Which broker coordinates the group: the leader of its `__consumer_offsets` partition.
    FindCoordinator,
    FindCoordinatorReply {
        coordinator: Option<BrokerId>,
    },
    /// A member (re)joins; answered when the join phase of the rebalance ends.
    JoinGroup {
        member: String,
        session_timeout_ms: i64,
    },
    /// `members` is filled for the group leader only, which assigns the partitions.
    JoinGroupReply {
        result: Result<JoinedGroup, KError>,
    },
    /// The leader's SyncGroup carries everyone's assignment (client-side assignment).
    SyncGroup {
        member: String,
        generation: u32,
        assignment: Option<Vec<(String, Vec<u32>)>>,
    },
    SyncGroupReply {
        generation: u32,
        result: Result<Vec<u32>, KError>,
    },
    Heartbeat {
        member: String,
        generation: u32,
    },
    HeartbeatReply {
        generation: u32,
        error: Option<KError>,
    },
    LeaveGroup {
        member: String,
    },
    /// Commits `(partition, next offset to consume)`; answered once the commit record is
    /// below the offsets partition's high watermark.
    OffsetCommit {
        request: u64,
        member: String,
        generation: u32,
        offsets: Vec<(u32, u64)>,
    },
    OffsetCommitReply {
        request: u64,
        result: Result<(), KError>,
    },
    OffsetFetch {
        partitions: Vec<u32>,
    },
    /// `None`: nothing committed for that partition.
    OffsetFetchReply {
        result: Result<Vec<(u32, Option<u64>)>, KError>,
    },
}

/// A JoinGroup answer.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct JoinedGroup {
    pub generation: u32,
    pub leader: String,
    pub members: Vec<String>,
}

impl From<RaftMsg<MetadataRecord>> for Msg {
    fn from(m: RaftMsg<MetadataRecord>) -> Self {
        Msg::Raft(m)
    }
}

impl From<ZkMsg> for Msg {
    fn from(m: ZkMsg) -> Self {
        Msg::Zk(m)
    }
}

const HEADER_BYTES: usize = 64;

impl Message for Msg {
    fn size_bytes(&self) -> usize {
        HEADER_BYTES
            + match self {
                Msg::Produce { batch, .. } => batch.encoded_len(),
                Msg::FetchReply {
                    result: Ok(data), ..
                } => data.batches.iter().map(|b| b.encoded_len()).sum(),
                Msg::LeaderAndIsr { partitions, .. } => partitions.len() * 32,
                Msg::MetadataReply { partitions } => partitions.len() * 12,
                Msg::Raft(m) => m.size_bytes(),
                Msg::Zk(m) => m.size_bytes(),
                _ => 0,
            }
    }
}
