use std::time::Instant;

use natrix_storage::{FileStore, FileStoreOptions, SequencePair};

use super::*;
use crate::consumer::RecoverError;

/// A new set over the same store, with every saved consumer recovered (a restart).
fn restart(h: Harness) -> Harness {
    let stream = h.set.stream_config().clone();
    let mut restarted = Harness::over(h.store, stream, ConsumerSetOptions::default());
    restarted.now = h.now;
    for name in restarted.store.consumer_names() {
        let record = restarted.store.consumer_state(&name).expect("record");
        restarted.event(|set, cx, actions| {
            set.recover(cx, &name, &record, actions).expect("recovers");
        });
    }
    restarted
}

#[test]
fn a_durable_consumer_resumes_where_its_acks_left_off() {
    let mut h = Harness::new();
    for index in 1..=5 {
        h.publish("s.a", &format!("m{index}"));
    }
    h.pull_consumer(r#","ack_wait":2000000000"#);
    let inbox = h.pull("C", "3");
    let delivered = h.take(&inbox);
    h.ack(delivered[0].reply.as_deref().expect("ack"), "+ACK", None);
    h.ack(delivered[2].reply.as_deref().expect("ack"), "+ACK", None);
    h.advance(SECOND);
    let record = h.store.consumer_state("C").expect("saved");
    assert_eq!(
        record.delivered,
        SequencePair {
            consumer_seq: 3,
            stream_seq: 3
        }
    );
    assert_eq!(
        record.ack_floor,
        SequencePair {
            consumer_seq: 1,
            stream_seq: 1
        }
    );
    assert_eq!(record.pending.keys().copied().collect::<Vec<_>>(), vec![2]);
    let before = h.info("C");
    let mut h = restart(h);
    let after = h.info("C");
    for key in [
        "delivered",
        "ack_floor",
        "num_ack_pending",
        "num_pending",
        "config",
    ] {
        assert_eq!(
            before[key]["consumer_seq"], after[key]["consumer_seq"],
            "{key}"
        );
        assert_eq!(before[key]["stream_seq"], after[key]["stream_seq"], "{key}");
    }
    assert_eq!(before["num_ack_pending"], after["num_ack_pending"]);
    assert_eq!(before["num_pending"], after["num_pending"]);
    assert_eq!(before["config"], after["config"]);
    assert_eq!(before["created"], after["created"]);
    // New messages continue after the last delivered; the unacked one comes back.
    let inbox = h.pull("C", r#"{"batch":3,"expires":10000000000}"#);
    assert_eq!(payloads(&h.take(&inbox)), vec!["m4", "m5"]);
    h.advance(3 * SECOND);
    assert_eq!(
        payloads(&h.take(&inbox)),
        vec!["m2"],
        "redelivered after restart"
    );
}

#[test]
fn saves_are_batched_and_not_one_per_ack() {
    let mut h = Harness::new();
    for index in 0..50 {
        h.publish("s.a", &index.to_string());
    }
    h.pull_consumer("");
    h.advance(SECOND);
    let inbox = h.pull("C", "50");
    let delivered = h.take(&inbox);
    h.hold_saves = true;
    for message in &delivered {
        h.ack(message.reply.as_deref().expect("ack"), "+ACK", None);
    }
    assert!(h.held_saves.len() <= 1, "{} saves", h.held_saves.len());
    h.hold_saves = false;
    h.release_saves();
    h.advance(SECOND);
    let record = h.store.consumer_state("C").expect("saved");
    assert!(record.pending.is_empty());
    assert_eq!(record.ack_floor.stream_seq, 50);
}

#[test]
fn the_create_reply_waits_for_the_first_save() {
    let mut h = Harness::new();
    h.hold_saves = true;
    let reply = h.inbox();
    h.event(|set, cx, actions| {
        set.create(
            cx,
            "$JS.API.CONSUMER.DURABLE.CREATE.S.C",
            &reply,
            &[],
            br#"{"stream_name":"S","config":{"durable_name":"C","ack_policy":"explicit"}}"#,
            actions,
        );
    });
    assert!(h.take(&reply).is_empty());
    h.hold_saves = false;
    h.release_saves();
    assert_eq!(h.json_reply(&reply)["name"], "C");
}

#[test]
fn a_record_without_configuration_cannot_be_recovered() {
    let mut h = Harness::new();
    let state = natrix_storage::ConsumerState::default();
    let mut outcome = Ok(());
    h.event(|set, cx, actions| outcome = set.recover(cx, "X", &state, actions));
    assert_eq!(outcome, Err(RecoverError::NoConfiguration("X".to_owned())));
}

#[test]
fn a_consumer_past_a_stream_that_lost_its_tail_is_pulled_back() {
    let mut h = Harness::new();
    for index in 1..=3 {
        h.publish("s.a", &index.to_string());
    }
    h.pull_consumer("");
    let inbox = h.pull("C", "3");
    for message in h.take(&inbox) {
        h.ack(message.reply.as_deref().expect("ack"), "+ACK", None);
    }
    h.advance(SECOND);
    now(h.store.truncate(1)).expect("truncate");
    let mut h = restart(h);
    let info = h.info("C");
    assert_eq!(info["delivered"]["stream_seq"], 1);
    assert_eq!(info["ack_floor"]["stream_seq"], 1);
    h.publish("s.a", "new 2");
    let inbox = h.pull("C", "1");
    assert_eq!(payloads(&h.take(&inbox)), vec!["new 2"], "not skipped");
}

/// Drives the file store (which needs a compio runtime) through a consumer's life and a
/// reopen.
#[test]
fn a_consumer_record_survives_a_file_store_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let runtime = compio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let store = FileStore::open(dir.path(), StoreConfig::default(), FileStoreOptions::default())
            .await
            .expect("open");
        let mut set = ConsumerSet::new(stream(RetentionPolicy::Limits), ConsumerSetOptions::default());
        let interest = Interest::default();
        let mut actions = Vec::new();
        let cx = Context {
            store: &store,
            interest: &interest,
            now_ns: START_NS,
        };
        set.create(
            &cx,
            "$JS.API.CONSUMER.DURABLE.CREATE.S.C",
            "_INBOX.1",
            &[],
            br#"{"stream_name":"S","config":{"durable_name":"C","ack_policy":"explicit","description":"kept"}}"#,
            &mut actions,
        );
        for action in actions {
            if let Action::SaveState { consumer, state, .. } = action {
                store.update_consumer_state(&consumer, &state).await.expect("save");
            }
        }
        store.close().await.expect("close");
        let store = FileStore::open(dir.path(), StoreConfig::default(), FileStoreOptions::default())
            .await
            .expect("reopen");
        let record = store.consumer_state("C").expect("record");
        let mut restarted =
            ConsumerSet::new(stream(RetentionPolicy::Limits), ConsumerSetOptions::default());
        let cx = Context {
            store: &store,
            interest: &interest,
            now_ns: START_NS,
        };
        let mut actions = Vec::new();
        restarted
            .recover(&cx, "C", &record, &mut actions)
            .expect("recovers");
        let info = restarted.info_of(&cx, "C", &mut actions).expect("info");
        assert_eq!(info.config.expect("config").description, "kept");
    });
}

