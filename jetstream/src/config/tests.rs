use super::*;
use crate::api::{RePublish, StreamConfigRequest, StreamSource, SubjectTransform};

fn base(name: &str) -> StreamConfig {
    StreamConfig {
        name: name.to_owned(),
        ..StreamConfig::default()
    }
}

fn check(config: &StreamConfig) -> Result<StreamConfig, ApiError> {
    check_stream_config(config, false, &ConfigLimits::default(), &())
}

fn description(result: Result<StreamConfig, ApiError>) -> String {
    match result {
        Ok(_) => "ok".to_owned(),
        Err(error) => format!("{} {}", error.err_code, error.description),
    }
}

#[test]
fn defaults_are_the_go_servers() {
    let config = check(&base("ORDERS")).expect("valid");
    assert_eq!(config.subjects, vec!["ORDERS".to_owned()]);
    assert_eq!(
        (
            config.max_msgs,
            config.max_bytes,
            config.max_msgs_per_subject
        ),
        (-1, -1, -1)
    );
    assert_eq!((config.max_consumers, config.max_msg_size), (-1, -1));
    assert_eq!(config.num_replicas, 1);
    assert_eq!(config.duplicate_window, DEFAULT_DUPLICATE_WINDOW_NS);
    // A max age below two minutes bounds the default duplicate window.
    let short = check(&StreamConfig {
        max_age: 1_000_000_000,
        ..base("A")
    })
    .expect("valid");
    assert_eq!(short.duplicate_window, 1_000_000_000);
    // The server's limit bounds it too.
    let limits = ConfigLimits {
        duplicate_window_max_ns: 30_000_000_000,
        ..ConfigLimits::default()
    };
    let limited = check_stream_config(&base("A"), false, &limits, &()).expect("valid");
    assert_eq!(limited.duplicate_window, 30_000_000_000);
}

