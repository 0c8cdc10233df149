//! Differential test: the same raw-protocol scripts against the Go server and Natrix, replies
//! compared byte for byte. The INFO line is compared field by field: fields that must differ
//! (ids, names, versions, ports) are masked, the others must be equal.

mod common;

use std::time::Duration;

use common::{RawClient, TestServer};

/// One script: chunks sent with a short pause between them (to exercise split input).
struct Script {
    name: &'static str,
    chunks: Vec<Vec<u8>>,
}

fn script(name: &'static str, text: &str) -> Script {
    Script {
        name,
        chunks: vec![text.as_bytes().to_vec()],
    }
}

fn split_script(name: &'static str, text: &str, splits: &[usize]) -> Script {
    let bytes = text.as_bytes();
    let mut chunks = Vec::new();
    let mut start = 0;
    for &split in splits {
        chunks.push(bytes[start..split].to_vec());
        start = split;
    }
    chunks.push(bytes[start..].to_vec());
    Script { name, chunks }
}

const QUIET_CONNECT: &str = "CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true}\r\n";

fn scripts() -> Vec<Script> {
    let quiet = QUIET_CONNECT;
    vec![
        script("verbose default", "SUB foo 1\r\nPUB foo 3\r\nabc\r\nUNSUB 1\r\nPING\r\n"),
        script("verbose connect", "CONNECT {\"verbose\":true}\r\nSUB foo 1\r\nPUB foo 1\r\nx\r\nPING\r\n"),
        script("pub sub", &format!("{quiet}SUB foo 1\r\nPUB foo 5\r\nhello\r\nPING\r\n")),
        script("reply", &format!("{quiet}SUB foo 1\r\nPUB foo bar 2\r\nhi\r\nPING\r\n")),
        script("tabs", &format!("{quiet}SUB\tfoo\t1\r\nPUB\tfoo\t2\r\nhi\r\nPING\r\n")),
        script("lower case", &format!("{quiet}sub foo 1\r\npub foo 2\r\nhi\r\nping\r\n")),
        script("ping garbage", &format!("{quiet}PINGxyz\r\nPONG\r\nPING\r\n")),
        script("empty payload", &format!("{quiet}SUB a 1\r\nPUB a 0\r\n\r\nPING\r\n")),
        script("hpub", &format!("{quiet}SUB h 1\r\nHPUB h 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPING\r\n")),
        script(
            "hpub reply",
            &format!("{quiet}SUB h 1\r\nHPUB h r 16 18\r\nNATS/1.0\r\nA:b\r\n\r\nhi\r\nPING\r\n"),
        ),
        script("star", &format!("{quiet}SUB a.* 1\r\nPUB a.b 1\r\nx\r\nPUB a.b.c 1\r\ny\r\nPING\r\n")),
        script("full", &format!("{quiet}SUB a.> 1\r\nPUB a.b.c 1\r\nx\r\nPUB a 1\r\ny\r\nPING\r\n")),
        script("queue", &format!("{quiet}SUB q g 1\r\nPUB q 1\r\nx\r\nPING\r\n")),
        script("unsub max", &format!("{quiet}SUB a 1\r\nUNSUB 1 2\r\nPUB a 1\r\n1\r\nPUB a 1\r\n2\r\nPUB a 1\r\n3\r\nPING\r\n")),
        script("unsub bad max", &format!("{quiet}SUB a 1\r\nUNSUB 1 x\r\nPUB a 1\r\n1\r\nPING\r\n")),
        script("unsub unknown", &format!("{quiet}UNSUB 99\r\nPING\r\n")),
        script("duplicate sid", &format!("{quiet}SUB a 1\r\nSUB b 1\r\nPUB a 1\r\n1\r\nPUB b 1\r\n2\r\nPING\r\n")),
        script("echo off", "CONNECT {\"verbose\":false,\"echo\":false}\r\nSUB a 1\r\nPUB a 1\r\nx\r\nPING\r\n"),
        script(
            "no responders",
            "CONNECT {\"verbose\":false,\"headers\":true,\"no_responders\":true}\r\nSUB in 1\r\nPUB x in 0\r\n\r\nPING\r\n",
        ),
        script("invalid subject", &format!("{quiet}SUB a..b 1\r\nSUB >.a 2\r\nSUB a.>.b 3\r\nSUB a*.b 4\r\nPING\r\n")),
        script("invalid publish subject", &format!("{quiet}PUB a.* 1\r\nx\r\nPUB > 1\r\ny\r\nPING\r\n")),
        script("pedantic wildcard publish is still delivered", "CONNECT {\"verbose\":false,\"pedantic\":true}\r\nSUB a.> 2\r\nPUB a.* 1\r\nx\r\nPING\r\n"),
        script("pedantic publish", "CONNECT {\"verbose\":false,\"pedantic\":true}\r\nPUB a..b 1\r\nx\r\nPING\r\n"),
        script("unknown op", &format!("{quiet}FOO\r\n")),
        script("unknown first byte", "xPING\r\n"),
        script("unsub without args", &format!("{quiet}UNSUB\r\n")),
        script("bad payload end", &format!("{quiet}PUB foo 2\r\nabc\r\n")),
        script("max payload", &format!("{quiet}PUB foo 2000000\r\n")),
        script("missing size", &format!("{quiet}PUB foo\r\n")),
        script("negative size", &format!("{quiet}PUB foo -1\r\n")),
        script("too many pub args", &format!("{quiet}PUB a b c 1\r\n")),
        script("sub too few args", &format!("{quiet}SUB foo\r\n")),
        script("sub too many args", &format!("{quiet}SUB a b c d\r\n")),
        script("bad json", "CONNECT {bad\r\n"),
        script("bad protocol", "CONNECT {\"verbose\":false,\"protocol\":2}\r\n"),
        script("no responders without headers", "CONNECT {\"verbose\":false,\"no_responders\":true}\r\n"),
        script("hpub without headers", "CONNECT {\"verbose\":false}\r\nHPUB a 0 0\r\n\r\n"),
        script(
            "long control line",
            &format!("{quiet}SUB {} 1\r\n", "a".repeat(5000)),
        ),
        script("plus ok and err from client", &format!("{quiet}+OK\r\nPING\r\n")),
        split_script(
            "split everywhere",
            &format!("{quiet}SUB foo 1\r\nPUB foo r 3\r\nabc\r\nPING\r\n"),
            &[3, 20, 60, 70, 75, 80, 85],
        ),
        // One queue group per subject: the Go server picks the order of several groups at random.
        script("queue name with wildcard", &format!("{quiet}SUB foo q* 1\r\nSUB bar a.b 2\r\nSUB baz a.* 3\r\nPUB foo 1\r\nx\r\nPUB bar 1\r\ny\r\nPUB baz 1\r\nz\r\nPING\r\n")),
        script("connect twice", "CONNECT {\"verbose\":true}\r\nCONNECT {\"verbose\":false}\r\nPING\r\n"),
        // Go's JSON decoding takes a key's last value (and matches keys without case).
        script("connect duplicate key", "CONNECT {\"verbose\":true,\"verbose\":false}\r\nSUB a 1\r\nPING\r\n"),
        script("connect duplicate key last true", "CONNECT {\"verbose\":false,\"Verbose\":true}\r\nSUB a 1\r\nPING\r\n"),
        script("resubscribe same sid", &format!("{quiet}SUB a 1\r\nUNSUB 1\r\nSUB b 1\r\nPUB b 1\r\nx\r\nPING\r\n")),
        script("hpub zero header length", &format!("{quiet}SUB a 1\r\nHPUB a 0 2\r\nhi\r\nPING\r\n")),
        script("hpub header longer than total", &format!("{quiet}HPUB a 5 2\r\n")),
        script("echo off queue", "CONNECT {\"verbose\":false,\"echo\":false}\r\nSUB a q 1\r\nPUB a 1\r\nx\r\nPING\r\n"),
        script("unsub max then more", &format!("{quiet}SUB a 1\r\nPUB a 1\r\n1\r\nUNSUB 1 1\r\nPUB a 1\r\n2\r\nPING\r\n")),
        script("newline without cr", &format!("{quiet}SUB a 1\nPUB a 1\nx\r\nPING\n")),
        script("info from client", &format!("{quiet}INFO {{}}\r\nPING\r\n")),
        script("verbose errors", "SUB a..b 1\r\nPUB a.* 1\r\nx\r\nPING\r\n"),
        script("big payload", &format!("{quiet}SUB b 1\r\nPUB b 100000\r\n{}\r\nPING\r\n", "z".repeat(100_000))),
    ]
}