/// How long recovering 10,000 durable consumers takes: their records read back from a
/// reopened file store and each turned into a running consumer. Prints the timings.
#[test]
#[ignore = "measurement; run with --ignored --nocapture"]
fn recovery_of_ten_thousand_durable_consumers_is_timed() {
    const CONSUMERS: usize = 10_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let runtime = compio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let store = FileStore::open(dir.path(), StoreConfig::default(), FileStoreOptions::default())
            .await
            .expect("open");
        for index in 0..100 {
            let message = NewMessage::new(format!("s.{index}"), "x", START_NS);
            store.store_msg(message).await.expect("store");
        }
        let mut set = ConsumerSet::new(stream(RetentionPolicy::Limits), ConsumerSetOptions::default());
        let interest = Interest::default();
        let cx = Context {
            store: &store,
            interest: &interest,
            now_ns: START_NS,
        };
        let mut saves = Vec::new();
        for index in 0..CONSUMERS {
            let mut actions = Vec::new();
            let body = format!(
                r#"{{"stream_name":"S","config":{{"durable_name":"C{index}","ack_policy":"explicit"}}}}"#
            );
            set.create(&cx, &format!("$JS.API.CONSUMER.DURABLE.CREATE.S.C{index}"), "", &[], body.as_bytes(), &mut actions);
            saves.extend(actions.into_iter().filter_map(|action| match action {
                Action::SaveState { consumer, state, .. } => Some((consumer, state)),
                _ => None,
            }));
        }
        let written = Instant::now();
        let writers = saves.iter().map(|(consumer, state)| store.update_consumer_state(consumer, state));
        futures_join_all(writers).await;
        println!("wrote {} consumer records in {:?}", saves.len(), written.elapsed());
        store.close().await.expect("close");
        let reopened = Instant::now();
        let store = FileStore::open(dir.path(), StoreConfig::default(), FileStoreOptions::default())
            .await
            .expect("reopen");
        let opened = reopened.elapsed();
        let rebuilt = Instant::now();
        let mut restarted =
            ConsumerSet::new(stream(RetentionPolicy::Limits), ConsumerSetOptions::default());
        let cx = Context {
            store: &store,
            interest: &interest,
            now_ns: START_NS,
        };
        let mut actions = Vec::new();
        for name in store.consumer_names() {
            let record = store.consumer_state(&name).expect("record");
            restarted.recover(&cx, &name, &record, &mut actions).expect("recovers");
        }
        println!(
            "recovery of {CONSUMERS} durable consumers: store open (records read and checked) {opened:?}, consumers rebuilt {:?}",
            rebuilt.elapsed()
        );
        assert_eq!(restarted.len(), CONSUMERS);
    });
}

/// Awaits the futures one after the other after starting them all (the file store shares
/// its syncs between writes in flight).
async fn futures_join_all<F: std::future::Future>(futures: impl Iterator<Item = F>) {
    let tasks: Vec<_> = futures.collect();
    for task in tasks {
        let _ = task.await;
    }
}

#[test]
fn a_memory_consumer_keeps_no_record_and_answers_at_once() {
    let mut h = Harness::new();
    h.hold_saves = true;
    let reply = h.create(
        "$JS.API.CONSUMER.DURABLE.CREATE.S.M",
        r#"{"stream_name":"S","config":{"durable_name":"M","ack_policy":"explicit","mem_storage":true}}"#,
    );
    assert_eq!(reply["config"]["mem_storage"], true);
    assert!(h.held_saves.is_empty());
    h.publish("s.a", "m1");
    let inbox = h.pull("M", "");
    let delivered = h.take(&inbox);
    h.ack(
        delivered[0].reply.as_deref().expect("ack"),
        "+ACK",
        Some("_INBOX.a"),
    );
    assert_eq!(h.take("_INBOX.a").len(), 1);
    assert!(h.held_saves.is_empty() && h.store.consumer_state("M").is_none());
}
