//! Request bodies of the consumer API. `CONSUMER.CREATE`, `NAMES`, `LIST` and `PAUSE` are
//! decoded strictly, as the Go server's `unmarshalRequest` does; pull requests, `UNPIN`,
//! `RESET` and NAK options with Go's plain `json.Unmarshal` (unknown fields ignored).

use serde::{Deserialize, Serialize};

use super::{is_false, is_zero_i64, is_zero_u64, ConsumerAction, ConsumerConfig};
use crate::json::{self, JsonError};
use crate::time::Timestamp;

/// A `CONSUMER.CREATE` body (Go's `CreateConsumerRequest`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CreateConsumerRequest {
    /// The stream, which must agree with the subject.
    #[serde(rename = "stream_name")]
    pub stream: String,
    /// The configuration asked for.
    pub config: ConsumerConfig,
    /// Create, update, or either.
    pub action: ConsumerAction,
    /// Refuse instead of adjusting values.
    #[serde(skip_serializing_if = "is_false")]
    pub pedantic: bool,
}

impl CreateConsumerRequest {
    /// Decodes a body as Go's `unmarshalRequest` (strict; an empty body is the zero request).
    pub fn from_json(body: &[u8]) -> Result<CreateConsumerRequest, JsonError> {
        json::from_request(body)
    }
}

/// `CONSUMER.NAMES` and `CONSUMER.LIST` body (Go's `JSApiConsumersRequest`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsumersRequest {
    /// First item of the page.
    pub offset: i64,
}

/// `CONSUMER.PAUSE` body (Go's `JSApiConsumerPauseRequest`); the zero time (or no body)
/// resumes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsumerPauseRequest {
    /// Pause until then.
    pub pause_until: Timestamp,
}

/// `CONSUMER.UNPIN` body (Go's `JSApiConsumerUnpinRequest`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ConsumerUnpinRequest {
    /// The priority group to unpin.
    pub group: String,
}

/// `CONSUMER.RESET` body (Go's `JSApiConsumerResetRequest`); 0 resets to the ack floor.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ConsumerResetRequest {
    /// The next stream sequence to deliver.
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub seq: u64,
}

/// A pull request as JSON (Go's `JSApiConsumerGetNextRequest` with its embedded
/// `PriorityGroup`). Durations are nanoseconds.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct NextRequest {
    /// How long the request waits, 0 for as long as the requester listens.
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub expires: i64,
    /// Messages wanted.
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub batch: i64,
    /// Bytes wanted at most.
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub max_bytes: i64,
    /// Answer at once (`404 No Messages`) when nothing is pending.
    #[serde(skip_serializing_if = "is_false")]
    pub no_wait: bool,
    /// Heartbeat interval while the request waits.
    #[serde(rename = "idle_heartbeat", skip_serializing_if = "is_zero_i64")]
    pub heartbeat: i64,
    /// The priority group pulled from.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub group: String,
    /// Overflow: serve only when at least this many messages are pending.
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub min_pending: i64,
    /// Overflow: serve only when at least this many deliveries are unacknowledged.
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub min_ack_pending: i64,
    /// Pinned client: the pin id the client holds.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// Prioritized: 0 (first) to 9.
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub priority: i64,
}

/// The JSON options of a `-NAK` (Go's `ConsumerNakOptions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct NakOptions {
    /// Redeliver after this long, nanoseconds.
    pub delay: i64,
}
