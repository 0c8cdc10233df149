//! One conformance suite, run against `MemStore` and `FileStore` alike: every trait method and
//! every limit, with the Go server's semantics.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{message, run};
use natrix_storage::{
    ConsumerState, DiscardPolicy, NewMessage, PendingDelivery, PurgeRequest, SequencePair,
    SimpleState, StoreConfig, StoreError, StoredMessage, StreamStore,
};

async fn store_all<S: StreamStore>(store: &S, subjects: &[&str]) -> Vec<u64> {
    let mut seqs = Vec::new();
    for (index, subject) in subjects.iter().enumerate() {
        seqs.push(
            store
                .store_msg(message(subject, index as u64 + 1))
                .await
                .unwrap(),
        );
    }
    seqs
}

async fn kept_seqs<S: StreamStore>(store: &S) -> Vec<u64> {
    let mut seqs = Vec::new();
    let mut start = 0;
    while let Some(found) = store.load_next_msg(">", start).await.unwrap() {
        seqs.push(found.seq);
        start = found.seq + 1;
    }
    seqs
}

async fn sequences_start_at_one_and_messages_load_back<S: StreamStore>(store: S) {
    let empty = store.state();
    assert_eq!((empty.first_seq, empty.last_seq, empty.msgs), (1, 0, 0));
    let mut with_headers = message("orders.eu", 1);
    with_headers.headers = Bytes::from_static(b"NATS/1.0\r\nX: y\r\n\r\n");
    with_headers.ttl = Some(Duration::from_secs(60));
    assert_eq!(store.store_msg(with_headers.clone()).await.unwrap(), 1);
    assert_eq!(store.store_msg(message("orders.us", 2)).await.unwrap(), 2);
    let loaded = store.load_msg(1).await.unwrap().unwrap();
    assert_eq!(loaded.seq, 1);
    assert_eq!(loaded.subject, "orders.eu");
    assert_eq!(loaded.headers, with_headers.headers);
    assert_eq!(loaded.payload, with_headers.payload);
    assert_eq!(loaded.timestamp_ns, with_headers.timestamp_ns);
    assert_eq!(loaded.ttl_ns, 60_000_000_000);
    assert_eq!(store.load_msg(3).await.unwrap(), None);
    assert_eq!(store.load_msg(0).await.unwrap(), None);
    let state = store.state();
    assert_eq!((state.first_seq, state.last_seq, state.msgs), (1, 2, 2));
    assert_eq!(state.first_timestamp_ns, 1_001);
    assert_eq!(state.last_timestamp_ns, 1_002);
    assert_eq!(state.num_subjects, 2);
    let expected_bytes = (9 + with_headers.headers.len() + with_headers.payload.len() + 16)
        + (9 + "orders.us#2".len() + 16);
    assert_eq!(state.bytes, expected_bytes as u64);
}

async fn invalid_subjects_are_rejected<S: StreamStore>(store: S) {
    for subject in ["", "a..b", "a.*", "a.>", "a b"] {
        let error = store.store_msg(message(subject, 1)).await.unwrap_err();
        assert!(
            matches!(error, StoreError::InvalidSubject(_)),
            "{subject:?}"
        );
    }
    assert_eq!(store.state().last_seq, 0);
}

async fn load_next_follows_filters_and_wildcards<S: StreamStore>(store: S) {
    store_all(&store, &["a.1", "b.1", "a.2", "a.2.x", "b.2"]).await;
    let next = |filter: &'static str, start: u64| {
        let store = &store;
        async move {
            store
                .load_next_msg(filter, start)
                .await
                .unwrap()
                .map(|m| m.seq)
        }
    };
    assert_eq!(next("a.*", 1).await, Some(1));
    assert_eq!(next("a.*", 2).await, Some(3));
    assert_eq!(next("a.*", 4).await, None);
    assert_eq!(next("a.>", 4).await, Some(4));
    assert_eq!(next("b.2", 0).await, Some(5));
    assert_eq!(next(">", 5).await, Some(5));
    assert_eq!(next("", 2).await, Some(2));
    assert_eq!(next("c.*", 0).await, None);
    assert_eq!(next("*.2", 0).await, Some(3));
}

