//! The interest summary: for every pattern with subscribers anywhere, which destinations have
//! them, kept by every shard so that a publish knows where to hand a message without asking.
//!
//! A destination is another shard today and a route (another server) once clustering comes:
//! a route becomes a new [`Destination`] variant, not a parallel path. Each shard counts its
//! own subscriptions per (account, pattern, queue group) and tells the others only when the
//! summary changes: the first or last plain subscription on a pattern, and every queue
//! member (so that queue picks can be weighted by member counts server-wide).
//!
//! Pure: no runtime, no connections, no I/O. The shard feeds it subscription changes and the
//! changes other shards broadcast, and sends the [`InterestChange`]s it returns.

use std::rc::Rc;

use ahash::AHashMap;
use bytes::Bytes;

use crate::account::AccountId;
use crate::mesh::ShardId;
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
#[derive(Default, Clone, Copy, PartialEq, Eq, Debug)]
pub struct ShardSet(u128);

impl ShardSet {
    pub fn insert(&mut self, shard: ShardId) {
        debug_assert!(usize::from(shard) < MAX_SHARDS);
        self.0 |= 1u128 << shard;
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
#[derive(Default, Clone, Copy, PartialEq, Eq, Debug)]
pub struct DestinationSet {
    shards: ShardSet,
}

impl DestinationSet {
    pub fn insert(&mut self, destination: Destination) {
        match destination {
            Destination::Shard(shard) => self.shards.insert(shard),
        }
    }

    pub fn contains(&self, destination: Destination) -> bool {
        match destination {
            Destination::Shard(shard) => self.shards.contains(shard),
        }
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

/// A broken invariant of the summary; only a bug produces one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InterestError {
    #[error(
        "local interest in {pattern:?} (queue {queue:?}) is {local} but the summary says {summary}"
    )]
    CountMismatch {
        pattern: String,
        queue: Option<String>,
        local: u32,
        summary: u32,
    },
    #[error("the summary has {summary} entries of this shard, its own counts {local}")]
    OwnEntryCount { summary: usize, local: usize },
    #[error("an entry of the summary for {pattern:?} has a zero count")]
    ZeroCount { pattern: String },
}

/// (account, pattern, queue group) of this shard's own subscriptions.
type InterestKey = (AccountId, Bytes, Option<Bytes>);

/// One shard's view of where interest lives.
pub struct InterestSummary {
    me: ShardId,
    shard_count: usize,
    /// This shard's own subscriptions, counted per (account, pattern, queue).
    local: AHashMap<InterestKey, u32>,
    /// One summary per account, indexed by `AccountId`.
    summaries: Vec<SubjectIndex<RemoteMatch>>,
    /// How many summary entries name this shard (checked against `local` by `validate`).
    own_entries: usize,
}

impl InterestSummary {
    pub fn new(me: ShardId, shard_count: usize, account_count: usize) -> Self {
        assert!(usize::from(me) < shard_count && shard_count <= MAX_SHARDS);
        InterestSummary {
            me,
            shard_count,
            local: AHashMap::new(),
            summaries: (0..account_count)
                .map(|_| SubjectIndex::default())
                .collect(),
            own_entries: 0,
        }
    }

    /// Whether anyone else needs the summary: with one shard (and no routes) a publish only
    /// matches the shard's own index, and the summary is not kept at all.
    pub fn is_needed(&self) -> bool {
        self.shard_count > 1
    }

    /// Makes room for accounts a reload added (account ids only grow).
    pub fn ensure_accounts(&mut self, account_count: usize) {
        while self.summaries.len() < account_count {
            self.summaries.push(SubjectIndex::default());
        }
    }

