//! The gateway's routes (docs/CLUSTER.md, "The gateway's contract"): a
//! node's parts stream, read by every gateway, and the merged results of
//! the cluster: a range of epochs, and live streams (SSE or NDJSON, as
//! the single-node stream routes negotiate them).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::Deserialize;
use tokio::sync::{broadcast, mpsc};

use super::results_routes::{bad_query, range_query, RangeQuery};
use super::{ApiError, AppState};
use crate::gateway::{parts, Gateway, Version, Versions};
use crate::results::render;

/// Epochs read at a time while a stream catches up.
const CATCH_UP_BATCH: u64 = 300;

/// How often an idle NDJSON stream sends a keep-alive (SSE has axum's).
const KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(15);

/// The gateway, or 404 `no_cluster` on a node running alone.
fn gateway(state: &AppState) -> Result<Arc<Gateway>, ApiError> {
    state.gateway.clone().ok_or_else(|| {
        ApiError::client(
            StatusCode::NOT_FOUND,
            "no_cluster",
            "this node runs alone: the cluster's routes need --cluster <etcd URLs> --node-id <id> \
             (docs/CLUSTER.md)",
        )
    })
}

/// `?from=` of a parts stream.
#[derive(Debug, Deserialize)]
pub struct PartsQuery {
    from: u64,
}

/// `GET /v1/cluster/parts?from=E`: this node's result records from epoch
/// E as NDJSON, with its closure (crate::gateway::parts).
pub async fn parts(
    State(state): State<AppState>,
    query: Result<Query<PartsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let gateway = gateway(&state)?;
    let Some(daemon) = state.daemon.clone() else {
        return Err(ApiError::client(
            StatusCode::NOT_FOUND,
            "no_daemon",
            "this process runs no daemon: it has no parts",
        ));
    };
    let Query(q) = query.map_err(|e| bad_query(format!("{e}; expected ?from=EPOCH")))?;
    let (tx, mut rx) = mpsc::channel::<String>(64);
    tokio::spawn(parts::feed(
        daemon.results().clone(),
        gateway.closure(),
        gateway.node().to_owned(),
        q.from,
        tx,
        state.stopping.clone(),
    ));
    let lines = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
        .map(|line| Ok::<_, Infallible>(Bytes::from(line)));
    let mut response = Body::from_stream(lines).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}

/// The latest versions of `job` over `from..=to`, read off the runtime.
async fn stored(
    versions: &Versions,
    job: &str,
    from: u64,
    to: u64,
) -> Result<Vec<Version>, ApiError> {
    let (v, job) = (versions.clone(), job.to_owned());
    super::error::read_blocking(move || v.range(&job, from, to)).await
}

/// `GET /v1/cluster/jobs/{name}/results?from=E&to=E`: the single-node
/// range answer, each epoch its latest merged version across the nodes.
pub async fn range(
    State(state): State<AppState>,
    Path(name): Path<String>,
    query: Result<Query<RangeQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let gateway = gateway(&state)?;
    let q = range_query(query)?;
    let versions = stored(gateway.versions(), &name, q.from, q.to).await?;
    let known = state
        .daemon
        .as_ref()
        .is_some_and(|d| d.registry().get(&name).is_some());
    if versions.is_empty() && !known {
        return Err(no_such_job(&name));
    }
    let body = render::range_json(
        &name,
        q.from,
        q.to,
        versions.iter().map(|v| v.json.as_str()),
    );
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response())
}

fn no_such_job(name: &str) -> ApiError {
    ApiError::client(
        StatusCode::NOT_FOUND,
        "no_such_job",
        format!("no job named {name:?} and no merged results under that name"),
    )
}

/// `?from=&format=&complete_only=&merged_only=` of a stream.
#[derive(Debug, Deserialize)]
pub struct StreamQuery {
    from: Option<u64>,
    format: Option<String>,
    complete_only: Option<bool>,
    merged_only: Option<bool>,
}

/// What a subscriber asked to get of each version.
#[derive(Debug, Clone, Copy)]
struct Wanted {
    /// Complete versions only.
    complete_only: bool,
    /// Without the parts' own results (`results`): the merged answer and
    /// its completeness only, a small share of the bytes.
    merged_only: bool,
}

/// One event before it is framed: (type, id, data), or a keep-alive.
enum Item {
    Event(&'static str, Option<u64>, String),
    KeepAlive,
}

impl Item {
    fn ndjson(self) -> Bytes {
        match self {
            Item::Event(kind, _, data) => {
                let mut line = render::with_field(&data, "type", kind);
                line.push('\n');
                Bytes::from(line)
            }
            Item::KeepAlive => Bytes::from_static(b"{\"type\":\"keep_alive\"}\n"),
        }
    }

