//! The `natrix` binary: flags, logging, signals and start-up of the shards.
//!
//! Owns: everything that happens once per process (command line, log output, PID file,
//! signals, starting and stopping the shard threads). Must not touch: the data path; it talks
//! to shards only through the control handle of the mesh.
//!
//! Modules: `flags` (Go-compatible command line), `config` (the Go config file syntax),
//! `options_file` (what each config key means), `logging` (Go log format), `bootstrap`
//! (io_uring check, listeners, pinned shard threads), `signals` (`--signal`), `monitor` (the
//! HTTP monitoring server on its own thread).

// `/varz` is one large `serde_json::json!` document.
#![recursion_limit = "256"]

mod bootstrap;
mod config;
mod flags;
mod logging;
mod monitor;
mod options_file;
mod signals;

use std::process::ExitCode;

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGUSR2};
use signal_hook::iterator::Signals;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command_line = match flags::parse(&args) {
        Ok(command_line) => command_line,
        Err(error) => {
            eprintln!("natrix: {error}\n\n{}", flags::USAGE);
            return ExitCode::from(1);
        }
    };
    if command_line.show_help {
        println!("{}", flags::USAGE);
        return ExitCode::SUCCESS;
    }
    if command_line.show_help_tls {
        print!("{}", flags::tls_usage());
        return ExitCode::SUCCESS;
    }
    if command_line.show_version {
        println!("natrix: v{}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    if let Some(spec) = &command_line.signal {
        return match signals::send(spec) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("natrix: {error}");
                ExitCode::from(1)
            }
        };
    }
    let (command_line, config_warnings) = match apply_config_file(command_line) {
        Ok(loaded) => loaded,
        Err(message) => {
            eprintln!("natrix: {message}");
            return ExitCode::from(1);
        }
    };
    if command_line.check_config {
        let file = command_line.config_file.as_deref().unwrap_or_default();
        for warning in &config_warnings {
            eprintln!("{warning}");
        }
        eprintln!("natrix: configuration file {file} is valid");
        return ExitCode::SUCCESS;
    }
    // As in the Go server: a remote syslog wins over the local one, which wins over a file.
    let sink = if command_line.remote_syslog.is_some() || command_line.syslog {
        logging::LogSink::syslog(command_line.remote_syslog.as_deref())
            .map_err(|error| format!("cannot open syslog: {error}"))
    } else {
        let rotation = logging::Rotation {
            size_limit: command_line.log_size_limit,
            max_files: command_line.log_max_files,
        };
        logging::LogSink::open_file(command_line.log_file.as_deref(), rotation)
            .map_err(|error| format!("cannot open log file: {error}"))
    };
    let sink = match sink {
        Ok(sink) => sink,
        Err(error) => {
            eprintln!("natrix: {error}");
            return ExitCode::from(1);
        }
    };
    let levels = logging::init(
        sink.clone(),
        command_line.debug,
        command_line.trace,
        command_line.logtime,
        command_line.logtime_utc,
    );
    for warning in &config_warnings {
        tracing::warn!("{warning}");
    }
    for flag in &command_line.not_supported {
        tracing::warn!(
            "flag {flag} is a Go server option that Natrix does not support yet; ignored"
        );
    }
    // A shard never dies alone: any panic takes the whole process down with a clear message.
    std::panic::set_hook(Box::new(|panic| {
        tracing::error!("fatal: {panic}");
        eprintln!("natrix: fatal: {panic}");
        std::process::exit(2);
    }));
    match run(command_line, sink, levels) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            eprintln!("natrix: {error:#}");
            ExitCode::from(1)
        }
    }
}

/// SIGHUP: reads the config file again, applies the flags over it (they still win), and hands
/// what changed to the running server. Logging levels change here; the rest on the shards.
fn reload(
    command_line: &flags::CommandLine,
    server: &mut bootstrap::RunningServer,
    levels: &logging::LevelControl,
) -> anyhow::Result<()> {
    if command_line.config_file.is_none() {
        anyhow::bail!("can only reload config when a file is provided using -c or --config");
    }
    let mut original = flags::CommandLine::with_go_defaults();
    original.config_file = command_line.config_file.clone();
    original.assignments = command_line.assignments.clone();
    let (settings, warnings) = apply_config_file(original).map_err(anyhow::Error::msg)?;
    if settings.log_file != command_line.log_file
        || settings.logtime != command_line.logtime
        || settings.logtime_utc != command_line.logtime_utc
        || settings.pid_file != command_line.pid_file
    {
        tracing::warn!(
            "log file, log time and pid file changes take effect at the next restart (Natrix reloads debug and trace only)"
        );
    }
    let prepared = server.prepare_reload(settings.options)?;
    // Before the shards see the reload, so that they pick up the new trace level.
    levels.set(settings.debug, settings.trace);
    server.commit_reload(prepared);
    for warning in warnings {
        tracing::warn!("{warning}");
    }
    Ok(())
}

