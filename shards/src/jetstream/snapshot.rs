//! What monitoring (`/jsz`) reads of JetStream on one shard: plain data copied out on the
//! shard's thread, merged by the monitor.

use natrix_jetstream::api::{StreamConfig, StreamState};

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
}

/// The snapshot of `shard`; `None` when JetStream does not run.
pub fn snapshot(shard: &Shard) -> Option<JetStreamSnapshot> {
    let js = runtime(shard)?;
    let config = shard.config();
    let mut accounts: std::collections::BTreeMap<u16, AccountSnapshot> = Default::default();
    for (account, (total, errors)) in js.api_counters.borrow().iter() {
        let entry = accounts.entry(*account).or_default();
        entry.api_total = *total;
        entry.api_errors = *errors;
    }
    for stream in js.streams.borrow().values() {
        let mut state =
            StreamState::from_store(&natrix_storage::StreamStore::state(&*stream.store));
        state.consumer_count = 0;
        accounts
            .entry(stream.account)
            .or_default()
            .streams
            .push(StreamSnapshot {
                created_ns: stream.created_ns.get(),
                config: stream.config(),
                state,
                memory: stream.store.is_memory(),
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
