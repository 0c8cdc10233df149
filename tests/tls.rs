//! TLS on the client port, against real processes: `async-nats` over TLS, client
//! certificates, handshake-first, and the bytes a plaintext or silent client sees, compared
//! with the Go server run with the same certificates.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::ConnectOptions;
use bytes::Bytes;
use common::{RawClient, TestServer};
use futures_util::StreamExt;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SanType};

/// A CA, a server certificate for localhost/127.0.0.1 and a client certificate with an email
/// SAN, written as PEM files into a fresh directory.
struct Certificates {
    dir: PathBuf,
}

impl Certificates {
    fn generate(name: &str) -> Certificates {
        let dir = std::env::temp_dir().join(format!("natrix-tls-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let ca_key = KeyPair::generate().expect("ca key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "Natrix Test CA");
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

        let client_key = KeyPair::generate().expect("client key");
        let mut client_params = CertificateParams::new(Vec::<String>::new()).expect("params");
        client_params
            .distinguished_name
            .push(DnType::CommonName, "alice");
        client_params.subject_alt_names = vec![SanType::Rfc822Name(
            "alice@example.com".try_into().expect("ia5 string"),
        )];
        let client = client_params
            .signed_by(&client_key, &issuer)
            .expect("client cert");

        let write = |file: &str, text: String| {
            std::fs::write(dir.join(file), text).expect("write pem");
        };
        write("ca.pem", ca.pem());
        write("server-cert.pem", server.pem());
        write("server-key.pem", server_key.serialize_pem());
        write("client-cert.pem", client.pem());
        write("client-key.pem", client_key.serialize_pem());
        Certificates { dir }
    }

    fn path(&self, file: &str) -> String {
        self.dir.join(file).to_string_lossy().into_owned()
    }

    fn server_args(&self) -> Vec<String> {
        vec![
            "--tls".into(),
            "--tlscert".into(),
            self.path("server-cert.pem"),
            "--tlskey".into(),
            self.path("server-key.pem"),
        ]
    }

    fn verify_args(&self) -> Vec<String> {
        let mut args = self.server_args();
        args.extend([
            "--tlsverify".into(),
            "--tlscacert".into(),
            self.path("ca.pem"),
        ]);
        args
    }

    /// A Go config file with a `tls {}` block (for settings Go has no flags for): `extra` goes
    /// into the block, `top_level` before it.
    fn go_config(&self, extra: &str, top_level: &str) -> String {
        let file = self
            .dir
            .join(format!("go-{}-{}.conf", extra.len(), top_level.len()));
        let text = format!(
            "{top_level}\ntls {{\n  cert_file: \"{}\"\n  key_file: \"{}\"\n  {extra}\n}}\n",
            self.path("server-cert.pem"),
            self.path("server-key.pem"),
        );
        std::fs::write(&file, text).expect("write config");
        file.to_string_lossy().into_owned()
    }

    fn client_options(&self) -> ConnectOptions {
        ConnectOptions::new()
            .connection_timeout(Duration::from_secs(5))
            .require_tls(true)
            .add_root_certificates(self.dir.join("ca.pem"))
    }

    fn with_client_certificate(&self, options: ConnectOptions) -> ConnectOptions {
        options.add_client_certificate(
            self.dir.join("client-cert.pem"),
            self.dir.join("client-key.pem"),
        )
    }
}

impl Drop for Certificates {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn natrix(shards: usize, args: &[String]) -> TestServer {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    TestServer::natrix(shards, &args)
}

fn go(args: &[String]) -> TestServer {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    TestServer::go(&args)
}

fn tls_url(server: &TestServer) -> String {
    format!("tls://127.0.0.1:{}", server.port)
}

/// Subscribes to `subject`, publishes `payload` to it and waits for it to come back.
async fn round_trip(client: &async_nats::Client, subject: &'static str, payload: &'static [u8]) {
    let mut subscription = client.subscribe(subject).await.expect("sub");
    client
        .publish(subject, Bytes::from_static(payload))
        .await
        .expect("pub");
    let message = tokio::time::timeout(Duration::from_secs(5), subscription.next())
        .await
        .expect("in time")
        .expect("message");
    assert_eq!(message.payload, Bytes::from_static(payload));
}

/// The INFO line's TLS fields: (tls_required, tls_verify, tls_available), absent as None.
fn tls_fields(info: &serde_json::Value) -> [Option<bool>; 3] {
    ["tls_required", "tls_verify", "tls_available"].map(|key| info.get(key)?.as_bool())
}

#[tokio::test]
async fn tls_client_round_trips_publish_subscribe_and_request() {
    let certs = Certificates::generate("roundtrip");
    let server = natrix(2, &certs.server_args());
    let subscriber = certs
        .client_options()
        .connect(tls_url(&server))
        .await
        .expect("TLS connect");
    let publisher = certs
        .client_options()
        .connect(tls_url(&server))
        .await
        .expect("TLS connect");
    let mut messages = subscriber.subscribe("tls.data").await.expect("sub");
    let mut requests = subscriber.subscribe("tls.service").await.expect("sub");
    subscriber.flush().await.expect("flush");
    // Subscriptions on another shard become visible within a few round trips.
    let deadline = Instant::now() + Duration::from_secs(5);
    let large = Bytes::from(vec![b'x'; 200 * 1024]);
    let mut received = None;
    while received.is_none() && Instant::now() < deadline {
        publisher
            .publish("tls.data", large.clone())
            .await
            .expect("pub");
        publisher.flush().await.expect("flush");
        received = tokio::time::timeout(Duration::from_millis(50), messages.next())
            .await
            .ok()
            .flatten();
    }
    assert_eq!(received.expect("message over TLS").payload, large);

    let responder = tokio::spawn(async move {
        let subscriber = subscriber;
        if let Some(request) = requests.next().await {
            let reply = request.reply.expect("reply subject");
            subscriber
                .publish(reply, Bytes::from_static(b"pong"))
                .await
                .expect("respond");
            subscriber.flush().await.expect("flush");
        }
    });
    let response = publisher
        .request("tls.service", Bytes::from_static(b"ping"))
        .await
        .expect("request over TLS");
    assert_eq!(response.payload, Bytes::from_static(b"pong"));
    responder.await.expect("responder");
}

#[test]
fn info_tls_fields_match_go_for_the_same_settings() {
    let certs = Certificates::generate("info");
    let allow = certs.go_config("", "allow_non_tls: true");
    let natrix_allow = {
        let mut args = certs.server_args();
        args.push("--tls_allow_non_tls".into());
        args
    };
    let cases: Vec<(Vec<String>, Vec<String>)> = vec![
        (certs.server_args(), certs.server_args()),
        (certs.verify_args(), certs.verify_args()),
        (natrix_allow, vec!["-c".into(), allow.clone()]),
        // The same config file for both.
        (vec!["-c".into(), allow.clone()], vec!["-c".into(), allow]),
    ];
    for (natrix_args, go_args) in cases {
        let natrix_server = natrix(1, &natrix_args);
        let go_server = go(&go_args);
        let natrix_info = RawClient::connect(natrix_server.port).info;
        let go_info = RawClient::connect(go_server.port).info;
        assert_eq!(
            tls_fields(&natrix_info),
            tls_fields(&go_info),
            "INFO for {natrix_args:?}: natrix {natrix_info} go {go_info}"
        );
    }
}

/// The file's top-level `allow_non_tls: true` holds when the `--tls*` flags supply the TLS
/// settings (Go keeps it apart from them): INFO offers TLS without requiring it, and a
/// plaintext client is served, on both servers.
#[test]
fn allow_non_tls_from_the_file_holds_for_tls_from_flags() {
    let certs = Certificates::generate("allow-flags");
    let file = certs.dir.join("allow.conf");
    std::fs::write(&file, "allow_non_tls: true\n").expect("config");
    let mut args = vec!["-c".to_string(), file.to_string_lossy().into_owned()];
    args.extend(certs.server_args());
    for (name, server) in [("go", go(&args)), ("natrix", natrix(2, &args))] {
        let mut client = RawClient::connect(server.port);
        assert_eq!(
            tls_fields(&client.info),
            [None, None, Some(true)],
            "{name}: {}",
            client.info
        );
        client.send(b"CONNECT {\"verbose\":false}\r\nPING\r\n");
        client.expect(b"PONG\r\n");
    }
}

/// `verify_and_map` from the config file: the client certificate's email SAN names the user,
/// whose permissions then apply, on both servers.
#[tokio::test]
async fn verify_and_map_logs_in_the_user_the_certificate_names() {
    let certs = Certificates::generate("map");
    let config = certs.go_config(
        &format!("ca_file: \"{}\"\n  verify_and_map: true", certs.path("ca.pem")),
        "authorization {\n  users: [{user: \"alice@example.com\", permissions: {publish: \"allowed\", subscribe: \">\"}}]\n}",
    );
    for (name, server) in [
        ("go", go(&["-c".into(), config.clone()])),
        ("natrix", natrix(2, &["-c".into(), config.clone()])),
    ] {
        let client = certs
            .with_client_certificate(certs.client_options())
            .connect(tls_url(&server))
            .await
            .unwrap_or_else(|error| panic!("{name}: mapped client connects: {error}"));
        let mut subscription = client.subscribe(">").await.expect("sub");
        client.flush().await.expect("flush");
        client
            .publish("denied", Bytes::from_static(b"no"))
            .await
            .expect("pub");
        client
            .publish("allowed", Bytes::from_static(b"yes"))
            .await
            .expect("pub");
        let message = tokio::time::timeout(Duration::from_secs(5), subscription.next())
            .await
            .expect("in time")
            .expect("message");
        assert_eq!(
            message.subject.as_str(),
            "allowed",
            "{name}: the mapped user's publish permissions apply"
        );
    }
}

#[tokio::test]
async fn verify_refuses_a_client_without_certificate_and_accepts_one_with() {
    let certs = Certificates::generate("verify");
    let server = natrix(1, &certs.verify_args());
    let refused = certs
        .client_options()
        .retry_on_initial_connect()
        .max_reconnects(1)
        .connect(tls_url(&server))
        .await;
    if let Ok(client) = refused {
        // The client may report the failure only once it uses the connection.
        let flushed = tokio::time::timeout(Duration::from_secs(2), client.flush()).await;
        assert!(
            !matches!(flushed, Ok(Ok(()))),
            "a client without a certificate must not get a working connection"
        );
    }
    let accepted = certs
        .with_client_certificate(certs.client_options())
        .connect(tls_url(&server))
        .await
        .expect("client with certificate connects");
    round_trip(&accepted, "verified", b"hi").await;
}

#[tokio::test]
async fn handshake_first_client_connects_and_gets_info_after_the_handshake() {
    let certs = Certificates::generate("first");
    let mut args = certs.server_args();
    args.push("--tls_handshake_first".into());
    let server = natrix(1, &args);
    let client = certs
        .client_options()
        .tls_first()
        .connect(tls_url(&server))
        .await
        .expect("handshake-first connect");
    round_trip(&client, "first", b"hello").await;

    // The INFO that follows the handshake carries the same TLS fields as Go's.
    let go_server = go(&["-c".into(), certs.go_config("handshake_first: true", "")]);
    let natrix_info = tls_first_info(&certs, server.port);
    let go_info = tls_first_info(&certs, go_server.port);
    assert_eq!(tls_fields(&natrix_info), tls_fields(&go_info));
    assert_eq!(tls_fields(&natrix_info), [Some(true), None, None]);
}

/// Connects with a raw rustls client, handshake first, and reads the INFO line.
/// A TLS client that trusts the test CA (no client certificate).
fn tls_stream(
    certs: &Certificates,
    port: u16,
) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
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
    let socket = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    rustls::StreamOwned::new(connection, socket)
}

/// `-ms`: the monitor serves HTTPS with the client port's certificate, on both servers, and
/// `/varz` reports it as `https_port`.
#[test]
fn https_monitoring_uses_the_client_port_certificate() {
    let certs = Certificates::generate("https");
    let mut args = certs.server_args();
    args.extend(["-ms".to_string(), "-1".to_string()]);
    let go_args = {
        let mut args = certs.server_args();
        args.extend(["-ms".to_string(), common::free_port().to_string()]);
        args
    };
    for (name, server) in [("go", go(&go_args)), ("natrix", natrix(1, &args))] {
        let port = server.monitor_port.expect("https monitor port in the log");
        let mut stream = tls_stream(&certs, port);
        stream
            .write_all(b"GET /varz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .expect("request");
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response);
        let text = String::from_utf8_lossy(&response);
        assert!(text.starts_with("HTTP/1.1 200"), "{name}: {text}");
        let body = &text[text.find("\r\n\r\n").expect("headers end") + 4..];
        // Go may send the body chunked; the JSON object is what matters.
        let json_start = body.find('{').expect("a JSON body");
        let json_end = body.rfind('}').expect("a JSON body");
        let varz: serde_json::Value =
            serde_json::from_str(&body[json_start..=json_end]).expect("varz JSON");
        assert_eq!(varz["https_port"], port, "{name}");
        assert_eq!(varz["http_port"], 0, "{name}");
    }
}

fn tls_first_info(certs: &Certificates, port: u16) -> serde_json::Value {
    let mut stream = tls_stream(certs, port);
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        stream.read_exact(&mut byte).expect("INFO over TLS");
        line.push(byte[0]);
    }
    let _ = stream.write_all(b"");
    let text = String::from_utf8(line).expect("utf8");
    let json = text.strip_prefix("INFO ").expect("INFO").trim_end();
    serde_json::from_str(json).expect("INFO json")
}

