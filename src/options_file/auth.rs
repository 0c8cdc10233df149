//! `authorization {}` and the users, nkeys and permissions it and `accounts {}` hold, with the
//! Go server's consistency checks.

use std::time::Duration;

use natrix_shards::options::{
    AuthOptions, NkeyUser, Permissions, ResponsePermission, SubjectPermission, User,
};

use crate::config::{Entry, Map, Pos, Value};
use crate::flags::Settings;

use super::values::{is_valid_subject, kind, parse_go_duration};
use super::Reader;

impl Reader {
    pub(super) fn authorization(&mut self, entry: &Entry, auth: &mut AuthOptions) {
        let Some(map) = self.map(entry) else { return };
        self.authorization_pos = Some(entry.key_pos.clone());
        let mut default_permissions = None;
        let mut users_array = false;
        for field in &map.entries {
            match field.key.to_ascii_lowercase().as_str() {
                "user" | "username" => auth.username = self.string(field),
                "pass" | "password" => auth.password = self.string(field),
                "token" => auth.token = self.string(field),
                "timeout" => {
                    let seconds = match &field.item.value {
                        Value::Integer(seconds) => *seconds as f64,
                        Value::Float(seconds) => *seconds,
                        Value::String(text) => match parse_go_duration(text) {
                            Ok(duration) => duration.as_secs_f64(),
                            Err(reason) => {
                                self.error(
                                    &field.item.pos,
                                    format!(
                                        "error parsing authorization config, 'timeout' {reason}"
                                    ),
                                );
                                continue;
                            }
                        },
                        _ => {
                            self.error(
                                &field.item.pos,
                                "error parsing authorization config, 'timeout' wrong type",
                            );
                            continue;
                        }
                    };
                    if seconds > 60.0 {
                        self.warnings.push(format!(
                            "{}: invalid use of field {:?}: timeout of {seconds} seconds is high, consider keeping it under 60 seconds",
                            field.item.pos, field.key
                        ));
                    }
                    if seconds.is_finite() && seconds > 0.0 {
                        auth.timeout = Some(Duration::from_secs_f64(seconds));
                    }
                }
                "users" => {
                    users_array = true;
                    if let Some((nkeys, users)) = self.users(field, None) {
                        auth.users.extend(users);
                        auth.nkeys.extend(nkeys);
                    }
                }
                "default_permission" | "default_permissions" | "permissions" => {
                    default_permissions = self.permissions(field);
                }
                "auth_callout" | "auth_hook" => self.refused(
                    field,
                    "auth callout: an external service decides who connects",
                ),
                "proxy_required" => self.proxy_required(field),
                _ => self.unknown(field),
            }
        }
        let has_user = auth.username.is_some() || auth.password.is_some();
        if has_user && auth.token.is_some() {
            self.error(&entry.item.pos, "Cannot have a user/pass and token");
        }
        if users_array && auth.username.is_some() {
            self.error(
                &entry.item.pos,
                "Can not have a single user/pass and a users array",
            );
        }
        if users_array && auth.token.is_some() {
            self.error(&entry.item.pos, "Can not have a token and a users array");
        }
        if let Some(defaults) = default_permissions {
            apply_default_permissions(&mut auth.users, &mut auth.nkeys, &defaults, None);
            auth.default_permissions = Some(defaults);
        }
    }

    /// Checks that involve both `authorization {}` and `accounts {}`, which may come in any
    /// order in the file.
    pub(super) fn check_auth_consistency(&mut self, settings: &Settings) {
        let auth = &settings.options.auth;
        let account_users = auth.users.iter().any(|user| user.account.is_some())
            || auth.nkeys.iter().any(|user| user.account.is_some());
        let pos = self.authorization_pos.clone();
        if let (true, Some(pos)) = (account_users, pos.as_ref()) {
            if auth.username.is_some() {
                self.error(pos, "Can not have a single user/pass and accounts");
            }
            if auth.token.is_some() {
                self.error(pos, "Can not have a token and accounts");
            }
        }
        let mut seen = std::collections::HashSet::new();
        for name in auth
            .users
            .iter()
            .map(|user| &user.username)
            .chain(auth.nkeys.iter().map(|user| &user.nkey))
        {
            if !seen.insert(name) {
                let pos = pos.clone().unwrap_or_else(|| Pos {
                    file: std::sync::Arc::new("config".into()),
                    line: 0,
                    column: 0,
                });
                self.error(&pos, format!("Duplicate user {name:?} detected"));
            }
        }
        let mut names = std::collections::HashSet::new();
        for account in &settings.options.accounts {
            names.insert(account.name.as_str());
        }
        if let Some(user) = &auth.no_auth_user {
            let known = auth.users.iter().any(|known| &known.username == user)
                || auth.nkeys.iter().any(|known| &known.nkey == user);
            if !known {
                self.errors.push(format!(
                    "no_auth_user: {user:?} not present as user or nkey in authorization block or account configuration"
                ));
            }
        }
    }

