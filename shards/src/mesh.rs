//! The cross-shard mesh: one bounded lock-free queue per ordered pair of shards, plus a
//! doorbell per shard that wakes its runtime when it has parked with empty queues.
//!
//! Senders never block: a full queue hands the message back and the caller keeps it in its
//! outbox (see `shard.rs`). The doorbell follows the usual two-flag protocol: the receiver arms
//! it and re-checks its queues before sleeping; a sender disarms it after pushing and wakes the
//! receiver only if it was armed, so a busy receiver costs senders no wake-ups at all.

use std::sync::atomic::{fence, AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use atomic_waker::AtomicWaker;
use bytes::Bytes;
use crossbeam_channel::{Receiver, Sender, TrySendError};

use crate::account::AccountId;
use crate::monitor::SnapshotRequest;

/// Index of a shard, `0..shard_count`.
pub type ShardId = u16;

/// A message published on one shard for subscribers on another.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The account whose subscribers receive it (the subject space it is matched in).
    pub account: AccountId,
    pub subject: Bytes,
    pub reply: Option<Bytes>,
    /// Headers and body; the first `header_len` bytes are the headers.
    pub payload: Bytes,
    pub header_len: usize,
    /// Deliver to every plain (non-queue) subscription that matches.
    pub to_plain_subscribers: bool,
    /// Queue groups for which the receiving shard must pick exactly one local member.
    pub to_queue_groups: Vec<Bytes>,
}

/// A change in one shard's interest in a pattern, for the replicated summary.
#[derive(Debug, Clone)]
pub struct InterestChange {
    pub origin: ShardId,
    pub account: AccountId,
    pub pattern: Bytes,
    pub queue: Option<Bytes>,
    /// +1 or -1 for plain interest (sent only on first/last local subscription); the member
    /// count change for queue groups, so other shards can weigh their picks.
    pub delta: i32,
}

/// Everything that crosses between shards.
#[derive(Debug)]
pub enum ShardMsg {
    /// The deliveries of one read batch of one connection, in publish order.
    Deliver(Vec<Delivery>),
    Interest(InterestChange),
    /// Asks the receiver to acknowledge once it has applied every earlier message from
    /// `origin`; used to answer a PING only after interest changes are visible everywhere.
    Barrier {
        origin: ShardId,
        token: u64,
    },
    BarrierAck {
        token: u64,
    },
    /// Sent by the control plane: stop accepting, flush and close connections, exit.
    Shutdown,
    /// Sent by the control plane after SIGHUP: swap in the new configuration and check every
    /// connection against it.
    Reload(std::sync::Arc<crate::shard::Reload>),
    /// Lame duck mode (SIGUSR2): stop accepting, tell clients (INFO `ldm`), wait `grace`, then
    /// close this shard's clients spread over `spread`; report on `done` once they are gone.
    LameDuck {
        grace: std::time::Duration,
        spread: std::time::Duration,
        done: std::sync::mpsc::Sender<()>,
    },
    /// Sent by the control plane (monitoring): answer with a snapshot of the shard's state.
    Snapshot(SnapshotRequest),
}

/// Wakes a parked shard runtime from another thread.
#[derive(Default)]
pub struct Doorbell {
    armed: AtomicBool,
    waker: AtomicWaker,
}

impl Doorbell {
    /// Called by senders after pushing: wakes the receiver if it was parked.
    pub fn ring(&self) {
        fence(Ordering::SeqCst);
        if self.armed.swap(false, Ordering::SeqCst) {
            self.waker.wake();
        }
    }
}

/// One shard's ends of the mesh.
pub struct MeshEndpoint {
    pub shard: ShardId,
    /// `senders[d]` carries messages to shard `d`; `None` for this shard itself.
    senders: Vec<Option<Sender<ShardMsg>>>,
    doorbells: Vec<Arc<Doorbell>>,
    /// One receiver per other shard, plus the control plane's.
    receivers: Vec<Receiver<ShardMsg>>,
    next_receiver: usize,
}

/// The control plane's handle: it can send to every shard but receives nothing.
#[derive(Clone)]
pub struct ControlHandle {
    senders: Vec<Sender<ShardMsg>>,
    doorbells: Vec<Arc<Doorbell>>,
}

impl ControlHandle {
    /// Sends `msg` to every shard, waiting for room if a queue is full.
    pub fn broadcast(&self, make: impl Fn() -> ShardMsg) {
        for (sender, doorbell) in self.senders.iter().zip(&self.doorbells) {
            // A disconnected shard has already exited; nothing to tell it.
            let _ = sender.send(make());
            doorbell.ring();
        }
    }
}