    fn sse(self) -> Option<Event> {
        match self {
            Item::Event(kind, id, data) => {
                let event = Event::default().event(kind).data(data);
                Some(match id {
                    Some(id) => event.id(id.to_string()),
                    None => event,
                })
            }
            Item::KeepAlive => None,
        }
    }
}

/// A version as a stream event: `epoch` for an epoch's first version,
/// `correction` for a later one; the id is the epoch (the resume point).
fn item(v: &Version, merged_only: bool) -> Item {
    let kind = if v.version > 1 { "correction" } else { "epoch" };
    let json = if merged_only {
        without_results(&v.json)
    } else {
        v.json.clone()
    };
    Item::Event(kind, Some(v.epoch), json)
}

/// An epoch object without its `results` array.
fn without_results(json: &str) -> String {
    match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(json) {
        Ok(mut object) => {
            object.remove("results");
            serde_json::Value::Object(object).to_string()
        }
        // Versions are rendered by the gateway itself; keep one whole if
        // it ever does not parse rather than send nothing.
        Err(_) => json.to_owned(),
    }
}

/// `GET /v1/cluster/jobs/{name}/results/stream`: SSE by default; NDJSON
/// with `?format=ndjson` or `Accept: application/x-ndjson`. Starts from
/// now, from `?from=EPOCH`, or after `Last-Event-ID`, each epoch's latest
/// version first, then versions as they are emitted;
/// `?complete_only=true` sends complete versions only; `?merged_only=true`
/// leaves out each version's `results` (the parts' own).
pub async fn stream(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    query: Result<Query<StreamQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let gateway = gateway(&state)?;
    let Query(q) = query.map_err(|e| {
        bad_query(format!(
            "{e}; expected ?from=EPOCH, ?format=sse|ndjson, ?complete_only=true and/or \
             ?merged_only=true"
        ))
    })?;
    if state
        .daemon
        .as_ref()
        .is_some_and(|d| d.registry().get(&name).is_none())
    {
        return Err(no_such_job(&name));
    }
    let (format, start) = super::results_routes::negotiate(&headers, q.format.as_deref(), q.from)?;
    let ndjson = format == super::results_routes::Format::Ndjson;
    let live = gateway.versions().subscribe();
    let (tx, mut rx) = mpsc::channel::<Item>(8);
    tokio::spawn(feed(
        gateway.versions().clone(),
        name,
        start,
        Wanted {
            complete_only: q.complete_only.unwrap_or(false),
            merged_only: q.merged_only.unwrap_or(false),
        },
        live,
        ndjson,
        tx,
        state.stopping.clone(),
    ));
    let items = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let mut response = if ndjson {
        let mut response =
            Body::from_stream(items.map(|item| Ok::<_, Infallible>(item.ndjson()))).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-ndjson"),
        );
        response
    } else {
        Sse::new(items.filter_map(|item| std::future::ready(item.sse().map(Ok::<_, Infallible>))))
            .keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive"))
            .into_response()
    };
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

/// Writes a subscriber's stream: the stored latest versions from `start`
/// up to now, then each version as it is emitted (one already sent from
/// storage is not sent again).
#[allow(clippy::too_many_arguments)]
async fn feed(
    versions: Versions,
    job: String,
    start: Option<u64>,
    asked: Wanted,
    mut live: broadcast::Receiver<Arc<Version>>,
    ndjson: bool,
    tx: mpsc::Sender<Item>,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) {
    let wanted = |v: &Version| !asked.complete_only || v.complete;
    // The version of each epoch sent from storage.
    let mut sent: HashMap<u64, u32> = HashMap::new();
    if let Some(mut next) = start {
        let now = crate::clock::now_secs();
        while next <= now {
            let to = now.min(next.saturating_add(CATCH_UP_BATCH - 1));
            let Ok(batch) = stored(&versions, &job, next, to).await else {
                return;
            };
            for v in batch.iter().filter(|v| wanted(v)) {
                sent.insert(v.epoch, v.version);
                if tx.send(item(v, asked.merged_only)).await.is_err() {
                    return;
                }
            }
            next = to + 1;
        }
    }
    let mut keep_alive = tokio::time::interval(KEEP_ALIVE);
    keep_alive.tick().await;
    loop {
        let out = tokio::select! {
            got = live.recv() => match got {
                Ok(v) if v.job == job && wanted(&v) && start.is_none_or(|s| v.epoch >= s) => {
                    if sent.get(&v.epoch).is_some_and(|s| *s >= v.version) {
                        continue;
                    }
                    keep_alive.reset();
                    item(&v, asked.merged_only)
                }
                Ok(_) => continue,
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let _ = tx.send(end("lagging")).await;
                    return;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = keep_alive.tick(), if ndjson => Item::KeepAlive,
            () = tx.closed() => return,
            _ = stopping.changed() => {
                let _ = tx.send(end("shutting_down")).await;
                return;
            }
        };
        if tx.send(out).await.is_err() {
            return;
        }
    }
}

fn end(reason: &str) -> Item {
    let data = serde_json::json!({
        "reason": reason,
        "message": "reconnect with Last-Event-ID (or ?from=) to resume; range queries hold every epoch's latest version",
    });
    Item::Event("end", None, data.to_string())
}
