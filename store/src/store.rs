//! The store: opens the database and the write-ahead log, runs the sealer
//! and the retention sweeper, and offers the two ingest paths and the reads.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::{Condvar, Mutex};
use rayon::prelude::*;

use epochd_hooks::{CommitNotice, Outbox};

use crate::batch::{parse_batch, BatchRules, ClockRules, Format, ParsedBatch};
use crate::blobfile::{BlobFiles, BlobRef};
use crate::chunk::{compress, decompress, split_events, Checksum};
use crate::commit::{CommitTrees, Committed, CompressedChunk};
use crate::config::StoreConfig;
use crate::error::{EventRejection, ManifestError, StoreError};
use crate::health::{check_room, free_bytes, Health, StoreHealth};
use crate::idempotency::{
    encode_record_prefix, split_record, KeyRecord, KeyedRequest, Keys, Lookup, Outcome,
};
use crate::key::{epoch_dc_prefix, ChunkKey, ManifestKey};
use crate::manifest::Manifest;
use crate::msgpack::scan_event;
use crate::open::{EpochDc, LaneKey, OpenEpochs, RawChunk, SealPolicy, SealedEpoch};
use crate::stats::{StoreStats, StoreStatsSnapshot};
use crate::wal::{Lsn, Wal};

/// Called after commits are durable, with their notices.
pub type CommitListener = Box<dyn Fn(&[CommitNotice]) + Send + Sync>;

/// What an accepted ingest batch became.
#[derive(Debug, Clone, PartialEq)]
pub struct IngestReceipt {
    /// Events accepted and durable (in the write-ahead log).
    pub accepted: usize,
    /// Events refused because they are older than retention: the first few.
    pub too_old: Vec<EventRejection>,
    /// Total refused as too old.
    pub too_old_total: usize,
    /// The batch's WAL record; `None` if nothing was accepted.
    pub lsn: Option<Lsn>,
    /// The (epoch, dc) the accepted events belong to.
    pub epochs: Vec<EpochDc>,
    /// True when this is the answer of an earlier batch with the same
    /// idempotency key: this request stored nothing.
    pub replayed: bool,
}

/// A committed (epoch, dc, seq), as listed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CommitSummary {
    /// Unix second.
    pub epoch: u64,
    /// Data center.
    pub dc: String,
    /// 0 = primary commit, 1.. = supplementary.
    pub seq: u32,
    /// Events.
    pub events: u64,
    /// Chunks.
    pub chunks: usize,
    /// Stored bytes of all chunks.
    pub bytes: u64,
    /// Manifest digest (as in hook notices).
    pub digest: String,
}

/// Whether a PUT of a chunk stored new bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// The chunk was stored.
    Created,
    /// The same bytes were already stored under that key.
    AlreadyPresent,
}

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

/// What a retention sweep deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Manifests deleted.
    pub manifests: usize,
    /// Chunks deleted.
    pub chunks: usize,
}

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

