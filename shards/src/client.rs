//! One client connection's state, shared by its reader and writer tasks and by deliveries
//! from anywhere on its shard: the outbound buffer, the options CONNECT set, its subscriptions
//! by sid, its permissions and its close reason.
//!
//! No I/O happens here beyond shutting the socket down: the tasks that read and write live in
//! [`crate::conn`], the protocol they speak in [`crate::session`].

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::time::Instant;

use ahash::AHashMap;
use bytes::Bytes;
use compio::net::TcpStream;

use crate::account::{AccountId, AccountTable, GLOBAL_ACCOUNT};
use crate::local_sync::LocalNotify;
use crate::monitor::{ClientDescription, ConnectionStats};
use crate::outbound::Outbound;
use crate::permissions::ClientPermissions;
use crate::protocol::{ClientError, ConnectOptions};
use crate::tls::{TlsIdentities, TlsSession};
use crate::websocket::WebSocket;

/// Identifies a subscription within its shard (a key of the shard's subscription slab).
pub type SubId = usize;

/// Why a connection closed (the Go server's closed-connection reasons).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    ClientClosed,
    ProtocolViolation(Option<ClientError>),
    SlowConsumerPendingBytes,
    SlowConsumerWriteDeadline,
    StaleConnection,
    MaxConnectionsExceeded,
    WriteError,
    ServerShutdown,
    /// The client sent `-ERR` (Go closes it as a parse error).
    ParseError,
    /// No CONNECT within the auth timeout.
    AuthenticationTimeout,
    /// Credentials refused, or operations before CONNECT when auth is required.
    AuthenticationViolation,
    /// The connection's input was unreadable (a WebSocket protocol error, for instance).
    ReadError,
    /// The user JWT expired (or its connect window ended).
    UserAuthenticationExpired,
    /// The account JWT of the user expired.
    AccountAuthenticationExpired,
    /// The JWT account already has its `conn` limit of connections.
    MaxAccountConnectionsExceeded,
    /// A JWT limit of zero subscriptions.
    MaxSubscriptionsExceeded,
}

impl CloseReason {
    pub fn description(self) -> &'static str {
        match self {
            CloseReason::ClientClosed => "Client Closed",
            CloseReason::ProtocolViolation(_) => "Protocol Violation",
            CloseReason::SlowConsumerPendingBytes => "Slow Consumer (Pending Bytes)",
            CloseReason::SlowConsumerWriteDeadline => "Slow Consumer (Write Deadline)",
            CloseReason::StaleConnection => "Stale Connection",
            CloseReason::MaxConnectionsExceeded => "Maximum Connections Exceeded",
            CloseReason::WriteError => "Write Error",
            CloseReason::ServerShutdown => "Server Shutdown",
            CloseReason::ParseError => "Parse Error",
            CloseReason::AuthenticationTimeout => "Authentication Timeout",
            CloseReason::AuthenticationViolation => "Authentication Failure",
            CloseReason::ReadError => "Read Error",
            CloseReason::UserAuthenticationExpired | CloseReason::AccountAuthenticationExpired => {
                "Authentication Expired"
            }
            CloseReason::MaxAccountConnectionsExceeded => "Maximum Account Connections Exceeded",
            CloseReason::MaxSubscriptionsExceeded => "Maximum Subscriptions Exceeded",
        }
    }

    /// The error line sent before closing, if any.
    pub(crate) fn error(self) -> Option<ClientError> {
        match self {
            CloseReason::ProtocolViolation(error) => error,
            CloseReason::StaleConnection => Some(ClientError::StaleConnection),
            CloseReason::MaxConnectionsExceeded => Some(ClientError::MaximumConnectionsExceeded),
            CloseReason::AuthenticationTimeout => Some(ClientError::AuthenticationTimeout),
            CloseReason::AuthenticationViolation => Some(ClientError::AuthorizationViolation),
            CloseReason::UserAuthenticationExpired => Some(ClientError::UserAuthenticationExpired),
            CloseReason::AccountAuthenticationExpired => {
                Some(ClientError::AccountAuthenticationExpired)
            }
            CloseReason::MaxAccountConnectionsExceeded => {
                Some(ClientError::MaximumAccountConnectionsExceeded)
            }
            CloseReason::MaxSubscriptionsExceeded => {
                Some(ClientError::MaximumSubscriptionsExceeded)
            }
            _ => None,
        }
    }

    pub(crate) fn is_slow_consumer(self) -> bool {
        matches!(
            self,
            CloseReason::SlowConsumerPendingBytes | CloseReason::SlowConsumerWriteDeadline
        )
    }
}

