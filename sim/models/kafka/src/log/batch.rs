//! Record batches: the unit a producer sends, a leader appends, a follower fetches and a
//! log stores (Kafka's message format v2, KIP-98: "Message format" in the Kafka protocol
//! documentation, `DefaultRecordBatch` in the Kafka sources).
//!
//! A batch carries the offsets of its records (`base_offset` + delta), the leader epoch
//! under which it was appended (KIP-101), and the producer id, epoch and base sequence that
//! idempotence deduplicates on (KIP-98). A CRC over everything after it lets recovery tell
//! a whole batch from a torn one after a crash, as Kafka's log recovery does.
//!
//! Layout (big-endian), simplified from v2 but with the same fields in the same roles:
//!
//! ```text
//! base_offset u64 | batch_length u32 (bytes after this field) | leader_epoch u32 | crc u32
//! | last_offset_delta u32 | producer_id i64 | producer_epoch i16 | base_sequence i32
//! | first_timestamp_ms i64 | max_timestamp_ms i64 | record_count u32 | records...
//! record: offset_delta u32 | timestamp_delta_ms u32 | key_length i32 (-1: null) | key
//!         | value_length u32 | value
//! ```
//!
//! Each record carries its offset delta, and the header the last one, so that log
//! compaction can drop records from a batch and keep every survivor's offset (KIP-98's
//! format keeps `lastOffsetDelta` for the same reason).

/// Bytes before `batch_length`'s coverage starts: base_offset + batch_length.
pub const LOG_OVERHEAD: usize = 12;
/// Fixed header bytes after `batch_length` (leader_epoch .. record_count).
const HEADER_AFTER_LENGTH: usize = 4 + 4 + 4 + 8 + 2 + 4 + 8 + 8 + 4;
/// Where the CRC'd bytes start: after base_offset, batch_length, leader_epoch and crc.
const CRC_FROM: usize = LOG_OVERHEAD + 4 + 4;
/// A batch larger than this is refused (Kafka's `message.max.bytes` is about 1 MiB).
pub const MAX_BATCH_BYTES: usize = 1 << 20;

/// No producer id: a producer without idempotence.
pub const NO_PRODUCER_ID: i64 = -1;

/// One record of a batch.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Record {
    /// Offset within the batch: the record's offset is `base_offset + offset_delta`.
    pub offset_delta: u32,
    pub timestamp_ms: i64,
    pub key: Option<Vec<u8>>,
    pub value: Vec<u8>,
}

/// A batch as producers build it and logs store it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RecordBatch {
    /// Offset of the first record; assigned by the leader on append.
    pub base_offset: u64,
    /// The leader epoch the batch was appended under (KIP-101).
    pub leader_epoch: u32,
    /// Delta of the last offset the batch was written with (kept when compaction drops
    /// records, so the offsets after the batch stay taken).
    pub last_offset_delta: u32,
    pub producer_id: i64,
    pub producer_epoch: i16,
    /// Sequence number of the first record (idempotence, KIP-98); -1 without a producer id.
    pub base_sequence: i32,
    pub records: Vec<Record>,
}

/// Why bytes are not a batch.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error("{0} bytes is too short for a batch header")]
    Truncated(usize),
    #[error("batch at offset {base_offset} fails its CRC (stored {stored:#010x}, computed {computed:#010x})")]
    Crc {
        base_offset: u64,
        stored: u32,
        computed: u32,
    },
    #[error("batch at offset {0} is malformed: {1}")]
    Malformed(u64, &'static str),
}

