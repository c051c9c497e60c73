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

mod assembler;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use epochd_store::ManifestKey;
use parking_lot::Mutex;
use tokio::sync::{broadcast, mpsc};

use self::assembler::Assembler;
use super::render::{self, Rendered};
use super::render_cache::{self, RenderCache};
use super::{merge, ResultRecord, Results, ResultsError};
use crate::clock::beyond_clock;
use crate::registry::{Job, Registry};

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
    rendered: Mutex<RenderCache<Job>>,
    /// Epochs rendered (merges run), and renderings served from `rendered`.
    renders: AtomicU64,
    render_hits: AtomicU64,
}

/// A job's result of a commit, stored; or (`None`) the whole commit done.
struct Done {
    commit: ManifestKey,
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
    pub fn job_done(&self, record: &ResultRecord) {
        // The assembler lives as long as the runtime; after it, nobody listens.
        let _ = self.done.send(Done {
            commit: ManifestKey {
                epoch: record.epoch,
                dc: record.dc.clone(),
                seq: record.seq,
            },
            record: Some(record.clone()),
        });
    }

    /// Tells the assembler every job is done with a commit (those it did
    /// not match included).
    pub fn commit_done(&self, commit: &ManifestKey) {
        let _ = self.done.send(Done {
            commit: commit.clone(),
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
    pub async fn render(&self, job: &str, epoch: u64, records: Vec<ResultRecord>) -> Rendered {
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
    ) -> Result<Vec<(u64, Vec<ResultRecord>)>, ResultsError> {
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
    ) -> Rendered {
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
    ) -> Rendered {
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
        let merged = self
            .registry
            .get(name)
            .and_then(|job| merge::merge_epoch(&job, epoch, records));
        let value = render::epoch_json(name, epoch, records, merged);
        self.renders.fetch_add(1, Ordering::Relaxed);
        if let Some((job, fingerprint)) = key {
            let bytes = value.len();
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
    ) -> Result<Vec<(u64, Vec<ResultRecord>)>, ResultsError> {
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
