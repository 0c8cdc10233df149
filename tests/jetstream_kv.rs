//! The key-value and object stores of the official Rust client (`async-nats`) end to end, on
//! a real `natrix -js` with three shards and on the Go server: every call the clients make, its
//! outcome written into a transcript (values, revisions, deltas, operations, error kinds), and
//! the two transcripts compared line by line. Timestamps and object nuids are left out; they
//! must differ. The buckets' streams and consumers are plain streams and consumers to the
//! server, so this is what proves that their semantics are exact enough for the conventions
//! the clients build on them.

mod common;

use std::fmt::Debug;
use std::time::Duration;

use async_nats::jetstream::{self, kv, object_store};
use common::{StoreDir, TestServer};
use futures_util::StreamExt;
use tokio::io::AsyncReadExt;

/// What one run observed, one line per call.
#[derive(Default)]
struct Transcript(Vec<String>);

impl Transcript {
    fn note(&mut self, step: &str, outcome: impl Debug) {
        self.0.push(format!("{step}: {outcome:?}"));
    }
}

/// Runs `walk` against Natrix (3 shards) and against the Go server and asserts that both
/// transcripts are the same. Returns Natrix's for further checks.
async fn same_on_both<F, Fut>(name: &str, walk: F) -> Vec<String>
where
    F: Fn(jetstream::Context) -> Fut,
    Fut: std::future::Future<Output = Transcript>,
{
    let natrix_store = StoreDir::new(name);
    let natrix = TestServer::natrix(3, &["-js", "-sd", natrix_store.path()]);
    let go_store = StoreDir::new(&format!("{name}-go"));
    let go = TestServer::go(&["-js", "-sd", go_store.path()]);
    let mut transcripts = Vec::new();
    for server in [&natrix, &go] {
        let client = async_nats::connect(server.url()).await.expect("connect");
        transcripts.push(walk(jetstream::new(client)).await.0);
    }
    let go_transcript = transcripts.pop().expect("two transcripts");
    let natrix_transcript = transcripts.pop().expect("two transcripts");
    for (line, (natrix_line, go_line)) in natrix_transcript.iter().zip(&go_transcript).enumerate() {
        assert_eq!(
            natrix_line, go_line,
            "line {line} differs (left Natrix, right Go)\nNatrix: {natrix_transcript:#?}\nGo: {go_transcript:#?}"
        );
    }
    assert_eq!(natrix_transcript.len(), go_transcript.len());
    natrix_transcript
}

fn entry_line(entry: &kv::Entry) -> String {
    format!(
        "{}={:?} rev {} delta {} {:?}",
        entry.key,
        String::from_utf8_lossy(&entry.value),
        entry.revision,
        entry.delta,
        entry.operation
    )
}

fn option_entry(entry: Option<kv::Entry>) -> String {
    entry.map_or("none".to_owned(), |entry| entry_line(&entry))
}

/// Reads a watcher until `count` entries came or a second passes without one.
async fn watched(watch: &mut kv::Watch, count: usize) -> Vec<String> {
    let mut seen = Vec::new();
    while seen.len() < count {
        match tokio::time::timeout(Duration::from_secs(5), watch.next()).await {
            Ok(Some(Ok(entry))) => seen.push(entry_line(&entry)),
            Ok(Some(Err(error))) => seen.push(format!("error {:?}", error.kind())),
            Ok(None) | Err(_) => break,
        }
    }
    seen
}

