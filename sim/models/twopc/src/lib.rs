//! Two-phase and three-phase commit.
