//! `/jsz`: JetStream's usage and configuration, with the Go server's field names and query
//! options (`acc`, `accounts`, `streams`, `config`, `offset`, `limit`, ...), built from every
//! shard's JetStream snapshot (asked for with `ControlMsg::Run` on each shard's thread).

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::time::{Instant, SystemTime};

use natrix_shards::jetstream::{AccountSnapshot, JetStreamSnapshot, StreamSnapshot};
use natrix_shards::lifecycle::ControlMsg;
use natrix_storage::SyncPolicy;
use serde_json::{json, Value};

use super::endpoints::go_time;
use super::query::{BadRequest, Query};
use super::{Monitor, Reply, SNAPSHOT_TIMEOUT};

/// The Go server's default sync interval, which it reports even when it syncs always.
const GO_DEFAULT_SYNC_INTERVAL_NS: u64 = 120_000_000_000;

impl Monitor {
    /// Every shard's JetStream snapshot (shards without JetStream answer nothing), with the
    /// consumers of every stream when `with_consumers`.
    fn gather_jetstream(&self, with_consumers: bool) -> Vec<JetStreamSnapshot> {
        let (reply, replies) = mpsc::channel();
        self.context.control.broadcast(|| {
            let reply = reply.clone();
            ControlMsg::Run(Box::new(move |shard| {
                let _ = reply.send(natrix_shards::jetstream::snapshot(shard, with_consumers));
            }))
        });
        drop(reply);
        let deadline = Instant::now() + SNAPSHOT_TIMEOUT;
        let mut snapshots = Vec::new();
        for _ in 0..self.context.pinning.len() {
            let remaining = deadline.saturating_duration_since(Instant::now());
            match replies.recv_timeout(remaining) {
                Ok(Some(snapshot)) => snapshots.push(snapshot),
                Ok(None) => {}
                Err(_) => break,
            }
        }
        snapshots
    }
}

/// One account merged over the shards.
#[derive(Default)]
struct Account {
    api_total: u64,
    api_errors: u64,
    streams: Vec<StreamSnapshot>,
}

#[derive(Default, Clone, Copy)]
struct Usage {
    memory: u64,
    storage: u64,
    reserved_memory: u64,
    reserved_storage: u64,
    messages: u64,
    bytes: u64,
}

impl Usage {
    fn of(streams: &[StreamSnapshot]) -> Usage {
        let mut usage = Usage::default();
        for stream in streams {
            let reserved = u64::try_from(stream.config.max_bytes).unwrap_or(0);
            if stream.memory {
                usage.memory += stream.state.bytes;
                usage.reserved_memory += reserved;
            } else {
                usage.storage += stream.state.bytes;
                usage.reserved_storage += reserved;
            }
            usage.messages += stream.state.messages;
            usage.bytes += stream.state.bytes;
        }
        usage
    }
}

