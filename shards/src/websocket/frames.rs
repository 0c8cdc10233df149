//! WebSocket frames (RFC 6455 section 5) as the Go server reads and writes them: headers are
//! parsed and formatted by `tungstenite`'s frame layer; this module adds what the server
//! needs around it: payloads streamed into the NATS parser's buffer as they arrive (a frame
//! is never buffered whole unless it is compressed), unmasking, the checks of Go's
//! `wsReadLoop` with its close texts, control frames, and the framing of outgoing data
//! (one frame per write, 4 KB frames for browsers, compression above 64 bytes).

use std::io::Cursor;

use bytes::{Bytes, BytesMut};
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};
use tungstenite::protocol::frame::FrameHeader;

use super::deflate::{inflate_message, Deflater, InflateError};

/// The largest control frame payload (RFC 6455 section 5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;
/// The longest frame header.
const MAX_HEADER: usize = 14;
/// Browsers handle frames of at most this size better (Go: `wsFrameSizeForBrowsers`).
pub const BROWSER_FRAME_SIZE: usize = 4096;
/// Outgoing data this small is not worth compressing (Go: `wsCompressThreshold`).
pub const COMPRESS_THRESHOLD: usize = 64;

/// Close status codes (RFC 6455 section 7.4.1) the server sends.
pub mod close_status {
    pub const NORMAL: u16 = 1000;
    pub const GOING_AWAY: u16 = 1001;
    pub const PROTOCOL_ERROR: u16 = 1002;
    pub const NO_STATUS: u16 = 1005;
    pub const INVALID_PAYLOAD: u16 = 1007;
    pub const POLICY_VIOLATION: u16 = 1008;
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    pub const INTERNAL_ERROR: u16 = 1011;
}

/// Why the frames a client sent end the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// A protocol error: the server answers with a close frame, status 1002 and this text
    /// (Go's `wsHandleProtocolError`).
    #[error("{0}")]
    Protocol(String),
    /// A compressed message over its bound, or one that does not inflate.
    #[error("{0}")]
    Inflate(#[from] InflateError),
}

/// What decoding a batch of input asks of the connection, besides the payload bytes.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Decoded {
    /// Pongs to send back, already framed, in order.
    pub replies: Vec<u8>,
    /// The close frame to send last: the reply to the client's close, or the protocol
    /// error's close frame.
    pub close: Option<Vec<u8>>,
    /// A close frame was among them: the connection ends as `Client Closed` (the close reply
    /// is in `replies`).
    pub closed_by_peer: bool,
}

/// Reads frames from a client; one per connection, owned by its read loop.
pub struct FrameDecoder {
    /// Client frames must be masked (unless the client asked for no masking).
    mask_required: bool,
    /// permessage-deflate was negotiated.
    compression: bool,
    /// The most compressed bytes a message may carry (Go: `wsMaxMessageSize`).
    compressed_limit: usize,
    /// The most a compressed message may inflate to (Go: `max_payload`).
    inflated_limit: usize,
    /// Header bytes (or a control payload) that arrived without the rest.
    partial: Vec<u8>,
    /// The frame whose payload is being read, if any.
    frame: Option<FramePayload>,
    /// Inside a fragmented message (Go: `!ff`).
    in_message: bool,
    /// The message in progress is compressed; its bytes collect in `compressed`.
    message_compressed: bool,
    compressed: Vec<u8>,
}

/// The payload still to come of the current frame.
struct FramePayload {
    remaining: u64,
    mask: Option<[u8; 4]>,
    /// Position in the mask of the next payload byte.
    mask_offset: usize,
    /// A control frame: its payload collects in `partial`.
    control: Option<Control>,
    /// The last frame of its message.
    is_final: bool,
}

impl FrameDecoder {
    pub fn new(mask_required: bool, compression: bool, max_payload: usize) -> FrameDecoder {
        FrameDecoder {
            mask_required,
            compression,
            compressed_limit: max_message_size(max_payload),
            inflated_limit: max_payload,
            partial: Vec::new(),
            frame: None,
            in_message: false,
            message_compressed: false,
            compressed: Vec::new(),
        }
    }

