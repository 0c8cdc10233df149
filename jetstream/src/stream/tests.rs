use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use natrix_storage::{MemStore, StoreConfig, StreamStore};

use super::*;
use crate::api::{DiscardPolicy, StreamConfig};
use crate::config::{check_stream_config, store_config, ConfigLimits};
use crate::headers::HeaderBuilder;

/// Drives a memory-store future, which completes at its first poll.
fn now<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("memory store futures complete at once"),
    }
}

/// A runtime in miniature: performs the actions on a `MemStore` in order, and either reports
/// store outcomes at once or keeps them back to simulate stores in flight.
struct Harness {
    store: MemStore,
    machine: StreamMachine,
    replies: Vec<(String, String)>,
    unreported: Vec<(Token, Result<u64, natrix_storage::StoreError>)>,
    pipelined: bool,
    /// Every publish is republished here when set (the runtime's transform, simplified).
    republish_to: Option<String>,
    /// Republished messages: subject, headers, payload.
    republished: Vec<(String, String, Bytes)>,
}

fn config(adjust: impl FnOnce(&mut StreamConfig)) -> StreamConfig {
    let mut config = StreamConfig {
        name: "S".to_owned(),
        subjects: vec!["s.>".to_owned()],
        ..StreamConfig::default()
    };
    adjust(&mut config);
    check_stream_config(&config, false, &ConfigLimits::default(), &()).expect("valid")
}

impl Harness {
    fn new(config: StreamConfig) -> Harness {
        Harness::with_limits(config, MachineLimits::default())
    }

    fn with_limits(config: StreamConfig, limits: MachineLimits) -> Harness {
        let store = MemStore::new(store_config(&config));
        let machine = StreamMachine::new(config, "", limits, &store);
        Harness {
            store,
            machine,
            replies: Vec::new(),
            unreported: Vec::new(),
            pipelined: false,
            republish_to: None,
            republished: Vec::new(),
        }
    }

    fn publish(&mut self, subject: &str, headers: &[(&str, &str)], payload: &str) {
        self.publish_at(subject, headers, payload, 1_000_000_000);
    }

    fn publish_at(&mut self, subject: &str, headers: &[(&str, &str)], payload: &str, now_ns: i64) {
        let raw = if headers.is_empty() {
            Bytes::new()
        } else {
            let mut builder = HeaderBuilder::new(None, "");
            for (key, value) in headers {
                builder.append(key, value);
            }
            builder.finish()
        };
        let mut actions = Vec::new();
        self.machine.publish(
            &self.store,
            Publish {
                subject: subject.to_owned(),
                reply: Some(format!("reply.{}", self.replies.len())),
                headers: raw,
                payload: Bytes::from(payload.to_owned()),
                now_ns,
                republish_to: self.republish_to.clone(),
            },
            &mut actions,
        );
        self.perform(actions);
    }

    fn perform(&mut self, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Store { token, message } => {
                    let outcome = now(self.store.store_msg(message));
                    if self.pipelined {
                        self.unreported.push((token, outcome));
                    } else {
                        self.report(token, outcome);
                    }
                }
                Action::Purge { request } => {
                    now(self.store.purge(&request)).expect("purge");
                }
                Action::LoadLast { token, subject } => {
                    let message = now(self.store.load_last_msg(&subject)).expect("load");
                    let mut more = Vec::new();
                    self.machine
                        .loaded(&self.store, token, message.as_ref(), &mut more);
                    self.perform(more);
                }
                Action::Reply { subject, payload } => {
                    let text = String::from_utf8(payload.to_vec()).expect("utf8");
                    self.replies.push((subject, text));
                }
                Action::Republish {
                    subject,
                    headers,
                    payload,
                } => {
                    let text = String::from_utf8(headers.to_vec()).expect("utf8");
                    self.republished.push((subject, text, payload));
                }
            }
        }
    }

    fn report(&mut self, token: Token, outcome: Result<u64, natrix_storage::StoreError>) {
        let mut actions = Vec::new();
        self.machine
            .store_completed(&self.store, token, outcome.as_ref().copied(), &mut actions);
        self.perform(actions);
    }

    /// Reports every store kept back, in the given order of completion.
    fn complete_all(&mut self, reverse: bool) {
        let mut pending = std::mem::take(&mut self.unreported);
        if reverse {
            pending.reverse();
        }
        for (token, outcome) in pending {
            self.report(token, outcome);
        }
    }

    fn last_reply(&self) -> &str {
        self.replies
            .last()
            .map(|(_, text)| text.as_str())
            .unwrap_or("")
    }

    fn reply_texts(&self) -> Vec<&str> {
        self.replies.iter().map(|(_, text)| text.as_str()).collect()
    }
}