async fn kv_walk(js: jetstream::Context) -> Transcript {
    let mut t = Transcript::default();
    let kv = js
        .create_key_value(kv::Config {
            bucket: "settings".to_owned(),
            history: 3,
            ..Default::default()
        })
        .await
        .expect("create bucket");
    t.note("put a", kv.put("a", "1".into()).await.map_err(|e| e.kind()));
    t.note("put a", kv.put("a", "2".into()).await.map_err(|e| e.kind()));
    t.note(
        "create a",
        kv.create("a", "x".into()).await.map_err(|e| e.kind()),
    );
    t.note(
        "create b",
        kv.create("b", "x".into()).await.map_err(|e| e.kind()),
    );
    t.note(
        "update b wrong revision",
        kv.update("b", "y".into(), 1).await.map_err(|e| e.kind()),
    );
    t.note(
        "update b",
        kv.update("b", "y".into(), 3).await.map_err(|e| e.kind()),
    );
    t.note(
        "put .bad",
        kv.put(".bad", "1".into()).await.map_err(|e| e.kind()),
    );
    t.note("get a", kv.get("a").await.map_err(|e| e.kind()));
    t.note("get missing", kv.get("missing").await.map_err(|e| e.kind()));
    t.note(
        "entry a rev 1",
        kv.entry_for_revision("a", 1)
            .await
            .map(option_entry)
            .map_err(|e| e.kind()),
    );
    t.note(
        "entry a rev 3 (another key's)",
        kv.entry_for_revision("a", 3)
            .await
            .map(option_entry)
            .map_err(|e| e.kind()),
    );
    let mut watch_all = kv.watch_all().await.expect("watch all");
    t.note("watch all, initial", watched(&mut watch_all, 2).await);
    t.note("delete a", kv.delete("a").await.map_err(|e| e.kind()));
    t.note(
        "entry a after delete",
        kv.entry("a").await.map(option_entry).map_err(|e| e.kind()),
    );
    t.note(
        "get a after delete",
        kv.get("a").await.map_err(|e| e.kind()),
    );
    t.note(
        "delete b wrong revision",
        kv.delete_expect_revision("b", Some(1))
            .await
            .map_err(|e| e.kind()),
    );
    t.note("purge b", kv.purge("b").await.map_err(|e| e.kind()));
    t.note(
        "purge c wrong revision",
        kv.purge_expect_revision("c", Some(9))
            .await
            .map_err(|e| e.kind()),
    );
    for value in ["3", "4", "5", "6"] {
        t.note(
            "put a",
            kv.put("a", value.into()).await.map_err(|e| e.kind()),
        );
    }
    t.note("watch all, live", watched(&mut watch_all, 6).await);
    let history: Vec<String> = kv
        .history("a")
        .await
        .expect("history")
        .map(|entry| entry.map_or_else(|e| format!("error {:?}", e.kind()), |e| entry_line(&e)))
        .collect()
        .await;
    t.note("history a (3 kept)", history);
    let mut keys: Vec<String> = kv
        .keys()
        .await
        .expect("keys")
        .filter_map(|key| async move { key.ok() })
        .collect()
        .await;
    keys.sort();
    t.note("keys", keys);
    let mut watch_a = kv.watch_with_history("a").await.expect("watch a");
    t.note("watch a with history", watched(&mut watch_a, 3).await);
    let mut watch_from = kv.watch_all_from_revision(7).await.expect("watch from");
    t.note(
        "watch all from revision 7",
        watched(&mut watch_from, 3).await,
    );
    let mut watch_many = kv.watch_many(["a", "z.>"]).await.expect("watch many");
    t.note(
        "put z.1",
        kv.put("z.1", "z".into()).await.map_err(|e| e.kind()),
    );
    t.note("put q", kv.put("q", "q".into()).await.map_err(|e| e.kind()));
    t.note("watch many (a, z.>)", watched(&mut watch_many, 2).await);
    let status = kv.status().await.expect("status");
    t.note(
        "status",
        (
            status.bucket(),
            status.values(),
            status.history(),
            status.max_age(),
            &status.info.config.name,
            &status.info.config.subjects,
            status.info.config.max_messages_per_subject,
            status.info.config.allow_rollup,
            status.info.config.deny_delete,
            status.info.config.allow_direct,
            status.info.config.discard,
        ),
    );
    t.note(
        "bucket again",
        js.get_key_value("settings")
            .await
            .map(|_| ())
            .map_err(|e| e.kind()),
    );
    t.note(
        "delete bucket",
        js.delete_key_value("settings")
            .await
            .map(|status| status.success)
            .map_err(|e| e.kind()),
    );
    t.note(
        "bucket after delete",
        js.get_key_value("settings")
            .await
            .map(|_| ())
            .map_err(|e| e.kind()),
    );
    t
}

