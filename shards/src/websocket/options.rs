//! The `websocket {}` block's settings, with the Go server's names, defaults and checks
//! (`WebsocketOpts`, `validateWebsocketOptions`), and the origin policy they compile into.

use std::time::Duration;

use crate::tls::TlsSettings;

/// How long a client has to finish the TLS handshake and send its upgrade request when
/// `handshake_timeout` is not set. The Go server has no limit then; Natrix bounds it so a
/// silent connection cannot hold a socket for ever.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The `websocket {}` block. Present in [`crate::options::ServerOptions`] only when its port
/// is not 0 (Go: a port of 0 disables the listener and every other option with it).
#[derive(Debug, Clone, PartialEq)]
pub struct WebsocketOptions {
    /// Address the WebSocket listener binds (`host`/`net`, `listen`); Go's `0.0.0.0` default.
    pub host: String,
    /// Port; 0 picks a random free port (Go's `-1`).
    pub port: u16,
    /// `advertise`: the `host:port` to advertise to clients in a cluster (reported only).
    pub advertise: Option<String>,
    /// `no_tls`: serve `ws://` without TLS; required when there is no `tls {}` block.
    pub no_tls: bool,
    /// `tls {}`: `wss://` with this certificate; the handshake comes first, as on any HTTPS
    /// server. `verify_and_map` maps WebSocket clients' certificates to users.
    pub tls: Option<TlsSettings>,
    /// `same_origin`: the `Origin` header must name the host the request was sent to.
    pub same_origin: bool,
    /// `allowed_origins`: only these origins (`scheme://host[:port]`) may connect.
    pub allowed_origins: Vec<String>,
    /// `handshake_timeout`: time for the TLS handshake and the upgrade request together.
    pub handshake_timeout: Option<Duration>,
    /// `compression`: offer permessage-deflate to clients that ask for it.
    pub compression: bool,
    /// `authorization { user, password }`: overrides the server's single user for
    /// WebSocket clients.
    pub username: Option<String>,
    pub password: Option<String>,
    /// `authorization { token }`: overrides the server's token for WebSocket clients.
    pub token: Option<String>,
    /// `authorization { timeout }`, seconds: the auth timeout of WebSocket clients.
    pub auth_timeout: Option<f64>,
    /// `no_auth_user`: the user a WebSocket client without credentials logs in as.
    pub no_auth_user: Option<String>,
    /// `jwt_cookie`: refused at start as the Go server refuses it without trusted operators
    /// (Natrix has no operator mode).
    pub jwt_cookie: Option<String>,
    /// `user_cookie`, `pass_cookie`, `token_cookie`: cookies of the upgrade request that
    /// stand in for CONNECT's `user`, `pass` and `auth_token` when CONNECT leaves them empty.
    pub user_cookie: Option<String>,
    pub pass_cookie: Option<String>,
    pub token_cookie: Option<String>,
    /// `headers`: extra headers of the upgrade response, in file order.
    pub headers: Vec<(String, String)>,
}

impl Default for WebsocketOptions {
    fn default() -> Self {
        WebsocketOptions {
            host: "0.0.0.0".to_string(),
            port: 0,
            advertise: None,
            no_tls: false,
            tls: None,
            same_origin: false,
            allowed_origins: Vec::new(),
            handshake_timeout: None,
            compression: false,
            username: None,
            password: None,
            token: None,
            auth_timeout: None,
            no_auth_user: None,
            jwt_cookie: None,
            user_cookie: None,
            pass_cookie: None,
            token_cookie: None,
            headers: Vec::new(),
        }
    }
}

/// A `websocket {}` block the Go server would refuse to start with (its texts).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WebsocketConfigError {
    /// Neither `tls {}` nor `no_tls: true`. Not recoverable without changing the file.
    #[error("websocket requires TLS configuration")]
    TlsRequired,
    /// An `allowed_origins` entry that is not an absolute http(s) URL with a host.
    #[error("{0}")]
    BadOrigin(String),
    /// A `headers` entry the upgrade response must not carry.
    #[error("{0}")]
    BadHeader(String),
    /// Single user or token next to a users list.
    #[error("{0}")]
    AuthConflict(&'static str),
    /// `no_auth_user` names no configured user (the auth check's text).
    #[error("{0}")]
    NoAuthUser(String),
    /// `jwt_cookie` without trusted operators, which Natrix does not support at all.
    #[error("trusted operators or trusted keys configuration is required for JWT authentication via cookie {0:?}")]
    JwtCookie(String),
    /// The `tls {}` block's certificate or settings could not be loaded.
    #[error("{0}")]
    Tls(String),
}

impl WebsocketOptions {
    /// The effective handshake time limit.
    pub fn handshake_limit(&self) -> Duration {
        self.handshake_timeout
            .filter(|limit| !limit.is_zero())
            .unwrap_or(DEFAULT_HANDSHAKE_TIMEOUT)
    }

