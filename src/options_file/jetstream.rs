//! `jetstream {}` (and the top-level `store_dir`) and an account's `jetstream` limits, read as
//! the Go server reads them (`parseJetStream`, `parseJetStreamForAccount`).

use std::time::Duration;

use natrix_shards::options::{AccountJetStreamLimits, JetStreamOptions};

use crate::config::{Entry, Value};
use crate::flags::Settings;

use super::Reader;

/// Keys of `jetstream {}` that only matter in a cluster, or tune queues Natrix does not have:
/// accepted and named in a warning.
const CLUSTER_OR_QUEUE_KEYS: &[&str] = &[
    "unique_tag",
    "extension_hint",
    "max_outstanding_catchup",
    "max_buffered_size",
    "request_queue_limit",
    "info_queue_limit",
    "meta_compact",
    "meta_compact_size",
    "meta_compact_sync",
    "max_concurrent_io",
];

/// Keys that ask for encryption at rest: refused, because ignoring them would store data in
/// plaintext that the operator expects encrypted.
const ENCRYPTION_KEYS: &[&str] = &[
    "key",
    "ek",
    "encryption_key",
    "prev_key",
    "prev_ek",
    "prev_encryption_key",
    "cipher",
    "tpm",
];

impl Reader {
    /// `jetstream: enabled`, `jetstream: true` or a block.
    pub(super) fn jetstream(&mut self, entry: &Entry, settings: &mut Settings) {
        let jetstream = settings
            .options
            .jetstream
            .get_or_insert_with(JetStreamOptions::default);
        match &entry.item.value {
            Value::Bool(enabled) => jetstream.enabled = *enabled,
            Value::String(text) => match text.to_ascii_lowercase().as_str() {
                "enabled" | "enable" => jetstream.enabled = true,
                "disabled" | "disable" => jetstream.enabled = false,
                _ => self.error(
                    &entry.item.pos,
                    format!("Expected 'enabled' or 'disabled' for string value, got '{text}'"),
                ),
            },
            Value::Map(map) => {
                // The top-level `store_dir` may have been read already; Go refuses both.
                let mut jetstream = JetStreamOptions {
                    enabled: true,
                    store_dir: jetstream.store_dir.clone(),
                    ..JetStreamOptions::default()
                };
                for field in &map.entries {
                    let key = field.key.to_ascii_lowercase();
                    match key.as_str() {
                        "enabled" | "enable" => {
                            jetstream.enabled = self.boolean(field).unwrap_or(true)
                        }
                        "disabled" | "disable" => {
                            jetstream.enabled = !self.boolean(field).unwrap_or(false)
                        }
                        "strict" => {
                            if self.boolean(field) == Some(false) {
                                self.warnings.push(format!(
                                    "{}: \"strict: false\" is not supported by Natrix yet: JetStream API requests are always checked strictly",
                                    field.key_pos
                                ));
                            }
                        }
                        "store" | "store_dir" | "storedir" => {
                            if jetstream.store_dir.is_some() {
                                self.error(&field.item.pos, "Duplicate 'store_dir' configuration");
                            } else {
                                jetstream.store_dir = self.string(field);
                            }
                        }
                        "max_memory_store" | "max_mem_store" | "max_mem" => {
                            jetstream.max_memory = self.storage_size(field, "max_mem_store")
                        }
                        "max_file_store" | "max_file" => {
                            jetstream.max_file = self.storage_size(field, "max_file_store")
                        }
                        "domain" => jetstream.domain = self.string(field),
                        "sync" | "sync_interval" => {
                            jetstream.sync_interval = match &field.item.value {
                                Value::String(text) if text.eq_ignore_ascii_case("always") => {
                                    Some(Duration::ZERO)
                                }
                                _ => self.duration(field),
                            }
                        }
                        "max_buffered_msgs" => jetstream.max_buffered_msgs = self.size(field),
                        "limits" => self.jetstream_limits(field, &mut jetstream),
                        _ if ENCRYPTION_KEYS.contains(&key.as_str()) => self.errors.push(format!(
                            "{}: option {:?} (encryption at rest) is not supported by Natrix yet; ignoring it would store data unencrypted, so the configuration is refused",
                            field.key_pos, field.key
                        )),
                        _ if CLUSTER_OR_QUEUE_KEYS.contains(&key.as_str()) => {
                            self.not_supported(field, "jetstream option")
                        }
                        _ => self.unknown(field),
                    }
                }
                settings.options.jetstream = Some(jetstream);
            }
            _ => self.wrong_type(entry, "a boolean, a string or a map"),
        }
    }

