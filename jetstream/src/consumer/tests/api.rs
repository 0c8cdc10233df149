use super::*;
use crate::api::schema_check::violations;
use crate::testdata;

fn conforms(schema: &str, value: &Value) {
    let Some(text) = testdata::read(&format!("nats-data/jsm-schemas/jetstream/api/v1/{schema}"))
    else {
        return;
    };
    let schema: Value = serde_json::from_str(&text).expect("schema");
    let found = violations(&schema, value);
    assert!(found.is_empty(), "{found:#?}\n{value}");
}

fn request(
    h: &mut Harness,
    body: &[u8],
    call: impl FnOnce(&mut ConsumerSet, &Context<'_, MemStore>, &str, &[u8], &mut Vec<Action>),
) -> Value {
    let reply = h.inbox();
    let body = body.to_vec();
    h.event(|set, cx, actions| call(set, cx, &reply, &body, actions));
    h.json_reply(&reply)
}

#[test]
fn create_reply_is_gos_consumer_info_and_announces_the_consumer() {
    let mut h = Harness::new();
    h.publish("s.a", "m1");
    let reply = h.pull_consumer(r#","filter_subject":"s.a","metadata":{"team":"x"}"#);
    conforms("consumer_create_response.json", &reply);
    assert_eq!(
        reply["type"],
        "io.nats.jetstream.api.v1.consumer_create_response"
    );
    assert_eq!(reply["stream_name"], "S");
    assert_eq!(reply["name"], "C");
    assert_eq!(reply["num_pending"], 1);
    let config = &reply["config"];
    assert_eq!(config["ack_wait"], 30 * SECOND);
    assert_eq!(config["max_deliver"], -1);
    assert_eq!(config["max_waiting"], 512);
    assert_eq!(config["max_ack_pending"], 1000);
    assert_eq!(config["metadata"]["team"], "x");
    assert_eq!(config["metadata"]["_nats.req.level"], "0");
    assert_eq!(config["metadata"]["_nats.level"], "4");
    let created = h.take_prefix("$JS.EVENT.ADVISORY.CONSUMER.CREATED.S.C");
    assert_eq!(created.len(), 1);
    let advisory: Value = serde_json::from_slice(&created[0].payload).expect("json");
    assert_eq!(advisory["action"], "create");
    // The record saved holds the configuration without the reply-only metadata.
    let record = h.store.consumer_state("C").expect("saved");
    let metadata: Value = serde_json::from_slice(&record.metadata).expect("json");
    assert_eq!(metadata["config"]["metadata"]["_nats.ver"], Value::Null);
}

#[test]
fn create_errors_are_gos_replies() {
    let mut h = Harness::new();
    let mismatch = h.create(
        "$JS.API.CONSUMER.CREATE.S.C",
        r#"{"stream_name":"T","config":{"ack_policy":"explicit"}}"#,
    );
    assert_eq!(
        crate::json::to_string(&mismatch),
        concat!(
            r#"{"error":{"code":400,"description":"stream name in subject does not match request","#,
            r#""err_code":10056},"type":"io.nats.jetstream.api.v1.consumer_create_response"}"#
        )
    );
    let bad_json = h.create(
        "$JS.API.CONSUMER.CREATE.S.C",
        r#"{"stream_name":"S","config":{"ack_wait":"x"}}"#,
    );
    assert_eq!(bad_json["error"]["err_code"], 10025);
    let reply = h.inbox();
    h.event(|set, cx, actions| {
        set.create(cx, "$JS.API.CONSUMER", &reply, &[], b"{}", actions);
    });
    assert!(
        h.take(&reply).is_empty(),
        "too short a subject gets no reply"
    );
}

#[test]
fn a_legacy_ephemeral_gets_a_generated_name() {
    let mut h = Harness::new();
    let reply = h.create(
        "$JS.API.CONSUMER.CREATE.S",
        r#"{"stream_name":"S","config":{"ack_policy":"explicit","deliver_subject":"dlv"}}"#,
    );
    let name = reply["name"].as_str().expect("name");
    assert_eq!(name.len(), 8);
    assert_eq!(reply["config"]["name"], name);
    assert_eq!(reply["config"]["inactive_threshold"], 5 * SECOND);
}

#[test]
fn creating_the_same_consumer_twice_answers_with_it() {
    let mut h = Harness::new();
    let first = h.pull_consumer("");
    let body = r#"{"stream_name":"S","config":{"durable_name":"C","ack_policy":"explicit"},"action":"create"}"#;
    let second = h.create("$JS.API.CONSUMER.DURABLE.CREATE.S.C", body);
    assert!(second.get("error").is_none(), "{second}");
    assert_eq!(first["created"], second["created"]);
    let changed = h.create(
        "$JS.API.CONSUMER.DURABLE.CREATE.S.C",
        r#"{"stream_name":"S","config":{"durable_name":"C","ack_policy":"explicit","description":"x"},"action":"create"}"#,
    );
    assert_eq!(changed["error"]["err_code"], 10148);
}

#[test]
fn an_update_changes_what_may_change() {
    let mut h = Harness::new();
    h.pull_consumer("");
    let updated = h.create(
        "$JS.API.CONSUMER.DURABLE.CREATE.S.C",
        r#"{"stream_name":"S","config":{"durable_name":"C","ack_policy":"explicit","max_ack_pending":5,"description":"new"},"action":"update"}"#,
    );
    assert_eq!(updated["config"]["max_ack_pending"], 5);
    assert_eq!(updated["config"]["description"], "new");
    let refused = h.create(
        "$JS.API.CONSUMER.DURABLE.CREATE.S.C",
        r#"{"stream_name":"S","config":{"durable_name":"C","ack_policy":"all"}}"#,
    );
    assert_eq!(
        refused["error"]["description"],
        "ack policy can not be updated"
    );
}

#[test]
fn info_names_and_list_page_as_go_does() {
    let mut h = Harness::new();
    for name in ["B", "A", "C"] {
        let body = format!(
            r#"{{"stream_name":"S","config":{{"durable_name":"{name}","ack_policy":"explicit"}}}}"#
        );
        h.create(&format!("$JS.API.CONSUMER.DURABLE.CREATE.S.{name}"), &body);
    }
    let names = request(&mut h, b"", |set, _, reply, body, actions| {
        set.names_request(reply, body, actions)
    });
    conforms("consumer_names_response.json", &names);
    assert_eq!(names["consumers"], serde_json::json!(["A", "B", "C"]));
    assert_eq!(
        (names["total"].clone(), names["limit"].clone()),
        (3.into(), 1024.into())
    );
    let page = request(
        &mut h,
        br#"{"offset":2}"#,
        |set, cx, reply, body, actions| set.list(cx, reply, body, actions),
    );
    conforms("consumer_list_response.json", &page);
    assert_eq!(page["consumers"].as_array().expect("list").len(), 1);
    assert_eq!(page["consumers"][0]["name"], "C");
    // As in Go, list entries show the configuration as stored, without `_nats.ver`.
    let metadata = &page["consumers"][0]["config"]["metadata"];
    assert_eq!(metadata, &serde_json::json!({"_nats.req.level": "0"}));
    assert!(h.info("C")["config"]["metadata"]["_nats.ver"].is_string());
    assert_eq!(
        (page["offset"].clone(), page["limit"].clone()),
        (2.into(), 256.into())
    );
    let bad = request(
        &mut h,
        br#"{"offset":"x"}"#,
        |set, _, reply, body, actions| set.names_request(reply, body, actions),
    );
    assert_eq!(bad["error"]["err_code"], 10025);
    let info = h.info("A");
    conforms("consumer_info_response.json", &info);
    let missing = h.info("Z");
    assert_eq!(missing["error"]["err_code"], 10014);
    let not_empty = request(&mut h, br#"{"x":1}"#, |set, cx, reply, body, actions| {
        set.info(cx, "A", reply, body, actions)
    });
    assert_eq!(not_empty["error"]["err_code"], 10038);
}

#[test]
fn delete_replies_and_announces() {
    let mut h = Harness::new();
    h.pull_consumer("");
    let deleted = request(&mut h, b"", |set, cx, reply, body, actions| {
        set.delete(cx, "C", reply, body, actions)
    });
    assert_eq!(
        crate::json::to_string(&deleted),
        r#"{"success":true,"type":"io.nats.jetstream.api.v1.consumer_delete_response"}"#
    );
    assert_eq!(
        h.take_prefix("$JS.EVENT.ADVISORY.CONSUMER.DELETED.S.C")
            .len(),
        1
    );
    let again = request(&mut h, b"", |set, cx, reply, body, actions| {
        set.delete(cx, "C", reply, body, actions)
    });
    assert_eq!(again["error"]["err_code"], 10014);
}

#[test]
fn pause_with_no_body_resumes() {
    let mut h = Harness::new();
    h.pull_consumer("");
    let resumed = request(&mut h, b"", |set, cx, reply, body, actions| {
        set.pause(cx, "C", reply, body, actions)
    });
    conforms("consumer_pause_response.json", &resumed);
    assert_eq!(resumed["paused"], false);
    assert_eq!(resumed["pause_until"], "0001-01-01T00:00:00Z");
    let missing = request(&mut h, b"", |set, cx, reply, body, actions| {
        set.pause(cx, "Z", reply, body, actions)
    });
    assert_eq!(missing["error"]["err_code"], 10014);
}

#[test]
fn unpin_checks_the_group_as_go_does() {
    let mut h = Harness::new();
    h.pull_consumer(r#","priority_policy":"pinned_client","priority_groups":["jobs"]"#);
    let cases: [(&[u8], &str, Option<u16>); 5] = [
        (b"", "C", Some(10025)),
        (br#"{}"#, "C", Some(10025)),
        (br#"{"group":"bad group"}"#, "C", Some(10162)),
        (br#"{"group":"jobs"}"#, "Z", Some(10014)),
        (br#"{"group":"other"}"#, "C", Some(10160)),
    ];
    for (body, consumer, code) in cases {
        let consumer = consumer.to_owned();
        let reply = request(&mut h, body, |set, cx, reply, body, actions| {
            set.unpin(cx, &consumer, reply, body, actions)
        });
        assert_eq!(
            reply["error"]["err_code"].as_u64(),
            code.map(u64::from),
            "{reply}"
        );
    }
    let empty = request(&mut h, b"", |set, cx, reply, body, actions| {
        set.unpin(cx, "C", reply, body, actions)
    });
    assert_eq!(
        empty["error"]["description"],
        "invalid JSON: unexpected end of JSON input"
    );
    let ok = request(
        &mut h,
        br#"{"group":"jobs"}"#,
        |set, cx, reply, body, actions| set.unpin(cx, "C", reply, body, actions),
    );
    assert_eq!(
        crate::json::to_string(&ok),
        r#"{"type":"io.nats.jetstream.api.v1.consumer_unpin_response"}"#
    );
    let unpinned = h.take_prefix("$JS.EVENT.ADVISORY.CONSUMER.UNPINNED.S.C");
    let advisory: Value = serde_json::from_slice(&unpinned[0].payload).expect("json");
    assert_eq!(advisory["reason"], "admin");
}

#[test]
fn changing_a_push_consumers_deliver_subject_redelivers_what_is_pending() {
    let mut h = Harness::new();
    h.publish("s.a", "m1");
    h.create(
        "$JS.API.CONSUMER.DURABLE.CREATE.S.P",
        r#"{"stream_name":"S","config":{"durable_name":"P","deliver_subject":"one","ack_policy":"explicit"}}"#,
    );
    assert_eq!(payloads(&h.take("one")), vec!["m1"]);
    h.interest.gone.insert("one".to_owned());
    let moved = h.create(
        "$JS.API.CONSUMER.DURABLE.CREATE.S.P",
        r#"{"stream_name":"S","config":{"durable_name":"P","deliver_subject":"two","ack_policy":"explicit"}}"#,
    );
    assert!(moved.get("error").is_none(), "{moved}");
    assert_eq!(h.watched.get("P").map(String::as_str), Some("two"));
    assert_eq!(payloads(&h.take("two")), vec!["m1"]);
}
