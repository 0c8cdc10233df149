//! The lexer: configuration text in, a lazy stream of tokens out.
//!
//! It is a state machine with an explicit stack of return states, the same shape as the Go
//! server's `conf/lex.go`, because the format is defined by that machine's quirks (where a bare
//! string ends, that `[1, 2]` is an error, that a key may be followed by a newline before its
//! value). Keeping the same states makes every corner behave like Go. The stack is bounded, so
//! deep nesting is an error and never a stack overflow.

use std::collections::VecDeque;

/// How deep arrays and maps may nest. Real configurations stay below ten levels.
pub(super) const NESTING_MAX: usize = 128;

/// A lexical token. `offset` counts characters from the start of the text.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Token {
    pub kind: TokenKind,
    pub text: String,
    pub offset: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TokenKind {
    Key,
    String,
    Bool,
    Integer,
    Float,
    Datetime,
    ArrayStart,
    ArrayEnd,
    MapStart,
    MapEnd,
    /// A `$name` reference; the text is the name without `$`.
    Variable,
    /// An `include` directive; the text is the path as written.
    Include,
    Eof,
}

/// Text that is not valid configuration syntax, at a character offset.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct LexError {
    pub offset: usize,
    pub message: String,
    /// How far the lexer had read when it failed: Go reports the line of that position
    /// (`Parse error on line N`), which is one further than `offset`'s line when the
    /// character just read is a newline.
    pub consumed: usize,
}

/// The states of the machine. Each consumes some input and names the next state; states that
/// finish a value return to the state on top of the stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Top,
    TopValueEnd,
    BlockStart,
    BlockValueEnd,
    BlockEnd,
    KeyStart,
    QuotedKey { double: bool },
    Key,
    KeyEnd,
    IncludeStart,
    Include,
    IncludeQuoted { double: bool },
    IncludeBare,
    Value,
    ArrayValue,
    ArrayValueEnd,
    MapKeyStart,
    MapQuotedKey { double: bool },
    MapKey,
    MapKeyEnd,
    MapValue,
    MapValueEnd,
    SingleQuotedString,
    DoubleQuotedString,
    BareString,
    Block,
    StringEscape,
    StringHexEscape,
    NumberOrDateOrStringOrIp,
    ConvenientNumber,
    DateAfterYear,
    NegativeNumberStart,
    NegativeNumber,
    FloatStart,
    Float,
    IpAddress,
    Comment,
}

/// What one step of the machine decided.
enum Step {
    Next(State),
    Stop,
}

type StepResult = Result<Step, LexError>;

/// A lazy lexer over one text.
pub(super) struct Lexer {
    chars: Vec<char>,
    /// Start of the text not yet emitted.
    start: usize,
    /// Start of the token being built (differs from `start` once escapes were decoded, and
    /// points at the opening quote of quoted strings).
    token_start: usize,
    pos: usize,
    /// Characters the last `next` consumed (0 at the end of input), undone by `backup`.
    width: usize,
    state: Option<State>,
    stack: Vec<State>,
    pending: VecDeque<Token>,
    /// Decoded escape sequences and the text before them, for strings with escapes.
    parts: Vec<u8>,
    has_parts: bool,
    /// Where an escape sequence returns: inside a double-quoted or a bare string.
    string_state: State,
}

impl Lexer {
    pub(super) fn new(text: &str) -> Self {
        Lexer {
            chars: text.chars().collect(),
            start: 0,
            token_start: 0,
            pos: 0,
            width: 0,
            state: Some(State::Top),
            stack: Vec::new(),
            pending: VecDeque::new(),
            parts: Vec::new(),
            has_parts: false,
            string_state: State::BareString,
        }
    }

    /// How many characters the text has.
    pub(super) fn text_len(&self) -> usize {
        self.chars.len()
    }

    /// The next token; after the end of input it keeps returning `Eof`.
    pub(super) fn next_token(&mut self) -> Result<Token, LexError> {
        // Every state either consumes input, emits a token or moves to a state that does; the
        // budget turns a mistake in that reasoning into an error instead of a hang.
        let mut idle_steps = 0usize;
        let mut last_pos = self.pos;
        loop {
            if let Some(token) = self.pending.pop_front() {
                return Ok(token);
            }
            let Some(state) = self.state else {
                return Ok(Token {
                    kind: TokenKind::Eof,
                    text: String::new(),
                    offset: self.chars.len(),
                });
            };
            match self.step(state) {
                Ok(Step::Next(next)) => self.state = Some(next),
                Ok(Step::Stop) => self.state = None,
                Err(error) => {
                    self.state = None;
                    return Err(error);
                }
            }
            if self.pos == last_pos {
                idle_steps += 1;
                if idle_steps > 64 {
                    self.state = None;
                    return Err(self.error("the lexer made no progress (this is a bug)"));
                }
            } else {
                idle_steps = 0;
                last_pos = self.pos;
            }
        }
    }

