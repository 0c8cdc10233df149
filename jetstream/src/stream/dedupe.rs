//! The `Nats-Msg-Id` window: ids seen within `duplicate_window`, with the sequence they were
//! stored at. Memory is bounded twice: by time (entries older than the window are pruned on
//! every insert and tick) and by count (past `max_entries` the oldest go first).

use std::collections::{HashMap, VecDeque};

/// One remembered id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DedupeEntry {
    /// The stream sequence the id was stored at (predicted while its store is in flight).
    pub seq: u64,
    /// When it was published, nanoseconds since the epoch.
    pub timestamp_ns: i64,
    /// The store of this id has not completed yet.
    pub in_flight: bool,
}

/// Ids within the duplicate window.
#[derive(Debug, Default)]
pub struct Dedupe {
    by_id: HashMap<String, DedupeEntry>,
    order: VecDeque<(i64, String)>,
    max_entries: usize,
}

impl Dedupe {
    /// An empty window holding at most `max_entries` ids.
    pub fn new(max_entries: usize) -> Dedupe {
        Dedupe {
            by_id: HashMap::new(),
            order: VecDeque::new(),
            max_entries: max_entries.max(1),
        }
    }

    /// The entry for `id`, if it is within the window.
    pub fn get(&self, id: &str) -> Option<DedupeEntry> {
        self.by_id.get(id).copied()
    }

    /// Remembers `id`.
    pub fn insert(&mut self, id: &str, entry: DedupeEntry) {
        if self.by_id.insert(id.to_owned(), entry).is_none() {
            self.order.push_back((entry.timestamp_ns, id.to_owned()));
        }
        while self.order.len() > self.max_entries {
            if let Some((_, oldest)) = self.order.pop_front() {
                self.by_id.remove(&oldest);
            }
        }
    }

    /// Updates the entry of `id` once its store completed (or forgets it when it failed).
    pub fn settle(&mut self, id: &str, seq: Option<u64>) {
        match seq {
            Some(seq) => {
                if let Some(entry) = self.by_id.get_mut(id) {
                    entry.seq = seq;
                    entry.in_flight = false;
                }
            }
            None => {
                // The id stays in `order` until pruned; a later insert of the same id is
                // remembered again.
                self.by_id.remove(id);
            }
        }
    }

    /// Forgets ids published before `now_ns - window_ns`.
    pub fn prune(&mut self, now_ns: i64, window_ns: i64) {
        let horizon = now_ns.saturating_sub(window_ns);
        while let Some((timestamp_ns, _)) = self.order.front() {
            if *timestamp_ns >= horizon {
                break;
            }
            if let Some((_, id)) = self.order.pop_front() {
                if self
                    .by_id
                    .get(&id)
                    .is_some_and(|e| e.timestamp_ns < horizon && !e.in_flight)
                {
                    self.by_id.remove(&id);
                }
            }
        }
    }

    /// Number of ids remembered.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether no id is remembered.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}
