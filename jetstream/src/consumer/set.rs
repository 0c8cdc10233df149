//! [`ConsumerSet`]: a stream's consumers, the events of the runtime contract (see the
//! module doc of [`crate::consumer`]), the timers of all of them behind one
//! [`Action::WakeAt`], and the retention decisions of interest and work-queue streams (a
//! message goes once no consumer needs it, Go's `ackMsg` and `checkForInterest`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::rc::Rc;

use natrix_storage::{PurgeRequest, StoreError, StoredMessage, StreamStore};

use super::config::ConsumerLimits;
use super::ids::IdGenerator;
use super::machine::{Consumer, Env, LoadKind, RetentionAck, Shared, SECOND_NS};
use super::persist::{RecordMetadata, RecoverError};
use super::wire::{self, AckFormat};
use super::{Action, Context, LoadRequest, Token};
use crate::api::{
    AckPolicy, ConsumerPauseAdvisory, RetentionPolicy, StreamConfig, CONSUMER_PAUSE_PREFIX,
};
use crate::time::Timestamp;

/// How often an interest stream compacts below every consumer's ack floor (Go checks its
/// interest state every 2 minutes).
const INTEREST_CHECK_INTERVAL_NS: i64 = 120 * SECOND_NS;
/// The widest range scanned for messages that lost their interest when a consumer goes
/// (Go's `bailThresh`); wider ranges are left to the periodic compaction.
const CLEANUP_SCAN_MAX: u64 = 100_000;

/// What the server configures for a stream's consumers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerSetOptions {
    /// The JetStream domain (empty for none), written in advisories and v2 ack subjects.
    pub domain: String,
    /// The account's name, written in pin advisories.
    pub account: String,
    /// The ack subject form (v2 behind the `js_ack_fc_v2` feature flag).
    pub ack_format: AckFormat,
    /// The server version shown in `_nats.ver`.
    pub server_version: String,
    /// Server and account limits on consumers.
    pub limits: ConsumerLimits,
    /// The server's `max_payload`, the rate limit's burst when the stream sets no
    /// `max_msg_size`.
    pub max_payload: i64,
    /// Least time between two saves of one consumer's state (Go: 100 ms).
    pub state_flush_interval_ns: i64,
    /// Messages loaded at once per consumer.
    pub max_load_messages: usize,
    /// Bytes loaded at once per consumer (at least one message).
    pub max_load_bytes: usize,
    /// Seed of the ids and jitter (entropy from the runtime; a constant in tests).
    pub seed: u64,
}

impl Default for ConsumerSetOptions {
    fn default() -> Self {
        ConsumerSetOptions {
            domain: String::new(),
            account: "$G".to_owned(),
            ack_format: AckFormat::V1,
            server_version: "2.14.0".to_owned(),
            limits: ConsumerLimits::default(),
            max_payload: 1024 * 1024,
            state_flush_interval_ns: 100_000_000,
            max_load_messages: 256,
            max_load_bytes: 4 * 1024 * 1024,
            seed: 0x5eed,
        }
    }
}

/// Why a retention load was made.
#[derive(Debug, Clone)]
enum RetentionLoad {
    /// Subjects of acknowledged sequences, to decide them.
    Subjects(Vec<RetentionAck>),
    /// A chunk of the scan after a consumer left an interest stream.
    Cleanup { stop: u64 },
}

/// A stream's consumers.
#[derive(Debug)]
pub struct ConsumerSet {
    pub(crate) shared: Shared,
    pub(crate) consumers: BTreeMap<String, Consumer>,
    loads: HashMap<Token, String>,
    saves: HashMap<Token, String>,
    retention_loads: HashMap<Token, RetentionLoad>,
    deadlines: BTreeSet<(i64, String)>,
    deadline_of: HashMap<String, i64>,
    requested_wake: Option<i64>,
    interest_check_at: Option<i64>,
    last_first_seq: u64,
}

impl ConsumerSet {
    /// The consumers of a stream with this (checked) configuration.
    pub fn new(stream: StreamConfig, options: ConsumerSetOptions) -> ConsumerSet {
        let ids = IdGenerator::new(options.seed);
        ConsumerSet {
            shared: Shared {
                options,
                stream,
                ids,
                next_token: 0,
                retention_acks: Vec::new(),
                inactive: Vec::new(),
                finished_searches: Vec::new(),
            },
            consumers: BTreeMap::new(),
            loads: HashMap::new(),
            saves: HashMap::new(),
            retention_loads: HashMap::new(),
            deadlines: BTreeSet::new(),
            deadline_of: HashMap::new(),
            requested_wake: None,
            interest_check_at: None,
            last_first_seq: 0,
        }
    }

