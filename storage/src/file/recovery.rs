//! Opening a store: find the record salt, load the catalog from the index file when it is still
//! exact, or else replay every block, cutting a torn tail and skipping (and reporting) damage.

use super::*;

/// Finds the store's record salt: from `store.meta`, else from the first block header that
/// checks out; a new store gets a fresh random one. `store.meta` is (re)written when it was
/// missing or damaged.
pub(super) async fn resolve_salt(dir: &Path, report: &mut RecoveryReport) -> Result<u32> {
    let meta_path = dir.join("store.meta");
    let from_meta = match compio::fs::read(&meta_path).await {
        Ok(data) => {
            let salt = codec::decode_store_meta(&data);
            report.store_meta_damaged = salt.is_none();
            salt
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
        Err(error) => return Err(StoreError::io("read store meta", &meta_path, error)),
    };
    if let Some(salt) = from_meta {
        return Ok(salt);
    }
    let block_ids = list_block_ids(dir)?;
    let mut salt = None;
    for block_id in &block_ids {
        let path = block_path(dir, *block_id);
        let file = compio::fs::File::open(&path)
            .await
            .map_err(|error| StoreError::io("open block", &path, error))?;
        let buffer = Vec::with_capacity(codec::BLOCK_HEADER_LEN);
        let compio::BufResult(read, buffer) = file.read_exact_at(buffer, 0).await;
        if read.is_ok() {
            if let Ok(header) = codec::decode_block_header(&buffer) {
                salt = Some(header.salt);
                break;
            }
        }
    }
    let salt = match salt {
        Some(salt) => salt,
        None if block_ids.is_empty() => new_salt(),
        None => {
            return Err(StoreError::UnreadableStore {
                path: dir.to_path_buf(),
                reason: "store.meta and every block header are damaged, so record checksums \
                         cannot be verified",
            })
        }
    };
    write_atomically(&meta_path, 0, codec::encode_store_meta(salt)).await?;
    Ok(salt)
}

/// A random nonzero salt, from the standard library's randomly keyed hasher.
fn new_salt() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos());
    hasher.write_u128(nanos);
    let salt = hasher.finish() as u32;
    if salt == codec::SNAPSHOT_SALT {
        1
    } else {
        salt
    }
}

/// The ids of the block files in the store directory, ascending. Listing a directory has no
/// io_uring operation, so this one call at open is a blocking `readdir`.
fn list_block_ids(dir: &Path) -> Result<Vec<u32>> {
    let blocks_dir = dir.join("blocks");
    let entries = std::fs::read_dir(&blocks_dir)
        .map_err(|error| StoreError::io("list blocks", &blocks_dir, error))?;
    let mut block_ids = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|error| StoreError::io("list blocks", &blocks_dir, error))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(block_id) = name
            .strip_suffix(".blk")
            .and_then(|stem| stem.parse::<u32>().ok())
        {
            block_ids.push(block_id);
        }
    }
    block_ids.sort_unstable();
    Ok(block_ids)
}

/// CRC-32C of the last `INDEX_TAIL_LEN` bytes of a block.
pub(super) async fn tail_checksum(file: &compio::fs::File, path: &Path, len: u64) -> Result<u32> {
    let tail_len = len.min(codec::INDEX_TAIL_LEN);
    let buffer = Vec::with_capacity(tail_len as usize);
    let compio::BufResult(read, buffer) = file.read_exact_at(buffer, len - tail_len).await;
    read.map_err(|error| StoreError::io("read block tail", path, error))?;
    Ok(crc32c::crc32c(&buffer))
}

