//! `ConsumerConfig` and its enums, with the Go server's JSON field names, field order,
//! `omitempty` rules and enum spellings (`server/consumer.go`, `server/store.go`, 2.14; 2.15
//! adds no consumer fields).
//!
//! Decoding is strict as in the Go server (unknown fields are refused); an absent field takes
//! Go's zero value, which [`crate::consumer::config::apply_defaults`] turns into the server's
//! default. Note Go's zero `ack_policy` is `none`.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

use super::go_enum::{go_enum, UnknownSpelling, CAN_NOT_UNMARSHAL};
use super::{is_false, is_zero_i64, is_zero_u64};
use crate::time::{self, Timestamp};

/// A consumer's configuration (Go's `ConsumerConfig`). Durations are nanoseconds.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsumerConfig {
    /// The durable name (legacy; a durable consumer survives inactivity).
    #[serde(rename = "durable_name", skip_serializing_if = "String::is_empty")]
    pub durable: String,
    /// The consumer's name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Free text.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Where delivery starts.
    pub deliver_policy: DeliverPolicy,
    /// The first sequence with `by_start_sequence`.
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub opt_start_seq: u64,
    /// The first time with `by_start_time`.
    #[serde(skip_serializing_if = "Option::is_none", with = "time::optional")]
    pub opt_start_time: Option<Timestamp>,
    /// How deliveries are acknowledged.
    pub ack_policy: AckPolicy,
    /// How long a delivery may stay unacknowledged before it is redelivered, nanoseconds.
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub ack_wait: i64,
    /// Deliveries of one message at most, -1 for unlimited.
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub max_deliver: i64,
    /// Redelivery delays by delivery count, nanoseconds.
    #[serde(
        rename = "backoff",
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub backoff: Vec<i64>,
    /// Only subjects matching this.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub filter_subject: String,
    /// Only subjects matching one of these.
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub filter_subjects: Vec<String>,
    /// Instant, or at the pace the messages were stored.
    pub replay_policy: ReplayPolicy,
    /// Push delivery rate limit, bits per second.
    #[serde(rename = "rate_limit_bps", skip_serializing_if = "is_zero_u64")]
    pub rate_limit: u64,
    /// Percentage of acks sampled as metrics (`"50"` or `"50%"`).
    #[serde(rename = "sample_freq", skip_serializing_if = "String::is_empty")]
    pub sample_frequency: String,
    /// Pull requests waiting at most.
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub max_waiting: i64,
    /// Unacknowledged deliveries at most, -1 for unlimited.
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub max_ack_pending: i64,
    /// Push flow control.
    #[serde(skip_serializing_if = "is_false")]
    pub flow_control: bool,
    /// Deliver headers and the payload size only.
    #[serde(skip_serializing_if = "is_false")]
    pub headers_only: bool,
    /// Largest batch of one pull request.
    #[serde(rename = "max_batch", skip_serializing_if = "is_zero_i64")]
    pub max_request_batch: i64,
    /// Longest expiry of one pull request, nanoseconds.
    #[serde(rename = "max_expires", skip_serializing_if = "is_zero_i64")]
    pub max_request_expires: i64,
    /// Largest `max_bytes` of one pull request.
    #[serde(rename = "max_bytes", skip_serializing_if = "is_zero_i64")]
    pub max_request_max_bytes: i64,
    /// Where a push consumer delivers.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub deliver_subject: String,
    /// The queue group of a push consumer's subscribers.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub deliver_group: String,
    /// Idle heartbeat interval of a push consumer, nanoseconds.
    #[serde(rename = "idle_heartbeat", skip_serializing_if = "is_zero_i64")]
    pub heartbeat: i64,
    /// Inactivity after which the consumer is deleted, nanoseconds.
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub inactive_threshold: i64,
    /// Replicas (0 inherits the stream's).
    #[serde(rename = "num_replicas")]
    pub replicas: i64,
    /// Keep the state in memory.
    #[serde(rename = "mem_storage", skip_serializing_if = "is_false")]
    pub memory_storage: bool,
    /// An internal consumer of a mirror or source (not listed).
    #[serde(skip_serializing_if = "is_false")]
    pub direct: bool,
    /// A consumer sourcing into another stream.
    #[serde(skip_serializing_if = "is_false")]
    pub sourcing: bool,
    /// Free key/value pairs; the server adds `_nats.*` keys.
    #[serde(
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub metadata: BTreeMap<String, String>,
    /// Delivery is paused until then.
    #[serde(skip_serializing_if = "Option::is_none", with = "time::optional")]
    pub pause_until: Option<Timestamp>,
    /// Priority group names (one is supported, as in Go).
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub priority_groups: Vec<String>,
    /// How pull requests of the groups are served.
    #[serde(skip_serializing_if = "PriorityPolicy::is_none")]
    pub priority_policy: PriorityPolicy,
    /// How long a pinned client keeps its pin without pulling, nanoseconds.
    #[serde(rename = "priority_timeout", skip_serializing_if = "is_zero_i64")]
    pub pinned_ttl: i64,
}

