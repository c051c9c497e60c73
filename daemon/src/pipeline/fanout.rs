//! One commit through the daemon: read it, decode it once, run every
//! matching job on the shared epoch (each on a job thread inside its own
//! cgroup), store the results, and only then acknowledge the notice.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use epochd_decode::{DecodeError, EpochMeta, SharedEpoch};
use epochd_hooks::{CommitNotice, Delivery};
use epochd_store::Manifest;
use futures_util::FutureExt;
use parking_lot::Mutex;
use tokio::sync::{oneshot, Semaphore};

use super::registry::Job;
use super::source::{CommitData, SourceError};
use super::workers::thread_cpu_time;
use super::Daemon;
use crate::results::{Outcome, ResultRecord};

/// What became of one commit.
#[derive(Debug)]
pub enum Processed {
    /// Every matching job has a result or a recorded error.
    Done(Vec<ResultRecord>),
    /// The commit is no longer in the store (retention) or changed.
    Gone,
}

/// Error kinds that are not the job's doing.
const NOT_JOB_FAULTS: [&str; 5] = ["instantiate", "busy", "no_merge", "decode", "corrupt"];

/// The pause before a commit that failed for a passing reason is tried
/// again; it doubles on each failure, up to [`MAX_RETRY_PAUSE`].
const FIRST_RETRY_PAUSE: Duration = Duration::from_millis(200);
/// The longest pause between two tries of a commit.
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(30);

/// The commits received and not yet acknowledged, and the order in which
/// the workers take them.
pub(crate) struct Backlog {
    /// Each waiting commit's deliveries, by commit id. A commit delivered
    /// again while it waits (a new hook session resends everything not yet
    /// acknowledged) joins the delivery already here: it is processed once,
    /// then every delivery of it is acknowledged.
    deliveries: Mutex<HashMap<u64, Vec<Delivery>>>,
    /// Commits to try, in commit order; a retry goes first.
    queue: Mutex<VecDeque<Attempt>>,
    /// One permit per attempt in `queue`.
    queued: Semaphore,
}

/// One commit to try.
struct Attempt {
    notice: CommitNotice,
    /// How long to wait before the next try if this one fails.
    pause: Duration,
}

impl Backlog {
    pub(crate) fn new() -> Backlog {
        Backlog {
            deliveries: Mutex::new(HashMap::new()),
            queue: Mutex::new(VecDeque::new()),
            queued: Semaphore::new(0),
        }
    }

    /// Takes a delivery; false when its commit was already waiting.
    fn add(&self, delivery: Delivery) -> bool {
        let notice = delivery.notice().clone();
        match self.deliveries.lock().entry(notice.commit_id) {
            Entry::Occupied(mut e) => {
                e.get_mut().push(delivery);
                return false;
            }
            Entry::Vacant(e) => {
                e.insert(vec![delivery]);
            }
        }
        self.push(
            Attempt {
                notice,
                pause: FIRST_RETRY_PAUSE,
            },
            false,
        );
        true
    }

    fn push(&self, attempt: Attempt, first: bool) {
        let mut queue = self.queue.lock();
        if first {
            queue.push_front(attempt);
        } else {
            queue.push_back(attempt);
        }
        self.queued.add_permits(1);
    }

    /// The next commit to try; waits for one.
    async fn next(&self) -> Attempt {
        self.queued
            .acquire()
            .await
            .expect("the backlog's semaphore is never closed")
            .forget();
        self.queue
            .lock()
            .pop_front()
            .expect("one permit per queued attempt")
    }

    /// The deliveries of a commit that is done.
    fn done(&self, commit_id: u64) -> Vec<Delivery> {
        self.deliveries
            .lock()
            .remove(&commit_id)
            .unwrap_or_default()
    }
}

