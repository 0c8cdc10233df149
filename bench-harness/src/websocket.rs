//! Just enough WebSocket (RFC 6455) to load a server's WebSocket port with the raw protocol:
//! the upgrade, client frames, and a decoder that takes the server's frames apart so the
//! frame scanner sees the NATS bytes they carry.
//!
//! Client frames must be masked; this client masks with the all-zero key, which is legal and
//! leaves the bytes as they are, so a pre-built batch is framed once and the load generator
//! spends nothing per message on masking. The server unmasks every byte all the same.
//! The decoder is pure (bytes in, payload slices out) and tested without sockets.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// RFC 6455's sample key; the server's accept value for it is fixed.
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// Sends the upgrade request and reads the `101` response. Anything the server sent after it
/// (its first frames) is returned.
pub fn upgrade(stream: &mut TcpStream, host: &str, timeout: Duration) -> Result<Vec<u8>> {
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(request.as_bytes())?;
    let deadline = Instant::now() + timeout;
    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = received.windows(4).position(|window| window == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&received[..end]).into_owned();
            if !head.starts_with("HTTP/1.1 101 ") || !head.contains(ACCEPT) {
                bail!("WebSocket upgrade refused: {head}");
            }
            return Ok(received.split_off(end + 4));
        }
        if Instant::now() >= deadline || received.len() > 64 * 1024 {
            bail!("no WebSocket upgrade response within {timeout:?}");
        }
        match stream.read(&mut chunk) {
            Ok(0) => bail!("server closed the connection during the upgrade"),
            Ok(count) => received.extend_from_slice(&chunk[..count]),
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(error) => return Err(error).context("reading the upgrade response"),
        }
    }
}

/// One final binary client frame carrying `payload`, masked with the zero key.
pub fn client_frame(payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(payload.len() + 14);
    frame.push(0x82);
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
    frame.extend_from_slice(&[0, 0, 0, 0]);
    frame.extend_from_slice(payload);
    frame
}

/// Takes server frames apart across arbitrary read boundaries. Data frames' payloads are
/// handed on; control frames (pings, the close) are reported by their opcode.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    header: Vec<u8>,
    /// Payload bytes left in the current frame.
    remaining: u64,
    /// The current frame is a control frame (its payload is skipped).
    control: bool,
}

/// The most a frame header can be (no mask: the server does not mask).
const HEADER_MAX: usize = 10;

impl FrameDecoder {
    /// Decodes `data`: `payload` gets each run of data-frame payload bytes, `control` the
    /// opcode of each control frame. Compressed frames are an error (this client never
    /// offers compression).
    pub fn feed(
        &mut self,
        mut data: &[u8],
        mut payload: impl FnMut(&[u8]) -> Result<()>,
        mut control: impl FnMut(u8),
    ) -> Result<()> {
        while !data.is_empty() {
            if self.remaining > 0 {
                let take = usize::try_from(self.remaining)
                    .unwrap_or(usize::MAX)
                    .min(data.len());
                if !self.control {
                    payload(&data[..take])?;
                }
                self.remaining -= take as u64;
                data = &data[take..];
                continue;
            }
            let take = (HEADER_MAX - self.header.len()).min(data.len());
            self.header.extend_from_slice(&data[..take]);
            let Some((length, header_len)) = parse_header(&self.header)? else {
                data = &data[take..];
                continue;
            };
            let opcode = self.header[0] & 0x0f;
            // Bytes of `data` that belonged to the header; the rest goes back to `data`.
            let used = header_len - (self.header.len() - take);
            data = &data[used..];
            self.header.clear();
            self.control = opcode >= 8;
            if self.control {
                control(opcode);
            }
            self.remaining = length;
        }
        Ok(())
    }
}

/// The payload length and header length, once the header is complete.
fn parse_header(header: &[u8]) -> Result<Option<(u64, usize)>> {
    let (Some(&first), Some(&second)) = (header.first(), header.get(1)) else {
        return Ok(None);
    };
    if first & 0x70 != 0 {
        bail!("server frame with RSV bits set (compression was not offered)");
    }
    if second & 0x80 != 0 {
        bail!("masked server frame");
    }
    let (length, header_len) = match second & 0x7f {
        126 => match header.get(2..4) {
            Some(bytes) => (u64::from(u16::from_be_bytes([bytes[0], bytes[1]])), 4),
            None => return Ok(None),
        },
        127 => match header.get(2..10) {
            Some(bytes) => {
                let mut raw = [0u8; 8];
                raw.copy_from_slice(bytes);
                (u64::from_be_bytes(raw), 10)
            }
            None => return Ok(None),
        },
        short => (u64::from(short), 2),
    };
    Ok(Some((length, header_len)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut frame = vec![0x80 | opcode];
        match payload.len() {
            0..=125 => frame.push(payload.len() as u8),
            126..=65535 => {
                frame.push(126);
                frame.extend_from_slice(&(payload.len() as u16).to_be_bytes());
            }
            _ => {
                frame.push(127);
                frame.extend_from_slice(&(payload.len() as u64).to_be_bytes());
            }
        }
        frame.extend_from_slice(payload);
        frame
    }

    #[test]
    fn frames_split_anywhere_give_the_same_payload_and_controls() {
        let big = vec![b'z'; 70_000];
        let mut stream = server_frame(2, b"MSG a 1 2\r\nhi\r\n");
        stream.extend(server_frame(9, b"ping"));
        stream.extend(server_frame(2, &big));
        stream.extend(server_frame(2, &[b'y'; 300]));
        let mut expected = b"MSG a 1 2\r\nhi\r\n".to_vec();
        expected.extend_from_slice(&big);
        expected.extend_from_slice(&[b'y'; 300]);
        for split in (0..stream.len()).step_by(7).chain([1, 2, 3, 20, 21, 22]) {
            let mut decoder = FrameDecoder::default();
            let mut payload = Vec::new();
            let mut controls = Vec::new();
            for part in [&stream[..split], &stream[split..]] {
                decoder
                    .feed(
                        part,
                        |bytes| {
                            payload.extend_from_slice(bytes);
                            Ok(())
                        },
                        |opcode| controls.push(opcode),
                    )
                    .expect("valid frames");
            }
            assert!(payload == expected, "split at {split}");
            assert_eq!(controls, vec![9], "split at {split}");
        }
    }

    #[test]
    fn client_frames_are_masked_with_the_zero_key() {
        let frame = client_frame(b"PING\r\n");
        assert_eq!(&frame[..6], &[0x82, 0x86, 0, 0, 0, 0]);
        assert_eq!(&frame[6..], b"PING\r\n");
        assert_eq!(&client_frame(&[0; 300])[..4], &[0x82, 0xfe, 1, 44]);
    }
}
