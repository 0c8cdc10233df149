//! Raw-byte protocol tests against a real Natrix process over real sockets: every command,
//! every error text, and input split at arbitrary points.

mod common;

use std::time::Duration;

use common::{RawClient, TestServer};

fn quiet_client(server: &TestServer) -> RawClient {
    let mut client = RawClient::connect(server.port);
    client.send(b"CONNECT {\"verbose\":false,\"headers\":true}\r\n");
    client
}

#[test]
fn info_has_the_go_server_fields_and_a_trailing_space() {
    let server = TestServer::natrix(2, &[]);
    let client = RawClient::connect(server.port);
    for key in [
        "server_id",
        "server_name",
        "version",
        "proto",
        "go",
        "host",
        "port",
        "headers",
    ] {
        assert!(
            client.info.get(key).is_some(),
            "INFO lacks {key}: {}",
            client.info
        );
    }
    assert_eq!(client.info["max_payload"], 1048576);
    assert_eq!(client.info["client_ip"], "127.0.0.1");
    assert_eq!(client.info["port"], server.port);
    assert!(client.info["client_id"].as_u64().is_some_and(|id| id > 0));
}

#[test]
fn pub_sub_unsub_ping_round_trip_byte_for_byte() {
    let server = TestServer::natrix(1, &[]);
    let mut client = quiet_client(&server);
    client.send(b"SUB foo 1\r\nPUB foo 5\r\nhello\r\nPUB foo reply.to 0\r\n\r\nPING\r\n");
    client.expect(b"MSG foo 1 5\r\nhello\r\nMSG foo 1 reply.to 0\r\n\r\nPONG\r\n");
    client.send(b"UNSUB 1\r\nPUB foo 1\r\nx\r\nPING\r\n");
    client.expect(b"PONG\r\n");
}

#[test]
fn verbose_is_the_default_before_connect() {
    let server = TestServer::natrix(1, &[]);
    let mut client = RawClient::connect(server.port);
    client.send(b"SUB foo 1\r\nPUB foo 1\r\nx\r\nping\r\n");
    client.expect(b"+OK\r\n+OK\r\nMSG foo 1 1\r\nx\r\nPONG\r\n");
}

#[test]
fn hpub_delivers_hmsg_and_strips_headers_for_subscribers_without_them() {
    let server = TestServer::natrix(1, &[]);
    let mut with_headers = quiet_client(&server);
    let mut without_headers = RawClient::connect(server.port);
    without_headers.send(b"CONNECT {\"verbose\":false,\"headers\":false}\r\nSUB h 9\r\nPING\r\n");
    without_headers.expect(b"PONG\r\n");
    with_headers.send(b"SUB h 1\r\nHPUB h 18 20\r\nNATS/1.0\r\nA: b\r\n\r\nhi\r\nPING\r\n");
    with_headers.expect(b"HMSG h 1 18 20\r\nNATS/1.0\r\nA: b\r\n\r\nhi\r\nPONG\r\n");
    without_headers.expect(b"MSG h 9 2\r\nhi\r\n");
}

#[test]
fn wildcards_and_queue_groups_match_on_one_shard() {
    let server = TestServer::natrix(1, &[]);
    let mut client = quiet_client(&server);
    client.send(b"SUB a.* 1\r\nSUB a.> 2\r\nSUB b q 3\r\nSUB b q 4\r\nPUB a.b.c 1\r\n1\r\n");
    client.send(b"PUB b 1\r\n2\r\nPING\r\n");
    let (bytes, _) = client.read_until_pong_or_close(Duration::from_secs(10));
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.starts_with("MSG a.b.c 2 1\r\n1\r\n"), "{text}");
    let queue_deliveries =
        text.matches("MSG b 3 1\r\n").count() + text.matches("MSG b 4 1\r\n").count();
    assert_eq!(
        queue_deliveries, 1,
        "exactly one queue member gets it: {text}"
    );
}

#[test]
fn unsub_with_max_delivers_exactly_max_messages() {
    let server = TestServer::natrix(2, &[]);
    let mut client = quiet_client(&server);
    client.send(b"SUB foo 1\r\nUNSUB 1 2\r\n");
    for _ in 0..4 {
        client.send(b"PUB foo 1\r\nx\r\n");
    }
    client.send(b"PING\r\n");
    client.expect(b"MSG foo 1 1\r\nx\r\nMSG foo 1 1\r\nx\r\nPONG\r\n");
}

