//! What consumers put on the wire and read back, byte for byte as the Go server: the ack
//! reply subject of every delivery (the 9-token form and, behind `js_ack_fc_v2`, the 11-token
//! form with domain and account hash), the flow control reply subject, the ack bodies
//! (`+ACK`, `-NAK`, `+WPI`, `+NXT`, `+TERM`), headers-only deliveries and added headers.
//! Nothing here panics on what a peer sends: an unreadable ack is reported as such.

use std::fmt::Write as _;

use bytes::{BufMut, Bytes, BytesMut};
use sha2::{Digest, Sha256};

use crate::api::NakOptions;
use crate::headers::names;
use crate::time::parse_go_duration;

/// The prefix of every ack subject.
pub const ACK_PREFIX: &str = "$JS.ACK.";
/// The prefix of every flow control reply subject.
pub const FLOW_CONTROL_PREFIX: &str = "$JS.FC.";
/// The header naming the pin of a pinned-client delivery (Go's `JSPullRequestNatsPinId`).
pub const PIN_ID_HEADER: &str = "Nats-Pin-Id";
/// The header of a pull request that needs a newer API (Go's `JSRequiredApiLevel`).
pub const REQUIRED_API_LEVEL_HEADER: &str = "Nats-Required-Api-Level";
/// The API level Natrix implements (Go's `JSApiLevel`).
pub const API_LEVEL: i64 = 4;

/// Which ack subject form deliveries carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AckFormat {
    /// `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>`.
    V1,
    /// `$JS.ACK.<domain>.<account hash>.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.
    /// <pending>`, the 2.14 form behind the `js_ack_fc_v2` feature flag. `domain` is `_`
    /// when the server has none; `account_hash` is [`account_hash`] of the account's name.
    V2 {
        /// The JetStream domain, or `_`.
        domain: String,
        /// The account's 8-character hash.
        account_hash: String,
    },
}

/// The numbers an ack subject carries (Go's `ackReplyInfo`). A number that is not a plain
/// decimal reads as `u64::MAX` (Go's `uint64(-1)`), which no pending delivery matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckReplyInfo {
    /// Deliveries of the message so far, this one included.
    pub delivery_count: u64,
    /// The message's stream sequence.
    pub stream_seq: u64,
    /// The delivery's consumer sequence.
    pub consumer_seq: u64,
    /// The message's store time, nanoseconds since the epoch.
    pub timestamp_ns: i64,
    /// Messages pending for the consumer after this delivery.
    pub pending: u64,
}

/// An ack subject's stream, consumer and numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckSubject<'a> {
    /// The stream.
    pub stream: &'a str,
    /// The consumer.
    pub consumer: &'a str,
    /// The numbers.
    pub info: AckReplyInfo,
}

/// Builds ack subjects for one consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckSubjects {
    prefix: String,
}

impl AckSubjects {
    /// Ack subjects of `consumer` on `stream` in `format`.
    pub fn new(format: &AckFormat, stream: &str, consumer: &str) -> AckSubjects {
        let mut prefix = String::from(ACK_PREFIX);
        if let AckFormat::V2 {
            domain,
            account_hash,
        } = format
        {
            prefix.push_str(domain);
            prefix.push('.');
            prefix.push_str(account_hash);
            prefix.push('.');
        }
        prefix.push_str(stream);
        prefix.push('.');
        prefix.push_str(consumer);
        AckSubjects { prefix }
    }

    /// The reply subject of one delivery (Go's `ackReply`).
    pub fn reply(&self, info: &AckReplyInfo) -> String {
        let mut subject = String::with_capacity(self.prefix.len() + 64);
        subject.push_str(&self.prefix);
        // Writing to a String cannot fail.
        let _ = write!(
            subject,
            ".{}.{}.{}.{}.{}",
            info.delivery_count,
            info.stream_seq,
            info.consumer_seq,
            info.timestamp_ns,
            info.pending
        );
        subject
    }
}

/// The subscriptions a runtime makes to receive a consumer's acks: the 9-token form always
/// (clients may keep old subjects across a flag change), the 11-token form (and its
/// extensions) too, as Go does.
pub fn ack_subscriptions(format: &AckFormat, stream: &str, consumer: &str) -> Vec<String> {
    let mut subjects = vec![format!("{ACK_PREFIX}{stream}.{consumer}.*.*.*.*.*")];
    if let AckFormat::V2 {
        domain,
        account_hash,
    } = format
    {
        subjects.push(format!(
            "{ACK_PREFIX}{domain}.{account_hash}.{stream}.{consumer}.*.*.*.*.>"
        ));
    }
    subjects
}

