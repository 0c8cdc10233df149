//! A connection on the WebSocket port: the TLS handshake (for `wss://`) and the HTTP upgrade
//! within the handshake timeout, then the same client as on the client port
//! (`serve_client`), with a read loop that decodes frames before the NATS parser sees the
//! bytes. Go's `wsUpgrade` and `createWSClient` are the model.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;
use compio::buf::BufResult;
use compio::io::{AsyncReadExt, AsyncWriteExt};
use compio::net::TcpStream;

use super::reader::{read_decrypted, READ_BUFFER_MAX, READ_BUFFER_MIN};
use super::tls_start::start_tls;
use super::writer::write_encrypted;
use crate::client::{Client, CloseReason};
use crate::protocol::ClientError;
use crate::session::process_input;
use crate::shard::Shard;
use crate::tls::TlsSession;
use crate::websocket::frames::{Decoded, FrameDecoder, FramingMode};
use crate::websocket::upgrade::{
    accept_response, parse_request, Endpoint, Upgrade, UpgradeSettings, MAX_REQUEST_BYTES,
};
use crate::websocket::{CookieCredentials, InfoOverrides, WebSocket, WebsocketConfig};

/// Accepts WebSocket clients on the shard's listener until `stopping` is set (the shard's
/// accept loop shuts the listener down, which completes the accept in flight), then closes
/// the listener.
pub async fn accept_websocket(
    shard: Rc<Shard>,
    listener: compio::net::TcpListener,
    stopping: Rc<std::cell::Cell<bool>>,
) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) if !stopping.get() => {
                let peer = SocketAddr::new(peer.ip().to_canonical(), peer.port());
                compio::runtime::spawn(serve_websocket(Rc::clone(&shard), stream, peer)).detach();
            }
            Ok(_) => break,
            Err(_) if stopping.get() => break,
            Err(error) => {
                tracing::error!("Error accepting websocket connection: {error}");
                compio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}

/// Serves one connection accepted on the WebSocket port until it closes.
pub async fn serve_websocket(shard: Rc<Shard>, stream: TcpStream, peer: SocketAddr) {
    let Some(config) = shard
        .config()
        .websocket
        .as_ref()
        .map(|websocket| Arc::clone(&websocket.config))
    else {
        return;
    };
    let _ = stream.set_nodelay(true);
    let limit = config.options.handshake_limit();
    let info = shard.config().info.clone();
    let started = compio::time::timeout(limit, start(&stream, &config, &info, peer)).await;
    let Ok(Some(start)) = started else {
        if started.is_err() {
            tracing::debug!("{peer} - websocket handshake timeout");
        }
        let _ = socket2::SockRef::from(&stream).shutdown(std::net::Shutdown::Both);
        return;
    };
    if start.upgrade.endpoint == Endpoint::Leafnode {
        // As the Go server without leaf nodes: upgraded, then closed.
        tracing::error!("Not configured to accept leaf node connections");
        let _ = socket2::SockRef::from(&stream).shutdown(std::net::Shutdown::Both);
        return;
    }
    run_client(shard, stream, peer, &config, start).await;
}

/// A finished upgrade.
struct Started {
    upgrade: Upgrade,
    session: Option<Box<TlsSession>>,
}

