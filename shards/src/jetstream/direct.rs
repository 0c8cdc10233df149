//! `$JS.API.DIRECT.GET.<stream>[.<subject>]` on the stream's owner, as the Go server's
//! `processDirectGetRequest`, `getDirectRequest` and `getDirectMulti`: replies are raw
//! messages with `Nats-Stream`, `Nats-Subject`, `Nats-Sequence`, `Nats-Time-Stamp` headers
//! (and `Nats-Num-Pending`/`Nats-Last-Sequence` in batches), a `204 EOB` after a batch, and
//! the 404/408/412/413 statuses.

use std::collections::BTreeSet;
use std::rc::Rc;

use bytes::Bytes;
use natrix_jetstream::api::{MsgGetRequest, API_LEVEL};
use natrix_jetstream::headers;
use natrix_jetstream::requests::{parse_direct_get, DirectGetRefusal};
use natrix_jetstream::time::Timestamp;
use natrix_storage::{StoreError, StoredMessage, StreamStore};

use super::store::Store;
use super::stream::{seq_from_time, Stream};
use super::JetStream;
use crate::message::Message;
use crate::shard::{ApiCall, ApiRequest, Shard};

/// Most messages one multi-last request may match (Go's `maxAllowedResponses`).
const MULTI_LAST_MAX: usize = 1024;

/// The header of the request that states the API level the client needs.
const REQUIRED_API_LEVEL: &str = "Nats-Required-Api-Level";

/// Answers as if nobody listened (the Go server has no direct-get subscription for a stream
/// without `allow_direct`): a `503` status to the reply subject.
pub(super) fn no_responders(js: &JetStream, shard: &Shard, request: &ApiRequest) {
    if let Some(reply) = request.reply.clone().filter(|reply| !reply.is_empty()) {
        js.publish_raw(shard, request.account, reply, b"NATS/1.0 503\r\n\r\n", b"");
    }
}

/// Whether the request's `Nats-Required-Api-Level` asks for more than Natrix serves.
pub(super) fn requires_higher_level(raw_headers: &[u8]) -> bool {
    headers::get_str(raw_headers, REQUIRED_API_LEVEL)
        .filter(|level| !level.is_empty())
        .is_some_and(|level| level.parse::<u32>().map_or(true, |level| level > API_LEVEL))
}

pub(super) fn direct_get(
    js: &Rc<JetStream>,
    shard: &Shard,
    stream: &Rc<Stream>,
    request: ApiRequest,
) {
    let Some(reply) = request.reply.clone().filter(|reply| !reply.is_empty()) else {
        return;
    };
    if !stream.config().allow_direct {
        return no_responders(js, shard, &request);
    }
    let status = |code: u16, text: &str| headers::status(code, text);
    let refuse =
        |headers: Bytes| js.publish_raw(shard, request.account, reply.clone(), &headers, b"");
    if requires_higher_level(&request.headers) {
        return refuse(status(412, "Required Api Level"));
    }
    let subject_tail = match &request.call {
        ApiCall::DirectGet { subject, .. } => subject.clone(),
        _ => None,
    };
    let get = match subject_tail {
        Some(subject) => match last_by_subject_request(&request.body, subject) {
            Ok(get) => get,
            Err(DirectGetRefusal(headers)) => return refuse(headers),
        },
        None => match parse_direct_get(&request.body, None) {
            Ok(get) => get,
            Err(DirectGetRefusal(headers)) => return refuse(headers),
        },
    };
    let js = Rc::clone(js);
    let target = Rc::clone(stream);
    let account = request.account;
    stream.spawn_task(shard, async move |shard| {
        let max_pending = shard.config().options.max_pending;
        let replies = if get.multi_last.is_empty() {
            single_or_batch(&target, &get, max_pending).await
        } else {
            multi_last(&target, &get, max_pending).await
        };
        let messages = replies.into_iter().map(|(headers, body)| {
            if headers.is_empty() {
                Message::new(account, reply.clone(), None, body)
            } else {
                Message::with_headers(account, reply.clone(), None, &headers, &body)
            }
        });
        shard.publish_internal(messages.collect::<Vec<_>>());
        let _ = js;
    });
}

