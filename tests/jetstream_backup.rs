//! Stream snapshots and restores over real sockets, driven as `nats stream backup` and `nats
//! stream restore` drive them (jsm.go's flow: the snapshot request with a deliver inbox, every
//! chunk answered on its reply subject until the `204`; the restore request with the backup's
//! `{"config", "state"}`, the chunks sent as requests to the server's deliver subject, an empty
//! one last). The async-nats client has no snapshot API, so the tests speak the raw flow.
//!
//! Backups cross servers both ways: a Natrix backup restores into the Go server and a Go
//! backup into Natrix, message for message.

mod common;

use std::time::Duration;

use async_nats::HeaderMap;
use bytes::Bytes;
use common::{StoreDir, TestServer};
use futures_util::StreamExt;
use serde_json::{json, Value};

async fn request(client: &async_nats::Client, subject: &str, body: Value) -> Value {
    let reply = client
        .request(subject.to_owned(), Bytes::from(body.to_string()))
        .await
        .unwrap_or_else(|error| panic!("request {subject}: {error}"));
    serde_json::from_slice(&reply.payload).expect("JSON reply")
}

/// A stream with 40 messages: some with headers, payloads up to 3 KiB (so that the backup
/// takes several 1 KiB chunks), message 7 deleted inside, 39 and 40 deleted at the end.
async fn fill_stream(client: &async_nats::Client, name: &str) -> Value {
    let created = request(
        client,
        &format!("$JS.API.STREAM.CREATE.{name}"),
        json!({"name": name, "subjects": [format!("{name}.>")], "storage": "file"}),
    )
    .await;
    assert!(created.get("error").is_none(), "{created}");
    for index in 1..=40u32 {
        let subject = format!("{name}.{}", index % 5);
        let payload: Vec<u8> = (0..(index * 77) % 3000)
            .map(|byte| (byte * index) as u8)
            .collect();
        let ack = if index % 3 == 0 {
            let mut headers = HeaderMap::new();
            headers.insert("X-Index", index.to_string().as_str());
            client
                .request_with_headers(subject, headers, payload.into())
                .await
        } else {
            client.request(subject, payload.into()).await
        }
        .expect("publish");
        let ack: Value = serde_json::from_slice(&ack.payload).expect("PubAck");
        assert_eq!(ack["seq"], index, "{ack}");
    }
    for seq in [7, 39, 40] {
        let deleted = request(
            client,
            &format!("$JS.API.STREAM.MSG.DELETE.{name}"),
            json!({"seq": seq}),
        )
        .await;
        assert_eq!(deleted["success"], true, "{deleted}");
    }
    let info = request(client, &format!("$JS.API.STREAM.INFO.{name}"), json!({})).await;
    assert_eq!(info["state"]["messages"], 37, "{info}");
    info
}

/// What `nats stream backup` saves: `backup.json` (`{"config", "state"}`) and the data.
struct Backup {
    meta: Value,
    data: Vec<u8>,
    chunks: usize,
}

async fn backup(client: &async_nats::Client, stream: &str, chunk_size: usize) -> Backup {
    backup_with(client, stream, json!({"chunk_size": chunk_size})).await
}

/// A backup with the snapshot request's other fields in `fields` (`deliver_subject` added).
async fn backup_with(client: &async_nats::Client, stream: &str, fields: Value) -> Backup {
    let inbox = client.new_inbox();
    let mut chunks = client.subscribe(inbox.clone()).await.expect("subscribe");
    client.flush().await.expect("flush");
    let mut body = fields;
    body["deliver_subject"] = json!(inbox);
    let reply = request(client, &format!("$JS.API.STREAM.SNAPSHOT.{stream}"), body).await;
    assert_eq!(
        reply["type"], "io.nats.jetstream.api.v1.stream_snapshot_response",
        "{reply}"
    );
    assert!(reply.get("error").is_none(), "{reply}");
    let mut data = Vec::new();
    let mut count = 0;
    loop {
        let chunk = tokio::time::timeout(Duration::from_secs(10), chunks.next())
            .await
            .expect("a chunk within 10 s")
            .expect("subscription open");
        if chunk.payload.is_empty() {
            let status = chunk.status.map(|status| status.as_u16());
            assert_eq!(status, Some(204), "the backup ends with 204: {chunk:?}");
            break;
        }
        count += 1;
        if let Some(reply) = chunk.reply.clone() {
            client.publish(reply, Bytes::new()).await.expect("ack");
        }
        data.extend_from_slice(&chunk.payload);
    }
    Backup {
        meta: json!({"config": reply["config"], "state": reply["state"]}),
        data,
        chunks: count,
    }
}

