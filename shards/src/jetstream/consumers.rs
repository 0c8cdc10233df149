//! A stream's consumers on the shard that owns the stream: the runtime of
//! [`natrix_jetstream::consumer::ConsumerSet`] (its module doc is the contract this module
//! keeps).
//!
//! The set lives in the stream's [`Stream`] beside its machine and store: no lock and no hop
//! between them. Every event (a message stored, an ack, a pull request, an API request, a
//! load or save completed, a timer) borrows the set only while the set decides; the actions
//! it returns are performed afterwards, in order:
//!
//! - `Publish`: deliveries, statuses, advisories and replies go out through the routing core
//!   ([`Shard::publish_internal`]) in the stream's account, the ones of one event in one
//!   routing pass. A reply to a consumer API request goes out as an API reply (counted, with
//!   its audit advisory).
//! - `Load`, `SaveState`, `RemoveState`, `RemoveMessage`, `Compact`, `PurgeAll`: tasks on the
//!   store, counted by the stream so that closing waits for them. A load first waits for the
//!   shard's outboxes to drain, so deliveries to other shards are paced by the mesh instead
//!   of piling up in an outbox.
//! - `WakeAt`: the stream's consumer timer task sleeps until then and calls `tick`.
//! - `WatchDeliverInterest`: the JetStream runtime's watcher re-checks the watched deliver
//!   subjects whenever the shard's interest changes ([`Shard::interest_changed`]) and reports
//!   the ones whose answer changed.
//!
//! Acks (`$JS.ACK.<stream>.>`) and flow control replies (`$JS.FC.<stream>.>`) arrive on two
//! internal subscriptions of the stream (in the interest summary, so an ack published on any
//! shard reaches the owner in one hop). Pull requests and the other consumer API requests
//! arrive through the API service (`consumer_api`).

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use natrix_jetstream::api::{RetentionPolicy, StreamConfig};
use natrix_jetstream::consumer::config::ConsumerLimits;
use natrix_jetstream::consumer::wire::AckFormat;
use natrix_jetstream::consumer::{
    Action, ConsumerSet, ConsumerSetOptions, Context, InterestQuery, Outgoing,
};
use natrix_storage::{PurgeRequest, StreamStore};

use super::store::Store;
use super::stream::Stream;
use super::{now_ns, JetStream};
use crate::account::AccountId;
use crate::message::Message;
use crate::shard::{ApiRequest, InternalSubscriber, Shard, SubId};

/// API requests waiting for their reply at most, per stream (a reply the set never sends,
/// which only a request it ignores causes, must not keep its entry forever).
const API_REPLIES_MAX: usize = 4096;

/// The consumers of one stream, and what their runtime keeps.
#[derive(Default)]
pub(super) struct Consumers {
    /// The set, once the stream has started.
    set: RefCell<Option<ConsumerSet>>,
    /// When the set asked to be ticked.
    wake_at: Cell<Option<i64>>,
    /// Wakes the timer task early (a new `WakeAt`, the stream closing).
    timer_wake: crate::local_sync::LocalNotify,
    /// Push consumers' deliver subjects, with the interest last reported to the set.
    watched: RefCell<BTreeMap<String, Watch>>,
    /// Consumer API requests whose reply the set will send (by reply subject): the reply
    /// goes out as an API reply.
    api_replies: RefCell<HashMap<Bytes, ApiRequest>>,
    subscriptions: RefCell<Vec<SubId>>,
    closed: Cell<bool>,
}

struct Watch {
    subject: String,
    reported: Option<bool>,
}

/// The shard's routing as the set's interest query, in the stream's account.
struct ShardInterest<'a> {
    shard: &'a Shard,
    account: AccountId,
}

impl InterestQuery for ShardInterest<'_> {
    fn has_interest(&self, subject: &str) -> bool {
        self.shard.has_interest(self.account, subject.as_bytes())
    }
}

