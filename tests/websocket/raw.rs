//! Raw upgrades and frames over real sockets, each run against the Go server and Natrix with
//! the same file and compared: the upgrade response and first frames, bad upgrades, every
//! protocol error's close frame, fragmentation, masking, size limits, close codes and
//! compression.

use std::time::Duration;

use super::{
    binary, close_of, deflate, encode_frame, mask_date, upgrade_request, RawWs, WsServer, KEY,
};

const WAIT: Duration = Duration::from_secs(5);

/// INFO's keys, with the values that name the server or its ports masked.
fn masked_info(info: &serde_json::Value) -> serde_json::Value {
    let mut info = info.clone();
    let object = info.as_object_mut().expect("INFO object");
    for key in [
        "server_id",
        "server_name",
        "version",
        "go",
        "git_commit",
        "client_id",
        "port",
        "nonce",
        "xkey",
    ] {
        if object.contains_key(key) {
            object.insert(key.to_string(), serde_json::Value::from("<masked>"));
        }
    }
    // What Natrix leaves out until the features exist (as tests/differential.rs).
    for key in ["git_commit", "api_lvl", "xkey"] {
        object.remove(key);
    }
    info
}

#[test]
fn upgrade_response_and_first_frames_match_go() {
    let block = "no_tls: true\n  compression: true\n  headers { X-Frame-Options: \"DENY\" }";
    let cases = [
        ("plain", ""),
        (
            "compression offered",
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n",
        ),
        ("no masking", "Nats-No-Masking: true\r\n"),
        ("browser", "User-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\n"),
    ];
    let servers = WsServer::both(block, "");
    for (case, extra) in cases {
        let mut seen = Vec::new();
        for server in &servers {
            let request = upgrade_request(server.ws_port, extra);
            let (head, mut client) = RawWs::open(server.ws_port, request.as_bytes());
            let info = client.read_frame(WAIT).expect("INFO frame");
            let info_text = if info.rsv1 {
                super::inflate(&info.payload)
            } else {
                info.payload.clone()
            };
            let info_text = String::from_utf8(info_text).expect("utf8");
            let json = info_text.strip_prefix("INFO ").expect("INFO").trim_end();
            let info_json: serde_json::Value = serde_json::from_str(json).expect("json");
            assert_eq!(info_json["port"], server.ws_port, "{case}: {}", server.name);
            let connect = b"CONNECT {\"verbose\":true,\"protocol\":1,\"headers\":true}\r\nPING\r\n";
            client.send(&if extra.contains("No-Masking") {
                encode_frame(0x82, connect, None)
            } else {
                binary(connect)
            });
            // Both servers send an INFO naming the account after the first PONG.
            let (text, _) = client.read_text_until("INFO ", WAIT);
            let (mut text, _) = if text.ends_with("\r\n") {
                (text, Vec::new())
            } else {
                let (rest, controls) = client.read_text_until("\r\n", WAIT);
                (text + &rest, controls)
            };
            if let Some(start) = text.find("INFO {") {
                let line_end = start + text[start..].find("\r\n").expect("INFO line end");
                let async_info: serde_json::Value =
                    serde_json::from_str(text[start + 5..line_end].trim()).expect("INFO json");
                assert_eq!(
                    async_info["port"], server.ws_port,
                    "{case}: {}",
                    server.name
                );
                text = format!("{}INFO {}", &text[..start], masked_info(&async_info));
            }
            seen.push((
                head,
                (info.fin, info.rsv1, info.opcode),
                masked_info(&info_json),
                text,
            ));
        }
        assert_eq!(seen[0].0, seen[1].0, "{case}: 101 response");
        assert_eq!(seen[0].1, seen[1].1, "{case}: INFO frame header");
        assert_eq!(seen[0].2, seen[1].2, "{case}: INFO fields");
        assert_eq!(seen[0].3, seen[1].3, "{case}: +OK and PONG");
        assert!(seen[1].3.starts_with("+OK\r\nPONG\r\nINFO {"), "{case}");
    }
    // The accept key is RFC 6455's for the sample key.
    let (head, _) = RawWs::open(
        servers[1].ws_port,
        upgrade_request(servers[1].ws_port, "").as_bytes(),
    );
    assert!(head.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
    assert!(head.contains("X-Frame-Options: DENY\r\n"), "{head}");
}

/// Builds a request for a server's WebSocket port.
type RequestFor = Box<dyn Fn(u16) -> String>;

#[test]
fn bad_upgrade_requests_get_go_statuses() {
    let good = |port: u16| upgrade_request(port, "");
    let cases: Vec<(&str, RequestFor)> = vec![
        (
            "method",
            Box::new(move |port| good(port).replacen("GET", "POST", 1)),
        ),
        (
            "no upgrade header",
            Box::new(move |port| good(port).replace("Upgrade: websocket\r\n", "")),
        ),
        (
            "connection header",
            Box::new(move |port| good(port).replace("Connection: Upgrade", "Connection: close")),
        ),
        (
            "no key",
            Box::new(move |port| good(port).replace(&format!("Sec-WebSocket-Key: {KEY}\r\n"), "")),
        ),
        (
            "short key",
            Box::new(move |port| good(port).replace(KEY, "c2hvcnQ=")),
        ),
        (
            "version",
            Box::new(move |port| {
                good(port).replace("Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 8")
            }),
        ),
        (
            "mqtt path",
            Box::new(move |port| good(port).replacen("GET / ", "GET /mqtt ", 1)),
        ),
        ("garbage", Box::new(|_| "garbage\r\n\r\n".to_string())),
        (
            "no host",
            Box::new(|_| "GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n".to_string()),
        ),
    ];
    let servers = WsServer::both("no_tls: true", "");
    for (case, request) in &cases {
        let mut responses = Vec::new();
        for server in &servers {
            let (head, mut client) =
                RawWs::open(server.ws_port, request(server.ws_port).as_bytes());
            // The body follows the head; read what comes until the server closes.
            let mut rest = Vec::new();
            let deadline = std::time::Instant::now() + WAIT;
            while !client.eof && std::time::Instant::now() < deadline {
                if let Some(frame) = client.read_frame(Duration::from_millis(200)) {
                    rest.push(frame);
                }
            }
            responses.push(mask_date(&head));
        }
        assert_eq!(responses[0], responses[1], "{case}");
        assert!(!responses[1].starts_with("HTTP/1.1 101"), "{case}");
    }
}

/// Sends `bad` after the INFO frame and returns the close frame's status and text and
/// whether the server then closed the connection.
fn close_after(server: &WsServer, extra: &str, bad: &[u8]) -> ((u16, String), bool) {
    let (mut client, _) = RawWs::connect_with_info(server.ws_port, extra);
    client.send(bad);
    let (frames, closed) = client.read_until_closed(WAIT);
    let close = frames
        .iter()
        .rev()
        .find(|frame| frame.opcode == 8)
        .map(close_of)
        .unwrap_or_default();
    (close, closed)
}

/// Frame errors: Natrix answers each with the close frame the Go server queues for it
/// (status 1002 and Go's text), then closes. The Go server closes such a connection without
/// flushing (a read error), so its close frame may or may not get out first: when it does,
/// it must be the same frame.
#[test]
fn protocol_errors_close_with_go_status_and_text() {
    let mask = Some([1, 2, 3, 4]);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("mask bit missing", encode_frame(0x82, b"PING\r\n", None)),
        (
            "RSV2 and RSV3 must be clear",
            encode_frame(0xa2, b"x", mask),
        ),
        (
            "compressed frame received without negotiated permessage-deflate",
            encode_frame(0xc2, b"x", mask),
        ),
        (
            "control frame does not have final bit set",
            encode_frame(0x09, b"x", mask),
        ),
        ("invalid continuation frame", encode_frame(0x80, b"x", mask)),
        ("unknown opcode 3", encode_frame(0x83, b"x", mask)),
        ("unknown opcode 11", encode_frame(0x8b, b"x", mask)),
        (
            "close frame payload cannot be 1 byte",
            encode_frame(0x88, b"x", mask),
        ),
        (
            "invalid close status code 1005",
            encode_frame(0x88, &1005u16.to_be_bytes(), mask),
        ),
        (
            "control frame length bigger than maximum allowed of 125 bytes",
            encode_frame(0x89, &[b'p'; 126], mask),
        ),
        (
            "new message started before final frame for previous message was received",
            [
                encode_frame(0x02, b"PI", mask),
                encode_frame(0x82, b"NG\r\n", mask),
            ]
            .concat(),
        ),
    ];
    let servers = WsServer::both("no_tls: true", "");
    let mut go_sent = 0;
    for (text, bad) in &cases {
        let expected = (1002, text.to_string());
        let go = close_after(&servers[0], "", bad);
        let natrix = close_after(&servers[1], "", bad);
        assert_eq!(natrix, (expected.clone(), true), "{text}");
        assert!(go.1, "{text}: Go closes");
        if go.0 != (0, String::new()) {
            go_sent += 1;
            assert_eq!(go.0, expected, "{text}");
        }
    }
    eprintln!(
        "the Go server sent its close frame in {go_sent} of {} cases",
        cases.len()
    );
}

