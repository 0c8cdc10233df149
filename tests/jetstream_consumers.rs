//! JetStream consumers end to end: a real `natrix -js` process with several shards (so that
//! consumers, their clients and their acks sit on different shards), and the official
//! clients (`async-nats`' consumer API, `nats-py` from the repository's virtual environment).

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::{self, pull, push, AckPolicy, DeliverPolicy};
use async_nats::jetstream::{self, stream, AckKind};
use common::TestServer;
use futures_util::{StreamExt, TryStreamExt};

/// A store directory of its own for one test, removed when dropped.
struct StoreDir(PathBuf);

impl StoreDir {
    fn new(name: &str) -> StoreDir {
        let dir = std::env::temp_dir().join(format!("natrix-jsc-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("store dir");
        StoreDir(dir)
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("utf-8 path")
    }
}

impl Drop for StoreDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

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
