//! Stream configuration as the Go server checks it: defaults and validation
//! ([`check_stream_config`], Go's `checkStreamCfg`), the create and update rules
//! ([`prepare_create`], [`check_update`]), the server's `_nats.*` metadata, the features
//! Natrix refuses for now ([`refuse_unsupported`]), and the store limits a configuration
//! becomes ([`store_config`]). Every refusal is the Go server's [`ApiError`], text included.

mod update;

use std::collections::HashSet;

use crate::api::{AccountLimits, DiscardPolicy, PersistMode, RetentionPolicy, StorageType};
use crate::api::{StreamConfig, StreamSource};
use crate::errors::{ApiError, ErrorId};
use crate::subject::{self, is_subset_match, is_valid_subject, patterns_overlap};
use crate::time::go_duration_string;

pub use update::{
    check_update, matches_existing, prepare_create, refuse_unsupported, set_static_metadata,
    store_config, subjects_overlap, with_dynamic_metadata, REQUIRED_LEVEL_KEY, SERVER_LEVEL_KEY,
    SERVER_VERSION_KEY,
};

/// Maximum length of stream and consumer names (Go's `JSMaxNameLen`).
pub const MAX_NAME_LEN: usize = 255;
/// Maximum length of a description (Go's `JSMaxDescriptionLen`).
pub const MAX_DESCRIPTION_LEN: usize = 4 * 1024;
/// Maximum total length of metadata keys and values (Go's `JSMaxMetadataLen`).
pub const MAX_METADATA_LEN: usize = 128 * 1024;
/// Maximum replicas (Go's `StreamMaxReplicas`).
pub const MAX_REPLICAS: i64 = 5;
/// The default duplicate window, two minutes (Go's `StreamDefaultDuplicatesWindow`).
pub const DEFAULT_DUPLICATE_WINDOW_NS: i64 = 120_000_000_000;

const MILLIS_100_NS: i64 = 100_000_000;
const SECOND_NS: i64 = 1_000_000_000;

/// What the server and the account impose on stream configurations.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfigLimits {
    /// The server's `jetstream { limits { duplicate_window } }`, nanoseconds; 0 for none.
    pub duplicate_window_max_ns: i64,
    /// The account's JetStream limits (`max_bytes_required`, per-stream `max_bytes`).
    pub account: AccountLimits,
}

/// The other streams of the account, as the checks need them (mirror and source origins,
/// cycles, subject overlaps).
pub trait StreamDirectory {
    /// The configuration of the stream called `name`, if it exists.
    fn config(&self, name: &str) -> Option<StreamConfig>;
}

/// A directory with no streams.
impl StreamDirectory for () {
    fn config(&self, _name: &str) -> Option<StreamConfig> {
        None
    }
}

/// A directory backed by a list of configurations.
impl StreamDirectory for Vec<StreamConfig> {
    fn config(&self, name: &str) -> Option<StreamConfig> {
        self.iter().find(|config| config.name == name).cloned()
    }
}

fn invalid(text: impl std::fmt::Display) -> ApiError {
    ApiError::stream_invalid_config(text)
}

fn pedantic_error(text: &str) -> ApiError {
    ApiError::pedantic(text)
}

/// Go's `isValidAssetName`: non-empty, no whitespace, `.`, `*`, `>`, `\` or `/`.
pub fn is_valid_asset_name(name: &str) -> bool {
    !name.is_empty() && !name.contains([' ', '\t', '\r', '\n', '\x0c', '.', '*', '>', '\\', '/'])
}

