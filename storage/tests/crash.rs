//! Crash and damage tests for the file store: torn tails cut at every byte, single-bit damage in
//! every byte of every file, a writer process killed with SIGKILL mid-append, and a full disk.
//! The invariant throughout: every acknowledged message is there after reopening, with its
//! content, unless its own bytes were damaged, and damage is reported, never silently absorbed.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use bytes::Bytes;
use common::{exact_length_options, message, open_file_store, run, small_block_options};
use natrix_storage::{
    ConsumerState, FileStore, FileStoreOptions, NewMessage, SequencePair, StoreConfig, StoreError,
    StreamStore, SyncPolicy,
};

fn block_path(dir: &Path, block_id: u32) -> PathBuf {
    dir.join("blocks").join(format!("{block_id:010}.blk"))
}

fn block_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("blocks"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    files
}

fn copy_store(from: &Path, to: &Path) {
    for sub in ["blocks", "consumers"] {
        std::fs::create_dir_all(to.join(sub)).unwrap();
        for entry in std::fs::read_dir(from.join(sub)).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), to.join(sub).join(entry.file_name())).unwrap();
        }
    }
    for file in ["index", "store.meta"] {
        if from.join(file).exists() {
            std::fs::copy(from.join(file), to.join(file)).unwrap();
        }
    }
}

/// A message whose payload size varies with `tag`, so records differ in length.
fn varied_message(tag: u64) -> NewMessage {
    let mut message = message(&format!("crash.{}", tag % 3), tag);
    message.payload = Bytes::from(format!("{}:{}", tag, "x".repeat((tag * 7 % 40) as usize)));
    if tag % 2 == 0 {
        message.headers = Bytes::from_static(b"NATS/1.0\r\nK: v\r\n\r\n");
    }
    message
}

#[test]
fn cutting_the_last_block_at_every_byte_keeps_every_complete_record() {
    let source = tempfile::tempdir().unwrap();
    // Record ends are read from the file's length.
    let options = FileStoreOptions {
        block_size_max_bytes: 1 << 20,
        sync: SyncPolicy::Always,
        preallocate: false,
        ..FileStoreOptions::default()
    };
    // Record end offsets, read from the file after each acknowledgement.
    let mut record_ends = Vec::new();
    let messages: Vec<NewMessage> = (1..=8).map(varied_message).collect();
    run(async {
        let store = open_file_store(source.path(), options.clone()).await;
        for message in &messages {
            store.store_msg(message.clone()).await.unwrap();
            record_ends.push(
                std::fs::metadata(block_path(source.path(), 1))
                    .unwrap()
                    .len(),
            );
        }
        store.close().await.unwrap();
    });
    let full = std::fs::read(block_path(source.path(), 1)).unwrap();
    let cut_from = record_ends[record_ends.len() - 4] as usize;
    for cut in cut_from..=full.len() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("blocks")).unwrap();
        std::fs::write(block_path(dir.path(), 1), &full[..cut]).unwrap();
        run(async {
            let store = open_file_store(dir.path(), options.clone()).await;
            let complete = record_ends
                .iter()
                .filter(|end| **end as usize <= cut)
                .count();
            let report = store.recovery_report().clone();
            let on_boundary = record_ends.contains(&(cut as u64));
            assert_eq!(report.is_clean(), on_boundary, "cut {cut}: {report:?}");
            assert!(report.corrupt_ranges.is_empty(), "cut {cut}: {report:?}");
            assert_eq!(store.state().msgs, complete as u64, "cut {cut}");
            for (index, expected) in messages.iter().enumerate() {
                let loaded = store.load_msg(index as u64 + 1).await.unwrap();
                if index < complete {
                    let loaded = loaded.unwrap();
                    assert_eq!(loaded.payload, expected.payload, "cut {cut}");
                    assert_eq!(loaded.headers, expected.headers, "cut {cut}");
                } else {
                    assert_eq!(loaded, None, "cut {cut}");
                }
            }
            // Appends after the cut must land where the torn tail was and survive a reopen.
            let seq = store.store_msg(message("after.cut", 1)).await.unwrap();
            assert_eq!(seq, complete as u64 + 1);
            drop(store);
            let reopened = open_file_store(dir.path(), options.clone()).await;
            assert!(reopened.recovery_report().is_clean(), "cut {cut}");
            assert_eq!(reopened.state().msgs, complete as u64 + 1);
            assert_eq!(
                reopened.load_msg(seq).await.unwrap().unwrap().subject,
                "after.cut"
            );
        });
    }
}

