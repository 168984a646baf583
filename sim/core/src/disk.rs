//! A node's disk, with the fsync semantics that real storage bugs hinge on.
//!
//! Writes land in a volatile page cache at once and are visible to reads; they become
//! durable only when an fsync completes (`Ctx::fsync`, then `Node::on_io`). A crash keeps
//! the durable bytes alone, or, by scenario, a torn or random prefix of what was still in
//! the cache (`[disk] crash`). Faults: lose the cache, tear a file's unsynced tail,
//! corrupt a durable byte, report full, go slow (design brief §5). `put_atomic` replaces a
//! file as write-then-rename does: a crash keeps the old contents or the new, whole.
//!
//! Files are named byte strings. Appends are tracked as a list of write boundaries so a
//! crash can keep "some whole writes" or "a write cut mid-way", as ALICE (Pillai et al.,
//! OSDI 2014) showed real file systems do.

use std::collections::BTreeMap;

use rand::Rng;

use crate::config::CrashMode;
use crate::rng::SimRng;

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DiskError {
    #[error("disk full")]
    Full,
}

#[derive(Clone, Debug, Default)]
struct File {
    /// What reads see: durable bytes plus the cached writes.
    current: Vec<u8>,
    /// What survives a crash.
    durable: Vec<u8>,
    /// Length of the prefix on which `current` and `durable` agree.
    agree_len: usize,
    /// End offsets in `current` of each write since the last sync, in order.
    unsynced_ends: Vec<usize>,
    /// The unsynced change is one atomic replace (`put_atomic`): a crash keeps the old
    /// contents or the new, whole, never a mix.
    atomic: bool,
}

impl File {
    fn sync(&mut self) {
        self.atomic = false;
        self.durable.truncate(self.agree_len);
        self.durable
            .extend_from_slice(&self.current[self.agree_len..]);
        self.agree_len = self.current.len();
        self.unsynced_ends.clear();
    }
    fn is_dirty(&self) -> bool {
        self.agree_len != self.current.len() || self.durable.len() != self.current.len()
    }
    /// How many bytes of the unsynced tail survive a crash in `mode`.
    fn surviving_tail(&self, mode: CrashMode, rng: &mut SimRng) -> usize {
        let tail = self.current.len().saturating_sub(self.agree_len);
        match mode {
            CrashMode::Synced => 0,
            CrashMode::Process => tail,
            // An atomic replace survives whole or not at all.
            _ if self.atomic => [0, tail][rng.gen_range(0..2usize)],
            CrashMode::Torn => rng.gen_range(0..=tail),
            CrashMode::RandomPrefix => match rng.gen_range(0..=self.unsynced_ends.len()) {
                0 => 0,
                whole => self.unsynced_ends[whole - 1].saturating_sub(self.agree_len),
            },
        }
    }

    /// After a crash: if the whole unsynced tail survived, the file as written; otherwise
    /// the durable bytes with the first `keep` unsynced bytes written over them in place
    /// (an append just extends the file; an interrupted rewrite leaves the old bytes beyond
    /// what it got to).
    fn crash_keep(&mut self, keep: usize) {
        let end = (self.agree_len + keep).min(self.current.len());
        let survived = if keep == 0 {
            std::mem::take(&mut self.durable)
        } else if end == self.current.len() {
            self.durable.clear();
            self.current.clone()
        } else {
            let mut old = std::mem::take(&mut self.durable);
            if old.len() < end {
                old.resize(end, 0);
            }
            old[self.agree_len..end].copy_from_slice(&self.current[self.agree_len..end]);
            old
        };
        self.current = survived.clone();
        self.durable = survived;
        self.atomic = false;
        self.agree_len = self.current.len();
        self.unsynced_ends.clear();
    }
}

/// One node's disk.
#[derive(Clone, Debug, Default)]
pub struct Disk {
    files: BTreeMap<String, File>,
    capacity_bytes: u64,
    /// Bytes in use (the sum of the files' current lengths), kept up to date so a write's
    /// room check is O(1) however many files the disk holds (a Kafka log's segments).
    used_bytes: u64,
    pub(crate) full: bool,
    pub(crate) slow_factor: u32,
}

impl Disk {
    pub fn new(capacity_bytes: u64) -> Self {
        Disk {
            files: BTreeMap::new(),
            capacity_bytes,
            used_bytes: 0,
            full: false,
            slow_factor: 1,
        }
    }

    /// Bytes in use: what reads see, cache included.
    pub fn used_bytes(&self) -> u64 {
        self.used_bytes
    }

