//! Protocol rules, one node at a time (dsim_core::harness): the ordering of durable writes
//! and messages that Gray (1978, §5.8.3.3) and Bernstein, Hadzilacos & Goodman (1987,
//! §7.3–7.4) require, and what each bug switch changes.

use dsim_core::harness::Harness;
use dsim_core::{Effect, Model, NodeId, NodeSpec};
use dsim_twopc::msg::{Msg, Outcome, TermState, TxId};
use dsim_twopc::{Timer, TpNode, TwoPc, TwoPcConfig};

const COORD: NodeId = NodeId(0);

fn model(cfg: TwoPcConfig) -> TwoPc {
    TwoPc::new(cfg).expect("valid")
}

fn harness(m: &TwoPc, id: NodeId) -> Harness<TpNode> {
    let specs: Vec<NodeSpec> = m.nodes();
    Harness::new(m.boot(id), id, specs, 7)
}

fn sends(effects: &[Effect<TpNode>]) -> Vec<(NodeId, Msg)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send { to, msg } => Some((*to, msg.clone())),
            _ => None,
        })
        .collect()
}

fn fsyncs(effects: &[Effect<TpNode>]) -> Vec<u64> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Fsync { token } => Some(*token),
            _ => None,
        })
        .collect()
}

const TX: TxId = TxId { epoch: 1, seq: 1 };

fn never_no() -> TwoPcConfig {
    TwoPcConfig {
        no_vote_probability: dsim_core::units::Probability(0),
        ..TwoPcConfig::default()
    }
}

/// BHG §7.3: a participant votes yes only once its prepared record is durable.
#[test]
fn a_yes_vote_waits_for_the_prepared_record_to_be_durable() {
    let m = model(never_no());
    let mut h = harness(&m, NodeId(1));
    h.start();
    let e = h.deliver(COORD, Msg::Prepare { tx: TX, key: 2 });
    assert!(sends(&e).is_empty(), "voted before the record was durable");
    let tokens = fsyncs(&e);
    assert_eq!(tokens.len(), 1);
    let e = h.io(tokens[0], true);
    assert_eq!(sends(&e), vec![(COORD, Msg::Vote { tx: TX, yes: true })]);
    // In doubt now, holding the lock: the next transaction on key 2 is refused.
    let tx2 = TxId { epoch: 1, seq: 2 };
    let e = h.deliver(COORD, Msg::Prepare { tx: tx2, key: 2 });
    assert_eq!(
        sends(&e),
        vec![(
            COORD,
            Msg::Vote {
                tx: tx2,
                yes: false
            }
        )]
    );
}

#[test]
fn with_the_bug_the_yes_vote_goes_out_before_the_fsync() {
    let m = model(TwoPcConfig {
        fsync_vote_before_reply: false,
        ..never_no()
    });
    let mut h = harness(&m, NodeId(1));
    h.start();
    let e = h.deliver(COORD, Msg::Prepare { tx: TX, key: 2 });
    assert_eq!(sends(&e), vec![(COORD, Msg::Vote { tx: TX, yes: true })]);
}

/// After a restart a participant rebuilds its doubt (and its locks) from the log alone.
#[test]
fn a_restarted_participant_is_still_in_doubt() {
    let m = model(never_no());
    let mut h = harness(&m, NodeId(1));
    h.start();
    let e = h.deliver(COORD, Msg::Prepare { tx: TX, key: 2 });
    h.io(fsyncs(&e)[0], true);
    h.node = m.boot(NodeId(1));
    h.start();
    let TpNode::Participant(p) = &h.node else {
        panic!("not a participant")
    };
    assert!(p.txs.contains_key(&TX));
    assert_eq!(p.locks.get(&2), Some(&TX));
    // When its timeout fires it asks the coordinator (2PC).
    let e = h.fire(Timer::InDoubt(TX));
    assert_eq!(sends(&e), vec![(COORD, Msg::DecisionReq { tx: TX })]);
}

/// Drives a coordinator until the first transaction's votes are all yes.
fn coordinator_with_votes(cfg: TwoPcConfig) -> (Harness<TpNode>, Vec<Effect<TpNode>>) {
    let m = model(cfg);
    let mut h = harness(&m, COORD);
    let e = h.start();
    assert_eq!(fsyncs(&e), vec![0], "the epoch is made durable first");
    h.io(0, true);
    let e = h.fire(Timer::NextTx);
    let prepares = sends(&e);
    assert_eq!(prepares.len(), 3);
    let mut last = Vec::new();
    for p in 1..=3 {
        last = h.deliver(NodeId(p), Msg::Vote { tx: TX, yes: true });
    }
    (h, last)
}

