//! The store's routes: both ingest paths and the reads.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use epochd_store::{ChunkKey, Format, Manifest, ManifestKey, PutOutcome, Store, StoreError};
use serde::Deserialize;
use serde_json::json;

use super::ApiError;

/// How long `?wait=commit` waits at most before answering 202.
const COMMIT_WAIT: Duration = Duration::from_secs(30);

/// Reads the whole body, refusing it with 413 past `limit` bytes, and with
/// 408 if it does not arrive within the server's body timeout.
async fn read_body(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    let bytes = axum::body::to_bytes(body, limit.saturating_add(1))
        .await
        .map_err(|e| body_error(&e, limit))?;
    if bytes.len() > limit {
        return Err(StoreError::BodyTooLarge {
            size: bytes.len(),
            limit,
        }
        .into());
    }
    Ok(bytes)
}

/// Why a body could not be read: too large, too slow, or cut off.
fn body_error(e: &axum::Error, limit: usize) -> ApiError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(cause) = source {
        if cause.is::<tower_http::timeout::TimeoutError>() {
            return ApiError::client(
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                "the request body did not arrive in time; nothing was stored: send it at once, or in smaller batches",
            );
        }
        if cause.is::<http_body_util::LengthLimitError>() {
            break;
        }
        source = cause.source();
    }
    if source.is_none() {
        return ApiError::client(
            StatusCode::BAD_REQUEST,
            "body_unreadable",
            format!("the request body could not be read ({e}); nothing was stored"),
        );
    }
    ApiError::client(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        format!("body exceeds the limit of {limit} bytes: split it into smaller batches"),
    )
}

/// Runs blocking store work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Corrupt(format!("store task failed: {e}")))?
        .map_err(ApiError::from)
}

fn ingest_format(headers: &HeaderMap) -> Result<Format, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    match essence {
        "application/x-ndjson" | "application/ndjson" | "application/jsonl" | "application/json" => {
            Ok(Format::Ndjson)
        }
        "application/msgpack" | "application/x-msgpack" | "application/vnd.msgpack" => {
            Ok(Format::MsgPack)
        }
        _ => Err(ApiError::client(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!(
                "Content-Type {content_type:?} is not an event encoding: send application/x-ndjson (one JSON object per line) or application/msgpack (MessagePack maps back to back)"
            ),
        )),
    }
}

/// The request header naming a producer's idempotency key (the IETF
/// httpapi draft's name).
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// The answer header that marks a repeat of an earlier request's answer.
pub const IDEMPOTENCY_REPLAYED: &str = "idempotency-replayed";

/// The `Idempotency-Key` of a request, if it has one. The draft makes the
/// value a structured-field string (`"..."`); a bare key is taken as well.
/// The store checks what is inside (1 to 128 printable ASCII characters).
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let mut values = headers.get_all(IDEMPOTENCY_KEY).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    let bad = |why: &str| {
        ApiError::client(
            StatusCode::BAD_REQUEST,
            "bad_idempotency_key",
            format!("Idempotency-Key {why}; nothing was stored: send one key of 1 to 128 printable ASCII characters, e.g. a UUID, the same on every retry of a batch"),
        )
    };
    if values.next().is_some() {
        return Err(bad("appears more than once"));
    }
    let text = value
        .to_str()
        .map_err(|_| bad("is not printable ASCII"))?
        .trim();
    let key = match text
        .strip_prefix('"')
        .and_then(|inner| inner.strip_suffix('"'))
    {
        Some(inner) if inner.contains(['"', '\\']) => {
            return Err(bad("holds a quote or a backslash inside its quotes"))
        }
        Some(inner) => inner,
        None => text,
    };
    epochd_store::validate_idempotency_key(key).map_err(ApiError::from)?;
    Ok(Some(key.to_owned()))
}

/// Query of `POST /v1/events`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestQuery {
    /// `commit`: answer only once the events are committed (not just durable).
    wait: Option<String>,
}

