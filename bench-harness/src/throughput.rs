//! Throughput scenarios over the raw protocol: pub-only, pub/sub, fan-out, many-to-many and
//! queue groups.
//!
//! Each publisher and subscriber is one blocking thread with one socket. Publishers write large
//! pre-built batches of `PUB` frames; subscribers count `MSG` frames without touching payloads.
//! A publisher stays at most `flow_window_bytes` ahead of the slowest subscriber, so a run
//! measures what the server sustains rather than how much it can buffer before it declares a
//! slow consumer.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};

use crate::scenario::{Limits, RoundMeasurement};
use crate::wire::{pub_batch, RawConnection, ServerFrame};

/// The shape of one flow run.
#[derive(Debug, Clone, Copy)]
pub struct FlowShape {
    pub publishers: usize,
    pub subscribers: usize,
    pub queue_group: bool,
    pub payload_len: usize,
    /// Every connection goes through the server's WebSocket port (`address` is that port).
    pub websocket: bool,
}

/// Runs one round and returns messages per second: delivered messages (summed over
/// subscribers) when there are subscribers, published messages otherwise.
pub fn run_flow(
    address: SocketAddr,
    shape: FlowShape,
    limits: &Limits,
) -> Result<RoundMeasurement> {
    let handshake_timeout = Duration::from_secs(10);
    let subject = format!("bench.flow.{}", unique_suffix());
    let progress = Arc::new(FlowProgress {
        published: AtomicU64::new(0),
        delivered: (0..shape.subscribers).map(|_| AtomicU64::new(0)).collect(),
        last_delivery_ns: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        failure: Mutex::new(None),
        queue_group: shape.queue_group,
    });

    let mut subscriber_connections = Vec::with_capacity(shape.subscribers);
    for index in 0..shape.subscribers {
        let mut connection = RawConnection::connect_over(
            address,
            &format!("bench-sub-{index}"),
            handshake_timeout,
            shape.websocket,
        )?;
        let queue_group = shape.queue_group.then_some("bench-workers");
        connection.subscribe(&subject, queue_group, 1, handshake_timeout)?;
        subscriber_connections.push(connection);
    }
    let mut publisher_connections = Vec::with_capacity(shape.publishers);
    for index in 0..shape.publishers {
        publisher_connections.push(RawConnection::connect_over(
            address,
            &format!("bench-pub-{index}"),
            handshake_timeout,
            shape.websocket,
        )?);
    }

    let (batch, frames_per_batch) =
        pub_batch(&subject, None, shape.payload_len, limits.write_batch_bytes);
    // Over WebSocket, a batch goes out as one frame, built once.
    let batch = if shape.websocket {
        Arc::new(crate::websocket::client_frame(&batch))
    } else {
        Arc::new(batch)
    };
    let frame_len = (batch.len() as u64 / frames_per_batch).max(1);
    let window_messages = (limits.flow_window_bytes / frame_len).max(2 * frames_per_batch);
    let messages_per_publisher = limits.publish_messages_max / shape.publishers.max(1) as u64;

    // Clones of the subscriber sockets let the coordinator end their blocking reads at once.
    let subscriber_sockets: Vec<std::net::TcpStream> = subscriber_connections
        .iter()
        .map(|connection| connection.stream.try_clone())
        .collect::<std::io::Result<_>>()
        .context("cloning subscriber sockets")?;
    let started_at = Instant::now();
    let subscriber_threads: Vec<JoinHandle<()>> = subscriber_connections
        .into_iter()
        .enumerate()
        .map(|(index, connection)| {
            let progress = Arc::clone(&progress);
            std::thread::spawn(move || count_deliveries(connection, index, &progress, started_at))
        })
        .collect();
    let publish_until = started_at + limits.publish_duration;
    let publisher_threads: Vec<JoinHandle<Result<()>>> = publisher_connections
        .into_iter()
        .map(|connection| {
            let progress = Arc::clone(&progress);
            let batch = Arc::clone(&batch);
            let publish = PublishPlan {
                frames_per_batch,
                messages_max: messages_per_publisher,
                until: publish_until,
                window_messages,
                confirm_timeout: limits.drain_timeout,
            };
            std::thread::spawn(move || publish_batches(connection, &batch, &publish, &progress))
        })
        .collect();

    let mut publish_error = None;
    for thread in publisher_threads {
        let outcome = thread
            .join()
            .map_err(|_| anyhow!("publisher thread panicked"))?;
        if let Err(error) = outcome {
            publish_error.get_or_insert(error);
        }
    }
    let published_at = started_at.elapsed();
    let published = progress.published.load(Ordering::Relaxed);

    if shape.subscribers > 0 {
        let drain_deadline = Instant::now() + limits.drain_timeout;
        while progress.lag() > 0 && Instant::now() < drain_deadline && !progress.has_failed() {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    progress.stop.store(true, Ordering::Relaxed);
    for socket in &subscriber_sockets {
        let _ = socket.shutdown(std::net::Shutdown::Both);
    }
    for thread in subscriber_threads {
        thread
            .join()
            .map_err(|_| anyhow!("subscriber thread panicked"))?;
    }
    if let Some(error) = publish_error {
        return Err(error.context("publishing"));
    }
    let failure = progress
        .failure
        .lock()
        .map(|failure| failure.clone())
        .unwrap_or_default();

    if shape.subscribers == 0 {
        let elapsed = published_at;
        return Ok(RoundMeasurement::new(
            published as f64 / elapsed.as_secs_f64(),
            published,
            elapsed,
        ));
    }
    let delivered: u64 = progress
        .delivered
        .iter()
        .map(|count| count.load(Ordering::Relaxed))
        .sum();
    let expected = if shape.queue_group {
        published
    } else {
        published * shape.subscribers as u64
    };
    let elapsed =
        Duration::from_nanos(progress.last_delivery_ns.load(Ordering::Relaxed)).max(published_at);
    let mut measurement =
        RoundMeasurement::new(delivered as f64 / elapsed.as_secs_f64(), delivered, elapsed);
    if delivered < expected {
        measurement.notes.push(format!(
            "{} of {expected} messages not delivered{}",
            expected - delivered,
            failure
                .map(|reason| format!(" ({reason})"))
                .unwrap_or_default()
        ));
    }
    if delivered == 0 {
        return Err(anyhow!(
            "no message was delivered: {}",
            measurement.notes.join("; ")
        ));
    }
    Ok(measurement)
}

struct FlowProgress {
    published: AtomicU64,
    delivered: Vec<AtomicU64>,
    /// Nanoseconds from the start of the run to the last read that delivered messages.
    last_delivery_ns: AtomicU64,
    stop: AtomicBool,
    failure: Mutex<Option<String>>,
    queue_group: bool,
}

impl FlowProgress {
    /// How many messages the slowest consumer is behind (the queue group as a whole is one
    /// consumer).
    fn lag(&self) -> u64 {
        let published = self.published.load(Ordering::Relaxed);
        let delivered = self
            .delivered
            .iter()
            .map(|count| count.load(Ordering::Relaxed));
        let consumed = if self.queue_group {
            delivered.sum()
        } else {
            delivered.min().unwrap_or(published)
        };
        published.saturating_sub(consumed)
    }

    fn has_failed(&self) -> bool {
        self.failure
            .lock()
            .map(|failure| failure.is_some())
            .unwrap_or(true)
    }

    fn fail(&self, reason: String) {
        if let Ok(mut failure) = self.failure.lock() {
            failure.get_or_insert(reason);
        }
    }
}

struct PublishPlan {
    frames_per_batch: u64,
    messages_max: u64,
    until: Instant,
    window_messages: u64,
    confirm_timeout: Duration,
}

fn publish_batches(
    mut connection: RawConnection,
    batch: &[u8],
    plan: &PublishPlan,
    progress: &FlowProgress,
) -> Result<()> {
    let mut sent = 0u64;
    while sent + plan.frames_per_batch <= plan.messages_max.max(plan.frames_per_batch) {
        if Instant::now() >= plan.until || progress.has_failed() {
            break;
        }
        if progress.lag() + plan.frames_per_batch > plan.window_messages {
            // Subscribers are behind; sleeping rather than spinning leaves the load
            // generator's CPU to them.
            std::thread::sleep(Duration::from_micros(20));
            continue;
        }
        connection
            .stream
            .write_all(batch)
            .context("writing a batch")?;
        sent += plan.frames_per_batch;
        progress
            .published
            .fetch_add(plan.frames_per_batch, Ordering::Relaxed);
    }
    // The PONG proves the server parsed every PUB before it; for pub-only runs it ends the clock.
    connection
        .flush(plan.confirm_timeout)
        .context("waiting for the server to take all PUBs")
}

fn count_deliveries(
    mut connection: RawConnection,
    index: usize,
    progress: &FlowProgress,
    started_at: Instant,
) {
    let mut delivered = 0u64;
    while !progress.stop.load(Ordering::Relaxed) {
        let mut must_answer_ping = false;
        let mut server_error = None;
        let read = connection.read_some(|frame| match frame {
            ServerFrame::Msg { .. } => delivered += 1,
            ServerFrame::Ping => must_answer_ping = true,
            ServerFrame::Err(text) => {
                server_error = Some(String::from_utf8_lossy(text).into_owned())
            }
            _ => {}
        });
        match read {
            Ok(0) => continue,
            Ok(_) => {
                progress.delivered[index].store(delivered, Ordering::Relaxed);
                let now_ns = started_at.elapsed().as_nanos() as u64;
                progress
                    .last_delivery_ns
                    .fetch_max(now_ns, Ordering::Relaxed);
            }
            // After the stop flag, errors come from the coordinator's shutdown of the socket.
            Err(_) if progress.stop.load(Ordering::Relaxed) => return,
            Err(error) => {
                progress.fail(format!("subscriber {index}: {error:#}"));
                return;
            }
        }
        if let Some(text) = server_error {
            progress.fail(format!("subscriber {index} got -ERR {text}"));
            return;
        }
        if must_answer_ping && connection.send(b"PONG\r\n").is_err() {
            progress.fail(format!("subscriber {index}: could not answer PING"));
            return;
        }
    }
}

/// Subjects unique per run, so a late message from an earlier run can never be counted.
pub fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}
