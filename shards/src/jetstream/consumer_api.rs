//! The consumer API on the stream's owner: `CONSUMER.CREATE` (all forms), `DURABLE.CREATE`,
//! `INFO`, `NAMES`, `LIST`, `DELETE`, `PAUSE`, `UNPIN`, and the two requests the Go server
//! takes on per-consumer subscriptions rather than through its API service: `MSG.NEXT` (a
//! pull request) and `RESET`. The API service (`api`) parses the subject where the request
//! was published and forwards it here; the stream's [`ConsumerSet`] decides and answers.
//!
//! Replies of API calls go out as API replies (counted, with the audit advisory), even when
//! the set sends them later (a create is answered once its record is saved). `MSG.NEXT` and
//! `RESET` are not API calls in the Go server: no audit, and when the consumer does not
//! exist the requester hears "no responders", as from a subject without subscribers.
//!
//! [`ConsumerSet`]: natrix_jetstream::consumer::ConsumerSet

use std::rc::Rc;

use natrix_jetstream::api::CreateConsumerRequest;
use natrix_jetstream::consumer::config::{check_create_request, parse_create_subject};
use natrix_jetstream::consumer::wire::requires_newer_api;
use natrix_jetstream::errors::{ApiError, ErrorId};

use super::consumers::no_responders;
use super::JetStream;
use crate::shard::{ApiCall, ApiRequest, Shard};

/// Reply types of the consumer calls, for errors answered before the set sees the request.
pub(super) fn consumer_type(operation: &str) -> &'static str {
    use natrix_jetstream::api::{
        CONSUMER_CREATE_RESPONSE_TYPE, CONSUMER_DELETE_RESPONSE_TYPE, CONSUMER_INFO_RESPONSE_TYPE,
        CONSUMER_LIST_RESPONSE_TYPE, CONSUMER_NAMES_RESPONSE_TYPE, CONSUMER_PAUSE_RESPONSE_TYPE,
        CONSUMER_RESET_RESPONSE_TYPE, CONSUMER_UNPIN_RESPONSE_TYPE,
    };
    match operation {
        "INFO" => CONSUMER_INFO_RESPONSE_TYPE,
        "DELETE" => CONSUMER_DELETE_RESPONSE_TYPE,
        "NAMES" => CONSUMER_NAMES_RESPONSE_TYPE,
        "LIST" => CONSUMER_LIST_RESPONSE_TYPE,
        "PAUSE" => CONSUMER_PAUSE_RESPONSE_TYPE,
        "UNPIN" => CONSUMER_UNPIN_RESPONSE_TYPE,
        "RESET" => CONSUMER_RESET_RESPONSE_TYPE,
        _ => CONSUMER_CREATE_RESPONSE_TYPE,
    }
}

/// The consumer call of an API subject, given the tokens after `CONSUMER`; `None` for
/// subjects the Go server has no handler for.
pub(super) fn parse_consumer_call(tokens: &[&str]) -> Option<ApiCall> {
    let call = |operation: &str, stream: &str| {
        (!stream.is_empty()).then(|| ApiCall::Consumer {
            operation: operation.to_owned(),
            stream: stream.to_owned(),
        })
    };
    match tokens {
        ["CREATE", stream] | ["CREATE", stream, _, ..] => call("CREATE", stream),
        ["DURABLE", "CREATE", stream, _] => call("DURABLE", stream),
        [operation @ ("INFO" | "DELETE" | "PAUSE" | "UNPIN" | "RESET"), stream, _] => {
            call(operation, stream)
        }
        [operation @ ("NAMES" | "LIST"), stream] => call(operation, stream),
        ["MSG", "NEXT", stream, _] => call("MSG.NEXT", stream),
        _ => None,
    }
}

/// Whether a consumer call counts as an API request (the Go server's API service answers
/// it); `MSG.NEXT` and `RESET` go to the consumer's own subscriptions there.
pub(super) fn is_api_call(call: &ApiCall) -> bool {
    !matches!(call, ApiCall::Consumer { operation, .. } if operation == "MSG.NEXT" || operation == "RESET")
}

