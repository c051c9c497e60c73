//! The jobs routes: submit, list, show, pause, resume, delete.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use epochd_cluster::JobState;
use epochd_jobs::SubmitError;
use serde_json::{json, Value};

use super::{cluster_jobs_routes, ApiError, DaemonState};
use crate::pipeline::Daemon;
use crate::registry::{Job, JobManifest, RegistryError};

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> ApiError {
        let message = e.to_string();
        match e {
            RegistryError::Manifest(_) => {
                ApiError::client(StatusCode::BAD_REQUEST, "bad_manifest", message)
            }
            RegistryError::Module(m) => submit_error(m, message),
            RegistryError::Exists(_) => {
                ApiError::client(StatusCode::CONFLICT, "job_exists", message)
            }
            RegistryError::NotFound(_) => {
                ApiError::client(StatusCode::NOT_FOUND, "no_such_job", message)
            }
            other => ApiError::internal(other),
        }
    }
}

/// Each way a module can be refused has its own code; a refusal for its
/// imports lists them in `details` too, each with its own code.
fn submit_error(e: SubmitError, message: String) -> ApiError {
    let (status, code) = match &e {
        SubmitError::NotWasm { .. } => (StatusCode::BAD_REQUEST, "not_wasm"),
        SubmitError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "module_too_large"),
        SubmitError::Invalid { .. } => (StatusCode::BAD_REQUEST, "invalid_module"),
        SubmitError::MissingExport { .. } => (StatusCode::BAD_REQUEST, "missing_export"),
        SubmitError::WrongExport { .. } => (StatusCode::BAD_REQUEST, "wrong_export"),
        SubmitError::Imports { problems, .. } => (
            StatusCode::BAD_REQUEST,
            problems
                .first()
                .map_or("forbidden_import", |p| p.reason.code()),
        ),
        SubmitError::AbiVersion { .. } => (StatusCode::BAD_REQUEST, "abi_version"),
        _ => (StatusCode::BAD_REQUEST, "abi_check_failed"),
    };
    let error = ApiError::client(status, code, message);
    match e {
        SubmitError::Imports {
            problems,
            toolchain,
            ..
        } => {
            let imports: Vec<Value> = problems
                .iter()
                .map(|p| {
                    json!({"module": p.module, "name": p.name, "kind": p.kind,
                           "error": p.reason.code(), "why": p.why()})
                })
                .collect();
            error.with_details(json!({"imports": imports, "toolchain": toolchain}))
        }
        _ => error,
    }
}

/// A job as the API shows it.
pub(super) fn job_json(daemon: &Daemon, job: &Job) -> Value {
    let last_epoch = job.stats.last_epoch.load(Ordering::Relaxed);
    let runs = job.stats.runs.load(Ordering::Relaxed);
    let newest = daemon.newest_epoch();
    let lane = daemon.lane(&job.manifest.name);
    let cluster = job.cluster();
    // Paused here (failing, or on a node alone), or in the cluster now.
    let paused = job.paused().or_else(|| {
        cluster_jobs_routes::cluster_paused(cluster.as_ref(), crate::clock::now_secs())
    });
    json!({
        "name": job.manifest.name,
        "manifest": job.manifest,
        "state": if paused.is_some() { "paused" } else { "running" },
        "paused_reason": paused,
        "cluster": cluster_jobs_routes::cluster_json(cluster.as_ref()),
        "exports_merge": job.module.has_merge(),
        "module": {
            "kind": if job.module.is_component() { "component" } else { "core" },
            "bytes": job.module.size(),
            "preinitialized": job.module.preinitialized(),
            "loaded_from": if job.origin.from_artifact { "artifact" } else { "wasm" },
            "load_seconds": job.origin.secs,
        },
        "stats": {
            "runs": runs,
            "errors": job.stats.errors.load(Ordering::Relaxed),
            "last_error": job.last_error(),
            "cpu_seconds": job.stats.cpu_us.load(Ordering::Relaxed) as f64 / 1e6,
            "last_epoch": (runs > 0).then_some(last_epoch),
            "lag_epochs": (runs > 0).then(|| newest.saturating_sub(last_epoch)),
            "commits_waiting": daemon.stats().waiting.load(Ordering::Relaxed),
            "runs_queued": lane.queued,
            "lag_seconds": lane.lag_secs,
            "results_refused": job.stats.results_refused.load(Ordering::Relaxed),
            "results_stored_bytes": daemon.results().stored_bytes(&job.manifest.name),
        },
        "backfill": *job.backfill.lock(),
    })
}

