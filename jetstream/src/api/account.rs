//! `$JS.API.INFO`: an account's JetStream usage and limits (Go's `JetStreamAccountStats`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::is_zero_u64;

/// Usage and limits of one tier (Go's `JetStreamTier`); the account's totals use it too.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Tier {
    /// Memory used by memory streams, bytes.
    pub memory: u64,
    /// Storage used by file streams, bytes.
    pub storage: u64,
    /// Memory reserved by streams' `max_bytes`.
    pub reserved_memory: u64,
    /// Storage reserved by streams' `max_bytes`.
    pub reserved_storage: u64,
    /// Number of streams.
    pub streams: u64,
    /// Number of consumers.
    pub consumers: u64,
    /// The limits.
    pub limits: AccountLimits,
}

/// An account's JetStream limits (Go's `JetStreamAccountLimits`); -1 is unlimited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountLimits {
    /// Memory storage, bytes.
    pub max_memory: i64,
    /// File storage, bytes.
    pub max_storage: i64,
    /// Streams.
    pub max_streams: i64,
    /// Consumers.
    pub max_consumers: i64,
    /// Unacknowledged messages per consumer.
    pub max_ack_pending: i64,
    /// `max_bytes` of one memory stream.
    pub memory_max_stream_bytes: i64,
    /// `max_bytes` of one file stream.
    pub storage_max_stream_bytes: i64,
    /// Streams must set `max_bytes`.
    pub max_bytes_required: bool,
}

impl Default for AccountLimits {
    /// No limits, as the Go server reports an account without `jetstream {}` limits.
    fn default() -> Self {
        AccountLimits {
            max_memory: -1,
            max_storage: -1,
            max_streams: -1,
            max_consumers: -1,
            max_ack_pending: -1,
            memory_max_stream_bytes: -1,
            storage_max_stream_bytes: -1,
            max_bytes_required: false,
        }
    }
}

/// API counters (Go's `JetStreamAPIStats`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ApiStats {
    /// The API level served.
    pub level: u32,
    /// Requests received.
    pub total: u64,
    /// Requests answered with an error.
    pub errors: u64,
    /// Requests being served.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub inflight: u64,
}

/// What `$JS.API.INFO` reports (Go's `JetStreamAccountStats`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AccountStats {
    /// Totals and limits.
    #[serde(flatten)]
    pub totals: Tier,
    /// The JetStream domain.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub domain: String,
    /// API counters.
    pub api: ApiStats,
    /// Per-tier usage, when tiers are configured.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tiers: BTreeMap<String, Tier>,
}

/// Alias kept for readers who look for the reply by its API name.
pub type AccountInfo = AccountStats;