#[test]
fn echo_false_suppresses_own_messages() {
    let server = TestServer::natrix(1, &[]);
    let mut client = RawClient::connect(server.port);
    client.send(
        b"CONNECT {\"verbose\":false,\"echo\":false}\r\nSUB foo 1\r\nPUB foo 1\r\nx\r\nPING\r\n",
    );
    client.expect(b"PONG\r\n");
}

#[test]
fn no_responders_status_goes_to_the_requesters_reply_subscription() {
    let server = TestServer::natrix(2, &[]);
    let mut client = RawClient::connect(server.port);
    client.send(b"CONNECT {\"verbose\":false,\"headers\":true,\"no_responders\":true}\r\n");
    client.send(b"SUB inbox.1 7\r\nPUB nobody inbox.1 0\r\n\r\nPING\r\n");
    client.expect(
        b"HMSG inbox.1 7 38 38\r\nNATS/1.0 503\r\nNats-Subject: nobody\r\n\r\n\r\nPONG\r\n",
    );
}

fn expect_error_and_close(server: &TestServer, input: &[u8], error: Option<&str>) {
    let mut client = RawClient::connect(server.port);
    client.send(input);
    let (bytes, closed) = client.read_until_quiet(Duration::from_secs(2));
    let expected = error
        .map(|text| format!("-ERR '{text}'\r\n"))
        .unwrap_or_default();
    assert_eq!(
        String::from_utf8_lossy(&bytes),
        expected,
        "input {:?}",
        String::from_utf8_lossy(input)
    );
    assert!(
        closed,
        "connection must be closed after {:?}",
        String::from_utf8_lossy(input)
    );
}

#[test]
fn protocol_errors_send_the_go_server_texts_and_close() {
    let server = TestServer::natrix(2, &["--max_payload", "64"]);
    let connect = "CONNECT {\"verbose\":false}\r\n";
    let long_line = format!("{connect}SUB {} 1\r\n", "a".repeat(5000));
    let cases: Vec<(String, Option<&str>)> = vec![
        (
            format!("{connect}FOO\r\n"),
            Some("Unknown Protocol Operation"),
        ),
        (
            format!("{connect}PUB foo 2\r\nabc\r\n"),
            Some("Unknown Protocol Operation"),
        ),
        (
            format!("{connect}PUB foo 65\r\n"),
            Some("Maximum Payload Violation"),
        ),
        (long_line, Some("maximum control line exceeded")),
        (
            "CONNECT {\"protocol\":5,\"verbose\":false}\r\n".to_string(),
            Some("invalid client protocol"),
        ),
        (
            "CONNECT {\"no_responders\":true,\"verbose\":false}\r\n".to_string(),
            Some("no responders requires headers support"),
        ),
        (format!("{connect}PUB foo\r\n"), None),
        (format!("{connect}SUB foo\r\n"), None),
        ("CONNECT {bad json\r\n".to_string(), None),
        (format!("{connect}HPUB foo 0 0\r\n\r\n"), None),
    ];
    for (input, error) in cases {
        expect_error_and_close(&server, input.as_bytes(), error);
    }
}

#[test]
fn subject_errors_are_reported_without_closing() {
    let server = TestServer::natrix(1, &[]);
    let mut client = quiet_client(&server);
    client.send(b"SUB foo..bar 1\r\nSUB >.a 2\r\nPUB foo.* 1\r\nx\r\nPING\r\n");
    client.expect(b"-ERR 'Invalid Subject'\r\n-ERR 'Invalid Subject'\r\n-ERR 'Invalid Publish Subject'\r\nPONG\r\n");
}

#[test]
fn max_subscriptions_refuses_the_extra_subscription() {
    let server = TestServer::natrix(1, &["--max_subscriptions", "1"]);
    let mut client = quiet_client(&server);
    client.send(b"SUB a 1\r\nSUB b 2\r\nPING\r\n");
    client.expect(b"-ERR 'maximum subscriptions exceeded'\r\nPONG\r\n");
}

#[test]
fn max_connections_refuses_the_extra_connection_after_info() {
    let server = TestServer::natrix(2, &["--max_connections", "1"]);
    let mut first = quiet_client(&server);
    first.send(b"PING\r\n");
    first.expect(b"PONG\r\n");
    let mut second = RawClient::connect(server.port);
    let (bytes, closed) = second.read_until_quiet(Duration::from_secs(2));
    assert_eq!(
        String::from_utf8_lossy(&bytes),
        "-ERR 'maximum connections exceeded'\r\n"
    );
    assert!(closed);
}

