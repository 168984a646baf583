//! A replica of the quorum register: it keeps, per key, the value with the highest tag it
//! has seen, and answers two requests (ABD's server side):
//!
//! - `Get`: reply with what it holds;
//! - `Put`: adopt the value if its tag is higher, then acknowledge — but only once what it
//!   holds is on disk. An acknowledgement is a promise that survives a crash; with
//!   `fsync_before_ack = false` (a bug switch) it is a promise kept in memory only, and a
//!   crash breaks it.
//!
//! State on disk: one file per key, `reg-<key>`, holding the tag and value with a
//! checksum, replaced atomically (write a temporary file, rename it over the old one), so
//! a crash leaves the old record or the new one. A corrupted file is detected at start
//! and the key starts empty (noted as `corrupt-state`), as a real replica without a repair
//! path would — and then `acked-tag-durable` reports the loss.

use std::collections::BTreeMap;

use dsim_core::digest::Digest;
use dsim_core::{Ctx, IoDone, NodeId, Observation};

use crate::msg::{Msg, Round, Tag, Versioned};
use crate::QNode;

const RECORD_BYTES: usize = 8 + 4 + 4 + 1 + 8 + 8;

/// Encodes a register for disk: counter, writer, session, has-value, value, checksum.
pub fn encode(v: &Versioned) -> Vec<u8> {
    let mut out = Vec::with_capacity(RECORD_BYTES);
    out.extend_from_slice(&v.tag.counter.to_le_bytes());
    out.extend_from_slice(&v.tag.writer.to_le_bytes());
    out.extend_from_slice(&v.tag.session.to_le_bytes());
    out.push(v.value.is_some() as u8);
    out.extend_from_slice(&v.value.unwrap_or(0).to_le_bytes());
    let sum = Digest::of(&out);
    out.extend_from_slice(&sum.to_le_bytes());
    out
}

/// Decodes a register; None when the bytes are torn or corrupted.
pub fn decode(bytes: &[u8]) -> Option<Versioned> {
    if bytes.len() != RECORD_BYTES {
        return None;
    }
    let (body, sum) = bytes.split_at(RECORD_BYTES - 8);
    if Digest::of(body).to_le_bytes() != sum {
        return None;
    }
    let counter = u64::from_le_bytes(body[0..8].try_into().ok()?);
    let writer = u32::from_le_bytes(body[8..12].try_into().ok()?);
    let session = u32::from_le_bytes(body[12..16].try_into().ok()?);
    let value = match body[16] {
        0 => None,
        1 => Some(i64::from_le_bytes(body[17..25].try_into().ok()?)),
        _ => return None,
    };
    Some(Versioned {
        tag: Tag {
            counter,
            writer,
            session,
        },
        value,
    })
}

pub fn file_name(key: u32) -> String {
    format!("reg-{key}")
}

/// Per-key durable state as the disk holds it now (for checkers).
pub fn durable_state(disk: &dsim_core::Disk, keys: u32) -> Vec<Versioned> {
    (0..keys)
        .map(|k| {
            disk.durable(&file_name(k))
                .and_then(decode)
                .unwrap_or_default()
        })
        .collect()
}

#[derive(Debug)]
pub struct Replica {
    pub keys: Vec<Versioned>,
    /// Highest tag acknowledged per key during this incarnation (for the invariant).
    pub acked: Vec<Tag>,
    fsync_before_ack: bool,
    /// Acks waiting for the fsync with this token: (client, key, round, tag held).
    waiting: BTreeMap<u64, Vec<(NodeId, u32, Round, Tag)>>,
    next_token: u64,
    /// The token of an fsync requested after the last write, if any.
    covering: Option<u64>,
}

impl Replica {
    pub fn new(keys: u32, fsync_before_ack: bool) -> Self {
        Replica {
            keys: vec![Versioned::default(); keys as usize],
            acked: vec![Tag::default(); keys as usize],
            fsync_before_ack,
            waiting: BTreeMap::new(),
            next_token: 1,
            covering: None,
        }
    }

