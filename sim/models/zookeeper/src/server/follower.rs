//! The follower's side of Zab (ZooKeeper's `Follower`/`Learner`).
//!
//! It opens a link to the leader it elected (FOLLOWERINFO), makes the new epoch durable
//! as `acceptedEpoch` before ACKEPOCH, applies the leader's TRUNC/DIFF/SNAP, makes the
//! synchronized history durable, then `currentEpoch`, and only then acknowledges NEWLEADER
//! (the order ZOOKEEPER-4785 and the 4643/4646 fixes settled on; the bug switch writes the
//! epoch and acknowledges first, as 3.6.3-3.9.1 did after ZOOKEEPER-3911), starts serving at
//! UPTODATE, and then logs, fsyncs and acknowledges each proposal and applies each
//! commit. A leader silent for `syncLimit` ticks (or a sync not done within `initLimit`)
//! sends it back to LOOKING.

use std::collections::{BTreeMap, BTreeSet};

use dsim_core::{NodeId, Rng};

use crate::env::ZkEnv;
use crate::msg::{PeerMsg, ZkMsg};
use crate::zxid::Zxid;

use super::storage::Entry;
use super::{AfterSync, Role, ZkServer};

#[derive(Clone, Debug)]
pub struct Follower {
    pub leader_sid: u32,
    pub leader: NodeId,
    pub conn: u64,
    out_seq: u64,
    in_next: u64,
    buf: BTreeMap<u64, PeerMsg>,
    /// LEADERINFO received.
    pub got_epoch: bool,
    pub serving: bool,
    pub started_ns: u64,
    pub last_heard_ns: u64,
    /// Sessions touched by this server's clients since the last ping (sent to the
    /// leader's session tracker).
    pub touched: BTreeSet<u64>,
}

impl ZkServer {
    fn follower(&mut self) -> Option<&mut Follower> {
        match &mut self.role {
            Role::Following(f) => Some(f),
            _ => None,
        }
    }

    pub(crate) fn become_follower(&mut self, env: &mut impl ZkEnv, leader_sid: u32) {
        let Some(leader) = self.cfg.node_of(leader_sid) else {
            self.start_looking(env);
            return;
        };
        let now = env.now();
        let f = Follower {
            leader_sid,
            leader,
            conn: env.rng().gen::<u64>(),
            out_seq: 0,
            in_next: 0,
            buf: BTreeMap::new(),
            got_epoch: false,
            serving: false,
            started_ns: now,
            last_heard_ns: now,
            touched: BTreeSet::new(),
        };
        self.set_role(env, Role::Following(f));
        env.note(
            "following",
            format!("sid {} follows sid {leader_sid}", self.cfg.sid),
        );
        self.send_follower_info(env);
    }

    fn send_follower_info(&mut self, env: &mut impl ZkEnv) {
        let info = PeerMsg::FollowerInfo {
            sid: self.cfg.sid,
            accepted_epoch: self.accepted_epoch,
            last_zxid: self.last_zxid(),
        };
        let Some(f) = self.follower() else { return };
        let (leader, conn) = (f.leader, f.conn);
        f.out_seq = f.out_seq.max(1);
        env.send(
            leader,
            ZkMsg::Peer {
                conn,
                seq: 0,
                body: info,
            },
        );
    }

    pub(crate) fn follower_send(&mut self, env: &mut impl ZkEnv, body: PeerMsg) {
        let Some(f) = self.follower() else { return };
        let seq = f.out_seq;
        f.out_seq += 1;
        let (leader, conn) = (f.leader, f.conn);
        env.send(leader, ZkMsg::Peer { conn, seq, body });
    }

    pub(crate) fn follower_tick(&mut self, env: &mut impl ZkEnv) {
        let now = env.now();
        let tick = self.cfg.tick_ns;
        let init = tick * self.cfg.init_limit as u64;
        let sync = tick * self.cfg.sync_limit as u64;
        let Some(f) = self.follower() else { return };
        if !f.serving && now.saturating_sub(f.started_ns) > init {
            env.note(
                "init-limit",
                format!("not synced with sid {} within initLimit", f.leader_sid),
            );
            self.start_looking(env);
        } else if now.saturating_sub(f.last_heard_ns) > sync {
            env.note(
                "leader-silent",
                format!("nothing from sid {} for syncLimit", f.leader_sid),
            );
            self.start_looking(env);
        } else if !f.got_epoch {
            // The leader may not have been leading yet when FOLLOWERINFO arrived.
            self.send_follower_info(env);
        }
    }

    pub(crate) fn follower_on_peer(
        &mut self,
        env: &mut impl ZkEnv,
        from: NodeId,
        conn: u64,
        seq: u64,
        body: PeerMsg,
    ) {
        let now = env.now();
        let Some(f) = self.follower() else { return };
        if from != f.leader || conn != f.conn || seq < f.in_next {
            return;
        }
        f.buf.insert(seq, body);
        loop {
            let Some(f) = self.follower() else { return };
            let next = f.in_next;
            let Some(msg) = f.buf.remove(&next) else {
                return;
            };
            f.in_next += 1;
            // Only progress counts as hearing from the peer: a gap (a lost message)
            // stalls the link until the sync limit drops it, as a broken TCP
            // connection would.
            f.last_heard_ns = now;
            self.follower_handle(env, msg);
        }
    }

