//! The JetStream API errors: [`ErrorId`] names one row of the Go server's table ([`ERRORS`]),
//! and [`ApiError`] is what a reply carries, rendered exactly as the Go server renders it:
//! `{"code":404,"err_code":10059,"description":"stream not found"}`.

mod table;

use std::fmt::Display;

use serde::{Deserialize, Serialize};

pub use table::{ErrorId, ErrorSpec, ERRORS};

/// An error as it appears in a JetStream API reply (Go's `ApiError`).
///
/// `err_code` and `description` are left out of the JSON when empty, as Go's `omitempty`
/// does. Built from an [`ErrorId`] with [`ApiError::new`] or, for the errors whose description
/// has placeholders, with the constructor named after the error (`ApiError::stream_wrong_last_sequence(5)`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{description} ({err_code})")]
pub struct ApiError {
    /// The status code, HTTP-like (400, 404, 500, 503, ...).
    pub code: u16,
    /// The JetStream error code (10000 and up).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub err_code: u16,
    /// The rendered description.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

fn is_zero(value: &u16) -> bool {
    *value == 0
}

impl ApiError {
    /// The error with its description as the table has it. For an error with placeholders
    /// they stay unfilled; use the error's own constructor instead.
    pub fn new(id: ErrorId) -> ApiError {
        let spec = id.spec();
        ApiError {
            code: spec.code,
            err_code: spec.err_code,
            description: spec.description.to_owned(),
        }
    }

    /// The error with `{placeholders}` replaced as Go's `strings.NewReplacer` does: one pass
    /// from left to right, at each position the first key (in argument order) that matches is
    /// replaced, and replaced text is not scanned again.
    pub fn with_args(id: ErrorId, args: &[(&str, &dyn Display)]) -> ApiError {
        let spec = id.spec();
        let values: Vec<(&str, String)> = args
            .iter()
            .map(|(key, value)| (*key, value.to_string()))
            .collect();
        ApiError {
            code: spec.code,
            err_code: spec.err_code,
            description: replace_once(spec.description, &values),
        }
    }

    /// Whether this error is the one `id` names (Go's `IsNatsErr`, which compares `err_code`).
    pub fn is(&self, id: ErrorId) -> bool {
        self.err_code == id.spec().err_code
    }

    /// The error as the Go server writes it, `{"code":..,"err_code":..,"description":..}`
    /// (with Go's escaping of `<`, `>` and `&`).
    pub fn to_json(&self) -> String {
        crate::json::to_string(self)
    }
}

impl From<ErrorId> for ApiError {
    fn from(id: ErrorId) -> Self {
        ApiError::new(id)
    }
}

impl ErrorId {
    /// This error's row of [`ERRORS`].
    pub fn spec(self) -> &'static ErrorSpec {
        // The variants are declared in the table's order, so the discriminant is the index;
        // `every_variant_is_its_rows_index` checks it.
        &ERRORS[self as usize]
    }
}

fn replace_once(template: &str, values: &[(&str, String)]) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    'scan: while !rest.is_empty() {
        for (key, value) in values {
            if !key.is_empty() && rest.starts_with(key) {
                out.push_str(value);
                rest = &rest[key.len()..];
                continue 'scan;
            }
        }
        let mut chars = rest.chars();
        if let Some(ch) = chars.next() {
            out.push(ch);
        }
        rest = chars.as_str();
    }
    out
}

impl ApiError {
    /// `{err}`
    pub fn cluster_no_peers(err: impl Display) -> ApiError {
        ApiError::with_args(ErrorId::ClusterNoPeers, &[("{err}", &err)])
    }

    /// `{err}`
    pub fn consumer_create(err: impl Display) -> ApiError {
        ApiError::with_args(ErrorId::ConsumerCreate, &[("{err}", &err)])
    }

    /// `stream external api prefix {prefix} must not overlap with {subject}`
    pub fn stream_external_api_overlap(prefix: impl Display, subject: impl Display) -> ApiError {
        ApiError::with_args(
            ErrorId::StreamExternalApiOverlap,
            &[("{prefix}", &prefix), ("{subject}", &subject)],
        )
    }

    /// `stream external delivery prefix {prefix} overlaps with stream subject {subject}`
    pub fn stream_external_del_prefix_overlaps(
        prefix: impl Display,
        subject: impl Display,
    ) -> ApiError {
        ApiError::with_args(
            ErrorId::StreamExternalDelPrefixOverlaps,
            &[("{prefix}", &prefix), ("{subject}", &subject)],
        )
    }

    /// `stream external delivery prefix {prefix} must not contain wildcards`
    pub fn stream_invalid_external_delivery_subj(prefix: impl Display) -> ApiError {
        ApiError::with_args(
            ErrorId::StreamInvalidExternalDeliverySubj,
            &[("{prefix}", &prefix)],
        )
    }

    /// `invalid JSON: {err}`
    pub fn invalid_json(err: impl Display) -> ApiError {
        ApiError::with_args(ErrorId::InvalidJSON, &[("{err}", &err)])
    }

