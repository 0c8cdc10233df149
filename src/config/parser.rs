//! The parser: tokens in, a tree of positioned values out, with `include`s read and `$variables`
//! resolved as the Go server's `conf/parse.go` does.
//!
//! Values are built on an explicit stack of open maps and arrays (bounded by the lexer's nesting
//! limit), so no input can overflow the call stack. Includes and variables taken from the
//! environment parse another text with a fresh parser; their depth is bounded by
//! [`NESTED_PARSE_MAX`].

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::lexer::{Lexer, Token, TokenKind};
use super::{ConfigError, Entry, Item, Map, Pos, Value};

/// How many includes (and environment variables whose values refer to further variables) may
/// nest. Go has no limit and overflows its stack on a file that includes itself.
pub(super) const NESTED_PARSE_MAX: usize = 32;

/// Appended to an error inside an included file, followed by the include's position.
const INCLUDED_FROM: &str = " (in a file included from ";

/// Reads `path` and parses it; relative includes start from its directory.
pub(super) fn parse_file(path: &Path) -> Result<Map, ConfigError> {
    let mut variables_in_resolution = HashSet::new();
    parse_file_nested(path, 0, &mut variables_in_resolution)
}

/// Parses `text`; `origin` names it in positions and anchors relative includes.
#[cfg(test)]
pub(super) fn parse_text(text: &str, origin: &Path) -> Result<Map, ConfigError> {
    let mut variables_in_resolution = HashSet::new();
    let context = ParseContext {
        origin: Arc::new(origin.to_path_buf()),
        depth: 0,
    };
    Parser::new(text, context, &mut variables_in_resolution).run()
}

fn parse_file_nested(
    path: &Path,
    depth: usize,
    variables_in_resolution: &mut HashSet<String>,
) -> Result<Map, ConfigError> {
    let origin = Arc::new(path.to_path_buf());
    let bytes = std::fs::read(path).map_err(|error| ConfigError {
        pos: Pos {
            file: origin.clone(),
            line: 0,
            column: 0,
        },
        message: format!("error opening config file: {}: {error}", path.display()),
        go_text: format!(
            "open {}: {}",
            path.display(),
            crate::errno::go_errno_text(&error)
        ),
    })?;
    // Go reads the bytes as a string and decodes invalid UTF-8 as U+FFFD, as this does.
    let text = String::from_utf8_lossy(&bytes);
    let context = ParseContext { origin, depth };
    Parser::new(&text, context, variables_in_resolution).run()
}

/// Which text is parsed and how deep inside includes or variables it sits.
struct ParseContext {
    origin: Arc<PathBuf>,
    depth: usize,
}

/// A map or array that is still open.
enum Open {
    Map {
        map: Map,
        pos: Pos,
        /// Length of the key stack when the map opened: keys above it belong to this map.
        keys_len: usize,
    },
    Array {
        items: Vec<Item>,
        pos: Pos,
    },
}

struct Parser<'a> {
    lexer: Lexer,
    line_starts: Vec<usize>,
    context: ParseContext,
    open: Vec<Open>,
    keys: Vec<(String, Pos)>,
    /// Environment variables being resolved, to report a cycle instead of recursing forever.
    variables_in_resolution: &'a mut HashSet<String>,
}