    fn follower_handle(&mut self, env: &mut impl ZkEnv, msg: PeerMsg) {
        match msg {
            PeerMsg::LeaderInfo { new_epoch } => {
                if let Some(f) = self.follower() {
                    f.got_epoch = true;
                }
                if new_epoch > self.accepted_epoch {
                    self.accepted_epoch = new_epoch;
                    self.persist_epochs(env);
                    let gen = self.role_gen;
                    self.fsync(env, AfterSync::AckEpoch { gen });
                } else if new_epoch == self.accepted_epoch {
                    self.follower_ack_epoch(env);
                } else {
                    env.note(
                        "epoch-refused",
                        format!(
                            "leader proposes epoch {new_epoch} < accepted {}",
                            self.accepted_epoch
                        ),
                    );
                    self.start_looking(env);
                }
            }
            PeerMsg::Sync {
                trunc,
                snap,
                txns,
                commit_upto,
                new_epoch,
            } => {
                if let Some(t) = trunc {
                    self.truncate_after(env, t);
                }
                if let Some(s) = snap {
                    self.install_snapshot(env, *s);
                }
                let bug = self.cfg.bugs.ack_newleader_before_sync_durable;
                if bug {
                    // ZOOKEEPER-4643/4646 (the code after the ZOOKEEPER-3911 fix, 3.6.3 to
                    // 3.9.1): the synced txns are queued for asynchronous logging; only
                    // the epoch is written before the ack.
                    self.hold_writes = true;
                }
                // The leader's outstanding proposals come with the sync: they still need
                // this follower's ACK, after the NEWLEADER ack, once durable.
                let mut acks = Vec::new();
                for (zxid, txn) in txns {
                    if zxid > self.last_zxid() {
                        self.append(env, Entry { zxid, txn });
                        if zxid > commit_upto {
                            acks.push(zxid);
                        }
                    }
                }
                self.commit_upto(env, commit_upto);
                let gen = self.role_gen;
                if bug {
                    self.current_epoch = new_epoch;
                    self.persist_epochs(env);
                    self.fsync(
                        env,
                        AfterSync::AckNewLeader {
                            gen,
                            epoch: new_epoch,
                            acks,
                        },
                    );
                } else {
                    // The fix: the synced txns are durable before `currentEpoch` is
                    // written, and both before the NEWLEADER ack.
                    self.fsync(
                        env,
                        AfterSync::SyncedTxnsDurable {
                            gen,
                            epoch: new_epoch,
                            acks,
                        },
                    );
                }
            }
            PeerMsg::UpToDate { commit_upto } => {
                self.commit_upto(env, commit_upto);
                if let Some(f) = self.follower() {
                    f.serving = true;
                }
                env.note(
                    "up-to-date",
                    format!("serving at {}", self.committed_zxid()),
                );
            }
            PeerMsg::Proposal { zxid, txn } => {
                if zxid <= self.last_zxid() {
                    return;
                }
                self.append(env, Entry { zxid, txn });
                self.to_ack.push(zxid);
                self.fsync(env, AfterSync::Nothing);
            }
            PeerMsg::Commit { zxid } => self.commit_upto(env, zxid),
            PeerMsg::SyncDone { session, cxid } => self.clients_sync_done(env, session, cxid),
            PeerMsg::Ping => {
                let touched: Vec<u64> = self
                    .follower()
                    .map(|f| std::mem::take(&mut f.touched).into_iter().collect())
                    .unwrap_or_default();
                self.follower_send(env, PeerMsg::PingReply { touched });
            }
            _ => {}
        }
    }

    pub(crate) fn follower_ack_epoch(&mut self, env: &mut impl ZkEnv) {
        let body = PeerMsg::AckEpoch {
            current_epoch: self.current_epoch,
            last_zxid: self.last_zxid(),
        };
        self.follower_send(env, body);
    }

    /// The synced transactions are on disk: make `currentEpoch` durable, then ack.
    pub(crate) fn follower_synced_txns_durable(
        &mut self,
        env: &mut impl ZkEnv,
        epoch: u32,
        acks: Vec<Zxid>,
    ) {
        self.current_epoch = epoch;
        self.persist_epochs(env);
        let gen = self.role_gen;
        self.fsync(env, AfterSync::AckNewLeader { gen, epoch, acks });
    }

    /// NEWLEADER's durable part is done: acknowledge it, then queue the ACKs of the
    /// proposals that came with the sync (sent once durable, after this one, as
    /// ZOOKEEPER-4685 requires). With the bug, the synced transactions are only now
    /// written to the log.
    pub(crate) fn follower_ack_newleader(
        &mut self,
        env: &mut impl ZkEnv,
        epoch: u32,
        acks: Vec<Zxid>,
    ) {
        self.follower_send(env, PeerMsg::AckNewLeader { epoch });
        self.to_ack.extend(acks);
        if self.hold_writes {
            self.hold_writes = false;
            self.write_pending(env);
            self.fsync(env, AfterSync::Nothing);
        }
    }

    /// Sessions of this server's clients were heard from.
    pub(crate) fn follower_touch(&mut self, session: u64) {
        if let Some(f) = self.follower() {
            f.touched.insert(session);
        }
    }
}