impl ConsumerConfig {
    /// Whether this is a durable consumer (Go's `isDurableConsumer`).
    pub fn is_durable(&self) -> bool {
        !self.durable.is_empty()
    }

    /// Whether this is a push consumer.
    pub fn is_push(&self) -> bool {
        !self.deliver_subject.is_empty()
    }

    /// The filters, `filter_subject` first (Go's `gatherSubjectFilters` appends it last to
    /// `filter_subjects`; both cannot be set at once, so the order never mixes).
    pub fn filters(&self) -> Vec<String> {
        let mut filters = self.filter_subjects.clone();
        if !self.filter_subject.is_empty() {
            filters.push(self.filter_subject.clone());
        }
        filters
    }
}

go_enum! {
    /// Where delivery starts (Go's `DeliverPolicy`).
    DeliverPolicy {
        /// From the first message.
        #[default]
        All = "all",
        /// From the last message (of the filters).
        Last = "last",
        /// Only messages stored after the consumer was created.
        New = "new",
        /// From `opt_start_seq`.
        ByStartSequence = "by_start_sequence",
        /// From the first message at or after `opt_start_time`.
        ByStartTime = "by_start_time",
        /// The last message of every subject, then everything new.
        LastPerSubject = "last_per_subject",
    } default All, case_insensitive false, empty_is_default false, error CAN_NOT_UNMARSHAL,
      // Go writes an unknown policy as "undefined" and reads that back as `all`.
      also "undefined" => All
}

go_enum! {
    /// How deliveries are acknowledged (Go's `AckPolicy`).
    AckPolicy {
        /// No acknowledgements; a delivery counts as acknowledged.
        #[default]
        None = "none",
        /// Acknowledging a message acknowledges every earlier one.
        All = "all",
        /// Every message is acknowledged on its own.
        Explicit = "explicit",
        /// Acknowledged by flow control replies (2.14, for sourcing consumers).
        FlowControl = "flow_control",
    } default None, case_insensitive false, empty_is_default false, error CAN_NOT_UNMARSHAL
}

go_enum! {
    /// The pace of delivery (Go's `ReplayPolicy`).
    ReplayPolicy {
        /// As fast as possible.
        #[default]
        Instant = "instant",
        /// With the gaps between the messages' store times.
        Original = "original",
    } default Instant, case_insensitive false, empty_is_default false, error CAN_NOT_UNMARSHAL
}

go_enum! {
    /// How the pull requests of a priority group are served (Go's `PriorityPolicy`, ADR-42).
    PriorityPolicy {
        /// No priority groups.
        #[default]
        None = "none",
        /// Requests with `min_pending`/`min_ack_pending` are served only past those levels.
        Overflow = "overflow",
        /// One client (by pin id) gets everything until it stops pulling.
        PinnedClient = "pinned_client",
        /// Requests with the lowest `priority` are served first.
        Prioritized = "prioritized",
    } default None, case_insensitive false, empty_is_default false,
      error UnknownSpelling::Prefixed("unknown priority policy:")
}

impl PriorityPolicy {
    fn is_none(&self) -> bool {
        *self == PriorityPolicy::None
    }
}

/// What a `CONSUMER.CREATE` request asks for (Go's `ConsumerAction`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ConsumerAction {
    /// Create it, or update it if it exists (`""`, the default).
    #[default]
    CreateOrUpdate,
    /// Only update an existing consumer (`"update"`).
    Update,
    /// Only create; an existing consumer with another configuration is an error
    /// (`"create"`).
    Create,
}

impl ConsumerAction {
    /// The JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ConsumerAction::CreateOrUpdate => "",
            ConsumerAction::Update => "update",
            ConsumerAction::Create => "create",
        }
    }
}

impl Serialize for ConsumerAction {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ConsumerAction {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text: Option<String> = Option::deserialize(deserializer)?;
        match text.as_deref() {
            None | Some("") => Ok(ConsumerAction::CreateOrUpdate),
            Some("update") => Ok(ConsumerAction::Update),
            Some("create") => Ok(ConsumerAction::Create),
            Some(other) => Err(serde::de::Error::custom(
                UnknownSpelling::Prefixed("unknown consumer action:").message(other),
            )),
        }
    }
}

/// Go decodes `null` into a slice or map as "leave it empty"; serde would refuse it.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}
