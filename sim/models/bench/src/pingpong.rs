//! `pingpong`: balls passed round a ring of nodes, and nothing else.
//!
//! N nodes stand in a ring. At start each node throws `in_flight` balls to its successor;
//! whoever catches a ball throws it on at once, one hop further. There is no disk, no
//! timer, no client and no history: every event is one message delivery, so the time a run
//! takes is the engine's own cost per event (pop from the queue, route through the
//! network and its latency sampler, fold into the digest, dispatch to the handler, apply
//! the one `send` effect). It is the model the engine benchmarks run, and the yardstick
//! for "events per second" in the docs.
//!
//! With no faults, loss, duplication or partitions the number of balls is conserved: every
//! delivery causes exactly one send, so at any moment `sent - delivered = nodes *
//! in_flight`. A crashed node loses the balls delivered to it while it is down, and a
//! restart throws a fresh set.

use serde::Deserialize;

use dsim_core::{
    Catalogue, CheckResult, ConfigError, Ctx, History, Invariant, Message, Model, Node, NodeId,
    NodeSpec, Observation, View,
};

/// Limits on the settings (a scenario over them is refused at load).
pub const MAX_NODES: u32 = 100_000;
pub const MAX_IN_FLIGHT: u32 = 1_000_000;
pub const MAX_BALLS: u64 = 10_000_000;

/// `[model]` of a pingpong scenario.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PingPongConfig {
    /// Nodes in the ring (at least 2).
    pub nodes: u32,
    /// Balls each node throws at start, so `nodes * in_flight` are in the air at once.
    pub in_flight: u32,
    /// Test switch, not a protocol setting: a node that catches a ball thrown this many
    /// times panics. It exists to test how dsim reports a model that crashes the
    /// simulator (exit code 5, with the seed and event index; a sweep goes on).
    pub panic_at_hops: Option<u64>,
}

impl Default for PingPongConfig {
    fn default() -> Self {
        PingPongConfig {
            nodes: 2,
            in_flight: 64,
            panic_at_hops: None,
        }
    }
}

/// The one message: a ball, and how many times it has been thrown so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ball {
    pub hops: u64,
}

impl Message for Ball {
    /// A framed u64: 4-byte length prefix, 1-byte type tag, 8-byte counter.
    fn size_bytes(&self) -> usize {
        4 + 1 + 8
    }
}

/// Pingpong sets no timers: a type with no values says so to the compiler.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NoTimer {}

/// One node of the ring.
#[derive(Clone, Debug)]
pub struct PingPongNode {
    next: NodeId,
    in_flight: u32,
    panic_at_hops: Option<u64>,
    /// Balls caught by this incarnation.
    caught: u64,
    /// The largest hop count seen on a caught ball.
    max_hops: u64,
}

impl PingPongNode {
    /// Balls caught since this node (re)started.
    pub fn caught(&self) -> u64 {
        self.caught
    }
    /// The largest hop count seen on a ball this node caught.
    pub fn max_hops(&self) -> u64 {
        self.max_hops
    }
}

impl Node for PingPongNode {
    type Msg = Ball;
    type Timer = NoTimer;
    type Call = ();
    type Ret = ();

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        for _ in 0..self.in_flight {
            ctx.send(self.next, Ball { hops: 0 });
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, _from: NodeId, msg: Ball) {
        self.caught += 1;
        self.max_hops = self.max_hops.max(msg.hops);
        if self.panic_at_hops == Some(msg.hops) {
            panic!("pingpong: a ball reached {} hops (panic_at_hops)", msg.hops);
        }
        ctx.send(self.next, Ball { hops: msg.hops + 1 });
    }

    fn on_timer(&mut self, _ctx: &mut Ctx<'_, Self>, timer: NoTimer) {
        match timer {}
    }

    fn observe(&self) -> Observation {
        Observation {
            state: "node",
            fields: vec![
                ("caught", i64::try_from(self.caught).unwrap_or(i64::MAX)),
                ("max_hops", i64::try_from(self.max_hops).unwrap_or(i64::MAX)),
            ],
        }
    }
}

/// The pingpong model: a validated [`PingPongConfig`].
#[derive(Clone, Debug)]
pub struct PingPong {
    cfg: PingPongConfig,
}

impl PingPong {
    /// Refuses a ring of fewer than two nodes, a ring with no ball, and sizes that would
    /// exhaust memory.
    pub fn new(cfg: PingPongConfig) -> Result<PingPong, ConfigError> {
        if cfg.nodes < 2 {
            return Err(ConfigError::new(
                "nodes",
                format!("pingpong needs at least 2 nodes, got {}", cfg.nodes),
                Some("a ball needs someone to be thrown to: use nodes = 2 or more".to_string()),
            ));
        }
        if cfg.nodes > MAX_NODES {
            return Err(ConfigError::new(
                "nodes",
                format!(
                    "{} nodes is over pingpong's limit of {MAX_NODES}",
                    cfg.nodes
                ),
                None,
            ));
        }
        if cfg.in_flight > MAX_IN_FLIGHT {
            return Err(ConfigError::new(
                "in_flight",
                format!(
                    "{} balls per node is over the limit of {MAX_IN_FLIGHT}",
                    cfg.in_flight
                ),
                Some(
                    "more balls only make the queue bigger and each event dearer; 64 is plenty"
                        .to_string(),
                ),
            ));
        }
        if cfg.nodes as u64 * cfg.in_flight as u64 > MAX_BALLS {
            return Err(ConfigError::new(
                "in_flight",
                format!(
                    "{} nodes x {} balls is over the limit of {MAX_BALLS} balls in the air",
                    cfg.nodes, cfg.in_flight
                ),
                None,
            ));
        }
        if cfg.in_flight == 0 {
            return Err(ConfigError::new(
                "in_flight",
                "with in_flight = 0 no ball is ever thrown and the run has no events",
                Some("use in_flight = 1 or more (64 keeps the event queue busy)".to_string()),
            ));
        }
        Ok(PingPong { cfg })
    }

    pub fn config(&self) -> &PingPongConfig {
        &self.cfg
    }
}

impl Model for PingPong {
    type Node = PingPongNode;

    fn nodes(&self) -> Vec<NodeSpec> {
        (1..=self.cfg.nodes)
            .map(|i| NodeSpec::new(format!("node-{i}"), "node"))
            .collect()
    }

    fn boot(&self, id: NodeId) -> PingPongNode {
        PingPongNode {
            next: NodeId((id.0 + 1) % self.cfg.nodes),
            in_flight: self.cfg.in_flight,
            panic_at_hops: self.cfg.panic_at_hops,
            caught: 0,
            max_hops: 0,
        }
    }

    fn fault_role(&self) -> &'static str {
        "node"
    }

    fn catalogue(&self) -> Catalogue {
        Catalogue::default()
    }

    fn always(&self, _name: &str) -> Option<Box<dyn Invariant<PingPongNode>>> {
        None
    }

    fn eventually(
        &self,
        _name: &str,
        _view: &View<'_, PingPongNode>,
        _history: &History<(), ()>,
    ) -> Option<(String, Vec<NodeId>)> {
        Some(("no such check".into(), vec![]))
    }

    fn check_history(
        &self,
        _name: &str,
        _view: &View<'_, PingPongNode>,
        _history: &History<(), ()>,
        _budget: u64,
    ) -> CheckResult {
        CheckResult::Unknown {
            detail: "no such check".into(),
        }
    }
}
