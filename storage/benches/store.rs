//! Criterion micro-benchmarks of the stores: appends with an fdatasync per acknowledged write
//! (one writer, and 1/16/256 concurrent writers sharing syncs through group commit), appends
//! under the interval policy, loads by sequence and last-by-subject.
//!
//! Run: `cargo bench -p natrix-storage --bench store`. The block files go to the system temp
//! directory; set `TMPDIR` to measure another disk.
#![allow(clippy::unwrap_used)]

use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use natrix_storage::{
    FileStore, FileStoreOptions, MemStore, NewMessage, StoreConfig, StreamStore, SyncPolicy,
};

fn runtime() -> compio::runtime::Runtime {
    compio::runtime::Runtime::new().unwrap()
}

fn new_message(subject: &str, payload: &Bytes) -> NewMessage {
    NewMessage {
        subject: subject.to_owned(),
        headers: Bytes::new(),
        payload: payload.clone(),
        timestamp_ns: 0,
        ttl: None,
    }
}

async fn open_store(dir: &std::path::Path, sync: SyncPolicy) -> FileStore {
    let options = FileStoreOptions {
        block_size_max_bytes: 64 * 1024 * 1024,
        sync,
        ..FileStoreOptions::default()
    };
    FileStore::open(dir, StoreConfig::default(), options)
        .await
        .unwrap()
}

/// One writer, one fdatasync per message: the latency floor of a durable PubAck.
fn append_single_writer_fsync(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("append_fsync_1_writer");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(4));
    let runtime = runtime();
    for payload_len in [16usize, 1024, 16 * 1024, 64 * 1024] {
        let dir = tempfile::tempdir().unwrap();
        let store = runtime.block_on(open_store(dir.path(), SyncPolicy::Always));
        let payload = Bytes::from(vec![7u8; payload_len]);
        group.throughput(Throughput::Bytes(payload_len as u64));
        group.bench_function(
            BenchmarkId::from_parameter(format!("{payload_len}B")),
            |bencher| {
                bencher.iter_custom(|iterations| {
                    runtime.block_on(async {
                        let started = Instant::now();
                        for _ in 0..iterations {
                            store
                                .store_msg(new_message("bench.sync", &payload))
                                .await
                                .unwrap();
                        }
                        started.elapsed()
                    })
                })
            },
        );
        runtime.block_on(store.close()).unwrap();
    }
    group.finish();
}

/// Many concurrent writers on one store, every acknowledgement after fdatasync: group commit.
/// One iteration is every writer storing `MESSAGES_PER_WRITER` messages; throughput is in
/// messages.
fn append_concurrent_writers_fsync(criterion: &mut Criterion) {
    const MESSAGES_PER_WRITER: u64 = 8;
    let mut group = criterion.benchmark_group("append_fsync_concurrent");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    let runtime = runtime();
    for payload_len in [16usize, 1024] {
        for writers in [1u64, 16, 256] {
            let dir = tempfile::tempdir().unwrap();
            let store = Rc::new(runtime.block_on(open_store(dir.path(), SyncPolicy::Always)));
            let payload = Bytes::from(vec![7u8; payload_len]);
            group.throughput(Throughput::Elements(writers * MESSAGES_PER_WRITER));
            let id = BenchmarkId::new(format!("{payload_len}B"), format!("{writers}_writers"));
            group.bench_function(id, |bencher| {
                bencher.iter_custom(|iterations| {
                    runtime.block_on(async {
                        let started = Instant::now();
                        for _ in 0..iterations {
                            let tasks: Vec<_> = (0..writers)
                                .map(|writer| {
                                    let store = Rc::clone(&store);
                                    let payload = payload.clone();
                                    compio::runtime::spawn(async move {
                                        let subject = format!("bench.{writer}");
                                        for _ in 0..MESSAGES_PER_WRITER {
                                            let message = new_message(&subject, &payload);
                                            store.store_msg(message).await.unwrap();
                                        }
                                    })
                                })
                                .collect();
                            for task in tasks {
                                task.await.unwrap();
                            }
                        }
                        started.elapsed()
                    })
                })
            });
            let store = Rc::try_unwrap(store).ok().unwrap();
            runtime.block_on(store.close()).unwrap();
        }
    }
    group.finish();
}

