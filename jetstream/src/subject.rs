//! Subject rules as the Go server applies them to stream configurations: which subjects and
//! filters are valid, whether two filters can match a common subject, whether one filter
//! selects a subset of another, and a check of subject transform destinations. Pure.

/// Go's `IsValidSubject`: non-empty tokens, `>` only last, no whitespace in a token.
pub fn is_valid_subject(subject: &str) -> bool {
    if subject.is_empty() {
        return false;
    }
    let mut seen_full_wildcard = false;
    for token in subject.split('.') {
        if token.is_empty() || seen_full_wildcard {
            return false;
        }
        if token.len() > 1 {
            if token.contains(['\t', '\n', '\x0c', '\r', ' ']) {
                return false;
            }
            continue;
        }
        match token {
            ">" => seen_full_wildcard = true,
            " " | "\t" | "\n" | "\r" | "\x0c" => return false,
            _ => {}
        }
    }
    true
}

/// Go's `IsValidPublishSubject`: a valid subject without wildcard tokens.
pub fn is_valid_publish_subject(subject: &str) -> bool {
    is_valid_subject(subject) && is_literal(subject)
}

/// Whether a subject has no `*` or `>` token.
pub fn is_literal(subject: &str) -> bool {
    subject.split('.').all(|token| token != "*" && token != ">")
}

/// Go's `SubjectsCollide`: whether some literal subject matches both filters.
pub fn subjects_collide(first: &str, second: &str) -> bool {
    if first == second {
        return true;
    }
    let tokens_first: Vec<&str> = first.split('.').collect();
    let tokens_second: Vec<&str> = second.split('.').collect();
    let (partial_first, full_first) = analyze(&tokens_first);
    let (partial_second, full_second) = analyze(&tokens_second);
    let literal_first = !(partial_first || full_first);
    let literal_second = !(partial_second || full_second);
    if literal_first && literal_second {
        return first == second;
    }
    if literal_first {
        return is_subset_match(&tokens_first, &tokens_second);
    }
    if literal_second {
        return is_subset_match(&tokens_second, &tokens_first);
    }
    let (len_first, len_second) = (tokens_first.len(), tokens_second.len());
    if !full_first && !full_second && len_first != len_second {
        return false;
    }
    if (len_first < len_second && !full_first) || (len_second < len_first && !full_second) {
        return false;
    }
    tokens_first
        .iter()
        .zip(&tokens_second)
        .all(|(a, b)| *a == "*" || *a == ">" || *b == "*" || *b == ">" || a == b)
}

/// Go's `subjectIsSubsetMatch`: whether every subject `subject` matches is matched by `test`.
pub fn is_subset_of(subject: &str, test: &str) -> bool {
    let tokens: Vec<&str> = subject.split('.').collect();
    let test_tokens: Vec<&str> = test.split('.').collect();
    is_subset_match(&tokens, &test_tokens)
}

fn analyze(tokens: &[&str]) -> (bool, bool) {
    let partial = tokens.contains(&"*");
    let full = tokens.contains(&">");
    (partial, full)
}

fn is_subset_match(tokens: &[&str], test: &[&str]) -> bool {
    for (index, test_token) in test.iter().enumerate() {
        let Some(token) = tokens.get(index) else {
            return false;
        };
        if test_token.is_empty() {
            return false;
        }
        if *test_token == ">" {
            return true;
        }
        if token.is_empty() || *token == ">" {
            return false;
        }
        if *token == "*" {
            if *test_token != "*" {
                return false;
            }
            continue;
        }
        if *test_token != "*" && token != test_token {
            return false;
        }
    }
    tokens.len() == test.len()
}

/// Why a subject transform is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransformError {
    /// The source is not a valid subject filter.
    #[error("invalid source subject")]
    InvalidSource,
    /// The destination is not a valid subject template.
    #[error("invalid mapping destination subject")]
    InvalidDestination,
    /// The destination refers to a wildcard the source does not have.
    #[error("invalid mapping destination: wildcard index out of range")]
    WildcardIndexOutOfRange,
    /// The destination uses a mapping function Natrix does not know.
    #[error("invalid mapping destination: unknown function")]
    UnknownFunction,
}

