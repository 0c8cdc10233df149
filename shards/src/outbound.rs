//! A connection's outbound data: the bytes waiting for its writer, built by appending protocol
//! lines and payloads from any task on the shard.
//!
//! Small payloads are copied into a contiguous buffer (cheaper than an iovec per message); a
//! payload of [`ZERO_COPY_MIN`] bytes or more that arrives as shared [`Bytes`] is kept as its own
//! chunk, and the writer sends all chunks with one vectored write.

use bytes::{BufMut, Bytes, BytesMut};

/// Payloads at least this large, when shared, are sent without copying.
pub const ZERO_COPY_MIN: usize = 16 * 1024;

/// The first allocation of a connection's outbound buffer; it grows as needed.
const INITIAL_CAPACITY: usize = 4 * 1024;

/// The protocol fields of one message as a subscriber sees it.
#[derive(Clone, Copy)]
pub struct MsgView<'a> {
    pub subject: &'a [u8],
    pub reply: Option<&'a [u8]>,
    /// Headers and body; the first `header_len` bytes are the headers.
    pub payload: &'a [u8],
    pub header_len: usize,
    /// The same payload as shared bytes, when the caller has it that way.
    pub shared_payload: Option<&'a Bytes>,
}

#[derive(Default)]
pub struct Outbound {
    chunks: Vec<Bytes>,
    current: BytesMut,
    pending_bytes: usize,
}

impl Outbound {
    /// Bytes queued and not yet handed to the writer.
    pub fn pending_bytes(&self) -> usize {
        self.pending_bytes
    }

    pub fn is_empty(&self) -> bool {
        self.pending_bytes == 0
    }

    /// Appends a raw protocol line such as `PONG\r\n`.
    pub fn push_raw(&mut self, bytes: &[u8]) {
        self.reserve(bytes.len());
        self.current.put_slice(bytes);
        self.pending_bytes += bytes.len();
    }

    /// Appends `MSG`/`HMSG` for subscription `sid`. When the subscriber did not enable headers,
    /// headers are stripped and a plain `MSG` is sent, as the Go server does.
    pub fn push_msg(&mut self, msg: MsgView<'_>, sid: &[u8], subscriber_has_headers: bool) {
        let keep_headers = subscriber_has_headers && msg.header_len > 0;
        let (payload, shared) = if keep_headers || msg.header_len == 0 {
            (msg.payload, msg.shared_payload)
        } else {
            (&msg.payload[msg.header_len.min(msg.payload.len())..], None)
        };
        let line_estimate =
            6 + msg.subject.len() + sid.len() + msg.reply.map_or(0, |reply| reply.len() + 1) + 24;
        self.reserve(line_estimate + payload.len().min(ZERO_COPY_MIN) + 2);
        let start = self.current.len();
        self.current
            .put_slice(if keep_headers { b"HMSG " } else { b"MSG " });
        self.current.put_slice(msg.subject);
        self.current.put_u8(b' ');
        self.current.put_slice(sid);
        self.current.put_u8(b' ');
        if let Some(reply) = msg.reply {
            self.current.put_slice(reply);
            self.current.put_u8(b' ');
        }
        let mut digits = itoa::Buffer::new();
        if keep_headers {
            self.current
                .put_slice(digits.format(msg.header_len).as_bytes());
            self.current.put_u8(b' ');
        }
        self.current
            .put_slice(digits.format(payload.len()).as_bytes());
        self.current.put_slice(b"\r\n");
        let line_len = self.current.len() - start;
        match shared {
            Some(shared) if payload.len() >= ZERO_COPY_MIN => {
                self.seal_current();
                self.chunks.push(shared.clone());
            }
            _ => self.current.put_slice(payload),
        }
        self.current.put_slice(b"\r\n");
        self.pending_bytes += line_len + payload.len() + 2;
    }

    /// Takes everything queued, in order, for one vectored write.
    pub fn take(&mut self) -> Vec<Bytes> {
        self.seal_current();
        self.pending_bytes = 0;
        std::mem::take(&mut self.chunks)
    }

    /// Drops everything queued (the connection is closing as a slow consumer).
    pub fn discard(&mut self) {
        self.chunks.clear();
        self.current.clear();
        self.pending_bytes = 0;
    }

    fn seal_current(&mut self) {
        if !self.current.is_empty() {
            self.chunks.push(self.current.split().freeze());
        }
    }

    fn reserve(&mut self, additional: usize) {
        if self.current.capacity() - self.current.len() < additional {
            self.current.reserve(additional.max(INITIAL_CAPACITY));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn concat(chunks: Vec<Bytes>) -> Vec<u8> {
        chunks
            .iter()
            .flat_map(|chunk| chunk.iter().copied())
            .collect()
    }

    fn view<'a>(subject: &'a [u8], reply: Option<&'a [u8]>, payload: &'a [u8]) -> MsgView<'a> {
        MsgView {
            subject,
            reply,
            payload,
            header_len: 0,
            shared_payload: None,
        }
    }

    #[test]
    fn msg_lines_match_the_go_server_format() {
        let mut outbound = Outbound::default();
        outbound.push_msg(view(b"foo", None, b"hello"), b"1", true);
        outbound.push_msg(view(b"foo", Some(b"inbox"), b""), b"22", true);
        let with_headers = MsgView {
            header_len: 12,
            ..view(b"h", None, b"NATS/1.0\r\n\r\nab")
        };
        outbound.push_msg(with_headers, b"3", true);
        outbound.push_msg(with_headers, b"4", false);
        let expected: &[u8] = b"MSG foo 1 5\r\nhello\r\nMSG foo 22 inbox 0\r\n\r\n\
HMSG h 3 12 14\r\nNATS/1.0\r\n\r\nab\r\nMSG h 4 2\r\nab\r\n";
        assert_eq!(outbound.pending_bytes(), expected.len());
        assert_eq!(concat(outbound.take()), expected);
        assert!(outbound.is_empty());
    }

    #[test]
    fn large_shared_payloads_are_queued_without_copying() {
        let payload = Bytes::from(vec![7u8; ZERO_COPY_MIN]);
        let mut outbound = Outbound::default();
        let msg = MsgView {
            shared_payload: Some(&payload),
            ..view(b"big", None, &payload)
        };
        outbound.push_msg(msg, b"1", true);
        outbound.push_raw(b"PONG\r\n");
        let total = outbound.pending_bytes();
        let chunks = outbound.take();
        assert_eq!(chunks.len(), 3);
        assert_eq!(
            chunks[1].as_ptr(),
            payload.as_ptr(),
            "payload chunk shares the bytes"
        );
        assert_eq!(concat(chunks).len(), total);
    }
}
