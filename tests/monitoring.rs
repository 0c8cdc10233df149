//! The HTTP monitoring endpoints against real processes: the same traffic on Natrix (two
//! shards) and on the Go server, then each endpoint's JSON compared: the same keys
//! (recursively, with the exceptions listed below and why), the same JSON types, and equal
//! values where they must be. Bad query parameters get the Go server's status and text.
//! `/metrics` must parse as Prometheus text, and its counters must move with traffic.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use async_nats::{Client, ConnectOptions};
use bytes::Bytes;
use common::{free_port, http_get, TestServer};
use futures_util::StreamExt;
use serde_json::Value;

/// Keys only the Go server has, and why Natrix leaves them out.
const GO_ONLY: &[(&str, &str)] = &[(
    "accountz.account_detail.imports",
    "Go imports its system services into every account; Natrix has no system services",
)];

/// Keys only Natrix has (documented in the README as Natrix additions).
const NATRIX_ONLY: &[&str] = &["varz.shards"];

fn monitored(server: &TestServer) -> u16 {
    server
        .monitor_port
        .unwrap_or_else(|| panic!("no monitor line in {:#?}", server.startup_log))
}

fn get_json(server: &TestServer, path: &str) -> Value {
    let (status, body) = http_get(monitored(server), path);
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|error| panic!("GET {path}: {error}: {body}"))
}

