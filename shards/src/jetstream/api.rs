//! The `$JS.API.>` service: a local-only internal subscription per JetStream account on every
//! shard. A request is parsed where it was published and forwarded, with at most one mesh
//! hop, to the shard that answers it: the stream's owner for stream-scoped calls, the meta
//! shard for the calls that need every stream of the account. Accounts without JetStream get
//! only `$JS.API.INFO`, answered "JetStream not enabled for account", as in the Go server.

use std::rc::Rc;

use bytes::Bytes;
use natrix_jetstream::api::{
    AccountInfoResponse, ApiResponse, MsgDeleteResponse, MsgGetResponse, StreamCreateResponse,
    StreamDeleteResponse, StreamInfoResponse, StreamListResponse, StreamNamesResponse,
    StreamPurgeResponse, StreamRestoreResponse, StreamSnapshotResponse, StreamUpdateResponse,
};
use natrix_jetstream::errors::{ApiError, ErrorId};
use natrix_jetstream::json;

use super::placement::META_SHARD;
use super::JetStream;
use crate::account::AccountId;
use crate::message::Message;
use crate::shard::{ApiCall, ApiRequest, InternalSubscriber, JetStreamMsg, Shard};

const CONSUMER_CREATE_TYPE: &str = "io.nats.jetstream.api.v1.consumer_create_response";
const CONSUMER_INFO_TYPE: &str = "io.nats.jetstream.api.v1.consumer_info_response";
const CONSUMER_DELETE_TYPE: &str = "io.nats.jetstream.api.v1.consumer_delete_response";
const CONSUMER_NAMES_TYPE: &str = "io.nats.jetstream.api.v1.consumer_names_response";
const CONSUMER_LIST_TYPE: &str = "io.nats.jetstream.api.v1.consumer_list_response";

/// The API service of one account on one shard.
pub(super) struct ApiService {
    pub js: Rc<JetStream>,
    /// The account has JetStream; without it only `INFO` is answered, with an error.
    pub enabled: bool,
}

impl InternalSubscriber for ApiService {
    fn deliver(&self, shard: &Shard, message: &Message) {
        let Ok(subject) = std::str::from_utf8(&message.subject) else {
            return;
        };
        let Some(tail) = api_tail(subject, &self.js.settings.domain) else {
            return;
        };
        let Some(call) = parse_call(tail) else {
            // The Go server does not answer subjects it has no handler for.
            return;
        };
        let header_len = message.header_len.min(message.payload.len());
        let request = ApiRequest {
            account: message.account,
            call,
            subject: message.subject.clone(),
            reply: message.reply.clone(),
            headers: message.payload.slice(..header_len),
            body: message.payload.slice(header_len..),
        };
        if !self.enabled {
            self.js.reply_error(
                shard,
                &request,
                ApiError::new(ErrorId::NotEnabledForAccount),
            );
            return;
        }
        self.js.route_request(shard, request);
    }
}

/// The part of an API subject after `$JS.API.` (or `$JS.<domain>.API.`).
fn api_tail<'a>(subject: &'a str, domain: &str) -> Option<&'a str> {
    if let Some(tail) = subject.strip_prefix("$JS.API.") {
        return Some(tail);
    }
    if domain.is_empty() {
        return None;
    }
    subject
        .strip_prefix("$JS.")?
        .strip_prefix(domain)?
        .strip_prefix(".API.")
}

/// The call an API subject names, `None` for subjects Natrix (like the Go server) does not
/// answer.
pub(super) fn parse_call(tail: &str) -> Option<ApiCall> {
    let tokens: Vec<&str> = tail.split('.').collect();
    let name = |token: &str| Some(token.to_owned()).filter(|name| !name.is_empty());
    let call = match tokens.as_slice() {
        ["INFO"] => ApiCall::AccountInfo,
        ["STREAM", "CREATE", stream] => ApiCall::StreamCreate(name(stream)?),
        ["STREAM", "UPDATE", stream] => ApiCall::StreamUpdate(name(stream)?),
        ["STREAM", "DELETE", stream] => ApiCall::StreamDelete(name(stream)?),
        ["STREAM", "INFO", stream] => ApiCall::StreamInfo(name(stream)?),
        ["STREAM", "PURGE", stream] => ApiCall::StreamPurge(name(stream)?),
        ["STREAM", "NAMES"] => ApiCall::StreamNames,
        ["STREAM", "LIST"] => ApiCall::StreamList,
        ["STREAM", "MSG", "GET", stream] => ApiCall::MsgGet(name(stream)?),
        ["STREAM", "MSG", "DELETE", stream] => ApiCall::MsgDelete(name(stream)?),
        ["STREAM", "SNAPSHOT", stream] => ApiCall::StreamSnapshot(name(stream)?),
        ["STREAM", "RESTORE", stream] => ApiCall::StreamRestore(name(stream)?),
        ["DIRECT", "GET", stream] => ApiCall::DirectGet {
            stream: name(stream)?,
            subject: None,
        },
        ["DIRECT", "GET", stream, ..] => {
            let prefix = format!("DIRECT.GET.{stream}.");
            ApiCall::DirectGet {
                stream: name(stream)?,
                subject: Some(tail[prefix.len()..].to_owned()),
            }
        }
        ["CONSUMER", "CREATE" | "DURABLE", ..] | ["CONSUMER", "INFO" | "DELETE", _, _] => {
            ApiCall::Consumer {
                operation: tokens[1].to_owned(),
                stream: name(tokens.get(2).copied().unwrap_or_default())?,
            }
        }
        ["CONSUMER", "NAMES" | "LIST", stream] => ApiCall::Consumer {
            operation: tokens[1].to_owned(),
            stream: name(stream)?,
        },
        _ => return None,
    };
    Some(call)
}