#[test]
fn a_bit_flip_anywhere_loses_at_most_the_damaged_record_and_is_reported() {
    let source = tempfile::tempdir().unwrap();
    let options = FileStoreOptions {
        block_size_max_bytes: 300,
        sync: SyncPolicy::Always,
        preallocate: false,
        ..FileStoreOptions::default()
    };
    let messages: Vec<NewMessage> = (1..=9).map(varied_message).collect();
    // (block path, record start, record end) of each acknowledged message.
    let mut record_spans: Vec<(PathBuf, u64, u64)> = Vec::new();
    let consumer = ConsumerState {
        delivered: SequencePair {
            consumer_seq: 4,
            stream_seq: 4,
        },
        ..ConsumerState::default()
    };
    run(async {
        let store = open_file_store(source.path(), options.clone()).await;
        for message in &messages {
            let before: BTreeMap<PathBuf, u64> = block_files(source.path())
                .into_iter()
                .map(|path| {
                    let len = std::fs::metadata(&path).unwrap().len();
                    (path, len)
                })
                .collect();
            store.store_msg(message.clone()).await.unwrap();
            let last = block_files(source.path()).pop().unwrap();
            let end = std::fs::metadata(&last).unwrap().len();
            let start = before.get(&last).copied().unwrap_or(48);
            record_spans.push((last, start, end));
        }
        store
            .update_consumer_state("durable", &consumer)
            .await
            .unwrap();
        store.close().await.unwrap();
    });
    let mut damaged_files: Vec<PathBuf> = block_files(source.path());
    assert!(damaged_files.len() >= 3, "the test needs several blocks");
    // The clean close wrote an index; damage to it must be noticed and the blocks scanned.
    damaged_files.push(source.path().join("index"));
    damaged_files.push(source.path().join("store.meta"));
    damaged_files.extend(
        std::fs::read_dir(source.path().join("consumers"))
            .unwrap()
            .map(|entry| entry.unwrap().path()),
    );
    for damaged_file in &damaged_files {
        let relative = damaged_file
            .strip_prefix(source.path())
            .unwrap()
            .to_path_buf();
        let original = std::fs::read(damaged_file).unwrap();
        for offset in 0..original.len() {
            let dir = tempfile::tempdir().unwrap();
            copy_store(source.path(), dir.path());
            let mut bytes = original.clone();
            bytes[offset] ^= 1 << (offset % 8);
            std::fs::write(dir.path().join(&relative), &bytes).unwrap();
            run(async {
                let store = open_file_store(dir.path(), options.clone()).await;
                let report = store.recovery_report().clone();
                assert!(
                    !report.is_clean(),
                    "{relative:?}@{offset}: damage went unreported"
                );
                for (index, expected) in messages.iter().enumerate() {
                    let seq = index as u64 + 1;
                    let (path, start, end) = &record_spans[index];
                    let hit =
                        path.ends_with(&relative) && (*start..*end).contains(&(offset as u64));
                    let loaded = store.load_msg(seq).await.unwrap();
                    if hit {
                        assert_eq!(
                            loaded, None,
                            "{relative:?}@{offset}: damaged seq {seq} kept"
                        );
                    } else {
                        let loaded = loaded.unwrap_or_else(|| {
                            panic!("{relative:?}@{offset}: intact seq {seq} lost: {report:?}")
                        });
                        assert_eq!(loaded.payload, expected.payload);
                        assert_eq!(loaded.subject, expected.subject);
                    }
                }
                let consumer_hit = relative.starts_with("consumers");
                assert_eq!(
                    store.consumer_state("durable"),
                    (!consumer_hit).then(|| consumer.clone()),
                    "{relative:?}@{offset}"
                );
            });
        }
    }
}

