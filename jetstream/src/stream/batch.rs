//! Atomic batch publish (`Nats-Batch-Id`, `Nats-Batch-Sequence`, `Nats-Batch-Commit`) as
//! the Go server runs it on one server (`processJetStreamAtomicBatchMsg`): messages are
//! staged in the machine (each answered with an empty message when it has a reply subject),
//! and the commit (`Nats-Batch-Commit: 1`, or `eob`, which ends the batch without being part
//! of it) checks every message as if the ones before it were stored, then stores all of them
//! or none. The commit's PubAck names the batch and its size.
//!
//! The commit waits until no store of the stream is in flight, so that the checks see the
//! stream as it is. It then decides each message with the ordinary publish path (in batch
//! mode, which lets the batch headers through), on top of the batch-only checks Go makes
//! (`checkMsgHeadersPreClusteredProposal`): a failure undoes what the earlier messages of the
//! batch changed in the machine, and the actions already produced are dropped, so nothing of
//! the batch reaches the store. All stores of a commit are returned together; the runtime
//! starts them in order in one turn.
//!
//! Bounds (Go's defaults): 1000 messages per batch, 50 batches in flight per stream, a batch
//! abandoned 10 s after its last message, and (Natrix's own) 64 MiB of staged messages per
//! stream. Differences from Go: counters (`Nats-Incr`, or any message of a counter stream)
//! are refused in a batch with "atomic publish unsupported header used: Nats-Incr" (a commit
//! cannot wait for a counter's last value mid-batch); no `batch_abandoned` advisory is sent.

use std::collections::{HashMap, HashSet};

use bytes::Bytes;
use natrix_storage::StreamStore;

use super::{Action, Publish, StreamMachine};
use crate::errors::{ApiError, ErrorId};
use crate::headers::{self, names};

/// Messages in one batch, at most (Go's `streamDefaultMaxAtomicBatchSize`).
pub const MAX_BATCH_SIZE: u64 = 1000;
/// Batches staged per stream, at most (Go's `streamDefaultMaxAtomicBatchInflightPerStream`).
pub const MAX_BATCHES: usize = 50;
/// A batch without a new message for this long is abandoned (Go's
/// `streamDefaultMaxBatchTimeout`).
pub const BATCH_TIMEOUT_NS: i64 = 10_000_000_000;
/// Bytes of staged messages per stream, at most.
pub const MAX_STAGED_BYTES: usize = 64 << 20;
/// The longest batch id (Go refuses longer ones).
const MAX_BATCH_ID_LEN: usize = 64;
/// Where the trial decisions of a commit send their replies, to be recognized.
const TRIAL_REPLY: &str = "\u{0}batch-trial";
const REQUIRED_API_LEVEL: &str = "Nats-Required-Api-Level";

/// The batches being staged.
#[derive(Debug, Default)]
pub(super) struct Batches {
    staged: HashMap<String, StagedBatch>,
    bytes: usize,
}

#[derive(Debug)]
struct StagedBatch {
    messages: Vec<Publish>,
    bytes: usize,
    last_activity_ns: i64,
}

impl Batches {
    /// Batches staged.
    pub fn len(&self) -> usize {
        self.staged.len()
    }

    /// Abandons batches idle for longer than [`BATCH_TIMEOUT_NS`].
    pub fn expire(&mut self, now_ns: i64) {
        let horizon = now_ns.saturating_sub(BATCH_TIMEOUT_NS);
        let mut freed = 0;
        self.staged.retain(|_, batch| {
            let keep = batch.last_activity_ns >= horizon;
            if !keep {
                freed += batch.bytes;
            }
            keep
        });
        self.bytes -= freed;
    }

    fn remove(&mut self, id: &str) -> Option<StagedBatch> {
        let batch = self.staged.remove(id)?;
        self.bytes -= batch.bytes;
        Some(batch)
    }
}

/// Whether `raw` headers make a publish the commit of an atomic batch.
pub(super) fn is_commit(raw: &[u8]) -> bool {
    !raw.is_empty()
        && headers::get(raw, names::BATCH_ID).is_some_and(|id| !id.is_empty())
        && headers::get(raw, names::BATCH_COMMIT).is_some()
}

