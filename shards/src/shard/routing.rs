//! Routing a publication: who receives it, decided on the publisher's shard.
//!
//! Within an account, the shard matches the subject against its own index (client
//! subscribers get their copy at once, internal subscribers when the batch is frozen) and
//! against the interest summary (one [`Handoffs`] entry per other interested shard; one member
//! per queue group server-wide, weighted by member counts). An account with mappings or links
//! (imports and exports) first maps the subject, then follows service responses, service
//! imports and stream exports into the other accounts, at most [`MAX_ACCOUNT_HOPS`] deep.

use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;

use super::internal::InternalSubscriber;
use super::Shard;
use crate::account::AccountId;
use crate::client::Client;
use crate::interest::Destination;
use crate::mesh::ShardId;
use crate::message::{Handoff, Message, Publication, Spans};

/// Links through imports may lead back into an account that exports again; a publish
/// follows at most this many hops, so a cycle in the configuration cannot loop forever.
pub(crate) const MAX_ACCOUNT_HOPS: usize = 4;

/// What one read batch (or one internal publish) routed beyond the client subscribers it
/// served at once, waiting for the batch's bytes to be frozen: handoffs per destination shard,
/// and messages for this shard's internal subscribers.
pub struct Handoffs {
    /// Per destination shard, chunks of at most [`HANDOFF_CHUNK`] handoffs (the last one is
    /// being filled).
    per_shard: Vec<Vec<Vec<PendingHandoff>>>,
    internal: Vec<(Rc<dyn InternalSubscriber>, PendingMessage)>,
    is_empty: bool,
}

/// The most handoffs one mesh message carries. A read batch of small messages routes
/// thousands; collected into one vector per shard it grew past glibc's mmap threshold, and
/// each batch then cost an mmap, two mremaps, a munmap and fresh page faults (measured with
/// strace and perf on cross-shard pub/sub: 2.4x the page faults, +30% CPU per message).
/// Chunks this size (about 40 KB) are reused from the allocator's free lists.
pub const HANDOFF_CHUNK: usize = 256;

/// A batch's handoffs with their bytes: per destination shard (a shard may appear several
/// times, in publish order), and per internal subscriber.
pub(crate) type ResolvedHandoffs = (
    Vec<(ShardId, Vec<Handoff>)>,
    Vec<(Rc<dyn InternalSubscriber>, Message)>,
);

/// A message whose bytes are still spans of the read batch.
struct PendingMessage {
    account: AccountId,
    spans: Spans,
    header_len: usize,
    shown_subject: Option<Bytes>,
}

impl PendingMessage {
    fn of(publication: &Publication<'_>) -> Self {
        PendingMessage {
            account: publication.account,
            spans: publication.spans.clone(),
            header_len: publication.header_len,
            shown_subject: publication.shown_subject.cloned(),
        }
    }

    fn resolve(self, frozen: &Bytes) -> Message {
        Message {
            account: self.account,
            subject: self.spans.subject.resolve(frozen),
            reply: self.spans.reply.map(|reply| reply.resolve(frozen)),
            payload: self.spans.payload.resolve(frozen),
            header_len: self.header_len,
            shown_subject: self.shown_subject,
        }
    }
}

struct PendingHandoff {
    message: PendingMessage,
    to_plain_subscribers: bool,
    to_queue_groups: Vec<Bytes>,
}

