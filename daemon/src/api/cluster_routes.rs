//! `GET /v1/cluster`: this node's view of its cluster (docs/CLUSTER.md).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::{ApiError, AppState};

/// The cluster this node is in, its registration, and the nodes
/// registered now; 404 `no_cluster` on a node running alone.
pub async fn status(State(state): State<AppState>) -> Result<Response, ApiError> {
    let Some(membership) = state.cluster.as_ref() else {
        return Err(ApiError::client(
            StatusCode::NOT_FOUND,
            "no_cluster",
            "this node runs alone: start it with --cluster <etcd URLs> --node-id <id> to join a \
             cluster (docs/CLUSTER.md)",
        ));
    };
    let status = membership.status();
    let nodes = membership.members().await.map_err(|e| {
        ApiError::client(
            StatusCode::SERVICE_UNAVAILABLE,
            "etcd_unavailable",
            e.to_string(),
        )
    })?;
    let config = membership.config();
    Ok(Json(json!({
        "cluster": config.cluster,
        "node_id": config.node.node_id,
        "registered": status.registered,
        "lease": status.lease,
        "registrations": status.registrations,
        "nodes": nodes.iter().map(|n| json!({"node_id": n.node_id, "url": n.url})).collect::<Vec<_>>(),
    }))
    .into_response())
}
