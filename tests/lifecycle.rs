//! The server's life as an operator's tools see it: one server per port (a second start on a
//! busy client or monitoring port fails with the Go server's fatal line), IPv6 clients on the
//! default address, the port free the moment the process is gone, restarts that serve every
//! client at once, and a SIGTERM that delivers what subscribers have queued.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{RawClient, TestServer};

/// Runs a server that is expected to fail at start, and returns its output.
fn run_to_exit(binary: &str, args: &[&str]) -> Output {
    let mut child = Command::new(binary)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return child.wait_with_output().expect("output");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let output = child.wait_with_output().expect("output");
    panic!(
        "{binary} {args:?} kept running on a busy port: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The text after `[FTL] ` in a log, if any.
fn fatal_line(output: &Output) -> String {
    let log = String::from_utf8_lossy(&output.stderr);
    log.lines()
        .find_map(|line| line.split("[FTL] ").nth(1))
        .unwrap_or_else(|| panic!("no [FTL] line in: {log}"))
        .to_string()
}

fn natrix_bin() -> &'static str {
    env!("CARGO_BIN_EXE_natrix")
}

/// Every one of `count` new connections gets INFO and answers PING (so they all reached a
/// server that serves them, not a listener about to close).
fn all_served(port: u16, count: usize) {
    for _ in 0..count {
        let mut client = RawClient::connect(port);
        client.send(b"CONNECT {\"verbose\":false}\r\nPING\r\n");
        client.expect(b"PONG\r\n");
    }
}

#[test]
fn a_second_server_on_a_busy_client_port_exits_with_the_go_fatal_line() {
    let port = common::free_port();
    let port_arg = port.to_string();
    let first = TestServer::natrix(2, &["-p", &port_arg]);
    assert_eq!(first.port, port);
    let expected = format!(
        "Error listening on port: 127.0.0.1:{port}, \"listen tcp 127.0.0.1:{port}: bind: address already in use\""
    );
    for shards in ["1", "2", "3"] {
        let output = run_to_exit(
            natrix_bin(),
            &["-a", "127.0.0.1", "-p", &port_arg, "--shards", shards],
        );
        assert_eq!(output.status.code(), Some(1), "{shards} shards");
        assert_eq!(fatal_line(&output), expected, "{shards} shards");
        assert!(!String::from_utf8_lossy(&output.stderr).contains("Server is ready"));
    }
    // The Go server says the same about a port Natrix owns, and Natrix about one Go owns.
    let go = run_to_exit(
        &common::go_server_binary(),
        &["-a", "127.0.0.1", "-p", &port_arg],
    );
    assert_eq!(go.status.code(), Some(1));
    assert_eq!(fatal_line(&go), expected);
    // Every new client still reaches the first server (none went to a second one).
    all_served(port, 20);
    drop(first);

    let go_server = TestServer::go(&["-p", &port_arg]);
    let output = run_to_exit(natrix_bin(), &["-a", "127.0.0.1", "-p", &port_arg]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(fatal_line(&output), expected);
    drop(go_server);
}

#[test]
fn a_second_server_on_a_busy_monitoring_port_exits_with_the_go_fatal_line() {
    let monitor_port = common::free_port().to_string();
    let _first = TestServer::natrix(2, &["-m", &monitor_port]);
    let expected = format!(
        "Can't start monitoring: can't listen to the monitor port: listen tcp 127.0.0.1:{monitor_port}: bind: address already in use"
    );
    let ours = run_to_exit(
        natrix_bin(),
        &["-a", "127.0.0.1", "-p", "-1", "-m", &monitor_port],
    );
    assert_eq!(ours.status.code(), Some(1));
    assert_eq!(fatal_line(&ours), expected);
    let theirs = run_to_exit(
        &common::go_server_binary(),
        &["-a", "127.0.0.1", "-p", "-1", "-m", &monitor_port],
    );
    assert_eq!(theirs.status.code(), Some(1));
    assert_eq!(fatal_line(&theirs), expected);
}

/// Whether this host can use IPv6 loopback at all.
fn ipv6_loopback_works() -> bool {
    std::net::TcpListener::bind("[::1]:0").is_ok()
}

#[test]
fn ipv6_and_ipv4_clients_reach_the_default_address_as_on_the_go_server() {
    if !ipv6_loopback_works() {
        eprintln!("no IPv6 loopback on this host: nothing to test");
        return;
    }
    for (who, server) in [
        ("go", TestServer::go(&["-a", "0.0.0.0"])),
        ("natrix", TestServer::natrix(2, &["-a", "0.0.0.0"])),
    ] {
        assert!(
            server
                .startup_log
                .iter()
                .any(|line| line.contains("Listening for client connections on 0.0.0.0:")),
            "{who}: {:#?}",
            server.startup_log
        );
        for (address, client_ip) in [
            (
                SocketAddr::from(([0u16, 0, 0, 0, 0, 0, 0, 1], server.port)),
                "::1",
            ),
            (SocketAddr::from(([127, 0, 0, 1], server.port)), "127.0.0.1"),
        ] {
            let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(5))
                .unwrap_or_else(|error| panic!("{who}: {address} refused: {error}"));
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .expect("timeout");
            let mut info = Vec::new();
            let mut byte = [0u8; 1];
            while !info.ends_with(b"\r\n") {
                stream.read_exact(&mut byte).expect("INFO");
                info.push(byte[0]);
            }
            let json: serde_json::Value =
                serde_json::from_slice(info.strip_prefix(b"INFO ").expect("INFO line"))
                    .expect("INFO is JSON");
            assert_eq!(json["client_ip"], client_ip, "{who}: {address}");
            stream
                .write_all(b"CONNECT {\"verbose\":false}\r\nPING\r\n")
                .expect("write");
            let mut reply = [0u8; 6];
            stream.read_exact(&mut reply).expect("PONG");
            assert_eq!(&reply, b"PONG\r\n", "{who}: {address}");
        }
    }
}

/// Waits for `path` to exist with content, and returns it.
fn read_when_written(path: &std::path::Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            if !text.is_empty() {
                return text;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{} was not written",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn the_ports_file_has_the_go_name_and_json_and_is_removed_at_exit() {
    let dir = std::env::temp_dir().join(format!("natrix-ports-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let dir_arg = dir.to_str().expect("utf-8");
    let config = dir.join("ports.conf");
    std::fs::write(&config, format!("ports_file_dir: \"{dir_arg}\"\n")).expect("config");
    let config = config.to_str().expect("utf-8");
    let monitor = common::free_port().to_string();
    let cases = [
        (
            "go",
            "nats-server",
            vec!["--ports_file_dir", dir_arg, "-m", &monitor],
        ),
        (
            "natrix",
            "natrix",
            vec!["--ports_file_dir", dir_arg, "-m", &monitor],
        ),
        ("natrix with the config key", "natrix", vec!["-c", config]),
    ];
    let mut shapes = Vec::new();
    for (who, program, args) in cases {
        let server = if who == "go" {
            TestServer::go(&args)
        } else {
            TestServer::natrix(2, &args)
        };
        let path = dir.join(format!("{program}_{}.ports", server.pid()));
        let text = read_when_written(&path);
        let mut shape = text.replace(&server.port.to_string(), "PORT");
        if let Some(port) = server.monitor_port {
            shape = shape.replace(&port.to_string(), "MONITOR");
        }
        shapes.push((who, shape));
        assert_eq!(server.stop(), Some(0), "{who}");
        assert!(!path.exists(), "{who}: {} left behind", path.display());
    }
    assert_eq!(
        shapes[0].1,
        r#"{"nats":["nats://127.0.0.1:PORT"],"monitoring":["http://127.0.0.1:MONITOR"]}"#
    );
    assert_eq!(shapes[1].1, shapes[0].1, "natrix");
    assert_eq!(shapes[2].1, r#"{"nats":["nats://127.0.0.1:PORT"]}"#);
}

// ----- shutdown and restart (the shard lifecycle: issue 11 items 2 and 3) ---------------

/// A server on `port` with a few connections that subscribe, publish and receive.
fn busy_server(port: u16) -> (TestServer, Vec<RawClient>) {
    let server = TestServer::natrix(2, &["-p", &port.to_string()]);
    let mut clients = Vec::new();
    for index in 0..6 {
        let mut client = RawClient::connect(server.port);
        client.send(
            format!("CONNECT {{\"verbose\":false}}\r\nSUB work.{index} 1\r\nSUB all 2\r\nPING\r\n")
                .as_bytes(),
        );
        client.expect(b"PONG\r\n");
        clients.push(client);
    }
    clients[0].send(b"PUB all 2\r\nhi\r\nPING\r\n");
    clients[0].expect(b"MSG all 2 2\r\nhi\r\nPONG\r\n");
    for client in &mut clients[1..] {
        client.expect(b"MSG all 2 2\r\nhi\r\n");
    }
    (server, clients)
}

/// SIGTERM, then blocks until the kernel reports the process gone (no polling delay), and
/// returns its exit code.
fn terminate_and_reap(server: &TestServer) -> i32 {
    let pid = server.pid() as libc::pid_t;
    let mut status = 0;
    // SAFETY: kill(2) and waitpid(2) on our own child; `status` is a valid out pointer.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
        assert_eq!(libc::waitpid(pid, &mut status, 0), pid, "waitpid");
    }
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    }
}

#[test]
fn the_port_takes_a_plain_bind_right_after_the_server_exits() {
    for cycle in 0..10 {
        let port = common::free_port();
        let (server, clients) = busy_server(port);
        // The clients leave first, so every shard's accept loop is idle, waiting in the ring.
        drop(clients);
        assert_eq!(terminate_and_reap(&server), 0, "cycle {cycle}");
        // Once the process is gone, nothing may hold the port: not even pending accepts.
        let bound = std::net::TcpListener::bind(("127.0.0.1", port));
        assert!(
            bound.is_ok(),
            "cycle {cycle}: port {port} still held: {bound:?}"
        );
    }
}

#[test]
fn ten_stop_and_restart_cycles_serve_every_client_at_once() {
    let port = common::free_port();
    for cycle in 0..10 {
        let (server, clients) = busy_server(port);
        // Connections made right after start, several per shard, must all be served.
        all_served(port, 10);
        drop(clients);
        assert_eq!(terminate_and_reap(&server), 0, "cycle {cycle}");
    }
}

/// A subscriber that reads slowly through a small receive buffer, so that what the server
/// has for it waits in the server's outbound buffer.
struct SlowReader {
    stream: TcpStream,
    received: Vec<u8>,
}

impl SlowReader {
    fn connect(port: u16, subject: &str) -> SlowReader {
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .expect("socket");
        socket.set_recv_buffer_size(16 * 1024).expect("SO_RCVBUF");
        let address: SocketAddr = ([127, 0, 0, 1], port).into();
        socket.connect(&address.into()).expect("connect");
        let mut stream: TcpStream = socket.into();
        stream
            .write_all(
                format!("CONNECT {{\"verbose\":false}}\r\nSUB {subject} 1\r\nPING\r\n").as_bytes(),
            )
            .expect("subscribe");
        let mut reader = SlowReader {
            stream,
            received: Vec::new(),
        };
        while !reader.received.ends_with(b"PONG\r\n") {
            reader.read_some(Duration::from_secs(5));
        }
        reader.received.clear();
        reader
    }

    /// One read of at most 16 KiB; false once the server has closed the connection.
    fn read_some(&mut self, timeout: Duration) -> bool {
        self.stream
            .set_read_timeout(Some(timeout))
            .expect("timeout");
        let mut chunk = [0u8; 16 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) => false,
            Ok(count) => {
                self.received.extend_from_slice(&chunk[..count]);
                true
            }
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                true
            }
            Err(_) => false,
        }
    }
}

#[test]
fn sigterm_delivers_every_queued_message_to_slow_readers() {
    const SUBSCRIBERS: usize = 20;
    const MESSAGES: usize = 2_000;
    let server = TestServer::natrix(2, &[]);
    let mut readers: Vec<SlowReader> = (0..SUBSCRIBERS)
        .map(|_| SlowReader::connect(server.port, "fan"))
        .collect();
    let mut publisher = RawClient::connect(server.port);
    publisher.send(b"CONNECT {\"verbose\":false}\r\n");
    let payload = vec![b'x'; 1024];
    let mut batch = Vec::new();
    for _ in 0..MESSAGES {
        batch.extend_from_slice(b"PUB fan 1024\r\n");
        batch.extend_from_slice(&payload);
        batch.extend_from_slice(b"\r\n");
    }
    batch.extend_from_slice(b"PING\r\n");
    publisher.send(&batch);
    publisher.expect(b"PONG\r\n");
    // Every message is now in the server's hands, mostly queued for the slow readers.
    // SAFETY: kill(2) on our own child's pid.
    unsafe {
        libc::kill(server.pid() as i32, libc::SIGTERM);
    }
    // Each reader takes its 2 MB at 16 KiB per 25 ms, all at once: each write of the server
    // progresses well within the write deadline, yet the whole takes longer than a fixed
    // shutdown grace of a couple of seconds.
    let expected_bytes = MESSAGES * ("MSG fan 1 1024\r\n".len() + 1024 + 2);
    let reading: Vec<_> = readers
        .drain(..)
        .map(|mut reader| {
            std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(60);
                while Instant::now() < deadline && reader.read_some(Duration::from_secs(15)) {
                    std::thread::sleep(Duration::from_millis(25));
                }
                reader.received
            })
        })
        .collect();
    for (index, reading) in reading.into_iter().enumerate() {
        let received = reading.join().expect("reader");
        let delivered = received
            .windows(b"MSG fan 1 1024\r\n".len())
            .filter(|window| window == b"MSG fan 1 1024\r\n")
            .count();
        assert_eq!(
            (delivered, received.len()),
            (MESSAGES, expected_bytes),
            "subscriber {index} got {delivered} of {MESSAGES} messages before the close"
        );
    }
    assert_eq!(server.stop(), Some(0));
}
