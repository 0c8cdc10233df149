//! Acknowledgements and redelivery (Go's `processAck`, `processAckMsg`, `processNak`,
//! `processTerm`, `progressUpdate`, `checkPending`, `hasMaxDeliveries`, `moveAckFloor`),
//! and what a consumer does when the stream loses messages under it (`purge`,
//! `decStreamPending`, `checkAckFloor`) or is reset (`resetStartingSeq`).

use std::rc::Rc;

use bytes::Bytes;
use natrix_storage::StreamStore;

use super::machine::{Consumer, Env, RetentionAck, MILLISECOND_NS};
use super::wire::{AckKind, AckReplyInfo};
use crate::api::{
    AckPolicy, ConsumerAckMetric, DeliverPolicy, NakAdvisory, RetentionPolicy, TerminatedAdvisory,
    CONSUMER_ACK_METRIC_PREFIX, CONSUMER_NAKED_PREFIX, CONSUMER_TERMINATED_PREFIX,
};

/// Go's reason for a pending message the stream's limits removed.
pub(crate) const TERM_LIMITS_REASON: &str = "Message deleted by stream limits";

impl Consumer {
    /// A message on one of this consumer's ack subjects (Go's `processAck`). `reply` is the
    /// ack's own reply subject (a client waiting for the ack to be confirmed).
    pub fn ack<S: StreamStore>(
        &mut self,
        env: &mut Env<'_, '_, S>,
        info: AckReplyInfo,
        kind: AckKind,
        reply: Option<&str>,
    ) {
        let reply = reply.filter(|reply| !reply.is_empty());
        let (seq, dseq, count) = (info.stream_seq, info.consumer_seq, info.delivery_count);
        let mut answer = seq != 0;
        match kind {
            AckKind::Ack => {
                if !self.process_ack_msg(env, seq, dseq, count, reply, true) {
                    answer = false;
                }
            }
            AckKind::Next { request } => {
                self.process_ack_msg(env, seq, dseq, count, None, true);
                if let Some(reply) = reply {
                    self.next_request(env, reply, None, &[], &request);
                }
                answer = false;
            }
            AckKind::Nak { delay_ns } => self.process_nak(env, seq, dseq, count, delay_ns),
            AckKind::Progress => self.progress_update(env, seq),
            AckKind::Term { reason } => {
                if !self.process_term(env, seq, dseq, count, &reason, reply) {
                    answer = false;
                }
            }
            AckKind::Unknown => {}
        }
        if answer {
            if let Some(reply) = reply {
                self.answer_ack(env, reply);
            }
        }
        self.pump(env);
    }

    /// Answers an ack with a reply once the state that holds the ack is saved: at once if
    /// it already is, with the save in flight if that one holds it, else with the next.
    pub(crate) fn answer_ack<S: StreamStore>(&mut self, env: &mut Env<'_, '_, S>, reply: &str) {
        let persistence = &mut self.persistence;
        // Bounded: past this many waiting replies, answer at once (Go always does).
        let bound = usize::try_from(self.maxp.max(1024)).unwrap_or(usize::MAX);
        if persistence.disabled || persistence.replies_waiting.len() >= bound {
            env.publish(reply, None, Bytes::new(), Bytes::new());
        } else if persistence.dirty {
            persistence
                .replies_waiting
                .push((reply.to_owned(), Bytes::new()));
        } else if persistence.in_flight.is_some() {
            persistence
                .replies_in_flight
                .push((reply.to_owned(), Bytes::new()));
        } else {
            env.publish(reply, None, Bytes::new(), Bytes::new());
        }
    }

