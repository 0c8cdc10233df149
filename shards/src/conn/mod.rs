//! A connection's own tasks on its shard: [`serve`] takes an accepted socket through the TLS
//! start and authentication timer into the read loop ([`reader`]), with a writer task
//! ([`writer`]) that flushes the outbound buffer; the shard's [`pinger`] finds stale
//! connections. [`websocket`] does the same for the WebSocket port, after the HTTP upgrade,
//! with its own read loop that decodes frames. The protocol itself is `session`'s; these
//! modules move bytes.

pub mod pinger;
pub mod reader;
pub mod tls_start;
pub mod websocket;
pub mod writer;

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::Ordering;

use bytes::BytesMut;
use compio::net::TcpStream;

use crate::account::GLOBAL_ACCOUNT;
use crate::client::{Client, CloseReason};
use crate::protocol::ClientError;
use crate::session::connect::start_auth_timer;
use crate::shard::Shard;
use tls_start::{start_tls, TlsStart};

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
            // Boxed: the handshake's state would otherwise sit inside every connection's task,
            // TLS or not, for the connection's whole life.
            let handshake = Box::pin(start_tls(&stream, config, settings, &info, log_prefix));
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
    let client = Rc::new(Client::new(id, peer, stream, start.session, None, nonce));
    let info_line = (!start.info_sent && !start.skip_info).then(|| info.line());
    serve_client(shard, client, info_line, over_limit, start.plaintext).await;
}

/// Runs an accepted (and, for TLS or WebSocket, started) connection: sends INFO, starts the
/// writer, registers the client and reads until it closes, then cleans up. The connection
/// is already counted in `shared.connections`; `over_limit` closes it after INFO.
pub(crate) async fn serve_client(
    shard: Rc<Shard>,
    client: Rc<Client>,
    info_line: Option<Vec<u8>>,
    over_limit: bool,
    initial_input: BytesMut,
) {
    let id = client.id;
    client.bind_account(GLOBAL_ACCOUNT, &shard.config().accounts);
    if let Some(line) = info_line {
        client.outbound.borrow_mut().push_raw(&line);
    }
    compio::runtime::spawn(writer::run_writer(Rc::clone(&shard), Rc::clone(&client))).detach();

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
        if shard
            .config()
            .authenticator(client.is_websocket())
            .required()
        {
            client.awaiting_connect.set(true);
            start_auth_timer(&shard, &client);
        }
        client.writer_wake.notify();
        if client.is_websocket() {
            websocket::read_loop(&shard, &client, initial_input).await;
        } else {
            reader::read_loop(&shard, &client, initial_input).await;
        }
        let reason = client
            .close_reason
            .get()
            .unwrap_or(CloseReason::ClientClosed);
        shard.record_closed(&client, reason);
        crate::session::events::disconnect_event(&shard, &client, reason);
    }

    shard.remove_client_subscriptions(&client);
    crate::session::connect::release_account_connection(&shard, &client);
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