/// Gray 1978 §5.8.3.3: the commit record is forced before COMMIT is sent.
#[test]
fn the_coordinator_logs_its_decision_before_sending_it() {
    let (mut h, e) = coordinator_with_votes(never_no());
    assert!(sends(&e).is_empty(), "sent the decision before logging it");
    let t = fsyncs(&e)[0];
    let e = h.io(t, true);
    let out = sends(&e);
    assert_eq!(out.len(), 3);
    assert!(out.iter().all(|(_, m)| *m
        == Msg::Decision {
            tx: TX,
            outcome: Outcome::Commit
        }));
}

#[test]
fn with_the_bug_the_decision_goes_out_before_it_is_durable() {
    let (_, e) = coordinator_with_votes(TwoPcConfig {
        log_decision_before_send: false,
        ..never_no()
    });
    assert_eq!(sends(&e).len(), 3);
}

/// After a restart: commit for what the log says committed, abort for what it does not
/// know (presumed abort), silence for the new epoch's transactions still deciding.
#[test]
fn a_restarted_coordinator_answers_from_its_log() {
    let m = model(never_no());
    let (mut h, e) = coordinator_with_votes(never_no());
    h.io(fsyncs(&e)[0], true);
    h.node = m.boot(COORD);
    h.start();
    h.io(0, true);
    let e = h.deliver(NodeId(2), Msg::DecisionReq { tx: TX });
    assert_eq!(
        sends(&e),
        vec![(
            NodeId(2),
            Msg::Decision {
                tx: TX,
                outcome: Outcome::Commit
            }
        )]
    );
    let unknown = TxId { epoch: 1, seq: 9 };
    let e = h.deliver(NodeId(2), Msg::DecisionReq { tx: unknown });
    assert_eq!(
        sends(&e),
        vec![(
            NodeId(2),
            Msg::Decision {
                tx: unknown,
                outcome: Outcome::Abort
            }
        )]
    );
}

/// BHG §7.4, cooperative termination: a participant that never voted aborts on its own
/// when a peer asks, answers abort, and then votes no.
#[test]
fn cooperative_termination_a_peer_that_never_voted_answers_abort() {
    let m = model(TwoPcConfig {
        cooperative_termination: true,
        ..never_no()
    });
    let mut h = harness(&m, NodeId(2));
    h.start();
    let e = h.deliver(NodeId(1), Msg::DecisionReq { tx: TX });
    assert!(
        sends(&e).is_empty(),
        "answered before the abort was durable"
    );
    let e = h.io(fsyncs(&e)[0], true);
    assert_eq!(
        sends(&e),
        vec![(
            NodeId(1),
            Msg::Decision {
                tx: TX,
                outcome: Outcome::Abort
            }
        )]
    );
    let e = h.deliver(COORD, Msg::Prepare { tx: TX, key: 0 });
    assert_eq!(sends(&e), vec![(COORD, Msg::Vote { tx: TX, yes: false })]);
    // And one in doubt asks its peers as well as the coordinator.
    let mut h = harness(&m, NodeId(1));
    h.start();
    let e = h.deliver(COORD, Msg::Prepare { tx: TX, key: 0 });
    h.io(fsyncs(&e)[0], true);
    let e = h.fire(Timer::InDoubt(TX));
    let to: Vec<NodeId> = sends(&e).into_iter().map(|(n, _)| n).collect();
    assert_eq!(to, vec![COORD, NodeId(2), NodeId(3)]);
}

fn three_phase_in_doubt(id: NodeId) -> (TwoPc, Harness<TpNode>) {
    let m = model(TwoPcConfig {
        protocol: dsim_twopc::Protocol::ThreePhase,
        ..never_no()
    });
    let mut h = harness(&m, id);
    h.start();
    let e = h.deliver(COORD, Msg::Prepare { tx: TX, key: 0 });
    h.io(fsyncs(&e)[0], true);
    (m, h)
}

fn decision_of(h: &Harness<TpNode>) -> Option<Outcome> {
    let TpNode::Participant(p) = &h.node else {
        panic!("not a participant")
    };
    p.decided.get(&TX).copied()
}