    /// A subscription of this shard came (`delta` +1) or went (-1). Applies the change to
    /// this shard's own summary and returns it when the other shards must hear of it.
    pub fn local_change(
        &mut self,
        account: AccountId,
        pattern: &Bytes,
        queue: Option<&Bytes>,
        delta: i32,
    ) -> Option<InterestChange> {
        if !self.is_needed() {
            return None;
        }
        let key = (account, pattern.clone(), queue.cloned());
        let (before, after) = match self.local.get_mut(&key) {
            Some(count) => {
                let before = *count;
                *count = count.saturating_add_signed(delta);
                (before, *count)
            }
            None if delta > 0 => {
                self.local.insert(key.clone(), delta.unsigned_abs());
                (0, delta.unsigned_abs())
            }
            None => return None,
        };
        if after == 0 {
            self.local.remove(&key);
        }
        let summary_changes = queue.is_some() || (before == 0) != (after == 0);
        if !summary_changes || before == after {
            return None;
        }
        let change = InterestChange {
            origin: Destination::Shard(self.me),
            account,
            pattern: key.1,
            queue: key.2,
            delta: if queue.is_some() {
                i32::try_from(i64::from(after) - i64::from(before)).unwrap_or(delta)
            } else {
                delta.signum()
            },
        };
        self.apply(&change);
        Some(change)
    }

    /// Applies a change (another shard's, or this shard's own).
    pub fn apply(&mut self, change: &InterestChange) {
        let Some(summary) = self.summaries.get_mut(usize::from(change.account)) else {
            return;
        };
        let own = change.origin == Destination::Shard(self.me);
        let mut entries_delta: isize = 0;
        summary.modify(&change.pattern, |entries| {
            let position = entries.iter().position(|entry| {
                entry.destination == change.origin && entry.queue == change.queue
            });
            match position {
                Some(index) => {
                    let entry = &mut entries[index];
                    entry.count = entry.count.saturating_add_signed(change.delta);
                    if entry.count == 0 {
                        entries.swap_remove(index);
                        entries_delta = -1;
                    }
                }
                None if change.delta > 0 => {
                    entries.push(SummaryEntry {
                        destination: change.origin,
                        queue: change.queue.clone(),
                        count: change.delta.unsigned_abs(),
                    });
                    entries_delta = 1;
                }
                None => {}
            }
        });
        if own {
            self.own_entries = self.own_entries.saturating_add_signed(entries_delta);
        }
    }

    /// Where interest in the literal `subject` of `account` lives (cached per subject).
    pub fn matches(&mut self, account: AccountId, subject: &[u8]) -> Option<Rc<RemoteMatch>> {
        self.summaries
            .get_mut(usize::from(account))
            .map(|summary| summary.matches(subject))
    }

    /// This shard's own subscription count for (account, pattern, queue).
    pub fn local_count(&self, account: AccountId, pattern: &Bytes, queue: Option<&Bytes>) -> u32 {
        self.local
            .get(&(account, pattern.clone(), queue.cloned()))
            .copied()
            .unwrap_or(0)
    }

    /// Checks that the summary agrees with this shard's own counts; tests call it after
    /// every step.
    pub fn validate(&self) -> Result<(), InterestError> {
        if !self.is_needed() {
            return Ok(());
        }
        for ((account, pattern, queue), &count) in &self.local {
            let entries = self
                .summaries
                .get(usize::from(*account))
                .and_then(|summary| summary.values(pattern))
                .unwrap_or(&[]);
            let summary = entries
                .iter()
                .find(|entry| {
                    entry.destination == Destination::Shard(self.me) && entry.queue == *queue
                })
                .map_or(0, |entry| entry.count);
            let expected = if queue.is_some() { count } else { 1 };
            if summary != expected || count == 0 {
                return Err(InterestError::CountMismatch {
                    pattern: String::from_utf8_lossy(pattern).into_owned(),
                    queue: queue
                        .as_ref()
                        .map(|queue| String::from_utf8_lossy(queue).into_owned()),
                    local: count,
                    summary,
                });
            }
            if entries.iter().any(|entry| entry.count == 0) {
                return Err(InterestError::ZeroCount {
                    pattern: String::from_utf8_lossy(pattern).into_owned(),
                });
            }
        }
        if self.own_entries != self.local.len() {
            return Err(InterestError::OwnEntryCount {
                summary: self.own_entries,
                local: self.local.len(),
            });
        }
        Ok(())
    }

    /// Distinct patterns in every account's summary (for monitoring).
    pub fn pattern_count(&self) -> usize {
        self.summaries.iter().map(SubjectIndex::pattern_count).sum()
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
