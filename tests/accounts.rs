//! Accounts end to end with `async-nats`: isolation, stream and service imports, mappings. Every
//! scenario runs against the Go server and against Natrix with two shards, from the same
//! config file, so the behavior is the Go server's by construction.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use async_nats::{Client, ConnectOptions};
use bytes::Bytes;
use common::TestServer;
use futures_util::StreamExt;

const ACCOUNTS_CONF: &str = r#"
accounts {
  A: {
    users: [
      {user: a, password: a}
      {user: a2, password: a2}
    ]
    exports: [
      {stream: "news.>"}
      {service: "help.*", accounts: [B]}
    ]
    mappings: {
      "orders.*": "orders.new.$1"
    }
  }
  B: {
    users: [{user: b, password: b}]
    imports: [
      {stream: {account: A, subject: "news.>"}, prefix: "a"}
      {service: {account: A, subject: "help.*"}, to: "ask.*"}
    ]
  }
}
"#;

fn write_config(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("natrix-accounts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write config");
    path
}

/// Both servers, each started from the same config file.
fn servers(config: &std::path::Path) -> Vec<(&'static str, TestServer)> {
    let path = config.to_str().expect("utf-8 path");
    vec![
        ("go", TestServer::go(&["-c", path])),
        ("natrix", TestServer::natrix(2, &["-c", path])),
    ]
}

async fn connect(server: &TestServer, user: &str) -> Client {
    ConnectOptions::with_user_and_password(user.into(), user.into())
        .connection_timeout(Duration::from_secs(5))
        .connect(server.url())
        .await
        .unwrap_or_else(|error| panic!("connect as {user}: {error}"))
}

/// Publishes `payload` to `subject` until `subscriber` receives something (a subscription made
/// on another connection becomes visible to the publisher a moment later, on either server),
/// and returns that first message.
async fn publish_until_received(
    publisher: &Client,
    subject: &str,
    payload: &'static str,
    subscriber: &mut async_nats::Subscriber,
) -> async_nats::Message {
    for _ in 0..200 {
        publisher
            .publish(subject.to_string(), Bytes::from_static(payload.as_bytes()))
            .await
            .expect("publish");
        publisher.flush().await.expect("flush");
        if let Ok(Some(message)) =
            tokio::time::timeout(Duration::from_millis(25), subscriber.next()).await
        {
            return message;
        }
    }
    panic!("nothing arrived on {subject} after 200 publishes");
}

#[tokio::test]
async fn accounts_isolate_subject_spaces() {
    let config = write_config("isolation.conf", ACCOUNTS_CONF);
    for (name, server) in servers(&config) {
        let a = connect(&server, "a").await;
        let a2 = connect(&server, "a2").await;
        let b = connect(&server, "b").await;
        let mut in_a = a.subscribe("shared.subject").await.expect("sub");
        a.flush().await.expect("flush");
        // b publishes first, many times: none of it may reach account A.
        for _ in 0..50 {
            b.publish("shared.subject", Bytes::from_static(b"from-b"))
                .await
                .expect("publish");
        }
        b.flush().await.expect("flush");
        let first = publish_until_received(&a2, "shared.subject", "from-a2", &mut in_a).await;
        assert_eq!(first.payload, "from-a2", "{name}: account B leaked into A");
        while let Ok(Some(message)) =
            tokio::time::timeout(Duration::from_millis(100), in_a.next()).await
        {
            assert_eq!(
                message.payload, "from-a2",
                "{name}: account B leaked into A"
            );
        }
    }
}

#[tokio::test]
async fn stream_import_delivers_under_the_prefix() {
    let config = write_config("stream.conf", ACCOUNTS_CONF);
    for (name, server) in servers(&config) {
        let a = connect(&server, "a").await;
        let b = connect(&server, "b").await;
        let mut imported = b.subscribe("a.news.>").await.expect("sub");
        b.flush().await.expect("flush");
        let message = publish_until_received(&a, "news.today", "headline", &mut imported).await;
        assert_eq!(message.subject.as_str(), "a.news.today", "{name}");
        assert_eq!(message.payload, "headline", "{name}");
        // The exporting account's own subscribers are unaffected by the prefix.
        let mut local = a.subscribe("a.news.>").await.expect("sub");
        a.flush().await.expect("flush");
        a.publish("news.more", Bytes::new()).await.expect("publish");
        a.flush().await.expect("flush");
        let stray = tokio::time::timeout(Duration::from_millis(200), local.next()).await;
        assert!(stray.is_err(), "{name}: the prefix leaked into account A");
    }
}

