//! The consumer API on a stream's [`ConsumerSet`]: `CONSUMER.CREATE` (all three subject
//! forms), `INFO`, `NAMES`, `LIST`, `DELETE`, `PAUSE`, `UNPIN` and `RESET`, with the Go
//! server's checks in its order and its replies byte for byte. The runtime finds the stream
//! (`stream not found` is its reply) and hands over the subject, reply and body.

use bytes::Bytes;
use natrix_storage::StreamStore;
use serde::Serialize;

use super::config::{
    check_create_request, decide_create, is_valid_group_name, parse_create_subject,
    set_static_metadata, with_dynamic_metadata, CreateDecision, ExistingConsumer,
};
use super::machine::{Consumer, Env};
use super::set::ConsumerSet;
use super::wire::requires_newer_api;
use super::{Action, Context};
use crate::api::{
    unpin_response, ApiPaged, ConsumerConfig, ConsumerDeleteResponse, ConsumerInfo,
    ConsumerInfoResponse, ConsumerListResponse, ConsumerNamesResponse, ConsumerPauseRequest,
    ConsumerPauseResponse, ConsumerResetRequest, ConsumerResetResponse, ConsumerUnpinRequest,
    ConsumersRequest, CreateConsumerRequest, RetentionPolicy, API_LEVEL,
    CONSUMER_CREATE_RESPONSE_TYPE, CONSUMER_INFO_RESPONSE_TYPE, CONSUMER_LIST_LIMIT,
    CONSUMER_NAMES_LIMIT,
};
use crate::errors::{ApiError, ErrorId};
use crate::json;
use crate::time::Timestamp;

impl ConsumerSet {
    /// `CONSUMER.CREATE.<stream>[.<consumer>[.<filter>]]` and
    /// `CONSUMER.DURABLE.CREATE.<stream>.<durable>`.
    #[allow(clippy::too_many_arguments)]
    pub fn create<S: StreamStore>(
        &mut self,
        cx: &Context<'_, S>,
        subject: &str,
        reply: &str,
        headers: &[u8],
        body: &[u8],
        actions: &mut Vec<Action>,
    ) {
        let refuse = |actions: &mut Vec<Action>, error: ApiError| {
            let response = ConsumerInfoResponse::error(CONSUMER_CREATE_RESPONSE_TYPE, error);
            reply_json(actions, reply, &response);
        };
        let request = match CreateConsumerRequest::from_json(body) {
            Ok(request) => request,
            Err(error) => return refuse(actions, ApiError::invalid_json(error)),
        };
        if requires_newer_api(headers) {
            return refuse(actions, ApiError::new(ErrorId::RequiredApiLevel));
        }
        let subject = match parse_create_subject(subject) {
            Ok(Some(subject)) => subject,
            Ok(None) => return,
            Err(error) => return refuse(actions, error),
        };
        let config = match check_create_request(&subject, &request) {
            Ok(config) => config,
            Err(error) => return refuse(actions, error),
        };
        let mut generated = self.shared.ids.consumer_name();
        while self.consumers.contains_key(&generated) {
            generated = self.shared.ids.consumer_name();
        }
        let decision = {
            let existing: Vec<ExistingConsumer<'_>> = self
                .consumers
                .iter()
                .map(|(name, consumer)| ExistingConsumer {
                    name,
                    config: &consumer.config,
                    deliver_has_interest: consumer.is_push()
                        && cx.interest.has_interest(&consumer.dsubj),
                })
                .collect();
            decide_create(
                config,
                request.action,
                request.pedantic,
                &self.shared.stream,
                &self.shared.options.limits,
                &existing,
                &generated,
            )
        };
        match decision {
            Err(error) => refuse(actions, error),
            Ok(CreateDecision::Create { name, config }) => {
                self.create_consumer(cx, &name, config, reply, actions);
            }
            Ok(CreateDecision::Update { name, config }) => {
                self.update_consumer(cx, &name, config, reply, actions);
            }
        }
    }

    fn create_consumer<S: StreamStore>(
        &mut self,
        cx: &Context<'_, S>,
        name: &str,
        config: ConsumerConfig,
        reply: &str,
        actions: &mut Vec<Action>,
    ) {
        let mut consumer = Consumer::new(
            name,
            config,
            cx.now_ns,
            &self.shared.options,
            &self.shared.stream,
            &mut self.shared.ids,
        );
        {
            let mut env = Env {
                cx,
                shared: &mut self.shared,
                actions,
            };
            consumer.select_starting_seq(&mut env);
            consumer.mark_dirty();
            consumer.send_action_advisory(&mut env, "create");
            if let Some(search) = consumer.start_search.as_mut() {
                search.reply = Some(reply.to_owned());
                consumer.continue_start_search(&mut env);
            } else {
                consumer.start(&mut env);
            }
        }
        self.consumers.insert(name.to_owned(), consumer);
        if self.consumers[name].start_search.is_none() {
            self.answer_create(cx, name, reply, actions);
        } else {
            self.after_event(cx, actions, &[name.to_owned()]);
        }
    }

