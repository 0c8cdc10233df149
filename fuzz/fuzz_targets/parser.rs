//! Fuzzes the client protocol parser with input split at arbitrary points.
//!
//! The first two bytes choose where the rest of the input is cut into chunks; the chunks are
//! fed the way a connection feeds its read buffer. Whatever the cuts, the operations and the
//! final verdict must equal those of parsing the whole input at once, and nothing may panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use natrix_shards::protocol::parser::{ClientOp, Parsed, ParseError, Parser};

const PARSER: Parser = Parser { max_payload: 4096, max_control_line: 256, headers_enabled: true };

#[derive(Debug, PartialEq)]
enum Outcome {
    Ops(Vec<(ClientOp, Vec<u8>)>),
    Failed(Vec<(ClientOp, Vec<u8>)>, ParseError),
}

/// Feeds `chunks` one after another into a growing buffer, consuming parsed operations.
fn run(chunks: &[&[u8]]) -> Outcome {
    let mut buffer: Vec<u8> = Vec::new();
    let mut ops = Vec::new();
    for chunk in chunks {
        buffer.extend_from_slice(chunk);
        loop {
            match PARSER.parse(&buffer) {
                Ok(Parsed::Op { op, consumed }) => {
                    assert!(consumed > 0 && consumed <= buffer.len(), "consumed out of range");
                    // Keep the operation's own bytes so ranges are compared by content.
                    ops.push((op, buffer[..consumed].to_vec()));
                    buffer.drain(..consumed);
                }
                Ok(Parsed::NeedMore { total_len }) => {
                    assert!(total_len > buffer.len(), "NeedMore must ask for more bytes");
                    break;
                }
                Err(error) => return Outcome::Failed(ops, error),
            }
        }
    }
    Outcome::Ops(ops)
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let (seed, input) = (u16::from_le_bytes([data[0], data[1]]), &data[2..]);
    let whole = run(&[input]);
    let mut cuts: Vec<usize> = Vec::new();
    let mut state = u32::from(seed) | 1;
    let mut position = 0;
    while position < input.len() {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        position += 1 + (state as usize % 64);
        cuts.push(position.min(input.len()));
    }
    let mut chunks = Vec::new();
    let mut start = 0;
    for cut in cuts {
        chunks.push(&input[start..cut]);
        start = cut;
    }
    let split = run(&chunks);
    assert_eq!(whole, split, "split input parsed differently");
});
