//! `tls {}`: the client port's certificate, client verification and handshake options.

use std::time::Duration;

use natrix_shards::options::{TlsSettings, TlsVersion};

use crate::config::{Entry, Value};
use crate::flags::Settings;

use super::values::parse_go_duration;
use super::Reader;

/// Go's `DEFAULT_TLS_HANDSHAKE_FIRST_FALLBACK_DELAY`, what `handshake_first: auto` waits.
const HANDSHAKE_FIRST_FALLBACK_DEFAULT: Duration = Duration::from_millis(50);

impl Reader {
    /// `tls {}`: the client port's certificate, client verification, handshake options. The
    /// certificate and key are loaded here, so `-t` reports a bad file as the Go server does.
    pub(super) fn tls(&mut self, entry: &Entry, settings: &mut Settings) {
        if let Some(tls) = self.tls_settings(entry) {
            settings.options.tls = Some(tls);
        }
    }

    /// A `tls {}` block (of the client port, or of the `websocket {}` block), checked by
    /// loading its certificate and key.
    pub(super) fn tls_settings(&mut self, entry: &Entry) -> Option<TlsSettings> {
        let map = self.map(entry)?;
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
            return None;
        };
        tls.cert_file = cert_file.into();
        tls.key_file = key_file.into();
        if let Err(error) = tls.server_config() {
            self.error(&entry.item.pos, error);
            return None;
        }
        Some(tls)
    }
}
