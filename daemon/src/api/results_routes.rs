//! The results routes: a range of epochs, and live streams (Server-Sent
//! Events or NDJSON) that catch up from storage first.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc};

use super::{ApiError, DaemonState};
use crate::pipeline::Daemon;
use crate::results::{render, EventKind, ResultRecord, Streams, Subscription};

/// Most epochs one range query returns (an hour).
pub const MAX_RANGE_EPOCHS: u64 = 3600;

/// Epochs read from storage at a time while a stream catches up.
const CATCH_UP_BATCH: u64 = 300;

/// How often an idle stream sends a keep-alive.
const KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(15);

pub(super) fn bad_query(message: String) -> ApiError {
    ApiError::client(StatusCode::BAD_REQUEST, "bad_query", message)
}

/// `?from=&to=` of a range query.
#[derive(Debug, Deserialize)]
pub struct RangeQuery {
    pub(super) from: u64,
    pub(super) to: u64,
}

/// A range query's `?from=&to=`, parsed and checked ([`check_range`]),
/// or the 400 that says what to send: shared by every range route.
pub(super) fn range_query(
    query: Result<Query<RangeQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<RangeQuery, ApiError> {
    let Query(q) = query.map_err(|e| {
        bad_query(format!(
            "{e}; expected ?from=EPOCH&to=EPOCH (unix seconds, at most {MAX_RANGE_EPOCHS} epochs)"
        ))
    })?;
    check_range(q.from, q.to)?;
    Ok(q)
}

/// Refuses a reversed range, or one of more than [`MAX_RANGE_EPOCHS`]
/// epochs: one answer stays small, and one request cannot make the node
/// read a day of data at once.
pub(crate) fn check_range(from: u64, to: u64) -> Result<(), ApiError> {
    if from > to {
        return Err(bad_query(format!("from={from} is after to={to}")));
    }
    if to - from >= MAX_RANGE_EPOCHS {
        return Err(ApiError::client(
            StatusCode::BAD_REQUEST,
            "range_too_large",
            format!(
                "{} epochs asked for; at most {MAX_RANGE_EPOCHS} per request: split the range",
                to - from + 1
            ),
        ));
    }
    Ok(())
}

/// The stored records of `job` over `from..=to`, by epoch, read off the
/// async runtime.
async fn stored_range(
    daemon: &Arc<Daemon>,
    job: &str,
    from: u64,
    to: u64,
) -> Result<Vec<(u64, Vec<ResultRecord>)>, ApiError> {
    let streams = daemon.streams().clone();
    let job = job.to_owned();
    super::error::read_blocking(move || streams.stored(&job, from, to)).await
}

/// `GET /v1/jobs/{name}/results?from=E&to=E`: each epoch's results (every
/// dc and seq) and their merge.
pub async fn range(
    State(state): State<DaemonState>,
    Path(name): Path<String>,
    query: Result<Query<RangeQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let daemon = state.daemon.clone();
    let q = range_query(query)?;
    let stored = stored_range(&daemon, &name, q.from, q.to).await?;
    if stored.is_empty() && daemon.registry().get(&name).is_none() {
        return Err(ApiError::client(
            StatusCode::NOT_FOUND,
            "no_such_job",
            format!("no job named {name:?} and no results under that name"),
        ));
    }
    // The epochs' renderings go in as they are, byte for byte what every
    // other reader gets (results::render).
    let mut epochs = Vec::with_capacity(stored.len());
    for (epoch, records) in stored {
        epochs.push(daemon.streams().render(&name, epoch, records).await);
    }
    let body = render::range_json(&name, q.from, q.to, epochs.iter().map(|e| &**e));
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response())
}

/// Epochs a logs request covers when it names no range: the last five minutes.
const DEFAULT_LOG_EPOCHS: u64 = 300;

/// `?from=&to=` of a logs request, both optional.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogsQuery {
    from: Option<u64>,
    to: Option<u64>,
}