impl<'a> Parser<'a> {
    fn new(
        text: &str,
        context: ParseContext,
        variables_in_resolution: &'a mut HashSet<String>,
    ) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(
            text.chars()
                .enumerate()
                .filter(|(_, c)| *c == '\n')
                .map(|(offset, _)| offset + 1),
        );
        Parser {
            lexer: Lexer::new(text),
            line_starts,
            context,
            open: Vec::new(),
            keys: Vec::new(),
            variables_in_resolution,
        }
    }

    fn run(mut self) -> Result<Map, ConfigError> {
        let top_pos = self.pos(0);
        self.open.push(Open::Map {
            map: Map::default(),
            pos: top_pos,
            keys_len: 0,
        });
        let mut previous: Option<Token> = None;
        loop {
            let token = self.lexer.next_token().map_err(|error| {
                let go_line = self.pos(error.consumed).line;
                ConfigError {
                    go_text: format!("Parse error on line {go_line}: '{}'", error.message),
                    ..self.error(error.offset, error.message)
                }
            })?;
            if token.kind == TokenKind::Eof {
                // Go accepts a last key "}" so that JSON-like files may end in a brace.
                if let Some(last) = previous.filter(|last| last.kind == TokenKind::Key) {
                    if last.text != "}" {
                        return Err(ConfigError {
                            go_text: self.invalid_at_end(),
                            ..self.error(
                                last.offset,
                                format!("config is invalid: key '{}' has no value", last.text),
                            )
                        });
                    }
                }
                break;
            }
            self.process(&token)?;
            previous = Some(token);
        }
        match (self.open.pop(), self.open.is_empty()) {
            (Some(Open::Map { map, .. }), true) => Ok(map),
            _ => Err(self.error(usize::MAX, "Unexpected EOF.")),
        }
    }

    fn process(&mut self, token: &Token) -> Result<(), ConfigError> {
        let pos = self.pos(token.offset);
        let value = match token.kind {
            TokenKind::Key => {
                self.keys.push((token.text.clone(), pos));
                return Ok(());
            }
            TokenKind::MapStart => {
                self.open.push(Open::Map {
                    map: Map::default(),
                    pos,
                    keys_len: self.keys.len(),
                });
                return Ok(());
            }
            TokenKind::ArrayStart => {
                self.open.push(Open::Array {
                    items: Vec::new(),
                    pos,
                });
                return Ok(());
            }
            TokenKind::MapEnd | TokenKind::ArrayEnd => return self.close(token),
            TokenKind::Include => return self.include(token, pos),
            TokenKind::Eof => return Ok(()),
            TokenKind::String => Value::String(token.text.clone()),
            TokenKind::Bool => {
                Value::Bool(parse_bool(&token.text).map_err(|m| self.fail(&pos, m))?)
            }
            TokenKind::Integer => {
                Value::Integer(parse_integer(&token.text).map_err(|m| self.fail(&pos, m))?)
            }
            TokenKind::Float => {
                Value::Float(parse_float(&token.text).map_err(|m| self.fail(&pos, m))?)
            }
            TokenKind::Datetime => {
                check_datetime(&token.text).map_err(|m| self.fail(&pos, m))?;
                Value::Datetime(token.text.clone())
            }
            TokenKind::Variable => self.resolve_variable(&token.text, &pos)?,
        };
        self.set_value(Item { value, pos })
    }

    /// Closes the innermost map or array and stores it in its parent.
    fn close(&mut self, token: &Token) -> Result<(), ConfigError> {
        let closed = self.open.pop();
        if self.open.is_empty() {
            return Err(self.error(token.offset, "Unexpected end of a map or array."));
        }
        let item = match closed {
            Some(Open::Map { map, pos, keys_len }) if token.kind == TokenKind::MapEnd => {
                if self.keys.len() > keys_len {
                    // `key: }`; Go would store the map under this key in the parent instead.
                    let (key, key_pos) = self.keys.swap_remove(keys_len);
                    return Err(self.fail(
                        &key_pos,
                        format!("config is invalid: key '{key}' has no value"),
                    ));
                }
                Item {
                    value: Value::Map(map),
                    pos,
                }
            }
            Some(Open::Array { items, pos }) if token.kind == TokenKind::ArrayEnd => Item {
                value: Value::Array(items),
                pos,
            },
            _ => return Err(self.error(token.offset, "Unexpected end of a map or array.")),
        };
        self.set_value(item)
    }

    /// Stores a finished value in the innermost open map (under the last key) or array.
    fn set_value(&mut self, item: Item) -> Result<(), ConfigError> {
        match self.open.last_mut() {
            Some(Open::Array { items, .. }) => {
                items.push(item);
                Ok(())
            }
            Some(Open::Map { map, keys_len, .. }) if self.keys.len() > *keys_len => {
                if let Some((key, key_pos)) = self.keys.pop() {
                    map.entries.push(Entry {
                        key,
                        key_pos,
                        item,
                        used_as_variable: false,
                    });
                }
                Ok(())
            }
            _ => Err(self.fail(&item.pos, "config is invalid: a value has no key")),
        }
    }

    /// `include path`: parses the file (relative to this file's directory) and adds its entries
    /// to the current map. Go joins the paths with `filepath.Join`, so even an absolute path is
    /// taken relative to the including file's directory; so is it here.
    fn include(&mut self, token: &Token, pos: Pos) -> Result<(), ConfigError> {
        if self.context.depth + 1 >= NESTED_PARSE_MAX {
            return Err(self.fail(
                &pos,
                format!(
                    "error parsing include file '{}', includes nest deeper than \
                     {NESTED_PARSE_MAX} levels (does a file include itself?)",
                    token.text
                ),
            ));
        }
        let path = go_join(&self.base_dir(), &token.text);
        let included =
            parse_file_nested(&path, self.context.depth + 1, self.variables_in_resolution)
                .map_err(|error| {
                    // Go wraps any error of an included file the same way.
                    let go_text = format!(
                        "error parsing include file '{}', {}",
                        token.text, error.go_text
                    );
                    if error.pos.line == 0 {
                        // The file could not be read: report it at the include.
                        ConfigError {
                            go_text,
                            ..self.fail(
                                &pos,
                                format!(
                                    "error parsing include file '{}', {}",
                                    token.text, error.message
                                ),
                            )
                        }
                    } else if error.message.contains(INCLUDED_FROM) {
                        ConfigError { go_text, ..error }
                    } else {
                        // Name the include nearest the error only; a chain of them would repeat itself.
                        ConfigError {
                            message: format!("{}{INCLUDED_FROM}{pos})", error.message),
                            go_text,
                            ..error
                        }
                    }
                })?;
        match self.open.last_mut() {
            Some(Open::Map { map, .. }) => {
                map.entries.extend(included.entries);
                Ok(())
            }
            _ => Err(self.fail(&pos, "include is only allowed in a map")),
        }
    }

    fn base_dir(&self) -> PathBuf {
        match self.context.origin.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    /// Go's text for a file that ends on a key without a value: `config is invalid
    /// (FILE:LINE:POS)`, at the end of the input, POS counted from the last new line (from
    /// the start of the text on the first line), as its lexer counts.
    fn invalid_at_end(&self) -> String {
        let end = self.pos(usize::MAX);
        let column = if end.line == 1 {
            end.column - 1
        } else {
            end.column
        };
        format!(
            "config is invalid ({}:{}:{column})",
            self.context.origin.display(),
            end.line
        )
    }

    /// `$name`: the last earlier key `name` in this map or an enclosing one (arrays are
    /// skipped, keys compare with case), else the environment variable, whose text is parsed as
    /// a value. A `$2a$...` word is a bcrypt hash, kept as a string.
    fn resolve_variable(&mut self, name: &str, pos: &Pos) -> Result<Value, ConfigError> {
        if name.starts_with("2a$") {
            return Ok(Value::String(format!("${name}")));
        }
        let defined = self.open.iter_mut().rev().find_map(|open| match open {
            Open::Map { map, .. } => map.entries.iter_mut().rev().find(|entry| entry.key == name),
            Open::Array { .. } => None,
        });
        if let Some(entry) = defined {
            // A key that serves as a variable is not an unknown option (Go's IsUsedVariable).
            entry.used_as_variable = true;
            return Ok(entry.item.value.clone());
        }
        match self.resolve_environment_variable(name) {
            Ok(Some(value)) => Ok(value),
            Ok(None) => Err(self.fail(
                pos,
                format!(
                    "variable reference for '{name}' on line {} can not be found",
                    pos.line
                ),
            )),
            Err(reason) => Err(self.fail(
                pos,
                format!(
                    "variable reference for '{name}' on line {} could not be parsed: {reason}",
                    pos.line
                ),
            )),
        }
    }

    fn resolve_environment_variable(&mut self, name: &str) -> Result<Option<Value>, String> {
        if self.variables_in_resolution.contains(name) {
            return Err(format!("variable reference cycle for '{name}'"));
        }
        let Some(text) = std::env::var_os(name) else {
            return Ok(None);
        };
        if self.context.depth + 1 >= NESTED_PARSE_MAX {
            return Err(format!(
                "variables refer to further variables deeper than {NESTED_PARSE_MAX} levels"
            ));
        }
        // Parsed as the value of a key, as Go does, so `4222` is an integer and `$OTHER` is
        // resolved in turn.
        let text = format!("pk={}", text.to_string_lossy());
        let context = ParseContext {
            origin: Arc::new(PathBuf::from(format!("${name}"))),
            depth: self.context.depth + 1,
        };
        self.variables_in_resolution.insert(name.to_string());
        let parsed = Parser::new(&text, context, self.variables_in_resolution).run();
        self.variables_in_resolution.remove(name);
        let map = parsed.map_err(|error| error.message)?;
        Ok(map
            .entries
            .into_iter()
            .rev()
            .find(|entry| entry.key == "pk")
            .map(|entry| entry.item.value))
    }

    /// The position of a character offset; offsets past the end mean the end of the text.
    fn pos(&self, offset: usize) -> Pos {
        let line_index = self
            .line_starts
            .partition_point(|&start| start <= offset)
            .max(1);
        let line_start = self.line_starts.get(line_index - 1).copied().unwrap_or(0);
        let offset = offset.min(self.lexer.text_len());
        Pos {
            file: self.context.origin.clone(),
            line: line_index,
            column: offset.saturating_sub(line_start) + 1,
        }
    }

    fn error(&self, offset: usize, message: impl Into<String>) -> ConfigError {
        self.fail(&self.pos(offset), message)
    }

    /// An error the Go server prints as its bare text (its `processItem` errors).
    fn fail(&self, pos: &Pos, message: impl Into<String>) -> ConfigError {
        let message = message.into();
        ConfigError {
            pos: pos.clone(),
            go_text: message.clone(),
            message,
        }
    }
}

