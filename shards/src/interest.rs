//! The interest summary: for every pattern with subscribers anywhere, which destinations have
//! them, kept by every shard so that a publish knows where to hand a message without asking.
//!
//! A destination is another shard today and a route (another server) once clustering comes:
//! a route becomes a new [`Destination`] variant, not a parallel path. Each shard tells the
//! others only when its interest changes: the first or last plain subscription on a pattern
//! (its own index knows), and every queue member (so that queue picks can be weighted by
//! member counts server-wide).
//!
//! The summary must stay small, because every shard holds one: see [`InterestSummary`] for
//! how a literal subject costs a non-owning shard about a dozen bytes.
//!
//! Pure: no runtime, no connections, no I/O. The shard feeds it its own interest changes
//! and the changes other shards broadcast, and sends the [`InterestChange`]s it returns.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::rc::Rc;

use ahash::AHashMap;
use bytes::Bytes;

use crate::account::AccountId;
use crate::mesh::ShardId;
use crate::subject::has_wildcard_token;
use crate::sublist::{MatchResult, SubjectIndex};

/// The most shards a server runs (a [`ShardSet`] is a 128-bit set).
pub const MAX_SHARDS: usize = 128;

/// Where interest lives, from one shard's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Destination {
    /// A shard of this server (possibly the one holding the summary).
    Shard(ShardId),
}

/// A set of shard ids below [`MAX_SHARDS`].
#[derive(Default, Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct ShardSet(u128);

impl ShardSet {
    pub fn insert(&mut self, shard: ShardId) {
        debug_assert!(usize::from(shard) < MAX_SHARDS);
        self.0 |= 1u128 << shard;
    }

    pub fn remove(&mut self, shard: ShardId) {
        if usize::from(shard) < MAX_SHARDS {
            self.0 &= !(1u128 << shard);
        }
    }

    pub fn contains(self, shard: ShardId) -> bool {
        usize::from(shard) < MAX_SHARDS && self.0 & (1u128 << shard) != 0
    }

    /// The shards in the set, in order; visits set bits only (this runs per publish).
    pub fn iter(self) -> impl Iterator<Item = ShardId> {
        let mut remaining = self.0;
        std::iter::from_fn(move || {
            if remaining == 0 {
                return None;
            }
            let shard = remaining.trailing_zeros() as ShardId;
            remaining &= remaining - 1;
            Some(shard)
        })
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// The destinations with plain interest in a subject.
#[derive(Default, Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct DestinationSet {
    shards: ShardSet,
}

impl DestinationSet {
    pub fn insert(&mut self, destination: Destination) {
        match destination {
            Destination::Shard(shard) => self.shards.insert(shard),
        }
    }

    pub fn remove(&mut self, destination: Destination) {
        match destination {
            Destination::Shard(shard) => self.shards.remove(shard),
        }
    }

    pub fn contains(&self, destination: Destination) -> bool {
        match destination {
            Destination::Shard(shard) => self.shards.contains(shard),
        }
    }

    /// Adds every destination of `other`.
    pub fn union(&mut self, other: DestinationSet) {
        self.shards.0 |= other.shards.0;
    }

    pub fn iter(&self) -> impl Iterator<Item = Destination> {
        self.shards.iter().map(Destination::Shard)
    }

    pub fn is_empty(&self) -> bool {
        self.shards.is_empty()
    }
}

/// One destination's interest in one pattern, as the summary records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryEntry {
    pub destination: Destination,
    pub queue: Option<Bytes>,
    /// Plain interest: 1. Queue groups: the number of members at that destination.
    pub count: u32,
}

/// What the summary yields for a subject: the destinations with plain interest, and for each
/// queue group, the destinations with members and how many.
#[derive(Default, Debug)]
pub struct RemoteMatch {
    pub plain: DestinationSet,
    pub queues: Vec<(Bytes, Vec<(Destination, u32)>)>,
}

impl MatchResult for RemoteMatch {
    type Value = SummaryEntry;

    fn add(&mut self, entry: &SummaryEntry) {
        let Some(name) = &entry.queue else {
            self.plain.insert(entry.destination);
            return;
        };
        let index = match self.queues.iter().position(|(group, _)| group == name) {
            Some(index) => index,
            None => {
                self.queues.push((name.clone(), Vec::new()));
                self.queues.len() - 1
            }
        };
        let members = &mut self.queues[index].1;
        match members
            .iter_mut()
            .find(|(destination, _)| *destination == entry.destination)
        {
            Some((_, count)) => *count += entry.count,
            None => members.push((entry.destination, entry.count)),
        }
    }
}

