//! The HTTP upgrade, as the Go server's `wsUpgrade` answers it: the request is parsed with
//! `httparse`, checked in RFC 6455's order with Go's HTTP statuses and log texts, and
//! answered with `101 Switching Protocols` and Go's headers. Pure: bytes in, bytes out.

use base64::Engine;

use super::options::OriginPolicy;

/// The largest upgrade request read. Go's HTTP server allows 1 MB of headers; a WebSocket
/// upgrade needs a few hundred bytes, and a smaller bound keeps a handshaking connection's
/// memory small. Over it: Go's `431 Request Header Fields Too Large`.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// Headers parsed per request; more is a malformed request (400), as in Go's limits.
const MAX_HEADERS: usize = 128;

/// RFC 6455's GUID for `Sec-WebSocket-Accept`.
const WEBSOCKET_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// What the upgrade needs from the server's settings.
pub struct UpgradeSettings<'a> {
    pub origins: &'a OriginPolicy,
    /// `compression` is on: permessage-deflate is accepted when the client offers it.
    pub compression: bool,
    /// The request came over TLS (for the same-origin check).
    pub tls: bool,
    /// Names of the cookies that carry credentials.
    pub user_cookie: Option<&'a str>,
    pub pass_cookie: Option<&'a str>,
    pub token_cookie: Option<&'a str>,
}

/// Which endpoint the request's path names (Go picks it by the path's suffix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Client,
    /// `.../leafnode`: leaf nodes over WebSocket, which Natrix does not serve; the Go server
    /// without leaf nodes configured upgrades, then closes.
    Leafnode,
}

/// An accepted upgrade request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upgrade {
    pub endpoint: Endpoint,
    /// `Sec-WebSocket-Key`, for the accept hash.
    pub key: String,
    /// permessage-deflate negotiated.
    pub compress: bool,
    /// The client asked not to mask its frames (`Nats-No-Masking: true`).
    pub no_masking: bool,
    /// A browser (`User-Agent: Mozilla/...`): outgoing frames are kept at 4 KB.
    pub browser: bool,
    /// Safari: compressed messages are not fragmented.
    pub no_compressed_fragments: bool,
    /// A valid IP address in `X-Forwarded-For`, shown in logs.
    pub forwarded_for: Option<String>,
    pub cookie_user: Option<String>,
    pub cookie_pass: Option<String>,
    pub cookie_token: Option<String>,
    /// Bytes of the request; anything after them is data sent before the handshake ended.
    pub request_len: usize,
}

/// A request that is not upgraded: the response to send, and the reason for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The HTTP response.
    pub response: Vec<u8>,
    /// Go's log text after `websocket handshake error: `; `None` for errors Go's HTTP
    /// server answers before the WebSocket handler runs (not logged).
    pub reason: Option<String>,
}

/// Parses the request in `buffer`: `Ok(None)` when it is not complete yet.
pub fn parse_request(
    buffer: &[u8],
    settings: &UpgradeSettings<'_>,
) -> Result<Option<Upgrade>, Refusal> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let request_len = match request.parse(buffer) {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) if buffer.len() >= MAX_REQUEST_BYTES => {
            return Err(server_error("431 Request Header Fields Too Large"));
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(server_error("431 Request Header Fields Too Large"))
        }
        Err(_) => return Err(server_error("400 Bad Request")),
    };
    let version = request.version.unwrap_or(1);
    let headers = Headers(request.headers);
    let host = headers.first("host");
    if version == 1 && host.is_none() {
        return Err(server_error(
            "400 Bad Request: missing required Host header",
        ));
    }
    // Go's HTTP server answers `Connection: close` to a request that asks for it.
    let close = headers.contains_token("connection", "close");
    let handler_error = |status: u16, reason: &str| handler_error(status, reason, close);
    let path = request.path.unwrap_or("/");
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let endpoint = if path.ends_with("/leafnode") {
        Endpoint::Leafnode
    } else if path.ends_with("/mqtt") {
        return Err(handler_error(404, "mqtt websocket endpoint not enabled"));
    } else {
        Endpoint::Client
    };
    if request.method != Some("GET") {
        return Err(handler_error(405, "request method must be GET"));
    }
    let host = host.unwrap_or_default();
    if host.is_empty() {
        return Err(handler_error(400, "'Host' missing in request"));
    }
    if !headers.contains_token("upgrade", "websocket") {
        return Err(handler_error(400, "invalid value for header 'Upgrade'"));
    }
    if !headers.contains_token("connection", "Upgrade") {
        return Err(handler_error(400, "invalid value for header 'Connection'"));
    }
    let key = headers.first("sec-websocket-key").unwrap_or_default();
    if key.is_empty() {
        return Err(handler_error(400, "key missing"));
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(key);
    if !decoded.is_ok_and(|decoded| decoded.len() == 16) {
        return Err(handler_error(400, "invalid websocket key"));
    }
    if !headers.contains_token("sec-websocket-version", "13") {
        return Err(handler_error(400, "invalid version"));
    }
    let origin = headers
        .first("origin")
        .filter(|origin| !origin.is_empty())
        .or_else(|| headers.first("sec-websocket-origin"));
    if let Err(reason) = settings.origins.check(origin, host, settings.tls) {
        return Err(handler_error(403, &format!("origin not allowed: {reason}")));
    }
    let compress = settings.compression && headers.offers_permessage_deflate();
    let no_masking = headers.first("nats-no-masking") == Some("true");
    let user_agent = headers.first("user-agent").unwrap_or_default();
    let browser = user_agent.starts_with("Mozilla/");
    let no_compressed_fragments =
        browser && compress && user_agent.contains("Version/") && user_agent.contains("Safari/");
    let forwarded_for = headers
        .first("x-forwarded-for")
        .filter(|address| address.parse::<std::net::IpAddr>().is_ok())
        .map(str::to_string);
    let mut upgrade = Upgrade {
        endpoint,
        key: key.to_string(),
        compress,
        no_masking,
        browser,
        no_compressed_fragments,
        forwarded_for,
        cookie_user: None,
        cookie_pass: None,
        cookie_token: None,
        request_len,
    };
    if endpoint == Endpoint::Client {
        for (name, value) in headers.cookies() {
            if settings.user_cookie == Some(name) {
                upgrade.cookie_user = Some(value.to_string());
            } else if settings.pass_cookie == Some(name) {
                upgrade.cookie_pass = Some(value.to_string());
            } else if settings.token_cookie == Some(name) {
                upgrade.cookie_token = Some(value.to_string());
            }
        }
    }
    Ok(Some(upgrade))
}