    /// The stream's configuration changed (a checked `STREAM.UPDATE`).
    pub fn set_stream_config(&mut self, stream: StreamConfig) {
        self.shared.stream = stream;
    }

    /// The stream's configuration as the set knows it.
    pub fn stream_config(&self) -> &StreamConfig {
        &self.shared.stream
    }

    /// The subjects the runtime subscribes to (in the stream's account) and hands to
    /// [`ConsumerSet::ack`] and [`ConsumerSet::flow_control_reply`].
    pub fn subscriptions(&self) -> Vec<String> {
        let stream = &self.shared.stream.name;
        let mut subjects = vec![
            format!("{}{stream}.*.*.*.*.*.*", wire::ACK_PREFIX),
            format!("{}{stream}.*.*", wire::FLOW_CONTROL_PREFIX),
        ];
        if let AckFormat::V2 {
            domain,
            account_hash,
        } = &self.shared.options.ack_format
        {
            subjects.push(format!(
                "{}{domain}.{account_hash}.{stream}.*.*.*.*.*.>",
                wire::ACK_PREFIX
            ));
            subjects.push(format!(
                "{}{domain}.{account_hash}.{stream}.*.*",
                wire::FLOW_CONTROL_PREFIX
            ));
        }
        subjects
    }

    /// The names of the consumers, sorted.
    pub fn names(&self) -> Vec<String> {
        self.consumers.keys().cloned().collect()
    }

    /// Number of consumers.
    pub fn len(&self) -> usize {
        self.consumers.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.consumers.is_empty()
    }

    /// For interest retention: whether any consumer wants messages on `subject` (the Go
    /// server does not store a message nobody is interested in).
    pub fn has_interest_in(&self, subject: &str) -> bool {
        self.consumers
            .values()
            .any(|consumer| consumer.matches(subject))
    }

    /// Brings back a consumer from its saved record (at start).
    pub fn recover<S: StreamStore>(
        &mut self,
        cx: &Context<'_, S>,
        name: &str,
        record: &natrix_storage::ConsumerState,
        actions: &mut Vec<Action>,
    ) -> Result<(), RecoverError> {
        let metadata = RecordMetadata::decode(name, &record.metadata)?;
        let created_ns = metadata.created.unix_nanos().unwrap_or(0);
        let mut consumer = Consumer::new(
            name,
            metadata.config,
            created_ns,
            &self.shared.options,
            &self.shared.stream,
            &mut self.shared.ids,
        );
        {
            let mut env = Env {
                cx,
                shared: &mut self.shared,
                actions,
            };
            consumer.apply_state(&mut env, record);
            consumer.start(&mut env);
        }
        self.consumers.insert(name.to_owned(), consumer);
        self.after_event(cx, actions, &[name.to_owned()]);
        Ok(())
    }

    /// A message was stored with `seq` on `subject`.
    pub fn stored<S: StreamStore>(
        &mut self,
        cx: &Context<'_, S>,
        seq: u64,
        subject: &str,
        actions: &mut Vec<Action>,
    ) {
        let first_seq = cx.store.state().first_seq;
        let first_moved = first_seq != self.last_first_seq;
        self.last_first_seq = first_seq;
        let mut touched = Vec::new();
        for (name, consumer) in self.consumers.iter_mut() {
            let matches = consumer.matches(subject);
            if !matches && !first_moved {
                continue;
            }
            let mut env = Env {
                cx,
                shared: &mut self.shared,
                actions,
            };
            if first_moved {
                consumer.check_ack_floor(&mut env);
            }
            if matches {
                consumer.signal(&mut env, seq);
            }
            consumer.maybe_save(&mut env);
            touched.push(name.clone());
        }
        self.after_event(cx, actions, &touched);
    }

    /// A message left the stream by `STREAM.MSG.DELETE` (or any removal the runtime knows
    /// of, other than the set's own [`Action::RemoveMessage`]).
    pub fn removed<S: StreamStore>(
        &mut self,
        cx: &Context<'_, S>,
        seq: u64,
        subject: &str,
        actions: &mut Vec<Action>,
    ) {
        let names = self.names();
        for name in &names {
            self.with_consumer(cx, name, actions, |consumer, env| {
                consumer.removed(env, seq, subject);
                consumer.pump(env);
            });
        }
    }

