//! [`FileStore`]: the catalog over append-only block files, driven by the shard's compio
//! (io_uring) runtime.
//!
//! Every change is a record appended to the active block: a message, or a removal (delete,
//! compact, truncate). Calls encode their records into an in-memory queue and update the
//! catalog at once, without awaiting, so concurrent calls are ordered exactly as their records.
//! One flusher task per store takes the whole queue, writes it, and issues one `fdatasync` for
//! every block it touched; every call whose records were in that batch is then acknowledged
//! (group commit). While a sync is in flight new records gather in the queue, and the next
//! batch starts as soon as the sync returns: one writer pays one sync, many writers share one.
//!
//! Recovery replays the blocks in order through the catalog (see `scan`), so the state after a
//! restart is the state the records describe. Block headers carry a checkpoint of the sequence
//! counters, which is what makes it safe to delete old blocks once nothing in them is kept.
//!
//! Modules: `flusher` (the group-commit task), `recovery` (open: salt, index, block replay),
//! `scan` (record scanning and damage classification, pure), `wait` (waiting on the shared
//! state without holding a borrow across `.await`).

mod flusher;
mod recovery;
mod scan;
mod wait;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::task::Waker;
use std::time::{Duration, Instant};

use bytes::Bytes;
use compio::io::{AsyncReadAtExt, AsyncWriteAtExt};

use crate::catalog::{self, Catalog, Removal};
use crate::codec::{self, BlockHeader, MessageRecord, Record, SnapshotContents};
use crate::error::{Result, StoreError};
use crate::mem::{ttl_ns, validate_consumer_name};
use crate::store::StreamStore;
use crate::subject;
use crate::types::{
    ConsumerState, NewMessage, PurgeRequest, SimpleState, StoreConfig, StoredMessage, StreamState,
};
use flusher::{run_flusher, wake_flusher};
use recovery::{
    load_index, recover_blocks, recover_consumers, remove_index, resolve_salt, tail_checksum,
};
use wait::{wake_all, wake_completed, TicketWait, WaitUntil, Wakers};

/// The most bytes `load_next_msgs` reads in one read (records that follow each other in a
/// block); a run that would be longer is read in several.
const READ_RUN_BYTES_MAX: u64 = 1024 * 1024;

/// When a store call that changed data may complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncPolicy {
    /// Only once the change is on stable storage (`fdatasync`), with group commit. The default.
    #[default]
    Always,
    /// As soon as the change is written to the kernel (it survives a crash of this process but
    /// not a power failure); the files are synced at most this long afterwards, the Go
    /// server's default behavior. A power failure can lose that window.
    Interval(Duration),
}

/// How a [`FileStore`] lays out and syncs its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStoreOptions {
    /// A block is sealed and a new one started once it reaches this size.
    pub block_size_max_bytes: u64,
    /// The durability policy.
    pub sync: SyncPolicy,
    /// How many sealed block files stay open for reads (least recently used are closed). The
    /// active block is always open. Bounds file descriptors for large stores.
    pub open_block_files_max: usize,
    /// Whether the active block is extended ahead of its records with written zeros (see
    /// `flusher`): an `fdatasync` after an overwrite inside the file's size needs no journal
    /// commit, which makes group-commit rounds several times shorter on ext4 and XFS. The zero
    /// tail is cut at a clean close; recovery takes an all-zero tail as the end of the block.
    pub preallocate: bool,
}

impl Default for FileStoreOptions {
    fn default() -> Self {
        FileStoreOptions {
            block_size_max_bytes: 8 * 1024 * 1024,
            sync: SyncPolicy::Always,
            open_block_files_max: 64,
            preallocate: true,
        }
    }
}

/// A damaged byte range found during recovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DamagedRange {
    /// The block file.
    pub path: PathBuf,
    /// Where the damage starts.
    pub offset: u64,
    /// How many bytes are damaged.
    pub len: u64,
}

/// What [`FileStore::open`] found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Block files read.
    pub blocks_scanned: usize,
    /// Bytes of block files read and checksummed.
    pub bytes_scanned: u64,
    /// Records decoded (messages and removals).
    pub records_replayed: u64,
    /// Messages kept after replay.
    pub messages: u64,
    /// Time from the start of `open` until the store was ready.
    pub duration: Duration,
    /// Torn or damaged tails cut off the last block: unacknowledged writes cut by a crash.
    pub truncated_tails: Vec<DamagedRange>,
    /// Damage skipped in the middle of blocks; the records after it were kept.
    pub corrupt_ranges: Vec<DamagedRange>,
    /// Blocks whose 48-byte header was damaged; their records were still replayed.
    pub damaged_block_headers: Vec<PathBuf>,
    /// Consumer state files that failed their checksum and were ignored.
    pub damaged_consumer_files: Vec<PathBuf>,
    /// The catalog came from the index file written by the last clean close, so the blocks
    /// were not scanned (each record is still checksummed when it is loaded).
    pub index_used: bool,
    /// `store.meta` failed its checksum; the salt was taken from a block header and the file
    /// rewritten.
    pub store_meta_damaged: bool,
    /// Why an index file that was present could not be used (damaged, or the blocks changed
    /// since it was written); the blocks were scanned instead.
    pub index_discarded: Option<String>,
}

impl RecoveryReport {
    /// True when nothing was damaged or cut.
    pub fn is_clean(&self) -> bool {
        self.truncated_tails.is_empty()
            && self.corrupt_ranges.is_empty()
            && self.damaged_block_headers.is_empty()
            && self.damaged_consumer_files.is_empty()
            && self.index_discarded.is_none()
            && !self.store_meta_damaged
    }
}

