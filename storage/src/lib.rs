//! Stream stores for Natrix JetStream.
//!
//! Owns: the [`StreamStore`] trait that JetStream programs against, the memory store
//! ([`MemStore`]) that is the model, the io_uring file store ([`FileStore`]) and the on-disk
//! format (documented byte by byte in `storage/FORMAT.md`). Must not touch: any other workspace
//! crate, sockets, the protocol. A store is single-owner: it lives on one shard thread and its
//! futures are `!Send`.
//!
//! Modules:
//! - `store`: the [`StreamStore`] trait, the contract both stores keep.
//! - `types`: messages, limits, state reports and consumer state passed through the trait.
//! - `error`: [`StoreError`], with what the caller can do about each failure.
//! - `subject`: subject validation and `*`/`>` wildcard matching (pure).
//! - `catalog`: the in-memory index both stores share: sequences, subjects, limits and the
//!   removal plans that purge, compact, truncate and limits turn into (pure, no I/O).
//! - `codec`: byte encoding of block headers, records, consumer state and snapshots (pure).
//! - `mem`: [`MemStore`], the catalog with payloads kept in memory.
//! - `file`: [`FileStore`], the catalog over append-only block files, with group commit,
//!   recovery and atomic metadata writes, driven by the shard's compio runtime.

mod catalog;
mod codec;
mod error;
mod file;
mod mem;
mod store;
pub mod subject;
mod types;

pub use error::StoreError;
pub use file::{DamagedRange, FileStore, FileStoreOptions, RecoveryReport, SyncPolicy};
pub use mem::MemStore;
pub use store::StreamStore;
pub use types::{
    ConsumerState, DiscardPolicy, NewMessage, PendingDelivery, PurgeRequest, SequencePair,
    SimpleState, StoreConfig, StoredMessage, StreamState,
};
