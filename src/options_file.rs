//! Maps a parsed configuration file onto the server's settings, key by key, the way the Go
//! server's `opts.go` does.
//!
//! Owns: what each config key means, its type, its checks, and which Go options Natrix does not
//! implement yet (each is named in a warning, never silently dropped). Must not touch: syntax
//! (`crate::config`) or the data plane.
//!
//! Errors and warnings are collected, not returned at the first one, and printed as the Go
//! server prints them: `FILE:LINE:COL: reason`, one per line; an unknown key is an error.

use std::path::Path;
use std::time::Duration;

use natrix_shards::options::{
    AccountOptions, AuthOptions, ClusterOptions, Export, ExportKind, Import, JetStreamOptions,
    MappingDestination, MonitoringOptions, NkeyUser, Permissions, ResponsePermission, ResponseType,
    SubjectMapping, SubjectPermission, TlsSettings, TlsVersion, User,
};

use crate::config::{self, Entry, Item, Map, Pos, Value};
use crate::flags::{self, CommandLine};

/// What went wrong in a config file: every error found, and the warnings.
#[derive(Debug, thiserror::Error)]
#[error("{}", lines.join("\n"))]
pub struct ConfigErrors {
    pub lines: Vec<String>,
}

/// Reads `path` into `settings`. Returns the warnings (unsupported options, deprecated forms).
pub fn load(path: &Path, settings: &mut CommandLine) -> Result<Vec<String>, ConfigErrors> {
    let map = config::parse_file(path).map_err(|error| ConfigErrors {
        lines: vec![error.go_text],
    })?;
    let mut reader = Reader::default();
    reader.top_level(&map, settings);
    reader.finish(settings);
    settings.options.config_digest = config::config_digest(&map);
    if reader.errors.is_empty() {
        Ok(reader.warnings)
    } else {
        let mut lines = reader.warnings;
        lines.extend(reader.errors);
        Err(ConfigErrors { lines })
    }
}

/// Go server options Natrix knows but does not implement yet: accepted with a warning.
const NOT_SUPPORTED_YET: &[&str] = &[
    "client_advertise",
    "trace_verbose",
    "trace_headers",
    "disable_sublist_cache",
    "no_sublist_cache",
    "gateway",
    "leaf",
    "leafnodes",
    "prof_port",
    "prof_block_rate",
    "proxy_protocol",
    "max_traced_msg_len",
    "max_sub_tokens",
    "max_subscription_tokens",
    "ocsp",
    "write_timeout",
    "no_system_account",
    "no_system",
    "no_sys_acc",
    "no_header_support",
    "connect_error_reports",
    "reconnect_error_reports",
    "websocket",
    "ws",
    "mqtt",
    "server_tags",
    "server_metadata",
    "default_js_domain",
    "ocsp_cache",
    "no_fast_producer_stall",
    "proxies",
];

/// Go server options that, ignored, would leave a server open that the file means to close:
/// operator mode (users must present JWTs signed by the trusted operators), its account
/// resolvers and trusted keys. Natrix refuses a file with any of them, in `-t` and at start,
/// until operator mode is built (issue 16), instead of starting without that authentication.
const REFUSED_AUTH_OPTIONS: &[(&str, &str)] = &[
    ("operator", "operator mode: JWT accounts and users"),
    ("operators", "operator mode: JWT accounts and users"),
    ("root_operators", "operator mode: JWT accounts and users"),
    ("root_operator", "operator mode: JWT accounts and users"),
    ("roots", "operator mode: JWT accounts and users"),
    ("root", "operator mode: JWT accounts and users"),
    ("trusted", "trusted operator keys: JWT users"),
    ("trusted_keys", "trusted operator keys: JWT users"),
    ("resolver", "the account resolver of operator mode"),
    ("account_resolver", "the account resolver of operator mode"),
    ("accounts_resolver", "the account resolver of operator mode"),
    ("resolver_tls", "the account resolver of operator mode"),
    (
        "resolver_preload",
        "account JWTs for the resolver of operator mode",
    ),
    (
        "resolver_pinned_accounts",
        "the account resolver of operator mode",
    ),
    (
        "default_sentinel",
        "the default sentinel JWT of operator mode",
    ),
];

/// Go's `DEFAULT_TLS_HANDSHAKE_FIRST_FALLBACK_DELAY`, what `handshake_first: auto` waits.
const HANDSHAKE_FIRST_FALLBACK_DEFAULT: Duration = Duration::from_millis(50);

#[derive(Default)]
struct Reader {
    errors: Vec<String>,
    warnings: Vec<String>,
    /// Where `authorization {}` was, for checks that involve accounts too.
    authorization_pos: Option<Pos>,
    /// The top-level `allow_non_tls`, which may come before or after `tls {}`.
    allow_non_tls: Option<bool>,
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Bool(_) => "a boolean",
        Value::Datetime(_) => "a date",
        Value::Array(_) => "an array",
        Value::Map(_) => "a map",
    }
}

impl Reader {
    fn error(&mut self, pos: &Pos, reason: impl std::fmt::Display) {
        self.errors.push(format!("{pos}: {reason}"));
    }

    fn unknown(&mut self, entry: &Entry) {
        if entry.used_as_variable {
            return;
        }
        self.errors
            .push(format!("{}: unknown field {:?}", entry.key_pos, entry.key));
    }

    fn not_supported(&mut self, entry: &Entry, what: &str) {
        self.warnings.push(format!(
            "{}: {what} {:?} is not supported by Natrix yet and is ignored",
            entry.key_pos, entry.key
        ));
    }

    /// A Go option Natrix cannot honour yet and that would weaken authentication or
    /// authorization if it were ignored: an error, so neither `-t` nor start-up accepts it.
    fn refused(&mut self, entry: &Entry, what: &str) {
        self.errors.push(format!(
            "{}: option {:?} ({what}) is not supported by Natrix yet; ignoring it would weaken authentication or authorization, so the configuration is refused",
            entry.key_pos, entry.key
        ));
    }

    fn wrong_type(&mut self, entry: &Entry, expected: &str) {
        let reason = format!(
            "{:?} must be {expected}, not {}",
            entry.key,
            kind(&entry.item.value)
        );
        self.error(&entry.item.pos, reason);
    }

    fn string(&mut self, entry: &Entry) -> Option<String> {
        match &entry.item.value {
            Value::String(text) => Some(text.clone()),
            _ => {
                self.wrong_type(entry, "a string");
                None
            }
        }
    }

    fn integer(&mut self, entry: &Entry) -> Option<i64> {
        match &entry.item.value {
            Value::Integer(number) => Some(*number),
            _ => {
                self.wrong_type(entry, "an integer");
                None
            }
        }
    }

    fn boolean(&mut self, entry: &Entry) -> Option<bool> {
        match &entry.item.value {
            Value::Bool(flag) => Some(*flag),
            _ => {
                self.wrong_type(entry, "a boolean");
                None
            }
        }
    }

