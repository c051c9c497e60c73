//! Per-epoch result events for subscribers: each job's results of one
//! epoch (every dc, plus their merge) as one event, in epoch order.
//!
//! A subscriber resumes from the last epoch it saw (SSE `Last-Event-ID`),
//! so an epoch must be sent whole, once: its event waits until the epoch is
//! complete on this node: every dc that committed here in the last
//! [`ACTIVE_DC_WINDOW`] has had its primary commit of the epoch processed,
//! or the epoch's first commit is [`StreamsConfig::settle`] old (a dc with
//! nothing in that second does not hold the others back for long). Events
//! leave only after their results are stored and flushed, so what a
//! subscriber saw survives a restart.
//!
//! Results that arrive for an epoch already sent (late events, a dc slower
//! than the settle time) go out as `late` events; they do not move the
//! resume position, and range queries always have them.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use epochd_decode::EpochMeta;
use epochd_hooks::CommitNotice;
use parking_lot::Mutex;
use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc};

use crate::pipeline::Registry;
use crate::results::{Outcome, ResultRecord, Results};

mod render_cache;
use render_cache::RenderCache;

/// A dc counts toward an epoch's completeness while it has committed here
/// this recently.
pub const ACTIVE_DC_WINDOW: Duration = Duration::from_secs(60);

/// The rendered epochs kept for streams catching up and range queries, by
/// their size as JSON: about 30 minutes of one job's epochs of a few KB,
/// or a few minutes of each of many jobs.
const RENDER_CACHE_BYTES: usize = 16 << 20;

/// How the streams behave.
#[derive(Debug, Clone)]
pub struct StreamsConfig {
    /// Longest an epoch waits for its dcs before it is sent. Default 2 s.
    pub settle: Duration,
    /// Events a subscriber may fall behind before its stream ends (it then
    /// resumes from its last epoch). Default 256.
    pub buffer: usize,
}

impl Default for StreamsConfig {
    fn default() -> StreamsConfig {
        StreamsConfig {
            settle: Duration::from_secs(2),
            buffer: 256,
        }
    }
}

/// What a stream carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// An epoch's results, complete: the resume position moves to it.
    Epoch,
    /// A result for an epoch already sent.
    Late,
}

/// One event of a job's stream: its JSON, rendered once for every
/// subscriber.
#[derive(Debug)]
pub struct StreamEvent {
    /// Epoch or late.
    pub kind: EventKind,
    /// The epoch it is about.
    pub epoch: u64,
    /// The event's data: an epoch-results object.
    pub json: String,
}

/// Epochs rendered for streams and range queries, since the node started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderStats {
    /// Epochs rendered: each ran the job's merge over the epoch's results.
    pub rendered: u64,
    /// Renderings served from the cache instead.
    pub cache_hits: u64,
    /// Bytes (as JSON) of the renderings cached.
    pub cache_bytes: usize,
}

/// A job's live channel and the last epoch sent on it.
struct JobChannel {
    tx: broadcast::Sender<Arc<StreamEvent>>,
    emitted: Option<u64>,
}

/// The streams of every job. Cheap to clone.
#[derive(Clone)]
pub struct Streams {
    inner: Arc<Inner>,
    /// To the assembler, which stops when every handle is gone.
    done: mpsc::UnboundedSender<Done>,
}

struct Inner {
    config: StreamsConfig,
    results: Results,
    registry: Arc<Registry>,
    channels: Mutex<HashMap<String, JobChannel>>,
    subscribers: AtomicUsize,
    /// Epochs rendered recently, for streams catching up and range queries.
    rendered: Mutex<RenderCache<crate::pipeline::Job>>,
    /// Epochs rendered (merges run), and renderings served from `rendered`.
    renders: AtomicU64,
    render_hits: AtomicU64,
}

/// A job's result of a commit, stored; or (`None`) the whole commit done.
struct Done {
    notice: CommitNotice,
    record: Option<ResultRecord>,
}

/// A live subscription: events after `watermark` arrive on `rx`; epochs
/// up to `watermark` are in storage.
pub struct Subscription {
    /// Live events of the job.
    pub rx: broadcast::Receiver<Arc<StreamEvent>>,
    /// The last epoch sent live before subscribing, if any.
    pub watermark: Option<u64>,
    _count: SubscriberCount,
}

