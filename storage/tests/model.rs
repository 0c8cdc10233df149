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
        open_block_files_max: 2,
        preallocate: true,
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

/// A deliberately naive stream: a sorted map and linear scans, written from the Go server's
/// documented behavior without the catalog's indexes, to check the semantics the two stores
/// share.
#[derive(Debug, Default)]
struct NaiveStream {
    /// seq -> (subject, size, timestamp, expires at or 0, payload length).
    messages: std::collections::BTreeMap<u64, (String, u64, i64, i64, usize)>,
    last_seq: u64,
    last_timestamp_ns: i64,
    config: StoreConfig,
}

impl NaiveStream {
    fn bytes(&self) -> u64 {
        self.messages.values().map(|message| message.1).sum()
    }

    fn count_subject(&self, subject: &str) -> u64 {
        self.messages
            .values()
            .filter(|message| message.0 == subject)
            .count() as u64
    }

    fn oldest_of_subject(&self, subject: &str) -> Option<u64> {
        self.messages
            .iter()
            .find(|(_, message)| message.0 == subject)
            .map(|(seq, _)| *seq)
    }

    fn matching(&self, filter: &str) -> Vec<u64> {
        self.messages
            .iter()
            .filter(|(_, message)| {
                natrix_storage::subject::filter_matches(filter.as_bytes(), message.0.as_bytes())
            })
            .map(|(seq, _)| *seq)
            .collect()
    }

    fn enforce(&mut self, only_subject: Option<&str>) {
        let per_subject = self.config.max_msgs_per_subject;
        if per_subject > 0 {
            let subjects: Vec<String> = match only_subject {
                Some(subject) => vec![subject.to_owned()],
                None => self
                    .messages
                    .values()
                    .map(|message| message.0.clone())
                    .collect(),
            };
            for subject in subjects {
                while self.count_subject(&subject) > per_subject {
                    let oldest = self.oldest_of_subject(&subject).unwrap();
                    self.messages.remove(&oldest);
                }
            }
        }
        if self.config.discard == DiscardPolicy::Old {
            loop {
                let over_msgs =
                    self.config.max_msgs > 0 && self.messages.len() as u64 > self.config.max_msgs;
                let over_bytes = self.config.max_bytes > 0 && self.bytes() > self.config.max_bytes;
                if !over_msgs && !over_bytes {
                    break;
                }
                self.messages.pop_first();
            }
        }
    }

    fn apply(&mut self, operation: &Operation, now: i64) -> String {
        let last = self.last_seq;
        match operation {
            Operation::Store {
                subject,
                payload_len,
                ttl,
            } => {
                let subject = SUBJECTS[*subject];
                let headers_len = if payload_len % 3 == 0 { 12 } else { 0 };
                let raw = (subject.len() + headers_len + payload_len) as u64;
                let size = raw + 16;
                let config = &self.config;
                if config.max_msg_size > 0 && raw > config.max_msg_size {
                    return format!(
                        "error: message size {raw} exceeds maximum allowed {}",
                        config.max_msg_size
                    );
                }
                if config.discard == DiscardPolicy::New {
                    let at_limit = config.max_msgs_per_subject > 0
                        && self.count_subject(subject) >= config.max_msgs_per_subject;
                    if at_limit && config.discard_new_per_subject {
                        return "error: maximum messages per subject exceeded".into();
                    }
                    if config.max_msgs > 0
                        && self.messages.len() as u64 >= config.max_msgs
                        && !at_limit
                    {
                        return "error: maximum messages exceeded".into();
                    }
                    if config.max_bytes > 0 && self.bytes() + size > config.max_bytes {
                        let freed = if at_limit {
                            self.oldest_of_subject(subject)
                                .map_or(0, |seq| self.messages[&seq].1)
                        } else {
                            0
                        };
                        if freed < size {
                            return "error: maximum bytes exceeded".into();
                        }
                    }
                }
                let seq = last + 1;
                let expires_at = ttl.map_or(0, |ttl| now + ttl as i64);
                self.messages.insert(
                    seq,
                    (subject.to_owned(), size, now, expires_at, *payload_len),
                );
                self.last_seq = seq;
                self.last_timestamp_ns = now;
                self.enforce(Some(subject));
                seq.to_string()
            }
            Operation::Remove { seq_offset } => {
                let seq = (last + 2).saturating_sub(*seq_offset);
                self.messages.remove(&seq).is_some().to_string()
            }
            Operation::Purge {
                subject,
                before_offset,
                keep,
            } => {
                let filter = subject.map_or("", |index| FILTERS[index]);
                let before = before_offset
                    .map(|offset| (last + 1).saturating_sub(offset))
                    .filter(|seq| *seq > 0);
                let keep = keep.unwrap_or(0);
                if before == Some(1) {
                    return "0".into();
                }
                if filter.is_empty() || filter == ">" {
                    if before.is_none() && keep == 0 {
                        let purged = self.messages.len();
                        self.messages.clear();
                        return purged.to_string();
                    }
                    if let Some(floor) = before {
                        return self.compact(floor).to_string();
                    }
                }
                let matching = self.matching(filter);
                let total = matching.len() as u64;
                if keep > 0 && keep >= total {
                    return "0".into();
                }
                let limit = if keep > 0 { total - keep } else { total };
                let mut purged = 0;
                for seq in matching {
                    if purged >= limit || before.is_some_and(|before| seq >= before) {
                        break;
                    }
                    self.messages.remove(&seq);
                    purged += 1;
                }
                purged.to_string()
            }
            Operation::Compact { seq_offset } => self
                .compact((last + 3).saturating_sub(*seq_offset))
                .to_string(),
            Operation::Truncate { seq_back } => {
                let seq = last.saturating_sub(*seq_back);
                if seq < last {
                    self.last_timestamp_ns = match self.messages.get(&seq) {
                        Some(message) => message.2,
                        None if seq == 0 => 0,
                        None => self.last_timestamp_ns,
                    };
                    self.messages.retain(|kept, _| *kept <= seq);
                    self.last_seq = seq;
                }
                String::new()
            }
            Operation::Expire { back } => {
                let now = now - back;
                let before = self.messages.len();
                if let Some(max_age) = self.config.max_age {
                    let oldest_allowed = now - max_age.as_nanos() as i64;
                    while self
                        .messages
                        .first_key_value()
                        .is_some_and(|(_, message)| message.2 <= oldest_allowed)
                    {
                        self.messages.pop_first();
                    }
                }
                self.messages
                    .retain(|_, message| message.3 == 0 || message.3 > now);
                (before - self.messages.len()).to_string()
            }
            Operation::Limits {
                max_msgs,
                max_bytes,
                per_subject,
                discard_new,
            } => {
                self.config = StoreConfig {
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
                };
                self.enforce(None);
                String::new()
            }
            Operation::Consumer { .. } | Operation::Reopen { .. } => String::new(),
        }
    }

