//! A pull consumer's requests (Go's `processNextMsgRequest`, `processWaiting`,
//! `nextWaiting`) and priority groups (ADR-42): overflow thresholds, the pinned client and
//! its pin's lifetime, prioritized queues.

use bytes::Bytes;
use natrix_storage::StreamStore;

use super::delivery::Target;
use super::machine::{Consumer, Env, SECOND_NS};
use super::pull::{parse_pull_request, WaitingRequest};
use super::status::{self, PullEnd};
use super::wire;
use crate::api::{
    GroupPinnedAdvisory, GroupUnpinnedAdvisory, PriorityPolicy, CONSUMER_PINNED_PREFIX,
    CONSUMER_UNPINNED_PREFIX,
};

/// What [`Consumer::process_waiting`] found.
pub(crate) struct WaitingSummary {
    /// Messages the live requests still want (Go's `brp`).
    pub batch_pending: i64,
}

impl Consumer {
    /// A request on `$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>` (Go's
    /// `processNextMsgRequest`). `interest` is the requester's own reply subject when the
    /// request came through an import (`reply` is then the mapped one), else `None`.
    pub fn next_request<S: StreamStore>(
        &mut self,
        env: &mut Env<'_, '_, S>,
        reply: &str,
        interest: Option<&str>,
        headers: &[u8],
        body: &[u8],
    ) {
        if reply.is_empty() || self.closed {
            return;
        }
        if self.is_push() {
            env.status(reply, status::consumer_is_push_based());
            return;
        }
        if wire::requires_newer_api(headers) {
            env.status(reply, status::required_api_level());
            return;
        }
        let now = env.now();
        let request = match parse_pull_request(body, now) {
            Ok(request) => request,
            Err(reason) => {
                env.status(reply, status::bad_request(&reason));
                return;
            }
        };
        let config = &self.config;
        if config.max_request_batch > 0 && request.batch > config.max_request_batch {
            let refusal = status::exceeded_max_request_batch(config.max_request_batch);
            env.status(reply, refusal);
            return;
        }
        if let Some(expires_at) = request.expires_at {
            if config.max_request_expires > 0
                && expires_at > now.saturating_add(config.max_request_expires)
            {
                let refusal = status::exceeded_max_request_expires(config.max_request_expires);
                env.status(reply, refusal);
                return;
            }
        }
        if request.max_bytes > 0
            && config.max_request_max_bytes > 0
            && request.max_bytes > config.max_request_max_bytes
        {
            let refusal = status::exceeded_max_request_max_bytes(config.max_request_max_bytes);
            env.status(reply, refusal);
            return;
        }
        let policy = config.priority_policy;
        if let Some(group) = &request.group {
            let refusal = if (group.min_pending != 0 || group.min_ack_pending != 0)
                && policy != PriorityPolicy::Overflow
            {
                Some("Not a Overflow Priority consumer")
            } else if !group.id.is_empty() && policy != PriorityPolicy::PinnedClient {
                Some("Not a Pinned Client Priority consumer")
            } else if !(0..=9).contains(&group.priority) {
                Some("Priority must be between 0 and 9")
            } else {
                None
            };
            if let Some(reason) = refusal {
                env.status(reply, status::bad_request(reason));
                return;
            }
            if policy != PriorityPolicy::None {
                if group.group.is_empty() {
                    env.status(reply, status::bad_request("Priority Group missing"));
                    return;
                }
                if !config.priority_groups.contains(&group.group) {
                    env.status(reply, status::bad_request("Invalid Priority Group"));
                    return;
                }
                if !self.pin.id.is_empty() {
                    if group.id == self.pin.id {
                        self.set_pinned_timer(now);
                    } else if !group.id.is_empty() {
                        env.status(reply, status::pin_id_mismatch());
                        return;
                    }
                }
            }
        }
        let full = self.waiting.as_ref().is_some_and(|queue| queue.is_full());
        if full && now.saturating_sub(self.lwqic) > SECOND_NS {
            self.process_waiting(env, false);
        }
        if request.no_wait {
            let messages_pending = self.checked_num_pending(env.cx.store) + self.rdq.len() as u64;
            if messages_pending == 0 && request.expires_at.is_none() {
                self.touch_waiting(now);
                env.status(reply, status::no_messages());
                return;
            }
            if messages_pending > 0 {
                let summary = self.process_waiting(env, false);
                if (messages_pending as i64) < summary.batch_pending {
                    self.touch_waiting(now);
                    env.status(reply, status::requests_pending());
                    return;
                }
            }
        }
        let waiting = WaitingRequest {
            reply: reply.to_owned(),
            interest: interest.unwrap_or(reply).to_owned(),
            remaining: request.batch,
            delivered: 0,
            bytes_remaining: request.max_bytes,
            expires_at: request.expires_at,
            received_ns: now,
            heartbeat_ns: request.heartbeat_ns,
            next_heartbeat_at: (request.heartbeat_ns > 0)
                .then(|| now.saturating_add(request.heartbeat_ns)),
            no_wait: request.no_wait,
            group: request.group,
        };
        let heartbeat = waiting.heartbeat_ns;
        let Some(queue) = self.waiting.as_mut() else {
            return;
        };
        let added = if policy == PriorityPolicy::Prioritized {
            queue.add_prioritized(waiting)
        } else {
            queue.add(waiting)
        };
        if added.is_err() {
            // With heartbeats the client waits for missed heartbeats instead of retrying in
            // a loop on a 409.
            if heartbeat == 0 {
                env.status(reply, status::exceeded_max_waiting());
            }
            return;
        }
        self.pump(env);
    }

