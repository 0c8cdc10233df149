//! The one table of client-facing protocol errors, with the Go server's exact texts.

/// An error the server reports to a client as `-ERR '<text>'`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientError {
    /// An operation the parser does not know; the connection is closed.
    UnknownProtocolOperation,
    /// A payload larger than `max_payload`; the connection is closed.
    MaximumPayloadViolation,
    /// A control line longer than `max_control_line`; the connection is closed.
    MaximumControlLineExceeded,
    /// A publish to a subject with wildcard tokens; the message is dropped.
    InvalidPublishSubject,
    /// A subscription to a malformed subject; the subscription is refused.
    InvalidSubject,
    /// More subscriptions than `max_subscriptions`; the subscription is refused.
    MaximumSubscriptionsExceeded,
    /// More connections than `max_connections`; the new connection is closed.
    MaximumConnectionsExceeded,
    /// No PONG came back for `max_pings_out` PINGs; the connection is closed.
    StaleConnection,
    /// CONNECT asked for a protocol version the server does not speak; closed.
    InvalidClientProtocol,
    /// CONNECT asked for no-responders without headers; closed.
    NoRespondersRequiresHeaders,
    /// Authentication did not complete within the auth timeout; closed.
    AuthenticationTimeout,
    /// Credentials were refused; closed.
    AuthorizationViolation,
    /// The client could not keep up with its outbound data; closed.
    SlowConsumer,
    /// The user JWT expired while connected; closed.
    UserAuthenticationExpired,
    /// The user's account JWT expired while connected; closed.
    AccountAuthenticationExpired,
    /// The JWT account has as many connections as its limit allows; closed.
    MaximumAccountConnectionsExceeded,
}

impl ClientError {
    /// The text inside `-ERR '...'`, exactly as the Go server sends it.
    pub fn text(self) -> &'static str {
        match self {
            ClientError::UnknownProtocolOperation => "Unknown Protocol Operation",
            ClientError::MaximumPayloadViolation => "Maximum Payload Violation",
            ClientError::MaximumControlLineExceeded => "maximum control line exceeded",
            ClientError::InvalidPublishSubject => "Invalid Publish Subject",
            ClientError::InvalidSubject => "Invalid Subject",
            ClientError::MaximumSubscriptionsExceeded => "maximum subscriptions exceeded",
            ClientError::MaximumConnectionsExceeded => "maximum connections exceeded",
            ClientError::StaleConnection => "Stale Connection",
            ClientError::InvalidClientProtocol => "invalid client protocol",
            ClientError::NoRespondersRequiresHeaders => "no responders requires headers support",
            ClientError::AuthenticationTimeout => "Authentication Timeout",
            ClientError::AuthorizationViolation => "Authorization Violation",
            ClientError::SlowConsumer => "Slow Consumer",
            ClientError::UserAuthenticationExpired => "User Authentication Expired",
            ClientError::AccountAuthenticationExpired => "Account Authentication Expired",
            ClientError::MaximumAccountConnectionsExceeded => {
                "maximum account active connections exceeded"
            }
        }
    }

    /// Whether the server closes the connection after sending this error.
    pub fn closes_connection(self) -> bool {
        !matches!(
            self,
            ClientError::InvalidPublishSubject
                | ClientError::InvalidSubject
                | ClientError::MaximumSubscriptionsExceeded
        )
    }

    /// The whole protocol line, `-ERR '<text>'\r\n`.
    pub fn line(self) -> Vec<u8> {
        format!("-ERR '{}'\r\n", self.text()).into_bytes()
    }
}

/// `-ERR 'Permissions Violation for Publish to "SUBJECT"'`: the message is dropped, the
/// connection stays open.
pub fn publish_violation_line(subject: &[u8]) -> Vec<u8> {
    format!(
        "-ERR 'Permissions Violation for Publish to {}'\r\n",
        go_quote(subject)
    )
    .into_bytes()
}