    /// Decodes `input` (consumed whole; it is unmasked in place) and appends the NATS bytes
    /// it carries to `plaintext`. On an error, `plaintext` holds what came before it (the Go
    /// server parses that much) and `decoded.replies` the close frame to send, if any.
    pub fn decode(
        &mut self,
        mut input: &mut [u8],
        plaintext: &mut BytesMut,
        decoded: &mut Decoded,
    ) -> Result<(), FrameError> {
        while !input.is_empty() && !decoded.closed_by_peer {
            if self.frame.is_none() {
                let Some(consumed) = self.read_header(input).inspect_err(|error| {
                    if let FrameError::Protocol(text) = error {
                        decoded.close =
                            Some(close_payload_frame(close_status::PROTOCOL_ERROR, text));
                    }
                })?
                else {
                    return Ok(());
                };
                input = &mut input[consumed..];
                if self
                    .frame
                    .as_ref()
                    .is_some_and(|frame| frame.remaining == 0)
                {
                    self.finish_frame(plaintext, decoded)?;
                }
                continue;
            }
            let Some(frame) = self.frame.as_mut() else {
                continue;
            };
            let take = usize::try_from(frame.remaining)
                .unwrap_or(usize::MAX)
                .min(input.len());
            let (payload, rest) = input.split_at_mut(take);
            input = rest;
            if let Some(mask) = frame.mask {
                frame.mask_offset = unmask(payload, mask, frame.mask_offset);
            }
            frame.remaining -= take as u64;
            if frame.control.is_some() {
                self.partial.extend_from_slice(payload);
            } else if self.message_compressed {
                if self.compressed.len() + payload.len() > self.compressed_limit {
                    self.reset_message();
                    return Err(InflateError::TooLarge.into());
                }
                self.compressed.extend_from_slice(payload);
            } else {
                plaintext.extend_from_slice(payload);
            }
            if frame.remaining == 0 {
                self.finish_frame(plaintext, decoded)?;
            }
        }
        Ok(())
    }

    /// Parses a frame header from `partial` + `input`. Returns how many bytes of `input` it
    /// took, or `None` when the header is not complete (the bytes are kept in `partial`).
    fn read_header(&mut self, input: &[u8]) -> Result<Option<usize>, FrameError> {
        let held = self.partial.len();
        let take = input.len().min(MAX_HEADER - held);
        let mut candidate = [0u8; MAX_HEADER];
        candidate[..held].copy_from_slice(&self.partial);
        candidate[held..held + take].copy_from_slice(&input[..take]);
        let candidate = &candidate[..held + take];
        self.check_first_bytes(candidate)?;
        let mut cursor = Cursor::new(candidate);
        let parsed = FrameHeader::parse(&mut cursor).map_err(|error| match error {
            tungstenite::Error::Protocol(tungstenite::error::ProtocolError::InvalidOpcode(
                code,
            )) => FrameError::Protocol(format!("unknown opcode {code}")),
            other => FrameError::Protocol(other.to_string()),
        })?;
        let Some((header, length)) = parsed else {
            self.partial.extend_from_slice(&input[..take]);
            return Ok(None);
        };
        let header_len = cursor.position() as usize;
        self.partial.clear();
        self.start_frame(header, length)?;
        Ok(Some(header_len - held))
    }

    /// The checks Go makes on the first two bytes, before the length: they must fail on a
    /// bad frame even when its header is cut short.
    fn check_first_bytes(&self, bytes: &[u8]) -> Result<(), FrameError> {
        let Some(&first) = bytes.first() else {
            return Ok(());
        };
        if first & 0x30 != 0 {
            return Err(protocol("RSV2 and RSV3 must be clear"));
        }
        if first & 0x40 != 0 && !self.compression {
            return Err(protocol(
                "compressed frame received without negotiated permessage-deflate",
            ));
        }
        if let Some(&second) = bytes.get(1) {
            if self.mask_required && second & 0x80 == 0 {
                return Err(protocol("mask bit missing"));
            }
        }
        Ok(())
    }