/// The highest WAL position any replay mark names (0 when none).
fn highest_mark(marks: &sled::Tree) -> Result<Lsn, StoreError> {
    let mut highest = 0;
    for value in marks.iter().values() {
        let value = value?;
        let lsn = value
            .as_ref()
            .try_into()
            .map(u64::from_be_bytes)
            .map_err(|_| {
                StoreError::Corrupt(format!("a WAL mark has {} bytes, not 8", value.len()))
            })?;
        highest = highest.max(lsn);
    }
    Ok(highest)
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
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
            unix_now() as u64,
        )?;
        let outbox = Outbox::open(&db).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let files = BlobFiles::open(&config.data_dir.join("chunks"), config.chunk_file_secs)?;

        let mut open = OpenEpochs::default();
        let replay_rules = BatchRules {
            default_dc: config.default_dc.clone(),
            max_event_bytes: usize::MAX,
            clock: None,
        };
        let mut mark_cache: HashMap<EpochDc, Lsn> = HashMap::new();
        let mut replayed = 0usize;
        let wal = Wal::open(
            &config.data_dir.join("wal"),
            config.wal_segment_bytes,
            highest_mark(&marks)? + 1,
            |lsn, payload| {
                let (key, payload) = split_record(payload, lsn)?;
                if let Some(key) = key {
                    keys.replayed(key, unix_now() as u64);
                }
                let batch = parse_batch(payload, Format::MsgPack, &replay_rules).map_err(|r| {
                    StoreError::Corrupt(format!(
                        "WAL record {lsn} does not parse: {}",
                        r.rejections
                            .first()
                            .map(ToString::to_string)
                            .unwrap_or_default()
                    ))
                })?;
                let mut lookup_error = None;
                open.insert(&batch, lsn, config.chunk_target_bytes, |epoch, dc| {
                    let mark = *mark_cache.entry((epoch, dc.to_owned())).or_insert_with(|| {
                        match marks.get(epoch_dc_prefix(epoch, dc)) {
                            Ok(v) => v.map_or(0, |v| {
                                u64::from_be_bytes(v.as_ref().try_into().unwrap_or([0; 8]))
                            }),
                            Err(e) => {
                                lookup_error = Some(e);
                                0
                            }
                        }
                    });
                    mark >= lsn
                });
                if let Some(e) = lookup_error {
                    return Err(e.into());
                }
                replayed += batch.event_count();
                Ok(())
            },
        )?;
        if replayed > 0 {
            tracing::info!(
                events = replayed,
                open_epochs = open.len(),
                "replayed the write-ahead log"
            );
        }
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

    /// High-level ingest: validates a batch and makes it durable in the
    /// write-ahead log. When this returns `Ok`, the accepted events survive a
    /// crash and will be committed exactly once. If any event is malformed or
    /// invalid, nothing is stored and every problem is reported.
    pub fn ingest(&self, body: &[u8], format: Format) -> Result<IngestReceipt, StoreError> {
        self.ingest_with_key(body, format, None)
    }

    /// [`Store::ingest`] with a producer's idempotency key (1 to 128
    /// printable ASCII characters): a repeat of a stored batch with the
    /// same key and the same body, within `idempotency_window_secs`, is
    /// answered with the first receipt (`replayed: true`) and stores
    /// nothing. The same key with another body is
    /// [`StoreError::IdempotencyKeyReused`]; while the first is being
    /// stored, [`StoreError::IdempotencyKeyInFlight`]. The key is
    /// remembered exactly when the batch is durable (it is in the batch's
    /// WAL record): a refused batch, or one of which nothing was accepted,
    /// leaves no key, so its retry is stored.
    pub fn ingest_with_key(
        &self,
        body: &[u8],
        format: Format,
        key: Option<&str>,
    ) -> Result<IngestReceipt, StoreError> {
        let inner = &self.inner;
        let keyed = key
            .map(|key| KeyedRequest::new(key, body, format))
            .transpose()?;
        let now = unix_now();
        // A repeat stores nothing, so it is answered even while the store
        // refuses writes: its batch is durable all the same.
        if let Some(request) = &keyed {
            if let Some(receipt) = inner.repeat(request, now as u64)? {
                return Ok(receipt);
            }
        }
        inner.check_writable()?;
        let config = &inner.config;
        if body.len() > config.max_body_bytes {
            return Err(StoreError::BodyTooLarge {
                size: body.len(),
                limit: config.max_body_bytes,
            });
        }
        let rules = BatchRules {
            default_dc: config.default_dc.clone(),
            max_event_bytes: config.max_event_bytes,
            clock: Some(ClockRules::at(now, config)),
        };
        let batch = parse_batch(body, format, &rules).map_err(|r| {
            inner.stats.batches_refused.inc();
            StoreError::BadBatch {
                rejections: r.rejections,
                total: r.total,
            }
        })?;
        inner.stats.events_too_old.add(batch.too_old_total as u64);
        let mut receipt = IngestReceipt {
            accepted: batch.event_count(),
            too_old: batch.too_old.clone(),
            too_old_total: batch.too_old_total,
            lsn: None,
            epochs: Vec::new(),
            replayed: false,
        };
        if batch.event_count() == 0 {
            // Nothing to store, so no key to remember: a repeat is parsed
            // again and stores nothing again.
            return Ok(receipt);
        }
        let keyed = keyed.map(|request| {
            let record = KeyRecord {
                key: request.key.to_string(),
                created: now as u64,
                body_hash: request.body_hash,
                lsn: 0,
                outcome: Outcome::of(&batch),
            };
            (request, record)
        });
        let appended = inner
            .check_room(batch.byte_count() as u64)
            .and_then(|()| inner.append(&batch, keyed))
            .map_err(|e| inner.refusal(e))?;
        let (lsn, epochs, key) = match appended {
            Appended::Stored { lsn, epochs, key } => (lsn, epochs, key),
            // The same request, stored by a concurrent one meanwhile.
            Appended::Repeat(receipt) => return Ok(receipt),
        };
        receipt.lsn = Some(lsn);
        receipt.epochs = epochs;
        if let Err(e) = inner.wal.sync(lsn) {
            if let Some((key, id)) = &key {
                inner.keys.forget(key, *id);
            }
            // What the page cache held for this and earlier unsynced records
            // may be gone: nothing more may be acknowledged behind them.
            let e = inner.stop("syncing the write-ahead log", e);
            return Err(StoreError::DurabilityUnknown {
                detail: e.to_string(),
            });
        }
        if let Some((key, id)) = &key {
            inner.keys.finish(key, *id);
        }
        inner.stats.events_accepted.add(batch.event_count() as u64);
        inner.stats.bytes_accepted.add(batch.byte_count() as u64);
        Ok(receipt)
    }

    /// Waits until every event of `receipt` is in a durable commit and
    /// returns those commits.
    pub fn wait_committed(
        &self,
        receipt: &IngestReceipt,
        timeout: Duration,
    ) -> Result<Vec<ManifestKey>, StoreError> {
        let Some(lsn) = receipt.lsn else {
            return Ok(Vec::new());
        };
        let inner = &self.inner;
        let deadline = Instant::now() + timeout;
        let mut committed = inner.committed.lock();
        loop {
            let found: Option<Vec<ManifestKey>> = if lsn < inner.opened_lsn {
                inner.committed_before_open(&receipt.epochs, lsn)?
            } else {
                receipt
                    .epochs
                    .iter()
                    .map(|(epoch, dc)| {
                        let seqs = committed.get(&(*epoch, dc.clone()))?;
                        let (_, seq) = seqs.iter().find(|(covered, _)| *covered >= lsn)?;
                        Some(ManifestKey {
                            epoch: *epoch,
                            dc: dc.clone(),
                            seq: *seq,
                        })
                    })
                    .collect()
            };
            if let Some(keys) = found {
                return Ok(keys);
            }
            // A passing fault only delays the commit; a stop ends the wait.
            if inner.health.is_failed() {
                inner.health.check()?;
            }
            if inner.stopping.load(Ordering::Relaxed) {
                return Err(StoreError::Closed);
            }
            if inner
                .committed_cv
                .wait_until(&mut committed, deadline)
                .timed_out()
            {
                return Err(StoreError::CommitWaitTimeout(timeout));
            }
        }
    }

    /// Low-level ingest: stores one chunk blob (zstd-compressed MessagePack
    /// events of the key's epoch, dc, type and subtype). Chunks are
    /// immutable: the same bytes again are accepted, different bytes refused.
    /// A chunk is invisible to readers of commits until a manifest names it.
    pub fn put_chunk(&self, key: &ChunkKey, blob: &[u8]) -> Result<PutOutcome, StoreError> {
        self.inner.check_writable()?;
        key.validate()?;
        self.inner
            .check_epoch(key.epoch, || format!("chunk {key}"))?;
        let raw = decompress(blob).map_err(|reason| StoreError::BadChunk {
            key: Box::new(key.clone()),
            reason,
        })?;
        self.inner
            .check_chunk_events(key, &raw)
            .map_err(|reason| StoreError::BadChunk {
                key: Box::new(key.clone()),
                reason,
            })?;
        let inner = &self.inner;
        let encoded = key.encode();
        let same = |existing: &[u8]| -> Result<PutOutcome, StoreError> {
            let existing = BlobRef::decode(existing)?;
            if existing.checksum == Checksum::of(blob) && existing.len as usize == blob.len() {
                Ok(PutOutcome::AlreadyPresent)
            } else {
                Err(StoreError::ChunkConflict(Box::new(key.clone())))
            }
        };
        if let Some(existing) = inner.chunks.get(&encoded)? {
            return same(&existing);
        }
        let pointer = inner
            .check_room(blob.len() as u64)
            .and_then(|()| inner.files.append(key.epoch, blob))
            .and_then(|pointer| inner.files.sync([pointer.bucket]).map(|()| pointer))
            .map_err(|e| inner.refusal(e))?;
        match inner.chunks.compare_and_swap(
            &encoded,
            None as Option<&[u8]>,
            Some(&pointer.encode()[..]),
        )? {
            Ok(()) => {
                // Durable before the client hears "created": its manifest
                // may arrive right after a crash.
                inner.db.flush()?;
                Ok(PutOutcome::Created)
            }
            Err(e) => same(e.current.as_deref().unwrap_or_default()),
        }
    }

    /// Low-level ingest: commits a manifest whose chunks are all stored. Each
    /// chunk's size, checksum, event count and events are verified first; on
    /// any mismatch nothing is committed. Committing the same manifest again
    /// is a no-op; a different manifest under the same (epoch, dc, seq) is a
    /// conflict.
    pub fn put_manifest(&self, manifest: Manifest) -> Result<Committed, StoreError> {
        let inner = &self.inner;
        inner.check_writable()?;
        inner.check_epoch(manifest.epoch, || {
            format!(
                "manifest {}/{}/{}",
                manifest.epoch, manifest.dc, manifest.seq
            )
        })?;
        manifest.check()?;
        for entry in &manifest.chunks {
            inner.verify_entry(&manifest, entry)?;
        }
        let committed = {
            let _guard = inner.commit_lock.lock();
            inner.trees().commit_manifest(manifest, &[], None)?
        };
        inner.db.flush()?;
        crate::crashpoint::crash_point("after-commit");
        if let Some(notice) = &committed.notice {
            inner.stats.commits.inc();
            inner.publish(std::slice::from_ref(notice));
        }
        Ok(committed)
    }

    /// The manifest of one commit.
    pub fn manifest(&self, key: &ManifestKey) -> Result<Option<Manifest>, StoreError> {
        self.inner
            .manifests
            .get(key.encode())?
            .map(|bytes| Manifest::decode(&bytes))
            .transpose()
    }

    /// The stored bytes of one chunk, checked against their checksum.
    /// `None` when there is no such chunk (never stored, or deleted by
    /// retention). Bytes that are wrong (checksum mismatch, truncated or
    /// missing bucket file) are [`StoreError::CorruptChunk`], which reading
    /// again does not cure; an I/O error ([`StoreError::Io`]) may pass.
    pub fn chunk(&self, key: &ChunkKey) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.chunk(key)
    }

    /// The raw MessagePack events of one commit, in manifest order, each
    /// chunk checked against its checksum.
    pub fn commit_events(&self, key: &ManifestKey) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(manifest) = self.manifest(key)? else {
            return Ok(None);
        };
        let mut raw = Vec::new();
        for entry in &manifest.chunks {
            let chunk_key = manifest.chunk_key(entry);
            let blob = self.chunk(&chunk_key)?.ok_or_else(|| {
                StoreError::Corrupt(format!("committed chunk {chunk_key} is missing"))
            })?;
            if Checksum::of(&blob) != entry.checksum {
                return Err(StoreError::Corrupt(format!(
                    "chunk {chunk_key} fails its checksum"
                )));
            }
            raw.extend(decompress(&blob).map_err(StoreError::Corrupt)?);
        }
        Ok(Some(raw))
    }

    /// The commits with `from <= epoch <= to`, optionally of one dc, in
    /// (epoch, dc, seq) order.
    pub fn commits(
        &self,
        from: u64,
        to: u64,
        dc: Option<&str>,
    ) -> Result<Vec<CommitSummary>, StoreError> {
        let mut out = Vec::new();
        let end = to.saturating_add(1).to_be_bytes();
        for item in self.inner.manifests.range(from.to_be_bytes()..end) {
            let (_, value) = item?;
            let m = Manifest::decode(&value)?;
            if dc.is_some_and(|dc| dc != m.dc) {
                continue;
            }
            out.push(CommitSummary {
                epoch: m.epoch,
                dc: m.dc.clone(),
                seq: m.seq,
                events: m.events,
                chunks: m.chunks.len(),
                bytes: m.chunks.iter().map(|c| c.bytes).sum(),
                digest: m.digest(),
            });
        }
        Ok(out)
    }

    /// Deletes every epoch before `epoch` now (the sweeper does this on its
    /// own for epochs older than the retention).
    pub fn sweep_before(&self, epoch: u64) -> Result<SweepReport, StoreError> {
        self.inner.sweep_before(epoch)
    }

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

