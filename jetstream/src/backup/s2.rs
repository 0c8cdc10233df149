//! The S2 stream format (Klaus Post's extension of the Snappy framing format) that the Go
//! server compresses snapshots with: a stream identifier chunk, then chunks of a type byte,
//! a 3-byte little-endian length, a masked CRC-32C of the uncompressed data and an S2 block
//! (compressed) or the data itself (uncompressed). The block codec is the `minlz` crate's;
//! the framing is here so that both directions work on pieces as they arrive.

use super::BackupError;

/// The stream identifier chunk of an S2 stream.
const S2_IDENTIFIER: &[u8] = b"\xff\x06\x00\x00S2sTwO";
/// Snappy's, which an S2 reader also accepts.
const SNAPPY_IDENTIFIER_BODY: &[u8] = b"sNaPpY";
const CHUNK_COMPRESSED: u8 = 0x00;
const CHUNK_UNCOMPRESSED: u8 = 0x01;
const CHUNK_IDENTIFIER: u8 = 0xff;
/// The largest uncompressed block S2 allows (Go's `maxBlockSize`).
const MAX_BLOCK_LEN: usize = 4 << 20;
/// The largest chunk accepted: a compressed block of `MAX_BLOCK_LEN` at its worst, plus the
/// checksum.
const MAX_CHUNK_LEN: usize = MAX_BLOCK_LEN + MAX_BLOCK_LEN / 6 + 64;
/// The block size the encoder compresses (Go's writer flushes smaller blocks too).
pub const BLOCK_LEN: usize = 256 * 1024;

/// Compresses into an S2 stream, one block at a time.
#[derive(Debug, Default)]
pub struct Encoder {
    started: bool,
}

impl Encoder {
    /// Appends `block` (at most [`MAX_BLOCK_LEN`] bytes) to `out` as one chunk, with the
    /// stream identifier first.
    pub fn write_block(&mut self, block: &[u8], out: &mut Vec<u8>) {
        if !self.started {
            out.extend_from_slice(S2_IDENTIFIER);
            self.started = true;
        }
        for piece in block.chunks(MAX_BLOCK_LEN) {
            let checksum = minlz::crc::crc(piece);
            let compressed = minlz::encode(piece);
            let (kind, body) = if compressed.len() < piece.len() {
                (CHUNK_COMPRESSED, &compressed[..])
            } else {
                (CHUNK_UNCOMPRESSED, piece)
            };
            let length = body.len() + 4;
            out.push(kind);
            out.extend_from_slice(&(length as u32).to_le_bytes()[..3]);
            out.extend_from_slice(&checksum.to_le_bytes());
            out.extend_from_slice(body);
        }
    }

    /// Ends the stream; an empty stream still gets its identifier.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if !self.started {
            out.extend_from_slice(S2_IDENTIFIER);
            self.started = true;
        }
    }
}

/// Decompresses an S2 (or Snappy) stream fed in pieces of any size; holds at most one chunk.
#[derive(Debug, Default)]
pub struct Decoder {
    buffer: Vec<u8>,
    started: bool,
}

impl Decoder {
    /// Takes `bytes` and appends what they complete, decompressed, to `out`.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<u8>) -> Result<(), BackupError> {
        self.buffer.extend_from_slice(bytes);
        let mut consumed = 0;
        while self.buffer.len() - consumed >= 4 {
            let header = &self.buffer[consumed..consumed + 4];
            let kind = header[0];
            let length =
                usize::from(header[1]) | usize::from(header[2]) << 8 | usize::from(header[3]) << 16;
            if length > MAX_CHUNK_LEN {
                return Err(BackupError::Compression("chunk too large"));
            }
            if self.buffer.len() - consumed < 4 + length {
                break;
            }
            let body = &self.buffer[consumed + 4..consumed + 4 + length];
            decode_chunk(kind, body, &mut self.started, out)?;
            consumed += 4 + length;
        }
        self.buffer.drain(..consumed);
        Ok(())
    }

    /// Whether the stream ended on a chunk boundary (nothing partial is held).
    pub fn is_at_boundary(&self) -> bool {
        self.buffer.is_empty()
    }
}

fn decode_chunk(
    kind: u8,
    body: &[u8],
    started: &mut bool,
    out: &mut Vec<u8>,
) -> Result<(), BackupError> {
    if kind == CHUNK_IDENTIFIER {
        if body != &S2_IDENTIFIER[4..] && body != SNAPPY_IDENTIFIER_BODY {
            return Err(BackupError::Compression("unknown stream identifier"));
        }
        *started = true;
        return Ok(());
    }
    if !*started {
        return Err(BackupError::Compression("missing stream identifier"));
    }
    match kind {
        CHUNK_COMPRESSED | CHUNK_UNCOMPRESSED => {
            if body.len() < 4 {
                return Err(BackupError::Compression("chunk too short"));
            }
            let expected = u32::from_le_bytes([body[0], body[1], body[2], body[3]]);
            let data = &body[4..];
            let start = out.len();
            if kind == CHUNK_COMPRESSED {
                let (length, _) = minlz::decode_len(data)
                    .map_err(|_| BackupError::Compression("corrupt block"))?;
                if length > MAX_BLOCK_LEN {
                    return Err(BackupError::Compression("block too large"));
                }
                let block =
                    minlz::decode(data).map_err(|_| BackupError::Compression("corrupt block"))?;
                out.extend_from_slice(&block);
            } else {
                if data.len() > MAX_BLOCK_LEN {
                    return Err(BackupError::Compression("block too large"));
                }
                out.extend_from_slice(data);
            }
            if minlz::crc::crc(&out[start..]) != expected {
                out.truncate(start);
                return Err(BackupError::Compression("checksum mismatch"));
            }
            Ok(())
        }
        // Reserved unskippable chunk types.
        0x02..=0x7f => Err(BackupError::Compression("unsupported chunk type")),
        // Skippable chunks: padding, S2's index, and the reserved ones.
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_round_trip_through_pieces_of_any_size() {
        let data: Vec<u8> = (0..600_000u32)
            .map(|i| (i % 251) as u8 ^ (i / 7) as u8)
            .collect();
        let mut encoder = Encoder::default();
        let mut stream = Vec::new();
        for block in data.chunks(BLOCK_LEN) {
            encoder.write_block(block, &mut stream);
        }
        encoder.write_block(&[7; 3], &mut stream);
        for piece_len in [1, 5, 1000, stream.len()] {
            let mut decoder = Decoder::default();
            let mut out = Vec::new();
            for piece in stream.chunks(piece_len) {
                decoder.feed(piece, &mut out).unwrap();
            }
            assert!(decoder.is_at_boundary());
            assert_eq!(out.len(), data.len() + 3);
            assert_eq!(&out[..data.len()], &data[..]);
        }
    }

    #[test]
    fn damaged_streams_are_refused() {
        let mut encoder = Encoder::default();
        let mut stream = Vec::new();
        encoder.write_block(&[1; 5000], &mut stream);
        let mut flipped = stream.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0x55;
        let mut out = Vec::new();
        assert!(Decoder::default().feed(&flipped, &mut out).is_err());
        assert!(Decoder::default().feed(&stream[10..], &mut out).is_err());
        assert!(Decoder::default()
            .feed(b"\xff\x06\x00\x00S2sTwO\x05\x01\x00\x00x", &mut out)
            .is_err());
        // A chunk length beyond any block is refused before it is buffered.
        assert!(Decoder::default()
            .feed(b"\xff\x06\x00\x00S2sTwO\x00\xff\xff\xff", &mut out)
            .is_err());
    }
}
