//! One consumer's state (Go's `consumer` struct, its fields named after Go's where they hold
//! the same thing), its creation and recovery, the start position, and what `CONSUMER.INFO`
//! reports. Delivery, acks, pull requests and persistence are the other modules' `impl`
//! blocks on [`Consumer`].

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::rc::Rc;

use bytes::Bytes;
use natrix_storage::{StoredMessage, StreamStore};
use serde::Serialize;

use super::config::{parse_sample_frequency, DEFAULT_EPHEMERAL_INACTIVE_THRESHOLD_NS};
use super::ids::IdGenerator;
use super::pull::WaitQueue;
use super::set::ConsumerSetOptions;
use super::wire::AckSubjects;
use super::{Action, Context, Outgoing, Token};
use crate::api::{
    event_subject, ConsumerConfig, ConsumerInfo, DeliverPolicy, PriorityGroupState, PriorityPolicy,
    ReplayPolicy, SequenceInfo, StreamConfig, TypedEvent,
};
use crate::subject::{filter_matches, is_subset_match};
use crate::time::Timestamp;

/// Flow control's window (Go's `JsFlowControlMaxPending`, 32 MiB); delivery starts with a
/// sixteenth of it and doubles on each reply.
pub(crate) const FLOW_CONTROL_MAX_PENDING: i64 = 32 * 1024 * 1024;
/// Added to every ack wait before the timer fires, so that bursts expire together
/// (Go's `ackWaitDelay`).
pub(crate) const ACK_WAIT_DELAY_NS: i64 = 1_000_000;
pub(crate) const MILLISECOND_NS: i64 = 1_000_000;
pub(crate) const SECOND_NS: i64 = 1_000_000_000;

/// What the consumer events of one call share: the context, the set's common state, and the
/// actions being produced.
pub(crate) struct Env<'e, 'c, S: StreamStore> {
    pub cx: &'e Context<'c, S>,
    pub shared: &'e mut Shared,
    pub actions: &'e mut Vec<Action>,
}

impl<S: StreamStore> Env<'_, '_, S> {
    pub fn now(&self) -> i64 {
        self.cx.now_ns
    }

    pub fn publish(
        &mut self,
        subject: &str,
        reply: Option<String>,
        headers: Bytes,
        payload: Bytes,
    ) {
        self.actions.push(Action::Publish(Outgoing {
            subject: subject.to_owned(),
            reply,
            headers,
            payload,
            shown_subject: None,
        }));
    }

    /// Delivers a stream message: routed on `subject` (the deliver subject or the pull
    /// request's reply), shown with the message's own subject `shown`.
    pub fn deliver(
        &mut self,
        subject: &str,
        shown: &str,
        reply: String,
        headers: Bytes,
        payload: Bytes,
    ) {
        self.actions.push(Action::Publish(Outgoing {
            subject: subject.to_owned(),
            reply: Some(reply),
            headers,
            payload,
            shown_subject: Some(shown.to_owned()),
        }));
    }

    /// A status message (headers only) to `subject`.
    pub fn status(&mut self, subject: &str, headers: Bytes) {
        self.publish(subject, None, headers, Bytes::new());
    }

    pub fn token(&mut self) -> Token {
        self.shared.next_token += 1;
        Token(self.shared.next_token)
    }

    /// Publishes an event to `<prefix>.<stream>.<consumer>` if anyone listens (Go's
    /// `sendAdvisory` checks interest before it encodes).
    pub fn event<T: Serialize>(
        &mut self,
        prefix: &str,
        stream: &str,
        consumer: &str,
        kind: &str,
        build: impl FnOnce(TypedEvent) -> T,
    ) {
        let subject = event_subject(prefix, stream, consumer);
        if !self.cx.interest.has_interest(&subject) {
            return;
        }
        let event = TypedEvent {
            kind: kind.to_owned(),
            id: self.shared.ids.nuid(),
            timestamp: Timestamp::from_unix_nanos(self.cx.now_ns),
        };
        let payload = crate::json::to_vec(&build(event));
        self.publish(&subject, None, Bytes::new(), Bytes::from(payload));
    }
}