/// What [`Inner::append`] did.
enum Appended {
    /// Appended as record `lsn`, with its key's entry if it has one.
    Stored {
        lsn: Lsn,
        epochs: Vec<EpochDc>,
        key: Option<(Arc<str>, u64)>,
    },
    /// A concurrent request with the same key and body was stored first:
    /// its receipt.
    Repeat(IngestReceipt),
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

    fn chunk(&self, key: &ChunkKey) -> Result<Option<Vec<u8>>, StoreError> {
        let encoded = key.encode();
        let Some(pointer) = self.chunks.get(&encoded)? else {
            return Ok(None);
        };
        match BlobRef::decode(&pointer).and_then(|r| self.files.read(&r)) {
            Ok(bytes) => Ok(Some(bytes)),
            // Retention deletes the pointer, then the file: a chunk whose
            // pointer went meanwhile is gone, not corrupt.
            Err(StoreError::Corrupt(_)) if !self.chunks.contains_key(&encoded)? => Ok(None),
            // Named with its key, so that a reader can record which chunk
            // is damaged instead of trying it again forever.
            Err(StoreError::Corrupt(reason)) => Err(StoreError::CorruptChunk {
                key: Box::new(key.clone()),
                reason,
            }),
            Err(e) => Err(e),
        }
    }

