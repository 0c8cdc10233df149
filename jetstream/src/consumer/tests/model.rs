//! Property tests: an explicit-ack pull consumer driven by random publishes, pulls, acks,
//! NAKs, TERMs, progress and time, checked after every step against a naive model (a map
//! of what was delivered how often and what was acknowledged); and arbitrary bytes as ack
//! subjects, ack bodies and pull requests, which must never panic.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::*;
use crate::consumer::wire::parse_ack_subject;

#[derive(Debug, Clone)]
enum Op {
    Publish,
    Pull(u8),
    Ack(u8),
    Nak(u8),
    Term(u8),
    Progress(u8),
    Advance(u16),
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Publish),
        3 => (1u8..5).prop_map(Op::Pull),
        3 => any::<u8>().prop_map(Op::Ack),
        1 => any::<u8>().prop_map(Op::Nak),
        1 => any::<u8>().prop_map(Op::Term),
        1 => any::<u8>().prop_map(Op::Progress),
        2 => (1u16..2500).prop_map(Op::Advance),
        1 => Just(Op::Restart),
    ]
}

/// What the naive model knows.
#[derive(Default)]
struct Model {
    published: u64,
    /// Deliveries of each stream sequence.
    deliveries: BTreeMap<u64, u64>,
    /// The ack subject of each sequence's latest delivery.
    ack_subjects: BTreeMap<u64, String>,
    /// Acknowledged or terminated.
    done: BTreeSet<u64>,
    /// Highest consumer sequence seen.
    consumer_seq: u64,
}

impl Model {
    fn pending(&self) -> Vec<u64> {
        self.deliveries
            .keys()
            .filter(|seq| !self.done.contains(seq))
            .copied()
            .collect()
    }

    fn pick(&self, index: u8) -> Option<u64> {
        let pending = self.pending();
        (!pending.is_empty()).then(|| pending[usize::from(index) % pending.len()])
    }

    /// Checks one delivery against the model and records it.
    fn delivered(&mut self, message: &Outgoing) {
        let ack = message.reply.clone().expect("ack subject");
        let info = parse_ack_subject(&ack).expect("ack subject parses").info;
        let seq = info.stream_seq;
        assert!(
            !self.done.contains(&seq),
            "{seq} acknowledged, yet redelivered"
        );
        if !self.deliveries.contains_key(&seq) {
            let newest = self.deliveries.keys().next_back().copied().unwrap_or(0);
            assert!(seq > newest, "new message {seq} out of order");
        }
        let count = self.deliveries.entry(seq).or_insert(0);
        *count += 1;
        assert_eq!(info.delivery_count, *count, "delivery count of {seq}");
        assert!(
            info.consumer_seq > self.consumer_seq,
            "consumer sequences grow"
        );
        self.consumer_seq = info.consumer_seq;
        self.ack_subjects.insert(seq, ack);
    }
}

fn check(h: &mut Harness, model: &Model) {
    let info = h.info("C");
    let pending = model.pending();
    assert_eq!(info["num_ack_pending"], pending.len(), "{info}");
    let delivered_once: u64 = model.deliveries.len() as u64;
    assert_eq!(
        info["num_pending"],
        model.published - delivered_once,
        "{info}"
    );
    let redelivered = pending
        .iter()
        .filter(|seq| model.deliveries[seq] > 1)
        .count();
    assert!(
        info["num_redelivered"].as_u64().expect("u64") as usize >= redelivered,
        "{info}"
    );
    let floor = info["ack_floor"]["stream_seq"].as_u64().expect("u64");
    match pending.first() {
        Some(lowest) => {
            assert!(
                floor < *lowest,
                "floor {floor} at or above pending {lowest}"
            );
            // Everything at or below the floor is done or was never delivered.
            assert!(model
                .deliveries
                .keys()
                .filter(|seq| **seq <= floor)
                .all(|seq| model.done.contains(seq)));
        }
        None => {
            let delivered = info["delivered"]["stream_seq"].as_u64().expect("u64");
            assert_eq!(
                floor, delivered,
                "nothing pending: the floor is the last delivery"
            );
        }
    }
}

