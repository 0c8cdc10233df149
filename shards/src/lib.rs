//! The per-core data plane of Natrix.
//!
//! Owns: the client protocol (parser, INFO/CONNECT, error table), subject validation and the
//! subject index, connections and their outbound buffers, the cross-shard mesh and the
//! replicated interest summary. Later: JetStream and RAFT on a shard.
//!
//! Must not touch: command-line flags, config files, signals, thread creation and pinning (the
//! `natrix` binary does those), or any lock or atomic on the per-message path.
//!
//! Modules:
//! - [`account`]: accounts, and the stream/service routes that imports open between them.
//! - [`protocol`]: pure parser and protocol documents; no I/O.
//! - [`subject`], [`sublist`]: subject syntax and the wildcard trie with its match cache.
//! - [`mesh`]: bounded lock-free queues between shards and the doorbell that wakes a shard.
//! - [`shard`]: one shard's state, publish routing, interest summary, the mesh task.
//! - [`client`]: one connection's reader and writer tasks.
//! - [`outbound`]: a connection's outbound buffer (coalesced, vectored writes).
//! - [`mapping`]: subject mappings and import subject rewrites.
//! - [`options`]: the server options, with the Go server's defaults.
//! - [`tls`]: TLS settings, the rustls configuration, and a connection's TLS session driven
//!   by hand (no I/O: the connection's tasks move the bytes).
//! - [`auth`]: who may connect (users, tokens, nkeys, `no_auth_user`); pure.
//! - [`permissions`]: what a connection may publish, subscribe to and receive; pure.
//! - [`monitor`]: plain-data snapshots a shard hands the monitoring endpoints, and the
//!   per-connection counters they come from.

pub mod account;
pub mod auth;
pub mod client;
pub mod local_sync;
pub mod mapping;
pub mod mesh;
pub mod monitor;
pub mod options;
pub mod outbound;
pub mod permissions;
pub mod protocol;
pub mod shard;
pub mod subject;
pub mod sublist;
pub mod tls;