#[test]
fn input_split_at_every_byte_gives_the_same_replies() {
    let server = TestServer::natrix(2, &[]);
    let script: &[u8] =
        b"CONNECT {\"verbose\":false,\"headers\":true}\r\nSUB foo 1\r\nPUB foo r 3\r\nabc\r\n\
HPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\nUNSUB 1\r\nPUB foo 1\r\nz\r\nPING\r\n";
    let expected: &[u8] =
        b"MSG foo 1 r 3\r\nabc\r\nHMSG foo 1 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPONG\r\n";
    let mut client = RawClient::connect(server.port);
    for byte in script {
        client.send(std::slice::from_ref(byte));
    }
    client.expect(expected);
    for split in [1, 7, 30, 45, 60, script.len() - 3] {
        let mut client = RawClient::connect(server.port);
        client.send(&script[..split]);
        std::thread::sleep(Duration::from_millis(5));
        client.send(&script[split..]);
        client.expect(expected);
    }
}

#[test]
fn stale_connection_is_closed_after_unanswered_pings() {
    let server = TestServer::natrix(1, &["--ping_interval", "100ms", "--ping_max", "2"]);
    let mut client = quiet_client(&server);
    let (bytes, closed) = client.read_until_quiet(Duration::from_secs(2));
    assert_eq!(
        String::from_utf8_lossy(&bytes),
        "PING\r\nPING\r\n-ERR 'Stale Connection'\r\n"
    );
    assert!(closed);
}

#[test]
fn answered_pings_keep_the_connection_open() {
    let server = TestServer::natrix(1, &["--ping_interval", "100ms", "--ping_max", "1"]);
    let mut client = quiet_client(&server);
    for _ in 0..5 {
        let line = client.read_line(Duration::from_secs(2)).expect("a PING");
        assert_eq!(line, "PING\r\n");
        client.send(b"PONG\r\n");
    }
}

#[test]
fn slow_consumer_is_disconnected_and_others_are_unaffected() {
    let server = TestServer::natrix(2, &["--max_pending", "1MB"]);
    let mut slow = quiet_client(&server);
    slow.send(b"SUB big 1\r\nPING\r\n");
    slow.expect(b"PONG\r\n");
    let mut publisher = quiet_client(&server);
    let payload = vec![b'x'; 60_000];
    let mut frame = b"PUB big 60000\r\n".to_vec();
    frame.extend_from_slice(&payload);
    frame.extend_from_slice(b"\r\n");
    // 30 MB to a subscriber that never reads: far beyond socket buffers plus max_pending.
    for _ in 0..500 {
        publisher.send(&frame);
    }
    publisher.send(b"PING\r\n");
    publisher.expect(b"PONG\r\n");
    assert!(
        slow.wait_closed(Duration::from_secs(10)),
        "slow consumer must be disconnected"
    );
}

#[test]
fn graceful_shutdown_exits_cleanly_with_clients_connected() {
    let server = TestServer::natrix(2, &[]);
    let mut client = quiet_client(&server);
    client.send(b"PING\r\n");
    client.expect(b"PONG\r\n");
    assert_eq!(server.stop(), Some(0));
    assert!(client.wait_closed(Duration::from_secs(5)));
}

/// Opens raw connections until one lands on `wanted` shard (the kernel spreads accepts).
fn raw_client_on_shard(server: &TestServer, wanted: usize) -> RawClient {
    for _ in 0..200 {
        let client = quiet_client(server);
        if common::shard_of(client.client_id(), server.shards) == wanted {
            return client;
        }
    }
    panic!("no connection landed on shard {wanted}");
}

#[test]
fn pong_after_sub_means_publishes_from_every_shard_reach_it() {
    let server = TestServer::natrix(2, &[]);
    let mut subscriber = raw_client_on_shard(&server, 0);
    let mut publisher = raw_client_on_shard(&server, 1);
    for round in 0..200 {
        subscriber.send(format!("SUB fresh.{round} {round}\r\nPING\r\n").as_bytes());
        subscriber.expect(b"PONG\r\n");
        publisher.send(format!("PUB fresh.{round} 1\r\nx\r\n").as_bytes());
        subscriber.expect(format!("MSG fresh.{round} {round} 1\r\nx\r\n").as_bytes());
        subscriber.send(format!("UNSUB {round}\r\n").as_bytes());
    }
}

#[test]
fn client_that_pings_without_reading_is_cut_off_at_max_pending() {
    let server = TestServer::natrix(1, &["--max_pending", "64KB"]);
    let mut client = quiet_client(&server);
    let pings = b"PING\r\n".repeat(100_000);
    // 600 KB of PONGs owed to a client that never reads: socket buffers absorb some, the
    // outbound limit must stop the rest.
    // A failed write may be a reset (closed) or a 5 s write timeout (the server merely stopped
    // reading): only the read side tells them apart.
    for _ in 0..200 {
        if client.try_send(&pings).is_err() {
            break;
        }
    }
    assert!(
        client.wait_closed(Duration::from_secs(10)),
        "connection must be closed"
    );
}

