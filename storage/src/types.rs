//! Values passed through the [`crate::StreamStore`] trait.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;

/// A message to store. The sequence is assigned by the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// A literal subject (no wildcards).
    pub subject: String,
    /// Raw NATS headers (`NATS/1.0\r\n...`), empty when none.
    pub headers: Bytes,
    /// The payload.
    pub payload: Bytes,
    /// Publish time in nanoseconds since the Unix epoch. The caller supplies it so that the
    /// store has no clock of its own and replicas agree.
    pub timestamp_ns: i64,
    /// Per-message time to live; the message expires at `timestamp_ns + ttl`.
    pub ttl: Option<Duration>,
}

impl NewMessage {
    /// A message without headers or TTL.
    pub fn new(subject: impl Into<String>, payload: impl Into<Bytes>, timestamp_ns: i64) -> Self {
        NewMessage {
            subject: subject.into(),
            headers: Bytes::new(),
            payload: payload.into(),
            timestamp_ns,
            ttl: None,
        }
    }
}

/// A message read back from a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// Stream sequence, starting at 1.
    pub seq: u64,
    /// The subject it was published on.
    pub subject: String,
    /// Raw headers, empty when none.
    pub headers: Bytes,
    /// The payload.
    pub payload: Bytes,
    /// Publish time in nanoseconds since the Unix epoch.
    pub timestamp_ns: i64,
    /// Per-message TTL in nanoseconds, 0 when none.
    pub ttl_ns: i64,
}

/// What to do when a limit is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DiscardPolicy {
    /// Remove the oldest messages to make room (the default, as in the Go server).
    #[default]
    Old,
    /// Reject the new message.
    New,
}

/// Stream limits. Zero means unlimited, as in the Go server's `-1`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StoreConfig {
    /// Maximum number of messages kept.
    pub max_msgs: u64,
    /// Maximum total message bytes kept (see [`StreamState::bytes`] for how bytes count).
    pub max_bytes: u64,
    /// Maximum age of a message; older messages are removed by `expire`.
    pub max_age: Option<Duration>,
    /// Maximum messages kept per subject; the oldest of the subject is removed.
    pub max_msgs_per_subject: u64,
    /// Maximum size of one message (subject + headers + payload).
    pub max_msg_size: u64,
    /// What to do when `max_msgs` or `max_bytes` is reached.
    pub discard: DiscardPolicy,
    /// With [`DiscardPolicy::New`]: also reject a message whose subject is at
    /// `max_msgs_per_subject`, instead of removing that subject's oldest.
    pub discard_new_per_subject: bool,
}

/// The state of a stream, as the Go server's `StreamState`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StreamState {
    /// Number of messages kept.
    pub msgs: u64,
    /// Bytes kept, each message counting `subject + headers + payload + 16` (the Go memory
    /// store's accounting, used by both stores so that they report the same numbers).
    pub bytes: u64,
    /// Lowest kept sequence, or `last_seq + 1` when the store is empty.
    pub first_seq: u64,
    /// Timestamp of the first kept message, 0 when empty.
    pub first_timestamp_ns: i64,
    /// Highest sequence ever assigned (kept or not), until truncate lowers it.
    pub last_seq: u64,
    /// Timestamp of the last stored message.
    pub last_timestamp_ns: i64,
    /// Sequences between first and last that are not kept (interior deletes).
    pub num_deleted: u64,
    /// Number of distinct subjects kept.
    pub num_subjects: u64,
}

/// Counts for a filter, as the Go server's `SimpleState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SimpleState {
    /// Matching messages.
    pub msgs: u64,
    /// Lowest matching sequence, 0 when none.
    pub first: u64,
    /// Highest matching sequence, 0 when none.
    pub last: u64,
}

/// What to purge, as the Go server's `PurgeEx`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PurgeRequest {
    /// Only messages whose subject matches this filter; `None` (or `>`) for all.
    pub subject: Option<String>,
    /// Only messages with a sequence strictly below this one (`Some(0)` is no bound, and
    /// `Some(1)` purges nothing, as in the Go server).
    pub before_seq: Option<u64>,
    /// Keep this many of the newest matching messages.
    pub keep: Option<u64>,
}

/// A pair of sequences, consumer and stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SequencePair {
    /// The consumer's delivery sequence.
    pub consumer_seq: u64,
    /// The stream sequence.
    pub stream_seq: u64,
}

/// A message delivered and not yet acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PendingDelivery {
    /// The consumer sequence of the last delivery.
    pub consumer_seq: u64,
    /// When it was last delivered, nanoseconds since the Unix epoch.
    pub timestamp_ns: i64,
}

/// A consumer's persistent state, as the Go server's `ConsumerState`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConsumerState {
    /// Highest delivered sequences.
    pub delivered: SequencePair,
    /// Everything at or below these sequences is acknowledged.
    pub ack_floor: SequencePair,
    /// Delivered, unacknowledged messages by stream sequence.
    pub pending: BTreeMap<u64, PendingDelivery>,
    /// Redelivery counts by stream sequence.
    pub redelivered: BTreeMap<u64, u64>,
    /// The owner's description of the consumer, opaque to the store and saved with the state
    /// in the same atomic write (JetStream keeps the consumer's configuration and creation
    /// time here, so that one record brings a durable consumer back). Empty when none;
    /// consumer files of format version 1 read back with none.
    pub metadata: Bytes,
}
