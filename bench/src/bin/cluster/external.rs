//! External processing: each consumer (one per job) fetches every commit of
//! every measured epoch through the read API (`/v1/commits`, the manifest,
//! each chunk), decodes it itself and computes its job natively, outside the
//! cluster. Its decode and job CPU are measured on its own thread.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use epochd_decode::EpochMeta;
use epochd_store::Manifest;
use serde_json::Value;

use crate::load::Shared;
use crate::reference::{summarize, Summary};

/// What one consumer got for one epoch.
pub struct Answer {
    /// The job kind's summary over every commit of the epoch.
    pub summary: Result<Summary, String>,
    /// When it was in hand, unix ms.
    pub done_ms: u64,
}

/// A consumer's costs over its epochs.
#[derive(Default, Clone, Copy)]
pub struct Costs {
    /// Decode CPU-s.
    pub decode_s: f64,
    /// Job CPU-s.
    pub job_s: f64,
    /// Body bytes fetched.
    pub bytes: u64,
}

/// One consumer: fetches, decodes and computes `kind` for `epoch` from
/// every node.
pub async fn consume(
    client: &reqwest::Client,
    urls: &[String],
    token: &str,
    kind: &str,
    epoch: u64,
    pool: &Arc<rayon::ThreadPool>,
    costs: &mut Costs,
) -> Result<Answer> {
    let mut commits = Vec::new();
    for url in urls {
        for c in list_commits(client, url, token, epoch).await? {
            let (Some(dc), Some(seq)) = (c["dc"].as_str(), c["seq"].as_u64()) else {
                continue;
            };
            let manifest: Manifest = client
                .get(format!("{url}/v1/manifests/{epoch}/{dc}/{seq}"))
                .bearer_auth(token)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await
                .context("a manifest")?;
            let mut blobs = Vec::new();
            for entry in &manifest.chunks {
                let key = manifest.chunk_key(entry);
                let bytes = client
                    .get(format!("{url}/v1/chunks/{key}"))
                    .bearer_auth(token)
                    .send()
                    .await?
                    .error_for_status()?
                    .bytes()
                    .await?;
                costs.bytes += bytes.len() as u64;
                blobs.push(bytes.to_vec());
            }
            commits.push((manifest, blobs));
        }
    }
    let pool = pool.clone();
    let kind = kind.to_owned();
    let (summary, decode, job) = tokio::task::spawn_blocking(move || {
        pool.install(|| {
            let mut total = Summary::default();
            let (mut decode, mut job) = (Duration::ZERO, Duration::ZERO);
            for (manifest, blobs) in commits {
                let meta = EpochMeta {
                    epoch: manifest.epoch,
                    dc: manifest.dc.clone(),
                    seq: manifest.seq,
                };
                let t0 = epochd_bench::cpu::thread_time();
                let decoded = epochd_decode::decode(meta, &blobs);
                let t1 = epochd_bench::cpu::thread_time();
                decode += t1.saturating_sub(t0);
                let decoded = match decoded {
                    Ok(d) => d,
                    Err(e) => return (Err(format!("decode: {e}")), decode, job),
                };
                let result = epochd_bench::native::run(&kind, &decoded);
                job += epochd_bench::cpu::thread_time().saturating_sub(t1);
                let part = result
                    .map_err(|e| e.to_string())
                    .and_then(|bytes| {
                        serde_json::from_slice::<Value>(&bytes).map_err(|e| e.to_string())
                    })
                    .and_then(|v| summarize(&kind, &v));
                match part {
                    Ok(s) => total.add(s),
                    Err(e) => return (Err(e), decode, job),
                }
            }
            (Ok(total), decode, job)
        })
    })
    .await?;
    costs.decode_s += decode.as_secs_f64();
    costs.job_s += job.as_secs_f64();
    Ok(Answer {
        summary,
        done_ms: epochd_store::clock::now_ms(),
    })
}

/// Tells the consumers, epoch by epoch, when the cluster holds every event
/// the load generator had acknowledged for it: its batches answered, and
/// the events of the epoch's commits on all nodes adding up to them. (A
/// node's closure is not enough here: a batch acknowledged after the
/// epoch's grace becomes a later commit, which the gateway turns into a
/// correction; a consumer that fetched once would miss it. Waiting for the
/// count compares every strategy on the same events.) One watcher for all
/// consumers, so polling the commit lists costs once, not per job.
pub async fn announce_ready(
    client: reqwest::Client,
    urls: Vec<String>,
    token: String,
    window: std::ops::Range<u64>,
    shared: Arc<Shared>,
    ready: tokio::sync::watch::Sender<u64>,
) -> Result<()> {
    for epoch in window {
        let deadline = epochd_store::clock::now_ms() + 120_000;
        loop {
            if shared.posted_through.load(Ordering::Relaxed) >= epoch {
                let want = shared
                    .expected
                    .lock()
                    .unwrap()
                    .get(&epoch)
                    .map_or(0, |e| e.events());
                if committed_events(&client, &urls, &token, epoch).await? >= want {
                    break;
                }
            }
            anyhow::ensure!(
                epochd_store::clock::now_ms() < deadline,
                "epoch {epoch}: the cluster's commits never held every acknowledged event"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // No consumer left listening is not an error of the watcher.
        let _ = ready.send(epoch);
    }
    Ok(())
}

/// Events of `epoch`'s commits on every node (`GET /v1/commits`).
async fn committed_events(
    client: &reqwest::Client,
    urls: &[String],
    token: &str,
    epoch: u64,
) -> Result<u64> {
    let mut events = 0;
    for url in urls {
        events += list_commits(client, url, token, epoch)
            .await?
            .iter()
            .filter_map(|c| c["events"].as_u64())
            .sum::<u64>();
    }
    Ok(events)
}

/// The commits of `epoch` on one node (`GET /v1/commits`).
async fn list_commits(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    epoch: u64,
) -> Result<Vec<Value>> {
    let mut list: Value = client
        .get(format!("{url}/v1/commits?from={epoch}&to={epoch}"))
        .bearer_auth(token)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(match list["commits"].take() {
        Value::Array(commits) => commits,
        _ => Vec::new(),
    })
}

/// A pool of one thread: a consumer's decode (rayon inside) runs there
/// alone, so that thread's CPU time is all of it.
pub fn one_thread_pool() -> Arc<rayon::ThreadPool> {
    Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .thread_name(|_| "external-consumer".into())
            .build()
            .expect("a thread"),
    )
}
