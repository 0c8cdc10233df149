//! A small JSON Schema (draft 7) checker for tests: the keywords the `jsm-schemas` use
//! (`type`, `properties`, `required`, `additionalProperties`, `enum`, `const`, `oneOf`,
//! `anyOf`, `allOf`, `items`, `minimum`, `maximum`, `minLength`, `maxLength`). `pattern` and
//! `format` are not checked. Returns every violation with its JSON path.

use serde_json::Value;

/// The violations of `schema` by `value`, empty when it conforms.
pub fn violations(schema: &Value, value: &Value) -> Vec<String> {
    let mut found = Vec::new();
    check(schema, value, "$", &mut found);
    found
}

fn check(schema: &Value, value: &Value, path: &str, found: &mut Vec<String>) {
    let Some(schema) = schema.as_object() else {
        return;
    };
    if let Some(kind) = schema.get("type") {
        let kinds: Vec<&str> = match kind {
            Value::String(one) => vec![one.as_str()],
            Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !kinds.iter().any(|kind| type_matches(kind, value)) {
            found.push(format!("{path}: expected {kinds:?}, got {value}"));
            return;
        }
    }
    if let Some(Value::Array(options)) = schema.get("enum") {
        if !options.contains(value) {
            found.push(format!("{path}: {value} not in enum {options:?}"));
        }
    }
    if let Some(constant) = schema.get("const") {
        if constant != value {
            found.push(format!("{path}: {value} is not {constant}"));
        }
    }
    if let (Some(minimum), Some(number)) = (schema.get("minimum"), value.as_f64()) {
        if minimum.as_f64().is_some_and(|minimum| number < minimum) {
            found.push(format!("{path}: {number} below minimum {minimum}"));
        }
    }
    if let (Some(maximum), Some(number)) = (schema.get("maximum"), value.as_f64()) {
        if maximum.as_f64().is_some_and(|maximum| number > maximum) {
            found.push(format!("{path}: {number} above maximum {maximum}"));
        }
    }
    if let Some(text) = value.as_str() {
        let length = text.chars().count() as u64;
        if let Some(min) = schema.get("minLength").and_then(Value::as_u64) {
            if length < min {
                found.push(format!("{path}: shorter than {min}"));
            }
        }
        if let Some(max) = schema.get("maxLength").and_then(Value::as_u64) {
            if length > max {
                found.push(format!("{path}: longer than {max}"));
            }
        }
    }
    if let Some(object) = value.as_object() {
        if let Some(Value::Array(required)) = schema.get("required") {
            for name in required.iter().filter_map(Value::as_str) {
                if !object.contains_key(name) {
                    found.push(format!("{path}: missing required {name:?}"));
                }
            }
        }
        let properties = schema.get("properties").and_then(Value::as_object);
        for (name, item) in object {
            let item_path = format!("{path}.{name}");
            match properties.and_then(|properties| properties.get(name)) {
                Some(item_schema) => check(item_schema, item, &item_path, found),
                None => match schema.get("additionalProperties") {
                    Some(Value::Bool(false)) => {
                        found.push(format!("{item_path}: not allowed"));
                    }
                    Some(extra @ Value::Object(_)) => check(extra, item, &item_path, found),
                    _ => {}
                },
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (index, item) in array.iter().enumerate() {
            check(items, item, &format!("{path}[{index}]"), found);
        }
    }
    if let Some(Value::Array(all)) = schema.get("allOf") {
        for sub in all {
            check(sub, value, path, found);
        }
    }
    if let Some(Value::Array(any)) = schema.get("anyOf") {
        if !any.iter().any(|sub| violations(sub, value).is_empty()) {
            found.push(format!("{path}: matches none of anyOf"));
        }
    }
    if let Some(Value::Array(one)) = schema.get("oneOf") {
        let matching = one
            .iter()
            .filter(|sub| violations(sub, value).is_empty())
            .count();
        if matching != 1 {
            let reasons: Vec<Vec<String>> = one.iter().map(|sub| violations(sub, value)).collect();
            found.push(format!("{path}: matches {matching} of oneOf: {reasons:?}"));
        }
    }
}

fn type_matches(kind: &str, value: &Value) -> bool {
    match kind {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "number" => value.is_number(),
        "integer" => value.is_i64() || value.is_u64(),
        _ => true,
    }
}
