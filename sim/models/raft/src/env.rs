//! The small world a [`RaftServer`](crate::server::RaftServer) needs, as a trait, so that
//! any host can embed Raft inside its own node, message and timer types (design brief §3:
//! composition by type). The trait is dsim-core's [`Env`] with Raft's
//! message and timer types; [`CtxEnv`] (dsim-core's [`Embed`]) adapts a dsim `Ctx` for any
//! host whose message type is `From<RaftMsg<C>>` and whose timer type is `From<RaftTimer>`.
//!
//! Fsync tokens: the server asks for tokens in `[token_base, token_base + TOKEN_SPAN)`
//! (`RaftConfig::token_base`), so a host's own tokens never collide with Raft's;
//! [`owns_token`] tells a host which completions to hand to the server.

use dsim_core::{Embed, Env};

use crate::msg::{RaftMsg, RaftTimer};

/// How many fsync tokens a server may use above its `token_base`.
pub const TOKEN_SPAN: u64 = 1 << 40;

/// Whether `token` falls in the range of a server whose tokens start at `base`.
pub fn owns_token(base: u64, token: u64) -> bool {
    token >= base && token - base < TOKEN_SPAN
}

/// Everything the protocol core may do to the world: dsim-core's [`Env`] with Raft's own
/// messages and timers. Anything that is such an `Env` is a `RaftEnv`.
pub trait RaftEnv<C>: Env<RaftMsg<C>, RaftTimer> {}

impl<C, E: Env<RaftMsg<C>, RaftTimer> + ?Sized> RaftEnv<C> for E {}

/// Drives a server from a dsim handler context (dsim-core's [`Embed`]).
pub type CtxEnv<'c, 'a, N> = Embed<'c, 'a, N>;