/// `GET /v1/jobs/{name}/logs?from=E&to=E`: the lines the job logged in its
/// runs over those epochs (default: the last 300), in epoch, dc and seq
/// order, each with the run it came from and whether that run failed.
pub async fn logs(
    State(state): State<DaemonState>,
    Path(name): Path<String>,
    query: Result<Query<LogsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let daemon = state.daemon.clone();
    let Query(q) = query.map_err(|e| {
        bad_query(format!(
            "{e}; expected [?from=EPOCH][&to=EPOCH] (unix seconds, at most {MAX_RANGE_EPOCHS} epochs)"
        ))
    })?;
    let to = q.to.unwrap_or_else(crate::clock::now_secs);
    let from = q
        .from
        .unwrap_or_else(|| to.saturating_sub(DEFAULT_LOG_EPOCHS - 1));
    check_range(from, to)?;
    if daemon.registry().get(&name).is_none() {
        return Err(ApiError::client(
            StatusCode::NOT_FOUND,
            "no_such_job",
            format!("no job named {name:?}"),
        ));
    }
    let stored = stored_range(&daemon, &name, from, to).await?;
    let mut lines = Vec::new();
    let mut dropped = 0u64;
    for record in stored.iter().flat_map(|(_, records)| records) {
        dropped += u64::from(record.logs_dropped);
        let failed = matches!(record.outcome, crate::results::Outcome::Error { .. });
        for line in &record.logs {
            lines.push(json!({
                "epoch": record.epoch, "dc": record.dc, "seq": record.seq,
                "run_failed": failed, "level": line.level, "message": line.message,
            }));
        }
    }
    Ok(Json(json!({
        "job": name, "from": from, "to": to, "lines": lines, "dropped": dropped,
    }))
    .into_response())
}

/// `?from=&format=` of a stream.
#[derive(Debug, Deserialize)]
pub struct StreamQuery {
    from: Option<u64>,
    format: Option<String>,
}

/// How a stream is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    Sse,
    Ndjson,
}

/// A stream's framing (`?format=`, else the `Accept` header; SSE by
/// default) and where it starts: after `Last-Event-ID` (an epoch), else
/// `?from=`, else (`None`) from now. Shared by every results stream.
pub(super) fn negotiate(
    headers: &HeaderMap,
    format: Option<&str>,
    from: Option<u64>,
) -> Result<(Format, Option<u64>), ApiError> {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let format = match format {
        Some("ndjson") => Format::Ndjson,
        Some("sse") => Format::Sse,
        Some(other) => return Err(bad_query(format!("format={other}: use sse or ndjson"))),
        None if accept.contains("application/x-ndjson") => Format::Ndjson,
        None => Format::Sse,
    };
    let resume = match headers.get("last-event-id") {
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or_else(|| {
                    bad_query(
                        "Last-Event-ID must be an epoch (the id of the last event seen)".into(),
                    )
                })?
                + 1,
        ),
        None => None,
    };
    Ok((format, resume.or(from)))
}

/// One thing a stream says, before it is framed as SSE or NDJSON.
enum Item {
    /// A JSON object (an epoch's results, a late result, the end), with
    /// the event's type and, for epochs, its id (the resume position).
    Event {
        kind: &'static str,
        id: Option<u64>,
        data: String,
    },
    /// Nothing happened for a while (NDJSON only: SSE keeps itself alive).
    KeepAlive,
}

impl Item {
    fn event(kind: &'static str, id: Option<u64>, data: impl Into<String>) -> Item {
        Item::Event {
            kind,
            id,
            data: data.into(),
        }
    }

    /// The item as one NDJSON line: the object with its `type` first.
    fn ndjson(self) -> Bytes {
        match self {
            Item::Event { kind, data, .. } => {
                let mut line = render::with_field(&data, "type", kind);
                line.push('\n');
                Bytes::from(line)
            }
            Item::KeepAlive => Bytes::from_static(b"{\"type\":\"keep_alive\"}\n"),
        }
    }

