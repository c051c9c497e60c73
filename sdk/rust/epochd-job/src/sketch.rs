//! A mergeable histogram of non-negative integers with a bounded relative
//! error: the building block of percentile jobs.
//!
//! [`LogHistogram`] counts values in log-linear buckets (as HdrHistogram
//! does): values below 64 each have their own bucket; above, every power of
//! two is split into 64 equal buckets. Bucketing uses integer arithmetic
//! only, so every language computes the same buckets for the same values
//! and results are comparable byte for byte.
//!
//! # Error
//! A percentile is reported as the middle of its bucket (clamped to the
//! exact minimum and maximum), which is within **1/128 (0.79 %)** of the
//! exact value of that rank, and exact below 128. Counts, minimum and
//! maximum are exact.
//!
//! # Merging
//! [`merge`](LogHistogram::merge) adds counts: it is associative and
//! commutative, the empty histogram is its identity, and merging the
//! histograms of any split of a set of values gives the histogram of the
//! whole set, exactly.
//!
//! # JSON
//! A histogram serializes (serde) as
//! `{"count":N,"min":m,"max":M,"sub_bits":6,"first":i,"counts":[c_i, c_i+1, ...]}`:
//! `counts[k]` is the count of bucket `first + k`, from the first to the
//! last non-empty bucket (zeros in between kept); `min`/`max` are `null` and
//! `counts` empty when `count` is 0. Deserializing checks it is consistent.
//!
//! ```
//! use epochd_job::sketch::LogHistogram;
//! let mut h = LogHistogram::new();
//! for ms in [12, 150, 151, 152, 900] {
//!     h.record(ms);
//! }
//! // The median is 151, whose bucket is 150..=151, reported as 150:
//! // within 1/128 of the exact value.
//! assert_eq!(h.percentile(50), Some(150));
//! assert_eq!(h.percentile(100), Some(900)); // min and max are exact
//! assert_eq!(h.count(), 5);
//! let json = serde_json::to_string(&h).unwrap();
//! let back: LogHistogram = serde_json::from_str(&json).unwrap();
//! assert_eq!(back, h);
//! ```

use serde::{Deserialize, Serialize};

/// Bits of a value kept below its leading bit: each power of two is split
/// into `2^SUB_BITS` = 64 buckets.
pub const SUB_BITS: u32 = 6;

const SUB: u64 = 1 << SUB_BITS;

/// The bound on the relative error of a reported percentile:
/// `2^-(SUB_BITS + 1)` = 1/128.
pub const RELATIVE_ERROR: f64 = 1.0 / (2u64 << SUB_BITS) as f64;

/// The number of buckets covering all of `u64`.
pub const BUCKETS: u32 = ((64 - SUB_BITS + 1) as u64 * SUB) as u32;

/// The bucket of a value.
///
/// Values below 64 are their own bucket. Above, with `e` the position of
/// the leading bit (`e >= 6`) and `m = v >> (e - 6)` (64..=127), the bucket
/// is `(e - 5) * 64 + (m - 64)`.
#[inline]
pub fn bucket_of(v: u64) -> u32 {
    if v < SUB {
        return v as u32;
    }
    let e = 63 - v.leading_zeros();
    let shift = e - SUB_BITS;
    let m = v >> shift;
    ((shift as u64 + 1) * SUB + (m - SUB)) as u32
}

/// The smallest and largest value of a bucket.
pub fn bucket_bounds(bucket: u32) -> (u64, u64) {
    let b = u64::from(bucket);
    if b < SUB {
        return (b, b);
    }
    let shift = b / SUB - 1;
    let m = b % SUB + SUB;
    let lo = m << shift;
    (lo, lo + ((1u64 << shift) - 1))
}

/// The value reported for a bucket: its middle, rounded down.
pub fn bucket_value(bucket: u32) -> u64 {
    let (lo, hi) = bucket_bounds(bucket);
    lo + (hi - lo) / 2
}

/// A histogram of `u64` values: see the [module docs](self).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "HistogramJson", into = "HistogramJson")]
pub struct LogHistogram {
    /// Count per bucket, indexed from 0; no trailing zeros.
    counts: Vec<u64>,
    count: u64,
    min: u64,
    max: u64,
}

impl LogHistogram {
    /// An empty histogram.
    pub fn new() -> LogHistogram {
        LogHistogram::default()
    }

    /// Counts one value.
    ///
    /// Inlined for the common case, a bucket the histogram has already
    /// reached: a job's loop over a column records without a call (in a
    /// compiled job, each call also checks the run's deadline, and values
    /// live across a call are kept in memory).
    #[inline]
    pub fn record(&mut self, v: u64) {
        let b = bucket_of(v) as usize;
        match self.counts.get_mut(b) {
            Some(n) if self.count > 0 => {
                *n += 1;
                self.min = self.min.min(v);
                self.max = self.max.max(v);
                self.count += 1;
            }
            _ => self.record_n(v, 1),
        }
    }

    /// Counts a value `n` times.
    pub fn record_n(&mut self, v: u64, n: u64) {
        if n == 0 {
            return;
        }
        let b = bucket_of(v) as usize;
        if b >= self.counts.len() {
            self.counts.resize(b + 1, 0);
        }
        self.counts[b] += n;
        if self.count == 0 {
            self.min = v;
            self.max = v;
        } else {
            self.min = self.min.min(v);
            self.max = self.max.max(v);
        }
        self.count += n;
    }

