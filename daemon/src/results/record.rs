//! What one job run left: its result or its error, its log lines, and
//! when it ran, as stored (MessagePack, in the daemon's database) and
//! published.

use epochd_jobs::ErrorKind;
use serde::{Deserialize, Serialize};

/// What a job run produced.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// The job's result bytes.
    Ok {
        /// What the job emitted.
        #[serde(with = "serde_bytes")]
        result: Vec<u8>,
    },
    /// The run failed; the reason is recorded instead of a result.
    Error {
        /// Why: one of the kinds every reader shares.
        kind: ErrorKind,
        /// What happened, for a person.
        message: String,
    },
}

/// One stored result.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ResultRecord {
    /// Job name.
    pub job: String,
    /// Unix second.
    pub epoch: u64,
    /// Data center.
    pub dc: String,
    /// The commit's seq (0 primary, 1.. supplementary).
    pub seq: u32,
    /// The result or the error.
    pub outcome: Outcome,
    /// Wall time of the run, microseconds.
    pub wall_us: u64,
    /// CPU time of the run's thread, microseconds.
    pub cpu_us: u64,
    /// When it was stored, unix milliseconds.
    pub stored_at_ms: u64,
    /// When the commit it ran on was made, unix milliseconds (0: unknown).
    #[serde(default)]
    pub committed_at_ms: u64,
    /// What the job logged during the run (the ABI's `log`), failed runs
    /// included: at most 64 lines and 16 KiB a run, and within the job's
    /// log rate (`pipeline::job_logs`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub logs: Vec<JobLog>,
    /// Lines the job logged past those bounds, dropped.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub logs_dropped: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// One line a job logged.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct JobLog {
    /// `error`, `warn`, `info` or `debug`.
    pub level: String,
    /// The text.
    pub message: String,
}

#[cfg(test)]
impl ResultRecord {
    /// A successful run of `job` on (`epoch`, `dc`, seq 0) that emitted
    /// `result`, for tests.
    pub(crate) fn ok_for_test(job: &str, epoch: u64, dc: &str, result: &[u8]) -> ResultRecord {
        ResultRecord {
            job: job.into(),
            epoch,
            dc: dc.into(),
            seq: 0,
            outcome: Outcome::Ok {
                result: result.to_vec(),
            },
            wall_us: 1,
            cpu_us: 1,
            stored_at_ms: 1,
            committed_at_ms: 1,
            logs: Vec::new(),
            logs_dropped: 0,
        }
    }
}
