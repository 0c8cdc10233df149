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
mod errno;
mod flags;
mod jetstream;
mod listen;
mod logging;
mod monitor;
mod options_file;
mod ports_file;
mod signals;

use std::process::ExitCode;

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGUSR2};
use signal_hook::iterator::Signals;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let settings = match flags::parse(&args) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("natrix: {error}\n\n{}", flags::USAGE);
            return ExitCode::from(1);
        }
    };
    if settings.show_help {
        println!("{}", flags::USAGE);
        return ExitCode::SUCCESS;
    }
    if settings.show_help_tls {
        print!("{}", flags::tls_usage());
        return ExitCode::SUCCESS;
    }
    if settings.show_version {
        println!("natrix: v{}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    if let Some(spec) = &settings.signal {
        return match signals::send(spec) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("natrix: {error}");
                ExitCode::from(1)
            }
        };
    }
    let (settings, config_warnings) = match apply_config_file(settings) {
        Ok(loaded) => loaded,
        Err(message) => {
            eprintln!("natrix: {message}");
            return ExitCode::from(1);
        }
    };
    if settings.check_config {
        let file = settings.config_file.as_deref().unwrap_or_default();
        for warning in &config_warnings {
            eprintln!("{warning}");
        }
        eprintln!(
            "natrix: configuration file {file} is valid ({})",
            settings.options.config_digest
        );
        return ExitCode::SUCCESS;
    }
    // As in the Go server: a remote syslog wins over the local one, which wins over a file.
    let sink = if settings.remote_syslog.is_some() || settings.syslog {
        logging::LogSink::syslog(settings.remote_syslog.as_deref())
            .map_err(|error| format!("cannot open syslog: {error}"))
    } else {
        let rotation = logging::Rotation {
            size_limit: settings.log_size_limit,
            max_files: settings.log_max_files,
        };
        logging::LogSink::open_file(settings.log_file.as_deref(), rotation)
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
        settings.debug,
        settings.trace,
        settings.logtime,
        settings.logtime_utc,
    );
    for warning in &config_warnings {
        tracing::warn!("{warning}");
    }
    for flag in &settings.not_supported {
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
    let logs_to_stderr = sink.is_stderr();
    match run(settings, sink, levels) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // Whatever stops the start is fatal, as the Go server's `Fatalf` ([FTL], exit 1).
            tracing::error!(target: logging::FATAL_TARGET, "{error:#}");
            if !logs_to_stderr {
                eprintln!("natrix: {error:#}");
            }
            ExitCode::from(1)
        }
    }
}

/// SIGHUP: reads the config file again, applies the flags over it (they still win), and hands
/// what changed to the running server. Logging levels change here; the rest on the shards.
fn reload(
    running: &flags::Settings,
    server: &mut bootstrap::RunningServer,
    levels: &logging::LevelControl,
) -> anyhow::Result<()> {
    if running.config_file.is_none() {
        anyhow::bail!("can only reload config when a file is provided using -c or --config");
    }
    let mut original = flags::Settings::with_go_defaults();
    original.config_file = running.config_file.clone();
    original.assignments = running.assignments.clone();
    let (settings, warnings) = apply_config_file(original).map_err(anyhow::Error::msg)?;
    if settings.log_file != running.log_file
        || settings.logtime != running.logtime
        || settings.logtime_utc != running.logtime_utc
        || settings.pid_file != running.pid_file
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
    from_flags: flags::Settings,
) -> Result<(flags::Settings, Vec<String>), String> {
    let Some(path) = from_flags.config_file.clone() else {
        if from_flags.check_config {
            return Err(
                "must specify [-c, --config] option to check configuration file syntax".into(),
            );
        }
        return Ok((from_flags, Vec::new()));
    };
    let mut settings = flags::Settings::with_go_defaults();
    let warnings = options_file::load(std::path::Path::new(&path), &mut settings)
        .map_err(|errors| errors.to_string())?;
    flags::reapply(&mut settings, &from_flags.assignments).map_err(|error| error.to_string())?;
    settings.assignments = from_flags.assignments;
    Ok((settings, warnings))
}

/// Go's `checkAuthforWarnings`: a password that is not a bcrypt hash, for the single user or
/// any user of the users lists (a user without a password whom a verified certificate can
/// map to does not count).
fn has_plaintext_passwords(options: &natrix_shards::options::ServerOptions) -> bool {
    let is_bcrypt = |password: &str| {
        let bytes = password.as_bytes();
        bytes.len() >= 7
            && bytes.starts_with(b"$2")
            && matches!(bytes[2], b'a' | b'b' | b'x' | b'y')
            && bytes[3] == b'$'
            && bytes[4].is_ascii_digit()
            && bytes[5].is_ascii_digit()
            && bytes[6] == b'$'
    };
    if options
        .auth
        .password
        .as_deref()
        .is_some_and(|password| !password.is_empty() && !is_bcrypt(password))
    {
        return true;
    }
    let certificates_map_users = options.tls.as_ref().is_some_and(|tls| tls.verify_and_map);
    options.auth.users.iter().any(|user| {
        let standard = user.allowed_connection_types.is_empty()
            || user
                .allowed_connection_types
                .iter()
                .any(|kind| kind.eq_ignore_ascii_case("STANDARD"));
        let mapped_by_certificate = user.password.is_empty() && certificates_map_users && standard;
        !mapped_by_certificate && !is_bcrypt(&user.password)
    })
}

