//! Internal subscribers and publishers take part in routing like socket clients: shards run
//! in this process (real io_uring runtimes, real sockets, the official `async-nats` client),
//! and a test-only internal handler on one shard receives what clients on every shard publish,
//! in order, while an internal publisher reaches client subscribers on every shard.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::rc::Rc;
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use natrix_shards::account::{AccountTable, GLOBAL_ACCOUNT};
use natrix_shards::config::Configuration;
use natrix_shards::lifecycle::{build_mesh, run_shard, ControlMsg, ShardControl};
use natrix_shards::mesh::ShardId;
use natrix_shards::message::Message;
use natrix_shards::options::ServerOptions;
use natrix_shards::protocol::ServerInfo;
use natrix_shards::shard::{InternalSubscriber, Shard, SharedState};

const SHARDS: usize = 3;

/// Shards of one server in this process, without pinning.
struct Shards {
    address: SocketAddr,
    control: ShardControl,
    threads: Vec<JoinHandle<()>>,
}

impl Shards {
    fn start(shard_count: usize) -> Shards {
        let options = ServerOptions {
            host: "127.0.0.1".into(),
            port: 0,
            ..ServerOptions::default()
        };
        let first = listener("127.0.0.1:0".parse().expect("address"));
        let address = first.local_addr().expect("bound");
        let mut listeners = vec![first];
        for _ in 1..shard_count {
            listeners.push(listener(address));
        }
        let info = ServerInfo {
            server_id: "NTEST".into(),
            server_name: "test".into(),
            version: "2.14.0".into(),
            proto: 1,
            go: "natrix test".into(),
            host: "127.0.0.1".into(),
            port: address.port(),
            headers: true,
            auth_required: false,
            tls_required: false,
            tls_verify: false,
            tls_available: false,
            max_payload: options.max_payload,
            client_id: 0,
            client_ip: String::new(),
            nonce: String::new(),
            ldm: false,
            connect_info: false,
            remote_account: String::new(),
            account_is_system: false,
        };
        let configuration = Arc::new(Configuration {
            accounts: Arc::new(AccountTable::build(&options).expect("accounts")),
            options: Arc::new(options),
            info,
            tls: None,
            websocket: None,
            jetstream: None,
        });
        let shared = Arc::new(SharedState::default());
        let (endpoints, control) = build_mesh(shard_count, 1024);
        let threads = endpoints
            .into_iter()
            .zip(listeners)
            .map(|((mesh, control_receiver), listener)| {
                let configuration = Arc::clone(&configuration);
                let shared = Arc::clone(&shared);
                std::thread::spawn(move || {
                    let runtime = compio::runtime::Runtime::new().expect("io_uring runtime");
                    let shard = Shard::new(mesh, &configuration, shared);
                    runtime
                        .block_on(run_shard(shard, control_receiver, listener))
                        .expect("shard ran");
                })
            })
            .collect();
        Shards {
            address,
            control,
            threads,
        }
    }

    /// Runs `task` on shard `shard` and returns what it sends back.
    fn run<T: Send + 'static>(
        &self,
        shard: ShardId,
        task: impl FnOnce(&Rc<Shard>, mpsc::Sender<T>) + Send + 'static,
    ) -> T {
        let (sender, receiver) = mpsc::channel();
        self.control
            .send(
                shard,
                ControlMsg::Run(Box::new(move |shard| task(shard, sender))),
            )
            .expect("shard is running");
        receiver
            .recv_timeout(Duration::from_secs(10))
            .expect("shard answered")
    }

    /// Every shard's invariants hold.
    fn validate(&self) {
        for shard in 0..self.control.shard_count() {
            let result = self.run(shard as ShardId, |shard, reply| {
                let _ = reply.send(shard.validate());
            });
            assert_eq!(result, Ok(()), "shard {shard}");
        }
    }

    fn stop(self) {
        self.control.broadcast(|| ControlMsg::Shutdown);
        for thread in self.threads {
            thread.join().expect("shard thread");
        }
    }
}

fn listener(address: SocketAddr) -> TcpListener {
    let socket = socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )
    .expect("socket");
    socket.set_reuse_port(true).expect("SO_REUSEPORT");
    socket.set_nonblocking(true).expect("nonblocking");
    socket.bind(&address.into()).expect("bind");
    socket.listen(128).expect("listen");
    socket.into()
}

/// An internal subscriber that forwards what it receives to the test thread.
struct Forwarder(mpsc::Sender<Message>);

impl InternalSubscriber for Forwarder {
    fn deliver(&self, _shard: &Shard, message: &Message) {
        let _ = self.0.send(message.clone());
    }
}

/// Connects clients until there is one on every shard (the kernel spreads connections over
/// the shards' listeners; a client id tells its shard).
async fn one_client_per_shard(address: SocketAddr, shard_count: usize) -> Vec<async_nats::Client> {
    let mut clients: Vec<Option<async_nats::Client>> = (0..shard_count).map(|_| None).collect();
    for _ in 0..200 {
        let client = async_nats::connect(address.to_string())
            .await
            .expect("connect");
        let shard = ((client.server_info().client_id - 1) % shard_count as u64) as usize;
        if clients[shard].is_none() {
            clients[shard] = Some(client);
        }
        if clients.iter().all(Option::is_some) {
            return clients.into_iter().flatten().collect();
        }
    }
    panic!("the kernel never placed a connection on some shard");
}

