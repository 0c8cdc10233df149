//! A shard's life on its runtime: [`run_shard`] starts its tasks (the accept loop, the mesh
//! task, the pinger, the outbox retry, the spinner) and returns once the shard has stopped;
//! the control plane's messages ([`ControlMsg`]) reload it, put it in lame duck mode, ask for
//! snapshots, run code on it, or stop it.
//!
//! Stopping is ordered so that nothing is lost and nothing lingers: the listener stops
//! accepting first (its pending accept completes before the socket is closed, so the port is
//! free once the process is gone), then every connection is closed after its writer has sent
//! everything it had queued, each write bounded by the write deadline as in the Go server;
//! what could not be delivered is logged.

use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use crate::client::CloseReason;
use crate::config::Configuration;
use crate::conn::pinger::run_pinger;
use crate::conn::serve;
use crate::local_sync::yield_now;
use crate::mesh::{self, ControlHandle, ControlReceiver, ShardEndpoints};
use crate::monitor::SnapshotRequest;
use crate::session::connect::recheck_after_reload;
use crate::shard::outbox::MESH_BATCH_LIMIT;
use crate::shard::{Shard, ShardMsg};

/// What the control plane (signals, reload, monitoring, tests) sends a shard.
pub enum ControlMsg {
    /// Stop accepting, flush and close every connection, and return from [`run_shard`].
    Shutdown,
    /// After SIGHUP: swap in the new configuration and check every connection against it.
    Reload(Arc<Configuration>),
    /// Lame duck mode (SIGUSR2): stop accepting, tell clients (INFO `ldm`), wait `grace`,
    /// then close this shard's clients spread over `spread`; report on `done` once they are
    /// gone.
    LameDuck {
        grace: Duration,
        spread: Duration,
        done: mpsc::Sender<()>,
    },
    /// Monitoring: answer with a snapshot of the shard's state.
    Snapshot(SnapshotRequest),
    /// Runs a function on the shard's thread with the shard itself: for control-plane work
    /// that needs a shard's own state, and for tests.
    Run(ShardTask),
}

impl std::fmt::Debug for ControlMsg {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(match self {
            ControlMsg::Shutdown => "Shutdown",
            ControlMsg::Reload(_) => "Reload",
            ControlMsg::LameDuck { .. } => "LameDuck",
            ControlMsg::Snapshot(_) => "Snapshot",
            ControlMsg::Run(_) => "Run",
        })
    }
}

/// Code the control plane runs on a shard's thread.
pub type ShardTask = Box<dyn FnOnce(&Rc<Shard>) + Send>;

/// The control plane's handle on every shard.
pub type ShardControl = ControlHandle<ControlMsg>;

/// Builds the mesh between `shard_count` shards, with `capacity` messages per queue, and the
/// control plane's queue into each.
pub fn build_mesh(
    shard_count: usize,
    capacity: usize,
) -> (Vec<ShardEndpoints<ShardMsg, ControlMsg>>, ShardControl) {
    mesh::build_mesh(shard_count, capacity)
}

/// Gives connections this long beyond the write deadline to hand their last bytes to the
/// kernel during shutdown, before they are logged as undelivered and dropped.
const SHUTDOWN_MARGIN: Duration = Duration::from_secs(1);

/// Starts the services a shard runs besides its connections (JetStream: the API service and
/// the streams this shard owns, recovered from disk). Call it on the shard's runtime before
/// [`run_shard`], so that streams capture publishes before the first client is accepted.
pub async fn start_services(shard: &Rc<Shard>) -> Result<(), crate::jetstream::JetStreamError> {
    crate::jetstream::start(shard).await
}

/// Runs a shard on the current compio runtime until it is told to shut down: accepts
/// connections on its own SO_REUSEPORT listener and serves them, handles the mesh and the
/// control plane, pings idle clients. Returns once every connection has closed (or its
/// writer ran out of time) and the listener is closed.
pub async fn run_shard(
    shard: Rc<Shard>,
    control: ControlReceiver<ControlMsg>,
    listener: std::net::TcpListener,
) -> std::io::Result<()> {
    run_shard_with_websocket(shard, control, listener, None).await
}