/// `POST /v1/events`: high-level ingest.
pub async fn ingest(
    State(store): State<Arc<Store>>,
    query: Result<Query<IngestQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| {
        ApiError::client(
            StatusCode::BAD_REQUEST,
            "bad_query",
            format!("{e}; nothing was stored: the only parameter is wait=commit, given once"),
        )
    })?;
    let wait_commit = match query.wait.as_deref() {
        None => false,
        Some("commit") => true,
        Some(other) => {
            return Err(ApiError::client(
                StatusCode::BAD_REQUEST,
                "bad_query",
                format!("wait={other:?} is not understood: use wait=commit, or leave it out"),
            ))
        }
    };
    let format = ingest_format(&headers)?;
    let key = idempotency_key(&headers)?;
    let body = read_body(body, store.config().max_body_bytes).await?;
    let ingesting = store.clone();
    let receipt =
        blocking(move || ingesting.ingest_with_key(&body, format, key.as_deref())).await?;
    let mut answer = json!({
        "accepted": receipt.accepted,
        "durable": true,
        "refused_too_old": receipt.too_old_total,
        "too_old": receipt.too_old.iter()
            .map(|r| json!({"position": r.position, "reason": r.error.to_string()}))
            .collect::<Vec<_>>(),
        "replayed": receipt.replayed,
    });
    // A repeat is marked in a header too, for proxies and clients that
    // read no body.
    let replayed = receipt.replayed;
    let respond = move |status: StatusCode, answer: serde_json::Value| {
        let mut response = (status, Json(answer)).into_response();
        if replayed {
            response.headers_mut().insert(
                IDEMPOTENCY_REPLAYED,
                axum::http::HeaderValue::from_static("true"),
            );
        }
        response
    };
    if wait_commit {
        let waited = receipt.clone();
        match blocking(move || store.wait_committed(&waited, COMMIT_WAIT)).await {
            Ok(commits) => answer["commits"] = commits.iter().map(commit_json).collect(),
            // The events are durable whatever became of the wait: say so
            // (202, `durable: true`), so the producer does not send them
            // again, and say why the commit is not confirmed.
            Err(e) => {
                let (code, message) = e.code_and_message();
                answer["error"] = json!(code);
                answer["message"] = json!(format!(
                    "the events are stored (durable) but their commit is not confirmed: {message}"
                ));
                return Ok(respond(StatusCode::ACCEPTED, answer));
            }
        }
    }
    Ok(respond(StatusCode::OK, answer))
}

fn commit_json(key: &ManifestKey) -> serde_json::Value {
    json!({"epoch": key.epoch, "dc": key.dc, "seq": key.seq})
}

/// Path of a chunk: `{epoch}/{dc}/{type}/{subtype}/{chunk}`.
#[derive(Debug, Deserialize)]
pub struct ChunkPath {
    epoch: String,
    dc: String,
    event_type: String,
    subtype: String,
    chunk: String,
}

impl ChunkPath {
    fn key(&self) -> Result<ChunkKey, ApiError> {
        let text = format!(
            "{}/{}/{}/{}/{}",
            self.epoch, self.dc, self.event_type, self.subtype, self.chunk
        );
        ChunkKey::parse(&text).map_err(|e| StoreError::Name(e).into())
    }
}

/// `PUT /v1/chunks/...`: store one chunk (low-level ingest).
pub async fn put_chunk(
    State(store): State<Arc<Store>>,
    Path(path): Path<ChunkPath>,
    body: Body,
) -> Result<Response, ApiError> {
    let key = path.key()?;
    let body = read_body(body, store.config().max_body_bytes).await?;
    let shown = key.to_string();
    let outcome = blocking(move || store.put_chunk(&key, &body)).await?;
    let status = match outcome {
        PutOutcome::Created => StatusCode::CREATED,
        PutOutcome::AlreadyPresent => StatusCode::OK,
    };
    Ok((
        status,
        Json(json!({"chunk": shown, "created": status == StatusCode::CREATED})),
    )
        .into_response())
}

