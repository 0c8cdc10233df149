//! Subjects, as the Go server defines them: the one subject module of the workspace.
//!
//! A subject is a list of non-empty tokens separated by `.`, without whitespace (space, tab,
//! CR, LF, form feed). In a pattern (a subscription, a stream's subjects, a filter), a token
//! that is exactly `*` matches any one token and a last token that is exactly `>` matches one
//! or more tokens. A token that merely contains `*` or `>` (like `a*`) is a literal, and `>`
//! anywhere but last makes the pattern invalid. Every function is pure and works on bytes; the
//! workspace's other crates re-export this module (`natrix_shards::subject`).
//!
//! Core NATS bounds a subject only by the control line; a stored message's subject must also
//! fit the record format ([`MAX_STORED_SUBJECT_LEN`]).

/// The filter that matches every subject.
pub const FULL_WILDCARD: &str = ">";

/// The longest subject a stream store can keep (its length is a `u16` in every record).
pub const MAX_STORED_SUBJECT_LEN: usize = u16::MAX as usize;

/// Whether `subject` is a valid pattern (a subscription or a filter): non-empty tokens, no
/// whitespace, `>` only as the last token (Go: `IsValidSubject`).
pub fn is_valid_subject(subject: &[u8]) -> bool {
    if subject.is_empty() {
        return false;
    }
    let mut after_full_wildcard = false;
    for token in tokens(subject) {
        if token.is_empty() || after_full_wildcard {
            return false;
        }
        if token.iter().any(u8::is_ascii_whitespace) {
            return false;
        }
        after_full_wildcard = token == b">";
    }
    true
}

/// Whether a stream store can keep a message on `subject`: a valid literal subject that fits
/// the record format.
pub fn is_storable_subject(subject: &str) -> bool {
    subject.len() <= MAX_STORED_SUBJECT_LEN && is_valid_literal_subject(subject.as_bytes())
}

/// Whether `subject` is valid for a publish: valid, and no token is a wildcard (Go:
/// `IsValidPublishSubject`).
pub fn is_valid_literal_subject(subject: &[u8]) -> bool {
    is_valid_subject(subject) && !has_wildcard_token(subject)
}

/// Whether any token of `subject` is exactly `*` or `>`.
pub fn has_wildcard_token(subject: &[u8]) -> bool {
    tokens(subject).any(|token| token == b"*" || token == b">")
}

/// Whether a stream filter selects every subject: empty (no filter) or `>`.
pub fn is_match_all_filter(filter: &[u8]) -> bool {
    filter.is_empty() || filter == FULL_WILDCARD.as_bytes()
}

/// Whether the literal `subject` is matched by `pattern` (`*` one token, a last `>` one or
/// more). A `>` that is not the last token matches only a literal `>`: such a pattern is
/// invalid and never reaches an index.
pub fn pattern_matches(pattern: &[u8], subject: &[u8]) -> bool {
    let mut subject_tokens = tokens(subject);
    let mut pattern_tokens = tokens(pattern).peekable();
    while let Some(pattern_token) = pattern_tokens.next() {
        if pattern_token == b">" && pattern_tokens.peek().is_none() {
            return subject_tokens.next().is_some();
        }
        match subject_tokens.next() {
            Some(token) if pattern_token == b"*" || pattern_token == token => {}
            _ => return false,
        }
    }
    subject_tokens.next().is_none()
}

/// Whether `subject` is selected by a stream filter: an empty filter selects everything,
/// otherwise as [`pattern_matches`].
pub fn filter_matches(filter: &[u8], subject: &[u8]) -> bool {
    filter.is_empty() || pattern_matches(filter, subject)
}

/// Whether every subject `pattern` matches is also matched by `wider` (Go:
/// `subjectIsSubsetMatch`): `foo.bar` and `foo.*` are subsets of `foo.>`; `foo.>` is not a
/// subset of `foo.*`.
pub fn is_subset_match(pattern: &[u8], wider: &[u8]) -> bool {
    let mut pattern_tokens = tokens(pattern);
    for wide in tokens(wider) {
        let Some(token) = pattern_tokens.next() else {
            return false;
        };
        match wide {
            b">" => return true,
            b"*" if token == b">" => return false,
            b"*" => {}
            literal if literal != token => return false,
            _ => {}
        }
    }
    pattern_tokens.next().is_none()
}

/// Whether some subject is matched by both patterns (Go: `SubjectsCollide`).
pub fn patterns_overlap(first: &[u8], second: &[u8]) -> bool {
    let mut first_tokens = tokens(first);
    let mut second_tokens = tokens(second);
    loop {
        match (first_tokens.next(), second_tokens.next()) {
            (None, None) => return true,
            (Some(b">"), Some(_)) | (Some(_), Some(b">")) => return true,
            (Some(a), Some(b)) if a == b"*" || b == b"*" || a == b => {}
            _ => return false,
        }
    }
}

