//! The sealer: takes the open epochs whose window has passed (or the
//! oldest, over the buffer budget) out of the open epochs, compresses their
//! chunks in parallel and commits them, then tells waiters and listeners
//! and frees the write-ahead log segments that are fully committed.
//!
//! Guarantees: two parts of one (epoch, dc) are committed in the order they
//! were taken; a commit is flushed before anyone hears of it; a failed
//! commit puts its epochs back (their events are still in the log) and
//! degrades or stops the store; log segments are deleted only once every
//! record in them is committed and their idempotency keys are persisted.

use std::sync::atomic::Ordering;
use std::time::Duration;

use rayon::prelude::*;

use epochd_hooks::CommitNotice;

use crate::chunk::compress;
use crate::commit::{Committed, CompressedChunk};
use crate::error::StoreError;
use crate::open_epochs::{LaneKey, RawChunk, SealPolicy, SealedEpoch};

use super::{Inner, Store};

/// Shortest and longest pause between tries of a commit that failed.
const MIN_RETRY_PAUSE: Duration = Duration::from_millis(100);
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(5);

/// A write-ahead log segment all of whose records are committed is closed
/// and deleted once it holds this much, instead of waiting to fill up.
const WAL_ROTATE_WHEN_COMMITTED: u64 = 1 << 20;

/// A segment still holding open epochs' events is closed past this size
/// (and deleted once they are committed): under steady ingest the log
/// stays near it instead of growing to a whole segment.
const WAL_ROTATE_WHILE_BUSY: u64 = 16 << 20;

impl Store {
    /// Seals and commits every open epoch now, whatever its window (tests,
    /// and operators draining a node).
    pub fn seal_all(&self) -> Result<Vec<Committed>, StoreError> {
        let inner = &self.inner;
        let _sealing = inner.seal_lock.lock();
        let sealed = {
            let mut open = inner.open.lock();
            open.take_all(inner.wal.last_lsn())
        };
        inner.commit_sealed(sealed)
    }
}

impl Inner {
    fn policy(&self) -> SealPolicy {
        SealPolicy {
            grace: self.config.grace(),
            quiet: self.config.quiet(),
            max_hold: self.config.max_hold(),
        }
    }

    pub(super) fn run_sealer(&self) {
        let tick = Duration::from_millis(self.config.seal_tick_ms);
        let policy = self.policy();
        // After a failed commit, the pause before the next try: it grows
        // while the fault lasts, so a full disk is not hammered 50 times a
        // second, and is reset by the first commit that succeeds.
        let mut pause = tick;
        while !self.stopping.load(Ordering::Relaxed) {
            self.sleep(pause);
            if self.health.is_failed() {
                continue;
            }
            let _sealing = self.seal_lock.lock();
            let sealed = {
                let mut open = self.open.lock();
                open.take_ready(
                    &policy,
                    self.config.buffer_budget_bytes / 2,
                    self.wal.last_lsn(),
                )
            };
            if sealed.is_empty() {
                continue;
            }
            pause = match self.commit_sealed(sealed) {
                Ok(_) => tick,
                Err(_) => (pause * 2).clamp(MIN_RETRY_PAUSE, MAX_RETRY_PAUSE),
            };
        }
    }

