//! Stream snapshots and restores with the Go server's chunked flow, as `nats stream backup`
//! and `nats stream restore` drive it, in the Go server's format (`natrix_jetstream::backup`:
//! a backup made against either server restores into the other).
//!
//! Snapshot (`STREAM.SNAPSHOT.<stream>`, on the owner): the reply carries the configuration
//! and state; the consumers' current records are taken (unless `no_consumers`); then the
//! backup goes to the request's `deliver_subject` in chunks of
//! `chunk_size`, each but the last with a reply subject
//! `$JS.SNAPSHOT.ACK.<stream>.<id>.<len>.<index>` that the client answers; at most
//! `window_size / chunk_size` chunks are unanswered. A header-only `204` ends it; `408 No Flow
//! Response` when the client stops answering for 5 s, `408 No Interest` when nobody listens
//! any more. Messages are read one at a time while the chunks go out: memory stays at about
//! one compressed block, whatever the stream's size.
//!
//! Restore (`STREAM.RESTORE.<stream>`: approved by the meta shard, carried out by the owner):
//! the stream is created without capturing, and the reply names
//! `$JS.SNAPSHOT.RESTORE.<stream>.<id>`; the client publishes the chunks there, each
//! answered with an empty message once it is stored (a consumer entry becomes the consumer's
//! record in the store, which the stream's start recovers); an empty chunk ends it, the limits are
//! applied, the stream starts capturing, and that last chunk is answered with a stream create
//! reply (or the error). A restore that gets no chunk for 5 s is abandoned, as in Go.
//!
//! Both publish Go's advisories when someone listens: `SNAPSHOT_CREATE` and
//! `SNAPSHOT_COMPLETE`, `RESTORE_CREATE` and `RESTORE_COMPLETE` on
//! `$JS.EVENT.ADVISORY.STREAM.<event>.<stream>`.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use natrix_jetstream::api::{
    ConsumerConfig, StreamCreateResponse, StreamRestoreResponse, StreamSnapshotRequest,
    StreamSnapshotResponse, StreamState,
};
use natrix_jetstream::backup::{RestoreItem, RestoreReader, SnapshotWriter};
use natrix_jetstream::config::store_config;
use natrix_jetstream::errors::ApiError;
use natrix_jetstream::time::Timestamp;
use natrix_storage::{StoredMessage, StreamStore};

use super::stream::Stream;
use super::stream_api::{advisory_id, InfoView};
use super::{now_ns, JetStream};
use crate::local_sync::LocalNotify;
use crate::message::Message;
use crate::shard::{ApiRequest, InternalSubscriber, Shard};