/// Restores `backup` as jsm.go does; returns the final reply (a stream create response).
async fn restore(client: &async_nats::Client, stream: &str, backup: &Backup) -> Value {
    let reply = request(
        client,
        &format!("$JS.API.STREAM.RESTORE.{stream}"),
        backup.meta.clone(),
    )
    .await;
    assert!(reply.get("error").is_none(), "{reply}");
    let deliver = reply["deliver_subject"]
        .as_str()
        .expect("deliver subject")
        .to_owned();
    assert!(deliver.starts_with(&format!("$JS.SNAPSHOT.RESTORE.{stream}.")));
    for chunk in backup.data.chunks(64 * 1024) {
        let answer = client
            .request(deliver.clone(), Bytes::copy_from_slice(chunk))
            .await
            .expect("chunk answered");
        if !answer.payload.is_empty() {
            return serde_json::from_slice(&answer.payload).expect("JSON error");
        }
    }
    let last = client
        .request(deliver, Bytes::new())
        .await
        .expect("restore answered");
    serde_json::from_slice(&last.payload).expect("JSON reply")
}

/// Every kept message of a stream, as `(seq, subject, headers, payload)`.
async fn messages(client: &async_nats::Client, stream: &str, last_seq: u64) -> Vec<Value> {
    let mut found = Vec::new();
    for seq in 1..=last_seq {
        let reply = request(
            client,
            &format!("$JS.API.STREAM.MSG.GET.{stream}"),
            json!({"seq": seq}),
        )
        .await;
        if reply.get("error").is_none() {
            let message = &reply["message"];
            found.push(json!([
                seq,
                message["subject"],
                message["hdrs"],
                message["data"],
                message["time"]
            ]));
        }
    }
    found
}

/// The state's counters. Byte counts differ between the servers (each counts its own
/// per-message overhead), so they are compared only within one server.
fn counters(info: &Value, with_bytes: bool) -> Value {
    let state = &info["state"];
    json!([
        state["messages"],
        if with_bytes {
            state["bytes"].clone()
        } else {
            Value::Null
        },
        state["first_seq"],
        state["last_seq"],
        state["num_deleted"],
        state["num_subjects"],
        state["last_ts"]
    ])
}

#[tokio::test]
async fn a_backup_restores_with_its_sequences_headers_and_gaps() {
    let store = StoreDir::new("roundtrip");
    let server = TestServer::natrix(2, &["-js", "-sd", store.path()]);
    let client = async_nats::connect(server.url()).await.expect("connect");
    let before = fill_stream(&client, "ORDERS").await;
    let kept = messages(&client, "ORDERS", 40).await;
    let saved = backup(&client, "ORDERS", 1024).await;
    assert!(saved.chunks > 3, "1 KiB chunks: {}", saved.chunks);
    assert_eq!(&saved.data[..10], b"\xff\x06\x00\x00S2sTwO", "an S2 stream");
    assert_eq!(saved.meta["state"]["last_seq"], 40);

    // A restore never replaces a stream.
    let refused = request(&client, "$JS.API.STREAM.RESTORE.ORDERS", saved.meta.clone()).await;
    assert_eq!(refused["error"]["err_code"], 10130, "{refused}");

    let deleted = request(&client, "$JS.API.STREAM.DELETE.ORDERS", json!({})).await;
    assert_eq!(deleted["success"], true);
    let restored = restore(&client, "ORDERS", &saved).await;
    assert_eq!(
        restored["type"], "io.nats.jetstream.api.v1.stream_create_response",
        "{restored}"
    );
    assert!(restored.get("error").is_none(), "{restored}");
    assert_eq!(counters(&restored, true), counters(&before, true));
    assert_eq!(messages(&client, "ORDERS", 40).await, kept);

    // The restored stream captures again, after the backup's last sequence.
    let ack = client
        .request("ORDERS.1", Bytes::from_static(b"after"))
        .await
        .expect("publish");
    let ack: Value = serde_json::from_slice(&ack.payload).unwrap();
    assert_eq!(ack["seq"], 41, "{ack}");

    // It survives a restart like any stream.
    drop(client);
    server.stop();
    let server = TestServer::natrix(3, &["-js", "-sd", store.path()]);
    let client = async_nats::connect(server.url()).await.expect("connect");
    let info = request(&client, "$JS.API.STREAM.INFO.ORDERS", json!({})).await;
    assert_eq!(info["state"]["messages"], 38, "{info}");
    assert_eq!(info["state"]["last_seq"], 41, "{info}");
}

