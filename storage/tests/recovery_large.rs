//! Restart time with a large store: a million small messages (and, separately, 20,000 of
//! 16 KiB) are written, then the store is opened twice, once after a crash (no index: every
//! block is scanned and checksummed) and once after a clean close (from the index). Ignored by
//! default because they write 125 MB and 320 MB; run with
//! `cargo test --release -p natrix-storage --test recovery_large -- --ignored --nocapture
//! --test-threads=1`.
#![allow(clippy::unwrap_used)]

mod common;

use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::run;
use natrix_storage::{FileStore, FileStoreOptions, NewMessage, StoreConfig, StreamStore};

const MESSAGES: u64 = 1_000_000;

/// Resident memory of this process in KiB, from `/proc/self/status`.
fn resident_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}
const WRITERS: u64 = 64;

#[test]
#[ignore = "writes 320 MB; run explicitly to measure recovery time"]
fn recovery_of_large_payloads_is_timed() {
    const LARGE_MESSAGES: u64 = 20_000;
    const PAYLOAD_LEN: usize = 16 * 1024;
    let dir = tempfile::tempdir().unwrap();
    let options = FileStoreOptions::default();
    run(async {
        let store = Rc::new(
            FileStore::open(dir.path(), StoreConfig::default(), options.clone())
                .await
                .unwrap(),
        );
        let started = Instant::now();
        let tasks: Vec<_> = (0..WRITERS)
            .map(|writer| {
                let store = Rc::clone(&store);
                compio::runtime::spawn(async move {
                    let payload = Bytes::from(vec![b'y'; PAYLOAD_LEN]);
                    for index in 0..LARGE_MESSAGES / WRITERS {
                        let message = NewMessage {
                            subject: format!("objects.{writer}"),
                            headers: Bytes::new(),
                            payload: payload.clone(),
                            timestamp_ns: index as i64,
                            ttl: None,
                        };
                        store.store_msg(message).await.unwrap();
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let stored = store.state().msgs;
        println!(
            "wrote {stored} messages of 16 KiB with fdatasync per ack, {WRITERS} writers: {:?}",
            started.elapsed()
        );
        drop(store);
        compio::time::sleep(Duration::from_millis(100)).await;
        let started = Instant::now();
        let scanned = FileStore::open(dir.path(), StoreConfig::default(), options.clone())
            .await
            .unwrap();
        let report = scanned.recovery_report().clone();
        println!(
            "open after crash (scan): {:?}, {} blocks, {} MB checksummed",
            started.elapsed(),
            report.blocks_scanned,
            report.bytes_scanned / 1_000_000
        );
        assert_eq!(scanned.state().msgs, stored);
        scanned.close().await.unwrap();
        let started = Instant::now();
        let indexed = FileStore::open(dir.path(), StoreConfig::default(), options)
            .await
            .unwrap();
        println!("open after clean close (index): {:?}", started.elapsed());
        assert!(indexed.recovery_report().index_used);
        assert_eq!(indexed.state().msgs, stored);
    });
}

#[test]
#[ignore = "writes a million messages; run explicitly to measure recovery time"]
fn recovery_of_a_million_messages_is_timed() {
    let resident_at_start = resident_kib();
    let dir = tempfile::tempdir().unwrap();
    let options = FileStoreOptions::default();
    run(async {
        let store = Rc::new(
            FileStore::open(dir.path(), StoreConfig::default(), options.clone())
                .await
                .unwrap(),
        );
        let started = Instant::now();
        let tasks: Vec<_> = (0..WRITERS)
            .map(|writer| {
                let store = Rc::clone(&store);
                compio::runtime::spawn(async move {
                    let payload = Bytes::from(vec![b'x'; 64]);
                    for index in 0..MESSAGES / WRITERS {
                        let message = NewMessage {
                            subject: format!("orders.{}", (writer * 7 + index) % 1000),
                            headers: Bytes::new(),
                            payload: payload.clone(),
                            timestamp_ns: index as i64,
                            ttl: None,
                        };
                        store.store_msg(message).await.unwrap();
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let written_in = started.elapsed();
        println!(
            "wrote {MESSAGES} messages of 64 B with fdatasync per ack, {WRITERS} writers: {written_in:?} ({:.0} msg/s, {} sync rounds)",
            MESSAGES as f64 / written_in.as_secs_f64(),
            store.sync_rounds()
        );
        // Drop without close: what a crash leaves behind (acknowledged data is durable).
        drop(store);
        compio::time::sleep(Duration::from_millis(100)).await;

        let started = Instant::now();
        let scanned = FileStore::open(dir.path(), StoreConfig::default(), options.clone())
            .await
            .unwrap();
        let scan_time = started.elapsed();
        let report = scanned.recovery_report().clone();
        assert_eq!(scanned.state().msgs, MESSAGES);
        assert!(report.is_clean() && !report.index_used);
        println!(
            "open after crash (scan): {scan_time:?}, {} blocks, {} MB checksummed, {} records",
            report.blocks_scanned,
            report.bytes_scanned / 1_000_000,
            report.records_replayed
        );
        // The writing store's memory was freed and reused by this one, so growth since the
        // start of the test is an upper bound of what one catalog of a million messages takes.
        let resident_growth = resident_kib().saturating_sub(resident_at_start);
        println!(
            "resident memory {} MiB above the test's start, at most {} bytes per kept message",
            resident_growth / 1024,
            resident_growth * 1024 / MESSAGES
        );
        scanned.close().await.unwrap();

        let started = Instant::now();
        let indexed = FileStore::open(dir.path(), StoreConfig::default(), options)
            .await
            .unwrap();
        let index_time = started.elapsed();
        assert!(indexed.recovery_report().index_used);
        assert_eq!(indexed.state().msgs, MESSAGES);
        println!("open after clean close (index): {index_time:?}");
    });
}
