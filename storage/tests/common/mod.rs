//! Helpers shared by the storage integration tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::future::Future;

use bytes::Bytes;
use natrix_storage::{FileStore, FileStoreOptions, NewMessage, StoreConfig, SyncPolicy};

/// Runs a future to completion on a fresh compio runtime, as a shard would.
pub fn run<F: Future>(future: F) -> F::Output {
    compio::runtime::Runtime::new()
        .expect("io_uring runtime")
        .block_on(future)
}

/// Small blocks, so that tests cross block boundaries with few messages.
pub fn small_block_options() -> FileStoreOptions {
    FileStoreOptions {
        block_size_max_bytes: 512,
        sync: SyncPolicy::Always,
        // Few open files, so that tests also read through opening and evicting handles.
        open_block_files_max: 2,
        preallocate: true,
    }
}

/// Small blocks whose files end with their last record at every moment (no zeros written
/// ahead), for tests that find records by the file's length.
pub fn exact_length_options() -> FileStoreOptions {
    FileStoreOptions {
        preallocate: false,
        ..small_block_options()
    }
}

pub async fn open_file_store(dir: &std::path::Path, options: FileStoreOptions) -> FileStore {
    FileStore::open(dir, StoreConfig::default(), options)
        .await
        .expect("open file store")
}

/// A message on `subject` whose payload is derived from `subject` and `tag`.
pub fn message(subject: &str, tag: u64) -> NewMessage {
    NewMessage {
        subject: subject.to_owned(),
        headers: Bytes::new(),
        payload: Bytes::from(format!("{subject}#{tag}")),
        timestamp_ns: 1_000 + tag as i64,
        ttl: None,
    }
}