    /// `proxy_required: true` admits a user only through a trusted proxy; Natrix has no
    /// trusted proxies, so it refuses the setting rather than admit the user from anywhere.
    pub(super) fn proxy_required(&mut self, field: &Entry) {
        if self.boolean(field) == Some(true) {
            self.refused(field, "users admitted only through a trusted proxy");
        }
    }

    /// A `users` array: (nkey users, password users).
    pub(super) fn users(
        &mut self,
        entry: &Entry,
        account: Option<&str>,
    ) -> Option<(Vec<NkeyUser>, Vec<User>)> {
        let Value::Array(items) = &entry.item.value else {
            self.error(
                &entry.item.pos,
                format!(
                    "Expected users field to be an array, got {}",
                    kind(&entry.item.value)
                ),
            );
            return None;
        };
        let mut nkeys = Vec::new();
        let mut users = Vec::new();
        for item in items {
            let Value::Map(map) = &item.value else {
                self.error(
                    &item.pos,
                    format!(
                        "Expected user entry to be a map/struct, got {}",
                        kind(&item.value)
                    ),
                );
                continue;
            };
            let mut user = User {
                account: account.map(str::to_string),
                ..User::default()
            };
            let mut nkey = String::new();
            for field in &map.entries {
                match field.key.to_ascii_lowercase().as_str() {
                    "nkey" => nkey = self.string(field).unwrap_or_default(),
                    "user" | "username" => user.username = self.string(field).unwrap_or_default(),
                    "pass" | "password" => user.password = self.string(field).unwrap_or_default(),
                    "permission" | "permissions" | "authorization" => {
                        user.permissions = self.permissions(field)
                    }
                    "allowed_connection_types" | "connection_types" | "clients" => {
                        user.allowed_connection_types = self.string_list(field).unwrap_or_default()
                    }
                    "proxy_required" => self.proxy_required(field),
                    _ => self.unknown(field),
                }
            }
            if nkey.is_empty() && user.username.is_empty() {
                self.error(&item.pos, "User entry requires a user");
            } else if !nkey.is_empty() {
                if !is_public_user_nkey(&nkey) {
                    self.error(&item.pos, "Not a valid public nkey for a user");
                } else if !user.username.is_empty() || !user.password.is_empty() {
                    self.error(&item.pos, "Nkey users do not take usernames or passwords");
                } else {
                    nkeys.push(NkeyUser {
                        nkey,
                        permissions: user.permissions,
                        account: user.account,
                        allowed_connection_types: user.allowed_connection_types,
                    });
                }
            } else {
                users.push(user);
            }
        }
        Some((nkeys, users))
    }

    pub(super) fn permissions(&mut self, entry: &Entry) -> Option<Permissions> {
        let Value::Map(map) = &entry.item.value else {
            self.error(
                &entry.item.pos,
                format!(
                    "Expected permissions to be a map/struct, got {}",
                    kind(&entry.item.value)
                ),
            );
            return None;
        };
        let mut permissions = Permissions::default();
        for field in &map.entries {
            match field.key.to_ascii_lowercase().as_str() {
                "pub" | "publish" | "import" => {
                    permissions.publish = self.subject_permission(field, false)
                }
                "sub" | "subscribe" | "export" => {
                    permissions.subscribe = self.subject_permission(field, true)
                }
                "publish_allow_responses" | "allow_responses" => {
                    permissions.response = match &field.item.value {
                        Value::Bool(true) => Some(ResponsePermission::default()),
                        Value::Bool(false) => None,
                        Value::Map(map) => self.response_permission(map),
                        _ => {
                            self.error(
                                &field.item.pos,
                                "error parsing response permissions, expected a boolean or a map",
                            );
                            None
                        }
                    };
                }
                _ => self.error(
                    &field.key_pos,
                    format!("Unknown field {:?} parsing permissions", field.key),
                ),
            }
        }
        // As in the Go server: allowing responses without publish permissions means only
        // responses may be published.
        if permissions.response.is_some() {
            let publish = permissions.publish.get_or_insert_with(Default::default);
            publish.allow.get_or_insert_with(Vec::new);
        }
        Some(permissions)
    }