impl Handoffs {
    pub fn new(shard_count: usize) -> Self {
        Handoffs {
            per_shard: (0..shard_count).map(|_| Vec::new()).collect(),
            internal: Vec::new(),
            is_empty: true,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.is_empty
    }

    /// The handoff to `shard` for this publication: the last one if it is the same message
    /// (plain interest and several queue groups share one), else a new one.
    fn target(&mut self, shard: ShardId, publication: &Publication<'_>) -> &mut PendingHandoff {
        self.is_empty = false;
        let chunks = &mut self.per_shard[usize::from(shard)];
        let same_message = chunks
            .last()
            .and_then(|chunk| chunk.last())
            .is_some_and(|last| {
                last.message.account == publication.account
                    && last.message.spans.same_message(&publication.spans)
            });
        if !same_message {
            if chunks
                .last()
                .is_none_or(|chunk| chunk.len() >= HANDOFF_CHUNK)
            {
                chunks.push(Vec::with_capacity(HANDOFF_CHUNK));
            }
            let Some(pending) = chunks.last_mut() else {
                unreachable!("a chunk was just pushed");
            };
            pending.push(PendingHandoff {
                message: PendingMessage::of(publication),
                to_plain_subscribers: false,
                to_queue_groups: Vec::new(),
            });
        }
        let Some(last) = chunks.last_mut().and_then(|chunk| chunk.last_mut()) else {
            unreachable!("the handoff was just found or pushed");
        };
        last
    }

    fn internal(&mut self, subscriber: Rc<dyn InternalSubscriber>, publication: &Publication<'_>) {
        self.is_empty = false;
        self.internal
            .push((subscriber, PendingMessage::of(publication)));
    }

    /// Gives every handoff its bytes, now that the batch is frozen into `frozen`: the
    /// messages for each other shard in publish order, and those for internal subscribers.
    pub(crate) fn resolve(self, frozen: &Bytes) -> ResolvedHandoffs {
        let per_shard = self
            .per_shard
            .into_iter()
            .enumerate()
            .flat_map(|(shard, chunks)| {
                chunks.into_iter().map(move |chunk| {
                    let handoffs = chunk
                        .into_iter()
                        .map(|pending| Handoff {
                            message: pending.message.resolve(frozen),
                            to_plain_subscribers: pending.to_plain_subscribers,
                            to_queue_groups: pending.to_queue_groups,
                        })
                        .collect();
                    (shard as ShardId, handoffs)
                })
            })
            .collect();
        let internal = self
            .internal
            .into_iter()
            .map(|(subscriber, pending)| {
                // An internal subscriber sees the subject a client would see.
                let message = pending.resolve(frozen);
                let message = match message.as_received() {
                    std::borrow::Cow::Borrowed(_) => message,
                    std::borrow::Cow::Owned(received) => received,
                };
                (subscriber, message)
            })
            .collect();
        (per_shard, internal)
    }
}

impl Shard {
    /// Routes one message a client published on this shard. Returns whether anyone will
    /// receive it.
    pub fn route_publish(
        &self,
        publisher: &Rc<Client>,
        publication: &Publication<'_>,
        handoffs: &mut Handoffs,
    ) -> bool {
        if publisher.direct_routing() {
            return self.route_in_account(Some(publisher), publication, handoffs);
        }
        self.route_across_accounts(Some(publisher), publication, handoffs, 0)
    }

    /// Routes a message an internal publisher of this shard published, as a client's
    /// publish would be routed (no echo rules, no permissions).
    pub(crate) fn route_internal(
        &self,
        publication: &Publication<'_>,
        handoffs: &mut Handoffs,
    ) -> bool {
        if self.config().accounts.routes_directly(publication.account) {
            return self.route_in_account(None, publication, handoffs);
        }
        self.route_across_accounts(None, publication, handoffs, 0)
    }

    /// The routing of an account with mappings or links: maps the subject, delivers in the
    /// account, then follows service responses, service imports and stream exports into
    /// other accounts.
    fn route_across_accounts(
        &self,
        publisher: Option<&Rc<Client>>,
        publication: &Publication<'_>,
        handoffs: &mut Handoffs,
        hops: usize,
    ) -> bool {
        let accounts = Arc::clone(&self.config().accounts);
        let account = accounts.get(publication.account);
        if let Some(mapped) = account.mappings.map(publication.subject) {
            let mapped = Bytes::from(mapped);
            let publication = publication.with_subject(publication.account, &mapped);
            return self.route_mapped(publisher, &publication, handoffs, hops);
        }
        self.route_mapped(publisher, publication, handoffs, hops)
    }

