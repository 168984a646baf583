//! Client nodes built on the session library: a key-value workload and the classic
//! ZooKeeper recipes (ZooKeeper docs, "ZooKeeper Recipes and Solutions").

pub mod election;
pub mod kv;
pub mod lock;
pub mod resource;
