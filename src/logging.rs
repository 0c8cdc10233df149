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

/// Where log lines go: standard error, or a file that SIGUSR1 reopens (for log rotation).
#[derive(Clone)]
pub struct LogSink {
    file: Option<Arc<LogFile>>,
}

struct LogFile {
    path: String,
    file: Mutex<File>,
}

impl LogSink {
    pub fn open(path: Option<&str>) -> io::Result<LogSink> {
        let file = match path {
            Some(path) => {
                let file = open_append(path)?;
                Some(Arc::new(LogFile {
                    path: path.to_string(),
                    file: Mutex::new(file),
                }))
            }
            None => None,
        };
        Ok(LogSink { file })
    }

    /// Reopens the log file, so that a rotated file is let go.
    pub fn reopen(&self) -> io::Result<()> {
        if let Some(log) = &self.file {
            let reopened = open_append(&log.path)?;
            let mut file = log
                .file
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            *file = reopened;
        }
        Ok(())
    }
}

fn open_append(path: &str) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

pub struct SinkWriter {
    sink: LogSink,
}

impl Write for SinkWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        match &self.sink.file {
            Some(log) => {
                let mut file = log
                    .file
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                file.write_all(bytes)?;
                Ok(bytes.len())
            }
            None => io::stderr().write(bytes),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogSink {
    type Writer = SinkWriter;

    fn make_writer(&'a self) -> SinkWriter {
        SinkWriter { sink: self.clone() }
    }
}

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
