//! Consumer configuration as the Go server checks it: defaults ([`apply_defaults`], Go's
//! `setConsumerConfigDefaults`), validation ([`check_config`], Go's `checkConsumerCfg`), the
//! rules of an update ([`check_update`], Go's `checkNewConsumerConfig`), the `_nats.*`
//! metadata, and in `create` the `CONSUMER.CREATE` subjects and the create/update decision.
//! Every refusal is the Go server's [`ApiError`], text included.

mod create;

use crate::api::{
    AckPolicy, ConsumerConfig, DeliverPolicy, PriorityPolicy, RetentionPolicy, StreamConfig,
};
use crate::config::{is_valid_asset_name, MAX_DESCRIPTION_LEN, MAX_METADATA_LEN};
use crate::errors::{ApiError, ErrorId};
use crate::subject::{has_wildcard_token, is_subset_match, is_valid_subject};
use crate::time::go_duration_string;

pub use create::{
    check_create_request, decide_create, parse_create_subject, CreateDecision, CreateKind,
    CreateSubject, ExistingConsumer,
};

/// The default `ack_wait`, 30 s (Go's `JsAckWaitDefault`).
pub const DEFAULT_ACK_WAIT_NS: i64 = 30_000_000_000;
/// The default `max_ack_pending` of consumers that ack (Go's `JsDefaultMaxAckPending`).
pub const DEFAULT_MAX_ACK_PENDING: i64 = 1000;
/// The default `max_waiting` of pull consumers (Go's `JSWaitQueueDefaultMax`).
pub const DEFAULT_MAX_WAITING: i64 = 512;
/// The default `priority_timeout` of pinned-client consumers, 2 minutes
/// (Go's `JsDefaultPinnedTTL`).
pub const DEFAULT_PINNED_TTL_NS: i64 = 120_000_000_000;
/// The inactive threshold stamped on ephemerals that set none, 5 s
/// (Go's `JsDeleteWaitTimeDefault`).
pub const DEFAULT_EPHEMERAL_INACTIVE_THRESHOLD_NS: i64 = 5_000_000_000;
/// The heartbeat of flow-control-acked consumers, 1 s (Go's `sourceHealthHB`).
pub const FLOW_CONTROL_ACK_HEARTBEAT_NS: i64 = 1_000_000_000;
/// The longest durable name (Go's `JSMaxNameLen`).
pub const MAX_NAME_LEN: usize = crate::config::MAX_NAME_LEN;

const MILLIS_100_NS: i64 = 100_000_000;
const MILLISECOND_NS: i64 = 1_000_000;

/// What the server and the account impose on consumers (Go's `JSLimitOpts` and the
/// account's `JetStreamAccountLimits`); 0 or less is no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ConsumerLimits {
    /// The server's `jetstream { limits { max_ack_pending } }`.
    pub server_max_ack_pending: i64,
    /// The server's `jetstream { limits { max_request_batch } }`.
    pub server_max_request_batch: i64,
    /// The account's `max_ack_pending`.
    pub account_max_ack_pending: i64,
    /// The account's `max_consumers` (per stream).
    pub account_max_consumers: i64,
    /// The server's `jetstream { limits { default_max_consumers } }` (Go 2.15): the limit of
    /// a stream whose `max_consumers` is 0 or less, -1 included.
    pub server_default_max_consumers: i64,
}

fn pedantic(text: &str) -> ApiError {
    ApiError::pedantic(text)
}