#[test]
fn invalid_configurations_get_the_go_servers_errors() {
    let cases: Vec<(&str, StreamConfig, &str)> = vec![
        (
            "empty name",
            base(""),
            "10052 stream name is required and can not contain '.', '*', '>', '\\', '/'",
        ),
        (
            "dotted name",
            base("a.b"),
            "10052 stream name is required and can not contain '.', '*', '>', '\\', '/'",
        ),
        (
            "long name",
            base(&"n".repeat(256)),
            "10052 stream name is too long, maximum allowed is 255",
        ),
        (
            "replicas",
            StreamConfig {
                num_replicas: 6,
                ..base("A")
            },
            "10052 maximum replicas is 5",
        ),
        (
            "negative replicas",
            StreamConfig {
                num_replicas: -1,
                ..base("A")
            },
            "10133 replicas count cannot be negative",
        ),
        (
            "negative age",
            StreamConfig {
                max_age: -1,
                ..base("A")
            },
            "10052 max age can not be negative",
        ),
        (
            "short age",
            StreamConfig {
                max_age: 1,
                ..base("A")
            },
            "10052 max age needs to be >= 100ms",
        ),
        (
            "negative window",
            StreamConfig {
                duplicate_window: -1,
                ..base("A")
            },
            "10052 duplicates window can not be negative",
        ),
        (
            "window over age",
            StreamConfig {
                max_age: 1_000_000_000,
                duplicate_window: 2_000_000_000,
                ..base("A")
            },
            "10052 duplicates window can not be larger then max age",
        ),
        (
            "short window",
            StreamConfig {
                duplicate_window: 1_000,
                ..base("A")
            },
            "10052 duplicates window needs to be >= 100ms",
        ),
        (
            "rollup without purge",
            StreamConfig {
                deny_purge: true,
                allow_rollup_hdrs: true,
                ..base("A")
            },
            "10052 roll-ups require the purge permission",
        ),
        (
            "counter discard new",
            StreamConfig {
                allow_msg_counter: true,
                discard: DiscardPolicy::New,
                ..base("A")
            },
            "10052 counter stream cannot use discard new",
        ),
        (
            "counter ttl",
            StreamConfig {
                allow_msg_counter: true,
                allow_msg_ttl: true,
                ..base("A")
            },
            "10052 counter stream cannot use message TTLs",
        ),
        (
            "counter interest",
            StreamConfig {
                allow_msg_counter: true,
                retention: RetentionPolicy::Interest,
                ..base("A")
            },
            "10052 counter stream can only use limits retention",
        ),
        (
            "per subject without new",
            StreamConfig {
                discard_new_per_subject: true,
                ..base("A")
            },
            "10052 discard new per subject requires discard new policy to be set",
        ),
        (
            "per subject without limit",
            StreamConfig {
                discard_new_per_subject: true,
                discard: DiscardPolicy::New,
                ..base("A")
            },
            "10052 discard new per subject requires max msgs per subject > 0",
        ),
        (
            "short marker ttl",
            StreamConfig {
                subject_delete_marker_ttl: 1,
                ..base("A")
            },
            "10052 subject delete marker TTL must be at least 1 second",
        ),
        (
            "negative marker ttl",
            StreamConfig {
                subject_delete_marker_ttl: -1,
                ..base("A")
            },
            "10052 subject delete marker TTL must not be negative",
        ),
        (
            "schedules discard new",
            StreamConfig {
                allow_msg_schedules: true,
                discard: DiscardPolicy::New,
                ..base("A")
            },
            "10052 message scheduling cannot use discard new",
        ),
        (
            "async memory",
            StreamConfig {
                persist_mode: PersistMode::Async,
                storage: StorageType::Memory,
                ..base("A")
            },
            "10052 async persist mode is only supported on file storage",
        ),
        (
            "async atomic",
            StreamConfig {
                persist_mode: PersistMode::Async,
                allow_atomic: true,
                ..base("A")
            },
            "10052 async persist mode is not supported with atomic batch publish",
        ),
        (
            "invalid subject",
            StreamConfig {
                subjects: vec!["a..b".into()],
                ..base("A")
            },
            "10052 invalid subject",
        ),
        (
            "duplicate subject",
            StreamConfig {
                subjects: vec!["a".into(), "a".into()],
                ..base("A")
            },
            "10052 subject \"a\" overlaps with \"a\"",
        ),
        (
            "capture all",
            StreamConfig {
                subjects: vec![">".into()],
                ..base("A")
            },
            "10052 capturing all subjects requires no-ack to be true",
        ),
        (
            "js api",
            StreamConfig {
                subjects: vec!["$JS.API.>".into()],
                ..base("A")
            },
            "10052 subjects that overlap with jetstream api require no-ack to be true",
        ),
        (
            "sys api",
            StreamConfig {
                subjects: vec!["$SYS.>".into()],
                ..base("A")
            },
            "10052 subjects that overlap with system api require no-ack to be true",
        ),
        (
            "self overlap",
            StreamConfig {
                subjects: vec!["a.*".into(), "a.b".into()],
                ..base("A")
            },
            "10052 subject \"a.*\" overlaps with \"a.b\"",
        ),
        (
            "mirror with subjects",
            StreamConfig {
                mirror: Some(StreamSource {
                    name: "O".into(),
                    ..Default::default()
                }),
                subjects: vec!["a".into()],
                ..base("A")
            },
            "10034 stream mirrors can not contain subjects",
        ),
        (
            "mirror first seq",
            StreamConfig {
                mirror: Some(StreamSource {
                    name: "O".into(),
                    ..Default::default()
                }),
                first_seq: 5,
                ..base("A")
            },
            "10143 stream mirrors can not have first sequence configured",
        ),
        (
            "bad source name",
            StreamConfig {
                sources: vec![StreamSource {
                    name: "a.b".into(),
                    ..Default::default()
                }],
                ..base("A")
            },
            "10141 sourced stream name is invalid",
        ),
        (
            "duplicate source",
            StreamConfig {
                sources: vec![
                    StreamSource {
                        name: "S".into(),
                        ..Default::default()
                    },
                    StreamSource {
                        name: "S".into(),
                        ..Default::default()
                    },
                ],
                ..base("A")
            },
            "10140 duplicate source configuration detected",
        ),
        (
            "transform source",
            StreamConfig {
                subject_transform: Some(SubjectTransform {
                    src: "a..b".into(),
                    dest: "c".into(),
                }),
                ..base("A")
            },
            "10155 stream transform source: invalid subject a..b",
        ),
        (
            "republish cycle",
            StreamConfig {
                subjects: vec!["a.>".into()],
                republish: Some(RePublish {
                    src: ">".into(),
                    dest: "a.b".into(),
                    headers_only: false,
                }),
                ..base("A")
            },
            "10052 stream configuration for republish destination forms a cycle",
        ),
        (
            "preferred",
            StreamConfig {
                placement: Some(crate::api::Placement {
                    preferred: "s".into(),
                    ..Default::default()
                }),
                ..base("A")
            },
            "10052 preferred server not permitted in placement",
        ),
    ];
    for (what, config, expected) in cases {
        assert_eq!(description(check(&config)), expected, "{what}");
    }
}