    fn start_frame(&mut self, header: FrameHeader, length: u64) -> Result<(), FrameError> {
        let mut control = None;
        match header.opcode {
            OpCode::Control(kind) => {
                if length > MAX_CONTROL_PAYLOAD as u64 {
                    return Err(protocol(&format!(
                        "control frame length bigger than maximum allowed of {MAX_CONTROL_PAYLOAD} bytes"
                    )));
                }
                if !header.is_final {
                    return Err(protocol("control frame does not have final bit set"));
                }
                if header.rsv1 {
                    return Err(protocol("control frame must not be compressed"));
                }
                control = Some(kind);
            }
            OpCode::Data(Data::Text | Data::Binary) => {
                if self.in_message {
                    return Err(protocol(
                        "new message started before final frame for previous message was received",
                    ));
                }
                self.in_message = !header.is_final;
                self.message_compressed = header.rsv1;
            }
            OpCode::Data(Data::Continue) => {
                if !self.in_message || header.rsv1 {
                    return Err(protocol("invalid continuation frame"));
                }
                self.in_message = !header.is_final;
            }
            OpCode::Data(Data::Reserved(code)) => {
                return Err(protocol(&format!("unknown opcode {code}")))
            }
        }
        if length >> 63 != 0 {
            return Err(protocol("invalid 64-bit payload length"));
        }
        self.frame = Some(FramePayload {
            remaining: length,
            mask: header.mask,
            mask_offset: 0,
            control,
            is_final: header.is_final,
        });
        Ok(())
    }

    /// The current frame's payload is complete.
    fn finish_frame(
        &mut self,
        plaintext: &mut BytesMut,
        decoded: &mut Decoded,
    ) -> Result<(), FrameError> {
        let Some(frame) = self.frame.take() else {
            return Ok(());
        };
        if let Some(control) = frame.control {
            let payload = std::mem::take(&mut self.partial);
            return self.handle_control(control, &payload, decoded);
        }
        if self.message_compressed && frame.is_final {
            let compressed = std::mem::take(&mut self.compressed);
            self.message_compressed = false;
            inflate_message(&compressed, self.inflated_limit, plaintext)?;
            // Keep the allocation for the next compressed message, unless it was large.
            if compressed.capacity() <= 64 * 1024 {
                self.compressed = compressed;
                self.compressed.clear();
            }
        }
        Ok(())
    }

    /// Go's `wsHandleControlFrame`.
    fn handle_control(
        &mut self,
        control: Control,
        payload: &[u8],
        decoded: &mut Decoded,
    ) -> Result<(), FrameError> {
        match control {
            Control::Ping => control_frame(Control::Ping, payload, &mut decoded.replies, true),
            Control::Pong | Control::Reserved(_) => {}
            Control::Close => {
                if payload.len() == 1 {
                    let text = "close frame payload cannot be 1 byte";
                    decoded.close = Some(close_payload_frame(close_status::PROTOCOL_ERROR, text));
                    return Err(protocol(text));
                }
                if payload.len() >= 2 {
                    let status = u16::from_be_bytes([payload[0], payload[1]]);
                    if !is_valid_close_status(status) {
                        let text = format!("invalid close status code {status}");
                        decoded.close =
                            Some(close_payload_frame(close_status::PROTOCOL_ERROR, &text));
                        return Err(FrameError::Protocol(text));
                    }
                    let body = &payload[2..];
                    decoded.close = Some(match std::str::from_utf8(body) {
                        Ok(text) => close_payload_frame(status, text),
                        Err(_) => close_payload_frame(
                            close_status::INVALID_PAYLOAD,
                            "invalid utf8 body in close frame",
                        ),
                    });
                } else {
                    // No status: an empty close frame back (1005 must not be sent).
                    let mut frame = Vec::with_capacity(2);
                    control_frame(Control::Close, &[], &mut frame, false);
                    decoded.close = Some(frame);
                }
                decoded.closed_by_peer = true;
            }
        }
        Ok(())
    }