    fn step(&mut self, state: State) -> StepResult {
        match state {
            State::Top => self.top(),
            State::TopValueEnd => self.top_value_end(),
            State::BlockStart => self.block_start(),
            State::BlockValueEnd => self.block_value_end(),
            State::BlockEnd => self.block_end(),
            State::KeyStart => self.key_start(),
            State::QuotedKey { double } => self.quoted_key(double),
            State::Key => self.key(),
            State::KeyEnd => self.key_end(),
            State::IncludeStart => self.include_start(),
            State::Include => self.include(),
            State::IncludeQuoted { double } => self.include_quoted(double),
            State::IncludeBare => self.include_bare(),
            State::Value => self.value(),
            State::ArrayValue => self.array_value(),
            State::ArrayValueEnd => self.array_value_end(),
            State::MapKeyStart => self.map_key_start(),
            State::MapQuotedKey { double } => self.map_quoted_key(double),
            State::MapKey => self.map_key(),
            State::MapKeyEnd => self.map_key_end(),
            State::MapValue => self.map_value(),
            State::MapValueEnd => self.map_value_end(),
            State::SingleQuotedString => self.single_quoted_string(),
            State::DoubleQuotedString => self.double_quoted_string(),
            State::BareString => self.bare_string(),
            State::Block => self.block(),
            State::StringEscape => self.string_escape(),
            State::StringHexEscape => self.string_hex_escape(),
            State::NumberOrDateOrStringOrIp => self.number_or_date_or_string_or_ip(),
            State::ConvenientNumber => self.convenient_number(),
            State::DateAfterYear => self.date_after_year(),
            State::NegativeNumberStart => self.negative_number_start(),
            State::NegativeNumber => self.negative_number(),
            State::FloatStart => self.float_start(),
            State::Float => self.float(),
            State::IpAddress => self.ip_address(),
            State::Comment => self.comment(),
        }
    }

    // The top level: keys, comments and an optional `{ ... }` around everything.

    fn top(&mut self) -> StepResult {
        let c = self.next();
        match c {
            Some(c) if c.is_whitespace() => self.skip_to(State::Top),
            Some('{') => {
                self.push(State::Top)?;
                self.skip_to(State::BlockStart)
            }
            Some('#') => self.comment_then(State::Top),
            Some('/') if self.next() == Some('/') => self.comment_then(State::Top),
            Some('/') | None => {
                if c.is_some() {
                    self.backup();
                }
                self.end_of_input()
            }
            Some(_) => {
                self.backup();
                self.push(State::TopValueEnd)?;
                Ok(Step::Next(State::KeyStart))
            }
        }
    }

    fn top_value_end(&mut self) -> StepResult {
        let c = self.next();
        match c {
            Some('#') => self.comment_then(State::Top),
            Some('/') if self.next() == Some('/') => self.comment_then(State::Top),
            Some('/') => {
                // Go skips a lone '/' here as if it were a space.
                self.backup();
                Ok(Step::Next(State::TopValueEnd))
            }
            Some(c) if is_blank(c) => Ok(Step::Next(State::TopValueEnd)),
            None | Some('\n' | '\r' | ';' | ',' | '}') => self.skip_to(State::Top),
            Some(c) => Err(self.error_behind(format!(
                "Expected a top-level value to end with a new line, comment or EOF, but got \
                 '{}' instead.",
                describe(Some(c))
            ))),
        }
    }

    fn block_start(&mut self) -> StepResult {
        let c = self.next();
        match c {
            Some(c) if c.is_whitespace() => self.skip_to(State::BlockStart),
            Some('{') => {
                self.push(State::BlockEnd)?;
                self.skip_to(State::BlockStart)
            }
            Some('}') => {
                self.ignore();
                self.pop()
            }
            Some('#') => self.comment_then(State::BlockStart),
            Some('/') if self.next() == Some('/') => self.comment_then(State::BlockStart),
            Some('/') | None => {
                if c.is_some() {
                    self.backup();
                }
                self.end_of_input()
            }
            Some(_) => {
                self.backup();
                self.push(State::BlockValueEnd)?;
                Ok(Step::Next(State::KeyStart))
            }
        }
    }