impl JetStream {
    /// Answers a consumer call on the stream's owner.
    pub(super) fn consumer_request(self: &Rc<Self>, shard: &Shard, request: ApiRequest) {
        let ApiCall::Consumer { operation, stream } = &request.call else {
            return;
        };
        // The subject as `$JS.API.CONSUMER.…`, whatever the domain prefix was.
        let subject = String::from_utf8_lossy(&request.subject);
        let Some(tail) = super::api::api_tail(&subject, &self.settings.domain) else {
            return;
        };
        let subject = format!("$JS.API.{tail}");
        let consumer = subject.split('.').nth(5).unwrap_or_default().to_owned();
        let reply = request
            .reply
            .as_ref()
            .map(|reply| String::from_utf8_lossy(reply).into_owned())
            .unwrap_or_default();
        let found = self.stream(request.account, stream);
        match operation.as_str() {
            "MSG.NEXT" => {
                let consumer = subject.split('.').nth(6).unwrap_or_default();
                let answered = found.and_then(|stream| {
                    stream.consumers.event(&stream, shard, |set, cx, actions| {
                        set.next_request(
                            cx,
                            consumer,
                            &reply,
                            None,
                            &request.headers,
                            &request.body,
                            actions,
                        )
                    })
                });
                if answered != Some(true) {
                    if let Some(reply) = request.reply.clone().filter(|reply| !reply.is_empty()) {
                        no_responders(shard, request.account, reply, &request.subject);
                    }
                }
                return;
            }
            "RESET" => {
                let answered = found.and_then(|stream| {
                    stream.consumers.event(&stream, shard, |set, cx, actions| {
                        set.reset(
                            cx,
                            &consumer,
                            &reply,
                            &request.headers,
                            &request.body,
                            actions,
                        )
                    })
                });
                if answered != Some(true) {
                    if let Some(reply) = request.reply.clone().filter(|reply| !reply.is_empty()) {
                        no_responders(shard, request.account, reply, &request.subject);
                    }
                }
                return;
            }
            _ => {}
        }
        let Some(stream) = found.filter(|stream| stream.consumers.is_running()) else {
            let is_create = matches!(operation.as_str(), "CREATE" | "DURABLE");
            let error = if is_create {
                create_checks(&subject, &request).err()
            } else {
                None
            };
            let error = error.unwrap_or_else(|| ApiError::new(ErrorId::StreamNotFound));
            self.reply_error(shard, &request, error);
            return;
        };
        stream.consumers.expect_api_reply(&request);
        let headers = &request.headers;
        let body = &request.body;
        let answered = stream.consumers.event(&stream, shard, |set, cx, actions| {
            match operation.as_str() {
                "CREATE" | "DURABLE" => set.create(cx, &subject, &reply, headers, body, actions),
                "INFO" => set.info(cx, &consumer, &reply, body, actions),
                "NAMES" => set.names_request(&reply, body, actions),
                "LIST" => set.list(cx, &reply, body, actions),
                "DELETE" => set.delete(cx, &consumer, &reply, body, actions),
                "PAUSE" => set.pause(cx, &consumer, &reply, body, actions),
                "UNPIN" => set.unpin(cx, &consumer, &reply, body, actions),
                _ => {}
            }
        });
        if answered.is_none() {
            stream.consumers.forget_api_reply(&request);
        }
    }
}

/// The checks the Go server makes on a create request before it looks the stream up, so
/// that a request for a missing stream gets the same first error.
fn create_checks(subject: &str, request: &ApiRequest) -> Result<(), ApiError> {
    let parsed = CreateConsumerRequest::from_json(&request.body).map_err(ApiError::invalid_json)?;
    if requires_newer_api(&request.headers) {
        return Err(ApiError::new(ErrorId::RequiredApiLevel));
    }
    if let Some(create_subject) = parse_create_subject(subject)? {
        check_create_request(&create_subject, &parsed)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(tail: &str) -> Option<ApiCall> {
        let tokens: Vec<&str> = tail.split('.').collect();
        parse_consumer_call(&tokens)
    }

    #[test]
    fn consumer_subjects_name_their_stream_in_every_form() {
        let call = |operation: &str, stream: &str| {
            Some(ApiCall::Consumer {
                operation: operation.into(),
                stream: stream.into(),
            })
        };
        assert_eq!(parse("CREATE.S"), call("CREATE", "S"));
        assert_eq!(parse("CREATE.S.C"), call("CREATE", "S"));
        assert_eq!(parse("CREATE.S.C.orders.>"), call("CREATE", "S"));
        assert_eq!(parse("DURABLE.CREATE.S.D"), call("DURABLE", "S"));
        assert_eq!(parse("DURABLE.CREATE.S"), None);
        assert_eq!(parse("INFO.S.C"), call("INFO", "S"));
        assert_eq!(parse("INFO.S"), None);
        assert_eq!(parse("NAMES.S"), call("NAMES", "S"));
        assert_eq!(parse("MSG.NEXT.S.C"), call("MSG.NEXT", "S"));
        assert_eq!(parse("RESET.S.C"), call("RESET", "S"));
        assert_eq!(parse("LEADER.STEPDOWN.S.C"), None);
    }
}
