//! Retention of interest and work-queue streams (Go's `ackMsg`, `checkForInterest`,
//! `cleanupNoInterestMessages`, `checkInterestState`): a message goes once no consumer needs
//! it any more. A filtered consumer's need depends on the message's subject; when no consumer
//! knows it (deliveries recovered after a restart), it is loaded first.

use std::collections::HashMap;
use std::rc::Rc;

use natrix_storage::{StoredMessage, StreamStore};

use super::set::{ConsumerSet, RetentionLoad, CLEANUP_SCAN_MAX};
use super::{Action, Context, LoadRequest, Token};
use crate::api::RetentionPolicy;

impl ConsumerSet {
    /// Go's `cleanupNoInterestMessages` after a consumer left an interest stream: with no
    /// consumer left everything goes; otherwise the messages from the leaver's ack floor on
    /// that nobody else needs.
    pub(crate) fn cleanup_no_interest<S: StreamStore>(
        &mut self,
        cx: &Context<'_, S>,
        from_floor: u64,
        actions: &mut Vec<Action>,
    ) {
        let state = cx.store.state();
        if self.consumers.is_empty() {
            if state.msgs > 0 {
                actions.push(Action::PurgeAll);
            }
            return;
        }
        let start = from_floor.max(state.first_seq);
        self.scan_for_lost_interest(start, state.last_seq, actions);
    }

    /// Scans `start..=stop` for messages no consumer needs (at most [`CLEANUP_SCAN_MAX`]
    /// sequences; wider ranges are left to the periodic compaction, as Go does).
    pub(crate) fn scan_for_lost_interest(
        &mut self,
        start: u64,
        stop: u64,
        actions: &mut Vec<Action>,
    ) {
        if start > stop || stop - start > CLEANUP_SCAN_MAX {
            return;
        }
        self.issue_cleanup_load(start, stop, actions);
    }

    fn issue_cleanup_load(&mut self, start: u64, stop: u64, actions: &mut Vec<Action>) {
        self.shared.next_token += 1;
        let token = Token(self.shared.next_token);
        self.retention_loads
            .insert(token, RetentionLoad::Cleanup { stop });
        actions.push(Action::Load {
            token,
            request: LoadRequest::Next {
                filters: Vec::new(),
                start_seq: start,
                max_messages: self.shared.options.max_load_messages,
                max_bytes: self.shared.options.max_load_bytes,
            },
        });
    }

    /// Decides the sequences consumers acknowledged: removed when no other consumer needs
    /// them; loaded first when a filtered consumer's need depends on an unknown subject.
    pub(crate) fn process_retention<S: StreamStore>(
        &mut self,
        cx: &Context<'_, S>,
        actions: &mut Vec<Action>,
    ) {
        let acks = std::mem::take(&mut self.shared.retention_acks);
        if acks.is_empty() || self.shared.stream.retention == RetentionPolicy::Limits {
            return;
        }
        let state = cx.store.state();
        let mut unknown = Vec::new();
        for ack in acks {
            if ack.seq < state.first_seq || ack.seq > state.last_seq {
                continue;
            }
            match self.still_needed(ack.seq, ack.subject.as_deref(), Some(&ack.consumer)) {
                Some(false) => actions.push(Action::RemoveMessage { seq: ack.seq }),
                Some(true) => {}
                None => unknown.push(ack),
            }
        }
        if !unknown.is_empty() {
            self.shared.next_token += 1;
            let token = Token(self.shared.next_token);
            let seqs = unknown.iter().map(|ack| ack.seq).collect();
            self.retention_loads
                .insert(token, RetentionLoad::Subjects(unknown));
            actions.push(Action::Load {
                token,
                request: LoadRequest::Sequences(seqs),
            });
        }
    }

    /// Whether a consumer other than `except` still needs `seq` (Go's `checkForInterest`);
    /// `None` when that depends on a subject not known.
    fn still_needed(&self, seq: u64, subject: Option<&str>, except: Option<&str>) -> Option<bool> {
        let mut unknown = false;
        for (name, consumer) in &self.consumers {
            if Some(name.as_str()) == except {
                continue;
            }
            let filtered = consumer.is_filtered(&self.shared.stream);
            match consumer.need_ack(seq, subject, filtered) {
                Some(true) => return Some(true),
                Some(false) => {}
                None => unknown = true,
            }
        }
        (!unknown).then_some(false)
    }

    pub(crate) fn retention_loaded<S: StreamStore>(
        &mut self,
        cx: &Context<'_, S>,
        purpose: RetentionLoad,
        messages: Vec<StoredMessage>,
        actions: &mut Vec<Action>,
    ) {
        match purpose {
            RetentionLoad::Subjects(acks) => {
                let subjects: HashMap<u64, Rc<str>> = messages
                    .iter()
                    .map(|message| (message.seq, message.subject.as_str().into()))
                    .collect();
                for ack in acks {
                    let Some(subject) = subjects.get(&ack.seq) else {
                        continue;
                    };
                    if self.still_needed(ack.seq, Some(subject), Some(&ack.consumer)) == Some(false)
                    {
                        actions.push(Action::RemoveMessage { seq: ack.seq });
                    }
                }
            }
            RetentionLoad::Cleanup { stop } => {
                let full = messages.len() >= self.shared.options.max_load_messages;
                let mut last = 0;
                for message in &messages {
                    last = message.seq;
                    if message.seq > stop {
                        break;
                    }
                    if self.still_needed(message.seq, Some(&message.subject), None) == Some(false) {
                        actions.push(Action::RemoveMessage { seq: message.seq });
                    }
                }
                if full && last < stop && cx.store.state().last_seq > last {
                    self.issue_cleanup_load(last + 1, stop, actions);
                }
            }
        }
    }

    /// Interest streams: remove everything below every consumer's ack floor (what Go's
    /// `checkInterestState` does with its check floors).
    pub(crate) fn compact_interest<S: StreamStore>(
        &mut self,
        cx: &Context<'_, S>,
        actions: &mut Vec<Action>,
    ) {
        let Some(floor) = self.consumers.values().map(|consumer| consumer.asflr).min() else {
            return;
        };
        if floor + 1 > cx.store.state().first_seq {
            actions.push(Action::Compact {
                floor_seq: floor + 1,
            });
        }
    }
}