    fn block_value_end(&mut self) -> StepResult {
        let c = self.next();
        match c {
            Some('#') => self.comment_then(State::BlockValueEnd),
            Some('/') if self.next() == Some('/') => self.comment_then(State::BlockValueEnd),
            Some('/') => {
                self.backup();
                Ok(Step::Next(State::BlockValueEnd))
            }
            Some(c) if is_blank(c) => Ok(Step::Next(State::BlockValueEnd)),
            Some('\n' | '\r' | ';' | ',') => self.skip_to(State::BlockStart),
            Some('}') => {
                self.backup();
                Ok(Step::Next(State::BlockEnd))
            }
            _ => Err(self.error_behind(format!(
                "Expected a block-level value to end with a new line, comment or EOF, but got \
                 '{}' instead.",
                describe(c)
            ))),
        }
    }

    fn block_end(&mut self) -> StepResult {
        let c = self.next();
        match c {
            Some('#') => self.comment_then(State::BlockStart),
            Some('/') if self.next() == Some('/') => self.comment_then(State::BlockStart),
            Some('/') => {
                self.backup();
                Ok(Step::Next(State::BlockEnd))
            }
            Some(c) if is_blank(c) || is_newline(c) => Ok(Step::Next(State::BlockEnd)),
            Some(';' | ',') => self.skip_to(State::BlockStart),
            Some('}') => {
                self.ignore();
                self.pop()
            }
            _ => Err(self.error_behind(format!(
                "Expected a block-level to end with a '}}', but got '{}' instead.",
                describe(c)
            ))),
        }
    }

    // Keys outside maps (top level and top-level blocks).

    fn key_start(&mut self) -> StepResult {
        match self.peek() {
            Some(c) if is_key_separator(c) => {
                Err(self.error_ahead(format!("Unexpected key separator '{c}'")))
            }
            Some(c) if c.is_whitespace() => {
                self.next();
                self.skip_to(State::KeyStart)
            }
            Some(quote @ ('"' | '\'')) => {
                self.next();
                self.ignore();
                self.token_start -= 1;
                Ok(Step::Next(State::QuotedKey {
                    double: quote == '"',
                }))
            }
            _ => {
                self.ignore();
                self.next();
                Ok(Step::Next(State::Key))
            }
        }
    }

    fn quoted_key(&mut self, double: bool) -> StepResult {
        let quote = if double { '"' } else { '\'' };
        match self.peek() {
            Some(c) if c == quote => {
                self.emit(TokenKind::Key);
                self.next();
                self.skip_to(State::KeyEnd)
            }
            None => self.end_of_input(),
            Some(_) => {
                self.next();
                Ok(Step::Next(State::QuotedKey { double }))
            }
        }
    }

    fn key(&mut self) -> StepResult {
        match self.peek() {
            Some(c) if c.is_whitespace() => self.key_or_keyword(State::KeyEnd, None),
            None => {
                self.emit(TokenKind::Key);
                Ok(Step::Next(State::KeyEnd))
            }
            Some(c) if is_key_separator(c) => {
                self.emit(TokenKind::Key);
                Ok(Step::Next(State::KeyEnd))
            }
            Some(_) => {
                self.next();
                Ok(Step::Next(State::Key))
            }
        }
    }

    fn key_end(&mut self) -> StepResult {
        match self.next() {
            // Newlines may separate a key from its value, as in Go.
            Some(c) if c.is_whitespace() => self.skip_to(State::KeyEnd),
            Some(c) if is_key_separator(c) => self.skip_to(State::Value),
            None => {
                self.emit(TokenKind::Eof);
                Ok(Step::Stop)
            }
            Some(_) => {
                self.backup();
                Ok(Step::Next(State::Value))
            }
        }
    }

    /// A bare key followed by a space: either the keyword `include` or an ordinary key.
    fn key_or_keyword(&mut self, after_key: State, after_include: Option<State>) -> StepResult {
        let word: String = self.chars[self.start..self.pos].iter().collect();
        if word.eq_ignore_ascii_case("include") {
            self.ignore();
            if let Some(state) = after_include {
                self.push(state)?;
            }
            return Ok(Step::Next(State::IncludeStart));
        }
        self.emit(TokenKind::Key);
        Ok(Step::Next(after_key))
    }

    // `include path`, `include 'path'`, `include "path"`.

    fn include_start(&mut self) -> StepResult {
        match self.next() {
            Some(c) if is_blank(c) => self.skip_to(State::IncludeStart),
            _ => {
                self.backup();
                Ok(Step::Next(State::Include))
            }
        }
    }