pub fn jsz(monitor: &Monitor, query: &Query) -> Result<Reply, BadRequest> {
    let mut with_accounts = query.boolean("accounts")?;
    let mut with_streams = query.boolean("streams")?;
    let with_config = query.boolean("config")?;
    let with_consumers = query.boolean("consumers")?;
    query.boolean("leader-only")?;
    query.boolean("raft")?;
    let offset = usize::try_from(query.int("offset")?.max(0)).unwrap_or(0);
    let limit = match query.int("limit")? {
        limit if limit > 0 => usize::try_from(limit).unwrap_or(usize::MAX),
        _ => 1024,
    };
    let filter = query.get("acc").to_owned();
    // As Go: consumers come with their streams, and streams with the accounts holding them.
    with_streams |= with_consumers;
    with_accounts |= with_streams && filter.is_empty();
    let config = monitor.config();
    let Some(settings) = config.settings.jetstream.clone() else {
        let body = json!({
            "server_id": config.settings.info.server_id,
            "now": go_time(SystemTime::now()),
            "disabled": true,
            "config": {"max_memory": 0, "max_storage": 0},
            "memory": 0, "storage": 0, "reserved_memory": 0, "reserved_storage": 0,
            "accounts": 0, "ha_assets": 0, "api": {"level": 0, "total": 0, "errors": 0},
            "streams": 0, "consumers": 0, "messages": 0, "bytes": 0, "limits": {},
            "total": 0,
        });
        return Ok(Reply::json(pretty(&body)));
    };
    let mut accounts: BTreeMap<String, Account> = BTreeMap::new();
    for snapshot in monitor.gather_jetstream(with_consumers) {
        for AccountSnapshot {
            name,
            api_total,
            api_errors,
            streams,
        } in snapshot.accounts
        {
            let account = accounts.entry(name).or_default();
            account.api_total += api_total;
            account.api_errors += api_errors;
            account.streams.extend(streams);
        }
    }
    // Accounts with JetStream count even before they have a stream.
    let table = &config.settings.accounts;
    for (index, limits) in settings.accounts.iter().enumerate() {
        if limits.is_some() {
            let name = table.get(index as u16).name.clone();
            accounts.entry(name).or_default();
        }
    }
    let all: Vec<StreamSnapshot> = accounts
        .values()
        .flat_map(|account| account.streams.iter().cloned())
        .collect();
    let usage = Usage::of(&all);
    let api_total: u64 = accounts.values().map(|account| account.api_total).sum();
    let api_errors: u64 = accounts.values().map(|account| account.api_errors).sum();
    let mut sync = json!({});
    match settings.sync {
        SyncPolicy::Always => {
            sync["sync_interval"] = json!(GO_DEFAULT_SYNC_INTERVAL_NS);
            sync["sync_always"] = json!(true);
        }
        SyncPolicy::Interval(interval) => {
            sync["sync_interval"] = json!(u64::try_from(interval.as_nanos()).unwrap_or(u64::MAX));
        }
    }
    let mut config_document = json!({
        "max_memory": settings.max_memory,
        "max_storage": settings.max_store,
        "store_dir": settings.store_dir.to_string_lossy(),
        "strict": true,
    });
    if let (Some(target), Some(extra)) = (config_document.as_object_mut(), sync.as_object()) {
        target.extend(extra.clone());
    }
    if !settings.domain.is_empty() {
        config_document["domain"] = json!(settings.domain);
    }
    let mut body = json!({
        "memory": usage.memory,
        "storage": usage.storage,
        "reserved_memory": usage.reserved_memory,
        "reserved_storage": usage.reserved_storage,
        "accounts": accounts.len(),
        "ha_assets": 0,
        "api": {"level": natrix_jetstream::api::API_LEVEL, "total": api_total, "errors": api_errors},
        "server_id": config.settings.info.server_id,
        "now": go_time(SystemTime::now()),
        "config": config_document,
        "limits": limits(&settings),
        "streams": all.len(),
        "consumers": all.iter().map(|stream| stream.state.consumer_count).sum::<u64>(),
        "messages": usage.messages,
        "bytes": usage.bytes,
    });
    // As Go: `total` counts every account with JetStream; a named account that exists is
    // shown alone (no paging), else `accounts` pages through all of them; no details, no key.
    body["total"] = json!(accounts.len());
    let selected: Vec<(&String, &Account)> = match accounts.get_key_value(&filter) {
        Some(found) if !filter.is_empty() => vec![found],
        _ if with_accounts => accounts.iter().skip(offset).take(limit).collect(),
        _ => Vec::new(),
    };
    if !selected.is_empty() {
        let details: Vec<Value> = selected
            .into_iter()
            .map(|(name, account)| {
                let reserved = table
                    .id(name)
                    .and_then(|id| settings.account_limits(id))
                    .map(|limits| (limits.max_memory, limits.max_store));
                account_detail(
                    name,
                    account,
                    reserved,
                    Options {
                        streams: with_streams,
                        consumers: with_consumers,
                        config: with_config,
                    },
                    &settings.server_name,
                )
            })
            .collect();
        body["account_details"] = json!(details);
    }
    Ok(Reply::json(pretty(&body)))
}

/// Go's `JSLimitOpts` as `/jsz` shows it (every field left out when zero).
fn limits(settings: &natrix_shards::config::JetStreamSettings) -> Value {
    let mut limits = json!({});
    if settings.default_max_consumers != 0 {
        limits["default_max_consumers"] = json!(settings.default_max_consumers);
    }
    limits
}

/// What an account's detail lists.
#[derive(Clone, Copy)]
struct Options {
    streams: bool,
    consumers: bool,
    config: bool,
}

/// One account's detail; `reserved` is its JetStream limits' `(max_memory, max_store)`, shown
/// as Go does: cast to unsigned, so "unlimited" (-1) reads 18446744073709551615.
fn account_detail(
    name: &str,
    account: &Account,
    reserved: Option<(i64, i64)>,
    options: Options,
    server_name: &str,
) -> Value {
    let usage = Usage::of(&account.streams);
    let (reserved_memory, reserved_storage) =
        reserved.map_or((0, 0), |(memory, store)| (memory as u64, store as u64));
    let mut detail = json!({
        "name": name,
        "id": name,
        "memory": usage.memory,
        "storage": usage.storage,
        "reserved_memory": reserved_memory,
        "reserved_storage": reserved_storage,
        "accounts": 0,
        "ha_assets": 0,
        "api": {"level": 0, "total": account.api_total, "errors": account.api_errors},
    });
    if options.streams && !account.streams.is_empty() {
        let streams: Vec<Value> = account
            .streams
            .iter()
            .map(|stream| {
                let created = natrix_jetstream::time::Timestamp::from_unix_nanos(stream.created_ns);
                let mut document = json!({
                    "name": stream.config.name,
                    "created": created.to_rfc3339(),
                    "cluster": {"leader": server_name},
                    "state": serde_json::to_value(&stream.state).unwrap_or_default(),
                });
                if options.config {
                    document["config"] = serde_json::to_value(&stream.config).unwrap_or_default();
                }
                if options.consumers && !stream.consumers.is_empty() {
                    let consumers: Vec<Value> = stream
                        .consumers
                        .iter()
                        .map(|info| {
                            let mut info = info.clone();
                            if !options.config {
                                info.config = None;
                            }
                            serde_json::to_value(&info).unwrap_or_default()
                        })
                        .collect();
                    document["consumer_detail"] = json!(consumers);
                }
                document
            })
            .collect();
        detail["stream_detail"] = json!(streams);
    }
    detail
}

/// Go's `json.MarshalIndent(v, "", "  ")`.
fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}
