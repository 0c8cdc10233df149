//! The JSON documents of the monitoring endpoints, with the Go server's field names, types and
//! omission rules (`server/monitor.go`), built from the shards' snapshots.

use natrix_shards::account::GLOBAL_ACCOUNT_NAME;
use std::cmp::Reverse;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use natrix_shards::monitor::{
    add_account_counters, AccountCounters, ConnectionSnapshot, ShardSnapshot, SnapshotScope,
    SubscriptionSnapshot,
};
use natrix_shards::subject::{is_valid_literal_subject, pattern_matches};
use serde_json::{json, Map, Value};

use super::query::{BadRequest, Query};
use super::{Monitor, Reply};

/// Go's `DefaultConnListSize` and `DefaultSubListSize`.
const DEFAULT_LIST_SIZE: i64 = 1024;

/// `/`: a page of links, as the Go server serves.
pub fn root(monitor: &Monitor) -> Reply {
    let base = &monitor.context.base_path;
    let links: String = [
        ("General", "/varz"),
        ("Connections", "/connz"),
        ("Accounts", "/accountz"),
        ("Account Stats", "/accstatz"),
        ("Subscriptions", "/subsz"),
        ("Routes", "/routez"),
        ("Health Probe", "/healthz"),
        ("JetStream", "/jsz"),
        ("Shards (Natrix)", "/shardz"),
        ("Prometheus metrics (Natrix)", "/metrics"),
    ]
    .iter()
    .map(|(title, path)| format!("  <a href=.{base}{path}>{title}</a><br/>\n"))
    .collect();
    Reply {
        status: hyper::StatusCode::OK,
        content_type: "text/html; charset=utf-8",
        body: format!(
            "<html lang=\"en\">\n<head><title>natrix</title></head>\n<body>\n  <h1>natrix {}</h1>\n{links}</body>\n</html>\n",
            env!("CARGO_PKG_VERSION")
        ),
    }
}