    fn include(&mut self) -> StepResult {
        let c = self.next();
        let found = match c {
            Some(quote @ ('"' | '\'')) => {
                self.ignore();
                self.token_start -= 1;
                return Ok(Step::Next(State::IncludeQuoted {
                    double: quote == '"',
                }));
            }
            Some('[') => "start of an array",
            Some('{') => "start of a map",
            Some('(') => "start of a block",
            Some('-') => "start of a number",
            Some(c) if c.is_ascii_digit() => "start of a number",
            Some('\\') => "escape sequence",
            Some(c) if is_newline(c) => "new line",
            _ => {
                self.backup();
                return Ok(Step::Next(State::IncludeBare));
            }
        };
        Err(self.error_behind(format!("Expected include value but found {found}")))
    }

    fn include_quoted(&mut self, double: bool) -> StepResult {
        let quote = if double { '"' } else { '\'' };
        match self.next() {
            Some(c) if c == quote => {
                self.backup();
                self.emit(TokenKind::Include);
                self.next();
                self.ignore();
                self.pop()
            }
            None if double => Err(self.error("Unexpected EOF in double quoted include")),
            None => Err(self.error("Unexpected EOF in quoted include")),
            Some(_) => Ok(Step::Next(State::IncludeQuoted { double })),
        }
    }

    fn include_bare(&mut self) -> StepResult {
        match self.next() {
            None => {
                self.emit(TokenKind::Include);
                self.pop()
            }
            Some(c) if is_newline(c) || is_blank(c) || c == ';' || c == '}' => {
                self.backup();
                self.emit(TokenKind::Include);
                self.pop()
            }
            Some('\'') => {
                self.backup();
                self.emit(TokenKind::Include);
                self.next();
                self.ignore();
                self.pop()
            }
            Some(_) => Ok(Step::Next(State::IncludeBare)),
        }
    }

    // Values, anywhere a value is expected.

    fn value(&mut self) -> StepResult {
        let c = self.next();
        match c {
            Some(c) if is_blank(c) => self.skip_to(State::Value),
            Some('[') => {
                self.ignore();
                self.emit_at(TokenKind::ArrayStart, self.pos - 1);
                self.push_nesting_check()?;
                Ok(Step::Next(State::ArrayValue))
            }
            Some('{') => {
                self.ignore();
                self.emit_at(TokenKind::MapStart, self.pos - 1);
                self.push_nesting_check()?;
                Ok(Step::Next(State::MapKeyStart))
            }
            Some('\'') => {
                self.ignore();
                self.token_start -= 1;
                Ok(Step::Next(State::SingleQuotedString))
            }
            Some('"') => {
                self.ignore();
                self.token_start -= 1;
                self.string_state = State::DoubleQuotedString;
                Ok(Step::Next(State::DoubleQuotedString))
            }
            Some('-') => Ok(Step::Next(State::NegativeNumberStart)),
            Some('(') => {
                self.ignore();
                self.token_start -= 1;
                Ok(Step::Next(State::Block))
            }
            // The first digit is consumed here; Go re-reads it in a state that only checks it.
            Some(c) if c.is_ascii_digit() => Ok(Step::Next(State::NumberOrDateOrStringOrIp)),
            Some('.') => Err(self.error_behind("Floats must start with a digit")),
            Some(c) if is_newline(c) => Err(self.error_behind("Expected value but found new line")),
            _ => {
                if c.is_some() {
                    self.backup();
                }
                self.string_state = State::BareString;
                Ok(Step::Next(State::BareString))
            }
        }
    }

    fn array_value(&mut self) -> StepResult {
        let c = self.next();
        match c {
            Some(c) if c.is_whitespace() => self.skip_to(State::ArrayValue),
            Some('#') => self.comment_then(State::ArrayValue),
            Some('/') if self.next() == Some('/') => self.comment_then(State::ArrayValue),
            Some('/') => {
                self.backup();
                Err(self.error("Unexpected array value terminator ','."))
            }
            Some(',') => Err(self.error_behind("Unexpected array value terminator ','.")),
            Some(']') => self.array_end(),
            _ => {
                if c.is_some() {
                    self.backup();
                }
                self.push(State::ArrayValueEnd)?;
                Ok(Step::Next(State::Value))
            }
        }
    }

    fn array_value_end(&mut self) -> StepResult {
        let c = self.next();
        match c {
            Some(c) if is_blank(c) => self.skip_to(State::ArrayValueEnd),
            Some('#') => self.comment_then(State::ArrayValueEnd),
            Some('/') if self.next() == Some('/') => self.comment_then(State::ArrayValueEnd),
            Some('/') => {
                self.backup();
                self.skip_to(State::ArrayValue)
            }
            Some(c) if c == ',' || is_newline(c) => self.skip_to(State::ArrayValue),
            Some(']') => self.array_end(),
            _ => Err(self.error_behind(format!(
                "Expected an array value terminator \",\" or an array terminator \"]\", but got \
                 '{}' instead.",
                describe(c)
            ))),
        }
    }