/// Reads what a raw plaintext client gets after INFO, having sent `input`, until the server
/// closes (or 4 s pass quietly).
fn plaintext_exchange(port: u16, input: &[u8]) -> (String, bool) {
    let mut client = RawClient::connect(port);
    if !input.is_empty() {
        let _ = client.try_send(input);
    }
    let (bytes, closed) = client.read_until_quiet(Duration::from_secs(4));
    (String::from_utf8_lossy(&bytes).into_owned(), closed)
}

#[test]
fn plaintext_client_on_a_tls_port_gets_the_same_bytes_as_from_go() {
    let certs = Certificates::generate("plain");
    let natrix_server = natrix(1, &certs.server_args());
    let go_server = go(&certs.server_args());
    let input = b"CONNECT {\"verbose\":false}\r\nPING\r\n";
    let from_natrix = plaintext_exchange(natrix_server.port, input);
    let from_go = plaintext_exchange(go_server.port, input);
    assert_eq!(from_natrix, from_go);
    assert!(from_natrix.1, "the server closes the connection");
}

#[test]
fn silent_client_is_closed_when_the_handshake_times_out_as_on_go() {
    let certs = Certificates::generate("silent");
    let mut natrix_args = certs.server_args();
    natrix_args.extend(["--tls_timeout".to_string(), "500ms".to_string()]);
    let natrix_server = natrix(1, &natrix_args);
    let go_server = go(&["-c".into(), certs.go_config("timeout: 0.5", "")]);
    let started = Instant::now();
    let from_natrix = plaintext_exchange(natrix_server.port, b"");
    assert!(from_natrix.1, "natrix closes a silent client");
    assert!(started.elapsed() < Duration::from_secs(3));
    let from_go = plaintext_exchange(go_server.port, b"");
    assert_eq!(from_natrix, from_go);
}

