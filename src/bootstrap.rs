//! Start-up: checks the host, binds one listener per shard on the client port (see `listen`),
//! builds the mesh and starts one pinned thread per shard, each with its own compio (io_uring)
//! runtime.

use std::net::SocketAddr;
use std::sync::{mpsc, Arc, RwLock};
use std::thread::JoinHandle;
use std::time::SystemTime;

use anyhow::{anyhow, bail, Context};
use natrix_shards::account::AccountTable;
use natrix_shards::config::Configuration;
use natrix_shards::lifecycle::{
    build_mesh, run_shard_with_websocket, start_services, ControlMsg, ShardControl,
};
use natrix_shards::options::ServerOptions;
use natrix_shards::protocol::ServerInfo;
use natrix_shards::shard::{Shard, SharedState, MAX_SHARDS};
use natrix_shards::websocket::WebsocketConfig;
use rand::Rng;

use crate::listen;

/// The Go server release whose client-visible behavior Natrix matches; INFO reports it as
/// `version` because clients gate features on it.
pub const GO_COMPATIBLE_VERSION: &str = "2.14.0";

/// The commit this binary was built from (7 hex digits, see `build.rs`); empty when it was
/// built outside git. `/varz` reports it as `git_commit`, the start-up log as `Git:`.
pub const GIT_COMMIT: &str = env!("NATRIX_GIT_COMMIT");

/// The Go server's feature flags with their defaults (nats-server 2.15.1, the release the
/// differential tests run). They select JetStream and RAFT wire formats Natrix does not have
/// yet; `/varz` reports them as Go does, with the config file's `feature_flags {}` applied.
pub const GO_FEATURE_FLAGS: &[(&str, bool)] = &[
    ("js_ack_fc_v2", false),
    ("js_api_reply_v2", false),
    ("js_raft_delete_range", true),
    ("js_snapshot_sources", false),
];

/// Go's `getMergedFeatureFlags`: every known flag, the file's value where it sets one.
pub fn merged_feature_flags(options: &ServerOptions) -> std::collections::BTreeMap<String, bool> {
    GO_FEATURE_FLAGS
        .iter()
        .map(|(name, default)| {
            let value = options
                .feature_flags
                .get(*name)
                .copied()
                .unwrap_or(*default);
            (name.to_string(), value)
        })
        .collect()
}

/// A started server: its shard threads and the handle that stops them.
pub struct RunningServer {
    /// The client listeners' bound address (its port is the one clients use).
    pub address: SocketAddr,
    /// `host:port` as the Go server logs it: the configured host and the bound port.
    pub listen_host_port: String,
    pub server_id: String,
    pub server_name: String,
    /// (shard, CPU) for every shard, for the start-up log and for tests.
    pub pinning: Vec<(usize, usize)>,
    /// Where the monitor listens, if it runs.
    pub monitor: Option<MonitorEndpoint>,
    /// The WebSocket listeners' bound address and scheme (`ws`/`wss`), if they run.
    pub websocket: Option<(SocketAddr, &'static str)>,
    threads: Vec<JoinHandle<()>>,
    control: ShardControl,
    /// What the server was started or last reloaded with; the monitor reads it too.
    config: Arc<CurrentConfig>,
}

/// The configuration the server runs with now, for the control plane: what start-up built,
/// replaced whole by each reload. The main thread writes it (start, reload); the monitor
/// thread reads it once per request. Shards never touch it: each has its own `ShardConfig`,
/// swapped by `ControlMsg::Reload`. The lock is off the data path (see ARCHITECTURE.md).
pub struct CurrentConfig(RwLock<Arc<ServedConfig>>);

/// One configuration as the control plane sees it.
pub struct ServedConfig {
    /// Options, INFO template, accounts and TLS, as the shards got them.
    pub settings: Arc<Configuration>,
    /// When it was loaded (`/varz` `config_load_time`).
    pub loaded_at: SystemTime,
    /// When the client port's certificate expires (`/varz` `tls_cert_not_after`).
    pub tls_cert_not_after: Option<SystemTime>,
    /// When the WebSocket port's certificate expires (`/varz` `websocket.tls_cert_not_after`).
    pub websocket_cert_not_after: Option<SystemTime>,
}

impl CurrentConfig {
    fn new(settings: Arc<Configuration>) -> CurrentConfig {
        CurrentConfig(RwLock::new(Arc::new(ServedConfig::new(settings))))
    }