    fn array_end(&mut self) -> StepResult {
        self.ignore();
        self.emit_at(TokenKind::ArrayEnd, self.pos - 1);
        self.pop()
    }

    // Maps given as values: `key { ... }`.

    fn map_key_start(&mut self) -> StepResult {
        match self.peek() {
            Some(c) if is_key_separator(c) => {
                Err(self.error_ahead(format!("Unexpected key separator '{c}'.")))
            }
            Some(']') => Err(self.error_ahead("Unexpected array end ']' processing map.")),
            Some(c) if c.is_whitespace() => {
                self.next();
                self.skip_to(State::MapKeyStart)
            }
            Some('}') => {
                self.next();
                self.map_end()
            }
            Some('#') => {
                self.next();
                self.comment_then(State::MapKeyStart)
            }
            Some('/') => {
                self.next();
                if self.next() == Some('/') {
                    return self.comment_then(State::MapKeyStart);
                }
                // Go drops the '/' and starts the key after it.
                self.backup();
                self.ignore();
                self.next();
                Ok(Step::Next(State::MapKey))
            }
            Some(quote @ ('"' | '\'')) => {
                self.next();
                self.ignore();
                self.token_start -= 1;
                Ok(Step::Next(State::MapQuotedKey {
                    double: quote == '"',
                }))
            }
            None => Err(self.error("Unexpected EOF processing map.")),
            Some(_) => {
                self.ignore();
                self.next();
                Ok(Step::Next(State::MapKey))
            }
        }
    }

    fn map_quoted_key(&mut self, double: bool) -> StepResult {
        let quote = if double { '"' } else { '\'' };
        match self.peek() {
            None if double => Err(self.error("Unexpected EOF processing double quoted map key.")),
            None => Err(self.error("Unexpected EOF processing quoted map key.")),
            Some(c) if c == quote => {
                self.emit(TokenKind::Key);
                self.next();
                self.skip_to(State::MapKeyEnd)
            }
            Some(_) => {
                self.next();
                Ok(Step::Next(State::MapQuotedKey { double }))
            }
        }
    }

    fn map_key(&mut self) -> StepResult {
        match self.peek() {
            None => Err(self.error("Unexpected EOF processing map key.")),
            Some(c) if c.is_whitespace() => {
                self.key_or_keyword(State::MapKeyEnd, Some(State::MapValueEnd))
            }
            Some(c) if is_key_separator(c) => {
                self.emit(TokenKind::Key);
                Ok(Step::Next(State::MapKeyEnd))
            }
            Some(_) => {
                self.next();
                Ok(Step::Next(State::MapKey))
            }
        }
    }

    fn map_key_end(&mut self) -> StepResult {
        match self.next() {
            Some(c) if c.is_whitespace() => self.skip_to(State::MapKeyEnd),
            Some(c) if is_key_separator(c) => self.skip_to(State::MapValue),
            _ => {
                self.backup();
                Ok(Step::Next(State::MapValue))
            }
        }
    }

    fn map_value(&mut self) -> StepResult {
        let c = self.next();
        match c {
            Some(c) if c.is_whitespace() => self.skip_to(State::MapValue),
            Some(',') => Err(self.error_behind("Unexpected map value terminator ','.")),
            // `key: }` ends the map; the parser reports the key without a value.
            Some('}') => self.map_end(),
            _ => {
                if c.is_some() {
                    self.backup();
                }
                self.push(State::MapValueEnd)?;
                Ok(Step::Next(State::Value))
            }
        }
    }

    fn map_value_end(&mut self) -> StepResult {
        let c = self.next();
        match c {
            Some(c) if is_blank(c) => self.skip_to(State::MapValueEnd),
            Some('#') => self.comment_then(State::MapValueEnd),
            Some('/') if self.next() == Some('/') => self.comment_then(State::MapValueEnd),
            Some('/') => {
                self.backup();
                self.skip_to(State::MapKeyStart)
            }
            Some(c) if c == ';' || c == ',' || is_newline(c) => self.skip_to(State::MapKeyStart),
            Some('}') => self.map_end(),
            _ => Err(self.error_behind(format!(
                "Expected a map value terminator \",\" or a map terminator \"}}\", but got '{}' \
                 instead.",
                describe(c)
            ))),
        }
    }

    fn map_end(&mut self) -> StepResult {
        self.ignore();
        self.emit_at(TokenKind::MapEnd, self.pos - 1);
        self.pop()
    }

    // Strings.

    fn single_quoted_string(&mut self) -> StepResult {
        match self.next() {
            Some('\'') => {
                self.backup();
                self.emit(TokenKind::String);
                self.next();
                self.ignore();
                self.pop()
            }
            None => self.end_of_input(),
            Some(_) => Ok(Step::Next(State::SingleQuotedString)),
        }
    }

