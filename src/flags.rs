//! Command-line flags, parsed the way the Go server's `flag` package parses them.
//!
//! The Go server's flags are not POSIX style (`-js`, `-sd`, `-DV`, `-ms` are single-dash
//! multi-letter flags; `-port` and `--port` are the same flag), which argument parsers such as
//! clap cannot express, so this small parser implements Go's rules: one or two leading dashes,
//! `-name=value` or `-name value` (the next argument is the value even if it starts with a
//! dash, so `-p -1` works), and booleans that take a value only with `=`.

use std::time::Duration;

use natrix_shards::options::{ServerOptions, TlsSettings};

/// The server's settings as the command line and the config file (`-c`) set them: the data
/// plane's options and what the binary itself needs (logging, PID file, signals, `-t`). Flags
/// are parsed into it first; with `-c` the file is read into fresh settings and the flags are
/// applied again over them (`reapply`), as in the Go server.
#[derive(Debug, Default)]
pub struct Settings {
    pub options: ServerOptions,
    pub log_file: Option<String>,
    pub pid_file: Option<String>,
    pub debug: bool,
    pub trace: bool,
    pub logtime: bool,
    pub logtime_utc: bool,
    pub show_version: bool,
    pub show_help: bool,
    /// `--help_tls`: print the TLS help and exit.
    pub show_help_tls: bool,
    /// The `--tls*` flags as given; `parse` turns them into `options.tls`.
    tls_flags: TlsFlags,
    /// `--signal CMD[=PID]`.
    pub signal: Option<String>,
    /// `-s`: log to the local syslog.
    pub syslog: bool,
    /// `-r udp://host:port`: log to a remote syslog.
    pub remote_syslog: Option<String>,
    /// `--log_size_limit`: rotate the log file past this many bytes (0: never).
    pub log_size_limit: u64,
    /// `logfile_max_num` (config only): log files kept when rotating (0: all).
    pub log_max_files: usize,
    /// `-c FILE`: read before the other flags are applied, which then override it.
    pub config_file: Option<String>,
    /// `-t`: check the configuration and exit.
    pub check_config: bool,
    /// The config file's top-level `allow_non_tls`, which Go keeps apart from the TLS
    /// settings, so it holds for TLS that the `--tls*` flags configure too.
    pub allow_non_tls: bool,
    /// `--ports_file_dir` (or the config key): where the ports file goes (see `ports_file`).
    pub ports_file_dir: Option<String>,
    /// Every flag as given, in order, so they can be applied again over the config file.
    pub assignments: Vec<Assignment>,
    /// Go server options that were given but that Natrix does not implement yet (named at
    /// start-up as warnings).
    pub not_supported: Vec<String>,
}

/// One flag from the command line: what `apply` matches on, the flag as written, its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub key: &'static str,
    pub flag: String,
    pub value: String,
}