async fn connect(server: &TestServer, name: &str) -> Client {
    ConnectOptions::new()
        .name(name)
        .connection_timeout(Duration::from_secs(5))
        .connect(server.url())
        .await
        .expect("connect")
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The union of an array's elements: objects merged key by key, nested arrays concatenated,
/// so that optional keys any element has are compared.
fn merged_elements(items: &[Value]) -> Option<Value> {
    let mut merged = items.first()?.clone();
    for item in &items[1..] {
        merge_into(&mut merged, item);
    }
    Some(merged)
}

fn merge_into(target: &mut Value, item: &Value) {
    match (target, item) {
        (Value::Object(fields), Value::Object(more)) => {
            for (key, value) in more {
                match fields.get_mut(key) {
                    Some(existing) => merge_into(existing, value),
                    None => {
                        fields.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (Value::Array(elements), Value::Array(more)) => elements.extend(more.iter().cloned()),
        _ => {}
    }
}

/// Compares two documents' shapes: keys (recursively) and JSON types. Arrays compare the
/// union of their elements when both have some.
fn compare_shapes(path: &str, go: &Value, natrix: &Value, problems: &mut Vec<String>) {
    if json_type(go) != json_type(natrix) {
        problems.push(format!(
            "{path}: Go has {} ({go}), Natrix {} ({natrix})",
            json_type(go),
            json_type(natrix)
        ));
        return;
    }
    match (go, natrix) {
        (Value::Object(go_map), Value::Object(natrix_map)) => {
            let keys: BTreeSet<&String> = go_map.keys().chain(natrix_map.keys()).collect();
            for key in keys {
                let child = format!("{path}.{key}");
                match (go_map.get(key), natrix_map.get(key)) {
                    (Some(go_value), Some(natrix_value)) => {
                        compare_shapes(&child, go_value, natrix_value, problems)
                    }
                    (Some(_), None) if GO_ONLY.iter().any(|(known, _)| *known == child) => {}
                    (None, Some(_)) if NATRIX_ONLY.contains(&child.as_str()) => {}
                    (Some(_), None) => problems.push(format!("{child}: only the Go server has it")),
                    (None, Some(_)) => problems.push(format!("{child}: only Natrix has it")),
                    (None, None) => {}
                }
            }
        }
        (Value::Array(go_items), Value::Array(natrix_items)) => {
            if let (Some(go_all), Some(natrix_all)) =
                (merged_elements(go_items), merged_elements(natrix_items))
            {
                compare_shapes(&format!("{path}[]"), &go_all, &natrix_all, problems);
            }
        }
        _ => {}
    }
}

/// What one server reported after the scripted traffic.
struct Observed {
    varz_before: Value,
    varz: Value,
    connz: Value,
    connz_closed: Value,
    connz_all_subs: Value,
    subsz: Value,
    routez: Value,
    accountz: Value,
    account_detail: Value,
    accstatz: Value,
    healthz: Value,
}

/// Connects three named clients, subscribes, publishes 10 messages that reach three
/// subscriptions, closes one subscriber, and reads every endpoint.
async fn run_traffic(server: &TestServer) -> Observed {
    let varz_before = get_json(server, "/varz");
    let alpha = connect(server, "alpha").await;
    // beta speaks raw protocol, so it closes with its subscription still in place (an
    // async-nats subscriber sends UNSUB when dropped, racing the close).
    let mut beta = common::RawClient::connect(server.port);
    beta.send(b"CONNECT {\"name\":\"beta\",\"verbose\":false}\r\nSUB orders.new 1\r\nPING\r\n");
    let (reply, _) = beta.read_until_pong_or_close(Duration::from_secs(5));
    assert!(reply.ends_with(b"PONG\r\n"));
    let gamma = connect(server, "gamma").await;
    let mut alpha_all = alpha.subscribe("orders.>").await.expect("sub");
    let mut alpha_queue = alpha
        .queue_subscribe("orders.*", "workers".into())
        .await
        .expect("queue sub");
    alpha.flush().await.expect("flush");
    // The subscriptions are registered once /connz shows them; a moment more lets the
    // interest summary reach the publisher's shard.
    wait_until(server, |connz| {
        let count = |name: &str| {
            connz["connections"]
                .as_array()
                .and_then(|connections| connections.iter().find(|c| c["name"] == name))
                .and_then(|connection| connection["subscriptions"].as_u64())
        };
        count("alpha") == Some(2) && count("beta") == Some(1)
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    for index in 0..10u8 {
        gamma
            .publish("orders.new", Bytes::from(vec![index; 8]))
            .await
            .expect("publish");
    }
    gamma.flush().await.expect("flush");
    for subscriber in [&mut alpha_all, &mut alpha_queue] {
        for _ in 0..10 {
            tokio::time::timeout(Duration::from_secs(5), subscriber.next())
                .await
                .expect("message within 5s")
                .expect("open");
        }
    }
    let mut delivered_to_beta = 0;
    while delivered_to_beta < 10 {
        let line = beta
            .read_line(Duration::from_secs(5))
            .expect("MSG for beta");
        if line.starts_with("MSG ") {
            delivered_to_beta += 1;
        }
    }
    let _payload = beta.read_line(Duration::from_secs(5));
    drop(beta);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let closed = get_json(server, "/connz?state=closed");
        if closed["connections"]
            .as_array()
            .is_some_and(|list| list.iter().any(|c| c["name"] == "beta"))
        {
            break;
        }
        assert!(Instant::now() < deadline, "beta never showed as closed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let observed = Observed {
        varz_before,
        varz: get_json(server, "/varz"),
        connz: get_json(server, "/connz?subs=1&auth=1"),
        connz_closed: get_json(server, "/connz?state=closed&sort=stop"),
        connz_all_subs: get_json(server, "/connz?state=all&subs=detail"),
        subsz: get_json(server, "/subsz?subs=1&test=orders.new"),
        routez: get_json(server, "/routez"),
        accountz: get_json(server, "/accountz"),
        account_detail: get_json(server, "/accountz?acc=%24G"),
        accstatz: get_json(server, "/accstatz"),
        healthz: get_json(server, "/healthz"),
    };
    drop((alpha_all, alpha_queue, alpha, gamma));
    observed
}

fn wait_until(server: &TestServer, done: impl Fn(&Value) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done(&get_json(server, "/connz")) {
        assert!(Instant::now() < deadline, "condition not reached within 5s");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn number(value: &Value, what: &str) -> i64 {
    value
        .as_i64()
        .unwrap_or_else(|| panic!("{what} is not an integer: {value}"))
}

fn connection<'a>(connz: &'a Value, name: &str) -> &'a Value {
    connz["connections"]
        .as_array()
        .and_then(|list| list.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no connection {name} in {connz}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_match_the_go_server_for_the_same_traffic() {
    let natrix_port = free_port().to_string();
    let natrix = TestServer::natrix(2, &["-m", &natrix_port]);
    let go_port = free_port().to_string();
    let go = TestServer::go(&["-m", &go_port]);
    let natrix_seen = run_traffic(&natrix).await;
    let go_seen = run_traffic(&go).await;

    let mut problems = Vec::new();
    for (name, go_doc, natrix_doc) in [
        ("varz", &go_seen.varz, &natrix_seen.varz),
        ("connz", &go_seen.connz, &natrix_seen.connz),
        (
            "connz_closed",
            &go_seen.connz_closed,
            &natrix_seen.connz_closed,
        ),
        (
            "connz_all",
            &go_seen.connz_all_subs,
            &natrix_seen.connz_all_subs,
        ),
        ("subsz", &go_seen.subsz, &natrix_seen.subsz),
        ("routez", &go_seen.routez, &natrix_seen.routez),
        (
            "accountz",
            &go_seen.account_detail,
            &natrix_seen.account_detail,
        ),
        ("accstatz", &go_seen.accstatz, &natrix_seen.accstatz),
        ("healthz", &go_seen.healthz, &natrix_seen.healthz),
    ] {
        compare_shapes(name, go_doc, natrix_doc, &mut problems);
    }
    // Each named connection, matched by name (list order and cids differ).
    for name in ["alpha", "gamma"] {
        compare_shapes(
            &format!("connz.{name}"),
            connection(&go_seen.connz, name),
            connection(&natrix_seen.connz, name),
            &mut problems,
        );
    }
    assert!(
        problems.is_empty(),
        "shape differences:\n{}",
        problems.join("\n")
    );

    for seen in [&go_seen, &natrix_seen] {
        // Counters: deltas, since the Go server counts its internal system clients too.
        let delta = |key: &str| number(&seen.varz[key], key) - number(&seen.varz_before[key], key);
        assert_eq!(delta("in_msgs"), 10, "in_msgs");
        assert_eq!(delta("out_msgs"), 30, "out_msgs");
        assert_eq!(delta("in_bytes"), 80, "in_bytes");
        assert_eq!(delta("out_bytes"), 240, "out_bytes");
        assert_eq!(delta("total_connections"), 3, "total_connections");
        assert_eq!(number(&seen.varz["connections"], "connections"), 2);
        assert_eq!(number(&seen.connz["num_connections"], "num"), 2);
        let alpha = connection(&seen.connz, "alpha");
        assert_eq!(alpha["out_msgs"], 20);
        assert_eq!(alpha["subscriptions"], 2);
        assert_eq!(alpha["lang"], "rust");
        let mut subjects: Vec<&str> = alpha["subscriptions_list"]
            .as_array()
            .expect("subscriptions_list")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        subjects.sort_unstable();
        assert_eq!(subjects, ["orders.*", "orders.>"]);
        let gamma = connection(&seen.connz, "gamma");
        assert_eq!(
            (gamma["in_msgs"].clone(), gamma["in_bytes"].clone()),
            (10.into(), 80.into())
        );
        let beta = connection(&seen.connz_closed, "beta");
        assert_eq!(beta["reason"], "Client Closed");
        assert_eq!(beta["out_msgs"], 10);
        assert!(beta["stop"].is_string());
        // The closed connection keeps the subscriptions it had when it closed.
        let beta_detail = connection(&seen.connz_all_subs, "beta");
        let subscription = &beta_detail["subscriptions_list_detail"][0];
        assert_eq!(subscription["subject"], "orders.new");
        assert_eq!(subscription["msgs"], 10);
        let alpha_detail = connection(&seen.connz_all_subs, "alpha");
        let queue_member = alpha_detail["subscriptions_list_detail"]
            .as_array()
            .and_then(|list| list.iter().find(|sub| sub["subject"] == "orders.*"))
            .expect("alpha's queue subscription");
        assert_eq!(queue_member["qgroup"], "workers");
        // The subscriptions a publish to orders.new would reach: alpha's two.
        let mut matched: Vec<(String, String, i64)> = seen.subsz["subscriptions_list"]
            .as_array()
            .expect("subscriptions_list")
            .iter()
            .filter(|sub| sub["account"] == "$G")
            .map(|sub| {
                (
                    sub["subject"].as_str().unwrap_or_default().to_string(),
                    sub["qgroup"].as_str().unwrap_or_default().to_string(),
                    number(&sub["msgs"], "msgs"),
                )
            })
            .collect();
        matched.sort();
        assert_eq!(
            matched,
            [
                ("orders.*".to_string(), "workers".to_string(), 10),
                ("orders.>".to_string(), String::new(), 10)
            ]
        );
        assert_eq!(seen.routez["num_routes"], 0);
        assert_eq!(seen.routez["routes"], serde_json::json!([]));
        let accounts = seen.accountz["accounts"].as_array().expect("accounts");
        assert!(accounts.contains(&"$G".into()) && accounts.contains(&"$SYS".into()));
        assert_eq!(seen.accountz["system_account"], "$SYS");
        assert_eq!(
            seen.account_detail["account_detail"]["client_connections"],
            2
        );
        let global = seen.accstatz["account_statz"]
            .as_array()
            .and_then(|list| list.iter().find(|acc| acc["acc"] == "$G"))
            .expect("$G in accstatz");
        assert_eq!(global["conns"], 2);
        assert_eq!(global["received"]["msgs"], 10);
        assert_eq!(global["sent"]["msgs"], 30);
        assert_eq!(seen.healthz, serde_json::json!({"status": "ok"}));
    }
    // Natrix additions: one entry per shard, pinned CPUs, per-shard sums equal the totals.
    let shards = natrix_seen.varz["shards"].as_array().expect("shards");
    assert_eq!(shards.len(), 2);
    let summed: i64 = shards
        .iter()
        .map(|shard| number(&shard["in_msgs"], "in"))
        .sum();
    assert_eq!(summed, number(&natrix_seen.varz["in_msgs"], "in_msgs"));
}

#[test]
fn bad_query_parameters_get_the_go_server_status_and_text() {
    let natrix_port = free_port().to_string();
    let natrix = TestServer::natrix(2, &["-m", &natrix_port]);
    let go_port = free_port().to_string();
    let go = TestServer::go(&["-m", &go_port]);
    for path in [
        "/connz?sort=foo",
        "/connz?limit=x",
        "/connz?offset=1.5",
        "/connz?cid=-1",
        "/connz?subs=maybe",
        "/connz?auth=yes",
        "/connz?state=bogus",
        "/connz?sort=stop",
        "/connz?sort=reason&state=all",
        "/subsz?test=foo.*",
        "/subsz?subs=2",
        "/accstatz?unused=x",
        "/accountz?acc=nope",
        "/healthz?js-enabled-only=x",
        "/healthz?details=x",
        "/healthz?stream=s",
        "/healthz?stream=s&details=true",
        "/healthz?account=a&consumer=c",
        "/routez?subs=x",
        "/no-such-endpoint",
    ] {
        let (go_status, go_body) = http_get(monitored(&go), path);
        let (natrix_status, natrix_body) = http_get(monitored(&natrix), path);
        assert_eq!(natrix_status, go_status, "status of {path}");
        // JSON bodies compare as JSON, text bodies as text.
        match (
            serde_json::from_str::<Value>(&go_body),
            serde_json::from_str::<Value>(&natrix_body),
        ) {
            (Ok(go_json), Ok(natrix_json)) => assert_eq!(natrix_json, go_json, "body of {path}"),
            _ => assert_eq!(natrix_body, go_body, "body of {path}"),
        }
    }
}

/// Checks the text exposition format line by line and returns the samples.
fn parse_prometheus(text: &str) -> Vec<(String, String, f64)> {
    let mut samples = Vec::new();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let words: Vec<&str> = comment.split_whitespace().collect();
            if words.first() == Some(&"TYPE") {
                assert!(
                    matches!(words.get(2), Some(&("counter" | "gauge"))),
                    "bad TYPE line {line:?}"
                );
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("name and value");
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line:?}"));
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => {
                let labels = rest.strip_suffix('}').expect("labels close with }");
                for pair in labels.split(',') {
                    let (key, quoted) = pair.split_once('=').expect("label=value");
                    assert!(
                        key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                        "bad label name in {line:?}"
                    );
                    assert!(
                        quoted.len() >= 2 && quoted.starts_with('"') && quoted.ends_with('"'),
                        "label value not quoted in {line:?}"
                    );
                }
                (name, labels.to_string())
            }
            None => (series, String::new()),
        };
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name in {line:?}"
        );
        samples.push((name.to_string(), labels, value));
    }
    samples
}

/// Parses the exposition with the Prometheus project's Python client (`prometheus-client`,
/// installed by `.ci/test.sh`), as a scraper would, and checks every family came through.
fn official_prometheus_parser_accepts(text: &str) {
    let script = "import sys\n\
from prometheus_client.parser import text_string_to_metric_families\n\
families = list(text_string_to_metric_families(sys.stdin.read()))\n\
print(len(families), sum(len(f.samples) for f in families))\n";
    let mut child = std::process::Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), text.as_bytes())
        .expect("write metrics");
    let output = child.wait_with_output().expect("parser ran");
    assert!(
        output.status.success(),
        "prometheus_client rejects /metrics: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let counts = String::from_utf8_lossy(&output.stdout);
    let families: usize = counts
        .split_whitespace()
        .next()
        .and_then(|count| count.parse().ok())
        .expect("family count");
    let declared = text
        .lines()
        .filter(|line| line.starts_with("# TYPE "))
        .count();
    assert_eq!(families, declared, "every # TYPE family parsed");
}

fn total(samples: &[(String, String, f64)], name: &str) -> f64 {
    samples
        .iter()
        .filter(|(sample, _, _)| sample == name)
        .map(|(_, _, value)| value)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_as_prometheus_text_and_counters_move_with_traffic() {
    // (Also checked below with the Prometheus project's own Python parser.)
    let port = free_port().to_string();
    let natrix = TestServer::natrix(2, &["-m", &port]);
    let (status, before_text) = http_get(monitored(&natrix), "/metrics");
    assert_eq!(status, 200);
    let before = parse_prometheus(&before_text);
    let shards_labeled = before
        .iter()
        .filter(|(name, _, _)| name == "natrix_in_msgs_total")
        .count();
    assert_eq!(shards_labeled, 2, "one in_msgs series per shard");

    let subscriber = connect(&natrix, "sub").await;
    let publisher = connect(&natrix, "pub").await;
    let mut subscription = subscriber.subscribe("metrics.test").await.expect("sub");
    subscriber.flush().await.expect("flush");
    tokio::time::sleep(Duration::from_millis(200)).await;
    for _ in 0..100 {
        publisher
            .publish("metrics.test", Bytes::from_static(b"0123456789"))
            .await
            .expect("publish");
    }
    publisher.flush().await.expect("flush");
    for _ in 0..100 {
        tokio::time::timeout(Duration::from_secs(5), subscription.next())
            .await
            .expect("message within 5s")
            .expect("open");
    }
    let (_, after_text) = http_get(monitored(&natrix), "/metrics");
    let after = parse_prometheus(&after_text);
    official_prometheus_parser_accepts(&after_text);
    let moved = |name: &str| total(&after, name) - total(&before, name);
    assert_eq!(moved("natrix_in_msgs_total"), 100.0);
    assert_eq!(moved("natrix_out_msgs_total"), 100.0);
    assert_eq!(moved("natrix_in_bytes_total"), 1000.0);
    assert_eq!(moved("natrix_connections"), 2.0);
    assert_eq!(moved("natrix_subscriptions"), 1.0);
    assert_eq!(moved("natrix_connections_total"), 2.0);
    assert!(total(&after, "natrix_shard_cpu_seconds_total") > 0.0);

    // /shardz names each shard's CPU and agrees with the metrics.
    let shardz = get_json(&natrix, "/shardz");
    let shards = shardz["shards"].as_array().expect("shards");
    assert_eq!(shards.len(), 2);
    assert!(shards.iter().all(|shard| shard["cpu"].is_number()));
    let connections: i64 = shards
        .iter()
        .map(|shard| number(&shard["connections"], "connections"))
        .sum();
    assert_eq!(connections, 2);
}

#[test]
fn closed_connections_are_kept_up_to_max_closed_clients_with_their_reason() {
    let directory = std::env::temp_dir().join(format!("natrix-monitor-{}", std::process::id()));
    std::fs::create_dir_all(&directory).expect("temp dir");
    let config = directory.join("monitor.conf");
    let port = free_port();
    std::fs::write(
        &config,
        format!("http: \"127.0.0.1:{port}\"\nmax_closed_clients: 3\nhttp_base_path: /mon/\n"),
    )
    .expect("write config");
    let natrix = TestServer::natrix(2, &["-c", config.to_str().expect("utf-8 path")]);
    assert_eq!(natrix.monitor_port, Some(port));
    for index in 0..5 {
        let mut client = common::RawClient::connect(natrix.port);
        client.send(format!("CONNECT {{\"name\":\"c{index}\"}}\r\nPING\r\n").as_bytes());
        client.read_until_pong_or_close(Duration::from_secs(5));
        if index == 4 {
            // A protocol error closes this one with the Go server's reason.
            client.send(b"BOGUS\r\n");
            assert!(client.wait_closed(Duration::from_secs(5)));
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (status, body) = http_get(port, "/mon/connz?state=closed&sort=stop");
        assert_eq!(status, 200, "{body}");
        let closed: Value = serde_json::from_str(&body).expect("json");
        let names: Vec<&str> = closed["connections"]
            .as_array()
            .expect("list")
            .iter()
            .filter_map(|c| c["name"].as_str())
            .collect();
        if names.contains(&"c4") {
            assert_eq!(closed["total"], 3, "{closed}");
            assert_eq!(names, ["c4", "c3", "c2"], "the oldest are dropped");
            assert_eq!(connection(&closed, "c4")["reason"], "Protocol Violation");
            break;
        }
        assert!(Instant::now() < deadline, "c4 never closed: {closed}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (status, _) = http_get(port, "/connz");
    assert_eq!(status, 404, "endpoints live under the base path");
    let _ = std::fs::remove_dir_all(&directory);
}

/// The start-up log up to `Server is ready` (the lines after the port line arrive later).
fn log_until_ready(server: &TestServer) -> Vec<String> {
    let mut lines = server.startup_log.clone();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !lines.iter().any(|line| line.contains("Server is ready")) && Instant::now() < deadline {
        if let Ok(line) = server.log.recv_timeout(Duration::from_millis(100)) {
            lines.push(line);
        }
    }
    lines
}

/// The text of a log line after its `[LVL] ` label.
fn messages(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter_map(|line| {
            line.split_once("] ")
                .and_then(|(_, rest)| rest.split_once("] "))
        })
        .map(|(level, message)| format!("[{}] {message}", level.rsplit('[').next().unwrap_or("")))
        .collect()
}

/// `/varz` `config_digest`, `feature_flags`, `tls_cert_not_after` and `git_commit`, and the
/// start-up lines about the configuration file, TLS, feature flags and plaintext passwords,
/// against the Go server on the same file.
#[test]
fn varz_and_the_start_up_log_describe_the_configuration_as_go_does() {
    let dir = std::env::temp_dir().join(format!("natrix-varz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let certificate =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("certificate");
    std::fs::write(dir.join("cert.pem"), certificate.cert.pem()).expect("cert");
    std::fs::write(dir.join("key.pem"), certificate.signing_key.serialize_pem()).expect("key");
    let config = dir.join("server.conf");
    std::fs::write(
        &config,
        format!(
            "tls {{\n  cert_file: \"{}\"\n  key_file: \"{}\"\n}}\n\
             feature_flags {{ js_ack_fc_v2: true, js_raft_delete_range: false, made_up: true }}\n\
             authorization {{ users: [{{user: a, password: plain}}] }}\n",
            dir.join("cert.pem").display(),
            dir.join("key.pem").display()
        ),
    )
    .expect("config");
    let path = config.to_str().expect("utf-8");
    let mut varz = Vec::new();
    let mut logs = Vec::new();
    for (who, server) in [
        (
            "go",
            TestServer::go(&["-c", path, "-m", &free_port().to_string()]),
        ),
        (
            "natrix",
            TestServer::natrix(2, &["-c", path, "-m", &free_port().to_string()]),
        ),
    ] {
        let log = messages(&log_until_ready(&server));
        let document = get_json(&server, "/varz");
        let digest = document["config_digest"].as_str().unwrap_or_default();
        assert!(digest.starts_with("sha256:"), "{who}: {document}");
        let commit = document["git_commit"].as_str().unwrap_or_default();
        assert!(
            commit.len() == 7 && commit.chars().all(|c| c.is_ascii_hexdigit()),
            "{who}: git_commit {commit:?}"
        );
        let wanted = [
            format!("[INF]   Git:      [{commit}]"),
            format!("[INF] Using configuration file: {path} ({digest})"),
            "[WRN] Plaintext passwords detected, use nkeys or bcrypt".to_string(),
            "[INF] TLS required for client connections".to_string(),
            "[INF]   Feature flags:".to_string(),
            "[INF]     Configured:    js_ack_fc_v2 (opt-in), js_raft_delete_range (opt-out)"
                .to_string(),
            "[INF]     Unsupported:   made_up".to_string(),
        ];
        for line in wanted {
            assert!(log.contains(&line), "{who} lacks {line:?}: {log:#?}");
        }
        varz.push(document);
        logs.push(log);
    }
    for key in ["config_digest", "feature_flags", "tls_cert_not_after"] {
        assert_eq!(varz[0][key], varz[1][key], "{key}");
    }
    assert!(varz[1]["tls_cert_not_after"].is_string());
    // Without TLS the expiry is left out, as Go leaves it out.
    let plain = TestServer::natrix(1, &["-m", &free_port().to_string()]);
    let document = get_json(&plain, "/varz");
    assert!(document.get("tls_cert_not_after").is_none(), "{document}");
    assert_eq!(document["config_digest"], "");
}
