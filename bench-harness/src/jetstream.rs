//! JetStream scenarios: synchronous publish, asynchronous publish and pull consume, each on a
//! fresh file-backed stream.
//!
//! Support is probed first with a `$JS.API.INFO` request: a server that has no responder there
//! (or answers with an error) is reported as not supporting JetStream, never skipped silently.
//! Asynchronous publishing uses the raw protocol (acks counted as `MSG` frames on one reply
//! subject); the stream's message count is checked afterwards, so error acks cannot pass for
//! successes.

use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use async_nats::jetstream::{self, consumer, stream};
use bytes::Bytes;
use futures::StreamExt;

use crate::scenario::{Limits, RoundMeasurement};
use crate::throughput::unique_suffix;
use crate::wire::{pub_batch, RawConnection, ServerFrame};

const STREAM_NAME: &str = "BENCH";
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// Why a server cannot run JetStream scenarios, or `None` when it can.
pub async fn unsupported_reason(address: SocketAddr) -> Option<String> {
    let client = match connect(address).await {
        Ok(client) => client,
        Err(error) => return Some(format!("could not connect: {error:#}")),
    };
    let reply =
        tokio::time::timeout(PROBE_TIMEOUT, client.request("$JS.API.INFO", Bytes::new())).await;
    match reply {
        Err(_) => Some(format!("no reply to $JS.API.INFO within {PROBE_TIMEOUT:?}")),
        Ok(Err(error)) => Some(format!("$JS.API.INFO failed: {error}")),
        Ok(Ok(message)) => {
            let info: serde_json::Value = match serde_json::from_slice(&message.payload) {
                Ok(info) => info,
                Err(error) => return Some(format!("$JS.API.INFO answer is not JSON: {error}")),
            };
            info.get("error")
                .map(|error| format!("$JS.API.INFO answered with error {error}"))
        }
    }
}

/// Publishes one message at a time, awaiting each ack, until the time or count bound.
pub async fn run_publish_sync(
    address: SocketAddr,
    payload_len: usize,
    limits: &Limits,
) -> Result<RoundMeasurement> {
    let client = connect(address).await?;
    let context = jetstream::new(client);
    let subject = recreate_stream(&context).await?;
    let payload = Bytes::from(vec![b'j'; payload_len]);
    let started_at = Instant::now();
    let until = started_at + limits.publish_duration;
    let mut acked = 0u64;
    while Instant::now() < until && acked < limits.publish_messages_max {
        let ack = context
            .publish(subject.clone(), payload.clone())
            .await
            .context("sending a JetStream publish")?;
        ack.await.context("awaiting a JetStream ack")?;
        acked += 1;
    }
    let elapsed = started_at.elapsed();
    verify_stream_holds(&context, acked).await?;
    Ok(RoundMeasurement::new(
        acked as f64 / elapsed.as_secs_f64(),
        acked,
        elapsed,
    ))
}

/// Publishes with up to `window` acks outstanding over the raw protocol.
pub async fn run_publish_async(
    address: SocketAddr,
    payload_len: usize,
    window: usize,
    limits: &Limits,
) -> Result<RoundMeasurement> {
    let client = connect(address).await?;
    let context = jetstream::new(client);
    let subject = recreate_stream(&context).await?;
    let limits_owned = limits.clone();
    let (acked, elapsed) = tokio::task::spawn_blocking(move || {
        publish_with_window(
            address,
            &subject,
            payload_len,
            window,
            u64::MAX,
            &limits_owned,
        )
    })
    .await
    .context("joining the async publisher")??;
    verify_stream_holds(&context, acked).await?;
    Ok(RoundMeasurement::new(
        acked as f64 / elapsed.as_secs_f64(),
        acked,
        elapsed,
    ))
}

/// Fills a fresh stream with `messages` for `run_consume`. The runner calls this outside the
/// sampled window, so that filling counts neither in time nor in CPU.
pub async fn prepare_consume(
    address: SocketAddr,
    payload_len: usize,
    messages: u64,
    limits: &Limits,
) -> Result<()> {
    let client = connect(address).await?;
    let context = jetstream::new(client);
    let subject = recreate_stream(&context).await?;
    let fill_limits = Limits {
        publish_duration: limits.drain_timeout * 3,
        publish_messages_max: messages,
        ..limits.clone()
    };
    let (filled, _) = tokio::task::spawn_blocking(move || {
        publish_with_window(address, &subject, payload_len, 1000, messages, &fill_limits)
    })
    .await
    .context("joining the stream filler")??;
    if filled < messages {
        bail!("could only fill the stream with {filled} of {messages} messages in time");
    }
    verify_stream_holds(&context, messages).await
}

/// A server that answers the JetStream API but refuses what a scenario needs (a consumer):
/// the scenario is reported as not supported on it, not as failed.
#[derive(Debug)]
pub struct NotSupported(pub String);