#[tokio::test]
async fn service_import_carries_requests_and_replies_between_accounts() {
    let config = write_config("service.conf", ACCOUNTS_CONF);
    for (name, server) in servers(&config) {
        let a = connect(&server, "a").await;
        let b = connect(&server, "b").await;
        let mut requests = a.subscribe("help.*").await.expect("sub");
        a.flush().await.expect("flush");
        let responder = a.clone();
        let service = tokio::spawn(async move {
            let mut reply_subjects = Vec::new();
            while let Some(request) = requests.next().await {
                let Some(reply) = request.reply.clone() else {
                    continue;
                };
                reply_subjects.push(reply.to_string());
                let answer = format!("answer:{}", request.subject);
                responder
                    .publish(reply, Bytes::from(answer))
                    .await
                    .expect("reply");
                responder.flush().await.expect("flush");
                if reply_subjects.len() >= 3 {
                    break;
                }
            }
            reply_subjects
        });
        let mut answered = 0;
        for _ in 0..100 {
            match tokio::time::timeout(
                Duration::from_millis(500),
                b.request("ask.me", Bytes::from_static(b"?")),
            )
            .await
            {
                Ok(Ok(response)) => {
                    assert_eq!(response.payload, "answer:help.me", "{name}");
                    answered += 1;
                    if answered == 3 {
                        break;
                    }
                }
                // No responders yet (interest still travelling) or a timeout: try again.
                _ => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
        assert_eq!(answered, 3, "{name}: requests through the service import");
        let reply_subjects = tokio::time::timeout(Duration::from_secs(5), service)
            .await
            .expect("service done")
            .expect("service task");
        for reply in reply_subjects {
            assert!(
                reply.starts_with("_R_."),
                "{name}: the service sees a rewritten reply subject, got {reply}"
            );
        }
    }
}

#[tokio::test]
async fn account_mappings_rewrite_published_subjects() {
    let config = write_config("mapping.conf", ACCOUNTS_CONF);
    for (name, server) in servers(&config) {
        let a = connect(&server, "a").await;
        let a2 = connect(&server, "a2").await;
        let mut mapped = a.subscribe("orders.new.*").await.expect("sub");
        a.flush().await.expect("flush");
        let message = publish_until_received(&a2, "orders.7", "order", &mut mapped).await;
        assert_eq!(message.subject.as_str(), "orders.new.7", "{name}");
    }
}

#[tokio::test]
async fn an_import_without_a_matching_export_stops_start_up() {
    let config = write_config(
        "unauthorized.conf",
        r#"
accounts {
  A: { users: [{user: a, password: a}], exports: [{service: "help.*", accounts: [B]}] }
  B: { users: [{user: b, password: b}] }
  C: {
    users: [{user: c, password: c}]
    imports: [{service: {account: A, subject: "help.x"}}]
  }
}
"#,
    );
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_natrix"))
        .args(["-a", "127.0.0.1", "-p", "-1", "-c"])
        .arg(&config)
        .output()
        .expect("run natrix");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    // The Go server's words: `Error adding service import "help.x": service import not
    // authorized`.
    assert!(
        stderr.contains("Error adding service import \"help.x\": service import not authorized"),
        "the error names the refused import: {stderr}"
    );
}

/// A service export and import of `$JS.API.>` (how accounts share a JetStream domain): `$JS`
/// is a literal token, not a `$N` wildcard reference, so the file loads and requests cross.
#[tokio::test]
async fn a_js_api_service_import_is_a_literal_subject() {
    let config = write_config(
        "js-import.conf",
        r#"
accounts {
  A: {
    users: [{user: a, password: a}]
    exports: [{service: "$JS.API.>"}]
  }
  B: {
    users: [{user: b, password: b}]
    imports: [{service: {account: A, subject: "$JS.API.>"}}]
  }
}
"#,
    );
    for (name, server) in servers(&config) {
        let a = connect(&server, "a").await;
        let b = connect(&server, "b").await;
        let mut requests = a.subscribe("$JS.API.>").await.expect("sub");
        a.flush().await.expect("flush");
        let responder = a.clone();
        tokio::spawn(async move {
            while let Some(request) = requests.next().await {
                if let Some(reply) = request.reply {
                    let answer = Bytes::from(format!("from A: {}", request.subject));
                    let _ = responder.publish(reply, answer).await;
                    let _ = responder.flush().await;
                }
            }
        });
        let mut answer = None;
        for _ in 0..100 {
            if let Ok(Ok(response)) = tokio::time::timeout(
                Duration::from_millis(500),
                b.request("$JS.API.INFO", Bytes::from_static(b"")),
            )
            .await
            {
                answer = Some(response.payload);
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(
            answer.as_deref(),
            Some(b"from A: $JS.API.INFO".as_slice()),
            "{name}"
        );
    }
}
