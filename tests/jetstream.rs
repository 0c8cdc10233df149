//! JetStream streams end to end: a real `natrix -js` process with several shards, real files
//! in a temporary store directory, and the official clients (`async-nats`' JetStream API, and
//! `nats-py` from the repository's virtual environment).

mod common;

use std::time::{Duration, Instant};

use async_nats::jetstream::{self, stream};
use bytes::Bytes;
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
async fn streams_are_created_listed_updated_and_deleted_across_shards() {
    let store = StoreDir::new("lifecycle");
    let server = start(3, &store);
    let (_client, js) = connect(&server).await;
    // Six streams spread over the three shards' ownership.
    for index in 0..6 {
        let name = format!("S{index}");
        let subject = format!("s{index}.>");
        let info = js
            .create_stream(config(&name, &[&subject]))
            .await
            .expect("create")
            .cached_info()
            .clone();
        assert_eq!(info.config.name, name);
        assert_eq!(info.config.max_messages, -1, "Go's default");
        assert_eq!(info.config.duplicate_window, Duration::from_secs(120));
        assert_eq!(info.state.messages, 0);
    }
    // An identical create answers with the existing stream; a different one is refused.
    js.create_stream(config("S1", &["s1.>"]))
        .await
        .expect("identical create is accepted");
    let error = js
        .create_stream(config("S1", &["other.>"]))
        .await
        .expect_err("different config");
    assert!(
        error.to_string().contains("stream name already in use"),
        "{error}"
    );
    let error = js
        .create_stream(config("OVERLAP", &["s2.x"]))
        .await
        .expect_err("overlapping subjects");
    assert!(
        error
            .to_string()
            .contains("subjects overlap with an existing stream"),
        "{error}"
    );
    let mut names: Vec<String> = js.stream_names().try_collect().await.expect("names");
    names.sort();
    assert_eq!(names, ["S0", "S1", "S2", "S3", "S4", "S5"]);
    let listed: Vec<stream::Info> = js.streams().try_collect().await.expect("list");
    assert_eq!(listed.len(), 6);
    assert!(listed.iter().all(|info| info.state.messages == 0));

    let mut updated = config("S3", &["s3.>", "three.>"]);
    updated.max_messages = 5;
    let info = js.update_stream(updated).await.expect("update");
    assert_eq!(info.config.max_messages, 5);
    assert_eq!(info.config.subjects, ["s3.>", "three.>"]);
    // The new subject captures publishes at once.
    let ack = js
        .publish("three.a", Bytes::from_static(b"x"))
        .await
        .expect("publish")
        .await
        .expect("ack");
    assert_eq!((ack.stream.as_str(), ack.sequence), ("S3", 1));

    assert!(js.delete_stream("S0").await.expect("delete").success);
    assert!(js.delete_stream("S4").await.expect("delete").success);
    let error = js.delete_stream("S0").await.err().expect("gone");
    assert!(error.to_string().contains("stream not found"), "{error}");
    let mut names: Vec<String> = js.stream_names().try_collect().await.expect("names");
    names.sort();
    assert_eq!(names, ["S1", "S2", "S3", "S5"]);
    // A deleted stream's name can be used again at once, empty.
    let info = js
        .create_stream(config("S0", &["s0.>"]))
        .await
        .expect("recreate")
        .cached_info()
        .clone();
    assert_eq!(info.state.messages, 0);
}