    /// The stream was purged with `request` (already applied to the store; Go's `purge`
    /// of the stream then of each consumer).
    pub fn purged<S: StreamStore>(
        &mut self,
        cx: &Context<'_, S>,
        request: &PurgeRequest,
        actions: &mut Vec<Action>,
    ) {
        let state = cx.store.state();
        let subject = request.subject.clone().unwrap_or_default();
        let first_left = if subject.is_empty() {
            state.first_seq
        } else {
            cx.store.filtered_state(&subject, state.first_seq).first
        };
        let store = cx.store;
        let exists = |seq: u64| store.filtered_state("", seq).first == seq;
        let names = self.names();
        for name in &names {
            let Some(consumer) = self.consumers.get(name) else {
                continue;
            };
            let (purge, wider) = if subject.is_empty() || consumer.filters_within(&subject) {
                (true, false)
            } else if consumer.filters_cover(&subject) {
                (true, true)
            } else {
                (false, false)
            };
            if !purge {
                continue;
            }
            let start = if wider { state.first_seq } else { first_left };
            self.with_consumer(cx, name, actions, |consumer, env| {
                let check: Option<&dyn Fn(u64) -> bool> = if wider { Some(&exists) } else { None };
                consumer.purged(env, start, state.last_seq, check);
            });
        }
    }

    /// Interest in a push consumer's deliver subject appeared or went.
    pub fn deliver_interest<S: StreamStore>(
        &mut self,
        cx: &Context<'_, S>,
        consumer: &str,
        has_interest: bool,
        actions: &mut Vec<Action>,
    ) {
        self.with_consumer(cx, consumer, actions, |consumer, env| {
            consumer.update_delivery_interest(env, has_interest);
        });
    }

    /// A message on an ack subject: `reply` is its reply subject (an ack that asks to be
    /// confirmed), `body` its payload without headers. Returns false when the subject names
    /// no consumer of this stream.
    pub fn ack<S: StreamStore>(
        &mut self,
        cx: &Context<'_, S>,
        subject: &str,
        reply: Option<&str>,
        body: &[u8],
        actions: &mut Vec<Action>,
    ) -> bool {
        let Some(parsed) = wire::parse_ack_subject(subject) else {
            return false;
        };
        if parsed.stream != self.shared.stream.name {
            return false;
        }
        // Go subscribes to the ack subjects only of consumers that take acks.
        let takes_acks = self.consumers.get(parsed.consumer).is_some_and(|consumer| {
            !matches!(
                consumer.config.ack_policy,
                AckPolicy::None | AckPolicy::FlowControl
            )
        });
        if !takes_acks {
            return false;
        }
        let name = parsed.consumer.to_owned();
        let info = parsed.info;
        let kind = wire::parse_ack_body(body);
        self.with_consumer(cx, &name, actions, |consumer, env| {
            consumer.suppress_deletion(env.now());
            consumer.ack(env, info, kind, reply);
        })
    }

    /// A message on a flow control subject (`$JS.FC.…`) with its headers.
    pub fn flow_control_reply<S: StreamStore>(
        &mut self,
        cx: &Context<'_, S>,
        subject: &str,
        headers: &[u8],
        actions: &mut Vec<Action>,
    ) -> bool {
        let tokens: Vec<&str> = subject.split('.').collect();
        let consumer = match tokens.len() {
            5 => tokens[3],
            7 => tokens[5],
            _ => return false,
        };
        let name = consumer.to_owned();
        self.with_consumer(cx, &name, actions, |consumer, env| {
            consumer.flow_control_reply(env, subject, headers);
        })
    }

    /// A pull request for `consumer`; `interest` is the requester's own reply subject when
    /// the request came through an import. Returns false when there is no such consumer (Go
    /// has no subscriber then: the requester gets "no responders").
    #[allow(clippy::too_many_arguments)]
    pub fn next_request<S: StreamStore>(
        &mut self,
        cx: &Context<'_, S>,
        consumer: &str,
        reply: &str,
        interest: Option<&str>,
        headers: &[u8],
        body: &[u8],
        actions: &mut Vec<Action>,
    ) -> bool {
        self.with_consumer(cx, consumer, actions, |consumer, env| {
            consumer.next_request(env, reply, interest, headers, body);
        })
    }

