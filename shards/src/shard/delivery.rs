//! Delivery: a routed message reaches its subscribers on this shard.
//!
//! A client subscriber gets `MSG`/`HMSG` bytes appended to its outbound buffer (its writer is
//! woken once at the end of the step, see [`Shard::flush_dirty`]); a connection over
//! `max_pending` is cut as a slow consumer. An internal subscriber gets the [`crate::message::Message`]
//! itself, after every borrow of the shard's state is released, so that it may publish or
//! subscribe from its handler.

use std::rc::Rc;

use super::internal::InternalSubscriber;
use super::subscriptions::{LocalMatch, SubId, Subscriber, Subscription};
use super::Shard;
use crate::client::{Client, CloseReason};
use crate::message::{Handoff, MsgView};
use crate::protocol::ServerInfo;

impl Shard {
    /// Delivers the handoffs another shard sent to this shard's subscribers.
    pub(crate) fn deliver_handoffs(&self, handoffs: Vec<Handoff>) {
        let handoffs_in = &self.monitor.handoffs_in;
        handoffs_in.set(handoffs_in.get() + handoffs.len() as u64);
        for handoff in &handoffs {
            self.deliver_handoff(handoff);
        }
    }

    fn deliver_handoff(&self, handoff: &Handoff) {
        let message = &handoff.message;
        let Some(local) = self
            .local
            .borrow_mut()
            .get_mut(usize::from(message.account))
            .map(|index| index.matches(&message.subject))
        else {
            return;
        };
        let msg = message.view();
        let mut internal = Vec::new();
        if handoff.to_plain_subscribers {
            self.deliver_to_plain(&local, msg, None, &mut internal);
        }
        for group in &handoff.to_queue_groups {
            if let Some((_, members)) = local.queues.iter().find(|(name, _)| name == group) {
                self.deliver_to_one_member(members, msg, None, &mut internal);
            }
        }
        if !internal.is_empty() {
            let received = message.as_received();
            for subscriber in internal {
                subscriber.deliver(self, &received);
            }
        }
    }

    /// Delivers to every plain subscription in `local` (but the publisher's own without
    /// echo). Client subscribers get their copy now; internal ones are added to `internal`
    /// for the caller to hand the message to. Returns whether anyone receives it.
    pub(crate) fn deliver_to_plain(
        &self,
        local: &LocalMatch,
        msg: MsgView<'_>,
        publisher: Option<&Rc<Client>>,
        internal: &mut Vec<Rc<dyn InternalSubscriber>>,
    ) -> bool {
        let mut delivered = false;
        let mut finished = Vec::new();
        {
            let mut subscriptions = self.subscriptions.borrow_mut();
            for &id in &local.plain {
                let Some(subscription) = subscriptions.get_mut(id) else {
                    continue;
                };
                if !may_deliver(subscription, msg.subject, publisher) {
                    continue;
                }
                delivered = true;
                if self.deliver_to(subscription, msg, internal) {
                    finished.push(id);
                }
            }
        }
        for id in finished {
            self.remove_subscription(id);
        }
        delivered
    }

