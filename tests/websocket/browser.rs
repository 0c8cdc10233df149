//! The official JavaScript client (`@nats-io/nats-core`, its `wsconnect`) in a real headless
//! browser (Debian's Chromium): a page served by the test connects over `ws://` (with
//! compression, which Chromium negotiates) and `wss://`, does pub/sub, request/reply with
//! headers and a large message with a Rust client on the client port, and posts the outcome
//! back; an origin the server does not allow is refused. Against Natrix and the Go server.
//!
//! `tests/websocket/browser/setup.sh` (run by `.ci/test.sh`) installs the client, bundles the
//! page into `.browser-test/bundle.js` and installs Chromium.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::{common, temp_dir, Certificates, WsServer};

const PAGE: &str =
    "<!doctype html><html><head><meta charset=\"utf-8\"><title>natrix</title></head>\
<body><script type=\"module\" src=\"/bundle.js\"></script></body></html>";

/// The bundled page script.
fn bundle() -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".browser-test/bundle.js");
    std::fs::read(&path).unwrap_or_else(|error| {
        panic!(
            "{}: {error}; run tests/websocket/browser/setup.sh (.ci/test.sh does)",
            path.display()
        )
    })
}

/// Serves the page and the bundle, and sends each body posted to `/result` to the channel.
/// Returns the port.
fn serve_page() -> (u16, mpsc::Receiver<serde_json::Value>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind page server");
    let port = listener.local_addr().expect("address").port();
    let bundle = bundle();
    let (sender, results) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let _ = handle_http(stream, &bundle, &sender);
        }
    });
    (port, results)
}

fn handle_http(
    stream: TcpStream,
    bundle: &[u8],
    results: &mpsc::Sender<serde_json::Value>,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut content_length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        if line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                content_length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; content_length];
    reader.read_exact(&mut body)?;
    let path = request_line.split(' ').nth(1).unwrap_or("/");
    let (content_type, content): (&str, &[u8]) = if path.starts_with("/bundle.js") {
        ("text/javascript", bundle)
    } else if path.starts_with("/result") {
        if let Ok(result) = serde_json::from_slice(&body) {
            let _ = results.send(result);
        }
        ("text/plain", b"ok")
    } else if path == "/" || path.starts_with("/?") {
        ("text/html", PAGE.as_bytes())
    } else {
        ("text/plain", b"")
    };
    let status = if content.is_empty() && !path.starts_with("/result") {
        "404 Not Found"
    } else {
        "200 OK"
    };
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        content.len()
    )?;
    stream.write_all(content)
}

/// Headless Chromium on `url`, with the flags this machine's closed network needs; killed on
/// drop.
struct Browser {
    child: Child,
    profile: PathBuf,
}

