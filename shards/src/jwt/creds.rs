//! Armored ("decorated") JWT files, as `nsc` writes them and the Go library reads them
//! (`ParseDecoratedJWT`): the JWT between `-----BEGIN NATS ... JWT-----` and
//! `------END NATS ... JWT------` lines. A `.creds` file holds such a block for the user JWT
//! followed by one for the seed; the first block is the JWT. A file without any block is
//! taken as a bare JWT.

/// Whether a line is a fence: three or more dashes, anything, three or more dashes.
fn is_fence(line: &str) -> bool {
    let line = line.trim();
    let leading = line.bytes().take_while(|&byte| byte == b'-').count();
    let trailing = line.bytes().rev().take_while(|&byte| byte == b'-').count();
    leading >= 3 && trailing >= 3 && line.len() >= 6
}

/// The characters of a block's content (Go: `[\w\-.=]+`).
fn is_token(line: &str) -> bool {
    !line.is_empty()
        && line
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-' | b'.' | b'='))
}

/// Every armored block's content, in order.
pub fn decorated_blocks(contents: &str) -> Vec<&str> {
    let lines: Vec<&str> = contents.lines().collect();
    let mut blocks = Vec::new();
    let mut index = 0;
    while index + 2 < lines.len() {
        let content = lines[index + 1].trim_end_matches('\r');
        if is_fence(lines[index]) && is_token(content) && is_fence(lines[index + 2]) {
            blocks.push(content);
            index += 3;
        } else {
            index += 1;
        }
    }
    blocks
}

/// The JWT in `contents`: the first armored block, or the whole text (trimmed) when there
/// is none.
pub fn parse_decorated_jwt(contents: &str) -> &str {
    decorated_blocks(contents)
        .first()
        .copied()
        .unwrap_or_else(|| contents.trim())
}

/// The seed of a `.creds` file: the second block, or a line that starts like a seed
/// (Go: `ParseDecoratedNKey`).
pub fn parse_decorated_seed(contents: &str) -> Option<&str> {
    let blocks = decorated_blocks(contents);
    if blocks.len() > 1 {
        return Some(blocks[1]);
    }
    contents.lines().map(str::trim).find(|line| {
        line.len() > 2
            && line.starts_with('S')
            && matches!(
                line.as_bytes()[1],
                b'O' | b'A' | b'U' | b'N' | b'C' | b'X' | b'P'
            )
    })
}