    /// The configuration in effect (a cheap `Arc` clone; the lock is held only for it).
    pub fn get(&self) -> Arc<ServedConfig> {
        // A writer cannot panic while it holds the lock (it only assigns an `Arc`).
        Arc::clone(
            &self
                .0
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        )
    }

    fn replace(&self, settings: Arc<Configuration>) {
        let served = Arc::new(ServedConfig::new(settings));
        *self
            .0
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = served;
    }
}

impl ServedConfig {
    fn new(settings: Arc<Configuration>) -> ServedConfig {
        let tls_cert_not_after = settings
            .options
            .tls
            .as_ref()
            .and_then(|tls| tls.certificate_not_after());
        let websocket_cert_not_after = settings
            .options
            .websocket
            .as_ref()
            .and_then(|websocket| websocket.tls.as_ref())
            .and_then(|tls| tls.certificate_not_after());
        ServedConfig {
            settings,
            loaded_at: SystemTime::now(),
            tls_cert_not_after,
            websocket_cert_not_after,
        }
    }
}

impl RunningServer {
    /// Prepares a reloaded configuration: checks that only what the Go server can reload
    /// changed, and builds the new accounts, TLS and INFO.
    pub fn prepare_reload(&self, options: ServerOptions) -> anyhow::Result<Arc<Configuration>> {
        let current = self.config.get();
        check_reloadable(&current.settings.options, &options)?;
        let tls = checked_tls_and_auth(&options)?;
        let accounts = Arc::new(
            AccountTable::rebuild(&options, &current.settings.accounts)
                .map_err(|error| anyhow!("{error}"))?,
        );
        let info = server_info(
            &options,
            &self.server_id,
            &self.server_name,
            self.address.port(),
        );
        Ok(Arc::new(Configuration {
            options: Arc::new(options),
            info,
            accounts,
            tls,
            websocket: current.settings.websocket.clone(),
            jetstream: current.settings.jetstream.clone(),
        }))
    }

    /// Whether JetStream runs.
    pub fn jetstream_enabled(&self) -> bool {
        self.config.get().settings.jetstream.is_some()
    }

    /// Lame duck mode: every shard stops accepting and closes its clients over the configured
    /// duration. The receiver yields once per shard that has closed its clients.
    pub fn enter_lame_duck(&self) -> mpsc::Receiver<()> {
        let options = self.options();
        let grace = options.lame_duck_grace_period;
        let spread = options
            .lame_duck_duration
            .checked_sub(grace)
            .filter(|spread| !spread.is_zero())
            .unwrap_or(std::time::Duration::from_secs(1));
        let (done, finished) = mpsc::channel();
        self.control.broadcast(|| ControlMsg::LameDuck {
            grace,
            spread,
            done: done.clone(),
        });
        finished
    }

    /// Whether clients must use TLS, with the options the server runs with now.
    pub fn tls_required(&self) -> bool {
        tls_required(&self.options())
    }

    /// The options in effect now.
    fn options(&self) -> Arc<ServerOptions> {
        Arc::clone(&self.config.get().settings.options)
    }

    pub fn shard_count(&self) -> usize {
        self.pinning.len()
    }

    pub fn lame_duck_grace_period(&self) -> std::time::Duration {
        self.options().lame_duck_grace_period
    }

    pub fn lame_duck_duration(&self) -> std::time::Duration {
        self.options().lame_duck_duration
    }

    /// Hands a prepared reload to every shard, and to the control plane.
    pub fn commit_reload(&mut self, reload: Arc<Configuration>) {
        self.control
            .broadcast(|| ControlMsg::Reload(Arc::clone(&reload)));
        self.config.replace(reload);
    }