/// The Go server's TLS flags. Any of them replaces the TLS settings (Go's `overrideTLS`),
/// except `--tls=false`, which turns TLS off whatever the others say.
#[derive(Debug, Default)]
struct TlsFlags {
    given: bool,
    tls: Option<bool>,
    verify: bool,
    cert_file: Option<String>,
    key_file: Option<String>,
    ca_file: Option<String>,
    /// Natrix flags for `tls {}` settings that Go has only in its config file.
    handshake_first: Option<bool>,
    allow_non_tls: Option<bool>,
    timeout: Option<Duration>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FlagError {
    #[error("flag provided but not defined: {0}")]
    Unknown(String),
    #[error("flag needs an argument: {0}")]
    MissingValue(String),
    #[error("invalid value {value:?} for flag {flag}: {reason}")]
    InvalidValue {
        flag: String,
        value: String,
        reason: String,
    },
    /// The Go server's texts for `--tls*` flags without a certificate or key.
    #[error("{0}")]
    Tls(&'static str),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bool,
    Value,
}

/// (names, kind, key). The key is what `apply` matches on.
const FLAGS: &[(&[&str], Kind, &str)] = &[
    (&["a", "addr", "net"], Kind::Value, "addr"),
    (&["p", "port"], Kind::Value, "port"),
    (&["n", "name", "server_name"], Kind::Value, "name"),
    (&["P", "pid"], Kind::Value, "pid"),
    (&["l", "log"], Kind::Value, "log"),
    (&["T", "logtime"], Kind::Bool, "logtime"),
    (&["logtime_utc"], Kind::Bool, "logtime_utc"),
    (&["D", "debug"], Kind::Bool, "debug"),
    (&["V", "trace", "VV"], Kind::Bool, "trace"),
    (&["DV", "DVV"], Kind::Bool, "debug_trace"),
    (&["sl", "signal"], Kind::Value, "signal"),
    (&["v", "version"], Kind::Bool, "version"),
    (&["h", "help"], Kind::Bool, "help"),
    (&["shards"], Kind::Value, "shards"),
    (&["cpus"], Kind::Value, "cpus"),
    (&["spin_before_park"], Kind::Value, "spin_before_park"),
    (&["max_payload"], Kind::Value, "max_payload"),
    (&["max_control_line"], Kind::Value, "max_control_line"),
    (&["max_connections"], Kind::Value, "max_connections"),
    (&["max_subscriptions"], Kind::Value, "max_subscriptions"),
    (&["max_pending"], Kind::Value, "max_pending"),
    (&["write_deadline"], Kind::Value, "write_deadline"),
    (&["ping_interval"], Kind::Value, "ping_interval"),
    (&["ping_max"], Kind::Value, "ping_max"),
    (&["c", "config"], Kind::Value, "config"),
    (&["t"], Kind::Bool, "check_config"),
    (&["m", "http_port"], Kind::Value, "http_port"),
    (&["ms", "https_port"], Kind::Value, "https_port"),
    (&["client_advertise"], Kind::Value, "client_advertise"),
    (&["ports_file_dir"], Kind::Value, "ports_file_dir"),
    (&["s", "syslog"], Kind::Bool, "syslog"),
    (&["r", "remote_syslog"], Kind::Value, "remote_syslog"),
    (&["log_size_limit"], Kind::Value, "log_size_limit"),
    (&["max_traced_msg_len"], Kind::Value, "max_traced_msg_len"),
    (&["js", "jetstream"], Kind::Bool, "jetstream"),
    (&["sd", "store_dir"], Kind::Value, "store_dir"),
    (&["routes"], Kind::Value, "routes"),
    (&["cluster", "cluster_listen"], Kind::Value, "cluster"),
    (&["cluster_name"], Kind::Value, "cluster_name"),
    (&["no_advertise"], Kind::Bool, "no_advertise"),
    (&["cluster_advertise"], Kind::Value, "cluster_advertise"),
    (&["connect_retries"], Kind::Value, "connect_retries"),
    (&["profile"], Kind::Value, "profile"),
    (&["tls"], Kind::Bool, "tls"),
    (&["tlsverify"], Kind::Bool, "tlsverify"),
    (&["tlscert"], Kind::Value, "tlscert"),
    (&["tlskey"], Kind::Value, "tlskey"),
    (&["tlscacert"], Kind::Value, "tlscacert"),
    (&["help_tls"], Kind::Bool, "help_tls"),
    (&["tls_handshake_first"], Kind::Bool, "tls_handshake_first"),
    (&["tls_allow_non_tls"], Kind::Bool, "tls_allow_non_tls"),
    (&["tls_timeout"], Kind::Value, "tls_timeout"),
    (&["user"], Kind::Value, "user"),
    (&["pass"], Kind::Value, "pass"),
    (&["auth"], Kind::Value, "auth"),
    (&["no_auth_user"], Kind::Value, "no_auth_user"),
];

/// Parses the arguments after the program name.
pub fn parse(args: &[String]) -> Result<Settings, FlagError> {
    let mut settings = Settings {
        logtime: true,
        ..Settings::default()
    };
    let mut index = 0;
    while index < args.len() {
        let arg = &args[index];
        index += 1;
        let Some(stripped) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
            // The Go server ignores positional arguments after the flags; so do we.
            break;
        };
        if stripped.is_empty() {
            break;
        }
        let (name, inline_value) = match stripped.split_once('=') {
            Some((name, value)) => (name, Some(value.to_string())),
            None => (stripped, None),
        };
        let shown = format!("-{name}");
        let Some((_, kind, key)) = FLAGS.iter().find(|(names, _, _)| names.contains(&name)) else {
            return Err(FlagError::Unknown(shown));
        };
        let value = match (kind, inline_value) {
            (Kind::Bool, None) => "true".to_string(),
            (_, Some(value)) => value,
            (Kind::Value, None) => {
                let value = args
                    .get(index)
                    .ok_or_else(|| FlagError::MissingValue(shown.clone()))?;
                index += 1;
                value.clone()
            }
        };
        apply(&mut settings, key, &shown, &value)?;
        settings.assignments.push(Assignment {
            key,
            flag: shown,
            value,
        });
    }
    // With `-c`, the TLS flags apply over the file's `tls {}` (in `reapply`), not before it.
    if settings.config_file.is_none() {
        apply_tls_flags(&mut settings)?;
    }
    Ok(settings)
}

/// Applies the command line again over settings read from a config file: flags win, as in the
/// Go server.
pub fn reapply(settings: &mut Settings, assignments: &[Assignment]) -> Result<(), FlagError> {
    for assignment in assignments {
        apply(
            settings,
            assignment.key,
            &assignment.flag,
            &assignment.value,
        )?;
    }
    apply_tls_flags(settings)
}

/// Go's `overrideTLS`: any `--tls*` flag builds the TLS settings from the flags alone and
/// needs a certificate and a key; `--tlsverify` implies TLS.
fn apply_tls_flags(settings: &mut Settings) -> Result<(), FlagError> {
    let flags = &settings.tls_flags;
    if !flags.given {
        return apply_natrix_tls_flags(settings);
    }
    if flags.tls == Some(false) {
        settings.options.tls = None;
        return Ok(());
    }
    let cert_file = flags.cert_file.as_deref().unwrap_or_default();
    if cert_file.is_empty() {
        return Err(FlagError::Tls(
            "TLS Server certificate must be present and valid",
        ));
    }
    let key_file = flags.key_file.as_deref().unwrap_or_default();
    if key_file.is_empty() {
        return Err(FlagError::Tls(
            "TLS Server private key must be present and valid",
        ));
    }
    let mut tls = TlsSettings::new(cert_file, key_file);
    tls.ca_file = flags
        .ca_file
        .as_deref()
        .filter(|file| !file.is_empty())
        .map(Into::into);
    tls.verify = flags.verify;
    tls.allow_non_tls = settings.allow_non_tls;
    settings.options.tls = Some(tls);
    apply_natrix_tls_flags(settings)
}

/// `--tls_handshake_first`, `--tls_allow_non_tls`, `--tls_timeout` adjust the TLS settings.
fn apply_natrix_tls_flags(settings: &mut Settings) -> Result<(), FlagError> {
    let flags = &settings.tls_flags;
    if flags.handshake_first.is_none() && flags.allow_non_tls.is_none() && flags.timeout.is_none() {
        return Ok(());
    }
    let Some(tls) = settings.options.tls.as_mut() else {
        return Err(FlagError::Tls(
            "--tls_handshake_first, --tls_allow_non_tls and --tls_timeout need TLS (--tls)",
        ));
    };
    if let Some(handshake_first) = flags.handshake_first {
        tls.handshake_first = handshake_first;
    }
    if let Some(allow_non_tls) = flags.allow_non_tls {
        tls.allow_non_tls = allow_non_tls;
    }
    if let Some(timeout) = flags.timeout {
        tls.timeout = timeout;
    }
    Ok(())
}

impl Settings {
    /// Settings before any flag or file: the Go server's defaults.
    pub fn with_go_defaults() -> Settings {
        Settings {
            logtime: true,
            ..Settings::default()
        }
    }

