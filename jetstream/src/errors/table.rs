//! The Go server's JetStream API errors as data (`server/errors.json` of nats-server 2.15.0-dev,
//! a superset of 2.14's): one row per error, in `err_code` order. Transcribed once from the Go
//! table and checked against it entry by entry by `errors_table_matches_go_server`; when the Go
//! server adds an error, add its variant and its row at the same position.

/// Every JetStream API error, one variant per row of [`ERRORS`], in the same order (so that a
/// variant's discriminant is its row's index).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorId {
    /// 10002: resource limits exceeded for account
    AccountResourcesExceeded,
    /// 10003: bad request
    BadRequest,
    /// 10004: incomplete results
    ClusterIncomplete,
    /// 10005: {err}
    ClusterNoPeers,
    /// 10006: JetStream not in clustered mode
    ClusterNotActive,
    /// 10007: JetStream cluster not assigned to this server
    ClusterNotAssigned,
    /// 10008: JetStream system temporarily unavailable
    ClusterNotAvail,
    /// 10009: JetStream cluster can not handle request
    ClusterNotLeader,
    /// 10010: JetStream clustering support required
    ClusterRequired,
    /// 10011: tags placement not supported for operation
    ClusterTags,
    /// 10012: {err}
    ConsumerCreate,
    /// 10013: consumer name already in use
    ConsumerNameExist,
    /// 10014: consumer not found
    ConsumerNotFound,
    /// 10015: deliver subject not valid
    SnapshotDeliverSubjectInvalid,
    /// 10016: consumer expected to be durable but no durable name set in subject
    ConsumerDurableNameNotInSubject,
    /// 10017: consumer name in subject does not match durable name in request
    ConsumerDurableNameNotMatchSubject,
    /// 10018: consumer expected to be durable but a durable name was not set
    ConsumerDurableNameNotSet,
    /// 10019: consumer expected to be ephemeral but detected a durable name set in subject
    ConsumerEphemeralWithDurableInSubject,
    /// 10020: consumer expected to be ephemeral but a durable name was set in request
    ConsumerEphemeralWithDurableName,
    /// 10021: stream external api prefix {prefix} must not overlap with {subject}
    StreamExternalApiOverlap,
    /// 10022: stream external delivery prefix {prefix} overlaps with stream subject {subject}
    StreamExternalDelPrefixOverlaps,
    /// 10023: insufficient resources
    InsufficientResources,
    /// 10024: stream external delivery prefix {prefix} must not contain wildcards
    StreamInvalidExternalDeliverySubj,
    /// 10025: invalid JSON: {err}
    InvalidJSON,
    /// 10026: maximum consumers limit reached
    MaximumConsumersLimit,
    /// 10027: maximum number of streams reached
    MaximumStreamsLimit,
    /// 10028: insufficient memory resources available
    MemoryResourcesExceeded,
    /// 10029: {err}
    MirrorConsumerSetupFailed,
    /// 10030: stream mirror must have max message size >= source
    MirrorMaxMessageSizeTooBig,
    /// 10031: stream mirrors can not also contain other sources
    MirrorWithSources,
    /// 10032: stream mirrors can not have both start seq and start time configured
    MirrorWithStartSeqAndTime,
    /// 10033: stream mirrors can not contain filtered subjects
    MirrorWithSubjectFilters,
    /// 10034: stream mirrors can not contain subjects
    MirrorWithSubjects,
    /// 10035: account not found
    NoAccount,
    /// 10036: not currently supported in clustered mode
    ClusterUnSupportFeature,
    /// 10037: no message found
    NoMessageFound,
    /// 10038: expected an empty request payload
    NotEmptyRequest,
    /// 10039: JetStream not enabled for account
    NotEnabledForAccount,
    /// 10040: peer not a member
    ClusterPeerNotMember,
    /// 10041: {err}
    RaftGeneral,
    /// 10042: JetStream unable to subscribe to restore snapshot {subject}: {err}
    RestoreSubscribeFailed,
    /// 10043: sequence {seq} not found
    SequenceNotFound,
    /// 10044: server is not a member of the cluster
    ClusterServerNotMember,
    /// 10045: {err}
    SourceConsumerSetupFailed,
    /// 10046: stream source must have max message size >= target
    SourceMaxMessageSizeTooBig,
    /// 10047: insufficient storage resources available
    StorageResourcesExceeded,
    /// 10048: {err}
    StreamAssignment,
    /// 10049: {err}
    StreamCreate,
    /// 10050: {err}
    StreamDelete,
    /// 10051: {err}
    StreamGeneral,
    /// 10052: {err}
    StreamInvalidConfig,
    /// 10053: {err}
    StreamLimits,
    /// 10054: message size exceeds maximum allowed
    StreamMessageExceedsMaximum,
    /// 10055: stream mirror configuration can not be updated
    StreamMirrorNotUpdatable,
    /// 10056: stream name in subject does not match request
    StreamMismatch,
    /// 10057: {err}
    StreamMsgDeleteFailed,
    /// 10058: stream name already in use with a different configuration
    StreamNameExist,
    /// 10059: stream not found
    StreamNotFound,
    /// 10060: expected stream does not match
    StreamNotMatch,
    /// 10061: Replicas configuration can not be updated
    StreamReplicasNotUpdatable,
    /// 10062: restore failed: {err}
    StreamRestore,
    /// 10063: expected stream sequence does not match
    StreamSequenceNotMatch,
    /// 10064: snapshot failed: {err}
    StreamSnapshot,
    /// 10065: subjects overlap with an existing stream
    StreamSubjectOverlap,
    /// 10066: {err}
    StreamTemplateCreate,
    /// 10067: {err}
    StreamTemplateDelete,
    /// 10068: template not found
    StreamTemplateNotFound,
    /// 10069: {err}
    StreamUpdate,
    /// 10070: wrong last msg ID: {id}
    StreamWrongLastMsgID,
    /// 10071: wrong last sequence: {seq}
    StreamWrongLastSequence,
    /// 10072: JetStream unable to open temp storage for restore
    TempStorageFailed,
    /// 10073: template name in subject does not match request
    TemplateNameNotMatchSubject,
    /// 10074: replicas > 1 not supported in non-clustered mode
    StreamReplicasNotSupported,
    /// 10075: peer remap failed
    PeerRemap,
    /// 10076: JetStream not enabled
    NotEnabled,
    /// 10077: {err}
    StreamStoreFailed,
    /// 10078: consumer config required
    ConsumerConfigRequired,
    /// 10079: consumer deliver subject has wildcards
    ConsumerDeliverToWildcards,
    /// 10080: consumer in push mode can not set max waiting
    ConsumerPushMaxWaiting,
    /// 10081: consumer deliver subject forms a cycle
    ConsumerDeliverCycle,
    /// 10082: consumer requires ack policy for max ack pending
    ConsumerMaxPendingAckPolicyRequired,
    /// 10083: consumer idle heartbeat needs to be >= 100ms
    ConsumerSmallHeartbeat,
    /// 10084: consumer in pull mode requires explicit ack policy on workqueue stream
    ConsumerPullRequiresAck,
    /// 10085: consumer in pull mode requires a durable name
    ConsumerPullNotDurable,
    /// 10086: consumer in pull mode can not have rate limit set
    ConsumerPullWithRateLimit,
    /// 10087: consumer max waiting needs to be positive
    ConsumerMaxWaitingNegative,
    /// 10088: consumer idle heartbeat requires a push based consumer
    ConsumerHBRequiresPush,
    /// 10089: consumer flow control requires a push based consumer
    ConsumerFCRequiresPush,
    /// 10090: consumer direct requires a push based consumer
    ConsumerDirectRequiresPush,
    /// 10091: consumer direct requires an ephemeral consumer
    ConsumerDirectRequiresEphemeral,
    /// 10092: consumer direct on a mapped consumer
    ConsumerOnMapped,
    /// 10093: consumer filter subject is not a valid subset of the interest subjects
    ConsumerFilterNotSubset,
    /// 10094: {err}
    ConsumerInvalidPolicy,
    /// 10095: failed to parse consumer sampling configuration: {err}
    ConsumerInvalidSampling,
    /// 10096: stream not valid
    StreamInvalid,
    /// 10097: header size exceeds maximum allowed of 64k
    StreamHeaderExceedsMaximum,
    /// 10098: workqueue stream requires explicit ack
    ConsumerWQRequiresExplicitAck,
    /// 10099: multiple non-filtered consumers not allowed on workqueue stream
    ConsumerWQMultipleUnfiltered,
    /// 10100: filtered consumer not unique on workqueue stream
    ConsumerWQConsumerNotUnique,
    /// 10101: consumer must be deliver all on workqueue stream
    ConsumerWQConsumerNotDeliverAll,
    /// 10102: consumer name is too long, maximum allowed is {max}
    ConsumerNameTooLong,
    /// 10103: durable name can not contain '.', '*', '>'
    ConsumerBadDurableName,
    /// 10104: error creating store for consumer: {err}
    ConsumerStoreFailed,
    /// 10105: consumer already exists and is still active
    ConsumerExistingActive,
    /// 10106: consumer replacement durable config not the same
    ConsumerReplacementWithDifferentName,
    /// 10107: consumer description is too long, maximum allowed is {max}
    ConsumerDescriptionTooLong,
    /// 10108: consumer with flow control also needs heartbeats
    ConsumerWithFlowControlNeedsHeartbeats,
    /// 10109: invalid operation on sealed stream
    StreamSealed,
    /// 10110: {err}
    StreamPurgeFailed,
    /// 10111: {err}
    StreamRollupFailed,
    /// 10112: invalid push consumer deliver subject
    ConsumerInvalidDeliverSubject,
    /// 10113: account requires a stream config to have max bytes set
    StreamMaxBytesRequired,
    /// 10114: consumer max request batch needs to be > 0
    ConsumerMaxRequestBatchNegative,
    /// 10115: consumer max request expires needs to be >= 1ms
    ConsumerMaxRequestExpiresTooSmall,
    /// 10116: max deliver is required to be > length of backoff values
    ConsumerMaxDeliverBackoff,
    /// 10117: subject details would exceed maximum allowed
    StreamInfoMaxSubjects,
    /// 10118: stream is offline
    StreamOffline,
    /// 10119: consumer is offline
    ConsumerOffline,
    /// 10120: no JetStream default or applicable tiered limit present
    NoLimits,
    /// 10121: consumer max ack pending exceeds system limit of {limit}
    ConsumerMaxPendingAckExcess,
    /// 10122: stream max bytes exceeds account limit max stream bytes
    StreamMaxStreamBytesExceeded,
    /// 10123: can not move and scale a stream in a single update
    StreamMoveAndScale,
    /// 10124: stream move already in progress
    StreamMoveInProgress,
    /// 10125: consumer max request batch exceeds server limit of {limit}
    ConsumerMaxRequestBatchExceeded,
    /// 10126: consumer config replica count exceeds parent stream
    ConsumerReplicasExceedsStream,
    /// 10127: Consumer name can not contain path separators
    ConsumerNameContainsPathSeparators,
    /// 10128: Stream name can not contain path separators
    StreamNameContainsPathSeparators,
    /// 10129: stream reconfiguration not in progress
    StreamReconfigureNotInProgress,
    /// 10130: stream name already in use, cannot restore
    StreamNameExistRestoreFailed,
    /// 10131: Consumer create request did not match filtered subject from create subject
    ConsumerCreateFilterSubjectMismatch,
    /// 10132: Consumer Durable and Name have to be equal if both are provided
    ConsumerCreateDurableAndNameMismatch,
    /// 10133: replicas count cannot be negative
    ReplicasCountCannotBeNegative,
    /// 10134: consumer config replicas must match interest retention stream's replicas
    ConsumerReplicasShouldMatchStream,
    /// 10135: consumer metadata exceeds maximum size of {limit}
    ConsumerMetadataLength,
    /// 10136: consumer cannot have both FilterSubject and FilterSubjects specified
    ConsumerDuplicateFilterSubjects,
    /// 10137: consumer with multiple subject filters cannot use subject based API
    ConsumerMultipleFiltersNotAllowed,
    /// 10138: consumer subject filters cannot overlap
    ConsumerOverlappingSubjectFilters,
    /// 10139: consumer filter in FilterSubjects cannot be empty
    ConsumerEmptyFilter,
    /// 10140: duplicate source configuration detected
    SourceDuplicateDetected,
    /// 10141: sourced stream name is invalid
    SourceInvalidStreamName,
    /// 10142: mirrored stream name is invalid
    MirrorInvalidStreamName,
    /// 10143: stream mirrors can not have first sequence configured
    MirrorWithFirstSeq,
    /// 10144: source with multiple subject transforms cannot also have a single subject filter
    SourceMultipleFiltersNotAllowed,
    /// 10145: source transform source: {err}
    SourceInvalidSubjectFilter,
    /// 10146: source transform: {err}
    SourceInvalidTransformDestination,
    /// 10147: source filters can not overlap
    SourceOverlappingSubjectFilters,
    /// 10148: consumer already exists
    ConsumerAlreadyExists,
    /// 10149: consumer does not exist
    ConsumerDoesNotExist,
    /// 10150: mirror with multiple subject transforms cannot also have a single subject filter
    MirrorMultipleFiltersNotAllowed,
    /// 10151: mirror transform source: {err}
    MirrorInvalidSubjectFilter,
    /// 10152: mirror subject filters can not overlap
    MirrorOverlappingSubjectFilters,
    /// 10153: consumer inactive threshold exceeds system limit of {limit}
    ConsumerInactiveThresholdExcess,
    /// 10154: mirror transform: {err}
    MirrorInvalidTransformDestination,
    /// 10155: stream transform source: {err}
    StreamTransformInvalidSource,
    /// 10156: stream transform: {err}
    StreamTransformInvalidDestination,
    /// 10157: pedantic mode: {err}
    Pedantic,
    /// 10158: duplicate message id is in process
    StreamDuplicateMessageConflict,
    /// 10159: Setting PriorityPolicy requires at least one PriorityGroup to be set
    ConsumerPriorityPolicyWithoutGroup,
    /// 10160: Provided priority group does not exist for this consumer
    ConsumerInvalidPriorityGroup,
    /// 10161: Group name cannot be an empty string
    ConsumerEmptyGroupName,
    /// 10162: Valid priority group name must match A-Z, a-z, 0-9, -_/=)+ and may not exceed 16 characters
    ConsumerInvalidGroupName,
    /// 10163: expected last sequence per subject temporarily unavailable
    StreamExpectedLastSeqPerSubjectNotReady,
    /// 10164: wrong last sequence
    StreamWrongLastSequenceConstant,
    /// 10165: invalid per-message TTL
    MessageTTLInvalid,
    /// 10166: per-message TTL is disabled
    MessageTTLDisabled,
    /// 10167: too many requests
    StreamTooManyRequests,
    /// 10168: message counters is disabled
    MessageIncrDisabled,
    /// 10169: message counter increment is missing
    MessageIncrMissing,
    /// 10170: message counter has payload
    MessageIncrPayload,
    /// 10171: message counter increment is invalid
    MessageIncrInvalid,
    /// 10172: message counter is broken
    MessageCounterBroken,
    /// 10173: stream mirrors can not also calculate counters
    MirrorWithCounters,
    /// 10174: atomic publish is disabled
    AtomicPublishDisabled,
    /// 10175: atomic publish sequence is missing
    AtomicPublishMissingSeq,
    /// 10176: atomic publish batch is incomplete
    AtomicPublishIncompleteBatch,
    /// 10177: atomic publish unsupported header used: {header}
    AtomicPublishUnsupportedHeaderBatch,
    /// 10178: priority groups can not be used with push consumers
    ConsumerPushWithPriorityGroup,
    /// 10179: atomic publish batch ID is invalid
    AtomicPublishInvalidBatchID,
    /// 10180: min last sequence
    StreamMinLastSeq,
    /// 10181: consumer ack policy invalid
    ConsumerAckPolicyInvalid,
    /// 10182: consumer replay policy invalid
    ConsumerReplayPolicyInvalid,
    /// 10183: consumer ack wait needs to be positive
    ConsumerAckWaitNegative,
    /// 10184: consumer backoff needs to be positive
    ConsumerBackOffNegative,
    /// 10185: JetStream minimum api level required
    RequiredApiLevel,
    /// 10186: stream mirrors can not also schedule messages
    MirrorWithMsgSchedules,
    /// 10187: stream source can not also schedule messages
    SourceWithMsgSchedules,
    /// 10188: message schedules is disabled
    MessageSchedulesDisabled,
    /// 10189: message schedules pattern is invalid
    MessageSchedulesPatternInvalid,
    /// 10190: message schedules target is invalid
    MessageSchedulesTargetInvalid,
    /// 10191: message schedules invalid per-message TTL
    MessageSchedulesTTLInvalid,
    /// 10192: message schedules invalid rollup
    MessageSchedulesRollupInvalid,
    /// 10193: missing sequence for expected last sequence per subject
    StreamExpectedLastSeqPerSubjectInvalid,
    /// 10194: stream is offline: {err}
    StreamOfflineReason,
    /// 10195: consumer is offline: {err}
    ConsumerOfflineReason,
    /// 10196: consumer can not have priority groups when policy is none
    ConsumerPriorityGroupWithPolicyNone,
    /// 10197: PinnedTTL cannot be set when PriorityPolicy is none
    ConsumerPinnedTTLWithoutPriorityPolicyNone,
    /// 10198: stream mirrors can not also use atomic publishing
    MirrorWithAtomicPublish,
    /// 10199: atomic publish batch is too large: {size}
    AtomicPublishTooLargeBatch,
    /// 10200: atomic publish batch commit is invalid
    AtomicPublishInvalidBatchCommit,
    /// 10201: atomic publish batch contains duplicate message id
    AtomicPublishContainsDuplicateMessage,
    /// 10202: cluster member change is in progress
    ClusterServerMemberChangeInflight,
    /// 10203: message schedules source is invalid
    MessageSchedulesSourceInvalid,
    /// 10204: invalid reset: {err}
    ConsumerInvalidReset,
    /// 10205: batch publish is disabled
    BatchPublishDisabled,
    /// 10206: batch publish pattern is invalid
    BatchPublishInvalidPattern,
    /// 10207: batch publish ID is invalid
    BatchPublishInvalidBatchID,
    /// 10208: batch publish ID unknown
    BatchPublishUnknownBatchID,
    /// 10209: stream mirrors can not also use batch publishing
    MirrorWithBatchPublish,
    /// 10210: atomic publish too many inflight
    AtomicPublishTooManyInflight,
    /// 10211: batch publish too many inflight
    BatchPublishTooManyInflight,
    /// 10212: message schedules invalid scheduler
    MessageSchedulesSchedulerInvalid,
    /// 10213: stream mirror consumer config is invalid
    MirrorDurableConsumerCfgInvalid,
    /// 10214: stream mirror consumer requires flow control ack policy
    MirrorConsumerRequiresAckFC,
    /// 10215: stream source consumer config is invalid
    SourceDurableConsumerCfgInvalid,
    /// 10216: duplicate stream source consumer detected
    SourceDurableConsumerDuplicateDetected,
    /// 10217: stream source consumer requires flow control ack policy
    SourceConsumerRequiresAckFC,
    /// 10218: flow control ack policy requires a push based consumer
    ConsumerAckFCRequiresPush,
    /// 10219: flow control ack policy requires flow control
    ConsumerAckFCRequiresFC,
    /// 10220: flow control ack policy requires max ack pending
    ConsumerAckFCRequiresMaxAckPending,
    /// 10221: flow control ack policy requires unset ack wait
    ConsumerAckFCRequiresNoAckWait,
    /// 10222: flow control ack policy requires unset max deliver
    ConsumerAckFCRequiresNoMaxDeliver,
    /// 10223: message schedules time zone is invalid
    MessageSchedulesTimeZoneInvalid,
    /// 10224: JetStream system rescue not applied: {err}
    ClusterRescue,
    /// 10225: consumer's stream identity does not match: {msg}
    ConsumerStreamIdentityMismatch,
    /// 10226: stream reconfiguration already in progress
    StreamReconfigureInProgress,
    /// 10227: message stream source header is not allowed
    MessageSourceHdrNotAllowed,
}

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorSpec {
    /// Which error.
    pub id: ErrorId,
    /// The Go constant's name (`JSStreamNotFoundErr`), for logs and the conformance test.
    pub go_name: &'static str,
    /// The status code (`code` in the JSON), HTTP-like.
    pub code: u16,
    /// The JetStream error code (`err_code` in the JSON).
    pub err_code: u16,
    /// The description, with `{placeholders}` where the Go server fills in values.
    pub description: &'static str,
}

