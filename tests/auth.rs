//! Authentication and authorization end to end: every method against a real Natrix process,
//! with the official Rust client and with raw bytes, and the raw scripts compared byte for byte
//! with the Go server started with the same flags or the same config file.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use base64::Engine;
use common::{RawClient, TestServer};

/// A config file in the temp dir, removed on drop.
struct ConfigFile(PathBuf);

impl ConfigFile {
    fn new(name: &str, text: &str) -> ConfigFile {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let sequence = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "natrix-auth-{}-{name}-{sequence}.conf",
            std::process::id()
        ));
        std::fs::write(&path, text).expect("write config");
        ConfigFile(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("utf-8 temp path")
    }
}

impl Drop for ConfigFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Sends `script` on a fresh connection and returns everything the server answers up to the
/// PONG (or the close, marked `<closed>`), and the INFO it sent.
fn run(port: u16, script: &str) -> (serde_json::Value, String) {
    let mut client = RawClient::connect(port);
    client.send(script.as_bytes());
    let (bytes, closed) = client.read_until_pong_or_close(Duration::from_secs(10));
    let mut reply = String::from_utf8_lossy(&bytes).into_owned();
    if closed {
        reply.push_str("<closed>");
    }
    (client.info.clone(), reply)
}

/// Runs each script against both servers and asserts the replies are the same bytes; returns
/// Natrix's replies for further checks.
fn same_replies(go: &TestServer, natrix: &TestServer, scripts: &[&str]) -> Vec<String> {
    let mut mismatches = Vec::new();
    let mut replies = Vec::new();
    for script in scripts {
        let ((go_info, go_reply), (natrix_info, natrix_reply)) = std::thread::scope(|scope| {
            let go_port = go.port;
            let go_run = scope.spawn(move || run(go_port, script));
            let natrix_run = run(natrix.port, script);
            (go_run.join().expect("go script"), natrix_run)
        });
        if go_reply != natrix_reply {
            mismatches.push(format!(
                "{script:?}:\n  go:     {go_reply:?}\n  natrix: {natrix_reply:?}"
            ));
        }
        for key in ["auth_required", "tls_required"] {
            if go_info.get(key) != natrix_info.get(key) {
                mismatches.push(format!(
                    "INFO {key}: go {:?} natrix {:?}",
                    go_info.get(key),
                    natrix_info.get(key)
                ));
            }
        }
        let nonce_len = |info: &serde_json::Value| info["nonce"].as_str().map(str::len);
        if nonce_len(&go_info) != nonce_len(&natrix_info) {
            mismatches.push(format!(
                "INFO nonce: go {} natrix {}",
                go_info["nonce"], natrix_info["nonce"]
            ));
        }
        replies.push(natrix_reply);
    }
    assert!(
        mismatches.is_empty(),
        "replies differ:\n{}",
        mismatches.join("\n")
    );
    replies
}

const VIOLATION: &str = "-ERR 'Authorization Violation'\r\n<closed>";

// ----- single user, token: flags ------------------------------------------------------------

#[test]
fn user_and_password_flags_admit_only_the_right_credentials_like_go() {
    let args = ["--user", "derek", "--pass", "porkchop"];
    let go = TestServer::go(&args);
    let natrix = TestServer::natrix(2, &args);
    let replies = same_replies(
        &go,
        &natrix,
        &[
            "CONNECT {\"verbose\":false,\"user\":\"derek\",\"pass\":\"porkchop\"}\r\nSUB a 1\r\nPUB a 1\r\nx\r\nPING\r\n",
            "CONNECT {\"verbose\":true,\"user\":\"derek\",\"pass\":\"porkchop\"}\r\nPING\r\n",
            "CONNECT {\"verbose\":false,\"user\":\"derek\",\"pass\":\"wrong\"}\r\nPING\r\n",
            "CONNECT {\"verbose\":false,\"user\":\"other\",\"pass\":\"porkchop\"}\r\nPING\r\n",
            "CONNECT {\"verbose\":false}\r\nPING\r\n",
            "CONNECT {\"verbose\":false,\"auth_token\":\"porkchop\"}\r\nPING\r\n",
            "PING\r\n",
            "SUB foo 1\r\n",
            "connect {\"verbose\":false,\"user\":\"derek\",\"pass\":\"porkchop\"}\r\nping\r\n",
            // A second CONNECT authenticates again.
            "CONNECT {\"verbose\":false,\"user\":\"derek\",\"pass\":\"porkchop\"}\r\nCONNECT {\"user\":\"derek\",\"pass\":\"x\"}\r\nPING\r\n",
        ],
    );
    assert_eq!(replies[0], "MSG a 1 1\r\nx\r\nPONG\r\n");
    assert_eq!(replies[2], VIOLATION);
    assert_eq!(replies[6], VIOLATION);
}