    /// The item as a Server-Sent Event (`None`: nothing to send).
    fn sse(self) -> Option<Event> {
        match self {
            Item::Event { kind, id, data } => {
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

/// `GET /v1/jobs/{name}/results/stream`: SSE by default; NDJSON with
/// `?format=ndjson` or `Accept: application/x-ndjson`. Starts from now,
/// from `?from=EPOCH`, or after `Last-Event-ID`.
pub async fn stream(
    State(state): State<DaemonState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    query: Result<Query<StreamQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let daemon = state.daemon.clone();
    let Query(q) = query.map_err(|e| {
        bad_query(format!(
            "{e}; expected ?from=EPOCH and/or ?format=sse|ndjson"
        ))
    })?;
    if daemon.registry().get(&name).is_none() {
        return Err(ApiError::client(
            StatusCode::NOT_FOUND,
            "no_such_job",
            format!("no job named {name:?}: list them with GET /v1/jobs"),
        ));
    }
    let (format, start) = negotiate(&headers, q.format.as_deref(), q.from)?;
    // Nothing is kept from before the results' retention: start there.
    let start = start.map(|s| s.max(daemon.results_horizon()));
    let subscription = daemon.streams().subscribe(&name);
    let (tx, mut rx) = mpsc::channel::<Item>(8);
    tokio::spawn(feed(
        daemon.streams().clone(),
        name,
        start,
        subscription,
        format,
        tx,
        state.stopping.clone(),
    ));
    let items = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let mut response = match format {
        Format::Sse => Sse::new(
            items.filter_map(|item| std::future::ready(item.sse().map(Ok::<_, Infallible>))),
        )
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive"))
        .into_response(),
        Format::Ndjson => {
            let mut response =
                Body::from_stream(items.map(|item| Ok::<_, Infallible>(item.ndjson())))
                    .into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-ndjson"),
            );
            response
        }
    };
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

/// Writes a subscriber's stream: stored epochs from `start` up to the live
/// position, then live events. Ends when the client goes, or with an `end`
/// event when it falls too far behind or the node shuts down.
async fn feed(
    streams: Streams,
    job: String,
    start: Option<u64>,
    mut sub: Subscription,
    format: Format,
    tx: mpsc::Sender<Item>,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) {
    // The first epoch the client still needs.
    let mut next = match (start, sub.watermark) {
        (Some(start), _) => start,
        (None, Some(w)) => w + 1,
        (None, None) => 0,
    };
    if let Some(watermark) = sub.watermark {
        while next <= watermark {
            if tx.is_closed() || *stopping.borrow() {
                return;
            }
            let to = watermark.min(next.saturating_add(CATCH_UP_BATCH - 1));
            let (s, j, from) = (streams.clone(), job.clone(), next);
            let stored = match tokio::task::spawn_blocking(move || s.stored(&j, from, to)).await {
                Ok(Ok(stored)) => stored,
                Ok(Err(e)) => {
                    tracing::error!(%job, error = %e, "a stream could not read stored results");
                    let _ = tx.send(end("error", next)).await;
                    return;
                }
                Err(_) => return,
            };
            for (epoch, records) in stored {
                let data = streams.render(&job, epoch, records).await;
                if tx
                    .send(Item::event("epoch", Some(epoch), &*data))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            next = to + 1;
        }
    }
    let mut keep_alive = tokio::time::interval(KEEP_ALIVE);
    keep_alive.tick().await;
    loop {
        let bytes = tokio::select! {
            event = sub.rx.recv() => match event {
                Ok(event) => match event.kind {
                    EventKind::Epoch if event.epoch >= next => {
                        next = event.epoch + 1;
                        keep_alive.reset();
                        Item::event("epoch", Some(event.epoch), event.json.as_str())
                    }
                    EventKind::Late if event.epoch < next => Item::event("late", None, event.json.as_str()),
                    // Already sent from storage, or not yet the client's.
                    _ => continue,
                },
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let _ = tx.send(end("lagging", next)).await;
                    return;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            // SSE has its own keep-alive (axum's); NDJSON has this one.
            _ = keep_alive.tick(), if format == Format::Ndjson => Item::KeepAlive,
            () = tx.closed() => return,
            _ = stopping.changed() => {
                let _ = tx.send(end("shutting_down", next)).await;
                return;
            }
        };
        if tx.send(bytes).await.is_err() {
            return;
        }
    }
}

/// The event that ends a stream, saying where to resume.
fn end(reason: &str, next: u64) -> Item {
    let message = match reason {
        "lagging" => "this subscriber fell too far behind the live results; reconnect with Last-Event-ID (or ?from=resume_from) to resume with nothing lost",
        "shutting_down" => "the node is shutting down; reconnect with Last-Event-ID (or ?from=resume_from) when it is back",
        _ => "the stream failed; reconnect with Last-Event-ID (or ?from=resume_from) to resume",
    };
    let data: Value = json!({"reason": reason, "message": message, "resume_from": next});
    Item::event("end", None, data.to_string())
}