#[tokio::test]
async fn snapshot_and_restore_refuse_bad_requests_and_bad_backups() {
    let store = StoreDir::new("refusals");
    let server = TestServer::natrix(2, &["-js", "-sd", store.path()]);
    let client = async_nats::connect(server.url()).await.expect("connect");
    fill_stream(&client, "S").await;
    let missing = request(
        &client,
        "$JS.API.STREAM.SNAPSHOT.NOPE",
        json!({"deliver_subject": "x"}),
    )
    .await;
    assert_eq!(missing["error"]["err_code"], 10059, "{missing}");
    let empty = request(&client, "$JS.API.STREAM.SNAPSHOT.S", json!({})).await;
    assert_eq!(empty["error"]["err_code"], 10003, "{empty}");
    let wildcard = request(
        &client,
        "$JS.API.STREAM.SNAPSHOT.S",
        json!({"deliver_subject": "in.*"}),
    )
    .await;
    assert_eq!(wildcard["error"]["err_code"], 10015, "{wildcard}");
    let mismatch = request(
        &client,
        "$JS.API.STREAM.RESTORE.T",
        json!({"config": {"name": "U"}}),
    )
    .await;
    assert_eq!(mismatch["error"]["err_code"], 10056, "{mismatch}");

    // A backup cut short: the restore fails, the last chunk gets the error, and the stream
    // is gone again.
    let mut saved = backup(&client, "S", 1024).await;
    saved.meta["config"]["name"] = json!("T");
    saved.meta["config"]["subjects"] = json!(["T.>"]);
    let full_len = saved.data.len();
    saved.data.truncate(full_len - 40);
    let failed = restore(&client, "T", &saved).await;
    assert_eq!(failed["error"]["err_code"], 10062, "{failed}");
    let info = request(&client, "$JS.API.STREAM.INFO.T", json!({})).await;
    assert_eq!(info["error"]["err_code"], 10059, "{info}");
    let names = request(&client, "$JS.API.STREAM.NAMES", json!({})).await;
    assert_eq!(names["streams"], json!(["S"]), "{names}");

    // Garbage is refused on the chunk that brings it.
    let garbage = Backup {
        meta: saved.meta.clone(),
        data: b"this is not an S2 stream".to_vec(),
        chunks: 1,
    };
    let failed = restore(&client, "T", &garbage).await;
    assert_eq!(failed["error"]["err_code"], 10062, "{failed}");
    let description = failed["error"]["description"].as_str().unwrap_or_default();
    assert!(description.starts_with("restore failed: "), "{failed}");
}

#[tokio::test]
async fn backups_cross_between_natrix_and_the_go_server() {
    let natrix_store = StoreDir::new("cross-natrix");
    let go_store = StoreDir::new("cross-go");
    let natrix = TestServer::natrix(2, &["-js", "-sd", natrix_store.path()]);
    let go = TestServer::go(&["-js", "-sd", go_store.path()]);
    let natrix_client = async_nats::connect(natrix.url()).await.expect("connect");
    let go_client = async_nats::connect(go.url()).await.expect("connect");

    // Natrix → Go.
    let natrix_info = fill_stream(&natrix_client, "FROMN").await;
    let natrix_messages = messages(&natrix_client, "FROMN", 40).await;
    let saved = backup(&natrix_client, "FROMN", 1024).await;
    let restored = restore(&go_client, "FROMN", &saved).await;
    assert!(
        restored.get("error").is_none(),
        "Go restores it: {restored}"
    );
    // The Go server stamps the sequences it skips at the end with the time of its last
    // restored message, not the backup's last time: compare the rest.
    let mut expected = counters(&natrix_info, false);
    let mut found = counters(&restored, false);
    expected[6] = Value::Null;
    found[6] = Value::Null;
    assert_eq!(found, expected);
    assert_eq!(messages(&go_client, "FROMN", 40).await, natrix_messages);

    // Go → Natrix.
    let go_info = fill_stream(&go_client, "FROMG").await;
    let go_messages = messages(&go_client, "FROMG", 40).await;
    let saved = backup(&go_client, "FROMG", 1024).await;
    let restored = restore(&natrix_client, "FROMG", &saved).await;
    assert!(
        restored.get("error").is_none(),
        "Natrix restores it: {restored}"
    );
    assert_eq!(counters(&restored, false), counters(&go_info, false));
    assert_eq!(messages(&natrix_client, "FROMG", 40).await, go_messages);
}

