//! The distributed lock recipe (ZooKeeper docs, "Recipes and Solutions: Locks"; domain
//! note 004, "zk 的分布式锁实现方式"): each contender creates an ephemeral sequential child
//! of `/lock`; the lowest sequence number holds the lock; a contender that is not the
//! lowest watches the child just before its own (`lock_watch = "predecessor"`), so a
//! release wakes exactly one waiter. The herd variant (`lock_watch = "herd"`) watches the
//! children of `/lock` instead: every change wakes every waiter, and all but one go back
//! to sleep (the "herd effect" the recipe's page warns about).
//!
//! A holder works on a protected resource while it holds the lock: every
//! `work_interval` it sends a write to the `resource` node, carrying the czxid of its lock
//! node as a fencing token. The lock is only as good as the session: a holder paused
//! (a GC stall) past its session timeout loses its ephemeral node, a waiter takes the
//! lock, and the paused holder, when it resumes, still believes it holds the lock and
//! writes (Kleppmann, "How to do distributed locking", 2016). With `fencing` on, the
//! resource refuses tokens older than the newest it has seen.

use dsim_core::{Ctx, NodeId, Rng};

use crate::env::HostEnv;
use crate::model::{ModelMsg, ModelTimer, ZkNode};
use crate::msg::ZkMsg;
use crate::session::{ZkEvent, ZkSession};
use crate::txn::{ErrCode, ZkOp, ZkResult};

pub const LOCK_DIR: &str = "/lock";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockWatch {
    Predecessor,
    Herd,
}

#[derive(Clone, Debug)]
pub struct LockSettings {
    pub watch: LockWatch,
    pub hold_ns: u64,
    pub work_interval_ns: u64,
    pub think_min_ns: u64,
    pub think_max_ns: u64,
    pub resource: Option<NodeId>,
    /// This client's number (1-based), for the resource's records.
    pub client_no: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LockState {
    Idle,
    EnsureParent,
    Creating,
    Listing,
    /// Waiting for a watch: on the predecessor (or on `/lock` in the herd variant).
    Waiting,
    Holding,
    Releasing,
}

#[derive(Debug)]
pub struct LockClient {
    pub session: ZkSession,
    s: LockSettings,
    pub state: LockState,
    xid: u64,
    /// Our znode's name under /lock, once created.
    my_node: Option<String>,
    pub token: u64,
    parent_ok: bool,
    /// Watch notifications that woke this client while waiting.
    pub wakeups: u64,
    /// Wake-ups after which this client was still not first in line (herd effect).
    pub wasted_wakeups: u64,
    pub acquisitions: u64,
    woken: bool,
}

impl LockClient {
    pub fn new(session: ZkSession, s: LockSettings) -> Self {
        LockClient {
            session,
            s,
            state: LockState::Idle,
            xid: 0,
            my_node: None,
            token: 0,
            parent_ok: false,
            wakeups: 0,
            wasted_wakeups: 0,
            acquisitions: 0,
            woken: false,
        }
    }

    pub fn holding(&self) -> bool {
        self.state == LockState::Holding
    }

    pub fn on_start(&mut self, ctx: &mut Ctx<'_, ZkNode>) {
        self.session.start(&mut HostEnv::new(ctx));
    }

    fn think(&mut self, ctx: &mut Ctx<'_, ZkNode>) {
        self.state = LockState::Idle;
        let d = ctx
            .rng()
            .gen_range(self.s.think_min_ns..=self.s.think_max_ns);
        ctx.set_timer(ModelTimer::Think, d);
    }

    fn send(&mut self, ctx: &mut Ctx<'_, ZkNode>, op: ZkOp) {
        match self.session.request(&mut HostEnv::new(ctx), op, 0) {
            Some(xid) => self.xid = xid,
            // Not connected: start over once we are.
            None => {
                ctx.note("lock-retry", format!("{:?}: not connected", self.state));
                self.abandon(ctx)
            }
        }
    }

    /// Gives up the current attempt (our node, if any, goes with the session or is
    /// deleted on the next try).
    fn abandon(&mut self, ctx: &mut Ctx<'_, ZkNode>) {
        if self.state == LockState::Holding {
            return;
        }
        self.think(ctx);
    }

    pub fn on_timer(&mut self, ctx: &mut Ctx<'_, ZkNode>, timer: ModelTimer) {
        match timer {
            ModelTimer::Zk(t) => {
                let ev = self.session.on_timer(&mut HostEnv::new(ctx), t);
                self.on_events(ctx, ev);
            }
            ModelTimer::Think => {
                if self.state != LockState::Idle {
                    return;
                }
                if !self.session.is_connected() {
                    self.think(ctx);
                } else if let Some(node) = self.my_node.take() {
                    // A node left over from an abandoned attempt: delete it first.
                    self.state = LockState::Releasing;
                    self.send(
                        ctx,
                        ZkOp::Delete {
                            path: format!("{LOCK_DIR}/{node}"),
                            version: -1,
                        },
                    );
                } else if !self.parent_ok {
                    self.state = LockState::EnsureParent;
                    self.send(
                        ctx,
                        ZkOp::Create {
                            path: LOCK_DIR.into(),
                            data: 0,
                            ephemeral: false,
                            sequential: false,
                        },
                    );
                } else {
                    self.create(ctx);
                }
            }
            ModelTimer::Hold if self.state == LockState::Holding => {
                self.state = LockState::Releasing;
                ctx.note(
                    "lock-release",
                    format!("releasing (token {:#x})", self.token),
                );
                let node = self.my_node.take().unwrap_or_default();
                self.send(
                    ctx,
                    ZkOp::Delete {
                        path: format!("{LOCK_DIR}/{node}"),
                        version: -1,
                    },
                );
            }
            ModelTimer::WorkStep if self.state == LockState::Holding => {
                if let Some(r) = self.s.resource {
                    ctx.send(
                        r,
                        ModelMsg::Work {
                            client: self.s.client_no,
                            token: self.token,
                        },
                    );
                }
                ctx.set_timer(ModelTimer::WorkStep, self.s.work_interval_ns);
            }
            _ => {}
        }
    }