    /// A load completed.
    pub fn loaded<S: StreamStore>(
        &mut self,
        cx: &Context<'_, S>,
        token: Token,
        result: Result<Vec<StoredMessage>, StoreError>,
        actions: &mut Vec<Action>,
    ) {
        if let Some(purpose) = self.retention_loads.remove(&token) {
            self.retention_loaded(cx, purpose, result.unwrap_or_default(), actions);
            self.after_event(cx, actions, &[]);
            return;
        }
        let Some(name) = self.loads.remove(&token) else {
            return;
        };
        self.with_consumer(cx, &name, actions, |consumer, env| {
            let Some(load) = consumer.load.take().filter(|load| load.token == token) else {
                return;
            };
            consumer.loaded(env, load, result.as_ref().map(Vec::clone));
        });
    }

    /// A save completed.
    pub fn saved<S: StreamStore>(
        &mut self,
        cx: &Context<'_, S>,
        token: Token,
        result: Result<(), StoreError>,
        actions: &mut Vec<Action>,
    ) {
        let Some(name) = self.saves.remove(&token) else {
            return;
        };
        self.with_consumer(cx, &name, actions, |consumer, env| {
            if consumer.persistence.in_flight == Some(token) {
                consumer.saved(env, result.is_ok());
            }
        });
    }

    /// Time passed: runs every timer that is due.
    pub fn tick<S: StreamStore>(&mut self, cx: &Context<'_, S>, actions: &mut Vec<Action>) {
        let now = cx.now_ns;
        let due: Vec<String> = self
            .deadlines
            .iter()
            .take_while(|(at, _)| *at <= now)
            .map(|(_, name)| name.clone())
            .collect();
        for name in &due {
            self.with_consumer(cx, name, actions, |consumer, env| consumer.run_timers(env));
        }
        if self.interest_check_at.is_some_and(|at| at <= now) {
            self.interest_check_at = None;
            self.compact_interest(cx, actions);
        }
        self.after_event(cx, actions, &[]);
    }

    /// The server stops: waiting pull requests end with `409 Server Shutdown` and every
    /// consumer with unsaved state saves it (perform the saves before stopping).
    pub fn shutdown<S: StreamStore>(&mut self, cx: &Context<'_, S>, actions: &mut Vec<Action>) {
        let names = self.names();
        for name in &names {
            self.with_consumer(cx, name, actions, |consumer, env| {
                consumer.release_waiting(env, true);
                consumer.persistence.next_save_at = env.now();
                consumer.persistence.backoff_until = 0;
            });
        }
    }

    /// The stream is deleted: waiting pull requests end with `409 Consumer Deleted`; the
    /// consumers go without advisories (their state goes with the stream's store).
    pub fn stream_deleted<S: StreamStore>(
        &mut self,
        cx: &Context<'_, S>,
        actions: &mut Vec<Action>,
    ) {
        let names = self.names();
        for name in &names {
            if let Some(mut consumer) = self.consumers.remove(name) {
                let mut env = Env {
                    cx,
                    shared: &mut self.shared,
                    actions,
                };
                consumer.release_waiting(&mut env, false);
                consumer.closed = true;
                if consumer.is_push() {
                    env.actions.push(Action::UnwatchDeliverInterest {
                        consumer: name.clone(),
                        subject: consumer.dsubj.clone(),
                    });
                }
            }
            self.forget(name);
        }
        self.after_event(cx, actions, &[]);
    }

    /// Runs `event` on the consumer `name`, then saves, settles retention and timers.
    /// Returns false when there is no such consumer.
    pub(crate) fn with_consumer<S: StreamStore>(
        &mut self,
        cx: &Context<'_, S>,
        name: &str,
        actions: &mut Vec<Action>,
        event: impl FnOnce(&mut Consumer, &mut Env<'_, '_, S>),
    ) -> bool {
        let Some(consumer) = self.consumers.get_mut(name) else {
            return false;
        };
        {
            let mut env = Env {
                cx,
                shared: &mut self.shared,
                actions,
            };
            event(consumer, &mut env);
            consumer.maybe_save(&mut env);
        }
        self.after_event(cx, actions, &[name.to_owned()]);
        true
    }

    /// After every event: register loads and saves, decide retention, delete inactive
    /// consumers, finish searches, and ask for the next wake-up.
    pub(crate) fn after_event<S: StreamStore>(
        &mut self,
        cx: &Context<'_, S>,
        actions: &mut Vec<Action>,
        touched: &[String],
    ) {
        for name in touched {
            let Some(consumer) = self.consumers.get(name) else {
                continue;
            };
            if let Some(load) = &consumer.load {
                self.loads.insert(load.token, name.clone());
            }
            if let Some(token) = consumer.persistence.in_flight {
                self.saves.insert(token, name.clone());
            }
        }
        self.process_retention(cx, actions);
        for name in std::mem::take(&mut self.shared.inactive) {
            self.remove_consumer(cx, &name, true, actions);
        }
        for name in std::mem::take(&mut self.shared.finished_searches) {
            self.answer_create_after_search(cx, &name, actions);
        }
        for name in touched {
            self.update_deadline(name);
        }
        self.request_wake(cx.now_ns, actions);
    }

