//! The claims of NATS JWTs (operator, account, user), with the JSON field names of the Go
//! library `nats-io/jwt` v2. Only deserialisation: Natrix reads JWTs, it does not issue them.
//!
//! Go's `encoding/json` reads `null` and a missing field alike as the zero value; the
//! [`nullable`] helper gives serde the same leniency, so a JWT another tool wrote with
//! `"imports": null` still decodes.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};

/// `-1`: no limit (Go: `jwt.NoLimit`).
pub const NO_LIMIT: i64 = -1;

/// Reads `null` as the type's default, as Go's `encoding/json` does.
fn nullable<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// The registered claims every NATS JWT has (Go: `ClaimsData`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct ClaimsData {
    #[serde(deserialize_with = "nullable")]
    pub aud: String,
    /// Expiry, Unix seconds; 0 never expires.
    #[serde(deserialize_with = "nullable")]
    pub exp: i64,
    #[serde(deserialize_with = "nullable")]
    pub jti: String,
    /// Issued at, Unix seconds (revocations compare against it).
    #[serde(deserialize_with = "nullable")]
    pub iat: i64,
    /// The public nkey that signed the JWT.
    #[serde(deserialize_with = "nullable")]
    pub iss: String,
    #[serde(deserialize_with = "nullable")]
    pub name: String,
    /// Not valid before, Unix seconds; 0 for no bound.
    #[serde(deserialize_with = "nullable")]
    pub nbf: i64,
    /// The public nkey the JWT is about.
    #[serde(deserialize_with = "nullable")]
    pub sub: String,
}

/// The fields every claim's `nats` object carries (Go: `GenericFields`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct GenericFields {
    #[serde(deserialize_with = "nullable")]
    pub tags: Vec<String>,
    #[serde(rename = "type", deserialize_with = "nullable")]
    pub kind: String,
    #[serde(deserialize_with = "nullable")]
    pub version: i64,
}

/// An operator JWT (Go: `OperatorClaims`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct OperatorClaims {
    #[serde(flatten)]
    pub claims: ClaimsData,
    #[serde(deserialize_with = "nullable")]
    pub nats: Operator,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Operator {
    /// Other operator keys that may sign account JWTs.
    #[serde(deserialize_with = "nullable")]
    pub signing_keys: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    pub account_server_url: String,
    #[serde(deserialize_with = "nullable")]
    pub operator_service_urls: Vec<String>,
    /// The system account's public key, if the operator names one.
    #[serde(deserialize_with = "nullable")]
    pub system_account: String,
    #[serde(deserialize_with = "nullable")]
    pub assert_server_version: String,
    /// Only the signing keys, not the operator's own key, may sign accounts.
    #[serde(deserialize_with = "nullable")]
    pub strict_signing_key_usage: bool,
    #[serde(flatten)]
    pub generic: GenericFields,
}

/// An account JWT (Go: `AccountClaims`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct AccountClaims {
    #[serde(flatten)]
    pub claims: ClaimsData,
    #[serde(deserialize_with = "nullable")]
    pub nats: Account,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Account {
    #[serde(deserialize_with = "nullable")]
    pub imports: Vec<Import>,
    #[serde(deserialize_with = "nullable")]
    pub exports: Vec<Export>,
    #[serde(deserialize_with = "nullable")]
    pub limits: OperatorLimits,
    /// Keys that may sign this account's users, by key; `Some` holds a scope's template.
    #[serde(deserialize_with = "signing_keys")]
    pub signing_keys: BTreeMap<String, Option<UserScope>>,
    /// User key (or `*` for all) -> users issued at or before this time are revoked.
    #[serde(deserialize_with = "nullable")]
    pub revocations: BTreeMap<String, i64>,
    /// Permissions of users whose JWT has none.
    #[serde(deserialize_with = "nullable")]
    pub default_permissions: Permissions,
    #[serde(deserialize_with = "nullable")]
    pub mappings: BTreeMap<String, Vec<WeightedMapping>>,
    /// Auth callout (`authorization`); Natrix refuses accounts that enable it.
    #[serde(deserialize_with = "nullable")]
    pub authorization: ExternalAuthorization,
    #[serde(deserialize_with = "nullable")]
    pub description: String,
    #[serde(deserialize_with = "nullable")]
    pub info_url: String,
    #[serde(flatten)]
    pub generic: GenericFields,
}