    fn touch_waiting(&mut self, now: i64) {
        if let Some(queue) = self.waiting.as_mut() {
            queue.last_active_ns = now;
        }
    }

    /// Go's `processWaiting`: ends expired requests (`408 Request Timeout`), at the end of
    /// the stream ends `no_wait` ones (`404 No Messages`), drops those whose requester went
    /// away, sends due heartbeats, and schedules the next check.
    pub(crate) fn process_waiting<S: StreamStore>(
        &mut self,
        env: &mut Env<'_, '_, S>,
        end_of_stream: bool,
    ) -> WaitingSummary {
        let now = env.now();
        let heartbeat = self.idle_heartbeat();
        let Some(queue) = self.waiting.as_mut() else {
            return WaitingSummary { batch_pending: 0 };
        };
        self.waiting_at = None;
        if queue.is_empty() {
            return WaitingSummary { batch_pending: 0 };
        }
        self.lwqic = now;
        let mut batch_pending = 0i64;
        let mut next_check: Option<i64> = None;
        let mut statuses: Vec<(String, Bytes)> = Vec::new();
        let interest = env.cx.interest;
        queue.retain_or(
            |request| {
                let expired = request.expires_at.is_some_and(|at| now > at);
                if (end_of_stream && request.no_wait) || expired {
                    if expired {
                        statuses.push((
                            request.reply.clone(),
                            status::pull_end(
                                PullEnd::Timeout,
                                request.remaining,
                                request.bytes_remaining,
                            ),
                        ));
                        return false;
                    }
                    if request.expires_at.is_none() || request.delivered > 0 {
                        statuses.push((request.reply.clone(), status::no_messages()));
                        return false;
                    }
                }
                if !interest.has_interest(&request.interest) {
                    return false;
                }
                batch_pending = batch_pending.saturating_add(request.remaining);
                if let Some(due) = request.next_heartbeat_at {
                    let mut due = due;
                    if now > due {
                        statuses.push((request.reply.clone(), heartbeat.clone()));
                        due = now.saturating_add(request.heartbeat_ns);
                        request.next_heartbeat_at = Some(due);
                    }
                    next_check = Some(next_check.map_or(due, |at: i64| at.min(due)));
                }
                if let Some(at) = request.expires_at {
                    next_check = Some(next_check.map_or(at, |check: i64| check.min(at)));
                }
                true
            },
            |_| {},
        );
        for (subject, headers) in statuses {
            env.status(&subject, headers);
        }
        // Go's timer fires at the deadline and checks `now.After(deadline)`: one past it.
        self.waiting_at = next_check.map(|at| at.max(now).saturating_add(1));
        WaitingSummary { batch_pending }
    }

