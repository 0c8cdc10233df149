//! A consumer's life on its shard: starting (Go's `setLeader`), the stream's signal of a new
//! message, interest in a push consumer's deliver subject, its timers, deletion for
//! inactivity, the pause and its advisories, and the search for the start of a
//! `by_start_time` consumer.

use natrix_storage::{StoredMessage, StreamStore};

use super::machine::{Consumer, Env, LoadKind};
use super::{Action, LoadRequest};
use crate::api::{ConsumerPauseAdvisory, CONSUMER_PAUSE_PREFIX};
use crate::time::Timestamp;

impl Consumer {
    /// Go's `processStreamSignal`: a message for this consumer was stored.
    pub(crate) fn signal<S: StreamStore>(&mut self, env: &mut Env<'_, '_, S>, seq: u64) {
        if seq > self.npf {
            self.npc += 1;
        }
        self.eof_seq = None;
        if self.load.is_some() {
            self.stored_during_load = true;
        }
        if seq < self.sseq {
            return;
        }
        self.pump(env);
    }

    /// Go's `suppressDeletion`: ack activity keeps a consumer with an inactive threshold.
    pub(crate) fn suppress_deletion(&mut self, now: i64) {
        if self.config.inactive_threshold <= 0 {
            return;
        }
        if self.is_push() {
            if self.dtmr_at.is_some() {
                self.dtmr_at = Some(now.saturating_add(self.dthresh));
            }
        } else if let Some(queue) = self.waiting.as_mut() {
            queue.last_active_ns = now;
            if self.dtmr_at.is_some() {
                self.dtmr_at = Some(now.saturating_add(self.dthresh));
            }
        }
    }

    /// Go's `updateDeliveryInterest`.
    pub(crate) fn update_delivery_interest<S: StreamStore>(
        &mut self,
        env: &mut Env<'_, '_, S>,
        interest: bool,
    ) {
        if self.is_pull() {
            return;
        }
        self.active = interest;
        let now = env.now();
        if !(self.dtmr_at.is_some() && self.dthresh > 0 && !interest) {
            self.dtmr_at = None;
            if !interest && self.dthresh > 0 {
                self.dtmr_at = Some(now.saturating_add(self.dthresh));
            }
        }
        self.pump(env);
    }

    /// Runs the timers that are due.
    pub(crate) fn run_timers<S: StreamStore>(&mut self, env: &mut Env<'_, '_, S>) {
        let now = env.now();
        let due = |at: Option<i64>| at.is_some_and(|at| at <= now);
        if due(self.ptmr_at) {
            self.check_pending(env);
        }
        if due(self.waiting_at) {
            self.process_waiting(env, true);
            self.pump(env);
        }
        if due(self.hb_at) {
            self.push_heartbeat(env);
        }
        if due(self.unpause_at) {
            self.unpause_at = None;
            self.send_pause_advisory(env);
            self.pump(env);
        }
        if due(self.pin.expires_at) {
            if self.pin.id.is_empty() {
                self.pin.expires_at = None;
            } else {
                self.unpin(env, "timeout");
            }
        }
        if due(self.gate_until) || due(self.load_retry_at) {
            self.load_retry_at = None;
            self.pump(env);
            // A gate that delivery could not reach (an inactive push consumer) must not
            // keep asking for ticks; delivery sets it again when it resumes.
            if due(self.gate_until) {
                self.gate_until = None;
            }
        }
        if due(self.dtmr_at) {
            self.dtmr_at = None;
            self.delete_if_inactive(env);
        }
    }

    /// Go's `deleteNotActive`.
    fn delete_if_inactive<S: StreamStore>(&mut self, env: &mut Env<'_, '_, S>) {
        let now = env.now();
        if self.closed {
            return;
        }
        if self.is_push() {
            if self.active {
                return;
            }
        } else {
            let last = self
                .waiting
                .as_ref()
                .map_or(0, |queue| queue.last_active_ns);
            let elapsed = now.saturating_sub(last);
            if elapsed < self.dthresh {
                self.dtmr_at = Some(now.saturating_add(self.dthresh - elapsed));
                return;
            }
            self.process_waiting(env, true);
            if self.waiting.as_ref().is_some_and(|queue| !queue.is_empty()) {
                self.dtmr_at = Some(now.saturating_add(self.dthresh));
                return;
            }
            // Deliveries may still be worked on: wait for the last ack wait to pass, then
            // the threshold.
            let mut delay = 0;
            for (seq, pending) in &self.pending {
                let wait = self.redelivery_wait(*seq);
                let at = pending
                    .timestamp_ns
                    .saturating_add(wait)
                    .saturating_add(self.dthresh);
                if at > now {
                    delay = delay.max(at - now);
                }
            }
            if delay > 0 {
                self.dtmr_at = Some(now.saturating_add(delay));
                return;
            }
        }
        env.shared.inactive.push(self.name.clone());
    }

