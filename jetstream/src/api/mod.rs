//! The JetStream API's JSON types, with the Go server's field names, field order and
//! `omitempty` rules, so that replies serialized with [`crate::json::to_vec`] are byte for
//! byte the Go server's: durations are integer nanoseconds, times RFC 3339 with nanoseconds
//! ([`crate::time::Timestamp`]), byte slices base64.
//!
//! Every response carries `type` (the `*_TYPE` constants here) and, on failure, `error`; an
//! error reply is the same struct with its other fields at their zero values, as in Go.

mod account;
mod consumer_config;
mod consumer_events;
mod consumer_info;
mod consumer_requests;
mod consumer_responses;
pub(crate) mod go_enum;
mod requests;
mod responses;
mod stream_config;
mod stream_info;

pub use account::{AccountInfo, AccountLimits, AccountStats, ApiStats, Tier};
pub use consumer_config::{
    AckPolicy, ConsumerAction, ConsumerConfig, DeliverPolicy, PriorityPolicy, ReplayPolicy,
};
pub use consumer_events::*;
pub use consumer_info::{ConsumerInfo, PriorityGroupState, SequenceInfo};
pub use consumer_requests::{
    ConsumerPauseRequest, ConsumerResetRequest, ConsumerUnpinRequest, ConsumersRequest,
    CreateConsumerRequest, NakOptions, NextRequest,
};
pub use consumer_responses::*;
pub use requests::{
    MsgDeleteRequest, MsgGetRequest, StreamConfigRequest, StreamInfoRequest, StreamListRequest,
    StreamNamesRequest, StreamPurgeRequest, StreamRestoreRequest, StreamSnapshotRequest,
};
pub use responses::{
    AccountInfoResponse, ApiPaged, ApiResponse, MsgDeleteResponse, MsgGetResponse, PubAck,
    PubAckResponse, StoredMsg, StreamActionAdvisory, StreamCreateResponse, StreamDeleteResponse,
    StreamInfoResponse, StreamListResponse, StreamNamesResponse, StreamPurgeResponse,
    StreamRestoreResponse, StreamSnapshotResponse, StreamUpdateResponse,
};
pub use stream_config::{
    Compression, DiscardPolicy, ExternalStream, PersistMode, Placement, RePublish, RetentionPolicy,
    StorageType, StreamConfig, StreamConsumerLimits, StreamConsumerSource, StreamSource,
    SubjectTransform,
};
pub use stream_info::{
    ClusterInfo, LostStreamData, PeerInfo, StreamAlternate, StreamInfo, StreamSourceInfo,
    StreamState,
};

/// `type` of `$JS.API.INFO` replies.
pub const ACCOUNT_INFO_RESPONSE_TYPE: &str = "io.nats.jetstream.api.v1.account_info_response";
/// `type` of `STREAM.CREATE` replies.
pub const STREAM_CREATE_RESPONSE_TYPE: &str = "io.nats.jetstream.api.v1.stream_create_response";
/// `type` of `STREAM.UPDATE` replies.
pub const STREAM_UPDATE_RESPONSE_TYPE: &str = "io.nats.jetstream.api.v1.stream_update_response";
/// `type` of `STREAM.INFO` replies.
pub const STREAM_INFO_RESPONSE_TYPE: &str = "io.nats.jetstream.api.v1.stream_info_response";
/// `type` of `STREAM.NAMES` replies.
pub const STREAM_NAMES_RESPONSE_TYPE: &str = "io.nats.jetstream.api.v1.stream_names_response";
/// `type` of `STREAM.LIST` replies.
pub const STREAM_LIST_RESPONSE_TYPE: &str = "io.nats.jetstream.api.v1.stream_list_response";
/// `type` of `STREAM.DELETE` replies.
pub const STREAM_DELETE_RESPONSE_TYPE: &str = "io.nats.jetstream.api.v1.stream_delete_response";
/// `type` of `STREAM.PURGE` replies.
pub const STREAM_PURGE_RESPONSE_TYPE: &str = "io.nats.jetstream.api.v1.stream_purge_response";
/// `type` of `STREAM.MSG.GET` replies.
pub const STREAM_MSG_GET_RESPONSE_TYPE: &str = "io.nats.jetstream.api.v1.stream_msg_get_response";
/// `type` of `STREAM.MSG.DELETE` replies.
pub const STREAM_MSG_DELETE_RESPONSE_TYPE: &str =
    "io.nats.jetstream.api.v1.stream_msg_delete_response";
/// `type` of `STREAM.SNAPSHOT` replies.
pub const STREAM_SNAPSHOT_RESPONSE_TYPE: &str = "io.nats.jetstream.api.v1.stream_snapshot_response";
/// `type` of `STREAM.RESTORE` replies.
pub const STREAM_RESTORE_RESPONSE_TYPE: &str = "io.nats.jetstream.api.v1.stream_restore_response";
/// `type` of replies the server sends when it cannot tell which API was meant.
pub const SYSTEM_RESPONSE_TYPE: &str = "io.nats.jetstream.api.v1.system_response";
/// `type` of the stream action advisory.
pub const STREAM_ACTION_ADVISORY_TYPE: &str = "io.nats.jetstream.advisory.v1.stream_action";

/// The API level Natrix implements: that of the Go server 2.14 it matches.
pub const API_LEVEL: u32 = 4;
/// Maximum stream names in one `STREAM.NAMES` page (Go's `JSApiNamesLimit`).
pub const NAMES_LIMIT: usize = 1024;
/// Maximum consumer names in one `CONSUMER.NAMES` page (Go's `JSApiNamesLimit`).
pub const CONSUMER_NAMES_LIMIT: usize = 1024;
/// Maximum consumers in one `CONSUMER.LIST` page (Go's `JSApiListLimit`).
pub const CONSUMER_LIST_LIMIT: usize = 256;
/// Maximum streams in one `STREAM.LIST` page (Go's `JSApiListLimit`).
pub const LIST_LIMIT: usize = 256;
/// Maximum subjects in one `STREAM.INFO` reply (Go's `JSMaxSubjectDetails`).
pub const MAX_SUBJECT_DETAILS: usize = 100_000;

/// Most deleted sequences one `STREAM.INFO` with `deleted_details` lists (the Go server lists
/// them all; Natrix bounds the reply, and `num_deleted` still counts every one).
pub const MAX_DELETED_DETAILS: usize = 100_000;

fn is_false(value: &bool) -> bool {
    !*value
}

fn is_zero_u64(value: &u64) -> bool {
    *value == 0
}

fn is_zero_i64(value: &i64) -> bool {
    *value == 0
}

fn is_zero_i32(value: &i32) -> bool {
    *value == 0
}

#[cfg(test)]
mod consumer_tests;
#[cfg(test)]
pub(crate) mod schema_check;
#[cfg(test)]
mod tests;