#[tokio::test]
async fn publishes_are_acknowledged_stored_and_read_back_with_their_headers() {
    let store = StoreDir::new("publish");
    let server = start(2, &store);
    let (_client, js) = connect(&server).await;
    let mut orders = config("ORDERS", &["orders.>"]);
    orders.allow_direct = true;
    let stream = js.create_stream(orders).await.expect("create");
    // Asynchronous publishes: all sent, then every ack awaited, in sequence order.
    let mut pending = Vec::new();
    for index in 0..100 {
        let subject = format!("orders.{}", index % 4);
        let ack = js
            .publish(subject, Bytes::from(format!("order {index}")))
            .await
            .expect("publish");
        pending.push(ack);
    }
    for (index, ack) in pending.into_iter().enumerate() {
        let ack = ack.await.expect("ack");
        assert_eq!(ack.sequence, index as u64 + 1);
        assert_eq!(ack.stream, "ORDERS");
        assert!(!ack.duplicate);
    }
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("X-Trace", "abc");
    let ack = js
        .publish_with_headers(
            "orders.special",
            headers,
            Bytes::from_static(b"with headers"),
        )
        .await
        .expect("publish")
        .await
        .expect("ack");
    assert_eq!(ack.sequence, 101);

    let message = stream.get_raw_message(101).await.expect("msg get by seq");
    assert_eq!(message.subject.as_str(), "orders.special");
    assert_eq!(&message.payload[..], b"with headers");
    assert_eq!(
        message.headers.get("X-Trace").map(|value| value.as_str()),
        Some("abc")
    );
    let last = stream
        .get_last_raw_message_by_subject("orders.2")
        .await
        .expect("last by subject");
    assert_eq!((last.sequence, &last.payload[..]), (99, &b"order 98"[..]));
    let next = stream
        .get_first_raw_message_by_subject("orders.1", 47)
        .await
        .expect("next by subject from a sequence");
    assert_eq!(next.sequence, 50);

    let direct = stream.direct_get(7).await.expect("direct get");
    assert_eq!(
        (direct.subject.as_str(), &direct.payload[..]),
        ("orders.2", &b"order 6"[..])
    );
    let direct = stream
        .direct_get_last_for_subject("orders.special")
        .await
        .expect("direct last");
    assert_eq!(direct.sequence, 101);
    let direct = stream
        .direct_get_next_for_subject("orders.3", Some(90))
        .await
        .expect("direct next");
    assert_eq!(direct.sequence, 92);

    assert!(stream.delete_message(7).await.expect("delete"));
    let error = stream.get_raw_message(7).await.expect_err("deleted");
    assert!(error.to_string().contains("no message found"), "{error}");
    let info = js
        .get_stream("ORDERS")
        .await
        .expect("info")
        .cached_info()
        .clone();
    assert_eq!(info.state.messages, 100);
    assert_eq!(info.state.last_sequence, 101);
    assert_eq!(info.state.deleted_count, Some(1));
}

#[tokio::test]
async fn publishes_from_connections_on_every_shard_keep_their_order() {
    let store = StoreDir::new("order");
    let server = start(3, &store);
    let (_client, js) = connect(&server).await;
    let stream = js
        .create_stream(config("EVENTS", &["events.>"]))
        .await
        .expect("create");
    let publishers = 6;
    let per_publisher = 300;
    let mut tasks = Vec::new();
    for publisher in 0..publishers {
        let url = server.url();
        tasks.push(tokio::spawn(async move {
            let client = async_nats::connect(url).await.expect("connect");
            let js = jetstream::new(client);
            let mut acks = Vec::new();
            for index in 0..per_publisher {
                let payload = Bytes::from(format!("{publisher}:{index}"));
                acks.push(
                    js.publish(format!("events.{publisher}"), payload)
                        .await
                        .expect("publish"),
                );
            }
            for ack in acks {
                ack.await.expect("ack");
            }
        }));
    }
    for task in tasks {
        task.await.expect("publisher");
    }
    let total = publishers * per_publisher;
    let info = js
        .get_stream("EVENTS")
        .await
        .expect("info")
        .cached_info()
        .clone();
    assert_eq!(info.state.messages, total as u64);
    let mut next = vec![0u32; publishers];
    for seq in 1..=total as u64 {
        let message = stream.get_raw_message(seq).await.expect("stored");
        let text = String::from_utf8(message.payload.to_vec()).expect("utf-8");
        let (publisher, index) = text.split_once(':').expect("publisher:index");
        let publisher: usize = publisher.parse().expect("number");
        let index: u32 = index.parse().expect("number");
        assert_eq!(
            index, next[publisher],
            "publisher {publisher} out of order at {seq}"
        );
        next[publisher] += 1;
    }
}

