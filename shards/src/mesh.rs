//! The cross-shard mesh: one bounded lock-free queue per ordered pair of shards, one queue from
//! the control plane into each shard, and a doorbell per shard that wakes its runtime when it
//! has parked with empty queues.
//!
//! The mesh is generic in what it carries: `P` between shards (the shard's `ShardMsg`), `C`
//! from the control plane (the lifecycle's `ControlMsg`), so it knows nothing of either and
//! sits at the bottom of the crate's dependencies.
//!
//! Senders never block: a full queue hands the message back and the caller keeps it in its
//! outbox (see `shard/outbox.rs`). The doorbell follows the usual two-flag protocol: the
//! receiver arms it and re-checks its queues before sleeping; a sender disarms it after pushing
//! and wakes the receiver only if it was armed, so a busy receiver costs senders no wake-ups.

use std::sync::atomic::{fence, AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use atomic_waker::AtomicWaker;
use crossbeam_channel::{Receiver, Sender, TrySendError};

/// Index of a shard, `0..shard_count`.
pub type ShardId = u16;

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

/// One shard's ends of the queues between shards.
pub struct MeshEndpoint<P> {
    pub shard: ShardId,
    /// `senders[d]` carries messages to shard `d`; `None` for this shard itself.
    senders: Vec<Option<Sender<P>>>,
    doorbells: Vec<Arc<Doorbell>>,
    /// One receiver per other shard.
    receivers: Vec<Receiver<P>>,
    next_receiver: usize,
}

/// One shard's end of the control plane's queue. It rings the same doorbell as the mesh, so
/// a parked shard wakes for either.
pub struct ControlReceiver<C> {
    receiver: Receiver<C>,
}

/// The control plane's handle: it can send to every shard but receives nothing.
pub struct ControlHandle<C> {
    senders: Vec<Sender<C>>,
    doorbells: Vec<Arc<Doorbell>>,
}

impl<C> Clone for ControlHandle<C> {
    fn clone(&self) -> Self {
        ControlHandle {
            senders: self.senders.clone(),
            doorbells: self.doorbells.clone(),
        }
    }
}

impl<C> ControlHandle<C> {
    /// Sends a message made by `make` to every shard, waiting for room if a queue is full.
    pub fn broadcast(&self, make: impl Fn() -> C) {
        for (sender, doorbell) in self.senders.iter().zip(&self.doorbells) {
            // A disconnected shard has already exited; nothing to tell it.
            let _ = sender.send(make());
            doorbell.ring();
        }
    }

    /// Sends `msg` to one shard, waiting for room if its queue is full. Returns the message
    /// when the shard does not exist or has exited.
    pub fn send(&self, shard: ShardId, msg: C) -> Result<(), C> {
        let index = usize::from(shard);
        let (Some(sender), Some(doorbell)) = (self.senders.get(index), self.doorbells.get(index))
        else {
            return Err(msg);
        };
        sender.send(msg).map_err(|error| error.0)?;
        doorbell.ring();
        Ok(())
    }

    pub fn shard_count(&self) -> usize {
        self.senders.len()
    }
}

impl<C> ControlReceiver<C> {
    pub fn try_recv(&self) -> Option<C> {
        self.receiver.try_recv().ok()
    }

    pub fn has_pending(&self) -> bool {
        !self.receiver.is_empty()
    }
}

/// A shard's endpoints: its ends of the mesh and of the control queue.
pub type ShardEndpoints<P, C> = (MeshEndpoint<P>, ControlReceiver<C>);

/// Builds a full mesh for `shard_count` shards with `capacity` messages per queue.
pub fn build_mesh<P, C>(
    shard_count: usize,
    capacity: usize,
) -> (Vec<ShardEndpoints<P, C>>, ControlHandle<C>) {
    assert!(shard_count > 0 && shard_count <= usize::from(ShardId::MAX));
    let doorbells: Vec<Arc<Doorbell>> = (0..shard_count).map(|_| Arc::default()).collect();
    let mut endpoints: Vec<MeshEndpoint<P>> = (0..shard_count)
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
    let mut shards = Vec::with_capacity(shard_count);
    for endpoint in endpoints {
        let (sender, receiver) = crossbeam_channel::bounded(capacity);
        control_senders.push(sender);
        shards.push((endpoint, ControlReceiver { receiver }));
    }
    (
        shards,
        ControlHandle {
            senders: control_senders,
            doorbells,
        },
    )
}

impl<P> MeshEndpoint<P> {
    pub fn shard_count(&self) -> usize {
        self.senders.len()
    }

    /// Pushes `msg` to shard `to` without waking it; hands the message back if the queue is
    /// full. Call [`MeshEndpoint::ring`] once after a burst of sends.
    pub fn try_send(&self, to: ShardId, msg: P) -> Result<(), P> {
        let Some(Some(sender)) = self.senders.get(usize::from(to)) else {
            // Sending to oneself or to a shard that does not exist is a routing bug; refusing
            // here keeps the message and makes the bug visible in tests.
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
    pub fn try_recv(&mut self) -> Option<P> {
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

    /// Polls for incoming messages: ready when a queue is non-empty or `other_pending` says
    /// the control queue is, otherwise arms the doorbell and parks.
    pub fn poll_incoming(
        &self,
        context: &mut Context<'_>,
        other_pending: impl Fn() -> bool,
    ) -> Poll<()> {
        let pending = || self.has_pending() || other_pending();
        if pending() {
            return Poll::Ready(());
        }
        let doorbell = &self.doorbells[usize::from(self.shard)];
        doorbell.waker.register(context.waker());
        doorbell.armed.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        if pending() {
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
        let (mut endpoints, _control) = build_mesh::<u32, ()>(2, 1);
        let _second = endpoints.pop().expect("two endpoints");
        let (first, _) = endpoints.pop().expect("two endpoints");
        assert!(first.try_send(1, 1).is_ok());
        assert_eq!(first.try_send(1, 2), Err(2));
        assert_eq!(first.try_send(0, 3), Err(3), "no queue to oneself");
    }

    #[test]
    fn messages_from_one_shard_arrive_in_order() {
        let (mut endpoints, _control) = build_mesh::<u64, ()>(2, 64);
        let (mut second, _) = endpoints.pop().expect("two endpoints");
        let (first, _) = endpoints.pop().expect("two endpoints");
        for token in 0..50 {
            first.try_send(1, token).expect("room");
        }
        for expected in 0..50 {
            assert_eq!(second.try_recv(), Some(expected));
        }
        assert!(second.try_recv().is_none());
    }

    #[test]
    fn control_messages_reach_every_shard_on_their_own_queue() {
        let (endpoints, control) = build_mesh::<u64, &'static str>(3, 4);
        control.broadcast(|| "reload");
        assert!(control.send(1, "one").is_ok());
        assert_eq!(control.send(7, "none"), Err("none"));
        for (index, (mesh, receiver)) in endpoints.iter().enumerate() {
            assert!(!mesh.has_pending(), "peer queues stay empty");
            assert_eq!(receiver.try_recv(), Some("reload"));
            let expected = (index == 1).then_some("one");
            assert_eq!(receiver.try_recv(), expected);
        }
    }
}
