//! `[model]` of a kafka scenario: the cluster, the topic, the producers and the consumer
//! group, with Kafka's own setting names in the doc comments so a reader can map each key
//! to the broker, topic, producer or consumer configuration it stands for.

use dsim_core::units::Duration;
use dsim_core::ConfigError;
use serde::Deserialize;

/// Where the cluster's metadata lives and who elects partition leaders.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum ControllerMode {
    /// KRaft (KIP-500, KIP-631): a Raft quorum of controllers holds the metadata log; the
    /// quorum leader is the active controller.
    #[serde(rename = "kraft")]
    Kraft,
    /// ZooKeeper mode: one broker wins the ephemeral `/controller` znode and keeps the
    /// partition state in znodes.
    #[serde(rename = "zookeeper")]
    ZooKeeper,
}

/// The producer's `acks`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
pub enum Acks {
    /// `acks=0`: fire and forget; the producer never hears from the broker.
    #[serde(rename = "0")]
    None,
    /// `acks=1`: the leader answers once the batch is in its own log.
    #[serde(rename = "1")]
    Leader,
    /// `acks=all` (`-1`): the leader answers once every ISR member has the batch (the high
    /// watermark passed it), and refuses while the ISR is below `min.insync.replicas`.
    #[serde(rename = "all", alias = "-1")]
    All,
}

impl Acks {
    pub fn word(self) -> &'static str {
        match self {
            Acks::None => "0",
            Acks::Leader => "1",
            Acks::All => "all",
        }
    }
}

/// The consumer group's `partition.assignment.strategy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum Assignor {
    #[serde(rename = "range")]
    Range,
    #[serde(rename = "roundrobin")]
    RoundRobin,
}

