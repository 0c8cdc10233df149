//! A stream's store, file or memory, behind one type so that the stream code is written once.

use std::collections::HashMap;

use natrix_storage::{
    ConsumerState, FileStore, MemStore, NewMessage, PurgeRequest, SimpleState, StoreConfig,
    StoreError, StoredMessage, StreamState, StreamStore,
};

/// The store of one stream (`storage: file` or `storage: memory`).
pub enum Store {
    File(FileStore),
    Memory(MemStore),
}

/// Calls the same method on whichever store this is. Each arm awaits the inner future in
/// the first poll of the outer one, so the stores' contract (a sequence is assigned at the
/// first poll of `store_msg`) holds through the wrapper.
macro_rules! both {
    ($self:ident, $store:ident => $call:expr) => {
        match $self {
            Store::File($store) => $call,
            Store::Memory($store) => $call,
        }
    };
}

impl Store {
    /// Whether messages are kept in memory.
    pub fn is_memory(&self) -> bool {
        matches!(self, Store::Memory(_))
    }

    /// Closes a file store cleanly (its index makes the next open fast); a memory store is
    /// dropped.
    pub async fn close(self) -> Result<(), StoreError> {
        match self {
            Store::File(store) => store.close().await,
            Store::Memory(_) => Ok(()),
        }
    }
}

impl StreamStore for Store {
    async fn store_msg(&self, message: NewMessage) -> Result<u64, StoreError> {
        both!(self, store => store.store_msg(message).await)
    }

    async fn load_msg(&self, seq: u64) -> Result<Option<StoredMessage>, StoreError> {
        both!(self, store => store.load_msg(seq).await)
    }

    async fn load_next_msg(
        &self,
        filter: &str,
        start_seq: u64,
    ) -> Result<Option<StoredMessage>, StoreError> {
        both!(self, store => store.load_next_msg(filter, start_seq).await)
    }

    async fn load_next_msgs(
        &self,
        filter: &str,
        start_seq: u64,
        max_messages: usize,
        max_bytes: usize,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        both!(self, store => store.load_next_msgs(filter, start_seq, max_messages, max_bytes).await)
    }

    async fn load_last_msg(&self, filter: &str) -> Result<Option<StoredMessage>, StoreError> {
        both!(self, store => store.load_last_msg(filter).await)
    }

    fn deleted(&self, limit: usize) -> Vec<u64> {
        both!(self, store => store.deleted(limit))
    }

    fn expired(&self, now_ns: i64) -> Vec<u64> {
        both!(self, store => store.expired(now_ns))
    }

    async fn remove_msg(&self, seq: u64) -> Result<bool, StoreError> {
        both!(self, store => store.remove_msg(seq).await)
    }

    async fn purge(&self, request: &PurgeRequest) -> Result<u64, StoreError> {
        both!(self, store => store.purge(request).await)
    }

    async fn compact(&self, floor_seq: u64) -> Result<u64, StoreError> {
        both!(self, store => store.compact(floor_seq).await)
    }

    async fn truncate(&self, last_seq: u64) -> Result<(), StoreError> {
        both!(self, store => store.truncate(last_seq).await)
    }

    async fn expire(&self, now_ns: i64) -> Result<u64, StoreError> {
        both!(self, store => store.expire(now_ns).await)
    }

    async fn update_config(&self, config: StoreConfig) -> Result<(), StoreError> {
        both!(self, store => store.update_config(config).await)
    }

    fn config(&self) -> StoreConfig {
        both!(self, store => store.config())
    }

    fn state(&self) -> StreamState {
        both!(self, store => store.state())
    }

    fn filtered_state(&self, filter: &str, start_seq: u64) -> SimpleState {
        both!(self, store => store.filtered_state(filter, start_seq))
    }

    fn subjects_state(&self, filter: &str) -> HashMap<String, SimpleState> {
        both!(self, store => store.subjects_state(filter))
    }

    fn subjects_totals(&self, filter: &str) -> HashMap<String, u64> {
        both!(self, store => store.subjects_totals(filter))
    }

    async fn update_consumer_state(
        &self,
        name: &str,
        state: &ConsumerState,
    ) -> Result<(), StoreError> {
        both!(self, store => store.update_consumer_state(name, state).await)
    }

    fn consumer_state(&self, name: &str) -> Option<ConsumerState> {
        both!(self, store => store.consumer_state(name))
    }

    async fn remove_consumer_state(&self, name: &str) -> Result<bool, StoreError> {
        both!(self, store => store.remove_consumer_state(name).await)
    }

    fn consumer_names(&self) -> Vec<String> {
        both!(self, store => store.consumer_names())
    }

    async fn snapshot(&self) -> Result<Vec<u8>, StoreError> {
        both!(self, store => store.snapshot().await)
    }

    async fn restore(&self, snapshot: &[u8]) -> Result<(), StoreError> {
        both!(self, store => store.restore(snapshot).await)
    }

    async fn append_restored(
        &self,
        messages: Vec<natrix_storage::StoredMessage>,
    ) -> Result<(), StoreError> {
        both!(self, store => store.append_restored(messages).await)
    }

    async fn skip_to(&self, last_seq: u64, last_timestamp_ns: i64) -> Result<(), StoreError> {
        both!(self, store => store.skip_to(last_seq, last_timestamp_ns).await)
    }
}