    /// `{err}`
    pub fn mirror_consumer_setup_failed(err: impl Display) -> ApiError {
        ApiError::with_args(ErrorId::MirrorConsumerSetupFailed, &[("{err}", &err)])
    }

    /// `{err}`
    pub fn raft_general(err: impl Display) -> ApiError {
        ApiError::with_args(ErrorId::RaftGeneral, &[("{err}", &err)])
    }

    /// `JetStream unable to subscribe to restore snapshot {subject}: {err}`
    pub fn restore_subscribe_failed(subject: impl Display, err: impl Display) -> ApiError {
        ApiError::with_args(
            ErrorId::RestoreSubscribeFailed,
            &[("{subject}", &subject), ("{err}", &err)],
        )
    }

    /// `sequence {seq} not found`
    pub fn sequence_not_found(seq: impl Display) -> ApiError {
        ApiError::with_args(ErrorId::SequenceNotFound, &[("{seq}", &seq)])
    }

    /// `{err}`
    pub fn source_consumer_setup_failed(err: impl Display) -> ApiError {
        ApiError::with_args(ErrorId::SourceConsumerSetupFailed, &[("{err}", &err)])
    }

    /// `{err}`
    pub fn stream_assignment(err: impl Display) -> ApiError {
        ApiError::with_args(ErrorId::StreamAssignment, &[("{err}", &err)])
    }

    /// `{err}`
    pub fn stream_create(err: impl Display) -> ApiError {
        ApiError::with_args(ErrorId::StreamCreate, &[("{err}", &err)])
    }

    /// `{err}`
    pub fn stream_delete(err: impl Display) -> ApiError {
        ApiError::with_args(ErrorId::StreamDelete, &[("{err}", &err)])
    }

    /// `{err}`
    pub fn stream_general(err: impl Display) -> ApiError {
        ApiError::with_args(ErrorId::StreamGeneral, &[("{err}", &err)])
    }

    /// `{err}`
    pub fn stream_invalid_config(err: impl Display) -> ApiError {
        ApiError::with_args(ErrorId::StreamInvalidConfig, &[("{err}", &err)])
    }

    /// `{err}`
    pub fn stream_limits(err: impl Display) -> ApiError {
        ApiError::with_args(ErrorId::StreamLimits, &[("{err}", &err)])
    }

    /// `{err}`
    pub fn stream_msg_delete_failed(err: impl Display) -> ApiError {
        ApiError::with_args(ErrorId::StreamMsgDeleteFailed, &[("{err}", &err)])
    }

    /// `restore failed: {err}`
    pub fn stream_restore(err: impl Display) -> ApiError {
        ApiError::with_args(ErrorId::StreamRestore, &[("{err}", &err)])
    }

    /// `snapshot failed: {err}`
    pub fn stream_snapshot(err: impl Display) -> ApiError {
        ApiError::with_args(ErrorId::StreamSnapshot, &[("{err}", &err)])
    }

    /// `{err}`
    pub fn stream_template_create(err: impl Display) -> ApiError {
        ApiError::with_args(ErrorId::StreamTemplateCreate, &[("{err}", &err)])
    }

    /// `{err}`
    pub fn stream_template_delete(err: impl Display) -> ApiError {
        ApiError::with_args(ErrorId::StreamTemplateDelete, &[("{err}", &err)])
    }

    /// `{err}`
    pub fn stream_update(err: impl Display) -> ApiError {
        ApiError::with_args(ErrorId::StreamUpdate, &[("{err}", &err)])
    }

    /// `wrong last msg ID: {id}`
    pub fn stream_wrong_last_msg_id(id: impl Display) -> ApiError {
        ApiError::with_args(ErrorId::StreamWrongLastMsgID, &[("{id}", &id)])
    }

    /// `wrong last sequence: {seq}`
    pub fn stream_wrong_last_sequence(seq: impl Display) -> ApiError {
        ApiError::with_args(ErrorId::StreamWrongLastSequence, &[("{seq}", &seq)])
    }

    /// `{err}`
    pub fn stream_store_failed(err: impl Display) -> ApiError {
        ApiError::with_args(ErrorId::StreamStoreFailed, &[("{err}", &err)])
    }

    /// `{err}`
    pub fn consumer_invalid_policy(err: impl Display) -> ApiError {
        ApiError::with_args(ErrorId::ConsumerInvalidPolicy, &[("{err}", &err)])
    }

    /// `failed to parse consumer sampling configuration: {err}`
    pub fn consumer_invalid_sampling(err: impl Display) -> ApiError {
        ApiError::with_args(ErrorId::ConsumerInvalidSampling, &[("{err}", &err)])
    }

    /// `consumer name is too long, maximum allowed is {max}`
    pub fn consumer_name_too_long(max_value: impl Display) -> ApiError {
        ApiError::with_args(ErrorId::ConsumerNameTooLong, &[("{max}", &max_value)])
    }

    /// `error creating store for consumer: {err}`
    pub fn consumer_store_failed(err: impl Display) -> ApiError {
        ApiError::with_args(ErrorId::ConsumerStoreFailed, &[("{err}", &err)])
    }

