//! Consumer entries of a backup (`consumers/<name>`), in the Go server's JSON (its
//! `SnapshotConsumerState`): `{"config": <ConsumerConfig>, "state": {"delivered": ...,
//! "ack_floor": ..., "pending": {"<sseq>": {"Sequence": <cseq>, "Timestamp": <ns>}},
//! "redelivered": {"<sseq>": <count>}}}`. Written from a consumer's current record, bounded by
//! the stream's last sequence as Go bounds it; read back into the record the store keeps, so
//! that the restored stream brings the consumer back as a restart does.
//!
//! Pure: JSON in, records out; the runtime writes the records before the stream starts.

use std::collections::BTreeMap;

use bytes::Bytes;
use natrix_storage::{ConsumerState, PendingDelivery, SequencePair};
use serde::{Deserialize, Serialize};

use super::BackupError;
use crate::api::ConsumerConfig;
use crate::consumer::persist::{RecordMetadata, METADATA_VERSION};
use crate::time::Timestamp;

/// Go's `SequencePair`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Pair {
    #[serde(default)]
    consumer_seq: u64,
    #[serde(default)]
    stream_seq: u64,
}

/// Go's `Pending` (no JSON tags in Go: the field names as they are).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct GoPending {
    #[serde(rename = "Sequence", default)]
    sequence: u64,
    #[serde(rename = "Timestamp", default)]
    timestamp: i64,
}

/// Go's `ConsumerState`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct GoState {
    #[serde(default)]
    delivered: Pair,
    #[serde(default)]
    ack_floor: Pair,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pending: BTreeMap<u64, GoPending>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    redelivered: BTreeMap<u64, u64>,
}

/// Go's `SnapshotConsumerState`; both halves are required on restore, as in Go.
#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    config: Option<ConsumerConfig>,
    state: Option<GoState>,
}

/// The JSON of one consumer entry: `config` as stored, `state` its record with every stream
/// sequence above `last_seq` (messages the backup does not hold) left out or lowered to it.
pub fn consumer_entry(config: &ConsumerConfig, state: &ConsumerState, last_seq: u64) -> Vec<u8> {
    let go = GoState {
        delivered: Pair {
            consumer_seq: state.delivered.consumer_seq,
            stream_seq: state.delivered.stream_seq.min(last_seq),
        },
        ack_floor: Pair {
            consumer_seq: state.ack_floor.consumer_seq,
            stream_seq: state.ack_floor.stream_seq.min(last_seq),
        },
        pending: state
            .pending
            .range(..=last_seq)
            .map(|(seq, pending)| {
                (
                    *seq,
                    GoPending {
                        sequence: pending.consumer_seq,
                        timestamp: pending.timestamp_ns,
                    },
                )
            })
            .collect(),
        redelivered: state
            .redelivered
            .range(..=last_seq)
            .map(|(seq, count)| (*seq, *count))
            .collect(),
    };
    crate::json::to_vec(&Entry {
        config: Some(config.clone()),
        state: Some(go),
    })
}

