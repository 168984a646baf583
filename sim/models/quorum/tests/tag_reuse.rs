//! The `unique_write_tags` switch: a client whose write timed out must not reuse that
//! write's tag. Step by step through the client's handlers (sans-IO), then end to end on
//! the two seeds of nwr-strict (out of 3,000) where the reuse breaks linearizability.

use dsim_core::harness::Harness;
use dsim_core::node::Effect;
use dsim_core::units::Probability;
use dsim_core::{Model, NodeId, Verdict};
use dsim_quorum::msg::{Msg, Round, Tag, Versioned};
use dsim_quorum::{QNode, Quorum, QuorumConfig, Timer};
use dsim_scenario::testing::{has_fired, Testbed};

const QUORUM: Testbed<QuorumConfig, Quorum> = Testbed::new("quorum", Quorum::new);

fn client(unique_write_tags: bool) -> Harness<QNode> {
    let model = Quorum::new(QuorumConfig {
        read_ratio: Probability::ZERO, // writes only
        unique_write_tags,
        ..QuorumConfig::default()
    })
    .expect("valid");
    let id = NodeId(3); // client-1, after three replicas
    Harness::new(model.boot(id), id, model.nodes(), 1)
}

fn round_of(out: &[Effect<QNode>]) -> Round {
    out.iter()
        .find_map(|o| match o {
            Effect::Send {
                msg: Msg::Get { round, .. },
                ..
            } => Some(*round),
            _ => None,
        })
        .expect("the operation starts with a query round")
}

fn stored_tag(out: &[Effect<QNode>]) -> Tag {
    out.iter()
        .find_map(|o| match o {
            Effect::Send {
                msg: Msg::Put { versioned, .. },
                ..
            } => Some(versioned.tag),
            _ => None,
        })
        .expect("a store round")
}

/// One write whose query round sees counter 5 at replicas `a` and `b`; returns its tag.
fn write_seeing_counter_5(h: &mut Harness<QNode>, a: u32, b: u32) -> (Tag, Round) {
    let round = round_of(&h.fire(Timer::Think));
    let held = Versioned {
        tag: Tag {
            counter: 5,
            writer: 9,
            session: 0,
        },
        value: Some(1),
    };
    assert!(h
        .deliver(
            NodeId(a),
            Msg::GetReply {
                key: 0,
                round,
                held
            }
        )
        .is_empty());
    let out = h.deliver(
        NodeId(b),
        Msg::GetReply {
            key: 0,
            round,
            held,
        },
    );
    (stored_tag(&out), round)
}

fn abandoned_then_next(unique: bool) -> (Tag, Tag) {
    let mut h = client(unique);
    h.start();
    // The first write stores at tag 6 and gets no acknowledgement in time: it times out.
    let (first, round) = write_seeing_counter_5(&mut h, 0, 1);
    let out = h.fire(Timer::OpTimeout(round.op_seq));
    assert!(out.iter().any(|o| matches!(
        o,
        Effect::Complete {
            outcome: dsim_core::Outcome::Info,
            ..
        }
    )));
    // The next write's query quorum misses the replica that took the abandoned write.
    let (second, _) = write_seeing_counter_5(&mut h, 1, 2);
    (first, second)
}

#[test]
fn a_timed_out_write_never_lends_its_tag_to_the_next() {
    let (first, second) = abandoned_then_next(true);
    assert_eq!(first.counter, 6);
    assert!(
        second > first,
        "{second:?} must be above the abandoned {first:?}"
    );
}

#[test]
fn with_the_switch_off_the_tag_is_reused() {
    let (first, second) = abandoned_then_next(false);
    assert_eq!(first, second, "the bug: two writes, one tag");
}

/// End to end: the linearizability checker fires with the bug on, and not with it off.
#[test]
fn linearizability_catches_the_reuse_on_known_seeds() {
    let scenario = QUORUM.scenario("nwr-strict.toml");
    let cfg = QUORUM.config(&scenario);
    for seed in [2579, 2736] {
        let run = |unique_write_tags| {
            let cfg = QuorumConfig {
                unique_write_tags,
                ..cfg.clone()
            };
            QUORUM.run(cfg, &scenario.run, seed)
        };
        let bug = run(false);
        assert!(
            has_fired(&bug, "linearizable"),
            "seed {seed}: the reuse went unnoticed ({:?})",
            bug.verdict
        );
        assert_eq!(run(true).verdict, Verdict::Valid, "seed {seed}");
    }
}