    /// `consumer description is too long, maximum allowed is {max}`
    pub fn consumer_description_too_long(max_value: impl Display) -> ApiError {
        ApiError::with_args(
            ErrorId::ConsumerDescriptionTooLong,
            &[("{max}", &max_value)],
        )
    }

    /// `{err}`
    pub fn stream_purge_failed(err: impl Display) -> ApiError {
        ApiError::with_args(ErrorId::StreamPurgeFailed, &[("{err}", &err)])
    }

    /// `{err}`
    pub fn stream_rollup_failed(err: impl Display) -> ApiError {
        ApiError::with_args(ErrorId::StreamRollupFailed, &[("{err}", &err)])
    }

    /// `consumer max ack pending exceeds system limit of {limit}`
    pub fn consumer_max_pending_ack_excess(limit: impl Display) -> ApiError {
        ApiError::with_args(ErrorId::ConsumerMaxPendingAckExcess, &[("{limit}", &limit)])
    }

    /// `consumer max request batch exceeds server limit of {limit}`
    pub fn consumer_max_request_batch_exceeded(limit: impl Display) -> ApiError {
        ApiError::with_args(
            ErrorId::ConsumerMaxRequestBatchExceeded,
            &[("{limit}", &limit)],
        )
    }

    /// `consumer metadata exceeds maximum size of {limit}`
    pub fn consumer_metadata_length(limit: impl Display) -> ApiError {
        ApiError::with_args(ErrorId::ConsumerMetadataLength, &[("{limit}", &limit)])
    }

    /// `source transform source: {err}`
    pub fn source_invalid_subject_filter(err: impl Display) -> ApiError {
        ApiError::with_args(ErrorId::SourceInvalidSubjectFilter, &[("{err}", &err)])
    }

    /// `source transform: {err}`
    pub fn source_invalid_transform_destination(err: impl Display) -> ApiError {
        ApiError::with_args(
            ErrorId::SourceInvalidTransformDestination,
            &[("{err}", &err)],
        )
    }

    /// `mirror transform source: {err}`
    pub fn mirror_invalid_subject_filter(err: impl Display) -> ApiError {
        ApiError::with_args(ErrorId::MirrorInvalidSubjectFilter, &[("{err}", &err)])
    }

    /// `consumer inactive threshold exceeds system limit of {limit}`
    pub fn consumer_inactive_threshold_excess(limit: impl Display) -> ApiError {
        ApiError::with_args(
            ErrorId::ConsumerInactiveThresholdExcess,
            &[("{limit}", &limit)],
        )
    }

    /// `mirror transform: {err}`
    pub fn mirror_invalid_transform_destination(err: impl Display) -> ApiError {
        ApiError::with_args(
            ErrorId::MirrorInvalidTransformDestination,
            &[("{err}", &err)],
        )
    }

    /// `stream transform source: {err}`
    pub fn stream_transform_invalid_source(err: impl Display) -> ApiError {
        ApiError::with_args(ErrorId::StreamTransformInvalidSource, &[("{err}", &err)])
    }

    /// `stream transform: {err}`
    pub fn stream_transform_invalid_destination(err: impl Display) -> ApiError {
        ApiError::with_args(
            ErrorId::StreamTransformInvalidDestination,
            &[("{err}", &err)],
        )
    }

    /// `pedantic mode: {err}`
    pub fn pedantic(err: impl Display) -> ApiError {
        ApiError::with_args(ErrorId::Pedantic, &[("{err}", &err)])
    }

    /// `atomic publish unsupported header used: {header}`
    pub fn atomic_publish_unsupported_header_batch(header: impl Display) -> ApiError {
        ApiError::with_args(
            ErrorId::AtomicPublishUnsupportedHeaderBatch,
            &[("{header}", &header)],
        )
    }

    /// `stream is offline: {err}`
    pub fn stream_offline_reason(err: impl Display) -> ApiError {
        ApiError::with_args(ErrorId::StreamOfflineReason, &[("{err}", &err)])
    }

    /// `consumer is offline: {err}`
    pub fn consumer_offline_reason(err: impl Display) -> ApiError {
        ApiError::with_args(ErrorId::ConsumerOfflineReason, &[("{err}", &err)])
    }

    /// `atomic publish batch is too large: {size}`
    pub fn atomic_publish_too_large_batch(size: impl Display) -> ApiError {
        ApiError::with_args(ErrorId::AtomicPublishTooLargeBatch, &[("{size}", &size)])
    }

    /// `invalid reset: {err}`
    pub fn consumer_invalid_reset(err: impl Display) -> ApiError {
        ApiError::with_args(ErrorId::ConsumerInvalidReset, &[("{err}", &err)])
    }

    /// `JetStream system rescue not applied: {err}`
    pub fn cluster_rescue(err: impl Display) -> ApiError {
        ApiError::with_args(ErrorId::ClusterRescue, &[("{err}", &err)])
    }

    /// `consumer's stream identity does not match: {msg}`
    pub fn consumer_stream_identity_mismatch(msg: impl Display) -> ApiError {
        ApiError::with_args(ErrorId::ConsumerStreamIdentityMismatch, &[("{msg}", &msg)])
    }
}

#[cfg(test)]
mod tests;