#[tokio::test]
async fn duplicates_and_expectations_are_answered_as_the_go_server_does() {
    let store = StoreDir::new("headers");
    let server = start(2, &store);
    let (client, js) = connect(&server).await;
    js.create_stream(config("DEDUPE", &["dedupe.>"]))
        .await
        .expect("create");
    let publish = |id: &'static str, extra: Option<(&'static str, &'static str)>| {
        let js = js.clone();
        async move {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Nats-Msg-Id", id);
            if let Some((name, value)) = extra {
                headers.insert(name, value);
            }
            js.publish_with_headers("dedupe.a", headers, Bytes::from_static(b"x"))
                .await
                .expect("publish")
                .await
        }
    };
    let first = publish("one", None).await.expect("stored");
    assert_eq!((first.sequence, first.duplicate), (1, false));
    let again = publish("one", None).await.expect("duplicate ack");
    assert_eq!((again.sequence, again.duplicate), (1, true));
    let error = publish("two", Some(("Nats-Expected-Last-Sequence", "5")))
        .await
        .expect_err("wrong last sequence");
    assert!(
        error.to_string().contains("wrong last sequence: 1"),
        "{error}"
    );
    let error = publish("three", Some(("Nats-Expected-Stream", "OTHER")))
        .await
        .expect_err("wrong stream");
    assert!(
        error.to_string().contains("expected stream does not match"),
        "{error}"
    );
    let ok = publish("four", Some(("Nats-Expected-Last-Msg-Id", "one")))
        .await
        .expect("expected last id");
    assert_eq!(ok.sequence, 2);
    // The raw PubAck bytes are the Go server's.
    let reply = client
        .request("dedupe.b", Bytes::from_static(b"raw"))
        .await
        .expect("ack");
    assert_eq!(&reply.payload[..], br#"{"stream":"DEDUPE","seq":3}"#);
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", "four");
    let reply = client
        .request_with_headers("dedupe.b", headers, Bytes::from_static(b"raw"))
        .await
        .expect("ack");
    assert_eq!(
        &reply.payload[..],
        br#"{"stream":"DEDUPE","seq":2,"duplicate": true}"#
    );
}

#[tokio::test]
async fn purge_removes_by_filter_keep_and_sequence() {
    let store = StoreDir::new("purge");
    let server = start(2, &store);
    let (_client, js) = connect(&server).await;
    let stream = js
        .create_stream(config("P", &["p.>"]))
        .await
        .expect("create");
    for index in 0..30 {
        js.publish(format!("p.{}", index % 3), Bytes::from_static(b"x"))
            .await
            .expect("publish")
            .await
            .expect("ack");
    }
    let purged = stream.purge().filter("p.0").await.expect("filter");
    assert_eq!(purged.purged, 10);
    let purged = stream.purge().filter("p.1").keep(2).await.expect("keep");
    assert_eq!(purged.purged, 8);
    let purged = stream.purge().sequence(15).await.expect("below sequence");
    // Left before: p.2 at 3,6,...,30 (10) and p.1 at 26, 29. Below 15: 3,6,9,12.
    assert_eq!(purged.purged, 4);
    let info = js
        .get_stream("P")
        .await
        .expect("info")
        .cached_info()
        .clone();
    assert_eq!(info.state.messages, 8);
    let purged = stream.purge().await.expect("all");
    assert_eq!(purged.purged, 8);
    // The next publish continues the sequence.
    let ack = js
        .publish("p.0", Bytes::from_static(b"x"))
        .await
        .expect("publish")
        .await
        .expect("ack");
    assert_eq!(ack.sequence, 31);
}

#[tokio::test]
async fn limits_are_enforced_with_the_go_servers_errors() {
    let store = StoreDir::new("limits");
    let server = start(2, &store);
    let (_client, js) = connect(&server).await;
    let mut new = config("NEW", &["new.>"]);
    new.max_messages = 2;
    new.discard = stream::DiscardPolicy::New;
    js.create_stream(new).await.expect("create");
    for _ in 0..2 {
        js.publish("new.a", Bytes::from_static(b"x"))
            .await
            .expect("publish")
            .await
            .expect("ack");
    }
    let error = js
        .publish("new.a", Bytes::from_static(b"x"))
        .await
        .expect("publish")
        .await
        .expect_err("full");
    assert!(
        error.to_string().contains("maximum messages exceeded"),
        "{error}"
    );

    let mut old = config("OLD", &["old.>"]);
    old.max_messages_per_subject = 2;
    old.max_message_size = 8;
    let stream = js.create_stream(old).await.expect("create");
    for index in 0..5 {
        js.publish("old.a", Bytes::from(format!("{index}")))
            .await
            .expect("publish")
            .await
            .expect("ack");
    }
    let info = js
        .get_stream("OLD")
        .await
        .expect("info")
        .cached_info()
        .clone();
    assert_eq!(info.state.messages, 2, "the oldest went");
    assert_eq!(info.state.first_sequence, 4);
    let error = js
        .publish("old.b", Bytes::from_static(b"much too long"))
        .await
        .expect("publish")
        .await
        .expect_err("too large");
    assert!(
        error
            .to_string()
            .contains("message size exceeds maximum allowed"),
        "{error}"
    );
    drop(stream);

    let mut aging = config("AGING", &["aging.>"]);
    aging.max_age = Duration::from_millis(500);
    js.create_stream(aging).await.expect("create");
    for _ in 0..3 {
        js.publish("aging.a", Bytes::from_static(b"x"))
            .await
            .expect("publish")
            .await
            .expect("ack");
    }
    let emptied = eventually(Duration::from_secs(15), || {
        let js = js.clone();
        async move {
            let info = js
                .get_stream("AGING")
                .await
                .expect("info")
                .cached_info()
                .clone();
            info.state.messages == 0
        }
    })
    .await;
    assert!(emptied, "messages older than max_age are removed");
}