/// A change in one destination's interest in a pattern, as shards broadcast it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterestChange {
    pub origin: Destination,
    pub account: AccountId,
    pub pattern: Bytes,
    pub queue: Option<Bytes>,
    /// +1 or -1 for plain interest (sent only on the first/last local subscription); the
    /// member count change for queue groups.
    pub delta: i32,
}

/// Where interest in one subject lives: the destinations with plain interest, and the queue
/// groups (with their members per destination) when the account has any.
#[derive(Debug, Default)]
pub struct RemoteInterest {
    pub plain: DestinationSet,
    pub patterns: Option<Rc<RemoteMatch>>,
}

impl RemoteInterest {
    /// The queue groups with members somewhere, and how many at each destination.
    pub fn queues(&self) -> &[(Bytes, Vec<(Destination, u32)>)] {
        self.patterns
            .as_deref()
            .map_or(&[], |found| found.queues.as_slice())
    }

    /// Whether nobody elsewhere listens: no plain destination and no queue group.
    pub fn is_empty(&self) -> bool {
        self.plain.is_empty() && self.queues().is_empty()
    }
}

/// A broken invariant of the summary; only a bug produces one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InterestError {
    #[error("a literal entry of the summary names no destination")]
    EmptyLiteral,
    #[error("interned destination sets are referenced {references} times, by {entries} entries")]
    SetReferences { references: u64, entries: u64 },
    #[error("the summary records this shard's own plain interest in {pattern:?}")]
    OwnPlainEntry { pattern: String },
    #[error("an entry of the summary for {pattern:?} has a zero count")]
    ZeroCount { pattern: String },
}

/// One shard's view of where interest lives on the other shards (and, for queue groups,
/// on itself too, to weigh its picks). Its own plain interest is not recorded: the shard's
/// own index answers for its subscribers.
///
/// Literal subjects, which are most subscriptions, cost each shard one slot of a table keyed
/// by a 32-bit hash of the subject, pointing to an interned set of destinations: about a
/// dozen bytes, not a copy of the owner's index entry. The table is a filter: two subjects
/// that share a hash share a slot, so a publish may be handed to a shard with no subscriber
/// for it (which drops it) but never misses one, because colliding interest is counted
/// exactly. Wildcard patterns and queue groups, which are few, stay in a subject trie.
pub struct InterestSummary {
    /// Set when a literal table grew past [`LARGE_TABLE_BYTES`]; see
    /// [`InterestSummary::take_large_growth`].
    large_growth: bool,
    me: ShardId,
    shard_count: usize,
    accounts: Vec<AccountSummary>,
    sets: DestinationSets,
    /// Keyed per shard, so nobody can aim subjects at one slot from outside.
    hasher: ahash::RandomState,
}

#[derive(Default)]
struct AccountSummary {
    /// Plain interest of other destinations in literal subjects: hash -> interned set id.
    literals: HashMap<u32, u32, BuildHasherDefault<HashIsKey>>,
    /// The extra count of a destination whose several literal subjects share a hash (rare).
    collisions: AHashMap<(u32, Destination), u32>,
    /// Plain interest in wildcard patterns, and every queue group's members.
    patterns: SubjectIndex<RemoteMatch>,
}

impl InterestSummary {
    pub fn new(me: ShardId, shard_count: usize, account_count: usize) -> Self {
        assert!(usize::from(me) < shard_count && shard_count <= MAX_SHARDS);
        InterestSummary {
            large_growth: false,
            me,
            shard_count,
            accounts: (0..account_count)
                .map(|_| AccountSummary::default())
                .collect(),
            sets: DestinationSets::default(),
            hasher: ahash::RandomState::new(),
        }
    }

    /// Whether anyone else needs the summary: with one shard (and no routes) a publish only
    /// matches the shard's own index, and the summary is not kept at all.
    pub fn is_needed(&self) -> bool {
        self.shard_count > 1
    }

    /// Makes room for accounts a reload added (account ids only grow).
    pub fn ensure_accounts(&mut self, account_count: usize) {
        while self.accounts.len() < account_count {
            self.accounts.push(AccountSummary::default());
        }
    }

    /// This shard's own interest changed, as its index tells: plain interest in `pattern`
    /// appeared (`delta` +1) or went (-1), or a queue group's members changed by `delta`.
    /// Returns the change to tell the other shards (none with a single shard).
    pub fn own_change(
        &mut self,
        account: AccountId,
        pattern: &Bytes,
        queue: Option<&Bytes>,
        delta: i32,
    ) -> Option<InterestChange> {
        if !self.is_needed() || delta == 0 {
            return None;
        }
        let change = InterestChange {
            origin: Destination::Shard(self.me),
            account,
            pattern: pattern.clone(),
            queue: queue.cloned(),
            delta,
        };
        self.apply(&change);
        Some(change)
    }