    /// The commits of a batch appended before this open (an idempotent
    /// repeat after a restart), from `commit_lsns`: per (epoch, dc), the
    /// first commit that covers `lsn`. `None` while one is not committed
    /// yet. An (epoch, dc) already deleted by retention is left out.
    fn committed_before_open(
        &self,
        epochs: &[EpochDc],
        lsn: Lsn,
    ) -> Result<Option<Vec<ManifestKey>>, StoreError> {
        let horizon = (unix_now() as u64).saturating_sub(self.config.retention_secs);
        let mut keys = Vec::with_capacity(epochs.len());
        for (epoch, dc) in epochs {
            let mut found = None;
            for item in self.commit_lsns.scan_prefix(epoch_dc_prefix(*epoch, dc)) {
                let (key, covered) = item?;
                let covered = covered.as_ref().try_into().map(u64::from_be_bytes);
                let key = ManifestKey::decode(&key);
                match (key, covered) {
                    (Some(key), Ok(covered)) if covered >= lsn => {
                        found = Some(key);
                        break;
                    }
                    (Some(_), Ok(_)) => {}
                    _ => {
                        return Err(StoreError::Corrupt(
                            "an entry of commit_lsns does not decode".into(),
                        ))
                    }
                }
            }
            match found {
                Some(key) => keys.push(key),
                None if *epoch < horizon => {}
                None => return Ok(None),
            }
        }
        Ok(Some(keys))
    }

