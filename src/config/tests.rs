//! Tests of the configuration format, each named after the behaviour it proves. Expected values
//! and error texts follow the Go server's `conf` package (checked against nats-server v2.15.1).

use std::path::{Path, PathBuf};

use super::{parse_file, parse_str, ConfigError, Map, Value};

fn parse(text: &str) -> Map {
    match parse_str(text, Path::new("test.conf")) {
        Ok(map) => map,
        Err(error) => panic!("parse failed: {error}\n--- text ---\n{text}"),
    }
}

fn parse_error(text: &str) -> ConfigError {
    match parse_str(text, Path::new("test.conf")) {
        Ok(map) => panic!("expected an error, parsed {map:?}\n--- text ---\n{text}"),
        Err(error) => error,
    }
}

fn value<'a>(map: &'a Map, key: &str) -> &'a Value {
    match map.get(key) {
        Some(entry) => &entry.item.value,
        None => panic!("no key {key:?} in {map:?}"),
    }
}

fn map<'a>(map: &'a Map, key: &str) -> &'a Map {
    match value(map, key) {
        Value::Map(inner) => inner,
        other => panic!("{key} is not a map: {other:?}"),
    }
}

fn array<'a>(map: &'a Map, key: &str) -> Vec<&'a Value> {
    match value(map, key) {
        Value::Array(items) => items.iter().map(|item| &item.value).collect(),
        other => panic!("{key} is not an array: {other:?}"),
    }
}

fn string(text: &str) -> Value {
    Value::String(text.to_string())
}

/// Asserts the error's line, column and that its message contains `fragment`.
fn assert_error_at(error: &ConfigError, line: usize, column: usize, fragment: &str) {
    assert_eq!(
        (error.pos.line, error.pos.column),
        (line, column),
        "position of: {error}"
    );
    assert!(
        error.message.contains(fragment),
        "message {:?} lacks {fragment:?}",
        error.message
    );
}

/// A fresh directory under the system temp dir for file tests.
fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("natrix-config-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

fn write(path: &Path, text: &str) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create dir");
    }
    std::fs::write(path, text).expect("write file");
}

// Syntax: separators, keys, blocks, arrays, comments.

#[test]
fn keys_accept_colon_equals_or_whitespace_as_separator() {
    let config = parse("a: 1\nb = 2\nc 3\nd:4\ne=5\nf\t6\n");
    for (key, expected) in [("a", 1), ("b", 2), ("c", 3), ("d", 4), ("e", 5), ("f", 6)] {
        assert_eq!(value(&config, key), &Value::Integer(expected), "{key}");
    }
}

#[test]
fn quoted_keys_may_contain_spaces_and_separators() {
    let config = parse("\"a key\": 1\n'b:c' = 2\n");
    assert_eq!(value(&config, "a key"), &Value::Integer(1));
    assert_eq!(value(&config, "b:c"), &Value::Integer(2));
}

#[test]
fn block_may_follow_its_key_without_separator() {
    let config = parse("cluster {\n  port 6222\n}\nleaf: { port: 7422 }\n");
    assert_eq!(
        value(map(&config, "cluster"), "port"),
        &Value::Integer(6222)
    );
    assert_eq!(value(map(&config, "leaf"), "port"), &Value::Integer(7422));
}

#[test]
fn maps_nest_and_take_comma_semicolon_or_newline_between_entries() {
    let config = parse("a { b { c = 1, d = 2; e = 3\n f = 4 } }\n");
    let inner = map(map(&config, "a"), "b");
    let keys: Vec<&str> = inner.entries.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["c", "d", "e", "f"]);
}

#[test]
fn arrays_take_commas_or_newlines_and_nest() {
    let config = parse("a = [x, y\n z\n]\nb [ [1, 2 ], [\"3\"] ]\n");
    assert_eq!(
        array(&config, "a"),
        [&string("x"), &string("y"), &string("z")]
    );
    let nested = array(&config, "b");
    assert_eq!(nested.len(), 2);
    assert!(matches!(nested[0], Value::Array(items) if items.len() == 2));
}

#[test]
fn arrays_may_hold_maps() {
    let config = parse("users = [\n  {user: a, password: x}\n  {user: b, password: y}\n]\n");
    let users = array(&config, "users");
    assert_eq!(users.len(), 2);
    let Value::Map(second) = users[1] else {
        panic!("not a map")
    };
    assert_eq!(value(second, "user"), &string("b"));
}

#[test]
fn empty_maps_and_arrays_are_values() {
    let config = parse("a {}\nb []\nc = { }\n");
    assert_eq!(value(&config, "a"), &Value::Map(Map::default()));
    assert_eq!(value(&config, "b"), &Value::Array(Vec::new()));
    assert_eq!(value(&config, "c"), &Value::Map(Map::default()));
}

