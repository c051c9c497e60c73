//! The timed paths: zstd-3 alone, and one ingest into a fresh store.

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};

use epochd_bench::cpu::{self, ThreadCpu};
use epochd_bench::stopwatch::timed;
use epochd_bench::{EncodedStream, Stopwatch, StreamSpec};
use epochd_store::{
    compress, CommitListener, Format as StoreFormat, IngestReceipt, Store, StoreConfig, StoreError,
};
use epochd_workload::Format;

/// zstd level of the floor; the store's default.
pub const ZSTD_LEVEL: i32 = 3;

/// How long to wait for commits before calling the run broken.
const COMMIT_TIMEOUT: Duration = Duration::from_secs(120);

/// A grace long enough that the sealer seals nothing during a run.
const HOLD_GRACE_MS: u64 = 3_600_000;

/// Compresses every piece with zstd-3, one thread. Returns seconds and compressed bytes.
pub fn zstd_floor(pieces: &[&[u8]]) -> (f64, usize) {
    let watch = Stopwatch::start();
    let mut compressed = 0;
    for piece in pieces {
        compressed += std::hint::black_box(compress(piece, ZSTD_LEVEL)).len();
    }
    (watch.secs(), compressed)
}

/// When the store seals during a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sealing {
    /// As configured for the benchmark (grace 0, quiet 20 ms): epochs are sealed,
    /// compressed and committed in the background while later ones arrive.
    Live,
    /// Nothing is sealed until `seal_all` after the last batch, so ingest calls and
    /// commits are timed apart (the breakdown).
    Held,
}

/// One ingest run.
#[derive(Debug, Clone)]
pub struct IngestRun {
    /// First ingest call to every event committed and durable.
    pub secs: f64,
    /// Until the last batch was accepted.
    pub produce_secs: f64,
    /// Inside `Store::ingest` calls (parse, WAL append and sync), summed over the
    /// producers.
    pub in_calls: f64,
    /// Duration of each `Store::ingest` call in milliseconds, sorted.
    pub call_ms: Vec<f64>,
    /// Of which after the last batch: `seal_all` and the waits.
    pub drain: f64,
    /// MessagePack bytes the store accepted.
    pub accepted_bytes: u64,
    /// Compressed bytes stored in chunks.
    pub stored_bytes: u64,
    /// Chunks committed.
    pub chunks: usize,
    /// Commits of (epoch, dc).
    pub commits: usize,
    /// Of which supplementary (seq > 0).
    pub supplementary: usize,
    /// Times the store answered "overloaded" and the batch was retried.
    pub retries: usize,
    /// Whether `wait_committed` had returned for every receipt before every event
    /// was committed.
    pub early: bool,
    /// CPU used by each thread of the process during the timed section.
    pub cpu: Vec<ThreadCpu>,
}

/// Counts the events of durable commits, as reported to commit listeners (which the
/// store calls after each flush).
#[derive(Debug, Clone, Default)]
struct CommitCounter(Arc<(Mutex<u64>, Condvar)>);

impl CommitCounter {
    fn listener(&self) -> CommitListener {
        let shared = Arc::clone(&self.0);
        Box::new(move |notices| {
            let (events, changed) = &*shared;
            let mut events = events.lock().unwrap_or_else(PoisonError::into_inner);
            *events += notices.iter().map(|n| n.events).sum::<u64>();
            changed.notify_all();
        })
    }

    fn events(&self) -> u64 {
        *self.0 .0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until at least `target` events are committed; false on timeout.
    fn wait_for(&self, target: u64, timeout: Duration) -> bool {
        let (events, changed) = &*self.0;
        let guard = events.lock().unwrap_or_else(PoisonError::into_inner);
        let (guard, _) = changed
            .wait_timeout_while(guard, timeout, |events| *events < target)
            .unwrap_or_else(PoisonError::into_inner);
        *guard >= target
    }
}

/// A fresh temp dir under `root`, removed when dropped.
pub fn temp_dir(root: &Path, what: &str) -> Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix(&format!("epochd-bench-{what}-"))
        .tempdir_in(root)
        .with_context(|| format!("creating a temp dir in {}", root.display()))
}

/// What one producer sent.
struct Produced {
    receipts: Vec<IngestReceipt>,
    /// Duration of each call.
    calls: Vec<Duration>,
    /// Calls answered "overloaded" and retried.
    retries: usize,
    /// The producer thread's CPU, when it was a thread of its own (it ends before the
    /// closing snapshot).
    cpu: Option<ThreadCpu>,
}

