//! One shard: the state a core owns and the tasks that run on its runtime.
//!
//! A shard owns its connections, their subscriptions, its slice of the subject index, its copy
//! of the interest summary and its outboxes to other shards. Every field is plain owned data
//! behind `Cell`/`RefCell`, touched only by this shard's thread; borrows never span an `.await`.
//!
//! Routing a publish (see ARCHITECTURE.md for the picture): the publishing connection's task
//! matches the subject against the local index and writes to local subscribers' outbound
//! buffers; it matches the interest summary to find other shards with interest, picks one member
//! per queue group server-wide, and adds one delivery per interested shard to its read batch.
//! At the end of the batch the deliveries go to the outboxes and over the mesh, and every
//! connection that got data is flushed once.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

use ahash::AHashMap;
use bytes::Bytes;
use slab::Slab;

use crate::account::{AccountId, AccountTable};
use crate::auth::Authenticator;
use crate::client::{Client, CloseReason};
use crate::local_sync::{yield_now, LocalNotify};
use crate::mesh::{Delivery, InterestChange, MeshEndpoint, ShardId, ShardMsg};
use crate::monitor::ShardMonitor;
use crate::options::ServerOptions;
use crate::outbound::MsgView;
use crate::protocol::ServerInfo;
use crate::sublist::{MatchResult, SubjectIndex};

/// Identifies a subscription within its shard.
pub type SubId = usize;

/// State shared by all shards: only what is touched when connections come and go. The
/// configuration is not here: each shard has its own `ShardConfig`, replaced on reload.
#[derive(Default)]
pub struct SharedState {
    pub connections: AtomicUsize,
}

/// What a shard reads from the configuration. A reload builds a new one and swaps it in, so a
/// task holding the old `Rc` finishes its step with a consistent view.
pub struct ShardConfig {
    pub options: Rc<ServerOptions>,
    /// The INFO every connection starts from; `client_id`/`client_ip`/`nonce` are per
    /// connection.
    pub info: ServerInfo,
    pub accounts: Arc<AccountTable>,
    /// The client port's TLS configuration; `None` for plaintext.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub auth: Authenticator,
}

/// A configuration as the control plane hands it to the shards: at start (`Shard::new`) and
/// on every reload (`ShardMsg::Reload`).
#[derive(Debug)]
pub struct Reload {
    pub options: Arc<ServerOptions>,
    pub info: ServerInfo,
    pub accounts: Arc<AccountTable>,
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

/// (account, pattern, queue group) of local subscriptions, for reference counting.
type InterestKey = (AccountId, Bytes, Option<Bytes>);

/// Routes through imports may lead back into an account that exports again; a publish follows
/// at most this many hops, so a cycle in the configuration cannot loop forever.
const MAX_ACCOUNT_HOPS: usize = 4;

/// A subscription of a connection on this shard.
pub struct Subscription {
    pub client: Rc<Client>,
    pub account: AccountId,
    pub subject: Bytes,
    pub queue: Option<Bytes>,
    pub sid: Bytes,
    /// Auto-unsubscribe after this many deliveries; 0 for no limit.
    pub max_msgs: u64,
    pub delivered: u64,
}

/// What the local index yields for a subject.
#[derive(Default)]
pub struct LocalMatch {
    pub plain: Vec<SubId>,
    pub queues: Vec<(Bytes, Vec<SubId>)>,
}

#[derive(Clone, PartialEq, Eq)]
pub struct LocalEntry {
    pub id: SubId,
    pub queue: Option<Bytes>,
}

impl MatchResult for LocalMatch {
    type Value = LocalEntry;

    fn fanout(&self) -> usize {
        self.plain.len() + self.queues.len()
    }

    fn add(&mut self, entry: &LocalEntry) {
        match &entry.queue {
            None => self.plain.push(entry.id),
            Some(name) => match self.queues.iter_mut().find(|(group, _)| group == name) {
                Some((_, members)) => members.push(entry.id),
                None => self.queues.push((name.clone(), vec![entry.id])),
            },
        }
    }
}

/// One shard's interest in one pattern, as the summary records it.
#[derive(Clone, PartialEq, Eq)]
pub struct SummaryEntry {
    pub shard: ShardId,
    pub queue: Option<Bytes>,
    /// Plain interest: 1. Queue groups: the number of members on that shard.
    pub count: u32,
}

/// What the summary yields for a subject: which shards have plain interest, and for each queue
/// group, the shards with members and how many.
#[derive(Default)]
pub struct RemoteMatch {
    pub plain_shards: ShardSet,
    pub queues: Vec<(Bytes, Vec<(ShardId, u32)>)>,
}

impl MatchResult for RemoteMatch {
    type Value = SummaryEntry;

    fn add(&mut self, entry: &SummaryEntry) {
        match &entry.queue {
            None => self.plain_shards.insert(entry.shard),
            Some(name) => {
                let members = match self.queues.iter_mut().position(|(group, _)| group == name) {
                    Some(index) => &mut self.queues[index].1,
                    None => {
                        self.queues.push((name.clone(), Vec::new()));
                        let last = self.queues.len() - 1;
                        &mut self.queues[last].1
                    }
                };
                match members.iter_mut().find(|(shard, _)| *shard == entry.shard) {
                    Some((_, count)) => *count += entry.count,
                    None => members.push((entry.shard, entry.count)),
                }
            }
        }
    }
}

/// A set of shard ids; shards are capped at 128.
#[derive(Default, Clone, Copy, PartialEq, Eq, Debug)]
pub struct ShardSet(u128);

pub const MAX_SHARDS: usize = 128;

impl ShardSet {
    pub fn insert(&mut self, shard: ShardId) {
        self.0 |= 1u128 << shard;
    }

