//! ZooKeeper mode (in progress): a broker's ZooKeeper session and registration, and the
//! controller on the broker that wins `/controller`.

use dsim_core::{Ctx, IoDone, NodeId};
use dsim_zookeeper::{ZkMsg, ZkTimer};

use crate::broker::Broker;
use crate::isr::BrokerId;
use crate::{KNode, Settings};

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ZkControllerTimer {
    Tick,
}

#[derive(Debug)]
pub struct ZkBroker {}

impl ZkBroker {
    pub fn new(_s: &Settings, _id: BrokerId) -> ZkBroker {
        ZkBroker {}
    }
    pub fn is_controller(&self) -> bool {
        false
    }
    pub fn start(
        &mut self,
        _ctx: &mut Ctx<'_, KNode>,
        _id: BrokerId,
        _incarnation: u64,
        _clean: bool,
    ) {
    }
    pub fn on_message(
        &mut self,
        _b: &mut Broker,
        _ctx: &mut Ctx<'_, KNode>,
        _from: NodeId,
        _m: ZkMsg,
    ) {
    }
    pub fn on_timer(&mut self, _b: &mut Broker, _ctx: &mut Ctx<'_, KNode>, _t: ZkTimer) {}
    pub fn on_controller_timer(
        &mut self,
        _b: &mut Broker,
        _ctx: &mut Ctx<'_, KNode>,
        _t: ZkControllerTimer,
    ) {
    }
    pub fn on_io(&mut self, _b: &mut Broker, _ctx: &mut Ctx<'_, KNode>, _done: IoDone) {}
    #[allow(clippy::too_many_arguments)]
    pub fn alter_isr(
        &mut self,
        _b: &mut Broker,
        _ctx: &mut Ctx<'_, KNode>,
        _p: u32,
        _leader_epoch: u32,
        _partition_epoch: u32,
        _isr: Vec<BrokerId>,
    ) {
    }
}
