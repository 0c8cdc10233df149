//! Client authentication, as the Go server's `processClientOrLeafAuthentication` does it for
//! client connections: nkeys (signature over the INFO nonce), the users list (with the TLS
//! certificate mapping hook), `no_auth_user`, then a token or the single user/password.
//!
//! [`Authenticator`] is built once per shard from [`AuthOptions`]; it compiles every user's
//! permissions once ([`PermissionRules`]), so a CONNECT only looks a user up and checks a
//! password or a signature. Pure logic: no I/O.
//!
//! In operator mode (JWT users) the checks are [`crate::operator`]'s; this module dispatches
//! to it. Not supported (the Go server's other methods): auth callouts, custom
//! authenticators, trusted proxies.

use std::borrow::Cow;
use std::rc::Rc;
use std::time::Duration;

use ahash::AHashMap;
use base64::Engine;

use crate::options::{AuthOptions, NkeyUser, Permissions, User};
use crate::permissions::{with_response_defaults, PermissionRules};
use crate::protocol::errors::go_quote;
use crate::protocol::ConnectOptions;
use crate::subject::is_valid_subject;

/// Raw bytes of the nonce in INFO (Go: `nonceRawLen`); 15 characters once encoded.
const NONCE_RAW_LEN: usize = 11;
/// The connection type of the client port (Go: `jwt.ConnectionTypeStandard`).
const CONNECTION_TYPE_STANDARD: &str = "STANDARD";
/// The connection type of the WebSocket port (Go: `jwt.ConnectionTypeWebsocket`).
const CONNECTION_TYPE_WEBSOCKET: &str = "WEBSOCKET";
/// The connection types the Go server knows (`validateAllowedConnectionTypes`).
const KNOWN_CONNECTION_TYPES: &[&str] = &[
    "STANDARD",
    "WEBSOCKET",
    "LEAFNODE",
    "LEAFNODE_WS",
    "MQTT",
    "MQTT_WS",
    "IN_PROCESS",
];

/// Who a connection authenticated as, and what follows from it.
#[derive(Debug, Clone, Default)]
pub struct Identity {
    /// The account the user belongs to; the global account when `None`.
    pub account: Option<String>,
    /// The user's compiled permissions; `None` when unrestricted.
    pub permissions: Option<Rc<PermissionRules>>,
    /// The user name or nkey, for logs (Go: `getRawAuthUser`); empty for no credentials.
    pub user: String,
    /// When the connection must close (a JWT's expiry, the end of its connect window).
    pub expiry: Option<Expiry>,
    /// A JWT user's limits (operator mode only).
    pub jwt_limits: Option<JwtLimits>,
    /// What the system account's events say about a JWT user (operator mode only).
    pub jwt_user: Option<Rc<JwtUser>>,
}

/// A JWT user, as the connect and disconnect events describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtUser {
    /// The key that signed the user JWT: the account's, or its signing key (Go:
    /// `issuerForClient`).
    pub issuer_key: String,
    /// The account JWT's `name` (Go: `name_tag`).
    pub account_name: String,
    /// The user JWT's tags.
    pub tags: Vec<String>,
}

/// A JWT credential runs out: the connection closes with `-ERR 'User Authentication
/// Expired'`, or `'Account Authentication Expired'` when the account JWT ran out first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expiry {
    pub after: Duration,
    pub account: bool,
}

/// The limits a user JWT and its account JWT set on a connection; -1 is no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JwtLimits {
    /// Subscriptions on this connection (the lower of the user's and the account's).
    pub subscriptions: i64,
    /// The largest message (headers and payload).
    pub payload: i64,
    /// Connections of the account, server-wide (the account's `conn`).
    pub account_connections: i64,
}

/// A refused CONNECT. The connection gets `-ERR 'Authorization Violation'` and is closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthFailure {
    /// Who the client claimed to be, as the Go server logs it (`User "bob"`), if anyone.
    pub claimed: Option<String>,
    /// Why, for the debug log.
    pub reason: Cow<'static, str>,
    /// A line the Go server logs at error level before the authentication error (`Bad src
    /// Ip ...`), if any.
    pub logged: Option<String>,
}