#[test]
fn token_flag_admits_only_the_token_like_go() {
    let args = ["--auth", "s3cr3t"];
    let go = TestServer::go(&args);
    let natrix = TestServer::natrix(1, &args);
    let replies = same_replies(
        &go,
        &natrix,
        &[
            "CONNECT {\"verbose\":false,\"auth_token\":\"s3cr3t\"}\r\nPING\r\n",
            "CONNECT {\"verbose\":false,\"auth_token\":\"nope\"}\r\nPING\r\n",
            "CONNECT {\"verbose\":false,\"user\":\"s3cr3t\",\"pass\":\"s3cr3t\"}\r\nPING\r\n",
            "PUB a 1\r\nx\r\n",
        ],
    );
    assert_eq!(replies[0], "PONG\r\n");
    assert_eq!(replies[1], VIOLATION);
}

#[test]
fn bcrypt_password_and_token_are_checked_against_the_hash() {
    let hash = bcrypt::hash("porkchop", 4).expect("bcrypt");
    let args = ["--user", "derek", "--pass", hash.as_str()];
    let go = TestServer::go(&args);
    let natrix = TestServer::natrix(1, &args);
    let good = "CONNECT {\"verbose\":false,\"user\":\"derek\",\"pass\":\"porkchop\"}\r\nPING\r\n";
    let hash_as_password =
        format!("CONNECT {{\"verbose\":false,\"user\":\"derek\",\"pass\":\"{hash}\"}}\r\nPING\r\n");
    let replies = same_replies(&go, &natrix, &[good, &hash_as_password]);
    assert_eq!(replies, ["PONG\r\n", VIOLATION]);

    let token_hash = bcrypt::hash("t0k3n", 4).expect("bcrypt");
    let natrix = TestServer::natrix(1, &["--auth", &token_hash]);
    let (_, reply) = run(
        natrix.port,
        "CONNECT {\"verbose\":false,\"auth_token\":\"t0k3n\"}\r\nPING\r\n",
    );
    assert_eq!(reply, "PONG\r\n");
}

#[test]
fn clients_without_connect_time_out_after_two_seconds() {
    let natrix = TestServer::natrix(1, &["--user", "a", "--pass", "b"]);
    let mut client = RawClient::connect(natrix.port);
    let started = Instant::now();
    let (bytes, closed) = client.read_until_quiet(Duration::from_secs(4));
    let elapsed = started.elapsed();
    assert_eq!(
        String::from_utf8_lossy(&bytes),
        "-ERR 'Authentication Timeout'\r\n"
    );
    assert!(closed, "closed after the timeout");
    assert!(
        elapsed >= Duration::from_millis(1800) && elapsed < Duration::from_millis(3500),
        "timed out after {elapsed:?}"
    );
}

#[tokio::test]
async fn official_client_authenticates_with_user_password_and_token() {
    let natrix = TestServer::natrix(2, &["--user", "derek", "--pass", "porkchop"]);
    let client =
        async_nats::ConnectOptions::with_user_and_password("derek".into(), "porkchop".into())
            .connect(natrix.url())
            .await
            .expect("right password connects");
    client.flush().await.expect("flush");
    let refused = async_nats::ConnectOptions::with_user_and_password("derek".into(), "nope".into())
        .connect(natrix.url())
        .await;
    assert!(refused.is_err(), "wrong password is refused");

    let natrix = TestServer::natrix(1, &["--auth", "s3cr3t"]);
    let client = async_nats::ConnectOptions::with_token("s3cr3t".into())
        .connect(natrix.url())
        .await
        .expect("right token connects");
    client.flush().await.expect("flush");
    let refused = async_nats::ConnectOptions::with_token("other".into())
        .connect(natrix.url())
        .await;
    assert!(refused.is_err(), "wrong token is refused");
}

#[test]
fn conflicting_auth_options_are_refused_at_start() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_natrix"))
        .args(["-p", "-1", "--user", "a", "--auth", "t"])
        .output()
        .expect("run natrix");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("Cannot have a user/pass and token"),
        "stderr: {stderr}"
    );
}

// ----- config files: users, permissions, nkeys, no_auth_user ---------------------------------

