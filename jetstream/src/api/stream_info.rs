//! `StreamInfo`, `StreamState` and what they contain, as the Go server writes them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{is_false, is_zero_u64, StreamConfig};
use crate::errors::ApiError;
use crate::time::Timestamp;

/// A stream's configuration and state (Go's `StreamInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamInfo {
    /// The configuration, with the server's `_nats.*` metadata.
    pub config: StreamConfig,
    /// When the stream was created.
    pub created: Timestamp,
    /// Its state.
    pub state: StreamState,
    /// The JetStream domain.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub domain: String,
    /// Cluster information (on a single server: the leader's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterInfo>,
    /// Mirror progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror: Option<StreamSourceInfo>,
    /// Sources' progress.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<StreamSourceInfo>,
    /// Mirrors that can answer direct gets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alternates: Vec<StreamAlternate>,
    /// When this information was gathered.
    pub ts: Timestamp,
}

/// A stream's state (Go's `StreamState`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct StreamState {
    /// Messages kept.
    pub messages: u64,
    /// Bytes kept.
    pub bytes: u64,
    /// First kept sequence (last + 1 when empty).
    pub first_seq: u64,
    /// Time of the first kept message.
    pub first_ts: Timestamp,
    /// Last sequence assigned.
    pub last_seq: u64,
    /// Time of the last message.
    pub last_ts: Timestamp,
    /// Distinct subjects kept.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub num_subjects: u64,
    /// Per-subject counts, when asked for with `subjects_filter`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subjects: Option<BTreeMap<String, u64>>,
    /// Interior deletes.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub num_deleted: u64,
    /// The deleted sequences, when asked for with `deleted_details`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deleted: Vec<u64>,
    /// Messages lost to damage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost: Option<LostStreamData>,
    /// Number of consumers.
    pub consumer_count: u64,
}

impl StreamState {
    /// The Go view of a store's counters (subjects, deletes and consumers left to the caller).
    /// A stream that never held a message reports `first_seq` 0, as the Go stores do (the
    /// stores' own convention is `last_seq + 1`).
    pub fn from_store(state: &natrix_storage::StreamState) -> StreamState {
        let never_used = state.msgs == 0 && state.last_seq == 0;
        StreamState {
            messages: state.msgs,
            bytes: state.bytes,
            first_seq: if never_used { 0 } else { state.first_seq },
            first_ts: Timestamp::from_store_nanos(state.first_timestamp_ns),
            last_seq: state.last_seq,
            last_ts: Timestamp::from_store_nanos(state.last_timestamp_ns),
            num_subjects: state.num_subjects,
            num_deleted: state.num_deleted,
            ..StreamState::default()
        }
    }
}

/// Messages lost to damage.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LostStreamData {
    /// Their sequences.
    pub msgs: Vec<u64>,
    /// Their bytes.
    pub bytes: u64,
}

/// Cluster information (Go's `ClusterInfo`). A single server reports its name as leader.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ClusterInfo {
    /// Cluster name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The RAFT group.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub raft_group: String,
    /// The leader's server name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub leader: String,
    /// Since when.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::time::optional"
    )]
    pub leader_since: Option<Timestamp>,
    /// Whether the system account owns it.
    #[serde(default, skip_serializing_if = "is_false")]
    pub system_account: bool,
    /// The account whose traffic replicates it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub traffic_account: String,
    /// The replicas.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replicas: Vec<PeerInfo>,
}

/// One replica.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PeerInfo {
    /// Server name.
    pub name: String,
    /// Caught up.
    pub current: bool,
    /// Not seen recently.
    #[serde(default, skip_serializing_if = "is_false")]
    pub offline: bool,
    /// Nanoseconds since last seen.
    pub active: i64,
    /// Operations behind.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub lag: u64,
    /// Peer id.
    pub peer: String,
}

/// Progress of a mirror or source (Go's `StreamSourceInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StreamSourceInfo {
    /// The origin stream.
    pub name: String,
    /// Another account or domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<super::ExternalStream>,
    /// Messages behind.
    pub lag: u64,
    /// Nanoseconds since last contact, -1 when never.
    pub active: i64,
    /// Why it is not running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ApiError>,
    /// Filter.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub filter_subject: String,
    /// Transforms.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subject_transforms: Vec<super::SubjectTransform>,
}

/// A mirror that can answer direct gets for the stream.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StreamAlternate {
    /// Stream name.
    pub name: String,
    /// Its domain.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub domain: String,
    /// Its cluster.
    pub cluster: String,
}