/// Counts a subscriber while it lives (for /metrics).
struct SubscriberCount(Arc<Inner>);

impl Drop for SubscriberCount {
    fn drop(&mut self) {
        self.0.subscribers.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Streams {
    /// Starts the assembler on its own thread; it stops when the last
    /// handle is dropped.
    pub fn start(config: StreamsConfig, results: Results, registry: Arc<Registry>) -> Streams {
        let (done, rx) = mpsc::unbounded_channel();
        // After a restart, each job's stream resumes after the newest epoch
        // stored for it: a subscriber resuming from before that catches up
        // from storage.
        let jobs: Vec<String> = registry
            .list()
            .iter()
            .map(|j| j.manifest.name.clone())
            .collect();
        let newest = results.newest_epochs(&jobs, 1 << 20).unwrap_or_else(|e| {
            tracing::error!(error = %e, "could not find where the result streams stopped; they start from the next epoch");
            HashMap::new()
        });
        let channels = newest
            .into_iter()
            .map(|(job, epoch)| {
                let tx = broadcast::channel(config.buffer.max(1)).0;
                // A result stored for an epoch past the clock (before the
                // store refused such commits) is no place to resume from.
                let emitted = (!beyond_clock(epoch)).then_some(epoch);
                (job, JobChannel { tx, emitted })
            })
            .collect();
        let streams = Streams {
            inner: Arc::new(Inner {
                config,
                results,
                registry,
                channels: Mutex::new(channels),
                subscribers: AtomicUsize::new(0),
                rendered: Mutex::new(RenderCache::new(RENDER_CACHE_BYTES)),
                renders: AtomicU64::new(0),
                render_hits: AtomicU64::new(0),
            }),
            done,
        };
        // Its own thread and runtime: it outlives no caller's runtime, and
        // the daemon can be opened outside one.
        let assembler = Assembler::new(streams.inner.clone());
        std::thread::Builder::new()
            .name("epochd-streams".into())
            .spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_time()
                    .build()
                    .expect("starting the streams' runtime")
                    .block_on(assembler.run(rx));
            })
            .expect("spawning the streams thread");
        streams
    }

    /// Tells the assembler one job's result of a commit is stored and
    /// flushed: the job's epoch may go out without waiting for the other
    /// jobs of the commit.
    pub fn job_done(&self, notice: &CommitNotice, record: &ResultRecord) {
        // The assembler lives as long as the runtime; after it, nobody listens.
        let _ = self.done.send(Done {
            notice: notice.clone(),
            record: Some(record.clone()),
        });
    }

    /// Tells the assembler every job is done with a commit (those it did
    /// not match included).
    pub fn commit_done(&self, notice: &CommitNotice) {
        let _ = self.done.send(Done {
            notice: notice.clone(),
            record: None,
        });
    }

    /// Subscribes to a job's live events.
    pub fn subscribe(&self, job: &str) -> Subscription {
        let mut channels = self.inner.channels.lock();
        let channel = channel(&mut channels, job, self.inner.config.buffer);
        self.inner.subscribers.fetch_add(1, Ordering::Relaxed);
        Subscription {
            rx: channel.tx.subscribe(),
            watermark: channel.emitted,
            _count: SubscriberCount(self.inner.clone()),
        }
    }

    /// Live subscribers, over every job.
    pub fn subscribers(&self) -> usize {
        self.inner.subscribers.load(Ordering::Relaxed)
    }

    /// The epoch-results object of `records` (one job, one epoch), with
    /// their merge when the job exports one. A job's epoch rendered from
    /// the same records before, and still in the cache, is not merged again.
    pub async fn render(&self, job: &str, epoch: u64, records: Vec<ResultRecord>) -> Arc<Value> {
        Inner::render(&self.inner, job, epoch, records, Cache::Use).await
    }

    /// How rendering went since the node started.
    pub fn renders(&self) -> RenderStats {
        RenderStats {
            rendered: self.inner.renders.load(Ordering::Relaxed),
            cache_hits: self.inner.render_hits.load(Ordering::Relaxed),
            cache_bytes: self.inner.rendered.lock().bytes(),
        }
    }

    /// The results of a job's epochs `from..=to`, grouped by epoch (blocking
    /// reads: call from a blocking context).
    pub fn stored(
        &self,
        job: &str,
        from: u64,
        to: u64,
    ) -> anyhow::Result<Vec<(u64, Vec<ResultRecord>)>> {
        self.inner.stored(job, from, to)
    }
}

