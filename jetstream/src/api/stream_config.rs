//! `StreamConfig` and the types inside it, with the Go server's JSON field names, `omitempty`
//! rules and enum spellings (`server/stream.go`, `server/store.go`, 2.14 and 2.15's fields).
//!
//! Decoding is strict as in the Go server (unknown fields are refused); a field that is
//! absent takes Go's zero value, which `config::apply_defaults` then turns into the
//! server's default.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

use super::go_enum::{go_enum, CAN_NOT_UNMARSHAL};
use super::{is_false, is_zero_i32, is_zero_i64, is_zero_u64};
use crate::time::{self, Timestamp};

/// A stream's configuration (Go's `StreamConfig`). Durations are nanoseconds.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamConfig {
    /// The stream's name.
    pub name: String,
    /// Free text.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Subjects the stream captures (wildcards allowed).
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub subjects: Vec<String>,
    /// When messages are removed besides the limits.
    pub retention: RetentionPolicy,
    /// Maximum number of consumers, -1 for unlimited.
    pub max_consumers: i64,
    /// Maximum number of messages, -1 for unlimited.
    pub max_msgs: i64,
    /// Maximum total bytes, -1 for unlimited.
    pub max_bytes: i64,
    /// Maximum age of a message in nanoseconds, 0 for unlimited.
    pub max_age: i64,
    /// Maximum messages per subject, -1 for unlimited.
    pub max_msgs_per_subject: i64,
    /// Maximum size of one message, -1 for unlimited.
    #[serde(skip_serializing_if = "is_zero_i32")]
    pub max_msg_size: i32,
    /// What happens when a limit is reached.
    pub discard: DiscardPolicy,
    /// File or memory.
    pub storage: StorageType,
    /// Number of replicas (accepted as 1 on a single server).
    pub num_replicas: i64,
    /// Store published messages without acknowledging them.
    #[serde(skip_serializing_if = "is_false")]
    pub no_ack: bool,
    /// The window over which `Nats-Msg-Id` duplicates are detected, nanoseconds.
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub duplicate_window: i64,
    /// Placement in a cluster.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub placement: Option<Placement>,
    /// The stream this one mirrors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mirror: Option<StreamSource>,
    /// The streams this one sources from.
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub sources: Vec<StreamSource>,
    /// Compression of stored messages.
    pub compression: Compression,
    /// The sequence of the first message stored.
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub first_seq: u64,
    /// A transform applied to the subject of incoming messages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject_transform: Option<SubjectTransform>,
    /// Republish stored messages to another subject.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub republish: Option<RePublish>,
    /// Allow direct get requests (`$JS.API.DIRECT.GET`).
    pub allow_direct: bool,
    /// Allow direct gets to be served by this mirror.
    pub mirror_direct: bool,
    /// With discard new: also refuse a message whose subject is at its limit.
    #[serde(skip_serializing_if = "is_false")]
    pub discard_new_per_subject: bool,
    /// Nothing may be added or removed any more.
    pub sealed: bool,
    /// Messages may not be deleted.
    pub deny_delete: bool,
    /// The stream may not be purged.
    pub deny_purge: bool,
    /// The `Nats-Rollup` header is honored.
    pub allow_rollup_hdrs: bool,
    /// Defaults for the stream's consumers.
    pub consumer_limits: StreamConsumerLimits,
    /// The `Nats-TTL` header is honored.
    pub allow_msg_ttl: bool,
    /// TTL of the markers left when max age removes a subject's last message, nanoseconds.
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub subject_delete_marker_ttl: i64,
    /// The stream holds counters (`Nats-Incr`).
    #[serde(skip_serializing_if = "is_false")]
    pub allow_msg_counter: bool,
    /// Atomic batch publish is allowed.
    #[serde(skip_serializing_if = "is_false")]
    pub allow_atomic: bool,
    /// Message schedules are allowed.
    #[serde(skip_serializing_if = "is_false")]
    pub allow_msg_schedules: bool,
    /// When the PubAck may leave relative to persistence.
    #[serde(skip_serializing_if = "PersistMode::is_default")]
    pub persist_mode: PersistMode,
    /// Fast batch publish is allowed.
    #[serde(skip_serializing_if = "is_false")]
    pub allow_batched: bool,
    /// Free key/value pairs; the server adds `_nats.*` keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BTreeMap<String, String>>,
}

