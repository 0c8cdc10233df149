//! A stateless, zero-copy parser for the client protocol.
//!
//! [`Parser::parse`] looks at the unconsumed bytes of a connection's read buffer and either
//! returns the next complete operation with the number of bytes it spans, asks for more input,
//! or fails. It keeps no state between calls: an operation split across reads is parsed again
//! once the rest has arrived, which costs at most one control line per read and makes the
//! parser trivially correct under arbitrary splits (the fuzz target checks exactly that).
//! Fields are returned as byte ranges into the input, so the caller decides whether to copy,
//! borrow or share them.
//!
//! The grammar and its failure modes follow the Go server's parser: operation names are
//! case-insensitive; `PING`, `PONG` and `+OK` ignore anything up to the newline; operations with
//! arguments need a space or tab after their name; a payload must be followed by exactly CRLF.

use std::ops::Range;

use super::errors::ClientError;

/// One complete client operation. Ranges index the input slice given to [`Parser::parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientOp {
    /// `CONNECT <json>`.
    Connect {
        json: Range<usize>,
    },
    /// `PUB` or `HPUB` with its whole payload.
    Pub(PublishMsg),
    /// `SUB <subject> [queue] <sid>`.
    Sub {
        subject: Range<usize>,
        queue: Option<Range<usize>>,
        sid: Range<usize>,
    },
    /// `UNSUB <sid> [max_msgs]`; `max_msgs` is `None` when absent and `Some(0)` when it does not
    /// parse, which (as in the Go server) unsubscribes at once.
    Unsub {
        sid: Range<usize>,
        max_msgs: Option<u64>,
    },
    Ping,
    Pong,
    /// `+OK` from a client: accepted and ignored.
    Ok,
    /// `-ERR <message>` from a client: the Go server logs it and closes the connection.
    Err {
        message: Range<usize>,
    },
    /// `INFO` from a client: accepted and ignored.
    Info,
}

/// A `PUB` or `HPUB`. `payload` covers headers and body; the first `header_len` bytes of it are
/// the headers (0 for `PUB`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishMsg {
    pub subject: Range<usize>,
    pub reply: Option<Range<usize>>,
    pub header_len: usize,
    pub payload: Range<usize>,
    /// Whether this came as `HPUB`.
    pub has_headers: bool,
}

/// What [`Parser::parse`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// A complete operation spanning the first `consumed` bytes of the input.
    Op { op: ClientOp, consumed: usize },
    /// The input holds only part of an operation; the whole operation needs at least
    /// `total_len` bytes of input (a lower bound while the control line is incomplete).
    NeedMore { total_len: usize },
}

/// Why the input cannot be parsed. Every variant ends the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// Send this error to the client, then close (as the Go server does).
    #[error("{}", .0.text())]
    Client(ClientError),
    /// Close without an `-ERR` line: the Go server does this for malformed arguments.
    #[error("malformed {0} arguments")]
    Malformed(&'static str),
}

/// Limits the parser enforces; everything else is the connection's business.
#[derive(Debug, Clone, Copy)]
pub struct Parser {
    pub max_payload: usize,
    pub max_control_line: usize,
    /// Set once CONNECT has enabled headers; `HPUB` is malformed before.
    pub headers_enabled: bool,
}

/// Size fields longer than this are rejected, as the Go server's `parseSize` does.
const MAX_SIZE_DIGITS: usize = 9;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Verb {
    Pub,
    Hpub,
    Sub,
    Unsub,
    Connect,
    Info,
    Err,
    Ping,
    Pong,
    Ok,
}

/// Verbs that take arguments: the name must be followed by a space or tab.
const VERBS_WITH_ARGS: [(&[u8], Verb); 7] = [
    (b"PUB", Verb::Pub),
    (b"HPUB", Verb::Hpub),
    (b"SUB", Verb::Sub),
    (b"UNSUB", Verb::Unsub),
    (b"CONNECT", Verb::Connect),
    (b"INFO", Verb::Info),
    (b"-ERR", Verb::Err),
];

