//! The meta shard's directory of every stream of every account, and the API calls that need
//! it: `STREAM.CREATE`, `UPDATE` and `DELETE` (the overlap and limit checks see every stream
//! of the account, and every change of the directory happens here, in one order), `NAMES`,
//! `LIST` and `$JS.API.INFO`.
//!
//! The directory holds configurations; what only owners know (messages, bytes) is asked of
//! every shard when a reply needs it ([`Query`]), and the reply leaves when every shard has
//! answered (or after [`GATHER_TIMEOUT`], listing the streams that did not answer).
//!
//! A change is approved here, recorded in the directory at once (so that a request that
//! follows sees it), and carried out by the owner, which answers the client; if the owner
//! cannot, it asks for the directory entry back ([`Meta::revert`]). Because the meta shard
//! sends its changes to an owner over one FIFO queue, a delete followed by a create of the
//! same name reaches the owner in that order.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::time::Duration;

use natrix_jetstream::api::{
    AccountInfoResponse, AccountLimits, AccountStats, ApiPaged, ApiStats, StorageType,
    StreamConfig, StreamConfigRequest, StreamInfo, StreamListResponse, StreamNamesRequest,
    StreamNamesResponse, Tier, API_LEVEL, LIST_LIMIT, NAMES_LIMIT,
};
use natrix_jetstream::config::{
    check_update, matches_existing, prepare_create, refuse_unsupported, subjects_overlap,
    ConfigLimits, StreamDirectory,
};
use natrix_jetstream::errors::{ApiError, ErrorId};
use natrix_jetstream::subject::patterns_overlap;

use super::placement::META_SHARD;
use super::stream_api::InfoView;
use super::{now_ns, JetStream};
use crate::account::AccountId;
use crate::options::AccountJetStreamLimits;
use crate::shard::{
    AccountUsage, Answer, ApiCall, ApiRequest, DirectoryEntry, JetStreamMsg, Query, Shard,
    StreamChange,
};

/// How long a reply waits for every shard's answer.
const GATHER_TIMEOUT: Duration = Duration::from_secs(4);

/// The directory and the replies waiting for answers.
#[derive(Default)]
pub(super) struct Meta {
    streams: RefCell<HashMap<AccountId, BTreeMap<String, DirectoryEntry>>>,
    gathers: RefCell<HashMap<u64, Gather>>,
    /// Streams being restored: their names are taken, but (as in the Go server, which
    /// creates the stream only once the backup arrives) they are not listed yet.
    restoring: RefCell<std::collections::HashSet<(AccountId, String)>>,
    next_token: Cell<u64>,
}

struct Gather {
    request: ApiRequest,
    /// Shards that have not answered yet.
    waiting: usize,
    kind: GatherKind,
}

enum GatherKind {
    AccountInfo {
        usage: AccountUsage,
    },
    List {
        names: Vec<String>,
        infos: Vec<StreamInfo>,
        paged: ApiPaged,
    },
}

/// The streams of one account, as the configuration checks look them up.
struct AccountStreams<'a>(Option<&'a BTreeMap<String, DirectoryEntry>>);

impl StreamDirectory for AccountStreams<'_> {
    fn config(&self, name: &str) -> Option<StreamConfig> {
        self.0?.get(name).map(|entry| entry.config.clone())
    }
}

impl Meta {
    /// Adds a stream found at start.
    pub fn insert(&self, account: AccountId, entry: DirectoryEntry) {
        self.streams
            .borrow_mut()
            .entry(account)
            .or_default()
            .insert(entry.config.name.clone(), entry);
    }

    /// A restore completed: the stream is listed from now on.
    pub fn restored(&self, account: AccountId, stream: &str) {
        self.restoring
            .borrow_mut()
            .remove(&(account, stream.to_owned()));
    }

    /// Puts a directory entry back after an owner could not carry out a change.
    pub fn revert(&self, account: AccountId, stream: &str, previous: Option<Box<DirectoryEntry>>) {
        self.restored(account, stream);
        let mut streams = self.streams.borrow_mut();
        let entries = streams.entry(account).or_default();
        match previous {
            Some(entry) => {
                entries.insert(stream.to_owned(), *entry);
            }
            None => {
                entries.remove(stream);
            }
        }
    }

