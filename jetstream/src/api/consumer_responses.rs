//! Replies of the consumer API, in the Go server's field order (the embedded `ApiResponse`
//! first) and with its zero values on errors.

use serde::{Deserialize, Serialize};

use super::{is_false, is_zero_i64, ApiPaged, ApiResponse, ConsumerInfo};
use crate::errors::ApiError;
use crate::time::Timestamp;

/// `type` of `CONSUMER.CREATE` (and `DURABLE.CREATE`) replies.
pub const CONSUMER_CREATE_RESPONSE_TYPE: &str = "io.nats.jetstream.api.v1.consumer_create_response";
/// `type` of `CONSUMER.INFO` replies.
pub const CONSUMER_INFO_RESPONSE_TYPE: &str = "io.nats.jetstream.api.v1.consumer_info_response";
/// `type` of `CONSUMER.NAMES` replies.
pub const CONSUMER_NAMES_RESPONSE_TYPE: &str = "io.nats.jetstream.api.v1.consumer_names_response";
/// `type` of `CONSUMER.LIST` replies.
pub const CONSUMER_LIST_RESPONSE_TYPE: &str = "io.nats.jetstream.api.v1.consumer_list_response";
/// `type` of `CONSUMER.DELETE` replies.
pub const CONSUMER_DELETE_RESPONSE_TYPE: &str = "io.nats.jetstream.api.v1.consumer_delete_response";
/// `type` of `CONSUMER.PAUSE` replies.
pub const CONSUMER_PAUSE_RESPONSE_TYPE: &str = "io.nats.jetstream.api.v1.consumer_pause_response";
/// `type` of `CONSUMER.UNPIN` replies.
pub const CONSUMER_UNPIN_RESPONSE_TYPE: &str = "io.nats.jetstream.api.v1.consumer_unpin_response";
/// `type` of `CONSUMER.RESET` replies.
pub const CONSUMER_RESET_RESPONSE_TYPE: &str = "io.nats.jetstream.api.v1.consumer_reset_response";

/// `CONSUMER.CREATE` and `CONSUMER.INFO` replies (Go's `JSApiConsumerCreateResponse` and
/// `JSApiConsumerInfoResponse`, which have the same shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerInfoResponse {
    /// Type and error.
    #[serde(flatten)]
    pub response: ApiResponse,
    /// The consumer, on success.
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub info: Option<ConsumerInfo>,
}

impl ConsumerInfoResponse {
    /// The successful reply of type `kind` ([`CONSUMER_CREATE_RESPONSE_TYPE`] or
    /// [`CONSUMER_INFO_RESPONSE_TYPE`]).
    pub fn ok(kind: &str, info: ConsumerInfo) -> Self {
        ConsumerInfoResponse {
            response: ApiResponse::ok(kind),
            info: Some(info),
        }
    }

    /// The failed reply of type `kind`.
    pub fn error(kind: &str, error: ApiError) -> Self {
        ConsumerInfoResponse {
            response: ApiResponse::error(kind, error),
            info: None,
        }
    }
}

/// `CONSUMER.NAMES` reply. `consumers` is `[]` even on errors: Go starts from an empty
/// slice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerNamesResponse {
    /// Type and error.
    #[serde(flatten)]
    pub response: ApiResponse,
    /// Paging.
    #[serde(flatten)]
    pub paged: ApiPaged,
    /// The names of this page, sorted.
    pub consumers: Vec<String>,
}

impl ConsumerNamesResponse {
    /// The successful reply.
    pub fn ok(consumers: Vec<String>, paged: ApiPaged) -> Self {
        ConsumerNamesResponse {
            response: ApiResponse::ok(CONSUMER_NAMES_RESPONSE_TYPE),
            paged,
            consumers,
        }
    }

    /// The failed reply.
    pub fn error(error: ApiError) -> Self {
        ConsumerNamesResponse {
            response: ApiResponse::error(CONSUMER_NAMES_RESPONSE_TYPE, error),
            paged: ApiPaged::default(),
            consumers: Vec::new(),
        }
    }
}

/// `CONSUMER.LIST` reply; `consumers` is `[]` even on errors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerListResponse {
    /// Type and error.
    #[serde(flatten)]
    pub response: ApiResponse,
    /// Paging.
    #[serde(flatten)]
    pub paged: ApiPaged,
    /// The consumers of this page, sorted by name.
    pub consumers: Vec<ConsumerInfo>,
    /// Consumers that could not be reported.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
}

