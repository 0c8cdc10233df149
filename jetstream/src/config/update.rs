//! The create and update rules of the Go server's stream API handlers
//! (`jsStreamCreateRequest`, `addStream`, `jsStreamUpdateRequest`, `configUpdateCheck`), the
//! server's `_nats.*` metadata, what Natrix refuses for now, and the store limits.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{check_stream_config, invalid, ConfigLimits, StreamDirectory};
use crate::api::{DiscardPolicy, PersistMode, RetentionPolicy, StreamConfig, StreamConfigRequest};
use crate::errors::{ApiError, ErrorId};
use crate::subject::patterns_overlap;

/// Metadata key of the API level a stream needs (Go's `JSRequiredLevelMetadataKey`), stored.
pub const REQUIRED_LEVEL_KEY: &str = "_nats.req.level";
/// Metadata key of the server's version (Go's `JSServerVersionMetadataKey`), in replies only.
pub const SERVER_VERSION_KEY: &str = "_nats.ver";
/// Metadata key of the server's API level (Go's `JSServerLevelMetadataKey`), in replies only.
pub const SERVER_LEVEL_KEY: &str = "_nats.level";

/// Checks a `STREAM.CREATE` request for the stream named in the subject, as the Go server's
/// handler and `addStream` do before anything is created: required API level metadata, the
/// name in the subject, path separators, `sealed`, `mirror_direct` without a mirror, then
/// [`check_stream_config`] and replicas on a single server. The caller then compares with an
/// existing stream of the same name ([`matches_existing`]: equal is not an error, the Go
/// server answers with the existing stream) and checks subject overlaps
/// ([`subjects_overlap`]).
pub fn prepare_create(
    stream_name: &str,
    request: &StreamConfigRequest,
    limits: &ConfigLimits,
    streams: &dyn StreamDirectory,
) -> Result<StreamConfig, ApiError> {
    let mut config = request.config.clone();
    set_static_metadata(&mut config);
    if stream_name != config.name {
        return Err(ApiError::new(ErrorId::StreamMismatch));
    }
    if stream_name.contains(['\\', '/']) {
        return Err(ApiError::new(ErrorId::StreamNameContainsPathSeparators));
    }
    if config.sealed {
        return Err(invalid("stream configuration for create can not be sealed"));
    }
    if config.mirror_direct && config.mirror.is_none() {
        return Err(invalid("stream has no mirror but does have mirror direct"));
    }
    let checked = check_stream_config(&config, request.pedantic, limits, streams)?;
    if checked.num_replicas > 1 {
        return Err(ApiError::new(ErrorId::StreamReplicasNotSupported));
    }
    Ok(checked)
}

/// Whether a create of `new` (as [`prepare_create`] returned it) asks for exactly the stream
/// that exists with `existing`'s configuration: the Go server then answers with the existing
/// stream instead of `stream name already in use with a different configuration`. The
/// required-level metadata is taken from the existing configuration first, as in Go.
pub fn matches_existing(new: &StreamConfig, existing: &StreamConfig) -> bool {
    let mut new = new.clone();
    copy_required_level(&mut new, existing);
    new == *existing
}

/// Whether any of `subjects` collides with a subject of another stream (Go's
/// `subjectsOverlap`); `own_name` is skipped so that an update can keep its subjects.
pub fn subjects_overlap<'a>(
    subjects: &[String],
    own_name: &str,
    others: impl IntoIterator<Item = &'a StreamConfig>,
) -> bool {
    others
        .into_iter()
        .filter(|other| other.name != own_name)
        .any(|other| {
            other.subjects.iter().any(|theirs| {
                subjects
                    .iter()
                    .any(|ours| patterns_overlap(ours.as_bytes(), theirs.as_bytes()))
            })
        })
}