/// Applies the Go server's defaults to `config` and validates it, in the order and with the
/// errors of Go's `checkStreamCfg`. Returns the configuration as it will be stored.
pub fn check_stream_config(
    config: &StreamConfig,
    pedantic: bool,
    limits: &ConfigLimits,
    streams: &dyn StreamDirectory,
) -> Result<StreamConfig, ApiError> {
    if !is_valid_asset_name(&config.name) {
        return Err(invalid(
            "stream name is required and can not contain '.', '*', '>', '\\', '/'",
        ));
    }
    if config.name.len() > MAX_NAME_LEN {
        return Err(invalid(format!(
            "stream name is too long, maximum allowed is {MAX_NAME_LEN}"
        )));
    }
    if config.description.len() > MAX_DESCRIPTION_LEN {
        return Err(invalid(format!(
            "stream description is too long, maximum allowed is {MAX_DESCRIPTION_LEN}"
        )));
    }
    let metadata_len: usize = config
        .metadata
        .iter()
        .flatten()
        .map(|(key, value)| key.len() + value.len())
        .sum();
    if metadata_len > MAX_METADATA_LEN {
        return Err(invalid(format!(
            "stream metadata exceeds maximum size of {MAX_METADATA_LEN} bytes"
        )));
    }
    let mut cfg = config.clone();
    // Retention, discard, compression and storage are enums here: an unknown spelling was
    // already refused when the JSON was decoded, and the zero storage is file as in Go.
    if cfg.num_replicas == 0 {
        cfg.num_replicas = 1;
    }
    if cfg.num_replicas > MAX_REPLICAS {
        return Err(invalid(format!("maximum replicas is {MAX_REPLICAS}")));
    }
    if cfg.num_replicas < 0 {
        return Err(ApiError::new(ErrorId::ReplicasCountCannotBeNegative));
    }
    default_unlimited(&mut cfg.max_msgs, pedantic, "max_msgs")?;
    default_unlimited(
        &mut cfg.max_msgs_per_subject,
        pedantic,
        "max_msgs_per_subject",
    )?;
    default_unlimited(&mut cfg.max_bytes, pedantic, "max_bytes")?;
    let mut max_msg_size = i64::from(cfg.max_msg_size);
    default_unlimited(&mut max_msg_size, pedantic, "max_msg_size")?;
    cfg.max_msg_size = i32::try_from(max_msg_size).unwrap_or(-1);
    default_unlimited(&mut cfg.max_consumers, pedantic, "max_consumers")?;
    if cfg.max_age < 0 {
        return Err(invalid("max age can not be negative"));
    }
    if cfg.max_age != 0 && cfg.max_age < MILLIS_100_NS {
        return Err(invalid("max age needs to be >= 100ms"));
    }
    check_duplicate_window(&mut cfg, pedantic, limits)?;
    if cfg.deny_purge && cfg.allow_rollup_hdrs {
        return Err(invalid("roll-ups require the purge permission"));
    }
    if cfg.allow_msg_counter {
        if cfg.discard == DiscardPolicy::New {
            return Err(invalid("counter stream cannot use discard new"));
        }
        if cfg.allow_msg_ttl {
            return Err(invalid("counter stream cannot use message TTLs"));
        }
        if cfg.allow_msg_schedules {
            return Err(invalid("counter stream cannot use message schedules"));
        }
        if cfg.retention != RetentionPolicy::Limits {
            return Err(invalid("counter stream can only use limits retention"));
        }
    }
    check_discard_new_per_subject(&cfg)?;
    check_marker_ttl_and_schedules(&mut cfg, pedantic)?;
    if cfg.persist_mode == PersistMode::Async {
        if cfg.storage != StorageType::File {
            return Err(invalid(
                "async persist mode is only supported on file storage",
            ));
        }
        if cfg.num_replicas > 1 {
            return Err(invalid(
                "async persist mode is not supported on replicated streams",
            ));
        }
        if cfg.allow_atomic {
            return Err(invalid(
                "async persist mode is not supported with atomic batch publish",
            ));
        }
    }
    check_mirror_and_sources(&mut cfg, pedantic, streams)?;
    check_subjects(&mut cfg)?;
    let (required, limit) = max_bytes_limits(&cfg, &limits.account);
    if required && cfg.max_bytes <= 0 {
        return Err(ApiError::new(ErrorId::StreamMaxBytesRequired));
    }
    if limit > 0 && cfg.max_bytes > limit {
        return Err(ApiError::new(ErrorId::StreamMaxStreamBytesExceeded));
    }
    if let Some(transform) = &cfg.subject_transform {
        if !transform.src.is_empty() && !is_valid_subject(transform.src.as_bytes()) {
            return Err(ApiError::stream_transform_invalid_source(format!(
                "invalid subject {}",
                transform.src
            )));
        }
        subject::validate_transform(&transform.src, &transform.dest)
            .map_err(ApiError::stream_transform_invalid_destination)?;
    }
    check_republish(&mut cfg, pedantic)?;
    if cfg
        .placement
        .as_ref()
        .is_some_and(|p| *p == Default::default())
    {
        cfg.placement = None;
    }
    if cfg
        .placement
        .as_ref()
        .is_some_and(|p| !p.preferred.is_empty())
    {
        return Err(invalid("preferred server not permitted in placement"));
    }
    Ok(cfg)
}

