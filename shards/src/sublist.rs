//! The subject index: a token trie with `*` and `>` wildcards, and a match cache in front.
//!
//! One generic [`SubjectIndex`] serves two uses on every shard: the shard's own subscriptions
//! (values are subscription ids) and the replicated interest summary (values are per-shard
//! interest counts). What a match collects is decided by the [`MatchResult`] type, so the trie
//! walk and the cache invalidation are written once.
//!
//! A subject may have as many tokens as `max_control_line` allows (tens of thousands at 64 KB),
//! so nothing here recurses per token: matching keeps its pending branches on a heap stack,
//! pruning finds its cut point in a loop, and dropping a trie unlinks its levels one by one
//! (a derived `Drop` of nested boxes would recurse once per token and overflow the stack).
//! The match cache is bounded in entries and in the bytes of the subjects it keeps.

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
/// How many bytes of subjects the cache keeps before it starts over: typical subjects fill all
/// 4096 entries within it, while a client publishing 64 KB subjects cannot make one index
/// hold hundreds of megabytes.
const MATCH_CACHE_SUBJECT_BYTES_MAX: usize = 512 * 1024;

/// A subject trie with a cache of match results keyed by literal subject.
pub struct SubjectIndex<R: MatchResult> {
    root: Level<R::Value>,
    cache: AHashMap<Box<[u8]>, Rc<R>>,
    /// Total length of the subjects in `cache`.
    cache_subject_bytes: usize,
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

impl<R: MatchResult> Default for SubjectIndex<R> {
    fn default() -> Self {
        SubjectIndex {
            root: Level::default(),
            cache: AHashMap::new(),
            cache_subject_bytes: 0,
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
        collect_matches(&self.root, subject, &mut result);
        let result = Rc::new(result);
        if self.cache.len() >= MATCH_CACHE_CAPACITY
            || self.cache_subject_bytes + subject.len() > MATCH_CACHE_SUBJECT_BYTES_MAX
        {
            self.cache.clear();
            self.cache_subject_bytes = 0;
        }
        if subject.len() <= MATCH_CACHE_SUBJECT_BYTES_MAX {
            self.cache_subject_bytes += subject.len();
            self.cache.insert(subject.into(), Rc::clone(&result));
        }
        result
    }

    /// Gives mutable access to the values stored under `pattern`, creating its node if needed,
    /// and prunes the node afterwards if it ended up empty.
    pub fn modify<T>(&mut self, pattern: &[u8], change: impl FnOnce(&mut Vec<R::Value>) -> T) -> T {
        self.invalidate(pattern);
        let node = node_for(&mut self.root, pattern);
        let was_empty = node.values.is_empty();
        if node.values.capacity() == 0 {
            // Most patterns hold one value: a first push would reserve room for four (Vec's
            // smallest growth), which was the largest single cost of a subscription.
            node.values.reserve_exact(1);
        }
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
            let mut removed_bytes = 0;
            self.cache.retain(|subject, _| {
                let keep = !pattern_matches(pattern, subject);
                if !keep {
                    removed_bytes += subject.len();
                }
                keep
            });
            self.cache_subject_bytes -= removed_bytes;
        } else if self.cache.remove(pattern).is_some() {
            self.cache_subject_bytes -= pattern.len();
        }
    }
}

/// Adds to `result` the values of every pattern matching the literal `subject`, visiting the
/// trie in the Go sublist's order (at each level the full wildcard, then the single wildcard's
/// subtree, then the literal path; at the last token the literal node before the single
/// wildcard) so that a connection with several matching subscriptions sees them in the same
/// order on both servers. Depth-first without recursion: where both the single wildcard and
/// the literal token lead on, the literal branch waits on a stack (one entry per level at most).
fn collect_matches<R: MatchResult>(root: &Level<R::Value>, subject: &[u8], result: &mut R) {
    let tokens = subject.split(|&byte| byte == b'.');
    let mut waiting = Vec::new();
    let mut current = Some((root, tokens));
    while let Some((level, mut tokens)) = current.take().or_else(|| waiting.pop()) {
        let Some(token) = tokens.next() else {
            continue;
        };
        if let Some(full) = &level.full_wildcard {
            full.values.iter().for_each(|value| result.add(value));
        }
        let last = tokens.clone().next().is_none();
        if last {
            if let Some(node) = level.literal.get(token) {
                node.values.iter().for_each(|value| result.add(value));
            }
            if let Some(node) = &level.single_wildcard {
                node.values.iter().for_each(|value| result.add(value));
            }
            continue;
        }
        let single = level
            .single_wildcard
            .as_ref()
            .and_then(|node| node.next.as_deref());
        let literal = level
            .literal
            .get(token)
            .and_then(|node| node.next.as_deref());
        current = match (single, literal) {
            (Some(single), Some(literal)) => {
                waiting.push((literal, tokens.clone()));
                Some((single, tokens))
            }
            (Some(next), None) | (None, Some(next)) => Some((next, tokens)),
            (None, None) => None,
        };
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

/// Removes the nodes along `pattern` that are now empty: the deepest run of nodes that hold no
/// values and lead only further down the pattern. One pass down finds where that run starts,
/// a second unlinks it there; the unlinked chain is dropped iteratively (see `Level`'s `Drop`).
fn prune<V>(root: &mut Level<V>, pattern: &[u8]) {
    // The depth (token index) of the first node of the removable run, if any.
    let mut cut: Option<usize> = None;
    let mut level = &*root;
    let mut tokens = pattern.split(|&byte| byte == b'.').enumerate().peekable();
    while let Some((depth, token)) = tokens.next() {
        let Some(node) = child(level, token) else {
            // The path ends early: nothing below it to remove.
            return;
        };
        let last = tokens.peek().is_none();
        // Whether the node below this one is the only thing this node still leads to.
        let only_leads_down = match (&node.next, tokens.peek()) {
            (None, _) => true,
            (Some(next), Some((_, next_token))) => level_has_only(next, next_token),
            (Some(next), None) => next.is_empty(),
        };
        if !node.values.is_empty() || !only_leads_down {
            cut = None;
        } else if cut.is_none() {
            cut = Some(depth);
        }
        if last {
            break;
        }
        match node.next.as_deref() {
            Some(next) => level = next,
            None => break,
        }
    }
    let Some(cut) = cut else { return };
    let mut level = root;
    for token in pattern.split(|&byte| byte == b'.').take(cut) {
        let Some(next) = child_mut(level, token).and_then(|node| node.next.as_deref_mut()) else {
            return;
        };
        level = next;
    }
    if let Some(token) = pattern.split(|&byte| byte == b'.').nth(cut) {
        match token {
            b"*" => level.single_wildcard = None,
            b">" => level.full_wildcard = None,
            literal => {
                level.literal.remove(literal);
            }
        }
    }
}

/// The node `token` leads to from `level`.
fn child<'a, V>(level: &'a Level<V>, token: &[u8]) -> Option<&'a Node<V>> {
    match token {
        b"*" => level.single_wildcard.as_deref(),
        b">" => level.full_wildcard.as_deref(),
        literal => level.literal.get(literal),
    }
}

fn child_mut<'a, V>(level: &'a mut Level<V>, token: &[u8]) -> Option<&'a mut Node<V>> {
    match token {
        b"*" => level.single_wildcard.as_deref_mut(),
        b">" => level.full_wildcard.as_deref_mut(),
        literal => level.literal.get_mut(literal),
    }
}