    /// Whether the block overrides the server's authentication for WebSocket clients (Go:
    /// `authOverride`): any of user, token or `no_auth_user` set.
    pub fn auth_override(&self) -> bool {
        self.username
            .as_deref()
            .is_some_and(|name| !name.is_empty())
            || self.token.as_deref().is_some_and(|token| !token.is_empty())
            || self
                .no_auth_user
                .as_deref()
                .is_some_and(|name| !name.is_empty())
    }

    /// The Go server's `validateWebsocketOptions`, for the checks that do not involve other
    /// blocks (`has_users`: the server has a users or nkeys list).
    pub fn validate(&self, has_users: bool) -> Result<(), WebsocketConfigError> {
        if self.tls.is_none() && !self.no_tls {
            return Err(WebsocketConfigError::TlsRequired);
        }
        for origin in &self.allowed_origins {
            AllowedOrigin::parse(origin)?;
        }
        if has_users {
            if self
                .username
                .as_deref()
                .is_some_and(|name| !name.is_empty())
            {
                return Err(WebsocketConfigError::AuthConflict(
                    "websocket authentication username not compatible with presence of users/nkeys",
                ));
            }
            if self.token.as_deref().is_some_and(|token| !token.is_empty()) {
                return Err(WebsocketConfigError::AuthConflict(
                    "websocket authentication token not compatible with presence of users/nkeys",
                ));
            }
        }
        // Go: JWT cookies need trusted operators, which Natrix refuses in any file.
        if let Some(cookie) = self
            .jwt_cookie
            .as_deref()
            .filter(|cookie| !cookie.is_empty())
        {
            return Err(WebsocketConfigError::JwtCookie(cookie.to_string()));
        }
        for (name, _) in &self.headers {
            let lower = name.to_ascii_lowercase();
            if matches!(
                lower.as_str(),
                "host" | "content-length" | "connection" | "upgrade" | "nats-no-masking"
            ) {
                return Err(WebsocketConfigError::BadHeader(format!(
                    "websocket: invalid header {name:?} not allowed"
                )));
            }
            if lower.starts_with("sec-websocket-") {
                return Err(WebsocketConfigError::BadHeader(format!(
                    "websocket: invalid header {name:?}, \"Sec-WebSocket-\" prefix not allowed"
                )));
            }
        }
        Ok(())
    }

    /// The origin rules, compiled once (entries that do not parse were refused at start).
    pub fn origin_policy(&self) -> OriginPolicy {
        OriginPolicy {
            same_origin: self.same_origin,
            allowed: self
                .allowed_origins
                .iter()
                .filter_map(|origin| AllowedOrigin::parse(origin).ok())
                .collect(),
        }
    }
}

/// One `allowed_origins` entry: scheme, lower-case host and port (the scheme's default when
/// the entry has none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedOrigin {
    pub scheme: String,
    pub host: String,
    pub port: String,
}

impl AllowedOrigin {
    /// Parses an entry as the Go server does (`url.ParseRequestURI`, then host and port).
    pub fn parse(text: &str) -> Result<AllowedOrigin, WebsocketConfigError> {
        let origin = parse_origin(text).map_err(|reason| {
            WebsocketConfigError::BadOrigin(format!("unable to parse allowed origin: {reason}"))
        })?;
        if origin.scheme != "http" && origin.scheme != "https" {
            return Err(WebsocketConfigError::BadOrigin(format!(
                "unable to parse allowed origin {text:?}: allowed origins must be absolute URLs with http or https scheme"
            )));
        }
        if origin.host.is_empty() {
            return Err(WebsocketConfigError::BadOrigin(format!(
                "unable to parse allowed origin {text:?}: host is required"
            )));
        }
        Ok(origin)
    }
}

/// What `checkOrigin` needs, compiled from the options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OriginPolicy {
    pub same_origin: bool,
    pub allowed: Vec<AllowedOrigin>,
}

impl OriginPolicy {
    /// Go's `checkOrigin`: `origin` is the request's `Origin` (or `Sec-WebSocket-Origin`)
    /// header, `host` its `Host` header, `tls` whether it came over TLS. A request without
    /// an origin is accepted (only browsers send one). Returns why it is refused.
    pub fn check(&self, origin: Option<&str>, host: &str, tls: bool) -> Result<(), String> {
        if !self.same_origin && self.allowed.is_empty() {
            return Ok(());
        }
        let Some(origin) = origin.filter(|origin| !origin.is_empty()) else {
            return Ok(());
        };
        let parsed = parse_origin(origin)?;
        if self.same_origin {
            let (request_host, request_port) = host_and_port(tls, host)?;
            let request_scheme = if tls { "https" } else { "http" };
            if parsed.host != request_host
                || parsed.port != request_port
                || !parsed.scheme.eq_ignore_ascii_case(request_scheme)
            {
                return Err("not same origin".to_string());
            }
        }
        if !self.allowed.is_empty() {
            let allowed = self.allowed.iter().any(|entry| {
                entry.host == parsed.host
                    && entry.scheme == parsed.scheme
                    && entry.port == parsed.port
            });
            if !allowed {
                return Err("not in the allowed list".to_string());
            }
        }
        Ok(())
    }
}