    fn update_deadline(&mut self, name: &str) {
        if let Some(previous) = self.deadline_of.remove(name) {
            self.deadlines.remove(&(previous, name.to_owned()));
        }
        if let Some(at) = self.consumers.get(name).and_then(Consumer::next_deadline) {
            self.deadlines.insert((at, name.to_owned()));
            self.deadline_of.insert(name.to_owned(), at);
        }
    }

    fn request_wake(&mut self, now: i64, actions: &mut Vec<Action>) {
        if self.shared.stream.retention == RetentionPolicy::Interest
            && !self.consumers.is_empty()
            && self.interest_check_at.is_none()
        {
            let jitter = self.shared.ids.below(30) as i64 * SECOND_NS;
            self.interest_check_at = Some(now + INTEREST_CHECK_INTERVAL_NS + jitter);
        }
        let earliest = self
            .deadlines
            .first()
            .map(|(at, _)| *at)
            .into_iter()
            .chain(self.interest_check_at)
            .min();
        if let Some(at) = earliest {
            if self.requested_wake != Some(at) {
                self.requested_wake = Some(at);
                actions.push(Action::WakeAt { at_ns: at });
            }
        } else {
            self.requested_wake = None;
        }
    }

    fn forget(&mut self, name: &str) {
        if let Some(previous) = self.deadline_of.remove(name) {
            self.deadlines.remove(&(previous, name.to_owned()));
        }
        self.loads.retain(|_, consumer| consumer != name);
        self.saves.retain(|_, consumer| consumer != name);
    }

    /// Deletes a consumer: waiting requests get `409 Consumer Deleted`, the deleted
    /// advisory goes out, its state is removed, and an interest stream drops what only it
    /// kept.
    pub(crate) fn remove_consumer<S: StreamStore>(
        &mut self,
        cx: &Context<'_, S>,
        name: &str,
        advisory: bool,
        actions: &mut Vec<Action>,
    ) -> bool {
        let Some(mut consumer) = self.consumers.remove(name) else {
            return false;
        };
        {
            let mut env = Env {
                cx,
                shared: &mut self.shared,
                actions,
            };
            if advisory {
                consumer.send_action_advisory(&mut env, "delete");
            }
            consumer.release_waiting(&mut env, false);
            consumer.closed = true;
            if consumer.is_push() {
                env.actions.push(Action::UnwatchDeliverInterest {
                    consumer: name.to_owned(),
                    subject: consumer.dsubj.clone(),
                });
            }
            if !consumer.config.direct {
                env.actions.push(Action::RemoveState {
                    consumer: name.to_owned(),
                });
            }
            // Replies promised after a save that will not happen: the consumer is gone.
            for (reply, payload) in consumer
                .persistence
                .replies_waiting
                .drain(..)
                .chain(consumer.persistence.replies_in_flight.drain(..))
            {
                env.publish(&reply, None, bytes::Bytes::new(), payload);
            }
        }
        self.forget(name);
        if self.shared.stream.retention == RetentionPolicy::Interest {
            self.cleanup_no_interest(cx, consumer.asflr, actions);
        }
        true
    }

    /// Go's `cleanupNoInterestMessages` after a consumer left an interest stream: with no
    /// consumer left everything goes; otherwise the messages from the leaver's ack floor on
    /// that nobody else needs.
    fn cleanup_no_interest<S: StreamStore>(
        &mut self,
        cx: &Context<'_, S>,
        from_floor: u64,
        actions: &mut Vec<Action>,
    ) {
        let state = cx.store.state();
        if self.consumers.is_empty() {
            if state.msgs > 0 {
                actions.push(Action::PurgeAll);
            }
            return;
        }
        let start = from_floor.max(state.first_seq);
        self.scan_for_lost_interest(start, state.last_seq, actions);
    }

    /// Scans `start..=stop` for messages no consumer needs (at most [`CLEANUP_SCAN_MAX`]
    /// sequences; wider ranges are left to the periodic compaction, as Go does).
    pub(crate) fn scan_for_lost_interest(
        &mut self,
        start: u64,
        stop: u64,
        actions: &mut Vec<Action>,
    ) {
        if start > stop || stop - start > CLEANUP_SCAN_MAX {
            return;
        }
        self.issue_cleanup_load(start, stop, actions);
    }

