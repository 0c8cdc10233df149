//! Operator mode: clients authenticate with a user JWT (and a signature of the INFO nonce
//! by the user's nkey, unless the JWT is a bearer token), checked against the account JWT
//! the resolver holds, as the Go server's `processClientOrLeafAuthentication` does for
//! `trustedKeys`. [`setup`] turns the config into [`OperatorOptions`].
//!
//! [`OperatorAuth`] is built once per shard; a CONNECT decodes one JWT and checks one
//! signature. Pure: the caller passes the peer address and the clock.

pub mod setup;
#[cfg(test)]
mod tests;

use std::net::IpAddr;
use std::rc::Rc;
use std::time::Duration;

use ahash::AHashMap;

use crate::auth::{verify_nonce_signature, AuthFailure, Expiry, Identity, JwtLimits, JwtUser};
use crate::jwt::claims::{UserPermissionLimits, NO_LIMIT};
use crate::jwt::limits::{
    apply_template, server_permissions, source_allowed, time_window, validate_user, TemplateContext,
};
use crate::jwt::{self, AccountClaims, UserClaims};
use crate::options::{OperatorOptions, Permissions};
use crate::permissions::{with_response_defaults, PermissionRules};
use crate::protocol::ConnectOptions;

/// The connection types a JWT may name (Go: `convertAllowedConnectionTypes`).
const KNOWN_CONNECTION_TYPES: &[&str] = &[
    "STANDARD",
    "WEBSOCKET",
    "LEAFNODE",
    "LEAFNODE_WS",
    "MQTT",
    "MQTT_WS",
    "IN_PROCESS",
];

/// The connection a CONNECT came on, and when.
#[derive(Debug, Clone, Copy)]
pub struct ConnectContext {
    pub peer: IpAddr,
    /// `STANDARD` or `WEBSOCKET`.
    pub connection_type: &'static str,
    /// Unix seconds.
    pub now: i64,
    /// Seconds since midnight, server local time (for `times`).
    pub local_seconds_of_day: i64,
}

/// The shard's view of operator mode.
#[derive(Debug, Default)]
pub struct OperatorAuth {
    trusted_keys: Vec<String>,
    accounts: AHashMap<String, Rc<ResolvedAccount>>,
}

#[derive(Debug)]
struct ResolvedAccount {
    claims: std::sync::Arc<AccountClaims>,
    /// The account's `default_permissions`, for users whose JWT sets none.
    default_permissions: Option<Permissions>,
}

impl OperatorAuth {
    pub fn new(options: &OperatorOptions) -> OperatorAuth {
        let accounts = options
            .accounts
            .iter()
            .map(|account| {
                let resolved = ResolvedAccount {
                    default_permissions: server_permissions(
                        &account.claims.nats.default_permissions,
                    ),
                    claims: std::sync::Arc::clone(&account.claims),
                };
                (account.public_key.clone(), Rc::new(resolved))
            })
            .collect();
        OperatorAuth {
            trusted_keys: options.trusted_keys.clone(),
            accounts,
        }
    }