/// Skeen 1981 / BHG §7.5: an uncertain participant that times out asks its peers; the
/// lowest-numbered one that answered leads, and with everyone uncertain it aborts. A
/// second timeout while the round is collecting does not restart it.
#[test]
fn three_phase_termination_all_uncertain_aborts() {
    let (_, mut h) = three_phase_in_doubt(NodeId(1));
    let e = h.fire(Timer::InDoubt(TX));
    let asked: Vec<NodeId> = sends(&e).into_iter().map(|(n, _)| n).collect();
    assert_eq!(asked, vec![NodeId(2), NodeId(3)]);
    let e = h.fire(Timer::InDoubt(TX));
    assert!(sends(&e).is_empty(), "a second timeout restarted the round");
    for p in [2, 3] {
        h.deliver(
            NodeId(p),
            Msg::StateReport {
                tx: TX,
                state: dsim_twopc::msg::TermState::Uncertain,
                recovering: false,
            },
        );
    }
    let e = h.fire(Timer::TermCollect(TX));
    assert_eq!(decision_of(&h), Some(Outcome::Abort));
    // Acting as coordinator, the leader tells no one before its decision is durable.
    assert!(
        sends(&e).is_empty(),
        "told its peers before the decision was durable"
    );
    let e = h.io(fsyncs(&e)[0], true);
    let told: Vec<NodeId> = sends(&e).into_iter().map(|(n, _)| n).collect();
    assert_eq!(told, vec![NodeId(2), NodeId(3)]);
}

/// A pre-committed peer means everyone voted yes: the leader commits.
#[test]
fn three_phase_termination_a_precommitted_peer_means_commit() {
    let (_, mut h) = three_phase_in_doubt(NodeId(1));
    h.fire(Timer::InDoubt(TX));
    h.deliver(
        NodeId(3),
        Msg::StateReport {
            tx: TX,
            state: dsim_twopc::msg::TermState::PreCommitted,
            recovering: false,
        },
    );
    h.fire(Timer::TermCollect(TX));
    assert_eq!(decision_of(&h), Some(Outcome::Commit));
}

/// Not the leader, but a peer has already decided: that settles it (seed 18 of
/// 3pc-coordinator-crash blocked forever before this rule).
#[test]
fn three_phase_termination_a_decided_peer_settles_it_for_a_non_leader() {
    let (_, mut h) = three_phase_in_doubt(NodeId(2));
    h.fire(Timer::InDoubt(TX));
    h.deliver(
        NodeId(1),
        Msg::StateReport {
            tx: TX,
            state: dsim_twopc::msg::TermState::Aborted,
            recovering: false,
        },
    );
    h.fire(Timer::TermCollect(TX));
    assert_eq!(decision_of(&h), Some(Outcome::Abort));
    // Without a decided peer, a non-leader waits for the leader.
    let (_, mut h) = three_phase_in_doubt(NodeId(2));
    h.fire(Timer::InDoubt(TX));
    h.deliver(
        NodeId(1),
        Msg::StateReport {
            tx: TX,
            state: dsim_twopc::msg::TermState::Uncertain,
            recovering: false,
        },
    );
    h.fire(Timer::TermCollect(TX));
    assert_eq!(decision_of(&h), None);
}

fn report(state: TermState, recovering: bool) -> Msg {
    Msg::StateReport {
        tx: TX,
        state,
        recovering,
    }
}

/// A 3PC participant in doubt that crashed and restarted (its log alone survives).
fn three_phase_recovering(id: NodeId) -> Harness<TpNode> {
    let (m, mut h) = three_phase_in_doubt(id);
    h.node = m.boot(id);
    h.start();
    h
}

