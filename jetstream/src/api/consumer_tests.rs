use std::collections::BTreeMap;

use serde_json::Value;

use super::schema_check::violations;
use super::*;
use crate::errors::{ApiError, ErrorId};
use crate::json;
use crate::testdata;
use crate::time::Timestamp;

/// A pull consumer's configuration as the Go server returns it after its defaults.
fn sample_config() -> ConsumerConfig {
    ConsumerConfig {
        durable: "WORK".to_owned(),
        name: "WORK".to_owned(),
        deliver_policy: DeliverPolicy::All,
        ack_policy: AckPolicy::Explicit,
        ack_wait: 30_000_000_000,
        max_deliver: -1,
        filter_subject: "orders.>".to_owned(),
        replay_policy: ReplayPolicy::Instant,
        max_waiting: 512,
        max_ack_pending: 1000,
        replicas: 1,
        metadata: BTreeMap::from([
            ("_nats.level".to_owned(), "4".to_owned()),
            ("_nats.req.level".to_owned(), "0".to_owned()),
            ("_nats.ver".to_owned(), "2.14.0".to_owned()),
        ]),
        ..ConsumerConfig::default()
    }
}

fn sample_info() -> ConsumerInfo {
    ConsumerInfo {
        stream: "ORDERS".to_owned(),
        name: "WORK".to_owned(),
        created: Timestamp::from_unix_nanos(1_714_557_600_123_456_789),
        config: Some(sample_config()),
        delivered: SequenceInfo {
            consumer: 3,
            stream: 7,
            last: Some(Timestamp::from_unix_nanos(1_714_557_601_000_000_000)),
        },
        ack_floor: SequenceInfo {
            consumer: 1,
            stream: 4,
            last: None,
        },
        num_ack_pending: 2,
        num_redelivered: 1,
        num_waiting: 0,
        num_pending: 5,
        cluster: None,
        push_bound: false,
        paused: false,
        pause_remaining: 0,
        ts: Timestamp::from_unix_nanos(1_714_557_603_000_000_000),
        priority_groups: Vec::new(),
    }
}

fn schema(name: &str) -> Option<Value> {
    let text = testdata::read(&format!("nats-data/jsm-schemas/jetstream/{name}"))?;
    Some(serde_json::from_str(&text).expect("schema is JSON"))
}

fn assert_conforms(schema_name: &str, value: &impl serde::Serialize) {
    assert_conforms_except(schema_name, value, &[]);
}

/// Checks against a schema, tolerating the violations that start with one of `known`: the
/// places where the schema and the Go server disagree (the Go server wins).
fn assert_conforms_except(schema_name: &str, value: &impl serde::Serialize, known: &[&str]) {
    let Some(schema) = schema(schema_name) else {
        return;
    };
    let value: Value = serde_json::from_slice(&json::to_vec(value)).expect("our JSON parses");
    let found: Vec<String> = violations(&schema, &value)
        .into_iter()
        .filter(|violation| !known.iter().any(|known| violation.starts_with(known)))
        .collect();
    assert!(found.is_empty(), "{schema_name}: {found:#?}\n{value}");
}

#[test]
fn consumer_config_serializes_in_gos_field_order_with_omitempty() {
    assert_eq!(
        json::to_string(&sample_config()),
        concat!(
            r#"{"durable_name":"WORK","name":"WORK","deliver_policy":"all","#,
            r#""ack_policy":"explicit","ack_wait":30000000000,"max_deliver":-1,"#,
            r#""filter_subject":"orders.\u003e","replay_policy":"instant","max_waiting":512,"#,
            r#""max_ack_pending":1000,"num_replicas":1,"metadata":{"_nats.level":"4","#,
            r#""_nats.req.level":"0","_nats.ver":"2.14.0"}}"#
        )
    );
}