/// The record a restored consumer starts from: its state, and its configuration (with
/// `created_ns` as its creation time) in the record's metadata. The errors are Go's texts.
pub fn restored_record(
    name: &str,
    json: &[u8],
    created_ns: i64,
) -> Result<ConsumerState, BackupError> {
    let entry: Entry = serde_json::from_slice(json).map_err(|error| {
        BackupError::Format(format!("failed to decode consumer {name:?} state: {error}"))
    })?;
    let Some(config) = entry.config else {
        return Err(BackupError::Format(format!(
            "consumer {name:?} is missing config"
        )));
    };
    let Some(state) = entry.state else {
        return Err(BackupError::Format(format!(
            "consumer {name:?} is missing state"
        )));
    };
    let metadata = RecordMetadata {
        version: METADATA_VERSION,
        name: name.to_owned(),
        created: Timestamp::from_unix_nanos(created_ns),
        config,
    };
    let metadata = serde_json::to_vec(&metadata)
        .map_err(|error| BackupError::Format(format!("consumer {name:?}: {error}")))?;
    Ok(ConsumerState {
        delivered: SequencePair {
            consumer_seq: state.delivered.consumer_seq,
            stream_seq: state.delivered.stream_seq,
        },
        ack_floor: SequencePair {
            consumer_seq: state.ack_floor.consumer_seq,
            stream_seq: state.ack_floor.stream_seq,
        },
        pending: state
            .pending
            .into_iter()
            .map(|(seq, pending)| {
                (
                    seq,
                    PendingDelivery {
                        consumer_seq: pending.sequence,
                        timestamp_ns: pending.timestamp,
                    },
                )
            })
            .collect(),
        redelivered: state.redelivered,
        metadata: Bytes::from(metadata),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ConsumerConfig {
        ConsumerConfig {
            durable: "D".into(),
            name: "D".into(),
            ..ConsumerConfig::default()
        }
    }

    #[test]
    fn an_entry_is_gos_json_and_reads_back_into_the_same_record() {
        let mut state = ConsumerState {
            delivered: SequencePair {
                consumer_seq: 4,
                stream_seq: 9,
            },
            ack_floor: SequencePair {
                consumer_seq: 2,
                stream_seq: 5,
            },
            ..ConsumerState::default()
        };
        state.pending.insert(
            7,
            PendingDelivery {
                consumer_seq: 3,
                timestamp_ns: 1_700_000_000_000_000_000,
            },
        );
        state.redelivered.insert(7, 2);
        let json = consumer_entry(&config(), &state, 100);
        let text = String::from_utf8(json.clone()).unwrap();
        assert!(
            text.contains(r#""state":{"delivered":{"consumer_seq":4,"stream_seq":9},"ack_floor":{"consumer_seq":2,"stream_seq":5},"pending":{"7":{"Sequence":3,"Timestamp":1700000000000000000}},"redelivered":{"7":2}}"#),
            "{text}"
        );
        let record = restored_record("D", &json, 11).unwrap();
        assert_eq!(
            (record.delivered, record.ack_floor),
            (state.delivered, state.ack_floor)
        );
        assert_eq!(record.pending, state.pending);
        assert_eq!(record.redelivered, state.redelivered);
        let metadata = RecordMetadata::decode("D", &record.metadata).unwrap();
        assert_eq!(metadata.config.durable, "D");
        assert_eq!(metadata.created.unix_nanos(), Some(11));
    }

    #[test]
    fn sequences_past_the_backup_are_bounded_as_go_bounds_them() {
        let mut state = ConsumerState {
            delivered: SequencePair {
                consumer_seq: 8,
                stream_seq: 12,
            },
            ack_floor: SequencePair {
                consumer_seq: 8,
                stream_seq: 11,
            },
            ..ConsumerState::default()
        };
        state.pending.insert(12, PendingDelivery::default());
        state.redelivered.insert(12, 3);
        let record = restored_record("D", &consumer_entry(&config(), &state, 10), 0).unwrap();
        assert_eq!(record.delivered.stream_seq, 10);
        assert_eq!(record.delivered.consumer_seq, 8);
        assert_eq!(record.ack_floor.stream_seq, 10);
        assert!(record.pending.is_empty() && record.redelivered.is_empty());
    }

    #[test]
    fn entries_without_config_or_state_or_json_are_refused_with_gos_texts() {
        assert_eq!(
            restored_record("C", br#"{"state":{}}"#, 0),
            Err(BackupError::Format(
                r#"consumer "C" is missing config"#.into()
            ))
        );
        assert_eq!(
            restored_record("C", br#"{"config":{}}"#, 0),
            Err(BackupError::Format(
                r#"consumer "C" is missing state"#.into()
            ))
        );
        assert!(matches!(
            restored_record("C", b"{", 0),
            Err(BackupError::Format(text)) if text.starts_with("failed to decode consumer \"C\" state")
        ));
    }
}
