//! Running a newly submitted job over the commits already stored
//! (`backfill` in its manifest), in the background, one commit at a time.
//!
//! Backfilled results are stored like live ones (same keys, so a commit
//! that also arrives live is overwritten, not doubled) and are read with
//! range queries; they are not pushed to live streams, whose epochs have
//! already moved on.

use std::sync::Arc;

use super::commit::Commit;
use super::error::{BackfillError, ProcessError};
use super::Daemon;
use crate::registry::{BackfillState, BackfillStatus, Job};

impl Daemon {
    /// Starts the job's backfill, if its manifest asks for one.
    pub fn start_backfill(self: &Arc<Self>, job: Arc<Job>) {
        let Some(backfill) = job.manifest.backfill else {
            return;
        };
        let now = crate::clock::now_secs();
        self.start_backfill_over(job, backfill.from, backfill.to.unwrap_or(now));
    }

    /// Runs the job over the stored commits of epochs `from..=to`, in the
    /// background: a manifest's backfill, or in cluster mode the epochs a
    /// node already processed before it heard that the job runs for them.
    /// Epochs the cluster does not run the job for are skipped.
    pub fn start_backfill_over(self: &Arc<Self>, job: Arc<Job>, from: u64, to: u64) {
        *job.backfill.lock() = Some(BackfillStatus {
            from,
            to,
            total: 0,
            done: 0,
            state: BackfillState::Running,
        });
        let daemon = self.clone();
        tokio::spawn(async move {
            let outcome = daemon.backfill(&job, from, to).await;
            let name = &job.manifest.name;
            let state = match outcome {
                Ok(()) => {
                    tracing::info!(job = %name, from, to, "backfill done");
                    BackfillState::Done
                }
                Err(e) => {
                    tracing::warn!(job = %name, error = %e, "backfill failed");
                    BackfillState::Failed {
                        error: e.to_string(),
                    }
                }
            };
            if let Some(status) = job.backfill.lock().as_mut() {
                status.state = state;
            }
        });
    }

    async fn backfill(&self, job: &Arc<Job>, from: u64, to: u64) -> Result<(), BackfillError> {
        let keys = self
            .source
            .commits(from, to)
            .await
            .map_err(BackfillError::List)?;
        if let Some(status) = job.backfill.lock().as_mut() {
            status.total = keys.len();
        }
        for key in keys {
            // Deleted (or deleted and submitted again) meanwhile: stop.
            if !self
                .registry
                .get(&job.manifest.name)
                .is_some_and(|current| Arc::ptr_eq(&current, job))
            {
                return Err(BackfillError::JobDeleted);
            }
            let read = self.source.read_key(key.clone()).await;
            if let Some(data) = read.map_err(ProcessError::Read)? {
                // When a stored commit was made is not kept with it.
                let commit = Commit {
                    key,
                    committed_at_ms: 0,
                };
                self.launch_on(&commit, data, vec![job.clone()], false, None)
                    .await?
                    .finished()
                    .await?;
            }
            if let Some(status) = job.backfill.lock().as_mut() {
                status.done += 1;
            }
        }
        Ok(())
    }
}
