//! Stream stores for Natrix JetStream (being built under the storage issue).
//!
//! Owns: the `StreamStore` trait, the memory store and the io_uring file store, and the on-disk
//! format. Must not touch: any other workspace crate, sockets, the protocol.
