//! The server's options: one struct that the config file and the flags fill.

use std::time::Duration;

pub use crate::tls::{TlsSettings, TlsVersion};

/// Every option the data plane reads, with the Go server's defaults.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Address the client listener binds (`-a`).
    pub host: String,
    /// Client port (`-p`); 0 picks a random free port (the Go server's `-p -1`).
    pub port: u16,
    /// Name in INFO; the server id when empty (`-n`).
    pub server_name: String,
    pub max_payload: usize,
    pub max_control_line: usize,
    pub max_connections: usize,
    /// Per connection; 0 means unlimited.
    pub max_subscriptions: usize,
    /// Outbound bytes a connection may have queued before it is a slow consumer.
    pub max_pending: usize,
    /// How long one write may block before the connection is a slow consumer.
    pub write_deadline: Duration,
    pub ping_interval: Duration,
    pub max_pings_out: u32,
    /// Lame duck mode closes clients over this long (`lame_duck_duration`, Go: 2 m).
    pub lame_duck_duration: Duration,
    /// and starts closing them after this long (`lame_duck_grace_period`, Go: 10 s).
    pub lame_duck_grace_period: Duration,
    /// Who may connect and what each user may do (`authorization {}`, `--user`, `--auth`).
    pub auth: AuthOptions,
    /// Accounts besides the global one (`accounts {}`); the global account is `$G`.
    pub accounts: Vec<AccountOptions>,
    /// Subject mappings of the global account (top-level `mappings {}`).
    pub mappings: Vec<SubjectMapping>,
    /// The system account's name (`system_account`); `$SYS` when not set.
    pub system_account: Option<String>,
    /// Operator mode (`operator`, `trusted`, `resolver: MEMORY`, `resolver_preload`): users
    /// authenticate with JWTs; `None` otherwise.
    pub operator: Option<OperatorOptions>,
    /// `http`/`http_port`/`https_port`/`http_base_path` (`-m`, `-ms`): the monitoring server.
    pub monitoring: MonitoringOptions,
    /// `jetstream {}` (`-js`, `-sd`): JetStream on this server, when enabled.
    pub jetstream: Option<JetStreamOptions>,
    /// `cluster {}` (`--cluster`, `--routes`): parsed and validated now, run by a later issue.
    pub cluster: Option<ClusterOptions>,
    /// TLS on the client port (`tls {}`, `--tls*`); plaintext when `None`.
    pub tls: Option<TlsSettings>,
    /// `websocket {}` with a port: the WebSocket listener for browser and edge clients.
    pub websocket: Option<crate::websocket::WebsocketOptions>,
    pub tuning: Tuning,
    /// The Go server's `config_digest` of the config file (`sha256:...`), for `/varz` and the
    /// start-up log; empty without a config file.
    pub config_digest: String,
    /// `feature_flags {}`: the flags the config file sets, by name (Go's `FeatureFlags`).
    pub feature_flags: std::collections::BTreeMap<String, bool>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct MonitoringOptions {
    pub host: Option<String>,
    pub http_port: Option<i64>,
    pub https_port: Option<i64>,
    pub base_path: Option<String>,
    /// `max_closed_clients`: closed connections `/connz` remembers; `None` is Go's 10 000.
    pub max_closed_clients: Option<usize>,
}

impl MonitoringOptions {
    pub fn max_closed_clients(&self) -> usize {
        self.max_closed_clients
            .unwrap_or(crate::monitor::DEFAULT_MAX_CLOSED_CLIENTS)
    }
}

/// Operator mode, as the config file set it up: the keys trusted to sign accounts, and the
/// account JWTs of the `MEMORY` resolver, each already verified (signature, trusted issuer,
/// subject equal to its key). The accounts also appear in [`ServerOptions::accounts`], under
/// their public keys, with their exports, imports and mappings.
#[derive(Debug, Clone, Default)]
pub struct OperatorOptions {
    /// Operator keys (Go's `TrustedKeys` after `validateTrustedOperators`).
    pub trusted_keys: Vec<String>,
    pub accounts: Vec<JwtAccount>,
}

/// One account JWT the resolver holds.
#[derive(Debug, Clone)]
pub struct JwtAccount {
    /// The account's public key (its name in the account table).
    pub public_key: String,
    pub jwt: String,
    pub claims: std::sync::Arc<crate::jwt::AccountClaims>,
}

