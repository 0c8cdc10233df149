//! Parsing and validation of the stream API requests that read or remove messages, with
//! the Go server's errors: `STREAM.MSG.GET` and `DIRECT.GET` (JSON errors for the first,
//! status headers for the second), `STREAM.PURGE`, `STREAM.MSG.DELETE` and `STREAM.INFO`.

use bytes::Bytes;

use crate::api::{
    MsgDeleteRequest, MsgGetRequest, StreamConfig, StreamConfigRequest, StreamInfoRequest,
    StreamPurgeRequest, StreamRestoreRequest, StreamSnapshotRequest,
};
use crate::errors::{ApiError, ErrorId};
use crate::headers;
use crate::json;

fn is_empty(body: &[u8]) -> bool {
    body.iter().all(u8::is_ascii_whitespace)
}

/// Go's `isEmptyRequest`: no bytes, or a JSON object without members.
pub fn is_empty_request(body: &[u8]) -> bool {
    if body.is_empty() || body == b"{}" {
        return true;
    }
    matches!(
        serde_json::from_slice::<serde_json::Value>(body),
        Ok(serde_json::Value::Object(members)) if members.is_empty()
    )
}

/// Parses `STREAM.SNAPSHOT` after the stream was found (an empty request is refused before
/// the lookup, with [`is_empty_request`]): Go's JSON error, then a deliver subject that is
/// a valid subject without wildcards.
pub fn parse_snapshot(body: &[u8]) -> Result<StreamSnapshotRequest, ApiError> {
    let request: StreamSnapshotRequest =
        json::from_request(body).map_err(ApiError::invalid_json)?;
    if !crate::subject::is_valid_literal_subject(request.deliver_subject.as_bytes()) {
        return Err(ApiError::new(ErrorId::SnapshotDeliverSubjectInvalid));
    }
    Ok(request)
}

/// Parses `STREAM.RESTORE.<stream>` as the Go server's `jsStreamRestoreRequest`: an empty
/// request, bad JSON, a configuration naming another stream (an empty name is the
/// subject's) and a name with path separators are refused, in that order. The
/// configuration then goes through the create checks.
pub fn parse_restore(stream: &str, body: &[u8]) -> Result<StreamConfigRequest, ApiError> {
    if is_empty_request(body) {
        return Err(ApiError::new(ErrorId::BadRequest));
    }
    let mut request: StreamRestoreRequest =
        json::from_request(body).map_err(ApiError::invalid_json)?;
    if request.config.name.is_empty() {
        request.config.name = stream.to_owned();
    }
    if request.config.name != stream {
        return Err(ApiError::new(ErrorId::StreamMismatch));
    }
    if stream.contains(['/', '\\']) {
        return Err(ApiError::new(ErrorId::StreamNameContainsPathSeparators));
    }
    Ok(StreamConfigRequest {
        config: request.config,
        pedantic: false,
    })
}

/// A valid `STREAM.MSG.GET`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MsgGet {
    /// The message with this sequence.
    BySeq(u64),
    /// The last message matching this subject.
    LastFor(String),
    /// The first message at or after `seq` matching `subject`.
    NextFor {
        /// Filter.
        subject: String,
        /// Start (1 when the request had none).
        seq: u64,
    },
    /// The first message at or after this time (nanoseconds), optionally filtered.
    ByTime {
        /// Start time.
        start_ns: i64,
        /// Filter, empty for all.
        subject: String,
    },
}

