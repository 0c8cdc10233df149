//! Turning rounds into a report: medians and spread per server, ratios, CPU per message and
//! peak memory, rendered as JSON (for tools) and Markdown (for people).

use std::fmt::Write as _;

use serde::Serialize;

use crate::host::HostInfo;
use crate::scenario::{
    Better, Limits, PlanOptions, RoundMeasurement, RoundOutcome, Scenario, ScenarioKind,
};
use crate::server::ServerTarget;

/// The whole report, as written to `report.json`.
#[derive(Debug, Serialize)]
pub struct Report {
    pub tool: &'static str,
    pub harness_commit: Option<String>,
    pub generated_at: String,
    pub mode: &'static str,
    pub run_duration_s: f64,
    pub host: HostInfo,
    /// `/proc/loadavg` before and after the run: other work on the host disturbs results.
    pub load_average_at_start: String,
    pub load_average_at_end: String,
    pub pinning: Pinning,
    pub limits: Limits,
    pub plan: PlanOptions,
    pub servers: ServerPair,
    pub scenarios: Vec<ScenarioReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Pinning {
    pub server_cpus: String,
    pub server_worker_threads: usize,
    /// `chrt -r` priority of both servers, if they ran real-time.
    pub server_realtime_priority: Option<u8>,
    pub loadgen_cpus: String,
    pub loadgen_cpus_effective: String,
}

#[derive(Debug, Serialize)]
pub struct ServerPair {
    pub a: ServerDescription,
    pub b: ServerDescription,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServerDescription {
    pub label: String,
    pub target: ServerTarget,
    /// `version` from the server's INFO, which every NATS server sends.
    pub version: Option<String>,
    pub commit: Option<String>,
    pub command_line: Option<String>,
    pub cpus_allowed_effective: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ScenarioReport {
    #[serde(flatten)]
    pub scenario: Scenario,
    pub a: SideSummary,
    pub b: SideSummary,
    /// Median of A over median of B, when both were measured.
    pub ratio_a_over_b: Option<f64>,
}

/// One server's results for one scenario.
#[derive(Debug, Clone, Serialize)]
pub struct SideSummary {
    /// `ok`, `not supported` or `failed`.
    pub status: &'static str,
    pub reason: Option<String>,
    pub median: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// Half the min-max range relative to the median, in percent.
    pub spread_pct: Option<f64>,
    pub server_cpu_s_per_million_msgs: Option<f64>,
    pub server_peak_rss_bytes: Option<u64>,
    /// Server CPU time over wall time, per CPU of its set (1.0 = its CPUs were saturated).
    pub server_cpu_utilization: Option<f64>,
    /// The same for the load generator: near 1.0 means the harness itself was the limit.
    pub loadgen_cpu_utilization: Option<f64>,
    /// CPU time used on the server's CPUs by anything but the server, per CPU of the set and
    /// second of wall time: 0.05 means other work took 5% of the servers' CPUs.
    pub server_cpus_other_load: Option<f64>,
    /// Median over rounds of each latency percentile, for latency scenarios.
    pub latency_percentiles_us: Option<Vec<(f64, f64)>>,
    pub notes: Vec<String>,
    pub rounds: Vec<RoundMeasurement>,
}

/// CPU utilization from which a side counts as saturated.
const SATURATED: f64 = 0.85;

/// Other work on the servers' CPUs above this share marks a result as disturbed.
const OTHER_LOAD_WARNING: f64 = 0.10;

/// What a summary needs to know about the run: CPU counts turn CPU seconds into utilization,
/// and under real-time scheduling other work only ever fills the servers' idle time, so it
/// does not disturb them.
#[derive(Debug, Clone, Copy)]
pub struct RunShape {
    pub server_cpus: usize,
    pub loadgen_cpus: usize,
    pub servers_realtime: bool,
}

impl SideSummary {
    pub fn from_outcomes(outcomes: &[RoundOutcome], run_shape: RunShape) -> Self {
        let mut summary = Self {
            status: "ok",
            reason: None,
            median: None,
            min: None,
            max: None,
            spread_pct: None,
            server_cpu_s_per_million_msgs: None,
            server_peak_rss_bytes: None,
            server_cpu_utilization: None,
            loadgen_cpu_utilization: None,
            server_cpus_other_load: None,
            latency_percentiles_us: None,
            notes: Vec::new(),
            rounds: Vec::new(),
        };
        let mut failures = Vec::new();
        for outcome in outcomes {
            match outcome {
                RoundOutcome::Measured(round) => summary.rounds.push(round.clone()),
                RoundOutcome::NotSupported(reason) => {
                    summary.status = "not supported";
                    summary.reason = Some(reason.clone());
                    return summary;
                }
                RoundOutcome::Failed(reason) => failures.push(reason.clone()),
            }
        }
        if summary.rounds.is_empty() {
            summary.status = "failed";
            summary.reason = Some(
                failures
                    .first()
                    .cloned()
                    .unwrap_or_else(|| "no round ran".to_string()),
            );
            return summary;
        }
        for failure in failures {
            summary.notes.push(format!("a round failed: {failure}"));
        }
        for round in &summary.rounds {
            for note in &round.notes {
                if !summary.notes.contains(note) {
                    summary.notes.push(note.clone());
                }
            }
        }
        let values: Vec<f64> = summary.rounds.iter().map(|round| round.value).collect();
        let median = median(&values);
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        summary.median = Some(median);
        summary.min = Some(min);
        summary.max = Some(max);
        summary.spread_pct = (median > 0.0).then(|| (max - min) / 2.0 / median * 100.0);

        let cpu_per_million: Vec<f64> = summary
            .rounds
            .iter()
            .filter_map(|round| {
                let cpu = round.server_cpu_s?;
                (round.messages > 0).then(|| cpu / round.messages as f64 * 1e6)
            })
            .collect();
        summary.server_cpu_s_per_million_msgs =
            (!cpu_per_million.is_empty()).then(|| median_of(&cpu_per_million));
        summary.server_peak_rss_bytes = summary
            .rounds
            .iter()
            .filter_map(|round| round.server_peak_rss_bytes)
            .max();
        let server_utilization: Vec<f64> = summary
            .rounds
            .iter()
            .filter_map(|round| {
                Some(round.server_cpu_s? / round.sampled_wall_s / run_shape.server_cpus as f64)
            })
            .collect();
        summary.server_cpu_utilization =
            (!server_utilization.is_empty()).then(|| median_of(&server_utilization));
        let loadgen_utilization: Vec<f64> = summary
            .rounds
            .iter()
            .map(|round| round.loadgen_cpu_s / round.sampled_wall_s / run_shape.loadgen_cpus as f64)
            .collect();
        summary.loadgen_cpu_utilization = Some(median_of(&loadgen_utilization));
        let other_load: Vec<f64> = summary
            .rounds
            .iter()
            .filter_map(|round| {
                Some(
                    round.server_cpus_other_s?
                        / round.sampled_wall_s
                        / run_shape.server_cpus as f64,
                )
            })
            .collect();
        summary.server_cpus_other_load = (!other_load.is_empty()).then(|| median_of(&other_load));
        if let Some(load) = summary
            .server_cpus_other_load
            .filter(|load| *load > OTHER_LOAD_WARNING && !run_shape.servers_realtime)
        {
            summary.notes.push(format!(
                "other work took {:.0}% of the server CPUs (disturbed)",
                load * 100.0
            ));
        }

        if let (Some(loadgen), Some(server)) = (
            summary.loadgen_cpu_utilization,
            summary.server_cpu_utilization,
        ) {
            if loadgen >= SATURATED && server < SATURATED {
                summary.notes.push(format!(
                    "the load generator's CPUs were the limit ({:.0}% busy, server {:.0}%): \
                     this server may do better than measured",
                    loadgen * 100.0,
                    server * 100.0
                ));
            }
        }
        let curves: Vec<&Vec<(f64, f64)>> = summary
            .rounds
            .iter()
            .filter_map(|round| {
                round
                    .latency
                    .as_ref()
                    .map(|latency| &latency.percentiles_us)
            })
            .collect();
        if let Some(first) = curves.first() {
            let merged = first
                .iter()
                .enumerate()
                .map(|(index, (percentile, _))| {
                    let values: Vec<f64> = curves
                        .iter()
                        .filter_map(|curve| curve.get(index).map(|p| p.1))
                        .collect();
                    (*percentile, median_of(&values))
                })
                .collect();
            summary.latency_percentiles_us = Some(merged);
        }
        summary
    }
}

fn median_of(values: &[f64]) -> f64 {
    median(values)
}

/// The median (mean of the middle two for an even count); NaN-free input assumed.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(|left, right| left.total_cmp(right));
    match sorted.len() {
        0 => f64::NAN,
        len if len % 2 == 1 => sorted[len / 2],
        len => (sorted[len / 2 - 1] + sorted[len / 2]) / 2.0,
    }
}

impl ScenarioReport {
    pub fn new(scenario: Scenario, a: SideSummary, b: SideSummary) -> Self {
        let ratio_a_over_b = match (a.median, b.median) {
            (Some(a), Some(b)) if b > 0.0 => Some(a / b),
            _ => None,
        };
        Self {
            scenario,
            a,
            b,
            ratio_a_over_b,
        }
    }
}

/// Renders the Markdown report.
pub fn render_markdown(report: &Report) -> String {
    let mut out = String::new();
    let a = &report.servers.a;
    let b = &report.servers.b;
    let _ = writeln!(out, "# natrix-bench: A = {} vs B = {}\n", a.label, b.label);
    let _ = writeln!(
        out,
        "Generated {} in {} mode; the run took {:.0} s. Harness commit: `{}`.\n",
        report.generated_at,
        report.mode,
        report.run_duration_s,
        report.harness_commit.as_deref().unwrap_or("unknown")
    );
    let _ = writeln!(out, "## Servers\n");
    let _ = writeln!(
        out,
        "| | label | version (INFO) | commit | command line | CPUs allowed |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for (side, server) in [("A", a), ("B", b)] {
        let _ = writeln!(
            out,
            "| {side} | {} | {} | {} | `{}` | {} |",
            server.label,
            server.version.as_deref().unwrap_or("?"),
            server
                .commit
                .as_deref()
                .map(short_commit)
                .unwrap_or_else(|| "n/a".to_string()),
            server.command_line.as_deref().unwrap_or("?"),
            server.cpus_allowed_effective.as_deref().unwrap_or("?"),
        );
    }
    let host = &report.host;
    let pinning = &report.pinning;
    let limits = &report.limits;
    let _ = writeln!(out, "\n## Host and parameters\n");
    let _ = writeln!(
        out,
        "- Host: {} ({} CPUs online), Linux {}, {} GiB RAM",
        host.cpu_model, host.cpus_online, host.kernel, host.memory_total_gib
    );
    let _ = writeln!(
        out,
        "- Load average (`/proc/loadavg`) before the run: `{}`; after: `{}`",
        report.load_average_at_start, report.load_average_at_end
    );
    let _ = writeln!(
        out,
        "- Pinning: servers on CPUs `{}` with {} worker thread(s) (Natrix `--shards`, Go \
         `GOMAXPROCS`), scheduler: {}; load generator on CPUs `{}` (effective: `{}`)",
        pinning.server_cpus,
        pinning.server_worker_threads,
        match pinning.server_realtime_priority {
            Some(priority) => format!("real-time round-robin, priority {priority}"),
            None => "normal".to_string(),
        },
        pinning.loadgen_cpus,
        pinning.loadgen_cpus_effective
    );
    let _ = writeln!(
        out,
        "- Rounds: {} per server, interleaved A B A B ...; publish phase {} ms (at most {} \
         messages); latency runs {} ms; flow-control window {} KiB; write batches ≥ {} KiB; \
         warm-up round: {}",
        limits.rounds,
        limits.publish_duration.as_millis(),
        limits.publish_messages_max,
        limits.latency_duration.as_millis(),
        limits.flow_window_bytes / 1024,
        limits.write_batch_bytes / 1024,
        if limits.warmup { "yes" } else { "no" }
    );
    let _ = writeln!(out, "\n## Results\n");
    let _ = writeln!(
        out,
        "Median over rounds (± half the min–max range). A/B > 1 means A is higher; for latency \
         lower is better. CPU is the server's user+system time per million messages handled; \
         util is CPU time over wall time per pinned CPU: server / load generator / everything \
         else on the server CPUs (above 10% the result is marked disturbed).\n"
    );
    let _ = writeln!(
        out,
        "| scenario | metric | A | B | A/B | CPU s/M msgs A | CPU s/M msgs B | peak RSS A | \
         peak RSS B | util A (srv/gen/other) | util B (srv/gen/other) |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|");
    for scenario in &report.scenarios {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            scenario.scenario.title,
            scenario.scenario.metric,
            side_value(&scenario.a),
            side_value(&scenario.b),
            ratio_cell(scenario),
            optional(scenario.a.server_cpu_s_per_million_msgs, |cpu| format!(
                "{cpu:.3}"
            )),
            optional(scenario.b.server_cpu_s_per_million_msgs, |cpu| format!(
                "{cpu:.3}"
            )),
            optional(scenario.a.server_peak_rss_bytes, format_bytes),
            optional(scenario.b.server_peak_rss_bytes, format_bytes),
            utilization_cell(&scenario.a),
            utilization_cell(&scenario.b),
        );
    }
    let latency_rows: Vec<&ScenarioReport> = report
        .scenarios
        .iter()
        .filter(|scenario| matches!(scenario.scenario.kind, ScenarioKind::RequestLatency { .. }))
        .collect();
    if !latency_rows.is_empty() {
        let _ = writeln!(out, "\n## Request/reply latency (µs, median over rounds)\n");
        let _ = writeln!(
            out,
            "Open loop: requests leave on a fixed schedule and latency counts from the scheduled \
             time, so stalls are not hidden (no coordinated omission). \"send lag\" is how late \
             the load generator itself sent (p99).\n"
        );
        let _ = writeln!(
            out,
            "| scenario | server | target/s | achieved/s | p50 | p90 | p99 | p99.9 | max | send lag p99 | timeouts |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|");
        for scenario in latency_rows {
            for (side, summary) in [(&a.label, &scenario.a), (&b.label, &scenario.b)] {
                let Some(curve) = &summary.latency_percentiles_us else {
                    let _ = writeln!(
                        out,
                        "| {} | {side} | {} | | | | | | | | |",
                        scenario.scenario.title,
                        side_value(summary)
                    );
                    continue;
                };
                let at = |wanted: f64| {
                    curve
                        .iter()
                        .find(|(percentile, _)| *percentile == wanted)
                        .map(|(_, micros)| format!("{micros:.0}"))
                        .unwrap_or_default()
                };
                let latencies: Vec<_> = summary
                    .rounds
                    .iter()
                    .filter_map(|round| round.latency.as_ref())
                    .collect();
                let middle = |values: Vec<f64>| median(&values);
                let _ = writeln!(
                    out,
                    "| {} | {side} | {:.0} | {:.0} | {} | {} | {} | {} | {:.0} | {:.0} | {} |",
                    scenario.scenario.title,
                    middle(latencies.iter().map(|l| l.target_rate_per_s).collect()),
                    middle(latencies.iter().map(|l| l.achieved_rate_per_s).collect()),
                    at(50.0),
                    at(90.0),
                    at(99.0),
                    at(99.9),
                    middle(latencies.iter().map(|l| l.max_us).collect()),
                    middle(latencies.iter().map(|l| l.send_lag_p99_us).collect()),
                    latencies.iter().map(|l| l.timeouts).sum::<u64>(),
                );
            }
        }
    }
    // One line per scenario, the two servers side by side, so that the notes read as a list
    // of what to distrust rather than as a log.
    let mut notes = Vec::new();
    for scenario in &report.scenarios {
        let per_side: Vec<String> = [("A", &scenario.a), ("B", &scenario.b)]
            .into_iter()
            .filter_map(|(side_label, side)| {
                let side_notes: Vec<String> = side
                    .reason
                    .iter()
                    .chain(side.notes.iter())
                    .cloned()
                    .collect();
                (!side_notes.is_empty())
                    .then(|| format!("**{side_label}**: {}", side_notes.join("; ")))
            })
            .collect();
        if !per_side.is_empty() {
            notes.push(format!(
                "- {}: {}",
                scenario.scenario.title,
                per_side.join(" · ")
            ));
        }
    }
    if !notes.is_empty() {
        let _ = writeln!(out, "\n## Notes\n");
        for note in notes {
            let _ = writeln!(out, "{note}");
        }
    }
    let _ = writeln!(
        out,
        "\nPlots: `throughput.svg` (medians with min–max whiskers, log scale) and `latency.svg` \
         (latency by percentile). Raw rounds: `report.json`."
    );
    out
}

fn short_commit(commit: &str) -> String {
    let (hash, dirty) = match commit.strip_suffix("-dirty") {
        Some(hash) => (hash, "-dirty"),
        None => (commit, ""),
    };
    format!("`{}{dirty}`", &hash[..hash.len().min(12)])
}

fn side_value(side: &SideSummary) -> String {
    match (side.status, side.median) {
        ("ok", Some(median)) => {
            let spread = side
                .spread_pct
                .map(|spread| format!(" ±{spread:.1}%"))
                .unwrap_or_default();
            let warning = if side.notes.is_empty() { "" } else { " ⚠" };
            format!("{}{spread}{warning}", format_quantity(median))
        }
        (status, _) => status.to_string(),
    }
}

fn ratio_cell(scenario: &ScenarioReport) -> String {
    let Some(ratio) = scenario.ratio_a_over_b else {
        return "n/a".to_string();
    };
    let a_is_better = match scenario.scenario.better {
        Better::Higher => ratio > 1.0,
        Better::Lower => ratio < 1.0,
    };
    let verdict = if (ratio - 1.0).abs() < 0.02 {
        "≈"
    } else if a_is_better {
        "A better"
    } else {
        "B better"
    };
    format!("{ratio:.2} ({verdict})")
}

fn utilization_cell(side: &SideSummary) -> String {
    let percent = |value: Option<f64>| optional(value, |util| format!("{:.0}%", util * 100.0));
    format!(
        "{}/{}/{}",
        percent(side.server_cpu_utilization),
        percent(side.loadgen_cpu_utilization),
        percent(side.server_cpus_other_load)
    )
}

fn optional<T>(value: Option<T>, render: impl Fn(T) -> String) -> String {
    value.map(render).unwrap_or_else(|| "–".to_string())
}

/// `1.23M`, `456k`, `789`: enough digits to compare, few enough to read.
pub fn format_quantity(value: f64) -> String {
    if value >= 1e6 {
        format!("{:.2}M", value / 1e6)
    } else if value >= 1e3 {
        format!("{:.1}k", value / 1e3)
    } else {
        format!("{value:.1}")
    }
}

pub fn format_bytes(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / 1024.0 / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured(value: f64) -> RoundOutcome {
        let mut round = RoundMeasurement::new(value, 1_000_000, std::time::Duration::from_secs(1));
        round.server_cpu_s = Some(0.5);
        round.loadgen_cpu_s = 0.25;
        RoundOutcome::Measured(round)
    }

    const CPUS: RunShape = RunShape {
        server_cpus: 1,
        loadgen_cpus: 1,
        servers_realtime: false,
    };

    #[test]
    fn summary_takes_median_spread_and_cpu_per_message() {
        let summary =
            SideSummary::from_outcomes(&[measured(90.0), measured(110.0), measured(100.0)], CPUS);
        assert_eq!(summary.status, "ok");
        assert_eq!(summary.median, Some(100.0));
        assert_eq!(summary.spread_pct, Some(10.0));
        assert_eq!(summary.server_cpu_s_per_million_msgs, Some(0.5));
        assert_eq!(summary.server_cpu_utilization, Some(0.5));
        assert_eq!(summary.loadgen_cpu_utilization, Some(0.25));
    }

    #[test]
    fn not_supported_wins_over_measurements_and_failures_are_kept() {
        let summary = SideSummary::from_outcomes(
            &[
                measured(1.0),
                RoundOutcome::NotSupported("no JetStream".into()),
            ],
            CPUS,
        );
        assert_eq!(summary.status, "not supported");
        let summary = SideSummary::from_outcomes(&[RoundOutcome::Failed("boom".into())], CPUS);
        assert_eq!(summary.status, "failed");
        assert_eq!(summary.reason.as_deref(), Some("boom"));
        let summary =
            SideSummary::from_outcomes(&[RoundOutcome::Failed("x".into()), measured(2.0)], CPUS);
        assert_eq!(summary.status, "ok");
        assert_eq!(summary.notes.len(), 1);
    }

    #[test]
    fn median_of_even_count_is_the_mean_of_the_middle_pair() {
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&[]).is_nan());
    }
}