async fn load_next_msgs_reads_a_batch_as_single_loads_would<S: StreamStore>(store: S) {
    let subjects: Vec<String> = (0..300).map(|index| format!("x.{}", index % 3)).collect();
    let subjects: Vec<&str> = subjects.iter().map(String::as_str).collect();
    store_all(&store, &subjects).await;
    store.remove_msg(5).await.unwrap();
    for (filter, start, max_messages) in [
        ("", 1, 10),
        ("x.1", 3, 50),
        (">", 290, 100),
        ("x.2", 1, 1000),
    ] {
        let batch = store
            .load_next_msgs(filter, start, max_messages, usize::MAX)
            .await
            .unwrap();
        let mut single = Vec::new();
        let mut seq = start;
        while single.len() < max_messages {
            let Some(message) = store.load_next_msg(filter, seq).await.unwrap() else {
                break;
            };
            seq = message.seq + 1;
            single.push(message);
        }
        assert_eq!(batch, single, "{filter} from {start}");
    }
    // A byte bound stops the batch, but never before one message.
    let bounded = store.load_next_msgs("", 1, 100, 1).await.unwrap();
    assert_eq!(bounded.len(), 1);
    assert!(store
        .load_next_msgs("nope", 1, 10, 100)
        .await
        .unwrap()
        .is_empty());
}

async fn load_last_returns_newest_per_subject<S: StreamStore>(store: S) {
    store_all(&store, &["kv.a", "kv.b", "kv.a", "kv.c"]).await;
    let last = |filter: &'static str| {
        let store = &store;
        async move { store.load_last_msg(filter).await.unwrap().map(|m| m.seq) }
    };
    assert_eq!(last("kv.a").await, Some(3));
    assert_eq!(last("kv.b").await, Some(2));
    assert_eq!(last("kv.*").await, Some(4));
    assert_eq!(last(">").await, Some(4));
    assert_eq!(last("kv.z").await, None);
    store.remove_msg(3).await.unwrap();
    assert_eq!(last("kv.a").await, Some(1));
}

async fn filtered_and_subject_state_count_with_wildcards<S: StreamStore>(store: S) {
    store_all(&store, &["a.1", "b.1", "a.2", "a.1", "c"]).await;
    assert_eq!(
        store.filtered_state("a.*", 0),
        SimpleState {
            msgs: 3,
            first: 1,
            last: 4
        }
    );
    assert_eq!(
        store.filtered_state("a.*", 2),
        SimpleState {
            msgs: 2,
            first: 3,
            last: 4
        }
    );
    assert_eq!(
        store.filtered_state(">", 3),
        SimpleState {
            msgs: 3,
            first: 3,
            last: 5
        }
    );
    assert_eq!(store.filtered_state("z", 0), SimpleState::default());
    let subjects = store.subjects_state("a.*");
    assert_eq!(subjects.len(), 2);
    assert_eq!(
        subjects["a.1"],
        SimpleState {
            msgs: 2,
            first: 1,
            last: 4
        }
    );
    let totals = store.subjects_totals(">");
    assert_eq!(totals.len(), 4);
    assert_eq!(totals["a.1"], 2);
    assert_eq!(totals["c"], 1);
}

async fn removing_messages_updates_first_and_deleted_counts<S: StreamStore>(store: S) {
    store_all(&store, &["a", "a", "a", "a"]).await;
    assert!(store.remove_msg(2).await.unwrap());
    assert!(!store.remove_msg(2).await.unwrap());
    assert!(!store.remove_msg(99).await.unwrap());
    let state = store.state();
    assert_eq!((state.first_seq, state.msgs, state.num_deleted), (1, 3, 1));
    assert_eq!(store.deleted(10), vec![2]);
    assert_eq!(store.deleted(0), Vec::<u64>::new());
    assert!(store.remove_msg(1).await.unwrap());
    // A removed first message moves the first sequence: it is no delete.
    assert_eq!(store.deleted(10), Vec::<u64>::new());
    let state = store.state();
    assert_eq!((state.first_seq, state.msgs, state.num_deleted), (3, 2, 0));
    assert_eq!(store.load_msg(2).await.unwrap(), None);
    store.remove_msg(3).await.unwrap();
    store.remove_msg(4).await.unwrap();
    let state = store.state();
    assert_eq!((state.first_seq, state.last_seq, state.msgs), (5, 4, 0));
    assert_eq!(store.store_msg(message("a", 9)).await.unwrap(), 5);
}

