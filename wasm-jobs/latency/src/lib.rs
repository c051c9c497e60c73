//! Reference job `latency`: p50, p95 and p99 of `tuning.wallclock` (ms) per
//! subtype, from a log-bucketed histogram that merges exactly.
//!
//! Config (optional): the field path to measure instead, as UTF-8 text,
//! e.g. `latency_ms`. Values: the field's `INT` values `>= 0`, and its
//! `FLOAT` values `>= 0` truncated to integers; other values are ignored.
//! Events without a string `subtype` are not counted.
//!
//! Result (compact JSON, see wasm-jobs/README.md):
//! `{"field":"tuning.wallclock","subtypes":{"app":{"p50":148,"p95":540,"p99":930,"histogram":{...}}}}`.
//! Percentiles are within 1/128 of the exact nearest-rank value
//! ([`epochd_job::sketch`]). Merge adds the histograms and recomputes the
//! percentiles.

use std::collections::BTreeMap;

use epochd_job::sketch::LogHistogram;
use epochd_job::{Epoch, JobError, Json, RowIds};
use serde::{Deserialize, Serialize};

/// The field measured when the config is empty.
pub const DEFAULT_FIELD: &str = "tuning.wallclock";

/// The result of one run, or of a merge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Latency {
    /// The field measured.
    pub field: String,
    /// Per subtype with at least one value.
    pub subtypes: BTreeMap<String, Summary>,
}

/// The distribution of one subtype's values.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    /// Median (nearest rank).
    pub p50: u64,
    /// 95th percentile (nearest rank).
    pub p95: u64,
    /// 99th percentile (nearest rank).
    pub p99: u64,
    /// Everything needed to merge: count, exact min and max, bucket counts.
    pub histogram: LogHistogram,
}

impl Summary {
    fn of(histogram: LogHistogram) -> Option<Summary> {
        Some(Summary {
            p50: histogram.percentile(50)?,
            p95: histogram.percentile(95)?,
            p99: histogram.percentile(99)?,
            histogram,
        })
    }
}

impl Latency {
    fn of(field: String, histograms: BTreeMap<String, LogHistogram>) -> Latency {
        Latency {
            field,
            subtypes: histograms
                .into_iter()
                .filter_map(|(s, h)| Some((s, Summary::of(h)?)))
                .collect(),
        }
    }

    /// The combination of two results of the same field.
    pub fn merge(self, other: Latency) -> Result<Latency, JobError> {
        if self.field != other.field {
            epochd_job::bail!(
                "cannot merge latencies of {:?} and {:?}",
                self.field,
                other.field
            );
        }
        let mut all: BTreeMap<String, LogHistogram> = BTreeMap::new();
        for (subtype, s) in self.subtypes.into_iter().chain(other.subtypes) {
            all.entry(subtype).or_default().merge(&s.histogram);
        }
        Ok(Latency::of(self.field, all))
    }
}

/// The field to measure: the config text, or [`DEFAULT_FIELD`].
pub fn field() -> Result<String, JobError> {
    let config = epochd_job::config_str()?;
    let config = config.trim();
    Ok(if config.is_empty() {
        DEFAULT_FIELD.to_owned()
    } else {
        config.to_owned()
    })
}

/// Builds one histogram per subtype of the field's values.
#[epochd_job::job]
pub fn run(epoch: &Epoch) -> Result<Json<Latency>, JobError> {
    let field = field()?;
    // The subtype of each value's row, read a window of rows at a time as
    // the values' rows ascend.
    let mut subtypes = epoch.row_ids("subtype");
    let known = subtypes.dictionary_len().unwrap_or(0) as usize;
    let mut histograms = Histograms(vec![LogHistogram::new(); known]);
    if let Some(col) = epoch.int(&field) {
        col.for_each_block(|b| {
            let value = |v: i64| u64::try_from(v).ok();
            record_block(b.rows, b.values, &mut subtypes, &mut histograms, value);
        });
    }
    if let Some(col) = epoch.float(&field) {
        col.for_each_block(|b| {
            // Truncated toward zero (saturating at u64::MAX).
            let value = |v: f64| (v.is_finite() && v >= 0.0).then_some(v as u64);
            record_block(b.rows, b.values, &mut subtypes, &mut histograms, value);
        });
    }
    let histograms = histograms.0;
    let mut per_name: BTreeMap<String, LogHistogram> = BTreeMap::new();
    for (id, h) in histograms.into_iter().enumerate() {
        if let Some(name) = subtypes.strings().get_str(id as u32) {
            per_name.entry(name.into_owned()).or_default().merge(&h);
        }
    }
    Ok(Json(Latency::of(field, per_name)))
}

/// Records a block's values (those `value` takes) by their rows' subtypes.
/// A function of its own, with its state as arguments, and growing out of
/// line: the compiled loop then keeps more of that state in registers than
/// in `run`'s closure, where it was reloaded from memory for every value
/// (a 100k-event epoch: 301 µs before, 278 µs after).
#[inline(never)]
fn record_block<T: Copy>(
    rows: &[u32],
    values: &[T],
    subtypes: &mut RowIds,
    histograms: &mut Histograms,
    value: impl Fn(T) -> Option<u64>,
) {
    for (row, v) in rows.iter().zip(values) {
        if let (Some(id), Some(v)) = (subtypes.get(*row), value(*v)) {
            histograms.record(id, v);
        }
    }
}

/// One histogram per subtype id, grown as ids appear (without a
/// dictionary, strings get ids as rows are read).
struct Histograms(Vec<LogHistogram>);

impl Histograms {
    #[inline]
    fn record(&mut self, id: u32, v: u64) {
        match self.0.get_mut(id as usize) {
            Some(h) => h.record(v),
            None => self.grow_and_record(id, v),
        }
    }

    #[cold]
    #[inline(never)]
    fn grow_and_record(&mut self, id: u32, v: u64) {
        self.0.resize(id as usize + 1, LogHistogram::new());
        self.0[id as usize].record(v);
    }
}

/// Adds two results' histograms.
#[epochd_job::merge]
pub fn merge(a: &[u8], b: &[u8]) -> Result<Json<Latency>, JobError> {
    let a: Latency = Json::parse(a)?;
    let b: Latency = Json::parse(b)?;
    Ok(Json(a.merge(b)?))
}
