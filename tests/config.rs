//! The config file as operators use it: `-c`, `-t`, flags over the file, includes and
//! variables, errors with positions (compared with the Go server's), warnings for Go options
//! Natrix does not implement yet, and the `tuning {}` block's pinning as the kernel sees it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{RawClient, TestServer};

fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("natrix-config-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("dir");
    }
    std::fs::write(&path, text).expect("write");
    path
}

fn run(binary: &str, args: &[&str]) -> std::process::Output {
    Command::new(binary)
        .args(args)
        .env("NATRIX_TEST_LIMIT", "2048")
        .output()
        .expect("run")
}

fn natrix(args: &[&str]) -> std::process::Output {
    run(env!("CARGO_BIN_EXE_natrix"), args)
}

fn go(args: &[&str]) -> std::process::Output {
    run(&common::go_server_binary(), args)
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The INFO a server sends, as JSON.
fn info(server: &TestServer) -> serde_json::Value {
    RawClient::connect(server.port).info
}

#[test]
fn check_mode_accepts_a_valid_file_and_exits_zero() {
    let dir = temp_dir("check");
    let path = write(&dir, "ok.conf", "port: 4999\nmax_payload: 64KB\n");
    let path = path.to_str().expect("utf-8");
    let output = natrix(&["-t", "-c", path]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stderr(&output).contains(&format!("configuration file {path} is valid")));
    let without_file = natrix(&["-t"]);
    assert_eq!(without_file.status.code(), Some(1));
    assert!(stderr(&without_file).contains("must specify [-c, --config]"));
}

#[test]
fn an_unknown_key_is_an_error_at_the_same_position_as_the_go_server() {
    let dir = temp_dir("unknown");
    let path = write(
        &dir,
        "typo.conf",
        "port: 4999\n\nauthorization {\n  user: a\n  pasword: b\n}\nmax_paylod: 10\n",
    );
    let path = path.to_str().expect("utf-8");
    let ours = natrix(&["-t", "-c", path]);
    let theirs = go(&["-t", "-c", path]);
    assert_eq!(ours.status.code(), Some(1), "{}", stderr(&ours));
    assert_ne!(theirs.status.code(), Some(0));
    for needle in [
        format!("{path}:5:3: unknown field \"pasword\""),
        format!("{path}:7:1: unknown field \"max_paylod\""),
    ] {
        assert!(stderr(&theirs).contains(&needle), "go: {}", stderr(&theirs));
        assert!(stderr(&ours).contains(&needle), "natrix: {}", stderr(&ours));
    }
}

/// Syntax errors read exactly as the Go server prints them (`Parse error on line N: '...'` from
/// its lexer, its parser's own texts without a position, includes wrapped the same way), in
/// `-t` and at start-up alike; only the program name before the first colon differs.
#[test]
fn parse_errors_read_as_the_go_server_prints_them() {
    let dir = temp_dir("syntax");
    write(&dir, "broken_include.conf", "b: [1,,]\n");
    let broken = [
        "port: 4222\nfoo = [1, 2\n",
        "port: \"abc\n",
        "authorization {\n  user: a\n",
        "port: 4222\nx: $NATRIX_TEST_SURELY_UNDEFINED\n",
        "include absent.conf\n",
        "port: 1\nfoo  ",
        "a: [1,,2]\n",
        "a = 1.\n",
        "a: 2016-05-04T18:53:41\n",
        "x {\n  a: 1\n  b: ]\n}\n",
        "a: 99999999999999999999\n",
        "include \"broken_include.conf\"\n",
    ];
    for (index, text) in broken.iter().enumerate() {
        let path = write(&dir, &format!("broken{index}.conf"), text);
        let path = path.to_str().expect("utf-8");
        let theirs = go(&["-t", "-c", path]);
        let expected = String::from_utf8_lossy(&theirs.stderr).replacen("nats-server: ", "", 1);
        assert_eq!(theirs.status.code(), Some(1), "go: {text:?}");
        for args in [vec!["-t", "-c", path], vec!["-p", "-1", "-c", path]] {
            let ours = natrix(&args);
            assert_eq!(ours.status.code(), Some(1), "{args:?}");
            let got = stderr(&ours).replacen("natrix: ", "", 1);
            assert_eq!(
                got.trim_end(),
                expected.trim_end(),
                "{text:?} with {args:?}"
            );
        }
    }
}

#[test]
fn flags_override_the_file_and_the_file_overrides_defaults() {
    let dir = temp_dir("override");
    let path = write(
        &dir,
        "server.conf",
        "server_name: from_file\nmax_payload: 512\nport: 4999\n",
    );
    let server = TestServer::natrix(
        1,
        &[
            "-c",
            path.to_str().expect("utf-8"),
            "-n",
            "from_flag",
            "-p",
            "-1",
        ],
    );
    let info = info(&server);
    assert_eq!(info["server_name"], "from_flag");
    assert_eq!(info["max_payload"], 512);
    assert_ne!(info["port"], 4999);
}

#[test]
fn includes_and_variables_resolve_like_the_go_server() {
    let dir = temp_dir("include");
    // Both servers inherit the environment of this test process.
    std::env::set_var("NATRIX_TEST_LIMIT", "2048");
    write(
        &dir,
        "limits/payload.conf",
        "max_payload: $NATRIX_TEST_LIMIT\n",
    );
    let path = write(
        &dir,
        "main.conf",
        "NAME: included\nserver_name: $NAME\ninclude ./limits/payload.conf\n",
    );
    let path = path.to_str().expect("utf-8");
    for (who, server) in [
        ("go", TestServer::go(&["-c", path])),
        ("natrix", TestServer::natrix(1, &["-c", path])),
    ] {
        let info = info(&server);
        assert_eq!(info["server_name"], "included", "{who}");
        assert_eq!(info["max_payload"], 2048, "{who}");
    }
}

#[test]
fn go_options_natrix_lacks_are_named_in_warnings_at_start() {
    let dir = temp_dir("unsupported");
    let path = write(
        &dir,
        "later.conf",
        "mqtt {\n  port: 1883\n}\nleafnodes {\n  port: 7422\n}\n",
    );
    let server = TestServer::natrix(1, &["-c", path.to_str().expect("utf-8")]);
    for key in ["mqtt", "leafnodes"] {
        assert!(
            server.startup_log.iter().any(|line| line.contains("[WRN]")
                && line.contains(&format!("{key:?} is not supported by Natrix yet"))),
            "no warning names {key}: {:#?}",
            server.startup_log
        );
    }
}

#[test]
fn a_misspelled_key_inside_jetstream_is_an_error() {
    let dir = temp_dir("jetstream");
    let path = write(&dir, "js.conf", "jetstream {\n  max_memory_stor: 1G\n}\n");
    let output = natrix(&["-t", "-c", path.to_str().expect("utf-8")]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("2:3: unknown field \"max_memory_stor\""));
}

/// The CPU each shard thread may run on, from the kernel (`sched_getaffinity` as
/// `/proc/PID/task/TID/status` reports it), by shard number.
fn shard_cpus(pid: u32) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).expect("tasks") {
        let task = task.expect("task").path();
        let name = std::fs::read_to_string(task.join("comm")).unwrap_or_default();
        let Some(shard) = name.trim().strip_prefix("natrix-shard-") else {
            continue;
        };
        let status = std::fs::read_to_string(task.join("status")).expect("status");
        let allowed = status
            .lines()
            .find_map(|line| line.strip_prefix("Cpus_allowed_list:"))
            .expect("Cpus_allowed_list")
            .trim()
            .to_string();
        found.push((shard.parse().expect("shard number"), allowed));
    }
    found.sort();
    found
}

