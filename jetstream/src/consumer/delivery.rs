//! Delivery (Go's `loopAndGatherMsgs`, `getNextMsg` and `deliverMsg`), as steps instead of
//! a loop: [`Consumer::pump`] delivers what is loaded and asks for the next load; the load's
//! result comes back through [`Consumer::loaded`]. Redeliveries go first, then the skip list
//! of `last_per_subject`, then new messages up to `max_ack_pending`. Replay pace, rate
//! limit, flow control and push idle heartbeats live here too.

use bytes::Bytes;
use natrix_storage::{StoreError, StoredMessage, StreamStore};

use super::machine::{
    Consumer, Env, InFlightLoad, LoadKind, SkipList, Staged, MILLISECOND_NS, SECOND_NS,
};
use super::status;
use super::wire::{self, AckReplyInfo};
use super::{Action, LoadRequest};
use crate::api::{AckPolicy, MaxDeliverAdvisory, RetentionPolicy, CONSUMER_MAX_DELIVERIES_PREFIX};

/// Why no load was started.
enum LoadStart {
    /// A load is on its way.
    Issued,
    /// Nothing to load; `end_of_stream` is false when only `max_ack_pending` stops delivery.
    Nothing { end_of_stream: bool },
    /// The redelivery queue changed without a load (max deliveries reached): look again.
    Again,
}

/// The waiting request a pull delivery goes to, as it is after the message.
pub(crate) struct Target {
    pub subject: String,
    pub remaining: i64,
    pub bytes_remaining: i64,
}

impl Consumer {
    /// Delivers what can be delivered now and starts the next load if one is needed.
    pub fn pump<S: StreamStore>(&mut self, env: &mut Env<'_, '_, S>) {
        if self.closed || self.start_search.is_some() {
            return;
        }
        loop {
            let now = env.now();
            if self.is_paused(now) {
                return;
            }
            if self.is_push() {
                if !self.active || (self.maxpb > 0 && self.pbytes > self.maxpb) {
                    return;
                }
            } else if self.waiting.as_ref().is_none_or(|queue| queue.is_empty()) {
                self.unstage_all();
                self.wait_for_messages(env, true);
                return;
            }
            if !self.staged.is_empty() {
                if !self.deliver_staged(env) {
                    return;
                }
                continue;
            }
            if self.load.is_some() || self.load_retry_at.is_some_and(|at| now < at) {
                return;
            }
            self.load_retry_at = None;
            match self.start_load(env) {
                LoadStart::Issued => return,
                LoadStart::Nothing { end_of_stream } => {
                    self.wait_for_messages(env, end_of_stream);
                    return;
                }
                LoadStart::Again => continue,
            }
        }
    }

    /// Go's `waitForMsgs`: leave replay once caught up, and settle the waiting pull
    /// requests (expiry, interest, heartbeats; at the end of the stream, `no_wait` requests
    /// end with `404 No Messages`).
    fn wait_for_messages<S: StreamStore>(&mut self, env: &mut Env<'_, '_, S>, end_of_stream: bool) {
        if self.replay && self.sseq > self.replay_until_seq {
            self.replay = false;
        }
        if self.is_pull() {
            self.process_waiting(env, end_of_stream);
        }
    }

    /// How many messages one load asks for: what the waiting requests want (pull), bounded
    /// by the set's load size.
    fn load_budget(&self, limit: usize) -> usize {
        let wanted = match &self.waiting {
            Some(queue) => queue
                .iter()
                .map(|request| usize::try_from(request.remaining.max(1)).unwrap_or(1))
                .fold(0usize, usize::saturating_add),
            None => limit,
        };
        wanted.clamp(1, limit.max(1))
    }