/// Go turns 0 and values below -1 into -1 (unlimited); pedantic mode refuses below -1.
fn default_unlimited(value: &mut i64, pedantic: bool, name: &str) -> Result<(), ApiError> {
    if *value == 0 || *value < -1 {
        if pedantic && *value < -1 {
            return Err(pedantic_error(&format!("{name} must be set to -1")));
        }
        *value = -1;
    }
    Ok(())
}

fn check_duplicate_window(
    cfg: &mut StreamConfig,
    pedantic: bool,
    limits: &ConfigLimits,
) -> Result<(), ApiError> {
    let server_max = limits.duplicate_window_max_ns;
    if cfg.duplicate_window == 0 && cfg.mirror.is_none() && cfg.sources.is_empty() {
        let mut window = DEFAULT_DUPLICATE_WINDOW_NS;
        if server_max > 0 && window > server_max {
            if pedantic {
                return Err(pedantic_error(
                    "duplicate window limits are higher than current limits",
                ));
            }
            window = server_max;
        }
        if cfg.max_age != 0 && cfg.max_age < window {
            if pedantic {
                return Err(pedantic_error(
                    "duplicate window cannot be bigger than max age",
                ));
            }
            cfg.duplicate_window = cfg.max_age;
        } else {
            cfg.duplicate_window = window;
        }
    }
    if cfg.duplicate_window < 0 {
        return Err(invalid("duplicates window can not be negative"));
    }
    if cfg.max_age != 0 && cfg.duplicate_window > cfg.max_age {
        return Err(invalid("duplicates window can not be larger then max age"));
    }
    if server_max > 0 && cfg.duplicate_window > server_max {
        return Err(invalid(format!(
            "duplicates window can not be larger then server limit of {}",
            go_duration_string(server_max)
        )));
    }
    if cfg.duplicate_window > 0 && cfg.duplicate_window < MILLIS_100_NS {
        return Err(invalid("duplicates window needs to be >= 100ms"));
    }
    Ok(())
}

fn check_discard_new_per_subject(cfg: &StreamConfig) -> Result<(), ApiError> {
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
    Ok(())
}

