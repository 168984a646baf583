//! dsim-raft as a library: a tiny host model, unrelated to the KV store, embeds
//! `RaftServer` in its own node, message and timer enums (design brief §3, composition by
//! type) and replicates a counter. This is the shape Kafka's KRaft controllers take.
//!
//! The host uses only the public API: `RaftServer` driven through `CtxEnv` (its message
//! type is `From<RaftMsg<Add>>`, its timer type `From<RaftTimer>`), `take_ready` to apply
//! committed commands, the reusable Figure 3 invariants through `RaftObserved`, and its
//! own fsync tokens below Raft's range.

use dsim_core::config::ChecksConfig;
use dsim_core::units::Duration;
use dsim_core::{
    run, Catalogue, CheckInfo, CheckResult, Ctx, History, Invariant, IoDone, Message, Model, Node,
    NodeId, NodeSpec, OpId, Outcome, RunConfig, RunOptions, Verdict, View,
};
use dsim_raft::env::{owns_token, CtxEnv};
use dsim_raft::invariants::{
    current_leader, ElectionSafety, LeaderCompleteness, LogMatching, RaftObserved, RaftState,
    StateMachineSafety,
};
use dsim_raft::log::{Command, Payload};
use dsim_raft::msg::{RaftMsg, RaftTimer};
use dsim_raft::server::{RaftConfig, RaftServer};

/// The host's command: add `n` to the counter.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Add {
    op: u64,
    n: u64,
}