    fn double_quoted_string(&mut self) -> StepResult {
        match self.next() {
            Some('\\') => {
                self.add_current_part(1);
                Ok(Step::Next(State::StringEscape))
            }
            Some('"') => {
                self.backup();
                self.emit(TokenKind::String);
                self.next();
                self.ignore();
                self.pop()
            }
            None => self.end_of_input(),
            Some(_) => Ok(Step::Next(State::DoubleQuotedString)),
        }
    }

    /// An unquoted string, which may also turn out to be a boolean or a `$variable`.
    fn bare_string(&mut self) -> StepResult {
        let c = self.next();
        match c {
            Some('\\') => {
                self.add_current_part(1);
                Ok(Step::Next(State::StringEscape))
            }
            None => self.finish_bare_string(),
            Some(c) if ends_bare_string(c) => {
                self.backup();
                self.finish_bare_string()
            }
            Some('\'') => {
                self.backup();
                self.emit(TokenKind::String);
                self.next();
                self.ignore();
                self.pop()
            }
            Some(_) => Ok(Step::Next(State::BareString)),
        }
    }

    fn finish_bare_string(&mut self) -> StepResult {
        let word: String = self.chars[self.start..self.pos].iter().collect();
        if self.has_parts {
            self.emit(TokenKind::String);
        } else if is_bool_word(&word) {
            self.emit(TokenKind::Bool);
        } else if word.starts_with('$') {
            self.start += 1;
            self.emit(TokenKind::Variable);
        } else {
            self.emit(TokenKind::String);
        }
        self.pop()
    }

    /// A `( ... )` block: raw text up to a `)` alone on its line.
    fn block(&mut self) -> StepResult {
        match self.next() {
            Some(')') => {
                let close = self.pos - 1;
                let alone_on_line = close > 0
                    && self.chars.get(close - 1) == Some(&'\n')
                    && matches!(self.chars.get(close + 1), None | Some('\n'));
                if alone_on_line {
                    self.pos = close;
                    self.emit(TokenKind::String);
                    self.pos = close + 1;
                    self.ignore();
                    return self.pop();
                }
                Ok(Step::Next(State::Block))
            }
            None => Err(self.error("Unexpected EOF processing block.")),
            Some(_) => Ok(Step::Next(State::Block)),
        }
    }

    fn string_escape(&mut self) -> StepResult {
        let decoded = match self.next() {
            Some('x') => return Ok(Step::Next(State::StringHexEscape)),
            Some('t') => '\t',
            Some('n') => '\n',
            Some('r') => '\r',
            Some('"') => '"',
            Some('\\') => '\\',
            other => {
                return Err(self.error_behind(format!(
                    "Invalid escape character '{}'. Only the following escape characters are \
                     allowed: \\xXX, \\t, \\n, \\r, \\\", \\\\.",
                    describe(other)
                )))
            }
        };
        let mut buffer = [0u8; 4];
        self.parts
            .extend_from_slice(decoded.encode_utf8(&mut buffer).as_bytes());
        self.start = self.pos;
        Ok(Step::Next(self.string_state))
    }

