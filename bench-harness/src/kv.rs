//! Key-value and object-store scenarios, through `async-nats`' own KV and object-store APIs
//! (the calls applications make): synchronous KV puts, KV gets from many clients (direct
//! gets on a pre-filled bucket), and put and get of one large object.
//!
//! Each round starts from a fresh bucket; filling for the get scenarios happens in
//! [`prepare`], outside the sampled window. Every value read is checked against what was
//! written, so a wrong answer fails the round instead of counting as a fast one.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use async_nats::jetstream::{self, kv, object_store};
use bytes::Bytes;
use tokio::io::AsyncReadExt;

use crate::scenario::{Limits, RoundMeasurement, ScenarioKind};

const BUCKET: &str = "BENCHKV";
const OBJECT_BUCKET: &str = "BENCHOBJ";
const OBJECT_NAME: &str = "large";

/// Fills what a get scenario reads, outside the sampled window; nothing for the others.
pub async fn prepare(address: SocketAddr, kind: &ScenarioKind) -> Result<()> {
    match *kind {
        ScenarioKind::KvGet {
            keys, payload_len, ..
        } => {
            let store = fresh_bucket(&context(address).await?).await?;
            for key in 0..keys {
                store
                    .put(key_name(key), value_of(key, payload_len))
                    .await
                    .with_context(|| format!("filling key {key}"))?;
            }
            Ok(())
        }
        ScenarioKind::ObjectGet { object_len } => {
            let store = fresh_object_bucket(&context(address).await?).await?;
            let data = object_data(object_len);
            store
                .put(OBJECT_NAME, &mut data.as_slice())
                .await
                .context("putting the object to read")?;
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Puts one value at a time, awaiting each PubAck (`kv.put`), over 1,000 keys.
pub async fn run_put(
    address: SocketAddr,
    payload_len: usize,
    limits: &Limits,
) -> Result<RoundMeasurement> {
    let js = context(address).await?;
    let store = fresh_bucket(&js).await?;
    let value = value_of(0, payload_len);
    let started_at = Instant::now();
    let until = started_at + limits.publish_duration;
    let mut puts = 0u64;
    while Instant::now() < until && puts < limits.publish_messages_max {
        store
            .put(key_name(puts % 1000), value.clone())
            .await
            .context("kv put")?;
        puts += 1;
    }
    let elapsed = started_at.elapsed();
    // The bucket's stream, asked now (the store's `status` may answer from a cached info).
    let held = js
        .get_stream(format!("KV_{BUCKET}"))
        .await
        .context("looking up the bucket's stream")?
        .info()
        .await
        .context("bucket stream info")?
        .state
        .messages;
    if held != puts.min(1000) {
        bail!(
            "the bucket holds {held} values after {puts} puts over {} keys",
            puts.min(1000)
        );
    }
    Ok(RoundMeasurement::new(
        puts as f64 / elapsed.as_secs_f64(),
        puts,
        elapsed,
    ))
}

/// `clients` connections each get keys of the filled bucket one after the other.
pub async fn run_get(
    address: SocketAddr,
    clients: usize,
    keys: u64,
    payload_len: usize,
    limits: &Limits,
) -> Result<RoundMeasurement> {
    let mut stores = Vec::with_capacity(clients);
    for _ in 0..clients {
        let js = context(address).await?;
        stores.push(
            js.get_key_value(BUCKET)
                .await
                .context("opening the bucket")?,
        );
    }
    let started_at = Instant::now();
    let until = started_at + limits.publish_duration;
    let per_client_max = limits.publish_messages_max / clients.max(1) as u64;
    let tasks: Vec<_> = stores
        .into_iter()
        .enumerate()
        .map(|(client, store)| {
            tokio::spawn(async move {
                let mut gets = 0u64;
                let mut key = client as u64 * 7919 % keys.max(1);
                while Instant::now() < until && gets < per_client_max {
                    let value = store.get(key_name(key)).await.context("kv get")?;
                    if value.as_deref() != Some(&value_of(key, payload_len)[..]) {
                        bail!("key {key} read back wrong");
                    }
                    gets += 1;
                    key = (key + 1) % keys.max(1);
                }
                anyhow::Ok(gets)
            })
        })
        .collect();
    let mut gets = 0;
    for task in tasks {
        gets += task.await.context("joining a getter")??;
    }
    let elapsed = started_at.elapsed();
    Ok(RoundMeasurement::new(
        gets as f64 / elapsed.as_secs_f64(),
        gets,
        elapsed,
    ))
}

/// Puts objects of `object_len` bytes (the client chunks them, 128 KiB each) one after the
/// other under one name, until the time bound; reports MiB/s and counts objects.
pub async fn run_object_put(
    address: SocketAddr,
    object_len: usize,
    limits: &Limits,
) -> Result<RoundMeasurement> {
    let store = fresh_object_bucket(&context(address).await?).await?;
    let data = object_data(object_len);
    let started_at = Instant::now();
    let until = started_at + limits.publish_duration;
    let mut objects = 0u64;
    while objects == 0 || Instant::now() < until {
        let info = store
            .put(OBJECT_NAME, &mut data.as_slice())
            .await
            .context("object put")?;
        if info.size != object_len {
            bail!("the object was stored with {} bytes", info.size);
        }
        objects += 1;
    }
    let elapsed = started_at.elapsed();
    Ok(mebibytes_per_second(objects, object_len, elapsed))
}

/// Gets the object [`prepare`] put, whole, one read after the other, until the time bound.
pub async fn run_object_get(
    address: SocketAddr,
    object_len: usize,
    limits: &Limits,
) -> Result<RoundMeasurement> {
    let js = context(address).await?;
    let store = js
        .get_object_store(OBJECT_BUCKET)
        .await
        .context("opening the object store")?;
    let expected = object_data(object_len);
    let started_at = Instant::now();
    let until = started_at + limits.publish_duration;
    let mut objects = 0u64;
    let mut read = Vec::with_capacity(object_len);
    while objects == 0 || Instant::now() < until {
        read.clear();
        let mut object = store.get(OBJECT_NAME).await.context("object get")?;
        object
            .read_to_end(&mut read)
            .await
            .context("reading the object")?;
        if read != expected {
            bail!("the object read back differs ({} bytes)", read.len());
        }
        objects += 1;
    }
    let elapsed = started_at.elapsed();
    Ok(mebibytes_per_second(objects, object_len, elapsed))
}

fn mebibytes_per_second(objects: u64, object_len: usize, elapsed: Duration) -> RoundMeasurement {
    let mebibytes = objects as f64 * object_len as f64 / (1024.0 * 1024.0);
    RoundMeasurement::new(mebibytes / elapsed.as_secs_f64(), objects, elapsed)
}

async fn context(address: SocketAddr) -> Result<jetstream::Context> {
    let client = async_nats::ConnectOptions::new()
        .name("natrix-bench-kv")
        .connection_timeout(Duration::from_secs(10))
        .request_timeout(Some(Duration::from_secs(10)))
        .connect(format!("nats://{address}"))
        .await
        .with_context(|| format!("connecting async-nats to {address}"))?;
    Ok(jetstream::new(client))
}

async fn fresh_bucket(js: &jetstream::Context) -> Result<kv::Store> {
    let _ = js.delete_key_value(BUCKET).await;
    js.create_key_value(kv::Config {
        bucket: BUCKET.to_owned(),
        history: 1,
        storage: jetstream::stream::StorageType::File,
        ..Default::default()
    })
    .await
    .context("creating the bucket")
}

async fn fresh_object_bucket(js: &jetstream::Context) -> Result<object_store::ObjectStore> {
    let _ = js.delete_object_store(OBJECT_BUCKET).await;
    js.create_object_store(object_store::Config {
        bucket: OBJECT_BUCKET.to_owned(),
        storage: jetstream::stream::StorageType::File,
        ..Default::default()
    })
    .await
    .context("creating the object store")
}

fn key_name(key: u64) -> String {
    format!("key.{key}")
}

/// A value that differs per key, so that a get answered with another key's value fails.
fn value_of(key: u64, payload_len: usize) -> Bytes {
    let mut value = vec![b'v'; payload_len.max(8)];
    value[..8].copy_from_slice(&key.to_le_bytes());
    Bytes::from(value)
}

fn object_data(object_len: usize) -> Vec<u8> {
    (0..object_len).map(|index| (index % 251) as u8).collect()
}