/// `scheme://host[:port][/path]` into scheme, lower-case host and port (Go's
/// `url.ParseRequestURI` followed by `wsGetHostAndPort`). The error reads like Go's.
fn parse_origin(text: &str) -> Result<AllowedOrigin, String> {
    let Some((scheme, rest)) = text.split_once("://") else {
        return Err(format!("parse {text:?}: invalid URI for request"));
    };
    let valid_scheme = scheme
        .chars()
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !valid_scheme {
        return Err(format!(
            "parse {text:?}: first path segment in URL cannot contain colon"
        ));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    // Credentials before '@' are not part of the host.
    let authority = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let scheme = scheme.to_ascii_lowercase();
    if authority.is_empty() {
        return Ok(AllowedOrigin {
            scheme,
            host: String::new(),
            port: String::new(),
        });
    }
    let (host, port) = host_and_port(scheme == "https", authority)?;
    Ok(AllowedOrigin { scheme, host, port })
}

/// Go's `wsGetHostAndPort`: splits `host:port`; without a port, 443 for TLS and 80 otherwise.
fn host_and_port(tls: bool, host_port: &str) -> Result<(String, String), String> {
    let default_port = if tls { "443" } else { "80" };
    if let Some(rest) = host_port.strip_prefix('[') {
        // [v6]:port or [v6]
        let Some((host, after)) = rest.split_once(']') else {
            return Err(format!("address {host_port}: missing ']' in address"));
        };
        return match after.strip_prefix(':') {
            Some(port) => Ok((host.to_ascii_lowercase(), port.to_string())),
            None if after.is_empty() => Ok((host.to_ascii_lowercase(), default_port.to_string())),
            None => Err(format!("address {host_port}: unexpected ']' in address")),
        };
    }
    match host_port.matches(':').count() {
        0 => Ok((host_port.to_ascii_lowercase(), default_port.to_string())),
        1 => {
            let (host, port) = host_port.split_once(':').unwrap_or((host_port, ""));
            Ok((host.to_ascii_lowercase(), port.to_string()))
        }
        _ => Err(format!("address {host_port}: too many colons in address")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_origins_parse_like_go() {
        let origin = AllowedOrigin::parse("https://Example.COM").expect("valid");
        assert_eq!(origin.host, "example.com");
        assert_eq!(origin.port, "443");
        assert_eq!(
            AllowedOrigin::parse("http://a.b:8080/x")
                .expect("valid")
                .port,
            "8080"
        );
        assert!(AllowedOrigin::parse("ftp://a.b").is_err());
        assert!(AllowedOrigin::parse("example.com").is_err());
        assert!(AllowedOrigin::parse("http://").is_err());
    }

    #[test]
    fn origin_policy_checks_same_origin_and_list() {
        let mut options = WebsocketOptions {
            no_tls: true,
            same_origin: true,
            ..WebsocketOptions::default()
        };
        let policy = options.origin_policy();
        assert!(policy.check(None, "h:1", false).is_ok());
        assert!(policy.check(Some("http://h:1"), "h:1", false).is_ok());
        assert_eq!(
            policy.check(Some("http://other:1"), "h:1", false),
            Err("not same origin".to_string())
        );
        assert!(policy.check(Some("http://h"), "h:80", false).is_ok());
        options.same_origin = false;
        options.allowed_origins = vec!["https://app.example".to_string()];
        let policy = options.origin_policy();
        assert!(policy
            .check(Some("https://app.example:443"), "x", false)
            .is_ok());
        assert_eq!(
            policy.check(Some("http://app.example"), "x", false),
            Err("not in the allowed list".to_string())
        );
    }

    #[test]
    fn validation_refuses_what_go_refuses() {
        let options = WebsocketOptions::default();
        assert_eq!(
            options.validate(false),
            Err(WebsocketConfigError::TlsRequired)
        );
        let options = WebsocketOptions {
            no_tls: true,
            headers: vec![("Sec-WebSocket-Foo".into(), "x".into())],
            ..WebsocketOptions::default()
        };
        assert!(matches!(
            options.validate(false),
            Err(WebsocketConfigError::BadHeader(_))
        ));
        let options = WebsocketOptions {
            no_tls: true,
            token: Some("t".into()),
            ..WebsocketOptions::default()
        };
        assert!(options.validate(true).is_err());
        assert!(options.validate(false).is_ok());
    }
}
