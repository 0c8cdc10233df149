//! Which shard owns a stream, and which shard keeps the directory.
//!
//! The owner is a stable hash of the account and stream names modulo the shard count, so any
//! shard finds it without asking, and it does not depend on where the files are: a stream's
//! files live at `<store_dir>/<account>/streams/<stream>/` whatever shard owns it, so a start
//! with another shard count re-derives every owner and loses nothing.

use crate::mesh::ShardId;

/// The shard that keeps the directory of every stream of every account.
pub const META_SHARD: ShardId = 0;

/// The shard that owns stream `stream` of account `account` among `shard_count` shards.
pub fn owner(account: &str, stream: &str, shard_count: usize) -> ShardId {
    // FNV-1a, 64 bits: the standard library's hashers are not promised to stay the same
    // across releases, and a changed owner would only cost a slower start, but a fixed
    // function keeps placement predictable for operators and tests.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let bytes = account
        .bytes()
        .chain(std::iter::once(0))
        .chain(stream.bytes());
    for byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (hash % shard_count.max(1) as u64) as ShardId
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_are_stable_and_spread_over_shards() {
        assert_eq!(owner("$G", "ORDERS", 1), 0);
        assert_eq!(owner("$G", "ORDERS", 4), owner("$G", "ORDERS", 4));
        let mut used = [0usize; 4];
        for index in 0..400 {
            used[usize::from(owner("$G", &format!("S{index}"), 4))] += 1;
        }
        assert!(used.iter().all(|count| *count > 50), "{used:?}");
        // The account is part of the key.
        let differs = (0..50).any(|index| {
            let name = format!("S{index}");
            owner("A", &name, 8) != owner("B", &name, 8)
        });
        assert!(differs);
    }
}