    fn reset_message(&mut self) {
        self.in_message = false;
        self.message_compressed = false;
        self.compressed = Vec::new();
    }
}

fn protocol(text: &str) -> FrameError {
    FrameError::Protocol(text.to_string())
}

/// Go's `wsMaxMessageSize`: compressed messages may batch several NATS operations, up to
/// 8 times `max_payload`, and never more than 64 MB.
pub fn max_message_size(max_payload: usize) -> usize {
    max_payload.saturating_mul(8).min(64 * 1024 * 1024)
}

/// Go's `wsIsValidCloseStatus`.
fn is_valid_close_status(status: u16) -> bool {
    !matches!(status, 1004..=1006 | 1015)
        && (1000..5000).contains(&status)
        && !(1016..=2999).contains(&status)
}

/// XORs `payload` with the mask, starting at `offset` in it; returns the next offset.
pub fn unmask(payload: &mut [u8], mask: [u8; 4], offset: usize) -> usize {
    let rotated = [
        mask[offset & 3],
        mask[(offset + 1) & 3],
        mask[(offset + 2) & 3],
        mask[(offset + 3) & 3],
    ];
    let word = u64::from_ne_bytes([
        rotated[0], rotated[1], rotated[2], rotated[3], rotated[0], rotated[1], rotated[2],
        rotated[3],
    ]);
    let mut chunks = payload.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(bytes) ^ word).to_ne_bytes());
    }
    for (index, byte) in chunks.into_remainder().iter_mut().enumerate() {
        *byte ^= rotated[index & 3];
    }
    (offset + payload.len()) & 3
}

/// Appends a close frame with `status` and `text` (Go's `wsCreateCloseMessage`: a text too
/// long for a control frame is cut and ends in "...").
pub fn close_frame(status: u16, text: &str, output: &mut Vec<u8>) {
    let mut payload = Vec::with_capacity(MAX_CONTROL_PAYLOAD);
    payload.extend_from_slice(&status.to_be_bytes());
    if text.len() > MAX_CONTROL_PAYLOAD - 2 {
        let mut cut = MAX_CONTROL_PAYLOAD - 5;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        payload.extend_from_slice(&text.as_bytes()[..cut]);
        payload.extend_from_slice(b"...");
    } else {
        payload.extend_from_slice(text.as_bytes());
    }
    control_frame(Control::Close, &payload, output, false);
}

/// A close frame with `status` and `text`.
pub fn close_payload_frame(status: u16, text: &str) -> Vec<u8> {
    let mut frame = Vec::with_capacity(4 + text.len().min(MAX_CONTROL_PAYLOAD));
    close_frame(status, text, &mut frame);
    frame
}

/// Appends an unmasked control frame. `pong_for_ping`: `kind` is the ping being answered.
fn control_frame(kind: Control, payload: &[u8], output: &mut Vec<u8>, pong_for_ping: bool) {
    let kind = if pong_for_ping { Control::Pong } else { kind };
    let header = FrameHeader {
        opcode: OpCode::Control(kind),
        ..FrameHeader::default()
    };
    write_header(&header, payload.len(), output);
    output.extend_from_slice(payload);
}

fn write_header(header: &FrameHeader, length: usize, output: &mut Vec<u8>) {
    // Formatting into a Vec cannot fail.
    let _ = header.format(length as u64, output);
}

fn data_header(first: bool, is_final: bool, compressed: bool, length: usize) -> Bytes {
    let header = FrameHeader {
        is_final,
        rsv1: compressed,
        opcode: OpCode::Data(if first { Data::Binary } else { Data::Continue }),
        ..FrameHeader::default()
    };
    let mut bytes = Vec::with_capacity(MAX_HEADER);
    write_header(&header, length, &mut bytes);
    Bytes::from(bytes)
}