/// `/varz`: the server's options and counters summed over shards, plus Natrix's `shards`.
pub fn varz(monitor: &Monitor) -> Reply {
    let snapshots = monitor.gather(SnapshotScope::default());
    let (cpu, mem) = monitor.process_usage();
    let context = &monitor.context;
    let config = monitor.config();
    let options = &config.settings.options;
    let info = &config.settings.info;
    let total = sum_counters(&snapshots);
    let tls_timeout = options
        .tls
        .as_ref()
        .map_or(2.0, |tls| tls.timeout.as_secs_f64());
    let auth_timeout = options
        .auth
        .timeout
        .filter(|timeout| !timeout.is_zero())
        .map_or_else(
            || match &options.tls {
                Some(tls) => tls.timeout.as_secs_f64() + 1.0,
                None => 2.0,
            },
            |timeout| timeout.as_secs_f64(),
        );
    let request_counts: Map<String, Value> = monitor
        .request_counts
        .lock()
        .map(|counts| {
            counts
                .iter()
                .map(|(path, count)| (path.clone(), json!(count)))
                .collect()
        })
        .unwrap_or_default();
    let mut varz = json!({
        "server_id": info.server_id,
        "server_name": info.server_name,
        "version": info.version,
        "proto": info.proto,
        "go": info.go,
        "host": info.host,
        "port": info.port,
        "max_connections": options.max_connections,
        "ping_interval": duration_nanos(options.ping_interval),
        "ping_max": options.max_pings_out,
        "http_host": context.http_host,
        "http_port": if context.secure { 0 } else { context.http_port },
        "http_base_path": context.base_path,
        "https_port": if context.secure { context.http_port } else { 0 },
        "auth_timeout": auth_timeout,
        "max_control_line": options.max_control_line,
        "max_payload": options.max_payload,
        "max_pending": options.max_pending,
        "cluster": {},
        "gateway": {},
        "leaf": {},
        "mqtt": {},
        "websocket": websocket_varz(&config),
        "jetstream": {},
        "tls_timeout": tls_timeout,
        "write_deadline": duration_nanos(options.write_deadline),
        "start": go_time(monitor.start),
        "now": go_time(SystemTime::now()),
        "uptime": go_uptime(monitor.start_instant.elapsed()),
        "mem": mem,
        "cores": std::thread::available_parallelism().map_or(1, usize::from),
        "gomaxprocs": context.pinning.len(),
        "cpu": cpu,
        "connections": total.connections,
        "total_connections": total.total_connections,
        "routes": 0,
        "remotes": 0,
        "leafnodes": 0,
        "in_msgs": total.in_msgs,
        "in_bytes": total.in_bytes,
        "in_client_msgs": total.in_msgs,
        "in_client_bytes": total.in_bytes,
        "out_msgs": total.out_msgs,
        "out_bytes": total.out_bytes,
        "out_client_msgs": total.out_msgs,
        "out_client_bytes": total.out_bytes,
        "slow_consumers": total.slow_consumers,
        "stale_connections": total.stale_connections,
        "stalled_clients": 0,
        "subscriptions": total.subscriptions,
        "http_req_stats": request_counts,
        "config_load_time": go_time(config.loaded_at),
        "config_digest": options.config_digest,
        "feature_flags": crate::bootstrap::merged_feature_flags(options),
        "system_account": config.settings.accounts.get(config.settings.accounts.system()).name,
        "slow_consumer_stats": {
            "clients": total.slow_consumers, "routes": 0, "gateways": 0, "leafs": 0
        },
        "stale_connection_stats": {
            "clients": total.stale_connections, "routes": 0, "gateways": 0, "leafs": 0
        },
        "disk_io_wait_stats": {"waiters": 0, "waits": 0, "wait_time": 0, "max_wait_time": 0},
        "shards": shard_documents(monitor, &snapshots),
    });
    // Go omits these three when false.
    for (key, value) in [
        ("auth_required", info.auth_required),
        ("tls_required", info.tls_required),
        ("tls_verify", info.tls_verify),
    ] {
        if value {
            varz[key] = json!(true);
        }
    }
    if options.max_subscriptions > 0 {
        varz["max_subscriptions"] = json!(options.max_subscriptions);
    }
    // Go leaves these out when empty or zero.
    if !crate::bootstrap::GIT_COMMIT.is_empty() {
        varz["git_commit"] = json!(crate::bootstrap::GIT_COMMIT);
    }
    if let Some(not_after) = config.tls_cert_not_after {
        varz["tls_cert_not_after"] = json!(go_time(not_after));
    }
    Reply::json(pretty(&varz))
}

/// `/varz`'s `websocket` section (Go's `WebsocketOptsVarz`: empty fields left out), with the
/// bound port.
fn websocket_varz(config: &crate::bootstrap::ServedConfig) -> Value {
    let mut section = Map::new();
    let (Some(options), Some(served)) = (
        config.settings.options.websocket.as_ref(),
        config.settings.websocket.as_ref(),
    ) else {
        return Value::Object(section);
    };
    let mut put = |key: &str, value: Value, present: bool| {
        if present {
            section.insert(key.to_string(), value);
        }
    };
    put("host", json!(options.host), !options.host.is_empty());
    put("port", json!(served.port), served.port != 0);
    let advertise = options.advertise.clone().unwrap_or_default();
    put("advertise", json!(advertise), !advertise.is_empty());
    let no_auth_user = options.no_auth_user.clone().unwrap_or_default();
    put(
        "no_auth_user",
        json!(no_auth_user),
        !no_auth_user.is_empty(),
    );
    let jwt_cookie = options.jwt_cookie.clone().unwrap_or_default();
    put("jwt_cookie", json!(jwt_cookie), !jwt_cookie.is_empty());
    let handshake = options.handshake_timeout.unwrap_or_default();
    put(
        "handshake_timeout",
        json!(duration_nanos(handshake)),
        !handshake.is_zero(),
    );
    let auth_timeout = options.auth_timeout.unwrap_or_default();
    put("auth_timeout", json!(auth_timeout), auth_timeout != 0.0);
    put("no_tls", json!(true), options.no_tls);
    let tls_map = options.tls.as_ref().is_some_and(|tls| tls.verify_and_map);
    put("tls_map", json!(true), tls_map);
    let pinned = options
        .tls
        .as_ref()
        .and_then(|tls| tls.pinned_set())
        .unwrap_or_default();
    put("tls_pinned_certs", json!(pinned), !pinned.is_empty());
    put("same_origin", json!(true), options.same_origin);
    put(
        "allowed_origins",
        json!(options.allowed_origins),
        !options.allowed_origins.is_empty(),
    );
    put("compression", json!(true), options.compression);
    if let Some(not_after) = config.websocket_cert_not_after {
        section.insert("tls_cert_not_after".into(), json!(go_time(not_after)));
    }
    Value::Object(section)
}

