//! Subject mappings (`mappings {}`) and the subject rewrites of imports: a source pattern and a
//! destination template, applied to a published subject before it is matched.
//!
//! Templates follow the Go server: literal tokens, `$N` or `{{wildcard(N)}}` (the N-th `*` of
//! the source, 1-based), `{{partition(BUCKETS,N...)}}` (a stable hash of those tokens, modulo
//! BUCKETS; of the whole subject when no token is named), `{{random(N)}}`, the token functions
//! `{{split(N,DELIM)}}`, `{{splitFromLeft(N,POS)}}`, `{{splitFromRight(N,POS)}}`,
//! `{{sliceFromLeft(N,SIZE)}}`, `{{sliceFromRight(N,SIZE)}}`, `{{left(N,LEN)}}` and
//! `{{right(N,LEN)}}` (which may write several tokens), and a trailing `>` that takes whatever
//! the source's `>` matched.

use rand::Rng;

use crate::options::SubjectMapping;

#[derive(Debug, Clone, PartialEq, Eq)]
enum SourceToken {
    Literal(Vec<u8>),
    Any,
    Rest,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum DestToken {
    Literal(Vec<u8>),
    /// Index into the source's `*` tokens, 0-based.
    Wildcard(usize),
    /// A stable hash modulo `buckets` of the named wildcards' tokens, concatenated; of the
    /// whole subject when none is named (Go's `partition(n)` shorthand).
    Partition {
        buckets: u32,
        wildcards: Vec<usize>,
    },
    /// A random number below `buckets`.
    Random {
        buckets: u32,
    },
    /// A function of one wildcard's token that may write several tokens.
    Token {
        wildcard: usize,
        function: TokenFunction,
    },
    Rest,
}

/// The Go server's mapping functions of one token. Sizes and positions outside the token
/// leave it whole, as in Go.
#[derive(Debug, Clone, PartialEq, Eq)]
enum TokenFunction {
    /// Tokens between the occurrences of the delimiter (empty pieces dropped).
    Split(Vec<u8>),
    /// Two tokens: the first `position` bytes and the rest.
    SplitFromLeft(i64),
    /// Two tokens: all but the last `position` bytes and those.
    SplitFromRight(i64),
    /// Tokens of `size` bytes from the left; the last one takes the remainder.
    SliceFromLeft(i64),
    /// Tokens of `size` bytes from the right; the first one takes the remainder.
    SliceFromRight(i64),
    /// The first `length` bytes.
    Left(i64),
    /// The last `length` bytes.
    Right(i64),
}

/// A compiled `source -> destination` rewrite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectTransform {
    source: Vec<SourceToken>,
    destination: Vec<DestToken>,
}

/// Why a mapping (or an import's subject rewrite) cannot be compiled; the texts say what
/// to fix in the configuration, which is the only way to recover.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MappingError {
    #[error("invalid source subject {0:?}")]
    InvalidSource(String),
    #[error("invalid destination subject {0:?}")]
    InvalidDestination(String),
    #[error("'>' must be the last token of the destination")]
    RestNotLast,
    #[error("destination has '>' but the source does not")]
    RestWithoutSourceRest,
    #[error("the source has '>' so the destination must end with '>'")]
    MissingRest,
    #[error("unbalanced '{{{{'")]
    UnbalancedOpen,
    #[error("unbalanced '}}}}'")]
    UnbalancedClose,
    #[error("invalid wildcard index {0:?}")]
    InvalidWildcardIndex(String),
    #[error("wildcard index {index} is out of range: the source has {wildcards} '*'")]
    WildcardOutOfRange { index: usize, wildcards: usize },
    #[error("'*' is not allowed in a mapping destination")]
    StarInDestination,
    #[error("invalid mapping function in {0:?}")]
    InvalidFunctionIn(String),
    #[error("invalid mapping function {0:?}")]
    InvalidFunction(String),
    #[error("wildcard() takes one index")]
    WildcardArguments,
    #[error("partition() needs a bucket count")]
    PartitionWithoutCount,
    #[error("invalid partition count {0:?}")]
    InvalidPartitionCount(String),
    #[error("mapping function {0:?} is not supported by Natrix yet")]
    UnsupportedFunction(String),
    #[error("{0:?} takes a wildcard index and one more argument")]
    FunctionArguments(String),
    #[error("invalid mapping function argument {0:?}")]
    InvalidFunctionArgument(String),
}

