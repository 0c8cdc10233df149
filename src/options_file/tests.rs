//! The config reader's unit tests: each block from text to settings, with Go's errors.

use std::path::Path;
use std::time::Duration;

use natrix_shards::options::ResponseType;

use super::values::parse_go_duration;
use super::Reader;
use crate::config;
use crate::flags::Settings;

/// Maps `text` as a config file; Ok(settings, warnings) or Err(error lines).
fn read(text: &str) -> Result<(Settings, Vec<String>), Vec<String>> {
    let map =
        config::parse_str(text, Path::new("test.conf")).map_err(|error| vec![error.to_string()])?;
    let mut settings = Settings::default();
    let mut reader = Reader::default();
    reader.top_level(&map, &mut settings);
    reader.finish(&mut settings);
    if reader.errors.is_empty() {
        Ok((settings, reader.warnings))
    } else {
        Err(reader.errors)
    }
}

#[test]
fn core_options_take_units_durations_and_listen_forms() {
    let (settings, warnings) = read(
        "listen: 127.0.0.1:4333\nmax_payload: 2MB\nmax_pending: 64KB\n\
         ping_interval: \"30s\"\nwrite_deadline: 5\nmax_connections: 0\ndebug: true\n",
    )
    .expect("valid");
    let options = &settings.options;
    assert_eq!(options.host, "127.0.0.1");
    assert_eq!(options.port, 4333);
    assert_eq!(options.max_payload, 2 * 1024 * 1024);
    assert_eq!(options.max_pending, 64 * 1024);
    assert_eq!(options.ping_interval, Duration::from_secs(30));
    assert_eq!(options.write_deadline, Duration::from_secs(5));
    assert_eq!(options.max_connections, usize::MAX);
    assert!(settings.debug);
    assert_eq!(warnings.len(), 1, "a bare number of seconds is deprecated");
    assert!(warnings[0].contains("write_deadline should be converted to a duration"));
}

#[test]
fn authorization_users_permissions_and_defaults() {
    let (settings, _) = read(
        r#"
authorization {
  default_permissions { publish: "public.>" }
  users: [
{user: alice, password: "$2a$11$abcdefghijklmnopqrstuuQ8zDo5JXJXbVqRrF4zL7cZ0ssc3XlcW"}
{user: bob, password: pw, permissions: {
    publish: {allow: ["orders.*"], deny: "orders.secret"}
    subscribe: ["replies.>", "work.* workers"]
    allow_responses: {max: 3, expires: "1m"}
}}
  ]
  timeout: 1.5
}
"#,
    )
    .expect("valid");
    let auth = &settings.options.auth;
    assert_eq!(auth.users.len(), 2);
    assert!(auth.users[0].password.starts_with("$2a$11$"));
    let alice = auth.users[0]
        .permissions
        .as_ref()
        .expect("defaults applied");
    assert_eq!(
        alice.publish.as_ref().and_then(|p| p.allow.clone()),
        Some(vec!["public.>".to_string()])
    );
    let bob = auth.users[1].permissions.as_ref().expect("own permissions");
    let publish = bob.publish.as_ref().expect("publish");
    assert_eq!(publish.deny, Some(vec!["orders.secret".to_string()]));
    let response = bob.response.as_ref().expect("responses");
    assert_eq!(
        (response.max_msgs, response.expires),
        (3, Duration::from_secs(60))
    );
    assert_eq!(auth.timeout, Some(Duration::from_millis(1500)));
}

#[test]
fn allow_responses_alone_allows_publishing_only_responses() {
    let (settings, _) = read(
        "authorization { users: [{user: s, password: s, permissions: {allow_responses: true}}] }",
    )
    .expect("valid");
    let permissions = settings.options.auth.users[0]
        .permissions
        .clone()
        .expect("permissions");
    assert_eq!(
        permissions.publish.and_then(|publish| publish.allow),
        Some(Vec::new())
    );
}

#[test]
fn conflicting_authorization_settings_are_errors_like_the_go_server() {
    let errors = read("authorization { user: a, password: b, token: c }").unwrap_err();
    assert!(
        errors[0].contains("Cannot have a user/pass and token"),
        "{errors:?}"
    );
    let errors = read("authorization { user: a, users: [{user: b, password: c}] }").unwrap_err();
    assert!(
        errors[0].contains("Can not have a single user/pass and a users array"),
        "{errors:?}"
    );
    let errors = read(
        "authorization { users: [{user: a, password: b}] }\naccounts { A { users: [{user: a, password: c}] } }",
    )
    .unwrap_err();
    assert!(
        errors[0].contains("Duplicate user \"a\" detected"),
        "{errors:?}"
    );
    let errors = read("no_auth_user: ghost").unwrap_err();
    assert!(
        errors[0].contains("no_auth_user: \"ghost\" not present"),
        "{errors:?}"
    );
}

