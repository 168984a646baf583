//! Engine-cost models for dsim's benchmarks: pingpong and heartbeat
