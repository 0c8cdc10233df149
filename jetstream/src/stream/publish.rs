//! The decision for one publish, in the order the Go server's `processJetStreamMsg` checks:
//! batch, seal, counter headers, expected stream, TTL allowed, expected last subject
//! sequence, expected last sequence, schedules, dedupe, expected last msg id, rollup,
//! counter presence, size limits, TTL value; then the store.

use std::time::Duration;

use bytes::Bytes;
use natrix_storage::{NewMessage, PurgeRequest, StreamStore};

use super::{push_reply, Action, InFlight, Publish, StreamMachine};
use crate::errors::{ApiError, ErrorId};
use crate::headers::{self, names};
use crate::subject::is_valid_literal_subject;

/// Whether a publish's outcome depends on the sequences of earlier publishes.
pub(super) fn depends_on_sequences(raw: &[u8]) -> bool {
    !raw.is_empty()
        && [
            names::EXPECTED_LAST_SEQ,
            names::EXPECTED_LAST_SUBJECT_SEQ,
            names::EXPECTED_LAST_MSG_ID,
            names::INCR,
            names::ROLLUP,
        ]
        .iter()
        .any(|name| headers::get(raw, name).is_some_and(|value| !value.is_empty()))
}

/// A counter message's value (`{"val":"123"}`).
pub(super) fn counter_value(payload: &[u8]) -> Option<i128> {
    #[derive(serde::Deserialize)]
    struct CounterValue {
        val: String,
    }
    let parsed: CounterValue = serde_json::from_slice(payload).ok()?;
    if parsed.val.is_empty() {
        return Some(0);
    }
    parsed.val.parse().ok()
}

/// Go's `parseInt64` as the expected-sequence headers use it: digits only, else `u64::MAX`
/// (Go's -1 cast to unsigned), which never matches a real sequence.
fn parse_sequence(value: &[u8]) -> u64 {
    if value.is_empty() || value.len() > 19 || !value.iter().all(u8::is_ascii_digit) {
        return u64::MAX;
    }
    std::str::from_utf8(value)
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(u64::MAX)
}

/// Go's `parseMessageTTL`: `never`, a Go duration of at least a second, or whole seconds.
/// `Ok(None)` when absent; `Ok(Some(-1))` for never.
pub(crate) fn parse_ttl(raw: &[u8]) -> Result<Option<i64>, ()> {
    let Some(value) = headers::get_str(raw, names::TTL).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if value.eq_ignore_ascii_case("never") {
        return Ok(Some(-1));
    }
    if let Some(nanos) = crate::time::parse_go_duration(value) {
        if nanos < 1_000_000_000 {
            return Err(());
        }
        return Ok(Some(nanos / 1_000_000_000));
    }
    let seconds = parse_sequence(value.as_bytes());
    if seconds > i64::MAX as u64 {
        return Err(());
    }
    Ok(Some(seconds as i64))
}

fn header_str<'a>(raw: &'a [u8], name: &str) -> &'a str {
    headers::get_str(raw, name).unwrap_or_default()
}

