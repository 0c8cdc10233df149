//! The requests a stream's owner answers: `STREAM.INFO`, `PURGE`, `MSG.GET`, `MSG.DELETE`
//! (direct gets are in `direct`), and the changes the meta shard approved (create, update,
//! delete), with the Go server's replies and advisories.

use std::rc::Rc;

use bytes::Bytes;
use natrix_jetstream::api::{
    ApiPaged, ClusterInfo, MsgDeleteResponse, MsgGetResponse, StoredMsg, StreamCreateResponse,
    StreamDeleteResponse, StreamInfo, StreamInfoRequest, StreamInfoResponse, StreamPurgeResponse,
    StreamState, StreamUpdateResponse, API_LEVEL, MAX_DELETED_DETAILS, MAX_SUBJECT_DETAILS,
};
use natrix_jetstream::config::with_dynamic_metadata;
use natrix_jetstream::errors::{ApiError, ErrorId};
use natrix_jetstream::requests::{self, MsgGet};
use natrix_jetstream::time::Timestamp;
use natrix_storage::StreamStore;

use super::api::error_payload;
use super::files;
use super::placement::META_SHARD;
use super::stream::{seq_from_time, Stream};
use super::{now_ns, JetStream};
use crate::shard::{ApiCall, ApiRequest, DirectoryEntry, JetStreamMsg, Shard, StreamChange};

/// How a stream's info is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum InfoView {
    /// `STREAM.INFO`: the server's `_nats.*` metadata and the cluster (leader) section.
    Info,
    /// Create (and restore) replies: the metadata, no cluster section, no domain.
    Create,
    /// Update replies: the metadata and the domain, no cluster section.
    Change,
    /// `STREAM.LIST` entries: the configuration as stored.
    List,
}

impl Stream {
    /// The stream's info as the Go server shows it; `request` asks for subject details.
    pub(super) fn info(
        &self,
        js: &JetStream,
        view: InfoView,
        request: Option<&StreamInfoRequest>,
    ) -> (StreamInfo, ApiPaged) {
        let settings = js.settings();
        let config = self.config();
        let config = match view {
            InfoView::List => config,
            InfoView::Info | InfoView::Create | InfoView::Change => {
                with_dynamic_metadata(&config, &settings.version, API_LEVEL)
            }
        };
        let mut state = StreamState::from_store(&self.store.state());
        state.consumer_count = self.consumers.count();
        if request.is_some_and(|request| request.deleted_details) {
            state.deleted = self.store.deleted(MAX_DELETED_DETAILS);
        }
        let mut paged = ApiPaged::default();
        if let Some(request) = request.filter(|request| !request.subjects_filter.is_empty()) {
            let totals = self.store.subjects_totals(&request.subjects_filter);
            if !totals.is_empty() {
                let offset = usize::try_from(request.offset).unwrap_or(0);
                paged = ApiPaged {
                    total: totals.len() as u64,
                    offset: offset as u64,
                    limit: MAX_SUBJECT_DETAILS as u64,
                };
                let mut subjects: Vec<(String, u64)> = totals.into_iter().collect();
                subjects.sort();
                let page: std::collections::BTreeMap<String, u64> = subjects
                    .into_iter()
                    .skip(offset)
                    .take(MAX_SUBJECT_DETAILS)
                    .collect();
                state.subjects = (!page.is_empty()).then_some(page);
            }
        }
        let info = StreamInfo {
            config,
            created: Timestamp::from_unix_nanos(self.created_ns.get()),
            state,
            // As the Go server: a create reply leaves the domain out.
            domain: if view == InfoView::Create {
                String::new()
            } else {
                settings.domain.clone()
            },
            cluster: (view == InfoView::Info).then(|| ClusterInfo {
                leader: settings.server_name.clone(),
                ..ClusterInfo::default()
            }),
            mirror: None,
            sources: Vec::new(),
            alternates: Vec::new(),
            ts: Timestamp::from_unix_nanos(now_ns()),
        };
        (info, paged)
    }
}

impl JetStream {
    /// Answers a JSON reply to `request`.
    pub(super) fn reply_json<T: serde::Serialize>(
        &self,
        shard: &Shard,
        request: &ApiRequest,
        reply: &T,
        is_error: bool,
    ) {
        let payload = natrix_jetstream::json::to_vec(reply);
        self.send_api_reply(shard, request, payload, is_error);
    }

    /// Answers `request` with `error`, in the reply type of its call.
    pub(super) fn reply_error(&self, shard: &Shard, request: &ApiRequest, error: ApiError) {
        let payload = error_payload(&request.call, error);
        self.send_api_reply(shard, request, payload, true);
    }

