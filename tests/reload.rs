//! Config reload on SIGHUP, against the Go server and Natrix from the same files: removed users
//! are disconnected, a changed password is an authorization violation, narrowed permissions
//! drop subscriptions, new users and limits take effect, and a change the Go server cannot
//! reload is refused while the server keeps running.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{RawClient, TestServer};

fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("natrix-reload-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write config");
}

fn hangup(server: &TestServer) {
    // SAFETY: kill(2) on our own child's pid; no memory is involved.
    let result = unsafe { libc::kill(server.pid() as i32, libc::SIGHUP) };
    assert_eq!(result, 0, "SIGHUP");
}

fn servers(config: &Path) -> Vec<(&'static str, TestServer)> {
    let path = config.to_str().expect("utf-8 path");
    vec![
        ("go", TestServer::go(&["-c", path])),
        ("natrix", TestServer::natrix(2, &["-c", path])),
    ]
}

fn login(server: &TestServer, user: &str) -> RawClient {
    let mut client = RawClient::connect(server.port);
    client.send(
        format!(
            "CONNECT {{\"verbose\":false,\"user\":\"{user}\",\"pass\":\"{user}\"}}\r\nPING\r\n"
        )
        .as_bytes(),
    );
    client.expect(b"PONG\r\n");
    client
}

/// Waits until `log` reports the reload (both servers log `Reloaded server configuration`).
fn wait_for_log(server: &TestServer, needle: &str) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::time::Instant::now() < deadline {
        if let Ok(line) = server.log.recv_timeout(Duration::from_millis(100)) {
            if line.contains(needle) {
                return true;
            }
        }
    }
    false
}

const TWO_USERS: &str = r#"
authorization {
  users: [
    {user: alice, password: alice}
    {user: bob, password: bob, permissions: {subscribe: "orders.>"}}
  ]
}
"#;

const ALICE_AND_CAROL: &str = r#"
authorization {
  users: [
    {user: alice, password: alice}
    {user: carol, password: carol}
  ]
}
"#;

#[test]
fn a_removed_user_is_disconnected_and_a_new_user_can_log_in() {
    let dir = temp_dir("users");
    let config = dir.join("users.conf");
    write(&config, TWO_USERS);
    for (name, server) in servers(&config) {
        let mut alice = login(&server, "alice");
        let mut bob = login(&server, "bob");
        write(&config, ALICE_AND_CAROL);
        hangup(&server);
        assert!(
            wait_for_log(&server, "Reloaded server configuration"),
            "{name}"
        );
        // Go closes a client whose user is gone without a word (it reconnects and
        // authenticates afresh).
        assert!(
            bob.wait_closed(Duration::from_secs(2)),
            "{name}: bob is disconnected"
        );
        alice.send(b"PING\r\n");
        alice.expect(b"PONG\r\n");
        login(&server, "carol");
        let mut again = RawClient::connect(server.port);
        again.send(b"CONNECT {\"verbose\":false,\"user\":\"bob\",\"pass\":\"bob\"}\r\nPING\r\n");
        let (bytes, closed) = again.read_until_pong_or_close(Duration::from_secs(2));
        assert_eq!(
            String::from_utf8_lossy(&bytes),
            "-ERR 'Authorization Violation'\r\n",
            "{name}"
        );
        assert!(closed, "{name}");
        write(&config, TWO_USERS);
    }
}

#[test]
fn a_changed_password_is_an_authorization_violation() {
    let dir = temp_dir("password");
    let config = dir.join("password.conf");
    write(&config, TWO_USERS);
    for (name, server) in servers(&config) {
        let mut alice = login(&server, "alice");
        write(
            &config,
            &TWO_USERS.replace(
                "{user: alice, password: alice}",
                "{user: alice, password: new}",
            ),
        );
        hangup(&server);
        assert!(
            wait_for_log(&server, "Reloaded server configuration"),
            "{name}"
        );
        let (bytes, closed) = alice.read_until_quiet(Duration::from_millis(500));
        assert_eq!(
            String::from_utf8_lossy(&bytes),
            "-ERR 'Authorization Violation'\r\n",
            "{name}"
        );
        assert!(closed, "{name}");
        write(&config, TWO_USERS);
    }
}

