//! JetStream on a shard: the API service, the streams this shard owns, and (on the meta
//! shard) the directory of every stream.
//!
//! Layer: above `shard` (whose internal subscribers, internal publishers and mesh it uses),
//! below `session`/`conn` (which do not know it); `lifecycle` starts it on every shard before
//! the shard accepts connections and closes its stores when the shard stops. The decisions
//! themselves are `natrix_jetstream`'s pure state machines and checks; this module performs
//! their actions against the stores, the routing core and timers.
//!
//! - `api`: the `$JS.API.>` service every shard runs (a local-only internal subscription per
//!   JetStream account): parses the subject and forwards the request to the shard that
//!   answers it.
//! - `meta`: on the meta shard ([`placement::META_SHARD`]), the directory of streams with
//!   their configurations: create, update, delete, names, list and account info, with the
//!   overlap and limit checks that need every stream of the account.
//! - `stream`: a stream on its owner: a [`natrix_jetstream::stream::StreamMachine`] over its
//!   [`store::Store`], fed by an internal subscription on the stream's subjects; store calls
//!   run as tasks started in the order the machine asked for them.
//! - `stream_api`, `direct`: the stream-scoped requests answered by the owner (info, purge,
//!   message get and delete, direct get).
//! - `backup`: snapshots and restores with the Go server's chunked flow and format.
//! - `startup`: recovery of every stream at start, and shutdown.
//! - `snapshot`: what `/jsz` reads of a shard.
//! - `files`: the directory layout and the stream metafile. `placement`: who owns what.
//!   `store`: a file or memory store behind one type.

mod api;
mod backup;
mod direct;
mod files;
mod meta;
pub mod placement;
mod snapshot;
mod startup;
mod store;
mod stream;
mod stream_api;

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::PathBuf;
use std::rc::{Rc, Weak};
use std::sync::Arc;

use bytes::Bytes;
use natrix_storage::StoreError;

use crate::account::AccountId;
use crate::config::JetStreamSettings;
use crate::mesh::ShardId;
use crate::message::Message;
use crate::shard::{JetStreamHandler, JetStreamMsg, Shard};

pub use snapshot::{snapshot, AccountSnapshot, JetStreamSnapshot, StreamSnapshot};
pub use startup::{shutdown, start};
use stream::Stream;

/// Where the API audit advisory goes (Go's `JSAuditAdvisory`).
const AUDIT_SUBJECT: &str = "$JS.EVENT.ADVISORY.API";

