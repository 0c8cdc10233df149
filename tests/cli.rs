//! The command line as operators use it: version, help, unknown flags, PID and log files,
//! `--signal`, and the start-up lines tooling waits for.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{RawClient, TestServer};

fn natrix(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_natrix"))
        .args(args)
        .output()
        .expect("run natrix")
}

#[test]
fn version_and_help_exit_zero() {
    let version = natrix(&["-v"]);
    assert!(version.status.success());
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("natrix: v"));
    let help = natrix(&["--help"]);
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "--port", "--addr", "--pid", "--log", "--signal", "--shards", "--cpus",
    ] {
        assert!(text.contains(flag), "help lacks {flag}");
    }
}

#[test]
fn unknown_flag_is_a_clear_error_with_exit_code_one() {
    let output = natrix(&["--no-such-flag"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("flag provided but not defined: -no-such-flag"),
        "{stderr}"
    );
}

#[test]
fn go_flags_for_later_features_are_accepted_and_named_at_start() {
    let server = TestServer::natrix(1, &["--profile", "6060", "--cluster_name", "c1"]);
    for flag in ["-profile", "-cluster_name"] {
        assert!(
            server.startup_log.iter().any(|line| line.contains("[WRN]")
                && line.contains(&format!("flag {flag} is a Go server option"))),
            "no warning for {flag}: {:#?}",
            server.startup_log
        );
    }
}

#[test]
fn pinning_to_a_cpu_that_does_not_exist_fails_at_start() {
    let output = natrix(&["-p", "-1", "--cpus", "4096"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("CPU 4096"));
}

#[test]
fn pid_file_log_file_and_signal_quit_work_together() {
    let dir = std::env::temp_dir().join(format!("natrix-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let pid_file = dir.join("natrix.pid");
    let log_file = dir.join("natrix.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_natrix"))
        .args(["-a", "127.0.0.1", "-p", "-1", "--shards", "2"])
        .arg("-P")
        .arg(&pid_file)
        .arg("-l")
        .arg(&log_file)
        .spawn()
        .expect("start natrix");
    let deadline = Instant::now() + Duration::from_secs(10);
    let port = loop {
        assert!(Instant::now() < deadline, "server never became ready");
        let log = std::fs::read_to_string(&log_file).unwrap_or_default();
        if log.contains("Server is ready") {
            let line = log
                .lines()
                .find(|line| line.contains("Listening for client connections on"))
                .expect("listening line");
            break line
                .rsplit(':')
                .next()
                .expect("port")
                .trim()
                .parse::<u16>()
                .expect("port");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let pid = std::fs::read_to_string(&pid_file).expect("pid file");
    assert_eq!(pid.trim(), child.id().to_string());
    let mut client = RawClient::connect(port);
    client.send(b"PING\r\n");
    client.expect(b"PONG\r\n");
    let signal = Command::new(env!("CARGO_BIN_EXE_natrix"))
        .arg("--signal")
        .arg(format!("quit={}", pid_file.display()))
        .status()
        .expect("run --signal");
    assert!(signal.success());
    let status = child.wait().expect("natrix exits");
    assert_eq!(status.code(), Some(0));
    let log = std::fs::read_to_string(&log_file).expect("log");
    assert!(log.contains("[INF] Trapped \"interrupt\" signal"), "{log}");
    assert!(log.contains("[INF] Server Exiting.."), "{log}");
    assert!(!pid_file.exists(), "pid file is removed on exit");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn log_lines_use_the_go_server_format() {
    let server = TestServer::natrix(1, &[]);
    let line = server
        .log
        .recv_timeout(Duration::from_secs(5))
        .expect("a log line");
    // [PID] YYYY/MM/DD HH:MM:SS.micro [INF] ...
    let pid_end = line.find("] ").expect("pid prefix");
    assert!(
        line.starts_with('[') && line[1..pid_end].parse::<u32>().is_ok(),
        "{line}"
    );
    let rest = &line[pid_end + 2..];
    assert_eq!(&rest[4..5], "/");
    assert_eq!(&rest[26..33], " [INF] ", "{line}");
}

#[test]
fn each_shard_thread_runs_pinned_to_its_cpu() {
    let cpus = std::thread::available_parallelism()
        .map_or(1, |count| count.get())
        .min(2);
    let list = if cpus == 2 { "1,0" } else { "0" };
    let server = TestServer::natrix(cpus, &["--cpus", list]);
    let expected: Vec<&str> = list.split(',').collect();
    let mut found = 0;
    for task in std::fs::read_dir(format!("/proc/{}/task", server.pid())).expect("tasks") {
        let task = task.expect("task").path();
        let name = std::fs::read_to_string(task.join("comm")).unwrap_or_default();
        let Some(shard) = name.trim().strip_prefix("natrix-shard-") else {
            continue;
        };
        let shard: usize = shard.parse().expect("shard number");
        let status = std::fs::read_to_string(task.join("status")).expect("status");
        let allowed = status
            .lines()
            .find_map(|line| line.strip_prefix("Cpus_allowed_list:"))
            .expect("Cpus_allowed_list")
            .trim()
            .to_string();
        assert_eq!(
            allowed, expected[shard],
            "shard {shard} runs on CPUs {allowed}"
        );
        found += 1;
    }
    assert_eq!(found, cpus, "one thread per shard");
}

#[test]
fn log_size_limit_rotates_the_file_and_keeps_logfile_max_num_files() {
    let dir = std::env::temp_dir().join(format!("natrix-rotate-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let log = dir.join("natrix.log");
    let config = dir.join("rotate.conf");
    std::fs::write(
        &config,
        format!(
            "log_file: {:?}\nlog_size_limit: 600\nlogfile_max_num: 3\ntrace: true\n",
            log.to_str().expect("utf-8")
        ),
    )
    .expect("config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_natrix"))
        .args([
            "-a",
            "127.0.0.1",
            "-p",
            "-1",
            "-c",
            config.to_str().expect("utf-8"),
        ])
        .spawn()
        .expect("start");
    // Traced protocol lines fill the log quickly.
    let deadline = Instant::now() + Duration::from_secs(10);
    let port = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(address) = text.split("Listening for client connections on ").nth(1) {
            let port = address
                .lines()
                .next()
                .and_then(|line| line.rsplit(':').next());
            if let Some(port) = port.and_then(|port| port.trim().parse::<u16>().ok()) {
                break port;
            }
        }
        let rotated = std::fs::read_dir(&dir).expect("dir").count() > 2;
        if rotated {
            // The line may be in a backup already: find it there.
            let found = std::fs::read_dir(&dir)
                .expect("dir")
                .filter_map(Result::ok)
                .filter_map(|entry| std::fs::read_to_string(entry.path()).ok())
                .find_map(|text| {
                    text.split("Listening for client connections on ")
                        .nth(1)
                        .and_then(|rest| rest.lines().next())
                        .and_then(|line| line.rsplit(':').next())
                        .and_then(|port| port.trim().parse::<u16>().ok())
                });
            if let Some(port) = found {
                break port;
            }
        }
        assert!(Instant::now() < deadline, "no listening line in the log");
        std::thread::sleep(Duration::from_millis(20));
    };
    for _ in 0..20 {
        let mut client = RawClient::connect(port);
        client.send(b"CONNECT {\"verbose\":false}\r\nSUB x 1\r\nPUB x 5\r\nhello\r\nPING\r\n");
        let _ = client.read_until_pong_or_close(Duration::from_secs(2));
    }
    // SAFETY: kill(2) on our own child's pid.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let _ = child.wait();
    let names: Vec<String> = std::fs::read_dir(&dir)
        .expect("dir")
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("natrix.log"))
        .collect();
    assert_eq!(
        names.len(),
        3,
        "the current file and two backups: {names:?}"
    );
    let current = std::fs::read_to_string(&log).expect("log");
    assert!(
        current.contains("[INF] Rotated log, backup saved as"),
        "{current}"
    );
}

#[test]
fn remote_syslog_receives_the_log_lines() {
    let receiver = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    receiver
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let address = format!("udp://{}", receiver.local_addr().expect("addr"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_natrix"))
        .args(["-a", "127.0.0.1", "-p", "-1", "-r", &address])
        .spawn()
        .expect("start");
    let mut ready = None;
    let mut buffer = [0u8; 2048];
    while let Ok(length) = receiver.recv(&mut buffer) {
        let datagram = String::from_utf8_lossy(&buffer[..length]).into_owned();
        if datagram.contains("Server is ready") {
            ready = Some(datagram);
            break;
        }
    }
    // SAFETY: kill(2) on our own child's pid.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let _ = child.wait();
    let datagram = ready.expect("the ready line reached the syslog receiver");
    // Go's log/syslog format: <PRI>TIMESTAMP HOST TAG[PID]: MESSAGE
    assert!(datagram.starts_with("<5>"), "{datagram}");
    assert!(
        datagram.contains(&format!("natrix[{}]: Server is ready", child.id())),
        "{datagram}"
    );
}
