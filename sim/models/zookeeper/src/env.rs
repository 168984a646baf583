//! The environment a ZooKeeper server or client session runs in, and the adapter that
//! gives it one from any host node's `Ctx`.
//!
//! Other models (Kafka in ZooKeeper mode, HDFS/YARN HA) embed `ZkServer`s and
//! `ZkSession`s inside their own node enums, with their own message and timer types
//! (composition by type, design brief §3). All they need is `Msg: From<ZkMsg>` and
//! `Timer: From<ZkTimer>`; [`HostEnv`] (dsim-core's [`Embed`]) wraps their `Ctx`. The fsync tokens
//! the ZooKeeper code uses all have [`ZK_TOKEN_BIT`] set, so a host routes `on_io` with
//! [`is_zk_token`] and keeps its own tokens below that bit.

use dsim_core::{Embed, Env};

use crate::msg::ZkMsg;
use crate::timer::ZkTimer;

/// Every fsync token issued by this crate has this bit set.
pub const ZK_TOKEN_BIT: u64 = 1 << 63;

/// Is this fsync completion one of ours?
pub fn is_zk_token(token: u64) -> bool {
    token & ZK_TOKEN_BIT != 0
}

/// What a server or session may do: dsim-core's [`Env`] with ZooKeeper's messages and
/// timers. Every fsync token it asks for has [`ZK_TOKEN_BIT`] set; `applied` reports the
/// history operation a transaction's client tag names (tag = op id + 1).
pub trait ZkEnv: Env<ZkMsg, ZkTimer> {}

impl<E: Env<ZkMsg, ZkTimer> + ?Sized> ZkEnv for E {}

/// A host node's `Ctx` as a [`ZkEnv`] (dsim-core's [`Embed`]).
pub type HostEnv<'c, 'a, N> = Embed<'c, 'a, N>;
