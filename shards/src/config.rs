//! The configuration a shard runs with, in the two forms it takes: [`Configuration`], built by
//! the control plane at start and at every reload and sent to every shard (`Send + Sync`), and
//! [`ShardConfig`], the shard's own copy, swapped whole so that a task mid-step keeps a
//! consistent view. There is no other copy: every reader takes the current one.

use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

use crate::account::AccountTable;
use crate::auth::Authenticator;
use crate::options::ServerOptions;
use crate::protocol::ServerInfo;
use crate::websocket::WebsocketConfig;

/// A whole server configuration, as the control plane builds it and sends it to every shard.
#[derive(Debug)]
pub struct Configuration {
    pub options: Arc<ServerOptions>,
    /// The INFO every connection starts from; `client_id`/`client_ip`/`nonce` are filled per
    /// connection.
    pub info: ServerInfo,
    /// Accounts and the links between them (read-only, shared by every shard).
    pub accounts: Arc<AccountTable>,
    /// The client port's TLS configuration; `None` for plaintext.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// The WebSocket listener's settings; `None` without a `websocket {}` port.
    pub websocket: Option<Arc<WebsocketConfig>>,
    /// JetStream as the server runs it; `None` when it is not enabled. Fixed at start (a
    /// reload carries it over), as most JetStream settings of the Go server are.
    pub jetstream: Option<Arc<JetStreamSettings>>,
}

/// JetStream's settings with every default resolved (store directory, limits from the
/// host's memory and disk), built once by the control plane at start.
#[derive(Debug, Clone)]
pub struct JetStreamSettings {
    /// `<store_dir>/jetstream`: accounts' streams live in `<account>/streams/<stream>/`.
    pub store_dir: PathBuf,
    /// Bytes all memory streams may hold.
    pub max_memory: i64,
    /// Bytes all file streams may hold.
    pub max_store: i64,
    /// The JetStream domain; empty when none.
    pub domain: String,
    /// When a file stream acknowledges a publish.
    pub sync: natrix_storage::SyncPolicy,
    /// The largest duplicate window a stream may have (nanoseconds, 0 for no limit).
    pub duplicate_window_max_ns: i64,
    /// Consumers a stream may have when its `max_consumers` is 0 or less (Go 2.15's
    /// `default_max_consumers`, 1000 unless configured); 0 or less is no limit.
    pub default_max_consumers: i64,
    /// Publishes a stream may hold while its stores are busy, before it answers with `429`.
    pub max_buffered_msgs: usize,
    /// JetStream limits of each account, by account id; `None` for accounts without it.
    pub accounts: Vec<Option<crate::options::AccountJetStreamLimits>>,
    /// This server's name (stream info's `cluster.leader`).
    pub server_name: String,
    /// The Go server version Natrix reports (stream metadata's `_nats.ver`).
    pub version: String,
}

impl JetStreamSettings {
    /// The limits of `account`, if JetStream is enabled for it.
    pub fn account_limits(
        &self,
        account: crate::account::AccountId,
    ) -> Option<&crate::options::AccountJetStreamLimits> {
        self.accounts
            .get(usize::from(account))
            .and_then(Option::as_ref)
    }
}

/// What a shard reads from the configuration. A reload builds a new one and swaps it in.
pub struct ShardConfig {
    pub options: Rc<ServerOptions>,
    pub info: ServerInfo,
    pub accounts: Arc<AccountTable>,
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// The users and their compiled permissions.
    pub auth: Authenticator,
    pub jetstream: Option<Arc<JetStreamSettings>>,
    /// The WebSocket listener's settings and its clients' authenticator.
    pub websocket: Option<ShardWebsocket>,
}

/// What a shard needs to serve WebSocket clients.
pub struct ShardWebsocket {
    pub config: Arc<WebsocketConfig>,
    /// WebSocket clients authenticate with the `websocket {}` block's overrides.
    pub auth: Authenticator,
}

impl ShardConfig {
    /// The shard's copy of `configuration` (the options are cloned once per shard, so that
    /// reading them never touches a reference count shared between threads).
    pub fn new(configuration: &Configuration) -> Self {
        ShardConfig {
            auth: Authenticator::new(&configuration.options.auth)
                .with_operator(configuration.options.operator.as_ref()),
            options: Rc::new(ServerOptions::clone(&configuration.options)),
            info: configuration.info.clone(),
            accounts: Arc::clone(&configuration.accounts),
            tls: configuration.tls.clone(),
            websocket: configuration
                .websocket
                .as_ref()
                .map(|config| ShardWebsocket {
                    auth: Authenticator::for_websocket(
                        &configuration.options.auth,
                        &config.options,
                    )
                    .with_operator(configuration.options.operator.as_ref()),
                    config: Arc::clone(config),
                }),
            jetstream: configuration.jetstream.clone(),
        }
    }
}

impl ShardConfig {
    /// The authenticator for a connection: WebSocket clients have their own.
    pub fn authenticator(&self, websocket: bool) -> &Authenticator {
        match (&self.websocket, websocket) {
            (Some(shard_websocket), true) => &shard_websocket.auth,
            _ => &self.auth,
        }
    }

    /// Whether a connection's verified client certificate picks its user
    /// (`verify_and_map` in the `tls {}` block of its port).
    pub fn maps_certificates(&self, websocket: bool) -> bool {
        let settings = match (&self.websocket, websocket) {
            (Some(shard_websocket), true) => shard_websocket.config.options.tls.as_ref(),
            _ => self.options.tls.as_ref(),
        };
        settings.is_some_and(|tls| tls.verify_and_map)
    }
}
