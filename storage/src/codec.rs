//! Byte encodings of everything the file store writes, documented in `storage/FORMAT.md`:
//! block headers, records, consumer state files, the index file and snapshots. All integers are
//! little-endian; every unit carries a format version and a CRC-32C. Pure: no I/O.

use crate::catalog::Removal;
use crate::types::{ConsumerState, PendingDelivery, SequencePair};

/// The format version written in block headers, records and metadata files.
pub(crate) const FORMAT_VERSION: u8 = 1;

/// First four bytes of every record; recovery looks for them to resynchronize after damage.
pub(crate) const RECORD_MAGIC: [u8; 4] = *b"NXRC";
/// magic(4) version(1) kind(1) reserved(2) total_len(4).
pub(crate) const RECORD_HEADER_LEN: usize = 12;
pub(crate) const CHECKSUM_LEN: usize = 4;
/// seq(8) timestamp(8) ttl(8) subject_len(4) headers_len(4) payload_len(4).
const MESSAGE_FIXED_BODY_LEN: usize = 36;
/// Bytes a message record takes beyond its subject, headers and payload.
pub(crate) const MESSAGE_RECORD_OVERHEAD: usize =
    RECORD_HEADER_LEN + MESSAGE_FIXED_BODY_LEN + CHECKSUM_LEN;
/// Records longer than this are taken as damage (a flipped length field), not as data.
pub(crate) const MAX_RECORD_LEN: usize = 1 << 30;

const KIND_MESSAGE: u8 = 1;
const KIND_DELETE: u8 = 2;
const KIND_COMPACT: u8 = 3;
const KIND_TRUNCATE: u8 = 4;

pub(crate) const BLOCK_MAGIC: [u8; 8] = *b"NATRIXBK";
pub(crate) const BLOCK_HEADER_LEN: usize = 48;

/// A message record, borrowing from the bytes it was decoded from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MessageRecord<'a> {
    pub seq: u64,
    pub timestamp_ns: i64,
    pub ttl_ns: i64,
    pub subject: &'a str,
    pub headers: &'a [u8],
    pub payload: &'a [u8],
}

impl<'a> MessageRecord<'a> {
    /// The record of a message as the store hands it out (snapshots carry these).
    pub(crate) fn of(message: &'a crate::types::StoredMessage) -> Self {
        MessageRecord {
            seq: message.seq,
            timestamp_ns: message.timestamp_ns,
            ttl_ns: message.ttl_ns,
            subject: &message.subject,
            headers: &message.headers,
            payload: &message.payload,
        }
    }
}

/// A decoded record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Record<'a> {
    Message(MessageRecord<'a>),
    Removal(Removal),
}

/// Why bytes did not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// The record's length runs past the end of the data (a torn write, or a damaged length).
    Incomplete,
    /// The bytes are not a valid record.
    Corrupt(&'static str),
}

/// The salt of records inside snapshots. Block records use the store's own nonzero salt, so a
/// snapshot (or any record bytes) stored as a message payload can never pass for a record of
/// the block that holds it, even when recovery searches damaged bytes for the next record.
pub(crate) const SNAPSHOT_SALT: u32 = 0;

/// A record's checksum: CRC-32C of the salt's 4 little-endian bytes followed by the record.
fn record_checksum(salt: u32, bytes: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&salt.to_le_bytes()), bytes)
}

/// Appends a message record to `out` and returns its length.
pub(crate) fn encode_message(out: &mut Vec<u8>, message: &MessageRecord<'_>, salt: u32) -> usize {
    let body_len = MESSAGE_FIXED_BODY_LEN
        + message.subject.len()
        + message.headers.len()
        + message.payload.len();
    let start = begin_record(out, KIND_MESSAGE, body_len);
    out.extend_from_slice(&message.seq.to_le_bytes());
    out.extend_from_slice(&message.timestamp_ns.to_le_bytes());
    out.extend_from_slice(&message.ttl_ns.to_le_bytes());
    out.extend_from_slice(&len_u32(message.subject.len()).to_le_bytes());
    out.extend_from_slice(&len_u32(message.headers.len()).to_le_bytes());
    out.extend_from_slice(&len_u32(message.payload.len()).to_le_bytes());
    out.extend_from_slice(message.subject.as_bytes());
    out.extend_from_slice(message.headers);
    out.extend_from_slice(message.payload);
    finish_record(out, start, salt)
}

