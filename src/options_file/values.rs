//! The typed readers every block uses (each reports a wrong type at the value's position),
//! Go's duration syntax, and the walk over an "array of maps with a type".

use std::time::Duration;

use crate::config::{Entry, Item, Map, Pos, Value};

use super::Reader;

pub(super) fn kind(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Bool(_) => "a boolean",
        Value::Datetime(_) => "a date",
        Value::Array(_) => "an array",
        Value::Map(_) => "a map",
    }
}

/// How an "array of maps with a type" is named in Go's errors (`Exports should be an array,
/// got ...`, `Export Items should be a map with type entry, got ...`).
pub(super) struct TypedArray {
    /// The array, as the start of Go's sentence (`Exports`, `Imports`).
    pub array: &'static str,
    /// One element (`Export Items`, `Import Items`).
    pub item: &'static str,
}

impl Reader {
    pub(super) fn error(&mut self, pos: &Pos, reason: impl std::fmt::Display) {
        self.errors.push(format!("{pos}: {reason}"));
    }

    pub(super) fn unknown(&mut self, entry: &Entry) {
        if entry.used_as_variable {
            return;
        }
        self.errors
            .push(format!("{}: unknown field {:?}", entry.key_pos, entry.key));
    }

    pub(super) fn not_supported(&mut self, entry: &Entry, what: &str) {
        self.warnings.push(format!(
            "{}: {what} {:?} is not supported by Natrix yet and is ignored",
            entry.key_pos, entry.key
        ));
    }

    /// A Go option Natrix cannot honour yet and that would weaken authentication or
    /// authorization if it were ignored: an error, so neither `-t` nor start-up accepts it.
    pub(super) fn refused(&mut self, entry: &Entry, what: &str) {
        self.errors.push(format!(
            "{}: option {:?} ({what}) is not supported by Natrix yet; ignoring it would weaken authentication or authorization, so the configuration is refused",
            entry.key_pos, entry.key
        ));
    }

    pub(super) fn wrong_type(&mut self, entry: &Entry, expected: &str) {
        let reason = format!(
            "{:?} must be {expected}, not {}",
            entry.key,
            kind(&entry.item.value)
        );
        self.error(&entry.item.pos, reason);
    }

    pub(super) fn string(&mut self, entry: &Entry) -> Option<String> {
        match &entry.item.value {
            Value::String(text) => Some(text.clone()),
            _ => {
                self.wrong_type(entry, "a string");
                None
            }
        }
    }

    pub(super) fn integer(&mut self, entry: &Entry) -> Option<i64> {
        match &entry.item.value {
            Value::Integer(number) => Some(*number),
            _ => {
                self.wrong_type(entry, "an integer");
                None
            }
        }
    }

    pub(super) fn boolean(&mut self, entry: &Entry) -> Option<bool> {
        match &entry.item.value {
            Value::Bool(flag) => Some(*flag),
            _ => {
                self.wrong_type(entry, "a boolean");
                None
            }
        }
    }