/// Whether a rendering goes through the cache: not for a late result alone,
/// which is not the epoch's whole set of records.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Cache {
    Use,
    Bypass,
}

impl Inner {
    async fn render(
        inner: &Arc<Inner>,
        job: &str,
        epoch: u64,
        records: Vec<ResultRecord>,
        cache: Cache,
    ) -> Arc<Value> {
        let inner = inner.clone();
        let job = job.to_owned();
        tokio::task::spawn_blocking(move || inner.render_now(&job, epoch, &records, cache))
            .await
            .expect("rendering does not panic")
    }

    fn render_now(
        &self,
        name: &str,
        epoch: u64,
        records: &[ResultRecord],
        cache: Cache,
    ) -> Arc<Value> {
        let key = match (cache, self.registry.get(name)) {
            (Cache::Use, Some(job)) => Some((job, render_cache::fingerprint(records))),
            _ => None,
        };
        if let Some((job, fingerprint)) = &key {
            if let Some(value) = self.rendered.lock().get(name, epoch, job, *fingerprint) {
                self.render_hits.fetch_add(1, Ordering::Relaxed);
                return value;
            }
        }
        let value = Arc::new(render(&self.registry, name, epoch, records));
        self.renders.fetch_add(1, Ordering::Relaxed);
        if let Some((job, fingerprint)) = key {
            let bytes = serde_json::to_vec(&*value).map_or(usize::MAX, |b| b.len());
            let mut rendered = self.rendered.lock();
            rendered.put(name, epoch, &job, fingerprint, value.clone(), bytes);
        }
        value
    }

    fn stored(
        &self,
        job: &str,
        from: u64,
        to: u64,
    ) -> anyhow::Result<Vec<(u64, Vec<ResultRecord>)>> {
        let mut by_epoch: BTreeMap<u64, Vec<ResultRecord>> = BTreeMap::new();
        for r in self.results.range(job, from, to)? {
            by_epoch.entry(r.epoch).or_default().push(r);
        }
        Ok(by_epoch.into_iter().collect())
    }
}

fn channel<'c>(
    channels: &'c mut HashMap<String, JobChannel>,
    job: &str,
    buffer: usize,
) -> &'c mut JobChannel {
    channels
        .entry(job.to_owned())
        .or_insert_with(|| JobChannel {
            tx: broadcast::channel(buffer.max(1)).0,
            emitted: None,
        })
}

use crate::clock::{beyond_clock, now_ms};

/// One record as JSON: a result that is JSON text is embedded as JSON,
/// anything else as base64.
pub fn record_json(r: &ResultRecord) -> Value {
    let mut v = json!({
        "dc": r.dc,
        "seq": r.seq,
        "cpu_us": r.cpu_us,
        "wall_us": r.wall_us,
        "stored_at_ms": r.stored_at_ms,
        "committed_at_ms": r.committed_at_ms,
    });
    match &r.outcome {
        Outcome::Ok { result } => {
            v["status"] = json!("ok");
            put_bytes(&mut v, "result", result);
        }
        Outcome::Error { kind, message } => {
            v["status"] = json!("error");
            v["error"] = json!({"kind": kind, "message": message});
        }
    }
    if !r.logs.is_empty() || r.logs_dropped > 0 {
        v["logs"] = json!(r.logs);
        v["logs_dropped"] = json!(r.logs_dropped);
    }
    v
}

/// Sets `key` to the bytes as JSON if they are JSON text, else sets
/// `key_base64`.
fn put_bytes(v: &mut Value, key: &str, bytes: &[u8]) {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(parsed) => v[key] = parsed,
        Err(_) => {
            v[format!("{key}_base64")] = json!(base64(bytes));
        }
    }
}

/// Standard base64 with padding.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Renders one job's epoch (blocking: runs the job's merge).
fn render(registry: &Registry, job: &str, epoch: u64, records: &[ResultRecord]) -> Value {
    let mut v = json!({
        "job": job,
        "epoch": epoch,
        "results": records.iter().map(record_json).collect::<Vec<_>>(),
        "committed_at_ms": records.iter().map(|r| r.committed_at_ms).max().unwrap_or(0),
        "merged": null,
    });
    if let Some(merged) = merge(registry, job, epoch, records) {
        match merged {
            Ok(bytes) => put_bytes(&mut v, "merged", &bytes),
            Err(e) => v["merged_error"] = json!(e),
        }
    }
    v
}

