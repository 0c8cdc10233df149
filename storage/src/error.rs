//! The one error type of the crate. Each variant says whether the caller can recover.

use std::io;
use std::path::PathBuf;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The message is larger than the stream's `max_msg_size`. Recoverable: the message is
    /// rejected and the store is unchanged.
    #[error("message size {size} exceeds maximum allowed {max}")]
    MessageTooLarge {
        /// Size of the rejected message in bytes (subject, headers and payload).
        size: u64,
        /// The configured maximum.
        max: u64,
    },
    /// Storing would exceed `max_msgs` under the discard-new policy. Recoverable: the message
    /// is rejected and the store is unchanged.
    #[error("maximum messages exceeded")]
    MaxMessages,
    /// Storing would exceed `max_bytes` under the discard-new policy. Recoverable: the message
    /// is rejected and the store is unchanged.
    #[error("maximum bytes exceeded")]
    MaxBytes,
    /// Storing would exceed `max_msgs_per_subject` under discard-new-per-subject. Recoverable:
    /// the message is rejected and the store is unchanged.
    #[error("maximum messages per subject exceeded")]
    MaxMessagesPerSubject,
    /// The subject is empty, has an empty token, contains whitespace or a wildcard, or is
    /// longer than 65535 bytes. Recoverable: the message is rejected.
    #[error("invalid subject {0:?}")]
    InvalidSubject(String),
    /// A file operation failed. When it happens on the write path the store has also stopped
    /// accepting writes (see [`StoreError::WritesStopped`]); reads of data already on disk keep
    /// working. Not recoverable by retrying the same call.
    #[error("I/O error during {operation} on {path}: {source}")]
    Io {
        /// What the store was doing, e.g. "write block" or "fdatasync block".
        operation: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// An earlier write or sync failed (for example the disk is full), so the store refuses
    /// further changes: what is on disk is consistent, but this process can no longer promise
    /// that new data is durable. Recoverable only by closing and reopening the store once the
    /// cause is fixed; messages acknowledged before the failure are kept.
    #[error("store stopped accepting writes: {reason}")]
    WritesStopped {
        /// The first failure, with operation and path.
        reason: String,
    },
    /// A record read back from disk does not match its checksum or its location. The message
    /// is lost (bit rot or outside interference); other messages are unaffected. Recoverable
    /// for the caller: treat the sequence as deleted.
    #[error("corrupt record in {path} at offset {offset}: {reason}")]
    Corrupt {
        /// The block file.
        path: PathBuf,
        /// Byte offset of the record in the block.
        offset: u64,
        /// What did not match.
        reason: &'static str,
    },
    /// A snapshot given to restore is truncated, has a bad checksum or an unknown version.
    /// Recoverable: nothing was changed; obtain a good snapshot.
    #[error("invalid snapshot: {0}")]
    InvalidSnapshot(&'static str),
    /// Restore was asked of a store that already holds messages or consumers. Recoverable:
    /// restore into a new store.
    #[error("restore needs an empty store")]
    RestoreIntoNonEmptyStore,
    /// A restored message's sequence is not above the store's last sequence (the backup's
    /// messages are out of order). Recoverable: nothing of that call was kept.
    #[error("message sequence {seq} out of order (last sequence {last_seq})")]
    RestoreOutOfOrder { seq: u64, last_seq: u64 },
    /// The consumer name cannot be stored (empty or longer than 255 bytes). Recoverable.
    #[error("invalid consumer name {0:?}")]
    InvalidConsumerName(String),
    /// The store directory cannot be read safely (for example `store.meta` and every block
    /// header are damaged). Nothing was changed. Not recoverable automatically: restore from a
    /// snapshot or a replica.
    #[error("cannot open the store in {path}: {reason}")]
    UnreadableStore {
        /// The store directory.
        path: PathBuf,
        /// What is missing.
        reason: &'static str,
    },
    /// The store directory holds a file written by an unknown format version. Not
    /// recoverable by this build: upgrade, or move the directory away.
    #[error("unsupported format version {version} in {path}")]
    UnsupportedVersion {
        /// The file with the unknown version.
        path: PathBuf,
        /// The version found.
        version: u32,
    },
}

/// Shorthand used throughout the crate.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl StoreError {
    pub(crate) fn io(operation: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        StoreError::Io {
            operation,
            path: path.into(),
            source,
        }
    }
}
