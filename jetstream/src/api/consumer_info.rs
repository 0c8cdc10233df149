//! `ConsumerInfo` and what it contains, as the Go server writes it.

use serde::{Deserialize, Serialize};

use super::{is_false, is_zero_i64, ClusterInfo, ConsumerConfig};
use crate::time::{self, Timestamp};

/// A consumer's configuration and state (Go's `ConsumerInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerInfo {
    /// The stream.
    #[serde(rename = "stream_name")]
    pub stream: String,
    /// The consumer.
    pub name: String,
    /// When it was created.
    pub created: Timestamp,
    /// Its configuration, with the server's `_nats.*` metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<ConsumerConfig>,
    /// The last delivery.
    pub delivered: SequenceInfo,
    /// Everything at or below this is acknowledged.
    pub ack_floor: SequenceInfo,
    /// Deliveries not acknowledged yet.
    pub num_ack_pending: u64,
    /// Messages delivered more than once and still tracked.
    pub num_redelivered: u64,
    /// Pull requests waiting.
    pub num_waiting: u64,
    /// Messages matching the filters not delivered yet.
    pub num_pending: u64,
    /// Cluster information.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterInfo>,
    /// A push consumer with interest on its deliver subject.
    #[serde(default, skip_serializing_if = "is_false")]
    pub push_bound: bool,
    /// Delivery is paused.
    #[serde(default, skip_serializing_if = "is_false")]
    pub paused: bool,
    /// How long the pause lasts, nanoseconds.
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub pause_remaining: i64,
    /// When this information was gathered.
    pub ts: Timestamp,
    /// The priority groups and their pins.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub priority_groups: Vec<PriorityGroupState>,
}

/// A consumer and a stream sequence, and when it last changed (Go's `SequenceInfo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SequenceInfo {
    /// The consumer sequence.
    #[serde(rename = "consumer_seq")]
    pub consumer: u64,
    /// The stream sequence.
    #[serde(rename = "stream_seq")]
    pub stream: u64,
    /// When it last moved.
    #[serde(
        rename = "last_active",
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::optional"
    )]
    pub last: Option<Timestamp>,
}

/// A priority group's pin (Go's `PriorityGroupState`). `pinned_ts` is always written: Go's
/// `omitempty` does not omit a `time.Time`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PriorityGroupState {
    /// The group.
    pub group: String,
    /// The pinned client's id.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub pinned_client_id: String,
    /// Since when it is pinned (the zero time when it is not).
    #[serde(default)]
    pub pinned_ts: Timestamp,
}
