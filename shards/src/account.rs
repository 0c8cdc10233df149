//! Accounts: isolated subject spaces, and the links between them that exports and imports
//! open ("links", so that "route" keeps its NATS meaning: a connection between servers).
//!
//! The table is built once from the options and shared read-only by every shard (an `Arc`),
//! so routing between accounts needs no cross-shard state. Every shard keeps one subject index
//! and one interest summary per account; an account is just an index into them.
//!
//! Service replies cross accounts without a shared table of pending requests: the reply subject
//! the service sees is `_R_.<account>.<tag>.<original reply>`, where the tag is a keyed hash
//! (SipHash with a per-process random key) of the account and the original reply. Any shard
//! can route the response back by checking the tag, and a service cannot forge a route into an
//! account it was never asked by.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

use ahash::AHashMap;

use crate::mapping::{Mappings, SubjectTransform};
use crate::options::{ExportKind, Import, ServerOptions};

/// Index of an account in the table and in each shard's per-account state.
pub type AccountId = u16;

/// The global account `$G`: clients of a server without accounts, and users of no account.
pub const GLOBAL_ACCOUNT: AccountId = 0;
pub const GLOBAL_ACCOUNT_NAME: &str = "$G";
pub const DEFAULT_SYSTEM_ACCOUNT_NAME: &str = "$SYS";

/// The prefix of reply subjects rewritten for service imports, as in the Go server.
const REPLY_PREFIX: &[u8] = b"_R_.";

/// Why the accounts in the options cannot be set up.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AccountError {
    #[error("too many accounts (at most {max})")]
    TooMany { max: usize },
    #[error("{kind} import of {subject:?} from account {account:?}: account not defined")]
    UnknownAccount {
        kind: &'static str,
        account: String,
        subject: String,
    },
    #[error("Error adding {kind} import {subject:?}: {kind} import not authorized")]
    NotAuthorized {
        kind: &'static str,
        account: String,
        subject: String,
    },
    #[error("{kind} import of {subject:?} from account {account:?}: {reason}")]
    BadSubject {
        kind: &'static str,
        account: String,
        subject: String,
        reason: String,
    },
}

/// A stream another account imports from this one: messages published here that match are
/// also published there, under the mapped subject.
#[derive(Debug, Clone)]
pub struct StreamLink {
    pub target: AccountId,
    pub transform: SubjectTransform,
}

/// A service this account imports: publishes here that match go to the exporting account.
#[derive(Debug, Clone)]
pub struct ServiceLink {
    pub target: AccountId,
    pub transform: SubjectTransform,
}

/// Everything about one account that routing needs.
#[derive(Debug, Default)]
pub struct Account {
    pub name: String,
    pub mappings: Mappings,
    /// Streams exported from this account to importers.
    pub stream_links: Vec<StreamLink>,
    /// Services this account imports.
    pub service_links: Vec<ServiceLink>,
}

impl Account {
    /// Whether a publish in this account needs more than a match in its own index.
    pub fn has_links(&self) -> bool {
        !self.mappings.is_empty() || !self.stream_links.is_empty() || !self.service_links.is_empty()
    }
}

/// All accounts of the server.
#[derive(Debug)]
pub struct AccountTable {
    accounts: Vec<Account>,
    by_name: AHashMap<String, AccountId>,
    system: AccountId,
    reply_key: RandomState,
    /// Whether any account exports a service: only then can `_R_.` subjects be responses.
    has_services: bool,
}

impl AccountTable {
    pub fn build(options: &ServerOptions) -> Result<Self, AccountError> {
        Self::build_after(options, &[])
    }

    /// The table for a reloaded configuration: accounts that existed keep their ids (shards
    /// index their subscriptions by id), new ones come after them, and removed ones stay as
    /// empty accounts no user belongs to.
    pub fn rebuild(options: &ServerOptions, previous: &AccountTable) -> Result<Self, AccountError> {
        let names: Vec<String> = previous
            .accounts
            .iter()
            .map(|account| account.name.clone())
            .collect();
        Self::build_after(options, &names)
    }