    /// Answers a request routed to the meta shard.
    pub fn handle(&self, js: &Rc<JetStream>, shard: &Shard, request: ApiRequest) {
        let call = request.call.clone();
        let result = match &call {
            ApiCall::AccountInfo => {
                self.start_gather(js, shard, request, |account| {
                    (
                        Query::AccountUsage { account },
                        GatherKind::AccountInfo {
                            usage: AccountUsage::default(),
                        },
                    )
                });
                return;
            }
            ApiCall::StreamList => {
                self.list(js, shard, request);
                return;
            }
            ApiCall::StreamCreate(name) => self.create(js, &request, name),
            ApiCall::StreamUpdate(name) => self.update(js, &request, name),
            ApiCall::StreamDelete(name) => self.delete(&request, name),
            ApiCall::StreamNames => self.names(js, shard, &request),
            ApiCall::StreamRestore(name) => {
                match natrix_jetstream::requests::parse_restore(name, &request.body) {
                    Ok(parsed) => self.approve_new(js, &request, name, &parsed, true),
                    Err(error) => Err(error),
                }
            }
            _ => Err(ApiError::new(ErrorId::BadRequest)),
        };
        match result {
            Ok(None) => {}
            Ok(Some(change)) => {
                let change = Box::new(change);
                let owner = js.owner_of(
                    shard,
                    request.account,
                    request.call.stream().unwrap_or_default(),
                );
                if owner == js.shard_id {
                    js.apply_change(shard, request, change);
                } else if let Err(msg) =
                    shard.send_jetstream(owner, JetStreamMsg::Apply { request, change })
                {
                    if let JetStreamMsg::Apply { request, change } = *msg {
                        js.apply_change(shard, request, change);
                    }
                }
            }
            Err(error) => js.reply_error(shard, &request, error),
        }
    }
}

/// Refuses a subject transform or republish that the configuration checks accept but
/// Natrix's transform engine (`crate::mapping`) cannot run (a mapping function it lacks),
/// instead of storing it and ignoring it.
fn check_transforms(config: &StreamConfig) -> Result<(), ApiError> {
    let pairs = config
        .subject_transform
        .iter()
        .map(|transform| (&transform.src, &transform.dest))
        .chain(
            config
                .republish
                .iter()
                .map(|republish| (&republish.src, &republish.dest)),
        );
    for (source, destination) in pairs {
        let source = if source.is_empty() {
            ">"
        } else {
            source.as_str()
        };
        if let Err(error) = crate::mapping::check_destination(source, destination) {
            return Err(ApiError::with_args(
                ErrorId::StreamInvalidConfig,
                &[(
                    "{err}",
                    &format!("subject transform to '{destination}': {error}"),
                )],
            ));
        }
    }
    Ok(())
}

/// What a meta call decided: nothing more to do, a change for the owner, or an error reply.
type Decision = Result<Option<StreamChange>, ApiError>;

impl Meta {
    fn config_limits(js: &JetStream, account: AccountId) -> ConfigLimits {
        ConfigLimits {
            duplicate_window_max_ns: js.settings.duplicate_window_max_ns,
            account: account_limits(js.settings.account_limits(account)),
        }
    }

    fn create(&self, js: &JetStream, request: &ApiRequest, name: &str) -> Decision {
        let parsed = match StreamConfigRequest::from_json(&request.body) {
            Ok(parsed) => parsed,
            Err(error) => return Err(ApiError::invalid_json(error)),
        };
        self.approve_new(js, request, name, &parsed, false)
    }