/// The shard's view of the authentication options.
#[derive(Debug, Default)]
pub struct Authenticator {
    required: bool,
    username: Option<String>,
    password: String,
    token: Option<String>,
    users: AHashMap<String, AuthUser>,
    nkeys: AHashMap<String, AuthUser>,
    no_auth_user: Option<String>,
    /// The connection type users' `allowed_connection_types` must list (when they list any).
    connection_type: &'static str,
    /// Operator mode: JWT users only.
    operator: Option<Rc<crate::operator::OperatorAuth>>,
}

/// A configured user or nkey with its effective permissions compiled.
#[derive(Debug)]
struct AuthUser {
    /// User name, or the public nkey.
    name: String,
    password: String,
    account: Option<String>,
    permissions: Option<Rc<PermissionRules>>,
    allowed_connection_types: Vec<String>,
}

impl Authenticator {
    /// `default_permissions` are expected to be applied to the users already (the config
    /// file does it, for the users of the `authorization` block only, as Go does).
    pub fn new(options: &AuthOptions) -> Authenticator {
        let compile = |permissions: &Option<Permissions>| {
            permissions.as_ref().map(|permissions| {
                Rc::new(PermissionRules::compile(&with_response_defaults(
                    permissions,
                )))
            })
        };
        let users = options
            .users
            .iter()
            .map(|user: &User| {
                let entry = AuthUser {
                    name: user.username.clone(),
                    password: user.password.clone(),
                    account: user.account.clone(),
                    permissions: compile(&user.permissions),
                    allowed_connection_types: user.allowed_connection_types.clone(),
                };
                (user.username.clone(), entry)
            })
            .collect();
        let nkeys = options
            .nkeys
            .iter()
            .map(|user: &NkeyUser| {
                let entry = AuthUser {
                    name: user.nkey.clone(),
                    password: String::new(),
                    account: user.account.clone(),
                    permissions: compile(&user.permissions),
                    allowed_connection_types: user.allowed_connection_types.clone(),
                };
                (user.nkey.clone(), entry)
            })
            .collect();
        Authenticator {
            required: options.required(),
            username: options.username.clone().filter(|name| !name.is_empty()),
            password: options.password.clone().unwrap_or_default(),
            token: options.token.clone().filter(|token| !token.is_empty()),
            users,
            nkeys,
            no_auth_user: options.no_auth_user.clone().filter(|name| !name.is_empty()),
            connection_type: CONNECTION_TYPE_STANDARD,
            operator: None,
        }
    }

    /// Puts the authenticator in operator mode: every client needs a user JWT.
    pub fn with_operator(mut self, operator: Option<&crate::options::OperatorOptions>) -> Self {
        if let Some(operator) = operator {
            self.operator = Some(Rc::new(crate::operator::OperatorAuth::new(operator)));
            self.required = true;
        }
        self
    }

    /// The operator-mode authenticator, when the server runs in operator mode.
    pub fn operator(&self) -> Option<&crate::operator::OperatorAuth> {
        self.operator.as_deref()
    }

