//! Subject syntax: validation and wildcard matching, as the Go server defines them.
//!
//! A subject is a list of non-empty tokens separated by `.`. In a subscription, a token that is
//! exactly `*` matches any one token and a last token that is exactly `>` matches one or more
//! tokens. A token that merely contains `*` or `>` (like `a*`) is a literal.

/// Returns whether `subject` is valid for a subscription (wildcards allowed).
pub fn is_valid_subject(subject: &[u8]) -> bool {
    if subject.is_empty() {
        return false;
    }
    let mut tokens = subject.split(|&byte| byte == b'.').peekable();
    while let Some(token) = tokens.next() {
        if token.is_empty() || token.iter().any(|byte| byte.is_ascii_whitespace()) {
            return false;
        }
        if token == b">" && tokens.peek().is_some() {
            return false;
        }
    }
    true
}

/// Returns whether `subject` is valid for a publish: valid and without wildcard tokens.
pub fn is_valid_literal_subject(subject: &[u8]) -> bool {
    is_valid_subject(subject) && !has_wildcard_token(subject)
}

/// Returns whether any token of `subject` is exactly `*` or `>`.
pub fn has_wildcard_token(subject: &[u8]) -> bool {
    subject
        .split(|&byte| byte == b'.')
        .any(|token| token == b"*" || token == b">")
}

/// Returns whether the literal `subject` is matched by the subscription `pattern`.
pub fn pattern_matches(pattern: &[u8], subject: &[u8]) -> bool {
    let mut subject_tokens = subject.split(|&byte| byte == b'.');
    let mut pattern_tokens = pattern.split(|&byte| byte == b'.').peekable();
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

/// Whether every subject `pattern` matches is also matched by `wider` (Go's
/// `subjectIsSubsetMatch`): `foo.bar` and `foo.*` are subsets of `foo.>`, `foo.>` is not a
/// subset of `foo.*`.
pub fn is_subset_match(pattern: &str, wider: &str) -> bool {
    let tokens: Vec<&str> = pattern.split('.').collect();
    let mut count = 0;
    for (index, wide) in wider.split('.').enumerate() {
        count = index + 1;
        let Some(&token) = tokens.get(index) else {
            return false;
        };
        match wide {
            ">" => return true,
            "*" if token == ">" => return false,
            "*" => {}
            literal if literal != token => return false,
            _ => {}
        }
    }
    count == tokens.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_are_valid_only_as_whole_tokens_and_full_wildcard_only_last() {
        for valid in [
            "foo", "foo.bar", "*", ">", "foo.*", "foo.>", "*.bar", "a*.b", "a>.b", "$JS.API",
        ] {
            assert!(is_valid_subject(valid.as_bytes()), "{valid}");
        }
        for invalid in [
            "", ".", "foo.", ".foo", "foo..bar", ">.a", "a.>.b", "foo bar", "a\tb",
        ] {
            assert!(!is_valid_subject(invalid.as_bytes()), "{invalid}");
        }
    }

    #[test]
    fn literal_subjects_reject_wildcard_tokens_only() {
        assert!(is_valid_literal_subject(b"a*.b"));
        assert!(!is_valid_literal_subject(b"a.*"));
        assert!(!is_valid_literal_subject(b">"));
    }

    #[test]
    fn patterns_match_as_the_go_server_matches() {
        assert!(pattern_matches(b"foo.*", b"foo.bar"));
        assert!(!pattern_matches(b"foo.*", b"foo.bar.baz"));
        assert!(!pattern_matches(b"foo.*", b"foo"));
        assert!(pattern_matches(b"foo.>", b"foo.bar.baz"));
        assert!(!pattern_matches(b"foo.>", b"foo"));
        assert!(pattern_matches(b">", b"a"));
        assert!(pattern_matches(b"*.b.>", b"a.b.c.d"));
        assert!(pattern_matches(b"a.b", b"a.b"));
        assert!(!pattern_matches(b"a.b", b"a.b.c"));
        assert!(!pattern_matches(b"a*", b"ab"));
    }

    #[test]
    fn subset_matches_follow_the_go_server() {
        assert!(is_subset_match("foo.bar", "foo.>"));
        assert!(is_subset_match("foo.*", "foo.>"));
        assert!(is_subset_match("foo.*", "foo.*"));
        assert!(is_subset_match("foo.bar", "foo.*"));
        assert!(!is_subset_match("foo.>", "foo.*"));
        assert!(!is_subset_match("foo", "foo.>"));
        assert!(!is_subset_match("foo.bar.baz", "foo.*"));
        assert!(!is_subset_match("bar", "foo"));
    }
}