/// Appends a removal record to `out` and returns its length.
pub(crate) fn encode_removal(out: &mut Vec<u8>, removal: &Removal, salt: u32) -> usize {
    let start = match *removal {
        Removal::Delete { seq } => {
            let start = begin_record(out, KIND_DELETE, 8);
            out.extend_from_slice(&seq.to_le_bytes());
            start
        }
        Removal::Compact { floor } => {
            let start = begin_record(out, KIND_COMPACT, 8);
            out.extend_from_slice(&floor.to_le_bytes());
            start
        }
        Removal::Truncate {
            last_seq,
            last_timestamp_ns,
        } => {
            let start = begin_record(out, KIND_TRUNCATE, 16);
            out.extend_from_slice(&last_seq.to_le_bytes());
            out.extend_from_slice(&last_timestamp_ns.to_le_bytes());
            start
        }
    };
    finish_record(out, start, salt)
}

fn len_u32(len: usize) -> u32 {
    // Callers bound subjects to 64 KiB and records to MAX_RECORD_LEN before encoding.
    u32::try_from(len).unwrap_or(u32::MAX)
}

fn begin_record(out: &mut Vec<u8>, kind: u8, body_len: usize) -> usize {
    let start = out.len();
    let total_len = RECORD_HEADER_LEN + body_len + CHECKSUM_LEN;
    out.extend_from_slice(&RECORD_MAGIC);
    out.push(FORMAT_VERSION);
    out.push(kind);
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&len_u32(total_len).to_le_bytes());
    start
}

fn finish_record(out: &mut Vec<u8>, start: usize, salt: u32) -> usize {
    let checksum = record_checksum(salt, &out[start..]);
    out.extend_from_slice(&checksum.to_le_bytes());
    out.len() - start
}

/// Decodes the record at the start of `data`, verifying its checksum with `salt`, and returns
/// it with its length.
pub(crate) fn decode_record(data: &[u8], salt: u32) -> Result<(Record<'_>, usize), DecodeError> {
    if data.len() < RECORD_HEADER_LEN {
        return Err(DecodeError::Incomplete);
    }
    if data[0..4] != RECORD_MAGIC {
        return Err(DecodeError::Corrupt("bad record magic"));
    }
    if data[4] != FORMAT_VERSION {
        return Err(DecodeError::Corrupt("unknown record version"));
    }
    let kind = data[5];
    let mut header = Reader::new(&data[8..RECORD_HEADER_LEN]);
    let total_len = header.u32().map(|len| len as usize).unwrap_or(0);
    if !(RECORD_HEADER_LEN + CHECKSUM_LEN..=MAX_RECORD_LEN).contains(&total_len) {
        return Err(DecodeError::Corrupt("record length out of range"));
    }
    if data.len() < total_len {
        return Err(DecodeError::Incomplete);
    }
    let checked = &data[..total_len - CHECKSUM_LEN];
    let stored_checksum = Reader::new(&data[total_len - CHECKSUM_LEN..total_len]).u32();
    if stored_checksum != Some(record_checksum(salt, checked)) {
        return Err(DecodeError::Corrupt("record checksum mismatch"));
    }
    let mut body = Reader::new(&checked[RECORD_HEADER_LEN..]);
    let record = match kind {
        KIND_MESSAGE => Record::Message(decode_message_body(&mut body)?),
        KIND_DELETE => Record::Removal(Removal::Delete {
            seq: body
                .u64()
                .ok_or(DecodeError::Corrupt("short delete record"))?,
        }),
        KIND_COMPACT => Record::Removal(Removal::Compact {
            floor: body
                .u64()
                .ok_or(DecodeError::Corrupt("short compact record"))?,
        }),
        KIND_TRUNCATE => Record::Removal(Removal::Truncate {
            last_seq: body
                .u64()
                .ok_or(DecodeError::Corrupt("short truncate record"))?,
            last_timestamp_ns: body
                .i64()
                .ok_or(DecodeError::Corrupt("short truncate record"))?,
        }),
        _ => return Err(DecodeError::Corrupt("unknown record kind")),
    };
    if !body.is_empty() {
        return Err(DecodeError::Corrupt("record body longer than its fields"));
    }
    Ok((record, total_len))
}

