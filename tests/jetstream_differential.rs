//! The same JetStream API requests and publishes sent to the Go server and to Natrix (two
//! shards), in the same order; every reply must be the same bytes once the values that must
//! differ are masked (times, server names, the API level and version Natrix reports, and the
//! byte counts of file streams, which the stores count differently: see README).
//! Error replies for invalid configurations and requests are part of the script.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::TestServer;

/// Keys whose scalar value is replaced by `*` before comparing.
const MASKED: &[&str] = &[
    "created",
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
    request("$JS.API.STREAM.DELETE.ORDERS", ""),
    request("$JS.API.STREAM.DELETE.ORDERS", ""),
    request("$JS.API.STREAM.NAMES", ""),
    request("$JS.API.CONSUMER.NAMES.MEM", ""),
];

/// The reply to every step, as `headers|body` text.
async fn run_script(url: &str) -> Vec<String> {
    let client = async_nats::ConnectOptions::new()
        .request_timeout(Some(Duration::from_secs(5)))
        .connect(url)
        .await
        .expect("connect");
    let mut replies = Vec::new();
    for step in SCRIPT {
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
                    mask(&String::from_utf8_lossy(&message.payload))
                )
            }
            Err(error) => format!("error: {:?}", error.kind()),
        };
        replies.push(text);
    }
    replies
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
    let go_dir = std::env::temp_dir().join(format!("natrix-jsdiff-go-{}", std::process::id()));
    let natrix_dir =
        std::env::temp_dir().join(format!("natrix-jsdiff-natrix-{}", std::process::id()));
    for dir in [&go_dir, &natrix_dir] {
        let _ = std::fs::remove_dir_all(dir);
    }
    let go = TestServer::go(&["-js", "-sd", go_dir.to_str().expect("utf-8")]);
    let natrix = TestServer::natrix(2, &["-js", "-sd", natrix_dir.to_str().expect("utf-8")]);
    let expected = run_script(&go.url()).await;
    let actual = run_script(&natrix.url()).await;
    let mut differences = Vec::new();
    for ((step, go_reply), natrix_reply) in SCRIPT
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
    // Go-only: its consumer limit default, which Natrix (without consumers yet) has not.
    go_keys.remove(".limits.default_max_consumers");
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