    fn string_hex_escape(&mut self) -> StepResult {
        let mut digits = String::new();
        for _ in 0..2 {
            match self.next() {
                Some(c) if is_newline(c) => {
                    return Err(self.error_behind(
                        "Expected two hexadecimal digits after '\\x', but hit end of line",
                    ))
                }
                Some(c) => digits.push(c),
                None => {}
            }
        }
        let Ok(byte) = u8::from_str_radix(&digits, 16) else {
            return Err(self.error(format!(
                "Expected two hexadecimal digits after '\\x', but got '{digits}'"
            )));
        };
        // from_str_radix accepts a sign; Go's hex decoding does not.
        if digits.len() != 2 || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(self.error(format!(
                "Expected two hexadecimal digits after '\\x', but got '{digits}'"
            )));
        }
        self.parts.push(byte);
        self.start = self.pos;
        Ok(Step::Next(self.string_state))
    }

    // Numbers, date-times and the strings and IP addresses that start like numbers.

    fn number_or_date_or_string_or_ip(&mut self) -> StepResult {
        let c = self.next();
        match c {
            Some('-') => {
                if self.pos - self.start != 5 {
                    return Err(self.error("All ISO8601 dates must be in full Zulu form."));
                }
                Ok(Step::Next(State::DateAfterYear))
            }
            Some(c) if c.is_ascii_digit() => Ok(Step::Next(State::NumberOrDateOrStringOrIp)),
            Some('.') => Ok(Step::Next(State::FloatStart)),
            Some(c) if is_number_suffix(c) => Ok(Step::Next(State::ConvenientNumber)),
            Some(c) if !ends_number(c) => {
                // Not a number after all, for example `10s`: the whole word is a string.
                self.string_state = State::BareString;
                Ok(Step::Next(State::BareString))
            }
            _ => {
                if c.is_some() {
                    self.backup();
                }
                self.emit(TokenKind::Integer);
                self.pop()
            }
        }
    }

    /// A size suffix was read (`k`, `M`, ...); `b` and `i` may follow (`kb`, `Mi`, `GiB`).
    fn convenient_number(&mut self) -> StepResult {
        let c = self.next();
        match c {
            Some('b' | 'B' | 'i' | 'I') => Ok(Step::Next(State::ConvenientNumber)),
            None => {
                self.emit(TokenKind::Integer);
                self.pop()
            }
            Some(c) => {
                self.backup();
                // lex.go also ends the number at a digit, but nats-server v2.15.1 reads `1k5`
                // and `1e5` as strings; the binary is what configurations are checked against.
                if ends_number(c) {
                    self.emit(TokenKind::Integer);
                    self.pop()
                } else {
                    self.string_state = State::BareString;
                    Ok(Step::Next(State::BareString))
                }
            }
        }
    }

    /// `YYYY-` was read; the rest must be `MM-DDTHH:MM:SSZ`.
    fn date_after_year(&mut self) -> StepResult {
        const FORMAT: &str = "00-00T00:00:00Z";
        for expected in FORMAT.chars() {
            let c = self.next();
            if expected == '0' {
                if !c.is_some_and(|c| c.is_ascii_digit()) {
                    return Err(self.error_behind(format!(
                        "Expected digit in ISO8601 datetime, but found '{}' instead.",
                        describe(c)
                    )));
                }
            } else if c != Some(expected) {
                return Err(self.error_behind(format!(
                    "Expected '{expected}' in ISO8601 datetime, but found '{}' instead.",
                    describe(c)
                )));
            }
        }
        self.emit(TokenKind::Datetime);
        self.pop()
    }

    fn negative_number_start(&mut self) -> StepResult {
        match self.next() {
            Some(c) if c.is_ascii_digit() => Ok(Step::Next(State::NegativeNumber)),
            Some('.') => Err(self.error_behind("Floats must start with a digit, not '.'.")),
            other => {
                Err(self.error_behind(format!("Expected a digit but got '{}'.", describe(other))))
            }
        }
    }

    fn negative_number(&mut self) -> StepResult {
        let c = self.next();
        match c {
            Some(c) if c.is_ascii_digit() => Ok(Step::Next(State::NegativeNumber)),
            Some('.') => Ok(Step::Next(State::FloatStart)),
            Some(c) if is_number_suffix(c) => Ok(Step::Next(State::ConvenientNumber)),
            _ => {
                if c.is_some() {
                    self.backup();
                }
                self.emit(TokenKind::Integer);
                self.pop()
            }
        }
    }

    fn float_start(&mut self) -> StepResult {
        match self.next() {
            Some(c) if c.is_ascii_digit() => Ok(Step::Next(State::Float)),
            other => Err(self.error_behind(format!(
                "Floats must have a digit after the '.', but got '{}' instead.",
                describe(other)
            ))),
        }
    }

    fn float(&mut self) -> StepResult {
        let c = self.next();
        match c {
            Some(c) if c.is_ascii_digit() => Ok(Step::Next(State::Float)),
            // A second dot: an IP address such as 127.0.0.1, kept as a string.
            Some('.') => Ok(Step::Next(State::IpAddress)),
            _ => {
                if c.is_some() {
                    self.backup();
                }
                self.emit(TokenKind::Float);
                self.pop()
            }
        }
    }

    fn ip_address(&mut self) -> StepResult {
        let c = self.next();
        match c {
            Some(c) if c.is_ascii_digit() || matches!(c, '.' | ':' | '-') => {
                Ok(Step::Next(State::IpAddress))
            }
            _ => {
                if c.is_some() {
                    self.backup();
                }
                self.emit(TokenKind::String);
                self.pop()
            }
        }
    }

    /// A comment runs up to (not including) the end of its line.
    fn comment(&mut self) -> StepResult {
        while let Some(c) = self.peek() {
            if is_newline(c) {
                break;
            }
            self.pos += 1;
        }
        self.ignore();
        self.pop()
    }

    // Helpers.

    fn next(&mut self) -> Option<char> {
        match self.chars.get(self.pos) {
            Some(&c) => {
                self.pos += 1;
                self.width = 1;
                Some(c)
            }
            None => {
                self.width = 0;
                None
            }
        }
    }

    fn backup(&mut self) {
        self.pos -= self.width;
        self.width = 0;
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn ignore(&mut self) {
        self.start = self.pos;
        self.token_start = self.pos;
    }

    fn skip_to(&mut self, state: State) -> StepResult {
        self.ignore();
        Ok(Step::Next(state))
    }

    fn comment_then(&mut self, state: State) -> StepResult {
        self.push(state)?;
        Ok(Step::Next(State::Comment))
    }

    /// The input ended where a key or the end of the text may be: a clean end unless part of
    /// a token was read.
    fn end_of_input(&mut self) -> StepResult {
        if self.pos > self.start {
            return Err(self.error("Unexpected EOF."));
        }
        self.emit(TokenKind::Eof);
        Ok(Step::Stop)
    }

    fn push(&mut self, state: State) -> Result<(), LexError> {
        if self.stack.len() >= NESTING_MAX * 2 {
            return Err(self.error(format!(
                "Blocks, maps and arrays nest deeper than {NESTING_MAX} levels."
            )));
        }
        self.stack.push(state);
        Ok(())
    }

    /// Arrays and maps push one state each; this bounds them before any work is done.
    fn push_nesting_check(&mut self) -> Result<(), LexError> {
        if self.stack.len() >= NESTING_MAX {
            return Err(self.error_behind(format!(
                "Blocks, maps and arrays nest deeper than {NESTING_MAX} levels."
            )));
        }
        Ok(())
    }

    fn pop(&mut self) -> StepResult {
        match self.stack.pop() {
            Some(state) => Ok(Step::Next(state)),
            None => Err(self.error("Unexpected '}' with no block open.")),
        }
    }

    fn add_current_part(&mut self, backslash_len: usize) {
        let text: String = self.chars[self.start..self.pos - backslash_len]
            .iter()
            .collect();
        self.parts.extend_from_slice(text.as_bytes());
        self.has_parts = true;
        self.start = self.pos;
    }

    fn emit(&mut self, kind: TokenKind) {
        let offset = self.token_start;
        self.emit_at(kind, offset);
    }

    fn emit_at(&mut self, kind: TokenKind, offset: usize) {
        let mut bytes = std::mem::take(&mut self.parts);
        let rest: String = self.chars[self.start.min(self.pos)..self.pos]
            .iter()
            .collect();
        bytes.extend_from_slice(rest.as_bytes());
        // `\x` escapes may produce bytes that are not UTF-8 on their own; Go keeps such bytes,
        // a Rust string cannot, so they become U+FFFD.
        let text = match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(error) => String::from_utf8_lossy(error.as_bytes()).into_owned(),
        };
        self.pending.push_back(Token { kind, text, offset });
        self.has_parts = false;
        self.start = self.pos;
        self.token_start = self.pos;
    }

    /// An error at the current position (the next unread character).
    fn error(&self, message: impl Into<String>) -> LexError {
        LexError {
            offset: self.pos,
            message: message.into(),
            consumed: self.pos,
        }
    }

    /// An error at the character just read.
    fn error_behind(&self, message: impl Into<String>) -> LexError {
        LexError {
            offset: self.pos.saturating_sub(self.width),
            message: message.into(),
            consumed: self.pos,
        }
    }

    /// An error at the character peeked but not read.
    fn error_ahead(&self, message: impl Into<String>) -> LexError {
        self.error(message)
    }
}

