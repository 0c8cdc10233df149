//! [`MemStore`]: the catalog with message bodies kept in memory. It is the model the file store
//! is compared against, and the store of streams with memory storage.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;

use crate::catalog::{self, Catalog, Entry, Removal};
use crate::codec::{self, SnapshotContents};
use crate::error::{Result, StoreError};
use crate::store::StreamStore;
use crate::subject;
use crate::types::{
    ConsumerState, NewMessage, PurgeRequest, SimpleState, StoreConfig, StoredMessage, StreamState,
};

/// A stream store in memory.
#[derive(Debug, Default)]
pub struct MemStore {
    inner: RefCell<MemInner>,
}

#[derive(Debug, Default)]
struct MemInner {
    catalog: Catalog<MemBody>,
    config: StoreConfig,
    consumers: BTreeMap<String, ConsumerState>,
}

#[derive(Debug, Clone)]
struct MemBody {
    headers: Bytes,
    payload: Bytes,
}

impl MemStore {
    /// An empty store with these limits.
    pub fn new(config: StoreConfig) -> Self {
        MemStore {
            inner: RefCell::new(MemInner {
                config,
                ..MemInner::default()
            }),
        }
    }

    /// Checks the internal indexes against each other (for tests).
    pub fn validate(&self) -> std::result::Result<(), String> {
        self.inner.borrow().catalog.validate()
    }
}

impl MemInner {
    fn message(&self, seq: u64) -> Option<StoredMessage> {
        self.catalog.get(seq).map(|entry| to_stored(seq, entry))
    }

    fn apply_all(&mut self, removals: impl IntoIterator<Item = Removal>) -> u64 {
        removals
            .into_iter()
            .map(|removal| self.catalog.apply(removal).len() as u64)
            .sum()
    }
}

fn to_stored(seq: u64, entry: &Entry<MemBody>) -> StoredMessage {
    StoredMessage {
        seq,
        subject: entry.subject.to_string(),
        headers: entry.location.headers.clone(),
        payload: entry.location.payload.clone(),
        timestamp_ns: entry.timestamp_ns,
        ttl_ns: entry.ttl_ns,
    }
}

pub(crate) fn validate_consumer_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 255 {
        return Err(StoreError::InvalidConsumerName(name.to_owned()));
    }
    Ok(())
}

pub(crate) fn ttl_ns(message: &NewMessage) -> i64 {
    message
        .ttl
        .map_or(0, |ttl| i64::try_from(ttl.as_nanos()).unwrap_or(i64::MAX))
}

fn deletes(seqs: Vec<u64>) -> impl Iterator<Item = Removal> {
    seqs.into_iter().map(|seq| Removal::Delete { seq })
}

impl StreamStore for MemStore {
    async fn store_msg(&self, message: NewMessage) -> Result<u64> {
        if !subject::is_storable_subject(&message.subject) {
            return Err(StoreError::InvalidSubject(message.subject));
        }
        let mut inner = self.inner.borrow_mut();
        let size = catalog::message_size(
            message.subject.len(),
            message.headers.len(),
            message.payload.len(),
        );
        inner
            .catalog
            .check_admission(&inner.config, &message.subject, size)?;
        let seq = inner.catalog.next_seq();
        let ttl = ttl_ns(&message);
        let body = MemBody {
            headers: message.headers,
            payload: message.payload,
        };
        inner
            .catalog
            .insert(seq, &message.subject, message.timestamp_ns, ttl, size, body);
        let excess = inner
            .catalog
            .plan_limits(&inner.config, Some(&message.subject));
        inner.apply_all(deletes(excess));
        Ok(seq)
    }

    async fn load_msg(&self, seq: u64) -> Result<Option<StoredMessage>> {
        Ok(self.inner.borrow().message(seq))
    }

    async fn load_next_msg(&self, filter: &str, start_seq: u64) -> Result<Option<StoredMessage>> {
        let inner = self.inner.borrow();
        Ok(inner
            .catalog
            .next_match(filter, start_seq)
            .and_then(|seq| inner.message(seq)))
    }

    async fn load_last_msg(&self, filter: &str) -> Result<Option<StoredMessage>> {
        let inner = self.inner.borrow();
        Ok(inner
            .catalog
            .last_match(filter)
            .and_then(|seq| inner.message(seq)))
    }

    async fn remove_msg(&self, seq: u64) -> Result<bool> {
        let mut inner = self.inner.borrow_mut();
        Ok(inner.apply_all([Removal::Delete { seq }]) == 1)
    }

    async fn purge(&self, request: &PurgeRequest) -> Result<u64> {
        let mut inner = self.inner.borrow_mut();
        let plan = inner.catalog.plan_purge(request);
        Ok(inner.apply_all(plan))
    }

    async fn compact(&self, floor_seq: u64) -> Result<u64> {
        let mut inner = self.inner.borrow_mut();
        let plan = inner.catalog.plan_compact(floor_seq);
        Ok(inner.apply_all(plan))
    }