/// What every consumer of the set shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub options: ConsumerSetOptions,
    pub stream: StreamConfig,
    pub ids: IdGenerator,
    pub next_token: u64,
    /// Sequences acknowledged for interest and work-queue retention, decided by the set
    /// after the event.
    pub retention_acks: Vec<RetentionAck>,
    /// Consumers that asked to be deleted (inactivity) during the event.
    pub inactive: Vec<String>,
    /// Consumers whose start-by-time search finished during the event (their create
    /// replies are due).
    pub finished_searches: Vec<String>,
}

/// A sequence a consumer acknowledged (or needs no more), for the retention decision.
#[derive(Debug, Clone)]
pub(crate) struct RetentionAck {
    pub consumer: String,
    pub seq: u64,
    pub subject: Option<Rc<str>>,
}

/// A delivered, unacknowledged message (Go's `Pending`, plus its subject when known, which
/// retention decisions use).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pending {
    pub consumer_seq: u64,
    pub timestamp_ns: i64,
    pub subject: Option<Rc<str>>,
}

/// A loaded message waiting to be delivered (replay pace, rate limit, a push consumer
/// without interest or stalled on flow control).
#[derive(Debug, Clone)]
pub(crate) struct Staged {
    pub message: StoredMessage,
    pub delivery_count: u64,
    pub origin: LoadKind,
}

/// Why a load was made, to undo or finish it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LoadKind {
    /// Redeliveries from the redelivery queue.
    Redelivery,
    /// The first messages of each subject (deliver last per subject).
    SkipList,
    /// The next new messages from the cursor.
    New,
    /// A step of the search for the first message at or after `opt_start_time`.
    StartTime,
}

/// The load in flight.
#[derive(Debug, Clone)]
pub(crate) struct InFlightLoad {
    pub token: Token,
    pub generation: u64,
    pub kind: LoadKind,
    /// Redeliveries: the sequences and delivery counts asked for. Skip list: the sequences.
    pub seqs: Vec<(u64, u64)>,
    /// New: how many were asked for.
    pub max_messages: usize,
}

/// `deliver_policy: last_per_subject`'s list of the last message of each subject (Go's
/// `lastSeqSkipList`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SkipList {
    pub resume: u64,
    pub seqs: VecDeque<u64>,
}

/// The binary search for the first message at or after `opt_start_time`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StartTimeSearch {
    pub mid: u64,
    pub low: u64,
    pub high: u64,
    pub target_ns: i64,
    pub found: Option<(u64, u64)>,
    /// The create reply waiting for the search.
    pub reply: Option<String>,
}

/// A push consumer's send rate limit: a token bucket of bytes (Go's `rate.Limiter`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RateLimit {
    pub bytes_per_second: f64,
    pub burst: f64,
    pub tokens: f64,
    pub updated_ns: i64,
}

/// The pin of a pinned-client priority group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Pin {
    pub id: String,
    pub since_ns: i64,
    pub expires_at: Option<i64>,
}

/// Batched persistence of the state record.
#[derive(Debug, Clone, Default)]
pub(crate) struct Persistence {
    /// The state changed since the last save was started.
    pub dirty: bool,
    /// When the next save may start.
    pub next_save_at: i64,
    /// The save in flight.
    pub in_flight: Option<Token>,
    /// Replies (subject, payload) waiting for the next save to start.
    pub replies_waiting: Vec<(String, Bytes)>,
    /// Replies waiting for the save in flight to complete.
    pub replies_in_flight: Vec<(String, Bytes)>,
    /// No save starts before this (after a failed save).
    pub backoff_until: i64,
    /// No state is kept (direct consumers): replies leave at once.
    pub disabled: bool,
}

