//! The monitoring view of a shard: plain data copied out of its counters, connections and
//! subscriptions, on its own thread, when the control plane asks (see `monitor.rs`).

use std::rc::Rc;
use std::time::{Duration, SystemTime};

use super::Shard;
use crate::client::{Client, CloseReason};
use crate::monitor::{
    AccountCounters, ConnectionSnapshot, ShardCounters, ShardSnapshot, SnapshotRequest,
    SnapshotScope, SublistCounters, SubscriptionSnapshot,
};

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
                    cid: subscription
                        .subscriber
                        .client()
                        .map_or(0, |client| client.id),
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
            outbox_depth: self.outbox_depth(),
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
            connection_type: description.connection_type,
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