/// Limits a stream sets for its consumers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamConsumerLimits {
    /// Nanoseconds.
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub inactive_threshold: i64,
    /// Maximum unacknowledged messages per consumer.
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub max_ack_pending: i64,
}

/// Placement in a cluster.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Placement {
    /// Cluster name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cluster: String,
    /// Server tags.
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub tags: Vec<String>,
    /// Preferred server (refused by the Go server in stream configs).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub preferred: String,
}

/// A mirror or source (Go's `StreamSource`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamSource {
    /// The origin stream.
    pub name: String,
    /// First sequence to take.
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub opt_start_seq: u64,
    /// First time to take.
    #[serde(skip_serializing_if = "Option::is_none", with = "time::optional")]
    pub opt_start_time: Option<Timestamp>,
    /// Only subjects matching this.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub filter_subject: String,
    /// Filters with transforms.
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub subject_transforms: Vec<SubjectTransform>,
    /// Another account or domain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external: Option<ExternalStream>,
    /// A durable consumer to source through (2.15).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumer: Option<StreamConsumerSource>,
}

/// The durable consumer a source or mirror uses (2.15).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamConsumerSource {
    /// Consumer name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Where it delivers.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub deliver_subject: String,
}

/// Access to a stream in another account or domain.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExternalStream {
    /// The API prefix (`$JS.<domain>.API`).
    pub api: String,
    /// The delivery prefix.
    pub deliver: String,
}

/// A subject transform (`src` to `dest`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SubjectTransform {
    /// Source filter.
    pub src: String,
    /// Destination template.
    pub dest: String,
}

/// Republish of stored messages.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RePublish {
    /// Source filter (empty is `>`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub src: String,
    /// Destination template.
    pub dest: String,
    /// Republish headers only.
    #[serde(skip_serializing_if = "is_false")]
    pub headers_only: bool,
}

go_enum! {
    /// When messages leave the stream besides its limits.
    RetentionPolicy {
        /// Only the limits remove messages.
        #[default]
        Limits = "limits",
        /// A message goes once every consumer acknowledged it.
        Interest = "interest",
        /// A message goes once one consumer acknowledged it.
        WorkQueue = "workqueue",
    } default Limits, case_insensitive false, empty_is_default false, error CAN_NOT_UNMARSHAL
}

go_enum! {
    /// What to do when a limit is reached.
    DiscardPolicy {
        /// Remove the oldest messages.
        #[default]
        Old = "old",
        /// Refuse the new message.
        New = "new",
    } default Old, case_insensitive true, empty_is_default false, error CAN_NOT_UNMARSHAL
}

go_enum! {
    /// Where messages are kept.
    StorageType {
        /// On disk.
        #[default]
        File = "file",
        /// In memory.
        Memory = "memory",
    } default File, case_insensitive false, empty_is_default false, error CAN_NOT_UNMARSHAL
}

go_enum! {
    /// Compression of stored messages.
    Compression {
        /// None.
        #[default]
        None = "none",
        /// S2.
        S2 = "s2",
    } default None, case_insensitive false, empty_is_default false, error CAN_NOT_UNMARSHAL
}

go_enum! {
    /// When a PubAck may leave.
    PersistMode {
        /// After the message is persisted.
        #[default]
        Default = "default",
        /// Possibly before.
        Async = "async",
    } default Default, case_insensitive false, empty_is_default true, error CAN_NOT_UNMARSHAL
}

impl PersistMode {
    fn is_default(&self) -> bool {
        *self == PersistMode::Default
    }
}

/// Go decodes `null` into a slice as "leave it empty"; serde would refuse it.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}