fn check_marker_ttl_and_schedules(cfg: &mut StreamConfig, pedantic: bool) -> Result<(), ApiError> {
    if cfg.subject_delete_marker_ttl > 0 {
        if cfg.subject_delete_marker_ttl < SECOND_NS {
            return Err(invalid(
                "subject delete marker TTL must be at least 1 second",
            ));
        }
        if !cfg.allow_msg_ttl {
            if pedantic {
                return Err(invalid(
                    "subject delete marker cannot be set if message TTLs are disabled",
                ));
            }
            cfg.allow_msg_ttl = true;
        }
        if !cfg.allow_rollup_hdrs {
            if pedantic {
                return Err(invalid(
                    "subject delete marker cannot be set if roll-ups are disabled",
                ));
            }
            cfg.allow_rollup_hdrs = true;
            cfg.deny_purge = false;
        }
    } else if cfg.subject_delete_marker_ttl < 0 {
        return Err(invalid("subject delete marker TTL must not be negative"));
    }
    if cfg.allow_msg_schedules {
        if cfg.discard == DiscardPolicy::New {
            return Err(invalid("message scheduling cannot use discard new"));
        }
        if !cfg.allow_rollup_hdrs {
            if pedantic {
                return Err(invalid(
                    "message scheduling cannot be set if roll-ups are disabled",
                ));
            }
            cfg.allow_rollup_hdrs = true;
            cfg.deny_purge = false;
        }
    }
    Ok(())
}

fn check_mirror_and_sources(
    cfg: &mut StreamConfig,
    pedantic: bool,
    streams: &dyn StreamDirectory,
) -> Result<(), ApiError> {
    let mut origin_subjects: Vec<String> = Vec::new();
    let mut delivery_prefixes: Vec<String> = Vec::new();
    let mut api_prefixes: Vec<String> = Vec::new();
    if let Some(mirror) = cfg.mirror.clone() {
        check_mirror(cfg, &mirror, pedantic, streams)?;
        match &mirror.external {
            None => {
                if let Some(origin) = streams.config(&mirror.name) {
                    origin_subjects.extend(origin.subjects.iter().cloned());
                }
            }
            Some(external) => {
                delivery_prefixes.extend(Some(external.deliver.clone()).filter(|p| !p.is_empty()));
                api_prefixes.extend(Some(external.api.clone()).filter(|p| !p.is_empty()));
            }
        }
    }
    if !cfg.sources.is_empty() && cfg.allow_msg_schedules {
        return Err(ApiError::new(ErrorId::SourceWithMsgSchedules));
    }
    let mut index_names = HashSet::new();
    let mut consumer_names = HashSet::new();
    for source in &cfg.sources {
        check_source(source, &mut index_names, &mut consumer_names)?;
        match &source.external {
            None => {
                if let Some(origin) = streams.config(&source.name) {
                    origin_subjects.extend(origin.subjects.iter().cloned());
                    if cfg.max_msg_size > 0
                        && origin.max_msg_size > 0
                        && cfg.max_msg_size < origin.max_msg_size
                    {
                        return Err(ApiError::new(ErrorId::SourceMaxMessageSizeTooBig));
                    }
                }
            }
            Some(external) => {
                delivery_prefixes.extend(Some(external.deliver.clone()).filter(|p| !p.is_empty()));
                api_prefixes.extend(Some(external.api.clone()).filter(|p| !p.is_empty()));
            }
        }
    }
    for prefix in &delivery_prefixes {
        if !subject::is_valid_literal_subject(prefix.as_bytes()) {
            return Err(ApiError::stream_invalid_external_delivery_subj(prefix));
        }
        for origin in &origin_subjects {
            if patterns_overlap(origin.as_bytes(), format!("{prefix}.{origin}").as_bytes()) {
                return Err(ApiError::stream_external_del_prefix_overlaps(
                    prefix, origin,
                ));
            }
        }
    }
    for prefix in &api_prefixes {
        if !subject::is_valid_literal_subject(prefix.as_bytes()) {
            return Err(invalid(format!(
                "stream external api prefix {prefix:?} must be a valid subject without wildcards"
            )));
        }
        if patterns_overlap(prefix.as_bytes(), b"$JS.API") {
            return Err(ApiError::stream_external_api_overlap(prefix, "$JS.API"));
        }
    }
    check_cycles(cfg, streams)
}

