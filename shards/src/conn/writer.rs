//! The writer task: sends the outbound buffer whenever there is something in it, in one write
//! (or one vectored write, or TLS records), bounded by the write deadline; closes the socket
//! once the connection is closing and everything queued is sent.

use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use compio::buf::BufResult;
use compio::io::AsyncWriteExt;
use compio::net::TcpStream;

use crate::client::{Client, CloseReason};
use crate::shard::Shard;
use crate::tls::TlsSession;
use crate::websocket::WebSocket;

/// Writes the outbound buffer whenever there is something in it; closes the socket once the
/// connection is closing and everything queued has been sent.
pub(crate) async fn run_writer(shard: Rc<Shard>, client: Rc<Client>) {
    // A TLS connection's records, reused from write to write.
    let mut ciphertext = Vec::new();
    loop {
        let tls_output = client.tls.as_deref().is_some_and(TlsSession::wants_write);
        let websocket_output = client
            .websocket
            .as_deref()
            .is_some_and(WebSocket::has_output);
        if client.outbound.borrow().is_empty() && !tls_output && !websocket_output {
            if client.is_closed() {
                break;
            }
            client.writer_wake.notified().await;
            continue;
        }
        let chunks = client.outbound.borrow_mut().take();
        // A WebSocket connection's data goes out in frames (one branch for the others).
        let chunks = match &client.websocket {
            Some(websocket) => websocket.frame(chunks),
            None => chunks,
        };
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
pub(crate) async fn write_encrypted(
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