    /// Recomputes `used_bytes` after a crash or fault reshaped files (rare events).
    fn recount(&mut self) {
        self.used_bytes = self.files.values().map(|f| f.current.len() as u64).sum();
    }

    /// Refuses a write that would leave `freed` bytes fewer and `extra` more in use.
    fn check_room(&self, freed: usize, extra: usize) -> Result<(), DiskError> {
        if self.full || self.used_bytes - freed as u64 + extra as u64 > self.capacity_bytes {
            Err(DiskError::Full)
        } else {
            Ok(())
        }
    }

    /// Replaces a file's contents (not atomic: a crash before fsync may tear it).
    pub fn put(&mut self, name: &str, bytes: &[u8]) -> Result<(), DiskError> {
        let old = self.files.get(name).map_or(0, |f| f.current.len());
        self.check_room(old, bytes.len())?;
        self.used_bytes = self.used_bytes - old as u64 + bytes.len() as u64;
        let f = self.files.entry(name.to_string()).or_default();
        // The agreeing prefix is whatever the new contents share with the durable ones.
        let agree = f
            .durable
            .iter()
            .zip(bytes)
            .take_while(|(a, b)| a == b)
            .count()
            .min(f.agree_len);
        f.current.clear();
        f.current.extend_from_slice(bytes);
        f.agree_len = agree;
        f.unsynced_ends.clear();
        if f.is_dirty() {
            f.unsynced_ends.push(bytes.len());
        }
        Ok(())
    }

    /// Replaces a file's contents atomically, as writing a temporary file and renaming it
    /// over the old one does: until an fsync completes, a crash leaves either the old
    /// contents or the new ones, whole.
    pub fn put_atomic(&mut self, name: &str, bytes: &[u8]) -> Result<(), DiskError> {
        self.put(name, bytes)?;
        if let Some(f) = self.files.get_mut(name) {
            f.atomic = f.is_dirty();
        }
        Ok(())
    }

    /// Appends to a file.
    pub fn append(&mut self, name: &str, bytes: &[u8]) -> Result<(), DiskError> {
        self.check_room(0, bytes.len())?;
        self.used_bytes += bytes.len() as u64;
        let f = self.files.entry(name.to_string()).or_default();
        f.current.extend_from_slice(bytes);
        f.unsynced_ends.push(f.current.len());
        Ok(())
    }

    /// Cuts a file to `len` bytes (e.g. a log truncated after a conflict).
    pub fn truncate(&mut self, name: &str, len: usize) {
        if let Some(f) = self.files.get_mut(name) {
            if len < f.current.len() {
                self.used_bytes -= (f.current.len() - len) as u64;
                f.current.truncate(len);
                f.agree_len = f.agree_len.min(len);
                f.unsynced_ends.retain(|e| *e <= len);
                f.unsynced_ends.push(len);
            }
        }
    }

    /// Deletes a file (a retention policy dropping a log segment, a compacted log). The
    /// deletion is durable at once: a crash never brings the file back. A simplification:
    /// a real unlink is durable only after the directory is fsynced (and Kafka deletes
    /// segments asynchronously), so a model that depends on a deletion surviving a crash
    /// is not tested by this disk. Returns whether the file existed.
    pub fn remove(&mut self, name: &str) -> bool {
        match self.files.remove(name) {
            Some(f) => {
                self.used_bytes -= f.current.len() as u64;
                true
            }
            None => false,
        }
    }

    /// What a read sees now (cache included).
    pub fn read(&self, name: &str) -> Option<&[u8]> {
        self.files.get(name).map(|f| f.current.as_slice())
    }

    /// The names of every file, in order.
    pub fn files(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(|s| s.as_str())
    }

    /// The bytes that would survive a crash right now, for checkers and tests.
    pub fn durable(&self, name: &str) -> Option<&[u8]> {
        self.files.get(name).map(|f| f.durable.as_slice())
    }

    pub fn has_unsynced(&self) -> bool {
        self.files.values().any(File::is_dirty)
    }

    /// An fsync completed: everything written so far is durable.
    pub(crate) fn sync_all(&mut self) {
        for f in self.files.values_mut() {
            f.sync();
        }
    }

    /// The node crashed: keep what the crash mode says survives (for `Process`, all).
    pub(crate) fn crash(&mut self, mode: CrashMode, rng: &mut SimRng) {
        for f in self.files.values_mut() {
            if !f.is_dirty() {
                continue;
            }
            let keep = f.surviving_tail(mode, rng);
            f.crash_keep(keep);
        }
        self.files
            .retain(|_, f| !f.current.is_empty() || !f.durable.is_empty());
        self.recount();
    }