const USERS_CONF: &str = r#"
authorization {
  timeout: 1
  users = [
    {
      user: alice, password: a
      permissions: {
        publish: { allow: ["public.>", "_INBOX.>"], deny: ["public.secret"] }
        subscribe: { allow: ["public.>", "_INBOX.>", "jobs.* workers"], deny: ["public.hidden"] }
      }
    }
    { user: bob, password: b }
    { user: svc, password: s, permissions: { subscribe: { allow: ["requests"] }, allow_responses: true } }
    { user: svc2, password: s, permissions: { subscribe: ["requests"], allow_responses: { max: 2, expires: "1m" } } }
  ]
}
"#;

fn servers_with_config(
    name: &str,
    text: &str,
    shards: usize,
) -> (ConfigFile, TestServer, TestServer) {
    let config = ConfigFile::new(name, text);
    let go = TestServer::go(&["-c", config.path()]);
    let natrix = TestServer::natrix(shards, &["-c", config.path()]);
    (config, go, natrix)
}

fn login(user: &str, password: &str) -> String {
    format!("CONNECT {{\"verbose\":false,\"user\":\"{user}\",\"pass\":\"{password}\"}}\r\n")
}

#[test]
fn users_list_permissions_match_go_byte_for_byte() {
    let (_config, go, natrix) = servers_with_config("users", USERS_CONF, 2);
    let alice = login("alice", "a");
    let scripts = [
        // Publish violations keep the connection open.
        format!("{alice}PUB public.secret 1\r\nx\r\nPUB other 1\r\nx\r\nSUB public.a 1\r\nPUB public.a 1\r\ny\r\nPING\r\n"),
        // Subscribe violations, plain and queue.
        format!("{alice}SUB other 1\r\nSUB public.hidden 2\r\nSUB jobs.a other 3\r\nSUB jobs.a workers 4\r\nSUB jobs.a 5\r\nSUB public.* 6\r\nSUB _INBOX.> q 7\r\nPING\r\n"),
        // A wildcard subscription does not receive denied subjects.
        format!("{alice}SUB public.> 1\r\nPUB public.hidden 1\r\nx\r\nPUB public.ok 1\r\ny\r\nPING\r\n"),
        // Wildcard subscriptions are checked against the allow list as Go's sublist does.
        format!("{alice}SUB public.* 1\r\nSUB > 2\r\nSUB public.> 3\r\nSUB jobs.> workers 4\r\nPING\r\n"),
        format!("{}SUB anything 1\r\nPUB anything 1\r\nx\r\nPING\r\n", login("bob", "b")),
        // allow_responses without publish permissions: nothing may be published unprompted.
        format!("{}PUB anything 1\r\nx\r\nSUB requests 1\r\nSUB other 2\r\nPING\r\n", login("svc", "s")),
        format!("{}PING\r\n", login("alice", "b")),
        format!("{}PING\r\n", login("carol", "a")),
        // The reserved queue group is refused to everyone.
        format!("{}SUB a _sys_ 1\r\nPING\r\n", login("bob", "b")),
        // Verbose: a violation gets the error instead of +OK.
        "CONNECT {\"verbose\":true,\"user\":\"alice\",\"pass\":\"a\"}\r\nPUB other 1\r\nx\r\nSUB other 1\r\nPING\r\n".to_string(),
    ];
    let scripts: Vec<&str> = scripts.iter().map(String::as_str).collect();
    let replies = same_replies(&go, &natrix, &scripts);
    assert_eq!(
        replies[0],
        "-ERR 'Permissions Violation for Publish to \"public.secret\"'\r\n\
         -ERR 'Permissions Violation for Publish to \"other\"'\r\n\
         MSG public.a 1 1\r\ny\r\nPONG\r\n"
    );
    assert_eq!(replies[2], "MSG public.ok 1 1\r\ny\r\nPONG\r\n");
}

#[test]
fn auth_timeout_from_the_config_is_in_seconds() {
    let (_config, go, natrix) = servers_with_config("timeout", USERS_CONF, 1);
    for server in [&go, &natrix] {
        let mut client = RawClient::connect(server.port);
        let started = Instant::now();
        let (bytes, closed) = client.read_until_quiet(Duration::from_secs(3));
        let elapsed = started.elapsed();
        assert_eq!(
            String::from_utf8_lossy(&bytes),
            "-ERR 'Authentication Timeout'\r\n"
        );
        assert!(closed);
        assert!(
            elapsed >= Duration::from_millis(800) && elapsed < Duration::from_millis(2500),
            "{elapsed:?}"
        );
    }
}

