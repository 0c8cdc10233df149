//! `CONSUMER.CREATE` as the Go server's `jsConsumerCreateRequest` and
//! `addConsumerWithAssignment` decide it: the three subject forms, the agreement between the
//! subject and the body, and whether a request creates a consumer, updates one, or is
//! refused (actions, work-queue exclusivity, `max_consumers`, names).

use super::{
    apply_defaults, check_config, check_update, copy_required_level, set_static_metadata,
    stamp_inactive_threshold, ConsumerLimits, MAX_NAME_LEN,
};
use crate::api::{
    AckPolicy, ConsumerAction, ConsumerConfig, CreateConsumerRequest, DeliverPolicy,
    RetentionPolicy, StreamConfig,
};
use crate::config::is_valid_asset_name;
use crate::errors::{ApiError, ErrorId};
use crate::subject::patterns_overlap;

/// Which subject form a create request came on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateKind {
    /// `$JS.API.CONSUMER.CREATE.<stream>`: the name (if any) is in the body.
    LegacyEphemeral,
    /// `$JS.API.CONSUMER.DURABLE.CREATE.<stream>.<durable>`.
    LegacyDurable,
    /// `$JS.API.CONSUMER.CREATE.<stream>.<consumer>[.<filter>]`.
    New,
}

/// What a create subject says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateSubject {
    /// The form.
    pub kind: CreateKind,
    /// The stream named in the subject.
    pub stream: String,
    /// The consumer named in the subject (empty for the legacy ephemeral form).
    pub consumer: String,
    /// The filter after the consumer name in the new form, empty when none.
    pub filter: String,
}

/// Parses a create subject. `Ok(None)`: too short to be one, which the Go server ignores
/// without a reply. `Err`: the durable form without exactly one durable name.
pub fn parse_create_subject(subject: &str) -> Result<Option<CreateSubject>, ApiError> {
    let tokens: Vec<&str> = subject.split('.').collect();
    if tokens.len() < 5 {
        return Ok(None);
    }
    if tokens.len() == 5 {
        return Ok(Some(CreateSubject {
            kind: CreateKind::LegacyEphemeral,
            stream: tokens[4].to_owned(),
            consumer: String::new(),
            filter: String::new(),
        }));
    }
    if tokens[3] == "DURABLE" {
        if tokens.len() != 7 {
            return Err(ApiError::new(ErrorId::ConsumerDurableNameNotInSubject));
        }
        return Ok(Some(CreateSubject {
            kind: CreateKind::LegacyDurable,
            stream: tokens[5].to_owned(),
            consumer: tokens[6].to_owned(),
            filter: String::new(),
        }));
    }
    Ok(Some(CreateSubject {
        kind: CreateKind::New,
        stream: tokens[4].to_owned(),
        consumer: tokens[5].to_owned(),
        filter: tokens[6..].join("."),
    }))
}

/// Checks that the body agrees with the subject, in Go's order, and returns the configuration
/// with the name the subject gives. The caller then looks the stream up
/// (`stream not found`) and calls [`decide_create`].
pub fn check_create_request(
    subject: &CreateSubject,
    request: &CreateConsumerRequest,
) -> Result<ConsumerConfig, ApiError> {
    let mut config = request.config.clone();
    if subject.stream != request.stream {
        return Err(ApiError::new(ErrorId::StreamMismatch));
    }
    let consumer = match subject.kind {
        CreateKind::LegacyEphemeral => config.name.clone(),
        _ => subject.consumer.clone(),
    };
    if consumer.contains(['\\', '/']) {
        return Err(ApiError::new(ErrorId::ConsumerNameContainsPathSeparators));
    }
    match subject.kind {
        CreateKind::LegacyDurable => {
            if config.durable.is_empty() {
                return Err(ApiError::new(ErrorId::ConsumerDurableNameNotSet));
            }
            if consumer != config.durable {
                return Err(ApiError::new(ErrorId::ConsumerDurableNameNotMatchSubject));
            }
            config.name = consumer;
        }
        CreateKind::New => {
            if !config.durable.is_empty() && consumer != config.durable {
                return Err(ApiError::new(ErrorId::ConsumerDurableNameNotMatchSubject));
            }
            config.name = consumer;
        }
        CreateKind::LegacyEphemeral => {
            if !config.durable.is_empty() {
                return Err(ApiError::new(ErrorId::ConsumerEphemeralWithDurableName));
            }
        }
    }
    if !subject.filter.is_empty() && !config.filter_subjects.is_empty() {
        return Err(ApiError::new(ErrorId::ConsumerMultipleFiltersNotAllowed));
    }
    if !subject.filter.is_empty() && config.filter_subject != subject.filter {
        return Err(ApiError::new(ErrorId::ConsumerCreateFilterSubjectMismatch));
    }
    if config.replicas > 1 {
        return Err(ApiError::new(ErrorId::StreamReplicasNotSupported));
    }
    Ok(config)
}

/// A consumer of the stream, as the create decision needs it.
#[derive(Debug, Clone, Copy)]
pub struct ExistingConsumer<'a> {
    /// Its name.
    pub name: &'a str,
    /// Its configuration.
    pub config: &'a ConsumerConfig,
    /// Whether its deliver subject has subscribers (push consumers).
    pub deliver_has_interest: bool,
}

