//! The client wire protocol: a pure parser, the INFO/CONNECT documents and the table of
//! client-facing errors. Nothing here does I/O or knows about shards.

pub mod errors;
pub mod handshake;
pub mod parser;

pub use errors::ClientError;
pub use handshake::{ConnectOptions, ServerInfo};
pub use parser::{ClientOp, ParseError, Parser, PublishMsg};