/// Checks a mapping the way the config loader needs: `Err` carries the reason.
pub fn check_destination(source: &str, destination: &str) -> Result<(), MappingError> {
    SubjectTransform::new(source, destination).map(drop)
}

impl SubjectTransform {
    pub fn new(source: &str, destination: &str) -> Result<Self, MappingError> {
        if !crate::subject::is_valid_subject(source.as_bytes()) {
            return Err(MappingError::InvalidSource(source.to_string()));
        }
        let source: Vec<SourceToken> = source
            .split('.')
            .map(|token| match token {
                "*" => SourceToken::Any,
                ">" => SourceToken::Rest,
                literal => SourceToken::Literal(literal.as_bytes().to_vec()),
            })
            .collect();
        let wildcard_count = source
            .iter()
            .filter(|token| **token == SourceToken::Any)
            .count();
        let source_has_rest = source.last() == Some(&SourceToken::Rest);
        let parts = split_template(destination)?;
        let mut tokens = Vec::with_capacity(parts.len());
        for (index, part) in parts.iter().enumerate() {
            let token = parse_dest_token(part, wildcard_count)?;
            if token == DestToken::Rest {
                if index + 1 != parts.len() {
                    return Err(MappingError::RestNotLast);
                }
                if !source_has_rest {
                    return Err(MappingError::RestWithoutSourceRest);
                }
            }
            tokens.push(token);
        }
        if source_has_rest && tokens.last() != Some(&DestToken::Rest) {
            return Err(MappingError::MissingRest);
        }
        Ok(SubjectTransform {
            source,
            destination: tokens,
        })
    }

    /// The mapped subject, or `None` when `subject` does not match the source.
    pub fn apply(&self, subject: &[u8]) -> Option<Vec<u8>> {
        let mut wildcards: Vec<&[u8]> = Vec::new();
        let mut rest: &[u8] = &[];
        let mut consumed = 0;
        let mut matched_rest = false;
        for pattern in &self.source {
            let remaining = subject.get(consumed..).unwrap_or(&[]);
            if remaining.is_empty() {
                return None;
            }
            match pattern {
                SourceToken::Rest => {
                    rest = remaining;
                    matched_rest = true;
                    break;
                }
                SourceToken::Any | SourceToken::Literal(_) => {
                    let end = remaining
                        .iter()
                        .position(|&byte| byte == b'.')
                        .unwrap_or(remaining.len());
                    let token = &remaining[..end];
                    match pattern {
                        SourceToken::Literal(literal) if literal != token => return None,
                        SourceToken::Literal(_) => {}
                        _ => wildcards.push(token),
                    }
                    consumed += end + 1;
                }
            }
        }
        if !matched_rest && consumed < subject.len() + 1 {
            return None;
        }
        let mut mapped = Vec::with_capacity(subject.len() + 16);
        for (index, token) in self.destination.iter().enumerate() {
            if index > 0 {
                mapped.push(b'.');
            }
            match token {
                DestToken::Literal(literal) => mapped.extend_from_slice(literal),
                DestToken::Wildcard(position) => {
                    mapped.extend_from_slice(wildcards.get(*position)?)
                }
                DestToken::Partition {
                    buckets,
                    wildcards: positions,
                } => {
                    let bucket = if positions.is_empty() {
                        fnv1a32(subject) % buckets
                    } else {
                        let mut key = Vec::new();
                        for position in positions {
                            key.extend_from_slice(wildcards.get(*position)?);
                        }
                        fnv1a32(&key) % buckets
                    };
                    mapped.extend_from_slice(bucket.to_string().as_bytes());
                }
                DestToken::Random { buckets } => {
                    let bucket = rand::rng().random_range(0..*buckets);
                    mapped.extend_from_slice(bucket.to_string().as_bytes());
                }
                DestToken::Token { wildcard, function } => {
                    function.write(wildcards.get(*wildcard)?, &mut mapped)
                }
                DestToken::Rest => mapped.extend_from_slice(rest),
            }
        }
        Some(mapped)
    }
}

