//! The server's options: one struct that flags fill now and the config file will fill later.

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
    /// TLS on the client port (`tls {}`, `--tls*`); plaintext when `None`.
    pub tls: Option<TlsSettings>,
    pub tuning: Tuning,
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
            tls: None,
            tuning: Tuning {
                mesh_queue_capacity: DEFAULT_MESH_QUEUE_CAPACITY,
                ..Tuning::default()
            },
        }
    }
}