    fn route_mapped(
        &self,
        publisher: Option<&Rc<Client>>,
        publication: &Publication<'_>,
        handoffs: &mut Handoffs,
        hops: usize,
    ) -> bool {
        let accounts = Arc::clone(&self.config().accounts);
        let account = accounts.get(publication.account);
        let mut delivered = self.route_in_account(publisher, publication, handoffs);
        if hops >= MAX_ACCOUNT_HOPS {
            return delivered;
        }
        if let Some((requester, reply)) = accounts.decode_reply(publication.subject) {
            let reply = Bytes::copy_from_slice(reply);
            let response = publication.with_subject(requester, &reply);
            delivered |= self.route_across_accounts(publisher, &response, handoffs, hops + 1);
        }
        for link in &account.service_links {
            let Some(subject) = link.transform.apply(publication.subject) else {
                continue;
            };
            let subject = Bytes::from(subject);
            let reply = publication
                .reply
                .map(|reply| Bytes::from(accounts.encode_reply(publication.account, reply)));
            let request = publication
                .with_subject(link.target, &subject)
                .with_reply(reply.as_ref());
            delivered |= self.route_across_accounts(publisher, &request, handoffs, hops + 1);
        }
        for link in &account.stream_links {
            let Some(subject) = link.transform.apply(publication.subject) else {
                continue;
            };
            let subject = Bytes::from(subject);
            let imported = publication.with_subject(link.target, &subject);
            delivered |= self.route_across_accounts(publisher, &imported, handoffs, hops + 1);
        }
        delivered
    }

    /// Delivers within one account: client subscribers on this shard at once, internal
    /// subscribers and other shards through `handoffs`.
    fn route_in_account(
        &self,
        publisher: Option<&Rc<Client>>,
        publication: &Publication<'_>,
        handoffs: &mut Handoffs,
    ) -> bool {
        let account = usize::from(publication.account);
        let Some(local) = self
            .local
            .borrow_mut()
            .get_mut(account)
            .map(|index| index.matches(publication.subject))
        else {
            return false;
        };
        let msg = publication.view();
        let mut internal = Vec::new();
        let mut delivered = self.deliver_to_plain(&local, msg, publisher, &mut internal);
        let remote = (self.shard_count > 1).then(|| {
            self.interest
                .borrow_mut()
                .matches(publication.account, publication.subject)
        });
        match remote {
            None => {
                for (_, members) in &local.queues {
                    delivered |= self.deliver_to_one_member(members, msg, publisher, &mut internal);
                }
            }
            Some(remote) => {
                for destination in remote.plain.iter() {
                    match destination {
                        Destination::Shard(shard) if shard == self.id => {}
                        Destination::Shard(shard) => {
                            handoffs.target(shard, publication).to_plain_subscribers = true;
                            delivered = true;
                        }
                    }
                }
                for (group, members) in remote.queues() {
                    match self.pick_weighted(members) {
                        None => {}
                        Some(Destination::Shard(shard)) if shard == self.id => {
                            if let Some((_, local_members)) =
                                local.queues.iter().find(|(name, _)| name == group)
                            {
                                delivered |= self.deliver_to_one_member(
                                    local_members,
                                    msg,
                                    publisher,
                                    &mut internal,
                                );
                            }
                        }
                        Some(Destination::Shard(shard)) => {
                            handoffs
                                .target(shard, publication)
                                .to_queue_groups
                                .push(group.clone());
                            delivered = true;
                        }
                    }
                }
            }
        }
        if !internal.is_empty() {
            for subscriber in internal {
                handoffs.internal(subscriber, publication);
            }
        }
        delivered
    }

    /// Picks one destination, each weighted by its member count.
    fn pick_weighted(&self, members: &[(Destination, u32)]) -> Option<Destination> {
        let total: u64 = members.iter().map(|(_, count)| u64::from(*count)).sum();
        if total == 0 {
            return None;
        }
        let mut pick = self.random_below(total);
        for (destination, count) in members {
            if pick < u64::from(*count) {
                return Some(*destination);
            }
            pick -= u64::from(*count);
        }
        None
    }
}
