//! What a shard tells the monitoring endpoints: plain-data snapshots of its counters, its
//! connections and its subscriptions, built on the shard's own thread.
//!
//! The control plane sends `ControlMsg::Snapshot` through its `ControlHandle`; the shard answers
//! from its mesh task (`shard/snapshot.rs` builds the answer) with a [`ShardSnapshot`] over a `std::sync::mpsc` channel and goes on.
//! Nothing here is shared: the data path keeps plain `Cell` counters (no atomics, no locks),
//! and the snapshot copies them out. Closed connections are remembered per shard in a bounded
//! ring (Go's `max_closed_clients`), so `/connz?state=closed` can list them.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant, SystemTime};

use crate::mesh::ShardId;

/// The Go server's default for `max_closed_clients`.
pub const DEFAULT_MAX_CLOSED_CLIENTS: usize = 10_000;

/// What the control plane wants in a snapshot; counters always come.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SnapshotScope {
    /// Open connections (for `/connz`).
    pub connections: bool,
    /// Closed connections from the ring (for `/connz?state=closed|all`).
    pub closed: bool,
    /// Each listed connection's subscriptions (`/connz?subs=1`).
    pub connection_subscriptions: bool,
    /// Every subscription of the shard (`/subsz?subs=1`).
    pub subscriptions: bool,
}

/// A request for one shard's snapshot; the shard sends exactly one reply.
#[derive(Debug)]
pub struct SnapshotRequest {
    pub scope: SnapshotScope,
    pub reply: Sender<ShardSnapshot>,
}

/// One shard's state at one moment.
#[derive(Debug, Clone, Default)]
pub struct ShardSnapshot {
    pub shard: ShardId,
    pub counters: ShardCounters,
    /// Indexed by `AccountId`: traffic of the account's connections on this shard, open and
    /// closed.
    pub accounts: Vec<AccountCounters>,
    pub connections: Vec<ConnectionSnapshot>,
    pub closed: Vec<ConnectionSnapshot>,
    pub subscriptions: Vec<SubscriptionSnapshot>,
}

/// Counters of one shard since start, and its gauges now.
#[derive(Debug, Clone, Default)]
pub struct ShardCounters {
    pub in_msgs: u64,
    pub in_bytes: u64,
    pub out_msgs: u64,
    pub out_bytes: u64,
    pub slow_consumers: u64,
    pub stale_connections: u64,
    /// Connections accepted (and not refused over `max_connections`) since start.
    pub total_connections: u64,
    /// Deliveries this shard handed to other shards, and received from them.
    pub handoffs_out: u64,
    pub handoffs_in: u64,
    pub connections: usize,
    pub subscriptions: usize,
    /// Messages waiting in this shard's incoming mesh queues.
    pub mesh_queue_depth: usize,
    /// Messages waiting in this shard's outboxes (mesh queues that were full).
    pub outbox_depth: usize,
    /// CPU time the shard's thread has used.
    pub cpu_time: Duration,
    pub sublist: SublistCounters,
}

/// The local subscription index's statistics, in the Go server's terms (`SublistStats`).
#[derive(Debug, Clone, Copy, Default)]
pub struct SublistCounters {
    pub inserts: u64,
    pub removes: u64,
    pub matches: u64,
    pub cache_hits: u64,
    pub cache_entries: usize,
    pub max_fanout: usize,
    pub fanout_total: usize,
}

/// Traffic and gauges of one account on one shard.
#[derive(Debug, Clone, Copy, Default)]
pub struct AccountCounters {
    pub connections: usize,
    pub subscriptions: usize,
    pub in_msgs: u64,
    pub in_bytes: u64,
    pub out_msgs: u64,
    pub out_bytes: u64,
    pub slow_consumers: u64,
}