/// Space or tab: what may separate tokens on one line.
fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

fn is_newline(c: char) -> bool {
    c == '\n' || c == '\r'
}

fn is_key_separator(c: char) -> bool {
    c == '=' || c == ':'
}

fn is_number_suffix(c: char) -> bool {
    matches!(c.to_ascii_lowercase(), 'k' | 'm' | 'g' | 't' | 'p' | 'e')
}

/// Characters that end a number (Go's list, which notably lacks ']').
fn ends_number(c: char) -> bool {
    is_newline(c) || is_blank(c) || matches!(c, '}' | ';' | ',')
}

fn ends_bare_string(c: char) -> bool {
    is_newline(c) || is_blank(c) || matches!(c, ';' | ',' | ']' | '}')
}

fn is_bool_word(word: &str) -> bool {
    ["true", "false", "yes", "no", "on", "off"]
        .iter()
        .any(|candidate| word.eq_ignore_ascii_case(candidate))
}

/// A character for an error message as Go's `escapeSpecial` writes it: a new line escaped, the
/// end of the input as the NUL character Go's lexer returns for it.
fn describe(c: Option<char>) -> String {
    match c {
        None => "\u{0}".to_string(),
        Some('\n') => "\\n".to_string(),
        Some(c) => c.to_string(),
    }
}
