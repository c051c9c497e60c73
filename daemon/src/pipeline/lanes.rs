//! Each job's own lane: the runs of that job waiting their turn, in commit
//! order, one at a time. A slow job fills its own lane and nobody else's:
//! other jobs' results of the same commit and of later commits go on.
//!
//! A run starts when its job's previous run is done and there is room for
//! it ([`RunRoom`]: a job thread and the job's memory cap within the run
//! memory budget). A watcher looks at every lane four times a second:
//! - a job whose oldest unfinished run is older than
//!   [`LaneConfig::pause_behind`] while it kept its runs busy for most of
//!   that time cannot keep up with the epochs: it is paused, with the
//!   reason, and its run in progress is stopped (a job waiting for room is
//!   late through no fault of its own and is left alone);
//! - a job paused by anyone has its run in progress stopped at once, and
//!   its waiting runs recorded as `skipped`;
//! - a deleted job's lane is closed: its runs end without a record.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use epochd_decode::SharedEpoch;
use epochd_jobs::CancelToken;
use parking_lot::Mutex;
use tokio::sync::{oneshot, Notify};

use super::budget::RunRoom;
use super::commit::CommitRuns;
use super::completer::Finished;
use super::run::run_one;
use super::workers::Workers;
use super::Idle;
use crate::registry::{Job, Registry};
use crate::results::ResultRecord;

/// How often the watcher looks at the lanes.
const WATCH_EVERY: Duration = Duration::from_millis(250);

/// The share of its recent time a job must have spent running to be
/// paused for falling behind: below it, it was waiting for room.
const BUSY_TO_PAUSE: f64 = 0.8;

/// How the lanes behave.
#[derive(Debug, Clone, Copy)]
pub struct LaneConfig {
    /// A job whose oldest unfinished run waited this long, while its runs
    /// kept it busy, is paused. Default 10 s.
    pub pause_behind: Duration,
}

impl Default for LaneConfig {
    fn default() -> LaneConfig {
        LaneConfig {
            pause_behind: Duration::from_secs(10),
        }
    }
}

/// One run of one job, waiting in the job's lane.
pub(crate) struct Run {
    pub(crate) commit: Arc<CommitRuns>,
    pub(crate) epoch: SharedEpoch,
    pub(crate) queued_at: Instant,
}

/// What a lane is doing, for `job ls` and /metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LaneStats {
    /// Runs waiting, the one in progress included.
    pub queued: usize,
    /// How long its oldest unfinished run has waited, seconds.
    pub lag_secs: f64,
}

/// The run in progress (or waiting for room) of a lane.
struct Current {
    queued_at: Instant,
    running: bool,
    cancel: CancelToken,
}

/// One job's lane.
struct Lane {
    job: Arc<Job>,
    queue: Mutex<VecDeque<Run>>,
    wake: Notify,
    current: Mutex<Option<Current>>,
    /// No run is taken any more: the job was deleted or the daemon is
    /// stopping.
    closed: AtomicBool,
    /// The daemon is stopping.
    stopping: AtomicBool,
    /// Whether the job was running at each of the watcher's recent looks.
    busy: Mutex<VecDeque<bool>>,
}

/// What every lane shares.
struct Shared {
    workers: Workers,
    room: RunRoom,
    idle: Idle,
    caps: bool,
    registry: Arc<Registry>,
    finished: crossbeam_channel::Sender<Finished>,
    config: LaneConfig,
}

/// The lanes of every job.
pub(crate) struct Lanes {
    shared: Arc<Shared>,
    lanes: Arc<Mutex<HashMap<String, Arc<Lane>>>>,
    watching: std::sync::Once,
}

impl Lanes {
    pub(crate) fn new(
        workers: Workers,
        room: RunRoom,
        idle: Idle,
        registry: Arc<Registry>,
        finished: crossbeam_channel::Sender<Finished>,
        config: LaneConfig,
    ) -> Lanes {
        let caps = registry.caps().is_some();
        Lanes {
            shared: Arc::new(Shared {
                workers,
                room,
                idle,
                caps,
                registry,
                finished,
                config,
            }),
            lanes: Arc::new(Mutex::new(HashMap::new())),
            watching: std::sync::Once::new(),
        }
    }