/// `DIRECT.GET.<stream>.<subject>`: the body may be empty or JSON without any field set.
fn last_by_subject_request(
    body: &[u8],
    subject: String,
) -> Result<MsgGetRequest, DirectGetRefusal> {
    if subject.is_empty() {
        return Err(DirectGetRefusal(headers::status(408, "Bad Request")));
    }
    if !body.iter().all(u8::is_ascii_whitespace) {
        let request: MsgGetRequest = serde_json::from_slice(body)
            .map_err(|_| DirectGetRefusal(headers::status(408, "Malformed Request")))?;
        let empty = request.last_by_subj.is_empty()
            && request.next_by_subj.is_empty()
            && request.multi_last.is_empty()
            && request.seq == 0
            && request.batch == 0
            && request.start_time.is_none()
            && request.up_to_seq == 0
            && request.up_to_time.is_none();
        if !empty {
            return Err(DirectGetRefusal(headers::status(408, "Bad Request")));
        }
        return Ok(MsgGetRequest {
            last_by_subj: subject,
            ..request
        });
    }
    Ok(MsgGetRequest {
        last_by_subj: subject,
        ..MsgGetRequest::default()
    })
}

type Reply = (Bytes, Bytes);

/// Go's `getDirectRequest`.
async fn single_or_batch(stream: &Stream, get: &MsgGetRequest, max_pending: usize) -> Vec<Reply> {
    let store = &*stream.store;
    let mut replies = Vec::new();
    let mut seq = match get.start_time.and_then(Timestamp::unix_nanos) {
        Some(start_ns) => match seq_from_time(store, start_ns).await {
            Ok(seq) => seq,
            Err(_) => return vec![not_found()],
        },
        None => get.seq,
    };
    let is_batch = get.batch > 0;
    let batch = get.batch.max(1);
    let mut pending = 0;
    let mut valid_through = 0;
    if is_batch {
        pending = store.filtered_state(&get.next_by_subj, seq).msgs;
        valid_through = store.state().last_seq;
    }
    let max_bytes = if get.max_bytes > 0 {
        usize::try_from(get.max_bytes).unwrap_or(usize::MAX)
    } else {
        max_pending
    };
    let mut sent_bytes = 0usize;
    let mut last_seq = 0;
    for index in 0..batch {
        let loaded = if seq > 0 && get.next_by_subj.is_empty() {
            let loaded = if index == 0 && !is_batch {
                store.load_msg(seq).await
            } else {
                store.load_next_msg("", seq).await
            };
            if let Ok(Some(message)) = &loaded {
                seq = message.seq;
            }
            seq += 1;
            loaded
        } else if !get.next_by_subj.is_empty() {
            let loaded = store.load_next_msg(&get.next_by_subj, seq).await;
            if let Ok(Some(message)) = &loaded {
                seq = message.seq;
            }
            seq += 1;
            loaded
        } else {
            store.load_last_msg(&get.last_by_subj).await
        };
        let message = match loaded {
            Ok(Some(message)) => message,
            Ok(None) | Err(_) => {
                if batch > 1 && index > 0 {
                    break;
                }
                return vec![not_found()];
            }
        };
        let header = if get.no_hdr {
            Bytes::new()
        } else if is_batch {
            pending = pending.saturating_sub(1);
            message_headers(&stream.name, &message, Some((pending, last_seq)))
        } else {
            message_headers(&stream.name, &message, None)
        };
        last_seq = message.seq;
        sent_bytes += message.subject.len() + message.headers.len() + message.payload.len();
        replies.push((header, message.payload));
        if sent_bytes >= max_bytes {
            break;
        }
    }
    if is_batch {
        if store.state().last_seq > valid_through {
            pending = store.filtered_state(&get.next_by_subj, seq).msgs;
        }
        replies.push((headers::end_of_batch(pending, last_seq), Bytes::new()));
    }
    replies
}