    /// The shards in the set, in order; visits set bits only (this runs per publish).
    pub fn iter(self) -> impl Iterator<Item = ShardId> {
        let mut remaining = self.0;
        std::iter::from_fn(move || {
            if remaining == 0 {
                return None;
            }
            let shard = remaining.trailing_zeros() as ShardId;
            remaining &= remaining - 1;
            Some(shard)
        })
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// Deliveries of one read batch waiting for their bytes to be frozen, per destination shard.
/// Ranges index the connection's read buffer.
pub struct RemoteBatch {
    per_shard: Vec<Vec<PendingDelivery>>,
    is_empty: bool,
}

pub struct PendingDelivery {
    pub account: AccountId,
    pub subject: Span,
    pub reply: Option<Span>,
    pub payload: std::ops::Range<usize>,
    pub header_len: usize,
    pub to_plain_subscribers: bool,
    pub to_queue_groups: Vec<Bytes>,
}

/// Bytes of a delivery: a range of the publisher's read buffer, or bytes made while routing
/// (a mapped subject, a rewritten reply).
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Span {
    Buffer(std::ops::Range<usize>),
    Owned(Bytes),
}

impl Span {
    fn resolve(self, data: &Bytes) -> Bytes {
        match self {
            Span::Buffer(range) => data.slice(range),
            Span::Owned(bytes) => bytes,
        }
    }
}

impl RemoteBatch {
    pub fn new(shard_count: usize) -> Self {
        RemoteBatch {
            per_shard: (0..shard_count).map(|_| Vec::new()).collect(),
            is_empty: true,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.is_empty
    }

    fn target(&mut self, shard: ShardId, message: &PendingDelivery) -> &mut PendingDelivery {
        self.is_empty = false;
        let pending = &mut self.per_shard[usize::from(shard)];
        let same_message = pending.last().is_some_and(|last| {
            last.payload == message.payload
                && last.account == message.account
                && last.subject == message.subject
                && last.reply == message.reply
        });
        if !same_message {
            pending.push(PendingDelivery {
                account: message.account,
                subject: message.subject.clone(),
                reply: message.reply.clone(),
                payload: message.payload.clone(),
                header_len: message.header_len,
                to_plain_subscribers: false,
                to_queue_groups: Vec::new(),
            });
        }
        let last = pending.len() - 1;
        &mut pending[last]
    }
}

/// A PING waiting for every other shard to acknowledge a barrier.
struct BarrierWait {
    remaining: Cell<usize>,
    done: LocalNotify,
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
    /// The shard's own copy of the users and their compiled permissions.
    pub stats: ShardStats,
    /// Closed connections and the rarer counters monitoring reports (see `monitor.rs`).
    pub monitor: ShardMonitor,
    pub(crate) mesh: RefCell<MeshEndpoint>,
    pub(crate) outboxes: RefCell<Vec<VecDeque<ShardMsg>>>,
    outbox_blocked: LocalNotify,
    pub clients: RefCell<AHashMap<u64, Rc<Client>>>,
    pub(crate) subscriptions: RefCell<Slab<Subscription>>,
    /// One subject index per account (indexed by `AccountId`).
    pub(crate) local: RefCell<Vec<SubjectIndex<LocalMatch>>>,
    /// One interest summary per account.
    summary: RefCell<Vec<SubjectIndex<RemoteMatch>>>,
    local_interest: RefCell<AHashMap<InterestKey, u32>>,
    dirty: RefCell<Vec<Rc<Client>>>,
    barriers: RefCell<AHashMap<u64, Rc<BarrierWait>>>,
    next_barrier_token: Cell<u64>,
    next_client_sequence: Cell<u64>,
    random_state: Cell<u64>,
    pub shutdown: LocalNotify,
    pub shutting_down: Cell<bool>,
    /// Lame duck mode: the accept loop stops and the listener closes.
    stop_accepting: LocalNotify,
    lame_duck: Cell<bool>,
    /// This shard itself, for tasks that handlers of mesh messages spawn.
    me: RefCell<std::rc::Weak<Shard>>,
    /// `-V`: log every protocol operation. Read once so the data path pays a plain bool test.
    pub trace_protocol: Cell<bool>,
    /// When work last happened, for the spin-before-park window (unused when it is zero).
    last_activity: Cell<std::time::Instant>,
    activity: LocalNotify,
}

/// How long a PING waits for the other shards before answering anyway (they only fail to answer
/// while the server is shutting down).
const BARRIER_TIMEOUT: Duration = Duration::from_secs(5);
/// Messages handled from the mesh before the shard lets its connections run.
const MESH_BATCH_LIMIT: usize = 64;

impl Shard {
    pub fn new(mesh: MeshEndpoint, config: &Reload, shared: Arc<SharedState>) -> Self {
        let shard_count = mesh.shard_count();
        let options = &config.options;
        let account_count = config.accounts.len();
        let monitor = ShardMonitor::new(options.monitoring.max_closed_clients(), account_count);
        Shard {
            id: mesh.shard,
            shard_count,
            max_pending: Cell::new(options.max_pending),
            config: RefCell::new(Rc::new(ShardConfig {
                auth: Authenticator::new(&options.auth),
                options: Rc::new(ServerOptions::clone(options)),
                info: config.info.clone(),
                accounts: Arc::clone(&config.accounts),
                tls: config.tls.clone(),
            })),
            shared,
            stats: ShardStats::default(),
            monitor,
            outboxes: RefCell::new((0..shard_count).map(|_| VecDeque::new()).collect()),
            mesh: RefCell::new(mesh),
            outbox_blocked: LocalNotify::default(),
            clients: RefCell::default(),
            subscriptions: RefCell::default(),
            local: RefCell::new(
                (0..account_count)
                    .map(|_| SubjectIndex::default())
                    .collect(),
            ),
            summary: RefCell::new(
                (0..account_count)
                    .map(|_| SubjectIndex::default())
                    .collect(),
            ),
            local_interest: RefCell::default(),
            dirty: RefCell::default(),
            barriers: RefCell::default(),
            next_barrier_token: Cell::new(1),
            next_client_sequence: Cell::new(0),
            random_state: Cell::new(0x9E37_79B9_7F4A_7C15 ^ (u64::from(1 + random_seed()))),
            shutdown: LocalNotify::default(),
            shutting_down: Cell::new(false),
            stop_accepting: LocalNotify::default(),
            lame_duck: Cell::new(false),
            me: RefCell::new(std::rc::Weak::new()),
            trace_protocol: Cell::new(tracing::enabled!(tracing::Level::TRACE)),
            last_activity: Cell::new(std::time::Instant::now()),
            activity: LocalNotify::default(),
        }
    }

    /// A new client id, unique server-wide without shared counters: ids are dealt round-robin,
    /// so `(id - 1) % shard_count` is the shard that owns the connection.
    /// The current configuration (a cheap, non-atomic `Rc` clone).
    pub fn config(&self) -> Rc<ShardConfig> {
        Rc::clone(&self.config.borrow())
    }

    pub fn next_client_id(&self) -> u64 {
        let sequence = self.next_client_sequence.get();
        self.next_client_sequence.set(sequence + 1);
        sequence * self.shard_count as u64 + u64::from(self.id) + 1
    }

    // ----- publishing -----------------------------------------------------------------------

    /// Routes one message published by `publisher` on this shard. Returns whether anyone will
    /// receive it.
    pub fn route_publish(
        &self,
        publisher: &Rc<Client>,
        msg: MsgView<'_>,
        spans: &PendingDelivery,
        batch: &mut RemoteBatch,
    ) -> bool {
        if publisher.direct_routing() {
            return self.route_in_account(publisher, msg, spans, batch);
        }
        self.route_across_accounts(publisher, msg, spans, batch, 0)
    }

    /// The routing of an account with mappings, imports or exports: maps the subject, delivers
    /// in the account, then follows service responses, service imports and stream exports into
    /// other accounts.
    fn route_across_accounts(
        &self,
        publisher: &Rc<Client>,
        msg: MsgView<'_>,
        spans: &PendingDelivery,
        batch: &mut RemoteBatch,
        hops: usize,
    ) -> bool {
        let accounts = Arc::clone(&self.config().accounts);
        let account = accounts.get(spans.account);
        if let Some(mapped) = account.mappings.map(msg.subject) {
            let (msg, spans) = with_subject(msg, spans, spans.account, &mapped);
            return self.route_mapped(publisher, msg, &spans, batch, hops);
        }
        self.route_mapped(publisher, msg, spans, batch, hops)
    }

    fn route_mapped(
        &self,
        publisher: &Rc<Client>,
        msg: MsgView<'_>,
        spans: &PendingDelivery,
        batch: &mut RemoteBatch,
        hops: usize,
    ) -> bool {
        let accounts = Arc::clone(&self.config().accounts);
        let account = accounts.get(spans.account);
        let mut delivered = self.route_in_account(publisher, msg, spans, batch);
        if hops >= MAX_ACCOUNT_HOPS {
            return delivered;
        }
        if let Some((requester, reply)) = accounts.decode_reply(msg.subject) {
            let (msg, spans) = with_subject(msg, spans, requester, reply);
            delivered |= self.route_across_accounts(publisher, msg, &spans, batch, hops + 1);
        }
        for route in &account.service_routes {
            let Some(subject) = route.transform.apply(msg.subject) else {
                continue;
            };
            let reply = msg
                .reply
                .map(|reply| accounts.encode_reply(spans.account, reply));
            let (mut msg, mut spans) = with_subject(msg, spans, route.target, &subject);
            msg.reply = reply.as_deref();
            spans.reply = reply.clone().map(|reply| Span::Owned(Bytes::from(reply)));
            delivered |= self.route_across_accounts(publisher, msg, &spans, batch, hops + 1);
        }
        for route in &account.stream_routes {
            let Some(subject) = route.transform.apply(msg.subject) else {
                continue;
            };
            let (msg, spans) = with_subject(msg, spans, route.target, &subject);
            delivered |= self.route_across_accounts(publisher, msg, &spans, batch, hops + 1);
        }
        delivered
    }

    /// Delivers within one account: local subscribers at once, other shards through `batch`.
    fn route_in_account(
        &self,
        publisher: &Rc<Client>,
        msg: MsgView<'_>,
        spans: &PendingDelivery,
        batch: &mut RemoteBatch,
    ) -> bool {
        let account = usize::from(spans.account);
        let local = self.local.borrow_mut()[account].matches(msg.subject);
        let mut delivered = self.deliver_to_plain(&local, msg, Some(publisher));
        if self.shard_count == 1 {
            for (_, members) in &local.queues {
                delivered |= self.deliver_to_one_member(members, msg, Some(publisher));
            }
            return delivered;
        }
        let remote = self.summary.borrow_mut()[account].matches(msg.subject);
        for shard in remote.plain_shards.iter().filter(|&shard| shard != self.id) {
            batch.target(shard, spans).to_plain_subscribers = true;
            delivered = true;
        }
        for (group, members) in &remote.queues {
            let Some(shard) = self.pick_weighted(members) else {
                continue;
            };
            if shard == self.id {
                if let Some((_, local_members)) =
                    local.queues.iter().find(|(name, _)| name == group)
                {
                    delivered |= self.deliver_to_one_member(local_members, msg, Some(publisher));
                }
            } else {
                batch
                    .target(shard, spans)
                    .to_queue_groups
                    .push(group.clone());
                delivered = true;
            }
        }
        delivered
    }

    /// Delivers a message handed over by another shard to this shard's subscribers.
    fn deliver_from_mesh(&self, delivery: &Delivery) {
        let Some(index) = self
            .local
            .borrow_mut()
            .get_mut(usize::from(delivery.account))
            .map(|index| index.matches(&delivery.subject))
        else {
            return;
        };
        let local = index;
        let msg = MsgView {
            subject: &delivery.subject,
            reply: delivery.reply.as_deref(),
            payload: &delivery.payload,
            header_len: delivery.header_len,
            shared_payload: Some(&delivery.payload),
        };
        if delivery.to_plain_subscribers {
            self.deliver_to_plain(&local, msg, None);
        }
        for group in &delivery.to_queue_groups {
            if let Some((_, members)) = local.queues.iter().find(|(name, _)| name == group) {
                self.deliver_to_one_member(members, msg, None);
            }
        }
    }

    fn deliver_to_plain(
        &self,
        local: &LocalMatch,
        msg: MsgView<'_>,
        publisher: Option<&Rc<Client>>,
    ) -> bool {
        let mut delivered = false;
        let mut finished = Vec::new();
        {
            let mut subscriptions = self.subscriptions.borrow_mut();
            for &id in &local.plain {
                let Some(subscription) = subscriptions.get_mut(id) else {
                    continue;
                };
                if publisher.is_some_and(|p| Rc::ptr_eq(p, &subscription.client) && !p.echo()) {
                    continue;
                }
                if !subscription.client.may_receive(msg.subject, None) {
                    continue;
                }
                delivered = true;
                if self.deliver_to(subscription, msg) {
                    finished.push(id);
                }
            }
        }
        for id in finished {
            self.remove_subscription(id);
        }
        delivered
    }

    fn deliver_to_one_member(
        &self,
        members: &[SubId],
        msg: MsgView<'_>,
        publisher: Option<&Rc<Client>>,
    ) -> bool {
        let finished = {
            let mut subscriptions = self.subscriptions.borrow_mut();
            let eligible = |id: &&SubId| {
                subscriptions.get(**id).is_some_and(|subscription| {
                    !publisher.is_some_and(|p| Rc::ptr_eq(p, &subscription.client) && !p.echo())
                        && subscription
                            .client
                            .may_receive(msg.subject, subscription.queue.as_deref())
                })
            };
            let count = members.iter().filter(eligible).count();
            if count == 0 {
                return false;
            }
            let pick = self.random_below(count as u64) as usize;
            let Some(&id) = members.iter().filter(eligible).nth(pick) else {
                return false;
            };
            let Some(subscription) = subscriptions.get_mut(id) else {
                return false;
            };
            self.deliver_to(subscription, msg).then_some(id)
        };
        if let Some(id) = finished {
            self.remove_subscription(id);
        }
        true
    }

    /// Queues `msg` for one subscription. Returns whether the subscription reached its
    /// auto-unsubscribe limit and must be removed.
    fn deliver_to(&self, subscription: &mut Subscription, msg: MsgView<'_>) -> bool {
        let client = &subscription.client;
        if client.is_closed() {
            return false;
        }
        let pending = {
            let mut outbound = client.outbound.borrow_mut();
            outbound.push_msg(msg, &subscription.sid, client.headers());
            outbound.pending_bytes()
        };
        self.stats.out_msgs.set(self.stats.out_msgs.get() + 1);
        self.stats
            .out_bytes
            .set(self.stats.out_bytes.get() + msg.payload.len() as u64);
        let client_stats = &client.stats;
        client_stats.out_msgs.set(client_stats.out_msgs.get() + 1);
        client_stats
            .out_bytes
            .set(client_stats.out_bytes.get() + msg.payload.len() as u64);
        self.queued_for(client, pending);
        if let Some(reply) = msg.reply {
            client.note_delivered_reply(reply);
        }
        subscription.delivered += 1;
        subscription.max_msgs != 0 && subscription.delivered >= subscription.max_msgs
    }

    /// Sends the no-responders status to `requester` through its own subscription on `reply`.
    pub fn send_no_responders(&self, requester: &Rc<Client>, reply: &[u8], subject: &[u8]) {
        let local = self.local.borrow_mut()[usize::from(requester.account())].matches(reply);
        let subscriptions = self.subscriptions.borrow();
        let own = local
            .plain
            .iter()
            .filter_map(|&id| subscriptions.get(id))
            .find(|subscription| Rc::ptr_eq(&subscription.client, requester));
        let Some(subscription) = own else {
            return;
        };
        let mut headers = b"NATS/1.0 503\r\nNats-Subject: ".to_vec();
        headers.extend_from_slice(subject);
        headers.extend_from_slice(b"\r\n\r\n");
        let msg = MsgView {
            subject: reply,
            reply: None,
            payload: &headers,
            header_len: headers.len(),
            shared_payload: None,
        };
        let pending = {
            let mut outbound = requester.outbound.borrow_mut();
            outbound.push_msg(msg, &subscription.sid, true);
            outbound.pending_bytes()
        };
        self.queued_for(requester, pending);
    }

    // ----- subscriptions and interest -------------------------------------------------------

    /// Adds a subscription. The caller has validated the subject and the limits.
    pub fn add_subscription(
        &self,
        client: &Rc<Client>,
        subject: Bytes,
        queue: Option<Bytes>,
        sid: Bytes,
    ) {
        let account = client.account();
        let id = self.subscriptions.borrow_mut().insert(Subscription {
            client: Rc::clone(client),
            account,
            subject: subject.clone(),
            queue: queue.clone(),
            sid: sid.clone(),
            max_msgs: 0,
            delivered: 0,
        });
        client.subscriptions.borrow_mut().insert(sid, id);
        let inserts = &self.monitor.subscription_inserts;
        inserts.set(inserts.get() + 1);
        let entry = LocalEntry {
            id,
            queue: queue.clone(),
        };
        self.local.borrow_mut()[usize::from(account)]
            .modify(&subject, |entries| entries.push(entry));
        self.change_interest(client, account, subject, queue, 1);
    }

    /// Handles UNSUB: removes now, or after `max_msgs` deliveries in total.
    pub fn unsubscribe(&self, client: &Rc<Client>, sid: &[u8], max_msgs: Option<u64>) {
        let Some(id) = client.subscriptions.borrow().get(sid).copied() else {
            return;
        };
        if let Some(max_msgs) = max_msgs {
            let mut subscriptions = self.subscriptions.borrow_mut();
            if let Some(subscription) = subscriptions.get_mut(id) {
                if max_msgs > subscription.delivered {
                    subscription.max_msgs = max_msgs;
                    return;
                }
            }
        }
        self.remove_subscription(id);
    }

    pub fn remove_subscription(&self, id: SubId) {
        let Some(subscription) = self.subscriptions.borrow_mut().try_remove(id) else {
            return;
        };
        let removes = &self.monitor.subscription_removes;
        removes.set(removes.get() + 1);
        subscription
            .client
            .subscriptions
            .borrow_mut()
            .remove(&subscription.sid);
        self.local.borrow_mut()[usize::from(subscription.account)].modify(
            &subscription.subject,
            |entries| {
                entries.retain(|entry| entry.id != id);
            },
        );
        self.change_interest(
            &subscription.client,
            subscription.account,
            subscription.subject,
            subscription.queue,
            -1,
        );
    }

    /// Removes every subscription of a closing connection.
    pub fn remove_client_subscriptions(&self, client: &Rc<Client>) {
        self.remove_client_subscriptions_of(client);
    }

    /// (sid, subject, queue) of every subscription of `client`.
    pub fn subscriptions_of(&self, client: &Client) -> Vec<(Bytes, Bytes, Option<Bytes>)> {
        let subscriptions = self.subscriptions.borrow();
        client
            .subscriptions
            .borrow()
            .values()
            .filter_map(|&id| subscriptions.get(id))
            .map(|subscription| {
                (
                    subscription.sid.clone(),
                    subscription.subject.clone(),
                    subscription.queue.clone(),
                )
            })
            .collect()
    }

    /// Removes every subscription of `client` (which may be mid-change, hence no `Rc`).
    pub fn remove_client_subscriptions_of(&self, client: &Client) {
        let ids: Vec<SubId> = client.subscriptions.borrow().values().copied().collect();
        for id in ids {
            self.remove_subscription(id);
        }
    }

    fn change_interest(
        &self,
        client: &Client,
        account: AccountId,
        pattern: Bytes,
        queue: Option<Bytes>,
        delta: i32,
    ) {
        if self.shard_count == 1 {
            return;
        }
        let (before, after) = {
            let mut interest = self.local_interest.borrow_mut();
            let key = (account, pattern.clone(), queue.clone());
            let count = interest.entry(key.clone()).or_insert(0);
            let before = *count;
            *count = count.saturating_add_signed(delta);
            let after = *count;
            if after == 0 {
                interest.remove(&key);
            }
            (before, after)
        };
        let summary_changes = queue.is_some() || (before == 0) != (after == 0);
        if !summary_changes {
            return;
        }
        let change = InterestChange {
            origin: self.id,
            account,
            pattern,
            queue,
            delta,
        };
        self.apply_interest(&change);
        {
            let mut outboxes = self.outboxes.borrow_mut();
            for (shard, outbox) in outboxes.iter_mut().enumerate() {
                if shard != usize::from(self.id) {
                    outbox.push_back(ShardMsg::Interest(change.clone()));
                }
            }
        }
        client.set_interest_pending(true);
        self.flush_outboxes();
    }

    fn apply_interest(&self, change: &InterestChange) {
        let mut summaries = self.summary.borrow_mut();
        let Some(summary) = summaries.get_mut(usize::from(change.account)) else {
            return;
        };
        summary.modify(&change.pattern, |entries| {
            let position = entries
                .iter()
                .position(|entry| entry.shard == change.origin && entry.queue == change.queue);
            match position {
                Some(index) => {
                    let entry = &mut entries[index];
                    entry.count = entry.count.saturating_add_signed(change.delta);
                    if entry.count == 0 {
                        entries.swap_remove(index);
                    }
                }
                None if change.delta > 0 => entries.push(SummaryEntry {
                    shard: change.origin,
                    queue: change.queue.clone(),
                    count: change.delta.unsigned_abs(),
                }),
                None => {}
            }
        });
    }

    /// Waits until every other shard has applied every interest change this shard sent
    /// before the call.
    pub async fn interest_barrier(&self) {
        if self.shard_count == 1 {
            return;
        }
        let token = self.next_barrier_token.get();
        self.next_barrier_token.set(token + 1);
        let wait = Rc::new(BarrierWait {
            remaining: Cell::new(self.shard_count - 1),
            done: LocalNotify::default(),
        });
        self.barriers.borrow_mut().insert(token, Rc::clone(&wait));
        {
            let mut outboxes = self.outboxes.borrow_mut();
            for (shard, outbox) in outboxes.iter_mut().enumerate() {
                if shard != usize::from(self.id) {
                    outbox.push_back(ShardMsg::Barrier {
                        origin: self.id,
                        token,
                    });
                }
            }
        }
        self.flush_outboxes();
        let acknowledged = async {
            while wait.remaining.get() > 0 {
                wait.done.notified().await;
            }
        };
        let _ = compio::time::timeout(BARRIER_TIMEOUT, acknowledged).await;
        self.barriers.borrow_mut().remove(&token);
    }

    // ----- connections ----------------------------------------------------------------------

    /// Called after queueing output for `client`: closes it as a slow consumer when its
    /// pending bytes exceed `max_pending`, else schedules one flush for this batch.
    pub fn queued_for(&self, client: &Rc<Client>, pending_bytes: usize) {
        if pending_bytes > self.max_pending.get() {
            self.close_client(client, CloseReason::SlowConsumerPendingBytes);
        } else {
            self.mark_dirty(client);
        }
    }

    /// Marks a connection for one flush at the end of the current batch.
    pub fn mark_dirty(&self, client: &Rc<Client>) {
        if !client.dirty.replace(true) {
            self.dirty.borrow_mut().push(Rc::clone(client));
        }
    }

    /// Wakes the writer of every connection that got data since the last flush.
    pub fn flush_dirty(&self) {
        let dirty = std::mem::take(&mut *self.dirty.borrow_mut());
        for client in dirty {
            client.dirty.set(false);
            client.writer_wake.notify();
        }
    }

    /// Starts closing a connection: its writer sends what is queued (plus the error line, if
    /// any) and closes the socket; its reader then cleans up.
    pub fn close_client(&self, client: &Rc<Client>, reason: CloseReason) {
        if client.is_closed() {
            return;
        }
        if reason == CloseReason::SlowConsumerPendingBytes
            || reason == CloseReason::SlowConsumerWriteDeadline
        {
            self.stats
                .slow_consumers
                .set(self.stats.slow_consumers.get() + 1);
            tracing::info!(
                "{} - Slow Consumer Detected: {}",
                client.log_prefix(),
                reason.description()
            );
        }
        client.close(reason);
    }

    // ----- the mesh -------------------------------------------------------------------------

    /// Moves a finished read batch into the outboxes, giving each delivery its bytes.
    pub fn send_batch(&self, batch: RemoteBatch, data: &Bytes) {
        if batch.is_empty {
            return;
        }
        {
            let mut outboxes = self.outboxes.borrow_mut();
            for (shard, pending) in batch.per_shard.into_iter().enumerate() {
                if pending.is_empty() {
                    continue;
                }
                self.stats
                    .handoffs_out
                    .set(self.stats.handoffs_out.get() + pending.len() as u64);
                let deliveries = pending
                    .into_iter()
                    .map(|pending| Delivery {
                        account: pending.account,
                        subject: pending.subject.resolve(data),
                        reply: pending.reply.map(|reply| reply.resolve(data)),
                        payload: data.slice(pending.payload),
                        header_len: pending.header_len,
                        to_plain_subscribers: pending.to_plain_subscribers,
                        to_queue_groups: pending.to_queue_groups,
                    })
                    .collect();
                outboxes[shard].push_back(ShardMsg::Deliver(deliveries));
            }
        }
        self.flush_outboxes();
    }

    /// Pushes outbox messages into the mesh queues until they are empty or full.
    pub fn flush_outboxes(&self) {
        let mesh = self.mesh.borrow();
        let mut outboxes = self.outboxes.borrow_mut();
        let mut blocked = false;
        for (shard, outbox) in outboxes.iter_mut().enumerate() {
            let mut sent = false;
            while let Some(msg) = outbox.pop_front() {
                match mesh.try_send(shard as ShardId, msg) {
                    Ok(()) => sent = true,
                    Err(msg) => {
                        outbox.push_front(msg);
                        blocked = true;
                        break;
                    }
                }
            }
            if sent {
                mesh.ring(shard as ShardId);
            }
        }
        if blocked {
            self.outbox_blocked.notify();
        }
    }

    fn outboxes_empty(&self) -> bool {
        self.outboxes.borrow().iter().all(VecDeque::is_empty)
    }

    /// Waits until the outboxes have drained into the mesh: a publisher calls this after each
    /// read batch, so a full queue stops it from reading (TCP backpressure) instead of growing.
    pub async fn wait_for_outbox_room(&self) {
        let mut pause = Duration::from_micros(20);
        while !self.outboxes_empty() {
            compio::time::sleep(pause).await;
            self.flush_outboxes();
            pause = (pause * 2).min(Duration::from_millis(1));
        }
    }

    /// Retries blocked outboxes in the background (messages from the mesh task itself, such as
    /// barrier acknowledgements, cannot wait in place).
    pub async fn run_outbox_retry(self: Rc<Self>) {
        loop {
            self.outbox_blocked.notified().await;
            self.wait_for_outbox_room().await;
            if self.shutting_down.get() && self.outboxes_empty() {
                return;
            }
        }
    }

    /// Handles up to `limit` queued messages from other shards. Returns how many it handled,
    /// or `None` once the shard has been told to shut down.
    fn handle_incoming(&self, limit: usize) -> Option<usize> {
        let mut handled = 0;
        while handled < limit {
            let Some(msg) = self.mesh.borrow_mut().try_recv() else {
                break;
            };
            handled += 1;
            if !self.handle_shard_msg(msg) {
                self.flush_dirty();
                self.begin_shutdown();
                return None;
            }
        }
        Some(handled)
    }

    /// Applies what other shards have already sent before a read batch is routed. Without this,
    /// a SUB processed on another shard a moment before this publish could still be waiting in
    /// the queue, a window far wider than the Go server's (where both connections share one
    /// subscription index); with it, the window is the same: the SUB must have been processed
    /// before the publish is.
    pub fn catch_up_with_mesh(&self) {
        if self.shard_count > 1 && self.mesh.borrow().has_pending() {
            let _ = self.handle_incoming(usize::MAX);
        }
    }

    /// Records that the shard did work, restarting the spin-before-park window.
    pub fn note_activity(&self) {
        if !self.config().options.tuning.spin_before_park.is_zero() {
            self.last_activity.set(std::time::Instant::now());
            self.activity.notify();
        }
    }

    /// Keeps the runtime polling (instead of sleeping in the kernel) for the spin-before-park
    /// window after the last work: a runnable task makes compio poll io_uring without waiting,
    /// so a completion or a queued message is picked up without a wake-up, which costs tens of
    /// microseconds on a VM. Spawned only when the window is not zero.
    pub async fn run_spinner(self: Rc<Self>) {
        let window = self.config().options.tuning.spin_before_park;
        while !self.shutting_down.get() {
            self.activity.notified().await;
            while self.last_activity.get().elapsed() < window && !self.shutting_down.get() {
                yield_now().await;
                if self.mesh.borrow().has_pending() {
                    // The mesh task parks on its doorbell; nobody rings it while we spin.
                    let _ = self.handle_incoming(MESH_BATCH_LIMIT);
                    self.flush_dirty();
                    self.flush_outboxes();
                }
            }
        }
    }

    /// Handles messages from other shards until shutdown.
    pub async fn run_mesh(self: Rc<Self>) {
        loop {
            let Some(handled) = self.handle_incoming(MESH_BATCH_LIMIT) else {
                return;
            };
            self.flush_dirty();
            self.flush_outboxes();
            if handled > 0 {
                self.note_activity();
            }
            if handled == MESH_BATCH_LIMIT {
                yield_now().await;
                continue;
            }
            if self.shutting_down.get() {
                return;
            }
            std::future::poll_fn(|context| self.mesh.borrow().poll_incoming(context)).await;
        }
    }

    /// Returns false when the shard must shut down.
    fn handle_shard_msg(&self, msg: ShardMsg) -> bool {
        match msg {
            ShardMsg::Deliver(deliveries) => {
                let handoffs_in = &self.monitor.handoffs_in;
                handoffs_in.set(handoffs_in.get() + deliveries.len() as u64);
                for delivery in &deliveries {
                    self.deliver_from_mesh(delivery);
                }
            }
            ShardMsg::Interest(change) => self.apply_interest(&change),
            ShardMsg::Barrier { origin, token } => {
                self.outboxes.borrow_mut()[usize::from(origin)]
                    .push_back(ShardMsg::BarrierAck { token });
            }
            ShardMsg::BarrierAck { token } => {
                let wait = self.barriers.borrow().get(&token).cloned();
                if let Some(wait) = wait {
                    wait.remaining.set(wait.remaining.get().saturating_sub(1));
                    if wait.remaining.get() == 0 {
                        wait.done.notify();
                    }
                }
            }
            ShardMsg::Shutdown => return false,
            ShardMsg::Reload(reload) => self.apply_reload(&reload),
            ShardMsg::LameDuck {
                grace,
                spread,
                done,
            } => self.enter_lame_duck(grace, spread, done),
            ShardMsg::Snapshot(request) => self.answer_snapshot(request),
        }
        true
    }

    /// Swaps in a reloaded configuration, then checks every connection against it: the Go
    /// server authenticates each client again and re-checks its subscriptions.
    fn apply_reload(&self, reload: &Reload) {
        let accounts = reload.accounts.len();
        {
            let mut local = self.local.borrow_mut();
            while local.len() < accounts {
                local.push(SubjectIndex::default());
            }
            let mut summary = self.summary.borrow_mut();
            while summary.len() < accounts {
                summary.push(SubjectIndex::default());
            }
        }
        self.max_pending.set(reload.options.max_pending);
        *self.config.borrow_mut() = Rc::new(ShardConfig {
            auth: Authenticator::new(&reload.options.auth),
            options: Rc::new(ServerOptions::clone(&reload.options)),
            info: reload.info.clone(),
            accounts: Arc::clone(&reload.accounts),
            tls: reload.tls.clone(),
        });
        // The control plane set the new log level before sending the reload.
        self.trace_protocol
            .set(tracing::enabled!(tracing::Level::TRACE));
        let clients: Vec<Rc<Client>> = self.clients.borrow().values().cloned().collect();
        for client in clients {
            crate::client::recheck_after_reload(self, &client);
        }
        self.flush_dirty();
    }

    /// Lame duck mode, as the Go server does it: no new connections, an INFO with `ldm: true`
    /// to every client that takes INFO updates, then after `grace` the clients are closed one
    /// by one over `spread` (at most a second apart), and `done` is told.
    fn enter_lame_duck(
        &self,
        grace: Duration,
        spread: Duration,
        done: std::sync::mpsc::Sender<()>,
    ) {
        if self.lame_duck.replace(true) {
            return;
        }
        self.stop_accepting.notify();
        let config = self.config();
        let mut info = config.info.clone();
        info.ldm = true;
        let clients: Vec<Rc<Client>> = self.clients.borrow().values().cloned().collect();
        for client in &clients {
            if client.takes_async_info() {
                client.send_info_update(self, client, info.clone());
            }
        }
        self.flush_dirty();
        let Some(shard) = self.self_handle() else {
            let _ = done.send(());
            return;
        };
        compio::runtime::spawn(async move {
            compio::time::sleep(grace).await;
            let clients: Vec<Rc<Client>> = shard.clients.borrow().values().cloned().collect();
            let interval = if clients.is_empty() {
                Duration::ZERO
            } else {
                (spread / clients.len() as u32).min(Duration::from_secs(1))
            };
            for (index, client) in clients.iter().enumerate() {
                if shard.shutting_down.get() {
                    break;
                }
                shard.close_client(client, CloseReason::ServerShutdown);
                shard.flush_dirty();
                if index + 1 < clients.len() && !interval.is_zero() {
                    // A random pause of at least half the interval, as in Go, so that clients
                    // of several servers in lame duck mode do not reconnect in lockstep.
                    let half = interval / 2;
                    let jitter = shard.random_below(half.as_nanos().max(1) as u64);
                    compio::time::sleep(half + Duration::from_nanos(jitter)).await;
                }
            }
            let _ = done.send(());
        })
        .detach();
    }

    fn self_handle(&self) -> Option<Rc<Shard>> {
        self.me.borrow().upgrade()
    }

    fn begin_shutdown(&self) {
        self.shutting_down.set(true);
        let clients: Vec<Rc<Client>> = self.clients.borrow().values().cloned().collect();
        for client in clients {
            self.close_client(&client, CloseReason::ServerShutdown);
        }
        self.shutdown.notify();
    }

    /// Checks the shard's internal invariants; tests call this.
    pub fn validate(&self) -> Result<(), String> {
        let subscriptions = self.subscriptions.borrow();
        for (id, subscription) in subscriptions.iter() {
            let registered = subscription
                .client
                .subscriptions
                .borrow()
                .get(&subscription.sid)
                .copied();
            if registered != Some(id) {
                return Err(format!(
                    "subscription {id} is not registered with its client"
                ));
            }
        }
        let indexed: usize = self
            .local
            .borrow()
            .iter()
            .map(SubjectIndex::pattern_count)
            .sum();
        let distinct: std::collections::HashSet<(AccountId, &[u8])> = subscriptions
            .iter()
            .map(|(_, subscription)| (subscription.account, &subscription.subject[..]))
            .collect();
        if indexed != distinct.len() {
            return Err(format!(
                "index has {indexed} patterns, subscriptions use {}",
                distinct.len()
            ));
        }
        Ok(())
    }

    // ----- helpers --------------------------------------------------------------------------

    fn pick_weighted(&self, members: &[(ShardId, u32)]) -> Option<ShardId> {
        let total: u64 = members.iter().map(|(_, count)| u64::from(*count)).sum();
        if total == 0 {
            return None;
        }
        let mut pick = self.random_below(total);
        for (shard, count) in members {
            if pick < u64::from(*count) {
                return Some(*shard);
            }
            pick -= u64::from(*count);
        }
        None
    }

    /// xorshift64*: queue-member picks need speed and spread, not cryptographic quality.
    fn random_below(&self, bound: u64) -> u64 {
        let mut state = self.random_state.get();
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        self.random_state.set(state);
        state.wrapping_mul(0x2545_F491_4F6C_DD1D) % bound.max(1)
    }
}

/// The same message under another subject (and account): a mapped subject, or the subject it
/// has in an importing or exporting account. The subject is copied once, for the batch.
fn with_subject<'a>(
    msg: MsgView<'a>,
    spans: &PendingDelivery,
    account: AccountId,
    subject: &'a [u8],
) -> (MsgView<'a>, PendingDelivery) {
    let spans = PendingDelivery {
        account,
        subject: Span::Owned(Bytes::copy_from_slice(subject)),
        reply: spans.reply.clone(),
        payload: spans.payload.clone(),
        header_len: spans.header_len,
        to_plain_subscribers: false,
        to_queue_groups: Vec::new(),
    };
    (MsgView { subject, ..msg }, spans)
}

fn random_seed() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(7, |elapsed| elapsed.subsec_nanos())
}

/// Runs a shard on the current compio runtime until it is told to shut down: accepts
/// connections on its own SO_REUSEPORT listener and serves them, handles the mesh, pings idle
/// clients. Returns once every connection has closed (or the grace period is over).
pub async fn run_shard(shard: Rc<Shard>, listener: std::net::TcpListener) -> std::io::Result<()> {
    *shard.me.borrow_mut() = Rc::downgrade(&shard);
    let listener = compio::net::TcpListener::from_std(listener)?;
    compio::runtime::spawn(Rc::clone(&shard).run_mesh()).detach();
    compio::runtime::spawn(Rc::clone(&shard).run_outbox_retry()).detach();
    compio::runtime::spawn(crate::client::run_pinger(Rc::clone(&shard))).detach();
    if !shard.config().options.tuning.spin_before_park.is_zero() {
        compio::runtime::spawn(Rc::clone(&shard).run_spinner()).detach();
    }
    let accept_loop = async {
        loop {
            match listener.accept().await {
                Ok((stream, peer)) => {
                    // An IPv4 client of a dual-stack listener is named by its IPv4 address,
                    // as the Go server names it.
                    let peer = std::net::SocketAddr::new(peer.ip().to_canonical(), peer.port());
                    compio::runtime::spawn(crate::client::serve(Rc::clone(&shard), stream, peer))
                        .detach();
                }
                Err(error) => {
                    // Typically EMFILE: back off instead of spinning, as the Go server does.
                    tracing::error!("Error accepting client connection: {error}");
                    compio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    };
    let shutdown = std::pin::pin!(shard.shutdown.notified());
    let lame_duck = std::pin::pin!(shard.stop_accepting.notified());
    let stop = futures_util::future::select(shutdown, lame_duck);
    let entered_lame_duck = matches!(
        futures_util::future::select(std::pin::pin!(accept_loop), stop).await,
        futures_util::future::Either::Right((futures_util::future::Either::Right(_), _))
    );
    drop(listener);
    if entered_lame_duck {
        // Connections keep being served until lame duck mode closes them or the server shuts
        // down.
        shard.shutdown.notified().await;
    }
    let drained = async {
        while !shard.clients.borrow().is_empty() {
            compio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    let _ = compio::time::timeout(crate::client::SHUTDOWN_GRACE, drained).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_set_yields_exactly_its_members_in_order() {
        let mut set = ShardSet::default();
        assert!(set.is_empty() && set.iter().next().is_none());
        for shard in [127, 0, 5, 64] {
            set.insert(shard);
        }
        assert_eq!(set.iter().collect::<Vec<_>>(), vec![0, 5, 64, 127]);
    }
}