    /// Fault: the cache is lost now (a disk that lied about its write cache).
    pub(crate) fn lose_unsynced(&mut self) {
        for f in self.files.values_mut() {
            f.crash_keep(0);
        }
        // A file that was never synced is gone, as after a crash.
        self.files
            .retain(|_, f| !f.current.is_empty() || !f.durable.is_empty());
        self.recount();
    }

    /// Fault: the unsynced tail of one random dirty file is cut at a random byte, and what
    /// is left becomes durable.
    pub(crate) fn tear_write(&mut self, rng: &mut SimRng) -> Option<String> {
        let dirty: Vec<String> = self
            .files
            .iter()
            .filter(|(_, f)| f.is_dirty())
            .map(|(n, _)| n.clone())
            .collect();
        if dirty.is_empty() {
            return None;
        }
        let name = dirty[rng.gen_range(0..dirty.len())].clone();
        let f = self.files.get_mut(&name)?;
        let keep = f.surviving_tail(CrashMode::Torn, rng);
        f.crash_keep(keep);
        self.recount();
        Some(name)
    }

    /// Fault: one durable byte flips.
    pub(crate) fn corrupt(&mut self, rng: &mut SimRng) -> Option<(String, usize)> {
        let candidates: Vec<String> = self
            .files
            .iter()
            .filter(|(_, f)| !f.durable.is_empty())
            .map(|(n, _)| n.clone())
            .collect();
        if candidates.is_empty() {
            return None;
        }
        let name = candidates[rng.gen_range(0..candidates.len())].clone();
        let f = self.files.get_mut(&name)?;
        let at = rng.gen_range(0..f.durable.len());
        let flip = 1u8 << rng.gen_range(0..8);
        f.durable[at] ^= flip;
        if at < f.current.len() && at < f.agree_len {
            f.current[at] ^= flip;
        }
        Some((name, at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::derive;

    #[test]
    fn crash_keeps_only_synced_data() {
        let mut d = Disk::new(1 << 20);
        d.append("log", b"aaa").unwrap();
        d.sync_all();
        d.append("log", b"bbb").unwrap();
        assert_eq!(d.read("log"), Some(&b"aaabbb"[..]));
        d.crash(CrashMode::Synced, &mut derive(1, "d"));
        assert_eq!(d.read("log"), Some(&b"aaa"[..]));
    }

    #[test]
    fn random_prefix_keeps_whole_writes() {
        for seed in 0..50 {
            let mut d = Disk::new(1 << 20);
            d.append("log", b"aa").unwrap();
            d.sync_all();
            d.append("log", b"bb").unwrap();
            d.append("log", b"cc").unwrap();
            d.crash(CrashMode::RandomPrefix, &mut derive(seed, "d"));
            let got = d.read("log").unwrap().to_vec();
            assert!(
                [&b"aa"[..], b"aabb", b"aabbcc"].contains(&got.as_slice()),
                "{got:?}"
            );
        }
    }

    #[test]
    fn torn_crash_keeps_a_prefix_of_the_tail() {
        let mut seen = std::collections::BTreeSet::new();
        for seed in 0..100 {
            let mut d = Disk::new(1 << 20);
            d.append("log", b"ab").unwrap();
            d.sync_all();
            d.append("log", b"cdef").unwrap();
            d.crash(CrashMode::Torn, &mut derive(seed, "d"));
            let got = d.read("log").unwrap().to_vec();
            assert!(b"abcdef".starts_with(&got) && got.len() >= 2);
            seen.insert(got.len());
        }
        assert!(
            seen.len() > 2,
            "torn crashes should cut at several places: {seen:?}"
        );
    }

    #[test]
    fn put_then_crash_without_sync_restores_old_contents() {
        let mut d = Disk::new(1 << 20);
        d.put("state", b"v1").unwrap();
        d.sync_all();
        d.put("state", b"v2").unwrap();
        d.crash(CrashMode::Synced, &mut derive(1, "d"));
        assert_eq!(d.read("state"), Some(&b"v1"[..]));
    }

    #[test]
    fn replacing_a_file_counts_only_its_new_size() {
        let mut d = Disk::new(10);
        d.put("x", b"12345678").unwrap();
        d.put("x", b"abcdefgh").unwrap();
        assert_eq!(d.put("x", b"abcdefghijk"), Err(DiskError::Full));
    }

    #[test]
    fn losing_the_cache_removes_never_synced_files() {
        let mut d = Disk::new(100);
        d.put("new", b"v").unwrap();
        d.put("old", b"v1").unwrap();
        d.sync_all();
        d.put("new2", b"x").unwrap();
        d.lose_unsynced();
        assert_eq!(d.files().collect::<Vec<_>>(), vec!["new", "old"]);
    }

    #[test]
    fn an_atomic_replace_survives_whole_or_not_at_all() {
        let mut seen = std::collections::BTreeSet::new();
        for seed in 0..40 {
            for mode in [CrashMode::Torn, CrashMode::RandomPrefix] {
                let mut d = Disk::new(1 << 20);
                d.put_atomic("state", b"old-contents").unwrap();
                d.sync_all();
                d.put_atomic("state", b"new!").unwrap();
                d.crash(mode, &mut derive(seed, "d"));
                let got = d.read("state").unwrap().to_vec();
                assert!(got == b"old-contents" || got == b"new!", "{got:?}");
                seen.insert(got);
            }
        }
        assert_eq!(seen.len(), 2, "both outcomes happen");
    }

    #[test]
    fn a_torn_rewrite_in_place_keeps_the_old_bytes_it_did_not_reach() {
        let mut seen = std::collections::BTreeSet::new();
        for seed in 0..60 {
            let mut d = Disk::new(1 << 20);
            d.put("f", b"aaaaaa").unwrap();
            d.sync_all();
            d.put("f", b"abbbba").unwrap();
            d.crash(CrashMode::Torn, &mut derive(seed, "d"));
            let got = d.read("f").unwrap().to_vec();
            // a, then some b's written over the a's, then the old a's: never shorter.
            assert_eq!(got.len(), 6, "{got:?}");
            assert!(got.starts_with(b"a") && got.ends_with(b"a"), "{got:?}");
            seen.insert(got);
        }
        assert!(seen.len() > 2, "{seen:?}");
    }

    #[test]
    fn an_unsynced_truncation_does_not_survive_a_crash() {
        let mut d = Disk::new(100);
        d.append("log", b"abcdef").unwrap();
        d.sync_all();
        d.truncate("log", 2);
        d.crash(CrashMode::Torn, &mut derive(1, "d"));
        assert_eq!(d.read("log"), Some(&b"abcdef"[..]));
    }

    #[test]
    fn full_disk_refuses_writes() {
        let mut d = Disk::new(4);
        d.append("log", b"abcd").unwrap();
        assert_eq!(d.append("log", b"e"), Err(DiskError::Full));
        let mut d = Disk::new(100);
        d.full = true;
        assert_eq!(d.put("x", b"1"), Err(DiskError::Full));
    }

    #[test]
    fn corruption_flips_one_durable_bit() {
        let mut d = Disk::new(100);
        d.put("x", b"hello").unwrap();
        d.sync_all();
        let (name, at) = d.corrupt(&mut derive(3, "d")).unwrap();
        assert_eq!(name, "x");
        let got = d.durable("x").unwrap();
        assert_ne!(got[at], b"hello"[at]);
        assert_eq!((got[at] ^ b"hello"[at]).count_ones(), 1);
    }

    #[test]
    fn used_bytes_follow_every_change() {
        let mut rng = derive(1, "disk");
        let mut d = Disk::new(1 << 20);
        d.append("log", b"abcdef").unwrap();
        d.put("meta", b"xyz").unwrap();
        assert_eq!(d.used_bytes(), 9);
        d.put("meta", b"x").unwrap();
        d.truncate("log", 2);
        assert_eq!(d.used_bytes(), 3);
        d.sync_all();
        d.append("log", b"tail").unwrap();
        d.crash(CrashMode::Synced, &mut rng);
        assert_eq!(d.used_bytes(), 3, "the unsynced tail is gone");
        assert!(d.remove("log"));
        assert!(!d.remove("log"));
        assert_eq!(d.used_bytes(), 1);
        d.crash(CrashMode::Synced, &mut rng);
        assert_eq!(d.read("log"), None, "a removed file stays removed");
    }

    #[test]
    fn removing_files_makes_room() {
        let mut d = Disk::new(10);
        d.append("seg-0", b"0123456789").unwrap();
        assert_eq!(d.append("seg-1", b"a"), Err(DiskError::Full));
        d.remove("seg-0");
        d.append("seg-1", b"a").unwrap();
    }
    #[test]
    fn a_process_crash_keeps_every_write() {
        let mut d = Disk::new(1 << 20);
        d.append("log", b"synced").unwrap();
        d.sync_all();
        d.append("log", b"+cached").unwrap();
        d.put_atomic("meta", b"new").unwrap();
        d.crash(CrashMode::Process, &mut derive(1, "d"));
        assert_eq!(d.read("log"), Some(&b"synced+cached"[..]));
        assert_eq!(d.durable("log"), Some(&b"synced+cached"[..]));
        assert_eq!(d.read("meta"), Some(&b"new"[..]));
    }
}