#[test]
fn narrowed_permissions_remove_subscriptions_they_no_longer_allow() {
    let dir = temp_dir("permissions");
    let config = dir.join("permissions.conf");
    write(&config, TWO_USERS);
    for (name, server) in servers(&config) {
        let mut bob = login(&server, "bob");
        bob.send(b"SUB orders.new 1\r\nSUB orders.old 2\r\nPING\r\n");
        bob.expect(b"PONG\r\n");
        write(
            &config,
            &TWO_USERS.replace(r#"subscribe: "orders.>""#, r#"subscribe: "orders.new""#),
        );
        hangup(&server);
        assert!(
            wait_for_log(&server, "Reloaded server configuration"),
            "{name}"
        );
        let (bytes, closed) = bob.read_until_quiet(Duration::from_millis(500));
        assert_eq!(
            String::from_utf8_lossy(&bytes),
            "-ERR 'Permissions Violation for Subscription to \"orders.old\" (sid \"2\")'\r\n",
            "{name}"
        );
        assert!(!closed, "{name}: the connection stays");
        let mut alice = login(&server, "alice");
        alice.send(b"PUB orders.old 3\r\nold\r\nPUB orders.new 3\r\nnew\r\nPING\r\n");
        alice.expect(b"PONG\r\n");
        bob.send(b"PING\r\n");
        let (bytes, _) = bob.read_until_pong_or_close(Duration::from_secs(2));
        assert_eq!(
            String::from_utf8_lossy(&bytes),
            "MSG orders.new 1 3\r\nnew\r\nPONG\r\n",
            "{name}: only the still-allowed subscription receives"
        );
        write(&config, TWO_USERS);
    }
}

#[test]
fn reloaded_limits_reach_new_connections() {
    let dir = temp_dir("limits");
    let config = dir.join("limits.conf");
    write(&config, "max_payload: 1MB\n");
    for (name, server) in servers(&config) {
        write(&config, "max_payload: 2KB\n");
        hangup(&server);
        assert!(
            wait_for_log(&server, "Reloaded server configuration"),
            "{name}"
        );
        let client = RawClient::connect(server.port);
        assert_eq!(client.info["max_payload"], 2048, "{name}");
        write(&config, "max_payload: 1MB\n");
    }
}

#[test]
fn a_change_that_needs_a_restart_is_refused_and_the_server_keeps_running() {
    let dir = temp_dir("refused");
    let config = dir.join("refused.conf");
    write(&config, "server_name: first\n");
    let server = TestServer::natrix(1, &["-c", config.to_str().expect("utf-8")]);
    write(&config, "server_name: second\n");
    hangup(&server);
    assert!(wait_for_log(
        &server,
        "Failed to reload server configuration: config reload not supported for ServerName"
    ));
    let mut client = RawClient::connect(server.port);
    assert_eq!(client.info["server_name"], "first");
    client.send(b"CONNECT {\"verbose\":false}\r\nPING\r\n");
    client.expect(b"PONG\r\n");
}

#[test]
fn reload_without_a_config_file_is_refused() {
    let server = TestServer::natrix(1, &[]);
    hangup(&server);
    assert!(wait_for_log(
        &server,
        "can only reload config when a file is provided using -c or --config"
    ));
}

/// Monitoring reads the reloaded account table: a connection in an account added by a reload
/// shows up in `/connz` and `/subsz` (this used to index past the start-up table and abort).
#[test]
fn monitoring_sees_accounts_added_by_a_reload() {
    let dir = temp_dir("monitor");
    let config = dir.join("monitor.conf");
    write(
        &config,
        "accounts { A { users: [{user: a, password: a}] } }\n",
    );
    let port = common::free_port().to_string();
    let server = TestServer::natrix(2, &["-c", config.to_str().expect("utf-8"), "-m", &port]);
    let monitor = server.monitor_port.expect("monitor port");
    write(
        &config,
        "accounts {\n  A { users: [{user: a, password: a}] }\n  B { users: [{user: b, password: b}] }\n}\n",
    );
    hangup(&server);
    assert!(wait_for_log(&server, "Reloaded server configuration"));
    let mut b = login(&server, "b");
    b.send(b"SUB in.b 1\r\nPING\r\n");
    b.expect(b"PONG\r\n");
    for path in ["/connz?subs=1", "/subsz?subs=1", "/accountz"] {
        let (status, body) = common::http_get(monitor, path);
        assert_eq!(status, 200, "{path}: {body}");
    }
    let (_, connz) = common::http_get(monitor, "/connz?subs=1");
    assert!(connz.contains("in.b"), "{connz}");
    b.send(b"PING\r\n");
    b.expect(b"PONG\r\n");
}

/// After a reload, `/varz` reports the new limits, digest and load time, and `/connz?acc=` and
/// `/subsz?acc=` find an account the reload added, on Go and Natrix alike (Natrix's monitor
/// used to read copies of the configuration made at start).
#[test]
fn monitoring_reports_the_configuration_a_reload_installed() {
    let dir = temp_dir("monitor-current");
    let config = dir.join("current.conf");
    let before = "max_payload: 1000\nmax_connections: 100\nping_interval: \"30s\"\n\
                  accounts { A { users: [{user: a, password: a}] } }\n";
    let after = "max_payload: 2000\nmax_connections: 50\nping_interval: \"45s\"\n\
                 accounts {\n  A { users: [{user: a, password: a}] }\n  B { users: [{user: b, password: b}] }\n}\n";
    write(&config, before);
    let path = config.to_str().expect("utf-8");
    for (who, server) in [
        (
            "go",
            TestServer::go(&["-c", path, "-m", &common::free_port().to_string()]),
        ),
        (
            "natrix",
            TestServer::natrix(2, &["-c", path, "-m", &common::free_port().to_string()]),
        ),
    ] {
        write(&config, before);
        let monitor = server.monitor_port.expect("monitor port");
        let varz = |monitor: u16| -> serde_json::Value {
            let (status, body) = common::http_get(monitor, "/varz");
            assert_eq!(status, 200, "{who}: {body}");
            serde_json::from_str(&body).expect("json")
        };
        let old = varz(monitor);
        assert_eq!(old["max_payload"], 1000, "{who}");
        // The load time has a resolution of a clock tick; let one pass.
        std::thread::sleep(Duration::from_millis(20));
        write(&config, after);
        hangup(&server);
        assert!(
            wait_for_log(&server, "Reloaded server configuration"),
            "{who}"
        );
        // Go updates its /varz a moment after it logs the reload; poll briefly.
        let deadline = std::time::Instant::now() + Duration::from_secs(3);
        let mut new = varz(monitor);
        while new["max_payload"] != 2000 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
            new = varz(monitor);
        }
        assert_eq!(new["max_payload"], 2000, "{who}");
        assert_eq!(new["max_connections"], 50, "{who}");
        assert_eq!(new["ping_interval"], 45_000_000_000i64, "{who}");
        assert_ne!(new["config_digest"], old["config_digest"], "{who}");
        assert_ne!(new["config_load_time"], old["config_load_time"], "{who}");
        let mut b = login(&server, "b");
        b.send(b"SUB in.b 1\r\nPING\r\n");
        b.expect(b"PONG\r\n");
        let (status, connz) = common::http_get(monitor, "/connz?acc=B");
        assert_eq!(status, 200, "{who}: {connz}");
        let connz: serde_json::Value = serde_json::from_str(&connz).expect("json");
        assert_eq!(connz["num_connections"], 1, "{who}: {connz}");
        let (status, subsz) = common::http_get(monitor, "/subsz?acc=B&subs=1");
        assert_eq!(status, 200, "{who}: {subsz}");
        assert!(subsz.contains("\"in.b\""), "{who}: {subsz}");
    }
}
