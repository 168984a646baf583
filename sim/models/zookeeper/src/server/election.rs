//! Fast Leader Election (ZooKeeper's `FastLeaderElection`; Medeiros 2012; the spec
//! `zookeeper-specifications/system-spec/zk-3.7/FastLeaderElection.tla` in apache/zookeeper).
//!
//! A LOOKING server bumps its logical clock (election epoch), votes for itself with
//! (currentEpoch, last zxid, sid) and sends notifications to every server. On a
//! notification from a LOOKING peer of the same round it adopts the better vote (see
//! `zxid::vote_beats`) and re-broadcasts; a newer round resets its tally; a peer on an
//! older round is answered with our vote. When a quorum's latest votes agree with its
//! own, it waits `finalizeWait` (200 ms) for a better vote, then decides. A notification
//! from a FOLLOWING/LEADING peer counts towards joining an existing leader (when a quorum
//! reports following a leader that says it is LEADING).

use std::collections::BTreeMap;

use crate::env::ZkEnv;
use crate::msg::{PeerState, ZkMsg};
use crate::timer::{ServerTimer, ZkTimer};
use crate::zxid::{vote_beats, Vote};
use dsim_core::NodeId;

use super::{Role, ZkServer};

/// `finalizeWait`.
pub const FINALIZE_WAIT_NS: u64 = 200_000_000;
/// First resend interval; doubles up to `RESEND_MAX_NS`.
pub const RESEND_MIN_NS: u64 = 200_000_000;
pub const RESEND_MAX_NS: u64 = 3_200_000_000;

/// Notifications waiting for an earlier one from the same sender.
pub const NOTIFY_BUFFER_MAX: usize = 8;
/// How long a gap in a sender's notifications is waited for.
pub const NOTIFY_GAP_NS: u64 = 100_000_000;

/// The FIFO receive side of one sender's notifications.
#[derive(Clone, Debug)]
pub struct NotifyQueue {
    pub inc: u64,
    pub next: u64,
    /// seq -> (vote, round, state, arrival time)
    pub buf: BTreeMap<u64, (Vote, u64, PeerState, u64)>,
}

/// State of one election round.
#[derive(Clone, Debug, Default)]
pub struct Election {
    pub proposal: Vote,
    /// Latest vote of each LOOKING server in this round (self included).
    pub recv: BTreeMap<u32, Vote>,
    /// Votes reported by servers that are FOLLOWING or LEADING.
    pub out_of_election: BTreeMap<u32, (Vote, PeerState)>,
    pub resend_ns: u64,
    pub finalizing: bool,
}

impl ZkServer {
    fn own_vote(&self) -> Vote {
        Vote {
            leader: self.cfg.sid,
            zxid: self.last_zxid(),
            peer_epoch: self.current_epoch,
        }
    }

    /// Enters LOOKING and starts a new round.
    pub(crate) fn start_looking(&mut self, env: &mut impl ZkEnv) {
        let was = self.state_name();
        self.set_role(env, Role::Looking(Election::default()));
        self.looking_since_ns = env.now();
        self.election_epoch += 1;
        let vote = self.own_vote();
        let sid = self.cfg.sid;
        if let Role::Looking(e) = &mut self.role {
            e.proposal = vote;
            e.recv.insert(sid, vote);
            e.resend_ns = RESEND_MIN_NS;
        }
        env.note(
            "looking",
            format!("was {was}; round {} votes {vote}", self.election_epoch),
        );
        env.cancel_timer(ZkTimer::Server(ServerTimer::Finalize));
        self.broadcast_vote(env);
        env.set_timer(ZkTimer::Server(ServerTimer::ElectionResend), RESEND_MIN_NS);
        // A one-server ensemble is its own quorum.
        if self.quorum() <= 1 {
            if let Role::Looking(e) = &mut self.role {
                e.finalizing = true;
            }
            env.set_timer(ZkTimer::Server(ServerTimer::Finalize), FINALIZE_WAIT_NS);
        }
    }

    /// Our current vote as a notification for `to` (sequence numbers are per link).
    fn notification(&mut self, to: NodeId) -> ZkMsg {
        let (vote, state) = match &self.role {
            Role::Looking(e) => (e.proposal, PeerState::Looking),
            Role::Following(_) => (self.vote, PeerState::Following),
            Role::Leading(_) => (self.vote, PeerState::Leading),
        };
        let seq = self.notify_seq.entry(to.0).or_insert(0);
        *seq += 1;
        ZkMsg::Notification {
            sid: self.cfg.sid,
            inc: self.incarnation,
            seq: *seq,
            vote,
            election_epoch: self.election_epoch,
            state,
        }
    }

    fn broadcast_vote(&mut self, env: &mut impl ZkEnv) {
        let peers = self.cfg.peers.clone();
        for (i, p) in peers.iter().enumerate() {
            if i as u32 + 1 != self.cfg.sid {
                let n = self.notification(*p);
                env.send(*p, n);
            }
        }
    }

    pub(crate) fn on_election_resend(&mut self, env: &mut impl ZkEnv) {
        let Role::Looking(e) = &mut self.role else {
            return;
        };
        e.resend_ns = (e.resend_ns * 2).min(RESEND_MAX_NS);
        let next = e.resend_ns;
        self.broadcast_vote(env);
        env.set_timer(ZkTimer::Server(ServerTimer::ElectionResend), next);
    }