/// How long a snapshot waits for the client to answer a chunk (Go's
/// `defaultSnapshotAckTimeout`).
const SNAPSHOT_ACK_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a restore waits for the next chunk before it gives up (Go's activity interval).
const RESTORE_IDLE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a snapshot waits for someone to listen on its deliver subject (as Go).
const INTEREST_WAIT: Duration = Duration::from_secs(2);
/// Chunk bytes a restore holds before it has stored them; a client that sends more without
/// waiting for the answers is refused.
const RESTORE_QUEUE_MAX_BYTES: usize = 64 << 20;
/// Restored messages stored in one call.
const RESTORE_BATCH: usize = 1024;

/// An internal subscriber that runs a closure.
struct Handler<F>(F);

impl<F: Fn(&Shard, &Message)> InternalSubscriber for Handler<F> {
    fn deliver(&self, shard: &Shard, message: &Message) {
        (self.0)(shard, message);
    }
}

impl JetStream {
    /// `STREAM.SNAPSHOT` on the stream's owner, once the stream was found.
    pub(super) fn snapshot_stream(
        self: &Rc<Self>,
        shard: &Shard,
        stream: &Rc<Stream>,
        request: ApiRequest,
    ) {
        let parsed = match natrix_jetstream::requests::parse_snapshot(&request.body) {
            Ok(parsed) => parsed,
            Err(error) => return self.reply_error(shard, &request, error),
        };
        let js = Rc::clone(self);
        let target = Rc::clone(stream);
        stream.spawn_task(shard, async move |shard| {
            let label = format!("'{} > {}'", target.account_name, target.name);
            tracing::info!("Starting snapshot for stream {label}");
            let started = Instant::now();
            let store_state = target.store.state();
            let mut state = StreamState::from_store(&store_state);
            // As Go's `FastState`, the reply counts the stream's consumers; the backup holds
            // them (and says so in `state.json`) unless the request leaves them out.
            state.consumer_count = target.consumers.count();
            let consumers = if parsed.no_consumers {
                Vec::new()
            } else {
                target
                    .consumers
                    .event(&target, &shard, |set, _, _| set.backup_records())
                    .unwrap_or_default()
            };
            let mut reply = StreamSnapshotResponse::ok();
            reply.config = Some(target.config());
            reply.state = Some(state.clone());
            js.reply_json(&shard, &request, &reply, false);
            let start_ns = now_ns();
            js.backup_advisory(
                &shard,
                &target,
                "SNAPSHOT_CREATE",
                "io.nats.jetstream.advisory.v1.snapshot_create",
                AdvisoryFields {
                    state: Some(&state),
                    ..AdvisoryFields::default()
                },
            );
            let outcome = send_snapshot(&shard, &target, &parsed, &state, &consumers).await;
            js.backup_advisory(
                &shard,
                &target,
                "SNAPSHOT_COMPLETE",
                "io.nats.jetstream.advisory.v1.snapshot_complete",
                AdvisoryFields {
                    start_ns: Some(start_ns),
                    error: outcome.as_ref().err().map_or("", String::as_str),
                    ..AdvisoryFields::default()
                },
            );
            match outcome {
                Ok(()) => tracing::info!(
                    "Completed snapshot of {} for stream {label} in {}",
                    friendly_bytes(state.bytes),
                    go_duration(started.elapsed())
                ),
                Err(reason) => tracing::warn!(
                    "Snapshot for stream {label} failed after {:?}: {reason}",
                    go_duration(started.elapsed())
                ),
            }
        });
    }

    /// A restore the meta shard approved, on the owner: `stream` was created empty and does
    /// not capture yet; it is filled from the chunks the client sends.
    pub(super) async fn restore_stream(
        self: &Rc<Self>,
        shard: &Rc<Shard>,
        request: ApiRequest,
        stream: Rc<Stream>,
    ) {
        let label = format!("'{} > {}'", stream.account_name, stream.name);
        tracing::info!("Starting restore for stream {label}");
        let started = Instant::now();
        let start_ns = now_ns();
        self.backup_advisory(
            shard,
            &stream,
            "RESTORE_CREATE",
            "io.nats.jetstream.advisory.v1.restore_create",
            AdvisoryFields::default(),
        );
        let deliver = format!("$JS.SNAPSHOT.RESTORE.{}.{}", stream.name, advisory_id());
        let transfer = Rc::new(Transfer::default());
        let handler: Rc<dyn InternalSubscriber> = Rc::new(Handler({
            let transfer = Rc::clone(&transfer);
            move |_: &Shard, message: &Message| transfer.arrived(message)
        }));
        let subscription =
            shard.subscribe_internal(request.account, Bytes::from(deliver.clone()), None, handler);
        let mut reply = StreamRestoreResponse::ok();
        reply.deliver_subject = deliver;
        self.reply_json(shard, &request, &reply, false);

        let max_payload = shard.config().options.max_payload as u64;
        let mut restore = Restore {
            reader: RestoreReader::new(max_payload),
            stream: &stream,
            batch: Vec::new(),
            last: None,
            bytes: 0,
        };
        let outcome = restore.run(shard, &transfer).await;
        shard.unsubscribe_internal(subscription);
        let total = restore.bytes;
        let name = stream.name.clone();
        let (final_reply, result) = match outcome {
            Ok(reply) => (reply, Ok(())),
            Err((reply, error)) => (reply, Err(error)),
        };
        let result = match result {
            Ok(()) => stream
                .store
                .update_config(store_config(&stream.config()))
                .await
                .map_err(ApiError::stream_restore),
            Err(error) => Err(error),
        };
        let result = match (result, &stream.dir) {
            (Ok(()), Some(dir)) => {
                let entry = crate::shard::DirectoryEntry {
                    config: stream.config(),
                    created_ns: stream.created_ns.get(),
                };
                super::files::write_meta(dir, &entry)
                    .await
                    .map_err(ApiError::stream_restore)
            }
            (result, _) => result,
        };
        self.backup_advisory(
            shard,
            &stream,
            "RESTORE_COMPLETE",
            "io.nats.jetstream.advisory.v1.restore_complete",
            AdvisoryFields {
                start_ns: Some(start_ns),
                bytes: Some(total),
                ..AdvisoryFields::default()
            },
        );
        match result {
            Ok(()) => {
                stream.resync();
                self.streams
                    .borrow_mut()
                    .insert((request.account, name), Rc::clone(&stream));
                stream.start(shard);
                self.restore_completed(shard, request.account, &stream.name);
                tracing::info!(
                    "Completed restore of {} for stream {label} in {}",
                    friendly_bytes(total),
                    go_duration(started.elapsed())
                );
                if let Some(subject) = final_reply {
                    let (info, _) = stream.info(self, InfoView::Create, None);
                    let payload =
                        natrix_jetstream::json::to_vec(&StreamCreateResponse::ok(info, false));
                    publish_to(shard, request.account, subject, payload);
                }
            }
            Err(error) => {
                tracing::warn!(
                    "Restore failed for {} for stream {label} in {}: {}",
                    friendly_bytes(total),
                    go_duration(started.elapsed()),
                    error.description
                );
                let dir = stream.dir.clone();
                drop(stream.close(shard).await);
                if let Some(dir) = dir {
                    let _ = super::files::remove_stream_dir(&dir).await;
                }
                self.revert(shard, request.account, &name, None);
                if let Some(subject) = final_reply {
                    let payload =
                        natrix_jetstream::json::to_vec(&StreamCreateResponse::error(error));
                    publish_to(shard, request.account, subject, payload);
                }
            }
        }
    }
}

impl JetStream {
    /// Tells the meta shard that a restore completed.
    fn restore_completed(&self, shard: &Shard, account: u16, stream: &str) {
        if let Some(meta) = &self.meta {
            meta.restored(account, stream);
            return;
        }
        let msg = crate::shard::JetStreamMsg::Restored {
            account,
            stream: stream.to_owned(),
        };
        let _ = shard.send_jetstream(super::placement::META_SHARD, msg);
    }
}

/// The snapshot and restore advisories (`$JS.EVENT.ADVISORY.STREAM.SNAPSHOT_CREATE.<stream>`,
/// `SNAPSHOT_COMPLETE`, `RESTORE_CREATE`, `RESTORE_COMPLETE`), with Go's fields in Go's order.
#[derive(serde::Serialize)]
struct BackupAdvisory<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: String,
    timestamp: Timestamp,
    stream: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    start: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    end: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<&'a StreamState>,
    client: AdvisoryClient<'a>,
    #[serde(skip_serializing_if = "str::is_empty")]
    domain: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    error: &'a str,
}

