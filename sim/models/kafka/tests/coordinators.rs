//! The coordinator crates composed as Kafka will compose them (issue 3's "used as
//! libraries"): one host model whose own node enum holds ZooKeeper servers (the ensemble of
//! ZooKeeper mode), Raft servers (a KRaft-style metadata quorum) and brokers. A broker holds
//! a ZooKeeper session and registers itself with an ephemeral `/brokers/ids/<id>` znode, as
//! a ZooKeeper-mode broker does, and registers with the metadata quorum by asking its
//! leader to commit a `RegisterBroker` record, as a KRaft broker does. Everything goes
//! through the crates' public APIs (`ZkServer`, `ZkSession`, `HostEnv`; `RaftServer`,
//! `CtxEnv`, `take_ready`) and the host's own message and timer enums; disk completions are
//! routed by token (`is_zk_token`, `owns_token`).

use std::collections::BTreeSet;

use dsim_core::config::{ChecksConfig, FaultKind, NemesisConfig};
use dsim_core::units::Duration;
use dsim_core::{
    run, Catalogue, CheckInfo, CheckResult, Ctx, History, Invariant, IoDone, Message, Model, Node,
    NodeId, NodeSpec, RunConfig, RunOptions, Verdict, View,
};
use dsim_raft::env::{owns_token, CtxEnv};
use dsim_raft::invariants::{
    ElectionSafety, LogMatching, RaftObserved, RaftState, StateMachineSafety,
};
use dsim_raft::log::{Command, Payload};
use dsim_raft::msg::{RaftMsg, RaftTimer};
use dsim_raft::server::{RaftConfig, RaftServer};
use dsim_zookeeper::server::ServerConfig;
use dsim_zookeeper::txn::{ZkOp, ZkResult};
use dsim_zookeeper::{is_zk_token, HostEnv, ZabBugs, ZkEvent, ZkMsg, ZkServer, ZkSession, ZkTimer};

/// The metadata record a broker asks the quorum to commit.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct RegisterBroker {
    broker: u32,
}

