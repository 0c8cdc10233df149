//! What a shard tells the monitoring endpoints: plain-data snapshots of its counters, its
//! connections and its subscriptions, built on the shard's own thread.
//!
//! The control plane sends `ShardMsg::Snapshot` through its `ControlHandle`; the shard answers
//! from its mesh task with a [`ShardSnapshot`] over a `std::sync::mpsc` channel and goes on.
//! Nothing here is shared: the data path keeps plain `Cell` counters (no atomics, no locks),
//! and the snapshot copies them out. Closed connections are remembered per shard in a bounded
//! ring (Go's `max_closed_clients`), so `/connz?state=closed` can list them.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant, SystemTime};

use crate::client::{Client, CloseReason};
use crate::mesh::ShardId;
use crate::shard::Shard;

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
    closed: RefCell<VecDeque<ConnectionSnapshot>>,
    closed_capacity: usize,
    closed_accounts: RefCell<Vec<AccountCounters>>,
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

impl Shard {
    /// Remembers a connection that is closing, with its subscriptions, before they are
    /// removed; keeps the traffic of its account.
    pub fn record_closed(&self, client: &Rc<Client>, reason: CloseReason) {
        let mut snapshot = self.connection_snapshot(client, true);
        snapshot.stop = Some(SystemTime::now());
        snapshot.reason = Some(reason.description());
        if let Some(totals) = self
            .monitor
            .closed_accounts
            .borrow_mut()
            .get_mut(usize::from(client.account()))
        {
            totals.in_msgs += snapshot.in_msgs;
            totals.in_bytes += snapshot.in_bytes;
            totals.out_msgs += snapshot.out_msgs;
            totals.out_bytes += snapshot.out_bytes;
            if matches!(
                reason,
                CloseReason::SlowConsumerPendingBytes | CloseReason::SlowConsumerWriteDeadline
            ) {
                totals.slow_consumers += 1;
            }
        }
        let capacity = self.monitor.closed_capacity;
        if capacity == 0 {
            return;
        }
        let mut closed = self.monitor.closed.borrow_mut();
        while closed.len() >= capacity {
            closed.pop_front();
        }
        closed.push_back(snapshot);
    }

    /// Answers a snapshot request; a control plane that stopped waiting is not an error.
    pub fn answer_snapshot(&self, request: SnapshotRequest) {
        let _ = request.reply.send(self.snapshot(request.scope));
    }