#[test]
fn a_clean_close_writes_an_index_that_the_next_open_uses_and_a_crash_does_not() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let store = open_file_store(dir.path(), small_block_options()).await;
        for tag in 0..50 {
            store.store_msg(varied_message(tag)).await.unwrap();
        }
        store.remove_msg(7).await.unwrap();
        let state = store.state();
        store.close().await.unwrap();
        assert!(dir.path().join("index").exists());
        let reopened = open_file_store(dir.path(), small_block_options()).await;
        let report = reopened.recovery_report().clone();
        assert!(report.index_used && report.is_clean(), "{report:?}");
        assert_eq!(report.blocks_scanned, 0);
        assert_eq!(reopened.state(), state);
        reopened.validate().unwrap();
        assert!(
            !dir.path().join("index").exists(),
            "the index must not outlive the open"
        );
        for seq in [1, 8, 50] {
            let expected = varied_message(seq - 1);
            assert_eq!(
                reopened.load_msg(seq).await.unwrap().unwrap().payload,
                expected.payload
            );
        }
        reopened.store_msg(message("after", 1)).await.unwrap();
        drop(reopened);
        let after_crash = open_file_store(dir.path(), small_block_options()).await;
        assert!(!after_crash.recovery_report().index_used);
        assert_eq!(after_crash.state().msgs, 50);
    });
}

#[test]
fn damage_inside_a_large_block_after_a_clean_close_is_an_error_on_load() {
    let dir = tempfile::tempdir().unwrap();
    let options = FileStoreOptions::default();
    run(async {
        let store = open_file_store(dir.path(), options.clone()).await;
        for tag in 0..400 {
            store.store_msg(varied_message(tag)).await.unwrap();
        }
        store.close().await.unwrap();
        // Damage the first message, far from the tail the index checksums.
        let path = block_path(dir.path(), 1);
        let mut bytes = std::fs::read(&path).unwrap();
        assert!(bytes.len() > 3 * 4096);
        bytes[48 + 30] ^= 0x01;
        std::fs::write(&path, &bytes).unwrap();
        let reopened = open_file_store(dir.path(), options).await;
        assert!(reopened.recovery_report().index_used);
        let error = reopened.load_msg(1).await.unwrap_err();
        assert!(matches!(error, StoreError::Corrupt { .. }), "{error}");
        assert!(reopened.load_msg(2).await.unwrap().is_some());
    });
}

#[test]
fn records_embedded_in_a_payload_are_not_replayed_when_the_record_around_them_is_damaged() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        // A snapshot is a run of valid records; store one as a message payload.
        let other = natrix_storage::MemStore::default();
        for tag in 0..5 {
            other.store_msg(message("other", tag)).await.unwrap();
        }
        let snapshot = Bytes::from(other.snapshot().await.unwrap());
        let store = open_file_store(dir.path(), exact_length_options()).await;
        store.store_msg(message("a", 1)).await.unwrap();
        let carrier_offset = std::fs::metadata(block_path(dir.path(), 1)).unwrap().len();
        let mut carrier = message("backup", 2);
        carrier.payload = snapshot;
        store.store_msg(carrier).await.unwrap();
        store.store_msg(message("c", 3)).await.unwrap();
        drop(store);
        // Damage the carrier record's magic: recovery must search for the next record, and it
        // must find the real third message, not the records inside the payload.
        let path = block_path(dir.path(), 1);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[carrier_offset as usize] ^= 0xFF;
        std::fs::write(&path, &bytes).unwrap();
        let reopened = open_file_store(dir.path(), exact_length_options()).await;
        assert!(!reopened.recovery_report().corrupt_ranges.is_empty());
        let state = reopened.state();
        assert_eq!((state.msgs, state.last_seq), (2, 3));
        assert_eq!(reopened.load_msg(1).await.unwrap().unwrap().subject, "a");
        assert_eq!(reopened.load_msg(2).await.unwrap(), None);
        assert_eq!(reopened.load_msg(3).await.unwrap().unwrap().subject, "c");
    });
}

#[test]
fn damage_in_an_acknowledged_record_after_open_is_an_error_on_load_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let store = open_file_store(dir.path(), exact_length_options()).await;
        store.store_msg(message("a", 1)).await.unwrap();
        store.store_msg(message("a", 2)).await.unwrap();
        let path = block_path(dir.path(), 1);
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 10;
        bytes[last] ^= 0x10;
        std::fs::write(&path, &bytes).unwrap();
        let error = store.load_msg(2).await.unwrap_err();
        assert!(matches!(error, StoreError::Corrupt { .. }), "{error}");
        assert_eq!(
            store.load_msg(1).await.unwrap().unwrap().payload,
            message("a", 1).payload
        );
    });
}

