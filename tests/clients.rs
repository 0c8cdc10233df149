//! End-to-end tests with the official Rust client (`async-nats`) against a real Natrix process
//! with two or more shards.

mod common;

use std::time::Duration;

use async_nats::{Client, ConnectOptions};
use bytes::Bytes;
use common::{shard_of, TestServer};
use futures_util::StreamExt;

async fn connect(server: &TestServer) -> Client {
    ConnectOptions::new()
        .connection_timeout(Duration::from_secs(5))
        .connect(server.url())
        .await
        .expect("connect to natrix")
}

fn shard(client: &Client, server: &TestServer) -> usize {
    shard_of(client.server_info().client_id, server.shards)
}

/// Opens connections until one lands on `wanted` shard (the kernel spreads accepts).
async fn connect_on_shard(server: &TestServer, wanted: usize) -> Client {
    for _ in 0..200 {
        let client = connect(server).await;
        if shard(&client, server) == wanted {
            return client;
        }
    }
    panic!("no connection landed on shard {wanted} in 200 tries");
}

/// Waits until every subscription `subscriber` made so far is visible to `publisher`'s shard.
///
/// `async-nats`'s `flush` only flushes the socket (no PING round trip), so a publish from
/// another connection races the SUB, on the Go server as here. A probe subscription made last
/// settles it: interest changes travel between two shards in order, so once the probe's
/// messages arrive, every earlier subscription is in place too.
async fn await_interest_visible(subscriber: &Client, publisher: &Client) {
    let subject = subscriber.new_inbox();
    let mut probe = subscriber
        .subscribe(subject.clone())
        .await
        .expect("probe sub");
    subscriber.flush().await.expect("flush");
    for _ in 0..500 {
        publisher
            .publish(subject.clone(), Bytes::new())
            .await
            .expect("probe pub");
        publisher.flush().await.expect("flush");
        if let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(10), probe.next()).await {
            return;
        }
    }
    panic!("subscriptions never became visible to the publisher's shard");
}

async fn next_payload(subscriber: &mut async_nats::Subscriber) -> Bytes {
    tokio::time::timeout(Duration::from_secs(5), subscriber.next())
        .await
        .expect("message within 5s")
        .expect("subscription open")
        .payload
}

#[tokio::test]
async fn publish_subscribe_with_wildcards_across_shards() {
    let server = TestServer::natrix(2, &[]);
    let subscriber_client = connect_on_shard(&server, 1).await;
    let publisher = connect_on_shard(&server, 0).await;
    let mut exact = subscriber_client
        .subscribe("orders.eu.new")
        .await
        .expect("sub");
    let mut star = subscriber_client
        .subscribe("orders.*.new")
        .await
        .expect("sub");
    let mut full = subscriber_client.subscribe("orders.>").await.expect("sub");
    await_interest_visible(&subscriber_client, &publisher).await;
    publisher
        .publish("orders.eu.new", "one".into())
        .await
        .expect("pub");
    publisher
        .publish("orders.us.new", "two".into())
        .await
        .expect("pub");
    publisher
        .publish("orders.us.old.x", "three".into())
        .await
        .expect("pub");
    publisher.flush().await.expect("flush");
    assert_eq!(next_payload(&mut exact).await, "one");
    assert_eq!(next_payload(&mut star).await, "one");
    assert_eq!(next_payload(&mut star).await, "two");
    assert_eq!(next_payload(&mut full).await, "one");
    assert_eq!(next_payload(&mut full).await, "two");
    assert_eq!(next_payload(&mut full).await, "three");
}

#[tokio::test]
async fn subscription_made_on_one_shard_becomes_visible_to_publishers_on_another() {
    let server = TestServer::natrix(2, &[]);
    let subscriber_client = connect_on_shard(&server, 0).await;
    let publisher = connect_on_shard(&server, 1).await;
    for round in 0..20 {
        let subject = format!("fresh.{round}");
        let mut subscriber = subscriber_client
            .subscribe(subject.clone())
            .await
            .expect("sub");
        await_interest_visible(&subscriber_client, &publisher).await;
        publisher.publish(subject, "x".into()).await.expect("pub");
        publisher.flush().await.expect("flush");
        assert_eq!(next_payload(&mut subscriber).await, "x", "round {round}");
    }
}

#[tokio::test]
async fn publish_order_is_kept_between_shards_under_load() {
    let server = TestServer::natrix(2, &[]);
    let subscriber_client = connect_on_shard(&server, 1).await;
    let publisher = connect_on_shard(&server, 0).await;
    let mut subscriber = subscriber_client.subscribe("ordered").await.expect("sub");
    await_interest_visible(&subscriber_client, &publisher).await;
    const COUNT: u64 = 50_000;
    let publishing = tokio::spawn(async move {
        for sequence in 0..COUNT {
            publisher
                .publish("ordered", sequence.to_string().into())
                .await
                .expect("pub");
        }
        publisher.flush().await.expect("flush");
    });
    for expected in 0..COUNT {
        let payload = next_payload(&mut subscriber).await;
        let sequence: u64 = std::str::from_utf8(&payload)
            .expect("utf8")
            .parse()
            .expect("number");
        assert_eq!(sequence, expected, "messages arrived out of order");
    }
    publishing.await.expect("publisher task");
}