/// `/shardz` (Natrix): one entry per shard.
pub fn shardz(monitor: &Monitor) -> Reply {
    let snapshots = monitor.gather(SnapshotScope::default());
    let document = json!({
        "server_id": monitor.config().settings.info.server_id,
        "now": go_time(SystemTime::now()),
        "num_shards": monitor.context.pinning.len(),
        "shards": shard_documents(monitor, &snapshots),
    });
    Reply::json(pretty(&document))
}

fn shard_documents(monitor: &Monitor, snapshots: &[ShardSnapshot]) -> Vec<Value> {
    let cpu_percent = monitor.shard_cpu_percent(snapshots);
    snapshots
        .iter()
        .zip(cpu_percent)
        .map(|(snapshot, cpu)| {
            let counters = &snapshot.counters;
            let pinned_cpu = monitor
                .context
                .pinning
                .get(usize::from(snapshot.shard))
                .map(|(_, cpu)| *cpu);
            json!({
                "shard": snapshot.shard,
                "cpu": pinned_cpu,
                "cpu_percent": cpu,
                "cpu_time_seconds": counters.cpu_time.as_secs_f64(),
                "connections": counters.connections,
                "total_connections": counters.total_connections,
                "subscriptions": counters.subscriptions,
                "in_msgs": counters.in_msgs,
                "in_bytes": counters.in_bytes,
                "out_msgs": counters.out_msgs,
                "out_bytes": counters.out_bytes,
                "slow_consumers": counters.slow_consumers,
                "stale_connections": counters.stale_connections,
                "handoffs_out": counters.handoffs_out,
                "handoffs_in": counters.handoffs_in,
                "mesh_queue_depth": counters.mesh_queue_depth,
                "outbox_depth": counters.outbox_depth,
            })
        })
        .collect()
}

/// Counters summed over shards.
#[derive(Default)]
pub struct Totals {
    pub connections: usize,
    pub total_connections: u64,
    pub subscriptions: usize,
    pub in_msgs: u64,
    pub in_bytes: u64,
    pub out_msgs: u64,
    pub out_bytes: u64,
    pub slow_consumers: u64,
    pub stale_connections: u64,
}

pub fn sum_counters(snapshots: &[ShardSnapshot]) -> Totals {
    let mut total = Totals::default();
    for snapshot in snapshots {
        let counters = &snapshot.counters;
        total.connections += counters.connections;
        total.total_connections += counters.total_connections;
        total.subscriptions += counters.subscriptions;
        total.in_msgs += counters.in_msgs;
        total.in_bytes += counters.in_bytes;
        total.out_msgs += counters.out_msgs;
        total.out_bytes += counters.out_bytes;
        total.slow_consumers += counters.slow_consumers;
        total.stale_connections += counters.stale_connections;
    }
    total
}

/// Go's connection states for `/connz?state=`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ConnState {
    Open,
    Closed,
    All,
}

/// Go's `SortOpt` values.
const SORT_OPTIONS: &[&str] = &[
    "cid",
    "start",
    "subs",
    "pending",
    "msgs_to",
    "msgs_from",
    "bytes_to",
    "bytes_from",
    "last",
    "idle",
    "uptime",
    "stop",
    "reason",
    "rtt",
];

