//! JetStream's start on the control plane, as the Go server's `EnableJetStream`: the
//! settings with every default resolved (store directory, limits from the host's memory and
//! disk), the store directory checked, and Go's start-up log lines. The shards then recover
//! their streams (`natrix_shards::jetstream`).

use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, bail};
use natrix_shards::account::{AccountTable, GLOBAL_ACCOUNT};
use natrix_shards::config::JetStreamSettings;
use natrix_shards::options::{AccountJetStreamLimits, ServerOptions};
use natrix_storage::SyncPolicy;

use crate::bootstrap::Fatal;

/// The name of the directory JetStream keeps under `store_dir` (Go's `JetStreamStoreDir`).
const STORE_DIR_NAME: &str = "jetstream";
/// Publishes a stream may hold while its stores are busy (Go's `streamDefaultMaxQueueMsgs`).
const DEFAULT_MAX_BUFFERED_MSGS: usize = 10_000;
/// Consumers a stream may have when neither it nor the configuration says (Go 2.15's
/// `JSDefaultMaxConsumersPerStream`).
const GO_DEFAULT_MAX_CONSUMERS_PER_STREAM: i64 = 1_000;
/// Go's `JetStreamMaxMemDefault`, when the host's memory cannot be read.
const DEFAULT_MAX_MEMORY: i64 = 1024 * 1024 * 1024;
/// Go's `JetStreamMaxStoreDefault`, when the disk's free space cannot be read.
const DEFAULT_MAX_STORE: i64 = 1024 * 1024 * 1024 * 1024;

/// Checks the JetStream options before anything starts (Go's `validateJetStreamOptions` and
/// the system-account rule).
pub fn validate(options: &ServerOptions) -> anyhow::Result<()> {
    let Some(jetstream) = options.jetstream.as_ref().filter(|js| js.enabled) else {
        return Ok(());
    };
    if let Some(domain) = jetstream
        .domain
        .as_deref()
        .filter(|domain| !domain.is_empty())
    {
        let subject = format!("$JS.{domain}.API");
        if !natrix_jetstream::subject::is_valid_subject(subject.as_bytes()) {
            bail!("invalid domain name: derived {subject:?} is not a valid subject");
        }
        if domain.contains(['.', '*', '>', ' ', '\t', '\r', '\n', '\x0c']) {
            bail!("invalid domain name: may not contain ., * or >");
        }
    }
    let system = options
        .system_account
        .as_deref()
        .unwrap_or(natrix_shards::account::DEFAULT_SYSTEM_ACCOUNT_NAME);
    if options
        .accounts
        .iter()
        .any(|account| account.name == system && account.jetstream.is_some())
    {
        return Err(Fatal("Not allowed to enable JetStream on the system account".into()).into());
    }
    Ok(())
}

/// Resolves JetStream's settings and logs Go's start-up lines up to the end of the
/// `JETSTREAM` block; `None` when JetStream is not enabled.
pub fn start(
    options: &ServerOptions,
    accounts: &AccountTable,
    server_name: &str,
    version: &str,
) -> anyhow::Result<Option<JetStreamSettings>> {
    let Some(jetstream) = options.jetstream.as_ref().filter(|js| js.enabled) else {
        return Ok(None);
    };
    tracing::info!("Starting JetStream");
    let store_dir = match jetstream.store_dir.as_deref().filter(|dir| !dir.is_empty()) {
        Some(dir) => Path::new(dir).join(STORE_DIR_NAME),
        None => {
            tracing::warn!("Temporary storage directory used, data could be lost on system reboot");
            std::env::temp_dir().join("nats").join(STORE_DIR_NAME)
        }
    };
    check_store_dir(&store_dir)
        .map_err(|error| Fatal(format!("Can't start JetStream: {error}")))?;
    let max_memory = match jetstream.max_memory {
        Some(bytes) if bytes >= 0 => bytes,
        _ => host_memory().map_or(DEFAULT_MAX_MEMORY, |total| total / 4 * 3),
    };
    let max_store = match jetstream.max_file {
        Some(bytes) if bytes >= 0 => bytes,
        _ => disk_available(&store_dir).unwrap_or(DEFAULT_MAX_STORE),
    };
    let domain = jetstream.domain.clone().unwrap_or_default();
    let sync = match jetstream.sync_interval {
        Some(interval) if !interval.is_zero() => SyncPolicy::Interval(interval),
        _ => SyncPolicy::Always,
    };
    for line in [
        "    _ ___ _____ ___ _____ ___ ___   _   __  __",
        " _ | | __|_   _/ __|_   _| _ \\ __| /_\\ |  \\/  |",
        "| || | _|  | | \\__ \\ | | |   / _| / _ \\| |\\/| |",
        " \\__/|___| |_| |___/ |_| |_|_\\___/_/ \\_\\_|  |_|",
        "",
        "         https://docs.nats.io/jetstream",
        "",
        "---------------- JETSTREAM ----------------",
    ] {
        tracing::info!("{line}");
    }
    tracing::info!("  Strict:          true");
    tracing::info!("  Max Memory:      {}", friendly_bytes(max_memory));
    tracing::info!("  Max Storage:     {}", friendly_bytes(max_store));
    tracing::info!("  Store Directory: \"{}\"", store_dir.display());
    if !domain.is_empty() {
        tracing::info!("  Domain:          {domain}");
    }
    tracing::info!("  API Level:       {}", natrix_jetstream::api::API_LEVEL);
    tracing::info!(
        "  Sync:            {}",
        match sync {
            SyncPolicy::Always => "always (a PubAck leaves after fdatasync)".to_string(),
            SyncPolicy::Interval(interval) => format!("every {}", go_duration(interval)),
        }
    );
    tracing::info!("-------------------------------------------");
    Ok(Some(JetStreamSettings {
        store_dir,
        max_memory,
        max_store,
        domain,
        sync,
        duplicate_window_max_ns: jetstream.duplicate_window_max.map_or(0, |window| {
            i64::try_from(window.as_nanos()).unwrap_or(i64::MAX)
        }),
        default_max_consumers: match jetstream.default_max_consumers {
            None | Some(0) => GO_DEFAULT_MAX_CONSUMERS_PER_STREAM,
            Some(count) => count,
        },
        max_buffered_msgs: jetstream
            .max_buffered_msgs
            .filter(|count| *count > 0)
            .unwrap_or(DEFAULT_MAX_BUFFERED_MSGS),
        accounts: account_limits(options, accounts),
        server_name: server_name.to_string(),
        version: version.to_string(),
    }))
}