/// Reads `-c FILE` (when given) and applies the flags again over it, so flags win as in the Go
/// server. Returns the settings and the config file's warnings.
fn apply_config_file(
    command_line: flags::CommandLine,
) -> Result<(flags::CommandLine, Vec<String>), String> {
    let Some(path) = command_line.config_file.clone() else {
        if command_line.check_config {
            return Err(
                "must specify [-c, --config] option to check configuration file syntax".into(),
            );
        }
        return Ok((command_line, Vec::new()));
    };
    let mut settings = flags::CommandLine::with_go_defaults();
    let warnings = options_file::load(std::path::Path::new(&path), &mut settings)
        .map_err(|errors| errors.to_string())?;
    flags::reapply(&mut settings, &command_line.assignments).map_err(|error| error.to_string())?;
    settings.assignments = command_line.assignments;
    Ok((settings, warnings))
}

fn run(
    command_line: flags::CommandLine,
    sink: logging::LogSink,
    levels: logging::LevelControl,
) -> anyhow::Result<()> {
    // Install signal handlers before the shards start so no early signal is lost.
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2])?;
    tracing::info!("Starting natrix");
    tracing::info!("  Version:  {}", env!("CARGO_PKG_VERSION"));
    tracing::info!(
        "  Protocol: NATS, compatible with nats-server {}",
        bootstrap::GO_COMPATIBLE_VERSION
    );
    let mut server = bootstrap::start(command_line.options.clone())?;
    tracing::info!("  Name:     {}", server.server_name);
    tracing::info!("  ID:       {}", server.server_id);
    let pinning: Vec<String> = server
        .pinning
        .iter()
        .map(|(shard, cpu)| format!("{shard}->cpu{cpu}"))
        .collect();
    tracing::info!(
        "  Shards:   {} ({})",
        server.pinning.len(),
        pinning.join(" ")
    );
    if let Some(pid_file) = &command_line.pid_file {
        std::fs::write(pid_file, std::process::id().to_string())
            .map_err(|error| anyhow::anyhow!("could not write pid file {pid_file}: {error}"))?;
    }
    if let Some((address, secure)) = server.monitor_address {
        let scheme = if secure { "https" } else { "http" };
        tracing::info!("Starting {scheme} monitor on {address}");
    }
    tracing::info!("Listening for client connections on {}", server.address);
    tracing::info!("Server is ready");

    let mut lame_duck_started = false;
    let lame_duck_finished = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for signal in signals.forever() {
        match signal {
            SIGTERM if lame_duck_finished.load(std::sync::atomic::Ordering::Acquire) => break,
            SIGINT | SIGTERM => {
                let name = if signal == SIGINT {
                    "interrupt"
                } else {
                    "terminated"
                };
                tracing::info!("Trapped \"{name}\" signal");
                break;
            }
            SIGUSR1 => {
                tracing::info!("Trapped \"user defined signal 1\" signal");
                if let Err(error) = sink.reopen() {
                    tracing::error!("Failed to reopen log file: {error}");
                }
            }
            SIGUSR2 => {
                if lame_duck_started {
                    continue;
                }
                lame_duck_started = true;
                tracing::info!("Entering lame duck mode, stop accepting new clients");
                let finished = server.enter_lame_duck();
                let shards = server.shard_count();
                let grace = server.lame_duck_grace_period();
                let limit = server.lame_duck_duration() + std::time::Duration::from_secs(5);
                let flag = std::sync::Arc::clone(&lame_duck_finished);
                std::thread::spawn(move || {
                    let started = std::time::Instant::now();
                    std::thread::sleep(grace);
                    tracing::info!("Closing existing clients");
                    for _ in 0..shards {
                        let left = limit.saturating_sub(started.elapsed());
                        if finished.recv_timeout(left).is_err() {
                            break;
                        }
                    }
                    // Every client is gone: shut down as the Go server does after lame duck.
                    flag.store(true, std::sync::atomic::Ordering::Release);
                    let _ = signal_hook::low_level::raise(SIGTERM);
                });
            }
            SIGHUP => {
                tracing::info!("Trapped \"hangup\" signal");
                match reload(&command_line, &mut server, &levels) {
                    Ok(()) => tracing::info!("Reloaded server configuration"),
                    Err(error) => {
                        tracing::error!("Failed to reload server configuration: {error:#}")
                    }
                }
            }
            _ => {}
        }
    }
    tracing::info!("Initiating Shutdown...");
    server.shutdown();
    if let Some(pid_file) = &command_line.pid_file {
        let _ = std::fs::remove_file(pid_file);
    }
    tracing::info!("Server Exiting..");
    Ok(())
}