/// How a connection's outgoing data is framed.
#[derive(Debug, Clone, Copy, Default)]
pub struct FramingMode {
    pub compress: bool,
    /// Frames of at most [`BROWSER_FRAME_SIZE`] bytes.
    pub browser: bool,
    /// Compressed messages are one frame, whatever the size (Safari).
    pub no_compressed_fragments: bool,
}

/// Frames one write's worth of outbound NATS bytes as Go's `wsCollapsePtoNB` does: the
/// control `replies` first, then the data as one binary message (compressed when that is
/// negotiated and the data exceeds 64 bytes), in 4 KB frames for browsers, then `close`.
/// Uncompressed payload chunks are not copied.
pub fn frame_output(
    mode: FramingMode,
    deflater: &mut Option<Deflater>,
    replies: Vec<u8>,
    chunks: Vec<Bytes>,
    close: Option<Vec<u8>>,
) -> Vec<Bytes> {
    let mut output = Vec::with_capacity(chunks.len() + 3);
    if !replies.is_empty() {
        output.push(Bytes::from(replies));
    }
    let total: usize = chunks.iter().map(Bytes::len).sum();
    if total > 0 {
        if mode.compress && total > COMPRESS_THRESHOLD {
            let compressed = deflater
                .get_or_insert_with(Deflater::default)
                .compress_message(chunks.iter().map(|chunk| &chunk[..]));
            let compressed = Bytes::from(compressed);
            let limit = if mode.browser && !mode.no_compressed_fragments {
                BROWSER_FRAME_SIZE
            } else {
                usize::MAX
            };
            push_frames(&mut output, &[compressed], limit, true, true);
        } else if mode.browser {
            push_frames(&mut output, &chunks, BROWSER_FRAME_SIZE, false, false);
        } else {
            output.push(data_header(true, true, false, total));
            output.extend(chunks);
        }
    }
    if let Some(close) = close {
        output.push(Bytes::from(close));
    }
    output
}