/// Checks a `STREAM.UPDATE` of the stream whose current configuration is `old`, as the Go
/// server's handler, `update` and `configUpdateCheck` do: the new configuration's own checks,
/// the name in the subject, then which fields may change. Returns the configuration to store
/// (with the sealed adjustments and the static metadata).
pub fn check_update(
    stream_name: &str,
    old: &StreamConfig,
    request: &StreamConfigRequest,
    limits: &ConfigLimits,
    streams: &dyn StreamDirectory,
) -> Result<StreamConfig, ApiError> {
    let first = check_stream_config(&request.config, request.pedantic, limits, streams)?;
    if stream_name != first.name {
        return Err(ApiError::new(ErrorId::StreamMismatch));
    }
    let mut new = first;
    set_static_metadata(&mut new);
    let mut cfg = check_stream_config(&new, request.pedantic, limits, streams)?;
    if cfg.name != old.name {
        return Err(invalid("stream configuration name must match original"));
    }
    if cfg.num_replicas > 1 {
        return Err(ApiError::new(ErrorId::StreamReplicasNotSupported));
    }
    if cfg.storage != old.storage {
        return Err(invalid(
            "stream configuration update can not change storage type",
        ));
    }
    if cfg.retention != old.retention
        && (old.retention == RetentionPolicy::WorkQueue
            || cfg.retention == RetentionPolicy::WorkQueue)
    {
        return Err(invalid(
            "stream configuration update can not change retention policy to/from workqueue",
        ));
    }
    if !cfg.sealed && old.sealed {
        return Err(invalid(
            "stream configuration update can not unseal a sealed stream",
        ));
    }
    if !cfg.deny_delete && old.deny_delete {
        return Err(invalid(
            "stream configuration update can not cancel deny message deletes",
        ));
    }
    if !cfg.deny_purge && old.deny_purge {
        return Err(invalid(
            "stream configuration update can not cancel deny purge",
        ));
    }
    // Removing the mirror promotes it to a normal stream; changing it is refused.
    if cfg.mirror.is_some() && cfg.mirror != old.mirror {
        return Err(ApiError::new(ErrorId::StreamMirrorNotUpdatable));
    }
    if cfg.discard_new_per_subject {
        if cfg.discard != DiscardPolicy::New {
            return Err(invalid(
                "discard new per subject requires discard new policy to be set",
            ));
        }
        if cfg.max_msgs_per_subject <= 0 {
            return Err(invalid(
                "discard new per subject requires max msgs per subject > 0",
            ));
        }
    }
    if old.allow_msg_ttl && !cfg.allow_msg_ttl {
        return Err(invalid("message TTL status can not be disabled"));
    }
    if cfg.allow_msg_counter != old.allow_msg_counter {
        return Err(invalid(
            "stream configuration update can not change message counter setting",
        ));
    }
    if old.allow_msg_schedules && !cfg.allow_msg_schedules {
        return Err(invalid("message schedules can not be disabled"));
    }
    if old.persist_mode != cfg.persist_mode {
        return Err(invalid(
            "stream configuration update can not change persist mode",
        ));
    }
    if cfg.sealed {
        cfg.max_age = 0;
        cfg.discard = DiscardPolicy::New;
        cfg.deny_delete = true;
        cfg.deny_purge = true;
        cfg.allow_rollup_hdrs = false;
    }
    Ok(cfg)
}

/// Refuses what Natrix does not implement yet, with the Go server's error where it has one
/// for the feature and `JSStreamInvalidConfigF` naming the feature otherwise, so that a client
/// is never told a stream works as asked when it would not. Call it after the Go checks, on
/// create and update.
pub fn refuse_unsupported(config: &StreamConfig) -> Result<(), ApiError> {
    let not_yet = |feature: &str| Err(invalid(format!("{feature} not supported by Natrix yet")));
    if config.mirror.is_some() {
        return not_yet("stream mirrors are");
    }
    if !config.sources.is_empty() {
        return not_yet("stream sources are");
    }
    if config.allow_msg_schedules {
        return not_yet("message schedules are");
    }
    if config.allow_batched {
        return Err(ApiError::new(ErrorId::BatchPublishDisabled));
    }
    Ok(())
}

