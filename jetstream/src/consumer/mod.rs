//! Consumers as pure logic: a stream's consumers in one [`ConsumerSet`] that takes events and
//! returns [`Action`]s, like [`crate::stream::StreamMachine`]. No sockets, files, clocks or
//! tasks: time comes in with every event ([`Context::now_ns`]), timers go out as
//! [`Action::WakeAt`], store reads that may wait go out as [`Action::Load`].
//!
//! # Contract with the runtime
//!
//! The shard that owns a stream keeps the stream's [`ConsumerSet`] next to its
//! [`crate::stream::StreamMachine`] and store. Every call takes a [`Context`]: the store (read
//! only through the synchronous queries of [`natrix_storage::StreamStore`]: `state`,
//! `filtered_state`, `subjects_state`), an [`InterestQuery`] over the shard's routing (does
//! any subscription match this subject?), and the current time. Every call appends actions
//! to a `Vec<Action>` that the runtime performs **in order**:
//!
//! | when | call |
//! |---|---|
//! | the stream starts | [`ConsumerSet::new`], then [`ConsumerSet::recover`] for each name in `store.consumer_names()` with `store.consumer_state(name)`; subscribe to [`ConsumerSet::subscriptions`] |
//! | a message was stored (`StreamMachine` reported the store `Ok(seq)`) | [`ConsumerSet::stored`] |
//! | a message left the stream by `STREAM.MSG.DELETE` | [`ConsumerSet::removed`] |
//! | the stream was purged | [`ConsumerSet::purged`] |
//! | a message arrives on an ack subject (`$JS.ACK.…`) | [`ConsumerSet::ack`] |
//! | a message arrives on a flow control subject (`$JS.FC.…`) | [`ConsumerSet::flow_control_reply`] |
//! | a request on `$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>` | [`ConsumerSet::next_request`] |
//! | `CONSUMER.CREATE` / `DURABLE.CREATE` | [`ConsumerSet::create`] |
//! | `CONSUMER.INFO` / `NAMES` / `LIST` / `DELETE` / `PAUSE` / `UNPIN` / `RESET` | [`ConsumerSet::info`], [`ConsumerSet::names_request`], [`ConsumerSet::list`], [`ConsumerSet::delete`], [`ConsumerSet::pause`], [`ConsumerSet::unpin`], [`ConsumerSet::reset`] |
//! | interest in a watched deliver subject appears or goes ([`Action::WatchDeliverInterest`]) | [`ConsumerSet::deliver_interest`] |
//! | a [`Action::Load`] completed | [`ConsumerSet::loaded`] with its token |
//! | a [`Action::SaveState`] completed | [`ConsumerSet::saved`] with its token |
//! | the time of the last [`Action::WakeAt`] came | [`ConsumerSet::tick`] (calling it early or more often is harmless) |
//! | the stream's configuration changed | [`ConsumerSet::set_stream_config`] |
//! | the server stops | [`ConsumerSet::shutdown`], then perform the final saves |
//! | the stream is deleted | [`ConsumerSet::stream_deleted`] |
//!
//! Actions:
//! - [`Action::Publish`]: route a message (delivery, status, advisory, API reply) through the
//!   routing core, in the stream's account. Order matters (a delivery before its `409 Batch
//!   Completed`).
//! - [`Action::Load`]: run [`LoadRequest::run`] on the store (it may await), then report the
//!   result with [`ConsumerSet::loaded`]. Loads of one consumer never overlap.
//! - [`Action::SaveState`]: `update_consumer_state(consumer, state)`, then
//!   [`ConsumerSet::saved`]. Saves of one consumer never overlap; they are batched (at most
//!   one per `state_flush_interval_ns`, except that an ack with a reply asks for the next
//!   save at once: its reply leaves only once the ack is saved).
//! - [`Action::RemoveState`]: `remove_consumer_state(consumer)` (a deleted consumer).
//! - [`Action::RemoveMessage`] / [`Action::Compact`] / [`Action::PurgeAll`]: interest and
//!   work-queue retention: `remove_msg(seq)`, `compact(floor)`, `purge(all)`.
//! - [`Action::WatchDeliverInterest`] / [`Action::UnwatchDeliverInterest`]: tell the set,
//!   now and on every change, whether the deliver subject of a push consumer has
//!   subscribers.
//! - [`Action::WakeAt`]: call `tick` at that time; the latest `WakeAt` replaces the earlier.
//!
//! The set's memory is bounded: pending acknowledgements by `max_ack_pending`, waiting pull
//! requests by `max_waiting`, messages loaded at once by [`ConsumerSetOptions`], queued ack
//! replies by `max_ack_pending` too.

mod acks;
pub mod config;
mod delivery;
mod handlers;
pub mod ids;
mod lifecycle;
mod machine;
pub(crate) mod persist;
pub mod pull;
mod retention;
mod set;
pub mod status;
mod waiting;
pub mod wire;

pub use persist::RecoverError;
pub use set::{ConsumerSet, ConsumerSetOptions};

use bytes::Bytes;
use natrix_storage::{StoreError, StoredMessage, StreamStore};

/// Identifies one load or save, so that its outcome can be reported back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Token(pub u64);

/// What every event needs from the shard.
pub struct Context<'a, S: StreamStore> {
    /// The stream's store, for its synchronous queries.
    pub store: &'a S,
    /// Subscriptions of the shard's routing.
    pub interest: &'a dyn InterestQuery,
    /// Now, nanoseconds since the Unix epoch.
    pub now_ns: i64,
}

