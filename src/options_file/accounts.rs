//! `accounts {}`: accounts with their users, exports, imports and mappings, and the checks that
//! every account an export or import names exists and every import is admitted.

use natrix_shards::options::{AccountOptions, Export, ExportKind, Import, ResponseType};

use crate::config::{Entry, Pos, Value};
use crate::flags::Settings;

use super::auth::apply_default_permissions;
use super::values::{is_valid_subject, kind, TypedArray};
use super::Reader;

/// The type keys of exports and imports.
const EXPORT_TYPES: &[(&str, ExportKind)] = &[
    ("stream", ExportKind::Stream),
    ("service", ExportKind::Service),
];

impl Reader {
    pub(super) fn accounts(&mut self, entry: &Entry, settings: &mut Settings) {
        match &entry.item.value {
            Value::Array(items) => {
                for item in items {
                    let Value::String(name) = &item.value else {
                        self.error(&item.pos, "account names must be strings");
                        continue;
                    };
                    self.add_account(
                        &item.pos,
                        AccountOptions {
                            name: name.clone(),
                            ..AccountOptions::default()
                        },
                        settings,
                    );
                }
            }
            Value::Map(map) => {
                for account_entry in &map.entries {
                    let Value::Map(fields) = &account_entry.item.value else {
                        self.error(&account_entry.item.pos, "Expected map entries for accounts");
                        continue;
                    };
                    let name = account_entry.key.clone();
                    let mut account = AccountOptions {
                        name: name.clone(),
                        ..AccountOptions::default()
                    };
                    let mut users = (Vec::new(), Vec::new());
                    let mut default_permissions = None;
                    for field in &fields.entries {
                        match field.key.to_ascii_lowercase().as_str() {
                            "users" => {
                                if let Some(found) = self.users(field, Some(&name)) {
                                    users = found;
                                }
                            }
                            "imports" => account.imports = self.imports(field),
                            "exports" => account.exports = self.exports(field),
                            "mappings" | "maps" => {
                                account.mappings = self.mappings(field).unwrap_or_default()
                            }
                            "default_permissions" => default_permissions = self.permissions(field),
                            "jetstream" => account.jetstream = self.account_jetstream(field),
                            "nkey" | "limits" | "msg_trace" | "trace_dest" => {
                                self.not_supported(field, "account option")
                            }
                            _ => self.unknown(field),
                        }
                    }
                    let (mut nkeys, mut users) = users;
                    if let Some(defaults) = &default_permissions {
                        apply_default_permissions(&mut users, &mut nkeys, defaults, None);
                    }
                    settings.options.auth.users.extend(users);
                    settings.options.auth.nkeys.extend(nkeys);
                    self.add_account(&account_entry.key_pos, account, settings);
                }
            }
            _ => self.wrong_type(entry, "a map or an array"),
        }
        self.check_imports_and_exports(entry, settings);
    }

    pub(super) fn add_account(
        &mut self,
        pos: &Pos,
        account: AccountOptions,
        settings: &mut Settings,
    ) {
        if account.name == natrix_shards::account::GLOBAL_ACCOUNT_NAME {
            self.error(pos, format!("{:?} is a Reserved Account", account.name));
        } else if settings
            .options
            .accounts
            .iter()
            .any(|known| known.name == account.name)
        {
            self.error(pos, format!("Duplicate Account Entry: {}", account.name));
        } else {
            settings.options.accounts.push(account);
        }
    }

    pub(super) fn check_imports_and_exports(&mut self, entry: &Entry, settings: &Settings) {
        let accounts = &settings.options.accounts;
        let known = |name: &str| accounts.iter().any(|account| account.name == name);
        let mut problems = Vec::new();
        for account in accounts {
            for export in &account.exports {
                for name in export.accounts.iter().flatten() {
                    if !known(name) {
                        let what = match export.kind {
                            ExportKind::Stream => "stream export",
                            ExportKind::Service => "service export",
                        };
                        problems.push(format!("{name:?} account not defined for {what}"));
                    }
                }
            }
            for import in &account.imports {
                if !known(&import.account) {
                    let what = match import.kind {
                        ExportKind::Stream => "stream import",
                        ExportKind::Service => "service import",
                    };
                    problems.push(format!(
                        "{:?} account not defined for {what}",
                        import.account
                    ));
                }
            }
        }
        let defined = problems.is_empty();
        for problem in problems {
            self.error(&entry.item.pos, problem);
        }
        // With every account defined, check that each import has an export that admits it.
        if defined {
            if let Err(error) = natrix_shards::account::AccountTable::build(&settings.options) {
                self.error(&entry.item.pos, error);
            }
        }
    }