    /// Go's `processAckMsg`. Returns whether the caller answers an ack with a reply (Go's
    /// "acked in place"; for a limits stream Go answers inside, which here is the same: the
    /// reply waits for the save either way). An ack for a message not delivered yet is
    /// ignored without an answer.
    pub(crate) fn process_ack_msg<S: StreamStore>(
        &mut self,
        env: &mut Env<'_, '_, S>,
        seq: u64,
        dseq: u64,
        count: u64,
        reply: Option<&str>,
        sample: bool,
    ) -> bool {
        if self.closed {
            return false;
        }
        if seq >= self.sseq && !self.config.flow_control {
            return false;
        }
        let interest_stream = env.shared.stream.retention != RetentionPolicy::Limits;
        let now = env.now();
        let mut acked: Vec<(u64, Option<Rc<str>>)> = Vec::new();
        match self.config.ack_policy {
            AckPolicy::Explicit => {
                if let Some(pending) = self.pending.remove(&seq) {
                    if sample {
                        self.sample_ack(
                            env,
                            seq,
                            pending.consumer_seq,
                            count,
                            pending.timestamp_ns,
                        );
                    }
                    self.move_ack_floor(pending.consumer_seq, seq);
                    acked.push((seq, pending.subject));
                } else {
                    acked.push((seq, None));
                }
                self.rdc.remove(&seq);
                self.remove_from_redeliver_queue(seq);
            }
            AckPolicy::All | AckPolicy::FlowControl => {
                if dseq <= self.adflr || seq <= self.asflr {
                    return true;
                }
                let previous_floor = self.asflr;
                self.adflr = dseq;
                self.asflr = seq;
                let removed: Vec<u64> = self.pending.range(..=seq).map(|(seq, _)| *seq).collect();
                let mut lowest = seq;
                let mut subjects = std::collections::HashMap::new();
                for removed_seq in removed {
                    if let Some(pending) = self.pending.remove(&removed_seq) {
                        subjects.insert(removed_seq, pending.subject);
                    }
                    self.rdc.remove(&removed_seq);
                    self.remove_from_redeliver_queue(removed_seq);
                    lowest = lowest.min(removed_seq);
                }
                if interest_stream {
                    // Go acks every sequence from the lowest pending one to the acked one.
                    let from = if seq - previous_floor > 1 {
                        lowest
                    } else {
                        seq
                    };
                    for acked_seq in (from..=seq).rev() {
                        acked.push((acked_seq, subjects.remove(&acked_seq).flatten()));
                    }
                }
            }
            AckPolicy::None => return interest_stream,
        }
        self.mark_dirty();
        self.lat = Some(now);
        let _ = reply;
        if interest_stream {
            for (acked_seq, subject) in acked {
                self.retention_ack(env, acked_seq, subject);
            }
        }
        true
    }

    /// Hands an acknowledged sequence to the set's retention decision.
    pub(crate) fn retention_ack<S: StreamStore>(
        &self,
        env: &mut Env<'_, '_, S>,
        seq: u64,
        subject: Option<Rc<str>>,
    ) {
        env.shared.retention_acks.push(RetentionAck {
            consumer: self.name.clone(),
            seq,
            subject,
        });
    }

    /// Go's `moveAckFloor`: the floor follows an ack of the delivery just above it, up to the
    /// next pending delivery.
    pub(crate) fn move_ack_floor(&mut self, dseq: u64, seq: u64) {
        if self.pending.is_empty() {
            self.adflr = self.dseq - 1;
            self.asflr = self.delivered_stream_seq();
        } else if dseq == self.adflr + 1 {
            self.adflr = dseq;
            self.asflr = seq;
            if let Some((next_seq, next)) = self.pending.range(seq + 1..self.sseq).next() {
                if next.consumer_seq > 0 {
                    self.adflr = next.consumer_seq - 1;
                    self.asflr = next_seq - 1;
                }
            }
        }
    }

    /// Go's `sampleAck`: the ack metric for `sample_freq` percent of acks.
    fn sample_ack<S: StreamStore>(
        &self,
        env: &mut Env<'_, '_, S>,
        seq: u64,
        dseq: u64,
        count: u64,
        delivered_ns: i64,
    ) {
        let sampled = match self.sfreq {
            frequency if frequency <= 0 => false,
            frequency if frequency >= 100 => true,
            frequency => env.shared.ids.below(100) as i64 <= frequency,
        };
        if !sampled {
            return;
        }
        let delay = env.now() - delivered_ns;
        let domain = env.shared.options.domain.clone();
        env.event(
            CONSUMER_ACK_METRIC_PREFIX,
            &self.stream,
            &self.name,
            crate::api::CONSUMER_ACK_METRIC_TYPE,
            |event| ConsumerAckMetric {
                event,
                stream: self.stream.clone(),
                consumer: self.name.clone(),
                consumer_seq: dseq,
                stream_seq: seq,
                delay,
                deliveries: count,
                domain,
            },
        );
    }

