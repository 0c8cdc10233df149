//! What an authenticated connection may publish, subscribe to and receive, as the Go server
//! decides it (`server/client.go`: `setPermissions`, `pubAllowedFullCheck`, `canSubscribe`,
//! `checkDenySub`, the reply tracking of `allow_responses`).
//!
//! [`PermissionRules`] is compiled once per user when the shard starts and shared by that user's
//! connections; [`ClientPermissions`] adds what one connection remembers: a small cache of
//! publish decisions, the reply subjects it may answer, and whether deliveries must be filtered
//! against the subscribe deny list. Pure logic: no I/O; time comes in as an argument.
//!
//! Lists are matched by a linear scan with Go's sublist semantics (a wildcard in the tested
//! subject is a token like any other, so `foo.>` allows `SUB foo.*`); permission lists are
//! short, and the publish path, the hot one, is cached per subject.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use ahash::AHashMap;

use crate::options::{Permissions, ResponsePermission};
use crate::protocol::errors::go_quote;
use crate::subject::{
    has_wildcard_token, is_subset_match, is_valid_subject, pattern_matches, patterns_overlap,
};

/// Publish decisions a connection remembers before it starts over (Go: `maxPermCacheSize`).
const PUBLISH_CACHE_CAPACITY: usize = 128;
/// Delivery deny decisions a connection remembers (Go: `maxDenyPermCacheSize`).
const DENY_CACHE_CAPACITY: usize = 256;
/// Reply grants recorded between two prunes of expired ones (Go: `replyPermLimit`).
const REPLY_PRUNE_COUNT: usize = 4096;
/// Expired reply grants are pruned at most this often (Go: `replyPruneTime`).
const REPLY_PRUNE_INTERVAL: Duration = Duration::from_secs(1);

/// The queue name the Go server reserves for itself; clients may never subscribe with it.
pub const SYSTEM_QUEUE_GROUP: &[u8] = b"_sys_";

/// One entry of a permission list: a subject pattern, and for subscribe lists an optional
/// queue group (`"foo.* workers"`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    subject: Box<[u8]>,
    queue: Option<Box<[u8]>>,
}

/// A user's permissions, compiled once and shared by the user's connections.
#[derive(Debug, Default)]
pub struct PermissionRules {
    /// `None`: publishing is not restricted (no allow and no deny list).
    publish_allow: Option<Vec<Rule>>,
    publish_deny: Option<Vec<Rule>>,
    subscribe_allow: Option<Vec<Rule>>,
    subscribe_deny: Option<Vec<Rule>>,
    response: Option<ResponsePermission>,
    /// Entries that could not be used, with the Go server's error text, for the log.
    pub rejected: Vec<String>,
}

impl PermissionRules {
    /// Compiles a user's permissions as Go's `setPermissions` does. Response permissions must
    /// already have their defaults applied (see [`with_response_defaults`]).
    pub fn compile(permissions: &Permissions) -> PermissionRules {
        let mut rules = PermissionRules::default();
        if let Some(publish) = &permissions.publish {
            if let Some(allow) = &publish.allow {
                let mut list = Vec::new();
                for subject in allow {
                    if is_valid_subject(subject.as_bytes()) {
                        list.push(Rule::plain(subject));
                    } else {
                        rules
                            .rejected
                            .push(format!("invalid publish subject {}", go_quote(subject)));
                    }
                }
                rules.publish_allow = Some(list);
            }
            if let Some(deny) = publish.deny.as_ref().filter(|deny| !deny.is_empty()) {
                let mut list = Vec::new();
                for subject in deny {
                    if is_valid_subject(subject.as_bytes()) {
                        list.push(Rule::plain(subject));
                    } else if let Some(rule) = split_subject_queue(subject) {
                        // A queue qualifier means nothing for publishing; the subject still
                        // counts, as in the Go server.
                        rules.rejected.push(format!(
                            "queue qualifier is not valid for publish deny subject {}",
                            go_quote(subject)
                        ));
                        list.push(Rule {
                            queue: None,
                            ..rule
                        });
                    } else {
                        rules.rejected.push(format!(
                            "invalid publish deny subject {}",
                            go_quote(subject)
                        ));
                    }
                }
                rules.publish_deny = Some(list);
            }
        }
        if let Some(subscribe) = &permissions.subscribe {
            // Unlike publish, an empty subscribe allow list allows everything (Go checks
            // `len(Allow) > 0`).
            let mut compile_list = |entries: &Option<Vec<String>>| {
                let entries = entries.as_ref().filter(|entries| !entries.is_empty())?;
                let mut list = Vec::new();
                for entry in entries {
                    match split_subject_queue(entry) {
                        Some(rule) => list.push(rule),
                        None => rules
                            .rejected
                            .push(format!("invalid subject-queue {}", go_quote(entry))),
                    }
                }
                Some(list)
            };
            let allow = compile_list(&subscribe.allow);
            let deny = compile_list(&subscribe.deny);
            rules.subscribe_allow = allow;
            rules.subscribe_deny = deny;
        }
        rules.response = permissions.response.clone();
        rules
    }