/// Go's `getBatchSequence`: the header parsed as an unsigned number.
fn batch_sequence(raw: &[u8]) -> Option<u64> {
    headers::get_str(raw, names::BATCH_SEQUENCE)?.parse().ok()
}

impl StreamMachine {
    /// A publish with `Nats-Batch-Id`, decided when no held publish is before it (a commit
    /// only once no store is in flight).
    pub(super) fn batch_publish(
        &mut self,
        store: &impl StreamStore,
        publish: Publish,
        actions: &mut Vec<Action>,
    ) {
        let reply = publish.reply.clone().filter(|_| !self.config.no_ack);
        let raw = publish.headers.clone();
        let fail = |machine: &StreamMachine, actions: &mut Vec<Action>, error: ApiError| {
            machine.reply_error(actions, reply.as_deref(), error);
        };
        if self.config.sealed {
            return fail(self, actions, ApiError::new(ErrorId::StreamSealed));
        }
        let max = i64::from(self.config.max_msg_size);
        let (header_len, payload_len) = (raw.len() as i64, publish.payload.len() as i64);
        if max >= 0 && (header_len > max || payload_len > max - header_len) {
            let error = ApiError::new(ErrorId::StreamMessageExceedsMaximum);
            return fail(self, actions, error);
        }
        if !self.config.allow_atomic {
            return fail(self, actions, ApiError::new(ErrorId::AtomicPublishDisabled));
        }
        let id = headers::get_str(&raw, names::BATCH_ID)
            .unwrap_or_default()
            .to_owned();
        if id.len() > MAX_BATCH_ID_LEN {
            let error = ApiError::new(ErrorId::AtomicPublishInvalidBatchID);
            return fail(self, actions, error);
        }
        let Some(batch_seq) = batch_sequence(&raw) else {
            return fail(
                self,
                actions,
                ApiError::new(ErrorId::AtomicPublishMissingSeq),
            );
        };
        let commit_value = headers::get(&raw, names::BATCH_COMMIT);
        let commit = commit_value.is_some();
        let commit_eob = commit_value == Some(b"eob".as_slice());
        let commit_invalid = commit && !commit_eob && commit_value != Some(b"1".as_slice());
        let incomplete = || ApiError::new(ErrorId::AtomicPublishIncompleteBatch);
        self.batches.expire(publish.now_ns);
        if !self.batches.staged.contains_key(&id) {
            if batch_seq != 1 {
                let size = batch_seq - u64::from(commit_eob);
                if size > MAX_BATCH_SIZE {
                    let error = ApiError::atomic_publish_too_large_batch(MAX_BATCH_SIZE);
                    return fail(self, actions, error);
                }
                return fail(self, actions, incomplete());
            }
            if self.batches.len() >= MAX_BATCHES {
                let error = ApiError::new(ErrorId::AtomicPublishTooManyInflight);
                return fail(self, actions, error);
            }
            self.batches.staged.insert(
                id.clone(),
                StagedBatch {
                    messages: Vec::new(),
                    bytes: 0,
                    last_activity_ns: publish.now_ns,
                },
            );
        }
        if commit_invalid {
            self.batches.remove(&id);
            let error = ApiError::new(ErrorId::AtomicPublishInvalidBatchCommit);
            return fail(self, actions, error);
        }
        let mut publish = publish;
        if let Some(level) = headers::get_str(&raw, REQUIRED_API_LEVEL) {
            if !level.is_empty() {
                let too_high = level
                    .parse::<u32>()
                    .map_or(true, |level| level > crate::api::API_LEVEL);
                if too_high {
                    self.batches.remove(&id);
                    return fail(self, actions, ApiError::new(ErrorId::RequiredApiLevel));
                }
            }
            publish.headers = headers::remove(&publish.headers, REQUIRED_API_LEVEL);
        }
        let staged_len = self.batches.staged.get(&id).map_or(0, |b| b.messages.len()) as u64;
        if batch_seq != staged_len + 1 || (batch_seq == 1 && commit_eob) {
            self.batches.remove(&id);
            return fail(self, actions, incomplete());
        }
        if batch_seq - u64::from(commit_eob) > MAX_BATCH_SIZE {
            self.batches.remove(&id);
            let error = ApiError::atomic_publish_too_large_batch(MAX_BATCH_SIZE);
            return fail(self, actions, error);
        }
        let size = publish.subject.len() + publish.headers.len() + publish.payload.len();
        if self.batches.bytes + size > MAX_STAGED_BYTES {
            self.batches.remove(&id);
            let error = ApiError::atomic_publish_too_large_batch(MAX_BATCH_SIZE);
            return fail(self, actions, error);
        }
        if !commit_eob {
            self.batches.bytes += size;
            if let Some(batch) = self.batches.staged.get_mut(&id) {
                batch.bytes += size;
                batch.last_activity_ns = publish.now_ns;
                batch.messages.push(publish);
            }
        }
        if !commit {
            // As the Go server: an empty message tells the client the message is staged.
            if let Some(reply) = reply {
                actions.push(Action::Reply {
                    subject: reply,
                    payload: Bytes::new(),
                });
            }
            return;
        }
        let Some(batch) = self.batches.remove(&id) else {
            return fail(self, actions, incomplete());
        };
        self.commit_batch(store, &id, batch.messages, commit_eob, reply, actions);
    }

