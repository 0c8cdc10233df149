//! `--signal CMD[=PID]`: sends a signal to a running server, as `nats-server --signal` does.

use std::fs;

/// Why `--signal` could not signal a server. None is recoverable by retrying as is: the
/// command, the PID or the set of running servers must change.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignalError {
    #[error("unknown signal {0:?}")]
    UnknownCommand(String),
    #[error("no natrix processes running")]
    NoServer,
    /// Several servers run and no PID was given: the user must pick one.
    #[error("multiple natrix processes running:\n{}", .0.iter().map(i32::to_string).collect::<Vec<_>>().join("\n"))]
    SeveralServers(Vec<i32>),
    #[error("could not read pid file {path}: {source}")]
    PidFile {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid pid in {path}: {contents:?}")]
    BadPid { path: String, contents: String },
    #[error("failed to signal pid {pid}: {source}")]
    Kill { pid: i32, source: std::io::Error },
}

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
pub fn send(spec: &str) -> Result<(), SignalError> {
    let (command, target) = match spec.split_once('=') {
        Some((command, target)) => (command, Some(target)),
        None => (spec, None),
    };
    let signal = command_to_signal(command)
        .ok_or_else(|| SignalError::UnknownCommand(command.to_string()))?;
    let pids = match target {
        Some(target) => vec![resolve_pid(target)?],
        None => running_servers(),
    };
    match pids.as_slice() {
        [] => Err(SignalError::NoServer),
        [pid] => {
            // SAFETY: kill(2) has no memory-safety preconditions; a bad pid yields an error.
            let result = unsafe { libc::kill(*pid, signal) };
            if result == 0 {
                Ok(())
            } else {
                Err(SignalError::Kill {
                    pid: *pid,
                    source: std::io::Error::last_os_error(),
                })
            }
        }
        many => Err(SignalError::SeveralServers(many.to_vec())),
    }
}

fn resolve_pid(target: &str) -> Result<i32, SignalError> {
    if let Ok(pid) = target.parse::<i32>() {
        return Ok(pid);
    }
    let contents = fs::read_to_string(target).map_err(|source| SignalError::PidFile {
        path: target.to_string(),
        source,
    })?;
    contents
        .trim()
        .parse::<i32>()
        .map_err(|_| SignalError::BadPid {
            path: target.to_string(),
            contents: contents.trim().to_string(),
        })
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