    /// `STANDARD` or `WEBSOCKET`: the port's connection type.
    pub fn connection_type(&self) -> &'static str {
        self.connection_type
    }

    /// The authenticator of WebSocket clients (Go's `processClientOrLeafAuthentication` for
    /// a `WS` client): when the `websocket {}` block sets a user, a token or a
    /// `no_auth_user`, those replace the server's single user, token and `no_auth_user`
    /// (the users and nkeys lists stay); users are checked against the `WEBSOCKET`
    /// connection type.
    pub fn for_websocket(
        options: &AuthOptions,
        websocket: &crate::websocket::WebsocketOptions,
    ) -> Authenticator {
        let mut effective = options.clone();
        if websocket.auth_override() {
            effective.username = websocket.username.clone();
            effective.password = websocket.password.clone();
            effective.token = websocket.token.clone();
            effective.no_auth_user = websocket.no_auth_user.clone();
        }
        let mut authenticator = Authenticator::new(&effective);
        authenticator.required = options.required() || websocket.auth_override();
        authenticator.connection_type = CONNECTION_TYPE_WEBSOCKET;
        authenticator
    }

    /// Whether clients must authenticate (Go: the server's `AuthRequired`, before the
    /// `no_auth_user` adjustment of INFO).
    pub fn required(&self) -> bool {
        self.required
    }

    /// Whether INFO carries a nonce for nkey signatures.
    pub fn nonce_required(&self) -> bool {
        !self.nkeys.is_empty() || self.operator.is_some()
    }

    /// A fresh nonce for one connection's INFO: 11 random bytes, base64url without padding.
    pub fn new_nonce(&self) -> String {
        let mut raw = [0u8; NONCE_RAW_LEN];
        rand::Rng::fill(&mut rand::rng(), &mut raw[..]);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    }

    /// Whether a client that sends operations before CONNECT is logged in as `no_auth_user`
    /// (Go's parser allows this for a `no_auth_user` from the users list, not an nkey).
    pub fn allows_operations_before_connect(&self) -> bool {
        self.no_auth_user.as_ref().is_some_and(|name| {
            self.users
                .get(name)
                .is_some_and(|user| self.connection_type_allowed(&user.allowed_connection_types))
        })
    }

    /// Checks a CONNECT's credentials. `nonce` is the one this connection's INFO carried.
    /// `certificate_identities` is `Some` when the TLS listener has `verify_and_map` on: the
    /// client certificate's identities (see [`find_certificate_user`]) then pick the user.
    pub fn authenticate(
        &self,
        connect: &ConnectOptions,
        nonce: &str,
        certificate_identities: Option<&[String]>,
    ) -> Result<Identity, AuthFailure> {
        if !self.required {
            return Ok(Identity::default());
        }
        let mut username = connect.user.clone().unwrap_or_default();
        let mut password = connect.pass.clone().unwrap_or_default();
        let token = connect.auth_token.clone().unwrap_or_default();
        let mut nkey = connect.nkey.clone().unwrap_or_default();
        let no_credentials = username.is_empty() && password.is_empty() && token.is_empty();

        let mut nkey_user = None;
        if !self.nkeys.is_empty() {
            if let Some(no_auth_user) = &self.no_auth_user {
                if no_credentials && nkey.is_empty() && self.nkeys.contains_key(no_auth_user) {
                    nkey = no_auth_user.clone();
                }
            }
            if !nkey.is_empty() {
                match self.nkeys.get(&nkey) {
                    Some(user) if self.connection_type_allowed(&user.allowed_connection_types) => {
                        nkey_user = Some(user)
                    }
                    _ => return Err(failure(&username, &nkey, &token, "unknown nkey")),
                }
            }
        }
        let mut user = None;
        if !self.users.is_empty() && nkey_user.is_none() {
            if let Some(identities) = certificate_identities {
                let found = find_certificate_user(
                    self.users
                        .values()
                        .filter(|user| self.connection_type_allowed(&user.allowed_connection_types))
                        .map(|user| user.name.as_str()),
                    identities,
                    true,
                );
                let Some(found) = found.and_then(|name| self.users.get(name)) else {
                    return Err(failure(&username, &nkey, &token, "no user for certificate"));
                };
                if !username.is_empty() {
                    tracing::warn!(
                        "User {} found in connect proto, but user required from cert",
                        go_quote(&username)
                    );
                }
                username = found.name.clone();
                user = Some(found);
            } else {
                if let Some(no_auth_user) = &self.no_auth_user {
                    if no_credentials {
                        if let Some(found) = self.users.get(no_auth_user) {
                            username = found.name.clone();
                            password = found.password.clone();
                        }
                    }
                }
                if !username.is_empty() {
                    match self.users.get(&username) {
                        Some(found)
                            if self.connection_type_allowed(&found.allowed_connection_types) =>
                        {
                            user = Some(found)
                        }
                        _ => return Err(failure(&username, &nkey, &token, "unknown user")),
                    }
                }
            }
        }

        if let Some(nkey_user) = nkey_user {
            if self.no_auth_user.as_deref() != Some(nkey_user.name.as_str()) {
                verify_nonce_signature(&nkey, connect.sig.as_deref().unwrap_or(""), nonce)
                    .map_err(|reason| failure(&username, &nkey, &token, reason))?;
            }
            return Ok(nkey_user.identity());
        }
        if let Some(user) = user {
            if compare_passwords(&user.password, &password) {
                return Ok(user.identity());
            }
            return Err(failure(&username, &nkey, &token, "wrong password"));
        }
        if let Some(expected) = &self.token {
            if compare_passwords(expected, &token) {
                return Ok(Identity {
                    user: "[REDACTED]".to_string(),
                    ..Identity::default()
                });
            }
            return Err(failure(&username, &nkey, &token, "wrong token"));
        }
        if let Some(expected) = &self.username {
            if *expected == username && compare_passwords(&self.password, &password) {
                return Ok(Identity {
                    user: username,
                    ..Identity::default()
                });
            }
            return Err(failure(&username, &nkey, &token, "wrong user or password"));
        }
        Err(failure(&username, &nkey, &token, "no credentials"))
    }
}

