//! Reference job `error-rate`: the share of WEB events (`type` = `"WEB"`)
//! whose `tuning.status` is an integer `>= 500`, per dc. Merge adds the
//! counts per dc and recomputes the rates.
//!
//! The dc is the commit's (each run covers one (epoch, dc)); a merge of
//! several dcs keeps one entry per dc, plus the totals.
//!
//! Result (compact JSON, see wasm-jobs/README.md):
//! `{"web":400,"errors":3,"rate":0.0075,"dcs":{"ams4":{"web":400,"errors":3,"rate":0.0075}}}`;
//! `rate` is `errors / web`, `null` when `web` is 0.

use std::collections::BTreeMap;

use epochd_job::{Epoch, JobError, Json, BLOCK};
use serde::{Deserialize, Serialize};

/// The status from which a response is an error.
pub const ERROR_STATUS: i64 = 500;

/// Counts and rate, for one dc or for all.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    /// WEB events.
    pub web: u64,
    /// WEB events with `tuning.status >= 500`.
    pub errors: u64,
    /// `errors / web`; `null` without WEB events. Derived: ignored when
    /// merging.
    pub rate: Option<f64>,
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

/// The result of one run, or of a merge.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorRate {
    /// All dcs together.
    pub web: u64,
    /// All dcs together.
    pub errors: u64,
    /// All dcs together.
    pub rate: Option<f64>,
    /// Per dc.
    pub dcs: BTreeMap<String, Rate>,
}

impl ErrorRate {
    fn of(dcs: BTreeMap<String, (u64, u64)>) -> ErrorRate {
        let web = dcs.values().map(|(w, _)| w).sum();
        let errors = dcs.values().map(|(_, e)| e).sum();
        let total = Rate::of(web, errors);
        ErrorRate {
            web,
            errors,
            rate: total.rate,
            dcs: dcs
                .into_iter()
                .map(|(dc, (w, e))| (dc, Rate::of(w, e)))
                .collect(),
        }
    }

    /// The combination of two results.
    pub fn merge(self, other: ErrorRate) -> ErrorRate {
        let mut dcs: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for (dc, r) in self.dcs.into_iter().chain(other.dcs) {
            let slot = dcs.entry(dc).or_default();
            slot.0 += r.web;
            slot.1 += r.errors;
        }
        ErrorRate::of(dcs)
    }
}

/// Counts the commit's WEB events and their errors.
#[epochd_job::job]
pub fn run(epoch: &Epoch) -> Result<Json<ErrorRate>, JobError> {
    // WEB events counted on the ids of `type`, read a block of rows at a
    // time; then the type of each error looked up alone (errors are few).
    let mut types = epoch.row_ids("type");
    let mut ids = vec![0; BLOCK];
    let rows = epoch.rows();
    let (mut web_id, mut web, mut errors) = (None, 0, 0);
    for first in (0..rows).step_by(BLOCK) {
        let ids = &mut ids[..(rows - first).min(BLOCK as u32) as usize];
        types.read(first, ids);
        // Known from the start with a dictionary; else once a row has it.
        web_id = web_id.or_else(|| types.strings().find("WEB"));
        if let Some(web_id) = web_id {
            web += count_equal(ids, web_id);
        }
    }
    if let Some(web_id) = web_id {
        if let Some(status) = epoch.int("tuning.status") {
            status.for_each_block(|b| {
                for (row, s) in b.rows.iter().zip(b.values) {
                    if *s >= ERROR_STATUS && types.get(*row) == Some(web_id) {
                        errors += 1;
                    }
                }
            });
        }
    }
    Ok(Json(ErrorRate::of(BTreeMap::from([(
        epoch.dc(),
        (web, errors),
    )]))))
}

/// How many of `ids` are `id`. In chunks of 64: each loop head of a
/// compiled job checks the run's deadline, and the vector sums live across
/// that check are stored and reloaded each iteration, so each iteration
/// does 16 vector compares into one sum rather than 4 into 4
/// (docs/BENCHMARKS.md, "Languages").
fn count_equal(ids: &[u32], id: u32) -> u64 {
    let chunks = ids.chunks_exact(64);
    let rest = chunks.remainder().iter().filter(|x| **x == id).count();
    let mut n = rest as u64;
    for chunk in chunks {
        n += chunk.iter().filter(|x| **x == id).count() as u64;
    }
    n
}

/// Adds two results per dc.
#[epochd_job::merge]
pub fn merge(a: &[u8], b: &[u8]) -> Result<Json<ErrorRate>, JobError> {
    let a: ErrorRate = Json::parse(a)?;
    let b: ErrorRate = Json::parse(b)?;
    Ok(Json(a.merge(b)))
}
