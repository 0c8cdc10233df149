//! Top-level keys: listen addresses and ports, logging, limits, monitoring, and the dispatch
//! to each block's reader.

use std::time::Duration;

use natrix_shards::options::MonitoringOptions;

use crate::config::{Entry, Map, Pos, Value};
use crate::flags::Settings;

use super::values::kind;
use super::Reader;

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
    "mqtt",
    "server_tags",
    "server_metadata",
    "default_js_domain",
    "ocsp_cache",
    "no_fast_producer_stall",
    "proxies",
];

/// Go server options that, ignored, would leave a server open that the file means to close:
/// the parts of operator mode not built yet (the URL resolver's TLS, pinned accounts, the
/// default sentinel). Natrix refuses a file with any of them, in `-t` and at start, instead of
/// starting without that authentication. (`resolver` refuses its URL and directory forms
/// itself; see `operator.rs`.)
const REFUSED_AUTH_OPTIONS: &[(&str, &str)] = &[
    ("resolver_tls", "TLS for the URL account resolver"),
    (
        "resolver_pinned_accounts",
        "the accounts the account resolver is limited to",
    ),
    (
        "default_sentinel",
        "the default sentinel JWT of operator mode",
    ),
];

impl Reader {
    pub(super) fn top_level(&mut self, map: &Map, settings: &mut Settings) {
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
                "operator" | "operators" | "roots" | "root" | "root_operators"
                | "root_operator" => self.operator(entry),
                "trusted" | "trusted_keys" => self.trusted(entry),
                "resolver" | "account_resolver" | "accounts_resolver" => self.resolver(entry),
                "resolver_preload" => self.resolver_preload(entry),
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
                "websocket" | "ws" => self.websocket(entry, settings),
                "allow_non_tls" => self.allow_non_tls = self.boolean(entry),
                "jetstream" => self.jetstream(entry, settings),
                "store_dir" | "storedir" => {
                    if let Some(dir) = self.string(entry) {
                        let jetstream = settings
                            .options
                            .jetstream
                            .get_or_insert_with(Default::default);
                        if jetstream.store_dir.is_some() {
                            self.error(&entry.item.pos, "Duplicate 'store_dir' configuration");
                        }
                        jetstream.store_dir = Some(dir);
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
    pub(super) fn feature_flags(
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
    pub(super) fn listen(&mut self, entry: &Entry) -> Option<(Option<String>, u16)> {
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
    pub(super) fn http_port(&mut self, entry: &Entry) -> Option<i64> {
        let number = self.integer(entry)?;
        if !(-1..=65535).contains(&number) {
            self.error(&entry.item.pos, format!("invalid port {number}"));
            return None;
        }
        Some(number)
    }

    /// `http: "host:port"` or `http: port` (Go's `parseListen` for the monitor).
    pub(super) fn http_listen(
        &mut self,
        entry: &Entry,
        monitoring: &mut MonitoringOptions,
        secure: bool,
    ) {
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

    pub(super) fn port(&mut self, entry: &Entry) -> Option<u16> {
        let number = self.integer(entry)?;
        self.port_number(&entry.item.pos, number)
    }

    /// Go's ports: -1 is a random port, 0 the default.
    pub(super) fn port_number(&mut self, pos: &Pos, number: i64) -> Option<u16> {
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
}

/// The monitoring port `http`/`https` sets.
fn monitor_port_mut(monitoring: &mut MonitoringOptions, secure: bool) -> &mut Option<i64> {
    if secure {
        &mut monitoring.https_port
    } else {
        &mut monitoring.http_port
    }
}
