//! Property tests: random operation sequences drive `MemStore` (the model) and `FileStore`
//! side by side, with the file store reopened at random points, and every observable answer
//! must agree after every step.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::run;
use natrix_storage::{
    ConsumerState, DiscardPolicy, FileStore, FileStoreOptions, MemStore, NewMessage, PurgeRequest,
    SequencePair, StoreConfig, StreamStore, SyncPolicy,
};
use proptest::prelude::*;

const SUBJECTS: [&str; 4] = ["a.x", "a.y", "b.x", "c"];
const FILTERS: [&str; 6] = [">", "a.*", "*.x", "c", "a.>", "b.x"];

#[derive(Debug, Clone)]
enum Operation {
    Store {
        subject: usize,
        payload_len: usize,
        ttl: Option<u64>,
    },
    Remove {
        seq_offset: u64,
    },
    Purge {
        subject: Option<usize>,
        before_offset: Option<u64>,
        keep: Option<u64>,
    },
    Compact {
        seq_offset: u64,
    },
    Truncate {
        seq_back: u64,
    },
    Expire {
        back: i64,
    },
    Limits {
        max_msgs: u64,
        max_bytes: u64,
        per_subject: u64,
        discard_new: bool,
    },
    Consumer {
        name: usize,
        delivered: u64,
    },
    Reopen {
        clean: bool,
    },
}

fn operation() -> impl Strategy<Value = Operation> {
    prop_oneof![
        10 => (0..SUBJECTS.len(), 0..48usize, proptest::option::weighted(0.2, 1..20u64))
            .prop_map(|(subject, payload_len, ttl)| Operation::Store { subject, payload_len, ttl }),
        2 => (0..12u64).prop_map(|seq_offset| Operation::Remove { seq_offset }),
        1 => (
            proptest::option::of(0..FILTERS.len()),
            proptest::option::of(0..12u64),
            proptest::option::of(0..4u64)
        )
            .prop_map(|(subject, before_offset, keep)| Operation::Purge { subject, before_offset, keep }),
        1 => (0..14u64).prop_map(|seq_offset| Operation::Compact { seq_offset }),
        1 => (0..5u64).prop_map(|seq_back| Operation::Truncate { seq_back }),
        1 => (0..40i64).prop_map(|back| Operation::Expire { back }),
        1 => (0..6u64, prop_oneof![Just(0u64), 60..400u64], 0..3u64, any::<bool>())
            .prop_map(|(max_msgs, max_bytes, per_subject, discard_new)| Operation::Limits {
                max_msgs, max_bytes, per_subject, discard_new
            }),
        1 => (0..3usize, 0..100u64).prop_map(|(name, delivered)| Operation::Consumer { name, delivered }),
        2 => any::<bool>().prop_map(|clean| Operation::Reopen { clean }),
    ]
}

fn file_options(lazy: bool) -> FileStoreOptions {
    FileStoreOptions {
        block_size_max_bytes: 400,
        // Under the interval policy nothing is synced during a case, but the data written to
        // the kernel must still read back identically after a reopen.
        sync: if lazy {
            SyncPolicy::Interval(Duration::from_secs(3600))
        } else {
            SyncPolicy::Always
        },
    }
}

async fn assert_same(model: &MemStore, file: &FileStore, step: usize) {
    model.validate().unwrap();
    file.validate().unwrap();
    let state = model.state();
    assert_eq!(state, file.state(), "state after step {step}");
    for seq in state.first_seq.saturating_sub(1)..=state.last_seq + 1 {
        assert_eq!(
            model.load_msg(seq).await.unwrap(),
            file.load_msg(seq).await.unwrap(),
            "seq {seq} after step {step}"
        );
    }
    for filter in FILTERS {
        assert_eq!(
            model.load_last_msg(filter).await.unwrap(),
            file.load_last_msg(filter).await.unwrap()
        );
        let start = state.first_seq + 1;
        assert_eq!(
            model.filtered_state(filter, start),
            file.filtered_state(filter, start)
        );
        assert_eq!(
            model.load_next_msg(filter, start).await.unwrap(),
            file.load_next_msg(filter, start).await.unwrap()
        );
        assert_eq!(model.subjects_state(filter), file.subjects_state(filter));
    }
    assert_eq!(model.consumer_names(), file.consumer_names());
    for name in model.consumer_names() {
        assert_eq!(model.consumer_state(&name), file.consumer_state(&name));
    }
}

