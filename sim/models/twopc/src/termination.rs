//! The decision rule of 3PC's termination protocol (Skeen 1981 §4; BHG 1987 §7.5): when
//! the coordinator goes silent, the participants elect one of themselves which collects
//! the states of those it can reach and decides. Here each participant in doubt asks all
//! its peers for their states; if one of them has already decided, that settles it (rules
//! 1 and 2) for the one asking; otherwise the lowest-numbered *operational* participant
//! that answered (all of them in doubt) is the leader, and it decides:
//!
//! 1. some participant aborted (or never voted, and so aborts now) → abort;
//! 2. some participant committed → commit;
//! 3. some participant is pre-committed → commit;
//! 4. every participant reached is uncertain → abort. Safe only because no participant
//!    can have committed: a participant that was up all along and is still uncertain
//!    never received PRE-COMMIT, so the coordinator never sent it to anyone.
//!
//! "Operational" is the crux. A participant that crashed and restarted while in doubt
//! missed whatever happened meanwhile: an uncertain one may be the last survivor of a
//! group that committed. Skeen gives such sites a recovery protocol instead: they ask, and
//! may not lead (participant.rs; bug switch `recovery_protocol = false`). Once every
//! participant has answered, the full picture is known and rule 3 applies to it; rule 4
//! then also needs the coordinator's word that it never decided.
//!
//! Skeen and BHG have the new leader first move the uncertain participants to
//! pre-committed, then commit, so that its own failure halfway through cannot leave an
//! operational participant uncertain beside a committed one. Here the leader sends COMMIT
//! directly, once its own commit record is durable. In this simulator that is
//! equivalent for crash failures: a node's sends in one handler all leave before it can
//! crash, and messages in flight are delivered even if their sender has crashed; so every
//! operational participant receives the COMMIT, and one that was down when it was sent
//! is recovering when it comes back. Only message loss (outside Skeen's model) tells the
//! two apart.
//!
//! Rule 4 is where partitions bite: it assumes that the participants it did not hear from
//! are down, not merely unreachable. A pre-committed participant on the far side of a
//! partition commits by rule 3 while an uncertain side aborts by rule 4 — 3PC's known
//! unsafety under network partitions (Skeen 1981 assumes no partitions; see also Keidar &
//! Dolev 1998 on E3PC).

use std::collections::BTreeMap;

use dsim_core::NodeId;

use crate::msg::{Outcome, TermState};

/// The leader among those that answered (the asking participant included).
pub fn leader(states: &BTreeMap<NodeId, TermState>) -> Option<NodeId> {
    states.keys().next().copied()
}

/// Some participant reached has already committed or aborted: its decision is final, and
/// the asking participant may adopt it without waiting for a leader (rules 1 and 2).
pub fn someone_decided(states: &BTreeMap<NodeId, TermState>) -> bool {
    states
        .values()
        .any(|s| matches!(s, TermState::Committed | TermState::Aborted))
}

/// The termination protocol's decision from the states collected.
pub fn decide(states: &BTreeMap<NodeId, TermState>) -> Outcome {
    let any = |s: TermState| states.values().any(|v| *v == s);
    if any(TermState::Aborted) {
        Outcome::Abort
    } else if any(TermState::Committed) || any(TermState::PreCommitted) {
        Outcome::Commit
    } else {
        Outcome::Abort
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TermState::*;

    fn states(v: &[(u32, TermState)]) -> BTreeMap<NodeId, TermState> {
        v.iter().map(|(i, s)| (NodeId(*i), *s)).collect()
    }

    /// BHG §7.5, the termination rule, case by case.
    #[test]
    fn rule_follows_bhg_7_5() {
        assert_eq!(
            decide(&states(&[(1, Uncertain), (2, Aborted)])),
            Outcome::Abort
        );
        assert_eq!(
            decide(&states(&[(1, Uncertain), (2, Committed)])),
            Outcome::Commit
        );
        assert_eq!(
            decide(&states(&[(1, Uncertain), (3, PreCommitted)])),
            Outcome::Commit
        );
        assert_eq!(
            decide(&states(&[(1, Uncertain), (2, Uncertain)])),
            Outcome::Abort
        );
        // The partition case: each side decides from what it sees.
        assert_eq!(decide(&states(&[(3, Uncertain)])), Outcome::Abort);
        assert_eq!(decide(&states(&[(1, PreCommitted)])), Outcome::Commit);
        assert_eq!(
            leader(&states(&[(3, Uncertain), (2, Uncertain)])),
            Some(NodeId(2))
        );
    }
}
