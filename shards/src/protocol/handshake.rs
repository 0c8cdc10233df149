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
    #[serde(skip_serializing_if = "is_false")]
    pub tls_verify: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub tls_available: bool,
    pub max_payload: usize,
    #[serde(skip_serializing_if = "is_zero")]
    pub client_id: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub client_ip: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub nonce: String,
    #[serde(skip_serializing_if = "is_false")]
    pub ldm: bool,
    /// Set on the INFO the Go server sends after the first PONG to clients that take INFO
    /// updates, with the account the client is bound to.
    #[serde(skip_serializing_if = "is_false")]
    pub connect_info: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub remote_account: String,
    #[serde(rename = "acc_is_sys", skip_serializing_if = "is_false")]
    pub account_is_system: bool,
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

/// The options a client sends in CONNECT. Missing or `null` fields keep the Go server's
/// defaults, as Go's JSON decoding into a pre-filled struct does.
#[derive(Debug, Clone)]
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
    /// `account` and `new_account`: a designation the Go server refuses with an
    /// authorization violation.
    pub account: Option<String>,
    pub new_account: bool,
}

/// CONNECT as sent: every field optional and nullable.
#[derive(Deserialize, Default)]
#[serde(default)]
struct ConnectDocument {
    verbose: Option<bool>,
    pedantic: Option<bool>,
    echo: Option<bool>,
    headers: Option<bool>,
    no_responders: Option<bool>,
    tls_required: Option<bool>,
    name: Option<String>,
    lang: Option<String>,
    version: Option<String>,
    protocol: Option<i64>,
    user: Option<String>,
    pass: Option<String>,
    auth_token: Option<String>,
    nkey: Option<String>,
    sig: Option<String>,
    jwt: Option<String>,
    account: Option<String>,
    new_account: Option<bool>,
}

/// A JSON object's fields read in document order, keys folded to lower case, a later key
/// replacing an earlier one (a plain map would keep them in key order and lose which came
/// last).
struct FieldsInOrder(serde_json::Map<String, serde_json::Value>);

impl<'de> Deserialize<'de> for FieldsInOrder {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = FieldsInOrder;

            fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                formatter.write_str("a JSON object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut access: A,
            ) -> Result<FieldsInOrder, A::Error> {
                let mut fields = serde_json::Map::new();
                while let Some((key, value)) = access.next_entry::<String, serde_json::Value>()? {
                    fields.insert(key.to_ascii_lowercase(), value);
                }
                Ok(FieldsInOrder(fields))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

impl ConnectOptions {
    /// Parses a CONNECT document over the defaults.
    ///
    /// Decoded as Go's `encoding/json` decodes into a struct: a key given twice takes its last
    /// value (not an error), and keys match field names without regard to case.
    pub fn from_json(json: &[u8]) -> Result<ConnectOptions, serde_json::Error> {
        let FieldsInOrder(fields) = serde_json::from_slice(json)?;
        let document = ConnectDocument::deserialize(serde_json::Value::Object(fields))?;
        let defaults = ConnectOptions::default();
        Ok(ConnectOptions {
            verbose: document.verbose.unwrap_or(defaults.verbose),
            pedantic: document.pedantic.unwrap_or(defaults.pedantic),
            echo: document.echo.unwrap_or(defaults.echo),
            headers: document.headers.unwrap_or(defaults.headers),
            no_responders: document.no_responders.unwrap_or(defaults.no_responders),
            tls_required: document.tls_required.unwrap_or(defaults.tls_required),
            name: document.name.unwrap_or_default(),
            lang: document.lang.unwrap_or_default(),
            version: document.version.unwrap_or_default(),
            protocol: document.protocol.unwrap_or(defaults.protocol),
            user: document.user,
            pass: document.pass,
            auth_token: document.auth_token,
            nkey: document.nkey,
            sig: document.sig,
            jwt: document.jwt,
            account: document.account,
            new_account: document.new_account.unwrap_or(false),
        })
    }
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
            account: None,
            new_account: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_without_fields_keeps_go_defaults() {
        let options = ConnectOptions::from_json(b"{}").expect("valid json");
        assert!(options.verbose && options.pedantic && options.echo && !options.headers);
    }

    #[test]
    fn null_fields_keep_defaults_as_the_rust_client_sends_them() {
        let json = br#"{"verbose":false,"name":null,"echo":null,"jwt":null,"headers":true}"#;
        let options = ConnectOptions::from_json(json).expect("valid json");
        assert!(!options.verbose && options.echo && options.headers && options.name.is_empty());
    }

    #[test]
    fn a_key_given_twice_takes_its_last_value_as_in_go() {
        let json = br#"{"verbose":true,"name":"a","verbose":false,"Name":"b","echo":false}"#;
        let options = ConnectOptions::from_json(json).expect("duplicates are not an error");
        assert!(!options.verbose && !options.echo);
        assert_eq!(options.name, "b");
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
            tls_verify: false,
            tls_available: false,
            max_payload: 1048576,
            client_id: 0,
            client_ip: String::new(),
            nonce: String::new(),
            ldm: false,
            connect_info: false,
            remote_account: String::new(),
            account_is_system: false,
        };
        let line = String::from_utf8(info.line()).expect("utf8");
        assert!(line.starts_with("INFO {\"server_id\":\"N1\""));
        assert!(line.ends_with("} \r\n"));
        assert!(!line.contains("client_id") && !line.contains("nonce"));
    }
}