const WRITER_DIR_VAR: &str = "NATRIX_STORAGE_CRASH_WRITER_DIR";
const WRITER_TASKS: u64 = 16;

/// Not a test on its own: when the crash test re-executes this binary with the directory in
/// the environment, this runs as the writer child. It stores from 16 concurrent tasks and
/// prints `seq task counter` for each acknowledged message, until it is killed.
#[test]
fn crash_writer_child_process() {
    let Ok(dir) = std::env::var(WRITER_DIR_VAR) else {
        return;
    };
    run(async move {
        let store = std::rc::Rc::new(
            FileStore::open(&dir, StoreConfig::default(), small_writer_options())
                .await
                .unwrap(),
        );
        let mut tasks = Vec::new();
        for task in 0..WRITER_TASKS {
            let store = std::rc::Rc::clone(&store);
            tasks.push(compio::runtime::spawn(async move {
                for counter in 0.. {
                    let seq = store
                        .store_msg(writer_message(task, counter))
                        .await
                        .unwrap();
                    let mut stdout = std::io::stdout().lock();
                    writeln!(stdout, "ACK {seq} {task} {counter}").unwrap();
                    stdout.flush().unwrap();
                }
            }));
        }
        for task in tasks {
            let _ = task.await;
        }
    });
}

fn small_writer_options() -> FileStoreOptions {
    FileStoreOptions {
        block_size_max_bytes: 16 * 1024,
        sync: SyncPolicy::Always,
        ..FileStoreOptions::default()
    }
}

fn writer_message(task: u64, counter: u64) -> NewMessage {
    NewMessage {
        subject: format!("writer.{task}"),
        headers: Bytes::new(),
        payload: Bytes::from(format!(
            "{task}/{counter}/{}",
            "w".repeat((counter % 50) as usize)
        )),
        timestamp_ns: counter as i64,
        ttl: None,
    }
}

#[test]
fn every_acknowledged_message_survives_a_writer_killed_with_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let mut acknowledged: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    for acks_before_kill in [40, 300, 1200] {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "crash_writer_child_process",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(WRITER_DIR_VAR, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let mut seen = 0;
        while seen < acks_before_kill {
            let Some(line) = lines.next() else { break };
            if record_ack(&line.unwrap(), &mut acknowledged) {
                seen += 1;
            }
        }
        // SIGKILL: no destructor, no flush, the writer dies mid-append.
        child.kill().unwrap();
        // Acks printed before the kill are still in the pipe.
        for line in lines {
            record_ack(&line.unwrap(), &mut acknowledged);
        }
        child.wait().unwrap();
        assert!(seen >= acks_before_kill, "the writer child stopped early");
        run(async {
            let store = FileStore::open(dir.path(), StoreConfig::default(), small_writer_options())
                .await
                .unwrap();
            let report = store.recovery_report().clone();
            assert!(report.corrupt_ranges.is_empty(), "{report:?}");
            for (seq, (task, counter)) in &acknowledged {
                let loaded = store.load_msg(*seq).await.unwrap().unwrap_or_else(|| {
                    panic!("acknowledged seq {seq} lost after SIGKILL: {report:?}")
                });
                let expected = writer_message(*task, *counter);
                assert_eq!(loaded.subject, expected.subject);
                assert_eq!(loaded.payload, expected.payload);
            }
            store.validate().unwrap();
        });
    }
    assert!(acknowledged.len() >= 1540);
}

fn record_ack(line: &str, acknowledged: &mut BTreeMap<u64, (u64, u64)>) -> bool {
    let mut fields = line.split(' ');
    if fields.next() != Some("ACK") {
        return false;
    }
    let mut number = || fields.next().and_then(|field| field.parse::<u64>().ok());
    match (number(), number(), number()) {
        (Some(seq), Some(task), Some(counter)) => {
            acknowledged.insert(seq, (task, counter));
            true
        }
        _ => false,
    }
}

