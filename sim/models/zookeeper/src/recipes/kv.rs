//! A key-value client: each key is a znode `/k<N>` holding an integer. A write sets it
//! (setData with version -1, creating the node if it does not exist yet); a read is
//! getData, preceded by `sync` when `reads_sync` is on. One operation at a time, with a
//! think time between operations and a timeout after which the outcome is unknown.
//!
//! Reads are served by the server the client is connected to, which may lag the leader:
//! without `sync` a read can miss a write that already completed (ZooKeeper programmer's
//! guide, "Consistency Guarantees": "ZooKeeper does not guarantee that at every instance
//! in time, two different clients will have identical views").

use dsim_core::{Ctx, OpId, Outcome, Rng};

use crate::env::HostEnv;
use crate::model::{ModelTimer, ZkCall, ZkNode, ZkRet};
use crate::session::{ZkEvent, ZkSession};
use crate::txn::{ErrCode, ZkOp, ZkResult};

#[derive(Clone, Debug)]
pub struct KvSettings {
    pub keys: u32,
    /// Parts per billion of operations that are reads.
    pub read_ppb: u32,
    pub reads_sync: bool,
    pub op_timeout_ns: u64,
    pub think_min_ns: u64,
    pub think_max_ns: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Sync,
    Read,
    Set,
    Create,
    SetAgain,
}

#[derive(Clone, Debug)]
struct InFlight {
    id: OpId,
    num: u64,
    key: u32,
    value: i64,
    stage: Stage,
    xid: u64,
}

#[derive(Debug)]
pub struct KvClient {
    pub session: ZkSession,
    s: KvSettings,
    op: Option<InFlight>,
    next_num: u64,
}

pub fn key_path(key: u32) -> String {
    format!("/k{key}")
}

impl KvClient {
    pub fn new(session: ZkSession, s: KvSettings) -> Self {
        KvClient {
            session,
            s,
            op: None,
            next_num: 0,
        }
    }

    pub fn on_start(&mut self, ctx: &mut Ctx<'_, ZkNode>) {
        self.session.start(&mut HostEnv::new(ctx));
    }

    fn think(&self, ctx: &mut Ctx<'_, ZkNode>) {
        let d = ctx
            .rng()
            .gen_range(self.s.think_min_ns..=self.s.think_max_ns);
        ctx.set_timer(ModelTimer::Think, d);
    }

    pub fn on_timer(&mut self, ctx: &mut Ctx<'_, ZkNode>, timer: ModelTimer) {
        match timer {
            ModelTimer::Zk(t) => {
                let ev = self.session.on_timer(&mut HostEnv::new(ctx), t);
                self.on_events(ctx, ev);
            }
            ModelTimer::Think => self.begin(ctx),
            ModelTimer::OpTimeout(num) if self.op.as_ref().is_some_and(|o| o.num == num) => {
                let op = self.op.take().expect("checked");
                ctx.complete(op.id, Outcome::Info, None);
                self.think(ctx);
            }
            _ => {}
        }
    }

    fn begin(&mut self, ctx: &mut Ctx<'_, ZkNode>) {
        if self.op.is_some() {
            return;
        }
        let key = ctx.rng().gen_range(0..self.s.keys);
        let read = ctx.rng().gen_range(0..1_000_000_000u32) < self.s.read_ppb;
        let num = self.next_num;
        self.next_num += 1;
        let value = ctx.next_op_id().0 as i64 + 1;
        let (call, stage) = if read {
            let stage = if self.s.reads_sync {
                Stage::Sync
            } else {
                Stage::Read
            };
            (
                ZkCall::Read {
                    key,
                    synced: self.s.reads_sync,
                },
                stage,
            )
        } else {
            (ZkCall::Write { key, value }, Stage::Set)
        };
        let id = ctx.invoke(call);
        self.op = Some(InFlight {
            id,
            num,
            key,
            value,
            stage,
            xid: 0,
        });
        ctx.set_timer(ModelTimer::OpTimeout(num), self.s.op_timeout_ns);
        self.send_stage(ctx);
    }

