//! The Go server's `config_digest`: `sha256:` and the hex SHA-256 of the parsed configuration
//! encoded as Go's `encoding/json` encodes the parser's map (keys sorted, a later duplicate key
//! replacing an earlier one, Go's string escaping and number forms, and the newline
//! `json.Encoder` ends with). `/varz` and the start-up log show it, so an operator can tell
//! which configuration a server runs, and it is the same for Natrix and Go on the same file.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use sha2::{Digest, Sha256};

use super::{Map, Value};

/// `sha256:<hex>` of the configuration tree.
pub fn config_digest(map: &Map) -> String {
    let mut json = String::new();
    encode_map(map, &mut json);
    json.push('\n');
    let hash = Sha256::digest(json.as_bytes());
    let mut text = String::with_capacity(7 + 64);
    text.push_str("sha256:");
    for byte in hash {
        let _ = write!(text, "{byte:02x}");
    }
    text
}

fn encode_map(map: &Map, out: &mut String) {
    // Go's map holds the last value of a key, and encoding/json sorts keys bytewise.
    let mut last: BTreeMap<&str, &Value> = BTreeMap::new();
    for entry in &map.entries {
        last.insert(entry.key.as_str(), &entry.item.value);
    }
    out.push('{');
    for (index, (key, value)) in last.into_iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        encode_string(key, out);
        out.push(':');
        encode_value(value, out);
    }
    out.push('}');
}

fn encode_value(value: &Value, out: &mut String) {
    match value {
        Value::String(text) | Value::Datetime(text) => encode_string(text, out),
        Value::Integer(number) => {
            let _ = write!(out, "{number}");
        }
        Value::Float(number) => encode_float(*number, out),
        Value::Bool(flag) => out.push_str(if *flag { "true" } else { "false" }),
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                encode_value(&item.value, out);
            }
            out.push(']');
        }
        Value::Map(map) => encode_map(map, out),
    }
}

/// Go's `encoding/json` string: HTML-safe (`<`, `>`, `&` escaped), U+2028 and U+2029
/// escaped, control characters as `\n`-style escapes or `\u00XX`.
fn encode_string(text: &str, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Go's float64 encoding: the shortest decimal that reads back the same, in plain notation
/// between 1e-6 and 1e21 and in exponent notation (`1e+21`, `1e-7`) outside.
fn encode_float(number: f64, out: &mut String) {
    let magnitude = number.abs();
    if magnitude == 0.0 || (1e-6..1e21).contains(&magnitude) {
        let _ = write!(out, "{number}");
        return;
    }
    let text = format!("{number:e}");
    match text.split_once('e') {
        Some((mantissa, exponent)) if !exponent.starts_with('-') => {
            let _ = write!(out, "{mantissa}e+{exponent}");
        }
        _ => out.push_str(&text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(text: &str) -> String {
        let map = super::super::parse_str(text, std::path::Path::new("t.conf")).expect("valid");
        let mut out = String::new();
        encode_map(&map, &mut out);
        out
    }

    #[test]
    fn the_tree_encodes_as_go_encodes_its_map() {
        assert_eq!(
            encoded("port: 4222\nb { y: [1, 2.5, true], x: \"<a&b>\" }\nport: 5\nA: 0.25\n"),
            r#"{"A":0.25,"b":{"x":"\u003ca\u0026b\u003e","y":[1,2.5,true]},"port":5}"#
        );
    }

    #[test]
    fn floats_use_go_plain_and_exponent_forms() {
        for (number, text) in [(2.0, "2"), (0.5, "0.5"), (1e21, "1e+21"), (1e-7, "1e-7")] {
            let mut out = String::new();
            encode_float(number, &mut out);
            assert_eq!(out, text);
        }
    }

    #[test]
    fn the_digest_is_sha256_of_the_encoding_with_a_newline() {
        let map =
            super::super::parse_str("port: 4222\n", std::path::Path::new("t.conf")).expect("valid");
        // sha256 of `{"port":4222}\n`.
        let expected = format!("sha256:{:x}", Sha256::digest(b"{\"port\":4222}\n"));
        assert_eq!(config_digest(&map), expected);
    }
}
