//! The node's HTTP API (axum on hyper + tokio).
//!
//! `router(state)` is apart from any socket so tests can drive it directly as
//! well as over real loopback. One process may serve the store's routes,
//! the daemon's, or both (embedded mode); every route is behind the role
//! [`auth::required_role`] gives it.

pub mod auth;
pub mod connections;
mod error;
mod jobs_routes;
mod metrics;
mod results_routes;
mod store_routes;
mod web;

use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use epochd_hooks::DispatchStats;
use epochd_store::Store;

pub use auth::{Auth, Role};
pub use error::ApiError;
pub use results_routes::MAX_RANGE_EPOCHS;

use crate::pipeline::Daemon;

/// Largest job submission (manifest and module), bytes.
pub const DEFAULT_MAX_JOB_BYTES: usize = 16 << 20;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The local store, when this process runs one.
    pub store: Option<Arc<Store>>,
    /// The hook dispatcher's counters, when this process runs one.
    pub hooks: Option<DispatchStats>,
    /// The companion daemon, when this process runs one.
    pub daemon: Option<Arc<Daemon>>,
    /// Who may do what.
    pub auth: Arc<Auth>,
    /// Largest job submission, bytes.
    pub max_job_bytes: usize,
    /// Turns true when the process is shutting down: live streams end.
    pub stopping: tokio::sync::watch::Receiver<bool>,
    /// The HTTP server's connection counters.
    pub connections: Arc<connections::ConnectionStats>,
    /// Longest a request body may take to arrive.
    pub body_timeout: std::time::Duration,
}

/// Every route of the API: the method and path templates, as routed.
/// (The OpenAPI document, docs/openapi.json, is checked against it.)
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/metrics"),
    ("GET", "/"),
    ("GET", "/ui/{file}"),
    ("GET", "/v1/openapi.json"),
    ("POST", "/v1/events"),
    (
        "PUT",
        "/v1/chunks/{epoch}/{dc}/{event_type}/{subtype}/{chunk}",
    ),
    (
        "GET",
        "/v1/chunks/{epoch}/{dc}/{event_type}/{subtype}/{chunk}",
    ),
    ("PUT", "/v1/manifests/{epoch}/{dc}/{seq}"),
    ("GET", "/v1/manifests/{epoch}/{dc}/{seq}"),
    ("GET", "/v1/commits"),
    ("POST", "/v1/jobs"),
    ("GET", "/v1/jobs"),
    ("GET", "/v1/jobs/{name}"),
    ("DELETE", "/v1/jobs/{name}"),
    ("POST", "/v1/jobs/{name}/pause"),
    ("POST", "/v1/jobs/{name}/resume"),
    ("GET", "/v1/jobs/{name}/results"),
    ("GET", "/v1/jobs/{name}/results/stream"),
    ("GET", "/v1/jobs/{name}/logs"),
];

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

/// Every route of the API.
pub fn router(state: AppState) -> Router {
    let auth = state.auth.clone();
    let max_job_bytes = state.max_job_bytes;
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics::metrics))
        .route("/", get(web::index))
        .route("/ui/{file}", get(web::file))
        .route("/v1/openapi.json", get(web::openapi))
        .route("/v1/events", post(store_routes::ingest))
        .route(
            "/v1/chunks/{epoch}/{dc}/{event_type}/{subtype}/{chunk}",
            put(store_routes::put_chunk).get(store_routes::get_chunk),
        )
        .route(
            "/v1/manifests/{epoch}/{dc}/{seq}",
            put(store_routes::put_manifest).get(store_routes::get_manifest),
        )
        .route("/v1/commits", get(store_routes::list_commits))
        .route(
            "/v1/jobs",
            post(jobs_routes::submit)
                .layer(axum::extract::DefaultBodyLimit::max(max_job_bytes))
                .get(jobs_routes::list),
        )
        .route(
            "/v1/jobs/{name}",
            get(jobs_routes::show).delete(jobs_routes::delete),
        )
        .route("/v1/jobs/{name}/pause", post(jobs_routes::pause))
        .route("/v1/jobs/{name}/resume", post(jobs_routes::resume))
        .route("/v1/jobs/{name}/results", get(results_routes::range))
        .route("/v1/jobs/{name}/logs", get(results_routes::logs))
        .route(
            "/v1/jobs/{name}/results/stream",
            get(results_routes::stream),
        )
        .route_layer(axum::middleware::from_fn_with_state(auth, auth::check))
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
        // a clear error; job submissions have theirs above.
        .layer(axum::extract::DefaultBodyLimit::disable())
        // A body that trickles in (slowloris) ends with an error after this.
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            state.body_timeout,
        ))
        .with_state(state)
}
