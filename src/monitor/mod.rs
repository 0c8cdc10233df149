//! The HTTP monitoring server (`-m`, `http_port`): the Go server's endpoints (`/varz`,
//! `/connz`, `/subsz`, `/routez`, `/accountz`, `/accstatz`, `/healthz`, `/jsz`), Natrix's `/shardz`
//! and a Prometheus `/metrics`.
//!
//! It runs on its own unpinned thread with a small current-thread tokio runtime (hyper), off
//! the data path. Each request that needs live state broadcasts `ControlMsg::Snapshot` to the
//! shards through the `ShardControl`; every shard answers from its own thread with a
//! plain-data snapshot over a channel, and the endpoint merges the answers. No shard state is
//! ever locked or read from this thread.
//!
//! Modules: `endpoints` (the JSON documents, in the Go server's shapes), `jsz` (JetStream,
//! from the shards' JetStream snapshots), `metrics` (the
//! Prometheus text format), `query` (query-string decoding with Go's error texts).

mod endpoints;
mod jsz;
mod metrics;
mod query;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::TcpListener;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use natrix_shards::lifecycle::{ControlMsg, ShardControl};
use natrix_shards::monitor::{ShardSnapshot, SnapshotRequest, SnapshotScope};

use crate::bootstrap::{CurrentConfig, ServedConfig};

/// How long a request waits for the shards' snapshots (they answer from their mesh task,
/// normally within microseconds; only a shard stuck in a long batch or shutting down is slow).
pub(crate) const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(2);

/// What the endpoints know about the server besides what shards report.
pub struct MonitorContext {
    /// The configuration the server runs with now (reloads replace it): INFO, options and
    /// accounts are read from it per request, never copied at start.
    pub config: Arc<CurrentConfig>,
    /// (shard, CPU) for every shard.
    pub pinning: Vec<(usize, usize)>,
    pub control: ShardControl,
    /// The address the monitor listens on, as `/varz` reports it.
    pub http_host: String,
    pub http_port: u16,
    /// The monitor serves HTTPS (`https_port`): `/varz` reports the port as `https_port`.
    pub secure: bool,
    pub base_path: String,
}

/// The monitoring server's state, shared by its request handlers (on the monitor thread and
/// its blocking pool only).
pub struct Monitor {
    context: MonitorContext,
    start: SystemTime,
    start_instant: Instant,
    /// Requests per endpoint path, as `/varz` `http_req_stats` reports them.
    request_counts: Mutex<BTreeMap<String, u64>>,
    /// The previous CPU sample, so `cpu` in `/varz` is the usage since the last request.
    process_cpu: Mutex<Option<(Instant, Duration)>>,
    shard_cpu: Mutex<Vec<Option<(Instant, Duration)>>>,
}

/// Starts the monitor thread on `listener`, which start-up bound (before the client port, as
/// the Go server does, so a port in use fails the start).
pub fn start(
    context: MonitorContext,
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> anyhow::Result<()> {
    listener.set_nonblocking(true)?;
    let bound = listener.local_addr()?;
    let shard_count = context.pinning.len();
    let monitor = Arc::new(Monitor {
        context: MonitorContext {
            http_port: bound.port(),
            ..context
        },
        start: SystemTime::now(),
        start_instant: Instant::now(),
        request_counts: Mutex::new(BTreeMap::new()),
        process_cpu: Mutex::new(None),
        shard_cpu: Mutex::new(vec![None; shard_count]),
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .max_blocking_threads(4)
        .thread_name("natrix-monitor")
        .build()
        .context("cannot start the monitoring runtime")?;
    std::thread::Builder::new()
        .name("natrix-monitor".into())
        .spawn(move || runtime.block_on(serve(monitor, listener, tls)))
        .context("cannot start the monitoring thread")?;
    Ok(())
}

async fn serve(
    monitor: Arc<Monitor>,
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
) {
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(error) => {
            tracing::error!("monitoring: cannot use the listener: {error}");
            return;
        }
    };
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::error!("monitoring: accept failed: {error}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let monitor = Arc::clone(&monitor);
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |request| handle(Arc::clone(&monitor), request));
            let builder = hyper::server::conn::http1::Builder::new();
            let served = match acceptor {
                // HTTPS: the handshake gets the Go server's TLS timeout too.
                Some(acceptor) => {
                    let handshake =
                        tokio::time::timeout(Duration::from_secs(2), acceptor.accept(stream)).await;
                    match handshake {
                        Ok(Ok(stream)) => {
                            builder
                                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                                .await
                        }
                        Ok(Err(error)) => {
                            tracing::debug!("monitoring: TLS handshake error: {error}");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!("monitoring: TLS handshake timeout");
                            return;
                        }
                    }
                }
                None => {
                    builder
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await
                }
            };
            if let Err(error) = served {
                tracing::debug!("monitoring: connection error: {error}");
            }
        });
    }
}