/// `GET /v1/chunks/...`: the stored bytes of one chunk.
pub async fn get_chunk(
    State(store): State<Arc<Store>>,
    Path(path): Path<ChunkPath>,
) -> Result<Response, ApiError> {
    let key = path.key()?;
    let shown = key.to_string();
    let read = tokio::task::spawn_blocking(move || store.chunk(&key))
        .await
        .map_err(|e| StoreError::Corrupt(format!("store task failed: {e}")))?;
    match read {
        Ok(Some(bytes)) => {
            Ok(([(header::CONTENT_TYPE, "application/zstd")], bytes).into_response())
        }
        Ok(None) => Err(ApiError::client(
            StatusCode::NOT_FOUND,
            "no_such_chunk",
            format!("chunk {shown} is not in this store (never stored, or deleted by retention)"),
        )),
        // The store's fault, so a 500, but not the generic one: its own
        // code and the detail tell a reader (the split-mode daemon) that
        // asking again will not help, unlike `internal` or a 503.
        Err(StoreError::CorruptChunk { key, reason }) => {
            tracing::error!(chunk = %key, %reason, "a stored chunk is corrupt");
            Err(ApiError::client(
                StatusCode::INTERNAL_SERVER_ERROR,
                "corrupt_chunk",
                format!("chunk {key} is corrupt: {reason}"),
            )
            .with_details(json!({"chunk": key.to_string(), "reason": reason})))
        }
        Err(e) => Err(e.into()),
    }
}

/// Path of a manifest: `{epoch}/{dc}/{seq}`.
#[derive(Debug, Deserialize)]
pub struct ManifestPath {
    epoch: String,
    dc: String,
    seq: String,
}

impl ManifestPath {
    fn key(&self) -> Result<ManifestKey, ApiError> {
        let bad = |what: &str| {
            ApiError::client(
                StatusCode::BAD_REQUEST,
                "bad_path",
                format!("{what} in /v1/manifests/{{epoch}}/{{dc}}/{{seq}} must be a non-negative integer"),
            )
        };
        epochd_store::validate_dc(&self.dc).map_err(|e| ApiError::from(StoreError::Name(e)))?;
        Ok(ManifestKey {
            epoch: self.epoch.parse().map_err(|_| bad("epoch"))?,
            dc: self.dc.clone(),
            seq: self.seq.parse().map_err(|_| bad("seq"))?,
        })
    }
}

/// `PUT /v1/manifests/{epoch}/{dc}/{seq}`: commit a manifest (low-level ingest).
pub async fn put_manifest(
    State(store): State<Arc<Store>>,
    Path(path): Path<ManifestPath>,
    body: Body,
) -> Result<Response, ApiError> {
    let key = path.key()?;
    let body = read_body(body, 16 << 20).await?;
    let manifest: Manifest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::client(
            StatusCode::BAD_REQUEST,
            "bad_manifest_json",
            format!("the manifest is not valid JSON of the manifest format: {e}"),
        )
    })?;
    if manifest.key() != key {
        return Err(ApiError::client(
            StatusCode::BAD_REQUEST,
            "manifest_path_mismatch",
            format!(
                "the manifest is for {} but was sent to /v1/manifests/{key}",
                manifest.key()
            ),
        ));
    }
    let committed = blocking(move || store.put_manifest(manifest)).await?;
    let status = if committed.notice.is_some() {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let digest = committed.manifest.digest();
    Ok((
        status,
        Json(json!({"commit": commit_json(&key), "digest": digest, "created": status == StatusCode::CREATED})),
    )
        .into_response())
}

/// `GET /v1/manifests/{epoch}/{dc}/{seq}`.
pub async fn get_manifest(
    State(store): State<Arc<Store>>,
    Path(path): Path<ManifestPath>,
) -> Result<Response, ApiError> {
    let key = path.key()?;
    let wanted = key.clone();
    match blocking(move || store.manifest(&wanted)).await? {
        Some(manifest) => Ok(Json(manifest).into_response()),
        None => Err(ApiError::client(
            StatusCode::NOT_FOUND,
            "no_such_commit",
            format!(
                "commit {key} is not in this store (not committed yet, or deleted by retention)"
            ),
        )),
    }
}

/// Query of `GET /v1/commits`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitsQuery {
    from: u64,
    to: u64,
    dc: Option<String>,
}

/// `GET /v1/commits?from=&to=[&dc=]`: committed (epoch, dc, seq) in a range.
pub async fn list_commits(
    State(store): State<Arc<Store>>,
    query: Result<Query<CommitsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| {
        ApiError::client(
            StatusCode::BAD_REQUEST,
            "bad_query",
            format!("{e}; expected ?from=EPOCH&to=EPOCH[&dc=DC] with unix seconds"),
        )
    })?;
    super::results_routes::check_range(query.from, query.to)?;
    let commits =
        blocking(move || store.commits(query.from, query.to, query.dc.as_deref())).await?;
    Ok(Json(json!({ "commits": commits })).into_response())
}