/// One connection, open or closed (the Go server's `ConnInfo`).
#[derive(Debug, Clone)]
pub struct ConnectionSnapshot {
    pub cid: u64,
    pub ip: String,
    pub port: u16,
    pub start: SystemTime,
    pub last_activity: SystemTime,
    pub stop: Option<SystemTime>,
    pub reason: Option<&'static str>,
    pub pending_bytes: usize,
    pub in_msgs: u64,
    pub out_msgs: u64,
    pub in_bytes: u64,
    pub out_bytes: u64,
    pub subscription_count: usize,
    /// Filled when the scope asks for them (always for closed connections).
    pub subscriptions: Vec<SubscriptionSnapshot>,
    pub name: String,
    pub lang: String,
    pub version: String,
    pub tls_version: String,
    pub tls_cipher: String,
    /// `nats` or `websocket` (Go's `type`).
    pub connection_type: &'static str,
    pub authorized_user: String,
    pub account: String,
}

/// One subscription (the Go server's `SubDetail`).
#[derive(Debug, Clone)]
pub struct SubscriptionSnapshot {
    pub account: String,
    pub subject: String,
    pub queue: Option<String>,
    pub sid: String,
    pub msgs: u64,
    pub max: u64,
    pub cid: u64,
}

/// A connection's own counters, touched by its shard only (plain cells, no atomics).
pub struct ConnectionStats {
    pub in_msgs: Cell<u64>,
    pub in_bytes: Cell<u64>,
    pub out_msgs: Cell<u64>,
    pub out_bytes: Cell<u64>,
    pub start: SystemTime,
    start_instant: Instant,
    /// When the last read from the socket completed.
    pub last_activity: Cell<Instant>,
}

impl Default for ConnectionStats {
    fn default() -> Self {
        let now = Instant::now();
        ConnectionStats {
            in_msgs: Cell::new(0),
            in_bytes: Cell::new(0),
            out_msgs: Cell::new(0),
            out_bytes: Cell::new(0),
            start: SystemTime::now(),
            start_instant: now,
            last_activity: Cell::new(now),
        }
    }
}

impl ConnectionStats {
    /// Wall-clock time of the last activity (kept as an `Instant`, which is cheaper to read).
    pub fn last_activity_time(&self) -> SystemTime {
        self.start + self.last_activity.get().duration_since(self.start_instant)
    }
}

/// A shard's monitoring state besides its counters: the closed-connection ring and the
/// traffic of connections that are gone, per account.
pub struct ShardMonitor {
    pub(crate) closed: RefCell<VecDeque<ConnectionSnapshot>>,
    pub(crate) closed_capacity: usize,
    pub(crate) closed_accounts: RefCell<Vec<AccountCounters>>,
    pub stale_connections: Cell<u64>,
    pub total_connections: Cell<u64>,
    pub handoffs_in: Cell<u64>,
    pub subscription_inserts: Cell<u64>,
    pub subscription_removes: Cell<u64>,
}

impl ShardMonitor {
    pub fn new(closed_capacity: usize, account_count: usize) -> Self {
        ShardMonitor {
            closed: RefCell::new(VecDeque::new()),
            closed_capacity,
            closed_accounts: RefCell::new(vec![AccountCounters::default(); account_count]),
            stale_connections: Cell::new(0),
            total_connections: Cell::new(0),
            handoffs_in: Cell::new(0),
            subscription_inserts: Cell::new(0),
            subscription_removes: Cell::new(0),
        }
    }
}

/// What the connection's own state says about it, for snapshots (see `Client::describe`).
pub struct ClientDescription {
    pub peer: std::net::SocketAddr,
    pub name: String,
    pub lang: String,
    pub version: String,
    pub user: String,
    pub tls_version: String,
    pub tls_cipher: String,
    /// `/connz`'s `type`: `nats`, or `websocket`.
    pub connection_type: &'static str,
}

/// Sums per-shard account counters; `AccountId`s are the same on every shard.
pub fn add_account_counters(total: &mut Vec<AccountCounters>, shard: &[AccountCounters]) {
    if total.len() < shard.len() {
        total.resize(shard.len(), AccountCounters::default());
    }
    for (sum, part) in total.iter_mut().zip(shard) {
        sum.connections += part.connections;
        sum.subscriptions += part.subscriptions;
        sum.in_msgs += part.in_msgs;
        sum.in_bytes += part.in_bytes;
        sum.out_msgs += part.out_msgs;
        sum.out_bytes += part.out_bytes;
        sum.slow_consumers += part.slow_consumers;
    }
}
