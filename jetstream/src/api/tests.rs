use std::collections::BTreeMap;

use serde_json::Value;

use super::schema_check::violations;
use super::*;
use crate::errors::{ApiError, ErrorId};
use crate::json;
use crate::testdata;
use crate::time::Timestamp;

/// A configuration as the Go server returns it after its defaults.
fn sample_config() -> StreamConfig {
    StreamConfig {
        name: "ORDERS".to_owned(),
        subjects: vec!["orders.>".to_owned()],
        max_consumers: -1,
        max_msgs: -1,
        max_bytes: -1,
        max_age: 0,
        max_msgs_per_subject: -1,
        max_msg_size: -1,
        num_replicas: 1,
        duplicate_window: 120_000_000_000,
        metadata: Some(BTreeMap::from([
            ("_nats.level".to_owned(), "4".to_owned()),
            ("_nats.req.level".to_owned(), "0".to_owned()),
            ("_nats.ver".to_owned(), "2.14.0".to_owned()),
        ])),
        ..StreamConfig::default()
    }
}

fn sample_info() -> StreamInfo {
    StreamInfo {
        config: sample_config(),
        created: Timestamp::from_unix_nanos(1_714_557_600_123_456_789),
        state: StreamState {
            messages: 2,
            bytes: 90,
            first_seq: 1,
            first_ts: Timestamp::from_unix_nanos(1_714_557_601_000_000_000),
            last_seq: 2,
            last_ts: Timestamp::from_unix_nanos(1_714_557_602_000_000_000),
            num_subjects: 1,
            ..StreamState::default()
        },
        domain: String::new(),
        cluster: Some(ClusterInfo {
            leader: "natrix".to_owned(),
            ..ClusterInfo::default()
        }),
        mirror: None,
        sources: Vec::new(),
        alternates: Vec::new(),
        ts: Timestamp::from_unix_nanos(1_714_557_603_000_000_000),
    }
}

#[test]
fn stream_config_serializes_in_gos_field_order_with_omitempty() {
    let text = json::to_string(&sample_config());
    assert_eq!(
        text,
        concat!(
            r#"{"name":"ORDERS","subjects":["orders.\u003e"],"retention":"limits","#,
            r#""max_consumers":-1,"max_msgs":-1,"max_bytes":-1,"max_age":0,"#,
            r#""max_msgs_per_subject":-1,"max_msg_size":-1,"discard":"old","storage":"file","#,
            r#""num_replicas":1,"duplicate_window":120000000000,"compression":"none","#,
            r#""allow_direct":false,"mirror_direct":false,"sealed":false,"deny_delete":false,"#,
            r#""deny_purge":false,"allow_rollup_hdrs":false,"consumer_limits":{},"#,
            r#""allow_msg_ttl":false,"metadata":{"_nats.level":"4","_nats.req.level":"0","#,
            r#""_nats.ver":"2.14.0"}}"#
        )
    );
}

#[test]
fn stream_config_decodes_a_client_request_with_every_newer_field() {
    let body = br#"{"name":"KV_b","subjects":["$KV.b.>"],"retention":"limits",
        "max_consumers":-1,"max_msgs":-1,"max_bytes":-1,"max_age":0,"max_msgs_per_subject":5,
        "max_msg_size":-1,"discard":"NEW","storage":"memory","num_replicas":1,
        "duplicate_window":120000000000,"allow_direct":true,"mirror_direct":false,
        "allow_rollup_hdrs":true,"deny_delete":true,"deny_purge":false,"compression":"s2",
        "allow_msg_ttl":true,"subject_delete_marker_ttl":1000000000,"allow_msg_counter":false,
        "allow_atomic":true,"allow_msg_schedules":false,"persist_mode":"async",
        "allow_batched":true,"first_seq":10,"consumer_limits":{"max_ack_pending":7},
        "republish":{"src":">","dest":"re.>","headers_only":true},
        "subject_transform":{"src":"$KV.b.>","dest":"x.>"},
        "placement":{"cluster":"c","tags":["a"]},
        "sources":[{"name":"S","opt_start_time":"2024-05-01T10:00:00Z","filter_subject":"a"}],
        "metadata":{"k":"v"}}"#;
    let request = StreamConfigRequest::from_json(body).expect("decodes");
    let config = request.config;
    assert_eq!(
        config.discard,
        DiscardPolicy::New,
        "discard is case-insensitive"
    );
    assert_eq!(config.storage, StorageType::Memory);
    assert_eq!(config.compression, Compression::S2);
    assert_eq!(config.persist_mode, PersistMode::Async);
    assert_eq!(config.first_seq, 10);
    assert_eq!(config.consumer_limits.max_ack_pending, 7);
    assert_eq!(
        config.sources[0].opt_start_time,
        Some(Timestamp::from_unix_nanos(1_714_557_600_000_000_000))
    );
    assert!(config.allow_batched && config.allow_atomic && config.allow_msg_ttl);
    // And what it wrote back decodes to the same configuration.
    let again: StreamConfig = serde_json::from_slice(&json::to_vec(&config)).expect("again");
    assert_eq!(again, config);
}