/// Go's `printFeatureFlags`: the flags the config file sets, and the ones it does not know.
fn log_feature_flags(options: &natrix_shards::options::ServerOptions) {
    if options.feature_flags.is_empty() {
        return;
    }
    let mut configured = Vec::new();
    let mut unsupported = Vec::new();
    for (name, &value) in &options.feature_flags {
        match bootstrap::GO_FEATURE_FLAGS
            .iter()
            .find(|(known, _)| known == name)
        {
            None => unsupported.push(name.as_str()),
            Some((_, default)) => {
                let state = match (default, value) {
                    (true, true) => "enabled",
                    (true, false) => "opt-out",
                    (false, true) => "opt-in",
                    (false, false) => "disabled",
                };
                configured.push(format!("{name} ({state})"));
            }
        }
    }
    let configured = if configured.is_empty() {
        "none".to_string()
    } else {
        configured.join(", ")
    };
    tracing::info!("  Feature flags:");
    tracing::info!("    Configured:    {configured}");
    if !unsupported.is_empty() {
        tracing::info!("    Unsupported:   {}", unsupported.join(", "));
    }
}

fn run(
    settings: flags::Settings,
    sink: logging::LogSink,
    levels: logging::LevelControl,
) -> anyhow::Result<()> {
    // Install signal handlers before the shards start so no early signal is lost.
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2])?;
    tracing::info!("Starting natrix");
    tracing::info!("  Version:  {}", env!("CARGO_PKG_VERSION"));
    let commit = match bootstrap::GIT_COMMIT {
        "" => "not set",
        commit => commit,
    };
    tracing::info!("  Git:      [{commit}]");
    tracing::info!(
        "  Protocol: NATS, compatible with nats-server {}",
        bootstrap::GO_COMPATIBLE_VERSION
    );
    let mut server = bootstrap::start(settings.options.clone())?;
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
    log_feature_flags(&settings.options);
    if has_plaintext_passwords(&settings.options) {
        tracing::warn!("Plaintext passwords detected, use nkeys or bcrypt");
    }
    if let Some(file) = &settings.config_file {
        tracing::info!(
            "Using configuration file: {file} ({})",
            settings.options.config_digest
        );
    }
    if let Some(pid_file) = &settings.pid_file {
        std::fs::write(pid_file, std::process::id().to_string())
            .map_err(|error| anyhow::anyhow!("could not write pid file {pid_file}: {error}"))?;
    }
    if let Some(monitor) = &server.monitor {
        let scheme = if monitor.https { "https" } else { "http" };
        tracing::info!("Starting {scheme} monitor on {}", monitor.host_port);
    }
    if let (Some(websocket), Some((address, scheme))) =
        (&settings.options.websocket, server.websocket)
    {
        tracing::info!(
            "Listening for websocket clients on {scheme}://{}:{}",
            websocket.host,
            address.port()
        );
        if scheme == "ws" {
            tracing::warn!("Websocket not configured with TLS. DO NOT USE IN PRODUCTION!");
        }
    }
    tracing::info!(
        "Listening for client connections on {}",
        server.listen_host_port
    );
    if let Some(tls) = &settings.options.tls {
        // Go: handshake first without a fallback delay requires TLS even with allow_non_tls.
        let handshake_first_only = tls.handshake_first && tls.handshake_first_fallback.is_none();
        if tls.allow_non_tls && !handshake_first_only {
            tracing::info!("TLS available for client connections");
        } else {
            tracing::info!("TLS required for client connections");
        }
        if handshake_first_only {
            tracing::warn!(
                "Clients that are not using \"TLS Handshake First\" option will fail to connect"
            );
        }
    }
    let ports_file = settings.ports_file_dir.as_deref().and_then(|dir| {
        let listeners = ports_file::Listeners {
            client: server.address,
            client_tls: server.tls_required(),
            monitor: server.monitor.as_ref().map(|monitor| monitor.bound),
            monitor_https: server.monitor.as_ref().is_some_and(|monitor| monitor.https),
            websocket: server.websocket,
        };
        match ports_file::write(dir, &listeners) {
            Ok(path) => Some(path),
            Err(error) => {
                let path = ports_file::path(dir);
                tracing::error!("Error writing ports file ({}): {error}", path.display());
                None
            }
        }
    });
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
                match reload(&settings, &mut server, &levels) {
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
    let jetstream = server.jetstream_enabled();
    if jetstream {
        tracing::info!("Initiating JetStream Shutdown...");
    }
    server.shutdown();
    if jetstream {
        tracing::info!("JetStream Shutdown");
    }
    if let Some(path) = &ports_file {
        if let Err(error) = std::fs::remove_file(path) {
            tracing::error!("Error cleaning up ports file {}: {error}", path.display());
        }
    }
    if let Some(pid_file) = &settings.pid_file {
        let _ = std::fs::remove_file(pid_file);
    }
    tracing::info!("Server Exiting..");
    Ok(())
}
