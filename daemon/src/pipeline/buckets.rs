//! Token buckets, one per job: an average rate with a burst. The results
//! quota and the job log rate are both held this way.

use std::collections::HashMap;
use std::time::Instant;

use parking_lot::Mutex;

/// One bucket per key (a job's name), each refilled at `rate` a second up
/// to `burst`; a new key starts full.
pub struct TokenBuckets {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

impl TokenBuckets {
    /// Buckets refilled at `rate_per_sec`, holding at most `burst`.
    pub fn new(rate_per_sec: u64, burst: u64) -> TokenBuckets {
        TokenBuckets {
            rate: rate_per_sec as f64,
            burst: burst as f64,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes `amount` from `key`'s bucket if it holds that much; otherwise
    /// takes nothing and returns what it holds.
    pub fn take(&self, key: &str, amount: u64) -> Result<(), f64> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock();
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let refill = now.duration_since(bucket.at).as_secs_f64() * self.rate;
        bucket.tokens = (bucket.tokens + refill).min(self.burst);
        bucket.at = now;
        if amount as f64 > bucket.tokens {
            return Err(bucket.tokens);
        }
        bucket.tokens -= amount as f64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_bucket_gives_its_burst_then_refuses_and_keys_are_apart() {
        let b = TokenBuckets::new(1, 100);
        b.take("a", 60).unwrap();
        b.take("a", 40).unwrap();
        let left = b.take("a", 10).unwrap_err();
        assert!(left < 10.0, "{left}");
        b.take("b", 100).unwrap();
    }
}