    fn map<'a>(&mut self, entry: &'a Entry) -> Option<&'a Map> {
        match &entry.item.value {
            Value::Map(map) => Some(map),
            _ => {
                self.wrong_type(entry, "a map");
                None
            }
        }
    }

    /// A non-negative integer that fits `usize`.
    fn size(&mut self, entry: &Entry) -> Option<usize> {
        let number = self.integer(entry)?;
        match usize::try_from(number) {
            Ok(size) => Some(size),
            Err(_) => {
                self.error(
                    &entry.item.pos,
                    format!("{} value can not be negative", entry.key),
                );
                None
            }
        }
    }

    /// Go's `parseDuration`: a duration string, or (deprecated) a number of seconds.
    fn duration(&mut self, entry: &Entry) -> Option<Duration> {
        match &entry.item.value {
            Value::String(text) => match parse_go_duration(text) {
                Ok(duration) => Some(duration),
                Err(reason) => {
                    self.error(
                        &entry.item.pos,
                        format!("error parsing {}: {reason}", entry.key),
                    );
                    None
                }
            },
            Value::Integer(seconds) => {
                self.warnings.push(format!(
                    "{}: invalid use of field {:?}: {} should be converted to a duration",
                    entry.item.pos, entry.key, entry.key
                ));
                Some(Duration::from_secs((*seconds).max(0).unsigned_abs()))
            }
            _ => {
                self.wrong_type(entry, "a duration");
                None
            }
        }
    }

    fn top_level(&mut self, map: &Map, settings: &mut CommandLine) {
        for entry in &map.entries {
            let key = entry.key.to_ascii_lowercase();
            let options = &mut settings.options;
            match key.as_str() {
                "listen" => {
                    if let Some((host, port)) = self.listen(entry) {
                        if let Some(host) = host {
                            options.host = host;
                        }
                        options.port = port;
                    }
                }
                "port" => {
                    if let Some(port) = self.port(entry) {
                        options.port = port;
                    }
                }
                "http_port" | "monitor_port" => {
                    if let Some(port) = self.http_port(entry) {
                        options.monitoring.http_port = Some(port);
                    }
                }
                "https_port" => {
                    if let Some(port) = self.http_port(entry) {
                        options.monitoring.https_port = Some(port);
                    }
                }
                "http" => self.http_listen(entry, &mut options.monitoring, false),
                "https" => self.http_listen(entry, &mut options.monitoring, true),
                "http_base_path" => {
                    if let Some(path) = self.string(entry) {
                        options.monitoring.base_path = Some(path);
                    }
                }
                "max_closed_clients" => {
                    if let Some(count) = self.integer(entry) {
                        options.monitoring.max_closed_clients =
                            Some(usize::try_from(count).unwrap_or(0));
                    }
                }
                "server_name" => {
                    if let Some(name) = self.string(entry) {
                        if name.contains(' ') {
                            self.error(&entry.item.pos, "server name cannot contain spaces");
                        } else {
                            options.server_name = name;
                        }
                    }
                }
                "host" | "net" => {
                    if let Some(host) = self.string(entry) {
                        options.host = host;
                    }
                }
                "debug" => {
                    if let Some(flag) = self.boolean(entry) {
                        settings.debug = flag;
                    }
                }
                "trace" => {
                    if let Some(flag) = self.boolean(entry) {
                        settings.trace = flag;
                    }
                }
                "logtime" => {
                    if let Some(flag) = self.boolean(entry) {
                        settings.logtime = flag;
                    }
                }
                "logtime_utc" => {
                    if let Some(flag) = self.boolean(entry) {
                        settings.logtime_utc = flag;
                    }
                }
                "logfile" | "log_file" => settings.log_file = self.string(entry),
                "logfile_size_limit" | "log_size_limit" => {
                    if let Some(limit) = self.size(entry) {
                        settings.log_size_limit = limit as u64;
                    }
                }
                "logfile_max_num" | "log_max_num" => {
                    if let Some(count) = self.size(entry) {
                        settings.log_max_files = count;
                    }
                }
                "syslog" => {
                    if let Some(flag) = self.boolean(entry) {
                        settings.syslog = flag;
                    }
                }
                "remote_syslog" => settings.remote_syslog = self.string(entry),
                "pidfile" | "pid_file" => settings.pid_file = self.string(entry),
                "ports_file_dir" => settings.ports_file_dir = self.string(entry),
                "feature_flags" => self.feature_flags(entry, &mut settings.options.feature_flags),
                "mappings" | "maps" => {
                    if let Some(mappings) = self.mappings(entry) {
                        options.mappings.extend(mappings);
                    }
                }
                "accounts" => self.accounts(entry, settings),
                "authorization" => self.authorization(entry, &mut settings.options.auth),
                "no_auth_user" => options.auth.no_auth_user = self.string(entry),
                "system_account" | "system" => options.system_account = self.string(entry),
                "max_control_line" | "max_payload" => {
                    if let Some(size) = self.size(entry) {
                        if size > i32::MAX as usize {
                            self.error(&entry.item.pos, format!("{key} value is too big"));
                        } else if key == "max_payload" {
                            options.max_payload = size;
                        } else {
                            options.max_control_line = size;
                        }
                    }
                }
                "max_pending" => {
                    if let Some(size) = self.size(entry) {
                        options.max_pending = size;
                    }
                }
                "max_connections" | "max_conn" => {
                    if let Some(number) = self.integer(entry) {
                        // 0 (or negative) means no limit, as in the Go server.
                        options.max_connections = usize::try_from(number)
                            .ok()
                            .filter(|&limit| limit > 0)
                            .unwrap_or(usize::MAX);
                    }
                }
                "max_subscriptions" | "max_subs" => {
                    if let Some(number) = self.integer(entry) {
                        options.max_subscriptions = usize::try_from(number).unwrap_or(0);
                    }
                }
                "ping_interval" => {
                    if let Some(duration) = self.duration(entry) {
                        options.ping_interval = duration;
                    }
                }
                "ping_max" => {
                    if let Some(number) = self.integer(entry) {
                        options.max_pings_out = u32::try_from(number.max(0)).unwrap_or(u32::MAX);
                    }
                }
                "lame_duck_duration" => {
                    if let Some(duration) = self.duration(entry) {
                        if duration < Duration::from_secs(30) {
                            self.error(
                                &entry.item.pos,
                                format!("invalid lame_duck_duration of {duration:?}, minimum is 30 seconds"),
                            );
                        } else {
                            options.lame_duck_duration = duration;
                        }
                    }
                }
                "lame_duck_grace_period" => {
                    if let Some(duration) = self.duration(entry) {
                        options.lame_duck_grace_period = duration;
                    }
                }
                "write_deadline" => {
                    if let Some(duration) = self.duration(entry) {
                        options.write_deadline = duration;
                    }
                }
                "tls" => self.tls(entry, settings),
                "allow_non_tls" => self.allow_non_tls = self.boolean(entry),
                "jetstream" => self.jetstream(entry, settings),
                "store_dir" | "storedir" => {
                    if let Some(dir) = self.string(entry) {
                        settings
                            .options
                            .jetstream
                            .get_or_insert_with(Default::default)
                            .store_dir = Some(dir);
                    }
                }
                "cluster" => self.cluster(entry, settings),
                "tuning" => self.tuning(entry, settings),
                _ if REFUSED_AUTH_OPTIONS.iter().any(|(name, _)| *name == key) => {
                    let what = REFUSED_AUTH_OPTIONS
                        .iter()
                        .find(|(name, _)| *name == key)
                        .map_or("", |(_, what)| what);
                    self.refused(entry, what)
                }
                _ if NOT_SUPPORTED_YET.contains(&key.as_str()) => {
                    self.not_supported(entry, "option")
                }
                _ => self.unknown(entry),
            }
        }
    }

    /// `feature_flags { name: bool }`, with Go's errors; which names mean something is the
    /// monitor's business (unknown ones are reported at start, as Go does).
    fn feature_flags(
        &mut self,
        entry: &Entry,
        flags: &mut std::collections::BTreeMap<String, bool>,
    ) {
        let Value::Map(map) = &entry.item.value else {
            self.error(
                &entry.item.pos,
                format!(
                    "error parsing feature flags: unsupported type {}",
                    kind(&entry.item.value)
                ),
            );
            return;
        };
        for field in &map.entries {
            match &field.item.value {
                Value::Bool(enabled) => {
                    flags.insert(field.key.clone(), *enabled);
                }
                other => self.error(
                    &field.item.pos,
                    format!(
                        "error parsing feature flag {:?}: expected bool, got {}",
                        field.key,
                        kind(other)
                    ),
                ),
            }
        }
    }

    /// `listen: "host:port"`, `listen: port` or `listen: ":port"`.
    fn listen(&mut self, entry: &Entry) -> Option<(Option<String>, u16)> {
        match &entry.item.value {
            Value::Integer(_) => Some((None, self.port(entry)?)),
            Value::String(text) => {
                let Some((host, port)) = text.rsplit_once(':') else {
                    self.error(
                        &entry.item.pos,
                        format!("could not parse address string {text:?}"),
                    );
                    return None;
                };
                let host = host.trim_start_matches('[').trim_end_matches(']');
                let Ok(port) = port.parse::<i64>() else {
                    self.error(&entry.item.pos, format!("could not parse port {port:?}"));
                    return None;
                };
                let host = (!host.is_empty()).then(|| host.to_string());
                Some((host, self.port_number(&entry.item.pos, port)?))
            }
            _ => {
                self.wrong_type(entry, "a host:port string or a port");
                None
            }
        }
    }

    /// A monitoring port: -1 is a random port, 0 none.
    fn http_port(&mut self, entry: &Entry) -> Option<i64> {
        let number = self.integer(entry)?;
        if !(-1..=65535).contains(&number) {
            self.error(&entry.item.pos, format!("invalid port {number}"));
            return None;
        }
        Some(number)
    }

    /// `http: "host:port"` or `http: port` (Go's `parseListen` for the monitor).
    fn http_listen(&mut self, entry: &Entry, monitoring: &mut MonitoringOptions, secure: bool) {
        match &entry.item.value {
            Value::Integer(_) => *monitor_port_mut(monitoring, secure) = self.http_port(entry),
            Value::String(text) => {
                let Some((host, port)) = text.rsplit_once(':') else {
                    self.error(
                        &entry.item.pos,
                        format!("could not parse address string {text:?}"),
                    );
                    return;
                };
                let Ok(port) = port.parse::<i64>() else {
                    self.error(&entry.item.pos, format!("could not parse port {port:?}"));
                    return;
                };
                let host = host.trim_start_matches('[').trim_end_matches(']');
                if !host.is_empty() {
                    monitoring.host = Some(host.to_string());
                }
                *monitor_port_mut(monitoring, secure) = Some(port);
            }
            _ => self.wrong_type(entry, "a host:port string or a port"),
        }
    }

    fn port(&mut self, entry: &Entry) -> Option<u16> {
        let number = self.integer(entry)?;
        self.port_number(&entry.item.pos, number)
    }

    /// Go's ports: -1 is a random port, 0 the default.
    fn port_number(&mut self, pos: &Pos, number: i64) -> Option<u16> {
        match number {
            -1 => Some(0),
            0 => Some(natrix_shards::options::DEFAULT_PORT),
            1..=65535 => u16::try_from(number).ok(),
            _ => {
                self.error(pos, format!("invalid port {number}"));
                None
            }
        }
    }

    fn authorization(&mut self, entry: &Entry, auth: &mut AuthOptions) {
        let Some(map) = self.map(entry) else { return };
        self.authorization_pos = Some(entry.key_pos.clone());
        let mut default_permissions = None;
        let mut users_array = false;
        for field in &map.entries {
            match field.key.to_ascii_lowercase().as_str() {
                "user" | "username" => auth.username = self.string(field),
                "pass" | "password" => auth.password = self.string(field),
                "token" => auth.token = self.string(field),
                "timeout" => {
                    let seconds = match &field.item.value {
                        Value::Integer(seconds) => *seconds as f64,
                        Value::Float(seconds) => *seconds,
                        Value::String(text) => match parse_go_duration(text) {
                            Ok(duration) => duration.as_secs_f64(),
                            Err(reason) => {
                                self.error(
                                    &field.item.pos,
                                    format!(
                                        "error parsing authorization config, 'timeout' {reason}"
                                    ),
                                );
                                continue;
                            }
                        },
                        _ => {
                            self.error(
                                &field.item.pos,
                                "error parsing authorization config, 'timeout' wrong type",
                            );
                            continue;
                        }
                    };
                    if seconds > 60.0 {
                        self.warnings.push(format!(
                            "{}: invalid use of field {:?}: timeout of {seconds} seconds is high, consider keeping it under 60 seconds",
                            field.item.pos, field.key
                        ));
                    }
                    if seconds.is_finite() && seconds > 0.0 {
                        auth.timeout = Some(Duration::from_secs_f64(seconds));
                    }
                }
                "users" => {
                    users_array = true;
                    if let Some((nkeys, users)) = self.users(field, None) {
                        auth.users.extend(users);
                        auth.nkeys.extend(nkeys);
                    }
                }
                "default_permission" | "default_permissions" | "permissions" => {
                    default_permissions = self.permissions(field);
                }
                "auth_callout" | "auth_hook" => self.refused(
                    field,
                    "auth callout: an external service decides who connects",
                ),
                "proxy_required" => self.proxy_required(field),
                _ => self.unknown(field),
            }
        }
        let has_user = auth.username.is_some() || auth.password.is_some();
        if has_user && auth.token.is_some() {
            self.error(&entry.item.pos, "Cannot have a user/pass and token");
        }
        if users_array && auth.username.is_some() {
            self.error(
                &entry.item.pos,
                "Can not have a single user/pass and a users array",
            );
        }
        if users_array && auth.token.is_some() {
            self.error(&entry.item.pos, "Can not have a token and a users array");
        }
        if let Some(defaults) = default_permissions {
            apply_default_permissions(&mut auth.users, &mut auth.nkeys, &defaults, None);
            auth.default_permissions = Some(defaults);
        }
    }

    /// Checks and settings that involve several top-level keys, which may come in any order.
    fn finish(&mut self, settings: &mut CommandLine) {
        self.check_auth_consistency(settings);
        // A top-level option in Go, outside the TLS settings: it applies to TLS from `tls {}`
        // here, and to TLS from the `--tls*` flags when those replace it (see `flags`).
        if let Some(allow_non_tls) = self.allow_non_tls {
            settings.allow_non_tls = allow_non_tls;
            if let Some(tls) = settings.options.tls.as_mut() {
                tls.allow_non_tls = allow_non_tls;
            }
        }
    }

    /// `tls {}`: the client port's certificate, client verification, handshake options. The
    /// certificate and key are loaded here, so `-t` reports a bad file as the Go server does.
    fn tls(&mut self, entry: &Entry, settings: &mut CommandLine) {
        let Some(map) = self.map(entry) else { return };
        let mut tls = TlsSettings::new("", "");
        let mut cert_file = None;
        let mut key_file = None;
        for field in &map.entries {
            match field.key.to_ascii_lowercase().as_str() {
                "cert_file" => cert_file = self.string(field),
                "key_file" => key_file = self.string(field),
                "ca_file" => tls.ca_file = self.string(field).map(Into::into),
                "verify" => tls.verify = self.boolean(field).unwrap_or(false),
                "verify_and_map" => tls.verify_and_map = self.boolean(field).unwrap_or(false),
                "insecure" => tls.insecure = self.boolean(field).unwrap_or(false),
                "cipher_suites" => tls.cipher_suites = self.string_list(field).unwrap_or_default(),
                "curve_preferences" => {
                    tls.curve_preferences = self.string_list(field).unwrap_or_default()
                }
                "pinned_certs" => tls.pinned_certs = self.string_list(field).unwrap_or_default(),
                "timeout" => {
                    let seconds = match &field.item.value {
                        Value::Integer(seconds) => Some(*seconds as f64),
                        Value::Float(seconds) => Some(*seconds),
                        Value::String(text) => parse_go_duration(text)
                            .map(|duration| duration.as_secs_f64())
                            .ok(),
                        _ => None,
                    };
                    match seconds.filter(|seconds| seconds.is_finite() && *seconds > 0.0) {
                        Some(seconds) => tls.timeout = Duration::from_secs_f64(seconds),
                        None => self.error(
                            &field.item.pos,
                            "error parsing tls config, 'timeout' wrong type or value",
                        ),
                    }
                }
                "handshake_first" | "first" | "immediate" => match &field.item.value {
                    Value::Bool(first) => tls.handshake_first = *first,
                    Value::String(text) => match text.to_ascii_lowercase().as_str() {
                        "true" | "on" => tls.handshake_first = true,
                        "false" | "off" => tls.handshake_first = false,
                        "auto" | "auto_fallback" => {
                            tls.handshake_first = true;
                            tls.handshake_first_fallback = Some(HANDSHAKE_FIRST_FALLBACK_DEFAULT);
                        }
                        _ => match parse_go_duration(text) {
                            // Go: a zero delay is no fallback at all.
                            Ok(delay) => {
                                tls.handshake_first = true;
                                tls.handshake_first_fallback = Some(delay).filter(|d| !d.is_zero());
                            }
                            Err(_) => self.error(
                                &field.item.pos,
                                format!("field {:?}'s value {text:?} is invalid", field.key),
                            ),
                        },
                    },
                    _ => self.wrong_type(field, "a boolean or a string"),
                },
                "min_version" => {
                    if let Some(text) = self.string(field) {
                        match TlsVersion::parse(&text) {
                            Ok(version) => tls.min_version = version,
                            Err(error) => self.error(&field.item.pos, error),
                        }
                    }
                }
                // Go's own error for the client port (`isClientCtx`).
                "verify_cert_and_check_known_urls" => {
                    if self.boolean(field) == Some(true) {
                        self.error(
                            &field.item.pos,
                            "verify_cert_and_check_known_urls not supported in this context",
                        );
                    }
                }
                "ocsp_peer" => {
                    let enabled = match &field.item.value {
                        Value::Bool(enabled) => *enabled,
                        Value::Map(map) => map.entries.iter().any(|entry| {
                            entry.key.eq_ignore_ascii_case("verify")
                                && entry.item.value == Value::Bool(true)
                        }),
                        _ => true,
                    };
                    if enabled {
                        self.refused(field, "OCSP revocation checks of client certificates");
                    }
                }
                "allow_insecure_cipher_suites"
                | "connection_rate_limit"
                | "cert_store"
                | "cert_match_by"
                | "cert_match"
                | "ca_certs_match"
                | "cert_match_skip_invalid"
                | "certs"
                | "certificates" => self.not_supported(field, "tls option"),
                _ => self.unknown(field),
            }
        }
        let (Some(cert_file), Some(key_file)) = (cert_file, key_file) else {
            self.error(
                &entry.item.pos,
                "missing 'cert_file' or 'key_file' in TLS configuration",
            );
            return;
        };
        tls.cert_file = cert_file.into();
        tls.key_file = key_file.into();
        if let Err(error) = tls.server_config() {
            self.error(&entry.item.pos, error);
            return;
        }
        settings.options.tls = Some(tls);
    }

    /// Checks that involve both `authorization {}` and `accounts {}`, which may come in any
    /// order in the file.
    fn check_auth_consistency(&mut self, settings: &CommandLine) {
        let auth = &settings.options.auth;
        let account_users = auth.users.iter().any(|user| user.account.is_some())
            || auth.nkeys.iter().any(|user| user.account.is_some());
        let pos = self.authorization_pos.clone();
        if let (true, Some(pos)) = (account_users, pos.as_ref()) {
            if auth.username.is_some() {
                self.error(pos, "Can not have a single user/pass and accounts");
            }
            if auth.token.is_some() {
                self.error(pos, "Can not have a token and accounts");
            }
        }
        let mut seen = std::collections::HashSet::new();
        for name in auth
            .users
            .iter()
            .map(|user| &user.username)
            .chain(auth.nkeys.iter().map(|user| &user.nkey))
        {
            if !seen.insert(name) {
                let pos = pos.clone().unwrap_or_else(|| Pos {
                    file: std::sync::Arc::new("config".into()),
                    line: 0,
                    column: 0,
                });
                self.error(&pos, format!("Duplicate user {name:?} detected"));
            }
        }
        let mut names = std::collections::HashSet::new();
        for account in &settings.options.accounts {
            names.insert(account.name.as_str());
        }
        if let Some(user) = &auth.no_auth_user {
            let known = auth.users.iter().any(|known| &known.username == user)
                || auth.nkeys.iter().any(|known| &known.nkey == user);
            if !known {
                self.errors.push(format!(
                    "no_auth_user: {user:?} not present as user or nkey in authorization block or account configuration"
                ));
            }
        }
    }

    /// `proxy_required: true` admits a user only through a trusted proxy; Natrix has no
    /// trusted proxies, so it refuses the setting rather than admit the user from anywhere.
    fn proxy_required(&mut self, field: &Entry) {
        if self.boolean(field) == Some(true) {
            self.refused(field, "users admitted only through a trusted proxy");
        }
    }

    /// A `users` array: (nkey users, password users).
    fn users(
        &mut self,
        entry: &Entry,
        account: Option<&str>,
    ) -> Option<(Vec<NkeyUser>, Vec<User>)> {
        let Value::Array(items) = &entry.item.value else {
            self.error(
                &entry.item.pos,
                format!(
                    "Expected users field to be an array, got {}",
                    kind(&entry.item.value)
                ),
            );
            return None;
        };
        let mut nkeys = Vec::new();
        let mut users = Vec::new();
        for item in items {
            let Value::Map(map) = &item.value else {
                self.error(
                    &item.pos,
                    format!(
                        "Expected user entry to be a map/struct, got {}",
                        kind(&item.value)
                    ),
                );
                continue;
            };
            let mut user = User {
                account: account.map(str::to_string),
                ..User::default()
            };
            let mut nkey = String::new();
            for field in &map.entries {
                match field.key.to_ascii_lowercase().as_str() {
                    "nkey" => nkey = self.string(field).unwrap_or_default(),
                    "user" | "username" => user.username = self.string(field).unwrap_or_default(),
                    "pass" | "password" => user.password = self.string(field).unwrap_or_default(),
                    "permission" | "permissions" | "authorization" => {
                        user.permissions = self.permissions(field)
                    }
                    "allowed_connection_types" | "connection_types" | "clients" => {
                        user.allowed_connection_types = self.string_list(field).unwrap_or_default()
                    }
                    "proxy_required" => self.proxy_required(field),
                    _ => self.unknown(field),
                }
            }
            if nkey.is_empty() && user.username.is_empty() {
                self.error(&item.pos, "User entry requires a user");
            } else if !nkey.is_empty() {
                if !is_public_user_nkey(&nkey) {
                    self.error(&item.pos, "Not a valid public nkey for a user");
                } else if !user.username.is_empty() || !user.password.is_empty() {
                    self.error(&item.pos, "Nkey users do not take usernames or passwords");
                } else {
                    nkeys.push(NkeyUser {
                        nkey,
                        permissions: user.permissions,
                        account: user.account,
                        allowed_connection_types: user.allowed_connection_types,
                    });
                }
            } else {
                users.push(user);
            }
        }
        Some((nkeys, users))
    }

    /// A string or an array of strings.
    fn string_list(&mut self, entry: &Entry) -> Option<Vec<String>> {
        match &entry.item.value {
            Value::String(text) => Some(vec![text.clone()]),
            Value::Array(items) => {
                let mut list = Vec::new();
                for item in items {
                    match &item.value {
                        Value::String(text) => list.push(text.clone()),
                        other => {
                            self.error(
                                &item.pos,
                                format!(
                                    "expected a string in {:?}, got {}",
                                    entry.key,
                                    kind(other)
                                ),
                            );
                            return None;
                        }
                    }
                }
                Some(list)
            }
            _ => {
                self.wrong_type(entry, "a string or an array of strings");
                None
            }
        }
    }

    fn permissions(&mut self, entry: &Entry) -> Option<Permissions> {
        let Value::Map(map) = &entry.item.value else {
            self.error(
                &entry.item.pos,
                format!(
                    "Expected permissions to be a map/struct, got {}",
                    kind(&entry.item.value)
                ),
            );
            return None;
        };
        let mut permissions = Permissions::default();
        for field in &map.entries {
            match field.key.to_ascii_lowercase().as_str() {
                "pub" | "publish" | "import" => {
                    permissions.publish = self.subject_permission(field, false)
                }
                "sub" | "subscribe" | "export" => {
                    permissions.subscribe = self.subject_permission(field, true)
                }
                "publish_allow_responses" | "allow_responses" => {
                    permissions.response = match &field.item.value {
                        Value::Bool(true) => Some(ResponsePermission::default()),
                        Value::Bool(false) => None,
                        Value::Map(map) => self.response_permission(map),
                        _ => {
                            self.error(
                                &field.item.pos,
                                "error parsing response permissions, expected a boolean or a map",
                            );
                            None
                        }
                    };
                }
                _ => self.error(
                    &field.key_pos,
                    format!("Unknown field {:?} parsing permissions", field.key),
                ),
            }
        }
        // As in the Go server: allowing responses without publish permissions means only
        // responses may be published.
        if permissions.response.is_some() {
            let publish = permissions.publish.get_or_insert_with(Default::default);
            publish.allow.get_or_insert_with(Vec::new);
        }
        Some(permissions)
    }

    fn response_permission(&mut self, map: &Map) -> Option<ResponsePermission> {
        let mut response = ResponsePermission::default();
        for field in &map.entries {
            match field.key.to_ascii_lowercase().as_str() {
                "max" | "max_msgs" | "max_messages" | "max_responses" => {
                    if let Some(max) = self.integer(field) {
                        if max != 0 {
                            response.max_msgs = max;
                        }
                    }
                }
                "expires" | "expiration" | "ttl" => match &field.item.value {
                    Value::String(text) => match parse_go_duration(text) {
                        Ok(ttl) if !ttl.is_zero() => response.expires = ttl,
                        Ok(_) => {}
                        Err(reason) => {
                            self.error(&field.item.pos, format!("error parsing expires: {reason}"));
                            return None;
                        }
                    },
                    _ => {
                        self.error(
                            &field.item.pos,
                            "error parsing expires, not a duration string",
                        );
                        return None;
                    }
                },
                _ => self.error(
                    &field.key_pos,
                    format!("Unknown field {:?} parsing permissions", field.key),
                ),
            }
        }
        Some(response)
    }

    /// `{allow, deny}`, or the old style: a subject or a list of subjects to allow.
    fn subject_permission(&mut self, entry: &Entry, queues: bool) -> Option<SubjectPermission> {
        match &entry.item.value {
            Value::Map(map) => {
                if map.entries.is_empty() {
                    return None;
                }
                let mut permission = SubjectPermission::default();
                for field in &map.entries {
                    match field.key.to_ascii_lowercase().as_str() {
                        "allow" => permission.allow = self.permission_subjects(field, queues),
                        "deny" => permission.deny = self.permission_subjects(field, queues),
                        _ => self.error(
                            &field.key_pos,
                            format!(
                                "Unknown field name {:?} parsing subject permissions, only 'allow' or 'deny' are permitted",
                                field.key
                            ),
                        ),
                    }
                }
                Some(permission)
            }
            _ => Some(SubjectPermission {
                allow: self.permission_subjects(entry, queues),
                deny: None,
            }),
        }
    }

    fn permission_subjects(&mut self, entry: &Entry, queues: bool) -> Option<Vec<String>> {
        let subjects = self.string_list(entry)?;
        for subject in &subjects {
            let mut parts = subject.split_whitespace();
            let valid = match (parts.next(), parts.next(), parts.next()) {
                (Some(subject), None, None) => is_valid_subject(subject),
                (Some(subject), Some(queue), None) if queues => {
                    is_valid_subject(subject) && is_valid_subject(queue)
                }
                _ => false,
            };
            if !valid {
                self.error(
                    &entry.item.pos,
                    format!("subject {subject:?} is not a valid subject"),
                );
                return None;
            }
        }
        Some(subjects)
    }

    fn accounts(&mut self, entry: &Entry, settings: &mut CommandLine) {
        match &entry.item.value {
            Value::Array(items) => {
                for item in items {
                    let Value::String(name) = &item.value else {
                        self.error(&item.pos, "account names must be strings");
                        continue;
                    };
                    self.add_account(
                        &item.pos,
                        AccountOptions {
                            name: name.clone(),
                            ..AccountOptions::default()
                        },
                        settings,
                    );
                }
            }
            Value::Map(map) => {
                for account_entry in &map.entries {
                    let Value::Map(fields) = &account_entry.item.value else {
                        self.error(&account_entry.item.pos, "Expected map entries for accounts");
                        continue;
                    };
                    let name = account_entry.key.clone();
                    let mut account = AccountOptions {
                        name: name.clone(),
                        ..AccountOptions::default()
                    };
                    let mut users = (Vec::new(), Vec::new());
                    let mut default_permissions = None;
                    for field in &fields.entries {
                        match field.key.to_ascii_lowercase().as_str() {
                            "users" => {
                                if let Some(found) = self.users(field, Some(&name)) {
                                    users = found;
                                }
                            }
                            "imports" => account.imports = self.imports(field),
                            "exports" => account.exports = self.exports(field),
                            "mappings" | "maps" => {
                                account.mappings = self.mappings(field).unwrap_or_default()
                            }
                            "default_permissions" => default_permissions = self.permissions(field),
                            "nkey" | "jetstream" | "limits" | "msg_trace" | "trace_dest" => {
                                self.not_supported(field, "account option")
                            }
                            _ => self.unknown(field),
                        }
                    }
                    let (mut nkeys, mut users) = users;
                    if let Some(defaults) = &default_permissions {
                        apply_default_permissions(&mut users, &mut nkeys, defaults, None);
                    }
                    settings.options.auth.users.extend(users);
                    settings.options.auth.nkeys.extend(nkeys);
                    self.add_account(&account_entry.key_pos, account, settings);
                }
            }
            _ => self.wrong_type(entry, "a map or an array"),
        }
        self.check_imports_and_exports(entry, settings);
    }

    fn add_account(&mut self, pos: &Pos, account: AccountOptions, settings: &mut CommandLine) {
        if account.name == natrix_shards::account::GLOBAL_ACCOUNT_NAME {
            self.error(pos, format!("{:?} is a Reserved Account", account.name));
        } else if settings
            .options
            .accounts
            .iter()
            .any(|known| known.name == account.name)
        {
            self.error(pos, format!("Duplicate Account Entry: {}", account.name));
        } else {
            settings.options.accounts.push(account);
        }
    }

    fn check_imports_and_exports(&mut self, entry: &Entry, settings: &CommandLine) {
        let accounts = &settings.options.accounts;
        let known = |name: &str| accounts.iter().any(|account| account.name == name);
        let mut problems = Vec::new();
        for account in accounts {
            for export in &account.exports {
                for name in export.accounts.iter().flatten() {
                    if !known(name) {
                        let what = match export.kind {
                            ExportKind::Stream => "stream export",
                            ExportKind::Service => "service export",
                        };
                        problems.push(format!("{name:?} account not defined for {what}"));
                    }
                }
            }
            for import in &account.imports {
                if !known(&import.account) {
                    let what = match import.kind {
                        ExportKind::Stream => "stream import",
                        ExportKind::Service => "service import",
                    };
                    problems.push(format!(
                        "{:?} account not defined for {what}",
                        import.account
                    ));
                }
            }
        }
        let defined = problems.is_empty();
        for problem in problems {
            self.error(&entry.item.pos, problem);
        }
        // With every account defined, check that each import has an export that admits it.
        if defined {
            if let Err(error) = natrix_shards::account::AccountTable::build(&settings.options) {
                self.error(&entry.item.pos, error);
            }
        }
    }

    /// The `stream`/`service` key of an export or import; an entry that names both is Go's
    /// error ("Detected stream but already saw a service").
    fn export_kind(
        &mut self,
        field: &Entry,
        kind_name: &str,
        seen: Option<ExportKind>,
    ) -> Option<ExportKind> {
        let (kind, other) = if kind_name == "stream" {
            (ExportKind::Stream, "service")
        } else {
            (ExportKind::Service, "stream")
        };
        if seen.is_some_and(|previous| previous != kind) {
            self.error(
                &field.item.pos,
                format!("Detected {kind_name} but already saw a {other}"),
            );
            return None;
        }
        Some(kind)
    }

    fn exports(&mut self, entry: &Entry) -> Vec<Export> {
        let Value::Array(items) = &entry.item.value else {
            self.error(
                &entry.item.pos,
                format!(
                    "Exports should be an array, got {}",
                    kind(&entry.item.value)
                ),
            );
            return Vec::new();
        };
        let mut exports = Vec::new();
        for item in items {
            let Value::Map(map) = &item.value else {
                self.error(
                    &item.pos,
                    format!(
                        "Export Items should be a map with type entry, got {}",
                        kind(&item.value)
                    ),
                );
                continue;
            };
            let mut export = Export {
                kind: ExportKind::Stream,
                subject: String::new(),
                accounts: None,
                response_type: ResponseType::Singleton,
            };
            let mut seen_kind = None;
            let mut response_pos = None;
            for field in &map.entries {
                match field.key.to_ascii_lowercase().as_str() {
                    kind_name @ ("stream" | "service") => {
                        let Some(export_kind) = self.export_kind(field, kind_name, seen_kind)
                        else {
                            continue;
                        };
                        seen_kind = Some(export_kind);
                        export.kind = export_kind;
                        export.subject = self.string(field).unwrap_or_default();
                    }
                    "accounts" => export.accounts = self.string_list(field),
                    "response" | "response_type" => {
                        response_pos = Some(field.item.pos.clone());
                        let Some(text) = self.string(field) else {
                            continue;
                        };
                        export.response_type = match text.to_ascii_lowercase().as_str() {
                            "single" | "singleton" => ResponseType::Singleton,
                            "stream" => ResponseType::Stream,
                            "chunk" | "chunked" => ResponseType::Chunked,
                            _ => {
                                self.error(
                                    &field.item.pos,
                                    format!("Unknown response type: {text:?}"),
                                );
                                continue;
                            }
                        };
                    }
                    "threshold" | "response_threshold" | "response_max_time" | "response_time"
                    | "latency" | "allow_trace" => self.not_supported(field, "export option"),
                    "account_token_position" => self.refused(
                        field,
                        "an export only the account named in the subject may import",
                    ),
                    _ => self.unknown(field),
                }
            }
            if seen_kind == Some(ExportKind::Stream) {
                if let Some(pos) = response_pos {
                    self.error(&pos, "Detected response directive on non-service");
                    continue;
                }
            }
            if seen_kind.is_none() || export.subject.is_empty() {
                self.error(&item.pos, "Export needs a stream or a service subject");
                continue;
            }
            if !is_valid_subject(&export.subject) {
                self.error(
                    &item.pos,
                    format!("subject {:?} is not a valid subject", export.subject),
                );
                continue;
            }
            exports.push(export);
        }
        exports
    }

    fn imports(&mut self, entry: &Entry) -> Vec<Import> {
        let Value::Array(items) = &entry.item.value else {
            self.error(
                &entry.item.pos,
                format!(
                    "Imports should be an array, got {}",
                    kind(&entry.item.value)
                ),
            );
            return Vec::new();
        };
        let mut imports: Vec<Import> = Vec::new();
        for item in items {
            let Value::Map(map) = &item.value else {
                self.error(
                    &item.pos,
                    format!(
                        "Import Items should be a map with type entry, got {}",
                        kind(&item.value)
                    ),
                );
                continue;
            };
            let mut import = Import {
                kind: ExportKind::Stream,
                account: String::new(),
                subject: String::new(),
                to: None,
                prefix: None,
            };
            let mut seen_kind = None;
            for field in &map.entries {
                match field.key.to_ascii_lowercase().as_str() {
                    kind_name @ ("stream" | "service") => {
                        let Some(export_kind) = self.export_kind(field, kind_name, seen_kind)
                        else {
                            continue;
                        };
                        seen_kind = Some(export_kind);
                        import.kind = export_kind;
                        let Value::Map(source) = &field.item.value else {
                            let what = if kind_name == "stream" {
                                "Stream"
                            } else {
                                "Service"
                            };
                            self.error(
                                &field.item.pos,
                                format!(
                                    "{what} entry should be an account map, got {}",
                                    kind(&field.item.value)
                                ),
                            );
                            continue;
                        };
                        for part in &source.entries {
                            match part.key.to_ascii_lowercase().as_str() {
                                "account" => import.account = self.string(part).unwrap_or_default(),
                                "subject" => import.subject = self.string(part).unwrap_or_default(),
                                _ => self.unknown(part),
                            }
                        }
                        if import.account.is_empty() || import.subject.is_empty() {
                            self.error(&field.item.pos, "Expect an account name and a subject");
                        }
                    }
                    "prefix" => import.prefix = self.string(field),
                    "to" => import.to = self.string(field),
                    "share" | "allow_trace" => self.not_supported(field, "import option"),
                    _ => self.unknown(field),
                }
            }
            if seen_kind.is_none() {
                self.error(&item.pos, "Import needs a stream or a service");
                continue;
            }
            if import.kind == ExportKind::Service {
                let to = import.to.clone().unwrap_or_else(|| import.subject.clone());
                let duplicate = imports.iter().find(|other| {
                    other.kind == ExportKind::Service
                        && other.account == import.account
                        && other.to.as_ref().unwrap_or(&other.subject) == &to
                });
                if let Some(duplicate) = duplicate {
                    self.error(
                        &item.pos,
                        format!(
                            "Duplicate service import subject {to:?}, previously used in import for account {:?}, subject {:?}",
                            duplicate.account, duplicate.subject
                        ),
                    );
                    continue;
                }
            }
            if !import.account.is_empty() && !import.subject.is_empty() {
                imports.push(import);
            }
        }
        imports
    }

    fn mappings(&mut self, entry: &Entry) -> Option<Vec<SubjectMapping>> {
        let map = self.map(entry)?;
        let mut mappings = Vec::new();
        for field in &map.entries {
            if !is_valid_subject(&field.key) {
                self.error(
                    &field.key_pos,
                    format!("Subject {:?} is not a valid subject", field.key),
                );
                continue;
            }
            let destinations = match &field.item.value {
                Value::String(destination) => vec![MappingDestination {
                    subject: destination.clone(),
                    weight: 100,
                }],
                Value::Array(items) => items
                    .iter()
                    .filter_map(|item| self.mapping_destination(item))
                    .collect(),
                Value::Map(_) => self.mapping_destination(&field.item).into_iter().collect(),
                other => {
                    self.error(
                        &field.item.pos,
                        format!("Unknown type {} for mapping destination", kind(other)),
                    );
                    continue;
                }
            };
            let total: u32 = destinations.iter().map(|dest| u32::from(dest.weight)).sum();
            if total > 100 {
                self.error(
                    &field.item.pos,
                    format!(
                        "Error adding mapping for {:?} : total weight needs to be <= 100",
                        field.key
                    ),
                );
                continue;
            }
            for destination in &destinations {
                if let Err(reason) =
                    natrix_shards::mapping::check_destination(&field.key, &destination.subject)
                {
                    self.error(
                        &field.item.pos,
                        format!(
                            "Error adding mapping for {:?} to {:?} : {reason}",
                            field.key, destination.subject
                        ),
                    );
                }
            }
            mappings.push(SubjectMapping {
                source: field.key.clone(),
                destinations,
            });
        }
        Some(mappings)
    }

    fn mapping_destination(&mut self, item: &Item) -> Option<MappingDestination> {
        let Value::Map(map) = &item.value else {
            self.error(
                &item.pos,
                format!(
                    "Expected an entry for the mapping destination, got {}",
                    kind(&item.value)
                ),
            );
            return None;
        };
        let mut subject = None;
        let mut weight = 100u8;
        for field in &map.entries {
            match field.key.to_ascii_lowercase().as_str() {
                "dest" | "destination" => subject = self.string(field),
                "weight" => {
                    let parsed = match &field.item.value {
                        Value::String(text) => text.trim_end_matches('%').parse::<i64>().ok(),
                        Value::Integer(number) => Some(*number),
                        _ => None,
                    };
                    match parsed {
                        Some(number @ 0..=100) => weight = number as u8,
                        Some(number) => {
                            self.error(
                                &field.item.pos,
                                format!("Invalid weight {number} for mapping destination"),
                            );
                            return None;
                        }
                        None => {
                            self.error(
                                &field.item.pos,
                                "Invalid value type for weight of mapping destination",
                            );
                            return None;
                        }
                    }
                }
                "cluster" => self.not_supported(field, "mapping option"),
                _ => {
                    self.error(
                        &field.key_pos,
                        format!("Unknown field {:?} for mapping destination", field.key),
                    );
                    return None;
                }
            }
        }
        let Some(subject) = subject else {
            self.error(&item.pos, "mapping destination needs a `destination`");
            return None;
        };
        Some(MappingDestination { subject, weight })
    }

    /// `jetstream: enabled`, `jetstream: true` or a block; parsed and checked now, named as
    /// not supported yet.
    fn jetstream(&mut self, entry: &Entry, settings: &mut CommandLine) {
        let jetstream = settings
            .options
            .jetstream
            .get_or_insert_with(JetStreamOptions::default);
        match &entry.item.value {
            Value::Bool(enabled) => jetstream.enabled = *enabled,
            Value::String(text) => match text.to_ascii_lowercase().as_str() {
                "enabled" | "enable" | "true" | "on" | "yes" => jetstream.enabled = true,
                "disabled" | "disable" | "false" | "off" | "no" => jetstream.enabled = false,
                _ => self.error(
                    &entry.item.pos,
                    format!("Expected 'enabled' or 'disabled' for string value, got '{text}'"),
                ),
            },
            Value::Map(map) => {
                let mut jetstream = JetStreamOptions {
                    enabled: true,
                    ..JetStreamOptions::default()
                };
                for field in &map.entries {
                    match field.key.to_ascii_lowercase().as_str() {
                        "enabled" | "enable" => {
                            jetstream.enabled = self.boolean(field).unwrap_or(true)
                        }
                        "disabled" | "disable" => {
                            jetstream.enabled = !self.boolean(field).unwrap_or(false)
                        }
                        "store" | "store_dir" | "storedir" => {
                            jetstream.store_dir = self.string(field)
                        }
                        "max_memory_store" | "max_mem_store" | "max_mem" => {
                            jetstream.max_memory = self.integer(field)
                        }
                        "max_file_store" | "max_file" => jetstream.max_file = self.integer(field),
                        "domain" => jetstream.domain = self.string(field),
                        "sync" | "sync_interval" => {
                            jetstream.sync_interval = match &field.item.value {
                                Value::String(text) if text.eq_ignore_ascii_case("always") => {
                                    Some(Duration::ZERO)
                                }
                                _ => self.duration(field),
                            }
                        }
                        "strict"
                        | "key"
                        | "ek"
                        | "encryption_key"
                        | "prev_key"
                        | "prev_ek"
                        | "prev_encryption_key"
                        | "cipher"
                        | "extension_hint"
                        | "limits"
                        | "tpm"
                        | "unique_tag"
                        | "max_outstanding_catchup"
                        | "max_buffered_size"
                        | "max_buffered_msgs"
                        | "request_queue_limit"
                        | "info_queue_limit"
                        | "meta_compact"
                        | "meta_compact_size"
                        | "meta_compact_sync"
                        | "max_concurrent_io" => {}
                        _ => self.unknown(field),
                    }
                }
                settings.options.jetstream = Some(jetstream);
            }
            _ => self.wrong_type(entry, "a boolean, a string or a map"),
        }
        self.not_supported(entry, "option");
    }

    fn cluster(&mut self, entry: &Entry, settings: &mut CommandLine) {
        let Some(map) = self.map(entry) else { return };
        let mut cluster = ClusterOptions::default();
        for field in &map.entries {
            match field.key.to_ascii_lowercase().as_str() {
                "name" => {
                    cluster.name = self.string(field);
                    if cluster.name.as_ref().is_some_and(|name| name.contains(' ')) {
                        self.error(&field.item.pos, "cluster name cannot contain spaces");
                    }
                }
                "listen" => {
                    if let Some((host, port)) = self.listen(field) {
                        cluster.host = host;
                        cluster.port = Some(i64::from(port));
                    }
                }
                "port" => cluster.port = self.integer(field),
                "host" | "net" => cluster.host = self.string(field),
                "routes" => cluster.routes = self.string_list(field).unwrap_or_default(),
                "cluster_advertise" | "advertise" => cluster.advertise = self.string(field),
                "no_advertise" => cluster.no_advertise = self.boolean(field).unwrap_or(false),
                "connect_retries" => cluster.connect_retries = self.integer(field).unwrap_or(0),
                "pool_size" => cluster.pool_size = self.integer(field),
                "authorization" | "tls" | "connect_backoff" | "permissions" | "accounts"
                | "compression" | "ping_interval" | "ping_max" | "write_deadline"
                | "write_timeout" => {}
                _ => self.unknown(field),
            }
        }
        settings.options.cluster = Some(cluster);
        self.not_supported(entry, "option");
    }

    /// Natrix's own `tuning {}` block: shards and how they map onto the host.
    fn tuning(&mut self, entry: &Entry, settings: &mut CommandLine) {
        let Some(map) = self.map(entry) else { return };
        let tuning = &mut settings.options.tuning;
        for field in &map.entries {
            match field.key.to_ascii_lowercase().as_str() {
                "shards" => match &field.item.value {
                    Value::String(text) if text.eq_ignore_ascii_case("auto") => {
                        tuning.shards = None
                    }
                    Value::Integer(count)
                        if (1..=natrix_shards::shard::MAX_SHARDS as i64).contains(count) =>
                    {
                        tuning.shards = Some(*count as usize)
                    }
                    _ => self.error(
                        &field.item.pos,
                        format!(
                            "shards must be \"auto\" or between 1 and {}",
                            natrix_shards::shard::MAX_SHARDS
                        ),
                    ),
                },
                "cpus" => match self.cpu_list(field) {
                    Some(CpuList::Auto) => tuning.cpus = None,
                    Some(CpuList::Cpus(cpus)) => tuning.cpus = Some(cpus),
                    None => {}
                },
                "avoid_cpus" => match self.cpu_list(field) {
                    Some(CpuList::Cpus(cpus)) => tuning.avoid_cpus = cpus,
                    Some(CpuList::Auto) => tuning.avoid_cpus.clear(),
                    None => {}
                },
                "spin_before_park" => {
                    if let Some(duration) = self.duration(field) {
                        tuning.spin_before_park = duration;
                    }
                }
                "io_uring_entries" => match &field.item.value {
                    Value::Integer(entries @ 1..=32768) if (*entries as u32).is_power_of_two() => {
                        tuning.io_uring_entries = Some(*entries as u32)
                    }
                    _ => self.error(
                        &field.item.pos,
                        "io_uring_entries must be a power of two between 1 and 32768",
                    ),
                },
                "mesh_queue_capacity" => match &field.item.value {
                    Value::Integer(capacity @ 1..=1_048_576) => {
                        tuning.mesh_queue_capacity = *capacity as usize
                    }
                    _ => self.error(
                        &field.item.pos,
                        "mesh_queue_capacity must be between 1 and 1048576",
                    ),
                },
                _ => self.unknown(field),
            }
        }
    }

    /// `"auto"`, `"0,2,4-7"`, `3` or `[0, 1, "4-5"]`.
    fn cpu_list(&mut self, entry: &Entry) -> Option<CpuList> {
        let mut text = String::new();
        match &entry.item.value {
            Value::String(list) if list.eq_ignore_ascii_case("auto") => return Some(CpuList::Auto),
            Value::String(list) => text.push_str(list),
            Value::Integer(cpu) => text.push_str(&cpu.to_string()),
            Value::Array(items) => {
                for item in items {
                    match &item.value {
                        Value::Integer(cpu) => text.push_str(&cpu.to_string()),
                        Value::String(part) => text.push_str(part),
                        other => {
                            self.error(
                                &item.pos,
                                format!("a CPU must be a number, not {}", kind(other)),
                            );
                            return None;
                        }
                    }
                    text.push(',');
                }
            }
            other => {
                self.error(
                    &entry.item.pos,
                    format!(
                        "{:?} must be \"auto\" or a CPU list, not {}",
                        entry.key,
                        kind(other)
                    ),
                );
                return None;
            }
        }
        match flags::parse_cpu_list(&text) {
            Ok(cpus) => Some(CpuList::Cpus(cpus)),
            Err(reason) => {
                self.error(&entry.item.pos, reason);
                None
            }
        }
    }
}

