use std::collections::BTreeMap;

use super::*;
use crate::api::{Placement, ReplayPolicy, StreamConsumerLimits};
use crate::time::Timestamp;

pub(super) fn stream() -> StreamConfig {
    StreamConfig {
        name: "S".to_owned(),
        subjects: vec!["s.>".to_owned()],
        num_replicas: 1,
        max_consumers: -1,
        ..StreamConfig::default()
    }
}

pub(super) fn pull() -> ConsumerConfig {
    ConsumerConfig {
        durable: "C".to_owned(),
        ack_policy: AckPolicy::Explicit,
        ..ConsumerConfig::default()
    }
}

fn push() -> ConsumerConfig {
    ConsumerConfig {
        deliver_subject: "dlv".to_owned(),
        ..pull()
    }
}

/// Defaults then checks, as the create path runs them.
pub(super) fn checked(config: &ConsumerConfig) -> Result<ConsumerConfig, ApiError> {
    checked_with(config, &stream(), &ConsumerLimits::default())
}

pub(super) fn checked_with(
    config: &ConsumerConfig,
    stream: &StreamConfig,
    limits: &ConsumerLimits,
) -> Result<ConsumerConfig, ApiError> {
    let config = apply_defaults(config, stream, limits, false)?;
    check_config(&config, limits, stream, false)?;
    Ok(config)
}

fn description(result: Result<ConsumerConfig, ApiError>) -> String {
    match result {
        Ok(_) => "ok".to_owned(),
        Err(error) => format!("{} {}", error.err_code, error.description),
    }
}

#[test]
fn defaults_are_gos() {
    let config = checked(&pull()).expect("valid");
    assert_eq!(config.max_deliver, -1);
    assert_eq!(config.ack_wait, DEFAULT_ACK_WAIT_NS);
    assert_eq!(config.max_ack_pending, 1000);
    assert_eq!(config.max_waiting, 512);
    let push = checked(&push()).expect("valid");
    assert_eq!(push.max_waiting, 0, "push consumers do not wait");
    let none = checked(&ConsumerConfig {
        ack_policy: AckPolicy::None,
        ..self::push()
    })
    .expect("valid");
    assert_eq!(none.ack_wait, 0, "ack none has no ack wait");
    assert_eq!(none.max_ack_pending, 0, "nor max ack pending");
}

#[test]
fn defaults_take_backoff_stream_and_server_limits() {
    let config = checked(&ConsumerConfig {
        backoff: vec![2_000_000_000, 5_000_000_000],
        ..pull()
    })
    .expect("valid");
    assert_eq!(
        config.ack_wait, 2_000_000_000,
        "ack wait is the first backoff"
    );
    let mut limited = stream();
    limited.consumer_limits = StreamConsumerLimits {
        inactive_threshold: 7,
        max_ack_pending: 50,
    };
    let config = checked_with(&pull(), &limited, &ConsumerLimits::default()).expect("valid");
    assert_eq!((config.max_ack_pending, config.inactive_threshold), (50, 7));
    let limits = ConsumerLimits {
        server_max_ack_pending: 300,
        account_max_ack_pending: 200,
        server_max_request_batch: 10,
        ..ConsumerLimits::default()
    };
    let config = checked_with(&pull(), &stream(), &limits).expect("valid");
    assert_eq!(config.max_ack_pending, 200);
    assert_eq!(config.max_request_batch, 10);
    let pinned = checked(&ConsumerConfig {
        priority_policy: PriorityPolicy::PinnedClient,
        priority_groups: vec!["jobs".to_owned()],
        ..pull()
    })
    .expect("valid");
    assert_eq!(pinned.pinned_ttl, DEFAULT_PINNED_TTL_NS);
}