/// One consumer.
#[derive(Debug)]
pub(crate) struct Consumer {
    pub name: String,
    pub stream: String,
    pub created_ns: i64,
    pub config: ConsumerConfig,
    pub filters: Vec<String>,
    pub ack_subjects: AckSubjects,

    /// Next stream sequence to look at.
    pub sseq: u64,
    /// Next consumer sequence to deliver.
    pub dseq: u64,
    /// Ack floor, consumer sequence.
    pub adflr: u64,
    /// Ack floor, stream sequence.
    pub asflr: u64,
    pub pending: BTreeMap<u64, Pending>,
    /// Redelivery counts by stream sequence (Go's `rdc`).
    pub rdc: BTreeMap<u64, u64>,
    /// The redelivery queue (Go's `rdq`, with `rdqi` as a set).
    pub rdq: VecDeque<u64>,
    pub rdqi: HashSet<u64>,
    /// Messages pending (Go's `npc`), and the stream sequence it counts up to (`npf`).
    pub npc: i64,
    pub npf: u64,
    pub lss: Option<SkipList>,
    pub maxp: i64,
    pub maxdc: u64,

    pub waiting: Option<WaitQueue>,
    /// When the waiting queue was last checked for expired requests because it was full.
    pub lwqic: i64,
    /// Push: the deliver subject has subscribers.
    pub active: bool,
    pub dsubj: String,

    pub pbytes: i64,
    pub maxpb: i64,
    pub pblimit: i64,
    pub fcsz: i64,
    pub fcid: String,

    /// When redeliveries are next checked (Go's `ptmr`).
    pub ptmr_at: Option<i64>,
    /// When the consumer is next checked for inactivity (Go's `dtmr`).
    pub dtmr_at: Option<i64>,
    pub dthresh: i64,
    /// When a push consumer's idle heartbeat is due.
    pub hb_at: Option<i64>,
    /// When the waiting pull requests next expire or need a heartbeat.
    pub waiting_at: Option<i64>,
    /// When a pause ends (its advisory and the restart of delivery).
    pub unpause_at: Option<i64>,
    pub pin: Pin,

    pub replay: bool,
    pub replay_until_seq: u64,
    pub lts: i64,
    pub gate_until: Option<i64>,
    pub rate: Option<RateLimit>,
    pub staged: VecDeque<Staged>,
    pub load: Option<InFlightLoad>,
    pub load_retry_at: Option<i64>,
    pub generation: u64,
    pub stored_during_load: bool,
    /// The cursor at which the last load of new messages found the end of the stream.
    pub eof_seq: Option<u64>,
    pub start_search: Option<StartTimeSearch>,
    /// The create reply of a consumer whose search just finished.
    pub search_reply: Option<String>,
    /// Where `by_start_time` placed the cursor (resets may not go below it).
    pub start_time_seq: u64,

    /// Last delivery and last ack (Go's `ldt`, `lat`).
    pub ldt: Option<i64>,
    pub lat: Option<i64>,
    pub sfreq: i64,
    pub persistence: Persistence,
    pub closed: bool,
}