    fn create(&mut self, ctx: &mut Ctx<'_, ZkNode>) {
        self.state = LockState::Creating;
        self.send(
            ctx,
            ZkOp::Create {
                path: format!("{LOCK_DIR}/lock-"),
                data: 0,
                ephemeral: true,
                sequential: true,
            },
        );
    }

    fn list(&mut self, ctx: &mut Ctx<'_, ZkNode>) {
        self.state = LockState::Listing;
        let watch = self.s.watch == LockWatch::Herd;
        self.send(
            ctx,
            ZkOp::GetChildren {
                path: LOCK_DIR.into(),
                watch,
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
                ZkEvent::Connected { .. } if self.state == LockState::Idle => self.think(ctx),
                ZkEvent::Expired { session } => {
                    if self.state == LockState::Holding {
                        ctx.note(
                            "lock-lost",
                            format!("session {session:#x} expired while holding the lock"),
                        );
                    }
                    self.my_node = None;
                    self.session.new_session(&mut HostEnv::new(ctx));
                    self.state = LockState::Idle;
                    self.think(ctx);
                }
                ZkEvent::Reply { xid, result } if xid == self.xid => self.on_reply(ctx, result),
                ZkEvent::Watch { .. } if self.state == LockState::Waiting => {
                    self.wakeups += 1;
                    self.woken = true;
                    ctx.metric("lock-wakeups", self.wakeups as i64);
                    ctx.note(
                        "lock-woken",
                        format!("watch fired; wake-up {}", self.wakeups),
                    );
                    self.list(ctx);
                }
                _ => {}
            }
        }
    }

    fn on_reply(&mut self, ctx: &mut Ctx<'_, ZkNode>, result: ZkResult) {
        match (&self.state, result) {
            (
                LockState::EnsureParent,
                ZkResult::Created { .. } | ZkResult::Err(ErrCode::NodeExists),
            ) => {
                self.parent_ok = true;
                self.create(ctx);
            }
            (LockState::Creating, ZkResult::Created { path, stat }) => {
                self.my_node = path.rsplit('/').next().map(str::to_string);
                self.token = stat.czxid;
                self.list(ctx);
            }
            (LockState::Listing, ZkResult::Children(mut children)) => {
                let Some(me) = self.my_node.clone() else {
                    return self.abandon(ctx);
                };
                children.sort();
                let Some(pos) = children.iter().position(|c| *c == me) else {
                    // Our node is gone (the session expired and came back?): start over.
                    self.my_node = None;
                    return self.abandon(ctx);
                };
                if pos == 0 {
                    self.acquire(ctx);
                    return;
                }
                if std::mem::take(&mut self.woken) {
                    self.wasted_wakeups += 1;
                    ctx.reached("herd-wakeup");
                    ctx.metric("lock-wasted-wakeups", self.wasted_wakeups as i64);
                }
                match self.s.watch {
                    LockWatch::Herd => self.state = LockState::Waiting,
                    LockWatch::Predecessor => {
                        self.state = LockState::Listing;
                        let pred = format!("{LOCK_DIR}/{}", children[pos - 1]);
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
            (LockState::Listing, ZkResult::Exists(Some(_))) => self.state = LockState::Waiting,
            // The predecessor went away between the listing and the watch: list again.
            (LockState::Listing, ZkResult::Exists(None)) => self.list(ctx),
            (LockState::Releasing, ZkResult::Deleted | ZkResult::Err(ErrCode::NoNode)) => {
                self.think(ctx)
            }
            (LockState::Holding | LockState::Idle | LockState::Waiting, _) => {}
            (state, other) => {
                // Connection loss or an unexpected answer: try again later.
                ctx.note(
                    "lock-retry",
                    format!("{state:?} got {other:?}; starting over"),
                );
                self.abandon(ctx);
            }
        }
    }

    fn acquire(&mut self, ctx: &mut Ctx<'_, ZkNode>) {
        self.woken = false;
        self.state = LockState::Holding;
        self.acquisitions += 1;
        ctx.reached("lock-acquired");
        ctx.note(
            "lock-acquired",
            format!(
                "holds {LOCK_DIR}/{} (token {:#x})",
                self.my_node.as_deref().unwrap_or("?"),
                self.token
            ),
        );
        ctx.set_timer(ModelTimer::Hold, self.s.hold_ns);
        if let Some(r) = self.s.resource {
            ctx.send(
                r,
                ModelMsg::Work {
                    client: self.s.client_no,
                    token: self.token,
                },
            );
        }
        ctx.set_timer(ModelTimer::WorkStep, self.s.work_interval_ns);
    }
}
