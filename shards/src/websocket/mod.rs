//! WebSocket for clients, as the Go server serves it on its `websocket {}` port (RFC 6455,
//! with permessage-deflate from RFC 7692).
//!
//! A WebSocket connection is a [`crate::client::Client`] like any other, with a framing layer
//! in its reader and writer, as TLS is: the reader decodes frames into the bytes the NATS
//! parser reads (`session::process_input`, unchanged), and the writer frames the outbound
//! buffer before it goes out (encrypted by the TLS layer when `wss://`).
//!
//! Pure logic, no I/O (the sockets are `conn::websocket`'s):
//! - [`options`]: the `websocket {}` settings, Go's checks, the origin policy;
//! - [`upgrade`]: the HTTP upgrade request (parsed with `httparse`) and Go's responses;
//! - [`frames`]: frame decoding (headers by `tungstenite`) and framing of outbound data;
//! - [`deflate`]: permessage-deflate with bounds;
//! - this file: a connection's WebSocket state ([`WebSocket`]) and the close frame the
//!   server sends for each close reason.

pub mod deflate;
pub mod frames;
pub mod options;
pub mod upgrade;

use std::cell::RefCell;
use std::sync::Arc;

use bytes::Bytes;

use crate::client::CloseReason;
use crate::protocol::ClientError;
use deflate::Deflater;
use frames::{close_frame, close_status, frame_output, FramingMode};
pub use options::{OriginPolicy, WebsocketConfigError, WebsocketOptions};

/// The WebSocket listener's settings as every shard serves them, built once at start.
#[derive(Debug)]
pub struct WebsocketConfig {
    pub options: WebsocketOptions,
    /// The port clients connect to (the bound one when the file asked for a random port).
    pub port: u16,
    /// `wss://`: the rustls configuration of the `tls {}` block.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub origins: OriginPolicy,
    /// The `headers {}` lines of the upgrade response.
    pub extra_headers: String,
}

impl WebsocketConfig {
    /// Checks the options as the Go server's `validateWebsocketOptions` does (with the
    /// server's `auth` for the checks that involve users) and builds the TLS configuration.
    pub fn build(
        options: &WebsocketOptions,
        port: u16,
        auth: &crate::options::AuthOptions,
    ) -> Result<WebsocketConfig, WebsocketConfigError> {
        let has_users = !auth.users.is_empty() || !auth.nkeys.is_empty();
        options.validate(has_users)?;
        if let Some(no_auth_user) = options.no_auth_user.as_deref() {
            crate::auth::validate_no_auth_user(auth, no_auth_user)
                .map_err(|error| WebsocketConfigError::NoAuthUser(error.to_string()))?;
        }
        let tls = match &options.tls {
            Some(settings) => Some(
                settings
                    .server_config()
                    .map_err(|error| WebsocketConfigError::Tls(format!("websocket: {error}")))?,
            ),
            None => None,
        };
        Ok(WebsocketConfig {
            options: options.clone(),
            port,
            tls,
            origins: options.origin_policy(),
            extra_headers: upgrade::format_extra_headers(&options.headers),
        })
    }

    /// `ws` or `wss`, as the Go server's start-up log and ports file name the scheme.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "wss"
        } else {
            "ws"
        }
    }
}

/// Credentials the upgrade request carried in cookies (`user_cookie`, `pass_cookie`,
/// `token_cookie`); they stand in for CONNECT fields the client leaves empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CookieCredentials {
    pub user: Option<String>,
    pub pass: Option<String>,
    pub token: Option<String>,
}

impl CookieCredentials {
    /// Go's `processConnect` for WebSocket clients: each credential CONNECT leaves empty
    /// is taken from its cookie (when the cookie was there).
    pub fn fill_in(&self, connect: &mut crate::protocol::ConnectOptions) {
        let empty = |field: &Option<String>| field.as_deref().is_none_or(str::is_empty);
        if empty(&connect.user) && self.user.is_some() {
            connect.user = self.user.clone();
        }
        if empty(&connect.pass) && self.pass.is_some() {
            connect.pass = self.pass.clone();
        }
        if empty(&connect.auth_token) && self.token.is_some() {
            connect.auth_token = self.token.clone();
        }
    }
}