    fn start_load<S: StreamStore>(&mut self, env: &mut Env<'_, '_, S>) -> LoadStart {
        let limit = env.shared.options.max_load_messages;
        let budget = self.load_budget(limit);
        if !self.rdq.is_empty() {
            let mut seqs = Vec::new();
            while seqs.len() < budget {
                let Some(seq) = self.next_to_redeliver() else {
                    break;
                };
                let count = self.inc_delivery_count(seq);
                if self.maxdc > 0 && count > self.maxdc {
                    if count == self.maxdc + 1 {
                        self.notify_delivery_exceeded(env, seq, count - 1);
                    }
                    if let Some(pending) = self.pending.remove(&seq) {
                        self.mark_dirty();
                        self.move_ack_floor(pending.consumer_seq, seq);
                    }
                    continue;
                }
                seqs.push((seq, count));
            }
            if seqs.is_empty() {
                return LoadStart::Again;
            }
            let request = LoadRequest::Sequences(seqs.iter().map(|(seq, _)| *seq).collect());
            self.issue_load(env, LoadKind::Redelivery, request, seqs, 0);
            return LoadStart::Issued;
        }
        if self.maxp > 0 && self.pending.len() as i64 >= self.maxp {
            return LoadStart::Nothing {
                end_of_stream: false,
            };
        }
        if let Some(skip) = self.lss.as_mut().filter(|skip| !skip.seqs.is_empty()) {
            let count = budget.min(skip.seqs.len());
            let seqs: Vec<(u64, u64)> = skip.seqs.drain(..count).map(|seq| (seq, 1)).collect();
            let request = LoadRequest::Sequences(seqs.iter().map(|(seq, _)| *seq).collect());
            self.issue_load(env, LoadKind::SkipList, request, seqs, 0);
            return LoadStart::Issued;
        }
        if self.at_end_of_stream() {
            return LoadStart::Nothing {
                end_of_stream: true,
            };
        }
        let room = if self.maxp > 0 {
            usize::try_from(self.maxp).unwrap_or(usize::MAX) - self.pending.len()
        } else {
            usize::MAX
        };
        let max_messages = budget.min(room).max(1);
        let request = LoadRequest::Next {
            filters: self.filters.clone(),
            start_seq: self.sseq,
            max_messages,
            max_bytes: env.shared.options.max_load_bytes,
        };
        self.issue_load(env, LoadKind::New, request, Vec::new(), max_messages);
        LoadStart::Issued
    }

    /// Whether the last load of new messages found the end of the stream and nothing was
    /// stored since.
    fn at_end_of_stream(&self) -> bool {
        self.eof_seq.is_some_and(|seq| seq == self.sseq)
    }

    pub(crate) fn issue_load<S: StreamStore>(
        &mut self,
        env: &mut Env<'_, '_, S>,
        kind: LoadKind,
        request: LoadRequest,
        seqs: Vec<(u64, u64)>,
        max_messages: usize,
    ) {
        let token = env.token();
        self.load = Some(InFlightLoad {
            token,
            generation: self.generation,
            kind,
            seqs,
            max_messages,
        });
        self.stored_during_load = false;
        env.actions.push(Action::Load { token, request });
    }