    /// The checks of a new stream, created (`restore` false) or restored from a backup: Go's
    /// `checkStreamCfg`, the features Natrix refuses, the account's limits, the name (an
    /// identical create is answered with the existing stream; a restore never replaces one)
    /// and the subjects of the account's other streams.
    fn approve_new(
        &self,
        js: &JetStream,
        request: &ApiRequest,
        name: &str,
        parsed: &StreamConfigRequest,
        restore: bool,
    ) -> Decision {
        let fail = Err;
        let limits = Self::config_limits(js, request.account);
        let streams = self.streams.borrow();
        let account_streams = streams.get(&request.account);
        let directory = AccountStreams(account_streams);
        let config = match prepare_create(name, parsed, &limits, &directory) {
            Ok(config) => config,
            Err(error) => return fail(error),
        };
        if let Err(error) = refuse_unsupported(&config).and_then(|()| check_transforms(&config)) {
            return fail(error);
        }
        let existing = account_streams.and_then(|streams| streams.get(name));
        if restore && existing.is_some() {
            return fail(ApiError::new(ErrorId::StreamNameExistRestoreFailed));
        }
        if let Some(existing) = existing {
            if matches_existing(&config, &existing.config) {
                return Ok(Some(StreamChange::Existing));
            }
            return fail(ApiError::new(ErrorId::StreamNameExist));
        }
        let account_limits = js
            .settings
            .account_limits(request.account)
            .cloned()
            .unwrap_or_default();
        let count = account_streams.map_or(0, BTreeMap::len) as i64;
        if account_limits.max_streams > 0 && count >= account_limits.max_streams {
            return fail(ApiError::new(ErrorId::MaximumStreamsLimit));
        }
        if let Err(error) =
            check_reservations(js, &streams, request.account, &config, &account_limits)
        {
            return fail(error);
        }
        let others = account_streams
            .into_iter()
            .flat_map(|streams| streams.values().map(|entry| &entry.config));
        if subjects_overlap(&config.subjects, name, others) {
            return fail(ApiError::new(ErrorId::StreamSubjectOverlap));
        }
        drop(streams);
        let created_ns = now_ns();
        if restore {
            self.restoring
                .borrow_mut()
                .insert((request.account, name.to_owned()));
        }
        self.insert(
            request.account,
            DirectoryEntry {
                config: config.clone(),
                created_ns,
            },
        );
        Ok(Some(StreamChange::Create {
            config,
            created_ns,
            restore,
        }))
    }

    fn update(&self, js: &JetStream, request: &ApiRequest, name: &str) -> Decision {
        let fail = Err;
        let parsed = match StreamConfigRequest::from_json(&request.body) {
            Ok(parsed) => parsed,
            Err(error) => return fail(ApiError::invalid_json(error)),
        };
        let limits = Self::config_limits(js, request.account);
        let streams = self.streams.borrow();
        let account_streams = streams.get(&request.account);
        let Some(previous) = account_streams
            .and_then(|streams| streams.get(name))
            .cloned()
        else {
            return fail(ApiError::new(ErrorId::StreamNotFound));
        };
        let directory = AccountStreams(account_streams);
        let config = match check_update(name, &previous.config, &parsed, &limits, &directory) {
            Ok(config) => config,
            Err(error) => return fail(error),
        };
        if let Err(error) = refuse_unsupported(&config).and_then(|()| check_transforms(&config)) {
            return fail(error);
        }
        let account_limits = js
            .settings
            .account_limits(request.account)
            .cloned()
            .unwrap_or_default();
        if let Err(error) =
            check_reservations(js, &streams, request.account, &config, &account_limits)
        {
            return fail(error);
        }
        let others = account_streams
            .into_iter()
            .flat_map(|streams| streams.values().map(|entry| &entry.config));
        if subjects_overlap(&config.subjects, name, others) {
            return fail(ApiError::new(ErrorId::StreamSubjectOverlap));
        }
        drop(streams);
        self.insert(
            request.account,
            DirectoryEntry {
                config: config.clone(),
                created_ns: previous.created_ns,
            },
        );
        Ok(Some(StreamChange::Update { config, previous }))
    }

    fn delete(&self, request: &ApiRequest, name: &str) -> Decision {
        let removed = self
            .streams
            .borrow_mut()
            .get_mut(&request.account)
            .and_then(|streams| streams.remove(name));
        match removed {
            Some(_) => Ok(Some(StreamChange::Delete)),
            None => Err(ApiError::new(ErrorId::StreamNotFound)),
        }
    }

    /// The account's stream names matching the request's `subject`, sorted, and the page
    /// the request asks for.
    fn page(
        &self,
        request: &ApiRequest,
        limit: usize,
    ) -> Result<(Vec<String>, ApiPaged), ApiError> {
        let parsed: StreamNamesRequest =
            natrix_jetstream::json::from_request(&request.body).map_err(ApiError::invalid_json)?;
        let streams = self.streams.borrow();
        let restoring = self.restoring.borrow();
        let names: Vec<String> = streams
            .get(&request.account)
            .into_iter()
            .flat_map(|streams| streams.values())
            .filter(|entry| !restoring.contains(&(request.account, entry.config.name.clone())))
            .filter(|entry| {
                parsed.subject.is_empty()
                    || entry.config.subjects.iter().any(|subject| {
                        patterns_overlap(parsed.subject.as_bytes(), subject.as_bytes())
                    })
            })
            .map(|entry| entry.config.name.clone())
            .collect();
        let total = names.len();
        let offset = usize::try_from(parsed.offset).unwrap_or(0).min(total);
        let page: Vec<String> = names.into_iter().skip(offset).take(limit).collect();
        let paged = ApiPaged {
            total: total as u64,
            offset: offset as u64,
            limit: limit as u64,
        };
        Ok((page, paged))
    }