#[derive(serde::Serialize)]
struct AdvisoryClient<'a> {
    acc: &'a str,
    server: &'a str,
}

/// What one backup advisory says beyond the stream.
#[derive(Default)]
struct AdvisoryFields<'a> {
    start_ns: Option<i64>,
    bytes: Option<u64>,
    state: Option<&'a StreamState>,
    error: &'a str,
}

impl JetStream {
    /// Publishes a backup advisory when someone listens, as the Go server does.
    fn backup_advisory(
        &self,
        shard: &Shard,
        stream: &Stream,
        event: &str,
        kind: &'static str,
        fields: AdvisoryFields<'_>,
    ) {
        let subject = format!("$JS.EVENT.ADVISORY.STREAM.{event}.{}", stream.name);
        if !shard.has_interest(stream.account, subject.as_bytes()) {
            return;
        }
        let now = Timestamp::from_unix_nanos(now_ns());
        let advisory = BackupAdvisory {
            kind,
            id: advisory_id(),
            timestamp: now,
            stream: &stream.name,
            start: fields.start_ns.map(Timestamp::from_unix_nanos),
            end: fields.start_ns.map(|_| now),
            bytes: fields.bytes,
            state: fields.state,
            client: AdvisoryClient {
                acc: &stream.account_name,
                server: &self.settings.server_name,
            },
            domain: &self.settings.domain,
            error: fields.error,
        };
        let payload = natrix_jetstream::json::to_vec(&advisory);
        publish_to(shard, stream.account, Bytes::from(subject), payload);
    }
}

fn publish_to(shard: &Shard, account: u16, subject: Bytes, payload: Vec<u8>) {
    shard.publish_internal(std::iter::once(Message::new(
        account, subject, None, payload,
    )));
}