#[tokio::test]
async fn every_kv_call_behaves_as_on_the_go_server() {
    let transcript = same_on_both("kv", kv_walk).await;
    // Guard against two servers failing alike: the walk must have seen real values.
    let joined = transcript.join("\n");
    assert!(joined.contains("keys: [\"a\"]"), "{joined}");
    assert!(
        joined.contains("watch many (a, z.>): [\"z.1=\\\"z\\\" rev 11"),
        "{joined}"
    );
    assert!(joined.contains("get a: Ok(Some(b\"2\"))"), "{joined}");
}

async fn ttl_walk(js: jetstream::Context) -> Transcript {
    let mut t = Transcript::default();
    let kv = js
        .create_key_value(kv::Config {
            bucket: "leases".to_owned(),
            history: 1,
            limit_markers: Some(Duration::from_secs(1)),
            ..Default::default()
        })
        .await
        .expect("create bucket with limit markers");
    let info = kv.status().await.expect("status").info;
    t.note(
        "stream config",
        (
            info.config.allow_message_ttl,
            info.config.subject_delete_marker_ttl,
        ),
    );
    let mut watch = kv.watch_all().await.expect("watch");
    t.note(
        "create with ttl",
        kv.create_with_ttl("lease", "held".into(), Duration::from_secs(1))
            .await
            .map_err(|e| e.kind()),
    );
    t.note("get at once", kv.get("lease").await.map_err(|e| e.kind()));
    t.note(
        "watch: create, then the expiry marker",
        watched(&mut watch, 2).await,
    );
    t.note(
        "get after expiry",
        kv.get("lease").await.map_err(|e| e.kind()),
    );
    t.note(
        "create again after expiry",
        kv.create("lease", "again".into())
            .await
            .map_err(|e| e.kind()),
    );
    t.note(
        "purge with ttl",
        kv.purge_with_ttl("lease", Duration::from_secs(1))
            .await
            .map_err(|e| e.kind()),
    );
    t.note("watch: value, purge", watched(&mut watch, 2).await);
    t
}

#[tokio::test]
async fn kv_ttls_and_limit_markers_behave_as_on_the_go_server() {
    let transcript = same_on_both("kvttl", ttl_walk).await;
    let joined = transcript.join("\n");
    assert!(
        joined.contains("get at once: Ok(Some(b\"held\"))"),
        "{joined}"
    );
    assert!(joined.contains("get after expiry: Ok(None)"), "{joined}");
}

fn object_line(info: &object_store::ObjectInfo) -> String {
    format!(
        "{} in {} size {} chunks {} digest {:?} deleted {} description {:?} metadata {:?} link {:?}",
        info.name,
        info.bucket,
        info.size,
        info.chunks,
        info.digest,
        info.deleted,
        info.description,
        {
            let mut metadata: Vec<_> = info.metadata.iter().collect();
            metadata.sort();
            metadata
        },
        info.options
            .as_ref()
            .and_then(|options| options.link.as_ref())
            .map(|link| (link.name.clone(), link.bucket.clone())),
    )
}

async fn read_object(store: &object_store::ObjectStore, name: &str) -> Result<Vec<u8>, String> {
    let mut object = store
        .get(name)
        .await
        .map_err(|e| format!("{:?}", e.kind()))?;
    let mut data = Vec::new();
    object
        .read_to_end(&mut data)
        .await
        .map_err(|e| e.to_string())?;
    Ok(data)
}