    fn note_not_supported(&mut self, name: &str) {
        if !self.not_supported.iter().any(|known| known == name) {
            self.not_supported.push(name.to_string());
        }
    }
}

fn apply(settings: &mut Settings, key: &str, flag: &str, value: &str) -> Result<(), FlagError> {
    let invalid = |reason: &str| FlagError::InvalidValue {
        flag: flag.to_string(),
        value: value.to_string(),
        reason: reason.to_string(),
    };
    let boolean = || match value {
        "true" | "1" | "t" | "T" | "TRUE" | "True" => Ok(true),
        "false" | "0" | "f" | "F" | "FALSE" | "False" => Ok(false),
        _ => Err(invalid("not a boolean")),
    };
    let size = || parse_size_with_unit(value).map_err(|reason| invalid(&reason.to_string()));
    let duration = || parse_duration(value).map_err(|reason| invalid(&reason.to_string()));
    let options = &mut settings.options;
    match key {
        "addr" => options.host = value.to_string(),
        "port" => {
            let port: i64 = value.parse().map_err(|_| invalid("not a number"))?;
            options.port = match port {
                -1 => 0,
                0..=65535 => port as u16,
                _ => return Err(invalid("not a port")),
            };
        }
        "name" => options.server_name = value.to_string(),
        "pid" => settings.pid_file = Some(value.to_string()),
        "log" => settings.log_file = Some(value.to_string()),
        "logtime" => settings.logtime = boolean()?,
        "logtime_utc" => settings.logtime_utc = boolean()?,
        "debug" => settings.debug = boolean()?,
        "trace" => settings.trace = boolean()?,
        "debug_trace" => {
            settings.debug = boolean()?;
            settings.trace = settings.debug;
        }
        "signal" => settings.signal = Some(value.to_string()),
        "version" => settings.show_version = boolean()?,
        "help" => settings.show_help = boolean()?,
        "help_tls" => settings.show_help_tls = boolean()?,
        "tls" => {
            settings.tls_flags.given = true;
            settings.tls_flags.tls = Some(boolean()?);
        }
        "tlsverify" => {
            settings.tls_flags.given = true;
            settings.tls_flags.verify = boolean()?;
        }
        "tls_handshake_first" => settings.tls_flags.handshake_first = Some(boolean()?),
        "tls_allow_non_tls" => settings.tls_flags.allow_non_tls = Some(boolean()?),
        "tls_timeout" => settings.tls_flags.timeout = Some(duration()?),
        "tlscert" | "tlskey" | "tlscacert" => {
            let flags = &mut settings.tls_flags;
            flags.given = true;
            let slot = match key {
                "tlscert" => &mut flags.cert_file,
                "tlskey" => &mut flags.key_file,
                _ => &mut flags.ca_file,
            };
            *slot = Some(value.to_string());
        }
        "shards" => {
            let shards: usize = value.parse().map_err(|_| invalid("not a number"))?;
            if shards == 0 || shards > natrix_shards::shard::MAX_SHARDS {
                return Err(invalid("must be between 1 and 128"));
            }
            options.tuning.shards = Some(shards);
        }
        "cpus" => {
            options.tuning.cpus =
                Some(parse_cpu_list(value).map_err(|reason| invalid(&reason.to_string()))?)
        }
        "spin_before_park" => {
            options.tuning.spin_before_park =
                parse_duration(value).map_err(|reason| invalid(&reason.to_string()))?
        }
        "max_payload" => options.max_payload = size()?,
        "max_control_line" => options.max_control_line = size()?,
        "max_connections" => options.max_connections = size()?,
        "max_subscriptions" => options.max_subscriptions = size()?,
        "max_pending" => options.max_pending = size()?,
        "write_deadline" => options.write_deadline = duration()?,
        "ping_interval" => options.ping_interval = duration()?,
        "ping_max" => {
            options.max_pings_out = size()?.try_into().map_err(|_| invalid("too large"))?
        }
        "config" => settings.config_file = Some(value.to_string()),
        "check_config" => settings.check_config = boolean()?,
        "http_port" => {
            let number: i64 = value.parse().map_err(|_| invalid("not a number"))?;
            options.monitoring.http_port = (number != 0).then_some(number);
        }
        "https_port" => {
            let number: i64 = value.parse().map_err(|_| invalid("not a number"))?;
            options.monitoring.https_port = (number != 0).then_some(number);
        }
        "connect_retries" | "profile" | "max_traced_msg_len" => {
            let number: i64 = value.parse().map_err(|_| invalid("not a number"))?;
            if number != 0 {
                settings.note_not_supported(flag);
            }
        }
        "log_size_limit" => {
            let limit: i64 = value.parse().map_err(|_| invalid("not a number"))?;
            settings.log_size_limit = u64::try_from(limit).unwrap_or(0);
        }
        "syslog" => settings.syslog = boolean()?,
        "remote_syslog" => settings.remote_syslog = (!value.is_empty()).then(|| value.to_string()),
        "no_advertise" => {
            if boolean()? {
                settings.note_not_supported(flag);
            }
        }
        "jetstream" => {
            if boolean()? {
                options
                    .jetstream
                    .get_or_insert_with(Default::default)
                    .enabled = true;
            }
        }
        "store_dir" => {
            options
                .jetstream
                .get_or_insert_with(Default::default)
                .store_dir = Some(value.to_string());
        }
        "ports_file_dir" => {
            settings.ports_file_dir = (!value.is_empty()).then(|| value.to_string())
        }
        "client_advertise" | "routes" | "cluster" | "cluster_name" | "cluster_advertise" => {
            if !value.is_empty() {
                settings.note_not_supported(flag);
            }
        }
        "user" => options.auth.username = Some(value.to_string()),
        "pass" => options.auth.password = Some(value.to_string()),
        "auth" => options.auth.token = Some(value.to_string()),
        "no_auth_user" => options.auth.no_auth_user = Some(value.to_string()),
        _ => return Err(FlagError::Unknown(flag.to_string())),
    }
    Ok(())
}

/// A flag or config value that does not parse: which form it should have had. Not
/// recoverable: the value must be changed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ValueError {
    #[error("bad size {0:?}")]
    Size(String),
    #[error("bad size unit in {0:?}")]
    SizeUnit(String),
    #[error("size {0:?} is too large")]
    SizeTooLarge(String),
    #[error("bad CPU {0:?}")]
    Cpu(String),
    #[error("bad CPU range {0:?}")]
    CpuRange(String),
    #[error("empty CPU list")]
    EmptyCpuList,
    #[error("bad duration {0:?}")]
    Duration(String),
    #[error("bad duration unit in {0:?}")]
    DurationUnit(String),
}