#[tokio::test]
async fn file_streams_survive_a_restart_and_memory_streams_do_not() {
    let store = StoreDir::new("restart");
    let server = start(3, &store);
    {
        let (_client, js) = connect(&server).await;
        js.create_stream(config("DISK", &["disk.>"]))
            .await
            .expect("create");
        let mut memory = config("MEM", &["mem.>"]);
        memory.storage = stream::StorageType::Memory;
        js.create_stream(memory).await.expect("create");
        for index in 0..50 {
            js.publish("disk.a", Bytes::from(format!("m{index}")))
                .await
                .expect("publish")
                .await
                .expect("ack");
        }
        js.publish("mem.a", Bytes::from_static(b"x"))
            .await
            .expect("publish")
            .await
            .expect("ack");
    }
    assert_eq!(server.stop(), Some(0));
    // A different shard count: ownership is derived again, nothing is lost.
    let server = start(2, &store);
    assert!(
        server
            .startup_log
            .iter()
            .any(|line| line.contains("Restored 50 messages for stream '$G > DISK'")),
        "{:#?}",
        server.startup_log
    );
    let (_client, js) = connect(&server).await;
    let stream = js.get_stream("DISK").await.expect("recovered");
    assert_eq!(stream.cached_info().state.messages, 50);
    let message = stream.get_raw_message(25).await.expect("message 25");
    assert_eq!(&message.payload[..], b"m24");
    let ack = js
        .publish("disk.a", Bytes::from_static(b"after"))
        .await
        .expect("publish")
        .await
        .expect("ack");
    assert_eq!(ack.sequence, 51);
    let error = js
        .get_stream("MEM")
        .await
        .expect_err("memory streams are gone");
    assert!(error.to_string().contains("stream not found"), "{error}");
}

#[tokio::test]
async fn account_info_reports_usage_limits_and_api_requests() {
    let store = StoreDir::new("account");
    let server = start(2, &store);
    let (_client, js) = connect(&server).await;
    let before = js.query_account().await.expect("account info");
    assert_eq!(before.streams, 0);
    assert_eq!(before.limits.max_streams, None, "-1: unlimited");
    let mut capped = config("CAPPED", &["capped"]);
    capped.max_bytes = 4096;
    js.create_stream(capped).await.expect("create");
    js.create_stream(config("OTHER", &["other"]))
        .await
        .expect("create");
    for _ in 0..10 {
        js.publish("other", Bytes::from_static(b"0123456789"))
            .await
            .expect("publish")
            .await
            .expect("ack");
    }
    let after = js.query_account().await.expect("account info");
    assert_eq!(after.streams, 2);
    assert_eq!(after.reserved_storage, 4096);
    assert!(after.storage > 0);
    assert_eq!(after.memory, 0);
    // The first INFO, two creates: counted wherever they were answered.
    assert_eq!(after.requests.total, before.requests.total + 3);
    assert_eq!(after.requests.errors, 0);
}

