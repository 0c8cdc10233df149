//! Subscriptions on a shard, and the interest summary and barriers that follow them.
//!
//! A subscription's target is a [`Subscriber`]: a client connection or an internal handler
//! of the shard. Either way it sits in the shard's per-account index, and its first/last
//! appearance on a pattern changes the interest summary, which is broadcast to every other
//! shard. A PING after such a change waits for a barrier: every other shard acknowledges once
//! it has applied everything this shard sent before.

use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use slab::Slab;

use super::internal::InternalSubscriber;
use super::transmission::{InterestMsg, ShardMsg};
use super::Shard;
use crate::account::AccountId;
use crate::client::Client;
use crate::interest::InterestChange;
use crate::local_sync::LocalNotify;
use crate::sublist::MatchResult;

pub use crate::client::SubId;

/// Who receives the messages of a subscription.
#[derive(Clone)]
pub enum Subscriber {
    /// A client connection: messages become `MSG`/`HMSG` bytes in its outbound buffer.
    Client(Rc<Client>),
    /// A handler owned by the shard (JetStream, later routes): messages arrive as
    /// [`crate::message::Message`]s, without framing and without a copy.
    Internal(Rc<dyn InternalSubscriber>),
}

impl Subscriber {
    /// The client connection, for a client subscription.
    pub fn client(&self) -> Option<&Rc<Client>> {
        match self {
            Subscriber::Client(client) => Some(client),
            Subscriber::Internal(_) => None,
        }
    }

    /// Whether this is `client`'s subscription.
    pub fn is_client(&self, client: &Rc<Client>) -> bool {
        matches!(self, Subscriber::Client(own) if Rc::ptr_eq(own, client))
    }
}

/// A subscription on this shard.
pub struct Subscription {
    pub subscriber: Subscriber,
    pub account: AccountId,
    pub subject: Bytes,
    pub queue: Option<Bytes>,
    /// The client's sid; an internal subscription's is made up (`$internal.<id>`).
    pub sid: Bytes,
    /// Auto-unsubscribe after this many deliveries; 0 for no limit.
    pub max_msgs: u64,
    pub delivered: u64,
    /// Seen only by publishes on this shard: kept out of the interest summary, so other
    /// shards never hand messages to it (a service every shard runs, such as the JetStream
    /// API, answers where the request arrives).
    pub local_only: bool,
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

/// How many of `entries` are plain subscriptions other shards know of (not local-only).
fn advertised_plain(entries: &[LocalEntry], subscriptions: &Slab<Subscription>) -> usize {
    entries
        .iter()
        .filter(|entry| entry.queue.is_none())
        .filter(|entry| {
            subscriptions
                .get(entry.id)
                .is_some_and(|subscription| !subscription.local_only)
        })
        .count()
}

/// How long a PING waits for the other shards before answering anyway (they only fail to
/// answer while the server is shutting down).
const BARRIER_TIMEOUT: Duration = Duration::from_secs(5);

impl Shard {
    /// Adds a client's subscription. The caller has validated the subject and the limits.
    pub fn add_subscription(
        &self,
        client: &Rc<Client>,
        subject: Bytes,
        queue: Option<Bytes>,
        sid: Bytes,
    ) {
        let account = client.account();
        let id = self.insert_subscription(Subscription {
            subscriber: Subscriber::Client(Rc::clone(client)),
            account,
            subject,
            queue,
            sid: sid.clone(),
            max_msgs: 0,
            delivered: 0,
            local_only: false,
        });
        client.subscriptions.borrow_mut().insert(sid, id);
    }