    pub(super) fn response_permission(&mut self, map: &Map) -> Option<ResponsePermission> {
        let mut response = ResponsePermission::default();
        for field in &map.entries {
            match field.key.to_ascii_lowercase().as_str() {
                "max" | "max_msgs" | "max_messages" | "max_responses" => {
                    if let Some(max) = self.integer(field) {
                        if max != 0 {
                            response.max_msgs = max;
                        }
                    }
                }
                "expires" | "expiration" | "ttl" => match &field.item.value {
                    Value::String(text) => match parse_go_duration(text) {
                        Ok(ttl) if !ttl.is_zero() => response.expires = ttl,
                        Ok(_) => {}
                        Err(reason) => {
                            self.error(&field.item.pos, format!("error parsing expires: {reason}"));
                            return None;
                        }
                    },
                    _ => {
                        self.error(
                            &field.item.pos,
                            "error parsing expires, not a duration string",
                        );
                        return None;
                    }
                },
                _ => self.error(
                    &field.key_pos,
                    format!("Unknown field {:?} parsing permissions", field.key),
                ),
            }
        }
        Some(response)
    }

    /// `{allow, deny}`, or the old style: a subject or a list of subjects to allow.
    pub(super) fn subject_permission(
        &mut self,
        entry: &Entry,
        queues: bool,
    ) -> Option<SubjectPermission> {
        match &entry.item.value {
            Value::Map(map) => {
                if map.entries.is_empty() {
                    return None;
                }
                let mut permission = SubjectPermission::default();
                for field in &map.entries {
                    match field.key.to_ascii_lowercase().as_str() {
                        "allow" => permission.allow = self.permission_subjects(field, queues),
                        "deny" => permission.deny = self.permission_subjects(field, queues),
                        _ => self.error(
                            &field.key_pos,
                            format!(
                                "Unknown field name {:?} parsing subject permissions, only 'allow' or 'deny' are permitted",
                                field.key
                            ),
                        ),
                    }
                }
                Some(permission)
            }
            _ => Some(SubjectPermission {
                allow: self.permission_subjects(entry, queues),
                deny: None,
            }),
        }
    }

    pub(super) fn permission_subjects(
        &mut self,
        entry: &Entry,
        queues: bool,
    ) -> Option<Vec<String>> {
        let subjects = self.string_list(entry)?;
        for subject in &subjects {
            let mut parts = subject.split_whitespace();
            let valid = match (parts.next(), parts.next(), parts.next()) {
                (Some(subject), None, None) => is_valid_subject(subject),
                (Some(subject), Some(queue), None) if queues => {
                    is_valid_subject(subject) && is_valid_subject(queue)
                }
                _ => false,
            };
            if !valid {
                self.error(
                    &entry.item.pos,
                    format!("subject {subject:?} is not a valid subject"),
                );
                return None;
            }
        }
        Some(subjects)
    }
}

pub(super) fn apply_default_permissions(
    users: &mut [User],
    nkeys: &mut [NkeyUser],
    defaults: &Permissions,
    account: Option<&str>,
) {
    for user in users
        .iter_mut()
        .filter(|user| account.is_none() || user.account.as_deref() == account)
    {
        user.permissions.get_or_insert_with(|| defaults.clone());
    }
    for user in nkeys
        .iter_mut()
        .filter(|user| account.is_none() || user.account.as_deref() == account)
    {
        user.permissions.get_or_insert_with(|| defaults.clone());
    }
}

/// A user's public nkey: 56 base32 characters starting with `U`.
fn is_public_user_nkey(key: &str) -> bool {
    key.len() == 56
        && key.starts_with('U')
        && key
            .bytes()
            .all(|byte| byte.is_ascii_uppercase() || (b'2'..=b'7').contains(&byte))
}
