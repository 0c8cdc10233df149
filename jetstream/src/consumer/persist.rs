//! The consumer's record in the store (`StreamStore::update_consumer_state`): the delivery
//! state Go's `writeStoreState` saves (delivered, ack floor, pending with timestamps,
//! redelivery counts) and, in the record's `metadata`, the configuration and creation time
//! as JSON, so that one atomic write brings a consumer back after a restart.
//!
//! Saves are batched (at most one per `state_flush_interval_ns`, as Go's consumer store
//! writes about ten times a second), one at a time per consumer. A reply that promises the
//! state is stored (an ack with a reply, the create reply) waits for the save that holds it;
//! the next save then starts at once, so such replies share saves as publishes share syncs.

use bytes::Bytes;
use natrix_storage::{ConsumerState, PendingDelivery, SequencePair, StreamStore};
use serde::{Deserialize, Serialize};

use super::machine::{Consumer, Env, Pending, MILLISECOND_NS};
use super::Action;
use crate::api::ConsumerConfig;
use crate::time::Timestamp;

/// The version of the metadata JSON.
pub(crate) const METADATA_VERSION: u32 = 1;

/// What the record's metadata holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RecordMetadata {
    /// Format version of this JSON.
    pub version: u32,
    /// The consumer's name.
    pub name: String,
    /// When it was created.
    pub created: Timestamp,
    /// Its configuration.
    pub config: ConsumerConfig,
}

/// Why a saved record cannot bring a consumer back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecoverError {
    /// The record has no metadata (written by an older Natrix or by something else). The
    /// consumer cannot be rebuilt; the caller may remove the record.
    #[error("consumer record {0:?} has no configuration")]
    NoConfiguration(String),
    /// The metadata is not what Natrix writes. Not recoverable without an operator.
    #[error("consumer record {name:?} has an unreadable configuration: {reason}")]
    UnreadableConfiguration {
        /// The consumer.
        name: String,
        /// The decoder's complaint.
        reason: String,
    },
}

impl RecordMetadata {
    /// Reads a record's metadata.
    pub fn decode(name: &str, metadata: &[u8]) -> Result<RecordMetadata, RecoverError> {
        if metadata.is_empty() {
            return Err(RecoverError::NoConfiguration(name.to_owned()));
        }
        let decoded: RecordMetadata = serde_json::from_slice(metadata).map_err(|error| {
            RecoverError::UnreadableConfiguration {
                name: name.to_owned(),
                reason: error.to_string(),
            }
        })?;
        if decoded.version != METADATA_VERSION {
            return Err(RecoverError::UnreadableConfiguration {
                name: name.to_owned(),
                reason: format!("metadata version {}", decoded.version),
            });
        }
        Ok(decoded)
    }
}

impl Consumer {
    /// The state changed and must be saved.
    pub(crate) fn mark_dirty(&mut self) {
        self.persistence.dirty = true;
    }

    /// When a batched save is due, if one is waiting.
    pub(crate) fn save_deadline(&self) -> Option<i64> {
        let persistence = &self.persistence;
        if persistence.in_flight.is_some() || persistence.disabled {
            return None;
        }
        if !persistence.replies_waiting.is_empty() {
            return Some(persistence.backoff_until);
        }
        persistence
            .dirty
            .then(|| persistence.next_save_at.max(persistence.backoff_until))
    }

    /// The record as saved now.
    pub(crate) fn record(&self) -> ConsumerState {
        let pending = self
            .pending
            .iter()
            .map(|(seq, pending)| {
                (
                    *seq,
                    PendingDelivery {
                        consumer_seq: pending.consumer_seq,
                        timestamp_ns: pending.timestamp_ns,
                    },
                )
            })
            .collect();
        let metadata = RecordMetadata {
            version: METADATA_VERSION,
            name: self.name.clone(),
            created: Timestamp::from_unix_nanos(self.created_ns),
            config: self.config.clone(),
        };
        ConsumerState {
            delivered: SequencePair {
                consumer_seq: self.dseq.max(1) - 1,
                stream_seq: self.delivered_stream_seq(),
            },
            ack_floor: SequencePair {
                consumer_seq: self.adflr,
                stream_seq: self.asflr,
            },
            pending,
            redelivered: self.rdc.clone(),
            metadata: Bytes::from(
                serde_json::to_vec(&metadata).expect("consumer metadata serializes"),
            ),
        }
    }

    /// Sends `payload` to `reply` once the current state is saved (at once for consumers
    /// that keep no state).
    pub(crate) fn reply_after_save<S: StreamStore>(
        &mut self,
        env: &mut Env<'_, '_, S>,
        reply: &str,
        payload: Bytes,
    ) {
        if self.persistence.disabled {
            env.publish(reply, None, Bytes::new(), payload);
        } else {
            self.persistence
                .replies_waiting
                .push((reply.to_owned(), payload));
        }
    }

