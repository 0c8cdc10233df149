//! Operator mode at start-up and reload: from the operator JWTs, `trusted` keys and the
//! `MEMORY` resolver's preloaded account JWTs to [`OperatorOptions`] and the accounts the
//! account table builds (named by public key, with the exports, imports and mappings their
//! JWTs declare). Go: `validateTrustedOperators`, `MemAccResolver`, `updateAccountClaims`.
//!
//! Pure: the config reader has read the files; this checks and converts.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::jwt::claims::{ExportType, Import as JwtImport};
use crate::jwt::{self, AccountClaims, OperatorClaims};
use crate::options::{
    AccountJetStreamLimits, AccountOptions, Export, ExportKind, Import, JwtAccount,
    MappingDestination, OperatorOptions, ResponseType, SubjectMapping,
};
use crate::subject::is_subset_match;

/// What the config file gave for operator mode.
#[derive(Debug, Default)]
pub struct OperatorConfig {
    /// Decoded `operator` JWTs.
    pub operators: Vec<OperatorClaims>,
    /// `trusted`/`trusted_keys`.
    pub trusted_keys: Vec<String>,
    /// `resolver_preload`: account public key -> account JWT.
    pub preload: BTreeMap<String, String>,
    /// `system_account` from the file, if set.
    pub system_account: Option<String>,
    /// The server version Natrix reports (`x.y.z`), for operators' `assert_server_version`.
    pub server_version: String,
}

/// Operator mode ready to run.
#[derive(Debug)]
pub struct LoadedOperator {
    pub options: OperatorOptions,
    /// The resolver's accounts, for the account table.
    pub accounts: Vec<AccountOptions>,
    /// The system account: the file's, else the operator's.
    pub system_account: Option<String>,
    /// Problems the Go server logs but starts with (an account JWT nobody trusts, an import
    /// that cannot be honoured...).
    pub warnings: Vec<String>,
}

/// Checks the operator settings as the Go server's `validateTrustedOperators` does and
/// loads the preloaded accounts. Errors carry the Go server's texts where it has one.
pub fn load(config: &OperatorConfig, now: i64) -> Result<LoadedOperator, String> {
    if !config.operators.is_empty() && !config.trusted_keys.is_empty() {
        return Err("conflicting options for 'TrustedKeys' and 'TrustedOperators'".to_string());
    }
    let mut system_account = config.system_account.clone();
    if let Some(system) = &system_account {
        let named: Vec<&str> = config
            .operators
            .iter()
            .map(|operator| operator.nats.system_account.as_str())
            .filter(|name| !name.is_empty())
            .collect();
        if !named.is_empty() && !named.contains(&system.as_str()) {
            return Err("system_account in config and operator JWT must be identical".to_string());
        }
    } else if config.operators.len() == 1 {
        let named = &config.operators[0].nats.system_account;
        if !named.is_empty() {
            system_account = Some(named.clone());
        }
    }
    check_server_versions(config)?;
    let mut trusted_keys = config.trusted_keys.clone();
    for operator in &config.operators {
        if !operator.nats.strict_signing_key_usage {
            trusted_keys.push(operator.claims.sub.clone());
        }
        trusted_keys.extend(operator.nats.signing_keys.iter().cloned());
    }
    for key in &trusted_keys {
        if !jwt::is_public_key(key, b'O') {
            return Err(format!(
                "trusted Keys {key:?} are required to be a valid public operator nkey"
            ));
        }
    }
    let mut warnings = Vec::new();
    let mut verified: Vec<JwtAccount> = Vec::new();
    for (key, token) in &config.preload {
        let claims = match jwt::decode::<AccountClaims>(token) {
            Ok(claims) => claims,
            Err(error) => return Err(format!("invalid account JWT for {key}: {error}")),
        };
        if let Err(error) = jwt::check_validity(&claims.claims, now) {
            warnings.push(format!("Account [{key}] has validation issues: {error}"));
        }
        if claims.claims.sub != *key {
            warnings.push(format!(
                "Account [{key}] JWT is about another account ({}): not loaded",
                claims.claims.sub
            ));
            continue;
        }
        if !trusted_keys.contains(&claims.claims.iss) {
            warnings.push(format!(
                "Account [{key}] JWT not signed by trusted operator: not loaded"
            ));
            continue;
        }
        if claims.nats.authorization.enabled() {
            return Err(format!(
                "account {key} enables auth callout (authorization.auth_users), which Natrix \
                 does not support yet"
            ));
        }
        verified.push(JwtAccount {
            public_key: key.clone(),
            jwt: token.clone(),
            claims: Arc::new(claims),
        });
    }
    let accounts = verified
        .iter()
        .map(|account| account_options(account, &verified, &mut warnings))
        .collect();
    Ok(LoadedOperator {
        options: OperatorOptions {
            trusted_keys,
            accounts: verified,
        },
        accounts,
        system_account,
        warnings,
    })
}