/// The monitoring port `http`/`https` sets.
fn monitor_port_mut(monitoring: &mut MonitoringOptions, secure: bool) -> &mut Option<i64> {
    if secure {
        &mut monitoring.https_port
    } else {
        &mut monitoring.http_port
    }
}

enum CpuList {
    Auto,
    Cpus(Vec<usize>),
}

fn apply_default_permissions(
    users: &mut [User],
    nkeys: &mut [NkeyUser],
    defaults: &Permissions,
    account: Option<&str>,
) {
    for user in users
        .iter_mut()
        .filter(|user| account.is_none() || user.account.as_deref() == account)
    {
        user.permissions.get_or_insert_with(|| defaults.clone());
    }
    for user in nkeys
        .iter_mut()
        .filter(|user| account.is_none() || user.account.as_deref() == account)
    {
        user.permissions.get_or_insert_with(|| defaults.clone());
    }
}

fn is_valid_subject(subject: &str) -> bool {
    natrix_shards::subject::is_valid_subject(subject.as_bytes())
}

/// A user's public nkey: 56 base32 characters starting with `U`.
fn is_public_user_nkey(key: &str) -> bool {
    key.len() == 56
        && key.starts_with('U')
        && key
            .bytes()
            .all(|byte| byte.is_ascii_uppercase() || (b'2'..=b'7').contains(&byte))
}

