//! A quorum-replicated register (NWR / multi-writer ABD) for dsim