    /// Go's `nextWaiting`: the request that gets the next message of `size` bytes, after
    /// dropping expired requests, refusing wrong pins, skipping overflow requests below their
    /// thresholds and closing requests the message is too large for. `npc` is the pending
    /// count as it will be after this message.
    pub(crate) fn next_waiting<S: StreamStore>(
        &mut self,
        env: &mut Env<'_, '_, S>,
        size: usize,
        npc: i64,
    ) -> Option<Target> {
        let now = env.now();
        let need_new_pin = self.pin.id.is_empty() && self.is_pinned_policy();
        let policy = self.config.priority_policy;
        let ack_pending = self.pending.len() as i64;
        let mut cycled = 0usize;
        loop {
            let queue = self.waiting.as_mut()?;
            let request = queue.peek()?.clone();
            let live = request.expires_at.is_none_or(|at| now < at);
            if !live {
                queue.remove_first();
                let timeout =
                    status::pull_end(PullEnd::Timeout, request.remaining, request.bytes_remaining);
                env.status(&request.reply, timeout);
                continue;
            }
            let mut assigned_pin = false;
            let request_pin = request
                .group
                .as_ref()
                .map(|group| group.id.as_str())
                .unwrap_or("");
            if need_new_pin {
                if request_pin.is_empty() {
                    self.assign_new_pin(env);
                    assigned_pin = true;
                } else {
                    self.end_request(env, PullEnd::WrongPinId);
                    continue;
                }
            } else if !self.pin.id.is_empty() {
                if request_pin == self.pin.id {
                    // The pinned client: served below.
                } else if request_pin.is_empty() {
                    let queue = self.waiting.as_mut()?;
                    queue.cycle();
                    cycled += 1;
                    if cycled >= queue.len() {
                        return None;
                    }
                    continue;
                } else {
                    self.end_request(env, PullEnd::WrongPinId);
                    continue;
                }
            }
            if policy == PriorityPolicy::Overflow {
                if let Some(group) = &request.group {
                    let has_thresholds = group.min_pending > 0 || group.min_ack_pending > 0;
                    let reached = (group.min_pending > 0
                        && group.min_pending <= npc.saturating_add(1))
                        || (group.min_ack_pending > 0 && group.min_ack_pending <= ack_pending);
                    if has_thresholds && !reached {
                        let queue = self.waiting.as_mut()?;
                        queue.cycle();
                        cycled += 1;
                        if cycled >= queue.len() {
                            return None;
                        }
                        continue;
                    }
                }
            }
            if request.bytes_remaining > 0 {
                let size = size as i64;
                if size <= request.bytes_remaining {
                    let queue = self.waiting.as_mut()?;
                    if let Some(first) = queue.peek_mut() {
                        first.bytes_remaining -= size;
                        if first.bytes_remaining == 0 {
                            first.remaining = 1;
                        }
                    }
                } else {
                    self.end_request(env, PullEnd::MessageSizeExceedsMaxBytes);
                    if assigned_pin {
                        self.unassign_pin();
                    }
                    continue;
                }
            }
            if env.cx.interest.has_interest(&request.interest) {
                let prioritized = policy == PriorityPolicy::Prioritized;
                let queue = self.waiting.as_mut()?;
                let popped = queue.pop_one(prioritized)?;
                if popped.remaining > 0 && popped.heartbeat_ns > 0 {
                    let due = now.saturating_add(popped.heartbeat_ns);
                    if let Some(kept) = queue.find_mut(&popped.reply, popped.received_ns) {
                        kept.next_heartbeat_at = Some(due);
                    }
                }
                return Some(Target {
                    subject: popped.reply,
                    remaining: popped.remaining,
                    bytes_remaining: popped.bytes_remaining,
                });
            }
            // Its requester went away.
            let queue = self.waiting.as_mut()?;
            let gone = queue.remove_first()?;
            if gone.interest != gone.reply {
                let expired = status::pull_end(
                    PullEnd::InterestExpired,
                    gone.remaining,
                    gone.bytes_remaining,
                );
                env.status(&gone.reply, expired);
            }
        }
    }