    fn names(&self, js: &JetStream, shard: &Shard, request: &ApiRequest) -> Decision {
        let (names, paged) = self.page(request, NAMES_LIMIT)?;
        let reply = StreamNamesResponse::ok(names, paged);
        js.reply_json(shard, request, &reply, false);
        Ok(None)
    }

    fn list(&self, js: &Rc<JetStream>, shard: &Shard, request: ApiRequest) {
        let (names, paged) = match self.page(&request, LIST_LIMIT) {
            Ok(page) => page,
            Err(error) => return js.reply_error(shard, &request, error),
        };
        self.start_gather(js, shard, request, |account| {
            (
                Query::StreamInfos {
                    account,
                    names: names.clone(),
                },
                GatherKind::List {
                    names: names.clone(),
                    infos: Vec::new(),
                    paged,
                },
            )
        });
    }

    /// Asks every shard (this one included) and replies once all have answered.
    fn start_gather(
        &self,
        js: &Rc<JetStream>,
        shard: &Shard,
        request: ApiRequest,
        build: impl FnOnce(AccountId) -> (Query, GatherKind),
    ) {
        let token = self.next_token.get() + 1;
        self.next_token.set(token);
        let (query, kind) = build(request.account);
        self.gathers.borrow_mut().insert(
            token,
            Gather {
                request,
                waiting: js.shard_count,
                kind,
            },
        );
        for target in 0..js.shard_count {
            let target = target as crate::mesh::ShardId;
            if target == js.shard_id {
                continue;
            }
            let msg = JetStreamMsg::Query {
                token,
                query: query.clone(),
            };
            if shard.send_jetstream(target, msg).is_err() {
                self.forget_shard(token);
            }
        }
        if let Some(shard_handle) = shard.handle() {
            let js_handle = Rc::clone(js);
            compio::runtime::spawn(async move {
                compio::time::sleep(GATHER_TIMEOUT).await;
                if let Some(meta) = &js_handle.meta {
                    meta.finish(&js_handle, &shard_handle, token);
                }
            })
            .detach();
        }
        js.answer_query(shard, token, query);
    }

    fn forget_shard(&self, token: u64) {
        if let Some(gather) = self.gathers.borrow_mut().get_mut(&token) {
            gather.waiting = gather.waiting.saturating_sub(1);
        }
    }

    /// Takes one shard's answer.
    pub fn collect(&self, js: &Rc<JetStream>, shard: &Shard, token: u64, answer: Answer) {
        let done = {
            let mut gathers = self.gathers.borrow_mut();
            let Some(gather) = gathers.get_mut(&token) else {
                return;
            };
            match (&mut gather.kind, answer) {
                (GatherKind::AccountInfo { usage }, Answer::AccountUsage(part)) => {
                    usage.memory += part.memory;
                    usage.storage += part.storage;
                    usage.api_total += part.api_total;
                    usage.api_errors += part.api_errors;
                }
                (GatherKind::List { infos, .. }, Answer::StreamInfos(part)) => infos.extend(part),
                _ => {}
            }
            gather.waiting = gather.waiting.saturating_sub(1);
            gather.waiting == 0
        };
        if done {
            self.finish(js, shard, token);
        }
    }

    /// Sends the reply of gather `token` with what has arrived.
    fn finish(&self, js: &JetStream, shard: &Shard, token: u64) {
        let Some(gather) = self.gathers.borrow_mut().remove(&token) else {
            return;
        };
        let request = gather.request;
        match gather.kind {
            GatherKind::AccountInfo { usage } => {
                let stats = self.account_stats(js, request.account, usage);
                js.reply_json(shard, &request, &AccountInfoResponse::ok(stats), false);
            }
            GatherKind::List {
                names,
                mut infos,
                paged,
            } => {
                infos.sort_by(|a, b| a.config.name.cmp(&b.config.name));
                let missing: Vec<String> = names
                    .into_iter()
                    .filter(|name| !infos.iter().any(|info| &info.config.name == name))
                    .collect();
                let mut reply = StreamListResponse::ok(infos, paged);
                reply.missing = missing;
                js.reply_json(shard, &request, &reply, false);
            }
        }
    }

