//! Operator mode without sockets: JWTs signed here, CONNECTs checked by [`OperatorAuth`].

use std::collections::BTreeMap;

use base64::Engine;
use nkeys::KeyPair;
use serde_json::{json, Value};

use super::setup::{load, OperatorConfig};
use super::*;
use crate::jwt::OperatorClaims;

const NOW: i64 = 1_800_000_000;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn encode(mut payload: Value, signer: &KeyPair) -> String {
    payload["iss"] = json!(signer.public_key());
    let header = b64(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let signed = format!("{header}.{}", b64(payload.to_string().as_bytes()));
    let signature = signer.sign(signed.as_bytes()).expect("sign");
    format!("{signed}.{}", b64(&signature))
}

fn unlimited() -> Value {
    json!({"subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
           "wildcards": true, "conn": -1, "leaf": -1})
}

struct World {
    operator: KeyPair,
    account: KeyPair,
    signing: KeyPair,
    scoped: KeyPair,
}

impl World {
    fn new() -> World {
        World {
            operator: KeyPair::new_operator(),
            account: KeyPair::new_account(),
            signing: KeyPair::new_account(),
            scoped: KeyPair::new_account(),
        }
    }

    fn account_jwt(&self, extra: Value) -> String {
        let mut nats = json!({"type": "account", "version": 2, "limits": unlimited(),
            "signing_keys": [self.signing.public_key(), {"kind": "user_scope",
                "key": self.scoped.public_key(), "role": "r",
                "template": {"pub": {"allow": ["{{name()}}.>"]}, "subs": 1, "payload": -1}}]});
        if let (Some(nats), Some(extra)) = (nats.as_object_mut(), extra.as_object()) {
            for (key, value) in extra {
                nats.insert(key.clone(), value.clone());
            }
        }
        encode(
            json!({"sub": self.account.public_key(), "name": "ACME", "iat": NOW - 100,
                   "nats": nats}),
            &self.operator,
        )
    }

    fn auth(&self, account_extra: Value) -> OperatorAuth {
        let operator: OperatorClaims = crate::jwt::decode(&encode(
            json!({"sub": self.operator.public_key(), "nats": {"type": "operator", "version": 2}}),
            &self.operator,
        ))
        .expect("operator");
        let mut preload = BTreeMap::new();
        preload.insert(self.account.public_key(), self.account_jwt(account_extra));
        let config = OperatorConfig {
            operators: vec![operator],
            preload,
            ..OperatorConfig::default()
        };
        let loaded = load(&config, NOW).expect("loaded");
        OperatorAuth::new(&loaded.options)
    }
}

fn user_jwt(user: &KeyPair, signer: &KeyPair, nats: Value, claims: Value) -> String {
    let mut nats = nats;
    nats["type"] = json!("user");
    nats["version"] = json!(2);
    let mut payload = json!({"sub": user.public_key(), "name": "bob", "iat": NOW - 10});
    if let (Some(payload), Some(claims)) = (payload.as_object_mut(), claims.as_object()) {
        for (key, value) in claims {
            payload.insert(key.clone(), value.clone());
        }
    }
    payload["nats"] = nats;
    encode(payload, signer)
}

fn connect(jwt: &str, user: &KeyPair, nonce: &str) -> ConnectOptions {
    let sig = b64(&user.sign(nonce.as_bytes()).expect("sign"));
    ConnectOptions::from_json(json!({"jwt": jwt, "sig": sig}).to_string().as_bytes())
        .expect("connect")
}

fn context() -> ConnectContext {
    ConnectContext {
        peer: "127.0.0.1".parse().expect("ip"),
        connection_type: "STANDARD",
        now: NOW,
        local_seconds_of_day: 12 * 3600,
    }
}

fn limits() -> Value {
    json!({"subs": -1, "data": -1, "payload": -1})
}

#[test]
fn a_user_signed_by_the_account_connects_with_its_permissions_and_limits() {
    let world = World::new();
    let auth = world.auth(json!({"limits": {"subs": 10, "payload": 512, "conn": 3}}));
    let user = KeyPair::new_user();
    let mut nats = limits();
    nats["pub"] = json!({"allow": ["orders.>"]});
    nats["subs"] = json!(20);
    let token = user_jwt(&user, &world.account, nats, json!({"exp": NOW + 60}));
    let identity = auth
        .authenticate(&connect(&token, &user, "nonce1"), "nonce1", &context())
        .expect("authenticated");
    assert_eq!(identity.account, Some(world.account.public_key()));
    assert_eq!(identity.user, user.public_key());
    let rules = identity.permissions.expect("permissions");
    assert!(rules.restricts_publish());
    assert_eq!(
        identity.jwt_limits,
        Some(crate::auth::JwtLimits {
            subscriptions: 10,
            payload: 512,
            account_connections: 3
        })
    );
    assert_eq!(
        identity.expiry,
        Some(crate::auth::Expiry {
            after: Duration::from_secs(60),
            account: false
        })
    );
}

#[test]
fn bad_signature_expired_jwt_unknown_account_and_revocation_are_refused() {
    let world = World::new();
    let user = KeyPair::new_user();
    let token = user_jwt(&user, &world.account, limits(), json!({}));
    let auth = world.auth(json!({}));
    // Signed nonce of another connection.
    let refused = auth
        .authenticate(&connect(&token, &user, "other"), "nonce1", &context())
        .expect_err("bad signature");
    assert_eq!(refused.claimed, None);
    assert!(refused.reason.contains("Signature"));
    // No signature at all.
    let unsigned =
        ConnectOptions::from_json(json!({"jwt": token}).to_string().as_bytes()).expect("connect");
    assert!(auth.authenticate(&unsigned, "n", &context()).is_err());
    // Expired.
    let expired = user_jwt(&user, &world.account, limits(), json!({"exp": NOW - 1}));
    let refused = auth
        .authenticate(&connect(&expired, &user, "n"), "n", &context())
        .expect_err("expired");
    assert!(refused.reason.contains("expired"));
    // An account the resolver does not hold.
    let stranger = KeyPair::new_account();
    let foreign = user_jwt(&user, &stranger, limits(), json!({}));
    assert!(auth
        .authenticate(&connect(&foreign, &user, "n"), "n", &context())
        .is_err());
    // Revoked: issued before the revocation.
    let revoking = world.auth(json!({"revocations": {user.public_key(): NOW - 5}}));
    let refused = revoking
        .authenticate(&connect(&token, &user, "n"), "n", &context())
        .expect_err("revoked");
    assert_eq!(refused.reason, "User authentication revoked");
    // Revoking everyone (`*`) works the same.
    let all = world.auth(json!({"revocations": {"*": NOW}}));
    assert!(all
        .authenticate(&connect(&token, &user, "n"), "n", &context())
        .is_err());
}

#[test]
fn signing_keys_and_scoped_signing_keys() {
    let world = World::new();
    let auth = world.auth(json!({}));
    let user = KeyPair::new_user();
    let mut nats = limits();
    nats["issuer_account"] = json!(world.account.public_key());
    let token = user_jwt(&user, &world.signing, nats, json!({}));
    let identity = auth
        .authenticate(&connect(&token, &user, "n"), "n", &context())
        .expect("signing key");
    assert_eq!(identity.account, Some(world.account.public_key()));
    // A key the account does not list.
    let rogue = KeyPair::new_account();
    let mut nats = limits();
    nats["issuer_account"] = json!(world.account.public_key());
    let token = user_jwt(&user, &rogue, nats, json!({}));
    let refused = auth
        .authenticate(&connect(&token, &user, "n"), "n", &context())
        .expect_err("unknown signer");
    assert_eq!(refused.reason, "User JWT issuer is not known");
    // A scoped key: the template's permissions and limits, not the user's.
    let nats = json!({"issuer_account": world.account.public_key()});
    let token = user_jwt(&user, &world.scoped, nats, json!({}));
    let identity = auth
        .authenticate(&connect(&token, &user, "n"), "n", &context())
        .expect("scoped");
    let rules = identity.permissions.expect("template permissions");
    assert!(rules.restricts_publish());
    assert_eq!(
        identity.jwt_limits.map(|limits| limits.subscriptions),
        Some(1)
    );
    // A scoped user that sets its own permissions is refused.
    let nats = json!({"issuer_account": world.account.public_key(), "pub": {"allow": [">"]}});
    let token = user_jwt(&user, &world.scoped, nats, json!({}));
    assert!(auth
        .authenticate(&connect(&token, &user, "n"), "n", &context())
        .is_err());
}

#[test]
fn bearer_tokens_connection_types_and_source_addresses() {
    let world = World::new();
    let auth = world.auth(json!({}));
    let user = KeyPair::new_user();
    let mut nats = limits();
    nats["bearer_token"] = json!(true);
    let bearer = user_jwt(&user, &world.account, nats.clone(), json!({}));
    let no_sig =
        ConnectOptions::from_json(json!({"jwt": bearer}).to_string().as_bytes()).expect("connect");
    assert!(auth.authenticate(&no_sig, "n", &context()).is_ok());
    let strict = world.auth(json!({"limits": {"disallow_bearer": true, "conn": -1,
                                              "subs": -1, "payload": -1}}));
    assert!(strict.authenticate(&no_sig, "n", &context()).is_err());

    let mut nats = limits();
    nats["allowed_connection_types"] = json!(["WEBSOCKET"]);
    let websocket_only = user_jwt(&user, &world.account, nats, json!({}));
    let standard = auth.authenticate(&connect(&websocket_only, &user, "n"), "n", &context());
    assert!(standard.is_err());
    let websocket = ConnectContext {
        connection_type: "WEBSOCKET",
        ..context()
    };
    assert!(auth
        .authenticate(&connect(&websocket_only, &user, "n"), "n", &websocket)
        .is_ok());

    let mut nats = limits();
    nats["src"] = json!(["10.0.0.0/8"]);
    let remote_only = user_jwt(&user, &world.account, nats, json!({}));
    let refused = auth
        .authenticate(&connect(&remote_only, &user, "n"), "n", &context())
        .expect_err("src");
    assert_eq!(refused.logged.as_deref(), Some("Bad src Ip 127.0.0.1"));

    let mut nats = limits();
    nats["times"] = json!([{"start": "01:00:00", "end": "02:00:00"}]);
    let night_only = user_jwt(&user, &world.account, nats, json!({}));
    let refused = auth
        .authenticate(&connect(&night_only, &user, "n"), "n", &context())
        .expect_err("times");
    assert_eq!(refused.logged.as_deref(), Some("Outside connect times"));
}

#[test]
fn untrusted_accounts_are_not_loaded_and_conflicts_are_errors() {
    let world = World::new();
    let stranger = KeyPair::new_operator();
    let account_jwt = encode(
        json!({"sub": world.account.public_key(), "nats": {"type": "account", "version": 2}}),
        &stranger,
    );
    let mut preload = BTreeMap::new();
    preload.insert(world.account.public_key(), account_jwt);
    let config = OperatorConfig {
        trusted_keys: vec![world.operator.public_key()],
        preload,
        ..OperatorConfig::default()
    };
    let loaded = load(&config, NOW).expect("loads");
    assert!(loaded.accounts.is_empty());
    assert_eq!(loaded.warnings.len(), 1);
    let operator: OperatorClaims = crate::jwt::decode(&encode(
        json!({"sub": world.operator.public_key(), "nats": {"type": "operator", "version": 2}}),
        &world.operator,
    ))
    .expect("operator");
    let both = OperatorConfig {
        operators: vec![operator],
        trusted_keys: vec![world.operator.public_key()],
        ..OperatorConfig::default()
    };
    assert!(load(&both, NOW).is_err());
}

#[test]
fn an_operator_asserting_a_newer_server_version_is_refused() {
    let world = World::new();
    let operator = |version: &str| -> OperatorClaims {
        crate::jwt::decode(&encode(
            json!({"sub": world.operator.public_key(),
                   "nats": {"type": "operator", "version": 2, "assert_server_version": version}}),
            &world.operator,
        ))
        .expect("operator")
    };
    let config = |version: &str| OperatorConfig {
        operators: vec![operator(version)],
        server_version: "2.14.0".into(),
        ..OperatorConfig::default()
    };
    assert!(load(&config("2.14.0"), NOW).is_ok());
    assert!(load(&config("2.9.20"), NOW).is_ok());
    assert!(load(&config("1.99.99"), NOW).is_ok());
    let refused = load(&config("2.15.0"), NOW).expect_err("newer minor");
    assert!(
        refused.ends_with("expected minor version 15 > server minor version 14"),
        "{refused}"
    );
    assert!(load(&config("3.0.0"), NOW).is_err());
    assert!(load(&config("2.14"), NOW).is_err());
}
