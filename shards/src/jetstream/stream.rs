//! A stream on the shard that owns it: its machine, its store, the internal subscription on
//! its subjects, and the tasks that run its store calls.
//!
//! The publish path: a message on one of the stream's subjects reaches [`Intake::deliver`]
//! (from a client of this shard, or over one mesh hop from another shard). The
//! [`StreamMachine`] decides it and returns actions; each store action becomes a task,
//! spawned in the order the actions came (compio polls tasks in spawn order, and the stores
//! assign the sequence at the first poll, which is the machine's contract). When a store
//! completes, the machine hears of it and returns the PubAck, which is queued and published
//! with the other replies of the same turn. While the machine is busy (its stores in flight
//! reach their bound, or it holds publishes), the stream pauses the shard's input, so
//! publishers wait in their sockets instead of a queue growing.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::PathBuf;
use std::rc::{Rc, Weak};
use std::time::Duration;

use bytes::Bytes;
use natrix_jetstream::api::StreamConfig;
use natrix_jetstream::config::store_config;
use natrix_jetstream::stream::{Action, MachineLimits, Publish, StreamMachine, Token};
use natrix_storage::{
    FileStore, FileStoreOptions, MemStore, StoreError, StoredMessage, StreamStore,
};

use super::store::Store;
use super::{now_ns, JetStream, JetStreamError};
use crate::account::AccountId;
use crate::local_sync::LocalNotify;
use crate::mapping::SubjectTransform;
use crate::message::Message;
use crate::shard::{DirectoryEntry, InternalSubscriber, Shard, SubId};

/// Messages loaded at start to rebuild the dedupe window, at most (the newest ones).
const DEDUPE_RECOVERY_MAX: u64 = 100_000;

/// How long an expired message whose delete marker was published is not marked again
/// (Go's `shouldProcessSdm`: two seconds).
const MARKER_RETRY_NS: i64 = 2_000_000_000;

/// Go's `isSubjectDeleteMarker`: a marker left by expiry, or a KV purge.
fn is_subject_delete_marker(headers: &[u8]) -> bool {
    use natrix_jetstream::headers::{self, names};
    headers::get(headers, names::MARKER_REASON).is_some_and(|reason| !reason.is_empty())
        || headers::get(headers, "KV-Operation") == Some(&b"PURGE"[..])
}

/// One stream on its owner.
pub(super) struct Stream {
    pub account: AccountId,
    pub account_name: String,
    pub name: String,
    /// The stream's directory (file streams only).
    pub dir: Option<PathBuf>,
    pub store: Rc<Store>,
    machine: RefCell<StreamMachine>,
    pub created_ns: Cell<i64>,
    subscriptions: RefCell<Vec<SubId>>,
    /// Tasks running a call on the store; closing waits for them.
    tasks: Cell<usize>,
    tasks_done: LocalNotify,
    closed: Cell<bool>,
    /// Wakes the expiry task early (configuration changed, stream closing).
    expiry_wake: LocalNotify,
    /// Whether this stream has paused the shard's input.
    pausing: Cell<bool>,
    last_timestamp_ns: Cell<i64>,
    write_failure_logged: Cell<bool>,
    /// Expired messages whose delete marker was published, with when (see
    /// [`Stream::expire_with_markers`]).
    marker_pending: RefCell<HashMap<u64, i64>>,
    /// The configuration's subject transform and republish, compiled.
    transforms: RefCell<Transforms>,
    js: Weak<JetStream>,
    /// The stream's consumers (`consumers.rs`), started with the stream.
    pub consumers: super::consumers::Consumers,
}

/// A stream's subject rewrites, compiled from its configuration.
#[derive(Default)]
struct Transforms {
    /// `subject_transform`: applied to every captured subject that matches its source.
    input: Option<SubjectTransform>,
    /// `republish`: where a stored message goes again, if its subject matches the source.
    republish: Option<SubjectTransform>,
}

impl Transforms {
    /// Compiles the transforms of `config`; the meta shard has checked that they compile.
    fn of(config: &StreamConfig) -> Transforms {
        let compile = |source: &str, destination: &str| {
            let source = if source.is_empty() { ">" } else { source };
            SubjectTransform::new(source, destination).ok()
        };
        Transforms {
            input: config
                .subject_transform
                .as_ref()
                .and_then(|transform| compile(&transform.src, &transform.dest)),
            republish: config
                .republish
                .as_ref()
                .and_then(|republish| compile(&republish.src, &republish.dest)),
        }
    }
}

/// The internal subscriber on a stream's subjects.
struct Intake(Rc<Stream>);

