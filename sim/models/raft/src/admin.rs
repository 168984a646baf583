//! The `admin` node of the `raft` model: an operator who keeps changing the cluster's
//! membership, one server at a time (thesis §4.1). Every `reconfigure_interval` it asks
//! every server to make one change; whichever leads acts (adds a spare, or removes a
//! voter other than itself), the others decline. Asking everyone keeps the admin from
//! waiting on a crashed leader: a change reaches a new leader within one interval.
//!
//! With a `reconfigure_script` the admin instead asks, at chosen times, for chosen
//! changes ("add server-5", "remove server-4"), so that a scenario can replay a known
//! interleaving such as Ongaro's raft-dev 2015 "bug in single-server membership changes".

use dsim_core::units::Duration;
use dsim_core::{Ctx, NodeId};
use serde::Deserialize;

use crate::{Msg, RaftNode, Timer};

/// One server added to or removed from the configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Change {
    Add(NodeId),
    Remove(NodeId),
}

/// One entry of `reconfigure_script`: at `at`, add or remove the named server.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptedChange {
    pub at: Duration,
    #[serde(default)]
    pub add: Option<String>,
    #[serde(default)]
    pub remove: Option<String>,
}

impl ScriptedChange {
    /// The change, given `servers` server nodes (`server-1` ..= `server-<servers>`), or
    /// why the entry is malformed.
    pub fn server(&self, servers: u32) -> Result<Change, String> {
        let parse = |name: &str| -> Result<NodeId, String> {
            name.strip_prefix("server-")
                .and_then(|n| n.parse::<u32>().ok())
                .filter(|n| (1..=servers).contains(n))
                .map(|n| NodeId(n - 1))
                .ok_or_else(|| format!("`{name}` is not one of server-1..=server-{servers}"))
        };
        match (&self.add, &self.remove) {
            (Some(a), None) => parse(a).map(Change::Add),
            (None, Some(r)) => parse(r).map(Change::Remove),
            _ => Err("each scripted change needs exactly one of `add` or `remove`".into()),
        }
    }
}

#[derive(Debug)]
pub struct Admin {
    servers: Vec<NodeId>,
    interval_ns: u64,
    /// No change from this (virtual) time on; 0: never stops.
    stop_ns: u64,
    /// Scripted changes (time in ns, change); when not empty, replaces the interval.
    script: Vec<(u64, Change)>,
    req: u64,
}

impl Admin {
    pub fn new(
        servers: Vec<NodeId>,
        interval_ns: u64,
        stop_ns: u64,
        script: Vec<(u64, Change)>,
    ) -> Self {
        Admin {
            servers,
            interval_ns,
            stop_ns,
            script,
            req: 0,
        }
    }

    pub fn on_start(&mut self, ctx: &mut Ctx<'_, RaftNode>) {
        if self.script.is_empty() {
            ctx.set_timer(Timer::Reconfigure, self.interval_ns);
            return;
        }
        for (k, (at, _)) in self.script.iter().enumerate() {
            ctx.set_timer(Timer::ScriptedChange(k), at.saturating_sub(ctx.now()));
        }
    }

    pub fn on_timer(&mut self, ctx: &mut Ctx<'_, RaftNode>, t: Timer) {
        match t {
            Timer::Reconfigure if self.stop_ns == 0 || ctx.now() < self.stop_ns => {
                self.ask(ctx, None);
                ctx.set_timer(Timer::Reconfigure, self.interval_ns);
            }
            Timer::ScriptedChange(k) => {
                if let Some(&(_, change)) = self.script.get(k) {
                    self.ask(ctx, Some(change));
                }
            }
            _ => {}
        }
    }

    /// Asks every server; only the leader acts.
    fn ask(&mut self, ctx: &mut Ctx<'_, RaftNode>, change: Option<Change>) {
        self.req += 1;
        for &s in &self.servers {
            ctx.send(
                s,
                Msg::Reconfigure {
                    req: self.req,
                    change,
                },
            );
        }
    }

    pub fn on_message(&mut self, ctx: &mut Ctx<'_, RaftNode>, _from: NodeId, msg: Msg) {
        if let Msg::Reply { .. } = msg {
            ctx.reached("membership-changed");
        }
    }
}
