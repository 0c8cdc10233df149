//! A client connection on its shard: the reader task that parses and routes, the writer task
//! that flushes the outbound buffer, and the per-connection state they share.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::{Rc, Weak};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ahash::AHashMap;
use bytes::{Bytes, BytesMut};
use compio::buf::BufResult;
use compio::io::{AsyncReadExt, AsyncWriteExt};
use compio::net::TcpStream;

use crate::account::{AccountId, AccountTable, GLOBAL_ACCOUNT};
use crate::auth::{AuthFailure, Identity};
use crate::local_sync::LocalNotify;
use crate::monitor::{ClientDescription, ConnectionStats};
use crate::outbound::{MsgView, Outbound};
use crate::permissions::{ClientPermissions, SYSTEM_QUEUE_GROUP};
use crate::protocol::errors::{go_quote, publish_violation_line, subscription_violation_line};
use crate::protocol::handshake::MAX_CLIENT_PROTOCOL;
use crate::protocol::parser::Parsed;
use crate::protocol::{
    ClientError, ClientOp, ConnectOptions, ParseError, Parser, PublishMsg, ServerInfo,
};
use crate::shard::{PendingDelivery, RemoteBatch, Shard, Span, SubId};
use crate::subject::{is_valid_literal_subject, is_valid_subject};
use crate::tls::{TlsIdentities, TlsSession};

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
    /// No CONNECT within the auth timeout.
    AuthenticationTimeout,
    /// Credentials refused, or operations before CONNECT when auth is required.
    AuthenticationViolation,
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
            CloseReason::AuthenticationTimeout => "Authentication Timeout",
            CloseReason::AuthenticationViolation => "Authentication Failure",
        }
    }

    /// The error line sent before closing, if any.
    fn error(self) -> Option<ClientError> {
        match self {
            CloseReason::ProtocolViolation(error) => error,
            CloseReason::StaleConnection => Some(ClientError::StaleConnection),
            CloseReason::MaxConnectionsExceeded => Some(ClientError::MaximumConnectionsExceeded),
            CloseReason::AuthenticationTimeout => Some(ClientError::AuthenticationTimeout),
            CloseReason::AuthenticationViolation => Some(ClientError::AuthorizationViolation),
            _ => None,
        }
    }

    fn is_slow_consumer(self) -> bool {
        matches!(
            self,
            CloseReason::SlowConsumerPendingBytes | CloseReason::SlowConsumerWriteDeadline
        )
    }
}

/// The per-connection state shared by the reader, the writer and deliveries from other tasks.
pub struct Client {
    pub id: u64,
    peer: SocketAddr,
    stream: TcpStream,
    /// The TLS session of a TLS connection: checked once per read and once per write, so the
    /// plaintext path pays one branch. Boxed: the session is large and rarely there, and the
    /// hot fields of a plaintext connection stay close together.
    tls: Option<Box<TlsSession>>,
    pub outbound: RefCell<Outbound>,
    pub writer_wake: LocalNotify,
    writer_done: LocalNotify,
    /// Set once the connection is in the shard's dirty list for this batch.
    pub dirty: Cell<bool>,
    close_reason: Cell<Option<CloseReason>>,
    connect: RefCell<ConnectOptions>,
    echo: Cell<bool>,
    headers: Cell<bool>,
    verbose: Cell<bool>,
    pedantic: Cell<bool>,
    no_responders: Cell<bool>,
    /// sid -> subscription
    pub subscriptions: RefCell<AHashMap<Bytes, SubId>>,
    /// Interest changes were broadcast since the last PONG: the next PING waits for a barrier.
    interest_pending: Cell<bool>,
    pings_out: Cell<u32>,
    /// Something arrived since the last ping tick.
    recent_activity: Cell<bool>,
    /// The account whose subject space this connection publishes and subscribes in; set at
    /// CONNECT by authentication.
    account: Cell<AccountId>,
    /// Its publishes stay in its account unchanged (no mappings, imports, exports or service
    /// replies to follow): the publish path then skips the account table.
    direct_routing: Cell<bool>,
    /// A PONG went out after CONNECT: from then on the client gets asynchronous INFO updates
    /// (Go: `firstPongSent`), such as the lame duck notice.
    pub first_pong_sent: Cell<bool>,
    /// A CONNECT was accepted (Go: `connectReceived`).
    connect_received: Cell<bool>,
    /// The nonce this connection's INFO carried (empty unless nkeys are configured).
    nonce: String,
    /// Auth is required and no CONNECT has arrived yet (Go: `awaitingAuth`): only CONNECT
    /// may come first, and the auth timer is running.
    awaiting_connect: Cell<bool>,
    /// The authenticated user's permissions; `None` for unrestricted connections, so the
    /// publish path pays one `Option` test.
    permissions: RefCell<Option<ClientPermissions>>,
    /// The authenticated user name or nkey, for logs; empty without credentials.
    auth_user: RefCell<String>,
    /// Traffic counters and times for monitoring (plain cells).
    pub stats: ConnectionStats,
}