    fn send_stage(&mut self, ctx: &mut Ctx<'_, ZkNode>) {
        let Some(op) = &self.op else { return };
        let path = key_path(op.key);
        let req = match op.stage {
            Stage::Sync => ZkOp::Sync { path },
            Stage::Read => ZkOp::GetData { path, watch: false },
            Stage::Set | Stage::SetAgain => ZkOp::SetData {
                path,
                data: op.value,
                version: -1,
            },
            Stage::Create => ZkOp::Create {
                path,
                data: op.value,
                ephemeral: false,
                sequential: false,
            },
        };
        let tag = op.id.0 + 1;
        match self.session.request(&mut HostEnv::new(ctx), req, tag) {
            Some(xid) => {
                if let Some(op) = &mut self.op {
                    op.xid = xid;
                }
            }
            // Not connected to a serving server: the request was never sent, so it
            // certainly did not happen.
            None => {
                if matches!(self.op.as_ref().map(|o| o.stage), Some(Stage::Set)) {
                    ctx.reached("write-unavailable");
                }
                self.finish(ctx, Err(ErrCode::BadArguments))
            }
        }
    }

    /// Ends the operation: Ok(ret) completes it, an error fails it (reads, and writes
    /// known not to have happened) or leaves it unknown (connection loss on a write).
    fn finish(&mut self, ctx: &mut Ctx<'_, ZkNode>, r: Result<ZkRet, ErrCode>) {
        let Some(op) = self.op.take() else { return };
        ctx.cancel_timer(ModelTimer::OpTimeout(op.num));
        let is_write = matches!(op.stage, Stage::Set | Stage::Create | Stage::SetAgain);
        match r {
            Ok(ret) => {
                if is_write {
                    ctx.reached("write-ok");
                }
                ctx.complete(op.id, Outcome::Ok, Some(ret))
            }
            Err(ErrCode::ConnectionLoss | ErrCode::SessionExpired) if is_write => {
                ctx.complete(op.id, Outcome::Info, None)
            }
            Err(_) => ctx.complete(op.id, Outcome::Fail, None),
        }
        self.think(ctx);
    }

    pub fn on_message(
        &mut self,
        ctx: &mut Ctx<'_, ZkNode>,
        from: dsim_core::NodeId,
        msg: crate::msg::ZkMsg,
    ) {
        let ev = self.session.on_message(&mut HostEnv::new(ctx), from, msg);
        self.on_events(ctx, ev);
    }

    fn on_events(&mut self, ctx: &mut Ctx<'_, ZkNode>, events: Vec<ZkEvent>) {
        for e in events {
            match e {
                ZkEvent::Connected { .. } => {
                    if self.op.is_none() {
                        self.think(ctx);
                    }
                }
                ZkEvent::Expired { .. } => {
                    self.finish(ctx, Err(ErrCode::SessionExpired));
                    self.session.new_session(&mut HostEnv::new(ctx));
                }
                ZkEvent::Reply { xid, result } => self.on_reply(ctx, xid, result),
                ZkEvent::Disconnected | ZkEvent::Watch { .. } => {}
            }
        }
    }

    fn on_reply(&mut self, ctx: &mut Ctx<'_, ZkNode>, xid: u64, result: ZkResult) {
        let Some(op) = &mut self.op else { return };
        if op.xid != xid {
            return;
        }
        match (op.stage, result) {
            (Stage::Sync, ZkResult::Synced) => {
                op.stage = Stage::Read;
                self.send_stage(ctx);
            }
            (Stage::Read, ZkResult::Data { data, .. }) => {
                self.finish(ctx, Ok(ZkRet::Read { value: Some(data) }))
            }
            (Stage::Read, ZkResult::Err(ErrCode::NoNode)) => {
                self.finish(ctx, Ok(ZkRet::Read { value: None }))
            }
            (Stage::Set | Stage::SetAgain, ZkResult::Set { stat }) => self.finish(
                ctx,
                Ok(ZkRet::Written {
                    version: stat.version,
                }),
            ),
            (Stage::Set, ZkResult::Err(ErrCode::NoNode)) => {
                op.stage = Stage::Create;
                self.send_stage(ctx);
            }
            (Stage::Create, ZkResult::Created { stat, .. }) => self.finish(
                ctx,
                Ok(ZkRet::Written {
                    version: stat.version,
                }),
            ),
            (Stage::Create, ZkResult::Err(ErrCode::NodeExists)) => {
                op.stage = Stage::SetAgain;
                self.send_stage(ctx);
            }
            (_, ZkResult::Err(e)) => self.finish(ctx, Err(e)),
            _ => self.finish(ctx, Err(ErrCode::BadArguments)),
        }
    }

    /// The session this client holds (0 when none).
    pub fn session_id(&self) -> u64 {
        self.session.session_id
    }
}
