//! The raw NATS client protocol, just enough to load a server without a client library in the
//! way: a handshake, batched `PUB` frames, and a scanner that counts `MSG` frames while skipping
//! their payloads.
//!
//! The scanner is pure (bytes in, frames out) so that it is tested without sockets; the socket
//! helpers below it use blocking std sockets because every load thread owns exactly one socket.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// One frame sent by the server, as the scanner reports it. Payload bytes are never copied:
/// a `Msg` carries only the payload length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerFrame<'a> {
    Msg {
        subject: &'a [u8],
        reply_to: Option<&'a [u8]>,
        payload_len: usize,
    },
    Ping,
    Pong,
    Ok,
    Err(&'a [u8]),
    Info(&'a [u8]),
}

/// Splits a byte stream from a server into frames, across arbitrary read boundaries.
///
/// Only a partial control line is ever buffered (bounded by `MAX_CONTROL_LINE_BYTES`); payloads
/// are skipped by counting, which keeps the subscriber side of the load generator cheaper than
/// the server it measures.
#[derive(Debug, Default)]
pub struct FrameScanner {
    partial_line: Vec<u8>,
    payload_bytes_to_skip: usize,
}

/// The Go server's default `max_control_line` is 4 KiB; anything longer is a protocol error.
const MAX_CONTROL_LINE_BYTES: usize = 4096;

impl FrameScanner {
    pub fn new() -> Self {
        Self::default()
    }

    /// Consumes `data` entirely, calling `on_frame` for every complete frame.
    pub fn feed(
        &mut self,
        mut data: &[u8],
        mut on_frame: impl FnMut(ServerFrame<'_>),
    ) -> Result<()> {
        loop {
            if self.payload_bytes_to_skip > 0 {
                let skipped = self.payload_bytes_to_skip.min(data.len());
                self.payload_bytes_to_skip -= skipped;
                data = &data[skipped..];
            }
            if data.is_empty() {
                return Ok(());
            }
            let Some(newline_at) = data.iter().position(|&byte| byte == b'\n') else {
                if self.partial_line.len() + data.len() > MAX_CONTROL_LINE_BYTES {
                    bail!("server sent a control line longer than {MAX_CONTROL_LINE_BYTES} bytes");
                }
                self.partial_line.extend_from_slice(data);
                return Ok(());
            };
            let (line_tail, rest) = data.split_at(newline_at + 1);
            data = rest;
            let payload_len = if self.partial_line.is_empty() {
                dispatch_control_line(line_tail, &mut on_frame)?
            } else {
                let mut line = std::mem::take(&mut self.partial_line);
                line.extend_from_slice(line_tail);
                let payload_len = dispatch_control_line(&line, &mut on_frame)?;
                line.clear();
                self.partial_line = line;
                payload_len
            };
            // A message's payload is followed by CRLF, which is skipped along with it.
            if let Some(payload_len) = payload_len {
                self.payload_bytes_to_skip = payload_len + 2;
            }
        }
    }
}

/// Parses one control line (including its trailing `\n`), reports the frame and returns the
/// payload length that follows it, if any.
fn dispatch_control_line(
    line: &[u8],
    on_frame: &mut impl FnMut(ServerFrame<'_>),
) -> Result<Option<usize>> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut fields = line
        .split(|&byte| byte == b' ' || byte == b'\t')
        .filter(|f| !f.is_empty());
    let Some(operation) = fields.next() else {
        return Ok(None);
    };
    // Comparing without allocating: this runs once per delivered message.
    let is = |name: &[u8]| operation.eq_ignore_ascii_case(name);
    if is(b"MSG") || is(b"HMSG") {
        // MSG subject sid [reply] size; HMSG subject sid [reply] header_size total_size.
        let fixed_fields = if operation.len() == 4 { 4 } else { 3 };
        let mut found: [&[u8]; 6] = [&[]; 6];
        let mut count = 0;
        for field in fields {
            if count == found.len() {
                bail!("malformed message line: {}", String::from_utf8_lossy(line));
            }
            found[count] = field;
            count += 1;
        }
        if count != fixed_fields && count != fixed_fields + 1 {
            bail!("malformed message line: {}", String::from_utf8_lossy(line));
        }
        let reply_to = (count == fixed_fields + 1).then(|| found[2]);
        let total_len = parse_decimal(found[count - 1])
            .with_context(|| format!("bad size in {}", String::from_utf8_lossy(line)))?;
        on_frame(ServerFrame::Msg {
            subject: found[0],
            reply_to,
            payload_len: total_len,
        });
        return Ok(Some(total_len));
    }
    let frame = if is(b"PING") {
        ServerFrame::Ping
    } else if is(b"PONG") {
        ServerFrame::Pong
    } else if is(b"+OK") {
        ServerFrame::Ok
    } else if is(b"-ERR") {
        ServerFrame::Err(line.get(5..).unwrap_or_default())
    } else if is(b"INFO") {
        ServerFrame::Info(line.get(5..).unwrap_or_default())
    } else {
        bail!(
            "unexpected line from server: {}",
            String::from_utf8_lossy(line)
        );
    };
    on_frame(frame);
    Ok(None)
}

fn parse_decimal(digits: &[u8]) -> Result<usize> {
    if digits.is_empty() || digits.len() > 12 {
        bail!("not a size");
    }
    digits.iter().try_fold(0usize, |value, &digit| {
        if digit.is_ascii_digit() {
            Ok(value * 10 + usize::from(digit - b'0'))
        } else {
            bail!("not a size")
        }
    })
}

/// Builds a buffer of whole `PUB` frames, at least `min_batch_bytes` long (and at least one
/// frame), so that a publisher can write many messages with one syscall.
pub fn pub_batch(
    subject: &str,
    reply_to: Option<&str>,
    payload_len: usize,
    min_batch_bytes: usize,
) -> (Vec<u8>, u64) {
    let mut frame = match reply_to {
        Some(reply_to) => format!("PUB {subject} {reply_to} {payload_len}\r\n").into_bytes(),
        None => format!("PUB {subject} {payload_len}\r\n").into_bytes(),
    };
    frame.extend(std::iter::repeat_n(b'x', payload_len));
    frame.extend_from_slice(b"\r\n");
    let frames_per_batch = min_batch_bytes.div_ceil(frame.len()).max(1);
    let batch = frame.repeat(frames_per_batch);
    (batch, frames_per_batch as u64)
}

/// A connected, handshaken raw client connection.
pub struct RawConnection {
    pub stream: TcpStream,
    /// The JSON of the last `INFO` the server sent (the first one arrives on connect).
    pub server_info: Option<String>,
    pub scanner: FrameScanner,
    read_buffer: Vec<u8>,
    /// Set for a connection to the WebSocket port: frames are taken apart before the scanner.
    websocket: Option<crate::websocket::FrameDecoder>,
}

/// Size of socket reads once a connection carries traffic. Large reads amortize syscalls the
/// way the Go client does; connections start small so that thousands of idle ones are cheap.
const READ_BUFFER_BYTES: usize = 256 * 1024;
const READ_BUFFER_BYTES_INITIAL: usize = 4 * 1024;

impl RawConnection {
    /// Connects, sends `CONNECT` and waits for the `PONG` that proves the server accepted it.
    pub fn connect(address: SocketAddr, name: &str, timeout: Duration) -> Result<Self> {
        Self::connect_over(address, name, timeout, false)
    }

    /// [`connect`](Self::connect), over the WebSocket port when `websocket` is set.
    pub fn connect_over(
        address: SocketAddr,
        name: &str,
        timeout: Duration,
        websocket: bool,
    ) -> Result<Self> {
        let mut stream = TcpStream::connect_timeout(&address, timeout)
            .with_context(|| format!("connecting to {address}"))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_millis(100)))?;
        stream.set_write_timeout(Some(timeout))?;
        let early = if websocket {
            crate::websocket::upgrade(&mut stream, &address.to_string(), timeout)?
        } else {
            Vec::new()
        };
        let mut connection = Self {
            stream,
            server_info: None,
            scanner: FrameScanner::new(),
            read_buffer: vec![0; READ_BUFFER_BYTES_INITIAL],
            websocket: websocket.then(crate::websocket::FrameDecoder::default),
        };
        if !early.is_empty() {
            connection.handle_input(&early, |_| {})?;
        }
        let connect = format!(
            "CONNECT {{\"verbose\":false,\"pedantic\":false,\"headers\":false,\
             \"protocol\":1,\"name\":\"{name}\",\"lang\":\"natrix-bench-raw\"}}\r\nPING\r\n"
        );
        connection.send(connect.as_bytes())?;
        connection.wait_for_pong(timeout).context("handshake")?;
        Ok(connection)
    }

    /// Writes protocol bytes, in one WebSocket frame on a WebSocket connection.
    pub fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if self.websocket.is_some() {
            self.stream
                .write_all(&crate::websocket::client_frame(bytes))
        } else {
            self.stream.write_all(bytes)
        }
    }

    /// Subscribes and waits until the server confirms that the interest is in place.
    pub fn subscribe(
        &mut self,
        subject: &str,
        queue_group: Option<&str>,
        sid: u32,
        timeout: Duration,
    ) -> Result<()> {
        let command = match queue_group {
            Some(group) => format!("SUB {subject} {group} {sid}\r\nPING\r\n"),
            None => format!("SUB {subject} {sid}\r\nPING\r\n"),
        };
        self.send(command.as_bytes())?;
        self.wait_for_pong(timeout)
    }

    /// Sends `PING` and reads until its `PONG`, ignoring messages: the round trip proves that
    /// the server has processed everything this connection sent before.
    pub fn flush(&mut self, timeout: Duration) -> Result<()> {
        self.send(b"PING\r\n")?;
        self.wait_for_pong(timeout)
    }

    fn wait_for_pong(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let mut outcome: Option<Result<()>> = None;
            let mut must_answer_ping = false;
            let mut server_info = None;
            self.read_some(|frame| match frame {
                ServerFrame::Info(json) => {
                    server_info = Some(String::from_utf8_lossy(json).into_owned())
                }
                ServerFrame::Pong => outcome = outcome.take().or(Some(Ok(()))),
                ServerFrame::Err(text) => {
                    outcome = Some(Err(anyhow::anyhow!(
                        "server error: {}",
                        String::from_utf8_lossy(text)
                    )))
                }
                ServerFrame::Ping => must_answer_ping = true,
                _ => {}
            })?;
            if must_answer_ping {
                self.send(b"PONG\r\n")?;
            }
            if server_info.is_some() {
                self.server_info = server_info;
            }
            if let Some(outcome) = outcome {
                return outcome;
            }
            if Instant::now() >= deadline {
                bail!("no PONG from the server within {timeout:?}");
            }
        }
    }

    /// Reads once (waiting at most the socket's read timeout) and reports the frames. Returns
    /// the number of bytes read: zero on a read timeout. The peer closing is an error.
    pub fn read_some(&mut self, on_frame: impl FnMut(ServerFrame<'_>)) -> Result<usize> {
        match self.stream.read(&mut self.read_buffer) {
            Ok(0) => bail!("server closed the connection"),
            Ok(read_len) => {
                let input = std::mem::take(&mut self.read_buffer);
                let handled = self.handle_input(&input[..read_len], on_frame);
                self.read_buffer = input;
                handled?;
                if read_len == self.read_buffer.len() && read_len < READ_BUFFER_BYTES {
                    self.read_buffer.resize(READ_BUFFER_BYTES, 0);
                }
                Ok(read_len)
            }
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                Ok(0)
            }
            Err(error) => Err(error).context("reading from the server"),
        }
    }

    /// Scans bytes read from the server (taking WebSocket frames apart first).
    fn handle_input(
        &mut self,
        input: &[u8],
        mut on_frame: impl FnMut(ServerFrame<'_>),
    ) -> Result<()> {
        let Some(decoder) = self.websocket.as_mut() else {
            return self.scanner.feed(input, on_frame);
        };
        let scanner = &mut self.scanner;
        let mut closed = false;
        decoder.feed(
            input,
            |payload| scanner.feed(payload, &mut on_frame),
            |opcode| closed |= opcode == 8,
        )?;
        if closed {
            bail!("server sent a WebSocket close frame");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_all(chunks: &[&[u8]]) -> Vec<String> {
        let mut scanner = FrameScanner::new();
        let mut frames = Vec::new();
        for chunk in chunks {
            scanner
                .feed(chunk, |frame| frames.push(format!("{frame:?}")))
                .expect("valid stream");
        }
        frames
    }

    const STREAM: &[u8] = b"INFO {\"a\":1}\r\nMSG foo 1 5\r\nhello\r\nPING\r\n\
        MSG bar.baz 22 _INBOX.x 3\r\nabc\r\nHMSG h 3 12 14\r\nNATS/1.0\r\n\r\nhi\r\n+OK\r\nPONG\r\n";

    #[test]
    fn scanner_reports_every_frame_of_a_whole_buffer() {
        let frames = scan_all(&[STREAM]);
        assert_eq!(frames.len(), 7, "{frames:?}");
        assert!(frames[1].contains("payload_len: 5"));
        assert!(frames[3].contains("reply_to: Some([95"), "{}", frames[3]);
        assert!(frames[4].contains("payload_len: 14"));
        assert_eq!(frames[6], "Pong");
    }

    #[test]
    fn scanner_gives_the_same_frames_for_every_split_point() {
        let whole = scan_all(&[STREAM]);
        for split_at in 0..STREAM.len() {
            let (head, tail) = STREAM.split_at(split_at);
            assert_eq!(scan_all(&[head, tail]), whole, "split at {split_at}");
        }
        let bytes: Vec<&[u8]> = STREAM.chunks(1).collect();
        assert_eq!(scan_all(&bytes), whole);
    }

    #[test]
    fn scanner_rejects_garbage_lines() {
        let mut scanner = FrameScanner::new();
        assert!(scanner.feed(b"HELLO world\r\n", |_| {}).is_err());
        let mut scanner = FrameScanner::new();
        assert!(scanner.feed(b"MSG foo 1 abc\r\n", |_| {}).is_err());
    }

    #[test]
    fn pub_batch_holds_whole_frames_only() {
        let (batch, frames) = pub_batch("a.b", None, 16, 1000);
        let frame_len = "PUB a.b 16\r\n".len() + 16 + 2;
        assert_eq!(batch.len() as u64, frames * frame_len as u64);
        assert!(batch.len() >= 1000);
        let (big, big_frames) = pub_batch("a", Some("r"), 70_000, 1000);
        assert_eq!(big_frames, 1);
        assert!(big.starts_with(b"PUB a r 70000\r\n"));
    }
}