/// Cuts `chunks` into frames of at most `limit` bytes. `fragments`: the frames form one
/// message (first binary, then continuations, RSV1 on the first when `compressed`); otherwise
/// every frame is a message of its own, as Go frames uncompressed data for browsers.
fn push_frames(
    output: &mut Vec<Bytes>,
    chunks: &[Bytes],
    limit: usize,
    compressed: bool,
    fragments: bool,
) {
    let total: usize = chunks.iter().map(Bytes::len).sum();
    let mut sent = 0;
    let mut chunk_index = 0;
    let mut offset = 0;
    while sent < total {
        let size = limit.min(total - sent);
        let first = !fragments || sent == 0;
        let is_final = !fragments || sent + size == total;
        output.push(data_header(first, is_final, compressed && sent == 0, size));
        let mut left = size;
        while left > 0 {
            let Some(chunk) = chunks.get(chunk_index) else {
                break;
            };
            let piece = left.min(chunk.len() - offset);
            output.push(chunk.slice(offset..offset + piece));
            offset += piece;
            left -= piece;
            if offset == chunk.len() {
                chunk_index += 1;
                offset = 0;
            }
        }
        sent += size;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A masked client frame.
    fn client_frame(first_byte: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
        let mut frame = vec![first_byte];
        match payload.len() {
            0..=125 => frame.push(0x80 | payload.len() as u8),
            126..=65535 => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(payload.len() as u16).to_be_bytes());
            }
            _ => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(payload.len() as u64).to_be_bytes());
            }
        }
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i & 3]));
        frame
    }

    fn decode_all(
        decoder: &mut FrameDecoder,
        input: &[u8],
        split: usize,
    ) -> (BytesMut, Decoded, Result<(), FrameError>) {
        let mut plaintext = BytesMut::new();
        let mut decoded = Decoded::default();
        let mut input = input.to_vec();
        let at = split.min(input.len());
        let (first, second) = input.split_at_mut(at);
        let mut result = decoder.decode(first, &mut plaintext, &mut decoded);
        if result.is_ok() {
            result = decoder.decode(second, &mut plaintext, &mut decoded);
        }
        (plaintext, decoded, result)
    }

    #[test]
    fn frames_split_at_any_byte_decode_the_same() {
        let mut input = client_frame(0x82, b"PUB a 2\r\nhi\r\n", [1, 2, 3, 4]);
        input.extend(client_frame(0x89, b"ping!", [9, 8, 7, 6]));
        input.extend(client_frame(0x81, &vec![b'x'; 300], [5, 6, 7, 8]));
        // A fragmented message: text, continuation, final continuation.
        input.extend(client_frame(0x01, b"AB", [1, 1, 1, 1]));
        input.extend(client_frame(0x00, b"CD", [2, 2, 2, 2]));
        input.extend(client_frame(0x80, b"EF", [3, 3, 3, 3]));
        for split in 0..=input.len() {
            let mut decoder = FrameDecoder::new(true, false, 1 << 20);
            let (plaintext, decoded, result) = decode_all(&mut decoder, &input, split);
            result.expect("valid frames");
            let mut expected = b"PUB a 2\r\nhi\r\n".to_vec();
            expected.extend(vec![b'x'; 300]);
            expected.extend(b"ABCDEF");
            assert_eq!(&plaintext[..], &expected[..], "split at {split}");
            assert_eq!(decoded.replies, b"\x8a\x05ping!".to_vec());
            assert!(!decoded.closed_by_peer);
        }
    }

    #[test]
    fn protocol_errors_close_with_go_texts() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (vec![0x82, 0x01, b'a'], "mask bit missing"),
            (vec![0xa2, 0x80, 0, 0, 0, 0], "RSV2 and RSV3 must be clear"),
            (
                vec![0xc2, 0x80, 0, 0, 0, 0],
                "compressed frame received without negotiated permessage-deflate",
            ),
            (
                client_frame(0x09, b"", [0; 4]),
                "control frame does not have final bit set",
            ),
            (
                client_frame(0x80, b"x", [0; 4]),
                "invalid continuation frame",
            ),
            (client_frame(0x83, b"x", [0; 4]), "unknown opcode 3"),
            (client_frame(0x8b, b"x", [0; 4]), "unknown opcode 11"),
            (
                client_frame(0x88, b"x", [0; 4]),
                "close frame payload cannot be 1 byte",
            ),
            (
                client_frame(0x88, &1006u16.to_be_bytes(), [0; 4]),
                "invalid close status code 1006",
            ),
            (
                client_frame(0x89, &[0; 126], [0; 4]),
                "control frame length bigger than maximum allowed of 125 bytes",
            ),
            (
                [
                    client_frame(0x01, b"a", [0; 4]),
                    client_frame(0x82, b"b", [0; 4]),
                ]
                .concat(),
                "new message started before final frame for previous message was received",
            ),
        ];
        for (input, text) in cases {
            let mut decoder = FrameDecoder::new(true, false, 1 << 20);
            let (_, decoded, result) = decode_all(&mut decoder, &input, input.len());
            assert_eq!(result, Err(FrameError::Protocol(text.to_string())));
            let expected = close_payload_frame(close_status::PROTOCOL_ERROR, text);
            assert_eq!(decoded.close, Some(expected), "{text}");
        }
    }

    #[test]
    fn a_close_frame_is_echoed_and_ends_the_input() {
        let mut payload = 1000u16.to_be_bytes().to_vec();
        payload.extend_from_slice(b"bye");
        let mut input = client_frame(0x88, &payload, [7; 4]);
        input.extend(client_frame(0x82, b"ignored", [7; 4]));
        let mut decoder = FrameDecoder::new(true, false, 1 << 20);
        let (plaintext, decoded, result) = decode_all(&mut decoder, &input, input.len());
        result.expect("clean close");
        assert!(plaintext.is_empty());
        assert!(decoded.closed_by_peer);
        assert_eq!(decoded.close, Some(b"\x88\x05\x03\xe8bye".to_vec()));
        let mut decoder = FrameDecoder::new(true, false, 1 << 20);
        let input = client_frame(0x88, b"", [7; 4]);
        let (_, decoded, _) = decode_all(&mut decoder, &input, 1);
        assert_eq!(decoded.close, Some(b"\x88\x00".to_vec()));
    }

    #[test]
    fn compressed_messages_inflate_within_bounds() {
        let text = b"PUB a 5\r\nhello\r\n".repeat(20);
        let compressed = Deflater::default().compress_message([&text[..]].into_iter());
        let input = client_frame(0xc2, &compressed, [3, 1, 4, 1]);
        for split in 0..input.len() {
            let mut decoder = FrameDecoder::new(true, true, 1 << 20);
            let (plaintext, _, result) = decode_all(&mut decoder, &input, split);
            result.expect("inflates");
            assert_eq!(&plaintext[..], &text[..]);
        }
        let mut decoder = FrameDecoder::new(true, true, 100);
        let (_, _, result) = decode_all(&mut decoder, &input, input.len());
        assert_eq!(result, Err(FrameError::Inflate(InflateError::TooLarge)));
    }

    #[test]
    fn unmasked_frames_are_read_when_the_client_asked_for_no_masking() {
        let mut decoder = FrameDecoder::new(false, false, 1 << 20);
        let (plaintext, _, result) = decode_all(&mut decoder, b"\x82\x02hi", 1);
        result.expect("no masking");
        assert_eq!(&plaintext[..], b"hi");
    }

    #[test]
    fn output_is_one_frame_or_browser_sized_frames() {
        let chunks = vec![
            Bytes::from_static(b"MSG a 1 2\r\n"),
            Bytes::from(vec![b'z'; 5000]),
        ];
        let framed = frame_output(
            FramingMode::default(),
            &mut None,
            Vec::new(),
            chunks.clone(),
            None,
        );
        let bytes: Vec<u8> = framed.iter().flat_map(|b| b.iter().copied()).collect();
        assert_eq!(&bytes[..4], &[0x82, 126, 0x13, 0x93]);
        assert_eq!(bytes.len(), 4 + 5011);
        let browser = FramingMode {
            browser: true,
            ..FramingMode::default()
        };
        let framed = frame_output(
            browser,
            &mut None,
            b"\x8a\x00".to_vec(),
            chunks,
            Some(vec![0x88, 0]),
        );
        let bytes: Vec<u8> = framed.iter().flat_map(|b| b.iter().copied()).collect();
        // The pong, a 4096-byte frame, a 915-byte frame, then the close frame.
        assert_eq!(&bytes[..2], b"\x8a\x00");
        assert_eq!(&bytes[2..6], &[0x82, 126, 0x10, 0x00]);
        assert_eq!(&bytes[6 + 4096..6 + 4096 + 4], &[0x82, 126, 0x03, 0x93]);
        assert_eq!(&bytes[bytes.len() - 2..], &[0x88, 0]);
    }

    #[test]
    fn compressed_output_round_trips() {
        let text = Bytes::from(b"MSG a 1 5\r\nhello\r\n".repeat(500));
        let mode = FramingMode {
            compress: true,
            browser: true,
            no_compressed_fragments: false,
        };
        let framed = frame_output(mode, &mut None, Vec::new(), vec![text.clone()], None);
        let mut bytes: Vec<u8> = framed.iter().flat_map(|b| b.iter().copied()).collect();
        // Read it back with a decoder that accepts unmasked frames.
        let mut decoder = FrameDecoder::new(false, true, 1 << 20);
        let mut plaintext = BytesMut::new();
        let mut decoded = Decoded::default();
        decoder
            .decode(&mut bytes, &mut plaintext, &mut decoded)
            .expect("valid");
        assert_eq!(&plaintext[..], &text[..]);
    }
}