    /// A load completed (Go's `getNextMsg` after the store answered).
    pub fn loaded<S: StreamStore>(
        &mut self,
        env: &mut Env<'_, '_, S>,
        load: InFlightLoad,
        result: Result<Vec<StoredMessage>, &StoreError>,
    ) {
        if load.kind == LoadKind::StartTime {
            self.start_time_step(env, result.ok().and_then(|mut found| found.pop()));
            return;
        }
        let messages = match result {
            Ok(messages) if load.generation == self.generation => messages,
            Ok(_) => {
                // The cursor moved (reset, purge) while the load was out: drop it.
                self.give_back_load(&load);
                self.pump(env);
                return;
            }
            Err(_) => {
                // Go logs a failed lookup and waits; retry shortly.
                self.give_back_load(&load);
                self.load_retry_at = Some(env.now() + 100 * MILLISECOND_NS);
                return;
            }
        };
        match load.kind {
            LoadKind::Redelivery => {
                let mut found = messages.into_iter().peekable();
                for (seq, count) in load.seqs {
                    match found.next_if(|message| message.seq == seq) {
                        Some(message) => self.staged.push_back(Staged {
                            message,
                            delivery_count: count,
                            origin: LoadKind::Redelivery,
                        }),
                        None => {
                            // Removed from the stream while waiting for redelivery.
                            if let Some(pending) = self.pending.get(&seq) {
                                let consumer_seq = pending.consumer_seq;
                                self.process_term(
                                    env,
                                    seq,
                                    consumer_seq,
                                    count - 1,
                                    "Unacknowledged message was deleted",
                                    None,
                                );
                            }
                        }
                    }
                }
            }
            LoadKind::SkipList => {
                for message in messages {
                    self.sseq = message.seq + 1;
                    self.staged.push_back(Staged {
                        message,
                        delivery_count: 1,
                        origin: LoadKind::SkipList,
                    });
                }
                if let Some(skip) = &self.lss {
                    if skip.seqs.is_empty() {
                        self.sseq = skip.resume + 1;
                    }
                }
            }
            LoadKind::New => {
                let asked = load.max_messages;
                let bytes: usize = messages
                    .iter()
                    .map(|message| {
                        message.subject.len() + message.headers.len() + message.payload.len()
                    })
                    .sum();
                let short = messages.len() < asked && bytes < env.shared.options.max_load_bytes;
                if let Some(last) = messages.last() {
                    self.sseq = last.seq + 1;
                }
                for message in messages {
                    self.staged.push_back(Staged {
                        message,
                        delivery_count: 1,
                        origin: LoadKind::New,
                    });
                }
                if short && !self.stored_during_load {
                    self.eof_seq = Some(self.sseq);
                    self.check_num_pending_on_eof(env.cx.store);
                }
            }
            LoadKind::StartTime => {}
        }
        self.pump(env);
    }

    /// Go's `checkNumPendingOnEOF`.
    fn check_num_pending_on_eof<S: StreamStore>(&mut self, store: &S) {
        let state = store.state();
        if self.sseq > state.last_seq && self.npc != self.staged.len() as i64 {
            self.npc = self
                .staged
                .iter()
                .filter(|staged| staged.origin != LoadKind::Redelivery)
                .count() as i64;
            self.npf = state.last_seq;
        }
    }

    /// Undoes a load whose result is dropped: its redeliveries go back to the queue.
    fn give_back_load(&mut self, load: &InFlightLoad) {
        match load.kind {
            LoadKind::Redelivery => {
                for (seq, _) in load.seqs.iter().rev() {
                    self.dec_delivery_count(*seq);
                    if self.pending.contains_key(seq) && self.rdqi.insert(*seq) {
                        self.rdq.push_front(*seq);
                    }
                }
            }
            LoadKind::SkipList if load.generation == self.generation => {
                if let Some(skip) = self.lss.as_mut() {
                    for (seq, _) in load.seqs.iter().rev() {
                        skip.seqs.push_front(*seq);
                    }
                }
            }
            _ => {}
        }
    }

    /// Puts every loaded, undelivered message back where it came from (Go's "we will redo
    /// this one" when no pull request can take it).
    pub(crate) fn unstage_all(&mut self) {
        self.gate_until = None;
        while let Some(staged) = self.staged.pop_back() {
            let seq = staged.message.seq;
            match staged.origin {
                LoadKind::Redelivery => {
                    self.dec_delivery_count(seq);
                    if self.pending.contains_key(&seq) && self.rdqi.insert(seq) {
                        self.rdq.push_front(seq);
                    }
                }
                LoadKind::SkipList => {
                    let resume = self.lss.as_ref().map_or(self.sseq - 1, |skip| skip.resume);
                    self.lss
                        .get_or_insert_with(|| SkipList {
                            resume,
                            seqs: Default::default(),
                        })
                        .seqs
                        .push_front(seq);
                    self.sseq = self.sseq.min(seq);
                }
                LoadKind::New | LoadKind::StartTime => {
                    self.sseq = self.sseq.min(seq);
                    self.eof_seq = None;
                }
            }
        }
    }