fn decode_message_body<'a>(body: &mut Reader<'a>) -> Result<MessageRecord<'a>, DecodeError> {
    const SHORT: DecodeError = DecodeError::Corrupt("short message record");
    let seq = body.u64().ok_or(SHORT)?;
    let timestamp_ns = body.i64().ok_or(SHORT)?;
    let ttl_ns = body.i64().ok_or(SHORT)?;
    let subject_len = body.u32().ok_or(SHORT)? as usize;
    let headers_len = body.u32().ok_or(SHORT)? as usize;
    let payload_len = body.u32().ok_or(SHORT)? as usize;
    let subject = body.bytes(subject_len).ok_or(SHORT)?;
    let subject =
        std::str::from_utf8(subject).map_err(|_| DecodeError::Corrupt("subject is not UTF-8"))?;
    let headers = body.bytes(headers_len).ok_or(SHORT)?;
    let payload = body.bytes(payload_len).ok_or(SHORT)?;
    if seq == 0 {
        return Err(DecodeError::Corrupt("message sequence 0"));
    }
    Ok(MessageRecord {
        seq,
        timestamp_ns,
        ttl_ns,
        subject,
        headers,
        payload,
    })
}

/// The offset of the first valid record at or after `from`, used to step over damage.
pub(crate) fn find_next_record(data: &[u8], from: usize, salt: u32) -> Option<usize> {
    let mut position = from;
    while position + RECORD_HEADER_LEN <= data.len() {
        let window = &data[position..];
        let found = window
            .windows(RECORD_MAGIC.len())
            .position(|candidate| candidate == RECORD_MAGIC)?;
        let candidate = position + found;
        if decode_record(&data[candidate..], salt).is_ok() {
            return Some(candidate);
        }
        position = candidate + 1;
    }
    None
}

/// The first 48 bytes of a block file: a checkpoint of the stream counters at its creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BlockHeader {
    pub block_id: u32,
    /// The stream's first sequence when the block was created: everything below was gone.
    pub floor_seq: u64,
    /// The stream's last sequence when the block was created.
    pub last_seq: u64,
    pub last_timestamp_ns: i64,
    /// The store's record salt (see [`SNAPSHOT_SALT`]).
    pub salt: u32,
}

/// Why a block header did not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BlockHeaderError {
    Short,
    BadMagic,
    BadChecksum,
    UnknownVersion(u32),
}

pub(crate) fn encode_block_header(header: &BlockHeader) -> Vec<u8> {
    let mut out = Vec::with_capacity(BLOCK_HEADER_LEN);
    out.extend_from_slice(&BLOCK_MAGIC);
    out.extend_from_slice(&u32::from(FORMAT_VERSION).to_le_bytes());
    out.extend_from_slice(&header.block_id.to_le_bytes());
    out.extend_from_slice(&header.floor_seq.to_le_bytes());
    out.extend_from_slice(&header.last_seq.to_le_bytes());
    out.extend_from_slice(&header.last_timestamp_ns.to_le_bytes());
    out.extend_from_slice(&header.salt.to_le_bytes());
    let checksum = crc32c::crc32c(&out);
    out.extend_from_slice(&checksum.to_le_bytes());
    out
}

pub(crate) fn decode_block_header(data: &[u8]) -> Result<BlockHeader, BlockHeaderError> {
    if data.len() < BLOCK_HEADER_LEN {
        return Err(BlockHeaderError::Short);
    }
    if data[..8] != BLOCK_MAGIC {
        return Err(BlockHeaderError::BadMagic);
    }
    let mut reader = Reader::new(&data[8..BLOCK_HEADER_LEN]);
    let version = reader.u32().ok_or(BlockHeaderError::Short)?;
    let block_id = reader.u32().ok_or(BlockHeaderError::Short)?;
    let floor_seq = reader.u64().ok_or(BlockHeaderError::Short)?;
    let last_seq = reader.u64().ok_or(BlockHeaderError::Short)?;
    let last_timestamp_ns = reader.i64().ok_or(BlockHeaderError::Short)?;
    let salt = reader.u32().ok_or(BlockHeaderError::Short)?;
    let stored_checksum = reader.u32();
    if stored_checksum != Some(crc32c::crc32c(&data[..BLOCK_HEADER_LEN - CHECKSUM_LEN])) {
        return Err(BlockHeaderError::BadChecksum);
    }
    if version != u32::from(FORMAT_VERSION) {
        return Err(BlockHeaderError::UnknownVersion(version));
    }
    Ok(BlockHeader {
        block_id,
        floor_seq,
        last_seq,
        last_timestamp_ns,
        salt,
    })
}

const STORE_META_MAGIC: [u8; 8] = *b"NXSTORE1";