impl ConsumerListResponse {
    /// The successful reply.
    pub fn ok(consumers: Vec<ConsumerInfo>, paged: ApiPaged) -> Self {
        ConsumerListResponse {
            response: ApiResponse::ok(CONSUMER_LIST_RESPONSE_TYPE),
            paged,
            consumers,
            missing: Vec::new(),
        }
    }

    /// The failed reply.
    pub fn error(error: ApiError) -> Self {
        ConsumerListResponse {
            response: ApiResponse::error(CONSUMER_LIST_RESPONSE_TYPE, error),
            paged: ApiPaged::default(),
            consumers: Vec::new(),
            missing: Vec::new(),
        }
    }
}

/// `CONSUMER.DELETE` reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerDeleteResponse {
    /// Type and error.
    #[serde(flatten)]
    pub response: ApiResponse,
    /// Whether it was deleted.
    #[serde(default, skip_serializing_if = "is_false")]
    pub success: bool,
}

impl ConsumerDeleteResponse {
    /// The successful reply.
    pub fn ok() -> Self {
        ConsumerDeleteResponse {
            response: ApiResponse::ok(CONSUMER_DELETE_RESPONSE_TYPE),
            success: true,
        }
    }

    /// The failed reply.
    pub fn error(error: ApiError) -> Self {
        ConsumerDeleteResponse {
            response: ApiResponse::error(CONSUMER_DELETE_RESPONSE_TYPE, error),
            success: false,
        }
    }
}

/// `CONSUMER.PAUSE` reply; `paused` and `pause_until` are always written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerPauseResponse {
    /// Type and error.
    #[serde(flatten)]
    pub response: ApiResponse,
    /// Whether the consumer is paused now.
    pub paused: bool,
    /// Until when (the zero time when resumed).
    pub pause_until: Timestamp,
    /// How long the pause lasts, nanoseconds.
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub pause_remaining: i64,
}

impl ConsumerPauseResponse {
    /// The reply for a pause until `pause_until` asked at `now_ns`.
    pub fn ok(pause_until: Timestamp, now_ns: i64) -> Self {
        let remaining = pause_until
            .unix_nanos()
            .map_or(0, |until| until.saturating_sub(now_ns));
        ConsumerPauseResponse {
            response: ApiResponse::ok(CONSUMER_PAUSE_RESPONSE_TYPE),
            paused: remaining > 0,
            pause_until,
            pause_remaining: remaining.max(0),
        }
    }

    /// The failed reply.
    pub fn error(error: ApiError) -> Self {
        ConsumerPauseResponse {
            response: ApiResponse::error(CONSUMER_PAUSE_RESPONSE_TYPE, error),
            paused: false,
            pause_until: Timestamp::ZERO,
            pause_remaining: 0,
        }
    }
}

/// `CONSUMER.UNPIN` reply: type and error only.
pub fn unpin_response(error: Option<ApiError>) -> ApiResponse {
    match error {
        None => ApiResponse::ok(CONSUMER_UNPIN_RESPONSE_TYPE),
        Some(error) => ApiResponse::error(CONSUMER_UNPIN_RESPONSE_TYPE, error),
    }
}

/// `CONSUMER.RESET` reply (Go's `JSApiConsumerResetResponse`); `reset_seq` is always written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerResetResponse {
    /// Type and error.
    #[serde(flatten)]
    pub response: ApiResponse,
    /// The consumer after the reset.
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub info: Option<ConsumerInfo>,
    /// The next stream sequence the consumer delivers.
    pub reset_seq: u64,
}

impl ConsumerResetResponse {
    /// The successful reply.
    pub fn ok(info: ConsumerInfo, reset_seq: u64) -> Self {
        ConsumerResetResponse {
            response: ApiResponse::ok(CONSUMER_RESET_RESPONSE_TYPE),
            info: Some(info),
            reset_seq,
        }
    }

    /// The failed reply.
    pub fn error(error: ApiError) -> Self {
        ConsumerResetResponse {
            response: ApiResponse::error(CONSUMER_RESET_RESPONSE_TYPE, error),
            info: None,
            reset_seq: 0,
        }
    }
}