async fn interior_deletes_are_listed_up_to_a_limit<S: StreamStore>(store: S) {
    store_all(&store, &["a"; 10]).await;
    for seq in [2, 3, 5, 9, 10] {
        assert!(store.remove_msg(seq).await.unwrap());
    }
    // 9 and 10 went from the end: the last sequence stays 10 and, as in the Go stores, they
    // are listed (and counted) as deleted.
    assert_eq!(store.deleted(100), vec![2, 3, 5, 9, 10]);
    assert_eq!(store.deleted(2), vec![2, 3]);
    assert_eq!(store.state().num_deleted, 5);
}

async fn purge_all_moves_first_past_last<S: StreamStore>(store: S) {
    store_all(&store, &["a", "b", "c"]).await;
    assert_eq!(store.purge(&PurgeRequest::default()).await.unwrap(), 3);
    let state = store.state();
    assert_eq!(
        (state.first_seq, state.last_seq, state.msgs, state.bytes),
        (4, 3, 0, 0)
    );
    assert_eq!(state.num_subjects, 0);
    assert_eq!(store.store_msg(message("a", 4)).await.unwrap(), 4);
}

async fn purge_by_subject_keep_and_sequence<S: StreamStore>(store: S) {
    store_all(&store, &["a", "b", "a", "a", "b", "a"]).await;
    let purged = store
        .purge(&PurgeRequest {
            subject: Some("a".into()),
            keep: Some(1),
            ..PurgeRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(purged, 3);
    assert_eq!(kept_seqs(&store).await, vec![2, 5, 6]);
    let purged = store
        .purge(&PurgeRequest {
            subject: Some("b".into()),
            before_seq: Some(5),
            ..PurgeRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(purged, 1);
    assert_eq!(kept_seqs(&store).await, vec![5, 6]);
    let purged = store
        .purge(&PurgeRequest {
            before_seq: Some(1),
            ..PurgeRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(purged, 0);
    let purged = store
        .purge(&PurgeRequest {
            subject: Some(">".into()),
            keep: Some(1),
            ..PurgeRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(purged, 1);
    assert_eq!(kept_seqs(&store).await, vec![6]);
}

async fn purge_up_to_sequence_compacts<S: StreamStore>(store: S) {
    store_all(&store, &["a", "b", "c", "d"]).await;
    let purged = store
        .purge(&PurgeRequest {
            before_seq: Some(3),
            ..PurgeRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(purged, 2);
    assert_eq!(store.state().first_seq, 3);
}

async fn compact_removes_below_and_can_move_past_the_end<S: StreamStore>(store: S) {
    store_all(&store, &["a", "b", "c", "d", "e"]).await;
    store.remove_msg(3).await.unwrap();
    assert_eq!(store.compact(3).await.unwrap(), 2);
    assert_eq!(store.state().first_seq, 4);
    assert_eq!(store.compact(2).await.unwrap(), 0);
    assert_eq!(store.compact(10).await.unwrap(), 2);
    let state = store.state();
    assert_eq!((state.first_seq, state.last_seq, state.msgs), (10, 9, 0));
    assert_eq!(store.store_msg(message("a", 1)).await.unwrap(), 10);
    assert_eq!(store.compact(0).await.unwrap(), 1);
    assert_eq!(store.state().first_seq, 11);
}

async fn truncate_removes_above_and_reuses_sequences<S: StreamStore>(store: S) {
    store_all(&store, &["a", "b", "a", "b", "a"]).await;
    store.truncate(3).await.unwrap();
    let state = store.state();
    assert_eq!((state.first_seq, state.last_seq, state.msgs), (1, 3, 3));
    assert_eq!(state.last_timestamp_ns, 1_003);
    assert_eq!(store.load_last_msg("b").await.unwrap().unwrap().seq, 2);
    store.truncate(7).await.unwrap();
    assert_eq!(store.state().last_seq, 3);
    assert_eq!(store.store_msg(message("c", 9)).await.unwrap(), 4);
    assert_eq!(store.load_msg(4).await.unwrap().unwrap().subject, "c");
    store.truncate(0).await.unwrap();
    let state = store.state();
    assert_eq!((state.first_seq, state.last_seq, state.msgs), (1, 0, 0));
}

async fn max_msgs_discard_old_removes_oldest<S: StreamStore>(store: S) {
    let limits = StoreConfig {
        max_msgs: 3,
        ..StoreConfig::default()
    };
    store.update_config(limits.clone()).await.unwrap();
    assert_eq!(store.config(), limits);
    store_all(&store, &["a", "b", "c", "d", "e"]).await;
    assert_eq!(kept_seqs(&store).await, vec![3, 4, 5]);
    assert_eq!(store.state().first_seq, 3);
}

async fn max_msgs_discard_new_rejects<S: StreamStore>(store: S) {
    store
        .update_config(StoreConfig {
            max_msgs: 2,
            discard: DiscardPolicy::New,
            ..StoreConfig::default()
        })
        .await
        .unwrap();
    store_all(&store, &["a", "b"]).await;
    let error = store.store_msg(message("c", 3)).await.unwrap_err();
    assert!(matches!(error, StoreError::MaxMessages));
    assert_eq!(kept_seqs(&store).await, vec![1, 2]);
    assert_eq!(store.state().last_seq, 2);
}

async fn max_bytes_discard_old_and_new<S: StreamStore>(store: S) {
    // Each message "s" + "s#N" (3 bytes) counts 1 + 3 + 16 = 20 bytes.
    store
        .update_config(StoreConfig {
            max_bytes: 50,
            ..StoreConfig::default()
        })
        .await
        .unwrap();
    store_all(&store, &["s", "s", "s"]).await;
    assert_eq!(store.state().bytes, 40);
    assert_eq!(kept_seqs(&store).await, vec![2, 3]);
    store
        .update_config(StoreConfig {
            max_bytes: 50,
            discard: DiscardPolicy::New,
            ..StoreConfig::default()
        })
        .await
        .unwrap();
    let error = store.store_msg(message("s", 4)).await.unwrap_err();
    assert!(matches!(error, StoreError::MaxBytes));
}

async fn max_msgs_per_subject_keeps_newest_per_subject<S: StreamStore>(store: S) {
    store
        .update_config(StoreConfig {
            max_msgs_per_subject: 2,
            ..StoreConfig::default()
        })
        .await
        .unwrap();
    store_all(&store, &["a", "b", "a", "a", "b", "b", "a"]).await;
    assert_eq!(kept_seqs(&store).await, vec![4, 5, 6, 7]);
    assert_eq!(store.subjects_totals(">")["a"], 2);
}

async fn discard_new_per_subject_rejects_at_the_subject_limit<S: StreamStore>(store: S) {
    store
        .update_config(StoreConfig {
            max_msgs_per_subject: 1,
            discard: DiscardPolicy::New,
            discard_new_per_subject: true,
            ..StoreConfig::default()
        })
        .await
        .unwrap();
    store_all(&store, &["a", "b"]).await;
    let error = store.store_msg(message("a", 3)).await.unwrap_err();
    assert!(matches!(error, StoreError::MaxMessagesPerSubject));
    store
        .update_config(StoreConfig {
            max_msgs: 2,
            max_msgs_per_subject: 1,
            discard: DiscardPolicy::New,
            ..StoreConfig::default()
        })
        .await
        .unwrap();
    // At max_msgs, a message that replaces its subject's oldest still goes in.
    assert_eq!(store.store_msg(message("a", 4)).await.unwrap(), 3);
    assert_eq!(kept_seqs(&store).await, vec![2, 3]);
}

async fn max_msg_size_rejects_larger_messages<S: StreamStore>(store: S) {
    store
        .update_config(StoreConfig {
            max_msg_size: 8,
            ..StoreConfig::default()
        })
        .await
        .unwrap();
    let error = store.store_msg(message("abc", 12345)).await.unwrap_err();
    assert!(matches!(error, StoreError::MessageTooLarge { .. }));
    store.store_msg(message("a", 1)).await.unwrap();
}

async fn tightening_limits_removes_what_they_no_longer_allow<S: StreamStore>(store: S) {
    store_all(&store, &["a", "a", "a", "b", "b"]).await;
    store
        .update_config(StoreConfig {
            max_msgs_per_subject: 1,
            ..StoreConfig::default()
        })
        .await
        .unwrap();
    assert_eq!(kept_seqs(&store).await, vec![3, 5]);
    store
        .update_config(StoreConfig {
            max_msgs: 1,
            ..StoreConfig::default()
        })
        .await
        .unwrap();
    assert_eq!(kept_seqs(&store).await, vec![5]);
}

async fn max_age_and_ttl_expire_messages<S: StreamStore>(store: S) {
    store
        .update_config(StoreConfig {
            max_age: Some(Duration::from_nanos(100)),
            ..StoreConfig::default()
        })
        .await
        .unwrap();
    let at = |subject: &str, timestamp_ns: i64, ttl: Option<Duration>| NewMessage {
        timestamp_ns,
        ttl,
        ..message(subject, 0)
    };
    store.store_msg(at("a", 1_000, None)).await.unwrap();
    store
        .store_msg(at("b", 1_050, Some(Duration::from_nanos(10))))
        .await
        .unwrap();
    store.store_msg(at("c", 1_080, None)).await.unwrap();
    assert_eq!(store.expired(1_059), Vec::<u64>::new());
    assert_eq!(store.expire(1_059).await.unwrap(), 0);
    // `expired` names what `expire` removes, and removes nothing itself.
    assert_eq!(store.expired(1_060), vec![2]);
    assert_eq!(store.expired(1_100), vec![1, 2]);
    assert_eq!(store.state().msgs, 3);
    assert_eq!(store.expire(1_060).await.unwrap(), 1);
    assert_eq!(kept_seqs(&store).await, vec![1, 3]);
    assert_eq!(store.expired(1_100), vec![1]);
    assert_eq!(store.expire(1_100).await.unwrap(), 1);
    assert_eq!(kept_seqs(&store).await, vec![3]);
    assert_eq!(store.expire(1_180).await.unwrap(), 1);
    let state = store.state();
    assert_eq!((state.first_seq, state.msgs), (4, 0));
}

async fn consumer_state_is_saved_replaced_and_removed<S: StreamStore>(store: S) {
    let mut state = ConsumerState {
        delivered: SequencePair {
            consumer_seq: 3,
            stream_seq: 10,
        },
        ack_floor: SequencePair {
            consumer_seq: 1,
            stream_seq: 8,
        },
        ..ConsumerState::default()
    };
    state.pending.insert(
        9,
        PendingDelivery {
            consumer_seq: 2,
            timestamp_ns: 5,
        },
    );
    state.redelivered.insert(9, 1);
    store.update_consumer_state("dur", &state).await.unwrap();
    store
        .update_consumer_state("other/../x", &ConsumerState::default())
        .await
        .unwrap();
    assert_eq!(store.consumer_state("dur"), Some(state.clone()));
    state.ack_floor.stream_seq = 10;
    state.pending.clear();
    store.update_consumer_state("dur", &state).await.unwrap();
    assert_eq!(store.consumer_state("dur"), Some(state));
    assert_eq!(
        store.consumer_names(),
        vec!["dur".to_owned(), "other/../x".to_owned()]
    );
    assert!(store.remove_consumer_state("dur").await.unwrap());
    assert!(!store.remove_consumer_state("dur").await.unwrap());
    assert_eq!(store.consumer_state("dur"), None);
    assert!(store
        .update_consumer_state("", &ConsumerState::default())
        .await
        .is_err());
}

async fn snapshot_restores_into_an_empty_store_of_either_kind<S: StreamStore>(store: S) {
    store_all(&store, &["a", "b", "c", "d"]).await;
    store.remove_msg(2).await.unwrap();
    store.remove_msg(4).await.unwrap();
    store
        .update_consumer_state("c1", &ConsumerState::default())
        .await
        .unwrap();
    let snapshot = store.snapshot().await.unwrap();
    let restored = natrix_storage::MemStore::default();
    restored.restore(&snapshot).await.unwrap();
    assert_eq!(restored.state(), store.state());
    assert_eq!(
        restored.load_msg(3).await.unwrap(),
        store.load_msg(3).await.unwrap()
    );
    assert_eq!(restored.consumer_names(), vec!["c1".to_owned()]);
    assert_eq!(restored.store_msg(message("e", 5)).await.unwrap(), 5);
    let dir = tempfile::tempdir().unwrap();
    let restored_file = common::open_file_store(dir.path(), common::small_block_options()).await;
    restored_file.restore(&snapshot).await.unwrap();
    assert_eq!(restored_file.state(), store.state());
    drop(restored_file);
    let reopened = common::open_file_store(dir.path(), common::small_block_options()).await;
    assert_eq!(reopened.state(), store.state());
    assert_eq!(reopened.consumer_names(), vec!["c1".to_owned()]);
    assert!(matches!(
        store.restore(&snapshot).await,
        Err(StoreError::RestoreIntoNonEmptyStore)
    ));
    let limited = natrix_storage::MemStore::new(StoreConfig {
        max_msgs: 1,
        ..StoreConfig::default()
    });
    limited.restore(&snapshot).await.unwrap();
    assert_eq!(kept_seqs(&limited).await, vec![3]);
    let mut damaged = snapshot.clone();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 1;
    let fresh = natrix_storage::MemStore::default();
    assert!(matches!(
        fresh.restore(&damaged).await,
        Err(StoreError::InvalidSnapshot(_))
    ));
}

async fn restored_messages_keep_their_sequences_and_gaps<S: StreamStore>(store: S) {
    // A backup of a stream whose first kept message is 5, with 7 deleted and 9..10 removed at
    // the end: the restore starts past 4, appends 5, 6, 8 and moves the last sequence to 10.
    store.compact(5).await.unwrap();
    let restored = |seq: u64, subject: &str| StoredMessage {
        seq,
        subject: subject.to_owned(),
        headers: Bytes::new(),
        payload: Bytes::from(format!("m{seq}")),
        timestamp_ns: seq as i64 * 10,
        ttl_ns: 0,
    };
    store
        .append_restored(vec![restored(5, "a"), restored(6, "b")])
        .await
        .unwrap();
    store.append_restored(vec![restored(8, "a")]).await.unwrap();
    // Out of order, or at a sequence already used: refused, nothing kept.
    assert!(matches!(
        store
            .append_restored(vec![restored(9, "a"), restored(8, "x")])
            .await,
        Err(StoreError::RestoreOutOfOrder {
            seq: 8,
            last_seq: 9
        })
    ));
    assert!(matches!(
        store
            .append_restored(vec![restored(9, "bad..subject")])
            .await,
        Err(StoreError::InvalidSubject(_))
    ));
    store.skip_to(10, 100).await.unwrap();
    store.skip_to(3, 1).await.unwrap();
    let state = store.state();
    assert_eq!((state.first_seq, state.last_seq, state.msgs), (5, 10, 3));
    assert_eq!(state.num_deleted, 3, "7, 9 and 10");
    assert_eq!(state.last_timestamp_ns, 100);
    assert_eq!(kept_seqs(&store).await, vec![5, 6, 8]);
    let loaded = store.load_msg(8).await.unwrap().unwrap();
    assert_eq!((loaded.timestamp_ns, &loaded.payload[..]), (80, &b"m8"[..]));
    assert_eq!(store.store_msg(message("c", 11)).await.unwrap(), 11);
}

async fn many_messages_across_blocks_stay_loadable<S: StreamStore>(store: S) {
    for index in 0..300u64 {
        let subject = format!("load.{}", index % 7);
        store.store_msg(message(&subject, index)).await.unwrap();
    }
    for seq in (1..=300).step_by(13) {
        let loaded = store.load_msg(seq).await.unwrap().unwrap();
        let subject = format!("load.{}", (seq - 1) % 7);
        assert_eq!(
            loaded.payload,
            Bytes::from(format!("{subject}#{}", seq - 1))
        );
    }
    assert_eq!(
        store
            .purge(&PurgeRequest {
                subject: Some("load.3".into()),
                ..Default::default()
            })
            .await
            .unwrap(),
        43
    );
    assert_eq!(store.compact(150).await.unwrap(), 149 - 21);
    assert_eq!(store.state().msgs, 300 - 43 - 128);
}

async fn purging_an_empty_store_keeps_first_one_and_last_zero<S: StreamStore>(store: S) {
    assert_eq!(store.purge(&PurgeRequest::default()).await.unwrap(), 0);
    let state = store.state();
    assert_eq!((state.first_seq, state.last_seq), (1, 0));
    let zero = PurgeRequest {
        before_seq: Some(0),
        ..PurgeRequest::default()
    };
    assert_eq!(store.purge(&zero).await.unwrap(), 0);
    let state = store.state();
    assert_eq!((state.first_seq, state.last_seq), (1, 0));
}

async fn purge_before_sequence_one_changes_nothing<S: StreamStore>(store: S) {
    for _ in 0..5 {
        store_all(&store, &["foo", "bar"]).await;
    }
    let before = store.state();
    for (subject, keep) in [
        (None, None),
        (Some(">"), None),
        (Some("foo"), None),
        (None, Some(3)),
        (Some("foo"), Some(3)),
    ] {
        let request = PurgeRequest {
            subject: subject.map(str::to_owned),
            before_seq: Some(1),
            keep,
        };
        assert_eq!(store.purge(&request).await.unwrap(), 0, "{request:?}");
        assert_eq!(store.state(), before, "{request:?}");
    }
}

async fn purge_keep_counts_only_kept_messages_across_interior_deletes<S: StreamStore>(store: S) {
    for _ in 0..50 {
        store.store_msg(message("foo", 0)).await.unwrap();
    }
    for seq in (2..=50).step_by(2) {
        assert!(store.remove_msg(seq).await.unwrap());
    }
    let keep_five = PurgeRequest {
        keep: Some(5),
        ..PurgeRequest::default()
    };
    assert_eq!(store.purge(&keep_five).await.unwrap(), 20);
    let state = store.state();
    assert_eq!((state.msgs, state.first_seq, state.last_seq), (5, 41, 50));
}

/// The Go server's `TestStoreDiscardNew` matrix: with discard new, the second "foo" is
/// rejected by a stream-wide limit unless it replaces the subject's only message.
async fn discard_new_matrix_matches_the_go_server<S: StreamStore>(store: S) {
    let empty = |subject: &str| NewMessage {
        payload: Bytes::new(),
        ..message(subject, 0)
    };
    let cases: [(StoreConfig, Option<&str>); 8] = [
        (
            StoreConfig {
                max_msgs: 1,
                ..StoreConfig::default()
            },
            Some("maximum messages exceeded"),
        ),
        (
            StoreConfig {
                max_bytes: 33,
                ..StoreConfig::default()
            },
            Some("maximum bytes exceeded"),
        ),
        (
            StoreConfig {
                max_msgs_per_subject: 1,
                ..StoreConfig::default()
            },
            None,
        ),
        (
            StoreConfig {
                max_msgs_per_subject: 1,
                discard_new_per_subject: true,
                ..StoreConfig::default()
            },
            Some("maximum messages per subject exceeded"),
        ),
        (
            StoreConfig {
                max_msgs: 1,
                max_msgs_per_subject: 1,
                ..StoreConfig::default()
            },
            None,
        ),
        (
            StoreConfig {
                max_bytes: 33,
                max_msgs_per_subject: 1,
                ..StoreConfig::default()
            },
            None,
        ),
        (
            StoreConfig {
                max_msgs: 1,
                max_msgs_per_subject: 1,
                discard_new_per_subject: true,
                ..StoreConfig::default()
            },
            Some("maximum messages per subject exceeded"),
        ),
        (
            StoreConfig {
                max_bytes: 33,
                max_msgs_per_subject: 1,
                discard_new_per_subject: true,
                ..StoreConfig::default()
            },
            Some("maximum messages per subject exceeded"),
        ),
    ];
    for (case, (limits, expected_error)) in cases.into_iter().enumerate() {
        store.purge(&PurgeRequest::default()).await.unwrap();
        store
            .update_config(StoreConfig {
                discard: DiscardPolicy::New,
                ..limits
            })
            .await
            .unwrap();
        let first = store.store_msg(empty("foo")).await.unwrap();
        let second = store.store_msg(empty("foo")).await;
        let state = store.state();
        assert_eq!(state.msgs, 1, "case {case}");
        match expected_error {
            Some(text) => {
                assert_eq!(second.unwrap_err().to_string(), text, "case {case}");
                assert_eq!(
                    (state.first_seq, state.last_seq),
                    (first, first),
                    "case {case}"
                );
            }
            None => {
                let second = second.unwrap();
                assert_eq!(
                    (state.first_seq, state.last_seq),
                    (second, second),
                    "case {case}"
                );
            }
        }
    }
}

async fn wildcard_lookups_find_matches_far_from_the_start<S: StreamStore>(store: S) {
    store.store_msg(message("far.a", 0)).await.unwrap();
    for tag in 0..150 {
        store.store_msg(message("near.b", tag)).await.unwrap();
    }
    let far = store.store_msg(message("far.c", 1)).await.unwrap();
    for tag in 0..150 {
        store.store_msg(message("near.b", tag)).await.unwrap();
    }
    let next = store.load_next_msg("far.*", 2).await.unwrap().unwrap();
    assert_eq!(next.seq, far);
    let last = store.load_last_msg("far.>").await.unwrap().unwrap();
    assert_eq!(last.seq, far);
    assert_eq!(store.load_next_msg("far.*", far + 1).await.unwrap(), None);
    assert_eq!(
        store.filtered_state(">", far),
        SimpleState {
            msgs: 151,
            first: far,
            last: far + 150
        }
    );
    assert_eq!(
        store.filtered_state(">", 10),
        SimpleState {
            msgs: 293,
            first: 10,
            last: far + 150
        }
    );
}

macro_rules! conformance {
    ($($test:ident),* $(,)?) => {
        mod mem_store {
            $(
                #[test]
                fn $test() {
                    super::run(super::$test(natrix_storage::MemStore::default()));
                }
            )*
        }
        mod file_store {
            $(
                #[test]
                fn $test() {
                    let dir = tempfile::tempdir().unwrap();
                    super::run(async {
                        let store =
                            super::common::open_file_store(dir.path(), super::common::small_block_options()).await;
                        super::$test(store).await;
                    });
                }
            )*
        }
    };
}

conformance!(
    sequences_start_at_one_and_messages_load_back,
    invalid_subjects_are_rejected,
    load_next_follows_filters_and_wildcards,
    load_next_msgs_reads_a_batch_as_single_loads_would,
    load_last_returns_newest_per_subject,
    filtered_and_subject_state_count_with_wildcards,
    removing_messages_updates_first_and_deleted_counts,
    purge_all_moves_first_past_last,
    purge_by_subject_keep_and_sequence,
    purge_up_to_sequence_compacts,
    compact_removes_below_and_can_move_past_the_end,
    truncate_removes_above_and_reuses_sequences,
    max_msgs_discard_old_removes_oldest,
    max_msgs_discard_new_rejects,
    max_bytes_discard_old_and_new,
    max_msgs_per_subject_keeps_newest_per_subject,
    discard_new_per_subject_rejects_at_the_subject_limit,
    max_msg_size_rejects_larger_messages,
    tightening_limits_removes_what_they_no_longer_allow,
    max_age_and_ttl_expire_messages,
    consumer_state_is_saved_replaced_and_removed,
    snapshot_restores_into_an_empty_store_of_either_kind,
    restored_messages_keep_their_sequences_and_gaps,
    many_messages_across_blocks_stay_loadable,
    purging_an_empty_store_keeps_first_one_and_last_zero,
    purge_before_sequence_one_changes_nothing,
    purge_keep_counts_only_kept_messages_across_interior_deletes,
    discard_new_matrix_matches_the_go_server,
    wildcard_lookups_find_matches_far_from_the_start,
    interior_deletes_are_listed_up_to_a_limit,
);