    fn build_after(options: &ServerOptions, earlier: &[String]) -> Result<Self, AccountError> {
        let system_name = options
            .system_account
            .clone()
            .unwrap_or_else(|| DEFAULT_SYSTEM_ACCOUNT_NAME.to_string());
        let mut names = vec![GLOBAL_ACCOUNT_NAME.to_string()];
        let configured = options.accounts.iter().map(|account| &account.name);
        for name in earlier
            .iter()
            .chain(configured)
            .chain(std::iter::once(&system_name))
        {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
        let mut accounts: Vec<Account> = names
            .into_iter()
            .map(|name| {
                let mappings = if name == GLOBAL_ACCOUNT_NAME {
                    Mappings::compile(&options.mappings)
                } else {
                    options
                        .accounts
                        .iter()
                        .find(|account| account.name == name)
                        .map(|account| Mappings::compile(&account.mappings))
                        .unwrap_or_default()
                };
                Account {
                    name,
                    mappings,
                    ..Account::default()
                }
            })
            .collect();
        if accounts.len() > usize::from(AccountId::MAX) {
            return Err(AccountError::TooMany {
                max: usize::from(AccountId::MAX),
            });
        }
        let by_name: AHashMap<String, AccountId> = accounts
            .iter()
            .enumerate()
            .map(|(index, account)| (account.name.clone(), index as AccountId))
            .collect();
        let mut has_services = false;
        for configured in &options.accounts {
            let Some(&importer) = by_name.get(&configured.name) else {
                continue;
            };
            for import in &configured.imports {
                let Some(&exporter) = by_name.get(&import.account) else {
                    return Err(AccountError::UnknownAccount {
                        kind: kind_name(import.kind),
                        account: import.account.clone(),
                        subject: import.subject.clone(),
                    });
                };
                check_authorized(options, &configured.name, import)?;
                let bad_subject = |reason: crate::mapping::MappingError| AccountError::BadSubject {
                    kind: kind_name(import.kind),
                    account: import.account.clone(),
                    subject: import.subject.clone(),
                    reason: reason.to_string(),
                };
                match import.kind {
                    ExportKind::Stream => {
                        let destination = match (&import.to, &import.prefix) {
                            (Some(to), _) => template_from_pattern(to),
                            (None, Some(prefix)) => {
                                format!("{prefix}.{}", template_from_pattern(&import.subject))
                            }
                            (None, None) => template_from_pattern(&import.subject),
                        };
                        let transform = SubjectTransform::new(&import.subject, &destination)
                            .map_err(bad_subject)?;
                        accounts[usize::from(exporter)]
                            .stream_links
                            .push(StreamLink {
                                target: importer,
                                transform,
                            });
                    }
                    ExportKind::Service => {
                        has_services = true;
                        let local = import.to.clone().unwrap_or_else(|| import.subject.clone());
                        let transform =
                            SubjectTransform::new(&local, &template_from_pattern(&import.subject))
                                .map_err(bad_subject)?;
                        accounts[usize::from(importer)]
                            .service_links
                            .push(ServiceLink {
                                target: exporter,
                                transform,
                            });
                    }
                }
            }
        }
        let system = by_name.get(&system_name).copied().unwrap_or(GLOBAL_ACCOUNT);
        Ok(AccountTable {
            accounts,
            by_name,
            system,
            reply_key: RandomState::new(),
            has_services,
        })
    }

    pub fn len(&self) -> usize {
        self.accounts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }

    pub fn id(&self, name: &str) -> Option<AccountId> {
        self.by_name.get(name).copied()
    }

    pub fn get(&self, id: AccountId) -> &Account {
        // Ids come only from this table, so they are always in range.
        &self.accounts[usize::from(id)]
    }

    /// Whether a publish in `account` is delivered in that account only, under its own
    /// subject: no mappings, no links, and no service in any account whose reply could be
    /// published here.
    pub fn routes_directly(&self, account: AccountId) -> bool {
        !self.has_services
            && self
                .accounts
                .get(usize::from(account))
                .is_some_and(|account| !account.has_links())
    }

    pub fn system(&self) -> AccountId {
        self.system
    }

    fn reply_tag(&self, target: AccountId, reply: &[u8]) -> u64 {
        self.reply_key.hash_one((target, reply))
    }

    /// The reply subject a service in another account sees for a request from `requester`
    /// whose reply subject is `reply`.
    pub fn encode_reply(&self, requester: AccountId, reply: &[u8]) -> Vec<u8> {
        let tag = self.reply_tag(requester, reply);
        let mut encoded = Vec::with_capacity(REPLY_PREFIX.len() + 24 + reply.len());
        encoded.extend_from_slice(REPLY_PREFIX);
        encoded.extend_from_slice(format!("{requester:x}.{tag:x}.").as_bytes());
        encoded.extend_from_slice(reply);
        encoded
    }

    /// If `subject` is a reply subject made by [`encode_reply`](Self::encode_reply), the
    /// requester's account and its original reply subject.
    pub fn decode_reply<'a>(&self, subject: &'a [u8]) -> Option<(AccountId, &'a [u8])> {
        if !self.has_services {
            return None;
        }
        let rest = subject.strip_prefix(REPLY_PREFIX)?;
        let mut parts = rest.splitn(3, |&byte| byte == b'.');
        let account =
            AccountId::from_str_radix(std::str::from_utf8(parts.next()?).ok()?, 16).ok()?;
        let tag = u64::from_str_radix(std::str::from_utf8(parts.next()?).ok()?, 16).ok()?;
        let reply = parts.next()?;
        if usize::from(account) >= self.accounts.len() || reply.is_empty() {
            return None;
        }
        (self.reply_tag(account, reply) == tag).then_some((account, reply))
    }
}

fn kind_name(kind: ExportKind) -> &'static str {
    match kind {
        ExportKind::Stream => "stream",
        ExportKind::Service => "service",
    }
}