/// `jetstream {}`, `-js` and `-sd` as the Go server reads them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JetStreamOptions {
    pub enabled: bool,
    /// The directory under which `jetstream/` is created; `<tmp>/nats` when `None`, as Go.
    pub store_dir: Option<String>,
    /// Bytes; `None` lets the server pick (75% of memory, as Go).
    pub max_memory: Option<i64>,
    /// Bytes; `None` lets the server pick (75% of the free disk, as Go).
    pub max_file: Option<i64>,
    pub domain: Option<String>,
    /// `sync_interval`: `None` is Natrix's default, a PubAck only after `fdatasync` (the Go
    /// server's default is a 2-minute interval); `Some(ZERO)` is `always`; any other duration
    /// is the Go server's lazy policy with that interval.
    pub sync_interval: Option<Duration>,
    /// `limits { duplicate_window }`: the largest duplicate window a stream may have.
    pub duplicate_window_max: Option<Duration>,
    /// `limits { default_max_consumers }`: the consumers a stream may have when it sets no
    /// `max_consumers` of its own (Go 2.15); `None` is Go's default, 1000; negative is none.
    pub default_max_consumers: Option<i64>,
    /// `max_buffered_msgs`: publishes a stream may hold while its stores are busy, before it
    /// answers them with `429`; `None` keeps Natrix's default.
    pub max_buffered_msgs: Option<usize>,
}

/// An account's `jetstream` limits (`accounts { A { jetstream { ... } } }`), as Go's
/// `JetStreamAccountLimits`; -1 is unlimited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountJetStreamLimits {
    pub max_memory: i64,
    pub max_store: i64,
    pub max_streams: i64,
    pub max_consumers: i64,
    pub max_ack_pending: i64,
    pub memory_max_stream_bytes: i64,
    pub store_max_stream_bytes: i64,
    pub max_bytes_required: bool,
}

