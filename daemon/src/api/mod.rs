//! The node's HTTP API (axum on hyper + tokio).
//!
//! `router(state)` is apart from any socket so tests can drive it directly as
//! well as over real loopback.

mod error;
mod metrics;
mod store_routes;

use std::sync::Arc;

use axum::routing::{get, post, put};
use axum::Router;
use epochd_hooks::DispatchStats;
use epochd_store::Store;

pub use error::ApiError;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The local store.
    pub store: Arc<Store>,
    /// The hook dispatcher's counters, when this process runs one.
    pub hooks: Option<DispatchStats>,
}

/// Every route of the API.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics::metrics))
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
        .fallback(|| async {
            ApiError::client(
                axum::http::StatusCode::NOT_FOUND,
                "not_found",
                "no such route; see docs/API.md for the routes this node serves",
            )
        })
        // Bodies are read with the store's own limit, to answer with a clear error.
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(state)
}