    /// Compresses the sealed epochs' chunks in parallel, commits each epoch,
    /// flushes once, then tells waiters and listeners, and frees WAL segments.
    ///
    /// If a commit fails, the epochs from it on go back into the open epochs
    /// (their events are still in the WAL and must be committed before any
    /// later part of the same (epoch, dc), or a replay would skip them), and
    /// the store is degraded (a passing fault: it recovers with the next
    /// commit that succeeds) or stopped (any other fault).
    fn commit_sealed(&self, sealed: Vec<SealedEpoch>) -> Result<Vec<Committed>, StoreError> {
        if sealed.is_empty() {
            return Ok(Vec::new());
        }
        let level = self.config.zstd_level;
        // The raw chunks are borrowed, not moved: a failed commit puts them back.
        let work: Vec<(usize, &LaneKey, &RawChunk)> = sealed
            .iter()
            .enumerate()
            .flat_map(|(i, s)| {
                s.epoch
                    .lanes
                    .iter()
                    .flat_map(move |(lane, chunks)| chunks.iter().map(move |c| (i, lane, c)))
            })
            .collect();
        let mut compressed: Vec<Vec<CompressedChunk>> = sealed.iter().map(|_| Vec::new()).collect();
        let done: Vec<(usize, CompressedChunk)> = self.compressors.install(|| {
            work.into_par_iter()
                .map(|(i, lane, chunk)| {
                    let blob = compress(&chunk.raw, level);
                    (
                        i,
                        CompressedChunk {
                            lane: lane.clone(),
                            blob,
                            raw_bytes: chunk.raw.len() as u64,
                            events: chunk.events,
                        },
                    )
                })
                .collect()
        });
        for (i, chunk) in done {
            compressed[i].push(chunk);
        }
        let mut results = Vec::with_capacity(sealed.len());
        let mut failure = None;
        {
            let _guard = self.commit_lock.lock();
            let trees = self.trees();
            for (s, chunks) in sealed.iter().zip(compressed) {
                let (epoch, dc) = &s.id;
                match trees.commit_ingested(*epoch, dc, chunks, s.covered_lsn) {
                    Ok(c) => results.push(c),
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                }
            }
        }
        if !results.is_empty() {
            if let Err(e) = self.db.flush() {
                // sled refuses every write after an I/O error of its own.
                return Err(self.stop("flushing the database", e.into()));
            }
            crate::crashpoint::crash_point("after-commit");
        }
        // Healthy again before anyone hears of these commits, so a waiter
        // woken by them finds the store taking writes.
        if failure.is_none() {
            if let Some(lasted) = self.health.recover() {
                tracing::info!(
                    after_ms = lasted.as_millis() as u64,
                    "commits succeed again; the store takes writes"
                );
            }
        }
        let mut sealed = sealed.into_iter();
        let committed_heads: Vec<SealedEpoch> = sealed.by_ref().take(results.len()).collect();
        self.record_commits(&committed_heads, &results);
        if let Some(e) = failure {
            let back: Vec<SealedEpoch> = sealed.collect();
            let epochs = back.len();
            self.open.lock().restore(back);
            return Err(match e.transient_fault() {
                Some(fault) => {
                    self.stats.commit_faults.inc();
                    if self.health.degrade(fault, e.to_string()) {
                        tracing::warn!(error = %e, fault = fault.name(), epochs,
                            "a commit failed on a passing fault; the store refuses writes and tries again until it succeeds");
                    }
                    e
                }
                None => self.stop("a commit", e),
            });
        }
        let keep_from = {
            let open = self.open.lock();
            open.oldest_lsn().unwrap_or(self.wal.last_lsn() + 1)
        };
        // The idempotency keys of the records about to be deleted must
        // outlive them: the tree takes them first (every record before
        // `keep_from` had its key remembered when it was appended).
        if let Err(e) = self.keys.persist_before(&self.db, keep_from) {
            tracing::warn!(error = %e, "could not write idempotency keys to the database; the write-ahead log keeps them until a later commit");
            return Ok(results);
        }
        if let Err(e) =
            self.wal
                .release_before(keep_from, WAL_ROTATE_WHEN_COMMITTED, WAL_ROTATE_WHILE_BUSY)
        {
            // The segments stay until the next commit frees them.
            tracing::warn!(error = %e, "could not delete committed write-ahead log segments; will retry");
        }
        Ok(results)
    }

    /// Tells waiters and listeners about durable commits.
    fn record_commits(&self, heads: &[SealedEpoch], results: &[Committed]) {
        if results.is_empty() {
            return;
        }
        let notices: Vec<CommitNotice> = results.iter().filter_map(|c| c.notice.clone()).collect();
        {
            let mut committed = self.committed.lock();
            for (s, c) in heads.iter().zip(results) {
                committed
                    .entry(s.id.clone())
                    .or_default()
                    .push((s.covered_lsn, c.manifest.seq));
                self.stats.commits.inc();
                if c.manifest.seq > 0 {
                    self.stats.supplementary_commits.inc();
                }
                self.stats
                    .bytes_stored
                    .add(c.manifest.chunks.iter().map(|e| e.bytes).sum());
            }
        }
        self.committed_cv.notify_all();
        self.publish(&notices);
    }
}
