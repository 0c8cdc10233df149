//! Scanning a block's bytes during recovery: decode records one after another, step over
//! damage to the next valid record, and tell a torn tail (nothing valid after the damage) from
//! corruption in the middle (good records follow, and are kept), and both from the zeros
//! preallocated after the last record (the end of the data). Pure.

use crate::codec::{self, Record};

/// What a scan found besides the records it handed out.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct ScanOutcome {
    /// Damaged byte ranges (offset, length) followed by at least one valid record.
    pub corrupt_ranges: Vec<(u64, u64)>,
    /// Where the valid data ends; bytes from here on are a torn or damaged tail, or the
    /// zeros preallocated ahead of the records.
    pub valid_end: u64,
    /// Everything from `valid_end` on is zero: the file was extended ahead of its records
    /// (see `flusher`), which is no damage.
    pub zero_tail: bool,
}

/// Decodes every record of `data` from `start`, calling `on_record(offset, record, len)`.
pub(crate) fn scan_records<'a>(
    data: &'a [u8],
    start: usize,
    salt: u32,
    mut on_record: impl FnMut(u64, Record<'a>, usize),
) -> ScanOutcome {
    let mut outcome = ScanOutcome::default();
    let mut position = start.min(data.len());
    while position < data.len() {
        match codec::decode_record(&data[position..], salt) {
            Ok((record, len)) => {
                on_record(position as u64, record, len);
                position += len;
            }
            // Preallocated zeros: the end of what was written, not damage. A torn record
            // is never all zero (its magic is written with it, in the same page or before).
            Err(_) if data[position..].iter().all(|byte| *byte == 0) => {
                outcome.zero_tail = true;
                break;
            }
            Err(_) => match codec::find_next_record(data, position + 1, salt) {
                Some(next) => {
                    outcome
                        .corrupt_ranges
                        .push((position as u64, (next - position) as u64));
                    position = next;
                }
                None => break,
            },
        }
    }
    outcome.valid_end = position as u64;
    outcome
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::catalog::Removal;
    use crate::codec::MessageRecord;

    const SALT: u32 = 0x5EED;

    fn three_records() -> (Vec<u8>, Vec<usize>) {
        let mut data = Vec::new();
        let mut starts = Vec::new();
        for seq in 1..=3 {
            starts.push(data.len());
            codec::encode_message(
                &mut data,
                &MessageRecord {
                    seq,
                    timestamp_ns: 1,
                    ttl_ns: 0,
                    subject: "a",
                    headers: b"",
                    payload: b"xyz",
                },
                SALT,
            );
        }
        (data, starts)
    }

    fn scanned_seqs(data: &[u8]) -> (Vec<u64>, ScanOutcome) {
        let mut seqs = Vec::new();
        let outcome = scan_records(data, 0, SALT, |_, record, _| {
            if let Record::Message(message) = record {
                seqs.push(message.seq);
            }
        });
        (seqs, outcome)
    }

    #[test]
    fn damage_in_the_middle_is_skipped_and_later_records_kept() {
        let (mut data, starts) = three_records();
        data[starts[1] + 20] ^= 0xFF;
        let (seqs, outcome) = scanned_seqs(&data);
        assert_eq!(seqs, vec![1, 3]);
        assert_eq!(
            outcome.corrupt_ranges,
            vec![(starts[1] as u64, (starts[2] - starts[1]) as u64)]
        );
        assert_eq!(outcome.valid_end, data.len() as u64);
    }

    #[test]
    fn a_torn_last_record_ends_the_valid_data() {
        let (data, starts) = three_records();
        for cut in starts[2]..data.len() {
            let (seqs, outcome) = scanned_seqs(&data[..cut]);
            assert_eq!(seqs, vec![1, 2]);
            assert_eq!(outcome.valid_end, starts[2] as u64);
            assert!(outcome.corrupt_ranges.is_empty());
        }
    }

    #[test]
    fn zeros_after_the_last_record_end_the_data_without_damage() {
        let (mut data, starts) = three_records();
        let end = data.len();
        data.resize(end + 70_000, 0);
        let (seqs, outcome) = scanned_seqs(&data);
        assert_eq!(seqs, vec![1, 2, 3]);
        assert_eq!(outcome.valid_end, end as u64);
        assert!(outcome.zero_tail && outcome.corrupt_ranges.is_empty());
        // A torn record followed by zeros is still a torn tail.
        let mut torn = data[..starts[2] + 5].to_vec();
        torn.resize(torn.len() + 100, 0);
        let (seqs, outcome) = scanned_seqs(&torn);
        assert_eq!(seqs, vec![1, 2]);
        assert_eq!(outcome.valid_end, starts[2] as u64);
        assert!(!outcome.zero_tail);
    }

    #[test]
    fn removal_records_are_handed_out() {
        let mut data = Vec::new();
        codec::encode_removal(&mut data, &Removal::Delete { seq: 4 }, SALT);
        let mut found = Vec::new();
        scan_records(&data, 0, SALT, |_, record, _| found.push(record));
        assert_eq!(found, vec![Record::Removal(Removal::Delete { seq: 4 })]);
    }
}