impl InternalSubscriber for Intake {
    fn deliver(&self, shard: &Shard, message: &Message) {
        self.0.ingest(shard, message);
    }
}

impl Stream {
    /// Opens (file) or creates (memory) the store of a stream and builds its machine. For a
    /// file stream `dir` holds the metafile and the store.
    pub async fn open(
        js: &Rc<JetStream>,
        account: AccountId,
        account_name: &str,
        entry: &DirectoryEntry,
        dir: Option<PathBuf>,
    ) -> Result<Rc<Stream>, JetStreamError> {
        let limits = store_config(&entry.config);
        let store = match &dir {
            Some(dir) => {
                let options = FileStoreOptions {
                    sync: js.settings.sync,
                    ..FileStoreOptions::default()
                };
                let store = FileStore::open(dir, limits, options).await?;
                Store::File(store)
            }
            None => Store::Memory(MemStore::new(limits)),
        };
        let machine_limits = MachineLimits {
            max_held: js.settings.max_buffered_msgs.max(1),
            ..MachineLimits::default()
        };
        let machine = StreamMachine::new(
            entry.config.clone(),
            &js.settings.domain,
            machine_limits,
            &store,
        );
        let last_timestamp_ns = store.state().last_timestamp_ns;
        let stream = Rc::new(Stream {
            account,
            account_name: account_name.to_owned(),
            name: entry.config.name.clone(),
            dir,
            store: Rc::new(store),
            machine: RefCell::new(machine),
            created_ns: Cell::new(entry.created_ns),
            subscriptions: RefCell::default(),
            tasks: Cell::new(0),
            tasks_done: LocalNotify::default(),
            closed: Cell::new(false),
            expiry_wake: LocalNotify::default(),
            pausing: Cell::new(false),
            last_timestamp_ns: Cell::new(last_timestamp_ns),
            write_failure_logged: Cell::new(false),
            marker_pending: RefCell::new(HashMap::new()),
            transforms: RefCell::new(Transforms::of(&entry.config)),
            js: Rc::downgrade(js),
            consumers: Default::default(),
        });
        stream.recover_dedupe().await;
        Ok(stream)
    }

    /// Subscribes to the stream's subjects and starts its timer: from here on it captures
    /// publishes.
    pub fn start(self: &Rc<Self>, shard: &Rc<Shard>) {
        self.subscribe(shard);
        if let Some(js) = self.js.upgrade() {
            self.consumers.start(self, shard, &js);
        }
        let stream = Rc::clone(self);
        let timer_shard = Rc::clone(shard);
        compio::runtime::spawn(async move { stream.run_timer(timer_shard).await }).detach();
    }

    /// The configuration in force.
    pub fn config(&self) -> StreamConfig {
        self.machine.borrow().config().clone()
    }

    /// Takes the next sequence from the store again after a purge.
    pub fn resync(&self) {
        self.machine.borrow_mut().resync(&*self.store);
    }

    /// Messages the stream holds.
    pub fn store_messages(&self) -> u64 {
        self.store.state().msgs
    }

    /// Bytes the stream holds.
    pub fn bytes(&self) -> u64 {
        self.store.state().bytes
    }

    fn subscribe(self: &Rc<Self>, shard: &Shard) {
        let subjects = self.config().subjects;
        let mut subscriptions = self.subscriptions.borrow_mut();
        for subject in subjects {
            let handler: Rc<dyn InternalSubscriber> = Rc::new(Intake(Rc::clone(self)));
            subscriptions.push(shard.subscribe_internal(
                self.account,
                Bytes::from(subject),
                None,
                handler,
            ));
        }
    }

    fn unsubscribe(&self, shard: &Shard) {
        let subscriptions = std::mem::take(&mut *self.subscriptions.borrow_mut());
        for id in subscriptions {
            shard.unsubscribe_internal(id);
        }
    }

