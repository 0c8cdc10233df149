//! The WebSocket port (`websocket {}`), against real processes: raw frames over real sockets
//! compared with the Go server (`raw`), official clients and a WebSocket library through the
//! port with TLS, compression, auth and origin checks (`clients`), nats-py's WebSocket
//! transport (`python`), and the official JavaScript client in headless Chromium (`browser`).
//!
//! This file holds what they share: servers started with a `websocket {}` block, test
//! certificates, and a raw WebSocket client that writes and reads frames byte by byte.

#[path = "../common/mod.rs"]
mod common;

mod browser;
mod clients;
mod python;
mod raw;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::TestServer;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

/// RFC 6455's sample key: its accept value is fixed, so responses compare byte for byte.
pub const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// A server with a WebSocket port, and the folder of its config file.
pub struct WsServer {
    pub server: TestServer,
    pub ws_port: u16,
    pub name: &'static str,
    dir: PathBuf,
}

impl WsServer {
    /// Natrix with `websocket { port: -1 <block> }` and `top` at the top level.
    pub fn natrix(block: &str, top: &str) -> WsServer {
        Self::start("natrix", block, top)
    }

    /// The Go server with the same file.
    pub fn go(block: &str, top: &str) -> WsServer {
        Self::start("go", block, top)
    }

    /// Both servers, Go first, with the same file.
    pub fn both(block: &str, top: &str) -> [WsServer; 2] {
        [Self::go(block, top), Self::natrix(block, top)]
    }

    fn start(name: &'static str, block: &str, top: &str) -> WsServer {
        let dir = temp_dir(name);
        let file = dir.join("server.conf");
        let text = format!("{top}\nwebsocket {{\n  port: -1\n  {block}\n}}\n");
        std::fs::write(&file, text).expect("write config");
        let file = file.to_string_lossy().into_owned();
        let server = match name {
            "go" => TestServer::go(&["-c", &file, "-m", &common::free_port().to_string()]),
            _ => TestServer::natrix(2, &["-c", &file, "-m", "-1"]),
        };
        let ws_port = server
            .startup_log
            .iter()
            .find_map(|line| {
                let url = line.split("Listening for websocket clients on ").nth(1)?;
                url.trim().rsplit(':').next()?.parse().ok()
            })
            .unwrap_or_else(|| panic!("{name}: no websocket port in {:#?}", server.startup_log));
        WsServer {
            server,
            ws_port,
            name,
            dir,
        }
    }

    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.ws_port)
    }
}