async fn object_walk(js: jetstream::Context) -> Transcript {
    let mut t = Transcript::default();
    let mut store = js
        .create_object_store(object_store::Config {
            bucket: "files".to_owned(),
            ..Default::default()
        })
        .await
        .expect("create object store");
    let big: Vec<u8> = (0..300 * 1024).map(|i| (i % 251) as u8).collect();
    t.note(
        "put big (3 chunks)",
        store
            .put("big", &mut big.as_slice())
            .await
            .map(|info| object_line(&info))
            .map_err(|e| e.kind()),
    );
    t.note(
        "put empty",
        store
            .put("empty", &mut &b""[..])
            .await
            .map(|info| object_line(&info))
            .map_err(|e| e.kind()),
    );
    let described = object_store::ObjectMetadata {
        name: "described".to_owned(),
        description: Some("a file with metadata".to_owned()),
        chunk_size: Some(1000),
        metadata: [("owner".to_owned(), "ops".to_owned())].into(),
        headers: None,
    };
    t.note(
        "put with metadata and small chunks",
        store
            .put(described, &mut &[7u8; 4500][..])
            .await
            .map(|info| object_line(&info))
            .map_err(|e| e.kind()),
    );
    let read = read_object(&store, "big").await;
    t.note("get big is what was put", read.map(|data| data == big));
    t.note("get empty", read_object(&store, "empty").await);
    t.note(
        "get described",
        read_object(&store, "described")
            .await
            .map(|data| data.len()),
    );
    t.note(
        "get missing",
        read_object(&store, "missing").await.map(|data| data.len()),
    );
    t.note(
        "info big",
        store
            .info("big")
            .await
            .map(|info| object_line(&info))
            .map_err(|e| e.kind()),
    );
    let mut watch = store.watch().await.expect("watch");
    t.note(
        "put late",
        store
            .put("late", &mut &b"late"[..])
            .await
            .map(|info| object_line(&info))
            .map_err(|e| e.kind()),
    );
    let seen = tokio::time::timeout(Duration::from_secs(5), watch.next()).await;
    t.note(
        "watch sees late",
        seen.ok()
            .flatten()
            .map(|info| info.map(|info| object_line(&info)).map_err(|e| e.kind())),
    );
    let overwritten: Vec<u8> = vec![1; 200 * 1024];
    t.note(
        "put big again (replaces the old chunks)",
        store
            .put("big", &mut overwritten.as_slice())
            .await
            .map(|info| object_line(&info))
            .map_err(|e| e.kind()),
    );
    t.note(
        "get big is the new content",
        read_object(&store, "big")
            .await
            .map(|data| data == overwritten),
    );
    t.note(
        "rename described",
        store
            .update_metadata(
                "described",
                object_store::UpdateMetadata {
                    name: "renamed".to_owned(),
                    description: Some("renamed".to_owned()),
                    metadata: Default::default(),
                    headers: None,
                },
            )
            .await
            .map(|info| object_line(&info))
            .map_err(|e| e.kind()),
    );
    t.note(
        "info old name",
        store
            .info("described")
            .await
            .map(|_| ())
            .map_err(|e| e.kind()),
    );
    let big_info = store.info("big").await.expect("info big");
    t.note(
        "link to big",
        store
            .add_link("shortcut", &big_info)
            .await
            .map(|info| object_line(&info))
            .map_err(|e| e.kind()),
    );
    t.note(
        "get through the link",
        read_object(&store, "shortcut")
            .await
            .map(|data| data == overwritten),
    );
    t.note(
        "bucket link",
        store
            .add_bucket_link("elsewhere", "other")
            .await
            .map(|info| object_line(&info))
            .map_err(|e| e.kind()),
    );
    t.note(
        "delete big",
        store.delete("big").await.map_err(|e| e.kind()),
    );
    t.note(
        "info big after delete",
        store
            .info("big")
            .await
            .map(|info| object_line(&info))
            .map_err(|e| e.kind()),
    );
    let mut names: Vec<String> = store
        .list()
        .await
        .expect("list")
        .filter_map(|info| async move { info.ok().map(|info| info.name) })
        .collect()
        .await;
    names.sort();
    t.note("list", names);
    t.note("seal", store.seal().await.map_err(|e| e.kind()));
    t.note(
        "put after seal",
        store
            .put("sealed", &mut &b"x"[..])
            .await
            .map(|_| ())
            .map_err(|e| e.kind()),
    );
    t.note(
        "delete store",
        js.delete_object_store("files").await.map_err(|e| e.kind()),
    );
    t.note(
        "store after delete",
        js.get_object_store("files")
            .await
            .map(|_| ())
            .map_err(|e| e.kind()),
    );
    t
}