#[test]
fn a_full_disk_stops_writes_with_an_error_and_keeps_acknowledged_messages() {
    let dir = tempfile::tempdir().unwrap();
    let options = FileStoreOptions {
        block_size_max_bytes: 256,
        sync: SyncPolicy::Always,
        ..FileStoreOptions::default()
    };
    run(async {
        let store = open_file_store(dir.path(), options.clone()).await;
        store.store_msg(message("full", 0)).await.unwrap();
        let next_block = block_files(dir.path()).len() as u32 + 1;
        // The next block file is /dev/full: every write to it fails with ENOSPC.
        std::os::unix::fs::symlink("/dev/full", block_path(dir.path(), next_block)).unwrap();
        let mut acknowledged = vec![1];
        let failure = loop {
            match store
                .store_msg(message("full", acknowledged.len() as u64))
                .await
            {
                Ok(seq) => acknowledged.push(seq),
                Err(error) => break error,
            }
            assert!(acknowledged.len() < 100, "the block never rotated");
        };
        assert!(
            matches!(failure, StoreError::WritesStopped { .. }),
            "{failure}"
        );
        assert!(failure.to_string().contains("No space left"), "{failure}");
        assert!(store.write_failure().is_some());
        let again = store.store_msg(message("full", 999)).await.unwrap_err();
        assert!(matches!(again, StoreError::WritesStopped { .. }));
        assert!(store.remove_msg(1).await.is_err());
        for seq in &acknowledged {
            assert!(store.load_msg(*seq).await.unwrap().is_some());
        }
        drop(store);
        std::fs::remove_file(block_path(dir.path(), next_block)).unwrap();
        let reopened = open_file_store(dir.path(), options.clone()).await;
        for (index, seq) in acknowledged.iter().enumerate() {
            let loaded = reopened.load_msg(*seq).await.unwrap().unwrap();
            assert_eq!(loaded.payload, message("full", index as u64).payload);
        }
        let seq = reopened.store_msg(message("full", 1000)).await.unwrap();
        assert!(reopened.load_msg(seq).await.unwrap().is_some());
    });
}

#[test]
fn concurrent_writers_share_sync_rounds() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let store =
            std::rc::Rc::new(open_file_store(dir.path(), FileStoreOptions::default()).await);
        let rounds_before = store.sync_rounds();
        let mut tasks = Vec::new();
        for task in 0..64u64 {
            let store = std::rc::Rc::clone(&store);
            tasks.push(compio::runtime::spawn(async move {
                for counter in 0..10 {
                    store
                        .store_msg(writer_message(task, counter))
                        .await
                        .unwrap();
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let rounds = store.sync_rounds() - rounds_before;
        assert_eq!(store.state().msgs, 640);
        assert!(
            rounds <= 40,
            "640 concurrent appends took {rounds} sync rounds"
        );
        assert!(rounds >= 1);
    });
}

#[test]
fn interval_policy_acknowledges_before_sync_and_keeps_data_on_clean_close() {
    let dir = tempfile::tempdir().unwrap();
    let options = FileStoreOptions {
        block_size_max_bytes: 4096,
        sync: SyncPolicy::Interval(std::time::Duration::from_secs(3600)),
        ..FileStoreOptions::default()
    };
    run(async {
        let store = open_file_store(dir.path(), options.clone()).await;
        let rounds_before = store.sync_rounds();
        for tag in 0..20 {
            store.store_msg(message("lazy", tag)).await.unwrap();
        }
        assert_eq!(
            store.sync_rounds(),
            rounds_before,
            "interval policy synced per message"
        );
        assert_eq!(
            store.load_msg(20).await.unwrap().unwrap().payload,
            message("lazy", 19).payload
        );
        store.close().await.unwrap();
        let reopened = open_file_store(dir.path(), options).await;
        assert_eq!(reopened.state().msgs, 20);
    });
}

#[test]
fn a_purge_under_the_interval_policy_syncs_its_record_before_deleting_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let options = FileStoreOptions {
        block_size_max_bytes: 256,
        sync: SyncPolicy::Interval(std::time::Duration::from_secs(3600)),
        ..FileStoreOptions::default()
    };
    run(async {
        let store = open_file_store(dir.path(), options.clone()).await;
        for tag in 0..40 {
            store.store_msg(message("lazy.purge", tag)).await.unwrap();
        }
        let blocks_before = block_files(dir.path()).len();
        let rounds_before = store.sync_rounds();
        assert_eq!(store.purge(&Default::default()).await.unwrap(), 40);
        assert!(
            store.sync_rounds() > rounds_before,
            "blocks deleted before a sync"
        );
        assert!(block_files(dir.path()).len() < blocks_before);
        drop(store);
        let reopened = open_file_store(dir.path(), options).await;
        let state = reopened.state();
        assert_eq!((state.first_seq, state.last_seq, state.msgs), (41, 40, 0));
    });
}

#[test]
fn emptied_blocks_are_deleted_and_deletions_stay_deleted_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let store = open_file_store(dir.path(), small_block_options()).await;
        for tag in 0..40 {
            store.store_msg(message("reclaim", tag)).await.unwrap();
        }
        let blocks_before = block_files(dir.path()).len();
        assert!(blocks_before > 3);
        for seq in (1..=30).rev() {
            store.remove_msg(seq).await.unwrap();
        }
        let blocks_after = block_files(dir.path()).len();
        assert!(
            blocks_after < blocks_before,
            "{blocks_after} >= {blocks_before}"
        );
        drop(store);
        let reopened = open_file_store(dir.path(), small_block_options()).await;
        let state = reopened.state();
        assert_eq!((state.first_seq, state.last_seq, state.msgs), (31, 40, 10));
        reopened.validate().unwrap();
    });
}