impl Browser {
    fn open(url: &str) -> Browser {
        let profile = temp_dir("chromium-profile");
        let child = Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                // The wss:// certificate is the test CA's.
                "--ignore-certificate-errors",
                &format!("--user-data-dir={}", profile.display()),
                url,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromium runs (tests/websocket/browser/setup.sh installs it)");
        Browser { child, profile }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// Opens the page against `server_url` and plays the Rust side on `server`'s client port;
/// returns the page's result.
fn run_page(server: &WsServer, server_url: &str) -> serde_json::Value {
    run_served_page(serve_page(), server, server_url)
}

/// [`run_page`] with a page server already running (its port, its results).
fn run_served_page(
    (page_port, results): (u16, mpsc::Receiver<serde_json::Value>),
    server: &WsServer,
    server_url: &str,
) -> serde_json::Value {
    let mut rust = common::RawClient::connect(server.server.port);
    rust.send(b"CONNECT {\"verbose\":false,\"headers\":true}\r\nSUB browser.ready 1\r\nSUB browser.service 2\r\nSUB browser.big 3\r\nPING\r\n");
    rust.expect(b"PONG\r\n");
    let url = format!("http://127.0.0.1:{page_port}/?server={server_url}");
    let _browser = Browser::open(&url);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(result) = results.try_recv() {
            return result;
        }
        assert!(
            Instant::now() < deadline,
            "{}: no result from the page",
            server.name
        );
        let Some(line) = rust.read_line(Duration::from_millis(100)) else {
            continue;
        };
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            ["MSG", "browser.ready", _, size] => {
                let _ = read_payload(&mut rust, size);
                rust.send(b"PUB browser.from-rust 15\r\nhello from rust\r\n");
            }
            ["HMSG", "browser.service", _, reply, header_size, total] => {
                let message = read_payload(&mut rust, total);
                let header_size: usize = header_size.parse().expect("header size");
                let header_text = String::from_utf8_lossy(&message[..header_size]).to_string();
                let value = header_text
                    .lines()
                    .find_map(|line| line.strip_prefix("X-Request: "))
                    .unwrap_or_default()
                    .to_string();
                let payload = String::from_utf8_lossy(&message[header_size..]).to_uppercase();
                let headers = format!("NATS/1.0\r\nX-Reply: re:{value}\r\n\r\n");
                let body = format!("{payload}!");
                rust.send(
                    format!(
                        "HPUB {reply} {} {}\r\n{headers}{body}\r\n",
                        headers.len(),
                        headers.len() + body.len()
                    )
                    .as_bytes(),
                );
            }
            ["MSG", "browser.big", _, size] => {
                let payload = read_payload(&mut rust, size);
                let mut publish =
                    format!("PUB browser.big-back {}\r\n", payload.len()).into_bytes();
                publish.extend_from_slice(&payload);
                publish.extend_from_slice(b"\r\n");
                rust.send(&publish);
            }
            ["PING"] => rust.send(b"PONG\r\n"),
            _ => {}
        }
    }
}

/// A message's payload (and its CRLF) after its MSG/HMSG line.
fn read_payload(client: &mut common::RawClient, size: &str) -> Vec<u8> {
    let size: usize = size.parse().expect("payload size");
    let mut payload = Vec::with_capacity(size);
    while payload.len() < size + 2 {
        let line = client
            .read_line(Duration::from_secs(5))
            .expect("payload bytes");
        payload.extend_from_slice(line.as_bytes());
    }
    payload.truncate(size);
    payload
}

#[test]
fn javascript_client_in_chromium_over_ws_and_wss() {
    let certs = Certificates::generate("browser");
    for server in WsServer::both("no_tls: true\n  compression: true", "") {
        let result = run_page(&server, &server.ws_url());
        assert_eq!(result["ok"], true, "{} ws: {result}", server.name);
        assert_eq!(
            result["port"], server.ws_port,
            "{} ws: {result}",
            server.name
        );
    }
    let block = format!("{}\n  compression: true", certs.tls_block());
    for server in WsServer::both(&block, "") {
        let url = format!("wss://localhost:{}", server.ws_port);
        let result = run_page(&server, &url);
        assert_eq!(result["ok"], true, "{} wss: {result}", server.name);
    }
}

#[test]
fn browser_origin_not_allowed_is_refused() {
    let block = "no_tls: true\n  allowed_origins: [\"http://app.example\"]";
    for server in WsServer::both(block, "") {
        let result = run_page(&server, &server.ws_url());
        assert_eq!(result["ok"], false, "{}: {result}", server.name);
        assert_eq!(result["connected"], false, "{}: {result}", server.name);
    }
    // The page's own origin is allowed when listed.
    let page = serve_page();
    let block = format!(
        "no_tls: true\n  allowed_origins: [\"http://app.example\", \"http://127.0.0.1:{}\"]",
        page.0
    );
    let server = WsServer::natrix(&block, "");
    let result = run_served_page(page, &server, &server.ws_url());
    assert_eq!(result["ok"], true, "{}: {result}", server.name);
}