    /// The create reply (once the new consumer's record is saved) and, for a consumer
    /// created paused, the pause advisory.
    fn answer_create<S: StreamStore>(
        &mut self,
        cx: &Context<'_, S>,
        name: &str,
        reply: &str,
        actions: &mut Vec<Action>,
    ) {
        let Some(info) = self.info_of(cx, name, actions) else {
            return;
        };
        let payload = Bytes::from(json::to_vec(&ConsumerInfoResponse::ok(
            CONSUMER_CREATE_RESPONSE_TYPE,
            info,
        )));
        self.with_consumer(cx, name, actions, |consumer, env| {
            consumer.reply_after_save(env, reply, payload);
            if consumer.is_paused(env.now()) {
                consumer.send_pause_advisory(env);
            }
        });
    }

    /// The create reply of a consumer whose start-by-time search just finished.
    pub(crate) fn answer_create_after_search<S: StreamStore>(
        &mut self,
        cx: &Context<'_, S>,
        name: &str,
        actions: &mut Vec<Action>,
    ) {
        let Some(reply) = self
            .consumers
            .get_mut(name)
            .and_then(|consumer| consumer.search_reply.take())
        else {
            return;
        };
        self.answer_create(cx, name, &reply, actions);
    }

    /// Go's `updateConfig` for a configuration [`decide_create`] accepted.
    fn update_consumer<S: StreamStore>(
        &mut self,
        cx: &Context<'_, S>,
        name: &str,
        config: ConsumerConfig,
        reply: &str,
        actions: &mut Vec<Action>,
    ) {
        let interest_retention = self.shared.stream.retention == RetentionPolicy::Interest;
        let mut cleanup_from = None;
        self.with_consumer(cx, name, actions, |consumer, env| {
            if consumer.apply_update(env, config) && interest_retention {
                cleanup_from = Some(consumer.asflr);
            }
        });
        if let Some(floor) = cleanup_from {
            self.cleanup_after_filter_change(cx, floor, actions);
        }
        let Some(info) = self.info_of(cx, name, actions) else {
            return;
        };
        let payload = Bytes::from(json::to_vec(&ConsumerInfoResponse::ok(
            CONSUMER_CREATE_RESPONSE_TYPE,
            info,
        )));
        self.with_consumer(cx, name, actions, |consumer, env| {
            consumer.reply_after_save(env, reply, payload);
        });
    }

    /// `CONSUMER.INFO.<stream>.<consumer>`.
    pub fn info<S: StreamStore>(
        &mut self,
        cx: &Context<'_, S>,
        consumer: &str,
        reply: &str,
        body: &[u8],
        actions: &mut Vec<Action>,
    ) {
        let response = if !is_empty_request(body) {
            ConsumerInfoResponse::error(
                CONSUMER_INFO_RESPONSE_TYPE,
                ApiError::new(ErrorId::NotEmptyRequest),
            )
        } else {
            match self.info_of(cx, consumer, actions) {
                Some(info) => ConsumerInfoResponse::ok(CONSUMER_INFO_RESPONSE_TYPE, info),
                None => ConsumerInfoResponse::error(
                    CONSUMER_INFO_RESPONSE_TYPE,
                    ApiError::new(ErrorId::ConsumerNotFound),
                ),
            }
        };
        reply_json(actions, reply, &response);
    }

    /// A consumer's information as replies show it (with `_nats.ver` and `_nats.level`).
    /// As in Go, a pull consumer's expired requests are settled first (their `408`s go out)
    /// so that `num_waiting` counts live ones.
    pub fn info_of<S: StreamStore>(
        &mut self,
        cx: &Context<'_, S>,
        name: &str,
        actions: &mut Vec<Action>,
    ) -> Option<ConsumerInfo> {
        self.info_shown(cx, name, true, actions)
    }

