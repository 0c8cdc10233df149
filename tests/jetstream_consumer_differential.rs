//! The same consumer API requests and pull requests sent to the Go server and to Natrix
//! (three shards), in the same order: every reply (create and info JSON, errors, the
//! messages and statuses a pull request gets) must be the same bytes once the values that
//! must differ are masked (times, versions and API levels).

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::TestServer;
use futures_util::StreamExt;

/// Keys whose scalar value is replaced by `*` before comparing.
const MASKED: &[&str] = &[
    "created",
    "ts",
    "last_active",
    "pause_remaining",
    "_nats.ver",
    "_nats.level",
    "level",
    "leader",
];

/// One step: a request whose replies are compared (`pull`: every message the request gets
/// until a terminal status, not just the first), or a publish.
struct Step {
    subject: &'static str,
    body: &'static str,
    pull: bool,
}

const fn request(subject: &'static str, body: &'static str) -> Step {
    Step {
        subject,
        body,
        pull: false,
    }
}

const fn pull(subject: &'static str, body: &'static str) -> Step {
    Step {
        subject,
        body,
        pull: true,
    }
}

const SCRIPT: &[Step] = &[
    request(
        "$JS.API.STREAM.CREATE.C1",
        r#"{"name":"C1","subjects":["c1.>"]}"#,
    ),
    request("c1.a", "one"),
    request("c1.a", "two"),
    request("c1.b", "three"),
    request("c1.a", "four"),
    request("c1.b", "five"),
    // Creates, in every subject form, and their errors.
    request(
        "$JS.API.CONSUMER.CREATE.C1.D1",
        r#"{"stream_name":"C1","config":{"durable_name":"D1","ack_policy":"explicit"}}"#,
    ),
    request(
        "$JS.API.CONSUMER.CREATE.C1.D1",
        r#"{"stream_name":"C1","config":{"durable_name":"D1","ack_policy":"explicit"}}"#,
    ),
    request(
        "$JS.API.CONSUMER.CREATE.C1.D1",
        r#"{"stream_name":"C1","config":{"durable_name":"D1","ack_policy":"none"}}"#,
    ),
    request(
        "$JS.API.CONSUMER.CREATE.C1.D1",
        r#"{"stream_name":"C1","config":{"durable_name":"D1","ack_policy":"explicit"},"action":"create"}"#,
    ),
    request(
        "$JS.API.CONSUMER.DURABLE.CREATE.C1.D2",
        r#"{"stream_name":"C1","config":{"durable_name":"D2","filter_subject":"c1.b","ack_policy":"explicit","max_batch":2,"max_expires":2000000000}}"#,
    ),
    request(
        "$JS.API.CONSUMER.CREATE.C1.D3.c1.a",
        r#"{"stream_name":"C1","config":{"name":"D3","filter_subject":"c1.a","deliver_policy":"last","ack_policy":"all"}}"#,
    ),
    request(
        "$JS.API.CONSUMER.CREATE.C1.D4",
        r#"{"stream_name":"C1","config":{"name":"D4","filter_subjects":["c1.a","c1.b"],"deliver_policy":"by_start_sequence","opt_start_seq":3,"metadata":{"team":"x"},"description":"many"}}"#,
    ),
    request(
        "$JS.API.CONSUMER.CREATE.C1.X",
        r#"{"stream_name":"OTHER","config":{"name":"X"}}"#,
    ),
    request(
        "$JS.API.CONSUMER.CREATE.NOPE.X",
        r#"{"stream_name":"NOPE","config":{"name":"X"}}"#,
    ),
    request(
        "$JS.API.CONSUMER.CREATE.C1.X",
        r#"{"stream_name":"C1","config":{"name":"Y"}}"#,
    ),
    request("$JS.API.CONSUMER.CREATE.C1.X", "{"),
    request(
        "$JS.API.CONSUMER.CREATE.C1.X",
        r#"{"stream_name":"C1","config":{"name":"X","ack_policy":"sometimes"}}"#,
    ),
    request(
        "$JS.API.CONSUMER.CREATE.C1.X",
        r#"{"stream_name":"C1","config":{"name":"X","filter_subject":"other.>"}}"#,
    ),
    request(
        "$JS.API.CONSUMER.CREATE.C1.X",
        r#"{"stream_name":"C1","config":{"name":"X","deliver_policy":"by_start_sequence"}}"#,
    ),
    request(
        "$JS.API.CONSUMER.CREATE.C1.X",
        r#"{"stream_name":"C1","config":{"name":"X","deliver_subject":"push.x","max_waiting":10}}"#,
    ),
    request(
        "$JS.API.CONSUMER.CREATE.C1.X",
        r#"{"stream_name":"C1","config":{"name":"X","ack_policy":"none","max_ack_pending":10}}"#,
    ),
    request(
        "$JS.API.CONSUMER.CREATE.C1.X",
        r#"{"stream_name":"C1","config":{"name":"X","backoff":[1000000000],"max_deliver":1}}"#,
    ),
    request(
        "$JS.API.CONSUMER.CREATE.C1.X",
        r#"{"stream_name":"C1","config":{"name":"X","bogus":true}}"#,
    ),
    request(
        "$JS.API.CONSUMER.CREATE.C1.P",
        r#"{"stream_name":"C1","config":{"name":"P","durable_name":"P","deliver_subject":"push.p","ack_policy":"explicit","flow_control":true,"idle_heartbeat":5000000000}}"#,
    ),
    // Information.
    request("$JS.API.CONSUMER.INFO.C1.D1", ""),
    request("$JS.API.CONSUMER.INFO.C1.D4", ""),
    request("$JS.API.CONSUMER.INFO.C1.NOPE", ""),
    request("$JS.API.CONSUMER.INFO.NOPE.D1", ""),
    request("$JS.API.CONSUMER.INFO.C1.D1", r#"{"x":1}"#),
    request("$JS.API.CONSUMER.NAMES.C1", ""),
    request("$JS.API.CONSUMER.NAMES.C1", r#"{"offset":2}"#),
    request("$JS.API.CONSUMER.LIST.C1", ""),
    // Pull requests and their statuses.
    pull("$JS.API.CONSUMER.MSG.NEXT.C1.D1", r#"{"batch":2}"#),
    pull("$JS.API.CONSUMER.MSG.NEXT.C1.D1", "1"),
    pull(
        "$JS.API.CONSUMER.MSG.NEXT.C1.D1",
        r#"{"batch":5,"no_wait":true}"#,
    ),
    pull(
        "$JS.API.CONSUMER.MSG.NEXT.C1.D1",
        r#"{"batch":1,"no_wait":true}"#,
    ),
    pull(
        "$JS.API.CONSUMER.MSG.NEXT.C1.D1",
        r#"{"batch":1,"expires":200000000}"#,
    ),
    pull(
        "$JS.API.CONSUMER.MSG.NEXT.C1.D1",
        r#"{"batch":1,"expires":100000000,"idle_heartbeat":60000000}"#,
    ),
    pull("$JS.API.CONSUMER.MSG.NEXT.C1.D2", r#"{"batch":3}"#),
    pull(
        "$JS.API.CONSUMER.MSG.NEXT.C1.D2",
        r#"{"batch":1,"expires":3000000000}"#,
    ),
    pull(
        "$JS.API.CONSUMER.MSG.NEXT.C1.D2",
        r#"{"batch":2,"no_wait":true}"#,
    ),
    pull(
        "$JS.API.CONSUMER.MSG.NEXT.C1.D3",
        r#"{"batch":5,"no_wait":true}"#,
    ),
    pull(
        "$JS.API.CONSUMER.MSG.NEXT.C1.D4",
        r#"{"batch":5,"max_bytes":60,"no_wait":true}"#,
    ),
    pull(
        "$JS.API.CONSUMER.MSG.NEXT.C1.D4",
        r#"{"batch":5,"max_bytes":10,"no_wait":true}"#,
    ),
    pull("$JS.API.CONSUMER.MSG.NEXT.C1.D1", r#"{"batch":"x"}"#),
    pull(
        "$JS.API.CONSUMER.MSG.NEXT.C1.D1",
        r#"{"batch":1,"expires":1000000000,"idle_heartbeat":900000000}"#,
    ),
    pull("$JS.API.CONSUMER.MSG.NEXT.C1.P", r#"{"batch":1}"#),
    pull("$JS.API.CONSUMER.MSG.NEXT.C1.NOPE", r#"{"batch":1}"#),
    request("$JS.API.CONSUMER.INFO.C1.D1", ""),
    request("$JS.API.CONSUMER.INFO.C1.D2", ""),
    // Pause, unpin, reset, delete.
    request(
        "$JS.API.CONSUMER.PAUSE.C1.D4",
        r#"{"pause_until":"2099-01-01T00:00:00Z"}"#,
    ),
    request("$JS.API.CONSUMER.INFO.C1.D4", ""),
    request("$JS.API.CONSUMER.PAUSE.C1.D4", ""),
    request("$JS.API.CONSUMER.PAUSE.C1.NOPE", ""),
    request("$JS.API.CONSUMER.UNPIN.C1.D4", r#"{"group":"g"}"#),
    request("$JS.API.CONSUMER.UNPIN.C1.D4", ""),
    request("$JS.API.CONSUMER.RESET.C1.D1", r#"{"seq":2}"#),
    request("$JS.API.CONSUMER.RESET.C1.D1", ""),
    request("$JS.API.CONSUMER.DELETE.C1.D2", ""),
    request("$JS.API.CONSUMER.DELETE.C1.D2", ""),
    request("$JS.API.CONSUMER.DELETE.C1.D2", r#"{"x":1}"#),
    request("$JS.API.CONSUMER.NAMES.C1", ""),
    // Work queue rules.
    request(
        "$JS.API.STREAM.CREATE.WQ",
        r#"{"name":"WQ","subjects":["wq.>"],"retention":"workqueue"}"#,
    ),
    request(
        "$JS.API.CONSUMER.CREATE.WQ.A",
        r#"{"stream_name":"WQ","config":{"durable_name":"A","filter_subject":"wq.a"}}"#,
    ),
    request(
        "$JS.API.CONSUMER.CREATE.WQ.B",
        r#"{"stream_name":"WQ","config":{"durable_name":"B","filter_subject":"wq.>"}}"#,
    ),
    request(
        "$JS.API.CONSUMER.CREATE.WQ.C",
        r#"{"stream_name":"WQ","config":{"durable_name":"C","ack_policy":"none"}}"#,
    ),
    request(
        "$JS.API.CONSUMER.CREATE.WQ.D",
        r#"{"stream_name":"WQ","config":{"durable_name":"D","deliver_policy":"last","filter_subject":"wq.d"}}"#,
    ),
];

/// The replies to every step, as text.
async fn run_script(url: &str, script: &[Step]) -> Vec<String> {
    let client = async_nats::ConnectOptions::new()
        .request_timeout(Some(Duration::from_secs(5)))
        .connect(url)
        .await
        .expect("connect");
    let mut replies = Vec::new();
    for step in script {
        let body = Bytes::from_static(step.body.as_bytes());
        if !step.pull {
            let text = match client.request(step.subject, body).await {
                Ok(message) => describe(&message),
                Err(error) => format!("error: {:?}", error.kind()),
            };
            replies.push(text);
            continue;
        }
        let inbox = client.new_inbox();
        let mut subscription = client.subscribe(inbox.clone()).await.expect("subscribe");
        client.flush().await.expect("flush");
        client
            .publish_with_reply(step.subject, inbox, body)
            .await
            .expect("publish");
        let mut texts = Vec::new();
        loop {
            let next = tokio::time::timeout(Duration::from_millis(1500), subscription.next());
            let Ok(Some(message)) = next.await else {
                texts.push("(nothing more)".to_owned());
                break;
            };
            texts.push(describe(&message));
            if message.status.is_some_and(|status| status.as_u16() != 100) {
                break;
            }
        }
        replies.push(texts.join("\n      "));
    }
    replies
}

/// The steps whose replies differ, each with both replies.
fn compare(script: &[Step], expected: &[String], actual: &[String]) -> Vec<String> {
    let mut differences = Vec::new();
    for ((step, go_reply), natrix_reply) in script.iter().zip(expected).zip(actual) {
        if go_reply != natrix_reply {
            differences.push(format!(
                "{} {}\n   go:     {go_reply}\n   natrix: {natrix_reply}",
                step.subject, step.body
            ));
        }
    }
    differences
}

/// A message as `status headers | reply | body`, with masked values.
fn describe(message: &async_nats::Message) -> String {
    let mut text = String::new();
    if let Some(status) = message.status {
        text.push_str(&format!("{} {:?} ", status, message.description));
    }
    if let Some(headers) = &message.headers {
        let mut pairs: Vec<String> = headers
            .iter()
            .map(|(name, values)| {
                let joined: Vec<&str> = values.iter().map(|value| value.as_str()).collect();
                format!("{name}={}", joined.join(","))
            })
            .collect();
        pairs.sort();
        text.push_str(&pairs.join(";"));
    }
    let reply = message
        .reply
        .as_ref()
        .map(|reply| mask_ack_time(reply))
        .unwrap_or_default();
    format!(
        "{text}|{reply}|{}",
        mask(&String::from_utf8_lossy(&message.payload))
    )
}

/// `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>` with `<ts>` masked.
fn mask_ack_time(reply: &str) -> String {
    let mut tokens: Vec<&str> = reply.split('.').collect();
    if tokens.len() == 9 && reply.starts_with("$JS.ACK.") {
        tokens[7] = "*";
    }
    tokens.join(".")
}

/// Replaces the values of the [`MASKED`] keys (strings or numbers) with `*`.
fn mask(json: &str) -> String {
    let mut out = json.to_owned();
    for key in MASKED {
        let pattern = format!("\"{key}\":");
        let mut search = 0;
        while let Some(found) = out[search..].find(&pattern) {
            let start = search + found + pattern.len();
            let rest = &out[start..];
            let end = if let Some(quoted) = rest.strip_prefix('"') {
                match quoted.find('"') {
                    Some(close) => start + close + 2,
                    None => break,
                }
            } else {
                start + rest.find([',', '}']).unwrap_or(rest.len())
            };
            out.replace_range(start..end, "*");
            search = start + 1;
        }
    }
    out
}

#[tokio::test]
async fn consumer_replies_and_pull_statuses_match_the_go_server_once_masked() {
    let go_dir = std::env::temp_dir().join(format!("natrix-jscdiff-go-{}", std::process::id()));
    let natrix_dir =
        std::env::temp_dir().join(format!("natrix-jscdiff-natrix-{}", std::process::id()));
    for dir in [&go_dir, &natrix_dir] {
        let _ = std::fs::remove_dir_all(dir);
    }
    let go = TestServer::go(&["-js", "-sd", go_dir.to_str().expect("utf-8")]);
    let natrix = TestServer::natrix(3, &["-js", "-sd", natrix_dir.to_str().expect("utf-8")]);
    let (go_url, natrix_url) = (go.url(), natrix.url());
    let (expected, actual) =
        tokio::join!(run_script(&go_url, SCRIPT), run_script(&natrix_url, SCRIPT));
    let differences = compare(SCRIPT, &expected, &actual);
    drop(go);
    drop(natrix);
    for dir in [&go_dir, &natrix_dir] {
        let _ = std::fs::remove_dir_all(dir);
    }
    assert!(
        differences.is_empty(),
        "{} of {} replies differ:\n{}",
        differences.len(),
        expected.len(),
        differences.join("\n")
    );
}

/// Consumer limits: a stream's `max_consumers`, its `consumer_limits`, and what account info
/// and stream info show of them.
const LIMITS_SCRIPT: &[Step] = &[
    request("$JS.API.INFO", ""),
    request(
        "$JS.API.STREAM.CREATE.L1",
        r#"{"name":"L1","subjects":["l1.>"]}"#,
    ),
    request(
        "$JS.API.STREAM.CREATE.L2",
        r#"{"name":"L2","subjects":["l2.>"],"max_consumers":2}"#,
    ),
    request(
        "$JS.API.STREAM.CREATE.L3",
        r#"{"name":"L3","subjects":["l3.>"],"max_consumers":0,"consumer_limits":{"max_ack_pending":10,"inactive_threshold":60000000000}}"#,
    ),
    request(
        "$JS.API.STREAM.CREATE.L4",
        r#"{"name":"L4","subjects":["l4.>"],"max_consumers":-1}"#,
    ),
    request(
        "$JS.API.CONSUMER.CREATE.L2.A",
        r#"{"stream_name":"L2","config":{"durable_name":"A","ack_policy":"explicit"}}"#,
    ),
    request(
        "$JS.API.CONSUMER.CREATE.L2.B",
        r#"{"stream_name":"L2","config":{"name":"B","ack_policy":"explicit"}}"#,
    ),
    // At the limit: a third (durable, named ephemeral, legacy ephemeral) is refused...
    request(
        "$JS.API.CONSUMER.CREATE.L2.C",
        r#"{"stream_name":"L2","config":{"durable_name":"C"}}"#,
    ),
    request(
        "$JS.API.CONSUMER.DURABLE.CREATE.L2.C",
        r#"{"stream_name":"L2","config":{"durable_name":"C"}}"#,
    ),
    request(
        "$JS.API.CONSUMER.CREATE.L2",
        r#"{"stream_name":"L2","config":{}}"#,
    ),
    // ...but an update of one that exists is not.
    request(
        "$JS.API.CONSUMER.CREATE.L2.A",
        r#"{"stream_name":"L2","config":{"durable_name":"A","ack_policy":"explicit","max_ack_pending":5}}"#,
    ),
    // A delete makes room again.
    request("$JS.API.CONSUMER.DELETE.L2.B", ""),
    request(
        "$JS.API.CONSUMER.CREATE.L2.C",
        r#"{"stream_name":"L2","config":{"durable_name":"C"}}"#,
    ),
    request(
        "$JS.API.CONSUMER.CREATE.L2.D",
        r#"{"stream_name":"L2","config":{"durable_name":"D"}}"#,
    ),
    // The stream's consumer limits: inherited, and a larger value refused.
    request(
        "$JS.API.CONSUMER.CREATE.L3.A",
        r#"{"stream_name":"L3","config":{"durable_name":"A","ack_policy":"explicit","max_ack_pending":20}}"#,
    ),
    request(
        "$JS.API.CONSUMER.CREATE.L3.A",
        r#"{"stream_name":"L3","config":{"durable_name":"A","ack_policy":"explicit","inactive_threshold":120000000000}}"#,
    ),
    request(
        "$JS.API.CONSUMER.CREATE.L3.B",
        r#"{"stream_name":"L3","config":{"durable_name":"B","ack_policy":"explicit"}}"#,
    ),
    request(
        "$JS.API.CONSUMER.CREATE.L4.A",
        r#"{"stream_name":"L4","config":{"durable_name":"A"}}"#,
    ),
    // -1 is capped by the server's default (1 in the configured run) as in Go 2.15.
    request(
        "$JS.API.CONSUMER.CREATE.L4.B",
        r#"{"stream_name":"L4","config":{"durable_name":"B"}}"#,
    ),
    // Lowering the stream's limit below its consumer count.
    request(
        "$JS.API.STREAM.UPDATE.L2",
        r#"{"name":"L2","subjects":["l2.>"],"max_consumers":1}"#,
    ),
    request(
        "$JS.API.STREAM.UPDATE.L4",
        r#"{"name":"L4","subjects":["l4.>"],"max_consumers":5}"#,
    ),
    request(
        "$JS.API.CONSUMER.CREATE.L4.C",
        r#"{"stream_name":"L4","config":{"durable_name":"C"}}"#,
    ),
    request("$JS.API.STREAM.INFO.L1", ""),
    request("$JS.API.STREAM.INFO.L2", ""),
    request("$JS.API.STREAM.INFO.L3", ""),
    request("$JS.API.CONSUMER.NAMES.L2", ""),
    request("$JS.API.INFO", ""),
];

/// Keys of `/jsz` whose scalar values differ between any two servers (times, identities,
/// host-dependent sizes, versions), and the stored byte counts (Natrix counts a message's
/// bytes as Go's memory store does, also for file streams; see the README).
const JSZ_MASKED: &[&str] = &[
    "now",
    "server_id",
    "created",
    "ts",
    "leader",
    "store_dir",
    "max_memory",
    "max_storage",
    "sync_interval",
    "level",
    "_nats.ver",
    "_nats.level",
    "first_ts",
    "last_ts",
    "bytes",
    "storage",
    "memory",
];

/// `/jsz` with [`JSZ_MASKED`] values replaced by `*`, the stream and consumer lists sorted
/// by name (Go lists them in map order), and without `sync_always` (Natrix's default sync
/// policy, documented in the README; Go's default leaves the key out) and `inflight`.
fn masked_jsz(port: u16, query: &str) -> serde_json::Value {
    fn walk(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                map.remove("sync_always");
                // Go's API requests in flight at that instant (left out when none).
                map.remove("inflight");
                for (key, child) in map.iter_mut() {
                    if JSZ_MASKED.contains(&key.as_str()) && !child.is_object() {
                        *child = serde_json::Value::String("*".into());
                    } else {
                        walk(child);
                    }
                }
            }
            serde_json::Value::Array(items) => {
                items.iter_mut().for_each(walk);
                items.sort_by_key(|item| item.get("name").map(ToString::to_string));
            }
            _ => {}
        }
    }
    let (status, body) = common::http_get(port, query);
    assert_eq!(status, 200, "{query}: {body}");
    let mut value: serde_json::Value = serde_json::from_str(&body).expect("/jsz is JSON");
    walk(&mut value);
    value
}

/// Runs the limits script on both servers and compares the replies and `/jsz`.
async fn limits_match(go: &TestServer, natrix: &TestServer) -> Vec<String> {
    let (go_url, natrix_url) = (go.url(), natrix.url());
    let (expected, actual) = tokio::join!(
        run_script(&go_url, LIMITS_SCRIPT),
        run_script(&natrix_url, LIMITS_SCRIPT)
    );
    let mut differences = compare(LIMITS_SCRIPT, &expected, &actual);
    for query in [
        "/jsz",
        "/jsz?consumers=true",
        "/jsz?consumers=true&config=true",
        "/jsz?accounts=true&streams=true",
        "/jsz?acc=$G&consumers=true",
        "/jsz?acc=A&consumers=true&config=true",
    ] {
        let go_jsz = masked_jsz(go.monitor_port.expect("go monitor"), query);
        let natrix_jsz = masked_jsz(natrix.monitor_port.expect("natrix monitor"), query);
        if go_jsz != natrix_jsz {
            differences.push(format!(
                "{query}\n   go:     {go_jsz}\n   natrix: {natrix_jsz}"
            ));
        }
    }
    differences
}

/// Starts both servers with `config` (its `{dir}` replaced by each one's store directory)
/// and the monitoring port.
fn start_both(name: &str, config: &str) -> (TestServer, TestServer, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("natrix-jsclim-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut servers = Vec::new();
    for server in ["go", "natrix"] {
        let store = dir.join(server);
        std::fs::create_dir_all(&store).expect("store dir");
        let file = dir.join(format!("{server}.conf"));
        let text = config.replace("{dir}", store.to_str().expect("utf-8"));
        std::fs::write(&file, text).expect("config");
        let path = file.to_str().expect("utf-8").to_owned();
        servers.push((server, path));
    }
    let go = TestServer::go(&["-c", &servers[0].1, "-m", "-1"]);
    let natrix = TestServer::natrix(3, &["-c", &servers[1].1, "-m", "-1"]);
    (go, natrix, dir)
}

#[tokio::test]
async fn consumer_limits_account_info_and_jsz_match_the_go_server() {
    let (go, natrix, dir) = start_both("default", "jetstream { store_dir: \"{dir}\" }\n");
    let differences = limits_match(&go, &natrix).await;
    drop(go);
    drop(natrix);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        differences.is_empty(),
        "{} replies differ:\n{}",
        differences.len(),
        differences.join("\n")
    );
}

#[tokio::test]
async fn a_configured_default_max_consumers_caps_streams_without_their_own_limit_as_go() {
    let config = "jetstream { store_dir: \"{dir}\", limits { default_max_consumers: 1 } }\n";
    let (go, natrix, dir) = start_both("configured", config);
    let differences = limits_match(&go, &natrix).await;
    drop(go);
    drop(natrix);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        differences.is_empty(),
        "{} replies differ:\n{}",
        differences.len(),
        differences.join("\n")
    );
}

/// Creates `count` ephemeral consumers on `stream` (a minute of inactivity allowed, so that
/// none goes while the others are made), then one more; returns the last reply.
async fn create_past(url: &str, stream: &str, count: usize) -> String {
    let client = async_nats::ConnectOptions::new()
        .request_timeout(Some(Duration::from_secs(30)))
        .connect(url)
        .await
        .expect("connect");
    let create = format!(r#"{{"name":"{stream}","subjects":["{stream}.>"]}}"#);
    client
        .request(format!("$JS.API.STREAM.CREATE.{stream}"), create.into())
        .await
        .expect("stream");
    let body =
        format!(r#"{{"stream_name":"{stream}","config":{{"inactive_threshold":60000000000}}}}"#);
    let mut created = 0;
    // In batches of 50 requests in flight.
    for batch in 0..count.div_ceil(50) {
        let requests = (0..50.min(count - batch * 50)).map(|_| {
            client.request(
                format!("$JS.API.CONSUMER.CREATE.{stream}"),
                body.clone().into(),
            )
        });
        for reply in futures_util::future::join_all(requests).await {
            let reply = reply.expect("reply");
            if !String::from_utf8_lossy(&reply.payload).contains("\"error\"") {
                created += 1;
            }
        }
    }
    assert_eq!(created, count, "every consumer below the limit is created");
    let reply = client
        .request(format!("$JS.API.CONSUMER.CREATE.{stream}"), body.into())
        .await
        .expect("reply");
    String::from_utf8_lossy(&reply.payload).into_owned()
}

#[tokio::test]
async fn a_stream_without_max_consumers_takes_a_thousand_consumers_as_go_2_15() {
    let (go, natrix, dir) = start_both("thousand", "jetstream { store_dir: \"{dir}\" }\n");
    let (go_url, natrix_url) = (go.url(), natrix.url());
    let (go_reply, natrix_reply) = tokio::join!(
        create_past(&go_url, "K", 1000),
        create_past(&natrix_url, "K", 1000)
    );
    drop(go);
    drop(natrix);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(go_reply.contains("10026"), "{go_reply}");
    assert_eq!(mask(&go_reply), mask(&natrix_reply));
}

#[tokio::test]
async fn an_accounts_max_consumers_caps_every_stream_as_go() {
    let config = "jetstream { store_dir: \"{dir}\" }\n\
        accounts { A { jetstream { max_consumers: 3, max_memory: 1GB, max_store: 2GB }, users [{ user: a, password: a }] } }\n\
        no_auth_user: a\n";
    let (go, natrix, dir) = start_both("account", config);
    let differences = limits_match(&go, &natrix).await;
    drop(go);
    drop(natrix);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        differences.is_empty(),
        "{} replies differ:\n{}",
        differences.len(),
        differences.join("\n")
    );
}
