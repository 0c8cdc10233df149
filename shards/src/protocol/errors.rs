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