    /// Puts a subscription in the slab and the index, and updates the interest summary (a
    /// client whose subscription changed it must wait for a barrier before its next PONG).
    pub(crate) fn insert_subscription(&self, subscription: Subscription) -> SubId {
        let (account, subject, queue) = (
            subscription.account,
            subscription.subject.clone(),
            subscription.queue.clone(),
        );
        let client = subscription.subscriber.client().cloned();
        let advertised = !subscription.local_only;
        let id = self.subscriptions.borrow_mut().insert(subscription);
        let inserts = &self.monitor.subscription_inserts;
        inserts.set(inserts.get() + 1);
        let entry = LocalEntry {
            id,
            queue: queue.clone(),
        };
        let first_plain = {
            let subscriptions = self.subscriptions.borrow();
            self.local.borrow_mut()[usize::from(account)].modify(&subject, |entries| {
                let first = advertised_plain(entries, &subscriptions) == 0;
                entries.push(entry);
                first
            })
        };
        // Other shards hear of the first advertised plain subscription on a pattern, and of
        // every queue member.
        let delta = match (&queue, advertised) {
            (_, false) => 0,
            (Some(_), true) => 1,
            (None, true) => i32::from(first_plain),
        };
        if self.change_interest(account, &subject, queue.as_ref(), delta) {
            if let Some(client) = client {
                client.set_interest_pending(true);
            }
        }
        id
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
        if let Subscriber::Client(client) = &subscription.subscriber {
            client.subscriptions.borrow_mut().remove(&subscription.sid);
        }
        let last_plain = {
            let subscriptions = self.subscriptions.borrow();
            self.local.borrow_mut()[usize::from(subscription.account)].modify(
                &subscription.subject,
                |entries| {
                    entries.retain(|entry| entry.id != id);
                    advertised_plain(entries, &subscriptions) == 0
                },
            )
        };
        let delta = match (&subscription.queue, subscription.local_only) {
            (_, true) => 0,
            (Some(_), false) => -1,
            (None, false) => -i32::from(last_plain),
        };
        let changed = self.change_interest(
            subscription.account,
            &subscription.subject,
            subscription.queue.as_ref(),
            delta,
        );
        if let (true, Subscriber::Client(client)) = (changed, &subscription.subscriber) {
            client.set_interest_pending(true);
        }
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
    pub fn remove_client_subscriptions(&self, client: &Client) {
        let ids: Vec<SubId> = client.subscriptions.borrow().values().copied().collect();
        for id in ids {
            self.remove_subscription(id);
        }
    }

    /// Records a change in this shard's own interest and tells the other shards. Returns
    /// whether they were told.
    fn change_interest(
        &self,
        account: AccountId,
        pattern: &Bytes,
        queue: Option<&Bytes>,
        delta: i32,
    ) -> bool {
        let change = self
            .interest
            .borrow_mut()
            .own_change(account, pattern, queue, delta);
        let Some(change) = change else {
            return false;
        };
        self.broadcast_interest(&change);
        true
    }

    fn broadcast_interest(&self, change: &InterestChange) {
        {
            let mut outboxes = self.outboxes.borrow_mut();
            for (shard, outbox) in outboxes.iter_mut().enumerate() {
                if shard != usize::from(self.id) {
                    outbox.push_back(ShardMsg::Interest(InterestMsg::Change(change.clone())));
                }
            }
        }
        self.flush_outboxes();
    }

    /// Handles the interest plane's messages from another shard.
    pub(crate) fn handle_interest_msg(&self, msg: InterestMsg) {
        match msg {
            InterestMsg::Change(change) => {
                let mut interest = self.interest.borrow_mut();
                interest.apply(&change);
                if interest.take_large_growth() {
                    crate::memory::return_free_memory_to_the_kernel();
                }
            }
            InterestMsg::Barrier { origin, token } => {
                self.outboxes.borrow_mut()[usize::from(origin)]
                    .push_back(ShardMsg::Interest(InterestMsg::BarrierAck { token }));
            }
            InterestMsg::BarrierAck { token } => {
                if self.barriers.borrow_mut().acknowledge(token) {
                    if let Some(waiter) = self.barrier_waiters.borrow_mut().remove(&token) {
                        waiter.notify();
                    }
                }
            }
        }
    }

    /// Waits until every other shard has applied every interest change this shard sent
    /// before the call.
    pub async fn interest_barrier(&self) {
        let Some(token) = self.barriers.borrow_mut().start(self.shard_count - 1) else {
            return;
        };
        {
            let mut outboxes = self.outboxes.borrow_mut();
            for (shard, outbox) in outboxes.iter_mut().enumerate() {
                if shard != usize::from(self.id) {
                    outbox.push_back(ShardMsg::Interest(InterestMsg::Barrier {
                        origin: self.id,
                        token,
                    }));
                }
            }
        }
        let waiter = Rc::new(LocalNotify::default());
        self.barrier_waiters
            .borrow_mut()
            .insert(token, Rc::clone(&waiter));
        self.flush_outboxes();
        let acknowledged = async {
            while self.barriers.borrow().is_waiting(token) {
                waiter.notified().await;
            }
        };
        let _ = compio::time::timeout(BARRIER_TIMEOUT, acknowledged).await;
        self.barriers.borrow_mut().abandon(token);
        self.barrier_waiters.borrow_mut().remove(&token);
    }
}
