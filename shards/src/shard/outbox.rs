//! Outboxes and backpressure: messages for other shards wait here until their mesh queue
//! has room, and incoming ones are handled in bounded batches.
//!
//! A publisher waits for the outboxes to drain after each read batch, so a full queue stops
//! it from reading (TCP backpressure) instead of growing a buffer. Messages the shard makes
//! itself, outside a publisher's read loop (barrier acknowledgements, internal publishes),
//! are retried by a background task.

use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;

use super::routing::Handoffs;
use super::transmission::ShardMsg;
use super::Shard;
use crate::mesh::ShardId;

/// Messages handled from the mesh before the shard lets its connections run.
pub const MESH_BATCH_LIMIT: usize = 64;

impl Shard {
    /// Sends what a finished read batch routed: handoffs to the other shards' outboxes, in
    /// publish order, and messages to this shard's internal subscribers. `frozen` holds the
    /// batch's bytes, which the handoffs slice without copying.
    pub fn send_handoffs(&self, handoffs: Handoffs, frozen: &Bytes) {
        if handoffs.is_empty() {
            return;
        }
        let (per_shard, internal) = handoffs.resolve(frozen);
        if !per_shard.is_empty() {
            {
                let mut outboxes = self.outboxes.borrow_mut();
                for (shard, batch) in per_shard {
                    self.stats
                        .handoffs_out
                        .set(self.stats.handoffs_out.get() + batch.len() as u64);
                    outboxes[usize::from(shard)].push_back(ShardMsg::Data(batch));
                }
            }
            self.flush_outboxes();
        }
        for (subscriber, message) in internal {
            subscriber.deliver(self, &message);
        }
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

    pub(crate) fn outboxes_empty(&self) -> bool {
        self.outboxes.borrow().iter().all(VecDeque::is_empty)
    }

    /// Messages waiting in the outboxes (a gauge for monitoring).
    pub(crate) fn outbox_depth(&self) -> usize {
        self.outboxes.borrow().iter().map(VecDeque::len).sum()
    }

    /// Waits until the outboxes have drained into the mesh: a publisher calls this after each
    /// read batch, so a full queue stops it from reading (TCP backpressure) instead of
    /// growing.
    pub async fn wait_for_outbox_room(&self) {
        let mut pause = Duration::from_micros(20);
        while !self.outboxes_empty() {
            compio::time::sleep(pause).await;
            self.flush_outboxes();
            pause = (pause * 2).min(Duration::from_millis(1));
        }
    }

    /// Retries blocked outboxes in the background, until the shard stops and they are empty.
    pub async fn run_outbox_retry(self: Rc<Self>) {
        loop {
            self.outbox_blocked.notified().await;
            self.wait_for_outbox_room().await;
            if self.shutting_down.get() && self.outboxes_empty() {
                return;
            }
        }
    }

    /// Handles up to `limit` queued messages from other shards. Returns how many it handled.
    pub fn handle_incoming(&self, limit: usize) -> usize {
        let mut handled = 0;
        while handled < limit {
            let Some(msg) = self.mesh.borrow_mut().try_recv() else {
                break;
            };
            handled += 1;
            match msg {
                ShardMsg::Data(handoffs) => self.deliver_handoffs(handoffs),
                ShardMsg::Interest(msg) => self.handle_interest_msg(msg),
                ShardMsg::JetStream(msg) => {
                    let handler = self.jetstream_handler();
                    match handler {
                        Some(handler) => handler.handle(self, *msg),
                        None => tracing::debug!("JetStream message without JetStream: dropped"),
                    }
                }
            }
            // A stream that became too busy stops the intake here too (see `pause_input`).
            if self.input_paused() {
                break;
            }
        }
        handled
    }

    /// Whether other shards have sent something not handled yet.
    pub fn mesh_has_pending(&self) -> bool {
        self.mesh.borrow().has_pending()
    }

    /// Applies what other shards have already sent before a read batch is routed. Without
    /// this, a SUB processed on another shard a moment before this publish could still be
    /// waiting in the queue, a window far wider than the Go server's (where both connections
    /// share one subscription index); with it, the window is the same: the SUB must have been
    /// processed before the publish is.
    pub fn catch_up_with_mesh(&self) {
        if self.shard_count > 1 && !self.input_paused() && self.mesh_has_pending() {
            self.handle_incoming(usize::MAX);
        }
    }

    /// Handles messages from other shards while the spin-before-park window keeps the shard
    /// awake (the mesh task parks on its doorbell and nobody rings it then).
    pub(crate) fn poll_mesh_while_spinning(&self) {
        if !self.input_paused() && self.mesh_has_pending() {
            self.handle_incoming(MESH_BATCH_LIMIT);
            self.flush_dirty();
            self.flush_outboxes();
        }
    }
}
