//! Clients through the WebSocket port: a WebSocket library (`tungstenite`) speaking NATS
//! over `ws://` and `wss://` (pub/sub, request/reply with headers, large messages, browser
//! framing, pings and close codes), the official Rust client (`async-nats`, its WebSocket
//! transport) for auth from the `websocket {}` block, cookies, origin checks, and the
//! monitoring endpoints. Each runs against Natrix and the Go server with the same file.
//!
//! async-nats's WebSocket transport (0.51, on tokio-websockets) loses messages now and then
//! on a subscription, against the Go server as against Natrix, so the data path is proven
//! with `tungstenite`, nats-py (`python`) and the JavaScript client (`browser`).

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::ConnectOptions;
use tungstenite::Message;

use super::{binary, common, upgrade_request, Certificates, RawWs, WsServer};

const WAIT: Duration = Duration::from_secs(5);

/// A NATS client over a `tungstenite` WebSocket.
struct WsNats<S: Read + Write> {
    socket: tungstenite::WebSocket<S>,
    text: Vec<u8>,
}

impl<S: Read + Write> WsNats<S> {
    fn new(socket: tungstenite::WebSocket<S>) -> WsNats<S> {
        let mut client = WsNats {
            socket,
            text: Vec::new(),
        };
        let info = client.read_line();
        assert!(info.starts_with("INFO {"), "{info}");
        client
    }

    fn send(&mut self, text: &[u8]) {
        self.socket
            .send(Message::binary(text.to_vec()))
            .expect("send");
    }

    /// Reads until the text holds `needle`; returns everything up to and including it.
    fn read_until(&mut self, needle: &[u8]) -> Vec<u8> {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(at) = self
                .text
                .windows(needle.len())
                .position(|window| window == needle)
            {
                return self.text.drain(..at + needle.len()).collect();
            }
            assert!(
                Instant::now() < deadline,
                "no {needle:?} in {:?}",
                self.text
            );
            match self.socket.read().expect("read") {
                Message::Binary(data) => self.text.extend_from_slice(&data),
                Message::Text(data) => self.text.extend_from_slice(data.as_bytes()),
                _ => {}
            }
        }
    }

    fn read_line(&mut self) -> String {
        String::from_utf8(self.read_until(b"\r\n")).expect("utf8")
    }
}

/// A `tungstenite` client on the plain WebSocket port.
fn ws_client(server: &WsServer, headers: &[(&str, &str)]) -> WsNats<std::net::TcpStream> {
    let stream = std::net::TcpStream::connect(("127.0.0.1", server.ws_port)).expect("tcp");
    stream.set_read_timeout(Some(WAIT)).expect("timeout");
    let mut request = tungstenite::client::IntoClientRequest::into_client_request(server.ws_url())
        .expect("request");
    for (name, value) in headers {
        request.headers_mut().insert(
            tungstenite::http::HeaderName::from_bytes(name.as_bytes()).expect("name"),
            value.parse().expect("value"),
        );
    }
    let (socket, response) = tungstenite::client(request, stream).expect("handshake");
    assert_eq!(response.status(), 101);
    WsNats::new(socket)
}

type TlsStream = rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream>;

/// A `tungstenite` client on a `wss://` port, trusting the test CA.
fn wss_client(server: &WsServer, certs: &Certificates) -> WsNats<TlsStream> {
    let mut roots = rustls::RootCertStore::empty();
    let ca_pem = std::fs::read(certs.dir.join("ca.pem")).expect("ca");
    let ca = rustls::pki_types::pem::PemObject::from_pem_slice(&ca_pem).expect("ca pem");
    roots.add(ca).expect("root");
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let connection = rustls::ClientConnection::new(Arc::new(config), name).expect("client");
    let stream = std::net::TcpStream::connect(("127.0.0.1", server.ws_port)).expect("tcp");
    stream.set_read_timeout(Some(WAIT)).expect("timeout");
    let url = format!("wss://localhost:{}", server.ws_port);
    let (socket, response) =
        tungstenite::client(url, rustls::StreamOwned::new(connection, stream)).expect("handshake");
    assert_eq!(response.status(), 101);
    WsNats::new(socket)
}

