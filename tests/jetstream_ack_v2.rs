//! The 11-token ack and flow control subjects behind the `js_ack_fc_v2` feature flag (Go
//! 2.14+): `$JS.ACK.<domain>.<account hash>.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.
//! <ts>.<pending>`, with `_` for no domain. Natrix and the Go server started from the same
//! configuration file deliver the same subjects (the time token masked); the official
//! client acks, naks and double-acks through them; and both forms are accepted whatever the
//! flag says, as Go subscribes to both.

mod common;

use std::time::Duration;

use async_nats::jetstream::consumer::{pull, push, AckPolicy};
use async_nats::jetstream::{self, stream, AckKind};
use common::TestServer;
use futures_util::StreamExt;

/// Starts both servers from one configuration (`{dir}` replaced by each one's store).
fn start_both(name: &str, config: &str) -> (TestServer, TestServer, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("natrix-ackv2-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut files = Vec::new();
    for server in ["go", "natrix"] {
        let store = dir.join(server);
        std::fs::create_dir_all(&store).expect("store dir");
        let file = dir.join(format!("{server}.conf"));
        let text = config.replace("{dir}", store.to_str().expect("utf-8"));
        std::fs::write(&file, text).expect("config");
        files.push(file.to_str().expect("utf-8").to_owned());
    }
    let go = TestServer::go(&["-c", &files[0]]);
    let natrix = TestServer::natrix(3, &["-c", &files[1]]);
    (go, natrix, dir)
}

/// What a fetch of two messages shows: the ack subjects (time token masked), the consumer's
/// state after an ack, a nak and a double ack through them, and the redelivery's subject.
async fn ack_through_subjects(url: &str) -> Vec<String> {
    let client = async_nats::connect(url).await.expect("connect");
    let js = jetstream::new(client.clone());
    let stream = js
        .create_stream(stream::Config {
            name: "V2".into(),
            subjects: vec!["v2.>".into()],
            ..Default::default()
        })
        .await
        .expect("stream");
    for index in 0..3 {
        js.publish(format!("v2.{index}"), "x".into())
            .await
            .expect("publish")
            .await
            .expect("puback");
    }
    let consumer = stream
        .create_consumer(pull::Config {
            durable_name: Some("C".into()),
            ack_policy: AckPolicy::Explicit,
            ack_wait: Duration::from_secs(30),
            ..Default::default()
        })
        .await
        .expect("consumer");
    let mut seen = Vec::new();
    let mut batch = consumer
        .fetch()
        .max_messages(3)
        .expires(Duration::from_secs(2))
        .messages()
        .await
        .expect("fetch");
    let mut messages = Vec::new();
    while let Some(message) = batch.next().await {
        messages.push(message.expect("message"));
    }
    assert_eq!(messages.len(), 3, "three deliveries");
    for message in &messages {
        seen.push(mask_time(message.reply.as_deref().unwrap_or("")));
    }
    // The client's own parsing of the subject (stream, consumer, sequences).
    for message in &messages {
        match message.info() {
            Ok(info) => seen.push(format!(
                "info {} {} {} {} {}",
                info.stream,
                info.consumer,
                info.stream_sequence,
                info.consumer_sequence,
                info.delivered
            )),
            Err(error) => seen.push(format!("info error {error}")),
        }
    }
    messages[0].ack().await.expect("ack");
    messages[1].ack_with(AckKind::Nak(None)).await.expect("nak");
    messages[2].double_ack().await.expect("double ack");
    let mut consumer = consumer;
    let info = consumer.info().await.expect("info");
    seen.push(format!(
        "ack floor {} pending {} redelivered {}",
        info.ack_floor.stream_sequence, info.num_ack_pending, info.num_redelivered
    ));
    let mut again = consumer
        .fetch()
        .max_messages(1)
        .expires(Duration::from_secs(2))
        .messages()
        .await
        .expect("fetch");
    let redelivered = again.next().await.expect("redelivery").expect("message");
    seen.push(mask_time(redelivered.reply.as_deref().unwrap_or("")));
    redelivered.double_ack().await.expect("double ack");
    let info = consumer.info().await.expect("info");
    seen.push(format!(
        "ack floor {} pending {}",
        info.ack_floor.stream_sequence, info.num_ack_pending
    ));
    seen
}

/// An ack subject with its time token replaced by `*` (the 9-token form's 8th, the 11-token
/// form's 10th).
fn mask_time(subject: &str) -> String {
    let mut tokens: Vec<&str> = subject.split('.').collect();
    match tokens.len() {
        9 => tokens[7] = "*",
        11 => tokens[9] = "*",
        _ => {}
    }
    tokens.join(".")
}

async fn compare(config: &str, name: &str, expected_tokens: usize) {
    let (go, natrix, dir) = start_both(name, config);
    let (go_url, natrix_url) = (go.url(), natrix.url());
    let (expected, actual) = tokio::join!(
        ack_through_subjects(&go_url),
        ack_through_subjects(&natrix_url)
    );
    drop(go);
    drop(natrix);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        expected[0].split('.').count(),
        expected_tokens,
        "{expected:#?}"
    );
    assert_eq!(expected, actual);
}

