//! The per-core data plane of Natrix.
//!
//! Owns: the client protocol (parser, INFO/CONNECT, error table), the subject index,
//! connections and their outbound buffers, the cross-shard mesh, the interest summary, and
//! the routing of messages between clients and the shard's internal subscribers, and
//! JetStream's runtime on a shard. Later: RAFT.
//!
//! Must not touch: command-line flags, config files, signals, thread creation and pinning (the
//! `natrix` binary does those), or any lock or atomic on the per-message path.
//!
//! Modules, in layers: each uses only the layers above it in this list.
//! 1. Pure leaves (no runtime, no I/O): [`subject`] (re-exported from `natrix_storage`),
//!    [`protocol`] (parser, documents, error table), [`sublist`] (the generic subject index),
//!    [`interest`] (the interest summary), [`message`] (a message's shape at each stage),
//!    [`outbound`], [`mesh`] (queues and doorbells, generic in what they carry), [`options`],
//!    [`mapping`], [`account`], [`jwt`] (NATS JWTs), [`auth`], [`operator`] (JWT users),
//!    [`permissions`], [`tls`], [`monitor`] (snapshot
//!    data), [`config`], [`local_sync`], [`memory`] (returning freed memory to the kernel),
//!    [`websocket`] (upgrade, frames, compression).
//! 2. [`client`]: one connection's state, shared by its tasks and by deliveries.
//! 3. [`shard`]: a shard's state and the message path through it: routing, outboxes,
//!    delivery, subscriptions and interest, internal subscribers and publishers.
//! 4. [`jetstream`]: JetStream on a shard: the API service, the streams it owns, the meta
//!    shard's directory (uses `shard`'s internal subscribers, publishers and mesh).
//! 5. [`session`]: the client protocol on a connection (CONNECT, PUB, SUB, PING, auth).
//! 6. [`conn`]: a connection's tasks: reader, writer, TLS start, WebSocket start and
//!    reader, pinger.
//! 7. [`lifecycle`]: a shard's life: its tasks (JetStream started first), the control
//!    plane's messages, shutdown.

pub mod account;
pub mod auth;
pub mod client;
pub mod config;
pub mod conn;
pub mod interest;
pub mod jetstream;
pub mod jwt;
pub mod lifecycle;
pub mod local_sync;
pub mod mapping;
pub mod memory;
pub mod mesh;
pub mod message;
pub mod monitor;
pub mod operator;
pub mod options;
pub mod outbound;
pub mod permissions;
pub mod protocol;
pub mod session;
pub mod shard;
pub mod subject;
pub mod sublist;
pub mod tls;
pub mod websocket;
