//! The consumer machines' only randomness, seeded by the runtime so that a test can replay
//! a run: NUID-shaped ids for advisories and pins, flow control reply tokens, generated
//! consumer names, ack sampling.

use super::wire::{account_hash, BASE62};

/// A seeded generator (SplitMix64) of the ids the Go server makes with `nuid` and
/// `math/rand`.
#[derive(Debug, Clone)]
pub struct IdGenerator {
    state: u64,
    prefix: [u8; 12],
    sequence: u64,
    increment: u64,
}

/// The sequence part of a NUID: 10 base-62 digits.
const SEQUENCE_SPAN: u64 = 839_299_365_868_340_224; // 62^10

impl IdGenerator {
    /// A generator seeded with `seed` (the runtime passes entropy; tests a constant).
    pub fn new(seed: u64) -> IdGenerator {
        let mut generator = IdGenerator {
            state: seed,
            prefix: [0; 12],
            sequence: 0,
            increment: 0,
        };
        generator.renew_prefix();
        generator
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut value = self.state;
        value = (value ^ (value >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        value = (value ^ (value >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        value ^ (value >> 31)
    }

    /// A number in `0..bound` (`bound` > 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound.max(1)
    }

    /// A 22-character id shaped like a NUID: a random 12-character prefix and a sequence
    /// advanced by a random step.
    pub fn nuid(&mut self) -> String {
        self.sequence += self.increment;
        if self.sequence >= SEQUENCE_SPAN {
            self.renew_prefix();
        }
        let mut out = String::with_capacity(22);
        out.extend(self.prefix.iter().map(|byte| char::from(*byte)));
        let mut digits = [0u8; 10];
        let mut rest = self.sequence;
        for digit in digits.iter_mut().rev() {
            *digit = BASE62[(rest % 62) as usize];
            rest /= 62;
        }
        out.extend(digits.iter().map(|byte| char::from(*byte)));
        out
    }

    /// A 4-character token for a flow control reply subject (Go's `fcReply`).
    pub fn flow_control_token(&mut self) -> String {
        let mut value = self.next_u64();
        (0..4)
            .map(|_| {
                let ch = char::from(BASE62[(value % 62) as usize]);
                value /= 62;
                ch
            })
            .collect()
    }

    /// A name for a legacy ephemeral consumer (Go's `createConsumerName`: the hash of a
    /// NUID).
    pub fn consumer_name(&mut self) -> String {
        let nuid = self.nuid();
        account_hash(&nuid)
    }

    fn renew_prefix(&mut self) {
        for index in 0..self.prefix.len() {
            self.prefix[index] = BASE62[self.below(62) as usize];
        }
        self.sequence = self.below(SEQUENCE_SPAN);
        self.increment = 33 + self.below(333 - 33);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_nuid_shaped_and_replayable() {
        let mut generator = IdGenerator::new(7);
        let ids: Vec<String> = (0..1000).map(|_| generator.nuid()).collect();
        assert!(ids.iter().all(|id| id.len() == 22));
        let unique: std::collections::HashSet<&String> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len());
        let mut again = IdGenerator::new(7);
        assert_eq!(again.nuid(), ids[0]);
        assert_eq!(generator.flow_control_token().len(), 4);
        assert_eq!(generator.consumer_name().len(), 8);
        assert!(generator.below(10) < 10);
    }
}