    fn compact(&mut self, floor: u64) -> u64 {
        let floor = if floor == 0 { self.last_seq + 1 } else { floor };
        let first = self
            .messages
            .keys()
            .next()
            .copied()
            .unwrap_or(self.last_seq + 1);
        if first >= floor {
            return 0;
        }
        let before = self.messages.len();
        self.messages.retain(|seq, _| *seq >= floor);
        if floor > self.last_seq + 1 {
            self.last_seq = floor - 1;
        }
        (before - self.messages.len()) as u64
    }

    async fn assert_agrees(&self, store: &MemStore, step: usize) {
        let state = store.state();
        let first = self
            .messages
            .keys()
            .next()
            .copied()
            .unwrap_or(self.last_seq + 1);
        assert_eq!(
            state.msgs,
            self.messages.len() as u64,
            "msgs at step {step}"
        );
        assert_eq!(state.first_seq, first, "first_seq at step {step}");
        assert_eq!(state.last_seq, self.last_seq, "last_seq at step {step}");
        assert_eq!(
            state.last_timestamp_ns, self.last_timestamp_ns,
            "last time at step {step}"
        );
        assert_eq!(state.bytes, self.bytes(), "bytes at step {step}");
        assert_eq!(
            state.num_deleted,
            self.last_seq + 1 - first - self.messages.len() as u64
        );
        for filter in FILTERS {
            for start in [0, first + 1, (first + self.last_seq) / 2, self.last_seq] {
                let matching: Vec<u64> = self
                    .matching(filter)
                    .into_iter()
                    .filter(|seq| *seq >= start)
                    .collect();
                let simple = store.filtered_state(filter, start);
                let context = format!("{filter} from {start} at step {step}");
                assert_eq!(simple.msgs, matching.len() as u64, "{context}");
                assert_eq!(
                    simple.first,
                    matching.first().copied().unwrap_or(0),
                    "{context}"
                );
                assert_eq!(
                    simple.last,
                    matching.last().copied().unwrap_or(0),
                    "{context}"
                );
                let next = store.load_next_msg(filter, start).await.unwrap();
                assert_eq!(
                    next.map(|message| message.seq),
                    matching.first().copied(),
                    "{context}"
                );
            }
        }
        for subject in SUBJECTS {
            let expected = self.matching(subject).last().copied();
            let actual = store
                .load_last_msg(subject)
                .await
                .unwrap()
                .map(|message| message.seq);
            assert_eq!(actual, expected, "last of {subject} at step {step}");
        }
        for (seq, message) in &self.messages {
            let loaded = store.load_msg(*seq).await.unwrap().unwrap();
            assert_eq!(
                (loaded.subject.as_str(), loaded.payload.len()),
                (message.0.as_str(), message.4)
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn memory_store_agrees_with_a_naive_model(
        operations in proptest::collection::vec(operation(), 1..60)
    ) {
        run(async {
            let store = MemStore::default();
            let mut naive = NaiveStream::default();
            for (step, operation) in operations.iter().enumerate() {
                let now = 1_000 + step as i64 * 7;
                let expected = naive.apply(operation, now);
                let actual = apply(&store, operation, now).await;
                if !matches!(operation, Operation::Consumer { .. }) {
                    assert_eq!(actual, expected, "step {step}: {operation:?}");
                }
                store.validate().unwrap();
                naive.assert_agrees(&store, step).await;
            }
        });
    }
}