#[test]
fn accounts_bind_users_and_check_imports() {
    let (settings, _) = read(
        r#"
accounts {
  A { users: [{user: a, password: a}], exports: [{stream: "x.>"}, {service: "q", response: stream}] }
  B { imports: [{stream: {account: A, subject: "x.>"}, prefix: p}, {service: {account: A, subject: q}, to: ask}] }
}
system_account: A
"#,
    )
    .expect("valid");
    let options = &settings.options;
    assert_eq!(options.accounts.len(), 2);
    assert_eq!(options.auth.users[0].account.as_deref(), Some("A"));
    assert_eq!(
        options.accounts[0].exports[1].response_type,
        ResponseType::Stream
    );
    assert_eq!(options.accounts[1].imports[0].prefix.as_deref(), Some("p"));
    assert_eq!(options.accounts[1].imports[1].to.as_deref(), Some("ask"));
    assert_eq!(options.system_account.as_deref(), Some("A"));
    let errors =
        read("accounts { B { imports: [{stream: {account: Z, subject: x}}] } }").unwrap_err();
    assert!(
        errors[0].contains("\"Z\" account not defined for stream import"),
        "{errors:?}"
    );
    let errors = read("accounts { $G { } }").unwrap_err();
    assert!(errors[0].contains("Reserved Account"), "{errors:?}");
}

#[test]
fn mappings_take_plain_and_weighted_destinations() {
    let (settings, _) = read(
        r#"
mappings {
  "a.*": "b.$1"
  "w": [{destination: "w.1", weight: "40%"}, {destination: "w.2", weight: 60}]
}
"#,
    )
    .expect("valid");
    let mappings = &settings.options.mappings;
    assert_eq!(mappings[0].destinations[0].subject, "b.$1");
    assert_eq!(mappings[1].destinations[0].weight, 40);
    let errors = read(
        r#"mappings { "w": [{destination: "x", weight: 70}, {destination: "y", weight: 40}] }"#,
    )
    .unwrap_err();
    assert!(
        errors[0].contains("total weight needs to be <= 100"),
        "{errors:?}"
    );
    let errors = read(r#"mappings { "a.*": "b.$2" }"#).unwrap_err();
    assert!(errors[0].contains("out of range"), "{errors:?}");
}

#[test]
fn unknown_keys_are_errors_unless_used_as_variables() {
    let errors = read("prot: 4222").unwrap_err();
    assert_eq!(
        errors,
        vec!["test.conf:1:1: unknown field \"prot\"".to_string()]
    );
    let (settings, _) = read("SECRET: s3cr3t\nauthorization { token: $SECRET }").expect("valid");
    assert_eq!(settings.options.auth.token.as_deref(), Some("s3cr3t"));
}

#[test]
fn go_options_not_implemented_yet_are_warnings_that_name_them() {
    let (settings, warnings) =
        read("mqtt { port: 1883 }\njetstream { store_dir: \"/data\", max_mem: 1G }\ncluster { name: c, listen: 0.0.0.0:6222 }")
            .expect("valid");
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings[0].contains("\"mqtt\" is not supported by Natrix yet"));
    let jetstream = settings.options.jetstream.expect("parsed");
    assert!(jetstream.enabled);
    assert_eq!(jetstream.store_dir.as_deref(), Some("/data"));
    assert_eq!(jetstream.max_memory, Some(1_000_000_000));
    assert_eq!(settings.options.cluster.expect("parsed").port, Some(6222));
}