/// Go's `ParseServerVersion`: empty is `0.0.0`.
fn parse_version(version: &str) -> Result<(u64, u64, u64), String> {
    if version.is_empty() {
        return Ok((0, 0, 0));
    }
    let parts: Vec<&str> = version.split('.').collect();
    let [major, minor, update] = parts.as_slice() else {
        return Err("asserted server version must be of form <major>.<minor>.<update>".into());
    };
    let number = |text: &str, what: &str| {
        text.parse::<u64>()
            .map_err(|_| format!("asserted server version cant parse {what} {text}"))
    };
    Ok((
        number(major, "major")?,
        number(minor, "minor")?,
        number(update, "update")?,
    ))
}

/// Go's check of each operator's `assert_server_version` against the server's version.
fn check_server_versions(config: &OperatorConfig) -> Result<(), String> {
    let server = parse_version(&config.server_version).unwrap_or((0, 0, 0));
    for operator in &config.operators {
        let key = &operator.claims.sub;
        let asserted = &operator.nats.assert_server_version;
        let wanted = parse_version(asserted).map_err(|error| {
            format!("operator {key} expects version {asserted} got error instead: {error}")
        })?;
        let names = ["major", "minor", "update"];
        let wanted = [wanted.0, wanted.1, wanted.2];
        let have = [server.0, server.1, server.2];
        for index in 0..3 {
            if wanted[index] > have[index] {
                return Err(format!(
                    "operator {key} expected {name} version {} > server {name} version {}",
                    wanted[index],
                    have[index],
                    name = names[index]
                ));
            }
            if have[index] > wanted[index] {
                break;
            }
        }
    }
    Ok(())
}

fn kind(kind: ExportType) -> ExportKind {
    match kind {
        ExportType::Stream => ExportKind::Stream,
        ExportType::Service => ExportKind::Service,
    }
}

/// Go's `updateAccountClaims` for what routing needs: exports (public, or private when
/// they require an activation token), the imports Natrix can honour, and mappings.
fn account_options(
    account: &JwtAccount,
    all: &[JwtAccount],
    warnings: &mut Vec<String>,
) -> AccountOptions {
    let claims = &account.claims.nats;
    let exports = claims
        .exports
        .iter()
        .map(|export| Export {
            kind: kind(export.kind),
            subject: export.subject.clone(),
            // Activation tokens are not supported: a private export admits nobody.
            accounts: export.token_req.then(Vec::new),
            response_type: match export.response_type.as_str() {
                "Stream" => ResponseType::Stream,
                "Chunked" => ResponseType::Chunked,
                _ => ResponseType::Singleton,
            },
        })
        .collect();
    let imports = claims
        .imports
        .iter()
        .filter_map(|import| {
            let honoured = import_allowed(import, all);
            if let Err(reason) = &honoured {
                warnings.push(format!(
                    "Account [{}]: {} import of {:?} from [{}] not added: {reason}",
                    account.public_key,
                    kind_name(import.kind),
                    import.subject,
                    import.account
                ));
            }
            honoured.ok().map(|()| convert_import(import))
        })
        .collect();
    let mappings = claims
        .mappings
        .iter()
        .map(|(source, destinations)| SubjectMapping {
            source: source.clone(),
            destinations: destinations
                .iter()
                // Cluster-scoped destinations apply in a cluster only.
                .filter(|destination| destination.cluster.is_empty())
                .map(|destination| MappingDestination {
                    subject: destination.subject.clone(),
                    weight: if destination.weight == 0 {
                        100
                    } else {
                        destination.weight.min(100)
                    },
                })
                .collect(),
        })
        .filter(|mapping| !mapping.destinations.is_empty())
        .collect();
    AccountOptions {
        name: account.public_key.clone(),
        exports,
        imports,
        mappings,
        jetstream: jetstream_limits(&account.claims),
    }
}

