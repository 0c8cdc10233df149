use super::*;

fn push_consumer(h: &mut Harness, extra: &str) -> Value {
    let ack = if extra.contains("ack_policy") {
        ""
    } else {
        r#","ack_policy":"explicit""#
    };
    let body = format!(
        r#"{{"stream_name":"S","config":{{"durable_name":"P","deliver_subject":"dlv"{ack}{extra}}}}}"#
    );
    let reply = h.create("$JS.API.CONSUMER.DURABLE.CREATE.S.P", &body);
    assert!(reply.get("error").is_none(), "{reply}");
    reply
}

#[test]
fn push_consumer_delivers_while_its_deliver_subject_has_interest() {
    let mut h = Harness::new();
    h.interest.gone.insert("dlv".to_owned());
    h.publish("s.a", "m1");
    let created = push_consumer(&mut h, "");
    assert_eq!(
        created["push_bound"],
        Value::Null,
        "not bound without subscribers"
    );
    assert_eq!(h.watched.get("P").map(String::as_str), Some("dlv"));
    assert!(h.take("dlv").is_empty());
    h.interest.gone.clear();
    h.event(|set, cx, actions| set.deliver_interest(cx, "P", true, actions));
    assert_eq!(payloads(&h.take("dlv")), vec!["m1"]);
    assert_eq!(h.info("P")["push_bound"], true);
    h.interest.gone.insert("dlv".to_owned());
    h.event(|set, cx, actions| set.deliver_interest(cx, "P", false, actions));
    h.publish("s.a", "m2");
    assert!(h.take("dlv").is_empty(), "inactive: held");
    h.interest.gone.clear();
    h.event(|set, cx, actions| set.deliver_interest(cx, "P", true, actions));
    assert_eq!(payloads(&h.take("dlv")), vec!["m2"]);
}