impl Client {
    fn new(
        id: u64,
        peer: SocketAddr,
        stream: TcpStream,
        tls: Option<Box<TlsSession>>,
        nonce: String,
    ) -> Self {
        let connect = ConnectOptions::default();
        Client {
            id,
            peer,
            stream,
            tls,
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

    /// Takes on the identity a successful authentication produced.
    fn set_identity(&self, shard: &Shard, identity: Identity) {
        *self.permissions.borrow_mut() = identity.permissions.map(ClientPermissions::new);
        // Options validation made sure every user's account exists.
        let account = identity
            .account
            .as_deref()
            .and_then(|name| shard.config().accounts.id(name))
            .unwrap_or(GLOBAL_ACCOUNT);
        if account != self.account.get() {
            // A second CONNECT may log in as a user of another account: the subscriptions
            // made in the old account go (Go: clearAccountSubs).
            shard.remove_client_subscriptions_of(self);
        }
        self.bind_account(account, &shard.config().accounts);
        *self.auth_user.borrow_mut() = identity.user;
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

    /// Queues an INFO update (lame duck mode) built from the server's template.
    pub fn send_info_update(&self, shard: &Shard, client: &Rc<Client>, mut info: ServerInfo) {
        info.client_id = self.id;
        info.client_ip = self.peer.ip().to_string();
        self.push_line(shard, client, &info.line());
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

    /// The Go server's log prefix for a client: `IP:PORT - cid:N`.
    pub fn log_prefix(&self) -> String {
        format!("{} - cid:{}", self.peer, self.id)
    }

    /// Starts closing: queue the error line (or drop queued data for a slow consumer) and
    /// let the writer finish. A slow consumer's socket is shut down at once, because its writer
    /// may be stuck in a write that will never complete.
    pub fn close(&self, reason: CloseReason) {
        if self.close_reason.get().is_some() {
            return;
        }
        self.close_reason.set(Some(reason));
        if reason.is_slow_consumer() {
            self.outbound.borrow_mut().discard();
            self.shutdown_socket();
        } else if let Some(error) = reason.error() {
            self.outbound.borrow_mut().push_raw(&error.line());
        }
        self.writer_wake.notify();
    }

    fn shutdown_socket(&self) {
        // Shutting down both directions wakes a reader blocked in read and fails a blocked
        // write; an error only means the peer is already gone.
        let _ = socket2::SockRef::from(&self.stream).shutdown(std::net::Shutdown::Both);
    }

    /// Queues a protocol line (PONG, +OK, -ERR, PING). Lines count against `max_pending` like
    /// messages do, so a client that sends PINGs and never reads cannot grow the buffer.
    fn push_line(&self, shard: &Shard, client: &Rc<Client>, line: &[u8]) {
        let pending = {
            let mut outbound = self.outbound.borrow_mut();
            outbound.push_raw(line);
            outbound.pending_bytes()
        };
        shard.queued_for(client, pending);
    }
}

/// Serves one accepted connection until it closes.
pub async fn serve(shard: Rc<Shard>, stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let id = shard.next_client_id();
    let nonce = if shard.config().auth.nonce_required() {
        shard.config().auth.new_nonce()
    } else {
        String::new()
    };
    let mut info = shard.config().info.clone();
    info.client_id = id;
    info.client_ip = peer.ip().to_string();
    info.nonce = nonce.clone();

    let connections = shard.shared.connections.fetch_add(1, Ordering::AcqRel) + 1;
    let over_limit = connections > shard.config().options.max_connections;
    // As in the Go server, a connection over the limit gets its error in plaintext, without
    // a TLS handshake.
    let start = match (&shard.config().tls, &shard.config().options.tls) {
        (Some(config), Some(settings)) if !over_limit => {
            let log_prefix = || format!("{peer} - cid:{id}");
            // A client on an `allow_non_tls` port that never speaks is closed when the
            // pinger would have found it stale.
            let idle_limit = shard
                .config()
                .options
                .ping_interval
                .saturating_mul(shard.config().options.max_pings_out.saturating_add(1))
                .min(Duration::from_secs(24 * 60 * 60));
            // Boxed: the handshake's state would otherwise sit inside every connection's task,
            // TLS or not, for the connection's whole life.
            let handshake = Box::pin(start_tls(
                &stream, config, settings, &info, idle_limit, log_prefix,
            ));
            match handshake.await {
                Some(start) => start,
                None => {
                    let _ = socket2::SockRef::from(&stream).shutdown(std::net::Shutdown::Both);
                    shard.shared.connections.fetch_sub(1, Ordering::AcqRel);
                    return;
                }
            }
        }
        (_, settings) => TlsStart {
            session: None,
            info_sent: false,
            // With handshake_first the Go server sends no INFO before the handshake.
            skip_info: settings
                .as_ref()
                .is_some_and(|settings| settings.handshake_first),
            plaintext: BytesMut::new(),
        },
    };
    let client = Rc::new(Client::new(id, peer, stream, start.session, nonce));
    client.bind_account(GLOBAL_ACCOUNT, &shard.config().accounts);
    if !start.info_sent && !start.skip_info {
        client.outbound.borrow_mut().push_raw(&info.line());
    }
    compio::runtime::spawn(run_writer(Rc::clone(&shard), Rc::clone(&client))).detach();

    if over_limit {
        tracing::error!(
            "{} - {}",
            client.log_prefix(),
            ClientError::MaximumConnectionsExceeded.text()
        );
        shard.close_client(&client, CloseReason::MaxConnectionsExceeded);
    } else {
        tracing::debug!("{} - Client connection created", client.log_prefix());
        shard.clients.borrow_mut().insert(id, Rc::clone(&client));
        let accepted = &shard.monitor.total_connections;
        accepted.set(accepted.get() + 1);
        if shard.config().auth.required() {
            client.awaiting_connect.set(true);
            start_auth_timer(&shard, &client);
        }
        client.writer_wake.notify();
        read_loop(&shard, &client, start.plaintext).await;
        let reason = client
            .close_reason
            .get()
            .unwrap_or(CloseReason::ClientClosed);
        shard.record_closed(&client, reason);
    }

    shard.remove_client_subscriptions(&client);
    shard.clients.borrow_mut().remove(&id);
    shard.flush_dirty();
    // Wait for the writer to send what is left (an error line, say) and close the socket.
    client.writer_done.notified().await;
    shard.shared.connections.fetch_sub(1, Ordering::AcqRel);
    let reason = client
        .close_reason
        .get()
        .unwrap_or(CloseReason::ClientClosed);
    tracing::debug!(
        "{} - Client connection closed: {}",
        client.log_prefix(),
        reason.description()
    );
}

/// The first read buffer; it doubles while reads fill it, up to [`READ_BUFFER_MAX`].
const READ_BUFFER_MIN: usize = 4 * 1024;
const READ_BUFFER_MAX: usize = 64 * 1024;

/// Reads and handles input until the connection closes. `buffer` holds plaintext that arrived
/// with the TLS handshake (or the bytes read to tell TLS from plaintext), handled first.
async fn read_loop(shard: &Rc<Shard>, client: &Rc<Client>, mut buffer: BytesMut) {
    let mut read_size = READ_BUFFER_MIN;
    let mut needed: usize = 0;
    if !buffer.is_empty() {
        client.recent_activity.set(true);
        needed = process_input(shard, client, &mut buffer).await;
        shard.flush_dirty();
    }
    // Ciphertext of a TLS connection is read here, then decrypted into `buffer`.
    let mut ciphertext = Vec::new();
    while !client.is_closed() {
        buffer.reserve(read_size.max(needed.saturating_sub(buffer.len())));
        let before = buffer.len();
        let result = match &client.tls {
            None => {
                let BufResult(result, returned) = (&client.stream).append(buffer).await;
                buffer = returned;
                result
            }
            Some(session) => {
                read_decrypted(client, session, &mut ciphertext, read_size, &mut buffer).await
            }
        };
        match result {
            Ok(0) | Err(_) => {
                client.close(CloseReason::ClientClosed);
                break;
            }
            Ok(count) => {
                client.recent_activity.set(true);
                client.stats.last_activity.set(Instant::now());
                if count == buffer.len() - before && buffer.len() == buffer.capacity() {
                    read_size = (read_size * 2).min(READ_BUFFER_MAX);
                }
            }
        }
        needed = process_input(shard, client, &mut buffer).await;
        shard.flush_dirty();
        shard.note_activity();
        shard.wait_for_outbox_room().await;
    }
}

/// Reads ciphertext until it yields plaintext, and appends the plaintext to `buffer`.
/// Returns the plaintext byte count; 0 when the peer closed (or sent close_notify).
async fn read_decrypted(
    client: &Client,
    session: &TlsSession,
    ciphertext: &mut Vec<u8>,
    read_size: usize,
    buffer: &mut BytesMut,
) -> std::io::Result<usize> {
    loop {
        let mut owned = std::mem::take(ciphertext);
        owned.clear();
        owned.reserve(read_size);
        let BufResult(result, returned) = (&client.stream).append(owned).await;
        *ciphertext = returned;
        if result? == 0 {
            return Ok(0);
        }
        let decrypted = session.decrypt(ciphertext, buffer);
        if session.wants_write() {
            // An alert, or the answer to a key update: the writer sends it.
            client.writer_wake.notify();
        }
        let decrypted = decrypted.map_err(|error| {
            tracing::debug!("{} - TLS read error: {error}", client.log_prefix());
            std::io::Error::new(std::io::ErrorKind::InvalidData, error)
        })?;
        if decrypted.plaintext > 0 {
            return Ok(decrypted.plaintext);
        }
        if decrypted.peer_closed {
            return Ok(0);
        }
    }
}

/// Parses and handles every complete operation in `buffer`, consuming it. Returns how many
/// bytes the next incomplete operation needs in total.
async fn process_input(shard: &Rc<Shard>, client: &Rc<Client>, buffer: &mut BytesMut) -> usize {
    shard.catch_up_with_mesh();
    let mut batch = RemoteBatch::new(shard.shard_count);
    let mut position = 0;
    let mut needed = 0;
    // Once per read batch: a reload during the batch applies from the next one.
    let limits = {
        let config = shard.config();
        (config.options.max_payload, config.options.max_control_line)
    };
    loop {
        if client.awaiting_connect.get()
            && position < buffer.len()
            && !matches!(buffer[position], b'C' | b'c')
            && !log_in_without_connect(shard, client)
        {
            break;
        }
        let parser = Parser {
            max_payload: limits.0,
            max_control_line: limits.1,
            headers_enabled: client.headers(),
        };
        let (op, consumed) = match parser.parse(&buffer[position..]) {
            Ok(Parsed::Op { op, consumed }) => (op, consumed),
            Ok(Parsed::NeedMore { total_len }) => {
                needed = total_len;
                break;
            }
            Err(ParseError::Client(error)) => {
                tracing::debug!("{} - {}", client.log_prefix(), error.text());
                shard.close_client(client, CloseReason::ProtocolViolation(Some(error)));
                break;
            }
            Err(error @ ParseError::Malformed(_)) => {
                tracing::debug!("{} - {error}", client.log_prefix());
                shard.close_client(client, CloseReason::ProtocolViolation(None));
                break;
            }
        };
        let base = position;
        position += consumed;
        if shard.trace_protocol.get() {
            trace_op(client, &buffer[base..position]);
        }
        match op {
            ClientOp::Pub(msg) => handle_publish(shard, client, &buffer[..], base, msg, &mut batch),
            ClientOp::Sub {
                subject,
                queue,
                sid,
            } => {
                let field = |range: std::ops::Range<usize>| {
                    Bytes::copy_from_slice(&buffer[base + range.start..base + range.end])
                };
                let accepted =
                    handle_subscribe(shard, client, field(subject), queue.map(field), field(sid));
                if accepted && client.verbose.get() {
                    // A verbose client may publish elsewhere as soon as it sees +OK, so +OK
                    // waits for the subscription to be visible on every shard, like PONG.
                    if client.interest_pending.replace(false) && shard.shard_count > 1 {
                        position = settle_interest(shard, buffer, position, &mut batch).await;
                    }
                    client.push_line(shard, client, b"+OK\r\n");
                }
            }
            ClientOp::Unsub { sid, max_msgs } => {
                shard.unsubscribe(client, &buffer[base + sid.start..base + sid.end], max_msgs);
                if client.verbose.get() {
                    client.push_line(shard, client, b"+OK\r\n");
                }
            }
            ClientOp::Ping => {
                if client.interest_pending.replace(false) && shard.shard_count > 1 {
                    position = settle_interest(shard, buffer, position, &mut batch).await;
                }
                client.push_line(shard, client, b"PONG\r\n");
                if client.connect_received.get()
                    && !client.first_pong_sent.replace(true)
                    && client.takes_async_info()
                {
                    // As the Go server does after the first PONG: an INFO naming the account
                    // the client is bound to.
                    let config = shard.config();
                    let mut info = config.info.clone();
                    info.connect_info = true;
                    info.remote_account = config.accounts.get(client.account()).name.clone();
                    info.account_is_system = client.account() == config.accounts.system();
                    client.send_info_update(shard, client, info);
                }
            }
            ClientOp::Pong => client.pings_out.set(0),
            ClientOp::Connect { json } => {
                handle_connect(shard, client, &buffer[base + json.start..base + json.end]);
            }
            ClientOp::Ok | ClientOp::Err | ClientOp::Info => {}
        }
        if client.is_closed() {
            break;
        }
    }
    if batch.is_empty() {
        let _ = buffer.split_to(position);
    } else {
        let done = buffer.split_to(position).freeze();
        shard.send_batch(batch, &done);
    }
    needed
}

/// How long a client has to send CONNECT when auth is required (Go: `AUTH_TIMEOUT`).
pub const DEFAULT_AUTH_TIMEOUT: Duration = Duration::from_secs(2);

/// Closes the connection with `Authentication Timeout` unless CONNECT arrives in time.
fn start_auth_timer(shard: &Rc<Shard>, client: &Rc<Client>) {
    let timeout = shard
        .config()
        .options
        .auth
        .timeout
        .filter(|timeout| !timeout.is_zero())
        .unwrap_or_else(|| match &shard.config().options.tls {
            // Go's getDefaultAuthTimeout: the TLS timeout plus a second, so the handshake
            // does not eat the client's time to authenticate.
            Some(tls) => tls.timeout + Duration::from_secs(1),
            None => DEFAULT_AUTH_TIMEOUT,
        });
    let shard = Rc::clone(shard);
    // Weak: a connection that closes early is not kept alive until the timer fires.
    let client: Weak<Client> = Rc::downgrade(client);
    compio::runtime::spawn(async move {
        compio::time::sleep(timeout).await;
        let Some(client) = client.upgrade() else {
            return;
        };
        if client.awaiting_connect.get() && !client.is_closed() {
            tracing::debug!(
                "{} - {}",
                client.log_prefix(),
                ClientError::AuthenticationTimeout.text()
            );
            shard.close_client(&client, CloseReason::AuthenticationTimeout);
        }
    })
    .detach();
}

/// An operation other than CONNECT came first while auth is required. As in the Go parser,
/// that is allowed only with a `no_auth_user` from the users list, who the client then
/// becomes; otherwise it is an authorization violation. Returns whether to go on.
fn log_in_without_connect(shard: &Rc<Shard>, client: &Rc<Client>) -> bool {
    client.awaiting_connect.set(false);
    if shard.config().auth.allows_operations_before_connect() {
        let anonymous = ConnectOptions::default();
        if let Ok(identity) = shard
            .config()
            .auth
            .authenticate(&anonymous, &client.nonce, None)
        {
            client.set_identity(shard, identity);
            return true;
        }
    }
    authorization_violation(shard, client, None);
    false
}

/// Refuses the connection's credentials: `-ERR 'Authorization Violation'` and close, logged
/// as the Go server logs it.
fn authorization_violation(shard: &Shard, client: &Rc<Client>, failure: Option<&AuthFailure>) {
    match failure.and_then(|failure| failure.claimed.as_deref()) {
        Some(claimed) => {
            tracing::error!("{} - authentication error - {claimed}", client.log_prefix())
        }
        None => tracing::error!("{} - authentication error", client.log_prefix()),
    }
    if let Some(failure) = failure {
        tracing::debug!("{} - {}", client.log_prefix(), failure.reason);
    }
    shard.close_client(client, CloseReason::AuthenticationViolation);
}

/// Makes every operation handled so far visible on every shard before the reply to the current
/// one (PONG, or +OK for a SUB) is queued: sends what this batch routed so far, then waits for
/// the interest barrier. Returns the new parse position (the handled bytes are consumed).
async fn settle_interest(
    shard: &Rc<Shard>,
    buffer: &mut BytesMut,
    position: usize,
    batch: &mut RemoteBatch,
) -> usize {
    let done = buffer.split_to(position).freeze();
    shard.send_batch(
        std::mem::replace(batch, RemoteBatch::new(shard.shard_count)),
        &done,
    );
    shard.flush_dirty();
    shard.interest_barrier().await;
    0
}

/// Logs an operation as the Go server's `-V` does: `<<- [OP args]` (payload shown separately).
fn trace_op(client: &Client, bytes: &[u8]) {
    let line_end = bytes
        .iter()
        .position(|&byte| byte == b'\r' || byte == b'\n')
        .unwrap_or(bytes.len());
    let line = String::from_utf8_lossy(&bytes[..line_end]);
    tracing::trace!("{} - <<- [{}]", client.log_prefix(), line);
    let payload_start = (line_end + 2).min(bytes.len());
    let payload_end = bytes.len().saturating_sub(2).max(payload_start);
    if payload_end > payload_start {
        let payload = String::from_utf8_lossy(&bytes[payload_start..payload_end]);
        tracing::trace!("{} - <<- MSG_PAYLOAD: [{}]", client.log_prefix(), payload);
    }
}

fn handle_publish(
    shard: &Rc<Shard>,
    client: &Rc<Client>,
    data: &[u8],
    base: usize,
    msg: PublishMsg,
    batch: &mut RemoteBatch,
) {
    let offset = |range: std::ops::Range<usize>| base + range.start..base + range.end;
    let subject_range = offset(msg.subject);
    let reply_range = msg.reply.map(offset);
    let spans = PendingDelivery {
        account: client.account(),
        subject: Span::Buffer(subject_range.clone()),
        reply: reply_range.clone().map(Span::Buffer),
        payload: offset(msg.payload),
        header_len: msg.header_len,
        to_plain_subscribers: false,
        to_queue_groups: Vec::new(),
    };
    let subject = &data[subject_range];
    let payload = &data[spans.payload.clone()];
    shard.stats.in_msgs.set(shard.stats.in_msgs.get() + 1);
    shard
        .stats
        .in_bytes
        .set(shard.stats.in_bytes.get() + payload.len() as u64);
    let client_stats = &client.stats;
    client_stats.in_msgs.set(client_stats.in_msgs.get() + 1);
    client_stats
        .in_bytes
        .set(client_stats.in_bytes.get() + payload.len() as u64);
    // Only pedantic clients get their publish subjects checked, and, as in the Go server, the
    // error is a notice: the message is still acknowledged and routed.
    if client.pedantic.get() && !is_valid_literal_subject(subject) {
        client.push_line(shard, client, &ClientError::InvalidPublishSubject.line());
    }
    let allowed = client
        .permissions
        .borrow()
        .as_ref()
        .is_none_or(|permissions| permissions.publish_allowed(subject, Instant::now));
    if !allowed {
        tracing::error!(
            "{} - Publish Violation - Subject {}",
            client.log_prefix(),
            go_quote(subject)
        );
        client.push_line(shard, client, &publish_violation_line(subject));
        return;
    }
    if client.verbose.get() {
        client.push_line(shard, client, b"+OK\r\n");
    }
    let reply = reply_range.map(|range| &data[range]);
    let view = MsgView {
        subject,
        reply,
        payload,
        header_len: msg.header_len,
        shared_payload: None,
    };
    let delivered = shard.route_publish(client, view, &spans, batch);
    if !delivered && client.no_responders.get() {
        if let Some(reply) = reply {
            shard.send_no_responders(client, reply, subject);
        }
    }
}

fn handle_subscribe(
    shard: &Rc<Shard>,
    client: &Rc<Client>,
    subject: Bytes,
    queue: Option<Bytes>,
    sid: Bytes,
) -> bool {
    // Permissions come first, as in the Go server's `processSubEx`.
    let allowed = queue.as_deref() != Some(SYSTEM_QUEUE_GROUP)
        && client
            .permissions
            .borrow()
            .as_ref()
            .is_none_or(|permissions| permissions.can_subscribe(&subject, queue.as_deref()));
    if !allowed {
        let sid_text = String::from_utf8_lossy(&sid);
        match &queue {
            Some(queue) => tracing::error!(
                "{} - Subscription Violation - Subject {}, Queue: {}, SID {sid_text}",
                client.log_prefix(),
                go_quote(&subject),
                go_quote(queue)
            ),
            None => tracing::error!(
                "{} - Subscription Violation - Subject {}, SID {sid_text}",
                client.log_prefix(),
                go_quote(&subject)
            ),
        }
        let line = subscription_violation_line(&subject, queue.as_deref());
        client.push_line(shard, client, &line);
        return false;
    }
    let queue_valid = queue.as_ref().is_none_or(|queue| is_valid_subject(queue));
    if !is_valid_subject(&subject) || !queue_valid {
        client.push_line(shard, client, &ClientError::InvalidSubject.line());
        return false;
    }
    let max = shard.config().options.max_subscriptions;
    if max > 0 && client.subscriptions.borrow().len() >= max {
        tracing::error!(
            "{} - {}",
            client.log_prefix(),
            ClientError::MaximumSubscriptionsExceeded.text()
        );
        client.push_line(
            shard,
            client,
            &ClientError::MaximumSubscriptionsExceeded.line(),
        );
        return false;
    }
    if !client.subscriptions.borrow().contains_key(&sid) {
        shard.add_subscription(client, subject, queue, sid);
    }
    true
}

fn handle_connect(shard: &Rc<Shard>, client: &Rc<Client>, json: &[u8]) {
    let options = match ConnectOptions::from_json(json) {
        Ok(options) => options,
        Err(error) => {
            tracing::debug!(
                "{} - bad CONNECT {:?}: {error}",
                client.log_prefix(),
                String::from_utf8_lossy(json)
            );
            shard.close_client(client, CloseReason::ProtocolViolation(None));
            return;
        }
    };
    // Any CONNECT stops the auth timer; every CONNECT authenticates again, as in Go.
    client.awaiting_connect.set(false);
    // With `verify_and_map`, the verified client certificate names the user.
    let identities = shard
        .config()
        .options
        .tls
        .as_ref()
        .is_some_and(|tls| tls.verify_and_map)
        .then(|| client.tls_identities());
    let identity =
        match shard
            .config()
            .auth
            .authenticate(&options, &client.nonce, identities.as_deref())
        {
            Ok(identity) => identity,
            Err(failure) => {
                authorization_violation(shard, client, Some(&failure));
                return;
            }
        };
    // Naming an account in CONNECT is refused, as the Go server does.
    if options.new_account
        || options
            .account
            .as_ref()
            .is_some_and(|name| !name.is_empty())
    {
        let claimed =
            (!identity.user.is_empty()).then(|| format!("User {}", go_quote(&identity.user)));
        let failure = AuthFailure {
            claimed,
            reason: "account designation in CONNECT",
        };
        authorization_violation(shard, client, Some(&failure));
        return;
    }
    client.set_identity(shard, identity);
    if !(0..=MAX_CLIENT_PROTOCOL).contains(&options.protocol) {
        shard.close_client(
            client,
            CloseReason::ProtocolViolation(Some(ClientError::InvalidClientProtocol)),
        );
        return;
    }
    if options.no_responders && !options.headers {
        shard.close_client(
            client,
            CloseReason::ProtocolViolation(Some(ClientError::NoRespondersRequiresHeaders)),
        );
        return;
    }
    client.echo.set(options.echo);
    client.headers.set(options.headers);
    client.verbose.set(options.verbose);
    client.pedantic.set(options.pedantic);
    client.no_responders.set(options.no_responders);
    if options.verbose {
        client.push_line(shard, client, b"+OK\r\n");
    }
    *client.connect.borrow_mut() = options;
    client.connect_received.set(true);
}

/// After a config reload: authenticates the connection again with the CONNECT it sent, as
/// the Go server does. A client the new configuration refuses gets
/// `-ERR 'Authorization Violation'` and is closed; a client whose permissions changed keeps
/// the subscriptions they still allow and loses the others, each with
/// `-ERR 'Permissions Violation for Subscription to "X"'`.
pub fn recheck_after_reload(shard: &Shard, client: &Rc<Client>) {
    if client.is_closed() || client.awaiting_connect.get() {
        return;
    }
    let config = shard.config();
    let identities = config
        .options
        .tls
        .as_ref()
        .is_some_and(|tls| tls.verify_and_map)
        .then(|| client.tls_identities());
    let connect = client.connect.borrow().clone();
    // As the Go server does, a client whose user is gone or now belongs to another account is
    // closed without an error (it reconnects and authenticates afresh).
    if let Some(named) = config.auth.named_user_account(&connect) {
        let moved = match named {
            None => true,
            Some(account) => {
                let id = account
                    .and_then(|name| config.accounts.id(name))
                    .unwrap_or(GLOBAL_ACCOUNT);
                id != client.account()
            }
        };
        if moved {
            shard.close_client(client, CloseReason::ClientClosed);
            return;
        }
    }
    let identity = match config
        .auth
        .authenticate(&connect, &client.nonce, identities.as_deref())
    {
        Ok(identity) => identity,
        Err(failure) => {
            authorization_violation(shard, client, Some(&failure));
            return;
        }
    };
    client.set_identity(shard, identity);
    let refused: Vec<(Bytes, Bytes, Option<Bytes>)> = {
        let permissions = client.permissions.borrow();
        let Some(permissions) = permissions.as_ref() else {
            return;
        };
        shard
            .subscriptions_of(client)
            .into_iter()
            .filter(|(_, subject, queue)| !permissions.can_subscribe(subject, queue.as_deref()))
            .collect()
    };
    for (sid, subject, queue) in refused {
        shard.unsubscribe(client, &sid, None);
        // Go's texts for subscriptions removed by a reload carry the sid.
        let (error, notice) = match &queue {
            Some(queue) => (
                format!(
                    "Permissions Violation for Subscription to {} using queue {} (sid {})",
                    go_quote(&subject),
                    go_quote(queue),
                    go_quote(&sid)
                ),
                format!(
                    "Removed sub {} using queue {} (sid {})",
                    go_quote(&subject),
                    go_quote(queue),
                    go_quote(&sid)
                ),
            ),
            None => (
                format!(
                    "Permissions Violation for Subscription to {} (sid {})",
                    go_quote(&subject),
                    go_quote(&sid)
                ),
                format!(
                    "Removed sub {} (sid {})",
                    go_quote(&subject),
                    go_quote(&sid)
                ),
            ),
        };
        tracing::info!(
            "{} - {notice} for {} - not authorized",
            client.log_prefix(),
            go_quote(client.auth_user())
        );
        client.push_line(shard, client, format!("-ERR '{error}'\r\n").as_bytes());
    }
}

/// Writes the outbound buffer whenever there is something in it; closes the socket once the
/// connection is closing and everything queued has been sent.
async fn run_writer(shard: Rc<Shard>, client: Rc<Client>) {
    // A TLS connection's records, reused from write to write.
    let mut ciphertext = Vec::new();
    loop {
        let tls_output = client.tls.as_deref().is_some_and(TlsSession::wants_write);
        if client.outbound.borrow().is_empty() && !tls_output {
            if client.is_closed() {
                break;
            }
            client.writer_wake.notified().await;
            continue;
        }
        let chunks = client.outbound.borrow_mut().take();
        let write = async {
            if let Some(session) = &client.tls {
                write_encrypted(&client.stream, session, &chunks, &mut ciphertext).await
            } else if chunks.len() == 1 {
                let chunk = chunks.into_iter().next().unwrap_or_default();
                let BufResult(result, _) = (&client.stream).write_all(chunk).await;
                result
            } else {
                let BufResult(result, _) = (&client.stream).write_vectored_all(chunks).await;
                result
            }
        };
        match compio::time::timeout(shard.config().options.write_deadline, write).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => {
                client.close(CloseReason::WriteError);
                break;
            }
            Err(_elapsed) => {
                shard.close_client(&client, CloseReason::SlowConsumerWriteDeadline);
                break;
            }
        }
    }
    if let Some(session) = &client.tls {
        if !client
            .close_reason
            .get()
            .is_some_and(CloseReason::is_slow_consumer)
        {
            // Go's tls.Conn.Close sends close_notify too. A peer that does not read must not
            // hold the close (or a shutdown) up for long.
            session.send_close_notify();
            let goodbye = write_encrypted(&client.stream, session, &[], &mut ciphertext);
            let _ = compio::time::timeout(CLOSE_NOTIFY_TIMEOUT, goodbye).await;
        }
    }
    client.shutdown_socket();
    client.writer_done.notify();
}

/// How long the writer tries to send close_notify before closing the socket anyway.
const CLOSE_NOTIFY_TIMEOUT: Duration = Duration::from_secs(1);

/// Above this many bytes of records, the writer sends before encrypting more, so a large
/// outbound batch is not copied whole.
const CIPHERTEXT_BATCH_MAX: usize = 256 * 1024;

/// Sends what the TLS session has queued (handshake records, alerts), then `chunks` encrypted.
async fn write_encrypted(
    stream: &TcpStream,
    session: &TlsSession,
    chunks: &[Bytes],
    ciphertext: &mut Vec<u8>,
) -> std::io::Result<()> {
    let mut records = std::mem::take(ciphertext);
    records.clear();
    session.take_output(&mut records);
    for chunk in chunks {
        session.encrypt(chunk, &mut records);
        if records.len() >= CIPHERTEXT_BATCH_MAX {
            let BufResult(result, returned) = (&*stream).write_all(records).await;
            records = returned;
            result?;
            records.clear();
        }
    }
    if !records.is_empty() {
        let BufResult(result, returned) = (&*stream).write_all(records).await;
        records = returned;
        result?;
    }
    *ciphertext = records;
    Ok(())
}

/// How a TLS-configured connection starts.
struct TlsStart {
    /// `None`: the client chose plaintext (`allow_non_tls`), or it is over the connection limit.
    session: Option<Box<TlsSession>>,
    /// INFO went out in plaintext already.
    info_sent: bool,
    /// INFO must not be sent (`handshake_first` and no handshake).
    skip_info: bool,
    /// Plaintext that arrived with the handshake, or the bytes read to tell TLS from plaintext.
    plaintext: BytesMut,
}

/// The first byte of a TLS record carrying a handshake message.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// Starts a connection on the TLS client port as the Go server does (server.go
/// `createClient`): INFO in plaintext (unless `handshake_first`), then the handshake within
/// the timeout. Returns `None` when the connection must be closed (the reason is logged).
async fn start_tls(
    stream: &TcpStream,
    config: &std::sync::Arc<rustls::ServerConfig>,
    settings: &crate::tls::TlsSettings,
    info: &crate::protocol::handshake::ServerInfo,
    idle_limit: Duration,
    log_prefix: impl Fn() -> String,
) -> Option<TlsStart> {
    let mut start = TlsStart {
        session: None,
        info_sent: false,
        skip_info: false,
        plaintext: BytesMut::new(),
    };
    let mut received = BytesMut::new();
    if !settings.handshake_first {
        let BufResult(result, _) = (&*stream).write_all(info.line()).await;
        result.ok()?;
        start.info_sent = true;
        if settings.allow_non_tls {
            // The first bytes decide. The Go server waits the TLS timeout, then assumes
            // plaintext; a read cut short by a timer can lose bytes with io_uring, so this
            // one waits as long as an idle connection may live, and then closes.
            received.reserve(READ_BUFFER_MIN);
            let mut reader = stream;
            let read = reader.append(received);
            let Ok(BufResult(result, returned)) = compio::time::timeout(idle_limit, read).await
            else {
                tracing::debug!("{} - no data from the client; closing", log_prefix());
                return None;
            };
            received = returned;
            if result.ok()? == 0 {
                return None;
            }
            if received.first() != Some(&TLS_HANDSHAKE_RECORD) {
                start.plaintext = received;
                return Some(start);
            }
        }
    }
    let mut session = match TlsSession::new(config) {
        Ok(session) => session,
        Err(error) => {
            tracing::error!("{} - TLS handshake error: {error}", log_prefix());
            return None;
        }
    };
    let handshake = handshake(stream, &session, received, &mut start.plaintext);
    match compio::time::timeout(settings.timeout, handshake).await {
        Ok(Ok(())) => {}
        Ok(Err(HandshakeError::Closed)) => {
            tracing::debug!("{} - TLS handshake error: EOF", log_prefix());
            return None;
        }
        Ok(Err(HandshakeError::Tls(error))) => {
            tracing::error!("{} - TLS handshake error: {error}", log_prefix());
            return None;
        }
        Err(_elapsed) => {
            tracing::debug!("{} - TLS handshake timeout", log_prefix());
            return None;
        }
    }
    let pinned = settings.pinned_set();
    if !session.finish_handshake(pinned.as_deref(), settings.verify_and_map) {
        tracing::error!(
            "{} - TLS handshake error: certificate not pinned",
            log_prefix()
        );
        return None;
    }
    tracing::debug!("{} - TLS handshake complete", log_prefix());
    tracing::debug!("{} - {}", log_prefix(), session.description());
    if let Some(identities) = session.identities() {
        tracing::debug!(
            "{} - TLS client certificate identities {:?}",
            log_prefix(),
            identities.candidates()
        );
    }
    start.session = Some(Box::new(session));
    Some(start)
}

enum HandshakeError {
    Closed,
    Tls(rustls::Error),
}

/// Runs the server side of the handshake over the socket, starting with `received` (bytes
/// already read). Plaintext that follows the client's Finished goes to `plaintext`. On a
/// protocol error the alert is sent, except to a peer whose first byte was not a TLS
/// handshake record: like Go, the server then just closes.
async fn handshake(
    stream: &TcpStream,
    session: &TlsSession,
    mut received: BytesMut,
    plaintext: &mut BytesMut,
) -> Result<(), HandshakeError> {
    let mut output = Vec::new();
    let mut first_read = true;
    while session.is_handshaking() {
        if received.is_empty() {
            received.reserve(READ_BUFFER_MIN);
            let BufResult(result, returned) = (&*stream).append(received).await;
            received = returned;
            if !matches!(result, Ok(count) if count > 0) {
                return Err(HandshakeError::Closed);
            }
        }
        let looks_like_tls = !first_read || received.first() == Some(&TLS_HANDSHAKE_RECORD);
        first_read = false;
        let result = session.decrypt(&received, plaintext);
        received.clear();
        if result.is_ok() || looks_like_tls {
            session.take_output(&mut output);
        }
        if !output.is_empty() {
            let BufResult(written, returned) = (&*stream).write_all(output).await;
            output = returned;
            output.clear();
            if written.is_err() {
                return Err(HandshakeError::Closed);
            }
        }
        result.map_err(HandshakeError::Tls)?;
    }
    Ok(())
}

/// Sends PINGs to idle connections and closes those that stopped answering.
pub async fn run_pinger(shard: Rc<Shard>) {
    let interval = shard.config().options.ping_interval;
    loop {
        compio::time::sleep(interval).await;
        if shard.shutting_down.get() {
            return;
        }
        let clients: Vec<Rc<Client>> = shard.clients.borrow().values().cloned().collect();
        for client in clients {
            if client.recent_activity.replace(false) {
                client.pings_out.set(0);
                continue;
            }
            if client.pings_out.get() + 1 > shard.config().options.max_pings_out {
                let stale = &shard.monitor.stale_connections;
                stale.set(stale.get() + 1);
                shard.close_client(&client, CloseReason::StaleConnection);
                continue;
            }
            client.pings_out.set(client.pings_out.get() + 1);
            client.push_line(&shard, &client, b"PING\r\n");
        }
        shard.flush_dirty();
    }
}

/// Gives idle connections this long to receive their last bytes during shutdown.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
