//! The status messages consumers send (header-only messages, no payload), with the Go
//! server's exact text and headers: pull request outcomes (`404`, `408`, `409`, `400`, `412`,
//! `423`), idle heartbeats and flow control requests (`100`).

use bytes::Bytes;

use crate::headers::{status, HeaderBuilder};
use crate::time::go_duration_string;

/// Header with the messages a closed pull request still wanted.
pub const PENDING_MESSAGES_HEADER: &str = "Nats-Pending-Messages";
/// Header with the bytes a closed pull request still wanted.
pub const PENDING_BYTES_HEADER: &str = "Nats-Pending-Bytes";
/// Header of a heartbeat: the last consumer sequence delivered.
pub const LAST_CONSUMER_HEADER: &str = "Nats-Last-Consumer";
/// Header of a heartbeat: the last stream sequence delivered.
pub const LAST_STREAM_HEADER: &str = "Nats-Last-Stream";
/// Header of a heartbeat while delivery waits for a flow control reply: that reply subject.
pub const CONSUMER_STALLED_HEADER: &str = "Nats-Consumer-Stalled";

/// Why a pull request ended with a status that carries what it still wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullEnd {
    /// `408 Request Timeout`: its `expires` passed.
    Timeout,
    /// `408 Interest Expired`: its requester (behind an import) went away.
    InterestExpired,
    /// `409 Message Size Exceeds MaxBytes`: the next message is larger than what is left.
    MessageSizeExceedsMaxBytes,
    /// `409 Batch Completed`: the batch is done but bytes were left.
    BatchCompleted,
    /// `409 Server Shutdown`.
    ServerShutdown,
    /// `423 Nats-Wrong-Pin-Id`: it holds a pin that is no longer the group's.
    WrongPinId,
}

impl PullEnd {
    fn code_and_text(self) -> (u16, &'static str) {
        match self {
            PullEnd::Timeout => (408, "Request Timeout"),
            PullEnd::InterestExpired => (408, "Interest Expired"),
            PullEnd::MessageSizeExceedsMaxBytes => (409, "Message Size Exceeds MaxBytes"),
            PullEnd::BatchCompleted => (409, "Batch Completed"),
            PullEnd::ServerShutdown => (409, "Server Shutdown"),
            PullEnd::WrongPinId => (423, "Nats-Wrong-Pin-Id"),
        }
    }
}

/// A pull request's end with `Nats-Pending-Messages`/`Nats-Pending-Bytes`.
pub fn pull_end(end: PullEnd, pending_messages: i64, pending_bytes: i64) -> Bytes {
    let (code, text) = end.code_and_text();
    let mut builder = HeaderBuilder::new(Some(code), text);
    builder
        .append(PENDING_MESSAGES_HEADER, &pending_messages.to_string())
        .append(PENDING_BYTES_HEADER, &pending_bytes.to_string());
    builder.finish()
}

/// `404 No Messages`: a `no_wait` request found nothing.
pub fn no_messages() -> Bytes {
    status(404, "No Messages")
}

/// `408 Requests Pending`: a `no_wait` request that earlier requests already cover.
pub fn requests_pending() -> Bytes {
    status(408, "Requests Pending")
}

/// `409 Exceeded MaxWaiting`.
pub fn exceeded_max_waiting() -> Bytes {
    status(409, "Exceeded MaxWaiting")
}

/// `409 Exceeded MaxRequestBatch of <n>`.
pub fn exceeded_max_request_batch(limit: i64) -> Bytes {
    status(409, &format!("Exceeded MaxRequestBatch of {limit}"))
}

/// `409 Exceeded MaxRequestExpires of <duration>` (Go's `Duration.String()`, `5s`).
pub fn exceeded_max_request_expires(limit_ns: i64) -> Bytes {
    status(
        409,
        &format!(
            "Exceeded MaxRequestExpires of {}",
            go_duration_string(limit_ns)
        ),
    )
}

/// `409 Exceeded MaxRequestMaxBytes of <n>`.
pub fn exceeded_max_request_max_bytes(limit: i64) -> Bytes {
    status(409, &format!("Exceeded MaxRequestMaxBytes of {limit}"))
}

/// `409 Consumer Deleted`, to every waiting request of a deleted consumer.
pub fn consumer_deleted() -> Bytes {
    status(409, "Consumer Deleted")
}

/// `409 Consumer is push based`, to a pull request sent to a push consumer.
pub fn consumer_is_push_based() -> Bytes {
    status(409, "Consumer is push based")
}

/// `400 Bad Request - <reason>`.
pub fn bad_request(reason: &str) -> Bytes {
    status(400, &format!("Bad Request - {reason}"))
}

/// `412 Required Api Level`.
pub fn required_api_level() -> Bytes {
    status(412, "Required Api Level")
}