impl Command for RegisterBroker {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.broker.to_le_bytes());
    }
    fn decode(b: &[u8]) -> Option<Self> {
        Some(RegisterBroker {
            broker: u32::from_le_bytes(b.get(0..4)?.try_into().ok()?),
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum KMsg {
    Zk(ZkMsg),
    Raft(RaftMsg<RegisterBroker>),
    Register { broker: u32 },
    Registered { broker: u32 },
}
impl From<ZkMsg> for KMsg {
    fn from(m: ZkMsg) -> Self {
        KMsg::Zk(m)
    }
}
impl From<RaftMsg<RegisterBroker>> for KMsg {
    fn from(m: RaftMsg<RegisterBroker>) -> Self {
        KMsg::Raft(m)
    }
}
impl Message for KMsg {}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum KTimer {
    Zk(ZkTimer),
    Raft(RaftTimer),
    /// The broker retries its quorum registration until it is acknowledged.
    RegisterAgain,
}
impl From<ZkTimer> for KTimer {
    fn from(t: ZkTimer) -> Self {
        KTimer::Zk(t)
    }
}
impl From<RaftTimer> for KTimer {
    fn from(t: RaftTimer) -> Self {
        KTimer::Raft(t)
    }
}

#[derive(Debug)]
enum KNode {
    ZooKeeper(Box<ZkServer>),
    Controller {
        raft: Box<RaftServer<RegisterBroker>>,
        registered: BTreeSet<u32>,
        /// (log index, broker) of registrations this leader must answer once committed.
        waiting: Vec<(u64, u32, NodeId)>,
    },
    Broker {
        id: u32,
        zk: ZkSession,
        controllers: Vec<NodeId>,
        acked: bool,
    },
}

impl RaftObserved for KNode {
    fn raft_state(&self) -> Option<&dyn RaftState> {
        match self {
            KNode::Controller { raft, .. } => Some(raft.as_ref()),
            _ => None,
        }
    }
}

impl KNode {
    fn drain(&mut self, ctx: &mut Ctx<'_, KNode>) {
        let KNode::Controller {
            raft,
            registered,
            waiting,
        } = self
        else {
            return;
        };
        for (index, entry) in raft.take_ready().committed {
            if let Payload::Command(r) = entry.payload {
                registered.insert(r.broker);
                if let Some(k) = waiting.iter().position(|w| w.0 == index) {
                    let (_, broker, from) = waiting.remove(k);
                    ctx.send(from, KMsg::Registered { broker });
                }
            }
        }
    }

    fn broker_events(ctx: &mut Ctx<'_, KNode>, zk: &mut ZkSession, id: u32, events: Vec<ZkEvent>) {
        for e in events {
            match e {
                ZkEvent::Connected { .. } => {
                    // The persistent parents (the first broker creates them; the others get
                    // "node exists"), then the broker's own ephemeral znode. A session's
                    // requests are answered in order.
                    for (path, ephemeral) in [
                        ("/brokers".to_string(), false),
                        ("/brokers/ids".to_string(), false),
                        (format!("/brokers/ids/{id}"), true),
                    ] {
                        let op = ZkOp::Create {
                            path,
                            data: i64::from(id),
                            ephemeral,
                            sequential: false,
                        };
                        zk.request(&mut HostEnv::new(ctx), op, 0);
                    }
                }
                ZkEvent::Reply {
                    result: ZkResult::Created { path, .. },
                    ..
                } if path == format!("/brokers/ids/{id}") => ctx.reached("zk-registered"),
                ZkEvent::Expired { .. } => zk.new_session(&mut HostEnv::new(ctx)),
                _ => {}
            }
        }
    }
}

impl Node for KNode {
    type Msg = KMsg;
    type Timer = KTimer;
    type Call = ();
    type Ret = ();

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        match self {
            KNode::ZooKeeper(s) => s.on_start(&mut HostEnv::new(ctx)),
            KNode::Controller { raft, .. } => raft.start(&mut CtxEnv::new(ctx)),
            KNode::Broker { zk, .. } => {
                zk.start(&mut HostEnv::new(ctx));
                ctx.set_timer(KTimer::RegisterAgain, 300_000_000);
            }
        }
        self.drain(ctx);
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: KMsg) {
        match (&mut *self, msg) {
            (KNode::ZooKeeper(s), KMsg::Zk(m)) => s.on_message(&mut HostEnv::new(ctx), from, m),
            (KNode::Controller { raft, .. }, KMsg::Raft(m)) => {
                raft.on_message(&mut CtxEnv::new(ctx), from, m)
            }
            (KNode::Controller { raft, waiting, .. }, KMsg::Register { broker }) => {
                if let Ok(index) = raft.propose(&mut CtxEnv::new(ctx), RegisterBroker { broker }) {
                    waiting.push((index, broker, from));
                }
            }
            (KNode::Broker { id, zk, .. }, KMsg::Zk(m)) => {
                let events = zk.on_message(&mut HostEnv::new(ctx), from, m);
                KNode::broker_events(ctx, zk, *id, events);
            }
            (KNode::Broker { id, acked, .. }, KMsg::Registered { broker }) if broker == *id => {
                *acked = true;
                ctx.reached("quorum-registered");
            }
            _ => {}
        }
        self.drain(ctx);
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: KTimer) {
        match (&mut *self, timer) {
            (KNode::ZooKeeper(s), KTimer::Zk(t)) => s.on_timer(&mut HostEnv::new(ctx), t),
            (KNode::Controller { raft, .. }, KTimer::Raft(t)) => {
                raft.on_timer(&mut CtxEnv::new(ctx), t)
            }
            (KNode::Broker { id, zk, .. }, KTimer::Zk(t)) => {
                let events = zk.on_timer(&mut HostEnv::new(ctx), t);
                KNode::broker_events(ctx, zk, *id, events);
            }
            (
                KNode::Broker {
                    id,
                    controllers,
                    acked,
                    ..
                },
                KTimer::RegisterAgain,
            ) if !*acked => {
                // Any controller may lead; only the leader proposes.
                for &c in controllers.iter() {
                    ctx.send(c, KMsg::Register { broker: *id });
                }
                ctx.set_timer(KTimer::RegisterAgain, 300_000_000);
            }
            _ => {}
        }
        self.drain(ctx);
    }

    fn on_io(&mut self, ctx: &mut Ctx<'_, Self>, done: IoDone) {
        match self {
            KNode::ZooKeeper(s) if is_zk_token(done.token) => s.on_io(&mut HostEnv::new(ctx), done),
            KNode::Controller { raft, .. } if owns_token(raft.cfg.token_base, done.token) => {
                raft.on_io(&mut CtxEnv::new(ctx), done.token, done.ok);
            }
            _ => panic!("a disk completion nobody asked for: {done:?}"),
        }
        self.drain(ctx);
    }
}

/// 3 ZooKeeper servers, 3 metadata controllers, `brokers` brokers.
struct Cluster {
    brokers: u32,
}

const ZK: u32 = 3;
const CONTROLLERS: u32 = 3;

impl Model for Cluster {
    type Node = KNode;

    fn nodes(&self) -> Vec<NodeSpec> {
        let zk = (1..=ZK).map(|i| NodeSpec::new(format!("zk-{i}"), "zookeeper"));
        let ctl = (1..=CONTROLLERS).map(|i| NodeSpec::new(format!("controller-{i}"), "controller"));
        let brokers = (1..=self.brokers).map(|i| NodeSpec::new(format!("broker-{i}"), "broker"));
        zk.chain(ctl).chain(brokers).collect()
    }

    fn boot(&self, id: NodeId) -> KNode {
        let zk_peers: Vec<NodeId> = (0..ZK).map(NodeId).collect();
        let controllers: Vec<NodeId> = (ZK..ZK + CONTROLLERS).map(NodeId).collect();
        if id.0 < ZK {
            KNode::ZooKeeper(Box::new(ZkServer::new(ServerConfig {
                sid: id.0 + 1,
                peers: zk_peers,
                tick_ns: 100_000_000,
                init_limit: 10,
                sync_limit: 5,
                snapshot_count: 100,
                commit_log_count: 500,
                bugs: ZabBugs::default(),
            })))
        } else if id.0 < ZK + CONTROLLERS {
            let mut cfg = RaftConfig::new(controllers);
            cfg.file_prefix = "__cluster_metadata/".into();
            KNode::Controller {
                raft: Box::new(RaftServer::new(cfg)),
                registered: BTreeSet::new(),
                waiting: Vec::new(),
            }
        } else {
            KNode::Broker {
                id: id.0 - ZK - CONTROLLERS + 1,
                zk: ZkSession::new(zk_peers, 2_000),
                controllers,
                acked: false,
            }
        }
    }

    fn fault_role(&self) -> &'static str {
        "controller"
    }

    fn catalogue(&self) -> Catalogue {
        const ALWAYS: &[CheckInfo] = &[
            CheckInfo {
                name: "election-safety",
                about: "at most one metadata leader per term",
            },
            CheckInfo {
                name: "log-matching",
                about: "metadata logs agree below a common entry",
            },
            CheckInfo {
                name: "state-machine-safety",
                about: "no two controllers apply different records at one index",
            },
        ];
        const EVENTUALLY: &[CheckInfo] = &[CheckInfo {
            name: "every-broker-registered",
            about: "every broker's znode exists and every controller that is up knows it",
        }];
        Catalogue {
            always: ALWAYS,
            eventually: EVENTUALLY,
            ..Catalogue::default()
        }
    }

    fn always(&self, name: &str) -> Option<Box<dyn Invariant<KNode>>> {
        Some(match name {
            "election-safety" => Box::new(ElectionSafety::default()),
            "log-matching" => Box::new(LogMatching::default()),
            "state-machine-safety" => Box::new(StateMachineSafety::default()),
            _ => return None,
        })
    }

    fn eventually(
        &self,
        name: &str,
        view: &View<'_, KNode>,
        _: &History<(), ()>,
    ) -> Option<(String, Vec<NodeId>)> {
        if name != "every-broker-registered" {
            return Some((format!("unknown check {name}"), Vec::new()));
        }
        let zk_leader = view.ids().find_map(|id| match view.node(id) {
            Some(KNode::ZooKeeper(s)) if view.is_up(id) && s.is_established_leader() => Some(s),
            _ => None,
        });
        let Some(zk_leader) = zk_leader else {
            return Some(("no ZooKeeper leader".into(), Vec::new()));
        };
        for b in 1..=self.brokers {
            if zk_leader.tree.get(&format!("/brokers/ids/{b}")).is_none() {
                return Some((format!("broker {b} has no znode"), Vec::new()));
            }
        }
        for id in view.ids() {
            if let (Some(KNode::Controller { registered, .. }), true) =
                (view.node(id), view.is_up(id))
            {
                if registered.len() as u32 != self.brokers {
                    return Some((format!("{} knows {registered:?}", view.name(id)), vec![id]));
                }
            }
        }
        None
    }

    fn check_history(
        &self,
        _: &str,
        _: &View<'_, KNode>,
        _: &History<(), ()>,
        _: u64,
    ) -> CheckResult {
        CheckResult::Valid
    }
}

fn world(nemesis: bool) -> RunConfig {
    let mut w = RunConfig {
        checks: ChecksConfig {
            always: vec![
                "election-safety".into(),
                "log-matching".into(),
                "state-machine-safety".into(),
            ],
            eventually: vec!["every-broker-registered".into()],
            sometimes: vec!["zk-registered".into(), "quorum-registered".into()],
            history: Vec::new(),
        },
        ..RunConfig::default()
    };
    w.phases.fault_phase = Duration::from_secs(10);
    w.phases.heal_phase = Duration::from_secs(10);
    if nemesis {
        w.nemesis = Some(NemesisConfig {
            kinds: vec![FaultKind::Crash, FaultKind::Partition, FaultKind::Pause],
            interval_min: Duration::from_ms(300),
            interval_max: Duration::from_secs(1),
            duration_min: Duration::from_ms(100),
            duration_max: Duration::from_secs(2),
            role: Some("controller".into()),
            max_faulty: 1,
            disk: Vec::new(),
            clock_jump_max: Duration::from_secs(1),
        });
    }
    w
}

#[test]
fn brokers_register_with_a_zookeeper_ensemble_and_a_raft_metadata_quorum() {
    let model = Cluster { brokers: 3 };
    for seed in 1..=3 {
        let r = run(&model, &world(false), seed, RunOptions::default()).expect("runs");
        assert_eq!(r.verdict, Verdict::Valid, "seed {seed}: {:?}", r.violations);
        assert!(r.marks.contains("zk-registered") && r.marks.contains("quorum-registered"));
    }
}

#[test]
fn the_composition_stays_safe_and_recovers_under_controller_faults() {
    let model = Cluster { brokers: 2 };
    for seed in 1..=5 {
        let r = run(&model, &world(true), seed, RunOptions::default()).expect("runs");
        assert_eq!(r.verdict, Verdict::Valid, "seed {seed}: {:?}", r.violations);
        let faults = r
            .faults
            .iter()
            .filter(|f| ["crash", "partition", "pause"].contains(&f.kind.as_str()))
            .count();
        assert!(faults >= 5, "seed {seed}: only {faults} faults");
    }
}