#[test]
fn hash_and_double_slash_comments_are_ignored_everywhere() {
    let config = parse(
        "# top\n// also top\na = 1 # after a value\nb = 2 // after a value\n\
         m {\n  # in a map\n  c = 3 // trailing\n}\n\
         l = [\n  # in an array\n  1, // first\n  2 # second\n]\n",
    );
    assert_eq!(value(&config, "a"), &Value::Integer(1));
    assert_eq!(value(&config, "b"), &Value::Integer(2));
    assert_eq!(value(map(&config, "m"), "c"), &Value::Integer(3));
    assert_eq!(
        array(&config, "l"),
        [&Value::Integer(1), &Value::Integer(2)]
    );
}

#[test]
fn top_level_may_be_wrapped_in_braces_like_json() {
    let config = parse("{\n  \"port\": 4222,\n  \"cluster\": { \"port\": 6222 }\n}\n");
    assert_eq!(value(&config, "port"), &Value::Integer(4222));
    assert_eq!(
        value(map(&config, "cluster"), "port"),
        &Value::Integer(6222)
    );
}

#[test]
fn top_level_values_may_end_with_semicolons() {
    let config = parse("a = 1; b = 2;\nc = \"x\";\n");
    assert_eq!(value(&config, "b"), &Value::Integer(2));
    assert_eq!(value(&config, "c"), &string("x"));
}

#[test]
fn key_may_be_separated_from_its_value_by_newlines_before_a_separator() {
    // Go skips any whitespace, newlines included, between a key and its value.
    let config = parse("a\n\n  b\n");
    assert_eq!(value(&config, "a"), &string("b"));
}

#[test]
fn later_duplicate_key_wins_and_lookup_ignores_case() {
    let config = parse("Port = 1\nport = 2\n");
    assert_eq!(config.entries.len(), 2);
    assert_eq!(value(&config, "PORT"), &Value::Integer(2));
}

#[test]
fn entries_record_key_and_value_positions() {
    let config = parse("\n  port: 4222\nname = \"x\"\n");
    let port = config.get("port").expect("port");
    assert_eq!((port.key_pos.line, port.key_pos.column), (2, 3));
    assert_eq!((port.item.pos.line, port.item.pos.column), (2, 9));
    let name = config.get("name").expect("name");
    assert_eq!((name.item.pos.line, name.item.pos.column), (3, 8));
    assert_eq!(name.key_pos.file.as_path(), Path::new("test.conf"));
}

// Strings.