/// Closes that are not frame errors: the same close frame (or none) from both servers.
#[test]
fn closes_for_nats_errors_match_go() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "invalid utf8 in a close",
            encode_frame(0x88, &[0x03, 0xe8, 0xff, 0xfe], Some([5, 5, 5, 5])),
        ),
        ("parse error", binary(b"NOT A NATS OPERATION\r\n")),
        (
            "unknown subject",
            binary(b"CONNECT {}\r\nPUB foo.. 1\r\nx\r\n"),
        ),
    ];
    let servers = WsServer::both("no_tls: true", "");
    for (case, bad) in &cases {
        let go = close_after(&servers[0], "", bad);
        let natrix = close_after(&servers[1], "", bad);
        assert_eq!(go, natrix, "{case}");
    }
}

#[test]
fn client_close_is_answered_with_its_status_and_text() {
    let mut payload = 1000u16.to_be_bytes().to_vec();
    payload.extend_from_slice(b"bye");
    let cases = [
        encode_frame(0x88, &payload, Some([9, 9, 9, 9])),
        encode_frame(0x88, &4000u16.to_be_bytes(), Some([9, 9, 9, 9])),
    ];
    let servers = WsServer::both("no_tls: true", "");
    for bad in &cases {
        let go = close_after(&servers[0], "", bad);
        let natrix = close_after(&servers[1], "", bad);
        assert_eq!(go, natrix);
        assert!(natrix.1);
    }
    // An empty close is answered by an empty close.
    let (mut client, _) = RawWs::connect_with_info(servers[1].ws_port, "");
    client.send(&encode_frame(0x88, b"", Some([1, 1, 1, 1])));
    let (frames, closed) = client.read_until_closed(WAIT);
    assert!(closed);
    assert_eq!(
        frames.last().map(|frame| frame.payload.clone()),
        Some(vec![])
    );
}