/// Two raw clients: `svc` (with `allow_responses`) answers requests published by `bob`.
fn responses_transcript(port: u16, responder: &str, replies_per_request: usize) -> String {
    let mut transcript = String::new();
    let mut service = RawClient::connect(port);
    service.send(format!("{}SUB requests 1\r\nPING\r\n", login(responder, "s")).as_bytes());
    service.expect(b"PONG\r\n");
    let mut requester = RawClient::connect(port);
    requester.send(format!("{}SUB reply.> 1\r\nPING\r\n", login("bob", "b")).as_bytes());
    requester.expect(b"PONG\r\n");
    for request in 1..=2 {
        requester.send(format!("PUB requests reply.{request} 2\r\nhi\r\nPING\r\n").as_bytes());
        let (bytes, _) = requester.read_until_pong_or_close(Duration::from_secs(5));
        transcript.push_str(&String::from_utf8_lossy(&bytes));
        service.send(b"PING\r\n");
        let (bytes, _) = service.read_until_pong_or_close(Duration::from_secs(5));
        transcript.push_str(&String::from_utf8_lossy(&bytes));
        for answer in 0..replies_per_request {
            service.send(format!("PUB reply.{request} 1\r\n{answer}\r\n").as_bytes());
        }
        service.send(b"PUB reply.99 1\r\nz\r\nPING\r\n");
        let (bytes, _) = service.read_until_pong_or_close(Duration::from_secs(5));
        transcript.push_str(&String::from_utf8_lossy(&bytes));
        requester.send(b"PING\r\n");
        let (bytes, _) = requester.read_until_pong_or_close(Duration::from_secs(5));
        transcript.push_str(&String::from_utf8_lossy(&bytes));
    }
    transcript
}

#[test]
fn allow_responses_lets_a_service_answer_each_request_up_to_max_like_go() {
    let (_config, go, natrix) = servers_with_config("responses", USERS_CONF, 2);
    for (responder, replies) in [("svc", 2), ("svc2", 3)] {
        let go_transcript = responses_transcript(go.port, responder, replies);
        let natrix_transcript = responses_transcript(natrix.port, responder, replies);
        assert_eq!(go_transcript, natrix_transcript, "{responder}");
        assert!(
            natrix_transcript.contains("MSG reply.1 1 1\r\n0\r\n"),
            "{natrix_transcript}"
        );
        assert!(
            natrix_transcript.contains("-ERR 'Permissions Violation for Publish to \"reply.99\"'")
        );
    }
}