/// Whether any subscription (on any shard, through the interest summary) matches a subject.
/// A pull request whose reply subject loses interest is dropped, as in the Go server; an
/// advisory with no listener is not built.
pub trait InterestQuery {
    /// Whether a message published on `subject` would reach someone.
    fn has_interest(&self, subject: &str) -> bool;
}

/// Interest everywhere (tests, or a runtime that does not track it).
pub struct AllInterest;

impl InterestQuery for AllInterest {
    fn has_interest(&self, _subject: &str) -> bool {
        true
    }
}

/// A message to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// Its subject.
    pub subject: String,
    /// Its reply subject, if any.
    pub reply: Option<String>,
    /// Its header block, empty for none.
    pub headers: Bytes,
    /// Its payload.
    pub payload: Bytes,
    /// For a stream message delivered to a consumer: the message's own subject, which the
    /// receiver sees while the message is routed on `subject` (the Go server's `pa.deliver`).
    pub shown_subject: Option<String>,
}

/// What the runtime must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Publish a message.
    Publish(Outgoing),
    /// Run a load on the store and report it with [`ConsumerSet::loaded`].
    Load {
        /// Identifies the outcome.
        token: Token,
        /// What to load.
        request: LoadRequest,
    },
    /// Save a consumer's state record and report it with [`ConsumerSet::saved`].
    SaveState {
        /// Identifies the outcome.
        token: Token,
        /// The consumer.
        consumer: String,
        /// The record (delivered, ack floor, pending, redelivered, and the consumer's
        /// configuration in `metadata`).
        state: natrix_storage::ConsumerState,
    },
    /// Forget a deleted consumer's saved state.
    RemoveState {
        /// The consumer.
        consumer: String,
    },
    /// Remove one message: every consumer that needed it has acknowledged it.
    RemoveMessage {
        /// Its sequence.
        seq: u64,
    },
    /// Remove every message below this sequence (interest retention).
    Compact {
        /// The new first sequence at most.
        floor_seq: u64,
    },
    /// Remove every message (an interest stream lost its last consumer).
    PurgeAll,
    /// Report interest in a push consumer's deliver subject with
    /// [`ConsumerSet::deliver_interest`], now and whenever it changes.
    WatchDeliverInterest {
        /// The consumer.
        consumer: String,
        /// Its deliver subject.
        subject: String,
    },
    /// Stop reporting interest in this deliver subject.
    UnwatchDeliverInterest {
        /// The consumer.
        consumer: String,
        /// The subject no longer watched.
        subject: String,
    },
    /// Call [`ConsumerSet::tick`] at this time (replaces the previous request).
    WakeAt {
        /// Nanoseconds since the Unix epoch.
        at_ns: i64,
    },
}

/// Messages to load from the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadRequest {
    /// These sequences (missing ones are left out of the result).
    Sequences(Vec<u64>),
    /// The next messages matching any of `filters` (none: every subject) at or after
    /// `start_seq`, in sequence order, at most `max_messages` of them and no more once
    /// `max_bytes` is reached (at least one).
    Next {
        /// Subject filters; they never overlap.
        filters: Vec<String>,
        /// The first sequence to look at.
        start_seq: u64,
        /// How many at most.
        max_messages: usize,
        /// How many bytes (subject, headers, payload) before stopping.
        max_bytes: usize,
    },
}

impl LoadRequest {
    /// Performs the load on `store`.
    pub async fn run<S: StreamStore>(&self, store: &S) -> Result<Vec<StoredMessage>, StoreError> {
        match self {
            LoadRequest::Sequences(seqs) => {
                let mut found = Vec::with_capacity(seqs.len());
                for seq in seqs {
                    if let Some(message) = store.load_msg(*seq).await? {
                        found.push(message);
                    }
                }
                Ok(found)
            }
            LoadRequest::Next {
                filters,
                start_seq,
                max_messages,
                max_bytes,
            } => load_next(store, filters, *start_seq, *max_messages, *max_bytes).await,
        }
    }
}

/// The next messages of any of `filters`. One filter (or none) is one batched store load;
/// with several, one candidate per filter, the lowest taken and its filter advanced, so each
/// message costs one store load.
async fn load_next<S: StreamStore>(
    store: &S,
    filters: &[String],
    start_seq: u64,
    max_messages: usize,
    max_bytes: usize,
) -> Result<Vec<StoredMessage>, StoreError> {
    if filters.len() <= 1 {
        let filter = filters.first().map_or("", String::as_str);
        return store
            .load_next_msgs(filter, start_seq, max_messages, max_bytes)
            .await;
    }
    let mut candidates: Vec<Option<StoredMessage>> = Vec::with_capacity(filters.len());
    for filter in filters {
        candidates.push(store.load_next_msg(filter, start_seq).await?);
    }
    let mut found = Vec::new();
    let mut bytes = 0usize;
    while found.len() < max_messages && (found.is_empty() || bytes < max_bytes) {
        let lowest = candidates
            .iter()
            .enumerate()
            .filter_map(|(index, candidate)| candidate.as_ref().map(|message| (message.seq, index)))
            .min();
        let Some((seq, index)) = lowest else {
            break;
        };
        let next = store.load_next_msg(&filters[index], seq + 1).await?;
        if let Some(message) = std::mem::replace(&mut candidates[index], next) {
            bytes += message.subject.len() + message.headers.len() + message.payload.len();
            found.push(message);
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests;
