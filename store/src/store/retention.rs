//! Retention: the sweeper thread deletes, every `sweep_interval_ms`, the
//! epochs older than `retention_secs`, and expires idempotency keys past
//! their window.
//!
//! Guarantees: manifests go first, so no reader finds a commit whose chunks
//! are gone; deletion runs in small batches, so ingest and commits are not
//! held up by a long sweep; a sweep stops early when the store closes, and
//! what it left is swept the next time (after the restart).

use std::ops::ControlFlow;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::clock;
use crate::error::StoreError;
use crate::sled_util::delete_range_with;

use super::{Inner, Store};

/// What a retention sweep deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Manifests deleted.
    pub manifests: usize,
    /// Chunks deleted.
    pub chunks: usize,
}

impl Store {
    /// Deletes every epoch before `epoch` now (the sweeper does this on its
    /// own for epochs older than the retention).
    pub fn sweep_before(&self, epoch: u64) -> Result<SweepReport, StoreError> {
        self.inner.sweep_before(epoch)
    }
}

impl Inner {
    pub(super) fn run_sweeper(&self) {
        let interval = Duration::from_millis(self.config.sweep_interval_ms);
        loop {
            self.sleep(interval);
            if self.stopping.load(Ordering::Relaxed) {
                return;
            }
            let cutoff = clock::now_secs().saturating_sub(self.config.retention_secs);
            match self.sweep_before(cutoff) {
                Ok(r) if r.manifests + r.chunks > 0 => {
                    tracing::info!(
                        before_epoch = cutoff,
                        manifests = r.manifests,
                        chunks = r.chunks,
                        "retention sweep"
                    )
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "retention sweep failed; will retry"),
            }
            match self.keys.expire(clock::now_secs()) {
                Ok(0) => {}
                Ok(n) => tracing::debug!(keys = n, "idempotency keys expired"),
                Err(e) => {
                    tracing::error!(error = %e, "expiring idempotency keys failed; will retry")
                }
            }
        }
    }

    /// Deletes every key before `epoch` from the manifests (first, so no
    /// reader finds a commit whose chunks are gone), the chunks and the marks.
    fn sweep_before(&self, epoch: u64) -> Result<SweepReport, StoreError> {
        let end = epoch.to_be_bytes();
        let report = SweepReport {
            manifests: self.delete_before(&self.manifests, &end)?,
            chunks: self.delete_before(&self.chunks, &end)?,
        };
        self.delete_before(&self.marks, &end)?;
        self.delete_before(&self.commit_lsns, &end)?;
        self.files.delete_before(epoch)?;
        self.committed.lock().retain(|(e, _), _| *e >= epoch);
        self.stats.epochs_swept.add(report.manifests as u64);
        Ok(report)
    }

    /// Deletes keys before `end` in small batches, so ingest and commits
    /// interleave with a long sweep instead of waiting for it.
    fn delete_before(&self, tree: &sled::Tree, end: &[u8]) -> Result<usize, StoreError> {
        const BATCH: usize = 256;
        if self.stopping.load(Ordering::Relaxed) {
            return Ok(0);
        }
        // `stopping` is checked before the first batch and after each one,
        // so a closing store does not wait for the rest of the sweep.
        let removed = delete_range_with(tree, ..end, BATCH, |_| {
            if self.stopping.load(Ordering::Relaxed) {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })? as usize;
        Ok(removed)
    }
}