/// Parses sizes the way the Go config does: a number with an optional unit (`64KB`, `1MB`).
pub fn parse_size_with_unit(text: &str) -> Result<usize, ValueError> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: usize = number
        .parse()
        .map_err(|_| ValueError::Size(text.to_string()))?;
    let multiplier: usize = match unit.to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        _ => return Err(ValueError::SizeUnit(text.to_string())),
    };
    number
        .checked_mul(multiplier)
        .ok_or_else(|| ValueError::SizeTooLarge(text.to_string()))
}

/// Parses `0,2,4-7` into a list of CPU ids, in order.
pub fn parse_cpu_list(list: &str) -> Result<Vec<usize>, ValueError> {
    let mut cpus = Vec::new();
    for part in list
        .split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
    {
        let parse = |text: &str| {
            text.trim()
                .parse::<usize>()
                .map_err(|_| ValueError::Cpu(text.to_string()))
        };
        match part.split_once('-') {
            Some((first, last)) => {
                let (first, last) = (parse(first)?, parse(last)?);
                if first > last {
                    return Err(ValueError::CpuRange(part.to_string()));
                }
                cpus.extend(first..=last);
            }
            None => cpus.push(parse(part)?),
        }
    }
    if cpus.is_empty() {
        return Err(ValueError::EmptyCpuList);
    }
    Ok(cpus)
}

