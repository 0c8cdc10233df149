//! Operator mode's keys: `operator` (JWT files or inline JWTs), `trusted`/`trusted_keys`,
//! `resolver` (only `MEMORY`; the others are refused) and `resolver_preload`, then, once the
//! whole file is read, the Go server's `validateTrustedOperators` checks and the loading of
//! the preloaded accounts (`natrix_shards::operator::setup`).

use std::collections::BTreeMap;

use natrix_shards::jwt::creds::parse_decorated_jwt;
use natrix_shards::jwt::{self, AccountClaims, OperatorClaims};
use natrix_shards::operator::setup::{self, OperatorConfig};

use crate::config::{Entry, Pos, Value};
use crate::flags::Settings;

use super::values::kind;
use super::Reader;

/// What the operator keys of one file said, until `finish`.
#[derive(Default)]
pub(super) struct OperatorState {
    config: OperatorConfig,
    /// Where `operator` was (also set by `trusted`), for the checks at the end.
    pos: Option<Pos>,
    /// `resolver: MEMORY` was given.
    memory_resolver: bool,
    /// `resolver_preload` was given.
    preload_pos: Option<Pos>,
}

/// The Go prefix of an inline JWT (`jwtPrefix`).
const JWT_PREFIX: &str = "eyJ";

impl Reader {
    /// A string, or an array of strings (Go's operator and trusted keys lists).
    fn strings(&mut self, entry: &Entry, what: &str) -> Option<Vec<String>> {
        match &entry.item.value {
            Value::String(text) => Some(vec![text.clone()]),
            Value::Array(items) => {
                let mut list = Vec::new();
                for item in items {
                    match &item.value {
                        Value::String(text) => list.push(text.clone()),
                        other => self.error(
                            &item.pos,
                            format!(
                                "error parsing {what}: unsupported type in array {}",
                                kind(other)
                            ),
                        ),
                    }
                }
                Some(list)
            }
            other => {
                self.error(
                    &entry.item.pos,
                    format!("error parsing {what}: unsupported type {}", kind(other)),
                );
                None
            }
        }
    }

    /// `operator`: file names (read from the working directory, as the Go server does), or
    /// JWTs inline; a file may hold the JWT armored, as `nsc` writes it.
    pub(super) fn operator(&mut self, entry: &Entry) {
        let Some(sources) = self.strings(entry, "operators") else {
            return;
        };
        self.operator.pos = Some(entry.key_pos.clone());
        for source in sources {
            let contents = match std::fs::read_to_string(&source) {
                Ok(contents) => contents,
                Err(_) if source.starts_with(JWT_PREFIX) => source.clone(),
                Err(error) => {
                    self.error(
                        &entry.item.pos,
                        format!("error parsing operator JWT: open {source}: {error}"),
                    );
                    continue;
                }
            };
            match jwt::decode::<OperatorClaims>(parse_decorated_jwt(&contents)) {
                Ok(claims) => self.operator.config.operators.push(claims),
                Err(error) => self.error(
                    &entry.item.pos,
                    format!("error parsing operator JWT: {error}"),
                ),
            }
        }
    }

    /// `trusted`/`trusted_keys`: public operator keys.
    pub(super) fn trusted(&mut self, entry: &Entry) {
        let Some(keys) = self.strings(entry, "trusted") else {
            return;
        };
        if self.operator.pos.is_none() {
            self.operator.pos = Some(entry.key_pos.clone());
        }
        for key in &keys {
            if !jwt::is_public_key(key, b'O') {
                self.error(
                    &entry.item.pos,
                    format!("trust key {key:?} required to be a valid public operator nkey"),
                );
            }
        }
        self.operator.config.trusted_keys = keys;
    }

    /// `resolver`: `MEMORY` (or `MEM`, as Go matches it) is supported; `URL(...)` and the
    /// `full`/`cache` resolvers are refused until they are built.
    pub(super) fn resolver(&mut self, entry: &Entry) {
        match &entry.item.value {
            Value::String(text) if text.to_ascii_lowercase().contains("mem") => {
                self.operator.memory_resolver = true
            }
            Value::String(_) => self.refused(entry, "the URL account resolver"),
            Value::Map(_) => self.refused(entry, "the full or cache (directory) account resolver"),
            other => self.error(
                &entry.item.pos,
                format!("error parsing resolver: unsupported type {}", kind(other)),
            ),
        }
    }

    /// `resolver_preload`: account public key -> account JWT, each a valid account JWT.
    pub(super) fn resolver_preload(&mut self, entry: &Entry) {
        let Value::Map(map) = &entry.item.value else {
            self.error(
                &entry.item.pos,
                "preload should be a map of account_public_key:account_jwt",
            );
            return;
        };
        self.operator.preload_pos = Some(entry.key_pos.clone());
        let mut preload = BTreeMap::new();
        for field in &map.entries {
            let Value::String(token) = &field.item.value else {
                self.error(&field.item.pos, "preload map value should be a string JWT");
                continue;
            };
            if jwt::decode::<AccountClaims>(token).is_err() {
                self.error(&field.item.pos, "invalid account JWT");
                continue;
            }
            preload.insert(field.key.clone(), token.clone());
        }
        self.operator.config.preload = preload;
    }

    /// After the whole file: operator mode's consistency checks, and its accounts.
    pub(super) fn finish_operator(&mut self, settings: &mut Settings) {
        let state = std::mem::take(&mut self.operator);
        let Some(pos) = state.pos else {
            if let Some(pos) = &state.preload_pos {
                self.warnings.push(format!(
                    "{pos}: resolver_preload without operator or trusted keys is ignored"
                ));
            }
            return;
        };
        let options = &settings.options;
        let has_operators = !state.config.operators.is_empty();
        if has_operators && !state.memory_resolver {
            let implicit_url = state.config.operators.len() == 1
                && !state.config.operators[0].nats.account_server_url.is_empty();
            if implicit_url {
                self.errors.push(format!(
                    "{pos}: the operator JWT's account_server_url makes an URL account resolver, which Natrix does not support yet; configure `resolver: MEMORY` with `resolver_preload`"
                ));
            } else {
                self.error(
                    &pos,
                    "operators require an account resolver to be configured",
                );
            }
            return;
        }
        if has_operators && !options.accounts.is_empty() {
            self.error(
                &pos,
                "operators do not allow Accounts to be configured directly",
            );
        }
        if !options.auth.users.is_empty() || !options.auth.nkeys.is_empty() {
            self.error(
                &pos,
                "operators do not allow users to be configured directly",
            );
        }
        let mut config = state.config;
        config.system_account = settings.options.system_account.clone();
        config.server_version = crate::bootstrap::GO_COMPATIBLE_VERSION.to_string();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| {
                i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
            });
        match setup::load(&config, now) {
            Ok(loaded) => {
                self.warnings.extend(loaded.warnings);
                let options = &mut settings.options;
                options.accounts.extend(loaded.accounts);
                options.system_account = loaded.system_account;
                options.operator = Some(loaded.options);
            }
            Err(error) => self.error(&pos, error),
        }
    }
}