    /// Checks a CONNECT's user JWT, in the Go server's order. `nonce` is the one this
    /// connection's INFO carried.
    pub fn authenticate(
        &self,
        connect: &ConnectOptions,
        nonce: &str,
        context: &ConnectContext,
    ) -> Result<Identity, AuthFailure> {
        let token = connect.jwt.as_deref().unwrap_or("");
        let refuse = |reason: String| AuthFailure {
            claimed: claimed(connect),
            reason: std::borrow::Cow::Owned(reason),
            logged: None,
        };
        if token.is_empty() {
            return Err(refuse("Authentication requires a user JWT".into()));
        }
        let mut user: UserClaims =
            jwt::decode(token).map_err(|error| refuse(format!("User JWT not valid: {error}")))?;
        if user.nats.limits.proxy_required {
            // Natrix has no trusted proxies, so no connection can satisfy this.
            return Err(refuse("User JWT requires a trusted proxy".into()));
        }
        jwt::check_validity(&user.claims, context.now)
            .map_err(|error| refuse(format!("User JWT no longer valid: {error}")))?;
        validate_user(&user)
            .map_err(|error| refuse(format!("User JWT no longer valid: {error}")))?;
        let account_key = if user.nats.issuer_account.is_empty() {
            user.claims.iss.clone()
        } else {
            user.nats.issuer_account.clone()
        };
        let Some(account) = self.accounts.get(&account_key) else {
            return Err(refuse(format!(
                "Account JWT lookup error: account {account_key} not found"
            )));
        };
        let claims = &account.claims;
        if !self.trusted_keys.contains(&claims.claims.iss) {
            return Err(refuse("Account JWT not signed by trusted operator".into()));
        }
        // The signer: the account itself, or one of its signing keys (maybe scoped).
        let mut limits_from_scope = None;
        if user.claims.iss != account_key {
            match claims.nats.signing_keys.get(&user.claims.iss) {
                None => return Err(refuse("User JWT issuer is not known".into())),
                Some(None) => {}
                Some(Some(scope)) => {
                    if !user.nats.limits.is_empty() {
                        return Err(refuse(
                            "User JWT is not valid: scoped users require no permissions or \
                             limits set"
                                .into(),
                        ));
                    }
                    let context = TemplateContext {
                        user: &user,
                        account_name: &claims.claims.name,
                        account_tags: &claims.nats.generic.tags,
                    };
                    let expanded = apply_template(&scope.template, &context)
                        .map_err(|_| refuse("User JWT generated invalid permissions".into()))?;
                    limits_from_scope = Some(expanded);
                }
            }
        }
        if let Some(expanded) = limits_from_scope {
            user.nats.limits = expanded;
        }
        if jwt::check_validity(&claims.claims, context.now) == Err(jwt::JwtError::Expired) {
            return Err(refuse("Account JWT has expired".into()));
        }
        let limits: &UserPermissionLimits = &user.nats.limits;
        if limits.bearer_token && claims.nats.limits.disallow_bearer {
            return Err(refuse("Account does not allow bearer tokens".into()));
        }
        connection_type_allowed(&limits.allowed_connection_types, context.connection_type)
            .map_err(refuse)?;
        if !limits.bearer_token {
            verify_nonce_signature(
                &user.claims.sub,
                connect.sig.as_deref().unwrap_or(""),
                nonce,
            )
            .map_err(|reason| refuse(reason.to_string()))?;
        }
        if jwt::is_revoked(&claims.nats.revocations, &user.claims.sub, user.claims.iat) {
            return Err(refuse("User authentication revoked".into()));
        }
        if !source_allowed(&limits.src, context.peer) {
            return Err(AuthFailure {
                logged: Some(format!("Bad src Ip {}", context.peer)),
                ..refuse("Bad src Ip".into())
            });
        }
        if !limits.locale.is_empty() && !limits.times.is_empty() {
            // Time zones by IANA name need a zone database Natrix does not carry.
            return Err(refuse(
                "User JWT times_location is not supported by Natrix".into(),
            ));
        }
        let Some(valid_for) = time_window(&limits.times, context.local_seconds_of_day) else {
            return Err(AuthFailure {
                logged: Some("Outside connect times".into()),
                ..refuse("Outside connect times".into())
            });
        };
        let permissions = server_permissions(&limits.permissions)
            .or_else(|| account.default_permissions.clone())
            .map(|permissions| {
                Rc::new(PermissionRules::compile(&with_response_defaults(
                    &permissions,
                )))
            });
        Ok(Identity {
            account: Some(account_key),
            permissions,
            user: user.claims.sub.clone(),
            expiry: expiry(&user, claims, valid_for, context.now),
            jwt_limits: Some(JwtLimits {
                subscriptions: min_limit(limits.subs, claims.nats.limits.subs),
                payload: min_limit(limits.payload, claims.nats.limits.payload),
                account_connections: claims.nats.limits.conn,
            }),
            jwt_user: Some(Rc::new(JwtUser {
                issuer_key: user.claims.iss.clone(),
                account_name: claims.claims.name.clone(),
                tags: user.nats.generic.tags.clone(),
            })),
        })
    }

    /// Whether a JWT account with this public key is loaded.
    pub fn has_account(&self, key: &str) -> bool {
        self.accounts.contains_key(key)
    }
}

/// Who a refused JWT client claimed to be, as the Go server logs it: its `getRawAuthUser`
/// gives the CONNECT's nkey or user name, else the JWT user's key, which it only learns on
/// success, so a refused JWT alone names no one.
fn claimed(connect: &ConnectOptions) -> Option<String> {
    use crate::protocol::errors::go_quote;
    match (connect.nkey.as_deref(), connect.user.as_deref()) {
        (Some(nkey), _) if !nkey.is_empty() => Some(format!("Nkey {}", go_quote(nkey))),
        (_, Some(user)) if !user.is_empty() => Some(format!("User {}", go_quote(user))),
        _ => None,
    }
}

/// Go's `minLimit` of the user's and the account's limits (-1 is no limit).
fn min_limit(user: i64, account: i64) -> i64 {
    match (user, account) {
        (NO_LIMIT, other) | (other, NO_LIMIT) => other,
        (user, account) => user.min(account),
    }
}

/// Go's `convertAllowedConnectionTypes` then `connectionTypeAllowed`: unknown types are
/// dropped; a list with only unknown types admits nobody; an empty list admits everyone.
fn connection_type_allowed(allowed: &[String], connection_type: &str) -> Result<(), String> {
    if allowed.is_empty() {
        return Ok(());
    }
    let known: Vec<String> = allowed
        .iter()
        .map(|kind| kind.to_ascii_uppercase())
        .filter(|kind| KNOWN_CONNECTION_TYPES.contains(&kind.as_str()))
        .collect();
    if known.is_empty() {
        return Err(format!("unknown connection types {allowed:?}"));
    }
    if known.iter().any(|kind| kind == connection_type) {
        Ok(())
    } else {
        Err("Connection type not allowed".to_string())
    }
}

/// When the connection must end: the user JWT's expiry or the end of its connect window
/// (Go: `setExpiration`), or the account JWT's expiry, whichever comes first.
fn expiry(
    user: &UserClaims,
    account: &AccountClaims,
    valid_for: Option<Duration>,
    now: i64,
) -> Option<Expiry> {
    let until = |exp: i64| Duration::from_secs(exp.saturating_sub(now).max(0).unsigned_abs());
    let mut user_end = (user.claims.exp > 0).then(|| until(user.claims.exp));
    if let Some(window) = valid_for {
        user_end = Some(user_end.map_or(window, |end| end.min(window)));
    }
    let account_end = (account.claims.exp > 0).then(|| until(account.claims.exp));
    match (user_end, account_end) {
        (Some(user), Some(account)) if account < user => Some(Expiry {
            after: account,
            account: true,
        }),
        (Some(user), _) => Some(Expiry {
            after: user,
            account: false,
        }),
        (None, Some(account)) => Some(Expiry {
            after: account,
            account: true,
        }),
        (None, None) => None,
    }
}
