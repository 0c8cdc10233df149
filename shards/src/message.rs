//! The shapes of a message on its way through the shards, one per stage:
//!
//! 1. parsed: [`crate::protocol::PublishMsg`], ranges into the publisher's read buffer, as
//!    the parser returns them;
//! 2. routed: [`Publication`], the message as borrowed bytes while routing decides who gets
//!    it, with the [`Spans`] that turn it into owned bytes once the read batch is frozen;
//! 3. handed over: [`Message`], owned [`Bytes`] without MSG framing: what crosses to another
//!    shard (inside a [`Handoff`]) and what an internal subscriber receives;
//! 4. framed: [`MsgView`], what a client's outbound buffer turns into `MSG`/`HMSG` bytes.
//!
//! Nothing here does I/O; the types only say where the bytes are.

use std::ops::Range;

use bytes::Bytes;

use crate::account::AccountId;
pub use crate::outbound::MsgView;

/// A message with owned bytes: what crosses between shards and what internal subscribers
/// receive. No copy is made to build one from a read batch: the fields are slices of the
/// publisher's frozen read buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The account whose subject space it is published in.
    pub account: AccountId,
    pub subject: Bytes,
    pub reply: Option<Bytes>,
    /// Headers and body; the first `header_len` bytes are the headers (`NATS/1.0...`).
    pub payload: Bytes,
    pub header_len: usize,
    /// The subject subscribers see when it differs from the one the message is routed on:
    /// a JetStream delivery is routed on the consumer's deliver subject (or the pull
    /// request's inbox) but shows the stream message's own subject, as the Go server's
    /// `pa.deliver` does. `None` for every message a client publishes.
    pub shown_subject: Option<Bytes>,
}

impl Message {
    /// A message without headers.
    pub fn new(
        account: AccountId,
        subject: impl Into<Bytes>,
        reply: Option<Bytes>,
        body: impl Into<Bytes>,
    ) -> Self {
        Message {
            account,
            subject: subject.into(),
            reply,
            payload: body.into(),
            header_len: 0,
            shown_subject: None,
        }
    }

    /// A message with a header block (`NATS/1.0\r\n...\r\n\r\n`) and a body; the two are
    /// copied into one payload, as a publisher's `HPUB` carries them.
    pub fn with_headers(
        account: AccountId,
        subject: impl Into<Bytes>,
        reply: Option<Bytes>,
        headers: &[u8],
        body: &[u8],
    ) -> Self {
        let mut payload = Vec::with_capacity(headers.len() + body.len());
        payload.extend_from_slice(headers);
        payload.extend_from_slice(body);
        Message {
            account,
            subject: subject.into(),
            reply,
            payload: Bytes::from(payload),
            header_len: headers.len(),
            shown_subject: None,
        }
    }

    /// The same message, routed on its subject but shown to subscribers as `shown`.
    pub fn shown_as(mut self, shown: Bytes) -> Self {
        self.shown_subject = Some(shown);
        self
    }

    /// The message as a subscriber receives it: under its shown subject, when it has one
    /// (an internal subscriber sees what a client would see in its `MSG`).
    pub fn as_received(&self) -> std::borrow::Cow<'_, Message> {
        match &self.shown_subject {
            None => std::borrow::Cow::Borrowed(self),
            Some(shown) => std::borrow::Cow::Owned(Message {
                subject: shown.clone(),
                shown_subject: None,
                ..self.clone()
            }),
        }
    }

    /// The header block, empty when there is none.
    pub fn headers(&self) -> &[u8] {
        &self.payload[..self.header_len.min(self.payload.len())]
    }

    /// The body after the headers.
    pub fn body(&self) -> &[u8] {
        &self.payload[self.header_len.min(self.payload.len())..]
    }

    /// The message as a subscriber's `MSG` frame is built from it; the payload is shared.
    pub fn view(&self) -> MsgView<'_> {
        MsgView {
            subject: self.shown_subject.as_ref().unwrap_or(&self.subject),
            reply: self.reply.as_deref(),
            payload: &self.payload,
            header_len: self.header_len,
            shared_payload: Some(&self.payload),
        }
    }
}

