//! Request bodies of the stream API, decoded strictly (unknown fields refused) as the Go
//! server does by default. Validation beyond the JSON shape lives in [`crate::requests`].

use serde::{Deserialize, Serialize};

use super::{is_false, is_zero_i64, is_zero_u64, StreamConfig, StreamState};
use crate::json::{self, JsonError};
use crate::time::{self, Timestamp};

/// A `STREAM.CREATE`/`STREAM.UPDATE` body: a [`StreamConfig`] plus the request-scoped
/// `pedantic` flag (Go's `StreamConfigRequest`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StreamConfigRequest {
    /// The configuration asked for.
    pub config: StreamConfig,
    /// Refuse instead of adjusting values (Go's pedantic mode).
    pub pedantic: bool,
}

impl StreamConfigRequest {
    /// Decodes a body as Go's `unmarshalRequest` does (strict; an empty body is the zero
    /// configuration).
    pub fn from_json(body: &[u8]) -> Result<StreamConfigRequest, JsonError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(StreamConfigRequest::default());
        }
        // `pedantic` sits beside the configuration's fields; it is taken out first so that the
        // configuration itself can refuse unknown fields.
        let mut value: serde_json::Value = json::from_request(body)?;
        json::strip_nulls(&mut value);
        let pedantic = match value.as_object_mut().and_then(|map| map.remove("pedantic")) {
            None | Some(serde_json::Value::Null) => false,
            Some(serde_json::Value::Bool(flag)) => flag,
            Some(_) => {
                return Err(JsonError(
                    "json: cannot unmarshal into Go struct field StreamConfigRequest.pedantic of type bool"
                        .to_owned(),
                ))
            }
        };
        let text = serde_json::to_vec(&value).map_err(|error| JsonError(error.to_string()))?;
        let config: StreamConfig = json::from_request(&text)?;
        Ok(StreamConfigRequest { config, pedantic })
    }
}

/// Paging of list requests.
fn offset_default() -> i64 {
    0
}

/// `STREAM.INFO` body (Go's `JSApiStreamInfoRequest`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamInfoRequest {
    /// First subject of the page.
    #[serde(default = "offset_default")]
    pub offset: i64,
    /// List the deleted sequences.
    #[serde(skip_serializing_if = "is_false")]
    pub deleted_details: bool,
    /// List subjects matching this filter with their counts.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub subjects_filter: String,
}

/// `STREAM.NAMES` body (Go's `JSApiStreamNamesRequest`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamNamesRequest {
    /// First name of the page.
    pub offset: i64,
    /// Only streams whose subjects overlap this one.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub subject: String,
}

/// `STREAM.LIST` body (Go's `JSApiStreamListRequest`).
pub type StreamListRequest = StreamNamesRequest;

/// `STREAM.PURGE` body (Go's `JSApiStreamPurgeRequest`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamPurgeRequest {
    /// Purge below this sequence.
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub seq: u64,
    /// Only subjects matching this.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub filter: String,
    /// Keep this many of the newest.
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub keep: u64,
}

/// `STREAM.MSG.DELETE` body (Go's `JSApiMsgDeleteRequest`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MsgDeleteRequest {
    /// The sequence to delete.
    pub seq: u64,
    /// Do not overwrite the message's bytes (Natrix's stores never do; accepted).
    #[serde(skip_serializing_if = "is_false")]
    pub no_erase: bool,
}

/// `STREAM.MSG.GET` and `DIRECT.GET` body (Go's `JSApiMsgGetRequest`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MsgGetRequest {
    /// By sequence (or the first at or after it, for direct gets with `next_by_subj`).
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub seq: u64,
    /// The last message on this subject.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub last_by_subj: String,
    /// The next message on this subject at or after `seq`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub next_by_subj: String,
    /// Direct get: up to this many messages.
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub batch: i64,
    /// Direct get: up to this many bytes.
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub max_bytes: i64,
    /// Start at the first message at or after this time.
    #[serde(skip_serializing_if = "Option::is_none", with = "time::optional")]
    pub start_time: Option<Timestamp>,
    /// Direct get: the last message of each of these subjects (wildcards allowed).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub multi_last: Vec<String>,
    /// Only messages up to this sequence.
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub up_to_seq: u64,
    /// Only messages up to this time.
    #[serde(skip_serializing_if = "Option::is_none", with = "time::optional")]
    pub up_to_time: Option<Timestamp>,
    /// Leave the headers out.
    #[serde(skip_serializing_if = "is_false")]
    pub no_hdr: bool,
}

/// `STREAM.SNAPSHOT` body (Go's `JSApiStreamSnapshotRequest`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamSnapshotRequest {
    /// Where the chunks go.
    pub deliver_subject: String,
    /// Leave consumers out.
    #[serde(skip_serializing_if = "is_false")]
    pub no_consumers: bool,
    /// Chunk size (clamped to 1 KiB .. 1 MiB, default 128 KiB).
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub chunk_size: i64,
    /// Window (clamped to 1 KiB .. 32 MiB, default 8 MiB).
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub window_size: i64,
    /// Check every message's checksum first.
    #[serde(skip_serializing_if = "is_false")]
    pub jsck: bool,
}

/// `STREAM.RESTORE` body (Go's `JSApiStreamRestoreRequest`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamRestoreRequest {
    /// The stream's configuration.
    pub config: StreamConfig,
    /// Its state at the snapshot.
    pub state: StreamState,
}
