//! Times and durations as the Go server writes them in JSON: `time.Time` as RFC 3339 with
//! nanoseconds and trailing zeros trimmed (`2024-05-01T10:00:00.5Z`, the zero time as
//! `0001-01-01T00:00:00Z`), `time.Duration` as integer nanoseconds, and `Duration.String()`
//! (`2m0s`) where an error text quotes one.

use std::fmt::{self, Write as _};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A point in time in UTC, with Go's zero time as a value of its own.
///
/// Stores keep nanoseconds since the Unix epoch in an `i64` (1677 to 2262); Go's zero time
/// (year 1), which the Go server writes for "never" (for example `first_ts` of an empty
/// stream), is [`Timestamp::ZERO`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(Option<i64>);

impl Timestamp {
    /// Go's zero `time.Time`, `0001-01-01T00:00:00Z`.
    pub const ZERO: Timestamp = Timestamp(None);

    /// The time `unix_nanos` nanoseconds after the Unix epoch.
    pub const fn from_unix_nanos(unix_nanos: i64) -> Timestamp {
        Timestamp(Some(unix_nanos))
    }

    /// A store timestamp, where 0 means "none" (an empty stream's first and last times): the
    /// Go server writes those as the zero time.
    pub const fn from_store_nanos(unix_nanos: i64) -> Timestamp {
        if unix_nanos == 0 {
            Timestamp::ZERO
        } else {
            Timestamp(Some(unix_nanos))
        }
    }

    /// Nanoseconds since the Unix epoch, `None` for the zero time.
    pub const fn unix_nanos(self) -> Option<i64> {
        self.0
    }

    /// Whether this is Go's zero time.
    pub const fn is_zero(self) -> bool {
        self.0.is_none()
    }

    /// RFC 3339 with nanoseconds, trailing zeros trimmed, as Go's `time.RFC3339Nano`.
    pub fn to_rfc3339(self) -> String {
        let mut out = String::with_capacity(32);
        // Writing to a String cannot fail.
        let _ = write!(out, "{self}");
        out
    }

    /// Parses RFC 3339 as Go's `time.Time.UnmarshalJSON` accepts it: `T` between date and
    /// time, optional fraction (1 to 9 digits), `Z` or a `+hh:mm`/`-hh:mm` offset.
    pub fn parse_rfc3339(text: &str) -> Result<Timestamp, TimeParseError> {
        parse_rfc3339(text)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(unix_nanos) = self.0 else {
            return f.write_str("0001-01-01T00:00:00Z");
        };
        let seconds = unix_nanos.div_euclid(1_000_000_000);
        let nanos = unix_nanos.rem_euclid(1_000_000_000);
        let days = seconds.div_euclid(86_400);
        let second_of_day = seconds.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
            second_of_day / 3600,
            (second_of_day / 60) % 60,
            second_of_day % 60
        )?;
        if nanos != 0 {
            let digits = format!("{nanos:09}");
            write!(f, ".{}", digits.trim_end_matches('0'))?;
        }
        f.write_str("Z")
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Go's decoder leaves a time untouched on `null`: the zero time.
        let text: Option<String> = Option::deserialize(deserializer)?;
        match text {
            None => Ok(Timestamp::ZERO),
            Some(text) => parse_rfc3339(&text).map_err(serde::de::Error::custom),
        }
    }
}

/// Why a time could not be parsed; the text follows Go's `parsing time "..." as "...": ...`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("parsing time {text:?} as \"2006-01-02T15:04:05Z07:00\": cannot parse {reason}")]
pub struct TimeParseError {
    text: String,
    reason: &'static str,
}