#[test]
fn negative_values_are_zeroed_or_refused_in_pedantic_mode() {
    let negative = ConsumerConfig {
        max_deliver: -5,
        max_waiting: -1,
        max_ack_pending: -3,
        max_request_batch: -1,
        max_request_expires: -1,
        max_request_max_bytes: -1,
        inactive_threshold: -1,
        pinned_ttl: -1,
        ..pull()
    };
    let config =
        apply_defaults(&negative, &stream(), &ConsumerLimits::default(), false).expect("adjusted");
    assert_eq!(
        (
            config.max_deliver,
            config.max_ack_pending,
            config.max_request_batch
        ),
        (-1, -1, 0)
    );
    assert_eq!(config.max_waiting, 512, "zeroed, then the default");
    let cases: [(ConsumerConfig, &str); 6] = [
        (
            ConsumerConfig {
                max_deliver: -2,
                ..pull()
            },
            "max_deliver must be set to -1",
        ),
        (
            ConsumerConfig {
                max_waiting: -1,
                ..pull()
            },
            "max_waiting must not be negative",
        ),
        (
            ConsumerConfig {
                max_ack_pending: -2,
                ..pull()
            },
            "max_ack_pending must be set to -1",
        ),
        (
            ConsumerConfig {
                heartbeat: -1,
                ..pull()
            },
            "idle_heartbeat must not be negative",
        ),
        (
            ConsumerConfig {
                backoff: vec![5],
                ack_wait: 6,
                ..pull()
            },
            "first backoff value has to equal batch AckWait",
        ),
        (
            ConsumerConfig {
                pinned_ttl: -1,
                ..pull()
            },
            "priority_timeout must not be negative",
        ),
    ];
    for (config, text) in cases {
        let error = apply_defaults(&config, &stream(), &ConsumerLimits::default(), true)
            .expect_err("pedantic");
        assert_eq!(error.description, format!("pedantic mode: {text}"));
    }
}

