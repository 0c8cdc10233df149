use std::collections::VecDeque;

use proptest::prelude::*;

use super::*;

fn bytes(text: &str) -> Bytes {
    Bytes::copy_from_slice(text.as_bytes())
}

fn plain_shards(summary: &mut InterestSummary, subject: &str) -> Vec<Destination> {
    summary
        .matches(0, subject.as_bytes())
        .map(|found| found.plain.iter().collect())
        .unwrap_or_default()
}

#[test]
fn only_the_first_and_last_plain_subscription_are_broadcast() {
    let mut summary = InterestSummary::new(0, 2, 1);
    let pattern = bytes("orders.*");
    let first = summary.local_change(0, &pattern, None, 1);
    assert_eq!(
        first,
        Some(InterestChange {
            origin: Destination::Shard(0),
            account: 0,
            pattern: pattern.clone(),
            queue: None,
            delta: 1,
        })
    );
    assert_eq!(summary.local_change(0, &pattern, None, 1), None);
    summary.validate().expect("consistent");
    assert_eq!(summary.local_change(0, &pattern, None, -1), None);
    let last = summary
        .local_change(0, &pattern, None, -1)
        .expect("last one");
    assert_eq!(last.delta, -1);
    summary.validate().expect("consistent");
    assert!(plain_shards(&mut summary, "orders.new").is_empty());
}

#[test]
fn every_queue_member_is_broadcast_and_weights_add_up() {
    let mut mine = InterestSummary::new(0, 2, 1);
    let mut other = InterestSummary::new(1, 2, 1);
    let (pattern, group) = (bytes("jobs"), bytes("workers"));
    for _ in 0..3 {
        let change = mine
            .local_change(0, &pattern, Some(&group), 1)
            .expect("each member counts");
        other.apply(&change);
    }
    let change = other
        .local_change(0, &pattern, Some(&group), 1)
        .expect("member");
    mine.apply(&change);
    for summary in [&mut mine, &mut other] {
        summary.validate().expect("consistent");
        let found = summary.matches(0, b"jobs").expect("account exists");
        assert!(found.plain.is_empty());
        let (name, members) = &found.queues[0];
        assert_eq!(name, &group);
        let mut members = members.clone();
        members.sort_by_key(|(destination, _)| match destination {
            Destination::Shard(shard) => *shard,
        });
        assert_eq!(
            members,
            vec![(Destination::Shard(0), 3), (Destination::Shard(1), 1)]
        );
    }
}

#[test]
fn a_single_shard_keeps_no_summary() {
    let mut summary = InterestSummary::new(0, 1, 1);
    assert!(!summary.is_needed());
    assert_eq!(summary.local_change(0, &bytes("a"), None, 1), None);
    assert!(plain_shards(&mut summary, "a").is_empty());
    summary.validate().expect("nothing to check");
}

#[test]
fn validate_reports_a_summary_that_disagrees_with_local_counts() {
    let mut summary = InterestSummary::new(0, 2, 1);
    summary.local_change(0, &bytes("a"), None, 1);
    summary.validate().expect("consistent");
    // A change that claims to come from this shard but was never counted locally.
    summary.apply(&InterestChange {
        origin: Destination::Shard(0),
        account: 0,
        pattern: bytes("b"),
        queue: None,
        delta: 1,
    });
    assert!(matches!(
        summary.validate(),
        Err(InterestError::OwnEntryCount { .. })
    ));
}

#[test]
fn unknown_accounts_and_removals_of_nothing_are_ignored() {
    let mut summary = InterestSummary::new(1, 3, 1);
    assert_eq!(summary.local_change(0, &bytes("a"), None, -1), None);
    summary.apply(&InterestChange {
        origin: Destination::Shard(2),
        account: 9,
        pattern: bytes("a"),
        queue: None,
        delta: 1,
    });
    assert!(summary.matches(9, b"a").is_none());
    summary.ensure_accounts(10);
    assert!(summary.matches(9, b"a").is_some());
    summary.validate().expect("consistent");
}

#[test]
fn a_barrier_completes_on_the_last_acknowledgement_only() {
    let mut barriers = Barriers::default();
    assert_eq!(barriers.start(0), None, "one shard: nothing to wait for");
    let first = barriers.start(2).expect("two peers");
    let second = barriers.start(2).expect("two peers");
    assert_ne!(first, second);
    assert!(!barriers.acknowledge(first));
    assert!(barriers.is_waiting(first));
    assert!(barriers.acknowledge(first));
    assert!(!barriers.is_waiting(first));
    assert!(!barriers.acknowledge(first), "late duplicates are ignored");
    barriers.abandon(second);
    assert!(
        !barriers.acknowledge(second),
        "an abandoned barrier stays done"
    );
}

// ----- property test: shards exchanging changes agree with a naive model ----------------------

const PATTERNS: [&str; 6] = ["a", "a.b", "a.*", "a.>", "*.b", ">"];
const SUBJECTS: [&str; 4] = ["a", "a.b", "a.c", "x.b"];
const GROUPS: [Option<&str>; 3] = [None, Some("q1"), Some("q2")];

