//! The subject index: a token trie with `*` and `>` wildcards, and a match cache in front.
//!
//! One generic [`SubjectIndex`] serves two uses on every shard: the shard's own subscriptions
//! (values are subscription ids) and the replicated interest summary (values are per-shard
//! interest counts). What a match collects is decided by the [`MatchResult`] type, so the trie
//! walk and the cache invalidation are written once.

use std::rc::Rc;

use ahash::AHashMap;

use crate::subject::{has_wildcard_token, pattern_matches};

/// Collects the values of all patterns that match one subject.
pub trait MatchResult: Default {
    type Value;
    fn add(&mut self, value: &Self::Value);

    /// How many receivers the result names, for the index's fanout statistics.
    fn fanout(&self) -> usize {
        0
    }
}

/// What monitoring reports about an index (the Go server's `SublistStats`).
#[derive(Debug, Clone, Copy, Default)]
pub struct IndexStats {
    pub lookups: u64,
    pub hits: u64,
    pub cache_entries: usize,
    pub max_fanout: usize,
    pub fanout_total: usize,
}

/// How many distinct subjects the cache remembers before it starts over.
const MATCH_CACHE_CAPACITY: usize = 4096;

/// A subject trie with a cache of match results keyed by literal subject.
pub struct SubjectIndex<R: MatchResult> {
    root: Level<R::Value>,
    cache: AHashMap<Box<[u8]>, Rc<R>>,
    patterns: usize,
    /// Matches asked for, and how many the cache answered (plain counters: one shard owns
    /// the index).
    lookups: u64,
    hits: u64,
}

struct Level<V> {
    literal: AHashMap<Box<[u8]>, Node<V>>,
    single_wildcard: Option<Box<Node<V>>>,
    full_wildcard: Option<Box<Node<V>>>,
}

struct Node<V> {
    next: Option<Box<Level<V>>>,
    values: Vec<V>,
}

impl<V> Default for Level<V> {
    fn default() -> Self {
        Level {
            literal: AHashMap::new(),
            single_wildcard: None,
            full_wildcard: None,
        }
    }
}

impl<V> Default for Node<V> {
    fn default() -> Self {
        Node {
            next: None,
            values: Vec::new(),
        }
    }
}

impl<V> Level<V> {
    fn is_empty(&self) -> bool {
        self.literal.is_empty() && self.single_wildcard.is_none() && self.full_wildcard.is_none()
    }
}

impl<V> Node<V> {
    fn is_empty(&self) -> bool {
        self.values.is_empty() && self.next.as_ref().is_none_or(|level| level.is_empty())
    }
}

impl<R: MatchResult> Default for SubjectIndex<R> {
    fn default() -> Self {
        SubjectIndex {
            root: Level::default(),
            cache: AHashMap::new(),
            patterns: 0,
            lookups: 0,
            hits: 0,
        }
    }
}

impl<R: MatchResult> SubjectIndex<R> {
    /// Returns everything stored under patterns matching the literal `subject`.
    pub fn matches(&mut self, subject: &[u8]) -> Rc<R> {
        self.lookups += 1;
        if let Some(found) = self.cache.get(subject) {
            self.hits += 1;
            return Rc::clone(found);
        }
        let mut result = R::default();
        match_level(&self.root, subject.split(|&byte| byte == b'.'), &mut result);
        let result = Rc::new(result);
        if self.cache.len() >= MATCH_CACHE_CAPACITY {
            self.cache.clear();
        }
        self.cache.insert(subject.into(), Rc::clone(&result));
        result
    }

    /// Gives mutable access to the values stored under `pattern`, creating its node if needed,
    /// and prunes the node afterwards if it ended up empty.
    pub fn modify<T>(&mut self, pattern: &[u8], change: impl FnOnce(&mut Vec<R::Value>) -> T) -> T {
        self.invalidate(pattern);
        let node = node_for(&mut self.root, pattern);
        let was_empty = node.values.is_empty();
        let outcome = change(&mut node.values);
        let is_empty = node.values.is_empty();
        match (was_empty, is_empty) {
            (true, false) => self.patterns += 1,
            (false, true) => self.patterns -= 1,
            _ => {}
        }
        if is_empty {
            prune(&mut self.root, pattern);
        }
        outcome
    }