const fn row(
    id: ErrorId,
    go_name: &'static str,
    code: u16,
    err_code: u16,
    description: &'static str,
) -> ErrorSpec {
    ErrorSpec {
        id,
        go_name,
        code,
        err_code,
        description,
    }
}

/// The table, sorted by `err_code`; row `i` describes the variant whose discriminant is `i`.
#[rustfmt::skip]
pub static ERRORS: [ErrorSpec; 226] = [
    row(ErrorId::AccountResourcesExceeded, "JSAccountResourcesExceededErr", 400, 10002, "resource limits exceeded for account"),
    row(ErrorId::BadRequest, "JSBadRequestErr", 400, 10003, "bad request"),
    row(ErrorId::ClusterIncomplete, "JSClusterIncompleteErr", 503, 10004, "incomplete results"),
    row(ErrorId::ClusterNoPeers, "JSClusterNoPeersErrF", 400, 10005, "{err}"),
    row(ErrorId::ClusterNotActive, "JSClusterNotActiveErr", 500, 10006, "JetStream not in clustered mode"),
    row(ErrorId::ClusterNotAssigned, "JSClusterNotAssignedErr", 500, 10007, "JetStream cluster not assigned to this server"),
    row(ErrorId::ClusterNotAvail, "JSClusterNotAvailErr", 503, 10008, "JetStream system temporarily unavailable"),
    row(ErrorId::ClusterNotLeader, "JSClusterNotLeaderErr", 500, 10009, "JetStream cluster can not handle request"),
    row(ErrorId::ClusterRequired, "JSClusterRequiredErr", 503, 10010, "JetStream clustering support required"),
    row(ErrorId::ClusterTags, "JSClusterTagsErr", 400, 10011, "tags placement not supported for operation"),
    row(ErrorId::ConsumerCreate, "JSConsumerCreateErrF", 500, 10012, "{err}"),
    row(ErrorId::ConsumerNameExist, "JSConsumerNameExistErr", 400, 10013, "consumer name already in use"),
    row(ErrorId::ConsumerNotFound, "JSConsumerNotFoundErr", 404, 10014, "consumer not found"),
    row(ErrorId::SnapshotDeliverSubjectInvalid, "JSSnapshotDeliverSubjectInvalidErr", 400, 10015, "deliver subject not valid"),
    row(ErrorId::ConsumerDurableNameNotInSubject, "JSConsumerDurableNameNotInSubjectErr", 400, 10016, "consumer expected to be durable but no durable name set in subject"),
    row(ErrorId::ConsumerDurableNameNotMatchSubject, "JSConsumerDurableNameNotMatchSubjectErr", 400, 10017, "consumer name in subject does not match durable name in request"),
    row(ErrorId::ConsumerDurableNameNotSet, "JSConsumerDurableNameNotSetErr", 400, 10018, "consumer expected to be durable but a durable name was not set"),
    row(ErrorId::ConsumerEphemeralWithDurableInSubject, "JSConsumerEphemeralWithDurableInSubjectErr", 400, 10019, "consumer expected to be ephemeral but detected a durable name set in subject"),
    row(ErrorId::ConsumerEphemeralWithDurableName, "JSConsumerEphemeralWithDurableNameErr", 400, 10020, "consumer expected to be ephemeral but a durable name was set in request"),
    row(ErrorId::StreamExternalApiOverlap, "JSStreamExternalApiOverlapErrF", 400, 10021, "stream external api prefix {prefix} must not overlap with {subject}"),
    row(ErrorId::StreamExternalDelPrefixOverlaps, "JSStreamExternalDelPrefixOverlapsErrF", 400, 10022, "stream external delivery prefix {prefix} overlaps with stream subject {subject}"),
    row(ErrorId::InsufficientResources, "JSInsufficientResourcesErr", 503, 10023, "insufficient resources"),
    row(ErrorId::StreamInvalidExternalDeliverySubj, "JSStreamInvalidExternalDeliverySubjErrF", 400, 10024, "stream external delivery prefix {prefix} must not contain wildcards"),
    row(ErrorId::InvalidJSON, "JSInvalidJSONErr", 400, 10025, "invalid JSON: {err}"),
    row(ErrorId::MaximumConsumersLimit, "JSMaximumConsumersLimitErr", 400, 10026, "maximum consumers limit reached"),
    row(ErrorId::MaximumStreamsLimit, "JSMaximumStreamsLimitErr", 400, 10027, "maximum number of streams reached"),
    row(ErrorId::MemoryResourcesExceeded, "JSMemoryResourcesExceededErr", 500, 10028, "insufficient memory resources available"),
    row(ErrorId::MirrorConsumerSetupFailed, "JSMirrorConsumerSetupFailedErrF", 500, 10029, "{err}"),
    row(ErrorId::MirrorMaxMessageSizeTooBig, "JSMirrorMaxMessageSizeTooBigErr", 400, 10030, "stream mirror must have max message size >= source"),
    row(ErrorId::MirrorWithSources, "JSMirrorWithSourcesErr", 400, 10031, "stream mirrors can not also contain other sources"),
    row(ErrorId::MirrorWithStartSeqAndTime, "JSMirrorWithStartSeqAndTimeErr", 400, 10032, "stream mirrors can not have both start seq and start time configured"),
    row(ErrorId::MirrorWithSubjectFilters, "JSMirrorWithSubjectFiltersErr", 400, 10033, "stream mirrors can not contain filtered subjects"),
    row(ErrorId::MirrorWithSubjects, "JSMirrorWithSubjectsErr", 400, 10034, "stream mirrors can not contain subjects"),
    row(ErrorId::NoAccount, "JSNoAccountErr", 503, 10035, "account not found"),
    row(ErrorId::ClusterUnSupportFeature, "JSClusterUnSupportFeatureErr", 503, 10036, "not currently supported in clustered mode"),
    row(ErrorId::NoMessageFound, "JSNoMessageFoundErr", 404, 10037, "no message found"),
    row(ErrorId::NotEmptyRequest, "JSNotEmptyRequestErr", 400, 10038, "expected an empty request payload"),
    row(ErrorId::NotEnabledForAccount, "JSNotEnabledForAccountErr", 503, 10039, "JetStream not enabled for account"),
    row(ErrorId::ClusterPeerNotMember, "JSClusterPeerNotMemberErr", 400, 10040, "peer not a member"),
    row(ErrorId::RaftGeneral, "JSRaftGeneralErrF", 500, 10041, "{err}"),
    row(ErrorId::RestoreSubscribeFailed, "JSRestoreSubscribeFailedErrF", 500, 10042, "JetStream unable to subscribe to restore snapshot {subject}: {err}"),
    row(ErrorId::SequenceNotFound, "JSSequenceNotFoundErrF", 400, 10043, "sequence {seq} not found"),
    row(ErrorId::ClusterServerNotMember, "JSClusterServerNotMemberErr", 400, 10044, "server is not a member of the cluster"),
    row(ErrorId::SourceConsumerSetupFailed, "JSSourceConsumerSetupFailedErrF", 500, 10045, "{err}"),
    row(ErrorId::SourceMaxMessageSizeTooBig, "JSSourceMaxMessageSizeTooBigErr", 400, 10046, "stream source must have max message size >= target"),
    row(ErrorId::StorageResourcesExceeded, "JSStorageResourcesExceededErr", 500, 10047, "insufficient storage resources available"),
    row(ErrorId::StreamAssignment, "JSStreamAssignmentErrF", 500, 10048, "{err}"),
    row(ErrorId::StreamCreate, "JSStreamCreateErrF", 500, 10049, "{err}"),
    row(ErrorId::StreamDelete, "JSStreamDeleteErrF", 500, 10050, "{err}"),
    row(ErrorId::StreamGeneral, "JSStreamGeneralErrorF", 500, 10051, "{err}"),
    row(ErrorId::StreamInvalidConfig, "JSStreamInvalidConfigF", 500, 10052, "{err}"),
    row(ErrorId::StreamLimits, "JSStreamLimitsErrF", 500, 10053, "{err}"),
    row(ErrorId::StreamMessageExceedsMaximum, "JSStreamMessageExceedsMaximumErr", 400, 10054, "message size exceeds maximum allowed"),
    row(ErrorId::StreamMirrorNotUpdatable, "JSStreamMirrorNotUpdatableErr", 400, 10055, "stream mirror configuration can not be updated"),
    row(ErrorId::StreamMismatch, "JSStreamMismatchErr", 400, 10056, "stream name in subject does not match request"),
    row(ErrorId::StreamMsgDeleteFailed, "JSStreamMsgDeleteFailedF", 500, 10057, "{err}"),
    row(ErrorId::StreamNameExist, "JSStreamNameExistErr", 400, 10058, "stream name already in use with a different configuration"),
    row(ErrorId::StreamNotFound, "JSStreamNotFoundErr", 404, 10059, "stream not found"),
    row(ErrorId::StreamNotMatch, "JSStreamNotMatchErr", 400, 10060, "expected stream does not match"),
    row(ErrorId::StreamReplicasNotUpdatable, "JSStreamReplicasNotUpdatableErr", 400, 10061, "Replicas configuration can not be updated"),
    row(ErrorId::StreamRestore, "JSStreamRestoreErrF", 500, 10062, "restore failed: {err}"),
    row(ErrorId::StreamSequenceNotMatch, "JSStreamSequenceNotMatchErr", 503, 10063, "expected stream sequence does not match"),
    row(ErrorId::StreamSnapshot, "JSStreamSnapshotErrF", 500, 10064, "snapshot failed: {err}"),
    row(ErrorId::StreamSubjectOverlap, "JSStreamSubjectOverlapErr", 400, 10065, "subjects overlap with an existing stream"),
    row(ErrorId::StreamTemplateCreate, "JSStreamTemplateCreateErrF", 500, 10066, "{err}"),
    row(ErrorId::StreamTemplateDelete, "JSStreamTemplateDeleteErrF", 500, 10067, "{err}"),
    row(ErrorId::StreamTemplateNotFound, "JSStreamTemplateNotFoundErr", 404, 10068, "template not found"),
    row(ErrorId::StreamUpdate, "JSStreamUpdateErrF", 500, 10069, "{err}"),
    row(ErrorId::StreamWrongLastMsgID, "JSStreamWrongLastMsgIDErrF", 400, 10070, "wrong last msg ID: {id}"),
    row(ErrorId::StreamWrongLastSequence, "JSStreamWrongLastSequenceErrF", 400, 10071, "wrong last sequence: {seq}"),
    row(ErrorId::TempStorageFailed, "JSTempStorageFailedErr", 500, 10072, "JetStream unable to open temp storage for restore"),
    row(ErrorId::TemplateNameNotMatchSubject, "JSTemplateNameNotMatchSubjectErr", 400, 10073, "template name in subject does not match request"),
    row(ErrorId::StreamReplicasNotSupported, "JSStreamReplicasNotSupportedErr", 500, 10074, "replicas > 1 not supported in non-clustered mode"),
    row(ErrorId::PeerRemap, "JSPeerRemapErr", 503, 10075, "peer remap failed"),
    row(ErrorId::NotEnabled, "JSNotEnabledErr", 503, 10076, "JetStream not enabled"),
    row(ErrorId::StreamStoreFailed, "JSStreamStoreFailedF", 503, 10077, "{err}"),
    row(ErrorId::ConsumerConfigRequired, "JSConsumerConfigRequiredErr", 400, 10078, "consumer config required"),
    row(ErrorId::ConsumerDeliverToWildcards, "JSConsumerDeliverToWildcardsErr", 400, 10079, "consumer deliver subject has wildcards"),
    row(ErrorId::ConsumerPushMaxWaiting, "JSConsumerPushMaxWaitingErr", 400, 10080, "consumer in push mode can not set max waiting"),
    row(ErrorId::ConsumerDeliverCycle, "JSConsumerDeliverCycleErr", 400, 10081, "consumer deliver subject forms a cycle"),
    row(ErrorId::ConsumerMaxPendingAckPolicyRequired, "JSConsumerMaxPendingAckPolicyRequiredErr", 400, 10082, "consumer requires ack policy for max ack pending"),
    row(ErrorId::ConsumerSmallHeartbeat, "JSConsumerSmallHeartbeatErr", 400, 10083, "consumer idle heartbeat needs to be >= 100ms"),
    row(ErrorId::ConsumerPullRequiresAck, "JSConsumerPullRequiresAckErr", 400, 10084, "consumer in pull mode requires explicit ack policy on workqueue stream"),
    row(ErrorId::ConsumerPullNotDurable, "JSConsumerPullNotDurableErr", 400, 10085, "consumer in pull mode requires a durable name"),
    row(ErrorId::ConsumerPullWithRateLimit, "JSConsumerPullWithRateLimitErr", 400, 10086, "consumer in pull mode can not have rate limit set"),
    row(ErrorId::ConsumerMaxWaitingNegative, "JSConsumerMaxWaitingNegativeErr", 400, 10087, "consumer max waiting needs to be positive"),
    row(ErrorId::ConsumerHBRequiresPush, "JSConsumerHBRequiresPushErr", 400, 10088, "consumer idle heartbeat requires a push based consumer"),
    row(ErrorId::ConsumerFCRequiresPush, "JSConsumerFCRequiresPushErr", 400, 10089, "consumer flow control requires a push based consumer"),
    row(ErrorId::ConsumerDirectRequiresPush, "JSConsumerDirectRequiresPushErr", 400, 10090, "consumer direct requires a push based consumer"),
    row(ErrorId::ConsumerDirectRequiresEphemeral, "JSConsumerDirectRequiresEphemeralErr", 400, 10091, "consumer direct requires an ephemeral consumer"),
    row(ErrorId::ConsumerOnMapped, "JSConsumerOnMappedErr", 400, 10092, "consumer direct on a mapped consumer"),
    row(ErrorId::ConsumerFilterNotSubset, "JSConsumerFilterNotSubsetErr", 400, 10093, "consumer filter subject is not a valid subset of the interest subjects"),
    row(ErrorId::ConsumerInvalidPolicy, "JSConsumerInvalidPolicyErrF", 400, 10094, "{err}"),
    row(ErrorId::ConsumerInvalidSampling, "JSConsumerInvalidSamplingErrF", 400, 10095, "failed to parse consumer sampling configuration: {err}"),
    row(ErrorId::StreamInvalid, "JSStreamInvalidErr", 500, 10096, "stream not valid"),
    row(ErrorId::StreamHeaderExceedsMaximum, "JSStreamHeaderExceedsMaximumErr", 400, 10097, "header size exceeds maximum allowed of 64k"),
    row(ErrorId::ConsumerWQRequiresExplicitAck, "JSConsumerWQRequiresExplicitAckErr", 400, 10098, "workqueue stream requires explicit ack"),
    row(ErrorId::ConsumerWQMultipleUnfiltered, "JSConsumerWQMultipleUnfilteredErr", 400, 10099, "multiple non-filtered consumers not allowed on workqueue stream"),
    row(ErrorId::ConsumerWQConsumerNotUnique, "JSConsumerWQConsumerNotUniqueErr", 400, 10100, "filtered consumer not unique on workqueue stream"),
    row(ErrorId::ConsumerWQConsumerNotDeliverAll, "JSConsumerWQConsumerNotDeliverAllErr", 400, 10101, "consumer must be deliver all on workqueue stream"),
    row(ErrorId::ConsumerNameTooLong, "JSConsumerNameTooLongErrF", 400, 10102, "consumer name is too long, maximum allowed is {max}"),
    row(ErrorId::ConsumerBadDurableName, "JSConsumerBadDurableNameErr", 400, 10103, "durable name can not contain '.', '*', '>'"),
    row(ErrorId::ConsumerStoreFailed, "JSConsumerStoreFailedErrF", 500, 10104, "error creating store for consumer: {err}"),
    row(ErrorId::ConsumerExistingActive, "JSConsumerExistingActiveErr", 400, 10105, "consumer already exists and is still active"),
    row(ErrorId::ConsumerReplacementWithDifferentName, "JSConsumerReplacementWithDifferentNameErr", 400, 10106, "consumer replacement durable config not the same"),
    row(ErrorId::ConsumerDescriptionTooLong, "JSConsumerDescriptionTooLongErrF", 400, 10107, "consumer description is too long, maximum allowed is {max}"),
    row(ErrorId::ConsumerWithFlowControlNeedsHeartbeats, "JSConsumerWithFlowControlNeedsHeartbeats", 400, 10108, "consumer with flow control also needs heartbeats"),
    row(ErrorId::StreamSealed, "JSStreamSealedErr", 400, 10109, "invalid operation on sealed stream"),
    row(ErrorId::StreamPurgeFailed, "JSStreamPurgeFailedF", 500, 10110, "{err}"),
    row(ErrorId::StreamRollupFailed, "JSStreamRollupFailedF", 500, 10111, "{err}"),
    row(ErrorId::ConsumerInvalidDeliverSubject, "JSConsumerInvalidDeliverSubject", 400, 10112, "invalid push consumer deliver subject"),
    row(ErrorId::StreamMaxBytesRequired, "JSStreamMaxBytesRequired", 400, 10113, "account requires a stream config to have max bytes set"),
    row(ErrorId::ConsumerMaxRequestBatchNegative, "JSConsumerMaxRequestBatchNegativeErr", 400, 10114, "consumer max request batch needs to be > 0"),
    row(ErrorId::ConsumerMaxRequestExpiresTooSmall, "JSConsumerMaxRequestExpiresTooSmall", 400, 10115, "consumer max request expires needs to be >= 1ms"),
    row(ErrorId::ConsumerMaxDeliverBackoff, "JSConsumerMaxDeliverBackoffErr", 400, 10116, "max deliver is required to be > length of backoff values"),
    row(ErrorId::StreamInfoMaxSubjects, "JSStreamInfoMaxSubjectsErr", 500, 10117, "subject details would exceed maximum allowed"),
    row(ErrorId::StreamOffline, "JSStreamOfflineErr", 500, 10118, "stream is offline"),
    row(ErrorId::ConsumerOffline, "JSConsumerOfflineErr", 500, 10119, "consumer is offline"),
    row(ErrorId::NoLimits, "JSNoLimitsErr", 400, 10120, "no JetStream default or applicable tiered limit present"),
    row(ErrorId::ConsumerMaxPendingAckExcess, "JSConsumerMaxPendingAckExcessErrF", 400, 10121, "consumer max ack pending exceeds system limit of {limit}"),
    row(ErrorId::StreamMaxStreamBytesExceeded, "JSStreamMaxStreamBytesExceeded", 400, 10122, "stream max bytes exceeds account limit max stream bytes"),
    row(ErrorId::StreamMoveAndScale, "JSStreamMoveAndScaleErr", 400, 10123, "can not move and scale a stream in a single update"),
    row(ErrorId::StreamMoveInProgress, "JSStreamMoveInProgressErr", 400, 10124, "stream move already in progress"),
    row(ErrorId::ConsumerMaxRequestBatchExceeded, "JSConsumerMaxRequestBatchExceededF", 400, 10125, "consumer max request batch exceeds server limit of {limit}"),
    row(ErrorId::ConsumerReplicasExceedsStream, "JSConsumerReplicasExceedsStream", 400, 10126, "consumer config replica count exceeds parent stream"),
    row(ErrorId::ConsumerNameContainsPathSeparators, "JSConsumerNameContainsPathSeparatorsErr", 400, 10127, "Consumer name can not contain path separators"),
    row(ErrorId::StreamNameContainsPathSeparators, "JSStreamNameContainsPathSeparatorsErr", 400, 10128, "Stream name can not contain path separators"),
    row(ErrorId::StreamReconfigureNotInProgress, "JSStreamReconfigureNotInProgressErr", 400, 10129, "stream reconfiguration not in progress"),
    row(ErrorId::StreamNameExistRestoreFailed, "JSStreamNameExistRestoreFailedErr", 400, 10130, "stream name already in use, cannot restore"),
    row(ErrorId::ConsumerCreateFilterSubjectMismatch, "JSConsumerCreateFilterSubjectMismatchErr", 400, 10131, "Consumer create request did not match filtered subject from create subject"),
    row(ErrorId::ConsumerCreateDurableAndNameMismatch, "JSConsumerCreateDurableAndNameMismatch", 400, 10132, "Consumer Durable and Name have to be equal if both are provided"),
    row(ErrorId::ReplicasCountCannotBeNegative, "JSReplicasCountCannotBeNegative", 400, 10133, "replicas count cannot be negative"),
    row(ErrorId::ConsumerReplicasShouldMatchStream, "JSConsumerReplicasShouldMatchStream", 400, 10134, "consumer config replicas must match interest retention stream's replicas"),
    row(ErrorId::ConsumerMetadataLength, "JSConsumerMetadataLengthErrF", 400, 10135, "consumer metadata exceeds maximum size of {limit}"),
    row(ErrorId::ConsumerDuplicateFilterSubjects, "JSConsumerDuplicateFilterSubjects", 400, 10136, "consumer cannot have both FilterSubject and FilterSubjects specified"),
    row(ErrorId::ConsumerMultipleFiltersNotAllowed, "JSConsumerMultipleFiltersNotAllowed", 400, 10137, "consumer with multiple subject filters cannot use subject based API"),
    row(ErrorId::ConsumerOverlappingSubjectFilters, "JSConsumerOverlappingSubjectFilters", 400, 10138, "consumer subject filters cannot overlap"),
    row(ErrorId::ConsumerEmptyFilter, "JSConsumerEmptyFilter", 400, 10139, "consumer filter in FilterSubjects cannot be empty"),
    row(ErrorId::SourceDuplicateDetected, "JSSourceDuplicateDetected", 400, 10140, "duplicate source configuration detected"),
    row(ErrorId::SourceInvalidStreamName, "JSSourceInvalidStreamName", 400, 10141, "sourced stream name is invalid"),
    row(ErrorId::MirrorInvalidStreamName, "JSMirrorInvalidStreamName", 400, 10142, "mirrored stream name is invalid"),
    row(ErrorId::MirrorWithFirstSeq, "JSMirrorWithFirstSeqErr", 400, 10143, "stream mirrors can not have first sequence configured"),
    row(ErrorId::SourceMultipleFiltersNotAllowed, "JSSourceMultipleFiltersNotAllowed", 400, 10144, "source with multiple subject transforms cannot also have a single subject filter"),
    row(ErrorId::SourceInvalidSubjectFilter, "JSSourceInvalidSubjectFilter", 400, 10145, "source transform source: {err}"),
    row(ErrorId::SourceInvalidTransformDestination, "JSSourceInvalidTransformDestination", 400, 10146, "source transform: {err}"),
    row(ErrorId::SourceOverlappingSubjectFilters, "JSSourceOverlappingSubjectFilters", 400, 10147, "source filters can not overlap"),
    row(ErrorId::ConsumerAlreadyExists, "JSConsumerAlreadyExists", 400, 10148, "consumer already exists"),
    row(ErrorId::ConsumerDoesNotExist, "JSConsumerDoesNotExist", 400, 10149, "consumer does not exist"),
    row(ErrorId::MirrorMultipleFiltersNotAllowed, "JSMirrorMultipleFiltersNotAllowed", 400, 10150, "mirror with multiple subject transforms cannot also have a single subject filter"),
    row(ErrorId::MirrorInvalidSubjectFilter, "JSMirrorInvalidSubjectFilter", 400, 10151, "mirror transform source: {err}"),
    row(ErrorId::MirrorOverlappingSubjectFilters, "JSMirrorOverlappingSubjectFilters", 400, 10152, "mirror subject filters can not overlap"),
    row(ErrorId::ConsumerInactiveThresholdExcess, "JSConsumerInactiveThresholdExcess", 400, 10153, "consumer inactive threshold exceeds system limit of {limit}"),
    row(ErrorId::MirrorInvalidTransformDestination, "JSMirrorInvalidTransformDestination", 400, 10154, "mirror transform: {err}"),
    row(ErrorId::StreamTransformInvalidSource, "JSStreamTransformInvalidSource", 400, 10155, "stream transform source: {err}"),
    row(ErrorId::StreamTransformInvalidDestination, "JSStreamTransformInvalidDestination", 400, 10156, "stream transform: {err}"),
    row(ErrorId::Pedantic, "JSPedanticErrF", 400, 10157, "pedantic mode: {err}"),
    row(ErrorId::StreamDuplicateMessageConflict, "JSStreamDuplicateMessageConflict", 409, 10158, "duplicate message id is in process"),
    row(ErrorId::ConsumerPriorityPolicyWithoutGroup, "JSConsumerPriorityPolicyWithoutGroup", 400, 10159, "Setting PriorityPolicy requires at least one PriorityGroup to be set"),
    row(ErrorId::ConsumerInvalidPriorityGroup, "JSConsumerInvalidPriorityGroupErr", 400, 10160, "Provided priority group does not exist for this consumer"),
    row(ErrorId::ConsumerEmptyGroupName, "JSConsumerEmptyGroupName", 400, 10161, "Group name cannot be an empty string"),
    row(ErrorId::ConsumerInvalidGroupName, "JSConsumerInvalidGroupNameErr", 400, 10162, "Valid priority group name must match A-Z, a-z, 0-9, -_/=)+ and may not exceed 16 characters"),
    row(ErrorId::StreamExpectedLastSeqPerSubjectNotReady, "JSStreamExpectedLastSeqPerSubjectNotReady", 503, 10163, "expected last sequence per subject temporarily unavailable"),
    row(ErrorId::StreamWrongLastSequenceConstant, "JSStreamWrongLastSequenceConstantErr", 400, 10164, "wrong last sequence"),
    row(ErrorId::MessageTTLInvalid, "JSMessageTTLInvalidErr", 400, 10165, "invalid per-message TTL"),
    row(ErrorId::MessageTTLDisabled, "JSMessageTTLDisabledErr", 400, 10166, "per-message TTL is disabled"),
    row(ErrorId::StreamTooManyRequests, "JSStreamTooManyRequests", 429, 10167, "too many requests"),
    row(ErrorId::MessageIncrDisabled, "JSMessageIncrDisabledErr", 400, 10168, "message counters is disabled"),
    row(ErrorId::MessageIncrMissing, "JSMessageIncrMissingErr", 400, 10169, "message counter increment is missing"),
    row(ErrorId::MessageIncrPayload, "JSMessageIncrPayloadErr", 400, 10170, "message counter has payload"),
    row(ErrorId::MessageIncrInvalid, "JSMessageIncrInvalidErr", 400, 10171, "message counter increment is invalid"),
    row(ErrorId::MessageCounterBroken, "JSMessageCounterBrokenErr", 400, 10172, "message counter is broken"),
    row(ErrorId::MirrorWithCounters, "JSMirrorWithCountersErr", 400, 10173, "stream mirrors can not also calculate counters"),
    row(ErrorId::AtomicPublishDisabled, "JSAtomicPublishDisabledErr", 400, 10174, "atomic publish is disabled"),
    row(ErrorId::AtomicPublishMissingSeq, "JSAtomicPublishMissingSeqErr", 400, 10175, "atomic publish sequence is missing"),
    row(ErrorId::AtomicPublishIncompleteBatch, "JSAtomicPublishIncompleteBatchErr", 400, 10176, "atomic publish batch is incomplete"),
    row(ErrorId::AtomicPublishUnsupportedHeaderBatch, "JSAtomicPublishUnsupportedHeaderBatchErr", 400, 10177, "atomic publish unsupported header used: {header}"),
    row(ErrorId::ConsumerPushWithPriorityGroup, "JSConsumerPushWithPriorityGroupErr", 400, 10178, "priority groups can not be used with push consumers"),
    row(ErrorId::AtomicPublishInvalidBatchID, "JSAtomicPublishInvalidBatchIDErr", 400, 10179, "atomic publish batch ID is invalid"),
    row(ErrorId::StreamMinLastSeq, "JSStreamMinLastSeqErr", 412, 10180, "min last sequence"),
    row(ErrorId::ConsumerAckPolicyInvalid, "JSConsumerAckPolicyInvalidErr", 400, 10181, "consumer ack policy invalid"),
    row(ErrorId::ConsumerReplayPolicyInvalid, "JSConsumerReplayPolicyInvalidErr", 400, 10182, "consumer replay policy invalid"),
    row(ErrorId::ConsumerAckWaitNegative, "JSConsumerAckWaitNegativeErr", 400, 10183, "consumer ack wait needs to be positive"),
    row(ErrorId::ConsumerBackOffNegative, "JSConsumerBackOffNegativeErr", 400, 10184, "consumer backoff needs to be positive"),
    row(ErrorId::RequiredApiLevel, "JSRequiredApiLevelErr", 412, 10185, "JetStream minimum api level required"),
    row(ErrorId::MirrorWithMsgSchedules, "JSMirrorWithMsgSchedulesErr", 400, 10186, "stream mirrors can not also schedule messages"),
    row(ErrorId::SourceWithMsgSchedules, "JSSourceWithMsgSchedulesErr", 400, 10187, "stream source can not also schedule messages"),
    row(ErrorId::MessageSchedulesDisabled, "JSMessageSchedulesDisabledErr", 400, 10188, "message schedules is disabled"),
    row(ErrorId::MessageSchedulesPatternInvalid, "JSMessageSchedulesPatternInvalidErr", 400, 10189, "message schedules pattern is invalid"),
    row(ErrorId::MessageSchedulesTargetInvalid, "JSMessageSchedulesTargetInvalidErr", 400, 10190, "message schedules target is invalid"),
    row(ErrorId::MessageSchedulesTTLInvalid, "JSMessageSchedulesTTLInvalidErr", 400, 10191, "message schedules invalid per-message TTL"),
    row(ErrorId::MessageSchedulesRollupInvalid, "JSMessageSchedulesRollupInvalidErr", 400, 10192, "message schedules invalid rollup"),
    row(ErrorId::StreamExpectedLastSeqPerSubjectInvalid, "JSStreamExpectedLastSeqPerSubjectInvalid", 400, 10193, "missing sequence for expected last sequence per subject"),
    row(ErrorId::StreamOfflineReason, "JSStreamOfflineReasonErrF", 500, 10194, "stream is offline: {err}"),
    row(ErrorId::ConsumerOfflineReason, "JSConsumerOfflineReasonErrF", 500, 10195, "consumer is offline: {err}"),
    row(ErrorId::ConsumerPriorityGroupWithPolicyNone, "JSConsumerPriorityGroupWithPolicyNone", 400, 10196, "consumer can not have priority groups when policy is none"),
    row(ErrorId::ConsumerPinnedTTLWithoutPriorityPolicyNone, "JSConsumerPinnedTTLWithoutPriorityPolicyNone", 400, 10197, "PinnedTTL cannot be set when PriorityPolicy is none"),
    row(ErrorId::MirrorWithAtomicPublish, "JSMirrorWithAtomicPublishErr", 400, 10198, "stream mirrors can not also use atomic publishing"),
    row(ErrorId::AtomicPublishTooLargeBatch, "JSAtomicPublishTooLargeBatchErrF", 400, 10199, "atomic publish batch is too large: {size}"),
    row(ErrorId::AtomicPublishInvalidBatchCommit, "JSAtomicPublishInvalidBatchCommitErr", 400, 10200, "atomic publish batch commit is invalid"),
    row(ErrorId::AtomicPublishContainsDuplicateMessage, "JSAtomicPublishContainsDuplicateMessageErr", 400, 10201, "atomic publish batch contains duplicate message id"),
    row(ErrorId::ClusterServerMemberChangeInflight, "JSClusterServerMemberChangeInflightErr", 400, 10202, "cluster member change is in progress"),
    row(ErrorId::MessageSchedulesSourceInvalid, "JSMessageSchedulesSourceInvalidErr", 400, 10203, "message schedules source is invalid"),
    row(ErrorId::ConsumerInvalidReset, "JSConsumerInvalidResetErr", 400, 10204, "invalid reset: {err}"),
    row(ErrorId::BatchPublishDisabled, "JSBatchPublishDisabledErr", 400, 10205, "batch publish is disabled"),
    row(ErrorId::BatchPublishInvalidPattern, "JSBatchPublishInvalidPatternErr", 400, 10206, "batch publish pattern is invalid"),
    row(ErrorId::BatchPublishInvalidBatchID, "JSBatchPublishInvalidBatchIDErr", 400, 10207, "batch publish ID is invalid"),
    row(ErrorId::BatchPublishUnknownBatchID, "JSBatchPublishUnknownBatchIDErr", 400, 10208, "batch publish ID unknown"),
    row(ErrorId::MirrorWithBatchPublish, "JSMirrorWithBatchPublishErr", 400, 10209, "stream mirrors can not also use batch publishing"),
    row(ErrorId::AtomicPublishTooManyInflight, "JSAtomicPublishTooManyInflight", 429, 10210, "atomic publish too many inflight"),
    row(ErrorId::BatchPublishTooManyInflight, "JSBatchPublishTooManyInflight", 429, 10211, "batch publish too many inflight"),
    row(ErrorId::MessageSchedulesSchedulerInvalid, "JSMessageSchedulesSchedulerInvalidErr", 400, 10212, "message schedules invalid scheduler"),
    row(ErrorId::MirrorDurableConsumerCfgInvalid, "JSMirrorDurableConsumerCfgInvalid", 400, 10213, "stream mirror consumer config is invalid"),
    row(ErrorId::MirrorConsumerRequiresAckFC, "JSMirrorConsumerRequiresAckFCErr", 400, 10214, "stream mirror consumer requires flow control ack policy"),
    row(ErrorId::SourceDurableConsumerCfgInvalid, "JSSourceDurableConsumerCfgInvalid", 400, 10215, "stream source consumer config is invalid"),
    row(ErrorId::SourceDurableConsumerDuplicateDetected, "JSSourceDurableConsumerDuplicateDetected", 400, 10216, "duplicate stream source consumer detected"),
    row(ErrorId::SourceConsumerRequiresAckFC, "JSSourceConsumerRequiresAckFCErr", 400, 10217, "stream source consumer requires flow control ack policy"),
    row(ErrorId::ConsumerAckFCRequiresPush, "JSConsumerAckFCRequiresPushErr", 400, 10218, "flow control ack policy requires a push based consumer"),
    row(ErrorId::ConsumerAckFCRequiresFC, "JSConsumerAckFCRequiresFCErr", 400, 10219, "flow control ack policy requires flow control"),
    row(ErrorId::ConsumerAckFCRequiresMaxAckPending, "JSConsumerAckFCRequiresMaxAckPendingErr", 400, 10220, "flow control ack policy requires max ack pending"),
    row(ErrorId::ConsumerAckFCRequiresNoAckWait, "JSConsumerAckFCRequiresNoAckWaitErr", 400, 10221, "flow control ack policy requires unset ack wait"),
    row(ErrorId::ConsumerAckFCRequiresNoMaxDeliver, "JSConsumerAckFCRequiresNoMaxDeliverErr", 400, 10222, "flow control ack policy requires unset max deliver"),
    row(ErrorId::MessageSchedulesTimeZoneInvalid, "JSMessageSchedulesTimeZoneInvalidErr", 400, 10223, "message schedules time zone is invalid"),
    row(ErrorId::ClusterRescue, "JSClusterRescueErr", 400, 10224, "JetStream system rescue not applied: {err}"),
    row(ErrorId::ConsumerStreamIdentityMismatch, "JSConsumerStreamIdentityMismatchF", 400, 10225, "consumer's stream identity does not match: {msg}"),
    row(ErrorId::StreamReconfigureInProgress, "JSStreamReconfigureInProgressErr", 400, 10226, "stream reconfiguration already in progress"),
    row(ErrorId::MessageSourceHdrNotAllowed, "JSMessageSourceHdrNotAllowedErr", 400, 10227, "message stream source header is not allowed"),
];