fn parse_rfc3339(text: &str) -> Result<Timestamp, TimeParseError> {
    let fail = |reason| TimeParseError {
        text: text.to_owned(),
        reason,
    };
    let bytes = text.as_bytes();
    if bytes.len() < 20 || bytes[4] != b'-' || bytes[7] != b'-' || !matches!(bytes[10], b'T' | b't')
    {
        return Err(fail("date"));
    }
    if bytes[13] != b':' || bytes[16] != b':' {
        return Err(fail("time"));
    }
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        if !part.bytes().all(|byte| byte.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let year = number(0..4).ok_or_else(|| fail("year"))?;
    let month = number(5..7).filter(|m| (1..=12).contains(m));
    let month = month.ok_or_else(|| fail("month"))?;
    let day = number(8..10).filter(|d| *d >= 1 && *d <= days_in_month(year, month));
    let day = day.ok_or_else(|| fail("day"))?;
    let hour = number(11..13)
        .filter(|h| *h < 24)
        .ok_or_else(|| fail("hour"))?;
    let minute = number(14..16)
        .filter(|m| *m < 60)
        .ok_or_else(|| fail("minute"))?;
    let second = number(17..19)
        .filter(|s| *s < 60)
        .ok_or_else(|| fail("second"))?;
    let mut index = 19;
    let mut nanos = 0i64;
    if bytes[index] == b'.' {
        index += 1;
        let start = index;
        while index < bytes.len() && bytes[index].is_ascii_digit() {
            index += 1;
        }
        let digits = index - start;
        if digits == 0 || digits > 9 {
            return Err(fail("fraction"));
        }
        let value = number(start..index).ok_or_else(|| fail("fraction"))?;
        nanos = value * 10i64.pow(9 - digits as u32);
    }
    let offset_seconds = match &text[index..] {
        "Z" | "z" => 0,
        zone if zone.len() == 6 && zone.as_bytes()[3] == b':' => {
            let sign = match zone.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return Err(fail("zone")),
            };
            let hours = number(index + 1..index + 3).filter(|h| *h < 24);
            let minutes = number(index + 4..index + 6).filter(|m| *m < 60);
            match (hours, minutes) {
                (Some(hours), Some(minutes)) => sign * (hours * 3600 + minutes * 60),
                _ => return Err(fail("zone")),
            }
        }
        _ => return Err(fail("zone")),
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds;
    let is_go_zero_time = (year, month, day, hour, minute, second, nanos) == (1, 1, 1, 0, 0, 0, 0);
    if is_go_zero_time && offset_seconds == 0 {
        return Ok(Timestamp::ZERO);
    }
    seconds
        .checked_mul(1_000_000_000)
        .and_then(|ns| ns.checked_add(nanos))
        .map(Timestamp::from_unix_nanos)
        .ok_or_else(|| fail("year (out of range)"))
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date of a day counted from 1970-01-01 (inverse of [`days_from_civil`]).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A duration as Go's `time.Duration.String()` writes it: `0s`, `1.5s`, `2m0s`, `1h0m0s`,
/// `100ms`, `1µs`, `10ns`.
pub fn go_duration_string(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".to_owned();
    }
    let negative = nanos < 0;
    let magnitude = nanos.unsigned_abs();
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    if magnitude < 1_000_000_000 {
        // Below a second Go uses the largest unit with an integer part: ns, µs or ms.
        let (unit, scale) = if magnitude < 1_000 {
            ("ns", 1)
        } else if magnitude < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        out.push_str(&fraction(magnitude, scale));
        out.push_str(unit);
        return out;
    }
    let hours = magnitude / 3_600_000_000_000;
    let minutes = (magnitude / 60_000_000_000) % 60;
    let seconds_nanos = magnitude % 60_000_000_000;
    if hours > 0 {
        let _ = write!(out, "{hours}h");
    }
    if hours > 0 || minutes > 0 {
        let _ = write!(out, "{minutes}m");
    }
    out.push_str(&fraction(seconds_nanos, 1_000_000_000));
    out.push('s');
    out
}

fn fraction(value: u64, scale: u64) -> String {
    let whole = value / scale;
    let rest = value % scale;
    if rest == 0 {
        return whole.to_string();
    }
    let width = scale.ilog10() as usize;
    let digits = format!("{rest:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// Serde helpers for `Option<Timestamp>` fields that Go declares as `*time.Time` with
/// `omitempty`: absent or `null` is `None`.
pub mod optional {
    use super::Timestamp;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// Writes the time (the field is skipped when `None`).
    pub fn serialize<S: Serializer>(
        value: &Option<Timestamp>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(time) => time.serialize(serializer),
            None => serializer.serialize_none(),
        }
    }

    /// Reads a time or `null`.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Timestamp>, D::Error> {
        let text: Option<String> = Option::deserialize(deserializer)?;
        text.map(|text| Timestamp::parse_rfc3339(&text).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// Parses a duration as Go's `time.ParseDuration`: a sequence of decimal numbers with units
/// `ns`, `us`, `µs`, `ms`, `s`, `m`, `h` (`1h30m`, `1.5s`, `-2m`); `0` alone is zero.
/// Returns nanoseconds, `None` when invalid or out of range.
pub fn parse_go_duration(text: &str) -> Option<i64> {
    let (negative, mut rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|ch: char| !(ch.is_ascii_digit() || ch == '.'))
            .unwrap_or(rest.len());
        if number_len == 0 {
            return None;
        }
        let value: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|ch: char| ch.is_ascii_digit() || ch == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += value * scale;
    }
    if total > i64::MAX as f64 {
        return None;
    }
    let nanos = total.round() as i64;
    Some(if negative { -nanos } else { nanos })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_format_as_go_rfc3339nano() {
        assert_eq!(Timestamp::ZERO.to_rfc3339(), "0001-01-01T00:00:00Z");
        assert_eq!(
            Timestamp::from_unix_nanos(0).to_rfc3339(),
            "1970-01-01T00:00:00Z"
        );
        assert_eq!(
            Timestamp::from_unix_nanos(1_714_557_600_500_000_000).to_rfc3339(),
            "2024-05-01T10:00:00.5Z"
        );
        assert_eq!(
            Timestamp::from_unix_nanos(951_782_400_000_000_123).to_rfc3339(),
            "2000-02-29T00:00:00.000000123Z"
        );
        assert_eq!(
            Timestamp::from_unix_nanos(-1).to_rfc3339(),
            "1969-12-31T23:59:59.999999999Z"
        );
    }

    #[test]
    fn rfc3339_parses_offsets_and_fractions() {
        let parse = |text| Timestamp::parse_rfc3339(text).expect(text);
        assert_eq!(
            parse("2024-05-01T10:00:00.5Z").unix_nanos(),
            Some(1_714_557_600_500_000_000)
        );
        assert_eq!(
            parse("2024-05-01T12:00:00.5+02:00").unix_nanos(),
            Some(1_714_557_600_500_000_000)
        );
        assert_eq!(parse("0001-01-01T00:00:00Z"), Timestamp::ZERO);
        for bad in [
            "2024-05-01",
            "2024-13-01T00:00:00Z",
            "2024-02-30T00:00:00Z",
            "x",
            "",
        ] {
            assert!(Timestamp::parse_rfc3339(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn round_trip_of_every_nanosecond_scale() {
        for nanos in [
            1,
            999,
            1_000_000,
            1_700_000_000_123_456_789,
            -86_400_000_000_000,
        ] {
            let time = Timestamp::from_unix_nanos(nanos);
            assert_eq!(Timestamp::parse_rfc3339(&time.to_rfc3339()), Ok(time));
        }
    }

    #[test]
    fn durations_print_as_go_duration_string() {
        assert_eq!(go_duration_string(0), "0s");
        assert_eq!(go_duration_string(120_000_000_000), "2m0s");
        assert_eq!(go_duration_string(3_600_000_000_000), "1h0m0s");
        assert_eq!(go_duration_string(1_500_000_000), "1.5s");
        assert_eq!(go_duration_string(100_000_000), "100ms");
        assert_eq!(go_duration_string(1_000), "1µs");
        assert_eq!(go_duration_string(10), "10ns");
        assert_eq!(go_duration_string(-2_000_000_000), "-2s");
    }

    #[test]
    fn go_durations_parse() {
        assert_eq!(parse_go_duration("1h30m"), Some(5_400_000_000_000));
        assert_eq!(parse_go_duration("1.5s"), Some(1_500_000_000));
        assert_eq!(parse_go_duration("500ms"), Some(500_000_000));
        assert_eq!(parse_go_duration("0"), Some(0));
        assert_eq!(parse_go_duration("5"), None);
        assert_eq!(parse_go_duration("1x"), None);
        assert_eq!(parse_go_duration(""), None);
    }
}
