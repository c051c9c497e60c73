//! One commit through the daemon: read it, decode it once, run every
//! matching job on the shared epoch (each on a job thread inside its own
//! cgroup), store the results, and only then acknowledge the notice.

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use epochd_decode::{EpochMeta, SharedEpoch};
use epochd_hooks::{CommitNotice, Delivery};
use tokio::sync::oneshot;

use super::registry::Job;
use super::source::CommitData;
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
const NOT_JOB_FAULTS: [&str; 4] = ["instantiate", "busy", "no_merge", "decode"];

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
    /// Handles one delivery: processes it, acknowledges it when done. When
    /// the commit cannot be read or its results not stored, it is tried
    /// again with a growing pause (up to 30 s), holding the delivery, so a
    /// passing failure delays a commit but never skips it.
    pub async fn handle(self: Arc<Self>, delivery: Delivery) {
        let notice = delivery.notice().clone();
        self.newest_epoch
            .fetch_max(notice.epoch, std::sync::atomic::Ordering::Relaxed);
        let mut pause = std::time::Duration::from_millis(200);
        loop {
            match self.process(&notice).await {
                Ok(processed) => {
                    delivery.ack();
                    let records = match &processed {
                        Processed::Done(records) => &records[..],
                        Processed::Gone => &[],
                    };
                    self.streams.commit_done(&notice, records);
                    return;
                }
                Err(e) => {
                    tracing::error!(epoch = notice.epoch, dc = %notice.dc, seq = notice.seq, error = %e,
                        retry_in_ms = pause.as_millis() as u64, "commit not processed; trying again");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(std::time::Duration::from_secs(30));
                }
            }
        }
    }

    /// Reads, decodes and runs the jobs of one commit, and stores their results.
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
        let Some(data) = self.source.read(notice).await? else {
            tracing::warn!(epoch = notice.epoch, dc = %notice.dc, seq = notice.seq,
                "commit is gone from the store (retention?); nothing to run");
            return Ok(Processed::Gone);
        };
        self.run_on(notice, data, jobs).await
    }

    /// Decodes a commit already read and runs `jobs` (those not paused whose
    /// manifest matches) on it; stores and flushes their results.
    pub(crate) async fn run_on(
        &self,
        notice: &CommitNotice,
        data: CommitData,
        jobs: Vec<Arc<Job>>,
    ) -> anyhow::Result<Processed> {
        let jobs: Vec<Arc<Job>> = jobs
            .into_iter()
            .filter(|j| j.paused().is_none() && j.manifest.matches(notice, &data.manifest))
            .collect();
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
        let decoded =
            tokio::task::spawn_blocking(move || epochd_decode::decode(meta, &data.blobs)).await?;
        self.stats.decode_us.fetch_add(
            started.elapsed().as_micros() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
        self.stats
            .decoded
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut records = match decoded {
            Ok(epoch) => self.run_jobs(&jobs, epoch).await,
            Err(e) => jobs
                .iter()
                .map(|job| {
                    error_record(
                        job,
                        notice,
                        "decode",
                        &format!("the commit could not be decoded: {e}"),
                    )
                })
                .collect(),
        };
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
