//! One shard: the state a core owns, and how a message is routed through it.
//!
//! A shard owns its connections, their subscriptions, its slice of the subject index, its view
//! of the interest summary and its outboxes to other shards. Every field is plain owned data
//! behind `Cell`/`RefCell`, touched only by this shard's thread; borrows never span an
//! `.await`.
//!
//! Modules, in the order a message meets them:
//! - [`routing`]: a publication is matched against the local index (client subscribers get a
//!   copy at once) and the interest summary (one handoff per other interested shard, one
//!   member picked per queue group server-wide), across accounts through mappings and links.
//! - [`outbox`]: at the end of a read batch the handoffs get their bytes and go to the
//!   outboxes and over the mesh; a full queue stops the publisher from reading.
//! - [`delivery`]: a message reaches a subscriber: MSG bytes in a client's outbound buffer,
//!   or a [`Message`] for an internal subscriber; slow consumers are cut.
//! - [`subscriptions`]: subscriptions come and go; the interest summary and barriers follow.
//! - [`internal`]: subscribers and publishers owned by the shard itself (JetStream, routes).
//! - [`transmission`]: what crosses between shards, grouped by subsystem.
//! - [`snapshot`]: the monitoring view, copied out on request.
//!
//! The connection's own tasks (`conn`), the protocol they speak (`session`) and the shard's
//! lifecycle (`lifecycle`) sit above this module and call into it; nothing here calls them.

pub mod delivery;
pub mod internal;
pub mod outbox;
pub mod routing;
pub mod snapshot;
pub mod subscriptions;
pub mod transmission;

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::{Rc, Weak};
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use ahash::AHashMap;
use bytes::Bytes;
use slab::Slab;

use crate::client::Client;
use crate::config::{Configuration, ShardConfig};
use crate::interest::{Barriers, InterestError, InterestSummary};
use crate::local_sync::LocalNotify;
use crate::mesh::{MeshEndpoint, ShardId};
use crate::monitor::ShardMonitor;
use crate::sublist::SubjectIndex;

pub use crate::interest::MAX_SHARDS;
pub use crate::message::Message;
pub use internal::InternalSubscriber;
pub use routing::Handoffs;
pub use subscriptions::{LocalMatch, SubId, Subscriber, Subscription};
pub use transmission::{
    AccountUsage, Answer, ApiCall, ApiRequest, DirectoryEntry, InterestMsg, JetStreamHandler,
    JetStreamMsg, Query, ShardMsg, StreamChange,
};

/// A broken invariant of a shard's state; only a bug produces one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvariantViolation {
    #[error("subscription {id} is not registered with its client")]
    SubscriptionNotRegistered { id: SubId },
    #[error("{members} queue members on {subject:?}, the interest summary counts {counted}")]
    QueueMembers {
        subject: String,
        members: u32,
        counted: u32,
    },
    #[error("the index has {indexed} patterns, subscriptions use {subscribed}")]
    IndexPatterns { indexed: usize, subscribed: usize },
    #[error(transparent)]
    Interest(#[from] InterestError),
}

/// State shared by all shards: only what is touched when connections come and go.
#[derive(Default)]
pub struct SharedState {
    pub connections: AtomicUsize,
    /// Connections of each JWT account with a connection limit, by account public key
    /// (Go: the account's client count against `conn`). Touched at CONNECT and close only.
    pub account_connections: std::sync::Mutex<AHashMap<String, usize>>,
}

impl SharedState {
    /// Counts a connection in `account` unless it already has `limit` (-1: no limit).
    /// Returns whether it was admitted.
    pub fn admit_account_connection(&self, account: &str, limit: i64) -> bool {
        let Ok(mut counts) = self.account_connections.lock() else {
            return false;
        };
        let count = counts.entry(account.to_string()).or_insert(0);
        if limit >= 0 && *count as i64 >= limit {
            return false;
        }
        *count += 1;
        true
    }