async fn apply<S: StreamStore>(store: &S, operation: &Operation, now: i64) -> String {
    let last = store.state().last_seq;
    let outcome = match operation {
        Operation::Store {
            subject,
            payload_len,
            ttl,
        } => store
            .store_msg(NewMessage {
                subject: SUBJECTS[*subject].to_owned(),
                headers: if payload_len % 3 == 0 {
                    Bytes::from_static(b"NATS/1.0\r\n\r\n")
                } else {
                    Bytes::new()
                },
                payload: Bytes::from(vec![b'p'; *payload_len]),
                timestamp_ns: now,
                ttl: ttl.map(Duration::from_nanos),
            })
            .await
            .map(|seq| seq.to_string()),
        Operation::Remove { seq_offset } => store
            .remove_msg((last + 2).saturating_sub(*seq_offset))
            .await
            .map(|removed| removed.to_string()),
        Operation::Purge {
            subject,
            before_offset,
            keep,
        } => store
            .purge(&PurgeRequest {
                subject: subject.map(|index| FILTERS[index].to_owned()),
                before_seq: before_offset.map(|offset| (last + 1).saturating_sub(offset)),
                keep: *keep,
            })
            .await
            .map(|purged| purged.to_string()),
        Operation::Compact { seq_offset } => store
            .compact((last + 3).saturating_sub(*seq_offset))
            .await
            .map(|purged| purged.to_string()),
        Operation::Truncate { seq_back } => store
            .truncate(last.saturating_sub(*seq_back))
            .await
            .map(|()| String::new()),
        Operation::Expire { back } => store
            .expire(now - back)
            .await
            .map(|expired| expired.to_string()),
        Operation::Limits {
            max_msgs,
            max_bytes,
            per_subject,
            discard_new,
        } => store
            .update_config(StoreConfig {
                max_msgs: *max_msgs,
                max_bytes: *max_bytes,
                max_msgs_per_subject: *per_subject,
                max_age: Some(Duration::from_nanos(30)),
                discard: if *discard_new {
                    DiscardPolicy::New
                } else {
                    DiscardPolicy::Old
                },
                ..StoreConfig::default()
            })
            .await
            .map(|()| String::new()),
        Operation::Consumer { name, delivered } => store
            .update_consumer_state(
                &format!("consumer-{name}"),
                &ConsumerState {
                    delivered: SequencePair {
                        consumer_seq: *delivered,
                        stream_seq: *delivered + 1,
                    },
                    ..ConsumerState::default()
                },
            )
            .await
            .map(|()| String::new()),
        Operation::Reopen { .. } => Ok(String::new()),
    };
    match outcome {
        Ok(text) => text,
        Err(error) => format!("error: {error}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    #[test]
    fn file_store_agrees_with_memory_store_through_reopens(
        operations in proptest::collection::vec(operation(), 1..40),
        lazy in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        run(async {
            let model = MemStore::default();
            let mut file = FileStore::open(dir.path(), StoreConfig::default(), file_options(lazy))
                .await
                .unwrap();
            for (step, operation) in operations.iter().enumerate() {
                let now = 1_000 + step as i64 * 7;
                if let Operation::Reopen { clean } = operation {
                    let config = file.config();
                    if *clean {
                        file.close().await.unwrap();
                    } else {
                        drop(file);
                    }
                    file = FileStore::open(dir.path(), config, file_options(lazy)).await.unwrap();
                    assert!(file.recovery_report().is_clean(), "{:?}", file.recovery_report());
                } else {
                    let expected = apply(&model, operation, now).await;
                    let actual = apply(&file, operation, now).await;
                    assert_eq!(expected, actual, "step {step}: {operation:?}");
                }
                assert_same(&model, &file, step).await;
            }
        });
    }
}
