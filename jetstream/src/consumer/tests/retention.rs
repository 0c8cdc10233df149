use super::*;

fn harness(retention: RetentionPolicy) -> Harness {
    Harness::with(stream(retention), ConsumerSetOptions::default())
}

fn create(h: &mut Harness, name: &str, extra: &str) {
    let body = format!(
        r#"{{"stream_name":"S","config":{{"durable_name":"{name}","ack_policy":"explicit"{extra}}}}}"#
    );
    let reply = h.create(&format!("$JS.API.CONSUMER.DURABLE.CREATE.S.{name}"), &body);
    assert!(reply.get("error").is_none(), "{reply}");
}

fn pull_one(h: &mut Harness, consumer: &str) -> Outgoing {
    let inbox = h.pull(consumer, "1");
    let mut delivered = h.take(&inbox);
    assert_eq!(delivered.len(), 1, "{consumer}");
    delivered.remove(0)
}

#[test]
fn a_work_queue_message_goes_once_acknowledged() {
    let mut h = harness(RetentionPolicy::WorkQueue);
    create(&mut h, "W", "");
    let seq = h.publish("s.a", "job");
    let message = pull_one(&mut h, "W");
    assert!(h.stored(seq).is_some(), "kept until acknowledged");
    h.ack(message.reply.as_deref().expect("ack"), "+ACK", None);
    assert_eq!(h.removed_by_retention, vec![seq]);
    assert!(h.stored(seq).is_none());
}

#[test]
fn an_interest_message_goes_once_every_consumer_acknowledged_it() {
    let mut h = harness(RetentionPolicy::Interest);
    create(&mut h, "A", "");
    create(&mut h, "B", "");
    let seq = h.publish("s.a", "event");
    let for_a = pull_one(&mut h, "A");
    let for_b = pull_one(&mut h, "B");
    h.ack(for_a.reply.as_deref().expect("ack"), "+ACK", None);
    assert!(h.stored(seq).is_some(), "B still needs it");
    h.ack(for_b.reply.as_deref().expect("ack"), "+ACK", None);
    assert!(h.stored(seq).is_none());
}

#[test]
fn filtered_consumers_only_hold_their_subjects() {
    let mut h = harness(RetentionPolicy::Interest);
    create(&mut h, "A", r#","filter_subject":"s.a""#);
    create(&mut h, "B", r#","filter_subject":"s.b""#);
    let seq = h.publish("s.a", "for A");
    let message = pull_one(&mut h, "A");
    h.ack(message.reply.as_deref().expect("ack"), "+ACK", None);
    assert!(h.stored(seq).is_none(), "B never wanted s.a");
    assert!(h.set.has_interest_in("s.b"));
    assert!(!h.set.has_interest_in("s.c"));
}

#[test]
fn the_subject_is_loaded_when_a_filtered_consumers_need_depends_on_it() {
    let mut h = harness(RetentionPolicy::Interest);
    create(&mut h, "A", "");
    create(&mut h, "B", r#","filter_subject":"s.b""#);
    let seq = h.publish("s.a", "for A");
    let message = pull_one(&mut h, "A");
    // Forget what the consumer knew of the subject, as after a restart.
    for consumer in h.set.consumers.values_mut() {
        for pending in consumer.pending.values_mut() {
            pending.subject = None;
        }
    }
    h.ack(message.reply.as_deref().expect("ack"), "+ACK", None);
    assert!(h.stored(seq).is_none(), "decided after loading its subject");
}

#[test]
fn ack_none_consumers_release_interest_messages_at_delivery() {
    let mut h = harness(RetentionPolicy::Interest);
    let reply = h.create(
        "$JS.API.CONSUMER.DURABLE.CREATE.S.N",
        r#"{"stream_name":"S","config":{"durable_name":"N","ack_policy":"none"}}"#,
    );
    assert!(reply.get("error").is_none(), "{reply}");
    let seq = h.publish("s.a", "fire and forget");
    pull_one(&mut h, "N");
    assert!(h.stored(seq).is_none());
}

#[test]
fn deleting_the_last_interest_consumer_purges_the_stream() {
    let mut h = harness(RetentionPolicy::Interest);
    create(&mut h, "A", "");
    h.publish("s.a", "1");
    h.publish("s.a", "2");
    let reply = h.inbox();
    h.event(|set, cx, actions| set.delete(cx, "A", &reply, b"", actions));
    assert_eq!(h.store.state().msgs, 0);
}

#[test]
fn deleting_a_consumer_drops_what_only_it_held() {
    let mut h = harness(RetentionPolicy::Interest);
    create(&mut h, "A", r#","filter_subject":"s.a""#);
    create(&mut h, "B", r#","filter_subject":"s.b""#);
    let for_a = h.publish("s.a", "a");
    let for_b = h.publish("s.b", "b");
    let reply = h.inbox();
    h.event(|set, cx, actions| set.delete(cx, "B", &reply, b"", actions));
    assert!(h.stored(for_a).is_some(), "A still needs it");
    assert!(h.stored(for_b).is_none(), "only B needed it");
}

#[test]
fn interest_streams_compact_below_every_ack_floor_periodically() {
    let mut h = harness(RetentionPolicy::Interest);
    create(&mut h, "A", "");
    for index in 0..3 {
        h.publish("s.a", &index.to_string());
    }
    let inbox = h.pull("A", "3");
    let delivered = h.take(&inbox);
    // The acks' removals are lost (as if the server stopped before performing them).
    for message in &delivered {
        let subject = message.reply.clone().expect("ack");
        h.event(|set, cx, actions| {
            set.ack(cx, &subject, None, b"+ACK", actions);
            actions.retain(|action| !matches!(action, Action::RemoveMessage { .. }));
        });
    }
    assert_eq!(h.store.state().msgs, 3);
    h.advance(200 * SECOND);
    assert_eq!(h.store.state().msgs, 0, "compacted below the floor");
}
