use super::*;

fn stored(seq: u64, subject: &str, headers: &[u8], payload: &[u8]) -> StoredMessage {
    StoredMessage {
        seq,
        subject: subject.to_owned(),
        headers: Bytes::copy_from_slice(headers),
        payload: Bytes::copy_from_slice(payload),
        timestamp_ns: 1_700_000_000_000_000_000 + seq as i64,
        ttl_ns: 0,
    }
}

fn read_all(bytes: &[u8], piece_len: usize) -> Result<Vec<RestoreItem>, BackupError> {
    let mut reader = RestoreReader::new(1 << 20);
    let mut items = Vec::new();
    for piece in bytes.chunks(piece_len.max(1)) {
        reader.feed(piece)?;
        while let Some(item) = reader.next_item()? {
            items.push(item);
        }
    }
    assert!(reader.is_complete(), "the end entry was read");
    Ok(items)
}

#[test]
fn a_snapshot_reads_back_in_chunks_of_any_size() {
    let state = StreamState {
        messages: 3,
        first_seq: 2,
        last_seq: 9,
        ..StreamState::default()
    };
    let mut writer = SnapshotWriter::new(&state);
    let messages = vec![
        stored(2, "a.1", b"", b"one"),
        stored(5, "a.2", b"NATS/1.0\r\nNats-TTL: 60\r\n\r\n", b"two"),
        stored(9, "b", b"", &vec![7u8; 300_000]),
    ];
    let mut chunks = Vec::new();
    for message in &messages {
        writer.message(message);
        while let Some(chunk) = writer.take_chunk(1024) {
            assert_eq!(chunk.len(), 1024);
            chunks.push(chunk);
        }
    }
    writer.finish();
    while let Some(chunk) = writer.take_chunk(1024) {
        chunks.push(chunk);
    }
    let rest = writer.take_rest();
    assert!(rest.len() < 1024);
    chunks.push(rest);
    let bytes = chunks.concat();
    for piece_len in [1, 100, 1024, bytes.len()] {
        let items = read_all(&bytes, piece_len).unwrap();
        let RestoreItem::State(read_state) = &items[0] else {
            panic!("state first: {items:?}");
        };
        assert_eq!((read_state.first_seq, read_state.last_seq), (2, 9));
        assert_eq!(items.len(), 5);
        let mut expected_ttl = messages[1].clone();
        expected_ttl.ttl_ns = 60_000_000_000;
        assert_eq!(items[1], RestoreItem::Message(messages[0].clone()));
        assert_eq!(items[2], RestoreItem::Message(expected_ttl));
        assert_eq!(items[3], RestoreItem::Message(messages[2].clone()));
        assert_eq!(items[4], RestoreItem::End);
    }
}

#[test]
fn consumers_come_between_the_state_and_the_messages() {
    let state = StreamState {
        consumer_count: 1,
        ..StreamState::default()
    };
    let mut writer = SnapshotWriter::new(&state);
    writer.consumer("C1", br#"{"config":{},"state":{}}"#);
    writer.message(&stored(1, "x", b"", b"m"));
    writer.finish();
    let items = read_all(&writer.take_rest(), 7).unwrap();
    assert_eq!(
        items[1],
        RestoreItem::Consumer {
            name: "C1".into(),
            json: br#"{"config":{},"state":{}}"#.to_vec()
        }
    );
    assert!(matches!(items[2], RestoreItem::Message(_)));
}

/// A backup the Go server 2.15.1 sent (`STREAM.SNAPSHOT` of a stream with `s.0`..`s.4`
/// published, `s.2` with a header, `s.3` deleted), the bytes `nats stream backup` saves.
const GO_BACKUP: &[u8] = include_bytes!("go-2.15.1-backup.s2");

#[test]
fn a_backup_of_the_go_server_reads() {
    let items = read_all(GO_BACKUP, 64).unwrap();
    let RestoreItem::State(state) = &items[0] else {
        panic!("state first: {items:?}");
    };
    assert_eq!(
        (state.messages, state.first_seq, state.last_seq, state.bytes),
        (4, 1, 5, 182)
    );
    let messages: Vec<&StoredMessage> = items
        .iter()
        .filter_map(|item| match item {
            RestoreItem::Message(message) => Some(message),
            _ => None,
        })
        .collect();
    let seqs: Vec<u64> = messages.iter().map(|message| message.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 5]);
    assert_eq!(messages[2].subject, "s.2");
    assert_eq!(&messages[2].headers[..], b"NATS/1.0\r\nH: v\r\n\r\n");
    assert_eq!(&messages[3].payload[..], b"hello 4");
    assert!(messages[0].timestamp_ns > 1_700_000_000_000_000_000);
    assert_eq!(items.last(), Some(&RestoreItem::End));
}

#[test]
fn truncated_or_foreign_backups_are_refused() {
    let mut writer = SnapshotWriter::new(&StreamState::default());
    writer.message(&stored(1, "x", b"", b"m"));
    writer.finish();
    let bytes = writer.take_rest();
    // Cut before the end entry: the reader never completes.
    let mut reader = RestoreReader::new(1024);
    reader.feed(&bytes[..bytes.len() - 8]).unwrap_or(());
    while let Ok(Some(_)) = reader.next_item() {}
    assert!(!reader.is_complete());
    // Not S2 at all.
    let mut reader = RestoreReader::new(1024);
    assert!(reader.feed(b"ustar\0\0\0\0\0\0\0\0\0").is_err());
    // A stream identifier alone is a valid, incomplete backup.
    let mut reader = RestoreReader::new(1024);
    reader.feed(&GO_BACKUP[..10]).unwrap();
    assert_eq!(reader.next_item().unwrap(), None);
}

#[test]
fn a_message_without_a_sequence_is_refused() {
    let mut plain = Vec::new();
    archive::write_magic(&mut plain);
    archive::write_entry(
        &mut plain,
        &EntryHeader {
            name: STATE_ENTRY.into(),
            payload_size: 2,
            ..EntryHeader::default()
        },
        &[b"{}"],
    );
    archive::write_entry(
        &mut plain,
        &EntryHeader {
            name: "x".into(),
            timestamp_ns: 5,
            payload_size: 1,
            ..EntryHeader::default()
        },
        &[b"m"],
    );
    let mut compressed = Vec::new();
    let mut encoder = s2::Encoder::default();
    encoder.write_block(&plain, &mut compressed);
    let mut reader = RestoreReader::new(1024);
    reader.feed(&compressed).unwrap();
    assert!(matches!(
        reader.next_item(),
        Ok(Some(RestoreItem::State(_)))
    ));
    assert_eq!(
        reader.next_item(),
        Err(BackupError::Format("expected message sequence".into()))
    );
}