/// A stream store in block files under one directory.
///
/// Layout: `store.meta` (the record salt), `blocks/NNNNNNNNNN.blk` (block files, format in
/// `storage/FORMAT.md`),
/// `consumers/<hex of name>.cs` (consumer state, replaced atomically) and `index` (the catalog
/// as of the last clean close; deleted on open, so it never outlives the blocks it describes).
pub struct FileStore {
    shared: Rc<RefCell<State>>,
    report: RecoveryReport,
}

/// Where a message record lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Location {
    block_id: u32,
    len: u32,
    offset: u64,
}

#[derive(Debug)]
struct Block {
    path: PathBuf,
    /// Open while the block is written to; sealed blocks are read through `State::read_files`.
    file: Option<compio::fs::File>,
    /// Bytes appended, including those still queued.
    len: u64,
    /// Bytes handed to the kernel.
    written_len: u64,
    /// Sync rounds in flight that sync this block: its writer handle stays with it until
    /// they are done.
    syncs_in_flight: u32,
    /// The file's size: `written_len` plus the zeros written ahead of the records.
    allocated_len: u64,
    live_messages: u64,
    removal_records: u64,
}

/// Bytes for one block, queued for the flusher.
#[derive(Debug)]
struct WriteSegment {
    block_id: u32,
    offset: u64,
    bytes: Vec<u8>,
    create: bool,
}

struct State {
    dir: PathBuf,
    options: FileStoreOptions,
    config: StoreConfig,
    catalog: Catalog<Location>,
    blocks: BTreeMap<u32, Block>,
    active_block_id: u32,
    queue: Vec<WriteSegment>,
    /// Bytes ever queued; a call's ticket is this counter right after its records.
    appended: u64,
    /// Bytes handed to the kernel (readable).
    written: u64,
    /// Bytes on stable storage.
    durable: u64,
    unsynced_blocks: BTreeSet<u32>,
    /// The first write failure; once set, the store refuses changes.
    failure: Option<String>,
    closing: bool,
    flusher_done: bool,
    flusher_waker: Option<Waker>,
    waiters: Vec<Waker>,
    ticket_waiters: std::collections::VecDeque<(u64, Waker)>,
    consumers: BTreeMap<String, ConsumerState>,
    temp_file_counter: u64,
    /// Completed fdatasync rounds, for tests and benchmarks to see group commit at work.
    sync_rounds: u64,
    /// Sync rounds started and not yet complete, oldest first: the round's number, the ticket
    /// it makes durable and whether its syncs have returned (a later round may finish first;
    /// `durable` only moves over a run of finished rounds from the oldest). Two rounds can
    /// share a ticket (a sync asked for with nothing new queued), so rounds go by number.
    rounds_in_flight: std::collections::VecDeque<(u64, u64, bool)>,
    /// Sync rounds started since open; numbers the rounds.
    rounds_started: u64,
    /// A caller needs a sync now, even under the interval policy.
    sync_requested: bool,
    /// The store's record salt, mixed into every record checksum (see `codec::SNAPSHOT_SALT`).
    salt: u32,
    read_files: BlockFileCache,
}

/// Read handles of sealed blocks, least recently used first, at most `capacity` of them.
#[derive(Debug)]
struct BlockFileCache {
    capacity: usize,
    entries: std::collections::VecDeque<(u32, compio::fs::File)>,
}

impl BlockFileCache {
    fn get(&mut self, block_id: u32) -> Option<compio::fs::File> {
        let position = self.entries.iter().position(|(id, _)| *id == block_id)?;
        let entry = self.entries.remove(position)?;
        let file = entry.1.clone();
        self.entries.push_back(entry);
        Some(file)
    }

    fn insert(&mut self, block_id: u32, file: compio::fs::File) {
        self.remove(block_id);
        self.entries.push_back((block_id, file));
        while self.entries.len() > self.capacity.max(1) {
            self.entries.pop_front();
        }
    }

    fn remove(&mut self, block_id: u32) {
        self.entries.retain(|(id, _)| *id != block_id);
    }
}

impl Wakers for State {
    fn waiters(&mut self) -> &mut Vec<Waker> {
        &mut self.waiters
    }

    fn ticket_waiters(&mut self) -> &mut std::collections::VecDeque<(u64, Waker)> {
        &mut self.ticket_waiters
    }

    fn completed_ticket(&self) -> Option<u64> {
        if self.failure.is_some() || self.flusher_done {
            return None;
        }
        Some(match self.options.sync {
            SyncPolicy::Always => self.durable,
            SyncPolicy::Interval(_) => self.written.max(self.durable),
        })
    }
}

impl State {
    /// Whether a call whose records end at `ticket` may complete: they are durable (or,
    /// under the interval policy, written), or the store failed and the call must see it.
    fn ticket_done(&self, ticket: u64) -> bool {
        let interval = matches!(self.options.sync, SyncPolicy::Interval(_));
        self.failure.is_some()
            || self.flusher_done
            || self.durable >= ticket
            || (interval && self.written >= ticket)
    }
}

/// Opens an existing block file for reading and writing.
async fn open_block(path: &Path) -> Result<compio::fs::File, StoreError> {
    compio::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .await
        .map_err(|error| StoreError::io("open block", path, error))
}

fn block_path(dir: &Path, block_id: u32) -> PathBuf {
    dir.join("blocks").join(format!("{block_id:010}.blk"))
}

fn consumer_path(dir: &Path, name: &str) -> PathBuf {
    let hex: String = name.bytes().map(|byte| format!("{byte:02x}")).collect();
    dir.join("consumers").join(format!("{hex}.cs"))
}

