//! Raft consensus (Ongaro & Ousterhout 2014) as a library, with a replicated key-value store on top.
