//! `epochd gen`: the load generator. Sends the reference workload to a node,
//! in real time, through either ingest path.
//!
//! Each second it takes the events of the current epoch (deterministic by seed
//! and epoch) and sends them in batches, several requests in flight. Each
//! batch of the high-level path carries an `Idempotency-Key` of its own, so
//! a batch that got no answer, a 5xx or a 409 (its key in flight) is sent
//! again, up to `--retries` times, and still stored once. A batch that fails
//! for good is counted, so "acknowledged" in the record means exactly the
//! batches the node answered 2xx to.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;

use epochd_store::Upload;
use epochd_workload::{Format as WorkloadFormat, Workload, WorkloadConfig};
use parking_lot::Mutex;
use serde_json::json;
use tokio::sync::Semaphore;

use crate::clock::{now_secs, since_epoch};

/// Which ingest path to drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum IngestPath {
    /// `POST /v1/events`.
    High,
    /// `PUT` chunks, then `PUT` the manifest, per (epoch, dc).
    Low,
}

/// What to send.
#[derive(Debug, Clone)]
pub struct GenOptions {
    /// Base URL of the node, e.g. `http://127.0.0.1:8790`.
    pub url: String,
    /// Events per second.
    pub rate: u32,
    /// Stop after this long; `None` runs until interrupted.
    pub duration: Option<Duration>,
    /// Workload seed.
    pub seed: u64,
    /// Encoding of the high-level path.
    pub format: WorkloadFormat,
    /// Ingest path.
    pub path: IngestPath,
    /// Events per request (high-level path).
    pub batch_events: usize,
    /// Requests in flight at most.
    pub concurrency: usize,
    /// Ask the node to answer only once the events are committed.
    pub wait_commit: bool,
    /// Tries after the first for a batch that got no answer, a 5xx or a
    /// 409 (high-level path; with the same idempotency key).
    pub retries: u32,
    /// Write one JSON line per acknowledged batch here.
    pub record: Option<PathBuf>,
    /// The node's ingest (or admin) token, if it has tokens.
    pub token: Option<String>,
}

/// What was sent.
#[derive(Debug, Default)]
pub struct GenReport {
    /// Events the node acknowledged.
    pub events_acked: AtomicU64,
    /// Requests that failed for good (after their retries).
    pub requests_failed: AtomicU64,
    /// Requests sent again.
    pub requests_retried: AtomicU64,
    /// Seconds whose events were never sent: the sender was still busy
    /// with earlier seconds (the node answers slower than the rate needs).
    pub seconds_skipped: AtomicU64,
    /// Requests acknowledged.
    pub requests_acked: AtomicU64,
}

struct Shared {
    client: reqwest::Client,
    options: GenOptions,
    workload: Workload,
    report: GenReport,
    record: Option<Mutex<std::fs::File>>,
    /// Names this run in idempotency keys, so two runs with one seed are
    /// two producers.
    run_id: String,
}

/// Pause before the `attempt`-th retry: 250 ms, doubling, at most 4 s.
fn retry_pause(attempt: u32) -> Duration {
    Duration::from_millis(250 << attempt.min(4))
}