/// One HTTP reply: status, content type and body.
pub struct Reply {
    pub status: StatusCode,
    pub content_type: &'static str,
    pub body: String,
}

impl Reply {
    fn json(body: String) -> Reply {
        Reply {
            status: StatusCode::OK,
            content_type: "application/json",
            body,
        }
    }

    /// Go writes its decoding errors as plain text with status 400.
    fn bad_request(error: query::BadRequest) -> Reply {
        Reply {
            status: StatusCode::BAD_REQUEST,
            content_type: "text/plain; charset=utf-8",
            body: error.0,
        }
    }

    fn not_found() -> Reply {
        Reply {
            status: StatusCode::NOT_FOUND,
            content_type: "text/plain; charset=utf-8",
            body: "404 page not found\n".into(),
        }
    }
}

async fn handle(
    monitor: Arc<Monitor>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path().to_string();
    let query = request.uri().query().unwrap_or_default().to_string();
    // Endpoints wait for the shards on a blocking thread, so the runtime keeps serving.
    let reply = tokio::task::spawn_blocking(move || monitor.respond(&path, &query))
        .await
        .unwrap_or_else(|_| Reply {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            content_type: "text/plain; charset=utf-8",
            body: "internal error\n".into(),
        });
    let mut response = Response::new(Full::new(Bytes::from(reply.body)));
    *response.status_mut() = reply.status;
    let headers = response.headers_mut();
    headers.insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(reply.content_type),
    );
    headers.insert(
        hyper::header::ACCESS_CONTROL_ALLOW_ORIGIN,
        hyper::header::HeaderValue::from_static("*"),
    );
    Ok(response)
}

impl Monitor {
    /// Routes one request (after the base path) to its endpoint.
    fn respond(&self, path: &str, query_text: &str) -> Reply {
        let base = self.context.base_path.as_str();
        let Some(endpoint) = path.strip_prefix(base) else {
            return Reply::not_found();
        };
        let endpoint = if endpoint.is_empty() { "/" } else { endpoint };
        if !endpoint.starts_with('/') {
            return Reply::not_found();
        }
        let query = query::Query::parse(query_text);
        let known = matches!(
            endpoint,
            "/" | "/varz"
                | "/connz"
                | "/subsz"
                | "/subscriptionsz"
                | "/routez"
                | "/accountz"
                | "/accstatz"
                | "/healthz"
                | "/shardz"
                | "/jsz"
                | "/metrics"
        );
        if !known {
            return Reply::not_found();
        }
        self.count_request(endpoint);
        let result = match endpoint {
            "/" => Ok(endpoints::root(self)),
            "/varz" => Ok(endpoints::varz(self)),
            "/connz" => endpoints::connz(self, &query),
            "/subsz" | "/subscriptionsz" => endpoints::subsz(self, &query),
            "/routez" => endpoints::routez(self, &query),
            "/accountz" => endpoints::accountz(self, &query),
            "/accstatz" => endpoints::accstatz(self, &query),
            "/healthz" => endpoints::healthz(self, &query),
            "/shardz" => Ok(endpoints::shardz(self)),
            "/jsz" => jsz::jsz(self, &query),
            _ => Ok(metrics::metrics(self)),
        };
        result.unwrap_or_else(Reply::bad_request)
    }

    /// The configuration in effect now.
    fn config(&self) -> Arc<ServedConfig> {
        self.context.config.get()
    }