/// Pub/sub, request/reply with headers and a large message between `client` (WebSocket) and
/// a raw client on the client port.
fn round_trips<S: Read + Write>(client: &mut WsNats<S>, server: &WsServer) {
    let name = server.name;
    client.send(b"CONNECT {\"verbose\":false,\"headers\":true,\"protocol\":1}\r\nSUB ws.sub 1\r\nSUB ws.reply 2\r\nSUB ws.large 3\r\nPING\r\n");
    assert_eq!(client.read_line(), "PONG\r\n", "{name}");
    let mut tcp = common::RawClient::connect(server.server.port);
    tcp.send(b"CONNECT {\"verbose\":false,\"headers\":true}\r\nSUB ws.service 1\r\nPUB ws.sub 5\r\nhello\r\nPING\r\n");
    tcp.expect(b"PONG\r\n");
    let message = client.read_until(b"hello\r\n");
    assert!(
        message.ends_with(b"MSG ws.sub 1 5\r\nhello\r\n"),
        "{name}: {message:?}"
    );

    // A request with a header; the service answers with one.
    let headers = "NATS/1.0\r\nX-Request: 42\r\n\r\n";
    client.send(
        format!(
            "HPUB ws.service ws.reply {} {}\r\n{headers}ping\r\n",
            headers.len(),
            headers.len() + 4
        )
        .as_bytes(),
    );
    let request = tcp.read_line(WAIT).expect("request");
    assert_eq!(
        request,
        format!(
            "HMSG ws.service 1 ws.reply {} {}\r\n",
            headers.len(),
            headers.len() + 4
        ),
        "{name}"
    );
    tcp.expect(format!("{headers}ping\r\n").as_bytes());
    let reply_headers = "NATS/1.0\r\nX-Reply: re:42\r\n\r\n";
    tcp.send(
        format!(
            "HPUB ws.reply {} {}\r\n{reply_headers}PING\r\n",
            reply_headers.len(),
            reply_headers.len() + 4
        )
        .as_bytes(),
    );
    let reply = client.read_until(b"PING\r\n");
    assert_eq!(
        String::from_utf8_lossy(&reply),
        format!(
            "HMSG ws.reply 2 {} {}\r\n{reply_headers}PING\r\n",
            reply_headers.len(),
            reply_headers.len() + 4
        ),
        "{name}"
    );

    // A large payload, sent as one WebSocket message and read back.
    let large: Vec<u8> = (0..200_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let mut publish = format!("PUB ws.large {}\r\n", large.len()).into_bytes();
    publish.extend_from_slice(&large);
    publish.extend_from_slice(b"\r\nPING\r\n");
    client.send(&publish);
    let echoed = client.read_until(b"PONG\r\n");
    let mut expected = format!("MSG ws.large 3 {}\r\n", large.len()).into_bytes();
    expected.extend_from_slice(&large);
    expected.extend_from_slice(b"\r\nPONG\r\n");
    assert!(echoed == expected, "{name}: large message differs");
}

#[test]
fn tungstenite_client_round_trips_over_ws_with_and_without_browser_framing() {
    for block in ["no_tls: true", "no_tls: true\n  compression: true"] {
        for server in WsServer::both(block, "") {
            round_trips(&mut ws_client(&server, &[]), &server);
            // A browser's user agent: the server cuts its frames to 4 KB.
            let browser = [("User-Agent", "Mozilla/5.0 (X11; Linux x86_64)")];
            round_trips(&mut ws_client(&server, &browser), &server);
        }
    }
}

#[test]
fn tungstenite_client_round_trips_over_wss() {
    let certs = Certificates::generate("wss");
    for server in WsServer::both(&certs.tls_block(), "") {
        round_trips(&mut wss_client(&server, &certs), &server);
        // Plain ws:// to a wss:// port gets no upgrade.
        let stream = std::net::TcpStream::connect(("127.0.0.1", server.ws_port)).expect("tcp");
        stream.set_read_timeout(Some(WAIT)).expect("timeout");
        assert!(
            tungstenite::client(server.ws_url(), stream).is_err(),
            "{}",
            server.name
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_nats_connects_over_ws_and_wss() {
    let certs = Certificates::generate("async-nats");
    for server in WsServer::both("no_tls: true\n  compression: true", "") {
        let client = async_nats::connect(server.ws_url()).await.expect("ws");
        client.flush().await.expect("round trip over ws");
    }
    for server in WsServer::both(&certs.tls_block(), "") {
        let url = format!("wss://localhost:{}", server.ws_port);
        let client = ConnectOptions::new()
            .add_root_certificates(certs.dir.join("ca.pem"))
            .connect(&url)
            .await
            .unwrap_or_else(|error| panic!("{}: {error}", server.name));
        client.flush().await.expect("round trip over wss");
    }
}

/// Whether `options` can connect to the WebSocket port and round-trip a PING.
async fn can_connect(server: &WsServer, options: ConnectOptions) -> bool {
    let options = options
        .connection_timeout(Duration::from_secs(5))
        .max_reconnects(Some(1));
    match options.connect(server.ws_url()).await {
        Ok(client) => client.flush().await.is_ok(),
        Err(_) => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_authorization_overrides_the_server_user() {
    let block = "no_tls: true\n  authorization { user: ws, password: wspass }";
    let top = "authorization { user: tcp, password: tcppass }";
    for server in WsServer::both(block, top) {
        let name = server.name;
        let user = |user: &str, pass: &str| {
            ConnectOptions::with_user_and_password(user.into(), pass.into())
        };
        assert!(can_connect(&server, user("ws", "wspass")).await, "{name}");
        assert!(
            !can_connect(&server, user("tcp", "tcppass")).await,
            "{name}"
        );
        assert!(!can_connect(&server, ConnectOptions::new()).await, "{name}");
        // The client port keeps its own user.
        let tcp = user("tcp", "tcppass").connect(server.server.url()).await;
        assert!(tcp.is_ok(), "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_token_and_no_auth_user() {
    for server in WsServer::both("no_tls: true\n  authorization { token: s3cret }", "") {
        let name = server.name;
        assert!(
            can_connect(&server, ConnectOptions::with_token("s3cret".into())).await,
            "{name}"
        );
        assert!(
            !can_connect(&server, ConnectOptions::with_token("wrong".into())).await,
            "{name}"
        );
        // The client port has no auth.
        assert!(
            async_nats::connect(server.server.url()).await.is_ok(),
            "{name}"
        );
    }
    let top = "authorization { users: [ {user: alice, password: apass}, {user: guest, password: gpass} ] }";
    for server in WsServer::both("no_tls: true\n  no_auth_user: guest", top) {
        let name = server.name;
        assert!(can_connect(&server, ConnectOptions::new()).await, "{name}");
        let (mut client, info) = RawWs::connect_with_info(server.ws_port, "");
        // Go's WebSocket INFO keeps `auth_required` (no `no_auth_user` adjustment).
        assert_eq!(info["auth_required"], true, "{name}: {info}");
        client.send(&binary(b"CONNECT {\"verbose\":false}\r\nPING\r\n"));
        let (text, _) = client.read_text_until("PONG\r\n", WAIT);
        assert_eq!(text, "PONG\r\n", "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_connection_types_tell_the_websocket_port_from_the_client_port() {
    let top = "authorization { users: [\n    {user: web, password: w, allowed_connection_types: [\"WEBSOCKET\"]}\n    {user: tcp, password: t, allowed_connection_types: [\"STANDARD\"]}\n  ] }";
    for server in WsServer::both("no_tls: true", top) {
        let name = server.name;
        let user = |user: &str, pass: &str| {
            ConnectOptions::with_user_and_password(user.into(), pass.into())
                .connection_timeout(Duration::from_secs(5))
                .max_reconnects(Some(1))
        };
        assert!(can_connect(&server, user("web", "w")).await, "{name}");
        assert!(!can_connect(&server, user("tcp", "t")).await, "{name}");
        let tcp = user("tcp", "t").connect(server.server.url()).await;
        assert!(tcp.is_ok(), "{name}");
        let web = user("web", "w").connect(server.server.url()).await;
        assert!(web.is_err(), "{name}");
    }
}

#[test]
fn credentials_from_cookies_stand_in_for_connect_fields() {
    let block = "no_tls: true\n  authorization { user: ws, password: wspass }\n  user_cookie: u\n  pass_cookie: p";
    for server in WsServer::both(block, "") {
        let name = server.name;
        let (mut client, _) =
            RawWs::connect_with_info(server.ws_port, "Cookie: u=ws; p=wspass\r\n");
        client.send(&binary(b"CONNECT {\"verbose\":false}\r\nPING\r\n"));
        let (text, _) = client.read_text_until("PONG\r\n", WAIT);
        assert_eq!(text, "PONG\r\n", "{name}");
        let (mut client, _) = RawWs::connect_with_info(server.ws_port, "Cookie: u=ws; p=bad\r\n");
        client.send(&binary(b"CONNECT {\"verbose\":false}\r\nPING\r\n"));
        let (text, _) = client.read_text_until("PONG\r\n", WAIT);
        assert_eq!(text, "-ERR 'Authorization Violation'\r\n", "{name}");
    }
}

/// The status code of an upgrade sent with `origin`.
fn upgrade_status(port: u16, origin: &str) -> String {
    let header = format!("Origin: {origin}\r\n");
    let (head, _) = RawWs::open(port, upgrade_request(port, &header).as_bytes());
    head.split(' ').nth(1).unwrap_or_default().to_string()
}

#[test]
fn origins_are_checked_as_on_go() {
    for server in WsServer::both("no_tls: true\n  same_origin: true", "") {
        let port = server.ws_port;
        let same = format!("http://127.0.0.1:{port}");
        assert_eq!(upgrade_status(port, &same), "101", "{}", server.name);
        assert_eq!(
            upgrade_status(port, "http://evil.example"),
            "403",
            "{}",
            server.name
        );
        assert_eq!(
            upgrade_status(port, &format!("https://127.0.0.1:{port}")),
            "403",
            "{}",
            server.name
        );
    }
    let block =
        "no_tls: true\n  allowed_origins: [\"https://app.example\", \"http://localhost:8000\"]";
    for server in WsServer::both(block, "") {
        let port = server.ws_port;
        for (origin, status) in [
            ("https://app.example", "101"),
            ("https://app.example:443", "101"),
            ("http://localhost:8000", "101"),
            ("http://app.example", "403"),
            ("http://localhost:8001", "403"),
        ] {
            assert_eq!(
                upgrade_status(port, origin),
                status,
                "{}: {origin}",
                server.name
            );
        }
    }
}

#[test]
fn tungstenite_client_speaks_nats_with_pings_and_close_codes() {
    use tungstenite::protocol::frame::coding::CloseCode;
    use tungstenite::protocol::CloseFrame;
    use tungstenite::Message;
    for server in WsServer::both("no_tls: true", "") {
        let name = server.name;
        let stream = std::net::TcpStream::connect(("127.0.0.1", server.ws_port)).expect("tcp");
        stream.set_read_timeout(Some(WAIT)).expect("timeout");
        let (mut socket, response) =
            tungstenite::client(server.ws_url(), stream).expect("handshake");
        assert_eq!(response.status(), 101, "{name}");
        let info = socket.read().expect("INFO");
        assert!(info.into_data().starts_with(b"INFO {"), "{name}");
        socket
            .send(Message::text("CONNECT {\"verbose\":false}\r\nSUB t 1\r\n"))
            .expect("send");
        socket
            .send(Message::Ping("are you there".into()))
            .expect("ping");
        socket
            .send(Message::binary(&b"PUB t 3\r\nabc\r\nPING\r\n"[..]))
            .expect("send");
        let mut text = Vec::new();
        let mut pong = None;
        while !text.ends_with(b"PONG\r\n") {
            match socket.read().expect("read") {
                Message::Pong(payload) => pong = Some(payload),
                Message::Binary(data) => text.extend_from_slice(&data),
                other => panic!("{name}: unexpected {other:?}"),
            }
        }
        assert_eq!(pong.as_deref(), Some(&b"are you there"[..]), "{name}");
        assert_eq!(text, b"MSG t 1 3\r\nabc\r\nPONG\r\n", "{name}");
        socket
            .close(Some(CloseFrame {
                code: CloseCode::Away,
                reason: "leaving".into(),
            }))
            .expect("close");
        let answer = loop {
            match socket.read() {
                Ok(Message::Close(frame)) => break frame,
                Ok(_) => continue,
                Err(error) => panic!("{name}: {error}"),
            }
        };
        let answer = answer.expect("a close frame with a status");
        assert_eq!(answer.code, CloseCode::Away, "{name}");
        assert_eq!(answer.reason.as_str(), "leaving", "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_clients_appear_in_connz_and_varz_as_on_go() {
    let block =
        "no_tls: true\n  compression: true\n  same_origin: true\n  handshake_timeout: \"3s\"";
    let mut documents = Vec::new();
    for server in WsServer::both(block, "") {
        let monitor = server.server.monitor_port.expect("monitor port");
        let client = async_nats::connect(server.ws_url())
            .await
            .expect("ws client");
        let _plain = async_nats::connect(server.server.url())
            .await
            .expect("plain");
        client.flush().await.expect("flush");
        let (status, body) = common::http_get(monitor, "/connz");
        assert_eq!(status, 200);
        let connz: serde_json::Value = serde_json::from_str(&body).expect("connz json");
        let mut types: Vec<String> = connz["connections"]
            .as_array()
            .expect("connections")
            .iter()
            .map(|connection| connection["type"].as_str().unwrap_or_default().to_string())
            .collect();
        types.sort();
        assert_eq!(types, ["nats", "websocket"], "{}", server.name);
        let (_, body) = common::http_get(monitor, "/varz");
        let varz: serde_json::Value = serde_json::from_str(&body).expect("varz json");
        let mut websocket = varz["websocket"].clone();
        assert_eq!(websocket["port"], server.ws_port, "{}", server.name);
        websocket["port"] = serde_json::Value::from("<masked>");
        documents.push(websocket);
    }
    assert_eq!(documents[0], documents[1]);
}
