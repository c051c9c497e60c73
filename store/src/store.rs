//! The store: the [`Store`] handle and the state its parts share. Opening
//! it (the database, the chunk files, the write-ahead log) and closing it
//! are here; the rest is one file per job:
//!
//! - `replay.rs`: replaying the write-ahead log at open;
//! - `ingest.rs`: the high-level ingest path and waiting for commits;
//! - `low_level.rs`: the relocators' path (chunks, then a manifest);
//! - `reads.rs`: manifests, chunks, commits' events, the commit list;
//! - `sealer.rs`: sealing open epochs and committing them;
//! - `retention.rs`: the retention sweep;
//! - `status.rs`: stats, health and disk usage.
//!
//! Guarantees are the crate's (see its docs); the locks below say which
//! orders the parts rely on.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use epochd_hooks::{CommitNotice, Outbox};

use crate::blobfile::BlobFiles;
use crate::clock;
use crate::commit::CommitTrees;
use crate::config::StoreConfig;
use crate::error::StoreError;
use crate::health::{check_room, Health};
use crate::idempotency::Keys;
use crate::open_epochs::{EpochDc, OpenEpochs};
use crate::stats::StoreStats;
use crate::wal::{Lsn, Wal};

mod ingest;
mod low_level;
mod reads;
mod replay;
mod retention;
mod sealer;
mod status;

pub use ingest::IngestReceipt;
pub use low_level::PutOutcome;
pub use reads::CommitSummary;
pub use retention::SweepReport;
pub use status::DiskUsage;

/// Called after commits are durable, with their notices.
pub type CommitListener = Box<dyn Fn(&[CommitNotice]) + Send + Sync>;

struct Inner {
    config: StoreConfig,
    db: sled::Db,
    /// Chunk key -> pointer into `files`.
    chunks: sled::Tree,
    files: BlobFiles,
    manifests: sled::Tree,
    marks: sled::Tree,
    /// (epoch, dc, seq) -> the WAL position an ingested commit covers.
    commit_lsns: sled::Tree,
    outbox: Outbox,
    wal: Wal,
    /// The first LSN of this open: a receipt below it (an idempotent
    /// repeat of a batch from before the restart) finds its commits in
    /// `commit_lsns`, not in `committed`, which starts empty.
    opened_lsn: Lsn,
    /// Producers' idempotency keys (see `idempotency.rs`).
    keys: Keys,
    open: Mutex<OpenEpochs>,
    /// Serialises sealing: taking epochs out of `open` and committing them
    /// happen under it, so two parts of one (epoch, dc) are committed in the
    /// order they were taken (receipts and replay marks rely on it).
    seal_lock: Mutex<()>,
    /// Serialises commits: seq and chunk numbers are assigned under it, and
    /// the outbox's commit ids follow commit order.
    commit_lock: Mutex<()>,
    /// Per (epoch, dc), the (covered LSN, seq) of each commit made since the
    /// store opened, for callers waiting on their batch's commit.
    committed: Mutex<BTreeMap<EpochDc, Vec<(Lsn, u32)>>>,
    committed_cv: Condvar,
    listeners: Mutex<Vec<CommitListener>>,
    /// Threads that compress sealed chunks. Apart from rayon's global pool,
    /// which parses large NDJSON bodies, so a burst of sealing does not
    /// queue in front of a producer's request (and the other way round).
    compressors: rayon::ThreadPool,
    /// Whether writes are taken (see `health.rs`): a commit that fails on a
    /// passing fault puts its epochs back and degrades the store until a
    /// commit succeeds; one that fails otherwise stops it until a restart.
    health: Health,
    stopping: AtomicBool,
    wake: (Mutex<()>, Condvar),
    stats: StoreStats,
}

/// The epoch-keyed event blob store. See the crate docs for its guarantees.
pub struct Store {
    inner: Arc<Inner>,
    threads: Vec<JoinHandle<()>>,
}