    /// The values stored under exactly `pattern` (no wildcard matching), if it has a node.
    pub fn values(&self, pattern: &[u8]) -> Option<&[R::Value]> {
        let mut level = &self.root;
        let mut tokens = pattern.split(|&byte| byte == b'.').peekable();
        loop {
            let node = match tokens.next()? {
                b"*" => level.single_wildcard.as_deref()?,
                b">" => level.full_wildcard.as_deref()?,
                literal => level.literal.get(literal)?,
            };
            if tokens.peek().is_none() {
                return Some(&node.values);
            }
            level = node.next.as_deref()?;
        }
    }

    /// Lookup and cache statistics; the fanout figures are over the cached results.
    pub fn stats(&self) -> IndexStats {
        let fanouts = self.cache.values().map(|result| result.fanout());
        IndexStats {
            lookups: self.lookups,
            hits: self.hits,
            cache_entries: self.cache.len(),
            max_fanout: fanouts.clone().max().unwrap_or(0),
            fanout_total: fanouts.sum(),
        }
    }

    /// Number of patterns with at least one value.
    pub fn pattern_count(&self) -> usize {
        self.patterns
    }

    fn invalidate(&mut self, pattern: &[u8]) {
        if has_wildcard_token(pattern) {
            self.cache
                .retain(|subject, _| !pattern_matches(pattern, subject));
        } else {
            self.cache.remove(pattern);
        }
    }
}

fn match_level<'s, R: MatchResult>(
    level: &Level<R::Value>,
    mut tokens: impl Iterator<Item = &'s [u8]> + Clone,
    result: &mut R,
) {
    let Some(token) = tokens.next() else {
        return;
    };
    if let Some(full) = &level.full_wildcard {
        full.values.iter().for_each(|value| result.add(value));
    }
    let last = tokens.clone().next().is_none();
    // Visit in the Go sublist's order (full wildcard, single wildcard subtree, literal path;
    // at the last token the literal node before the single wildcard) so that a connection
    // with several matching subscriptions sees them in the same order on both servers.
    if last {
        if let Some(node) = level.literal.get(token) {
            node.values.iter().for_each(|value| result.add(value));
        }
        if let Some(node) = &level.single_wildcard {
            node.values.iter().for_each(|value| result.add(value));
        }
        return;
    }
    if let Some(next) = level
        .single_wildcard
        .as_ref()
        .and_then(|node| node.next.as_deref())
    {
        match_level(next, tokens.clone(), result);
    }
    if let Some(next) = level
        .literal
        .get(token)
        .and_then(|node| node.next.as_deref())
    {
        match_level(next, tokens, result);
    }
}

fn node_for<'a, V>(mut level: &'a mut Level<V>, pattern: &[u8]) -> &'a mut Node<V> {
    let mut tokens = pattern.split(|&byte| byte == b'.').peekable();
    loop {
        // Subjects are validated before they reach the index, so there is at least one token.
        let token = tokens.next().unwrap_or_default();
        let node: &mut Node<V> = match token {
            b"*" => level.single_wildcard.get_or_insert_with(Box::default),
            b">" => level.full_wildcard.get_or_insert_with(Box::default),
            literal => level.literal.entry(literal.into()).or_default(),
        };
        if tokens.peek().is_none() {
            return node;
        }
        level = node.next.get_or_insert_with(Box::default);
    }
}

