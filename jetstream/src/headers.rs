//! The NATS header block (`NATS/1.0[ status[ description]]\r\nKey: Value\r\n...\r\n\r\n`):
//! reading it as the Go server does, and building the status and header replies JetStream
//! sends.
//!
//! Reading follows the Go server's `sliceHeader`: keys are case-sensitive, the first
//! occurrence wins, the key must start a line and be followed directly by `:`, spaces after
//! the colon are skipped and the value runs to the next CRLF. [`HeaderBlock::parse`] also
//! checks the version line and splits out the status; it never panics and bounds the number
//! of entries it keeps.

use std::fmt::Write as _;

use bytes::{BufMut, Bytes, BytesMut};

/// The version line every header block starts with.
pub const VERSION_LINE: &str = "NATS/1.0";
/// Most entries [`HeaderBlock::parse`] keeps; further lines are ignored by [`HeaderBlock::entries`]
/// (lookups by key still see the whole block).
pub const MAX_ENTRIES: usize = 1024;

/// JetStream publish headers.
pub mod names {
    /// Deduplication id.
    pub const MSG_ID: &str = "Nats-Msg-Id";
    /// The stream the publisher expects.
    pub const EXPECTED_STREAM: &str = "Nats-Expected-Stream";
    /// The stream's last sequence the publisher expects.
    pub const EXPECTED_LAST_SEQ: &str = "Nats-Expected-Last-Sequence";
    /// The subject's last sequence the publisher expects.
    pub const EXPECTED_LAST_SUBJECT_SEQ: &str = "Nats-Expected-Last-Subject-Sequence";
    /// The subject (filter) the last-subject-sequence check uses instead of the publish subject.
    pub const EXPECTED_LAST_SUBJECT_SEQ_SUBJECT: &str =
        "Nats-Expected-Last-Subject-Sequence-Subject";
    /// The last `Nats-Msg-Id` the publisher expects.
    pub const EXPECTED_LAST_MSG_ID: &str = "Nats-Expected-Last-Msg-Id";
    /// Rollup (`sub` or `all`).
    pub const ROLLUP: &str = "Nats-Rollup";
    /// Per-message TTL.
    pub const TTL: &str = "Nats-TTL";
    /// Why a marker was left.
    pub const MARKER_REASON: &str = "Nats-Marker-Reason";
    /// Counter increment.
    pub const INCR: &str = "Nats-Incr";
    /// Counter sources.
    pub const COUNTER_SOURCES: &str = "Nats-Counter-Sources";
    /// Atomic batch id.
    pub const BATCH_ID: &str = "Nats-Batch-Id";
    /// Atomic batch sequence.
    pub const BATCH_SEQUENCE: &str = "Nats-Batch-Sequence";
    /// Atomic batch commit.
    pub const BATCH_COMMIT: &str = "Nats-Batch-Commit";
    /// Message schedule.
    pub const SCHEDULE: &str = "Nats-Schedule";
    /// Scheduler purge.
    pub const SCHEDULE_NEXT: &str = "Nats-Schedule-Next";
    /// Scheduler subject.
    pub const SCHEDULER: &str = "Nats-Scheduler";
    /// Set on sourced messages.
    pub const STREAM_SOURCE: &str = "Nats-Stream-Source";
    /// Client info the Go server strips from stored messages.
    pub const CLIENT_INFO: &str = "Nats-Request-Info";
    /// Reply headers of direct gets and republish.
    pub const STREAM: &str = "Nats-Stream";
    /// The message's subject.
    pub const SUBJECT: &str = "Nats-Subject";
    /// The message's sequence.
    pub const SEQUENCE: &str = "Nats-Sequence";
    /// The message's time.
    pub const TIME_STAMP: &str = "Nats-Time-Stamp";
    /// Messages left in a direct-get batch.
    pub const NUM_PENDING: &str = "Nats-Num-Pending";
    /// The previous message's sequence in a batch.
    pub const LAST_SEQUENCE: &str = "Nats-Last-Sequence";
    /// Upper bound of a batch.
    pub const UP_TO_SEQUENCE: &str = "Nats-UpTo-Sequence";
    /// Size of the payload left out.
    pub const MSG_SIZE: &str = "Nats-Msg-Size";
}

/// Why a header block could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// The block does not start with `NATS/1.0`.
    #[error("header block does not start with NATS/1.0")]
    MissingVersion,
    /// The version line is not terminated by CRLF.
    #[error("header block is not terminated")]
    Unterminated,
    /// The status is not three digits.
    #[error("invalid status in header block")]
    InvalidStatus,
}