    /// Go's `sendPauseAdvisoryLocked`.
    pub(crate) fn send_pause_advisory<S: StreamStore>(&self, env: &mut Env<'_, '_, S>) {
        let now = env.now();
        let pause_until = self.config.pause_until.unwrap_or(Timestamp::ZERO);
        let paused = pause_until.unix_nanos().is_some_and(|until| now < until);
        let domain = env.shared.options.domain.clone();
        env.event(
            CONSUMER_PAUSE_PREFIX,
            &self.stream,
            &self.name,
            crate::api::CONSUMER_PAUSE_TYPE,
            |event| ConsumerPauseAdvisory {
                event,
                stream: self.stream.clone(),
                consumer: self.name.clone(),
                paused,
                pause_until,
                domain,
            },
        );
    }

    /// The created or deleted advisory.
    pub(crate) fn send_action_advisory<S: StreamStore>(
        &self,
        env: &mut Env<'_, '_, S>,
        action: &str,
    ) {
        let prefix = if action == "create" {
            crate::api::CONSUMER_CREATED_PREFIX
        } else {
            crate::api::CONSUMER_DELETED_PREFIX
        };
        let domain = env.shared.options.domain.clone();
        env.event(
            prefix,
            &self.stream,
            &self.name,
            crate::api::CONSUMER_ACTION_TYPE,
            |event| crate::api::ConsumerActionAdvisory {
                event,
                stream: self.stream.clone(),
                consumer: self.name.clone(),
                action: action.to_owned(),
                domain,
            },
        );
    }

    /// Sets the timers and interest of a consumer that begins to run (created or
    /// recovered; Go's `setLeader`).
    pub(crate) fn start<S: StreamStore>(&mut self, env: &mut Env<'_, '_, S>) {
        let now = env.now();
        if self.is_push() {
            self.active = env.cx.interest.has_interest(&self.dsubj);
            env.actions.push(Action::WatchDeliverInterest {
                consumer: self.name.clone(),
                subject: self.dsubj.clone(),
            });
            if self.config.heartbeat > 0 {
                self.hb_at = Some(now.saturating_add(self.config.heartbeat));
            }
        }
        if let Some(queue) = self.waiting.as_mut() {
            queue.last_active_ns = now;
        }
        if self.dthresh > 0 && (self.is_pull() || !self.active) {
            self.dtmr_at = Some(now.saturating_add(self.dthresh));
        }
        self.update_pause_state(now);
        if self.config.replay_policy != crate::api::ReplayPolicy::Instant {
            self.replay = true;
            self.replay_until_seq = env.cx.store.state().last_seq;
        }
        self.stream_num_pending(env.cx.store);
        self.check_ack_floor(env);
        self.pump(env);
    }

    /// Go's `updatePauseState`: a timer for the end of a pause in the future.
    pub(crate) fn update_pause_state(&mut self, now: i64) {
        self.unpause_at = self
            .config
            .pause_until
            .and_then(Timestamp::unix_nanos)
            .filter(|until| *until > now);
    }

    /// One step of the search for the first message at or after `opt_start_time`: the
    /// message found at the step's sequence (or none), then the next step's load, or the
    /// cursor placed and the create answered.
    pub(crate) fn start_time_step<S: StreamStore>(
        &mut self,
        env: &mut Env<'_, '_, S>,
        found: Option<StoredMessage>,
    ) {
        let Some(search) = self.start_search.as_mut() else {
            return;
        };
        let mid = search.mid;
        let at_or_after = found
            .as_ref()
            .is_none_or(|message| message.timestamp_ns >= search.target_ns);
        if at_or_after {
            search.high = mid;
            search.found = Some((mid, found.map_or(0, |message| message.seq)));
        } else {
            search.low = mid + 1;
        }
        self.continue_start_search(env);
    }

    /// Issues the next load of the search, or ends it.
    pub(crate) fn continue_start_search<S: StreamStore>(&mut self, env: &mut Env<'_, '_, S>) {
        let Some(search) = self.start_search.as_mut() else {
            return;
        };
        if search.low < search.high {
            let mid = search.low + (search.high - search.low) / 2;
            search.mid = mid;
            let request = LoadRequest::Next {
                filters: Vec::new(),
                start_seq: mid,
                max_messages: 1,
                max_bytes: 1,
            };
            self.issue_load(env, LoadKind::StartTime, request, Vec::new(), 1);
            return;
        }
        let Some(search) = self.start_search.take() else {
            return;
        };
        let state = env.cx.store.state();
        self.sseq = match search.found {
            Some((position, seq)) if position == search.low && seq > 0 => seq,
            _ => state.last_seq + 1,
        };
        self.start_time_seq = self.sseq;
        self.skip_to_first_filtered_match(env.cx.store);
        self.clamp_start(&state);
        self.mark_dirty();
        if search.reply.is_some() {
            self.search_reply = search.reply;
            env.shared.finished_searches.push(self.name.clone());
        }
        self.start(env);
    }
}