impl Authenticator {
    /// For a reload (Go: `clientHasMovedToDifferentAccount`): the account of the user a
    /// CONNECT named by nkey or user name. `None` when it named no one; `Some(None)` when that
    /// user no longer exists; `Some(Some(account))` otherwise (`None` inside is the global
    /// account).
    pub fn named_user_account(&self, connect: &ConnectOptions) -> Option<Option<Option<&str>>> {
        let (table, name) = match (&connect.nkey, &connect.user) {
            (Some(nkey), _) if !nkey.is_empty() => (&self.nkeys, nkey),
            (_, Some(user)) if !user.is_empty() => (&self.users, user),
            _ => return None,
        };
        Some(table.get(name).map(|user| user.account.as_deref()))
    }
}

impl AuthUser {
    fn identity(&self) -> Identity {
        Identity {
            account: self.account.clone(),
            permissions: self.permissions.clone(),
            user: self.name.clone(),
            ..Identity::default()
        }
    }
}

/// The TLS `verify_and_map` hook (Go: `checkClientTLSCertSubject` with the users lookup):
/// `identities` are the client certificate's email addresses, DNS names and subject DN (RFC
/// 2253), in the order the Go server tries them; the first one that is a user name wins.
/// Returns `None` when mapping is off or nothing matches.
pub fn find_certificate_user<'u>(
    usernames: impl Iterator<Item = &'u str> + Clone,
    identities: &[String],
    verify_and_map: bool,
) -> Option<&'u str> {
    if !verify_and_map {
        return None;
    }
    identities.iter().find_map(|identity| {
        usernames
            .clone()
            .find(|username| !identity.is_empty() && *username == identity)
    })
}

/// Go's `comparePasswords`: bcrypt when the configured secret is a bcrypt hash, else a
/// constant-time comparison.
pub fn compare_passwords(configured: &str, offered: &str) -> bool {
    if is_bcrypt(configured) {
        return bcrypt::verify(offered, configured).unwrap_or(false);
    }
    constant_time_equal(configured.as_bytes(), offered.as_bytes())
}

/// Go's `isBcrypt`: `$2a$`, `$2b$`, `$2x$` or `$2y$`, then a two-digit cost and `$`.
pub fn is_bcrypt(secret: &str) -> bool {
    let bytes = secret.as_bytes();
    bytes.len() >= 7
        && bytes.starts_with(b"$2")
        && matches!(bytes[2], b'a' | b'b' | b'x' | b'y')
        && bytes[3] == b'$'
        && bytes[4].is_ascii_digit()
        && bytes[5].is_ascii_digit()
        && bytes[6] == b'$'
}

/// Verifies an nkey signature of the nonce: base64url without padding, or standard base64
/// (the Go server accepts both).
pub fn verify_nonce_signature(
    public_key: &str,
    signature: &str,
    nonce: &str,
) -> Result<(), &'static str> {
    if signature.is_empty() {
        return Err("Signature missing");
    }
    let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(signature)
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(signature))
        .map_err(|_| "Signature not valid base64")?;
    let key = nkeys::KeyPair::from_public_key(public_key).map_err(|_| "User nkey not valid")?;
    key.verify(nonce.as_bytes(), &signature)
        .map_err(|_| "Signature not verified")
}