#[tokio::test]
async fn a_snapshot_waits_for_answers_and_ends_with_408_when_none_come() {
    let store = StoreDir::new("flow");
    let server = TestServer::natrix(1, &["-js", "-sd", store.path()]);
    let client = async_nats::connect(server.url()).await.expect("connect");
    fill_stream(&client, "F").await;
    let inbox = client.new_inbox();
    let mut chunks = client.subscribe(inbox.clone()).await.expect("subscribe");
    client.flush().await.expect("flush");
    // A window of one chunk: the second chunk waits for an answer that never comes.
    let reply = request(
        &client,
        "$JS.API.STREAM.SNAPSHOT.F",
        json!({"deliver_subject": inbox, "chunk_size": 1024, "window_size": 1024}),
    )
    .await;
    assert!(reply.get("error").is_none(), "{reply}");
    let first = chunks.next().await.expect("first chunk");
    assert_eq!(first.payload.len(), 1024);
    let ack = first.reply.as_deref().expect("asks for an answer");
    assert!(
        ack.starts_with("$JS.SNAPSHOT.ACK.F.") && ack.ends_with(".1024.1"),
        "{ack}"
    );
    let end = tokio::time::timeout(Duration::from_secs(8), chunks.next())
        .await
        .expect("the snapshot gives up within 8 s")
        .expect("subscription open");
    assert!(end.payload.is_empty());
    assert_eq!(end.status.map(|status| status.as_u16()), Some(408));
    assert_eq!(end.description.as_deref(), Some("No Flow Response"));
}

#[tokio::test]
async fn a_restore_cut_by_kill_9_leaves_no_stream_behind() {
    let store = StoreDir::new("restore-crash");
    let server = TestServer::natrix(2, &["-js", "-sd", store.path()]);
    let client = async_nats::connect(server.url()).await.expect("connect");
    fill_stream(&client, "R").await;
    let mut saved = backup(&client, "R", 1024).await;
    let deleted = request(&client, "$JS.API.STREAM.DELETE.R", json!({})).await;
    assert_eq!(deleted["success"], true);
    // Half of the backup arrives, then the server dies.
    let reply = request(&client, "$JS.API.STREAM.RESTORE.R", saved.meta.clone()).await;
    let deliver = reply["deliver_subject"]
        .as_str()
        .expect("deliver")
        .to_owned();
    saved.data.truncate(saved.data.len() / 2);
    for chunk in saved.data.chunks(1024) {
        client
            .request(deliver.clone(), Bytes::copy_from_slice(chunk))
            .await
            .expect("chunk answered");
    }
    drop(client);
    server.kill();
    let server = TestServer::natrix(2, &["-js", "-sd", store.path()]);
    let client = async_nats::connect(server.url()).await.expect("connect");
    let info = request(&client, "$JS.API.STREAM.INFO.R", json!({})).await;
    assert_eq!(info["error"]["err_code"], 10059, "{info}");
    let created = request(
        &client,
        "$JS.API.STREAM.CREATE.R",
        json!({"name": "R", "subjects": ["R.>"]}),
    )
    .await;
    assert_eq!(created["state"]["messages"], 0, "{created}");
}