/// Waits until shard 0 routes to every subscription the clients made so far. `async-nats`'s
/// `flush` does not send a PING, so it does not wait for the interest barrier; instead each
/// client subscribes to a probe subject after its other subscriptions, and shard 0 publishes
/// probes until every client has one. Interest changes from one shard arrive in order, so a
/// probe delivered means the earlier subscriptions are known too.
async fn interest_reached_shard_zero(clients: &[async_nats::Client]) {
    let mut probes = Vec::new();
    for (shard, client) in clients.iter().enumerate() {
        probes.push(
            client
                .subscribe(format!("probe.{shard}"))
                .await
                .expect("probe"),
        );
        client.flush().await.expect("flush");
    }
    for (shard, probe) in probes.iter_mut().enumerate() {
        loop {
            clients[0]
                .publish(format!("probe.{shard}"), Bytes::new())
                .await
                .expect("probe publish");
            clients[0].flush().await.expect("flush");
            if let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(50), probe.next()).await
            {
                break;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_internal_subscriber_receives_publishes_from_every_shard_in_order() {
    let shards = Shards::start(SHARDS);
    let (sender, received) = mpsc::channel();
    // Subscribe on the last shard, then wait for every other shard to have seen the interest.
    let owner = (SHARDS - 1) as ShardId;
    shards.run(owner, move |shard, done| {
        shard.subscribe_internal(
            GLOBAL_ACCOUNT,
            Bytes::from_static(b"capture.>"),
            None,
            Rc::new(Forwarder(sender)),
        );
        let shard = Rc::clone(shard);
        compio::runtime::spawn(async move {
            shard.interest_barrier().await;
            let _ = done.send(());
        })
        .detach();
    });
    let clients = one_client_per_shard(shards.address, SHARDS).await;
    const COUNT: u32 = 300;
    for (shard, client) in clients.iter().enumerate() {
        for index in 0..COUNT {
            client
                .publish(format!("capture.{shard}"), index.to_string().into())
                .await
                .expect("publish");
        }
        client.flush().await.expect("flush");
    }
    let mut next: HashMap<Bytes, u32> = HashMap::new();
    for _ in 0..COUNT * SHARDS as u32 {
        let message = received
            .recv_timeout(Duration::from_secs(10))
            .expect("every message reaches the internal subscriber");
        assert_eq!(message.account, GLOBAL_ACCOUNT);
        assert_eq!(message.header_len, 0);
        let expected = next.entry(message.subject.clone()).or_insert(0);
        assert_eq!(
            message.payload,
            expected.to_string(),
            "publish order from {:?}",
            message.subject
        );
        *expected += 1;
    }
    assert_eq!(next.len(), SHARDS, "a publisher on every shard");
    assert!(received.recv_timeout(Duration::from_millis(200)).is_err());
    shards.validate();
    shards.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_internal_publisher_reaches_subscribers_on_every_shard_in_order() {
    let shards = Shards::start(SHARDS);
    let clients = one_client_per_shard(shards.address, SHARDS).await;
    let mut subscriptions = Vec::new();
    for client in &clients {
        subscriptions.push(client.subscribe("out.*").await.expect("subscribe"));
    }
    interest_reached_shard_zero(&clients).await;
    const COUNT: u32 = 500;
    let delivered = shards.run(0, |shard, reply| {
        let messages = (0..COUNT).map(|index| {
            Message::with_headers(
                GLOBAL_ACCOUNT,
                "out.internal",
                Some(Bytes::from_static(b"reply.to")),
                b"NATS/1.0\r\nSource: internal\r\n\r\n",
                index.to_string().as_bytes(),
            )
        });
        let _ = reply.send(shard.publish_internal(messages));
    });
    assert_eq!(delivered, COUNT as usize, "every message had a subscriber");
    for (shard, subscription) in subscriptions.iter_mut().enumerate() {
        for index in 0..COUNT {
            let message = tokio::time::timeout(Duration::from_secs(10), subscription.next())
                .await
                .unwrap_or_else(|_| panic!("message {index} not delivered on shard {shard}"))
                .expect("subscription open");
            assert_eq!(message.subject.as_str(), "out.internal");
            assert_eq!(message.reply.as_deref(), Some("reply.to"));
            assert_eq!(message.payload, index.to_string(), "order on shard {shard}");
            let headers = message.headers.expect("headers kept");
            assert_eq!(
                headers.get("Source").map(|value| value.as_str()),
                Some("internal")
            );
        }
    }
    shards.validate();
    shards.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_group_with_an_internal_member_delivers_each_message_once() {
    let shards = Shards::start(SHARDS);
    let (sender, received) = mpsc::channel();
    shards.run(1, move |shard, done| {
        shard.subscribe_internal(
            GLOBAL_ACCOUNT,
            Bytes::from_static(b"work"),
            Some(Bytes::from_static(b"workers")),
            Rc::new(Forwarder(sender)),
        );
        let shard = Rc::clone(shard);
        compio::runtime::spawn(async move {
            shard.interest_barrier().await;
            let _ = done.send(());
        })
        .detach();
    });
    let clients = one_client_per_shard(shards.address, SHARDS).await;
    let mut member = clients[2]
        .queue_subscribe("work", "workers".into())
        .await
        .expect("queue subscribe");
    interest_reached_shard_zero(&clients).await;
    const COUNT: usize = 400;
    for index in 0..COUNT {
        clients[0]
            .publish("work", index.to_string().into())
            .await
            .expect("publish");
    }
    clients[0].flush().await.expect("flush");
    let mut seen = vec![0u32; COUNT];
    let mut by_client = 0;
    while let Ok(Some(message)) =
        tokio::time::timeout(Duration::from_millis(500), member.next()).await
    {
        let index: usize = std::str::from_utf8(&message.payload)
            .expect("utf-8")
            .parse()
            .expect("index");
        seen[index] += 1;
        by_client += 1;
    }
    let mut by_internal = 0;
    while let Ok(message) = received.recv_timeout(Duration::from_millis(200)) {
        let index: usize = std::str::from_utf8(&message.payload)
            .expect("utf-8")
            .parse()
            .expect("index");
        seen[index] += 1;
        by_internal += 1;
    }
    assert!(
        seen.iter().all(|&count| count == 1),
        "exactly once: {seen:?}"
    );
    assert!(
        by_client > 0 && by_internal > 0,
        "both members got some: {by_client} {by_internal}"
    );
    shards.validate();
    shards.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_only_service_answers_on_the_shard_where_the_request_was_published() {
    let shards = Shards::start(SHARDS);
    let (sender, received) = mpsc::channel();
    for shard in 0..SHARDS as ShardId {
        let sender = sender.clone();
        shards.run(shard, move |shard, done| {
            shard.subscribe_internal_local(
                GLOBAL_ACCOUNT,
                Bytes::from_static(b"svc.>"),
                Rc::new(Tagged(shard.id, sender)),
            );
            let _ = done.send(());
        });
    }
    let clients = one_client_per_shard(shards.address, SHARDS).await;
    for (shard, client) in clients.iter().enumerate() {
        client
            .publish(format!("svc.{shard}"), Bytes::new())
            .await
            .expect("publish");
        client.flush().await.expect("flush");
    }
    let mut seen = Vec::new();
    while let Ok((shard, subject)) = received.recv_timeout(Duration::from_millis(300)) {
        seen.push((shard, subject));
    }
    seen.sort();
    let expected: Vec<(ShardId, Bytes)> = (0..SHARDS)
        .map(|shard| (shard as ShardId, Bytes::from(format!("svc.{shard}"))))
        .collect();
    assert_eq!(
        seen, expected,
        "each request handled once, where it was published"
    );
    shards.validate();
    shards.stop();
}

/// Forwards the subject of what it receives, with the shard it ran on.
struct Tagged(ShardId, mpsc::Sender<(ShardId, Bytes)>);

impl InternalSubscriber for Tagged {
    fn deliver(&self, shard: &Shard, message: &Message) {
        assert_eq!(shard.id, self.0);
        let _ = self.1.send((shard.id, message.subject.clone()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interest_on_another_shard_lasts_until_its_last_plain_subscription_goes() {
    let shards = Shards::start(2);
    let clients = one_client_per_shard(shards.address, 2).await;
    let first = clients[1].subscribe("twice").await.expect("sub");
    let mut second = clients[1].subscribe("twice").await.expect("sub");
    interest_reached_shard_zero(&clients).await;
    drop(first);
    clients[1].flush().await.expect("flush");
    // The unsubscribe of one of two changes nothing on shard 0: the other still receives.
    clients[0]
        .publish("twice", Bytes::from_static(b"still"))
        .await
        .expect("publish");
    clients[0].flush().await.expect("flush");
    let message = tokio::time::timeout(Duration::from_secs(5), second.next())
        .await
        .expect("delivered")
        .expect("open");
    assert_eq!(message.payload, "still");
    shards.validate();
    drop(second);
    clients[1].flush().await.expect("flush");
    // Once the last one is gone, shard 0 answers a request with no responders.
    let answer = clients[0]
        .request("twice", Bytes::from_static(b"anyone?"))
        .await;
    let mut gone = matches!(
        answer,
        Err(ref error) if error.kind() == async_nats::RequestErrorKind::NoResponders
    );
    for _ in 0..50 {
        if gone {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        gone = matches!(
            clients[0].request("twice", Bytes::new()).await,
            Err(ref error) if error.kind() == async_nats::RequestErrorKind::NoResponders
        );
    }
    assert!(gone, "no responders once the last subscription left");
    shards.validate();
    shards.stop();
}