/// Runs the generator until its duration ends or Ctrl-C.
pub async fn run(options: GenOptions) -> anyhow::Result<GenReport> {
    let record = match &options.record {
        Some(path) => Some(Mutex::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => None,
    };
    let shared = Arc::new(Shared {
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .default_headers(crate::api::auth::auth_headers(options.token.as_deref())?)
            .build()?,
        workload: Workload::new(WorkloadConfig {
            seed: options.seed,
            ..WorkloadConfig::default()
        }),
        options,
        report: GenReport::default(),
        record,
        run_id: {
            let nanos = since_epoch().as_nanos() as u64;
            format!("{:016x}", nanos ^ (u64::from(std::process::id()) << 40))
        },
    });
    let permits = Arc::new(Semaphore::new(shared.options.concurrency.max(1)));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let interrupted = crate::shutdown::shutdown_signal();
    tokio::pin!(interrupted);
    let mut last_epoch: Option<u64> = None;
    loop {
        if shared
            .options
            .duration
            .is_some_and(|d| started.elapsed() >= d)
        {
            break;
        }
        let epoch = now_secs();
        if let Some(skipped) = last_epoch.and_then(|last| epoch.checked_sub(last + 1)) {
            if skipped > 0 {
                shared
                    .report
                    .seconds_skipped
                    .fetch_add(skipped, Ordering::Relaxed);
                tracing::warn!(
                    skipped,
                    from = last_epoch.unwrap_or_default() + 1,
                    "seconds not sent: the node did not take the previous ones in time (lower --rate, or raise --concurrency)"
                );
            }
        }
        last_epoch = Some(epoch);
        match shared.options.path {
            IngestPath::High => {
                let rate = shared.options.rate as usize;
                let batch = shared.options.batch_events.max(1);
                for start in (0..rate).step_by(batch) {
                    let permit = permits.clone().acquire_owned().await?;
                    let shared = shared.clone();
                    let count = batch.min(rate - start);
                    tasks.spawn(async move {
                        shared.send_batch(epoch, start, count).await;
                        drop(permit);
                    });
                }
            }
            IngestPath::Low => {
                let permit = permits.clone().acquire_owned().await?;
                let shared = shared.clone();
                tasks.spawn(async move {
                    shared.send_epoch_low_level(epoch).await;
                    drop(permit);
                });
            }
        }
        let next = Duration::from_secs(epoch + 1).saturating_sub(since_epoch());
        tokio::select! {
            () = tokio::time::sleep(next) => {}
            () = &mut interrupted => break,
        }
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    let shared = Arc::into_inner(shared).expect("all tasks joined");
    Ok(shared.report)
}

impl Shared {
    fn note(&self, line: serde_json::Value) {
        if let Some(file) = &self.record {
            let mut file = file.lock();
            let _ = writeln!(file, "{line}");
            let _ = file.flush();
        }
    }

    async fn send_batch(&self, epoch: u64, start: usize, count: usize) {
        let rate = self.options.rate as usize;
        let mut body = Vec::with_capacity(count * 700);
        for event in self.workload.epoch(epoch, rate).skip(start).take(count) {
            event.write(self.options.format, &mut body);
        }
        let content_type = match self.options.format {
            WorkloadFormat::MsgPack => "application/msgpack",
            WorkloadFormat::Ndjson => "application/x-ndjson",
        };
        let mut url = format!("{}/v1/events", self.options.url);
        if self.options.wait_commit {
            url.push_str("?wait=commit");
        }
        let key = format!("gen-{}-{epoch}-{start}", self.run_id);
        let body = bytes::Bytes::from(body);
        let mut attempt = 0;
        loop {
            let answer = self
                .client
                .post(&url)
                .header("content-type", content_type)
                .header("idempotency-key", &key)
                .body(body.clone())
                .send()
                .await;
            // No answer, a passing fault or the key in flight: the batch may
            // be stored or not; the same key makes sending it again safe.
            let retry = match &answer {
                Ok(r) => r.status().is_server_error() || r.status() == 409,
                Err(_) => true,
            };
            if retry && attempt < self.options.retries {
                attempt += 1;
                self.report.requests_retried.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(retry_pause(attempt - 1)).await;
                continue;
            }
            match answer {
                Ok(r) if r.status().is_success() => {
                    let status = r.status().as_u16();
                    let answer: serde_json::Value = r.json().await.unwrap_or_default();
                    self.report.requests_acked.fetch_add(1, Ordering::Relaxed);
                    self.report
                        .events_acked
                        .fetch_add(count as u64, Ordering::Relaxed);
                    self.note(json!({
                        "epoch": epoch, "rate": rate, "start": start, "count": count,
                        "status": status, "commits": answer.get("commits"),
                        "tries": attempt + 1, "replayed": answer.get("replayed"),
                    }));
                }
                Ok(r) => {
                    self.report.requests_failed.fetch_add(1, Ordering::Relaxed);
                    let status = r.status();
                    let text = r.text().await.unwrap_or_default();
                    tracing::warn!(%status, answer = %text, epoch, start, "batch refused");
                }
                Err(e) => {
                    self.report.requests_failed.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(error = %e, epoch, start, "batch not acknowledged");
                }
            }
            return;
        }
    }

    /// The relocator's way: one chunk per (dc, type, subtype), then the manifest.
    async fn send_epoch_low_level(&self, epoch: u64) {
        let rate = self.options.rate as usize;
        let events = self
            .workload
            .encode_epoch(epoch, rate, WorkloadFormat::MsgPack);
        let uploads =
            Upload::group(&events, 0, "local", 3).expect("the workload's events are valid");
        for Upload { chunks, manifest } in uploads {
            for (key, blob) in chunks {
                let url = format!("{}/v1/chunks/{key}", self.options.url);
                if !self.put(&url, blob, "application/zstd").await {
                    return;
                }
            }
            let (dc, seq) = (manifest.dc.clone(), manifest.seq);
            let url = format!("{}/v1/manifests/{}", self.options.url, manifest.key());
            let body = serde_json::to_vec(&manifest).expect("a manifest serializes");
            if self.put(&url, body, "application/json").await {
                self.report
                    .events_acked
                    .fetch_add(manifest.events, Ordering::Relaxed);
                self.note(json!({"epoch": epoch, "dc": dc, "events": manifest.events,
                    "commits": [{"epoch": epoch, "dc": dc, "seq": seq}]}));
            }
        }
    }

    async fn put(&self, url: &str, body: Vec<u8>, content_type: &str) -> bool {
        match self
            .client
            .put(url)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => {
                self.report.requests_acked.fetch_add(1, Ordering::Relaxed);
                true
            }
            Ok(r) => {
                self.report.requests_failed.fetch_add(1, Ordering::Relaxed);
                let status = r.status();
                let answer = r.text().await.unwrap_or_default();
                tracing::warn!(%status, %answer, url, "PUT refused");
                false
            }
            Err(e) => {
                self.report.requests_failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, url, "PUT not acknowledged");
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// Regression: seconds the generator could not send in time (every
    /// request slot busy) were skipped without a word. A node that takes
    /// 3 s per request, one request at a time, at one batch a second: some
    /// seconds cannot be sent, and the report counts them.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn seconds_not_sent_in_time_are_counted() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(async move {
                    let mut request = vec![0u8; 64 << 10];
                    let _ = socket.read(&mut request).await;
                    tokio::time::sleep(Duration::from_secs(3)).await;
                    let answer = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                                  content-length: 2\r\nconnection: close\r\n\r\n{}";
                    let _ = socket.write_all(answer.as_bytes()).await;
                });
            }
        });
        let report = run(GenOptions {
            url,
            rate: 1,
            duration: Some(Duration::from_secs(8)),
            seed: 1,
            format: WorkloadFormat::Ndjson,
            path: IngestPath::High,
            batch_events: 1,
            concurrency: 1,
            wait_commit: false,
            retries: 0,
            record: None,
            token: None,
        })
        .await
        .unwrap();
        assert!(
            report.seconds_skipped.load(Ordering::Relaxed) >= 1,
            "acked {} of 8 seconds, none reported skipped",
            report.requests_acked.load(Ordering::Relaxed)
        );
    }
}
