//! Counters of the store, read by /metrics.

use std::sync::atomic::{AtomicU64, Ordering};

/// A monotonically increasing counter.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.add(1);
    }
    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Debug, Default)]
pub(crate) struct StoreStats {
    pub events_accepted: Counter,
    pub bytes_accepted: Counter,
    pub events_too_old: Counter,
    pub batches_refused: Counter,
    pub commits: Counter,
    pub supplementary_commits: Counter,
    pub bytes_stored: Counter,
    pub epochs_swept: Counter,
    pub writes_refused: Counter,
    pub commit_faults: Counter,
    pub idempotent_replays: Counter,
}

/// A copy of the store's counters and gauges at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct StoreStatsSnapshot {
    /// Events accepted by high-level ingest.
    pub events_accepted: u64,
    /// MessagePack bytes accepted by high-level ingest.
    pub bytes_accepted: u64,
    /// Events refused as older than retention.
    pub events_too_old: u64,
    /// Batches refused (invalid or overloaded).
    pub batches_refused: u64,
    /// Commits made (both ingest paths).
    pub commits: u64,
    /// Of which supplementary (late events).
    pub supplementary_commits: u64,
    /// Compressed chunk bytes written by high-level ingest.
    pub bytes_stored: u64,
    /// (epoch, dc, seq) commits deleted by retention.
    pub epochs_swept: u64,
    /// Writes (batches, chunks, manifests) refused because of a passing
    /// fault: a full disk or a disk below the reserve, no file descriptor
    /// left, an I/O error, or commits failing on one of these.
    pub writes_refused: u64,
    /// Commits that failed on a passing fault and were tried again.
    pub commit_faults: u64,
    /// Batches answered as a repeat of an earlier one with the same
    /// idempotency key (nothing stored).
    pub idempotent_replays: u64,
    /// Idempotency keys remembered.
    pub idempotency_keys: usize,
    /// Epochs accepting events, not sealed yet.
    pub open_epochs: usize,
    /// Bytes of events waiting to be sealed.
    pub buffered_bytes: usize,
    /// Hook notices not yet acknowledged by the daemon.
    pub hook_backlog: usize,
    /// Write-ahead log segments on disk.
    pub wal_segments: usize,
}

impl StoreStats {
    pub(crate) fn snapshot(
        &self,
        open_epochs: usize,
        buffered_bytes: usize,
        hook_backlog: usize,
        wal_segments: usize,
        idempotency_keys: usize,
    ) -> StoreStatsSnapshot {
        StoreStatsSnapshot {
            events_accepted: self.events_accepted.get(),
            bytes_accepted: self.bytes_accepted.get(),
            events_too_old: self.events_too_old.get(),
            batches_refused: self.batches_refused.get(),
            commits: self.commits.get(),
            supplementary_commits: self.supplementary_commits.get(),
            bytes_stored: self.bytes_stored.get(),
            epochs_swept: self.epochs_swept.get(),
            writes_refused: self.writes_refused.get(),
            commit_faults: self.commit_faults.get(),
            idempotent_replays: self.idempotent_replays.get(),
            idempotency_keys,
            open_epochs,
            buffered_bytes,
            hook_backlog,
            wal_segments,
        }
    }
}
