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
    let sink = match logging::LogSink::open(command_line.log_file.as_deref()) {
        Ok(sink) => sink,
        Err(error) => {
            eprintln!("natrix: cannot open log file: {error}");
            return ExitCode::from(1);
        }
    };
    logging::init(
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
    match run(command_line, sink) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            eprintln!("natrix: {error:#}");
            ExitCode::from(1)
        }
    }
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
    settings.not_supported = command_line.not_supported;
    Ok((settings, warnings))
}

fn run(command_line: flags::CommandLine, sink: logging::LogSink) -> anyhow::Result<()> {
    // Install signal handlers before the shards start so no early signal is lost.
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2])?;
    tracing::info!("Starting natrix");
    tracing::info!("  Version:  {}", env!("CARGO_PKG_VERSION"));
    tracing::info!(
        "  Protocol: NATS, compatible with nats-server {}",
        bootstrap::GO_COMPATIBLE_VERSION
    );
    let server = bootstrap::start(command_line.options)?;
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
    if let Some(address) = server.monitor_address {
        tracing::info!("Starting http monitor on {address}");
    }
    tracing::info!("Listening for client connections on {}", server.address);
    tracing::info!("Server is ready");

    for signal in signals.forever() {
        match signal {
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
                tracing::warn!("Trapped \"user defined signal 2\" signal: lame duck mode is not implemented yet, ignoring");
            }
            SIGHUP => {
                tracing::warn!("Trapped \"hangup\" signal: configuration reload is not implemented yet, ignoring");
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