    /// Asks every shard to flush and close its connections, and waits for them to exit.
    pub fn shutdown(self) {
        self.control.broadcast(|| ControlMsg::Shutdown);
        for thread in self.threads {
            // A shard that panicked has already taken the process down (see main's panic hook).
            let _ = thread.join();
        }
    }
}

/// The Go server refuses a reload that changes options it can only take at start; so does
/// Natrix, naming the option as Go does (`config reload not supported for Port: ...`).
fn check_reloadable(old: &ServerOptions, new: &ServerOptions) -> anyhow::Result<()> {
    let fixed = [
        ("Host", old.host.clone(), new.host.clone()),
        ("Port", old.port.to_string(), new.port.to_string()),
        (
            "ServerName",
            old.server_name.clone(),
            new.server_name.clone(),
        ),
        (
            "tuning",
            format!("{:?}", old.tuning),
            format!("{:?}", new.tuning),
        ),
        // The WebSocket listener is started once; Go refuses any change to its block.
        (
            "Websocket",
            format!("{:?}", old.websocket),
            format!("{:?}", new.websocket),
        ),
        // The monitor is started once; the Go server refuses these changes too.
        (
            "monitoring",
            format!("{:?}", old.monitoring),
            format!("{:?}", new.monitoring),
        ),
        // JetStream's settings are fixed at start (as most are in the Go server).
        (
            "JetStream",
            format!("{:?}", old.jetstream),
            format!("{:?}", new.jetstream),
        ),
        (
            "JetStream account limits",
            format!("{:?}", jetstream_limits(old)),
            format!("{:?}", jetstream_limits(new)),
        ),
    ];
    for (name, old_value, new_value) in fixed {
        if old_value != new_value {
            bail!("config reload not supported for {name}: old={old_value}, new={new_value}");
        }
    }
    Ok(())
}

/// The accounts with JetStream enabled and their limits; accounts without JetStream may come
/// and go with a reload.
fn jetstream_limits(
    options: &ServerOptions,
) -> Vec<(&str, &natrix_shards::options::AccountJetStreamLimits)> {
    options
        .accounts
        .iter()
        .filter_map(|account| Some((account.name.as_str(), account.jetstream.as_ref()?)))
        .collect()
}

/// Fails with a clear message when this kernel or sandbox cannot run io_uring.
pub fn check_io_uring() -> anyhow::Result<()> {
    compio::runtime::Runtime::new().map(drop).map_err(|error| {
        anyhow!(
            "io_uring is not usable here ({error}). Natrix needs Linux 5.11 or newer with \
             io_uring enabled (see /proc/sys/kernel/io_uring_disabled, container seccomp \
             profiles and RLIMIT_MEMLOCK)"
        )
    })
}

/// A shard's runtime: an io_uring ring set up for one thread that alone submits to it.
///
/// `single_issuer` + `defer_taskrun` make the kernel run completion work only when the shard
/// asks for completions, instead of interrupting the thread for every finished socket
/// operation (which the default does with a signal-like task-work notification); that matters
/// most for request/reply, where every message is a few socket operations. Kernels older than
/// 6.1 refuse these flags: the ring is then built with the defaults.
fn shard_runtime(entries: Option<u32>) -> std::io::Result<compio::runtime::Runtime> {
    let mut tuned = compio::driver::ProactorBuilder::new();
    tuned
        .single_issuer(true)
        .defer_taskrun(true)
        .coop_taskrun(true);
    if let Some(entries) = entries {
        tuned.capacity(entries);
    }
    match compio::runtime::Runtime::builder()
        .with_proactor(tuned)
        .build()
    {
        Ok(runtime) => Ok(runtime),
        Err(error) => {
            tracing::warn!("io_uring: tuned ring refused ({error}), using default flags");
            let mut plain = compio::driver::ProactorBuilder::new();
            if let Some(entries) = entries {
                plain.capacity(entries);
            }
            compio::runtime::Runtime::builder()
                .with_proactor(plain)
                .build()
        }
    }
}

/// The CPUs shards are pinned to, in shard order.
fn shard_cpus(options: &ServerOptions) -> anyhow::Result<Vec<usize>> {
    let available: Vec<usize> = core_affinity::get_core_ids()
        .unwrap_or_default()
        .into_iter()
        .map(|core| core.id)
        .collect();
    if available.is_empty() {
        bail!("could not read the CPUs this process may run on");
    }
    let cpus = match &options.tuning.cpus {
        Some(cpus) => {
            if let Some(missing) = cpus.iter().find(|cpu| !available.contains(cpu)) {
                bail!("CPU {missing} in the CPU list is not available to this process (available: {available:?})");
            }
            cpus.clone()
        }
        None => {
            let usable: Vec<usize> = available
                .iter()
                .copied()
                .filter(|cpu| !options.tuning.avoid_cpus.contains(cpu))
                .collect();
            if usable.is_empty() {
                bail!(
                    "tuning.avoid_cpus leaves no CPU to run shards on (available: {available:?})"
                );
            }
            usable
        }
    };
    let shard_count = options
        .tuning
        .shards
        .unwrap_or(cpus.len())
        .clamp(1, MAX_SHARDS);
    Ok((0..shard_count)
        .map(|shard| cpus[shard % cpus.len()])
        .collect())
}

/// A random id in the shape of the Go server's (56 base32 characters starting with N).
fn new_server_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut random = rand::rng();
    std::iter::once('N')
        .chain((0..55).map(|_| char::from(ALPHABET[random.random_range(0..ALPHABET.len())])))
        .collect()
}