/// The error reply of `call`: its own reply type with `error` set, as the Go server sends.
pub(super) fn error_payload(call: &ApiCall, error: ApiError) -> Vec<u8> {
    match call {
        ApiCall::AccountInfo => json::to_vec(&AccountInfoResponse::error(error)),
        ApiCall::StreamCreate(_) => json::to_vec(&StreamCreateResponse::error(error)),
        ApiCall::StreamUpdate(_) => json::to_vec(&StreamUpdateResponse::error(error)),
        ApiCall::StreamDelete(_) => json::to_vec(&StreamDeleteResponse::error(error)),
        ApiCall::StreamNames => json::to_vec(&StreamNamesResponse::error(error)),
        ApiCall::StreamList => json::to_vec(&StreamListResponse::error(error)),
        ApiCall::StreamInfo(_) => json::to_vec(&StreamInfoResponse::error(error)),
        ApiCall::StreamPurge(_) => json::to_vec(&StreamPurgeResponse::error(error)),
        ApiCall::MsgGet(_) => json::to_vec(&MsgGetResponse::error(error)),
        ApiCall::MsgDelete(_) => json::to_vec(&MsgDeleteResponse::error(error)),
        ApiCall::StreamSnapshot(_) => json::to_vec(&StreamSnapshotResponse::error(error)),
        ApiCall::StreamRestore(_) => json::to_vec(&StreamRestoreResponse::error(error)),
        ApiCall::DirectGet { .. } => json::to_vec(&ApiResponse::error(
            natrix_jetstream::api::SYSTEM_RESPONSE_TYPE,
            error,
        )),
        ApiCall::Consumer { operation, .. } => {
            json::to_vec(&ApiResponse::error(consumer_type(operation), error))
        }
    }
}

fn consumer_type(operation: &str) -> &'static str {
    match operation {
        "INFO" => CONSUMER_INFO_TYPE,
        "DELETE" => CONSUMER_DELETE_TYPE,
        "NAMES" => CONSUMER_NAMES_TYPE,
        "LIST" => CONSUMER_LIST_TYPE,
        _ => CONSUMER_CREATE_TYPE,
    }
}

impl JetStream {
    /// Subscribes the API service of every account on this shard.
    pub(super) fn subscribe_api(self: &Rc<Self>, shard: &Shard) {
        let config = shard.config();
        let accounts = &config.accounts;
        for index in 0..accounts.len() {
            let account = index as AccountId;
            if account == accounts.system() {
                continue;
            }
            let enabled = self.settings.account_limits(account).is_some();
            let handler: Rc<dyn InternalSubscriber> = Rc::new(ApiService {
                js: Rc::clone(self),
                enabled,
            });
            let mut subjects = Vec::new();
            let suffix = if enabled { ">" } else { "INFO" };
            subjects.push(format!("$JS.API.{suffix}"));
            if !self.settings.domain.is_empty() {
                subjects.push(format!("$JS.{}.API.{suffix}", self.settings.domain));
            }
            for subject in subjects {
                shard.subscribe_internal_local(account, Bytes::from(subject), Rc::clone(&handler));
            }
        }
    }

