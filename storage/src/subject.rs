//! Subject validation and wildcard matching, with the NATS rules: tokens separated by `.`,
//! `*` matches exactly one token, `>` matches one or more trailing tokens. Pure functions.

/// The filter that matches every subject.
pub const FULL_WILDCARD: &str = ">";

/// Whether `subject` may be stored: non-empty, at most 65535 bytes, no empty token, no
/// whitespace and no wildcard token.
pub fn is_valid_publish_subject(subject: &str) -> bool {
    !subject.is_empty()
        && subject.len() <= usize::from(u16::MAX)
        && !subject.bytes().any(|byte| byte.is_ascii_whitespace())
        && subject
            .split('.')
            .all(|token| !token.is_empty() && token != "*" && token != ">")
}

/// Whether a filter selects every subject (empty or `>`).
pub fn is_full_wildcard(filter: &str) -> bool {
    filter.is_empty() || filter == FULL_WILDCARD
}

/// Whether a filter has a wildcard token.
pub fn has_wildcard(filter: &str) -> bool {
    filter.split('.').any(|token| token == "*" || token == ">")
}

/// Whether `subject` (a literal) is selected by `filter`. An empty filter selects everything.
pub fn matches(filter: &str, subject: &str) -> bool {
    if is_full_wildcard(filter) {
        return true;
    }
    let mut filter_tokens = filter.split('.');
    let mut subject_tokens = subject.split('.');
    loop {
        match (filter_tokens.next(), subject_tokens.next()) {
            (None, None) => return true,
            (Some(">"), Some(_)) => return true,
            (Some("*"), Some(_)) => {}
            (Some(expected), Some(actual)) if expected == actual => {}
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_filter_matches_only_itself() {
        assert!(matches("a.b", "a.b"));
        assert!(!matches("a.b", "a.b.c"));
        assert!(!matches("a.b", "a"));
    }

    #[test]
    fn star_matches_exactly_one_token() {
        assert!(matches("a.*.c", "a.b.c"));
        assert!(!matches("a.*", "a.b.c"));
        assert!(!matches("a.*", "a"));
    }

    #[test]
    fn greater_than_matches_one_or_more_trailing_tokens() {
        assert!(matches("a.>", "a.b"));
        assert!(matches("a.>", "a.b.c"));
        assert!(!matches("a.>", "a"));
        assert!(matches(">", "x"));
        assert!(matches("", "x.y"));
    }

    #[test]
    fn publish_subjects_reject_wildcards_and_empty_tokens() {
        assert!(is_valid_publish_subject("orders.new"));
        assert!(!is_valid_publish_subject(""));
        assert!(!is_valid_publish_subject("a..b"));
        assert!(!is_valid_publish_subject("a.*"));
        assert!(!is_valid_publish_subject("a.>"));
        assert!(!is_valid_publish_subject("a b"));
    }
}