#[test]
fn pedantic_mode_refuses_what_defaults_would_adjust() {
    let config = StreamConfig {
        max_msgs: -5,
        ..base("A")
    };
    assert_eq!(check(&config).expect("adjusted").max_msgs, -1);
    let refused = check_stream_config(&config, true, &ConfigLimits::default(), &());
    assert_eq!(
        description(refused),
        "10157 pedantic mode: max_msgs must be set to -1"
    );
    let marker = StreamConfig {
        subject_delete_marker_ttl: 1_000_000_000,
        ..base("A")
    };
    let adjusted = check(&marker).expect("adjusted");
    assert!(adjusted.allow_msg_ttl && adjusted.allow_rollup_hdrs);
}

#[test]
fn account_max_bytes_limits_apply() {
    let mut limits = ConfigLimits::default();
    limits.account.max_bytes_required = true;
    assert_eq!(
        description(check_stream_config(&base("A"), false, &limits, &())),
        "10113 account requires a stream config to have max bytes set"
    );
    limits.account.max_bytes_required = false;
    limits.account.storage_max_stream_bytes = 100;
    let config = StreamConfig {
        max_bytes: 1000,
        ..base("A")
    };
    assert_eq!(
        description(check_stream_config(&config, false, &limits, &())),
        "10122 stream max bytes exceeds account limit max stream bytes"
    );
}

#[test]
fn source_cycles_are_detected_through_the_directory() {
    let others = vec![StreamConfig {
        name: "B".into(),
        subjects: vec!["b".into()],
        sources: vec![StreamSource {
            name: "A".into(),
            ..Default::default()
        }],
        ..StreamConfig::default()
    }];
    let config = StreamConfig {
        subjects: vec!["a".into()],
        sources: vec![StreamSource {
            name: "B".into(),
            ..Default::default()
        }],
        ..base("A")
    };
    let result = check_stream_config(&config, false, &ConfigLimits::default(), &others);
    assert_eq!(description(result), "10052 detected cycle");
}

fn request(config: StreamConfig) -> StreamConfigRequest {
    StreamConfigRequest {
        config,
        pedantic: false,
    }
}

#[test]
fn create_checks_the_subject_name_seal_and_replicas() {
    let limits = ConfigLimits::default();
    let cases = [
        (
            "B",
            base("A"),
            "10056 stream name in subject does not match request",
        ),
        (
            "A",
            StreamConfig {
                sealed: true,
                ..base("A")
            },
            "10052 stream configuration for create can not be sealed",
        ),
        (
            "A",
            StreamConfig {
                mirror_direct: true,
                ..base("A")
            },
            "10052 stream has no mirror but does have mirror direct",
        ),
        (
            "A",
            StreamConfig {
                num_replicas: 3,
                ..base("A")
            },
            "10074 replicas > 1 not supported in non-clustered mode",
        ),
    ];
    for (name, config, expected) in cases {
        assert_eq!(
            description(prepare_create(name, &request(config), &limits, &())),
            expected
        );
    }
    let created = prepare_create("A", &request(base("A")), &limits, &()).expect("ok");
    assert_eq!(
        created
            .metadata
            .as_ref()
            .and_then(|m| m.get(REQUIRED_LEVEL_KEY))
            .map(String::as_str),
        Some("0")
    );
}

#[test]
fn identical_create_matches_the_existing_stream() {
    let limits = ConfigLimits::default();
    let existing = prepare_create("A", &request(base("A")), &limits, &()).expect("ok");
    let again = prepare_create("A", &request(base("A")), &limits, &()).expect("ok");
    assert!(matches_existing(&again, &existing));
    let different = StreamConfig {
        max_msgs: 10,
        ..base("A")
    };
    let different = prepare_create("A", &request(different), &limits, &()).expect("ok");
    assert!(!matches_existing(&different, &existing));
    // The reply-only keys never make a difference.
    let shown = with_dynamic_metadata(&existing, "2.14.0", 4);
    assert!(matches_existing(&shown, &existing));
    assert_eq!(
        shown
            .metadata
            .as_ref()
            .and_then(|m| m.get(SERVER_VERSION_KEY))
            .map(String::as_str),
        Some("2.14.0")
    );
}

#[test]
fn metadata_records_the_level_each_feature_needs() {
    let mut ttl = StreamConfig {
        allow_msg_ttl: true,
        ..base("A")
    };
    set_static_metadata(&mut ttl);
    let mut counter = StreamConfig {
        allow_msg_counter: true,
        ..base("A")
    };
    set_static_metadata(&mut counter);
    let mut batched = StreamConfig {
        allow_batched: true,
        ..base("A")
    };
    set_static_metadata(&mut batched);
    let level = |c: &StreamConfig| {
        c.metadata
            .as_ref()
            .and_then(|m| m.get(REQUIRED_LEVEL_KEY))
            .cloned()
    };
    assert_eq!(level(&ttl).as_deref(), Some("1"));
    assert_eq!(level(&counter).as_deref(), Some("2"));
    assert_eq!(level(&batched).as_deref(), Some("4"));
}

