//! The INFO document the server sends and the CONNECT document a client sends.

use serde::{Deserialize, Serialize};

/// The highest client protocol version the server speaks (1: dynamic cluster INFO updates).
pub const MAX_CLIENT_PROTOCOL: i64 = 1;

/// The server's INFO, with the Go server's field names, order and omission rules.
#[derive(Debug, Clone, Serialize)]
pub struct ServerInfo {
    pub server_id: String,
    pub server_name: String,
    pub version: String,
    pub proto: i64,
    pub go: String,
    pub host: String,
    pub port: u16,
    pub headers: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub auth_required: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub tls_required: bool,
    pub max_payload: usize,
    #[serde(skip_serializing_if = "is_zero")]
    pub client_id: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub client_ip: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub nonce: String,
    #[serde(skip_serializing_if = "is_false")]
    pub ldm: bool,
}

impl ServerInfo {
    /// The whole protocol line. The Go server puts a space before CRLF; so do we.
    pub fn line(&self) -> Vec<u8> {
        let mut line = b"INFO ".to_vec();
        // Serializing plain strings, numbers and bools cannot fail.
        line.extend_from_slice(&serde_json::to_vec(self).unwrap_or_default());
        line.extend_from_slice(b" \r\n");
        line
    }
}

fn is_false(value: &bool) -> bool {
    !*value
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

/// The options a client sends in CONNECT. Missing fields take the Go server's defaults.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ConnectOptions {
    pub verbose: bool,
    pub pedantic: bool,
    pub echo: bool,
    pub headers: bool,
    pub no_responders: bool,
    pub tls_required: bool,
    pub name: String,
    pub lang: String,
    pub version: String,
    pub protocol: i64,
    pub user: Option<String>,
    pub pass: Option<String>,
    pub auth_token: Option<String>,
    pub nkey: Option<String>,
    pub sig: Option<String>,
    pub jwt: Option<String>,
}

impl Default for ConnectOptions {
    /// Before CONNECT (and for fields CONNECT omits) the Go server assumes verbose, pedantic
    /// and echo.
    fn default() -> Self {
        ConnectOptions {
            verbose: true,
            pedantic: true,
            echo: true,
            headers: false,
            no_responders: false,
            tls_required: false,
            name: String::new(),
            lang: String::new(),
            version: String::new(),
            protocol: 0,
            user: None,
            pass: None,
            auth_token: None,
            nkey: None,
            sig: None,
            jwt: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_without_fields_keeps_go_defaults() {
        let options: ConnectOptions = serde_json::from_str("{}").expect("valid json");
        assert!(options.verbose && options.pedantic && options.echo && !options.headers);
    }

    #[test]
    fn info_line_omits_empty_optional_fields_and_ends_with_space_crlf() {
        let info = ServerInfo {
            server_id: "N1".into(),
            server_name: "n".into(),
            version: "2.14.0".into(),
            proto: 1,
            go: "x".into(),
            host: "0.0.0.0".into(),
            port: 4222,
            headers: true,
            auth_required: false,
            tls_required: false,
            max_payload: 1048576,
            client_id: 0,
            client_ip: String::new(),
            nonce: String::new(),
            ldm: false,
        };
        let line = String::from_utf8(info.line()).expect("utf8");
        assert!(line.starts_with("INFO {\"server_id\":\"N1\""));
        assert!(line.ends_with("} \r\n"));
        assert!(!line.contains("client_id") && !line.contains("nonce"));
    }
}
