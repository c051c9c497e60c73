//! What a job's results may take: bytes per second (a token bucket with a
//! burst of [`BURST_SECS`] seconds) and bytes stored (within results
//! retention). A result past either is not stored: the run is recorded as
//! an error of kind `results_rate` or `results_quota` instead, which counts
//! toward pausing the job like any failure of its own.

use epochd_jobs::ErrorKind;

use super::buckets::TokenBuckets;

/// Seconds of the rate a job may emit at once.
pub const BURST_SECS: u64 = 10;

/// The limits, the same for every job of the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaConfig {
    /// Bytes of results a job may store per second, on average.
    pub bytes_per_sec: u64,
    /// Bytes of results a job may have stored at once.
    pub stored_bytes: u64,
}

impl Default for QuotaConfig {
    fn default() -> QuotaConfig {
        QuotaConfig {
            bytes_per_sec: 1 << 20,
            stored_bytes: 1 << 30,
        }
    }
}

impl QuotaConfig {
    /// The largest result a job can ever store: a manifest asking for more
    /// is refused at submission.
    pub fn largest_result(&self) -> u64 {
        self.bytes_per_sec
            .saturating_mul(BURST_SECS)
            .min(self.stored_bytes)
    }
}

/// Why a result was not stored: its error kind and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverQuota {
    /// `results_rate` or `results_quota`.
    pub kind: ErrorKind,
    /// What happened and what to do.
    pub message: String,
}

/// Each job's token bucket.
pub struct Quotas {
    config: QuotaConfig,
    rate: TokenBuckets,
}

impl Quotas {
    /// Quotas of `config`.
    pub fn new(config: QuotaConfig) -> Quotas {
        Quotas {
            config,
            rate: TokenBuckets::new(
                config.bytes_per_sec,
                config.bytes_per_sec.saturating_mul(BURST_SECS),
            ),
        }
    }

    /// Takes `bytes` of `job`'s allowance, or says why it cannot (and takes
    /// nothing). `stored` is what the job has stored now.
    pub fn admit(&self, job: &str, bytes: u64, stored: u64) -> Result<(), OverQuota> {
        let QuotaConfig {
            bytes_per_sec,
            stored_bytes,
        } = self.config;
        if stored.saturating_add(bytes) > stored_bytes {
            return Err(OverQuota {
                kind: ErrorKind::ResultsQuota,
                message: format!(
                    "not stored: the job already has {stored} bytes of results stored and this \
                     result of {bytes} bytes would pass the node's limit of {stored_bytes} bytes \
                     per job (--job-results-stored-bytes); older results free room as results \
                     retention deletes them, or emit smaller results"
                ),
            });
        }
        self.rate.take(job, bytes).map_err(|left| OverQuota {
            kind: ErrorKind::ResultsRate,
            message: format!(
                "not stored: this result of {bytes} bytes is more than the job may store now \
                 ({left:.0} bytes left of a rate of {bytes_per_sec} bytes/s with a {BURST_SECS} s \
                 burst, --job-results-bytes-per-sec); emit smaller results"
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quotas(bytes_per_sec: u64, stored_bytes: u64) -> Quotas {
        Quotas::new(QuotaConfig {
            bytes_per_sec,
            stored_bytes,
        })
    }

    #[test]
    fn a_burst_of_ten_seconds_passes_and_the_next_result_is_refused() {
        let q = quotas(1000, u64::MAX);
        for _ in 0..10 {
            q.admit("a", 990, 0).unwrap();
        }
        let refused = q.admit("a", 990, 0).unwrap_err();
        assert_eq!(refused.kind, ErrorKind::ResultsRate);
        assert!(
            refused.message.contains("1000 bytes/s"),
            "{}",
            refused.message
        );
        // Another job has its own bucket.
        q.admit("b", 990, 0).unwrap();
    }

    #[test]
    fn stored_bytes_past_the_quota_are_refused_whatever_the_rate() {
        let q = quotas(u64::MAX / 100, 10_000);
        q.admit("a", 1000, 9000).unwrap();
        let refused = q.admit("a", 1001, 9000).unwrap_err();
        assert_eq!(refused.kind, ErrorKind::ResultsQuota);
        assert!(
            refused.message.contains("10000 bytes"),
            "{}",
            refused.message
        );
    }

    #[test]
    fn the_largest_result_is_the_smaller_of_the_burst_and_the_quota() {
        let config = |bytes_per_sec, stored_bytes| QuotaConfig {
            bytes_per_sec,
            stored_bytes,
        };
        assert_eq!(config(1000, u64::MAX).largest_result(), 10_000);
        assert_eq!(config(1000, 5000).largest_result(), 5000);
    }
}