#[test]
fn updates_follow_the_go_servers_rules() {
    let limits = ConfigLimits::default();
    let old = prepare_create(
        "A",
        &request(StreamConfig {
            deny_delete: true,
            allow_msg_ttl: true,
            ..base("A")
        }),
        &limits,
        &(),
    )
    .expect("ok");
    let update =
        |config: StreamConfig| description(check_update("A", &old, &request(config), &limits, &()));
    let same = StreamConfig {
        deny_delete: true,
        allow_msg_ttl: true,
        ..base("A")
    };
    assert_eq!(update(same.clone()), "ok");
    let cases = [
        (
            StreamConfig {
                name: "B".into(),
                ..same.clone()
            },
            "10056 stream name in subject does not match request",
        ),
        (
            StreamConfig {
                storage: StorageType::Memory,
                ..same.clone()
            },
            "10052 stream configuration update can not change storage type",
        ),
        (
            StreamConfig {
                retention: RetentionPolicy::WorkQueue,
                ..same.clone()
            },
            "10052 stream configuration update can not change retention policy to/from workqueue",
        ),
        (
            StreamConfig {
                deny_delete: false,
                ..same.clone()
            },
            "10052 stream configuration update can not cancel deny message deletes",
        ),
        (
            StreamConfig {
                allow_msg_ttl: false,
                ..same.clone()
            },
            "10052 message TTL status can not be disabled",
        ),
        (
            StreamConfig {
                allow_msg_counter: true,
                allow_msg_ttl: false,
                ..same.clone()
            },
            "10052 message TTL status can not be disabled",
        ),
        (
            StreamConfig {
                persist_mode: PersistMode::Async,
                ..same.clone()
            },
            "10052 stream configuration update can not change persist mode",
        ),
        (
            StreamConfig {
                num_replicas: 3,
                ..same.clone()
            },
            "10074 replicas > 1 not supported in non-clustered mode",
        ),
    ];
    for (config, expected) in cases {
        assert_eq!(update(config), expected);
    }
    // Sealing adjusts the limits as the Go server does.
    let sealed = check_update(
        "A",
        &old,
        &request(StreamConfig {
            sealed: true,
            ..same
        }),
        &limits,
        &(),
    )
    .expect("sealed");
    assert!(sealed.deny_purge && sealed.deny_delete && !sealed.allow_rollup_hdrs);
    assert_eq!(sealed.discard, DiscardPolicy::New);
    let reopened = check_update("A", &sealed, &request(base("A")), &limits, &());
    assert_eq!(
        description(reopened),
        "10052 stream configuration update can not unseal a sealed stream"
    );
}

#[test]
fn subject_overlap_with_other_streams_is_found() {
    let others = [StreamConfig {
        subjects: vec!["orders.*".into()],
        ..base("O")
    }];
    assert!(subjects_overlap(&["orders.new".to_owned()], "A", &others));
    assert!(!subjects_overlap(&["orders.new".to_owned()], "O", &others));
    assert!(!subjects_overlap(&["items".to_owned()], "A", &others));
}

#[test]
fn natrix_refuses_what_it_does_not_do_yet() {
    let mirror = StreamConfig {
        mirror: Some(StreamSource {
            name: "O".into(),
            ..Default::default()
        }),
        ..base("A")
    };
    assert_eq!(
        description(refuse_unsupported(&mirror).map(|()| base("A"))),
        "10052 stream mirrors are not supported by Natrix yet"
    );
    let batched = StreamConfig {
        allow_batched: true,
        ..base("A")
    };
    assert_eq!(
        description(refuse_unsupported(&batched).map(|()| base("A"))),
        "10205 batch publish is disabled"
    );
    assert!(refuse_unsupported(&base("A")).is_ok());
}

#[test]
fn store_limits_map_unlimited_to_zero() {
    let config = check(&StreamConfig {
        max_msgs: 10,
        max_age: 1_000_000_000,
        discard: DiscardPolicy::New,
        ..base("A")
    })
    .expect("ok");
    let store = store_config(&config);
    assert_eq!(store.max_msgs, 10);
    assert_eq!(store.max_bytes, 0);
    assert_eq!(store.max_age, Some(std::time::Duration::from_secs(1)));
    assert_eq!(store.discard, natrix_storage::DiscardPolicy::New);
}