fn check_mirror(
    cfg: &mut StreamConfig,
    mirror: &StreamSource,
    pedantic: bool,
    streams: &dyn StreamDirectory,
) -> Result<(), ApiError> {
    let refuse = |id| Err(ApiError::new(id));
    if cfg.first_seq > 0 {
        return refuse(ErrorId::MirrorWithFirstSeq);
    }
    if !cfg.subjects.is_empty() {
        return refuse(ErrorId::MirrorWithSubjects);
    }
    if !cfg.sources.is_empty() {
        return refuse(ErrorId::MirrorWithSources);
    }
    if cfg.allow_msg_counter {
        return refuse(ErrorId::MirrorWithCounters);
    }
    if cfg.allow_atomic {
        return refuse(ErrorId::MirrorWithAtomicPublish);
    }
    if cfg.allow_batched {
        return refuse(ErrorId::MirrorWithBatchPublish);
    }
    if cfg.allow_msg_schedules {
        return refuse(ErrorId::MirrorWithMsgSchedules);
    }
    if let Some(consumer) = &mirror.consumer {
        let literal = subject::is_valid_literal_subject(consumer.deliver_subject.as_bytes());
        if !is_valid_asset_name(&consumer.name)
            || !literal
            || mirror.opt_start_seq != 0
            || mirror.opt_start_time.is_some()
            || !mirror.filter_subject.is_empty()
        {
            return refuse(ErrorId::MirrorDurableConsumerCfgInvalid);
        }
    }
    if !mirror.filter_subject.is_empty() && !mirror.subject_transforms.is_empty() {
        return refuse(ErrorId::MirrorMultipleFiltersNotAllowed);
    }
    if cfg.subject_delete_marker_ttl > 0 {
        return Err(invalid("subject delete markers forbidden on mirrors"));
    }
    for (outer, transform) in mirror.subject_transforms.iter().enumerate() {
        if !transform.src.is_empty() && !is_valid_subject(transform.src.as_bytes()) {
            return Err(ApiError::mirror_invalid_subject_filter(format!(
                "invalid subject {}",
                transform.src
            )));
        }
        subject::validate_transform(&transform.src, &transform.dest)
            .map_err(ApiError::mirror_invalid_transform_destination)?;
        for (inner, other) in mirror.subject_transforms.iter().enumerate() {
            if inner != outer && patterns_overlap(transform.src.as_bytes(), other.src.as_bytes()) {
                return refuse(ErrorId::MirrorOverlappingSubjectFilters);
            }
        }
    }
    if mirror.external.is_none() {
        if !is_valid_asset_name(&mirror.name) {
            return refuse(ErrorId::MirrorInvalidStreamName);
        }
        if let Some(origin) = streams.config(&mirror.name) {
            if cfg.max_msg_size > 0
                && origin.max_msg_size > 0
                && cfg.max_msg_size < origin.max_msg_size
            {
                return refuse(ErrorId::MirrorMaxMessageSizeTooBig);
            }
            if pedantic && cfg.mirror_direct != origin.allow_direct {
                return Err(pedantic_error(
                    "origin stream has direct get set, mirror has it disabled",
                ));
            }
            cfg.mirror_direct = origin.allow_direct;
        }
    }
    Ok(())
}