impl Drop for WsServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A fresh folder under the system's temporary folder.
pub fn temp_dir(name: &str) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let count = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("natrix-ws-{}-{name}-{count}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// A CA and a server certificate for localhost and 127.0.0.1, as PEM files.
pub struct Certificates {
    pub dir: PathBuf,
}

impl Certificates {
    pub fn generate(name: &str) -> Certificates {
        let dir = temp_dir(&format!("certs-{name}"));
        let ca_key = KeyPair::generate().expect("ca key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "Natrix WebSocket Test CA");
        let ca = ca_params.self_signed(&ca_key).expect("ca cert");
        let issuer = Issuer::new(ca_params, ca_key);
        let server_key = KeyPair::generate().expect("server key");
        let mut server_params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
                .expect("server params");
        server_params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        let server = server_params
            .signed_by(&server_key, &issuer)
            .expect("server cert");
        std::fs::write(dir.join("ca.pem"), ca.pem()).expect("ca pem");
        std::fs::write(dir.join("server-cert.pem"), server.pem()).expect("cert pem");
        std::fs::write(dir.join("server-key.pem"), server_key.serialize_pem()).expect("key pem");
        Certificates { dir }
    }

    pub fn path(&self, file: &str) -> String {
        self.dir.join(file).to_string_lossy().into_owned()
    }

    /// The `tls {}` block for the WebSocket port.
    pub fn tls_block(&self) -> String {
        format!(
            "tls {{\n    cert_file: \"{}\"\n    key_file: \"{}\"\n  }}",
            self.path("server-cert.pem"),
            self.path("server-key.pem")
        )
    }
}

impl Drop for Certificates {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One WebSocket frame as read from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub fin: bool,
    pub rsv1: bool,
    pub opcode: u8,
    pub payload: Vec<u8>,
}

/// Encodes a frame: `first` holds FIN, RSV and opcode bits as they go on the wire; a mask
/// sets the mask bit and masks the payload.
pub fn encode_frame(first: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    let mut frame = vec![first];
    match payload.len() {
        0..=125 => frame.push(mask_bit | payload.len() as u8),
        126..=65535 => {
            frame.push(mask_bit | 126);
            frame.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        }
        _ => {
            frame.push(mask_bit | 127);
            frame.extend_from_slice(&(payload.len() as u64).to_be_bytes());
        }
    }
    match mask {
        Some(mask) => {
            frame.extend_from_slice(&mask);
            frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        }
        None => frame.extend_from_slice(payload),
    }
    frame
}

/// A masked, final binary frame.
pub fn binary(payload: &[u8]) -> Vec<u8> {
    encode_frame(0x82, payload, Some([0x11, 0x22, 0x33, 0x44]))
}

/// permessage-deflate of one message: raw deflate, sync flush, the flush tail removed.
pub fn deflate(data: &[u8]) -> Vec<u8> {
    let mut compressor = flate2::Compress::new(flate2::Compression::default(), false);
    let mut output = Vec::with_capacity(data.len() + 64);
    compressor
        .compress_vec(data, &mut output, flate2::FlushCompress::Sync)
        .expect("deflate");
    assert_eq!(compressor.total_in() as usize, data.len(), "output room");
    assert!(output.ends_with(&[0, 0, 0xff, 0xff]));
    output.truncate(output.len() - 4);
    output
}

/// Inflates one permessage-deflate message.
pub fn inflate(data: &[u8]) -> Vec<u8> {
    let mut input = data.to_vec();
    input.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let mut decompressor = flate2::Decompress::new(false);
    let mut output = Vec::with_capacity(data.len() * 8 + 1024);
    loop {
        let before = decompressor.total_in() as usize;
        decompressor
            .decompress_vec(&input[before..], &mut output, flate2::FlushDecompress::Sync)
            .expect("inflate");
        if decompressor.total_in() as usize == input.len() {
            return output;
        }
        output.reserve(output.capacity());
    }
}

/// A WebSocket client that writes and reads raw frames over a real socket.
pub struct RawWs {
    pub stream: TcpStream,
    buffer: Vec<u8>,
    /// Set once the server closed the TCP connection.
    pub eof: bool,
}

/// The request line and headers of an upgrade to `/`, with `extra` header lines.
pub fn upgrade_request(port: u16, extra: &str) -> String {
    format!(
        "GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

impl RawWs {
    /// Sends `request` and reads the response head. Returns it and the connection.
    pub fn open(port: u16, request: &[u8]) -> (String, RawWs) {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("read timeout");
        let mut client = RawWs {
            stream,
            buffer: Vec::new(),
            eof: false,
        };
        client.send(request);
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(end) = find(&client.buffer, b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&client.buffer[..end + 4]).into_owned();
                client.buffer.drain(..end + 4);
                return (head, client);
            }
            if client.eof || Instant::now() > deadline {
                let head = String::from_utf8_lossy(&client.buffer).into_owned();
                client.buffer.clear();
                return (head, client);
            }
            client.fill();
        }
    }

    /// Upgrades (with `extra` header lines) and checks the response is `101`.
    pub fn connect(port: u16, extra: &str) -> RawWs {
        let (head, client) = Self::open(port, upgrade_request(port, extra).as_bytes());
        assert!(head.starts_with("HTTP/1.1 101 "), "upgrade refused: {head}");
        client
    }

    /// Upgrades and reads the INFO frame; returns the client and INFO's JSON.
    pub fn connect_with_info(port: u16, extra: &str) -> (RawWs, serde_json::Value) {
        let mut client = Self::connect(port, extra);
        let frame = client
            .read_frame(Duration::from_secs(5))
            .expect("INFO frame");
        let payload = if frame.rsv1 {
            inflate(&frame.payload)
        } else {
            frame.payload
        };
        let text = String::from_utf8(payload).expect("INFO text");
        let json = text
            .strip_prefix("INFO ")
            .expect("INFO")
            .trim_end()
            .to_string();
        (client, serde_json::from_str(&json).expect("INFO json"))
    }

    pub fn send(&mut self, bytes: &[u8]) {
        // A server that closed first may refuse the write; the reads tell what it sent.
        let _ = self.stream.write_all(bytes);
    }

    fn fill(&mut self) {
        let mut chunk = [0u8; 16 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) => self.eof = true,
            Ok(count) => self.buffer.extend_from_slice(&chunk[..count]),
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => self.eof = true,
        }
    }

    /// The next frame, or `None` when the server closed or `timeout` passed.
    pub fn read_frame(&mut self, timeout: Duration) -> Option<Frame> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some((frame, used)) = parse_frame(&self.buffer) {
                self.buffer.drain(..used);
                return Some(frame);
            }
            if self.eof || Instant::now() > deadline {
                return None;
            }
            self.fill();
        }
    }

    /// Frames until the server closes the connection (or `timeout`); whether it closed.
    pub fn read_until_closed(&mut self, timeout: Duration) -> (Vec<Frame>, bool) {
        let deadline = Instant::now() + timeout;
        let mut frames = Vec::new();
        while Instant::now() < deadline {
            match self.read_frame(deadline.saturating_duration_since(Instant::now())) {
                Some(frame) => frames.push(frame),
                None => break,
            }
        }
        (frames, self.eof)
    }

    /// The NATS text of data frames read until `needle` appears in it (or `timeout`), with
    /// the control frames that came with it.
    pub fn read_text_until(&mut self, needle: &str, timeout: Duration) -> (String, Vec<Frame>) {
        let deadline = Instant::now() + timeout;
        let mut text = String::new();
        let mut controls = Vec::new();
        while !text.contains(needle) {
            let Some(frame) = self.read_frame(deadline.saturating_duration_since(Instant::now()))
            else {
                break;
            };
            if frame.opcode >= 8 {
                controls.push(frame);
            } else if frame.rsv1 {
                text.push_str(&String::from_utf8_lossy(&inflate(&frame.payload)));
            } else {
                text.push_str(&String::from_utf8_lossy(&frame.payload));
            }
        }
        (text, controls)
    }
}