/// Builds a full mesh for `shard_count` shards with `capacity` messages per queue.
pub fn build_mesh(shard_count: usize, capacity: usize) -> (Vec<MeshEndpoint>, ControlHandle) {
    assert!(shard_count > 0 && shard_count <= usize::from(ShardId::MAX));
    let doorbells: Vec<Arc<Doorbell>> = (0..shard_count).map(|_| Arc::default()).collect();
    let mut endpoints: Vec<MeshEndpoint> = (0..shard_count)
        .map(|shard| MeshEndpoint {
            shard: shard as ShardId,
            senders: Vec::with_capacity(shard_count),
            doorbells: doorbells.clone(),
            receivers: Vec::with_capacity(shard_count),
            next_receiver: 0,
        })
        .collect();
    for from in 0..shard_count {
        for to in 0..shard_count {
            if from == to {
                endpoints[from].senders.push(None);
                continue;
            }
            let (sender, receiver) = crossbeam_channel::bounded(capacity);
            endpoints[from].senders.push(Some(sender));
            endpoints[to].receivers.push(receiver);
        }
    }
    let mut control_senders = Vec::with_capacity(shard_count);
    for endpoint in endpoints.iter_mut() {
        let (sender, receiver) = crossbeam_channel::bounded(capacity);
        control_senders.push(sender);
        endpoint.receivers.push(receiver);
    }
    (
        endpoints,
        ControlHandle {
            senders: control_senders,
            doorbells,
        },
    )
}

impl MeshEndpoint {
    pub fn shard_count(&self) -> usize {
        self.senders.len()
    }

    /// Pushes `msg` to shard `to` without waking it; hands the message back if the queue is
    /// full. Call [`MeshEndpoint::ring`] once after a burst of sends.
    pub fn try_send(&self, to: ShardId, msg: ShardMsg) -> Result<(), ShardMsg> {
        let Some(Some(sender)) = self.senders.get(usize::from(to)) else {
            // Sending to oneself or to a shard that does not exist is a routing bug; refusing
            // here keeps the message and makes the bug visible in tests through validate().
            return Err(msg);
        };
        sender.try_send(msg).map_err(|error| match error {
            TrySendError::Full(msg) | TrySendError::Disconnected(msg) => msg,
        })
    }

    /// Wakes shard `to` if it is parked.
    pub fn ring(&self, to: ShardId) {
        if let Some(doorbell) = self.doorbells.get(usize::from(to)) {
            doorbell.ring();
        }
    }

    /// Takes one message from the incoming queues, visiting them round-robin for fairness.
    pub fn try_recv(&mut self) -> Option<ShardMsg> {
        let count = self.receivers.len();
        for step in 0..count {
            let index = (self.next_receiver + step) % count;
            if let Ok(msg) = self.receivers[index].try_recv() {
                self.next_receiver = (index + 1) % count;
                return Some(msg);
            }
        }
        None
    }

    /// Messages waiting in this shard's incoming queues (a gauge for monitoring).
    pub fn queued(&self) -> usize {
        self.receivers.iter().map(Receiver::len).sum()
    }

    pub fn has_pending(&self) -> bool {
        self.receivers.iter().any(|receiver| !receiver.is_empty())
    }

    /// Polls for incoming messages: ready when a queue is non-empty, otherwise arms the
    /// doorbell and parks.
    pub fn poll_incoming(&self, context: &mut Context<'_>) -> Poll<()> {
        if self.has_pending() {
            return Poll::Ready(());
        }
        let doorbell = &self.doorbells[usize::from(self.shard)];
        doorbell.waker.register(context.waker());
        doorbell.armed.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        if self.has_pending() {
            doorbell.armed.store(false, Ordering::SeqCst);
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_queue_hands_the_message_back() {
        let (mut endpoints, _control) = build_mesh(2, 1);
        let second = endpoints.pop().expect("two endpoints");
        let first = endpoints.pop().expect("two endpoints");
        assert!(first.try_send(1, ShardMsg::BarrierAck { token: 1 }).is_ok());
        let refused = first.try_send(1, ShardMsg::BarrierAck { token: 2 });
        assert!(matches!(refused, Err(ShardMsg::BarrierAck { token: 2 })));
        assert!(
            first.try_send(0, ShardMsg::Shutdown).is_err(),
            "no queue to oneself"
        );
        drop(second);
    }

    #[test]
    fn messages_from_one_shard_arrive_in_order() {
        let (mut endpoints, _control) = build_mesh(2, 64);
        let mut second = endpoints.pop().expect("two endpoints");
        let first = endpoints.pop().expect("two endpoints");
        for token in 0..50 {
            first
                .try_send(1, ShardMsg::BarrierAck { token })
                .expect("room");
        }
        for expected in 0..50 {
            let Some(ShardMsg::BarrierAck { token }) = second.try_recv() else {
                panic!("missing message {expected}");
            };
            assert_eq!(token, expected);
        }
        assert!(second.try_recv().is_none());
    }
}
