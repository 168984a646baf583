//! The replicated log (Raft §5.3, Figure 2 "log[]"): entries with the term in which a
//! leader created them, indexed from 1.
//!
//! Besides the entries, each position keeps a *prefix digest*: a hash of every (term,
//! entry) up to and including it. It is a ghost variable for checkers, not part of the
//! protocol: two logs hold the same prefix up to index i exactly when their digests at i
//! agree, which lets the Log Matching check (Figure 3) compare logs in O(1) per entry.

use std::fmt::Debug;
use std::hash::Hash;

use dsim_core::digest::Digest;

/// A Raft term (§5.1).
pub type Term = u64;
/// A log index (§5.3); 0 means "before the first entry".
pub type Index = u64;

/// What a host replicates through Raft. It must be storable: entries go to disk and are
/// read back on restart (Figure 2, "Persistent state on all servers").
pub trait Command: Clone + Debug + Hash + Eq {
    fn encode(&self, out: &mut Vec<u8>);
    fn decode(bytes: &[u8]) -> Option<Self>;
}

/// What an entry carries.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Payload<C> {
    /// The entry a new leader appends at the start of its term (§8, thesis §6.4): once it
    /// commits, every earlier entry is committed too.
    Noop,
    Command(C),
    /// A new voting configuration (thesis §4.1, single-server changes): in effect as soon
    /// as it is in a server's log, committed or not.
    Config(Vec<dsim_core::NodeId>),
    /// The joint configuration C_old,new (§6; thesis §4.3): decisions need a majority of
    /// `old` and a majority of `new`. Once committed, the leader appends `Config(new)`.
    Joint {
        old: Vec<dsim_core::NodeId>,
        new: Vec<dsim_core::NodeId>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Entry<C> {
    pub term: Term,
    pub payload: Payload<C>,
}

/// The in-memory log. `base_index`/`base_term` describe what precedes `entries` (0/0
/// until a snapshot replaces a prefix).
#[derive(Clone, Debug)]
pub struct Log<C> {
    base_index: Index,
    base_term: Term,
    base_digest: u64,
    entries: Vec<(Entry<C>, u64)>,
}

impl<C: Command> Default for Log<C> {
    fn default() -> Self {
        Log {
            base_index: 0,
            base_term: 0,
            base_digest: 0,
            entries: Vec::new(),
        }
    }
}

/// Digest of a prefix extended by one entry.
pub fn extend_digest<C: Hash>(prev: u64, entry: &Entry<C>) -> u64 {
    let mut d = Digest::default();
    d.word(prev);
    d.value(entry);
    d.get()
}

impl<C: Command> Log<C> {
    pub fn last_index(&self) -> Index {
        self.base_index + self.entries.len() as Index
    }
    pub fn last_term(&self) -> Term {
        self.entries.last().map_or(self.base_term, |(e, _)| e.term)
    }
    pub fn first_index(&self) -> Index {
        self.base_index + 1
    }
    pub fn base_index(&self) -> Index {
        self.base_index
    }
    /// The term of the entry at `i`; None past the end or inside the compacted prefix.
    pub fn term_at(&self, i: Index) -> Option<Term> {
        if i == self.base_index {
            return Some(self.base_term);
        }
        self.get(i).map(|e| e.term)
    }
    pub fn get(&self, i: Index) -> Option<&Entry<C>> {
        if i <= self.base_index {
            return None;
        }
        self.entries
            .get((i - self.base_index - 1) as usize)
            .map(|(e, _)| e)
    }
    /// The prefix digest at `i` (ghost state for the checkers).
    pub fn digest_at(&self, i: Index) -> Option<u64> {
        if i == self.base_index {
            return Some(self.base_digest);
        }
        if i < self.base_index {
            return None;
        }
        self.entries
            .get((i - self.base_index - 1) as usize)
            .map(|(_, d)| *d)
    }
    pub fn append(&mut self, entry: Entry<C>) -> Index {
        let prev = self.entries.last().map_or(self.base_digest, |(_, d)| *d);
        let d = extend_digest(prev, &entry);
        self.entries.push((entry, d));
        self.last_index()
    }
    /// Drops every entry from `i` on (a conflicting suffix, §5.3).
    pub fn truncate_from(&mut self, i: Index) {
        if i > self.base_index {
            self.entries.truncate((i - self.base_index - 1) as usize);
        }
    }
    /// Entries `from..=to`, cloned, for an AppendEntries.
    pub fn slice(&self, from: Index, to: Index) -> Vec<Entry<C>> {
        (from..=to).filter_map(|i| self.get(i).cloned()).collect()
    }
    /// The first index holding term `t`, scanning back from `i` (for fast backtracking).
    pub fn first_index_of_term(&self, i: Index, t: Term) -> Index {
        let mut j = i;
        while j > self.first_index() && self.term_at(j - 1) == Some(t) {
            j -= 1;
        }
        j
    }
    /// The last index holding term `t`, if any (the leader's side of fast backtracking).
    pub fn last_index_of_term(&self, t: Term) -> Option<Index> {
        (self.first_index()..=self.last_index())
            .rev()
            .take_while(|i| self.term_at(*i).is_some_and(|x| x >= t))
            .find(|i| self.term_at(*i) == Some(t))
    }
    /// Replaces the prefix up to `index` by a snapshot point (§7).
    pub fn compact_to(&mut self, index: Index, term: Term, digest: u64) {
        if index <= self.base_index {
            return;
        }
        let keep_from = (index - self.base_index) as usize;
        if keep_from <= self.entries.len() && self.term_at(index) == Some(term) {
            self.entries.drain(..keep_from);
        } else {
            self.entries.clear();
        }
        self.base_index = index;
        self.base_term = term;
        self.base_digest = digest;
    }
    /// Iterates `(index, entry)` from `from`.
    pub fn iter_from(&self, from: Index) -> impl Iterator<Item = (Index, &Entry<C>)> {
        let start = from.max(self.first_index());
        let skip = (start - self.base_index - 1) as usize;
        self.entries
            .iter()
            .skip(skip)
            .enumerate()
            .map(move |(k, (e, _))| (start + k as Index, e))
    }
}