/// Parses Go-style durations such as `50us`, `2ms`, `1s`.
pub fn parse_duration(text: &str) -> Result<Duration, ValueError> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| ValueError::Duration(text.to_string()))?;
    Ok(match unit {
        "" | "s" => Duration::from_secs(number),
        "ns" => Duration::from_nanos(number),
        "us" | "µs" => Duration::from_micros(number),
        "ms" => Duration::from_millis(number),
        "m" => Duration::from_secs(number * 60),
        _ => return Err(ValueError::DurationUnit(text.to_string())),
    })
}

pub const USAGE: &str = "\
Usage: natrix [options]

Server Options:
    -a, --addr, --net <host>         Bind to host address (default: 0.0.0.0)
    -p, --port <port>                Use port for clients (default: 4222, -1 for a random port)
    -n, --name
        --server_name <server_name>  Server name (default: auto)
    -P, --pid <file>                 File to store PID
    -m, --http_port <port>           Use port for http monitoring (-1 for a random port)
    -ms,--https_port <port>          Use port for https monitoring
    -c, --config <file>              Configuration file
    -t                               Test configuration and exit
    -sl,--signal <signal>[=<pid>]    Send signal to natrix process (ldm, stop, quit, term, reopen, reload)
                                     <pid> can be either a PID (e.g. 1) or the path to a PID file (e.g. /var/run/natrix.pid)
        --client_advertise <string>  Client URL to advertise to other servers
        --ports_file_dir <dir>       Creates a ports file in the specified directory (<executable_name>_<pid>.ports).