#[test]
fn fragmented_messages_with_pings_between_them_read_as_one_stream() {
    let mask = Some([0xa, 0xb, 0xc, 0xd]);
    let input = [
        binary(b"CONNECT {\"verbose\":false}\r\nSUB foo 1\r\n"),
        encode_frame(0x01, b"PUB fo", mask),
        encode_frame(0x89, b"in-between", mask),
        encode_frame(0x00, b"o 5\r\nhel", mask),
        encode_frame(0x00, b"", mask),
        encode_frame(0x80, b"lo\r\nPING\r\n", mask),
    ]
    .concat();
    for server in WsServer::both("no_tls: true", "") {
        let (mut client, _) = RawWs::connect_with_info(server.ws_port, "");
        // Byte by byte: frame headers and payloads split at every position.
        for byte in &input {
            client.send(std::slice::from_ref(byte));
        }
        let (text, controls) = client.read_text_until("PONG\r\n", WAIT);
        assert_eq!(text, "MSG foo 1 5\r\nhello\r\nPONG\r\n", "{}", server.name);
        assert_eq!(controls.len(), 1, "{}", server.name);
        assert_eq!(controls[0].opcode, 0xa, "a pong: {}", server.name);
        assert_eq!(controls[0].payload, b"in-between", "{}", server.name);
    }
}

