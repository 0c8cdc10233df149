//! Runs the plan: for each scenario, fresh servers A and B, then rounds interleaved A B A B,
//! each round sampled from `/proc` before and after. Shows a progress line while it works.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};

use crate::footprint;
use crate::host::{allowed_cpus, cpus_busy_seconds};
use crate::jetstream;
use crate::kv;
use crate::latency;
use crate::report::{RunShape, ScenarioReport, SideSummary};
use crate::scenario::{Limits, RequestRate, RoundOutcome, Scenario, ScenarioKind};
use crate::server::{LaunchRequest, LaunchSettings, ProcessSample, RunningServer, ServerTarget};
use crate::throughput::{run_flow, FlowShape};
use crate::wire::RawConnection;

/// Everything the runner needs besides the plan.
pub struct RunConfig {
    pub targets: [ServerTarget; 2],
    pub labels: [String; 2],
    pub settings: LaunchSettings,
    pub limits: Limits,
    pub run_shape: RunShape,
    pub log_dir: PathBuf,
    pub scratch_dir: PathBuf,
    /// Extra command-line arguments for server A and server B.
    pub extra_args: [Vec<String>; 2],
}

/// What the runner learned about each server while running it.
#[derive(Debug, Default, Clone)]
pub struct ServerObservations {
    pub version: Option<String>,
    pub command_line: Option<String>,
    pub cpus_allowed: Option<String>,
}

pub fn run_plan(
    config: &RunConfig,
    scenarios: &[Scenario],
    runtime: &tokio::runtime::Runtime,
) -> (Vec<ScenarioReport>, [ServerObservations; 2]) {
    let mut observations: [ServerObservations; 2] = Default::default();
    let mut reports: Vec<ScenarioReport> = Vec::with_capacity(scenarios.len());
    let rounds = config.limits.rounds;
    let mut progress = ProgressLine::new(scenarios.len() * rounds * 2);
    for (scenario_index, scenario) in scenarios.iter().enumerate() {
        let mut outcomes: [Vec<RoundOutcome>; 2] = [Vec::new(), Vec::new()];
        let mut servers: [Option<RunningServer>; 2] = [None, None];
        let launch = |side: usize, round: usize| {
            let request = LaunchRequest {
                target: &config.targets[side],
                settings: &config.settings,
                with_jetstream: scenario.needs_jetstream(),
                with_websocket: scenario.needs_websocket(),
                log_path: config.log_dir.join(format!(
                    "{}-{scenario_index:02}-{}-{round}.log",
                    side_name(side),
                    scenario.id.replace('/', "_")
                )),
                scratch_dir: &config.scratch_dir,
                extra_args: &config.extra_args[side],
            };
            RunningServer::launch(&request)
                .map_err(|error| format!("server did not start: {error:#}"))
        };
        for side in 0..2 {
            match launch(side, 0) {
                Ok(server) => {
                    observe(&mut observations[side], &server);
                    servers[side] = Some(server);
                }
                Err(reason) => outcomes[side].push(RoundOutcome::Failed(reason)),
            }
        }
        let mut unsupported: [Option<String>; 2] = [None, None];
        if scenario.needs_jetstream() {
            for side in 0..2 {
                if let Some(server) = &servers[side] {
                    unsupported[side] = if server.jetstream_flags_accepted {
                        runtime.block_on(jetstream::unsupported_reason(server.client_address))
                    } else {
                        Some("the server does not start with -js -sd DIR".to_string())
                    };
                }
            }
        }
        let rate = match resolve_rate(scenario, &reports) {
            Ok(rate) => rate,
            Err(error) => {
                for side_outcomes in &mut outcomes {
                    side_outcomes.push(RoundOutcome::Failed(format!("{error:#}")));
                }
                None
            }
        };
        let rate_missing = scenario_needs_rate(scenario) && rate.is_none();
        if config.limits.warmup
            && !rate_missing
            && !scenario.fresh_server_each_round()
            && !matches!(scenario.kind, ScenarioKind::RequestLatency { .. })
        {
            for side in 0..2 {
                if let (Some(server), None) = (&mut servers[side], &unsupported[side]) {
                    progress.show(&format!(
                        "{} · warm-up · {}",
                        scenario.title, config.labels[side]
                    ));
                    let warmup_limits = Limits {
                        publish_duration: config.limits.publish_duration / 4,
                        ..config.limits.clone()
                    };
                    let _ = measure(
                        server,
                        scenario,
                        rate,
                        &warmup_limits,
                        &config.settings.cpu_list,
                        runtime,
                    );
                }
            }
        }
        for round in 0..rounds {
            for side in 0..2 {
                progress.step(&format!(
                    "{} · round {}/{rounds} · {} {}",
                    scenario.title,
                    round + 1,
                    side_name(side),
                    config.labels[side]
                ));
                if let Some(reason) = &unsupported[side] {
                    outcomes[side].push(RoundOutcome::NotSupported(reason.clone()));
                    continue;
                }
                // Memory scenarios need a server that has never held the load before: freed
                // memory stays resident and would hide what the next round allocates.
                if scenario.fresh_server_each_round() && round > 0 && servers[side].is_some() {
                    servers[side] = None;
                    match launch(side, round) {
                        Ok(server) => servers[side] = Some(server),
                        Err(reason) => {
                            outcomes[side].push(RoundOutcome::Failed(reason));
                            continue;
                        }
                    }
                }
                let Some(server) = servers[side].as_mut() else {
                    continue;
                };
                if rate_missing {
                    continue;
                }
                let outcome = measure(
                    server,
                    scenario,
                    rate,
                    &config.limits,
                    &config.settings.cpu_list,
                    runtime,
                );
                if let RoundOutcome::Measured(round) = &outcome {
                    progress.last_result = format!(
                        "{}: {} {}",
                        config.labels[side],
                        crate::report::format_quantity(round.value),
                        scenario.metric
                    );
                }
                outcomes[side].push(outcome);
            }
        }
        for server in servers.iter_mut().flatten() {
            server.stop();
        }
        let [outcomes_a, outcomes_b] = outcomes;
        reports.push(ScenarioReport::new(
            scenario.clone(),
            SideSummary::from_outcomes(&outcomes_a, config.run_shape),
            SideSummary::from_outcomes(&outcomes_b, config.run_shape),
        ));
    }
    progress.finish();
    (reports, observations)
}