/// `/connz`.
pub fn connz(monitor: &Monitor, query: &Query) -> Result<Reply, BadRequest> {
    // Decoded in the Go server's order, so the first bad parameter is the one reported.
    let sort = query.get("sort");
    let auth = query.boolean("auth")?;
    let subs_detail = query.get("subs").eq_ignore_ascii_case("detail");
    let subs = !subs_detail && query.boolean("subs")?;
    let offset = query.int("offset")?.max(0);
    let mut limit = query.int("limit")?;
    let cid = query.uint64("cid")?;
    let state = match query.get("state").to_ascii_lowercase().as_str() {
        "" | "open" => ConnState::Open,
        "closed" => ConnState::Closed,
        "any" | "all" => ConnState::All,
        _ => {
            return Err(BadRequest(format!(
                "Error decoding state for {}",
                query.get("state")
            )))
        }
    };
    let user = query.get("user");
    let account_filter = query.get("acc");
    let sort = if sort.is_empty() { "cid" } else { sort };
    if !SORT_OPTIONS.contains(&sort) {
        return Err(BadRequest(format!("invalid sorting option: {sort}")));
    }
    if sort == "stop" && state != ConnState::Closed {
        return Err(BadRequest(
            "sort by stop only valid on closed connections".into(),
        ));
    }
    if sort == "reason" && state != ConnState::Closed {
        return Err(BadRequest(
            "sort by reason only valid on closed connections".into(),
        ));
    }
    if limit <= 0 {
        limit = DEFAULT_LIST_SIZE;
    }
    if cid > 0 {
        limit = 1;
    }
    let now = SystemTime::now();
    let mut document = json!({
        "server_id": monitor.config().settings.info.server_id,
        "now": go_time(now),
        "num_connections": 0,
        "total": 0,
        "offset": offset,
        "limit": limit,
        "connections": [],
    });
    if !account_filter.is_empty()
        && monitor
            .config()
            .settings
            .accounts
            .id(account_filter)
            .is_none()
    {
        // Go returns the empty document, with no connection list, for an unknown account.
        document["connections"] = Value::Null;
        return Ok(Reply::json(pretty(&document)));
    }
    let scope = SnapshotScope {
        connections: state != ConnState::Closed,
        closed: state != ConnState::Open,
        connection_subscriptions: subs || subs_detail,
        subscriptions: false,
    };
    let snapshots = monitor.gather(scope);
    let mut open: Vec<ConnectionSnapshot> = snapshots
        .iter()
        .flat_map(|snapshot| snapshot.connections.iter().cloned())
        .collect();
    let mut closed = merged_closed(monitor, &snapshots);
    let in_account = |connection: &ConnectionSnapshot| {
        account_filter.is_empty() || connection.account == account_filter
    };
    open.retain(in_account);
    closed.retain(in_account);
    let total = open.len() + closed.len();
    let mut selected: Vec<ConnectionSnapshot> = if cid > 0 {
        match open.iter().find(|connection| connection.cid == cid) {
            Some(found) => vec![found.clone()],
            None => closed
                .iter()
                .find(|connection| connection.cid == cid)
                .cloned()
                .into_iter()
                .collect(),
        }
    } else {
        open.into_iter()
            .chain(closed)
            .filter(|connection| user.is_empty() || connection.authorized_user == user)
            .collect()
    };
    sort_connections(&mut selected, sort, now);
    let count = selected.len();
    let start = usize::try_from(offset).unwrap_or(usize::MAX).min(count);
    let take = usize::try_from(limit)
        .unwrap_or(usize::MAX)
        .min(count - start);
    let connections: Vec<Value> = selected[start..start + take]
        .iter()
        .map(|connection| connection_document(connection, now, auth, subs, subs_detail))
        .collect();
    document["total"] = json!(total);
    document["num_connections"] = json!(connections.len());
    document["connections"] = Value::Array(connections);
    Ok(Reply::json(pretty(&document)))
}

/// The closed connections of every shard, oldest first, at most `max_closed_clients`.
fn merged_closed(monitor: &Monitor, snapshots: &[ShardSnapshot]) -> Vec<ConnectionSnapshot> {
    let mut closed: Vec<ConnectionSnapshot> = snapshots
        .iter()
        .flat_map(|snapshot| snapshot.closed.iter().cloned())
        .collect();
    closed.sort_by_key(|connection| (connection.stop, connection.cid));
    let capacity = monitor
        .config()
        .settings
        .options
        .monitoring
        .max_closed_clients();
    if closed.len() > capacity {
        closed.drain(..closed.len() - capacity);
    }
    closed
}