/// Go's `time.ParseDuration`: a sequence of decimal numbers with units (`ns`, `us`, `µs`, `ms`,
/// `s`, `m`, `h`), such as `300ms`, `1.5h` or `2h45m`; `0` needs no unit.
pub fn parse_go_duration(text: &str) -> Result<Duration, String> {
    let invalid = || format!("time: invalid duration {text:?}");
    let mut rest = text;
    let negative = rest.starts_with('-');
    rest = rest.trim_start_matches(['-', '+']);
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() || negative {
        return Err(invalid());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_end);
        if number.is_empty() || number == "." {
            return Err(invalid());
        }
        let value: f64 = number.parse().map_err(|_| invalid())?;
        let unit_end = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, remaining) = after.split_at(unit_end);
        let scale = match unit {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "" => return Err(format!("time: missing unit in duration {text:?}")),
            _ => return Err(format!("time: unknown unit {unit:?} in duration {text:?}")),
        };
        total += value * scale;
        rest = remaining;
    }
    Duration::try_from_secs_f64(total).map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Maps `text` as a config file; Ok(settings, warnings) or Err(error lines).
    fn read(text: &str) -> Result<(CommandLine, Vec<String>), Vec<String>> {
        let map = config::parse_str(text, Path::new("test.conf"))
            .map_err(|error| vec![error.to_string()])?;
        let mut settings = CommandLine::default();
        let mut reader = Reader::default();
        reader.top_level(&map, &mut settings);
        reader.finish(&mut settings);
        if reader.errors.is_empty() {
            Ok((settings, reader.warnings))
        } else {
            Err(reader.errors)
        }
    }

    #[test]
    fn core_options_take_units_durations_and_listen_forms() {
        let (settings, warnings) = read(
            "listen: 127.0.0.1:4333\nmax_payload: 2MB\nmax_pending: 64KB\n\
             ping_interval: \"30s\"\nwrite_deadline: 5\nmax_connections: 0\ndebug: true\n",
        )
        .expect("valid");
        let options = &settings.options;
        assert_eq!(options.host, "127.0.0.1");
        assert_eq!(options.port, 4333);
        assert_eq!(options.max_payload, 2 * 1024 * 1024);
        assert_eq!(options.max_pending, 64 * 1024);
        assert_eq!(options.ping_interval, Duration::from_secs(30));
        assert_eq!(options.write_deadline, Duration::from_secs(5));
        assert_eq!(options.max_connections, usize::MAX);
        assert!(settings.debug);
        assert_eq!(warnings.len(), 1, "a bare number of seconds is deprecated");
        assert!(warnings[0].contains("write_deadline should be converted to a duration"));
    }

    #[test]
    fn authorization_users_permissions_and_defaults() {
        let (settings, _) = read(
            r#"
authorization {
  default_permissions { publish: "public.>" }
  users: [
    {user: alice, password: "$2a$11$abcdefghijklmnopqrstuuQ8zDo5JXJXbVqRrF4zL7cZ0ssc3XlcW"}
    {user: bob, password: pw, permissions: {
        publish: {allow: ["orders.*"], deny: "orders.secret"}
        subscribe: ["replies.>", "work.* workers"]
        allow_responses: {max: 3, expires: "1m"}
    }}
  ]
  timeout: 1.5
}
"#,
        )
        .expect("valid");
        let auth = &settings.options.auth;
        assert_eq!(auth.users.len(), 2);
        assert!(auth.users[0].password.starts_with("$2a$11$"));
        let alice = auth.users[0]
            .permissions
            .as_ref()
            .expect("defaults applied");
        assert_eq!(
            alice.publish.as_ref().and_then(|p| p.allow.clone()),
            Some(vec!["public.>".to_string()])
        );
        let bob = auth.users[1].permissions.as_ref().expect("own permissions");
        let publish = bob.publish.as_ref().expect("publish");
        assert_eq!(publish.deny, Some(vec!["orders.secret".to_string()]));
        let response = bob.response.as_ref().expect("responses");
        assert_eq!(
            (response.max_msgs, response.expires),
            (3, Duration::from_secs(60))
        );
        assert_eq!(auth.timeout, Some(Duration::from_millis(1500)));
    }

    #[test]
    fn allow_responses_alone_allows_publishing_only_responses() {
        let (settings, _) =
            read("authorization { users: [{user: s, password: s, permissions: {allow_responses: true}}] }")
                .expect("valid");
        let permissions = settings.options.auth.users[0]
            .permissions
            .clone()
            .expect("permissions");
        assert_eq!(
            permissions.publish.and_then(|publish| publish.allow),
            Some(Vec::new())
        );
    }

    #[test]
    fn conflicting_authorization_settings_are_errors_like_the_go_server() {
        let errors = read("authorization { user: a, password: b, token: c }").unwrap_err();
        assert!(
            errors[0].contains("Cannot have a user/pass and token"),
            "{errors:?}"
        );
        let errors =
            read("authorization { user: a, users: [{user: b, password: c}] }").unwrap_err();
        assert!(
            errors[0].contains("Can not have a single user/pass and a users array"),
            "{errors:?}"
        );
        let errors = read(
            "authorization { users: [{user: a, password: b}] }\naccounts { A { users: [{user: a, password: c}] } }",
        )
        .unwrap_err();
        assert!(
            errors[0].contains("Duplicate user \"a\" detected"),
            "{errors:?}"
        );
        let errors = read("no_auth_user: ghost").unwrap_err();
        assert!(
            errors[0].contains("no_auth_user: \"ghost\" not present"),
            "{errors:?}"
        );
    }

    #[test]
    fn accounts_bind_users_and_check_imports() {
        let (settings, _) = read(
            r#"
accounts {
  A { users: [{user: a, password: a}], exports: [{stream: "x.>"}, {service: "q", response: stream}] }
  B { imports: [{stream: {account: A, subject: "x.>"}, prefix: p}, {service: {account: A, subject: q}, to: ask}] }
}
system_account: A
"#,
        )
        .expect("valid");
        let options = &settings.options;
        assert_eq!(options.accounts.len(), 2);
        assert_eq!(options.auth.users[0].account.as_deref(), Some("A"));
        assert_eq!(
            options.accounts[0].exports[1].response_type,
            ResponseType::Stream
        );
        assert_eq!(options.accounts[1].imports[0].prefix.as_deref(), Some("p"));
        assert_eq!(options.accounts[1].imports[1].to.as_deref(), Some("ask"));
        assert_eq!(options.system_account.as_deref(), Some("A"));
        let errors =
            read("accounts { B { imports: [{stream: {account: Z, subject: x}}] } }").unwrap_err();
        assert!(
            errors[0].contains("\"Z\" account not defined for stream import"),
            "{errors:?}"
        );
        let errors = read("accounts { $G { } }").unwrap_err();
        assert!(errors[0].contains("Reserved Account"), "{errors:?}");
    }

    #[test]
    fn mappings_take_plain_and_weighted_destinations() {
        let (settings, _) = read(
            r#"
mappings {
  "a.*": "b.$1"
  "w": [{destination: "w.1", weight: "40%"}, {destination: "w.2", weight: 60}]
}
"#,
        )
        .expect("valid");
        let mappings = &settings.options.mappings;
        assert_eq!(mappings[0].destinations[0].subject, "b.$1");
        assert_eq!(mappings[1].destinations[0].weight, 40);
        let errors = read(
            r#"mappings { "w": [{destination: "x", weight: 70}, {destination: "y", weight: 40}] }"#,
        )
        .unwrap_err();
        assert!(
            errors[0].contains("total weight needs to be <= 100"),
            "{errors:?}"
        );
        let errors = read(r#"mappings { "a.*": "b.$2" }"#).unwrap_err();
        assert!(errors[0].contains("out of range"), "{errors:?}");
    }

    #[test]
    fn unknown_keys_are_errors_unless_used_as_variables() {
        let errors = read("prot: 4222").unwrap_err();
        assert_eq!(
            errors,
            vec!["test.conf:1:1: unknown field \"prot\"".to_string()]
        );
        let (settings, _) =
            read("SECRET: s3cr3t\nauthorization { token: $SECRET }").expect("valid");
        assert_eq!(settings.options.auth.token.as_deref(), Some("s3cr3t"));
    }

    #[test]
    fn go_options_not_implemented_yet_are_warnings_that_name_them() {
        let (settings, warnings) =
            read("mqtt { port: 1883 }\njetstream { store_dir: \"/data\", max_mem: 1G }\ncluster { name: c, listen: 0.0.0.0:6222 }")
                .expect("valid");
        assert_eq!(warnings.len(), 3, "{warnings:?}");
        assert!(warnings[0].contains("\"mqtt\" is not supported by Natrix yet"));
        let jetstream = settings.options.jetstream.expect("parsed");
        assert_eq!(jetstream.store_dir.as_deref(), Some("/data"));
        assert_eq!(jetstream.max_memory, Some(1_000_000_000));
        assert_eq!(settings.options.cluster.expect("parsed").port, Some(6222));
    }

    #[test]
    fn settings_that_would_weaken_auth_are_errors_and_harmless_forms_are_not() {
        for text in [
            "operator: x",
            "trusted: [x]",
            "resolver: MEMORY",
            "resolver_preload: { A: x }",
            "authorization { auth_callout { issuer: x } }",
            "authorization { users: [{user: a, password: b, proxy_required: true}] }",
            "tls { cert_file: c, key_file: k, ocsp_peer: true }",
        ] {
            let errors = read(text).unwrap_err();
            assert!(
                errors
                    .iter()
                    .any(|error| error.contains("would weaken authentication")),
                "{text}: {errors:?}"
            );
        }
        let (_, warnings) =
            read("authorization { users: [{user: a, password: b, proxy_required: false}] }")
                .expect("proxy_required: false asks for nothing");
        assert!(warnings.is_empty(), "{warnings:?}");
        let errors =
            read("tls { cert_file: c, key_file: k, verify_cert_and_check_known_urls: true }")
                .unwrap_err();
        assert!(
            errors[0].contains("verify_cert_and_check_known_urls not supported in this context"),
            "{errors:?}"
        );
    }

    #[test]
    fn go_durations_parse_like_time_parse_duration() {
        assert_eq!(parse_go_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_go_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("2h45m"), Ok(Duration::from_secs(9900)));
        assert_eq!(parse_go_duration("300ms"), Ok(Duration::from_millis(300)));
        assert_eq!(parse_go_duration("0"), Ok(Duration::ZERO));
        assert!(parse_go_duration("10")
            .unwrap_err()
            .contains("missing unit"));
        assert!(parse_go_duration("1d")
            .unwrap_err()
            .contains("unknown unit"));
        assert!(parse_go_duration("").is_err());
    }
}