/// [`run_shard`], also accepting WebSocket clients on `websocket_listener` (the shard's
/// SO_REUSEPORT socket on the `websocket {}` port).
pub async fn run_shard_with_websocket(
    shard: Rc<Shard>,
    control: ControlReceiver<ControlMsg>,
    listener: std::net::TcpListener,
    websocket_listener: Option<std::net::TcpListener>,
) -> std::io::Result<()> {
    let listener = compio::net::TcpListener::from_std(listener)?;
    let websocket_listener = websocket_listener
        .map(compio::net::TcpListener::from_std)
        .transpose()?;
    compio::runtime::spawn(run_mesh(Rc::clone(&shard), control)).detach();
    compio::runtime::spawn(Rc::clone(&shard).run_outbox_retry()).detach();
    compio::runtime::spawn(run_pinger(Rc::clone(&shard))).detach();
    if !shard.config().options.tuning.spin_before_park.is_zero() {
        compio::runtime::spawn(run_spinner(Rc::clone(&shard))).detach();
    }
    accept_until_stopped(&shard, listener, websocket_listener).await;
    // Lame duck mode stops accepting long before the shard stops.
    if !shard.shutting_down.get() {
        shard.shutdown.notified().await;
    }
    drain_connections(&shard).await;
    crate::jetstream::shutdown(&shard).await;
    Ok(())
}

