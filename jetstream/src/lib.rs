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

pub mod api;
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