/// The TLS handshake (when configured), the upgrade request and the response. Returns
/// `None` when the connection must be closed (after an HTTP error response, if any).
async fn start(
    stream: &TcpStream,
    config: &WebsocketConfig,
    info: &crate::protocol::ServerInfo,
    peer: SocketAddr,
) -> Option<Started> {
    let mut session = None;
    let mut received = BytesMut::new();
    if let (Some(tls_config), Some(settings)) = (&config.tls, &config.options.tls) {
        // An HTTPS server: the handshake comes first, and no INFO before it.
        let mut settings = settings.clone();
        settings.handshake_first = true;
        settings.handshake_first_fallback = None;
        settings.allow_non_tls = false;
        settings.timeout = config.options.handshake_limit();
        // `info` is not sent: with the handshake first, INFO waits for the upgrade.
        let log_prefix = || format!("{peer} - websocket");
        let started = Box::pin(start_tls(stream, tls_config, &settings, info, log_prefix)).await?;
        session = started.session;
        received = started.plaintext;
    }
    let settings = UpgradeSettings {
        origins: &config.origins,
        compression: config.options.compression,
        tls: session.is_some(),
        user_cookie: config.options.user_cookie.as_deref(),
        pass_cookie: config.options.pass_cookie.as_deref(),
        token_cookie: config.options.token_cookie.as_deref(),
    };
    let mut ciphertext = Vec::new();
    let upgrade = loop {
        match parse_request(&received, &settings) {
            Ok(Some(upgrade)) => break upgrade,
            Ok(None) => {}
            Err(refusal) => {
                if let Some(reason) = &refusal.reason {
                    tracing::error!("{peer} - websocket handshake error: {reason}");
                }
                let _ = send(stream, session.as_deref(), refusal.response).await;
                return None;
            }
        }
        let want = READ_BUFFER_MIN.min(MAX_REQUEST_BYTES - received.len().min(MAX_REQUEST_BYTES));
        received.reserve(want.max(1));
        let count = match session.as_deref() {
            Some(session) => {
                read_decrypted_for_handshake(stream, session, &mut ciphertext, &mut received).await
            }
            None => {
                let BufResult(result, returned) = { stream }.append(received).await;
                received = returned;
                result
            }
        };
        if !matches!(count, Ok(count) if count > 0) {
            return None;
        }
    };
    if received.len() > upgrade.request_len {
        // Go cannot answer once it has taken the connection from its HTTP server: it closes.
        tracing::error!(
            "{peer} - websocket handshake error: client sent data before handshake is complete"
        );
        return None;
    }
    send(
        stream,
        session.as_deref(),
        accept_response(&upgrade, &config.extra_headers),
    )
    .await
    .ok()?;
    Some(Started { upgrade, session })
}

/// Reads and decrypts during the upgrade (the reader's function wants a client).
async fn read_decrypted_for_handshake(
    stream: &TcpStream,
    session: &TlsSession,
    ciphertext: &mut Vec<u8>,
    plaintext: &mut BytesMut,
) -> std::io::Result<usize> {
    loop {
        let mut owned = std::mem::take(ciphertext);
        owned.clear();
        owned.reserve(READ_BUFFER_MIN);
        let BufResult(result, returned) = { stream }.append(owned).await;
        *ciphertext = returned;
        if result? == 0 {
            return Ok(0);
        }
        let decrypted = session
            .decrypt(ciphertext, plaintext)
            .map_err(|error| std::io::Error::new(std::io::ErrorKind::InvalidData, error))?;
        if decrypted.plaintext > 0 {
            return Ok(decrypted.plaintext);
        }
        if decrypted.peer_closed {
            return Ok(0);
        }
    }
}

/// Writes `bytes`, encrypted when the connection is TLS.
async fn send(
    stream: &TcpStream,
    session: Option<&TlsSession>,
    bytes: Vec<u8>,
) -> std::io::Result<()> {
    match session {
        Some(session) => {
            let mut records = Vec::new();
            write_encrypted(stream, session, &[bytes::Bytes::from(bytes)], &mut records).await
        }
        None => {
            let BufResult(result, _) = { stream }.write_all(bytes).await;
            result
        }
    }
}