/// Splits on dots that are not inside `{{ }}`.
fn split_template(destination: &str) -> Result<Vec<&str>, MappingError> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    let bytes = destination.as_bytes();
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index..].starts_with(b"{{") {
            depth += 1;
            index += 2;
            continue;
        }
        if bytes[index..].starts_with(b"}}") {
            depth = depth.checked_sub(1).ok_or(MappingError::UnbalancedClose)?;
            index += 2;
            continue;
        }
        if bytes[index] == b'.' && depth == 0 {
            parts.push(&destination[start..index]);
            start = index + 1;
        }
        index += 1;
    }
    if depth != 0 {
        return Err(MappingError::UnbalancedOpen);
    }
    parts.push(&destination[start..]);
    if parts.iter().any(|part| part.is_empty()) {
        return Err(MappingError::InvalidDestination(destination.to_string()));
    }
    Ok(parts)
}

fn parse_dest_token(part: &str, wildcard_count: usize) -> Result<DestToken, MappingError> {
    let wildcard_index = |text: &str| -> Result<usize, MappingError> {
        let number: usize = text
            .trim()
            .parse()
            .map_err(|_| MappingError::InvalidWildcardIndex(text.to_string()))?;
        if number == 0 || number > wildcard_count {
            return Err(MappingError::WildcardOutOfRange {
                index: number,
                wildcards: wildcard_count,
            });
        }
        Ok(number - 1)
    };
    if part == ">" {
        return Ok(DestToken::Rest);
    }
    if part == "*" {
        return Err(MappingError::StarInDestination);
    }
    // Go reads `$N` as a wildcard reference only when N is a number: other tokens that start
    // with `$` (`$JS`, `$SYS`, `$KV`) are literals.
    if let Some(number) = part
        .strip_prefix('$')
        .filter(|number| number.parse::<i64>().is_ok())
    {
        return wildcard_index(number).map(DestToken::Wildcard);
    }
    let Some(inner) = part
        .strip_prefix("{{")
        .and_then(|rest| rest.strip_suffix("}}"))
    else {
        if part.contains("{{") || part.contains("}}") {
            return Err(MappingError::InvalidFunctionIn(part.to_string()));
        }
        return Ok(DestToken::Literal(part.as_bytes().to_vec()));
    };
    let inner = inner.trim();
    let (name, arguments) = inner
        .split_once('(')
        .and_then(|(name, rest)| Some((name.trim(), rest.strip_suffix(')')?)))
        .ok_or_else(|| MappingError::InvalidFunction(inner.to_string()))?;
    let arguments: Vec<&str> = arguments.split(',').map(str::trim).collect();
    match name.to_ascii_lowercase().as_str() {
        "wildcard" => match arguments.as_slice() {
            [index] => wildcard_index(index).map(DestToken::Wildcard),
            _ => Err(MappingError::WildcardArguments),
        },
        "partition" => {
            let (buckets, indexes) = arguments
                .split_first()
                .ok_or(MappingError::PartitionWithoutCount)?;
            let buckets = bucket_count(buckets)?;
            // As Go: with no `*` in the source the named tokens are ignored and the whole
            // subject is hashed.
            let wildcards = if indexes.is_empty() || wildcard_count == 0 {
                Vec::new()
            } else {
                indexes
                    .iter()
                    .map(|index| wildcard_index(index))
                    .collect::<Result<_, _>>()?
            };
            Ok(DestToken::Partition { buckets, wildcards })
        }
        "random" => match arguments.as_slice() {
            [buckets] => Ok(DestToken::Random {
                buckets: bucket_count(buckets)?,
            }),
            _ => Err(MappingError::FunctionArguments(name.to_string())),
        },
        function @ ("split" | "splitfromleft" | "splitfromright" | "slicefromleft"
        | "slicefromright" | "left" | "right") => {
            let [index, argument] = arguments.as_slice() else {
                return Err(MappingError::FunctionArguments(name.to_string()));
            };
            let wildcard = wildcard_index(index)?;
            let number = || -> Result<i64, MappingError> {
                argument
                    .parse::<i32>()
                    .map(i64::from)
                    .map_err(|_| MappingError::InvalidFunctionArgument(argument.to_string()))
            };
            let function = match function {
                "split" => {
                    if argument.contains(' ') || argument.contains('.') {
                        return Err(MappingError::InvalidFunctionArgument(argument.to_string()));
                    }
                    TokenFunction::Split(argument.as_bytes().to_vec())
                }
                "splitfromleft" => TokenFunction::SplitFromLeft(number()?),
                "splitfromright" => TokenFunction::SplitFromRight(number()?),
                "slicefromleft" => TokenFunction::SliceFromLeft(number()?),
                "slicefromright" => TokenFunction::SliceFromRight(number()?),
                "left" => TokenFunction::Left(number()?),
                _ => TokenFunction::Right(number()?),
            };
            Ok(DestToken::Token { wildcard, function })
        }
        other => Err(MappingError::UnsupportedFunction(other.to_string())),
    }
}

