//! The companion daemon's pipeline: commit notice -> read -> decode once ->
//! fan out to the matching jobs -> results -> acknowledge.

mod backfill;
mod backlog;
mod buckets;
mod budget;
mod commit;
mod completer;
mod decoders;
mod error;
mod fanout;
mod job_logs;
mod lanes;
mod quota;
mod run;
mod source;
mod turnstile;
mod workers;

use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use epochd_cgroups::{CpuCapConfig, CpuCaps};
use epochd_hooks::Receiver;
use epochd_jobs::{Runtime, RuntimeConfig};

pub use budget::{Budget, RunRoom};
pub use error::{BackfillError, OpenError, ProcessError};
pub use fanout::Processed;
pub use lanes::{LaneConfig, LaneStats};
pub use quota::{QuotaConfig, BURST_SECS};
pub use source::Source;
pub use workers::{thread_cpu_time, Workers};

use crate::registry::{CompiledDir, NodeLimits, Registry};
use crate::results::{Results, Streams, StreamsConfig, Sweeper};

/// How the daemon runs jobs.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// Where the daemon keeps its jobs and results (a sled database).
    pub data_dir: PathBuf,
    /// Runs at once, each on its own job thread. Default: 64. A run waits
    /// for a thread and for room for its job's memory cap; its CPU is the
    /// job's cgroup's (without CPU caps, at most the number of cores run).
    pub job_threads: usize,
    /// Bytes of decoded epochs held at once. Default: 1 GiB.
    pub budget_bytes: usize,
    /// Bytes of job memory caps held by runs at once: the sum of the
    /// running jobs' `memory_mib` stays within it. Default: 2 GiB.
    pub run_memory_bytes: usize,
    /// When a job that falls behind is paused.
    pub lanes: LaneConfig,
    /// What each job's results may take.
    pub quotas: QuotaConfig,
    /// Commits processed at once. Default: 4.
    pub commits_in_flight: usize,
    /// A job is paused after this many failed runs in a row. Default: 5.
    pub pause_after: u32,
    /// CPU caps; `None` runs with deadlines only.
    pub cgroups: Option<CpuCapConfig>,
    /// Results of epochs older than this are deleted, in seconds. Default: 86400.
    pub results_retention_secs: u64,
    /// How often results retention runs, in seconds. Default: 60.
    pub results_sweep_secs: u64,
    /// How results are streamed to subscribers.
    pub streams: StreamsConfig,
    /// Decode each commit once per matching job, each run on its own copy,
    /// instead of once for all of them. Only the cluster benchmark sets it,
    /// to measure the MapReduce way (every job decodes the data itself)
    /// beside epochd's on the same node. Default: false.
    pub decode_per_job: bool,
}

impl DaemonConfig {
    /// Defaults, keeping data in `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> DaemonConfig {
        DaemonConfig {
            data_dir: data_dir.into(),
            job_threads: 64,
            budget_bytes: 1 << 30,
            run_memory_bytes: 2 << 30,
            lanes: LaneConfig::default(),
            quotas: QuotaConfig::default(),
            commits_in_flight: 4,
            pause_after: 5,
            cgroups: Some(CpuCapConfig::default()),
            results_retention_secs: 86_400,
            results_sweep_secs: 60,
            streams: StreamsConfig::default(),
            decode_per_job: false,
        }
    }
}

/// Counters of the pipeline.
#[derive(Debug, Default)]
pub struct PipelineStats {
    /// Commits decoded.
    pub decoded: AtomicU64,
    /// Time spent decoding, microseconds.
    pub decode_us: AtomicU64,
    /// Commits received from the hook and not yet acknowledged: waiting
    /// for a worker, being processed, or waiting to be tried again.
    pub waiting: AtomicU64,
    /// Of which being read, decoded or run now.
    pub in_flight: AtomicU64,
    /// Of which waiting to be tried again after a failure that may pass.
    pub retrying: AtomicU64,
    /// Commits recorded as corrupt (a chunk's stored bytes are wrong).
    pub corrupt: AtomicU64,
}

/// Moves a job thread back to the idle cgroup after a run.
#[derive(Clone)]
pub struct Idle(Option<Arc<Registry>>);

impl Idle {
    fn enter(&self) {
        if let Some(caps) = self.0.as_ref().and_then(|r| r.caps()) {
            if let Err(e) = caps.enter_idle() {
                tracing::warn!(error = %e, "could not move a job thread back to the idle cgroup");
            }
        }
    }
}

/// The companion daemon.
pub struct Daemon {
    config: DaemonConfig,
    source: Source,
    registry: Arc<Registry>,
    results: Results,
    streams: Streams,
    /// The newest epoch of a commit received from the hook (processed or
    /// not: a job's lag is measured against it).
    newest_epoch: AtomicU64,
    lanes: lanes::Lanes,
    budget: Budget,
    decoders: Arc<decoders::Decoders>,
    stats: PipelineStats,
    /// Held for its `Drop`, which stops the retention thread.
    _sweeper: Sweeper,
}