/// Why the authentication options cannot be used, with the Go server's texts. Only a
/// corrected configuration recovers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthConfigError {
    #[error("Cannot have a user/pass and token")]
    UserAndToken,
    #[error("Can not have a single user/pass and a users array")]
    UserAndUsersList,
    #[error("Can not have a token and a users array")]
    TokenAndUsersList,
    #[error("Duplicate user {} detected", go_quote(.0))]
    DuplicateUser(String),
    #[error("Duplicate nkey {} detected", go_quote(.0))]
    DuplicateNkey(String),
    #[error("Not a valid public nkey for a user")]
    InvalidUserNkey,
    #[error("unknown connection type {}", go_quote(.0))]
    UnknownConnectionType(String),
    #[error("invalid permissions for {who}: {what}: invalid subject {}", go_quote(.entry))]
    InvalidPermissionSubject {
        /// `user "name"` or `nkey "U..."`.
        who: String,
        /// Which list: `publish allow`, `subscribe deny`, ...
        what: &'static str,
        entry: String,
    },
    #[error("no_auth_user: \"{0}\" present, but users/nkeys are not defined")]
    NoAuthUserWithoutUsers(String),
    #[error("no_auth_user: \"{0}\" not present as user or nkey in authorization block or account configuration")]
    UnknownNoAuthUser(String),
}

/// Checks the options as the Go server's config loading and `validateOptions` do; the error
/// texts are the Go server's.
pub fn validate(options: &AuthOptions) -> Result<(), AuthConfigError> {
    let has_user = options
        .username
        .as_ref()
        .is_some_and(|name| !name.is_empty());
    let has_password = options
        .password
        .as_ref()
        .is_some_and(|pass| !pass.is_empty());
    let has_token = options
        .token
        .as_ref()
        .is_some_and(|token| !token.is_empty());
    if (has_user || has_password) && has_token {
        return Err(AuthConfigError::UserAndToken);
    }
    let has_users_list = !options.users.is_empty() || !options.nkeys.is_empty();
    if has_users_list && has_user {
        return Err(AuthConfigError::UserAndUsersList);
    }
    if has_users_list && has_token {
        return Err(AuthConfigError::TokenAndUsersList);
    }
    let mut names = std::collections::HashSet::new();
    for user in &options.users {
        if !names.insert(user.username.as_str()) {
            return Err(AuthConfigError::DuplicateUser(user.username.clone()));
        }
    }
    for user in &options.nkeys {
        if !names.insert(user.nkey.as_str()) {
            return Err(AuthConfigError::DuplicateNkey(user.nkey.clone()));
        }
        if !is_valid_public_user_key(&user.nkey) {
            return Err(AuthConfigError::InvalidUserNkey);
        }
    }
    let users = options.users.iter().map(|user| {
        (
            &user.allowed_connection_types,
            &user.permissions,
            format!("user {}", go_quote(&user.username)),
        )
    });
    let nkeys = options.nkeys.iter().map(|user| {
        (
            &user.allowed_connection_types,
            &user.permissions,
            format!("nkey {}", go_quote(&user.nkey)),
        )
    });
    for (connection_types, permissions, who) in users.chain(nkeys) {
        for connection_type in connection_types {
            if !KNOWN_CONNECTION_TYPES.contains(&connection_type.to_ascii_uppercase().as_str()) {
                return Err(AuthConfigError::UnknownConnectionType(
                    connection_type.clone(),
                ));
            }
        }
        if let Some(permissions) = permissions {
            validate_permission_subjects(permissions).map_err(|(what, entry)| {
                AuthConfigError::InvalidPermissionSubject {
                    who: who.clone(),
                    what,
                    entry,
                }
            })?;
        }
    }
    if let Some(no_auth_user) = options.no_auth_user.as_deref() {
        validate_no_auth_user(options, no_auth_user)?;
    }
    Ok(())
}

/// Go's `validateNoAuthUser`: a `no_auth_user` (of the server, or of the `websocket {}`
/// block) must name a configured user or nkey. An empty name is no `no_auth_user`.
pub fn validate_no_auth_user(
    options: &AuthOptions,
    no_auth_user: &str,
) -> Result<(), AuthConfigError> {
    if no_auth_user.is_empty() {
        return Ok(());
    }
    if options.users.is_empty() && options.nkeys.is_empty() {
        return Err(AuthConfigError::NoAuthUserWithoutUsers(
            no_auth_user.to_string(),
        ));
    }
    let known = options
        .users
        .iter()
        .any(|user| user.username == no_auth_user)
        || options.nkeys.iter().any(|user| user.nkey == no_auth_user);
    if !known {
        return Err(AuthConfigError::UnknownNoAuthUser(no_auth_user.to_string()));
    }
    Ok(())
}

