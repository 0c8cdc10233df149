//! Where streams live on disk, and the stream metafile.
//!
//! ```text
//! <store_dir>/                         (the server's `store_dir` + `/jetstream`, as Go)
//!   <account>/streams/<stream>/
//!     meta.inf                         the stream's configuration and creation time
//!     store.meta, blocks/, consumers/  the file store (storage/FORMAT.md)
//!   <account>/streams/.<stream>.<ns>/  a stream being deleted (removed at the next start)
//! ```
//!
//! `meta.inf` is JSON (`{"created":...,"config":{...}}`) followed by a newline and the
//! SHA-256 of the JSON in hex: one file written atomically (temporary file, fsync, rename,
//! fsync of the directory), so a crash leaves the old or the new configuration and damage is
//! detected. The layout depends on account and stream names only, never on the shard that
//! owns the stream.

use std::path::{Path, PathBuf};

use compio::io::AsyncWriteAtExt;

use natrix_jetstream::api::StreamConfig;
use natrix_jetstream::time::Timestamp;
use serde::{Deserialize, Serialize};

use super::JetStreamError;
use crate::shard::DirectoryEntry;

/// The name of the stream metafile.
pub const META_FILE: &str = "meta.inf";

/// `<store_dir>/<account>/streams/<stream>`.
pub fn stream_dir(store_dir: &Path, account: &str, stream: &str) -> PathBuf {
    store_dir.join(account).join("streams").join(stream)
}

#[derive(Serialize, Deserialize)]
struct MetaFile {
    created: Timestamp,
    config: StreamConfig,
}

/// The bytes of a stream metafile.
pub fn encode_meta(entry: &DirectoryEntry) -> Vec<u8> {
    let meta = MetaFile {
        created: Timestamp::from_unix_nanos(entry.created_ns),
        config: entry.config.clone(),
    };
    let mut bytes = natrix_jetstream::json::to_vec(&meta);
    let digest = ring::digest::digest(&ring::digest::SHA256, &bytes);
    bytes.push(b'\n');
    for byte in digest.as_ref() {
        bytes.extend_from_slice(format!("{byte:02x}").as_bytes());
    }
    bytes
}

/// Reads a stream metafile's bytes back; `Err` says what is wrong with them.
pub fn decode_meta(bytes: &[u8]) -> Result<DirectoryEntry, String> {
    let split = bytes
        .iter()
        .rposition(|byte| *byte == b'\n')
        .ok_or("no checksum")?;
    let (json, sum) = (&bytes[..split], &bytes[split + 1..]);
    let digest = ring::digest::digest(&ring::digest::SHA256, json);
    let expected: String = digest
        .as_ref()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    if sum != expected.as_bytes() {
        return Err("checksums do not match".to_owned());
    }
    let meta: MetaFile = serde_json::from_slice(json).map_err(|error| error.to_string())?;
    Ok(DirectoryEntry {
        created_ns: meta.created.unix_nanos().unwrap_or(0),
        config: meta.config,
    })
}

fn io_error(operation: &'static str, path: &Path, source: std::io::Error) -> JetStreamError {
    JetStreamError::Io {
        operation,
        path: path.to_path_buf(),
        source,
    }
}

/// Creates the stream directory (and its parents) and writes its metafile atomically.
pub async fn write_meta(dir: &Path, entry: &DirectoryEntry) -> Result<(), JetStreamError> {
    compio::fs::create_dir_all(dir)
        .await
        .map_err(|error| io_error("create stream directory", dir, error))?;
    let path = dir.join(META_FILE);
    let temp = dir.join(format!("{META_FILE}.tmp"));
    let file = compio::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&temp)
        .await
        .map_err(|error| io_error("create metafile", &temp, error))?;
    let mut file = file;
    let compio::BufResult(written, _) = file.write_all_at(encode_meta(entry), 0).await;
    written.map_err(|error| io_error("write metafile", &temp, error))?;
    file.sync_all()
        .await
        .map_err(|error| io_error("fsync metafile", &temp, error))?;
    drop(file);
    compio::fs::rename(&temp, &path)
        .await
        .map_err(|error| io_error("rename metafile", &path, error))?;
    sync_dir(dir).await?;
    // The stream directory itself may be new: its entry in `streams/` must be durable too.
    match dir.parent() {
        Some(parent) => sync_dir(parent).await,
        None => Ok(()),
    }
}