impl StreamMachine {
    /// Decides `publish`; `counter_base` is the subject's counter value once loaded.
    pub(super) fn decide_with_counter_base(
        &mut self,
        store: &impl StreamStore,
        mut publish: Publish,
        counter_base: Option<i128>,
        actions: &mut Vec<Action>,
    ) {
        let reply = publish.reply.clone();
        let fail = |machine: &StreamMachine, actions: &mut Vec<Action>, error: ApiError| {
            machine.reply_error(actions, reply.as_deref(), error);
        };
        let raw = publish.headers.clone();
        if !self.committing_batch
            && !raw.is_empty()
            && !header_str(&raw, names::BATCH_ID).is_empty()
        {
            return self.batch_publish(store, publish, actions);
        }
        if self.config.sealed {
            return fail(self, actions, ApiError::new(ErrorId::StreamSealed));
        }
        if headers::get(&raw, names::CLIENT_INFO).is_some() {
            publish.headers = headers::remove(&raw, names::CLIENT_INFO);
        }
        let raw = publish.headers.clone();
        let mut increment: Option<i128> = None;
        let mut rollup_sub = false;
        let mut rollup_all = false;
        let mut msg_id: Option<String> = None;
        if !raw.is_empty() {
            if let Some(value) = headers::get(&raw, names::INCR).filter(|v| !v.is_empty()) {
                let parsed = std::str::from_utf8(value)
                    .ok()
                    .and_then(|v| v.parse::<i128>().ok());
                let Some(parsed) = parsed else {
                    return fail(self, actions, ApiError::new(ErrorId::MessageIncrInvalid));
                };
                if !self.config.allow_msg_counter {
                    return fail(self, actions, ApiError::new(ErrorId::MessageIncrDisabled));
                }
                if !publish.payload.is_empty() {
                    return fail(self, actions, ApiError::new(ErrorId::MessageIncrPayload));
                }
                let incompatible = [
                    names::ROLLUP,
                    names::EXPECTED_STREAM,
                    names::EXPECTED_LAST_MSG_ID,
                    names::EXPECTED_LAST_SUBJECT_SEQ_SUBJECT,
                    names::EXPECTED_LAST_SEQ,
                    names::EXPECTED_LAST_SUBJECT_SEQ,
                ]
                .iter()
                .any(|name| !header_str(&raw, name).is_empty());
                if incompatible {
                    return fail(self, actions, ApiError::new(ErrorId::MessageIncrInvalid));
                }
                increment = Some(parsed);
            }
            let expected_stream = header_str(&raw, names::EXPECTED_STREAM);
            if !expected_stream.is_empty() && expected_stream != self.config.name {
                return fail(self, actions, ApiError::new(ErrorId::StreamNotMatch));
            }
            let ttl_requested = matches!(parse_ttl(&raw), Ok(Some(ttl)) if ttl != 0);
            if ttl_requested && !self.config.allow_msg_ttl {
                return fail(self, actions, ApiError::new(ErrorId::MessageTTLDisabled));
            }
            let subject_filter = header_str(&raw, names::EXPECTED_LAST_SUBJECT_SEQ_SUBJECT);
            if let Some(value) =
                headers::get(&raw, names::EXPECTED_LAST_SUBJECT_SEQ).filter(|v| !v.is_empty())
            {
                let expected = parse_sequence(value);
                let filter = if subject_filter.is_empty() {
                    publish.subject.as_str()
                } else {
                    subject_filter
                };
                let last = self.last_seq_for(store, filter);
                if last != expected {
                    return fail(self, actions, ApiError::stream_wrong_last_sequence(last));
                }
            } else if !subject_filter.is_empty() {
                let error = ApiError::new(ErrorId::StreamExpectedLastSeqPerSubjectInvalid);
                return fail(self, actions, error);
            }
            if let Some(value) =
                headers::get(&raw, names::EXPECTED_LAST_SEQ).filter(|v| !v.is_empty())
            {
                let last = self.next_seq - 1;
                if parse_sequence(value) != last {
                    return fail(self, actions, ApiError::stream_wrong_last_sequence(last));
                }
            }
            if let Err(error) = check_schedule_headers(&raw, &publish.subject) {
                return fail(self, actions, error);
            }
            let id = header_str(&raw, names::MSG_ID);
            if !id.is_empty() {
                if let Some(entry) = self.dedupe.get(id) {
                    if let Some(reply) = reply.as_deref().filter(|_| !self.config.no_ack) {
                        if entry.in_flight {
                            self.add_duplicate_reply(id, reply, actions);
                        } else {
                            let ack = self.pub_ack(entry.seq, None, true);
                            push_reply(actions, reply, ack);
                        }
                    }
                    return;
                }
                msg_id = Some(id.to_owned());
            }
            let expected_id = header_str(&raw, names::EXPECTED_LAST_MSG_ID);
            if !expected_id.is_empty() && expected_id != self.last_msg_id {
                let error = ApiError::stream_wrong_last_msg_id(&self.last_msg_id);
                return fail(self, actions, error);
            }
            let rollup = header_str(&raw, names::ROLLUP).to_ascii_lowercase();
            if !rollup.is_empty() {
                if !self.config.allow_rollup_hdrs || self.config.deny_purge {
                    return fail(
                        self,
                        actions,
                        ApiError::stream_rollup_failed("rollup not permitted"),
                    );
                }
                match rollup.as_str() {
                    "sub" => rollup_sub = true,
                    "all" => rollup_all = true,
                    other => {
                        let text = format!("rollup value invalid: {other:?}");
                        return fail(self, actions, ApiError::stream_rollup_failed(text));
                    }
                }
            }
        }
        if increment.is_none() && self.config.allow_msg_counter {
            return fail(self, actions, ApiError::new(ErrorId::MessageIncrMissing));
        }
        let mut counter_value = None;
        if let Some(increment) = increment {
            let base = match counter_base.or_else(|| self.counter_base(store, &publish.subject)) {
                Some(base) => base,
                None => {
                    let token = self.next_token();
                    actions.push(Action::LoadLast {
                        token,
                        subject: publish.subject.clone(),
                    });
                    self.pending_load = Some((token, publish));
                    return;
                }
            };
            let Some(value) = base.checked_add(increment) else {
                return fail(self, actions, ApiError::new(ErrorId::MessageIncrInvalid));
            };
            counter_value = Some(value);
            publish.payload = Bytes::from(format!("{{\"val\":\"{value}\"}}"));
        }
        let header_len = publish.headers.len() as i64;
        let payload_len = publish.payload.len() as i64;
        let max = i64::from(self.config.max_msg_size);
        if max >= 0 && (header_len > max || payload_len > max - header_len) {
            return fail(
                self,
                actions,
                ApiError::new(ErrorId::StreamMessageExceedsMaximum),
            );
        }
        if header_len > i64::from(u16::MAX) {
            return fail(
                self,
                actions,
                ApiError::new(ErrorId::StreamHeaderExceedsMaximum),
            );
        }
        if !is_valid_literal_subject(publish.subject.as_bytes()) {
            return fail(
                self,
                actions,
                ApiError::stream_store_failed("invalid subject"),
            );
        }
        let mut ttl_seconds = match parse_ttl(&publish.headers) {
            Ok(ttl) => ttl.unwrap_or(0),
            Err(()) => return fail(self, actions, ApiError::new(ErrorId::MessageTTLInvalid)),
        };
        let marker_ttl = self.config.subject_delete_marker_ttl / 1_000_000_000;
        if ttl_seconds > 0
            && marker_ttl > 0
            && self.config.max_msgs_per_subject != 1
            && ttl_seconds < marker_ttl
        {
            ttl_seconds = marker_ttl;
            publish.headers = headers::set(&publish.headers, names::TTL, &ttl_seconds.to_string());
        }
        let republish = publish.republish_to.clone().map(|destination| {
            Box::new(super::PendingRepublish {
                destination,
                last_subject_seq: self.last_seq_for(store, &publish.subject),
                headers: publish.headers.clone(),
                payload: publish.payload.clone(),
                timestamp_ns: publish.now_ns,
            })
        });
        self.issue_store(
            publish,
            msg_id,
            counter_value,
            ttl_seconds,
            rollup_sub,
            rollup_all,
            republish,
            actions,
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn issue_store(
        &mut self,
        publish: Publish,
        msg_id: Option<String>,
        counter_value: Option<i128>,
        ttl_seconds: i64,
        rollup_sub: bool,
        rollup_all: bool,
        republish: Option<Box<super::PendingRepublish>>,
        actions: &mut Vec<Action>,
    ) {
        let token = self.next_token();
        let seq = self.next_seq;
        self.next_seq += 1;
        if let Some(id) = &msg_id {
            let entry = super::DedupeEntry {
                seq,
                timestamp_ns: publish.now_ns,
                in_flight: true,
            };
            self.dedupe.insert(id, entry);
            self.dedupe
                .prune(publish.now_ns, self.config.duplicate_window);
        }
        self.last_msg_id = msg_id.clone().unwrap_or_default();
        let reply = publish
            .reply
            .clone()
            .filter(|r| !r.is_empty() && !self.config.no_ack);
        let ttl = (ttl_seconds > 0).then(|| Duration::from_secs(ttl_seconds as u64));
        actions.push(Action::Store {
            token,
            message: NewMessage {
                subject: publish.subject.clone(),
                headers: publish.headers,
                payload: publish.payload,
                timestamp_ns: publish.now_ns,
                ttl,
            },
        });
        if rollup_sub || rollup_all {
            // Everything older than the rollup message goes: bounded by sequence, so that
            // stores issued after it are never touched whatever order the runtime runs them.
            actions.push(Action::Purge {
                request: PurgeRequest {
                    subject: rollup_sub.then(|| publish.subject.clone()),
                    before_seq: Some(seq),
                    keep: None,
                },
            });
            self.counter_cache.clear();
        }
        let may_fail = self.may_fail();
        self.in_flight.push_back(InFlight {
            token,
            predicted_seq: seq,
            subject: publish.subject,
            msg_id,
            reply,
            counter_value,
            rollup_all,
            may_fail,
            duplicate_replies: Vec::new(),
            republish,
            batch: None,
        });
    }

    /// The last sequence of `filter`, counting stores in flight: the newest in-flight match,
    /// 0 if a rollup of everything is in flight after any match, else the store's.
    fn last_seq_for(&self, store: &impl StreamStore, filter: &str) -> u64 {
        for entry in self.in_flight.iter().rev() {
            if natrix_storage::subject::filter_matches(filter.as_bytes(), entry.subject.as_bytes())
            {
                return entry.predicted_seq;
            }
            if entry.rollup_all {
                return 0;
            }
        }
        store.filtered_state(filter, 0).last
    }

    /// A counter's current value without a load: from a store in flight, or from the cache
    /// when the store's last message of the subject is still the cached one (0 when the
    /// subject has no message).
    fn counter_base(&self, store: &impl StreamStore, subject: &str) -> Option<i128> {
        if let Some(entry) = self.in_flight.iter().rev().find(|e| e.subject == subject) {
            return entry.counter_value;
        }
        let last = store.filtered_state(subject, 0).last;
        if last == 0 {
            return Some(0);
        }
        match self.counter_cache.get(subject) {
            Some((seq, value)) if *seq == last => Some(*value),
            _ => None,
        }
    }

    fn add_duplicate_reply(&mut self, id: &str, reply: &str, actions: &mut Vec<Action>) {
        const MAX_WAITING_DUPLICATES: usize = 16;
        let entry = self
            .in_flight
            .iter_mut()
            .find(|entry| entry.msg_id.as_deref() == Some(id));
        match entry {
            Some(entry) if entry.duplicate_replies.len() < MAX_WAITING_DUPLICATES => {
                entry.duplicate_replies.push(reply.to_owned());
            }
            _ => {
                let conflict = ApiError::new(ErrorId::StreamDuplicateMessageConflict);
                self.reply_error(actions, Some(reply), conflict);
            }
        }
    }
}

/// The Go server's schedule header checks, for a stream without schedules (Natrix refuses
/// `allow_msg_schedules`).
fn check_schedule_headers(raw: &[u8], _subject: &str) -> Result<(), ApiError> {
    if !header_str(raw, names::SCHEDULE).is_empty() {
        return Err(ApiError::new(ErrorId::MessageSchedulesDisabled));
    }
    let next = header_str(raw, names::SCHEDULE_NEXT);
    let scheduler = header_str(raw, names::SCHEDULER);
    if !next.is_empty() {
        if next != "purge" || scheduler.is_empty() {
            return Err(ApiError::new(ErrorId::MessageSchedulesSchedulerInvalid));
        }
        return Err(ApiError::new(ErrorId::MessageSchedulesDisabled));
    }
    if !scheduler.is_empty() {
        return Err(ApiError::new(ErrorId::MessageSchedulesSchedulerInvalid));
    }
    Ok(())
}