impl Consumer {
    /// A consumer with a checked configuration, its cursor not placed yet.
    pub fn new(
        name: &str,
        config: ConsumerConfig,
        created_ns: i64,
        options: &ConsumerSetOptions,
        stream: &StreamConfig,
        ids: &mut IdGenerator,
    ) -> Consumer {
        let filters = config.filters();
        let ack_subjects = AckSubjects::new(&options.ack_format, &stream.name, name);
        let sfreq = if config.sample_frequency.is_empty() {
            0
        } else {
            parse_sample_frequency(&config.sample_frequency).unwrap_or(0)
        };
        let waiting = (!config.is_push())
            .then(|| WaitQueue::new(usize::try_from(config.max_waiting).unwrap_or(0)));
        let mut consumer = Consumer {
            name: name.to_owned(),
            stream: stream.name.clone(),
            created_ns,
            maxp: config.max_ack_pending,
            maxdc: u64::try_from(config.max_deliver.max(0)).unwrap_or(0),
            dsubj: config.deliver_subject.clone(),
            filters,
            ack_subjects,
            sseq: 0,
            dseq: 1,
            adflr: 0,
            asflr: 0,
            pending: BTreeMap::new(),
            rdc: BTreeMap::new(),
            rdq: VecDeque::new(),
            rdqi: HashSet::new(),
            npc: 0,
            npf: 0,
            lss: None,
            waiting,
            lwqic: 0,
            active: false,
            pbytes: 0,
            maxpb: 0,
            pblimit: 0,
            fcsz: 0,
            fcid: String::new(),
            ptmr_at: None,
            dtmr_at: None,
            dthresh: 0,
            hb_at: None,
            waiting_at: None,
            unpause_at: None,
            pin: Pin::default(),
            replay: config.replay_policy != ReplayPolicy::Instant,
            replay_until_seq: 0,
            lts: 0,
            gate_until: None,
            rate: None,
            staged: VecDeque::new(),
            load: None,
            load_retry_at: None,
            generation: 0,
            stored_during_load: false,
            eof_seq: None,
            start_search: None,
            search_reply: None,
            start_time_seq: 0,
            ldt: None,
            lat: None,
            sfreq,
            // Go keeps the state of direct and `mem_storage` consumers in memory only.
            persistence: Persistence {
                disabled: config.direct || config.memory_storage,
                ..Persistence::default()
            },
            closed: false,
            config,
        };
        if consumer.config.flow_control {
            consumer.set_max_pending_bytes(FLOW_CONTROL_MAX_PENDING);
        }
        consumer.update_inactive_threshold(ids);
        consumer.set_rate_limit(stream, options, created_ns);
        consumer
    }

    pub fn is_push(&self) -> bool {
        self.config.is_push()
    }

    pub fn is_pull(&self) -> bool {
        !self.config.is_push()
    }

    /// Go's `setMaxPendingBytes`.
    pub fn set_max_pending_bytes(&mut self, limit: i64) {
        self.pblimit = limit;
        self.maxpb = (limit / 16).max(1);
    }

    /// Go's `updateInactiveThreshold`: ephemerals always have one (5 s plus up to a second of
    /// jitter); pull consumers get jitter too.
    pub fn update_inactive_threshold(&mut self, ids: &mut IdGenerator) {
        let jitter =
            |ids: &mut IdGenerator| 100 * MILLISECOND_NS + ids.below(900) as i64 * MILLISECOND_NS;
        if !self.config.is_durable() && self.config.inactive_threshold <= 0 {
            self.dthresh = DEFAULT_EPHEMERAL_INACTIVE_THRESHOLD_NS + jitter(ids);
            self.config.inactive_threshold = DEFAULT_EPHEMERAL_INACTIVE_THRESHOLD_NS;
        } else if self.config.inactive_threshold > 0 {
            self.dthresh = if self.is_pull() {
                self.config.inactive_threshold.saturating_add(jitter(ids))
            } else {
                self.config.inactive_threshold
            };
        } else {
            self.dthresh = 0;
        }
    }

    /// Go's `setRateLimit`: bits per second become bytes, the burst is the largest message
    /// the stream allows (or the server's max payload).
    pub fn set_rate_limit(
        &mut self,
        stream: &StreamConfig,
        options: &ConsumerSetOptions,
        now_ns: i64,
    ) {
        if self.config.rate_limit == 0 {
            self.rate = None;
            return;
        }
        let burst = if stream.max_msg_size > 0 {
            f64::from(stream.max_msg_size)
        } else {
            options.max_payload as f64
        };
        self.rate = Some(RateLimit {
            bytes_per_second: (self.config.rate_limit / 8) as f64,
            burst,
            tokens: burst,
            updated_ns: now_ns,
        });
    }

