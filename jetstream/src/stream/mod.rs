//! The stream state machine for the publish path: publishes in, actions out, no I/O.
//!
//! # Contract with the runtime
//!
//! The shard that owns a stream keeps one [`StreamMachine`] next to the stream's store and:
//!
//! 1. hands it every captured message with [`StreamMachine::publish`] and performs the
//!    returned [`Action`]s;
//! 2. performs the store actions ([`Action::Store`], [`Action::Purge`], [`Action::LoadLast`])
//!    **in the order they were returned**: it may let them run concurrently (so that many
//!    stores share one group commit), but it must *start* them in order, which with
//!    `natrix_storage`'s stores means polling each future for the first time in order (both
//!    stores assign the sequence and apply limits at the first poll, before any await; compio
//!    polls spawned tasks in spawn order);
//! 3. reports each store's outcome with [`StreamMachine::store_completed`] (in any order, by
//!    the action's [`Token`]), each load's with [`StreamMachine::loaded`], and calls
//!    [`StreamMachine::tick`] from a timer (once a second is enough) to prune the dedupe window.
//!
//! Publishes are pipelined: the machine does not wait for a store to complete before deciding
//! the next publish. It predicts each message's sequence (the store assigns them in call
//! order) and keeps what later decisions need about the stores in flight (their subjects,
//! sequences, message ids and counter values), so `Nats-Expected-Last-Sequence`,
//! `-Last-Subject-Sequence`, `-Last-Msg-Id`, dedupe and counters see every earlier publish,
//! stored or not. A store that fails without consuming a sequence (a discard-new limit)
//! shifts the predictions of the stores after it; the machine corrects them when it learns
//! the outcome. Because a publish whose decision depends on sequences could be decided on a
//! prediction that such a failure makes wrong, it is held until no store that may fail is in
//! flight ("may fail": the stream uses discard new with `max_msgs`, `max_bytes` or
//! `discard_new_per_subject`). Held publishes keep their arrival order.
//!
//! The machine reads the store only through the synchronous queries of
//! [`natrix_storage::StreamStore`] (`state`, `filtered_state`), and only for subjects without
//! a store in flight, so it does not matter whether the runtime has started those stores yet.
//!
//! Memory is bounded: at most `max_in_flight` stores in flight and `max_held` publishes held
//! (past that a publish is answered `429 too many requests`; [`StreamMachine::is_busy`] tells
//! the runtime to stop reading from publishers first), and the dedupe window holds at most
//! `dedupe_max_entries` ids.

mod batch;
mod dedupe;
mod publish;

use std::collections::VecDeque;

use bytes::Bytes;
use natrix_storage::{NewMessage, PurgeRequest, StoreError, StreamStore};

use crate::api::StreamConfig;
use crate::errors::{ApiError, ErrorId};

pub use dedupe::{Dedupe, DedupeEntry};
pub(crate) use publish::parse_ttl as message_ttl;

/// Identifies one store or load action, so that its outcome can be reported back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Token(pub u64);

/// A message captured by the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    /// The subject it was published on.
    pub subject: String,
    /// Where the PubAck goes; `None` stores without answering.
    pub reply: Option<String>,
    /// Raw headers (`NATS/1.0\r\n...`), empty when none.
    pub headers: Bytes,
    /// The payload.
    pub payload: Bytes,
    /// Arrival time, nanoseconds since the epoch: the message's timestamp.
    pub now_ns: i64,
    /// Where the stored message is republished (the stream's `republish` transform applied
    /// to `subject` by the runtime), `None` when it is not.
    pub republish_to: Option<String>,
}

/// What the runtime must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Call `store_msg(message)`, then report with [`StreamMachine::store_completed`].
    Store {
        /// Identifies the outcome.
        token: Token,
        /// The message as it must be stored.
        message: NewMessage,
    },
    /// Call `purge(request)` (rollups); the outcome needs no report.
    Purge {
        /// What to purge.
        request: PurgeRequest,
    },
    /// Call `load_last_msg(subject)`, then report with [`StreamMachine::loaded`].
    LoadLast {
        /// Identifies the outcome.
        token: Token,
        /// The subject.
        subject: String,
    },
    /// Publish a stored message again (the stream's `republish`), before the PubAck that
    /// follows it in the same actions.
    Republish {
        /// The destination subject.
        subject: String,
        /// Raw headers: the message's, with the `Nats-Stream`, `-Subject`, `-Sequence`,
        /// `-Time-Stamp` and `-Last-Sequence` (and `-Msg-Size`) headers added.
        headers: Bytes,
        /// The payload, empty for `headers_only`.
        payload: Bytes,
    },
    /// Publish `payload` to `subject` (a PubAck or an error reply).
    Reply {
        /// The reply subject.
        subject: String,
        /// The JSON.
        payload: Bytes,
    },
}