    /// Delivers notifications from each sender in the order they were sent (FLE's
    /// connections are TCP), buffering early ones. A gap that does not fill within
    /// `NOTIFY_GAP_NS` (the message was lost, or cut by a partition) is skipped, as a
    /// reconnected TCP connection would move on.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn on_notification(
        &mut self,
        env: &mut impl ZkEnv,
        from: NodeId,
        sid: u32,
        inc: u64,
        seq: u64,
        vote: Vote,
        round: u64,
        state: PeerState,
    ) {
        let now = env.now();
        let q = self.notify_in.entry(sid).or_insert_with(|| NotifyQueue {
            inc,
            next: seq,
            buf: BTreeMap::new(),
        });
        if q.inc != inc {
            *q = NotifyQueue {
                inc,
                next: seq,
                buf: BTreeMap::new(),
            };
        }
        if seq < q.next {
            return;
        }
        q.buf.insert(seq, (vote, round, state, now));
        self.drain_notifications(env, from, sid);
    }

    /// Hands over every notification of `sid` that is next in line (or waited too long).
    pub(crate) fn drain_notifications(&mut self, env: &mut impl ZkEnv, from: NodeId, sid: u32) {
        let now = env.now();
        loop {
            let Some(q) = self.notify_in.get_mut(&sid) else {
                return;
            };
            let Some((&first, &(_, _, _, at))) = q.buf.iter().next() else {
                return;
            };
            if first != q.next {
                if q.buf.len() <= NOTIFY_BUFFER_MAX && now.saturating_sub(at) < NOTIFY_GAP_NS {
                    return;
                }
                q.next = first;
            }
            let Some((vote, round, state, _)) = q.buf.remove(&first) else {
                return;
            };
            q.next += 1;
            self.handle_notification(env, from, sid, vote, round, state);
        }
    }

    /// Skips stale gaps in every sender's queue (called every tick).
    pub(crate) fn flush_notifications(&mut self, env: &mut impl ZkEnv) {
        let sids: Vec<u32> = self
            .notify_in
            .iter()
            .filter(|(_, q)| !q.buf.is_empty())
            .map(|(s, _)| *s)
            .collect();
        for sid in sids {
            if let Some(node) = self.cfg.node_of(sid) {
                self.drain_notifications(env, node, sid);
            }
        }
    }

    fn handle_notification(
        &mut self,
        env: &mut impl ZkEnv,
        from: NodeId,
        sid: u32,
        vote: Vote,
        round: u64,
        state: PeerState,
    ) {
        if self.cfg.sid_of(from) != Some(sid) {
            return;
        }

        let bug = self.cfg.bugs.non_transitive_vote_order;
        let own = self.own_vote();
        let quorum = self.quorum();
        let my_round = self.election_epoch;
        let me = self.cfg.sid;
        let Role::Looking(e) = &mut self.role else {
            // Not looking: tell a looking peer who leads.
            if state == PeerState::Looking {
                let n = self.notification(from);
                env.send(from, n);
            }
            return;
        };
        match state {
            PeerState::Looking => {
                let mut changed = false;
                if round > my_round {
                    self.election_epoch = round;
                    e.recv.clear();
                    e.proposal = if vote_beats(&vote, &own, bug) {
                        vote
                    } else {
                        own
                    };
                    changed = true;
                } else if round < my_round {
                    let n = self.notification(from);
                    env.send(from, n);
                    return;
                } else if vote_beats(&vote, &e.proposal, bug) {
                    e.proposal = vote;
                    changed = true;
                }
                e.recv.insert(sid, vote);
                e.recv.insert(me, e.proposal);
                if changed {
                    e.finalizing = false;
                    env.cancel_timer(ZkTimer::Server(ServerTimer::Finalize));
                    self.broadcast_vote(env);
                }
                let Role::Looking(e) = &mut self.role else {
                    return;
                };
                let agree = e.recv.values().filter(|v| **v == e.proposal).count();
                if agree >= quorum && !e.finalizing {
                    e.finalizing = true;
                    env.set_timer(ZkTimer::Server(ServerTimer::Finalize), FINALIZE_WAIT_NS);
                }
            }
            PeerState::Following | PeerState::Leading => {
                e.out_of_election.insert(sid, (vote, state));
                if round == my_round {
                    e.recv.insert(sid, vote);
                }
                let same = |v: &Vote| v.leader == vote.leader && v.peer_epoch == vote.peer_epoch;
                let leader_says_so = vote.leader == me
                    || e.out_of_election
                        .get(&vote.leader)
                        .is_some_and(|(v, s)| *s == PeerState::Leading && same(v));
                let backers = e.out_of_election.values().filter(|(v, _)| same(v)).count();
                if leader_says_so && backers + 1 >= quorum && vote.leader != me {
                    self.election_epoch = self.election_epoch.max(round);
                    self.decide(env, vote);
                }
            }
        }
    }

    pub(crate) fn on_finalize(&mut self, env: &mut impl ZkEnv) {
        let quorum = self.quorum();
        let Role::Looking(e) = &mut self.role else {
            return;
        };
        e.finalizing = false;
        let agree = e.recv.values().filter(|v| **v == e.proposal).count();
        if agree >= quorum {
            let v = e.proposal;
            self.decide(env, v);
        }
    }

    fn decide(&mut self, env: &mut impl ZkEnv, vote: Vote) {
        env.cancel_timer(ZkTimer::Server(ServerTimer::ElectionResend));
        env.cancel_timer(ZkTimer::Server(ServerTimer::Finalize));
        self.vote = vote;
        env.note(
            "elected",
            format!("round {} decided on {vote}", self.election_epoch),
        );
        if vote.leader == self.cfg.sid {
            self.become_leader(env);
        } else {
            self.become_follower(env, vote.leader);
        }
        // Tell the others (they may still be looking).
        self.broadcast_vote(env);
    }
}