#[tokio::test]
async fn every_object_store_call_behaves_as_on_the_go_server() {
    let transcript = same_on_both("obj", object_walk).await;
    let joined = transcript.join("\n");
    assert!(
        joined.contains("get big is what was put: Ok(true)"),
        "{joined}"
    );
    assert!(
        joined.contains("list: [\"elsewhere\", \"empty\", \"late\", \"renamed\", \"shortcut\"]"),
        "{joined}"
    );
}

/// A consumer's deliveries are routed on the deliver subject (or the pull request's inbox)
/// but carry the stream message's own subject, as the Go server sends them: the KV and
/// object-store clients take the key or object name from it.
#[tokio::test]
async fn deliveries_carry_the_stream_subject_not_the_deliver_subject() {
    use async_nats::jetstream::consumer::{pull, push};
    let store = StoreDir::new("subjects");
    let server = TestServer::natrix(3, &["-js", "-sd", store.path()]);
    let client = async_nats::connect(server.url()).await.expect("connect");
    let js = jetstream::new(client.clone());
    let stream = js
        .create_stream(jetstream::stream::Config {
            name: "ORDERS".to_owned(),
            subjects: vec!["orders.>".to_owned()],
            ..Default::default()
        })
        .await
        .expect("stream");
    js.publish("orders.eu.1", "one".into())
        .await
        .expect("publish")
        .await
        .expect("ack");
    let pull_consumer = stream
        .create_consumer(pull::Config {
            durable_name: Some("puller".to_owned()),
            ..Default::default()
        })
        .await
        .expect("pull consumer");
    let mut batch = pull_consumer
        .fetch()
        .max_messages(1)
        .messages()
        .await
        .expect("fetch");
    let message = batch.next().await.expect("one message").expect("message");
    assert_eq!(message.subject.as_str(), "orders.eu.1");
    let inbox = client.new_inbox();
    let push_consumer = stream
        .create_consumer(push::Config {
            durable_name: Some("pusher".to_owned()),
            deliver_subject: inbox.clone(),
            ..Default::default()
        })
        .await
        .expect("push consumer");
    let mut messages = push_consumer.messages().await.expect("push messages");
    let message = tokio::time::timeout(Duration::from_secs(5), messages.next())
        .await
        .expect("a push delivery in time")
        .expect("one message")
        .expect("message");
    assert_eq!(message.subject.as_str(), "orders.eu.1");
    // A plain subscription on the deliver subject sees the same subject.
    let mut raw = client
        .subscribe(format!("{inbox}.raw"))
        .await
        .expect("subscribe");
    stream
        .create_consumer(push::Config {
            durable_name: Some("raw".to_owned()),
            deliver_subject: format!("{inbox}.raw"),
            ..Default::default()
        })
        .await
        .expect("raw push consumer");
    let message = tokio::time::timeout(Duration::from_secs(5), raw.next())
        .await
        .expect("a raw delivery in time")
        .expect("one message");
    assert_eq!(message.subject.as_str(), "orders.eu.1");
    assert!(message
        .reply
        .as_ref()
        .is_some_and(|reply| reply.starts_with("$JS.ACK.ORDERS.raw.")));
}

/// The walk of `nats-py`'s KV and object-store APIs: prints one line per call.
const PYTHON_WALK: &str = r#"
import asyncio, sys, nats
from nats.js.api import KeyValueConfig, ObjectStoreConfig

async def step(name, coro):
    try:
        result = await coro
    except Exception as error:
        result = "error " + type(error).__name__
    print(name + ": " + str(result))
    return result

def entry(e):
    if not hasattr(e, "key"):
        return str(e)
    return "%s=%r rev %s op %s" % (e.key, e.value, e.revision, e.operation)