impl std::fmt::Display for NotSupported {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl std::error::Error for NotSupported {}

/// Drains the stream filled by `prepare_consume` through a pull consumer with no acks and
/// returns messages consumed per second.
pub async fn run_consume(
    address: SocketAddr,
    messages: u64,
    limits: &Limits,
) -> Result<RoundMeasurement> {
    let client = connect(address).await?;
    let context = jetstream::new(client);
    let _ = context
        .delete_consumer_from_stream("bench-consumer", STREAM_NAME)
        .await;
    let stream = context
        .get_stream(STREAM_NAME)
        .await
        .context("looking up the stream")?;
    let created = stream
        .create_consumer(consumer::pull::Config {
            durable_name: Some("bench-consumer".to_string()),
            ack_policy: consumer::AckPolicy::None,
            ..Default::default()
        })
        .await;
    let consumer: consumer::PullConsumer = match created {
        Ok(consumer) => consumer,
        // A server that says so (Natrix before consumers exist) does not support the scenario.
        Err(error) if error.to_string().contains("not supported") => {
            return Err(NotSupported(format!("creating the pull consumer: {error}")).into());
        }
        Err(error) => return Err(error).context("creating the pull consumer"),
    };
    let started_at = Instant::now();
    let until = started_at + limits.publish_duration.max(Duration::from_secs(1)) * 10;
    let mut messages_stream = consumer
        .stream()
        .max_messages_per_batch(1000)
        .messages()
        .await
        .context("starting the pull")?;
    let mut consumed = 0u64;
    while consumed < messages {
        let remaining = until.saturating_duration_since(Instant::now());
        match tokio::time::timeout(remaining, messages_stream.next()).await {
            Ok(Some(Ok(_))) => consumed += 1,
            Ok(Some(Err(error))) => return Err(anyhow!("consuming: {error}")),
            Ok(None) => break,
            Err(_) => break,
        }
    }
    let elapsed = started_at.elapsed();
    let mut measurement =
        RoundMeasurement::new(consumed as f64 / elapsed.as_secs_f64(), consumed, elapsed);
    if consumed < messages {
        measurement.notes.push(format!(
            "consumed only {consumed} of {messages} before the time bound"
        ));
    }
    Ok(measurement)
}

async fn connect(address: SocketAddr) -> Result<async_nats::Client> {
    async_nats::ConnectOptions::new()
        .name("natrix-bench-js")
        .connection_timeout(Duration::from_secs(10))
        .request_timeout(Some(Duration::from_secs(10)))
        .connect(format!("nats://{address}"))
        .await
        .with_context(|| format!("connecting async-nats to {address}"))
}

/// Deletes and creates the benchmark stream so that every round starts empty. Returns the
/// subject to publish to.
async fn recreate_stream(context: &jetstream::Context) -> Result<String> {
    let _ = context.delete_stream(STREAM_NAME).await;
    let subject_prefix = format!("bench.js.{}", unique_suffix());
    context
        .create_stream(stream::Config {
            name: STREAM_NAME.to_string(),
            subjects: vec![format!("{subject_prefix}.>")],
            storage: stream::StorageType::File,
            ..Default::default()
        })
        .await
        .context("creating the benchmark stream")?;
    Ok(format!("{subject_prefix}.data"))
}

async fn verify_stream_holds(context: &jetstream::Context, expected: u64) -> Result<()> {
    let mut stream = context
        .get_stream(STREAM_NAME)
        .await
        .context("looking up the stream")?;
    let stored = stream
        .info()
        .await
        .context("reading stream info")?
        .state
        .messages;
    if stored != expected {
        bail!("the stream holds {stored} messages but {expected} were acknowledged");
    }
    Ok(())
}

/// Raw-protocol publisher with at most `window` unacknowledged messages. Returns acks
/// received and the time until the last ack.
fn publish_with_window(
    address: SocketAddr,
    subject: &str,
    payload_len: usize,
    window: usize,
    messages_max: u64,
    limits: &Limits,
) -> Result<(u64, Duration)> {
    let mut connection =
        RawConnection::connect(address, "bench-js-publisher", Duration::from_secs(10))?;
    let ack_prefix = format!("_BENCH_ACK.{}", unique_suffix());
    connection.subscribe(&format!("{ack_prefix}.*"), None, 1, Duration::from_secs(10))?;
    let frames_wanted_bytes = (window / 4).max(1) * (payload_len + subject.len() + 40);
    let (batch, frames_per_batch) = pub_batch(
        subject,
        Some(&format!("{ack_prefix}.a")),
        payload_len,
        frames_wanted_bytes.min(limits.write_batch_bytes),
    );
    let frame_len = batch.len() / frames_per_batch as usize;
    let window = (window as u64).max(frames_per_batch);
    let messages_max = messages_max.min(limits.publish_messages_max);
    let started_at = Instant::now();
    let until = started_at + limits.publish_duration;
    let mut sent = 0u64;
    let mut acked = 0u64;
    let mut last_ack_at = started_at;
    let mut publishing = true;
    loop {
        if publishing && (Instant::now() >= until || sent >= messages_max) {
            publishing = false;
        }
        // The last batch may be partial so that exactly `messages_max` are published.
        let frames = frames_per_batch.min(messages_max - sent.min(messages_max));
        if publishing && sent - acked + frames <= window {
            let bytes = &batch[..frames as usize * frame_len];
            connection
                .stream
                .write_all(bytes)
                .context("writing a JetStream batch")?;
            sent += frames;
            continue;
        }
        if !publishing && acked >= sent {
            break;
        }
        if !publishing && last_ack_at.elapsed() > limits.drain_timeout {
            bail!(
                "{} of {sent} JetStream publishes were never acknowledged",
                sent - acked
            );
        }
        let mut must_answer_ping = false;
        let mut server_error = None;
        let read = connection.read_some(|frame| match frame {
            ServerFrame::Msg { .. } => acked += 1,
            ServerFrame::Ping => must_answer_ping = true,
            ServerFrame::Err(text) => {
                server_error = Some(String::from_utf8_lossy(text).into_owned())
            }
            _ => {}
        })?;
        if read > 0 {
            last_ack_at = Instant::now();
        }
        if let Some(text) = server_error {
            bail!("server error while publishing to JetStream: {text}");
        }
        if must_answer_ping {
            connection.stream.write_all(b"PONG\r\n")?;
        }
    }
    Ok((acked, last_ack_at - started_at))
}
