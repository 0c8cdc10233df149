//! Log output in the Go server's line format: `[PID] 2006/01/02 15:04:05.000000 [INF] text`.
//!
//! Operators' tooling greps these lines (`Listening for client connections on`, `Server is
//! ready`), so the format is part of the interface. Logging is off the message path: shards log
//! connection events and errors only, at debug level or above.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::sync::{Arc, Mutex};

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, Registry};

/// Where log lines go: standard error, a file (that SIGUSR1 reopens and `log_size_limit`
/// rotates), or syslog (`-s` local, `-r` remote).
#[derive(Clone)]
pub struct LogSink {
    target: Target,
}

#[derive(Clone)]
enum Target {
    Stderr,
    File(Arc<LogFile>),
    Syslog(Arc<Syslog>),
}

/// How a log file is rotated: by size, keeping some backups (Go's `log_size_limit` and
/// `logfile_max_num`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Rotation {
    /// Bytes after which the file is renamed to a timestamped backup; 0 never rotates.
    pub size_limit: u64,
    /// Files kept, the current one included; 0 keeps every backup.
    pub max_files: usize,
}

struct LogFile {
    path: String,
    rotation: Rotation,
    state: Mutex<FileState>,
}

struct FileState {
    file: File,
    written: u64,
}

/// A syslog destination: the local socket (`/dev/log`) or a remote `udp://host:port`.
struct Syslog {
    socket: std::net::UdpSocket,
    local: Option<std::os::unix::net::UnixDatagram>,
    remote: bool,
    hostname: String,
}

impl LogSink {
    pub fn open_file(path: Option<&str>, rotation: Rotation) -> io::Result<LogSink> {
        let target = match path {
            Some(path) => {
                let file = open_append(path)?;
                let written = file.metadata().map_or(0, |metadata| metadata.len());
                Target::File(Arc::new(LogFile {
                    path: path.to_string(),
                    rotation,
                    state: Mutex::new(FileState { file, written }),
                }))
            }
            None => Target::Stderr,
        };
        Ok(LogSink { target })
    }

    /// `-s` (local syslog at `/dev/log`) or `-r udp://host:port` (remote).
    pub fn syslog(remote: Option<&str>) -> io::Result<LogSink> {
        let socket = std::net::UdpSocket::bind(("0.0.0.0", 0))?;
        let (local, is_remote) = match remote {
            Some(url) => {
                let address = url
                    .strip_prefix("udp://")
                    .or_else(|| url.strip_prefix("udp:"))
                    .unwrap_or(url);
                let address = if address.contains(':') {
                    address.to_string()
                } else {
                    format!("{address}:514")
                };
                socket.connect(address)?;
                (None, true)
            }
            None => {
                let local = std::os::unix::net::UnixDatagram::unbound()?;
                local.connect("/dev/log")?;
                (Some(local), false)
            }
        };
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|name| name.trim().to_string())
            .unwrap_or_else(|_| "localhost".to_string());
        Ok(LogSink {
            target: Target::Syslog(Arc::new(Syslog {
                socket,
                local,
                remote: is_remote,
                hostname,
            })),
        })
    }

    /// Reopens the log file, so that a rotated file is let go.
    /// Whether log lines go to standard error (no log file, no syslog).
    pub fn is_stderr(&self) -> bool {
        matches!(self.target, Target::Stderr)
    }

    pub fn reopen(&self) -> io::Result<()> {
        if let Target::File(log) = &self.target {
            let reopened = open_append(&log.path)?;
            let mut state = log
                .state
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            state.written = reopened.metadata().map_or(0, |metadata| metadata.len());
            state.file = reopened;
        }
        Ok(())
    }
}

fn open_append(path: &str) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

impl LogFile {
    fn write(&self, bytes: &[u8]) -> io::Result<()> {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        state.file.write_all(bytes)?;
        state.written += bytes.len() as u64;
        let limit = self.rotation.size_limit;
        if limit > 0 && state.written > limit {
            self.rotate(&mut state)?;
        }
        Ok(())
    }

    /// As the Go server: rename to `FILE.YYYY.MM.DD.hh.mm.ss.nnnnnnnnn`, start a new file
    /// that says where the backup went, and drop the oldest backups beyond `max_files`.
    fn rotate(&self, state: &mut FileState) -> io::Result<()> {
        let now = chrono::Local::now();
        let backup = format!("{}.{}", self.path, now.format("%Y.%m.%d.%H.%M.%S.%9f"));
        std::fs::rename(&self.path, &backup)?;
        state.file = open_append(&self.path)?;
        let line = format!(
            "[{}] {} [INF] Rotated log, backup saved as {backup:?}\n",
            std::process::id(),
            now.format("%Y/%m/%d %H:%M:%S%.6f")
        );
        state.file.write_all(line.as_bytes())?;
        state.written = line.len() as u64;
        if self.rotation.max_files > 0 {
            self.purge_backups();
        }
        Ok(())
    }