async def main(url):
    nc = await nats.connect(url)
    js = nc.jetstream()
    kv = await js.create_key_value(KeyValueConfig(bucket="py", history=4))
    await step("put a", kv.put("a", b"1"))
    await step("put a", kv.put("a", b"2"))
    await step("create a", kv.create("a", b"x"))
    await step("create b", kv.create("b", b"x"))
    await step("update b stale", kv.update("b", b"y", last=1))
    await step("update b", kv.update("b", b"y", last=3))
    print("get a: " + entry(await kv.get("a")))
    print("get a rev 1: " + entry(await kv.get("a", revision=1)))
    await step("get missing", kv.get("missing"))
    print("keys: %s" % sorted(await kv.keys()))
    print("history a: %s" % [entry(e) for e in await kv.history("a")])
    await step("delete a", kv.delete("a"))
    await step("get deleted", kv.get("a"))
    await step("purge b", kv.purge("b"))
    watcher = await kv.watchall()
    seen = []
    while True:
        update = await watcher.updates(timeout=5)
        if update is None:
            break
        seen.append(entry(update))
    print("watch initial: %s" % seen)
    await kv.put("c", b"3")
    print("watch live: " + entry(await watcher.updates(timeout=5)))
    await watcher.stop()
    await step("purge deletes", kv.purge_deletes(olderthan=-1))
    status = await kv.status()
    print("status: %s %s %s" % (status.bucket, status.values, status.history))
    await step("delete bucket", js.delete_key_value("py"))

    obs = await js.create_object_store("pyobj")
    data = bytes(i % 251 for i in range(300 * 1024))
    info = await obs.put("big", data)
    print("put big: %s %s %s" % (info.size, info.chunks, info.digest))
    info = await obs.put("empty", b"")
    print("put empty: %s %s %s" % (info.size, info.chunks, info.digest))
    result = await obs.get("big")
    print("get big same: %s" % (result.data == data))
    print("get empty: %r" % (await obs.get("empty")).data)
    print("list: %s" % sorted(i.name for i in await obs.list()))
    await step("delete big", obs.delete("big"))
    await step("get deleted", obs.get("big"))
    print("list after delete: %s" % sorted(i.name for i in await obs.list()))
    status = await obs.status()
    print("obj status: %s %s" % (status.bucket, status.sealed))
    await step("delete store", js.delete_object_store("pyobj"))
    await nc.close()

asyncio.run(main(sys.argv[1]))
"#;

fn python_walk(server: &TestServer) -> String {
    common::run_nats_py(PYTHON_WALK, &[&server.url()])
}

/// `nats-py`'s KV and object store (put, get, create, update, delete, purge, keys, history,
/// watch, purge_deletes, status; object put, get, list, delete, status) observe the same on
/// Natrix (three shards) as on the Go server.
#[test]
fn the_python_kv_and_object_store_behave_as_on_the_go_server() {
    let natrix_store = StoreDir::new("python");
    let natrix = TestServer::natrix(3, &["-js", "-sd", natrix_store.path()]);
    let go_store = StoreDir::new("python-go");
    let go = TestServer::go(&["-js", "-sd", go_store.path()]);
    let on_natrix = python_walk(&natrix);
    let on_go = python_walk(&go);
    for (natrix_line, go_line) in on_natrix.lines().zip(on_go.lines()) {
        assert_eq!(natrix_line, go_line, "\nNatrix:\n{on_natrix}\nGo:\n{on_go}");
    }
    assert_eq!(on_natrix.lines().count(), on_go.lines().count());
    assert!(on_natrix.contains("keys: ['a', 'b']"), "{on_natrix}");
    assert!(on_natrix.contains("get big same: True"), "{on_natrix}");
}

