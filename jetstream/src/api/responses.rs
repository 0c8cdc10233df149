//! Replies of the stream API, the PubAck, and the stream action advisory. Field order is the
//! Go server's (the embedded `ApiResponse` first), so that the serialized bytes match.

use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{is_false, AccountStats, StreamConfig, StreamInfo, StreamState};
use crate::errors::ApiError;
use crate::time::Timestamp;

/// A bare reply: `type` and, on failure, `error` (Go's `ApiResponse`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiResponse {
    /// The reply's type (`io.nats.jetstream.api.v1...`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Why the request failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ApiError>,
}

impl ApiResponse {
    /// A reply of this type carrying `error`.
    pub fn error(kind: &str, error: ApiError) -> ApiResponse {
        ApiResponse {
            kind: kind.to_owned(),
            error: Some(error),
        }
    }
}

/// Paging of list replies (Go's `ApiPaged`); never omitted, even on errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ApiPaged {
    /// Items in all pages.
    pub total: u64,
    /// First item of this page.
    pub offset: u64,
    /// Page size.
    pub limit: u64,
}

macro_rules! reply_constructors {
    ($name:ident, $kind:expr) => {
        impl $name {
            /// The failed reply: `error` set, every other field at its zero value (as Go).
            pub fn error(error: ApiError) -> $name {
                $name {
                    response: ApiResponse::error($kind, error),
                    ..$name::empty()
                }
            }
        }
    };
}

/// `STREAM.CREATE` reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamCreateResponse {
    /// Type and error.
    #[serde(flatten)]
    pub response: ApiResponse,
    /// The stream, on success.
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub info: Option<StreamInfo>,
    /// Whether this request created it (an identical create is answered without it).
    #[serde(default, skip_serializing_if = "is_false")]
    pub did_create: bool,
}

impl StreamCreateResponse {
    fn empty() -> Self {
        StreamCreateResponse {
            response: ApiResponse::ok(super::STREAM_CREATE_RESPONSE_TYPE),
            info: None,
            did_create: false,
        }
    }

    /// The successful reply.
    pub fn ok(info: StreamInfo, did_create: bool) -> Self {
        StreamCreateResponse {
            response: ApiResponse::ok(super::STREAM_CREATE_RESPONSE_TYPE),
            info: Some(info),
            did_create,
        }
    }
}
reply_constructors!(StreamCreateResponse, super::STREAM_CREATE_RESPONSE_TYPE);

/// `STREAM.UPDATE` reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamUpdateResponse {
    /// Type and error.
    #[serde(flatten)]
    pub response: ApiResponse,
    /// The stream, on success.
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub info: Option<StreamInfo>,
}

impl StreamUpdateResponse {
    fn empty() -> Self {
        StreamUpdateResponse {
            response: ApiResponse::ok(super::STREAM_UPDATE_RESPONSE_TYPE),
            info: None,
        }
    }

    /// The successful reply.
    pub fn ok(info: StreamInfo) -> Self {
        StreamUpdateResponse {
            response: ApiResponse::ok(super::STREAM_UPDATE_RESPONSE_TYPE),
            info: Some(info),
        }
    }
}
reply_constructors!(StreamUpdateResponse, super::STREAM_UPDATE_RESPONSE_TYPE);

/// `STREAM.INFO` reply; the paging fields page `state.subjects`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamInfoResponse {
    /// Type and error.
    #[serde(flatten)]
    pub response: ApiResponse,
    /// Paging of the subjects.
    #[serde(flatten)]
    pub paged: ApiPaged,
    /// The stream, on success.
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub info: Option<StreamInfo>,
}

impl StreamInfoResponse {
    fn empty() -> Self {
        StreamInfoResponse {
            response: ApiResponse::ok(super::STREAM_INFO_RESPONSE_TYPE),
            paged: ApiPaged::default(),
            info: None,
        }
    }

    /// The successful reply.
    pub fn ok(info: StreamInfo, paged: ApiPaged) -> Self {
        StreamInfoResponse {
            response: ApiResponse::ok(super::STREAM_INFO_RESPONSE_TYPE),
            paged,
            info: Some(info),
        }
    }
}
reply_constructors!(StreamInfoResponse, super::STREAM_INFO_RESPONSE_TYPE);

/// `STREAM.NAMES` reply. `streams` is `null` on errors, as Go writes a nil slice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamNamesResponse {
    /// Type and error.
    #[serde(flatten)]
    pub response: ApiResponse,
    /// Paging.
    #[serde(flatten)]
    pub paged: ApiPaged,
    /// The names of this page, sorted.
    pub streams: Option<Vec<String>>,
}

impl StreamNamesResponse {
    fn empty() -> Self {
        StreamNamesResponse {
            response: ApiResponse::ok(super::STREAM_NAMES_RESPONSE_TYPE),
            paged: ApiPaged::default(),
            streams: None,
        }
    }

