//! The same JetStream API requests and publishes sent to the Go server and to Natrix (two
//! shards), in the same order; every reply must be the same bytes once the values that must
//! differ are masked (times, server names, the API level and version Natrix reports, and the
//! byte counts of file streams, which the stores count differently: see README).
//! Error replies for invalid configurations and requests are part of the script.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{StoreDir, TestServer};
use futures_util::StreamExt;

/// Keys whose scalar value is replaced by `*` before comparing.
const MASKED: &[&str] = &[
    "created",
    "deliver_subject",
    "ts",
    "first_ts",
    "last_ts",
    "time",
    "leader",
    "_nats.ver",
    "_nats.level",
    "level",
    "bytes",
    "storage",
    "Nats-Time-Stamp",
];

/// One step of the script: a request (subject, headers, body) whose reply is compared, or a
/// publish without a reply.
struct Step {
    subject: &'static str,
    headers: &'static [(&'static str, &'static str)],
    body: &'static str,
    compare: bool,
}

const fn request(subject: &'static str, body: &'static str) -> Step {
    Step {
        subject,
        headers: &[],
        body,
        compare: true,
    }
}

const fn with_headers(
    subject: &'static str,
    headers: &'static [(&'static str, &'static str)],
    body: &'static str,
) -> Step {
    Step {
        subject,
        headers,
        body,
        compare: true,
    }
}