/// Bounds of one machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MachineLimits {
    /// Stores in flight before publishes are held.
    pub max_in_flight: usize,
    /// Publishes held before they are refused with 429.
    pub max_held: usize,
    /// Ids kept in the dedupe window at most.
    pub dedupe_max_entries: usize,
    /// Counter values remembered by subject, to spare loads.
    pub counter_cache_entries: usize,
}

impl Default for MachineLimits {
    fn default() -> Self {
        MachineLimits {
            max_in_flight: 4096,
            max_held: 65_536,
            dedupe_max_entries: 1 << 20,
            counter_cache_entries: 4096,
        }
    }
}

/// A store issued and not yet reported.
#[derive(Debug, Clone)]
struct InFlight {
    token: Token,
    predicted_seq: u64,
    subject: String,
    msg_id: Option<String>,
    reply: Option<String>,
    counter_value: Option<i128>,
    rollup_all: bool,
    may_fail: bool,
    duplicate_replies: Vec<String>,
    republish: Option<Box<PendingRepublish>>,
    /// For the commit of an atomic batch: its id and size, for the PubAck.
    batch: Option<(String, u64)>,
}

/// What a republish needs once the store succeeded.
#[derive(Debug, Clone)]
struct PendingRepublish {
    destination: String,
    /// The subject's last sequence before this message (Go's `Nats-Last-Sequence`).
    last_subject_seq: u64,
    headers: Bytes,
    payload: Bytes,
    timestamp_ns: i64,
}

/// The publish-path state of one stream.
#[derive(Debug)]
pub struct StreamMachine {
    config: StreamConfig,
    domain: String,
    /// The start of every PubAck of this stream, up to the sequence:
    /// `{"stream":"S","domain":"D","seq":` (JSON-escaped once, not per message).
    ack_prefix: String,
    limits: MachineLimits,
    next_token: u64,
    /// The sequence the next store will get.
    next_seq: u64,
    in_flight: VecDeque<InFlight>,
    held: VecDeque<Publish>,
    /// A counter publish waiting for the subject's last message.
    pending_load: Option<(Token, Publish)>,
    dedupe: Dedupe,
    last_msg_id: String,
    counter_cache: std::collections::HashMap<String, (u64, i128)>,
    /// Atomic batches being staged.
    batches: batch::Batches,
    /// A batch commit is deciding its messages (their batch headers are let through).
    committing_batch: bool,
}

impl StreamMachine {
    /// A machine for a stream whose checked configuration is `config`, over a store whose
    /// current state is `store`'s.
    pub fn new(
        config: StreamConfig,
        domain: &str,
        limits: MachineLimits,
        store: &impl StreamStore,
    ) -> StreamMachine {
        let state = store.state();
        let ack_prefix = ack_prefix(&config.name, domain);
        StreamMachine {
            config,
            domain: domain.to_owned(),
            ack_prefix,
            limits,
            next_token: 1,
            next_seq: state.last_seq + 1,
            in_flight: VecDeque::new(),
            held: VecDeque::new(),
            pending_load: None,
            dedupe: Dedupe::new(limits.dedupe_max_entries),
            last_msg_id: String::new(),
            counter_cache: std::collections::HashMap::new(),
            batches: batch::Batches::default(),
            committing_batch: false,
        }
    }

    /// The configuration the machine enforces.
    pub fn config(&self) -> &StreamConfig {
        &self.config
    }

    /// Replaces the configuration (after a checked `STREAM.UPDATE`). The runtime applies the
    /// new limits to the store with `update_config` itself.
    pub fn set_config(&mut self, config: StreamConfig) {
        self.ack_prefix = ack_prefix(&config.name, &self.domain);
        self.config = config;
    }