/// The `.`-separated tokens of a subject (an empty subject has one empty token).
pub fn tokens(subject: &[u8]) -> impl Iterator<Item = &[u8]> + Clone {
    subject.split(|&byte| byte == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Go server's rules, one row per case: (subject, valid as a pattern, valid to publish).
    const VALIDITY: &[(&str, bool, bool)] = &[
        ("foo", true, true),
        ("foo.bar", true, true),
        ("$JS.API.INFO", true, true),
        ("_INBOX.abc.1", true, true),
        ("*", true, false),
        (">", true, false),
        ("foo.*", true, false),
        ("foo.>", true, false),
        ("*.bar", true, false),
        ("foo.*.baz.>", true, false),
        ("a*.b", true, true),
        ("a>.b", true, true),
        ("*a", true, true),
        ("", false, false),
        (".", false, false),
        ("foo.", false, false),
        (".foo", false, false),
        ("foo..bar", false, false),
        (">.a", false, false),
        ("a.>.b", false, false),
        ("foo bar", false, false),
        ("a\tb", false, false),
        ("a\nb", false, false),
        ("a\rb", false, false),
        ("a\x0cb", false, false),
        ("a\x0bb", true, true),
    ];

    #[test]
    fn validity_follows_the_go_server_table() {
        for &(subject, pattern, literal) in VALIDITY {
            assert_eq!(is_valid_subject(subject.as_bytes()), pattern, "{subject:?}");
            assert_eq!(
                is_valid_literal_subject(subject.as_bytes()),
                literal,
                "{subject:?}"
            );
        }
    }

    /// (pattern, subject, matches)
    const MATCHING: &[(&str, &str, bool)] = &[
        ("a.b", "a.b", true),
        ("a.b", "a.b.c", false),
        ("a.b", "a", false),
        ("a.*", "a.b", true),
        ("a.*", "a.b.c", false),
        ("a.*", "a", false),
        ("a.*.c", "a.b.c", true),
        ("a.>", "a.b", true),
        ("a.>", "a.b.c", true),
        ("a.>", "a", false),
        (">", "x", true),
        (">", "x.y.z", true),
        ("*", "x", true),
        ("*", "x.y", false),
        ("*.b.>", "a.b.c.d", true),
        ("a*", "ab", false),
        ("a*", "a*", true),
        ("a.>.c", "a.b.c", false),
    ];

    #[test]
    fn patterns_match_as_the_go_server_matches() {
        for &(pattern, subject, expected) in MATCHING {
            assert_eq!(
                pattern_matches(pattern.as_bytes(), subject.as_bytes()),
                expected,
                "{pattern:?} against {subject:?}"
            );
        }
    }

    #[test]
    fn an_empty_filter_or_full_wildcard_selects_everything() {
        assert!(filter_matches(b"", b"x.y"));
        assert!(filter_matches(b">", b"x"));
        assert!(is_match_all_filter(b"") && is_match_all_filter(b">"));
        assert!(!is_match_all_filter(b"a.>"));
        assert!(!filter_matches(b"a", b"b"));
    }

    #[test]
    fn subset_matches_follow_the_go_server() {
        assert!(is_subset_match(b"foo.bar", b"foo.>"));
        assert!(is_subset_match(b"foo.*", b"foo.>"));
        assert!(is_subset_match(b"foo.*", b"foo.*"));
        assert!(is_subset_match(b"foo.bar", b"foo.*"));
        assert!(!is_subset_match(b"foo.>", b"foo.*"));
        assert!(!is_subset_match(b"foo", b"foo.>"));
        assert!(!is_subset_match(b"foo.bar.baz", b"foo.*"));
        assert!(!is_subset_match(b"bar", b"foo"));
        assert!(is_subset_match(b"$JS.EVENT.ADVISORY.>", b"$JS.EVENT.>"));
        assert!(!is_subset_match(b"$JS.>", b"$JS.EVENT.>"));
        assert!(!is_subset_match(b"a.*", b"a.b"));
    }

    /// (first, second, whether some subject matches both), as Go's `SubjectsCollide`.
    const OVERLAPS: &[(&str, &str, bool)] = &[
        ("foo.*", "foo.bar", true),
        ("foo.>", "foo.bar.baz", true),
        ("foo.>", "*.bar.baz", true),
        ("foo.*", "foo.bar.baz", false),
        ("foo.*", "*.bar", true),
        ("foo.*.baz", "foo.>", true),
        ("foo.*", "foo.>", true),
        ("a.b.>", "a.*", false),
        ("a.b", "a.c", false),
        ("a.b", "a", false),
        ("*", "a.b", false),
        (">", "a.b", true),
        (">", "a", true),
        ("$JS.>", "$JS.API.STREAM.INFO", true),
    ];

    #[test]
    fn overlapping_patterns_share_a_subject_as_in_go() {
        for &(first, second, overlap) in OVERLAPS {
            assert_eq!(
                patterns_overlap(first.as_bytes(), second.as_bytes()),
                overlap,
                "{first} {second}"
            );
            assert_eq!(
                patterns_overlap(second.as_bytes(), first.as_bytes()),
                overlap,
                "{second} {first}"
            );
        }
    }

    #[test]
    fn deep_subjects_are_handled_without_recursion() {
        let deep = vec!["t"; 100_000].join(".");
        assert!(is_valid_literal_subject(deep.as_bytes()));
        assert!(pattern_matches(b"t.>", deep.as_bytes()));
        assert!(pattern_matches(deep.as_bytes(), deep.as_bytes()));
    }
}