/// What a create request does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateDecision {
    /// A new consumer with this name and configuration.
    Create {
        /// Its name.
        name: String,
        /// Its configuration, with defaults and metadata.
        config: ConsumerConfig,
    },
    /// The existing consumer `name` takes this configuration (which may equal its current
    /// one: the Go server answers such a create with the existing consumer).
    Update {
        /// Its name.
        name: String,
        /// The new configuration.
        config: ConsumerConfig,
    },
}

/// Decides a create request whose configuration [`check_create_request`] returned, against
/// the stream and its consumers, as Go's `addConsumerWithAssignment` does (the pause of an
/// existing consumer is kept, its required-level metadata too). `generated_name` names a
/// legacy ephemeral that has none (the Go server makes one up at random; the runtime
/// supplies it, so that this stays deterministic).
pub fn decide_create(
    config: ConsumerConfig,
    action: ConsumerAction,
    is_pedantic: bool,
    stream: &StreamConfig,
    limits: &ConsumerLimits,
    consumers: &[ExistingConsumer<'_>],
    generated_name: &str,
) -> Result<CreateDecision, ApiError> {
    let mut config = config;
    let requested_name = if config.is_durable() {
        config.durable.clone()
    } else {
        config.name.clone()
    };
    let existing = consumers
        .iter()
        .find(|consumer| !requested_name.is_empty() && consumer.name == requested_name);
    if let Some(existing) = existing {
        // The pause of an existing consumer changes only through the pause API.
        config.pause_until = existing.config.pause_until;
    }
    set_static_metadata(&mut config);
    let mut config = apply_defaults(&config, stream, limits, is_pedantic)?;
    check_config(&config, limits, stream, false)?;
    if let Some(existing) = existing {
        if action == ConsumerAction::Create {
            let mut compared = config.clone();
            copy_required_level(&mut compared, existing.config);
            // Compared before the ephemeral inactive threshold is stamped, as in Go: a
            // named ephemeral created twice with "create" and no threshold is refused.
            if &compared != existing.config {
                return Err(ApiError::new(ErrorId::ConsumerAlreadyExists));
            }
        }
        if stream.retention == RetentionPolicy::WorkQueue
            && !partition_unique(existing.name, &config.filters(), consumers)
        {
            return Err(ApiError::new(ErrorId::ConsumerWQConsumerNotUnique));
        }
        stamp_inactive_threshold(&mut config);
        check_update(existing.config, &config, existing.deliver_has_interest)?;
        return Ok(CreateDecision::Update {
            name: existing.name.to_owned(),
            config,
        });
    }
    if action == ConsumerAction::Update {
        return Err(ApiError::new(ErrorId::ConsumerDoesNotExist));
    }
    let limitable = consumers
        .iter()
        .filter(|consumer| !consumer.config.direct && !consumer.config.sourcing)
        .count() as i64;
    let mut max_consumers = stream.max_consumers;
    // Go 2.15 puts its server default in place of every value that is not positive, so a
    // stream's -1 ("unlimited") is capped too; only the server's own -1 lifts the cap.
    if max_consumers <= 0 && limits.server_default_max_consumers > 0 {
        max_consumers = limits.server_default_max_consumers;
    }
    if max_consumers <= 0
        || (limits.account_max_consumers > 0 && limits.account_max_consumers < max_consumers)
    {
        max_consumers = limits.account_max_consumers;
    }
    if max_consumers > 0 && limitable >= max_consumers {
        return Err(ApiError::new(ErrorId::MaximumConsumersLimit));
    }
    if stream.retention == RetentionPolicy::WorkQueue && !config.direct && !config.sourcing {
        if !matches!(
            config.ack_policy,
            AckPolicy::Explicit | AckPolicy::FlowControl
        ) {
            return Err(ApiError::new(ErrorId::ConsumerWQRequiresExplicitAck));
        }
        if config.deliver_policy != DeliverPolicy::All {
            return Err(ApiError::new(ErrorId::ConsumerWQConsumerNotDeliverAll));
        }
        if limitable > 0 {
            let filters = config.filters();
            if filters.is_empty() {
                return Err(ApiError::new(ErrorId::ConsumerWQMultipleUnfiltered));
            }
            if !partition_unique(&requested_name, &filters, consumers) {
                return Err(ApiError::new(ErrorId::ConsumerWQConsumerNotUnique));
            }
        }
    }
    let name = if config.is_durable() {
        if config.durable.len() > MAX_NAME_LEN {
            return Err(ApiError::consumer_name_too_long(MAX_NAME_LEN));
        }
        config.durable.clone()
    } else if !config.name.is_empty() {
        config.name.clone()
    } else {
        config.name = generated_name.to_owned();
        generated_name.to_owned()
    };
    if !is_valid_asset_name(&name) {
        return Err(ApiError::new(ErrorId::ConsumerBadDurableName));
    }
    stamp_inactive_threshold(&mut config);
    Ok(CreateDecision::Create { name, config })
}

/// Go's `partitionUnique`: none of `filters` overlaps a filter of another (non-direct,
/// non-sourcing) consumer, and no such consumer is unfiltered.
fn partition_unique(name: &str, filters: &[String], consumers: &[ExistingConsumer<'_>]) -> bool {
    for filter in filters {
        for other in consumers {
            if other.name == name || other.config.direct || other.config.sourcing {
                continue;
            }
            let other_filters = other.config.filters();
            if other_filters.is_empty() {
                return false;
            }
            if other_filters
                .iter()
                .any(|other| patterns_overlap(filter.as_bytes(), other.as_bytes()))
            {
                return false;
            }
        }
    }
    true
}