/// The `101 Switching Protocols` response, byte for byte as the Go server writes it.
/// `extra_headers` are the configured `headers`, already formatted (`Name: value\r\n`).
pub fn accept_response(upgrade: &Upgrade, extra_headers: &str) -> Vec<u8> {
    let mut response = Vec::with_capacity(256 + extra_headers.len());
    response.extend_from_slice(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ",
    );
    response.extend_from_slice(accept_key(&upgrade.key).as_bytes());
    response.extend_from_slice(b"\r\n");
    if upgrade.compress {
        response.extend_from_slice(
            b"Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\n",
        );
    }
    if upgrade.no_masking {
        response.extend_from_slice(b"Nats-No-Masking: true\r\n");
    }
    response.extend_from_slice(extra_headers.as_bytes());
    response.extend_from_slice(b"\r\n");
    response
}

/// `headers {}` as response lines.
pub fn format_extra_headers(headers: &[(String, String)]) -> String {
    headers
        .iter()
        .map(|(name, value)| format!("{name}: {value}\r\n"))
        .collect()
}

/// `Sec-WebSocket-Accept` for a key (RFC 6455 section 4.2.2: base64 of SHA-1).
pub fn accept_key(key: &str) -> String {
    let mut context = ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
    context.update(key.as_bytes());
    context.update(WEBSOCKET_GUID);
    base64::engine::general_purpose::STANDARD.encode(context.finish())
}

/// An error of the WebSocket handler (Go's `wsReturnHTTPError`: `http.Error` with
/// `Sec-Websocket-Version: 13`).
fn handler_error(status: u16, reason: &str, close: bool) -> Refusal {
    let text = status_text(status);
    let body = format!("{text}\n");
    let date = httpdate::fmt_http_date(std::time::SystemTime::now());
    let connection = if close { "Connection: close\r\n" } else { "" };
    let response = format!(
        "HTTP/1.1 {status} {text}\r\nContent-Type: text/plain; charset=utf-8\r\nSec-Websocket-Version: 13\r\nX-Content-Type-Options: nosniff\r\nDate: {date}\r\nContent-Length: {}\r\n{connection}\r\n{body}",
        body.len()
    );
    Refusal {
        response: response.into_bytes(),
        reason: Some(reason.to_string()),
    }
}

/// An error Go's HTTP server answers itself, before any handler (and closes).
fn server_error(status_and_text: &str) -> Refusal {
    let response = format!(
        "HTTP/1.1 {status_and_text}\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n{status_and_text}"
    );
    Refusal {
        response: response.into_bytes(),
        reason: None,
    }
}

fn status_text(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Internal Server Error",
    }
}

/// The request's headers, looked up by name without regard to case (Go canonicalizes).
struct Headers<'h, 'b>(&'h [httparse::Header<'b>]);