/// Parses `STREAM.MSG.GET` as the Go server's `jsMsgGetRequest`: an empty body, `batch` or
/// `max_bytes` (direct get only) and conflicting options are `bad request`.
pub fn parse_msg_get(body: &[u8]) -> Result<MsgGet, ApiError> {
    if is_empty(body) {
        return Err(ApiError::new(ErrorId::BadRequest));
    }
    let request: MsgGetRequest = json::from_request(body).map_err(ApiError::invalid_json)?;
    if request.batch > 0 || request.max_bytes > 0 {
        return Err(ApiError::new(ErrorId::BadRequest));
    }
    let has_last = !request.last_by_subj.is_empty();
    let has_next = !request.next_by_subj.is_empty();
    let has_time = request.start_time.is_some();
    let has_seq = request.seq > 0;
    // The Go server's list of conflicting or missing options, in its order.
    let refused = [
        has_seq && has_last,
        !has_seq && !has_last && !has_next && !has_time,
        has_seq && has_time,
        has_time && has_last,
        has_last && has_next,
    ];
    if refused.contains(&true) {
        return Err(ApiError::new(ErrorId::BadRequest));
    }
    if let Some(start) = request.start_time {
        return Ok(MsgGet::ByTime {
            start_ns: start.unix_nanos().unwrap_or(i64::MIN),
            subject: request.next_by_subj,
        });
    }
    if has_last {
        return Ok(MsgGet::LastFor(request.last_by_subj));
    }
    if has_next {
        return Ok(MsgGet::NextFor {
            subject: request.next_by_subj,
            seq: request.seq.max(1),
        });
    }
    Ok(MsgGet::BySeq(request.seq))
}

/// A direct get refused before any lookup: the status reply to send (no JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectGetRefusal(pub Bytes);

/// Parses `$JS.API.DIRECT.GET.<stream>` (body) or `$JS.API.DIRECT.GET.<stream>.<subject>`
/// (`subject_tail`, the last-by-subject form with an empty body), as the Go server's
/// `processDirectGetRequest`: `408 Empty Request`, `408 Malformed Request` and
/// `408 Bad Request` for conflicting options.
pub fn parse_direct_get(
    body: &[u8],
    subject_tail: Option<&str>,
) -> Result<MsgGetRequest, DirectGetRefusal> {
    if let Some(subject) = subject_tail {
        if subject.is_empty() {
            return Err(DirectGetRefusal(headers::status(408, "Empty Request")));
        }
        return Ok(MsgGetRequest {
            last_by_subj: subject.to_owned(),
            ..MsgGetRequest::default()
        });
    }
    if is_empty(body) {
        return Err(DirectGetRefusal(headers::status(408, "Empty Request")));
    }
    let request: MsgGetRequest = json::from_request(body)
        .map_err(|_| DirectGetRefusal(headers::status(408, "Malformed Request")))?;
    let has_last = !request.last_by_subj.is_empty();
    let has_next = !request.next_by_subj.is_empty();
    let has_multi = !request.multi_last.is_empty();
    let has_time = request.start_time.is_some();
    if request.seq == 0 && !has_last && !has_next && !has_multi && !has_time {
        return Err(DirectGetRefusal(headers::status(408, "Empty Request")));
    }
    let has_seq = request.seq > 0;
    let conflicts = [
        has_seq && has_last,
        has_seq && has_time,
        has_time && has_last,
        has_last && has_next,
        has_last && request.batch > 0,
        has_last && has_multi,
        has_next && has_multi,
        request.up_to_seq > 0 && request.up_to_time.is_some(),
    ];
    if conflicts.contains(&true) {
        return Err(DirectGetRefusal(headers::status(408, "Bad Request")));
    }
    Ok(request)
}

/// Parses `STREAM.PURGE` (an empty body purges everything) and checks that the stream allows
/// it, as the Go server: `seq` with `keep` is `bad request`; a sealed stream refuses with
/// `invalid operation on sealed stream`; `deny_purge` with `stream purge not permitted`.
pub fn parse_purge(
    body: &[u8],
    config: &StreamConfig,
) -> Result<natrix_storage::PurgeRequest, ApiError> {
    let request: StreamPurgeRequest = if is_empty(body) {
        StreamPurgeRequest::default()
    } else {
        json::from_request(body).map_err(ApiError::invalid_json)?
    };
    if request.seq > 0 && request.keep > 0 {
        return Err(ApiError::new(ErrorId::BadRequest));
    }
    if config.sealed {
        return Err(ApiError::new(ErrorId::StreamSealed));
    }
    if config.deny_purge {
        return Err(ApiError::stream_purge_failed("stream purge not permitted"));
    }
    if !request.filter.is_empty() && !crate::subject::is_valid_subject(request.filter.as_bytes()) {
        return Err(ApiError::stream_purge_failed("invalid subject"));
    }
    Ok(natrix_storage::PurgeRequest {
        subject: Some(request.filter).filter(|filter| !filter.is_empty()),
        before_seq: (request.seq > 0).then_some(request.seq),
        keep: (request.keep > 0).then_some(request.keep),
    })
}

