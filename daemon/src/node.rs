//! The three ways to run a node: embedded (`serve`), and split into a store
//! process and a daemon process that talk over a Unix socket.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use epochd_hooks::{ConnectOptions, DispatchOptions, Wake};
use epochd_store::{Store, StoreConfig};
use tokio::net::TcpListener;

use crate::api::{router, AppState, Auth};
use crate::demo::DemoTraffic;
use crate::pipeline::{load_jobs_dir, Daemon, DaemonConfig, Source};
use crate::results::{Outcome, ResultRecord};

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

async fn serve_http(listen: SocketAddr, state: AppState) -> anyhow::Result<()> {
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding the HTTP API to {listen}"))?;
    let local = listener.local_addr()?;
    // The first line on stdout: scripts and tests read the address from it.
    println!("epochd: listening on http://{local}");
    tracing::info!(%local, "HTTP API listening");
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serving HTTP")
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
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

/// How a split-mode daemon reaches its store.
#[derive(Debug, Clone)]
pub struct StoreLink {
    /// The store's hook socket.
    pub socket: PathBuf,
    /// The store's HTTP API, to read commits from.
    pub url: String,
    /// The store's admin token, if it has tokens.
    pub token: Option<String>,
}

/// Opens the daemon, registers the jobs directory and logs every result.
fn start_daemon(options: DaemonOptions, source: Source) -> anyhow::Result<Arc<Daemon>> {
    let daemon = Daemon::open(options.config, source)?;
    if let Some(dir) = &options.jobs_dir {
        let added = load_jobs_dir(&daemon.registry, dir)?;
        tracing::info!(jobs = ?added, dir = %dir.display(), "jobs registered from the jobs directory");
    }
    let jobs: Vec<String> = daemon
        .registry
        .list()
        .iter()
        .map(|j| j.manifest.name.clone())
        .collect();
    tracing::info!(?jobs, "daemon ready");
    let mut results = daemon.results.subscribe();
    tokio::spawn(async move {
        loop {
            match results.recv().await {
                Ok(r) => log_result(&r),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "result log fell behind");
                }
                Err(_) => return,
            }
        }
    });
    Ok(Arc::new(daemon))
}

fn log_result(r: &ResultRecord) {
    match &r.outcome {
        Outcome::Ok { result } => {
            let text = String::from_utf8_lossy(result);
            let shown: String = text.chars().take(200).collect();
            tracing::info!(job = %r.job, epoch = r.epoch, dc = %r.dc, seq = r.seq, cpu_us = r.cpu_us, result = %shown, "result");
        }
        Outcome::Error { kind, message } => {
            tracing::warn!(job = %r.job, epoch = r.epoch, dc = %r.dc, seq = r.seq, %kind, %message, "job error");
        }
    }
}

/// Embedded mode: store, daemon and HTTP API in one process; the hook is an
/// in-process channel. `demo_rate` > 0 adds generated traffic.
pub async fn serve(
    config: StoreConfig,
    listen: SocketAddr,
    auth: Auth,
    demo_rate: u32,
    options: DaemonOptions,
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
    let state = AppState {
        store: Some(store.clone()),
        hooks: Some(dispatcher.stats()),
        daemon: Some(daemon.clone()),
        auth: Arc::new(auth),
        max_job_bytes,
    };
    let dispatch = tokio::spawn(dispatcher.run());
    let consumer = tokio::spawn(daemon.run(receiver));
    let demo = (demo_rate > 0).then(|| DemoTraffic::start(store.clone(), demo_rate));
    let result = serve_http(listen, state).await;
    drop(demo);
    dispatch.abort();
    consumer.abort();
    let _ = dispatch.await;
    let _ = consumer.await;
    close(store)?;
    result
}

/// Split mode, store side: the store and its HTTP API; commit notices go to
/// whichever daemon connects to `socket`.
pub async fn store(
    config: StoreConfig,
    listen: SocketAddr,
    auth: Auth,
    socket: PathBuf,
) -> anyhow::Result<()> {
    let node = config.node.clone();
    let (store, wake) = open_store(config)?;
    let dispatcher = epochd_hooks::listen(
        &socket,
        store.outbox(),
        wake,
        DispatchOptions {
            node,
            ..DispatchOptions::default()
        },
    )
    .with_context(|| format!("listening for the daemon on {}", socket.display()))?;
    tracing::info!(socket = %socket.display(), "waiting for the daemon on the hook socket");
    let state = AppState {
        store: Some(store.clone()),
        hooks: Some(dispatcher.stats()),
        daemon: None,
        auth: Arc::new(auth),
        max_job_bytes: 0,
    };
    let dispatch = tokio::spawn(dispatcher.run());
    let result = serve_http(listen, state).await;
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
) -> anyhow::Result<()> {
    let socket = store.socket;
    let source = Source::Http {
        url: store.url.trim_end_matches('/').to_owned(),
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()?,
        token: store.token,
    };
    let max_job_bytes = options.max_job_bytes;
    let daemon = start_daemon(options, source)?;
    let state = AppState {
        store: None,
        hooks: None,
        daemon: Some(daemon.clone()),
        auth: Arc::new(auth),
        max_job_bytes,
    };
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding the daemon's HTTP API to {listen}"))?;
    let local = listener.local_addr()?;
    let http = tokio::spawn(async move { axum::serve(listener, router(state)).await });
    let receiver = epochd_hooks::connect(
        &socket,
        ConnectOptions {
            node,
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