/// The account's limits: Go's `OperatorLimits` embeds `NatsLimits`, `AccountLimits` and
/// `JetStreamLimits`, so their fields sit side by side in `limits`. A missing field is 0,
/// which for `conn`, `subs` and `payload` means none allowed, as in the Go server.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct OperatorLimits {
    #[serde(deserialize_with = "nullable")]
    pub subs: i64,
    #[serde(deserialize_with = "nullable")]
    pub data: i64,
    #[serde(deserialize_with = "nullable")]
    pub payload: i64,
    #[serde(deserialize_with = "nullable")]
    pub imports: i64,
    #[serde(deserialize_with = "nullable")]
    pub exports: i64,
    #[serde(deserialize_with = "nullable")]
    pub wildcards: bool,
    #[serde(deserialize_with = "nullable")]
    pub disallow_bearer: bool,
    #[serde(deserialize_with = "nullable")]
    pub conn: i64,
    #[serde(deserialize_with = "nullable")]
    pub leaf: i64,
    #[serde(flatten)]
    pub jetstream: JetStreamLimits,
    #[serde(deserialize_with = "nullable")]
    pub tiered_limits: BTreeMap<String, JetStreamLimits>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct JetStreamLimits {
    #[serde(deserialize_with = "nullable")]
    pub mem_storage: i64,
    #[serde(deserialize_with = "nullable")]
    pub disk_storage: i64,
    #[serde(deserialize_with = "nullable")]
    pub streams: i64,
    #[serde(deserialize_with = "nullable")]
    pub consumer: i64,
    #[serde(deserialize_with = "nullable")]
    pub max_ack_pending: i64,
    #[serde(deserialize_with = "nullable")]
    pub mem_max_stream_bytes: i64,
    #[serde(deserialize_with = "nullable")]
    pub disk_max_stream_bytes: i64,
    #[serde(deserialize_with = "nullable")]
    pub max_bytes_required: bool,
}