#[tokio::test]
async fn with_js_ack_fc_v2_deliveries_carry_the_11_token_subject_as_go_and_acks_work() {
    let config = "jetstream { store_dir: \"{dir}\" }\nfeature_flags { js_ack_fc_v2: true }\n";
    compare(config, "on", 11).await;
}

#[tokio::test]
async fn with_js_ack_fc_v2_and_a_domain_the_subject_names_the_domain_as_go() {
    let config =
        "jetstream { store_dir: \"{dir}\", domain: hub }\nfeature_flags { js_ack_fc_v2: true }\n";
    compare(config, "domain", 11).await;
}

#[tokio::test]
async fn without_the_flag_deliveries_keep_the_9_token_subject_as_go() {
    compare("jetstream { store_dir: \"{dir}\" }\n", "off", 9).await;
}

/// Acks in the form deliveries do not carry, written by hand: each server takes both.
async fn ack_in_other_form(url: &str, v2: bool) -> Vec<String> {
    let client = async_nats::connect(url).await.expect("connect");
    let js = jetstream::new(client.clone());
    let stream = js
        .create_stream(stream::Config {
            name: "OTHER".into(),
            subjects: vec!["other.>".into()],
            ..Default::default()
        })
        .await
        .expect("stream");
    js.publish("other.a", "x".into())
        .await
        .expect("publish")
        .await
        .expect("puback");
    let mut consumer = stream
        .create_consumer(pull::Config {
            durable_name: Some("C".into()),
            ack_policy: AckPolicy::Explicit,
            ..Default::default()
        })
        .await
        .expect("consumer");
    let mut batch = consumer
        .fetch()
        .max_messages(1)
        .messages()
        .await
        .expect("fetch");
    let message = batch.next().await.expect("one").expect("message");
    let reply = message.reply.as_deref().unwrap_or("").to_owned();
    let tokens: Vec<&str> = reply.split('.').collect();
    // The numbers are the last five tokens in both forms.
    let numbers = tokens[tokens.len() - 5..].join(".");
    let other = if v2 {
        format!("$JS.ACK.OTHER.C.{numbers}")
    } else {
        format!("$JS.ACK._.{}.OTHER.C.{numbers}", account_hash("$G"))
    };
    let answer = client
        .request(other.clone(), "+ACK".into())
        .await
        .map(|reply| String::from_utf8_lossy(&reply.payload).into_owned())
        .unwrap_or_else(|error| format!("error {:?}", error.kind()));
    let info = consumer.info().await.expect("info");
    vec![
        format!(
            "{} tokens delivered, acked with {} tokens",
            tokens.len(),
            other.split('.').count()
        ),
        format!("answer {answer:?}"),
        format!(
            "ack floor {} pending {}",
            info.ack_floor.stream_sequence, info.num_ack_pending
        ),
    ]
}

/// Go's `getHash`, written out here so the test does not trust Natrix's own.
fn account_hash(name: &str) -> String {
    use sha2::{Digest, Sha256};
    const DIGITS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    Sha256::digest(name.as_bytes())[..8]
        .iter()
        .map(|byte| char::from(DIGITS[usize::from(byte % 62)]))
        .collect()
}

#[tokio::test]
async fn both_ack_forms_are_accepted_whichever_the_flag_picks_as_go() {
    for (name, config, v2) in [
        (
            "other-on",
            "jetstream { store_dir: \"{dir}\" }\nfeature_flags { js_ack_fc_v2: true }\n",
            true,
        ),
        ("other-off", "jetstream { store_dir: \"{dir}\" }\n", false),
    ] {
        let (go, natrix, dir) = start_both(name, config);
        let (go_url, natrix_url) = (go.url(), natrix.url());
        let (expected, actual) = tokio::join!(
            ack_in_other_form(&go_url, v2),
            ack_in_other_form(&natrix_url, v2)
        );
        drop(go);
        drop(natrix);
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            expected[2].contains("ack floor 1 pending 0"),
            "{expected:?}"
        );
        assert_eq!(expected, actual, "{name}");
    }
}