    /// A consumer's information, its configuration with the server's `_nats.*` metadata
    /// (replies to create and info) or as stored (`CONSUMER.LIST` entries, as in Go).
    fn info_shown<S: StreamStore>(
        &mut self,
        cx: &Context<'_, S>,
        name: &str,
        dynamic_metadata: bool,
        actions: &mut Vec<Action>,
    ) -> Option<ConsumerInfo> {
        let version = self.shared.options.server_version.clone();
        let mut info = None;
        self.with_consumer(cx, name, actions, |consumer, env| {
            if consumer.is_pull() {
                consumer.process_waiting(env, false);
            }
            let shown = if dynamic_metadata {
                with_dynamic_metadata(&consumer.config, &version, API_LEVEL)
            } else {
                consumer.config.clone()
            };
            info = Some(consumer.info(cx.store, shown, cx.now_ns));
        });
        info
    }

    /// Every consumer clients see (not direct ones), by name, as `CONSUMER.LIST` shows them
    /// (monitoring's `consumer_detail`).
    pub fn public_infos<S: StreamStore>(
        &mut self,
        cx: &Context<'_, S>,
        actions: &mut Vec<Action>,
    ) -> Vec<ConsumerInfo> {
        let names = self.public_names();
        names
            .iter()
            .filter_map(|name| self.info_shown(cx, name, false, actions))
            .collect()
    }