fn side_name(side: usize) -> &'static str {
    if side == 0 {
        "A"
    } else {
        "B"
    }
}

fn scenario_needs_rate(scenario: &Scenario) -> bool {
    matches!(
        scenario.kind,
        ScenarioKind::RequestLatency {
            rate: RequestRate::NearSaturation { .. },
            ..
        }
    )
}

/// The request rate of a latency scenario; near-saturation rates come from the request
/// capacity measured earlier in the same run, taking the lower of the two servers.
fn resolve_rate(scenario: &Scenario, earlier: &[ScenarioReport]) -> Result<Option<f64>> {
    let ScenarioKind::RequestLatency { rate, .. } = scenario.kind else {
        return Ok(None);
    };
    match rate {
        RequestRate::PerSecond(rate) => Ok(Some(rate as f64)),
        RequestRate::NearSaturation { fraction } => {
            let capacity = earlier
                .iter()
                .filter(|report| {
                    matches!(report.scenario.kind, ScenarioKind::RequestCapacity { .. })
                })
                .flat_map(|report| [report.a.median, report.b.median])
                .flatten()
                .fold(f64::INFINITY, f64::min);
            if capacity.is_finite() {
                Ok(Some(capacity * fraction))
            } else {
                Err(anyhow!(
                    "the near-saturation rate needs a measured request-capacity scenario"
                ))
            }
        }
    }
}

