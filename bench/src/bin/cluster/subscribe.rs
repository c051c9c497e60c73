//! Subscribers: each reads one job's merged results from a node's gateway
//! (`/v1/cluster/jobs/{job}/results/stream?format=ndjson&merged_only=true`),
//! every version, and keeps what came when.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use epochd_store::clock::now_ms;
use serde_json::Value;

/// One version of one epoch's merged result as a subscriber got it.
#[derive(Debug, Clone)]
pub struct Got {
    /// 1, 2, ...
    pub version: u64,
    /// Every expected node's part.
    pub complete: bool,
    /// When its line came out of the socket, unix ms.
    pub received_ms: u64,
    /// The latest commit among its parts, unix ms.
    pub committed_ms: u64,
    /// Parts received / expected.
    pub parts: (u64, u64),
    /// `node why` of each missing node.
    pub missing: Vec<String>,
    /// The merged result (null when the merge failed).
    pub merged: Value,
}

/// (job, subscriber) → epoch → versions in arrival order.
pub type Seen = Arc<Mutex<BTreeMap<(String, usize), BTreeMap<u64, Vec<Got>>>>>;

/// Reads `url` (a stream from `from`) until aborted, reconnecting from the
/// last epoch seen when it breaks.
pub async fn follow(
    client: reqwest::Client,
    base: String,
    job: String,
    subscriber: usize,
    from: u64,
    token: String,
    seen: Seen,
) {
    let mut next = from;
    loop {
        let url = format!(
            "{base}/v1/cluster/jobs/{job}/results/stream?format=ndjson&merged_only=true&from={next}"
        );
        let Ok(mut answer) = client.get(&url).bearer_auth(&token).send().await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let mut partial = Vec::new();
        while let Ok(Some(chunk)) = answer.chunk().await {
            let received_ms = now_ms();
            partial.extend_from_slice(&chunk);
            while let Some(nl) = partial.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = partial.drain(..=nl).collect();
                let Ok(v) = serde_json::from_slice::<Value>(&line) else {
                    continue;
                };
                let Some(epoch) = v["epoch"].as_u64() else {
                    continue;
                };
                next = next.max(epoch);
                let got = Got {
                    version: v["version"].as_u64().unwrap_or(1),
                    complete: v["complete"].as_bool().unwrap_or(false),
                    received_ms,
                    committed_ms: v["committed_at_ms"].as_u64().unwrap_or(received_ms),
                    parts: (
                        v["parts"]["received"].as_u64().unwrap_or(0),
                        v["parts"]["expected"].as_u64().unwrap_or(0),
                    ),
                    missing: v["missing"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|m| {
                            format!(
                                "{} {}",
                                m["node"].as_str().unwrap_or("?"),
                                m["why"].as_str().unwrap_or("?")
                            )
                        })
                        .collect(),
                    merged: v["merged"].clone(),
                };
                let mut seen = seen.lock().unwrap();
                let versions = seen
                    .entry((job.clone(), subscriber))
                    .or_default()
                    .entry(epoch)
                    .or_default();
                if versions.iter().all(|g| g.version != got.version) {
                    versions.push(got);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