impl Default for AccountJetStreamLimits {
    /// Go's `defaultJSAccountTiers`: everything unlimited.
    fn default() -> Self {
        AccountJetStreamLimits {
            max_memory: -1,
            max_store: -1,
            max_streams: -1,
            max_consumers: -1,
            max_ack_pending: -1,
            memory_max_stream_bytes: -1,
            store_max_stream_bytes: -1,
            max_bytes_required: false,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClusterOptions {
    pub name: Option<String>,
    pub host: Option<String>,
    pub port: Option<i64>,
    pub routes: Vec<String>,
    pub advertise: Option<String>,
    pub no_advertise: bool,
    pub connect_retries: i64,
    pub pool_size: Option<i64>,
}

/// Authentication and default authorization. At most one of user/password, token, and the
/// users lists is in effect, as in the Go server (options validation rejects mixes).
#[derive(Debug, Clone, Default)]
pub struct AuthOptions {
    /// Single user (`authorization { user, password }`, `--user`/`--pass`).
    pub username: Option<String>,
    /// Plain text, or a bcrypt hash when it starts with `$2`.
    pub password: Option<String>,
    /// `authorization { token }`, `--auth`; plain text or bcrypt.
    pub token: Option<String>,
    /// Users with passwords, from `authorization { users }` and every account's `users`.
    pub users: Vec<User>,
    /// Users that authenticate by signing the INFO nonce with their nkey.
    pub nkeys: Vec<NkeyUser>,
    /// The user a client that sends no credentials is logged in as (`no_auth_user`).
    pub no_auth_user: Option<String>,
    /// How long a client has to send CONNECT when auth is required; `None` keeps Go's 2 s
    /// (the TLS timeout when TLS is on, as in the Go server).
    pub timeout: Option<Duration>,
    /// Permissions of users that have none of their own (`default_permissions`).
    pub default_permissions: Option<Permissions>,
}

impl AuthOptions {
    /// Whether clients must authenticate at all.
    pub fn required(&self) -> bool {
        self.username.is_some()
            || self.token.is_some()
            || !self.users.is_empty()
            || !self.nkeys.is_empty()
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct User {
    pub username: String,
    /// Plain text, or a bcrypt hash when it starts with `$2`.
    pub password: String,
    pub permissions: Option<Permissions>,
    /// The account the user belongs to; the global account when `None`.
    pub account: Option<String>,
    /// `allowed_connection_types` (e.g. `STANDARD`, `WEBSOCKET`); empty allows all.
    pub allowed_connection_types: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct NkeyUser {
    /// The user's public nkey (`U...`).
    pub nkey: String,
    pub permissions: Option<Permissions>,
    pub account: Option<String>,
    pub allowed_connection_types: Vec<String>,
}

/// What a user may publish and subscribe to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Permissions {
    pub publish: Option<SubjectPermission>,
    pub subscribe: Option<SubjectPermission>,
    /// `allow_responses`: may publish to reply subjects of messages it received.
    pub response: Option<ResponsePermission>,
}

/// Allow and deny lists of subjects (wildcards allowed). `None` and an empty list differ, as in
/// the Go server: no allow list allows everything, an empty one allows nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SubjectPermission {
    pub allow: Option<Vec<String>>,
    pub deny: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ResponsePermission {
    /// Replies allowed per received request (Go default 1).
    pub max_msgs: i64,
    /// How long a reply stays allowed (Go default 2 minutes); zero never expires.
    pub expires: Duration,
}

impl Default for ResponsePermission {
    fn default() -> Self {
        ResponsePermission {
            max_msgs: 1,
            expires: Duration::from_secs(2 * 60),
        }
    }
}

/// One `accounts { NAME { ... } }` block.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccountOptions {
    pub name: String,
    pub exports: Vec<Export>,
    pub imports: Vec<Import>,
    pub mappings: Vec<SubjectMapping>,
    /// `jetstream`: JetStream for this account with these limits; `None` when not enabled.
    pub jetstream: Option<AccountJetStreamLimits>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportKind {
    Stream,
    Service,
}

/// A stream or service this account offers to others.
#[derive(Debug, Clone, PartialEq)]
pub struct Export {
    pub kind: ExportKind,
    pub subject: String,
    /// Accounts allowed to import it; `None` makes it public.
    pub accounts: Option<Vec<String>>,
    /// Services only: `singleton` (default), `stream` or `chunked`.
    pub response_type: ResponseType,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResponseType {
    #[default]
    Singleton,
    Stream,
    Chunked,
}

/// A stream or service this account takes from another account.
#[derive(Debug, Clone, PartialEq)]
pub struct Import {
    pub kind: ExportKind,
    /// The exporting account.
    pub account: String,
    /// The subject as exported.
    pub subject: String,
    /// The subject it appears under in this account (`to`); for streams also set by `prefix`.
    pub to: Option<String>,
    /// Streams only: prepended to the subject (`prefix`).
    pub prefix: Option<String>,
}

/// `mappings { "src": "dest" }` or weighted destinations.
#[derive(Debug, Clone, PartialEq)]
pub struct SubjectMapping {
    pub source: String,
    pub destinations: Vec<MappingDestination>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MappingDestination {
    pub subject: String,
    /// Percent, 1..=100; the weights of one mapping add up to at most 100.
    pub weight: u8,
}

/// Natrix's own settings: how shards map onto the host.
#[derive(Debug, Clone, Default)]
pub struct Tuning {
    /// Number of shards; one per CPU in `cpus` (or per online CPU) when `None`.
    pub shards: Option<usize>,
    /// CPUs to pin shards to, in shard order; all online CPUs when `None`.
    pub cpus: Option<Vec<usize>>,
    /// How long an idle shard keeps polling its queues before it parks (0: park at once).
    pub spin_before_park: Duration,
    /// Capacity of each cross-shard queue, in messages (batches).
    pub mesh_queue_capacity: usize,
    /// CPUs never to pin a shard to when the list is automatic (for example the ones that
    /// handle NIC interrupts).
    pub avoid_cpus: Vec<usize>,
    /// Submission queue entries of each shard's io_uring; `None` keeps compio's default.
    pub io_uring_entries: Option<u32>,
}

/// The Go server's defaults (server/const.go).
pub const DEFAULT_PORT: u16 = 4222;
pub const MAX_PAYLOAD_SIZE: usize = 1024 * 1024;
pub const MAX_CONTROL_LINE_SIZE: usize = 4096;
pub const DEFAULT_MAX_CONNECTIONS: usize = 64 * 1024;
pub const MAX_PENDING_SIZE: usize = 64 * 1024 * 1024;
pub const DEFAULT_WRITE_DEADLINE: Duration = Duration::from_secs(10);
pub const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(2 * 60);
pub const DEFAULT_MAX_PINGS_OUT: u32 = 2;
pub const DEFAULT_LAME_DUCK_DURATION: Duration = Duration::from_secs(2 * 60);
pub const DEFAULT_LAME_DUCK_GRACE_PERIOD: Duration = Duration::from_secs(10);
/// Each queue holds batches (one per read of a publishing connection), not single messages.
pub const DEFAULT_MESH_QUEUE_CAPACITY: usize = 1024;

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            host: "0.0.0.0".to_string(),
            port: DEFAULT_PORT,
            server_name: String::new(),
            max_payload: MAX_PAYLOAD_SIZE,
            max_control_line: MAX_CONTROL_LINE_SIZE,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_subscriptions: 0,
            max_pending: MAX_PENDING_SIZE,
            write_deadline: DEFAULT_WRITE_DEADLINE,
            ping_interval: DEFAULT_PING_INTERVAL,
            max_pings_out: DEFAULT_MAX_PINGS_OUT,
            lame_duck_duration: DEFAULT_LAME_DUCK_DURATION,
            lame_duck_grace_period: DEFAULT_LAME_DUCK_GRACE_PERIOD,
            auth: AuthOptions::default(),
            accounts: Vec::new(),
            mappings: Vec::new(),
            system_account: None,
            operator: None,
            monitoring: MonitoringOptions::default(),
            jetstream: None,
            cluster: None,
            tls: None,
            websocket: None,
            tuning: Tuning {
                mesh_queue_capacity: DEFAULT_MESH_QUEUE_CAPACITY,
                ..Tuning::default()
            },
            config_digest: String::new(),
            feature_flags: std::collections::BTreeMap::new(),
        }
    }
}