/// An account with JetStream exports its API, its KV subjects and a delivery prefix; another
/// account imports them (the API under `js.api`, and the KV subjects under `js.api.$KV`, where
/// `async-nats` publishes puts when its JetStream context has a prefix). The importing account's clients use the
/// bucket through the imports: puts, gets, stale updates, history and watchers (ordered push
/// consumers whose deliver subjects cross the stream import). Written to a config file and
/// run on Natrix (three shards) and on the Go server, transcripts compared.
#[tokio::test]
async fn kv_is_used_across_accounts_through_imports_as_on_the_go_server() {
    let dirs = [StoreDir::new("xacc"), StoreDir::new("xacc-go")];
    let mut transcripts = Vec::new();
    for (index, dir) in dirs.iter().enumerate() {
        let config = format!(
            r#"
jetstream {{ store_dir: "{}/store" }}
accounts {{
  JS: {{
    jetstream: enabled
    users: [ {{user: js, password: js}} ]
    exports: [ {{ service: "$JS.API.>" }}, {{ service: "$KV.>" }}, {{ stream: "kvw.>" }} ]
  }}
  APP: {{
    users: [ {{user: app, password: app}} ]
    imports: [
      {{ service: {{ account: JS, subject: "$JS.API.>" }}, to: "js.api.>" }}
      {{ service: {{ account: JS, subject: "$KV.>" }}, to: "js.api.$KV.>" }}
      {{ stream: {{ account: JS, subject: "kvw.>" }} }}
    ]
  }}
}}
"#,
            dir.path()
        );
        let config_path = format!("{}/server.conf", dir.path());
        std::fs::write(&config_path, config).expect("config file");
        let server = if index == 0 {
            TestServer::natrix(3, &["-c", &config_path])
        } else {
            TestServer::go(&["-c", &config_path])
        };
        let owner = async_nats::ConnectOptions::with_user_and_password("js".into(), "js".into())
            .connect(server.url())
            .await
            .expect("owner connects");
        jetstream::new(owner)
            .create_key_value(kv::Config {
                bucket: "shared".to_owned(),
                history: 3,
                ..Default::default()
            })
            .await
            .expect("owner creates the bucket");
        let app = async_nats::ConnectOptions::with_user_and_password("app".into(), "app".into())
            .custom_inbox_prefix("kvw")
            .connect(server.url())
            .await
            .expect("importer connects");
        let js = jetstream::with_prefix(app, "js.api");
        let mut t = Transcript::default();
        let kv = js
            .get_key_value("shared")
            .await
            .expect("bucket through the import");
        t.note("put", kv.put("k", "1".into()).await.map_err(|e| e.kind()));
        t.note("put", kv.put("k", "2".into()).await.map_err(|e| e.kind()));
        t.note("get", kv.get("k").await.map_err(|e| e.kind()));
        t.note(
            "update stale",
            kv.update("k", "x".into(), 1).await.map_err(|e| e.kind()),
        );
        t.note(
            "update",
            kv.update("k", "3".into(), 2).await.map_err(|e| e.kind()),
        );
        let history: Vec<String> = kv
            .history("k")
            .await
            .expect("history")
            .map(|entry| entry.map_or_else(|e| format!("error {:?}", e.kind()), |e| entry_line(&e)))
            .collect()
            .await;
        t.note("history", history);
        let mut watch = kv.watch_with_history("k").await.expect("watch");
        t.note("watch", watched(&mut watch, 1).await);
        t.note("delete", kv.delete("k").await.map_err(|e| e.kind()));
        t.note("watch after delete", watched(&mut watch, 1).await);
        t.note("get after delete", kv.get("k").await.map_err(|e| e.kind()));
        // A push consumer created before anyone in the importing account subscribes to its
        // deliver subject waits for that interest, then delivers.
        let stream = js
            .get_stream("KV_shared")
            .await
            .expect("stream through the import");
        stream
            .create_consumer(async_nats::jetstream::consumer::push::Config {
                durable_name: Some("late".to_owned()),
                deliver_subject: "kvw.late".to_owned(),
                ..Default::default()
            })
            .await
            .expect("push consumer through the import");
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut late = js.client().subscribe("kvw.late").await.expect("subscribe");
        let first = tokio::time::timeout(Duration::from_secs(5), late.next()).await;
        t.note(
            "late subscriber's first delivery",
            first.ok().flatten().map(|message| {
                (
                    message.subject.to_string(),
                    String::from_utf8_lossy(&message.payload).into_owned(),
                )
            }),
        );
        transcripts.push(t.0);
    }
    assert_eq!(transcripts[0], transcripts[1], "left Natrix, right Go");
    let joined = transcripts[0].join("\n");
    assert!(joined.contains("rev 3 delta 0 Put\"]"), "{joined}");
    assert!(
        joined.contains("watch after delete: [\"k=\\\"\\\" rev 4"),
        "{joined}"
    );
    assert!(
        joined.contains("late subscriber's first delivery: Some((\"$KV.shared.k\", \"2\"))"),
        "{joined}"
    );
}
