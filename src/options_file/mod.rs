//! Maps a parsed configuration file onto the server's settings, key by key, the way the Go
//! server's `opts.go` does.
//!
//! Owns: what each config key means, its type, its checks, and which Go options Natrix does not
//! implement yet (each is named in a warning, never silently dropped) or refuses (settings
//! whose loss would weaken authentication). Must not touch: syntax (`crate::config`) or the
//! data plane.
//!
//! Errors and warnings are collected, not returned at the first one, and printed as the Go
//! server prints them: `FILE:LINE:COL: reason`, one per line; an unknown key is an error.
//!
//! One module per config block, each an `impl Reader` block: `server` (top-level keys, listen
//! addresses, monitoring ports), `auth` (`authorization {}`, users, permissions), `tls`,
//! `accounts` (accounts, exports, imports), `operator` (operator mode: `operator`, `trusted`,
//! `resolver`, `resolver_preload`), `mappings`, `jetstream`, `cluster`, `websocket`,
//! `tuning` (Natrix's own block); `values` has the typed readers every block uses, Go's durations, and
//! the one walk over an "array of maps with a type" (exports and imports, later JetStream
//! sources and cluster routes).

mod accounts;
mod auth;
mod cluster;
mod jetstream;
mod mappings;
mod operator;
mod server;
mod tls;
mod tuning;
mod values;
mod websocket;

#[cfg(test)]
mod tests;

use std::path::Path;

use crate::config::{self, Pos};
use crate::flags::Settings;

/// What went wrong in a config file: every error found, and the warnings.
#[derive(Debug, thiserror::Error)]
#[error("{}", lines.join("\n"))]
pub struct ConfigErrors {
    pub lines: Vec<String>,
}

/// Reads `path` into `settings`. Returns the warnings (unsupported options, deprecated forms).
pub fn load(path: &Path, settings: &mut Settings) -> Result<Vec<String>, ConfigErrors> {
    let map = config::parse_file(path).map_err(|error| ConfigErrors {
        lines: vec![error.go_text],
    })?;
    let mut reader = Reader::default();
    reader.top_level(&map, settings);
    reader.finish(settings);
    settings.options.config_digest = config::config_digest(&map);
    if reader.errors.is_empty() {
        Ok(reader.warnings)
    } else {
        let mut lines = reader.warnings;
        lines.extend(reader.errors);
        Err(ConfigErrors { lines })
    }
}

/// The reader's state while it walks one file: what it found wrong, and what checks that span
/// several blocks need to remember.
#[derive(Default)]
struct Reader {
    errors: Vec<String>,
    warnings: Vec<String>,
    /// Where `authorization {}` was, for checks that involve accounts too.
    authorization_pos: Option<Pos>,
    /// The top-level `allow_non_tls`, which may come before or after `tls {}`.
    allow_non_tls: Option<bool>,
    /// Operator mode's keys, checked together at the end.
    operator: operator::OperatorState,
}

impl Reader {
    /// Checks and settings that involve several top-level keys, which may come in any order.
    pub(super) fn finish(&mut self, settings: &mut Settings) {
        self.check_auth_consistency(settings);
        self.finish_operator(settings);
        // A top-level option in Go, outside the TLS settings: it applies to TLS from `tls {}`
        // here, and to TLS from the `--tls*` flags when those replace it (see `flags`).
        if let Some(allow_non_tls) = self.allow_non_tls {
            settings.allow_non_tls = allow_non_tls;
            if let Some(tls) = settings.options.tls.as_mut() {
                tls.allow_non_tls = allow_non_tls;
            }
        }
    }
}