    /// Checks and stores a complete batch, all or nothing.
    fn commit_batch(
        &mut self,
        store: &impl StreamStore,
        id: &str,
        mut messages: Vec<Publish>,
        commit_eob: bool,
        reply: Option<String>,
        actions: &mut Vec<Action>,
    ) {
        if let Err(error) = self.check_batch(store, &messages) {
            self.reply_error(actions, reply.as_deref(), error);
            return;
        }
        if commit_eob {
            // As the Go server: the last message stores the ordinary commit header.
            if let Some(last) = messages.last_mut() {
                last.headers = headers::set(&last.headers, names::BATCH_COMMIT, "1");
            }
        }
        let count = messages.len() as u64;
        let saved_next_seq = self.next_seq;
        let saved_last_msg_id = self.last_msg_id.clone();
        let first_entry = self.in_flight.len();
        let mut trial = Vec::new();
        let mut failure: Option<Bytes> = None;
        self.committing_batch = true;
        for mut message in messages {
            message.reply = Some(TRIAL_REPLY.to_owned());
            let before = self.in_flight.len();
            let mark = trial.len();
            self.decide_with_counter_base(store, message, None, &mut trial);
            if self.in_flight.len() != before + 1 || self.pending_load.is_some() {
                failure = trial[mark..].iter().find_map(|action| match action {
                    Action::Reply { subject, payload } if subject == TRIAL_REPLY => {
                        Some(payload.clone())
                    }
                    _ => None,
                });
                break;
            }
        }
        self.committing_batch = false;
        if self.pending_load.is_some() || failure.is_some() || self.in_flight.len() == first_entry {
            // Undo what the decided messages changed; their actions are dropped.
            self.pending_load = None;
            for entry in self.in_flight.drain(first_entry..) {
                if let Some(msg_id) = &entry.msg_id {
                    self.dedupe.settle(msg_id, None);
                }
            }
            self.next_seq = saved_next_seq;
            self.last_msg_id = saved_last_msg_id;
            self.counter_cache.clear();
            let payload = failure.unwrap_or_else(|| {
                let error = ApiError::new(ErrorId::AtomicPublishIncompleteBatch);
                self.error_ack(&error)
            });
            if let Some(reply) = reply {
                actions.push(Action::Reply {
                    subject: reply,
                    payload,
                });
            }
            return;
        }
        let last = self.in_flight.len() - 1;
        for (index, entry) in self.in_flight.iter_mut().enumerate().skip(first_entry) {
            entry.reply = None;
            if index == last {
                entry.reply = reply.clone();
                entry.batch = Some((id.to_owned(), count));
            }
        }
        actions.extend(trial.into_iter().filter(
            |action| !matches!(action, Action::Reply { subject, .. } if subject == TRIAL_REPLY),
        ));
    }