#[test]
fn consumer_config_writes_every_set_field_in_gos_order() {
    let config = ConsumerConfig {
        description: "d".to_owned(),
        deliver_policy: DeliverPolicy::ByStartTime,
        opt_start_time: Some(Timestamp::from_unix_nanos(1_714_557_600_000_000_000)),
        backoff: vec![1_000_000_000, 2_000_000_000],
        rate_limit: 8000,
        sample_frequency: "50%".to_owned(),
        flow_control: true,
        headers_only: true,
        deliver_subject: "dlv".to_owned(),
        deliver_group: "g".to_owned(),
        heartbeat: 5_000_000_000,
        inactive_threshold: 1,
        memory_storage: true,
        pause_until: Some(Timestamp::from_unix_nanos(1_714_557_600_000_000_000)),
        ..ConsumerConfig::default()
    };
    assert_eq!(
        json::to_string(&config),
        concat!(
            r#"{"description":"d","deliver_policy":"by_start_time","#,
            r#""opt_start_time":"2024-05-01T10:00:00Z","ack_policy":"none","#,
            r#""backoff":[1000000000,2000000000],"replay_policy":"instant","#,
            r#""rate_limit_bps":8000,"sample_freq":"50%","flow_control":true,"#,
            r#""headers_only":true,"deliver_subject":"dlv","deliver_group":"g","#,
            r#""idle_heartbeat":5000000000,"inactive_threshold":1,"num_replicas":0,"#,
            r#""mem_storage":true,"pause_until":"2024-05-01T10:00:00Z"}"#
        )
    );
}

#[test]
fn create_request_decodes_what_clients_send() {
    let body = br#"{"stream_name":"ORDERS","config":{"durable_name":"W","deliver_policy":"last_per_subject",
        "ack_policy":"explicit","ack_wait":1000000000,"max_deliver":5,"backoff":[1,2],
        "filter_subjects":["a.>","b"],"replay_policy":"original","max_waiting":10,
        "max_ack_pending":20,"headers_only":false,"max_batch":100,"max_expires":5000000000,
        "max_bytes":1024,"inactive_threshold":3000000000,"num_replicas":0,"mem_storage":true,
        "metadata":{"k":"v"},"priority_groups":["jobs"],"priority_policy":"pinned_client",
        "priority_timeout":120000000000},"action":"create","pedantic":true}"#;
    let request = CreateConsumerRequest::from_json(body).expect("decodes");
    assert_eq!(request.stream, "ORDERS");
    assert_eq!(request.action, ConsumerAction::Create);
    assert!(request.pedantic);
    let config = &request.config;
    assert_eq!(config.deliver_policy, DeliverPolicy::LastPerSubject);
    assert_eq!(config.replay_policy, ReplayPolicy::Original);
    assert_eq!(config.priority_policy, PriorityPolicy::PinnedClient);
    assert_eq!(config.filters(), vec!["a.>".to_owned(), "b".to_owned()]);
    assert_eq!(config.max_request_batch, 100);
    assert_eq!(config.pinned_ttl, 120_000_000_000);
    let again: ConsumerConfig = serde_json::from_slice(&json::to_vec(config)).expect("again");
    assert_eq!(&again, config);
}