    /// A captured message: decide it and perform what the machine asks for.
    fn ingest(self: &Rc<Self>, shard: &Shard, message: &Message) {
        if self.closed.get() {
            return;
        }
        let header_len = message.header_len.min(message.payload.len());
        let now = now_ns().max(self.last_timestamp_ns.get());
        self.last_timestamp_ns.set(now);
        let (subject, republish_to) = {
            let transforms = self.transforms.borrow();
            // As the Go server: a subject the transform's source does not match is kept.
            let subject = transforms
                .input
                .as_ref()
                .and_then(|transform| transform.apply(&message.subject))
                .unwrap_or_else(|| message.subject.to_vec());
            let republish_to = transforms
                .republish
                .as_ref()
                .and_then(|transform| transform.apply(&subject))
                .filter(|destination| {
                    natrix_jetstream::subject::is_valid_literal_subject(destination)
                })
                .map(|destination| String::from_utf8_lossy(&destination).into_owned());
            (utf8_string(subject), republish_to)
        };
        let publish = Publish {
            subject,
            reply: message
                .reply
                .as_ref()
                .map(|reply| utf8_string(reply.to_vec())),
            headers: message.payload.slice(..header_len),
            payload: message.payload.slice(header_len..),
            now_ns: now,
            republish_to,
        };
        let mut actions = Vec::new();
        self.machine
            .borrow_mut()
            .publish(&*self.store, publish, &mut actions);
        self.perform(shard, actions);
        self.check_busy(shard);
    }

    /// Performs the machine's actions: store calls become tasks, started in this order.
    fn perform(self: &Rc<Self>, shard: &Shard, actions: Vec<Action>) {
        let Some(js) = self.js.upgrade() else {
            return;
        };
        for action in actions {
            match action {
                Action::Store { token, message } => {
                    let stream = Rc::clone(self);
                    let subject = message.subject.clone();
                    self.spawn_task(shard, async move |shard| {
                        let outcome = stream.store.store_msg(message).await;
                        let stored = outcome.as_ref().ok().copied();
                        stream.stored(&shard, token, outcome);
                        if let Some(seq) = stored {
                            stream.consumers.stored(&stream, &shard, seq, &subject);
                        }
                    });
                }
                Action::Purge { request } => {
                    let stream = Rc::clone(self);
                    self.spawn_task(shard, async move |_| {
                        if let Err(error) = stream.store.purge(&request).await {
                            stream.log_store_failure("purge for a rollup", &error);
                        }
                    });
                }
                Action::LoadLast { token, subject } => {
                    let stream = Rc::clone(self);
                    self.spawn_task(shard, async move |shard| {
                        let loaded = stream.store.load_last_msg(&subject).await;
                        stream.loaded(&shard, token, loaded);
                    });
                }
                Action::Republish {
                    subject,
                    headers,
                    payload,
                } => {
                    let message = Message::with_headers(
                        self.account,
                        Bytes::from(subject),
                        None,
                        &headers,
                        &payload,
                    );
                    js.queue_reply(shard, message);
                }
                Action::Reply { subject, payload } => {
                    let message = Message::new(self.account, Bytes::from(subject), None, payload);
                    js.queue_reply(shard, message);
                }
            }
        }
    }

    fn stored(self: &Rc<Self>, shard: &Shard, token: Token, outcome: Result<u64, StoreError>) {
        if let Err(error) = &outcome {
            if !matches!(
                error,
                StoreError::MaxMessages
                    | StoreError::MaxBytes
                    | StoreError::MaxMessagesPerSubject
                    | StoreError::MessageTooLarge { .. }
                    | StoreError::InvalidSubject(_)
            ) {
                self.log_store_failure("store a message", error);
            }
        }
        let mut actions = Vec::new();
        self.machine.borrow_mut().store_completed(
            &*self.store,
            token,
            outcome.as_ref().map(|seq| *seq),
            &mut actions,
        );
        self.perform(shard, actions);
        self.check_busy(shard);
    }

    fn loaded(
        self: &Rc<Self>,
        shard: &Shard,
        token: Token,
        loaded: Result<Option<StoredMessage>, StoreError>,
    ) {
        let message = match loaded {
            Ok(message) => message,
            Err(error) => {
                self.log_store_failure("load a counter", &error);
                None
            }
        };
        let mut actions = Vec::new();
        self.machine
            .borrow_mut()
            .loaded(&*self.store, token, message.as_ref(), &mut actions);
        self.perform(shard, actions);
        self.check_busy(shard);
    }

    /// Pauses the shard's input while the machine cannot take more, resumes it after.
    fn check_busy(&self, shard: &Shard) {
        let busy = self.machine.borrow().is_busy() && !self.closed.get();
        if busy && !self.pausing.replace(true) {
            shard.pause_input();
        } else if !busy && self.pausing.replace(false) {
            shard.resume_input();
        }
    }

    /// Runs `task` on the shard's runtime, counted so that closing can wait for it.
    pub fn spawn_task<F>(self: &Rc<Self>, shard: &Shard, task: F)
    where
        F: AsyncFnOnce(Rc<Shard>) + 'static,
    {
        let Some(shard) = shard.handle() else {
            return;
        };
        self.tasks.set(self.tasks.get() + 1);
        let stream = Rc::clone(self);
        compio::runtime::spawn(async move {
            task(shard).await;
            stream.tasks.set(stream.tasks.get() - 1);
            if stream.tasks.get() == 0 {
                stream.tasks_done.notify();
            }
        })
        .detach();
    }

