//! JetStream consumers end to end: a real `natrix -js` process with several shards (so that
//! consumers, their clients and their acks sit on different shards), and the official
//! clients (`async-nats`' consumer API, `nats-py` from the repository's virtual environment).

mod common;

use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::{self, pull, push, AckPolicy, DeliverPolicy};
use async_nats::jetstream::{self, stream, AckKind};
use common::{StoreDir, TestServer};
use futures_util::{StreamExt, TryStreamExt};

fn start(shards: usize, store: &StoreDir) -> TestServer {
    TestServer::natrix(shards, &["-js", "-sd", store.path()])
}

async fn connect(server: &TestServer) -> (async_nats::Client, jetstream::Context) {
    let client = async_nats::connect(server.url()).await.expect("connect");
    let context = jetstream::new(client.clone());
    (client, context)
}

fn config(name: &str, subjects: &[&str]) -> stream::Config {
    stream::Config {
        name: name.to_owned(),
        subjects: subjects.iter().map(|subject| subject.to_string()).collect(),
        ..stream::Config::default()
    }
}

async fn publish_n(js: &jetstream::Context, subject: &str, count: usize) {
    for index in 0..count {
        js.publish(subject.to_owned(), format!("m{index}").into())
            .await
            .expect("publish")
            .await
            .expect("puback");
    }
}

/// Waits (polling, without asserting on time) until `check` holds, for at most `limit`.
async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn pull_consumers_fetch_acknowledge_and_report_their_state() {
    let store = StoreDir::new("pull");
    let server = start(3, &store);
    let (_client, js) = connect(&server).await;
    let stream = js
        .create_stream(config("ORDERS", &["orders.>"]))
        .await
        .expect("stream");
    publish_n(&js, "orders.new", 10).await;
    let consumer: consumer::PullConsumer = stream
        .create_consumer(pull::Config {
            durable_name: Some("worker".into()),
            ack_policy: AckPolicy::Explicit,
            ..pull::Config::default()
        })
        .await
        .expect("create consumer");
    let mut batch = consumer
        .fetch()
        .max_messages(4)
        .messages()
        .await
        .expect("fetch");
    let mut payloads = Vec::new();
    while let Some(message) = batch.next().await {
        let message = message.expect("message");
        payloads.push(String::from_utf8(message.payload.to_vec()).expect("utf-8"));
        message.ack().await.expect("ack");
    }
    assert_eq!(payloads, ["m0", "m1", "m2", "m3"]);
    // A double ack is confirmed once the ack is stored.
    let mut batch = consumer
        .batch()
        .max_messages(6)
        .expires(Duration::from_secs(2))
        .messages()
        .await
        .expect("batch");
    let mut count = 0;
    while let Some(message) = batch.next().await {
        let message = message.expect("message");
        let info = message.info().expect("ack subject");
        assert_eq!(info.stream_sequence, 5 + count);
        message.double_ack().await.expect("double ack");
        count += 1;
    }
    assert_eq!(count, 6);
    let mut consumer = consumer;
    let info = consumer.info().await.expect("info").clone();
    assert_eq!(info.name, "worker");
    assert_eq!(info.num_pending, 0);
    assert_eq!(info.num_ack_pending, 0);
    assert_eq!(info.delivered.stream_sequence, 10);
    assert_eq!(info.ack_floor.stream_sequence, 10);

    let names: Vec<String> = stream.consumer_names().try_collect().await.expect("names");
    assert_eq!(names, ["worker"]);
    let mut stream = stream;
    assert_eq!(stream.info().await.expect("info").state.consumer_count, 1);
    assert_eq!(js.query_account().await.expect("account").consumers, 1);
    let listed: Vec<consumer::Info> = stream.consumers().try_collect().await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, "worker");
    stream.delete_consumer("worker").await.expect("delete");
    let names: Vec<String> = stream.consumer_names().try_collect().await.expect("names");
    assert!(names.is_empty());
    let error = stream
        .get_consumer::<pull::Config>("worker")
        .await
        .expect_err("deleted");
    assert!(error.to_string().contains("consumer not found"), "{error}");
}

