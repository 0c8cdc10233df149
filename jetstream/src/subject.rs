//! Subjects for JetStream: the workspace's one subject module (`natrix_storage::subject`,
//! re-exported here), and the check of subject transform destinations that stream
//! configurations need. Pure.

pub use natrix_storage::subject::*;

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
    if !is_valid_subject(source.as_bytes()) {
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
        // Spaces may separate a function's arguments (`{{left(1, 3)}}`), as in Go.
        let is_function = token.starts_with("{{") && token.ends_with("}}");
        if !is_function && token.contains(['\t', '\n', '\x0c', '\r', ' ']) {
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
            // `partition(n)` alone hashes the whole subject (Go's shorthand).
            if arguments[0].parse::<u32>().is_err() {
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