/// Verbs that ignore everything after their name up to the newline.
const BARE_VERBS: [(&[u8], Verb); 3] = [
    (b"PING", Verb::Ping),
    (b"PONG", Verb::Pong),
    (b"+OK", Verb::Ok),
];

enum VerbMatch {
    /// The verb, and where its arguments start (after the name and one separator).
    Found(Verb, usize),
    /// Every byte seen so far can still begin a valid verb.
    Incomplete,
    Unknown,
}

impl Parser {
    /// Parses the next operation at the start of `input`.
    pub fn parse(&self, input: &[u8]) -> Result<Parsed, ParseError> {
        if input.is_empty() {
            return Ok(Parsed::NeedMore { total_len: 1 });
        }
        let newline = memchr::memchr(b'\n', input);
        let line_len = newline.unwrap_or(input.len());
        let (verb, args_start) = match match_verb(&input[..line_len], newline.is_some()) {
            VerbMatch::Found(verb, args_start) => (verb, args_start),
            VerbMatch::Incomplete => {
                return Ok(Parsed::NeedMore {
                    total_len: input.len() + 1,
                })
            }
            VerbMatch::Unknown => {
                return Err(ParseError::Client(ClientError::UnknownProtocolOperation))
            }
        };
        let Some(newline) = newline else {
            // The line is still arriving. A trailing CR may yet be stripped, so only a line
            // that is over the limit even without it fails now; the complete line is checked
            // the same way below, so the verdict never depends on how the input was split.
            if line_len.saturating_sub(args_start).saturating_sub(1) > self.max_control_line {
                return Err(ParseError::Client(ClientError::MaximumControlLineExceeded));
            }
            return Ok(Parsed::NeedMore {
                total_len: input.len() + 1,
            });
        };
        let line_end = if newline > 0 && input[newline - 1] == b'\r' {
            newline - 1
        } else {
            newline
        };
        let args_start = args_start.min(line_end);
        let line_consumed = newline + 1;
        // Bare verbs are checked too (the Go server ignores their trailing bytes without
        // storing them; we buffer until the newline, so the line must be bounded).
        if line_end - args_start > self.max_control_line {
            return Err(ParseError::Client(ClientError::MaximumControlLineExceeded));
        }
        let simple = |op| {
            Ok(Parsed::Op {
                op,
                consumed: line_consumed,
            })
        };
        match verb {
            Verb::Ping => return simple(ClientOp::Ping),
            Verb::Pong => return simple(ClientOp::Pong),
            Verb::Ok => return simple(ClientOp::Ok),
            _ => {}
        }
        let args_range = trim_start(input, args_start, line_end);
        match verb {
            Verb::Connect => simple(ClientOp::Connect { json: args_range }),
            Verb::Info => simple(ClientOp::Info),
            Verb::Err => simple(ClientOp::Err {
                message: args_range,
            }),
            Verb::Sub => {
                let mut args = ArgSplitter::new(input, args_range);
                let (first, second, third) = (args.next(), args.next(), args.next());
                if args.next().is_some() {
                    return Err(ParseError::Malformed("SUB"));
                }
                let op = match (first, second, third) {
                    (Some(subject), Some(sid), None) => ClientOp::Sub {
                        subject,
                        queue: None,
                        sid,
                    },
                    (Some(subject), Some(queue), Some(sid)) => ClientOp::Sub {
                        subject,
                        queue: Some(queue),
                        sid,
                    },
                    _ => return Err(ParseError::Malformed("SUB")),
                };
                simple(op)
            }
            Verb::Unsub => {
                let mut args = ArgSplitter::new(input, args_range);
                let (first, second) = (args.next(), args.next());
                if args.next().is_some() {
                    return Err(ParseError::Malformed("UNSUB"));
                }
                let op = match (first, second) {
                    (Some(sid), None) => ClientOp::Unsub {
                        sid,
                        max_msgs: None,
                    },
                    (Some(sid), Some(max)) => ClientOp::Unsub {
                        sid,
                        max_msgs: Some(parse_size(&input[max]).unwrap_or(0) as u64),
                    },
                    _ => return Err(ParseError::Malformed("UNSUB")),
                };
                simple(op)
            }
            Verb::Pub | Verb::Hpub => self.parse_publish(input, verb, args_range, line_consumed),
            Verb::Ping | Verb::Pong | Verb::Ok => unreachable_verb(),
        }
    }