/// The `store.meta` file: magic, version, the store's record salt, CRC-32C (20 bytes).
pub(crate) fn encode_store_meta(salt: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(20);
    out.extend_from_slice(&STORE_META_MAGIC);
    out.extend_from_slice(&u32::from(FORMAT_VERSION).to_le_bytes());
    out.extend_from_slice(&salt.to_le_bytes());
    let checksum = crc32c::crc32c(&out);
    out.extend_from_slice(&checksum.to_le_bytes());
    out
}

/// The salt from a `store.meta` file; `None` when it is damaged or of another version.
pub(crate) fn decode_store_meta(data: &[u8]) -> Option<u32> {
    let (checked, checksum) = data.split_at_checked(data.len().checked_sub(CHECKSUM_LEN)?)?;
    if Reader::new(checksum).u32()? != crc32c::crc32c(checked) {
        return None;
    }
    let mut reader = Reader::new(checked);
    if reader.bytes(8)? != STORE_META_MAGIC || reader.u32()? != u32::from(FORMAT_VERSION) {
        return None;
    }
    let salt = reader.u32()?;
    (reader.is_empty() && salt != SNAPSHOT_SALT).then_some(salt)
}

const CONSUMER_MAGIC: [u8; 8] = *b"NXCONSMR";
/// Version 2 of the consumer state encoding adds the owner's metadata; version 1 (without
/// it) is still read.
pub(crate) const CONSUMER_FORMAT_VERSION: u32 = 2;
/// Longest metadata a consumer record carries (the JSON of a consumer configuration is far
/// smaller; this bounds what a damaged length can make a reader allocate).
pub(crate) const CONSUMER_METADATA_MAX: usize = 1 << 20;

/// Encodes a consumer state file: magic, version, sequences, pending and redelivered maps,
/// the owner's metadata and a trailing CRC-32C.
pub(crate) fn encode_consumer_state(state: &ConsumerState) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        76 + state.pending.len() * 24 + state.redelivered.len() * 16 + state.metadata.len(),
    );
    out.extend_from_slice(&CONSUMER_MAGIC);
    out.extend_from_slice(&CONSUMER_FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    for value in [
        state.delivered.consumer_seq,
        state.delivered.stream_seq,
        state.ack_floor.consumer_seq,
        state.ack_floor.stream_seq,
        state.pending.len() as u64,
    ] {
        out.extend_from_slice(&value.to_le_bytes());
    }
    for (stream_seq, pending) in &state.pending {
        out.extend_from_slice(&stream_seq.to_le_bytes());
        out.extend_from_slice(&pending.consumer_seq.to_le_bytes());
        out.extend_from_slice(&pending.timestamp_ns.to_le_bytes());
    }
    out.extend_from_slice(&(state.redelivered.len() as u64).to_le_bytes());
    for (stream_seq, count) in &state.redelivered {
        out.extend_from_slice(&stream_seq.to_le_bytes());
        out.extend_from_slice(&count.to_le_bytes());
    }
    out.extend_from_slice(&(state.metadata.len() as u32).to_le_bytes());
    out.extend_from_slice(&state.metadata);
    let checksum = crc32c::crc32c(&out);
    out.extend_from_slice(&checksum.to_le_bytes());
    out
}

/// Decodes a consumer state file; `None` when it is damaged or of another version.
pub(crate) fn decode_consumer_state(data: &[u8]) -> Option<ConsumerState> {
    let (checked, checksum) = data.split_at_checked(data.len().checked_sub(CHECKSUM_LEN)?)?;
    if Reader::new(checksum).u32()? != crc32c::crc32c(checked) {
        return None;
    }
    let mut reader = Reader::new(checked);
    if reader.bytes(8)? != CONSUMER_MAGIC {
        return None;
    }
    let version = reader.u32()?;
    if version != 1 && version != CONSUMER_FORMAT_VERSION {
        return None;
    }
    reader.u32()?;
    let mut state = ConsumerState {
        delivered: SequencePair {
            consumer_seq: reader.u64()?,
            stream_seq: reader.u64()?,
        },
        ack_floor: SequencePair {
            consumer_seq: reader.u64()?,
            stream_seq: reader.u64()?,
        },
        ..ConsumerState::default()
    };
    let pending_count = reader.u64()?;
    for _ in 0..pending_count {
        let stream_seq = reader.u64()?;
        let pending = PendingDelivery {
            consumer_seq: reader.u64()?,
            timestamp_ns: reader.i64()?,
        };
        state.pending.insert(stream_seq, pending);
    }
    let redelivered_count = reader.u64()?;
    for _ in 0..redelivered_count {
        let stream_seq = reader.u64()?;
        state.redelivered.insert(stream_seq, reader.u64()?);
    }
    if version >= 2 {
        let metadata_len = reader.u32()? as usize;
        if metadata_len > CONSUMER_METADATA_MAX {
            return None;
        }
        state.metadata = bytes::Bytes::copy_from_slice(reader.bytes(metadata_len)?);
    }
    reader.is_empty().then_some(state)
}