    /// Takes the next sequence from the store again after the runtime changed the store
    /// outside the publish path (a purge or compact past the end moves the next sequence).
    /// Does nothing while stores are in flight: their completions correct the predictions.
    pub fn resync(&mut self, store: &impl StreamStore) {
        if self.in_flight.is_empty() {
            self.next_seq = store.state().last_seq + 1;
        }
    }

    /// Remembers a message recovered from the store at start, so that dedupe and
    /// `Nats-Expected-Last-Msg-Id` survive a restart as in the Go server (`rebuildDedupe`).
    /// Feed the messages of the last `duplicate_window` in sequence order.
    pub fn recover_message(&mut self, headers: &[u8], seq: u64, timestamp_ns: i64) {
        if let Some(id) = crate::headers::get_str(headers, crate::headers::names::MSG_ID) {
            if !id.is_empty() {
                self.dedupe.insert(
                    id,
                    DedupeEntry {
                        seq,
                        timestamp_ns,
                        in_flight: false,
                    },
                );
                self.last_msg_id = id.to_owned();
            }
        }
    }

    /// Whether the runtime should stop reading from publishers to this stream until more
    /// stores complete (the in-flight limit is reached or publishes are held).
    pub fn is_busy(&self) -> bool {
        self.in_flight.len() >= self.limits.max_in_flight || !self.held.is_empty()
    }

    /// Stores in flight.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Publishes waiting.
    pub fn held(&self) -> usize {
        self.held.len() + usize::from(self.pending_load.is_some())
    }

    /// Ids in the dedupe window.
    pub fn dedupe_len(&self) -> usize {
        self.dedupe.len()
    }

    /// Prunes the dedupe window; call it from a timer.
    pub fn tick(&mut self, now_ns: i64) {
        self.dedupe.prune(now_ns, self.config.duplicate_window);
        self.batches.expire(now_ns);
    }

    /// Handles a captured message.
    pub fn publish(
        &mut self,
        store: &impl StreamStore,
        publish: Publish,
        actions: &mut Vec<Action>,
    ) {
        if self.pending_load.is_some() || !self.held.is_empty() {
            self.hold(publish, actions);
            return;
        }
        self.decide(store, publish, actions);
    }

    /// Reports the outcome of the store `token`.
    pub fn store_completed(
        &mut self,
        store: &impl StreamStore,
        token: Token,
        outcome: Result<u64, &StoreError>,
        actions: &mut Vec<Action>,
    ) {
        let Some(index) = self.in_flight.iter().position(|entry| entry.token == token) else {
            return;
        };
        let Some(entry) = self.in_flight.remove(index) else {
            return;
        };
        let shift: i64 = match outcome {
            Ok(seq) => seq as i64 - entry.predicted_seq as i64,
            // Nothing was stored, so every later store got one sequence less.
            Err(_) => -1,
        };
        if shift != 0 {
            for later in self.in_flight.iter_mut().skip(index) {
                later.predicted_seq = later.predicted_seq.saturating_add_signed(shift);
            }
            self.next_seq = self.next_seq.saturating_add_signed(shift);
        }
        match outcome {
            Ok(seq) => {
                if let Some(id) = &entry.msg_id {
                    self.dedupe.settle(id, Some(seq));
                }
                if let Some(republish) = &entry.republish {
                    actions.push(self.republish_action(&entry.subject, seq, republish));
                }
                if let Some(value) = entry.counter_value {
                    self.remember_counter(&entry.subject, seq, value);
                }
                if let Some(reply) = entry.reply.filter(|reply| !reply.is_empty()) {
                    let ack = match &entry.batch {
                        Some((id, count)) => self.batch_ack(seq, id, *count),
                        None => self.pub_ack(seq, entry.counter_value, false),
                    };
                    actions.push(Action::Reply {
                        subject: reply,
                        payload: ack,
                    });
                }
                for reply in &entry.duplicate_replies {
                    let ack = self.pub_ack(seq, None, true);
                    push_reply(actions, reply, ack);
                }
            }
            Err(error) => {
                if let Some(id) = &entry.msg_id {
                    self.dedupe.settle(id, None);
                }
                if let Some(api_error) = store_error_reply(error) {
                    if let Some(reply) = &entry.reply {
                        self.reply_error(actions, Some(reply), api_error);
                    }
                }
                for reply in &entry.duplicate_replies {
                    let conflict = ApiError::new(ErrorId::StreamDuplicateMessageConflict);
                    self.reply_error(actions, Some(reply), conflict);
                }
            }
        }
        self.release_held(store, actions);
    }