/// Go's `getDirectMulti`: the last message of every subject matching the filters, up to a
/// sequence or a time, in sequence order.
async fn multi_last(stream: &Stream, get: &MsgGetRequest, max_pending: usize) -> Vec<Reply> {
    let store = &*stream.store;
    let state = store.state();
    let mut up_to = get.up_to_seq;
    if let Some(up_to_ns) = get.up_to_time.and_then(Timestamp::unix_nanos) {
        up_to = match seq_from_time(store, up_to_ns).await {
            Ok(seq) => seq,
            Err(_) => return vec![not_found()],
        };
        if up_to <= state.first_seq {
            return vec![(headers::status(404, "No Results"), Bytes::new())];
        }
        up_to -= 1;
    }
    if up_to == 0 {
        up_to = state.last_seq;
    }
    let seqs = match multi_last_seqs(store, &get.multi_last, up_to).await {
        Ok(seqs) => seqs,
        Err(MultiLastError::TooMany) => {
            return vec![(headers::status(413, "Too Many Results"), Bytes::new())]
        }
        Err(MultiLastError::Store(error)) => {
            let text = format!("{error}");
            return vec![(headers::status(500, &text), Bytes::new())];
        }
    };
    if seqs.is_empty() {
        return vec![(headers::status(404, "No Results"), Bytes::new())];
    }
    let max_bytes = if get.max_bytes > 0 {
        usize::try_from(get.max_bytes).unwrap_or(usize::MAX)
    } else {
        max_pending
    };
    let mut replies = Vec::new();
    let mut pending = seqs.len() as u64;
    let (mut sent, mut sent_bytes, mut last_seq) = (0i64, 0usize, 0u64);
    for seq in seqs {
        pending = pending.saturating_sub(1);
        if seq < get.seq {
            continue;
        }
        let message = match store.load_msg(seq).await {
            Ok(Some(message)) => message,
            _ => return vec![not_found()],
        };
        let header = message_headers(&stream.name, &message, Some((pending, last_seq)));
        last_seq = message.seq;
        sent_bytes += message.subject.len() + message.headers.len() + message.payload.len();
        replies.push((header, message.payload));
        if sent_bytes >= max_bytes {
            break;
        }
        sent += 1;
        if get.batch > 0 && sent >= get.batch {
            break;
        }
    }
    let mut eob = headers::HeaderBuilder::new(Some(204), "EOB");
    eob.append(headers::names::NUM_PENDING, &pending.to_string())
        .append(headers::names::LAST_SEQUENCE, &last_seq.to_string())
        .append(headers::names::UP_TO_SEQUENCE, &up_to.to_string());
    replies.push((eob.finish(), Bytes::new()));
    replies
}

enum MultiLastError {
    TooMany,
    Store(StoreError),
}

/// The last sequence at or below `up_to` of every subject matching one of `filters`,
/// ascending; more than [`MULTI_LAST_MAX`] is an error, as in the Go server.
async fn multi_last_seqs(
    store: &Store,
    filters: &[String],
    up_to: u64,
) -> Result<Vec<u64>, MultiLastError> {
    let mut seqs = BTreeSet::new();
    let mut subjects = BTreeSet::new();
    for filter in filters {
        for (subject, state) in store.subjects_state(filter) {
            if !subjects.insert(subject.clone()) {
                continue;
            }
            if state.first > up_to {
                continue;
            }
            let last = if state.last <= up_to {
                state.last
            } else {
                // Walk the subject's messages to the last one at or below `up_to`.
                let mut found = state.first;
                let mut next = state.first;
                loop {
                    match store
                        .load_next_msg(&subject, next)
                        .await
                        .map_err(MultiLastError::Store)?
                    {
                        Some(message) if message.seq <= up_to => {
                            found = message.seq;
                            next = message.seq + 1;
                        }
                        _ => break,
                    }
                }
                found
            };
            seqs.insert(last);
            if seqs.len() > MULTI_LAST_MAX {
                return Err(MultiLastError::TooMany);
            }
        }
    }
    Ok(seqs.into_iter().collect())
}

fn not_found() -> Reply {
    (headers::not_found(), Bytes::new())
}

/// The headers of a direct-get reply: Go's fixed block when the message has none, else its
/// own headers with the direct-get headers appended (`genHeader`).
fn message_headers(stream: &str, message: &StoredMessage, batch: Option<(u64, u64)>) -> Bytes {
    let time = Timestamp::from_unix_nanos(message.timestamp_ns).to_rfc3339();
    let mut fields = vec![
        (headers::names::STREAM, stream.to_owned()),
        (headers::names::SUBJECT, message.subject.clone()),
        (headers::names::SEQUENCE, message.seq.to_string()),
        (headers::names::TIME_STAMP, time),
    ];
    if let Some((pending, last_seq)) = batch {
        fields.push((headers::names::NUM_PENDING, pending.to_string()));
        fields.push((headers::names::LAST_SEQUENCE, last_seq.to_string()));
    }
    let mut block = if message.headers.len() > 2 {
        message.headers[..message.headers.len() - 2].to_vec()
    } else {
        b"NATS/1.0\r\n".to_vec()
    };
    for (key, value) in fields {
        block.extend_from_slice(key.as_bytes());
        block.extend_from_slice(b": ");
        block.extend_from_slice(value.as_bytes());
        block.extend_from_slice(b"\r\n");
    }
    block.extend_from_slice(b"\r\n");
    Bytes::from(block)
}