/// Block files of this store that the process holds open right now.
fn open_block_files(dir: &Path) -> usize {
    let blocks_dir = std::fs::canonicalize(dir.join("blocks")).unwrap();
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter(|target| target.starts_with(&blocks_dir))
        .count()
}

#[test]
fn open_block_files_stay_bounded_while_reading_many_blocks() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let store = open_file_store(dir.path(), small_block_options()).await;
        for tag in 0..300 {
            store.store_msg(message("many.blocks", tag)).await.unwrap();
        }
        let blocks = block_files(dir.path()).len();
        assert!(blocks > 20, "{blocks} blocks");
        for seq in 1..=300 {
            assert!(store.load_msg(seq).await.unwrap().is_some());
        }
        // The active block plus at most `open_block_files_max` (2) sealed ones.
        let open = open_block_files(dir.path());
        assert!(open <= 3, "{open} block files open for {blocks} blocks");
        drop(store);
        let reopened = open_file_store(dir.path(), small_block_options()).await;
        for seq in (1..=300).rev() {
            assert!(reopened.load_msg(seq).await.unwrap().is_some());
        }
        let open = open_block_files(dir.path());
        assert!(open <= 3, "{open} block files open after reopen");
    });
}

#[test]
fn a_block_torn_inside_its_header_is_dropped_and_everything_before_it_kept() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let store = open_file_store(dir.path(), small_block_options()).await;
        for tag in 0..30 {
            store.store_msg(message("torn.header", tag)).await.unwrap();
        }
        drop(store);
        // A crash while creating the next block: only part of its header reached the disk.
        let next_block = block_files(dir.path()).len() as u32 + 1;
        std::fs::write(block_path(dir.path(), next_block), b"NATRIXBK\x01\x00").unwrap();
        let reopened = open_file_store(dir.path(), small_block_options()).await;
        let report = reopened.recovery_report().clone();
        assert_eq!(report.truncated_tails.len(), 1, "{report:?}");
        assert_eq!(reopened.state().msgs, 30);
        let seq = reopened
            .store_msg(message("torn.header", 30))
            .await
            .unwrap();
        assert_eq!(seq, 31);
        drop(reopened);
        let again = open_file_store(dir.path(), small_block_options()).await;
        assert!(again.recovery_report().is_clean());
        assert_eq!(again.state().msgs, 31);
    });
}