/// Skeen 1981 (recovery protocol), BHG §7.5: a participant that restarts in doubt is
/// recovering, not operational. It asks its peers and the coordinator, says it is
/// recovering, never decides by the termination rule alone, and adopts a decision from a
/// peer that holds one. (With `recovery_protocol = false` it aborted on its own here, and
/// atomicity broke: tests/switches.rs.)
#[test]
fn three_phase_a_recovering_participant_never_decides_alone() {
    let mut h = three_phase_recovering(NodeId(1));
    let e = h.fire(Timer::InDoubt(TX));
    let asked: Vec<NodeId> = sends(&e).into_iter().map(|(n, _)| n).collect();
    assert_eq!(asked, vec![COORD, NodeId(2), NodeId(3)]);
    // Nobody answers: the old rule would abort ("all uncertain"); it waits.
    h.fire(Timer::TermCollect(TX));
    assert_eq!(decision_of(&h), None);
    // Asked for its state, it reports it as a recovering site's.
    let e = h.deliver(NodeId(2), Msg::StateReq { tx: TX });
    assert_eq!(
        sends(&e),
        vec![(NodeId(2), report(TermState::Uncertain, true))]
    );
    // Operational peers all uncertain: they elect participant-2, not this one.
    h.fire(Timer::InDoubt(TX));
    h.deliver(NodeId(2), report(TermState::Uncertain, false));
    h.fire(Timer::TermCollect(TX));
    assert_eq!(decision_of(&h), None);
    // A peer that committed while it was down settles it.
    h.fire(Timer::InDoubt(TX));
    h.deliver(NodeId(3), report(TermState::Committed, false));
    h.fire(Timer::TermCollect(TX));
    assert_eq!(decision_of(&h), Some(Outcome::Commit));
}

/// With the switch off it rejoins as an operational site and, alone, aborts.
#[test]
fn three_phase_without_the_recovery_protocol_a_restarted_participant_aborts_alone() {
    let m = model(TwoPcConfig {
        protocol: dsim_twopc::Protocol::ThreePhase,
        recovery_protocol: false,
        ..never_no()
    });
    let mut h = harness(&m, NodeId(1));
    h.start();
    let e = h.deliver(COORD, Msg::Prepare { tx: TX, key: 0 });
    h.io(fsyncs(&e)[0], true);
    h.node = m.boot(NodeId(1));
    h.start();
    h.fire(Timer::InDoubt(TX));
    h.fire(Timer::TermCollect(TX));
    assert_eq!(decision_of(&h), Some(Outcome::Abort));
}

/// An operational participant leads even when a lower-numbered recovering one answered.
#[test]
fn three_phase_recovering_participants_are_not_elected() {
    let (_, mut h) = three_phase_in_doubt(NodeId(2));
    h.fire(Timer::InDoubt(TX));
    h.deliver(NodeId(1), report(TermState::Uncertain, true));
    h.deliver(NodeId(3), report(TermState::Uncertain, false));
    h.fire(Timer::TermCollect(TX));
    assert_eq!(decision_of(&h), Some(Outcome::Abort));
}

/// When every participant has answered and none decided, the full picture decides: a
/// pre-committed one means commit; all uncertain means abort only if the coordinator
/// reported it never decided.
#[test]
fn three_phase_recovering_participants_decide_once_everyone_answered() {
    let mut h = three_phase_recovering(NodeId(1));
    h.fire(Timer::InDoubt(TX));
    h.deliver(NodeId(2), report(TermState::Uncertain, true));
    h.deliver(NodeId(3), report(TermState::Uncertain, true));
    h.fire(Timer::TermCollect(TX));
    assert_eq!(decision_of(&h), None, "all uncertain, coordinator silent");
    h.fire(Timer::InDoubt(TX));
    h.deliver(NodeId(2), report(TermState::Uncertain, true));
    h.deliver(NodeId(3), report(TermState::Uncertain, true));
    h.deliver(COORD, report(TermState::Uncertain, true));
    h.fire(Timer::TermCollect(TX));
    assert_eq!(decision_of(&h), Some(Outcome::Abort));

    let mut h = three_phase_recovering(NodeId(1));
    h.fire(Timer::InDoubt(TX));
    h.deliver(NodeId(2), report(TermState::PreCommitted, true));
    h.deliver(NodeId(3), report(TermState::Uncertain, true));
    h.fire(Timer::TermCollect(TX));
    assert_eq!(decision_of(&h), Some(Outcome::Commit));
}

/// A restarted 3PC coordinator presumes nothing: with no record it says it never decided.
#[test]
fn a_restarted_three_phase_coordinator_does_not_presume_abort() {
    let cfg = TwoPcConfig {
        protocol: dsim_twopc::Protocol::ThreePhase,
        ..never_no()
    };
    let m = model(cfg);
    let mut h = harness(&m, COORD);
    h.start();
    h.io(0, true);
    h.node = m.boot(COORD);
    h.start();
    h.io(0, true);
    let e = h.deliver(NodeId(2), Msg::DecisionReq { tx: TX });
    assert_eq!(
        sends(&e),
        vec![(NodeId(2), report(TermState::Uncertain, true))]
    );
}