    async fn truncate(&self, last_seq: u64) -> Result<()> {
        let mut inner = self.inner.borrow_mut();
        let plan = inner.catalog.plan_truncate(last_seq);
        inner.apply_all(plan);
        Ok(())
    }

    async fn expire(&self, now_ns: i64) -> Result<u64> {
        let mut inner = self.inner.borrow_mut();
        let expired = inner.catalog.plan_expiry(&inner.config, now_ns);
        Ok(inner.apply_all(deletes(expired)))
    }

    fn expired(&self, now_ns: i64) -> Vec<u64> {
        let inner = self.inner.borrow();
        inner.catalog.plan_expiry(&inner.config, now_ns)
    }

    async fn update_config(&self, config: StoreConfig) -> Result<()> {
        let mut inner = self.inner.borrow_mut();
        inner.config = config;
        let excess = inner.catalog.plan_limits(&inner.config, None);
        inner.apply_all(deletes(excess));
        Ok(())
    }

    fn config(&self) -> StoreConfig {
        self.inner.borrow().config.clone()
    }

    fn state(&self) -> StreamState {
        self.inner.borrow().catalog.state()
    }

    fn deleted(&self, limit: usize) -> Vec<u64> {
        self.inner.borrow().catalog.deleted(limit)
    }

    fn filtered_state(&self, filter: &str, start_seq: u64) -> SimpleState {
        self.inner
            .borrow()
            .catalog
            .filtered_state(filter, start_seq)
    }

    fn subjects_state(&self, filter: &str) -> HashMap<String, SimpleState> {
        self.inner.borrow().catalog.subjects_state(filter)
    }

    async fn update_consumer_state(&self, name: &str, state: &ConsumerState) -> Result<()> {
        validate_consumer_name(name)?;
        self.inner
            .borrow_mut()
            .consumers
            .insert(name.to_owned(), state.clone());
        Ok(())
    }

    fn consumer_state(&self, name: &str) -> Option<ConsumerState> {
        self.inner.borrow().consumers.get(name).cloned()
    }

    async fn remove_consumer_state(&self, name: &str) -> Result<bool> {
        Ok(self.inner.borrow_mut().consumers.remove(name).is_some())
    }

    fn consumer_names(&self) -> Vec<String> {
        self.inner.borrow().consumers.keys().cloned().collect()
    }

    async fn snapshot(&self) -> Result<Vec<u8>> {
        let inner = self.inner.borrow();
        let contents = SnapshotContents {
            last_seq: inner.catalog.last_seq(),
            last_timestamp_ns: inner.catalog.last_timestamp_ns(),
            messages: inner
                .catalog
                .iter()
                .map(|(seq, entry)| to_stored(seq, entry))
                .collect(),
            consumers: inner
                .consumers
                .iter()
                .map(|(name, state)| (name.clone(), state.clone()))
                .collect(),
        };
        Ok(codec::encode_snapshot(&contents))
    }

    async fn restore(&self, snapshot: &[u8]) -> Result<()> {
        let contents = codec::decode_snapshot(snapshot).map_err(StoreError::InvalidSnapshot)?;
        let mut inner = self.inner.borrow_mut();
        if inner.catalog.last_seq() != 0 || !inner.consumers.is_empty() {
            return Err(StoreError::RestoreIntoNonEmptyStore);
        }
        for message in contents.messages {
            let size = catalog::message_size(
                message.subject.len(),
                message.headers.len(),
                message.payload.len(),
            );
            let body = MemBody {
                headers: message.headers,
                payload: message.payload,
            };
            inner.catalog.insert(
                message.seq,
                &message.subject,
                message.timestamp_ns,
                message.ttl_ns,
                size,
                body,
            );
        }
        inner.catalog.apply(Removal::Truncate {
            last_seq: contents.last_seq,
            last_timestamp_ns: contents.last_timestamp_ns,
        });
        inner.consumers = contents.consumers.into_iter().collect();
        // The snapshot may come from a stream with looser limits.
        let excess = inner.catalog.plan_limits(&inner.config, None);
        inner.apply_all(deletes(excess));
        Ok(())
    }

    async fn append_restored(&self, messages: Vec<StoredMessage>) -> Result<()> {
        let mut inner = self.inner.borrow_mut();
        crate::store::check_restored(&messages, inner.catalog.last_seq())?;
        for message in messages {
            let size = catalog::message_size(
                message.subject.len(),
                message.headers.len(),
                message.payload.len(),
            );
            let body = MemBody {
                headers: message.headers,
                payload: message.payload,
            };
            inner.catalog.insert(
                message.seq,
                &message.subject,
                message.timestamp_ns,
                message.ttl_ns,
                size,
                body,
            );
        }
        Ok(())
    }

    async fn skip_to(&self, last_seq: u64, last_timestamp_ns: i64) -> Result<()> {
        let mut inner = self.inner.borrow_mut();
        if last_seq > inner.catalog.last_seq() {
            inner.catalog.apply(Removal::Truncate {
                last_seq,
                last_timestamp_ns,
            });
        }
        Ok(())
    }
}
