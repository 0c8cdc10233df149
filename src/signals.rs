//! `--signal CMD[=PID]`: sends a signal to a running server, as `nats-server --signal` does.

use std::fs;

/// Maps a Go server signal command to the signal it sends.
pub fn command_to_signal(command: &str) -> Option<libc::c_int> {
    Some(match command {
        "stop" => libc::SIGKILL,
        "quit" => libc::SIGINT,
        "term" => libc::SIGTERM,
        "reopen" => libc::SIGUSR1,
        "reload" => libc::SIGHUP,
        "ldm" => libc::SIGUSR2,
        _ => return None,
    })
}

/// Sends the signal named in `spec` (`CMD` or `CMD=PID` or `CMD=/path/to/pidfile`).
pub fn send(spec: &str) -> Result<(), String> {
    let (command, target) = match spec.split_once('=') {
        Some((command, target)) => (command, Some(target)),
        None => (spec, None),
    };
    let signal = command_to_signal(command).ok_or_else(|| format!("unknown signal {command:?}"))?;
    let pids = match target {
        Some(target) => vec![resolve_pid(target)?],
        None => running_servers(),
    };
    match pids.as_slice() {
        [] => Err("no natrix processes running".to_string()),
        [pid] => {
            // SAFETY: kill(2) has no memory-safety preconditions; a bad pid yields an error.
            let result = unsafe { libc::kill(*pid, signal) };
            if result == 0 {
                Ok(())
            } else {
                Err(format!(
                    "failed to signal pid {pid}: {}",
                    std::io::Error::last_os_error()
                ))
            }
        }
        many => {
            let list: Vec<String> = many.iter().map(i32::to_string).collect();
            Err(format!(
                "multiple natrix processes running:\n{}",
                list.join("\n")
            ))
        }
    }
}

fn resolve_pid(target: &str) -> Result<i32, String> {
    if let Ok(pid) = target.parse::<i32>() {
        return Ok(pid);
    }
    let contents = fs::read_to_string(target)
        .map_err(|error| format!("could not read pid file {target}: {error}"))?;
    contents
        .trim()
        .parse::<i32>()
        .map_err(|_| format!("invalid pid in {target}: {:?}", contents.trim()))
}

/// Other processes named `natrix`, found through /proc (the Go server uses pgrep).
fn running_servers() -> Vec<i32> {
    let own = std::process::id() as i32;
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            entry
                .file_name()
                .to_str()
                .and_then(|name| name.parse::<i32>().ok())
        })
        .filter(|&pid| pid != own)
        .filter(|pid| {
            fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim() == "natrix")
        })
        .collect()
}