    /// A stream-scoped request on the owner.
    pub(super) fn handle_stream_request(self: &Rc<Self>, shard: &Shard, request: ApiRequest) {
        let Some(name) = request.call.stream().map(str::to_owned) else {
            return;
        };
        let Some(stream) = self.stream(request.account, &name) else {
            if let ApiCall::DirectGet { .. } = request.call {
                // The Go server subscribes direct gets per stream: without the stream nobody
                // answers, and the requester sees no responders.
                super::direct::no_responders(self, shard, &request);
                return;
            }
            self.reply_error(shard, &request, ApiError::new(ErrorId::StreamNotFound));
            return;
        };
        match &request.call {
            ApiCall::StreamInfo(_) => match requests::parse_info(&request.body) {
                Ok(info_request) => {
                    let (info, paged) = stream.info(self, InfoView::Info, Some(&info_request));
                    self.reply_json(shard, &request, &StreamInfoResponse::ok(info, paged), false);
                }
                Err(error) => self.reply_error(shard, &request, error),
            },
            ApiCall::StreamPurge(_) => self.purge(shard, &stream, request),
            ApiCall::MsgGet(_) => self.msg_get(shard, &stream, request),
            ApiCall::MsgDelete(_) => self.msg_delete(shard, &stream, request),
            ApiCall::DirectGet { .. } => super::direct::direct_get(self, shard, &stream, request),
            ApiCall::StreamSnapshot(_) => self.snapshot_stream(shard, &stream, request),
            _ => self.reply_error(shard, &request, ApiError::new(ErrorId::BadRequest)),
        }
    }

    fn purge(self: &Rc<Self>, shard: &Shard, stream: &Rc<Stream>, request: ApiRequest) {
        let purge = match requests::parse_purge(&request.body, &stream.config()) {
            Ok(purge) => purge,
            Err(error) => return self.reply_error(shard, &request, error),
        };
        let js = Rc::clone(self);
        let target = Rc::clone(stream);
        stream.spawn_task(shard, async move |shard| {
            match target.store.purge(&purge).await {
                Ok(purged) => {
                    target.resync();
                    target.consumers.purged(&target, &shard, &purge);
                    js.reply_json(&shard, &request, &StreamPurgeResponse::ok(purged), false);
                }
                Err(error) => {
                    let error = ApiError::stream_general(error);
                    js.reply_error(&shard, &request, error);
                }
            }
        });
    }

    fn msg_get(self: &Rc<Self>, shard: &Shard, stream: &Rc<Stream>, request: ApiRequest) {
        let get = match requests::parse_msg_get(&request.body) {
            Ok(get) => get,
            Err(error) => return self.reply_error(shard, &request, error),
        };
        let no_headers =
            natrix_jetstream::json::from_request::<natrix_jetstream::api::MsgGetRequest>(
                &request.body,
            )
            .is_ok_and(|parsed| parsed.no_hdr);
        let js = Rc::clone(self);
        let target = Rc::clone(stream);
        stream.spawn_task(shard, async move |shard| {
            let store = &*target.store;
            let loaded = match get {
                MsgGet::BySeq(seq) => store.load_msg(seq).await,
                MsgGet::LastFor(subject) => store.load_last_msg(&subject).await,
                MsgGet::NextFor { subject, seq } => store.load_next_msg(&subject, seq).await,
                MsgGet::ByTime { start_ns, subject } => {
                    match seq_from_time(store, start_ns).await {
                        Ok(seq) => store.load_next_msg(&subject, seq).await,
                        Err(error) => Err(error),
                    }
                }
            };
            match loaded {
                Ok(Some(message)) => {
                    let reply = MsgGetResponse::ok(StoredMsg::from_store(&message, no_headers));
                    // As the Go server: a found message is sent outside the API statistics.
                    if let Some(reply_subject) = request.reply.clone() {
                        let payload = natrix_jetstream::json::to_vec(&reply);
                        let message = crate::message::Message::new(
                            request.account,
                            reply_subject,
                            None,
                            payload,
                        );
                        shard.publish_internal(std::iter::once(message));
                    }
                }
                Ok(None) => {
                    js.reply_error(&shard, &request, ApiError::new(ErrorId::NoMessageFound))
                }
                Err(error) => js.reply_error(&shard, &request, ApiError::stream_general(error)),
            }
        });
    }