    /// Forgets a connection [`admit_account_connection`](Self::admit_account_connection)
    /// counted.
    pub fn release_account_connection(&self, account: &str) {
        if let Ok(mut counts) = self.account_connections.lock() {
            if let Some(count) = counts.get_mut(account) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    counts.remove(account);
                }
            }
        }
    }
}

/// Counters a shard keeps for itself; monitoring reads them through snapshots.
#[derive(Default)]
pub struct ShardStats {
    pub in_msgs: Cell<u64>,
    pub in_bytes: Cell<u64>,
    pub out_msgs: Cell<u64>,
    pub out_bytes: Cell<u64>,
    pub slow_consumers: Cell<u64>,
    pub handoffs_out: Cell<u64>,
}

pub struct Shard {
    pub id: ShardId,
    pub shard_count: usize,
    /// Everything a config reload can change, swapped whole; read it through `config()`.
    config: RefCell<Rc<ShardConfig>>,
    /// `config().options.max_pending`, read on every delivery, so kept as a plain copy (set
    /// with the config).
    max_pending: Cell<usize>,
    pub shared: Arc<SharedState>,
    pub stats: ShardStats,
    /// Closed connections and the rarer counters monitoring reports (see `monitor.rs`).
    pub monitor: ShardMonitor,
    pub(crate) mesh: RefCell<MeshEndpoint<ShardMsg>>,
    pub(crate) outboxes: RefCell<Vec<VecDeque<ShardMsg>>>,
    outbox_blocked: LocalNotify,
    pub clients: RefCell<AHashMap<u64, Rc<Client>>>,
    pub(crate) subscriptions: RefCell<Slab<Subscription>>,
    /// One subject index per account (indexed by `AccountId`) of this shard's subscriptions.
    pub(crate) local: RefCell<Vec<SubjectIndex<LocalMatch>>>,
    /// Where interest lives on other shards (and this one's counts behind it).
    interest: RefCell<InterestSummary>,
    /// Connections that got output in the current step, to wake once at its end.
    dirty: RefCell<Vec<Rc<Client>>>,
    /// Interest barriers this shard waits on, and the task waiting on each.
    barriers: RefCell<Barriers>,
    barrier_waiters: RefCell<AHashMap<u64, Rc<LocalNotify>>>,
    next_client_sequence: Cell<u64>,
    random_state: Cell<u64>,
    /// Set once the shard is told to stop: the lifecycle waits on `shutdown`.
    pub shutdown: LocalNotify,
    pub shutting_down: Cell<bool>,
    /// Lame duck mode: the accept loop stops and the listener closes.
    pub stop_accepting: LocalNotify,
    pub lame_duck: Cell<bool>,
    /// This shard itself, for tasks that handlers of mesh messages spawn.
    me: RefCell<Weak<Shard>>,
    /// `-V`: log every protocol operation. Read once so the data path pays a plain bool test.
    pub trace_protocol: Cell<bool>,
    /// When work last happened, for the spin-before-park window (unused when it is zero).
    pub(crate) last_activity: Cell<std::time::Instant>,
    pub(crate) activity: LocalNotify,
    /// Where [`ShardMsg::JetStream`] messages go; set by the `jetstream` layer at start.
    jetstream: RefCell<Option<transmission::JetStreamHandlerRef>>,
    /// How many internal subscribers (streams) are too busy to take more messages: while
    /// any is, the shard stops reading from its connections and from the mesh, so that
    /// publishers are pushed back instead of a queue growing.
    input_paused: Cell<usize>,
    /// Wakes every connection reader and the mesh task waiting for input to resume.
    input_resumed: crate::local_sync::LocalBroadcast,
    /// Rung whenever a subscription comes or goes here, or another shard's interest changes:
    /// JetStream's push consumers watch their deliver subjects with it (one waiter).
    pub interest_changed: LocalNotify,
}