    /// Replaces the configuration: the store's limits first (they may remove messages),
    /// then the metafile, the machine and the subscriptions.
    pub async fn update(
        self: &Rc<Self>,
        shard: &Rc<Shard>,
        config: StreamConfig,
    ) -> Result<(), JetStreamError> {
        self.store.update_config(store_config(&config)).await?;
        let entry = DirectoryEntry {
            config: config.clone(),
            created_ns: self.created_ns.get(),
        };
        if let Some(dir) = &self.dir {
            super::files::write_meta(dir, &entry).await?;
        }
        let subjects_changed = self.config().subjects != config.subjects;
        *self.transforms.borrow_mut() = Transforms::of(&config);
        self.consumers.set_stream_config(config.clone());
        self.machine.borrow_mut().set_config(config);
        if subjects_changed && !self.closed.get() {
            self.unsubscribe(shard);
            self.subscribe(shard);
        }
        self.expiry_wake.notify();
        Ok(())
    }

    /// Stops capturing, waits for every task on the store, and hands the store back (it is
    /// dropped when other references remain).
    pub async fn close(self: Rc<Self>, shard: &Shard) -> Option<Store> {
        self.consumers.close(&self, shard);
        self.closed.set(true);
        self.unsubscribe(shard);
        if self.pausing.replace(false) {
            shard.resume_input();
        }
        self.expiry_wake.notify();
        while self.tasks.get() > 0 {
            self.tasks_done.notified().await;
        }
        let store = Rc::clone(&self.store);
        drop(self);
        // Let the timer task see `closed` and drop its reference.
        crate::local_sync::yield_now().await;
        Rc::try_unwrap(store).ok()
    }

    /// Removes messages past their age or TTL and prunes the dedupe window, on a timer.
    async fn run_timer(self: Rc<Self>, shard: Rc<Shard>) {
        loop {
            if self.closed.get() {
                return;
            }
            let pause = self.next_expiry_check();
            let _ = compio::time::timeout(pause, self.expiry_wake.notified()).await;
            if self.closed.get() {
                return;
            }
            let now = now_ns();
            self.machine.borrow_mut().tick(now);
            let config = self.config();
            if config.max_age > 0 || config.allow_msg_ttl {
                self.tasks.set(self.tasks.get() + 1);
                let result = if config.subject_delete_marker_ttl > 0 {
                    self.expire_with_markers(&shard, &config, now).await
                } else {
                    self.store.expire(now).await.map(|_| ())
                };
                self.tasks.set(self.tasks.get() - 1);
                if self.tasks.get() == 0 {
                    self.tasks_done.notify();
                }
                if let Err(error) = result {
                    self.log_store_failure("expire messages", &error);
                }
            }
        }
    }

    /// Expiry with `subject_delete_marker_ttl` (Go's `expireMsgs` with SDM): an expired
    /// message that is the last of its subject, and not a marker itself, is replaced by a
    /// delete marker published into the stream (`Nats-Marker-Reason: MaxAge`, the marker TTL,
    /// and a subject rollup that removes the message), so that watchers learn the key is gone;
    /// every other expired message is removed. A message whose marker is on its way is not
    /// marked again for two seconds, as in the Go server.
    async fn expire_with_markers(
        self: &Rc<Self>,
        shard: &Shard,
        config: &StreamConfig,
        now: i64,
    ) -> Result<(), StoreError> {
        let expired = self.store.expired(now);
        self.marker_pending
            .borrow_mut()
            .retain(|_, since| now.saturating_sub(*since) < MARKER_RETRY_NS);
        let mut removing: HashMap<String, u64> = HashMap::new();
        for seq in expired {
            if self.closed.get() {
                break;
            }
            if self.marker_pending.borrow().contains_key(&seq) {
                continue;
            }
            let Some(message) = self.store.load_msg(seq).await? else {
                continue;
            };
            let kept = self
                .store
                .subjects_totals(&message.subject)
                .get(&message.subject)
                .copied()
                .unwrap_or(0);
            let removed_before = removing.entry(message.subject.clone()).or_default();
            let last = kept.saturating_sub(*removed_before) == 1;
            if last && !is_subject_delete_marker(&message.headers) {
                self.marker_pending.borrow_mut().insert(seq, now);
                self.publish_delete_marker(shard, config, message.subject);
            } else {
                *removed_before += 1;
                self.store.remove_msg(seq).await?;
            }
        }
        Ok(())
    }

