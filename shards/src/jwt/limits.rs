//! What a user JWT allows, turned into what the server enforces: the claims' own checks
//! (Go: `UserClaims.Validate`), `src` CIDRs, `times` windows, scoped signing key templates
//! (Go: `processUserPermissionsTemplate`) and the permissions Natrix compiles (Go:
//! `buildPermissionsFromJwt`). Pure: callers pass the time and the address.

use std::net::IpAddr;
use std::time::Duration;

use super::claims::{Permission, Permissions, UserClaims, UserPermissionLimits};
use crate::options::{
    Permissions as ServerPermissions, ResponsePermission as ServerResponse, SubjectPermission,
};
use crate::subject::is_valid_subject;

/// The most subjects one template may expand to (Go: `maxPermTemplateSubjectExpansions`).
const MAX_TEMPLATE_EXPANSIONS: usize = 4096;
const SECONDS_PER_DAY: i64 = 24 * 60 * 60;

/// Go's `UserClaims.Validate` beyond the validity window: blocking problems of the claims.
pub fn validate_user(claims: &UserClaims) -> Result<(), String> {
    let limits = &claims.nats.limits;
    validate_permissions(&limits.permissions)?;
    for cidr in &limits.src {
        if parse_cidr(cidr).is_none() {
            return Err(format!("invalid cidr {cidr:?} in user src limits"));
        }
    }
    for range in &limits.times {
        if parse_clock(&range.start).is_none() {
            return Err(format!("start in time range is invalid {:?}", range.start));
        }
        if parse_clock(&range.end).is_none() {
            return Err(format!("end in time range is invalid {:?}", range.end));
        }
    }
    let issuer_account = &claims.nats.issuer_account;
    if !issuer_account.is_empty() && !super::is_public_key(issuer_account, b'A') {
        return Err("account_id is not an account public key".to_string());
    }
    Ok(())
}

/// Go's `Permissions.Validate`: subjects without spaces or empty tokens; a queue only in
/// subscribe entries.
pub fn validate_permissions(permissions: &Permissions) -> Result<(), String> {
    let check = |permission: &Permission, queue_allowed: bool| {
        for entry in permission.allow.iter().chain(&permission.deny) {
            let parts: Vec<&str> = entry.split(' ').collect();
            let valid = match parts.as_slice() {
                [subject] => jwt_subject_valid(subject),
                [subject, queue] => {
                    if !queue_allowed {
                        return Err(format!(
                            "Permission Subject \"{entry}\" is not allowed to contain queue"
                        ));
                    }
                    jwt_subject_valid(subject) && jwt_subject_valid(queue)
                }
                _ => {
                    return Err(format!(
                        "Permission Subject \"{entry}\" contains too many spaces"
                    ))
                }
            };
            if !valid {
                return Err(format!("subject {entry:?} is not valid"));
            }
        }
        Ok(())
    };
    check(&permissions.subscribe, true)?;
    check(&permissions.publish, false)
}

/// Go's `Subject.Validate`: not empty, no space, no leading, trailing or double dot.
fn jwt_subject_valid(subject: &str) -> bool {
    !subject.is_empty()
        && !subject.contains(' ')
        && !subject.starts_with('.')
        && !subject.ends_with('.')
        && !subject.contains("..")
}

/// A CIDR, `address/bits`: the network address and prefix length.
fn parse_cidr(cidr: &str) -> Option<(IpAddr, u8)> {
    let (address, bits) = cidr.trim().split_once('/')?;
    let address: IpAddr = address.parse().ok()?;
    let bits: u8 = bits.parse().ok()?;
    let max = if address.is_ipv4() { 32 } else { 128 };
    (bits <= max).then_some((address, bits))
}

fn cidr_contains((network, bits): (IpAddr, u8), address: IpAddr) -> bool {
    let address = match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    };
    match (network, address) {
        (IpAddr::V4(network), IpAddr::V4(address)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(network) & mask == u32::from(address) & mask
        }
        (IpAddr::V6(network), IpAddr::V6(address)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(network) & mask == u128::from(address) & mask
        }
        _ => false,
    }
}