    fn count_request(&self, endpoint: &str) {
        if let Ok(mut counts) = self.request_counts.lock() {
            *counts.entry(endpoint.to_string()).or_insert(0) += 1;
        }
    }

    /// Asks every shard for a snapshot and waits for the answers (in shard order). A shard
    /// that does not answer in time (only during shutdown) is left out.
    pub fn gather(&self, scope: SnapshotScope) -> Vec<ShardSnapshot> {
        let (reply, replies) = mpsc::channel();
        self.context.control.broadcast(|| {
            ControlMsg::Snapshot(SnapshotRequest {
                scope,
                reply: reply.clone(),
            })
        });
        drop(reply);
        let deadline = Instant::now() + SNAPSHOT_TIMEOUT;
        let mut snapshots = Vec::with_capacity(self.context.pinning.len());
        while snapshots.len() < self.context.pinning.len() {
            let remaining = deadline.saturating_duration_since(Instant::now());
            match replies.recv_timeout(remaining) {
                Ok(snapshot) => snapshots.push(snapshot),
                Err(_) => break,
            }
        }
        snapshots.sort_by_key(|snapshot| snapshot.shard);
        snapshots
    }

    /// Per shard, the share of one CPU its thread used since the previous sample (since start
    /// for the first), in percent.
    fn shard_cpu_percent(&self, snapshots: &[ShardSnapshot]) -> Vec<f64> {
        let now = Instant::now();
        let Ok(mut previous) = self.shard_cpu.lock() else {
            return vec![0.0; snapshots.len()];
        };
        snapshots
            .iter()
            .map(|snapshot| {
                let index = usize::from(snapshot.shard);
                let used = snapshot.counters.cpu_time;
                let (since, before) = previous
                    .get(index)
                    .copied()
                    .flatten()
                    .unwrap_or((self.start_instant, Duration::ZERO));
                if let Some(slot) = previous.get_mut(index) {
                    *slot = Some((now, used));
                }
                percent(used.saturating_sub(before), now.duration_since(since))
            })
            .collect()
    }

    /// The process's CPU usage since the previous sample, in percent of one CPU (as Go's
    /// `cpu` in `/varz`), and its resident memory in bytes.
    fn process_usage(&self) -> (f64, i64) {
        let now = Instant::now();
        let used = process_cpu_time();
        let cpu = match self.process_cpu.lock() {
            Ok(mut previous) => {
                let (since, before) = previous.unwrap_or((self.start_instant, Duration::ZERO));
                *previous = Some((now, used));
                percent(used.saturating_sub(before), now.duration_since(since))
            }
            Err(_) => 0.0,
        };
        (cpu, resident_memory_bytes())
    }
}

/// `used` as a percentage of `elapsed`, rounded to two decimals.
fn percent(used: Duration, elapsed: Duration) -> f64 {
    if elapsed.is_zero() {
        return 0.0;
    }
    (used.as_secs_f64() / elapsed.as_secs_f64() * 10_000.0).round() / 100.0
}

fn process_cpu_time() -> Duration {
    // SAFETY: getrusage writes one rusage into the valid, exclusively borrowed `usage`.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above; RUSAGE_SELF is a valid target.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return Duration::ZERO;
    }
    let micros = |time: libc::timeval| {
        Duration::from_secs(u64::try_from(time.tv_sec).unwrap_or(0))
            + Duration::from_micros(u64::try_from(time.tv_usec).unwrap_or(0))
    };
    micros(usage.ru_utime) + micros(usage.ru_stime)
}

fn resident_memory_bytes() -> i64 {
    let Ok(statm) = std::fs::read_to_string("/proc/self/statm") else {
        return 0;
    };
    let resident_pages: i64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|field| field.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no memory effects.
    let page_size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    resident_pages.saturating_mul(page_size)
}

/// Go's `http_base_path` normalization: a leading slash, no trailing one ("" for the root).
pub fn normalize_base_path(base_path: Option<&str>) -> String {
    let trimmed = base_path.unwrap_or_default().trim_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("/{trimmed}")
    }
}
