//! What a job logs (the ABI's `log`) reaches its author: each run's lines
//! are kept with the run's record (result or error), so they are read with
//! its results (`GET /v1/jobs/{name}/logs`, `epochd job logs NAME`, the web
//! page's job view), and a failed run's error quotes its last lines.
//!
//! Bounded twice: the runtime keeps at most 64 lines and 16 KiB of a run
//! (`epochd_jobs::MAX_LOG_LINES`, `MAX_LOG_BYTES`), and a job may keep
//! [`LOG_BYTES_PER_SEC`] on average with a burst of [`LOG_BURST_BYTES`]:
//! a job logging on every run of every commit cannot fill the results
//! database. Lines past either bound are dropped and counted
//! (`logs_dropped` in the record).

use epochd_jobs::LogLine;

use super::buckets::TokenBuckets;
use crate::results::{JobLog, Outcome, ResultRecord};

/// Bytes of log lines a job may keep per second, on average.
pub const LOG_BYTES_PER_SEC: u64 = 2048;

/// Bytes of log lines a job may keep at once, past its average.
pub const LOG_BURST_BYTES: u64 = 64 << 10;

/// Lines of a failed run's log quoted in its error message.
const QUOTED_LINES: usize = 3;

/// Characters of each quoted line.
const QUOTED_CHARS: usize = 200;

/// A run's lines as a record keeps them.
pub(crate) fn from_run(lines: Vec<LogLine>) -> Vec<JobLog> {
    lines
        .into_iter()
        .map(|l| JobLog {
            level: l.level.to_string(),
            message: l.message,
        })
        .collect()
}

/// Adds the last lines a failed run logged to its error message: what the
/// job said just before it failed is most often why.
pub(crate) fn quote_in_error(record: &mut ResultRecord) {
    let Outcome::Error { message, .. } = &mut record.outcome else {
        return;
    };
    if record.logs.is_empty() {
        return;
    }
    let from = record.logs.len().saturating_sub(QUOTED_LINES);
    let quoted: Vec<String> = record.logs[from..]
        .iter()
        .map(|l| {
            let text: String = l.message.chars().take(QUOTED_CHARS).collect();
            format!("[{}] {text}", l.level)
        })
        .collect();
    message.push_str(&format!(
        " (its log, last {} of {} lines: {})",
        quoted.len(),
        record.logs.len(),
        quoted.join(" | ")
    ));
}

/// Each job's log rate.
pub(crate) struct LogRate {
    buckets: TokenBuckets,
}

impl LogRate {
    pub(crate) fn new() -> LogRate {
        LogRate {
            buckets: TokenBuckets::new(LOG_BYTES_PER_SEC, LOG_BURST_BYTES),
        }
    }

    /// Keeps the record's lines within the job's rate, in order: the first
    /// line that does not fit and every later one are dropped and counted.
    pub(crate) fn admit(&self, record: &mut ResultRecord) {
        let fit = record.logs.iter().position(|l| {
            self.buckets
                .take(&record.job, l.message.len() as u64)
                .is_err()
        });
        if let Some(first_dropped) = fit {
            let dropped = record.logs.len() - first_dropped;
            record.logs.truncate(first_dropped);
            record.logs_dropped = record.logs_dropped.saturating_add(dropped as u32);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(lines: usize, error: bool) -> ResultRecord {
        ResultRecord {
            job: "chatty".into(),
            epoch: 1,
            dc: "ams4".into(),
            seq: 0,
            outcome: if error {
                Outcome::Error {
                    kind: epochd_jobs::ErrorKind::Trap,
                    message: "wasm trap: unreachable".into(),
                }
            } else {
                Outcome::Ok {
                    result: b"{}".to_vec(),
                }
            },
            wall_us: 0,
            cpu_us: 0,
            stored_at_ms: 0,
            committed_at_ms: 0,
            logs: (0..lines)
                .map(|i| JobLog {
                    level: "info".into(),
                    message: format!("line {i} {}", "x".repeat(1000)),
                })
                .collect(),
            logs_dropped: 0,
        }
    }

    #[test]
    fn a_failed_runs_error_quotes_its_last_lines() {
        let mut r = record(5, true);
        quote_in_error(&mut r);
        let Outcome::Error { message, .. } = &r.outcome else {
            unreachable!()
        };
        assert!(
            message
                .starts_with("wasm trap: unreachable (its log, last 3 of 5 lines: [info] line 2 "),
            "{message}"
        );
        assert!(message.contains("| [info] line 4 ") && !message.contains("line 1 "));
        assert!(
            message.len() < 800,
            "quoted lines are cut: {}",
            message.len()
        );
        // A successful run's record is left alone.
        let mut ok = record(5, false);
        quote_in_error(&mut ok);
        assert_eq!(ok, record(5, false));
    }

    #[test]
    fn past_the_burst_a_jobs_lines_are_dropped_and_counted() {
        let rate = LogRate::new();
        let mut kept = 0;
        let mut dropped = 0;
        // 100 runs of 10 lines of ~1 KB at once: far past the 64 KiB burst.
        for _ in 0..100 {
            let mut r = record(10, false);
            rate.admit(&mut r);
            kept += r.logs.len();
            dropped += r.logs_dropped as usize;
        }
        assert_eq!(kept + dropped, 1000);
        assert!((60..=70).contains(&kept), "kept {kept} lines of ~1 KB");
    }
}
