//! The flusher: the one task per store that writes the queued records, syncs the blocks they
//! went to (one `fdatasync` per block per round, however many calls queued records), and then
//! wakes every waiting call (group commit).
//!
//! Rounds overlap: once a round's writes are handed to the kernel, its syncs run in a task of
//! their own and the flusher takes the next queue at once, up to [`ROUNDS_IN_FLIGHT_MAX`]
//! rounds. A record queued while a sync is in flight so waits for one sync of its own, not for
//! the end of the one in flight and then its own (1.5 syncs on average with serial rounds).
//! Each round's `fdatasync` is issued after its own writes and every earlier round's writes
//! returned, and a round is acknowledged only when it and every earlier round are done, so
//! `durable` never passes a byte that is not on stable storage.
//!
//! Preallocation: an append past the end of a file changes its size, and `fdatasync` must
//! then commit the file system's journal as well as the data (ext4 on the development VM, 16 KB
//! written then `fdatasync`, with little other disk traffic: 1.3-1.8 ms mean when appending,
//! 0.13-0.19 ms when overwriting inside the file; under heavy traffic from other processes
//! both take milliseconds, the overwrite still less). So when a write reaches past the zeros already written ahead, the
//! flusher writes the records followed by more zeros, doubling the block's file from 64 KiB up
//! to the block size limit: a block of 8 MiB costs 8 journal commits instead of one per round.
//! Zeros are written, not `fallocate`d: writing into unwritten extents converts them, which is
//! a journal commit again.

use super::*;

pub(super) fn wake_flusher(shared: &Rc<RefCell<State>>) {
    let waker = shared
        .try_borrow_mut()
        .ok()
        .and_then(|mut state| state.flusher_waker.take());
    if let Some(waker) = waker {
        waker.wake();
    }
}

/// Sync rounds that may be in flight at once. Two already take a record's wait from one and a
/// half syncs to one; more only queue behind the device's cache flush.
const ROUNDS_IN_FLIGHT_MAX: usize = 2;

/// Resolves when the flusher has something to do.
struct FlusherWork {
    shared: Rc<RefCell<State>>,
}

impl std::future::Future for FlusherWork {
    type Output = ();

    fn poll(
        self: std::pin::Pin<&mut Self>,
        context: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        let mut state = self.shared.borrow_mut();
        let idle = state.rounds_in_flight.is_empty();
        let room = state.rounds_in_flight.len() < ROUNDS_IN_FLIGHT_MAX;
        if state.failure.is_some()
            || (state.closing && idle)
            || (room && (!state.queue.is_empty() || state.sync_requested))
        {
            return std::task::Poll::Ready(());
        }
        state.flusher_waker = Some(context.waker().clone());
        std::task::Poll::Pending
    }
}

/// The store's one flusher: write the queue, start its sync, repeat.
pub(super) async fn run_flusher(shared: Rc<RefCell<State>>) {
    let mut last_sync = Instant::now();
    loop {
        let sync_policy = shared.borrow().options.sync;
        let sync_interval = match sync_policy {
            SyncPolicy::Always => None,
            SyncPolicy::Interval(interval) => Some(interval),
        };
        let work = FlusherWork {
            shared: Rc::clone(&shared),
        };
        match sync_interval {
            None => work.await,
            Some(interval) => {
                let _timed_out = compio::time::timeout(interval, work).await;
            }
        }
        let (segments, ticket, stop, sync_requested) = {
            let mut state = shared.borrow_mut();
            let segments = std::mem::take(&mut state.queue);
            let idle = state.rounds_in_flight.is_empty();
            let stop = state.failure.is_some() || (state.closing && segments.is_empty() && idle);
            let sync_requested = std::mem::take(&mut state.sync_requested);
            (segments, state.appended, stop, sync_requested)
        };
        let sync_due = match sync_interval {
            None => true,
            Some(interval) => last_sync.elapsed() >= interval || stop || sync_requested,
        };
        let outcome = match write_round(&shared, segments, ticket).await {
            Ok(created_block) if sync_due => {
                last_sync = Instant::now();
                let round = start_round(&shared, ticket, created_block);
                if stop {
                    // The last round: finish it here, so that the flusher ends after it.
                    sync_round(Rc::clone(&shared), round).await;
                } else {
                    compio::runtime::spawn(sync_round(Rc::clone(&shared), round)).detach();
                }
                Ok(())
            }
            Ok(_) => Ok(()),
            Err(error) => Err(error),
        };
        if let Err(error) = outcome {
            fail(&shared, &error);
        }
        let finished = {
            let state = shared.borrow();
            state.failure.is_some()
                || (state.closing
                    && state.queue.is_empty()
                    && state.rounds_in_flight.is_empty()
                    && stop)
        };
        if finished {
            shared.borrow_mut().flusher_done = true;
            wake_all(&shared);
            wake_completed(&shared);
            return;
        }
        wake_all(&shared);
        wake_completed(&shared);
    }
}