    /// Whether publishing is restricted at all: the publish path tests nothing else otherwise.
    pub fn restricts_publish(&self) -> bool {
        self.publish_allow.is_some() || self.publish_deny.is_some()
    }

    /// The allow and deny lists alone, without reply grants (Go: the part of
    /// `pubAllowedFullCheck` that is cached).
    fn publish_allowed_by_lists(&self, subject: &[u8]) -> bool {
        let allowed = self.publish_allow.as_ref().is_none_or(|allow| {
            allow
                .iter()
                .any(|rule| pattern_matches(&rule.subject, subject))
        });
        allowed
            && self.publish_deny.as_ref().is_none_or(|deny| {
                !deny
                    .iter()
                    .any(|rule| pattern_matches(&rule.subject, subject))
            })
    }

    /// Go's `canSubscribeInternal`: allow list first (a queue entry that matches the subject
    /// decides for queue subscriptions), then the deny list.
    pub fn can_subscribe(&self, subject: &[u8], queue: Option<&[u8]>) -> bool {
        let queue = queue.filter(|queue| !queue.is_empty());
        let mut allowed = true;
        if let Some(allow) = &self.subscribe_allow {
            let (plain, queued) = matching(allow, subject);
            allowed = plain;
            if let Some(queue) = queue {
                if !queued.is_empty() {
                    allowed = queue_matches(queue, &queued);
                }
            }
        }
        if allowed {
            if let Some(deny) = &self.subscribe_deny {
                let (plain, queued) = matching(deny, subject);
                allowed = !plain;
                if let Some(queue) = queue {
                    if allowed && !queued.is_empty() {
                        allowed = !queue_matches(queue, &queued);
                    }
                }
            }
        }
        allowed
    }

    /// Go's `checkDenySub` without the cache: whether a message on the literal `subject` must
    /// not be delivered to a subscription (with `queue`) of this user.
    fn delivery_denied(&self, subject: &[u8], queue: Option<&[u8]>) -> bool {
        let Some(deny) = &self.subscribe_deny else {
            return false;
        };
        let (plain, queued) = matching(deny, subject);
        match queue.filter(|queue| !queue.is_empty()) {
            Some(queue) if !plain && !queued.is_empty() => queue_matches(queue, &queued),
            _ => plain,
        }
    }

    /// Whether a subscription to `subject` could receive messages the deny list forbids, so
    /// deliveries to this connection must be filtered (Go: `loadMsgDenyFilterIfNeeded`).
    fn subscription_overlaps_deny(&self, subject: &[u8], has_queue: bool) -> bool {
        if !has_queue && !has_wildcard_token(subject) {
            return false;
        }
        self.subscribe_deny.as_ref().is_some_and(|deny| {
            deny.iter()
                .any(|rule| patterns_overlap(&rule.subject, subject))
        })
    }
}

/// One connection's view of its user's permissions, with the state it accumulates.
pub struct ClientPermissions {
    rules: Rc<PermissionRules>,
    publish_cache: RefCell<AHashMap<Box<[u8]>, bool>>,
    /// Reply subjects of delivered messages this connection may publish to.
    replies: RefCell<ReplyGrants>,
    /// Set once a subscription overlaps the subscribe deny list; deliveries are then checked.
    filter_deliveries: Cell<bool>,
    /// Delivery deny decisions by subject, then by queue group. Keyed by subject alone so a
    /// hit is looked up with the borrowed subject, without allocating a key.
    deny_cache: RefCell<AHashMap<Box<[u8]>, Vec<DenyDecision>>>,
}