#[test]
fn double_quoted_strings_decode_escapes() {
    let config = parse(r#"s = "a\tb\nc\rd\"e\\f\x41""#);
    assert_eq!(value(&config, "s"), &string("a\tb\nc\rd\"e\\fA"));
}

#[test]
fn hex_escapes_combine_into_utf8() {
    let config = parse(r#"s = "caf\xc3\xa9""#);
    assert_eq!(value(&config, "s"), &string("café"));
}

#[test]
fn unicode_escapes_are_rejected_as_go_does() {
    let error = parse_error("s = \"\\u0041\"\n");
    assert_error_at(&error, 1, 7, "Invalid escape character 'u'");
}

#[test]
fn single_quoted_strings_are_raw() {
    let config = parse(r"s = 'a\tb $X'");
    assert_eq!(value(&config, "s"), &string(r"a\tb $X"));
}

#[test]
fn quoted_strings_may_span_lines() {
    let config = parse("s = \"a\nb\"\n");
    assert_eq!(value(&config, "s"), &string("a\nb"));
}

#[test]
fn bare_strings_end_at_blank_comma_semicolon_bracket_or_brace() {
    let config = parse("a = x # y\nb = [p,q]\nc { d = r}\ne = s;t = u\n");
    assert_eq!(value(&config, "a"), &string("x"));
    assert_eq!(array(&config, "b"), [&string("p"), &string("q")]);
    assert_eq!(value(map(&config, "c"), "d"), &string("r"));
    assert_eq!(value(&config, "e"), &string("s"));
    assert_eq!(value(&config, "t"), &string("u"));
}

#[test]
fn bare_strings_keep_hashes_colons_and_equals_inside() {
    let config = parse("a = foo#bar\nb = x=y:z\nc = nats://user:pass@host:4222\n");
    assert_eq!(value(&config, "a"), &string("foo#bar"));
    assert_eq!(value(&config, "b"), &string("x=y:z"));
    assert_eq!(value(&config, "c"), &string("nats://user:pass@host:4222"));
}

#[test]
fn bare_strings_decode_escapes_too() {
    let config = parse(r"a = x\ty");
    assert_eq!(value(&config, "a"), &string("x\ty"));
}

#[test]
fn block_string_keeps_text_up_to_a_lone_closing_paren() {
    let config = parse("numbers (\n1234567890\n)\n");
    assert_eq!(value(&config, "numbers"), &string("\n1234567890\n"));
    let nested = parse("numbers (\n  12(34)56\n  (\n    7890\n  )\n)\n");
    assert_eq!(
        value(&nested, "numbers"),
        &string("\n  12(34)56\n  (\n    7890\n  )\n")
    );
}

#[test]
fn block_string_may_end_the_file() {
    let config = parse("numbers (\n1234567890\n)");
    assert_eq!(value(&config, "numbers"), &string("\n1234567890\n"));
}

// Numbers, booleans, date-times.

#[test]
fn integers_floats_and_negative_numbers() {
    let config = parse("a = 42\nb = -17\nc = 3.25\nd = -0.5\ne = 0\n");
    assert_eq!(value(&config, "a"), &Value::Integer(42));
    assert_eq!(value(&config, "b"), &Value::Integer(-17));
    assert_eq!(value(&config, "c"), &Value::Float(3.25));
    assert_eq!(value(&config, "d"), &Value::Float(-0.5));
    assert_eq!(value(&config, "e"), &Value::Integer(0));
}

#[test]
fn every_size_suffix_multiplies_as_go_does() {
    let decimal = [("k", 1), ("m", 2), ("g", 3), ("t", 4), ("p", 5), ("e", 6)];
    for (letter, power) in decimal {
        let base = 1000i64.pow(power);
        let binary = 1024i64.pow(power);
        for suffix in [letter.to_string(), letter.to_uppercase()] {
            let config = parse(&format!("v = 1{suffix}\n"));
            assert_eq!(value(&config, "v"), &Value::Integer(base), "1{suffix}");
        }
        for tail in ["b", "B", "i", "I", "ib", "iB", "IB"] {
            for head in [letter.to_string(), letter.to_uppercase()] {
                let text = format!("v = 1{head}{tail}\n");
                let config = parse(&text);
                assert_eq!(value(&config, "v"), &Value::Integer(binary), "{text}");
            }
        }
    }
}

#[test]
fn size_suffixes_apply_to_negative_numbers() {
    let config = parse("a = -2m\nb = -1GB\n");
    assert_eq!(value(&config, "a"), &Value::Integer(-2_000_000));
    assert_eq!(value(&config, "b"), &Value::Integer(-(1 << 30)));
}

#[test]
fn durations_and_unknown_suffixes_are_strings() {
    let config = parse("a = 10s\nb = 2m\nc = 10ms\nd = 1m30s\ne = 1Ghz\nf = 1k5\ng = 3Mbs\n");
    assert_eq!(value(&config, "a"), &string("10s"));
    assert_eq!(value(&config, "b"), &Value::Integer(2_000_000));
    assert_eq!(value(&config, "c"), &string("10ms"));
    assert_eq!(value(&config, "d"), &string("1m30s"));
    assert_eq!(value(&config, "e"), &string("1Ghz"));
    assert_eq!(value(&config, "f"), &string("1k5"));
    assert_eq!(value(&config, "g"), &string("3Mbs"));
}

#[test]
fn suffix_letters_in_a_wrong_order_are_an_error() {
    let error = parse_error("v = 1kbi\n");
    assert_error_at(&error, 1, 5, "expected integer, but got '1kbi'");
}

#[test]
fn integer_overflow_is_an_error() {
    let error = parse_error("v = 99999999999999999999\n");
    assert_error_at(&error, 1, 5, "is out of the range");
    let error = parse_error("v = 10E\n");
    assert_error_at(&error, 1, 5, "integer '10E' is out of the range");
}

#[test]
fn booleans_accept_true_yes_on_and_their_opposites_in_any_case() {
    let config = parse("a = true\nb = YES\nc = On\nd = false\ne = no\nf = OFF\ng = \"true\"\n");
    for key in ["a", "b", "c"] {
        assert_eq!(value(&config, key), &Value::Bool(true), "{key}");
    }
    for key in ["d", "e", "f"] {
        assert_eq!(value(&config, key), &Value::Bool(false), "{key}");
    }
    assert_eq!(value(&config, "g"), &string("true"));
}

#[test]
fn zulu_datetimes_are_kept_as_written() {
    let config = parse("t = 2016-05-04T18:53:41Z\n");
    assert_eq!(
        value(&config, "t"),
        &Value::Datetime("2016-05-04T18:53:41Z".to_string())
    );
}

#[test]
fn datetime_out_of_range_is_an_error() {
    let error = parse_error("t = 2016-13-04T18:53:41Z\n");
    assert_error_at(&error, 1, 5, "expected Zulu formatted DateTime");
    let error = parse_error("t = 2016-05-04\n");
    assert_error_at(&error, 1, 15, "Expected 'T' in ISO8601 datetime");
}

#[test]
fn ip_addresses_and_urls_are_strings() {
    let config = parse(
        "a = 127.0.0.1\nb = 0.0.0.0:4222\nc = nats://host:4222\nd = localhost:4222\n\
         e = [nats://a:4222, nats://b:4222]\n",
    );
    assert_eq!(value(&config, "a"), &string("127.0.0.1"));
    assert_eq!(value(&config, "b"), &string("0.0.0.0:4222"));
    assert_eq!(value(&config, "c"), &string("nats://host:4222"));
    assert_eq!(value(&config, "d"), &string("localhost:4222"));
    assert_eq!(array(&config, "e").len(), 2);
}

#[test]
fn number_right_before_closing_bracket_is_an_error_as_in_go() {
    // Go's lexer does not end a number at ']', so `[1, 2]` reads "2]" and runs on.
    let error = parse_error("a = [1, 2]\n");
    assert!(
        error.message.contains("Expected an array value terminator"),
        "{error}"
    );
    let config = parse("a = [1, 2 ]\n");
    assert_eq!(
        array(&config, "a"),
        [&Value::Integer(1), &Value::Integer(2)]
    );
}

// Includes.

#[test]
fn include_merges_a_file_relative_to_the_including_file() {
    let dir = scratch_dir("include-top");
    write(
        &dir.join("main.conf"),
        "port = 4222\ninclude ./sub/auth.conf\nafter = 1\n",
    );
    write(
        &dir.join("sub/auth.conf"),
        "authorization { user: a, password: b }\n",
    );
    let config = parse_file(&dir.join("main.conf")).expect("parses");
    let keys: Vec<&str> = config.entries.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["port", "authorization", "after"]);
    let auth = config.get("authorization").expect("authorization");
    assert!(auth.key_pos.file.ends_with("sub/auth.conf"));
    assert_eq!(auth.key_pos.line, 1);
}

#[test]
fn include_path_may_be_quoted_and_used_inside_a_block() {
    let dir = scratch_dir("include-block");
    write(
        &dir.join("main.conf"),
        "accounts {\n  include 'accounts.conf'\n  B { users [] }\n}\nc { include \"c.conf\" }\n",
    );
    write(&dir.join("accounts.conf"), "A: { users: [ {user: x} ] }\n");
    write(&dir.join("c.conf"), "v = 1\n");
    let config = parse_file(&dir.join("main.conf")).expect("parses");
    let accounts = map(&config, "accounts");
    assert!(accounts.get("A").is_some());
    assert!(accounts.get("B").is_some());
    assert_eq!(value(map(&config, "c"), "v"), &Value::Integer(1));
}

#[test]
fn nested_includes_resolve_relative_to_each_file() {
    let dir = scratch_dir("include-nested");
    write(&dir.join("main.conf"), "include a/one.conf\n");
    write(&dir.join("a/one.conf"), "one = 1\ninclude b/two.conf\n");
    write(&dir.join("a/b/two.conf"), "two = 2\n");
    let config = parse_file(&dir.join("main.conf")).expect("parses");
    assert_eq!(value(&config, "two"), &Value::Integer(2));
}

#[test]
fn absolute_include_path_is_joined_to_the_directory_as_go_does() {
    let dir = scratch_dir("include-absolute");
    write(&dir.join("main.conf"), "include /x.conf\n");
    write(&dir.join("x.conf"), "x = 1\n");
    let config = parse_file(&dir.join("main.conf")).expect("parses");
    assert_eq!(value(&config, "x"), &Value::Integer(1));
}

#[test]
fn missing_include_is_reported_at_the_include() {
    let dir = scratch_dir("include-missing");
    write(&dir.join("main.conf"), "port = 1\n  include nope.conf\n");
    let error = parse_file(&dir.join("main.conf")).expect_err("fails");
    assert!(error.pos.file.ends_with("main.conf"));
    assert_error_at(&error, 2, 11, "error parsing include file 'nope.conf'");
    assert!(
        error.message.contains("error opening config file"),
        "{error}"
    );
}

#[test]
fn error_inside_an_included_file_points_into_that_file() {
    let dir = scratch_dir("include-error");
    write(&dir.join("main.conf"), "include bad.conf\n");
    write(&dir.join("bad.conf"), "ok = 1\nbad = [1, 2\n");
    let error = parse_file(&dir.join("main.conf")).expect_err("fails");
    assert!(error.pos.file.ends_with("bad.conf"), "{error}");
    assert_eq!(error.pos.line, 3);
    assert!(error.message.contains("included from"), "{error}");
}

#[test]
fn file_including_itself_is_an_error_not_a_stack_overflow() {
    let dir = scratch_dir("include-cycle");
    write(&dir.join("loop.conf"), "a = 1\ninclude loop.conf\n");
    let error = parse_file(&dir.join("loop.conf")).expect_err("fails");
    assert!(error.message.contains("nest deeper than"), "{error}");
}

#[test]
fn missing_file_is_a_clear_error() {
    let path = scratch_dir("missing").join("absent.conf");
    let error = parse_file(&path).expect_err("fails");
    assert!(
        error.message.starts_with("error opening config file"),
        "{error}"
    );
    assert!(error.message.contains("absent.conf"), "{error}");
}

// Variables.

#[test]
fn variable_resolves_to_an_earlier_key_in_the_same_or_an_enclosing_block() {
    let config = parse(
        "TOKEN = secret\nlimits { max = 5\n  inner { a = $max, b = $TOKEN } }\n\
         list = [ { t = $TOKEN } ]\n",
    );
    let inner = map(map(&config, "limits"), "inner");
    assert_eq!(value(inner, "a"), &Value::Integer(5));
    assert_eq!(value(inner, "b"), &string("secret"));
    let Value::Map(first) = array(&config, "list")[0] else {
        panic!("not a map")
    };
    assert_eq!(value(first, "t"), &string("secret"));
}

#[test]
fn variable_in_a_sibling_block_is_not_visible() {
    let error = parse_error("a { x = 1 }\nb { y = $x }\n");
    assert_error_at(
        &error,
        2,
        9,
        "variable reference for 'x' on line 2 can not be found",
    );
}

#[test]
fn variable_may_hold_a_map_or_array() {
    let config = parse("PERMS = { publish: [\"a.>\"] }\nuser { permissions: $PERMS }\n");
    let permissions = map(map(&config, "user"), "permissions");
    assert_eq!(array(permissions, "publish"), [&string("a.>")]);
}

#[test]
fn variable_referencing_a_variable_takes_its_value() {
    let config = parse("a = 1k\nb = $a\nc = $b\n");
    assert_eq!(value(&config, "c"), &Value::Integer(1000));
}

#[test]
fn variable_falls_back_to_the_environment_and_parses_its_value() {
    let name = format!("NATRIX_CONFIG_TEST_PORT_{}", std::process::id());
    std::env::set_var(&name, "4222");
    let config = parse(&format!("port = ${name}\n"));
    assert_eq!(value(&config, "port"), &Value::Integer(4222));
    std::env::remove_var(&name);
}

#[test]
fn missing_variable_is_an_error_naming_it() {
    let error = parse_error("a = 1\nb = $NATRIX_SURELY_UNDEFINED_VARIABLE\n");
    assert_error_at(
        &error,
        2,
        5,
        "variable reference for 'NATRIX_SURELY_UNDEFINED_VARIABLE' on line 2 can not be found",
    );
}

#[test]
fn environment_variable_cycle_is_an_error_not_a_stack_overflow() {
    let first = format!("NATRIX_CONFIG_TEST_CYCLE_A_{}", std::process::id());
    let second = format!("NATRIX_CONFIG_TEST_CYCLE_B_{}", std::process::id());
    std::env::set_var(&first, format!("${second}"));
    std::env::set_var(&second, format!("${first}"));
    let error = parse_error(&format!("x = ${first}\n"));
    std::env::remove_var(&first);
    std::env::remove_var(&second);
    assert_eq!((error.pos.line, error.pos.column), (1, 5));
    assert!(
        error.message.contains("variable reference cycle for"),
        "{error}"
    );
}

#[test]
fn self_reference_without_definition_is_not_found() {
    let error = parse_error("NATRIX_SELF_REF_X = $NATRIX_SELF_REF_X\n");
    assert!(error.message.contains("can not be found"), "{error}");
}

#[test]
fn variables_are_not_expanded_in_quoted_strings_or_inside_words() {
    let config = parse("a = 1\nb = \"$a\"\nc = '$a'\nd = x$a\n");
    assert_eq!(value(&config, "b"), &string("$a"));
    assert_eq!(value(&config, "c"), &string("$a"));
    assert_eq!(value(&config, "d"), &string("x$a"));
}

#[test]
fn bcrypt_hash_is_a_string_not_a_variable() {
    let hash = "$2a$11$W2zko751KUvVy59mUTWmpOdWjpEm5qhcCZRd05GjI/sSOT.xtiHyG";
    let config = parse(&format!("password: {hash}\n"));
    assert_eq!(value(&config, "password"), &string(hash));
}

#[test]
fn variable_names_compare_with_case() {
    let error = parse_error("natrix_case_var = 1\nx = $NATRIX_CASE_VAR\n");
    assert!(error.message.contains("can not be found"), "{error}");
}

// Errors and their positions.

#[test]
fn unterminated_map_is_an_error_at_the_end() {
    let error = parse_error("a {\n  b = 1\n");
    assert_error_at(&error, 3, 1, "Unexpected EOF processing map.");
}

#[test]
fn unterminated_double_quoted_string_is_an_error() {
    let error = parse_error("a = \"abc\nb = 1\n");
    assert_error_at(&error, 3, 1, "Unexpected EOF.");
}

#[test]
fn unterminated_array_is_an_error() {
    let error = parse_error("a = [1, 2,\n");
    assert!(error.message.contains("array"), "{error}");
}

#[test]
fn missing_value_before_newline_is_an_error() {
    let error = parse_error("port =\n");
    assert_error_at(&error, 1, 7, "Expected value but found new line");
}

#[test]
fn key_without_value_at_the_end_is_an_error() {
    let error = parse_error("port = 1\nlonely\n");
    assert_error_at(&error, 2, 1, "config is invalid: key 'lonely' has no value");
}

#[test]
fn key_without_value_inside_a_map_is_an_error() {
    let error = parse_error("authorization { user: a\n password: }\n");
    assert_error_at(&error, 2, 2, "key 'password' has no value");
}

#[test]
fn unterminated_block_string_is_an_error() {
    let error = parse_error("a (\nline\n");
    assert_error_at(&error, 3, 1, "Unexpected EOF processing block.");
}

#[test]
fn float_starting_with_a_dot_is_an_error() {
    let error = parse_error("a = .5\n");
    assert_error_at(&error, 1, 5, "Floats must start with a digit");
}

#[test]
fn garbage_after_a_value_is_an_error() {
    let error = parse_error("a = 1.5s\n");
    assert_error_at(
        &error,
        1,
        8,
        "Expected a top-level value to end with a new line",
    );
}

#[test]
fn second_word_after_a_bare_value_is_an_error() {
    let error = parse_error("a = x y\n");
    assert_error_at(&error, 1, 7, "but got 'y' instead");
}

#[test]
fn key_separator_without_key_is_an_error() {
    let error = parse_error("a = 1\n= 2\n");
    assert_error_at(&error, 2, 1, "Unexpected key separator '='");
}

#[test]
fn include_without_path_is_an_error() {
    let error = parse_error("include [a]\n");
    assert_error_at(
        &error,
        1,
        9,
        "Expected include value but found start of an array",
    );
}

#[test]
fn error_displays_file_line_column_and_message() {
    let error = parse_error("a = .5\n");
    assert_eq!(
        error.to_string(),
        "test.conf:1:5: Floats must start with a digit"
    );
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let depth = 100_000;
    let text = format!("a = {}{}\n", "[".repeat(depth), "]".repeat(depth));
    let error = parse_error(&text);
    assert!(error.message.contains("nest deeper than"), "{error}");
    let text = format!("a = {}", "{ b = ".repeat(depth));
    let error = parse_error(&text);
    assert!(error.message.contains("nest deeper than"), "{error}");
}

#[test]
fn moderate_nesting_is_fine() {
    let depth = 50;
    let text = format!("a = {}1{}\n", "[".repeat(depth), " ]".repeat(depth));
    let config = parse(&text);
    assert!(matches!(value(&config, "a"), Value::Array(_)));
}

#[test]
fn no_prefix_or_byte_flip_of_a_real_config_panics() {
    let text =
        std::fs::read_to_string(corpus_dir().join("full_server.conf")).expect("read corpus file");
    let chars: Vec<char> = text.chars().collect();
    for end in 0..=chars.len() {
        let prefix: String = chars[..end].iter().collect();
        let _ = parse_str(&prefix, Path::new("prefix.conf"));
    }
    let specials = [
        '{', '}', '[', ']', '"', '\'', '(', ')', '$', '\\', '\n', ':', '#', '-',
    ];
    for (index, _) in chars.iter().enumerate().step_by(3) {
        for special in specials {
            let mut mutated = chars.clone();
            mutated[index] = special;
            let mutated: String = mutated.into_iter().collect();
            let _ = parse_str(&mutated, Path::new("mutated.conf"));
        }
    }
}

// The corpus of real-world style files under tests/configs.

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/configs/corpus")
}