/// A message handed to another shard, with what that shard must do with it.
#[derive(Debug, Clone)]
pub struct Handoff {
    pub message: Message,
    /// Deliver to every plain (non-queue) subscription that matches.
    pub to_plain_subscribers: bool,
    /// Queue groups for which the receiving shard must pick exactly one local member.
    pub to_queue_groups: Vec<Bytes>,
}

/// Where a field's bytes are: a range of the publisher's read buffer, or bytes made while
/// routing (a mapped subject, a rewritten reply, an internal publisher's message).
#[derive(Clone, Debug)]
pub enum Span {
    Buffer(Range<usize>),
    Owned(Bytes),
}

impl Span {
    /// The bytes, once the read buffer is frozen into `frozen`.
    pub fn resolve(&self, frozen: &Bytes) -> Bytes {
        match self {
            Span::Buffer(range) => frozen.slice(range.clone()),
            Span::Owned(bytes) => bytes.clone(),
        }
    }

    /// Whether both name the same bytes (the same range, or the same allocation): enough to
    /// tell that two routed copies are one message, without comparing contents.
    pub fn same_bytes(&self, other: &Span) -> bool {
        match (self, other) {
            (Span::Buffer(first), Span::Buffer(second)) => first == second,
            (Span::Owned(first), Span::Owned(second)) => {
                first.as_ptr() == second.as_ptr() && first.len() == second.len()
            }
            _ => false,
        }
    }
}

/// Where the fields of a [`Publication`] will be once its read batch is frozen.
#[derive(Clone, Debug)]
pub struct Spans {
    pub subject: Span,
    pub reply: Option<Span>,
    pub payload: Span,
}

impl Spans {
    /// Whether both describe the same message (see [`Span::same_bytes`]).
    pub fn same_message(&self, other: &Spans) -> bool {
        self.payload.same_bytes(&other.payload)
            && self.subject.same_bytes(&other.subject)
            && match (&self.reply, &other.reply) {
                (None, None) => true,
                (Some(first), Some(second)) => first.same_bytes(second),
                _ => false,
            }
    }
}

/// A message while it is routed: borrowed bytes to match and copy from, and the spans that
/// give owned bytes to handoffs and internal subscribers when the read batch ends.
#[derive(Clone, Debug)]
pub struct Publication<'a> {
    pub account: AccountId,
    pub subject: &'a [u8],
    pub reply: Option<&'a [u8]>,
    /// Headers and body; the first `header_len` bytes are the headers.
    pub payload: &'a [u8],
    pub header_len: usize,
    pub spans: Spans,
    /// See [`Message::shown_subject`]; only internal publishers set it.
    pub shown_subject: Option<&'a Bytes>,
}

impl<'a> Publication<'a> {
    /// A publication of bytes a client published: `data` is the read buffer, the ranges index
    /// it.
    #[inline]
    pub fn from_buffer(
        account: AccountId,
        data: &'a [u8],
        subject: Range<usize>,
        reply: Option<Range<usize>>,
        payload: Range<usize>,
        header_len: usize,
    ) -> Self {
        Publication {
            account,
            subject: &data[subject.clone()],
            reply: reply.clone().map(|range| &data[range]),
            payload: &data[payload.clone()],
            header_len,
            spans: Spans {
                subject: Span::Buffer(subject),
                reply: reply.map(Span::Buffer),
                payload: Span::Buffer(payload),
            },
            shown_subject: None,
        }
    }

    /// A publication of a message that already owns its bytes (an internal publisher's).
    pub fn from_message(message: &'a Message) -> Self {
        Publication {
            account: message.account,
            subject: &message.subject,
            reply: message.reply.as_deref(),
            payload: &message.payload,
            header_len: message.header_len,
            spans: Spans {
                subject: Span::Owned(message.subject.clone()),
                reply: message.reply.clone().map(Span::Owned),
                payload: Span::Owned(message.payload.clone()),
            },
            shown_subject: message.shown_subject.as_ref(),
        }
    }

