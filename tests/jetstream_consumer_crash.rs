//! Durable consumers over real processes: a `natrix -js` server stopped cleanly, killed with
//! SIGKILL, or restarted with another shard count resumes every durable consumer where its
//! acknowledgements left off (an ack confirmed to the client is never lost); ephemeral
//! consumers come back and go once inactive, as on the Go server.

mod common;

use std::time::Duration;

use async_nats::jetstream::consumer::{self, pull, AckPolicy};
use async_nats::jetstream::{self, stream};
use common::{StoreDir, TestServer};
use futures_util::{StreamExt, TryStreamExt};

fn start(shards: usize, store: &StoreDir) -> TestServer {
    TestServer::natrix(shards, &["-js", "-sd", store.path()])
}

async fn connect(server: &TestServer) -> jetstream::Context {
    let client = async_nats::connect(server.url()).await.expect("connect");
    jetstream::new(client)
}

async fn setup(js: &jetstream::Context, messages: usize) -> stream::Stream {
    let stream = js
        .create_stream(stream::Config {
            name: "WORK".to_owned(),
            subjects: vec!["work.>".to_owned()],
            ..stream::Config::default()
        })
        .await
        .expect("stream");
    for index in 0..messages {
        js.publish(format!("work.{}", index % 3), format!("{index}").into())
            .await
            .expect("publish")
            .await
            .expect("ack");
    }
    stream
}

async fn durable(stream: &stream::Stream, name: &str) -> consumer::PullConsumer {
    stream
        .get_or_create_consumer(
            name,
            pull::Config {
                durable_name: Some(name.to_owned()),
                ack_policy: AckPolicy::Explicit,
                ack_wait: Duration::from_secs(30),
                ..pull::Config::default()
            },
        )
        .await
        .expect("durable")
}

/// Fetches `count` messages and acknowledges each with a confirmed (double) ack.
async fn take_and_confirm(consumer: &consumer::PullConsumer, count: usize) -> Vec<u64> {
    let batch = consumer
        .fetch()
        .max_messages(count)
        .expires(Duration::from_secs(2))
        .messages()
        .await
        .expect("fetch");
    let messages: Vec<_> = batch.try_collect().await.expect("messages");
    let mut sequences = Vec::new();
    for message in messages {
        sequences.push(message.info().expect("info").stream_sequence);
        message.double_ack().await.expect("confirmed ack");
    }
    sequences
}

async fn next_sequence(consumer: &consumer::PullConsumer) -> Option<u64> {
    let mut batch = consumer
        .fetch()
        .max_messages(1)
        .expires(Duration::from_secs(2))
        .messages()
        .await
        .expect("fetch");
    let message = batch.next().await?.expect("message");
    Some(message.info().expect("info").stream_sequence)
}

#[tokio::test]
async fn durable_consumers_resume_after_kill_9_where_confirmed_acks_left_off() {
    let store = StoreDir::new("kill");
    let server = start(2, &store);
    let js = connect(&server).await;
    let stream = setup(&js, 50).await;
    let first = durable(&stream, "first").await;
    let second = durable(&stream, "second").await;
    assert_eq!(
        take_and_confirm(&first, 20).await,
        (1..=20).collect::<Vec<_>>()
    );
    assert_eq!(
        take_and_confirm(&second, 7).await,
        (1..=7).collect::<Vec<_>>()
    );
    // Delivered but not acknowledged: comes back after the restart.
    let mut pending = first
        .fetch()
        .max_messages(3)
        .messages()
        .await
        .expect("fetch");
    while let Some(message) = pending.next().await {
        message.expect("message");
    }
    // Deliveries are saved in batches (every 100 ms at most): let this one land.
    tokio::time::sleep(Duration::from_millis(400)).await;
    server.kill();

    let server = start(2, &store);
    let js = connect(&server).await;
    let stream = js.get_stream("WORK").await.expect("stream recovered");
    let mut names: Vec<String> = stream.consumer_names().try_collect().await.expect("names");
    names.sort();
    assert_eq!(names, ["first", "second"]);
    let mut first: consumer::PullConsumer = stream.get_consumer("first").await.expect("first");
    let info = first.info().await.expect("info");
    assert_eq!(info.ack_floor.stream_sequence, 20, "{info:?}");
    assert_eq!(info.delivered.stream_sequence, 23, "{info:?}");
    assert_eq!(info.num_ack_pending, 3, "{info:?}");
    let second: consumer::PullConsumer = stream.get_consumer("second").await.expect("second");
    assert_eq!(next_sequence(&second).await, Some(8));
    assert_eq!(next_sequence(&first).await, Some(24), "new messages first");
}

#[tokio::test]
async fn a_clean_stop_saves_every_ack_and_ephemeral_consumers_go() {
    let store = StoreDir::new("clean");
    let server = start(3, &store);
    let js = connect(&server).await;
    let stream = setup(&js, 30).await;
    let consumer = durable(&stream, "d").await;
    let batch = consumer
        .fetch()
        .max_messages(12)
        .messages()
        .await
        .expect("fetch");
    let messages: Vec<_> = batch.try_collect().await.expect("messages");
    for message in &messages {
        // Plain acks: saved in batches, and at the latest when the server stops.
        message.ack().await.expect("ack");
    }
    js.client().flush().await.expect("flush");
    stream
        .create_consumer(pull::Config {
            inactive_threshold: Duration::from_secs(1),
            ..pull::Config::default()
        })
        .await
        .expect("ephemeral");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(server.stop(), Some(0));

    // Two shards instead of three: the stream and its consumer move, nothing is lost.
    let server = start(2, &store);
    let js = connect(&server).await;
    let stream = js.get_stream("WORK").await.expect("stream");
    // As on the Go server, the ephemeral consumer comes back and goes once it is inactive.
    let mut names: Vec<String> = Vec::new();
    for _ in 0..60 {
        names = stream.consumer_names().try_collect().await.expect("names");
        if names.len() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(names, ["d"], "the ephemeral consumer went");
    let mut consumer: consumer::PullConsumer = stream.get_consumer("d").await.expect("d");
    let info = consumer.info().await.expect("info");
    assert_eq!(info.ack_floor.stream_sequence, 12, "{info:?}");
    assert_eq!(info.num_pending, 18, "{info:?}");
    assert_eq!(next_sequence(&consumer).await, Some(13));
}