/// A parsed header block, borrowing the raw bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderBlock<'a> {
    raw: &'a [u8],
    status: Option<u16>,
    description: &'a str,
    entries: Vec<(&'a [u8], &'a [u8])>,
}

impl<'a> HeaderBlock<'a> {
    /// Parses `raw` (as stored or received after HPUB).
    pub fn parse(raw: &'a [u8]) -> Result<HeaderBlock<'a>, HeaderError> {
        let rest = raw
            .strip_prefix(VERSION_LINE.as_bytes())
            .ok_or(HeaderError::MissingVersion)?;
        let line_end = find_crlf(rest, 0).ok_or(HeaderError::Unterminated)?;
        let status_line = trim_spaces(&rest[..line_end]);
        let (status, description) = parse_status(status_line)?;
        let mut entries = Vec::new();
        let mut position = line_end + 2;
        while position < rest.len() && entries.len() < MAX_ENTRIES {
            let end = find_crlf(rest, position).unwrap_or(rest.len());
            let line = &rest[position..end];
            if line.is_empty() {
                break;
            }
            if let Some(colon) = line.iter().position(|byte| *byte == b':') {
                let key = &line[..colon];
                let value = trim_leading_spaces(&line[colon + 1..]);
                entries.push((key, value));
            }
            position = end + 2;
        }
        Ok(HeaderBlock {
            raw,
            status,
            description,
            entries,
        })
    }

    /// The status code (`404`), if the version line has one.
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    /// The status description (`Message Not Found`), empty when none.
    pub fn description(&self) -> &'a str {
        self.description
    }

    /// The entries in order (at most [`MAX_ENTRIES`]), keys as written.
    pub fn entries(&self) -> &[(&'a [u8], &'a [u8])] {
        &self.entries
    }

    /// The first value of `key` (case-sensitive), as the Go server reads it.
    pub fn get(&self, key: &str) -> Option<&'a [u8]> {
        get(self.raw, key)
    }

    /// Every value of `key` (case-sensitive), in order.
    pub fn get_all<'k>(&'k self, key: &'k str) -> impl Iterator<Item = &'a [u8]> + 'k {
        let key = key.as_bytes();
        self.entries
            .iter()
            .filter(move |(name, _)| *name == key)
            .map(|(_, value)| *value)
    }
}

/// The first value of `key` in a raw header block, exactly as Go's `sliceHeader`: the key
/// must follow a CRLF and be followed by `:`; leading spaces of the value are skipped and
/// it runs to the next CRLF (or the end).
pub fn get<'a>(raw: &'a [u8], key: &str) -> Option<&'a [u8]> {
    let key = key.as_bytes();
    if raw.is_empty() || key.is_empty() {
        return None;
    }
    let mut offset = 0;
    let index = loop {
        let found = find(&raw[offset..], key)? + offset;
        if found < 2 || raw[found - 2] != b'\r' || raw[found - 1] != b'\n' {
            offset = found + key.len();
            continue;
        }
        match raw.get(found + key.len()) {
            None => return None,
            Some(b':') => break found,
            Some(_) => offset = found + key.len(),
        }
    };
    let mut start = index + key.len() + 1;
    while raw.get(start) == Some(&b' ') {
        start += 1;
    }
    let end = find_crlf(raw, start).unwrap_or(raw.len());
    Some(&raw[start.min(end)..end])
}

/// The value of `key` as UTF-8 text, `None` when absent or not UTF-8.
pub fn get_str<'a>(raw: &'a [u8], key: &str) -> Option<&'a str> {
    get(raw, key).and_then(|value| std::str::from_utf8(value).ok())
}

/// `raw` without any line for `key` (Go's `removeHeaderIfPresent`, every occurrence). A
/// block left with no entries becomes empty.
pub fn remove(raw: &[u8], key: &str) -> Bytes {
    let Ok(block) = HeaderBlock::parse(raw) else {
        return Bytes::copy_from_slice(raw);
    };
    if block.get(key).is_none() {
        return Bytes::copy_from_slice(raw);
    }
    let mut builder = HeaderBuilder::new(block.status, block.description);
    let mut kept = 0;
    for (name, value) in block.entries() {
        if *name != key.as_bytes() {
            builder.append_raw(name, value);
            kept += 1;
        }
    }
    if kept == 0 && block.status.is_none() {
        return Bytes::new();
    }
    builder.finish()
}

