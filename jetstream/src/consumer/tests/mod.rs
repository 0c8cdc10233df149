//! A runtime in miniature for the consumer tests: a `MemStore`, a clock, an interest table,
//! and the actions performed in order (loads and saves reported at once unless held back).

mod acks;
mod api;
mod model;
mod persist;
mod pull;
mod push;
mod retention;

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::pin::pin;
use std::task::{Context as TaskContext, Poll, Waker};

use bytes::Bytes;
use natrix_storage::{
    ConsumerState, MemStore, NewMessage, PurgeRequest, StoreConfig, StoredMessage, StreamStore,
};
use serde_json::Value;

use super::{Action, ConsumerSet, ConsumerSetOptions, Context, InterestQuery, Outgoing, Token};
use crate::api::{RetentionPolicy, StreamConfig};
use crate::subject::filter_matches;

/// Drives a memory-store future, which completes at its first poll.
pub(super) fn now<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut TaskContext::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("memory store futures complete at once"),
    }
}

/// Interest everywhere except on the subjects (patterns) listed as gone.
#[derive(Default)]
pub(super) struct Interest {
    pub gone: HashSet<String>,
}

impl InterestQuery for Interest {
    fn has_interest(&self, subject: &str) -> bool {
        !self
            .gone
            .iter()
            .any(|pattern| filter_matches(pattern.as_bytes(), subject.as_bytes()))
    }
}

pub(super) const START_NS: i64 = 1_714_557_600_000_000_000;
pub(super) const SECOND: i64 = 1_000_000_000;
pub(super) const MILLI: i64 = 1_000_000;

pub(super) struct Harness {
    pub store: MemStore,
    pub set: ConsumerSet,
    pub now: i64,
    pub interest: Interest,
    pub published: Vec<Outgoing>,
    pub wake: Option<i64>,
    pub hold_saves: bool,
    pub held_saves: Vec<(Token, String, ConsumerState)>,
    pub watched: BTreeMap<String, String>,
    pub removed_by_retention: Vec<u64>,
    inbox: u64,
}

pub(super) fn stream(retention: RetentionPolicy) -> StreamConfig {
    StreamConfig {
        name: "S".to_owned(),
        subjects: vec!["s.>".to_owned()],
        retention,
        num_replicas: 1,
        max_consumers: -1,
        max_msgs: -1,
        max_bytes: -1,
        max_msgs_per_subject: -1,
        ..StreamConfig::default()
    }
}

impl Harness {
    pub fn new() -> Harness {
        Harness::with(
            stream(RetentionPolicy::Limits),
            ConsumerSetOptions::default(),
        )
    }

    pub fn with(stream: StreamConfig, options: ConsumerSetOptions) -> Harness {
        Harness::over(MemStore::new(StoreConfig::default()), stream, options)
    }

    pub fn over(store: MemStore, stream: StreamConfig, options: ConsumerSetOptions) -> Harness {
        Harness {
            store,
            set: ConsumerSet::new(stream, options),
            now: START_NS,
            interest: Interest::default(),
            published: Vec::new(),
            wake: None,
            hold_saves: false,
            held_saves: Vec::new(),
            watched: BTreeMap::new(),
            removed_by_retention: Vec::new(),
            inbox: 0,
        }
    }