/// Removes empty nodes along `pattern`, deepest first. Returns whether `level` is now empty.
fn prune<V>(level: &mut Level<V>, pattern: &[u8]) -> bool {
    let (token, rest) = match pattern.iter().position(|&byte| byte == b'.') {
        Some(dot) => (&pattern[..dot], Some(&pattern[dot + 1..])),
        None => (pattern, None),
    };
    let node_is_empty = {
        let node = match token {
            b"*" => level.single_wildcard.as_deref_mut(),
            b">" => level.full_wildcard.as_deref_mut(),
            literal => level.literal.get_mut(literal),
        };
        let Some(node) = node else {
            return level.is_empty();
        };
        if let (Some(rest), Some(next)) = (rest, node.next.as_deref_mut()) {
            if prune(next, rest) {
                node.next = None;
            }
        }
        node.is_empty()
    };
    if node_is_empty {
        match token {
            b"*" => level.single_wildcard = None,
            b">" => level.full_wildcard = None,
            literal => {
                level.literal.remove(literal);
            }
        }
    }
    level.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default, Debug)]
    struct Collected(Vec<u32>);

    impl MatchResult for Collected {
        type Value = u32;
        fn add(&mut self, value: &u32) {
            self.0.push(*value);
        }
    }

    fn sorted(index: &mut SubjectIndex<Collected>, subject: &str) -> Vec<u32> {
        let mut found = index.matches(subject.as_bytes()).0.clone();
        found.sort_unstable();
        found
    }

    fn insert(index: &mut SubjectIndex<Collected>, pattern: &str, value: u32) {
        index.modify(pattern.as_bytes(), |values| values.push(value));
    }

    fn remove(index: &mut SubjectIndex<Collected>, pattern: &str, value: u32) {
        index.modify(pattern.as_bytes(), |values| values.retain(|v| *v != value));
    }

    #[test]
    fn literal_and_wildcard_patterns_match_like_the_go_sublist() {
        let mut index = SubjectIndex::<Collected>::default();
        insert(&mut index, "foo.bar", 1);
        insert(&mut index, "foo.*", 2);
        insert(&mut index, "foo.>", 3);
        insert(&mut index, ">", 4);
        insert(&mut index, "*.bar", 5);
        insert(&mut index, "foo", 6);
        assert_eq!(sorted(&mut index, "foo.bar"), vec![1, 2, 3, 4, 5]);
        assert_eq!(sorted(&mut index, "foo.baz"), vec![2, 3, 4]);
        assert_eq!(sorted(&mut index, "foo.bar.baz"), vec![3, 4]);
        assert_eq!(sorted(&mut index, "foo"), vec![4, 6]);
        assert_eq!(sorted(&mut index, "other"), vec![4]);
    }

    #[test]
    fn cached_results_are_invalidated_by_matching_changes_only() {
        let mut index = SubjectIndex::<Collected>::default();
        insert(&mut index, "a.b", 1);
        assert_eq!(sorted(&mut index, "a.b"), vec![1]);
        assert_eq!(sorted(&mut index, "x.y"), Vec::<u32>::new());
        insert(&mut index, "a.*", 2);
        assert_eq!(sorted(&mut index, "a.b"), vec![1, 2]);
        remove(&mut index, "a.b", 1);
        assert_eq!(sorted(&mut index, "a.b"), vec![2]);
        insert(&mut index, "x.>", 3);
        assert_eq!(sorted(&mut index, "x.y"), vec![3]);
    }

    #[test]
    fn removing_every_pattern_leaves_an_empty_trie() {
        let mut index = SubjectIndex::<Collected>::default();
        let patterns = ["a.b.c", "a.*.c", "a.>", ">", "*", "a.b"];
        for (value, pattern) in patterns.iter().enumerate() {
            insert(&mut index, pattern, value as u32);
        }
        assert_eq!(index.pattern_count(), patterns.len());
        for (value, pattern) in patterns.iter().enumerate() {
            remove(&mut index, pattern, value as u32);
        }
        assert_eq!(index.pattern_count(), 0);
        assert!(index.root.is_empty());
    }
}