#[tokio::test]
async fn official_client_request_reply_with_allow_responses() {
    let config = ConfigFile::new("responses-client", USERS_CONF);
    let natrix = TestServer::natrix(2, &["-c", config.path()]);
    let service = async_nats::ConnectOptions::with_user_and_password("svc".into(), "s".into())
        .connect(natrix.url())
        .await
        .expect("svc connects");
    let mut requests = service.subscribe("requests").await.expect("subscribe");
    service.flush().await.expect("flush");
    tokio::spawn(async move {
        use futures_util::StreamExt;
        while let Some(request) = requests.next().await {
            if let Some(reply) = request.reply {
                let _ = service.publish(reply, "pong".into()).await;
                let _ = service.flush().await;
            }
        }
    });
    let requester = async_nats::ConnectOptions::with_user_and_password("bob".into(), "b".into())
        .connect(natrix.url())
        .await
        .expect("bob connects");
    let mut answered = None;
    for _ in 0..50 {
        match tokio::time::timeout(
            Duration::from_secs(1),
            requester.request("requests", "ping".into()),
        )
        .await
        {
            Ok(Ok(message)) => {
                answered = Some(message.payload);
                break;
            }
            // The service's subscription may not be visible yet: no responders, try again.
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    assert_eq!(answered.as_deref(), Some(&b"pong"[..]));
}

#[test]
fn nkey_users_sign_the_nonce_like_go() {
    let key = nkeys::KeyPair::new_user();
    let public = key.public_key();
    let text = format!(
        "authorization {{ users = [ {{ nkey: {public}, permissions: {{ publish: {{ deny: [\"secret\"] }} }} }} ] }}\n"
    );
    let (_config, go, natrix) = servers_with_config("nkeys", &text, 2);
    for server in [&go, &natrix] {
        let mut client = RawClient::connect(server.port);
        let nonce = client.info["nonce"]
            .as_str()
            .expect("INFO has a nonce")
            .to_string();
        assert_eq!(nonce.len(), 15);
        assert_eq!(client.info["auth_required"], true);
        let signature = key.sign(nonce.as_bytes()).expect("sign");
        let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(signature);
        client.send(
            format!(
                "CONNECT {{\"verbose\":false,\"nkey\":\"{public}\",\"sig\":\"{sig}\"}}\r\nPUB secret 1\r\nx\r\nPING\r\n"
            )
            .as_bytes(),
        );
        let (bytes, closed) = client.read_until_pong_or_close(Duration::from_secs(5));
        assert_eq!(
            String::from_utf8_lossy(&bytes),
            "-ERR 'Permissions Violation for Publish to \"secret\"'\r\nPONG\r\n"
        );
        assert!(!closed);
    }
    let signature_of_other_nonce = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(key.sign(b"not the nonce").expect("sign"));
    let stranger = nkeys::KeyPair::new_user().public_key();
    same_replies(
        &go,
        &natrix,
        &[
            &format!("CONNECT {{\"verbose\":false,\"nkey\":\"{public}\"}}\r\nPING\r\n"),
            &format!("CONNECT {{\"verbose\":false,\"nkey\":\"{public}\",\"sig\":\"{signature_of_other_nonce}\"}}\r\nPING\r\n"),
            &format!("CONNECT {{\"verbose\":false,\"nkey\":\"{stranger}\",\"sig\":\"{signature_of_other_nonce}\"}}\r\nPING\r\n"),
            "CONNECT {\"verbose\":false}\r\nPING\r\n",
        ],
    );
}

#[tokio::test]
async fn official_client_authenticates_with_an_nkey() {
    let key = nkeys::KeyPair::new_user();
    let text = format!(
        "authorization {{ users = [ {{ nkey: {} }} ] }}\n",
        key.public_key()
    );
    let config = ConfigFile::new("nkeys-client", &text);
    let natrix = TestServer::natrix(1, &["-c", config.path()]);
    let client = async_nats::ConnectOptions::with_nkey(key.seed().expect("seed"))
        .connect(natrix.url())
        .await
        .expect("nkey connects");
    client.flush().await.expect("flush");
    let stranger = nkeys::KeyPair::new_user();
    let refused = async_nats::ConnectOptions::with_nkey(stranger.seed().expect("seed"))
        .connect(natrix.url())
        .await;
    assert!(refused.is_err(), "unknown nkey is refused");
}

#[test]
fn no_auth_user_lets_clients_without_credentials_in_like_go() {
    let hash = bcrypt::hash("x", 4).expect("bcrypt");
    let text = format!(
        r#"
no_auth_user: guest
authorization {{
  users = [
    {{ user: guest, password: g, permissions: {{ publish: {{ deny: ["admin.>"] }} }} }}
    {{ user: admin, password: "{hash}" }}
  ]
}}
"#
    );
    let (_config, go, natrix) = servers_with_config("no-auth-user", &text, 2);
    let replies = same_replies(
        &go,
        &natrix,
        &[
            // Operations before CONNECT are allowed and run as the no_auth_user (verbose).
            "SUB foo 1\r\nPUB foo 1\r\nx\r\nPUB admin.x 1\r\ny\r\nPING\r\n",
            "CONNECT {\"verbose\":false}\r\nPUB admin.x 1\r\ny\r\nPING\r\n",
            &format!("{}PUB admin.x 1\r\ny\r\nPING\r\n", login("admin", "x")),
            &format!("{}PING\r\n", login("admin", "wrong")),
        ],
    );
    assert_eq!(
        replies[1],
        "-ERR 'Permissions Violation for Publish to \"admin.x\"'\r\nPONG\r\n"
    );
    assert_eq!(replies[2], "PONG\r\n");
}

#[test]
fn default_permissions_apply_to_users_without_their_own() {
    let text = r#"
authorization {
  default_permissions: { publish: { allow: ["public.>"] } }
  users = [
    { user: plain, password: p }
    { user: own, password: o, permissions: { publish: { allow: ["own.>"] } } }
  ]
}
"#;
    let (_config, go, natrix) = servers_with_config("defaults", text, 1);
    let replies = same_replies(
        &go,
        &natrix,
        &[
            &format!(
                "{}PUB public.a 1\r\nx\r\nPUB own.a 1\r\nx\r\nPING\r\n",
                login("plain", "p")
            ),
            &format!(
                "{}PUB public.a 1\r\nx\r\nPUB own.a 1\r\nx\r\nPING\r\n",
                login("own", "o")
            ),
        ],
    );
    assert_eq!(
        replies[0],
        "-ERR 'Permissions Violation for Publish to \"own.a\"'\r\nPONG\r\n"
    );
}