    /// The successful reply.
    pub fn ok(streams: Vec<String>, paged: ApiPaged) -> Self {
        StreamNamesResponse {
            response: ApiResponse::ok(super::STREAM_NAMES_RESPONSE_TYPE),
            paged,
            streams: Some(streams),
        }
    }
}
reply_constructors!(StreamNamesResponse, super::STREAM_NAMES_RESPONSE_TYPE);

/// `STREAM.LIST` reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamListResponse {
    /// Type and error.
    #[serde(flatten)]
    pub response: ApiResponse,
    /// Paging.
    #[serde(flatten)]
    pub paged: ApiPaged,
    /// The streams of this page, sorted by name.
    pub streams: Option<Vec<StreamInfo>>,
    /// Streams that did not answer in time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
}

impl StreamListResponse {
    fn empty() -> Self {
        StreamListResponse {
            response: ApiResponse::ok(super::STREAM_LIST_RESPONSE_TYPE),
            paged: ApiPaged::default(),
            streams: None,
            missing: Vec::new(),
        }
    }

    /// The successful reply.
    pub fn ok(streams: Vec<StreamInfo>, paged: ApiPaged) -> Self {
        StreamListResponse {
            response: ApiResponse::ok(super::STREAM_LIST_RESPONSE_TYPE),
            paged,
            streams: Some(streams),
            missing: Vec::new(),
        }
    }
}
reply_constructors!(StreamListResponse, super::STREAM_LIST_RESPONSE_TYPE);

/// `STREAM.DELETE` reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamDeleteResponse {
    /// Type and error.
    #[serde(flatten)]
    pub response: ApiResponse,
    /// Whether it was deleted.
    #[serde(default, skip_serializing_if = "is_false")]
    pub success: bool,
}

impl StreamDeleteResponse {
    fn empty() -> Self {
        StreamDeleteResponse {
            response: ApiResponse::ok(super::STREAM_DELETE_RESPONSE_TYPE),
            success: false,
        }
    }

    /// The successful reply.
    pub fn ok() -> Self {
        StreamDeleteResponse {
            success: true,
            ..StreamDeleteResponse::empty()
        }
    }
}
reply_constructors!(StreamDeleteResponse, super::STREAM_DELETE_RESPONSE_TYPE);

/// `STREAM.PURGE` reply; `purged` is always written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamPurgeResponse {
    /// Type and error.
    #[serde(flatten)]
    pub response: ApiResponse,
    /// Whether it was purged.
    #[serde(default, skip_serializing_if = "is_false")]
    pub success: bool,
    /// How many messages went.
    pub purged: u64,
}

impl StreamPurgeResponse {
    fn empty() -> Self {
        StreamPurgeResponse {
            response: ApiResponse::ok(super::STREAM_PURGE_RESPONSE_TYPE),
            success: false,
            purged: 0,
        }
    }

    /// The successful reply.
    pub fn ok(purged: u64) -> Self {
        StreamPurgeResponse {
            success: true,
            purged,
            ..StreamPurgeResponse::empty()
        }
    }
}
reply_constructors!(StreamPurgeResponse, super::STREAM_PURGE_RESPONSE_TYPE);

/// `STREAM.MSG.DELETE` reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MsgDeleteResponse {
    /// Type and error.
    #[serde(flatten)]
    pub response: ApiResponse,
    /// Whether it was deleted.
    #[serde(default, skip_serializing_if = "is_false")]
    pub success: bool,
}

impl MsgDeleteResponse {
    fn empty() -> Self {
        MsgDeleteResponse {
            response: ApiResponse::ok(super::STREAM_MSG_DELETE_RESPONSE_TYPE),
            success: false,
        }
    }

    /// The successful reply.
    pub fn ok() -> Self {
        MsgDeleteResponse {
            success: true,
            ..MsgDeleteResponse::empty()
        }
    }
}
reply_constructors!(MsgDeleteResponse, super::STREAM_MSG_DELETE_RESPONSE_TYPE);

/// A message in a `STREAM.MSG.GET` reply (Go's `StoredMsg`): headers and data base64.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredMsg {
    /// Its subject.
    pub subject: String,
    /// Its sequence.
    pub seq: u64,
    /// Raw headers.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "base64_out",
        deserialize_with = "base64_in"
    )]
    pub hdrs: Vec<u8>,
    /// Payload.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "base64_out",
        deserialize_with = "base64_in"
    )]
    pub data: Vec<u8>,
    /// When it was stored.
    pub time: Timestamp,
}

impl StoredMsg {
    /// The reply form of a stored message; `no_headers` leaves the headers out.
    pub fn from_store(message: &natrix_storage::StoredMessage, no_headers: bool) -> StoredMsg {
        StoredMsg {
            subject: message.subject.clone(),
            seq: message.seq,
            hdrs: if no_headers {
                Vec::new()
            } else {
                message.headers.to_vec()
            },
            data: message.payload.to_vec(),
            time: Timestamp::from_unix_nanos(message.timestamp_ns),
        }
    }
}

fn base64_out<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
}

fn base64_in<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
    let text: Option<String> = Option::deserialize(deserializer)?;
    match text {
        None => Ok(Vec::new()),
        Some(text) => base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(serde::de::Error::custom),
    }
}

