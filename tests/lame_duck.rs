//! Lame duck mode (SIGUSR2, `--signal ldm`) against the Go server and Natrix: clients that take
//! INFO updates are told (`"ldm":true`), new connections are refused, the existing ones are
//! closed after the grace period, and the server exits.

mod common;

use std::time::{Duration, Instant};

use common::{RawClient, TestServer};

const CONFIG: &str = "lame_duck_grace_period: \"1s\"\nlame_duck_duration: \"30s\"\n";

fn connected(server: &TestServer) -> RawClient {
    let mut client = RawClient::connect(server.port);
    client.send(b"CONNECT {\"verbose\":false,\"protocol\":1}\r\nPING\r\n");
    client.expect(b"PONG\r\n");
    client
}

#[test]
fn lame_duck_mode_tells_clients_refuses_new_ones_then_drains_and_exits() {
    let dir = std::env::temp_dir().join(format!("natrix-ldm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config = dir.join("ldm.conf");
    std::fs::write(&config, CONFIG).expect("write config");
    let path = config.to_str().expect("utf-8");
    for (name, server) in [
        ("go", TestServer::go(&["-c", path])),
        ("natrix", TestServer::natrix(2, &["-c", path])),
    ] {
        let mut clients: Vec<RawClient> = (0..4).map(|_| connected(&server)).collect();
        let started = Instant::now();
        // SAFETY: kill(2) on our own child's pid; no memory is involved.
        assert_eq!(unsafe { libc::kill(server.pid() as i32, libc::SIGUSR2) }, 0);
        for client in &mut clients {
            // The Go server may first send the INFO update it sends after the first PONG
            // (`connect_info`); the lame duck notice follows.
            let mut notice = None;
            while let Some(line) = client.read_line(Duration::from_secs(2)) {
                let json = line.trim().strip_prefix("INFO ").expect("an INFO line");
                let info: serde_json::Value = serde_json::from_str(json).expect("JSON");
                if info["ldm"] == true {
                    notice = Some(info);
                    break;
                }
            }
            let info = notice.unwrap_or_else(|| panic!("{name}: no INFO with ldm"));
            assert_eq!(info["client_id"], client.info["client_id"], "{name}");
        }
        std::thread::sleep(Duration::from_millis(200));
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", server.port)).is_err(),
            "{name}: new connections are refused"
        );
        for client in &mut clients {
            assert!(
                client.wait_closed(Duration::from_secs(10)),
                "{name}: every client is closed"
            );
        }
        let drained = started.elapsed();
        assert!(
            drained >= Duration::from_millis(900),
            "{name}: nobody is closed before the grace period ({drained:?})"
        );
        let exit = server.stop();
        assert_eq!(exit, Some(0), "{name}: exits cleanly after lame duck mode");
    }
}