/// One cached deny decision for a queue group (`None`: plain subscriptions).
type DenyDecision = (Option<Box<[u8]>>, bool);

struct ReplyGrants {
    grants: AHashMap<Box<[u8]>, ReplyGrant>,
    since_prune: usize,
    last_prune: Instant,
}

struct ReplyGrant {
    granted_at: Instant,
    used: i64,
}

impl ClientPermissions {
    pub fn new(rules: Rc<PermissionRules>) -> ClientPermissions {
        ClientPermissions {
            rules,
            publish_cache: RefCell::default(),
            replies: RefCell::new(ReplyGrants {
                grants: AHashMap::new(),
                since_prune: 0,
                last_prune: Instant::now(),
            }),
            filter_deliveries: Cell::new(false),
            deny_cache: RefCell::default(),
        }
    }

    /// Go's `pubAllowedFullCheck`: cached list decision, then reply grants (never cached,
    /// since each use counts against the grant).
    /// `now` is called only when a reply grant is consulted, so a restricted publisher that
    /// the lists allow does not read the clock.
    pub fn publish_allowed(&self, subject: &[u8], now: impl FnOnce() -> Instant) -> bool {
        if !self.rules.restricts_publish() {
            return true;
        }
        if let Some(&allowed) = self.publish_cache.borrow().get(subject) {
            return allowed;
        }
        let allowed = self.rules.publish_allowed_by_lists(subject);
        if !allowed && self.rules.response.is_some() {
            return self.use_reply_grant(subject, now());
        }
        let mut cache = self.publish_cache.borrow_mut();
        if cache.len() >= PUBLISH_CACHE_CAPACITY {
            cache.clear();
        }
        cache.insert(subject.into(), allowed);
        allowed
    }

    /// Go's `canSubscribe`: checks the lists and turns on delivery filtering when the new
    /// subscription could receive denied subjects.
    pub fn can_subscribe(&self, subject: &[u8], queue: Option<&[u8]>) -> bool {
        if !self.rules.can_subscribe(subject, queue) {
            return false;
        }
        let has_queue = queue.is_some_and(|queue| !queue.is_empty());
        if !self.filter_deliveries.get()
            && self.rules.subscription_overlaps_deny(subject, has_queue)
        {
            self.filter_deliveries.set(true);
        }
        true
    }

    /// Whether a message on `subject` must be withheld from a subscription with `queue`.
    /// Costs one `Cell` read unless a subscription overlapped the deny list.
    pub fn delivery_denied(&self, subject: &[u8], queue: Option<&[u8]>) -> bool {
        if !self.filter_deliveries.get() {
            return false;
        }
        let cached = self.deny_cache.borrow().get(subject).and_then(|decisions| {
            decisions
                .iter()
                .find(|(group, _)| group.as_deref() == queue)
                .map(|&(_, denied)| denied)
        });
        if let Some(denied) = cached {
            return denied;
        }
        let denied = self.rules.delivery_denied(subject, queue);
        let mut cache = self.deny_cache.borrow_mut();
        if cache.len() >= DENY_CACHE_CAPACITY {
            cache.clear();
        }
        cache
            .entry(subject.into())
            .or_default()
            .push((queue.map(Into::into), denied));
        denied
    }

    /// Whether this connection tracks reply subjects (`allow_responses`).
    pub fn tracks_replies(&self) -> bool {
        self.rules.response.is_some()
    }

    /// Called when a message with a reply subject is delivered to this connection: grants a
    /// response to it unless publishing there is allowed anyway (Go: `deliverMsg`).
    pub fn note_delivered_reply(&self, reply: &[u8], now: Instant) {
        if !self.tracks_replies() || self.publish_allowed(reply, || now) {
            return;
        }
        let mut replies = self.replies.borrow_mut();
        replies.grants.insert(
            reply.into(),
            ReplyGrant {
                granted_at: now,
                used: 0,
            },
        );
        replies.since_prune += 1;
        if replies.since_prune > REPLY_PRUNE_COUNT
            || now.saturating_duration_since(replies.last_prune) > REPLY_PRUNE_INTERVAL
        {
            self.prune_reply_grants(&mut replies, now);
        }
    }