#[derive(Debug, Clone)]
enum Step {
    /// A subscription on `shard` to PATTERNS[pattern] in GROUPS[group].
    Subscribe {
        shard: usize,
        pattern: usize,
        group: usize,
    },
    /// Removes the `nth` live subscription (modulo the count).
    Unsubscribe { nth: usize },
    /// Delivers the oldest queued change from `from` to `to` (if any).
    Deliver { from: usize, to: usize },
}

fn step_strategy(shards: usize) -> impl Strategy<Value = Step> {
    prop_oneof![
        (0..shards, 0..PATTERNS.len(), 0..GROUPS.len()).prop_map(|(shard, pattern, group)| {
            Step::Subscribe {
                shard,
                pattern,
                group,
            }
        }),
        (0usize..64).prop_map(|nth| Step::Unsubscribe { nth }),
        (0..shards, 0..shards).prop_map(|(from, to)| Step::Deliver { from, to }),
        (0..shards, 0..shards).prop_map(|(from, to)| Step::Deliver { from, to }),
    ]
}

/// Every shard's summary, and the FIFO from each shard to each other one.
struct Cluster {
    summaries: Vec<InterestSummary>,
    queues: Vec<Vec<VecDeque<InterestChange>>>,
    /// The live subscriptions: (shard, pattern, group).
    live: Vec<(usize, usize, usize)>,
}

impl Cluster {
    fn new(shards: usize) -> Self {
        Cluster {
            summaries: (0..shards)
                .map(|shard| InterestSummary::new(shard as ShardId, shards, 1))
                .collect(),
            queues: (0..shards)
                .map(|_| (0..shards).map(|_| VecDeque::new()).collect())
                .collect(),
            live: Vec::new(),
        }
    }

    fn change(&mut self, shard: usize, pattern: usize, group: usize, delta: i32) {
        let queue = GROUPS[group].map(bytes);
        let change =
            self.summaries[shard].local_change(0, &bytes(PATTERNS[pattern]), queue.as_ref(), delta);
        if let Some(change) = change {
            for (to, queue) in self.queues[shard].iter_mut().enumerate() {
                if to != shard {
                    queue.push_back(change.clone());
                }
            }
        }
    }

    fn run(&mut self, step: &Step) {
        match *step {
            Step::Subscribe {
                shard,
                pattern,
                group,
            } => {
                self.live.push((shard, pattern, group));
                self.change(shard, pattern, group, 1);
            }
            Step::Unsubscribe { nth } => {
                if self.live.is_empty() {
                    return;
                }
                let (shard, pattern, group) = self.live.swap_remove(nth % self.live.len());
                self.change(shard, pattern, group, -1);
            }
            Step::Deliver { from, to } => {
                if let Some(change) = self.queues[from][to].pop_front() {
                    self.summaries[to].apply(&change);
                }
            }
        }
    }

    fn deliver_everything(&mut self) {
        let shards = self.summaries.len();
        for from in 0..shards {
            for to in 0..shards {
                while let Some(change) = self.queues[from][to].pop_front() {
                    self.summaries[to].apply(&change);
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn summaries_agree_with_a_naive_model_once_changes_are_delivered(
        shards in 2usize..5,
        steps in proptest::collection::vec(step_strategy(4), 0..80),
    ) {
        let mut cluster = Cluster::new(shards);
        for step in &steps {
            let step = match step.clone() {
                Step::Subscribe { shard, pattern, group } => {
                    Step::Subscribe { shard: shard % shards, pattern, group }
                }
                Step::Deliver { from, to } => Step::Deliver { from: from % shards, to: to % shards },
                other => other,
            };
            cluster.run(&step);
            for summary in &cluster.summaries {
                prop_assert!(summary.validate().is_ok(), "{:?}", summary.validate());
            }
        }
        cluster.deliver_everything();
        for subject in SUBJECTS {
            // The model: who has plain interest, and queue members per (group, shard).
            let mut plain = DestinationSet::default();
            let mut members: Vec<(Bytes, Destination, u32)> = Vec::new();
            for &(shard, pattern, group) in &cluster.live {
                if !crate::subject::pattern_matches(PATTERNS[pattern].as_bytes(), subject.as_bytes()) {
                    continue;
                }
                let destination = Destination::Shard(shard as ShardId);
                match GROUPS[group] {
                    None => plain.insert(destination),
                    Some(name) => match members.iter_mut().find(|(group, at, _)| group == name.as_bytes() && *at == destination) {
                        Some(member) => member.2 += 1,
                        None => members.push((bytes(name), destination, 1)),
                    },
                }
            }
            for summary in cluster.summaries.iter_mut() {
                let found = summary.matches(0, subject.as_bytes()).expect("account 0");
                prop_assert_eq!(found.plain, plain);
                let mut seen: Vec<(Bytes, Destination, u32)> = found
                    .queues
                    .iter()
                    .flat_map(|(group, at)| at.iter().map(move |(destination, count)| (group.clone(), *destination, *count)))
                    .collect();
                let key = |member: &(Bytes, Destination, u32)| {
                    let Destination::Shard(shard) = member.1;
                    (member.0.clone(), shard)
                };
                seen.sort_by_key(key);
                let mut expected = members.clone();
                expected.sort_by_key(key);
                prop_assert_eq!(seen, expected);
            }
        }
    }
}