fn conf_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|entry| entry.expect("dir entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "conf"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_corpus_file_parses() {
    let files = conf_files(&corpus_dir());
    assert!(files.len() >= 12, "corpus has {} files", files.len());
    for file in files {
        if let Err(error) = parse_file(&file) {
            panic!("{error}");
        }
    }
}

/// Each invalid file starts with `# error: LINE:COLUMN: fragment of the message`.
#[test]
fn every_invalid_file_fails_at_its_stated_position() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/configs/invalid");
    let files = conf_files(&dir);
    assert!(files.len() >= 4);
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read");
        let expectation = text
            .lines()
            .next()
            .and_then(|line| line.strip_prefix("# error: "))
            .unwrap_or_else(|| panic!("{} lacks an '# error:' line", file.display()));
        let mut parts = expectation.splitn(3, ':');
        let line: usize = parts.next().and_then(|s| s.parse().ok()).expect("line");
        let column: usize = parts.next().and_then(|s| s.parse().ok()).expect("column");
        let fragment = parts.next().expect("fragment").trim();
        let error = parse_file(&file).expect_err(&file.display().to_string());
        assert!(
            error.pos.file.ends_with(file.file_name().expect("name")),
            "{error}"
        );
        assert_error_at(&error, line, column, fragment);
    }
}

