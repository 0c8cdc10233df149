//! Subject syntax and matching: the workspace's one subject module lives at the bottom of the
//! dependency graph, in `natrix_storage::subject`, and is re-exported here.

pub use natrix_storage::subject::*;