    /// Queues a run of `job`. Call from within the tokio runtime: a new
    /// lane's driver and the watcher are tasks.
    pub(crate) fn push(&self, job: &Arc<Job>, run: Run) {
        self.watching.call_once(|| {
            tokio::spawn(watch(Arc::downgrade(&self.lanes), self.shared.clone()));
        });
        let lane = {
            let mut lanes = self.lanes.lock();
            match lanes.get(&job.manifest.name) {
                Some(lane) if Arc::ptr_eq(&lane.job, job) => lane.clone(),
                old => {
                    // A job deleted and submitted again under the same
                    // name: the old lane closes, the new one starts.
                    if let Some(old) = old {
                        old.close();
                    }
                    let lane = Arc::new(Lane::new(job.clone()));
                    lanes.insert(job.manifest.name.clone(), lane.clone());
                    tokio::spawn(lane.clone().drive(self.shared.clone()));
                    lane
                }
            }
        };
        lane.queue.lock().push_back(run);
        lane.wake.notify_one();
    }

    /// Finishes a run that never ran (an error recorded for it instead):
    /// through the completer like any record.
    pub(crate) fn finish(
        &self,
        job: &Arc<Job>,
        commit: Arc<CommitRuns>,
        record: Option<ResultRecord>,
        job_fault: bool,
    ) {
        self.shared.finish(job, commit, record, job_fault);
    }

    /// A job's lane figures (zero when it has none yet).
    pub fn stats(&self, job: &str) -> LaneStats {
        let lane = self.lanes.lock().get(job).cloned();
        lane.map(|l| l.stats(Instant::now())).unwrap_or_default()
    }

    /// The room runs hold.
    pub fn room(&self) -> &RunRoom {
        &self.shared.room
    }
}

impl Drop for Lanes {
    /// Stops every lane: each drops its waiting runs, so their commits are
    /// never acknowledged (the next daemon gets them again), and its driver
    /// ends, letting go of the job threads and the completer.
    fn drop(&mut self) {
        for lane in self.lanes.lock().values() {
            lane.stopping.store(true, Ordering::Relaxed);
            lane.close();
        }
    }
}

/// Why a run must not start.
enum Refusal {
    /// Its job was deleted: the run ends without a record.
    Deleted,
    /// Its job is paused: a `skipped` record.
    Paused(ResultRecord),
    /// The daemon is stopping: the run is dropped and its commit never
    /// acknowledged.
    Stopping,
}

impl Lane {
    fn new(job: Arc<Job>) -> Lane {
        Lane {
            job,
            queue: Mutex::new(VecDeque::new()),
            wake: Notify::new(),
            current: Mutex::new(None),
            closed: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            busy: Mutex::new(VecDeque::new()),
        }
    }

    fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        self.stop_current();
        self.wake.notify_one();
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    fn stop_current(&self) {
        if let Some(current) = &*self.current.lock() {
            current.cancel.cancel();
        }
    }

    fn stats(&self, now: Instant) -> LaneStats {
        let current = self.current.lock().as_ref().map(|c| c.queued_at);
        let queue = self.queue.lock();
        let oldest = current.or_else(|| queue.front().map(|r| r.queued_at));
        LaneStats {
            queued: queue.len() + usize::from(current.is_some()),
            lag_secs: oldest.map_or(0.0, |t| now.duration_since(t).as_secs_f64()),
        }
    }

    /// The next run; `None` once the lane is closed and drained.
    async fn next(&self) -> Option<Run> {
        loop {
            let notified = self.wake.notified();
            if let Some(run) = self.queue.lock().pop_front() {
                return Some(run);
            }
            if self.is_closed() {
                return None;
            }
            notified.await;
        }
    }

    /// Why `run` must not start, if it must not.
    fn refusal(&self, run: &Run) -> Option<Refusal> {
        if self.stopping.load(Ordering::Relaxed) {
            return Some(Refusal::Stopping);
        }
        if self.is_closed() {
            return Some(Refusal::Deleted);
        }
        let reason = self.job.paused()?;
        Some(Refusal::Paused(super::fanout::error_record(
            &self.job,
            &run.commit.of,
            epochd_jobs::ErrorKind::Skipped,
            &format!("not run: the job is paused ({reason})"),
        )))
    }

    /// Ends a run that did not start.
    fn refuse(&self, shared: &Shared, run: Run, refusal: Refusal) {
        match refusal {
            Refusal::Deleted => run.commit.finish(None),
            Refusal::Paused(record) => shared.finish(&self.job, run.commit, Some(record), false),
            Refusal::Stopping => drop(run),
        }
    }