    /// Copies this shard's monitoring state out.
    pub fn snapshot(&self, scope: SnapshotScope) -> ShardSnapshot {
        let config = self.config();
        let accounts_table = &config.accounts;
        let mut accounts = self.monitor.closed_accounts.borrow().clone();
        accounts.resize(accounts_table.len(), AccountCounters::default());
        let mut connections = Vec::new();
        let clients: Vec<Rc<Client>> = self.clients.borrow().values().cloned().collect();
        for client in &clients {
            let subscription_count = client.subscriptions.borrow().len();
            if let Some(totals) = accounts.get_mut(usize::from(client.account())) {
                totals.connections += 1;
                totals.subscriptions += subscription_count;
                totals.in_msgs += client.stats.in_msgs.get();
                totals.in_bytes += client.stats.in_bytes.get();
                totals.out_msgs += client.stats.out_msgs.get();
                totals.out_bytes += client.stats.out_bytes.get();
            }
            if scope.connections {
                connections.push(self.connection_snapshot(client, scope.connection_subscriptions));
            }
        }
        let subscriptions = if scope.subscriptions {
            self.subscriptions
                .borrow()
                .iter()
                .map(|(_, subscription)| SubscriptionSnapshot {
                    account: accounts_table.get(subscription.account).name.clone(),
                    subject: String::from_utf8_lossy(&subscription.subject).into_owned(),
                    queue: subscription
                        .queue
                        .as_ref()
                        .map(|queue| String::from_utf8_lossy(queue).into_owned()),
                    sid: String::from_utf8_lossy(&subscription.sid).into_owned(),
                    msgs: subscription.delivered,
                    max: subscription.max_msgs,
                    cid: subscription.client.id,
                })
                .collect()
        } else {
            Vec::new()
        };
        let closed = if scope.closed {
            self.monitor.closed.borrow().iter().cloned().collect()
        } else {
            Vec::new()
        };
        let mut sublist = SublistCounters {
            inserts: self.monitor.subscription_inserts.get(),
            removes: self.monitor.subscription_removes.get(),
            ..SublistCounters::default()
        };
        for index in self.local.borrow().iter() {
            let stats = index.stats();
            sublist.matches += stats.lookups;
            sublist.cache_hits += stats.hits;
            sublist.cache_entries += stats.cache_entries;
            sublist.max_fanout = sublist.max_fanout.max(stats.max_fanout);
            sublist.fanout_total += stats.fanout_total;
        }
        let counters = ShardCounters {
            in_msgs: self.stats.in_msgs.get(),
            in_bytes: self.stats.in_bytes.get(),
            out_msgs: self.stats.out_msgs.get(),
            out_bytes: self.stats.out_bytes.get(),
            slow_consumers: self.stats.slow_consumers.get(),
            stale_connections: self.monitor.stale_connections.get(),
            total_connections: self.monitor.total_connections.get(),
            handoffs_out: self.stats.handoffs_out.get(),
            handoffs_in: self.monitor.handoffs_in.get(),
            connections: clients.len(),
            subscriptions: self.subscriptions.borrow().len(),
            mesh_queue_depth: self.mesh.borrow().queued(),
            outbox_depth: self.outboxes.borrow().iter().map(VecDeque::len).sum(),
            cpu_time: thread_cpu_time(),
            sublist,
        };
        ShardSnapshot {
            shard: self.id,
            counters,
            accounts,
            connections,
            closed,
            subscriptions,
        }
    }

    fn connection_snapshot(&self, client: &Client, with_subscriptions: bool) -> ConnectionSnapshot {
        let config = self.config();
        let account = config.accounts.get(client.account()).name.clone();
        let description = client.describe();
        let subscriptions = if with_subscriptions {
            let subscriptions = self.subscriptions.borrow();
            client
                .subscriptions
                .borrow()
                .values()
                .filter_map(|&id| subscriptions.get(id))
                .map(|subscription| SubscriptionSnapshot {
                    account: account.clone(),
                    subject: String::from_utf8_lossy(&subscription.subject).into_owned(),
                    queue: subscription
                        .queue
                        .as_ref()
                        .map(|queue| String::from_utf8_lossy(queue).into_owned()),
                    sid: String::from_utf8_lossy(&subscription.sid).into_owned(),
                    msgs: subscription.delivered,
                    max: subscription.max_msgs,
                    cid: client.id,
                })
                .collect()
        } else {
            Vec::new()
        };
        ConnectionSnapshot {
            cid: client.id,
            ip: description.peer.ip().to_string(),
            port: description.peer.port(),
            start: client.stats.start,
            last_activity: client.stats.last_activity_time(),
            stop: None,
            reason: None,
            pending_bytes: client.outbound.borrow().pending_bytes(),
            in_msgs: client.stats.in_msgs.get(),
            out_msgs: client.stats.out_msgs.get(),
            in_bytes: client.stats.in_bytes.get(),
            out_bytes: client.stats.out_bytes.get(),
            subscription_count: client.subscriptions.borrow().len(),
            subscriptions,
            name: description.name,
            lang: description.lang,
            version: description.version,
            tls_version: description.tls_version,
            tls_cipher: description.tls_cipher,
            authorized_user: description.user,
            account,
        }
    }
}

/// CPU time used by the calling thread (a shard answers for itself).
fn thread_cpu_time() -> Duration {
    let mut time = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the valid, exclusively borrowed `time`.
    let result = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut time) };
    if result != 0 {
        return Duration::ZERO;
    }
    Duration::new(
        u64::try_from(time.tv_sec).unwrap_or(0),
        u32::try_from(time.tv_nsec).unwrap_or(0),
    )
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