/// One WebSocket connection's state, held by its [`crate::client::Client`].
pub struct WebSocket {
    pub(crate) mode: FramingMode,
    /// Client frames must be masked (the client did not ask for `Nats-No-Masking`).
    pub(crate) mask_required: bool,
    pub(crate) cookies: CookieCredentials,
    /// `X-Forwarded-For`, when it held an IP address: shown in the log prefix.
    pub(crate) forwarded_for: Option<String>,
    /// What every INFO to this client says instead of the client port's.
    info_overrides: InfoOverrides,
    output: RefCell<Output>,
}

/// The WebSocket port's address and TLS, which Go's `generateClientInfoJSON` puts in every
/// INFO a WebSocket client gets.
#[derive(Debug, Clone, Default)]
pub struct InfoOverrides {
    pub host: String,
    pub port: u16,
    pub tls: bool,
}

/// What the writer sends besides the outbound buffer. Filled by the reader (pongs, the
/// close reply) and by closing; no borrow is held across an `.await`.
#[derive(Default)]
struct Output {
    /// Framed control frames, sent before the next data.
    replies: Vec<u8>,
    /// The close frame, sent after everything else.
    close: Option<Vec<u8>>,
    /// A close frame was queued (only one is ever sent).
    close_queued: bool,
    deflater: Option<Deflater>,
}

impl WebSocket {
    pub fn new(
        mode: FramingMode,
        mask_required: bool,
        cookies: CookieCredentials,
        forwarded_for: Option<String>,
        info_overrides: InfoOverrides,
    ) -> WebSocket {
        WebSocket {
            mode,
            mask_required,
            cookies,
            forwarded_for,
            info_overrides,
            output: RefCell::default(),
        }
    }

    /// Puts the WebSocket port's address and TLS into an INFO for this client.
    pub fn adjust_info(&self, info: &mut crate::protocol::ServerInfo) {
        let overrides = &self.info_overrides;
        info.host.clone_from(&overrides.host);
        info.port = overrides.port;
        info.tls_available = overrides.tls;
        info.tls_required = overrides.tls;
    }

    /// Whether the writer has control frames to send.
    pub fn has_output(&self) -> bool {
        let output = self.output.borrow();
        !output.replies.is_empty() || output.close.is_some()
    }

    /// Bytes of control frames waiting (bounded by the reader: a client that pings without
    /// reading is a slow consumer).
    pub fn pending_reply_bytes(&self) -> usize {
        self.output.borrow().replies.len()
    }

    /// Queues what decoding produced: pongs, and the close frame (the reply to the client's
    /// close, or a protocol error's), which is then the connection's one close frame.
    pub fn queue_decoded(&self, decoded: &mut frames::Decoded) {
        let mut output = self.output.borrow_mut();
        if output.close_queued {
            return;
        }
        output.replies.append(&mut decoded.replies);
        if let Some(close) = decoded.close.take() {
            output.close = Some(close);
            output.close_queued = true;
        }
    }

    /// Queues the close frame for `reason` (Go's `wsEnqueueCloseMessage`), unless one was.
    /// The Go server closes without a close frame of its own when the connection failed
    /// (read and write errors, slow consumers: it skips the flush), so Natrix does too; a
    /// frame error's close frame, queued by the reader before, is still sent.
    pub fn queue_close(&self, reason: CloseReason) {
        let mut output = self.output.borrow_mut();
        if output.close_queued || skips_close_frame(reason) {
            return;
        }
        output.close_queued = true;
        let (status, text) = close_status_and_text(reason);
        let mut frame = Vec::with_capacity(2 + 2 + text.len());
        close_frame(status, text, &mut frame);
        output.close = Some(frame);
    }

