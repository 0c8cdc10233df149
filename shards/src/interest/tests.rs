use std::collections::VecDeque;

use proptest::prelude::*;

use super::*;

fn bytes(text: &str) -> Bytes {
    Bytes::copy_from_slice(text.as_bytes())
}

fn plain(summary: &mut InterestSummary, subject: &str) -> Vec<Destination> {
    summary
        .matches(0, subject.as_bytes())
        .plain
        .iter()
        .collect()
}

fn change(origin: ShardId, pattern: &str, queue: Option<&str>, delta: i32) -> InterestChange {
    InterestChange {
        origin: Destination::Shard(origin),
        account: 0,
        pattern: bytes(pattern),
        queue: queue.map(bytes),
        delta,
    }
}

#[test]
fn own_plain_interest_is_broadcast_but_left_to_the_own_index() {
    let mut summary = InterestSummary::new(0, 2, 1);
    let pattern = bytes("orders.new");
    let broadcast = summary.own_change(0, &pattern, None, 1);
    assert_eq!(broadcast, Some(change(0, "orders.new", None, 1)));
    assert!(plain(&mut summary, "orders.new").is_empty());
    summary.validate().expect("consistent");
}

#[test]
fn another_shards_interest_is_a_destination_until_it_goes() {
    let mut summary = InterestSummary::new(0, 3, 1);
    summary.apply(&change(2, "orders.new", None, 1));
    summary.apply(&change(1, "orders.*", None, 1));
    assert_eq!(
        plain(&mut summary, "orders.new"),
        vec![Destination::Shard(1), Destination::Shard(2)]
    );
    assert_eq!(
        plain(&mut summary, "orders.old"),
        vec![Destination::Shard(1)]
    );
    summary.apply(&change(2, "orders.new", None, -1));
    assert_eq!(
        plain(&mut summary, "orders.new"),
        vec![Destination::Shard(1)]
    );
    summary.apply(&change(1, "orders.*", None, -1));
    assert!(plain(&mut summary, "orders.new").is_empty());
    summary.validate().expect("consistent");
    assert_eq!(summary.pattern_count(), 0);
}

