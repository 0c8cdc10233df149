use super::*;
use crate::consumer::wire::parse_ack_subject;

/// Publishes `count` messages and pulls them with consumer `C` (created with `extra`),
/// returning the deliveries.
fn delivered(h: &mut Harness, count: usize, extra: &str) -> Vec<Outgoing> {
    for index in 1..=count {
        h.publish("s.a", &format!("m{index}"));
    }
    h.pull_consumer(extra);
    let inbox = h.pull("C", &format!(r#"{{"batch":{count}}}"#));
    let messages = h.take(&inbox);
    assert_eq!(messages.len(), count);
    messages
}

fn ack_subject(message: &Outgoing) -> String {
    message.reply.clone().expect("ack subject")
}

fn floor(h: &mut Harness) -> (u64, u64) {
    let info = h.info("C");
    (
        info["ack_floor"]["consumer_seq"].as_u64().expect("u64"),
        info["ack_floor"]["stream_seq"].as_u64().expect("u64"),
    )
}

#[test]
fn explicit_acks_move_the_floor_only_past_the_lowest_pending() {
    let mut h = Harness::new();
    let messages = delivered(&mut h, 3, "");
    h.ack(&ack_subject(&messages[1]), "+ACK", None);
    assert_eq!(floor(&mut h), (0, 0), "2 acked, 1 still pending");
    assert_eq!(h.info("C")["num_ack_pending"], 2);
    h.ack(&ack_subject(&messages[0]), "", None);
    assert_eq!(floor(&mut h), (2, 2), "1 and 2 acked: the floor is below 3");
    h.ack(&ack_subject(&messages[2]), "+OK", None);
    assert_eq!(floor(&mut h), (3, 3));
    assert_eq!(h.info("C")["num_ack_pending"], 0);
}

#[test]
fn an_ack_with_a_reply_is_answered_once_the_ack_is_saved() {
    let mut h = Harness::new();
    let messages = delivered(&mut h, 1, "");
    h.advance(SECOND);
    h.hold_saves = true;
    h.ack(&ack_subject(&messages[0]), "+ACK", Some("_INBOX.ack"));
    assert!(h.take("_INBOX.ack").is_empty(), "not before the save");
    assert_eq!(h.held_saves.len(), 1);
    let (_, _, state) = &h.held_saves[0];
    assert!(state.pending.is_empty(), "the save holds the ack");
    h.hold_saves = false;
    h.release_saves();
    let replies = h.take("_INBOX.ack");
    assert_eq!(replies.len(), 1);
    assert!(replies[0].payload.is_empty() && replies[0].headers.is_empty());
}

#[test]
fn an_ack_for_a_message_not_delivered_yet_is_ignored_without_a_reply() {
    let mut h = Harness::new();
    delivered(&mut h, 1, "");
    h.ack("$JS.ACK.S.C.1.5.5.0.0", "+ACK", Some("_INBOX.ack"));
    h.advance(SECOND);
    assert!(h.take("_INBOX.ack").is_empty());
}

#[test]
fn nak_redelivers_at_once_with_the_next_delivery_count() {
    let mut h = Harness::new();
    let messages = delivered(&mut h, 2, "");
    h.ack(&ack_subject(&messages[0]), "-NAK", None);
    let naks = h.take_prefix("$JS.EVENT.ADVISORY.CONSUMER.MSG_NAKED.S.C");
    assert_eq!(naks.len(), 1);
    let inbox = h.pull("C", "");
    let again = h.take(&inbox);
    assert_eq!(payloads(&again), vec!["m1"]);
    let info = parse_ack_subject(again[0].reply.as_deref().expect("ack")).expect("ack");
    assert_eq!((info.info.delivery_count, info.info.consumer_seq), (2, 3));
    assert_eq!(h.info("C")["num_redelivered"], 1);
}

#[test]
fn nak_with_a_delay_redelivers_after_it() {
    let mut h = Harness::new();
    let messages = delivered(&mut h, 1, r#","ack_wait":30000000000"#);
    h.ack(
        &ack_subject(&messages[0]),
        r#"-NAK {"delay":2000000000}"#,
        None,
    );
    let inbox = h.pull("C", r#"{"batch":1,"expires":10000000000}"#);
    h.advance(SECOND);
    assert!(h.take(&inbox).is_empty(), "not before the delay");
    h.advance(SECOND + 20 * MILLI);
    assert_eq!(payloads(&h.take(&inbox)), vec!["m1"]);
}

#[test]
fn term_stops_redelivery_and_sends_the_terminated_advisory() {
    let mut h = Harness::new();
    let messages = delivered(&mut h, 1, r#","ack_wait":1000000000"#);
    h.ack(&ack_subject(&messages[0]), "+TERM not for me", None);
    let advisories = h.take_prefix("$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.S.C");
    assert_eq!(advisories.len(), 1);
    let advisory: Value = serde_json::from_slice(&advisories[0].payload).expect("json");
    assert_eq!(advisory["reason"], "not for me");
    assert_eq!(advisory["stream_seq"], 1);
    let inbox = h.pull("C", r#"{"batch":1,"expires":5000000000}"#);
    h.advance(3 * SECOND);
    assert!(payloads(&h.take(&inbox)).is_empty());
    assert_eq!(h.info("C")["num_ack_pending"], 0);
}

#[test]
fn ack_wait_expiry_redelivers_and_progress_postpones_it() {
    let mut h = Harness::new();
    let messages = delivered(&mut h, 1, r#","ack_wait":2000000000"#);
    let inbox = h.pull("C", r#"{"batch":5,"expires":20000000000}"#);
    h.advance(SECOND);
    h.ack(&ack_subject(&messages[0]), "+WPI", None);
    h.advance(SECOND + 500 * MILLI);
    assert!(h.take(&inbox).is_empty(), "working: the wait restarted");
    h.advance(SECOND);
    let again = h.take(&inbox);
    assert_eq!(payloads(&again), vec!["m1"]);
    let ack = parse_ack_subject(again[0].reply.as_deref().expect("ack")).expect("ack");
    assert_eq!(ack.info.delivery_count, 2);
}

#[test]
fn backoff_sets_each_redelivery_wait() {
    let mut h = Harness::new();
    delivered(
        &mut h,
        1,
        r#","backoff":[1000000000,3000000000],"max_deliver":5"#,
    );
    let inbox = h.pull("C", r#"{"batch":5,"expires":60000000000}"#);
    h.advance(SECOND + 10 * MILLI);
    assert_eq!(
        payloads(&h.take(&inbox)),
        vec!["m1"],
        "after the first backoff"
    );
    h.advance(2 * SECOND);
    assert!(h.take(&inbox).is_empty(), "the second waits 3 s");
    h.advance(SECOND + 10 * MILLI);
    assert_eq!(payloads(&h.take(&inbox)), vec!["m1"]);
}

#[test]
fn max_deliver_stops_redelivery_with_the_advisory() {
    let mut h = Harness::new();
    delivered(&mut h, 1, r#","ack_wait":1000000000,"max_deliver":2"#);
    let inbox = h.pull("C", r#"{"batch":5,"expires":60000000000}"#);
    h.advance(SECOND + 10 * MILLI);
    assert_eq!(payloads(&h.take(&inbox)), vec!["m1"], "the second delivery");
    h.advance(5 * SECOND);
    assert!(payloads(&h.take(&inbox)).is_empty(), "no third");
    let advisories = h.take_prefix("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.S.C");
    assert_eq!(advisories.len(), 1);
    let advisory: Value = serde_json::from_slice(&advisories[0].payload).expect("json");
    assert_eq!(
        (
            advisory["stream_seq"].clone(),
            advisory["deliveries"].clone()
        ),
        (1.into(), 2.into())
    );
    let info = h.info("C");
    assert_eq!(info["num_ack_pending"], 0);
    assert_eq!(info["num_redelivered"], 1);
    assert_eq!(info["ack_floor"]["stream_seq"], 1);
}

#[test]
fn max_ack_pending_holds_new_messages_until_acks_come() {
    let mut h = Harness::new();
    for index in 1..=3 {
        h.publish("s.a", &format!("m{index}"));
    }
    h.pull_consumer(r#","max_ack_pending":2"#);
    let inbox = h.pull("C", r#"{"batch":3,"expires":10000000000}"#);
    let first = h.take(&inbox);
    assert_eq!(payloads(&first), vec!["m1", "m2"]);
    h.ack(&ack_subject(&first[0]), "+ACK", None);
    assert_eq!(payloads(&h.take(&inbox)), vec!["m3"]);
}

#[test]
fn ack_all_acknowledges_everything_below() {
    let mut h = Harness::new();
    for index in 1..=3 {
        h.publish("s.a", &format!("m{index}"));
    }
    h.create(
        "$JS.API.CONSUMER.DURABLE.CREATE.S.C",
        r#"{"stream_name":"S","config":{"durable_name":"C","ack_policy":"all"}}"#,
    );
    let inbox = h.pull("C", "3");
    let messages = h.take(&inbox);
    h.ack(&ack_subject(&messages[1]), "+ACK", None);
    let info = h.info("C");
    assert_eq!(info["num_ack_pending"], 1);
    assert_eq!(info["ack_floor"]["stream_seq"], 2);
}

#[test]
fn ack_none_counts_deliveries_as_acknowledged() {
    let mut h = Harness::new();
    h.publish("s.a", "m1");
    h.create(
        "$JS.API.CONSUMER.DURABLE.CREATE.S.C",
        r#"{"stream_name":"S","config":{"durable_name":"C","ack_policy":"none"}}"#,
    );
    let inbox = h.pull("C", "");
    assert_eq!(payloads(&h.take(&inbox)), vec!["m1"]);
    let info = h.info("C");
    assert_eq!(info["num_ack_pending"], 0);
    assert_eq!(info["ack_floor"]["stream_seq"], 1);
}

#[test]
fn next_acks_and_pulls_on_the_acks_reply() {
    let mut h = Harness::new();
    let messages = delivered(&mut h, 1, "");
    h.publish("s.a", "m2");
    h.publish("s.a", "m3");
    h.ack(&ack_subject(&messages[0]), "+NXT 2", Some("_INBOX.next"));
    assert_eq!(payloads(&h.take("_INBOX.next")), vec!["m2", "m3"]);
    assert_eq!(h.info("C")["ack_floor"]["stream_seq"], 1);
}

#[test]
fn sampled_acks_publish_the_ack_metric() {
    let mut h = Harness::new();
    let messages = delivered(&mut h, 1, r#","sample_freq":"100%""#);
    h.advance(SECOND);
    h.ack(&ack_subject(&messages[0]), "+ACK", None);
    let metrics = h.take_prefix("$JS.EVENT.METRIC.CONSUMER.ACK.S.C");
    assert_eq!(metrics.len(), 1);
    let metric: Value = serde_json::from_slice(&metrics[0].payload).expect("json");
    assert_eq!(metric["ack_time"], SECOND);
    assert_eq!(metric["type"], "io.nats.jetstream.metric.v1.consumer_ack");
}

#[test]
fn unreadable_acks_are_ignored_not_panics() {
    let mut h = Harness::new();
    delivered(&mut h, 1, "");
    for subject in [
        "$JS.ACK.S.C.x.y.z.w.v",
        "$JS.ACK.S.C",
        "$JS.ACK.S.NOPE.1.1.1.0.0",
        "$JS.ACK.OTHER.C.1.1.1.0.0",
        "$JS.ACK.S.C.1.18446744073709551615.1.0.0",
    ] {
        for body in ["+ACK", "-NAK {", "+TERM", "+NXT {\"batch\":", "\u{fffd}"] {
            h.ack(subject, body, Some("_INBOX.r"));
        }
    }
    assert_eq!(h.info("C")["num_ack_pending"], 1);
}

#[test]
fn acks_to_a_consumer_that_takes_none_are_not_handled() {
    let mut h = Harness::new();
    h.publish("s.a", "m1");
    h.create(
        "$JS.API.CONSUMER.DURABLE.CREATE.S.C",
        r#"{"stream_name":"S","config":{"durable_name":"C","ack_policy":"none"}}"#,
    );
    let inbox = h.pull("C", "");
    let delivered = h.take(&inbox);
    let subject = delivered[0].reply.clone().expect("ack subject");
    let mut handled = true;
    h.event(|set, cx, actions| {
        handled = set.ack(cx, &subject, Some("_INBOX.r"), b"+ACK", actions);
    });
    assert!(!handled, "Go has no ack subscription for ack none");
    assert!(h.take("_INBOX.r").is_empty());
}