#[tokio::test]
async fn pull_consume_streams_every_message_and_what_arrives_later() {
    let store = StoreDir::new("consume");
    let server = start(3, &store);
    let (_client, js) = connect(&server).await;
    let stream = js
        .create_stream(config("EVENTS", &["events.>"]))
        .await
        .expect("stream");
    publish_n(&js, "events.a", 300).await;
    let consumer: consumer::PullConsumer = stream
        .create_consumer(pull::Config {
            durable_name: Some("reader".into()),
            ..pull::Config::default()
        })
        .await
        .expect("consumer");
    let mut messages = consumer
        .stream()
        .max_messages_per_batch(50)
        .heartbeat(Duration::from_secs(1))
        .expires(Duration::from_secs(5))
        .messages()
        .await
        .expect("consume");
    let publisher = js.clone();
    let later = tokio::spawn(async move { publish_n(&publisher, "events.b", 200).await });
    for expected in 1..=500u64 {
        let message = tokio::time::timeout(Duration::from_secs(10), messages.next())
            .await
            .expect("in time")
            .expect("open")
            .expect("message");
        let info = message.info().expect("ack subject");
        assert_eq!(info.stream_sequence, expected);
        assert_eq!(info.consumer_sequence, expected);
        message.ack().await.expect("ack");
    }
    later.await.expect("publisher");
    assert!(
        eventually(Duration::from_secs(5), || {
            let mut consumer = consumer.clone();
            async move {
                let info = consumer.info().await.expect("info");
                info.ack_floor.stream_sequence == 500 && info.num_ack_pending == 0
            }
        })
        .await
    );
}

#[tokio::test]
async fn unacknowledged_and_nacked_messages_come_back_and_terminated_ones_do_not() {
    let store = StoreDir::new("redeliver");
    let server = start(2, &store);
    let (_client, js) = connect(&server).await;
    let stream = js
        .create_stream(config("JOBS", &["jobs.>"]))
        .await
        .expect("stream");
    publish_n(&js, "jobs.x", 4).await;
    let consumer: consumer::PullConsumer = stream
        .create_consumer(pull::Config {
            durable_name: Some("w".into()),
            ack_wait: Duration::from_millis(800),
            max_deliver: 3,
            ..pull::Config::default()
        })
        .await
        .expect("consumer");
    let fetch = |count: usize| {
        let consumer = consumer.clone();
        async move {
            let batch = consumer
                .fetch()
                .max_messages(count)
                .expires(Duration::from_millis(1500))
                .messages()
                .await
                .expect("fetch");
            batch.try_collect::<Vec<_>>().await.expect("messages")
        }
    };
    let first = fetch(4).await;
    assert_eq!(first.len(), 4);
    // m0 acked, m1 nacked (back at once), m2 terminated, m3 left to time out.
    first[0].ack().await.expect("ack");
    first[1].ack_with(AckKind::Nak(None)).await.expect("nak");
    first[2].ack_with(AckKind::Term).await.expect("term");
    let again = fetch(1).await;
    assert_eq!(again.len(), 1);
    let info = again[0].info().expect("info");
    assert_eq!((info.stream_sequence, info.delivered), (2, 2));
    again[0].ack().await.expect("ack");
    // m3 comes back after its ack wait, with its delivery count.
    let started = Instant::now();
    let late = fetch(1).await;
    assert_eq!(late.len(), 1);
    let info = late[0].info().expect("info");
    assert_eq!((info.stream_sequence, info.delivered), (4, 2));
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "not before its ack wait"
    );
    // Work in progress pushes the redelivery back.
    late[0].ack_with(AckKind::Progress).await.expect("progress");
    late[0].ack().await.expect("ack");
    let mut consumer = consumer.clone();
    let info = consumer.info().await.expect("info").clone();
    assert_eq!(info.num_ack_pending, 0, "{info:?}");
    assert_eq!(info.num_redelivered, 0, "{info:?}");
    assert_eq!(info.ack_floor.stream_sequence, 4, "{info:?}");
}