/// Sends `bodies` one after the other, retrying a body the store refuses as
/// overloaded.
fn produce<'a>(
    store: &Store,
    bodies: impl Iterator<Item = &'a [u8]>,
    format: StoreFormat,
) -> Result<Produced> {
    let mut out = Produced {
        receipts: Vec::new(),
        calls: Vec::new(),
        retries: 0,
        cpu: None,
    };
    for body in bodies {
        loop {
            let (result, took) = timed(|| store.ingest(body, format));
            out.calls.push(took);
            match result {
                Ok(receipt) => {
                    out.receipts.push(receipt);
                    break;
                }
                Err(StoreError::Overloaded { .. }) => {
                    out.retries += 1;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => return Err(e).context("ingest refused a batch"),
            }
        }
    }
    Ok(out)
}

/// Ingests `stream` in bodies of `batch_events` from `producers` threads into a fresh
/// store under `root` and times it until every event is committed and durable; then
/// checks that nothing was lost or refused.
pub fn ingest_once(
    root: &Path,
    spec: &StreamSpec,
    stream: &EncodedStream,
    batch_events: usize,
    sealing: Sealing,
    producers: usize,
    max_hold_ms: u64,
) -> Result<IngestRun> {
    let dir = temp_dir(root, "ingest")?;
    let config = StoreConfig {
        grace_ms: match sealing {
            Sealing::Live => 0,
            Sealing::Held => HOLD_GRACE_MS,
        },
        quiet_ms: 20,
        max_hold_ms,
        ..StoreConfig::new(dir.path())
    };
    let store = Store::open(config).context("opening the store")?;
    let committed = CommitCounter::default();
    store.on_commit(committed.listener());
    let format = match stream.format() {
        Format::MsgPack => StoreFormat::MsgPack,
        Format::Ndjson => StoreFormat::Ndjson,
    };
    let batches = stream.batches(batch_events);

    let cpu_before = cpu::snapshot();
    let watch = Stopwatch::start();
    let produced: Vec<Produced> = if producers <= 1 {
        vec![produce(&store, batches.iter().copied(), format)?]
    } else {
        // Producer `k` sends bodies k, k + producers, ...: together they still send
        // the epochs roughly in order, as concurrent connections would.
        std::thread::scope(|scope| {
            let handles: Vec<std::thread::ScopedJoinHandle<'_, Result<Produced>>> = (0..producers)
                .map(|k| {
                    let (store, batches) = (&store, &batches);
                    std::thread::Builder::new()
                        .name(format!("producer-{k}"))
                        .spawn_scoped(scope, move || {
                            let mut out = produce(
                                store,
                                batches.iter().copied().skip(k).step_by(producers),
                                format,
                            )?;
                            out.cpu = cpu::this_thread();
                            Ok(out)
                        })
                        .context("starting a producer thread")
                })
                .collect::<Result<_>>()?;
            handles
                .into_iter()
                .map(|h| h.join().expect("a producer thread panicked"))
                .collect::<Result<Vec<_>>>()
        })?
    };
    let receipts: Vec<&IngestReceipt> = produced.iter().flat_map(|p| &p.receipts).collect();
    let produce_secs = watch.secs();
    let drain = Stopwatch::start();
    store.seal_all().context("seal_all")?;
    for receipt in &receipts {
        store
            .wait_committed(receipt, COMMIT_TIMEOUT)
            .context("waiting for a commit")?;
    }
    // `wait_committed` can return while an older part of the same (epoch, dc) is
    // still being committed by the sealer (docs/BENCHMARKS.md), so the clock stops
    // only once the commit listener has seen every accepted event.
    let accepted: u64 = receipts.iter().map(|r| r.accepted as u64).sum();
    let mut call_ms: Vec<f64> = produced
        .iter()
        .flat_map(|p| p.calls.iter().map(|d| d.as_secs_f64() * 1e3))
        .collect();
    call_ms.sort_by(f64::total_cmp);
    let early = committed.events() < accepted;
    ensure!(
        committed.wait_for(accepted, COMMIT_TIMEOUT),
        "only {} of {accepted} events were committed after {COMMIT_TIMEOUT:?}",
        committed.events(),
    );
    let (secs, drain) = (watch.secs(), drain.secs());
    let mut cpu = cpu::snapshot().since(&cpu_before);
    cpu.extend(produced.iter().filter_map(|p| p.cpu.clone()));

    // Checks, not timed: everything accepted, committed exactly once.
    let stats = store.stats();
    ensure!(
        stats.events_accepted == stream.events() as u64 && stats.events_too_old == 0,
        "the store accepted {} events and refused {} as too old, of {}",
        stats.events_accepted,
        stats.events_too_old,
        stream.events()
    );
    let commits = store
        .commits(spec.first_epoch, spec.last_epoch(), None)
        .context("listing commits")?;
    let committed_events: u64 = commits.iter().map(|c| c.events).sum();
    if committed_events != stream.events() as u64 {
        bail!(
            "{committed_events} events in the commits, {} ingested",
            stream.events()
        );
    }
    let run = IngestRun {
        secs,
        produce_secs,
        in_calls: call_ms.iter().sum::<f64>() / 1e3,
        call_ms,
        drain,
        accepted_bytes: stats.bytes_accepted,
        stored_bytes: commits.iter().map(|c| c.bytes).sum(),
        chunks: commits.iter().map(|c| c.chunks).sum(),
        commits: commits.len(),
        supplementary: commits.iter().filter(|c| c.seq > 0).count(),
        retries: produced.iter().map(|p| p.retries).sum(),
        early,
        cpu,
    };
    store.close().context("closing the store")?;
    drop(dir);
    Ok(run)
}