Logging Options:
    -l, --log <file>                 File to redirect log output
    -T, --logtime                    Timestamp log entries (default: true)
        --logtime_utc                Timestamps in UTC instead of local timezone (default: false)
    -D, --debug                      Enable debugging output
    -s, --syslog                     Log to syslog
    -r, --remote_syslog <addr>       Syslog server addr (udp://localhost:514)
    -V, --trace                      Trace the raw protocol
    -VV                              Verbose trace (same as -V in Natrix)
    -DV                              Debug and trace
    -DVV                             Debug and verbose trace (same as -DV in Natrix)
        --log_size_limit <limit>     Logfile size limit in bytes (default: no rotation)
        --max_traced_msg_len <len>   Maximum printable length for traced messages (default: unlimited)

JetStream Options:
    -js, --jetstream                 Enable JetStream functionality
    -sd, --store_dir <dir>           Set the storage directory

Natrix Options (thread-per-core tuning):
        --shards <n>                 Number of shards, one thread each (default: one per CPU in --cpus, or per online CPU)
        --cpus <list>                CPUs to pin shards to, in order, e.g. 0,2,4-7 (default: all online CPUs)
        --spin_before_park <dur>     Poll cross-shard queues this long before sleeping, e.g. 50us (default: 0)

Limits (the Go server sets these in its config file; Natrix also takes them as flags):
        --max_payload <size>         Maximum message payload (default: 1MB)
        --max_control_line <size>    Maximum protocol control line (default: 4KB)
        --max_connections <n>        Maximum client connections (default: 65536)
        --max_subscriptions <n>      Maximum subscriptions per connection (default: 0, unlimited)
        --max_pending <size>         Outbound bytes per connection before it is a slow consumer (default: 64MB)
        --write_deadline <dur>       Time a write may block before the client is a slow consumer (default: 10s)
        --ping_interval <dur>        Interval between server PINGs to idle clients (default: 2m)
        --ping_max <n>               Unanswered PINGs before a client is stale (default: 2)

TLS Options:
        --tls                        Enable TLS, do not verify clients (default: false)
        --tlscert <file>             Server certificate file
        --tlskey <file>              Private key for server certificate
        --tlsverify                  Enable TLS, verify client certificates
        --tlscacert <file>           Client certificate CA for verification
        --help_tls                   TLS help
        --tls_handshake_first        TLS handshake before INFO (Go: tls { handshake_first: true })
        --tls_allow_non_tls          Accept plaintext clients too (Go: tls { allow_non_tls: true })
        --tls_timeout <dur>          Time allowed for the TLS handshake (default: 2s)

Authorization Options:
        --user <user>                User required for connections
        --pass <password>            Password required for connections (plain or bcrypt)
        --auth <token>               Authorization token required for connections (plain or bcrypt)
        --no_auth_user <user>        User for clients without credentials (Natrix only; the
                                     user must come from a users list)

Cluster Options:
        --routes <rurl-1, rurl-2>    Routes to solicit and connect
        --cluster <cluster-url>      Cluster URL for solicited routes
        --cluster_name <string>      Cluster Name, if not set one will be dynamically generated
        --no_advertise <bool>        Do not advertise known cluster information to clients
        --cluster_advertise <string> Cluster URL to advertise to other servers
        --connect_retries <number>   For implicit routes, number of connect retries
        --cluster_listen <url>       Cluster url from which members can solicit routes

Profiling Options:
        --profile <port>             Profiling HTTP port

Common Options:
    -h, --help                       Show this message
    -v, --version                    Show version

JetStream, clustering, profiling, --client_advertise and
--max_traced_msg_len are accepted (config files validate them) and named in a warning at start
until Natrix implements them.
";

/// `--help_tls`: the Go server's TLS help, with the names Natrix accepts.
pub fn tls_usage() -> String {
    let mut text = String::from(
        "
TLS configuration is specified in the tls section of a configuration file:

e.g.

    tls {
        cert_file:      \"./certs/server-cert.pem\"
        key_file:       \"./certs/server-key.pem\"
        ca_file:        \"./certs/ca.pem\"
        verify:         true
        verify_and_map: true

        cipher_suites: [
            \"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\",
            \"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\"
        ]
        curve_preferences: [
            \"CurveP256\",
            \"CurveP384\"
        ]
    }

Available cipher suites include (Natrix uses rustls: Go names of CBC, RC4, 3DES and
static-RSA suites are accepted and ignored):
",
    );
    for name in natrix_shards::tls::go_cipher_suite_names() {
        text.push_str(&format!("    {name}\n"));
    }
    text.push_str(
        "\nAvailable curve preferences include (CurveP521 and ML-KEM hybrids are ignored):\n",
    );
    for name in natrix_shards::tls::go_curve_names() {
        text.push_str(&format!("    {name}\n"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|arg| arg.to_string()).collect()
    }

    #[test]
    fn go_style_single_and_double_dash_flags_are_the_same() {
        let parsed =
            parse(&args(&["-p", "4333", "--addr=127.0.0.1", "-n", "x", "-DV"])).expect("ok");
        assert_eq!(parsed.options.port, 4333);
        assert_eq!(parsed.options.host, "127.0.0.1");
        assert_eq!(parsed.options.server_name, "x");
        assert!(parsed.debug && parsed.trace);
        let parsed = parse(&args(&["--port", "5000", "-port=6000"])).expect("ok");
        assert_eq!(parsed.options.port, 6000);
    }

    #[test]
    fn tls_flags_follow_go_override_rules() {
        let parsed = parse(&args(&[
            "--tlsverify",
            "--tlscert=c.pem",
            "--tlskey",
            "k.pem",
        ]))
        .expect("ok");
        let tls = parsed.options.tls.expect("tlsverify implies tls");
        assert!(tls.verify && tls.ca_file.is_none());
        assert_eq!(tls.cert_file, std::path::PathBuf::from("c.pem"));
        assert_eq!(
            parse(&args(&["--tls", "--tlskey", "k.pem"])).unwrap_err(),
            FlagError::Tls("TLS Server certificate must be present and valid")
        );
        assert_eq!(
            parse(&args(&["--tlscert", "c.pem"])).unwrap_err(),
            FlagError::Tls("TLS Server private key must be present and valid")
        );
        let parsed = parse(&args(&["--tlscert", "c.pem", "--tls=false"])).expect("ok");
        assert!(parsed.options.tls.is_none());
    }

    #[test]
    fn port_minus_one_means_random() {
        assert_eq!(parse(&args(&["-p", "-1"])).expect("ok").options.port, 0);
    }

    #[test]
    fn unknown_and_unsupported_flags_are_errors_that_name_them() {
        assert_eq!(
            parse(&args(&["-x"])).unwrap_err(),
            FlagError::Unknown("-x".into())
        );
        assert_eq!(
            parse(&args(&["-p"])).unwrap_err(),
            FlagError::MissingValue("-p".into())
        );
    }

    #[test]
    fn cpu_lists_accept_ranges() {
        assert_eq!(parse_cpu_list("0,2,4-6").expect("ok"), vec![0, 2, 4, 5, 6]);
        assert!(parse_cpu_list("3-1").is_err());
        assert!(parse_cpu_list("").is_err());
    }

    #[test]
    fn limits_accept_size_units() {
        let parsed = parse(&args(&["--max_payload", "64KB", "--max_pending=2MB"])).expect("ok");
        assert_eq!(parsed.options.max_payload, 64 * 1024);
        assert_eq!(parsed.options.max_pending, 2 * 1024 * 1024);
        assert!(parse(&args(&["--max_payload", "1XB"])).is_err());
    }

    #[test]
    fn authorization_flags_fill_the_auth_options() {
        let parsed = parse(&args(&["--user", "derek", "--pass=s3cr3t"])).expect("ok");
        assert_eq!(parsed.options.auth.username.as_deref(), Some("derek"));
        assert_eq!(parsed.options.auth.password.as_deref(), Some("s3cr3t"));
        assert!(parsed.options.auth.required());
        let parsed = parse(&args(&["-auth", "t0k3n", "--no_auth_user", "guest"])).expect("ok");
        assert_eq!(parsed.options.auth.token.as_deref(), Some("t0k3n"));
        assert_eq!(parsed.options.auth.no_auth_user.as_deref(), Some("guest"));
    }

    #[test]
    fn durations_use_go_units() {
        assert_eq!(parse_duration("50us"), Ok(Duration::from_micros(50)));
        assert_eq!(parse_duration("2ms"), Ok(Duration::from_millis(2)));
        assert!(parse_duration("2h").is_err());
    }
}