/// Creates the client for an upgraded connection and serves it (Go's `createWSClient`).
async fn run_client(
    shard: Rc<Shard>,
    stream: TcpStream,
    peer: SocketAddr,
    config: &WebsocketConfig,
    start: Started,
) {
    let id = shard.next_client_id();
    let shard_config = shard.config();
    let authenticator = shard_config.authenticator(true);
    let nonce = if authenticator.nonce_required() {
        authenticator.new_nonce()
    } else {
        String::new()
    };
    let mut info = shard_config.info.clone();
    info.client_id = id;
    info.client_ip = peer.ip().to_string();
    info.nonce = nonce.clone();
    // As Go's generateClientInfoJSON for WebSocket clients: the WebSocket port's address and
    // TLS, and its own auth override.
    let info_overrides = InfoOverrides {
        host: config.options.host.clone(),
        port: config.port,
        tls: config.tls.is_some(),
    };
    // Go copies the server's INFO without the client port's `no_auth_user` adjustment.
    info.auth_required = shard_config.options.auth.required()
        || config.options.auth_override()
        || shard_config.options.operator.is_some();
    drop(shard_config);

    let upgrade = start.upgrade;
    let websocket = WebSocket::new(
        FramingMode {
            compress: upgrade.compress,
            browser: upgrade.browser,
            no_compressed_fragments: upgrade.no_compressed_fragments,
        },
        !upgrade.no_masking,
        CookieCredentials {
            user: upgrade.cookie_user,
            pass: upgrade.cookie_pass,
            token: upgrade.cookie_token,
        },
        upgrade.forwarded_for,
        info_overrides,
    );
    websocket.adjust_info(&mut info);
    let connections = shard.shared.connections.fetch_add(1, Ordering::AcqRel) + 1;
    let over_limit = connections > shard.config().options.max_connections;
    let client = Rc::new(Client::new(
        id,
        peer,
        stream,
        start.session,
        Some(Box::new(websocket)),
        nonce,
    ));
    super::serve_client(
        shard,
        client,
        Some(info.line()),
        over_limit,
        BytesMut::new(),
    )
    .await;
}

/// Reads frames, decodes them into the NATS bytes they carry, and hands those to the
/// protocol, until the connection closes. Pongs and the close reply go to the writer.
pub(crate) async fn read_loop(shard: &Rc<Shard>, client: &Rc<Client>, mut raw: BytesMut) {
    let Some(websocket) = client.websocket.as_deref() else {
        return;
    };
    let max_payload = shard.config().options.max_payload;
    let compression = websocket.mode.compress;
    let mut decoder = FrameDecoder::new(websocket.mask_required, compression, max_payload);
    let mut plaintext = BytesMut::new();
    let mut ciphertext = Vec::new();
    let mut read_size = READ_BUFFER_MIN;
    while !client.is_closed() {
        if raw.is_empty() {
            raw.reserve(read_size);
            let before = raw.len();
            let result = match &client.tls {
                None => {
                    let BufResult(result, returned) = (&client.stream).append(raw).await;
                    raw = returned;
                    result
                }
                Some(session) => {
                    read_decrypted(client, session, &mut ciphertext, read_size, &mut raw).await
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
                    if count == raw.len() - before && raw.len() == raw.capacity() {
                        read_size = (read_size * 2).min(READ_BUFFER_MAX);
                    }
                }
            }
        }
        let mut decoded = Decoded::default();
        let outcome = decoder.decode(&mut raw[..], &mut plaintext, &mut decoded);
        raw.clear();
        let wake_writer = !decoded.replies.is_empty() || decoded.close.is_some();
        websocket.queue_decoded(&mut decoded);
        if wake_writer {
            client.writer_wake.notify();
        }
        if !plaintext.is_empty() {
            process_input(shard, client, &mut plaintext).await;
        }
        if let Err(error) = outcome {
            tracing::error!("{} - read error: {error}", client.log_prefix());
            shard.close_client(client, CloseReason::ReadError);
        } else if decoded.closed_by_peer {
            shard.close_client(client, CloseReason::ClientClosed);
        } else if websocket.pending_reply_bytes() > shard.config().options.max_pending {
            // A client that pings without reading what comes back.
            tracing::debug!(
                "{} - {}",
                client.log_prefix(),
                ClientError::SlowConsumer.text()
            );
            shard.close_client(client, CloseReason::SlowConsumerPendingBytes);
        }
        shard.flush_dirty();
        shard.note_activity();
        shard.wait_for_outbox_room().await;
    }
}