    /// Sends `request` to the shard that answers it (or answers it here).
    pub(super) fn route_request(self: &Rc<Self>, shard: &Shard, request: ApiRequest) {
        let target = match &request.call {
            ApiCall::AccountInfo
            | ApiCall::StreamCreate(_)
            | ApiCall::StreamUpdate(_)
            | ApiCall::StreamDelete(_)
            | ApiCall::StreamNames
            | ApiCall::StreamList
            | ApiCall::StreamRestore(_) => META_SHARD,
            call => {
                let stream = call.stream().unwrap_or_default();
                self.owner_of(shard, request.account, stream)
            }
        };
        if target == self.shard_id {
            self.handle_request(shard, request);
            return;
        }
        if let Err(msg) = shard.send_jetstream(target, JetStreamMsg::Request(request)) {
            if let JetStreamMsg::Request(request) = *msg {
                self.handle_request(shard, request);
            }
        }
    }

    /// Answers a request on the shard it was routed to.
    pub(super) fn handle_request(self: &Rc<Self>, shard: &Shard, request: ApiRequest) {
        let is_direct = matches!(request.call, ApiCall::DirectGet { .. });
        if !is_direct && super::direct::requires_higher_level(&request.headers) {
            self.reply_error(shard, &request, ApiError::new(ErrorId::RequiredApiLevel));
            return;
        }
        match &request.call {
            ApiCall::AccountInfo
            | ApiCall::StreamCreate(_)
            | ApiCall::StreamUpdate(_)
            | ApiCall::StreamDelete(_)
            | ApiCall::StreamNames
            | ApiCall::StreamList
            | ApiCall::StreamRestore(_) => match &self.meta {
                Some(meta) => meta.handle(self, shard, request),
                None => self.reply_error(shard, &request, ApiError::new(ErrorId::ClusterNotAvail)),
            },
            ApiCall::Consumer { operation, stream } => {
                let operation = operation.clone();
                let stream = stream.clone();
                self.consumer_request(shard, request, &operation, &stream);
            }
            ApiCall::StreamSnapshot(_)
                if natrix_jetstream::requests::is_empty_request(&request.body) =>
            {
                // Go refuses an empty snapshot request before it looks the stream up.
                self.reply_error(shard, &request, ApiError::new(ErrorId::BadRequest));
            }
            _ => self.handle_stream_request(shard, request),
        }
    }

    /// Consumers are a later part of Natrix's JetStream: the stream must exist, it has no
    /// consumers, and creating one is refused with a clear error.
    fn consumer_request(
        self: &Rc<Self>,
        shard: &Shard,
        request: ApiRequest,
        operation: &str,
        stream: &str,
    ) {
        if self.stream(request.account, stream).is_none() {
            self.reply_error(shard, &request, ApiError::new(ErrorId::StreamNotFound));
            return;
        }
        let kind = consumer_type(operation);
        match operation {
            "NAMES" => {
                let reply = format!(
                    "{{\"type\":\"{kind}\",\"total\":0,\"offset\":0,\"limit\":{},\"consumers\":[]}}",
                    natrix_jetstream::api::NAMES_LIMIT
                );
                self.send_api_reply(shard, &request, reply.into_bytes(), false);
            }
            "LIST" => {
                let reply = format!(
                    "{{\"type\":\"{kind}\",\"total\":0,\"offset\":0,\"limit\":{},\"consumers\":[]}}",
                    natrix_jetstream::api::LIST_LIMIT
                );
                self.send_api_reply(shard, &request, reply.into_bytes(), false);
            }
            "INFO" | "DELETE" => {
                self.reply_error(shard, &request, ApiError::new(ErrorId::ConsumerNotFound))
            }
            _ => {
                let error = ApiError::consumer_create("consumers are not supported by Natrix yet");
                self.reply_error(shard, &request, error);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_subjects_name_their_call() {
        assert_eq!(parse_call("INFO"), Some(ApiCall::AccountInfo));
        assert_eq!(
            parse_call("STREAM.CREATE.ORDERS"),
            Some(ApiCall::StreamCreate("ORDERS".into()))
        );
        assert_eq!(
            parse_call("DIRECT.GET.KV_a.$KV.a.key.with.dots"),
            Some(ApiCall::DirectGet {
                stream: "KV_a".into(),
                subject: Some("$KV.a.key.with.dots".into())
            })
        );
        assert_eq!(parse_call("STREAM.CREATE.A.B"), None);
        assert_eq!(parse_call("STREAM.LEADER.STEPDOWN.A"), None);
        assert_eq!(parse_call("NOPE"), None);
        assert_eq!(api_tail("$JS.hub.API.INFO", "hub"), Some("INFO"));
        assert_eq!(api_tail("$JS.hub.API.INFO", ""), None);
        assert_eq!(
            api_tail("$JS.API.STREAM.NAMES", "hub"),
            Some("STREAM.NAMES")
        );
    }
}