const SNAPSHOT_MAGIC: [u8; 8] = *b"NXSNAPSH";

/// What a snapshot holds.
#[derive(Debug, Default)]
pub(crate) struct SnapshotContents {
    pub last_seq: u64,
    pub last_timestamp_ns: i64,
    pub messages: Vec<crate::types::StoredMessage>,
    pub consumers: Vec<(String, ConsumerState)>,
}

/// Encodes a snapshot: header, message records, consumer states, CRC-32C of everything.
pub(crate) fn encode_snapshot(contents: &SnapshotContents) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&SNAPSHOT_MAGIC);
    out.extend_from_slice(&u32::from(FORMAT_VERSION).to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&contents.last_seq.to_le_bytes());
    out.extend_from_slice(&contents.last_timestamp_ns.to_le_bytes());
    out.extend_from_slice(&(contents.messages.len() as u64).to_le_bytes());
    for message in &contents.messages {
        encode_message(&mut out, &MessageRecord::of(message), SNAPSHOT_SALT);
    }
    out.extend_from_slice(&(contents.consumers.len() as u64).to_le_bytes());
    for (name, state) in &contents.consumers {
        let encoded = encode_consumer_state(state);
        out.extend_from_slice(&len_u32(name.len()).to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&len_u32(encoded.len()).to_le_bytes());
        out.extend_from_slice(&encoded);
    }
    let checksum = crc32c::crc32c(&out);
    out.extend_from_slice(&checksum.to_le_bytes());
    out
}

/// Decodes and verifies a snapshot.
pub(crate) fn decode_snapshot(data: &[u8]) -> Result<SnapshotContents, &'static str> {
    let split = data.len().checked_sub(CHECKSUM_LEN).ok_or("too short")?;
    let (checked, checksum) = data.split_at(split);
    if Reader::new(checksum).u32() != Some(crc32c::crc32c(checked)) {
        return Err("checksum mismatch");
    }
    let mut reader = Reader::new(checked);
    const SHORT: &str = "truncated";
    if reader.bytes(8).ok_or(SHORT)? != SNAPSHOT_MAGIC {
        return Err("not a snapshot");
    }
    if reader.u32().ok_or(SHORT)? != u32::from(FORMAT_VERSION) {
        return Err("unknown version");
    }
    reader.u32().ok_or(SHORT)?;
    let mut contents = SnapshotContents {
        last_seq: reader.u64().ok_or(SHORT)?,
        last_timestamp_ns: reader.i64().ok_or(SHORT)?,
        ..SnapshotContents::default()
    };
    let message_count = reader.u64().ok_or(SHORT)?;
    let mut rest = reader.data;
    for _ in 0..message_count {
        let (record, len) =
            decode_record(rest, SNAPSHOT_SALT).map_err(|_| "damaged message record")?;
        let Record::Message(message) = record else {
            return Err("unexpected record kind");
        };
        let previous_seq = contents.messages.last().map_or(0, |previous| previous.seq);
        if message.seq <= previous_seq || message.seq > contents.last_seq {
            return Err("message sequences out of order");
        }
        contents.messages.push(crate::types::StoredMessage {
            seq: message.seq,
            subject: message.subject.to_owned(),
            headers: bytes::Bytes::copy_from_slice(message.headers),
            payload: bytes::Bytes::copy_from_slice(message.payload),
            timestamp_ns: message.timestamp_ns,
            ttl_ns: message.ttl_ns,
        });
        rest = &rest[len..];
    }
    let mut reader = Reader::new(rest);
    let consumer_count = reader.u64().ok_or(SHORT)?;
    for _ in 0..consumer_count {
        let name_len = reader.u32().ok_or(SHORT)? as usize;
        let name = std::str::from_utf8(reader.bytes(name_len).ok_or(SHORT)?)
            .map_err(|_| "consumer name is not UTF-8")?;
        let state_len = reader.u32().ok_or(SHORT)? as usize;
        let state = decode_consumer_state(reader.bytes(state_len).ok_or(SHORT)?)
            .ok_or("damaged consumer state")?;
        contents.consumers.push((name.to_owned(), state));
    }
    if !reader.is_empty() {
        return Err("trailing bytes");
    }
    Ok(contents)
}

