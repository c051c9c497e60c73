//! The jobs API in cluster mode (docs/CLUSTER.md, "Jobs in a cluster"):
//! how a cluster job shows, the errors of the cluster's registry as
//! answers, and `GET /v1/cluster/modules/{sha256}`, which other nodes
//! fetch job modules from.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use epochd_cluster::{ClusterError, ClusterJob, JobState};
use serde_json::{json, Value};

use super::{ApiError, AppState};
use crate::cluster::ClusterJobsError;

impl From<ClusterJobsError> for ApiError {
    fn from(e: ClusterJobsError) -> ApiError {
        let message = e.to_string();
        match e {
            ClusterJobsError::Registry(r) => r.into(),
            ClusterJobsError::Cluster(c) => match c {
                ClusterError::Etcd { .. } | ClusterError::EtcdRequest { .. } => {
                    ApiError::client(StatusCode::SERVICE_UNAVAILABLE, "etcd_unavailable", message)
                }
                ClusterError::EpochBackwards { .. } => {
                    ApiError::client(StatusCode::CONFLICT, "epoch_backwards", message)
                }
                ClusterError::Conflict { .. } => {
                    ApiError::client(StatusCode::CONFLICT, "cluster_conflict", message)
                }
                other => ApiError::internal(other),
            },
            other => ApiError::internal(other),
        }
    }
}

/// How a job's cluster state shows in the API: `null` for a job of this
/// node alone.
pub(super) fn cluster_json(job: Option<&ClusterJob>) -> Value {
    let Some(job) = job else {
        return Value::Null;
    };
    let last = job.last_change();
    json!({
        "module_sha256": job.module_sha256,
        "from_epoch": last.map(|c| c.from_epoch),
        "state": last.map(|c| c.state),
        "changes": job.changes,
    })
}

/// Why a job is paused in the cluster at `epoch`, if it is (paused, or
/// deleted and not yet removed here).
pub(super) fn cluster_paused(job: Option<&ClusterJob>, epoch: u64) -> Option<String> {
    let job = job?;
    let change = job.changes.iter().rev().find(|c| c.from_epoch <= epoch)?;
    let what = match change.state {
        JobState::Active => return None,
        JobState::Paused => "paused",
        JobState::Deleted => "deleted",
    };
    Some(match &change.reason {
        Some(reason) => format!(
            "{what} in the cluster from epoch {} by {}: {reason}",
            change.from_epoch, change.by_node
        ),
        None => format!(
            "{what} in the cluster from epoch {} by {}",
            change.from_epoch, change.by_node
        ),
    })
}

/// A cluster job this node has not registered (yet): what the cluster
/// says of it.
pub(super) fn cluster_only_json(job: &ClusterJob) -> Value {
    let paused = cluster_paused(Some(job), crate::clock::now_secs());
    json!({
        "name": job.name,
        "manifest": job.manifest,
        "state": if paused.is_some() { "paused" } else { "running" },
        "paused_reason": paused,
        "cluster": cluster_json(Some(job)),
    })
}

/// `GET /v1/cluster/modules/{sha256}`: the bytes of a job module this node
/// holds; 404 `no_such_module` if it does not, `no_cluster` on a node
/// alone.
pub async fn module(
    State(state): State<AppState>,
    Path(sha): Path<String>,
) -> Result<Response, ApiError> {
    let Some(jobs) = state.cluster_jobs.clone() else {
        return Err(ApiError::client(
            StatusCode::NOT_FOUND,
            "no_cluster",
            "this node runs alone: job modules are served in cluster mode only (docs/CLUSTER.md)",
        ));
    };
    if !epochd_cluster::valid_sha256(&sha) {
        return Err(ApiError::client(
            StatusCode::BAD_REQUEST,
            "bad_module_hash",
            format!("{sha:?} is not a module hash: give the SHA-256 of the module's bytes as 64 lowercase hex digits"),
        ));
    }
    let wanted = sha.clone();
    let bytes = tokio::task::spawn_blocking(move || jobs.modules().get(&wanted))
        .await
        .map_err(ApiError::internal)?;
    match bytes {
        Some(bytes) => Ok(([(header::CONTENT_TYPE, "application/wasm")], bytes).into_response()),
        None => Err(ApiError::client(
            StatusCode::NOT_FOUND,
            "no_such_module",
            format!("this node does not hold module {sha}: ask another of its holders"),
        )),
    }
}
