//! The client protocol on a connection: what each operation a client sends does.
//!
//! [`process_input`] parses a read batch and handles every operation in it: `PUB`/`HPUB` are
//! routed (see [`publish`]), `SUB`/`UNSUB` change subscriptions ([`subscribe`]), `CONNECT`
//! authenticates ([`connect`]), `PING` is answered once every shard sees the client's
//! interest changes. Nothing here reads or writes a socket: the connection's tasks
//! (`conn`) call in with bytes and take out the outbound buffer.

pub mod connect;
pub(crate) mod events;
pub mod publish;
pub mod subscribe;

use std::rc::Rc;

use bytes::{Bytes, BytesMut};

use crate::client::{Client, CloseReason};
use crate::protocol::parser::Parsed;
use crate::protocol::{ClientOp, ParseError, Parser};
use crate::shard::{Handoffs, Shard};
use connect::{handle_connect, log_in_without_connect};
use publish::handle_publish;
use subscribe::handle_subscribe;

/// Parses and handles every complete operation in `buffer`, consuming it. Returns how many
/// bytes the next incomplete operation needs in total.
pub async fn process_input(shard: &Rc<Shard>, client: &Rc<Client>, buffer: &mut BytesMut) -> usize {
    shard.catch_up_with_mesh();
    let mut handoffs = Handoffs::new(shard.shard_count);
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
        // A JWT user's payload limit applies like the server's (Go: the client's `mpay`).
        let jwt_payload = client
            .jwt_limits
            .get()
            .and_then(|limits| usize::try_from(limits.payload).ok());
        let parser = Parser {
            max_payload: jwt_payload.map_or(limits.0, |jwt_payload| jwt_payload.min(limits.0)),
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
            ClientOp::Pub(msg) => {
                handle_publish(shard, client, &buffer[..], base, msg, &mut handoffs)
            }
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
                        position = settle_interest(shard, buffer, position, &mut handoffs).await;
                    }
                    shard.send_line(client, b"+OK\r\n");
                }
            }
            ClientOp::Unsub { sid, max_msgs } => {
                shard.unsubscribe(client, &buffer[base + sid.start..base + sid.end], max_msgs);
                if client.verbose.get() {
                    shard.send_line(client, b"+OK\r\n");
                }
            }
            ClientOp::Ping => {
                if client.interest_pending.replace(false) && shard.shard_count > 1 {
                    position = settle_interest(shard, buffer, position, &mut handoffs).await;
                }
                shard.send_line(client, b"PONG\r\n");
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
                    // Go reports the client's own payload limit (a JWT's may be lower).
                    if let Some(limit) = client
                        .jwt_limits
                        .get()
                        .and_then(|limits| usize::try_from(limits.payload).ok())
                    {
                        info.max_payload = info.max_payload.min(limit);
                    }
                    shard.send_info_update(client, info);
                }
            }
            ClientOp::Pong => client.pings_out.set(0),
            ClientOp::Connect { json } => {
                handle_connect(shard, client, &buffer[base + json.start..base + json.end]);
            }
            ClientOp::Err { message } => {
                // As the Go server does: log the client's error and close the connection.
                let message = &buffer[base + message.start..base + message.end];
                tracing::error!(
                    "{} - Client Error {}",
                    client.log_prefix(),
                    String::from_utf8_lossy(message)
                );
                shard.close_client(client, CloseReason::ParseError);
            }
            ClientOp::Ok | ClientOp::Info => {}
        }
        if client.is_closed() {
            break;
        }
    }
    if handoffs.is_empty() {
        let _ = buffer.split_to(position);
    } else {
        let done = buffer.split_to(position).freeze();
        shard.send_handoffs(handoffs, &done);
    }
    needed
}

/// Makes every operation handled so far visible on every shard before the reply to the current
/// one (PONG, or +OK for a SUB) is queued: sends what this batch routed so far, then waits for
/// the interest barrier. Returns the new parse position (the handled bytes are consumed).
async fn settle_interest(
    shard: &Rc<Shard>,
    buffer: &mut BytesMut,
    position: usize,
    handoffs: &mut Handoffs,
) -> usize {
    let done = buffer.split_to(position).freeze();
    shard.send_handoffs(
        std::mem::replace(handoffs, Handoffs::new(shard.shard_count)),
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