    pub(super) fn map<'a>(&mut self, entry: &'a Entry) -> Option<&'a Map> {
        match &entry.item.value {
            Value::Map(map) => Some(map),
            _ => {
                self.wrong_type(entry, "a map");
                None
            }
        }
    }

    /// A non-negative integer that fits `usize`.
    pub(super) fn size(&mut self, entry: &Entry) -> Option<usize> {
        let number = self.integer(entry)?;
        match usize::try_from(number) {
            Ok(size) => Some(size),
            Err(_) => {
                self.error(
                    &entry.item.pos,
                    format!("{} value can not be negative", entry.key),
                );
                None
            }
        }
    }

    /// Go's `parseDuration`: a duration string, or (deprecated) a number of seconds.
    pub(super) fn duration(&mut self, entry: &Entry) -> Option<Duration> {
        match &entry.item.value {
            Value::String(text) => match parse_go_duration(text) {
                Ok(duration) => Some(duration),
                Err(reason) => {
                    self.error(
                        &entry.item.pos,
                        format!("error parsing {}: {reason}", entry.key),
                    );
                    None
                }
            },
            Value::Integer(seconds) => {
                self.warnings.push(format!(
                    "{}: invalid use of field {:?}: {} should be converted to a duration",
                    entry.item.pos, entry.key, entry.key
                ));
                Some(Duration::from_secs((*seconds).max(0).unsigned_abs()))
            }
            _ => {
                self.wrong_type(entry, "a duration");
                None
            }
        }
    }

    /// A string or an array of strings.
    pub(super) fn string_list(&mut self, entry: &Entry) -> Option<Vec<String>> {
        match &entry.item.value {
            Value::String(text) => Some(vec![text.clone()]),
            Value::Array(items) => {
                let mut list = Vec::new();
                for item in items {
                    match &item.value {
                        Value::String(text) => list.push(text.clone()),
                        other => {
                            self.error(
                                &item.pos,
                                format!(
                                    "expected a string in {:?}, got {}",
                                    entry.key,
                                    kind(other)
                                ),
                            );
                            return None;
                        }
                    }
                }
                Some(list)
            }
            _ => {
                self.wrong_type(entry, "a string or an array of strings");
                None
            }
        }
    }

    /// Go's walk over an array of maps that each name their type by a key (exports and
    /// imports: `stream` or `service`; later JetStream sources and cluster routes): an error
    /// unless `entry` is an array, an error for each element that is not a map, and `each` is
    /// called with every element's position and map.
    pub(super) fn typed_maps<'a>(
        &mut self,
        entry: &'a Entry,
        names: TypedArray,
        mut each: impl FnMut(&mut Self, &'a Item, &'a Map),
    ) {
        let Value::Array(items) = &entry.item.value else {
            self.error(
                &entry.item.pos,
                format!(
                    "{} should be an array, got {}",
                    names.array,
                    kind(&entry.item.value)
                ),
            );
            return;
        };
        for item in items {
            match &item.value {
                Value::Map(map) => each(self, item, map),
                other => self.error(
                    &item.pos,
                    format!(
                        "{} should be a map with type entry, got {}",
                        names.item,
                        kind(other)
                    ),
                ),
            }
        }
    }

    /// The type key of one element of such an array (`field.key` lowercased is one of
    /// `types`); an element that names two types is Go's error (`Detected stream but already
    /// saw a service`), and `None` is returned for the second.
    pub(super) fn element_type<T: Copy + PartialEq>(
        &mut self,
        field: &Entry,
        types: &[(&'static str, T)],
        seen: &mut Option<(&'static str, T)>,
    ) -> Option<T> {
        let key = field.key.to_ascii_lowercase();
        let &(name, element_type) = types.iter().find(|(name, _)| *name == key)?;
        if let Some((previous, previous_type)) = *seen {
            if previous_type != element_type {
                self.error(
                    &field.item.pos,
                    format!("Detected {name} but already saw a {previous}"),
                );
                return None;
            }
        }
        *seen = Some((name, element_type));
        Some(element_type)
    }
}

pub(super) fn is_valid_subject(subject: &str) -> bool {
    natrix_shards::subject::is_valid_subject(subject.as_bytes())
}

/// A duration Go's `time.ParseDuration` refuses, with its texts. Not recoverable: the value
/// must be changed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(super) enum GoDurationError {
    #[error("time: invalid duration {0:?}")]
    Invalid(String),
    #[error("time: missing unit in duration {0:?}")]
    MissingUnit(String),
    #[error("time: unknown unit {unit:?} in duration {text:?}")]
    UnknownUnit { unit: String, text: String },
}

/// Go's `time.ParseDuration`: a sequence of decimal numbers with units (`ns`, `us`, `µs`, `ms`,
/// `s`, `m`, `h`), such as `300ms`, `1.5h` or `2h45m`; `0` needs no unit.
pub(super) fn parse_go_duration(text: &str) -> Result<Duration, GoDurationError> {
    let invalid = || GoDurationError::Invalid(text.to_string());
    let mut rest = text;
    let negative = rest.starts_with('-');
    rest = rest.trim_start_matches(['-', '+']);
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() || negative {
        return Err(invalid());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_end);
        if number.is_empty() || number == "." {
            return Err(invalid());
        }
        let value: f64 = number.parse().map_err(|_| invalid())?;
        let unit_end = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, remaining) = after.split_at(unit_end);
        let scale = match unit {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "" => return Err(GoDurationError::MissingUnit(text.to_string())),
            _ => {
                return Err(GoDurationError::UnknownUnit {
                    unit: unit.to_string(),
                    text: text.to_string(),
                })
            }
        };
        total += value * scale;
        rest = remaining;
    }
    Duration::try_from_secs_f64(total).map_err(|_| invalid())
}