#[test]
fn a_store_whose_salt_is_lost_everywhere_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let store = open_file_store(dir.path(), small_block_options()).await;
        for tag in 0..10 {
            store.store_msg(message("salt", tag)).await.unwrap();
        }
        drop(store);
        std::fs::remove_file(dir.path().join("store.meta")).unwrap();
        for path in block_files(dir.path()) {
            let mut bytes = std::fs::read(&path).unwrap();
            bytes[0] ^= 0xFF;
            std::fs::write(&path, &bytes).unwrap();
        }
        let before: Vec<Vec<u8>> = block_files(dir.path())
            .iter()
            .map(|path| std::fs::read(path).unwrap())
            .collect();
        let error = FileStore::open(dir.path(), StoreConfig::default(), small_block_options())
            .await
            .err()
            .unwrap();
        assert!(
            matches!(error, StoreError::UnreadableStore { .. }),
            "{error}"
        );
        let after: Vec<Vec<u8>> = block_files(dir.path())
            .iter()
            .map(|path| std::fs::read(path).unwrap())
            .collect();
        assert_eq!(before, after);
    });
}

#[test]
fn a_block_from_a_newer_format_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let store = open_file_store(dir.path(), small_block_options()).await;
        store.store_msg(message("version", 1)).await.unwrap();
        drop(store);
        let path = block_path(dir.path(), 1);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[8..12].copy_from_slice(&2u32.to_le_bytes());
        let checksum = crc32c::crc32c(&bytes[..44]);
        bytes[44..48].copy_from_slice(&checksum.to_le_bytes());
        std::fs::write(&path, &bytes).unwrap();
        let error = FileStore::open(dir.path(), StoreConfig::default(), small_block_options())
            .await
            .err()
            .unwrap();
        assert!(
            matches!(error, StoreError::UnsupportedVersion { version: 2, .. }),
            "{error}"
        );
    });
}

