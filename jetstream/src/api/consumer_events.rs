//! Consumer advisories (`$JS.EVENT.ADVISORY.CONSUMER.*`) and the ack metric
//! (`$JS.EVENT.METRIC.CONSUMER.ACK.*`), as the Go server writes them (`jetstream_events.go`).
//! Every event starts with Go's `TypedEvent`: `type`, `id` (a NUID), `timestamp`.

use serde::{Deserialize, Serialize};

use crate::time::Timestamp;

/// Subject prefix of the created advisory; `.<stream>.<consumer>` follows.
pub const CONSUMER_CREATED_PREFIX: &str = "$JS.EVENT.ADVISORY.CONSUMER.CREATED";
/// Subject prefix of the deleted advisory.
pub const CONSUMER_DELETED_PREFIX: &str = "$JS.EVENT.ADVISORY.CONSUMER.DELETED";
/// Subject prefix of the max deliveries advisory.
pub const CONSUMER_MAX_DELIVERIES_PREFIX: &str = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES";
/// Subject prefix of the NAK advisory.
pub const CONSUMER_NAKED_PREFIX: &str = "$JS.EVENT.ADVISORY.CONSUMER.MSG_NAKED";
/// Subject prefix of the terminated advisory.
pub const CONSUMER_TERMINATED_PREFIX: &str = "$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED";
/// Subject prefix of the pause advisory.
pub const CONSUMER_PAUSE_PREFIX: &str = "$JS.EVENT.ADVISORY.CONSUMER.PAUSE";
/// Subject prefix of the pinned advisory.
pub const CONSUMER_PINNED_PREFIX: &str = "$JS.EVENT.ADVISORY.CONSUMER.PINNED";
/// Subject prefix of the unpinned advisory.
pub const CONSUMER_UNPINNED_PREFIX: &str = "$JS.EVENT.ADVISORY.CONSUMER.UNPINNED";
/// Subject prefix of the ack metric.
pub const CONSUMER_ACK_METRIC_PREFIX: &str = "$JS.EVENT.METRIC.CONSUMER.ACK";

/// `type` of the created/deleted advisory.
pub const CONSUMER_ACTION_TYPE: &str = "io.nats.jetstream.advisory.v1.consumer_action";
/// `type` of the pause advisory.
pub const CONSUMER_PAUSE_TYPE: &str = "io.nats.jetstream.advisory.v1.consumer_pause";
/// `type` of the ack metric.
pub const CONSUMER_ACK_METRIC_TYPE: &str = "io.nats.jetstream.metric.v1.consumer_ack";
/// `type` of the max deliveries advisory.
pub const MAX_DELIVER_TYPE: &str = "io.nats.jetstream.advisory.v1.max_deliver";
/// `type` of the NAK advisory.
pub const NAK_TYPE: &str = "io.nats.jetstream.advisory.v1.nak";
/// `type` of the terminated advisory.
pub const TERMINATED_TYPE: &str = "io.nats.jetstream.advisory.v1.terminated";
/// `type` of the pinned advisory.
pub const GROUP_PINNED_TYPE: &str = "io.nats.jetstream.advisory.v1.consumer_group_pinned";
/// `type` of the unpinned advisory.
pub const GROUP_UNPINNED_TYPE: &str = "io.nats.jetstream.advisory.v1.consumer_group_unpinned";

/// The subject of an event: `<prefix>.<stream>.<consumer>`.
pub fn event_subject(prefix: &str, stream: &str, consumer: &str) -> String {
    let mut subject = String::with_capacity(prefix.len() + stream.len() + consumer.len() + 2);
    subject.push_str(prefix);
    subject.push('.');
    subject.push_str(stream);
    subject.push('.');
    subject.push_str(consumer);
    subject
}

/// Go's `TypedEvent`, first in every event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypedEvent {
    /// The event's schema type.
    #[serde(rename = "type")]
    pub kind: String,
    /// A unique id.
    pub id: String,
    /// When it happened.
    pub timestamp: Timestamp,
}