#[test]
fn each_rule_of_checkconsumercfg_has_gos_error() {
    let mut wq = stream();
    wq.retention = RetentionPolicy::WorkQueue;
    let mut preferred = stream();
    preferred.placement = Some(Placement {
        preferred: "n1".to_owned(),
        ..Placement::default()
    });
    let start_time = Some(Timestamp::from_unix_nanos(1_000));
    let cases: Vec<(&str, ConsumerConfig, StreamConfig, &str)> = vec![
        (
            "bad name",
            ConsumerConfig { name: "a.b".to_owned(), ..pull() },
            stream(),
            "10052 consumer name can not contain '.', '*', '>', '\\', '/'",
        ),
        (
            "bad durable",
            ConsumerConfig { durable: "a*".to_owned(), ..pull() },
            stream(),
            "10052 consumer durable name can not contain '.', '*', '>', '\\', '/'",
        ),
        (
            "replicas above the stream's",
            ConsumerConfig { replicas: 3, ..pull() },
            stream(),
            "10126 consumer config replica count exceeds parent stream",
        ),
        (
            "negative backoff",
            ConsumerConfig { backoff: vec![-1], ..pull() },
            stream(),
            "10184 consumer backoff needs to be positive",
        ),
        (
            "negative ack wait",
            ConsumerConfig { ack_wait: -1, ..pull() },
            stream(),
            "10183 consumer ack wait needs to be positive",
        ),
        (
            "backoff longer than max deliver",
            ConsumerConfig { backoff: vec![1, 2, 3], max_deliver: 2, ..pull() },
            stream(),
            "10116 max deliver is required to be > length of backoff values",
        ),
        (
            "long description",
            ConsumerConfig { description: "x".repeat(4097), ..pull() },
            stream(),
            "10107 consumer description is too long, maximum allowed is 4096",
        ),
        (
            "deliver to wildcards",
            ConsumerConfig { deliver_subject: "d.*".to_owned(), ..pull() },
            stream(),
            "10079 consumer deliver subject has wildcards",
        ),
        (
            "invalid deliver subject",
            ConsumerConfig { deliver_subject: "d..x".to_owned(), ..pull() },
            stream(),
            "10112 invalid push consumer deliver subject",
        ),
        (
            "deliver cycle",
            ConsumerConfig { deliver_subject: "s.x".to_owned(), ..pull() },
            stream(),
            "10081 consumer deliver subject forms a cycle",
        ),
        (
            "push with max waiting",
            ConsumerConfig { max_waiting: 5, ..push() },
            stream(),
            "10080 consumer in push mode can not set max waiting",
        ),
        (
            "push ack none with max ack pending",
            ConsumerConfig { ack_policy: AckPolicy::None, max_ack_pending: 5, ..push() },
            stream(),
            "10082 consumer requires ack policy for max ack pending",
        ),
        (
            "small heartbeat",
            ConsumerConfig { heartbeat: 50_000_000, ..push() },
            stream(),
            "10083 consumer idle heartbeat needs to be >= 100ms",
        ),
        (
            "pull ack none on a work queue",
            ConsumerConfig { ack_policy: AckPolicy::None, ..pull() },
            wq.clone(),
            "10084 consumer in pull mode requires explicit ack policy on workqueue stream",
        ),
        (
            "pull with rate limit",
            ConsumerConfig { rate_limit: 5, ..pull() },
            stream(),
            "10086 consumer in pull mode can not have rate limit set",
        ),
        (
            "pull with heartbeat",
            ConsumerConfig { heartbeat: 1_000_000_000, ..pull() },
            stream(),
            "10088 consumer idle heartbeat requires a push based consumer",
        ),
        (
            "pull with flow control",
            ConsumerConfig { flow_control: true, ..pull() },
            stream(),
            "10089 consumer flow control requires a push based consumer",
        ),
        (
            "tiny max expires",
            ConsumerConfig { max_request_expires: 10, ..pull() },
            stream(),
            "10115 consumer max request expires needs to be >= 1ms",
        ),
        (
            "direct pull",
            ConsumerConfig { direct: true, durable: String::new(), ..pull() },
            stream(),
            "10090 consumer direct requires a push based consumer",
        ),
        (
            "direct durable",
            ConsumerConfig { direct: true, ..push() },
            stream(),
            "10091 consumer direct requires an ephemeral consumer",
        ),
        (
            "both filter forms",
            ConsumerConfig {
                filter_subject: "s.a".to_owned(),
                filter_subjects: vec!["s.b".to_owned()],
                ..pull()
            },
            stream(),
            "10136 consumer cannot have both FilterSubject and FilterSubjects specified",
        ),
        (
            "invalid filter",
            ConsumerConfig { filter_subject: "s..a".to_owned(), ..pull() },
            stream(),
            "10052 invalid subject",
        ),
        (
            "empty filter",
            ConsumerConfig { filter_subjects: vec![String::new()], ..pull() },
            stream(),
            "10139 consumer filter in FilterSubjects cannot be empty",
        ),
        (
            "overlapping filters",
            ConsumerConfig {
                filter_subjects: vec!["s.>".to_owned(), "s.a".to_owned()],
                ..pull()
            },
            stream(),
            "10138 consumer subject filters cannot overlap",
        ),
        (
            "deliver all with a start sequence",
            ConsumerConfig { opt_start_seq: 3, ..pull() },
            stream(),
            "10094 consumer delivery policy is deliver all, but optional start sequence is also set",
        ),
        (
            "deliver new with a start time",
            ConsumerConfig {
                deliver_policy: DeliverPolicy::New,
                opt_start_time: start_time,
                ..pull()
            },
            stream(),
            "10094 consumer delivery policy is deliver new, but optional start time is also set",
        ),
        (
            "last per subject without a filter",
            ConsumerConfig { deliver_policy: DeliverPolicy::LastPerSubject, ..pull() },
            stream(),
            "10094 consumer delivery policy is deliver last per subject, but optional filter subject is not set",
        ),
        (
            "by start sequence without one",
            ConsumerConfig { deliver_policy: DeliverPolicy::ByStartSequence, ..pull() },
            stream(),
            "10094 consumer delivery policy is deliver by start sequence, but optional start sequence is not set",
        ),
        (
            "by start time with a sequence",
            ConsumerConfig {
                deliver_policy: DeliverPolicy::ByStartTime,
                opt_start_time: start_time,
                opt_start_seq: 2,
                ..pull()
            },
            stream(),
            "10094 consumer delivery policy is deliver by start time, but optional start start sequence is also set",
        ),
        (
            "bad sample frequency",
            ConsumerConfig { sample_frequency: "often".to_owned(), ..pull() },
            stream(),
            "10095 failed to parse consumer sampling configuration: strconv.Atoi: parsing \"often\": invalid syntax",
        ),
        (
            "negative sample frequency",
            ConsumerConfig { sample_frequency: "-5%".to_owned(), ..pull() },
            stream(),
            "10095 failed to parse consumer sampling configuration: <nil>",
        ),
        (
            "flow control without heartbeat",
            ConsumerConfig { flow_control: true, ..push() },
            stream(),
            "10108 consumer with flow control also needs heartbeats",
        ),
        (
            "durable and name differ",
            ConsumerConfig { name: "D".to_owned(), ..pull() },
            stream(),
            "10132 Consumer Durable and Name have to be equal if both are provided",
        ),
        (
            "metadata too large",
            ConsumerConfig {
                metadata: BTreeMap::from([("k".to_owned(), "v".repeat(128 * 1024))]),
                ..pull()
            },
            stream(),
            "10135 consumer metadata exceeds maximum size of 128KB",
        ),
        (
            "push with priority",
            ConsumerConfig {
                priority_policy: PriorityPolicy::Overflow,
                priority_groups: vec!["g".to_owned()],
                ..push()
            },
            stream(),
            "10178 priority groups can not be used with push consumers",
        ),
        (
            "priority policy without a group",
            ConsumerConfig { priority_policy: PriorityPolicy::Overflow, ..pull() },
            stream(),
            "10159 Setting PriorityPolicy requires at least one PriorityGroup to be set",
        ),
        (
            "empty group name",
            ConsumerConfig {
                priority_policy: PriorityPolicy::Overflow,
                priority_groups: vec![String::new()],
                ..pull()
            },
            stream(),
            "10161 Group name cannot be an empty string",
        ),
        (
            "invalid group name",
            ConsumerConfig {
                priority_policy: PriorityPolicy::Overflow,
                priority_groups: vec!["way-too-long-a-group".to_owned()],
                ..pull()
            },
            stream(),
            "10162 Valid priority group name must match A-Z, a-z, 0-9, -_/=)+ and may not exceed 16 characters",
        ),
        (
            "groups without a policy",
            ConsumerConfig { priority_groups: vec!["g".to_owned()], ..pull() },
            stream(),
            "10196 consumer can not have priority groups when policy is none",
        ),
        (
            "pinned ttl without a policy",
            ConsumerConfig { pinned_ttl: 5, ..pull() },
            stream(),
            "10197 PinnedTTL cannot be set when PriorityPolicy is none",
        ),
        (
            "preferred placement",
            pull(),
            preferred,
            "10052 preferred server not permitted in placement",
        ),
        (
            "flow control acks on a pull consumer",
            ConsumerConfig { ack_policy: AckPolicy::FlowControl, ..pull() },
            stream(),
            "10218 flow control ack policy requires a push based consumer",
        ),
        (
            "flow control acks with ack wait",
            ConsumerConfig {
                ack_policy: AckPolicy::FlowControl,
                max_ack_pending: 10,
                ack_wait: 5,
                ..push()
            },
            stream(),
            "10221 flow control ack policy requires unset ack wait",
        ),
        (
            "flow control acks with max deliver",
            ConsumerConfig {
                ack_policy: AckPolicy::FlowControl,
                max_ack_pending: 10,
                max_deliver: 3,
                ..push()
            },
            stream(),
            "10222 flow control ack policy requires unset max deliver",
        ),
    ];
    for (name, config, stream, expected) in cases {
        assert_eq!(
            description(checked_with(&config, &stream, &ConsumerLimits::default())),
            expected,
            "{name}"
        );
    }
}