#[test]
fn create_request_errors_use_gos_words() {
    let cases: [(&[u8], &str); 5] = [
        (
            br#"{"config":{"ack_policy":"sometimes"}}"#,
            r#"can not unmarshal "\"sometimes\"""#,
        ),
        (
            br#"{"config":{"priority_policy":"loud"}}"#,
            r#"unknown priority policy: "loud""#,
        ),
        (
            br#"{"action":"upsert"}"#,
            r#"unknown consumer action: "upsert""#,
        ),
        (
            br#"{"config":{"durable":"x"}}"#,
            r#"json: unknown field "durable""#,
        ),
        // Go decodes requests with a streaming decoder, which reports a cut body this way.
        (br#"{"config":"#, "unexpected EOF"),
    ];
    for (body, text) in cases {
        let error = CreateConsumerRequest::from_json(body).expect_err("refused");
        assert_eq!(error.to_string(), text, "{}", String::from_utf8_lossy(body));
    }
    let undefined = br#"{"config":{"deliver_policy":"undefined","action":""}}"#;
    // "undefined" reads as "all"; an unknown key inside config is still refused.
    assert!(CreateConsumerRequest::from_json(undefined).is_err());
    let request = CreateConsumerRequest::from_json(br#"{"config":{"deliver_policy":"undefined"}}"#)
        .expect("undefined is all");
    assert_eq!(request.config.deliver_policy, DeliverPolicy::All);
    assert_eq!(request.action, ConsumerAction::CreateOrUpdate);
}

#[test]
fn consumer_info_reply_matches_gos_bytes_and_the_schema() {
    let reply = ConsumerInfoResponse::ok(CONSUMER_INFO_RESPONSE_TYPE, sample_info());
    let text = json::to_string(&reply);
    assert!(text.starts_with(
        r#"{"type":"io.nats.jetstream.api.v1.consumer_info_response","stream_name":"ORDERS","name":"WORK","created":"2024-05-01T10:00:00.123456789Z","config":{"#
    ));
    assert!(text.ends_with(concat!(
        r#""delivered":{"consumer_seq":3,"stream_seq":7,"last_active":"2024-05-01T10:00:01Z"},"#,
        r#""ack_floor":{"consumer_seq":1,"stream_seq":4},"num_ack_pending":2,"#,
        r#""num_redelivered":1,"num_waiting":0,"num_pending":5,"ts":"2024-05-01T10:00:03Z"}"#
    )));
    assert_conforms("api/v1/consumer_info_response.json", &reply);
    let created = ConsumerInfoResponse::ok(CONSUMER_CREATE_RESPONSE_TYPE, sample_info());
    assert_conforms("api/v1/consumer_create_response.json", &created);
}

#[test]
fn priority_group_state_always_writes_pinned_ts() {
    let mut info = sample_info();
    info.priority_groups = vec![PriorityGroupState {
        group: "jobs".to_owned(),
        ..PriorityGroupState::default()
    }];
    info.paused = true;
    info.pause_remaining = 5;
    info.push_bound = true;
    let text = json::to_string(&info);
    assert!(text.ends_with(concat!(
        r#""push_bound":true,"paused":true,"pause_remaining":5,"ts":"2024-05-01T10:00:03Z","#,
        r#""priority_groups":[{"group":"jobs","pinned_ts":"0001-01-01T00:00:00Z"}]}"#
    )));
    assert_conforms(
        "api/v1/consumer_info_response.json",
        &ConsumerInfoResponse::ok(CONSUMER_INFO_RESPONSE_TYPE, info),
    );
}

#[test]
fn error_replies_keep_gos_zero_fields() {
    let error = ApiError::new(ErrorId::StreamNotFound);
    assert_eq!(
        json::to_string(&ConsumerNamesResponse::error(error.clone())),
        concat!(
            r#"{"type":"io.nats.jetstream.api.v1.consumer_names_response","#,
            r#""error":{"code":404,"err_code":10059,"description":"stream not found"},"#,
            r#""total":0,"offset":0,"limit":0,"consumers":[]}"#
        )
    );
    assert_eq!(
        json::to_string(&ConsumerInfoResponse::error(
            CONSUMER_CREATE_RESPONSE_TYPE,
            ApiError::new(ErrorId::ConsumerNameExist)
        )),
        concat!(
            r#"{"type":"io.nats.jetstream.api.v1.consumer_create_response","#,
            r#""error":{"code":400,"err_code":10013,"description":"consumer name already in use"}}"#
        )
    );
    assert_eq!(
        json::to_string(&ConsumerPauseResponse::error(error.clone())),
        concat!(
            r#"{"type":"io.nats.jetstream.api.v1.consumer_pause_response","#,
            r#""error":{"code":404,"err_code":10059,"description":"stream not found"},"#,
            r#""paused":false,"pause_until":"0001-01-01T00:00:00Z"}"#
        )
    );
    assert_eq!(
        json::to_string(&ConsumerResetResponse::error(error.clone())),
        concat!(
            r#"{"type":"io.nats.jetstream.api.v1.consumer_reset_response","#,
            r#""error":{"code":404,"err_code":10059,"description":"stream not found"},"#,
            r#""reset_seq":0}"#
        )
    );
    // The names and list error replies carry `"consumers":[]` as Go's do, which the schemas'
    // `oneOf` (error or consumers) does not allow; the bytes above are Go's.
    for (name, value) in [
        (
            "consumer_delete_response",
            serde_json::to_value(ConsumerDeleteResponse::error(error.clone())),
        ),
        (
            "consumer_reset_response",
            serde_json::to_value(ConsumerResetResponse::error(error.clone())),
        ),
    ] {
        assert_conforms(&format!("api/v1/{name}.json"), &value.expect("value"));
    }
    // The pause error reply has Go's `paused` and `pause_until`, which the schema's `oneOf`
    // (error or pause) does not expect.
    assert_conforms_except(
        "api/v1/consumer_pause_response.json",
        &ConsumerPauseResponse::error(error.clone()),
        &["$: matches 2 of oneOf"],
    );
    // The unpin schema nests `error` inside `error`; the Go server's reply is flat.
    assert_conforms_except(
        "api/v1/consumer_unpin_response.json",
        &unpin_response(Some(error)),
        &["$.error: missing required \"error\""],
    );
}

#[test]
fn successful_replies_conform_to_the_schemas() {
    let paged = ApiPaged {
        total: 1,
        offset: 0,
        limit: CONSUMER_NAMES_LIMIT as u64,
    };
    assert_conforms(
        "api/v1/consumer_names_response.json",
        &ConsumerNamesResponse::ok(vec!["WORK".to_owned()], paged),
    );
    assert_conforms(
        "api/v1/consumer_list_response.json",
        &ConsumerListResponse::ok(vec![sample_info()], paged),
    );
    assert_eq!(
        json::to_string(&ConsumerDeleteResponse::ok()),
        r#"{"type":"io.nats.jetstream.api.v1.consumer_delete_response","success":true}"#
    );
    assert_conforms(
        "api/v1/consumer_delete_response.json",
        &ConsumerDeleteResponse::ok(),
    );
    assert_conforms("api/v1/consumer_unpin_response.json", &unpin_response(None));
    let until = Timestamp::from_unix_nanos(2_000_000_000_000_000_000);
    let pause = ConsumerPauseResponse::ok(until, 1_999_999_999_000_000_000);
    assert_eq!(
        json::to_string(&pause),
        concat!(
            r#"{"type":"io.nats.jetstream.api.v1.consumer_pause_response","paused":true,"#,
            r#""pause_until":"2033-05-18T03:33:20Z","pause_remaining":1000000000}"#
        )
    );
    assert_conforms("api/v1/consumer_pause_response.json", &pause);
    let resumed = ConsumerPauseResponse::ok(Timestamp::ZERO, 5);
    assert!(!resumed.paused);
    assert_conforms("api/v1/consumer_pause_response.json", &resumed);
    let reset = ConsumerResetResponse::ok(sample_info(), 5);
    assert!(json::to_string(&reset).ends_with(r#""ts":"2024-05-01T10:00:03Z","reset_seq":5}"#));
    assert_conforms("api/v1/consumer_reset_response.json", &reset);
}

#[test]
fn pull_request_reads_every_field_and_ignores_unknown_ones() {
    let body = br#"{"expires":5000000000,"batch":10,"max_bytes":100,"no_wait":true,
        "idle_heartbeat":1000000000,"group":"jobs","min_pending":3,"min_ack_pending":4,
        "id":"PIN","priority":2,"future":1}"#;
    let request: NextRequest = serde_json::from_slice(body).expect("decodes");
    assert_eq!(request.batch, 10);
    assert_eq!(request.priority, 2);
    assert_eq!(request.id, "PIN");
    let mut known = request.clone();
    known.priority = 9;
    assert_conforms("api/v1/consumer_getnext_request.json", &known);
}

fn event(kind: &str) -> TypedEvent {
    TypedEvent {
        kind: kind.to_owned(),
        id: "4Lm2Ng2Q4Q1YlYBLgkSbcn".to_owned(),
        timestamp: Timestamp::from_unix_nanos(1_714_557_600_000_000_000),
    }
}

#[test]
fn advisories_match_gos_bytes_and_the_schemas() {
    let action = ConsumerActionAdvisory {
        event: event(CONSUMER_ACTION_TYPE),
        stream: "S".to_owned(),
        consumer: "C".to_owned(),
        action: "create".to_owned(),
        domain: String::new(),
    };
    assert_eq!(
        json::to_string(&action),
        concat!(
            r#"{"type":"io.nats.jetstream.advisory.v1.consumer_action","#,
            r#""id":"4Lm2Ng2Q4Q1YlYBLgkSbcn","timestamp":"2024-05-01T10:00:00Z","#,
            r#""stream":"S","consumer":"C","action":"create"}"#
        )
    );
    assert_conforms("advisory/v1/consumer_action.json", &action);
    let pause = ConsumerPauseAdvisory {
        event: event(CONSUMER_PAUSE_TYPE),
        stream: "S".to_owned(),
        consumer: "C".to_owned(),
        paused: false,
        pause_until: Timestamp::ZERO,
        domain: "hub".to_owned(),
    };
    assert!(json::to_string(&pause)
        .ends_with(r#""paused":false,"pause_until":"0001-01-01T00:00:00Z","domain":"hub"}"#));
    assert_conforms("advisory/v1/consumer_pause.json", &pause);
    let metric = ConsumerAckMetric {
        event: event(CONSUMER_ACK_METRIC_TYPE),
        stream: "S".to_owned(),
        consumer: "C".to_owned(),
        consumer_seq: 2,
        stream_seq: 3,
        delay: 1500,
        deliveries: 1,
        domain: String::new(),
    };
    assert!(json::to_string(&metric)
        .ends_with(r#""consumer_seq":2,"stream_seq":3,"ack_time":1500,"deliveries":1}"#));
    assert_conforms("metric/v1/consumer_ack.json", &metric);
    let max = MaxDeliverAdvisory {
        event: event(MAX_DELIVER_TYPE),
        stream: "S".to_owned(),
        consumer: "C".to_owned(),
        stream_seq: 3,
        deliveries: 5,
        domain: String::new(),
    };
    assert_conforms("advisory/v1/max_deliver.json", &max);
    let nak = NakAdvisory {
        event: event(NAK_TYPE),
        stream: "S".to_owned(),
        consumer: "C".to_owned(),
        consumer_seq: 2,
        stream_seq: 3,
        deliveries: 1,
        domain: String::new(),
    };
    // The schema types `consumer_seq` as a string; the Go server writes a number.
    assert_conforms_except("advisory/v1/nak.json", &nak, &["$.consumer_seq: expected"]);
    let terminated = TerminatedAdvisory {
        event: event(TERMINATED_TYPE),
        stream: "S".to_owned(),
        consumer: "C".to_owned(),
        consumer_seq: 2,
        stream_seq: 3,
        deliveries: 1,
        reason: "bad input".to_owned(),
        domain: String::new(),
    };
    assert!(json::to_string(&terminated).ends_with(r#""deliveries":1,"reason":"bad input"}"#));
    assert_conforms_except(
        "advisory/v1/terminated.json",
        &terminated,
        &["$.consumer_seq: expected"],
    );
    let pinned = GroupPinnedAdvisory {
        event: event(GROUP_PINNED_TYPE),
        account: "A".to_owned(),
        stream: "S".to_owned(),
        consumer: "C".to_owned(),
        domain: String::new(),
        group: "jobs".to_owned(),
        pinned_client_id: "PIN".to_owned(),
    };
    assert!(json::to_string(&pinned).ends_with(r#""group":"jobs","pinned_id":"PIN"}"#));
    // The schemas require a `server` field that Go's pin advisories do not have.
    assert_conforms_except(
        "advisory/v1/consumer_group_pinned.json",
        &pinned,
        &["$: missing required \"server\""],
    );
    let unpinned = GroupUnpinnedAdvisory {
        event: event(GROUP_UNPINNED_TYPE),
        account: "A".to_owned(),
        stream: "S".to_owned(),
        consumer: "C".to_owned(),
        domain: String::new(),
        group: "jobs".to_owned(),
        reason: "admin".to_owned(),
    };
    assert_conforms_except(
        "advisory/v1/consumer_group_unpinned.json",
        &unpinned,
        &["$: missing required \"server\""],
    );
    assert_eq!(
        event_subject(CONSUMER_NAKED_PREFIX, "S", "C"),
        "$JS.EVENT.ADVISORY.CONSUMER.MSG_NAKED.S.C"
    );
}