    /// Applies a change (another shard's, or this shard's own).
    pub fn apply(&mut self, change: &InterestChange) {
        let own = change.origin == Destination::Shard(self.me);
        if own && change.queue.is_none() {
            // Plain interest of this shard is its own index's business.
            return;
        }
        let Some(summary) = self.accounts.get_mut(usize::from(change.account)) else {
            return;
        };
        if change.queue.is_none() && !has_wildcard_token(&change.pattern) {
            let hash = hash32(&self.hasher, &change.pattern);
            let capacity = summary.literals.capacity();
            summary.apply_literal(&mut self.sets, hash, change.origin, change.delta);
            let grown = summary.literals.capacity();
            if grown > capacity && grown * LITERAL_SLOT_BYTES >= LARGE_TABLE_BYTES {
                self.large_growth = true;
            }
            return;
        }
        summary.patterns.modify(&change.pattern, |entries| {
            let position = entries.iter().position(|entry| {
                entry.destination == change.origin && entry.queue == change.queue
            });
            match position {
                Some(index) => {
                    let entry = &mut entries[index];
                    entry.count = entry.count.saturating_add_signed(change.delta);
                    if entry.count == 0 {
                        entries.swap_remove(index);
                    }
                }
                None if change.delta > 0 => entries.push(SummaryEntry {
                    destination: change.origin,
                    queue: change.queue.clone(),
                    count: change.delta.unsigned_abs(),
                }),
                None => {}
            }
        });
    }

    /// Where interest in the literal `subject` of `account` lives.
    pub fn matches(&mut self, account: AccountId, subject: &[u8]) -> RemoteInterest {
        let hash = hash32(&self.hasher, subject);
        let Some(summary) = self.accounts.get_mut(usize::from(account)) else {
            return RemoteInterest::default();
        };
        let mut plain = summary
            .literals
            .get(&hash)
            .map(|&id| self.sets.get(id))
            .unwrap_or_default();
        let patterns = (summary.patterns.pattern_count() > 0).then(|| {
            let found = summary.patterns.matches(subject);
            plain.union(found.plain);
            found
        });
        RemoteInterest { plain, patterns }
    }

    /// Whether a literal table grew past [`LARGE_TABLE_BYTES`] since the last call. The table
    /// doubles as it grows and frees the old half-size copy into this shard's allocator arena,
    /// where glibc keeps it: the caller may hand such memory back to the kernel. That happens
    /// a few times per doubling of the table, never per message.
    pub fn take_large_growth(&mut self) -> bool {
        std::mem::take(&mut self.large_growth)
    }

    /// This shard's own queue members on (account, pattern, queue), as the summary records
    /// them (for the shard's validation against its index).
    pub fn own_queue_members(&self, account: AccountId, pattern: &[u8], queue: &Bytes) -> u32 {
        self.accounts
            .get(usize::from(account))
            .and_then(|summary| summary.patterns.values(pattern))
            .unwrap_or(&[])
            .iter()
            .find(|entry| {
                entry.destination == Destination::Shard(self.me)
                    && entry.queue.as_ref() == Some(queue)
            })
            .map_or(0, |entry| entry.count)
    }

    /// Checks the summary's own invariants; tests call it after every step.
    pub fn validate(&self) -> Result<(), InterestError> {
        let mut entries = 0u64;
        for summary in &self.accounts {
            for &id in summary.literals.values() {
                entries += 1;
                if self.sets.get(id).is_empty() {
                    return Err(InterestError::EmptyLiteral);
                }
            }
        }
        let references = self.sets.references();
        if references != entries {
            return Err(InterestError::SetReferences {
                references,
                entries,
            });
        }
        Ok(())
    }

    /// Literal subjects and patterns in every account's summary (for monitoring).
    pub fn pattern_count(&self) -> usize {
        self.accounts
            .iter()
            .map(|summary| summary.literals.len() + summary.patterns.pattern_count())
            .sum()
    }
}

impl AccountSummary {
    /// Counts `destination`'s plain interest in a literal subject with this hash in or out.
    fn apply_literal(
        &mut self,
        sets: &mut DestinationSets,
        hash: u32,
        destination: Destination,
        delta: i32,
    ) {
        let current = self.literals.get(&hash).map(|&id| (id, sets.get(id)));
        if delta > 0 {
            match current {
                Some((_, set)) if set.contains(destination) => {
                    // Another subject of the same destination with the same hash.
                    *self.collisions.entry((hash, destination)).or_insert(0) += 1;
                }
                Some((id, mut set)) => {
                    set.insert(destination);
                    sets.release(id);
                    self.literals.insert(hash, sets.intern(set));
                }
                None => {
                    let mut set = DestinationSet::default();
                    set.insert(destination);
                    self.literals.insert(hash, sets.intern(set));
                }
            }
            return;
        }
        if let Some(extra) = self.collisions.get_mut(&(hash, destination)) {
            *extra -= 1;
            if *extra == 0 {
                self.collisions.remove(&(hash, destination));
            }
            return;
        }
        let Some((id, mut set)) = current.filter(|(_, set)| set.contains(destination)) else {
            return;
        };
        set.remove(destination);
        sets.release(id);
        if set.is_empty() {
            self.literals.remove(&hash);
        } else {
            self.literals.insert(hash, sets.intern(set));
        }
    }
}