/// `cleanup.policy` of the topic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum Cleanup {
    #[serde(rename = "delete")]
    Delete,
    #[serde(rename = "compact")]
    Compact,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaConfig {
    // --- the cluster -------------------------------------------------------------------
    pub brokers: u32,
    /// Racks, brokers spread over them round-robin (`broker.rack`); 0: no racks.
    pub racks: u32,
    /// `"kraft"` or `"zookeeper"`.
    pub controller: ControllerMode,
    /// KRaft controllers (voters of the metadata quorum), or ZooKeeper servers.
    pub quorum_servers: u32,
    /// KRaft: `broker.heartbeat.interval.ms`.
    pub broker_heartbeat_interval: Duration,
    /// KRaft: `broker.session.timeout.ms`; a broker silent this long is fenced.
    pub broker_session_timeout: Duration,
    /// ZooKeeper mode: `zookeeper.session.timeout.ms`.
    pub zookeeper_session_timeout: Duration,

    // --- the topic ---------------------------------------------------------------------
    pub partitions: u32,
    pub replication_factor: u32,
    /// `min.insync.replicas`.
    pub min_insync_replicas: u32,
    /// `unclean.leader.election.enable` (KIP-106 made it false by default).
    pub unclean_leader_election: bool,
    /// `replica.lag.time.max.ms`: a follower not caught up this long leaves the ISR.
    pub replica_lag_time_max: Duration,
    /// `replica.fetch.wait.max.ms`: how long a leader holds a follower's empty fetch.
    pub replica_fetch_wait_max: Duration,
    /// `replica.fetch.backoff.ms`: a follower's pause after a failed fetch.
    pub replica_fetch_backoff: Duration,
    /// `flush.messages`: fsync the log every this many records (0: never; Kafka's default,
    /// durability comes from replication).
    pub flush_messages: u64,
    /// `flush.ms`: fsync the log at least this often ("0s": never).
    pub flush_interval: Duration,
    /// The operating system writes dirty pages back this often (Linux
    /// `vm.dirty_writeback_centisecs`); a broker crash in dsim is a machine crash and keeps
    /// only what was written back or flushed.
    pub page_cache_writeback: Duration,
    /// `segment.bytes`.
    pub segment_bytes: u64,
    /// `segment.ms` ("0s": only by size).
    pub segment_age: Duration,
    /// `retention.ms` ("0s": forever).
    pub retention: Duration,
    /// `retention.bytes` per partition (0: no limit).
    pub retention_bytes: u64,
    /// `log.retention.check.interval.ms`.
    pub retention_check_interval: Duration,
    /// `cleanup.policy`.
    pub cleanup_policy: Cleanup,

    // --- producers ---------------------------------------------------------------------
    pub producers: u32,
    /// Records per simulated second, all producers together.
    pub produce_rate: u64,
    /// Stop producing after this long (0s: for the whole fault phase).
    pub produce_for: Duration,
    /// Bytes of each record's value (at least 8: the unique value).
    pub record_bytes: u32,
    /// Keys per producer's records (0: unkeyed, spread by the sticky partitioner). Keyed
    /// records are hashed with murmur2 like the Java client.
    pub keys: u32,
    pub acks: Acks,
    /// `retries`.
    pub retries: u32,
    /// `retry.backoff.ms`.
    pub retry_backoff: Duration,
    /// `request.timeout.ms`.
    pub request_timeout: Duration,
    /// `delivery.timeout.ms`: a record not acknowledged this long after `send` fails.
    pub delivery_timeout: Duration,
    /// `linger.ms`.
    pub linger: Duration,
    /// `batch.size` in bytes.
    pub batch_bytes: u32,
    /// `max.in.flight.requests.per.connection`.
    pub max_in_flight: u32,
    /// `enable.idempotence` (KIP-98).
    pub idempotence: bool,
    /// `metadata.max.age.ms`: clients refresh the leaders this often anyway.
    pub metadata_max_age: Duration,

    // --- the consumer group ------------------------------------------------------------
    pub consumers: u32,
    /// `partition.assignment.strategy`.
    pub assignor: Assignor,
    /// `enable.auto.commit`.
    pub auto_commit: bool,
    /// `auto.commit.interval.ms`.
    pub auto_commit_interval: Duration,
    /// `max.poll.records`.
    pub max_poll_records: u32,
    /// The application's work per record, after `poll` returns and before the next poll
    /// (and before a manual commit).
    pub processing_time: Duration,
    /// `session.timeout.ms`.
    pub session_timeout: Duration,
    /// `heartbeat.interval.ms`.
    pub heartbeat_interval: Duration,
    /// `max.poll.interval.ms` (the rebalance timeout).
    pub max_poll_interval: Duration,
    /// `fetch.max.wait.ms`.
    pub fetch_wait_max: Duration,

    // --- historic bugs (switches; default = the fixed behaviour) -----------------------
    /// KIP-101 off: a follower that restarts or follows a new leader truncates its log to
    /// its high watermark (Kafka before 0.11), instead of asking the leader for the end of
    /// its epoch (OffsetsForLeaderEpoch). KIP-101's scenarios 1 and 2.
    pub truncate_to_high_watermark: bool,
    /// KIP-279 off: the follower asks once, for its latest epoch, and truncates to what the
    /// leader answers even when it does not have that epoch itself (Kafka 0.11 to 1.x).
    /// On (default): it walks back epoch by epoch until both logs hold the epoch.
    pub kip279: bool,
    /// KIP-966 (eligible leader replicas): the high watermark advances only while the ISR
    /// is at least `min.insync.replicas`; replicas dropped from an ISR that is too small
    /// stay eligible; a broker back from an unclean shutdown is not elected from the ISR
    /// alone. Off: the "last replica standing" loses acknowledged records after a power
    /// loss.
    pub eligible_leader_replicas: bool,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: 3,
            racks: 0,
            controller: ControllerMode::Kraft,
            quorum_servers: 3,
            broker_heartbeat_interval: Duration::from_ms(2000),
            broker_session_timeout: Duration::from_ms(9000),
            zookeeper_session_timeout: Duration::from_ms(18_000),
            partitions: 1,
            replication_factor: 3,
            min_insync_replicas: 1,
            unclean_leader_election: false,
            replica_lag_time_max: Duration::from_ms(30_000),
            replica_fetch_wait_max: Duration::from_ms(500),
            replica_fetch_backoff: Duration::from_ms(1000),
            flush_messages: 0,
            flush_interval: Duration(0),
            page_cache_writeback: Duration::from_ms(5000),
            segment_bytes: 1 << 30,
            segment_age: Duration::from_secs(7 * 24 * 3600),
            retention: Duration::from_secs(7 * 24 * 3600),
            retention_bytes: 0,
            retention_check_interval: Duration::from_secs(300),
            cleanup_policy: Cleanup::Delete,
            producers: 1,
            produce_rate: 100,
            produce_for: Duration(0),
            record_bytes: 100,
            keys: 0,
            acks: Acks::All,
            retries: u32::MAX,
            retry_backoff: Duration::from_ms(100),
            request_timeout: Duration::from_ms(30_000),
            delivery_timeout: Duration::from_ms(120_000),
            linger: Duration::from_ms(5),
            batch_bytes: 16_384,
            max_in_flight: 5,
            idempotence: false,
            metadata_max_age: Duration::from_ms(300_000),
            consumers: 0,
            assignor: Assignor::Range,
            auto_commit: true,
            auto_commit_interval: Duration::from_ms(5000),
            max_poll_records: 500,
            processing_time: Duration::from_ms(1),
            session_timeout: Duration::from_ms(45_000),
            heartbeat_interval: Duration::from_ms(3000),
            max_poll_interval: Duration::from_ms(300_000),
            fetch_wait_max: Duration::from_ms(500),
            truncate_to_high_watermark: false,
            kip279: true,
            eligible_leader_replicas: false,
        }
    }
}

