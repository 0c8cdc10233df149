//! The in-memory index both stores share: which sequences are kept, their subjects, sizes,
//! timestamps and TTLs, and where their bodies live (`L`: in memory for [`crate::MemStore`], a
//! block location for [`crate::FileStore`]).
//!
//! Every change to the kept set is one of four operations: insert a message, or one of the
//! [`Removal`]s. High-level requests (purge, compact, truncate, limits, expiry) are first
//! *planned* into removals without changing anything, then applied one by one. The file store
//! writes each removal as a record before applying it, and recovery replays those records
//! through the same [`Catalog::apply`], so the state after a restart is by construction the
//! state that was acknowledged. Pure: no I/O, no runtime.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::rc::Rc;

use crate::error::{Result, StoreError};
use crate::subject;
use crate::types::{DiscardPolicy, PurgeRequest, SimpleState, StoreConfig, StreamState};

/// Bytes a message counts for in `max_bytes` and [`StreamState::bytes`].
pub(crate) fn message_size(subject_len: usize, headers_len: usize, payload_len: usize) -> u64 {
    (subject_len + headers_len + payload_len) as u64 + 16
}

/// One kept message.
#[derive(Debug, Clone)]
pub(crate) struct Entry<L> {
    pub subject: Rc<str>,
    pub timestamp_ns: i64,
    pub ttl_ns: i64,
    pub size: u64,
    pub location: L,
}

/// A change that removes messages; also the payload of the file store's removal records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Removal {
    /// Remove one sequence (no effect when it is not kept).
    Delete { seq: u64 },
    /// Remove every sequence below `floor`; when `floor` is past the end, the next message
    /// gets sequence `floor`.
    Compact { floor: u64 },
    /// Remove every sequence above `last_seq` and make it the last sequence.
    Truncate {
        last_seq: u64,
        last_timestamp_ns: i64,
    },
}

type SubjectMap = HashMap<Rc<str>, BTreeSet<u64>, ahash::RandomState>;

/// How many messages a wildcard lookup checks one by one before it walks the subject index.
const NEARBY_SCAN: usize = 64;

/// The kept messages and the sequence counters.
#[derive(Debug)]
pub(crate) struct Catalog<L> {
    messages: BTreeMap<u64, Entry<L>>,
    subjects: SubjectMap,
    /// (expires at, seq) for messages with a per-message TTL.
    ttl_index: BTreeSet<(i64, u64)>,
    last_seq: u64,
    last_timestamp_ns: i64,
    bytes: u64,
}

impl<L> Default for Catalog<L> {
    fn default() -> Self {
        Catalog {
            messages: BTreeMap::new(),
            subjects: SubjectMap::default(),
            ttl_index: BTreeSet::new(),
            last_seq: 0,
            last_timestamp_ns: 0,
            bytes: 0,
        }
    }
}

impl<L> Catalog<L> {
    pub fn next_seq(&self) -> u64 {
        self.last_seq + 1
    }

    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    pub fn last_timestamp_ns(&self) -> i64 {
        self.last_timestamp_ns
    }

    pub fn first_seq(&self) -> u64 {
        self.messages
            .keys()
            .next()
            .copied()
            .unwrap_or(self.last_seq + 1)
    }

    pub fn len(&self) -> u64 {
        self.messages.len() as u64
    }

    pub fn get(&self, seq: u64) -> Option<&Entry<L>> {
        self.messages.get(&seq)
    }

    pub fn iter(&self) -> impl Iterator<Item = (u64, &Entry<L>)> {
        self.messages.iter().map(|(seq, entry)| (*seq, entry))
    }

