//! `jetstream {}` (and `store_dir`): parsed and checked now, named as not supported yet.

use std::time::Duration;

use natrix_shards::options::JetStreamOptions;

use crate::config::{Entry, Value};
use crate::flags::Settings;

use super::Reader;

impl Reader {
    /// `jetstream: enabled`, `jetstream: true` or a block; parsed and checked now, named as
    /// not supported yet.
    pub(super) fn jetstream(&mut self, entry: &Entry, settings: &mut Settings) {
        let jetstream = settings
            .options
            .jetstream
            .get_or_insert_with(JetStreamOptions::default);
        match &entry.item.value {
            Value::Bool(enabled) => jetstream.enabled = *enabled,
            Value::String(text) => match text.to_ascii_lowercase().as_str() {
                "enabled" | "enable" | "true" | "on" | "yes" => jetstream.enabled = true,
                "disabled" | "disable" | "false" | "off" | "no" => jetstream.enabled = false,
                _ => self.error(
                    &entry.item.pos,
                    format!("Expected 'enabled' or 'disabled' for string value, got '{text}'"),
                ),
            },
            Value::Map(map) => {
                let mut jetstream = JetStreamOptions {
                    enabled: true,
                    ..JetStreamOptions::default()
                };
                for field in &map.entries {
                    match field.key.to_ascii_lowercase().as_str() {
                        "enabled" | "enable" => {
                            jetstream.enabled = self.boolean(field).unwrap_or(true)
                        }
                        "disabled" | "disable" => {
                            jetstream.enabled = !self.boolean(field).unwrap_or(false)
                        }
                        "store" | "store_dir" | "storedir" => {
                            jetstream.store_dir = self.string(field)
                        }
                        "max_memory_store" | "max_mem_store" | "max_mem" => {
                            jetstream.max_memory = self.integer(field)
                        }
                        "max_file_store" | "max_file" => jetstream.max_file = self.integer(field),
                        "domain" => jetstream.domain = self.string(field),
                        "sync" | "sync_interval" => {
                            jetstream.sync_interval = match &field.item.value {
                                Value::String(text) if text.eq_ignore_ascii_case("always") => {
                                    Some(Duration::ZERO)
                                }
                                _ => self.duration(field),
                            }
                        }
                        "strict"
                        | "key"
                        | "ek"
                        | "encryption_key"
                        | "prev_key"
                        | "prev_ek"
                        | "prev_encryption_key"
                        | "cipher"
                        | "extension_hint"
                        | "limits"
                        | "tpm"
                        | "unique_tag"
                        | "max_outstanding_catchup"
                        | "max_buffered_size"
                        | "max_buffered_msgs"
                        | "request_queue_limit"
                        | "info_queue_limit"
                        | "meta_compact"
                        | "meta_compact_size"
                        | "meta_compact_sync"
                        | "max_concurrent_io" => {}
                        _ => self.unknown(field),
                    }
                }
                settings.options.jetstream = Some(jetstream);
            }
            _ => self.wrong_type(entry, "a boolean, a string or a map"),
        }
        self.not_supported(entry, "option");
    }
}