const INDEX_MAGIC: [u8; 8] = *b"NXINDEX1";
/// How many trailing bytes of each block the index checksums, to notice a block that changed
/// after the index was written.
pub(crate) const INDEX_TAIL_LEN: u64 = 4096;

/// One block as the index saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IndexedBlock {
    pub block_id: u32,
    pub len: u64,
    pub removal_records: u64,
    /// CRC-32C of the block's last `min(len, INDEX_TAIL_LEN)` bytes.
    pub tail_checksum: u32,
}

/// One kept message as the index saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IndexedMessage {
    pub seq: u64,
    pub subject_id: u32,
    pub block_id: u32,
    pub offset: u64,
    pub len: u32,
    pub size: u64,
    pub timestamp_ns: i64,
    pub ttl_ns: i64,
}

/// The index file: the catalog as of a clean close, so that open need not read every block.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct IndexContents {
    pub salt: u32,
    pub last_seq: u64,
    pub last_timestamp_ns: i64,
    pub blocks: Vec<IndexedBlock>,
    pub subjects: Vec<String>,
    pub messages: Vec<IndexedMessage>,
}

pub(crate) fn encode_index(index: &IndexContents) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + index.messages.len() * 52);
    out.extend_from_slice(&INDEX_MAGIC);
    out.extend_from_slice(&u32::from(FORMAT_VERSION).to_le_bytes());
    out.extend_from_slice(&index.salt.to_le_bytes());
    out.extend_from_slice(&index.last_seq.to_le_bytes());
    out.extend_from_slice(&index.last_timestamp_ns.to_le_bytes());
    out.extend_from_slice(&len_u32(index.blocks.len()).to_le_bytes());
    for block in &index.blocks {
        out.extend_from_slice(&block.block_id.to_le_bytes());
        out.extend_from_slice(&block.len.to_le_bytes());
        out.extend_from_slice(&block.removal_records.to_le_bytes());
        out.extend_from_slice(&block.tail_checksum.to_le_bytes());
    }
    out.extend_from_slice(&len_u32(index.subjects.len()).to_le_bytes());
    for subject in &index.subjects {
        out.extend_from_slice(&len_u32(subject.len()).to_le_bytes());
        out.extend_from_slice(subject.as_bytes());
    }
    out.extend_from_slice(&(index.messages.len() as u64).to_le_bytes());
    for message in &index.messages {
        out.extend_from_slice(&message.seq.to_le_bytes());
        out.extend_from_slice(&message.subject_id.to_le_bytes());
        out.extend_from_slice(&message.block_id.to_le_bytes());
        out.extend_from_slice(&message.offset.to_le_bytes());
        out.extend_from_slice(&message.len.to_le_bytes());
        out.extend_from_slice(&message.size.to_le_bytes());
        out.extend_from_slice(&message.timestamp_ns.to_le_bytes());
        out.extend_from_slice(&message.ttl_ns.to_le_bytes());
    }
    let checksum = crc32c::crc32c(&out);
    out.extend_from_slice(&checksum.to_le_bytes());
    out
}

