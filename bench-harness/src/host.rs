//! Facts about the host and the code under test that a report must carry to be reproducible:
//! CPU model, core count, kernel, pinning, commits, time.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct HostInfo {
    pub cpu_model: String,
    pub cpus_online: usize,
    pub kernel: String,
    pub memory_total_gib: f64,
    pub loadgen_cpus_allowed: String,
}

impl HostInfo {
    pub fn collect() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|line| line.strip_prefix("model name"))
            .and_then(|rest| rest.split_once(':'))
            .map(|(_, model)| model.trim().to_string())
            .unwrap_or_else(|| "unknown".to_string());
        let cpus_online = cpuinfo
            .lines()
            .filter(|line| line.starts_with("processor"))
            .count();
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|release| release.trim().to_string())
            .unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_total_kib: f64 = meminfo
            .lines()
            .find_map(|line| line.strip_prefix("MemTotal:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0.0);
        Self {
            cpu_model,
            cpus_online,
            kernel,
            memory_total_gib: (memory_total_kib / 1024.0 / 1024.0 * 10.0).round() / 10.0,
            loadgen_cpus_allowed: allowed_cpus("/proc/self/status"),
        }
    }
}

/// `/proc/loadavg` as it reads (1, 5 and 15 minute averages, runnable/total tasks).
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|line| line.trim().to_string())
        .unwrap_or_default()
}

/// The `Cpus_allowed_list` of a process: what pinning actually took effect.
pub fn allowed_cpus(status_path: &str) -> String {
    std::fs::read_to_string(status_path)
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("Cpus_allowed_list:"))
        .map(|list| list.trim().to_string())
        .unwrap_or_default()
}

/// Pins this process (all its threads, and every thread it starts later) to `cpu_list`.
pub fn pin_self(cpu_list: &str) -> Result<()> {
    let status = Command::new("taskset")
        .args(["-a", "-p", "-c", cpu_list, &std::process::id().to_string()])
        .stdout(std::process::Stdio::null())
        .status()
        .context("running taskset (util-linux) to pin the load generator")?;
    if !status.success() {
        bail!("taskset -p -c {cpu_list} failed with {status}");
    }
    Ok(())
}

/// Busy time (everything but idle, iowait and steal), in seconds, summed over the CPUs of a
/// `taskset` list, from `/proc/stat`. Compared with a server's own CPU time it shows how much
/// else ran on the server's CPUs during a round.
pub fn cpus_busy_seconds(cpu_list: &str) -> Option<f64> {
    let cpus = expand_cpu_list(cpu_list).ok()?;
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let mut busy_ticks = 0u64;
    for line in stat.lines() {
        let mut fields = line.split_whitespace();
        let Some(name) = fields.next() else { continue };
        let Some(cpu) = name
            .strip_prefix("cpu")
            .and_then(|index| index.parse::<usize>().ok())
        else {
            continue;
        };
        if !cpus.contains(&cpu) {
            continue;
        }
        let ticks: Vec<u64> = fields.filter_map(|field| field.parse().ok()).collect();
        // user nice system idle iowait irq softirq steal guest guest_nice
        let not_busy = [3, 4, 7]
            .iter()
            .filter_map(|&index| ticks.get(index))
            .sum::<u64>();
        let counted: u64 = ticks.iter().take(8).sum();
        busy_ticks += counted.saturating_sub(not_busy);
    }
    Some(busy_ticks as f64 / crate::server::clock_ticks_per_second())
}

/// The CPUs of a `taskset` list such as `0`, `0-3` or `0,2,4-5`.
pub fn expand_cpu_list(cpu_list: &str) -> Result<Vec<usize>> {
    let mut cpus = Vec::new();
    for part in cpu_list.split(',').filter(|part| !part.trim().is_empty()) {
        match part.trim().split_once('-') {
            Some((first, last)) => {
                let first: usize = first
                    .parse()
                    .with_context(|| format!("CPU list {cpu_list}"))?;
                let last: usize = last
                    .parse()
                    .with_context(|| format!("CPU list {cpu_list}"))?;
                if last < first {
                    bail!("CPU range {part} is backwards");
                }
                cpus.extend(first..=last);
            }
            None => cpus.push(
                part.trim()
                    .parse()
                    .with_context(|| format!("CPU list {cpu_list}"))?,
            ),
        }
    }
    if cpus.is_empty() {
        bail!("CPU list {cpu_list:?} names no CPU");
    }
    Ok(cpus)
}

/// Gives this process (all its threads, and every thread it starts later) round-robin
/// real-time priority, as `--realtime` does for the servers.
pub fn make_self_realtime(priority: u8) -> Result<()> {
    let status = Command::new("chrt")
        .args([
            "-a",
            "-r",
            "-p",
            &priority.to_string(),
            &std::process::id().to_string(),
        ])
        .stdout(std::process::Stdio::null())
        .status()
        .context("running chrt (util-linux) for --realtime")?;
    if !status.success() {
        bail!("chrt -r -p {priority} failed with {status} (needs root or CAP_SYS_NICE)");
    }
    Ok(())
}

/// Number of CPUs in a `taskset` list such as `0`, `0-3` or `0,2,4-5`.
pub fn cpu_count(cpu_list: &str) -> Result<usize> {
    Ok(expand_cpu_list(cpu_list)?.len())
}

/// The commit of the git work tree holding `path`, with `-dirty` when it has uncommitted
/// changes to tracked files, or `None` outside git.
pub fn git_commit_of(path: &Path) -> Option<String> {
    let dir = if path.is_dir() { path } else { path.parent()? };
    let head = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()?;
    if !head.status.success() {
        return None;
    }
    let commit = String::from_utf8_lossy(&head.stdout).trim().to_string();
    let dirty = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .map(|output| !output.stdout.is_empty())
        .unwrap_or(false);
    Some(if dirty {
        format!("{commit}-dirty")
    } else {
        commit
    })
}

/// Seconds since the epoch rendered as `YYYY-MM-DDTHH:MM:SSZ` (UTC), without a date crate.
pub fn utc_timestamp(unix_seconds: u64) -> String {
    let days = (unix_seconds / 86_400) as i64;
    let seconds_of_day = unix_seconds % 86_400;
    // Howard Hinnant's civil-from-days algorithm.
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        seconds_of_day / 3600,
        seconds_of_day / 60 % 60,
        seconds_of_day % 60
    )
}

pub fn now_unix_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|since| since.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_are_counted() {
        assert_eq!(cpu_count("0").ok(), Some(1));
        assert_eq!(cpu_count("0-3").ok(), Some(4));
        assert_eq!(cpu_count("0,2,4-5").ok(), Some(4));
        assert!(cpu_count("").is_err());
        assert!(cpu_count("3-1").is_err());
        assert!(cpu_count("x").is_err());
    }

    #[test]
    fn timestamps_are_utc_calendar_dates() {
        assert_eq!(utc_timestamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc_timestamp(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc_timestamp(1_700_000_000), "2023-11-14T22:13:20Z");
    }
}