/// Applies the Go server's defaults (Go's `setConsumerConfigDefaults`). In pedantic mode a
/// value that would be adjusted is refused instead.
pub fn apply_defaults(
    config: &ConsumerConfig,
    stream: &StreamConfig,
    limits: &ConsumerLimits,
    is_pedantic: bool,
) -> Result<ConsumerConfig, ApiError> {
    let mut config = config.clone();
    if config.max_deliver == 0 || config.max_deliver < -1 {
        if is_pedantic && config.max_deliver < -1 {
            return Err(pedantic("max_deliver must be set to -1"));
        }
        config.max_deliver = -1;
    }
    // Negative values Go turns into zero (max_ack_pending into -1), in Go's order, each
    // with its pedantic refusal.
    zero_negative(
        &mut config.max_waiting,
        is_pedantic,
        "max_waiting must not be negative",
    )?;
    if config.max_ack_pending < -1 {
        if is_pedantic {
            return Err(pedantic("max_ack_pending must be set to -1"));
        }
        config.max_ack_pending = -1;
    }
    zero_negative(
        &mut config.max_request_batch,
        is_pedantic,
        "max_batch must not be negative",
    )?;
    zero_negative(
        &mut config.max_request_expires,
        is_pedantic,
        "max_expires must not be negative",
    )?;
    zero_negative(
        &mut config.max_request_max_bytes,
        is_pedantic,
        "max_bytes must not be negative",
    )?;
    zero_negative(
        &mut config.heartbeat,
        is_pedantic,
        "idle_heartbeat must not be negative",
    )?;
    zero_negative(
        &mut config.inactive_threshold,
        is_pedantic,
        "inactive_threshold must not be negative",
    )?;
    zero_negative(
        &mut config.pinned_ttl,
        is_pedantic,
        "priority_timeout must not be negative",
    )?;
    if config.deliver_subject.is_empty() && config.max_waiting == 0 {
        config.max_waiting = DEFAULT_MAX_WAITING;
    }
    if config.ack_wait == 0 && matches!(config.ack_policy, AckPolicy::Explicit | AckPolicy::All) {
        config.ack_wait = DEFAULT_ACK_WAIT_NS;
    }
    if let Some(first) = config.backoff.first().copied() {
        if is_pedantic && config.ack_wait != first {
            return Err(pedantic("first backoff value has to equal batch AckWait"));
        }
        config.ack_wait = first;
    }
    let stream_limits = stream.consumer_limits;
    if config.max_ack_pending == 0 {
        if is_pedantic && stream_limits.max_ack_pending > 0 {
            return Err(pedantic(
                "max_ack_pending must be set if it's configured in stream limits",
            ));
        }
        config.max_ack_pending = stream_limits.max_ack_pending;
    }
    if config.inactive_threshold == 0 {
        if is_pedantic && stream_limits.inactive_threshold > 0 {
            return Err(pedantic(
                "inactive_threshold must be set if it's configured in stream limits",
            ));
        }
        config.inactive_threshold = stream_limits.inactive_threshold;
    }
    if config.max_ack_pending == 0 && config.ack_policy != AckPolicy::None {
        let mut ack_pending = DEFAULT_MAX_ACK_PENDING;
        if limits.server_max_ack_pending > 0 && limits.server_max_ack_pending < ack_pending {
            ack_pending = limits.server_max_ack_pending;
        }
        if limits.account_max_ack_pending > 0 && limits.account_max_ack_pending < ack_pending {
            ack_pending = limits.account_max_ack_pending;
        }
        config.max_ack_pending = ack_pending;
    }
    if config.deliver_subject.is_empty()
        && config.max_request_batch == 0
        && limits.server_max_request_batch > 0
    {
        if is_pedantic {
            return Err(pedantic(
                "max_request_batch must be set if it's JetStream limits are set",
            ));
        }
        config.max_request_batch = limits.server_max_request_batch;
    }
    if config.priority_policy == PriorityPolicy::PinnedClient && config.pinned_ttl == 0 {
        config.pinned_ttl = DEFAULT_PINNED_TTL_NS;
    }
    if config.ack_policy == AckPolicy::FlowControl && !is_pedantic {
        config.flow_control = true;
        config.heartbeat = FLOW_CONTROL_ACK_HEARTBEAT_NS;
    }
    Ok(config)
}

fn zero_negative(value: &mut i64, is_pedantic: bool, text: &str) -> Result<(), ApiError> {
    if *value < 0 {
        if is_pedantic {
            return Err(pedantic(text));
        }
        *value = 0;
    }
    Ok(())
}