    fn parse_publish(
        &self,
        input: &[u8],
        verb: Verb,
        args_range: Range<usize>,
        line_consumed: usize,
    ) -> Result<Parsed, ParseError> {
        let has_headers = verb == Verb::Hpub;
        let name = if has_headers { "HPUB" } else { "PUB" };
        if has_headers && !self.headers_enabled {
            return Err(ParseError::Malformed(name));
        }
        let mut args = ArgSplitter::new(input, args_range);
        let mut fields: [Option<Range<usize>>; 5] = Default::default();
        let mut count = 0;
        for field in fields.iter_mut() {
            *field = args.next();
            if field.is_none() {
                break;
            }
            count += 1;
        }
        let sizes_needed = if has_headers { 2 } else { 1 };
        if count > sizes_needed + 2 || count < sizes_needed + 1 {
            return Err(ParseError::Malformed(name));
        }
        let subject = fields[0].clone().ok_or(ParseError::Malformed(name))?;
        let reply = if count == sizes_needed + 2 {
            fields[1].clone()
        } else {
            None
        };
        let size_at = |index: usize| -> Result<usize, ParseError> {
            let range = fields[index].clone().ok_or(ParseError::Malformed(name))?;
            parse_size(&input[range]).ok_or(ParseError::Malformed(name))
        };
        let total_len = size_at(count - 1)?;
        let header_len = if has_headers { size_at(count - 2)? } else { 0 };
        if header_len > total_len {
            return Err(ParseError::Malformed(name));
        }
        if total_len > self.max_payload {
            return Err(ParseError::Client(ClientError::MaximumPayloadViolation));
        }
        let payload_end = line_consumed + total_len;
        let needed = payload_end + 2;
        if input.len() < needed {
            return Ok(Parsed::NeedMore { total_len: needed });
        }
        if &input[payload_end..needed] != b"\r\n" {
            return Err(ParseError::Client(ClientError::UnknownProtocolOperation));
        }
        let op = ClientOp::Pub(PublishMsg {
            subject,
            reply,
            header_len,
            payload: line_consumed..payload_end,
            has_headers,
        });
        Ok(Parsed::Op {
            op,
            consumed: needed,
        })
    }
}

#[cold]
fn unreachable_verb() -> Result<Parsed, ParseError> {
    // Bare verbs return before argument parsing; reaching here would be a parser bug, and the
    // safest answer to a bug on peer input is to close the connection, not to panic the shard.
    Err(ParseError::Malformed("internal"))
}

fn match_verb(line: &[u8], line_complete: bool) -> VerbMatch {
    for (name, verb) in BARE_VERBS {
        if line.len() >= name.len() && line[..name.len()].eq_ignore_ascii_case(name) {
            return VerbMatch::Found(verb, name.len());
        }
    }
    for (name, verb) in VERBS_WITH_ARGS {
        if line.len() > name.len() && line[..name.len()].eq_ignore_ascii_case(name) {
            return match line[name.len()] {
                b' ' | b'\t' => VerbMatch::Found(verb, name.len() + 1),
                _ => continue,
            };
        }
    }
    let still_possible = BARE_VERBS
        .iter()
        .chain(VERBS_WITH_ARGS.iter())
        .any(|(name, _)| line.len() <= name.len() && name[..line.len()].eq_ignore_ascii_case(line));
    if still_possible && !line_complete {
        VerbMatch::Incomplete
    } else {
        VerbMatch::Unknown
    }
}