/// Go's `validatePermissionSubjects`: every entry a valid subject (subscribe entries may
/// name a queue group after a space). `Err` names the list and the entry.
fn validate_permission_subjects(permissions: &Permissions) -> Result<(), (&'static str, String)> {
    let check = |entries: &Option<Vec<String>>, queue_allowed: bool, what: &'static str| {
        for entry in entries.iter().flatten() {
            let mut fields = entry.split_whitespace();
            let subject = fields.next().unwrap_or("");
            let queue = fields.next();
            let valid = is_valid_subject(subject.as_bytes())
                && fields.next().is_none()
                && match queue {
                    None => true,
                    Some(queue) => queue_allowed && is_valid_subject(queue.as_bytes()),
                };
            if !valid {
                return Err((what, entry.clone()));
            }
        }
        Ok(())
    };
    if let Some(publish) = &permissions.publish {
        check(&publish.allow, false, "publish allow")?;
        check(&publish.deny, false, "publish deny")?;
    }
    if let Some(subscribe) = &permissions.subscribe {
        check(&subscribe.allow, true, "subscribe allow")?;
        check(&subscribe.deny, true, "subscribe deny")?;
    }
    Ok(())
}

fn is_valid_public_user_key(key: &str) -> bool {
    key.starts_with('U') && nkeys::KeyPair::from_public_key(key).is_ok()
}

impl Authenticator {
    fn connection_type_allowed(&self, allowed: &[String]) -> bool {
        allowed.is_empty()
            || allowed
                .iter()
                .any(|kind| kind.eq_ignore_ascii_case(self.connection_type))
    }
}

/// Who the client claimed to be, as Go's `getAuthUser` prints it (nkey first, then user,
/// then token).
fn failure(username: &str, nkey: &str, token: &str, reason: &'static str) -> AuthFailure {
    let claimed = if !nkey.is_empty() {
        Some(format!("Nkey {}", go_quote(nkey)))
    } else if !username.is_empty() {
        Some(format!("User {}", go_quote(username)))
    } else if !token.is_empty() {
        Some("Token \"[REDACTED]\"".to_string())
    } else {
        None
    };
    AuthFailure {
        claimed,
        reason: Cow::Borrowed(reason),
        logged: None,
    }
}