/// Go's `%v` of a `time.Duration`.
fn go_duration(elapsed: Duration) -> String {
    natrix_jetstream::time::go_duration_string(
        i64::try_from(elapsed.as_nanos()).unwrap_or(i64::MAX),
    )
}

/// Go's `friendlyBytes`: `182 B`, `1.50 KB`, `2.00 MB` (powers of 1024).
fn friendly_bytes(bytes: u64) -> String {
    const PREFIXES: [&str; 6] = ["K", "M", "G", "T", "P", "E"];
    let value = bytes as f64;
    if value < 1024.0 {
        return format!("{bytes} B");
    }
    let exponent = ((value.ln() / 1024f64.ln()) as usize).clamp(1, PREFIXES.len());
    format!(
        "{:.2} {}B",
        value / 1024f64.powi(exponent as i32),
        PREFIXES[exponent - 1]
    )
}

/// A consumer as a backup holds it: name, configuration, record.
type BackupConsumer = (String, ConsumerConfig, natrix_storage::ConsumerState);

/// Sends the backup of `stream`, as it was in `state`, with `consumers`, to the request's
/// deliver subject.
async fn send_snapshot(
    shard: &Rc<Shard>,
    stream: &Stream,
    request: &StreamSnapshotRequest,
    state: &StreamState,
    consumers: &[BackupConsumer],
) -> Result<(), String> {
    let chunk_size = match request.chunk_size {
        0 => 128 * 1024,
        size => size,
    }
    .clamp(1024, 1024 * 1024) as usize;
    let window = match request.window_size {
        0 => 8 * 1024 * 1024,
        size => size,
    }
    .clamp(1024, 32 * 1024 * 1024) as usize;
    let max_in_flight = window.max(chunk_size) / chunk_size;
    let account = stream.account;
    let deliver = Bytes::from(request.deliver_subject.clone());
    let ack_subject = format!("$JS.SNAPSHOT.ACK.{}.{}", stream.name, advisory_id());
    let slots = Rc::new(Cell::new(max_in_flight));
    let acked = Rc::new(LocalNotify::default());
    let handler: Rc<dyn InternalSubscriber> = Rc::new(Handler({
        let slots = Rc::clone(&slots);
        let acked = Rc::clone(&acked);
        move |_: &Shard, _: &Message| {
            slots.set(slots.get() + 1);
            acked.notify();
        }
    }));
    let subscription = shard.subscribe_internal(
        account,
        Bytes::from(format!("{ack_subject}.>")),
        None,
        handler,
    );
    let mut waited = Duration::ZERO;
    while !shard.has_interest(account, &deliver) && waited < INTEREST_WAIT {
        compio::time::sleep(Duration::from_millis(20)).await;
        waited += Duration::from_millis(20);
    }
    let mut sender = ChunkSender {
        shard,
        account,
        deliver: deliver.clone(),
        ack_subject,
        slots: &slots,
        acked: &acked,
        index: 0,
    };
    let outcome = sender.send_all(stream, chunk_size, state, consumers).await;
    let status: &[u8] = match &outcome {
        Ok(()) => b"NATS/1.0 204\r\n\r\n",
        Err(SendFailure::NoFlowResponse) => b"NATS/1.0 408 No Flow Response\r\n\r\n",
        Err(SendFailure::NoInterest) => b"NATS/1.0 408 No Interest\r\n\r\n",
        Err(SendFailure::Store(_)) => b"NATS/1.0 500 snapshot failed\r\n\r\n",
    };
    let end = Message::with_headers(account, deliver, None, status, b"");
    shard.publish_internal(std::iter::once(end));
    shard.unsubscribe_internal(subscription);
    outcome.map_err(|failure| match failure {
        SendFailure::NoFlowResponse => "no flow response".to_owned(),
        SendFailure::NoInterest => "no interest".to_owned(),
        SendFailure::Store(reason) => reason,
    })
}

enum SendFailure {
    NoFlowResponse,
    NoInterest,
    Store(String),
}

/// The sending side of a snapshot: chunks out, slots back with the client's answers.
struct ChunkSender<'a> {
    shard: &'a Rc<Shard>,
    account: u16,
    deliver: Bytes,
    ack_subject: String,
    slots: &'a Cell<usize>,
    acked: &'a LocalNotify,
    index: usize,
}