/// A bucket count of `partition` or `random`: a positive 32-bit number.
fn bucket_count(text: &str) -> Result<u32, MappingError> {
    text.parse::<u32>()
        .ok()
        .filter(|&count| count > 0 && i32::try_from(count).is_ok())
        .ok_or_else(|| MappingError::InvalidPartitionCount(text.to_string()))
}

impl TokenFunction {
    /// Writes the function of `token` (one or more tokens, dot-separated) to `out`, as Go's
    /// `TransformTokenizedSubject` does.
    fn write(&self, token: &[u8], out: &mut Vec<u8>) {
        let length = token.len() as i64;
        // A size or position usable on this token, as an index into it.
        let inside = |value: i64| (value > 0 && value < length).then_some(value as usize);
        match *self {
            TokenFunction::Split(ref delimiter) => write_split(token, delimiter, out),
            TokenFunction::SplitFromLeft(position) => match inside(position) {
                Some(at) => join(out, &[&token[..at], &token[at..]]),
                None => out.extend_from_slice(token),
            },
            TokenFunction::SplitFromRight(position) => match inside(position) {
                Some(from_end) => {
                    let at = token.len() - from_end;
                    join(out, &[&token[..at], &token[at..]]);
                }
                None => out.extend_from_slice(token),
            },
            TokenFunction::SliceFromLeft(size) => match inside(size) {
                Some(size) => {
                    let pieces: Vec<&[u8]> = token.chunks(size).collect();
                    join(out, &pieces);
                }
                None => out.extend_from_slice(token),
            },
            TokenFunction::SliceFromRight(size) => match inside(size) {
                Some(size) => {
                    let remainder = token.len() % size;
                    let mut pieces: Vec<&[u8]> = Vec::new();
                    if remainder > 0 {
                        pieces.push(&token[..remainder]);
                    }
                    pieces.extend(token[remainder..].chunks(size));
                    join(out, &pieces);
                }
                None => out.extend_from_slice(token),
            },
            TokenFunction::Left(size) => match inside(size) {
                Some(size) => out.extend_from_slice(&token[..size]),
                None => out.extend_from_slice(token),
            },
            TokenFunction::Right(size) => match inside(size) {
                Some(size) => out.extend_from_slice(&token[token.len() - size..]),
                None => out.extend_from_slice(token),
            },
        }
    }
}

/// Writes `pieces` separated by dots.
fn join(out: &mut Vec<u8>, pieces: &[&[u8]]) {
    for (index, piece) in pieces.iter().enumerate() {
        if index > 0 {
            out.push(b'.');
        }
        out.extend_from_slice(piece);
    }
}