/// The INFO template for these options (per-connection fields are filled by the shard).
fn server_info(
    options: &ServerOptions,
    server_id: &str,
    server_name: &str,
    port: u16,
) -> ServerInfo {
    ServerInfo {
        server_id: server_id.to_string(),
        server_name: server_name.to_string(),
        version: GO_COMPATIBLE_VERSION.to_string(),
        proto: 1,
        go: format!("natrix {}", env!("CARGO_PKG_VERSION")),
        host: options.host.clone(),
        port,
        headers: true,
        tls_required: tls_required(options),
        tls_verify: options
            .tls
            .as_ref()
            .is_some_and(|tls| tls.requires_client_certificate()),
        tls_available: options.tls.as_ref().is_some_and(|tls| tls.allow_non_tls),
        // As in the Go server, a `no_auth_user` makes INFO say auth is not required (clients
        // without credentials are let in as that user).
        // Operator mode always requires a user JWT.
        auth_required: (options.auth.required() && options.auth.no_auth_user.is_none())
            || options.operator.is_some(),
        max_payload: options.max_payload,
        client_id: 0,
        client_ip: String::new(),
        nonce: String::new(),
        ldm: false,
        connect_info: false,
        remote_account: String::new(),
        account_is_system: false,
    }
}

/// Whether clients must use TLS (INFO's `tls_required`): Go requires it unless
/// `allow_non_tls`, which advertises `tls_available` instead.
fn tls_required(options: &ServerOptions) -> bool {
    options
        .tls
        .as_ref()
        .is_some_and(|tls| !tls.allow_non_tls || tls.handshake_first)
}

/// What start and reload check before anything runs: the auth options, and the TLS
/// configuration built from the certificate files.
fn checked_tls_and_auth(
    options: &ServerOptions,
) -> anyhow::Result<Option<Arc<rustls::ServerConfig>>> {
    natrix_shards::auth::validate(&options.auth).map_err(|error| anyhow!(error))?;
    match &options.tls {
        Some(settings) => Ok(Some(settings.server_config().context("TLS configuration")?)),
        None => Ok(None),
    }
}

/// The `websocket {}` block checked as the Go server's `validateWebsocketOptions` does, with
/// its TLS configuration built; `None` without a WebSocket port. The port is the configured
/// one until the listeners are bound.
fn checked_websocket(options: &ServerOptions) -> anyhow::Result<Option<WebsocketConfig>> {
    let Some(websocket) = &options.websocket else {
        return Ok(None);
    };
    WebsocketConfig::build(websocket, websocket.port, &options.auth)
        .map(Some)
        .map_err(|error| anyhow!(error))
}

/// A start-up failure the Go server reports with `Fatalf` (`[FTL]` in its log), in its words.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Fatal(pub String);