fn sort_connections(connections: &mut [ConnectionSnapshot], sort: &str, now: SystemTime) {
    let idle = |connection: &ConnectionSnapshot| {
        connection
            .stop
            .unwrap_or(now)
            .duration_since(connection.last_activity)
            .unwrap_or_default()
    };
    match sort {
        "subs" => connections.sort_by_key(|c| Reverse(c.subscription_count)),
        "pending" => connections.sort_by_key(|c| Reverse(c.pending_bytes)),
        "msgs_to" => connections.sort_by_key(|c| Reverse(c.out_msgs)),
        "msgs_from" => connections.sort_by_key(|c| Reverse(c.in_msgs)),
        "bytes_to" => connections.sort_by_key(|c| Reverse(c.out_bytes)),
        "bytes_from" => connections.sort_by_key(|c| Reverse(c.in_bytes)),
        "last" => connections.sort_by_key(|c| Reverse(c.last_activity)),
        "idle" => connections.sort_by_key(|c| Reverse(idle(c))),
        // Go sorts by uptime ascending: the newest connections first.
        "uptime" => connections.sort_by_key(|c| Reverse(c.start)),
        "stop" => connections.sort_by_key(|c| Reverse(c.stop)),
        "reason" => connections.sort_by_key(|c| c.reason),
        // "cid", "start", and "rtt" (Natrix does not measure RTT: every value is 0).
        _ => connections.sort_by_key(|c| c.cid),
    }
}

fn connection_document(
    connection: &ConnectionSnapshot,
    now: SystemTime,
    auth: bool,
    subs: bool,
    subs_detail: bool,
) -> Value {
    let end = connection.stop.unwrap_or(now);
    let mut document = Map::new();
    let mut put = |key: &str, value: Value| {
        document.insert(key.to_string(), value);
    };
    put("cid", json!(connection.cid));
    put("kind", json!("Client"));
    put("type", json!(connection.connection_type));
    put("ip", json!(connection.ip));
    put("port", json!(connection.port));
    put("start", json!(go_time(connection.start)));
    put("last_activity", json!(go_time(connection.last_activity)));
    if let Some(stop) = connection.stop {
        put("stop", json!(go_time(stop)));
    }
    if let Some(reason) = connection.reason {
        put("reason", json!(reason));
    }
    put("rtt", json!("0s"));
    put(
        "uptime",
        json!(go_uptime(
            end.duration_since(connection.start).unwrap_or_default()
        )),
    );
    put(
        "idle",
        json!(go_uptime(
            end.duration_since(connection.last_activity)
                .unwrap_or_default()
        )),
    );
    put("pending_bytes", json!(connection.pending_bytes));
    put("in_msgs", json!(connection.in_msgs));
    put("out_msgs", json!(connection.out_msgs));
    put("in_bytes", json!(connection.in_bytes));
    put("out_bytes", json!(connection.out_bytes));
    put("subscriptions", json!(connection.subscription_count));
    for (key, value) in [
        ("name", &connection.name),
        ("lang", &connection.lang),
        ("version", &connection.version),
        ("tls_version", &connection.tls_version),
        ("tls_cipher_suite", &connection.tls_cipher),
    ] {
        if !value.is_empty() {
            put(key, json!(value));
        }
    }
    if auth {
        if !connection.authorized_user.is_empty() {
            put("authorized_user", json!(connection.authorized_user));
        }
        let named_account =
            connection.account != GLOBAL_ACCOUNT_NAME && !connection.account.is_empty();
        if named_account {
            put("account", json!(connection.account));
        }
        // Go tags open connections with their account's name, closed ones only outside $G.
        if connection.stop.is_none() || named_account {
            put("name_tag", json!(connection.account));
        }
    }
    if !connection.subscriptions.is_empty() {
        if subs_detail {
            let details = connection
                .subscriptions
                .iter()
                // Go keeps a closed connection's subscriptions with their account.
                .map(|subscription| subscription_document(subscription, connection.stop.is_some()))
                .collect();
            put("subscriptions_list_detail", Value::Array(details));
        } else if subs {
            let subjects = connection
                .subscriptions
                .iter()
                .map(|subscription| json!(subscription.subject))
                .collect();
            put("subscriptions_list", Value::Array(subjects));
        }
    }
    Value::Object(document)
}

