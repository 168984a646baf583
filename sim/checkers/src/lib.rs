//! History checkers for dsim.
//!
//! * [`linearizability`]: a Porcupine-class linearizability checker (Wing & Gong 1993 search
//!   with Lowe 2017 memoisation, after anishathalye/porcupine) over any [`SeqSpec`].
//! * [`partition`]: the same, per key, for key-value histories.
//! * [`register`]: the sequential spec of a read/write/CAS register.
//! * [`anomaly`]: named register anomalies (stale reads, new/old inversions, phantom reads) that
//!   explain a failure in plain words.
//! * [`history_checks`]: the wrappers models run these through over their client history.
//! * [`queue_log`]: Jepsen's Kafka analysis of a log history: lost-write, duplicate,
//!   inconsistent-offsets, nonmonotonic-poll, poll-skip, unseen.
//!
//! Everything here is deterministic: the same input gives the same output, byte for byte.

pub mod anomaly;
pub mod history_checks;
mod human;
pub mod linearizability;
pub mod partition;
pub mod queue_log;
pub mod register;

pub use anomaly::{new_old_inversions, stale_reads, Anomaly, AnomalyKind, RegOpKind, RegisterOp};
pub use linearizability::{
    check, Candidate, Explanation, OpSummary, Operation, SeqSpec, SpecOperation, Verdict,
};
pub use partition::check_partitioned;
pub use register::{Register, RegisterInput, RegisterOutput};