/// A check of a transform from `source` (empty is `>`) to `destination`, after Go's
/// `ValidateMapping`: valid tokens, `>` only last and only when the source has one, and
/// `$N`/`{{wildcard(N)}}` references within the source's `*` count. Mapping functions are
/// recognized by name (`wildcard`, `partition`, `split`, `splitfromleft`, `splitfromright`,
/// `slicefromleft`, `slicefromright`, `left`, `right`, `random`); their arguments are not
/// checked as precisely as the Go server does.
pub fn validate_transform(source: &str, destination: &str) -> Result<(), TransformError> {
    let source = if source.is_empty() { ">" } else { source };
    if !is_valid_subject(source) {
        return Err(TransformError::InvalidSource);
    }
    if destination.is_empty() {
        return Ok(());
    }
    let wildcards = source.split('.').filter(|token| *token == "*").count();
    let source_has_full = source.ends_with('>');
    let mut seen_full = false;
    for token in destination.split('.') {
        if token.is_empty() || seen_full {
            return Err(TransformError::InvalidDestination);
        }
        if token == ">" {
            if !source_has_full {
                return Err(TransformError::InvalidDestination);
            }
            seen_full = true;
            continue;
        }
        if token.contains(['\t', '\n', '\x0c', '\r', ' ']) {
            return Err(TransformError::InvalidDestination);
        }
        if let Some(index) = token.strip_prefix('$') {
            let index: usize = index
                .parse()
                .map_err(|_| TransformError::InvalidDestination)?;
            if index == 0 || index > wildcards {
                return Err(TransformError::WildcardIndexOutOfRange);
            }
            continue;
        }
        if let Some(inner) = token.strip_prefix("{{").and_then(|t| t.strip_suffix("}}")) {
            check_function(inner.trim(), wildcards)?;
        }
    }
    Ok(())
}

fn check_function(call: &str, wildcards: usize) -> Result<(), TransformError> {
    let Some((name, rest)) = call.split_once('(') else {
        return Err(TransformError::UnknownFunction);
    };
    let Some(arguments) = rest.strip_suffix(')') else {
        return Err(TransformError::InvalidDestination);
    };
    let arguments: Vec<&str> = arguments.split(',').map(str::trim).collect();
    let index_in_range = |text: &str| {
        text.parse::<usize>()
            .ok()
            .filter(|index| *index >= 1 && *index <= wildcards)
            .map(|_| ())
            .ok_or(TransformError::WildcardIndexOutOfRange)
    };
    match name.trim().to_ascii_lowercase().as_str() {
        "wildcard" => index_in_range(arguments.first().copied().unwrap_or_default()),
        "partition" => {
            if arguments.len() < 2 || arguments[0].parse::<u32>().is_err() {
                return Err(TransformError::InvalidDestination);
            }
            arguments[1..]
                .iter()
                .try_for_each(|arg| index_in_range(arg))
        }
        "split" | "splitfromleft" | "splitfromright" | "slicefromleft" | "slicefromright"
        | "left" | "right" => index_in_range(arguments.first().copied().unwrap_or_default()),
        "random" => Ok(()),
        _ => Err(TransformError::UnknownFunction),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_subjects_follow_gos_rules() {
        for good in ["a", "a.b", "a.*", "a.>", ">", "*", "$JS.API.>"] {
            assert!(is_valid_subject(good), "{good}");
        }
        for bad in ["", "a..b", ".a", "a.", "a.>.b", "a b", "a.\tb"] {
            assert!(!is_valid_subject(bad), "{bad:?}");
        }
        assert!(is_valid_publish_subject("a.b"));
        assert!(!is_valid_publish_subject("a.*"));
    }

    #[test]
    fn collisions_are_gos() {
        let cases = [
            ("foo.*", "foo.bar", true),
            ("foo.>", "foo.bar.baz", true),
            ("foo.*", "foo.bar.baz", false),
            ("foo.*", "*.bar", true),
            ("foo.*.baz", "foo.>", true),
            ("a.b", "a.c", false),
            ("*", "a.b", false),
            (">", "a.b", true),
            ("$JS.>", "$JS.API.STREAM.INFO", true),
        ];
        for (first, second, collide) in cases {
            assert_eq!(subjects_collide(first, second), collide, "{first} {second}");
            assert_eq!(subjects_collide(second, first), collide, "{second} {first}");
        }
    }

    #[test]
    fn subsets_are_gos() {
        assert!(is_subset_of("$JS.EVENT.ADVISORY.>", "$JS.EVENT.>"));
        assert!(!is_subset_of("$JS.>", "$JS.EVENT.>"));
        assert!(is_subset_of("a.*", "a.*"));
        assert!(!is_subset_of("a.*", "a.b"));
        assert!(is_subset_of("a.b", "a.*"));
    }

    #[test]
    fn transforms_check_wildcard_references() {
        assert_eq!(validate_transform("a.*.*", "b.$2.$1"), Ok(()));
        assert_eq!(validate_transform("a.*", "b.{{wildcard(1)}}"), Ok(()));
        assert_eq!(validate_transform("a.>", "b.>"), Ok(()));
        assert_eq!(validate_transform("", "b.>"), Ok(()));
        assert_eq!(
            validate_transform("a.*", "b.$2"),
            Err(TransformError::WildcardIndexOutOfRange)
        );
        assert_eq!(
            validate_transform("a.*", "b.>"),
            Err(TransformError::InvalidDestination)
        );
        assert_eq!(
            validate_transform("a.*", "b.{{nope(1)}}"),
            Err(TransformError::UnknownFunction)
        );
        assert_eq!(
            validate_transform("a..b", "c"),
            Err(TransformError::InvalidSource)
        );
    }
}