    /// Reports the outcome of the load `token` (a counter's last value).
    pub fn loaded(
        &mut self,
        store: &impl StreamStore,
        token: Token,
        message: Option<&natrix_storage::StoredMessage>,
        actions: &mut Vec<Action>,
    ) {
        let Some((pending, publish)) = self.pending_load.take() else {
            return;
        };
        if pending != token {
            self.pending_load = Some((pending, publish));
            return;
        }
        let base = match message {
            None => Ok((0, 0)),
            Some(message) => publish::counter_value(&message.payload)
                .map(|value| (message.seq, value))
                .ok_or(()),
        };
        match base {
            Ok((seq, value)) => {
                if seq > 0 {
                    self.remember_counter(&publish.subject, seq, value);
                }
                self.decide_with_counter_base(store, publish, Some(value), actions);
            }
            Err(()) => {
                let error = ApiError::new(ErrorId::MessageCounterBroken);
                self.reply_error(actions, publish.reply.as_deref(), error);
            }
        }
        self.release_held(store, actions);
    }

    fn hold(&mut self, publish: Publish, actions: &mut Vec<Action>) {
        if self.held.len() >= self.limits.max_held {
            let error = ApiError::new(ErrorId::StreamTooManyRequests);
            self.reply_error(actions, publish.reply.as_deref(), error);
            return;
        }
        self.held.push_back(publish);
    }

    fn release_held(&mut self, store: &impl StreamStore, actions: &mut Vec<Action>) {
        while self.pending_load.is_none() {
            let Some(next) = self.held.pop_front() else {
                return;
            };
            if self.must_wait(&next) {
                self.held.push_front(next);
                return;
            }
            self.decide(store, next, actions);
        }
    }

    /// Whether `publish` cannot be decided now: the in-flight limit is reached, or it depends
    /// on predicted sequences while a store that may fail is in flight.
    fn must_wait(&self, publish: &Publish) -> bool {
        if self.in_flight.len() >= self.limits.max_in_flight {
            return true;
        }
        if batch::is_commit(&publish.headers) {
            // A commit checks its messages against the stream as stored.
            return !self.in_flight.is_empty() || self.pending_load.is_some();
        }
        publish::depends_on_sequences(&publish.headers)
            && self.in_flight.iter().any(|entry| entry.may_fail)
    }

    fn decide(&mut self, store: &impl StreamStore, publish: Publish, actions: &mut Vec<Action>) {
        if self.must_wait(&publish) {
            self.hold(publish, actions);
            return;
        }
        self.decide_with_counter_base(store, publish, None, actions);
    }

    fn next_token(&mut self) -> Token {
        let token = Token(self.next_token);
        self.next_token += 1;
        token
    }

    fn may_fail(&self) -> bool {
        self.config.discard == crate::api::DiscardPolicy::New
            && (self.config.max_msgs > 0
                || self.config.max_bytes > 0
                || self.config.discard_new_per_subject)
    }

    fn remember_counter(&mut self, subject: &str, seq: u64, value: i128) {
        if self.counter_cache.len() >= self.limits.counter_cache_entries
            && !self.counter_cache.contains_key(subject)
        {
            self.counter_cache.clear();
        }
        self.counter_cache.insert(subject.to_owned(), (seq, value));
    }

    /// The PubAck as the Go server writes it (`{"stream":"S","seq":5}`, with `domain`,
    /// `val` or `"duplicate": true` — with Go's space — when they apply).
    fn pub_ack(&self, seq: u64, counter: Option<i128>, duplicate: bool) -> Bytes {
        use std::fmt::Write;
        let mut out = String::with_capacity(self.ack_prefix.len() + 48);
        out.push_str(&self.ack_prefix);
        // Writing to a String cannot fail.
        let _ = write!(out, "{seq}");
        if duplicate {
            out.push_str(",\"duplicate\": true}");
        } else if let Some(value) = counter {
            let _ = write!(out, ",\"val\":\"{value}\"}}");
        } else {
            out.push('}');
        }
        Bytes::from(out)
    }