/// Validates a configuration after [`apply_defaults`], in the order and with the errors of
/// Go's `checkConsumerCfg`. `recovering` skips the replica rule of interest streams, as Go
/// does for consumers loaded at start.
pub fn check_config(
    config: &ConsumerConfig,
    limits: &ConsumerLimits,
    stream: &StreamConfig,
    recovering: bool,
) -> Result<(), ApiError> {
    if !config.name.is_empty() && !is_valid_asset_name(&config.name) {
        return Err(ApiError::stream_invalid_config(
            "consumer name can not contain '.', '*', '>', '\\', '/'",
        ));
    }
    if !config.durable.is_empty() && !is_valid_asset_name(&config.durable) {
        return Err(ApiError::stream_invalid_config(
            "consumer durable name can not contain '.', '*', '>', '\\', '/'",
        ));
    }
    if config.replicas > 0 && config.replicas > stream.num_replicas {
        return Err(ApiError::new(ErrorId::ConsumerReplicasExceedsStream));
    }
    if config.replicas < 0 {
        return Err(ApiError::new(ErrorId::ReplicasCountCannotBeNegative));
    }
    if stream.retention != RetentionPolicy::Limits
        && !recovering
        && config.replicas != 0
        && config.replicas != stream.num_replicas
    {
        return Err(ApiError::new(ErrorId::ConsumerReplicasShouldMatchStream));
    }
    // Ack and replay policies are enums here: an unknown one was refused when decoding.
    if config.backoff.iter().any(|backoff| *backoff < 0) {
        return Err(ApiError::new(ErrorId::ConsumerBackOffNegative));
    }
    if config.ack_wait < 0 {
        return Err(ApiError::new(ErrorId::ConsumerAckWaitNegative));
    }
    if config.ack_policy == AckPolicy::FlowControl {
        check_flow_control_ack(config)?;
    }
    if !config.backoff.is_empty()
        && config.max_deliver != -1
        && config.backoff.len() as i64 > config.max_deliver
    {
        return Err(ApiError::new(ErrorId::ConsumerMaxDeliverBackoff));
    }
    if config.description.len() > MAX_DESCRIPTION_LEN {
        return Err(ApiError::consumer_description_too_long(MAX_DESCRIPTION_LEN));
    }
    if config.is_push() {
        check_push(config, stream)?;
    } else {
        check_pull(config, limits, stream)?;
    }
    check_ack_pending_limits(config, limits, stream)?;
    if config.direct {
        if !config.is_push() {
            return Err(ApiError::new(ErrorId::ConsumerDirectRequiresPush));
        }
        if config.is_durable() {
            return Err(ApiError::new(ErrorId::ConsumerDirectRequiresEphemeral));
        }
    }
    check_filters(config)?;
    check_start(config)?;
    if !config.sample_frequency.is_empty() {
        parse_sample_frequency(&config.sample_frequency)?;
    }
    if config.flow_control && config.heartbeat == 0 {
        return Err(ApiError::new(
            ErrorId::ConsumerWithFlowControlNeedsHeartbeats,
        ));
    }
    if !config.durable.is_empty() && !config.name.is_empty() && config.name != config.durable {
        return Err(ApiError::new(ErrorId::ConsumerCreateDurableAndNameMismatch));
    }
    let metadata_len: usize = config
        .metadata
        .iter()
        .map(|(key, value)| key.len() + value.len())
        .sum();
    if metadata_len > MAX_METADATA_LEN {
        return Err(ApiError::consumer_metadata_length(format!(
            "{}KB",
            MAX_METADATA_LEN / 1024
        )));
    }
    check_priority(config)?;
    if stream
        .placement
        .as_ref()
        .is_some_and(|placement| !placement.preferred.is_empty())
    {
        return Err(ApiError::stream_invalid_config(
            "preferred server not permitted in placement",
        ));
    }
    Ok(())
}

fn check_flow_control_ack(config: &ConsumerConfig) -> Result<(), ApiError> {
    if !config.is_push() {
        return Err(ApiError::new(ErrorId::ConsumerAckFCRequiresPush));
    }
    if !config.flow_control {
        return Err(ApiError::new(ErrorId::ConsumerAckFCRequiresFC));
    }
    if config.heartbeat != FLOW_CONTROL_ACK_HEARTBEAT_NS {
        return Err(ApiError::stream_invalid_config(
            "flow control ack policy heartbeat needs to be 1s",
        ));
    }
    if config.max_ack_pending <= 0 {
        return Err(ApiError::new(ErrorId::ConsumerAckFCRequiresMaxAckPending));
    }
    if config.ack_wait != 0 || !config.backoff.is_empty() {
        return Err(ApiError::new(ErrorId::ConsumerAckFCRequiresNoAckWait));
    }
    if config.max_deliver > 0 {
        return Err(ApiError::new(ErrorId::ConsumerAckFCRequiresNoMaxDeliver));
    }
    Ok(())
}