    fn purge_backups(&self) {
        let path = std::path::Path::new(&self.path);
        let (Some(dir), Some(base)) = (path.parent(), path.file_name()) else {
            return;
        };
        let dir = if dir.as_os_str().is_empty() {
            std::path::Path::new(".")
        } else {
            dir
        };
        let prefix = format!("{}.", base.to_string_lossy());
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut backups: Vec<String> = entries
            .filter_map(Result::ok)
            .filter_map(|entry| entry.file_name().into_string().ok())
            .filter(|name| {
                name.strip_prefix(&prefix).is_some_and(|stamp| {
                    stamp.len() == 29
                        && stamp
                            .bytes()
                            .all(|byte| byte.is_ascii_digit() || byte == b'.')
                })
            })
            .collect();
        backups.sort();
        let keep = self.rotation.max_files.saturating_sub(1);
        let excess = backups.len().saturating_sub(keep);
        for name in backups.into_iter().take(excess) {
            let _ = std::fs::remove_file(dir.join(name));
        }
    }
}

impl Syslog {
    /// One message in the format Go's `log/syslog` sends: RFC 3339 time and host name to a
    /// remote server, the short stamp to the local socket; Go's severities (its Noticef for
    /// info, and facility `daemon` locally, `kern` remotely).
    fn send(&self, level: Level, line: &[u8]) {
        let severity = match level {
            Level::ERROR => 3,
            Level::WARN => 4,
            Level::INFO | Level::TRACE => 5,
            Level::DEBUG => 7,
        };
        let text = String::from_utf8_lossy(line);
        // The file format's "[pid] time [LVL] " prefix is not part of a syslog message.
        // The first label is the level; a label inside the message itself comes later.
        let message = ["[FTL] ", "[ERR] ", "[WRN] ", "[INF] ", "[DBG] ", "[TRC] "]
            .iter()
            .filter_map(|label| text.find(label).map(|at| at + label.len()))
            .min()
            .map_or(&*text, |start| &text[start..])
            .trim_end();
        let pid = std::process::id();
        let now = chrono::Local::now();
        let datagram = if self.remote {
            format!(
                "<{severity}>{} {} natrix[{pid}]: {message}\n",
                now.format("%Y-%m-%dT%H:%M:%S%:z"),
                self.hostname
            )
        } else {
            format!(
                "<{}>{} natrix[{pid}]: {message}\n",
                3 * 8 + severity,
                now.format("%b %e %H:%M:%S")
            )
        };
        let _ = match &self.local {
            Some(local) => local.send(datagram.as_bytes()),
            None => self.socket.send(datagram.as_bytes()),
        };
    }
}

pub struct SinkWriter {
    sink: LogSink,
    level: Level,
}

impl Write for SinkWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        match &self.sink.target {
            Target::File(log) => log.write(bytes)?,
            Target::Syslog(syslog) => syslog.send(self.level, bytes),
            Target::Stderr => io::stderr().write_all(bytes)?,
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogSink {
    type Writer = SinkWriter;

    fn make_writer(&'a self) -> SinkWriter {
        SinkWriter {
            sink: self.clone(),
            level: Level::INFO,
        }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> SinkWriter {
        SinkWriter {
            sink: self.clone(),
            level: *meta.level(),
        }
    }
}

/// The target of error events that stop the server (`tracing::error!(target: FATAL_TARGET,
/// ...)`): logged with the Go server's `[FTL]` label.
pub const FATAL_TARGET: &str = "natrix::fatal";

/// Formats events as the Go server does.
pub struct GoFormat {
    pid: u32,
    with_time: bool,
    utc: bool,
}

impl<S, N> FormatEvent<S, N> for GoFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        context: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        write!(writer, "[{}] ", self.pid)?;
        if self.with_time {
            const FORMAT: &str = "%Y/%m/%d %H:%M:%S%.6f";
            if self.utc {
                write!(writer, "{} ", chrono::Utc::now().format(FORMAT))?;
            } else {
                write!(writer, "{} ", chrono::Local::now().format(FORMAT))?;
            }
        }
        let level = match *event.metadata().level() {
            Level::ERROR if event.metadata().target() == FATAL_TARGET => "FTL",
            Level::ERROR => "ERR",
            Level::WARN => "WRN",
            Level::INFO => "INF",
            Level::DEBUG => "DBG",
            Level::TRACE => "TRC",
        };
        write!(writer, "[{level}] ")?;
        context
            .field_format()
            .format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// Changes the log level of a running server (config reload of `debug`/`trace`).
pub struct LevelControl(reload::Handle<LevelFilter, Registry>);

impl LevelControl {
    pub fn set(&self, debug: bool, trace: bool) {
        // Fails only if the subscriber is gone, at exit.
        let _ = self.0.modify(|filter| *filter = level_filter(debug, trace));
    }
}

fn level_filter(debug: bool, trace: bool) -> LevelFilter {
    if trace {
        LevelFilter::TRACE
    } else if debug {
        LevelFilter::DEBUG
    } else {
        LevelFilter::INFO
    }
}

/// Installs the global subscriber. `-D` enables debug, `-V` trace (which implies debug here).
pub fn init(sink: LogSink, debug: bool, trace: bool, with_time: bool, utc: bool) -> LevelControl {
    let format = GoFormat {
        pid: std::process::id(),
        with_time,
        utc,
    };
    let (filter, handle) = reload::Layer::new(level_filter(debug, trace));
    tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .event_format(format)
                .with_writer(sink),
        )
        .init();
    LevelControl(handle)
}