/// Go's `SubDetail`; `with_account` for `/subsz` (connz lists omit the account).
fn subscription_document(subscription: &SubscriptionSnapshot, with_account: bool) -> Value {
    let mut document = Map::new();
    if with_account {
        document.insert("account".into(), json!(subscription.account));
        document.insert("account_tag".into(), json!(subscription.account));
    }
    document.insert("subject".into(), json!(subscription.subject));
    if let Some(queue) = &subscription.queue {
        document.insert("qgroup".into(), json!(queue));
    }
    document.insert("sid".into(), json!(subscription.sid));
    document.insert("msgs".into(), json!(subscription.msgs));
    if subscription.max > 0 {
        document.insert("max".into(), json!(subscription.max));
    }
    document.insert("cid".into(), json!(subscription.cid));
    Value::Object(document)
}

/// `/subsz` (also `/subscriptionsz`).
pub fn subsz(monitor: &Monitor, query: &Query) -> Result<Reply, BadRequest> {
    let subs = query.boolean("subs")?;
    let offset = query.int("offset")?.max(0);
    let mut limit = query.int("limit")?;
    if limit <= 0 {
        limit = DEFAULT_LIST_SIZE;
    }
    let test = query.get("test");
    let account_filter = query.get("acc");
    if !test.is_empty() && !is_valid_literal_subject(test.as_bytes()) {
        return Err(BadRequest(format!(
            "invalid test subject, must be valid publish subject: {test}"
        )));
    }
    let snapshots = monitor.gather(SnapshotScope {
        subscriptions: subs,
        ..SnapshotScope::default()
    });
    let account_id = monitor.config().settings.accounts.id(account_filter);
    let count = if account_filter.is_empty() {
        sum_counters(&snapshots).subscriptions
    } else {
        let mut accounts: Vec<AccountCounters> = Vec::new();
        for snapshot in &snapshots {
            add_account_counters(&mut accounts, &snapshot.accounts);
        }
        account_id
            .and_then(|id| accounts.get(usize::from(id)))
            .map_or(0, |counters| counters.subscriptions)
    };
    let mut document = sublist_stats(&snapshots, count);
    let fields = document.as_object_mut();
    let mut extra = Map::new();
    extra.insert(
        "server_id".into(),
        json!(monitor.config().settings.info.server_id),
    );
    extra.insert("now".into(), json!(go_time(SystemTime::now())));
    let mut ordered = extra;
    if let Some(fields) = fields {
        ordered.append(fields);
    }
    let mut total = 0;
    let mut list = Vec::new();
    if subs {
        let mut matching: Vec<&SubscriptionSnapshot> = snapshots
            .iter()
            .flat_map(|snapshot| snapshot.subscriptions.iter())
            .filter(|subscription| {
                account_filter.is_empty() || subscription.account == account_filter
            })
            .filter(|subscription| {
                test.is_empty() || pattern_matches(subscription.subject.as_bytes(), test.as_bytes())
            })
            .collect();
        matching.sort_by(|left, right| {
            (&left.account, left.cid, &left.sid).cmp(&(&right.account, right.cid, &right.sid))
        });
        total = matching.len();
        let start = usize::try_from(offset).unwrap_or(usize::MAX).min(total);
        let take = usize::try_from(limit)
            .unwrap_or(usize::MAX)
            .min(total - start);
        list = matching[start..start + take]
            .iter()
            .map(|subscription| subscription_document(subscription, true))
            .collect();
    }
    ordered.insert("total".into(), json!(total));
    ordered.insert("offset".into(), json!(offset));
    ordered.insert("limit".into(), json!(limit));
    if !list.is_empty() {
        ordered.insert("subscriptions_list".into(), Value::Array(list));
    }
    Ok(Reply::json(pretty(&Value::Object(ordered))))
}

