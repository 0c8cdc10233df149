//! The system account's connection events in operator mode, with the Go server's JSON:
//! `$SYS.ACCOUNT.<account>.CONNECT` when a JWT user logs in and `.DISCONNECT` when its
//! connection closes (Go: `accountConnectEvent`, `accountDisconnectEvent`). Published into the
//! system account like any internal message, so they cost nothing without a subscriber.
//!
//! Not sent (yet): `$SYS.ACCOUNT.<account>.SERVER.CONNS`, and the server's `feature_flags`
//! inside `server` (the Go server's list lives in the binary crate).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use natrix_jetstream::time::Timestamp;
use serde_json::{json, Value};

use crate::client::{Client, CloseReason};
use crate::message::Message;
use crate::shard::Shard;

/// The server's event sequence (Go: `sys.seq`), shared by every shard.
static SEQUENCE: AtomicU64 = AtomicU64::new(0);

fn rfc3339(time: SystemTime) -> String {
    let nanos = time.duration_since(UNIX_EPOCH).map_or(0, |since| {
        i64::try_from(since.as_nanos()).unwrap_or(i64::MAX)
    });
    Timestamp::from_unix_nanos(nanos).to_rfc3339()
}

/// A unique event id in the shape of a NUID (22 base62 characters).
fn event_id() -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut value: u128 = rand::random();
    (0..22)
        .map(|_| {
            let digit = (value % 62) as usize;
            value /= 62;
            char::from(ALPHABET[digit])
        })
        .collect()
}

/// Go's `ServerInfo` of an event.
fn server(shard: &Shard, now: SystemTime) -> Value {
    let config = shard.config();
    json!({
        "name": config.info.server_name,
        "host": config.info.host,
        "id": config.info.server_id,
        "ver": config.info.version,
        "jetstream": config.jetstream.is_some(),
        "flags": 0,
        "seq": SEQUENCE.fetch_add(1, Ordering::Relaxed) + 1,
        "time": rfc3339(now),
    })
}

/// Go's `ClientInfo` of a connection.
fn client_info(shard: &Shard, client: &Client, stop: Option<SystemTime>) -> Option<Value> {
    let jwt_user = client.jwt_user.borrow().clone()?;
    let config = shard.config();
    let connect = client.connect.borrow();
    let mut info = json!({
        "start": rfc3339(client.stats.start),
        "host": client.peer.ip().to_string(),
        "id": client.id,
        "acc": config.accounts.get(client.account()).name,
        "user": client.auth_user(),
        "kind": "Client",
        "client_type": if client.is_websocket() { "websocket" } else { "nats" },
        "issuer_key": jwt_user.issuer_key,
        "name_tag": jwt_user.account_name,
    });
    let fields = [
        ("name", connect.name.as_str()),
        ("lang", connect.lang.as_str()),
        ("ver", connect.version.as_str()),
    ];
    for (key, value) in fields {
        if !value.is_empty() {
            info[key] = json!(value);
        }
    }
    if !jwt_user.tags.is_empty() {
        info["tags"] = json!(jwt_user.tags);
    }
    info["jwt"] = json!(connect.jwt.clone().unwrap_or_default());
    if let Some(stop) = stop {
        info["stop"] = json!(rfc3339(stop));
    }
    Some(info)
}

fn publish(shard: &Shard, client: &Client, kind: &str, event: Value) {
    let config = shard.config();
    let account = &config.accounts.get(client.account()).name;
    let subject = format!("$SYS.ACCOUNT.{account}.{kind}");
    let payload = serde_json::to_vec(&event).unwrap_or_default();
    shard.publish_internal(std::iter::once(Message::new(
        config.accounts.system(),
        Bytes::from(subject),
        None,
        payload,
    )));
}

/// `$SYS.ACCOUNT.<account>.CONNECT` for a JWT user that just logged in.
pub(crate) fn connect_event(shard: &Shard, client: &Client) {
    let now = SystemTime::now();
    let Some(client_info) = client_info(shard, client, None) else {
        return;
    };
    let event = json!({
        "type": "io.nats.server.advisory.v1.client_connect",
        "id": event_id(),
        "timestamp": rfc3339(now),
        "server": server(shard, now),
        "client": client_info,
    });
    publish(shard, client, "CONNECT", event);
}

/// `$SYS.ACCOUNT.<account>.DISCONNECT` for a JWT user's connection that closed.
pub(crate) fn disconnect_event(shard: &Shard, client: &Client, reason: CloseReason) {
    if !client.connect_received.get() {
        return;
    }
    let now = SystemTime::now();
    let Some(client_info) = client_info(shard, client, Some(now)) else {
        return;
    };
    let stats = &client.stats;
    let event = json!({
        "type": "io.nats.server.advisory.v1.client_disconnect",
        "id": event_id(),
        "timestamp": rfc3339(now),
        "server": server(shard, now),
        "client": client_info,
        "sent": {"msgs": stats.out_msgs.get(), "bytes": stats.out_bytes.get()},
        "received": {"msgs": stats.in_msgs.get(), "bytes": stats.in_bytes.get()},
        "reason": reason.description(),
    });
    publish(shard, client, "DISCONNECT", event);
}