fn constant_time_equal(left: &[u8], right: &[u8]) -> bool {
    if left.len() != right.len() {
        return false;
    }
    left.iter()
        .zip(right)
        .fold(0u8, |difference, (a, b)| difference | (a ^ b))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::{SubjectPermission, User};

    fn connect(json: &str) -> ConnectOptions {
        ConnectOptions::from_json(json.as_bytes()).expect("valid CONNECT")
    }

    fn user(name: &str, password: &str) -> User {
        User {
            username: name.to_string(),
            password: password.to_string(),
            ..User::default()
        }
    }

    #[test]
    fn plain_and_bcrypt_passwords_compare_like_go() {
        assert!(compare_passwords("secret", "secret"));
        assert!(!compare_passwords("secret", "Secret"));
        assert!(!compare_passwords("secret", ""));
        let hash = bcrypt::hash("s3cr3t", 4).expect("hash");
        assert!(is_bcrypt(&hash));
        assert!(compare_passwords(&hash, "s3cr3t"));
        assert!(!compare_passwords(&hash, "wrong"));
        // The hash itself is not the password.
        assert!(!compare_passwords(&hash, &hash));
        for prefix in ["$2a$", "$2b$", "$2y$"] {
            let variant = format!("{prefix}{}", &hash[4..]);
            assert!(compare_passwords(&variant, "s3cr3t"), "{prefix}");
        }
        assert!(!is_bcrypt("$2c$10$abc"));
        assert!(!is_bcrypt("$2a$1$abc"));
        assert!(!is_bcrypt("password"));
    }

    #[test]
    fn single_user_and_token() {
        let single = Authenticator::new(&AuthOptions {
            username: Some("derek".into()),
            password: Some("porkchop".into()),
            ..AuthOptions::default()
        });
        assert!(single.required() && !single.nonce_required());
        assert!(single
            .authenticate(&connect(r#"{"user":"derek","pass":"porkchop"}"#), "", None)
            .is_ok());
        let refused = single
            .authenticate(&connect(r#"{"user":"derek","pass":"x"}"#), "", None)
            .expect_err("wrong password");
        assert_eq!(refused.claimed.as_deref(), Some("User \"derek\""));
        assert!(single.authenticate(&connect("{}"), "", None).is_err());

        let token = Authenticator::new(&AuthOptions {
            token: Some("s3cr3t".into()),
            ..AuthOptions::default()
        });
        assert!(token
            .authenticate(&connect(r#"{"auth_token":"s3cr3t"}"#), "", None)
            .is_ok());
        let refused = token
            .authenticate(&connect(r#"{"auth_token":"nope"}"#), "", None)
            .expect_err("wrong token");
        assert_eq!(refused.claimed.as_deref(), Some("Token \"[REDACTED]\""));
    }

    #[test]
    fn no_auth_required_accepts_anything() {
        let open = Authenticator::new(&AuthOptions::default());
        assert!(!open.required());
        assert!(open
            .authenticate(&connect(r#"{"user":"x","pass":"y"}"#), "", None)
            .is_ok());
    }

    #[test]
    fn users_list_carries_account_and_permissions() {
        let mut alice = user("alice", "a");
        alice.account = Some("A".into());
        let mut bob = user("bob", "b");
        bob.permissions = Some(Permissions {
            publish: Some(SubjectPermission {
                allow: Some(vec!["bob.>".into()]),
                deny: None,
            }),
            ..Permissions::default()
        });
        let options = AuthOptions {
            users: vec![alice, bob],
            ..AuthOptions::default()
        };
        let auth = Authenticator::new(&options);
        let alice = auth
            .authenticate(&connect(r#"{"user":"alice","pass":"a"}"#), "", None)
            .expect("alice");
        assert_eq!(alice.account.as_deref(), Some("A"));
        assert!(alice.permissions.is_none());
        let bob = auth
            .authenticate(&connect(r#"{"user":"bob","pass":"b"}"#), "", None)
            .expect("bob");
        let rules = bob.permissions.expect("own permissions");
        assert!(rules.can_subscribe(b"secret", None) && rules.restricts_publish());
        assert!(auth
            .authenticate(&connect(r#"{"user":"carol","pass":"c"}"#), "", None)
            .is_err());
        assert!(auth
            .authenticate(&connect(r#"{"user":"bob","pass":"a"}"#), "", None)
            .is_err());
    }

    #[test]
    fn no_auth_user_logs_in_clients_without_credentials() {
        let options = AuthOptions {
            users: vec![user("guest", "pw"), user("admin", "root")],
            no_auth_user: Some("guest".into()),
            ..AuthOptions::default()
        };
        let auth = Authenticator::new(&options);
        assert!(auth.allows_operations_before_connect());
        let identity = auth.authenticate(&connect("{}"), "", None).expect("guest");
        assert_eq!(identity.user, "guest");
        // Credentials that are sent are checked as usual.
        assert!(auth
            .authenticate(&connect(r#"{"user":"admin","pass":"x"}"#), "", None)
            .is_err());
    }

    #[test]
    fn nkey_signature_of_the_nonce_is_verified_in_both_base64_forms() {
        let key = nkeys::KeyPair::new_user();
        let public = key.public_key();
        let auth = Authenticator::new(&AuthOptions {
            nkeys: vec![NkeyUser {
                nkey: public.clone(),
                ..NkeyUser::default()
            }],
            ..AuthOptions::default()
        });
        assert!(auth.nonce_required());
        let nonce = auth.new_nonce();
        assert_eq!(nonce.len(), 15);
        let signature = key.sign(nonce.as_bytes()).expect("sign");
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&signature);
        let standard = base64::engine::general_purpose::STANDARD.encode(&signature);
        for sig in [&url, &standard] {
            let json = format!(r#"{{"nkey":"{public}","sig":"{sig}"}}"#);
            let identity = auth
                .authenticate(&connect(&json), &nonce, None)
                .expect("signed");
            assert_eq!(identity.user, public);
        }
        let other_nonce = auth.new_nonce();
        let json = format!(r#"{{"nkey":"{public}","sig":"{url}"}}"#);
        assert!(auth
            .authenticate(&connect(&json), &other_nonce, None)
            .is_err());
        let json = format!(r#"{{"nkey":"{public}"}}"#);
        assert!(auth.authenticate(&connect(&json), &nonce, None).is_err());
        let json = format!(r#"{{"nkey":"{public}","sig":"!!!"}}"#);
        assert!(auth.authenticate(&connect(&json), &nonce, None).is_err());
        let stranger = nkeys::KeyPair::new_user();
        let signature = stranger.sign(nonce.as_bytes()).expect("sign");
        let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(signature);
        let json = format!(r#"{{"nkey":"{}","sig":"{sig}"}}"#, stranger.public_key());
        let refused = auth
            .authenticate(&connect(&json), &nonce, None)
            .expect_err("unknown nkey");
        assert!(refused
            .claimed
            .is_some_and(|claimed| claimed.starts_with("Nkey \"U")));
    }

    #[test]
    fn certificate_identities_map_to_users() {
        let names = ["alice@example.com", "CN=bob,O=Acme", "db.example.com"];
        let identities = vec![
            "nobody@example.com".to_string(),
            "db.example.com".to_string(),
            "CN=bob,O=Acme".to_string(),
        ];
        assert_eq!(
            find_certificate_user(names.iter().copied(), &identities, true),
            Some("db.example.com")
        );
        assert_eq!(
            find_certificate_user(names.iter().copied(), &identities, false),
            None
        );
        assert_eq!(
            find_certificate_user(names.iter().copied(), &["CN=eve".to_string()], true),
            None
        );
        let auth = Authenticator::new(&AuthOptions {
            users: vec![user("CN=bob,O=Acme", "")],
            ..AuthOptions::default()
        });
        let identity = auth
            .authenticate(&connect("{}"), "", Some(&identities))
            .expect("mapped");
        assert_eq!(identity.user, "CN=bob,O=Acme");
        assert!(auth
            .authenticate(&connect("{}"), "", Some(&["CN=eve".to_string()]))
            .is_err());
    }

    #[test]
    fn validation_rejects_what_the_go_server_rejects() {
        let single_and_users = AuthOptions {
            username: Some("a".into()),
            users: vec![user("b", "c")],
            ..AuthOptions::default()
        };
        assert_eq!(
            validate(&single_and_users).map_err(|error| error.to_string()),
            Err("Can not have a single user/pass and a users array".into())
        );
        let token_and_user = AuthOptions {
            username: Some("a".into()),
            token: Some("t".into()),
            ..AuthOptions::default()
        };
        assert_eq!(
            validate(&token_and_user).map_err(|error| error.to_string()),
            Err("Cannot have a user/pass and token".into())
        );
        let missing_no_auth_user = AuthOptions {
            users: vec![user("b", "c")],
            no_auth_user: Some("x".into()),
            ..AuthOptions::default()
        };
        assert!(validate(&missing_no_auth_user)
            .map_err(|error| error.to_string())
            .is_err_and(|error| error.contains("not present as user or nkey")));
        let no_users = AuthOptions {
            no_auth_user: Some("x".into()),
            ..AuthOptions::default()
        };
        assert!(validate(&no_users)
            .map_err(|error| error.to_string())
            .is_err_and(|error| error.contains("are not defined")));
        let duplicate = AuthOptions {
            users: vec![user("b", "c"), user("b", "d")],
            ..AuthOptions::default()
        };
        assert_eq!(
            validate(&duplicate).map_err(|error| error.to_string()),
            Err("Duplicate user \"b\" detected".into())
        );
        let mut bad_subject = user("b", "c");
        bad_subject.permissions = Some(Permissions {
            publish: Some(SubjectPermission {
                allow: Some(vec!["foo..bar".into()]),
                deny: None,
            }),
            ..Permissions::default()
        });
        let bad = AuthOptions {
            users: vec![bad_subject],
            ..AuthOptions::default()
        };
        assert!(validate(&bad)
            .map_err(|error| error.to_string())
            .is_err_and(|error| error.starts_with("invalid permissions")));
        let bad_nkey = AuthOptions {
            nkeys: vec![NkeyUser {
                nkey: "UNOTAKEY".into(),
                ..NkeyUser::default()
            }],
            ..AuthOptions::default()
        };
        assert!(validate(&bad_nkey)
            .map_err(|error| error.to_string())
            .is_err());
        assert_eq!(validate(&AuthOptions::default()), Ok(()));
    }
}
