//! Tests of the `CONSUMER.CREATE` subjects and the create/update decision.

use super::tests::{checked, checked_with, pull, stream};
use super::*;
use crate::api::{ConsumerAction, CreateConsumerRequest};
use crate::time::Timestamp;

fn request(stream: &str, config: ConsumerConfig) -> CreateConsumerRequest {
    CreateConsumerRequest {
        stream: stream.to_owned(),
        config,
        action: ConsumerAction::CreateOrUpdate,
        pedantic: false,
    }
}

#[test]
fn create_subjects_parse_in_their_three_forms() {
    assert_eq!(parse_create_subject("$JS.API.CONSUMER"), Ok(None));
    let legacy = parse_create_subject("$JS.API.CONSUMER.CREATE.S")
        .expect("ok")
        .expect("some");
    assert_eq!(legacy.kind, CreateKind::LegacyEphemeral);
    assert_eq!(legacy.stream, "S");
    let durable = parse_create_subject("$JS.API.CONSUMER.DURABLE.CREATE.S.D")
        .expect("ok")
        .expect("some");
    assert_eq!(
        (durable.kind, durable.consumer.as_str()),
        (CreateKind::LegacyDurable, "D")
    );
    assert_eq!(
        parse_create_subject("$JS.API.CONSUMER.DURABLE.CREATE.S")
            .expect_err("no durable")
            .err_code,
        10016
    );
    let new = parse_create_subject("$JS.API.CONSUMER.CREATE.S.C.s.a.>")
        .expect("ok")
        .expect("some");
    assert_eq!(
        (new.kind, new.consumer.as_str(), new.filter.as_str()),
        (CreateKind::New, "C", "s.a.>")
    );
}

#[test]
fn subject_and_body_must_agree() {
    let new = parse_create_subject("$JS.API.CONSUMER.CREATE.S.C.s.a")
        .expect("ok")
        .expect("some");
    let durable = parse_create_subject("$JS.API.CONSUMER.DURABLE.CREATE.S.D")
        .expect("ok")
        .expect("some");
    let legacy = parse_create_subject("$JS.API.CONSUMER.CREATE.S")
        .expect("ok")
        .expect("some");
    let ephemeral = ConsumerConfig {
        durable: String::new(),
        ..pull()
    };
    let cases: Vec<(&CreateSubject, CreateConsumerRequest, u16)> = vec![
        (&new, request("T", ephemeral.clone()), 10056),
        (
            &new,
            request(
                "S",
                ConsumerConfig {
                    durable: "X".to_owned(),
                    ..pull()
                },
            ),
            10017,
        ),
        (
            &new,
            request(
                "S",
                ConsumerConfig {
                    filter_subjects: vec!["s.b".to_owned()],
                    ..ephemeral.clone()
                },
            ),
            10137,
        ),
        (
            &new,
            request(
                "S",
                ConsumerConfig {
                    filter_subject: "s.b".to_owned(),
                    ..ephemeral.clone()
                },
            ),
            10131,
        ),
        (&durable, request("S", ephemeral.clone()), 10018),
        (&durable, request("S", pull()), 10017),
        (&legacy, request("S", pull()), 10020),
        (
            &legacy,
            request(
                "S",
                ConsumerConfig {
                    name: "a/b".to_owned(),
                    ..ephemeral.clone()
                },
            ),
            10127,
        ),
        (
            &legacy,
            request(
                "S",
                ConsumerConfig {
                    replicas: 3,
                    ..ephemeral.clone()
                },
            ),
            10074,
        ),
    ];
    for (subject, request, code) in cases {
        let error = check_create_request(subject, &request).expect_err("refused");
        assert_eq!(error.err_code, code, "{request:?}");
    }
    let config = check_create_request(
        &new,
        &request(
            "S",
            ConsumerConfig {
                filter_subject: "s.a".to_owned(),
                ..ephemeral
            },
        ),
    )
    .expect("agrees");
    assert_eq!(config.name, "C", "the subject names the consumer");
}

fn existing<'a>(name: &'a str, config: &'a ConsumerConfig) -> ExistingConsumer<'a> {
    ExistingConsumer {
        name,
        config,
        deliver_has_interest: false,
    }
}

