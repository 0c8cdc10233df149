//! Stream snapshots in the Go server's format (2.15's "v2" backups), so that a backup made
//! by `nats stream backup` against either server restores into the other: an S2 stream
//! ([`s2`]) of an archive ([`archive`], magic `NATSARC1`) whose entries are, in order,
//!
//! 1. `state.json`: the stream's state as `STREAM.INFO` shows it (`consumer_count` says how
//!    many consumer entries follow);
//! 2. `consumers/<name>`, one per consumer: `{"config": ..., "state": ...}`;
//! 3. every kept message, ascending: name = subject, time, sequence, header and payload
//!    sizes, then the raw headers and the payload;
//! 4. an entry with every field zero, which tells a complete backup from a truncated one.
//!
//! Pure: [`SnapshotWriter`] turns state and messages into the compressed bytes the runtime
//! sends in chunks; [`RestoreReader`] turns received chunks back into items the runtime
//! stores. Both hold a bounded amount: about one compressed block, one entry.

pub mod archive;
pub mod consumers;
pub mod s2;

use bytes::Bytes;
use natrix_storage::StoredMessage;
use serde::Deserialize;

use crate::api::StreamState;
use crate::time::Timestamp;
use archive::EntryHeader;

/// The name of the state entry.
const STATE_ENTRY: &str = "state.json";
/// The prefix of consumer entries.
const CONSUMER_PREFIX: &str = "consumers/";
/// The largest state or consumer entry accepted.
const MAX_METADATA_ENTRY_LEN: u64 = 16 << 20;

/// Why a backup could not be read. The description goes into Go's `restore failed: {err}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    /// The S2 stream is damaged. Not recoverable: the backup is bad.
    #[error("s2: {0}")]
    Compression(&'static str),
    /// The archive inside is damaged. Not recoverable: the backup is bad.
    #[error("archive: {0}")]
    Archive(&'static str),
    /// An entry is not what the format puts there. Not recoverable: the backup is bad.
    #[error("{0}")]
    Format(String),
}

/// What `state.json` says; the restore uses the sequences and the consumer count.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct BackupState {
    pub messages: u64,
    pub bytes: u64,
    pub first_seq: u64,
    pub last_seq: u64,
    pub last_ts: Timestamp,
    pub consumer_count: u64,
}

/// Builds a snapshot: feed it the state, consumers and messages in order, take the
/// compressed bytes out in chunks as they become available.
#[derive(Debug)]
pub struct SnapshotWriter {
    /// Archive bytes not compressed yet.
    plain: Vec<u8>,
    encoder: s2::Encoder,
    /// Compressed bytes not taken yet, from `taken`.
    compressed: Vec<u8>,
    taken: usize,
}

impl SnapshotWriter {
    /// Starts a snapshot of a stream in `state` (with `consumer_count` consumers to follow).
    pub fn new(state: &StreamState) -> SnapshotWriter {
        let mut writer = SnapshotWriter {
            plain: Vec::with_capacity(s2::BLOCK_LEN),
            encoder: s2::Encoder::default(),
            compressed: Vec::new(),
            taken: 0,
        };
        archive::write_magic(&mut writer.plain);
        let json = crate::json::to_vec(state);
        writer.entry(STATE_ENTRY.to_owned(), 0, 0, &[], &json);
        writer
    }

    /// Adds a consumer: `json` is `{"config": ..., "state": ...}`.
    pub fn consumer(&mut self, name: &str, json: &[u8]) {
        self.entry(format!("{CONSUMER_PREFIX}{name}"), 0, 0, &[], json);
    }

    /// Adds a message.
    pub fn message(&mut self, message: &StoredMessage) {
        self.entry(
            message.subject.clone(),
            message.timestamp_ns,
            message.seq,
            &message.headers,
            &message.payload,
        );
    }

    /// Ends the snapshot: the end entry, and everything compressed.
    pub fn finish(&mut self) {
        self.entry(String::new(), 0, 0, &[], &[]);
        self.compress();
        self.encoder.finish(&mut self.compressed);
    }

    /// The next `size` compressed bytes, if that many are ready.
    pub fn take_chunk(&mut self, size: usize) -> Option<Vec<u8>> {
        if self.compressed.len() - self.taken < size.max(1) {
            return None;
        }
        let chunk = self.compressed[self.taken..self.taken + size.max(1)].to_vec();
        self.taken += chunk.len();
        if self.taken == self.compressed.len() {
            self.compressed.clear();
            self.taken = 0;
        }
        Some(chunk)
    }

    /// Every compressed byte not taken yet (after [`SnapshotWriter::finish`]: the last,
    /// short chunk).
    pub fn take_rest(&mut self) -> Vec<u8> {
        let rest = self.compressed[self.taken..].to_vec();
        self.compressed.clear();
        self.taken = 0;
        rest
    }