/// Go's `split`: the pieces between delimiters, empty ones dropped, joined with dots. An
/// empty delimiter splits between characters, as Go's `strings.Split`.
fn write_split(token: &[u8], delimiter: &[u8], out: &mut Vec<u8>) {
    let pieces: Vec<&[u8]> = if delimiter.is_empty() {
        match std::str::from_utf8(token) {
            Ok(text) => text
                .char_indices()
                .map(|(at, character)| &token[at..at + character.len_utf8()])
                .collect(),
            Err(_) => token.chunks(1).collect(),
        }
    } else {
        let mut pieces = Vec::new();
        let mut rest = token;
        while let Some(at) = find(rest, delimiter) {
            pieces.push(&rest[..at]);
            rest = &rest[at + delimiter.len()..];
        }
        pieces.push(rest);
        pieces
    };
    // Go's loop, as it is: each non-empty piece, and a dot after a piece when the next one is
    // non-empty, unless this is an empty first piece.
    for (index, piece) in pieces.iter().enumerate() {
        out.extend_from_slice(piece);
        let next_is_written = pieces.get(index + 1).is_some_and(|next| !next.is_empty());
        if next_is_written && !(index == 0 && piece.is_empty()) {
            out.push(b'.');
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// FNV-1a, 32 bits: the hash the Go server uses for partitions.
fn fnv1a32(bytes: &[u8]) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for &byte in bytes {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

/// A source pattern and its destinations with their weights (percent).
type MappingRule = (Vec<u8>, Vec<(SubjectTransform, u8)>);

/// An account's mappings, compiled: each source with its weighted destinations.
#[derive(Debug, Clone, Default)]
pub struct Mappings {
    rules: Vec<MappingRule>,
}

impl Mappings {
    /// Compiles checked mappings; a destination that does not compile is skipped (the config
    /// loader has already reported it).
    pub fn compile(mappings: &[SubjectMapping]) -> Self {
        let mut rules = Vec::new();
        for mapping in mappings {
            let destinations = mapping
                .destinations
                .iter()
                .filter_map(|destination| {
                    SubjectTransform::new(&mapping.source, &destination.subject)
                        .ok()
                        .map(|transform| (transform, destination.weight))
                })
                .collect();
            rules.push((mapping.source.as_bytes().to_vec(), destinations));
        }
        Mappings { rules }
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The subject a publish to `subject` goes to, if a mapping applies. With weights, one
    /// destination is drawn; when the weights add up to less than 100, the rest of the time the
    /// subject stays as it is.
    pub fn map(&self, subject: &[u8]) -> Option<Vec<u8>> {
        for (source, destinations) in &self.rules {
            if !crate::subject::pattern_matches(source, subject) {
                continue;
            }
            let total: u32 = destinations
                .iter()
                .map(|(_, weight)| u32::from(*weight))
                .sum();
            if destinations.len() == 1 && total >= 100 {
                return destinations[0].0.apply(subject);
            }
            let mut draw = rand::rng().random_range(0..100u32);
            for (transform, weight) in destinations {
                if draw < u32::from(*weight) {
                    return transform.apply(subject);
                }
                draw -= u32::from(*weight);
            }
            return None;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(source: &str, destination: &str, subject: &str) -> Option<String> {
        let transform = SubjectTransform::new(source, destination).expect("valid");
        transform
            .apply(subject.as_bytes())
            .map(|bytes| String::from_utf8(bytes).expect("utf8"))
    }

    #[test]
    fn literal_mapping_replaces_the_subject() {
        assert_eq!(map("foo", "bar", "foo").as_deref(), Some("bar"));
        assert_eq!(map("foo", "bar", "foo.x"), None);
    }

    #[test]
    fn wildcards_are_reordered_by_position() {
        assert_eq!(
            map("a.*.*", "b.$2.{{wildcard(1)}}", "a.x.y").as_deref(),
            Some("b.y.x")
        );
        assert_eq!(map("a.>", "b.>", "a.x.y.z").as_deref(), Some("b.x.y.z"));
        assert_eq!(map("a.>", "b.>", "a"), None);
    }

    #[test]
    fn partition_is_stable_and_in_range() {
        let first = map("p.*", "q.{{partition(4,1)}}", "p.key").expect("maps");
        assert_eq!(
            Some(first.clone()),
            map("p.*", "q.{{partition(4,1)}}", "p.key")
        );
        let bucket: u32 = first.trim_start_matches("q.").parse().expect("number");
        assert!(bucket < 4);
    }

    #[test]
    fn token_functions_split_and_slice_as_the_go_server() {
        let cases = [
            ("{{split(1,-)}}", "a-b--c", "a.b.c"),
            ("{{split(1,-)}}", "-a", "a"),
            ("{{split(1,-)}}", "--a", ".a"),
            ("{{split(1,-)}}", "nodash", "nodash"),
            ("{{splitFromLeft(1,2)}}", "abcdef", "ab.cdef"),
            ("{{splitFromLeft(1,6)}}", "abcdef", "abcdef"),
            ("{{splitFromRight(1,2)}}", "abcdef", "abcd.ef"),
            ("{{splitFromRight(1,0)}}", "abcdef", "abcdef"),
            ("{{sliceFromLeft(1,2)}}", "abcde", "ab.cd.e"),
            ("{{sliceFromLeft(1,2)}}", "abcd", "ab.cd"),
            ("{{sliceFromRight(1,2)}}", "abcde", "a.bc.de"),
            ("{{sliceFromRight(1,9)}}", "abcde", "abcde"),
            ("{{left(1,3)}}", "abcde", "abc"),
            ("{{right(1,3)}}", "abcde", "cde"),
            ("{{right(1,-1)}}", "abcde", "abcde"),
        ];
        for (function, token, expected) in cases {
            let destination = format!("out.{function}");
            let subject = format!("in.{token}");
            assert_eq!(
                map("in.*", &destination, &subject).as_deref(),
                Some(format!("out.{expected}").as_str()),
                "{function} of {token}"
            );
        }
    }

    #[test]
    fn partition_shorthand_hashes_the_whole_subject_and_random_stays_in_range() {
        // Go's partition(n) hashes the subject's tokens joined with dots.
        let expected = fnv1a32(b"p.a.b") % 7;
        assert_eq!(
            map("p.*.*", "q.{{partition(7)}}", "p.a.b"),
            Some(format!("q.{expected}"))
        );
        assert_eq!(
            map("p.a.b", "q.{{partition(7,1)}}", "p.a.b"),
            Some(format!("q.{expected}"))
        );
        for _ in 0..50 {
            let bucket: u32 = map("r.*", "{{random(3)}}.$1", "r.x")
                .and_then(|mapped| mapped.split('.').next()?.parse().ok())
                .expect("a number");
            assert!(bucket < 3);
        }
    }

    #[test]
    fn token_functions_check_their_arguments() {
        assert!(check_destination("a.*", "b.{{split(1)}}").is_err());
        assert!(check_destination("a.*", "b.{{split(1,.)}}").is_err());
        assert!(check_destination("a.*", "b.{{left(2,1)}}").is_err());
        assert!(check_destination("a.*", "b.{{left(1,x)}}").is_err());
        assert!(check_destination("a.*", "b.{{random(0)}}").is_err());
        assert!(check_destination("a.*", "b.{{SplitFromLeft(1, 3)}}").is_ok());
    }

    #[test]
    fn bad_destinations_are_refused_with_a_reason() {
        assert!(check_destination("a.*", "b.$2").is_err());
        assert!(check_destination("$JS.API.>", "$JS.API.>").is_ok());
        assert_eq!(map("a.*", "$KV.$1", "a.x").as_deref(), Some("$KV.x"));
        assert!(check_destination("a.>", "b").is_err());
        assert!(check_destination("a", "b.>").is_err());
        assert!(check_destination("a.*", "b.{{nosuch(1)}}").is_err());
        assert!(check_destination("a.*", "b.{{wildcard(1)").is_err());
    }

    #[test]
    fn compiled_mappings_match_wildcard_sources() {
        let mappings = Mappings::compile(&[SubjectMapping {
            source: "orders.*".into(),
            destinations: vec![crate::options::MappingDestination {
                subject: "orders.new.$1".into(),
                weight: 100,
            }],
        }]);
        assert_eq!(mappings.map(b"orders.7"), Some(b"orders.new.7".to_vec()));
        assert_eq!(mappings.map(b"orders.7.x"), None);
    }

    #[test]
    fn weights_below_one_hundred_keep_the_subject_sometimes() {
        let mappings = Mappings::compile(&[SubjectMapping {
            source: "w".into(),
            destinations: vec![crate::options::MappingDestination {
                subject: "w.a".into(),
                weight: 50,
            }],
        }]);
        let mut mapped = 0;
        for _ in 0..1000 {
            if mappings.map(b"w").is_some() {
                mapped += 1;
            }
        }
        assert!((350..650).contains(&mapped), "mapped {mapped} of 1000");
    }
}
