//! Real-time load for a node under test: the reference workload (`epochd-workload`),
//! `rate` events each second of the wall clock, posted as MessagePack bodies to
//! `POST /v1/events`, with the events the node acknowledged counted per (epoch, dc).
//!
//! It does what `epochd gen` does, in this process, for two reasons: the data centers
//! are chosen here (`epochd gen` always sends the reference four), and a benchmark
//! that checks what the node stored needs to know exactly which events were
//! acknowledged, per (epoch, dc). A refused or failed batch is counted, not retried,
//! so "acknowledged" means exactly the batches the node answered 2xx to.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use epochd_workload::{Format, Workload, WorkloadConfig};
use tokio::sync::{watch, Semaphore};

/// What to send.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// The node's base URL.
    pub url: String,
    /// Events per second.
    pub rate: u32,
    /// Data centers, equally weighted.
    pub dcs: Vec<String>,
    /// Workload seed.
    pub seed: u64,
    /// Events per request.
    pub batch_events: usize,
    /// Requests in flight at most.
    pub concurrency: usize,
}

/// What was sent and acknowledged so far; read while the load runs.
#[derive(Debug, Default)]
pub struct LoadStats {
    acked: Mutex<BTreeMap<(u64, String), u64>>,
    events_acked: AtomicU64,
    events_failed: AtomicU64,
    requests_failed: AtomicU64,
    seconds_missed: AtomicU64,
    last_failure: Mutex<Option<String>>,
}

impl LoadStats {
    /// Events the node acknowledged.
    pub fn events_acked(&self) -> u64 {
        self.events_acked.load(Ordering::Relaxed)
    }

    /// Events of batches that failed or were refused.
    pub fn events_failed(&self) -> u64 {
        self.events_failed.load(Ordering::Relaxed)
    }

    /// Requests that failed or were refused.
    pub fn requests_failed(&self) -> u64 {
        self.requests_failed.load(Ordering::Relaxed)
    }

    /// Seconds in which nothing was sent because the sender woke up too late.
    pub fn seconds_missed(&self) -> u64 {
        self.seconds_missed.load(Ordering::Relaxed)
    }

    /// The last failure, as text.
    pub fn last_failure(&self) -> Option<String> {
        lock(&self.last_failure).clone()
    }

    /// Acknowledged events per (epoch, dc).
    pub fn acked(&self) -> BTreeMap<(u64, String), u64> {
        lock(&self.acked).clone()
    }

    /// The data centers with acknowledged events in `epoch`.
    pub fn dcs_of(&self, epoch: u64) -> BTreeSet<String> {
        lock(&self.acked)
            .range((epoch, String::new())..(epoch + 1, String::new()))
            .map(|((_, dc), _)| dc.clone())
            .collect()
    }

    fn ack(&self, epoch: u64, per_dc: &[(String, u64)]) {
        let mut acked = lock(&self.acked);
        for (dc, n) in per_dc {
            *acked.entry((epoch, dc.clone())).or_default() += n;
            self.events_acked.fetch_add(*n, Ordering::Relaxed);
        }
    }

    fn fail(&self, events: u64, why: String) {
        self.requests_failed.fetch_add(1, Ordering::Relaxed);
        self.events_failed.fetch_add(events, Ordering::Relaxed);
        *lock(&self.last_failure) = Some(why);
    }
}

/// A poisoned lock only means a sender task panicked; its counts are still right.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Milliseconds since the Unix epoch, now: the store's reading of the clock.
pub use epochd_store::clock::now_ms;

/// One request's body and its events per dc.
struct Batch {
    body: Vec<u8>,
    per_dc: Vec<(String, u64)>,
    events: u64,
}

/// `epoch`'s `rate` events, cut into bodies of `batch_events`.
fn batches(workload: &Workload, epoch: u64, rate: usize, batch_events: usize) -> Vec<Batch> {
    let mut out = Vec::new();
    let mut events = workload.epoch(epoch, rate).peekable();
    while events.peek().is_some() {
        let mut body = Vec::with_capacity(batch_events * 600);
        let mut per_dc: HashMap<&str, u64> = HashMap::new();
        for event in events.by_ref().take(batch_events) {
            event.write(Format::MsgPack, &mut body);
            *per_dc.entry(event.dc()).or_default() += 1;
        }
        out.push(Batch {
            body,
            events: per_dc.values().sum(),
            per_dc: per_dc.into_iter().map(|(d, n)| (d.to_owned(), n)).collect(),
        });
    }
    out
}