/// Whether `level` holds nothing but the node `token` leads to.
fn level_has_only<V>(level: &Level<V>, token: &[u8]) -> bool {
    let others = match token {
        b"*" => level.literal.len() + usize::from(level.full_wildcard.is_some()),
        b">" => level.literal.len() + usize::from(level.single_wildcard.is_some()),
        literal => {
            usize::from(level.single_wildcard.is_some())
                + usize::from(level.full_wildcard.is_some())
                + level.literal.len()
                - usize::from(level.literal.contains_key(literal))
        }
    };
    others == 0
}

/// Unlinks the levels below this one into a list and drops them one at a time, so a trie as
/// deep as the longest subject is freed without one stack frame per token.
impl<V> Drop for Level<V> {
    fn drop(&mut self) {
        let mut below = Vec::new();
        self.detach_children(&mut below);
        while let Some(mut level) = below.pop() {
            level.detach_children(&mut below);
            // `level` drops here with no children left: this `drop` returns at once.
        }
    }
}

impl<V> Level<V> {
    /// Moves every next level of this level's nodes into `below`.
    fn detach_children(&mut self, below: &mut Vec<Level<V>>) {
        let nodes = self
            .literal
            .values_mut()
            .chain(self.single_wildcard.as_deref_mut())
            .chain(self.full_wildcard.as_deref_mut());
        below.extend(nodes.filter_map(|node| node.next.take().map(|level| *level)));
    }
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