/// Parses an ack subject (9 tokens, or 11 and more), `None` when it is not one.
pub fn parse_ack_subject(subject: &str) -> Option<AckSubject<'_>> {
    let tokens: Vec<&str> = subject.split('.').collect();
    if (tokens.len() != 9 && tokens.len() < 11) || tokens[0] != "$JS" || tokens[1] != "ACK" {
        return None;
    }
    let offset = if tokens.len() >= 11 { 4 } else { 2 };
    let number = |index: usize| parse_ack_number(tokens[offset + index]);
    Some(AckSubject {
        stream: tokens[offset],
        consumer: tokens[offset + 1],
        info: AckReplyInfo {
            delivery_count: number(2) as u64,
            stream_seq: number(3) as u64,
            consumer_seq: number(4) as u64,
            timestamp_ns: number(5),
            pending: number(6) as u64,
        },
    })
}

/// Go's `parseAckReplyNum`: decimal digits only, -1 otherwise. Overflow wraps as in Go.
fn parse_ack_number(text: &str) -> i64 {
    if text.is_empty() {
        return -1;
    }
    let mut value: i64 = 0;
    for byte in text.bytes() {
        if !byte.is_ascii_digit() {
            return -1;
        }
        value = value.wrapping_mul(10).wrapping_add(i64::from(byte - b'0'));
    }
    value
}

/// What an ack message asks for (Go's `processAck`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AckKind {
    /// `+ACK`, `+OK` or an empty body.
    Ack,
    /// `-NAK`, with a redelivery delay in nanoseconds when one was given and readable.
    Nak {
        /// The delay, if any.
        delay_ns: Option<i64>,
    },
    /// `+WPI`: still working, restart the ack wait.
    Progress,
    /// `+NXT`: acknowledge, then treat the rest as a pull request body.
    Next {
        /// The pull request body after `+NXT` (a batch size, JSON, or nothing).
        request: Bytes,
    },
    /// `+TERM`: never redeliver, with the trimmed reason.
    Term {
        /// Why, may be empty.
        reason: String,
    },
    /// Anything else: ignored, but an ack-with-reply is still answered (as Go does).
    Unknown,
}

/// Reads an ack body (the payload, headers excluded).
pub fn parse_ack_body(body: &[u8]) -> AckKind {
    match body {
        b"" | b"+ACK" | b"+OK" => AckKind::Ack,
        b"+WPI" => AckKind::Progress,
        _ if body.starts_with(b"+NXT") => AckKind::Next {
            request: Bytes::copy_from_slice(&body[4..]),
        },
        _ if body.starts_with(b"-NAK") => AckKind::Nak {
            delay_ns: nak_delay(&body[4..]),
        },
        _ if body.starts_with(b"+TERM") => AckKind::Term {
            reason: String::from_utf8_lossy(body[5..].trim_ascii()).into_owned(),
        },
        _ => AckKind::Unknown,
    }
}

/// The delay after `-NAK`: `{"delay": <ns>}` or a Go duration (`-NAK 5s`). Unreadable
/// delays make a plain NAK, as in Go (which logs them).
fn nak_delay(argument: &[u8]) -> Option<i64> {
    let argument = argument.trim_ascii();
    if argument.is_empty() {
        return None;
    }
    if argument[0] == b'{' {
        return serde_json::from_slice::<NakOptions>(argument)
            .ok()
            .map(|options| options.delay);
    }
    std::str::from_utf8(argument)
        .ok()
        .and_then(parse_go_duration)
}

/// The flow control reply subject of a consumer, with its 4-character token (Go's
/// `fcReply`): `$JS.FC.<stream>.<consumer>.<token>`, or in the v2 form
/// `$JS.FC.<domain>.<account hash>.<stream>.<consumer>.<token>`.
pub fn flow_control_reply(format: &AckFormat, stream: &str, consumer: &str, token: &str) -> String {
    match format {
        AckFormat::V1 => format!("{FLOW_CONTROL_PREFIX}{stream}.{consumer}.{token}"),
        AckFormat::V2 {
            domain,
            account_hash,
        } => format!("{FLOW_CONTROL_PREFIX}{domain}.{account_hash}.{stream}.{consumer}.{token}"),
    }
}