    /// `jetstream { limits { ... } }`: the duplicate window and the default consumers per
    /// stream are honored; the other consumer and batch limits are not supported yet.
    fn jetstream_limits(&mut self, entry: &Entry, jetstream: &mut JetStreamOptions) {
        let Some(map) = self.map(entry) else {
            return;
        };
        for field in &map.entries {
            match field.key.to_ascii_lowercase().as_str() {
                "duplicate_window" => jetstream.duplicate_window_max = self.duration(field),
                "default_max_consumers" => jetstream.default_max_consumers = self.integer(field),
                "max_ack_pending" | "max_ha_assets" | "max_request_batch" | "batch" => {
                    self.not_supported(field, "jetstream limit")
                }
                _ => self.unknown(field),
            }
        }
    }

    /// An account's `jetstream`: `enabled`/`disabled`, a boolean, or a map of limits.
    pub(super) fn account_jetstream(&mut self, entry: &Entry) -> Option<AccountJetStreamLimits> {
        match &entry.item.value {
            Value::Bool(true) => Some(AccountJetStreamLimits::default()),
            Value::Bool(false) => None,
            Value::String(text) => match text.to_ascii_lowercase().as_str() {
                "enabled" | "enable" => Some(AccountJetStreamLimits::default()),
                "disabled" | "disable" => None,
                _ => {
                    self.error(
                        &entry.item.pos,
                        format!("Expected 'enabled' or 'disabled' for string value, got '{text}'"),
                    );
                    None
                }
            },
            Value::Map(map) => {
                let mut limits = AccountJetStreamLimits::default();
                for field in &map.entries {
                    let key = field.key.to_ascii_lowercase();
                    let size = |reader: &mut Reader| reader.account_size(field);
                    match key.as_str() {
                        "max_memory" | "max_mem" | "mem" | "memory" => {
                            limits.max_memory = size(self).unwrap_or(-1)
                        }
                        "max_store" | "max_file" | "max_disk" | "store" | "disk" => {
                            limits.max_store = size(self).unwrap_or(-1)
                        }
                        "max_streams" | "streams" => limits.max_streams = size(self).unwrap_or(-1),
                        "max_consumers" | "consumers" => {
                            limits.max_consumers = size(self).unwrap_or(-1)
                        }
                        "max_bytes_required" | "max_stream_bytes" | "max_bytes" => {
                            match &field.item.value {
                                Value::Bool(flag) => limits.max_bytes_required = *flag,
                                other => self.error(
                                    &field.item.pos,
                                    format!(
                                        "Expected a parseable bool for {:?}, got {}",
                                        field.key,
                                        super::values::kind(other)
                                    ),
                                ),
                            }
                        }
                        "mem_max_stream_bytes" | "memory_max_stream_bytes" => {
                            limits.memory_max_stream_bytes = size(self).unwrap_or(-1)
                        }
                        "disk_max_stream_bytes" | "store_max_stream_bytes" => {
                            limits.store_max_stream_bytes = size(self).unwrap_or(-1)
                        }
                        "max_ack_pending" => limits.max_ack_pending = size(self).unwrap_or(-1),
                        "cluster_traffic" => self.not_supported(field, "account jetstream option"),
                        _ => self.unknown(field),
                    }
                }
                Some(limits)
            }
            _ => {
                self.error(
                    &entry.item.pos,
                    format!(
                        "Expected map, bool or string to define JetStream, got {}",
                        super::values::kind(&entry.item.value)
                    ),
                );
                None
            }
        }
    }

    /// Go's `getStorageSize`: an integer (the config syntax already applied `1G` and the like),
    /// or a string with a `K`, `M`, `G` or `T` suffix (powers of 1024).
    fn storage_size(&mut self, entry: &Entry, name: &str) -> Option<i64> {
        match &entry.item.value {
            Value::Integer(number) => Some(*number),
            Value::String(text) if text.is_empty() => Some(0),
            Value::String(text) => {
                let (digits, suffix) = text.split_at(text.len() - 1);
                let shift = match suffix {
                    "K" => 10,
                    "M" => 20,
                    "G" => 30,
                    "T" => 40,
                    _ => {
                        self.error(
                            &entry.item.pos,
                            format!("{name} sizes defined as strings must end in K, M, G, T"),
                        );
                        return None;
                    }
                };
                match digits.parse::<i64>() {
                    Ok(number) => Some(number.saturating_mul(1 << shift)),
                    Err(error) => {
                        self.error(&entry.item.pos, format!("{name} {error}"));
                        None
                    }
                }
            }
            _ => {
                self.error(&entry.item.pos, format!("{name} must be int64 or string"));
                None
            }
        }
    }

    fn account_size(&mut self, entry: &Entry) -> Option<i64> {
        match &entry.item.value {
            Value::Integer(number) => Some(*number),
            other => {
                self.error(
                    &entry.item.pos,
                    format!(
                        "Expected a parseable size for {:?}, got {}",
                        entry.key,
                        super::values::kind(other)
                    ),
                );
                None
            }
        }
    }
}