/// Go's `SublistStats` over every shard's local index; `count` is the number of
/// subscriptions reported.
fn sublist_stats(snapshots: &[ShardSnapshot], count: usize) -> Value {
    let mut inserts = 0;
    let mut removes = 0;
    let mut matches = 0;
    let mut hits = 0;
    let mut cache_entries = 0;
    let mut max_fanout = 0;
    let mut fanout_total = 0;
    for snapshot in snapshots {
        let sublist = &snapshot.counters.sublist;
        inserts += sublist.inserts;
        removes += sublist.removes;
        matches += sublist.matches;
        hits += sublist.cache_hits;
        cache_entries += sublist.cache_entries;
        max_fanout = max_fanout.max(sublist.max_fanout);
        fanout_total += sublist.fanout_total;
    }
    let hit_rate = if matches > 0 {
        hits as f64 / matches as f64
    } else {
        0.0
    };
    let average_fanout = if cache_entries > 0 {
        fanout_total as f64 / cache_entries as f64
    } else {
        0.0
    };
    json!({
        "num_subscriptions": count,
        "num_cache": cache_entries,
        "num_inserts": inserts,
        "num_removes": removes,
        "num_matches": matches,
        "cache_hit_rate": hit_rate,
        "max_fanout": max_fanout,
        "avg_fanout": average_fanout,
    })
}

/// `/routez`: Natrix has no routes yet, so this is the Go server's document without any.
pub fn routez(monitor: &Monitor, query: &Query) -> Result<Reply, BadRequest> {
    if !query.get("subs").eq_ignore_ascii_case("detail") {
        query.boolean("subs")?;
    }
    let document = json!({
        "server_id": monitor.config().settings.info.server_id,
        "server_name": monitor.config().settings.info.server_name,
        "now": go_time(SystemTime::now()),
        "num_routes": 0,
        "routes": [],
    });
    Ok(Reply::json(pretty(&document)))
}

/// `/accountz`, and `/accountz?acc=NAME` for one account's details.
pub fn accountz(monitor: &Monitor, query: &Query) -> Result<Reply, BadRequest> {
    let config = monitor.config();
    let accounts = &config.settings.accounts;
    let system = accounts.get(accounts.system()).name.clone();
    let mut document = json!({
        "server_id": monitor.config().settings.info.server_id,
        "now": go_time(SystemTime::now()),
        "system_account": system,
    });
    let name = query.get("acc");
    if name.is_empty() {
        let names: Vec<&str> = (0..accounts.len())
            .filter_map(|index| u16::try_from(index).ok())
            .map(|id| accounts.get(id).name.as_str())
            .collect();
        document["accounts"] = json!(names);
        return Ok(Reply::json(pretty(&document)));
    }
    let Some(id) = accounts.id(name) else {
        return Err(BadRequest(format!("Account {name} does not exist")));
    };
    let snapshots = monitor.gather(SnapshotScope::default());
    let mut totals: Vec<AccountCounters> = Vec::new();
    for snapshot in &snapshots {
        add_account_counters(&mut totals, &snapshot.accounts);
    }
    let counters = totals.get(usize::from(id)).copied().unwrap_or_default();
    let mut detail = json!({
        "account_name": name,
        "update_time": go_time(monitor.start),
        "expired": false,
        "complete": true,
        "jetstream_enabled": false,
        "leafnode_connections": 0,
        "client_connections": counters.connections,
        "subscriptions": counters.subscriptions,
        "name_tag": name,
        "sublist_stats": sublist_stats(&snapshots, counters.subscriptions),
    });
    if id == accounts.system() {
        detail["is_system"] = json!(true);
    }
    document["account_detail"] = detail;
    Ok(Reply::json(pretty(&document)))
}

/// `/accstatz`: accounts with connections (all of them with `unused=1`).
pub fn accstatz(monitor: &Monitor, query: &Query) -> Result<Reply, BadRequest> {
    let include_unused = query.boolean("unused")?;
    let config = monitor.config();
    let accounts = &config.settings.accounts;
    let snapshots = monitor.gather(SnapshotScope::default());
    let mut totals: Vec<AccountCounters> = Vec::new();
    for snapshot in &snapshots {
        add_account_counters(&mut totals, &snapshot.accounts);
    }
    let traffic = |msgs: u64, bytes: u64| {
        json!({
            "msgs": msgs,
            "bytes": bytes,
            "gateways": {"msgs": 0, "bytes": 0},
            "routes": {"msgs": 0, "bytes": 0},
            "leafs": {"msgs": 0, "bytes": 0},
        })
    };
    let statz: Vec<Value> = (0..accounts.len())
        .filter_map(|index| u16::try_from(index).ok())
        .filter_map(|id| {
            let counters = totals.get(usize::from(id)).copied().unwrap_or_default();
            if counters.connections == 0 && !include_unused {
                return None;
            }
            let name = &accounts.get(id).name;
            Some(json!({
                "acc": name,
                "name": name,
                "conns": counters.connections,
                "leafnodes": 0,
                "total_conns": counters.connections,
                "num_subscriptions": counters.subscriptions,
                "sent": traffic(counters.out_msgs, counters.out_bytes),
                "received": traffic(counters.in_msgs, counters.in_bytes),
                "slow_consumers": counters.slow_consumers,
            }))
        })
        .collect();
    let document = json!({
        "server_id": monitor.config().settings.info.server_id,
        "now": go_time(SystemTime::now()),
        "account_statz": statz,
    });
    Ok(Reply::json(pretty(&document)))
}

