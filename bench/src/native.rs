//! The three reference jobs in native Rust, reading the decoded epoch's columns
//! straight from the `SharedEpoch` (its FlatBuffer, in the host's own mapping): the
//! floor each language is compared with. Each computes the result the job's
//! README specifies (wasm-jobs/README.md, "Result formats") and serialises it with
//! serde_json, as the Rust jobs do, so the work compared includes building the result.

use std::borrow::Cow;
use std::collections::BTreeMap;

use anyhow::{Context, Result};
use epochd_decode::{Blobs, Column, Epoch, SharedEpoch, ValueType};
use epochd_job::sketch::LogHistogram;
use serde::Serialize;

/// A row without a string value (or a value past the names).
const NONE: u32 = u32::MAX;

/// Runs the native version of job `name` on `epoch`; returns its JSON result.
pub fn run(name: &str, epoch: &SharedEpoch) -> Result<Vec<u8>> {
    let view = epoch.view();
    let json = match name {
        "count" => serde_json::to_vec(&count(&view)),
        "latency" => serde_json::to_vec(&latency(&view, "tuning.wallclock")),
        "error-rate" => serde_json::to_vec(&error_rate(&view, &epoch.meta().dc)),
        other => anyhow::bail!("no native version of the job {other:?}"),
    };
    json.with_context(|| format!("serialising the native {name} result"))
}

/// The column of (`path`, `type_`), if the epoch has one.
fn column<'a>(epoch: &Epoch<'a>, path: &str, type_: ValueType) -> Option<Column<'a>> {
    epoch
        .columns()?
        .iter()
        .find(|c| c.type_() == type_ && c.path() == Some(path))
}

/// Entry `i` of a list of byte strings.
fn blob<'a>(blobs: &Blobs<'a>, i: usize) -> &'a [u8] {
    let (Some(offsets), Some(bytes)) = (blobs.offsets(), blobs.bytes()) else {
        return &[];
    };
    let bytes = bytes.bytes();
    bytes
        .get(offsets.get(i) as usize..offsets.get(i + 1) as usize)
        .unwrap_or_default()
}

/// The string values of a column per row: `ids[row]` indexes `names`, [`NONE`] where
/// the row holds no string.
struct ByRow<'a> {
    names: Vec<&'a [u8]>,
    ids: Cow<'a, [u32]>,
}

/// A FlatBuffer vector of `u32`s in place, when it is aligned (the decoder aligns
/// every vector; a FlatBuffer's scalars are little-endian, as is this host).
#[allow(unsafe_code)]
fn in_place(ids: flatbuffers::Vector<'_, u32>) -> Option<&[u32]> {
    if cfg!(target_endian = "big") {
        return None;
    }
    // SAFETY: every bit pattern is a valid u32, and `align_to` hands out only the
    // aligned middle of the slice; it is used only when that middle is all of it.
    let (head, ids, tail) = unsafe { ids.bytes().align_to::<u32>() };
    (head.is_empty() && tail.is_empty()).then_some(ids)
}

impl<'a> ByRow<'a> {
    fn of(epoch: &Epoch<'a>, path: &str) -> ByRow<'a> {
        let rows = epoch.rows() as usize;
        let mut by_row = ByRow {
            names: Vec::new(),
            ids: Cow::Owned(vec![NONE; rows]),
        };
        let Some(col) = column(epoch, path, ValueType::Str) else {
            return by_row;
        };
        if let (true, Some(ids), Some(dict)) = (col.dense(), col.ids(), col.dict()) {
            if let Some(ids) = in_place(ids).filter(|ids| ids.len() == rows) {
                // Dense and dictionary-coded: the ids are by row already; read them
                // where they are.
                let n = dict.offsets().map_or(0, |o| o.len().saturating_sub(1));
                by_row.names = (0..n).map(|i| blob(&dict, i)).collect();
                by_row.ids = Cow::Borrowed(ids);
                return by_row;
            }
        }
        // Dictionary-coded: one id per value into `dict`; else one plain entry per
        // value (each its own name).
        let ids: Vec<u32> = match (col.ids(), col.dict()) {
            (Some(ids), Some(dict)) => {
                let n = dict.offsets().map_or(0, |o| o.len().saturating_sub(1));
                by_row.names = (0..n).map(|i| blob(&dict, i)).collect();
                ids.iter().collect()
            }
            _ => match col.plain() {
                Some(plain) => {
                    let n = plain.offsets().map_or(0, |o| o.len().saturating_sub(1));
                    by_row.names = (0..n).map(|i| blob(&plain, i)).collect();
                    (0..n as u32).collect()
                }
                None => Vec::new(),
            },
        };
        match col.rows().filter(|_| !col.dense()) {
            Some(value_rows) => {
                let by_row_ids = by_row.ids.to_mut();
                for (row, id) in value_rows.iter().zip(ids) {
                    if let Some(slot) = by_row_ids.get_mut(row as usize) {
                        *slot = id;
                    }
                }
            }
            None => {
                for (slot, id) in by_row.ids.to_mut().iter_mut().zip(ids) {
                    *slot = id;
                }
            }
        }
        by_row
    }

    /// The name of `id`, `None` for [`NONE`].
    fn name(&self, id: u32) -> Option<&'a [u8]> {
        self.names.get(id as usize).copied()
    }
}

/// Calls `f(row, value)` for every value of an `INT` or `FLOAT` column.
fn for_each<T>(col: &Column<'_>, values: impl Iterator<Item = T>, mut f: impl FnMut(usize, T)) {
    match col.rows().filter(|_| !col.dense()) {
        Some(rows) => {
            for (row, v) in rows.iter().zip(values) {
                f(row as usize, v);
            }
        }
        None => {
            for (row, v) in values.enumerate() {
                f(row, v);
            }
        }
    }
}

