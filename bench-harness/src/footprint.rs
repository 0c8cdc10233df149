//! Memory footprint scenarios: resident memory a server adds per idle connection and per
//! subscription, from `VmRSS` before and after opening them.

use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::scenario::RoundMeasurement;
use crate::throughput::unique_suffix;
use crate::wire::RawConnection;

/// Opens `connections` handshaken connections and returns the server's resident bytes added
/// per connection. `resident_bytes` reads the server's current RSS.
pub fn per_connection(
    address: SocketAddr,
    connections: usize,
    resident_bytes: &dyn Fn() -> Option<u64>,
) -> Result<RoundMeasurement> {
    let started_at = Instant::now();
    let before = settled_resident_bytes(resident_bytes)?;
    let mut open = Vec::with_capacity(connections);
    for index in 0..connections {
        let connection = RawConnection::connect(
            address,
            &format!("bench-idle-{index}"),
            Duration::from_secs(10),
        )
        .with_context(|| format!("opening connection {index} of {connections}"))?;
        open.push(connection);
    }
    let after = settled_resident_bytes(resident_bytes)?;
    let elapsed = started_at.elapsed();
    drop(open);
    Ok(RoundMeasurement::new(
        after.saturating_sub(before) as f64 / connections as f64 / 1024.0,
        // Not a message count: CPU per message means nothing here.
        0,
        elapsed,
    ))
}

/// Subscribes one connection to `subscriptions` distinct subjects (sent in large batches) and
/// returns the server's resident bytes added per subscription.
pub fn per_subscription(
    address: SocketAddr,
    subscriptions: usize,
    resident_bytes: &dyn Fn() -> Option<u64>,
) -> Result<RoundMeasurement> {
    let started_at = Instant::now();
    let mut connection = RawConnection::connect(address, "bench-subs", Duration::from_secs(10))?;
    let before = settled_resident_bytes(resident_bytes)?;
    let prefix = format!("bench.footprint.{}", unique_suffix());
    let mut batch = Vec::with_capacity(64 * 1024);
    for sid in 1..=subscriptions {
        batch.extend_from_slice(format!("SUB {prefix}.{sid}.data {sid}\r\n").as_bytes());
        if batch.len() >= 60 * 1024 {
            connection
                .stream
                .write_all(&batch)
                .context("sending SUBs")?;
            batch.clear();
        }
    }
    connection
        .stream
        .write_all(&batch)
        .context("sending SUBs")?;
    connection
        .flush(Duration::from_secs(60))
        .context("waiting for the SUBs to be applied")?;
    let after = settled_resident_bytes(resident_bytes)?;
    let elapsed = started_at.elapsed();
    Ok(RoundMeasurement::new(
        after.saturating_sub(before) as f64 / subscriptions as f64,
        0,
        elapsed,
    ))
}

/// Reads RSS after a short pause, so that memory the server frees right after a burst (Go's
/// scavenger, allocator caches) is not counted against it.
fn settled_resident_bytes(resident_bytes: &dyn Fn() -> Option<u64>) -> Result<u64> {
    std::thread::sleep(Duration::from_millis(200));
    match resident_bytes() {
        Some(bytes) => Ok(bytes),
        None => bail!("the server's memory cannot be read"),
    }
}
