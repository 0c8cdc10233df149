//! `websocket {}` (also `ws {}`): the WebSocket listener for browser and edge clients, with
//! the Go server's keys and aliases (`parseWebsocket`). A port of 0 (or none) leaves the
//! listener off, and the rest of the block with it, as in Go. The checks that involve other
//! blocks (`validateWebsocketOptions`) run at start, in `natrix_shards::websocket`.

use natrix_shards::websocket::WebsocketOptions;

use crate::config::{Entry, Value};
use crate::flags::Settings;

use super::values::{kind, parse_go_duration};
use super::Reader;

impl Reader {
    pub(super) fn websocket(&mut self, entry: &Entry, settings: &mut Settings) {
        let Some(map) = self.map(entry) else { return };
        let mut websocket = WebsocketOptions::default();
        // Go's port: 0 is no listener, -1 a random port.
        let mut port: Option<i64> = None;
        for field in &map.entries {
            match field.key.to_ascii_lowercase().as_str() {
                "listen" => {
                    if let Some((host, number)) = self.websocket_listen(field) {
                        if let Some(host) = host {
                            websocket.host = host;
                        }
                        port = Some(number);
                    }
                }
                "port" => {
                    if let Some(number) = self.integer(field) {
                        if (-1..=65535).contains(&number) {
                            port = Some(number);
                        } else {
                            self.error(&field.item.pos, format!("invalid port {number}"));
                        }
                    }
                }
                "host" | "net" => {
                    if let Some(host) = self.string(field) {
                        websocket.host = host;
                    }
                }
                "advertise" => websocket.advertise = self.string(field),
                "no_tls" => websocket.no_tls = self.boolean(field).unwrap_or(false),
                "tls" => websocket.tls = self.tls_settings(field),
                "same_origin" => websocket.same_origin = self.boolean(field).unwrap_or(false),
                "allowed_origins" | "allowed_origin" | "allow_origins" | "allow_origin"
                | "origins" | "origin" => {
                    websocket.allowed_origins = self.string_list(field).unwrap_or_default()
                }
                "handshake_timeout" => match &field.item.value {
                    Value::Integer(seconds) => {
                        websocket.handshake_timeout = u64::try_from(*seconds)
                            .ok()
                            .map(std::time::Duration::from_secs)
                    }
                    Value::String(text) => match parse_go_duration(text) {
                        Ok(duration) => websocket.handshake_timeout = Some(duration),
                        Err(reason) => self.error(&field.item.pos, reason),
                    },
                    other => self.error(
                        &field.item.pos,
                        format!(
                            "error parsing handshake timeout: unsupported type {}",
                            kind(other)
                        ),
                    ),
                },
                "compress" | "compression" => {
                    websocket.compression = self.boolean(field).unwrap_or(false)
                }
                "authorization" | "authentication" => self.websocket_auth(field, &mut websocket),
                "jwt_cookie" => websocket.jwt_cookie = self.string(field),
                "user_cookie" => websocket.user_cookie = self.string(field),
                "pass_cookie" => websocket.pass_cookie = self.string(field),
                "token_cookie" => websocket.token_cookie = self.string(field),
                "no_auth_user" => websocket.no_auth_user = self.string(field),
                "headers" => {
                    let Value::Map(headers) = &field.item.value else {
                        self.error(
                            &field.item.pos,
                            format!(
                                "error parsing headers: unsupported type {}",
                                kind(&field.item.value)
                            ),
                        );
                        continue;
                    };
                    websocket.headers.clear();
                    for header in &headers.entries {
                        match &header.item.value {
                            Value::String(value) => {
                                websocket.headers.push((header.key.clone(), value.clone()))
                            }
                            other => self.error(
                                &header.item.pos,
                                format!(
                                    "error parsing header key {}: unsupported type {}",
                                    header.key,
                                    kind(other)
                                ),
                            ),
                        }
                    }
                }
                // The shard's pinger pings WebSocket clients at the server's `ping_interval`.
                "ping_interval" => self.not_supported(field, "websocket option"),
                _ => self.unknown(field),
            }
        }
        settings.options.websocket = match port {
            None | Some(0) => None,
            Some(number) => {
                websocket.port = u16::try_from(number).unwrap_or(0);
                Some(websocket)
            }
        };
    }

    /// `listen: "host:port"` or `listen: port`; the port as Go reads it (-1 random, 0 none).
    fn websocket_listen(&mut self, entry: &Entry) -> Option<(Option<String>, i64)> {
        let (host, port) = match &entry.item.value {
            Value::Integer(port) => (None, *port),
            Value::String(text) => {
                let Some((host, port)) = text.rsplit_once(':') else {
                    self.error(
                        &entry.item.pos,
                        format!("could not parse address string {text:?}"),
                    );
                    return None;
                };
                let Ok(port) = port.parse::<i64>() else {
                    self.error(&entry.item.pos, format!("could not parse port {port:?}"));
                    return None;
                };
                let host = host.trim_start_matches('[').trim_end_matches(']');
                ((!host.is_empty()).then(|| host.to_string()), port)
            }
            _ => {
                self.wrong_type(entry, "a host:port string or a port");
                return None;
            }
        };
        if !(-1..=65535).contains(&port) {
            self.error(&entry.item.pos, format!("invalid port {port}"));
            return None;
        }
        Some((host, port))
    }

    /// Go's `parseSimpleAuth`: a user and password, or a token, and a timeout in seconds.
    fn websocket_auth(&mut self, entry: &Entry, websocket: &mut WebsocketOptions) {
        let Some(map) = self.map(entry) else { return };
        for field in &map.entries {
            match field.key.to_ascii_lowercase().as_str() {
                "user" | "username" => websocket.username = self.string(field),
                "pass" | "password" => websocket.password = self.string(field),
                "token" => websocket.token = self.string(field),
                "timeout" => {
                    websocket.auth_timeout = Some(match &field.item.value {
                        Value::Integer(seconds) => *seconds as f64,
                        Value::Float(seconds) => *seconds,
                        // Go takes one second for any other type.
                        _ => 1.0,
                    })
                }
                _ => self.unknown(field),
            }
        }
    }
}