/// `-ERR 'Permissions Violation for Subscription to "SUBJECT"'` (with `using queue "Q"` for
/// queue subscriptions): the subscription is refused, the connection stays open.
pub fn subscription_violation_line(subject: &[u8], queue: Option<&[u8]>) -> Vec<u8> {
    let subject = go_quote(subject);
    match queue {
        Some(queue) => format!(
            "-ERR 'Permissions Violation for Subscription to {subject} using queue {}'\r\n",
            go_quote(queue)
        ),
        None => format!("-ERR 'Permissions Violation for Subscription to {subject}'\r\n"),
    }
    .into_bytes()
}

/// A subscription a config reload no longer permits, as the Go server words it: the
/// `-ERR` line sent to the client and the notice it logs (`Removed sub ...`); both carry
/// the sid.
pub struct RemovedSubscription {
    pub line: Vec<u8>,
    pub notice: String,
}

/// The texts for a subscription removed by a reload (Go: `reloadAuthorization`).
pub fn removed_subscription(
    subject: &[u8],
    queue: Option<&[u8]>,
    sid: &[u8],
) -> RemovedSubscription {
    let (subject, sid) = (go_quote(subject), go_quote(sid));
    let using_queue = queue
        .map(|queue| format!(" using queue {}", go_quote(queue)))
        .unwrap_or_default();
    RemovedSubscription {
        line: format!(
            "-ERR 'Permissions Violation for Subscription to {subject}{using_queue} (sid {sid})'\r\n"
        )
        .into_bytes(),
        notice: format!("Removed sub {subject}{using_queue} (sid {sid})"),
    }
}

/// Quotes bytes as Go's `%q` does for the texts it sends and logs: printable UTF-8 as is,
/// quotes and backslashes escaped, anything else as an escape sequence.
pub fn go_quote(text: impl AsRef<[u8]>) -> String {
    let mut quoted = String::from("\"");
    for chunk in text.as_ref().utf8_chunks() {
        for character in chunk.valid().chars() {
            match character {
                '"' => quoted.push_str("\\\""),
                '\\' => quoted.push_str("\\\\"),
                '\n' => quoted.push_str("\\n"),
                '\r' => quoted.push_str("\\r"),
                '\t' => quoted.push_str("\\t"),
                '\u{07}' => quoted.push_str("\\a"),
                '\u{08}' => quoted.push_str("\\b"),
                '\u{0c}' => quoted.push_str("\\f"),
                '\u{0b}' => quoted.push_str("\\v"),
                control if (control as u32) < 0x20 || control == '\u{7f}' => {
                    quoted.push_str(&format!("\\x{:02x}", control as u32));
                }
                other => quoted.push(other),
            }
        }
        for byte in chunk.invalid() {
            quoted.push_str(&format!("\\x{byte:02x}"));
        }
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_quote_escapes_like_percent_q() {
        assert_eq!(go_quote("foo.bar"), "\"foo.bar\"");
        assert_eq!(go_quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(go_quote(b"a\x01\xff"), "\"a\\x01\\xff\"");
    }

    #[test]
    fn permission_violations_quote_subjects_as_go_does() {
        assert_eq!(
            publish_violation_line(b"foo.bar"),
            b"-ERR 'Permissions Violation for Publish to \"foo.bar\"'\r\n".to_vec()
        );
        assert_eq!(
            subscription_violation_line(b"foo", Some(b"q")),
            b"-ERR 'Permissions Violation for Subscription to \"foo\" using queue \"q\"'\r\n"
                .to_vec()
        );
    }

    #[test]
    fn reload_removals_name_the_sid_as_go_does() {
        let removed = removed_subscription(b"foo", Some(b"q"), b"7");
        assert_eq!(
            removed.line,
            b"-ERR 'Permissions Violation for Subscription to \"foo\" using queue \"q\" (sid \"7\")'\r\n"
                .to_vec()
        );
        assert_eq!(
            removed.notice,
            "Removed sub \"foo\" using queue \"q\" (sid \"7\")"
        );
        let plain = removed_subscription(b"foo", None, b"1");
        assert_eq!(plain.notice, "Removed sub \"foo\" (sid \"1\")");
    }
}