impl RecordBatch {
    /// A fresh batch of `records` (offset deltas 0, 1, ...), before a leader gives it its
    /// base offset and epoch.
    pub fn new(
        producer_id: i64,
        producer_epoch: i16,
        base_sequence: i32,
        records: Vec<(i64, Option<Vec<u8>>, Vec<u8>)>,
    ) -> RecordBatch {
        let n = records.len() as u32;
        RecordBatch {
            base_offset: 0,
            leader_epoch: 0,
            last_offset_delta: n.saturating_sub(1),
            producer_id,
            producer_epoch,
            base_sequence,
            records: records
                .into_iter()
                .enumerate()
                .map(|(i, (timestamp_ms, key, value))| Record {
                    offset_delta: i as u32,
                    timestamp_ms,
                    key,
                    value,
                })
                .collect(),
        }
    }
    /// Offset of the last record the batch was written with.
    pub fn last_offset(&self) -> u64 {
        self.base_offset + u64::from(self.last_offset_delta)
    }
    /// Offset after the batch.
    pub fn next_offset(&self) -> u64 {
        self.last_offset() + 1
    }
    /// Every record with its offset.
    pub fn offsets(&self) -> impl Iterator<Item = (u64, &Record)> + '_ {
        self.records
            .iter()
            .map(|r| (self.base_offset + u64::from(r.offset_delta), r))
    }
    /// The part of the batch from `offset` on, as a message-level fetch before message
    /// format v2 returned it (Kafka 0.10 sent single messages, so a fetch began exactly at
    /// the offset asked for). The last offset stays; the sequence moves with the base.
    /// None when `offset` is outside the batch.
    pub fn from_offset(&self, offset: u64) -> Option<RecordBatch> {
        if offset < self.base_offset || offset > self.last_offset() {
            return None;
        }
        let skip = offset - self.base_offset;
        let skip_delta = u32::try_from(skip).ok()?;
        let records: Vec<Record> = self
            .records
            .iter()
            .filter(|r| r.offset_delta >= skip_delta)
            .map(|r| Record {
                offset_delta: r.offset_delta - skip_delta,
                ..r.clone()
            })
            .collect();
        Some(RecordBatch {
            base_offset: offset,
            last_offset_delta: self.last_offset_delta - skip_delta,
            base_sequence: if self.base_sequence < 0 {
                self.base_sequence
            } else {
                self.base_sequence.wrapping_add(skip_delta as i32)
            },
            records,
            ..self.clone()
        })
    }

    pub fn first_timestamp_ms(&self) -> i64 {
        self.records
            .iter()
            .map(|r| r.timestamp_ms)
            .min()
            .unwrap_or(0)
    }
    pub fn max_timestamp_ms(&self) -> i64 {
        self.records
            .iter()
            .map(|r| r.timestamp_ms)
            .max()
            .unwrap_or(0)
    }

    /// The batch as stored and sent.
    pub fn encode(&self) -> Vec<u8> {
        let first_ts = self.first_timestamp_ms();
        let mut b = Vec::with_capacity(64 + self.records.len() * 32);
        b.extend_from_slice(&self.base_offset.to_be_bytes());
        b.extend_from_slice(&0u32.to_be_bytes()); // batch_length, patched below
        b.extend_from_slice(&self.leader_epoch.to_be_bytes());
        b.extend_from_slice(&0u32.to_be_bytes()); // crc, patched below
        b.extend_from_slice(&self.last_offset_delta.to_be_bytes());
        b.extend_from_slice(&self.producer_id.to_be_bytes());
        b.extend_from_slice(&self.producer_epoch.to_be_bytes());
        b.extend_from_slice(&self.base_sequence.to_be_bytes());
        b.extend_from_slice(&first_ts.to_be_bytes());
        b.extend_from_slice(&self.max_timestamp_ms().to_be_bytes());
        b.extend_from_slice(&(self.records.len() as u32).to_be_bytes());
        for r in &self.records {
            let delta = (r.timestamp_ms - first_ts).clamp(0, u32::MAX as i64) as u32;
            b.extend_from_slice(&r.offset_delta.to_be_bytes());
            b.extend_from_slice(&delta.to_be_bytes());
            match &r.key {
                Some(k) => {
                    b.extend_from_slice(&(k.len() as i32).to_be_bytes());
                    b.extend_from_slice(k);
                }
                None => b.extend_from_slice(&(-1i32).to_be_bytes()),
            }
            b.extend_from_slice(&(r.value.len() as u32).to_be_bytes());
            b.extend_from_slice(&r.value);
        }
        let length = (b.len() - LOG_OVERHEAD) as u32;
        b[8..12].copy_from_slice(&length.to_be_bytes());
        let crc = crc32fast::hash(&b[CRC_FROM..]);
        b[16..20].copy_from_slice(&crc.to_be_bytes());
        b
    }

    /// The size `encode` gives, without encoding.
    pub fn encoded_len(&self) -> usize {
        LOG_OVERHEAD
            + HEADER_AFTER_LENGTH
            + self
                .records
                .iter()
                .map(|r| 4 + 4 + 4 + r.key.as_ref().map_or(0, Vec::len) + 4 + r.value.len())
                .sum::<usize>()
    }
}