    /// The names of the consumers clients see (direct ones are the server's own), sorted.
    fn public_names(&self) -> Vec<String> {
        self.consumers
            .iter()
            .filter(|(_, consumer)| !consumer.config.direct)
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// The page of names a `NAMES` or `LIST` request asks for (from its `offset`, at most
    /// `limit`), with the paging numbers of the reply.
    fn paged_names(&self, body: &[u8], limit: usize) -> Result<(Vec<String>, ApiPaged), ApiError> {
        let offset = paging_offset(body)?;
        let names = self.public_names();
        let total = names.len();
        let offset = offset.min(total);
        let paged = ApiPaged {
            total: total as u64,
            offset: offset as u64,
            limit: limit as u64,
        };
        Ok((names.into_iter().skip(offset).take(limit).collect(), paged))
    }

    /// `CONSUMER.NAMES.<stream>`.
    pub fn names_request(&mut self, reply: &str, body: &[u8], actions: &mut Vec<Action>) {
        let response = match self.paged_names(body, CONSUMER_NAMES_LIMIT) {
            Ok((page, paged)) => ConsumerNamesResponse::ok(page, paged),
            Err(error) => ConsumerNamesResponse::error(error),
        };
        reply_json(actions, reply, &response);
    }

    /// `CONSUMER.LIST.<stream>`.
    pub fn list<S: StreamStore>(
        &mut self,
        cx: &Context<'_, S>,
        reply: &str,
        body: &[u8],
        actions: &mut Vec<Action>,
    ) {
        let response = match self.paged_names(body, CONSUMER_LIST_LIMIT) {
            Ok((page, paged)) => {
                let infos = page
                    .iter()
                    .filter_map(|name| self.info_shown(cx, name, false, actions))
                    .collect();
                ConsumerListResponse::ok(infos, paged)
            }
            Err(error) => ConsumerListResponse::error(error),
        };
        reply_json(actions, reply, &response);
    }

    /// `CONSUMER.DELETE.<stream>.<consumer>`.
    pub fn delete<S: StreamStore>(
        &mut self,
        cx: &Context<'_, S>,
        consumer: &str,
        reply: &str,
        body: &[u8],
        actions: &mut Vec<Action>,
    ) {
        let response = if !is_empty_request(body) {
            ConsumerDeleteResponse::error(ApiError::new(ErrorId::NotEmptyRequest))
        } else if self.remove_consumer(cx, consumer, true, actions) {
            ConsumerDeleteResponse::ok()
        } else {
            ConsumerDeleteResponse::error(ApiError::new(ErrorId::ConsumerNotFound))
        };
        reply_json(actions, reply, &response);
        self.after_event(cx, actions, &[]);
    }

    /// `CONSUMER.PAUSE.<stream>.<consumer>`: pause until the time in the body, or resume
    /// (no body, or the zero time).
    pub fn pause<S: StreamStore>(
        &mut self,
        cx: &Context<'_, S>,
        consumer: &str,
        reply: &str,
        body: &[u8],
        actions: &mut Vec<Action>,
    ) {
        let mut request = ConsumerPauseRequest::default();
        if is_json_object_or_array(body) {
            match json::from_request::<ConsumerPauseRequest>(body) {
                Ok(decoded) => request = decoded,
                Err(error) => {
                    let response = ConsumerPauseResponse::error(ApiError::invalid_json(error));
                    reply_json(actions, reply, &response);
                    return;
                }
            }
        }
        let until = request.pause_until;
        let now = cx.now_ns;
        let found = self.with_consumer(cx, consumer, actions, |consumer, env| {
            let pause_until = (!until.is_zero()).then_some(until);
            let changed = consumer.config.pause_until.unwrap_or(Timestamp::ZERO) != until;
            consumer.config.pause_until = pause_until;
            set_static_metadata(&mut consumer.config);
            consumer.mark_dirty();
            if changed {
                consumer.update_pause_state(now);
                consumer.send_pause_advisory(env);
            }
            let response = ConsumerPauseResponse::ok(until, now);
            consumer.reply_after_save(env, reply, Bytes::from(json::to_vec(&response)));
            consumer.pump(env);
        });
        if !found {
            let response = ConsumerPauseResponse::error(ApiError::new(ErrorId::ConsumerNotFound));
            reply_json(actions, reply, &response);
        }
    }

    /// `CONSUMER.UNPIN.<stream>.<consumer>`: the group's pinned client loses its pin.
    pub fn unpin<S: StreamStore>(
        &mut self,
        cx: &Context<'_, S>,
        consumer: &str,
        reply: &str,
        body: &[u8],
        actions: &mut Vec<Action>,
    ) {
        // Go decodes this body leniently, and an empty body is a JSON error.
        let request: ConsumerUnpinRequest = match serde_json::from_slice(body) {
            Ok(request) => request,
            Err(error) => {
                let text = if error.is_eof() {
                    "unexpected end of JSON input".to_owned()
                } else {
                    error.to_string()
                };
                let error = ApiError::invalid_json(text);
                reply_json(actions, reply, &unpin_response(Some(error)));
                return;
            }
        };
        let error = if request.group.is_empty() {
            Some(ApiError::invalid_json("consumer group not specified"))
        } else if !is_valid_group_name(&request.group) {
            Some(ApiError::new(ErrorId::ConsumerInvalidGroupName))
        } else {
            match self.consumers.get(consumer) {
                None => Some(ApiError::new(ErrorId::ConsumerNotFound)),
                Some(found) if !found.config.priority_groups.contains(&request.group) => {
                    Some(ApiError::new(ErrorId::ConsumerInvalidPriorityGroup))
                }
                Some(_) => None,
            }
        };
        if error.is_none() {
            self.with_consumer(cx, consumer, actions, |consumer, env| {
                consumer.unpin(env, "admin");
            });
        }
        reply_json(actions, reply, &unpin_response(error));
    }

    /// `CONSUMER.RESET.<stream>.<consumer>`: back to the ack floor (no body or `seq` 0) or
    /// to a sequence. Returns false when there is no such consumer (no reply: Go has no
    /// subscriber then).
    pub fn reset<S: StreamStore>(
        &mut self,
        cx: &Context<'_, S>,
        consumer: &str,
        reply: &str,
        headers: &[u8],
        body: &[u8],
        actions: &mut Vec<Action>,
    ) -> bool {
        if !self.consumers.contains_key(consumer) {
            return false;
        }
        if reply.is_empty() {
            return true;
        }
        if requires_newer_api(headers) {
            let error = ApiError::new(ErrorId::RequiredApiLevel);
            reply_json(actions, reply, &ConsumerResetResponse::error(error));
            return true;
        }
        let mut request = ConsumerResetRequest::default();
        if !body.is_empty() {
            match serde_json::from_slice::<ConsumerResetRequest>(body) {
                Ok(decoded) => request = decoded,
                Err(error) => {
                    let error = ApiError::invalid_json(error.to_string());
                    reply_json(actions, reply, &ConsumerResetResponse::error(error));
                    return true;
                }
            }
        }
        let mut outcome = Ok(0);
        self.with_consumer(cx, consumer, actions, |consumer, env| {
            let start_time_seq = consumer.start_time_seq;
            outcome = consumer.reset_starting_seq(env, request.seq, || start_time_seq);
            if outcome.is_ok() {
                consumer.pump(env);
            }
        });
        match outcome {
            Err(reason) => {
                let error = ApiError::consumer_invalid_reset(reason);
                reply_json(actions, reply, &ConsumerResetResponse::error(error));
            }
            Ok(seq) => {
                if self.shared.stream.retention == RetentionPolicy::Interest {
                    let floor = self.consumers.get(consumer).map_or(0, |found| found.asflr);
                    self.cleanup_after_filter_change(cx, floor, actions);
                }
                let Some(info) = self.info_of(cx, consumer, actions) else {
                    return true;
                };
                let payload = Bytes::from(json::to_vec(&ConsumerResetResponse::ok(info, seq)));
                self.with_consumer(cx, consumer, actions, |consumer, env| {
                    consumer.reply_after_save(env, reply, payload);
                });
            }
        }
        true
    }
}

impl Consumer {
    /// Applies an accepted update (Go's `updateConfig`). Returns whether the filters
    /// changed.
    pub(crate) fn apply_update<S: StreamStore>(
        &mut self,
        env: &mut Env<'_, '_, S>,
        config: ConsumerConfig,
    ) -> bool {
        let now = env.now();
        if config.deliver_subject != self.config.deliver_subject && self.is_push() {
            if !self.pending.is_empty() {
                self.force_expire_pending(env);
            }
            env.actions.push(Action::UnwatchDeliverInterest {
                consumer: self.name.clone(),
                subject: self.dsubj.clone(),
            });
            self.dsubj = config.deliver_subject.clone();
            self.active = env.cx.interest.has_interest(&self.dsubj);
            env.actions.push(Action::WatchDeliverInterest {
                consumer: self.name.clone(),
                subject: self.dsubj.clone(),
            });
        }
        if config.max_ack_pending != self.config.max_ack_pending {
            self.maxp = config.max_ack_pending;
        }
        if config.ack_wait != self.config.ack_wait && self.ptmr_at.is_some() {
            self.ptmr_at = Some(now + 100 * super::machine::MILLISECOND_NS);
        }
        if config.max_deliver != self.config.max_deliver {
            self.maxdc = u64::try_from(config.max_deliver.max(0)).unwrap_or(0);
        }
        if config.sample_frequency != self.config.sample_frequency {
            self.sfreq = super::config::parse_sample_frequency(&config.sample_frequency)
                .unwrap_or(self.sfreq);
        }
        let threshold_changed = config.inactive_threshold != self.config.inactive_threshold;
        let rate_changed = config.rate_limit != self.config.rate_limit;
        let old_filters = self.filters.clone();
        let new_filters = config.filters();
        let filters_changed = old_filters.len() != new_filters.len()
            || !new_filters
                .iter()
                .all(|filter| old_filters.contains(filter));
        if filters_changed {
            self.unstage_all();
            self.generation += 1;
            self.eof_seq = None;
            self.filters = new_filters;
        }
        self.config = config;
        if threshold_changed {
            self.update_inactive_threshold(&mut env.shared.ids);
            self.dtmr_at = (self.dthresh > 0).then(|| now.saturating_add(self.dthresh));
        }
        if rate_changed {
            let stream = env.shared.stream.clone();
            let options = env.shared.options.clone();
            self.set_rate_limit(&stream, &options, now);
        }
        if filters_changed {
            self.stream_num_pending(env.cx.store);
        }
        self.mark_dirty();
        self.pump(env);
        filters_changed
    }
}

impl ConsumerSet {
    /// After a consumer's filters changed or it was reset on an interest stream: the
    /// messages nobody needs any more go.
    fn cleanup_after_filter_change<S: StreamStore>(
        &mut self,
        cx: &Context<'_, S>,
        floor: u64,
        actions: &mut Vec<Action>,
    ) {
        let state = cx.store.state();
        let start = floor.max(state.first_seq);
        if start <= state.last_seq {
            self.scan_for_lost_interest(start, state.last_seq, actions);
        }
    }
}

/// Go's `isEmptyRequest`: no body, `{}`, or a JSON object without keys.
pub(crate) fn is_empty_request(body: &[u8]) -> bool {
    if body.is_empty() || body == b"{}" {
        return true;
    }
    matches!(
        serde_json::from_slice::<serde_json::Value>(body),
        Ok(serde_json::Value::Object(map)) if map.is_empty()
    )
}

/// Go's `isJSONObjectOrArray`.
pub(crate) fn is_json_object_or_array(body: &[u8]) -> bool {
    body.iter()
        .find(|byte| !matches!(byte, b' ' | b'\t' | b'\n' | b'\r'))
        .is_some_and(|byte| *byte == b'{' || *byte == b'[')
}

/// The page offset of a `NAMES`/`LIST` body (strict JSON when the body is JSON).
fn paging_offset(body: &[u8]) -> Result<usize, ApiError> {
    if !is_json_object_or_array(body) {
        return Ok(0);
    }
    let request: ConsumersRequest = json::from_request(body).map_err(ApiError::invalid_json)?;
    Ok(usize::try_from(request.offset.max(0)).unwrap_or(usize::MAX))
}

fn reply_json<T: Serialize>(actions: &mut Vec<Action>, reply: &str, response: &T) {
    if reply.is_empty() {
        return;
    }
    actions.push(Action::Publish(super::Outgoing {
        subject: reply.to_owned(),
        reply: None,
        headers: Bytes::new(),
        payload: Bytes::from(json::to_vec(response)),
        shown_subject: None,
    }));
}
