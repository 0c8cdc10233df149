use super::*;
use crate::consumer::wire::parse_ack_subject;

#[test]
fn pull_batch_delivers_in_order_with_gos_ack_subjects() {
    let mut h = Harness::new();
    for index in 1..=3 {
        h.publish(&format!("s.{index}"), &format!("m{index}"));
    }
    h.pull_consumer("");
    let inbox = h.pull("C", r#"{"batch":2}"#);
    let delivered = h.take(&inbox);
    assert_eq!(payloads(&delivered), vec!["m1", "m2"]);
    let ack = parse_ack_subject(delivered[1].reply.as_deref().expect("ack subject")).expect("ack");
    assert_eq!((ack.stream, ack.consumer), ("S", "C"));
    assert_eq!(ack.info.delivery_count, 1);
    assert_eq!((ack.info.stream_seq, ack.info.consumer_seq), (2, 2));
    assert_eq!(ack.info.pending, 1, "one message left after this one");
    assert_eq!(ack.info.timestamp_ns, START_NS);
    let info = h.info("C");
    assert_eq!(info["num_ack_pending"], 2);
    assert_eq!(info["num_pending"], 1);
    assert_eq!(info["num_waiting"], 0, "the request got its whole batch");
    assert_eq!(info["delivered"]["stream_seq"], 2);
}

#[test]
fn pull_request_members_that_are_null_count_as_zero_as_in_go() {
    // async-nats' request body.
    let body = br#"{"batch":2,"expires":1000000000,"max_bytes":0,"min_pending":null,"min_ack_pending":null,"group":null}"#;
    let request = crate::consumer::pull::parse_pull_request(body, START_NS).expect("accepted");
    assert_eq!(request.batch, 2);
    assert_eq!(request.expires_at, Some(START_NS + SECOND));
    // Go's type errors, for the first member (in the body's order) that does not fit.
    for (body, text) in [
        (
            &br#"{"batch":"x"}"#[..],
            "string into Go struct field .batch of type int",
        ),
        (
            br#"{"batch":1.5}"#,
            "number 1.5 into Go struct field .batch of type int",
        ),
        (
            br#"{"min_pending":"x"}"#,
            "string into Go struct field .min_pending of type int64",
        ),
        (
            br#"{"expires":"x"}"#,
            "string into Go struct field .expires of type time.Duration",
        ),
        (
            br#"{"no_wait":1}"#,
            "number into Go struct field .no_wait of type bool",
        ),
        (
            br#"{"priority":true}"#,
            "bool into Go struct field .priority of type int",
        ),
        (
            br#"{"batch":{}}"#,
            "object into Go struct field .batch of type int",
        ),
        (
            br#"{"id":2,"batch":"y"}"#,
            "number into Go struct field .id of type string",
        ),
    ] {
        let error = crate::consumer::pull::parse_pull_request(body, START_NS)
            .expect_err("a member of the wrong type");
        assert_eq!(error, format!("json: cannot unmarshal {text}"));
    }
}

#[test]
fn no_wait_pull_on_an_empty_stream_gets_404_no_messages() {
    let mut h = Harness::new();
    h.pull_consumer("");
    let inbox = h.pull("C", r#"{"batch":5,"no_wait":true}"#);
    let replies = h.take(&inbox);
    assert_eq!(replies.len(), 1);
    assert_eq!(&replies[0].headers[..], b"NATS/1.0 404 No Messages\r\n\r\n");
}

#[test]
fn no_wait_pull_gets_what_is_there_then_404() {
    let mut h = Harness::new();
    h.publish("s.a", "one");
    h.publish("s.b", "two");
    h.pull_consumer("");
    let inbox = h.pull("C", r#"{"batch":5,"no_wait":true}"#);
    let replies = h.take(&inbox);
    assert_eq!(payloads(&replies), vec!["one", "two"]);
    assert_eq!(status_of(replies.last().expect("end")), "404 No Messages");
    assert_eq!(h.info("C")["num_waiting"], 0);
}

#[test]
fn waiting_pull_expires_with_408_and_what_it_still_wanted() {
    let mut h = Harness::new();
    h.pull_consumer("");
    let inbox = h.pull("C", r#"{"batch":3,"expires":2000000000,"max_bytes":500}"#);
    assert!(h.take(&inbox).is_empty());
    assert_eq!(h.info("C")["num_waiting"], 1);
    h.advance(SECOND);
    assert!(h.take(&inbox).is_empty(), "not yet");
    h.advance(SECOND + MILLI);
    let replies = h.take(&inbox);
    assert_eq!(replies.len(), 1);
    assert_eq!(
        &replies[0].headers[..],
        b"NATS/1.0 408 Request Timeout\r\nNats-Pending-Messages: 3\r\nNats-Pending-Bytes: 500\r\n\r\n"
    );
    assert_eq!(h.info("C")["num_waiting"], 0);
}

#[test]
fn waiting_pull_gets_messages_stored_later() {
    let mut h = Harness::new();
    h.pull_consumer("");
    let inbox = h.pull("C", r#"{"batch":2,"expires":5000000000}"#);
    h.publish("s.a", "late");
    assert_eq!(payloads(&h.take(&inbox)), vec!["late"]);
    h.publish("s.a", "later");
    assert_eq!(payloads(&h.take(&inbox)), vec!["later"]);
    h.publish("s.a", "too late");
    assert!(h.take(&inbox).is_empty(), "the batch is done");
}

#[test]
fn plain_pull_bodies_are_batch_sizes() {
    let mut h = Harness::new();
    for index in 0..4 {
        h.publish("s.a", &index.to_string());
    }
    h.pull_consumer("");
    let inbox = h.pull("C", "3");
    assert_eq!(payloads(&h.take(&inbox)), vec!["0", "1", "2"]);
    let inbox = h.pull("C", "");
    assert_eq!(payloads(&h.take(&inbox)), vec!["3"]);
}

#[test]
fn max_bytes_closes_the_request_with_409_when_a_message_does_not_fit() {
    let mut h = Harness::new();
    h.publish("s.a", &"x".repeat(200));
    h.pull_consumer("");
    let inbox = h.pull("C", r#"{"batch":5,"max_bytes":100,"expires":5000000000}"#);
    let replies = h.take(&inbox);
    assert_eq!(replies.len(), 1);
    assert_eq!(
        &replies[0].headers[..],
        b"NATS/1.0 409 Message Size Exceeds MaxBytes\r\nNats-Pending-Messages: 5\r\nNats-Pending-Bytes: 100\r\n\r\n"
    );
}

#[test]
fn batch_done_with_bytes_left_ends_with_409_batch_completed() {
    let mut h = Harness::new();
    h.publish("s.a", "small");
    h.pull_consumer("");
    let inbox = h.pull("C", r#"{"batch":1,"max_bytes":10000,"expires":5000000000}"#);
    let replies = h.take(&inbox);
    assert_eq!(payloads(&replies), vec!["small"]);
    let end = replies.last().expect("status");
    assert_eq!(status_of(end), "409 Batch Completed");
    assert_eq!(header(end, "Nats-Pending-Messages").as_deref(), Some("0"));
    let size = "s.a".len() + replies[0].reply.as_ref().expect("ack").len() + "small".len();
    assert_eq!(
        header(end, "Nats-Pending-Bytes"),
        Some((10000 - size).to_string())
    );
}

#[test]
fn request_limits_are_refused_with_gos_409s() {
    let mut h = Harness::new();
    h.pull_consumer(r#","max_batch":10,"max_expires":1000000000,"max_bytes":1024"#);
    let cases = [
        (r#"{"batch":11}"#, "409 Exceeded MaxRequestBatch of 10"),
        (
            r#"{"batch":1,"expires":2000000000}"#,
            "409 Exceeded MaxRequestExpires of 1s",
        ),
        (
            r#"{"batch":1,"max_bytes":2048}"#,
            "409 Exceeded MaxRequestMaxBytes of 1024",
        ),
        (
            r#"{"batch":1,"expires":1000000000,"idle_heartbeat":800000000}"#,
            "400 Bad Request - heartbeat value too large",
        ),
        (r#"{"batch":1,"group":"g"}"#, ""),
        (
            r#"{"batch":1,"min_pending":5}"#,
            "400 Bad Request - Not a Overflow Priority consumer",
        ),
        (
            r#"{"batch":1,"id":"PIN"}"#,
            "400 Bad Request - Not a Pinned Client Priority consumer",
        ),
        (
            r#"{"batch":1,"priority":10}"#,
            "400 Bad Request - Priority must be between 0 and 9",
        ),
    ];
    for (body, expected) in cases {
        let inbox = h.pull("C", body);
        let replies = h.take(&inbox);
        if expected.is_empty() {
            assert!(replies.is_empty(), "{body}: {replies:?}");
        } else {
            assert_eq!(replies.len(), 1, "{body}");
            assert_eq!(status_of(&replies[0]), expected, "{body}");
        }
    }
}

#[test]
fn the_waiting_queue_is_bounded_by_max_waiting() {
    let mut h = Harness::new();
    h.pull_consumer(r#","max_waiting":2"#);
    let first = h.pull("C", r#"{"batch":1,"expires":5000000000}"#);
    let second = h.pull("C", r#"{"batch":1,"expires":5000000000}"#);
    let third = h.pull("C", r#"{"batch":1,"expires":5000000000}"#);
    assert!(h.take(&first).is_empty() && h.take(&second).is_empty());
    assert_eq!(
        &h.take(&third)[0].headers[..],
        b"NATS/1.0 409 Exceeded MaxWaiting\r\n\r\n"
    );
    // With heartbeats the refusal is silent: the client relies on missed heartbeats.
    let fourth = h.pull(
        "C",
        r#"{"batch":1,"expires":5000000000,"idle_heartbeat":1000000000}"#,
    );
    assert!(h.take(&fourth).is_empty());
}

#[test]
fn waiting_pull_gets_idle_heartbeats() {
    let mut h = Harness::new();
    h.pull_consumer("");
    let inbox = h.pull(
        "C",
        r#"{"batch":1,"expires":10000000000,"idle_heartbeat":1000000000}"#,
    );
    h.advance(SECOND + 2 * MILLI);
    let beats = h.take(&inbox);
    assert_eq!(beats.len(), 1);
    assert_eq!(
        &beats[0].headers[..],
        b"NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: 0\r\nNats-Last-Stream: 0\r\n\r\n"
    );
    h.advance(SECOND + 2 * MILLI);
    assert_eq!(h.take(&inbox).len(), 1, "every second");
}

#[test]
fn a_request_whose_requester_went_away_is_dropped() {
    let mut h = Harness::new();
    h.pull_consumer("");
    let inbox = h.pull("C", r#"{"batch":1,"expires":5000000000}"#);
    h.interest.gone.insert(inbox.clone());
    h.publish("s.a", "nobody");
    assert!(h.take(&inbox).is_empty());
    assert_eq!(h.info("C")["num_waiting"], 0);
    let other = h.pull("C", "");
    assert_eq!(
        payloads(&h.take(&other)),
        vec!["nobody"],
        "the message stays for others"
    );
}

#[test]
fn a_request_through_an_import_ends_with_408_interest_expired() {
    let mut h = Harness::new();
    h.pull_consumer("");
    let reply = "_R_.A.tag._INBOX.x".to_owned();
    h.event(|set, cx, actions| {
        set.next_request(
            cx,
            "C",
            &reply,
            Some("_INBOX.x"),
            &[],
            br#"{"batch":2,"expires":5000000000}"#,
            actions,
        );
    });
    h.interest.gone.insert("_INBOX.x".to_owned());
    h.publish("s.a", "m");
    let replies = h.take(&reply);
    assert_eq!(replies.len(), 1);
    assert_eq!(
        &replies[0].headers[..],
        b"NATS/1.0 408 Interest Expired\r\nNats-Pending-Messages: 2\r\nNats-Pending-Bytes: 0\r\n\r\n"
    );
}

#[test]
fn pull_to_a_push_consumer_is_refused() {
    let mut h = Harness::new();
    h.create(
        "$JS.API.CONSUMER.CREATE.S.P",
        r#"{"stream_name":"S","config":{"name":"P","deliver_subject":"dlv","ack_policy":"explicit"}}"#,
    );
    let inbox = h.pull("P", "");
    assert_eq!(
        &h.take(&inbox)[0].headers[..],
        b"NATS/1.0 409 Consumer is push based\r\n\r\n"
    );
}

#[test]
fn deleting_a_consumer_ends_its_waiting_requests_with_409() {
    let mut h = Harness::new();
    h.pull_consumer("");
    let inbox = h.pull("C", r#"{"batch":1,"expires":5000000000}"#);
    let reply = h.inbox();
    h.event(|set, cx, actions| set.delete(cx, "C", &reply, b"", actions));
    assert_eq!(
        &h.take(&inbox)[0].headers[..],
        b"NATS/1.0 409 Consumer Deleted\r\n\r\n"
    );
    assert_eq!(h.json_reply(&reply)["success"], true);
}

#[test]
fn shutdown_ends_waiting_requests_with_409_server_shutdown() {
    let mut h = Harness::new();
    h.pull_consumer("");
    let inbox = h.pull("C", r#"{"batch":4,"expires":5000000000}"#);
    h.event(|set, cx, actions| set.shutdown(cx, actions));
    assert_eq!(
        &h.take(&inbox)[0].headers[..],
        b"NATS/1.0 409 Server Shutdown\r\nNats-Pending-Messages: 4\r\nNats-Pending-Bytes: 0\r\n\r\n"
    );
}

#[test]
fn overflow_requests_wait_for_their_thresholds() {
    let mut h = Harness::new();
    h.pull_consumer(r#","priority_policy":"overflow","priority_groups":["jobs"]"#);
    h.publish("s.a", "1");
    let picky = h.pull(
        "C",
        r#"{"batch":1,"expires":5000000000,"group":"jobs","min_pending":3}"#,
    );
    assert!(h.take(&picky).is_empty(), "one pending is below 3");
    h.publish("s.a", "2");
    h.publish("s.a", "3");
    assert_eq!(payloads(&h.take(&picky)), vec!["1"]);
    // A request that is not JSON has no group, and Go serves it.
    let plain = h.pull("C", "1");
    assert_eq!(payloads(&h.take(&plain)), vec!["2"]);
    let no_group = h.pull("C", r#"{"batch":1,"expires":1000000000}"#);
    assert_eq!(
        status_of(&h.take(&no_group)[0]),
        "400 Bad Request - Priority Group missing"
    );
    let wrong = h.pull("C", r#"{"batch":1,"group":"other"}"#);
    assert_eq!(
        status_of(&h.take(&wrong)[0]),
        "400 Bad Request - Invalid Priority Group"
    );
}

#[test]
fn pinned_client_gets_a_pin_and_others_wait_until_it_times_out() {
    let mut h = Harness::new();
    h.pull_consumer(
        r#","priority_policy":"pinned_client","priority_groups":["jobs"],"priority_timeout":2000000000"#,
    );
    h.publish("s.a", "1");
    let first = h.pull("C", r#"{"batch":5,"expires":9000000000,"group":"jobs"}"#);
    let delivered = h.take(&first);
    assert_eq!(payloads(&delivered), vec!["1"]);
    let pin = header(&delivered[0], "Nats-Pin-Id").expect("pin header");
    assert_eq!(pin.len(), 22);
    let pinned = h.take_prefix("$JS.EVENT.ADVISORY.CONSUMER.PINNED.S.C");
    assert_eq!(pinned.len(), 1);
    assert_eq!(
        h.info("C")["priority_groups"][0]["pinned_client_id"],
        pin.as_str()
    );
    let other = h.pull("C", r#"{"batch":5,"expires":9000000000,"group":"jobs"}"#);
    h.publish("s.a", "2");
    assert_eq!(
        payloads(&h.take(&first)),
        vec!["2"],
        "the pinned request first"
    );
    assert!(h.take(&other).is_empty());
    let wrong = h.pull("C", r#"{"batch":1,"group":"jobs","id":"NOTTHEPIN"}"#);
    assert_eq!(
        &h.take(&wrong)[0].headers[..],
        b"NATS/1.0 423 Nats-Pin-Id mismatch\r\n\r\n"
    );
    // The pinned client stops pulling: its pin times out and another gets a new one.
    h.advance(2 * SECOND + MILLI);
    let unpinned = h.take_prefix("$JS.EVENT.ADVISORY.CONSUMER.UNPINNED.S.C");
    assert_eq!(unpinned.len(), 1);
    let advisory: Value = serde_json::from_slice(&unpinned[0].payload).expect("json");
    assert_eq!(advisory["reason"], "timeout");
}

#[test]
fn a_standby_request_of_a_pinned_group_expires_with_408_while_messages_wait() {
    let mut h = Harness::new();
    h.pull_consumer(
        r#","priority_policy":"pinned_client","priority_groups":["jobs"],"priority_timeout":30000000000"#,
    );
    for index in 0..3 {
        h.publish("s.a", &format!("{index}"));
    }
    let first = h.pull("C", r#"{"batch":1,"expires":1000000000,"group":"jobs"}"#);
    assert_eq!(payloads(&h.take(&first)), vec!["0"]);
    let standby = h.pull("C", r#"{"batch":1,"expires":400000000,"group":"jobs"}"#);
    assert!(h.take(&standby).is_empty(), "the pin holds");
    h.advance(400 * MILLI + MILLI);
    let ended = h.take(&standby);
    assert_eq!(ended.len(), 1);
    assert_eq!(status_of(&ended[0]), "408 Request Timeout");
}

#[test]
fn prioritized_requests_with_lower_priority_numbers_are_served_first() {
    let mut h = Harness::new();
    h.pull_consumer(r#","priority_policy":"prioritized","priority_groups":["jobs"]"#);
    let low = h.pull(
        "C",
        r#"{"batch":1,"expires":9000000000,"group":"jobs","priority":5}"#,
    );
    let high = h.pull(
        "C",
        r#"{"batch":1,"expires":9000000000,"group":"jobs","priority":1}"#,
    );
    h.publish("s.a", "first");
    assert_eq!(payloads(&h.take(&high)), vec!["first"]);
    assert!(h.take(&low).is_empty());
    h.publish("s.a", "second");
    assert_eq!(payloads(&h.take(&low)), vec!["second"]);
}

#[test]
fn requests_needing_a_newer_api_get_412() {
    let mut h = Harness::new();
    h.pull_consumer("");
    let inbox = h.inbox();
    h.event(|set, cx, actions| {
        set.next_request(
            cx,
            "C",
            &inbox,
            None,
            b"NATS/1.0\r\nNats-Required-Api-Level: 9\r\n\r\n",
            b"",
            actions,
        );
    });
    assert_eq!(
        &h.take(&inbox)[0].headers[..],
        b"NATS/1.0 412 Required Api Level\r\n\r\n"
    );
}

#[test]
fn headers_only_delivers_headers_and_the_payload_size() {
    let mut h = Harness::new();
    h.publish_with(
        "s.a",
        Bytes::from_static(b"NATS/1.0\r\nK: v\r\n\r\n"),
        "12345",
    );
    h.pull_consumer(r#","headers_only":true"#);
    let inbox = h.pull("C", "");
    let delivered = h.take(&inbox);
    assert!(delivered[0].payload.is_empty());
    assert_eq!(
        &delivered[0].headers[..],
        b"NATS/1.0\r\nK: v\r\nNats-Msg-Size: 5\r\n\r\n"
    );
}

#[test]
fn filters_select_subjects_and_pending_counts_only_them() {
    let mut h = Harness::new();
    h.publish("s.a", "a1");
    h.publish("s.b", "b1");
    h.publish("s.c", "c1");
    h.publish("s.a", "a2");
    h.pull_consumer(r#","filter_subjects":["s.a","s.c"]"#);
    assert_eq!(h.info("C")["num_pending"], 3);
    let inbox = h.pull("C", r#"{"batch":10,"no_wait":true}"#);
    assert_eq!(payloads(&h.take(&inbox)), vec!["a1", "c1", "a2"]);
}

#[test]
fn info_settles_expired_requests_before_counting_them() {
    let mut h = Harness::new();
    h.pull_consumer("");
    let inbox = h.pull("C", r#"{"batch":2,"expires":1000000000}"#);
    // No timer fires: the clock jumps past the expiry and info is asked first.
    h.now += 2 * SECOND;
    assert_eq!(h.info("C")["num_waiting"], 0);
    assert_eq!(status_of(&h.take(&inbox)[0]), "408 Request Timeout");
}