/// `/healthz`: the server is ready once it answers; JetStream checks pass because JetStream
/// is not enabled (as in the Go server without `jetstream`).
pub fn healthz(_monitor: &Monitor, query: &Query) -> Result<Reply, BadRequest> {
    for key in [
        "js-enabled",
        "js-enabled-only",
        "js-server-only",
        "js-meta-only",
    ] {
        query.boolean(key)?;
    }
    let details = query.boolean("details")?;
    let account = query.get("account");
    let stream = query.get("stream");
    let consumer = query.get("consumer");
    let problem = if account.is_empty() && !stream.is_empty() {
        Some("\"account\" must not be empty when checking stream health")
    } else if stream.is_empty() && !consumer.is_empty() {
        Some("\"stream\" must not be empty when checking consumer health")
    } else {
        None
    };
    let (status, body) = match problem {
        None => (hyper::StatusCode::OK, json!({"status": "ok"})),
        Some(error) if details => (
            hyper::StatusCode::BAD_REQUEST,
            json!({"status": "error", "errors": [{"type": "BAD_REQUEST", "error": error}]}),
        ),
        Some(error) => (
            hyper::StatusCode::BAD_REQUEST,
            json!({"status": "error", "error": error}),
        ),
    };
    Ok(Reply {
        status,
        content_type: "application/json",
        body: body.to_string(),
    })
}

/// Go's `json.MarshalIndent(v, "", "  ")`.
fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// Go's `time.Time` in JSON: RFC 3339 in UTC with the nanoseconds' trailing zeros cut.
pub fn go_time(time: SystemTime) -> String {
    let time: DateTime<Utc> = time.into();
    let seconds = time.format("%Y-%m-%dT%H:%M:%S");
    let nanos = time.timestamp_subsec_nanos();
    if nanos == 0 {
        return format!("{seconds}Z");
    }
    let fraction = format!("{nanos:09}");
    format!("{seconds}.{}Z", fraction.trim_end_matches('0'))
}

/// Go's `myUptime`: `1y2d3h4m5s`, leading zero units left out.
pub fn go_uptime(elapsed: Duration) -> String {
    let seconds = elapsed.as_secs();
    let minutes = seconds / 60;
    let hours = minutes / 60;
    let days = hours / 24;
    let years = days / 365;
    if years > 0 {
        format!(
            "{years}y{}d{}h{}m{}s",
            days % 365,
            hours % 24,
            minutes % 60,
            seconds % 60
        )
    } else if days > 0 {
        format!("{days}d{}h{}m{}s", hours % 24, minutes % 60, seconds % 60)
    } else if hours > 0 {
        format!("{hours}h{}m{}s", minutes % 60, seconds % 60)
    } else if minutes > 0 {
        format!("{minutes}m{}s", seconds % 60)
    } else {
        format!("{seconds}s")
    }
}

/// A Go `time.Duration` in JSON: nanoseconds.
fn duration_nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_uptimes_print_as_go_prints_them() {
        let time = SystemTime::UNIX_EPOCH + Duration::new(1_700_000_000, 120_000_000);
        assert_eq!(go_time(time), "2023-11-14T22:13:20.12Z");
        let whole = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(go_time(whole), "2023-11-14T22:13:20Z");
        assert_eq!(go_uptime(Duration::from_secs(59)), "59s");
        assert_eq!(go_uptime(Duration::from_secs(3_661)), "1h1m1s");
        assert_eq!(go_uptime(Duration::from_secs(366 * 86_400)), "1y1d0h0m0s");
    }
}
