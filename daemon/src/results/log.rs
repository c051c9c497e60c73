//! What the node's log says about job runs. Each result and each failed run
//! is a line at debug (`EPOCHD_LOG=epochd::results::log=debug` shows them);
//! at info and warn the log gets one summary a minute: runs, errors by
//! kind, and for each job that failed, how often and its last error. So the
//! log grows with time and the number of failing jobs, not with the number
//! of runs (docs/OPERATIONS.md, "Log and data-directory growth").

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use epochd_jobs::ErrorKind;
use tokio::sync::broadcast;

use crate::results::{Outcome, ResultRecord};

/// How often the summary is written.
pub const SUMMARY_EVERY: Duration = Duration::from_secs(60);

/// A minute of runs, as the summary tells it.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Results and errors recorded.
    pub runs: u64,
    /// Errors by kind.
    pub errors: BTreeMap<ErrorKind, u64>,
    /// Per job with errors: how many, and the last one (kind: message).
    pub failing: BTreeMap<String, (u64, String)>,
    /// The newest epoch with a record.
    pub newest_epoch: Option<u64>,
}

impl Tally {
    /// Counts one record, and logs it at debug.
    pub fn add(&mut self, r: &ResultRecord) {
        self.runs += 1;
        self.newest_epoch = self.newest_epoch.max(Some(r.epoch));
        match &r.outcome {
            Outcome::Ok { result } => {
                let text = String::from_utf8_lossy(result);
                let shown: String = text.chars().take(200).collect();
                tracing::debug!(job = %r.job, epoch = r.epoch, dc = %r.dc, seq = r.seq, cpu_us = r.cpu_us, result = %shown, "result");
            }
            Outcome::Error { kind, message } => {
                tracing::debug!(job = %r.job, epoch = r.epoch, dc = %r.dc, seq = r.seq, %kind, %message, "job error");
                *self.errors.entry(*kind).or_default() += 1;
                let last = format!("{kind}: {message}");
                let entry = self.failing.entry(r.job.clone()).or_default();
                entry.0 += 1;
                entry.1 = last;
            }
        }
    }

    /// Writes the summary (nothing for a minute without runs) and starts
    /// the next minute.
    pub fn flush(&mut self) {
        let tally = std::mem::take(self);
        if tally.runs == 0 {
            return;
        }
        let errors: u64 = tally.errors.values().sum();
        let by_kind: Vec<String> = tally
            .errors
            .iter()
            .map(|(kind, n)| format!("{kind}={n}"))
            .collect();
        tracing::info!(
            runs = tally.runs,
            errors,
            by_kind = %by_kind.join(","),
            newest_epoch = tally.newest_epoch.unwrap_or_default(),
            "job runs in the last {} s",
            SUMMARY_EVERY.as_secs()
        );
        for (job, (n, last)) in &tally.failing {
            let last: String = last.chars().take(300).collect();
            tracing::warn!(%job, errors = n, %last, "job failed runs in the last {} s", SUMMARY_EVERY.as_secs());
        }
    }
}

/// Follows `results` until the daemon is gone, summarizing every minute.
pub fn spawn(mut results: broadcast::Receiver<Arc<ResultRecord>>) {
    tokio::spawn(async move {
        let mut tally = Tally::default();
        let mut tick = tokio::time::interval(SUMMARY_EVERY);
        tick.tick().await;
        loop {
            tokio::select! {
                got = results.recv() => match got {
                    Ok(r) => tally.add(&r),
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::debug!(missed = n, "the run log fell behind; the summary undercounts");
                    }
                    Err(_) => {
                        tally.flush();
                        return;
                    }
                },
                _ = tick.tick() => tally.flush(),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(job: &str, epoch: u64, error: Option<ErrorKind>) -> ResultRecord {
        let outcome = match error {
            None => Outcome::Ok {
                result: b"{}".to_vec(),
            },
            Some(kind) => Outcome::Error {
                kind,
                message: format!("{kind} happened"),
            },
        };
        ResultRecord {
            job: job.into(),
            epoch,
            dc: "ams4".into(),
            seq: 0,
            outcome,
            wall_us: 1,
            cpu_us: 1,
            stored_at_ms: 0,
            committed_at_ms: 0,
            logs: Vec::new(),
            logs_dropped: 0,
        }
    }

    #[test]
    fn a_minute_of_runs_is_one_tally_with_each_failing_jobs_last_error() {
        let mut tally = Tally::default();
        for epoch in 0..100 {
            tally.add(&record("count", epoch, None));
            tally.add(&record("spin", epoch, Some(ErrorKind::Deadline)));
        }
        tally.add(&record("trap", 7, Some(ErrorKind::Trap)));
        assert_eq!(tally.runs, 201);
        assert_eq!(tally.newest_epoch, Some(99));
        assert_eq!(
            tally.errors,
            BTreeMap::from([(ErrorKind::Trap, 1), (ErrorKind::Deadline, 100)])
        );
        assert_eq!(
            tally.failing["spin"],
            (100, "deadline: deadline happened".into())
        );
        assert!(!tally.failing.contains_key("count"));
        tally.flush();
        assert_eq!(tally, Tally::default(), "the next minute starts empty");
    }
}
