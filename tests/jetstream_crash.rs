//! JetStream durability over real processes: a `natrix -js` server killed with SIGKILL while
//! many clients publish asynchronously, then restarted on the same store directory, has
//! every message it acknowledged, with its sequence and payload; and a last block cut at
//! arbitrary bytes (a torn write) loses only the records the cut reaches, is reported at
//! start, and the stream continues after the last whole record.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{self, stream};
use bytes::Bytes;
use common::{StoreDir, TestServer};

impl StoreDir {
    /// The block files of stream `name` of the global account, in order.
    fn blocks(&self, name: &str) -> Vec<PathBuf> {
        let dir = self
            .0
            .join("jetstream/$G/streams")
            .join(name)
            .join("blocks");
        let mut blocks: Vec<PathBuf> = std::fs::read_dir(dir)
            .expect("blocks dir")
            .map(|entry| entry.expect("entry").path())
            .collect();
        blocks.sort();
        blocks
    }
}

fn start(store: &StoreDir) -> TestServer {
    TestServer::natrix(2, &["-js", "-sd", store.path()])
}

fn config(name: &str, subject: &str) -> stream::Config {
    stream::Config {
        name: name.to_owned(),
        subjects: vec![subject.to_owned()],
        ..stream::Config::default()
    }
}

/// What the publishers were told: stream and sequence to payload.
type Acknowledged = Arc<Mutex<BTreeMap<(String, u64), Bytes>>>;