#[test]
fn stream_config_request_takes_pedantic_and_refuses_unknown_fields() {
    let request = StreamConfigRequest::from_json(br#"{"name":"A","pedantic":true}"#).expect("ok");
    assert!(request.pedantic);
    assert_eq!(request.config.name, "A");
    let error = StreamConfigRequest::from_json(br#"{"name":"A","max_msg":1}"#).expect_err("bad");
    assert_eq!(error.to_string(), r#"json: unknown field "max_msg""#);
    let error = StreamConfigRequest::from_json(br#"{"retention":"forever"}"#).expect_err("bad");
    assert_eq!(error.to_string(), r#"can not unmarshal "\"forever\"""#);
    let empty = StreamConfigRequest::from_json(b"").expect("empty body");
    assert_eq!(empty.config, StreamConfig::default());
}

#[test]
fn error_replies_keep_gos_zero_fields() {
    let error = ApiError::new(ErrorId::StreamNotFound);
    assert_eq!(
        json::to_string(&StreamNamesResponse::error(error.clone())),
        concat!(
            r#"{"type":"io.nats.jetstream.api.v1.stream_names_response","#,
            r#""error":{"code":404,"err_code":10059,"description":"stream not found"},"#,
            r#""total":0,"offset":0,"limit":0,"streams":null}"#
        )
    );
    assert_eq!(
        json::to_string(&StreamPurgeResponse::error(error.clone())),
        concat!(
            r#"{"type":"io.nats.jetstream.api.v1.stream_purge_response","#,
            r#""error":{"code":404,"err_code":10059,"description":"stream not found"},"purged":0}"#
        )
    );
    assert_eq!(
        String::from_utf8(PubAckResponse::error(
            "S",
            ApiError::new(ErrorId::StreamSealed)
        ))
        .expect("utf8"),
        r#"{"error":{"code":400,"err_code":10109,"description":"invalid operation on sealed stream"},"stream":"S","seq":0}"#
    );
}

#[test]
fn stored_msg_is_base64_with_rfc3339_time() {
    let message = natrix_storage::StoredMessage {
        seq: 3,
        subject: "a".to_owned(),
        headers: bytes::Bytes::from_static(b"NATS/1.0\r\n\r\n"),
        payload: bytes::Bytes::from_static(b"hi"),
        timestamp_ns: 1_714_557_600_000_000_000,
        ttl_ns: 0,
    };
    assert_eq!(
        json::to_string(&StoredMsg::from_store(&message, false)),
        r#"{"subject":"a","seq":3,"hdrs":"TkFUUy8xLjANCg0K","data":"aGk=","time":"2024-05-01T10:00:00Z"}"#
    );
    assert_eq!(
        json::to_string(&StoredMsg::from_store(&message, true)),
        r#"{"subject":"a","seq":3,"data":"aGk=","time":"2024-05-01T10:00:00Z"}"#
    );
}

fn schema(name: &str) -> Option<Value> {
    let text = testdata::read(&format!(
        "nats-data/jsm-schemas/jetstream/api/v1/{name}.json"
    ))?;
    Some(serde_json::from_str(&text).expect("schema json"))
}

fn assert_conforms(schema_name: &str, reply: &impl serde::Serialize) {
    let Some(schema) = schema(schema_name) else {
        return;
    };
    let value: Value = serde_json::from_slice(&json::to_vec(reply)).expect("reply json");
    let found = violations(&schema, &value);
    assert!(found.is_empty(), "{schema_name}: {found:#?}\n{value:#}");
}

#[test]
fn replies_conform_to_the_jsm_schemas() {
    let not_found = ApiError::new(ErrorId::StreamNotFound);
    assert_conforms(
        "stream_create_response",
        &StreamCreateResponse::ok(sample_info(), true),
    );
    assert_conforms(
        "stream_create_response",
        &StreamCreateResponse::error(not_found.clone()),
    );
    assert_conforms(
        "stream_update_response",
        &StreamUpdateResponse::ok(sample_info()),
    );
    let paged = ApiPaged {
        total: 1,
        offset: 0,
        limit: 1024,
    };
    assert_conforms(
        "stream_info_response",
        &StreamInfoResponse::ok(sample_info(), paged),
    );
    assert_conforms(
        "stream_info_response",
        &StreamInfoResponse::error(not_found.clone()),
    );
    assert_conforms(
        "stream_names_response",
        &StreamNamesResponse::ok(vec!["ORDERS".to_owned()], paged),
    );
    assert_conforms(
        "stream_list_response",
        &StreamListResponse::ok(vec![sample_info()], paged),
    );
    assert_conforms("stream_delete_response", &StreamDeleteResponse::ok());
    assert_conforms("stream_purge_response", &StreamPurgeResponse::ok(5));
    assert_conforms("stream_msg_delete_response", &MsgDeleteResponse::ok());
    assert_conforms(
        "stream_msg_get_response",
        &MsgGetResponse::ok(StoredMsg {
            subject: "orders.1".to_owned(),
            seq: 1,
            hdrs: Vec::new(),
            data: b"x".to_vec(),
            time: Timestamp::from_unix_nanos(1),
        }),
    );
    assert_conforms(
        "account_info_response",
        &AccountInfoResponse::ok(AccountStats {
            api: ApiStats {
                level: API_LEVEL,
                total: 3,
                errors: 1,
                inflight: 0,
            },
            ..AccountStats::default()
        }),
    );
    assert_conforms(
        "pub_ack_response",
        &PubAckResponse {
            error: None,
            ack: PubAck {
                stream: "ORDERS".to_owned(),
                seq: 1,
                ..PubAck::default()
            },
        },
    );
}

#[test]
fn schema_checker_catches_a_reply_that_breaks_the_schema() {
    let Some(schema) = schema("pub_ack_response") else {
        return;
    };
    let broken = serde_json::json!({"seq": "one"});
    assert!(!violations(&schema, &broken).is_empty());
    let Some(schema) = schema_for_create() else {
        return;
    };
    let mut info: Value = serde_json::from_slice(&json::to_vec(&StreamCreateResponse::ok(
        sample_info(),
        true,
    )))
    .expect("json");
    info["config"]["retention"] = Value::from("forever");
    assert!(!violations(&schema, &info).is_empty());
}

fn schema_for_create() -> Option<Value> {
    schema("stream_create_response")
}