#[test]
fn push_idle_heartbeats_carry_the_last_sequences() {
    let mut h = Harness::new();
    h.publish("s.a", "m1");
    push_consumer(&mut h, r#","idle_heartbeat":1000000000"#);
    assert_eq!(payloads(&h.take("dlv")), vec!["m1"]);
    h.advance(SECOND + MILLI);
    let beats = h.take("dlv");
    assert_eq!(beats.len(), 1);
    assert_eq!(
        &beats[0].headers[..],
        b"NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: 1\r\nNats-Last-Stream: 1\r\n\r\n"
    );
}

#[test]
fn flow_control_stalls_delivery_until_the_client_answers() {
    let mut h = Harness::new();
    push_consumer(
        &mut h,
        r#","flow_control":true,"idle_heartbeat":5000000000,"ack_policy":"none""#,
    );
    // The window starts at 2 MiB: 300 messages of 10 KiB pass it.
    let payload = "x".repeat(10 * 1024);
    for _ in 0..300 {
        h.publish("s.a", &payload);
    }
    let out = h.take("dlv");
    let requests: Vec<&Outgoing> = out
        .iter()
        .filter(|message| status_of(message) == "100 FlowControl Request")
        .collect();
    assert_eq!(requests.len(), 1, "one request, at half the window");
    let fc_reply = requests[0]
        .reply
        .clone()
        .expect("flow control reply subject");
    assert!(fc_reply.starts_with("$JS.FC.S.P."), "{fc_reply}");
    let delivered = payloads(&out).len();
    assert!(delivered < 300, "stalled past the window: {delivered}");
    let beats_before = h.take("dlv");
    assert!(beats_before.is_empty());
    h.advance(5 * SECOND + MILLI);
    let beat = h.take("dlv");
    assert_eq!(
        header(&beat[0], "Nats-Consumer-Stalled").as_deref(),
        Some(fc_reply.as_str())
    );
    h.event(|set, cx, actions| {
        assert!(set.flow_control_reply(cx, &fc_reply, b"", actions));
    });
    let rest = payloads(&h.take("dlv")).len();
    assert_eq!(delivered + rest, 300, "the answer released the rest");
}

#[test]
fn replay_original_keeps_the_gaps_between_messages() {
    let mut h = Harness::new();
    h.publish("s.a", "m1");
    h.now += 2 * SECOND;
    h.publish("s.a", "m2");
    push_consumer(&mut h, r#","replay_policy":"original""#);
    assert_eq!(payloads(&h.take("dlv")), vec!["m1"]);
    h.advance(SECOND);
    assert!(h.take("dlv").is_empty());
    h.advance(SECOND + MILLI);
    assert_eq!(payloads(&h.take("dlv")), vec!["m2"]);
}

#[test]
fn rate_limit_paces_push_delivery() {
    let mut h = Harness::new();
    let mut stream = stream(RetentionPolicy::Limits);
    stream.max_msg_size = 1000;
    h.set.set_stream_config(stream);
    for _ in 0..3 {
        h.publish("s.a", &"x".repeat(900));
    }
    // 8000 bits per second is 1000 bytes per second; the burst is one message.
    push_consumer(&mut h, r#","rate_limit_bps":8000"#);
    assert_eq!(payloads(&h.take("dlv")).len(), 1);
    h.advance(SECOND + 100 * MILLI);
    assert_eq!(payloads(&h.take("dlv")).len(), 1);
    h.advance(SECOND + 100 * MILLI);
    assert_eq!(payloads(&h.take("dlv")).len(), 1);
}

#[test]
fn a_paused_consumer_delivers_nothing_until_the_pause_ends() {
    let mut h = Harness::new();
    h.pull_consumer("");
    let reply = h.inbox();
    let until = crate::time::Timestamp::from_unix_nanos(START_NS + 3 * SECOND);
    let body = format!(r#"{{"pause_until":"{until}"}}"#);
    h.event(|set, cx, actions| set.pause(cx, "C", &reply, body.as_bytes(), actions));
    let response = h.json_reply(&reply);
    assert_eq!(response["paused"], true);
    assert_eq!(response["pause_remaining"], 3 * SECOND);
    assert_eq!(
        h.take_prefix("$JS.EVENT.ADVISORY.CONSUMER.PAUSE.S.C").len(),
        1
    );
    h.publish("s.a", "m1");
    let inbox = h.pull("C", r#"{"batch":1,"expires":10000000000}"#);
    h.advance(2 * SECOND);
    assert!(h.take(&inbox).is_empty());
    let info = h.info("C");
    assert_eq!(info["paused"], true);
    h.advance(SECOND + MILLI);
    assert_eq!(payloads(&h.take(&inbox)), vec!["m1"]);
    let resumed = h.take_prefix("$JS.EVENT.ADVISORY.CONSUMER.PAUSE.S.C");
    let advisory: Value = serde_json::from_slice(&resumed[0].payload).expect("json");
    assert_eq!(advisory["paused"], false);
}

#[test]
fn an_ephemeral_pull_consumer_is_deleted_after_its_inactive_threshold() {
    let mut h = Harness::new();
    let created = h.create(
        "$JS.API.CONSUMER.CREATE.S.E",
        r#"{"stream_name":"S","config":{"name":"E","ack_policy":"explicit","inactive_threshold":2000000000}}"#,
    );
    assert_eq!(created["config"]["inactive_threshold"], 2 * SECOND);
    h.advance(SECOND);
    assert!(h.set.names().contains(&"E".to_owned()));
    h.advance(2 * SECOND);
    assert!(
        h.set.names().is_empty(),
        "gone after the threshold and its jitter"
    );
    let deleted = h.take_prefix("$JS.EVENT.ADVISORY.CONSUMER.DELETED.S.E");
    assert_eq!(deleted.len(), 1);
    assert!(h.store.consumer_state("E").is_none(), "its record went too");
}

#[test]
fn deliver_policies_place_the_cursor_as_go_does() {
    let mut h = Harness::new();
    h.publish("s.a", "a1");
    h.now += SECOND;
    h.publish("s.b", "b1");
    h.now += SECOND;
    h.publish("s.a", "a2");
    h.now += SECOND;
    h.publish("s.b", "b2");
    let cases = [
        (r#""deliver_policy":"all""#, vec!["a1", "b1", "a2", "b2"]),
        (r#""deliver_policy":"last""#, vec!["b2"]),
        (
            r#""deliver_policy":"last","filter_subject":"s.a""#,
            vec!["a2"],
        ),
        (r#""deliver_policy":"new""#, vec![]),
        (
            r#""deliver_policy":"by_start_sequence","opt_start_seq":3"#,
            vec!["a2", "b2"],
        ),
        (
            r#""deliver_policy":"last_per_subject","filter_subject":"s.>""#,
            vec!["a2", "b2"],
        ),
    ];
    for (index, (policy, expected)) in cases.into_iter().enumerate() {
        let name = format!("D{index}");
        let body = format!(
            r#"{{"stream_name":"S","config":{{"name":"{name}","ack_policy":"none",{policy}}}}}"#
        );
        let reply = h.create(&format!("$JS.API.CONSUMER.CREATE.S.{name}"), &body);
        assert!(reply.get("error").is_none(), "{policy}: {reply}");
        assert_eq!(reply["num_pending"], expected.len(), "{policy}");
        let inbox = h.pull(&name, r#"{"batch":10,"no_wait":true}"#);
        assert_eq!(payloads(&h.take(&inbox)), expected, "{policy}");
    }
}

#[test]
fn by_start_time_finds_the_first_message_at_or_after_it() {
    let mut h = Harness::new();
    for index in 0..20 {
        h.publish("s.a", &format!("m{index}"));
        h.now += SECOND;
    }
    // Message 7 (m6) was stored at START + 6 s.
    let start = crate::time::Timestamp::from_unix_nanos(START_NS + 6 * SECOND - 1);
    let body = format!(
        r#"{{"stream_name":"S","config":{{"name":"T","ack_policy":"none","deliver_policy":"by_start_time","opt_start_time":"{start}"}}}}"#
    );
    let reply = h.create("$JS.API.CONSUMER.CREATE.S.T", &body);
    assert!(reply.get("error").is_none(), "{reply}");
    assert_eq!(reply["num_pending"], 14);
    assert_eq!(reply["delivered"]["stream_seq"], 6);
    let inbox = h.pull("T", "1");
    assert_eq!(payloads(&h.take(&inbox)), vec!["m6"]);
}

#[test]
fn reset_goes_back_to_the_ack_floor_or_to_a_sequence() {
    let mut h = Harness::new();
    for index in 1..=4 {
        h.publish("s.a", &format!("m{index}"));
    }
    h.pull_consumer("");
    let inbox = h.pull("C", "4");
    let messages = h.take(&inbox);
    h.ack(messages[0].reply.as_deref().expect("ack"), "+ACK", None);
    let reply = h.inbox();
    h.event(|set, cx, actions| {
        assert!(set.reset(cx, "C", &reply, &[], b"", actions));
    });
    let response = h.json_reply(&reply);
    assert_eq!(response["reset_seq"], 2);
    assert_eq!(response["num_ack_pending"], 0);
    assert_eq!(response["num_pending"], 3);
    let inbox = h.pull("C", "1");
    assert_eq!(payloads(&h.take(&inbox)), vec!["m2"]);
    let reply = h.inbox();
    h.event(|set, cx, actions| {
        set.reset(cx, "C", &reply, &[], br#"{"seq":4}"#, actions);
    });
    assert_eq!(h.json_reply(&reply)["reset_seq"], 4);
    let inbox = h.pull("C", "1");
    assert_eq!(payloads(&h.take(&inbox)), vec!["m4"]);
}

#[test]
fn reset_below_a_start_sequence_is_refused() {
    let mut h = Harness::new();
    h.publish("s.a", "m1");
    h.create(
        "$JS.API.CONSUMER.CREATE.S.R",
        r#"{"stream_name":"S","config":{"name":"R","ack_policy":"explicit","deliver_policy":"by_start_sequence","opt_start_seq":5}}"#,
    );
    let reply = h.inbox();
    h.event(|set, cx, actions| {
        set.reset(cx, "R", &reply, &[], br#"{"seq":2}"#, actions);
    });
    let response = h.json_reply(&reply);
    assert_eq!(response["error"]["err_code"], 10204);
    assert_eq!(
        response["error"]["description"],
        "invalid reset: below start seq"
    );
}

#[test]
fn a_paced_push_consumer_that_loses_interest_stops_asking_for_ticks() {
    let mut h = Harness::new();
    h.publish("s.a", "m1");
    h.now += 2 * SECOND;
    h.publish("s.a", "m2");
    push_consumer(&mut h, r#","replay_policy":"original""#);
    assert_eq!(payloads(&h.take("dlv")), vec!["m1"]);
    h.interest.gone.insert("dlv".to_owned());
    h.event(|set, cx, actions| set.deliver_interest(cx, "P", false, actions));
    h.advance(5 * SECOND);
    assert!(
        h.wake.is_none_or(|at| at > h.now),
        "no deadline left in the past"
    );
    h.interest.gone.clear();
    h.event(|set, cx, actions| set.deliver_interest(cx, "P", true, actions));
    h.advance(3 * SECOND);
    assert_eq!(payloads(&h.take("dlv")), vec!["m2"]);
}

/// An ordered consumer as the clients create it: ephemeral, push, no acks, one delivery,
/// flow control and heartbeats, in memory; a gap makes the client recreate it from the next
/// stream sequence it expects, which the heartbeats tell it.
#[test]
fn an_ordered_consumer_works_as_clients_build_it() {
    let mut h = Harness::new();
    for index in 1..=3 {
        h.publish("s.a", &format!("m{index}"));
    }
    let ordered = r#"{"stream_name":"S","config":{"name":"O1","deliver_subject":"_INBOX.o",
        "deliver_policy":"all","ack_policy":"none","max_deliver":1,"flow_control":true,
        "idle_heartbeat":5000000000,"mem_storage":true,"inactive_threshold":300000000000,
        "num_replicas":1}}"#;
    let created = h.create("$JS.API.CONSUMER.CREATE.S.O1", ordered);
    assert!(created.get("error").is_none(), "{created}");
    let delivered = h.take("_INBOX.o");
    assert_eq!(payloads(&delivered), vec!["m1", "m2", "m3"]);
    h.advance(5 * SECOND + MILLI);
    let beat = h.take("_INBOX.o");
    assert_eq!(header(&beat[0], "Nats-Last-Stream").as_deref(), Some("3"));
    assert_eq!(header(&beat[0], "Nats-Last-Consumer").as_deref(), Some("3"));
    // The client saw a gap after m2: it deletes nothing (the old one times out) and asks
    // again from stream sequence 3.
    let again = r#"{"stream_name":"S","config":{"name":"O2","deliver_subject":"_INBOX.o2",
        "deliver_policy":"by_start_sequence","opt_start_seq":3,"ack_policy":"none",
        "max_deliver":1,"flow_control":true,"idle_heartbeat":5000000000,"mem_storage":true}}"#;
    let recreated = h.create("$JS.API.CONSUMER.CREATE.S.O2", again);
    assert!(recreated.get("error").is_none(), "{recreated}");
    assert_eq!(payloads(&h.take("_INBOX.o2")), vec!["m3"]);
}

#[test]
fn the_v2_ack_form_is_delivered_and_understood() {
    let format = crate::consumer::wire::AckFormat::V2 {
        domain: "hub".to_owned(),
        account_hash: crate::consumer::wire::account_hash("A"),
    };
    let options = ConsumerSetOptions {
        ack_format: format.clone(),
        ..ConsumerSetOptions::default()
    };
    let mut h = Harness::with(stream(RetentionPolicy::Limits), options);
    let subscriptions = h.set.subscriptions();
    assert!(subscriptions.contains(&format!(
        "$JS.ACK.hub.{}.S.*.*.*.*.*.>",
        crate::consumer::wire::account_hash("A")
    )));
    h.publish("s.a", "m1");
    h.pull_consumer("");
    let inbox = h.pull("C", "");
    let delivered = h.take(&inbox);
    let ack = delivered[0].reply.clone().expect("ack");
    assert!(ack.starts_with("$JS.ACK.hub."), "{ack}");
    assert_eq!(ack.split('.').count(), 11);
    h.ack(&ack, "+ACK", None);
    assert_eq!(h.info("C")["num_ack_pending"], 0);
}