fn check_push(config: &ConsumerConfig, stream: &StreamConfig) -> Result<(), ApiError> {
    let deliver = config.deliver_subject.as_bytes();
    if has_wildcard_token(deliver) {
        return Err(ApiError::new(ErrorId::ConsumerDeliverToWildcards));
    }
    if !is_valid_subject(deliver) {
        return Err(ApiError::new(ErrorId::ConsumerInvalidDeliverSubject));
    }
    if delivery_forms_cycle(stream, &config.deliver_subject) {
        return Err(ApiError::new(ErrorId::ConsumerDeliverCycle));
    }
    if config.max_waiting != 0 {
        return Err(ApiError::new(ErrorId::ConsumerPushMaxWaiting));
    }
    if config.max_ack_pending > 0 && config.ack_policy == AckPolicy::None {
        return Err(ApiError::new(ErrorId::ConsumerMaxPendingAckPolicyRequired));
    }
    if config.heartbeat > 0 && config.heartbeat < MILLIS_100_NS {
        return Err(ApiError::new(ErrorId::ConsumerSmallHeartbeat));
    }
    Ok(())
}

fn check_pull(
    config: &ConsumerConfig,
    limits: &ConsumerLimits,
    stream: &StreamConfig,
) -> Result<(), ApiError> {
    if config.ack_policy == AckPolicy::None && stream.retention == RetentionPolicy::WorkQueue {
        return Err(ApiError::new(ErrorId::ConsumerPullRequiresAck));
    }
    if config.rate_limit > 0 {
        return Err(ApiError::new(ErrorId::ConsumerPullWithRateLimit));
    }
    if config.max_waiting < 0 {
        return Err(ApiError::new(ErrorId::ConsumerMaxWaitingNegative));
    }
    if config.heartbeat > 0 {
        return Err(ApiError::new(ErrorId::ConsumerHBRequiresPush));
    }
    if config.flow_control {
        return Err(ApiError::new(ErrorId::ConsumerFCRequiresPush));
    }
    if config.max_request_batch < 0 {
        return Err(ApiError::new(ErrorId::ConsumerMaxRequestBatchNegative));
    }
    if config.max_request_expires != 0 && config.max_request_expires < MILLISECOND_NS {
        return Err(ApiError::new(ErrorId::ConsumerMaxRequestExpiresTooSmall));
    }
    if limits.server_max_request_batch > 0
        && config.max_request_batch > limits.server_max_request_batch
    {
        return Err(ApiError::consumer_max_request_batch_exceeded(
            limits.server_max_request_batch,
        ));
    }
    Ok(())
}

fn check_ack_pending_limits(
    config: &ConsumerConfig,
    limits: &ConsumerLimits,
    stream: &StreamConfig,
) -> Result<(), ApiError> {
    for limit in [
        limits.server_max_ack_pending,
        limits.account_max_ack_pending,
        stream.consumer_limits.max_ack_pending,
    ] {
        if limit > 0 && config.max_ack_pending > limit {
            return Err(ApiError::consumer_max_pending_ack_excess(limit));
        }
    }
    let threshold = stream.consumer_limits.inactive_threshold;
    if threshold > 0 && config.inactive_threshold > threshold {
        return Err(ApiError::consumer_inactive_threshold_excess(
            go_duration_string(threshold),
        ));
    }
    Ok(())
}

fn check_filters(config: &ConsumerConfig) -> Result<(), ApiError> {
    if !config.filter_subject.is_empty() && !config.filter_subjects.is_empty() {
        return Err(ApiError::new(ErrorId::ConsumerDuplicateFilterSubjects));
    }
    if !config.filter_subject.is_empty() && !is_valid_subject(config.filter_subject.as_bytes()) {
        return Err(bad_subject());
    }
    if config.filter_subjects.iter().any(String::is_empty) {
        return Err(ApiError::new(ErrorId::ConsumerEmptyFilter));
    }
    let filters = config.filters();
    for (outer, subject) in filters.iter().enumerate() {
        if !is_valid_subject(subject.as_bytes()) {
            return Err(bad_subject());
        }
        for (inner, other) in filters.iter().enumerate() {
            if inner != outer && is_subset_match(subject.as_bytes(), other.as_bytes()) {
                return Err(ApiError::new(ErrorId::ConsumerOverlappingSubjectFilters));
            }
        }
    }
    Ok(())
}

/// Go's `ErrBadSubject` as a stream configuration error.
fn bad_subject() -> ApiError {
    ApiError::stream_invalid_config("invalid subject")
}