/// Go's `filepath.Join(dir, name)`: the two joined and cleaned lexically (`.` and `..`
/// resolved, no double slashes), so `./a.conf` is `a.conf` and an absolute `name` still lands
/// under `dir`, as in the Go server's includes.
fn go_join(dir: &Path, name: &str) -> PathBuf {
    let joined = format!("{}/{name}", dir.display());
    let absolute = joined.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in joined.split('/') {
        match part {
            "" | "." => {}
            ".." if parts.last().is_some_and(|last| *last != "..") => {
                parts.pop();
            }
            ".." if absolute => {}
            part => parts.push(part),
        }
    }
    let cleaned = parts.join("/");
    match (absolute, cleaned.is_empty()) {
        (true, _) => PathBuf::from(format!("/{cleaned}")),
        (false, true) => PathBuf::from("."),
        (false, false) => PathBuf::from(cleaned),
    }
}

fn parse_bool(text: &str) -> Result<bool, String> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" => Ok(true),
        "false" | "no" | "off" => Ok(false),
        _ => Err(format!("expected boolean value, but got '{text}'")),
    }
}

/// An integer with an optional size suffix: `k`, `m`, `g`, `t`, `p`, `e` are powers of 1000;
/// followed by `b`, `i` or `ib` they are powers of 1024. Any case.
fn parse_integer(text: &str) -> Result<i64, String> {
    let digits_len = text
        .find(|c: char| !(c.is_ascii_digit() || c == '-'))
        .unwrap_or(text.len());
    let (digits, suffix) = text.split_at(digits_len);
    let out_of_range = || format!("integer '{text}' is out of the range");
    let number: i64 =
        digits
            .parse()
            .map_err(|error: std::num::ParseIntError| match error.kind() {
                std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
                    out_of_range()
                }
                _ => format!("expected integer, but got '{text}'"),
            })?;
    let suffix = suffix.trim().to_ascii_lowercase();
    let (letter, binary) = match suffix.as_str() {
        "" => return Ok(number),
        "k" | "m" | "g" | "t" | "p" | "e" => (&suffix[..1], false),
        "kb" | "ki" | "kib" | "mb" | "mi" | "mib" | "gb" | "gi" | "gib" | "tb" | "ti" | "tib"
        | "pb" | "pi" | "pib" | "eb" | "ei" | "eib" => (&suffix[..1], true),
        // Go silently drops a key whose value has another suffix (`1kbi`); this reports it.
        _ => return Err(format!("expected integer, but got '{text}'")),
    };
    let exponent = match letter {
        "k" => 1,
        "m" => 2,
        "g" => 3,
        "t" => 4,
        "p" => 5,
        _ => 6,
    };
    let base: i64 = if binary { 1024 } else { 1000 };
    // Go's multiplication wraps around on overflow; this reports it instead.
    base.checked_pow(exponent)
        .and_then(|multiplier| number.checked_mul(multiplier))
        .ok_or_else(out_of_range)
}

fn parse_float(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(number) if number.is_finite() => Ok(number),
        Ok(_) => Err(format!("float '{text}' is out of the range")),
        Err(_) => Err(format!("expected float, but got '{text}'")),
    }
}

/// The lexer checked the shape `YYYY-MM-DDTHH:MM:SSZ`; this checks the ranges as Go's
/// `time.Parse` does.
fn check_datetime(text: &str) -> Result<(), String> {
    let field = |range: std::ops::Range<usize>| -> u32 {
        text.get(range)
            .and_then(|digits| digits.parse().ok())
            .unwrap_or(u32::MAX)
    };
    let (year, month, day) = (field(0..4), field(5..7), field(8..10));
    let (hour, minute, second) = (field(11..13), field(14..16), field(17..19));
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => 0,
    };
    let valid = year <= 9999
        && (1..=days_in_month).contains(&day)
        && hour < 24
        && minute < 60
        && second < 60;
    if valid {
        Ok(())
    } else {
        Err(format!(
            "expected Zulu formatted DateTime, but got '{text}'"
        ))
    }
}