    fn issue_cleanup_load(&mut self, start: u64, stop: u64, actions: &mut Vec<Action>) {
        self.shared.next_token += 1;
        let token = Token(self.shared.next_token);
        self.retention_loads
            .insert(token, RetentionLoad::Cleanup { stop });
        actions.push(Action::Load {
            token,
            request: LoadRequest::Next {
                filters: Vec::new(),
                start_seq: start,
                max_messages: self.shared.options.max_load_messages,
                max_bytes: self.shared.options.max_load_bytes,
            },
        });
    }

    /// Decides the sequences consumers acknowledged: removed when no other consumer needs
    /// them; loaded first when a filtered consumer's need depends on an unknown subject.
    fn process_retention<S: StreamStore>(
        &mut self,
        cx: &Context<'_, S>,
        actions: &mut Vec<Action>,
    ) {
        let acks = std::mem::take(&mut self.shared.retention_acks);
        if acks.is_empty() || self.shared.stream.retention == RetentionPolicy::Limits {
            return;
        }
        let state = cx.store.state();
        let mut unknown = Vec::new();
        for ack in acks {
            if ack.seq < state.first_seq || ack.seq > state.last_seq {
                continue;
            }
            match self.still_needed(ack.seq, ack.subject.as_deref(), Some(&ack.consumer)) {
                Some(false) => actions.push(Action::RemoveMessage { seq: ack.seq }),
                Some(true) => {}
                None => unknown.push(ack),
            }
        }
        if !unknown.is_empty() {
            self.shared.next_token += 1;
            let token = Token(self.shared.next_token);
            let seqs = unknown.iter().map(|ack| ack.seq).collect();
            self.retention_loads
                .insert(token, RetentionLoad::Subjects(unknown));
            actions.push(Action::Load {
                token,
                request: LoadRequest::Sequences(seqs),
            });
        }
    }

    /// Whether a consumer other than `except` still needs `seq` (Go's `checkForInterest`);
    /// `None` when that depends on a subject not known.
    fn still_needed(&self, seq: u64, subject: Option<&str>, except: Option<&str>) -> Option<bool> {
        let mut unknown = false;
        for (name, consumer) in &self.consumers {
            if Some(name.as_str()) == except {
                continue;
            }
            let filtered = consumer.is_filtered(&self.shared.stream);
            match consumer.need_ack(seq, subject, filtered) {
                Some(true) => return Some(true),
                Some(false) => {}
                None => unknown = true,
            }
        }
        (!unknown).then_some(false)
    }

    fn retention_loaded<S: StreamStore>(
        &mut self,
        cx: &Context<'_, S>,
        purpose: RetentionLoad,
        messages: Vec<StoredMessage>,
        actions: &mut Vec<Action>,
    ) {
        match purpose {
            RetentionLoad::Subjects(acks) => {
                let subjects: HashMap<u64, Rc<str>> = messages
                    .iter()
                    .map(|message| (message.seq, message.subject.as_str().into()))
                    .collect();
                for ack in acks {
                    let Some(subject) = subjects.get(&ack.seq) else {
                        continue;
                    };
                    if self.still_needed(ack.seq, Some(subject), Some(&ack.consumer)) == Some(false)
                    {
                        actions.push(Action::RemoveMessage { seq: ack.seq });
                    }
                }
            }
            RetentionLoad::Cleanup { stop } => {
                let full = messages.len() >= self.shared.options.max_load_messages;
                let mut last = 0;
                for message in &messages {
                    last = message.seq;
                    if message.seq > stop {
                        break;
                    }
                    if self.still_needed(message.seq, Some(&message.subject), None) == Some(false) {
                        actions.push(Action::RemoveMessage { seq: message.seq });
                    }
                }
                if full && last < stop && cx.store.state().last_seq > last {
                    self.issue_cleanup_load(last + 1, stop, actions);
                }
            }
        }
    }

    /// Interest streams: remove everything below every consumer's ack floor (what Go's
    /// `checkInterestState` does with its check floors).
    fn compact_interest<S: StreamStore>(&mut self, cx: &Context<'_, S>, actions: &mut Vec<Action>) {
        let Some(floor) = self.consumers.values().map(|consumer| consumer.asflr).min() else {
            return;
        };
        if floor + 1 > cx.store.state().first_seq {
            actions.push(Action::Compact {
                floor_seq: floor + 1,
            });
        }
    }
}