/// Turns a subscription-style pattern into a mapping template that keeps its wildcards in
/// place: `a.*.b.>` becomes `a.$1.b.>`.
fn template_from_pattern(pattern: &str) -> String {
    let mut wildcard = 0;
    pattern
        .split('.')
        .map(|token| {
            if token == "*" {
                wildcard += 1;
                format!("${wildcard}")
            } else {
                token.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// An import needs an export of the other account that covers its subject and admits the
/// importer (public, or listing it).
fn check_authorized(
    options: &ServerOptions,
    importer: &str,
    import: &Import,
) -> Result<(), AccountError> {
    let exporter = options
        .accounts
        .iter()
        .find(|account| account.name == import.account);
    let authorized = exporter.is_some_and(|exporter| {
        exporter.exports.iter().any(|export| {
            export.kind == import.kind
                && crate::subject::is_subset_match(
                    import.subject.as_bytes(),
                    export.subject.as_bytes(),
                )
                && export
                    .accounts
                    .as_ref()
                    .is_none_or(|allowed| allowed.iter().any(|name| name == importer))
        })
    });
    if authorized {
        Ok(())
    } else {
        Err(AccountError::NotAuthorized {
            kind: kind_name(import.kind),
            account: import.account.clone(),
            subject: import.subject.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::{AccountOptions, Export, ResponseType};

    fn options() -> ServerOptions {
        let export = |kind, subject: &str, accounts: Option<Vec<String>>| Export {
            kind,
            subject: subject.into(),
            accounts,
            response_type: ResponseType::Singleton,
        };
        let import = |kind, subject: &str, to: Option<&str>, prefix: Option<&str>| Import {
            kind,
            account: "A".into(),
            subject: subject.into(),
            to: to.map(str::to_string),
            prefix: prefix.map(str::to_string),
        };
        ServerOptions {
            accounts: vec![
                AccountOptions {
                    name: "A".into(),
                    exports: vec![
                        export(ExportKind::Stream, "news.>", None),
                        export(ExportKind::Service, "help.*", Some(vec!["B".into()])),
                    ],
                    ..AccountOptions::default()
                },
                AccountOptions {
                    name: "B".into(),
                    imports: vec![
                        import(ExportKind::Stream, "news.>", None, Some("a")),
                        import(ExportKind::Service, "help.*", Some("ask.*"), None),
                    ],
                    ..AccountOptions::default()
                },
            ],
            ..ServerOptions::default()
        }
    }

    #[test]
    fn imports_become_links_with_mapped_subjects() {
        let table = AccountTable::build(&options()).expect("valid");
        let a = table.id("A").expect("A");
        let b = table.id("B").expect("B");
        assert_eq!(table.id("$G"), Some(GLOBAL_ACCOUNT));
        assert_eq!(table.get(table.system()).name, "$SYS");
        let stream = &table.get(a).stream_links[0];
        assert_eq!(stream.target, b);
        assert_eq!(
            stream.transform.apply(b"news.x.y"),
            Some(b"a.news.x.y".to_vec())
        );
        let service = &table.get(b).service_links[0];
        assert_eq!(service.target, a);
        assert_eq!(
            service.transform.apply(b"ask.me"),
            Some(b"help.me".to_vec())
        );
    }

    #[test]
    fn a_rebuild_keeps_the_ids_of_accounts_that_existed() {
        let before = AccountTable::build(&options()).expect("valid");
        let mut changed = options();
        changed.accounts.remove(0);
        changed.accounts[0].imports.clear();
        changed.accounts.push(AccountOptions {
            name: "N".into(),
            ..AccountOptions::default()
        });
        let after = AccountTable::rebuild(&changed, &before).expect("valid");
        for name in ["$G", "A", "B", "$SYS"] {
            assert_eq!(after.id(name), before.id(name), "{name}");
        }
        assert_eq!(after.id("N"), Some(before.len() as AccountId));
    }

    #[test]
    fn private_exports_refuse_other_importers() {
        let mut options = options();
        options.accounts.push(AccountOptions {
            name: "C".into(),
            imports: vec![Import {
                kind: ExportKind::Service,
                account: "A".into(),
                subject: "help.x".into(),
                to: None,
                prefix: None,
            }],
            ..AccountOptions::default()
        });
        assert!(matches!(
            AccountTable::build(&options),
            Err(AccountError::NotAuthorized { .. })
        ));
    }

    #[test]
    fn encoded_replies_route_back_and_cannot_be_forged() {
        let table = AccountTable::build(&options()).expect("valid");
        let b = table.id("B").expect("B");
        let encoded = table.encode_reply(b, b"_INBOX.abc.1");
        assert_eq!(
            table.decode_reply(&encoded),
            Some((b, &b"_INBOX.abc.1"[..]))
        );
        let mut forged = encoded.clone();
        let last = forged.len() - 1;
        forged[last] = b'2';
        assert_eq!(table.decode_reply(&forged), None);
        assert_eq!(table.decode_reply(b"_R_.1.0.x"), None);
    }
}
