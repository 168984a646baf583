//! A small binary encoding for what servers keep on disk (transaction log records,
//! snapshots, the epoch file) and a checksum that detects torn or damaged records, as
//! ZooKeeper's log records carry an Adler-32 checksum (`FileTxnLog`).

use dsim_core::digest::Digest;

/// The checksum of a record body.
pub fn checksum(bytes: &[u8]) -> u64 {
    Digest::of(bytes)
}

/// Appends fields to a byte buffer.
#[derive(Default)]
pub struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn i32(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn str(&mut self, s: &str) {
        self.u32(s.len() as u32);
        self.buf.extend_from_slice(s.as_bytes());
    }
    /// Frames the buffer as a record: length, body, checksum.
    pub fn framed(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.buf.len() + 12);
        out.extend_from_slice(&(self.buf.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.buf);
        out.extend_from_slice(&checksum(&self.buf).to_le_bytes());
        out
    }
}

/// Reads fields back; every read is checked, a short buffer gives None.
pub struct Reader<'a> {
    pub buf: &'a [u8],
    pub pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }
    pub fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    pub fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    pub fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    pub fn i64(&mut self) -> Option<i64> {
        Some(i64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    pub fn i32(&mut self) -> Option<i32> {
        Some(i32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    pub fn str(&mut self) -> Option<String> {
        let n = self.u32()? as usize;
        let b = self.take(n)?;
        String::from_utf8(b.to_vec()).ok()
    }
    pub fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }
    /// The next framed record's body, checked; None at the end or on a torn/damaged record.
    pub fn record(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()? as usize;
        let body = self.take(n)?;
        let sum = self.u64()?;
        (checksum(body) == sum).then_some(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_detect_damage() {
        let mut w = Writer::default();
        w.u32(7);
        w.str("/a");
        w.i64(-3);
        let rec = w.framed();
        let mut r = Reader::new(&rec);
        let body = r.record().expect("record");
        let mut b = Reader::new(body);
        assert_eq!(b.u32(), Some(7));
        assert_eq!(b.str().as_deref(), Some("/a"));
        assert_eq!(b.i64(), Some(-3));
        let mut bad = rec.clone();
        bad[6] ^= 1;
        assert_eq!(Reader::new(&bad).record(), None);
        assert_eq!(Reader::new(&rec[..rec.len() - 1]).record(), None);
    }
}