/// Created or deleted (Go's `JSConsumerActionAdvisory`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerActionAdvisory {
    /// Type, id, time.
    #[serde(flatten)]
    pub event: TypedEvent,
    /// The stream.
    pub stream: String,
    /// The consumer.
    pub consumer: String,
    /// `create` or `delete`.
    pub action: String,
    /// The JetStream domain.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub domain: String,
}

/// Paused or resumed (Go's `JSConsumerPauseAdvisory`); `pause_until` is always written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerPauseAdvisory {
    /// Type, id, time.
    #[serde(flatten)]
    pub event: TypedEvent,
    /// The stream.
    pub stream: String,
    /// The consumer.
    pub consumer: String,
    /// Whether it is paused now.
    pub paused: bool,
    /// Until when (the zero time when resumed).
    pub pause_until: Timestamp,
    /// The JetStream domain.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub domain: String,
}

/// A sampled ack (Go's `JSConsumerAckMetric`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerAckMetric {
    /// Type, id, time.
    #[serde(flatten)]
    pub event: TypedEvent,
    /// The stream.
    pub stream: String,
    /// The consumer.
    pub consumer: String,
    /// The delivery's consumer sequence.
    pub consumer_seq: u64,
    /// The message's stream sequence.
    pub stream_seq: u64,
    /// Nanoseconds from the delivery to the ack.
    #[serde(rename = "ack_time")]
    pub delay: i64,
    /// Deliveries so far.
    pub deliveries: u64,
    /// The JetStream domain.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub domain: String,
}

/// A message reached `max_deliver` (Go's `JSConsumerDeliveryExceededAdvisory`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaxDeliverAdvisory {
    /// Type, id, time.
    #[serde(flatten)]
    pub event: TypedEvent,
    /// The stream.
    pub stream: String,
    /// The consumer.
    pub consumer: String,
    /// The message's stream sequence.
    pub stream_seq: u64,
    /// Deliveries made.
    pub deliveries: u64,
    /// The JetStream domain.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub domain: String,
}

/// A delivery was NAKed (Go's `JSConsumerDeliveryNakAdvisory`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NakAdvisory {
    /// Type, id, time.
    #[serde(flatten)]
    pub event: TypedEvent,
    /// The stream.
    pub stream: String,
    /// The consumer.
    pub consumer: String,
    /// The delivery's consumer sequence.
    pub consumer_seq: u64,
    /// The message's stream sequence.
    pub stream_seq: u64,
    /// Deliveries so far.
    pub deliveries: u64,
    /// The JetStream domain.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub domain: String,
}

/// A delivery was terminated (Go's `JSConsumerDeliveryTerminatedAdvisory`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminatedAdvisory {
    /// Type, id, time.
    #[serde(flatten)]
    pub event: TypedEvent,
    /// The stream.
    pub stream: String,
    /// The consumer.
    pub consumer: String,
    /// The delivery's consumer sequence.
    pub consumer_seq: u64,
    /// The message's stream sequence.
    pub stream_seq: u64,
    /// Deliveries so far.
    pub deliveries: u64,
    /// Why (the `+TERM` text, or the server's reason).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// The JetStream domain.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub domain: String,
}

/// A priority group got a pinned client (Go's `JSConsumerGroupPinnedAdvisory`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupPinnedAdvisory {
    /// Type, id, time.
    #[serde(flatten)]
    pub event: TypedEvent,
    /// The account.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub account: String,
    /// The stream.
    pub stream: String,
    /// The consumer.
    pub consumer: String,
    /// The JetStream domain.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub domain: String,
    /// The group.
    pub group: String,
    /// The new pin id.
    #[serde(rename = "pinned_id")]
    pub pinned_client_id: String,
}

/// A priority group lost its pin (Go's `JSConsumerGroupUnpinnedAdvisory`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupUnpinnedAdvisory {
    /// Type, id, time.
    #[serde(flatten)]
    pub event: TypedEvent,
    /// The account.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub account: String,
    /// The stream.
    pub stream: String,
    /// The consumer.
    pub consumer: String,
    /// The JetStream domain.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub domain: String,
    /// The group.
    pub group: String,
    /// `admin` (the UNPIN API) or `timeout`.
    pub reason: String,
}
