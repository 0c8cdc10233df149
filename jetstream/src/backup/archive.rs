//! The Go server's snapshot archive (`server/archive`, magic `NATSARC1`): after the magic,
//! entries back to back, each a header of varints (Go's `encoding/binary` uvarint, and the
//! zig-zag varint for the time)
//!
//! ```text
//! uvarint name_len | varint timestamp_ns | uvarint sequence | uvarint header_size
//! | uvarint payload_size | name | header_size + payload_size bytes
//! ```

use super::BackupError;

/// The bytes an archive starts with.
pub const MAGIC: &[u8] = b"NATSARC1";
/// The longest entry name accepted (Go's `maxNameLen`).
const MAX_NAME_LEN: u64 = 1 << 20;
/// The most bytes a varint takes.
const MAX_VARINT_LEN: usize = 10;

/// One entry's header.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EntryHeader {
    pub name: String,
    pub timestamp_ns: i64,
    /// 0 when the entry is not a message.
    pub sequence: u64,
    pub header_size: u64,
    pub payload_size: u64,
}

/// Appends the magic to `out`.
pub fn write_magic(out: &mut Vec<u8>) {
    out.extend_from_slice(MAGIC);
}

/// Appends one entry to `out`: its header, then `payload` (whose length must be
/// `header_size + payload_size`).
pub fn write_entry(out: &mut Vec<u8>, header: &EntryHeader, payload: &[&[u8]]) {
    put_uvarint(out, header.name.len() as u64);
    put_uvarint(out, zigzag(header.timestamp_ns));
    put_uvarint(out, header.sequence);
    put_uvarint(out, header.header_size);
    put_uvarint(out, header.payload_size);
    out.extend_from_slice(header.name.as_bytes());
    for part in payload {
        out.extend_from_slice(part);
    }
}

/// Reads entries from bytes fed in pieces; an entry is handed out once all of it is in.
#[derive(Debug)]
pub struct Reader {
    buffer: Vec<u8>,
    seen_magic: bool,
    /// The largest `header_size + payload_size` accepted.
    max_entry_len: u64,
}

impl Reader {
    /// A reader that refuses entries whose contents exceed `max_entry_len` bytes.
    pub fn new(max_entry_len: u64) -> Reader {
        Reader {
            buffer: Vec::new(),
            seen_magic: false,
            max_entry_len,
        }
    }

    /// Takes more of the archive.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// Whether every byte fed so far belonged to complete entries.
    pub fn is_empty(&self) -> bool {
        self.buffer.is_empty()
    }

    /// The next complete entry and its contents, `None` until one is complete.
    pub fn next_entry(&mut self) -> Result<Option<(EntryHeader, Vec<u8>)>, BackupError> {
        if !self.seen_magic {
            if self.buffer.len() < MAGIC.len() {
                return Ok(None);
            }
            if &self.buffer[..MAGIC.len()] != MAGIC {
                return Err(BackupError::Archive("not a snapshot archive"));
            }
            self.buffer.drain(..MAGIC.len());
            self.seen_magic = true;
        }
        let mut cursor = 0;
        let mut fields = [0u64; 5];
        for field in &mut fields {
            match get_uvarint(&self.buffer[cursor..])? {
                Some((value, used)) => {
                    *field = value;
                    cursor += used;
                }
                None => return Ok(None),
            }
        }
        let [name_len, timestamp, sequence, header_size, payload_size] = fields;
        let total = header_size.checked_add(payload_size);
        if name_len > MAX_NAME_LEN || total.is_none_or(|total| total > self.max_entry_len) {
            return Err(BackupError::Archive("entry too large"));
        }
        let contents_len = total.unwrap_or(0) as usize;
        let end = cursor + name_len as usize + contents_len;
        if self.buffer.len() < end {
            return Ok(None);
        }
        let name_end = cursor + name_len as usize;
        let name = std::str::from_utf8(&self.buffer[cursor..name_end])
            .map_err(|_| BackupError::Archive("entry name is not UTF-8"))?
            .to_owned();
        let contents = self.buffer[name_end..end].to_vec();
        self.buffer.drain(..end);
        let header = EntryHeader {
            name,
            timestamp_ns: unzigzag(timestamp),
            sequence,
            header_size,
            payload_size,
        };
        Ok(Some((header, contents)))
    }
}

fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

fn put_uvarint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Go's `binary.Uvarint`: the value and its length, `None` when more bytes are needed.
fn get_uvarint(bytes: &[u8]) -> Result<Option<(u64, usize)>, BackupError> {
    let mut value = 0u64;
    for (index, byte) in bytes.iter().enumerate() {
        if index == MAX_VARINT_LEN || (index == MAX_VARINT_LEN - 1 && *byte > 1) {
            return Err(BackupError::Archive("varint overflows 64 bits"));
        }
        value |= u64::from(byte & 0x7f) << (7 * index);
        if byte & 0x80 == 0 {
            return Ok(Some((value, index + 1)));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_when_fed_byte_by_byte() {
        let mut archive = Vec::new();
        write_magic(&mut archive);
        let first = EntryHeader {
            name: "orders.1".into(),
            timestamp_ns: 1_700_000_000_123_456_789,
            sequence: 300,
            header_size: 4,
            payload_size: 3,
        };
        write_entry(&mut archive, &first, &[b"HDR:", b"abc"]);
        let negative = EntryHeader {
            timestamp_ns: -5,
            ..EntryHeader::default()
        };
        write_entry(&mut archive, &negative, &[]);
        let mut reader = Reader::new(1024);
        let mut entries = Vec::new();
        for byte in &archive {
            reader.feed(std::slice::from_ref(byte));
            while let Some(entry) = reader.next_entry().unwrap() {
                entries.push(entry);
            }
        }
        assert!(reader.is_empty());
        assert_eq!(entries[0], (first, b"HDR:abc".to_vec()));
        assert_eq!(entries[1], (negative, Vec::new()));
    }

    #[test]
    fn go_varints_match() {
        // Go: binary.AppendVarint(nil, -5) = [9]; AppendUvarint(nil, 300) = [0xac, 0x02].
        let mut out = Vec::new();
        put_uvarint(&mut out, zigzag(-5));
        put_uvarint(&mut out, 300);
        assert_eq!(out, [9, 0xac, 0x02]);
        assert_eq!(get_uvarint(&[0xac, 0x02]).unwrap(), Some((300, 2)));
        assert_eq!(get_uvarint(&[0xac]).unwrap(), None);
        assert!(get_uvarint(&[0xff; 11]).is_err());
    }

    #[test]
    fn bad_archives_are_refused_without_allocating() {
        let mut reader = Reader::new(1024);
        reader.feed(b"NOTANARC");
        assert!(reader.next_entry().is_err());
        let mut reader = Reader::new(1024);
        let mut archive = MAGIC.to_vec();
        // Name length 0, time 0, sequence 1, header 0, payload 2^40.
        archive.extend_from_slice(&[0, 0, 1, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20]);
        reader.feed(&archive);
        assert!(reader.next_entry().is_err());
    }
}
