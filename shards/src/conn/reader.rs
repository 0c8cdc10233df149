//! The read loop: reads (and decrypts) into the connection's buffer, hands each read batch to
//! the protocol (`session::process_input`), flushes the connections that got output, and
//! stops reading while the outboxes are full (backpressure).

use std::rc::Rc;
use std::time::Instant;

use bytes::BytesMut;
use compio::buf::BufResult;
use compio::io::AsyncReadExt;

use crate::client::{Client, CloseReason};
use crate::session::process_input;
use crate::shard::Shard;
use crate::tls::TlsSession;

/// The first read buffer; it doubles while reads fill it, up to [`READ_BUFFER_MAX`].
pub(crate) const READ_BUFFER_MIN: usize = 4 * 1024;
pub(crate) const READ_BUFFER_MAX: usize = 64 * 1024;

/// Reads and handles input until the connection closes. `buffer` holds plaintext that arrived
/// with the TLS handshake (or the bytes read to tell TLS from plaintext), handled first.
pub(crate) async fn read_loop(shard: &Rc<Shard>, client: &Rc<Client>, mut buffer: BytesMut) {
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
        shard.wait_for_input_room().await;
    }
}

/// Reads ciphertext until it yields plaintext, and appends the plaintext to `buffer`.
/// Returns the plaintext byte count; 0 when the peer closed (or sent close_notify).
pub(crate) async fn read_decrypted(
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
