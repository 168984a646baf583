//! The library used as other models will use it (Kafka in ZooKeeper mode, HDFS/YARN HA):
//! a host model with its OWN node, message and timer enums embeds ZooKeeper servers and,
//! in a "broker" role, a ZooKeeper client session, drives both through `HostEnv`, and runs
//! under `dsim_core::run`.
//!
//! The broker registers itself the way a Kafka controller does: an ephemeral `/controller`
//! znode. The test shows the znode appears, and that after the broker process is crashed
//! the znode disappears when (and only when) its session expires on the ensemble.

use dsim_core::{
    Catalogue, CheckInfo, CheckResult, Ctx, History, Invariant, IoDone, Model, Node, NodeId,
    NodeSpec, View,
};
use dsim_zookeeper::server::ServerConfig;
use dsim_zookeeper::txn::{ZkOp, ZkResult};
use dsim_zookeeper::{is_zk_token, HostEnv, ZabBugs, ZkEvent, ZkMsg, ZkServer, ZkSession, ZkTimer};

/// The host's own messages: ZooKeeper's, plus one of its own.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum HostMsg {
    Zk(ZkMsg),
    #[allow(dead_code)]
    Gossip(u32),
}

impl From<ZkMsg> for HostMsg {
    fn from(m: ZkMsg) -> Self {
        HostMsg::Zk(m)
    }
}

impl dsim_core::Message for HostMsg {}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum HostTimer {
    Zk(ZkTimer),
    /// The host's own timer, next to ZooKeeper's.
    Retry,
}

impl From<ZkTimer> for HostTimer {
    fn from(t: ZkTimer) -> Self {
        HostTimer::Zk(t)
    }
}

/// A broker: one session; creates the ephemeral /controller and watches it.
#[derive(Debug)]
struct Broker {
    zk: ZkSession,
    id: i64,
}

#[derive(Debug)]
enum HostNode {
    Zk(Box<ZkServer>),
    Broker(Broker),
}

impl Broker {
    fn events(&mut self, ctx: &mut Ctx<'_, HostNode>, events: Vec<ZkEvent>) {
        for e in events {
            match e {
                ZkEvent::Connected { .. } => self.register(ctx),
                ZkEvent::Reply {
                    result: ZkResult::Created { .. },
                    ..
                } => {
                    ctx.reached("controller-created");
                    // Watch our registration, as a Kafka controller watches /controller.
                    self.zk.request(
                        &mut HostEnv::new(ctx),
                        ZkOp::Exists {
                            path: "/controller".into(),
                            watch: true,
                        },
                        0,
                    );
                }
                ZkEvent::Reply {
                    result: ZkResult::Err(_),
                    ..
                } => ctx.set_timer(HostTimer::Retry, 100_000_000),
                ZkEvent::Expired { .. } => self.zk.new_session(&mut HostEnv::new(ctx)),
                _ => {}
            }
        }
    }

    fn register(&mut self, ctx: &mut Ctx<'_, HostNode>) {
        let op = ZkOp::Create {
            path: "/controller".into(),
            data: self.id,
            ephemeral: true,
            sequential: false,
        };
        self.zk.request(&mut HostEnv::new(ctx), op, 0);
    }
}

impl Node for HostNode {
    type Msg = HostMsg;
    type Timer = HostTimer;
    type Call = ();
    type Ret = ();

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        match self {
            HostNode::Zk(s) => s.on_start(&mut HostEnv::new(ctx)),
            HostNode::Broker(b) => b.zk.start(&mut HostEnv::new(ctx)),
        }
    }
    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: HostMsg) {
        let HostMsg::Zk(m) = msg else { return };
        match self {
            HostNode::Zk(s) => s.on_message(&mut HostEnv::new(ctx), from, m),
            HostNode::Broker(b) => {
                let ev = b.zk.on_message(&mut HostEnv::new(ctx), from, m);
                b.events(ctx, ev);
            }
        }
    }
    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: HostTimer) {
        match (self, timer) {
            (HostNode::Zk(s), HostTimer::Zk(t)) => s.on_timer(&mut HostEnv::new(ctx), t),
            (HostNode::Broker(b), HostTimer::Zk(t)) => {
                let ev = b.zk.on_timer(&mut HostEnv::new(ctx), t);
                b.events(ctx, ev);
            }
            (HostNode::Broker(b), HostTimer::Retry) => b.register(ctx),
            _ => {}
        }
    }
    fn on_io(&mut self, ctx: &mut Ctx<'_, Self>, done: IoDone) {
        // The host's own fsync tokens would be below ZK_TOKEN_BIT; ZooKeeper's above.
        if let (HostNode::Zk(s), true) = (self, is_zk_token(done.token)) {
            s.on_io(&mut HostEnv::new(ctx), done);
        }
    }
}

struct Host;

const SERVERS: u32 = 3;