fn check_source(
    source: &StreamSource,
    index_names: &mut HashSet<String>,
    consumer_names: &mut HashSet<String>,
) -> Result<(), ApiError> {
    let refuse = |id| Err(ApiError::new(id));
    if !is_valid_asset_name(&source.name) {
        return refuse(ErrorId::SourceInvalidStreamName);
    }
    // Go's `composeIName`: the name, the external API prefix, and the filters.
    let mut index_name = source.name.clone();
    if let Some(external) = &source.external {
        index_name.push(':');
        index_name.push_str(&external.api);
    }
    if let Some(consumer) = &source.consumer {
        index_name.push_str(":C=");
        index_name.push_str(&consumer.name);
    }
    let or_all = |text: &str| {
        if text.is_empty() {
            ">".to_owned()
        } else {
            text.to_owned()
        }
    };
    if source.subject_transforms.is_empty() {
        index_name.push(' ');
        index_name.push_str(&or_all(&source.filter_subject));
    }
    for transform in &source.subject_transforms {
        index_name.push(' ');
        index_name.push_str(&or_all(&transform.src));
        index_name.push('\u{1}');
        index_name.push_str(&or_all(&transform.dest));
    }
    if !index_names.insert(index_name) {
        return refuse(ErrorId::SourceDuplicateDetected);
    }
    if !source.filter_subject.is_empty() && !source.subject_transforms.is_empty() {
        return refuse(ErrorId::SourceMultipleFiltersNotAllowed);
    }
    for transform in &source.subject_transforms {
        if !transform.src.is_empty() && !is_valid_subject(transform.src.as_bytes()) {
            return Err(ApiError::source_invalid_subject_filter(format!(
                "invalid subject {}",
                transform.src
            )));
        }
        subject::validate_transform(&transform.src, &transform.dest)
            .map_err(ApiError::source_invalid_transform_destination)?;
    }
    for (outer, transform) in source.subject_transforms.iter().enumerate() {
        for (inner, other) in source.subject_transforms.iter().enumerate() {
            if inner != outer && is_subset_match(transform.src.as_bytes(), other.src.as_bytes()) {
                return refuse(ErrorId::SourceOverlappingSubjectFilters);
            }
        }
    }
    if let Some(consumer) = &source.consumer {
        let literal = subject::is_valid_literal_subject(consumer.deliver_subject.as_bytes());
        if !is_valid_asset_name(&consumer.name)
            || !literal
            || source.opt_start_seq != 0
            || source.opt_start_time.is_some()
            || !source.filter_subject.is_empty()
        {
            return refuse(ErrorId::SourceDurableConsumerCfgInvalid);
        }
        if !consumer_names.insert(format!("{} {}", source.name, consumer.name)) {
            return refuse(ErrorId::SourceDurableConsumerDuplicateDetected);
        }
    }
    Ok(())
}

/// Go's cycle check: walking sources and mirrors from this stream must not come back to a
/// stream whose subjects the walk would feed again. The walk is bounded by the number of
/// distinct streams it can visit.
fn check_cycles(cfg: &StreamConfig, streams: &dyn StreamDirectory) -> Result<(), ApiError> {
    // Go walks breadth first and pushes only streams not yet visited; the bound only guards
    // against a directory that keeps inventing streams.
    let mut to_visit = std::collections::VecDeque::from([cfg.clone()]);
    let mut visited: HashSet<String> = HashSet::new();
    let mut steps = 0usize;
    while let Some(current) = to_visit.pop_front() {
        steps += 1;
        if steps > 100_000 {
            break;
        }
        visited.insert(current.name.clone());
        for source in current.sources.iter().filter(|s| s.external.is_none()) {
            if visited.contains(&source.name) {
                let overlaps = source.filter_subject.is_empty()
                    || current
                        .subjects
                        .iter()
                        .any(|s| patterns_overlap(s.as_bytes(), source.filter_subject.as_bytes()));
                if overlaps {
                    return Err(invalid("detected cycle"));
                }
            } else if let Some(origin) = streams.config(&source.name) {
                to_visit.push_back(origin);
            }
        }
        if let Some(mirror) = current.mirror.as_ref().filter(|m| m.external.is_none()) {
            if visited.contains(&mirror.name) {
                return Err(invalid("detected cycle"));
            }
            if let Some(origin) = streams.config(&mirror.name) {
                to_visit.push_back(origin);
            }
        }
    }
    Ok(())
}

