//! One run of one job, on a job thread, inside the job's cgroup.

use epochd_decode::SharedEpoch;
use epochd_jobs::CancelToken;

use super::workers::thread_cpu_time;
use super::Idle;
use crate::registry::Job;
use crate::results::{Outcome, ResultRecord};

use crate::clock::now_ms;

/// Runs `job` over `epoch` on the calling (job) thread, inside the job's
/// cgroup when `caps`, and moves the thread back to the idle cgroup after.
/// Returns its record and whether a failure is the job's own fault.
pub(crate) fn run_one(
    job: &Job,
    epoch: &SharedEpoch,
    caps: bool,
    idle: &Idle,
    cancel: &CancelToken,
) -> (ResultRecord, bool) {
    let meta = epoch.meta();
    if let (true, Some(cgroup)) = (caps, &job.cgroup) {
        if let Err(e) = cgroup.enter_current_thread() {
            tracing::warn!(job = %job.manifest.name, error = %e, "could not enter the job's cgroup; running uncapped");
        }
    }
    let limits = job.manifest.limits();
    let cpu_before = thread_cpu_time();
    let report = job
        .module
        .run_cancellable(&limits, epoch, job.manifest.config.as_bytes(), cancel);
    let cpu = thread_cpu_time().saturating_sub(cpu_before);
    idle.enter();
    let (outcome, job_fault) = match report.outcome {
        Ok(result) => (Outcome::Ok { result }, false),
        Err(e) => (
            Outcome::Error {
                kind: e.kind(),
                message: e.to_string(),
            },
            e.is_job_fault(),
        ),
    };
    let mut record = ResultRecord {
        job: job.manifest.name.clone(),
        epoch: meta.epoch,
        dc: meta.dc.clone(),
        seq: meta.seq,
        outcome,
        wall_us: report.wall.as_micros() as u64,
        cpu_us: cpu.as_micros() as u64,
        stored_at_ms: now_ms(),
        committed_at_ms: 0,
        logs: super::job_logs::from_run(report.logs),
        logs_dropped: report.logs_dropped,
    };
    super::job_logs::quote_in_error(&mut record);
    (record, job_fault)
}