#[test]
fn ack_pending_and_threshold_limits_are_enforced() {
    let limits = ConsumerLimits {
        server_max_ack_pending: 100,
        ..ConsumerLimits::default()
    };
    let over = ConsumerConfig {
        max_ack_pending: 101,
        ..pull()
    };
    assert_eq!(
        description(checked_with(&over, &stream(), &limits)),
        "10121 consumer max ack pending exceeds system limit of 100"
    );
    let mut limited = stream();
    limited.consumer_limits.inactive_threshold = 2_000_000_000;
    let idle = ConsumerConfig {
        inactive_threshold: 3_000_000_000,
        ..pull()
    };
    assert_eq!(
        description(checked_with(&idle, &limited, &ConsumerLimits::default())),
        "10153 consumer inactive threshold exceeds system limit of 2s"
    );
    let batch = ConsumerLimits {
        server_max_request_batch: 10,
        ..ConsumerLimits::default()
    };
    let big = ConsumerConfig {
        max_request_batch: 11,
        ..pull()
    };
    assert_eq!(
        description(checked_with(&big, &stream(), &batch)),
        "10125 consumer max request batch exceeds server limit of 10"
    );
}

#[test]
fn interest_stream_consumers_must_match_the_streams_replicas() {
    let mut interest = stream();
    interest.retention = RetentionPolicy::Interest;
    interest.num_replicas = 3;
    let config = apply_defaults(
        &ConsumerConfig {
            replicas: 1,
            ..pull()
        },
        &interest,
        &ConsumerLimits::default(),
        false,
    )
    .expect("defaults");
    assert_eq!(
        check_config(&config, &ConsumerLimits::default(), &interest, false)
            .expect_err("refused")
            .err_code,
        10134
    );
    assert!(check_config(&config, &ConsumerLimits::default(), &interest, true).is_ok());
}