fn observe(observations: &mut ServerObservations, server: &RunningServer) {
    if observations.version.is_none() {
        if let Ok(connection) =
            RawConnection::connect(server.client_address, "bench-probe", Duration::from_secs(5))
        {
            observations.version = connection.server_info.as_deref().and_then(|info| {
                let info: serde_json::Value = serde_json::from_str(info).ok()?;
                Some(info.get("version")?.as_str()?.to_string())
            });
        }
    }
    observations
        .command_line
        .get_or_insert_with(|| server.command_line.clone());
    if observations.cpus_allowed.is_none() {
        if let Some(pid) = server.pid {
            observations.cpus_allowed = Some(allowed_cpus(&format!("/proc/{pid}/status")));
        }
    }
}

/// One round against one server, with CPU and memory sampled around it.
fn measure(
    server: &mut RunningServer,
    scenario: &Scenario,
    rate: Option<f64>,
    limits: &Limits,
    server_cpu_list: &str,
    runtime: &tokio::runtime::Runtime,
) -> RoundOutcome {
    if let Err(error) = server.check_alive() {
        return RoundOutcome::Failed(format!("{error:#}"));
    }
    let address = server.client_address;
    let is_memory_scenario = matches!(
        scenario.kind,
        ScenarioKind::MemoryPerConnection { .. } | ScenarioKind::MemoryPerSubscription { .. }
    );
    if is_memory_scenario && server.pid.is_none() {
        return RoundOutcome::NotSupported(
            "an external server's memory cannot be read from here".to_string(),
        );
    }
    if let ScenarioKind::JetStreamConsume {
        payload_len,
        messages,
        ..
    } = scenario.kind
    {
        let prepared = runtime.block_on(jetstream::prepare_consume(
            address,
            payload_len,
            messages,
            limits,
        ));
        if let Err(error) = prepared {
            return RoundOutcome::Failed(format!("filling the stream: {error:#}"));
        }
    }
    if let Err(error) = runtime.block_on(kv::prepare(address, &scenario.kind)) {
        return RoundOutcome::Failed(format!("filling the bucket: {error:#}"));
    }
    let sampled_from = Instant::now();
    let server_cpus_busy_before = cpus_busy_seconds(server_cpu_list);
    let server_before = server.sample();
    let peak_reset = server.reset_peak_rss();
    let loadgen_before = ProcessSample::read("/proc/self").ok();
    let result = match scenario.kind {
        ScenarioKind::Flow {
            publishers,
            subscribers,
            queue_group,
            payload_len,
        } => run_flow(
            address,
            FlowShape {
                publishers,
                subscribers,
                queue_group,
                payload_len,
                websocket: false,
            },
            limits,
        ),
        ScenarioKind::WebSocketPubSub { payload_len } => match server.websocket_address {
            Some(websocket_address) => run_flow(
                websocket_address,
                FlowShape {
                    publishers: 1,
                    subscribers: 1,
                    queue_group: false,
                    payload_len,
                    websocket: true,
                },
                limits,
            ),
            None => Err(anyhow!("the server reported no WebSocket port")),
        },
        ScenarioKind::RequestCapacity {
            in_flight,
            payload_len,
        } => runtime.block_on(latency::run_capacity(
            address,
            in_flight,
            payload_len,
            limits,
        )),
        ScenarioKind::RequestLatency { payload_len, .. } => match rate {
            Some(rate) => {
                runtime.block_on(latency::run_fixed_rate(address, rate, payload_len, limits))
            }
            None => Err(anyhow!("no request rate")),
        },
        ScenarioKind::MemoryPerConnection { connections } => {
            footprint::per_connection(address, connections, &|| server.resident_bytes())
        }
        ScenarioKind::MemoryPerSubscription { subscriptions } => {
            footprint::per_subscription(address, subscriptions, &|| server.resident_bytes())
        }
        ScenarioKind::JetStreamPublishSync { payload_len } => {
            runtime.block_on(jetstream::run_publish_sync(address, payload_len, limits))
        }
        ScenarioKind::JetStreamPublishAsync {
            payload_len,
            window,
        } => runtime.block_on(jetstream::run_publish_async(
            address,
            payload_len,
            window,
            limits,
        )),
        ScenarioKind::JetStreamConsume { messages, mode, .. } => {
            runtime.block_on(jetstream::run_consume(address, messages, mode, limits))
        }
        ScenarioKind::KvPut { payload_len } => {
            runtime.block_on(kv::run_put(address, payload_len, limits))
        }
        ScenarioKind::KvGet {
            clients,
            keys,
            payload_len,
        } => runtime.block_on(kv::run_get(address, clients, keys, payload_len, limits)),
        ScenarioKind::ObjectPut { object_len } => {
            runtime.block_on(kv::run_object_put(address, object_len, limits))
        }
        ScenarioKind::ObjectGet { object_len } => {
            runtime.block_on(kv::run_object_get(address, object_len, limits))
        }
    };
    let server_after = server.sample();
    let server_cpus_busy_after = cpus_busy_seconds(server_cpu_list);
    let loadgen_after = ProcessSample::read("/proc/self").ok();
    let sampled_wall = sampled_from.elapsed();
    match result {
        Ok(mut round) => {
            round.sampled_wall_s = sampled_wall.as_secs_f64();
            if let (Some(before), Some(after)) = (server_before, server_after) {
                round.server_cpu_s = Some(after.cpu_seconds - before.cpu_seconds);
                round.server_peak_rss_bytes = Some(after.peak_rss_bytes);
                if let (Some(busy_before), Some(busy_after)) =
                    (server_cpus_busy_before, server_cpus_busy_after)
                {
                    let server_cpu_s = after.cpu_seconds - before.cpu_seconds;
                    round.server_cpus_other_s =
                        Some((busy_after - busy_before - server_cpu_s).max(0.0));
                }
                if !peak_reset {
                    round
                        .notes
                        .push("peak RSS is the process lifetime peak".to_string());
                }
            }
            if let (Some(before), Some(after)) = (loadgen_before, loadgen_after) {
                round.loadgen_cpu_s = after.cpu_seconds - before.cpu_seconds;
            }
            if let Err(error) = server.check_alive() {
                return RoundOutcome::Failed(format!("{error:#}"));
            }
            RoundOutcome::Measured(round)
        }
        Err(error) if error.downcast_ref::<jetstream::NotSupported>().is_some() => {
            RoundOutcome::NotSupported(format!("{error:#}"))
        }
        Err(error) => {
            let mut reason = format!("{error:#}");
            if let Err(exit) = server.check_alive() {
                reason.push_str(&format!("; {exit:#}"));
            }
            RoundOutcome::Failed(reason)
        }
    }
}