#[tokio::test]
async fn allow_non_tls_serves_plaintext_and_tls_clients() {
    let certs = Certificates::generate("mixed");
    let mut args = certs.server_args();
    args.push("--tls_allow_non_tls".into());
    let server = natrix(1, &args);
    let mut plain = RawClient::connect(server.port);
    assert_eq!(plain.info["tls_available"], serde_json::Value::Bool(true));
    plain.send(b"CONNECT {\"verbose\":false}\r\nPING\r\n");
    plain.expect(b"PONG\r\n");
    let secure = certs
        .client_options()
        .connect(tls_url(&server))
        .await
        .expect("TLS client on a mixed port");
    round_trip(&secure, "mixed", b"over tls").await;
}

/// With `allow_non_tls`, a client that sends nothing within the TLS timeout is taken as a
/// plaintext client (as the Go server does), and later closed as stale by the pinger: the
/// same bytes from both servers.
#[test]
fn silent_client_on_a_mixed_port_becomes_plaintext_and_then_stale_as_on_go() {
    let certs = Certificates::generate("mixed-silent");
    let config = certs.go_config(
        "timeout: 0.5",
        "allow_non_tls: true\nping_interval: \"300ms\"\nping_max: 1",
    );
    let natrix_server = natrix(1, &["-c".into(), config.clone()]);
    let go_server = go(&["-c".into(), config]);
    let (from_natrix, natrix_closed) = plaintext_exchange(natrix_server.port, b"");
    let (from_go, go_closed) = plaintext_exchange(go_server.port, b"");
    assert!(natrix_closed && go_closed, "both close the silent client");
    assert_eq!(from_natrix, from_go);
    assert_eq!(from_natrix, "PING\r\n-ERR 'Stale Connection'\r\n");
}