fn consumer_name_from_file(path: &Path) -> Option<String> {
    let stem = path.file_stem()?.to_str()?;
    if path.extension()? != "cs" || stem.len() % 2 != 0 {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..stem.len())
        .step_by(2)
        .map(|index| u8::from_str_radix(stem.get(index..index + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

async fn sync_dir(path: &Path) -> Result<()> {
    let dir = compio::fs::OpenOptions::new()
        .read(true)
        .open(path)
        .await
        .map_err(|error| StoreError::io("open directory", path, error))?;
    dir.sync_all()
        .await
        .map_err(|error| StoreError::io("fsync directory", path, error))
}

/// Writes `bytes` to `path` atomically: a temporary file is written and fsynced, renamed over
/// `path`, and the directory is fsynced, so a crash leaves either the old or the new content.
async fn write_atomically(path: &Path, temp_suffix: u64, bytes: Vec<u8>) -> Result<()> {
    let temp = path.with_extension(format!("tmp{temp_suffix}"));
    let mut file = compio::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&temp)
        .await
        .map_err(|error| StoreError::io("create temporary file", &temp, error))?;
    let compio::BufResult(written, _) = file.write_all_at(bytes, 0).await;
    written.map_err(|error| StoreError::io("write temporary file", &temp, error))?;
    file.sync_all()
        .await
        .map_err(|error| StoreError::io("fsync temporary file", &temp, error))?;
    drop(file);
    compio::fs::rename(&temp, path)
        .await
        .map_err(|error| StoreError::io("rename into place", path, error))?;
    match path.parent() {
        Some(parent) => sync_dir(parent).await,
        None => Ok(()),
    }
}

impl FileStore {
    /// Opens (or creates) the store in `dir`, recovering what is there: checksums are verified,
    /// a torn tail is cut, damage in the middle is skipped and reported, and limits are applied.
    /// Must run inside a compio runtime; the store spawns its flusher task on it.
    pub async fn open(
        dir: impl AsRef<Path>,
        config: StoreConfig,
        options: FileStoreOptions,
    ) -> Result<FileStore> {
        let started = Instant::now();
        let dir = dir.as_ref().to_path_buf();
        let blocks_dir = dir.join("blocks");
        let consumers_dir = dir.join("consumers");
        let is_new = !dir.join("store.meta").exists() && !blocks_dir.exists();
        for path in [&blocks_dir, &consumers_dir] {
            compio::fs::create_dir_all(path)
                .await
                .map_err(|error| StoreError::io("create directory", path, error))?;
        }
        if is_new {
            // The store directory's own entry must be durable before anything in it is
            // acknowledged (its children are covered by the fsync after store.meta's rename).
            if let Some(parent) = dir.parent().filter(|parent| !parent.as_os_str().is_empty()) {
                sync_dir(parent).await?;
            }
        }
        let mut report = RecoveryReport::default();
        let open_block_files_max = options.open_block_files_max;
        let mut state = State {
            dir: dir.clone(),
            options,
            config: config.clone(),
            catalog: Catalog::default(),
            blocks: BTreeMap::new(),
            active_block_id: 0,
            queue: Vec::new(),
            appended: 0,
            written: 0,
            durable: 0,
            unsynced_blocks: BTreeSet::new(),
            failure: None,
            closing: false,
            flusher_done: false,
            flusher_waker: None,
            waiters: Vec::new(),
            ticket_waiters: std::collections::VecDeque::new(),
            consumers: BTreeMap::new(),
            temp_file_counter: 0,
            sync_rounds: 0,
            rounds_in_flight: std::collections::VecDeque::new(),
            rounds_started: 0,
            sync_requested: false,
            salt: resolve_salt(&dir, &mut report).await?,
            read_files: BlockFileCache {
                capacity: open_block_files_max,
                entries: std::collections::VecDeque::new(),
            },
        };
        if !load_index(&mut state, &mut report).await? {
            recover_blocks(&mut state, &mut report).await?;
        }
        remove_index(&dir).await?;
        recover_consumers(&mut state, &mut report).await?;
        report.messages = state.catalog.len();
        let needs_new_block = state.blocks.is_empty()
            || state
                .blocks
                .get(&state.active_block_id)
                .is_some_and(|block| block.len >= state.options.block_size_max_bytes);
        if needs_new_block {
            state.rotate();
        }
        let shared = Rc::new(RefCell::new(state));
        compio::runtime::spawn(run_flusher(Rc::clone(&shared))).detach();
        let store = FileStore { shared, report };
        // The limits may have changed since the store was last open.
        store.update_config(config).await?;
        let ticket = store.shared.borrow().appended;
        store.wait_for_ticket(ticket).await?;
        let mut store = store;
        store.report.duration = started.elapsed();
        Ok(store)
    }

    /// What recovery found when the store was opened.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.report
    }

    /// Why the store stopped accepting writes, if it has.
    pub fn write_failure(&self) -> Option<String> {
        self.shared.borrow().failure.clone()
    }

    /// How many sync rounds (one `fdatasync` per block written in the round) have completed
    /// since open. With many concurrent writers this grows much slower than the message count.
    pub fn sync_rounds(&self) -> u64 {
        self.shared.borrow().sync_rounds
    }

    /// Checks the catalog's indexes and the block accounting (for tests).
    pub fn validate(&self) -> std::result::Result<(), String> {
        let state = self.shared.borrow();
        state.catalog.validate()?;
        let mut live: HashMap<u32, u64> = HashMap::new();
        for (_, entry) in state.catalog.iter() {
            *live.entry(entry.location.block_id).or_default() += 1;
        }
        for (block_id, block) in &state.blocks {
            let counted = live.get(block_id).copied().unwrap_or(0);
            if counted != block.live_messages {
                return Err(format!(
                    "block {block_id} counts {} live messages, catalog has {counted}",
                    block.live_messages
                ));
            }
        }
        Ok(())
    }

    /// Waits until everything queued is durable, stops the flusher, and writes the index file
    /// so that the next open need not scan the blocks. Dropping the store instead is safe too
    /// (acknowledged data is durable either way); the next open then scans the blocks.
    pub async fn close(self) -> Result<()> {
        let ticket = self.shared.borrow().appended;
        let result = self.wait_for_ticket(ticket).await;
        self.shared.borrow_mut().closing = true;
        wake_flusher(&self.shared);
        WaitUntil {
            shared: Rc::clone(&self.shared),
            condition: |state: &State| state.flusher_done,
        }
        .await;
        result?;
        // The flusher's last round syncs everything (also under the interval policy); if that
        // failed, the caller must know, and no index may claim the blocks are complete.
        self.check_writable()?;
        self.cut_preallocated_tails().await?;
        self.write_index().await
    }

    /// Cuts the zeros written ahead of the records, so that every block file ends with its
    /// last record, as the index describes it.
    async fn cut_preallocated_tails(&self) -> Result<()> {
        let padded: Vec<(u32, u64)> = {
            let state = self.shared.borrow();
            state
                .blocks
                .iter()
                .filter(|(_, block)| block.allocated_len > block.len)
                .map(|(block_id, block)| (*block_id, block.len))
                .collect()
        };
        for (block_id, len) in padded {
            let Some((file, path)) = self.block_file(block_id).await? else {
                continue;
            };
            // The read handle cached for sealed blocks is read-only: truncate through a
            // writable one.
            let file = match file.set_len(len).await {
                Ok(()) => file,
                Err(_) => {
                    let writable = open_block(&path).await?;
                    writable
                        .set_len(len)
                        .await
                        .map_err(|error| StoreError::io("cut preallocated tail", &path, error))?;
                    writable
                }
            };
            file.sync_data()
                .await
                .map_err(|error| StoreError::io("fdatasync block", &path, error))?;
            if let Some(block) = self.shared.borrow_mut().blocks.get_mut(&block_id) {
                block.allocated_len = len;
            }
        }
        Ok(())
    }

    async fn write_index(&self) -> Result<()> {
        let blocks: Vec<(u32, u64, u64)> = {
            let state = self.shared.borrow();
            state
                .blocks
                .iter()
                .map(|(block_id, block)| (*block_id, block.len, block.removal_records))
                .collect()
        };
        let mut indexed_blocks = Vec::with_capacity(blocks.len());
        for (block_id, len, removal_records) in blocks {
            let Some((file, path)) = self.block_file(block_id).await? else {
                continue;
            };
            indexed_blocks.push(codec::IndexedBlock {
                block_id,
                len,
                removal_records,
                tail_checksum: tail_checksum(&file, &path, len).await?,
            });
        }
        let (bytes, path, suffix) = {
            let mut state = self.shared.borrow_mut();
            let mut subject_ids: HashMap<&str, u32> = HashMap::new();
            let mut index = codec::IndexContents {
                salt: state.salt,
                last_seq: state.catalog.last_seq(),
                last_timestamp_ns: state.catalog.last_timestamp_ns(),
                blocks: indexed_blocks,
                ..codec::IndexContents::default()
            };
            for (seq, entry) in state.catalog.iter() {
                let next_id = subject_ids.len() as u32;
                let subject_id = *subject_ids.entry(&entry.subject).or_insert_with(|| {
                    index.subjects.push(entry.subject.to_string());
                    next_id
                });
                index.messages.push(codec::IndexedMessage {
                    seq,
                    subject_id,
                    block_id: entry.location.block_id,
                    offset: entry.location.offset,
                    len: entry.location.len,
                    size: entry.size,
                    timestamp_ns: entry.timestamp_ns,
                    ttl_ns: entry.ttl_ns,
                });
            }
            let bytes = codec::encode_index(&index);
            drop(subject_ids);
            state.temp_file_counter += 1;
            (bytes, state.dir.join("index"), state.temp_file_counter)
        };
        write_atomically(&path, suffix, bytes).await
    }

    /// A handle to read a block: its writer's handle, a cached one, or a newly opened one.
    /// `None` when the block no longer exists.
    async fn block_file(&self, block_id: u32) -> Result<Option<(compio::fs::File, PathBuf)>> {
        let path = {
            let mut state = self.shared.borrow_mut();
            let Some(block) = state.blocks.get(&block_id) else {
                return Ok(None);
            };
            let path = block.path.clone();
            if let Some(file) = block.file.clone() {
                return Ok(Some((file, path)));
            }
            if let Some(file) = state.read_files.get(block_id) {
                return Ok(Some((file, path)));
            }
            path
        };
        match compio::fs::File::open(&path).await {
            Ok(file) => {
                let mut state = self.shared.borrow_mut();
                if !state.blocks.contains_key(&block_id) {
                    return Ok(None);
                }
                state.read_files.insert(block_id, file.clone());
                Ok(Some((file, path)))
            }
            // Deleted meanwhile because nothing in it was kept any more.
            Err(_) if !self.shared.borrow().blocks.contains_key(&block_id) => Ok(None),
            Err(error) => Err(StoreError::io("open block for reading", &path, error)),
        }
    }

    fn check_writable(&self) -> Result<()> {
        match &self.shared.borrow().failure {
            Some(reason) => Err(StoreError::WritesStopped {
                reason: reason.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Waits until the bytes up to `ticket` are as durable as the policy promises.
    async fn wait_for_ticket(&self, ticket: u64) -> Result<()> {
        wake_flusher(&self.shared);
        let interval = matches!(self.shared.borrow().options.sync, SyncPolicy::Interval(_));
        TicketWait {
            shared: Rc::clone(&self.shared),
            ticket,
            ready: State::ticket_done,
        }
        .await;
        let state = self.shared.borrow();
        if state.durable >= ticket || (interval && state.written >= ticket) {
            return Ok(());
        }
        Err(StoreError::WritesStopped {
            reason: state.failure.clone().unwrap_or_default(),
        })
    }

    /// Logs and applies removals, waits for durability, then deletes emptied blocks.
    async fn remove_logged(&self, removals: Vec<Removal>) -> Result<u64> {
        self.check_writable()?;
        if removals.is_empty() {
            return Ok(0);
        }
        let (removed, ticket) = {
            let mut state = self.shared.borrow_mut();
            let removed = state.apply_removals(removals);
            (removed, state.appended)
        };
        self.wait_for_ticket(ticket).await?;
        self.reclaim_blocks().await?;
        Ok(removed)
    }

    /// Deletes block files that hold nothing kept: any such block in the leading run, and
    /// later ones that also hold no removal records (whose loss could bring messages back).
    /// Files go oldest first with a directory sync after each, so a crash can never keep a
    /// newer deletion and lose an older one.
    async fn reclaim_blocks(&self) -> Result<()> {
        let (doomed_ids, ticket) = {
            let state = self.shared.borrow();
            let mut leading = true;
            let mut doomed_ids = Vec::new();
            for (block_id, block) in &state.blocks {
                if *block_id == state.active_block_id {
                    break;
                }
                let empty = block.live_messages == 0 && block.written_len == block.len;
                if empty && (leading || block.removal_records == 0) {
                    doomed_ids.push(*block_id);
                } else {
                    leading = false;
                }
            }
            (doomed_ids, state.appended)
        };
        if doomed_ids.is_empty() {
            return Ok(());
        }
        // The removal records that emptied these blocks must be on disk before the blocks go,
        // or a crash could keep the deletion and lose the records, half-applying a purge.
        // Under the interval policy that needs a sync of its own.
        self.wait_for_sync(ticket).await?;
        let (doomed, blocks_dir) = {
            let mut state = self.shared.borrow_mut();
            let mut doomed = Vec::with_capacity(doomed_ids.len());
            for block_id in doomed_ids {
                state.read_files.remove(block_id);
                if let Some(block) = state.blocks.remove(&block_id) {
                    doomed.push(block.path);
                }
            }
            (doomed, state.dir.join("blocks"))
        };
        for path in doomed {
            compio::fs::remove_file(&path)
                .await
                .map_err(|error| StoreError::io("delete block", &path, error))?;
            sync_dir(&blocks_dir).await?;
        }
        Ok(())
    }

    /// Waits until the bytes up to `ticket` are on stable storage, whatever the policy.
    async fn wait_for_sync(&self, ticket: u64) -> Result<()> {
        self.shared.borrow_mut().sync_requested = true;
        wake_flusher(&self.shared);
        WaitUntil {
            shared: Rc::clone(&self.shared),
            condition: move |state: &State| state.failure.is_some() || state.durable >= ticket,
        }
        .await;
        let state = self.shared.borrow();
        if state.durable >= ticket {
            return Ok(());
        }
        Err(StoreError::WritesStopped {
            reason: state.failure.clone().unwrap_or_default(),
        })
    }

    /// Reads a message record back, waiting first if it is still queued.
    /// The sequences and locations `load_next_msgs` reads, from the catalog.
    fn plan_next(
        &self,
        filter: &str,
        start_seq: u64,
        max_messages: usize,
        max_bytes: usize,
    ) -> Vec<(u64, Location)> {
        let state = self.shared.borrow();
        let mut plan = Vec::new();
        let mut bytes = 0usize;
        let mut seq = start_seq;
        while plan.len() < max_messages && (plan.is_empty() || bytes < max_bytes) {
            let Some(next) = state.catalog.next_match(filter, seq) else {
                break;
            };
            seq = next + 1;
            if let Some(entry) = state.catalog.get(next) {
                // The record's length stands for its subject, headers and payload.
                bytes += entry.location.len as usize;
                plan.push((next, entry.location));
            }
        }
        plan
    }

    /// Reads bytes `offset..end` of a block once they are written; `None` when the block is
    /// gone.
    async fn read_span(
        &self,
        block_id: u32,
        offset: u64,
        end: u64,
    ) -> Result<Option<(Bytes, PathBuf)>> {
        WaitUntil {
            shared: Rc::clone(&self.shared),
            condition: move |state: &State| {
                state.failure.is_some()
                    || state
                        .blocks
                        .get(&block_id)
                        .is_none_or(|block| block.written_len >= end)
            },
        }
        .await;
        {
            let state = self.shared.borrow();
            if let Some(block) = state.blocks.get(&block_id) {
                if block.written_len < end {
                    return Err(StoreError::WritesStopped {
                        reason: state.failure.clone().unwrap_or_default(),
                    });
                }
            }
        }
        let Some((file, path)) = self.block_file(block_id).await? else {
            return Ok(None);
        };
        let len = usize::try_from(end - offset).unwrap_or(0);
        let buffer = Vec::with_capacity(len);
        let compio::BufResult(read, buffer) = file.read_exact_at(buffer, offset).await;
        read.map_err(|error| StoreError::io("read record", &path, error))?;
        Ok(Some((Bytes::from(buffer), path)))
    }

    /// The message in `record` (its whole record, as read), checked to be message `seq`.
    fn decode_message(
        &self,
        seq: u64,
        location: Location,
        record: &Bytes,
        path: &std::path::Path,
    ) -> Result<StoredMessage> {
        let corrupt = |reason| StoreError::Corrupt {
            path: path.to_path_buf(),
            offset: location.offset,
            reason,
        };
        let salt = self.shared.borrow().salt;
        let message = match codec::decode_record(record, salt) {
            Ok((Record::Message(message), _)) if message.seq == seq => message,
            Ok(_) => return Err(corrupt("record at this location is another one")),
            Err(codec::DecodeError::Incomplete) => return Err(corrupt("record cut short")),
            Err(codec::DecodeError::Corrupt(reason)) => return Err(corrupt(reason)),
        };
        Ok(StoredMessage {
            seq,
            subject: message.subject.to_owned(),
            headers: record.slice_ref(message.headers),
            payload: record.slice_ref(message.payload),
            timestamp_ns: message.timestamp_ns,
            ttl_ns: message.ttl_ns,
        })
    }

    async fn read_message(&self, seq: u64) -> Result<Option<StoredMessage>> {
        let location = match self.shared.borrow().catalog.get(seq) {
            Some(entry) => entry.location,
            None => return Ok(None),
        };
        let end = location.offset + u64::from(location.len);
        // `None`: the block was deleted meanwhile, so the message is gone.
        let Some((bytes, path)) = self
            .read_span(location.block_id, location.offset, end)
            .await?
        else {
            return Ok(None);
        };
        self.decode_message(seq, location, &bytes, &path).map(Some)
    }
}

impl std::fmt::Debug for FileStore {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut debug = formatter.debug_struct("FileStore");
        if let Ok(state) = self.shared.try_borrow() {
            debug
                .field("dir", &state.dir)
                .field("state", &state.catalog.state())
                .field("blocks", &state.blocks.len())
                .field("failure", &state.failure);
        }
        debug.finish_non_exhaustive()
    }
}

impl Drop for FileStore {
    fn drop(&mut self) {
        // The flusher drains the queue, then exits; acknowledged data is already durable.
        if let Ok(mut state) = self.shared.try_borrow_mut() {
            state.closing = true;
        }
        wake_flusher(&self.shared);
    }
}

impl State {
    /// Starts a new active block whose header checkpoints the counters at this point of the log.
    fn rotate(&mut self) {
        let block_id = self.active_block_id + 1;
        let header = codec::encode_block_header(&BlockHeader {
            block_id,
            floor_seq: self.catalog.first_seq(),
            last_seq: self.catalog.last_seq(),
            last_timestamp_ns: self.catalog.last_timestamp_ns(),
            salt: self.salt,
        });
        let len = header.len() as u64;
        self.blocks.insert(
            block_id,
            Block {
                path: block_path(&self.dir, block_id),
                file: None,
                len,
                written_len: 0,
                syncs_in_flight: 0,
                allocated_len: 0,
                live_messages: 0,
                removal_records: 0,
            },
        );
        self.queue.push(WriteSegment {
            block_id,
            offset: 0,
            bytes: header,
            create: true,
        });
        self.appended += len;
        self.active_block_id = block_id;
    }

    fn rotate_if_full(&mut self) {
        let full = self
            .blocks
            .get(&self.active_block_id)
            .is_none_or(|block| block.len >= self.options.block_size_max_bytes);
        if full {
            self.rotate();
        }
    }

    /// Appends one record to the active block's queue and returns where it will live.
    fn append(&mut self, encode: impl FnOnce(&mut Vec<u8>) -> usize) -> Location {
        let block_id = self.active_block_id;
        let offset = self.blocks.get(&block_id).map_or(0, |block| block.len);
        let reuse_last = self
            .queue
            .last()
            .is_some_and(|segment| segment.block_id == block_id);
        if !reuse_last {
            self.queue.push(WriteSegment {
                block_id,
                offset,
                bytes: Vec::new(),
                create: false,
            });
        }
        let len = match self.queue.last_mut() {
            Some(segment) => encode(&mut segment.bytes),
            None => 0,
        };
        if let Some(block) = self.blocks.get_mut(&block_id) {
            block.len += len as u64;
        }
        self.appended += len as u64;
        Location {
            block_id,
            len: u32::try_from(len).unwrap_or(u32::MAX),
            offset,
        }
    }

    /// Logs each removal as a record, applies it, and returns how many messages went.
    fn apply_removals(&mut self, removals: Vec<Removal>) -> u64 {
        let mut removed_count = 0;
        for removal in removals {
            if let Removal::Delete { seq } = removal {
                if self.catalog.get(seq).is_none() {
                    continue;
                }
            }
            self.rotate_if_full();
            let salt = self.salt;
            self.append(|out| codec::encode_removal(out, &removal, salt));
            let active = self.active_block_id;
            if let Some(block) = self.blocks.get_mut(&active) {
                block.removal_records += 1;
            }
            for (_, entry) in self.catalog.apply(removal) {
                removed_count += 1;
                if let Some(block) = self.blocks.get_mut(&entry.location.block_id) {
                    block.live_messages -= 1;
                }
            }
        }
        removed_count
    }

    fn insert_message(&mut self, record: &MessageRecord<'_>) {
        self.rotate_if_full();
        let salt = self.salt;
        let location = self.append(|out| codec::encode_message(out, record, salt));
        let size = catalog::message_size(
            record.subject.len(),
            record.headers.len(),
            record.payload.len(),
        );
        if let Some(block) = self.blocks.get_mut(&location.block_id) {
            block.live_messages += 1;
        }
        self.catalog.insert(
            record.seq,
            record.subject,
            record.timestamp_ns,
            record.ttl_ns,
            size,
            location,
        );
    }
}

impl StreamStore for FileStore {
    async fn store_msg(&self, message: NewMessage) -> Result<u64> {
        self.check_writable()?;
        if !subject::is_storable_subject(&message.subject) {
            return Err(StoreError::InvalidSubject(message.subject));
        }
        let body_len = message.subject.len() + message.headers.len() + message.payload.len();
        if body_len + codec::MESSAGE_RECORD_OVERHEAD > codec::MAX_RECORD_LEN {
            return Err(StoreError::MessageTooLarge {
                size: body_len as u64,
                max: (codec::MAX_RECORD_LEN - codec::MESSAGE_RECORD_OVERHEAD) as u64,
            });
        }
        let (seq, ticket, removed_any) = {
            let mut state = self.shared.borrow_mut();
            let size = catalog::message_size(
                message.subject.len(),
                message.headers.len(),
                message.payload.len(),
            );
            state
                .catalog
                .check_admission(&state.config, &message.subject, size)?;
            let seq = state.catalog.next_seq();
            state.insert_message(&MessageRecord {
                seq,
                timestamp_ns: message.timestamp_ns,
                ttl_ns: ttl_ns(&message),
                subject: &message.subject,
                headers: &message.headers,
                payload: &message.payload,
            });
            let excess = state
                .catalog
                .plan_limits(&state.config, Some(&message.subject));
            let removed = state.apply_removals(
                excess
                    .into_iter()
                    .map(|seq| Removal::Delete { seq })
                    .collect(),
            );
            (seq, state.appended, removed > 0)
        };
        self.wait_for_ticket(ticket).await?;
        if removed_any {
            self.reclaim_blocks().await?;
        }
        Ok(seq)
    }

    async fn load_msg(&self, seq: u64) -> Result<Option<StoredMessage>> {
        self.read_message(seq).await
    }

    async fn load_next_msg(&self, filter: &str, start_seq: u64) -> Result<Option<StoredMessage>> {
        let mut start = start_seq;
        loop {
            let next = self.shared.borrow().catalog.next_match(filter, start);
            let Some(seq) = next else { return Ok(None) };
            // A concurrent removal may take the message between lookup and read: look again.
            if let Some(message) = self.read_message(seq).await? {
                return Ok(Some(message));
            }
            start = seq + 1;
        }
    }

    async fn load_next_msgs(
        &self,
        filter: &str,
        start_seq: u64,
        max_messages: usize,
        max_bytes: usize,
    ) -> Result<Vec<StoredMessage>> {
        let plan = self.plan_next(filter, start_seq, max_messages, max_bytes);
        let mut found = Vec::with_capacity(plan.len());
        let mut start = 0;
        while start < plan.len() {
            // A run: records of one block that follow each other, read at once.
            let first = plan[start].1;
            let mut end = start + 1;
            let mut span_end = first.offset + u64::from(first.len);
            while end < plan.len()
                && plan[end].1.block_id == first.block_id
                && plan[end].1.offset == span_end
                && span_end - first.offset < READ_RUN_BYTES_MAX
            {
                span_end += u64::from(plan[end].1.len);
                end += 1;
            }
            // `None`: the block went meanwhile, and its messages with it.
            if let Some((bytes, path)) = self
                .read_span(first.block_id, first.offset, span_end)
                .await?
            {
                for (seq, location) in &plan[start..end] {
                    let from = usize::try_from(location.offset - first.offset).unwrap_or(0);
                    let record = bytes.slice(from..from + location.len as usize);
                    found.push(self.decode_message(*seq, *location, &record, &path)?);
                }
            }
            start = end;
        }
        Ok(found)
    }

    async fn load_last_msg(&self, filter: &str) -> Result<Option<StoredMessage>> {
        let last = self.shared.borrow().catalog.last_match(filter);
        match last {
            Some(seq) => self.read_message(seq).await,
            None => Ok(None),
        }
    }

    async fn remove_msg(&self, seq: u64) -> Result<bool> {
        Ok(self.remove_logged(vec![Removal::Delete { seq }]).await? == 1)
    }

    async fn purge(&self, request: &PurgeRequest) -> Result<u64> {
        let plan = self.shared.borrow().catalog.plan_purge(request);
        self.remove_logged(plan).await
    }

    async fn compact(&self, floor_seq: u64) -> Result<u64> {
        let plan = self.shared.borrow().catalog.plan_compact(floor_seq);
        self.remove_logged(plan).await
    }

    async fn truncate(&self, last_seq: u64) -> Result<()> {
        let plan = self.shared.borrow().catalog.plan_truncate(last_seq);
        self.remove_logged(plan).await.map(|_| ())
    }

    async fn expire(&self, now_ns: i64) -> Result<u64> {
        let plan: Vec<Removal> = {
            let state = self.shared.borrow();
            state
                .catalog
                .plan_expiry(&state.config, now_ns)
                .into_iter()
                .map(|seq| Removal::Delete { seq })
                .collect()
        };
        self.remove_logged(plan).await
    }

    fn expired(&self, now_ns: i64) -> Vec<u64> {
        let state = self.shared.borrow();
        state.catalog.plan_expiry(&state.config, now_ns)
    }

    async fn update_config(&self, config: StoreConfig) -> Result<()> {
        let plan: Vec<Removal> = {
            let mut state = self.shared.borrow_mut();
            state.config = config;
            state
                .catalog
                .plan_limits(&state.config, None)
                .into_iter()
                .map(|seq| Removal::Delete { seq })
                .collect()
        };
        self.remove_logged(plan).await.map(|_| ())
    }

    fn config(&self) -> StoreConfig {
        self.shared.borrow().config.clone()
    }

    fn state(&self) -> StreamState {
        self.shared.borrow().catalog.state()
    }

    fn deleted(&self, limit: usize) -> Vec<u64> {
        self.shared.borrow().catalog.deleted(limit)
    }

    fn filtered_state(&self, filter: &str, start_seq: u64) -> SimpleState {
        self.shared
            .borrow()
            .catalog
            .filtered_state(filter, start_seq)
    }

    fn subjects_state(&self, filter: &str) -> HashMap<String, SimpleState> {
        self.shared.borrow().catalog.subjects_state(filter)
    }

    async fn update_consumer_state(&self, name: &str, consumer: &ConsumerState) -> Result<()> {
        validate_consumer_name(name)?;
        let (path, suffix) = {
            let mut state = self.shared.borrow_mut();
            state.temp_file_counter += 1;
            (consumer_path(&state.dir, name), state.temp_file_counter)
        };
        write_atomically(&path, suffix, codec::encode_consumer_state(consumer)).await?;
        self.shared
            .borrow_mut()
            .consumers
            .insert(name.to_owned(), consumer.clone());
        Ok(())
    }

    fn consumer_state(&self, name: &str) -> Option<ConsumerState> {
        self.shared.borrow().consumers.get(name).cloned()
    }

    async fn remove_consumer_state(&self, name: &str) -> Result<bool> {
        let (path, existed) = {
            let mut state = self.shared.borrow_mut();
            let existed = state.consumers.remove(name).is_some();
            (consumer_path(&state.dir, name), existed)
        };
        if !existed {
            return Ok(false);
        }
        compio::fs::remove_file(&path)
            .await
            .map_err(|error| StoreError::io("delete consumer state", &path, error))?;
        if let Some(parent) = path.parent() {
            sync_dir(parent).await?;
        }
        Ok(true)
    }

    fn consumer_names(&self) -> Vec<String> {
        self.shared.borrow().consumers.keys().cloned().collect()
    }

    async fn snapshot(&self) -> Result<Vec<u8>> {
        let (seqs, last_seq, last_timestamp_ns, consumers) = {
            let state = self.shared.borrow();
            (
                state.catalog.iter().map(|(seq, _)| seq).collect::<Vec<_>>(),
                state.catalog.last_seq(),
                state.catalog.last_timestamp_ns(),
                state
                    .consumers
                    .iter()
                    .map(|(name, consumer)| (name.clone(), consumer.clone()))
                    .collect(),
            )
        };
        let mut messages = Vec::with_capacity(seqs.len());
        for seq in seqs {
            if let Some(message) = self.read_message(seq).await? {
                messages.push(message);
            }
        }
        Ok(codec::encode_snapshot(&SnapshotContents {
            last_seq,
            last_timestamp_ns,
            messages,
            consumers,
        }))
    }

    async fn restore(&self, snapshot: &[u8]) -> Result<()> {
        self.check_writable()?;
        let contents = codec::decode_snapshot(snapshot).map_err(StoreError::InvalidSnapshot)?;
        let ticket = {
            let mut state = self.shared.borrow_mut();
            if state.catalog.last_seq() != 0 || !state.consumers.is_empty() {
                return Err(StoreError::RestoreIntoNonEmptyStore);
            }
            for message in &contents.messages {
                state.insert_message(&MessageRecord::of(message));
            }
            state.apply_removals(vec![Removal::Truncate {
                last_seq: contents.last_seq,
                last_timestamp_ns: contents.last_timestamp_ns,
            }]);
            state.appended
        };
        self.wait_for_ticket(ticket).await?;
        for (name, consumer) in &contents.consumers {
            self.update_consumer_state(name, consumer).await?;
        }
        // The snapshot may come from a stream with looser limits.
        self.update_config(self.config()).await
    }

    async fn append_restored(&self, messages: Vec<StoredMessage>) -> Result<()> {
        self.check_writable()?;
        {
            let state = self.shared.borrow();
            crate::store::check_restored(&messages, state.catalog.last_seq())?;
        }
        for message in &messages {
            let body_len = message.subject.len() + message.headers.len() + message.payload.len();
            if body_len + codec::MESSAGE_RECORD_OVERHEAD > codec::MAX_RECORD_LEN {
                return Err(StoreError::MessageTooLarge {
                    size: body_len as u64,
                    max: (codec::MAX_RECORD_LEN - codec::MESSAGE_RECORD_OVERHEAD) as u64,
                });
            }
        }
        let ticket = {
            let mut state = self.shared.borrow_mut();
            for message in &messages {
                state.insert_message(&MessageRecord::of(message));
            }
            state.appended
        };
        self.wait_for_ticket(ticket).await
    }

    async fn skip_to(&self, last_seq: u64, last_timestamp_ns: i64) -> Result<()> {
        if last_seq <= self.shared.borrow().catalog.last_seq() {
            return Ok(());
        }
        self.remove_logged(vec![Removal::Truncate {
            last_seq,
            last_timestamp_ns,
        }])
        .await
        .map(drop)
    }
}