/// Parses one server frame (never masked) from the start of `bytes`.
fn parse_frame(bytes: &[u8]) -> Option<(Frame, usize)> {
    let first = *bytes.first()?;
    let second = *bytes.get(1)?;
    let (length, mut offset) = match second & 0x7f {
        126 => (
            u16::from_be_bytes([*bytes.get(2)?, *bytes.get(3)?]) as usize,
            4,
        ),
        127 => {
            let raw: [u8; 8] = bytes.get(2..10)?.try_into().ok()?;
            (u64::from_be_bytes(raw) as usize, 10)
        }
        short => (short as usize, 2),
    };
    let mask = if second & 0x80 != 0 {
        let mask: [u8; 4] = bytes.get(offset..offset + 4)?.try_into().ok()?;
        offset += 4;
        Some(mask)
    } else {
        None
    };
    let mut payload = bytes.get(offset..offset + length)?.to_vec();
    if let Some(mask) = mask {
        for (i, byte) in payload.iter_mut().enumerate() {
            *byte ^= mask[i % 4];
        }
    }
    let frame = Frame {
        fin: first & 0x80 != 0,
        rsv1: first & 0x40 != 0,
        opcode: first & 0x0f,
        payload,
    };
    Some((frame, offset + length))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// A close frame's status and text.
pub fn close_of(frame: &Frame) -> (u16, String) {
    assert_eq!(frame.opcode, 8, "not a close frame: {frame:?}");
    if frame.payload.len() < 2 {
        return (0, String::new());
    }
    (
        u16::from_be_bytes([frame.payload[0], frame.payload[1]]),
        String::from_utf8_lossy(&frame.payload[2..]).into_owned(),
    )
}

/// An HTTP response with its `Date` header's value masked (it differs by the second).
pub fn mask_date(response: &str) -> String {
    response
        .split("\r\n")
        .map(|line| {
            if line.to_ascii_lowercase().starts_with("date:") {
                "Date: <masked>"
            } else {
                line
            }
        })
        .collect::<Vec<_>>()
        .join("\r\n")
}
