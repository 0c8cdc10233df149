//! Fuzzes the WebSocket frame decoder (with permessage-deflate on) with input split at
//! arbitrary points, as the connection's reads split it.
//!
//! The first two bytes choose the cuts; whatever they are, the NATS bytes the frames carry,
//! the control frames answered and the verdict must equal those of decoding the whole input at
//! once, nothing may panic, and the output stays within its bounds.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use natrix_shards::websocket::frames::{max_message_size, Decoded, FrameDecoder, FrameError};

const MAX_PAYLOAD: usize = 4096;

#[derive(Debug, PartialEq)]
struct Outcome {
    plaintext: Vec<u8>,
    replies: Vec<u8>,
    close: Option<Vec<u8>>,
    closed_by_peer: bool,
    error: Option<FrameError>,
}

fn run(chunks: &[&[u8]], mask_required: bool) -> Outcome {
    let mut decoder = FrameDecoder::new(mask_required, true, MAX_PAYLOAD);
    let mut plaintext = BytesMut::new();
    let mut decoded = Decoded::default();
    let mut error = None;
    for chunk in chunks {
        let mut input = chunk.to_vec();
        if let Err(failure) = decoder.decode(&mut input, &mut plaintext, &mut decoded) {
            error = Some(failure);
            break;
        }
        if decoded.closed_by_peer {
            break;
        }
    }
    Outcome {
        plaintext: plaintext.to_vec(),
        replies: decoded.replies,
        close: decoded.close,
        closed_by_peer: decoded.closed_by_peer,
        error,
    }
}

fuzz_target!(|data: &[u8]| {
    let [first, second, rest @ ..] = data else {
        return;
    };
    let mask_required = first & 1 == 0;
    let whole = run(&[rest], mask_required);
    // Inflated output is bounded by max_payload per message; uncompressed by the input.
    assert!(whole.plaintext.len() <= rest.len() + MAX_PAYLOAD * (rest.len() / 2 + 1));
    assert!(max_message_size(MAX_PAYLOAD) >= MAX_PAYLOAD);
    let step = usize::from(*second).max(1);
    let chunks: Vec<&[u8]> = rest.chunks(step).collect();
    let split = run(&chunks, mask_required);
    assert_eq!(whole, split, "cut every {step} bytes");
});
