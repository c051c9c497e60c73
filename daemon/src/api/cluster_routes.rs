//! `GET /v1/cluster`: this node's view of its cluster (docs/CLUSTER.md).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::{ApiError, AppState};

/// The cluster this node is in, its registration, and its nodes: those
/// registered now, each with how this node's gateway sees it (`state`
/// `live` when its parts stream is connected, else `unreachable`; the
/// newest epoch it has closed), then those the gateway heard from whose
/// lease is gone (`lease_gone`); 404 `no_cluster` on a node running alone.
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
    let seen = state
        .gateway
        .as_ref()
        .map(|g| g.nodes())
        .unwrap_or_default();
    let mut listed: Vec<Value> = nodes
        .iter()
        .map(|n| {
            let gateway = seen.iter().find(|s| s.node_id == n.node_id);
            json!({
                "node_id": n.node_id,
                "url": n.url,
                "state": if gateway.is_some_and(|g| g.connected) { "live" } else { "unreachable" },
                "closed_through": gateway.and_then(|g| g.closed_through),
            })
        })
        .collect();
    // Nodes the gateway heard from whose lease is gone: their epochs may
    // still be awaited or partial.
    for gone in seen
        .iter()
        .filter(|s| !nodes.iter().any(|n| n.node_id == s.node_id))
    {
        listed.push(json!({
            "node_id": gone.node_id,
            "url": null,
            "state": "lease_gone",
            "closed_through": gone.closed_through,
        }));
    }
    Ok(Json(json!({
        "cluster": config.cluster,
        "node_id": config.node.node_id,
        "registered": status.registered,
        "lease": status.lease,
        "registrations": status.registrations,
        "nodes": listed,
    }))
    .into_response())
}
