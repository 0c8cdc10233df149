//! permessage-deflate (RFC 7692) as the Go server negotiates it: no context takeover either
//! way, so every message is compressed and inflated on its own, with bounds on both sides.

use bytes::BytesMut;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// What a sync flush ends with; RFC 7692 has the sender strip it and the receiver add it back.
const SYNC_FLUSH_TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];
/// What the Go server appends to a received message before inflating it: the flush tail and
/// a final empty stored block, so the inflater sees the end of a stream.
const MESSAGE_END: [u8; 9] = [0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff];
/// Output is inflated in steps of this size, checked against the limit after each.
const INFLATE_STEP: usize = 32 * 1024;

/// Why a compressed message could not be inflated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InflateError {
    /// The message inflates to more than the limit (Go: `ErrMaxPayload`).
    #[error("maximum payload exceeded")]
    TooLarge,
    /// Not a valid deflate stream.
    #[error("flate: corrupt input")]
    Corrupt,
}

/// Inflates one message (`compressed`, without the flush tail) and appends it to `output`.
/// At most `limit` bytes are appended: a message that inflates to more is `TooLarge`, and
/// what was inflated up to the limit stays in `output`, as the Go server parses that much.
pub fn inflate_message(
    compressed: &[u8],
    limit: usize,
    output: &mut BytesMut,
) -> Result<(), InflateError> {
    let mut inflater = Decompress::new(false);
    let start = output.len();
    let mut sources = [compressed, &MESSAGE_END[..]];
    let mut source_index = 0;
    loop {
        while source_index < sources.len() && sources[source_index].is_empty() {
            source_index += 1;
        }
        let input: &[u8] = sources.get(source_index).copied().unwrap_or(&[]);
        let produced_so_far = output.len() - start;
        // One byte past the limit tells an exact fit from an overflow.
        let room = (limit + 1 - produced_so_far).min(INFLATE_STEP);
        let before = output.len();
        output.resize(before + room, 0);
        let in_before = inflater.total_in();
        let out_before = inflater.total_out();
        let status = inflater.decompress(input, &mut output[before..], FlushDecompress::None);
        let produced = (inflater.total_out() - out_before) as usize;
        let consumed = (inflater.total_in() - in_before) as usize;
        output.truncate(before + produced);
        if let Some(source) = sources.get_mut(source_index) {
            *source = &source[consumed..];
        }
        if output.len() - start > limit {
            output.truncate(start + limit);
            return Err(InflateError::TooLarge);
        }
        match status {
            Ok(Status::StreamEnd) => return Ok(()),
            Ok(_) if consumed == 0 && produced == 0 => {
                if source_index >= sources.len() {
                    return Ok(());
                }
                // No progress with input left: the stream is broken.
                return Err(InflateError::Corrupt);
            }
            Ok(_) => {}
            Err(_) => return Err(InflateError::Corrupt),
        }
    }
}

/// A connection's compressor; reset for every message (server_no_context_takeover).
pub struct Deflater {
    compressor: Compress,
}

impl Default for Deflater {
    fn default() -> Self {
        Deflater {
            // Go's flate.BestSpeed.
            compressor: Compress::new(Compression::fast(), false),
        }
    }
}

impl Deflater {
    /// Compresses `input` (the parts of one message, in order) with a sync flush and
    /// returns the bytes without the flush tail, ready for a frame with RSV1 set.
    pub fn compress_message<'a>(&mut self, input: impl Iterator<Item = &'a [u8]>) -> Vec<u8> {
        self.compressor.reset();
        let mut output = Vec::new();
        for part in input {
            self.compress_into(part, FlushCompress::None, &mut output);
        }
        self.compress_into(&[], FlushCompress::Sync, &mut output);
        if output.ends_with(&SYNC_FLUSH_TAIL) {
            output.truncate(output.len() - SYNC_FLUSH_TAIL.len());
        }
        output
    }

    fn compress_into(&mut self, mut input: &[u8], flush: FlushCompress, output: &mut Vec<u8>) {
        loop {
            if output.capacity() - output.len() < 64 {
                output.reserve((input.len() / 2).max(4096));
            }
            let in_before = self.compressor.total_in();
            // Compressing into memory fails only for want of room, which the loop makes.
            let _ = self.compressor.compress_vec(input, output, flush);
            let consumed = (self.compressor.total_in() - in_before) as usize;
            input = &input[consumed..];
            // Done once the input is taken and the compressor stopped short of filling the
            // output: it had nothing more to write (for a flush, the flush is complete).
            if input.is_empty() && output.len() < output.capacity() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_compressed_message_inflates_back() {
        let text = b"PUB foo 5\r\nhello\r\n".repeat(100);
        let compressed = Deflater::default().compress_message([&text[..]].into_iter());
        assert!(compressed.len() < text.len());
        let mut output = BytesMut::new();
        inflate_message(&compressed, 1 << 20, &mut output).expect("inflates");
        assert_eq!(&output[..], &text[..]);
    }

    #[test]
    fn inflating_stops_at_the_limit() {
        let text = vec![b'a'; 100_000];
        let compressed = Deflater::default().compress_message([&text[..]].into_iter());
        let mut output = BytesMut::new();
        assert_eq!(
            inflate_message(&compressed, 1000, &mut output),
            Err(InflateError::TooLarge)
        );
        assert_eq!(output.len(), 1000);
        let mut output = BytesMut::new();
        inflate_message(&compressed, 100_000, &mut output).expect("exact fit");
        assert_eq!(output.len(), 100_000);
    }

    #[test]
    fn garbage_is_corrupt_not_a_panic() {
        let mut output = BytesMut::new();
        assert!(inflate_message(&[0xff; 64], 1 << 20, &mut output).is_err());
    }
}