#[test]
fn ok_after_verbose_sub_means_publishes_from_every_shard_reach_it() {
    let server = TestServer::natrix(2, &[]);
    let mut subscriber = loop {
        let mut client = RawClient::connect(server.port);
        if common::shard_of(client.client_id(), server.shards) == 0 {
            client.send(b"CONNECT {\"verbose\":true}\r\n");
            client.expect(b"+OK\r\n");
            break client;
        }
    };
    let mut publisher = raw_client_on_shard(&server, 1);
    for round in 0..200 {
        subscriber.send(format!("SUB verbose.{round} {round}\r\n").as_bytes());
        subscriber.expect(b"+OK\r\n");
        publisher.send(format!("PUB verbose.{round} 1\r\nx\r\n").as_bytes());
        subscriber.expect(format!("MSG verbose.{round} {round} 1\r\nx\r\n").as_bytes());
        subscriber.send(format!("UNSUB {round}\r\n").as_bytes());
        subscriber.expect(b"+OK\r\n");
    }
}

/// The longest subject `max_control_line` admits at 64 KB (over 32 000 tokens) goes through
/// every stage of the subject index and the interest summary: subscribe (plain and wildcard),
/// match a publish from another shard, unsubscribe, and a disconnect that drops the rest; the
/// server is alive afterwards. A recursive trie walk overflowed the stack here.
#[test]
fn the_deepest_subject_max_control_line_allows_is_subscribed_matched_and_dropped() {
    let server = TestServer::natrix(2, &["--max_control_line", "65536"]);
    let tokens = 32_700;
    let subject = vec!["t"; tokens].join(".");
    let wildcard = format!("{}.>", vec!["*"; tokens / 2].join("."));
    assert!(subject.len() + "SUB  1\r\n".len() < 65536);
    let mut subscriber = quiet_client(&server);
    subscriber.send(format!("SUB {subject} 1\r\nSUB {wildcard} 2\r\nPING\r\n").as_bytes());
    subscriber.expect(b"PONG\r\n");
    // A publisher on the other shard, so the publish crosses the interest summary too.
    let subscriber_shard = common::shard_of(subscriber.client_id(), 2);
    let mut publisher = (0..50)
        .map(|_| quiet_client(&server))
        .find(|client| common::shard_of(client.client_id(), 2) != subscriber_shard)
        .expect("a connection on the other shard");
    publisher.send(format!("PUB {subject} 5\r\nhello\r\nPING\r\n").as_bytes());
    publisher.expect(b"PONG\r\n");
    // Both subscriptions match, in either order; the subject is too long to print.
    let msg = |sid: u32, payload: &str| {
        format!("MSG {subject} {sid} {}\r\n{payload}\r\n", payload.len()).into_bytes()
    };
    subscriber.send(b"PING\r\n");
    let (received, _) = subscriber.read_until_pong_or_close(Duration::from_secs(10));
    let in_order = [msg(1, "hello"), msg(2, "hello"), b"PONG\r\n".to_vec()].concat();
    let reversed = [msg(2, "hello"), msg(1, "hello"), b"PONG\r\n".to_vec()].concat();
    assert!(
        received == in_order || received == reversed,
        "got {} bytes, expected two MSGs of {} bytes and a PONG",
        received.len(),
        msg(1, "hello").len()
    );
    subscriber.send(b"UNSUB 1\r\nPING\r\n");
    subscriber.expect(b"PONG\r\n");
    publisher.send(format!("PUB {subject} 2\r\nhi\r\nPING\r\n").as_bytes());
    publisher.expect(b"PONG\r\n");
    subscriber.send(b"PING\r\n");
    let (received, _) = subscriber.read_until_pong_or_close(Duration::from_secs(10));
    assert!(
        received == [msg(2, "hi"), b"PONG\r\n".to_vec()].concat(),
        "got {} bytes after UNSUB 1",
        received.len()
    );
    // Disconnect with the wildcard subscription still in place: the shard drops it.
    drop(subscriber);
    publisher.send(format!("PUB {subject} 2\r\nhi\r\nPING\r\n").as_bytes());
    publisher.expect(b"PONG\r\n");
    let mut after = quiet_client(&server);
    after.send(b"PING\r\n");
    after.expect(b"PONG\r\n");
}