#[test]
fn unmasked_frames_are_accepted_only_after_nats_no_masking() {
    for server in WsServer::both("no_tls: true", "") {
        let (head, mut client) = RawWs::open(
            server.ws_port,
            upgrade_request(server.ws_port, "Nats-No-Masking: true\r\n").as_bytes(),
        );
        assert!(
            head.contains("Nats-No-Masking: true\r\n"),
            "{}: {head}",
            server.name
        );
        let _info = client.read_frame(WAIT).expect("INFO");
        client.send(&encode_frame(0x82, b"CONNECT {}\r\nPING\r\n", None));
        let (text, _) = client.read_text_until("PONG\r\n", WAIT);
        assert_eq!(text, "+OK\r\nPONG\r\n", "{}", server.name);
    }
}

#[test]
fn oversize_payloads_close_as_on_go() {
    let top = "max_payload: 1024";
    let servers = WsServer::both("no_tls: true\n  compression: true", top);
    let big = format!("PUB foo 2000\r\n{}\r\n", "x".repeat(2000));
    let compression = "Sec-WebSocket-Extensions: permessage-deflate\r\n";
    let mut compressed_big = binary(&deflate(big.as_bytes()));
    compressed_big[0] |= 0x40;
    // A compressed message that inflates far past max_payload: both servers parse the first
    // max_payload bytes of it, then close.
    let bomb = b"PING\r\n".repeat(20_000);
    let mut compressed_bomb = binary(&deflate(&bomb));
    compressed_bomb[0] |= 0x40;
    // The third closes as a read error: the Go server then skips the flush, so what it
    // parsed before (PONGs) may or may not get out; Natrix sends nothing, Go's usual.
    let cases = [
        ("PUB over max_payload", "", binary(big.as_bytes()), false),
        (
            "compressed PUB over max_payload",
            compression,
            compressed_big,
            false,
        ),
        ("compressed bomb", compression, compressed_bomb, true),
    ];
    for (case, extra, bad, read_error) in &cases {
        let mut outcomes = Vec::new();
        for server in &servers {
            let (mut client, _) = RawWs::connect_with_info(server.ws_port, extra);
            client.send(bad);
            let (frames, closed) = client.read_until_closed(WAIT);
            let mut text = String::new();
            let mut close = None;
            for frame in &frames {
                match frame.opcode {
                    8 => close = Some(close_of(frame)),
                    _ if frame.rsv1 => {
                        text.push_str(&String::from_utf8_lossy(&super::inflate(&frame.payload)))
                    }
                    _ => text.push_str(&String::from_utf8_lossy(&frame.payload)),
                }
            }
            outcomes.push((text, close, closed));
        }
        if *read_error {
            assert_eq!(outcomes[1], (String::new(), None, true), "{case}");
            assert!(
                outcomes[0].2 && outcomes[0].1.is_none(),
                "{case}: {:?}",
                outcomes[0]
            );
            assert!(
                outcomes[0].0.chars().all(|c| "PONG\r\n".contains(c)),
                "{case}: {:?}",
                outcomes[0]
            );
        } else {
            assert_eq!(outcomes[0], outcomes[1], "{case}");
            assert!(outcomes[1].2, "{case}: closed");
        }
    }
}