/// JetStream limits by account id: with no account configured besides the global one, the
/// global account has JetStream without limits; otherwise the accounts whose `jetstream`
/// enables it (Go's `enableJetStreamAccounts`). The system account never has it.
fn account_limits(
    options: &ServerOptions,
    accounts: &AccountTable,
) -> Vec<Option<AccountJetStreamLimits>> {
    let system = accounts.system();
    let global_only = options.accounts.iter().all(|account| {
        accounts
            .id(&account.name)
            .is_none_or(|id| id == system || id == GLOBAL_ACCOUNT)
    });
    (0..accounts.len())
        .map(|index| {
            let id = index as natrix_shards::account::AccountId;
            if id == system {
                return None;
            }
            if global_only {
                return (id == GLOBAL_ACCOUNT).then(AccountJetStreamLimits::default);
            }
            let name = &accounts.get(id).name;
            options
                .accounts
                .iter()
                .find(|account| &account.name == name)
                .and_then(|account| account.jetstream.clone())
        })
        .collect()
}

/// Go's checks of the store directory: created if missing, a directory, writable.
fn check_store_dir(dir: &Path) -> anyhow::Result<()> {
    match std::fs::metadata(dir) {
        Err(_) => std::fs::create_dir_all(dir)
            .map_err(|error| anyhow!("could not create storage directory - {error}"))?,
        Ok(metadata) if !metadata.is_dir() => bail!("storage directory is not a directory"),
        Ok(_) => {
            let probe = dir.join(format!("_test_{}", std::process::id()));
            std::fs::write(&probe, b"")
                .map_err(|_| anyhow!("storage directory is not writable"))?;
            let _ = std::fs::remove_file(&probe);
        }
    }
    Ok(())
}

/// The host's physical memory in bytes.
fn host_memory() -> Option<i64> {
    // SAFETY: `sysinfo` fills the zeroed struct we own and reads nothing else.
    let info = unsafe {
        let mut info: libc::sysinfo = std::mem::zeroed();
        if libc::sysinfo(&mut info) != 0 {
            return None;
        }
        info
    };
    // `totalram` is `c_ulong` (64 bits on the platforms Natrix runs on), `mem_unit` `c_uint`.
    #[allow(clippy::useless_conversion)]
    let total = u64::from(info.totalram).saturating_mul(u64::from(info.mem_unit));
    i64::try_from(total).ok().filter(|total| *total > 0)
}

/// 75% of the space available to this user on the store directory's file system (Go's
/// `diskAvailable`).
fn disk_available(dir: &Path) -> Option<i64> {
    let path = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).ok()?;
    // SAFETY: `statvfs` reads the NUL-terminated path we own and fills the zeroed struct.
    let stat = unsafe {
        let mut stat: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(path.as_ptr(), &mut stat) != 0 {
            return None;
        }
        stat
    };
    #[allow(clippy::useless_conversion)]
    let available = u64::from(stat.f_bavail).saturating_mul(u64::from(stat.f_bsize)) / 4 * 3;
    i64::try_from(available).ok()
}

/// Go's `friendlyBytes`: `17.66 GB` (powers of 1024), `512 B`.
pub fn friendly_bytes(bytes: i64) -> String {
    let value = bytes as f64;
    if value < 1024.0 {
        return format!("{bytes} B");
    }
    let exponent = (value.ln() / 1024f64.ln()) as i32;
    let prefixes = ["K", "M", "G", "T", "P", "E"];
    let prefix = prefixes[(exponent - 1).clamp(0, 5) as usize];
    format!("{:.2} {prefix}B", value / 1024f64.powi(exponent))
}

fn go_duration(duration: Duration) -> String {
    natrix_jetstream::time::go_duration_string(
        i64::try_from(duration.as_nanos()).unwrap_or(i64::MAX),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn friendly_bytes_matches_go() {
        assert_eq!(friendly_bytes(512), "512 B");
        assert_eq!(friendly_bytes(1024), "1.00 KB");
        assert_eq!(friendly_bytes(1536 * 1024 * 1024), "1.50 GB");
        assert_eq!(friendly_bytes(18_962_202_624), "17.66 GB");
    }
}
