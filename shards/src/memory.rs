//! Handing freed memory back to the kernel; owns nothing else.
//!
//! glibc's malloc keeps what a thread frees in that thread's arena. A table that grows by
//! doubling (a shard's literal interest table holds one slot per subject other shards
//! subscribe to) frees each smaller generation there, and nothing reuses it: with 100,000
//! subscriptions on 16 shards every other shard's arena held 2.4 MB for a 1.2 MB table, about
//! 170 bytes of resident memory per subscription (measured with `malloc_stats`). Trimming
//! after such a growth returns those pages. It is not a process-wide allocator setting on
//! purpose: fixing glibc's mmap threshold did the same but made message buffers over the
//! threshold come and go as mappings (an mmap, munmap and mremap per flush and 2.4x the page
//! faults on cross-shard pub/sub).

/// Returns the free pages of every allocator arena to the kernel. It walks every arena, so
/// it is for rare events (a large table grew), never for the message path.
pub fn return_free_memory_to_the_kernel() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim takes the allocator's own locks and only releases pages that
        // hold no allocation; any thread may call it at any time.
        unsafe {
            libc::malloc_trim(0);
        }
    }
}
