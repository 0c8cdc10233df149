//! `CONNECT` and authentication: the auth timer, operations before `CONNECT` (allowed only
//! with `no_auth_user`), the identity a login gives a connection, and the re-check of every
//! connection after a config reload.

use std::rc::{Rc, Weak};
use std::time::Duration;

use bytes::Bytes;

use crate::account::GLOBAL_ACCOUNT;
use crate::auth::{AuthFailure, Identity};
use crate::client::{Client, CloseReason};
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
            set_identity(shard, client, identity);
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
    // With `verify_and_map`, the verified client certificate names the user.
    let config = shard.config();
    let identities = config
        .maps_certificates(client.is_websocket())
        .then(|| client.tls_identities());
    let identity = match config.authenticator(client.is_websocket()).authenticate(
        &options,
        &client.nonce,
        identities.as_deref(),
    ) {
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
    set_identity(shard, client, identity);
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
        .maps_certificates(client.is_websocket())
        .then(|| client.tls_identities());
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
    let identity = match authenticator.authenticate(&connect, &client.nonce, identities.as_deref())
    {
        Ok(identity) => identity,
        Err(failure) => {
            authorization_violation(shard, client, Some(&failure));
            return;
        }
    };
    set_identity(shard, client, identity);
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

/// Takes on the identity a successful authentication produced.
fn set_identity(shard: &Shard, client: &Client, identity: Identity) {
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
}