    /// Go's `processNak`: redeliver now, or after the given delay.
    fn process_nak<S: StreamStore>(
        &mut self,
        env: &mut Env<'_, '_, S>,
        seq: u64,
        dseq: u64,
        count: u64,
        delay_ns: Option<i64>,
    ) {
        if dseq <= self.adflr || dseq > self.dseq || !self.pending.contains_key(&seq) {
            return;
        }
        let domain = env.shared.options.domain.clone();
        env.event(
            CONSUMER_NAKED_PREFIX,
            &self.stream,
            &self.name,
            crate::api::NAK_TYPE,
            |event| NakAdvisory {
                event,
                stream: self.stream.clone(),
                consumer: self.name.clone(),
                consumer_seq: dseq,
                stream_seq: seq,
                deliveries: count,
                domain,
            },
        );
        if let Some(delay) = delay_ns {
            self.remove_from_redeliver_queue(seq);
            let now = env.now();
            let ack_wait = self.config.ack_wait;
            if let Some(pending) = self.pending.get_mut(&seq) {
                // "now - ack wait" is due now, so the delay counts from there.
                pending.timestamp_ns = now.saturating_sub(ack_wait).saturating_add(delay);
                self.mark_dirty();
                if self.ptmr_at.is_some() {
                    self.ptmr_at = Some(now + 10 * MILLISECOND_NS);
                }
            }
            return;
        }
        self.add_to_redeliver_queue(seq);
    }

    /// Go's `progressUpdate`: `+WPI` restarts the ack wait.
    fn progress_update<S: StreamStore>(&mut self, env: &mut Env<'_, '_, S>, seq: u64) {
        let now = env.now();
        if let Some(pending) = self.pending.get_mut(&seq) {
            pending.timestamp_ns = now;
            self.mark_dirty();
        }
    }

    /// Go's `processTerm`: acknowledged, never redelivered, with the terminated advisory.
    pub(crate) fn process_term<S: StreamStore>(
        &mut self,
        env: &mut Env<'_, '_, S>,
        seq: u64,
        dseq: u64,
        count: u64,
        reason: &str,
        reply: Option<&str>,
    ) -> bool {
        let answered = self.process_ack_msg(env, seq, dseq, count, reply, false);
        let domain = env.shared.options.domain.clone();
        env.event(
            CONSUMER_TERMINATED_PREFIX,
            &self.stream,
            &self.name,
            crate::api::TERMINATED_TYPE,
            |event| TerminatedAdvisory {
                event,
                stream: self.stream.clone(),
                consumer: self.name.clone(),
                consumer_seq: dseq,
                stream_seq: seq,
                deliveries: count,
                reason: reason.to_owned(),
                domain,
            },
        );
        answered
    }

    /// Go's `hasMaxDeliveries`: a message at `max_deliver` leaves pending (with the advisory
    /// the first time).
    fn has_max_deliveries<S: StreamStore>(&mut self, env: &mut Env<'_, '_, S>, seq: u64) -> bool {
        if self.maxdc == 0 {
            return false;
        }
        let count = self.delivery_count(seq);
        if count < self.maxdc {
            return false;
        }
        if count == self.maxdc {
            self.notify_delivery_exceeded(env, seq, count);
        }
        if let Some(pending) = self.pending.remove(&seq) {
            self.mark_dirty();
            self.move_ack_floor(pending.consumer_seq, seq);
        }
        self.rdc.insert(seq, count);
        true
    }