impl ChunkSender<'_> {
    async fn send_all(
        &mut self,
        stream: &Stream,
        chunk_size: usize,
        state: &StreamState,
        consumers: &[BackupConsumer],
    ) -> Result<(), SendFailure> {
        let mut header = state.clone();
        header.consumer_count = consumers.len() as u64;
        let mut writer = SnapshotWriter::new(&header);
        for (name, config, record) in consumers {
            let json =
                natrix_jetstream::backup::consumers::consumer_entry(config, record, state.last_seq);
            writer.consumer(name, &json);
        }
        let mut seq = state.first_seq.max(1);
        while seq <= state.last_seq {
            let loaded = stream
                .store
                .load_next_msg("", seq)
                .await
                .map_err(|error| SendFailure::Store(error.to_string()))?;
            let Some(message) = loaded.filter(|message| message.seq <= state.last_seq) else {
                break;
            };
            seq = message.seq + 1;
            writer.message(&message);
            while let Some(chunk) = writer.take_chunk(chunk_size) {
                self.send(chunk, true).await?;
            }
        }
        writer.finish();
        while let Some(chunk) = writer.take_chunk(chunk_size) {
            self.send(chunk, true).await?;
        }
        let rest = writer.take_rest();
        if !rest.is_empty() {
            // As the Go server: the last, short chunk asks for no answer.
            self.send(rest, false).await?;
        }
        Ok(())
    }

    async fn send(&mut self, chunk: Vec<u8>, ask_ack: bool) -> Result<(), SendFailure> {
        while self.slots.get() == 0 {
            if compio::time::timeout(SNAPSHOT_ACK_TIMEOUT, self.acked.notified())
                .await
                .is_err()
            {
                return Err(SendFailure::NoFlowResponse);
            }
        }
        if !self.shard.has_interest(self.account, &self.deliver) {
            return Err(SendFailure::NoInterest);
        }
        self.index += 1;
        let reply = ask_ack.then(|| {
            self.slots.set(self.slots.get() - 1);
            Bytes::from(format!(
                "{}.{}.{}",
                self.ack_subject,
                chunk.len(),
                self.index
            ))
        });
        let message = Message::new(self.account, self.deliver.clone(), reply, chunk);
        self.shard.publish_internal(std::iter::once(message));
        self.shard.wait_for_outbox_room().await;
        Ok(())
    }
}

/// The chunks of a restore as they arrive, waiting for the restore task.
#[derive(Default)]
struct Transfer {
    queue: RefCell<VecDeque<(Bytes, Option<Bytes>)>>,
    queued_bytes: Cell<usize>,
    overflowed: Cell<bool>,
    activity: LocalNotify,
}

impl Transfer {
    fn arrived(&self, message: &Message) {
        let body = message
            .payload
            .slice(message.header_len.min(message.payload.len())..);
        let queued = self.queued_bytes.get() + body.len();
        if queued > RESTORE_QUEUE_MAX_BYTES {
            self.overflowed.set(true);
        } else {
            self.queued_bytes.set(queued);
            self.queue
                .borrow_mut()
                .push_back((body, message.reply.clone()));
        }
        self.activity.notify();
    }

    /// The next chunk, `None` after `idle` without one.
    async fn next(&self, idle: Duration) -> Option<(Bytes, Option<Bytes>)> {
        loop {
            if let Some((chunk, reply)) = self.queue.borrow_mut().pop_front() {
                self.queued_bytes
                    .set(self.queued_bytes.get().saturating_sub(chunk.len()));
                return Some((chunk, reply));
            }
            if self.overflowed.get() {
                return None;
            }
            if compio::time::timeout(idle, self.activity.notified())
                .await
                .is_err()
            {
                return None;
            }
        }
    }
}

/// A restore in progress: the reader of the backup and the messages not stored yet.
struct Restore<'a> {
    reader: RestoreReader,
    stream: &'a Stream,
    batch: Vec<StoredMessage>,
    /// The backup's last sequence and its time, from `state.json`.
    last: Option<(u64, i64)>,
    /// Chunk bytes received.
    bytes: u64,
}

/// How a restore ended: the reply subject of the last chunk (if there is one to answer),
/// and the error.
type RestoreOutcome = Result<Option<Bytes>, (Option<Bytes>, ApiError)>;