    /// Publishes a subject delete marker into the stream as the Go server's store callback
    /// does: through the stream's own publish path (sequence, rollup, consumers,
    /// republish), without the input subject transform and without a reply.
    fn publish_delete_marker(
        self: &Rc<Self>,
        shard: &Shard,
        config: &StreamConfig,
        subject: String,
    ) {
        let ttl = natrix_jetstream::time::go_duration_string(
            config.subject_delete_marker_ttl / 1_000_000_000 * 1_000_000_000,
        );
        let headers = format!(
            "NATS/1.0\r\nNats-Marker-Reason: MaxAge\r\nNats-TTL: {ttl}\r\nNats-Rollup: sub\r\n\r\n"
        );
        let republish_to = self
            .transforms
            .borrow()
            .republish
            .as_ref()
            .and_then(|transform| transform.apply(subject.as_bytes()))
            .filter(|destination| natrix_jetstream::subject::is_valid_literal_subject(destination))
            .map(|destination| String::from_utf8_lossy(&destination).into_owned());
        let now = now_ns().max(self.last_timestamp_ns.get());
        self.last_timestamp_ns.set(now);
        let publish = Publish {
            subject,
            reply: None,
            headers: Bytes::from(headers),
            payload: Bytes::new(),
            now_ns: now,
            republish_to,
        };
        let mut actions = Vec::new();
        self.machine
            .borrow_mut()
            .publish(&*self.store, publish, &mut actions);
        self.perform(shard, actions);
    }

    /// When to look for expired messages next: when the oldest message reaches `max_age`,
    /// at most a second from now (the dedupe window is pruned then too); every 100 ms when
    /// messages may carry their own TTL.
    fn next_expiry_check(&self) -> Duration {
        let config = self.config();
        let mut pause = Duration::from_secs(1);
        if config.allow_msg_ttl {
            pause = Duration::from_millis(100);
        }
        if config.max_age > 0 {
            let state = self.store.state();
            let due = if state.msgs == 0 {
                config.max_age
            } else {
                state
                    .first_timestamp_ns
                    .saturating_add(config.max_age)
                    .saturating_sub(now_ns())
            };
            let due = Duration::from_nanos(u64::try_from(due).unwrap_or(0));
            pause = pause.min(due.max(Duration::from_millis(10)));
        }
        pause
    }

    /// Rebuilds the dedupe window from the messages of the last `duplicate_window`, as the
    /// Go server does at start, loading at most [`DEDUPE_RECOVERY_MAX`] messages.
    async fn recover_dedupe(&self) {
        let window = self.config().duplicate_window;
        let state = self.store.state();
        if window <= 0 || state.msgs == 0 {
            return;
        }
        let since = now_ns().saturating_sub(window);
        let start = match seq_from_time(&self.store, since).await {
            Ok(seq) => seq.max(state.last_seq.saturating_sub(DEDUPE_RECOVERY_MAX)),
            Err(_) => return,
        };
        let mut seq = start;
        while seq <= state.last_seq {
            let Ok(Some(message)) = self.store.load_next_msg("", seq).await else {
                break;
            };
            self.machine.borrow_mut().recover_message(
                &message.headers,
                message.seq,
                message.timestamp_ns,
            );
            seq = message.seq + 1;
        }
    }

    fn log_store_failure(&self, operation: &str, error: &StoreError) {
        if !self.write_failure_logged.replace(true) {
            tracing::error!(
                "JetStream failed to {operation} on stream '{} > {}': {error}",
                self.account_name,
                self.name
            );
        }
    }
}

/// `bytes` as a string, without a second copy when they are valid UTF-8 (the common case).
fn utf8_string(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes)
        .unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned())
}

/// Go's `GetSeqFromTime`: the first sequence stored at or after `time_ns` (the last
/// sequence + 1 when none), found by binary search over the kept messages.
pub(super) async fn seq_from_time(store: &Store, time_ns: i64) -> Result<u64, StoreError> {
    let state = store.state();
    if state.msgs == 0 {
        return Ok(state.last_seq + 1);
    }
    let (mut low, mut high) = (state.first_seq, state.last_seq + 1);
    while low < high {
        let middle = low + (high - low) / 2;
        match store.load_next_msg("", middle).await? {
            Some(message) if message.timestamp_ns >= time_ns => high = middle,
            Some(message) => low = message.seq + 1,
            None => high = middle,
        }
    }
    match store.load_next_msg("", low).await? {
        Some(message) => Ok(message.seq),
        None => Ok(state.last_seq + 1),
    }
}