    fn entry(
        &mut self,
        name: String,
        timestamp_ns: i64,
        sequence: u64,
        headers: &[u8],
        body: &[u8],
    ) {
        let header = EntryHeader {
            name,
            timestamp_ns,
            sequence,
            header_size: headers.len() as u64,
            payload_size: body.len() as u64,
        };
        archive::write_entry(&mut self.plain, &header, &[headers, body]);
        if self.plain.len() >= s2::BLOCK_LEN {
            self.compress();
        }
    }

    fn compress(&mut self) {
        if self.taken > 0 {
            self.compressed.drain(..self.taken);
            self.taken = 0;
        }
        if !self.plain.is_empty() {
            self.encoder.write_block(&self.plain, &mut self.compressed);
            self.plain.clear();
        }
    }
}

/// What a backup holds, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestoreItem {
    State(BackupState),
    /// A consumer's `{"config": ..., "state": ...}`.
    Consumer {
        name: String,
        json: Vec<u8>,
    },
    /// A message, with its TTL (from `Nats-TTL`) in `ttl_ns`.
    Message(StoredMessage),
    /// The end entry: the backup is complete.
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    State,
    Consumers { left: u64 },
    Messages,
    Done,
}

/// Reads a backup from chunks as they arrive.
#[derive(Debug)]
pub struct RestoreReader {
    decoder: s2::Decoder,
    archive: archive::Reader,
    plain: Vec<u8>,
    stage: Stage,
}

impl RestoreReader {
    /// A reader that refuses messages larger than `max_message_len` (header and payload).
    pub fn new(max_message_len: u64) -> RestoreReader {
        RestoreReader {
            decoder: s2::Decoder::default(),
            archive: archive::Reader::new(max_message_len.max(MAX_METADATA_ENTRY_LEN)),
            plain: Vec::new(),
            stage: Stage::State,
        }
    }

    /// Takes a chunk of the backup.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), BackupError> {
        self.plain.clear();
        self.decoder.feed(chunk, &mut self.plain)?;
        self.archive.feed(&self.plain);
        self.plain.clear();
        Ok(())
    }

    /// Whether the end entry was read.
    pub fn is_complete(&self) -> bool {
        self.stage == Stage::Done
    }

    /// The next complete item, `None` until more chunks come (or after the end).
    pub fn next_item(&mut self) -> Result<Option<RestoreItem>, BackupError> {
        if self.stage == Stage::Done {
            return Ok(None);
        }
        let Some((header, contents)) = self.archive.next_entry()? else {
            return Ok(None);
        };
        match self.stage {
            Stage::State => {
                if header.name != STATE_ENTRY {
                    return Err(BackupError::Format("expected state.json first".into()));
                }
                let state: BackupState = serde_json::from_slice(&contents).map_err(|error| {
                    BackupError::Format(format!("error in state.json: {error}"))
                })?;
                self.stage = if state.consumer_count > 0 {
                    Stage::Consumers {
                        left: state.consumer_count,
                    }
                } else {
                    Stage::Messages
                };
                Ok(Some(RestoreItem::State(state)))
            }
            Stage::Consumers { left } => {
                let Some(name) = header.name.strip_prefix(CONSUMER_PREFIX) else {
                    return Err(BackupError::Format(format!(
                        "expected consumer, found {:?}",
                        header.name
                    )));
                };
                self.stage = if left > 1 {
                    Stage::Consumers { left: left - 1 }
                } else {
                    Stage::Messages
                };
                Ok(Some(RestoreItem::Consumer {
                    name: name.to_owned(),
                    json: contents,
                }))
            }
            Stage::Messages => message_item(header, contents).inspect(|item| {
                if item == &Some(RestoreItem::End) {
                    self.stage = Stage::Done;
                }
            }),
            Stage::Done => Ok(None),
        }
    }
}

fn message_item(
    header: EntryHeader,
    contents: Vec<u8>,
) -> Result<Option<RestoreItem>, BackupError> {
    let seq = header.sequence;
    if seq == 0 {
        if header.timestamp_ns == 0 && header.header_size == 0 && header.payload_size == 0 {
            return Ok(Some(RestoreItem::End));
        }
        return Err(BackupError::Format("expected message sequence".into()));
    }
    let mut contents = Bytes::from(contents);
    let payload = contents.split_off(header.header_size as usize);
    let ttl_seconds = crate::stream::message_ttl(&contents).map_err(|()| {
        BackupError::Format(format!("failed to parse message TTL of sequence {seq}"))
    })?;
    Ok(Some(RestoreItem::Message(StoredMessage {
        seq,
        subject: header.name,
        headers: contents,
        payload,
        timestamp_ns: header.timestamp_ns,
        ttl_ns: ttl_seconds
            .filter(|seconds| *seconds > 0)
            .map_or(0, |seconds| seconds.saturating_mul(1_000_000_000)),
    })))
}

#[cfg(test)]
mod tests;
