//! The leader election recipe (ZooKeeper docs, "Recipes and Solutions: Leader
//! Election"): each candidate creates an ephemeral sequential child of `/election`; the
//! lowest is the leader; the others watch their predecessor and re-check when it goes.
//! A candidate whose session expires starts over with a new node.

use dsim_core::{Ctx, NodeId};

use crate::env::HostEnv;
use crate::model::{ModelTimer, ZkNode};
use crate::msg::ZkMsg;
use crate::session::{ZkEvent, ZkSession};
use crate::txn::{ErrCode, ZkOp, ZkResult};

pub const ELECTION_DIR: &str = "/election";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Idle,
    EnsureParent,
    Creating,
    Listing,
    Watching,
}

#[derive(Debug)]
pub struct ElectionClient {
    pub session: ZkSession,
    step: Step,
    xid: u64,
    my_node: Option<String>,
    /// This client believes it is the leader.
    pub is_leader: bool,
    /// The czxid of its node (its term, in effect).
    pub token: u64,
    retry_ns: u64,
}

impl ElectionClient {
    pub fn new(session: ZkSession, retry_ns: u64) -> Self {
        ElectionClient {
            session,
            step: Step::Idle,
            xid: 0,
            my_node: None,
            is_leader: false,
            token: 0,
            retry_ns,
        }
    }

    pub fn on_start(&mut self, ctx: &mut Ctx<'_, ZkNode>) {
        self.session.start(&mut HostEnv::new(ctx));
    }

    fn send(&mut self, ctx: &mut Ctx<'_, ZkNode>, op: ZkOp) {
        match self.session.request(&mut HostEnv::new(ctx), op, 0) {
            Some(x) => self.xid = x,
            None => self.retry(ctx),
        }
    }

    fn retry(&mut self, ctx: &mut Ctx<'_, ZkNode>) {
        if self.step != Step::Watching || self.my_node.is_none() {
            self.step = Step::Idle;
        }
        ctx.set_timer(ModelTimer::Think, self.retry_ns);
    }

    pub fn on_timer(&mut self, ctx: &mut Ctx<'_, ZkNode>, timer: ModelTimer) {
        match timer {
            ModelTimer::Zk(t) => {
                let ev = self.session.on_timer(&mut HostEnv::new(ctx), t);
                self.on_events(ctx, ev);
            }
            ModelTimer::Think => {
                if !self.session.is_connected() {
                    ctx.set_timer(ModelTimer::Think, self.retry_ns);
                    return;
                }
                match (self.step, &self.my_node) {
                    (Step::Idle, None) => {
                        self.step = Step::EnsureParent;
                        self.send(
                            ctx,
                            ZkOp::Create {
                                path: ELECTION_DIR.into(),
                                data: 0,
                                ephemeral: false,
                                sequential: false,
                            },
                        );
                    }
                    (Step::Idle | Step::Watching, Some(_)) => self.list(ctx),
                    _ => {}
                }
            }
            _ => {}
        }
    }

    fn list(&mut self, ctx: &mut Ctx<'_, ZkNode>) {
        self.step = Step::Listing;
        self.send(
            ctx,
            ZkOp::GetChildren {
                path: ELECTION_DIR.into(),
                watch: false,
            },
        );
    }

    pub fn on_message(&mut self, ctx: &mut Ctx<'_, ZkNode>, from: NodeId, msg: ZkMsg) {
        let ev = self.session.on_message(&mut HostEnv::new(ctx), from, msg);
        self.on_events(ctx, ev);
    }

    fn on_events(&mut self, ctx: &mut Ctx<'_, ZkNode>, events: Vec<ZkEvent>) {
        for e in events {
            match e {
                ZkEvent::Connected { .. } => ctx.set_timer(ModelTimer::Think, 0),
                ZkEvent::Expired { .. } => {
                    if self.is_leader {
                        ctx.note(
                            "recipe-leader-lost",
                            "session expired: no longer leader".to_string(),
                        );
                    }
                    self.is_leader = false;
                    self.my_node = None;
                    self.step = Step::Idle;
                    self.session.new_session(&mut HostEnv::new(ctx));
                }
                ZkEvent::Watch { .. } if self.step == Step::Watching => self.list(ctx),
                ZkEvent::Reply { xid, result } if xid == self.xid => self.on_reply(ctx, result),
                _ => {}
            }
        }
    }

    fn on_reply(&mut self, ctx: &mut Ctx<'_, ZkNode>, result: ZkResult) {
        match (self.step, result) {
            (Step::EnsureParent, ZkResult::Created { .. } | ZkResult::Err(ErrCode::NodeExists)) => {
                self.step = Step::Creating;
                self.send(
                    ctx,
                    ZkOp::Create {
                        path: format!("{ELECTION_DIR}/n-"),
                        data: 0,
                        ephemeral: true,
                        sequential: true,
                    },
                );
            }
            (Step::Creating, ZkResult::Created { path, stat }) => {
                self.my_node = path.rsplit('/').next().map(str::to_string);
                self.token = stat.czxid;
                self.list(ctx);
            }
            (Step::Listing, ZkResult::Children(mut c)) => {
                c.sort();
                let me = self.my_node.clone().unwrap_or_default();
                match c.iter().position(|n| *n == me) {
                    None => {
                        self.my_node = None;
                        self.step = Step::Idle;
                        self.retry(ctx);
                    }
                    Some(0) => {
                        if !self.is_leader {
                            self.is_leader = true;
                            ctx.reached("recipe-leader");
                            ctx.note("recipe-leader", format!("leads with {ELECTION_DIR}/{me}"));
                        }
                        self.step = Step::Watching;
                    }
                    Some(i) => {
                        let pred = format!("{ELECTION_DIR}/{}", c[i - 1]);
                        self.step = Step::Watching;
                        self.send(
                            ctx,
                            ZkOp::Exists {
                                path: pred,
                                watch: true,
                            },
                        );
                    }
                }
            }
            (Step::Watching, ZkResult::Exists(None)) => self.list(ctx),
            (Step::Watching, _) => {}
            _ => self.retry(ctx),
        }
    }
}