impl Store {
    /// Opens (or creates) the store in `config.data_dir`, replays the
    /// write-ahead log, and starts the sealer and the retention sweeper.
    pub fn open(config: StoreConfig) -> Result<Store, StoreError> {
        config.validate()?;
        let db_path = config.data_dir.join("db");
        let db = sled::Config::new()
            .path(&db_path)
            .cache_capacity(256 << 20)
            // Commits flush explicitly; this only bounds what a crash loses
            // of unacknowledged writes (deletions, acks).
            .flush_every_ms(Some(500))
            .open()?;
        let chunks = db.open_tree("chunks")?;
        let manifests = db.open_tree("manifests")?;
        let marks = db.open_tree("wal_marks")?;
        let commit_lsns = db.open_tree("commit_lsns")?;
        // Loaded before the replay, which adds the keys of the log's records.
        let keys = Keys::open(
            &db,
            config.idempotency_window_secs,
            config.max_idempotency_keys,
            clock::now_secs(),
        )?;
        let outbox = Outbox::open(&db).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let files = BlobFiles::open(&config.data_dir.join("chunks"), config.chunk_file_secs)?;

        let (wal, open) = replay::replay_wal(&config, &marks, &keys)?;
        let opened_lsn = wal.last_lsn() + 1;
        let inner = Arc::new(Inner {
            config,
            db,
            chunks,
            files,
            manifests,
            marks,
            commit_lsns,
            outbox,
            wal,
            opened_lsn,
            keys,
            open: Mutex::new(open),
            seal_lock: Mutex::new(()),
            commit_lock: Mutex::new(()),
            committed: Mutex::new(BTreeMap::new()),
            committed_cv: Condvar::new(),
            listeners: Mutex::new(Vec::new()),
            compressors: rayon::ThreadPoolBuilder::new()
                .thread_name(|i| format!("epochd-compress-{i}"))
                .build()
                .map_err(|e| {
                    StoreError::Config(format!("cannot start the compression threads: {e}"))
                })?,
            health: Health::default(),
            stopping: AtomicBool::new(false),
            wake: (Mutex::new(()), Condvar::new()),
            stats: StoreStats::default(),
        });
        let sealer = {
            let inner = Arc::clone(&inner);
            std::thread::Builder::new()
                .name("epochd-sealer".into())
                .spawn(move || inner.run_sealer())
                .map_err(|e| StoreError::io("sealer thread", e))?
        };
        let sweeper = {
            let inner = Arc::clone(&inner);
            std::thread::Builder::new()
                .name("epochd-retention".into())
                .spawn(move || inner.run_sweeper())
                .map_err(|e| StoreError::io("retention thread", e))?
        };
        Ok(Store {
            inner,
            threads: vec![sealer, sweeper],
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &StoreConfig {
        &self.inner.config
    }

    /// The hook outbox (its notices are delivered by `epochd-hooks`).
    pub fn outbox(&self) -> Outbox {
        self.inner.outbox.clone()
    }

    /// Registers a function called after every durable commit (e.g. to wake
    /// the hook dispatcher).
    pub fn on_commit(&self, listener: CommitListener) {
        self.inner.listeners.lock().push(listener);
    }

    /// Stops the background threads and flushes. Open epochs stay in the
    /// write-ahead log and are committed after the next open.
    pub fn close(mut self) -> Result<(), StoreError> {
        self.stop_threads();
        self.inner.db.flush()?;
        Ok(())
    }

    fn stop_threads(&mut self) {
        self.inner.stopping.store(true, Ordering::SeqCst);
        {
            let _g = self.inner.wake.0.lock();
            self.inner.wake.1.notify_all();
        }
        self.inner.committed_cv.notify_all();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.stop_threads();
        let _ = self.inner.db.flush();
    }
}

impl Inner {
    fn trees(&self) -> CommitTrees<'_> {
        CommitTrees {
            chunks: &self.chunks,
            files: &self.files,
            manifests: &self.manifests,
            marks: &self.marks,
            commit_lsns: &self.commit_lsns,
            outbox: &self.outbox,
            db: &self.db,
            node: &self.config.node,
        }
    }

    /// Refuses a write while the store is degraded or stopped, and counts it.
    fn check_writable(&self) -> Result<(), StoreError> {
        self.health
            .check()
            .inspect_err(|_| self.stats.writes_refused.inc())
    }

    /// Refuses a write of `incoming` bytes that would eat into the disk
    /// reserve commits need.
    fn check_room(&self, incoming: u64) -> Result<(), StoreError> {
        check_room(
            &self.config.data_dir,
            self.config.disk_reserve_bytes,
            incoming,
        )
    }

    /// A write refused: a passing fault becomes a refusal that names it,
    /// and is counted.
    fn refusal(&self, e: StoreError) -> StoreError {
        let e = e.as_refusal();
        if e.transient_fault().is_some() {
            self.stats.writes_refused.inc();
            tracing::debug!(error = %e, "write refused");
        }
        e
    }

    /// Sleeps for `period`, or until the store stops.
    fn sleep(&self, period: Duration) {
        let mut guard = self.wake.0.lock();
        // Checked under the lock `stop_threads` takes to notify, so a stop
        // cannot slip in between the check and the wait.
        if !self.stopping.load(Ordering::SeqCst) {
            self.wake.1.wait_for(&mut guard, period);
        }
    }

    /// Stops the store after `what` failed on a fault it cannot recover
    /// from while running; waiters are woken to hear it.
    fn stop(&self, what: &str, e: StoreError) -> StoreError {
        tracing::error!(error = %e, "{what} failed; the store stops taking writes until it is restarted (the restart replays the write-ahead log)");
        self.health.fail(format!("{what} failed: {e}"));
        self.committed_cv.notify_all();
        e
    }

    fn publish(&self, notices: &[CommitNotice]) {
        if notices.is_empty() {
            return;
        }
        for listener in self.listeners.lock().iter() {
            listener(notices);
        }
    }
}