/// The deliveries to any of `inboxes`, in the order they were published.
fn collect(h: &mut Harness, inboxes: &[String], model: &mut Model) {
    let (taken, kept): (Vec<Outgoing>, Vec<Outgoing>) = std::mem::take(&mut h.published)
        .into_iter()
        .partition(|message| inboxes.contains(&message.subject));
    h.published = kept;
    for message in taken {
        if status_of(&message).is_empty() {
            model.delivered(&message);
        }
    }
}

/// A clean restart: the set saves what it has (a kill -9 would lose up to one flush interval
/// of delivery state, and redeliver those messages, as Go's consumer store would).
fn restart(mut h: Harness) -> Harness {
    h.event(|set, cx, actions| set.shutdown(cx, actions));
    let stream = h.set.stream_config().clone();
    let mut restarted = Harness::over(h.store, stream, ConsumerSetOptions::default());
    restarted.now = h.now;
    for name in restarted.store.consumer_names() {
        let record = restarted.store.consumer_state(&name).expect("record");
        restarted.event(|set, cx, actions| {
            set.recover(cx, &name, &record, actions).expect("recovers");
        });
    }
    restarted
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn consumer_state_agrees_with_a_naive_model(ops in proptest::collection::vec(op(), 1..60)) {
        run(ops);
    }

    #[test]
    fn pull_requests_with_any_numbers_never_panic(
        numbers in proptest::collection::vec(any::<i64>(), 7),
        no_wait in any::<bool>(),
        advance in 0i64..(100 * SECOND),
    ) {
        let mut h = Harness::new();
        h.pull_consumer(r#","max_bytes":0,"ack_wait":1000000000"#);
        h.publish("s.a", "m");
        let body = format!(
            r#"{{"batch":{},"expires":{},"max_bytes":{},"idle_heartbeat":{},"no_wait":{no_wait}}}"#,
            numbers[0], numbers[1], numbers[2], numbers[3]
        );
        let inbox = h.pull("C", &body);
        h.advance(advance);
        for message in h.take(&inbox) {
            if let Some(ack) = message.reply.clone().filter(|_| status_of(&message).is_empty()) {
                h.ack(&ack, &format!(r#"-NAK {{"delay":{}}}"#, numbers[4]), None);
                h.ack(&ack, &format!("+NXT {}", numbers[5]), Some("_INBOX.n"));
            }
        }
        h.advance(numbers[6].rem_euclid(100 * SECOND));
        h.info("C");
    }

    #[test]
    fn consumer_configs_with_any_numbers_never_panic(
        numbers in proptest::collection::vec(
            prop_oneof![any::<i64>(), 0i64..10_000_000_000, Just(i64::MAX), Just(-1i64)],
            9,
        ),
        push in any::<bool>(),
    ) {
        let mut h = Harness::new();
        h.publish("s.a", "m");
        let deliver = if push { r#","deliver_subject":"dlv""# } else { "" };
        let body = format!(
            r#"{{"stream_name":"S","config":{{"durable_name":"C","ack_policy":"explicit",
            "ack_wait":{},"max_deliver":{},"max_ack_pending":{},"max_waiting":{},
            "max_batch":{},"max_expires":{},"max_bytes":{},"inactive_threshold":{},
            "backoff":[{}]{deliver}}}}}"#,
            numbers[0], numbers[1], numbers[2], numbers[3], numbers[4], numbers[5],
            numbers[6], numbers[7], numbers[8]
        );
        h.create("$JS.API.CONSUMER.DURABLE.CREATE.S.C", &body);
        if h.set.names().contains(&"C".to_owned()) {
            if !push {
                let inbox = h.pull("C", r#"{"batch":3,"expires":1000000000}"#);
                h.advance(2 * SECOND);
                h.take(&inbox);
            }
            h.advance(100 * SECOND);
            h.info("C");
        }
    }

    #[test]
    fn arbitrary_acks_and_pull_requests_never_panic(
        subject in "\\$JS\\.ACK(\\.[A-Za-z0-9*>-]{0,4}){0,12}",
        body in proptest::collection::vec(any::<u8>(), 0..48),
        pull in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut h = Harness::new();
        h.publish("s.a", "m");
        h.pull_consumer("");
        let inbox = h.pull("C", "");
        let delivered = h.take(&inbox);
        h.ack(&subject, "", None);
        let mut ack_body = b"+NXT ".to_vec();
        ack_body.extend_from_slice(&pull);
        for candidate in [subject.clone(), delivered[0].reply.clone().expect("ack")] {
            let body_copy = body.clone();
            h.event(|set, cx, actions| {
                set.ack(cx, &candidate, Some("_INBOX.r"), &body_copy, actions);
                set.ack(cx, &candidate, Some("_INBOX.r"), &ack_body, actions);
            });
        }
        let reply = h.inbox();
        h.event(|set, cx, actions| {
            set.next_request(cx, "C", &reply, None, &body, &pull, actions);
            set.reset(cx, "C", &reply, &[], &pull, actions);
            set.unpin(cx, "C", &reply, &pull, actions);
            set.pause(cx, "C", &reply, &pull, actions);
            set.create(cx, &subject, &reply, &body, &pull, actions);
        });
        h.advance(40 * SECOND);
    }
}

/// Runs `ops` on a consumer and checks it against the model after each.
fn run(ops: Vec<Op>) {
    let mut h = Harness::new();
    h.pull_consumer(r#","ack_wait":1000000000"#);
    let mut model = Model::default();
    let mut inboxes: Vec<String> = Vec::new();
    for op in ops {
        match op {
            Op::Publish => {
                h.publish("s.a", "m");
                model.published += 1;
            }
            Op::Pull(batch) => {
                let inbox = h.pull("C", &format!(r#"{{"batch":{batch},"expires":3000000000}}"#));
                inboxes.push(inbox);
            }
            Op::Ack(index) | Op::Term(index) | Op::Nak(index) | Op::Progress(index) => {
                let Some(seq) = model.pick(index) else {
                    continue;
                };
                let subject = model.ack_subjects[&seq].clone();
                let body = match op {
                    Op::Ack(_) => "+ACK",
                    Op::Term(_) => "+TERM",
                    Op::Nak(_) => "-NAK",
                    _ => "+WPI",
                };
                h.ack(&subject, body, None);
                if matches!(op, Op::Ack(_) | Op::Term(_)) {
                    model.done.insert(seq);
                }
            }
            Op::Advance(millis) => h.advance(i64::from(millis) * MILLI),
            Op::Restart => {
                // Let the batched save happen, record what was delivered meanwhile,
                // and restart (the pull requests die with the old server).
                h.advance(SECOND);
                collect(&mut h, &inboxes, &mut model);
                h = restart(h);
                inboxes.clear();
            }
        }
        collect(&mut h, &inboxes, &mut model);
        check(&mut h, &model);
    }
}

#[test]
fn extreme_durations_from_clients_do_not_overflow() {
    let mut h = Harness::new();
    let max = i64::MAX;
    h.pull_consumer(&format!(
        r#","ack_wait":{max},"max_expires":{max},"inactive_threshold":{max},"backoff":[{max}],"max_deliver":2"#
    ));
    h.publish("s.a", "m1");
    let inbox = h.pull(
        "C",
        &format!(
            r#"{{"batch":1,"expires":{max},"idle_heartbeat":{half}}}"#,
            half = max / 2
        ),
    );
    let delivered = h.take(&inbox);
    let ack = delivered[0].reply.clone().expect("ack");
    h.ack(&ack, &format!(r#"-NAK {{"delay":{max}}}"#), None);
    h.ack(&ack, &format!(r#"-NAK {{"delay":{}}}"#, i64::MIN), None);
    h.advance(SECOND);
    let until = crate::time::Timestamp::from_unix_nanos(max);
    let reply = h.inbox();
    let body = format!(r#"{{"pause_until":"{until}"}}"#);
    h.event(|set, cx, actions| set.pause(cx, "C", &reply, body.as_bytes(), actions));
    assert_eq!(h.info("C")["paused"], true);
}