fn lossy(bytes: Option<&[u8]>) -> Option<String> {
    bytes.map(|b| match String::from_utf8_lossy(b) {
        Cow::Borrowed(s) => s.to_owned(),
        Cow::Owned(s) => s,
    })
}

/// `count`'s result.
#[derive(Serialize)]
struct Counts {
    events: u64,
    counts: Vec<Count>,
}

#[derive(Serialize)]
struct Count {
    #[serde(rename = "type")]
    type_: Option<String>,
    subtype: Option<String>,
    count: u64,
}

/// Events per (type, subtype).
fn count(epoch: &Epoch<'_>) -> Counts {
    let types = ByRow::of(epoch, "type");
    let subtypes = ByRow::of(epoch, "subtype");
    let (nt, ns) = (types.names.len(), subtypes.names.len());
    // Pairs of ids (NONE clamped to the last slot), counted in a table.
    let mut table = vec![0u64; (nt + 1) * (ns + 1)];
    for (t, s) in types.ids.iter().zip(subtypes.ids.iter()) {
        let t = (*t as usize).min(nt);
        let s = (*s as usize).min(ns);
        table[t * (ns + 1) + s] += 1;
    }
    let mut map: BTreeMap<(Option<String>, Option<String>), u64> = BTreeMap::new();
    for (i, n) in table.into_iter().enumerate().filter(|(_, n)| *n > 0) {
        let (t, s) = ((i / (ns + 1)) as u32, (i % (ns + 1)) as u32);
        let key = (lossy(types.name(t)), lossy(subtypes.name(s)));
        *map.entry(key).or_default() += n;
    }
    Counts {
        events: map.values().sum(),
        counts: map
            .into_iter()
            .map(|((type_, subtype), count)| Count {
                type_,
                subtype,
                count,
            })
            .collect(),
    }
}

/// `latency`'s result.
#[derive(Serialize)]
struct Latency {
    field: String,
    subtypes: BTreeMap<String, Summary>,
}

#[derive(Serialize)]
struct Summary {
    p50: u64,
    p95: u64,
    p99: u64,
    histogram: LogHistogram,
}

/// Percentiles of `field` per subtype, from the SDK's log histogram.
fn latency(epoch: &Epoch<'_>, field: &str) -> Latency {
    let subtypes = ByRow::of(epoch, "subtype");
    let mut histograms = vec![LogHistogram::new(); subtypes.names.len()];
    let mut record = |row: usize, v: u64| {
        if let Some(h) = subtypes
            .ids
            .get(row)
            .and_then(|id| histograms.get_mut(*id as usize))
        {
            h.record(v);
        }
    };
    if let Some(col) = column(epoch, field, ValueType::Int) {
        let values = col.ints().into_iter().flat_map(|v| v.iter());
        for_each(&col, values, |row, v| {
            if let Ok(v) = u64::try_from(v) {
                record(row, v);
            }
        });
    }
    if let Some(col) = column(epoch, field, ValueType::Float) {
        let values = col.floats().into_iter().flat_map(|v| v.iter());
        for_each(&col, values, |row, v| {
            if v.is_finite() && v >= 0.0 {
                record(row, v as u64);
            }
        });
    }
    let mut per_name: BTreeMap<String, LogHistogram> = BTreeMap::new();
    for (id, h) in histograms.into_iter().enumerate() {
        if let Some(name) = lossy(subtypes.name(id as u32)) {
            per_name.entry(name).or_default().merge(&h);
        }
    }
    Latency {
        field: field.to_owned(),
        subtypes: per_name
            .into_iter()
            .filter_map(|(s, h)| {
                Some((
                    s,
                    Summary {
                        p50: h.percentile(50)?,
                        p95: h.percentile(95)?,
                        p99: h.percentile(99)?,
                        histogram: h,
                    },
                ))
            })
            .collect(),
    }
}

/// `error-rate`'s counts and rate.
#[derive(Serialize)]
struct Rate {
    web: u64,
    errors: u64,
    rate: Option<f64>,
}

impl Rate {
    fn of(web: u64, errors: u64) -> Rate {
        Rate {
            web,
            errors,
            rate: (web > 0).then(|| errors as f64 / web as f64),
        }
    }
}

/// `error-rate`'s result.
#[derive(Serialize)]
struct ErrorRate {
    web: u64,
    errors: u64,
    rate: Option<f64>,
    dcs: BTreeMap<String, Rate>,
}

/// WEB events and those with `tuning.status >= 500`, for the commit's dc.
fn error_rate(epoch: &Epoch<'_>, dc: &str) -> ErrorRate {
    let types = ByRow::of(epoch, "type");
    let is_web: Vec<bool> = types.names.iter().map(|n| *n == b"WEB").collect();
    let web_row = |id: u32| is_web.get(id as usize).copied().unwrap_or(false);
    let web = types.ids.iter().filter(|id| web_row(**id)).count() as u64;
    let mut errors = 0u64;
    if web > 0 {
        if let Some(col) = column(epoch, "tuning.status", ValueType::Int) {
            let values = col.ints().into_iter().flat_map(|v| v.iter());
            for_each(&col, values, |row, s| {
                if s >= 500 && types.ids.get(row).is_some_and(|id| web_row(*id)) {
                    errors += 1;
                }
            });
        }
    }
    let total = Rate::of(web, errors);
    ErrorRate {
        web,
        errors,
        rate: total.rate,
        dcs: BTreeMap::from([(dc.to_owned(), Rate::of(web, errors))]),
    }
}