/// Starts the shards. Returns once every shard is accepting connections.
pub fn start(options: ServerOptions) -> anyhow::Result<RunningServer> {
    let tls = checked_tls_and_auth(&options)?;
    let websocket = checked_websocket(&options)?;
    crate::jetstream::validate(&options)?;
    check_io_uring()?;
    let cpus = shard_cpus(&options)?;
    let shard_count = cpus.len();
    // As in the Go server, the monitor's port is taken before the client port, so a busy
    // monitoring port stops the start before any client can connect.
    let monitor_listener = bind_monitor(&options, tls.as_ref())?;
    // Then the WebSocket port, also before the client port (Go's `startWebsocketServer`).
    let (websocket, websocket_listeners): (_, Vec<Option<std::net::TcpListener>>) = match websocket
    {
        Some(mut websocket) => {
            let listeners = listen::bind_shard_listeners(
                &websocket.options.host,
                websocket.options.port,
                shard_count,
            )
            .map_err(|error| {
                Fatal(format!(
                    "Unable to listen for websocket connections: {error}"
                ))
            })?;
            websocket.port = listeners[0].local_addr()?.port();
            (
                Some(Arc::new(websocket)),
                listeners.into_iter().map(Some).collect(),
            )
        }
        None => (
            None,
            std::iter::repeat_with(|| None).take(shard_count).collect(),
        ),
    };
    let websocket_endpoint = match (&websocket, websocket_listeners.first()) {
        (Some(websocket), Some(Some(listener))) => {
            Some((listener.local_addr()?, websocket.scheme()))
        }
        _ => None,
    };
    let listeners = listen::bind_shard_listeners(&options.host, options.port, shard_count)
        .map_err(|error| {
            Fatal(format!(
                "Error listening on port: {}, {:?}",
                listen::join_host_port(&options.host, options.port),
                error.to_string()
            ))
        })?;
    let address = listeners[0].local_addr()?;
    let listen_host_port = listen::join_host_port(&options.host, address.port());

    let server_id = new_server_id();
    let server_name = if options.server_name.is_empty() {
        server_id.clone()
    } else {
        options.server_name.clone()
    };
    tracing::info!("  Name:     {server_name}");
    tracing::info!("  ID:       {server_id}");
    let info = server_info(&options, &server_id, &server_name, address.port());
    let accounts = Arc::new(AccountTable::build(&options).map_err(|error| anyhow!("{error}"))?);
    let jetstream_started = std::time::Instant::now();
    let jetstream =
        crate::jetstream::start(&options, &accounts, &server_name, GO_COMPATIBLE_VERSION)?
            .map(Arc::new);
    let initial = Arc::new(Configuration {
        options: Arc::new(options),
        info,
        accounts,
        tls,
        websocket,
        jetstream,
    });
    let shared = Arc::new(SharedState::default());
    let options = Arc::clone(&initial.options);
    let (endpoints, control) = build_mesh(shard_count, options.tuning.mesh_queue_capacity);
    let (ready_sender, ready_receiver) = mpsc::channel::<Result<usize, String>>();
    let mut threads = Vec::with_capacity(shard_count);
    for ((((mesh, control_receiver), listener), websocket_listener), cpu) in endpoints
        .into_iter()
        .zip(listeners)
        .zip(websocket_listeners)
        .zip(cpus.iter().copied())
    {
        let initial = Arc::clone(&initial);
        let shared = Arc::clone(&shared);
        let ready = ready_sender.clone();
        let entries = options.tuning.io_uring_entries;
        let shard_index = usize::from(mesh.shard);
        let thread = std::thread::Builder::new()
            .name(format!("natrix-shard-{shard_index}"))
            .spawn(move || {
                if !core_affinity::set_for_current(core_affinity::CoreId { id: cpu }) {
                    let _ =
                        ready.send(Err(format!("shard {shard_index}: cannot pin to CPU {cpu}")));
                    return;
                }
                let runtime = match shard_runtime(entries) {
                    Ok(runtime) => runtime,
                    Err(error) => {
                        let _ = ready.send(Err(format!("shard {shard_index}: io_uring: {error}")));
                        return;
                    }
                };
                let shard = Shard::new(mesh, &initial, shared);
                let result = runtime.block_on(async {
                    // Streams are recovered before the shard accepts its first client.
                    if let Err(error) = start_services(&shard).await {
                        let _ = ready.send(Err(format!("Can't start JetStream: {error}")));
                        return Ok(());
                    }
                    let _ = ready.send(Ok(shard_index));
                    run_shard_with_websocket(shard, control_receiver, listener, websocket_listener)
                        .await
                });
                if let Err(error) = result {
                    tracing::error!("shard {shard_index} stopped: {error}");
                }
            })
            .context("cannot start a shard thread")?;
        threads.push(thread);
    }
    drop(ready_sender);
    for _ in 0..shard_count {
        match ready_receiver.recv() {
            Ok(Ok(_)) => {}
            Ok(Err(message)) => return Err(Fatal(message).into()),
            Err(_) => bail!("a shard thread exited during start-up"),
        }
    }
    if initial.jetstream.is_some() {
        let took = i64::try_from(jetstream_started.elapsed().as_nanos()).unwrap_or(i64::MAX);
        tracing::info!(
            "Took {} to start JetStream",
            natrix_jetstream::time::go_duration_string(took)
        );
    }
    let pinning: Vec<(usize, usize)> = cpus.into_iter().enumerate().collect();
    let config = Arc::new(CurrentConfig::new(initial));
    let monitor = match monitor_listener {
        Some(listener) => Some(start_monitor(listener, &config, &pinning, &control)?),
        None => None,
    };
    Ok(RunningServer {
        address,
        listen_host_port,
        server_id,
        server_name,
        pinning,
        monitor,
        websocket: websocket_endpoint,
        threads,
        control,
        config,
    })
}