    /// Go's republished message: the stored headers (if any) with the stream's headers
    /// added in Go's order, and the payload (only its size with `headers_only`).
    fn republish_action(&self, subject: &str, seq: u64, republish: &PendingRepublish) -> Action {
        let headers_only = self
            .config
            .republish
            .as_ref()
            .is_some_and(|republish| republish.headers_only);
        let time = crate::time::Timestamp::from_unix_nanos(republish.timestamp_ns).to_rfc3339();
        let mut added = format!(
            "Nats-Stream: {}\r\nNats-Subject: {subject}\r\nNats-Sequence: {seq}\r\nNats-Time-Stamp: {time}\r\nNats-Last-Sequence: {}\r\n",
            self.config.name, republish.last_subject_seq
        );
        if headers_only {
            added.push_str(&format!("Nats-Msg-Size: {}\r\n", republish.payload.len()));
        }
        let mut headers = Vec::with_capacity(republish.headers.len() + added.len() + 12);
        if republish.headers.len() >= 4 {
            // The message's own block without its final CRLF, then ours.
            headers.extend_from_slice(&republish.headers[..republish.headers.len() - 2]);
        } else {
            headers.extend_from_slice(b"NATS/1.0\r\n");
        }
        headers.extend_from_slice(added.as_bytes());
        headers.extend_from_slice(b"\r\n");
        Action::Republish {
            subject: republish.destination.clone(),
            headers: Bytes::from(headers),
            payload: if headers_only {
                Bytes::new()
            } else {
                republish.payload.clone()
            },
        }
    }

    /// The PubAck of a committed batch: the last sequence, the batch id and its size.
    fn batch_ack(&self, seq: u64, id: &str, count: u64) -> Bytes {
        let plain = self.pub_ack(seq, None, false);
        let mut out = String::from_utf8_lossy(&plain[..plain.len() - 1]).into_owned();
        out.push_str(",\"batch\":");
        out.push_str(&crate::json::to_string(&id));
        out.push_str(",\"count\":");
        out.push_str(&count.to_string());
        out.push('}');
        Bytes::from(out)
    }

    /// A PubAck carrying `error`.
    fn error_ack(&self, error: &ApiError) -> Bytes {
        Bytes::from(crate::api::PubAckResponse::error(
            &self.config.name,
            error.clone(),
        ))
    }

    fn reply_error(&self, actions: &mut Vec<Action>, reply: Option<&str>, error: ApiError) {
        if let Some(reply) = reply.filter(|_| !self.config.no_ack) {
            push_reply(actions, reply, self.error_ack(&error));
        }
    }
}

/// The PubAck's start for stream `name` in `domain` (Go's field order: stream, domain, seq).
fn ack_prefix(name: &str, domain: &str) -> String {
    let mut prefix = String::with_capacity(32 + name.len() + domain.len());
    prefix.push_str("{\"stream\":");
    prefix.push_str(&crate::json::to_string(name));
    if !domain.is_empty() {
        prefix.push_str(",\"domain\":");
        prefix.push_str(&crate::json::to_string(domain));
    }
    prefix.push_str(",\"seq\":");
    prefix
}

fn push_reply(actions: &mut Vec<Action>, reply: &str, payload: Bytes) {
    if !reply.is_empty() {
        actions.push(Action::Reply {
            subject: reply.to_owned(),
            payload,
        });
    }
}

/// The reply for a failed store, as the Go server sends it: limit errors as
/// `JSStreamStoreFailedF` with the store's text; I/O failures get no reply (the Go server
/// only logs them and stops the stream).
fn store_error_reply(error: &StoreError) -> Option<ApiError> {
    match error {
        StoreError::MaxMessages | StoreError::MaxBytes | StoreError::MaxMessagesPerSubject => {
            Some(ApiError::stream_store_failed(error))
        }
        StoreError::MessageTooLarge { .. } => {
            Some(ApiError::stream_store_failed("message too large"))
        }
        StoreError::InvalidSubject(_) => Some(ApiError::stream_store_failed(error)),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