/// The per-connection state shared by the reader, the writer and deliveries from other tasks.
pub struct Client {
    pub id: u64,
    pub(crate) peer: SocketAddr,
    pub(crate) stream: TcpStream,
    /// The TLS session of a TLS connection: checked once per read and once per write, so the
    /// plaintext path pays one branch. Boxed: the session is large and rarely there, and the
    /// hot fields of a plaintext connection stay close together.
    pub(crate) tls: Option<Box<TlsSession>>,
    /// The framing layer of a WebSocket connection; like `tls`, one branch per read and
    /// write for the others.
    pub(crate) websocket: Option<Box<WebSocket>>,
    pub outbound: RefCell<Outbound>,
    pub writer_wake: LocalNotify,
    pub(crate) writer_done: LocalNotify,
    /// Set once the connection is in the shard's dirty list for this batch.
    pub dirty: Cell<bool>,
    pub(crate) close_reason: Cell<Option<CloseReason>>,
    pub(crate) connect: RefCell<ConnectOptions>,
    pub(crate) echo: Cell<bool>,
    pub(crate) headers: Cell<bool>,
    pub(crate) verbose: Cell<bool>,
    pub(crate) pedantic: Cell<bool>,
    pub(crate) no_responders: Cell<bool>,
    /// sid -> subscription
    pub subscriptions: RefCell<AHashMap<Bytes, SubId>>,
    /// Interest changes were broadcast since the last PONG: the next PING waits for a barrier.
    pub(crate) interest_pending: Cell<bool>,
    pub(crate) pings_out: Cell<u32>,
    /// Something arrived since the last ping tick.
    pub(crate) recent_activity: Cell<bool>,
    /// The account whose subject space this connection publishes and subscribes in; set at
    /// CONNECT by authentication.
    pub(crate) account: Cell<AccountId>,
    /// Its publishes stay in its account unchanged (no mappings, imports, exports or service
    /// replies to follow): the publish path then skips the account table.
    pub(crate) direct_routing: Cell<bool>,
    /// A PONG went out after CONNECT: from then on the client gets asynchronous INFO updates
    /// (Go: `firstPongSent`), such as the lame duck notice.
    pub first_pong_sent: Cell<bool>,
    /// A CONNECT was accepted (Go: `connectReceived`).
    pub(crate) connect_received: Cell<bool>,
    /// The nonce this connection's INFO carried (empty unless nkeys are configured).
    pub(crate) nonce: String,
    /// Auth is required and no CONNECT has arrived yet (Go: `awaitingAuth`): only CONNECT
    /// may come first, and the auth timer is running.
    pub(crate) awaiting_connect: Cell<bool>,
    /// The authenticated user's permissions; `None` for unrestricted connections, so the
    /// publish path pays one `Option` test.
    pub(crate) permissions: RefCell<Option<ClientPermissions>>,
    /// The authenticated user name or nkey, for logs; empty without credentials.
    pub(crate) auth_user: RefCell<String>,
    /// A JWT user's subscription, payload and account connection limits.
    pub(crate) jwt_limits: Cell<Option<crate::auth::JwtLimits>>,
    /// The JWT account this connection is counted in (against its `conn` limit).
    pub(crate) counted_account: RefCell<Option<String>>,
    /// A JWT user's description for the system account's events.
    pub(crate) jwt_user: RefCell<Option<std::rc::Rc<crate::auth::JwtUser>>>,
    /// Bumped at every login, so that an expiry timer of an earlier login does nothing.
    pub(crate) login_generation: Cell<u64>,
    /// Traffic counters and times for monitoring (plain cells).
    pub stats: ConnectionStats,
}

