//! JWTs built and signed here with `nkeys`, decoded and checked by the module.

use base64::Engine;
use nkeys::KeyPair;
use serde_json::{json, Value};

use super::claims::TimeRange;
use super::limits::{
    apply_template, server_permissions, source_allowed, time_window, validate_user, TemplateContext,
};
use super::*;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Encodes claims as the Go library does: header, payload, signature of `header.payload`.
fn encode(mut payload: Value, signer: &KeyPair) -> String {
    payload["iss"] = json!(signer.public_key());
    let header = b64(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let body = b64(payload.to_string().as_bytes());
    let signed = format!("{header}.{body}");
    let signature = signer.sign(signed.as_bytes()).expect("sign");
    format!("{signed}.{}", b64(&signature))
}

fn user_payload(user: &KeyPair, nats: Value) -> Value {
    let mut nats = nats;
    nats["type"] = json!("user");
    nats["version"] = json!(2);
    json!({"sub": user.public_key(), "iat": 1_700_000_000, "name": "bob", "nats": nats})
}

#[test]
fn operator_account_and_user_jwts_decode_and_verify() {
    let operator = KeyPair::new_operator();
    let account = KeyPair::new_account();
    let user = KeyPair::new_user();
    let operator_jwt = encode(
        json!({"sub": operator.public_key(), "name": "O",
               "nats": {"type": "operator", "version": 2, "signing_keys": ["OABC"]}}),
        &operator,
    );
    let claims: OperatorClaims = decode(&operator_jwt).expect("operator");
    assert_eq!(claims.claims.sub, operator.public_key());
    assert_eq!(claims.nats.signing_keys, vec!["OABC".to_string()]);

    let account_jwt = encode(
        json!({"sub": account.public_key(), "name": "A", "nats": {
            "type": "account", "version": 2,
            "limits": {"conn": 2, "subs": -1, "payload": 100, "data": -1},
            "signing_keys": ["AKEY", {"kind": "user_scope", "key": "ASCOPE", "role": "r",
                              "template": {"pub": {"allow": ["a.>"]}, "subs": -1}}],
            "revocations": {"UREVOKED": 5},
            "exports": [{"subject": "svc.>", "type": "service"}],
            "imports": null}}),
        &operator,
    );
    let claims: AccountClaims = decode(&account_jwt).expect("account");
    assert_eq!(claims.nats.limits.conn, 2);
    assert_eq!(claims.nats.limits.payload, 100);
    assert_eq!(claims.nats.signing_keys.get("AKEY"), Some(&None));
    let scope = claims.nats.signing_keys["ASCOPE"].as_ref().expect("scope");
    assert_eq!(scope.template.permissions.publish.allow, vec!["a.>"]);
    assert_eq!(claims.nats.exports[0].kind, claims::ExportType::Service);
    assert!(claims.nats.imports.is_empty());

    let user_jwt = encode(
        user_payload(
            &user,
            json!({"pub": {"allow": ["foo"]}, "src": "10.0.0.0/8, 192.168.1.1/32",
                   "bearer_token": true, "subs": -1}),
        ),
        &account,
    );
    let claims: UserClaims = decode(&user_jwt).expect("user");
    assert_eq!(claims.claims.iss, account.public_key());
    assert_eq!(claims.nats.limits.src, vec!["10.0.0.0/8", "192.168.1.1/32"]);
    assert!(claims.nats.limits.bearer_token);
    // A kind is what `nats.type` says, not what the caller hopes.
    assert_eq!(
        decode::<AccountClaims>(&user_jwt),
        Err(JwtError::WrongKind("account"))
    );
}

#[test]
fn a_tampered_payload_or_wrong_issuer_kind_is_refused() {
    let account = KeyPair::new_account();
    let user = KeyPair::new_user();
    let token = encode(user_payload(&user, json!({})), &account);
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    let forged = user_payload(&user, json!({"pub": {"allow": [">"]}}));
    let mut forged = forged;
    forged["iss"] = json!(account.public_key());
    parts[1] = b64(forged.to_string().as_bytes());
    assert_eq!(
        decode::<UserClaims>(&parts.join(".")),
        Err(JwtError::Signature)
    );
    // A user JWT must be issued by an account key, not by another user.
    let self_signed = encode(user_payload(&user, json!({})), &user);
    assert_eq!(
        decode::<UserClaims>(&self_signed),
        Err(JwtError::IssuerPrefix)
    );
    assert_eq!(decode::<UserClaims>("a.b"), Err(JwtError::Chunks));
    assert_eq!(decode::<UserClaims>("!!.b.c"), Err(JwtError::Base64));
    let old = format!(
        "{}.{}.{}",
        b64(br#"{"typ":"JWT","alg":"ed25519"}"#),
        b64(b"{}"),
        b64(b"x")
    );
    assert_eq!(decode::<UserClaims>(&old), Err(JwtError::Version1));
}

#[test]
fn validity_window_and_revocations_follow_go() {
    let claims = ClaimsData {
        exp: 100,
        nbf: 50,
        ..ClaimsData::default()
    };
    assert_eq!(check_validity(&claims, 100), Ok(()));
    assert_eq!(check_validity(&claims, 101), Err(JwtError::Expired));
    assert_eq!(check_validity(&claims, 49), Err(JwtError::NotYetValid));
    let revocations = [("U1".to_string(), 10), ("*".to_string(), 5)]
        .into_iter()
        .collect();
    assert!(is_revoked(&revocations, "U1", 10));
    assert!(!is_revoked(&revocations, "U1", 11));
    assert!(is_revoked(&revocations, "U2", 5));
    assert!(!is_revoked(&revocations, "U2", 6));
}

#[test]
fn source_cidrs_and_time_windows() {
    let src = vec!["10.0.0.0/8".to_string(), "::1/128".to_string()];
    assert!(source_allowed(&src, "10.1.2.3".parse().expect("ip")));
    assert!(source_allowed(&src, "::ffff:10.1.2.3".parse().expect("ip")));
    assert!(source_allowed(&src, "::1".parse().expect("ip")));
    assert!(!source_allowed(&src, "127.0.0.1".parse().expect("ip")));
    assert!(source_allowed(&[], "127.0.0.1".parse().expect("ip")));
    let range = |start: &str, end: &str| TimeRange {
        start: start.into(),
        end: end.into(),
    };
    let at = |h: i64, m: i64| h * 3600 + m * 60;
    assert_eq!(time_window(&[], at(3, 0)), Some(None));
    let day = [range("09:00:00", "17:00:00")];
    assert_eq!(
        time_window(&day, at(16, 0)),
        Some(Some(std::time::Duration::from_secs(3600)))
    );
    assert_eq!(time_window(&day, at(18, 0)), None);
    let night = [range("22:00:00", "02:00:00")];
    assert_eq!(
        time_window(&night, at(23, 0)),
        Some(Some(std::time::Duration::from_secs(3 * 3600)))
    );
    assert_eq!(
        time_window(&night, at(1, 0)),
        Some(Some(std::time::Duration::from_secs(3600)))
    );
    assert_eq!(time_window(&night, at(12, 0)), None);
}

#[test]
fn user_claims_validation_rejects_bad_subjects_and_cidrs() {
    let user = KeyPair::new_user();
    let claims = |nats: Value| -> UserClaims {
        serde_json::from_value(user_payload(&user, nats)).expect("claims")
    };
    assert!(validate_user(&claims(json!({"pub": {"allow": ["a.b"]}}))).is_ok());
    assert!(validate_user(&claims(json!({"pub": {"allow": ["a..b"]}}))).is_err());
    assert!(validate_user(&claims(json!({"pub": {"allow": ["a q"]}}))).is_err());
    assert!(validate_user(&claims(json!({"sub": {"allow": ["a q"]}}))).is_ok());
    assert!(validate_user(&claims(json!({"src": ["10.0.0.1"]}))).is_err());
    assert!(validate_user(&claims(json!({"times": [{"start": "9:00", "end": "x"}]}))).is_err());
}

#[test]
fn scoped_templates_expand_like_go() {
    let user = KeyPair::new_user();
    let claims: UserClaims = serde_json::from_value(json!({
        "sub": user.public_key(), "name": "alice",
        "nats": {"type": "user", "version": 2, "issuer_account": "AACC",
                 "tags": ["dept:eng", "dept:ops"]}}))
    .expect("claims");
    let template: claims::UserPermissionLimits = serde_json::from_value(json!({
        "pub": {"allow": ["{{name()}}.>", "{{tag(dept)}}.x", "{{tag(none)}}.y"],
                "deny": ["{{account-name()}}.secret"]},
        "sub": {"allow": ["{{tag(none)}}.only"]}}))
    .expect("template");
    let context = TemplateContext {
        user: &claims,
        account_name: "acme",
        account_tags: &[],
    };
    let expanded = apply_template(&template, &context).expect("expanded");
    assert_eq!(
        expanded.permissions.publish.allow,
        vec!["alice.>", "eng.x", "ops.x"]
    );
    assert_eq!(expanded.permissions.publish.deny, vec!["acme.secret"]);
    // An allow list that expands to nothing denies everything.
    assert!(expanded.permissions.subscribe.allow.is_empty());
    assert_eq!(expanded.permissions.subscribe.deny, vec![">"]);
    let unknown: claims::UserPermissionLimits =
        serde_json::from_value(json!({"pub": {"allow": ["{{nope()}}"]}})).expect("template");
    assert!(apply_template(&unknown, &context).is_err());
}

#[test]
fn jwt_permissions_become_server_permissions() {
    let permissions: claims::Permissions = serde_json::from_value(json!({
        "pub": {"deny": ["secret.>"]}, "resp": {"max": 2, "ttl": 1_000_000_000}}))
    .expect("permissions");
    let server = server_permissions(&permissions).expect("some");
    let publish = server.publish.expect("publish");
    assert_eq!(publish.allow, None);
    assert_eq!(publish.deny, Some(vec!["secret.>".to_string()]));
    assert!(server.subscribe.is_none());
    let response = server.response.expect("resp");
    assert_eq!(response.max_msgs, 2);
    assert_eq!(response.expires, std::time::Duration::from_secs(1));
    assert!(server_permissions(&claims::Permissions::default()).is_none());
}

#[test]
fn creds_files_yield_the_jwt_and_the_seed() {
    let user = KeyPair::new_user();
    let seed = user.seed().expect("seed");
    let text = format!(
        "-----BEGIN NATS USER JWT-----\neyJhbGc.eyJzdWIi.c2ln\n------END NATS USER JWT------\n\n\
         ************************* IMPORTANT *************************\n\
         NKEY Seed printed below can be used to sign and prove identity.\n\n\
         -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n\n\
         *************************************************************\n"
    );
    assert_eq!(creds::parse_decorated_jwt(&text), "eyJhbGc.eyJzdWIi.c2ln");
    assert_eq!(creds::parse_decorated_seed(&text), Some(seed.as_str()));
    assert_eq!(
        creds::parse_decorated_jwt("  eyJabc.def.ghi\n"),
        "eyJabc.def.ghi"
    );
}