/// What a subscription of the consumers receives.
#[derive(Clone, Copy)]
enum Feed {
    Ack,
    FlowControl,
}

struct ConsumerIntake {
    stream: Rc<Stream>,
    feed: Feed,
}

impl InternalSubscriber for ConsumerIntake {
    fn deliver(&self, shard: &Shard, message: &Message) {
        let Ok(subject) = std::str::from_utf8(&message.subject) else {
            return;
        };
        let header_len = message.header_len.min(message.payload.len());
        let headers = &message.payload[..header_len];
        let body = &message.payload[header_len..];
        let reply = message
            .reply
            .as_ref()
            .and_then(|reply| std::str::from_utf8(reply).ok());
        let stream = &self.stream;
        let found = match self.feed {
            Feed::Ack => stream.consumers.event(stream, shard, |set, cx, actions| {
                set.ack(cx, subject, reply, body, actions)
            }),
            Feed::FlowControl => stream.consumers.event(stream, shard, |set, cx, actions| {
                set.flow_control_reply(cx, subject, headers, actions)
            }),
        };
        // The Go server subscribes per consumer: an ack for a consumer that is not there
        // reaches nobody, and a requester waiting for its confirmation hears so.
        if found == Some(false) {
            if let Some(reply) = message.reply.clone().filter(|reply| !reply.is_empty()) {
                no_responders(shard, message.account, reply, &message.subject);
            }
        }
    }
}

/// Answers `reply` as the routing core answers a request on `subject` nobody subscribes to.
pub(super) fn no_responders(shard: &Shard, account: AccountId, reply: Bytes, subject: &[u8]) {
    let mut headers = b"NATS/1.0 503\r\nNats-Subject: ".to_vec();
    headers.extend_from_slice(subject);
    headers.extend_from_slice(b"\r\n\r\n");
    let message = Message::with_headers(account, reply, None, &headers, b"");
    shard.publish_internal(std::iter::once(message));
}

impl Consumers {
    /// Builds the set, subscribes to the ack and flow control subjects, brings back every
    /// consumer whose record the store holds, and starts the timer.
    pub fn start(&self, stream: &Rc<Stream>, shard: &Rc<Shard>, js: &JetStream) {
        let config = stream.config();
        let set = ConsumerSet::new(config, options(stream, shard, js));
        let subjects = set.subscriptions();
        *self.set.borrow_mut() = Some(set);
        {
            let mut subscriptions = self.subscriptions.borrow_mut();
            for (index, subject) in subjects.into_iter().enumerate() {
                let feed = if index % 2 == 0 {
                    Feed::Ack
                } else {
                    Feed::FlowControl
                };
                let handler: Rc<dyn InternalSubscriber> = Rc::new(ConsumerIntake {
                    stream: Rc::clone(stream),
                    feed,
                });
                subscriptions.push(shard.subscribe_internal(
                    stream.account,
                    Bytes::from(subject),
                    None,
                    handler,
                ));
            }
        }
        self.recover(stream, shard);
        let timer_stream = Rc::clone(stream);
        let timer_shard = Rc::clone(shard);
        compio::runtime::spawn(async move { run_timer(timer_stream, timer_shard).await }).detach();
    }

    /// Recovers the consumers the store has records of (at start, kill -9 included: the
    /// records are written atomically).
    fn recover(&self, stream: &Rc<Stream>, shard: &Shard) {
        let names = stream.store.consumer_names();
        if names.is_empty() {
            return;
        }
        tracing::info!(
            "  Recovering {} consumers for stream - '{} > {}'",
            names.len(),
            stream.account_name,
            stream.name
        );
        for name in names {
            let Some(record) = stream.store.consumer_state(&name) else {
                continue;
            };
            let outcome = self.event(stream, shard, |set, cx, actions| {
                set.recover(cx, &name, &record, actions)
            });
            if let Some(Err(error)) = outcome {
                tracing::warn!(
                    "    Error adding consumer '{} > {} > {name}': {error}",
                    stream.account_name,
                    stream.name
                );
            }
        }
    }