impl<'b> Headers<'_, 'b> {
    fn values(&self, name: &'static str) -> impl Iterator<Item = &'b str> + '_ {
        self.0
            .iter()
            .filter(move |header| header.name.eq_ignore_ascii_case(name))
            .filter_map(|header| std::str::from_utf8(header.value).ok())
    }

    /// The first value (Go's `Header.Get`).
    fn first(&self, name: &'static str) -> Option<&'b str> {
        self.values(name).next()
    }

    /// Go's `wsHeaderContains`: any comma-separated token of any value equals `token`,
    /// ignoring case and surrounding blanks.
    fn contains_token(&self, name: &'static str, token: &str) -> bool {
        self.values(name).any(|value| {
            value
                .split(',')
                .any(|part| part.trim_matches([' ', '\t']).eq_ignore_ascii_case(token))
        })
    }

    /// Go's `wsPMCExtensionSupport(checkPMCOnly)`: some extension offer names
    /// permessage-deflate (its parameters do not matter: the server answers with no context
    /// takeover both ways, which every client must accept or fail).
    fn offers_permessage_deflate(&self) -> bool {
        self.values("sec-websocket-extensions").any(|list| {
            list.split(',').any(|extension| {
                extension.split(';').any(|parameter| {
                    parameter
                        .trim_matches([' ', '\t'])
                        .eq_ignore_ascii_case("permessage-deflate")
                })
            })
        })
    }

    /// `name=value` pairs of every `Cookie` header (quotes around a value removed).
    fn cookies(&self) -> impl Iterator<Item = (&'b str, &'b str)> + '_ {
        self.values("cookie").flat_map(|line| {
            line.split(';').filter_map(|pair| {
                let (name, value) = pair.trim().split_once('=')?;
                let value = value.trim();
                let value = value
                    .strip_prefix('"')
                    .and_then(|inner| inner.strip_suffix('"'))
                    .unwrap_or(value);
                Some((name.trim(), value))
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(origins: &OriginPolicy) -> UpgradeSettings<'_> {
        UpgradeSettings {
            origins,
            compression: true,
            tls: false,
            user_cookie: Some("u"),
            pass_cookie: None,
            token_cookie: Some("t"),
        }
    }

    const GOOD: &str = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";

    #[test]
    fn accept_key_matches_rfc_6455_example() {
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn a_good_request_is_upgraded_with_go_headers() {
        let origins = OriginPolicy::default();
        let request = format!(
            "{GOOD}Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\nUser-Agent: Mozilla/5.0\r\nCookie: u=bob; t=\"tok\"\r\n\r\n"
        );
        let upgrade = parse_request(request.as_bytes(), &settings(&origins))
            .expect("accepted")
            .expect("complete");
        assert!(upgrade.compress && upgrade.browser && !upgrade.no_masking);
        assert_eq!(upgrade.cookie_user.as_deref(), Some("bob"));
        assert_eq!(upgrade.cookie_token.as_deref(), Some("tok"));
        assert_eq!(upgrade.request_len, request.len());
        let response = accept_response(&upgrade, "X-A: b\r\n");
        assert_eq!(
            String::from_utf8(response).expect("text"),
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\nX-A: b\r\n\r\n"
        );
    }

    #[test]
    fn incomplete_requests_wait_and_oversized_ones_are_refused() {
        let origins = OriginPolicy::default();
        assert_eq!(
            parse_request(GOOD.as_bytes(), &settings(&origins)),
            Ok(None)
        );
        let huge = format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(MAX_REQUEST_BYTES));
        let refusal = parse_request(huge.as_bytes(), &settings(&origins)).expect_err("too big");
        assert!(refusal.response.starts_with(b"HTTP/1.1 431 "));
    }

    #[test]
    fn bad_requests_get_go_statuses() {
        let origins = OriginPolicy::default();
        let cases = [
            ("POST / HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 405 "),
            ("GET / HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nSec-Websocket-Version: 13"),
            ("GET / HTTP/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request: missing required Host header\r\n"),
            ("garbage\r\n\r\n", "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request"),
            ("GET /mqtt HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 404 "),
        ];
        for (request, expected) in cases {
            let refusal =
                parse_request(request.as_bytes(), &settings(&origins)).expect_err(request);
            assert!(
                refusal.response.starts_with(expected.as_bytes()),
                "{request:?} -> {:?}",
                String::from_utf8_lossy(&refusal.response)
            );
        }
        let bad_key = GOOD.replace("dGhlIHNhbXBsZSBub25jZQ==", "c2hvcnQ=") + "\r\n";
        let refusal = parse_request(bad_key.as_bytes(), &settings(&origins)).expect_err("key");
        assert_eq!(refusal.reason.as_deref(), Some("invalid websocket key"));
    }

    #[test]
    fn origins_are_checked() {
        let origins = OriginPolicy {
            same_origin: true,
            allowed: Vec::new(),
        };
        let request = format!("{GOOD}Origin: http://evil\r\n\r\n");
        let refusal = parse_request(request.as_bytes(), &settings(&origins)).expect_err("origin");
        assert!(refusal.response.starts_with(b"HTTP/1.1 403 Forbidden\r\n"));
        assert_eq!(
            refusal.reason.as_deref(),
            Some("origin not allowed: not same origin")
        );
    }
}