    /// Delivers to one member of a queue group, picked at random among those that may
    /// receive it. Returns whether one did.
    pub(crate) fn deliver_to_one_member(
        &self,
        members: &[SubId],
        msg: MsgView<'_>,
        publisher: Option<&Rc<Client>>,
        internal: &mut Vec<Rc<dyn InternalSubscriber>>,
    ) -> bool {
        let finished = {
            let mut subscriptions = self.subscriptions.borrow_mut();
            let eligible = |id: &&SubId| {
                subscriptions
                    .get(**id)
                    .is_some_and(|subscription| may_deliver(subscription, msg.subject, publisher))
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
            self.deliver_to(subscription, msg, internal).then_some(id)
        };
        if let Some(id) = finished {
            self.remove_subscription(id);
        }
        true
    }

    /// Queues `msg` for one subscription. Returns whether the subscription reached its
    /// auto-unsubscribe limit and must be removed.
    fn deliver_to(
        &self,
        subscription: &mut Subscription,
        msg: MsgView<'_>,
        internal: &mut Vec<Rc<dyn InternalSubscriber>>,
    ) -> bool {
        match &subscription.subscriber {
            Subscriber::Client(client) => {
                if client.is_closed() {
                    return false;
                }
                let pending = {
                    let mut outbound = client.outbound.borrow_mut();
                    outbound.push_msg(msg, &subscription.sid, client.headers());
                    outbound.pending_bytes()
                };
                let size = msg.payload.len() as u64;
                self.stats.out_msgs.set(self.stats.out_msgs.get() + 1);
                self.stats.out_bytes.set(self.stats.out_bytes.get() + size);
                let client_stats = &client.stats;
                client_stats.out_msgs.set(client_stats.out_msgs.get() + 1);
                client_stats
                    .out_bytes
                    .set(client_stats.out_bytes.get() + size);
                self.queued_for(client, pending);
                if let Some(reply) = msg.reply {
                    client.note_delivered_reply(reply);
                }
            }
            Subscriber::Internal(handler) => internal.push(Rc::clone(handler)),
        }
        subscription.delivered += 1;
        subscription.max_msgs != 0 && subscription.delivered >= subscription.max_msgs
    }

    /// Sends the no-responders status to `requester` through its own subscription on `reply`.
    pub fn send_no_responders(&self, requester: &Rc<Client>, reply: &[u8], subject: &[u8]) {
        let Some(local) = self
            .local
            .borrow_mut()
            .get_mut(usize::from(requester.account()))
            .map(|index| index.matches(reply))
        else {
            return;
        };
        let subscriptions = self.subscriptions.borrow();
        let own = local
            .plain
            .iter()
            .filter_map(|&id| subscriptions.get(id))
            .find(|subscription| subscription.subscriber.is_client(requester));
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

    /// Queues a protocol line (PONG, +OK, -ERR, PING, INFO) for `client`. Lines count
    /// against `max_pending` like messages do, so a client that sends PINGs and never reads
    /// cannot grow the buffer.
    pub fn send_line(&self, client: &Rc<Client>, line: &[u8]) {
        let pending = {
            let mut outbound = client.outbound.borrow_mut();
            outbound.push_raw(line);
            outbound.pending_bytes()
        };
        self.queued_for(client, pending);
    }

    /// Queues an INFO update built from the server's template (lame duck mode, the
    /// connect_info INFO).
    pub fn send_info_update(&self, client: &Rc<Client>, mut info: ServerInfo) {
        info.client_id = client.id;
        info.client_ip = client.peer.ip().to_string();
        if let Some(websocket) = &client.websocket {
            websocket.adjust_info(&mut info);
        }
        self.send_line(client, &info.line());
    }

    /// Called after queueing output for `client`: closes it as a slow consumer when its
    /// pending bytes exceed `max_pending`, else schedules one flush for this step.
    pub fn queued_for(&self, client: &Rc<Client>, pending_bytes: usize) {
        if pending_bytes > self.max_pending.get() {
            self.close_client(client, CloseReason::SlowConsumerPendingBytes);
        } else {
            self.mark_dirty(client);
        }
    }

    /// Marks a connection for one flush at the end of the current step.
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
        if reason.is_slow_consumer() {
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
}

/// Whether `subscription` may receive a message on `subject` published by `publisher`: not
/// the publisher's own subscription unless it asked for echo, not one its subscribe deny
/// list forbids.
#[inline]
fn may_deliver(
    subscription: &Subscription,
    subject: &[u8],
    publisher: Option<&Rc<Client>>,
) -> bool {
    match &subscription.subscriber {
        Subscriber::Client(client) => {
            let own = publisher.is_some_and(|publisher| Rc::ptr_eq(publisher, client));
            (!own || client.echo()) && client.may_receive(subject, subscription.queue.as_deref())
        }
        Subscriber::Internal(_) => true,
    }
}