impl Consumer {
    /// Go's `processStreamSignal`: a message for this consumer was stored.
    fn signal<S: StreamStore>(&mut self, env: &mut Env<'_, '_, S>, seq: u64) {
        if seq > self.npf {
            self.npc += 1;
        }
        self.eof_seq = None;
        if self.load.is_some() {
            self.stored_during_load = true;
        }
        if seq < self.sseq {
            return;
        }
        self.pump(env);
    }

    /// Go's `suppressDeletion`: ack activity keeps a consumer with an inactive threshold.
    fn suppress_deletion(&mut self, now: i64) {
        if self.config.inactive_threshold <= 0 {
            return;
        }
        if self.is_push() {
            if self.dtmr_at.is_some() {
                self.dtmr_at = Some(now + self.dthresh);
            }
        } else if let Some(queue) = self.waiting.as_mut() {
            queue.last_active_ns = now;
            if self.dtmr_at.is_some() {
                self.dtmr_at = Some(now + self.dthresh);
            }
        }
    }

    /// Go's `updateDeliveryInterest`.
    pub(crate) fn update_delivery_interest<S: StreamStore>(
        &mut self,
        env: &mut Env<'_, '_, S>,
        interest: bool,
    ) {
        if self.is_pull() {
            return;
        }
        self.active = interest;
        let now = env.now();
        if !(self.dtmr_at.is_some() && self.dthresh > 0 && !interest) {
            self.dtmr_at = None;
            if !interest && self.dthresh > 0 {
                self.dtmr_at = Some(now + self.dthresh);
            }
        }
        self.pump(env);
    }

    /// Runs the timers that are due.
    fn run_timers<S: StreamStore>(&mut self, env: &mut Env<'_, '_, S>) {
        let now = env.now();
        let due = |at: Option<i64>| at.is_some_and(|at| at <= now);
        if due(self.ptmr_at) {
            self.check_pending(env);
        }
        if due(self.waiting_at) {
            self.process_waiting(env, true);
            self.pump(env);
        }
        if due(self.hb_at) {
            self.push_heartbeat(env);
        }
        if due(self.unpause_at) {
            self.unpause_at = None;
            self.send_pause_advisory(env);
            self.pump(env);
        }
        if due(self.pin.expires_at) {
            if self.pin.id.is_empty() {
                self.pin.expires_at = None;
            } else {
                self.unpin(env, "timeout");
            }
        }
        if due(self.gate_until) || due(self.load_retry_at) {
            if due(self.load_retry_at) {
                self.load_retry_at = None;
            }
            self.pump(env);
        }
        if due(self.dtmr_at) {
            self.dtmr_at = None;
            self.delete_if_inactive(env);
        }
    }

    /// Go's `deleteNotActive`.
    fn delete_if_inactive<S: StreamStore>(&mut self, env: &mut Env<'_, '_, S>) {
        let now = env.now();
        if self.closed {
            return;
        }
        if self.is_push() {
            if self.active {
                return;
            }
        } else {
            let last = self
                .waiting
                .as_ref()
                .map_or(0, |queue| queue.last_active_ns);
            let elapsed = now - last;
            if elapsed < self.dthresh {
                self.dtmr_at = Some(now + self.dthresh - elapsed);
                return;
            }
            self.process_waiting(env, true);
            if self.waiting.as_ref().is_some_and(|queue| !queue.is_empty()) {
                self.dtmr_at = Some(now + self.dthresh);
                return;
            }
            // Deliveries may still be worked on: wait for the last ack wait to pass, then
            // the threshold.
            let mut delay = 0;
            for (seq, pending) in &self.pending {
                let wait = self.redelivery_wait(*seq);
                let at = pending.timestamp_ns + wait + self.dthresh;
                if at > now {
                    delay = delay.max(at - now);
                }
            }
            if delay > 0 {
                self.dtmr_at = Some(now + delay);
                return;
            }
        }
        env.shared.inactive.push(self.name.clone());
    }

    /// Go's `sendPauseAdvisoryLocked`.
    pub(crate) fn send_pause_advisory<S: StreamStore>(&self, env: &mut Env<'_, '_, S>) {
        let now = env.now();
        let pause_until = self.config.pause_until.unwrap_or(Timestamp::ZERO);
        let paused = pause_until.unix_nanos().is_some_and(|until| now < until);
        let domain = env.shared.options.domain.clone();
        env.event(
            CONSUMER_PAUSE_PREFIX,
            &self.stream,
            &self.name,
            crate::api::CONSUMER_PAUSE_TYPE,
            |event| ConsumerPauseAdvisory {
                event,
                stream: self.stream.clone(),
                consumer: self.name.clone(),
                paused,
                pause_until,
                domain,
            },
        );
    }