/// Records the store's first failure; it refuses changes from then on.
fn fail(shared: &Rc<RefCell<State>>, error: &StoreError) {
    let mut state = shared.borrow_mut();
    if state.failure.is_none() {
        state.failure = Some(error.to_string());
    }
}

/// The smallest step a block file grows by when preallocating.
const PREALLOCATION_MIN_BYTES: u64 = 64 * 1024;

/// The size a block file must be extended to (with zeros) when a write ends at `end` and the
/// file is `allocated_len` long; `None` when the write fits or preallocation is off. The file
/// doubles, at least by [`PREALLOCATION_MIN_BYTES`], and never past the block size limit (the
/// record that crosses the limit seals the block and ends exactly at the file's end).
fn preallocation_target(
    allocated_len: u64,
    end: u64,
    (preallocate, block_size_max): (bool, u64),
) -> Option<u64> {
    if !preallocate || end <= allocated_len {
        return None;
    }
    let target = end
        .saturating_add(end.max(PREALLOCATION_MIN_BYTES))
        .min(block_size_max);
    (target > end).then_some(target)
}

/// Writes the segments (the records up to `ticket`) to their blocks; returns whether a block
/// file was created, whose directory entry the round's sync must make durable too.
async fn write_round(
    shared: &Rc<RefCell<State>>,
    segments: Vec<WriteSegment>,
    ticket: u64,
) -> Result<bool> {
    let mut created_block = false;
    for segment in segments {
        let (path, existing_file, allocated_len, options) = {
            let state = shared.borrow();
            match state.blocks.get(&segment.block_id) {
                Some(block) => (
                    block.path.clone(),
                    block.file.clone(),
                    block.allocated_len,
                    (
                        state.options.preallocate,
                        state.options.block_size_max_bytes,
                    ),
                ),
                None => continue,
            }
        };
        let mut file = match existing_file {
            Some(file) => file,
            None => {
                let file = compio::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .open(&path)
                    .await
                    .map_err(|error| StoreError::io("create block", &path, error))?;
                created_block |= segment.create;
                file
            }
        };
        let len = segment.bytes.len() as u64;
        let end = segment.offset + len;
        let mut bytes = segment.bytes;
        if let Some(target) = preallocation_target(allocated_len, end, options) {
            // Zeros after the records, in the same write: this round's sync pays the one
            // journal commit that the size change needs, and the next rounds none.
            bytes.resize(
                usize::try_from(target - segment.offset).unwrap_or(bytes.len()),
                0,
            );
        }
        let file_end = segment.offset + bytes.len() as u64;
        let compio::BufResult(written, _) = file.write_all_at(bytes, segment.offset).await;
        written.map_err(|error| StoreError::io("write block", &path, error))?;
        let mut state = shared.borrow_mut();
        if let Some(block) = state.blocks.get_mut(&segment.block_id) {
            block.written_len = end;
            block.allocated_len = block.allocated_len.max(file_end);
            block.file.get_or_insert(file);
        }
        state.unsynced_blocks.insert(segment.block_id);
    }
    shared.borrow_mut().written = ticket;
    Ok(created_block)
}

