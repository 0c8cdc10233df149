//! Natrix's own `tuning {}` block: shards and how they map onto the host.

use crate::config::{Entry, Value};
use crate::flags::{self, Settings};

use super::values::kind;
use super::Reader;

impl Reader {
    /// Natrix's own `tuning {}` block: shards and how they map onto the host.
    pub(super) fn tuning(&mut self, entry: &Entry, settings: &mut Settings) {
        let Some(map) = self.map(entry) else { return };
        let tuning = &mut settings.options.tuning;
        for field in &map.entries {
            match field.key.to_ascii_lowercase().as_str() {
                "shards" => match &field.item.value {
                    Value::String(text) if text.eq_ignore_ascii_case("auto") => {
                        tuning.shards = None
                    }
                    Value::Integer(count)
                        if (1..=natrix_shards::shard::MAX_SHARDS as i64).contains(count) =>
                    {
                        tuning.shards = Some(*count as usize)
                    }
                    _ => self.error(
                        &field.item.pos,
                        format!(
                            "shards must be \"auto\" or between 1 and {}",
                            natrix_shards::shard::MAX_SHARDS
                        ),
                    ),
                },
                "cpus" => match self.cpu_list(field) {
                    Some(CpuList::Auto) => tuning.cpus = None,
                    Some(CpuList::Cpus(cpus)) => tuning.cpus = Some(cpus),
                    None => {}
                },
                "avoid_cpus" => match self.cpu_list(field) {
                    Some(CpuList::Cpus(cpus)) => tuning.avoid_cpus = cpus,
                    Some(CpuList::Auto) => tuning.avoid_cpus.clear(),
                    None => {}
                },
                "spin_before_park" => {
                    if let Some(duration) = self.duration(field) {
                        tuning.spin_before_park = duration;
                    }
                }
                "io_uring_entries" => match &field.item.value {
                    Value::Integer(entries @ 1..=32768) if (*entries as u32).is_power_of_two() => {
                        tuning.io_uring_entries = Some(*entries as u32)
                    }
                    _ => self.error(
                        &field.item.pos,
                        "io_uring_entries must be a power of two between 1 and 32768",
                    ),
                },
                "mesh_queue_capacity" => match &field.item.value {
                    Value::Integer(capacity @ 1..=1_048_576) => {
                        tuning.mesh_queue_capacity = *capacity as usize
                    }
                    _ => self.error(
                        &field.item.pos,
                        "mesh_queue_capacity must be between 1 and 1048576",
                    ),
                },
                _ => self.unknown(field),
            }
        }
    }

    /// `"auto"`, `"0,2,4-7"`, `3` or `[0, 1, "4-5"]`.
    fn cpu_list(&mut self, entry: &Entry) -> Option<CpuList> {
        let mut text = String::new();
        match &entry.item.value {
            Value::String(list) if list.eq_ignore_ascii_case("auto") => return Some(CpuList::Auto),
            Value::String(list) => text.push_str(list),
            Value::Integer(cpu) => text.push_str(&cpu.to_string()),
            Value::Array(items) => {
                for item in items {
                    match &item.value {
                        Value::Integer(cpu) => text.push_str(&cpu.to_string()),
                        Value::String(part) => text.push_str(part),
                        other => {
                            self.error(
                                &item.pos,
                                format!("a CPU must be a number, not {}", kind(other)),
                            );
                            return None;
                        }
                    }
                    text.push(',');
                }
            }
            other => {
                self.error(
                    &entry.item.pos,
                    format!(
                        "{:?} must be \"auto\" or a CPU list, not {}",
                        entry.key,
                        kind(other)
                    ),
                );
                return None;
            }
        }
        match flags::parse_cpu_list(&text) {
            Ok(cpus) => Some(CpuList::Cpus(cpus)),
            Err(reason) => {
                self.error(&entry.item.pos, reason);
                None
            }
        }
    }
}

enum CpuList {
    Auto,
    Cpus(Vec<usize>),
}
