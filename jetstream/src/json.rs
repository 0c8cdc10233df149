//! JSON as the Go server writes and reads it.
//!
//! Writing: Go's `encoding/json` escapes `<`, `>` and `&` as `\u003c`, `\u003e`, `\u0026`
//! and the line separators U+2028/U+2029 as `\u2028`/`\u2029`; [`to_vec`] does the same so
//! that replies are byte-for-byte those of the Go server (subjects such as `foo.>` appear in
//! nearly every reply).
//!
//! Reading: [`from_request`] decodes a request body as the Go server's `unmarshalRequest`
//! does in its default strict mode: an empty body is the zero value, unknown fields are
//! refused, and the error text follows Go's where clients may show it.

use std::io;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::ser::Formatter;

/// Serializes `value` as the Go server would.
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, GoFormatter);
    // Our types serialize infallibly (no maps with non-string keys, no failing impls); a
    // failure would leave partial output, so it is replaced by an empty object.
    if value.serialize(&mut serializer).is_err() {
        return b"{}".to_vec();
    }
    out
}

/// Serializes `value` as the Go server would, as a string.
pub fn to_string<T: Serialize + ?Sized>(value: &T) -> String {
    // The serializer only writes UTF-8.
    String::from_utf8(to_vec(value)).unwrap_or_default()
}

/// Why a request body could not be decoded; its `Display` is the text Go puts after
/// `invalid JSON: `.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct JsonError(pub String);

/// Decodes a request body as the Go server's `unmarshalRequest` (strict mode).
///
/// The types passed here must use `#[serde(deny_unknown_fields)]` to be strict.
pub fn from_request<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, JsonError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    let mut value: serde_json::Value =
        serde_json::from_slice(body).map_err(|error| JsonError(go_error_text(&error)))?;
    if value.is_null() {
        // Go decodes `null` into a struct as "change nothing" (async-nats sends it).
        return Ok(T::default());
    }
    strip_nulls(&mut value);
    serde_json::from_value(value).map_err(|error| JsonError(go_error_text(&error)))
}

/// Go's decoder leaves a field at its zero value when the JSON has `null` for it, whatever
/// its type (clients send `"consumer_limits": null`, `"placement": null`); serde would refuse
/// most of them. Object members that are `null` are removed, at every depth.
pub fn strip_nulls(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            map.retain(|_, member| !member.is_null());
            map.values_mut().for_each(strip_nulls);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

/// Go's wording for the most common decode errors; other errors keep serde's description.
fn go_error_text(error: &serde_json::Error) -> String {
    let text = error.to_string();
    // serde: "unknown field `foo`, expected one of ..." ; Go: `json: unknown field "foo"`.
    if let Some(rest) = text.strip_prefix("unknown field `") {
        if let Some(end) = rest.find('`') {
            return format!("json: unknown field \"{}\"", &rest[..end]);
        }
    }
    match error.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
            // Go: "invalid character 'x' looking for beginning of value at offset N" and,
            // from the strict decoder (`json.Decoder`) the server uses, "unexpected EOF";
            // serde reports line and column instead.
            if error.is_eof() {
                "unexpected EOF".to_owned()
            } else {
                strip_position(&text)
            }
        }
        // Errors from our enum decoders already carry Go's wording.
        _ if GO_ENUM_ERRORS.iter().any(|prefix| text.starts_with(prefix)) => strip_position(&text),
        _ => format!("json: {}", strip_position(&text)),
    }
}

/// The start of the texts Go's enum decoders return themselves, which Go shows unwrapped.
const GO_ENUM_ERRORS: [&str; 3] = [
    "can not unmarshal",
    "unknown priority policy",
    "unknown consumer action",
];

fn strip_position(text: &str) -> String {
    match text.find(" at line ") {
        Some(index) => text[..index].to_owned(),
        None => text.to_owned(),
    }
}

/// serde_json's compact output with Go's HTML-safe escaping.
struct GoFormatter;

impl Formatter for GoFormatter {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (index, ch) in fragment.char_indices() {
            let escaped = match ch {
                '<' => "\\u003c",
                '>' => "\\u003e",
                '&' => "\\u0026",
                '\u{2028}' => "\\u2028",
                '\u{2029}' => "\\u2029",
                _ => continue,
            };
            writer.write_all(&fragment.as_bytes()[start..index])?;
            writer.write_all(escaped.as_bytes())?;
            start = index + ch.len_utf8();
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_characters_are_escaped_as_go_does() {
        let value = serde_json::json!({"subjects": ["foo.>", "a<b&c"]});
        assert_eq!(
            to_string(&value),
            r#"{"subjects":["foo.\u003e","a\u003cb\u0026c"]}"#
        );
    }

    #[derive(Debug, Default, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Probe {
        #[serde(default)]
        seq: u64,
    }

    #[test]
    fn empty_request_is_the_zero_value() {
        let probe: Probe = from_request(b"  ").expect("empty");
        assert_eq!(probe.seq, 0);
    }

    #[test]
    fn unknown_field_is_refused_with_gos_text() {
        let error = from_request::<Probe>(br#"{"sequence":1}"#).expect_err("unknown");
        assert_eq!(error.to_string(), r#"json: unknown field "sequence""#);
    }

    #[test]
    fn null_members_leave_the_zero_value_as_in_go() {
        let probe: Probe = from_request(br#"{"seq":null}"#).expect("null");
        assert_eq!(probe.seq, 0);
    }

    #[test]
    fn truncated_request_is_gos_unexpected_eof() {
        let error = from_request::<Probe>(br#"{"seq":"#).expect_err("eof");
        assert_eq!(error.to_string(), "unexpected EOF");
    }
}