    /// The same message under another subject, in `account`: a mapped subject, or the subject
    /// it has in an importing or exporting account.
    pub fn with_subject<'b>(&self, account: AccountId, subject: &'b Bytes) -> Publication<'b>
    where
        'a: 'b,
    {
        Publication {
            account,
            subject,
            spans: Spans {
                subject: Span::Owned(subject.clone()),
                ..self.spans.clone()
            },
            ..self.clone()
        }
    }

    /// The same message with another reply subject (a service import's rewritten reply).
    pub fn with_reply<'b>(self, reply: Option<&'b Bytes>) -> Publication<'b>
    where
        'a: 'b,
    {
        Publication {
            reply: reply.map(|reply| &reply[..]),
            spans: Spans {
                reply: reply.cloned().map(Span::Owned),
                ..self.spans
            },
            ..self
        }
    }

    /// The message as a subscriber's frame is built from it. The payload is shared only when
    /// it already is (large internal messages); a client's is copied from the read buffer.
    #[inline]
    pub fn view(&self) -> MsgView<'_> {
        MsgView {
            subject: self.shown_subject.map_or(self.subject, |shown| &shown[..]),
            reply: self.reply,
            payload: self.payload,
            header_len: self.header_len,
            shared_payload: match &self.spans.payload {
                Span::Owned(bytes) => Some(bytes),
                Span::Buffer(_) => None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_publication_resolves_to_slices_of_the_frozen_buffer() {
        let data = b"PUB a.b r 5\r\nhello\r\n";
        let publication = Publication::from_buffer(7, data, 4..7, Some(8..9), 13..18, 0);
        assert_eq!(publication.subject, b"a.b");
        assert_eq!(publication.reply, Some(&b"r"[..]));
        assert_eq!(publication.payload, b"hello");
        let frozen = Bytes::from_static(data);
        assert_eq!(publication.spans.payload.resolve(&frozen), "hello");
        assert_eq!(publication.spans.subject.resolve(&frozen), "a.b");
    }

    #[test]
    fn a_new_subject_keeps_payload_and_reply_spans() {
        let data = b"xx.yy rr body";
        let publication = Publication::from_buffer(1, data, 0..5, Some(6..8), 9..13, 0);
        let mapped = Bytes::from_static(b"mapped");
        let moved = publication.with_subject(2, &mapped);
        assert_eq!(moved.account, 2);
        assert_eq!(moved.subject, b"mapped");
        assert!(moved.spans.payload.same_bytes(&publication.spans.payload));
        assert!(!moved.spans.same_message(&publication.spans));
        assert!(publication.spans.same_message(&publication.clone().spans));
    }

    #[test]
    fn headers_and_body_split_at_header_len() {
        let message = Message::with_headers(0, "s", None, b"NATS/1.0\r\n\r\n", b"body");
        assert_eq!(message.headers(), b"NATS/1.0\r\n\r\n");
        assert_eq!(message.body(), b"body");
        assert_eq!(message.view().header_len, 12);
    }

    #[test]
    fn a_shown_subject_is_what_subscribers_see_but_not_what_routes() {
        let message = Message::new(0, "_INBOX.x", None, "body").shown_as(Bytes::from("orders.1"));
        assert_eq!(message.view().subject, b"orders.1");
        let publication = Publication::from_message(&message);
        assert_eq!(publication.subject, b"_INBOX.x");
        assert_eq!(publication.view().subject, b"orders.1");
        let received = message.as_received();
        assert_eq!(received.subject, "orders.1");
        assert_eq!(received.view().subject, b"orders.1");
        let plain = Message::new(0, "a", None, "b");
        assert!(matches!(plain.as_received(), std::borrow::Cow::Borrowed(_)));
    }
}