/// `423 Nats-Pin-Id mismatch`: a request naming a pin other than the group's current one.
pub fn pin_id_mismatch() -> Bytes {
    status(423, "Nats-Pin-Id mismatch")
}

/// `100 Idle Heartbeat` with the last delivered sequences and, while delivery waits for a
/// flow control reply, `Nats-Consumer-Stalled: <reply subject>`.
pub fn idle_heartbeat(last_consumer_seq: u64, last_stream_seq: u64, stalled_on: &str) -> Bytes {
    let mut builder = HeaderBuilder::new(Some(100), "Idle Heartbeat");
    builder
        .append(LAST_CONSUMER_HEADER, &last_consumer_seq.to_string())
        .append(LAST_STREAM_HEADER, &last_stream_seq.to_string());
    if !stalled_on.is_empty() {
        builder.append(CONSUMER_STALLED_HEADER, stalled_on);
    }
    builder.finish()
}

/// `100 FlowControl Request`, sent with the flow control reply subject as its reply.
pub fn flow_control_request() -> Bytes {
    status(100, "FlowControl Request")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_have_gos_exact_bytes() {
        let cases: Vec<(Bytes, &[u8])> = vec![
            (no_messages(), b"NATS/1.0 404 No Messages\r\n\r\n"),
            (
                pull_end(PullEnd::Timeout, 3, 0),
                b"NATS/1.0 408 Request Timeout\r\nNats-Pending-Messages: 3\r\nNats-Pending-Bytes: 0\r\n\r\n",
            ),
            (
                pull_end(PullEnd::InterestExpired, 1, 10),
                b"NATS/1.0 408 Interest Expired\r\nNats-Pending-Messages: 1\r\nNats-Pending-Bytes: 10\r\n\r\n",
            ),
            (
                pull_end(PullEnd::MessageSizeExceedsMaxBytes, 5, 7),
                b"NATS/1.0 409 Message Size Exceeds MaxBytes\r\nNats-Pending-Messages: 5\r\nNats-Pending-Bytes: 7\r\n\r\n",
            ),
            (
                pull_end(PullEnd::BatchCompleted, 0, 100),
                b"NATS/1.0 409 Batch Completed\r\nNats-Pending-Messages: 0\r\nNats-Pending-Bytes: 100\r\n\r\n",
            ),
            (
                pull_end(PullEnd::ServerShutdown, 2, 0),
                b"NATS/1.0 409 Server Shutdown\r\nNats-Pending-Messages: 2\r\nNats-Pending-Bytes: 0\r\n\r\n",
            ),
            (
                pull_end(PullEnd::WrongPinId, 2, 0),
                b"NATS/1.0 423 Nats-Wrong-Pin-Id\r\nNats-Pending-Messages: 2\r\nNats-Pending-Bytes: 0\r\n\r\n",
            ),
            (requests_pending(), b"NATS/1.0 408 Requests Pending\r\n\r\n"),
            (exceeded_max_waiting(), b"NATS/1.0 409 Exceeded MaxWaiting\r\n\r\n"),
            (
                exceeded_max_request_batch(10),
                b"NATS/1.0 409 Exceeded MaxRequestBatch of 10\r\n\r\n",
            ),
            (
                exceeded_max_request_expires(60_000_000_000),
                b"NATS/1.0 409 Exceeded MaxRequestExpires of 1m0s\r\n\r\n",
            ),
            (
                exceeded_max_request_max_bytes(1024),
                b"NATS/1.0 409 Exceeded MaxRequestMaxBytes of 1024\r\n\r\n",
            ),
            (consumer_deleted(), b"NATS/1.0 409 Consumer Deleted\r\n\r\n"),
            (
                consumer_is_push_based(),
                b"NATS/1.0 409 Consumer is push based\r\n\r\n",
            ),
            (
                bad_request("heartbeat value too large"),
                b"NATS/1.0 400 Bad Request - heartbeat value too large\r\n\r\n",
            ),
            (required_api_level(), b"NATS/1.0 412 Required Api Level\r\n\r\n"),
            (pin_id_mismatch(), b"NATS/1.0 423 Nats-Pin-Id mismatch\r\n\r\n"),
            (
                idle_heartbeat(4, 9, ""),
                b"NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: 4\r\nNats-Last-Stream: 9\r\n\r\n",
            ),
            (
                idle_heartbeat(4, 9, "$JS.FC.S.C.ab12"),
                b"NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: 4\r\nNats-Last-Stream: 9\r\nNats-Consumer-Stalled: $JS.FC.S.C.ab12\r\n\r\n",
            ),
            (
                flow_control_request(),
                b"NATS/1.0 100 FlowControl Request\r\n\r\n",
            ),
        ];
        for (built, expected) in cases {
            assert_eq!(
                &built[..],
                expected,
                "{}",
                String::from_utf8_lossy(expected)
            );
        }
    }
}