fn corpus(name: &str) -> Map {
    let path = corpus_dir().join(name);
    match parse_file(&path) {
        Ok(map) => map,
        Err(error) => panic!("{error}"),
    }
}

fn nth_map(values: &[&Value], index: usize) -> Map {
    match values.get(index) {
        Some(Value::Map(inner)) => inner.clone(),
        other => panic!("item {index} is not a map: {other:?}"),
    }
}

#[test]
fn corpus_files_hold_the_expected_values() {
    let full = corpus("full_server.conf");
    assert_eq!(value(&full, "listen"), &string("0.0.0.0:4222"));
    assert_eq!(value(&full, "http_base_path"), &string("/nats"));
    assert_eq!(value(&full, "max_connections"), &Value::Integer(64_000));
    assert_eq!(value(&full, "max_pending"), &Value::Integer(10 << 20));
    assert_eq!(value(&full, "max_control_line"), &Value::Integer(4096));
    assert_eq!(value(&full, "syslog"), &Value::Bool(false));
    assert_eq!(value(&full, "lame_duck_grace_period"), &string("10s"));
    assert_eq!(
        value(map(&full, "server_metadata"), "region"),
        &string("eu-west")
    );

    let auth = corpus("authorization.conf");
    let users = array(map(&auth, "authorization"), "users");
    assert_eq!(users.len(), 4);
    let bob = nth_map(&users, 1);
    assert_eq!(
        array(map(&bob, "permissions"), "publish"),
        [&string("req.foo"), &string("req.bar")]
    );
    let svc = nth_map(&users, 2);
    assert!(matches!(value(&svc, "password"), Value::String(s) if s.starts_with("$2a$11$")));
    assert_eq!(
        value(map(map(&svc, "permissions"), "allow_responses"), "expires"),
        &string("1m")
    );

    let accounts = corpus("accounts.conf");
    let engineering = map(map(&accounts, "accounts"), "ENGINEERING");
    let mappings = map(engineering, "mappings");
    assert_eq!(
        value(mappings, "orders.*"),
        &string("orders.eng.{{wildcard(1)}}")
    );
    let weighted = array(mappings, "weighted");
    assert_eq!(value(&nth_map(&weighted, 0), "weight"), &string("80%"));
    let sales = map(map(&accounts, "accounts"), "SALES");
    let import = nth_map(&array(sales, "imports"), 0);
    assert_eq!(
        value(map(&import, "stream"), "account"),
        &string("ENGINEERING")
    );
    assert_eq!(value(&accounts, "system_account"), &string("SYS"));

    let tls = corpus("tls.conf");
    let block = map(&tls, "tls");
    assert_eq!(value(block, "ca_file"), &string("./configs/certs/ca.pem"));
    assert_eq!(value(block, "timeout"), &Value::Float(2.5));
    assert_eq!(array(block, "cipher_suites").len(), 2);

    let cluster = corpus("cluster.conf");
    let block = map(&cluster, "cluster");
    assert_eq!(value(block, "listen"), &string("127.0.0.1:5244"));
    assert_eq!(
        array(block, "routes")[1],
        &string("nats-route://ruser:top_secret@127.0.0.1:5246")
    );
    assert_eq!(
        value(map(block, "authorization"), "timeout"),
        &Value::Float(0.5)
    );

    let jetstream = corpus("jetstream.conf");
    let block = map(&jetstream, "jetstream");
    assert_eq!(value(block, "max_memory_store"), &Value::Integer(1 << 30));
    assert_eq!(value(block, "max_file_store"), &Value::Integer(100 << 30));
    assert_eq!(value(block, "sync_interval"), &string("2m"));
    let account = map(map(map(&jetstream, "accounts"), "JS"), "jetstream");
    assert_eq!(value(account, "max_mem"), &Value::Integer(512_000_000));
    assert_eq!(
        value(account, "max_file"),
        &Value::Integer(1_000_000_000_000)
    );
    assert_eq!(value(account, "max_streams"), &Value::Integer(-1));

    let leaf = corpus("leafnodes.conf");
    let remotes = array(map(&leaf, "leafnodes"), "remotes");
    assert_eq!(remotes.len(), 2);
    assert_eq!(array(&nth_map(&remotes, 0), "urls").len(), 2);
    assert_eq!(value(&nth_map(&remotes, 1), "hub"), &Value::Bool(true));

    let edge = corpus("websocket_mqtt.conf");
    assert_eq!(value(&edge, "jetstream"), &string("enabled"));
    assert_eq!(
        value(map(&edge, "websocket"), "port"),
        &Value::Integer(8080)
    );
    assert_eq!(value(map(&edge, "mqtt"), "ack_wait"), &string("1m"));

    let variables = corpus("variables.conf");
    assert_eq!(value(&variables, "port"), &Value::Integer(4222));
    assert_eq!(value(&variables, "MONITOR_PORT"), &Value::Integer(4222));
    assert_eq!(value(&variables, "host"), &string("127.0.0.1"));
    let block = map(&variables, "cluster");
    assert_eq!(
        value(map(block, "authorization"), "password"),
        &string("s3cr3t")
    );
    assert_eq!(array(block, "routes").len(), 2);
    let user = nth_map(&array(map(&variables, "authorization"), "users"), 0);
    assert_eq!(array(map(&user, "permissions"), "publish").len(), 2);

    let odd = corpus("odd_formatting.conf");
    assert_eq!(value(&odd, "listen"), &string("0.0.0.0:4222"));
    assert_eq!(value(&odd, "server_name"), &string("odd"));
    assert_eq!(value(&odd, "debug"), &Value::Bool(true));
    assert_eq!(value(&odd, "trace"), &Value::Bool(false));
    assert_eq!(value(&odd, "max_payload"), &Value::Integer(2 << 20));
    assert_eq!(
        value(map(&odd, "authorization"), "timeout"),
        &Value::Integer(2)
    );
    assert_eq!(array(map(&odd, "cluster"), "routes").len(), 3);
    assert_eq!(
        value(&odd, "motd"),
        &string("\nWelcome to natrix.\n  (Be nice.)\n")
    );
    assert_eq!(
        value(&odd, "when"),
        &Value::Datetime("2024-02-29T23:59:59Z".to_string())
    );
    assert_eq!(value(&odd, "ratio"), &Value::Float(0.75));

    let includes = corpus("includes.conf");
    assert_eq!(value(&includes, "server_name"), &string("included_name"));
    let block = map(&includes, "authorization");
    assert_eq!(value(block, "BOB_PASS"), &string("b0bpass"));
    let alice = nth_map(&array(block, "users"), 0);
    assert!(matches!(value(&alice, "password"), Value::String(s) if s.starts_with("$2a$")));
    assert_eq!(value(block, "timeout"), &Value::Float(0.5));

    let gateways = corpus("gateways.conf");
    let list = array(map(&gateways, "gateway"), "gateways");
    assert_eq!(array(&nth_map(&list, 1), "urls").len(), 2);

    let operator = corpus("operator.conf");
    assert_eq!(value(&operator, "resolver"), &string("MEMORY"));
    assert_eq!(map(&operator, "resolver_preload").entries.len(), 1);

    let limits = corpus("limits_and_units.conf");
    assert_eq!(value(&limits, "max_payload"), &Value::Integer(8 << 20));
    assert_eq!(value(&limits, "max_pending"), &Value::Integer(64 << 20));
    assert_eq!(value(&limits, "max_connections"), &Value::Integer(10_000));
    assert_eq!(value(&limits, "ping_interval"), &string("2m30s"));
    assert_eq!(
        value(map(&limits, "jetstream"), "max_file_store"),
        &Value::Integer(1 << 40)
    );
    let account_limits = map(map(map(&limits, "accounts"), "A"), "limits");
    assert_eq!(value(account_limits, "max_payload"), &Value::Integer(1024));
}

#[test]
fn separator_at_the_very_end_gives_an_empty_string_as_in_go() {
    let config = parse("port: 4222\nserver_name =");
    assert_eq!(value(&config, "server_name"), &string(""));
}

#[test]
fn braced_top_level_value_needs_a_newline_before_the_end_of_file() {
    let error = parse_error("{ port: 4222");
    assert_error_at(
        &error,
        1,
        13,
        "Expected a block-level value to end with a new line",
    );
}