/// Loads the catalog from the index file if there is one and it still describes the blocks
/// exactly; returns false (and says why in the report) when the blocks must be scanned.
pub(super) async fn load_index(state: &mut State, report: &mut RecoveryReport) -> Result<bool> {
    let index_path = state.dir.join("index");
    let data = match compio::fs::read(&index_path).await {
        Ok(data) => data,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(error) => return Err(StoreError::io("read index", &index_path, error)),
    };
    let mut discard = |reason: &str| {
        report.index_discarded = Some(reason.to_owned());
        Ok(false)
    };
    let index = match codec::decode_index(&data) {
        Ok(index) => index,
        Err(reason) => return discard(reason),
    };
    if index.salt != state.salt {
        return discard("the index belongs to another store");
    }
    let listed: Vec<u32> = index.blocks.iter().map(|block| block.block_id).collect();
    if list_block_ids(&state.dir)? != listed {
        return discard("the block files differ from those the index lists");
    }
    let mut blocks = BTreeMap::new();
    for indexed in &index.blocks {
        let path = block_path(&state.dir, indexed.block_id);
        let file = open_block(&path).await?;
        let len = file
            .metadata()
            .await
            .map_err(|error| StoreError::io("stat block", &path, error))?
            .len();
        if len != indexed.len {
            return discard("a block's length differs from the index");
        }
        if tail_checksum(&file, &path, len).await? != indexed.tail_checksum {
            return discard("a block's tail differs from the index");
        }
        let is_last = listed.last() == Some(&indexed.block_id);
        blocks.insert(
            indexed.block_id,
            Block {
                path,
                // Only the last block is written to; the others are opened on demand.
                file: is_last.then_some(file),
                len,
                written_len: len,
                syncs_in_flight: 0,
                allocated_len: len,
                live_messages: 0,
                removal_records: indexed.removal_records,
            },
        );
    }
    let outside_its_block = index.messages.iter().any(|message| {
        blocks.get(&message.block_id).is_none_or(|block: &Block| {
            message.offset + u64::from(message.len) > block.len
                || message.offset < codec::BLOCK_HEADER_LEN as u64
        })
    });
    if outside_its_block {
        return discard("a message lies outside its block");
    }
    for message in &index.messages {
        let subject = index
            .subjects
            .get(message.subject_id as usize)
            .map_or("", String::as_str);
        state.catalog.insert(
            message.seq,
            subject,
            message.timestamp_ns,
            message.ttl_ns,
            message.size,
            Location {
                block_id: message.block_id,
                len: message.len,
                offset: message.offset,
            },
        );
        if let Some(block) = blocks.get_mut(&message.block_id) {
            block.live_messages += 1;
        }
    }
    state.catalog.apply(Removal::Truncate {
        last_seq: index.last_seq,
        last_timestamp_ns: index.last_timestamp_ns,
    });
    state.active_block_id = listed.last().copied().unwrap_or(0);
    state.blocks = blocks;
    report.index_used = true;
    Ok(true)
}

/// Deletes the index file before anything new is written, so that it can never describe
/// blocks that have changed since.
pub(super) async fn remove_index(dir: &Path) -> Result<()> {
    let path = dir.join("index");
    match compio::fs::remove_file(&path).await {
        Ok(()) => sync_dir(dir).await,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(StoreError::io("delete index", &path, error)),
    }
}