/// A single status line on a terminal, or one line per step in logs and CI.
struct ProgressLine {
    steps_total: usize,
    steps_done: usize,
    started_at: Instant,
    is_terminal: bool,
    last_result: String,
}

impl ProgressLine {
    fn new(steps_total: usize) -> Self {
        Self {
            steps_total,
            steps_done: 0,
            started_at: Instant::now(),
            is_terminal: std::io::stderr().is_terminal(),
            last_result: String::new(),
        }
    }

    fn step(&mut self, text: &str) {
        self.steps_done += 1;
        self.show(text);
    }

    fn show(&mut self, text: &str) {
        let elapsed = self.started_at.elapsed().as_secs();
        let line = format!(
            "[{}/{} {:02}:{:02}] {text}{}",
            self.steps_done,
            self.steps_total,
            elapsed / 60,
            elapsed % 60,
            if self.last_result.is_empty() {
                String::new()
            } else {
                format!(" · last {}", self.last_result)
            }
        );
        let mut stderr = std::io::stderr();
        if self.is_terminal {
            let _ = write!(stderr, "\r\x1b[2K{line}");
        } else {
            let _ = writeln!(stderr, "{line}");
        }
        let _ = stderr.flush();
    }

    fn finish(&mut self) {
        if self.is_terminal {
            eprintln!();
        }
    }
}