    fn msg_delete(self: &Rc<Self>, shard: &Shard, stream: &Rc<Stream>, request: ApiRequest) {
        let delete = match requests::parse_msg_delete(&request.body, &stream.config()) {
            Ok(delete) => delete,
            Err(error) => return self.reply_error(shard, &request, error),
        };
        let js = Rc::clone(self);
        let target = Rc::clone(stream);
        stream.spawn_task(shard, async move |shard| {
            // Natrix's stores never overwrite a removed message's bytes in place (they are
            // dropped with their block), so `no_erase` changes nothing.
            // The Go server counts every outcome here as an answered request, not an error.
            // Consumers need the subject of what left.
            let subject = match target.consumers.any() {
                true => target.store.load_msg(delete.seq).await.ok().flatten(),
                false => None,
            }
            .map(|message| message.subject);
            let reply = match target.store.remove_msg(delete.seq).await {
                Ok(true) => {
                    if let Some(subject) = subject {
                        target
                            .consumers
                            .removed(&target, &shard, delete.seq, &subject);
                    }
                    MsgDeleteResponse::ok()
                }
                Ok(false) => MsgDeleteResponse::error(ApiError::sequence_not_found(delete.seq)),
                Err(error) => MsgDeleteResponse::error(ApiError::stream_msg_delete_failed(error)),
            };
            js.reply_json(&shard, &request, &reply, false);
        });
    }

    /// Carries out a change the meta shard approved (on the owner).
    pub(super) fn apply_change(
        self: &Rc<Self>,
        shard: &Shard,
        request: ApiRequest,
        change: Box<StreamChange>,
    ) {
        let Some(shard) = shard.handle() else {
            return;
        };
        let js = Rc::clone(self);
        compio::runtime::spawn(async move {
            match *change {
                StreamChange::Create {
                    config,
                    created_ns,
                    restore,
                } => {
                    let entry = DirectoryEntry { config, created_ns };
                    js.create_stream(&shard, request, entry, restore).await;
                }
                StreamChange::Update { config, previous } => {
                    js.update_stream(&shard, request, config, previous).await;
                }
                StreamChange::Delete => js.delete_stream(&shard, request).await,
                StreamChange::Existing => {
                    let name = request.call.stream().unwrap_or_default().to_owned();
                    match js.stream(request.account, &name) {
                        Some(stream) => {
                            let (info, _) = stream.info(&js, InfoView::Create, None);
                            // The Go server says `did_create` for an identical create too.
                            let reply = StreamCreateResponse::ok(info, true);
                            js.reply_json(&shard, &request, &reply, false);
                        }
                        None => {
                            js.reply_error(&shard, &request, ApiError::new(ErrorId::StreamNotFound))
                        }
                    }
                }
            }
        })
        .detach();
    }

    /// Creates a stream the meta shard approved; with `restore`, empty and not capturing
    /// until the client has sent its backup.
    async fn create_stream(
        self: &Rc<Self>,
        shard: &Rc<Shard>,
        request: ApiRequest,
        entry: DirectoryEntry,
        restore: bool,
    ) {
        let name = entry.config.name.clone();
        let account_name = shard.config().accounts.get(request.account).name.clone();
        if self.stream(request.account, &name).is_some() {
            self.reply_error(shard, &request, ApiError::new(ErrorId::StreamNameExist));
            return;
        }
        let memory = entry.config.storage == natrix_jetstream::api::StorageType::Memory;
        let dir =
            (!memory).then(|| files::stream_dir(&self.settings.store_dir, &account_name, &name));
        let opened = async {
            if let Some(dir) = &dir {
                // A directory left by an earlier stream of this name must not leak its
                // messages into the new one.
                if std::path::Path::new(dir).exists() {
                    files::remove_stream_dir(dir).await?;
                }
                if restore {
                    // A restore writes the metafile once the backup is in: a crash before
                    // leaves a directory that the next start does not load (and the next
                    // create of the name removes), never a half-restored stream.
                    compio::fs::create_dir_all(dir).await.map_err(|source| {
                        super::JetStreamError::Io {
                            operation: "create the stream directory",
                            path: dir.clone(),
                            source,
                        }
                    })?;
                } else {
                    files::write_meta(dir, &entry).await?;
                }
            }
            Stream::open(self, request.account, &account_name, &entry, dir.clone()).await
        }
        .await;
        let stream = match opened {
            Ok(stream) => stream,
            Err(error) => {
                tracing::warn!("Stream create failed for '{account_name} > {name}': {error}");
                if let Some(dir) = &dir {
                    let _ = files::remove_stream_dir(dir).await;
                }
                self.revert(shard, request.account, &name, None);
                let error = if restore {
                    ApiError::stream_restore(error)
                } else {
                    ApiError::stream_create(error)
                };
                self.reply_error(shard, &request, error);
                return;
            }
        };
        if restore {
            self.restore_stream(shard, request, stream).await;
            return;
        }
        self.streams
            .borrow_mut()
            .insert((request.account, name.clone()), Rc::clone(&stream));
        stream.start(shard);
        let (info, _) = stream.info(self, InfoView::Create, None);
        self.reply_json(
            shard,
            &request,
            &StreamCreateResponse::ok(info, true),
            false,
        );
        self.stream_advisory(shard, &request, "CREATED", "create");
    }

