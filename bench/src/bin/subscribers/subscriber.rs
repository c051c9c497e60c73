//! One SSE subscriber of a job's live results: a tokio task reading the stream
//! with reqwest, recording every epoch event as it arrives.

use std::hash::{DefaultHasher, Hasher};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::watch;

use crate::sse;

/// Unix time now, in milliseconds (fractional): the wall clock the node stamps its
/// `committed_at_ms` and `emitted_at_ms` with, on the same machine.
pub fn now_ms() -> f64 {
    epochd_store::clock::since_epoch().as_secs_f64() * 1000.0
}

/// One `epoch` event as one subscriber received it.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The epoch (`id:`, and `epoch` of the data: checked equal).
    pub epoch: u64,
    /// When the chunk that completed the event came out of the socket, unix ms.
    pub received_ms: f64,
    /// The event's `committed_at_ms`: the latest commit among its results.
    pub committed_ms: u64,
    /// The event's `emitted_at_ms`: when it left the daemon.
    pub emitted_ms: u64,
    /// The earliest commit among its results.
    pub first_commit_ms: u64,
    /// The latest `stored_at_ms` among its results.
    pub stored_ms: u64,
    /// Results in the event.
    pub results: usize,
    /// Distinct dcs among the results.
    pub dcs: usize,
    /// A hash of the event's data, to compare subscribers' copies.
    pub hash: u64,
}

/// Everything one subscriber saw.
#[derive(Debug, Default)]
pub struct Record {
    /// Its number (0..N).
    pub id: usize,
    /// Its job.
    pub job: String,
    /// Every `epoch` event, in arrival order.
    pub deliveries: Vec<Delivery>,
    /// `late` events: their epoch, and the (dc, seq) of their results.
    pub late: Vec<(u64, Vec<(String, u32)>)>,
    /// `end` events (their data).
    pub ends: Vec<String>,
    /// Times the stream closed or failed and was reopened (with `Last-Event-ID`).
    pub reconnects: usize,
    /// Request or stream errors, and events that did not parse.
    pub errors: Vec<String>,
    /// `: keep-alive` comments.
    pub keep_alives: usize,
    /// Bytes of stream received.
    pub bytes: u64,
}

/// Shared with the main task while the subscribers run.
#[derive(Debug)]
pub struct Progress {
    /// Subscribers whose stream answered 200 at least once.
    pub connected: AtomicUsize,
    /// Per subscriber, the last epoch received (0: none yet).
    pub last_epoch: Vec<AtomicU64>,
}