/// Decodes and verifies an index file; the error says why it cannot be used.
pub(crate) fn decode_index(data: &[u8]) -> Result<IndexContents, &'static str> {
    let split = data.len().checked_sub(CHECKSUM_LEN).ok_or("too short")?;
    let (checked, checksum) = data.split_at(split);
    if Reader::new(checksum).u32() != Some(crc32c::crc32c(checked)) {
        return Err("checksum mismatch");
    }
    const SHORT: &str = "truncated";
    let mut reader = Reader::new(checked);
    if reader.bytes(8).ok_or(SHORT)? != INDEX_MAGIC {
        return Err("not an index file");
    }
    if reader.u32().ok_or(SHORT)? != u32::from(FORMAT_VERSION) {
        return Err("unknown version");
    }
    let mut index = IndexContents {
        salt: reader.u32().ok_or(SHORT)?,
        last_seq: reader.u64().ok_or(SHORT)?,
        last_timestamp_ns: reader.i64().ok_or(SHORT)?,
        ..IndexContents::default()
    };
    let block_count = reader.u32().ok_or(SHORT)?;
    for _ in 0..block_count {
        index.blocks.push(IndexedBlock {
            block_id: reader.u32().ok_or(SHORT)?,
            len: reader.u64().ok_or(SHORT)?,
            removal_records: reader.u64().ok_or(SHORT)?,
            tail_checksum: reader.u32().ok_or(SHORT)?,
        });
    }
    let subject_count = reader.u32().ok_or(SHORT)?;
    for _ in 0..subject_count {
        let len = reader.u32().ok_or(SHORT)? as usize;
        let subject = std::str::from_utf8(reader.bytes(len).ok_or(SHORT)?)
            .map_err(|_| "subject is not UTF-8")?;
        index.subjects.push(subject.to_owned());
    }
    let message_count = reader.u64().ok_or(SHORT)?;
    // Bound the allocation by what the remaining bytes can hold (52 bytes per message).
    index
        .messages
        .reserve((message_count as usize).min(reader.data.len() / 52));
    for _ in 0..message_count {
        let message = IndexedMessage {
            seq: reader.u64().ok_or(SHORT)?,
            subject_id: reader.u32().ok_or(SHORT)?,
            block_id: reader.u32().ok_or(SHORT)?,
            offset: reader.u64().ok_or(SHORT)?,
            len: reader.u32().ok_or(SHORT)?,
            size: reader.u64().ok_or(SHORT)?,
            timestamp_ns: reader.i64().ok_or(SHORT)?,
            ttl_ns: reader.i64().ok_or(SHORT)?,
        };
        if message.subject_id as usize >= index.subjects.len() {
            return Err("message refers to an unknown subject");
        }
        index.messages.push(message);
    }
    if !reader.is_empty() {
        return Err("trailing bytes");
    }
    Ok(index)
}