/// Publishers that publish asynchronously (up to 64 unacknowledged each) until the server
/// goes away, recording every acknowledgement.
async fn publish_until_killed(url: String, publishers: usize, acknowledged: Acknowledged) {
    let mut tasks = Vec::new();
    for publisher in 0..publishers {
        let url = url.clone();
        let acknowledged = Arc::clone(&acknowledged);
        tasks.push(tokio::spawn(async move {
            let Ok(client) = async_nats::ConnectOptions::new()
                .max_reconnects(Some(0))
                .connect(url)
                .await
            else {
                return;
            };
            // A short ack timeout: once the server is killed, waiting acks fail quickly.
            let js = jetstream::ContextBuilder::new()
                .timeout(Duration::from_secs(1))
                .build(client);
            let subject = if publisher % 2 == 0 {
                "left.p"
            } else {
                "right.p"
            };
            let mut in_flight = std::collections::VecDeque::new();
            for index in 0u64.. {
                let payload = Bytes::from(format!("publisher {publisher} message {index}"));
                let Ok(ack) = js
                    .publish(format!("{subject}{publisher}"), payload.clone())
                    .await
                else {
                    return;
                };
                in_flight.push_back((ack, payload));
                if in_flight.len() >= 64 {
                    let (ack, payload) = in_flight.pop_front().expect("in flight");
                    match tokio::time::timeout(Duration::from_secs(2), ack).await {
                        Ok(Ok(ack)) => {
                            acknowledged
                                .lock()
                                .expect("lock")
                                .insert((ack.stream, ack.sequence), payload);
                        }
                        _ => return,
                    }
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
}

#[tokio::test]
async fn every_acknowledged_publish_survives_kill_9_with_its_sequence_and_payload() {
    let store = StoreDir::new("kill");
    let acknowledged: Acknowledged = Arc::default();
    for round in 0..3 {
        let server = start(&store);
        let client = async_nats::connect(server.url()).await.expect("connect");
        let js = jetstream::new(client);
        if round == 0 {
            js.create_stream(config("LEFT", "left.>"))
                .await
                .expect("create");
            js.create_stream(config("RIGHT", "right.>"))
                .await
                .expect("create");
        }
        // Everything acknowledged before this round is there after the kill before it.
        check_everything_is_there(&js, &acknowledged).await;
        let before = acknowledged.lock().expect("lock").len();
        let publishers = tokio::spawn(publish_until_killed(
            server.url(),
            16,
            Arc::clone(&acknowledged),
        ));
        // Kill once this round has acknowledged a good number of publishes.
        let target = before + 300 * (round + 1);
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while acknowledged.lock().expect("lock").len() < target {
            assert!(std::time::Instant::now() < deadline, "publishers stalled");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        server.kill();
        publishers.await.expect("publishers end");
    }
    let server = start(&store);
    let client = async_nats::connect(server.url()).await.expect("connect");
    let js = jetstream::new(client);
    check_everything_is_there(&js, &acknowledged).await;
}

async fn check_everything_is_there(js: &jetstream::Context, acknowledged: &Acknowledged) {
    let expected = acknowledged.lock().expect("lock").clone();
    let mut streams = BTreeMap::new();
    for ((stream, seq), payload) in expected {
        if !streams.contains_key(&stream) {
            streams.insert(
                stream.clone(),
                js.get_stream(&stream).await.expect("stream"),
            );
        }
        let message = streams[&stream]
            .get_raw_message(seq)
            .await
            .unwrap_or_else(|error| panic!("{stream} {seq} acknowledged but lost: {error}"));
        assert_eq!(message.payload, payload, "{stream} {seq}");
    }
}

/// Offsets and sequences of the message records in a block (`storage/FORMAT.md`).
fn records(block: &[u8]) -> Vec<(usize, usize, u64)> {
    let mut found = Vec::new();
    let mut position = 48;
    while position + 16 <= block.len() {
        let length = u32::from_le_bytes(
            block[position + 8..position + 12]
                .try_into()
                .expect("4 bytes"),
        ) as usize;
        if length < 16 || position + length > block.len() {
            break;
        }
        if block[position + 5] == 1 {
            let seq = u64::from_le_bytes(
                block[position + 12..position + 20]
                    .try_into()
                    .expect("8 bytes"),
            );
            found.push((position, position + length, seq));
        }
        position += length;
    }
    found
}

#[tokio::test]
async fn a_last_block_cut_at_any_byte_keeps_every_whole_record_and_goes_on_after_it() {
    let store = StoreDir::new("torn");
    {
        let server = start(&store);
        let client = async_nats::connect(server.url()).await.expect("connect");
        let js = jetstream::new(client);
        js.create_stream(config("TORN", "torn.>"))
            .await
            .expect("create");
        for index in 0..40 {
            js.publish("torn.a", Bytes::from(format!("payload {index:03}")))
                .await
                .expect("publish")
                .await
                .expect("ack");
        }
        // SIGKILL: no index is written, as after a crash.
        server.kill();
    }
    let blocks = store.blocks("TORN");
    let last = blocks.last().expect("a block").clone();
    let pristine = std::fs::read(&last).expect("read block");
    let whole = records(&pristine);
    assert_eq!(whole.len(), 40);
    // Cuts inside the last four records: at their first byte, one byte in, in the middle,
    // and one byte before their end.
    let mut cuts = Vec::new();
    for &(start, end, _) in &whole[whole.len() - 4..] {
        cuts.extend([start + 1, start + 13, (start + end) / 2, end - 1]);
    }
    for cut in cuts {
        std::fs::write(&last, &pristine[..cut]).expect("cut the block");
        let kept = whole.iter().filter(|(_, end, _)| *end <= cut).count() as u64;
        let server = start(&store);
        assert!(
            server
                .startup_log
                .iter()
                .any(|line| line.contains("cut a torn tail") && line.contains("TORN")),
            "cut at {cut} not reported: {:#?}",
            server.startup_log
        );
        let client = async_nats::connect(server.url()).await.expect("connect");
        let js = jetstream::new(client);
        let stream = js.get_stream("TORN").await.expect("stream");
        let state = &stream.cached_info().state;
        assert_eq!(
            (state.messages, state.last_sequence),
            (kept, kept),
            "cut at {cut}"
        );
        for seq in 1..=kept {
            let message = stream.get_raw_message(seq).await.expect("kept");
            assert_eq!(message.payload, format!("payload {:03}", seq - 1));
        }
        let ack = js
            .publish("torn.a", Bytes::from_static(b"after the cut"))
            .await
            .expect("publish")
            .await
            .expect("ack");
        assert_eq!(ack.sequence, kept + 1, "cut at {cut}");
        server.kill();
        restore_file(&last, &pristine);
    }
}

/// Puts the pristine block back and removes what the last run appended after it.
fn restore_file(path: &Path, pristine: &[u8]) {
    std::fs::write(path, pristine).expect("restore block");
    let dir = path.parent().expect("blocks dir");
    for entry in std::fs::read_dir(dir).expect("blocks") {
        let other = entry.expect("entry").path();
        if other.as_path() > path {
            std::fs::remove_file(other).expect("remove newer block");
        }
    }
}