/// Folds the epoch's successful results with the job's `merge`, in (dc,
/// seq) order; `None` when the job (no longer) exists or exports no merge.
fn merge(
    registry: &Registry,
    job: &str,
    epoch: u64,
    records: &[ResultRecord],
) -> Option<Result<Vec<u8>, String>> {
    let job = registry.get(job)?;
    if !job.module.has_merge() {
        return None;
    }
    let mut ok = Vec::with_capacity(records.len());
    for r in records {
        match &r.outcome {
            Outcome::Ok { result } => ok.push(result),
            Outcome::Error { kind, .. } => {
                return Some(Err(format!(
                    "not merged: the run on dc {} (seq {}) failed ({kind})",
                    r.dc, r.seq
                )))
            }
        }
    }
    let (first, rest) = ok.split_first()?;
    let limits = job.manifest.limits();
    let meta = EpochMeta {
        epoch,
        dc: String::new(),
        seq: 0,
    };
    let mut acc = (*first).clone();
    for next in rest {
        let report = job
            .module
            .merge(&limits, &meta, &acc, next, job.manifest.config.as_bytes());
        match report.outcome {
            Ok(merged) => acc = merged,
            Err(e) => return Some(Err(format!("the job's merge failed: {e}"))),
        }
    }
    Some(Ok(acc))
}

/// Which dcs' primary commits of an epoch are done, for every job or for
/// one job.
struct EpochDcs {
    /// When the epoch was first heard of.
    first: Instant,
    /// The dcs whose primary commit every job is done with.
    all: HashSet<String>,
    /// The dcs whose primary commit one job is done with.
    by_job: HashMap<String, HashSet<String>>,
}

impl EpochDcs {
    fn done(&self, job: &str, dc: &str) -> bool {
        self.all.contains(dc) || self.by_job.get(job).is_some_and(|d| d.contains(dc))
    }
}

/// Decides when each epoch is sent, and sends it: one task, so every job's
/// events leave in epoch order.
struct Assembler {
    inner: Arc<Inner>,
    /// When each dc first and last had a primary commit processed here.
    dcs: HashMap<String, (Instant, Instant)>,
    /// Epochs not yet sent for every job.
    epochs: BTreeMap<u64, EpochDcs>,
    /// Per job, the epochs with results waiting to be sent.
    pending: HashMap<String, BTreeSet<u64>>,
}