/// What one sync round must do.
pub(super) struct Round {
    number: u64,
    created_block: bool,
    /// The blocks written since the last round: id, handle (if open) and path.
    blocks: Vec<(u32, Option<compio::fs::File>, PathBuf)>,
}

/// Takes the blocks written since the last round into a new round, registered in flight.
fn start_round(shared: &Rc<RefCell<State>>, ticket: u64, created_block: bool) -> Round {
    let mut state = shared.borrow_mut();
    let block_ids = std::mem::take(&mut state.unsynced_blocks);
    let mut blocks = Vec::with_capacity(block_ids.len());
    for block_id in block_ids {
        let Some(block) = state.blocks.get_mut(&block_id) else {
            continue;
        };
        block.syncs_in_flight += 1;
        let (file, path) = (block.file.clone(), block.path.clone());
        // A block written to in this session keeps its writer's handle until synced, so
        // the cache is only a fallback here (fdatasync works on a read-only descriptor).
        let file = file.or_else(|| state.read_files.get(block_id));
        blocks.push((block_id, file, path));
    }
    state.rounds_started += 1;
    let number = state.rounds_started;
    state.rounds_in_flight.push_back((number, ticket, false));
    Round {
        number,
        created_block,
        blocks,
    }
}

/// Syncs a round's blocks (and the blocks directory when a block was created), then
/// acknowledges every round that is done in order.
async fn sync_round(shared: Rc<RefCell<State>>, round: Round) {
    let block_ids: Vec<u32> = round.blocks.iter().map(|(id, _, _)| *id).collect();
    let outcome = sync_blocks(&shared, &round).await;
    let mut state = shared.borrow_mut();
    for block_id in block_ids {
        if let Some(block) = state.blocks.get_mut(&block_id) {
            block.syncs_in_flight = block.syncs_in_flight.saturating_sub(1);
        }
    }
    if let Some(entry) = state
        .rounds_in_flight
        .iter_mut()
        .find(|(number, _, _)| *number == round.number)
    {
        entry.2 = true;
    }
    match outcome {
        Err(error) => {
            if state.failure.is_none() {
                state.failure = Some(error.to_string());
            }
            state.rounds_in_flight.clear();
        }
        Ok(()) => {
            while let Some((_, ticket, true)) = state.rounds_in_flight.front().copied() {
                state.rounds_in_flight.pop_front();
                state.durable = state.durable.max(ticket);
                state.sync_rounds += 1;
            }
            hand_over_sealed_blocks(&mut state);
        }
    }
    drop(state);
    wake_all(&shared);
    wake_completed(&shared);
    wake_flusher(&shared);
}

async fn sync_blocks(shared: &Rc<RefCell<State>>, round: &Round) -> Result<()> {
    if round.created_block {
        let blocks_dir = shared.borrow().dir.join("blocks");
        sync_dir(&blocks_dir).await?;
    }
    for (_, file, path) in &round.blocks {
        let file = match file {
            Some(file) => file.clone(),
            None => compio::fs::File::open(path)
                .await
                .map_err(|error| StoreError::io("open block for fdatasync", path, error))?,
        };
        file.sync_data()
            .await
            .map_err(|error| StoreError::io("fdatasync block", path, error))?;
    }
    Ok(())
}

/// Blocks sealed and synced are done being written: hand their writer handles to the bounded
/// read cache. They form a run just below the active block (earlier ones were handed over
/// before), so the walk stops at the first block without one.
fn hand_over_sealed_blocks(state: &mut State) {
    let active_block_id = state.active_block_id;
    let mut sealed = Vec::new();
    let unsynced = &state.unsynced_blocks;
    for (block_id, block) in state.blocks.range_mut(..active_block_id).rev() {
        if block.file.is_none() {
            break;
        }
        if block.syncs_in_flight > 0 || unsynced.contains(block_id) {
            continue;
        }
        if let Some(file) = block.file.take() {
            sealed.push((*block_id, file));
        }
    }
    for (block_id, file) in sealed.into_iter().rev() {
        state.read_files.insert(block_id, file);
    }
}
