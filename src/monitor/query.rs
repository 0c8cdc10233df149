//! Query strings, decoded as Go's `url.Query()` does, and the Go server's parameter decoders
//! with their error texts (`decodeBool`, `decodeInt`, `decodeUint64`, `decodeState`).

/// A request the Go server answers with status 400 and this text (a parameter it cannot
/// decode, an unknown account). The client must change the request.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadRequest(pub String);

/// The decoded parameters of one request; the first value of a repeated key wins, as with
/// Go's `Query().Get`.
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub fn parse(text: &str) -> Query {
        let pairs = text
            .split(['&', ';'])
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                (percent_decode(key), percent_decode(value))
            })
            .collect();
        Query { pairs }
    }

    /// The value of `key`, or "" when absent (Go's `Get`).
    pub fn get(&self, key: &str) -> &str {
        self.pairs
            .iter()
            .find(|(name, _)| name == key)
            .map_or("", |(_, value)| value.as_str())
    }

    /// Go's `decodeBool`: absent is false; otherwise `strconv.ParseBool`.
    pub fn boolean(&self, key: &str) -> Result<bool, BadRequest> {
        let text = self.get(key);
        if text.is_empty() {
            return Ok(false);
        }
        parse_go_bool(text).ok_or_else(|| {
            BadRequest(format!(
                "Error decoding boolean for '{key}': strconv.ParseBool: parsing {}: invalid syntax",
                go_quote(text)
            ))
        })
    }

    /// Go's `decodeInt` (`strconv.Atoi`): absent is 0.
    pub fn int(&self, key: &str) -> Result<i64, BadRequest> {
        let text = self.get(key);
        if text.is_empty() {
            return Ok(0);
        }
        parse_go_int(text).map_err(|reason| {
            BadRequest(format!(
                "Error decoding int for '{key}': strconv.Atoi: parsing {}: {reason}",
                go_quote(text)
            ))
        })
    }

    /// Go's `decodeUint64` (`strconv.ParseUint`): absent is 0.
    pub fn uint64(&self, key: &str) -> Result<u64, BadRequest> {
        let text = self.get(key);
        if text.is_empty() {
            return Ok(0);
        }
        parse_go_uint(text).map_err(|reason| {
            BadRequest(format!(
                "Error decoding uint64 for '{key}': strconv.ParseUint: parsing {}: {reason}",
                go_quote(text)
            ))
        })
    }
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Go's `strconv.Atoi` on 64-bit: an optional sign and decimal digits.
fn parse_go_int(text: &str) -> Result<i64, &'static str> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err("invalid syntax");
    }
    text.trim_start_matches('+')
        .parse::<i64>()
        .map_err(|_| "value out of range")
}

fn parse_go_uint(text: &str) -> Result<u64, &'static str> {
    if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err("invalid syntax");
    }
    text.parse::<u64>().map_err(|_| "value out of range")
}

/// Go's `%q` for the ASCII texts query values usually are (non-printable bytes escaped).
fn go_quote(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for character in text.chars() {
        match character {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\t' => quoted.push_str("\\t"),
            '\r' => quoted.push_str("\\r"),
            character if character.is_control() => {
                quoted.push_str(&format!("\\x{:02x}", u32::from(character)))
            }
            character => quoted.push(character),
        }
    }
    quoted.push('"');
    quoted
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, `%XX` a byte; a malformed
/// escape is kept as it is.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'+' => decoded.push(b' '),
            b'%' => {
                let escape = bytes
                    .get(index + 1..index + 3)
                    .and_then(|hex| std::str::from_utf8(hex).ok())
                    .and_then(|hex| u8::from_str_radix(hex, 16).ok());
                match escape {
                    Some(byte) => {
                        decoded.push(byte);
                        index += 3;
                        continue;
                    }
                    None => decoded.push(b'%'),
                }
            }
            byte => decoded.push(byte),
        }
        index += 1;
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_values_get_the_go_error_texts() {
        let query = Query::parse("limit=x&subs=maybe&cid=-1&offset=99999999999999999999");
        assert_eq!(
            query.int("limit").unwrap_err().0,
            "Error decoding int for 'limit': strconv.Atoi: parsing \"x\": invalid syntax"
        );
        assert_eq!(
            query.boolean("subs").unwrap_err().0,
            "Error decoding boolean for 'subs': strconv.ParseBool: parsing \"maybe\": invalid syntax"
        );
        assert!(query.uint64("cid").is_err());
        assert!(query
            .int("offset")
            .unwrap_err()
            .0
            .ends_with("value out of range"));
        assert_eq!(query.int("absent"), Ok(0));
    }

    #[test]
    fn values_are_percent_decoded() {
        let query = Query::parse("acc=%24G&test=a+b&bad=%zz&first=1&first=2");
        assert_eq!(query.get("acc"), "$G");
        assert_eq!(query.get("test"), "a b");
        assert_eq!(query.get("bad"), "%zz");
        assert_eq!(query.get("first"), "1");
    }
}