    pub fn on_start(&mut self, ctx: &mut Ctx<'_, QNode>) {
        for k in 0..self.keys.len() as u32 {
            let name = file_name(k);
            if let Some(bytes) = ctx.disk().read(&name) {
                match decode(bytes) {
                    Some(v) => self.keys[k as usize] = v,
                    None => ctx.note(
                        "corrupt-state",
                        format!("{name} failed its checksum; key {k} starts empty"),
                    ),
                }
            }
        }
    }

    pub fn on_message(&mut self, ctx: &mut Ctx<'_, QNode>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Get { key, round } => {
                let Some(held) = self.keys.get(key as usize).copied() else {
                    return;
                };
                ctx.send(from, Msg::GetReply { key, round, held });
            }
            Msg::Put {
                key,
                round,
                versioned,
                op,
            } => {
                let Some(held) = self.keys.get(key as usize).copied() else {
                    return;
                };
                if versioned.tag > held.tag {
                    // Store first: a value the disk refused (full) is neither adopted nor
                    // acknowledged, so this replica never promises what it cannot keep.
                    if ctx
                        .disk()
                        .put_atomic(&file_name(key), &encode(&versioned))
                        .is_err()
                    {
                        ctx.note(
                            "disk-full",
                            format!(
                                "could not store key {key} at {}; not acknowledged",
                                versioned.tag
                            ),
                        );
                        return;
                    }
                    self.keys[key as usize] = versioned;
                    match op {
                        Some(op) => ctx.applied(op),
                        None => ctx.reached("write-back-repaired"),
                    }
                    ctx.metric("tag", versioned.tag.counter as i64);
                    self.covering = None;
                }
                let tag = self.keys[key as usize].tag;
                if !ctx.disk().has_unsynced() {
                    self.ack(ctx, from, key, round, tag);
                    return;
                }
                // An fsync that covers what we hold now: one already asked for, or a new one.
                let token = match self.covering {
                    Some(t) => t,
                    None => {
                        let t = self.next_token;
                        self.next_token += 1;
                        ctx.fsync(t);
                        self.covering = Some(t);
                        t
                    }
                };
                if self.fsync_before_ack {
                    self.waiting
                        .entry(token)
                        .or_default()
                        .push((from, key, round, tag));
                } else {
                    // The bug: the disk syncs in the background, but the promise is made now.
                    self.ack(ctx, from, key, round, tag);
                }
            }
            Msg::GetReply { .. } | Msg::PutAck { .. } => {}
        }
    }

    /// Acknowledges a store to `to`, recording the promise for the invariant.
    fn ack(&mut self, ctx: &mut Ctx<'_, QNode>, to: NodeId, key: u32, round: Round, tag: Tag) {
        let a = &mut self.acked[key as usize];
        *a = (*a).max(tag);
        ctx.send(to, Msg::PutAck { key, round });
    }

    pub fn on_io(&mut self, ctx: &mut Ctx<'_, QNode>, done: IoDone) {
        if self.covering == Some(done.token) {
            self.covering = None;
        }
        let Some(acks) = self.waiting.remove(&done.token) else {
            return;
        };
        if !done.ok {
            ctx.note(
                "fsync-failed",
                format!(
                    "fsync {} failed; {} ack(s) withheld",
                    done.token,
                    acks.len()
                ),
            );
            return;
        }
        for (to, key, round, tag) in acks {
            self.ack(ctx, to, key, round, tag);
        }
    }

    pub fn observe(&self) -> Observation {
        Observation {
            state: "replica",
            fields: vec![(
                "tag",
                self.keys.iter().map(|v| v.tag.counter).max().unwrap_or(0) as i64,
            )],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_detect_damage() {
        let v = Versioned {
            tag: Tag {
                counter: 7,
                writer: 4,
                session: 9,
            },
            value: Some(-12),
        };
        let bytes = encode(&v);
        assert_eq!(decode(&bytes), Some(v));
        let empty = Versioned::default();
        assert_eq!(decode(&encode(&empty)), Some(empty));
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x10;
            assert_eq!(decode(&bad), None, "flipped byte {i} went unnoticed");
        }
        assert_eq!(decode(&bytes[..bytes.len() - 1]), None);
    }

    #[test]
    fn tags_order_by_counter_then_writer() {
        let t = |c, w| Tag {
            counter: c,
            writer: w,
            session: 0,
        };
        assert!(t(2, 0) > t(1, 9));
        assert!(t(2, 5) > t(2, 4));
    }
}
