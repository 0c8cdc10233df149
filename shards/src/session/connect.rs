//! `CONNECT` and authentication: the auth timer, operations before `CONNECT` (allowed only
//! with `no_auth_user`), the identity a login gives a connection, and the re-check of every
//! connection after a config reload.

use std::rc::{Rc, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use crate::account::GLOBAL_ACCOUNT;
use crate::auth::{AuthFailure, Authenticator, Expiry, Identity};
use crate::client::{Client, CloseReason};
use crate::operator::ConnectContext;
use crate::permissions::ClientPermissions;
use crate::protocol::errors::{go_quote, removed_subscription};
use crate::protocol::handshake::MAX_CLIENT_PROTOCOL;
use crate::protocol::{ClientError, ConnectOptions};
use crate::shard::Shard;

/// How long a client has to send CONNECT when auth is required (Go: `AUTH_TIMEOUT`).
pub const DEFAULT_AUTH_TIMEOUT: Duration = Duration::from_secs(2);

/// Closes the connection with `Authentication Timeout` unless CONNECT arrives in time.
pub(crate) fn start_auth_timer(shard: &Rc<Shard>, client: &Rc<Client>) {
    let config = shard.config();
    // A WebSocket client may have its own (`websocket { authorization { timeout } }`).
    let websocket_timeout = config
        .websocket
        .as_ref()
        .filter(|_| client.is_websocket())
        .and_then(|websocket| websocket.config.options.auth_timeout)
        .filter(|seconds| seconds.is_finite() && *seconds > 0.0)
        .map(Duration::from_secs_f64);
    let timeout = websocket_timeout
        .or(config.options.auth.timeout)
        .filter(|timeout| !timeout.is_zero())
        .unwrap_or_else(|| match &config.options.tls {
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
pub(crate) fn log_in_without_connect(shard: &Rc<Shard>, client: &Rc<Client>) -> bool {
    client.awaiting_connect.set(false);
    let config = shard.config();
    let authenticator = config.authenticator(client.is_websocket());
    if authenticator.allows_operations_before_connect() {
        let anonymous = ConnectOptions::default();
        if let Ok(identity) = authenticator.authenticate(&anonymous, &client.nonce, None) {
            return set_identity(shard, client, identity);
        }
    }
    authorization_violation(shard, client, None);
    false
}

/// Refuses the connection's credentials: `-ERR 'Authorization Violation'` and close, logged
/// as the Go server logs it.
fn authorization_violation(shard: &Shard, client: &Rc<Client>, failure: Option<&AuthFailure>) {
    if let Some(logged) = failure.and_then(|failure| failure.logged.as_deref()) {
        tracing::error!("{} - {logged}", client.log_prefix());
    }
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

pub(crate) fn handle_connect(shard: &Rc<Shard>, client: &Rc<Client>, json: &[u8]) {
    let mut options = match ConnectOptions::from_json(json) {
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
    if let Some(websocket) = &client.websocket {
        // Cookies of the upgrade request stand in for credentials CONNECT leaves out.
        websocket.cookies.fill_in(&mut options);
    }
    let identity = match authenticate(shard, client, &options) {
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
            reason: "account designation in CONNECT".into(),
            logged: None,
        };
        authorization_violation(shard, client, Some(&failure));
        return;
    }
    if !set_identity(shard, client, identity) {
        return;
    }
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
        shard.send_line(client, b"+OK\r\n");
    }
    let first = !client.connect_received.get();
    *client.connect.borrow_mut() = options;
    client.connect_received.set(true);
    if first {
        super::events::connect_event(shard, client);
    }
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
    let connect = client.connect.borrow().clone();
    let authenticator = config.authenticator(client.is_websocket());
    // As the Go server does, a client whose user is gone or now belongs to another account is
    // closed without an error (it reconnects and authenticates afresh).
    if let Some(named) = authenticator.named_user_account(&connect) {
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
    let identity = match authenticate(shard, client, &connect) {
        Ok(identity) => identity,
        Err(failure) => {
            authorization_violation(shard, client, Some(&failure));
            return;
        }
    };
    if !set_identity(shard, client, identity) {
        return;
    }
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
        let removed = removed_subscription(&subject, queue.as_deref(), &sid);
        tracing::info!(
            "{} - {} for {} - not authorized",
            client.log_prefix(),
            removed.notice,
            go_quote(client.auth_user())
        );
        shard.send_line(client, &removed.line);
    }
}

/// Checks a CONNECT's credentials with the connection's authenticator: a user JWT in
/// operator mode, else users, nkeys, tokens (with `verify_and_map`, the verified client
/// certificate names the user).
fn authenticate(
    shard: &Shard,
    client: &Client,
    options: &ConnectOptions,
) -> Result<Identity, AuthFailure> {
    let config = shard.config();
    let authenticator = config.authenticator(client.is_websocket());
    if let Some(operator) = authenticator.operator() {
        return operator.authenticate(
            options,
            &client.nonce,
            &connect_context(client, authenticator),
        );
    }
    let identities = config
        .maps_certificates(client.is_websocket())
        .then(|| client.tls_identities());
    authenticator.authenticate(options, &client.nonce, identities.as_deref())
}

/// The connection and the clock, as operator mode checks them.
fn connect_context(client: &Client, authenticator: &Authenticator) -> ConnectContext {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
        });
    ConnectContext {
        peer: client.peer.ip(),
        connection_type: authenticator.connection_type(),
        now,
        local_seconds_of_day: local_seconds_of_day(now),
    }
}

/// Seconds since midnight in the server's time zone (Go's `time.Local`, which JWT `times`
/// without a `times_location` use).
fn local_seconds_of_day(now: i64) -> i64 {
    let time = now as libc::time_t;
    // SAFETY: `tm` is plain data (integers and a pointer), for which all zeroes is valid.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call; `localtime_r` writes only into `tm`.
    let converted = unsafe { libc::localtime_r(&time, &mut tm) };
    if converted.is_null() {
        return now.rem_euclid(24 * 60 * 60);
    }
    i64::from(tm.tm_hour) * 3600 + i64::from(tm.tm_min) * 60 + i64::from(tm.tm_sec)
}

/// Takes on the identity a successful authentication produced. For a JWT user, also the
/// account's connection limit (refused: `-ERR 'maximum account active connections
/// exceeded'`), a zero subscription limit, and the expiry timer. Returns whether the
/// connection goes on.
fn set_identity(shard: &Shard, client: &Rc<Client>, identity: Identity) -> bool {
    *client.permissions.borrow_mut() = identity.permissions.map(ClientPermissions::new);
    let config = shard.config();
    // Options validation made sure every user's account exists.
    let account = identity
        .account
        .as_deref()
        .and_then(|name| config.accounts.id(name))
        .unwrap_or(GLOBAL_ACCOUNT);
    if account != client.account() {
        // A second CONNECT may log in as a user of another account: the subscriptions made
        // in the old account go (Go: clearAccountSubs).
        shard.remove_client_subscriptions(client);
    }
    client.bind_account(account, &config.accounts);
    *client.auth_user.borrow_mut() = identity.user;
    client.jwt_limits.set(identity.jwt_limits);
    *client.jwt_user.borrow_mut() = identity.jwt_user;
    let generation = client.login_generation.get().wrapping_add(1);
    client.login_generation.set(generation);
    let Some(limits) = identity.jwt_limits else {
        release_account_connection(shard, client);
        return true;
    };
    let account_key = identity.account.unwrap_or_default();
    let already_counted = client.counted_account.borrow().as_deref() == Some(account_key.as_str());
    if !already_counted {
        release_account_connection(shard, client);
        if !shard
            .shared
            .admit_account_connection(&account_key, limits.account_connections)
        {
            tracing::error!(
                "{} - {}",
                client.log_prefix(),
                ClientError::MaximumAccountConnectionsExceeded.text()
            );
            shard.close_client(client, CloseReason::MaxAccountConnectionsExceeded);
            return false;
        }
        *client.counted_account.borrow_mut() = Some(account_key);
    }
    if limits.subscriptions == 0 {
        // Go's `applyAccountLimits`: a limit of none is at its limit at once.
        tracing::error!(
            "{} - {}",
            client.log_prefix(),
            ClientError::MaximumSubscriptionsExceeded.text()
        );
        shard.close_client(client, CloseReason::MaxSubscriptionsExceeded);
        return false;
    }
    if let Some(expiry) = identity.expiry {
        start_expiry_timer(client, expiry, generation);
    }
    true
}

/// Forgets the connection's place in its JWT account's connection count, if it has one.
pub(crate) fn release_account_connection(shard: &Shard, client: &Client) {
    if let Some(account) = client.counted_account.borrow_mut().take() {
        shard.shared.release_account_connection(&account);
    }
}

/// Closes the connection when its credentials run out (Go: `setExpirationTimer`), unless
/// it has logged in again since.
fn start_expiry_timer(client: &Rc<Client>, expiry: Expiry, generation: u64) {
    let client: Weak<Client> = Rc::downgrade(client);
    compio::runtime::spawn(async move {
        compio::time::sleep(expiry.after).await;
        let Some(client) = client.upgrade() else {
            return;
        };
        if client.is_closed() || client.login_generation.get() != generation {
            return;
        }
        let (error, reason) = if expiry.account {
            (
                ClientError::AccountAuthenticationExpired,
                CloseReason::AccountAuthenticationExpired,
            )
        } else {
            (
                ClientError::UserAuthenticationExpired,
                CloseReason::UserAuthenticationExpired,
            )
        };
        tracing::debug!("{} - {}", client.log_prefix(), error.text());
        client.close(reason);
    })
    .detach();
}