fn check_subjects(cfg: &mut StreamConfig) -> Result<(), ApiError> {
    if cfg.subjects.is_empty() {
        if cfg.mirror.is_none() && cfg.sources.is_empty() {
            cfg.subjects.push(cfg.name.clone());
        }
    } else {
        if cfg.mirror.is_some() {
            return Err(ApiError::new(ErrorId::MirrorWithSubjects));
        }
        let mut seen = HashSet::new();
        for (index, subject_filter) in cfg.subjects.iter().enumerate() {
            if !is_valid_subject(subject_filter.as_bytes()) {
                return Err(invalid("invalid subject"));
            }
            if !seen.insert(subject_filter.as_str()) {
                return Err(invalid("duplicate subjects detected"));
            }
            if subject_filter == ">" {
                if !cfg.no_ack {
                    return Err(invalid("capturing all subjects requires no-ack to be true"));
                }
                if cfg.num_replicas != 1 {
                    return Err(invalid("capturing all subjects requires replicas of 1"));
                }
            }
            if !cfg.no_ack {
                for namespace in ["$JS.>", "$JSC.>", "$NRG.>"] {
                    if patterns_overlap(subject_filter.as_bytes(), namespace.as_bytes())
                        && !is_subset_match(subject_filter.as_bytes(), b"$JS.EVENT.>")
                    {
                        return Err(invalid(
                            "subjects that overlap with jetstream api require no-ack to be true",
                        ));
                    }
                }
                if patterns_overlap(subject_filter.as_bytes(), b"$SYS.>")
                    && !is_subset_match(subject_filter.as_bytes(), b"$SYS.ACCOUNT.>")
                {
                    return Err(invalid(
                        "subjects that overlap with system api require no-ack to be true",
                    ));
                }
            }
            for other in &cfg.subjects[index + 1..] {
                if patterns_overlap(other.as_bytes(), subject_filter.as_bytes()) {
                    return Err(invalid(format!(
                        "subject {subject_filter:?} overlaps with {other:?}"
                    )));
                }
            }
        }
    }
    if cfg.subjects.is_empty() && cfg.sources.is_empty() && cfg.mirror.is_none() {
        return Err(invalid(
            "stream needs at least one configured subject or be a source/mirror",
        ));
    }
    Ok(())
}

/// Go's `maxBytesLimits`: whether `max_bytes` is required, and the per-stream maximum for
/// the stream's storage type (0 for none).
fn max_bytes_limits(cfg: &StreamConfig, account: &AccountLimits) -> (bool, i64) {
    let limit = match cfg.storage {
        StorageType::Memory => account.memory_max_stream_bytes,
        StorageType::File => account.storage_max_stream_bytes,
    };
    (account.max_bytes_required, limit.max(0))
}

fn check_republish(cfg: &mut StreamConfig, pedantic: bool) -> Result<(), ApiError> {
    let Some(mut republish) = cfg.republish.clone() else {
        return Ok(());
    };
    if republish.src.is_empty() {
        if pedantic {
            return Err(pedantic_error("republish source can not be empty"));
        }
        republish.src = ">".to_owned();
    }
    if let Some(transform) = &cfg.subject_transform {
        if republish.dest == ">"
            && republish.src == ">"
            && cfg.subjects.len() == 1
            && transform.src == cfg.subjects[0]
        {
            if pedantic {
                return Err(pedantic_error(
                    "implicit republish based on subject transform",
                ));
            }
            republish.src = transform.dest.clone();
            republish.dest = transform.dest.clone();
        }
    }
    if cfg
        .subjects
        .iter()
        .any(|s| patterns_overlap(republish.dest.as_bytes(), s.as_bytes()))
    {
        return Err(invalid(
            "stream configuration for republish destination forms a cycle",
        ));
    }
    if subject::validate_transform(&republish.src, &republish.dest).is_err()
        || republish.dest.is_empty()
    {
        return Err(invalid(format!(
            "stream configuration for republish with transform from '{}' to '{}' not valid",
            republish.src, republish.dest
        )));
    }
    cfg.republish = Some(republish);
    Ok(())
}

#[cfg(test)]
mod tests;