/// The subscriptions a runtime makes to receive a consumer's flow control replies.
pub fn flow_control_subscriptions(format: &AckFormat, stream: &str, consumer: &str) -> Vec<String> {
    let mut subjects = vec![format!("{FLOW_CONTROL_PREFIX}{stream}.{consumer}.*")];
    if let AckFormat::V2 {
        domain,
        account_hash,
    } = format
    {
        subjects.push(format!(
            "{FLOW_CONTROL_PREFIX}{domain}.{account_hash}.{stream}.{consumer}.*"
        ));
    }
    subjects
}

/// The characters of Go's NUIDs and hashes.
pub(crate) const BASE62: &[u8; 62] =
    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Go's `getHash`: 8 characters of the SHA-256 of `name`, each byte mod 62 in [`BASE62`].
pub fn account_hash(name: &str) -> String {
    let digest = Sha256::digest(name.as_bytes());
    digest[..8]
        .iter()
        .map(|byte| char::from(BASE62[usize::from(byte % 62)]))
        .collect()
}

/// A headers-only delivery (Go's `convertToHeadersOnly`): the message's headers with
/// `Nats-Msg-Size: <payload length>` added, and no payload.
pub fn headers_only(headers: &[u8], payload_len: usize) -> Bytes {
    append_header(headers, names::MSG_SIZE, &payload_len.to_string())
}

/// `headers` with `key: value` appended (Go's `genHeader`: no replacement of an existing
/// line); a message without headers gets a `NATS/1.0` block.
pub fn append_header(headers: &[u8], key: &str, value: &str) -> Bytes {
    let mut out = BytesMut::with_capacity(headers.len() + key.len() + value.len() + 16);
    if headers.len() > 2 {
        out.put_slice(&headers[..headers.len() - 2]);
    } else {
        out.put_slice(b"NATS/1.0\r\n");
    }
    out.put_slice(key.as_bytes());
    out.put_slice(b": ");
    out.put_slice(value.as_bytes());
    out.put_slice(b"\r\n\r\n");
    out.freeze()
}