fn check_start(config: &ConsumerConfig) -> Result<(), ApiError> {
    let bad_start = |policy: &str, start: &str| {
        ApiError::consumer_invalid_policy(format!(
            "consumer delivery policy is deliver {policy}, but optional start {start} is also set"
        ))
    };
    let not_set = |policy: &str, missing: &str| {
        ApiError::consumer_invalid_policy(format!(
            "consumer delivery policy is deliver {policy}, but optional {missing} is not set"
        ))
    };
    let has_seq = config.opt_start_seq > 0;
    let has_time = config.opt_start_time.is_some();
    let without_start = |policy: &str| {
        if has_seq {
            return Err(bad_start(policy, "sequence"));
        }
        if has_time {
            return Err(bad_start(policy, "time"));
        }
        Ok(())
    };
    match config.deliver_policy {
        DeliverPolicy::All => without_start("all"),
        DeliverPolicy::Last => without_start("last"),
        DeliverPolicy::New => without_start("new"),
        DeliverPolicy::LastPerSubject => {
            without_start("last per subject")?;
            if config.filter_subject.is_empty() && config.filter_subjects.is_empty() {
                return Err(not_set("last per subject", "filter subject"));
            }
            Ok(())
        }
        DeliverPolicy::ByStartSequence => {
            if !has_seq {
                return Err(not_set("by start sequence", "start sequence"));
            }
            if has_time {
                return Err(bad_start("by start sequence", "time"));
            }
            Ok(())
        }
        DeliverPolicy::ByStartTime => {
            if !has_time {
                return Err(not_set("by start time", "start time"));
            }
            if config.opt_start_seq != 0 {
                return Err(bad_start("by start time", "start sequence"));
            }
            Ok(())
        }
    }
}

fn check_priority(config: &ConsumerConfig) -> Result<(), ApiError> {
    if config.priority_policy != PriorityPolicy::None {
        if config.is_push() {
            return Err(ApiError::new(ErrorId::ConsumerPushWithPriorityGroup));
        }
        if config.priority_groups.is_empty() {
            return Err(ApiError::new(ErrorId::ConsumerPriorityPolicyWithoutGroup));
        }
        for group in &config.priority_groups {
            if group.is_empty() {
                return Err(ApiError::new(ErrorId::ConsumerEmptyGroupName));
            }
            if !is_valid_group_name(group) {
                return Err(ApiError::new(ErrorId::ConsumerInvalidGroupName));
            }
        }
    } else {
        if !config.priority_groups.is_empty() {
            return Err(ApiError::new(ErrorId::ConsumerPriorityGroupWithPolicyNone));
        }
        if config.pinned_ttl > 0 {
            return Err(ApiError::new(
                ErrorId::ConsumerPinnedTTLWithoutPriorityPolicyNone,
            ));
        }
    }
    Ok(())
}

/// Go's `validGroupName`: `^[a-zA-Z0-9/_=-]{1,16}$`.
pub fn is_valid_group_name(group: &str) -> bool {
    (1..=16).contains(&group.len())
        && group
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'/' | b'_' | b'=' | b'-'))
}

/// Go's `deliveryFormsCycle`: the deliver subject is inside one of the stream's subjects.
fn delivery_forms_cycle(stream: &StreamConfig, deliver_subject: &str) -> bool {
    stream
        .subjects
        .iter()
        .any(|subject| is_subset_match(deliver_subject.as_bytes(), subject.as_bytes()))
}

/// The sampling percentage of `sample_freq` (`"50"` or `"50%"`), with Go's errors for what
/// `strconv.Atoi` refuses and for a negative value.
pub fn parse_sample_frequency(text: &str) -> Result<i64, ApiError> {
    let number = text.strip_suffix('%').unwrap_or(text);
    match go_atoi(number) {
        Ok(value) if value >= 0 => Ok(value),
        // Go reports a negative percentage with a nil error.
        Ok(_) => Err(ApiError::consumer_invalid_sampling("<nil>")),
        Err(error) => Err(ApiError::consumer_invalid_sampling(error)),
    }
}

/// Go's `strconv.Atoi` with its error text (`strconv.Atoi: parsing "x": invalid syntax`).
fn go_atoi(text: &str) -> Result<i64, String> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(format!("strconv.Atoi: parsing {text:?}: invalid syntax"));
    }
    text.parse::<i64>()
        .map_err(|_| format!("strconv.Atoi: parsing {text:?}: value out of range"))
}