    /// Go's `responseAllowed`: a use of the grant for `subject`, if it still holds.
    fn use_reply_grant(&self, subject: &[u8], now: Instant) -> bool {
        let Some(response) = &self.rules.response else {
            return false;
        };
        let mut replies = self.replies.borrow_mut();
        let Some(grant) = replies.grants.get_mut(subject) else {
            return false;
        };
        grant.used += 1;
        let used_up = response.max_msgs > 0 && grant.used > response.max_msgs;
        let expired = !response.expires.is_zero()
            && now.saturating_duration_since(grant.granted_at) > response.expires;
        if used_up || expired {
            replies.grants.remove(subject);
            return false;
        }
        true
    }

    fn prune_reply_grants(&self, replies: &mut ReplyGrants, now: Instant) {
        if let Some(response) = &self.rules.response {
            replies.grants.retain(|_, grant| {
                let used_up = response.max_msgs > 0 && grant.used >= response.max_msgs;
                let expired = !response.expires.is_zero()
                    && now.saturating_duration_since(grant.granted_at) > response.expires;
                !used_up && !expired
            });
        }
        replies.since_prune = 0;
        replies.last_prune = now;
    }

    /// Number of reply subjects this connection may currently answer (for tests).
    pub fn reply_grants(&self) -> usize {
        self.replies.borrow().grants.len()
    }
}

/// Applies the Go server's `validateResponsePermissions`: with `allow_responses` set, zero
/// limits take the defaults, and a missing publish allow list becomes an empty one (the user
/// may then publish only replies, unless it has an allow list of its own).
pub fn with_response_defaults(permissions: &Permissions) -> Permissions {
    let mut permissions = permissions.clone();
    if let Some(response) = permissions.response.as_mut() {
        let defaults = ResponsePermission::default();
        if response.max_msgs == 0 {
            response.max_msgs = defaults.max_msgs;
        }
        if response.expires.is_zero() {
            response.expires = defaults.expires;
        }
        let publish = permissions.publish.get_or_insert_with(Default::default);
        publish.allow.get_or_insert_with(Vec::new);
    }
    permissions
}

/// Go's `splitSubjectQueue`: `"subject"` or `"subject queue"`, both valid subjects.
fn split_subject_queue(entry: &str) -> Option<Rule> {
    let mut fields = entry.split_whitespace();
    let subject = fields.next()?;
    let queue = fields.next();
    if fields.next().is_some() || !is_valid_subject(subject.as_bytes()) {
        return None;
    }
    if queue.is_some_and(|queue| !is_valid_subject(queue.as_bytes())) {
        return None;
    }
    Some(Rule {
        subject: subject.as_bytes().into(),
        queue: queue.map(|queue| queue.as_bytes().into()),
    })
}

impl Rule {
    fn plain(subject: &str) -> Rule {
        Rule {
            subject: subject.as_bytes().into(),
            queue: None,
        }
    }
}

/// Go's sublist `Match` over a list: whether a plain entry matches, and the queue names of the
/// queue entries that match.
fn matching<'r>(rules: &'r [Rule], subject: &[u8]) -> (bool, Vec<&'r [u8]>) {
    let mut plain = false;
    let mut queued = Vec::new();
    for rule in rules {
        if pattern_matches(&rule.subject, subject) {
            match &rule.queue {
                None => plain = true,
                Some(queue) => queued.push(&queue[..]),
            }
        }
    }
    (plain, queued)
}

