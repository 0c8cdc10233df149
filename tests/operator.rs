//! Operator mode end to end: operator, account and user keys generated here with `nkeys`,
//! JWTs signed here, `.creds` files in the standard armored format, a config with
//! `resolver: MEMORY` and `resolver_preload`, and clients (raw sockets that sign the INFO
//! nonce, `async-nats` with a credentials file, `nats-py` with `user_credentials`). The raw
//! scripts run against the Go server with the same config and must get the same bytes.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use common::{RawClient, TestServer};
use futures_util::StreamExt;
use nkeys::KeyPair;
use serde_json::{json, Value};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs() as i64)
}

/// A NATS JWT as the Go library encodes it: header, payload, ed25519 signature of both.
fn encode(mut payload: Value, signer: &KeyPair) -> String {
    payload["iss"] = json!(signer.public_key());
    payload["jti"] = json!(format!("{}", rand_id()));
    if payload.get("iat").is_none() {
        payload["iat"] = json!(now() - 5);
    }
    let header = b64(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let signed = format!("{header}.{}", b64(payload.to_string().as_bytes()));
    let signature = signer.sign(signed.as_bytes()).expect("sign");
    format!("{signed}.{}", b64(&signature))
}

fn rand_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

fn unlimited_account() -> Value {
    json!({"subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
           "wildcards": true, "conn": -1, "leaf": -1})
}

fn unlimited_user() -> Value {
    json!({"subs": -1, "data": -1, "payload": -1})
}

/// Merges the keys of `extra` into `base` (both objects).
fn merged(mut base: Value, extra: Value) -> Value {
    if let (Some(base), Some(extra)) = (base.as_object_mut(), extra.as_object()) {
        for (key, value) in extra {
            base.insert(key.clone(), value.clone());
        }
    }
    base
}

/// The keys of one operator-mode deployment: the operator, accounts A (users connect here,
/// some limited), B (exports a service and a stream), LIMITED (one connection, one
/// subscription, 16-byte payloads) and SYS.
struct Deployment {
    operator: KeyPair,
    a: KeyPair,
    a_signing: KeyPair,
    b: KeyPair,
    limited: KeyPair,
    sys: KeyPair,
    revoked: KeyPair,
    dir: PathBuf,
}

impl Deployment {
    fn new(name: &str) -> Deployment {
        let dir = std::env::temp_dir().join(format!(
            "natrix-operator-{}-{name}-{}",
            std::process::id(),
            rand_id()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Deployment {
            operator: KeyPair::new_operator(),
            a: KeyPair::new_account(),
            a_signing: KeyPair::new_account(),
            b: KeyPair::new_account(),
            limited: KeyPair::new_account(),
            sys: KeyPair::new_account(),
            revoked: KeyPair::new_user(),
            dir,
        }
    }

    fn account_jwt(&self, key: &KeyPair, name: &str, nats: Value) -> String {
        let nats = merged(
            json!({"type": "account", "version": 2, "limits": unlimited_account()}),
            nats,
        );
        encode(
            json!({"sub": key.public_key(), "name": name, "nats": nats}),
            &self.operator,
        )
    }

    /// The config file: the operator JWT in a file of its own (armored, as `nsc` writes it),
    /// the system account, and every account preloaded.
    fn config(&self) -> PathBuf {
        self.config_revoking(None)
    }

    /// The config, with `also_revoked` added to account A's revocations.
    fn config_revoking(&self, also_revoked: Option<&KeyPair>) -> PathBuf {
        let mut revocations = json!({self.revoked.public_key(): now() + 3600});
        if let Some(user) = also_revoked {
            revocations[user.public_key()] = json!(now() + 3600);
        }
        let operator_jwt = encode(
            json!({"sub": self.operator.public_key(), "name": "OP",
                   "nats": {"type": "operator", "version": 2,
                            "system_account": self.sys.public_key()}}),
            &self.operator,
        );
        let operator_file = self.dir.join("operator.jwt");
        std::fs::write(
            &operator_file,
            format!(
                "-----BEGIN NATS OPERATOR JWT-----\n{operator_jwt}\n------END NATS OPERATOR JWT------\n"
            ),
        )
        .expect("operator file");
        let a = self.account_jwt(
            &self.a,
            "A",
            json!({
            "signing_keys": [self.a_signing.public_key()],
            "revocations": revocations,
            "imports": [
                {"name": "time", "subject": "svc.time", "account": self.b.public_key(),
                 "type": "service"},
                {"name": "feed", "subject": "feed.>", "account": self.b.public_key(),
                 "type": "stream"}
            ]}),
        );
        let b = self.account_jwt(
            &self.b,
            "B",
            json!({"exports": [
                {"name": "time", "subject": "svc.time", "type": "service"},
                {"name": "feed", "subject": "feed.>", "type": "stream"}]}),
        );
        let limited = self.account_jwt(
            &self.limited,
            "LIMITED",
            json!({"limits": {"subs": 1, "payload": 16, "conn": 1, "data": -1,
                              "imports": -1, "exports": -1, "leaf": -1}}),
        );
        let sys = self.account_jwt(&self.sys, "SYS", json!({}));
        let text = format!(
            "operator: \"{operator}\"\nsystem_account: {sys_key}\nresolver: MEMORY\nresolver_preload: {{\n  {a_key}: \"{a}\"\n  {b_key}: \"{b}\"\n  {l_key}: \"{limited}\"\n  {sys_key}: \"{sys}\"\n}}\n",
            operator = operator_file.display(),
            sys_key = self.sys.public_key(),
            a_key = self.a.public_key(),
            b_key = self.b.public_key(),
            l_key = self.limited.public_key(),
        );
        let path = self.dir.join("server.conf");
        std::fs::write(&path, text).expect("config");
        path
    }

    /// A user JWT for `user`, signed by `signer`, with `nats` merged over no limits.
    fn user_jwt(&self, user: &KeyPair, signer: &KeyPair, nats: Value, claims: Value) -> String {
        let nats = merged(
            merged(json!({"type": "user", "version": 2}), unlimited_user()),
            nats,
        );
        let payload = merged(
            json!({"sub": user.public_key(), "name": "user", "nats": nats}),
            claims,
        );
        encode(payload, signer)
    }

    /// A `.creds` file in the standard armored format.
    fn creds(&self, name: &str, jwt: &str, user: &KeyPair) -> PathBuf {
        let seed = user.seed().expect("seed");
        let text = format!(
            "-----BEGIN NATS USER JWT-----\n{jwt}\n------END NATS USER JWT------\n\n\
             ************************* IMPORTANT *************************\n\
             NKEY Seed printed below can be used to sign and prove identity.\n\
             NKEYs are sensitive and should be treated as secrets.\n\n\
             -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n\n\
             *************************************************************\n"
        );
        let path = self.dir.join(format!("{name}.creds"));
        std::fs::write(&path, text).expect("creds");
        path
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start_both(config: &Path) -> (TestServer, TestServer) {
    let path = config.to_str().expect("utf-8");
    (
        TestServer::go(&["-c", path]),
        TestServer::natrix(2, &["-c", path]),
    )
}

/// Connects, signs the INFO nonce with `signer` (if any), sends CONNECT with `jwt`, then
/// `rest`, and returns everything up to the PONG or the close (marked `<closed>`).
fn login(port: u16, jwt: &str, signer: Option<&KeyPair>, rest: &str) -> String {
    let mut client = RawClient::connect(port);
    assert_eq!(client.info["auth_required"], json!(true));
    let nonce = client.info["nonce"]
        .as_str()
        .expect("nonce in INFO")
        .to_string();
    let mut connect = json!({"verbose": false, "pedantic": false, "jwt": jwt,
                             "protocol": 1, "headers": true});
    if let Some(signer) = signer {
        connect["sig"] = json!(b64(&signer.sign(nonce.as_bytes()).expect("sign")));
    }
    client.send(format!("CONNECT {connect}\r\n{rest}PING\r\n").as_bytes());
    // Up to the PONG (or the close), then whatever follows within a short quiet time (the
    // INFO after the first PONG).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut reply = String::new();
    while let Some(line) =
        client.read_line(deadline.saturating_duration_since(std::time::Instant::now()))
    {
        reply.push_str(&line);
        if line == "PONG\r\n" {
            break;
        }
    }
    let (rest, closed) = client.read_until_quiet(Duration::from_millis(150));
    reply.push_str(&String::from_utf8_lossy(&rest));
    normalize(&reply, closed)
}

/// The reply up to the first PONG; of the INFO the server sends after it (which names the
/// server and, for Go, comes with an RTT PING), only the fields about the client's account
/// and limits.
fn normalize(reply: &str, closed: bool) -> String {
    let (head, tail) = match reply.find("PONG\r\n") {
        Some(at) => reply.split_at(at + "PONG\r\n".len()),
        None => (reply, ""),
    };
    let mut normalized = head.to_string();
    if let Some(json) = tail
        .strip_prefix("INFO ")
        .and_then(|rest| rest.split("\r\n").next())
    {
        let info: Value = serde_json::from_str(json.trim()).expect("INFO is JSON");
        normalized.push_str(&format!(
            "INFO{{remote_account:{},max_payload:{}}}",
            info["remote_account"], info["max_payload"]
        ));
    }
    if closed {
        normalized.push_str("<closed>");
    }
    normalized
}

const VIOLATION: &str = "-ERR 'Authorization Violation'\r\n<closed>";

#[test]
fn jwt_users_are_admitted_and_refused_exactly_like_the_go_server() {
    let deployment = Deployment::new("differential");
    let (go, natrix) = start_both(&deployment.config());
    let d = &deployment;
    let user = KeyPair::new_user();
    let stranger = KeyPair::new_user();
    let plain = d.user_jwt(&user, &d.a, json!({}), json!({}));
    let restricted = d.user_jwt(
        &user,
        &d.a,
        json!({"pub": {"allow": ["orders.>"], "deny": ["orders.secret"]},
               "sub": {"deny": ["private.>"]}}),
        json!({}),
    );
    let by_signing_key = d.user_jwt(
        &user,
        &d.a_signing,
        json!({"issuer_account": d.a.public_key()}),
        json!({}),
    );
    let rogue_account = KeyPair::new_account();
    let cases: Vec<(&str, String, Option<&KeyPair>, &str)> = vec![
        ("valid", plain.clone(), Some(&user), "SUB x 1\r\nPUB x 2\r\nhi\r\n"),
        ("signed by the wrong key", plain.clone(), Some(&stranger), ""),
        ("no signature", plain.clone(), None, ""),
        (
            "expired",
            d.user_jwt(&user, &d.a, json!({}), json!({"exp": now() - 10})),
            Some(&user),
            "",
        ),
        (
            "unknown account",
            d.user_jwt(&user, &rogue_account, json!({}), json!({})),
            Some(&user),
            "",
        ),
        (
            "revoked",
            d.user_jwt(&d.revoked, &d.a, json!({}), json!({})),
            Some(&d.revoked),
            "",
        ),
        ("account signing key", by_signing_key, Some(&user), "PUB x 0\r\n\r\n"),
        (
            "rogue signing key",
            d.user_jwt(
                &user,
                &rogue_account,
                json!({"issuer_account": d.a.public_key()}),
                json!({}),
            ),
            Some(&user),
            "",
        ),
        (
            "permissions",
            restricted,
            Some(&user),
            "SUB orders.new 1\r\nSUB private.x 2\r\nPUB orders.new 1\r\na\r\nPUB orders.secret 1\r\nb\r\nPUB other 1\r\nc\r\n",
        ),
        (
            "bearer token",
            d.user_jwt(&user, &d.a, json!({"bearer_token": true}), json!({})),
            None,
            "PUB x 0\r\n\r\n",
        ),
        (
            "websocket only",
            d.user_jwt(
                &user,
                &d.a,
                json!({"allowed_connection_types": ["WEBSOCKET"]}),
                json!({}),
            ),
            Some(&user),
            "",
        ),
        (
            "src outside",
            d.user_jwt(&user, &d.a, json!({"src": ["10.0.0.0/8"]}), json!({})),
            Some(&user),
            "",
        ),
        (
            "src inside",
            d.user_jwt(&user, &d.a, json!({"src": "127.0.0.0/8"}), json!({})),
            Some(&user),
            "",
        ),
        (
            "payload over the account limit",
            d.user_jwt(&user, &d.limited, json!({}), json!({})),
            Some(&user),
            "PUB x 17\r\n01234567890123456\r\n",
        ),
        (
            "subscriptions over the account limit",
            d.user_jwt(&user, &d.limited, json!({}), json!({})),
            Some(&user),
            "SUB a 1\r\nSUB b 2\r\n",
        ),
        ("no JWT", String::new(), None, ""),
        ("not a JWT", "garbage".to_string(), Some(&user), ""),
    ];
    let mut mismatches = Vec::new();
    for (name, jwt, signer, rest) in &cases {
        let go_reply = login(go.port, jwt, *signer, rest);
        let natrix_reply = login(natrix.port, jwt, *signer, rest);
        if go_reply != natrix_reply {
            mismatches.push(format!(
                "{name}:\n  go:     {go_reply:?}\n  natrix: {natrix_reply:?}"
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    // The cases really are different: some pass, some are refused.
    let valid = login(
        natrix.port,
        &plain,
        Some(&user),
        "SUB x 1\r\nPUB x 2\r\nhi\r\n",
    );
    assert!(
        valid.starts_with("MSG x 1 2\r\nhi\r\nPONG\r\nINFO"),
        "{valid}"
    );
    assert_eq!(login(natrix.port, &plain, Some(&stranger), ""), VIOLATION);
}

#[test]
fn the_account_connection_limit_refuses_the_next_connection_like_go() {
    let deployment = Deployment::new("conn");
    let (go, natrix) = start_both(&deployment.config());
    let d = &deployment;
    let user = KeyPair::new_user();
    let jwt = d.user_jwt(&user, &d.limited, json!({}), json!({}));
    for server in [&go, &natrix] {
        let mut first = RawClient::connect(server.port);
        let nonce = first.info["nonce"].as_str().expect("nonce").to_string();
        let sig = b64(&user.sign(nonce.as_bytes()).expect("sign"));
        first.send(
            format!(
                "CONNECT {}\r\nPING\r\n",
                json!({"verbose": false, "jwt": jwt, "sig": sig})
            )
            .as_bytes(),
        );
        first.expect(b"PONG\r\n");
        let second = login(server.port, &jwt, Some(&user), "");
        assert_eq!(
            second, "-ERR 'maximum account active connections exceeded'\r\n<closed>",
            "port {}",
            server.port
        );
        drop(first);
        // Once the first has gone, there is room again.
        let mut admitted = false;
        for _ in 0..50 {
            if login(server.port, &jwt, Some(&user), "").starts_with("PONG\r\n") {
                admitted = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(admitted, "port {}", server.port);
    }
}

#[test]
fn an_expiring_jwt_disconnects_with_user_authentication_expired() {
    let deployment = Deployment::new("expiry");
    let (go, natrix) = start_both(&deployment.config());
    let d = &deployment;
    let user = KeyPair::new_user();
    let jwt = d.user_jwt(&user, &d.a, json!({}), json!({"exp": now() + 2}));
    for server in [&go, &natrix] {
        let mut client = RawClient::connect(server.port);
        let nonce = client.info["nonce"].as_str().expect("nonce").to_string();
        let sig = b64(&user.sign(nonce.as_bytes()).expect("sign"));
        client.send(
            format!(
                "CONNECT {}\r\nPING\r\n",
                json!({"verbose": false, "jwt": jwt, "sig": sig})
            )
            .as_bytes(),
        );
        client.expect(b"PONG\r\n");
        let line = client.read_line(Duration::from_secs(6));
        assert_eq!(
            line.as_deref(),
            Some("-ERR 'User Authentication Expired'\r\n"),
            "port {}",
            server.port
        );
        assert!(
            client.wait_closed(Duration::from_secs(2)),
            "port {}",
            server.port
        );
    }
}

/// `async-nats` with a `.creds` file: the user's permissions hold, and account B's exported
/// service and stream reach account A through its imports.
#[tokio::test]
async fn async_nats_with_a_creds_file_gets_its_account_imports_and_permissions() {
    let deployment = Deployment::new("async");
    let natrix = TestServer::natrix(2, &["-c", deployment.config().to_str().expect("utf-8")]);
    let d = &deployment;
    let alice = KeyPair::new_user();
    let alice_jwt = d.user_jwt(
        &alice,
        &d.a,
        json!({"pub": {"allow": ["svc.time", "_INBOX.>"]}, "sub": {"allow": ["feed.>", "_INBOX.>"]}}),
        json!({}),
    );
    let service = KeyPair::new_user();
    let service_jwt = d.user_jwt(&service, &d.b, json!({}), json!({}));
    let connect = |creds: PathBuf| {
        let url = natrix.url();
        async move {
            async_nats::ConnectOptions::with_credentials_file(creds)
                .await
                .expect("creds file")
                .connection_timeout(Duration::from_secs(5))
                .connect(url)
                .await
                .expect("connects with creds")
        }
    };
    let in_b = connect(d.creds("service", &service_jwt, &service)).await;
    let in_a = connect(d.creds("alice", &alice_jwt, &alice)).await;
    let mut requests = in_b.subscribe("svc.time").await.expect("subscribe");
    let responder = in_b.clone();
    tokio::spawn(async move {
        while let Some(request) = requests.next().await {
            if let Some(reply) = request.reply {
                let _ = responder.publish(reply, "noon".into()).await;
            }
        }
    });
    in_b.flush().await.expect("flush");
    // async-nats' flush writes but does not wait for the server (no PING), so the
    // subscriptions above may not be registered yet when the other client publishes: retry
    // for up to 5 s, as a client would.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let answer = loop {
        match in_a.request("svc.time", "".into()).await {
            Ok(answer) => break answer,
            Err(error) if std::time::Instant::now() < deadline => {
                let _ = error;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(error) => panic!("service import answers: {error}"),
        }
    };
    assert_eq!(&answer.payload[..], b"noon");
    let mut feed = in_a.subscribe("feed.>").await.expect("subscribe");
    in_a.flush().await.expect("flush");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let message = loop {
        in_b.publish("feed.prices", "42".into())
            .await
            .expect("publish");
        in_b.flush().await.expect("flush");
        match tokio::time::timeout(Duration::from_millis(100), feed.next()).await {
            Ok(message) => break message.expect("stream import delivers"),
            Err(_) if std::time::Instant::now() < deadline => continue,
            Err(_) => panic!("the stream import delivered nothing in 5 s"),
        }
    };
    assert_eq!(message.subject.as_str(), "feed.prices");
    // Alice may not subscribe outside her allow list: the server refuses, and nothing
    // published there reaches her.
    let mut denied = in_a.subscribe("other").await.expect("client side ok");
    in_a.flush().await.expect("flush");
    in_b.publish("other", "x".into()).await.expect("publish");
    in_b.flush().await.expect("flush");
    assert!(
        tokio::time::timeout(Duration::from_millis(500), denied.next())
            .await
            .is_err(),
        "a denied subscription received a message"
    );
    // A user JWT signed by someone the account does not know is refused.
    let forged = d.user_jwt(&alice, &KeyPair::new_account(), json!({}), json!({}));
    let refused =
        async_nats::ConnectOptions::with_credentials_file(d.creds("forged", &forged, &alice))
            .await
            .expect("creds file")
            .connection_timeout(Duration::from_secs(5))
            .retry_on_initial_connect()
            .max_reconnects(Some(1))
            .connect(natrix.url())
            .await;
    if let Ok(client) = refused {
        assert!(
            tokio::time::timeout(Duration::from_secs(3), client.flush())
                .await
                .is_err()
                || client.connection_state() != async_nats::connection::State::Connected,
            "a forged JWT was admitted"
        );
    }
}

/// `nats-py` with `user_credentials=`: what Python users run, over the client port and the
/// WebSocket port (a JWT limited to `WEBSOCKET` connections gets in only there).
#[test]
fn nats_py_connects_with_user_credentials_and_is_refused_with_a_revoked_user() {
    let deployment = Deployment::new("python");
    let config = deployment.config();
    let websocket_port = common::free_port();
    let mut text = std::fs::read_to_string(&config).expect("config");
    text.push_str(&format!(
        "websocket {{ port: {websocket_port}, no_tls: true }}\n"
    ));
    std::fs::write(&config, text).expect("config");
    let natrix = TestServer::natrix(2, &["-c", config.to_str().expect("utf-8")]);
    let d = &deployment;
    let user = KeyPair::new_user();
    let good = d.creds(
        "good",
        &d.user_jwt(&user, &d.a, json!({}), json!({})),
        &user,
    );
    let revoked = d.creds(
        "revoked",
        &d.user_jwt(&d.revoked, &d.a, json!({}), json!({})),
        &d.revoked,
    );
    let websocket_only = d.creds(
        "websocket",
        &d.user_jwt(
            &user,
            &d.a,
            json!({"allowed_connection_types": ["WEBSOCKET"]}),
            json!({}),
        ),
        &user,
    );
    let ws_url = format!("ws://127.0.0.1:{websocket_port}");
    let script = format!(
        r#"
import asyncio, nats

async def refused(url, creds):
    errors = []
    async def on_error(e):
        errors.append(str(e))
    try:
        nc = await nats.connect(url, user_credentials=creds, allow_reconnect=False,
                                max_reconnect_attempts=0, error_cb=on_error, connect_timeout=5)
        await nc.close()
        return False
    except Exception as e:
        errors.append(str(e))
    assert any("authorization violation" in e.lower() for e in errors), errors
    return True

async def main():
    nc = await nats.connect("{url}", user_credentials="{good}")
    sub = await nc.subscribe("py.test")
    await nc.publish("py.test", b"hello")
    msg = await sub.next_msg(timeout=5)
    assert msg.data == b"hello", msg.data
    await nc.close()
    if not await refused("{url}", "{revoked}"):
        print("revoked user admitted")
        return
    ws = await nats.connect("{ws_url}", user_credentials="{websocket_only}")
    sub = await ws.subscribe("py.ws")
    await ws.publish("py.ws", b"over websocket")
    msg = await sub.next_msg(timeout=5)
    assert msg.data == b"over websocket", msg.data
    await ws.close()
    if not await refused("{url}", "{websocket_only}"):
        print("websocket-only user admitted on the client port")
        return
    print("ok")

asyncio.run(main())
"#,
        url = natrix.url(),
        ws_url = ws_url,
        good = good.display(),
        revoked = revoked.display(),
        websocket_only = websocket_only.display(),
    );
    assert_eq!(common::run_nats_py(&script, &[]).trim(), "ok");
}

/// Operator configs the Go server refuses are refused with its words, exit code 1.
#[test]
fn operator_configs_without_a_resolver_or_with_direct_users_are_refused_like_go() {
    let deployment = Deployment::new("refused");
    let config = deployment.config();
    let text = std::fs::read_to_string(&config).expect("config");
    let operator_line = text.lines().next().expect("operator line").to_string();
    let cases = [
        // Without a resolver the Go server makes an URL resolver of an empty URL and fails to
        // fetch from it; Natrix says what is missing. Both refuse to start.
        (
            "no_resolver",
            format!("{operator_line}\n"),
            "operators require an account resolver to be configured",
            "could not fetch",
        ),
        (
            "users",
            format!("{text}authorization {{ users: [{{user: a, password: b}}] }}\n"),
            "operators do not allow users to be configured directly",
            "operators do not allow users to be configured directly",
        ),
        (
            "accounts",
            format!("{text}accounts {{ X {{ }} }}\n"),
            "operators do not allow Accounts to be configured directly",
            "operators do not allow Accounts to be configured directly",
        ),
    ];
    for (name, text, natrix_expected, go_expected) in cases {
        let path = deployment.dir.join(format!("{name}.conf"));
        std::fs::write(&path, text).expect("write");
        let path = path.to_str().expect("utf-8");
        for (binary, expected) in [
            (env!("CARGO_BIN_EXE_natrix").to_string(), natrix_expected),
            (common::go_server_binary(), go_expected),
        ] {
            // The Go server checks these at start, not with `-t`: start both.
            let mut child = std::process::Command::new(&binary)
                .args(["-a", "127.0.0.1", "-p", "-1", "-c", path])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("runs");
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while child.try_wait().ok().flatten().is_none() && std::time::Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let output = child.wait_with_output().expect("output");
            let stderr = String::from_utf8_lossy(&output.stderr);
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert_eq!(
                output.status.code(),
                Some(1),
                "{binary} {name}: {stderr}{stdout}"
            );
            assert!(
                stderr.contains(expected) || stdout.contains(expected),
                "{binary} {name}: {stderr}{stdout}"
            );
        }
    }
}

/// A revocation added to an account JWT and loaded by SIGHUP closes the revoked user's live
/// connection with `-ERR 'Authorization Violation'`; other users stay.
#[test]
fn a_revocation_loaded_by_reload_closes_the_live_connection() {
    let deployment = Deployment::new("reload");
    let config = deployment.config();
    let natrix = TestServer::natrix(2, &["-c", config.to_str().expect("utf-8")]);
    let d = &deployment;
    let doomed = KeyPair::new_user();
    let kept = KeyPair::new_user();
    let mut clients = Vec::new();
    for user in [&doomed, &kept] {
        let jwt = d.user_jwt(user, &d.a, json!({}), json!({}));
        let mut client = RawClient::connect(natrix.port);
        let nonce = client.info["nonce"].as_str().expect("nonce").to_string();
        let sig = b64(&user.sign(nonce.as_bytes()).expect("sign"));
        client.send(
            format!(
                "CONNECT {}\r\nPING\r\n",
                json!({"verbose": false, "jwt": jwt, "sig": sig})
            )
            .as_bytes(),
        );
        client.expect(b"PONG\r\n");
        clients.push(client);
    }
    d.config_revoking(Some(&doomed));
    // SAFETY: kill(2) on our own child's pid; no memory is involved.
    let result = unsafe { libc::kill(natrix.pid() as i32, libc::SIGHUP) };
    assert_eq!(result, 0, "SIGHUP");
    let line = clients[0].read_line(Duration::from_secs(5));
    assert_eq!(line.as_deref(), Some("-ERR 'Authorization Violation'\r\n"));
    assert!(clients[0].wait_closed(Duration::from_secs(2)));
    clients[1].send(b"PING\r\n");
    clients[1].expect(b"PONG\r\n");
}

/// The system account's connect and disconnect events of a JWT user: the same JSON fields
/// and values as the Go server's (ids, times and server identity aside).
#[tokio::test]
async fn connect_and_disconnect_events_reach_the_system_account_like_go() {
    let deployment = Deployment::new("events");
    let config = deployment.config();
    let (go, natrix) = start_both(&config);
    let d = &deployment;
    let admin = KeyPair::new_user();
    let admin_creds = d.creds(
        "admin",
        &d.user_jwt(&admin, &d.sys, json!({}), json!({})),
        &admin,
    );
    let user = KeyPair::new_user();
    let user_creds = d.creds(
        "user",
        &d.user_jwt(
            &user,
            &d.a_signing,
            json!({"issuer_account": d.a.public_key(),
                                                 "tags": ["team:blue"]}),
            json!({}),
        ),
        &user,
    );
    let mut events = Vec::new();
    for server in [&go, &natrix] {
        let system = async_nats::ConnectOptions::with_credentials_file(admin_creds.clone())
            .await
            .expect("creds")
            .connect(server.url())
            .await
            .expect("system user connects");
        let mut subscription = system
            .subscribe(format!("$SYS.ACCOUNT.{}.*", d.a.public_key()))
            .await
            .expect("subscribe");
        system.flush().await.expect("flush");
        let client = async_nats::ConnectOptions::with_credentials_file(user_creds.clone())
            .await
            .expect("creds")
            .name("events-test")
            .connect(server.url())
            .await
            .expect("user connects");
        client.flush().await.expect("flush");
        drop(client);
        let mut seen = Vec::new();
        while seen.len() < 2 {
            let message = tokio::time::timeout(Duration::from_secs(5), subscription.next())
                .await
                .expect("an event in time")
                .expect("subscription open");
            // Go also sends `.SERVER.CONNS` account summaries, which Natrix does not.
            if message.subject.ends_with(".CONNECT") || message.subject.ends_with(".DISCONNECT") {
                let event: Value = serde_json::from_slice(&message.payload).expect("JSON");
                seen.push((message.subject.to_string(), event));
            }
        }
        events.push(seen);
    }
    let account = d.a.public_key();
    for (go_event, natrix_event) in events[0].iter().zip(&events[1]) {
        assert_eq!(go_event.0, natrix_event.0);
        assert!(
            go_event.0 == format!("$SYS.ACCOUNT.{account}.CONNECT")
                || go_event.0 == format!("$SYS.ACCOUNT.{account}.DISCONNECT")
        );
        let (go_json, natrix_json) = (&go_event.1, &natrix_event.1);
        for key in ["type", "reason", "sent", "received"] {
            assert_eq!(
                go_json.get(key),
                natrix_json.get(key),
                "{key} in {}",
                go_event.0
            );
        }
        for key in [
            "host",
            "acc",
            "user",
            "name",
            "lang",
            "issuer_key",
            "name_tag",
            "kind",
            "client_type",
            "tags",
            "jwt",
        ] {
            assert_eq!(
                go_json["client"].get(key),
                natrix_json["client"].get(key),
                "client.{key} in {}",
                go_event.0
            );
        }
        let keys = |value: &Value| -> Vec<String> {
            value
                .as_object()
                .map(|map| map.keys().cloned().collect())
                .unwrap_or_default()
        };
        let mut go_server_keys = keys(&go_json["server"]);
        go_server_keys.retain(|key| key != "feature_flags");
        let mut natrix_server_keys = keys(&natrix_json["server"]);
        natrix_server_keys.sort();
        go_server_keys.sort();
        assert_eq!(go_server_keys, natrix_server_keys);
        let mut go_client_keys = keys(&go_json["client"]);
        go_client_keys.retain(|key| key != "rtt");
        go_client_keys.sort();
        let mut natrix_client_keys = keys(&natrix_json["client"]);
        natrix_client_keys.sort();
        assert_eq!(go_client_keys, natrix_client_keys, "{}", go_event.0);
    }
    assert_eq!(
        events[1][0].1["client"]["issuer_key"],
        json!(d.a_signing.public_key())
    );
}
