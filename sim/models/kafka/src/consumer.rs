//! A consumer of the group (in progress: the group protocol lands next).

use std::sync::Arc;

use dsim_core::{Ctx, NodeId, Observation};

use crate::msg::Msg;
use crate::{KNode, Settings};

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConsumerTimer {
    Poll,
}

#[derive(Debug)]
pub struct Consumer {
    pub s: Arc<Settings>,
    pub index: u32,
}

impl Consumer {
    pub fn new(s: Arc<Settings>, index: u32) -> Consumer {
        Consumer { s, index }
    }
    pub fn on_start(&mut self, _ctx: &mut Ctx<'_, KNode>) {}
    pub fn on_message(&mut self, _ctx: &mut Ctx<'_, KNode>, _from: NodeId, _msg: Msg) {}
    pub fn on_timer(&mut self, _ctx: &mut Ctx<'_, KNode>, _t: ConsumerTimer) {}
    pub fn observe(&self) -> Observation {
        Observation {
            state: "consumer",
            fields: Vec::new(),
        }
    }
}