    /// Runs one event and performs its actions.
    pub fn event(
        &mut self,
        event: impl FnOnce(&mut ConsumerSet, &Context<'_, MemStore>, &mut Vec<Action>),
    ) {
        let mut actions = Vec::new();
        {
            let cx = Context {
                store: &self.store,
                interest: &self.interest,
                now_ns: self.now,
            };
            event(&mut self.set, &cx, &mut actions);
        }
        self.perform(actions);
    }

    fn perform(&mut self, actions: Vec<Action>) {
        let mut queue: std::collections::VecDeque<Action> = actions.into();
        while let Some(action) = queue.pop_front() {
            let mut more = Vec::new();
            {
                let cx = Context {
                    store: &self.store,
                    interest: &self.interest,
                    now_ns: self.now,
                };
                match action {
                    Action::Publish(outgoing) => self.published.push(outgoing),
                    Action::Load { token, request } => {
                        let result = now(request.run(&self.store));
                        self.set.loaded(&cx, token, result, &mut more);
                    }
                    Action::SaveState {
                        token,
                        consumer,
                        state,
                    } => {
                        if self.hold_saves {
                            self.held_saves.push((token, consumer, state));
                        } else {
                            let result = now(self.store.update_consumer_state(&consumer, &state));
                            self.set.saved(&cx, token, result, &mut more);
                        }
                    }
                    Action::RemoveState { consumer } => {
                        now(self.store.remove_consumer_state(&consumer)).expect("remove state");
                    }
                    Action::RemoveMessage { seq } => {
                        now(self.store.remove_msg(seq)).expect("remove");
                        self.removed_by_retention.push(seq);
                    }
                    Action::Compact { floor_seq } => {
                        now(self.store.compact(floor_seq)).expect("compact");
                    }
                    Action::PurgeAll => {
                        now(self.store.purge(&PurgeRequest::default())).expect("purge");
                    }
                    Action::WatchDeliverInterest { consumer, subject } => {
                        self.watched.insert(consumer, subject);
                    }
                    Action::UnwatchDeliverInterest { consumer, .. } => {
                        self.watched.remove(&consumer);
                    }
                    Action::WakeAt { at_ns } => self.wake = Some(at_ns),
                }
            }
            queue.extend(more);
        }
    }

    /// Completes the saves held back.
    pub fn release_saves(&mut self) {
        for (token, consumer, state) in std::mem::take(&mut self.held_saves) {
            let result = now(self.store.update_consumer_state(&consumer, &state));
            self.event(|set, cx, actions| set.saved(cx, token, result, actions));
        }
    }

    /// Stores a message and tells the set.
    pub fn publish(&mut self, subject: &str, payload: &str) -> u64 {
        self.publish_with(subject, Bytes::new(), payload)
    }

    pub fn publish_with(&mut self, subject: &str, headers: Bytes, payload: &str) -> u64 {
        let message = NewMessage {
            subject: subject.to_owned(),
            headers,
            payload: Bytes::copy_from_slice(payload.as_bytes()),
            timestamp_ns: self.now,
            ttl: None,
        };
        let seq = now(self.store.store_msg(message)).expect("stored");
        let subject = subject.to_owned();
        self.event(|set, cx, actions| set.stored(cx, seq, &subject, actions));
        seq
    }

    /// Moves the clock, ticking at every requested wake-up on the way.
    pub fn advance(&mut self, by_ns: i64) {
        let target = self.now + by_ns;
        while let Some(wake) = self.wake.filter(|wake| *wake <= target) {
            self.now = self.now.max(wake);
            self.wake = None;
            self.event(|set, cx, actions| set.tick(cx, actions));
        }
        self.now = target;
        self.event(|set, cx, actions| set.tick(cx, actions));
    }

    pub fn inbox(&mut self) -> String {
        self.inbox += 1;
        format!("_INBOX.{}", self.inbox)
    }

    /// The messages published to `subject` so far, and forgets them.
    pub fn take(&mut self, subject: &str) -> Vec<Outgoing> {
        let (taken, kept) = std::mem::take(&mut self.published)
            .into_iter()
            .partition(|outgoing| outgoing.subject == subject);
        self.published = kept;
        taken
    }

    /// The messages published on subjects starting with `prefix`, forgotten.
    pub fn take_prefix(&mut self, prefix: &str) -> Vec<Outgoing> {
        let (taken, kept) = std::mem::take(&mut self.published)
            .into_iter()
            .partition(|outgoing| outgoing.subject.starts_with(prefix));
        self.published = kept;
        taken
    }

    /// An API request on `subject` answered on a fresh inbox; returns the JSON reply.
    pub fn create(&mut self, subject: &str, body: &str) -> Value {
        let reply = self.inbox();
        let subject = subject.to_owned();
        let body = body.as_bytes().to_vec();
        self.event(|set, cx, actions| set.create(cx, &subject, &reply, &[], &body, actions));
        self.json_reply(&reply)
    }

    pub fn json_reply(&mut self, reply: &str) -> Value {
        let replies = self.take(reply);
        assert_eq!(replies.len(), 1, "one reply on {reply}: {replies:?}");
        serde_json::from_slice(&replies[0].payload).expect("reply is JSON")
    }

    /// Creates a durable pull consumer `C` with these extra config fields.
    pub fn pull_consumer(&mut self, extra: &str) -> Value {
        let body = format!(
            r#"{{"stream_name":"S","config":{{"durable_name":"C","ack_policy":"explicit"{extra}}}}}"#
        );
        let reply = self.create("$JS.API.CONSUMER.DURABLE.CREATE.S.C", &body);
        assert!(reply.get("error").is_none(), "{reply}");
        reply
    }

    /// Sends a pull request to `consumer` and returns its reply subject.
    pub fn pull(&mut self, consumer: &str, body: &str) -> String {
        let reply = self.inbox();
        let consumer = consumer.to_owned();
        let body = body.as_bytes().to_vec();
        self.event(|set, cx, actions| {
            assert!(set.next_request(cx, &consumer, &reply, None, &[], &body, actions));
        });
        reply
    }

    /// Acks with `body` on the ack subject `ack_subject`, optionally asking for a reply.
    pub fn ack(&mut self, ack_subject: &str, body: &str, reply: Option<&str>) {
        let ack_subject = ack_subject.to_owned();
        let body = body.as_bytes().to_vec();
        self.event(|set, cx, actions| {
            set.ack(cx, &ack_subject, reply, &body, actions);
        });
    }

    pub fn info(&mut self, consumer: &str) -> Value {
        let reply = self.inbox();
        let consumer = consumer.to_owned();
        self.event(|set, cx, actions| set.info(cx, &consumer, &reply, b"", actions));
        self.json_reply(&reply)
    }

    pub fn stored(&self, seq: u64) -> Option<StoredMessage> {
        now(self.store.load_msg(seq)).expect("load")
    }
}

/// The status line of a headers-only message (`404 No Messages`), or `""`.
pub(super) fn status_of(message: &Outgoing) -> String {
    let text = String::from_utf8_lossy(&message.headers);
    let first = text.lines().next().unwrap_or("");
    first
        .strip_prefix("NATS/1.0")
        .unwrap_or("")
        .trim()
        .to_owned()
}

/// A header's value.
pub(super) fn header(message: &Outgoing, key: &str) -> Option<String> {
    crate::headers::get_str(&message.headers, key).map(str::to_owned)
}

/// The payloads of deliveries (messages with an ack reply), as text.
pub(super) fn payloads(messages: &[Outgoing]) -> Vec<String> {
    messages
        .iter()
        .filter(|message| message.reply.is_some() && status_of(message).is_empty())
        .map(|message| String::from_utf8_lossy(&message.payload).into_owned())
        .collect()
}