impl Daemon {
    /// Opens the daemon's database, sets up CPU caps (or says loudly why
    /// not), compiles the stored jobs and starts the job threads and the
    /// result streams.
    pub fn open(config: DaemonConfig, source: Source) -> Result<Daemon, OpenError> {
        let db = sled::Config::new()
            .path(config.data_dir.join("daemon-db"))
            .open()
            .map_err(|source| OpenError::Database {
                path: config.data_dir.display().to_string(),
                source,
            })?;
        let caps = match &config.cgroups {
            None => {
                tracing::warn!("CPU caps are off: jobs run with their wall-clock deadlines only");
                None
            }
            Some(cg) => match CpuCaps::open(cg.clone()) {
                Ok(caps) => Some(caps),
                Err(e) => {
                    tracing::warn!(error = %e, "CPU CAPS UNAVAILABLE: jobs run with their wall-clock deadlines only, and a busy job can take whole cores");
                    None
                }
            },
        };
        let runtime = Runtime::new(RuntimeConfig::default())?;
        let limits = NodeLimits {
            run_memory_bytes: config.run_memory_bytes,
            max_result_bytes: config.quotas.largest_result(),
        };
        let compiled = CompiledDir::open(config.data_dir.join("compiled")).map_err(|source| {
            OpenError::CompiledDir {
                path: config.data_dir.join("compiled").display().to_string(),
                source,
            }
        })?;
        let registry = Arc::new(Registry::open(&db, compiled, runtime, caps, limits)?);
        let idle = Idle(registry.caps().is_some().then(|| registry.clone()));
        let threads = match registry.caps() {
            Some(_) => config.job_threads,
            None => {
                let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
                tracing::warn!(cores, "without CPU caps, at most one run per core at once");
                config.job_threads.min(cores)
            }
        };
        let on_start = idle.clone();
        let workers = Workers::start(threads, move || on_start.enter());
        let results = Results::open(&db, 4096)?;
        let sweeper = Sweeper::start(
            results.clone(),
            config.results_retention_secs,
            config.results_sweep_secs,
        );
        let streams = Streams::start(config.streams.clone(), results.clone(), registry.clone());
        let finished = completer::Completer {
            results: results.clone(),
            registry: registry.clone(),
            streams: streams.clone(),
            quotas: Arc::new(quota::Quotas::new(config.quotas)),
            log_rate: job_logs::LogRate::new(),
            pause_after: config.pause_after,
        }
        .start();
        let lanes = lanes::Lanes::new(
            workers,
            RunRoom::new(config.run_memory_bytes, threads),
            idle,
            registry.clone(),
            finished,
            config.lanes,
        );
        Ok(Daemon {
            _sweeper: sweeper,
            streams,
            newest_epoch: AtomicU64::new(0),
            results,
            budget: Budget::new(config.budget_bytes),
            decoders: Arc::new(decoders::Decoders::new()),
            config,
            source,
            registry,
            lanes,
            stats: PipelineStats::default(),
        })
    }

    /// Its jobs.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// Their results.
    pub fn results(&self) -> &Results {
        &self.results
    }

    /// Their results, per epoch, for subscribers.
    pub fn streams(&self) -> &Streams {
        &self.streams
    }

    /// The newest epoch of a commit received from the hook, processed or
    /// not: a job's lag is measured against it.
    pub fn newest_epoch(&self) -> u64 {
        self.newest_epoch.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Its counters.
    pub fn stats(&self) -> &PipelineStats {
        &self.stats
    }

    /// The oldest epoch whose results are kept (older ones are swept).
    pub fn results_horizon(&self) -> u64 {
        let now = crate::clock::now_secs();
        now.saturating_sub(self.config.results_retention_secs)
    }

    /// CPU time spent decoding commits so far.
    pub fn decode_cpu_time(&self) -> std::time::Duration {
        self.decoders.cpu_time()
    }

    /// Bytes of the decode budget held by epochs in flight.
    pub fn budget_held(&self) -> usize {
        self.budget.total() - self.budget.available()
    }

    /// The room of runs: the run memory budget and the job threads.
    pub fn run_room(&self) -> &RunRoom {
        self.lanes.room()
    }

    /// A job's lane: its runs waiting and how late the oldest is.
    pub fn lane(&self, job: &str) -> LaneStats {
        self.lanes.stats(job)
    }

    /// The daemon's settings.
    pub fn config(&self) -> &DaemonConfig {
        &self.config
    }

    /// Takes deliveries until the receiver ends, processing up to
    /// `commits_in_flight` at once, in commit order.
    ///
    /// Every delivery is taken as it comes (at most the hook's window, the
    /// rest waits in the store's outbox), so that what waits is counted
    /// (`stats.waiting`, each job's lag); the workers take them in order.
    /// Ending (or dropping this future) stops the workers; what was not
    /// acknowledged is delivered again.
    pub async fn run(self: Arc<Self>, mut receiver: Receiver) -> Option<String> {
        let backlog = Arc::new(backlog::Backlog::new());
        let mut workers = tokio::task::JoinSet::new();
        for _ in 0..self.config.commits_in_flight.max(1) {
            workers.spawn(self.clone().work(backlog.clone()));
        }
        while let Some(delivery) = receiver.recv().await {
            self.receive(delivery, &backlog);
        }
        // `workers` is dropped on return, which aborts them: with the
        // receiver gone, their acks could not reach the store anyway.
        receiver.error().map(ToString::to_string)
    }
}
