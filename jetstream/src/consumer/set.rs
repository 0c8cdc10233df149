//! [`ConsumerSet`]: a stream's consumers, the events of the runtime contract (see the
//! module doc of [`crate::consumer`]) routed to them, and the timers of all of them behind
//! one [`Action::WakeAt`]. Retention decisions are in `retention`, the API in `handlers`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use natrix_storage::{PurgeRequest, StoreError, StoredMessage, StreamStore};

use super::config::ConsumerLimits;
use super::ids::IdGenerator;
use super::machine::{Consumer, Env, RetentionAck, Shared, SECOND_NS};
use super::persist::{RecordMetadata, RecoverError};
use super::wire::{self, AckFormat};
use super::{Action, Context, Token};
use crate::api::{AckPolicy, ConsumerConfig, RetentionPolicy, StreamConfig};

/// How often an interest stream compacts below every consumer's ack floor (Go checks its
/// interest state every 2 minutes).
const INTEREST_CHECK_INTERVAL_NS: i64 = 120 * SECOND_NS;
/// The widest range scanned for messages that lost their interest when a consumer goes
/// (Go's `bailThresh`); wider ranges are left to the periodic compaction.
pub(crate) const CLEANUP_SCAN_MAX: u64 = 100_000;

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
pub(crate) enum RetentionLoad {
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
    pub(crate) retention_loads: HashMap<Token, RetentionLoad>,
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
    /// [`ConsumerSet::ack`] and [`ConsumerSet::flow_control_reply`]: both the 9-token and the
    /// 11-token (and longer) forms whichever form deliveries carry, as Go 2.14+ subscribes to
    /// both, so acks keep working across a change of the `js_ack_fc_v2` flag.
    pub fn subscriptions(&self) -> Vec<String> {
        let stream = &self.shared.stream.name;
        let (domain, account_hash) = match &self.shared.options.ack_format {
            AckFormat::V2 {
                domain,
                account_hash,
            } => (domain.clone(), account_hash.clone()),
            AckFormat::V1 => {
                let domain = &self.shared.options.domain;
                let domain = if domain.is_empty() { "_" } else { domain };
                (
                    domain.to_owned(),
                    wire::account_hash(&self.shared.options.account),
                )
            }
        };
        vec![
            format!("{}{stream}.*.*.*.*.*.*", wire::ACK_PREFIX),
            format!("{}{stream}.*.*", wire::FLOW_CONTROL_PREFIX),
            format!(
                "{}{domain}.{account_hash}.{stream}.*.*.*.*.*.>",
                wire::ACK_PREFIX
            ),
            format!(
                "{}{domain}.{account_hash}.{stream}.*.*",
                wire::FLOW_CONTROL_PREFIX
            ),
        ]
    }

    /// The names of the consumers, sorted.
    pub fn names(&self) -> Vec<String> {
        self.consumers.keys().cloned().collect()
    }

    /// Every consumer clients see (not direct ones) as a backup holds it: its configuration
    /// as stored and its record as it is now (unsaved changes included, as Go's snapshot
    /// takes the consumer's current state).
    pub fn backup_records(&self) -> Vec<(String, ConsumerConfig, natrix_storage::ConsumerState)> {
        self.consumers
            .iter()
            .filter(|(_, consumer)| !consumer.config.direct)
            .map(|(name, consumer)| (name.clone(), consumer.config.clone(), consumer.record()))
            .collect()
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
        // The runtime's timer fired: the next wake-up is always asked for again.
        self.requested_wake = None;
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
        // A deadline already passed means "as soon as possible".
        if let Some(at) = earliest.map(|at| at.max(now + 1)) {
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
}