fn kind_name(kind: ExportType) -> &'static str {
    match kind {
        ExportType::Stream => "stream",
        ExportType::Service => "service",
    }
}

/// Whether an import can be set up: the exporter is loaded and exports a covering subject
/// of the same kind without requiring an activation token.
fn import_allowed(import: &JwtImport, all: &[JwtAccount]) -> Result<(), &'static str> {
    let Some(exporter) = all
        .iter()
        .find(|account| account.public_key == import.account)
    else {
        return Err("can't locate the exporting account");
    };
    let matching = exporter.claims.nats.exports.iter().find(|export| {
        export.kind == import.kind
            && is_subset_match(import.subject.as_bytes(), export.subject.as_bytes())
    });
    match matching {
        None => Err("no matching export"),
        Some(export) if export.token_req => {
            Err("the export requires an activation token, which Natrix does not support yet")
        }
        Some(_) => Ok(()),
    }
}

/// Go's subject choices: a stream import's `local_subject` renames it, `to` prefixes it; a
/// service import is published to as `local_subject` (else its subject) and reaches the
/// exporter as its subject (or the deprecated `to`).
fn convert_import(import: &JwtImport) -> Import {
    let non_empty = |text: &str| (!text.is_empty()).then(|| text.to_string());
    match import.kind {
        ExportType::Stream => Import {
            kind: ExportKind::Stream,
            account: import.account.clone(),
            subject: import.subject.clone(),
            to: non_empty(&import.local_subject),
            prefix: if import.local_subject.is_empty() {
                non_empty(&import.to)
            } else {
                None
            },
        },
        ExportType::Service => {
            let (local, remote) = if !import.local_subject.is_empty() {
                (import.local_subject.clone(), import.subject.clone())
            } else if !import.to.is_empty() {
                (import.subject.clone(), import.to.clone())
            } else {
                (import.subject.clone(), import.subject.clone())
            };
            Import {
                kind: ExportKind::Service,
                account: import.account.clone(),
                subject: remote,
                to: Some(local),
                prefix: None,
            }
        }
    }
}

/// JetStream for the account when its limits give it storage (Go: `IsJSEnabled`); with
/// tiered limits, the `R1` tier (a single server has no other).
fn jetstream_limits(claims: &AccountClaims) -> Option<AccountJetStreamLimits> {
    let limits = &claims.nats.limits;
    let tier = if limits.tiered_limits.is_empty() {
        &limits.jetstream
    } else {
        limits.tiered_limits.get("R1")?
    };
    tier.enabled().then_some(AccountJetStreamLimits {
        max_memory: tier.mem_storage,
        max_store: tier.disk_storage,
        max_streams: tier.streams,
        max_consumers: tier.consumer,
        max_ack_pending: tier.max_ack_pending,
        memory_max_stream_bytes: tier.mem_max_stream_bytes,
        store_max_stream_bytes: tier.disk_max_stream_bytes,
        max_bytes_required: tier.max_bytes_required,
    })
}
