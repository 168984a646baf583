//! The run digest: one 64-bit fingerprint folded over every event (time, sequence, node,
//! kind and content), always computed, cheap enough for millions of events per second.
//!
//! Content is fed through `std::hash::Hash`, so every message, timer and fault of a model
//! takes part without the model writing any code. The mixing is a fixed multiply–rotate
//! over 64-bit words (in the family of wyhash and FxHash), spelled out here rather than
//! taken from a hashing crate because its exact output is part of dsim's contract:
//! digests pinned in tests must not move when a dependency is upgraded. It detects
//! divergence; it is not a cryptographic hash.

use std::hash::{Hash, Hasher};

const K1: u64 = 0x9e37_79b9_7f4a_7c15;
const K2: u64 = 0xbf58_476d_1ce4_e5b9;

/// A streaming digest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Digest {
    state: u64,
}

impl Default for Digest {
    fn default() -> Self {
        Digest {
            state: 0x6473_696d_2d76_3031,
        } // "dsim-v01"
    }
}

impl Digest {
    #[inline]
    pub fn word(&mut self, w: u64) {
        let x = (self.state ^ w).wrapping_mul(K1);
        self.state = (x ^ (x >> 29)).rotate_left(23).wrapping_mul(K2);
    }

    /// Folds any hashable value in.
    #[inline]
    pub fn value<T: Hash + ?Sized>(&mut self, v: &T) {
        v.hash(self);
    }

    /// The digest of one value: what the models' on-disk records use as their checksum.
    pub fn of<T: Hash + ?Sized>(v: &T) -> u64 {
        let mut d = Digest::default();
        d.value(v);
        d.get()
    }

    /// The digest so far.
    pub fn get(&self) -> u64 {
        let mut x = self.state;
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 33;
        x
    }

    pub fn hex(&self) -> String {
        format!("{:016x}", self.get())
    }
}

impl Hasher for Digest {
    fn finish(&self) -> u64 {
        self.get()
    }
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.word(u64::from_le_bytes([
                c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7],
            ]));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut buf = [0u8; 8];
            buf[..rest.len()].copy_from_slice(rest);
            self.word(u64::from_le_bytes(buf) ^ ((rest.len() as u64) << 56));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.word(i as u64)
    }
    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.word(i as u64)
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.word(i as u64)
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.word(i)
    }
    // usize/isize are widened to 64 bits so a digest is the same on 32- and 64-bit hosts.
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.word(i as u64)
    }
    #[inline]
    fn write_isize(&mut self, i: isize) {
        self.word(i as i64 as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_pinned() {
        let mut d = Digest::default();
        d.value(&(1u64, "hello", [3u8, 4, 5]));
        assert_eq!(d.hex(), PINNED);
    }

    #[test]
    fn order_matters() {
        let mut a = Digest::default();
        a.word(1);
        a.word(2);
        let mut b = Digest::default();
        b.word(2);
        b.word(1);
        assert_ne!(a.get(), b.get());
    }

    const PINNED: &str = "b6f475469a4822e1";
}