    pub(super) fn exports(&mut self, entry: &Entry) -> Vec<Export> {
        let mut exports = Vec::new();
        let names = TypedArray {
            array: "Exports",
            item: "Export Items",
        };
        self.typed_maps(entry, names, |reader, item, map| {
            let mut export = Export {
                kind: ExportKind::Stream,
                subject: String::new(),
                accounts: None,
                response_type: ResponseType::Singleton,
            };
            let mut seen_kind = None;
            let mut response_pos = None;
            for field in &map.entries {
                if let Some(found) = reader.element_type(field, EXPORT_TYPES, &mut seen_kind) {
                    export.kind = found;
                    export.subject = reader.string(field).unwrap_or_default();
                    continue;
                }
                match field.key.to_ascii_lowercase().as_str() {
                    // A second, different type: element_type reported it.
                    "stream" | "service" => {}
                    "accounts" => export.accounts = reader.string_list(field),
                    "response" | "response_type" => {
                        response_pos = Some(field.item.pos.clone());
                        let Some(text) = reader.string(field) else {
                            continue;
                        };
                        export.response_type = match text.to_ascii_lowercase().as_str() {
                            "single" | "singleton" => ResponseType::Singleton,
                            "stream" => ResponseType::Stream,
                            "chunk" | "chunked" => ResponseType::Chunked,
                            _ => {
                                reader.error(
                                    &field.item.pos,
                                    format!("Unknown response type: {text:?}"),
                                );
                                continue;
                            }
                        };
                    }
                    "threshold" | "response_threshold" | "response_max_time" | "response_time"
                    | "latency" | "allow_trace" => reader.not_supported(field, "export option"),
                    "account_token_position" => reader.refused(
                        field,
                        "an export only the account named in the subject may import",
                    ),
                    _ => reader.unknown(field),
                }
            }
            let seen_kind = seen_kind.map(|(_, kind)| kind);
            if seen_kind == Some(ExportKind::Stream) {
                if let Some(pos) = response_pos {
                    reader.error(&pos, "Detected response directive on non-service");
                    return;
                }
            }
            if seen_kind.is_none() || export.subject.is_empty() {
                reader.error(&item.pos, "Export needs a stream or a service subject");
                return;
            }
            if !is_valid_subject(&export.subject) {
                reader.error(
                    &item.pos,
                    format!("subject {:?} is not a valid subject", export.subject),
                );
                return;
            }
            exports.push(export);
        });
        exports
    }

    pub(super) fn imports(&mut self, entry: &Entry) -> Vec<Import> {
        let mut imports: Vec<Import> = Vec::new();
        let names = TypedArray {
            array: "Imports",
            item: "Import Items",
        };
        self.typed_maps(entry, names, |reader, item, map| {
            let mut import = Import {
                kind: ExportKind::Stream,
                account: String::new(),
                subject: String::new(),
                to: None,
                prefix: None,
            };
            let mut seen_kind = None;
            for field in &map.entries {
                if let Some(found) = reader.element_type(field, EXPORT_TYPES, &mut seen_kind) {
                    import.kind = found;
                    reader.import_source(field, &mut import);
                    continue;
                }
                match field.key.to_ascii_lowercase().as_str() {
                    // A second, different type: element_type reported it.
                    "stream" | "service" => {}
                    "prefix" => import.prefix = reader.string(field),
                    "to" => import.to = reader.string(field),
                    "share" | "allow_trace" => reader.not_supported(field, "import option"),
                    _ => reader.unknown(field),
                }
            }
            if seen_kind.is_none() {
                reader.error(&item.pos, "Import needs a stream or a service");
                return;
            }
            if import.kind == ExportKind::Service {
                let to = import.to.clone().unwrap_or_else(|| import.subject.clone());
                let duplicate = imports.iter().find(|other| {
                    other.kind == ExportKind::Service
                        && other.account == import.account
                        && other.to.as_ref().unwrap_or(&other.subject) == &to
                });
                if let Some(duplicate) = duplicate {
                    reader.error(
                        &item.pos,
                        format!(
                            "Duplicate service import subject {to:?}, previously used in import for account {:?}, subject {:?}",
                            duplicate.account, duplicate.subject
                        ),
                    );
                    return;
                }
            }
            if !import.account.is_empty() && !import.subject.is_empty() {
                imports.push(import);
            }
        });
        imports
    }

    /// An import's `stream: {account, subject}` or `service: {account, subject}`.
    fn import_source(&mut self, field: &Entry, import: &mut Import) {
        let Value::Map(source) = &field.item.value else {
            let what = if import.kind == ExportKind::Stream {
                "Stream"
            } else {
                "Service"
            };
            self.error(
                &field.item.pos,
                format!(
                    "{what} entry should be an account map, got {}",
                    kind(&field.item.value)
                ),
            );
            return;
        };
        for part in &source.entries {
            match part.key.to_ascii_lowercase().as_str() {
                "account" => import.account = self.string(part).unwrap_or_default(),
                "subject" => import.subject = self.string(part).unwrap_or_default(),
                _ => self.unknown(part),
            }
        }
        if import.account.is_empty() || import.subject.is_empty() {
            self.error(&field.item.pos, "Expect an account name and a subject");
        }
    }
}