    /// Removes the first waiting request with a status carrying what it still wanted.
    fn end_request<S: StreamStore>(&mut self, env: &mut Env<'_, '_, S>, end: PullEnd) {
        let Some(request) = self.waiting.as_mut().and_then(|queue| queue.remove_first()) else {
            return;
        };
        let headers = status::pull_end(end, request.remaining, request.bytes_remaining);
        env.status(&request.reply, headers);
    }

    /// Go's `assignNewPinId`: the first request of the group gets a new pin (only a JSON
    /// request naming the group can hold one).
    fn assign_new_pin<S: StreamStore>(&mut self, env: &mut Env<'_, '_, S>) {
        let now = env.now();
        let Some(queue) = self.waiting.as_mut() else {
            return;
        };
        let Some(request) = queue.peek_mut() else {
            return;
        };
        let Some(group) = request
            .group
            .as_mut()
            .filter(|group| !group.group.is_empty())
        else {
            return;
        };
        let pin = env.shared.ids.nuid();
        group.id = pin.clone();
        let group_name = group.group.clone();
        self.pin.id = pin.clone();
        self.pin.since_ns = now;
        self.set_pinned_timer(now);
        let account = env.shared.options.account.clone();
        let domain = env.shared.options.domain.clone();
        env.event(
            CONSUMER_PINNED_PREFIX,
            &self.stream,
            &self.name,
            crate::api::GROUP_PINNED_TYPE,
            |event| GroupPinnedAdvisory {
                event,
                account,
                stream: self.stream.clone(),
                consumer: self.name.clone(),
                domain,
                group: group_name,
                pinned_client_id: pin,
            },
        );
    }

    /// Go's `setPinnedTimer`: the pin lasts `priority_timeout` from the last pull with it.
    pub(crate) fn set_pinned_timer(&mut self, now: i64) {
        self.pin.expires_at = Some(now.saturating_add(self.config.pinned_ttl));
    }

    /// Go's `unassignPinId`.
    pub(crate) fn unassign_pin(&mut self) {
        self.pin = Default::default();
    }

    /// Removes the pin with the unpinned advisory (`admin` from the API, `timeout` when the
    /// pinned client stopped pulling).
    pub(crate) fn unpin<S: StreamStore>(&mut self, env: &mut Env<'_, '_, S>, reason: &str) {
        self.unassign_pin();
        let Some(group) = self.config.priority_groups.first().cloned() else {
            return;
        };
        let account = env.shared.options.account.clone();
        let domain = env.shared.options.domain.clone();
        env.event(
            CONSUMER_UNPINNED_PREFIX,
            &self.stream,
            &self.name,
            crate::api::GROUP_UNPINNED_TYPE,
            |event| GroupUnpinnedAdvisory {
                event,
                account,
                stream: self.stream.clone(),
                consumer: self.name.clone(),
                domain,
                group,
                reason: reason.to_owned(),
            },
        );
        self.pump(env);
    }

    /// Ends every waiting request with `409 Consumer Deleted` (Go's
    /// `releaseAnyPendingRequests`) or `409 Server Shutdown`.
    pub(crate) fn release_waiting<S: StreamStore>(
        &mut self,
        env: &mut Env<'_, '_, S>,
        shutdown: bool,
    ) {
        let Some(queue) = self.waiting.as_mut() else {
            return;
        };
        for request in queue.drain() {
            let headers = if shutdown {
                status::pull_end(
                    PullEnd::ServerShutdown,
                    request.remaining,
                    request.bytes_remaining,
                )
            } else {
                status::consumer_deleted()
            };
            env.status(&request.reply, headers);
        }
    }
}