/// Replays every block in order into `state`.
pub(super) async fn recover_blocks(state: &mut State, report: &mut RecoveryReport) -> Result<()> {
    let block_ids = list_block_ids(&state.dir)?;
    let last_block_id = block_ids.last().copied();
    for block_id in block_ids {
        let path = block_path(&state.dir, block_id);
        let data = compio::fs::read(&path)
            .await
            .map_err(|error| StoreError::io("read block", &path, error))?;
        report.blocks_scanned += 1;
        report.bytes_scanned += data.len() as u64;
        let is_last = Some(block_id) == last_block_id;
        // All zero: preallocated by a batch whose header never reached the disk.
        let all_zero = data.iter().all(|byte| *byte == 0);
        if (data.len() < codec::BLOCK_HEADER_LEN || all_zero) && is_last {
            // Created by a batch that never completed, so nothing in it was acknowledged.
            if !all_zero {
                report.truncated_tails.push(DamagedRange {
                    path: path.clone(),
                    offset: 0,
                    len: data.len() as u64,
                });
            }
            compio::fs::remove_file(&path)
                .await
                .map_err(|error| StoreError::io("delete torn block", &path, error))?;
            continue;
        }
        match codec::decode_block_header(&data) {
            Ok(header) => state.catalog.apply_checkpoint(
                header.floor_seq,
                header.last_seq,
                header.last_timestamp_ns,
            ),
            Err(codec::BlockHeaderError::UnknownVersion(version)) => {
                return Err(StoreError::UnsupportedVersion { path, version })
            }
            Err(_) => report.damaged_block_headers.push(path.clone()),
        }
        let mut removal_records = 0;
        let mut records = 0;
        let mut out_of_order = Vec::new();
        let catalog = &mut state.catalog;
        let salt = state.salt;
        let outcome = scan::scan_records(
            &data,
            codec::BLOCK_HEADER_LEN,
            salt,
            |offset, record, len| {
                records += 1;
                match record {
                    // Every message record is written with a sequence above the last one (appends
                    // take last + 1, restore writes ascending sequences). One that is not was never
                    // written by this log: a record embedded in a payload (a snapshot stored as a
                    // message, say) that resynchronization after damage landed on.
                    Record::Message(message) if message.seq <= catalog.last_seq() => {
                        out_of_order.push((offset, len as u64));
                    }
                    Record::Message(message) => {
                        let size = catalog::message_size(
                            message.subject.len(),
                            message.headers.len(),
                            message.payload.len(),
                        );
                        let location = Location {
                            block_id,
                            len: u32::try_from(len).unwrap_or(u32::MAX),
                            offset,
                        };
                        catalog.insert(
                            message.seq,
                            message.subject,
                            message.timestamp_ns,
                            message.ttl_ns,
                            size,
                            location,
                        );
                    }
                    Record::Removal(removal) => {
                        removal_records += 1;
                        catalog.apply(removal);
                    }
                }
            },
        );
        report.records_replayed += records;
        for (offset, len) in outcome.corrupt_ranges.into_iter().chain(out_of_order) {
            report.corrupt_ranges.push(DamagedRange {
                path: path.clone(),
                offset,
                len,
            });
        }
        let mut len = data.len() as u64;
        if outcome.zero_tail {
            // Zeros written ahead of the records: cut them quietly, so the block file ends
            // with its last record again (the index and the appends expect that).
            cut_block(&path, outcome.valid_end).await?;
            len = outcome.valid_end;
        } else if outcome.valid_end < len {
            let damaged = DamagedRange {
                path: path.clone(),
                offset: outcome.valid_end,
                len: len - outcome.valid_end,
            };
            if is_last {
                // Appends continue here, so the tail must go before anything follows it.
                cut_block(&path, outcome.valid_end).await?;
                len = outcome.valid_end;
                report.truncated_tails.push(damaged);
            } else {
                report.corrupt_ranges.push(damaged);
            }
        }
        // Only the last block is written to; the others are opened on demand for reads.
        let file = if is_last {
            let file = open_block(&path).await?;
            Some(file)
        } else {
            None
        };
        state.blocks.insert(
            block_id,
            Block {
                path,
                file,
                len,
                written_len: len,
                syncs_in_flight: 0,
                allocated_len: len,
                live_messages: 0,
                removal_records,
            },
        );
        state.active_block_id = block_id;
    }
    let mut live: HashMap<u32, u64> = HashMap::new();
    for (_, entry) in state.catalog.iter() {
        *live.entry(entry.location.block_id).or_default() += 1;
    }
    for (block_id, block) in state.blocks.iter_mut() {
        block.live_messages = live.get(block_id).copied().unwrap_or(0);
    }
    Ok(())
}

/// Truncates a block file to `len` durably.
async fn cut_block(path: &Path, len: u64) -> Result<()> {
    let file = compio::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .await
        .map_err(|error| StoreError::io("open block", path, error))?;
    file.set_len(len)
        .await
        .map_err(|error| StoreError::io("truncate block", path, error))?;
    file.sync_all()
        .await
        .map_err(|error| StoreError::io("fsync truncated block", path, error))
}

pub(super) async fn recover_consumers(
    state: &mut State,
    report: &mut RecoveryReport,
) -> Result<()> {
    let consumers_dir = state.dir.join("consumers");
    let entries = std::fs::read_dir(&consumers_dir)
        .map_err(|error| StoreError::io("list consumers", &consumers_dir, error))?;
    for entry in entries {
        let path = entry
            .map_err(|error| StoreError::io("list consumers", &consumers_dir, error))?
            .path();
        let Some(name) = consumer_name_from_file(&path) else {
            continue;
        };
        let data = compio::fs::read(&path)
            .await
            .map_err(|error| StoreError::io("read consumer state", &path, error))?;
        match codec::decode_consumer_state(&data) {
            Some(consumer) => {
                state.consumers.insert(name, consumer);
            }
            None => report.damaged_consumer_files.push(path),
        }
    }
    Ok(())
}