    /// Runs the lane's runs in order until it is closed and drained.
    async fn drive(self: Arc<Lane>, shared: Arc<Shared>) {
        while let Some(run) = self.next().await {
            if let Some(refusal) = self.refusal(&run) {
                self.refuse(&shared, run, refusal);
                continue;
            }
            let cancel = CancelToken::new();
            *self.current.lock() = Some(Current {
                queued_at: run.queued_at,
                running: false,
                cancel: cancel.clone(),
            });
            let permit = shared.room.reserve(self.job.memory_cap()).await;
            // Paused or deleted while it waited for room.
            if let Some(refusal) = self.refusal(&run) {
                *self.current.lock() = None;
                self.refuse(&shared, run, refusal);
                continue;
            }
            if let Some(current) = self.current.lock().as_mut() {
                current.running = true;
            }
            let (tx, rx) = oneshot::channel();
            let job = self.job.clone();
            let epoch = run.epoch.clone();
            let (caps, idle) = (shared.caps, shared.idle.clone());
            shared.workers.spawn(move || {
                let _ = tx.send(run_one(&job, &epoch, caps, &idle, &cancel));
            });
            let (record, job_fault) = rx.await.expect("a job thread answers every task");
            drop(permit);
            *self.current.lock() = None;
            if self.stopping.load(Ordering::Relaxed) {
                // Stopped mid-run: its record would say `cancelled`; the
                // next daemon runs it again instead.
                continue;
            }
            let Run { commit, epoch, .. } = run;
            // The epoch's memory goes as soon as its last run is done.
            drop(epoch);
            shared.finish(&self.job, commit, Some(record), job_fault);
        }
    }

    /// Notes whether the job is running now; true when it has been running
    /// for most of the recent `window` looks.
    fn sample_busy(&self, window: usize) -> bool {
        let running = self.current.lock().as_ref().is_some_and(|c| c.running);
        let mut busy = self.busy.lock();
        busy.push_back(running);
        while busy.len() > window {
            busy.pop_front();
        }
        let share = busy.iter().filter(|b| **b).count() as f64 / window.max(1) as f64;
        share >= BUSY_TO_PAUSE
    }
}

impl Shared {
    /// Hands a run's record to the completer (which stores it and then
    /// finishes the run), or finishes a run that has none.
    fn finish(
        &self,
        job: &Arc<Job>,
        commit: Arc<CommitRuns>,
        record: Option<ResultRecord>,
        job_fault: bool,
    ) {
        match record {
            None => commit.finish(None),
            Some(record) => {
                let finished = Finished {
                    commit,
                    job: job.clone(),
                    record,
                    job_fault,
                };
                if let Err(unsent) = self.finished.send(finished) {
                    // The completer is gone: the daemon is stopping, and
                    // the commit will be delivered again after a restart.
                    drop(unsent);
                }
            }
        }
    }
}

/// Looks at every lane every [`WATCH_EVERY`] until the lanes are gone.
async fn watch(lanes: Weak<Mutex<HashMap<String, Arc<Lane>>>>, shared: Arc<Shared>) {
    let window = (shared.config.pause_behind.as_millis() / WATCH_EVERY.as_millis()).max(1) as usize;
    let mut tick = tokio::time::interval(WATCH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        let Some(lanes) = lanes.upgrade() else { return };
        let now = Instant::now();
        let all: Vec<Arc<Lane>> = lanes.lock().values().cloned().collect();
        for lane in all {
            let name = &lane.job.manifest.name;
            let registered = shared
                .registry
                .get(name)
                .is_some_and(|job| Arc::ptr_eq(&job, &lane.job));
            if !registered {
                lane.close();
                let mut lanes = lanes.lock();
                if lanes.get(name).is_some_and(|l| Arc::ptr_eq(l, &lane)) {
                    lanes.remove(name);
                }
                continue;
            }
            if lane.job.paused().is_some() {
                lane.stop_current();
                lane.wake.notify_one();
                continue;
            }
            let busy = lane.sample_busy(window);
            let stats = lane.stats(now);
            if busy && stats.lag_secs >= shared.config.pause_behind.as_secs_f64() {
                let reason = format!(
                    "paused for falling behind: its oldest run had waited {:.1} s with {} runs \
                     waiting, its own runs keeping it busy (deadline {} ms, cpu_share {}); make \
                     its runs faster, give it a larger cpu_share or a smaller deadline, then \
                     resume it",
                    stats.lag_secs,
                    stats.queued,
                    lane.job.manifest.deadline_ms,
                    lane.job.manifest.cpu_share
                );
                tracing::warn!(job = %name, lag_secs = stats.lag_secs, queued = stats.queued, "job paused: it cannot keep up");
                if let Err(e) = shared.registry.pause(name, &reason) {
                    tracing::error!(job = %name, error = %e, "could not persist the pause of a job that fell behind");
                }
                lane.stop_current();
                lane.wake.notify_one();
            }
        }
    }
}