/// The snapshot and restore advisories a backup and a restore publish, as (subject, keys,
/// type, stream).
async fn backup_advisories(server: &TestServer) -> Vec<(String, Vec<String>, Value, Value)> {
    let client = async_nats::connect(server.url()).await.expect("connect");
    let mut events = client
        .subscribe("$JS.EVENT.ADVISORY.STREAM.>")
        .await
        .expect("subscribe");
    client.flush().await.expect("flush");
    fill_stream(&client, "ADV").await;
    let saved = backup(&client, "ADV", 4096).await;
    request(&client, "$JS.API.STREAM.DELETE.ADV", json!({})).await;
    let restored = restore(&client, "ADV", &saved).await;
    assert!(restored.get("error").is_none(), "{restored}");
    let mut seen = Vec::new();
    while seen.len() < 4 {
        let event = tokio::time::timeout(Duration::from_secs(5), events.next())
            .await
            .expect("advisory in time")
            .expect("open");
        if !event.subject.contains("SNAPSHOT") && !event.subject.contains("RESTORE") {
            continue;
        }
        let value: Value = serde_json::from_slice(&event.payload).expect("JSON");
        let keys = value.as_object().expect("object").keys().cloned().collect();
        seen.push((
            event.subject.to_string(),
            keys,
            value["type"].clone(),
            value["stream"].clone(),
        ));
    }
    seen.sort_by(|first, second| first.0.cmp(&second.0));
    seen
}

#[tokio::test]
async fn snapshot_and_restore_advisories_match_the_go_server() {
    let natrix_store = StoreDir::new("adv-natrix");
    let go_store = StoreDir::new("adv-go");
    let natrix = TestServer::natrix(2, &["-js", "-sd", natrix_store.path()]);
    let go = TestServer::go(&["-js", "-sd", go_store.path()]);
    let expected = backup_advisories(&go).await;
    let actual = backup_advisories(&natrix).await;
    assert_eq!(actual, expected);
    assert_eq!(actual.len(), 4);
}

/// A durable pull consumer `D` on `stream` (explicit acks, a minute to ack) that fetched ten
/// messages (stream sequences 1..=6 and 8..=11: 7 is deleted) and double-acked the first
/// six and the ninth: its ack floor is at stream sequence 7 (the deleted one is passed over),
/// three are pending.
async fn consumer_with_acks(client: &async_nats::Client, stream: &str) {
    let created = request(
        client,
        &format!("$JS.API.CONSUMER.CREATE.{stream}.D"),
        json!({"stream_name": stream, "config": {"durable_name": "D", "ack_policy": "explicit", "ack_wait": 60_000_000_000u64}}),
    )
    .await;
    assert!(created.get("error").is_none(), "{created}");
    let js = async_nats::jetstream::new(client.clone());
    let consumer: async_nats::jetstream::consumer::PullConsumer = js
        .get_consumer_from_stream("D", stream)
        .await
        .expect("consumer");
    let mut batch = consumer
        .fetch()
        .max_messages(10)
        .expires(Duration::from_secs(2))
        .messages()
        .await
        .expect("fetch");
    let mut index = 0;
    while let Some(message) = batch.next().await {
        let message = message.expect("message");
        if index < 6 || index == 8 {
            message.double_ack().await.expect("ack stored");
        }
        index += 1;
    }
    assert_eq!(index, 10);
}

/// What a consumer's info says of where it is.
async fn consumer_position(client: &async_nats::Client, stream: &str) -> Value {
    let info = request(
        client,
        &format!("$JS.API.CONSUMER.INFO.{stream}.D"),
        json!({}),
    )
    .await;
    // `last_active` is when the server saw the deliveries and acks: a restored consumer has
    // seen none.
    let pair = |pair: &Value| json!([pair["consumer_seq"], pair["stream_seq"]]);
    json!({
        "error": info.get("error"),
        "delivered": pair(&info["delivered"]),
        "ack_floor": pair(&info["ack_floor"]),
        "num_ack_pending": info["num_ack_pending"],
        "num_redelivered": info["num_redelivered"],
        "num_pending": info["num_pending"],
        "config": [info["config"]["durable_name"], info["config"]["ack_policy"], info["config"]["ack_wait"]],
    })
}