/// `POST /v1/jobs`: a multipart form with a `manifest` (JSON) part and a
/// `wasm` part.
pub async fn submit(
    State(state): State<DaemonState>,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, ApiError> {
    let daemon = state.daemon.clone();
    let mut multipart = multipart.map_err(|e| bad_form(e.to_string()))?;
    let mut manifest: Option<JobManifest> = None;
    let mut wasm: Option<Vec<u8>> = None;
    let limit = state.max_job_bytes;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| too_large_or_bad(e.status(), e.body_text(), limit))?
    {
        match field.name() {
            Some("manifest") => {
                let bytes = field
                    .bytes()
                    .await
                    .map_err(|e| too_large_or_bad(e.status(), e.body_text(), limit))?;
                manifest = Some(serde_json::from_slice(&bytes).map_err(|e| {
                    ApiError::client(
                        StatusCode::BAD_REQUEST,
                        "bad_manifest",
                        format!(
                            "the manifest is not a valid job manifest: {e} (see docs/API.md, Jobs)"
                        ),
                    )
                })?);
            }
            Some("wasm") => {
                let bytes = field
                    .bytes()
                    .await
                    .map_err(|e| too_large_or_bad(e.status(), e.body_text(), limit))?;
                wasm = Some(bytes.to_vec());
            }
            other => {
                let part = other.map_or_else(|| "without a name".to_owned(), |n| format!("`{n}`"));
                return Err(bad_form(format!(
                    "unexpected form part {part}: send exactly a `manifest` part (JSON) and a `wasm` part"
                )));
            }
        }
    }
    let manifest =
        manifest.ok_or_else(|| bad_form("the `manifest` part (JSON) is missing".into()))?;
    let wasm =
        wasm.ok_or_else(|| bad_form("the `wasm` part (the module's bytes) is missing".into()))?;
    if let Some(cluster) = &state.cluster_jobs {
        let job = cluster.submit(manifest, wasm).await?;
        tracing::info!(job = %job.manifest.name, "job submitted to the cluster");
        return Ok((StatusCode::CREATED, Json(job_json(&daemon, &job))).into_response());
    }
    let registry = daemon.registry().clone();
    let job = tokio::task::spawn_blocking(move || registry.submit(manifest, &wasm))
        .await
        .map_err(ApiError::internal)??;
    tracing::info!(job = %job.manifest.name, "job submitted");
    daemon.start_backfill(job.clone());
    Ok((StatusCode::CREATED, Json(job_json(&daemon, &job))).into_response())
}

fn bad_form(message: String) -> ApiError {
    ApiError::client(
        StatusCode::BAD_REQUEST,
        "bad_form",
        format!("{message}; submit a multipart/form-data body with parts `manifest` and `wasm`, e.g. curl -F manifest=@job.json -F wasm=@job.wasm"),
    )
}

fn too_large_or_bad(status: StatusCode, text: String, limit: usize) -> ApiError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::client(
            StatusCode::PAYLOAD_TOO_LARGE,
            "module_too_large",
            format!("the submission is over {limit} bytes: strip the module (e.g. `wasm-opt -O --strip-debug`)"),
        )
    } else {
        bad_form(text)
    }
}

/// `GET /v1/jobs`.
pub async fn list(State(state): State<DaemonState>) -> Result<Response, ApiError> {
    let daemon = &state.daemon;
    let jobs: Vec<Value> = daemon
        .registry()
        .list()
        .iter()
        .map(|j| job_json(daemon, j))
        .collect();
    Ok(Json(json!({ "jobs": jobs })).into_response())
}

fn find(daemon: &Daemon, name: &str) -> Result<Arc<Job>, ApiError> {
    daemon
        .registry()
        .get(name)
        .ok_or_else(|| RegistryError::NotFound(name.to_owned()).into())
}

/// `GET /v1/jobs/{name}`.
pub async fn show(
    State(state): State<DaemonState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let daemon = &state.daemon;
    let job = find(daemon, &name)?;
    Ok(Json(job_json(daemon, &job)).into_response())
}

/// `POST /v1/jobs/{name}/pause`.
pub async fn pause(state: State<DaemonState>, name: Path<String>) -> Result<Response, ApiError> {
    set_paused(state, name, true).await
}

/// `POST /v1/jobs/{name}/resume`.
pub async fn resume(state: State<DaemonState>, name: Path<String>) -> Result<Response, ApiError> {
    set_paused(state, name, false).await
}

async fn set_paused(
    State(state): State<DaemonState>,
    Path(name): Path<String>,
    pause: bool,
) -> Result<Response, ApiError> {
    let daemon = state.daemon.clone();
    if let Some(cluster) = state.cluster_jobs.as_ref().filter(|c| c.manages(&name)) {
        let (cluster_state, reason) = if pause {
            (JobState::Paused, Some("paused by an operator".to_owned()))
        } else {
            (JobState::Active, None)
        };
        let (cluster_job, local) = cluster.change(&name, cluster_state, reason).await?;
        return Ok(Json(match local {
            Some(job) => job_json(&daemon, &job),
            None => cluster_jobs_routes::cluster_only_json(&cluster_job),
        })
        .into_response());
    }
    let registry = daemon.registry().clone();
    let job = tokio::task::spawn_blocking(move || {
        if pause {
            registry.pause(&name, "paused by an operator")
        } else {
            registry.resume(&name)
        }
    })
    .await
    .map_err(ApiError::internal)??;
    Ok(Json(job_json(&daemon, &job)).into_response())
}

/// `DELETE /v1/jobs/{name}`: the job stops; its results stay until their
/// retention.
pub async fn delete(
    State(state): State<DaemonState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let daemon = &state.daemon;
    if let Some(cluster) = state.cluster_jobs.as_ref().filter(|c| c.manages(&name)) {
        // It stops from the deletion's epoch on every node, and is removed
        // from each once past it.
        cluster.change(&name, JobState::Deleted, None).await?;
        tracing::info!(job = %name, "job deleted in the cluster");
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let registry = daemon.registry().clone();
    let removed = name.clone();
    tokio::task::spawn_blocking(move || registry.remove(&removed))
        .await
        .map_err(ApiError::internal)??;
    tracing::info!(job = %name, "job deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}