/// Go's `queueMatches`: the queue is named literally, or matched by a wildcard queue name.
fn queue_matches(queue: &[u8], names: &[&[u8]]) -> bool {
    names.is_empty()
        || names.iter().any(|name| {
            queue == *name || (has_wildcard_token(name) && is_subset_match(queue, name))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::SubjectPermission;

    fn list(items: &[&str]) -> Option<Vec<String>> {
        Some(items.iter().map(|item| item.to_string()).collect())
    }

    fn permissions(
        publish: Option<SubjectPermission>,
        subscribe: Option<SubjectPermission>,
    ) -> ClientPermissions {
        let permissions = Permissions {
            publish,
            subscribe,
            response: None,
        };
        ClientPermissions::new(Rc::new(PermissionRules::compile(&permissions)))
    }

    #[test]
    fn publish_allow_and_deny_lists_match_wildcards_and_deny_wins() {
        let now = Instant::now();
        let client = permissions(
            Some(SubjectPermission {
                allow: list(&["foo.*", "bar.>", "baz"]),
                deny: list(&["foo.secret", "bar.x.>"]),
            }),
            None,
        );
        for allowed in ["foo.a", "bar.a", "bar.a.b", "baz"] {
            assert!(
                client.publish_allowed(allowed.as_bytes(), || now),
                "{allowed}"
            );
        }
        for denied in ["foo.secret", "foo.a.b", "bar.x.y", "bar", "other", "baz.a"] {
            assert!(
                !client.publish_allowed(denied.as_bytes(), || now),
                "{denied}"
            );
            // A second call is answered from the cache with the same result.
            assert!(
                !client.publish_allowed(denied.as_bytes(), || now),
                "{denied}"
            );
        }
    }

    #[test]
    fn empty_publish_allow_list_allows_nothing_but_missing_one_allows_all() {
        let now = Instant::now();
        let nothing = permissions(
            Some(SubjectPermission {
                allow: Some(Vec::new()),
                deny: None,
            }),
            None,
        );
        assert!(!nothing.publish_allowed(b"foo", || now));
        let deny_only = permissions(
            Some(SubjectPermission {
                allow: None,
                deny: list(&["secret.>"]),
            }),
            None,
        );
        assert!(deny_only.publish_allowed(b"foo", || now));
        assert!(!deny_only.publish_allowed(b"secret.a", || now));
    }

    #[test]
    fn subscribe_lists_follow_go_semantics_for_wildcard_subscriptions() {
        let client = permissions(
            None,
            Some(SubjectPermission {
                allow: list(&["foo.>", "bar.*"]),
                deny: list(&["foo.secret"]),
            }),
        );
        assert!(client.can_subscribe(b"foo.a", None));
        assert!(client.can_subscribe(b"foo.*", None));
        assert!(client.can_subscribe(b"foo.>", None));
        assert!(client.can_subscribe(b"bar.*", None));
        // In Go's sublist a `>` in the tested subject is one token that `*` matches.
        assert!(client.can_subscribe(b"bar.>", None));
        assert!(!client.can_subscribe(b"bar", None));
        assert!(!client.can_subscribe(b"foo.secret", None));
        assert!(!client.can_subscribe(b"baz", None));
        // An empty subscribe allow list allows everything (Go checks its length).
        let empty = permissions(
            None,
            Some(SubjectPermission {
                allow: Some(Vec::new()),
                deny: None,
            }),
        );
        assert!(empty.can_subscribe(b"anything", None));
    }

    #[test]
    fn queue_entries_restrict_queue_subscriptions_only() {
        // allow = ["foo", "foo v1"]: plain subscriptions to foo, queue subscriptions only in v1.
        let client = permissions(
            None,
            Some(SubjectPermission {
                allow: list(&["foo", "foo v1", "bar.* q.*"]),
                deny: list(&["foo bad", "baz.> qx"]),
            }),
        );
        assert!(client.can_subscribe(b"foo", None));
        assert!(client.can_subscribe(b"foo", Some(b"v1")));
        assert!(!client.can_subscribe(b"foo", Some(b"v2")));
        assert!(client.can_subscribe(b"bar.a", Some(b"q.one")));
        assert!(!client.can_subscribe(b"bar.a", Some(b"other")));
        // A queue entry alone does not allow plain subscriptions.
        assert!(!client.can_subscribe(b"bar.a", None));
        let deny = permissions(
            None,
            Some(SubjectPermission {
                allow: None,
                deny: list(&["baz.> qx"]),
            }),
        );
        assert!(deny.can_subscribe(b"baz.a", None));
        assert!(deny.can_subscribe(b"baz.a", Some(b"qy")));
        assert!(!deny.can_subscribe(b"baz.a", Some(b"qx")));
    }

    #[test]
    fn deliveries_are_filtered_only_after_an_overlapping_wildcard_subscription() {
        let client = permissions(
            None,
            Some(SubjectPermission {
                allow: None,
                deny: list(&["foo.secret", "jobs.* slow"]),
            }),
        );
        assert!(!client.delivery_denied(b"foo.secret", None));
        assert!(client.can_subscribe(b"bar.*", None));
        assert!(!client.delivery_denied(b"foo.secret", None));
        assert!(client.can_subscribe(b"foo.*", None));
        assert!(client.delivery_denied(b"foo.secret", None));
        assert!(!client.delivery_denied(b"foo.public", None));
        assert!(client.delivery_denied(b"jobs.a", Some(b"slow")));
        assert!(!client.delivery_denied(b"jobs.a", Some(b"fast")));
        assert!(!client.delivery_denied(b"jobs.a", None));
    }

    #[test]
    fn response_permission_allows_max_replies_to_delivered_reply_subjects() {
        let start = Instant::now();
        let permissions = with_response_defaults(&Permissions {
            publish: None,
            subscribe: None,
            response: Some(ResponsePermission {
                max_msgs: 2,
                expires: Duration::from_secs(60),
            }),
        });
        let client = ClientPermissions::new(Rc::new(PermissionRules::compile(&permissions)));
        // Missing publish permissions became an empty allow list.
        assert!(!client.publish_allowed(b"_INBOX.a", || start));
        client.note_delivered_reply(b"_INBOX.a", start);
        assert_eq!(client.reply_grants(), 1);
        assert!(client.publish_allowed(b"_INBOX.a", || start));
        assert!(client.publish_allowed(b"_INBOX.a", || start));
        assert!(!client.publish_allowed(b"_INBOX.a", || start));
        assert!(!client.publish_allowed(b"other", || start));
    }

    #[test]
    fn response_permission_expires() {
        let start = Instant::now();
        let permissions = with_response_defaults(&Permissions {
            publish: Some(SubjectPermission {
                allow: list(&["public.>"]),
                deny: None,
            }),
            subscribe: None,
            response: Some(ResponsePermission {
                max_msgs: 0,
                expires: Duration::from_millis(10),
            }),
        });
        assert_eq!(permissions.response.as_ref().map(|r| r.max_msgs), Some(1));
        let client = ClientPermissions::new(Rc::new(PermissionRules::compile(&permissions)));
        client.note_delivered_reply(b"reply.1", start);
        // Publishing to an allowed subject does not need (or record) a grant.
        client.note_delivered_reply(b"public.x", start);
        assert_eq!(client.reply_grants(), 1);
        assert!(!client.publish_allowed(b"reply.1", || start + Duration::from_millis(20)));
        client.note_delivered_reply(b"reply.2", start);
        assert!(client.publish_allowed(b"reply.2", || start + Duration::from_millis(5)));
    }

    #[test]
    fn response_defaults_fill_zero_limits() {
        let permissions = with_response_defaults(&Permissions {
            publish: None,
            subscribe: None,
            response: Some(ResponsePermission {
                max_msgs: 0,
                expires: Duration::ZERO,
            }),
        });
        assert_eq!(permissions.response, Some(ResponsePermission::default()));
        assert_eq!(
            permissions.publish.and_then(|publish| publish.allow),
            Some(Vec::new())
        );
    }

    #[test]
    fn subset_and_collision_follow_the_go_sublist() {
        assert!(is_subset_match(b"q.a", b"q.*"));
        assert!(is_subset_match(b"q.*", b"q.>"));
        assert!(!is_subset_match(b"q.>", b"q.*"));
        assert!(!is_subset_match(b"q", b"q.*"));
        assert!(patterns_overlap(b"foo.*", b"foo.bar"));
        assert!(patterns_overlap(b"foo.>", b"*.bar.baz"));
        assert!(!patterns_overlap(b"foo.*", b"foo.bar.baz"));
        assert!(!patterns_overlap(b"foo.bar", b"foo.baz"));
    }
}
