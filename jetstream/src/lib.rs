//! JetStream for Natrix as pure logic: the API's types and errors, stream configuration
//! defaults and validation, the NATS header block, and the stream state machine that the
//! shard owning a stream runs.
//!
//! Owns: everything about JetStream that can be decided without I/O. The shard runtime feeds
//! it events (a publish, a completed store, an API request, a timer tick) and performs the
//! actions it returns (store this message, reply with these bytes, publish this advisory,
//! purge). Must not touch: sockets, files, timers, the compio runtime, `natrix-shards`. It
//! reads a stream's store only through the synchronous query methods of
//! [`natrix_storage::StreamStore`]; every asynchronous store call is an action.
//!
//! Modules:
//! - `errors`: the Go server's JetStream API errors as one table ([`ErrorId`]) and the
//!   [`ApiError`] every reply carries.
//! - `json`: JSON written byte for byte as the Go server writes it, and strict request decoding.
//! - `time`: Go's time and duration formats (RFC 3339 with nanoseconds, `2m0s`).
//! - `api`: the request and reply types of the stream API, the PubAck and advisories.
//! - `subject`: subject validity, overlap and subset rules, transform destinations.
//! - `config`: stream configuration defaults, validation, create and update rules, metadata.
//! - `headers`: the NATS header block, read as the Go server reads it; status replies.
//! - `requests`: parsing and validation of message get (JSON and direct), purge, message
//!   delete and info requests, with Go's errors and direct-get status replies.
//! - `stream`: the stream state machine of the publish path (events in, actions out), with
//!   its contract with the runtime.
//! - `backup`: stream snapshots in the Go server's format (an S2 stream of a `NATSARC1`
//!   archive), written and read in pieces.
//!
//! Where Natrix deliberately differs from the Go server (2.14 is the version matched; 2.15's
//! configuration fields are accepted too):
//! - Features not implemented yet are refused on create and update by
//!   [`config::refuse_unsupported`] instead of being stored and ignored: mirrors, sources
//!   and schedules (`JSStreamInvalidConfigF`, "... not
//!   supported by Natrix yet"), and fast batch publish (Go's "batch publish is
//!   disabled"). `compression: s2` is accepted and stored uncompressed.
//! - Atomic batch publish runs as in Go (see `stream/batch.rs`) except that counters are
//!   refused inside a batch ("atomic publish unsupported header used: Nats-Incr") and no
//!   `batch_abandoned` advisory is published.
//!   Subject transforms and republish run (the runtime applies the transforms and passes
//!   the republish destination in [`stream::Publish`]); the shard's transform engine knows
//!   `wildcard` and `partition`, and the runtime refuses destinations with other mapping
//!   functions.
//! - Publishes are pipelined (see `stream`): a publish whose outcome depends on sequences
//!   waits while a store that may fail is in flight. Removals that the store makes for its
//!   limits while other stores are in flight are not seen by `-Last-Subject-Sequence` checks
//!   of other subjects until those stores are applied.
//! - A duplicate of a message whose store is still in flight is answered once that store
//!   completes (with its sequence), or with `409 duplicate message id is in process` if it
//!   fails or more than 16 duplicates wait.
//! - A store failure other than a limit (an I/O error) gets no reply, as in the Go server;
//!   the runtime must stop the stream.
//! - Counters are `i128` (Go: arbitrary precision); an overflow is "message counter
//!   increment is invalid".
//! - `Nats-TTL: never` is accepted but the stores have no "never expires" mark, so such a
//!   message still ages out with `max_age`.
//! - JSON decode errors use Go's wording for unknown fields and truncated input; other
//!   syntax errors keep serde's description (without position).
//! - Subject transform destinations are checked for token validity and wildcard references;
//!   mapping-function arguments less strictly than Go's `ValidateMapping`.

pub mod api;
pub mod backup;
pub mod config;
pub mod errors;
pub mod headers;
pub mod json;
pub mod requests;
pub mod stream;
pub mod subject;
pub mod time;

#[cfg(test)]
mod testdata;

pub use errors::{ApiError, ErrorId};