    /// Delivers the first staged message if it can go now. Returns false when delivery
    /// must wait (pace, rate, no pull request).
    fn deliver_staged<S: StreamStore>(&mut self, env: &mut Env<'_, '_, S>) -> bool {
        let now = env.now();
        // The ack reply carries the pending count after this message (Go decrements first).
        let pending_now = self.checked_num_pending(env.cx.store);
        let Some(front) = self.staged.front() else {
            return true;
        };
        let timestamp = front.message.timestamp_ns;
        if self.replay && self.lts > 0 {
            let delay = timestamp.saturating_sub(self.lts);
            if delay > MILLISECOND_NS {
                match self.gate_until {
                    None => {
                        self.gate_until = Some(now.saturating_add(delay));
                        return false;
                    }
                    Some(until) if now < until => return false,
                    Some(_) => self.gate_until = None,
                }
            }
        }
        let count = front.delivery_count;
        let seq = front.message.seq;
        let pending_after = pending_now.saturating_sub(u64::from(count == 1));
        let reply = self.ack_subjects.reply(&AckReplyInfo {
            delivery_count: count,
            stream_seq: seq,
            consumer_seq: self.dseq,
            timestamp_ns: timestamp,
            pending: pending_after,
        });
        let (mut headers, payload) = if self.config.headers_only {
            let headers = wire::headers_only(&front.message.headers, front.message.payload.len());
            (headers, Bytes::new())
        } else {
            (front.message.headers.clone(), front.message.payload.clone())
        };
        let size = front.message.subject.len() + reply.len() + headers.len() + payload.len();
        let target = if self.is_push() {
            if !self.take_rate(size, now) {
                return false;
            }
            Target {
                subject: self.dsubj.clone(),
                remaining: 1,
                bytes_remaining: 0,
            }
        } else {
            let npc_after = self.npc - i64::from(count == 1);
            match self.next_waiting(env, size, npc_after) {
                Some(target) => {
                    if self.is_pinned_policy() {
                        headers = wire::append_header(&headers, wire::PIN_ID_HEADER, &self.pin.id);
                    }
                    target
                }
                None => {
                    self.unstage_all();
                    // As Go's `waitForMsgs` after `nextWaiting` found no taker: the requests
                    // that wait (a pinned group's standbys) still expire on time.
                    self.wait_for_messages(env, true);
                    return false;
                }
            }
        };
        self.lts = timestamp;
        let Some(staged) = self.staged.pop_front() else {
            return true;
        };
        self.deliver_message(env, &target.subject, reply, staged, headers, payload);
        if target.remaining <= 0 && target.bytes_remaining > 0 {
            let batch_done = status::pull_end(
                status::PullEnd::BatchCompleted,
                target.remaining,
                target.bytes_remaining,
            );
            env.status(&target.subject, batch_done);
        }
        if self.is_push() && self.config.heartbeat > 0 {
            self.hb_at = Some(now.saturating_add(self.config.heartbeat));
        }
        true
    }

    /// Takes `size` bytes from the rate limit, or gates delivery until they are there.
    fn take_rate(&mut self, size: usize, now: i64) -> bool {
        let Some(rate) = self.rate.as_mut() else {
            return true;
        };
        if let Some(until) = self.gate_until {
            if now < until {
                return false;
            }
            self.gate_until = None;
        }
        let elapsed = (now - rate.updated_ns).max(0) as f64 / SECOND_NS as f64;
        rate.tokens = (rate.tokens + elapsed * rate.bytes_per_second).min(rate.burst);
        rate.updated_ns = now;
        let size = size as f64;
        if rate.tokens >= size || (rate.tokens >= rate.burst && size > rate.burst) {
            rate.tokens = (rate.tokens - size).max(0.0);
            return true;
        }
        let wait_seconds = (size.min(rate.burst) - rate.tokens) / rate.bytes_per_second.max(1.0);
        self.gate_until = Some(now.saturating_add((wait_seconds * SECOND_NS as f64).ceil() as i64));
        false
    }

