//! Consumer behaviour that takes time or several clients to see, checked end to end with
//! `async-nats` on Natrix and on the Go server side by side: redelivery gaps that follow
//! `backoff`, deliveries spaced as they were published (`replay_policy: original`), push
//! delivery slowed by `rate_limit_bps`, pull requests bounded by `max_bytes`, priority groups
//! with `min_pending`/`min_ack_pending` (overflow) and request priorities (prioritized).
//!
//! Times are measured with generous upper bounds (the machine is shared); the lower bounds
//! are what the feature promises, so a server that ignores the setting fails.

mod common;

use std::future::Future;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use async_nats::jetstream::consumer::PullConsumer;
use bytes::Bytes;
use common::TestServer;
use futures_util::StreamExt;
use serde_json::{json, Value};

/// Runs `scenario` against a fresh Go server and a fresh Natrix at once; returns both
/// outcomes, Go's first.
async fn on_both<F, Fut, T>(name: &str, scenario: F) -> (T, T)
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = T>,
{
    let dir = std::env::temp_dir().join(format!("natrix-jscb-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (go_dir, natrix_dir) = (dir.join("go"), dir.join("natrix"));
    let go = TestServer::go(&["-js", "-sd", go_dir.to_str().expect("utf-8")]);
    let natrix = TestServer::natrix(3, &["-js", "-sd", natrix_dir.to_str().expect("utf-8")]);
    let outcome = tokio::join!(scenario(go.url()), scenario(natrix.url()));
    drop(go);
    drop(natrix);
    let _ = std::fs::remove_dir_all(&dir);
    outcome
}

async fn connect(url: &str) -> (async_nats::Client, jetstream::Context) {
    let client = async_nats::connect(url).await.expect("connect");
    (client.clone(), jetstream::new(client))
}

async fn request(client: &async_nats::Client, subject: &str, body: Value) -> Value {
    let reply = client
        .request(subject.to_owned(), Bytes::from(body.to_string()))
        .await
        .unwrap_or_else(|error| panic!("request {subject}: {error}"));
    serde_json::from_slice(&reply.payload).expect("JSON reply")
}

/// Creates `stream` on `<stream>.>` with `extra` configuration fields.
async fn create_stream(client: &async_nats::Client, stream: &str, extra: Value) {
    let mut config = json!({"name": stream, "subjects": [format!("{}.>", stream.to_lowercase())]});
    if let (Some(config), Some(extra)) = (config.as_object_mut(), extra.as_object()) {
        config.extend(extra.clone());
    }
    let created = request(client, &format!("$JS.API.STREAM.CREATE.{stream}"), config).await;
    assert!(created.get("error").is_none(), "{created}");
}

/// Creates consumer `name` on `stream` with `config`.
async fn create_consumer(client: &async_nats::Client, stream: &str, name: &str, config: Value) {
    let created = request(
        client,
        &format!("$JS.API.CONSUMER.CREATE.{stream}.{name}"),
        json!({"stream_name": stream, "config": config}),
    )
    .await;
    assert!(created.get("error").is_none(), "{created}");
}

async fn publish(js: &jetstream::Context, subject: &str, payload: Bytes) {
    js.publish(subject.to_owned(), payload)
        .await
        .expect("publish")
        .await
        .expect("puback");
}

/// When each message arrived on `subscription` (status messages left out), until `count`
/// arrived or `limit` passed.
async fn arrivals(
    subscription: &mut async_nats::Subscriber,
    count: usize,
    limit: Duration,
) -> Vec<(Instant, async_nats::Message)> {
    let deadline = Instant::now() + limit;
    let mut seen = Vec::new();
    while seen.len() < count {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(Some(message)) = tokio::time::timeout(left, subscription.next()).await else {
            break;
        };
        if message.status.is_none() {
            seen.push((Instant::now(), message));
        }
    }
    seen
}

fn gaps(times: &[Instant]) -> Vec<Duration> {
    times.windows(2).map(|pair| pair[1] - pair[0]).collect()
}

/// One unacknowledged message on a push consumer with `backoff` [300 ms, 900 ms, 1.8 s] and
/// `max_deliver` 4: the gaps between its four deliveries.
async fn backoff_gaps(url: String) -> (usize, Vec<Duration>, Vec<String>) {
    let (client, js) = connect(&url).await;
    create_stream(&client, "BO", json!({})).await;
    let inbox = client.new_inbox();
    let mut subscription = client.subscribe(inbox.clone()).await.expect("subscribe");
    create_consumer(
        &client,
        "BO",
        "C",
        json!({"durable_name": "C", "deliver_subject": inbox, "ack_policy": "explicit",
               "backoff": [300_000_000u64, 900_000_000u64, 1_800_000_000u64], "max_deliver": 4}),
    )
    .await;
    publish(&js, "bo.a", "x".into()).await;
    let seen = arrivals(&mut subscription, 5, Duration::from_secs(6)).await;
    let times: Vec<Instant> = seen.iter().map(|(at, _)| *at).collect();
    // The delivery count is the ack subject's third token after `$JS.ACK`.
    let counts = seen
        .iter()
        .map(|(_, message)| {
            let reply = message.reply.as_deref().unwrap_or("");
            reply.split('.').nth(4).unwrap_or("").to_owned()
        })
        .collect();
    (seen.len(), gaps(&times), counts)
}

#[tokio::test]
async fn redeliveries_follow_the_backoff_list() {
    let (go, natrix) = on_both("backoff", backoff_gaps).await;
    let backoff = [300u64, 900, 1800].map(Duration::from_millis);
    for (server, (count, gaps, counts)) in [("go", go), ("natrix", natrix)] {
        assert_eq!(
            count, 4,
            "{server}: max_deliver 4 deliveries, no fifth: {gaps:?}"
        );
        assert_eq!(counts, ["1", "2", "3", "4"], "{server}");
        for (gap, expected) in gaps.iter().zip(backoff) {
            assert!(
                *gap >= expected - Duration::from_millis(30)
                    && *gap < expected + Duration::from_millis(1200),
                "{server}: gaps {gaps:?} do not follow the backoff {backoff:?}"
            );
        }
    }
}

/// Three messages published 500 ms and then 1 s apart, replayed by a push consumer with
/// `replay_policy: original`: the publish gaps and the delivery gaps.
async fn replay_gaps(url: String) -> (Vec<Duration>, Vec<Duration>) {
    let (client, js) = connect(&url).await;
    create_stream(&client, "RP", json!({})).await;
    let mut published = Vec::new();
    for (index, pause) in [0u64, 500, 1000].into_iter().enumerate() {
        tokio::time::sleep(Duration::from_millis(pause)).await;
        publish(&js, "rp.a", format!("m{index}").into()).await;
        published.push(Instant::now());
    }
    let inbox = client.new_inbox();
    let mut subscription = client.subscribe(inbox.clone()).await.expect("subscribe");
    create_consumer(
        &client,
        "RP",
        "C",
        json!({"durable_name": "C", "deliver_subject": inbox, "ack_policy": "none",
               "replay_policy": "original"}),
    )
    .await;
    let seen = arrivals(&mut subscription, 3, Duration::from_secs(6)).await;
    assert_eq!(seen.len(), 3, "every message replayed");
    let times: Vec<Instant> = seen.iter().map(|(at, _)| *at).collect();
    (gaps(&published), gaps(&times))
}

#[tokio::test]
async fn replay_original_spaces_deliveries_as_the_messages_were_published() {
    let (go, natrix) = on_both("replay", replay_gaps).await;
    for (server, (published, delivered)) in [("go", go), ("natrix", natrix)] {
        for (publish_gap, delivery_gap) in published.iter().zip(&delivered) {
            // The stored times are the server's; the client's view of the publish gap can be
            // off by a round trip either way.
            assert!(
                *delivery_gap + Duration::from_millis(100) >= *publish_gap
                    && *delivery_gap < *publish_gap + Duration::from_millis(800),
                "{server}: published {published:?} apart, delivered {delivered:?} apart"
            );
        }
    }
}

/// Ten 500-byte messages (the stream's `max_msg_size` 600 is the limiter's burst) through a
/// push consumer limited to 16 000 bits (2 000 bytes) a second, and through one without a
/// limit: how long each took from its first delivery to its last.
async fn rate_limited(url: String) -> (Duration, Duration) {
    let (client, js) = connect(&url).await;
    create_stream(&client, "RL", json!({"max_msg_size": 600})).await;
    let payload = Bytes::from(vec![b'r'; 500]);
    for _ in 0..10 {
        publish(&js, "rl.a", payload.clone()).await;
    }
    let mut elapsed = Vec::new();
    for (name, limit) in [("SLOW", 16_000u64), ("FAST", 0)] {
        let inbox = client.new_inbox();
        let mut subscription = client.subscribe(inbox.clone()).await.expect("subscribe");
        let mut config =
            json!({"durable_name": name, "deliver_subject": inbox, "ack_policy": "none"});
        if limit > 0 {
            config["rate_limit_bps"] = json!(limit);
        }
        let started = Instant::now();
        create_consumer(&client, "RL", name, config).await;
        let seen = arrivals(&mut subscription, 10, Duration::from_secs(15)).await;
        assert_eq!(seen.len(), 10, "{name}: every message delivered");
        elapsed.push(seen[9].0 - started);
    }
    (elapsed[0], elapsed[1])
}

#[tokio::test]
async fn rate_limit_bps_slows_a_push_consumer_down() {
    let (go, natrix) = on_both("rate", rate_limited).await;
    for (server, (slow, fast)) in [("go", go), ("natrix", natrix)] {
        // 4 400 bytes past the burst at 2 000 bytes a second: about 2.2 s.
        assert!(
            slow >= Duration::from_millis(1600) && slow < Duration::from_secs(8),
            "{server}: rate-limited delivery took {slow:?}"
        );
        assert!(
            fast < Duration::from_millis(1200),
            "{server}: unlimited took {fast:?}"
        );
    }
}

/// A pull request with `max_bytes` over ten 100-byte messages: how many it got, for several
/// budgets.
async fn max_bytes_counts(url: String) -> Vec<usize> {
    let (client, js) = connect(&url).await;
    create_stream(&client, "MB", json!({})).await;
    let payload = Bytes::from(vec![b'm'; 100]);
    for _ in 0..10 {
        publish(&js, "mb.a", payload.clone()).await;
    }
    let mut counts = Vec::new();
    for (index, budget) in [50usize, 150, 450, 5000].into_iter().enumerate() {
        let name = format!("C{index}");
        create_consumer(
            &client,
            "MB",
            &name,
            json!({"durable_name": name, "ack_policy": "none"}),
        )
        .await;
        let consumer: PullConsumer = js
            .get_consumer_from_stream(&name, "MB")
            .await
            .expect("consumer");
        let mut batch = consumer
            .fetch()
            .max_messages(10)
            .max_bytes(budget)
            .expires(Duration::from_secs(1))
            .messages()
            .await
            .expect("fetch");
        let mut count = 0;
        while let Some(message) = batch.next().await {
            if message.is_ok() {
                count += 1;
            }
        }
        counts.push(count);
    }
    counts
}

#[tokio::test]
async fn pull_max_bytes_bounds_what_a_request_gets() {
    let (go, natrix) = on_both("maxbytes", max_bytes_counts).await;
    assert_eq!(go[0], 0, "a budget below one message gets none: {go:?}");
    assert!(
        go[1] >= 1 && go[2] > go[1] && go[2] < 10 && go[3] == 10,
        "{go:?}"
    );
    assert_eq!(natrix, go);
}

/// Fetches of group `g` on an overflow consumer over five messages, with `min_pending` and
/// `min_ack_pending` thresholds: how many messages each got.
async fn overflow_counts(url: String) -> Vec<usize> {
    let (client, js) = connect(&url).await;
    create_stream(&client, "OV", json!({})).await;
    for index in 0..5 {
        publish(&js, "ov.a", format!("m{index}").into()).await;
    }
    create_consumer(
        &client,
        "OV",
        "C",
        json!({"durable_name": "C", "ack_policy": "explicit", "priority_policy": "overflow",
               "priority_groups": ["g"]}),
    )
    .await;
    let consumer: PullConsumer = js
        .get_consumer_from_stream("C", "OV")
        .await
        .expect("consumer");
    let mut counts = Vec::new();
    // (max messages, min_pending, min_ack_pending)
    for (max, min_pending, min_ack_pending) in [
        (5, Some(10), None), // 5 pending < 10: nothing
        (2, Some(3), None),  // 5 pending >= 3: two, left unacknowledged
        (5, None, Some(5)),  // 2 awaiting ack < 5: nothing
        (1, None, Some(2)),  // 2 awaiting ack >= 2: one
    ] {
        let mut fetch = consumer
            .fetch()
            .group("g")
            .max_messages(max)
            .expires(Duration::from_millis(800));
        if let Some(min) = min_pending {
            fetch = fetch.min_pending(min);
        }
        if let Some(min) = min_ack_pending {
            fetch = fetch.min_ack_pending(min);
        }
        let mut batch = fetch.messages().await.expect("fetch");
        let mut count = 0;
        while let Some(message) = batch.next().await {
            if message.is_ok() {
                count += 1;
            }
        }
        counts.push(count);
    }
    counts
}

#[tokio::test]
async fn overflow_groups_serve_requests_only_past_min_pending_and_min_ack_pending() {
    let (go, natrix) = on_both("overflow", overflow_counts).await;
    assert_eq!(go, [0, 2, 0, 1]);
    assert_eq!(natrix, go);
}

/// Two requests waiting on a prioritized consumer, priority 5 first and then priority 1; two
/// messages published one after the other: which request got which.
async fn prioritized_order(url: String) -> (Vec<String>, Vec<String>) {
    let (client, js) = connect(&url).await;
    create_stream(&client, "PR", json!({})).await;
    create_consumer(
        &client,
        "PR",
        "C",
        json!({"durable_name": "C", "ack_policy": "explicit", "priority_policy": "prioritized",
               "priority_groups": ["g"]}),
    )
    .await;
    let consumer: PullConsumer = js
        .get_consumer_from_stream("C", "PR")
        .await
        .expect("consumer");
    let take = |priority: usize| {
        let consumer = consumer.clone();
        async move {
            let mut batch = consumer
                .fetch()
                .group("g")
                .priority(priority)
                .max_messages(1)
                .expires(Duration::from_secs(4))
                .messages()
                .await
                .expect("fetch");
            let mut got = Vec::new();
            while let Some(message) = batch.next().await {
                if let Ok(message) = message {
                    got.push(String::from_utf8_lossy(&message.payload).into_owned());
                    message.ack().await.expect("ack");
                }
            }
            got
        }
    };
    let low = tokio::spawn(take(5));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let high = tokio::spawn(take(1));
    tokio::time::sleep(Duration::from_millis(300)).await;
    publish(&js, "pr.a", "first".into()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    publish(&js, "pr.a", "second".into()).await;
    (
        high.await.expect("priority 1"),
        low.await.expect("priority 5"),
    )
}

#[tokio::test]
async fn prioritized_consumers_serve_the_lowest_priority_number_first() {
    let (go, natrix) = on_both("prioritized", prioritized_order).await;
    assert_eq!(go, (vec!["first".to_owned()], vec!["second".to_owned()]));
    assert_eq!(natrix, go);
}