fn trim_start(input: &[u8], mut start: usize, end: usize) -> Range<usize> {
    while start < end && matches!(input[start], b' ' | b'\t') {
        start += 1;
    }
    start..end
}

/// Splits arguments on runs of spaces and tabs, yielding ranges into the input.
struct ArgSplitter<'a> {
    input: &'a [u8],
    position: usize,
    end: usize,
}

impl<'a> ArgSplitter<'a> {
    fn new(input: &'a [u8], range: Range<usize>) -> Self {
        ArgSplitter {
            input,
            position: range.start,
            end: range.end,
        }
    }
}

impl Iterator for ArgSplitter<'_> {
    type Item = Range<usize>;

    fn next(&mut self) -> Option<Range<usize>> {
        while self.position < self.end && matches!(self.input[self.position], b' ' | b'\t') {
            self.position += 1;
        }
        if self.position >= self.end {
            return None;
        }
        let start = self.position;
        while self.position < self.end && !matches!(self.input[self.position], b' ' | b'\t') {
            self.position += 1;
        }
        Some(start..self.position)
    }
}

/// Parses a decimal size the way the Go server does: 1 to 9 ASCII digits, nothing else.
pub fn parse_size(digits: &[u8]) -> Option<usize> {
    if digits.is_empty() || digits.len() > MAX_SIZE_DIGITS {
        return None;
    }
    digits.iter().try_fold(0usize, |value, &digit| {
        digit
            .is_ascii_digit()
            .then(|| value * 10 + usize::from(digit - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parser() -> Parser {
        Parser {
            max_payload: 1024,
            max_control_line: 64,
            headers_enabled: true,
        }
    }

    fn parse_all(input: &[u8]) -> Result<Vec<ClientOp>, ParseError> {
        let mut ops = Vec::new();
        let mut position = 0;
        while position < input.len() {
            match parser().parse(&input[position..])? {
                Parsed::Op { op, consumed } => {
                    ops.push(op);
                    position += consumed;
                }
                Parsed::NeedMore { .. } => break,
            }
        }
        Ok(ops)
    }

    #[test]
    fn pub_with_reply_yields_ranges_of_subject_reply_and_payload() {
        let input = b"PUB foo bar 5\r\nhello\r\n";
        let Parsed::Op {
            op: ClientOp::Pub(msg),
            consumed,
        } = parser().parse(input).expect("valid")
        else {
            panic!("expected a publish");
        };
        assert_eq!(consumed, input.len());
        assert_eq!(&input[msg.subject], b"foo");
        assert_eq!(&input[msg.reply.expect("reply")], b"bar");
        assert_eq!(&input[msg.payload], b"hello");
    }

    #[test]
    fn hpub_splits_header_length_from_total_length() {
        let input = b"HPUB foo 12 14\r\nNATS/1.0\r\n\r\nab\r\n";
        let Parsed::Op {
            op: ClientOp::Pub(msg),
            ..
        } = parser().parse(input).expect("valid")
        else {
            panic!("expected a publish");
        };
        assert_eq!(msg.header_len, 12);
        assert_eq!(&input[msg.payload.clone()][12..], b"ab");
    }

    #[test]
    fn verbs_are_case_insensitive_and_ping_ignores_trailing_bytes() {
        let ops = parse_all(b"ping\r\nPiNgxx\r\npong\n+ok\r\n").expect("valid");
        assert_eq!(
            ops,
            vec![ClientOp::Ping, ClientOp::Ping, ClientOp::Pong, ClientOp::Ok]
        );
    }

    #[test]
    fn incomplete_input_asks_for_more_without_error() {
        for input in [
            &b"PU"[..],
            b"PUB foo 5\r\nhel",
            b"SUB foo",
            b"PUB foo 5\r\nhello\r",
        ] {
            assert!(
                matches!(parser().parse(input), Ok(Parsed::NeedMore { .. })),
                "{input:?}"
            );
        }
    }

    #[test]
    fn unknown_verbs_fail_as_soon_as_a_byte_rules_them_out() {
        for input in [
            &b"x"[..],
            b"PUX",
            b"UNSUB\r\n",
            b"MSG foo 1 1\r\n",
            b"P\r\n",
        ] {
            assert_eq!(
                parser().parse(input),
                Err(ParseError::Client(ClientError::UnknownProtocolOperation)),
                "{input:?}"
            );
        }
    }

    #[test]
    fn payload_not_followed_by_crlf_is_an_unknown_operation() {
        assert_eq!(
            parser().parse(b"PUB foo 2\r\nabc\r\n"),
            Err(ParseError::Client(ClientError::UnknownProtocolOperation))
        );
    }

    #[test]
    fn oversized_payload_is_a_max_payload_violation_before_the_payload_arrives() {
        assert_eq!(
            parser().parse(b"PUB foo 2000\r\n"),
            Err(ParseError::Client(ClientError::MaximumPayloadViolation))
        );
    }

    #[test]
    fn long_control_line_is_rejected_with_or_without_newline() {
        let long = format!("SUB {} 1", "a".repeat(100));
        assert_eq!(
            parser().parse(long.as_bytes()),
            Err(ParseError::Client(ClientError::MaximumControlLineExceeded))
        );
        assert_eq!(
            parser().parse(format!("{long}\r\n").as_bytes()),
            Err(ParseError::Client(ClientError::MaximumControlLineExceeded))
        );
    }

    #[test]
    fn malformed_arguments_close_without_error_text() {
        for input in [
            &b"SUB foo\r\n"[..],
            b"SUB a b c d\r\n",
            b"PUB foo\r\n",
            b"PUB foo -1\r\n",
            b"PUB a b c 1\r\n",
            b"PUB foo 9999999999\r\n",
            b"HPUB foo 10 5\r\n",
        ] {
            assert!(
                matches!(parser().parse(input), Err(ParseError::Malformed(_))),
                "{input:?}"
            );
        }
    }

    #[test]
    fn hpub_before_headers_are_enabled_is_malformed() {
        let parser = Parser {
            headers_enabled: false,
            ..parser()
        };
        assert!(matches!(
            parser.parse(b"HPUB a 0 0\r\n\r\n"),
            Err(ParseError::Malformed(_))
        ));
    }

    #[test]
    fn unsub_with_unparsable_max_means_unsubscribe_now() {
        let ops = parse_all(b"UNSUB 1 x\r\nUNSUB 2 5\r\nUNSUB 3\r\n").expect("valid");
        assert!(matches!(
            ops[0],
            ClientOp::Unsub {
                max_msgs: Some(0),
                ..
            }
        ));
        assert!(matches!(
            ops[1],
            ClientOp::Unsub {
                max_msgs: Some(5),
                ..
            }
        ));
        assert!(matches!(ops[2], ClientOp::Unsub { max_msgs: None, .. }));
    }

    #[test]
    fn any_split_of_a_valid_stream_parses_to_the_same_operations() {
        let input: &[u8] = b"CONNECT {\"verbose\":false}\r\nSUB foo q 1\r\nPUB foo r 3\r\nabc\r\n\
HPUB x 12 14\r\nNATS/1.0\r\n\r\nhi\r\nUNSUB 1 2\r\nPING\r\n";
        let expected = parse_all(input).expect("valid");
        assert_eq!(expected.len(), 6);
        for split in 0..input.len() {
            // Feeding a prefix must never fail and never yield an operation that is not a
            // prefix of the expected sequence.
            let prefix_ops = parse_all(&input[..split]).expect("prefix is valid");
            assert_eq!(prefix_ops[..], expected[..prefix_ops.len()]);
        }
    }
}
