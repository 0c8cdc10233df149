//! How the process asks the C allocator to behave; owns nothing else.
//!
//! glibc's malloc serves a large block from an `mmap` of its own, returned to the kernel when
//! freed, but only until the first such block is freed: from then on it raises the threshold
//! to that block's size, so every later large block lives in a shard's arena and stays in the
//! process after it is freed. The tables that grow by doubling (a shard's share of the
//! interest summary, its subscription index and slab) leave every smaller generation behind
//! that way: with 100,000 subscriptions on 16 shards that was about 220 bytes of resident
//! memory per subscription that nothing used (measured with `malloc_stats` and
//! `natrix-bench --scenarios memory-per-subscription`). Fixing the thresholds keeps large
//! blocks in their own mappings, so a freed table goes back to the kernel at once.
//!
//! The message path allocates small blocks (below the threshold) and is not affected; a
//! buffer that grows past the threshold is moved with `mremap` by `realloc`, not copied.

/// Blocks of this size and more get their own mapping (glibc's default before it adapts).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD_BYTES: libc::c_int = 256 * 1024;

/// Free memory at the top of an arena beyond this is returned to the kernel. Larger than
/// glibc's starting value so that a shard's arena is not shrunk and regrown on every burst.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_THRESHOLD_BYTES: libc::c_int = 8 * 1024 * 1024;

/// Sets the allocator's thresholds; call first in `main`, before any other thread runs.
pub fn return_large_blocks_to_the_kernel() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes the allocator's parameters; it is called before any
        // other thread exists, with parameters and values glibc documents.
        let set = unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
                & libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
        };
        // mallopt returns 1 on success; a refusal leaves glibc's defaults, which only cost
        // memory, so it is not worth stopping for.
        debug_assert_eq!(set, 1, "glibc refused the malloc thresholds");
    }
}