#[test]
fn settings_that_would_weaken_auth_are_errors_and_harmless_forms_are_not() {
    for text in [
        "resolver: \"URL(http://127.0.0.1:9090/jwt/v1/accounts/)\"",
        "resolver { type: full, dir: /tmp/jwt }",
        "resolver_pinned_accounts: [x]",
        "default_sentinel: x",
        "authorization { auth_callout { issuer: x } }",
        "authorization { users: [{user: a, password: b, proxy_required: true}] }",
        "tls { cert_file: c, key_file: k, ocsp_peer: true }",
    ] {
        let errors = read(text).unwrap_err();
        assert!(
            errors
                .iter()
                .any(|error| error.contains("would weaken authentication")),
            "{text}: {errors:?}"
        );
    }
    // Operator mode's keys with bad values are errors too (never an open server).
    for (text, expected) in [
        ("operator: x", "error parsing operator JWT"),
        (
            "trusted: [x]",
            "required to be a valid public operator nkey",
        ),
        ("resolver_preload: { A: x }", "invalid account JWT"),
    ] {
        let errors = read(text).unwrap_err();
        assert!(
            errors.iter().any(|error| error.contains(expected)),
            "{text}: {errors:?}"
        );
    }
    let (_, warnings) =
        read("authorization { users: [{user: a, password: b, proxy_required: false}] }")
            .expect("proxy_required: false asks for nothing");
    assert!(warnings.is_empty(), "{warnings:?}");
    let errors = read("tls { cert_file: c, key_file: k, verify_cert_and_check_known_urls: true }")
        .unwrap_err();
    assert!(
        errors[0].contains("verify_cert_and_check_known_urls not supported in this context"),
        "{errors:?}"
    );
}

#[test]
fn go_durations_parse_like_time_parse_duration() {
    assert_eq!(parse_go_duration("10s"), Ok(Duration::from_secs(10)));
    assert_eq!(parse_go_duration("1.5h"), Ok(Duration::from_secs(5400)));
    assert_eq!(parse_go_duration("2h45m"), Ok(Duration::from_secs(9900)));
    assert_eq!(parse_go_duration("300ms"), Ok(Duration::from_millis(300)));
    assert_eq!(parse_go_duration("0"), Ok(Duration::ZERO));
    assert!(parse_go_duration("10")
        .unwrap_err()
        .to_string()
        .contains("missing unit"));
    assert!(parse_go_duration("1d")
        .unwrap_err()
        .to_string()
        .contains("unknown unit"));
    assert!(parse_go_duration("").is_err());
}

#[test]
fn exports_and_imports_are_arrays_of_typed_maps_with_go_errors() {
    for (text, expected) in [
        (
            "accounts {\n  A {\n    exports: \"x\"\n  }\n}\n",
            "Exports should be an array, got a string",
        ),
        (
            "accounts {\n  A {\n    exports: [\"x\"]\n  }\n}\n",
            "Export Items should be a map with type entry, got a string",
        ),
        (
            "accounts {\n  A {\n    exports: [{stream: x, service: y}]\n  }\n}\n",
            "Detected service but already saw a stream",
        ),
        (
            "accounts {\n  A {\n    imports: {}\n  }\n}\n",
            "Imports should be an array, got a map",
        ),
        (
            "accounts {\n  A {\n    imports: [true]\n  }\n}\n",
            "Import Items should be a map with type entry, got a boolean",
        ),
        (
            "accounts {\n  A {\n    exports: [{service: x}]\n  }\n  B {\n    imports: [{service: {account: A, subject: x}, stream: {account: A, subject: x}}]\n  }\n}\n",
            "Detected stream but already saw a service",
        ),
    ] {
        let errors = read(text).unwrap_err();
        assert!(
            errors.iter().any(|error| error.contains(expected)),
            "{text}: {errors:?}"
        );
    }
}

#[test]
fn handshake_first_takes_go_booleans_auto_and_durations() {
    let dir = std::env::temp_dir().join(format!("natrix-handshake-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let certificate =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("certificate");
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, certificate.cert.pem()).expect("cert");
    std::fs::write(&key, certificate.signing_key.serialize_pem()).expect("key");
    let read_tls = |value: &str| {
        read(&format!(
            "tls {{\n  cert_file: \"{}\"\n  key_file: \"{}\"\n  handshake_first: {value}\n}}\n",
            cert.display(),
            key.display()
        ))
    };
    for (value, first, fallback) in [
        ("true", true, None),
        ("false", false, None),
        ("auto", true, Some(Duration::from_millis(50))),
        ("\"300ms\"", true, Some(Duration::from_millis(300))),
        // Go: a zero delay is no fallback.
        ("\"0s\"", true, None),
    ] {
        let (settings, _) = read_tls(value).unwrap_or_else(|errors| panic!("{value}: {errors:?}"));
        let tls = settings.options.tls.expect("tls");
        assert_eq!(
            (tls.handshake_first, tls.handshake_first_fallback),
            (first, fallback),
            "{value}"
        );
    }
    let errors = read_tls("\"soon\"").expect_err("not a duration");
    assert!(
        errors
            .iter()
            .any(|error| error.contains("field \"handshake_first\"'s value \"soon\" is invalid")),
        "{errors:?}"
    );
}