/// Runs a script and returns the INFO document and the rest of the reply, with a closing marker.
fn run(port: u16, script: &Script) -> (serde_json::Value, String) {
    let mut client = RawClient::connect(port);
    for (index, chunk) in script.chunks.iter().enumerate() {
        if index > 0 {
            std::thread::sleep(Duration::from_millis(20));
        }
        client.send(chunk);
    }
    // Every script ends with PING or with an error that closes the connection: wait for one of
    // the two (a loaded machine can take a while), then briefly for anything trailing.
    let (bytes, closed) = client.read_until_pong_or_close(Duration::from_secs(10));
    let mut reply = String::from_utf8_lossy(&bytes).into_owned();
    if closed {
        reply.push_str("<closed>");
    }
    (client.info.clone(), reply)
}

#[test]
fn natrix_replies_like_the_go_server_to_every_script() {
    let go = TestServer::go(&[]);
    let natrix = TestServer::natrix(2, &[]);
    let scripts = scripts();
    // Scripts run one after another (they share subjects); each runs against both servers
    // at once.
    let results: Vec<_> = scripts
        .iter()
        .map(|script| {
            std::thread::scope(|scope| {
                let go_run = scope.spawn(|| run(go.port, script));
                let natrix_run = run(natrix.port, script);
                (go_run.join().expect("go script thread"), natrix_run)
            })
        })
        .collect();
    let mut mismatches = Vec::new();
    for (script, ((go_info, go_reply), (natrix_info, natrix_reply))) in scripts.iter().zip(results)
    {
        if go_reply != natrix_reply {
            mismatches.push(format!(
                "{}:\n  go:     {go_reply:?}\n  natrix: {natrix_reply:?}",
                script.name
            ));
        }
        compare_info(&go_info, &natrix_info, &mut mismatches);
    }
    assert!(
        mismatches.is_empty(),
        "replies differ:\n{}",
        mismatches.join("\n")
    );
}