impl Model for Host {
    type Node = HostNode;
    fn nodes(&self) -> Vec<NodeSpec> {
        let mut v: Vec<NodeSpec> = (1..=SERVERS)
            .map(|i| NodeSpec::new(format!("zk-{i}"), "zookeeper"))
            .collect();
        v.push(NodeSpec::new("broker-1", "broker"));
        v
    }
    fn boot(&self, id: NodeId) -> HostNode {
        let peers: Vec<NodeId> = (0..SERVERS).map(NodeId).collect();
        if id.0 < SERVERS {
            HostNode::Zk(Box::new(ZkServer::new(ServerConfig {
                sid: id.0 + 1,
                peers,
                tick_ns: 100_000_000,
                init_limit: 10,
                sync_limit: 5,
                snapshot_count: 100,
                commit_log_count: 500,
                bugs: ZabBugs::default(),
            })))
        } else {
            HostNode::Broker(Broker {
                zk: ZkSession::new(peers, 1_000),
                id: 1,
            })
        }
    }
    fn fault_role(&self) -> &'static str {
        "zookeeper"
    }
    fn catalogue(&self) -> Catalogue {
        Catalogue {
            always: &[CheckInfo {
                name: "controller-present",
                about: "the leader's tree has /controller once it was created",
            }],
            sometimes: &[CheckInfo {
                name: "controller-created",
                about: "the broker registered",
            }],
            ..Catalogue::default()
        }
    }
    fn always(&self, name: &str) -> Option<Box<dyn Invariant<HostNode>>> {
        (name == "controller-present")
            .then(|| Box::new(ControllerPresent { seen: false }) as Box<dyn Invariant<HostNode>>)
    }
    fn eventually(
        &self,
        _: &str,
        _: &View<'_, HostNode>,
        _: &History<(), ()>,
    ) -> Option<(String, Vec<NodeId>)> {
        None
    }
    fn check_history(
        &self,
        _: &str,
        _: &View<'_, HostNode>,
        _: &History<(), ()>,
        _: u64,
    ) -> CheckResult {
        CheckResult::Valid
    }
}

/// "Fires" when /controller, once seen on the established leader, is gone from it: the
/// test reads the time of that report to see when the ephemeral node disappeared.
struct ControllerPresent {
    seen: bool,
}

impl Invariant<HostNode> for ControllerPresent {
    fn after_event(
        &mut self,
        view: &View<'_, HostNode>,
        _node: NodeId,
    ) -> Option<(String, Vec<NodeId>)> {
        let leader = view.ids().find_map(|id| match view.node(id) {
            Some(HostNode::Zk(s)) if view.is_up(id) && s.is_established_leader() => Some(s),
            _ => None,
        })?;
        let present = leader.tree.get("/controller").is_some();
        if present {
            self.seen = true;
            None
        } else if self.seen {
            Some(("/controller is gone".into(), Vec::new()))
        } else {
            None
        }
    }
}

const SCENARIO: &str = r#"
name = "embed"
description = "a host model embedding ZooKeeper"
model = "embed"

[run]
fault_phase = "10s"
heal_phase = "1s"

[network]
latency = { dist = "lognormal", p50 = "1ms", p99 = "5ms" }

[checks]
always = ["controller-present"]
sometimes = ["controller-created"]
"#;

const CRASH: &str = r#"
[[faults]]
at = "3s"
kind = "crash"
target = "node(broker-1)"
"#;

fn world(with_crash: bool) -> dsim_core::RunConfig {
    let text = if with_crash {
        format!("{SCENARIO}{CRASH}")
    } else {
        SCENARIO.to_string()
    };
    dsim_scenario::Scenario::parse("embed.toml", &text)
        .expect("parses")
        .run
}

#[test]
fn ephemeral_controller_appears_and_goes_with_the_session() {
    for seed in 1..=3 {
        let quiet = dsim_core::run(&Host, &world(false), seed, Default::default()).expect("runs");
        assert!(
            quiet.marks.contains("controller-created"),
            "seed {seed}: the broker never registered"
        );
        assert!(
            quiet.violations.is_empty(),
            "seed {seed}: /controller vanished without a crash: {:?}",
            quiet.violations
        );

        let crashed = dsim_core::run(&Host, &world(true), seed, Default::default()).expect("runs");
        assert!(crashed.marks.contains("controller-created"));
        let gone = crashed
            .violations
            .iter()
            .find(|v| v.invariant == "controller-present")
            .expect("/controller never went away");
        // Crash at 3 s; the 1 s session expires on the leader's tick after 1 s without
        // pings (the last ping may have come up to a third of the timeout earlier).
        assert!(
            (3_500_000_000..=4_600_000_000).contains(&gone.at_ns),
            "seed {seed}: /controller went at {} ns, not at session expiry",
            gone.at_ns
        );
    }
}
