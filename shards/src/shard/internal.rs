//! Subscribers and publishers that are not sockets: handlers owned by the shard (the
//! JetStream API service, a stream capturing its subjects, a consumer, later a route).
//!
//! An internal subscription sits in the shard's index and the interest summary like a
//! client's, so publishes on any shard reach it with at most one mesh hop. Its handler gets
//! each message as a [`Message`] (subject, reply, headers and payload as shared `Bytes`),
//! without `MSG` framing and without a copy of the payload. An internal publisher publishes
//! into the same routing as a client, in an account; its messages keep their order to each
//! subscriber and obey the same interest rules.

use std::rc::Rc;

use bytes::Bytes;

use super::routing::Handoffs;
use super::subscriptions::{SubId, Subscriber, Subscription};
use super::Shard;
use crate::account::AccountId;
use crate::message::{Message, Publication};

/// A handler that receives the messages of internal subscriptions.
///
/// `deliver` runs on the shard's thread, with no borrow of the shard's state held: it may
/// publish, subscribe or unsubscribe. It must not block; work that waits (a store write)
/// goes to a task the handler spawns or feeds.
pub trait InternalSubscriber {
    fn deliver(&self, shard: &Shard, message: &Message);
}

impl Shard {
    /// Subscribes `handler` to `subject` (a valid pattern) in `account`, optionally in a queue
    /// group. The interest is visible on other shards once their queues deliver the change
    /// (await [`Shard::interest_barrier`] to be sure). Returns the id to unsubscribe with.
    pub fn subscribe_internal(
        &self,
        account: AccountId,
        subject: Bytes,
        queue: Option<Bytes>,
        handler: Rc<dyn InternalSubscriber>,
    ) -> SubId {
        self.insert_internal(account, subject, queue, handler, false)
    }

    /// Subscribes `handler` to `subject` for publishes made on this shard only: the
    /// subscription stays out of the interest summary. For services every shard runs (the
    /// JetStream API): a request is answered on the shard where it was published, with no
    /// hop, and a publish with no such service anywhere still gets no-responders.
    pub fn subscribe_internal_local(
        &self,
        account: AccountId,
        subject: Bytes,
        handler: Rc<dyn InternalSubscriber>,
    ) -> SubId {
        self.insert_internal(account, subject, None, handler, true)
    }

    fn insert_internal(
        &self,
        account: AccountId,
        subject: Bytes,
        queue: Option<Bytes>,
        handler: Rc<dyn InternalSubscriber>,
        local_only: bool,
    ) -> SubId {
        let id = self.subscriptions.borrow().vacant_key();
        self.insert_subscription(Subscription {
            subscriber: Subscriber::Internal(handler),
            account,
            subject,
            queue,
            sid: Bytes::from(format!("$internal.{id}")),
            max_msgs: 0,
            delivered: 0,
            local_only,
        })
    }

    /// Removes an internal subscription; ids of client subscriptions are refused.
    pub fn unsubscribe_internal(&self, id: SubId) -> bool {
        let internal = self
            .subscriptions
            .borrow()
            .get(id)
            .is_some_and(|subscription| matches!(subscription.subscriber, Subscriber::Internal(_)));
        if internal {
            self.remove_subscription(id);
        }
        internal
    }

    /// Whether a publish on `subject` in `account` reaches a subscriber: a subscription on
    /// this shard or on another one matches it in `account`, or in an account that a service
    /// import, a stream export or a service reply leads to (at most
    /// [`super::routing::MAX_ACCOUNT_HOPS`] deep, as routing goes). Subject mappings are not
    /// applied, as the Go server's sublist check does not apply them. Lets an internal
    /// publisher skip building messages nobody receives (advisories), and tells a push
    /// consumer whether its deliver subject has interest, whichever account subscribed.
    pub fn has_interest(&self, account: AccountId, subject: &[u8]) -> bool {
        self.has_interest_across(account, subject, 0)
    }

    fn has_interest_across(&self, account: AccountId, subject: &[u8], hops: usize) -> bool {
        if self.has_interest_in_account(account, subject) {
            return true;
        }
        let accounts = std::sync::Arc::clone(&self.config().accounts);
        if accounts.routes_directly(account) || hops >= super::routing::MAX_ACCOUNT_HOPS {
            return false;
        }
        if let Some((requester, reply)) = accounts.decode_reply(subject) {
            if self.has_interest_across(requester, reply, hops + 1) {
                return true;
            }
        }
        let linked = accounts.get(account);
        let services = linked
            .service_links
            .iter()
            .map(|link| (link.target, &link.transform));
        let streams = linked
            .stream_links
            .iter()
            .map(|link| (link.target, &link.transform));
        services.chain(streams).any(|(target, transform)| {
            transform.apply(subject).is_some_and(|linked_subject| {
                self.has_interest_across(target, &linked_subject, hops + 1)
            })
        })
    }

    /// Whether a subscription in `account` itself, on this shard or another, matches.
    fn has_interest_in_account(&self, account: AccountId, subject: &[u8]) -> bool {
        let local = self
            .local
            .borrow_mut()
            .get_mut(usize::from(account))
            .map(|index| index.matches(subject));
        if local.is_some_and(|local| !local.plain.is_empty() || !local.queues.is_empty()) {
            return true;
        }
        self.shard_count > 1
            && !self
                .interest
                .borrow_mut()
                .matches(account, subject)
                .is_empty()
    }

    /// Publishes messages from an internal publisher of this shard, in order, through the
    /// same routing as a client's publishes. Returns how many reached at least one
    /// subscriber.
    pub fn publish_internal(&self, messages: impl IntoIterator<Item = Message>) -> usize {
        let mut handoffs = Handoffs::new(self.shard_count);
        let mut delivered = 0;
        for message in messages {
            let publication = Publication::from_message(&message);
            if self.route_internal(&publication, &mut handoffs) {
                delivered += 1;
            }
        }
        // The messages own their bytes: nothing to freeze.
        self.send_handoffs(handoffs, &Bytes::new());
        self.flush_dirty();
        delivered
    }
}