const SCRIPT: &[Step] = &[
    request("$JS.API.INFO", ""),
    request(
        "$JS.API.STREAM.CREATE.ORDERS",
        r#"{"name":"ORDERS","subjects":["orders.>"]}"#,
    ),
    request(
        "$JS.API.STREAM.CREATE.ORDERS",
        r#"{"name":"ORDERS","subjects":["orders.>"]}"#,
    ),
    request(
        "$JS.API.STREAM.CREATE.ORDERS",
        r#"{"name":"ORDERS","subjects":["other.>"]}"#,
    ),
    request(
        "$JS.API.STREAM.CREATE.ORDERS",
        r#"{"name":"OTHER","subjects":["x"]}"#,
    ),
    request(
        "$JS.API.STREAM.CREATE.X",
        r#"{"name":"X","subjects":["orders.new"]}"#,
    ),
    request("$JS.API.STREAM.CREATE.Y", r#"{"name":"Y","max_age":-1}"#),
    request("$JS.API.STREAM.CREATE.Y", r#"{"name":"Y","max_age":1000}"#),
    request(
        "$JS.API.STREAM.CREATE.Y",
        r#"{"name":"Y","num_replicas":3}"#,
    ),
    request(
        "$JS.API.STREAM.CREATE.Y",
        r#"{"name":"Y","subjects":["a b"]}"#,
    ),
    request(
        "$JS.API.STREAM.CREATE.Y",
        r#"{"name":"Y","subjects":["y","y"]}"#,
    ),
    request(
        "$JS.API.STREAM.CREATE.Y",
        r#"{"name":"Y","subjects":["y.>","y.a"]}"#,
    ),
    request("$JS.API.STREAM.CREATE.Y", r#"{"name":"Y","bogus":1}"#),
    request(
        "$JS.API.STREAM.CREATE.Y",
        r#"{"name":"Y","deny_purge":true,"allow_rollup_hdrs":true}"#,
    ),
    request(
        "$JS.API.STREAM.CREATE.Y",
        r#"{"name":"Y","discard_new_per_subject":true}"#,
    ),
    request(
        "$JS.API.STREAM.CREATE.Y",
        r#"{"name":"Y","duplicate_window":1000}"#,
    ),
    request("$JS.API.STREAM.CREATE.Y", r#"{"name":"Y","sealed":true}"#),
    request(
        "$JS.API.STREAM.CREATE.Y",
        r#"{"name":"Y","subjects":[">"]}"#,
    ),
    request(
        "$JS.API.STREAM.CREATE.Y",
        r#"{"name":"Y","subjects":["$JS.API.>"]}"#,
    ),
    request(
        "$JS.API.STREAM.CREATE.Y",
        r#"{"name":"Y","max_age":60000000000,"duplicate_window":120000000000}"#,
    ),
    request("$JS.API.STREAM.CREATE.Y", "{"),
    request(
        "$JS.API.STREAM.CREATE.MEM",
        r#"{"name":"MEM","subjects":["mem.>"],"storage":"memory","max_msgs":10,"allow_direct":true,"description":"in memory","metadata":{"team":"a"}}"#,
    ),
    request(
        "$JS.API.STREAM.CREATE.TTL",
        r#"{"name":"TTL","subjects":["ttl.>"],"storage":"memory","allow_msg_ttl":true,"max_msgs_per_subject":3,"discard":"new","max_bytes":100000}"#,
    ),
    request("orders.a", "one"),
    request("orders.a", "two"),
    request("orders.b", "three"),
    with_headers("orders.b", &[("Nats-Msg-Id", "id-1")], "four"),
    with_headers("orders.b", &[("Nats-Msg-Id", "id-1")], "four again"),
    with_headers("orders.b", &[("Nats-Expected-Last-Sequence", "9")], "five"),
    with_headers("orders.b", &[("Nats-Expected-Last-Sequence", "4")], "five"),
    with_headers("orders.b", &[("Nats-Expected-Stream", "NOPE")], "six"),
    with_headers(
        "orders.a",
        &[("Nats-Expected-Last-Subject-Sequence", "2")],
        "six",
    ),
    with_headers(
        "orders.a",
        &[("Nats-Expected-Last-Subject-Sequence", "1")],
        "seven",
    ),
    with_headers(
        "orders.c",
        &[("Nats-Expected-Last-Msg-Id", "wrong")],
        "eight",
    ),
    with_headers("orders.c", &[("Nats-Rollup", "sub")], "nine"),
    with_headers("orders.c", &[("Nats-TTL", "10s")], "ten"),
    with_headers("ttl.a", &[("Nats-TTL", "10s")], "with ttl"),
    with_headers("ttl.a", &[("Nats-TTL", "bogus")], "bad ttl"),
    with_headers("ttl.a", &[("Nats-Incr", "1")], "counter"),
    request("mem.a", "m1"),
    with_headers("mem.b", &[("X-Custom", "yes")], "m2"),
    request("$JS.API.STREAM.INFO.ORDERS", ""),
    request("$JS.API.STREAM.INFO.ORDERS", r#"{"subjects_filter":">"}"#),
    request(
        "$JS.API.STREAM.INFO.ORDERS",
        r#"{"subjects_filter":"orders.a"}"#,
    ),
    request("$JS.API.STREAM.INFO.ORDERS", r#"{"bogus":true}"#),
    request("$JS.API.STREAM.INFO.MEM", ""),
    request("$JS.API.STREAM.INFO.NOPE", ""),
    request("$JS.API.STREAM.NAMES", ""),
    request("$JS.API.STREAM.NAMES", r#"{"subject":"mem.x"}"#),
    request("$JS.API.STREAM.NAMES", r#"{"offset":2}"#),
    request("$JS.API.STREAM.LIST", ""),
    request("$JS.API.STREAM.LIST", r#"{"subject":"orders.*"}"#),
    request("$JS.API.STREAM.MSG.GET.ORDERS", r#"{"seq":1}"#),
    request("$JS.API.STREAM.MSG.GET.ORDERS", r#"{"seq":4}"#),
    request(
        "$JS.API.STREAM.MSG.GET.ORDERS",
        r#"{"last_by_subj":"orders.a"}"#,
    ),
    request(
        "$JS.API.STREAM.MSG.GET.ORDERS",
        r#"{"next_by_subj":"orders.b","seq":2}"#,
    ),
    request("$JS.API.STREAM.MSG.GET.ORDERS", r#"{"seq":99}"#),
    request("$JS.API.STREAM.MSG.GET.ORDERS", r#"{}"#),
    request(
        "$JS.API.STREAM.MSG.GET.ORDERS",
        r#"{"seq":1,"last_by_subj":"orders.a"}"#,
    ),
    request("$JS.API.STREAM.MSG.GET.ORDERS", r#"{"seq":1,"batch":2}"#),
    request("$JS.API.STREAM.MSG.GET.NOPE", r#"{"seq":1}"#),
    request("$JS.API.DIRECT.GET.MEM", r#"{"seq":1}"#),
    request("$JS.API.DIRECT.GET.MEM", r#"{"seq":2}"#),
    request("$JS.API.DIRECT.GET.MEM", r#"{"last_by_subj":"mem.a"}"#),
    request("$JS.API.DIRECT.GET.MEM.mem.b", ""),
    request("$JS.API.DIRECT.GET.MEM", r#"{"seq":1,"batch":5}"#),
    request("$JS.API.DIRECT.GET.MEM", r#"{"multi_last":["mem.*"]}"#),
    request("$JS.API.DIRECT.GET.MEM", r#"{"seq":50}"#),
    request("$JS.API.DIRECT.GET.MEM", ""),
    request("$JS.API.DIRECT.GET.MEM", "{"),
    request(
        "$JS.API.DIRECT.GET.MEM",
        r#"{"seq":1,"last_by_subj":"mem.a"}"#,
    ),
    request("$JS.API.INFO", ""),
    request(
        "$JS.API.STREAM.UPDATE.ORDERS",
        r#"{"name":"ORDERS","subjects":["orders.>"],"max_msgs":100}"#,
    ),
    request(
        "$JS.API.STREAM.UPDATE.ORDERS",
        r#"{"name":"ORDERS","subjects":["orders.>"],"storage":"memory"}"#,
    ),
    request(
        "$JS.API.STREAM.UPDATE.ORDERS",
        r#"{"name":"ORDERS","subjects":["mem.>"]}"#,
    ),
    request("$JS.API.STREAM.UPDATE.NOPE", r#"{"name":"NOPE"}"#),
    request("$JS.API.STREAM.UPDATE.ORDERS", r#"{"name":"OTHER"}"#),
    request("$JS.API.STREAM.MSG.DELETE.ORDERS", r#"{"seq":2}"#),
    request("$JS.API.STREAM.MSG.DELETE.ORDERS", r#"{"seq":2}"#),
    request(
        "$JS.API.STREAM.MSG.DELETE.ORDERS",
        r#"{"seq":3,"no_erase":true}"#,
    ),
    request("$JS.API.STREAM.MSG.DELETE.ORDERS", ""),
    request("$JS.API.INFO", ""),
    request("$JS.API.STREAM.INFO.ORDERS", ""),
    request("$JS.API.STREAM.INFO.ORDERS", r#"{"deleted_details":true}"#),
    request(
        "$JS.API.STREAM.INFO.ORDERS",
        r#"{"deleted_details":true,"subjects_filter":"orders.*"}"#,
    ),
    // The last message deleted: the Go stores list it as deleted too.
    request("$JS.API.STREAM.MSG.DELETE.MEM", r#"{"seq":2}"#),
    request("$JS.API.STREAM.INFO.MEM", r#"{"deleted_details":true}"#),
    request(
        "$JS.API.STREAM.PURGE.ORDERS",
        r#"{"filter":"orders.a","keep":1}"#,
    ),
    request("$JS.API.STREAM.PURGE.ORDERS", r#"{"seq":1,"keep":1}"#),
    request("$JS.API.STREAM.PURGE.ORDERS", r#"{"seq":6}"#),
    request("$JS.API.STREAM.PURGE.ORDERS", ""),
    request("$JS.API.STREAM.INFO.ORDERS", ""),
    request("orders.z", "after purge"),
    request("$JS.API.INFO", ""),
    request("$JS.API.STREAM.SNAPSHOT.ORDERS", ""),
    request("$JS.API.STREAM.SNAPSHOT.NOPE", r#"{"deliver_subject":"x"}"#),
    request(
        "$JS.API.STREAM.SNAPSHOT.ORDERS",
        r#"{"deliver_subject":"a.*"}"#,
    ),
    request("$JS.API.STREAM.SNAPSHOT.ORDERS", r#"{"deliver":"a"}"#),
    request(
        "$JS.API.STREAM.SNAPSHOT.ORDERS",
        r#"{"deliver_subject":"nobody.listens","chunk_size":1024}"#,
    ),
    request("$JS.API.STREAM.RESTORE.ORDERS", ""),
    request("$JS.API.STREAM.RESTORE.X", r#"{"config":{"name":"Y"}}"#),
    request(
        "$JS.API.STREAM.RESTORE.X",
        r#"{"config":{"name":"X"},"bogus":1}"#,
    ),
    request(
        "$JS.API.STREAM.RESTORE.ORDERS",
        r#"{"config":{"name":"ORDERS","subjects":["orders.>"]}}"#,
    ),
    request(
        "$JS.API.STREAM.RESTORE.X",
        r#"{"config":{"name":"X","subjects":["x"],"max_msgs_per_subject":-5}}"#,
    ),
    request("$JS.API.STREAM.DELETE.ORDERS", ""),
    request("$JS.API.STREAM.DELETE.ORDERS", ""),
    request("$JS.API.STREAM.NAMES", ""),
    request("$JS.API.CONSUMER.NAMES.MEM", ""),
];

/// The reply to every step, as `headers|body` text.
async fn run_script(url: &str, script: &[Step]) -> Vec<String> {
    let client = async_nats::ConnectOptions::new()
        .request_timeout(Some(Duration::from_secs(5)))
        .connect(url)
        .await
        .expect("connect");
    let mut replies = Vec::new();
    for step in script {
        let mut headers = async_nats::HeaderMap::new();
        for (name, value) in step.headers {
            headers.insert(*name, *value);
        }
        let body = Bytes::from_static(step.body.as_bytes());
        if !step.compare {
            client
                .publish_with_headers(step.subject, headers, body)
                .await
                .expect("publish");
            continue;
        }
        let reply = client
            .request_with_headers(step.subject, headers, body)
            .await;
        let text = match reply {
            Ok(message) => {
                let mut header_text = String::new();
                if let Some(status) = message.status {
                    header_text.push_str(&format!("{} {:?} ", status, message.description));
                }
                if let Some(headers) = &message.headers {
                    let mut pairs: Vec<String> = headers
                        .iter()
                        .map(|(name, values)| {
                            let value = if MASKED.contains(&name.as_ref()) {
                                "*".to_owned()
                            } else {
                                values
                                    .iter()
                                    .map(|v| v.as_str())
                                    .collect::<Vec<_>>()
                                    .join(",")
                            };
                            format!("{name}={value}")
                        })
                        .collect();
                    pairs.sort();
                    header_text.push_str(&pairs.join(";"));
                }
                format!(
                    "{header_text}|{}",
                    mask(&sorted_stored_headers(&String::from_utf8_lossy(
                        &message.payload
                    )))
                )
            }
            Err(error) => format!("error: {:?}", error.kind()),
        };
        replies.push(text);
    }
    replies
}

/// A stored message's headers (`"hdrs"`, base64) with their lines sorted: the client sends
/// a `HeaderMap` in no fixed order, so two runs store the same headers in different orders.
fn sorted_stored_headers(json: &str) -> String {
    use base64::Engine;
    let Ok(mut value) = serde_json::from_str::<serde_json::Value>(json) else {
        return json.to_owned();
    };
    let Some(hdrs) = value
        .pointer_mut("/message/hdrs")
        .and_then(|hdrs| hdrs.as_str().map(str::to_owned))
    else {
        return json.to_owned();
    };
    let engine = base64::engine::general_purpose::STANDARD;
    let Ok(raw) = engine.decode(hdrs) else {
        return json.to_owned();
    };
    let text = String::from_utf8_lossy(&raw);
    let mut lines: Vec<&str> = text.split("\r\n").filter(|line| !line.is_empty()).collect();
    if lines.len() > 1 {
        lines[1..].sort_unstable();
    }
    value["message"]["hdrs"] = serde_json::Value::String(lines.join("|"));
    value.to_string()
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
async fn api_replies_match_the_go_server_byte_for_byte_once_masked() {
    compare_with_go("plain", SCRIPT, None).await;
}

/// Requests on the domain form of the API (`$JS.hub.API.>`) and publishes whose PubAcks name
/// the domain, against both servers configured with `jetstream { domain: hub }`.
const DOMAIN_SCRIPT: &[Step] = &[
    request("$JS.hub.API.INFO", ""),
    request(
        "$JS.hub.API.STREAM.CREATE.D",
        r#"{"name":"D","subjects":["d.>"]}"#,
    ),
    request("d.1", "one"),
    with_headers("d.1", &[("Nats-Msg-Id", "a")], "two"),
    with_headers("d.1", &[("Nats-Msg-Id", "a")], "two again"),
    request("$JS.hub.API.STREAM.INFO.D", ""),
    request("$JS.API.STREAM.INFO.D", ""),
    request("$JS.hub.API.STREAM.NAMES", ""),
    request("$JS.hub.API.STREAM.MSG.GET.D", r#"{"seq":1}"#),
    request(
        "$JS.hub.API.STREAM.CREATE.D",
        r#"{"name":"D","subjects":["x"]}"#,
    ),
    request(
        "$JS.hub.API.STREAM.UPDATE.D",
        r#"{"name":"D","subjects":["d.>"],"max_msgs":5}"#,
    ),
    request("$JS.hub.API.STREAM.LIST", ""),
    request("$JS.hub.API.INFO", ""),
    request("$JS.other.API.INFO", ""),
    request("$JS.hub.API.STREAM.DELETE.D", ""),
];

/// Atomic batch publish: staging, commits (`1` and `eob`), and every refusal, against a
/// stream with `allow_atomic` and one without.
const BATCH_SCRIPT: &[Step] = &[
    request(
        "$JS.API.STREAM.CREATE.B",
        r#"{"name":"B","subjects":["b.>"],"allow_atomic":true}"#,
    ),
    request(
        "$JS.API.STREAM.CREATE.N",
        r#"{"name":"N","subjects":["n.>"]}"#,
    ),
    with_headers(
        "b.1",
        &[("Nats-Batch-Id", "x"), ("Nats-Batch-Sequence", "1")],
        "x1",
    ),
    with_headers(
        "b.2",
        &[("Nats-Batch-Id", "x"), ("Nats-Batch-Sequence", "2")],
        "x2",
    ),
    with_headers(
        "b.1",
        &[
            ("Nats-Batch-Id", "x"),
            ("Nats-Batch-Sequence", "3"),
            ("Nats-Batch-Commit", "1"),
        ],
        "x3",
    ),
    with_headers(
        "b.1",
        &[("Nats-Batch-Id", "y"), ("Nats-Batch-Sequence", "1")],
        "y1",
    ),
    with_headers(
        "b.3",
        &[("Nats-Batch-Id", "y"), ("Nats-Batch-Sequence", "2")],
        "y2",
    ),
    with_headers(
        "b.3",
        &[
            ("Nats-Batch-Id", "y"),
            ("Nats-Batch-Sequence", "3"),
            ("Nats-Batch-Commit", "eob"),
        ],
        "",
    ),
    request("$JS.API.STREAM.MSG.GET.B", r#"{"seq":5}"#),
    with_headers(
        "b.1",
        &[("Nats-Batch-Id", "z"), ("Nats-Batch-Sequence", "1")],
        "z1",
    ),
    with_headers(
        "b.1",
        &[
            ("Nats-Batch-Id", "z"),
            ("Nats-Batch-Sequence", "3"),
            ("Nats-Batch-Commit", "1"),
        ],
        "z3",
    ),
    with_headers(
        "b.1",
        &[("Nats-Batch-Id", "u"), ("Nats-Batch-Sequence", "2")],
        "u2",
    ),
    with_headers("b.1", &[("Nats-Batch-Id", "v")], "no sequence"),
    with_headers(
        "b.1",
        &[
            ("Nats-Batch-Id", "v"),
            ("Nats-Batch-Sequence", "1"),
            ("Nats-Batch-Commit", "2"),
        ],
        "bad commit",
    ),
    with_headers(
        "b.1",
        &[
            (
                "Nats-Batch-Id",
                "0123456789012345678901234567890123456789012345678901234567890123456789",
            ),
            ("Nats-Batch-Sequence", "1"),
        ],
        "long id",
    ),
    with_headers(
        "b.1",
        &[("Nats-Batch-Id", "w"), ("Nats-Batch-Sequence", "1")],
        "w1",
    ),
    with_headers(
        "b.1",
        &[
            ("Nats-Batch-Id", "w"),
            ("Nats-Batch-Sequence", "2"),
            ("Nats-Batch-Commit", "1"),
            ("Nats-Expected-Stream", "OTHER"),
        ],
        "w2",
    ),
    with_headers(
        "b.1",
        &[
            ("Nats-Batch-Id", "m"),
            ("Nats-Batch-Sequence", "1"),
            ("Nats-Msg-Id", "dup"),
        ],
        "m1",
    ),
    with_headers(
        "b.1",
        &[
            ("Nats-Batch-Id", "m"),
            ("Nats-Batch-Sequence", "2"),
            ("Nats-Batch-Commit", "1"),
            ("Nats-Msg-Id", "dup"),
        ],
        "m2",
    ),
    with_headers(
        "b.1",
        &[
            ("Nats-Batch-Id", "l"),
            ("Nats-Batch-Sequence", "1"),
            ("Nats-Batch-Commit", "1"),
            ("Nats-Expected-Last-Msg-Id", "a"),
        ],
        "l1",
    ),
    with_headers(
        "b.1",
        &[
            ("Nats-Batch-Id", "s"),
            ("Nats-Batch-Sequence", "1"),
            ("Nats-Expected-Last-Sequence", "5"),
        ],
        "s1",
    ),
    with_headers(
        "b.1",
        &[
            ("Nats-Batch-Id", "s"),
            ("Nats-Batch-Sequence", "2"),
            ("Nats-Batch-Commit", "1"),
            ("Nats-Expected-Last-Sequence", "6"),
        ],
        "s2",
    ),
    with_headers(
        "b.9",
        &[
            ("Nats-Batch-Id", "k"),
            ("Nats-Batch-Sequence", "1"),
            ("Nats-Batch-Commit", "1"),
        ],
        "single",
    ),
    with_headers(
        "n.1",
        &[
            ("Nats-Batch-Id", "x"),
            ("Nats-Batch-Sequence", "1"),
            ("Nats-Batch-Commit", "1"),
        ],
        "disabled",
    ),
    request("$JS.API.STREAM.INFO.B", ""),
    request("$JS.API.STREAM.INFO.N", ""),
];

#[tokio::test]
async fn atomic_batch_replies_match_the_go_server() {
    compare_with_go("batch", BATCH_SCRIPT, None).await;
}

#[tokio::test]
async fn domain_api_replies_match_the_go_server() {
    compare_with_go("domain", DOMAIN_SCRIPT, Some("hub")).await;
}

/// Runs `script` against the Go server and against Natrix (two shards), each with a store
/// directory of its own (and `domain` in a configuration file), and compares the replies.
async fn compare_with_go(label: &str, script: &[Step], domain: Option<&str>) {
    let dir_of = |server: &str| {
        std::env::temp_dir().join(format!(
            "natrix-jsdiff-{label}-{server}-{}",
            std::process::id()
        ))
    };
    let (go_dir, natrix_dir) = (dir_of("go"), dir_of("natrix"));
    let args_for = |dir: &std::path::Path| -> Vec<String> {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).expect("store dir");
        let store = dir.join("store");
        match domain {
            None => vec![
                "-js".to_owned(),
                "-sd".to_owned(),
                store.to_str().expect("utf-8").to_owned(),
            ],
            Some(domain) => {
                let config = dir.join("server.conf");
                let text = format!(
                    "jetstream {{\n  store_dir: {:?}\n  domain: {domain}\n}}\n",
                    store.to_str().expect("utf-8")
                );
                std::fs::write(&config, text).expect("config file");
                vec!["-c".to_owned(), config.to_str().expect("utf-8").to_owned()]
            }
        }
    };
    let go_args = args_for(&go_dir);
    let natrix_args = args_for(&natrix_dir);
    let go = TestServer::go(&go_args.iter().map(String::as_str).collect::<Vec<_>>());
    let natrix_strs: Vec<&str> = natrix_args.iter().map(String::as_str).collect();
    let natrix = TestServer::natrix(2, &natrix_strs);
    let expected = run_script(&go.url(), script).await;
    let actual = run_script(&natrix.url(), script).await;
    let mut differences = Vec::new();
    for ((step, go_reply), natrix_reply) in script
        .iter()
        .filter(|step| step.compare)
        .zip(&expected)
        .zip(&actual)
    {
        if go_reply != natrix_reply {
            differences.push(format!(
                "{} {:?} {}\n   go:     {go_reply}\n   natrix: {natrix_reply}",
                step.subject, step.headers, step.body
            ));
        }
    }
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

/// Every key of `value`, with its path, recursively (array elements share their path).
fn key_paths(value: &serde_json::Value, path: &str, out: &mut std::collections::BTreeSet<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, member) in map {
                let child = format!("{path}.{key}");
                out.insert(child.clone());
                key_paths(member, &child, out);
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                key_paths(item, &format!("{path}[]"), out);
            }
        }
        _ => {}
    }
}

async fn jsz_after_traffic(server: &TestServer) -> serde_json::Value {
    let client = async_nats::connect(server.url()).await.expect("connect");
    let js = async_nats::jetstream::new(client);
    js.create_stream(async_nats::jetstream::stream::Config {
        name: "JSZ".into(),
        subjects: vec!["jsz.>".into()],
        max_bytes: 1 << 20,
        ..Default::default()
    })
    .await
    .expect("create");
    for _ in 0..3 {
        js.publish("jsz.a", Bytes::from_static(b"x"))
            .await
            .expect("publish")
            .await
            .expect("ack");
    }
    let port = server.monitor_port.expect("monitor port");
    let (status, body) = common::http_get(port, "/jsz?accounts=true&streams=true&config=true");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).expect("/jsz is JSON")
}

#[tokio::test]
async fn jsz_reports_the_go_servers_fields_and_the_streams() {
    let dir = std::env::temp_dir().join(format!("natrix-jsz-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let go_dir = dir.join("go");
    let natrix_dir = dir.join("natrix");
    let go_port = common::free_port().to_string();
    let natrix_port = common::free_port().to_string();
    let go = TestServer::go(&[
        "-js",
        "-sd",
        go_dir.to_str().expect("utf-8"),
        "-m",
        &go_port,
    ]);
    let natrix = TestServer::natrix(
        2,
        &[
            "-js",
            "-sd",
            natrix_dir.to_str().expect("utf-8"),
            "-m",
            &natrix_port,
        ],
    );
    let go_jsz = jsz_after_traffic(&go).await;
    let natrix_jsz = jsz_after_traffic(&natrix).await;
    drop(go);
    drop(natrix);
    let _ = std::fs::remove_dir_all(&dir);
    let (mut go_keys, mut natrix_keys) = Default::default();
    key_paths(&go_jsz, "", &mut go_keys);
    key_paths(&natrix_jsz, "", &mut natrix_keys);
    // Go's API requests in flight at that instant, left out when none: not a field to match.
    go_keys.remove(".api.inflight");
    let missing: Vec<&String> = go_keys.difference(&natrix_keys).collect();
    let extra: Vec<&String> = natrix_keys.difference(&go_keys).collect();
    assert!(
        missing.is_empty(),
        "keys Go has and Natrix lacks: {missing:?}\n{natrix_jsz:#}"
    );
    // Natrix's sync policy is `always` by default, which Go reports with `sync_always`.
    assert_eq!(
        extra,
        [".config.sync_always"],
        "keys Natrix has and Go lacks"
    );
    for document in [&go_jsz, &natrix_jsz] {
        assert_eq!(document["streams"], 1);
        assert_eq!(document["messages"], 3);
        assert_eq!(document["reserved_storage"], 1 << 20);
        let stream = &document["account_details"][0]["stream_detail"][0];
        assert_eq!(stream["name"], "JSZ");
        assert_eq!(stream["state"]["messages"], 3);
        assert_eq!(stream["config"]["max_bytes"], 1 << 20);
    }
}

/// The advisories a create, an update and a delete of a stream publish, in order.
async fn advisories(server: &TestServer) -> Vec<(String, serde_json::Value)> {
    let client = async_nats::connect(server.url()).await.expect("connect");
    let mut events = client
        .subscribe("$JS.EVENT.ADVISORY.>")
        .await
        .expect("subscribe");
    client.flush().await.expect("flush");
    for (subject, body) in [
        (
            "$JS.API.STREAM.CREATE.ADV",
            r#"{"name":"ADV","subjects":["adv"]}"#,
        ),
        (
            "$JS.API.STREAM.UPDATE.ADV",
            r#"{"name":"ADV","subjects":["adv","adv2"]}"#,
        ),
        ("$JS.API.STREAM.DELETE.ADV", ""),
    ] {
        client
            .request(subject, Bytes::from_static(body.as_bytes()))
            .await
            .expect("reply");
    }
    let mut seen = Vec::new();
    while seen.len() < 6 {
        let message = tokio::time::timeout(
            Duration::from_secs(5),
            futures_util::StreamExt::next(&mut events),
        )
        .await
        .expect("advisory in time")
        .expect("subscription open");
        let value: serde_json::Value =
            serde_json::from_slice(&message.payload).expect("advisory JSON");
        seen.push((message.subject.to_string(), value));
    }
    let key = |(subject, value): &(String, serde_json::Value)| {
        (
            subject.clone(),
            value["subject"].to_string(),
            value["type"].to_string(),
        )
    };
    seen.sort_by_key(key);
    seen
}

#[tokio::test]
async fn stream_and_api_audit_advisories_match_the_go_server() {
    let dir = std::env::temp_dir().join(format!("natrix-jsadv-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let go = TestServer::go(&["-js", "-sd", dir.join("go").to_str().expect("utf-8")]);
    let natrix = TestServer::natrix(
        2,
        &["-js", "-sd", dir.join("natrix").to_str().expect("utf-8")],
    );
    let expected = advisories(&go).await;
    let actual = advisories(&natrix).await;
    drop(go);
    drop(natrix);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(expected.len(), actual.len());
    for ((go_subject, go_value), (natrix_subject, natrix_value)) in expected.iter().zip(&actual) {
        assert_eq!(go_subject, natrix_subject);
        let go_keys: Vec<&String> = go_value.as_object().expect("object").keys().collect();
        let natrix_keys: Vec<&String> = natrix_value.as_object().expect("object").keys().collect();
        assert_eq!(go_keys, natrix_keys, "{go_subject}");
        for key in ["type", "stream", "action", "subject", "request"] {
            assert_eq!(go_value[key], natrix_value[key], "{go_subject} {key}");
        }
        if go_subject == "$JS.EVENT.ADVISORY.API" {
            // The response is the API reply itself, compared by the script test; here its
            // type is enough.
            let reply_type = |value: &serde_json::Value| {
                let response: serde_json::Value =
                    serde_json::from_str(value["response"].as_str().expect("string"))
                        .expect("response JSON");
                response["type"].clone()
            };
            assert_eq!(reply_type(go_value), reply_type(natrix_value));
            assert_eq!(natrix_value["client"]["acc"], "$G");
        }
    }
}

/// What a client sees of a stream with a subject transform and a republish: the PubAcks,
/// the republished messages (subject, headers with the time masked, payload) and the stored
/// subjects.
async fn transform_and_republish_view(url: &str) -> Vec<String> {
    let client = async_nats::connect(url).await.expect("connect");
    let mut republished = client.subscribe("out.>").await.expect("subscribe");
    client.flush().await.expect("flush");
    let mut seen = Vec::new();
    let create = client
        .request(
            "$JS.API.STREAM.CREATE.T",
            Bytes::from_static(
                br#"{"name":"T","subjects":["in.>"],"subject_transform":{"src":"in.*.>","dest":"stored.$1.>"},"republish":{"src":"stored.>","dest":"out.>"}}"#,
            ),
        )
        .await
        .expect("create");
    seen.push(mask(&String::from_utf8_lossy(&create.payload)));
    for (subject, header) in [
        ("in.a.b", Some("1")),
        ("in.a.c", None),
        ("in.a.b", None),
        ("in.x", None),
    ] {
        let mut headers = async_nats::HeaderMap::new();
        if let Some(value) = header {
            headers.insert("X-Trace", value);
        }
        let ack = client
            .request_with_headers(
                subject,
                headers,
                Bytes::from(format!("payload of {subject}")),
            )
            .await
            .expect("publish");
        seen.push(String::from_utf8_lossy(&ack.payload).into_owned());
    }
    for _ in 0..3 {
        let message = tokio::time::timeout(Duration::from_secs(5), republished.next())
            .await
            .expect("republished within 5 s")
            .expect("subscription open");
        let mut headers: Vec<String> = message
            .headers
            .iter()
            .flat_map(|headers| headers.iter())
            .map(|(name, values)| {
                let value = if name.to_string() == "Nats-Time-Stamp" {
                    "*".to_owned()
                } else {
                    values
                        .iter()
                        .map(|value| value.as_str())
                        .collect::<Vec<_>>()
                        .join(",")
                };
                format!("{name}={value}")
            })
            .collect();
        headers.sort();
        seen.push(format!(
            "{} {} {}",
            message.subject,
            headers.join(";"),
            String::from_utf8_lossy(&message.payload)
        ));
    }
    for seq in 1..=4 {
        let reply = client
            .request(
                "$JS.API.STREAM.MSG.GET.T",
                Bytes::from(format!(r#"{{"seq":{seq}}}"#)),
            )
            .await
            .expect("get");
        seen.push(mask(&String::from_utf8_lossy(&reply.payload)));
    }
    seen
}

#[tokio::test]
async fn subject_transforms_and_republish_match_the_go_server() {
    let dir_of = |server: &str| {
        std::env::temp_dir().join(format!("natrix-jsdiff-rp-{server}-{}", std::process::id()))
    };
    let (go_dir, natrix_dir) = (dir_of("go"), dir_of("natrix"));
    let go = TestServer::go(&["-js", "-sd", go_dir.to_str().expect("utf-8")]);
    let natrix = TestServer::natrix(2, &["-js", "-sd", natrix_dir.to_str().expect("utf-8")]);
    let expected = transform_and_republish_view(&go.url()).await;
    let actual = transform_and_republish_view(&natrix.url()).await;
    drop(go);
    drop(natrix);
    for dir in [&go_dir, &natrix_dir] {
        let _ = std::fs::remove_dir_all(dir);
    }
    for (go_line, natrix_line) in expected.iter().zip(&actual) {
        assert_eq!(natrix_line, go_line);
    }
    assert_eq!(actual.len(), expected.len());
    // What both servers did, so that the comparison cannot pass on two empty views.
    assert!(
        actual[5].starts_with("out.a.b Nats-Last-Sequence=0;Nats-Sequence=1;")
            && actual[5].contains("X-Trace=1"),
        "{actual:#?}"
    );
    assert!(actual[6].contains("Nats-Subject=stored.a.c"), "{actual:#?}");
    assert!(
        actual[7].starts_with("out.a.b Nats-Last-Sequence=1;Nats-Sequence=3;"),
        "{actual:#?}"
    );
    assert!(actual[11].contains(r#""subject":"in.x""#), "{actual:#?}");
}

/// The stored subject of one message published to `subject` into a stream whose
/// `subject_transform` maps `source` to `destination`; or the create error.
async fn transformed_subject(
    client: &async_nats::Client,
    index: usize,
    source: &str,
    destination: &str,
    subject: &str,
) -> String {
    let name = format!("FN{index}");
    let config = serde_json::json!({
        "name": name,
        "subjects": [format!("fn{index}.>")],
        "subject_transform": {"src": source, "dest": destination},
    });
    let create = client
        .request(
            format!("$JS.API.STREAM.CREATE.{name}"),
            Bytes::from(config.to_string()),
        )
        .await
        .expect("create");
    let created: serde_json::Value = serde_json::from_slice(&create.payload).expect("JSON");
    if let Some(error) = created.get("error") {
        return format!("create error {error}");
    }
    client
        .request(subject.to_owned(), Bytes::from_static(b"x"))
        .await
        .expect("publish");
    let reply = client
        .request(
            format!("$JS.API.STREAM.MSG.GET.{name}"),
            Bytes::from_static(br#"{"seq":1}"#),
        )
        .await
        .expect("get");
    let got: serde_json::Value = serde_json::from_slice(&reply.payload).expect("JSON");
    got["message"]["subject"].to_string()
}

/// Every mapping function of the Go server (split, splitFromLeft/Right, sliceFromLeft/Right,
/// left, right, partition with and without token indexes) in a stream's subject transform:
/// the stored subjects are the Go server's. (Malformed function arguments are refused on
/// both, with other descriptions: see the README.)
#[tokio::test]
async fn mapping_functions_in_subject_transforms_match_the_go_server() {
    let cases = [
        ("fn0.*", "r.{{split(1,-)}}", "fn0.a-b--c"),
        ("fn1.*", "r.{{splitFromLeft(1,2)}}", "fn1.abcdef"),
        ("fn2.*", "r.{{splitFromRight(1,2)}}", "fn2.abcdef"),
        ("fn3.*", "r.{{sliceFromLeft(1,2)}}", "fn3.abcde"),
        ("fn4.*", "r.{{sliceFromRight(1,2)}}", "fn4.abcde"),
        ("fn5.*", "r.{{left(1,3)}}", "fn5.abcde"),
        ("fn6.*", "r.{{right(1,3)}}", "fn6.abcde"),
        ("fn7.*.*", "r.{{partition(5)}}.$2", "fn7.a.b"),
        ("fn8.*.*", "r.{{partition(5,2,1)}}", "fn8.key.other"),
        (
            "fn9.*",
            "r.{{left(1,99)}}.{{SplitFromLeft(1, 1)}}",
            "fn9.ab",
        ),
    ];
    let mut views = Vec::new();
    let dirs = [StoreDir::new("fn-natrix"), StoreDir::new("fn-go")];
    for (side, dir) in dirs.iter().enumerate() {
        let server = if side == 0 {
            TestServer::natrix(2, &["-js", "-sd", dir.path()])
        } else {
            TestServer::go(&["-js", "-sd", dir.path()])
        };
        let client = async_nats::connect(server.url()).await.expect("connect");
        let mut view = Vec::new();
        for (index, (source, destination, subject)) in cases.iter().enumerate() {
            view.push(format!(
                "{destination} of {subject}: {}",
                transformed_subject(&client, index, source, destination, subject).await
            ));
        }
        views.push(view);
    }
    assert_eq!(views[0], views[1], "left Natrix, right Go");
    assert!(views[0][0].ends_with("\"r.a.b.c\""), "{:?}", views[0]);
}
