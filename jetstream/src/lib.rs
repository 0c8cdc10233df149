//! JetStream for Natrix as pure logic: the API's types and errors, stream and consumer
//! configuration defaults and validation, the NATS header block, and the stream and consumer
//! state machines that the shard owning a stream runs.
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
//! - `consumer`: a stream's consumers as one state machine ([`consumer::ConsumerSet`]):
//!   delivery, acks, redelivery, pull requests, push flow control and heartbeats, priority
//!   groups, retention decisions, batched state saves and the consumer API, with its
//!   contract with the runtime; `consumer::config` holds the consumer configuration rules,
//!   `consumer::wire` the ack subjects and bodies, `consumer::status` the status messages.
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
//!   the republish destination in [`stream::Publish`]); the shard's transform engine runs
//!   every mapping function of the Go server.
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
//! - JSON requests with a key given twice are refused (serde); Go takes the last value.
//!
//! Consumers (see `consumer` for the contract):
//! - Messages are loaded from the store by actions, up to `max_load_messages` at once (Go
//!   loads one at a time in its delivery loop); loaded messages wait in a bounded queue. When
//!   no pull request can take them they are put back; redeliveries go back to the front of
//!   the redelivery queue (Go appends them to its end).
//! - Replies that promise state is stored (an ack with a reply, the create, pause and reset
//!   replies) leave once the consumer's record is saved. Go answers after updating its
//!   consumer store in memory and writes it later; both lose at most one flush interval
//!   (100 ms) of delivery state to a kill -9, and redeliver those messages.
//! - `num_pending` in `CONSUMER.INFO` is recounted on the store; the count in ack subjects is
//!   Go's running count, bounded by the stream's message count.
//! - The stores do not report what their limits removed: pending deliveries below the
//!   stream's first sequence are terminated ("Message deleted by stream limits") when the next
//!   message is stored (Go: at once through a store callback, and every minute), others when
//!   their redelivery finds them gone ("Unacknowledged message was deleted").
//! - Interest streams compact below every consumer's ack floor every two minutes (Go walks a
//!   check floor per consumer); after a consumer leaves, at most 100,000 sequences are scanned
//!   for messages nobody needs any more (as Go).
//! - `by_start_time` finds its first message with a binary search over store loads (the
//!   stores have no time index); the create reply waits for it.
//! - Acks are received on one subscription per stream: an ack to a consumer that does not
//!   exist (or takes no acks) is dropped, where Go's requester would get "no responders".
//! - A single server: no replicas (`num_replicas` above 1 is refused, as Go's single server
//!   does), no `409 Leadership Change`, no gateway or leaf node interest.
//! - Pins, flow control tokens, generated names and advisory ids come from a generator the
//!   runtime seeds (NUID-shaped ids), so that runs can be replayed.
//! - A restored consumer is written as the record a restart reads and comes back when the
//!   stream starts; its configuration is not checked again against the stream (Go adds it
//!   through its restore path), and an ephemeral one restarts its inactivity clock at once
//!   (Go keeps it durable until every message is restored). A snapshot takes the consumers'
//!   records when it starts (Go: after `state.json`, while it writes).

pub mod api;
pub mod backup;
pub mod config;
pub mod consumer;
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