/// Go's `setStaticStreamMetadata`: drops the reply-only keys and records the API level the
/// configuration needs (TTLs 1; counters, atomic batches, schedules, async persist 2; fast
/// batches 4).
pub fn set_static_metadata(config: &mut StreamConfig) {
    let metadata = config.metadata.get_or_insert_with(BTreeMap::new);
    metadata.remove(SERVER_VERSION_KEY);
    metadata.remove(SERVER_LEVEL_KEY);
    let mut level = 0;
    if config.allow_msg_ttl || config.subject_delete_marker_ttl > 0 {
        level = level.max(1);
    }
    if config.allow_msg_counter
        || config.allow_atomic
        || config.allow_msg_schedules
        || config.persist_mode == PersistMode::Async
    {
        level = level.max(2);
    }
    if config.allow_batched {
        level = level.max(4);
    }
    metadata.insert(REQUIRED_LEVEL_KEY.to_owned(), level.to_string());
}

/// Go's `setDynamicStreamMetadata`: the configuration as replies show it, with the server's
/// version and API level added.
pub fn with_dynamic_metadata(config: &StreamConfig, version: &str, api_level: u32) -> StreamConfig {
    let mut shown = config.clone();
    let metadata = shown.metadata.get_or_insert_with(BTreeMap::new);
    metadata.insert(SERVER_VERSION_KEY.to_owned(), version.to_owned());
    metadata.insert(SERVER_LEVEL_KEY.to_owned(), api_level.to_string());
    shown
}

/// Go's `copyStreamMetadata`: the reply-only keys go, and the required level is the previous
/// configuration's (or absent if it had none).
fn copy_required_level(config: &mut StreamConfig, previous: &StreamConfig) {
    if let Some(metadata) = config.metadata.as_mut() {
        metadata.remove(SERVER_VERSION_KEY);
        metadata.remove(SERVER_LEVEL_KEY);
    }
    let previous_level = previous
        .metadata
        .as_ref()
        .and_then(|metadata| metadata.get(REQUIRED_LEVEL_KEY));
    match previous_level {
        Some(level) => {
            config
                .metadata
                .get_or_insert_with(BTreeMap::new)
                .insert(REQUIRED_LEVEL_KEY.to_owned(), level.clone());
        }
        None => {
            if let Some(metadata) = config.metadata.as_mut() {
                metadata.remove(REQUIRED_LEVEL_KEY);
                if metadata.is_empty() {
                    config.metadata = None;
                }
            }
        }
    }
}

/// The store limits of a checked configuration (-1 and 0 become the store's 0, unlimited;
/// `max_msg_size` is left to [`crate::stream::StreamMachine`]).
/// Compression is accepted and not applied: Natrix's stores keep messages uncompressed.
pub fn store_config(config: &StreamConfig) -> natrix_storage::StoreConfig {
    let positive = |value: i64| u64::try_from(value).unwrap_or(0);
    natrix_storage::StoreConfig {
        max_msgs: positive(config.max_msgs),
        max_bytes: positive(config.max_bytes),
        max_age: u64::try_from(config.max_age)
            .ok()
            .filter(|age| *age > 0)
            .map(Duration::from_nanos),
        max_msgs_per_subject: positive(config.max_msgs_per_subject),
        // The Go server counts headers and payload against `max_msg_size`; the store would
        // count the subject too. The stream machine enforces Go's rule before storing, so
        // the store is not given the limit.
        max_msg_size: 0,
        discard: match config.discard {
            DiscardPolicy::Old => natrix_storage::DiscardPolicy::Old,
            DiscardPolicy::New => natrix_storage::DiscardPolicy::New,
        },
        discard_new_per_subject: config.discard_new_per_subject,
    }
}