async fn send(client: reqwest::Client, url: String, epoch: u64, batch: Batch, stats: &LoadStats) {
    let answer = client
        .post(format!("{url}/v1/events"))
        .header("content-type", "application/msgpack")
        .body(batch.body)
        .send()
        .await;
    match answer {
        Ok(r) if r.status().is_success() => stats.ack(epoch, &batch.per_dc),
        Ok(r) => {
            let status = r.status();
            let text = r.text().await.unwrap_or_default();
            stats.fail(batch.events, format!("epoch {epoch}: {status} {text}"));
        }
        Err(e) => stats.fail(batch.events, format!("epoch {epoch}: {e}")),
    }
}

/// Sends the load of every second from now until `until_ms` (or until `stop` turns
/// true), each second's events as that second starts, then waits for the requests
/// still in flight.
pub async fn run(
    client: reqwest::Client,
    options: LoadOptions,
    until_ms: u64,
    mut stop: watch::Receiver<bool>,
    stats: Arc<LoadStats>,
) -> Result<()> {
    let workload = Workload::try_new(WorkloadConfig {
        seed: options.seed,
        dcs: options.dcs.iter().map(|d| (d.clone(), 1)).collect(),
        ..WorkloadConfig::default()
    })
    .context("the load's workload")?;
    let permits = Arc::new(Semaphore::new(options.concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    let mut last: Option<u64> = None;
    while now_ms() < until_ms && !*stop.borrow() {
        let epoch = now_ms() / 1000;
        if let Some(prev) = last {
            // Late wake-ups skip seconds rather than bunch them up.
            stats
                .seconds_missed
                .fetch_add(epoch.saturating_sub(prev + 1), Ordering::Relaxed);
        }
        last = Some(epoch);
        let rate = options.rate as usize;
        for batch in batches(&workload, epoch, rate, options.batch_events.max(1)) {
            let permit = permits.clone().acquire_owned().await?;
            let (client, url, stats) = (client.clone(), options.url.clone(), stats.clone());
            tasks.spawn(async move {
                send(client, url, epoch, batch, &stats).await;
                drop(permit);
            });
        }
        let next = Duration::from_millis(((epoch + 1) * 1000).saturating_sub(now_ms()));
        tokio::select! {
            () = tokio::time::sleep(next) => {}
            _ = stop.changed() => {}
        }
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_cover_the_epoch_and_count_events_per_dc() {
        let workload = Workload::new(WorkloadConfig {
            dcs: vec![("ams4".into(), 1), ("lhr4".into(), 1)],
            ..WorkloadConfig::default()
        });
        let cut = batches(&workload, 1_700_000_000, 1234, 500);
        assert_eq!(cut.len(), 3);
        assert_eq!(cut.iter().map(|b| b.events).sum::<u64>(), 1234);
        let dcs: BTreeSet<&str> = cut
            .iter()
            .flat_map(|b| b.per_dc.iter().map(|(d, _)| d.as_str()))
            .collect();
        assert_eq!(dcs, BTreeSet::from(["ams4", "lhr4"]));
    }

    #[test]
    fn acknowledged_events_are_kept_per_epoch_and_dc() {
        let stats = LoadStats::default();
        stats.ack(10, &[("ams4".into(), 3), ("lhr4".into(), 2)]);
        stats.ack(10, &[("ams4".into(), 1)]);
        stats.ack(11, &[("lhr4".into(), 5)]);
        assert_eq!(stats.events_acked(), 11);
        assert_eq!(stats.acked()[&(10, "ams4".to_owned())], 4);
        assert_eq!(
            stats.dcs_of(10),
            BTreeSet::from(["ams4".to_owned(), "lhr4".to_owned()])
        );
        assert_eq!(stats.dcs_of(12), BTreeSet::new());
    }
}