/// `handshake_first` with a fallback delay: a client that sends nothing within the delay
/// gets INFO in plaintext (with the port's `tls_required`) and goes on with the usual TLS
/// flow, while a TLS-first client still connects; the INFO matches the Go server's.
#[tokio::test]
async fn handshake_first_with_a_fallback_serves_tls_first_and_regular_tls_clients() {
    let certs = Certificates::generate("first-auto");
    let config = certs.go_config("handshake_first: \"300ms\"", "");
    let server = natrix(1, &["-c".into(), config.clone()]);
    let go_server = go(&["-c".into(), config]);
    for client_options in [certs.client_options().tls_first(), certs.client_options()] {
        let client = client_options
            .connect(tls_url(&server))
            .await
            .expect("connect, TLS first or after INFO");
        round_trip(&client, "auto", b"hi").await;
    }
    let started = Instant::now();
    let natrix_info = RawClient::connect(server.port).info;
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(250),
        "INFO only after the delay: {waited:?}"
    );
    let go_info = RawClient::connect(go_server.port).info;
    assert_eq!(tls_fields(&natrix_info), tls_fields(&go_info));
    assert_eq!(tls_fields(&natrix_info), [Some(true), None, None]);
}

#[test]
fn bad_certificate_file_is_a_start_up_error_naming_the_file() {
    let missing = Path::new("/nonexistent/natrix-cert.pem");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_natrix"))
        .args(["-p", "-1", "--tlscert"])
        .arg(missing)
        .args(["--tlskey", "/nonexistent/key.pem"])
        .output()
        .expect("run natrix");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("/nonexistent/natrix-cert.pem"),
        "error names the file: {stderr}"
    );
}