impl Assembler {
    fn new(inner: Arc<Inner>) -> Assembler {
        Assembler {
            inner,
            dcs: HashMap::new(),
            epochs: BTreeMap::new(),
            pending: HashMap::new(),
        }
    }

    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Done>) {
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                done = rx.recv() => match done {
                    Some(done) => self.learn(done).await,
                    None => return,
                },
                _ = tick.tick() => {}
            }
            self.send_ready().await;
        }
    }

    /// Notes a job's stored result or a commit done; sends a late result at
    /// once.
    async fn learn(&mut self, done: Done) {
        let now = Instant::now();
        let notice = done.notice;
        if notice.seq == 0 {
            self.dcs
                .entry(notice.dc.clone())
                .and_modify(|(_, last)| *last = now)
                .or_insert((now, now));
        }
        let entry = self.epochs.entry(notice.epoch).or_insert_with(|| EpochDcs {
            first: now,
            all: HashSet::new(),
            by_job: HashMap::new(),
        });
        let Some(record) = done.record else {
            if notice.seq == 0 {
                entry.all.insert(notice.dc);
            }
            return;
        };
        if notice.seq == 0 {
            entry
                .by_job
                .entry(record.job.clone())
                .or_default()
                .insert(notice.dc);
        }
        let emitted = self
            .inner
            .channels
            .lock()
            .get(&record.job)
            .and_then(|c| c.emitted);
        if emitted.is_some_and(|e| record.epoch <= e) || beyond_clock(record.epoch) {
            let job = record.job.clone();
            let epoch = record.epoch;
            let data = Inner::render(&self.inner, &job, epoch, vec![record], Cache::Bypass).await;
            self.publish(&job, EventKind::Late, epoch, &data);
        } else {
            self.pending
                .entry(record.job)
                .or_default()
                .insert(record.epoch);
        }
    }

    /// Whether the job's epoch has waited long enough, or the job is done
    /// with the primary commit of the epoch of every dc it should hear
    /// from: the dcs known before the epoch's first commit and active
    /// recently. With none known (the first epoch after a start) only
    /// waiting tells.
    fn ready(&self, job: &str, epoch: u64, now: Instant) -> bool {
        let Some(dcs) = self.epochs.get(&epoch) else {
            return true;
        };
        if now.duration_since(dcs.first) >= self.inner.config.settle {
            return true;
        }
        let mut expected = self.dcs.iter().filter(|(_, (known, last))| {
            *known < dcs.first && now.duration_since(*last) <= ACTIVE_DC_WINDOW
        });
        let mut any = false;
        let all = expected.all(|(dc, _)| {
            any = true;
            dcs.done(job, dc)
        });
        any && all
    }

    /// Sends, per job, every ready epoch in order, stopping at the first
    /// that is not ready (a later epoch never overtakes an earlier one).
    async fn send_ready(&mut self) {
        let now = Instant::now();
        let jobs: Vec<String> = self.pending.keys().cloned().collect();
        for job in jobs {
            while let Some(&epoch) = self.pending.get(&job).and_then(|p| p.first()) {
                if !self.ready(&job, epoch, now) {
                    break;
                }
                self.pending.get_mut(&job).map(|p| p.remove(&epoch));
                let inner = self.inner.clone();
                let name = job.clone();
                let records =
                    tokio::task::spawn_blocking(move || inner.stored(&name, epoch, epoch))
                        .await
                        .expect("reading results does not panic");
                match records {
                    Ok(mut found) => {
                        let records = found.pop().map(|(_, r)| r).unwrap_or_default();
                        let data =
                            Inner::render(&self.inner, &job, epoch, records, Cache::Use).await;
                        self.publish(&job, EventKind::Epoch, epoch, &data);
                    }
                    Err(e) => {
                        tracing::error!(%job, epoch, error = %e, "results of an epoch could not be read for its stream; it is skipped (range queries still have it)");
                    }
                }
            }
        }
        self.pending.retain(|_, p| !p.is_empty());
        // Epochs every job is done with are forgotten.
        let oldest_pending = self
            .pending
            .values()
            .filter_map(|p| p.first())
            .min()
            .copied();
        let horizon = now.checked_sub(ACTIVE_DC_WINDOW);
        self.epochs.retain(|epoch, dcs| {
            oldest_pending.is_some_and(|o| *epoch >= o) || horizon.is_none_or(|h| dcs.first > h)
        });
    }

    fn publish(&self, job: &str, kind: EventKind, epoch: u64, data: &Value) {
        let mut data = data.clone();
        data["emitted_at_ms"] = json!(now_ms());
        let event = Arc::new(StreamEvent {
            kind,
            epoch,
            json: data.to_string(),
        });
        let mut channels = self.inner.channels.lock();
        let channel = channel(&mut channels, job, self.inner.config.buffer);
        if kind == EventKind::Epoch {
            channel.emitted = Some(epoch);
        }
        // No subscriber is not an error.
        let _ = channel.tx.send(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard_alphabet_and_padding() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foob"), "Zm9vYg==");
        assert_eq!(base64(&[0xff, 0xfe, 0x00]), "//4A");
    }

    #[test]
    fn results_that_are_json_are_embedded_and_others_are_base64() {
        let mut record = ResultRecord {
            job: "j".into(),
            epoch: 1,
            dc: "ams4".into(),
            seq: 0,
            outcome: Outcome::Ok {
                result: br#"{"n": 3}"#.to_vec(),
            },
            wall_us: 1,
            cpu_us: 1,
            stored_at_ms: 1,
            committed_at_ms: 1,
            logs: Vec::new(),
            logs_dropped: 0,
        };
        assert_eq!(record_json(&record)["result"]["n"], 3);
        record.outcome = Outcome::Ok {
            result: vec![0, 159, 146, 150],
        };
        let v = record_json(&record);
        assert!(v.get("result").is_none());
        assert_eq!(v["result_base64"], "AJ+Slg==");
    }
}