    /// Go's `deliverMsg`.
    fn deliver_message<S: StreamStore>(
        &mut self,
        env: &mut Env<'_, '_, S>,
        subject: &str,
        reply: String,
        staged: Staged,
        headers: Bytes,
        payload: Bytes,
    ) {
        let now = env.now();
        let dseq = self.dseq;
        self.dseq += 1;
        if staged.delivery_count == 1 {
            self.npc -= 1;
        }
        let seq = staged.message.seq;
        let size = subject.len() + reply.len() + headers.len() + payload.len();
        if self.maxpb > 0 {
            self.pbytes += size as i64;
        }
        self.mark_dirty();
        self.ldt = Some(now);
        let message_subject: std::rc::Rc<str> = staged.message.subject.as_str().into();
        if self.config.ack_policy == AckPolicy::None {
            self.adflr = dseq;
            self.asflr = seq;
        } else {
            self.track_pending(now, seq, dseq, Some(message_subject.clone()));
        }
        env.deliver(subject, &message_subject, reply, headers, payload);
        if self.maxpb > 0 && self.need_flow_control(size as i64) {
            self.send_flow_control(env);
        }
        if self.is_pull() && self.dthresh > 0 {
            if let Some(queue) = self.waiting.as_mut() {
                queue.last_active_ns = now;
            }
        }
        if self.config.ack_policy == AckPolicy::None
            && env.shared.stream.retention != RetentionPolicy::Limits
        {
            self.retention_ack(env, seq, Some(message_subject));
        }
    }

    /// Go's `trackPending`: remember the delivery (a redelivery keeps its first consumer
    /// sequence) and make sure the redelivery check fires in time.
    pub(crate) fn track_pending(
        &mut self,
        now: i64,
        seq: u64,
        dseq: u64,
        subject: Option<std::rc::Rc<str>>,
    ) {
        match self.pending.get_mut(&seq) {
            Some(pending) => pending.timestamp_ns = now,
            None => {
                self.pending.insert(
                    seq,
                    super::machine::Pending {
                        consumer_seq: dseq,
                        timestamp_ns: now,
                        subject,
                    },
                );
            }
        }
        let deadline = now.saturating_add(self.redelivery_wait(seq));
        if self.ptmr_at.is_none_or(|at| at > deadline) {
            self.ptmr_at = Some(deadline);
        }
    }

    /// Go's `needFlowControl`: ask for a reply once half the window is out.
    fn need_flow_control(&mut self, size: i64) -> bool {
        if self.maxpb == 0 {
            return false;
        }
        if self.fcid.is_empty() && self.pbytes > self.maxpb / 2 {
            return true;
        }
        if self.fcid.is_empty()
            && self.config.ack_policy == AckPolicy::FlowControl
            && self.maxp > 0
            && self.pending.len() as i64 >= self.maxp
        {
            return true;
        }
        if !self.fcid.is_empty() && (self.pbytes - self.fcsz) >= self.maxpb {
            self.fcsz += size;
        }
        false
    }

    /// Go's `sendFlowControl`: `100 FlowControl Request` with a fresh reply subject.
    pub(crate) fn send_flow_control<S: StreamStore>(&mut self, env: &mut Env<'_, '_, S>) {
        if !self.is_push() {
            return;
        }
        let token = env.shared.ids.flow_control_token();
        let reply = wire::flow_control_reply(
            &env.shared.options.ack_format,
            &self.stream,
            &self.name,
            &token,
        );
        self.fcsz = self.pbytes;
        self.fcid = reply.clone();
        let subject = self.config.deliver_subject.clone();
        env.publish(
            &subject,
            Some(reply),
            status::flow_control_request(),
            Bytes::new(),
        );
    }