#[test]
fn flow_control_ack_policy_gets_its_flow_control_and_heartbeat() {
    let config = checked(&ConsumerConfig {
        ack_policy: AckPolicy::FlowControl,
        max_ack_pending: 100,
        ..push()
    })
    .expect("valid");
    assert!(config.flow_control);
    assert_eq!(config.heartbeat, FLOW_CONTROL_ACK_HEARTBEAT_NS);
}

#[test]
fn updates_may_change_only_what_go_allows() {
    let old = checked(&push()).expect("valid");
    let cases: Vec<(ConsumerConfig, &str)> = vec![
        (
            ConsumerConfig {
                deliver_policy: DeliverPolicy::New,
                ..old.clone()
            },
            "deliver policy can not be updated",
        ),
        (
            ConsumerConfig {
                memory_storage: true,
                ..old.clone()
            },
            "storage type can not be updated",
        ),
        (
            ConsumerConfig {
                ack_policy: AckPolicy::All,
                ..old.clone()
            },
            "ack policy can not be updated",
        ),
        (
            ConsumerConfig {
                replay_policy: ReplayPolicy::Original,
                ..old.clone()
            },
            "replay policy can not be updated",
        ),
        (
            ConsumerConfig {
                heartbeat: 5_000_000_000,
                ..old.clone()
            },
            "heart beats can not be updated",
        ),
        (
            ConsumerConfig {
                flow_control: true,
                ..old.clone()
            },
            "flow control can not be updated",
        ),
        (
            ConsumerConfig {
                deliver_subject: String::new(),
                ..old.clone()
            },
            "can not update push consumer to pull based",
        ),
        (
            ConsumerConfig {
                max_waiting: 3,
                ..old.clone()
            },
            "max waiting can not be updated",
        ),
    ];
    for (new, text) in cases {
        let error = check_update(&old, &new, false).expect_err(text);
        assert_eq!((error.err_code, error.description.as_str()), (10012, text));
    }
    let allowed = ConsumerConfig {
        description: "new".to_owned(),
        ack_wait: 5_000_000_000,
        max_deliver: 5,
        max_ack_pending: 7,
        filter_subject: "s.a".to_owned(),
        deliver_subject: "other".to_owned(),
        headers_only: true,
        ..old.clone()
    };
    assert!(check_update(&old, &allowed, false).is_ok());
    assert_eq!(
        check_update(&old, &allowed, true)
            .expect_err("bound")
            .err_code,
        10013,
        "a deliver subject with subscribers cannot move"
    );
    let pull_config = checked(&pull()).expect("valid");
    let to_push = ConsumerConfig {
        deliver_subject: "d".to_owned(),
        ..pull_config.clone()
    };
    assert_eq!(
        check_update(&pull_config, &to_push, false)
            .expect_err("refused")
            .description,
        "can not update pull consumer to push based"
    );
}