/// Why the chunks of a commit did not decode.
enum Undecodable {
    /// A chunk's bytes are wrong: it is named, and what is wrong said.
    Corrupt(String),
    /// The commit is valid but does not fit the decoded format.
    Other(String),
    /// A passing failure (no memory or descriptor for the shared memory).
    Passing(DecodeError),
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Logs a notice as it arrives (in delivery order: commit order).
pub(crate) fn log_received(notice: &CommitNotice) {
    tracing::info!(
        commit_id = notice.commit_id,
        epoch = notice.epoch,
        dc = %notice.dc,
        seq = notice.seq,
        events = notice.events,
        chunks = notice.chunks,
        digest = %notice.manifest_digest,
        node = %notice.node,
        "commit received"
    );
}

impl Daemon {
    /// Takes one delivery from the hook: the commit now counts as received
    /// (the newest epoch, the commits waiting) and waits its turn.
    pub(crate) fn receive(&self, delivery: Delivery, backlog: &Backlog) {
        log_received(delivery.notice());
        self.newest_epoch
            .fetch_max(delivery.notice().epoch, Ordering::Relaxed);
        if backlog.add(delivery) {
            self.stats.waiting.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// One of the `commits_in_flight` workers: takes the backlog's commits
    /// in order, processes each, and acknowledges it once done. A commit
    /// that cannot be read or whose results cannot be stored now (the store
    /// unreachable, an I/O error) is tried again after a growing pause (up
    /// to 30 s): delayed, never skipped. It waits for its next try without
    /// holding the worker, so it does not hold back the commits behind it.
    /// A corrupt commit is not retried: it is processed into recorded
    /// errors (see [`Daemon::process`]).
    pub(crate) async fn work(self: Arc<Self>, backlog: Arc<Backlog>) {
        loop {
            let Attempt { notice, pause } = backlog.next().await;
            self.stats.in_flight.fetch_add(1, Ordering::Relaxed);
            // A panic (a bug) must not take the worker with it: the commit
            // is tried again later like any other failure.
            let outcome = AssertUnwindSafe(self.process(&notice))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| Err(anyhow::anyhow!("processing the commit panicked")));
            self.stats.in_flight.fetch_sub(1, Ordering::Relaxed);
            match outcome {
                Ok(processed) => {
                    for delivery in backlog.done(notice.commit_id) {
                        delivery.ack();
                    }
                    self.stats.waiting.fetch_sub(1, Ordering::Relaxed);
                    let records = match &processed {
                        Processed::Done(records) => &records[..],
                        Processed::Gone => &[],
                    };
                    self.streams.commit_done(&notice, records);
                }
                Err(e) => {
                    tracing::error!(epoch = notice.epoch, dc = %notice.dc, seq = notice.seq, error = %format!("{e:#}"),
                        retry_in_ms = pause.as_millis() as u64, "commit not processed; trying again");
                    self.stats.retrying.fetch_add(1, Ordering::Relaxed);
                    let daemon = self.clone();
                    let backlog = backlog.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(pause).await;
                        daemon.stats.retrying.fetch_sub(1, Ordering::Relaxed);
                        let pause = (pause * 2).min(MAX_RETRY_PAUSE);
                        backlog.push(Attempt { notice, pause }, true);
                    });
                }
            }
        }
    }

    /// Reads, decodes and runs the jobs of one commit, and stores their
    /// results. A commit with a corrupt chunk (stored bytes that are wrong)
    /// is done too: each matching job gets a recorded error of kind
    /// `corrupt` naming the chunk. `Err` only for what may pass.
    pub async fn process(&self, notice: &CommitNotice) -> anyhow::Result<Processed> {
        let jobs = self.registry.list();
        self.process_for(notice, jobs).await
    }