impl Shard {
    pub fn new(
        mesh: MeshEndpoint<ShardMsg>,
        configuration: &Configuration,
        shared: Arc<SharedState>,
    ) -> Rc<Self> {
        let shard_count = mesh.shard_count();
        let account_count = configuration.accounts.len();
        let options = &configuration.options;
        let monitor = ShardMonitor::new(options.monitoring.max_closed_clients(), account_count);
        let shard = Rc::new(Shard {
            id: mesh.shard,
            shard_count,
            max_pending: Cell::new(options.max_pending),
            config: RefCell::new(Rc::new(ShardConfig::new(configuration))),
            shared,
            stats: ShardStats::default(),
            monitor,
            outboxes: RefCell::new((0..shard_count).map(|_| VecDeque::new()).collect()),
            interest: RefCell::new(InterestSummary::new(mesh.shard, shard_count, account_count)),
            mesh: RefCell::new(mesh),
            outbox_blocked: LocalNotify::default(),
            clients: RefCell::default(),
            subscriptions: RefCell::default(),
            local: RefCell::new(
                (0..account_count)
                    .map(|_| SubjectIndex::default())
                    .collect(),
            ),
            dirty: RefCell::default(),
            barriers: RefCell::default(),
            barrier_waiters: RefCell::default(),
            next_client_sequence: Cell::new(0),
            random_state: Cell::new(0x9E37_79B9_7F4A_7C15 ^ (u64::from(1 + random_seed()))),
            shutdown: LocalNotify::default(),
            shutting_down: Cell::new(false),
            stop_accepting: LocalNotify::default(),
            lame_duck: Cell::new(false),
            me: RefCell::new(Weak::new()),
            trace_protocol: Cell::new(tracing::enabled!(tracing::Level::TRACE)),
            last_activity: Cell::new(std::time::Instant::now()),
            activity: LocalNotify::default(),
            jetstream: RefCell::new(None),
            input_paused: Cell::new(0),
            input_resumed: crate::local_sync::LocalBroadcast::default(),
            interest_changed: LocalNotify::default(),
        });
        *shard.me.borrow_mut() = Rc::downgrade(&shard);
        shard
    }

    /// The current configuration (a cheap, non-atomic `Rc` clone).
    pub fn config(&self) -> Rc<ShardConfig> {
        Rc::clone(&self.config.borrow())
    }

    /// Swaps in a new configuration; the caller then re-checks its connections. Account ids
    /// only grow, so the per-account indexes only need room for new accounts.
    pub fn set_config(&self, configuration: &Configuration) {
        let accounts = configuration.accounts.len();
        {
            let mut local = self.local.borrow_mut();
            while local.len() < accounts {
                local.push(SubjectIndex::default());
            }
        }
        self.interest.borrow_mut().ensure_accounts(accounts);
        self.max_pending.set(configuration.options.max_pending);
        *self.config.borrow_mut() = Rc::new(ShardConfig::new(configuration));
        // The control plane set the new log level before sending the configuration.
        self.trace_protocol
            .set(tracing::enabled!(tracing::Level::TRACE));
    }

    /// A new client id, unique server-wide without shared counters: ids are dealt
    /// round-robin, so `(id - 1) % shard_count` is the shard that owns the connection.
    pub fn next_client_id(&self) -> u64 {
        let sequence = self.next_client_sequence.get();
        self.next_client_sequence.set(sequence + 1);
        sequence * self.shard_count as u64 + u64::from(self.id) + 1
    }

    /// This shard itself, for tasks spawned from code that has only `&Shard`.
    pub fn handle(&self) -> Option<Rc<Shard>> {
        self.me.borrow().upgrade()
    }

    /// Every open connection of the shard (a copy of the list: callers may close them).
    pub fn client_list(&self) -> Vec<Rc<Client>> {
        self.clients.borrow().values().cloned().collect()
    }

    /// Registers where JetStream messages from other shards go.
    pub fn set_jetstream_handler(&self, handler: transmission::JetStreamHandlerRef) {
        *self.jetstream.borrow_mut() = Some(handler);
    }

    /// The registered JetStream handler, if JetStream runs on this shard.
    pub fn jetstream_handler(&self) -> Option<transmission::JetStreamHandlerRef> {
        self.jetstream.borrow().clone()
    }

