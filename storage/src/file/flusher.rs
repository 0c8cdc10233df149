//! The flusher: the one task per store that writes the queued records, syncs the blocks they
//! went to (one `fdatasync` per block per round, however many calls queued records), and then
//! wakes every waiting call. The next round starts as soon as a sync returns, so latency stays
//! at one sync under low load and throughput grows with concurrency under high load.

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
        if !state.queue.is_empty()
            || state.closing
            || state.failure.is_some()
            || state.sync_requested
        {
            return std::task::Poll::Ready(());
        }
        state.flusher_waker = Some(context.waker().clone());
        std::task::Poll::Pending
    }
}

/// The store's one flusher: write the queue, sync, acknowledge, repeat.
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
            let stop = state.failure.is_some() || (state.closing && segments.is_empty());
            let sync_requested = std::mem::take(&mut state.sync_requested);
            (segments, state.appended, stop, sync_requested)
        };
        let sync_due = match sync_interval {
            None => true,
            Some(interval) => last_sync.elapsed() >= interval || stop || sync_requested,
        };
        let outcome = flush(&shared, segments, ticket, sync_due).await;
        if sync_due {
            last_sync = Instant::now();
        }
        if let Err(error) = outcome {
            let mut state = shared.borrow_mut();
            if state.failure.is_none() {
                state.failure = Some(error.to_string());
            }
        }
        let finished = {
            let state = shared.borrow();
            state.failure.is_some() || (state.closing && state.queue.is_empty() && stop)
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

/// Writes the segments, then (when due) syncs every block written since the last sync.
async fn flush(
    shared: &Rc<RefCell<State>>,
    segments: Vec<WriteSegment>,
    ticket: u64,
    sync_due: bool,
) -> Result<()> {
    let mut created_block = false;
    for segment in segments {
        let (path, existing_file) = {
            let state = shared.borrow();
            match state.blocks.get(&segment.block_id) {
                Some(block) => (block.path.clone(), block.file.clone()),
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
        let compio::BufResult(written, _) = file.write_all_at(segment.bytes, segment.offset).await;
        written.map_err(|error| StoreError::io("write block", &path, error))?;
        let mut state = shared.borrow_mut();
        if let Some(block) = state.blocks.get_mut(&segment.block_id) {
            block.written_len = segment.offset + len;
            block.file.get_or_insert(file);
        }
        state.unsynced_blocks.insert(segment.block_id);
    }
    if created_block {
        let blocks_dir = shared.borrow().dir.join("blocks");
        sync_dir(&blocks_dir).await?;
    }
    shared.borrow_mut().written = ticket;
    if !sync_due {
        return Ok(());
    }
    let to_sync = {
        let mut state = shared.borrow_mut();
        let block_ids = std::mem::take(&mut state.unsynced_blocks);
        let mut to_sync = Vec::with_capacity(block_ids.len());
        for block_id in &block_ids {
            let Some(block) = state.blocks.get(block_id) else {
                continue;
            };
            let (file, path) = (block.file.clone(), block.path.clone());
            // A block written to in this session keeps its writer's handle until synced, so
            // the cache is only a fallback here (fdatasync works on a read-only descriptor).
            let file = file.or_else(|| state.read_files.get(*block_id));
            to_sync.push((file, path));
        }
        to_sync
    };
    for (file, path) in to_sync {
        let file = match file {
            Some(file) => file,
            None => compio::fs::File::open(&path)
                .await
                .map_err(|error| StoreError::io("open block for fdatasync", &path, error))?,
        };
        file.sync_data()
            .await
            .map_err(|error| StoreError::io("fdatasync block", &path, error))?;
    }
    let mut state = shared.borrow_mut();
    state.durable = ticket;
    state.sync_rounds += 1;
    // Blocks sealed before this round are done being written: hand their writer handles to
    // the bounded read cache. They form a run just below the active block (earlier ones were
    // handed over in earlier rounds), so the walk stops at the first block without one.
    let active_block_id = state.active_block_id;
    let mut sealed = Vec::new();
    for (block_id, block) in state.blocks.range_mut(..active_block_id).rev() {
        match block.file.take() {
            Some(file) => sealed.push((*block_id, file)),
            None => break,
        }
    }
    for (block_id, file) in sealed.into_iter().rev() {
        state.read_files.insert(block_id, file);
    }
    Ok(())
}