    async fn update_stream(
        self: &Rc<Self>,
        shard: &Rc<Shard>,
        request: ApiRequest,
        config: natrix_jetstream::api::StreamConfig,
        previous: DirectoryEntry,
    ) {
        let name = config.name.clone();
        let Some(stream) = self.stream(request.account, &name) else {
            self.revert(shard, request.account, &name, None);
            self.reply_error(shard, &request, ApiError::new(ErrorId::StreamNotFound));
            return;
        };
        if let Err(error) = stream.update(shard, config).await {
            self.revert(shard, request.account, &name, Some(Box::new(previous)));
            self.reply_error(shard, &request, ApiError::stream_update(error));
            return;
        }
        let (info, _) = stream.info(self, InfoView::Change, None);
        self.reply_json(shard, &request, &StreamUpdateResponse::ok(info), false);
        self.stream_advisory(shard, &request, "UPDATED", "modify");
    }

    async fn delete_stream(self: &Rc<Self>, shard: &Rc<Shard>, request: ApiRequest) {
        let name = request.call.stream().unwrap_or_default().to_owned();
        let removed = self
            .streams
            .borrow_mut()
            .remove(&(request.account, name.clone()));
        let Some(stream) = removed else {
            self.reply_error(shard, &request, ApiError::new(ErrorId::StreamNotFound));
            return;
        };
        let dir = stream.dir.clone();
        let account_name = stream.account_name.clone();
        stream.consumers.stream_deleted(&stream, shard);
        drop(stream.close(shard).await);
        if let Some(dir) = dir {
            if let Err(error) = files::remove_stream_dir(&dir).await {
                tracing::error!(
                    "JetStream could not remove stream '{account_name} > {name}': {error}"
                );
                let reply = StreamDeleteResponse::error(ApiError::stream_delete(error));
                self.reply_json(shard, &request, &reply, true);
                return;
            }
        }
        self.reply_json(shard, &request, &StreamDeleteResponse::ok(), false);
        self.stream_advisory(shard, &request, "DELETED", "delete");
    }

    /// Tells the meta shard that an approved change did not happen.
    pub(super) fn revert(
        &self,
        shard: &Shard,
        account: crate::account::AccountId,
        stream: &str,
        previous: Option<Box<DirectoryEntry>>,
    ) {
        if let Some(meta) = &self.meta {
            meta.revert(account, stream, previous);
            return;
        }
        let msg = JetStreamMsg::Revert {
            account,
            stream: stream.to_owned(),
            previous,
        };
        let _ = shard.send_jetstream(META_SHARD, msg);
    }

    /// `$JS.EVENT.ADVISORY.STREAM.<event>.<stream>` with Go's `stream_action` JSON.
    fn stream_advisory(&self, shard: &Shard, request: &ApiRequest, event: &str, action: &str) {
        let name = request.call.stream().unwrap_or_default();
        let advisory = natrix_jetstream::api::StreamActionAdvisory {
            kind: natrix_jetstream::api::STREAM_ACTION_ADVISORY_TYPE.to_owned(),
            id: advisory_id(),
            timestamp: Timestamp::from_unix_nanos(now_ns()),
            stream: name.to_owned(),
            action: action.to_owned(),
            domain: self.settings.domain.clone(),
        };
        let subject = format!("$JS.EVENT.ADVISORY.STREAM.{event}.{name}");
        let payload = natrix_jetstream::json::to_vec(&advisory);
        shard.publish_internal(std::iter::once(crate::message::Message::new(
            request.account,
            Bytes::from(subject),
            None,
            payload,
        )));
    }
}

/// A unique id for an advisory, in the shape of a NUID (22 base62 characters).
pub(super) fn advisory_id() -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut value: u128 = rand::random();
    (0..22)
        .map(|_| {
            let digit = (value % 62) as usize;
            value /= 62;
            char::from(ALPHABET[digit])
        })
        .collect()
}