    /// Adds a message under `seq`.
    pub fn insert(
        &mut self,
        seq: u64,
        subject_text: &str,
        timestamp_ns: i64,
        ttl_ns: i64,
        size: u64,
        location: L,
    ) {
        // Replay of a record stored twice cannot happen with records we write, but a snapshot
        // or a damaged file could hold one: the newest wins.
        self.remove(seq);
        let subject: Rc<str> = match self.subjects.get_key_value(subject_text) {
            Some((interned, _)) => Rc::clone(interned),
            None => Rc::from(subject_text),
        };
        self.subjects
            .entry(Rc::clone(&subject))
            .or_default()
            .insert(seq);
        if ttl_ns > 0 {
            self.ttl_index
                .insert((timestamp_ns.saturating_add(ttl_ns), seq));
        }
        self.bytes += size;
        if seq >= self.last_seq {
            self.last_seq = seq;
            self.last_timestamp_ns = timestamp_ns;
        }
        let entry = Entry {
            subject,
            timestamp_ns,
            ttl_ns,
            size,
            location,
        };
        self.messages.insert(seq, entry);
    }

    /// Applies a removal and returns what it removed, in sequence order.
    pub fn apply(&mut self, removal: Removal) -> Vec<(u64, Entry<L>)> {
        match removal {
            Removal::Delete { seq } => self
                .remove(seq)
                .map(|entry| (seq, entry))
                .into_iter()
                .collect(),
            Removal::Compact { floor } => {
                let kept = self.messages.split_off(&floor);
                let removed = std::mem::replace(&mut self.messages, kept);
                if floor > self.last_seq + 1 {
                    self.last_seq = floor - 1;
                }
                self.forget_all(removed)
            }
            Removal::Truncate {
                last_seq,
                last_timestamp_ns,
            } => {
                let removed = self.messages.split_off(&(last_seq.saturating_add(1)));
                self.last_seq = last_seq;
                self.last_timestamp_ns = last_timestamp_ns;
                self.forget_all(removed)
            }
        }
    }

    /// The file store's block header checkpoint: the state had these counters when the block
    /// was created, so everything below `floor` and above `last_seq` was gone by then.
    pub fn apply_checkpoint(&mut self, floor: u64, last_seq: u64, last_timestamp_ns: i64) {
        self.apply(Removal::Compact { floor });
        self.apply(Removal::Truncate {
            last_seq,
            last_timestamp_ns,
        });
    }

    fn remove(&mut self, seq: u64) -> Option<Entry<L>> {
        let entry = self.messages.remove(&seq)?;
        self.forget_accounting(seq, &entry);
        Some(entry)
    }

    fn forget_all(&mut self, removed: BTreeMap<u64, Entry<L>>) -> Vec<(u64, Entry<L>)> {
        let removed: Vec<(u64, Entry<L>)> = removed.into_iter().collect();
        for (seq, entry) in &removed {
            self.forget_accounting(*seq, entry);
        }
        removed
    }

    fn forget_accounting(&mut self, seq: u64, entry: &Entry<L>) {
        self.bytes -= entry.size;
        if entry.ttl_ns > 0 {
            self.ttl_index
                .remove(&(entry.timestamp_ns.saturating_add(entry.ttl_ns), seq));
        }
        if let Some(seqs) = self.subjects.get_mut(&entry.subject) {
            seqs.remove(&seq);
            if seqs.is_empty() {
                self.subjects.remove(&entry.subject);
            }
        }
    }

    pub fn state(&self) -> StreamState {
        let first_seq = self.first_seq();
        let msgs = self.len();
        let span = (self.last_seq + 1).saturating_sub(first_seq);
        StreamState {
            msgs,
            bytes: self.bytes,
            first_seq,
            first_timestamp_ns: self
                .messages
                .values()
                .next()
                .map_or(0, |entry| entry.timestamp_ns),
            last_seq: self.last_seq,
            last_timestamp_ns: self.last_timestamp_ns,
            num_deleted: span.saturating_sub(msgs),
            num_subjects: self.subjects.len() as u64,
        }
    }

    /// The deleted sequences the Go stores list (`num_deleted` of them): every sequence from
    /// the first to the last that holds no message, those after the last kept message
    /// included; ascending, at most `limit` of them.
    pub fn deleted(&self, limit: usize) -> Vec<u64> {
        let mut deleted = Vec::new();
        let mut expected = self.first_seq();
        let kept = self
            .messages
            .keys()
            .copied()
            .chain(std::iter::once(self.last_seq + 1));
        for seq in kept {
            while expected < seq && deleted.len() < limit {
                deleted.push(expected);
                expected += 1;
            }
            if deleted.len() >= limit {
                break;
            }
            expected = seq + 1;
        }
        deleted
    }