    /// Whether `subject` passes the filters (Go's `isFilteredMatch`).
    pub fn matches(&self, subject: &str) -> bool {
        self.filters.is_empty()
            || self
                .filters
                .iter()
                .any(|filter| filter_matches(filter.as_bytes(), subject.as_bytes()))
    }

    /// Whether every subject of `subject` (a purge's filter) passes one of the filters
    /// (Go's `isFilteredMatch` given a filter).
    pub fn filters_cover(&self, subject: &str) -> bool {
        self.filters.is_empty()
            || self
                .filters
                .iter()
                .any(|filter| is_subset_match(subject.as_bytes(), filter.as_bytes()))
    }

    /// Whether a filter is `subject` or inside it (Go's `isEqualOrSubsetMatch`).
    pub fn filters_within(&self, subject: &str) -> bool {
        self.filters
            .iter()
            .any(|filter| is_subset_match(filter.as_bytes(), subject.as_bytes()))
    }

    /// Whether the filters select less than the whole stream (Go's `isFiltered`: a single
    /// filter equal to the stream's single subject, or filters equal to its subjects, do
    /// not count).
    pub fn is_filtered(&self, stream: &StreamConfig) -> bool {
        if self.filters.is_empty() {
            return false;
        }
        if stream.subjects.len() != self.filters.len() {
            return true;
        }
        !stream
            .subjects
            .iter()
            .all(|subject| self.filters.contains(subject))
    }

    /// Whether delivery is paused at `now`.
    pub fn is_paused(&self, now_ns: i64) -> bool {
        self.config
            .pause_until
            .and_then(Timestamp::unix_nanos)
            .is_some_and(|until| now_ns < until)
    }

    /// Places the cursor where the deliver policy says (Go's `selectStartingSeqNo`). Starts
    /// the search by time when the answer is not at either end of the stream; returns the
    /// load to make then.
    pub fn select_starting_seq<S: StreamStore>(&mut self, env: &mut Env<'_, '_, S>) {
        let state = env.cx.store.state();
        let store = env.cx.store;
        if self.config.opt_start_seq == 0 {
            match self.config.deliver_policy {
                DeliverPolicy::All => self.sseq = state.first_seq,
                DeliverPolicy::Last => {
                    if self.filters.is_empty() {
                        self.sseq = state.last_seq;
                    } else {
                        for filter in &self.filters {
                            let filtered = store.filtered_state(filter, 1);
                            self.sseq = self.sseq.max(filtered.last);
                        }
                    }
                }
                DeliverPolicy::LastPerSubject => {
                    if env.shared.stream.max_msgs_per_subject == 1 {
                        self.sseq = state.first_seq;
                    } else {
                        let mut seqs: Vec<u64> = self
                            .filters
                            .iter()
                            .flat_map(|filter| store.subjects_state(filter).into_values())
                            .map(|subject| subject.last)
                            .filter(|seq| *seq > 0)
                            .collect();
                        seqs.sort_unstable();
                        seqs.dedup();
                        self.sseq = seqs.first().copied().unwrap_or(state.last_seq);
                        self.lss = Some(SkipList {
                            resume: state.last_seq,
                            seqs: seqs.into(),
                        });
                    }
                }
                DeliverPolicy::ByStartTime => {
                    let target = self
                        .config
                        .opt_start_time
                        .and_then(Timestamp::unix_nanos)
                        .unwrap_or(i64::MIN);
                    if state.msgs == 0 || target <= state.first_timestamp_ns {
                        self.sseq = state.first_seq;
                    } else if target > state.last_timestamp_ns {
                        self.sseq = state.last_seq + 1;
                    } else {
                        // Somewhere inside: found by a binary search over loads, after
                        // which the cursor is placed and the create answered.
                        self.start_search = Some(StartTimeSearch {
                            mid: state.first_seq,
                            low: state.first_seq,
                            high: state.last_seq + 1,
                            target_ns: target,
                            found: None,
                            reply: None,
                        });
                        return;
                    }
                    self.skip_to_first_filtered_match(store);
                }
                DeliverPolicy::New | DeliverPolicy::ByStartSequence => {
                    self.sseq = state.last_seq + 1;
                }
            }
        } else {
            self.sseq = self.config.opt_start_seq;
        }
        self.clamp_start(&state);
    }

