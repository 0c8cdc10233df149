//! `mappings {}` (top level and per account): subject mappings with weighted destinations.

use natrix_shards::options::{MappingDestination, SubjectMapping};

use crate::config::{Entry, Item, Value};

use super::values::{is_valid_subject, kind};
use super::Reader;

impl Reader {
    pub(super) fn mappings(&mut self, entry: &Entry) -> Option<Vec<SubjectMapping>> {
        let map = self.map(entry)?;
        let mut mappings = Vec::new();
        for field in &map.entries {
            if !is_valid_subject(&field.key) {
                self.error(
                    &field.key_pos,
                    format!("Subject {:?} is not a valid subject", field.key),
                );
                continue;
            }
            let destinations = match &field.item.value {
                Value::String(destination) => vec![MappingDestination {
                    subject: destination.clone(),
                    weight: 100,
                }],
                Value::Array(items) => items
                    .iter()
                    .filter_map(|item| self.mapping_destination(item))
                    .collect(),
                Value::Map(_) => self.mapping_destination(&field.item).into_iter().collect(),
                other => {
                    self.error(
                        &field.item.pos,
                        format!("Unknown type {} for mapping destination", kind(other)),
                    );
                    continue;
                }
            };
            let total: u32 = destinations.iter().map(|dest| u32::from(dest.weight)).sum();
            if total > 100 {
                self.error(
                    &field.item.pos,
                    format!(
                        "Error adding mapping for {:?} : total weight needs to be <= 100",
                        field.key
                    ),
                );
                continue;
            }
            for destination in &destinations {
                if let Err(reason) =
                    natrix_shards::mapping::check_destination(&field.key, &destination.subject)
                {
                    self.error(
                        &field.item.pos,
                        format!(
                            "Error adding mapping for {:?} to {:?} : {reason}",
                            field.key, destination.subject
                        ),
                    );
                }
            }
            mappings.push(SubjectMapping {
                source: field.key.clone(),
                destinations,
            });
        }
        Some(mappings)
    }

    pub(super) fn mapping_destination(&mut self, item: &Item) -> Option<MappingDestination> {
        let Value::Map(map) = &item.value else {
            self.error(
                &item.pos,
                format!(
                    "Expected an entry for the mapping destination, got {}",
                    kind(&item.value)
                ),
            );
            return None;
        };
        let mut subject = None;
        let mut weight = 100u8;
        for field in &map.entries {
            match field.key.to_ascii_lowercase().as_str() {
                "dest" | "destination" => subject = self.string(field),
                "weight" => {
                    let parsed = match &field.item.value {
                        Value::String(text) => text.trim_end_matches('%').parse::<i64>().ok(),
                        Value::Integer(number) => Some(*number),
                        _ => None,
                    };
                    match parsed {
                        Some(number @ 0..=100) => weight = number as u8,
                        Some(number) => {
                            self.error(
                                &field.item.pos,
                                format!("Invalid weight {number} for mapping destination"),
                            );
                            return None;
                        }
                        None => {
                            self.error(
                                &field.item.pos,
                                "Invalid value type for weight of mapping destination",
                            );
                            return None;
                        }
                    }
                }
                "cluster" => self.not_supported(field, "mapping option"),
                _ => {
                    self.error(
                        &field.key_pos,
                        format!("Unknown field {:?} for mapping destination", field.key),
                    );
                    return None;
                }
            }
        }
        let Some(subject) = subject else {
            self.error(&item.pos, "mapping destination needs a `destination`");
            return None;
        };
        Some(MappingDestination { subject, weight })
    }
}