#[test]
fn publish_is_stored_and_acked_with_gos_pub_ack_json() {
    let mut harness = Harness::new(config(|_| {}));
    harness.publish("s.a", &[], "hello");
    assert_eq!(harness.reply_texts(), vec![r#"{"stream":"S","seq":1}"#]);
    assert_eq!(harness.store.state().msgs, 1);
    let domain_store = MemStore::new(StoreConfig::default());
    let machine = StreamMachine::new(
        config(|_| {}),
        "hub",
        MachineLimits::default(),
        &domain_store,
    );
    assert_eq!(
        &machine.pub_ack(7, None, false)[..],
        br#"{"stream":"S","domain":"hub","seq":7}"#
    );
}

#[test]
fn publish_without_reply_or_with_no_ack_is_stored_silently() {
    let mut harness = Harness::new(config(|c| c.no_ack = true));
    harness.publish("s.a", &[], "x");
    assert!(harness.replies.is_empty());
    assert_eq!(harness.store.state().msgs, 1);
}

#[test]
fn duplicate_msg_id_within_the_window_is_acked_as_duplicate_and_not_stored() {
    let mut harness = Harness::new(config(|_| {}));
    harness.publish("s.a", &[("Nats-Msg-Id", "m1")], "x");
    harness.publish("s.a", &[("Nats-Msg-Id", "m1")], "x");
    assert_eq!(
        harness.last_reply(),
        r#"{"stream":"S","seq":1,"duplicate": true}"#
    );
    assert_eq!(harness.store.state().msgs, 1);
    // Past the two-minute window the id is forgotten and the message is stored again.
    harness.machine.tick(1_000_000_000 + 121_000_000_000);
    assert_eq!(harness.machine.dedupe_len(), 0);
    harness.publish_at("s.a", &[("Nats-Msg-Id", "m1")], "x", 122_000_000_000);
    assert_eq!(harness.last_reply(), r#"{"stream":"S","seq":2}"#);
}

#[test]
fn duplicate_of_an_in_flight_message_is_acked_once_it_is_stored() {
    let mut harness = Harness::new(config(|_| {}));
    harness.pipelined = true;
    harness.publish("s.a", &[("Nats-Msg-Id", "m1")], "x");
    harness.publish("s.a", &[("Nats-Msg-Id", "m1")], "x");
    assert!(harness.replies.is_empty());
    harness.complete_all(false);
    assert_eq!(
        harness.reply_texts(),
        vec![
            r#"{"stream":"S","seq":1}"#,
            r#"{"stream":"S","seq":1,"duplicate": true}"#
        ]
    );
}

#[test]
fn expected_last_sequence_counts_stores_in_flight() {
    let mut harness = Harness::new(config(|_| {}));
    harness.pipelined = true;
    for _ in 0..3 {
        harness.publish("s.a", &[], "x");
    }
    harness.publish("s.a", &[("Nats-Expected-Last-Sequence", "2")], "x");
    assert_eq!(
        harness.last_reply(),
        r#"{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 3"},"stream":"S","seq":0}"#
    );
    harness.publish("s.a", &[("Nats-Expected-Last-Sequence", "3")], "x");
    harness.complete_all(true);
    assert_eq!(harness.store.state().last_seq, 4);
    assert!(harness.reply_texts().contains(&r#"{"stream":"S","seq":4}"#));
}

#[test]
fn expected_last_subject_sequence_uses_the_subject_or_its_override() {
    let mut harness = Harness::new(config(|_| {}));
    harness.publish("s.a", &[], "1");
    harness.publish("s.b", &[], "2");
    harness.pipelined = true;
    harness.publish("s.a", &[("Nats-Expected-Last-Subject-Sequence", "1")], "3");
    assert_eq!(harness.machine.in_flight(), 1);
    harness.publish("s.a", &[("Nats-Expected-Last-Subject-Sequence", "1")], "4");
    assert!(harness.last_reply().contains("wrong last sequence: 3"));
    harness.publish(
        "s.c",
        &[
            ("Nats-Expected-Last-Subject-Sequence", "2"),
            ("Nats-Expected-Last-Subject-Sequence-Subject", "s.b"),
        ],
        "5",
    );
    assert_eq!(harness.machine.in_flight(), 2);
    harness.publish(
        "s.c",
        &[("Nats-Expected-Last-Subject-Sequence-Subject", "s.b")],
        "6",
    );
    assert!(harness.last_reply().contains("10193"));
    harness.publish(
        "s.new",
        &[("Nats-Expected-Last-Subject-Sequence", "0")],
        "7",
    );
    assert_eq!(harness.machine.in_flight(), 3);
}

#[test]
fn expected_stream_and_last_msg_id_are_checked() {
    let mut harness = Harness::new(config(|_| {}));
    harness.publish("s.a", &[("Nats-Expected-Stream", "T")], "x");
    assert!(harness.last_reply().contains(r#""err_code":10060"#));
    harness.publish("s.a", &[("Nats-Msg-Id", "one")], "x");
    harness.publish("s.a", &[("Nats-Expected-Last-Msg-Id", "zero")], "x");
    assert!(harness.last_reply().contains("wrong last msg ID: one"));
    harness.publish("s.a", &[("Nats-Expected-Last-Msg-Id", "one")], "x");
    assert_eq!(harness.last_reply(), r#"{"stream":"S","seq":2}"#);
}

#[test]
fn rollup_purges_older_messages_of_the_subject_or_all() {
    let mut harness = Harness::new(config(|c| c.allow_rollup_hdrs = true));
    for subject in ["s.a", "s.a", "s.b"] {
        harness.publish(subject, &[], "x");
    }
    harness.publish("s.a", &[("Nats-Rollup", "sub")], "r");
    assert_eq!(harness.store.subjects_totals("s.a").get("s.a"), Some(&1));
    assert_eq!(harness.store.state().msgs, 2);
    harness.publish("s.b", &[("Nats-Rollup", "ALL")], "r");
    assert_eq!(harness.store.state().msgs, 1);
    harness.publish("s.b", &[("Nats-Rollup", "some")], "r");
    assert!(harness
        .last_reply()
        .contains(r#"rollup value invalid: \"some\""#));
    let mut denied = Harness::new(config(|_| {}));
    denied.publish("s.a", &[("Nats-Rollup", "sub")], "r");
    assert!(denied.last_reply().contains("rollup not permitted"));
}

#[test]
fn message_ttl_needs_allow_msg_ttl_and_a_valid_value() {
    let mut denied = Harness::new(config(|_| {}));
    denied.publish("s.a", &[("Nats-TTL", "5s")], "x");
    assert!(denied.last_reply().contains("per-message TTL is disabled"));
    let mut harness = Harness::new(config(|c| c.allow_msg_ttl = true));
    harness.pipelined = true;
    harness.publish("s.a", &[("Nats-TTL", "90s")], "x");
    harness.publish("s.a", &[("Nats-TTL", "500ms")], "x");
    assert!(harness.last_reply().contains("invalid per-message TTL"));
    harness.complete_all(false);
    let stored = now(harness.store.load_msg(1)).expect("load").expect("kept");
    assert_eq!(stored.ttl_ns, 90_000_000_000);
}

#[test]
fn subject_delete_marker_ttl_raises_shorter_message_ttls() {
    let mut harness = Harness::new(config(|c| c.subject_delete_marker_ttl = 10_000_000_000));
    harness.publish("s.a", &[("Nats-TTL", "2")], "x");
    let stored = now(harness.store.load_msg(1)).expect("load").expect("kept");
    assert_eq!(stored.ttl_ns, 10_000_000_000);
    assert_eq!(
        crate::headers::get(&stored.headers, "Nats-TTL"),
        Some(&b"10"[..])
    );
}

#[test]
fn counters_add_increments_across_pipelined_publishes() {
    let mut harness = Harness::new(config(|c| c.allow_msg_counter = true));
    harness.pipelined = true;
    harness.publish("s.c", &[("Nats-Incr", "5")], "");
    harness.publish("s.c", &[("Nats-Incr", "-2")], "");
    harness.publish("s.d", &[("Nats-Incr", "1")], "");
    harness.complete_all(true);
    let texts = harness.reply_texts();
    assert!(texts.contains(&r#"{"stream":"S","seq":1,"val":"5"}"#));
    assert!(texts.contains(&r#"{"stream":"S","seq":2,"val":"3"}"#));
    assert!(texts.contains(&r#"{"stream":"S","seq":3,"val":"1"}"#));
    let last = now(harness.store.load_last_msg("s.c"))
        .expect("load")
        .expect("kept");
    assert_eq!(&last.payload[..], br#"{"val":"3"}"#);
    harness.publish("s.c", &[], "");
    assert!(harness
        .last_reply()
        .contains("message counter increment is missing"));
    harness.publish("s.c", &[("Nats-Incr", "1")], "payload");
    assert!(harness.last_reply().contains("message counter has payload"));
    harness.publish("s.c", &[("Nats-Incr", "x")], "");
    assert!(harness
        .last_reply()
        .contains("message counter increment is invalid"));
}

#[test]
fn a_counter_not_in_memory_is_loaded_from_the_store_first() {
    let counter = config(|c| c.allow_msg_counter = true);
    let mut harness = Harness::new(counter.clone());
    harness.publish("s.c", &[("Nats-Incr", "40")], "");
    // A new machine (as after a restart) knows nothing of the counter: it loads it.
    harness.machine = StreamMachine::new(counter, "", MachineLimits::default(), &harness.store);
    harness.publish("s.c", &[("Nats-Incr", "2")], "");
    assert_eq!(harness.last_reply(), r#"{"stream":"S","seq":2,"val":"42"}"#);
}

#[test]
fn sealed_streams_size_limits_and_batches_are_refused_with_gos_errors() {
    let mut sealed = Harness::new(config(|c| c.sealed = true));
    sealed.publish("s.a", &[], "x");
    assert!(sealed.last_reply().contains(r#""err_code":10109"#));
    let mut small = Harness::new(config(|c| c.max_msg_size = 4));
    small.publish("s.a", &[], "12345");
    assert!(small
        .last_reply()
        .contains("message size exceeds maximum allowed"));
    small.publish("s.a", &[], "1234");
    assert_eq!(small.last_reply(), r#"{"stream":"S","seq":1}"#);
    let mut batch = Harness::new(config(|_| {}));
    batch.publish(
        "s.a",
        &[("Nats-Batch-Id", "b1"), ("Nats-Batch-Sequence", "1")],
        "x",
    );
    assert!(batch.last_reply().contains("atomic publish is disabled"));
}

#[test]
fn discard_new_limits_answer_with_the_store_error_and_correct_later_sequences() {
    let mut harness = Harness::new(config(|c| {
        c.discard = DiscardPolicy::New;
        c.max_msgs = 1;
    }));
    harness.pipelined = true;
    harness.publish("s.a", &[], "1");
    harness.publish("s.a", &[], "2");
    // Depends on sequences while a store that may fail is in flight: held, not guessed.
    harness.publish("s.a", &[("Nats-Expected-Last-Sequence", "1")], "3");
    assert_eq!(harness.machine.held(), 1);
    harness.complete_all(false);
    let texts = harness.reply_texts();
    assert_eq!(texts[0], r#"{"stream":"S","seq":1}"#);
    assert!(texts[1].contains(r#""err_code":10077,"description":"maximum messages exceeded""#));
    // The held publish was decided on the corrected last sequence (1) and reached the store,
    // which refused it for the same limit.
    assert_eq!(harness.machine.held(), 0);
    harness.complete_all(false);
    assert!(harness.last_reply().contains("maximum messages exceeded"));
}

#[test]
fn held_publishes_are_bounded_and_answered_429() {
    let limits = MachineLimits {
        max_in_flight: 1,
        max_held: 1,
        ..MachineLimits::default()
    };
    let mut harness = Harness::with_limits(config(|_| {}), limits);
    harness.pipelined = true;
    harness.publish("s.a", &[], "1");
    harness.publish("s.a", &[], "2");
    assert!(harness.machine.is_busy());
    harness.publish("s.a", &[], "3");
    assert!(harness
        .last_reply()
        .contains(r#""code":429,"err_code":10167"#));
    harness.complete_all(false);
    harness.complete_all(false);
    assert_eq!(harness.store.state().msgs, 2);
}

#[test]
fn dedupe_survives_a_restart_through_recovered_messages() {
    let mut harness = Harness::new(config(|_| {}));
    harness.publish("s.a", &[("Nats-Msg-Id", "m1")], "x");
    let mut machine =
        StreamMachine::new(config(|_| {}), "", MachineLimits::default(), &harness.store);
    let stored = now(harness.store.load_msg(1)).expect("load").expect("kept");
    machine.recover_message(&stored.headers, stored.seq, stored.timestamp_ns);
    harness.machine = machine;
    harness.publish("s.a", &[("Nats-Msg-Id", "m1")], "x");
    assert_eq!(
        harness.last_reply(),
        r#"{"stream":"S","seq":1,"duplicate": true}"#
    );
}

#[test]
fn file_store_pipelined_publishes_get_the_predicted_sequences() {
    let dir = tempfile::tempdir().expect("tempdir");
    let runtime = match compio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("notice: no io_uring runtime ({error}); skipping the file store test");
            return;
        }
    };
    runtime.block_on(async {
        let options = natrix_storage::FileStoreOptions::default();
        let store = natrix_storage::FileStore::open(dir.path(), StoreConfig::default(), options)
            .await
            .expect("open");
        let mut machine = StreamMachine::new(config(|_| {}), "", MachineLimits::default(), &store);
        let mut actions = Vec::new();
        for index in 0..20 {
            let expected = if index == 10 {
                "Nats-Expected-Last-Sequence"
            } else {
                "X-Other"
            };
            let mut builder = HeaderBuilder::new(None, "");
            builder.append(expected, "10");
            machine.publish(
                &store,
                Publish {
                    subject: format!("s.{}", index % 3),
                    reply: Some(format!("r.{index}")),
                    headers: builder.finish(),
                    payload: Bytes::from_static(b"payload"),
                    now_ns: 1_000 + index,
                    republish_to: None,
                },
                &mut actions,
            );
        }
        // Every store is started in order and awaited together (one group commit).
        let mut stores = Vec::new();
        for action in actions.drain(..) {
            if let Action::Store { token, message } = action {
                stores.push((token, store.store_msg(message)));
            }
        }
        let mut outcomes = Vec::new();
        for (token, future) in stores {
            outcomes.push((token, future.await));
        }
        for (token, outcome) in outcomes.iter().rev() {
            machine.store_completed(&store, *token, outcome.as_ref().copied(), &mut actions);
        }
        let acks: Vec<String> = actions
            .iter()
            .filter_map(|action| match action {
                Action::Reply { payload, .. } => {
                    Some(String::from_utf8_lossy(payload).into_owned())
                }
                _ => None,
            })
            .collect();
        assert_eq!(acks.len(), 20);
        assert!(acks.contains(&r#"{"stream":"S","seq":11}"#.to_owned()));
        assert_eq!(store.state().last_seq, 20);
        store.close().await.expect("close");
    });
}

#[test]
fn stored_messages_are_republished_with_the_go_servers_headers() {
    let mut harness = Harness::new(config(|config| {
        config.republish = Some(crate::api::RePublish {
            src: "s.>".to_owned(),
            dest: "r.>".to_owned(),
            headers_only: false,
        });
    }));
    harness.republish_to = Some("r.s.a".to_owned());
    harness.publish_at("s.a", &[], "one", 1_700_000_000_000_000_000);
    harness.publish_at("s.a", &[("X-Trace", "7")], "two", 1_700_000_000_500_000_000);
    assert_eq!(harness.republished.len(), 2);
    let (subject, headers, payload) = &harness.republished[0];
    assert_eq!(subject, "r.s.a");
    assert_eq!(
        headers,
        "NATS/1.0\r\nNats-Stream: S\r\nNats-Subject: s.a\r\nNats-Sequence: 1\r\n\
         Nats-Time-Stamp: 2023-11-14T22:13:20Z\r\nNats-Last-Sequence: 0\r\n\r\n"
    );
    assert_eq!(&payload[..], b"one");
    let (_, headers, _) = &harness.republished[1];
    assert_eq!(
        headers,
        "NATS/1.0\r\nX-Trace: 7\r\nNats-Stream: S\r\nNats-Subject: s.a\r\n\
         Nats-Sequence: 2\r\nNats-Time-Stamp: 2023-11-14T22:13:20.5Z\r\n\
         Nats-Last-Sequence: 1\r\n\r\n"
    );
    // The PubAck follows the republish.
    assert_eq!(harness.replies.len(), 2);
}

#[test]
fn headers_only_republish_sends_the_size_instead_of_the_payload() {
    let mut harness = Harness::new(config(|config| {
        config.republish = Some(crate::api::RePublish {
            src: ">".to_owned(),
            dest: "r.>".to_owned(),
            headers_only: true,
        });
    }));
    harness.republish_to = Some("r.s.b".to_owned());
    harness.publish("s.b", &[], "12345");
    let (_, headers, payload) = &harness.republished[0];
    assert!(
        headers.ends_with("Nats-Last-Sequence: 0\r\nNats-Msg-Size: 5\r\n\r\n"),
        "{headers}"
    );
    assert!(payload.is_empty());
    // A publish that fails is not republished.
    harness.republish_to = Some("r.bad".to_owned());
    harness.publish("s.b", &[("Nats-Expected-Stream", "OTHER")], "x");
    assert_eq!(harness.republished.len(), 1);
}

fn atomic() -> StreamConfig {
    config(|config| config.allow_atomic = true)
}

fn batch_headers<'a>(
    id: &'a str,
    seq: &'a str,
    commit: Option<&'a str>,
) -> Vec<(&'a str, &'a str)> {
    let mut headers = vec![("Nats-Batch-Id", id), ("Nats-Batch-Sequence", seq)];
    if let Some(commit) = commit {
        headers.push(("Nats-Batch-Commit", commit));
    }
    headers
}

#[test]
fn an_atomic_batch_is_staged_then_stored_whole_at_its_commit() {
    let mut harness = Harness::new(atomic());
    harness.publish("s.a", &batch_headers("b1", "1", None), "one");
    harness.publish("s.b", &batch_headers("b1", "2", None), "two");
    assert_eq!(harness.store.state().msgs, 0, "staged, not stored");
    assert_eq!(
        harness.replies[0].1, "",
        "a staged message is answered empty"
    );
    harness.publish("s.a", &batch_headers("b1", "3", Some("1")), "three");
    assert_eq!(
        harness.replies[2].1,
        r#"{"stream":"S","seq":3,"batch":"b1","count":3}"#
    );
    assert_eq!(harness.store.state().msgs, 3);
    // The id is free again; a stray message of the finished batch is incomplete.
    harness.publish("s.a", &batch_headers("b1", "4", None), "late");
    assert!(
        harness.replies[3].1.contains("10176"),
        "{}",
        harness.replies[3].1
    );
}

#[test]
fn an_end_of_batch_commit_is_not_stored_and_marks_the_last_message() {
    let mut harness = Harness::new(atomic());
    harness.publish("s.a", &batch_headers("e", "1", None), "one");
    harness.publish("s.a", &batch_headers("e", "2", None), "two");
    harness.publish("s.a", &batch_headers("e", "3", Some("eob")), "");
    assert_eq!(
        harness.replies[2].1,
        r#"{"stream":"S","seq":2,"batch":"e","count":2}"#
    );
    let last = now(harness.store.load_msg(2)).unwrap().unwrap();
    assert_eq!(
        crate::headers::get_str(&last.headers, "Nats-Batch-Commit"),
        Some("1")
    );
    assert_eq!(harness.store.state().msgs, 2);
}

#[test]
fn a_failing_message_leaves_nothing_of_its_batch() {
    let mut harness = Harness::new(atomic());
    let mut first = batch_headers("f", "1", None);
    first.push(("Nats-Msg-Id", "id-1"));
    harness.publish("s.a", &first, "one");
    let mut second = batch_headers("f", "2", Some("1"));
    second.push(("Nats-Expected-Stream", "OTHER"));
    harness.publish("s.a", &second, "two");
    assert!(
        harness.replies[1].1.contains("10060"),
        "{}",
        harness.replies[1].1
    );
    assert_eq!(harness.store.state().msgs, 0);
    // The machine forgot the batch's sequence and message id.
    harness.publish("s.a", &[("Nats-Msg-Id", "id-1")], "again");
    assert_eq!(harness.replies[2].1, r#"{"stream":"S","seq":1}"#);
}

#[test]
fn batch_checks_see_the_messages_before_them() {
    let mut harness = Harness::new(atomic());
    let mut first = batch_headers("c", "1", None);
    first.push(("Nats-Expected-Last-Sequence", "0"));
    harness.publish("s.a", &first, "one");
    let mut second = batch_headers("c", "2", Some("1"));
    second.push(("Nats-Expected-Last-Subject-Sequence", "0"));
    harness.publish("s.a", &second, "two");
    assert!(
        harness.replies[1].1.contains("10164"),
        "{}",
        harness.replies[1].1
    );
    // Duplicate ids inside a batch, and gaps, are refused.
    let mut one = batch_headers("d", "1", None);
    one.push(("Nats-Msg-Id", "same"));
    harness.publish("s.a", &one, "x");
    let mut two = batch_headers("d", "2", Some("1"));
    two.push(("Nats-Msg-Id", "same"));
    harness.publish("s.a", &two, "y");
    assert!(
        harness.replies[3].1.contains("10201"),
        "{}",
        harness.replies[3].1
    );
    harness.publish("s.a", &batch_headers("g", "1", None), "x");
    harness.publish("s.a", &batch_headers("g", "3", Some("1")), "y");
    assert!(
        harness.replies[5].1.contains("10176"),
        "{}",
        harness.replies[5].1
    );
    assert_eq!(harness.store.state().msgs, 0);
}

#[test]
fn batches_are_refused_where_they_are_not_enabled_or_malformed() {
    let mut harness = Harness::new(config(|_| {}));
    harness.publish("s.a", &batch_headers("x", "1", Some("1")), "one");
    assert!(
        harness.replies[0].1.contains("10174"),
        "{}",
        harness.replies[0].1
    );
    let mut harness = Harness::new(atomic());
    harness.publish("s.a", &[("Nats-Batch-Id", "x")], "no sequence");
    assert!(
        harness.replies[0].1.contains("10175"),
        "{}",
        harness.replies[0].1
    );
    harness.publish("s.a", &batch_headers("x", "1", Some("yes")), "bad commit");
    assert!(
        harness.replies[1].1.contains("10200"),
        "{}",
        harness.replies[1].1
    );
    let long = "i".repeat(65);
    harness.publish("s.a", &batch_headers(&long, "1", None), "long id");
    assert!(
        harness.replies[2].1.contains("10179"),
        "{}",
        harness.replies[2].1
    );
    harness.publish("s.a", &batch_headers("big", "1001", Some("1")), "too far");
    assert!(
        harness.replies[3].1.contains("10199"),
        "{}",
        harness.replies[3].1
    );
    assert_eq!(harness.store.state().msgs, 0);
}

#[test]
fn a_commit_waits_for_the_stores_in_flight() {
    let mut harness = Harness::new(atomic());
    harness.pipelined = true;
    harness.publish("s.x", &[], "plain");
    harness.publish("s.a", &batch_headers("w", "1", None), "one");
    harness.publish("s.a", &batch_headers("w", "2", Some("1")), "two");
    assert_eq!(harness.machine.held(), 1, "the commit waits");
    harness.complete_all(false);
    harness.complete_all(false);
    let acks: Vec<&str> = harness
        .replies
        .iter()
        .map(|(_, text)| text.as_str())
        .collect();
    assert!(
        acks.contains(&r#"{"stream":"S","seq":3,"batch":"w","count":2}"#),
        "{acks:?}"
    );
    assert_eq!(harness.store.state().msgs, 3);
}

#[test]
fn idle_batches_are_abandoned() {
    let mut harness = Harness::new(atomic());
    harness.publish_at("s.a", &batch_headers("t", "1", None), "one", 1_000_000_000);
    harness
        .machine
        .tick(1_000_000_000 + super::batch::BATCH_TIMEOUT_NS + 1);
    harness.publish_at(
        "s.a",
        &batch_headers("t", "2", Some("1")),
        "two",
        20_000_000_000,
    );
    assert!(
        harness.replies[1].1.contains("10176"),
        "{}",
        harness.replies[1].1
    );
}

#[test]
fn interleaved_batches_commit_one_after_the_other() {
    let mut harness = Harness::new(atomic());
    harness.pipelined = true;
    for seq in 1..=3 {
        let commit = (seq == 3).then_some("1");
        let seq_text = seq.to_string();
        harness.publish("s.a", &batch_headers("p", &seq_text, commit), "p");
        harness.publish("s.b", &batch_headers("q", &seq_text, commit), "q");
    }
    // q's commit waits for p's stores; a new batch's first message waits behind it.
    harness.publish("s.c", &batch_headers("r", "1", None), "r");
    for _ in 0..4 {
        harness.complete_all(false);
    }
    let acks: Vec<&str> = harness
        .replies
        .iter()
        .map(|(_, text)| text.as_str())
        .collect();
    assert!(
        acks.contains(&r#"{"stream":"S","seq":3,"batch":"p","count":3}"#),
        "{acks:?}"
    );
    assert!(
        acks.contains(&r#"{"stream":"S","seq":6,"batch":"q","count":3}"#),
        "{acks:?}"
    );
    assert_eq!(
        acks.iter().filter(|ack| ack.is_empty()).count(),
        5,
        "{acks:?}"
    );
    assert_eq!(harness.machine.held(), 0);
}

/// Clients that each send the next batch message only once the previous one was answered,
/// with stores completing one at a time: every message is answered.
#[test]
fn concurrent_batch_clients_always_get_their_answers() {
    let store = MemStore::new(store_config(&atomic()));
    let mut machine = StreamMachine::new(atomic(), "", MachineLimits::default(), &store);
    const CLIENTS: usize = 3;
    const SIZE: usize = 4;
    const BATCHES: usize = 5;
    // (batch, seq) each client sends next; None when waiting for an answer.
    let mut next: Vec<Option<(usize, usize)>> = vec![Some((0, 1)); CLIENTS];
    let mut waiting: Vec<Option<String>> = vec![None; CLIENTS];
    let mut unreported = std::collections::VecDeque::new();
    let mut answered = 0;
    for _round in 0..10_000 {
        let mut actions = Vec::new();
        for client in 0..CLIENTS {
            if let Some((batch, seq)) = next[client].take() {
                let reply = format!("c{client}.{batch}.{seq}");
                let mut builder = HeaderBuilder::new(None, "");
                builder.append("Nats-Batch-Id", &format!("c{client}-{batch}"));
                builder.append("Nats-Batch-Sequence", &seq.to_string());
                if seq == SIZE {
                    builder.append("Nats-Batch-Commit", "1");
                }
                waiting[client] = Some(reply.clone());
                machine.publish(
                    &store,
                    Publish {
                        subject: format!("s.{client}"),
                        reply: Some(reply),
                        headers: builder.finish(),
                        payload: Bytes::from_static(b"m"),
                        now_ns: 1_000,
                        republish_to: None,
                    },
                    &mut actions,
                );
            }
        }
        if let Some((token, outcome)) = unreported.pop_front() {
            let outcome: Result<u64, natrix_storage::StoreError> = outcome;
            machine.store_completed(&store, token, outcome.as_ref().copied(), &mut actions);
        }
        for action in actions {
            match action {
                Action::Store { token, message } => {
                    unreported.push_back((token, now(store.store_msg(message))));
                }
                Action::Reply { subject, payload } => {
                    let client: usize = subject[1..2].parse().unwrap();
                    assert_eq!(waiting[client].as_deref(), Some(subject.as_str()));
                    let text = String::from_utf8_lossy(&payload).into_owned();
                    assert!(!text.contains("error"), "{subject}: {text}");
                    waiting[client] = None;
                    answered += 1;
                    let parts: Vec<usize> = subject[3..]
                        .split('.')
                        .map(|p| p.parse().unwrap())
                        .collect();
                    let (batch, seq) = (parts[0], parts[1]);
                    next[client] = if seq < SIZE {
                        Some((batch, seq + 1))
                    } else if batch + 1 < BATCHES {
                        Some((batch + 1, 1))
                    } else {
                        None
                    };
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        if answered == CLIENTS * SIZE * BATCHES {
            break;
        }
    }
    assert_eq!(
        answered,
        CLIENTS * SIZE * BATCHES,
        "waiting: {waiting:?}, held {}",
        machine.held()
    );
    assert_eq!(store.state().msgs, (CLIENTS * SIZE * BATCHES) as u64);
}
