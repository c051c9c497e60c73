//! Reading one member's parts stream: connect, pass on its parts and
//! closures, and when the stream breaks, say so and connect again with
//! backoff, from a little before the last closure it gave (a part that
//! comes twice is kept once).

use std::time::Duration;

use tokio::sync::mpsc;

use super::parts::{record_of, PartsLine, CLOSED_EVERY};
use super::GatewayStats;
use crate::results::ResultRecord;

/// What a reader tells the gateway.
#[derive(Debug)]
pub enum Input {
    /// A part of `node`.
    Part(String, ResultRecord),
    /// `node` closed through an epoch.
    Closed(String, u64),
    /// `node`'s stream connected (true) or broke (false).
    Connected(String, bool),
}

/// A reconnection resumes this many epochs before the last closure, so a
/// late part of a recent epoch stored while disconnected is not missed.
const RESUME_LOOKBACK: u64 = 30;

/// No byte for this long (a `closed` line comes every second): the
/// connection is dead.
const IDLE: Duration = Duration::from_secs(5);

const MIN_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// One member to read.
pub struct Member {
    /// Its id.
    pub node: String,
    /// Its API.
    pub url: String,
    /// The first epoch wanted.
    pub from: u64,
    /// Whether its bytes count as read from another node (not this one).
    pub counted: bool,
}

/// Reads `member` until the task is aborted (it left the cluster) or the
/// gateway is gone.
pub async fn read(
    member: Member,
    client: reqwest::Client,
    token: Option<String>,
    tx: mpsc::Sender<Input>,
    stats: std::sync::Arc<GatewayStats>,
) {
    let Member {
        node,
        url,
        mut from,
        counted,
    } = member;
    let mut backoff = MIN_BACKOFF;
    loop {
        let mut request = client.get(format!("{url}/v1/cluster/parts?from={from}"));
        if let Some(token) = &token {
            request = request.bearer_auth(token);
        }
        match request.send().await {
            Ok(response) if response.status().is_success() => {
                if tx.send(Input::Connected(node.clone(), true)).await.is_err() {
                    return;
                }
                backoff = MIN_BACKOFF;
                match follow((&node, counted), response, &tx, &stats, &mut from).await {
                    Ok(why) => tracing::debug!(%node, %why, from, "a parts stream ended"),
                    Err(Gone) => return,
                }
            }
            Ok(response) => {
                tracing::warn!(%node, %url, status = %response.status(), "a node refused its parts stream")
            }
            Err(e) => {
                tracing::debug!(%node, %url, error = %e, "a node's parts stream does not answer")
            }
        }
        if tx
            .send(Input::Connected(node.clone(), false))
            .await
            .is_err()
        {
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// The gateway stopped listening.
struct Gone;

/// Follows one connection to `node` (its bytes counted as read from
/// another node when `counted`); `Ok` with why it ended.
async fn follow(
    (node, counted): (&str, bool),
    mut response: reqwest::Response,
    tx: &mpsc::Sender<Input>,
    stats: &GatewayStats,
    from: &mut u64,
) -> Result<String, Gone> {
    let mut buf: Vec<u8> = Vec::new();
    loop {
        let chunk = match tokio::time::timeout(IDLE.max(CLOSED_EVERY * 3), response.chunk()).await {
            Err(_) => return Ok("idle".into()),
            Ok(Err(e)) => return Ok(e.to_string()),
            Ok(Ok(None)) => return Ok("closed".into()),
            Ok(Ok(Some(chunk))) => chunk,
        };
        if counted {
            stats
                .bytes_from_nodes
                .fetch_add(chunk.len() as u64, std::sync::atomic::Ordering::Relaxed);
        }
        buf.extend_from_slice(&chunk);
        while let Some(end) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=end).collect();
            let parsed: PartsLine = match serde_json::from_slice(&line) {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(node, error = %e, "a parts line does not parse; skipped");
                    continue;
                }
            };
            match parsed {
                PartsLine::Closed { through } => {
                    *from = through.saturating_sub(RESUME_LOOKBACK) + 1;
                    tx.send(Input::Closed(node.to_owned(), through))
                        .await
                        .map_err(|_| Gone)?;
                }
                PartsLine::End { reason, .. } => return Ok(reason),
                part => {
                    let Some((sender, record)) = record_of(part) else {
                        continue;
                    };
                    if sender != node {
                        tracing::warn!(node, sender, "a part names another node; skipped");
                        continue;
                    }
                    stats
                        .parts
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tx.send(Input::Part(node.to_owned(), record))
                        .await
                        .map_err(|_| Gone)?;
                }
            }
        }
    }
}