    fn account_stats(
        &self,
        js: &JetStream,
        account: AccountId,
        usage: AccountUsage,
    ) -> AccountStats {
        let streams = self.streams.borrow();
        let entries = streams.get(&account);
        let (mut reserved_memory, mut reserved_storage) = (0u64, 0u64);
        for entry in entries.into_iter().flat_map(BTreeMap::values) {
            let bytes = u64::try_from(entry.config.max_bytes).unwrap_or(0);
            match entry.config.storage {
                StorageType::Memory => reserved_memory += bytes,
                StorageType::File => reserved_storage += bytes,
            }
        }
        AccountStats {
            totals: Tier {
                memory: usage.memory,
                storage: usage.storage,
                reserved_memory,
                reserved_storage,
                streams: entries.map_or(0, BTreeMap::len) as u64,
                consumers: 0,
                limits: account_limits(js.settings.account_limits(account)),
            },
            domain: js.settings.domain.clone(),
            api: ApiStats {
                level: API_LEVEL,
                total: usage.api_total,
                errors: usage.api_errors,
                inflight: 0,
            },
            tiers: BTreeMap::new(),
        }
    }
}

/// Go's `checkAllLimits` for a new or changed stream: the account's and the server's
/// reservations (`max_bytes` of the other streams of the same storage type), and the
/// account's consumer limit.
fn check_reservations(
    js: &JetStream,
    streams: &HashMap<AccountId, BTreeMap<String, DirectoryEntry>>,
    account: AccountId,
    config: &StreamConfig,
    limits: &AccountJetStreamLimits,
) -> Result<(), ApiError> {
    if config.max_consumers > 0
        && limits.max_consumers > 0
        && config.max_consumers > limits.max_consumers
    {
        return Err(ApiError::new(ErrorId::MaximumConsumersLimit));
    }
    let reserved = |entries: &BTreeMap<String, DirectoryEntry>| -> i64 {
        entries
            .values()
            .filter(|entry| {
                entry.config.name != config.name && entry.config.storage == config.storage
            })
            .map(|entry| entry.config.max_bytes.max(0))
            .fold(0i64, i64::saturating_add)
    };
    let account_reserved = streams.get(&account).map_or(0, reserved);
    let server_reserved = streams
        .values()
        .map(reserved)
        .fold(0i64, i64::saturating_add);
    let add = if config.max_bytes < 0 {
        1
    } else {
        config.max_bytes
    };
    let (account_max, server_max, error) = match config.storage {
        StorageType::Memory => (
            limits.max_memory,
            js.settings.max_memory,
            ErrorId::MemoryResourcesExceeded,
        ),
        StorageType::File => (
            limits.max_store,
            js.settings.max_store,
            ErrorId::StorageResourcesExceeded,
        ),
    };
    if account_max >= 0 && (account_reserved > account_max || add > account_max - account_reserved)
    {
        return Err(ApiError::new(error));
    }
    if server_reserved > server_max || add > server_max - server_reserved {
        return Err(ApiError::new(error));
    }
    Ok(())
}

/// An account's limits as the API shows them.
fn account_limits(limits: Option<&AccountJetStreamLimits>) -> AccountLimits {
    let Some(limits) = limits else {
        return AccountLimits::default();
    };
    AccountLimits {
        max_memory: limits.max_memory,
        max_storage: limits.max_store,
        max_streams: limits.max_streams,
        max_consumers: limits.max_consumers,
        max_ack_pending: limits.max_ack_pending,
        memory_max_stream_bytes: limits.memory_max_stream_bytes,
        storage_max_stream_bytes: limits.store_max_stream_bytes,
        max_bytes_required: limits.max_bytes_required,
    }
}

impl JetStream {
    /// Answers the meta shard's question with what this shard knows.
    pub(super) fn answer_query(self: &Rc<Self>, shard: &Shard, token: u64, query: Query) {
        let answer = match query {
            Query::AccountUsage { account } => Answer::AccountUsage(self.local_usage(account)),
            Query::StreamInfos { account, names } => {
                let infos = names
                    .iter()
                    .filter_map(|name| self.stream(account, name))
                    .map(|stream| stream.info(self, InfoView::List, None).0)
                    .collect();
                Answer::StreamInfos(infos)
            }
        };
        match &self.meta {
            Some(meta) => meta.collect(self, shard, token, answer),
            None => {
                let _ = shard.send_jetstream(META_SHARD, JetStreamMsg::Answer { token, answer });
            }
        }
    }
}