/// Accepts connections until lame duck mode or shutdown, then closes the listener with no
/// accept in flight: the socket is shut down for reading, which completes the pending accept
/// with an error, and only then dropped. An io_uring accept still in flight would keep the
/// socket (and the port) alive after the process has exited.
async fn accept_until_stopped(
    shard: &Rc<Shard>,
    listener: compio::net::TcpListener,
    websocket_listener: Option<compio::net::TcpListener>,
) {
    let fds: Vec<_> = std::iter::once(listener.as_raw_fd())
        .chain(websocket_listener.as_ref().map(AsRawFd::as_raw_fd))
        .collect();
    let stopping = Rc::new(std::cell::Cell::new(false));
    let stopper = {
        let shard = Rc::clone(shard);
        let stopping = Rc::clone(&stopping);
        compio::runtime::spawn(async move {
            shard.stop_accepting.notified().await;
            stopping.set(true);
            for fd in fds {
                // SAFETY: `fd` is an open listening socket: the accept loops below own the
                // listeners and close them only after this shutdown has made their accepts
                // return.
                unsafe {
                    libc::shutdown(fd, libc::SHUT_RDWR);
                }
            }
        })
    };
    let websocket_loop = websocket_listener.map(|websocket_listener| {
        compio::runtime::spawn(crate::conn::websocket::accept_websocket(
            Rc::clone(shard),
            websocket_listener,
            Rc::clone(&stopping),
        ))
    });
    loop {
        match listener.accept().await {
            Ok((stream, peer)) if !stopping.get() => {
                // An IPv4 client of a dual-stack listener is named by its IPv4 address, as the
                // Go server names it.
                let peer = std::net::SocketAddr::new(peer.ip().to_canonical(), peer.port());
                compio::runtime::spawn(serve(Rc::clone(shard), stream, peer)).detach();
            }
            // A connection accepted as the listener stopped is closed unserved, as a
            // closed listener would have refused it.
            Ok(_) => break,
            Err(_) if stopping.get() => break,
            Err(error) => {
                // Typically EMFILE: back off instead of spinning, as the Go server does.
                tracing::error!("Error accepting client connection: {error}");
                compio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    drop(listener);
    if let Some(websocket_loop) = websocket_loop {
        let _ = websocket_loop.await;
    }
    let _ = stopper.await;
}

/// Waits until every connection has closed after sending what it had queued, for at most the
/// write deadline (plus a margin); logs what could not be delivered.
async fn drain_connections(shard: &Rc<Shard>) {
    let limit = shard.config().options.write_deadline + SHUTDOWN_MARGIN;
    let drained = async {
        while !shard.clients.borrow().is_empty() {
            compio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    if compio::time::timeout(limit, drained).await.is_ok() {
        return;
    }
    for client in shard.client_list() {
        let pending = client.outbound.borrow().pending_bytes();
        tracing::warn!(
            "{} - Shutdown: connection closed with {pending} bytes not delivered",
            client.log_prefix()
        );
    }
}

/// Handles messages from other shards and from the control plane until the runtime stops.
async fn run_mesh(shard: Rc<Shard>, control: ControlReceiver<ControlMsg>) {
    loop {
        while let Some(msg) = control.try_recv() {
            handle_control(&shard, msg);
        }
        if shard.input_paused() {
            // A busy stream pushes back on the other shards' publishers: their messages wait
            // in the mesh queues (then in their outboxes, then in their sockets) until it has
            // room. The control queue is still served, every millisecond.
            let _ = compio::time::timeout(
                std::time::Duration::from_millis(1),
                shard.wait_for_input_room(),
            )
            .await;
            continue;
        }
        let handled = shard.handle_incoming(MESH_BATCH_LIMIT);
        shard.flush_dirty();
        shard.flush_outboxes();
        if handled > 0 {
            shard.note_activity();
        }
        if handled == MESH_BATCH_LIMIT {
            yield_now().await;
            continue;
        }
        std::future::poll_fn(|context| {
            shard
                .mesh
                .borrow()
                .poll_incoming(context, || control.has_pending())
        })
        .await;
    }
}

fn handle_control(shard: &Rc<Shard>, msg: ControlMsg) {
    match msg {
        ControlMsg::Shutdown => begin_shutdown(shard),
        ControlMsg::Reload(configuration) => apply_reload(shard, &configuration),
        ControlMsg::LameDuck {
            grace,
            spread,
            done,
        } => enter_lame_duck(shard, grace, spread, done),
        ControlMsg::Snapshot(request) => shard.answer_snapshot(request),
        ControlMsg::Run(function) => function(shard),
    }
}

/// Stops accepting and closes every connection; each writer first sends what is queued.
fn begin_shutdown(shard: &Rc<Shard>) {
    if shard.shutting_down.replace(true) {
        return;
    }
    shard.stop_accepting.notify();
    for client in shard.client_list() {
        shard.close_client(&client, CloseReason::ServerShutdown);
    }
    shard.flush_dirty();
    shard.shutdown.notify();
}

/// Swaps in a reloaded configuration, then checks every connection against it: the Go
/// server authenticates each client again and re-checks its subscriptions.
fn apply_reload(shard: &Rc<Shard>, configuration: &Configuration) {
    shard.set_config(configuration);
    for client in shard.client_list() {
        recheck_after_reload(shard, &client);
    }
    shard.flush_dirty();
}

/// Lame duck mode, as the Go server does it: no new connections, an INFO with `ldm: true` to
/// every client that takes INFO updates, then after `grace` the clients are closed one by one
/// over `spread` (at most a second apart), and `done` is told.
fn enter_lame_duck(shard: &Rc<Shard>, grace: Duration, spread: Duration, done: mpsc::Sender<()>) {
    if shard.lame_duck.replace(true) {
        return;
    }
    shard.stop_accepting.notify();
    let mut info = shard.config().info.clone();
    info.ldm = true;
    for client in shard.client_list() {
        if client.takes_async_info() {
            shard.send_info_update(&client, info.clone());
        }
    }
    shard.flush_dirty();
    let shard = Rc::clone(shard);
    compio::runtime::spawn(async move {
        compio::time::sleep(grace).await;
        let clients = shard.client_list();
        let interval = if clients.is_empty() {
            Duration::ZERO
        } else {
            (spread / clients.len() as u32).min(Duration::from_secs(1))
        };
        for (index, client) in clients.iter().enumerate() {
            if shard.shutting_down.get() {
                break;
            }
            shard.close_client(client, CloseReason::ServerShutdown);
            shard.flush_dirty();
            if index + 1 < clients.len() && !interval.is_zero() {
                // A random pause of at least half the interval, as in Go, so that clients of
                // several servers in lame duck mode do not reconnect in lockstep.
                let half = interval / 2;
                let jitter = shard.random_below(half.as_nanos().max(1) as u64);
                compio::time::sleep(half + Duration::from_nanos(jitter)).await;
            }
        }
        let _ = done.send(());
    })
    .detach();
}

/// Keeps the runtime polling (instead of sleeping in the kernel) for the spin-before-park
/// window after the last work: a runnable task makes compio poll io_uring without waiting,
/// so a completion or a queued message is picked up without a wake-up, which costs tens of
/// microseconds on a VM. Spawned only when the window is not zero.
async fn run_spinner(shard: Rc<Shard>) {
    let window = shard.config().options.tuning.spin_before_park;
    while !shard.shutting_down.get() {
        shard.activity.notified().await;
        while shard.last_activity.get().elapsed() < window && !shard.shutting_down.get() {
            yield_now().await;
            shard.poll_mesh_while_spinning();
        }
    }
}
