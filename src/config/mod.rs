//! The Go server's configuration file format, read into a tree of positioned values.
//!
//! Owns: lexing and parsing (`key: value`, `key = value`, `key value`, blocks, arrays, comments,
//! quoted and bare strings, numbers with size units, `include`, `$VARIABLES`). Must not touch:
//! what the keys mean; `crate::options_file` maps the tree onto server options.
//!
//! Modules: `lexer` (Go's lexer state machine: text to tokens, with its quirks), `parser`
//! (tokens to the value tree; includes, variables, number units), `digest` (Go's
//! `config_digest` of the tree), `tests`. Behaviour follows
//! the Go server's `conf` package and was checked against nats-server v2.15.1.

mod digest;
mod lexer;
mod parser;
#[cfg(test)]
mod tests;

pub use digest::config_digest;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where a value starts: file, line and column (both 1-based), as the Go server reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pos {
    pub file: Arc<PathBuf>,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// A parsed value. Bare words that are not numbers or booleans are strings, so `10s` is the
/// string "10s" (the Go server reads durations from strings), while `2m` is the integer
/// 2 000 000 and `1MB` is 1 048 576.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    String(String),
    Integer(i64),
    Float(f64),
    Bool(bool),
    /// An ISO 8601 date-time such as `2016-05-04T18:53:41Z`, kept as written.
    Datetime(String),
    Array(Vec<Item>),
    Map(Map),
}

/// A value with the position of its first character.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub value: Value,
    pub pos: Pos,
}

/// A block's entries in file order. Keys keep their spelling; a later duplicate key overrides
/// an earlier one, as in the Go server (callers use [`Map::get`], which returns the last).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Map {
    pub entries: Vec<Entry>,
}

/// One `key: value` entry, with the position of its key.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_pos: Pos,
    pub item: Item,
    /// Some `$VARIABLE` referred to this key: the Go server does not report such keys as
    /// unknown options.
    pub used_as_variable: bool,
}

impl Map {
    /// The last entry whose key equals `key`, compared without case (Go lowercases keys).
    #[cfg(test)]
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries
            .iter()
            .rev()
            .find(|entry| entry.key.eq_ignore_ascii_case(key))
    }
}

/// A configuration that cannot be read: the position of the problem and what it is.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{pos}: {message}")]
pub struct ConfigError {
    pub pos: Pos,
    pub message: String,
    /// The error as the Go server prints it, which is what operators see: its `conf` package
    /// names no file or column (`Parse error on line 2: '...'` for syntax errors, the bare
    /// text for others, `error parsing include file 'x', ...` around an include's error).
    pub go_text: String,
}

/// Reads and parses a configuration file, following `include`s relative to its directory.
///
/// A file that cannot be read is reported at line 0, column 0 of its path, with the I/O error.
pub fn parse_file(path: &Path) -> Result<Map, ConfigError> {
    parser::parse_file(path)
}

/// Parses configuration text; `origin` names it in errors and anchors relative `include`s.
#[cfg(test)]
pub fn parse_str(text: &str, origin: &Path) -> Result<Map, ConfigError> {
    parser::parse_text(text, origin)
}