    /// Whether the set runs (the stream started and has not closed).
    pub fn is_running(&self) -> bool {
        !self.closed.get() && self.set.borrow().is_some()
    }

    /// Runs one event on the set and performs its actions. `None` when the set does not
    /// run.
    pub fn event<R>(
        &self,
        stream: &Rc<Stream>,
        shard: &Shard,
        event: impl FnOnce(&mut ConsumerSet, &Context<'_, Store>, &mut Vec<Action>) -> R,
    ) -> Option<R> {
        let mut actions = Vec::new();
        let outcome = {
            let mut guard = self.set.borrow_mut();
            let set = guard.as_mut()?;
            let interest = ShardInterest {
                shard,
                account: stream.account,
            };
            let cx = Context {
                store: &*stream.store,
                interest: &interest,
                now_ns: now_ns(),
            };
            event(set, &cx, &mut actions)
        };
        self.perform(stream, shard, actions);
        Some(outcome)
    }

    /// A message was stored. On an interest stream a message no consumer wants goes at once
    /// (the Go server does not keep it).
    pub fn stored(&self, stream: &Rc<Stream>, shard: &Shard, seq: u64, subject: &str) {
        if self.closed.get() {
            return;
        }
        let unwanted = self.event(stream, shard, |set, cx, actions| {
            if set.stream_config().retention == RetentionPolicy::Interest
                && !set.has_interest_in(subject)
            {
                return true;
            }
            if !set.is_empty() {
                set.stored(cx, seq, subject, actions);
            }
            false
        });
        if unwanted == Some(true) {
            let target = Rc::clone(stream);
            stream.spawn_task(shard, async move |_| {
                if let Err(error) = target.store.remove_msg(seq).await {
                    tracing::warn!("JetStream could not drop a message without interest: {error}");
                }
            });
        }
    }

    /// The stream's configuration changed.
    pub fn set_stream_config(&self, config: StreamConfig) {
        if let Some(set) = self.set.borrow_mut().as_mut() {
            set.set_stream_config(config);
        }
    }

    /// The stream was purged (already applied to the store).
    pub fn purged(&self, stream: &Rc<Stream>, shard: &Shard, request: &PurgeRequest) {
        self.event(stream, shard, |set, cx, actions| {
            set.purged(cx, request, actions)
        });
    }

    /// A message was deleted by `STREAM.MSG.DELETE`.
    pub fn removed(&self, stream: &Rc<Stream>, shard: &Shard, seq: u64, subject: &str) {
        self.event(stream, shard, |set, cx, actions| {
            set.removed(cx, seq, subject, actions)
        });
    }

    /// How many consumers the stream has (stream info's `consumer_count`).
    pub fn count(&self) -> u64 {
        self.set.borrow().as_ref().map_or(0, |set| set.len() as u64)
    }

    /// Whether the stream has consumers.
    pub fn any(&self) -> bool {
        self.set
            .borrow()
            .as_ref()
            .is_some_and(|set| !set.is_empty())
    }

    /// The stream is being deleted: waiting pull requests hear `409 Consumer Deleted`.
    pub fn stream_deleted(&self, stream: &Rc<Stream>, shard: &Shard) {
        self.event(stream, shard, |set, cx, actions| {
            set.stream_deleted(cx, actions)
        });
    }

    /// The stream closes (server shutdown, or deletion after [`Consumers::stream_deleted`]):
    /// waiting pull requests hear `409 Server Shutdown`, unsaved states are saved (the
    /// stream waits for those tasks), and nothing new starts.
    pub fn close(&self, stream: &Rc<Stream>, shard: &Shard) {
        if self.closed.get() {
            return;
        }
        self.event(stream, shard, |set, cx, actions| set.shutdown(cx, actions));
        self.closed.set(true);
        for id in std::mem::take(&mut *self.subscriptions.borrow_mut()) {
            shard.unsubscribe_internal(id);
        }
        self.watched.borrow_mut().clear();
        self.timer_wake.notify();
    }

    /// Registers the request whose reply the set will send, so that the reply goes out as
    /// an API reply.
    pub fn expect_api_reply(&self, request: &ApiRequest) {
        let Some(reply) = request.reply.clone().filter(|reply| !reply.is_empty()) else {
            return;
        };
        let mut replies = self.api_replies.borrow_mut();
        if replies.len() >= API_REPLIES_MAX {
            replies.clear();
        }
        replies.insert(reply, request.clone());
    }

    /// Forgets a request registered with [`Consumers::expect_api_reply`].
    pub fn forget_api_reply(&self, request: &ApiRequest) {
        if let Some(reply) = &request.reply {
            self.api_replies.borrow_mut().remove(reply);
        }
    }

    /// Checks the watched deliver subjects and tells the set of every change.
    pub fn check_deliver_interest(&self, stream: &Rc<Stream>, shard: &Shard) {
        let changed: Vec<(String, bool)> = {
            let mut watched = self.watched.borrow_mut();
            watched
                .iter_mut()
                .filter_map(|(consumer, watch)| {
                    let now = shard.has_interest(stream.account, watch.subject.as_bytes());
                    (watch.reported != Some(now)).then(|| {
                        watch.reported = Some(now);
                        (consumer.clone(), now)
                    })
                })
                .collect()
        };
        for (consumer, has_interest) in changed {
            self.event(stream, shard, |set, cx, actions| {
                set.deliver_interest(cx, &consumer, has_interest, actions)
            });
        }
    }

    /// Whether any deliver subject is watched.
    pub fn watches(&self) -> bool {
        !self.watched.borrow().is_empty()
    }

    /// Performs the set's actions in order.
    fn perform(&self, stream: &Rc<Stream>, shard: &Shard, actions: Vec<Action>) {
        let mut messages: Vec<Message> = Vec::new();
        for action in actions {
            match action {
                Action::Publish(outgoing) => {
                    let request = {
                        let mut replies = self.api_replies.borrow_mut();
                        match replies.is_empty() {
                            true => None,
                            false => replies.remove(outgoing.subject.as_bytes()),
                        }
                    };
                    match request {
                        Some(request) => {
                            // Keep the order: what the event published before the reply
                            // leaves first.
                            shard.publish_internal(std::mem::take(&mut messages));
                            send_api_reply(stream, shard, &request, outgoing.payload);
                        }
                        None => messages.push(to_message(stream.account, outgoing)),
                    }
                }
                Action::Load { token, request } => {
                    if self.closed.get() {
                        continue;
                    }
                    let target = Rc::clone(stream);
                    stream.spawn_task(shard, async move |shard| {
                        wait_for_outboxes(&shard, &target).await;
                        if target.consumers.closed.get() {
                            return;
                        }
                        let result = request.run(&*target.store).await;
                        target.consumers.event(&target, &shard, |set, cx, actions| {
                            set.loaded(cx, token, result, actions)
                        });
                    });
                }
                Action::SaveState {
                    token,
                    consumer,
                    state,
                } => {
                    let target = Rc::clone(stream);
                    stream.spawn_task(shard, async move |shard| {
                        let result = target.store.update_consumer_state(&consumer, &state).await;
                        if let Err(error) = &result {
                            tracing::warn!(
                                "JetStream could not save the state of consumer '{} > {} > {consumer}': {error}",
                                target.account_name,
                                target.name
                            );
                        }
                        target.consumers.event(&target, &shard, |set, cx, actions| {
                            set.saved(cx, token, result, actions)
                        });
                    });
                }
                Action::RemoveState { consumer } => {
                    let target = Rc::clone(stream);
                    stream.spawn_task(shard, async move |_| {
                        if let Err(error) = target.store.remove_consumer_state(&consumer).await {
                            tracing::warn!(
                                "JetStream could not remove the state of consumer '{} > {} > {consumer}': {error}",
                                target.account_name,
                                target.name
                            );
                        }
                    });
                }
                Action::RemoveMessage { seq } => {
                    let target = Rc::clone(stream);
                    stream.spawn_task(shard, async move |_| {
                        if let Err(error) = target.store.remove_msg(seq).await {
                            tracing::warn!(
                                "JetStream could not remove an acknowledged message: {error}"
                            );
                        }
                    });
                }
                Action::Compact { floor_seq } => {
                    let target = Rc::clone(stream);
                    stream.spawn_task(shard, async move |_| {
                        if let Err(error) = target.store.compact(floor_seq).await {
                            tracing::warn!(
                                "JetStream could not compact an interest stream: {error}"
                            );
                        }
                    });
                }
                Action::PurgeAll => {
                    let target = Rc::clone(stream);
                    stream.spawn_task(shard, async move |_| {
                        match target.store.purge(&PurgeRequest::default()).await {
                            Ok(_) => target.resync(),
                            Err(error) => tracing::warn!(
                                "JetStream could not purge an interest stream without consumers: {error}"
                            ),
                        }
                    });
                }
                Action::WatchDeliverInterest { consumer, subject } => {
                    if self.closed.get() {
                        continue;
                    }
                    self.watched.borrow_mut().insert(
                        consumer,
                        Watch {
                            subject,
                            reported: None,
                        },
                    );
                    // The watcher reports the current answer on its next turn.
                    shard.interest_changed.notify();
                }
                Action::UnwatchDeliverInterest { consumer, subject } => {
                    let mut watched = self.watched.borrow_mut();
                    if watched
                        .get(&consumer)
                        .is_some_and(|watch| watch.subject == subject)
                    {
                        watched.remove(&consumer);
                    }
                }
                Action::WakeAt { at_ns } => {
                    self.wake_at.set(Some(at_ns));
                    self.timer_wake.notify();
                }
            }
        }
        if !messages.is_empty() {
            shard.publish_internal(messages);
        }
    }
}

/// The set's options for `stream` on `shard`.
fn options(stream: &Stream, shard: &Shard, js: &JetStream) -> ConsumerSetOptions {
    let settings = js.settings();
    let account_limits = settings.account_limits(stream.account);
    let options = &shard.config().options;
    ConsumerSetOptions {
        domain: settings.domain.clone(),
        account: stream.account_name.clone(),
        ack_format: ack_format(
            options.feature_flags.get(ACK_FORMAT_V2_FLAG).copied(),
            &settings.domain,
            &stream.account_name,
        ),
        server_version: settings.version.clone(),
        limits: ConsumerLimits {
            server_max_ack_pending: 0,
            server_max_request_batch: 0,
            account_max_ack_pending: account_limits.map_or(-1, |limits| limits.max_ack_pending),
            account_max_consumers: account_limits.map_or(-1, |limits| limits.max_consumers),
            server_default_max_consumers: settings.default_max_consumers,
        },
        max_payload: i64::try_from(shard.config().options.max_payload).unwrap_or(i64::MAX),
        seed: rand::random(),
        ..ConsumerSetOptions::default()
    }
}

/// The feature flag that turns on the 11-token ack and flow control subjects (Go 2.14's
/// `FeatureFlagJsAckFormatV2`, off unless the config file's `feature_flags {}` sets it).
const ACK_FORMAT_V2_FLAG: &str = "js_ack_fc_v2";

/// The ack subject form deliveries carry: v2 (`$JS.ACK.<domain>.<account hash>.…`, the
/// domain `_` when there is none) when the flag is set, else v1. Both forms are accepted
/// either way, as in Go.
fn ack_format(flag: Option<bool>, domain: &str, account: &str) -> AckFormat {
    if flag != Some(true) {
        return AckFormat::V1;
    }
    AckFormat::V2 {
        domain: if domain.is_empty() { "_" } else { domain }.to_owned(),
        account_hash: natrix_jetstream::consumer::wire::account_hash(account),
    }
}

fn to_message(account: AccountId, outgoing: Outgoing) -> Message {
    let subject = Bytes::from(outgoing.subject);
    let reply = outgoing.reply.map(Bytes::from);
    let message = if outgoing.headers.is_empty() {
        Message::new(account, subject, reply, outgoing.payload)
    } else {
        Message::with_headers(
            account,
            subject,
            reply,
            &outgoing.headers,
            &outgoing.payload,
        )
    };
    match outgoing.shown_subject {
        Some(shown) => message.shown_as(Bytes::from(shown)),
        None => message,
    }
}

fn send_api_reply(stream: &Stream, shard: &Shard, request: &ApiRequest, payload: Bytes) {
    let Some(js) = super::runtime(shard) else {
        return;
    };
    let is_error = is_error_reply(&payload);
    let _ = stream;
    js.send_api_reply(shard, request, payload.to_vec(), is_error);
}

/// Whether an API reply carries an error: only an error object puts the key `"error"`
/// there (string values cannot hold an unescaped quote).
pub(super) fn is_error_reply(payload: &[u8]) -> bool {
    payload.windows(9).any(|window| window == b"\"error\":{")
}

/// Waits while the shard's outboxes hold messages for other shards (deliveries then wait
/// for the mesh instead of growing an outbox), unless the stream closes.
async fn wait_for_outboxes(shard: &Shard, stream: &Stream) {
    let mut pause = Duration::from_micros(20);
    while !shard.outboxes_empty() && !stream.consumers.closed.get() {
        compio::time::sleep(pause).await;
        shard.flush_outboxes();
        pause = (pause * 2).min(Duration::from_millis(1));
    }
}

/// Ticks the set when its `WakeAt` comes, until the stream closes.
async fn run_timer(stream: Rc<Stream>, shard: Rc<Shard>) {
    loop {
        let consumers = &stream.consumers;
        if consumers.closed.get() {
            return;
        }
        match consumers.wake_at.get() {
            None => consumers.timer_wake.notified().await,
            Some(at) => {
                let now = now_ns();
                if at > now {
                    let pause = Duration::from_nanos(u64::try_from(at - now).unwrap_or(0));
                    let _ = compio::time::timeout(pause, consumers.timer_wake.notified()).await;
                    continue;
                }
                consumers.wake_at.set(None);
                consumers.event(&stream, &shard, |set, cx, actions| set.tick(cx, actions));
            }
        }
    }
}

impl JetStream {
    /// Reports interest changes on push consumers' deliver subjects, for every stream of
    /// this shard, whenever the shard's interest changes. Runs for the shard's life.
    pub(super) async fn watch_deliver_interest(self: Rc<Self>, shard: Rc<Shard>) {
        loop {
            shard.interest_changed.notified().await;
            if shard.shutting_down.get() {
                return;
            }
            let streams: Vec<Rc<Stream>> = self
                .streams
                .borrow()
                .values()
                .filter(|stream| stream.consumers.watches())
                .cloned()
                .collect();
            for stream in streams {
                stream.consumers.check_deliver_interest(&stream, &shard);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn error_replies_are_told_from_successes() {
        assert!(super::is_error_reply(
            br#"{"type":"io.nats.jetstream.api.v1.consumer_info_response","error":{"code":404,"err_code":10014,"description":"consumer not found"}}"#
        ));
        assert!(!super::is_error_reply(
            br#"{"type":"io.nats.jetstream.api.v1.consumer_info_response","name":"C","config":{"metadata":{"k":"\"error\":{"}}}"#
        ));
    }
}
