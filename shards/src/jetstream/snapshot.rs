//! What monitoring (`/jsz`) reads of JetStream on one shard: plain data copied out on the
//! shard's thread, merged by the monitor.

use natrix_jetstream::api::{ConsumerInfo, StreamConfig, StreamState};

use super::runtime;
use crate::shard::Shard;

/// One shard's JetStream: its API counters and the streams it owns, by account.
#[derive(Debug, Clone, Default)]
pub struct JetStreamSnapshot {
    pub accounts: Vec<AccountSnapshot>,
}

/// One account's share on one shard.
#[derive(Debug, Clone, Default)]
pub struct AccountSnapshot {
    pub name: String,
    pub api_total: u64,
    pub api_errors: u64,
    pub streams: Vec<StreamSnapshot>,
}

/// One stream on its owner.
#[derive(Debug, Clone)]
pub struct StreamSnapshot {
    pub created_ns: i64,
    /// The configuration as stored.
    pub config: StreamConfig,
    pub state: StreamState,
    /// Memory storage (else file).
    pub memory: bool,
    /// The consumers clients see (not direct ones), each as `CONSUMER.LIST` shows it; empty
    /// unless asked for.
    pub consumers: Vec<ConsumerInfo>,
}

/// The snapshot of `shard`, with every stream's consumers when `with_consumers` (`/jsz
/// ?consumers=true`); `None` when JetStream does not run.
pub fn snapshot(shard: &Shard, with_consumers: bool) -> Option<JetStreamSnapshot> {
    let js = runtime(shard)?;
    let config = shard.config();
    let mut accounts: std::collections::BTreeMap<u16, AccountSnapshot> = Default::default();
    for (account, (total, errors)) in js.api_counters.borrow().iter() {
        let entry = accounts.entry(*account).or_default();
        entry.api_total = *total;
        entry.api_errors = *errors;
    }
    // A copy of the table: gathering consumer information may publish (expired pull requests
    // get their 408 first, as for `CONSUMER.LIST`), which must not find the table borrowed.
    let streams: Vec<_> = js.streams.borrow().values().cloned().collect();
    for stream in &streams {
        let consumers = if with_consumers {
            stream
                .consumers
                .event(stream, shard, |set, cx, actions| {
                    set.public_infos(cx, actions)
                })
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        let mut state =
            StreamState::from_store(&natrix_storage::StreamStore::state(&*stream.store));
        state.consumer_count = stream.consumers.count();
        accounts
            .entry(stream.account)
            .or_default()
            .streams
            .push(StreamSnapshot {
                created_ns: stream.created_ns.get(),
                config: stream.config(),
                state,
                memory: stream.store.is_memory(),
                consumers,
            });
    }
    let accounts = accounts
        .into_iter()
        .map(|(id, mut account)| {
            account.name = config.accounts.get(id).name.clone();
            account
                .streams
                .sort_by(|a, b| a.config.name.cmp(&b.config.name));
            account
        })
        .collect();
    Some(JetStreamSnapshot { accounts })
}