    /// Refuses a low-level chunk or manifest whose epoch is outside the
    /// bounds an event's timestamp must keep: one such commit would move
    /// the newest epoch of every reader far ahead of the clock, or be
    /// deleted by retention at once.
    fn check_epoch(&self, epoch: u64, subject: impl FnOnce() -> String) -> Result<(), StoreError> {
        ClockRules::at(unix_now(), &self.config)
            .check_epoch(epoch)
            .map_err(|reason| StoreError::EpochOutOfBounds {
                subject: subject(),
                reason,
            })
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

    /// The answer to a repeat of a keyed request: its first receipt; an
    /// error when the key was used for another body or is being stored;
    /// `None` when the key is new.
    fn repeat(
        &self,
        request: &KeyedRequest,
        now: u64,
    ) -> Result<Option<IngestReceipt>, StoreError> {
        match self.keys.lookup(request, now) {
            Lookup::New => Ok(None),
            Lookup::Replay(record) => {
                self.stats.idempotent_replays.inc();
                let outcome = &record.outcome;
                Ok(Some(IngestReceipt {
                    accepted: outcome.accepted as usize,
                    too_old: outcome.too_old_rejections(),
                    too_old_total: outcome.too_old_total as usize,
                    lsn: Some(record.lsn),
                    epochs: outcome.epochs.clone(),
                    replayed: true,
                }))
            }
            Lookup::Reused => Err(StoreError::IdempotencyKeyReused {
                key: request.key.to_string(),
                window_secs: self.config.idempotency_window_secs,
            }),
            Lookup::InFlight => Err(StoreError::IdempotencyKeyInFlight {
                key: request.key.to_string(),
            }),
        }
    }

    /// Appends the batch to the WAL and to the open epochs under one lock, so
    /// the WAL order is the buffer order (replay marks rely on it). A keyed
    /// batch's key goes into its WAL record, and is looked up again and
    /// remembered under the same lock, so of two concurrent requests with
    /// one key only one is appended.
    fn append(
        &self,
        batch: &ParsedBatch<'_>,
        keyed: Option<(KeyedRequest, KeyRecord)>,
    ) -> Result<Appended, StoreError> {
        let prefix = keyed
            .as_ref()
            .map(|(_, record)| encode_record_prefix(record));
        let parts: Vec<&[u8]> = prefix
            .as_deref()
            .into_iter()
            .chain(batch.parts.iter().map(|p| &*p.data))
            .collect();
        let mut open = self.open.lock();
        if let Some((request, record)) = &keyed {
            if let Some(receipt) = self.repeat(request, record.created)? {
                return Ok(Appended::Repeat(receipt));
            }
        }
        if open.bytes() > self.config.buffer_budget_bytes {
            self.stats.batches_refused.inc();
            return Err(StoreError::Overloaded {
                buffered: open.bytes(),
                budget: self.config.buffer_budget_bytes,
            });
        }
        let lsn = self.wal.append(&parts)?;
        // Remembered under the open lock, so the sealer, which may commit
        // these events as soon as the lock is released, finds the key and
        // persists it before it frees the WAL record (see `commit_sealed`).
        let key = keyed.map(|(request, record)| {
            let id = self.keys.begin(KeyRecord { lsn, ..record });
            (request.key, id)
        });
        let epochs = open.insert(batch, lsn, self.config.chunk_target_bytes, |_, _| false);
        Ok(Appended::Stored { lsn, epochs, key })
    }

    fn policy(&self) -> SealPolicy {
        SealPolicy {
            grace: self.config.grace(),
            quiet: self.config.quiet(),
            max_hold: self.config.max_hold(),
        }
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

    fn run_sealer(&self) {
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

    /// Stops the store after `what` failed on a fault it cannot recover
    /// from while running; waiters are woken to hear it.
    fn stop(&self, what: &str, e: StoreError) -> StoreError {
        tracing::error!(error = %e, "{what} failed; the store stops taking writes until it is restarted (the restart replays the write-ahead log)");
        self.health.fail(format!("{what} failed: {e}"));
        self.committed_cv.notify_all();
        e
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

    fn publish(&self, notices: &[CommitNotice]) {
        if notices.is_empty() {
            return;
        }
        for listener in self.listeners.lock().iter() {
            listener(notices);
        }
    }

    /// Checks a relocator's chunk against its manifest entry.
    fn verify_entry(
        &self,
        manifest: &Manifest,
        entry: &crate::manifest::ChunkEntry,
    ) -> Result<(), StoreError> {
        let key = manifest.chunk_key(entry);
        let blob = self
            .chunk(&key)?
            .ok_or_else(|| ManifestError::MissingChunk(key.clone()))?;
        if blob.len() as u64 != entry.bytes {
            return Err(ManifestError::SizeMismatch {
                key,
                expected: entry.bytes,
                actual: blob.len() as u64,
            }
            .into());
        }
        let actual = Checksum::of(&blob);
        if actual != entry.checksum {
            return Err(ManifestError::ChecksumMismatch {
                key,
                expected: entry.checksum.to_string(),
                actual: actual.to_string(),
            }
            .into());
        }
        let bad = |reason: String| ManifestError::BadChunk {
            key: key.clone(),
            reason,
        };
        let raw = decompress(&blob).map_err(bad)?;
        if raw.len() as u64 != entry.raw_bytes {
            return Err(bad(format!(
                "{} raw bytes, the manifest says {}",
                raw.len(),
                entry.raw_bytes
            ))
            .into());
        }
        let events = self.check_chunk_events(&key, &raw).map_err(bad)?;
        if events != entry.events {
            return Err(bad(format!(
                "{events} events, the manifest says {}",
                entry.events
            ))
            .into());
        }
        Ok(())
    }

    /// Checks that every event of a chunk is valid and belongs under its
    /// key; returns how many there are.
    fn check_chunk_events(&self, key: &ChunkKey, raw: &[u8]) -> Result<u64, String> {
        let mut count = 0;
        for (i, event) in split_events(raw).enumerate() {
            let event = event.map_err(|e| format!("event {}: {e}", i + 1))?;
            let (header, _) = scan_event(event).map_err(|e| format!("event {}: {e}", i + 1))?;
            let dc = header.dc.unwrap_or(&self.config.default_dc);
            let epoch = header.timestamp.floor() as u64;
            if epoch != key.epoch
                || dc != key.dc
                || header.event_type != key.event_type
                || header.subtype != key.subtype.as_deref()
            {
                return Err(format!(
                    "event {} is epoch {epoch}, dc {dc}, type {}, subtype {}: it does not belong in this chunk",
                    i + 1,
                    header.event_type,
                    header.subtype.unwrap_or(crate::key::NO_SUBTYPE)
                ));
            }
            count += 1;
        }
        Ok(count)
    }

    fn run_sweeper(&self) {
        let interval = Duration::from_millis(self.config.sweep_interval_ms);
        loop {
            self.sleep(interval);
            if self.stopping.load(Ordering::Relaxed) {
                return;
            }
            let cutoff = (unix_now() as u64).saturating_sub(self.config.retention_secs);
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
            match self.keys.expire(unix_now() as u64) {
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
        let mut removed = 0;
        while !self.stopping.load(Ordering::Relaxed) {
            let keys: Vec<sled::IVec> = tree
                .range(..end)
                .keys()
                .take(BATCH)
                .collect::<Result<_, _>>()?;
            if keys.is_empty() {
                break;
            }
            let mut batch = sled::Batch::default();
            for key in &keys {
                batch.remove(key.clone());
            }
            tree.apply_batch(batch)?;
            removed += keys.len();
        }
        Ok(removed)
    }
}