impl Client {
    pub(crate) fn new(
        id: u64,
        peer: SocketAddr,
        stream: TcpStream,
        tls: Option<Box<TlsSession>>,
        websocket: Option<Box<WebSocket>>,
        nonce: String,
    ) -> Self {
        let connect = ConnectOptions::default();
        Client {
            id,
            peer,
            stream,
            tls,
            websocket,
            outbound: RefCell::default(),
            writer_wake: LocalNotify::default(),
            writer_done: LocalNotify::default(),
            dirty: Cell::new(false),
            close_reason: Cell::new(None),
            echo: Cell::new(connect.echo),
            headers: Cell::new(connect.headers),
            verbose: Cell::new(connect.verbose),
            pedantic: Cell::new(connect.pedantic),
            no_responders: Cell::new(connect.no_responders),
            connect: RefCell::new(connect),
            subscriptions: RefCell::default(),
            interest_pending: Cell::new(false),
            pings_out: Cell::new(0),
            recent_activity: Cell::new(false),
            account: Cell::new(GLOBAL_ACCOUNT),
            direct_routing: Cell::new(false),
            first_pong_sent: Cell::new(false),
            connect_received: Cell::new(false),
            nonce,
            awaiting_connect: Cell::new(false),
            permissions: RefCell::new(None),
            auth_user: RefCell::new(String::new()),
            jwt_limits: Cell::new(None),
            counted_account: RefCell::new(None),
            jwt_user: RefCell::new(None),
            login_generation: Cell::new(0),
            stats: ConnectionStats::default(),
        }
    }

    /// What monitoring shows about the connection besides its counters.
    pub(crate) fn describe(&self) -> ClientDescription {
        let connect = self.connect.borrow();
        let (tls_version, tls_cipher) = self
            .tls
            .as_deref()
            .map(TlsSession::version_and_cipher)
            .unwrap_or_default();
        ClientDescription {
            peer: self.peer,
            name: connect.name.clone(),
            lang: connect.lang.clone(),
            version: connect.version.clone(),
            user: self.auth_user.borrow().clone(),
            tls_version,
            tls_cipher,
            connection_type: if self.websocket.is_some() {
                "websocket"
            } else {
                "nats"
            },
        }
    }

    pub fn account(&self) -> AccountId {
        self.account.get()
    }

    /// Binds the connection to an account; a connection changes accounts only without
    /// subscriptions (they live in the old account's index). `accounts` is the current table.
    pub fn bind_account(&self, account: AccountId, accounts: &AccountTable) {
        debug_assert!(account == self.account.get() || self.subscriptions.borrow().is_empty());
        self.account.set(account);
        self.direct_routing.set(accounts.routes_directly(account));
    }

    pub fn direct_routing(&self) -> bool {
        self.direct_routing.get()
    }

    /// The authenticated user name or nkey; empty when the client sent no credentials.
    pub fn auth_user(&self) -> String {
        self.auth_user.borrow().clone()
    }

    /// Whether a message on `subject` may be delivered to this connection's subscription
    /// (with `queue`): false when the subscribe deny list forbids it (Go: `checkDenySub`).
    pub fn may_receive(&self, subject: &[u8], queue: Option<&[u8]>) -> bool {
        self.permissions
            .borrow()
            .as_ref()
            .is_none_or(|permissions| !permissions.delivery_denied(subject, queue))
    }

