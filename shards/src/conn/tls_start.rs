//! How a connection on a TLS-configured port starts, as the Go server does it (server.go
//! `createClient`): INFO in plaintext (unless `handshake_first`), a plaintext client let in
//! with `allow_non_tls`, then the handshake within the TLS timeout.

use std::time::Duration;

use bytes::BytesMut;
use compio::buf::BufResult;
use compio::io::{AsyncReadExt, AsyncWriteExt};
use compio::net::TcpStream;

use super::reader::READ_BUFFER_MIN;
use crate::tls::TlsSession;

/// How a TLS-configured connection starts.
pub(crate) struct TlsStart {
    /// `None`: the client chose plaintext (`allow_non_tls`), or it is over the connection limit.
    pub(crate) session: Option<Box<TlsSession>>,
    /// INFO went out in plaintext already.
    pub(crate) info_sent: bool,
    /// INFO must not be sent (`handshake_first` and no handshake).
    pub(crate) skip_info: bool,
    /// Plaintext that arrived with the handshake, or the bytes read to tell TLS from plaintext.
    pub(crate) plaintext: BytesMut,
}

/// The first byte of a TLS record carrying a handshake message.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// Starts a connection on the TLS client port as the Go server does (server.go
/// `createClient`): INFO in plaintext (unless `handshake_first`), then the handshake within
/// the timeout. Returns `None` when the connection must be closed (the reason is logged).
pub(crate) async fn start_tls(
    stream: &TcpStream,
    config: &std::sync::Arc<rustls::ServerConfig>,
    settings: &crate::tls::TlsSettings,
    info: &crate::protocol::handshake::ServerInfo,
    log_prefix: impl Fn() -> String,
) -> Option<TlsStart> {
    let mut start = TlsStart {
        session: None,
        info_sent: false,
        skip_info: false,
        plaintext: BytesMut::new(),
    };
    let mut received = BytesMut::new();
    // `handshake_first` with a fallback delay (`auto` or a duration): a client that has sent
    // nothing after the delay is not a TLS-first client; it gets INFO (with the port's own
    // `tls_required`) and the usual flow, as the Go server does.
    let handshake_first = settings.handshake_first
        && match settings.handshake_first_fallback {
            Some(delay) => readable_within(stream, delay).await,
            None => true,
        };
    if !handshake_first {
        let mut info = info.clone();
        info.tls_required = !settings.allow_non_tls;
        let BufResult(result, _) = (&*stream).write_all(info.line()).await;
        result.ok()?;
        start.info_sent = true;
        if settings.allow_non_tls {
            // The first bytes decide, as in the Go server: a TLS handshake record means TLS;
            // anything else, or nothing within the TLS timeout, means plaintext.
            if !readable_within(stream, settings.timeout).await {
                return Some(start);
            }
            received.reserve(READ_BUFFER_MIN);
            let BufResult(result, returned) = (&*stream).append(received).await;
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

/// Whether the client has sent something within `limit`. It waits for readability (an
/// io_uring poll), not for a read: a poll given up on loses no bytes, where a read cut short
/// by a timer could.
async fn readable_within(stream: &TcpStream, limit: Duration) -> bool {
    let Ok(poll) = stream.to_poll_fd() else {
        // Without a poll handle, let the read that follows find out.
        return true;
    };
    matches!(
        compio::time::timeout(limit, poll.read_ready()).await,
        Ok(Ok(()))
    )
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
