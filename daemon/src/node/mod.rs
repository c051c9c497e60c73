//! The three ways to run a node: embedded (`serve`), and split into a store
//! process and a daemon process that talk over a Unix socket.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use epochd_hooks::{ConnectOptions, DispatchOptions, Wake};
use epochd_store::{Store, StoreConfig};
use tokio::net::{TcpListener, TcpSocket};

use crate::api::connections::{self, HttpLimits};
use crate::api::{router, AppState, Auth};
use crate::pipeline::{Daemon, DaemonConfig, Source};
use crate::registry::load_jobs_dir;
use crate::shutdown::shutdown_signal;
use crate::traffic::DemoTraffic;

/// Opens the store and wires its commits to the hook dispatcher's wake-up.
fn open_store(config: StoreConfig) -> anyhow::Result<(Arc<Store>, Wake)> {
    let dir = config.data_dir.clone();
    let store =
        Store::open(config).with_context(|| format!("opening the store in {}", dir.display()))?;
    let wake = Wake::new();
    let on_commit = wake.clone();
    store.on_commit(Box::new(move |_| on_commit.wake()));
    Ok((Arc::new(store), wake))
}

/// Binds an API address: a long accept queue, so that hundreds of
/// subscribers reconnecting at once (after a restart) are not refused.
async fn bind(listen: SocketAddr) -> anyhow::Result<(TcpListener, SocketAddr)> {
    let socket = if listen.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket
        .bind(listen)
        .with_context(|| format!("binding the HTTP API to {listen}"))?;
    let listener = socket.listen(4096)?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}

/// Bytes the kernel may hold for one connection's unsent answers. Bounded
/// so that a subscriber that stops reading falls behind (and gets its
/// stream's `end`) after a quarter MiB, instead of after megabytes of kernel
/// memory per connection; ample for answers on a LAN.
const SEND_BUFFER_BYTES: usize = 256 << 10;

/// Serves the API on `listener` until `shutdown` resolves, within
/// `limits` (connection cap, header and idle timeout); then live streams
/// are told to end (`stop`), and open connections get a few seconds to
/// finish.
async fn serve_http(
    listener: TcpListener,
    state: AppState,
    stop: tokio::sync::watch::Sender<bool>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    limits: HttpLimits,
) {
    let stats = state.connections.clone();
    let shutdown = async move {
        shutdown.await;
        let _ = stop.send(true);
    };
    connections::serve(
        listener,
        router(state),
        limits,
        stats,
        shutdown,
        Duration::from_secs(5),
        |tcp| {
            let _ = tcp.set_nodelay(true);
            if let Err(e) =
                rustix::net::sockopt::set_socket_send_buffer_size(tcp, SEND_BUFFER_BYTES)
            {
                tracing::debug!(error = %e, "could not bound a connection's send buffer");
            }
        },
    )
    .await;
}

/// The API's state and the switch that ends its live streams.
fn stop_switch() -> (
    tokio::sync::watch::Sender<bool>,
    tokio::sync::watch::Receiver<bool>,
) {
    tokio::sync::watch::channel(false)
}

/// Binds `listen` and prints the address it got.
async fn bind_and_say(listen: SocketAddr) -> anyhow::Result<(TcpListener, SocketAddr)> {
    let (listener, local) = bind(listen).await?;
    // The first line on stdout: scripts and tests read the address from it.
    println!("epochd: listening on http://{local}");
    tracing::info!(%local, "HTTP API listening");
    Ok((listener, local))
}

/// Binds `listen`, prints the address, and serves until Ctrl-C or SIGTERM.
async fn listen_and_serve(
    listen: SocketAddr,
    state: AppState,
    stop: tokio::sync::watch::Sender<bool>,
    limits: HttpLimits,
) -> anyhow::Result<()> {
    let (listener, _) = bind_and_say(listen).await?;
    serve_http(listener, state, stop, shutdown_signal(), limits).await;
    Ok(())
}

/// A cluster for the node to join once its API listens (docs/CLUSTER.md).
pub struct ClusterJoin {
    /// Where and as whom.
    pub config: epochd_cluster::MembershipConfig,
    /// The URL it registers is made of the address it listens on (no
    /// `--advertise-url`): known only once bound.
    pub url_from_listen: bool,
    /// How far ahead job changes take effect, seconds
    /// (`--cluster-job-lead-secs`).
    pub job_lead_secs: u64,
    /// How long the gateway waits for an epoch's last nodes
    /// (`--gateway-wait-ms`); `None`: each job's deadline plus a margin.
    pub gateway_wait: Option<Duration>,
}