/// The stream sequence of the next message `D` delivers.
async fn next_delivery(client: &async_nats::Client, stream: &str) -> u64 {
    let js = async_nats::jetstream::new(client.clone());
    let consumer: async_nats::jetstream::consumer::PullConsumer = js
        .get_consumer_from_stream("D", stream)
        .await
        .expect("consumer");
    let mut batch = consumer
        .fetch()
        .max_messages(1)
        .expires(Duration::from_secs(2))
        .messages()
        .await
        .expect("fetch");
    let message = batch.next().await.expect("a message").expect("message");
    message.info().expect("ack subject").stream_sequence
}

#[tokio::test]
async fn a_durable_consumer_resumes_where_its_acks_left_it_after_a_natrix_backup_and_restore() {
    let first_store = StoreDir::new("consumer-first");
    let second_store = StoreDir::new("consumer-second");
    let first = TestServer::natrix(2, &["-js", "-sd", first_store.path()]);
    let second = TestServer::natrix(3, &["-js", "-sd", second_store.path()]);
    let first_client = async_nats::connect(first.url()).await.expect("connect");
    let second_client = async_nats::connect(second.url()).await.expect("connect");
    fill_stream(&first_client, "CB").await;
    consumer_with_acks(&first_client, "CB").await;
    let before = consumer_position(&first_client, "CB").await;
    assert_eq!(before["ack_floor"], json!([6, 7]), "{before}");
    assert_eq!(before["num_ack_pending"], 3, "{before}");

    let saved = backup(&first_client, "CB", 1024).await;
    assert_eq!(saved.meta["state"]["consumer_count"], 1, "{}", saved.meta);
    let restored = restore(&second_client, "CB", &saved).await;
    assert!(restored.get("error").is_none(), "{restored}");
    assert_eq!(restored["state"]["consumer_count"], 1, "{restored}");
    assert_eq!(consumer_position(&second_client, "CB").await, before);
    assert_eq!(next_delivery(&second_client, "CB").await, 12);

    // Left out on request: the restored stream has no consumer.
    let without = backup_with(&first_client, "CB", json!({"no_consumers": true})).await;
    let third_store = StoreDir::new("consumer-third");
    let third = TestServer::natrix(1, &["-js", "-sd", third_store.path()]);
    let third_client = async_nats::connect(third.url()).await.expect("connect");
    let restored = restore(&third_client, "CB", &without).await;
    assert_eq!(restored["state"]["consumer_count"], 0, "{restored}");
    let info = request(&third_client, "$JS.API.CONSUMER.INFO.CB.D", json!({})).await;
    assert_eq!(info["error"]["err_code"], 10014, "{info}");
}

#[tokio::test]
async fn backups_with_a_consumer_cross_between_natrix_and_the_go_server() {
    let natrix_store = StoreDir::new("consumer-cross-natrix");
    let go_store = StoreDir::new("consumer-cross-go");
    let natrix = TestServer::natrix(2, &["-js", "-sd", natrix_store.path()]);
    let go = TestServer::go(&["-js", "-sd", go_store.path()]);
    let natrix_client = async_nats::connect(natrix.url()).await.expect("connect");
    let go_client = async_nats::connect(go.url()).await.expect("connect");

    // Go → Natrix: the Go server's consumer entry brings the consumer back in Natrix.
    fill_stream(&go_client, "GOC").await;
    consumer_with_acks(&go_client, "GOC").await;
    let go_position = consumer_position(&go_client, "GOC").await;
    let saved = backup(&go_client, "GOC", 1024).await;
    let restored = restore(&natrix_client, "GOC", &saved).await;
    assert!(restored.get("error").is_none(), "{restored}");
    assert_eq!(consumer_position(&natrix_client, "GOC").await, go_position);
    assert_eq!(next_delivery(&natrix_client, "GOC").await, 12);

    // Natrix → Go: Natrix's entry is one the Go server takes.
    fill_stream(&natrix_client, "NAC").await;
    consumer_with_acks(&natrix_client, "NAC").await;
    let natrix_position = consumer_position(&natrix_client, "NAC").await;
    let saved = backup(&natrix_client, "NAC", 1024).await;
    let restored = restore(&go_client, "NAC", &saved).await;
    assert!(restored.get("error").is_none(), "{restored}");
    assert_eq!(consumer_position(&go_client, "NAC").await, natrix_position);
    assert_eq!(next_delivery(&go_client, "NAC").await, 12);
}