/// Reads a stream's metafile.
pub async fn read_meta(dir: &Path) -> Result<DirectoryEntry, JetStreamError> {
    let path = dir.join(META_FILE);
    let bytes = compio::fs::read(&path)
        .await
        .map_err(|error| io_error("read metafile", &path, error))?;
    decode_meta(&bytes).map_err(|reason| JetStreamError::BadMeta { path, reason })
}

async fn sync_dir(dir: &Path) -> Result<(), JetStreamError> {
    let handle = compio::fs::OpenOptions::new()
        .read(true)
        .open(dir)
        .await
        .map_err(|error| io_error("open directory", dir, error))?;
    handle
        .sync_all()
        .await
        .map_err(|error| io_error("fsync directory", dir, error))
}

/// A stream directory found at start.
#[derive(Debug, Clone)]
pub struct FoundStream {
    pub account: String,
    pub stream: String,
    pub dir: PathBuf,
}

/// What a scan of the store directory found: streams, and directories of streams whose
/// deletion a crash interrupted (their names start with `.`).
#[derive(Debug, Default)]
pub struct Scan {
    pub streams: Vec<FoundStream>,
    pub interrupted_deletes: Vec<PathBuf>,
}

/// Lists `<store_dir>/*/streams/*`. Directory listing has no io_uring operation, so the
/// caller runs this on a blocking thread.
pub fn scan(store_dir: &Path) -> Scan {
    let mut scan = Scan::default();
    let Ok(accounts) = std::fs::read_dir(store_dir) else {
        return scan;
    };
    for account in accounts.flatten() {
        let Some(account_name) = account.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let streams_dir = account.path().join("streams");
        let Ok(streams) = std::fs::read_dir(&streams_dir) else {
            continue;
        };
        for stream in streams.flatten() {
            if !stream.file_type().is_ok_and(|kind| kind.is_dir()) {
                continue;
            }
            let Some(name) = stream.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if name.starts_with('.') {
                scan.interrupted_deletes.push(stream.path());
                continue;
            }
            scan.streams.push(FoundStream {
                account: account_name.clone(),
                stream: name,
                dir: stream.path(),
            });
        }
    }
    scan.streams
        .sort_by(|a, b| (&a.account, &a.stream).cmp(&(&b.account, &b.stream)));
    scan
}

/// Deletes a stream's directory: first renamed to `.<stream>.<ns>` (one atomic step, after
/// which a restart no longer sees the stream), then removed on a blocking thread.
pub async fn remove_stream_dir(dir: &Path) -> Result<(), JetStreamError> {
    let Some(parent) = dir.parent() else {
        return Ok(());
    };
    let name = dir
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos());
    let doomed = parent.join(format!(".{name}.{nanos}"));
    match compio::fs::rename(dir, &doomed).await {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(io_error("rename deleted stream", dir, error)),
    }
    sync_dir(parent).await?;
    remove_tree(doomed).await
}

/// Removes a directory tree on a blocking thread.
pub async fn remove_tree(dir: PathBuf) -> Result<(), JetStreamError> {
    let result = compio::runtime::spawn_blocking(move || {
        std::fs::remove_dir_all(&dir).map_err(|error| (dir, error))
    })
    .await;
    match result {
        Ok(Ok(())) => Ok(()),
        Ok(Err((dir, error))) => Err(io_error("remove directory", &dir, error)),
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metafile_round_trips_and_detects_damage() {
        let entry = DirectoryEntry {
            config: StreamConfig {
                name: "ORDERS".into(),
                subjects: vec!["orders.>".into()],
                ..StreamConfig::default()
            },
            created_ns: 1_700_000_000_123_456_789,
        };
        let bytes = encode_meta(&entry);
        assert_eq!(decode_meta(&bytes), Ok(entry));
        for index in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[index] ^= 0x01;
            assert!(decode_meta(&damaged).is_err(), "flip at {index} not seen");
        }
        assert!(decode_meta(&bytes[..bytes.len() - 3]).is_err());
    }
}