impl Progress {
    /// For `n` subscribers.
    pub fn new(n: usize) -> Progress {
        Progress {
            connected: AtomicUsize::new(0),
            last_epoch: (0..n).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// The smallest last epoch over every subscriber (0 if one has none yet).
    pub fn min_last_epoch(&self) -> u64 {
        self.last_epoch
            .iter()
            .map(|e| e.load(Ordering::Relaxed))
            .min()
            .unwrap_or(0)
    }
}

#[derive(Deserialize)]
struct EpochData {
    job: String,
    epoch: u64,
    committed_at_ms: u64,
    emitted_at_ms: u64,
    results: Vec<ResultMeta>,
}

#[derive(Deserialize)]
struct LateData {
    epoch: u64,
    results: Vec<LateResult>,
}

#[derive(Deserialize)]
struct LateResult {
    dc: String,
    seq: u32,
}

#[derive(Deserialize)]
struct ResultMeta {
    dc: String,
    committed_at_ms: u64,
    stored_at_ms: u64,
}

/// Reads `GET {url}/v1/jobs/{job}/results/stream` until `stop` turns true,
/// reopening it after `Last-Event-ID` whenever it closes or fails.
pub async fn run(
    client: reqwest::Client,
    url: String,
    job: String,
    id: usize,
    progress: Arc<Progress>,
    mut stop: watch::Receiver<bool>,
) -> Record {
    let stream_url = format!("{url}/v1/jobs/{job}/results/stream");
    let mut record = Record {
        id,
        job,
        ..Record::default()
    };
    let mut ever_connected = false;
    let mut attempt = 0usize;
    while !*stop.borrow() {
        if attempt > 0 {
            record.reconnects += 1;
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(100)) => {}
                _ = stop.changed() => break,
            }
        }
        attempt += 1;
        let mut request = client
            .get(&stream_url)
            .header(reqwest::header::ACCEPT, "text/event-stream");
        if let Some(last) = record.deliveries.last() {
            request = request.header("Last-Event-ID", last.epoch.to_string());
        }
        let response = tokio::select! {
            r = request.send() => r,
            _ = stop.changed() => break,
        };
        let mut response = match response {
            Ok(r) if r.status().is_success() => r,
            Ok(r) => {
                record
                    .errors
                    .push(format!("the stream answered {}", r.status()));
                continue;
            }
            Err(e) => {
                record.errors.push(format!("opening the stream: {e}"));
                continue;
            }
        };
        if !ever_connected {
            ever_connected = true;
            progress.connected.fetch_add(1, Ordering::Relaxed);
        }
        let mut parser = sse::Parser::default();
        loop {
            let chunk = tokio::select! {
                c = response.chunk() => c,
                _ = stop.changed() => return record,
            };
            match chunk {
                Ok(Some(bytes)) => {
                    let received_ms = now_ms();
                    record.bytes += bytes.len() as u64;
                    let parsed = parser.feed(&bytes);
                    record.keep_alives += parsed.comments;
                    for event in parsed.events {
                        record.event(event, received_ms, &progress);
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    record.errors.push(format!("reading the stream: {e}"));
                    break;
                }
            }
        }
    }
    record
}

impl Record {
    fn event(&mut self, event: sse::Event, received_ms: f64, progress: &Progress) {
        match event.kind.as_str() {
            "epoch" => match serde_json::from_str::<EpochData>(&event.data) {
                Ok(data) => {
                    if event.id.as_deref() != Some(&data.epoch.to_string()) || data.job != self.job
                    {
                        self.errors.push(format!(
                            "an epoch event with id {:?} carries job {} epoch {}",
                            event.id, data.job, data.epoch
                        ));
                    }
                    let mut hasher = DefaultHasher::new();
                    hasher.write(event.data.as_bytes());
                    let mut dcs: Vec<&str> = data.results.iter().map(|r| r.dc.as_str()).collect();
                    dcs.sort_unstable();
                    dcs.dedup();
                    self.deliveries.push(Delivery {
                        epoch: data.epoch,
                        received_ms,
                        committed_ms: data.committed_at_ms,
                        emitted_ms: data.emitted_at_ms,
                        first_commit_ms: data
                            .results
                            .iter()
                            .map(|r| r.committed_at_ms)
                            .min()
                            .unwrap_or(0),
                        stored_ms: data
                            .results
                            .iter()
                            .map(|r| r.stored_at_ms)
                            .max()
                            .unwrap_or(0),
                        results: data.results.len(),
                        dcs: dcs.len(),
                        hash: hasher.finish(),
                    });
                    progress.last_epoch[self.id].store(data.epoch, Ordering::Relaxed);
                }
                Err(e) => self.errors.push(format!(
                    "an epoch event (id {:?}) did not parse: {e}",
                    event.id
                )),
            },
            "late" => match serde_json::from_str::<LateData>(&event.data) {
                Ok(data) => self.late.push((
                    data.epoch,
                    data.results.into_iter().map(|r| (r.dc, r.seq)).collect(),
                )),
                Err(e) => self.errors.push(format!("a late event did not parse: {e}")),
            },
            "end" => self.ends.push(event.data),
            other => self
                .errors
                .push(format!("an event of unknown kind {other:?}")),
        }
    }
}