/// The distinct destination sets the literal tables point to, interned with reference
/// counts: there are few of them (one per shard, and a few combinations), so a table slot
/// holds a 4-byte id instead of the set.
#[derive(Default)]
struct DestinationSets {
    sets: Vec<(DestinationSet, u32)>,
    ids: AHashMap<DestinationSet, u32>,
    free: Vec<u32>,
}

impl DestinationSets {
    fn intern(&mut self, set: DestinationSet) -> u32 {
        if let Some(&id) = self.ids.get(&set) {
            self.sets[id as usize].1 += 1;
            return id;
        }
        let id = match self.free.pop() {
            Some(id) => {
                self.sets[id as usize] = (set, 1);
                id
            }
            None => {
                self.sets.push((set, 1));
                (self.sets.len() - 1) as u32
            }
        };
        self.ids.insert(set, id);
        id
    }

    fn release(&mut self, id: u32) {
        let Some(entry) = self.sets.get_mut(id as usize) else {
            return;
        };
        entry.1 = entry.1.saturating_sub(1);
        if entry.1 == 0 {
            self.ids.remove(&entry.0);
            entry.0 = DestinationSet::default();
            self.free.push(id);
        }
    }

    fn get(&self, id: u32) -> DestinationSet {
        self.sets
            .get(id as usize)
            .map(|(set, _)| *set)
            .unwrap_or_default()
    }

    fn references(&self) -> u64 {
        self.sets.iter().map(|(_, count)| u64::from(*count)).sum()
    }
}

/// A subject's 32-bit hash with this shard's keys.
fn hash32(hasher: &ahash::RandomState, subject: &[u8]) -> u32 {
    // The low half of a good 64-bit hash is as good a 32-bit hash.
    hasher.hash_one(subject) as u32
}

/// The bytes a literal table slot takes (key, value and control byte), for its size.
const LITERAL_SLOT_BYTES: usize = 9;

/// A literal table this large frees a block worth returning to the kernel when it grows.
pub const LARGE_TABLE_BYTES: usize = 256 * 1024;

/// The literal table's keys are hashes already: the table uses them as they are.
#[derive(Default)]
struct HashIsKey(u64);

impl Hasher for HashIsKey {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only u32 keys are hashed (`write_u32`); anything else folds in, for completeness.
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u32(&mut self, value: u32) {
        // hashbrown takes its control bits from the top of the hash: spread the key there.
        self.0 = u64::from(value).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// The barriers a shard is waiting on: a PING after an interest change is answered only once
/// every other shard has acknowledged a barrier sent behind the change (same FIFO), that is,
/// once every shard routes to the new interest.
#[derive(Default)]
pub struct Barriers {
    next_token: u64,
    /// Acknowledgements still missing, per barrier.
    waiting: AHashMap<u64, usize>,
}

impl Barriers {
    /// Starts a barrier that `peers` other shards must acknowledge; returns its token, or
    /// `None` when there is nobody to wait for.
    pub fn start(&mut self, peers: usize) -> Option<u64> {
        if peers == 0 {
            return None;
        }
        self.next_token += 1;
        self.waiting.insert(self.next_token, peers);
        Some(self.next_token)
    }

    /// Records one acknowledgement. Returns true when it was the last one the barrier
    /// needed (and forgets the barrier); acknowledgements of unknown barriers (given up
    /// on, or duplicated) are ignored.
    pub fn acknowledge(&mut self, token: u64) -> bool {
        let Some(remaining) = self.waiting.get_mut(&token) else {
            return false;
        };
        *remaining = remaining.saturating_sub(1);
        if *remaining > 0 {
            return false;
        }
        self.waiting.remove(&token);
        true
    }

    /// Whether the barrier is still waiting for acknowledgements.
    pub fn is_waiting(&self, token: u64) -> bool {
        self.waiting.contains_key(&token)
    }

    /// Gives up on a barrier (its waiter timed out).
    pub fn abandon(&mut self, token: u64) {
        self.waiting.remove(&token);
    }
}

#[cfg(test)]
mod tests;