    /// Starts a save if one is due: replies are waiting for it, or the state changed and the
    /// batching interval passed. Called by the set after every event.
    pub(crate) fn maybe_save<S: StreamStore>(&mut self, env: &mut Env<'_, '_, S>) {
        if self.closed {
            return;
        }
        let now = env.now();
        let persistence = &mut self.persistence;
        if persistence.disabled {
            for (reply, payload) in persistence.replies_waiting.drain(..) {
                env.actions.push(Action::Publish(super::Outgoing {
                    subject: reply,
                    reply: None,
                    headers: Bytes::new(),
                    payload,
                    shown_subject: None,
                }));
            }
            return;
        }
        if persistence.in_flight.is_some() || now < persistence.backoff_until {
            return;
        }
        let urgent = !persistence.replies_waiting.is_empty();
        let due = persistence.dirty && now >= persistence.next_save_at;
        if !urgent && !due {
            return;
        }
        let token = env.token();
        let state = self.record();
        let persistence = &mut self.persistence;
        persistence.replies_in_flight = std::mem::take(&mut persistence.replies_waiting);
        persistence.dirty = false;
        persistence.next_save_at = now.saturating_add(env.shared.options.state_flush_interval_ns);
        persistence.in_flight = Some(token);
        env.actions.push(Action::SaveState {
            token,
            consumer: self.name.clone(),
            state,
        });
    }

    /// A save completed. Its replies leave if it succeeded; if it failed the state is saved
    /// again and the replies wait (a client retries an unanswered ack).
    pub(crate) fn saved<S: StreamStore>(&mut self, env: &mut Env<'_, '_, S>, ok: bool) {
        self.persistence.in_flight = None;
        let replies = std::mem::take(&mut self.persistence.replies_in_flight);
        if ok {
            for (reply, payload) in replies {
                env.publish(&reply, None, Bytes::new(), payload);
            }
        } else {
            self.persistence.dirty = true;
            let mut waiting = replies;
            waiting.append(&mut self.persistence.replies_waiting);
            self.persistence.replies_waiting = waiting;
            // Back off before retrying a failing store.
            self.persistence.backoff_until = env.now() + 100 * MILLISECOND_NS;
        }
        self.maybe_save(env);
    }

    /// Restores the delivery state of a record (Go's `applyState` then `checkRedelivered`,
    /// and `reconcileStateWithStream` when the stream lost its tail).
    pub(crate) fn apply_state<S: StreamStore>(
        &mut self,
        env: &mut Env<'_, '_, S>,
        state: &ConsumerState,
    ) {
        self.sseq = state.delivered.stream_seq + 1;
        self.dseq = state.delivered.consumer_seq + 1;
        self.adflr = state.ack_floor.consumer_seq;
        self.asflr = state.ack_floor.stream_seq;
        self.pending = state
            .pending
            .iter()
            .map(|(seq, pending)| {
                (
                    *seq,
                    Pending {
                        consumer_seq: pending.consumer_seq,
                        timestamp_ns: pending.timestamp_ns,
                        subject: None,
                    },
                )
            })
            .collect();
        self.rdc = state.redelivered.clone();
        let stream = env.cx.store.state();
        if !self.pending.is_empty() {
            // Check restored deliveries soon, spread over a second, or at the ack wait if
            // that is shorter (Go: 500 ms to 1.5 s).
            let mut delay =
                500 * MILLISECOND_NS + env.shared.ids.below(1000) as i64 * MILLISECOND_NS;
            if self.config.ack_wait < delay {
                delay = self.ack_wait(0);
            }
            self.ptmr_at = Some(env.now() + delay);
        }
        let first_seq = stream.first_seq;
        self.rdc.retain(|seq, _| *seq >= first_seq);
        if stream.last_seq < self.sseq - 1 {
            self.reconcile_with_stream(stream.last_seq);
        }
    }

    /// Go's `reconcileStateWithStream`: the stream lost messages past what the consumer
    /// delivered (a crash of a lazily synced stream); pull the state back into it.
    fn reconcile_with_stream(&mut self, last_seq: u64) {
        if self.asflr > last_seq {
            self.asflr = last_seq;
            self.adflr = self.dseq.saturating_sub(1);
            self.pending.clear();
            self.rdc.clear();
        }
        self.pending.retain(|seq, _| *seq <= last_seq);
        self.rdc.retain(|seq, _| *seq <= last_seq);
        match self
            .pending
            .iter()
            .map(|(seq, pending)| (*seq, pending.consumer_seq))
            .max()
        {
            None => {
                self.sseq = self.asflr + 1;
                self.dseq = self.adflr + 1;
            }
            Some((max_seq, _)) => {
                let max_consumer_seq = self
                    .pending
                    .values()
                    .map(|pending| pending.consumer_seq)
                    .max()
                    .unwrap_or(0);
                self.sseq = max_seq + 1;
                self.dseq = max_consumer_seq + 1;
            }
        }
        self.mark_dirty();
    }
}