    /// Runs `work` on a thread whose stack is far smaller than one frame per token would need.
    fn on_small_stack(work: impl FnOnce() + Send + 'static) {
        std::thread::Builder::new()
            .stack_size(128 * 1024)
            .spawn(work)
            .expect("thread")
            .join()
            .expect("no stack overflow");
    }

    #[test]
    fn subjects_of_a_hundred_thousand_tokens_need_no_stack_per_token() {
        on_small_stack(|| {
            let deep = vec!["a"; 100_000].join(".");
            let deep_wildcards = vec!["*"; 100_000].join(".");
            let mut index = SubjectIndex::<Collected>::default();
            insert(&mut index, &deep, 1);
            insert(&mut index, &deep_wildcards, 2);
            insert(&mut index, &format!("{}.>", vec!["a"; 50_000].join(".")), 3);
            assert_eq!(sorted(&mut index, &deep), vec![1, 2, 3]);
            remove(&mut index, &deep, 1);
            assert_eq!(sorted(&mut index, &deep), vec![2, 3]);
            remove(&mut index, &deep_wildcards, 2);
            // Dropped with a pattern still in it: the trie is freed level by level.
            drop(index);
        });
    }

    #[test]
    fn pruning_a_pattern_keeps_the_patterns_that_share_its_path() {
        let mut index = SubjectIndex::<Collected>::default();
        insert(&mut index, "a.b", 1);
        insert(&mut index, "a.b.c.d", 2);
        insert(&mut index, "a.x.c.d", 3);
        insert(&mut index, "a.*.c", 4);
        remove(&mut index, "a.b.c.d", 2);
        assert_eq!(sorted(&mut index, "a.b"), vec![1]);
        assert_eq!(sorted(&mut index, "a.x.c.d"), vec![3]);
        assert_eq!(sorted(&mut index, "a.b.c"), vec![4]);
        remove(&mut index, "a.b", 1);
        remove(&mut index, "a.*.c", 4);
        assert_eq!(sorted(&mut index, "a.x.c.d"), vec![3]);
        remove(&mut index, "a.x.c.d", 3);
        assert!(index.root.is_empty());
        // Removing what is not there changes nothing.
        remove(&mut index, "q.r", 9);
        assert!(index.root.is_empty());
    }

    #[test]
    fn the_match_cache_keeps_a_bounded_number_of_subject_bytes() {
        let mut index = SubjectIndex::<Collected>::default();
        insert(&mut index, ">", 1);
        for round in 0..100 {
            let subject = format!("{round}.{}", "x".repeat(64 * 1024));
            assert_eq!(sorted(&mut index, &subject), vec![1]);
            assert!(index.cache_subject_bytes <= MATCH_CACHE_SUBJECT_BYTES_MAX);
            let cached: usize = index.cache.keys().map(|key| key.len()).sum();
            assert_eq!(cached, index.cache_subject_bytes);
        }
        insert(&mut index, "0.>", 2);
        let cached: usize = index.cache.keys().map(|key| key.len()).sum();
        assert_eq!(
            cached, index.cache_subject_bytes,
            "invalidation keeps the count"
        );
    }
}
