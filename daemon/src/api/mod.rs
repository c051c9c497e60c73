//! The node's HTTP API (axum on hyper + tokio).
//!
//! `router(state)` is apart from any socket so tests can drive it directly as
//! well as over real loopback. One process serves the store's routes, the
//! daemon's, or both (embedded mode), each group a router with its own
//! state, merged; every route is in one table (`routes`) with the role it
//! needs.

pub mod auth;
mod bytes_out;
mod cluster_jobs_routes;
mod cluster_routes;
pub mod connections;
mod error;
mod gateway_routes;
mod jobs_routes;
mod metrics;
mod proc_self;
mod results_routes;
pub mod routes;
mod store_routes;
mod web;

use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use axum::Router;
use epochd_hooks::DispatchStats;
use epochd_store::Store;

pub use auth::{Auth, Role};
pub use bytes_out::BytesOut;
pub use error::ApiError;
pub use results_routes::MAX_RANGE_EPOCHS;

use crate::pipeline::Daemon;

/// Largest job submission (manifest and module), bytes.
/// 64 MiB: a Python or JavaScript job is a 12-20 MB component.
pub const DEFAULT_MAX_JOB_BYTES: usize = 64 << 20;

/// What a process serves, and what its routes share.
#[derive(Clone)]
pub struct AppState {
    /// The local store, when this process runs one (its routes then serve).
    pub store: Option<Arc<Store>>,
    /// The hook dispatcher's counters, when this process runs one.
    pub hooks: Option<DispatchStats>,
    /// The companion daemon, when this process runs one (its routes then
    /// serve).
    pub daemon: Option<Arc<Daemon>>,
    /// This node's membership, in cluster mode.
    pub cluster: Option<Arc<epochd_cluster::Membership>>,
    /// This node's side of the cluster's job registry, in cluster mode.
    pub cluster_jobs: Option<Arc<crate::cluster::ClusterJobs>>,
    /// This node's gateway, in cluster mode (docs/CLUSTER.md, "The
    /// gateway's contract").
    pub gateway: Option<Arc<crate::gateway::Gateway>>,
    /// Who may do what.
    pub auth: Arc<Auth>,
    /// Largest job submission, bytes.
    pub max_job_bytes: usize,
    /// Turns true when the process is shutting down: live streams end.
    pub stopping: tokio::sync::watch::Receiver<bool>,
    /// The HTTP server's connection counters.
    pub connections: Arc<connections::ConnectionStats>,
    /// Response body bytes served, by peer.
    pub bytes_out: Arc<BytesOut>,
    /// Longest a request body may take to arrive.
    pub body_timeout: std::time::Duration,
}

/// What the daemon's routes share.
#[derive(Clone)]
pub struct DaemonState {
    /// The daemon.
    pub daemon: Arc<Daemon>,
    /// In cluster mode, where job changes go (the cluster's registry).
    pub cluster_jobs: Option<Arc<crate::cluster::ClusterJobs>>,
    /// Largest job submission, bytes.
    pub max_job_bytes: usize,
    /// Turns true when the process is shutting down: live streams end.
    pub stopping: tokio::sync::watch::Receiver<bool>,
}

/// `GET /healthz`: `ok` (200) while the node takes writes; otherwise 503
/// with the store's state as JSON (`degraded` with the passing fault, which
/// ends by itself, or `failed`, which needs a restart), so a load balancer
/// or supervisor sees what is wrong.
async fn healthz(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
    let Some(store) = state.store.clone() else {
        return "ok\n".into_response();
    };
    let health = tokio::task::spawn_blocking(move || store.health())
        .await
        .expect("health task does not panic");
    if health.is_ok() {
        return "ok\n".into_response();
    }
    (
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        axum::Json(serde_json::json!({"store": health})),
    )
        .into_response()
}

/// The API of a process: the node's routes, and the store's and the
/// daemon's where it runs them (both in embedded mode), merged.
pub fn router(state: AppState) -> Router {
    let auth = state.auth.clone();
    let stores = match state.store.clone() {
        Some(store) => routes::serve(routes::store_routes(), store, &auth),
        None => routes::elsewhere(
            routes::store_routes(),
            "no_store",
            "this process runs the daemon only: send events and raw reads to the store's address",
        ),
    };
    let daemons = match state.daemon.clone() {
        Some(daemon) => routes::serve(
            routes::daemon_routes(state.max_job_bytes),
            DaemonState {
                daemon,
                cluster_jobs: state.cluster_jobs.clone(),
                max_job_bytes: state.max_job_bytes,
                stopping: state.stopping.clone(),
            },
            &auth,
        ),
        None => routes::elsewhere(
            routes::daemon_routes(0),
            "no_daemon",
            "this process runs the store only: send jobs and result requests to the daemon's \
             address (`epochd daemon --listen`)",
        ),
    };
    let body_timeout = state.body_timeout;
    let counting = bytes_out::Counting {
        bytes: state.bytes_out.clone(),
        own_id: state
            .cluster
            .as_ref()
            .map(|m| m.config().node.node_id.clone()),
    };
    routes::serve(routes::node_routes(), state, &auth)
        .merge(stores)
        .merge(daemons)
        .fallback(|| async {
            ApiError::client(
                axum::http::StatusCode::NOT_FOUND,
                "not_found",
                "no such route; see docs/API.md for the routes this node serves",
            )
        })
        .method_not_allowed_fallback(|| async {
            ApiError::client(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take that method; see docs/API.md",
            )
        })
        // Ingest bodies are read with the store's own limit, to answer with
        // a clear error; job submissions have theirs (routes.rs).
        .layer(axum::extract::DefaultBodyLimit::disable())
        // A body that trickles in (slowloris) ends with an error after this.
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            body_timeout,
        ))
        .layer(axum::middleware::from_fn_with_state(
            counting,
            bytes_out::count,
        ))
}
