//! Start and stop of JetStream on a shard.
//!
//! At start every shard scans `<store_dir>/*/streams/*`: it opens the streams it owns (the
//! stores recover what is on disk and report repairs, which are logged as the Go server logs
//! its restores), and the meta shard reads every stream's metafile to build the directory.
//! Memory streams do not survive a restart, as in the Go server. At stop every store is
//! closed after its tasks finish, which writes the file store's index for a fast restart.

use std::rc::Rc;
use std::time::Instant;

use natrix_jetstream::time::go_duration_string;

use super::files::{self, FoundStream};
use super::placement::{self, META_SHARD};
use super::stream::Stream;
use super::{runtime, JetStream, JetStreamError};
use crate::shard::{JetStreamMsg, Shard};

/// Starts JetStream on `shard` if the server runs it: registers the runtime, subscribes the
/// API service, and recovers the streams this shard owns. Returns once they capture
/// publishes.
pub async fn start(shard: &Rc<Shard>) -> Result<(), JetStreamError> {
    let Some(settings) = shard.config().jetstream.clone() else {
        return Ok(());
    };
    let js = JetStream::new(shard, settings);
    shard.set_jetstream_handler(Rc::clone(&js) as Rc<dyn crate::shard::JetStreamHandler>);
    js.subscribe_api(shard);
    recover(&js, shard).await;
    Ok(())
}

/// Closes every stream of `shard` (waiting for their store calls), then their stores.
pub async fn shutdown(shard: &Rc<Shard>) {
    let Some(js) = runtime(shard) else {
        return;
    };
    let streams: Vec<Rc<Stream>> = js.streams.borrow_mut().drain().map(|(_, s)| s).collect();
    for stream in streams {
        let name = format!("'{} > {}'", stream.account_name, stream.name);
        if let Some(store) = stream.close(shard).await {
            if let Err(error) = store.close().await {
                tracing::warn!("JetStream could not close stream {name} cleanly: {error}");
            }
        }
    }
}

async fn recover(js: &Rc<JetStream>, shard: &Rc<Shard>) {
    let store_dir = js.settings.store_dir.clone();
    let scan = compio::runtime::spawn_blocking(move || files::scan(&store_dir))
        .await
        .unwrap_or_default();
    let is_meta = js.shard_id == META_SHARD;
    if is_meta {
        for dir in scan.interrupted_deletes {
            if let Err(error) = files::remove_tree(dir).await {
                tracing::warn!("JetStream could not finish deleting a stream: {error}");
            }
        }
    }
    let config = shard.config();
    for found in scan.streams {
        let Some(account) = config.accounts.id(&found.account) else {
            if is_meta {
                tracing::warn!(
                    "  Streams of account {:?} are not loaded: the account is not configured",
                    found.account
                );
            }
            continue;
        };
        if js.settings.account_limits(account).is_none() {
            if is_meta {
                tracing::warn!(
                    "  Stream '{} > {}' is not loaded: JetStream is not enabled for the account",
                    found.account,
                    found.stream
                );
            }
            continue;
        }
        let owner = placement::owner(&found.account, &found.stream, js.shard_count);
        let owned = owner == js.shard_id;
        if !owned && !is_meta {
            continue;
        }
        let entry = match files::read_meta(&found.dir).await {
            Ok(entry) if entry.config.name == found.stream => entry,
            Ok(entry) => {
                if owned {
                    tracing::warn!(
                        "  Stream metafile in {:?} names stream {:?}: not loaded",
                        found.dir,
                        entry.config.name
                    );
                }
                continue;
            }
            Err(error) => {
                if owned {
                    tracing::warn!("  Error reading stream metafile: {error}");
                }
                continue;
            }
        };
        if let Some(meta) = &js.meta {
            meta.insert(account, entry.clone());
        }
        if owned {
            restore_stream(js, shard, account, found, entry).await;
        }
    }
}

async fn restore_stream(
    js: &Rc<JetStream>,
    shard: &Rc<Shard>,
    account: crate::account::AccountId,
    found: FoundStream,
    entry: crate::shard::DirectoryEntry,
) {
    let label = format!("'{} > {}'", found.account, found.stream);
    tracing::info!("  Starting restore for stream {label}");
    let started = Instant::now();
    let stream = match Stream::open(js, account, &found.account, &entry, Some(found.dir)).await {
        Ok(stream) => stream,
        Err(error) => {
            tracing::warn!("  Error recreating stream {:?}: {error}", found.stream);
            let revert = JetStreamMsg::Revert {
                account,
                stream: found.stream.clone(),
                previous: None,
            };
            match &js.meta {
                Some(meta) => meta.revert(account, &found.stream, None),
                None => {
                    let _ = shard.send_jetstream(META_SHARD, revert);
                }
            }
            return;
        }
    };
    if let super::store::Store::File(store) = &*stream.store {
        log_repairs(&label, store.recovery_report());
    }
    let messages = stream.store_messages();
    let took = started.elapsed().as_millis();
    let took = go_duration_string(i64::try_from(took).unwrap_or(i64::MAX) * 1_000_000);
    tracing::info!(
        "  Restored {} messages for stream {label} in {took}",
        with_commas(messages)
    );
    js.streams
        .borrow_mut()
        .insert((account, found.stream), Rc::clone(&stream));
    stream.start(shard);
}

/// What recovery repaired, one warning per repair.
fn log_repairs(label: &str, report: &natrix_storage::RecoveryReport) {
    for cut in &report.truncated_tails {
        tracing::warn!(
            "  Stream {label}: cut a torn tail of {} bytes at offset {} of {} (writes a crash interrupted, never acknowledged)",
            cut.len,
            cut.offset,
            cut.path.display()
        );
    }
    for damage in &report.corrupt_ranges {
        tracing::warn!(
            "  Stream {label}: skipped {} damaged bytes at offset {} of {}",
            damage.len,
            damage.offset,
            damage.path.display()
        );
    }
    for block in &report.damaged_block_headers {
        tracing::warn!(
            "  Stream {label}: damaged block header in {}",
            block.display()
        );
    }
    for file in &report.damaged_consumer_files {
        tracing::warn!(
            "  Stream {label}: damaged consumer state file {} ignored",
            file.display()
        );
    }
    if report.store_meta_damaged {
        tracing::warn!("  Stream {label}: damaged store.meta rewritten");
    }
    if let Some(reason) = &report.index_discarded {
        tracing::debug!("  Stream {label}: index not used ({reason})");
    }
}

/// Go's `comma`: 1234567 as `1,234,567`.
fn with_commas(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_are_written_with_commas_as_go_does() {
        assert_eq!(super::with_commas(0), "0");
        assert_eq!(super::with_commas(999), "999");
        assert_eq!(super::with_commas(1000), "1,000");
        assert_eq!(super::with_commas(1_234_567), "1,234,567");
    }
}