#[tokio::test]
async fn queue_group_delivers_each_message_to_exactly_one_member_across_shards() {
    let server = TestServer::natrix(2, &[]);
    let mut members = Vec::new();
    let mut member_shards = Vec::new();
    for wanted_shard in [0, 1, 0, 1] {
        let client = connect_on_shard(&server, wanted_shard).await;
        let subscriber = client
            .queue_subscribe("work", "workers".into())
            .await
            .expect("qsub");
        member_shards.push(wanted_shard);
        members.push((client, subscriber));
    }
    let publisher = connect(&server).await;
    for (client, _) in &members {
        await_interest_visible(client, &publisher).await;
    }
    const COUNT: usize = 2_000;
    for index in 0..COUNT {
        publisher
            .publish("work", index.to_string().into())
            .await
            .expect("pub");
    }
    publisher.flush().await.expect("flush");
    let mut seen = vec![false; COUNT];
    let mut per_member = vec![0usize; members.len()];
    let mut total = 0;
    while total < COUNT {
        let mut progressed = false;
        for (index, (_, subscriber)) in members.iter_mut().enumerate() {
            while let Ok(Some(message)) =
                tokio::time::timeout(Duration::from_millis(50), subscriber.next()).await
            {
                let number: usize = std::str::from_utf8(&message.payload)
                    .expect("utf8")
                    .parse()
                    .expect("number");
                assert!(!seen[number], "message {number} delivered twice");
                seen[number] = true;
                per_member[index] += 1;
                total += 1;
                progressed = true;
            }
        }
        assert!(progressed, "stalled after {total} of {COUNT} messages");
    }
    for (index, count) in per_member.iter().enumerate() {
        assert!(
            *count > 0,
            "member {index} on shard {} got nothing",
            member_shards[index]
        );
    }
}

#[tokio::test]
async fn request_reply_works_across_shards_and_reports_no_responders() {
    let server = TestServer::natrix(2, &[]);
    let responder_client = connect_on_shard(&server, 0).await;
    let requester = connect_on_shard(&server, 1).await;
    let mut service = responder_client
        .subscribe("service.echo")
        .await
        .expect("sub");
    await_interest_visible(&responder_client, &requester).await;
    let responder = tokio::spawn(async move {
        while let Some(request) = service.next().await {
            let reply = request.reply.expect("request has a reply subject");
            let mut answer = b"echo: ".to_vec();
            answer.extend_from_slice(&request.payload);
            responder_client
                .publish(reply, answer.into())
                .await
                .expect("reply");
        }
    });
    for round in 0..50 {
        let response = requester
            .request("service.echo", format!("ping {round}").into())
            .await
            .expect("response");
        assert_eq!(response.payload, format!("echo: ping {round}"));
    }
    let error = requester
        .request("service.nobody", "hi".into())
        .await
        .expect_err("no one there");
    assert_eq!(error.kind(), async_nats::RequestErrorKind::NoResponders);
    responder.abort();
}

#[tokio::test]
async fn headers_travel_across_shards() {
    let server = TestServer::natrix(2, &[]);
    let subscriber_client = connect_on_shard(&server, 0).await;
    let publisher = connect_on_shard(&server, 1).await;
    let mut subscriber = subscriber_client
        .subscribe("with.headers")
        .await
        .expect("sub");
    await_interest_visible(&subscriber_client, &publisher).await;
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Trace-Id", "abc-123");
    headers.append("Multi", "one");
    headers.append("Multi", "two");
    publisher
        .publish_with_headers("with.headers", headers, "body".into())
        .await
        .expect("pub");
    publisher.flush().await.expect("flush");
    let message = tokio::time::timeout(Duration::from_secs(5), subscriber.next())
        .await
        .expect("in time")
        .expect("open");
    let received = message.headers.expect("headers arrived");
    assert_eq!(
        received.get("Trace-Id").map(|value| value.as_str()),
        Some("abc-123")
    );
    let multi: Vec<&str> = received
        .get_all("Multi")
        .map(|value| value.as_str())
        .collect();
    assert_eq!(multi, vec!["one", "two"]);
    assert_eq!(message.payload, "body");
}

#[tokio::test]
async fn large_payloads_cross_shards_intact() {
    let server = TestServer::natrix(2, &[]);
    let subscriber_client = connect_on_shard(&server, 0).await;
    let publisher = connect_on_shard(&server, 1).await;
    let mut subscriber = subscriber_client.subscribe("big").await.expect("sub");
    await_interest_visible(&subscriber_client, &publisher).await;
    let payload: Bytes = (0..1_000_000u32)
        .map(|index| (index % 251) as u8)
        .collect::<Vec<_>>()
        .into();
    for _ in 0..5 {
        publisher
            .publish("big", payload.clone())
            .await
            .expect("pub");
    }
    publisher.flush().await.expect("flush");
    for _ in 0..5 {
        assert_eq!(next_payload(&mut subscriber).await, payload);
    }
}

#[tokio::test]
async fn unsubscribe_after_max_messages_stops_delivery() {
    let server = TestServer::natrix(2, &[]);
    let subscriber_client = connect_on_shard(&server, 0).await;
    let publisher = connect_on_shard(&server, 1).await;
    let mut subscriber = subscriber_client.subscribe("limited").await.expect("sub");
    subscriber.unsubscribe_after(3).await.expect("unsub after");
    await_interest_visible(&subscriber_client, &publisher).await;
    for index in 0..10 {
        publisher
            .publish("limited", index.to_string().into())
            .await
            .expect("pub");
    }
    publisher.flush().await.expect("flush");
    let mut received = Vec::new();
    while let Ok(Some(message)) =
        tokio::time::timeout(Duration::from_millis(500), subscriber.next()).await
    {
        received.push(message.payload);
    }
    assert_eq!(
        received,
        vec![Bytes::from("0"), Bytes::from("1"), Bytes::from("2")]
    );
}