impl JetStreamLimits {
    /// Go's `IsJSEnabled` for one tier: some memory or disk storage.
    pub fn enabled(&self) -> bool {
        self.mem_storage != 0 || self.disk_storage != 0
    }
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct WeightedMapping {
    #[serde(deserialize_with = "nullable")]
    pub subject: String,
    /// Percent; 0 reads as 100 (Go: `GetWeight`).
    #[serde(deserialize_with = "nullable")]
    pub weight: u8,
    #[serde(deserialize_with = "nullable")]
    pub cluster: String,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct ExternalAuthorization {
    #[serde(deserialize_with = "nullable")]
    pub auth_users: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    pub allowed_accounts: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    pub xkey: String,
}

impl ExternalAuthorization {
    /// Go's `IsEnabled`: auth callout is on when it names its users.
    pub fn enabled(&self) -> bool {
        !self.auth_users.is_empty()
    }
}

/// `stream` or `service` (Go: `ExportType`).
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ExportType {
    #[default]
    Stream,
    Service,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Export {
    #[serde(deserialize_with = "nullable")]
    pub name: String,
    #[serde(deserialize_with = "nullable")]
    pub subject: String,
    #[serde(rename = "type", deserialize_with = "nullable")]
    pub kind: ExportType,
    /// Importers need an activation token (private export).
    #[serde(deserialize_with = "nullable")]
    pub token_req: bool,
    #[serde(deserialize_with = "nullable")]
    pub revocations: BTreeMap<String, i64>,
    /// `Singleton` (default), `Stream` or `Chunked`.
    #[serde(deserialize_with = "nullable")]
    pub response_type: String,
    #[serde(deserialize_with = "nullable")]
    pub account_token_position: u32,
    #[serde(deserialize_with = "nullable")]
    pub advertise: bool,
    #[serde(deserialize_with = "nullable")]
    pub allow_trace: bool,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Import {
    #[serde(deserialize_with = "nullable")]
    pub name: String,
    /// The subject as the exporting account exports it.
    #[serde(deserialize_with = "nullable")]
    pub subject: String,
    /// The exporting account's public key.
    #[serde(deserialize_with = "nullable")]
    pub account: String,
    /// An activation token for a private export.
    #[serde(deserialize_with = "nullable")]
    pub token: String,
    /// Deprecated: a stream import's prefix, or a service import's remote subject.
    #[serde(deserialize_with = "nullable")]
    pub to: String,
    /// The subject in the importing account.
    #[serde(deserialize_with = "nullable")]
    pub local_subject: String,
    #[serde(rename = "type", deserialize_with = "nullable")]
    pub kind: ExportType,
    #[serde(deserialize_with = "nullable")]
    pub share: bool,
    #[serde(deserialize_with = "nullable")]
    pub allow_trace: bool,
}

/// A scoped signing key: users it signs get the template's permissions and limits, not
/// their own (Go: `UserScope`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct UserScope {
    #[serde(deserialize_with = "nullable")]
    pub kind: String,
    #[serde(deserialize_with = "nullable")]
    pub key: String,
    #[serde(deserialize_with = "nullable")]
    pub role: String,
    #[serde(deserialize_with = "nullable")]
    pub template: UserPermissionLimits,
    #[serde(deserialize_with = "nullable")]
    pub description: String,
}

/// Go's `SigningKeys` JSON: an array of public keys and scope objects.
fn signing_keys<'de, D>(deserializer: D) -> Result<BTreeMap<String, Option<UserScope>>, D::Error>
where
    D: Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Entry {
        Key(String),
        Scope(Box<UserScope>),
    }
    let entries = Option::<Vec<Entry>>::deserialize(deserializer)?.unwrap_or_default();
    Ok(entries
        .into_iter()
        .map(|entry| match entry {
            Entry::Key(key) => (key, None),
            Entry::Scope(scope) => (scope.key.clone(), Some(*scope)),
        })
        .collect())
}

/// A user JWT (Go: `UserClaims`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct UserClaims {
    #[serde(flatten)]
    pub claims: ClaimsData,
    #[serde(deserialize_with = "nullable")]
    pub nats: User,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct User {
    #[serde(flatten)]
    pub limits: UserPermissionLimits,
    /// The account, when a signing key of it (not the account key) signed the user.
    #[serde(deserialize_with = "nullable")]
    pub issuer_account: String,
    #[serde(flatten)]
    pub generic: GenericFields,
}

/// What a user may do (Go: `UserPermissionLimits`: `Permissions`, `Limits`, and flags).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct UserPermissionLimits {
    #[serde(flatten)]
    pub permissions: Permissions,
    /// Allowed client addresses, CIDRs (an array, or one comma-separated string).
    #[serde(deserialize_with = "cidr_list")]
    pub src: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    pub times: Vec<TimeRange>,
    #[serde(rename = "times_location", deserialize_with = "nullable")]
    pub locale: String,
    #[serde(deserialize_with = "nullable")]
    pub subs: i64,
    #[serde(deserialize_with = "nullable")]
    pub data: i64,
    #[serde(deserialize_with = "nullable")]
    pub payload: i64,
    /// No nonce signature needed: the JWT alone authenticates.
    #[serde(deserialize_with = "nullable")]
    pub bearer_token: bool,
    #[serde(deserialize_with = "nullable")]
    pub proxy_required: bool,
    #[serde(deserialize_with = "nullable")]
    pub allowed_connection_types: Vec<String>,
}

impl UserPermissionLimits {
    /// Go's `HasEmptyPermissions`: nothing set at all (the shape of a scoped user).
    pub fn is_empty(&self) -> bool {
        *self == UserPermissionLimits::default()
    }
}

/// Go's `CIDRList` JSON: an array, or a comma-separated string.
fn cidr_list<'de, D>(deserializer: D) -> Result<Vec<String>, D::Error>
where
    D: Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum List {
        Array(Vec<String>),
        Text(String),
    }
    Ok(match Option::<List>::deserialize(deserializer)? {
        None => Vec::new(),
        Some(List::Array(list)) => list,
        Some(List::Text(text)) => text
            .to_lowercase()
            .split(',')
            .map(|entry| entry.trim().to_string())
            .filter(|entry| !entry.is_empty())
            .collect(),
    })
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Permissions {
    #[serde(rename = "pub", deserialize_with = "nullable")]
    pub publish: Permission,
    #[serde(rename = "sub", deserialize_with = "nullable")]
    pub subscribe: Permission,
    #[serde(rename = "resp", deserialize_with = "nullable")]
    pub response: Option<ResponsePermission>,
}

impl Permissions {
    pub fn is_empty(&self) -> bool {
        self.publish.is_empty() && self.subscribe.is_empty() && self.response.is_none()
    }
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Permission {
    #[serde(deserialize_with = "nullable")]
    pub allow: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    pub deny: Vec<String>,
}

impl Permission {
    pub fn is_empty(&self) -> bool {
        self.allow.is_empty() && self.deny.is_empty()
    }
}

/// `resp`: how many responses, for how long (`ttl` is a Go `time.Duration`: nanoseconds).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct ResponsePermission {
    #[serde(deserialize_with = "nullable")]
    pub max: i64,
    #[serde(deserialize_with = "nullable")]
    pub ttl: i64,
}

/// A daily window in which the user may connect, `HH:MM:SS` both ends.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct TimeRange {
    #[serde(deserialize_with = "nullable")]
    pub start: String,
    #[serde(deserialize_with = "nullable")]
    pub end: String,
}