#[tokio::test]
async fn accounts_get_jetstream_and_its_limits_only_as_configured() {
    let store = StoreDir::new("accounts");
    let config_file = store.0.join("accounts.conf");
    std::fs::write(
        &config_file,
        format!(
            "jetstream {{ store_dir: {:?} }}\n\
             accounts {{\n\
               JS {{ users: [{{user: js, password: js}}], jetstream {{ max_streams: 1, max_file: 1M }} }}\n\
               PLAIN {{ users: [{{user: plain, password: plain}}] }}\n\
             }}\n",
            store.path()
        ),
    )
    .expect("config");
    let server = TestServer::natrix(2, &["-c", config_file.to_str().expect("utf-8")]);
    let login = |user: &str| {
        async_nats::ConnectOptions::with_user_and_password(user.into(), user.into())
            .connect(server.url())
    };
    let plain = login("plain").await.expect("connect");
    let error = jetstream::new(plain)
        .query_account()
        .await
        .expect_err("no JetStream");
    assert!(
        error
            .to_string()
            .contains("JetStream not enabled for account"),
        "{error}"
    );
    let client = login("js").await.expect("connect");
    let js = jetstream::new(client);
    let account = js.query_account().await.expect("account info");
    assert_eq!(account.limits.max_streams, Some(1));
    // `1M` in the config syntax is 1,000,000 bytes, as in the Go server.
    assert_eq!(account.limits.max_storage, Some(1_000_000));
    js.create_stream(config("ONE", &["one"]))
        .await
        .expect("first stream");
    let error = js
        .create_stream(config("TWO", &["two"]))
        .await
        .expect_err("over the limit");
    assert!(
        error
            .to_string()
            .contains("maximum number of streams reached"),
        "{error}"
    );
}