    /// After a start by time, skip ahead to the first message the filters select (Go closes
    /// the gap so that delivery does not walk the sequences between).
    pub fn skip_to_first_filtered_match<S: StreamStore>(&mut self, store: &S) {
        if self.filters.is_empty() {
            return;
        }
        let state = store.state();
        let mut next = state.last_seq;
        for filter in &self.filters {
            let filtered = store.filtered_state(filter, state.first_seq);
            if filtered.first >= self.sseq && filtered.first < next {
                next = filtered.first;
            }
        }
        if next > self.sseq && next < state.last_seq {
            self.sseq = next;
        }
    }

    /// The end of Go's `selectStartingSeqNo`: clamps the cursor into the stream and sets the
    /// floors below it.
    pub fn clamp_start(&mut self, state: &natrix_storage::StreamState) {
        let unset_start = self.config.opt_start_seq == 0 || self.config.direct;
        if state.msgs == 0 && state.last_seq == 0 && unset_start {
            self.sseq = 1;
        } else if self.sseq > state.last_seq && unset_start {
            self.sseq = state.last_seq + 1;
        } else if self.sseq < state.first_seq {
            self.sseq = state.first_seq;
        }
        self.sseq = self.sseq.max(1);
        self.dseq = 1;
        self.adflr = 0;
        self.asflr = self.sseq - 1;
    }

    /// Messages pending from the cursor, counted on the store (Go's `calculateNumPending`),
    /// and the stream's last sequence at that moment.
    pub fn calculate_num_pending<S: StreamStore>(&self, store: &S) -> (u64, u64) {
        let last_seq = store.state().last_seq;
        let from = self.first_undelivered_seq();
        let last_per_subject = self.config.deliver_policy == DeliverPolicy::LastPerSubject;
        let all = [String::new()];
        let filters: &[String] = if self.filters.is_empty() {
            &all
        } else {
            &self.filters
        };
        let count = filters
            .iter()
            .map(|filter| {
                if last_per_subject {
                    store
                        .subjects_state(filter)
                        .values()
                        .filter(|subject| subject.last >= from)
                        .count() as u64
                } else {
                    store.filtered_state(filter, from).msgs
                }
            })
            .sum();
        (count, last_seq)
    }

    /// The lowest stream sequence not delivered yet: the cursor, or the first new message
    /// loaded and waiting to go out.
    pub fn first_undelivered_seq(&self) -> u64 {
        self.staged
            .iter()
            .find(|staged| staged.origin != LoadKind::Redelivery)
            .map_or(self.sseq, |staged| staged.message.seq.min(self.sseq))
    }

    /// Resets the pending count from the store (Go's `streamNumPending`).
    pub fn stream_num_pending<S: StreamStore>(&mut self, store: &S) {
        let (count, last_seq) = self.calculate_num_pending(store);
        self.npc = i64::try_from(count).unwrap_or(i64::MAX);
        self.npf = last_seq;
    }

    /// Go's `numPending`.
    pub fn num_pending(&self) -> u64 {
        u64::try_from(self.npc).unwrap_or(0)
    }

    /// Go's `checkNumPending`: the running count, kept within what the stream can hold.
    pub fn checked_num_pending<S: StreamStore>(&mut self, store: &S) -> u64 {
        let state = store.state();
        if self.sseq > state.last_seq {
            self.npc = self.staged_new_count() as i64;
        } else if self.npc > 0 {
            let bound = state.msgs.min(state.last_seq - self.sseq + 1) + self.staged_new_count();
            self.npc = self.npc.min(i64::try_from(bound).unwrap_or(i64::MAX));
        }
        self.num_pending()
    }