/// Where the monitor listens.
pub struct MonitorEndpoint {
    /// `host:port` as the Go server logs it.
    pub host_port: String,
    pub bound: SocketAddr,
    pub https: bool,
}

/// The monitoring port, bound, with what the monitor needs to serve it.
struct MonitorListener {
    listener: std::net::TcpListener,
    /// The host `/varz` reports and the log names (Go: the client host by default).
    host: String,
    tls: Option<Arc<rustls::ServerConfig>>,
}

/// Binds the monitoring port when `-m`/`http_port` (or `-ms`/`https_port`) asks for it, with
/// the Go server's rules and fatal texts (port -1 is a random port, the host defaults to the
/// client listener's, one of HTTP and HTTPS, HTTPS with the server's TLS configuration).
fn bind_monitor(
    options: &ServerOptions,
    tls: Option<&Arc<rustls::ServerConfig>>,
) -> anyhow::Result<Option<MonitorListener>> {
    let fatal = |reason: String| Fatal(format!("Can't start monitoring: {reason}"));
    let monitoring = &options.monitoring;
    let http = monitoring.http_port.filter(|&port| port != 0);
    let https = monitoring.https_port.filter(|&port| port != 0);
    let (port, tls) = match (http, https) {
        (None, None) => return Ok(None),
        (Some(http), Some(https)) => Err(fatal(format!(
            "can't specify both HTTP ({http}) and HTTPs ({https}) ports"
        )))?,
        (Some(port), None) => (port, None),
        (None, Some(port)) => match tls {
            Some(config) => (port, Some(Arc::clone(config))),
            None => Err(fatal("TLS cert and key required for HTTPS".into()))?,
        },
    };
    let port = match port {
        -1 => 0,
        port => u16::try_from(port).map_err(|_| anyhow!("invalid monitoring port {port}"))?,
    };
    let host = monitoring
        .host
        .clone()
        .filter(|host| !host.is_empty())
        .unwrap_or_else(|| options.host.clone());
    let listener = listen::bind_single(&host, port)
        .map_err(|error| fatal(format!("can't listen to the monitor port: {error}")))?;
    Ok(Some(MonitorListener {
        listener,
        host,
        tls,
    }))
}

/// Starts the monitor thread on its bound port; returns where it listens.
fn start_monitor(
    bound: MonitorListener,
    config: &Arc<CurrentConfig>,
    pinning: &[(usize, usize)],
    control: &ShardControl,
) -> anyhow::Result<MonitorEndpoint> {
    let base_path = config.get().settings.options.monitoring.base_path.clone();
    let address = bound.listener.local_addr()?;
    let port = address.port();
    let secure = bound.tls.is_some();
    let context = crate::monitor::MonitorContext {
        config: Arc::clone(config),
        pinning: pinning.to_vec(),
        control: control.clone(),
        http_host: bound.host.clone(),
        http_port: port,
        secure,
        base_path: crate::monitor::normalize_base_path(base_path.as_deref()),
    };
    crate::monitor::start(context, bound.listener, bound.tls)?;
    Ok(MonitorEndpoint {
        host_port: listen::join_host_port(&bound.host, port),
        bound: address,
        https: secure,
    })
}