/// A push consumer with flow control: the flow control request's reply subject has 7
/// tokens with the flag (`$JS.FC.<domain>.<hash>.<stream>.<consumer>.<id>`) and 5 without;
/// answering it lets delivery go on.
async fn flow_control_subject(url: &str) -> (usize, String, usize) {
    let client = async_nats::connect(url).await.expect("connect");
    let js = jetstream::new(client.clone());
    let stream = js
        .create_stream(stream::Config {
            name: "FC".into(),
            subjects: vec!["fc.>".into()],
            ..Default::default()
        })
        .await
        .expect("stream");
    let inbox = client.new_inbox();
    let mut subscription = client.subscribe(inbox.clone()).await.expect("subscribe");
    stream
        .create_consumer(push::Config {
            durable_name: Some("P".into()),
            deliver_subject: inbox,
            ack_policy: AckPolicy::None,
            flow_control: true,
            idle_heartbeat: Duration::from_secs(5),
            ..Default::default()
        })
        .await
        .expect("consumer");
    // Go asks for flow control once the bytes in flight pass its threshold: payloads of 64
    // KiB reach it within a few messages.
    let payload = bytes::Bytes::from(vec![b'x'; 64 * 1024]);
    for _ in 0..40 {
        js.publish("fc.a", payload.clone())
            .await
            .expect("publish")
            .await
            .expect("puback");
    }
    let mut data = 0;
    let mut fc_subject = String::new();
    while let Ok(Some(message)) =
        tokio::time::timeout(Duration::from_secs(3), subscription.next()).await
    {
        if message.status.is_some() {
            if let Some(reply) = &message.reply {
                if reply.starts_with("$JS.FC.") && fc_subject.is_empty() {
                    fc_subject = reply.to_string();
                }
                client
                    .publish(reply.clone(), bytes::Bytes::new())
                    .await
                    .expect("answer");
            }
        } else {
            data += 1;
        }
        if data == 40 && !fc_subject.is_empty() {
            break;
        }
    }
    let tokens = fc_subject.split('.').count();
    let prefix = fc_subject
        .rsplit_once('.')
        .map(|(prefix, _)| prefix.to_owned())
        .unwrap_or_default();
    (tokens, prefix, data)
}

#[tokio::test]
async fn flow_control_requests_use_the_7_token_subject_with_the_flag_as_go() {
    let config = "jetstream { store_dir: \"{dir}\" }\nfeature_flags { js_ack_fc_v2: true }\n";
    let (go, natrix, dir) = start_both("fc", config);
    let (go_url, natrix_url) = (go.url(), natrix.url());
    let (expected, actual) = tokio::join!(
        flow_control_subject(&go_url),
        flow_control_subject(&natrix_url)
    );
    drop(go);
    drop(natrix);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(expected.0, 7, "{expected:?}");
    assert_eq!(expected, actual);
}

/// `nats-py` against Natrix with the flag: it reads the 11-token subject's metadata (domain
/// `_` read as none) and its acks, naks and acks-with-reply go through.
#[test]
fn the_python_client_reads_and_acks_the_11_token_subject() {
    let dir = std::env::temp_dir().join(format!("natrix-ackv2-py-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("natrix.conf");
    let config = format!(
        "jetstream {{ store_dir: \"{}\" }}\nfeature_flags {{ js_ack_fc_v2: true }}\n",
        dir.join("store").display()
    );
    std::fs::write(&file, config).expect("config");
    let server = TestServer::natrix(3, &["-c", file.to_str().expect("utf-8")]);
    let script = format!(
        r#"
import asyncio, nats
from nats.js.api import StreamConfig

async def main():
    nc = await nats.connect("{url}")
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name="PY", subjects=["py.>"]))
    for i in range(3):
        await js.publish("py.a", b"m%d" % i)
    sub = await js.pull_subscribe("py.a", durable="D")
    msgs = await sub.fetch(3, timeout=2)
    assert len(msgs) == 3, msgs
    assert len(msgs[0].reply.split(".")) == 11, msgs[0].reply
    meta = msgs[1].metadata
    assert meta.stream == "PY" and meta.consumer == "D", meta
    assert meta.sequence.stream == 2 and meta.sequence.consumer == 2, meta
    assert meta.num_delivered == 1 and meta.num_pending == 1, meta
    assert not meta.domain, meta
    await msgs[0].ack()
    await msgs[1].nak()
    await msgs[2].ack_sync()
    again = await sub.fetch(1, timeout=2)
    assert again[0].data == b"m1" and again[0].metadata.num_delivered == 2, again[0].metadata
    await again[0].ack_sync()
    info = await js.consumer_info("PY", "D")
    assert info.num_ack_pending == 0 and info.ack_floor.stream_seq == 3, info
    await nc.close()
    print("ok")

asyncio.run(main())
"#,
        url = server.url()
    );
    let venv = std::env::var("NATRIX_VENV")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/.venv").to_owned());
    let output = std::process::Command::new(std::path::Path::new(&venv).join("bin/python"))
        .args(["-c", &script])
        .output()
        .expect("python runs");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        output.status.success(),
        "nats-py failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "ok");
}
