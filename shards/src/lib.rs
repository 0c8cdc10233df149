//! The per-core data plane of Natrix.