    /// Frames one write: queued control frames, `chunks` as data, then the close frame.
    pub fn frame(&self, chunks: Vec<Bytes>) -> Vec<Bytes> {
        let mut output = self.output.borrow_mut();
        let output = &mut *output;
        let replies = std::mem::take(&mut output.replies);
        let close = output.close.take();
        frame_output(self.mode, &mut output.deflater, replies, chunks, close)
    }
}

/// The reason a WebSocket client is closed for. The Go server's parser closes a connection
/// itself only for a few errors (limits, protocol version, headers); for any other input it
/// cannot parse it returns an error, and its WebSocket read loop closes the connection as a
/// read error, without a flush.
pub fn effective_close_reason(reason: CloseReason) -> CloseReason {
    match reason {
        CloseReason::ProtocolViolation(Some(
            ClientError::MaximumControlLineExceeded
            | ClientError::MaximumSubscriptionsExceeded
            | ClientError::MaximumPayloadViolation
            | ClientError::InvalidClientProtocol
            | ClientError::NoRespondersRequiresHeaders,
        )) => reason,
        CloseReason::ProtocolViolation(_) => CloseReason::ReadError,
        other => other,
    }
}

/// Go's `skipFlushOnClose` reasons: no close frame is queued for them.
fn skips_close_frame(reason: CloseReason) -> bool {
    matches!(
        reason,
        CloseReason::ReadError
            | CloseReason::WriteError
            | CloseReason::SlowConsumerPendingBytes
            | CloseReason::SlowConsumerWriteDeadline
    )
}

/// The close frame's status and text for a close reason, as the Go server maps its closed
/// states (`wsEnqueueCloseMessage`). A parse error closes a Go WebSocket client as a read
/// error, so it does here too.
pub fn close_status_and_text(reason: CloseReason) -> (u16, &'static str) {
    match reason {
        CloseReason::ClientClosed => (close_status::NORMAL, "Client Closed"),
        CloseReason::AuthenticationTimeout
        | CloseReason::AuthenticationViolation
        | CloseReason::SlowConsumerPendingBytes
        | CloseReason::SlowConsumerWriteDeadline
        | CloseReason::MaxConnectionsExceeded
        | CloseReason::UserAuthenticationExpired
        | CloseReason::AccountAuthenticationExpired
        | CloseReason::MaxAccountConnectionsExceeded
        | CloseReason::MaxSubscriptionsExceeded => {
            (close_status::POLICY_VIOLATION, reason.description())
        }
        CloseReason::ProtocolViolation(Some(ClientError::MaximumControlLineExceeded)) => (
            close_status::POLICY_VIOLATION,
            "Maximum Control Line Exceeded",
        ),
        CloseReason::ProtocolViolation(Some(ClientError::MaximumSubscriptionsExceeded)) => (
            close_status::POLICY_VIOLATION,
            "Maximum Subscriptions Exceeded",
        ),
        CloseReason::ProtocolViolation(Some(ClientError::MaximumPayloadViolation)) => (
            close_status::MESSAGE_TOO_BIG,
            "Maximum Message Payload Exceeded",
        ),
        CloseReason::ProtocolViolation(Some(ClientError::InvalidClientProtocol)) => {
            (close_status::PROTOCOL_ERROR, "Bad Client Protocol Version")
        }
        CloseReason::ProtocolViolation(Some(ClientError::NoRespondersRequiresHeaders)) => (
            close_status::INTERNAL_ERROR,
            "No Responders Requires Headers",
        ),
        // Not sent (see `skips_close_frame`), as the Go server sends none for these.
        CloseReason::ProtocolViolation(_) | CloseReason::ReadError => {
            (close_status::GOING_AWAY, "Read Error")
        }
        CloseReason::ParseError => (close_status::PROTOCOL_ERROR, "Parse Error"),
        CloseReason::WriteError | CloseReason::StaleConnection | CloseReason::ServerShutdown => {
            (close_status::GOING_AWAY, reason.description())
        }
    }
}