#[test]
fn every_queue_member_is_broadcast_and_weights_add_up() {
    let mut mine = InterestSummary::new(0, 2, 1);
    let mut other = InterestSummary::new(1, 2, 1);
    let (pattern, group) = (bytes("jobs"), bytes("workers"));
    for _ in 0..3 {
        let change = mine
            .own_change(0, &pattern, Some(&group), 1)
            .expect("each member counts");
        other.apply(&change);
    }
    let change = other
        .own_change(0, &pattern, Some(&group), 1)
        .expect("member");
    mine.apply(&change);
    assert_eq!(mine.own_queue_members(0, b"jobs", &group), 3);
    assert_eq!(other.own_queue_members(0, b"jobs", &group), 1);
    for summary in [&mut mine, &mut other] {
        summary.validate().expect("consistent");
        let found = summary.matches(0, b"jobs");
        assert!(found.plain.is_empty());
        let (name, members) = &found.queues()[0];
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
    assert_eq!(summary.own_change(0, &bytes("a"), None, 1), None);
    assert!(plain(&mut summary, "a").is_empty());
    summary.validate().expect("nothing to check");
}

/// Two literal subjects whose hashes collide, found by a birthday search with the
/// summary's own keys.
fn colliding_subjects(summary: &InterestSummary) -> (String, String) {
    let mut seen: AHashMap<u32, String> = AHashMap::new();
    for index in 0u64.. {
        let subject = format!("subject.{index}");
        let hash = hash32(&summary.hasher, subject.as_bytes());
        if let Some(earlier) = seen.insert(hash, subject.clone()) {
            return (earlier, subject);
        }
    }
    unreachable!("a 32-bit hash collides within 2^32 + 1 subjects")
}

#[test]
fn subjects_that_share_a_hash_never_lose_interest() {
    let mut summary = InterestSummary::new(0, 3, 1);
    let (first, second) = colliding_subjects(&summary);
    // Both subjects on shard 1: one slot, counted twice.
    summary.apply(&change(1, &first, None, 1));
    summary.apply(&change(1, &second, None, 1));
    summary.validate().expect("consistent");
    summary.apply(&change(1, &first, None, -1));
    assert_eq!(
        plain(&mut summary, &second),
        vec![Destination::Shard(1)],
        "the other subject keeps its interest"
    );
    // A third shard's interest in the first subject: the slot names both shards (a publish
    // on the second subject may be handed to shard 2 for nothing, never missed by shard 1).
    summary.apply(&change(2, &first, None, 1));
    assert_eq!(
        plain(&mut summary, &second),
        vec![Destination::Shard(1), Destination::Shard(2)]
    );
    summary.apply(&change(1, &second, None, -1));
    summary.apply(&change(2, &first, None, -1));
    assert!(plain(&mut summary, &first).is_empty());
    summary.validate().expect("consistent");
    assert_eq!(summary.pattern_count(), 0);
}

#[test]
fn validate_reports_interned_sets_out_of_step_with_the_table() {
    let mut summary = InterestSummary::new(0, 2, 1);
    summary.apply(&change(1, "a", None, 1));
    summary.validate().expect("consistent");
    summary.sets.sets[0].1 += 1;
    assert!(matches!(
        summary.validate(),
        Err(InterestError::SetReferences { .. })
    ));
}

#[test]
fn unknown_accounts_and_removals_of_nothing_are_ignored() {
    let mut summary = InterestSummary::new(1, 3, 1);
    summary.apply(&change(2, "a", None, -1));
    summary.apply(&InterestChange {
        account: 9,
        ..change(2, "a", None, 1)
    });
    assert!(summary.matches(9, b"a").plain.is_empty());
    summary.ensure_accounts(10);
    summary.apply(&InterestChange {
        account: 9,
        ..change(2, "a", None, 1)
    });
    assert_eq!(
        summary.matches(9, b"a").plain.iter().collect::<Vec<_>>(),
        vec![Destination::Shard(2)]
    );
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

    /// What the shard's own index would tell: plain interest at the first/last plain
    /// subscription on a pattern, every queue member.
    fn own_delta(&self, shard: usize, pattern: usize, group: usize, sign: i32) -> i32 {
        if GROUPS[group].is_some() {
            return sign;
        }
        let others = self
            .live
            .iter()
            .filter(|&&(at, p, g)| at == shard && p == pattern && GROUPS[g].is_none())
            .count();
        i32::from(others == 0) * sign
    }

    fn change(&mut self, shard: usize, pattern: usize, group: usize, delta: i32) {
        let queue = GROUPS[group].map(bytes);
        let change =
            self.summaries[shard].own_change(0, &bytes(PATTERNS[pattern]), queue.as_ref(), delta);
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
                let delta = self.own_delta(shard, pattern, group, 1);
                self.live.push((shard, pattern, group));
                self.change(shard, pattern, group, delta);
            }
            Step::Unsubscribe { nth } => {
                if self.live.is_empty() {
                    return;
                }
                let (shard, pattern, group) = self.live.swap_remove(nth % self.live.len());
                let delta = self.own_delta(shard, pattern, group, -1);
                self.change(shard, pattern, group, delta);
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
            let mut plain_interest = DestinationSet::default();
            let mut members: Vec<(Bytes, Destination, u32)> = Vec::new();
            for &(shard, pattern, group) in &cluster.live {
                if !crate::subject::pattern_matches(PATTERNS[pattern].as_bytes(), subject.as_bytes()) {
                    continue;
                }
                let destination = Destination::Shard(shard as ShardId);
                match GROUPS[group] {
                    None => plain_interest.insert(destination),
                    Some(name) => match members.iter_mut().find(|(group, at, _)| group == name.as_bytes() && *at == destination) {
                        Some(member) => member.2 += 1,
                        None => members.push((bytes(name), destination, 1)),
                    },
                }
            }
            for (index, summary) in cluster.summaries.iter_mut().enumerate() {
                let found = summary.matches(0, subject.as_bytes());
                // A shard's own plain interest is its index's to answer.
                let mut expected_plain = plain_interest;
                expected_plain.remove(Destination::Shard(index as ShardId));
                prop_assert_eq!(found.plain, expected_plain);
                let mut seen: Vec<(Bytes, Destination, u32)> = found
                    .queues()
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