/// Fields whose values differ by nature; their presence and JSON type must still match.
const MASKED: &[&str] = &[
    "server_id",
    "server_name",
    "version",
    "go",
    "port",
    "client_id",
];
/// Fields the Go server sends that Natrix leaves out until the features exist (JetStream API
/// level, build commit, the x25519 key for auth callouts).
const GO_ONLY: &[&str] = &["git_commit", "api_lvl", "xkey"];

fn compare_info(go: &serde_json::Value, natrix: &serde_json::Value, mismatches: &mut Vec<String>) {
    let (Some(go), Some(natrix)) = (go.as_object(), natrix.as_object()) else {
        mismatches.push("INFO is not an object".to_string());
        return;
    };
    for (key, go_value) in go {
        if GO_ONLY.contains(&key.as_str()) {
            continue;
        }
        let Some(natrix_value) = natrix.get(key) else {
            mismatches.push(format!("INFO lacks {key}"));
            continue;
        };
        let same_type = std::mem::discriminant(go_value) == std::mem::discriminant(natrix_value);
        if MASKED.contains(&key.as_str()) {
            if !same_type {
                mismatches.push(format!("INFO {key} has another type"));
            }
        } else if go_value != natrix_value {
            mismatches.push(format!("INFO {key}: go {go_value} natrix {natrix_value}"));
        }
    }
    for key in natrix.keys() {
        if !go.contains_key(key) {
            mismatches.push(format!("INFO has extra field {key}"));
        }
    }
}

/// Clients that send `protocol: 1` (every official client does) get an INFO update after their
/// first PONG (`connect_info`, with the account they are bound to), and only after the first.
#[test]
fn the_first_pong_is_followed_by_a_connect_info_update_like_the_go_server() {
    let go = TestServer::go(&[]);
    let natrix = TestServer::natrix(2, &[]);
    let exchange = |port: u16| {
        let mut client = RawClient::connect(port);
        client.send(b"PING\r\nCONNECT {\"verbose\":false,\"protocol\":1}\r\nPING\r\nPING\r\n");
        // Three PONGs, with the update after the second; a slow machine gets 10 s.
        let mut lines = Vec::new();
        while lines
            .iter()
            .filter(|line: &&String| *line == "PONG\r\n")
            .count()
            < 3
        {
            let line = client
                .read_line(Duration::from_secs(10))
                .expect("three PONGs within 10 s");
            lines.push(line);
        }
        let (rest, closed) = client.read_until_quiet(Duration::from_millis(200));
        assert!(!closed);
        assert!(rest.is_empty(), "nothing after the third PONG");
        lines
            .iter()
            .map(|line| line.trim_end().to_string())
            .collect::<Vec<_>>()
    };
    let go_lines = exchange(go.port);
    let natrix_lines = exchange(natrix.port);
    let updates = go_lines
        .iter()
        .filter(|line| line.starts_with("INFO "))
        .count();
    assert_eq!(
        updates, 1,
        "go sends one update, after the first PONG: {go_lines:?}"
    );
    assert_eq!(
        go_lines.len(),
        natrix_lines.len(),
        "go {go_lines:?} natrix {natrix_lines:?}"
    );
    let mut mismatches = Vec::new();
    for (go_line, natrix_line) in go_lines.iter().zip(&natrix_lines) {
        match (
            go_line.strip_prefix("INFO "),
            natrix_line.strip_prefix("INFO "),
        ) {
            (Some(go_json), Some(natrix_json)) => {
                let go_info: serde_json::Value = serde_json::from_str(go_json).expect("JSON");
                let natrix_info: serde_json::Value =
                    serde_json::from_str(natrix_json).expect("JSON");
                assert_eq!(go_info["connect_info"], true);
                compare_info(&go_info, &natrix_info, &mut mismatches);
            }
            _ => assert_eq!(go_line, natrix_line),
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
