//! What the store reports about itself: counters and gauges for metrics,
//! whether it takes writes, free disk and the bytes it uses on disk.
//!
//! These only read; none of them blocks ingest for longer than a lock on
//! the open epochs takes to count them.

use std::path::PathBuf;

use crate::error::StoreError;
use crate::health::{free_bytes, StoreHealth};
use crate::stats::StoreStatsSnapshot;

use super::Store;

/// Bytes on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct DiskUsage {
    /// The sled database (manifests, chunk pointers, outbox).
    pub db: u64,
    /// The chunk bucket files.
    pub chunks: u64,
    /// The write-ahead log.
    pub wal: u64,
}

impl Store {
    /// Counters and gauges for metrics.
    pub fn stats(&self) -> StoreStatsSnapshot {
        let inner = &self.inner;
        let (open_epochs, buffered_bytes) = {
            let open = inner.open.lock();
            (open.len(), open.bytes())
        };
        inner.stats.snapshot(
            open_epochs,
            buffered_bytes,
            inner.outbox.len(),
            inner.wal.segment_count(),
            inner.keys.len(),
        )
    }

    /// The newest epoch through which this store will make no more
    /// primary commits and every commit made has been acknowledged by the
    /// daemon (whose acknowledgement comes only after its results are
    /// stored and flushed): a cluster node's `closed_through`
    /// (docs/CLUSTER.md, "The gateway's contract").
    ///
    /// The least of three bounds, each exact: the clock (an epoch takes
    /// events until its second and the grace are over), the oldest open
    /// epoch (buffered, not yet committed) and the oldest epoch in the hook
    /// outbox (committed, not yet acknowledged). The open epochs are read
    /// holding the seal lock, which a seal holds from taking epochs out to
    /// staging their notices: an epoch taken out before is in the outbox
    /// (or acknowledged) by then, one taken out after is still open, so no
    /// epoch falls between the two reads. Events that arrive for an epoch
    /// after this point make a late commit, as on a single node. The
    /// outbox is read whole: it holds only what the daemon has not
    /// finished, a backlog.
    pub fn closed_through(&self) -> u64 {
        let inner = &self.inner;
        let now_ms = crate::clock::now_ms();
        let mut through = (now_ms.saturating_sub(inner.config.grace_ms) / 1000).saturating_sub(1);
        let oldest_open = {
            let _sealing = inner.seal_lock.lock();
            inner.open.lock().oldest_epoch()
        };
        if let Some(open) = oldest_open {
            through = through.min(open.saturating_sub(1));
        }
        for notice in inner.outbox.pending().flatten() {
            through = through.min(notice.epoch.saturating_sub(1));
        }
        through
    }

    /// Whether the store takes writes, and if not, why: a passing fault
    /// (commits failing, or less free disk than the reserve) or a stop.
    pub fn health(&self) -> StoreHealth {
        let inner = &self.inner;
        let health = inner.health.snapshot();
        if health.is_ok() {
            if let Err(e) = inner.check_room(0) {
                return StoreHealth::Degraded {
                    fault: crate::health::Fault::DiskFull.name(),
                    detail: e.to_string(),
                    for_secs: 0,
                };
            }
        }
        health
    }

    /// Bytes free on the file system of the data directory.
    pub fn free_disk_bytes(&self) -> Result<u64, StoreError> {
        free_bytes(&self.inner.config.data_dir)
    }

    /// Bytes the database and the write-ahead log use on disk.
    pub fn disk_usage(&self) -> DiskUsage {
        let dir = &self.inner.config.data_dir;
        DiskUsage {
            db: dir_size(&dir.join("db")),
            chunks: dir_size(&dir.join("chunks")),
            wal: dir_size(&dir.join("wal")),
        }
    }
}

fn dir_size(path: &std::path::Path) -> u64 {
    let mut total = 0;
    let mut stack: Vec<PathBuf> = vec![path.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            match entry.metadata() {
                Ok(m) if m.is_dir() => stack.push(entry.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}