#[test]
fn compressed_messages_both_ways_match_go() {
    let servers = WsServer::both("no_tls: true\n  compression: true", "");
    let payload = "compressible ".repeat(40);
    let input = format!(
        "CONNECT {{\"verbose\":false}}\r\nSUB foo 1\r\nPUB foo {}\r\n{payload}\r\nPUB foo 2\r\nhi\r\nPING\r\n",
        payload.len()
    );
    for server in &servers {
        let (head, mut client) = RawWs::open(
            server.ws_port,
            upgrade_request(
                server.ws_port,
                "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n",
            )
            .as_bytes(),
        );
        assert!(
            head.contains("Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\n"),
            "{}: {head}",
            server.name
        );
        let _info = client.read_frame(WAIT).expect("INFO");
        // One compressed message cut into three frames (RSV1 on the first only).
        let compressed = deflate(input.as_bytes());
        let third = compressed.len() / 3;
        let mask = Some([7, 7, 7, 7]);
        client.send(&encode_frame(0x42, &compressed[..third], mask));
        client.send(&encode_frame(0x00, &compressed[third..2 * third], mask));
        client.send(&encode_frame(0x80, &compressed[2 * third..], mask));
        let mut frames = Vec::new();
        let mut text = String::new();
        while !text.contains("PONG") {
            let frame = client.read_frame(WAIT).expect("a frame");
            let data = if frame.rsv1 {
                super::inflate(&frame.payload)
            } else {
                frame.payload.clone()
            };
            text.push_str(&String::from_utf8_lossy(&data));
            frames.push(frame);
        }
        assert_eq!(
            text,
            format!(
                "MSG foo 1 {}\r\n{payload}\r\nMSG foo 1 2\r\nhi\r\nPONG\r\n",
                payload.len()
            ),
            "{}",
            server.name
        );
        // Output over 64 bytes goes out compressed.
        assert!(frames[0].rsv1, "{}: {frames:?}", server.name);
    }
}

/// What a server prints and its exit code when it refuses to start with `file`.
fn refused_start(binary: &str, file: &str) -> (Option<i32>, String) {
    let output = std::process::Command::new(binary)
        .args(["-a", "127.0.0.1", "-p", "-1", "-c", file])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("server runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn settings_that_cannot_be_honoured_stop_the_start_with_go_texts() {
    let dir = super::temp_dir("refused");
    let cases = [
        ("websocket { port: -1 }", "websocket requires TLS configuration"),
        (
            "websocket { port: -1, no_tls: true, allowed_origins: [\"ftp://x\"] }",
            "allowed origins must be absolute URLs with http or https scheme",
        ),
        (
            "websocket { port: -1, no_tls: true, headers { Sec-WebSocket-Foo: \"x\" } }",
            "\"Sec-WebSocket-\" prefix not allowed",
        ),
        (
            "authorization { users: [{user: a, password: b}] }\nwebsocket { port: -1, no_tls: true, authorization { token: t } }",
            "websocket authentication token not compatible with presence of users/nkeys",
        ),
        (
            "authorization { users: [{user: a, password: b}] }\nwebsocket { port: -1, no_tls: true, no_auth_user: nobody }",
            "no_auth_user: \"nobody\" not present as user or nkey",
        ),
        (
            "websocket { port: -1, no_tls: true, jwt_cookie: my_jwt }",
            "trusted operators or trusted keys configuration is required for JWT authentication via cookie \"my_jwt\"",
        ),
    ];
    let go = super::common::go_server_binary();
    for (index, (text, expected)) in cases.iter().enumerate() {
        let file = dir.join(format!("refused-{index}.conf"));
        std::fs::write(&file, text).expect("write config");
        let file = file.to_string_lossy().into_owned();
        for binary in [go.as_str(), env!("CARGO_BIN_EXE_natrix")] {
            let (code, stderr) = refused_start(binary, &file);
            assert_eq!(code, Some(1), "{binary} {text}: {stderr}");
            assert!(stderr.contains(expected), "{binary} {text}: {stderr}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