#[tokio::test]
async fn direct_get_batches_and_multi_last_answer_with_go_headers() {
    let store = StoreDir::new("direct");
    let server = start(2, &store);
    let (client, js) = connect(&server).await;
    let mut kv = config("KV", &["kv.>"]);
    kv.allow_direct = true;
    js.create_stream(kv).await.expect("create");
    for (subject, value) in [("kv.a", "1"), ("kv.b", "2"), ("kv.a", "3"), ("kv.c", "4")] {
        js.publish(subject, Bytes::from(value))
            .await
            .expect("publish")
            .await
            .expect("ack");
    }
    let inbox = client.new_inbox();
    let mut replies = client.subscribe(inbox.clone()).await.expect("subscribe");
    client
        .publish_with_reply(
            "$JS.API.DIRECT.GET.KV",
            inbox.clone(),
            Bytes::from_static(br#"{"seq":1,"batch":3}"#),
        )
        .await
        .expect("request");
    let mut seen = Vec::new();
    while let Some(message) = tokio::time::timeout(
        Duration::from_secs(5),
        futures_util::StreamExt::next(&mut replies),
    )
    .await
    .expect("reply")
    {
        let headers = message.headers.clone().expect("headers");
        if message.status == Some(async_nats::StatusCode::from_u16(204).expect("204")) {
            assert_eq!(
                headers.get("Nats-Num-Pending").map(|v| v.as_str()),
                Some("1")
            );
            assert_eq!(
                headers.get("Nats-Last-Sequence").map(|v| v.as_str()),
                Some("3")
            );
            break;
        }
        seen.push((
            headers.get("Nats-Sequence").map(|v| v.to_string()),
            headers.get("Nats-Num-Pending").map(|v| v.to_string()),
            message.payload.clone(),
        ));
    }
    assert_eq!(
        seen,
        vec![
            (Some("1".into()), Some("3".into()), Bytes::from_static(b"1")),
            (Some("2".into()), Some("2".into()), Bytes::from_static(b"2")),
            (Some("3".into()), Some("1".into()), Bytes::from_static(b"3")),
        ]
    );
    client
        .publish_with_reply(
            "$JS.API.DIRECT.GET.KV",
            inbox.clone(),
            Bytes::from_static(br#"{"multi_last":["kv.>"]}"#),
        )
        .await
        .expect("request");
    let mut values = Vec::new();
    loop {
        let message = tokio::time::timeout(
            Duration::from_secs(5),
            futures_util::StreamExt::next(&mut replies),
        )
        .await
        .expect("reply")
        .expect("open");
        if message.payload.is_empty() {
            let headers = message.headers.expect("EOB headers");
            assert_eq!(
                headers.get("Nats-UpTo-Sequence").map(|v| v.as_str()),
                Some("4")
            );
            break;
        }
        values.push(message.payload);
    }
    assert_eq!(values, ["2", "3", "4"]);
    // A missing message and a bad request get their status lines.
    let reply = client
        .request(
            "$JS.API.DIRECT.GET.KV",
            Bytes::from_static(br#"{"seq":99}"#),
        )
        .await
        .expect("reply");
    assert_eq!(reply.status, Some(async_nats::StatusCode::NOT_FOUND));
    let reply = client
        .request("$JS.API.DIRECT.GET.KV", Bytes::new())
        .await
        .expect("reply");
    assert_eq!(reply.description.as_deref(), Some("Empty Request"));
}

/// `nats-py`'s JetStream API against Natrix: what Python users run.
#[test]
fn the_python_client_manages_streams_and_publishes() {
    let store = StoreDir::new("python");
    let server = start(2, &store);
    let script = format!(
        r#"
import asyncio, nats
from nats.js.api import StreamConfig

async def main():
    nc = await nats.connect("{url}")
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name="PY", subjects=["py.>"], allow_direct=True))
    for i in range(20):
        ack = await js.publish("py.%d" % (i % 2), b"value %d" % i, headers={{"X-I": str(i)}})
        assert ack.seq == i + 1, ack
    info = await js.stream_info("PY")
    assert info.state.messages == 20, info
    msg = await js.get_msg("PY", 5)
    assert msg.data == b"value 4" and msg.headers["X-I"] == "4", msg
    last = await js.get_last_msg("PY", "py.1")
    assert last.seq == 20, last
    direct = await js.get_msg("PY", 3, direct=True)
    assert direct.data == b"value 2", direct
    purged = await js.purge_stream("PY", subject="py.0")
    assert purged, purged
    info = await js.stream_info("PY")
    assert info.state.messages == 10, info
    names = await js.streams_info()
    assert [s.config.name for s in names] == ["PY"], names
    assert await js.delete_stream("PY")
    account = await js.account_info()
    assert account.streams == 0, account
    await nc.close()
    print("ok")

asyncio.run(main())
"#,
        url = server.url()
    );
    assert_eq!(common::run_nats_py(&script, &[]).trim(), "ok");
}

#[tokio::test]
async fn the_domain_api_serves_clients_that_name_the_domain() {
    let store = StoreDir::new("domain");
    let config = store.0.join("server.conf");
    std::fs::write(
        &config,
        format!(
            "jetstream {{\n  store_dir: {:?}\n  domain: hub\n}}\n",
            store.0.join("data").to_str().expect("utf-8")
        ),
    )
    .expect("config file");
    let server = TestServer::natrix(2, &["-c", config.to_str().expect("utf-8")]);
    let client = async_nats::connect(server.url()).await.expect("connect");
    let js = jetstream::with_domain(client.clone(), "hub");
    js.create_stream(config_for_domain()).await.expect("create");
    let ack = js
        .publish("hub.orders.1", Bytes::from_static(b"one"))
        .await
        .expect("publish")
        .await
        .expect("ack");
    assert_eq!(ack.domain, "hub");
    assert_eq!(ack.sequence, 1);
    let account = js.query_account().await.expect("account info");
    assert_eq!(account.domain.as_deref(), Some("hub"));
    assert_eq!(account.streams, 1);
    // The plain API answers too; a domain this server is not in gets no answer.
    let plain = jetstream::new(client.clone());
    assert!(plain.get_stream("HUB").await.is_ok());
    let elsewhere = jetstream::with_domain(client, "other");
    assert!(elsewhere.query_account().await.is_err());
}

fn config_for_domain() -> stream::Config {
    config("HUB", &["hub.orders.>"])
}

#[tokio::test]
async fn subject_transforms_rewrite_what_is_stored_and_republish_follows_updates() {
    let store = StoreDir::new("republish");
    let server = start(2, &store);
    let (client, js) = connect(&server).await;
    let mut republished = client.subscribe("copy.>").await.expect("subscribe");
    client.flush().await.expect("flush");
    let mut settings = stream::Config {
        subject_transform: Some(stream::SubjectTransform {
            source: "raw.*".to_owned(),
            destination: "clean.{{wildcard(1)}}".to_owned(),
        }),
        republish: Some(stream::Republish {
            source: "clean.>".to_owned(),
            destination: "copy.>".to_owned(),
            headers_only: false,
        }),
        ..config("RP", &["raw.*"])
    };
    let mut created = js.create_stream(settings.clone()).await.expect("create");
    js.publish("raw.one", Bytes::from_static(b"first"))
        .await
        .expect("publish")
        .await
        .expect("ack");
    let stored = created.get_raw_message(1).await.expect("get");
    assert_eq!(stored.subject.as_str(), "clean.one");
    let copy = tokio::time::timeout(Duration::from_secs(5), republished.next())
        .await
        .expect("republished")
        .expect("open");
    assert_eq!(copy.subject.as_str(), "copy.one");
    assert_eq!(&copy.payload[..], b"first");
    let headers = copy.headers.expect("headers");
    assert_eq!(headers.get("Nats-Stream").map(|v| v.as_str()), Some("RP"));
    assert_eq!(
        headers.get("Nats-Subject").map(|v| v.as_str()),
        Some("clean.one")
    );

    // Headers only, after an update: the size instead of the payload.
    settings.republish = Some(stream::Republish {
        source: "clean.>".to_owned(),
        destination: "copy.>".to_owned(),
        headers_only: true,
    });
    js.update_stream(settings.clone()).await.expect("update");
    js.publish("raw.one", Bytes::from_static(b"second"))
        .await
        .expect("publish")
        .await
        .expect("ack");
    let copy = tokio::time::timeout(Duration::from_secs(5), republished.next())
        .await
        .expect("republished")
        .expect("open");
    assert!(copy.payload.is_empty());
    let headers = copy.headers.expect("headers");
    assert_eq!(headers.get("Nats-Msg-Size").map(|v| v.as_str()), Some("6"));
    assert_eq!(
        headers.get("Nats-Last-Sequence").map(|v| v.as_str()),
        Some("1")
    );
    assert_eq!(created.info().await.expect("info").state.messages, 2);

    // The token functions of Go's mapping language run too: a token split in two.
    settings.name = "SPLIT".to_owned();
    settings.subjects = vec!["split.*".to_owned()];
    settings.republish = None;
    settings.subject_transform = Some(stream::SubjectTransform {
        source: "split.*".to_owned(),
        destination: "parts.{{splitFromLeft(1,2)}}".to_owned(),
    });
    let split = js.create_stream(settings).await.expect("created");
    js.publish("split.abcd", "x".into())
        .await
        .expect("publish")
        .await
        .expect("ack");
    let stored = split.get_raw_message(1).await.expect("stored");
    assert_eq!(stored.subject.as_str(), "parts.ab.cd");
}

#[tokio::test]
async fn concurrent_atomic_batches_are_stored_whole_and_contiguous() {
    let store = StoreDir::new("batches");
    let server = start(3, &store);
    let (client, js) = connect(&server).await;
    js.create_stream(stream::Config {
        allow_atomic_publish: true,
        ..config("BATCH", &["batch.>"])
    })
    .await
    .expect("create");
    const CLIENTS: usize = 6;
    const BATCHES: usize = 10;
    const SIZE: usize = 8;
    let mut tasks = Vec::new();
    for client_index in 0..CLIENTS {
        // Each client on its own connection, so the batches arrive through several shards.
        let url = server.url();
        tasks.push(tokio::spawn(async move {
            let client = async_nats::connect(url).await.expect("connect");
            for batch in 0..BATCHES {
                let id = format!("c{client_index}-b{batch}");
                for seq in 1..=SIZE {
                    let mut headers = async_nats::HeaderMap::new();
                    headers.insert("Nats-Batch-Id", id.as_str());
                    headers.insert("Nats-Batch-Sequence", seq.to_string().as_str());
                    if seq == SIZE {
                        headers.insert("Nats-Batch-Commit", "1");
                    }
                    let subject = format!("batch.{client_index}");
                    let reply = client
                        .request_with_headers(subject, headers, Bytes::from(id.clone()))
                        .await
                        .expect("answered");
                    if seq == SIZE {
                        let ack: serde_json::Value =
                            serde_json::from_slice(&reply.payload).expect("PubAck");
                        assert_eq!(ack["batch"], id.as_str(), "{ack}");
                        assert_eq!(ack["count"], SIZE, "{ack}");
                    } else {
                        assert!(reply.payload.is_empty(), "staged: {reply:?}");
                    }
                }
            }
        }));
    }
    for task in tasks {
        task.await.expect("client task");
    }
    let mut stream = js.get_stream("BATCH").await.expect("stream");
    let total = (CLIENTS * BATCHES * SIZE) as u64;
    assert_eq!(stream.info().await.expect("info").state.messages, total);
    // Every batch occupies consecutive sequences: no other message got between its own.
    let mut seq = 1;
    while seq <= total {
        let first = stream.get_raw_message(seq).await.expect("get");
        for offset in 1..SIZE as u64 {
            let next = stream.get_raw_message(seq + offset).await.expect("get");
            assert_eq!(
                next.payload,
                first.payload,
                "batch interleaved at {}",
                seq + offset
            );
        }
        seq += SIZE as u64;
    }
    drop(client);
}