/// Why JetStream could not start or persist something.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JetStreamError {
    /// A file operation on the store directory failed. Not recoverable by retrying the same
    /// call; the operation names what was being done.
    #[error("I/O error during {operation} on {path}: {source}")]
    Io {
        operation: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A stream metafile is damaged or unreadable; the stream is not loaded. Recoverable by
    /// an operator (restore the directory from a backup).
    #[error("stream metafile {path}: {reason}")]
    BadMeta { path: PathBuf, reason: String },
    /// The stream's store failed; see the store error for whether it can recover.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// JetStream's state on one shard.
pub struct JetStream {
    settings: Arc<JetStreamSettings>,
    shard_id: ShardId,
    shard_count: usize,
    /// The streams this shard owns.
    streams: RefCell<HashMap<(AccountId, String), Rc<Stream>>>,
    /// The directory, on the meta shard only.
    meta: Option<meta::Meta>,
    /// API requests this shard answered, per account: (total, errors).
    api_counters: RefCell<HashMap<AccountId, (u64, u64)>>,
    /// PubAcks and other replies waiting to be published together at the end of this turn.
    replies: RefCell<Vec<Message>>,
    replies_scheduled: Cell<bool>,
    me: Weak<JetStream>,
}

impl JetStream {
    fn new(shard: &Shard, settings: Arc<JetStreamSettings>) -> Rc<JetStream> {
        Rc::new_cyclic(|me| JetStream {
            settings,
            shard_id: shard.id,
            shard_count: shard.shard_count,
            streams: RefCell::default(),
            meta: (shard.id == placement::META_SHARD).then(meta::Meta::default),
            api_counters: RefCell::default(),
            replies: RefCell::default(),
            replies_scheduled: Cell::new(false),
            me: me.clone(),
        })
    }

    /// This runtime as an `Rc`, for the tasks it spawns.
    fn handle(&self) -> Option<Rc<JetStream>> {
        self.me.upgrade()
    }

    /// The settings JetStream runs with.
    pub fn settings(&self) -> &JetStreamSettings {
        &self.settings
    }

    /// The stream `name` of `account`, if this shard owns it.
    fn stream(&self, account: AccountId, name: &str) -> Option<Rc<Stream>> {
        self.streams
            .borrow()
            .get(&(account, name.to_owned()))
            .cloned()
    }

    /// The shard that owns stream `name` of `account`.
    fn owner_of(&self, shard: &Shard, account: AccountId, name: &str) -> ShardId {
        let config = shard.config();
        let account_name = &config.accounts.get(account).name;
        placement::owner(account_name, name, self.shard_count)
    }

    /// Sends an API reply now, counts it in the account's API statistics, and publishes the
    /// API audit advisory (`$JS.EVENT.ADVISORY.API`), as the Go server does for every answered
    /// request.
    fn send_api_reply(
        &self,
        shard: &Shard,
        request: &crate::shard::ApiRequest,
        payload: Vec<u8>,
        is_error: bool,
    ) {
        let account = request.account;
        {
            let mut counters = self.api_counters.borrow_mut();
            let entry = counters.entry(account).or_default();
            entry.0 += 1;
            if is_error {
                entry.1 += 1;
            }
        }
        let audit = shard
            .has_interest(account, AUDIT_SUBJECT.as_bytes())
            .then(|| self.audit_advisory(shard, request, &payload));
        let mut messages = Vec::with_capacity(2);
        if let Some(reply) = request.reply.clone().filter(|reply| !reply.is_empty()) {
            messages.push(Message::new(account, reply, None, payload));
        }
        messages.extend(audit);
        shard.publish_internal(messages);
    }

    /// Go's `JSAPIAudit` for an answered request, its fields in Go's order.
    fn audit_advisory(
        &self,
        shard: &Shard,
        request: &crate::shard::ApiRequest,
        response: &[u8],
    ) -> Message {
        #[derive(serde::Serialize)]
        struct Client<'a> {
            acc: &'a str,
            server: &'a str,
        }
        #[derive(serde::Serialize)]
        struct Audit<'a> {
            #[serde(rename = "type")]
            kind: &'static str,
            id: String,
            timestamp: natrix_jetstream::time::Timestamp,
            server: &'a str,
            client: Client<'a>,
            subject: std::borrow::Cow<'a, str>,
            #[serde(skip_serializing_if = "str::is_empty")]
            request: std::borrow::Cow<'a, str>,
            response: std::borrow::Cow<'a, str>,
            #[serde(skip_serializing_if = "str::is_empty")]
            domain: &'a str,
        }
        let config = shard.config();
        let audit = Audit {
            kind: "io.nats.jetstream.advisory.v1.api_audit",
            id: stream_api::advisory_id(),
            timestamp: natrix_jetstream::time::Timestamp::from_unix_nanos(now_ns()),
            server: &self.settings.server_name,
            client: Client {
                acc: &config.accounts.get(request.account).name,
                server: &self.settings.server_name,
            },
            subject: String::from_utf8_lossy(&request.subject),
            request: String::from_utf8_lossy(&request.body),
            response: String::from_utf8_lossy(response),
            domain: &self.settings.domain,
        };
        Message::new(
            request.account,
            Bytes::from_static(AUDIT_SUBJECT.as_bytes()),
            None,
            natrix_jetstream::json::to_vec(&audit),
        )
    }

    /// Publishes a raw message (with headers) to `subject`, now.
    fn publish_raw(
        &self,
        shard: &Shard,
        account: AccountId,
        subject: Bytes,
        headers: &[u8],
        body: &[u8],
    ) {
        let message = if headers.is_empty() {
            Message::new(account, subject, None, Bytes::copy_from_slice(body))
        } else {
            Message::with_headers(account, subject, None, headers, body)
        };
        shard.publish_internal(std::iter::once(message));
    }

    /// Queues a reply to be published with the others of this turn: the store completions
    /// of one group commit wake together, so their PubAcks leave in one routing pass.
    fn queue_reply(&self, shard: &Shard, message: Message) {
        self.replies.borrow_mut().push(message);
        if self.replies_scheduled.replace(true) {
            return;
        }
        let (Some(js), Some(shard)) = (self.handle(), shard.handle()) else {
            return;
        };
        compio::runtime::spawn(async move {
            js.replies_scheduled.set(false);
            let replies = std::mem::take(&mut *js.replies.borrow_mut());
            shard.publish_internal(replies);
        })
        .detach();
    }

    /// This shard's share of `account`'s usage, and the API requests it answered for it.
    fn local_usage(&self, account: AccountId) -> crate::shard::AccountUsage {
        let mut usage = crate::shard::AccountUsage::default();
        for stream in self.streams.borrow().values() {
            if stream.account != account {
                continue;
            }
            let bytes = stream.bytes();
            if stream.store.is_memory() {
                usage.memory += bytes;
            } else {
                usage.storage += bytes;
            }
        }
        if let Some((total, errors)) = self.api_counters.borrow().get(&account) {
            usage.api_total = *total;
            usage.api_errors = *errors;
        }
        usage
    }
}

impl JetStreamHandler for JetStream {
    fn handle(&self, shard: &Shard, msg: JetStreamMsg) {
        let Some(js) = self.handle() else {
            return;
        };
        match msg {
            JetStreamMsg::Request(request) => js.handle_request(shard, request),
            JetStreamMsg::Apply { request, change } => js.apply_change(shard, request, change),
            JetStreamMsg::Revert {
                account,
                stream,
                previous,
            } => {
                if let Some(meta) = &js.meta {
                    meta.revert(account, &stream, previous);
                }
            }
            JetStreamMsg::Restored { account, stream } => {
                if let Some(meta) = &js.meta {
                    meta.restored(account, &stream);
                }
            }
            JetStreamMsg::Query { token, query } => js.answer_query(shard, token, query),
            JetStreamMsg::Answer { token, answer } => {
                if let Some(meta) = &js.meta {
                    meta.collect(&js, shard, token, answer);
                }
            }
        }
    }

    fn as_any(self: Rc<Self>) -> Rc<dyn Any> {
        self
    }
}

/// The JetStream runtime of `shard`, if JetStream runs there.
pub fn runtime(shard: &Shard) -> Option<Rc<JetStream>> {
    let handler = shard.jetstream_handler()?;
    Rc::downcast::<JetStream>(handler.as_any()).ok()
}

/// Nanoseconds since the Unix epoch, now.
fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_nanos()).unwrap_or(i64::MAX)
        })
}