/// Whether a request's headers ask for a newer API than Natrix's (Go's
/// `errorOnRequiredApiLevel`: an unreadable level counts as newer).
pub fn requires_newer_api(headers: &[u8]) -> bool {
    match crate::headers::get_str(headers, REQUIRED_API_LEVEL_HEADER) {
        None | Some("") => false,
        Some(level) => level
            .trim()
            .parse::<i64>()
            .map_or(true, |level| level > API_LEVEL),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> AckReplyInfo {
        AckReplyInfo {
            delivery_count: 2,
            stream_seq: 17,
            consumer_seq: 5,
            timestamp_ns: 1_714_557_600_000_000_000,
            pending: 9,
        }
    }

    #[test]
    fn ack_subjects_round_trip_in_both_forms() {
        let v1 = AckSubjects::new(&AckFormat::V1, "S", "C").reply(&info());
        assert_eq!(v1, "$JS.ACK.S.C.2.17.5.1714557600000000000.9");
        let parsed = parse_ack_subject(&v1).expect("parses");
        assert_eq!((parsed.stream, parsed.consumer), ("S", "C"));
        assert_eq!(parsed.info, info());
        let format = AckFormat::V2 {
            domain: "_".to_owned(),
            account_hash: account_hash("$G"),
        };
        let v2 = AckSubjects::new(&format, "S", "C").reply(&info());
        assert!(v2.starts_with("$JS.ACK._."), "{v2}");
        let parsed = parse_ack_subject(&v2).expect("parses");
        assert_eq!((parsed.stream, parsed.consumer), ("S", "C"));
        assert_eq!(parsed.info, info());
        // Clients may extend the v2 form with more tokens.
        let extended = format!("{v2}.extra");
        assert_eq!(parse_ack_subject(&extended).expect("parses").info, info());
    }

    #[test]
    fn malformed_ack_subjects_are_not_panics() {
        for subject in [
            "",
            "$JS.ACK",
            "$JS.ACK.S.C.1.2.3.4",
            "$JS.ACK.S.C.1.2.3.4.5.6",
            "$JS.NAK.S.C.1.2.3.4.5",
            "x.ACK.S.C.1.2.3.4.5",
        ] {
            assert!(parse_ack_subject(subject).is_none(), "{subject}");
        }
        let bad = parse_ack_subject("$JS.ACK.S.C.x.-2.3.4.5").expect("nine tokens");
        assert_eq!(bad.info.delivery_count, u64::MAX);
        assert_eq!(bad.info.stream_seq, u64::MAX);
        assert_eq!(bad.info.consumer_seq, 3);
    }

    #[test]
    fn ack_bodies_read_as_go_reads_them() {
        assert_eq!(parse_ack_body(b""), AckKind::Ack);
        assert_eq!(parse_ack_body(b"+ACK"), AckKind::Ack);
        assert_eq!(parse_ack_body(b"+OK"), AckKind::Ack);
        assert_eq!(parse_ack_body(b"+ACK "), AckKind::Unknown);
        assert_eq!(parse_ack_body(b"+WPI"), AckKind::Progress);
        assert_eq!(parse_ack_body(b"-NAK"), AckKind::Nak { delay_ns: None });
        assert_eq!(
            parse_ack_body(b"-NAK {\"delay\": 2000000000}"),
            AckKind::Nak {
                delay_ns: Some(2_000_000_000)
            }
        );
        assert_eq!(
            parse_ack_body(b"-NAK 1.5s"),
            AckKind::Nak {
                delay_ns: Some(1_500_000_000)
            }
        );
        assert_eq!(
            parse_ack_body(b"-NAK soon"),
            AckKind::Nak { delay_ns: None }
        );
        assert_eq!(
            parse_ack_body(b"-NAK {\"delay\":"),
            AckKind::Nak { delay_ns: None }
        );
        assert_eq!(
            parse_ack_body(b"+TERM  bad input \r\n"),
            AckKind::Term {
                reason: "bad input".to_owned()
            }
        );
        assert_eq!(
            parse_ack_body(b"+NXT 10"),
            AckKind::Next {
                request: Bytes::from_static(b" 10")
            }
        );
        assert_eq!(parse_ack_body(&[0xff, 0xfe]), AckKind::Unknown);
    }

    #[test]
    fn account_hash_is_gos_get_hash() {
        let hash = account_hash("$G");
        assert_eq!(hash.len(), 8);
        assert!(hash.bytes().all(|byte| BASE62.contains(&byte)));
        assert_eq!(hash, account_hash("$G"));
        assert_ne!(hash, account_hash("A"));
    }

    #[test]
    fn headers_only_keeps_the_headers_and_adds_the_size() {
        assert_eq!(
            &headers_only(b"", 5)[..],
            b"NATS/1.0\r\nNats-Msg-Size: 5\r\n\r\n"
        );
        assert_eq!(
            &headers_only(b"NATS/1.0\r\nA: b\r\n\r\n", 12)[..],
            b"NATS/1.0\r\nA: b\r\nNats-Msg-Size: 12\r\n\r\n"
        );
        assert_eq!(
            &append_header(b"", PIN_ID_HEADER, "X")[..],
            b"NATS/1.0\r\nNats-Pin-Id: X\r\n\r\n"
        );
    }

    #[test]
    fn required_api_level_is_checked_as_go_does() {
        assert!(!requires_newer_api(b""));
        assert!(!requires_newer_api(
            b"NATS/1.0\r\nNats-Required-Api-Level: 4\r\n\r\n"
        ));
        assert!(requires_newer_api(
            b"NATS/1.0\r\nNats-Required-Api-Level: 5\r\n\r\n"
        ));
        assert!(requires_newer_api(
            b"NATS/1.0\r\nNats-Required-Api-Level: x\r\n\r\n"
        ));
    }

    #[test]
    fn flow_control_subjects_in_both_forms() {
        assert_eq!(
            flow_control_reply(&AckFormat::V1, "S", "C", "ab12"),
            "$JS.FC.S.C.ab12"
        );
        let format = AckFormat::V2 {
            domain: "hub".to_owned(),
            account_hash: "HASH".to_owned(),
        };
        assert_eq!(
            flow_control_reply(&format, "S", "C", "ab12"),
            "$JS.FC.hub.HASH.S.C.ab12"
        );
        assert_eq!(
            flow_control_subscriptions(&format, "S", "C"),
            vec!["$JS.FC.S.C.*", "$JS.FC.hub.HASH.S.C.*"]
        );
        assert_eq!(
            ack_subscriptions(&format, "S", "C"),
            vec!["$JS.ACK.S.C.*.*.*.*.*", "$JS.ACK.hub.HASH.S.C.*.*.*.*.>"]
        );
    }
}