/// The ZooKeeper ensemble's `tickTime` in ZooKeeper mode (zoo_sample.cfg's 2000 ms).
pub const ZK_TICK_NS: u64 = 2_000_000_000;
/// ZooKeeper's session timeout bounds: 2 and 20 ticks.
pub const ZK_MIN_SESSION_TIMEOUT_NS: u64 = 2 * ZK_TICK_NS;
pub const ZK_MAX_SESSION_TIMEOUT_NS: u64 = 20 * ZK_TICK_NS;
pub const MAX_BROKERS: u32 = 32;
pub const MAX_PARTITIONS: u32 = 1024;
pub const MAX_CLIENTS: u32 = 64;
pub const MAX_QUORUM: u32 = 7;
/// `group.min.session.timeout.ms` and `group.max.session.timeout.ms` (Kafka's defaults).
pub const MIN_SESSION_TIMEOUT_MS: u64 = 6_000;
pub const MAX_SESSION_TIMEOUT_MS: u64 = 1_800_000;
/// Records per simulated second, all producers together.
pub const MAX_PRODUCE_RATE: u64 = 1_000_000;

impl KafkaConfig {
    /// Refuses settings Kafka itself would refuse, or that the model cannot run.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let range = |key: &'static str, v: u64, lo: u64, hi: u64, hint: &str| {
            if v < lo || v > hi {
                Err(ConfigError::new(
                    key,
                    format!("{key} must be {lo}..={hi}, not {v}"),
                    Some(hint.to_string()),
                ))
            } else {
                Ok(())
            }
        };
        range(
            "brokers",
            self.brokers.into(),
            1,
            MAX_BROKERS.into(),
            "brokers = 3",
        )?;
        range(
            "partitions",
            self.partitions.into(),
            1,
            MAX_PARTITIONS.into(),
            "partitions = 6",
        )?;
        range(
            "quorum_servers",
            self.quorum_servers.into(),
            1,
            MAX_QUORUM.into(),
            "quorum_servers = 3",
        )?;
        range(
            "producers",
            self.producers.into(),
            0,
            MAX_CLIENTS.into(),
            "producers = 1",
        )?;
        range(
            "consumers",
            self.consumers.into(),
            0,
            MAX_CLIENTS.into(),
            "consumers = 2",
        )?;
        range(
            "racks",
            self.racks.into(),
            0,
            self.brokers.into(),
            "racks = 0 (no racks)",
        )?;
        if self.replication_factor == 0 || self.replication_factor > self.brokers {
            // Kafka: InvalidReplicationFactorException.
            return Err(ConfigError::new(
                "replication_factor",
                format!(
                    "replication_factor {} needs 1..={} brokers (there are {})",
                    self.replication_factor, self.brokers, self.brokers
                ),
                Some("replication_factor = 3 with brokers = 3".into()),
            ));
        }
        if self.min_insync_replicas == 0 || self.min_insync_replicas > self.replication_factor {
            return Err(ConfigError::new(
                "min_insync_replicas",
                format!(
                    "min_insync_replicas must be 1..=replication_factor ({}), not {}",
                    self.replication_factor, self.min_insync_replicas
                ),
                Some("min_insync_replicas = 2 with replication_factor = 3".into()),
            ));
        }
        range(
            "produce_rate",
            self.produce_rate,
            0,
            MAX_PRODUCE_RATE,
            "produce_rate = 1000",
        )?;
        range(
            "record_bytes",
            self.record_bytes.into(),
            8,
            1 << 20,
            "record_bytes = 100",
        )?;
        range("keys", self.keys.into(), 0, 1 << 20, "keys = 0 (unkeyed)")?;
        range(
            "batch_bytes",
            self.batch_bytes.into(),
            64,
            1 << 20,
            "batch_bytes = 16384",
        )?;
        range(
            "max_in_flight",
            self.max_in_flight.into(),
            1,
            5,
            "max_in_flight = 5",
        )?;
        range(
            "max_poll_records",
            self.max_poll_records.into(),
            1,
            100_000,
            "max_poll_records = 500",
        )?;
        range(
            "segment_bytes",
            self.segment_bytes,
            1024,
            1 << 40,
            "segment_bytes = 1073741824",
        )?;
        if self.idempotence && self.acks != Acks::All {
            // KafkaProducer refuses it (ConfigException, KIP-679).
            return Err(ConfigError::new(
                "idempotence",
                "idempotence needs acks = \"all\"",
                Some("acks = \"all\"".into()),
            ));
        }
        for (key, d) in [
            ("broker_heartbeat_interval", self.broker_heartbeat_interval),
            ("broker_session_timeout", self.broker_session_timeout),
            ("zookeeper_session_timeout", self.zookeeper_session_timeout),
            ("replica_lag_time_max", self.replica_lag_time_max),
            ("replica_fetch_wait_max", self.replica_fetch_wait_max),
            ("replica_fetch_backoff", self.replica_fetch_backoff),
            ("page_cache_writeback", self.page_cache_writeback),
            ("retention_check_interval", self.retention_check_interval),
            ("retry_backoff", self.retry_backoff),
            ("request_timeout", self.request_timeout),
            ("delivery_timeout", self.delivery_timeout),
            ("metadata_max_age", self.metadata_max_age),
            ("auto_commit_interval", self.auto_commit_interval),
            ("session_timeout", self.session_timeout),
            ("heartbeat_interval", self.heartbeat_interval),
            ("max_poll_interval", self.max_poll_interval),
            ("fetch_wait_max", self.fetch_wait_max),
        ] {
            ConfigError::require_positive(key, d)?;
        }
        if self.broker_heartbeat_interval >= self.broker_session_timeout {
            return Err(ConfigError::new(
                "broker_heartbeat_interval",
                "broker_heartbeat_interval must be below broker_session_timeout",
                None,
            ));
        }
        if self.heartbeat_interval >= self.session_timeout {
            // Kafka's consumer refuses it too.
            return Err(ConfigError::new(
                "heartbeat_interval",
                "heartbeat_interval must be below session_timeout",
                Some("heartbeat_interval = \"3s\" with session_timeout = \"45s\"".into()),
            ));
        }
        if self.delivery_timeout.0 < self.request_timeout.0 + self.linger.0 {
            // KafkaProducer: delivery.timeout.ms >= linger.ms + request.timeout.ms.
            return Err(ConfigError::new(
                "delivery_timeout",
                "delivery_timeout must be at least request_timeout + linger",
                None,
            ));
        }
        if self.controller == ControllerMode::ZooKeeper {
            if self.eligible_leader_replicas {
                // KIP-966's ELR lives in KRaft's metadata records only.
                return Err(ConfigError::new(
                    "eligible_leader_replicas",
                    "eligible leader replicas (KIP-966) exist only in KRaft mode; ZooKeeper mode has no ELR",
                    Some("controller = \"kraft\", or eligible_leader_replicas = false".into()),
                ));
            }
            let t = self.zookeeper_session_timeout.0;
            if !(ZK_MIN_SESSION_TIMEOUT_NS..=ZK_MAX_SESSION_TIMEOUT_NS).contains(&t) {
                // ZooKeeper clamps session timeouts to 2..=20 ticks (tickTime = 2000 ms).
                return Err(ConfigError::new(
                    "zookeeper_session_timeout",
                    "zookeeper_session_timeout must be 4s..=40s (ZooKeeper's minSessionTimeout and maxSessionTimeout with tickTime = 2000 ms)",
                    Some("zookeeper_session_timeout = \"18s\"".into()),
                ));
            }
        }
        if self.consumers > 0 {
            // The broker's group.min.session.timeout.ms and group.max.session.timeout.ms
            // (defaults 6 s and 30 min) refuse other session timeouts
            // (INVALID_SESSION_TIMEOUT).
            range(
                "session_timeout",
                self.session_timeout.0 / 1_000_000,
                MIN_SESSION_TIMEOUT_MS,
                MAX_SESSION_TIMEOUT_MS,
                "session_timeout = \"45s\"",
            )?;
            // processing_time × max_poll_records above max_poll_interval is allowed (it is
            // a lesson: the consumer is expelled mid-batch, KIP-62); the consumer notes it.
        }
        if self.cleanup_policy == Cleanup::Compact && self.keys == 0 {
            return Err(ConfigError::new(
                "cleanup_policy",
                "compaction keeps the newest record per key; unkeyed records cannot be compacted",
                Some("keys = 100".into()),
            ));
        }
        Ok(())
    }
}
