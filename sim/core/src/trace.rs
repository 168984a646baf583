//! The trace file (`--trace FILE`): JSON Lines, one object per event, with a header that
//! pins what produced it (seed, scenario hash, dsim version) and a footer with the digest
//! and verdict. A trace is for people and tools to read; the digest alone decides whether
//! two runs were the same.

use std::io::Write;

use serde::Serialize;

/// One line of the trace.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum TraceLine<'a> {
    Header {
        dsim: &'a str,
        scenario: &'a str,
        scenario_hash: &'a str,
        seed: u64,
        model: &'a str,
    },
    Nodes {
        nodes: Vec<(&'a str, &'a str)>,
    },
    Event {
        i: u64,
        t: u64,
        seq: u64,
        kind: &'a str,
        node: Option<&'a str>,
        detail: &'a str,
    },
    Note {
        t: u64,
        node: &'a str,
        kind: &'a str,
        detail: &'a str,
    },
    Fault {
        t: u64,
        kind: &'a str,
        nodes: &'a [String],
        detail: &'a str,
    },
    /// A client's operation starts (`outcome` None) or ends (ok / fail / info).
    Op {
        t: u64,
        node: &'a str,
        op: u64,
        outcome: Option<&'a str>,
        detail: &'a str,
    },
    Footer {
        digest: &'a str,
        verdict: &'a str,
        events: u64,
    },
}

/// Where trace lines go.
pub trait TraceSink {
    fn line(&mut self, line: &TraceLine<'_>);
}

/// Writes JSON Lines to any writer; the first I/O error is kept and reported at the end.
pub struct JsonLines<W: Write> {
    out: W,
    pub error: Option<std::io::Error>,
    pub lines: u64,
}

impl<W: Write> JsonLines<W> {
    pub fn new(out: W) -> Self {
        JsonLines {
            out,
            error: None,
            lines: 0,
        }
    }
    pub fn finish(mut self) -> std::io::Result<W> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.out.flush()?;
        Ok(self.out)
    }
}

impl<W: Write> TraceSink for JsonLines<W> {
    fn line(&mut self, line: &TraceLine<'_>) {
        if self.error.is_some() {
            return;
        }
        let r = serde_json::to_writer(&mut self.out, line)
            .map_err(std::io::Error::from)
            .and_then(|_| self.out.write_all(b"\n"));
        match r {
            Ok(()) => self.lines += 1,
            Err(e) => self.error = Some(e),
        }
    }
}