impl Restore<'_> {
    async fn run(&mut self, shard: &Rc<Shard>, transfer: &Transfer) -> RestoreOutcome {
        let label = format!("'{} > {}'", self.stream.account_name, self.stream.name);
        loop {
            let Some((chunk, reply)) = transfer.next(RESTORE_IDLE_TIMEOUT).await else {
                let reason = if transfer.overflowed.get() {
                    format!("restore for stream {label} sent chunks without waiting")
                } else {
                    format!("restore for stream {label} is stalled")
                };
                return Err((None, ApiError::stream_restore(reason)));
            };
            let Some(reply) = reply.filter(|reply| !reply.is_empty()) else {
                let reason =
                    format!("restore for stream {label} requires reply subject for each chunk");
                return Err((None, ApiError::stream_restore(reason)));
            };
            if chunk.is_empty() {
                return match self.finish().await {
                    Ok(()) => Ok(Some(reply)),
                    Err(error) => Err((Some(reply), error)),
                };
            }
            self.bytes += chunk.len() as u64;
            if let Err(error) = self.take(&chunk).await {
                // As the Go server: the failing chunk is answered with the error.
                return Err((Some(reply), error));
            }
            publish_to(shard, self.stream.account, reply, Vec::new());
        }
    }

    /// Decodes a chunk and stores what it completes.
    async fn take(&mut self, chunk: &[u8]) -> Result<(), ApiError> {
        self.reader.feed(chunk).map_err(ApiError::stream_restore)?;
        let max_msg_size = self.stream.config().max_msg_size;
        let now = now_ns();
        while let Some(item) = self.reader.next_item().map_err(ApiError::stream_restore)? {
            match item {
                RestoreItem::State(state) => {
                    let last_ns = state.last_ts.unix_nanos().unwrap_or(0);
                    self.last = Some((state.last_seq, last_ns));
                    if state.first_seq > 1 {
                        self.stream
                            .store
                            .compact(state.first_seq)
                            .await
                            .map_err(ApiError::stream_restore)?;
                    }
                }
                RestoreItem::Consumer { name, json } => {
                    // The record the consumer comes back from when the stream starts, as
                    // after a restart; written now, before any message, as Go adds them.
                    let record =
                        natrix_jetstream::backup::consumers::restored_record(&name, &json, now)
                            .map_err(ApiError::stream_restore)?;
                    self.stream
                        .store
                        .update_consumer_state(&name, &record)
                        .await
                        .map_err(|error| {
                            ApiError::stream_restore(format!(
                                "failed to set consumer {name:?} state: {error}"
                            ))
                        })?;
                }
                RestoreItem::Message(message) => {
                    let size = message.headers.len() + message.payload.len();
                    if max_msg_size >= 0 && size as i64 > i64::from(max_msg_size) {
                        return Err(ApiError::stream_restore(format!(
                            "message sequence {} exceeds maximum message size",
                            message.seq
                        )));
                    }
                    // A message whose TTL ran out is not restored; its sequence stays used.
                    let expired = message.ttl_ns > 0
                        && message.timestamp_ns.saturating_add(message.ttl_ns) < now;
                    if !expired {
                        self.batch.push(message);
                    }
                    if self.batch.len() >= RESTORE_BATCH {
                        self.flush().await?;
                    }
                }
                RestoreItem::End => {}
            }
        }
        self.flush().await
    }

    async fn flush(&mut self) -> Result<(), ApiError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.batch);
        self.stream
            .store
            .append_restored(batch)
            .await
            .map_err(ApiError::stream_restore)
    }

    /// The client sent its last chunk: the backup must be complete.
    async fn finish(&mut self) -> Result<(), ApiError> {
        if !self.reader.is_complete() {
            return Err(ApiError::stream_restore("backup was truncated"));
        }
        self.flush().await?;
        if let Some((last_seq, last_ns)) = self.last {
            self.stream
                .store
                .skip_to(last_seq, last_ns)
                .await
                .map_err(ApiError::stream_restore)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::friendly_bytes;

    #[test]
    fn sizes_are_written_as_go_writes_them() {
        assert_eq!(friendly_bytes(182), "182 B");
        assert_eq!(friendly_bytes(1536), "1.50 KB");
        assert_eq!(friendly_bytes(5 * 1024 * 1024), "5.00 MB");
    }
}