impl ClusterJoin {
    async fn join(mut self, local: SocketAddr) -> anyhow::Result<epochd_cluster::Membership> {
        if self.url_from_listen {
            self.config.node.url = format!("http://{local}");
        }
        let cluster = self.config.cluster.clone();
        epochd_cluster::Membership::join(self.config)
            .await
            .with_context(|| format!("joining cluster {cluster:?}"))
    }
}

fn close(store: Arc<Store>) -> anyhow::Result<()> {
    match Arc::try_unwrap(store) {
        Ok(store) => store.close().context("closing the store"),
        // Still shared by a finishing request: its drop will flush.
        Err(_) => Ok(()),
    }
}

/// How to run the companion daemon.
#[derive(Debug, Clone)]
pub struct DaemonOptions {
    /// The daemon's settings.
    pub config: DaemonConfig,
    /// Jobs to register at start (`NAME.wasm`, optional `NAME.json`).
    pub jobs_dir: Option<PathBuf>,
    /// Largest job submission, bytes.
    pub max_job_bytes: usize,
}

/// The hook socket of split mode, as both processes are told about it.
#[derive(Debug, Clone)]
pub struct HookSocket {
    /// The store's hook socket.
    pub socket: PathBuf,
    /// The hook secret file; `None` for the default, the socket's path with `.secret`
    /// appended (the store creates it, the daemon reads it).
    pub secret_file: Option<PathBuf>,
}

/// How a split-mode daemon reaches its store.
#[derive(Debug, Clone)]
pub struct StoreLink {
    /// The store's hook socket and secret.
    pub hook: HookSocket,
    /// The store's HTTP API, to read commits from.
    pub url: String,
    /// The store's admin token, if it has tokens.
    pub token: Option<String>,
}

/// Opens the daemon, registers the jobs directory and starts the run log.
fn start_daemon(options: DaemonOptions, source: Source) -> anyhow::Result<Arc<Daemon>> {
    let daemon = Daemon::open(options.config, source)?;
    if let Some(dir) = &options.jobs_dir {
        let added = load_jobs_dir(daemon.registry(), dir)?;
        tracing::info!(jobs = ?added, dir = %dir.display(), "jobs registered from the jobs directory");
    }
    let jobs: Vec<String> = daemon
        .registry()
        .list()
        .iter()
        .map(|j| j.manifest.name.clone())
        .collect();
    tracing::info!(?jobs, "daemon ready");
    crate::results::log::spawn(daemon.results().subscribe());
    Ok(Arc::new(daemon))
}

/// Embedded mode: store, daemon and HTTP API in one process; the hook is an
/// in-process channel. `demo_rate` > 0 adds generated traffic.
pub async fn serve(
    config: StoreConfig,
    listen: SocketAddr,
    auth: Auth,
    demo_rate: u32,
    options: DaemonOptions,
    limits: HttpLimits,
    cluster: Option<ClusterJoin>,
) -> anyhow::Result<()> {
    let node = config.node.clone();
    let (store, wake) = open_store(config)?;
    let max_job_bytes = options.max_job_bytes;
    let daemon = start_daemon(options, Source::Local(store.clone()))?;
    let (dispatcher, receiver) = epochd_hooks::local(
        store.outbox(),
        wake,
        DispatchOptions {
            node,
            ..DispatchOptions::default()
        },
    );
    let (stop, stopping) = stop_switch();
    let (listener, local) = bind_and_say(listen).await?;
    let lead_secs = cluster.as_ref().map_or(0, |c| c.job_lead_secs);
    let gateway_wait = cluster.as_ref().and_then(|c| c.gateway_wait);
    let membership = match cluster {
        Some(join) => Some(Arc::new(join.join(local).await?)),
        None => None,
    };
    // In a cluster, jobs follow the cluster's registry (docs/CLUSTER.md).
    let (cluster_jobs, applier) = match &membership {
        Some(m) => {
            let config = crate::cluster::ClusterJobsConfig {
                membership: m.config().clone(),
                lead_secs,
                token: auth.node_token(),
            };
            let (jobs, task) = crate::cluster::ClusterJobs::start(daemon.clone(), config)
                .await
                .context("following the cluster's job registry")?;
            (Some(jobs), Some(AbortOnDrop(task)))
        }
        None => (None, None),
    };
    // In a cluster, results are merged across the nodes (docs/CLUSTER.md).
    let gateway = match &membership {
        Some(m) => Some(Arc::new(
            crate::gateway::Gateway::start(
                crate::gateway::GatewayConfig {
                    wait: gateway_wait,
                    token: auth.node_token(),
                },
                m.config(),
                &store,
                &daemon,
            )
            .context("starting the gateway")?,
        )),
        None => None,
    };
    let state = AppState {
        store: Some(store.clone()),
        hooks: Some(dispatcher.stats()),
        daemon: Some(daemon.clone()),
        cluster: membership.clone(),
        cluster_jobs,
        gateway,
        auth: Arc::new(auth),
        max_job_bytes,
        stopping,
        connections: Default::default(),
        bytes_out: Default::default(),
        body_timeout: limits.body_timeout,
    };
    let dispatch = tokio::spawn(dispatcher.run());
    let consumer = tokio::spawn(daemon.run(receiver));
    let demo = (demo_rate > 0).then(|| DemoTraffic::start(store.clone(), demo_rate));
    serve_http(listener, state, stop, shutdown_signal(), limits).await;
    drop(applier);
    if let Some(membership) = membership.and_then(Arc::into_inner) {
        if let Err(e) = membership.leave().await {
            tracing::warn!(error = %e, "could not leave the cluster; the node drops out when its lease expires");
        }
    }
    drop(demo);
    dispatch.abort();
    consumer.abort();
    let _ = dispatch.await;
    let _ = consumer.await;
    close(store)
}