/// Go's `validateSrc`: no list allows every address; otherwise one CIDR must contain it.
pub fn source_allowed(src: &[String], address: IpAddr) -> bool {
    src.is_empty()
        || src
            .iter()
            .filter_map(|cidr| parse_cidr(cidr))
            .any(|network| cidr_contains(network, address))
}

/// `HH:MM:SS` as seconds of the day.
fn parse_clock(text: &str) -> Option<i64> {
    let mut parts = text.split(':');
    let (Some(hours), Some(minutes), Some(seconds), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let field = |text: &str, max: i64| {
        (text.len() == 2)
            .then(|| text.parse::<i64>().ok())
            .flatten()
            .filter(|value| (0..=max).contains(value))
    };
    Some(field(hours, 23)? * 3600 + field(minutes, 59)? * 60 + field(seconds, 59)?)
}

/// Go's `validateTimesAt`: whether the user may connect at `now` (seconds since local
/// midnight), and for how long. `Some(None)` is no time limit; `None` is outside every
/// window. Of several windows, the one that lasts longest wins.
pub fn time_window(times: &[super::claims::TimeRange], now: i64) -> Option<Option<Duration>> {
    if times.is_empty() {
        return Some(None);
    }
    let mut best: Option<i64> = None;
    for range in times {
        let (Some(start), Some(end)) = (parse_clock(&range.start), parse_clock(&range.end)) else {
            return None;
        };
        let valid_for = if start < now && end > now {
            Some(end - now)
        } else if start > end {
            // A window across midnight: before its end today, or after its start.
            if end > now {
                Some(end - now)
            } else if start < now {
                Some(end + SECONDS_PER_DAY - now)
            } else {
                None
            }
        } else {
            None
        };
        if let Some(valid_for) = valid_for {
            if best.is_none_or(|best| valid_for > best) {
                best = Some(valid_for);
            }
        }
    }
    best.map(|seconds| Some(Duration::from_secs(seconds.unsigned_abs())))
}

/// What a scoped signing key's template may refer to.
pub struct TemplateContext<'a> {
    pub user: &'a UserClaims,
    /// The account's `name` claim.
    pub account_name: &'a str,
    pub account_tags: &'a [String],
}

/// Go's `processUserPermissionsTemplate`: expands `{{name()}}`, `{{subject()}}`,
/// `{{account-name()}}`, `{{account-subject()}}`, `{{tag(x)}}` and `{{account-tag(x)}}` in
/// the scope's permission lists. An allow list that expands to nothing denies everything.
pub fn apply_template(
    template: &UserPermissionLimits,
    context: &TemplateContext,
) -> Result<UserPermissionLimits, String> {
    let mut limits = template.clone();
    let sub_allow_set = !limits.permissions.subscribe.allow.is_empty();
    let pub_allow_set = !limits.permissions.publish.allow.is_empty();
    let subscribe = &mut limits.permissions.subscribe;
    subscribe.allow = expand_list(&subscribe.allow, context, false)?;
    subscribe.deny = expand_list(&subscribe.deny, context, true)?;
    let publish = &mut limits.permissions.publish;
    publish.allow = expand_list(&publish.allow, context, false)?;
    publish.deny = expand_list(&publish.deny, context, true)?;
    if sub_allow_set && limits.permissions.subscribe.allow.is_empty() {
        add_unique(&mut limits.permissions.subscribe.deny, ">");
    }
    if pub_allow_set && limits.permissions.publish.allow.is_empty() {
        add_unique(&mut limits.permissions.publish.deny, ">");
    }
    Ok(limits)
}

fn add_unique(list: &mut Vec<String>, entry: &str) {
    if !list.iter().any(|existing| existing == entry) {
        list.push(entry.to_string());
    }
}

/// The `{{...}}` spans of an entry: (start, end) byte offsets including the braces.
fn template_spans(entry: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut from = 0;
    while let Some(open) = entry[from..].find("{{").map(|at| at + from) {
        let Some(close) = entry[open + 2..].find("}}").map(|at| at + open + 2) else {
            break;
        };
        if close > open + 2 && !entry[open + 2..close].contains('}') {
            spans.push((open, close + 2));
        }
        from = close + 2;
    }
    spans
}