/// Parses `STREAM.MSG.DELETE` and checks that the stream allows it: an empty body is `bad
/// request`; sealed and `deny_delete` streams refuse as the Go server does.
pub fn parse_msg_delete(body: &[u8], config: &StreamConfig) -> Result<MsgDeleteRequest, ApiError> {
    if is_empty(body) {
        return Err(ApiError::new(ErrorId::BadRequest));
    }
    let request: MsgDeleteRequest = json::from_request(body).map_err(ApiError::invalid_json)?;
    if config.sealed {
        return Err(ApiError::new(ErrorId::StreamSealed));
    }
    if config.deny_delete {
        return Err(ApiError::stream_msg_delete_failed(
            "message delete not permitted",
        ));
    }
    Ok(request)
}

/// Parses `STREAM.INFO` (an empty body asks for the plain info); a negative offset is 0.
pub fn parse_info(body: &[u8]) -> Result<StreamInfoRequest, ApiError> {
    if is_empty(body) {
        return Ok(StreamInfoRequest::default());
    }
    let mut request: StreamInfoRequest =
        json::from_request(body).map_err(ApiError::invalid_json)?;
    request.offset = request.offset.max(0);
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msg_get_accepts_one_way_to_find_the_message() {
        assert_eq!(parse_msg_get(br#"{"seq":5}"#), Ok(MsgGet::BySeq(5)));
        assert_eq!(
            parse_msg_get(br#"{"last_by_subj":"a.b"}"#),
            Ok(MsgGet::LastFor("a.b".to_owned()))
        );
        assert_eq!(
            parse_msg_get(br#"{"next_by_subj":"a.*"}"#),
            Ok(MsgGet::NextFor {
                subject: "a.*".to_owned(),
                seq: 1
            })
        );
        assert!(matches!(
            parse_msg_get(br#"{"start_time":"2024-05-01T10:00:00Z"}"#),
            Ok(MsgGet::ByTime { .. })
        ));
    }

    #[test]
    fn msg_get_refuses_conflicts_and_direct_only_fields_as_bad_request() {
        let bad = ApiError::new(ErrorId::BadRequest);
        for body in [
            &b""[..],
            br#"{}"#,
            br#"{"seq":1,"last_by_subj":"a"}"#,
            br#"{"last_by_subj":"a","next_by_subj":"b"}"#,
            br#"{"seq":1,"batch":2}"#,
            br#"{"seq":1,"start_time":"2024-05-01T10:00:00Z"}"#,
        ] {
            assert_eq!(
                parse_msg_get(body),
                Err(bad.clone()),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        let error = parse_msg_get(br#"{"sequence":1}"#).expect_err("unknown field");
        assert_eq!(
            error.description,
            r#"invalid JSON: json: unknown field "sequence""#
        );
    }

    #[test]
    fn snapshot_and_restore_requests_are_refused_as_go_refuses_them() {
        assert!(is_empty_request(b""));
        assert!(is_empty_request(b" { } "));
        assert!(!is_empty_request(b" "));
        assert!(!is_empty_request(br#"{"a":1}"#));
        let deliver = |subject: &str| {
            parse_snapshot(format!(r#"{{"deliver_subject":"{subject}"}}"#).as_bytes())
                .map(|request| request.deliver_subject)
        };
        assert_eq!(deliver("_INBOX.x"), Ok("_INBOX.x".to_owned()));
        let invalid = Err(ApiError::new(ErrorId::SnapshotDeliverSubjectInvalid));
        assert_eq!(deliver("_INBOX.*"), invalid);
        assert_eq!(deliver(""), invalid);
        assert_eq!(
            parse_restore("S", b"{}"),
            Err(ApiError::new(ErrorId::BadRequest))
        );
        let named = parse_restore("S", br#"{"config":{"subjects":["a"]},"state":{}}"#).unwrap();
        assert_eq!(named.config.name, "S");
        assert_eq!(
            parse_restore("S", br#"{"config":{"name":"T"}}"#),
            Err(ApiError::new(ErrorId::StreamMismatch))
        );
        assert_eq!(
            parse_restore("a/b", br#"{"config":{}}"#),
            Err(ApiError::new(ErrorId::StreamNameContainsPathSeparators))
        );
        assert!(parse_restore("S", br#"{"config":{"bogus":1}}"#).is_err());
    }

    #[test]
    fn direct_get_refusals_are_status_headers() {
        let status = |result: Result<MsgGetRequest, DirectGetRefusal>| match result {
            Ok(_) => "ok".to_owned(),
            Err(DirectGetRefusal(bytes)) => String::from_utf8_lossy(&bytes).into_owned(),
        };
        assert_eq!(
            status(parse_direct_get(b"", None)),
            "NATS/1.0 408 Empty Request\r\n\r\n"
        );
        assert_eq!(
            status(parse_direct_get(b"{x", None)),
            "NATS/1.0 408 Malformed Request\r\n\r\n"
        );
        assert_eq!(
            status(parse_direct_get(br#"{"last_by_subj":"a","batch":2}"#, None)),
            "NATS/1.0 408 Bad Request\r\n\r\n"
        );
        assert_eq!(
            status(parse_direct_get(
                br#"{"up_to_seq":2,"up_to_time":"2024-05-01T10:00:00Z","seq":1}"#,
                None
            )),
            "NATS/1.0 408 Bad Request\r\n\r\n"
        );
        assert_eq!(
            status(parse_direct_get(
                br#"{"multi_last":["a.>"],"batch":10}"#,
                None
            )),
            "ok"
        );
        let by_subject = parse_direct_get(b"", Some("kv.key")).expect("last by subject");
        assert_eq!(by_subject.last_by_subj, "kv.key");
    }

    #[test]
    fn purge_requests_map_to_the_stores_purge_and_respect_the_stream() {
        let open = StreamConfig::default();
        let all = parse_purge(b"", &open).expect("purge all");
        assert_eq!(all, natrix_storage::PurgeRequest::default());
        let filtered = parse_purge(br#"{"filter":"a.>","keep":2}"#, &open).expect("ok");
        assert_eq!(filtered.subject.as_deref(), Some("a.>"));
        assert_eq!(filtered.keep, Some(2));
        assert_eq!(
            parse_purge(br#"{"seq":3,"keep":2}"#, &open),
            Err(ApiError::new(ErrorId::BadRequest))
        );
        let denied = StreamConfig {
            deny_purge: true,
            ..StreamConfig::default()
        };
        assert_eq!(
            parse_purge(b"", &denied).map_err(|e| e.description),
            Err("stream purge not permitted".to_owned())
        );
        let sealed = StreamConfig {
            sealed: true,
            ..StreamConfig::default()
        };
        assert_eq!(
            parse_purge(b"", &sealed),
            Err(ApiError::new(ErrorId::StreamSealed))
        );
    }

    #[test]
    fn msg_delete_and_info_requests_are_checked() {
        let denied = StreamConfig {
            deny_delete: true,
            ..StreamConfig::default()
        };
        assert_eq!(
            parse_msg_delete(br#"{"seq":1}"#, &denied).map_err(|e| e.description),
            Err("message delete not permitted".to_owned())
        );
        assert_eq!(
            parse_msg_delete(br#"{"seq":1,"no_erase":true}"#, &StreamConfig::default())
                .map(|r| r.seq),
            Ok(1)
        );
        let info = parse_info(br#"{"subjects_filter":">","deleted_details":true,"offset":-3}"#)
            .expect("info");
        assert_eq!((info.offset, info.deleted_details), (0, true));
        assert_eq!(
            parse_info(b"").expect("empty"),
            StreamInfoRequest::default()
        );
    }
}
