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

use epochd_job::{Epoch, JobError, Json};
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
    let types = epoch.strings_by_row("type");
    let (mut web, mut errors) = (0u64, 0u64);
    if let Some(web_id) = types.find("WEB") {
        web = types.ids().iter().filter(|id| **id == web_id).count() as u64;
        if let Some(status) = epoch.int("tuning.status") {
            status.for_each_block(|b| {
                for (row, s) in b.rows.iter().zip(b.values) {
                    if *s >= ERROR_STATUS && types.id(*row) == Some(web_id) {
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

/// Adds two results per dc.
#[epochd_job::merge]
pub fn merge(a: &[u8], b: &[u8]) -> Result<Json<ErrorRate>, JobError> {
    let a: ErrorRate = Json::parse(a)?;
    let b: ErrorRate = Json::parse(b)?;
    Ok(Json(a.merge(b)))
}