/// Go's `checkNewConsumerConfig`: what an update may not change. `old_deliver_has_interest`
/// says whether the current deliver subject still has subscribers (changing it is then
/// refused as "consumer name already in use").
pub fn check_update(
    old: &ConsumerConfig,
    new: &ConsumerConfig,
    old_deliver_has_interest: bool,
) -> Result<(), ApiError> {
    if old == new {
        return Ok(());
    }
    let refuse = |text: &str| Err(ApiError::consumer_create(text));
    if old.deliver_policy != new.deliver_policy {
        return refuse("deliver policy can not be updated");
    }
    if old.memory_storage != new.memory_storage {
        return refuse("storage type can not be updated");
    }
    if old.opt_start_seq != new.opt_start_seq {
        return refuse("start sequence can not be updated");
    }
    if old.opt_start_time != new.opt_start_time {
        return refuse("start time can not be updated");
    }
    if old.ack_policy != new.ack_policy {
        return refuse("ack policy can not be updated");
    }
    if old.replay_policy != new.replay_policy {
        return refuse("replay policy can not be updated");
    }
    if old.heartbeat != new.heartbeat {
        return refuse("heart beats can not be updated");
    }
    if old.flow_control != new.flow_control {
        return refuse("flow control can not be updated");
    }
    if old.deliver_subject != new.deliver_subject {
        if old.deliver_subject.is_empty() {
            return refuse("can not update pull consumer to push based");
        }
        if new.deliver_subject.is_empty() {
            return refuse("can not update push consumer to pull based");
        }
        if old_deliver_has_interest {
            return Err(ApiError::new(ErrorId::ConsumerNameExist));
        }
    }
    if old.max_waiting != new.max_waiting {
        return refuse("max waiting can not be updated");
    }
    if !new.backoff.is_empty()
        && new.max_deliver != -1
        && new.backoff.len() as i64 > new.max_deliver
    {
        return Err(ApiError::new(ErrorId::ConsumerMaxDeliverBackoff));
    }
    Ok(())
}

/// Go's `setStaticConsumerMetadata`: drops the reply-only keys and records the API level the
/// configuration needs (pause and priority groups 1, flow-control acks 4).
pub fn set_static_metadata(config: &mut ConsumerConfig) {
    use crate::config::{REQUIRED_LEVEL_KEY, SERVER_LEVEL_KEY, SERVER_VERSION_KEY};
    config.metadata.remove(SERVER_VERSION_KEY);
    config.metadata.remove(SERVER_LEVEL_KEY);
    let mut level = 0;
    if config.pause_until.is_some_and(|until| !until.is_zero()) {
        level = level.max(1);
    }
    if config.priority_policy != PriorityPolicy::None
        || config.pinned_ttl != 0
        || !config.priority_groups.is_empty()
    {
        level = level.max(1);
    }
    if config.ack_policy == AckPolicy::FlowControl {
        level = level.max(4);
    }
    config
        .metadata
        .insert(REQUIRED_LEVEL_KEY.to_owned(), level.to_string());
}

/// Go's `setDynamicConsumerMetadata`: the configuration as replies show it, with the server's
/// version and API level added.
pub fn with_dynamic_metadata(
    config: &ConsumerConfig,
    version: &str,
    api_level: u32,
) -> ConsumerConfig {
    use crate::config::{SERVER_LEVEL_KEY, SERVER_VERSION_KEY};
    let mut shown = config.clone();
    shown
        .metadata
        .insert(SERVER_VERSION_KEY.to_owned(), version.to_owned());
    shown
        .metadata
        .insert(SERVER_LEVEL_KEY.to_owned(), api_level.to_string());
    shown
}

/// Go's `copyConsumerMetadata`: the reply-only keys go and the required level is the previous
/// configuration's (or absent if it had none).
pub fn copy_required_level(config: &mut ConsumerConfig, previous: &ConsumerConfig) {
    use crate::config::{REQUIRED_LEVEL_KEY, SERVER_LEVEL_KEY, SERVER_VERSION_KEY};
    config.metadata.remove(SERVER_VERSION_KEY);
    config.metadata.remove(SERVER_LEVEL_KEY);
    match previous.metadata.get(REQUIRED_LEVEL_KEY) {
        Some(level) => {
            config
                .metadata
                .insert(REQUIRED_LEVEL_KEY.to_owned(), level.clone());
        }
        None => {
            config.metadata.remove(REQUIRED_LEVEL_KEY);
        }
    }
}

/// The inactive threshold stamped into an ephemeral's configuration when it sets none
/// (Go's `updateInactiveThreshold`, without the jitter Go adds to its timer).
pub fn stamp_inactive_threshold(config: &mut ConsumerConfig) {
    if !config.is_durable() && config.inactive_threshold <= 0 {
        config.inactive_threshold = DEFAULT_EPHEMERAL_INACTIVE_THRESHOLD_NS;
    }
}

#[cfg(test)]
mod create_tests;
#[cfg(test)]
mod tests;
