//! ZAB and a ZooKeeper-style coordination service as a library, with recipes.
//!
//! - Library types, embeddable in any host model: [`server::ZkServer`] (a ZAB peer with
//!   its data tree and session tracker), [`session::ZkSession`] (the client library), the
//!   wire types in [`msg`], and the environment adapter in [`env`] (a host whose
//!   `Msg: From<ZkMsg>` and `Timer: From<ZkTimer>` drives both from its `Ctx`).
//! - The "zookeeper" scenario model in [`model`]: servers plus key-value, lock or
//!   leader-election clients, with the checks of [`checks`].
//!
//! See docs/models/zookeeper.md for the invariants, the bug switches and their sources.

pub mod checks;
pub mod codec;
pub mod env;
pub mod model;
pub mod msg;
pub mod recipes;
pub mod server;
pub mod session;
pub mod timer;
pub mod tree;
pub mod txn;
pub mod zxid;

pub use env::{is_zk_token, HostEnv, ZkEnv, ZK_TOKEN_BIT};
pub use model::{ZkConfig, ZooKeeper};
pub use msg::ZkMsg;
pub use server::{ServerConfig, ZabBugs, ZkServer};
pub use session::{ZkEvent, ZkSession};
pub use timer::ZkTimer;