impl Command for Add {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.op.to_le_bytes());
        out.extend_from_slice(&self.n.to_le_bytes());
    }
    fn decode(b: &[u8]) -> Option<Self> {
        Some(Add {
            op: u64::from_le_bytes(b.get(0..8)?.try_into().ok()?),
            n: u64::from_le_bytes(b.get(8..16)?.try_into().ok()?),
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum CMsg {
    Raft(RaftMsg<Add>),
    Add { op: u64, n: u64 },
    Done { op: u64, total: u64 },
}
impl From<RaftMsg<Add>> for CMsg {
    fn from(m: RaftMsg<Add>) -> Self {
        CMsg::Raft(m)
    }
}
impl Message for CMsg {}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum CTimer {
    Raft(RaftTimer),
    Next,
}
impl From<RaftTimer> for CTimer {
    fn from(t: RaftTimer) -> Self {
        CTimer::Raft(t)
    }
}

/// The host's own fsync token (it keeps a marker file); Raft's tokens start far above.
const HOST_TOKEN: u64 = 7;

#[derive(Debug)]
enum CNode {
    Server {
        raft: Box<RaftServer<Add>>,
        total: u64,
        waiting: Vec<(u64, u64, NodeId)>,
    },
    Client {
        servers: u32,
        current: Option<(OpId, u64)>,
    },
}

impl RaftObserved for CNode {
    fn raft_state(&self) -> Option<&dyn RaftState> {
        match self {
            CNode::Server { raft, .. } => Some(raft.as_ref()),
            CNode::Client { .. } => None,
        }
    }
}

impl CNode {
    /// Applies what committed; the leader answers the client.
    fn drain(&mut self, ctx: &mut Ctx<'_, CNode>) {
        let CNode::Server {
            raft,
            total,
            waiting,
        } = self
        else {
            return;
        };
        for (index, entry) in raft.take_ready().committed {
            if let Payload::Command(add) = entry.payload {
                *total += add.n;
                ctx.applied(OpId(add.op));
                if let Some(k) = waiting.iter().position(|w| w.0 == index) {
                    let (_, op, client) = waiting.remove(k);
                    ctx.send(client, CMsg::Done { op, total: *total });
                }
            }
        }
        if raft.is_leader() {
            ctx.reached("counter-leader");
        }
    }
}

impl Node for CNode {
    type Msg = CMsg;
    type Timer = CTimer;
    type Call = u64;
    type Ret = u64;

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        match self {
            CNode::Server { raft, .. } => {
                // The host's own durable state, synced with its own token.
                ctx.disk().put("host-marker", b"counter").expect("disk");
                ctx.fsync(HOST_TOKEN);
                raft.start(&mut CtxEnv::new(ctx));
            }
            CNode::Client { .. } => ctx.set_timer(CTimer::Next, 20_000_000),
        }
        self.drain(ctx);
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: CMsg) {
        match (&mut *self, msg) {
            (CNode::Server { raft, .. }, CMsg::Raft(m)) => {
                raft.on_message(&mut CtxEnv::new(ctx), from, m)
            }
            (CNode::Server { raft, waiting, .. }, CMsg::Add { op, n }) => {
                if let Ok(index) = raft.propose(&mut CtxEnv::new(ctx), Add { op, n }) {
                    waiting.push((index, op, from));
                }
            }
            (CNode::Client { current, .. }, CMsg::Done { op, total }) => {
                if let Some((id, _)) = current.take_if(|(id, _)| id.0 == op) {
                    ctx.complete(id, Outcome::Ok, Some(total));
                }
            }
            _ => {}
        }
        self.drain(ctx);
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: CTimer) {
        match (&mut *self, timer) {
            (CNode::Server { raft, .. }, CTimer::Raft(t)) => {
                raft.on_timer(&mut CtxEnv::new(ctx), t)
            }
            (CNode::Client { servers, current }, CTimer::Next) => {
                if let Some((id, _)) = current.take() {
                    ctx.complete(id, Outcome::Info, None);
                }
                let id = ctx.invoke(1);
                *current = Some((id, 1));
                // Ask every server; only the leader proposes.
                for s in 0..*servers {
                    ctx.send(NodeId(s), CMsg::Add { op: id.0, n: 1 });
                }
                ctx.set_timer(CTimer::Next, 100_000_000);
            }
            _ => {}
        }
        self.drain(ctx);
    }

    fn on_io(&mut self, ctx: &mut Ctx<'_, Self>, done: IoDone) {
        if let CNode::Server { raft, .. } = self {
            if done.token == HOST_TOKEN {
                ctx.reached("host-token");
            } else {
                assert!(
                    owns_token(raft.cfg.token_base, done.token),
                    "a token nobody asked for"
                );
                raft.on_io(&mut CtxEnv::new(ctx), done.token, done.ok);
            }
        }
        self.drain(ctx);
    }
}

struct Counter {
    servers: u32,
}

impl Model for Counter {
    type Node = CNode;

    fn nodes(&self) -> Vec<NodeSpec> {
        let mut v: Vec<NodeSpec> = (1..=self.servers)
            .map(|i| NodeSpec::new(format!("controller-{i}"), "controller"))
            .collect();
        v.push(NodeSpec::new("admin", "admin"));
        v
    }
    fn boot(&self, id: NodeId) -> CNode {
        if id.0 < self.servers {
            let mut cfg = RaftConfig::new((0..self.servers).map(NodeId).collect());
            cfg.file_prefix = "metadata-log/".into();
            CNode::Server {
                raft: Box::new(RaftServer::new(cfg)),
                total: 0,
                waiting: Vec::new(),
            }
        } else {
            CNode::Client {
                servers: self.servers,
                current: None,
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
                about: "",
            },
            CheckInfo {
                name: "log-matching",
                about: "",
            },
            CheckInfo {
                name: "leader-completeness",
                about: "",
            },
            CheckInfo {
                name: "state-machine-safety",
                about: "",
            },
        ];
        Catalogue {
            always: ALWAYS,
            ..Catalogue::default()
        }
    }
    fn always(&self, name: &str) -> Option<Box<dyn Invariant<CNode>>> {
        Some(match name {
            "election-safety" => Box::new(ElectionSafety::default()),
            "log-matching" => Box::new(LogMatching::default()),
            "leader-completeness" => Box::new(LeaderCompleteness::default()),
            "state-machine-safety" => Box::new(StateMachineSafety::default()),
            _ => return None,
        })
    }
    fn eventually(
        &self,
        name: &str,
        view: &View<'_, CNode>,
        _h: &History<u64, u64>,
    ) -> Option<(String, Vec<NodeId>)> {
        match name {
            "leader" => current_leader(view)
                .is_none()
                .then(|| ("no leader".to_string(), Vec::new())),
            _ => Some(("unknown".into(), Vec::new())),
        }
    }
    fn check_history(
        &self,
        _: &str,
        _: &View<'_, CNode>,
        h: &History<u64, u64>,
        _: u64,
    ) -> CheckResult {
        // Every acknowledged total is distinct and grows with time (one increment each).
        let mut totals: Vec<(u64, u64)> = h
            .ops
            .iter()
            .filter(|o| o.is_ok())
            .map(|o| (o.complete_ns.unwrap_or(0), o.ret.unwrap_or(0)))
            .collect();
        totals.sort();
        if totals.windows(2).all(|w| w[0].1 < w[1].1) {
            CheckResult::Valid
        } else {
            CheckResult::Invalid {
                detail: format!("totals not increasing: {totals:?}"),
                nodes: Vec::new(),
                ops: Vec::new(),
            }
        }
    }
}

fn world(fault_phase_s: u64) -> RunConfig {
    let mut cfg = RunConfig {
        checks: ChecksConfig {
            always: vec![
                "election-safety".into(),
                "log-matching".into(),
                "leader-completeness".into(),
                "state-machine-safety".into(),
            ],
            eventually: vec!["leader".into()],
            sometimes: vec!["counter-leader".into(), "host-token".into()],
            history: vec!["monotonic".into()],
        },
        ..RunConfig::default()
    };
    cfg.phases.fault_phase = Duration::from_secs(fault_phase_s);
    cfg.phases.heal_phase = Duration::from_secs(1);
    cfg
}

/// A host elects a leader through the public API and commits its client's commands.
#[test]
fn a_foreign_host_elects_a_leader_and_commits_its_commands() {
    let model = Counter { servers: 3 };
    let report = run(&model, &world(5), 1, RunOptions::default()).expect("runs");
    assert_eq!(report.verdict, Verdict::Valid, "{:?}", report.violations);
    assert!(report.marks.contains("counter-leader"));
    assert!(
        report.marks.contains("host-token"),
        "the host's own fsync token came back to it"
    );
    // One op every 100 ms for 6 s: most are committed and acknowledged.
    let ok = report.metrics.get("history_ok").copied().unwrap_or(0);
    assert!(ok >= 40, "only {ok} increments were acknowledged");
}

/// The same host under crashes and partitions stays safe (the reusable invariants run on
/// a model that is not the KV store).
#[test]
fn a_foreign_host_stays_safe_under_faults() {
    use dsim_core::config::{FaultKind, NemesisConfig};
    let model = Counter { servers: 5 };
    let mut w = world(20);
    w.nemesis = Some(NemesisConfig {
        kinds: vec![FaultKind::Crash, FaultKind::Partition, FaultKind::Pause],
        interval_min: Duration::from_ms(300),
        interval_max: Duration::from_secs(2),
        duration_min: Duration::from_ms(100),
        duration_max: Duration::from_secs(2),
        role: Some("controller".into()),
        max_faulty: 2,
        disk: Vec::new(),
        clock_jump_max: Duration::from_secs(1),
    });
    w.checks.sometimes.clear();
    for seed in 1..=10 {
        let report = run(&model, &w, seed, RunOptions::default()).expect("runs");
        assert_eq!(
            report.verdict,
            Verdict::Valid,
            "seed {seed}: {:?}",
            report.violations
        );
    }
}