fn expand_list(
    list: &[String],
    context: &TemplateContext,
    fail_on_bad_subject: bool,
) -> Result<Vec<String>, String> {
    if !list.iter().any(|entry| !template_spans(entry).is_empty()) {
        return Ok(list.to_vec());
    }
    let mut emitted = Vec::with_capacity(list.len());
    for entry in list {
        let spans = template_spans(entry);
        let mut values: Vec<Vec<String>> = Vec::with_capacity(spans.len());
        for &(start, end) in &spans {
            let operation = entry[start + 2..end - 2].trim();
            values.push(template_values(
                entry,
                operation,
                context,
                fail_on_bad_subject,
            )?);
        }
        let mut combinations = 1usize;
        for value in &values {
            combinations = combinations.saturating_mul(value.len());
        }
        if combinations > MAX_TEMPLATE_EXPANSIONS
            || emitted.len() + combinations > MAX_TEMPLATE_EXPANSIONS
        {
            return Err(format!(
                "template expansion exceeds limit: {MAX_TEMPLATE_EXPANSIONS}"
            ));
        }
        let mut choice = vec![0usize; values.len()];
        for _ in 0..combinations {
            let mut subject = String::with_capacity(entry.len());
            let mut last = 0;
            for (index, &(start, end)) in spans.iter().enumerate() {
                subject.push_str(&entry[last..start]);
                subject.push_str(&values[index][choice[index]]);
                last = end;
            }
            subject.push_str(&entry[last..]);
            if is_valid_subject(subject.as_bytes()) {
                emitted.push(subject);
            } else if fail_on_bad_subject {
                return Err("generated invalid subject".to_string());
            }
            for index in (0..choice.len()).rev() {
                choice[index] += 1;
                if choice[index] < values[index].len() {
                    break;
                }
                choice[index] = 0;
            }
        }
    }
    Ok(emitted)
}

fn template_values(
    entry: &str,
    operation: &str,
    context: &TemplateContext,
    fail_on_bad_subject: bool,
) -> Result<Vec<String>, String> {
    let lower = operation.to_ascii_lowercase();
    let user = context.user;
    let single = |value: &str| Ok(vec![value.to_string()]);
    match lower.as_str() {
        "name()" => return single(&user.claims.name),
        "subject()" => return single(&user.claims.sub),
        "account-name()" => return single(context.account_name),
        "account-subject()" => return single(&user.nats.issuer_account),
        _ => {}
    }
    let (tags, name) = if lower.starts_with("tag(") && lower.ends_with(')') {
        (
            &user.nats.generic.tags[..],
            &operation[4..operation.len() - 1],
        )
    } else if lower.starts_with("account-tag(") && lower.ends_with(')') {
        (context.account_tags, &operation[12..operation.len() - 1])
    } else {
        return Err(format!(
            "template operation in {entry:?}: {operation:?} is not defined"
        ));
    };
    let prefix = format!("{}:", name.to_lowercase());
    let found: Vec<String> = tags
        .iter()
        .filter_map(|tag| tag.strip_prefix(&prefix).map(str::to_string))
        .collect();
    if !found.is_empty() {
        Ok(found)
    } else if fail_on_bad_subject {
        Err(format!(
            "generated invalid subject {entry:?}: {name:?} is not defined"
        ))
    } else {
        // An invalid subject, dropped by the caller.
        Ok(vec![" ".to_string()])
    }
}

/// Go's `buildPermissionsFromJwt`: `None` when the JWT sets no permissions at all (the
/// account's default permissions then apply).
pub fn server_permissions(permissions: &Permissions) -> Option<ServerPermissions> {
    if permissions.is_empty() {
        return None;
    }
    let list = |permission: &Permission| {
        (!permission.is_empty()).then(|| SubjectPermission {
            allow: (!permission.allow.is_empty()).then(|| permission.allow.clone()),
            deny: (!permission.deny.is_empty()).then(|| permission.deny.clone()),
        })
    };
    Some(ServerPermissions {
        publish: list(&permissions.publish),
        subscribe: list(&permissions.subscribe),
        response: permissions
            .response
            .as_ref()
            .map(|response| ServerResponse {
                max_msgs: response.max,
                expires: Duration::from_nanos(response.ttl.max(0).unsigned_abs()),
            }),
    })
}