    /// A flow control reply arrived (Go's `processFlowControl`).
    pub fn flow_control_reply<S: StreamStore>(
        &mut self,
        env: &mut Env<'_, '_, S>,
        subject: &str,
        headers: &[u8],
    ) {
        if subject != self.fcid {
            return;
        }
        if self.maxpb < self.pblimit {
            self.maxpb = (self.maxpb * 2).min(self.pblimit);
        }
        self.pbytes = (self.pbytes - self.fcsz).max(0);
        self.fcid.clear();
        self.fcsz = 0;
        if self.config.ack_policy == AckPolicy::FlowControl && !headers.is_empty() {
            let number = |key| {
                crate::headers::get_str(headers, key)
                    .and_then(|value| value.trim().parse::<i64>().ok())
                    .unwrap_or(0)
            };
            let last_stream = number(status::LAST_STREAM_HEADER);
            let last_consumer = number(status::LAST_CONSUMER_HEADER).max(0);
            if last_stream > 0 {
                self.process_ack_msg(
                    env,
                    last_stream as u64,
                    last_consumer as u64,
                    1,
                    None,
                    false,
                );
            }
        }
        self.pump(env);
    }

    /// Go's `sendIdleHeartbeat`.
    pub(crate) fn idle_heartbeat(&self) -> Bytes {
        status::idle_heartbeat(
            self.dseq.max(1) - 1,
            self.delivered_stream_seq(),
            &self.fcid,
        )
    }

    /// A push consumer's idle heartbeat is due.
    pub(crate) fn push_heartbeat<S: StreamStore>(&mut self, env: &mut Env<'_, '_, S>) {
        let now = env.now();
        self.hb_at = Some(now.saturating_add(self.config.heartbeat));
        if !self.active || self.closed {
            return;
        }
        let subject = self.config.deliver_subject.clone();
        let heartbeat = self.idle_heartbeat();
        env.status(&subject, heartbeat);
        if self.config.ack_policy == AckPolicy::FlowControl
            && !self.pending.is_empty()
            && self.fcid.is_empty()
        {
            self.send_flow_control(env);
        }
    }

    /// Go's `incDeliveryCount`: the delivery count of a redelivery.
    pub(crate) fn inc_delivery_count(&mut self, seq: u64) -> u64 {
        let count = self.rdc.entry(seq).or_insert(0);
        *count += 1;
        *count + 1
    }

    /// Go's `decDeliveryCount`.
    pub(crate) fn dec_delivery_count(&mut self, seq: u64) {
        let count = self.rdc.entry(seq).or_insert(0);
        *count = count.saturating_sub(1);
    }

    /// Go's `deliveryCount`.
    pub(crate) fn delivery_count(&self, seq: u64) -> u64 {
        self.rdc
            .get(&seq)
            .copied()
            .filter(|count| *count >= 1)
            .unwrap_or(1)
    }

    /// Go's `getNextToRedeliver`.
    fn next_to_redeliver(&mut self) -> Option<u64> {
        let seq = self.rdq.pop_front()?;
        self.rdqi.remove(&seq);
        Some(seq)
    }

    /// Go's `addToRedeliverQueue`.
    pub(crate) fn add_to_redeliver_queue(&mut self, seq: u64) {
        if self.rdqi.insert(seq) {
            self.rdq.push_back(seq);
        }
    }

    /// Go's `removeFromRedeliverQueue`.
    pub(crate) fn remove_from_redeliver_queue(&mut self, seq: u64) {
        if self.rdqi.remove(&seq) {
            self.rdq.retain(|queued| *queued != seq);
        }
    }

    /// Go's `notifyDeliveryExceeded`.
    pub(crate) fn notify_delivery_exceeded<S: StreamStore>(
        &self,
        env: &mut Env<'_, '_, S>,
        seq: u64,
        deliveries: u64,
    ) {
        let domain = env.shared.options.domain.clone();
        env.event(
            CONSUMER_MAX_DELIVERIES_PREFIX,
            &self.stream,
            &self.name,
            crate::api::MAX_DELIVER_TYPE,
            |event| MaxDeliverAdvisory {
                event,
                stream: self.stream.clone(),
                consumer: self.name.clone(),
                stream_seq: seq,
                deliveries,
                domain,
            },
        );
    }
}