    /// The checks Go makes only for batches, each message seeing the ones before it.
    fn check_batch(&self, store: &impl StreamStore, messages: &[Publish]) -> Result<(), ApiError> {
        let state = store.state();
        let mut subjects: HashMap<&str, u64> = HashMap::new();
        let mut ids: HashSet<&str> = HashSet::new();
        let mut bytes = state.bytes;
        for (index, message) in messages.iter().enumerate() {
            let raw = &message.headers[..];
            let header = |name: &str| headers::get_str(raw, name).filter(|v| !v.is_empty());
            if header(names::EXPECTED_LAST_MSG_ID).is_some() {
                return Err(ApiError::atomic_publish_unsupported_header_batch(
                    names::EXPECTED_LAST_MSG_ID,
                ));
            }
            if self.config.allow_msg_counter || header(names::INCR).is_some() {
                return Err(ApiError::atomic_publish_unsupported_header_batch(
                    names::INCR,
                ));
            }
            if let Some(msg_id) = header(names::MSG_ID) {
                if !ids.insert(msg_id) {
                    return Err(ApiError::new(
                        ErrorId::AtomicPublishContainsDuplicateMessage,
                    ));
                }
                if let Some(entry) = self.dedupe.get(msg_id) {
                    return Err(if entry.in_flight {
                        ApiError::new(ErrorId::StreamDuplicateMessageConflict)
                    } else {
                        ApiError::new(ErrorId::AtomicPublishContainsDuplicateMessage)
                    });
                }
            }
            if let Some(value) = header(names::EXPECTED_LAST_SEQ) {
                let last = state.last_seq + index as u64;
                if value.parse::<u64>().ok() != Some(last) {
                    return Err(ApiError::stream_wrong_last_sequence(last));
                }
                if index > 0 {
                    return Err(ApiError::new(ErrorId::StreamWrongLastSequenceConstant));
                }
            }
            if header(names::EXPECTED_LAST_SUBJECT_SEQ).is_some() {
                let subject = header(names::EXPECTED_LAST_SUBJECT_SEQ_SUBJECT)
                    .unwrap_or(message.subject.as_str());
                if subjects.contains_key(subject) {
                    return Err(ApiError::new(ErrorId::StreamWrongLastSequenceConstant));
                }
            }
            let rollup = header(names::ROLLUP).map(str::to_ascii_lowercase);
            match rollup.as_deref() {
                Some("sub") if subjects.contains_key(message.subject.as_str()) => {
                    return Err(ApiError::stream_rollup_failed("batch rollup sub invalid"));
                }
                Some("all") if index > 0 => {
                    return Err(ApiError::stream_rollup_failed("batch rollup all invalid"));
                }
                _ => {}
            }
            let ops = subjects.entry(message.subject.as_str()).or_default();
            *ops += 1;
            let ops = *ops;
            bytes += (message.subject.len() + raw.len() + message.payload.len()) as u64 + 16;
            if self.config.discard == crate::api::DiscardPolicy::New {
                let max_msgs = self.config.max_msgs;
                let max_bytes = self.config.max_bytes;
                if max_msgs > 0 && state.msgs + index as u64 + 1 > max_msgs as u64 {
                    return Err(ApiError::stream_store_failed("maximum messages exceeded"));
                }
                if max_bytes > 0 && bytes > max_bytes as u64 {
                    return Err(ApiError::stream_store_failed("maximum bytes exceeded"));
                }
                let per_subject = self.config.max_msgs_per_subject;
                if self.config.discard_new_per_subject && per_subject > 0 && rollup.is_none() {
                    let stored = store
                        .subjects_totals(&message.subject)
                        .get(&message.subject)
                        .copied()
                        .unwrap_or(0);
                    if stored + ops > per_subject as u64 {
                        return Err(ApiError::stream_store_failed(
                            "maximum messages per subject exceeded",
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}
