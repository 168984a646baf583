//! ZAB and a ZooKeeper-style coordination service as a library, with recipes.