/// Pub/sub throughput over TLS, Natrix against Go on the same certificates and the same client
/// (`async-nats`, which is likely the limit). A measurement, not a check: run it with
/// `NATRIX_BIN=target/release/natrix cargo test --test tls -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement"]
async fn measure_tls_pub_sub_throughput() {
    let certs = Certificates::generate("measure");
    let natrix_bin =
        std::env::var("NATRIX_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_natrix").to_string());
    let args: Vec<String> = certs.server_args();
    let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
    for size in [16usize, 1024] {
        for (label, tls) in [("plain", false), ("tls", true)] {
            let natrix_args: &[&str] = if tls { &arg_refs } else { &[] };
            let natrix_server = TestServer::natrix_binary(&natrix_bin, 1, natrix_args);
            let natrix_rate = pub_sub_rate(&certs, &natrix_server, tls, size).await;
            drop(natrix_server);
            let go_server = TestServer::go(natrix_args);
            let go_rate = pub_sub_rate(&certs, &go_server, tls, size).await;
            println!(
                "pub/sub {label} {size}B: natrix {:.0} msgs/s, go {:.0} msgs/s, ratio {:.2}",
                natrix_rate,
                go_rate,
                natrix_rate / go_rate
            );
        }
    }
}

/// Messages per second from one publisher to one subscriber, timed until the last arrives.
async fn pub_sub_rate(certs: &Certificates, server: &TestServer, tls: bool, size: usize) -> f64 {
    const COUNT: usize = 300_000;
    let connect = || async {
        // A subscription buffer that holds every message: the client drops what overflows.
        if tls {
            certs
                .client_options()
                .subscription_capacity(COUNT)
                .connect(tls_url(server))
                .await
        } else {
            ConnectOptions::new()
                .subscription_capacity(COUNT)
                .connect(server.url())
                .await
        }
        .expect("connect")
    };
    let subscriber = connect().await;
    let publisher = connect().await;
    let mut subscription = subscriber.subscribe("measure").await.expect("sub");
    subscriber.flush().await.expect("flush");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let payload = Bytes::from(vec![b'x'; size]);
    let started = Instant::now();
    let receiver = tokio::spawn(async move {
        let mut received = 0;
        while received < COUNT {
            match tokio::time::timeout(Duration::from_secs(10), subscription.next()).await {
                Ok(Some(_)) => received += 1,
                _ => break,
            }
        }
        received
    });
    for _ in 0..COUNT {
        publisher
            .publish("measure", payload.clone())
            .await
            .expect("pub");
    }
    publisher.flush().await.expect("flush");
    let received = receiver.await.expect("receiver");
    let elapsed = started.elapsed();
    assert_eq!(received, COUNT, "every message arrives");
    received as f64 / elapsed.as_secs_f64()
}
