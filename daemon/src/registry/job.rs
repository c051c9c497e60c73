//! A registered job: its manifest and compiled module, its cgroup, its
//! counters, its backfill and pause state, and its state in the cluster.

use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::{Mutex, RwLock};
use serde::Serialize;

use epochd_cgroups::JobCgroup;
use epochd_jobs::JobModule;

use super::JobManifest;

/// Counters of one job.
#[derive(Debug, Default)]
pub struct JobStats {
    /// Runs finished (results and errors).
    pub runs: AtomicU64,
    /// Runs that ended in an error.
    pub errors: AtomicU64,
    /// CPU time of its runs, microseconds.
    pub cpu_us: AtomicU64,
    /// The newest epoch it produced a result or error for.
    pub last_epoch: AtomicU64,
    /// Results not stored because of its quotas (`results_rate`,
    /// `results_quota`).
    pub results_refused: AtomicU64,
}

/// How a job's backfill over stored epochs is going.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackfillStatus {
    /// First epoch asked for.
    pub from: u64,
    /// Last epoch asked for.
    pub to: u64,
    /// Stored commits in that range.
    pub total: usize,
    /// Of which processed.
    pub done: usize,
    /// Where it stands (`state`, and `error` once failed).
    #[serde(flatten)]
    pub state: BackfillState,
}

/// Where a backfill stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum BackfillState {
    /// Going through the stored commits.
    Running,
    /// Every stored commit of the range was run.
    Done,
    /// It stopped before the end.
    Failed {
        /// Why, for a person.
        error: String,
    },
}

/// How a job's module was made: compiled from its wasm, or loaded from
/// the artifact kept at its last compile (compiled.rs).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ModuleOrigin {
    /// True when it was loaded from the kept artifact.
    pub from_artifact: bool,
    /// How long compiling or loading (and the checks) took, seconds.
    pub secs: f64,
}

/// A registered job.
pub struct Job {
    /// Its manifest.
    pub manifest: JobManifest,
    /// Its compiled module.
    pub module: JobModule,
    /// How the module was made when the job was last opened.
    pub origin: ModuleOrigin,
    /// Its cgroup, when CPU caps are available.
    pub cgroup: Option<JobCgroup>,
    /// Its counters.
    pub stats: JobStats,
    /// Its backfill, if one was asked for.
    pub backfill: Mutex<Option<BackfillStatus>>,
    pub(super) state: Mutex<State>,
    /// In cluster mode, the job as the cluster has it: it runs on a commit
    /// of epoch e only if its cluster state at e is active. `None`: a job
    /// of this node alone, which runs on every epoch.
    pub(super) cluster: RwLock<Option<epochd_cluster::ClusterJob>>,
}

#[derive(Default)]
pub(super) struct State {
    /// Why it is paused, if it is.
    pub(super) paused: Option<String>,
    pub(super) failures_in_a_row: u32,
    pub(super) last_error: Option<String>,
}

impl Job {
    /// The memory cap of one of its runs, in bytes: what a run holds of
    /// the run memory budget.
    pub fn memory_cap(&self) -> usize {
        self.manifest.limits().memory_bytes
    }

    /// Why the job is paused, if it is.
    pub fn paused(&self) -> Option<String> {
        self.state.lock().paused.clone()
    }

    /// The last error it recorded.
    pub fn last_error(&self) -> Option<String> {
        self.state.lock().last_error.clone()
    }

    /// Pauses (`Some(reason)`) or resumes (`None`) the job; resuming also
    /// forgets its failures in a row.
    pub(super) fn set_paused(&self, reason: Option<String>) {
        let mut state = self.state.lock();
        if reason.is_none() {
            state.failures_in_a_row = 0;
        }
        state.paused = reason;
    }

    /// Records a run's outcome; returns `Some(reason)` when this failure
    /// pauses the job (`pause_after` failures of its own in a row; errors
    /// that are not its fault are counted but neither pause nor reset).
    pub fn record(
        &self,
        epoch: u64,
        cpu_us: u64,
        error: Option<&str>,
        job_fault: bool,
        pause_after: u32,
    ) -> Option<String> {
        self.stats.runs.fetch_add(1, Ordering::Relaxed);
        self.stats.cpu_us.fetch_add(cpu_us, Ordering::Relaxed);
        if !crate::clock::beyond_clock(epoch) {
            self.stats.last_epoch.fetch_max(epoch, Ordering::Relaxed);
        }
        let mut state = self.state.lock();
        match error {
            None => {
                state.failures_in_a_row = 0;
                None
            }
            Some(e) => {
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
                state.last_error = Some(e.to_owned());
                if !job_fault {
                    return None;
                }
                state.failures_in_a_row += 1;
                if state.failures_in_a_row >= pause_after && state.paused.is_none() {
                    let reason = format!(
                        "paused after {} failed runs in a row; last: {e}",
                        state.failures_in_a_row
                    );
                    state.paused = Some(reason.clone());
                    Some(reason)
                } else {
                    None
                }
            }
        }
    }
}
