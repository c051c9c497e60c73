//! Stores the records of finished runs: each job's result is checked
//! against its quotas, counted against the job (pausing a job that fails
//! too often), stored, and flushed with whatever else finished meanwhile
//! (one flush for many runs). Only then does it reach live streams, and
//! does the run count as done for its commit.
//!
//! One thread: records are stored in the order runs finish, and a slow
//! flush holds no job thread.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};

use super::commit::CommitRuns;
use super::job_logs::LogRate;
use super::quota::{OverQuota, Quotas};
use crate::clock::now_ms;
use crate::registry::{Job, Registry};
use crate::results::Streams;
use crate::results::{Outcome, ResultRecord, Results};

/// Records stored with one flush, at most.
const MAX_BATCH: usize = 1024;
/// The longest pause between two tries of a batch the database refused.
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(5);

/// A run's record, on its way to storage.
pub(crate) struct Finished {
    pub(crate) commit: Arc<CommitRuns>,
    pub(crate) job: Arc<Job>,
    pub(crate) record: ResultRecord,
    /// Whether a failure is the job's own (counts toward pausing it).
    pub(crate) job_fault: bool,
}

/// What the completer needs.
pub(crate) struct Completer {
    pub(crate) results: Results,
    pub(crate) registry: Arc<Registry>,
    pub(crate) streams: Streams,
    pub(crate) quotas: Arc<Quotas>,
    pub(crate) log_rate: LogRate,
    pub(crate) pause_after: u32,
}

impl Completer {
    /// Starts the completer's thread; it ends when every sender is gone.
    pub(crate) fn start(self) -> Sender<Finished> {
        let (tx, rx) = crossbeam_channel::unbounded();
        std::thread::Builder::new()
            .name("epochd-results".into())
            .spawn(move || self.run(rx))
            .expect("spawning the results thread");
        tx
    }

    fn run(self, rx: Receiver<Finished>) {
        while let Ok(first) = rx.recv() {
            let mut batch = vec![first];
            batch.extend(rx.try_iter().take(MAX_BATCH - 1));
            for finished in &mut batch {
                self.account(finished);
            }
            self.store(&batch);
            for Finished { commit, record, .. } in batch {
                if commit.live {
                    self.streams.job_done(&record);
                }
                commit.finish(Some(record));
            }
        }
    }

    /// Applies the job's quotas to its result and counts the run against
    /// the job.
    fn account(&self, finished: &mut Finished) {
        let Finished {
            commit,
            job,
            record,
            job_fault,
        } = finished;
        record.committed_at_ms = commit.of.committed_at_ms;
        record.stored_at_ms = now_ms();
        // Before the quota: the lines kept are stored with the result.
        self.log_rate.admit(record);
        if let Outcome::Ok { .. } = record.outcome {
            if let Some(over) = self.over_quota(&job.manifest.name, record) {
                job.stats.results_refused.fetch_add(1, Ordering::Relaxed);
                record.outcome = Outcome::Error {
                    kind: over.kind,
                    message: over.message,
                };
                *job_fault = true;
            }
        }
        let error = match &record.outcome {
            Outcome::Ok { .. } => None,
            Outcome::Error { kind, message } => Some(format!("{kind}: {message}")),
        };
        if let Some(reason) = job.record(
            record.epoch,
            record.cpu_us,
            error.as_deref(),
            *job_fault,
            self.pause_after,
        ) {
            tracing::warn!(job = %job.manifest.name, %reason, "job paused");
            if let Err(e) = self.registry.persist_pause(job) {
                tracing::error!(job = %job.manifest.name, error = %e, "could not persist a job's pause");
            }
        }
    }

    /// Why the job may not store this result, if it may not.
    fn over_quota(&self, job: &str, record: &ResultRecord) -> Option<OverQuota> {
        let size = match Results::stored_size(record) {
            Ok(size) => size,
            Err(e) => {
                tracing::error!(job, error = %e, "a result could not be sized; stored unchecked");
                return None;
            }
        };
        self.quotas
            .admit(job, size, self.results.stored_bytes(job))
            .err()
    }

    /// Stores and flushes the batch, trying again until the database takes
    /// it: the runs' commits are acknowledged only after.
    fn store(&self, batch: &[Finished]) {
        let mut pause = Duration::from_millis(100);
        loop {
            let stored = batch
                .iter()
                .try_for_each(|f| self.results.put(f.record.clone()))
                .and_then(|()| self.results.flush());
            match stored {
                Ok(()) => return,
                Err(e) => {
                    tracing::error!(error = %e, records = batch.len(), retry_in_ms = pause.as_millis() as u64,
                        "results could not be stored; trying again");
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(MAX_RETRY_PAUSE);
                }
            }
        }
    }
}