    /// Sends a JetStream message to another shard (through its outbox, in order with
    /// everything else this shard sends it). Returns the message if `to` is this shard.
    pub fn send_jetstream(&self, to: ShardId, msg: JetStreamMsg) -> Result<(), Box<JetStreamMsg>> {
        let msg = Box::new(msg);
        if to == self.id || usize::from(to) >= self.shard_count {
            return Err(msg);
        }
        self.outboxes.borrow_mut()[usize::from(to)].push_back(ShardMsg::JetStream(msg));
        self.flush_outboxes();
        Ok(())
    }

    /// An internal subscriber cannot take more for now: stop reading input until it calls
    /// [`Shard::resume_input`]. Calls nest.
    pub fn pause_input(&self) {
        self.input_paused.set(self.input_paused.get() + 1);
    }

    /// Undoes one [`Shard::pause_input`]; input resumes when none is left.
    pub fn resume_input(&self) {
        let paused = self.input_paused.get().saturating_sub(1);
        self.input_paused.set(paused);
        if paused == 0 {
            self.input_resumed.notify_all();
        }
    }

    /// Whether input is paused.
    pub fn input_paused(&self) -> bool {
        self.input_paused.get() > 0
    }

    /// Waits until no internal subscriber has paused the input.
    pub async fn wait_for_input_room(&self) {
        while self.input_paused() {
            self.input_resumed.wait().await;
        }
    }

    /// Records that the shard did work, restarting the spin-before-park window.
    pub fn note_activity(&self) {
        if !self.config().options.tuning.spin_before_park.is_zero() {
            self.last_activity.set(std::time::Instant::now());
            self.activity.notify();
        }
    }

    /// Checks the shard's internal invariants. Called by tests (and by nothing else: it walks
    /// every subscription).
    pub fn validate(&self) -> Result<(), InvariantViolation> {
        let subscriptions = self.subscriptions.borrow();
        for (id, subscription) in subscriptions.iter() {
            if let Subscriber::Client(client) = &subscription.subscriber {
                let registered = client
                    .subscriptions
                    .borrow()
                    .get(&subscription.sid)
                    .copied();
                if registered != Some(id) {
                    return Err(InvariantViolation::SubscriptionNotRegistered { id });
                }
            }
        }
        // Every advertised queue member is counted in the summary, which weighs queue picks.
        if self.shard_count > 1 {
            let mut members: AHashMap<(u16, &[u8], &Bytes), u32> = AHashMap::new();
            for (_, subscription) in subscriptions.iter() {
                if let (Some(queue), false) = (&subscription.queue, subscription.local_only) {
                    *members
                        .entry((subscription.account, &subscription.subject[..], queue))
                        .or_insert(0) += 1;
                }
            }
            let interest = self.interest.borrow();
            for ((account, subject, queue), count) in members {
                let counted = interest.own_queue_members(account, subject, queue);
                if counted != count {
                    return Err(InvariantViolation::QueueMembers {
                        subject: String::from_utf8_lossy(subject).into_owned(),
                        members: count,
                        counted,
                    });
                }
            }
        }
        let indexed: usize = self
            .local
            .borrow()
            .iter()
            .map(SubjectIndex::pattern_count)
            .sum();
        let distinct: std::collections::HashSet<(u16, &[u8])> = subscriptions
            .iter()
            .map(|(_, subscription)| (subscription.account, &subscription.subject[..]))
            .collect();
        if indexed != distinct.len() {
            return Err(InvariantViolation::IndexPatterns {
                indexed,
                subscribed: distinct.len(),
            });
        }
        self.interest.borrow().validate()?;
        Ok(())
    }

    /// xorshift64*: queue-member picks need speed and spread, not cryptographic quality.
    pub(crate) fn random_below(&self, bound: u64) -> u64 {
        let mut state = self.random_state.get();
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        self.random_state.set(state);
        state.wrapping_mul(0x2545_F491_4F6C_DD1D) % bound.max(1)
    }
}

fn random_seed() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(7, |elapsed| elapsed.subsec_nanos())
}