    /// Records that a message with `reply` was delivered to this connection, so that with
    /// `allow_responses` it may publish the response.
    pub fn note_delivered_reply(&self, reply: &[u8]) {
        if let Some(permissions) = self.permissions.borrow().as_ref() {
            if permissions.tracks_replies() {
                permissions.note_delivered_reply(reply, Instant::now());
            }
        }
    }

    pub fn is_closed(&self) -> bool {
        self.close_reason.get().is_some()
    }

    pub fn echo(&self) -> bool {
        self.echo.get()
    }

    pub fn headers(&self) -> bool {
        self.headers.get()
    }

    /// Whether the client understands INFO updates after the first one (`protocol` >= 1 in
    /// CONNECT) and is past its first PING, as the Go server requires before sending them.
    pub fn takes_async_info(&self) -> bool {
        self.first_pong_sent.get() && self.connect.borrow().protocol >= 1
    }

    /// Whether the connection is encrypted.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// What the verified client certificate identifies (with `verify_and_map` only), in the
    /// order the Go server matches users against them: SAN emails, SAN DNS names, SAN URIs,
    /// the subject with domain components, the subject (RFC 2253, as Go prints it). Empty for
    /// a connection without one.
    pub fn tls_identities(&self) -> Vec<String> {
        self.tls_peer_identities()
            .map(TlsIdentities::candidates)
            .unwrap_or_default()
    }

    /// The same identities, by kind.
    pub fn tls_peer_identities(&self) -> Option<&TlsIdentities> {
        self.tls.as_deref().and_then(TlsSession::identities)
    }

    pub fn set_interest_pending(&self, pending: bool) {
        self.interest_pending.set(pending);
    }

    /// Whether the connection came through the WebSocket port.
    pub fn is_websocket(&self) -> bool {
        self.websocket.is_some()
    }

    /// The Go server's log prefix for a client: `IP:PORT - cid:N`; for a WebSocket client
    /// `IP:PORT - wid:N`, after the `X-Forwarded-For` address when there is one.
    pub fn log_prefix(&self) -> String {
        match &self.websocket {
            None => format!("{} - cid:{}", self.peer, self.id),
            Some(websocket) => match &websocket.forwarded_for {
                Some(address) if address.contains(':') => {
                    format!("[{address}]/{} - wid:{}", self.peer, self.id)
                }
                Some(address) => format!("{address}/{} - wid:{}", self.peer, self.id),
                None => format!("{} - wid:{}", self.peer, self.id),
            },
        }
    }

    /// Starts closing: queue the error line (or drop queued data for a slow consumer) and
    /// let the writer finish. A slow consumer's socket is shut down at once, because its writer
    /// may be stuck in a write that will never complete.
    pub fn close(&self, reason: CloseReason) {
        if self.close_reason.get().is_some() {
            return;
        }
        let reason = match &self.websocket {
            Some(_) => crate::websocket::effective_close_reason(reason),
            None => reason,
        };
        self.close_reason.set(Some(reason));
        if let Some(websocket) = &self.websocket {
            // Sent after whatever is queued, as the Go server does.
            websocket.queue_close(reason);
        }
        if reason.is_slow_consumer() {
            self.outbound.borrow_mut().discard();
            self.shutdown_socket();
        } else if matches!(reason, CloseReason::ReadError) {
            // Go skips the flush: what was queued is dropped (a frame error's close frame,
            // queued apart, still goes out).
            self.outbound.borrow_mut().discard();
        } else if let Some(error) = reason.error() {
            self.outbound.borrow_mut().push_raw(&error.line());
        }
        self.writer_wake.notify();
    }

    pub(crate) fn shutdown_socket(&self) {
        // Shutting down both directions wakes a reader blocked in read and fails a blocked
        // write; an error only means the peer is already gone.
        let _ = socket2::SockRef::from(&self.stream).shutdown(std::net::Shutdown::Both);
    }
}