    fn matching_subjects<'a>(
        &'a self,
        filter: &'a str,
    ) -> Box<dyn Iterator<Item = (&'a Rc<str>, &'a BTreeSet<u64>)> + 'a> {
        if !subject::has_wildcard_token(filter.as_bytes()) && !filter.is_empty() {
            Box::new(self.subjects.get_key_value(filter).into_iter())
        } else {
            Box::new(self.subjects.iter().filter(move |(name, _)| {
                subject::filter_matches(filter.as_bytes(), name.as_bytes())
            }))
        }
    }

    pub fn filtered_state(&self, filter: &str, start_seq: u64) -> SimpleState {
        let mut state = SimpleState::default();
        if subject::is_match_all_filter(filter.as_bytes()) {
            let mut range = self.messages.range(start_seq..);
            state.first = range.next().map_or(0, |(seq, _)| *seq);
            if state.first != 0 {
                state.last = self.messages.keys().next_back().copied().unwrap_or(0);
                // Count whichever side of `start_seq` spans fewer sequences.
                state.msgs = if state.last - start_seq < start_seq - self.first_seq().min(start_seq)
                {
                    self.messages.range(start_seq..).count() as u64
                } else {
                    self.len() - self.messages.range(..start_seq).count() as u64
                };
            }
            return state;
        }
        for (_, seqs) in self.matching_subjects(filter) {
            let mut range = seqs.range(start_seq..);
            if let Some(first) = range.next() {
                let count = 1 + range.count() as u64;
                let last = seqs.last().copied().unwrap_or(*first);
                state.msgs += count;
                state.first = if state.first == 0 {
                    *first
                } else {
                    state.first.min(*first)
                };
                state.last = state.last.max(last);
            }
        }
        state
    }

    pub fn subjects_state(&self, filter: &str) -> HashMap<String, SimpleState> {
        self.matching_subjects(filter)
            .filter_map(|(name, seqs)| {
                let first = *seqs.first()?;
                let last = *seqs.last()?;
                Some((
                    name.to_string(),
                    SimpleState {
                        msgs: seqs.len() as u64,
                        first,
                        last,
                    },
                ))
            })
            .collect()
    }

    /// The lowest kept sequence at or above `start_seq` whose subject matches.
    pub fn next_match(&self, filter: &str, start_seq: u64) -> Option<u64> {
        if subject::is_match_all_filter(filter.as_bytes()) {
            return self.messages.range(start_seq..).next().map(|(seq, _)| *seq);
        }
        if subject::has_wildcard_token(filter.as_bytes()) {
            // Matches are usually near: look at a few messages before walking every subject,
            // which costs as much as there are subjects (many, for a KV bucket).
            let nearby = self
                .messages
                .range(start_seq..)
                .take(NEARBY_SCAN)
                .find(|(_, entry)| {
                    subject::filter_matches(filter.as_bytes(), entry.subject.as_bytes())
                });
            if let Some((seq, _)) = nearby {
                return Some(*seq);
            }
        }
        self.matching_subjects(filter)
            .filter_map(|(_, seqs)| seqs.range(start_seq..).next().copied())
            .min()
    }

    /// The highest kept sequence whose subject matches.
    pub fn last_match(&self, filter: &str) -> Option<u64> {
        if subject::is_match_all_filter(filter.as_bytes()) {
            return self.messages.keys().next_back().copied();
        }
        if subject::has_wildcard_token(filter.as_bytes()) {
            let nearby = self
                .messages
                .iter()
                .rev()
                .take(NEARBY_SCAN)
                .find(|(_, entry)| {
                    subject::filter_matches(filter.as_bytes(), entry.subject.as_bytes())
                });
            if let Some((seq, _)) = nearby {
                return Some(*seq);
            }
        }
        self.matching_subjects(filter)
            .filter_map(|(_, seqs)| seqs.last().copied())
            .max()
    }

    /// Rejects a message the limits do not let in under the discard-new policy or the size
    /// limit. Changes nothing.
    pub fn check_admission(&self, config: &StoreConfig, subject: &str, size: u64) -> Result<()> {
        let payload_size = size.saturating_sub(16);
        if config.max_msg_size > 0 && payload_size > config.max_msg_size {
            return Err(StoreError::MessageTooLarge {
                size: payload_size,
                max: config.max_msg_size,
            });
        }
        if config.discard != DiscardPolicy::New {
            return Ok(());
        }
        let subject_seqs = self.subjects.get(subject);
        let at_subject_limit = config.max_msgs_per_subject > 0
            && subject_seqs.is_some_and(|seqs| seqs.len() as u64 >= config.max_msgs_per_subject);
        if at_subject_limit && config.discard_new_per_subject {
            return Err(StoreError::MaxMessagesPerSubject);
        }
        // A message that replaces its subject's oldest (per-subject limit) does not grow the
        // stream, so it passes the stream-wide limits as in the Go server.
        if config.max_msgs > 0 && self.len() >= config.max_msgs && !at_subject_limit {
            return Err(StoreError::MaxMessages);
        }
        if config.max_bytes > 0 && self.bytes + size > config.max_bytes {
            let freed_by_replacement = match (at_subject_limit, subject_seqs) {
                (true, Some(seqs)) => seqs
                    .first()
                    .and_then(|oldest| self.messages.get(oldest))
                    .map_or(0, |entry| entry.size),
                _ => 0,
            };
            if freed_by_replacement < size {
                return Err(StoreError::MaxBytes);
            }
        }
        Ok(())
    }

    /// The sequences to remove so that the limits hold again, oldest first. With `subject`,
    /// only that subject is checked against `max_msgs_per_subject` (after a store); without,
    /// every subject is (after a config change).
    pub fn plan_limits(&self, config: &StoreConfig, subject: Option<&str>) -> Vec<u64> {
        let mut chosen = BTreeSet::new();
        if config.max_msgs_per_subject > 0 {
            let mut check = |seqs: &BTreeSet<u64>| {
                let excess = (seqs.len() as u64).saturating_sub(config.max_msgs_per_subject);
                chosen.extend(seqs.iter().take(excess as usize).copied());
            };
            match subject {
                Some(name) => self.subjects.get(name).into_iter().for_each(&mut check),
                None => self.subjects.values().for_each(&mut check),
            }
        }
        if config.discard == DiscardPolicy::Old {
            let mut msgs = self.len() - chosen.len() as u64;
            let mut bytes = self.bytes
                - chosen
                    .iter()
                    .filter_map(|seq| self.messages.get(seq))
                    .map(|entry| entry.size)
                    .sum::<u64>();
            for (seq, entry) in &self.messages {
                let over_msgs = config.max_msgs > 0 && msgs > config.max_msgs;
                let over_bytes = config.max_bytes > 0 && bytes > config.max_bytes;
                if !over_msgs && !over_bytes {
                    break;
                }
                if chosen.insert(*seq) {
                    msgs -= 1;
                    bytes -= entry.size;
                }
            }
        }
        chosen.into_iter().collect()
    }

    /// The sequences whose age or TTL has run out at `now_ns`.
    pub fn plan_expiry(&self, config: &StoreConfig, now_ns: i64) -> Vec<u64> {
        let mut chosen = BTreeSet::new();
        if let Some(max_age) = config.max_age.filter(|age| !age.is_zero()) {
            let max_age_ns = i64::try_from(max_age.as_nanos()).unwrap_or(i64::MAX);
            let oldest_allowed = now_ns.saturating_sub(max_age_ns);
            // Timestamps are publish times and so rise with sequences; as the Go server, stop
            // at the first message young enough.
            for (seq, entry) in &self.messages {
                if entry.timestamp_ns > oldest_allowed {
                    break;
                }
                chosen.insert(*seq);
            }
        }
        chosen.extend(
            self.ttl_index
                .range(..=(now_ns, u64::MAX))
                .map(|(_, seq)| *seq),
        );
        chosen.into_iter().collect()
    }

    /// Plans a purge with the Go server's `PurgeEx` semantics.
    pub fn plan_purge(&self, request: &PurgeRequest) -> Vec<Removal> {
        let filter = request.subject.as_deref().unwrap_or("");
        let before_seq = request.before_seq.filter(|seq| *seq > 0);
        let keep = request.keep.unwrap_or(0);
        if before_seq == Some(1) {
            return Vec::new();
        }
        if subject::is_match_all_filter(filter.as_bytes()) {
            match before_seq {
                None if keep == 0 => {
                    return vec![Removal::Compact {
                        floor: self.last_seq + 1,
                    }]
                }
                Some(floor) => return self.plan_compact(floor),
                None => {}
            }
        }
        let matching: Vec<u64> = if subject::is_match_all_filter(filter.as_bytes()) {
            self.messages.keys().copied().collect()
        } else {
            let mut seqs: Vec<u64> = self
                .matching_subjects(filter)
                .flat_map(|(_, seqs)| seqs.iter().copied())
                .collect();
            seqs.sort_unstable();
            seqs
        };
        let total = matching.len() as u64;
        if keep > 0 && keep >= total {
            return Vec::new();
        }
        let max_purged = if keep > 0 { total - keep } else { total };
        matching
            .into_iter()
            .take_while(|seq| before_seq.is_none_or(|before| *seq < before))
            .take(max_purged as usize)
            .map(|seq| Removal::Delete { seq })
            .collect()
    }

    /// Plans a compact (remove everything below `floor`) with the Go server's semantics.
    pub fn plan_compact(&self, floor: u64) -> Vec<Removal> {
        if floor == 0 {
            return vec![Removal::Compact {
                floor: self.last_seq + 1,
            }];
        }
        if self.first_seq() >= floor {
            return Vec::new();
        }
        vec![Removal::Compact { floor }]
    }

    /// Plans a truncate (remove everything above `last_seq`). Asking for a sequence at or above
    /// the current last one changes nothing.
    pub fn plan_truncate(&self, last_seq: u64) -> Vec<Removal> {
        if last_seq >= self.last_seq {
            return Vec::new();
        }
        let last_timestamp_ns = match self.messages.get(&last_seq) {
            Some(entry) => entry.timestamp_ns,
            None if last_seq == 0 => 0,
            None => self.last_timestamp_ns,
        };
        vec![Removal::Truncate {
            last_seq,
            last_timestamp_ns,
        }]
    }

    /// Checks the internal indexes against each other; tests call it after every step.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let bytes: u64 = self.messages.values().map(|entry| entry.size).sum();
        if bytes != self.bytes {
            return Err(format!("bytes {} but entries sum to {bytes}", self.bytes));
        }
        let indexed: usize = self.subjects.values().map(BTreeSet::len).sum();
        if indexed != self.messages.len() {
            return Err(format!(
                "{} messages but {indexed} in the subject index",
                self.messages.len()
            ));
        }
        for (seq, entry) in &self.messages {
            if *seq > self.last_seq || *seq == 0 {
                return Err(format!("seq {seq} outside 1..={}", self.last_seq));
            }
            if !self
                .subjects
                .get(&entry.subject)
                .is_some_and(|seqs| seqs.contains(seq))
            {
                return Err(format!("seq {seq} missing from its subject index"));
            }
            if entry.ttl_ns > 0
                && !self
                    .ttl_index
                    .contains(&(entry.timestamp_ns.saturating_add(entry.ttl_ns), *seq))
            {
                return Err(format!("seq {seq} missing from the TTL index"));
            }
        }
        if self.subjects.values().any(BTreeSet::is_empty) {
            return Err("empty subject set left in the index".into());
        }
        Ok(())
    }
}