    /// [`Daemon::process`] for some of the jobs only (a backfill runs one).
    pub(crate) async fn process_for(
        &self,
        notice: &CommitNotice,
        jobs: Vec<Arc<Job>>,
    ) -> anyhow::Result<Processed> {
        if jobs.iter().all(|j| j.paused().is_some()) {
            // No job would run: nothing to read.
            return Ok(Processed::Done(Vec::new()));
        }
        match self.source.read(notice).await {
            Ok(Some(data)) => self.run_on(notice, data, jobs).await,
            Ok(None) => {
                tracing::warn!(epoch = notice.epoch, dc = %notice.dc, seq = notice.seq,
                    "commit is gone from the store (retention?); nothing to run");
                Ok(Processed::Gone)
            }
            Err(SourceError::Corrupt {
                manifest,
                chunk,
                reason,
            }) => {
                let jobs = matching(jobs, notice, &manifest);
                let message = format!("chunk {chunk} is corrupt: {reason}");
                self.record_corrupt(notice, jobs, &message).await
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Records a corrupt commit as an error of kind `corrupt` for each of
    /// `jobs`: reading it again would give the same bytes, so it is not
    /// retried.
    async fn record_corrupt(
        &self,
        notice: &CommitNotice,
        jobs: Vec<Arc<Job>>,
        message: &str,
    ) -> anyhow::Result<Processed> {
        tracing::error!(epoch = notice.epoch, dc = %notice.dc, seq = notice.seq, %message, jobs = jobs.len(),
            "commit is corrupt: recorded as an error of each matching job, not tried again");
        self.stats.corrupt.fetch_add(1, Ordering::Relaxed);
        let records = jobs
            .iter()
            .map(|job| error_record(job, notice, "corrupt", message))
            .collect();
        self.store_records(notice, &jobs, records).await
    }

    /// Decodes a commit already read and runs `jobs` (those not paused whose
    /// manifest matches) on it; stores and flushes their results.
    pub(crate) async fn run_on(
        &self,
        notice: &CommitNotice,
        data: CommitData,
        jobs: Vec<Arc<Job>>,
    ) -> anyhow::Result<Processed> {
        let jobs = matching(jobs, notice, &data.manifest);
        if jobs.is_empty() {
            return Ok(Processed::Done(Vec::new()));
        }
        let raw_bytes: u64 = data.manifest.chunks.iter().map(|c| c.raw_bytes).sum();
        let _room = self.budget.reserve(raw_bytes as usize).await;
        let meta = EpochMeta {
            epoch: notice.epoch,
            dc: notice.dc.clone(),
            seq: notice.seq,
        };
        let started = Instant::now();
        let decoded = tokio::task::spawn_blocking(move || {
            epochd_decode::decode(meta, &data.blobs).map_err(|e| undecodable(e, &data.manifest))
        })
        .await?;
        self.stats
            .decode_us
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        self.stats.decoded.fetch_add(1, Ordering::Relaxed);
        let records = match decoded {
            Ok(epoch) => self.run_jobs(&jobs, epoch).await,
            Err(Undecodable::Corrupt(message)) => {
                return self.record_corrupt(notice, jobs, &message).await
            }
            Err(Undecodable::Other(message)) => jobs
                .iter()
                .map(|job| error_record(job, notice, "decode", &message))
                .collect(),
            Err(Undecodable::Passing(e)) => {
                return Err(anyhow::Error::new(e).context("decoding the commit"))
            }
        };
        self.store_records(notice, &jobs, records).await
    }

    /// Counts each record against its job (pausing a job that failed too
    /// often), stores the records and flushes them.
    async fn store_records(
        &self,
        notice: &CommitNotice,
        jobs: &[Arc<Job>],
        mut records: Vec<ResultRecord>,
    ) -> anyhow::Result<Processed> {
        for record in &mut records {
            record.committed_at_ms = notice.committed_at_ms;
            let job = jobs
                .iter()
                .find(|j| j.manifest.name == record.job)
                .expect("a record per job");
            let (error, job_fault) = match &record.outcome {
                Outcome::Ok { .. } => (None, false),
                // Not the job's fault (a full pool, a bad commit): recorded,
                // but it does not count toward pausing the job.
                Outcome::Error { kind, message } => (
                    Some(format!("{kind}: {message}")),
                    !NOT_JOB_FAULTS.contains(&kind.as_str()),
                ),
            };
            if let Some(reason) = job.record(
                record.epoch,
                record.cpu_us,
                error.as_deref(),
                job_fault,
                self.config.pause_after,
            ) {
                tracing::warn!(job = %job.manifest.name, %reason, "job paused");
                self.registry.persist_pause(job)?;
            }
            self.results.put(record.clone())?;
        }
        let results = self.results.clone();
        tokio::task::spawn_blocking(move || results.flush()).await??;
        Ok(Processed::Done(records))
    }

    /// Runs every job on the epoch on the job threads; waits for all.
    async fn run_jobs(&self, jobs: &[Arc<Job>], epoch: SharedEpoch) -> Vec<ResultRecord> {
        let mut pending = Vec::with_capacity(jobs.len());
        for job in jobs {
            let (tx, rx) = oneshot::channel();
            let job = job.clone();
            let epoch = epoch.clone();
            let caps = self.registry.caps().is_some();
            let idle = self.idle.clone();
            self.workers.spawn(move || {
                let _ = tx.send(run_one(&job, &epoch, caps, &idle));
            });
            pending.push(rx);
        }
        drop(epoch);
        let mut records = Vec::with_capacity(pending.len());
        for rx in pending {
            records.push(rx.await.expect("a job thread answers every task"));
        }
        records
    }
}

/// Runs one job on the calling (job) thread, inside the job's cgroup.
fn run_one(job: &Job, epoch: &SharedEpoch, caps: bool, idle: &super::Idle) -> ResultRecord {
    let meta = epoch.meta();
    if let (true, Some(cgroup)) = (caps, &job.cgroup) {
        if let Err(e) = cgroup.enter_current_thread() {
            tracing::warn!(job = %job.manifest.name, error = %e, "could not enter the job's cgroup; running uncapped");
        }
    }
    let limits = job.manifest.limits();
    let cpu_before = thread_cpu_time();
    let report = job
        .module
        .run(&limits, epoch, job.manifest.config.as_bytes());
    let cpu = thread_cpu_time().saturating_sub(cpu_before);
    idle.enter();
    let outcome = match report.outcome {
        Ok(result) => Outcome::Ok { result },
        Err(e) => Outcome::Error {
            kind: e.kind().to_owned(),
            message: e.to_string(),
        },
    };
    ResultRecord {
        job: job.manifest.name.clone(),
        epoch: meta.epoch,
        dc: meta.dc.clone(),
        seq: meta.seq,
        outcome,
        wall_us: report.wall.as_micros() as u64,
        cpu_us: cpu.as_micros() as u64,
        stored_at_ms: now_ms(),
        committed_at_ms: 0,
    }
}

/// The jobs of `jobs` that are not paused and whose manifest matches the commit.
fn matching(jobs: Vec<Arc<Job>>, notice: &CommitNotice, manifest: &Manifest) -> Vec<Arc<Job>> {
    jobs.into_iter()
        .filter(|j| j.paused().is_none() && j.manifest.matches(notice, manifest))
        .collect()
}

/// Why a commit's chunks did not decode. A chunk that is not a zstd frame
/// or whose events are not MessagePack maps is corrupt, and named by its
/// key (the decoder says which one it was).
fn undecodable(e: DecodeError, manifest: &Manifest) -> Undecodable {
    let key = |index: usize| {
        manifest.chunks.get(index).map_or_else(
            || format!("#{index}"),
            |entry| manifest.chunk_key(entry).to_string(),
        )
    };
    match e {
        DecodeError::Shared(_) => Undecodable::Passing(e),
        DecodeError::Chunk { index, reason } => Undecodable::Corrupt(format!(
            "chunk {} is corrupt: undecodable zstd: {reason}",
            key(index)
        )),
        DecodeError::MalformedChunk { index, reason } => Undecodable::Corrupt(format!(
            "chunk {} is corrupt: undecodable MessagePack: {reason}",
            key(index)
        )),
        DecodeError::Malformed(_) => {
            Undecodable::Corrupt(format!("the commit's chunks are corrupt: {e}"))
        }
        other => Undecodable::Other(format!("the commit could not be decoded: {other}")),
    }
}

fn error_record(job: &Job, notice: &CommitNotice, kind: &str, message: &str) -> ResultRecord {
    ResultRecord {
        job: job.manifest.name.clone(),
        epoch: notice.epoch,
        dc: notice.dc.clone(),
        seq: notice.seq,
        outcome: Outcome::Error {
            kind: kind.to_owned(),
            message: message.to_owned(),
        },
        wall_us: 0,
        cpu_us: 0,
        stored_at_ms: now_ms(),
        committed_at_ms: 0,
    }
}

#[cfg(test)]
mod tests {
    use epochd_store::{Checksum, ChunkEntry, Manifest, MANIFEST_VERSION};

    use super::*;

    /// A commit of 1700000000/ams4/0 whose chunks are `blobs`, as WEB/app/0, WEB/app/1, ...
    fn commit(blobs: Vec<Vec<u8>>) -> CommitData {
        let chunks = blobs
            .iter()
            .enumerate()
            .map(|(i, b)| ChunkEntry {
                event_type: "WEB".into(),
                subtype: Some("app".into()),
                chunk: i as u32,
                bytes: b.len() as u64,
                raw_bytes: 0,
                events: 1,
                checksum: Checksum::of(b),
            })
            .collect();
        CommitData {
            manifest: Manifest {
                version: MANIFEST_VERSION,
                epoch: 1_700_000_000,
                dc: "ams4".into(),
                seq: 0,
                events: 2,
                chunks,
            },
            blobs,
        }
    }

    fn explain(blobs: Vec<Vec<u8>>) -> String {
        let data = commit(blobs);
        let meta = EpochMeta {
            epoch: 1_700_000_000,
            dc: "ams4".into(),
            seq: 0,
        };
        let e = epochd_decode::decode(meta, &data.blobs)
            .err()
            .expect("the commit does not decode");
        match undecodable(e, &data.manifest) {
            Undecodable::Corrupt(message) => message,
            Undecodable::Other(m) => panic!("not corrupt: {m}"),
            Undecodable::Passing(e) => panic!("a passing failure: {e}"),
        }
    }

    /// One valid event: `{"timestamp": 1700000000.5, "type": "WEB"}`.
    fn event() -> Vec<u8> {
        let mut raw = vec![0x82, 0xa9];
        raw.extend_from_slice(b"timestamp");
        raw.push(0xcb);
        raw.extend_from_slice(&1_700_000_000.5f64.to_be_bytes());
        raw.push(0xa4);
        raw.extend_from_slice(b"type");
        raw.push(0xa3);
        raw.extend_from_slice(b"WEB");
        raw
    }

    #[test]
    fn a_chunk_that_is_not_zstd_is_named_as_corrupt() {
        let good = epochd_store::compress(&event(), 3);
        let message = explain(vec![good, b"not a zstd frame at all".to_vec()]);
        assert!(
            message.starts_with("chunk 1700000000/ams4/WEB/app/1 is corrupt: undecodable zstd: "),
            "{message}"
        );
    }

    #[test]
    fn a_chunk_whose_events_are_not_messagepack_maps_is_named_as_corrupt() {
        let good = epochd_store::compress(&event(), 3);
        let bad = epochd_store::compress(&[0xc1, 0x00, 0x01], 3);
        let message = explain(vec![bad, good]);
        assert!(
            message.starts_with(
                "chunk 1700000000/ams4/WEB/app/0 is corrupt: undecodable MessagePack: "
            ),
            "{message}"
        );
    }
}