/// `raw` with `key` set to `value`: the first line for `key` replaced, or a line added.
pub fn set(raw: &[u8], key: &str, value: &str) -> Bytes {
    let block = HeaderBlock::parse(raw).ok();
    let mut builder = match &block {
        Some(block) => HeaderBuilder::new(block.status, block.description),
        None => HeaderBuilder::new(None, ""),
    };
    let mut replaced = false;
    for (name, old) in block.iter().flat_map(|block| block.entries().iter()) {
        if *name == key.as_bytes() && !replaced {
            builder.append(key, value);
            replaced = true;
        } else {
            builder.append_raw(name, old);
        }
    }
    if !replaced {
        builder.append(key, value);
    }
    builder.finish()
}

/// Builds a header block: the version line with an optional status, then entries.
#[derive(Debug)]
pub struct HeaderBuilder {
    buffer: BytesMut,
}

impl HeaderBuilder {
    /// Starts a block: `NATS/1.0`, or `NATS/1.0 404 Message Not Found` with a status.
    pub fn new(status: Option<u16>, description: &str) -> HeaderBuilder {
        let mut buffer = BytesMut::with_capacity(128);
        buffer.put_slice(VERSION_LINE.as_bytes());
        if let Some(status) = status {
            let mut line = String::with_capacity(8 + description.len());
            let _ = write!(line, " {status}");
            if !description.is_empty() {
                line.push(' ');
                line.push_str(description);
            }
            buffer.put_slice(line.as_bytes());
        }
        buffer.put_slice(b"\r\n");
        HeaderBuilder { buffer }
    }

    /// Adds `Key: value`.
    pub fn append(&mut self, key: &str, value: &str) -> &mut Self {
        self.append_raw(key.as_bytes(), value.as_bytes())
    }

    /// Adds `Key: value` from raw bytes.
    pub fn append_raw(&mut self, key: &[u8], value: &[u8]) -> &mut Self {
        self.buffer.put_slice(key);
        self.buffer.put_slice(b": ");
        self.buffer.put_slice(value);
        self.buffer.put_slice(b"\r\n");
        self
    }

    /// Ends the block with the empty line.
    pub fn finish(mut self) -> Bytes {
        self.buffer.put_slice(b"\r\n");
        self.buffer.freeze()
    }
}

/// A status-only block: `NATS/1.0 404 Message Not Found\r\n\r\n`.
pub fn status(code: u16, description: &str) -> Bytes {
    HeaderBuilder::new(Some(code), description).finish()
}

/// `404 Message Not Found`, the direct get reply when nothing matches.
pub fn not_found() -> Bytes {
    status(404, "Message Not Found")
}

/// `204 EOB`, the end of a direct-get batch, with the stream's last sequence and how many
/// matched messages were left unsent (Go's `Nats-Num-Pending`/`Nats-Last-Sequence`).
pub fn end_of_batch(num_pending: u64, last_sequence: u64) -> Bytes {
    let mut builder = HeaderBuilder::new(Some(204), "EOB");
    builder
        .append(names::NUM_PENDING, &num_pending.to_string())
        .append(names::LAST_SEQUENCE, &last_sequence.to_string());
    builder.finish()
}

fn parse_status(line: &[u8]) -> Result<(Option<u16>, &str), HeaderError> {
    if line.is_empty() {
        return Ok((None, ""));
    }
    let text = std::str::from_utf8(line).map_err(|_| HeaderError::InvalidStatus)?;
    let (code, description) = match text.split_once(' ') {
        Some((code, description)) => (code, description.trim()),
        None => (text, ""),
    };
    if code.len() != 3 || !code.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(HeaderError::InvalidStatus);
    }
    let code = code.parse().map_err(|_| HeaderError::InvalidStatus)?;
    Ok((Some(code), description))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

fn find_crlf(bytes: &[u8], from: usize) -> Option<usize> {
    let tail = bytes.get(from..)?;
    tail.windows(2)
        .position(|pair| pair == b"\r\n")
        .map(|index| index + from)
}

fn trim_spaces(bytes: &[u8]) -> &[u8] {
    let bytes = trim_leading_spaces(bytes);
    let end = bytes
        .iter()
        .rposition(|byte| *byte != b' ')
        .map_or(0, |index| index + 1);
    &bytes[..end]
}

