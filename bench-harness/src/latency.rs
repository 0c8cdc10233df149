//! Request/reply: closed-loop capacity and open-loop latency at a fixed rate.
//!
//! Requests go through the official `async-nats` client, as an application's would. The
//! responder is a raw-protocol thread that answers whole read batches with one write, so that
//! the reply side costs the load generator little.
//!
//! Open-loop runs avoid coordinated omission: request `i` is due at `start + i / rate`, a
//! dedicated thread sends it then (or as soon as it can when it is late), and its latency is
//! measured from the due time, so a stalled server is charged for the requests it delayed.
//! Sending never waits for replies. Above one request per 200 µs, requests due within the next
//! 250 µs leave together, slightly early, and are measured from their actual send.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use bytes::Bytes;
use hdrhistogram::Histogram;

use crate::scenario::{LatencySummary, Limits, RoundMeasurement};
use crate::throughput::unique_suffix;
use crate::wire::{RawConnection, ServerFrame};

/// Percentiles reported and plotted for every latency run.
pub const PERCENTILES: [f64; 9] = [50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.99, 100.0];

/// Closed loop: `in_flight` tasks each send a request and wait for its reply, until the time
/// bound. Returns completed requests per second.
pub async fn run_capacity(
    address: SocketAddr,
    in_flight: usize,
    payload_len: usize,
    limits: &Limits,
) -> Result<RoundMeasurement> {
    let subject = format!("bench.rr.{}", unique_suffix());
    let responder = Responder::start(address, &subject, payload_len)?;
    let client = connect_client(address, limits.request_timeout).await?;
    let payload = Bytes::from(vec![b'q'; payload_len]);
    let completed = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let started_at = Instant::now();
    let until = started_at + limits.publish_duration;
    let tasks: Vec<_> = (0..in_flight)
        .map(|_| {
            let client = client.clone();
            let subject = subject.clone();
            let payload = payload.clone();
            let completed = Arc::clone(&completed);
            let failed = Arc::clone(&failed);
            tokio::spawn(async move {
                while Instant::now() < until {
                    match client.request(subject.clone(), payload.clone()).await {
                        Ok(_) => completed.fetch_add(1, Ordering::Relaxed),
                        Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.context("requester task")?;
    }
    let elapsed = started_at.elapsed();
    responder.stop()?;
    let completed = completed.load(Ordering::Relaxed);
    let failed = failed.load(Ordering::Relaxed);
    if completed == 0 {
        return Err(anyhow!("no request was answered ({failed} failed)"));
    }
    let mut measurement = RoundMeasurement::new(
        completed as f64 / elapsed.as_secs_f64(),
        completed * 2,
        elapsed,
    );
    if failed > 0 {
        measurement
            .notes
            .push(format!("{failed} requests failed or timed out"));
    }
    Ok(measurement)
}

/// Open loop at `rate_per_s` for the latency duration. Returns the p99 latency in µs as the
/// headline, with the full percentile curve attached.
pub async fn run_fixed_rate(
    address: SocketAddr,
    rate_per_s: f64,
    payload_len: usize,
    limits: &Limits,
) -> Result<RoundMeasurement> {
    /// Requests allowed in flight at once; beyond it the sender waits, and the wait counts
    /// toward latency because latency is measured from the schedule.
    const IN_FLIGHT_MAX: usize = 20_000;
    if !(rate_per_s.is_finite() && rate_per_s >= 1.0) {
        return Err(anyhow!("request rate {rate_per_s} is not a usable rate"));
    }
    let subject = format!("bench.rr.{}", unique_suffix());
    let responder = Responder::start(address, &subject, payload_len)?;
    let client = connect_client(address, limits.request_timeout).await?;
    // One warm-up request so that the client's reply subscription exists before the clock.
    client
        .request(subject.clone(), Bytes::from_static(b"warmup"))
        .await
        .map_err(|error| anyhow!("warm-up request: {error}"))?;

    let requests_total = ((rate_per_s * limits.latency_duration.as_secs_f64()) as u64).max(1);
    let interval = Duration::from_secs_f64(1.0 / rate_per_s);
    let payload = Bytes::from(vec![b'q'; payload_len]);
    let recorder = Arc::new(Mutex::new(LatencyRecorder::new()?));
    let permits = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT_MAX));
    let runtime = tokio::runtime::Handle::current();
    let started_at = Instant::now() + Duration::from_millis(5);
    // Busy-waiting before each request would occupy the load generator's CPU entirely at high
    // rates; there the sender sleeps and then sends every request that has come due.
    let busy_wait = interval >= BUSY_WAIT_MAX;

    let sender = {
        let recorder = Arc::clone(&recorder);
        let permits = Arc::clone(&permits);
        let request_timeout = limits.request_timeout;
        std::thread::spawn(move || {
            let due = |index: u64| started_at + interval.mul_f64(index as f64);
            let mut next_index = 0;
            while next_index < requests_total {
                // At low rates each request leaves on its own, exactly on time. At high rates
                // a wake-up per request would cost the load generator more than the request
                // itself, so one wake-up sends every request due within the next window,
                // early; their latency is then measured from the actual send.
                let batch_until = if busy_wait {
                    sleep_until(due(next_index), true);
                    due(next_index) + Duration::from_nanos(1)
                } else {
                    sleep_until(
                        due(next_index)
                            .checked_sub(DISPATCH_WINDOW)
                            .unwrap_or(started_at),
                        false,
                    );
                    Instant::now() + DISPATCH_WINDOW
                };
                let mut batch = Vec::new();
                while next_index < requests_total && due(next_index) < batch_until {
                    let permit = loop {
                        match Arc::clone(&permits).try_acquire_owned() {
                            Ok(permit) => break permit,
                            Err(_) => std::thread::sleep(Duration::from_micros(50)),
                        }
                    };
                    batch.push((due(next_index), permit));
                    next_index += 1;
                }
                let client = client.clone();
                let subject = subject.clone();
                let payload = payload.clone();
                let recorder = Arc::clone(&recorder);
                runtime.spawn(async move {
                    for (due_at, permit) in batch {
                        let client = client.clone();
                        let subject = subject.clone();
                        let payload = payload.clone();
                        let recorder = Arc::clone(&recorder);
                        tokio::spawn(async move {
                            let sent_at = Instant::now();
                            let reply = tokio::time::timeout(
                                request_timeout,
                                client.request(subject, payload),
                            )
                            .await;
                            // Late: from the due time, so delays are charged (no coordinated
                            // omission). Early: from the actual send.
                            let latency = sent_at.min(due_at).elapsed();
                            if let Ok(mut recorder) = recorder.lock() {
                                recorder.record(
                                    sent_at.saturating_duration_since(due_at),
                                    latency,
                                    &reply,
                                );
                            }
                            drop(permit);
                        });
                    }
                });
            }
        })
    };
    tokio::task::spawn_blocking(move || sender.join())
        .await
        .context("joining the sender")?
        .map_err(|_| anyhow!("sender thread panicked"))?;
    // Every request holds a permit until its reply or timeout is recorded.
    let all_permits = u32::try_from(IN_FLIGHT_MAX).unwrap_or(u32::MAX);
    let _all_back = tokio::time::timeout(
        limits.request_timeout + Duration::from_secs(5),
        permits.acquire_many(all_permits),
    )
    .await
    .context("waiting for outstanding requests")?;
    let elapsed = started_at.elapsed();
    responder.stop()?;

    let recorder = recorder.lock().map_err(|_| anyhow!("recorder poisoned"))?;
    let summary = recorder.summary(rate_per_s, elapsed);
    let answered = summary.requests - summary.timeouts - summary.errors;
    if answered == 0 {
        return Err(anyhow!("no request was answered"));
    }
    let p99_us = summary
        .percentiles_us
        .iter()
        .find(|(percentile, _)| *percentile == 99.0)
        .map(|(_, micros)| *micros)
        .unwrap_or(summary.max_us);
    let mut measurement = RoundMeasurement::new(p99_us, answered * 2, elapsed);
    if summary.timeouts + summary.errors > 0 {
        measurement.notes.push(format!(
            "{} timeouts, {} errors (timeouts are recorded at the timeout value)",
            summary.timeouts, summary.errors
        ));
    }
    measurement.latency = Some(summary);
    Ok(measurement)
}

/// The busy wait before a request's due time; also the shortest request interval for which
/// the sender busy-waits at all.
const BUSY_WAIT_MAX: Duration = Duration::from_micros(200);

/// At rates above one request per `BUSY_WAIT_MAX`, requests due within this window leave
/// together. Measured on the development VM, a sender wake-up with its cross-thread hand-off
/// costs ~65 µs of load-generator CPU, so one per request capped open-loop runs near 15k/s.
const DISPATCH_WINDOW: Duration = Duration::from_micros(250);

/// Waits until `due_at`: a kernel sleep to shortly before it, then (with `busy_wait`) a spin.
/// Sleeping alone overshoots by the timer slack plus the VM's wake-up latency (p99 ~1 ms
/// measured on the development VM); the spin is short and preemptible by the runtime and
/// responder threads when they have work. Whatever lateness remains is reported as send lag.
pub fn sleep_until(due_at: Instant, busy_wait: bool) {
    let spin = if busy_wait {
        BUSY_WAIT_MAX
    } else {
        Duration::ZERO
    };
    let now = Instant::now();
    if due_at > now + spin {
        std::thread::sleep(due_at - now - spin);
    }
    while busy_wait && Instant::now() < due_at {
        std::hint::spin_loop();
    }
}

async fn connect_client(
    address: SocketAddr,
    request_timeout: Duration,
) -> Result<async_nats::Client> {
    async_nats::ConnectOptions::new()
        .name("natrix-bench")
        .request_timeout(Some(request_timeout))
        .connection_timeout(Duration::from_secs(10))
        .connect(format!("nats://{address}"))
        .await
        .with_context(|| format!("connecting async-nats to {address}"))
}

struct LatencyRecorder {
    latency_ns: Histogram<u64>,
    send_lag_ns: Histogram<u64>,
    timeouts: u64,
    errors: u64,
}

impl LatencyRecorder {
    fn new() -> Result<Self> {
        let histogram = || Histogram::new_with_bounds(1_000, 120_000_000_000, 3);
        Ok(Self {
            latency_ns: histogram().context("creating a histogram")?,
            send_lag_ns: histogram().context("creating a histogram")?,
            timeouts: 0,
            errors: 0,
        })
    }

    fn record<T, E>(
        &mut self,
        send_lag: Duration,
        latency: Duration,
        reply: &Result<Result<T, E>, tokio::time::error::Elapsed>,
    ) {
        match reply {
            Ok(Ok(_)) => {}
            Ok(Err(_)) => self.errors += 1,
            Err(_) => self.timeouts += 1,
        }
        self.latency_ns.saturating_record(latency.as_nanos() as u64);
        self.send_lag_ns
            .saturating_record(send_lag.as_nanos() as u64);
    }

    fn summary(&self, target_rate_per_s: f64, elapsed: Duration) -> LatencySummary {
        let requests = self.latency_ns.len();
        LatencySummary {
            target_rate_per_s,
            achieved_rate_per_s: requests as f64 / elapsed.as_secs_f64(),
            requests,
            timeouts: self.timeouts,
            errors: self.errors,
            percentiles_us: PERCENTILES
                .iter()
                .map(|&percentile| {
                    (
                        percentile,
                        self.latency_ns.value_at_quantile(percentile / 100.0) as f64 / 1e3,
                    )
                })
                .collect(),
            max_us: self.latency_ns.max() as f64 / 1e3,
            send_lag_p99_us: self.send_lag_ns.value_at_quantile(0.99) as f64 / 1e3,
        }
    }
}

/// A raw-protocol responder thread: answers every request on `subject` with a payload of the
/// same size, writing all replies for one read batch at once.
struct Responder {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Result<()>>,
}

impl Responder {
    fn start(address: SocketAddr, subject: &str, payload_len: usize) -> Result<Self> {
        let mut connection =
            RawConnection::connect(address, "bench-responder", Duration::from_secs(10))?;
        connection.subscribe(subject, None, 1, Duration::from_secs(10))?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || answer_requests(connection, payload_len, &stop))
        };
        Ok(Self { stop, thread })
    }

    fn stop(self) -> Result<()> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .join()
            .map_err(|_| anyhow!("responder thread panicked"))?
    }
}

fn answer_requests(
    mut connection: RawConnection,
    payload_len: usize,
    stop: &AtomicBool,
) -> Result<()> {
    let payload = vec![b'r'; payload_len];
    let mut replies = Vec::with_capacity(64 * 1024);
    while !stop.load(Ordering::Relaxed) {
        replies.clear();
        connection.read_some(|frame| match frame {
            ServerFrame::Msg {
                reply_to: Some(reply_to),
                ..
            } => {
                replies.extend_from_slice(b"PUB ");
                replies.extend_from_slice(reply_to);
                replies.extend_from_slice(format!(" {payload_len}\r\n").as_bytes());
                replies.extend_from_slice(&payload);
                replies.extend_from_slice(b"\r\n");
            }
            ServerFrame::Ping => replies.extend_from_slice(b"PONG\r\n"),
            _ => {}
        })?;
        if !replies.is_empty() {
            connection
                .stream
                .write_all(&replies)
                .context("writing replies")?;
        }
    }
    Ok(())
}