    fn staged_new_count(&self) -> u64 {
        self.staged
            .iter()
            .filter(|staged| staged.origin != LoadKind::Redelivery)
            .count() as u64
    }

    /// The consumer's information (Go's `info`), with the pending count recounted on the
    /// store. `config` is what the reply shows (the caller adds the dynamic metadata).
    pub fn info<S: StreamStore>(
        &mut self,
        store: &S,
        config: ConsumerConfig,
        now_ns: i64,
    ) -> ConsumerInfo {
        self.stream_num_pending(store);
        let mut info = ConsumerInfo {
            stream: self.stream.clone(),
            name: self.name.clone(),
            created: Timestamp::from_unix_nanos(self.created_ns),
            config: Some(config),
            delivered: SequenceInfo {
                consumer: self.dseq.max(1) - 1,
                stream: self.delivered_stream_seq(),
                last: self.ldt.map(Timestamp::from_unix_nanos),
            },
            ack_floor: SequenceInfo {
                consumer: self.adflr,
                stream: self.asflr,
                last: self.lat.map(Timestamp::from_unix_nanos),
            },
            num_ack_pending: self.pending.len() as u64,
            num_redelivered: self.rdc.len() as u64,
            num_waiting: self.waiting.as_ref().map_or(0, |queue| queue.len() as u64),
            num_pending: self.num_pending(),
            cluster: None,
            push_bound: self.is_push() && self.active,
            paused: false,
            pause_remaining: 0,
            ts: Timestamp::from_unix_nanos(now_ns),
            priority_groups: Vec::new(),
        };
        // Redeliveries are disabled with max_deliver 1, so Go does not report them.
        if self.config.max_deliver == 1 {
            info.num_redelivered = 0;
        }
        if let Some(until) = self.config.pause_until.and_then(Timestamp::unix_nanos) {
            if now_ns < until {
                info.paused = true;
                info.pause_remaining = until.saturating_sub(now_ns);
            }
        }
        if let Some(group) = self.config.priority_groups.first() {
            info.priority_groups.push(PriorityGroupState {
                group: group.clone(),
                pinned_client_id: self.pin.id.clone(),
                pinned_ts: if self.pin.id.is_empty() {
                    Timestamp::ZERO
                } else {
                    Timestamp::from_unix_nanos(self.pin.since_ns)
                },
            });
        }
        info
    }

    /// The last delivered stream sequence as info reports it: the cursor minus one, less the
    /// new messages loaded but not delivered yet.
    pub fn delivered_stream_seq(&self) -> u64 {
        self.first_undelivered_seq().max(1) - 1
    }

    /// Go's `ackWait`: the wait before a redelivery check, with the burst delay.
    pub fn ack_wait(&self, next_ns: i64) -> i64 {
        if next_ns > 0 {
            next_ns.saturating_add(ACK_WAIT_DELAY_NS)
        } else {
            self.config.ack_wait.saturating_add(ACK_WAIT_DELAY_NS)
        }
    }

    /// The backoff wait for a message delivered `rdc + 1` times, or the ack wait.
    pub fn redelivery_wait(&self, seq: u64) -> i64 {
        let backoff = &self.config.backoff;
        if backoff.is_empty() {
            return self.ack_wait(0);
        }
        let index = usize::try_from(self.rdc.get(&seq).copied().unwrap_or(0))
            .unwrap_or(usize::MAX)
            .min(backoff.len() - 1);
        self.ack_wait(backoff[index])
    }

    /// Whether the priority policy is `pinned_client`.
    pub fn is_pinned_policy(&self) -> bool {
        self.config.priority_policy == PriorityPolicy::PinnedClient
    }

    /// The earliest time this consumer needs a tick.
    pub fn next_deadline(&self) -> Option<i64> {
        [
            self.ptmr_at,
            self.dtmr_at,
            self.hb_at,
            self.waiting_at,
            self.unpause_at,
            self.pin.expires_at,
            self.gate_until,
            self.load_retry_at,
            self.save_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}
