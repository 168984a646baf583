//! A recording `RaftEnv` (dsim-core's `Env` with Raft's messages and timers) for
//! step-by-step tests (shared by protocol.rs and membership.rs).
#![allow(dead_code)]

use std::collections::BTreeMap;

use dsim_core::{Disk, Env as CoreEnv, NodeId, OpId, SimRng};
use dsim_raft::log::Command;
use dsim_raft::msg::{RaftMsg, RaftTimer};
use dsim_raft::server::RaftServer;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Cmd(pub u64);
impl Command for Cmd {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0.to_le_bytes());
    }
    fn decode(b: &[u8]) -> Option<Self> {
        Some(Cmd(u64::from_le_bytes(b.try_into().ok()?)))
    }
}

pub struct Env {
    pub id: NodeId,
    pub now: u64,
    pub rng: SimRng,
    pub disk: Disk,
    pub sent: Vec<(NodeId, RaftMsg<Cmd>)>,
    pub fsyncs: Vec<u64>,
    /// What the last fsync made durable, file by file.
    pub synced: BTreeMap<String, Vec<u8>>,
}

impl Env {
    pub fn new(id: u32) -> Self {
        Env {
            id: NodeId(id),
            now: 0,
            rng: dsim_core::rng::derive(1, "test"),
            disk: Disk::new(1 << 20),
            sent: Vec::new(),
            fsyncs: Vec::new(),
            synced: BTreeMap::new(),
        }
    }
    /// Completes the pending fsync: the disk's writes become durable.
    pub fn sync(&mut self, s: &mut RaftServer<Cmd>) {
        let names: Vec<String> = self.disk.files().map(str::to_string).collect();
        self.synced = names
            .into_iter()
            .map(|n| {
                let b = self.disk.read(&n).unwrap_or_default().to_vec();
                (n, b)
            })
            .collect();
        for t in std::mem::take(&mut self.fsyncs) {
            s.on_io(self, t, true);
        }
    }
    /// A crash: the disk keeps what was synced, nothing else.
    pub fn crash(&mut self) {
        self.disk = Disk::new(1 << 20);
        for (n, b) in &self.synced {
            self.disk.put(n, b).expect("room");
        }
        self.fsyncs.clear();
    }
    pub fn take(&mut self) -> Vec<(NodeId, RaftMsg<Cmd>)> {
        std::mem::take(&mut self.sent)
    }
}

impl CoreEnv<RaftMsg<Cmd>, RaftTimer> for Env {
    fn id(&self) -> NodeId {
        self.id
    }
    fn now(&self) -> u64 {
        self.now
    }
    fn rng(&mut self) -> &mut SimRng {
        &mut self.rng
    }
    fn send(&mut self, to: NodeId, msg: RaftMsg<Cmd>) {
        self.sent.push((to, msg));
    }
    fn set_timer(&mut self, _: RaftTimer, _: u64) {}
    fn cancel_timer(&mut self, _: RaftTimer) {}
    fn disk(&mut self) -> &mut Disk {
        &mut self.disk
    }
    fn fsync(&mut self, token: u64) {
        self.fsyncs.push(token);
    }
    fn note(&mut self, _: &'static str, _: String) {}
    fn metric(&mut self, _: &'static str, _: i64) {}
    fn reached(&mut self, _: &'static str) {}
    fn applied(&mut self, _: OpId) {}
}