    /// The created or deleted advisory.
    pub(crate) fn send_action_advisory<S: StreamStore>(
        &self,
        env: &mut Env<'_, '_, S>,
        action: &str,
    ) {
        let prefix = if action == "create" {
            crate::api::CONSUMER_CREATED_PREFIX
        } else {
            crate::api::CONSUMER_DELETED_PREFIX
        };
        let domain = env.shared.options.domain.clone();
        env.event(
            prefix,
            &self.stream,
            &self.name,
            crate::api::CONSUMER_ACTION_TYPE,
            |event| crate::api::ConsumerActionAdvisory {
                event,
                stream: self.stream.clone(),
                consumer: self.name.clone(),
                action: action.to_owned(),
                domain,
            },
        );
    }

    /// Sets the timers and interest of a consumer that begins to run (created or
    /// recovered; Go's `setLeader`).
    pub(crate) fn start<S: StreamStore>(&mut self, env: &mut Env<'_, '_, S>) {
        let now = env.now();
        if self.is_push() {
            self.active = env.cx.interest.has_interest(&self.dsubj);
            env.actions.push(Action::WatchDeliverInterest {
                consumer: self.name.clone(),
                subject: self.dsubj.clone(),
            });
            if self.config.heartbeat > 0 {
                self.hb_at = Some(now + self.config.heartbeat);
            }
        }
        if let Some(queue) = self.waiting.as_mut() {
            queue.last_active_ns = now;
        }
        if self.dthresh > 0 && (self.is_pull() || !self.active) {
            self.dtmr_at = Some(now + self.dthresh);
        }
        self.update_pause_state(now);
        if self.config.replay_policy != crate::api::ReplayPolicy::Instant {
            self.replay = true;
            self.replay_until_seq = env.cx.store.state().last_seq;
        }
        self.stream_num_pending(env.cx.store);
        self.check_ack_floor(env);
        self.pump(env);
    }

    /// Go's `updatePauseState`: a timer for the end of a pause in the future.
    pub(crate) fn update_pause_state(&mut self, now: i64) {
        self.unpause_at = self
            .config
            .pause_until
            .and_then(Timestamp::unix_nanos)
            .filter(|until| *until > now);
    }

    /// One step of the search for the first message at or after `opt_start_time`: the
    /// message found at the step's sequence (or none), then the next step's load, or the
    /// cursor placed and the create answered.
    pub(crate) fn start_time_step<S: StreamStore>(
        &mut self,
        env: &mut Env<'_, '_, S>,
        found: Option<StoredMessage>,
    ) {
        let Some(search) = self.start_search.as_mut() else {
            return;
        };
        let mid = search.mid;
        let at_or_after = found
            .as_ref()
            .is_none_or(|message| message.timestamp_ns >= search.target_ns);
        if at_or_after {
            search.high = mid;
            search.found = Some((mid, found.map_or(0, |message| message.seq)));
        } else {
            search.low = mid + 1;
        }
        self.continue_start_search(env);
    }

    /// Issues the next load of the search, or ends it.
    pub(crate) fn continue_start_search<S: StreamStore>(&mut self, env: &mut Env<'_, '_, S>) {
        let Some(search) = self.start_search.as_mut() else {
            return;
        };
        if search.low < search.high {
            let mid = search.low + (search.high - search.low) / 2;
            search.mid = mid;
            let request = LoadRequest::Next {
                filters: Vec::new(),
                start_seq: mid,
                max_messages: 1,
                max_bytes: 1,
            };
            self.issue_load(env, LoadKind::StartTime, request, Vec::new(), 1);
            return;
        }
        let Some(search) = self.start_search.take() else {
            return;
        };
        let state = env.cx.store.state();
        self.sseq = match search.found {
            Some((position, seq)) if position == search.low && seq > 0 => seq,
            _ => state.last_seq + 1,
        };
        self.start_time_seq = self.sseq;
        self.skip_to_first_filtered_match(env.cx.store);
        self.clamp_start(&state);
        self.mark_dirty();
        if search.reply.is_some() {
            self.search_reply = search.reply;
            env.shared.finished_searches.push(self.name.clone());
        }
        self.start(env);
    }
}
