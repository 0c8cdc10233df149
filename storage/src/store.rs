//! The [`StreamStore`] trait: everything JetStream asks of a stream's storage.

use std::collections::HashMap;

use crate::error::Result;
use crate::types::{
    ConsumerState, NewMessage, PurgeRequest, SimpleState, StoreConfig, StoredMessage, StreamState,
};

/// A stream's message store, used from the one shard thread that owns the stream.
///
/// Methods take `&self` so that many tasks of the shard can store concurrently (that is what
/// lets the file store share one fdatasync among them); each store keeps its state behind a
/// `RefCell` that is never borrowed across an `.await`.
///
/// Semantics follow the Go server's stores: sequences start at 1; an empty store reports
/// `first_seq == last_seq + 1`; filters use `*` and `>` over `.`-separated tokens and the empty
/// filter selects everything. Every method that changes the store completes only once the
/// change is as durable as the store's policy promises (for [`crate::FileStore`] by default:
/// on stable storage).
// The futures are `!Send` on purpose (thread-per-core), so the auto-trait caveat of
// `async fn` in public traits does not apply.
#[allow(async_fn_in_trait)]
pub trait StreamStore {
    /// Stores a message, enforces the limits, and returns its sequence.
    async fn store_msg(&self, message: NewMessage) -> Result<u64>;

    /// Loads the message with this sequence; `None` if it is not kept.
    async fn load_msg(&self, seq: u64) -> Result<Option<StoredMessage>>;

    /// Loads the first kept message at or after `start_seq` whose subject matches `filter`.
    async fn load_next_msg(&self, filter: &str, start_seq: u64) -> Result<Option<StoredMessage>>;

    /// Loads the next messages whose subject matches `filter` at or after `start_seq`, in
    /// sequence order: at most `max_messages`, and no more once their subjects, headers and
    /// payloads reach `max_bytes` (at least one). What a consumer delivers next; the file
    /// store reads records that lie together in one read.
    async fn load_next_msgs(
        &self,
        filter: &str,
        start_seq: u64,
        max_messages: usize,
        max_bytes: usize,
    ) -> Result<Vec<StoredMessage>> {
        let mut found = Vec::new();
        let mut bytes = 0usize;
        let mut seq = start_seq;
        while found.len() < max_messages && (found.is_empty() || bytes < max_bytes) {
            let Some(message) = self.load_next_msg(filter, seq).await? else {
                break;
            };
            bytes += message.subject.len() + message.headers.len() + message.payload.len();
            seq = message.seq + 1;
            found.push(message);
        }
        Ok(found)
    }

    /// Loads the newest message whose subject matches `filter` (the KV "get").
    async fn load_last_msg(&self, filter: &str) -> Result<Option<StoredMessage>>;

    /// Removes one message; `false` if it was not kept.
    async fn remove_msg(&self, seq: u64) -> Result<bool>;

    /// Purges as the Go server's `PurgeEx` and returns how many messages went.
    async fn purge(&self, request: &PurgeRequest) -> Result<u64>;

    /// Removes every message below `floor_seq` and returns how many went. Compacting past the
    /// end makes `floor_seq` the next sequence; `0` purges everything.
    async fn compact(&self, floor_seq: u64) -> Result<u64>;

    /// Removes every message above `last_seq`, which becomes the last sequence. Asking for the
    /// current last sequence or above changes nothing.
    async fn truncate(&self, last_seq: u64) -> Result<()>;

    /// Removes messages past `max_age` or their own TTL at `now_ns` and returns how many went.
    /// The owner calls it from a timer; the store keeps no clock.
    async fn expire(&self, now_ns: i64) -> Result<u64>;

    /// The sequences that [`StreamStore::expire`] would remove at `now_ns`, ascending, without
    /// removing them: for an owner that leaves a subject delete marker in place of the last
    /// message of a subject (`subject_delete_marker_ttl`) and removes the others itself.
    fn expired(&self, now_ns: i64) -> Vec<u64>;

    /// Replaces the limits and removes what the new limits no longer allow (discard old).
    async fn update_config(&self, config: StoreConfig) -> Result<()>;

    /// The current limits.
    fn config(&self) -> StoreConfig;

    /// Counters of the whole stream.
    fn state(&self) -> StreamState;

    /// The interior deletes, ascending, at most `limit` of them (`STREAM.INFO` with
    /// `deleted_details`).
    fn deleted(&self, limit: usize) -> Vec<u64>;

    /// Counts of messages matching `filter` at or after `start_seq`.
    fn filtered_state(&self, filter: &str, start_seq: u64) -> SimpleState;

    /// Per-subject counts for subjects matching `filter`.
    fn subjects_state(&self, filter: &str) -> HashMap<String, SimpleState>;

    /// Per-subject message totals for subjects matching `filter`.
    fn subjects_totals(&self, filter: &str) -> HashMap<String, u64> {
        self.subjects_state(filter)
            .into_iter()
            .map(|(subject, state)| (subject, state.msgs))
            .collect()
    }

    /// Saves a consumer's state (atomically replacing the previous one).
    async fn update_consumer_state(&self, name: &str, state: &ConsumerState) -> Result<()>;

    /// A consumer's saved state.
    fn consumer_state(&self, name: &str) -> Option<ConsumerState>;

    /// Forgets a consumer's state; `false` if there was none.
    async fn remove_consumer_state(&self, name: &str) -> Result<bool>;

    /// Names of the consumers with saved state, sorted.
    fn consumer_names(&self) -> Vec<String>;

    /// A self-contained, checksummed image of the kept messages, the sequence counters and the
    /// consumer states (format in `storage/FORMAT.md`).
    async fn snapshot(&self) -> Result<Vec<u8>>;

    /// Fills an empty store from a snapshot, keeping the original sequences, then applies this
    /// store's limits (discard old) to what it restored.
    async fn restore(&self, snapshot: &[u8]) -> Result<()>;

    /// Appends messages that keep the sequences, times and TTLs they had in the store they
    /// were backed up from (a restore that arrives in pieces): ascending, each above the last
    /// sequence; the sequences skipped between them count as removed. The limits are not
    /// applied here; a restore applies them once at its end (`update_config`). On an error
    /// nothing of this call was kept.
    async fn append_restored(&self, messages: Vec<StoredMessage>) -> Result<()>;

    /// Makes `last_seq` the last sequence (stamped `last_timestamp_ns`) when it is above the
    /// current one: the sequences between were used and their messages removed, as at the end
    /// of a backed-up stream whose last messages were deleted. Below or at the current last
    /// sequence it changes nothing.
    async fn skip_to(&self, last_seq: u64, last_timestamp_ns: i64) -> Result<()>;
}

/// Checks that restored messages can be appended after `last_seq`: storable subjects,
/// sequences ascending and above it.
pub(crate) fn check_restored(messages: &[StoredMessage], mut last_seq: u64) -> Result<()> {
    for message in messages {
        if !crate::subject::is_storable_subject(&message.subject) {
            return Err(crate::error::StoreError::InvalidSubject(
                message.subject.clone(),
            ));
        }
        if message.seq <= last_seq {
            return Err(crate::error::StoreError::RestoreOutOfOrder {
                seq: message.seq,
                last_seq,
            });
        }
        last_seq = message.seq;
    }
    Ok(())
}