/// A bounds-checked little-endian cursor: every read returns `None` past the end instead of
/// panicking, so damaged input can never crash the store.
pub(crate) struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data }
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn bytes(&mut self, len: usize) -> Option<&'a [u8]> {
        let (taken, rest) = self.data.split_at_checked(len)?;
        self.data = rest;
        Some(taken)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.bytes(N)?.try_into().ok()
    }

    pub fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_le_bytes)
    }

    pub fn u64(&mut self) -> Option<u64> {
        self.array().map(u64::from_le_bytes)
    }

    pub fn i64(&mut self) -> Option<i64> {
        self.array().map(i64::from_le_bytes)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sample_message() -> MessageRecord<'static> {
        MessageRecord {
            seq: 7,
            timestamp_ns: 1_700_000_000_000_000_000,
            ttl_ns: 5,
            subject: "orders.eu",
            headers: b"NATS/1.0\r\nA: b\r\n\r\n",
            payload: b"hello",
        }
    }

    #[test]
    fn message_record_round_trips() {
        let mut out = Vec::new();
        let len = encode_message(&mut out, &sample_message(), 9);
        assert_eq!(len, out.len());
        let (record, decoded_len) = decode_record(&out, 9).unwrap();
        assert_eq!(decoded_len, len);
        assert_eq!(record, Record::Message(sample_message()));
    }

    #[test]
    fn removal_records_round_trip() {
        for removal in [
            Removal::Delete { seq: 3 },
            Removal::Compact { floor: 9 },
            Removal::Truncate {
                last_seq: 4,
                last_timestamp_ns: -2,
            },
        ] {
            let mut out = Vec::new();
            encode_removal(&mut out, &removal, 9);
            assert_eq!(decode_record(&out, 9).unwrap().0, Record::Removal(removal));
        }
    }

    #[test]
    fn every_single_bit_flip_in_a_record_is_detected() {
        let mut out = Vec::new();
        encode_message(&mut out, &sample_message(), 9);
        for bit in 0..out.len() * 8 {
            let mut damaged = out.clone();
            damaged[bit / 8] ^= 1 << (bit % 8);
            assert!(
                decode_record(&damaged, 9).is_err(),
                "bit {bit} flip went unnoticed"
            );
        }
    }

    #[test]
    fn every_cut_of_a_record_is_incomplete_or_corrupt() {
        let mut out = Vec::new();
        encode_message(&mut out, &sample_message(), 9);
        for cut in 0..out.len() {
            assert!(decode_record(&out[..cut], 9).is_err());
        }
    }

    #[test]
    fn resynchronization_finds_the_record_after_garbage() {
        let mut out = vec![0xAB; 13];
        out.extend_from_slice(b"NXRC garbage");
        let start = out.len();
        encode_message(&mut out, &sample_message(), 9);
        assert_eq!(find_next_record(&out, 0, 9), Some(start));
    }

    #[test]
    fn a_record_with_another_salt_is_not_taken_for_one_of_ours() {
        let mut out = Vec::new();
        encode_message(&mut out, &sample_message(), SNAPSHOT_SALT);
        assert_eq!(
            decode_record(&out, 9),
            Err(DecodeError::Corrupt("record checksum mismatch"))
        );
        assert_eq!(find_next_record(&out, 0, 9), None);
    }

    #[test]
    fn store_meta_round_trips_and_detects_damage() {
        let bytes = encode_store_meta(77);
        assert_eq!(decode_store_meta(&bytes), Some(77));
        for bit in 0..bytes.len() * 8 {
            let mut damaged = bytes.clone();
            damaged[bit / 8] ^= 1 << (bit % 8);
            assert_eq!(decode_store_meta(&damaged), None, "bit {bit}");
        }
    }

    #[test]
    fn block_header_round_trips_and_detects_damage() {
        let header = BlockHeader {
            block_id: 3,
            floor_seq: 10,
            last_seq: 20,
            last_timestamp_ns: 99,
            salt: 5,
        };
        let bytes = encode_block_header(&header);
        assert_eq!(bytes.len(), BLOCK_HEADER_LEN);
        assert_eq!(decode_block_header(&bytes).unwrap(), header);
        let mut damaged = bytes.clone();
        damaged[20] ^= 4;
        assert_eq!(
            decode_block_header(&damaged),
            Err(BlockHeaderError::BadChecksum)
        );
    }

    #[test]
    fn index_round_trips_and_every_bit_flip_is_detected() {
        let index = IndexContents {
            salt: 4,
            last_seq: 9,
            last_timestamp_ns: 3,
            blocks: vec![IndexedBlock {
                block_id: 1,
                len: 100,
                removal_records: 2,
                tail_checksum: 7,
            }],
            subjects: vec!["a.b".into()],
            messages: vec![IndexedMessage {
                seq: 4,
                subject_id: 0,
                block_id: 1,
                offset: 48,
                len: 60,
                size: 20,
                timestamp_ns: 5,
                ttl_ns: 0,
            }],
        };
        let bytes = encode_index(&index);
        assert_eq!(decode_index(&bytes), Ok(index));
        for bit in 0..bytes.len() * 8 {
            let mut damaged = bytes.clone();
            damaged[bit / 8] ^= 1 << (bit % 8);
            assert!(decode_index(&damaged).is_err(), "bit {bit}");
        }
    }

    #[test]
    fn consumer_state_round_trips_and_detects_damage() {
        let mut state = ConsumerState {
            delivered: SequencePair {
                consumer_seq: 5,
                stream_seq: 50,
            },
            ack_floor: SequencePair {
                consumer_seq: 2,
                stream_seq: 20,
            },
            ..ConsumerState::default()
        };
        state.pending.insert(
            30,
            PendingDelivery {
                consumer_seq: 3,
                timestamp_ns: 77,
            },
        );
        state.redelivered.insert(30, 2);
        state.metadata = bytes::Bytes::from_static(b"{\"config\":{}}");
        let bytes = encode_consumer_state(&state);
        assert_eq!(decode_consumer_state(&bytes), Some(state));
        for bit in 0..bytes.len() * 8 {
            let mut damaged = bytes.clone();
            damaged[bit / 8] ^= 1 << (bit % 8);
            assert_eq!(decode_consumer_state(&damaged), None, "bit {bit}");
        }
        for cut in 0..bytes.len() {
            assert_eq!(decode_consumer_state(&bytes[..cut]), None, "cut at {cut}");
        }
    }

    #[test]
    fn consumer_state_of_version_1_reads_without_metadata() {
        let mut state = ConsumerState {
            delivered: SequencePair {
                consumer_seq: 5,
                stream_seq: 50,
            },
            ..ConsumerState::default()
        };
        state.redelivered.insert(30, 2);
        // Version 1 is version 2 without the metadata length and bytes.
        let mut bytes = encode_consumer_state(&state);
        bytes.truncate(bytes.len() - CHECKSUM_LEN - 4);
        bytes[8..12].copy_from_slice(&1u32.to_le_bytes());
        let checksum = crc32c::crc32c(&bytes);
        bytes.extend_from_slice(&checksum.to_le_bytes());
        assert_eq!(decode_consumer_state(&bytes), Some(state));
    }
}
