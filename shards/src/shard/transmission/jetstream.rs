//! JetStream's messages between shards: plain data, no behavior (the `jetstream` layer acts
//! on them).
//!
//! Three roles exchange them. The shard where an API request was published parses its subject
//! and forwards it ([`JetStreamMsg::Request`]) to the shard that answers it: the stream's owner
//! for stream-scoped requests, the meta shard for requests that need every stream of the
//! account (create, update, delete, names, list, account info). The meta shard keeps the
//! directory of streams; it approves configuration changes and has the owner carry them out
//! ([`JetStreamMsg::Apply`]); an owner that could not carry one out tells it
//! ([`JetStreamMsg::Revert`]). The meta shard asks every shard for what only owners know
//! ([`JetStreamMsg::Query`]) and collects the [`JetStreamMsg::Answer`]s.

use bytes::Bytes;
use natrix_jetstream::api::{StreamConfig, StreamInfo};

use crate::account::AccountId;

/// Everything JetStream sends between shards.
#[derive(Debug)]
pub enum JetStreamMsg {
    /// An API request, forwarded from the shard where it was published to the shard that
    /// answers it.
    Request(ApiRequest),
    /// Meta shard to owner: carry out a change the meta shard approved, then answer the
    /// request.
    Apply {
        request: ApiRequest,
        change: Box<StreamChange>,
    },
    /// Owner to meta shard: the change for this stream did not happen; the directory goes
    /// back to `previous` (`None`: the stream does not exist).
    Revert {
        account: AccountId,
        stream: String,
        previous: Option<Box<DirectoryEntry>>,
    },
    /// Owner to meta shard: the restore of this stream completed; it is listed from now on.
    Restored { account: AccountId, stream: String },
    /// Meta shard to every shard: report what you know for request `token`.
    Query { token: u64, query: Query },
    /// The answer to a [`JetStreamMsg::Query`].
    Answer { token: u64, answer: Answer },
}

/// An API request as it was published.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    pub account: AccountId,
    /// What the subject asks for.
    pub call: ApiCall,
    /// The subject it was published on (for advisories).
    pub subject: Bytes,
    pub reply: Option<Bytes>,
    /// The raw header block, empty when none.
    pub headers: Bytes,
    pub body: Bytes,
}

/// The API call a request subject names (`$JS.API.STREAM.INFO.<stream>` and the like).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiCall {
    AccountInfo,
    StreamCreate(String),
    StreamUpdate(String),
    StreamDelete(String),
    StreamNames,
    StreamList,
    StreamInfo(String),
    StreamPurge(String),
    MsgGet(String),
    MsgDelete(String),
    /// `DIRECT.GET.<stream>`, or `DIRECT.GET.<stream>.<subject>` (the last message of it).
    DirectGet {
        stream: String,
        subject: Option<String>,
    },
    StreamSnapshot(String),
    StreamRestore(String),
    /// A `CONSUMER.*` call: consumers are a later part of Natrix's JetStream.
    Consumer {
        /// `CREATE`, `INFO`, `NAMES`, ...
        operation: String,
        stream: String,
    },
}

impl ApiCall {
    /// The stream the call is about, if it is stream-scoped.
    pub fn stream(&self) -> Option<&str> {
        match self {
            ApiCall::StreamCreate(name)
            | ApiCall::StreamUpdate(name)
            | ApiCall::StreamDelete(name)
            | ApiCall::StreamInfo(name)
            | ApiCall::StreamPurge(name)
            | ApiCall::MsgGet(name)
            | ApiCall::MsgDelete(name)
            | ApiCall::StreamSnapshot(name)
            | ApiCall::StreamRestore(name) => Some(name),
            ApiCall::DirectGet { stream, .. } | ApiCall::Consumer { stream, .. } => Some(stream),
            ApiCall::AccountInfo | ApiCall::StreamNames | ApiCall::StreamList => None,
        }
    }
}

/// A change of a stream the meta shard approved (always boxed in [`JetStreamMsg::Apply`]).
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)]
pub enum StreamChange {
    /// Create the stream (or, with `restore`, create it from a snapshot the client sends).
    Create {
        config: StreamConfig,
        created_ns: i64,
        restore: bool,
    },
    /// Replace its configuration; `previous` is what to restore if the owner fails.
    Update {
        config: StreamConfig,
        previous: DirectoryEntry,
    },
    /// Delete it with its messages.
    Delete,
    /// Answer an identical create with the existing stream (Go's idempotent create).
    Existing,
}

/// What the meta shard knows of a stream.
#[derive(Debug, Clone, PartialEq)]
pub struct DirectoryEntry {
    pub config: StreamConfig,
    /// When it was created, nanoseconds since the epoch.
    pub created_ns: i64,
}

/// What the meta shard asks every shard.
#[derive(Debug, Clone)]
pub enum Query {
    /// The account's usage on this shard and the API requests this shard answered for it.
    AccountUsage { account: AccountId },
    /// The info of these streams of the account that this shard owns.
    StreamInfos {
        account: AccountId,
        names: Vec<String>,
    },
}

/// A shard's answer to a [`Query`].
#[derive(Debug, Clone)]
pub enum Answer {
    AccountUsage(AccountUsage),
    StreamInfos(Vec<StreamInfo>),
}

/// One shard's share of an account's JetStream usage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AccountUsage {
    /// Bytes held by its memory streams.
    pub memory: u64,
    /// Bytes held by its file streams.
    pub storage: u64,
    /// API requests answered.
    pub api_total: u64,
    /// API requests answered with an error.
    pub api_errors: u64,
}