    /// Go's `checkPending`: queue the deliveries whose ack wait (or backoff) passed.
    pub(crate) fn check_pending<S: StreamStore>(&mut self, env: &mut Env<'_, '_, S>) {
        let now = env.now();
        if self.closed || self.config.ack_wait == 0 {
            self.ptmr_at = None;
            return;
        }
        let first_seq = env.cx.store.state().first_seq;
        let backoff = self.config.backoff.clone();
        let mut next = match backoff.last() {
            Some(last) => *last,
            None => self.ack_wait(0),
        };
        let mut expired = Vec::new();
        let mut gone = Vec::new();
        for (seq, pending) in &self.pending {
            if *seq < first_seq || *seq <= self.asflr {
                gone.push((*seq, pending.consumer_seq));
                continue;
            }
            let elapsed = now.saturating_sub(pending.timestamp_ns);
            let mut deadline = self.config.ack_wait;
            if !backoff.is_empty() {
                let count =
                    usize::try_from(self.rdc.get(seq).copied().unwrap_or(0)).unwrap_or(usize::MAX);
                let (index, next_index) = if count + 1 >= backoff.len() {
                    (backoff.len() - 1, backoff.len() - 1)
                } else {
                    (count, count + 1)
                };
                deadline = backoff[index];
                next = next.min(backoff[next_index]);
            }
            if elapsed >= deadline {
                expired.push(*seq);
            } else if deadline.saturating_sub(elapsed) < next {
                next = deadline.saturating_sub(elapsed);
            }
        }
        for (seq, dseq) in gone {
            self.pending.remove(&seq);
            self.rdc.remove(&seq);
            self.remove_from_redeliver_queue(seq);
            self.asflr = self.asflr.max(seq);
            self.adflr = self.adflr.max(dseq);
            self.mark_dirty();
        }
        let mut queued = Vec::new();
        for seq in expired {
            if !self.rdqi.contains(&seq) && !self.has_max_deliveries(env, seq) {
                queued.push(seq);
            }
        }
        if let Some(first) = queued.first() {
            // Redeliveries keep their order: every expired timestamp moves by the same
            // offset, that of the oldest.
            let offset = self
                .pending
                .get(first)
                .map_or(0, |pending| now.saturating_sub(pending.timestamp_ns));
            for seq in &queued {
                self.add_to_redeliver_queue(*seq);
                if let Some(pending) = self.pending.get_mut(seq) {
                    pending.timestamp_ns = pending.timestamp_ns.saturating_add(offset);
                }
            }
        }
        if self.pending.is_empty() {
            self.ptmr_at = None;
            self.rdq.clear();
            self.rdqi.clear();
            self.adflr = self.dseq - 1;
            self.asflr = self.delivered_stream_seq();
        } else {
            self.ptmr_at = Some(now.saturating_add(next));
        }
        self.pump(env);
    }

    /// Go's `forceExpirePending`: every pending delivery is due now (a new deliver subject).
    pub(crate) fn force_expire_pending<S: StreamStore>(&mut self, env: &mut Env<'_, '_, S>) {
        let now = env.now();
        let seqs: Vec<u64> = self.pending.keys().copied().collect();
        let mut expired = Vec::new();
        for seq in seqs {
            if !self.rdqi.contains(&seq) && !self.has_max_deliveries(env, seq) {
                expired.push(seq);
            }
        }
        if let Some(first) = expired.first() {
            let offset = self
                .pending
                .get(first)
                .map_or(0, |pending| now.saturating_sub(pending.timestamp_ns));
            for seq in &expired {
                self.add_to_redeliver_queue(*seq);
                if let Some(pending) = self.pending.get_mut(seq) {
                    pending.timestamp_ns = pending.timestamp_ns.saturating_add(offset);
                }
            }
            self.ptmr_at = Some(now.saturating_add(self.ack_wait(0)));
        }
    }

    /// The stream was purged (Go's `purge`): `start` is the first sequence left for this
    /// consumer (0: everything up to `last_seq` went); `still_exists` is given for a consumer
    /// whose filters are wider than a purge by subject, whose pending deliveries above the
    /// floor may be gone or not.
    pub fn purged<S: StreamStore>(
        &mut self,
        env: &mut Env<'_, '_, S>,
        start: u64,
        last_seq: u64,
        still_exists: Option<&dyn Fn(u64) -> bool>,
    ) {
        self.unstage_all();
        self.generation += 1;
        self.eof_seq = None;
        let start = if start == 0 && still_exists.is_none() {
            last_seq + 1
        } else {
            start
        };
        if self.sseq < start {
            self.sseq = start;
        }
        if self.asflr < start {
            self.asflr = start - 1;
            let seqs: Vec<u64> = self.pending.keys().copied().collect();
            for seq in seqs {
                let gone = seq <= self.asflr || still_exists.is_some_and(|exists| !exists(seq));
                if !gone {
                    continue;
                }
                if let Some(pending) = self.pending.remove(&seq) {
                    if pending.consumer_seq > self.adflr {
                        self.adflr = pending.consumer_seq;
                        self.dseq = self.dseq.max(self.adflr);
                    }
                }
                self.rdc.remove(&seq);
            }
        }
        if self.pending.is_empty() {
            self.rdc.clear();
            self.adflr = self.dseq - 1;
            self.asflr = self.delivered_stream_seq();
        }
        let sseq = self.sseq;
        let queued: Vec<u64> = self.rdq.drain(..).filter(|seq| *seq >= sseq).collect();
        self.rdqi = queued.iter().copied().collect();
        self.rdq = queued.into();
        self.mark_dirty();
        self.stream_num_pending(env.cx.store);
        self.pump(env);
    }