/// Reads the fixed head of the batch at the start of `bytes`: (base_offset, total length in
/// bytes), or None when fewer bytes than a head are left.
pub fn peek(bytes: &[u8]) -> Option<(u64, usize)> {
    if bytes.len() < LOG_OVERHEAD {
        return None;
    }
    let base = u64::from_be_bytes(bytes[0..8].try_into().ok()?);
    let len = u32::from_be_bytes(bytes[8..12].try_into().ok()?) as usize;
    Some((base, LOG_OVERHEAD + len))
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
    base: u64,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], BatchError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|e| *e <= self.b.len())
            .ok_or(BatchError::Malformed(
                self.base,
                "a field runs past the end",
            ))?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u32(&mut self) -> Result<u32, BatchError> {
        Ok(u32::from_be_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn i32(&mut self) -> Result<i32, BatchError> {
        Ok(i32::from_be_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn i64(&mut self) -> Result<i64, BatchError> {
        Ok(i64::from_be_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    fn i16(&mut self) -> Result<i16, BatchError> {
        Ok(i16::from_be_bytes(
            self.take(2)?.try_into().expect("2 bytes"),
        ))
    }
}

/// Decodes the batch at the start of `bytes`, checking its CRC. Returns the batch and its
/// length in bytes.
pub fn decode(bytes: &[u8]) -> Result<(RecordBatch, usize), BatchError> {
    let (base_offset, total) = peek(bytes).ok_or(BatchError::Truncated(bytes.len()))?;
    if total < CRC_FROM || total > bytes.len() || total > MAX_BATCH_BYTES + 64 {
        return Err(BatchError::Truncated(bytes.len()));
    }
    let b = &bytes[..total];
    let stored = u32::from_be_bytes(b[16..20].try_into().expect("4 bytes"));
    let computed = crc32fast::hash(&b[CRC_FROM..]);
    if stored != computed {
        return Err(BatchError::Crc {
            base_offset,
            stored,
            computed,
        });
    }
    let mut r = Reader {
        b,
        at: LOG_OVERHEAD,
        base: base_offset,
    };
    let leader_epoch = r.u32()?;
    let _crc = r.u32()?;
    let last_offset_delta = r.u32()?;
    let producer_id = r.i64()?;
    let producer_epoch = r.i16()?;
    let base_sequence = r.i32()?;
    let first_ts = r.i64()?;
    let _max_ts = r.i64()?;
    let count = r.u32()? as usize;
    if count > total {
        return Err(BatchError::Malformed(
            base_offset,
            "more records than bytes",
        ));
    }
    let mut records = Vec::with_capacity(count);
    for _ in 0..count {
        let offset_delta = r.u32()?;
        if offset_delta > last_offset_delta {
            return Err(BatchError::Malformed(
                base_offset,
                "a record past the last offset",
            ));
        }
        let delta = r.u32()?;
        let key = match r.i32()? {
            -1 => None,
            n if n < 0 => return Err(BatchError::Malformed(base_offset, "negative key length")),
            n => Some(r.take(n as usize)?.to_vec()),
        };
        let vlen = r.u32()? as usize;
        let value = r.take(vlen)?.to_vec();
        records.push(Record {
            offset_delta,
            timestamp_ms: first_ts + i64::from(delta),
            key,
            value,
        });
    }
    if r.at != total {
        return Err(BatchError::Malformed(
            base_offset,
            "bytes left after the records",
        ));
    }
    Ok((
        RecordBatch {
            base_offset,
            leader_epoch,
            last_offset_delta,
            producer_id,
            producer_epoch,
            base_sequence,
            records,
        },
        total,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(base: u64, n: usize) -> RecordBatch {
        let mut b = RecordBatch::new(
            42,
            0,
            7,
            (0..n)
                .map(|i| {
                    (
                        1_000 + i as i64,
                        (i % 2 == 0).then(|| format!("k{i}").into_bytes()),
                        format!("value-{i}").into_bytes(),
                    )
                })
                .collect(),
        );
        b.base_offset = base;
        b.leader_epoch = 3;
        b
    }

    #[test]
    fn a_batch_survives_encoding() {
        let b = batch(1000, 5);
        let bytes = b.encode();
        assert_eq!(bytes.len(), b.encoded_len());
        assert_eq!(decode(&bytes), Ok((b.clone(), bytes.len())));
        assert_eq!(b.last_offset(), 1004);
        assert_eq!(b.next_offset(), 1005);
    }

    #[test]
    fn a_flipped_bit_fails_the_crc() {
        let mut bytes = batch(0, 3).encode();
        let at = bytes.len() - 2;
        bytes[at] ^= 0x10;
        assert!(matches!(decode(&bytes), Err(BatchError::Crc { .. })));
    }

    #[test]
    fn a_torn_batch_is_refused() {
        let bytes = batch(0, 3).encode();
        for cut in [0, 5, LOG_OVERHEAD, bytes.len() - 1] {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
    }

    proptest::proptest! {
        #[test]
        fn decoding_garbage_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let _ = decode(&bytes);
        }
    }
    #[test]
    fn from_offset_keeps_the_tail_and_its_offsets() {
        let mut b = RecordBatch::new(7, 0, 10, (0..4).map(|i| (i, None, vec![i as u8])).collect());
        b.base_offset = 100;
        let t = b.from_offset(102).expect("inside");
        assert_eq!(t.base_offset, 102);
        assert_eq!(t.last_offset(), 103);
        assert_eq!(t.base_sequence, 12);
        let tail: Vec<(u64, Vec<u8>)> = t.offsets().map(|(o, r)| (o, r.value.clone())).collect();
        assert_eq!(tail, vec![(102, vec![2]), (103, vec![3])]);
        assert_eq!(b.from_offset(100).as_ref(), Some(&b));
        assert!(b.from_offset(99).is_none() && b.from_offset(104).is_none());
    }
}