fn decide(
    config: ConsumerConfig,
    action: ConsumerAction,
    stream: &StreamConfig,
    consumers: &[ExistingConsumer<'_>],
) -> Result<CreateDecision, ApiError> {
    decide_create(
        config,
        action,
        false,
        stream,
        &ConsumerLimits::default(),
        consumers,
        "GENERATED",
    )
}

#[test]
fn create_update_and_either_follow_the_action() {
    let named = ConsumerConfig {
        name: "C".to_owned(),
        ..pull()
    };
    let CreateDecision::Create { name, config } =
        decide(named.clone(), ConsumerAction::Create, &stream(), &[]).expect("created")
    else {
        panic!("not a create");
    };
    assert_eq!(name, "C");
    assert_eq!(
        config.metadata.get("_nats.req.level"),
        Some(&"0".to_owned())
    );
    assert_eq!(
        decide(named.clone(), ConsumerAction::Update, &stream(), &[])
            .expect_err("missing")
            .err_code,
        10149
    );
    let consumers = [existing("C", &config)];
    assert!(matches!(
        decide(named.clone(), ConsumerAction::Create, &stream(), &consumers),
        Ok(CreateDecision::Update { .. })
    ));
    let changed = ConsumerConfig {
        description: "other".to_owned(),
        ..named.clone()
    };
    assert_eq!(
        decide(
            changed.clone(),
            ConsumerAction::Create,
            &stream(),
            &consumers
        )
        .expect_err("exists")
        .err_code,
        10148
    );
    let Ok(CreateDecision::Update {
        config: updated, ..
    }) = decide(
        changed,
        ConsumerAction::CreateOrUpdate,
        &stream(),
        &consumers,
    )
    else {
        panic!("not an update");
    };
    assert_eq!(updated.description, "other");
    let bad = ConsumerConfig {
        deliver_policy: DeliverPolicy::New,
        ..named
    };
    assert_eq!(
        decide(bad, ConsumerAction::Update, &stream(), &consumers)
            .expect_err("immutable")
            .description,
        "deliver policy can not be updated"
    );
}

#[test]
fn ephemerals_get_a_generated_name_and_the_default_inactive_threshold() {
    let CreateDecision::Create { name, config } = decide(
        ConsumerConfig {
            durable: String::new(),
            ..pull()
        },
        ConsumerAction::CreateOrUpdate,
        &stream(),
        &[],
    )
    .expect("created") else {
        panic!("not a create");
    };
    assert_eq!(
        (name.as_str(), config.name.as_str()),
        ("GENERATED", "GENERATED")
    );
    assert_eq!(
        config.inactive_threshold,
        DEFAULT_EPHEMERAL_INACTIVE_THRESHOLD_NS
    );
    let long = ConsumerConfig {
        durable: "d".repeat(256),
        ..pull()
    };
    assert_eq!(
        decide(long, ConsumerAction::Create, &stream(), &[])
            .expect_err("too long")
            .err_code,
        10102
    );
}

#[test]
fn work_queue_consumers_must_be_explicit_deliver_all_and_exclusive() {
    let mut wq = stream();
    wq.retention = RetentionPolicy::WorkQueue;
    let ack_all = ConsumerConfig {
        ack_policy: AckPolicy::All,
        ..pull()
    };
    assert_eq!(
        decide(ack_all, ConsumerAction::Create, &wq, &[])
            .expect_err("explicit")
            .err_code,
        10098
    );
    let last = ConsumerConfig {
        deliver_policy: DeliverPolicy::Last,
        ..pull()
    };
    assert_eq!(
        decide(last, ConsumerAction::Create, &wq, &[])
            .expect_err("all")
            .err_code,
        10101
    );
    let first = checked_with(
        &ConsumerConfig {
            filter_subject: "s.a.>".to_owned(),
            ..pull()
        },
        &wq,
        &ConsumerLimits::default(),
    )
    .expect("valid");
    let consumers = [existing("C", &first)];
    let unfiltered = ConsumerConfig {
        durable: "D".to_owned(),
        ..pull()
    };
    assert_eq!(
        decide(unfiltered, ConsumerAction::Create, &wq, &consumers)
            .expect_err("unfiltered")
            .err_code,
        10099
    );
    let overlapping = ConsumerConfig {
        durable: "D".to_owned(),
        filter_subject: "s.*.x".to_owned(),
        ..pull()
    };
    assert_eq!(
        decide(overlapping, ConsumerAction::Create, &wq, &consumers)
            .expect_err("overlap")
            .err_code,
        10100
    );
    let disjoint = ConsumerConfig {
        durable: "D".to_owned(),
        filter_subject: "s.b".to_owned(),
        ..pull()
    };
    assert!(decide(disjoint, ConsumerAction::Create, &wq, &consumers).is_ok());
}

#[test]
fn max_consumers_counts_the_streams_and_the_accounts_limit() {
    let mut limited = stream();
    limited.max_consumers = 1;
    let one = checked(&pull()).expect("valid");
    let consumers = [existing("C", &one)];
    let other = ConsumerConfig {
        durable: "D".to_owned(),
        ..pull()
    };
    assert_eq!(
        decide(other.clone(), ConsumerAction::Create, &limited, &consumers)
            .expect_err("limit")
            .err_code,
        10026
    );
    let limits = ConsumerLimits {
        account_max_consumers: 1,
        ..ConsumerLimits::default()
    };
    assert_eq!(
        decide_create(
            other,
            ConsumerAction::Create,
            false,
            &stream(),
            &limits,
            &consumers,
            "G"
        )
        .expect_err("account limit")
        .err_code,
        10026
    );
}

#[test]
fn an_existing_consumers_pause_is_kept_on_update() {
    let until = Some(Timestamp::from_unix_nanos(5_000));
    let mut paused = checked(&pull()).expect("valid");
    paused.pause_until = until;
    set_static_metadata(&mut paused);
    let consumers = [existing("C", &paused)];
    let Ok(CreateDecision::Update { config, .. }) = decide(
        ConsumerConfig {
            description: "x".to_owned(),
            ..pull()
        },
        ConsumerAction::CreateOrUpdate,
        &stream(),
        &consumers,
    ) else {
        panic!("not an update");
    };
    assert_eq!(config.pause_until, until);
    assert_eq!(
        config.metadata.get("_nats.req.level"),
        Some(&"1".to_owned())
    );
}

#[test]
fn group_names_follow_gos_pattern() {
    for (name, valid) in [
        ("jobs", true),
        ("a/b_c=d-e", true),
        ("0123456789abcdef", true),
        ("0123456789abcdefg", false),
        ("", false),
        ("a.b", false),
        ("a b", false),
    ] {
        assert_eq!(is_valid_group_name(name), valid, "{name}");
    }
}