    /// A message left the stream (Go's `decStreamPending`): a pending delivery of it is
    /// terminated, its redelivery count forgotten.
    pub fn removed<S: StreamStore>(&mut self, env: &mut Env<'_, '_, S>, seq: u64, subject: &str) {
        if seq >= self.sseq && self.matches(subject) {
            self.npc -= 1;
        }
        if let Some(pending) = self.pending.get(&seq) {
            let dseq = pending.consumer_seq;
            let count = self.delivery_count(seq);
            self.process_term(
                env,
                seq,
                dseq,
                count,
                "Unacknowledged message was deleted",
                None,
            );
        } else if self.rdc.remove(&seq).is_some() {
            self.mark_dirty();
        }
    }

    /// Go's `checkAckFloor`: pending deliveries below the stream's first sequence were
    /// removed by its limits; they are terminated, and a floor far behind is moved up.
    pub(crate) fn check_ack_floor<S: StreamStore>(&mut self, env: &mut Env<'_, '_, S>) {
        if self.asflr == 0 || self.closed {
            return;
        }
        let first_seq = env.cx.store.state().first_seq;
        if first_seq == 0 || self.asflr >= first_seq - 1 {
            return;
        }
        let below: Vec<(u64, u64)> = self
            .pending
            .range(..first_seq)
            .map(|(seq, pending)| (*seq, pending.consumer_seq))
            .collect();
        for (seq, dseq) in below {
            let count = self.delivery_count(seq);
            self.process_term(env, seq, dseq, count, TERM_LIMITS_REASON, None);
        }
        const MIN_OFF_THRESHOLD: u64 = 50;
        if first_seq >= MIN_OFF_THRESHOLD && self.asflr < first_seq - MIN_OFF_THRESHOLD {
            match self.pending.iter().next() {
                Some((seq, pending)) => {
                    self.asflr = seq - 1;
                    self.adflr = pending.consumer_seq - 1;
                }
                None => {
                    self.asflr = self.delivered_stream_seq().max(first_seq - 1);
                    self.adflr = self.dseq - 1;
                }
            }
            self.mark_dirty();
        }
    }

    /// Go's `resetStartingSeq`: back to the ack floor (`seq` 0) or to `seq`, forgetting
    /// pending deliveries. Errors are the text of `invalid reset: ...`.
    pub(crate) fn reset_starting_seq<S: StreamStore>(
        &mut self,
        env: &mut Env<'_, '_, S>,
        seq: u64,
        start_time_seq: impl FnOnce() -> u64,
    ) -> Result<u64, &'static str> {
        let seq = if seq == 0 {
            self.asflr + 1
        } else {
            match self.config.deliver_policy {
                DeliverPolicy::All => seq,
                DeliverPolicy::ByStartSequence if seq < self.config.opt_start_seq => {
                    return Err("below start seq");
                }
                DeliverPolicy::ByStartSequence => seq,
                DeliverPolicy::ByStartTime if seq < start_time_seq() => {
                    return Err("below start time");
                }
                DeliverPolicy::ByStartTime => seq,
                _ => return Err("not allowed"),
            }
        }
        .max(1);
        self.unstage_all();
        self.generation += 1;
        self.eof_seq = None;
        self.pending.clear();
        self.rdc.clear();
        self.rdq.clear();
        self.rdqi.clear();
        self.ptmr_at = None;
        self.sseq = seq;
        self.dseq = 1;
        self.adflr = 0;
        self.asflr = seq - 1;
        self.ldt = None;
        self.lat = None;
        self.lss = None;
        self.mark_dirty();
        self.stream_num_pending(env.cx.store);
        Ok(seq)
    }

    /// Go's `needAck`: whether this consumer still needs `seq` (for interest retention).
    /// `subject` is needed only when the consumer is filtered; `None` then means unknown.
    pub(crate) fn need_ack(&self, seq: u64, subject: Option<&str>, filtered: bool) -> Option<bool> {
        if filtered {
            match subject {
                Some(subject) if !self.matches(subject) => return Some(false),
                Some(_) => {}
                None => return None,
            }
        }
        let mut need = match self.config.ack_policy {
            AckPolicy::None | AckPolicy::All | AckPolicy::FlowControl => seq > self.asflr,
            AckPolicy::Explicit => {
                seq > self.asflr
                    && (seq >= self.first_undelivered_seq() || self.pending.contains_key(&seq))
            }
        };
        if !need {
            need = self.rdc.contains_key(&seq);
        }
        Some(need)
    }
}