/// `STREAM.MSG.GET` reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MsgGetResponse {
    /// Type and error.
    #[serde(flatten)]
    pub response: ApiResponse,
    /// The message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<StoredMsg>,
}

impl MsgGetResponse {
    fn empty() -> Self {
        MsgGetResponse {
            response: ApiResponse::ok(super::STREAM_MSG_GET_RESPONSE_TYPE),
            message: None,
        }
    }

    /// The successful reply.
    pub fn ok(message: StoredMsg) -> Self {
        MsgGetResponse {
            message: Some(message),
            ..MsgGetResponse::empty()
        }
    }
}
reply_constructors!(MsgGetResponse, super::STREAM_MSG_GET_RESPONSE_TYPE);

/// `$JS.API.INFO` reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountInfoResponse {
    /// Type and error.
    #[serde(flatten)]
    pub response: ApiResponse,
    /// Usage and limits, on success.
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<AccountStats>,
}

impl AccountInfoResponse {
    fn empty() -> Self {
        AccountInfoResponse {
            response: ApiResponse::ok(super::ACCOUNT_INFO_RESPONSE_TYPE),
            stats: None,
        }
    }

    /// The successful reply.
    pub fn ok(stats: AccountStats) -> Self {
        AccountInfoResponse {
            stats: Some(stats),
            ..AccountInfoResponse::empty()
        }
    }
}
reply_constructors!(AccountInfoResponse, super::ACCOUNT_INFO_RESPONSE_TYPE);

/// `STREAM.SNAPSHOT` reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamSnapshotResponse {
    /// Type and error.
    #[serde(flatten)]
    pub response: ApiResponse,
    /// The stream's configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<StreamConfig>,
    /// Its state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<StreamState>,
}

impl StreamSnapshotResponse {
    /// The successful reply; the caller sets the configuration and state.
    pub fn ok() -> Self {
        Self::empty()
    }

    fn empty() -> Self {
        StreamSnapshotResponse {
            response: ApiResponse::ok(super::STREAM_SNAPSHOT_RESPONSE_TYPE),
            config: None,
            state: None,
        }
    }
}
reply_constructors!(StreamSnapshotResponse, super::STREAM_SNAPSHOT_RESPONSE_TYPE);

/// `STREAM.RESTORE` reply; `deliver_subject` is always written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamRestoreResponse {
    /// Type and error.
    #[serde(flatten)]
    pub response: ApiResponse,
    /// Where the client sends the chunks.
    pub deliver_subject: String,
}

impl StreamRestoreResponse {
    /// The successful reply; the caller sets the deliver subject.
    pub fn ok() -> Self {
        Self::empty()
    }

    fn empty() -> Self {
        StreamRestoreResponse {
            response: ApiResponse::ok(super::STREAM_RESTORE_RESPONSE_TYPE),
            deliver_subject: String::new(),
        }
    }
}
reply_constructors!(StreamRestoreResponse, super::STREAM_RESTORE_RESPONSE_TYPE);

impl ApiResponse {
    /// A successful reply of this type.
    pub fn ok(kind: &str) -> ApiResponse {
        ApiResponse {
            kind: kind.to_owned(),
            error: None,
        }
    }
}

/// A PubAck (Go's `PubAck`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PubAck {
    /// The stream.
    pub stream: String,
    /// The message's sequence (0 on errors).
    pub seq: u64,
    /// The JetStream domain.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub domain: String,
    /// The message was a duplicate of `seq`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub duplicate: bool,
    /// A counter's value after the increment.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub val: String,
    /// The batch committed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub batch: String,
    /// Messages in the batch.
    #[serde(default, skip_serializing_if = "super::is_zero_u64")]
    pub count: u64,
}

/// A PubAck reply (Go's `JSPubAckResponse`): `error` first, then the PubAck's fields. A
/// failed publish still names the stream, with `seq` 0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PubAckResponse {
    /// Why the publish failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ApiError>,
    /// The acknowledgement.
    #[serde(flatten)]
    pub ack: PubAck,
}

impl PubAckResponse {
    /// The JSON the Go server sends for a failed publish to `stream`.
    pub fn error(stream: &str, error: ApiError) -> Vec<u8> {
        crate::json::to_vec(&PubAckResponse {
            error: Some(error),
            ack: PubAck {
                stream: stream.to_owned(),
                ..PubAck::default()
            },
        })
    }
}

/// `$JS.EVENT.ADVISORY.STREAM.{CREATED,DELETED,UPDATED}.<stream>` (Go's
/// `JSStreamActionAdvisory`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamActionAdvisory {
    /// `io.nats.jetstream.advisory.v1.stream_action`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A unique id (the Go server uses a NUID).
    pub id: String,
    /// When it happened.
    pub timestamp: Timestamp,
    /// The stream.
    pub stream: String,
    /// `create`, `delete` or `modify`.
    pub action: String,
    /// The JetStream domain.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub domain: String,
}