/// One writer under the lazy interval policy (the Go server's default), for comparison.
fn append_single_writer_interval(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("append_interval_1_writer");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(3));
    let runtime = runtime();
    for payload_len in [16usize, 1024, 64 * 1024] {
        let dir = tempfile::tempdir().unwrap();
        let store = runtime.block_on(open_store(
            dir.path(),
            SyncPolicy::Interval(Duration::from_secs(1)),
        ));
        let payload = Bytes::from(vec![7u8; payload_len]);
        group.throughput(Throughput::Bytes(payload_len as u64));
        group.bench_function(
            BenchmarkId::from_parameter(format!("{payload_len}B")),
            |bencher| {
                bencher.iter_custom(|iterations| {
                    runtime.block_on(async {
                        let started = Instant::now();
                        for _ in 0..iterations {
                            store
                                .store_msg(new_message("bench.lazy", &payload))
                                .await
                                .unwrap();
                        }
                        started.elapsed()
                    })
                })
            },
        );
        runtime.block_on(store.close()).unwrap();
    }
    group.finish();
}

const LOAD_MESSAGES: u64 = 100_000;
const LOAD_SUBJECTS: u64 = 1_000;

async fn fill<S: StreamStore>(store: &S) {
    let payload = Bytes::from(vec![1u8; 128]);
    for index in 0..LOAD_MESSAGES {
        let subject = format!("kv.{}", index % LOAD_SUBJECTS);
        store
            .store_msg(new_message(&subject, &payload))
            .await
            .unwrap();
    }
}

/// Loads by sequence and last-by-subject from 100,000 messages of 128 B over 1,000 subjects.
/// The file store reads through the page cache (the blocks were just written).
fn loads(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("load");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(3));
    let runtime = runtime();
    let dir = tempfile::tempdir().unwrap();
    let file_store = runtime.block_on(async {
        let store = open_store(dir.path(), SyncPolicy::Interval(Duration::from_secs(1))).await;
        fill(&store).await;
        store
    });
    let mem_store = MemStore::default();
    runtime.block_on(fill(&mem_store));
    // A fixed pseudo-random walk over the sequences (an LCG), the same for both stores.
    let next_seq = |state: &mut u64| {
        *state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        (*state >> 33) % LOAD_MESSAGES + 1
    };
    group.bench_function("by_seq/file", |bencher| {
        let mut walk = 1u64;
        bencher.iter_custom(|iterations| {
            runtime.block_on(async {
                let started = Instant::now();
                for _ in 0..iterations {
                    let seq = next_seq(&mut walk);
                    file_store.load_msg(seq).await.unwrap().unwrap();
                }
                started.elapsed()
            })
        })
    });
    group.bench_function("by_seq/mem", |bencher| {
        let mut walk = 1u64;
        bencher.iter_custom(|iterations| {
            runtime.block_on(async {
                let started = Instant::now();
                for _ in 0..iterations {
                    let seq = next_seq(&mut walk);
                    mem_store.load_msg(seq).await.unwrap().unwrap();
                }
                started.elapsed()
            })
        })
    });
    let subjects: Vec<String> = (0..LOAD_SUBJECTS)
        .map(|index| format!("kv.{index}"))
        .collect();
    group.bench_function("last_by_subject/file", |bencher| {
        let mut walk = 1u64;
        bencher.iter_custom(|iterations| {
            runtime.block_on(async {
                let started = Instant::now();
                for _ in 0..iterations {
                    let subject = &subjects[(next_seq(&mut walk) % LOAD_SUBJECTS) as usize];
                    file_store.load_last_msg(subject).await.unwrap().unwrap();
                }
                started.elapsed()
            })
        })
    });
    group.bench_function("last_by_subject/mem", |bencher| {
        let mut walk = 1u64;
        bencher.iter_custom(|iterations| {
            runtime.block_on(async {
                let started = Instant::now();
                for _ in 0..iterations {
                    let subject = &subjects[(next_seq(&mut walk) % LOAD_SUBJECTS) as usize];
                    mem_store.load_last_msg(subject).await.unwrap().unwrap();
                }
                started.elapsed()
            })
        })
    });
    group.finish();
    runtime.block_on(file_store.close()).unwrap();
}

criterion_group!(
    benches,
    append_single_writer_fsync,
    append_concurrent_writers_fsync,
    append_single_writer_interval,
    loads
);
criterion_main!(benches);