#[test]
fn the_tuning_block_pins_each_shard_where_the_file_says() {
    let cpus = std::thread::available_parallelism().map_or(1, |count| count.get());
    if cpus < 2 {
        eprintln!("one CPU: nothing to reorder");
        return;
    }
    let dir = temp_dir("tuning");
    let path = write(
        &dir,
        "tuning.conf",
        "tuning {\n  shards: 2\n  cpus: \"1,0\"\n  io_uring_entries: 256\n}\n",
    );
    // The test harness passes --shards; the file decides the CPUs.
    let server = TestServer::natrix(2, &["-c", path.to_str().expect("utf-8")]);
    assert_eq!(
        shard_cpus(server.pid()),
        vec![(0, "1".to_string()), (1, "0".to_string())]
    );
    assert!(server
        .startup_log
        .iter()
        .any(|line| line.contains("Shards:   2 (0->cpu1 1->cpu0)")));
}

#[test]
fn avoid_cpus_keeps_automatic_pinning_off_those_cpus() {
    let cpus = std::thread::available_parallelism().map_or(1, |count| count.get());
    if cpus < 2 {
        eprintln!("one CPU: nothing to avoid");
        return;
    }
    let dir = temp_dir("avoid");
    let path = write(&dir, "avoid.conf", "tuning {\n  avoid_cpus: \"0\"\n}\n");
    let output = Command::new(env!("CARGO_BIN_EXE_natrix"))
        .args([
            "-a",
            "127.0.0.1",
            "-p",
            "-1",
            "-c",
            path.to_str().expect("utf-8"),
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid = output.id();
    let mut child = output;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut pinned = Vec::new();
    while std::time::Instant::now() < deadline {
        pinned = shard_cpus(pid);
        if pinned.len() == cpus - 1 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: kill(2) on our own child's pid.
    unsafe {
        libc::kill(pid as i32, libc::SIGINT);
    }
    let _ = child.wait();
    assert_eq!(pinned.len(), cpus - 1, "one shard per CPU except CPU 0");
    assert!(pinned.iter().all(|(_, cpu)| cpu != "0"), "{pinned:?}");
}

#[test]
fn bad_tuning_values_are_errors_with_their_position() {
    let dir = temp_dir("badtuning");
    let path = write(
        &dir,
        "bad.conf",
        "tuning {\n  shards: 0\n  cpus: \"3-1\"\n}\n",
    );
    let output = natrix(&["-t", "-c", path.to_str().expect("utf-8")]);
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    assert!(text.contains("2:11: shards must be"), "{text}");
    assert!(text.contains("3:9: bad CPU range"), "{text}");
}

/// Settings whose loss would open the server (the parts of operator mode not built yet, auth
/// callout...): each one stops `-t` and start-up with exit code 1 and an error that names
/// it, instead of a server without the authentication the file asks for.
#[test]
fn settings_that_would_weaken_authentication_refuse_check_and_start() {
    let dir = temp_dir("failclosed");
    let operator_key = nkeys::KeyPair::new_operator().public_key();
    let account_key = nkeys::KeyPair::new_account().public_key();
    let cases: &[(&str, String, &str)] = &[
        (
            "url_resolver",
            format!("trusted_keys: [\"{operator_key}\"]\nresolver: \"URL(http://127.0.0.1:9/accounts/)\"\n"),
            "resolver",
        ),
        (
            "full_resolver",
            format!("trusted_keys: [\"{operator_key}\"]\nresolver {{ type: full, dir: \"/tmp/natrix-jwt\" }}\n"),
            "resolver",
        ),
        (
            "pinned_accounts",
            format!("trusted_keys: [\"{operator_key}\"]\nresolver: MEMORY\nresolver_pinned_accounts: [\"{account_key}\"]\n"),
            "resolver_pinned_accounts",
        ),
        (
            "auth_callout",
            "authorization {\n  users: [{user: auth, password: pw}]\n  auth_callout {\n    issuer: ABJHLOVMPA4CI6R5KLNGOB4GSLNIY7IOUPAJC4YFNDLQVIOBYQGUWVLA\n    auth_users: [auth]\n  }\n}\n".into(),
            "auth_callout",
        ),
        (
            "proxy_required",
            "authorization {\n  users: [{user: a, password: b, proxy_required: true}]\n}\n".into(),
            "proxy_required",
        ),
        (
            "account_token_position",
            "accounts {\n  A { exports: [{service: \"svc.*\", account_token_position: 2}] }\n  B { }\n}\n".into(),
            "account_token_position",
        ),
    ];
    for (name, text, key) in cases {
        let path = write(&dir, &format!("{name}.conf"), text);
        let path = path.to_str().expect("utf-8");
        for args in [
            vec!["-t", "-c", path],
            vec!["-a", "127.0.0.1", "-p", "-1", "-c", path],
        ] {
            let output = natrix(&args);
            let text = stderr(&output);
            assert_eq!(output.status.code(), Some(1), "{args:?}: {text}");
            assert!(
                text.contains(&format!("option {key:?}"))
                    && text.contains("would weaken authentication or authorization"),
                "{args:?}: {text}"
            );
            assert!(!text.contains("Server is ready"), "{args:?}: {text}");
        }
    }
}