/// Split mode, store side: the store and its HTTP API; commit notices go to
/// the daemon that connects to the hook socket and proves it holds the hook
/// secret.
pub async fn store(
    config: StoreConfig,
    listen: SocketAddr,
    auth: Auth,
    hook: HookSocket,
    limits: HttpLimits,
) -> anyhow::Result<()> {
    let node = config.node.clone();
    let socket = hook.socket;
    let (store, wake) = open_store(config)?;
    let dispatcher = epochd_hooks::listen(
        &socket,
        store.outbox(),
        wake,
        DispatchOptions {
            node,
            secret_file: hook.secret_file,
            ..DispatchOptions::default()
        },
    )
    .with_context(|| format!("listening for the daemon on {}", socket.display()))?;
    tracing::info!(socket = %socket.display(), "waiting for the daemon on the hook socket");
    let (stop, stopping) = stop_switch();
    let state = AppState {
        store: Some(store.clone()),
        hooks: Some(dispatcher.stats()),
        daemon: None,
        cluster: None,
        cluster_jobs: None,
        gateway: None,
        auth: Arc::new(auth),
        max_job_bytes: 0,
        stopping,
        connections: Default::default(),
        bytes_out: Default::default(),
        body_timeout: limits.body_timeout,
    };
    let dispatch = tokio::spawn(dispatcher.run());
    let result = listen_and_serve(listen, state, stop, limits).await;
    dispatch.abort();
    let _ = dispatch.await;
    close(store)?;
    result
}

/// Split mode, daemon side: connects to the store's hook socket (retrying
/// while the store is away), reads commits through the store's HTTP API,
/// runs the jobs, and serves its own API (jobs, results, streams, web page)
/// on `listen`.
pub async fn daemon(
    store: StoreLink,
    node: String,
    listen: SocketAddr,
    auth: Auth,
    options: DaemonOptions,
    limits: HttpLimits,
) -> anyhow::Result<()> {
    let socket = store.hook.socket;
    let secret_file = store.hook.secret_file;
    let source = Source::Http {
        url: store.url.trim_end_matches('/').to_owned(),
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()?,
        token: store.token,
    };
    let max_job_bytes = options.max_job_bytes;
    let daemon = start_daemon(options, source)?;
    let (stop, stopping) = stop_switch();
    let state = AppState {
        store: None,
        hooks: None,
        daemon: Some(daemon.clone()),
        cluster: None,
        cluster_jobs: None,
        gateway: None,
        auth: Arc::new(auth),
        max_job_bytes,
        stopping,
        connections: Default::default(),
        bytes_out: Default::default(),
        body_timeout: limits.body_timeout,
    };
    let (listener, local) = bind(listen).await?;
    let http = tokio::spawn(serve_http(
        listener,
        state,
        stop,
        std::future::pending(),
        limits,
    ));
    let receiver = epochd_hooks::connect(
        &socket,
        ConnectOptions {
            node,
            secret_file,
            ..ConnectOptions::default()
        },
    )
    .await;
    println!(
        "epochd: daemon connecting to {}; its API on http://{local}",
        socket.display()
    );
    tracing::info!(socket = %socket.display(), %local, "daemon started");
    let _http = AbortOnDrop(http);
    tokio::select! {
        ended = daemon.run(receiver) => match ended {
            Some(reason) => anyhow::bail!("the hook connection failed: {reason}"),
            None => Ok(()),
        },
        () = shutdown_signal() => {
            // Let queued acknowledgements go out before the socket closes.
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok(())
        }
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