fn trim_leading_spaces(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|byte| *byte != b' ')
        .unwrap_or(bytes.len());
    &bytes[start..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const BLOCK: &[u8] =
        b"NATS/1.0\r\nNats-Msg-Id: a1\r\nX-Multi: one\r\nX-Multi:two\r\nnats-msg-id: lower\r\n\r\n";

    #[test]
    fn lookups_are_case_sensitive_and_take_the_first_value() {
        let block = HeaderBlock::parse(BLOCK).expect("parses");
        assert_eq!(block.get("Nats-Msg-Id"), Some(&b"a1"[..]));
        assert_eq!(block.get("nats-msg-id"), Some(&b"lower"[..]));
        assert_eq!(block.get("NATS-MSG-ID"), None);
        assert_eq!(block.get("X-Multi"), Some(&b"one"[..]));
        let all: Vec<&[u8]> = block.get_all("X-Multi").collect();
        assert_eq!(all, vec![&b"one"[..], &b"two"[..]]);
        assert_eq!(block.status(), None);
    }

    #[test]
    fn a_key_inside_a_value_is_not_a_key() {
        let raw = b"NATS/1.0\r\nX: Nats-Msg-Id: fake\r\nNats-Msg-Id-Other: 1\r\n\r\n";
        assert_eq!(get(raw, "Nats-Msg-Id"), None);
    }

    #[test]
    fn status_lines_are_split_into_code_and_description() {
        let block = HeaderBlock::parse(b"NATS/1.0 404 Message Not Found\r\n\r\n").expect("ok");
        assert_eq!(block.status(), Some(404));
        assert_eq!(block.description(), "Message Not Found");
        let block = HeaderBlock::parse(b"NATS/1.0 503\r\n\r\n").expect("ok");
        assert_eq!((block.status(), block.description()), (Some(503), ""));
        assert_eq!(
            HeaderBlock::parse(b"NATS/1.0 4x4 Bad\r\n\r\n"),
            Err(HeaderError::InvalidStatus)
        );
        assert_eq!(
            HeaderBlock::parse(b"HTTP/1.1\r\n\r\n"),
            Err(HeaderError::MissingVersion)
        );
        assert_eq!(
            HeaderBlock::parse(b"NATS/1.0"),
            Err(HeaderError::Unterminated)
        );
    }

    #[test]
    fn builders_write_gos_status_replies() {
        assert_eq!(&not_found()[..], b"NATS/1.0 404 Message Not Found\r\n\r\n");
        assert_eq!(
            &end_of_batch(0, 12)[..],
            b"NATS/1.0 204 EOB\r\nNats-Num-Pending: 0\r\nNats-Last-Sequence: 12\r\n\r\n"
        );
        let mut builder = HeaderBuilder::new(None, "");
        builder
            .append(names::STREAM, "S")
            .append(names::SEQUENCE, "3");
        assert_eq!(
            &builder.finish()[..],
            b"NATS/1.0\r\nNats-Stream: S\r\nNats-Sequence: 3\r\n\r\n"
        );
    }

    #[test]
    fn set_and_remove_edit_one_key() {
        let edited = set(BLOCK, "Nats-TTL", "5");
        assert_eq!(get(&edited, "Nats-TTL"), Some(&b"5"[..]));
        let replaced = set(&edited, "Nats-TTL", "7");
        assert_eq!(get(&replaced, "Nats-TTL"), Some(&b"7"[..]));
        let removed = remove(&replaced, "Nats-TTL");
        assert_eq!(get(&removed, "Nats-TTL"), None);
        assert_eq!(get(&removed, "Nats-Msg-Id"), Some(&b"a1"[..]));
        let only = b"NATS/1.0\r\nNats-Request-Info: x\r\n\r\n";
        assert!(remove(only, "Nats-Request-Info").is_empty());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..300),
                                       key in "[A-Za-z-]{0,12}") {
            let _ = HeaderBlock::parse(&raw).map(|block| block.get(&key));
            let _ = get(&raw, &key);
            let _ = remove(&raw, &key);
            let _ = set(&raw, "K", "v");
        }

        #[test]
        fn header_like_input_round_trips_through_the_builder(
            entries in proptest::collection::vec(("[A-Z][a-z-]{0,8}", "[ -~&&[^ ]][ -~]{0,10}"), 0..8)
        ) {
            let mut builder = HeaderBuilder::new(None, "");
            for (key, value) in &entries {
                builder.append(key, value);
            }
            let raw = builder.finish();
            let block = HeaderBlock::parse(&raw).expect("built blocks parse");
            prop_assert_eq!(block.entries().len(), entries.len());
            for (key, _) in &entries {
                let first = entries.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_bytes());
                prop_assert_eq!(block.get(key), first);
            }
        }
    }
}