    /// Adds `other`'s counts to this one's.
    pub fn merge(&mut self, other: &LogHistogram) {
        if other.count == 0 {
            return;
        }
        if self.counts.len() < other.counts.len() {
            self.counts.resize(other.counts.len(), 0);
        }
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        if self.count == 0 {
            self.min = other.min;
            self.max = other.max;
        } else {
            self.min = self.min.min(other.min);
            self.max = self.max.max(other.max);
        }
        self.count += other.count;
    }

    /// The number of values counted.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Whether no value was counted.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The smallest value counted, exactly.
    pub fn min(&self) -> Option<u64> {
        (self.count > 0).then_some(self.min)
    }

    /// The largest value counted, exactly.
    pub fn max(&self) -> Option<u64> {
        (self.count > 0).then_some(self.max)
    }

    /// The count of each non-empty bucket: `(bucket, count)`, ascending.
    pub fn buckets(&self) -> impl Iterator<Item = (u32, u64)> + '_ {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(b, c)| (b as u32, *c))
    }

    /// The value of rank `rank` (1 = the smallest, `count` = the largest),
    /// within [`RELATIVE_ERROR`]; `None` outside `1..=count`.
    pub fn value_at_rank(&self, rank: u64) -> Option<u64> {
        if rank == 0 || rank > self.count {
            return None;
        }
        if rank == 1 {
            return Some(self.min);
        }
        if rank == self.count {
            return Some(self.max);
        }
        let mut seen = 0u64;
        for (b, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(bucket_value(b as u32).clamp(self.min, self.max));
            }
        }
        Some(self.max)
    }

    /// The `numerator / denominator` quantile by nearest rank: the value of
    /// rank `max(1, ceil(count * numerator / denominator))`. `None` when
    /// empty or when the fraction is not in `0..=1`.
    pub fn quantile(&self, numerator: u64, denominator: u64) -> Option<u64> {
        if denominator == 0 || numerator > denominator || self.count == 0 {
            return None;
        }
        let product = u128::from(self.count) * u128::from(numerator);
        let rank = product.div_ceil(u128::from(denominator)).max(1);
        self.value_at_rank(rank as u64)
    }

    /// The `p`-th percentile (0..=100) by nearest rank: see
    /// [`quantile`](Self::quantile).
    pub fn percentile(&self, p: u64) -> Option<u64> {
        self.quantile(p, 100)
    }
}

/// The JSON form of a [`LogHistogram`].
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct HistogramJson {
    count: u64,
    min: Option<u64>,
    max: Option<u64>,
    sub_bits: u32,
    first: u32,
    counts: Vec<u64>,
}

impl From<LogHistogram> for HistogramJson {
    fn from(h: LogHistogram) -> HistogramJson {
        let first = h.counts.iter().position(|c| *c > 0).unwrap_or(0);
        let last = h
            .counts
            .iter()
            .rposition(|c| *c > 0)
            .map_or(first, |l| l + 1);
        HistogramJson {
            count: h.count,
            min: h.min(),
            max: h.max(),
            sub_bits: SUB_BITS,
            first: first as u32,
            counts: h.counts.get(first..last).unwrap_or_default().to_vec(),
        }
    }
}

impl TryFrom<HistogramJson> for LogHistogram {
    type Error = String;

    fn try_from(j: HistogramJson) -> Result<LogHistogram, String> {
        if j.sub_bits != SUB_BITS {
            return Err(format!(
                "a histogram with sub_bits {} cannot be read by this version (sub_bits {SUB_BITS})",
                j.sub_bits
            ));
        }
        let end = u64::from(j.first) + j.counts.len() as u64;
        if end > u64::from(BUCKETS) {
            return Err(format!("histogram buckets beyond the last ({BUCKETS})"));
        }
        let sum = j
            .counts
            .iter()
            .try_fold(0u64, |s, c| s.checked_add(*c))
            .ok_or("histogram counts overflow")?;
        if sum != j.count {
            return Err(format!(
                "histogram count {} is not the sum of its counts ({sum})",
                j.count
            ));
        }
        let (min, max) = match (j.count, j.min, j.max) {
            (0, None, None) => (0, 0),
            (n, Some(min), Some(max)) if n > 0 && min <= max => (min, max),
            _ => return Err("histogram min/max do not fit its count".into()),
        };
        let mut counts = vec![0u64; j.first as usize];
        counts.extend(j.counts);
        while counts.last() == Some(&0) {
            counts.pop();
        }
        Ok(LogHistogram {
            counts,
            count: j.count,
            min,
            max,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_u64_in_order() {
        let mut last = None;
        for b in 0..BUCKETS {
            let (lo, hi) = bucket_bounds(b);
            assert!(lo <= hi);
            assert_eq!(bucket_of(lo), b, "lo of {b}");
            assert_eq!(bucket_of(hi), b, "hi of {b}");
            if let Some(prev) = last {
                assert_eq!(lo, prev + 1, "bucket {b} starts after {prev}");
            }
            last = Some(hi);
        }
        assert_eq!(last, Some(u64::MAX));
    }

    #[test]
    fn relative_error_bound_holds() {
        for b in 0..BUCKETS {
            let (lo, hi) = bucket_bounds(b);
            let mid = bucket_value(b);
            for v in [lo, hi] {
                let err = mid.abs_diff(v) as f64 / v.max(1) as f64;
                assert!(err <= RELATIVE_ERROR, "bucket {b}: {mid} for {v}: {err}");
            }
        }
    }
}