#[test]
fn concurrent_stores_and_removals_recover_to_the_same_state() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let store = std::rc::Rc::new(open_file_store(dir.path(), small_block_options()).await);
        let tasks: Vec<_> = (0..16u64)
            .map(|task| {
                let store = std::rc::Rc::clone(&store);
                compio::runtime::spawn(async move {
                    // A fixed pseudo-random walk per task (an LCG), so failures reproduce.
                    let mut walk = task * 7919 + 1;
                    for step in 0..40u64 {
                        walk = walk.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                        let choice = (walk >> 33) % 10;
                        let subject = format!("mixed.{}", (walk >> 40) % 5);
                        let last = store.state().last_seq;
                        match choice {
                            0..=5 => {
                                store
                                    .store_msg(message(&subject, task * 1000 + step))
                                    .await
                                    .unwrap();
                            }
                            6 | 7 => {
                                store
                                    .remove_msg(last.saturating_sub((walk >> 20) % 8))
                                    .await
                                    .unwrap();
                            }
                            8 => {
                                let request = natrix_storage::PurgeRequest {
                                    subject: Some(subject),
                                    keep: Some(30),
                                    ..Default::default()
                                };
                                store.purge(&request).await.unwrap();
                            }
                            _ => {
                                store.compact(last.saturating_sub(150)).await.unwrap();
                            }
                        }
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        store.validate().unwrap();
        let state = store.state();
        // Enough of everything happened for the comparison to mean something.
        assert!(
            state.msgs > 20 && state.num_deleted > 0 && state.first_seq > 1,
            "{state:?}"
        );
        let mut messages = Vec::new();
        for seq in state.first_seq..=state.last_seq {
            messages.push(store.load_msg(seq).await.unwrap());
        }
        drop(store);
        let reopened = open_file_store(dir.path(), small_block_options()).await;
        assert!(reopened.recovery_report().is_clean());
        reopened.validate().unwrap();
        assert_eq!(reopened.state(), state);
        for (index, expected) in messages.iter().enumerate() {
            let seq = state.first_seq + index as u64;
            assert_eq!(
                &reopened.load_msg(seq).await.unwrap(),
                expected,
                "seq {seq}"
            );
        }
    });
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().len()
}

#[test]
fn appends_write_zeros_ahead_of_the_records_and_a_clean_close_cuts_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = block_path(dir.path(), 1);
    run(async {
        let store = open_file_store(dir.path(), FileStoreOptions::default()).await;
        store.store_msg(message("ahead", 1)).await.unwrap();
        let padded = file_len(&path);
        assert!(padded >= 64 * 1024, "block file is {padded} bytes");
        let bytes = std::fs::read(&path).unwrap();
        let data_end = bytes.iter().rposition(|byte| *byte != 0).unwrap() + 1;
        assert!(data_end < 200, "records end at {data_end}");
        // Many more appends fit in the zeros: the file does not grow with each round.
        for tag in 2..=100 {
            store.store_msg(message("ahead", tag)).await.unwrap();
        }
        assert_eq!(file_len(&path), padded);
        store.close().await.unwrap();
    });
    let closed_len = file_len(&path);
    let bytes = std::fs::read(&path).unwrap();
    assert_ne!(bytes.last(), Some(&0), "the zeros outlived the close");
    assert!(closed_len < 64 * 1024);
    run(async {
        let reopened = open_file_store(dir.path(), FileStoreOptions::default()).await;
        let report = reopened.recovery_report().clone();
        assert!(report.index_used && report.is_clean(), "{report:?}");
        assert_eq!(reopened.state().msgs, 100);
    });
}

#[test]
fn zeros_ahead_of_the_records_after_a_crash_are_not_reported_as_damage() {
    let dir = tempfile::tempdir().unwrap();
    let path = block_path(dir.path(), 1);
    run(async {
        let store = open_file_store(dir.path(), FileStoreOptions::default()).await;
        for tag in 1..=10 {
            store.store_msg(message("crashed", tag)).await.unwrap();
        }
        // Dropped without close, as after a crash: the zeros stay.
        drop(store);
    });
    assert!(file_len(&path) >= 64 * 1024);
    run(async {
        let reopened = open_file_store(dir.path(), FileStoreOptions::default()).await;
        let report = reopened.recovery_report().clone();
        assert!(!report.index_used && report.is_clean(), "{report:?}");
        assert_eq!(reopened.state().msgs, 10);
        assert!(file_len(&path) < 64 * 1024, "recovery keeps the zeros");
        let seq = reopened.store_msg(message("crashed", 11)).await.unwrap();
        assert_eq!(seq, 11);
        drop(reopened);
        let again = open_file_store(dir.path(), FileStoreOptions::default()).await;
        assert!(again.recovery_report().is_clean());
        assert_eq!(
            again.load_msg(11).await.unwrap().unwrap().payload,
            message("crashed", 11).payload
        );
    });
}

#[test]
fn a_last_block_that_is_only_zeros_is_dropped_quietly() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let store = open_file_store(dir.path(), small_block_options()).await;
        for tag in 0..30 {
            store.store_msg(message("zero.block", tag)).await.unwrap();
        }
        drop(store);
        // A crash after the new block's size reached the disk and before its header did.
        let next_block = block_files(dir.path()).len() as u32 + 1;
        std::fs::write(block_path(dir.path(), next_block), vec![0u8; 4096]).unwrap();
        let reopened = open_file_store(dir.path(), small_block_options()).await;
        let report = reopened.recovery_report().clone();
        assert!(report.is_clean(), "{report:?}");
        assert_eq!(reopened.state().msgs, 30);
        assert!(!block_path(dir.path(), next_block).exists());
    });
}

#[test]
fn preallocated_block_files_never_grow_past_the_block_size_limit() {
    let dir = tempfile::tempdir().unwrap();
    let limit = 200 * 1024;
    let options = FileStoreOptions {
        block_size_max_bytes: limit,
        ..FileStoreOptions::default()
    };
    run(async {
        let store = open_file_store(dir.path(), options.clone()).await;
        let mut big = message("limit", 0);
        big.payload = Bytes::from(vec![b'p'; 3000]);
        for _ in 0..300 {
            store.store_msg(big.clone()).await.unwrap();
        }
        let files = block_files(dir.path());
        assert!(files.len() >= 4, "{} blocks", files.len());
        for file in &files {
            assert!(
                file_len(file) < limit + 3100,
                "{file:?}: {}",
                file_len(file)
            );
        }
        // Sealed blocks end with their last record: the one crossing the limit.
        for file in &files[..files.len() - 1] {
            assert!(file_len(file) >= limit, "{file:?}: {}", file_len(file));
            assert_ne!(std::fs::read(file).unwrap().last(), Some(&0));
        }
        drop(store);
        let reopened = open_file_store(dir.path(), options).await;
        assert!(reopened.recovery_report().is_clean());
        assert_eq!(reopened.state().msgs, 300);
        reopened.validate().unwrap();
    });
}