/// Sends a raw pull request and collects what comes back within `wait`.
async fn raw_pull(
    client: &async_nats::Client,
    stream: &str,
    consumer: &str,
    body: &str,
    wait: Duration,
) -> Vec<async_nats::Message> {
    let inbox = client.new_inbox();
    let mut replies = client.subscribe(inbox.clone()).await.expect("subscribe");
    client.flush().await.expect("flush");
    client
        .publish_with_reply(
            format!("$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}"),
            inbox,
            body.to_owned().into(),
        )
        .await
        .expect("request");
    let mut collected = Vec::new();
    let deadline = tokio::time::Instant::now() + wait;
    while let Ok(Some(message)) = tokio::time::timeout_at(deadline, replies.next()).await {
        let done = message.status.is_some_and(|status| status.as_u16() != 100);
        collected.push(message);
        if done {
            break;
        }
    }
    collected
}

fn status_line(message: &async_nats::Message) -> String {
    format!(
        "{} {}",
        message.status.map(|status| status.as_u16()).unwrap_or(0),
        message.description.clone().unwrap_or_default()
    )
}

#[tokio::test]
async fn pull_requests_end_with_the_go_servers_statuses() {
    let store = StoreDir::new("statuses");
    let server = start(3, &store);
    let (client, js) = connect(&server).await;
    let stream = js
        .create_stream(config("ST", &["st.>"]))
        .await
        .expect("stream");
    stream
        .create_consumer(pull::Config {
            durable_name: Some("C".into()),
            max_batch: 10,
            max_expires: Duration::from_secs(5),
            ..pull::Config::default()
        })
        .await
        .expect("consumer");
    let wait = Duration::from_secs(3);
    let replies = raw_pull(&client, "ST", "C", r#"{"batch":1,"no_wait":true}"#, wait).await;
    assert_eq!(replies.len(), 1);
    assert_eq!(status_line(&replies[0]), "404 No Messages");
    let replies = raw_pull(
        &client,
        "ST",
        "C",
        r#"{"batch":1,"expires":300000000}"#,
        wait,
    )
    .await;
    assert_eq!(status_line(&replies[0]), "408 Request Timeout");
    let headers = replies[0].headers.clone().expect("headers");
    assert_eq!(
        headers.get("Nats-Pending-Messages").map(|v| v.as_str()),
        Some("1")
    );
    let replies = raw_pull(
        &client,
        "ST",
        "C",
        r#"{"batch":11,"expires":1000000}"#,
        wait,
    )
    .await;
    assert_eq!(
        status_line(&replies[0]),
        "409 Exceeded MaxRequestBatch of 10"
    );
    let replies = raw_pull(
        &client,
        "ST",
        "C",
        r#"{"batch":1,"expires":6000000000}"#,
        wait,
    )
    .await;
    assert_eq!(
        status_line(&replies[0]),
        "409 Exceeded MaxRequestExpires of 5s"
    );
    js.publish("st.1", "x".into())
        .await
        .expect("publish")
        .await
        .expect("ack");
    let replies = raw_pull(&client, "ST", "C", r#"{"batch":2,"no_wait":true}"#, wait).await;
    assert_eq!(replies.len(), 2, "the message, then the end");
    assert_eq!(&replies[0].payload[..], b"x");
    assert!(
        replies[0]
            .reply
            .as_ref()
            .is_some_and(|reply| reply.starts_with("$JS.ACK.ST.C.1.1.1.")),
        "{:?}",
        replies[0].reply
    );
    assert_eq!(status_line(&replies[1]), "404 No Messages");
    // A consumer that does not exist has no responder, as on the Go server.
    let replies = raw_pull(&client, "ST", "NOPE", r#"{"batch":1}"#, wait).await;
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].status.map(|status| status.as_u16()), Some(503));
    // Deleting the consumer ends a waiting request with 409 Consumer Deleted.
    let waiting = {
        let client = client.clone();
        tokio::spawn(async move {
            raw_pull(
                &client,
                "ST",
                "C",
                r#"{"batch":5,"expires":4000000000}"#,
                wait,
            )
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    stream.delete_consumer("C").await.expect("delete");
    let replies = waiting.await.expect("waiter");
    assert_eq!(status_line(&replies[0]), "409 Consumer Deleted");
}

#[tokio::test]
async fn push_consumers_deliver_with_flow_control_and_heartbeats() {
    let store = StoreDir::new("push");
    let server = start(3, &store);
    let (client, js) = connect(&server).await;
    let stream = js
        .create_stream(config("PUSH", &["push.>"]))
        .await
        .expect("stream");
    // Large enough that flow control must answer before delivery goes on.
    let payload = bytes::Bytes::from(vec![b'p'; 16 * 1024]);
    for _ in 0..400 {
        js.publish("push.a", payload.clone())
            .await
            .expect("publish")
            .await
            .expect("ack");
    }
    let deliver = client.new_inbox();
    let consumer: consumer::PushConsumer = stream
        .create_consumer(push::Config {
            durable_name: Some("pusher".into()),
            deliver_subject: deliver.clone(),
            ack_policy: AckPolicy::Explicit,
            flow_control: true,
            idle_heartbeat: Duration::from_secs(1),
            ..push::Config::default()
        })
        .await
        .expect("consumer");
    let mut messages = consumer.messages().await.expect("messages");
    for expected in 1..=400u64 {
        let message = tokio::time::timeout(Duration::from_secs(10), messages.next())
            .await
            .expect("in time")
            .expect("open")
            .expect("message");
        assert_eq!(message.info().expect("info").stream_sequence, expected);
        assert_eq!(message.payload.len(), 16 * 1024);
        message.ack().await.expect("ack");
    }
    // Idle heartbeats flow while nothing is delivered.
    let mut raw = client.subscribe(deliver).await.expect("raw subscribe");
    let heartbeat = tokio::time::timeout(Duration::from_secs(5), raw.next())
        .await
        .expect("a heartbeat in time")
        .expect("message");
    assert_eq!(status_line(&heartbeat), "100 Idle Heartbeat");
    let headers = heartbeat.headers.expect("headers");
    assert_eq!(
        headers.get("Nats-Last-Consumer").map(|v| v.as_str()),
        Some("400")
    );
    assert_eq!(
        headers.get("Nats-Last-Stream").map(|v| v.as_str()),
        Some("400")
    );
}

#[tokio::test]
async fn ordered_consumers_replay_the_stream_in_order() {
    let store = StoreDir::new("ordered");
    let server = start(3, &store);
    let (_client, js) = connect(&server).await;
    let stream = js
        .create_stream(config("REPLAY", &["replay.>"]))
        .await
        .expect("stream");
    publish_n(&js, "replay.x", 1000).await;
    let push_ordered = stream
        .create_consumer(push::OrderedConfig {
            deliver_subject: js_inbox(&js),
            ..push::OrderedConfig::default()
        })
        .await
        .expect("ordered push");
    let mut messages = push_ordered.messages().await.expect("messages");
    for expected in 1..=1000u64 {
        let message = tokio::time::timeout(Duration::from_secs(10), messages.next())
            .await
            .expect("in time")
            .expect("open")
            .expect("message");
        assert_eq!(message.info().expect("info").stream_sequence, expected);
    }
    let pull_ordered = stream
        .create_consumer(pull::OrderedConfig::default())
        .await
        .expect("ordered pull");
    let mut messages = pull_ordered.messages().await.expect("messages");
    for expected in 1..=1000u64 {
        let message = tokio::time::timeout(Duration::from_secs(10), messages.next())
            .await
            .expect("in time")
            .expect("open")
            .expect("message");
        assert_eq!(message.info().expect("info").stream_sequence, expected);
    }
}

fn js_inbox(js: &jetstream::Context) -> String {
    js.client().new_inbox()
}

#[tokio::test]
async fn consumers_start_where_their_deliver_policy_says() {
    let store = StoreDir::new("policies");
    let server = start(2, &store);
    let (_client, js) = connect(&server).await;
    let stream = js
        .create_stream(config("POL", &["pol.>"]))
        .await
        .expect("stream");
    for index in 0..6 {
        js.publish(format!("pol.{}", index % 2), format!("{index}").into())
            .await
            .expect("publish")
            .await
            .expect("ack");
    }
    let first_of = |policy: DeliverPolicy, filter: &str| {
        let stream = stream.clone();
        let filter = filter.to_owned();
        async move {
            let consumer: consumer::PullConsumer = stream
                .create_consumer(pull::Config {
                    deliver_policy: policy,
                    filter_subject: filter,
                    ..pull::Config::default()
                })
                .await
                .expect("consumer");
            let batch = consumer
                .fetch()
                .max_messages(10)
                .messages()
                .await
                .expect("fetch");
            let messages: Vec<_> = batch.try_collect().await.expect("messages");
            messages
                .iter()
                .map(|message| String::from_utf8_lossy(&message.payload).into_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        first_of(DeliverPolicy::All, "").await,
        ["0", "1", "2", "3", "4", "5"]
    );
    assert_eq!(first_of(DeliverPolicy::Last, "").await, ["5"]);
    assert_eq!(first_of(DeliverPolicy::All, "pol.1").await, ["1", "3", "5"]);
    assert_eq!(
        first_of(DeliverPolicy::ByStartSequence { start_sequence: 4 }, "").await,
        ["3", "4", "5"]
    );
    assert_eq!(
        first_of(DeliverPolicy::LastPerSubject, "pol.>").await,
        ["4", "5"]
    );
    assert!(first_of(DeliverPolicy::New, "").await.is_empty());
}

async fn stream_messages(stream: &mut stream::Stream) -> u64 {
    stream.info().await.expect("info").state.messages
}

#[tokio::test]
async fn work_queue_streams_remove_what_their_consumer_acknowledged() {
    let store = StoreDir::new("workqueue");
    let server = start(3, &store);
    let (_client, js) = connect(&server).await;
    let mut stream = js
        .create_stream(stream::Config {
            retention: stream::RetentionPolicy::WorkQueue,
            ..config("WQ", &["wq.>"])
        })
        .await
        .expect("stream");
    publish_n(&js, "wq.a", 10).await;
    let consumer: consumer::PullConsumer = stream
        .create_consumer(pull::Config {
            durable_name: Some("workers".into()),
            ..pull::Config::default()
        })
        .await
        .expect("consumer");
    // A second unfiltered consumer on a work queue is refused, as on the Go server.
    let error = stream
        .create_consumer(pull::Config {
            durable_name: Some("other".into()),
            ..pull::Config::default()
        })
        .await
        .expect_err("overlapping work queue consumer");
    assert!(
        error
            .to_string()
            .contains("multiple non-filtered consumers not allowed on workqueue stream"),
        "{error}"
    );
    let batch = consumer
        .fetch()
        .max_messages(6)
        .messages()
        .await
        .expect("fetch");
    let messages: Vec<_> = batch.try_collect().await.expect("messages");
    for message in &messages {
        message.double_ack().await.expect("ack");
    }
    let mut probe = stream.clone();
    assert!(
        eventually(Duration::from_secs(5), || {
            let mut stream = probe.clone();
            async move { stream_messages(&mut stream).await == 4 }
        })
        .await,
        "acknowledged work is removed"
    );
    let info = probe.info().await.expect("info");
    assert_eq!(info.state.first_sequence, 7);
    assert_eq!(stream_messages(&mut stream).await, 4);
}

#[tokio::test]
async fn interest_streams_keep_messages_until_every_consumer_acknowledged() {
    let store = StoreDir::new("interest");
    let server = start(3, &store);
    let (_client, js) = connect(&server).await;
    let mut stream = js
        .create_stream(stream::Config {
            retention: stream::RetentionPolicy::Interest,
            ..config("INT", &["int.>"])
        })
        .await
        .expect("stream");
    // Nobody is interested yet: the message is not kept.
    publish_n(&js, "int.a", 1).await;
    assert!(
        eventually(Duration::from_secs(5), || {
            let mut stream = stream.clone();
            async move { stream_messages(&mut stream).await == 0 }
        })
        .await
    );
    let first: consumer::PullConsumer = stream
        .create_consumer(pull::Config {
            durable_name: Some("a".into()),
            ..pull::Config::default()
        })
        .await
        .expect("a");
    let second: consumer::PullConsumer = stream
        .create_consumer(pull::Config {
            durable_name: Some("b".into()),
            filter_subject: "int.b".into(),
            ..pull::Config::default()
        })
        .await
        .expect("b");
    publish_n(&js, "int.a", 2).await;
    publish_n(&js, "int.b", 2).await;
    assert_eq!(stream_messages(&mut stream).await, 4);
    let ack_all = |consumer: consumer::PullConsumer| async move {
        let batch = consumer
            .fetch()
            .max_messages(10)
            .messages()
            .await
            .expect("fetch");
        let messages: Vec<_> = batch.try_collect().await.expect("messages");
        for message in &messages {
            message.double_ack().await.expect("ack");
        }
        messages.len()
    };
    assert_eq!(ack_all(first).await, 4);
    // "a" acknowledged everything: int.a goes, int.b waits for "b".
    assert!(
        eventually(Duration::from_secs(5), || {
            let mut stream = stream.clone();
            async move { stream_messages(&mut stream).await == 2 }
        })
        .await
    );
    assert_eq!(ack_all(second).await, 2);
    assert!(
        eventually(Duration::from_secs(5), || {
            let mut stream = stream.clone();
            async move { stream_messages(&mut stream).await == 0 }
        })
        .await
    );
}

/// Runs a `nats-py` script (from the repository's virtual environment) that prints `ok`.
fn run_python(script: &str) {
    assert_eq!(common::run_nats_py(script, &[]).trim(), "ok");
}

/// `nats-py`'s consumers against Natrix: pull subscriptions with fetch, push subscriptions
/// (durable, queue, ordered), acks and consumer management.
#[test]
fn the_python_client_pulls_pushes_and_manages_consumers() {
    let store = StoreDir::new("python");
    let server = start(3, &store);
    let script = format!(
        r#"
import asyncio, nats
from nats.js.api import StreamConfig, ConsumerConfig, AckPolicy
from nats.js.errors import NotFoundError

async def main():
    nc = await nats.connect("{url}")
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name="PY", subjects=["py.>"]))
    for i in range(30):
        await js.publish("py.%d" % (i % 3), b"value %d" % i)

    psub = await js.pull_subscribe("py.>", durable="puller")
    got = []
    while len(got) < 30:
        msgs = await psub.fetch(10, timeout=2)
        for m in msgs:
            got.append(m.data)
            await m.ack()
    assert got == [b"value %d" % i for i in range(30)], got
    try:
        await psub.fetch(1, timeout=0.5)
        raise AssertionError("nothing left to fetch")
    except nats.errors.TimeoutError:
        pass
    info = await js.consumer_info("PY", "puller")
    assert info.num_pending == 0 and info.num_ack_pending == 0, info
    assert info.delivered.stream_seq == 30, info

    # A redelivered message after a nak, with its metadata.
    nsub = await js.pull_subscribe("py.1", durable="naker")
    first = (await nsub.fetch(1))[0]
    assert first.metadata.sequence.stream == 2, first.metadata
    await first.nak()
    again = (await nsub.fetch(1))[0]
    assert again.metadata.sequence.stream == 2 and again.metadata.num_delivered == 2, again.metadata
    await again.ack_sync()

    # Push: a durable subscription and an ordered one.
    seen = []
    done = asyncio.Event()
    async def handler(msg):
        seen.append(msg.data)
        await msg.ack()
        if len(seen) == 30:
            done.set()
    sub = await js.subscribe("py.>", durable="pusher", cb=handler)
    await asyncio.wait_for(done.wait(), 10)
    assert seen == [b"value %d" % i for i in range(30)], seen
    await sub.unsubscribe()

    osub = await js.subscribe("py.2", ordered_consumer=True)
    ordered = []
    for _ in range(10):
        m = await osub.next_msg(timeout=5)
        ordered.append(m.data)
    assert ordered == [b"value %d" % i for i in range(2, 30, 3)], ordered
    await osub.unsubscribe()

    names = sorted(await js.consumers_info("PY"), key=lambda c: c.name)
    assert "puller" in [c.name for c in names], names
    assert await js.delete_consumer("PY", "puller")
    try:
        await js.consumer_info("PY", "puller")
        raise AssertionError("deleted")
    except NotFoundError:
        pass
    created = await js.add_consumer("PY", ConsumerConfig(durable_name="made", ack_policy=AckPolicy.EXPLICIT, filter_subject="py.0"))
    assert created.name == "made" and created.num_pending == 10, created
    await nc.close()
    print("ok")

asyncio.run(main())
"#,
        url = server.url()
    );
    run_python(&script);
}

#[tokio::test]
async fn paused_consumers_deliver_nothing_until_resumed_and_reset_rewinds() {
    let store = StoreDir::new("pause");
    let server = start(3, &store);
    let (_client, js) = connect(&server).await;
    let stream = js
        .create_stream(config("PAUSE", &["pause.>"]))
        .await
        .expect("stream");
    publish_n(&js, "pause.a", 3).await;
    let consumer: consumer::PullConsumer = stream
        .create_consumer(pull::Config {
            durable_name: Some("p".into()),
            ..pull::Config::default()
        })
        .await
        .expect("consumer");
    let until = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    let paused = stream.pause_consumer("p", until).await.expect("pause");
    assert!(paused.paused);
    let fetch = |expires_ms: u64| {
        let consumer = consumer.clone();
        async move {
            let batch = consumer
                .fetch()
                .max_messages(10)
                .expires(Duration::from_millis(expires_ms))
                .messages()
                .await
                .expect("fetch");
            batch.try_collect::<Vec<_>>().await.expect("messages")
        }
    };
    assert!(
        fetch(500).await.is_empty(),
        "a paused consumer delivers nothing"
    );
    let resumed = stream.resume_consumer("p").await.expect("resume");
    assert!(!resumed.paused);
    let messages = fetch(1000).await;
    assert_eq!(messages.len(), 3);
    for message in &messages {
        message.double_ack().await.expect("ack");
    }
    let reset = stream.reset_consumer("p", Some(2)).await.expect("reset");
    assert_eq!(reset.reset_seq, 2);
    let again = fetch(1000).await;
    let sequences: Vec<u64> = again
        .iter()
        .map(|message| message.info().expect("info").stream_sequence)
        .collect();
    assert_eq!(
        sequences,
        [2, 3],
        "delivery starts again at the reset sequence"
    );
}

#[tokio::test]
async fn pinned_priority_groups_serve_one_client_until_it_is_unpinned() {
    let store = StoreDir::new("pinned");
    let server = start(3, &store);
    let (client, js) = connect(&server).await;
    let stream = js
        .create_stream(config("PIN", &["pin.>"]))
        .await
        .expect("stream");
    publish_n(&js, "pin.a", 5).await;
    stream
        .create_consumer(pull::Config {
            durable_name: Some("g".into()),
            priority_policy: consumer::PriorityPolicy::PinnedClient,
            priority_groups: vec!["jobs".into()],
            priority_timeout: Duration::from_secs(30),
            ..pull::Config::default()
        })
        .await
        .expect("consumer");
    let wait = Duration::from_secs(3);
    let pull = |body: String| {
        let client = client.clone();
        async move { raw_pull(&client, "PIN", "g", &body, wait).await }
    };
    let first = pull(r#"{"batch":1,"expires":1000000000,"group":"jobs"}"#.into()).await;
    let pin = first[0]
        .headers
        .as_ref()
        .and_then(|headers| headers.get("Nats-Pin-Id"))
        .map(|value| value.to_string())
        .expect("the first client is pinned");
    // Another client stands by: nothing for it while the pin holds.
    let standby = pull(r#"{"batch":1,"expires":400000000,"group":"jobs"}"#.into()).await;
    assert_eq!(status_line(&standby[0]), "408 Request Timeout");
    let wrong = pull(r#"{"batch":1,"expires":400000000,"group":"jobs","id":"nope"}"#.into()).await;
    assert_eq!(status_line(&wrong[0]), "423 Nats-Pin-Id mismatch");
    let pinned = pull(format!(
        r#"{{"batch":1,"expires":1000000000,"group":"jobs","id":"{pin}"}}"#
    ))
    .await;
    assert_eq!(&pinned[0].payload[..], b"m1");
    stream.unpin_consumer("g", "jobs").await.expect("unpin");
    let next = pull(r#"{"batch":1,"expires":1000000000,"group":"jobs"}"#.into()).await;
    let new_pin = next[0]
        .headers
        .as_ref()
        .and_then(|headers| headers.get("Nats-Pin-Id"))
        .map(|value| value.to_string())
        .expect("a new pin");
    assert_ne!(new_pin, pin);
    assert_eq!(&next[0].payload[..], b"m2");
}

#[tokio::test]
async fn consumer_advisories_report_creation_naks_terminations_and_deletion() {
    let store = StoreDir::new("advisories");
    let server = start(3, &store);
    let (client, js) = connect(&server).await;
    let mut events = client
        .subscribe("$JS.EVENT.ADVISORY.CONSUMER.>")
        .await
        .expect("subscribe");
    client.flush().await.expect("flush");
    let stream = js
        .create_stream(config("ADV", &["adv.>"]))
        .await
        .expect("stream");
    publish_n(&js, "adv.a", 3).await;
    let consumer: consumer::PullConsumer = stream
        .create_consumer(pull::Config {
            durable_name: Some("watched".into()),
            max_deliver: 1,
            ack_wait: Duration::from_millis(300),
            ..pull::Config::default()
        })
        .await
        .expect("consumer");
    let batch = consumer
        .fetch()
        .max_messages(3)
        .messages()
        .await
        .expect("fetch");
    let messages: Vec<_> = batch.try_collect().await.expect("messages");
    assert_eq!(messages.len(), 3);
    messages[0].ack_with(AckKind::Nak(None)).await.expect("nak");
    messages[1]
        .ack_with(AckKind::Term)
        .await
        .expect("terminate");
    // messages[2] is never acknowledged: with max_deliver 1 its ack wait ends its deliveries.
    tokio::time::sleep(Duration::from_millis(800)).await;
    stream.delete_consumer("watched").await.expect("delete");
    let mut seen = Vec::new();
    while let Ok(Some(message)) = tokio::time::timeout(Duration::from_secs(2), events.next()).await
    {
        let value: serde_json::Value =
            serde_json::from_slice(&message.payload).expect("advisory JSON");
        seen.push((message.subject.to_string(), value["type"].to_string()));
        if message
            .subject
            .starts_with("$JS.EVENT.ADVISORY.CONSUMER.DELETED")
        {
            break;
        }
    }
    let subjects: Vec<&str> = seen.iter().map(|(subject, _)| subject.as_str()).collect();
    for expected in [
        "$JS.EVENT.ADVISORY.CONSUMER.CREATED.ADV.watched",
        "$JS.EVENT.ADVISORY.CONSUMER.MSG_NAKED.ADV.watched",
        "$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.ADV.watched",
        "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.ADV.watched",
        "$JS.EVENT.ADVISORY.CONSUMER.DELETED.ADV.watched",
    ] {
        assert!(subjects.contains(&expected), "{expected} in {seen:?}");
    }
}

#[tokio::test]
async fn push_consumers_with_a_deliver_group_split_the_messages() {
    let store = StoreDir::new("pushgroup");
    let server = start(3, &store);
    let (_client, js) = connect(&server).await;
    let stream = js
        .create_stream(config("GRP", &["grp.>"]))
        .await
        .expect("stream");
    // Two members on connections of their own (so on any shard).
    let mut members = Vec::new();
    for _ in 0..2 {
        let member = async_nats::connect(server.url()).await.expect("connect");
        let subscription = member
            .queue_subscribe("deliver.grp", "workers".into())
            .await
            .expect("queue subscribe");
        member.flush().await.expect("flush");
        members.push((member, subscription));
    }
    stream
        .create_consumer(push::Config {
            durable_name: Some("q".into()),
            deliver_subject: "deliver.grp".into(),
            deliver_group: Some("workers".into()),
            ack_policy: AckPolicy::None,
            ..push::Config::default()
        })
        .await
        .expect("consumer");
    publish_n(&js, "grp.a", 200).await;
    let mut payloads = Vec::new();
    for (_, subscription) in &mut members {
        while let Ok(Some(message)) =
            tokio::time::timeout(Duration::from_millis(700), subscription.next()).await
        {
            payloads.push(String::from_utf8_lossy(&message.payload).into_owned());
        }
    }
    payloads.sort_by_key(|payload| payload[1..].parse::<u32>().expect("m<n>"));
    let expected: Vec<String> = (0..200).map(|index| format!("m{index}")).collect();
    assert_eq!(payloads, expected, "every message once, across the group");
}
