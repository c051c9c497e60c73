//! Reference job `count`: how many events of each (type, subtype) the epoch
//! has. Merge adds the counts.
//!
//! Result (compact JSON, see wasm-jobs/README.md):
//! `{"events":N,"counts":[{"type":"AV","subtype":"availability_cluster","count":n},...]}`
//! sorted by (type, subtype), `null` (a missing or non-string field) first.

use std::collections::BTreeMap;

use epochd_job::{Epoch, JobError, Json, RowStrings};
use serde::{Deserialize, Serialize};

/// The result of one run, or of a merge.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Counts {
    /// Every event counted (the sum of `counts`).
    pub events: u64,
    /// One entry per (type, subtype) seen, sorted.
    pub counts: Vec<Count>,
}

/// The events of one (type, subtype).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Count {
    /// The event's `type` string; `null` when it has none (or not a string).
    #[serde(rename = "type")]
    pub type_: Option<String>,
    /// The event's `subtype` string; `null` likewise.
    pub subtype: Option<String>,
    /// How many events.
    pub count: u64,
}

type Key = (Option<String>, Option<String>);

impl Counts {
    fn from_map(map: BTreeMap<Key, u64>) -> Counts {
        Counts {
            events: map.values().sum(),
            counts: map
                .into_iter()
                .filter(|(_, n)| *n > 0)
                .map(|((type_, subtype), count)| Count {
                    type_,
                    subtype,
                    count,
                })
                .collect(),
        }
    }

    fn into_map(self, map: &mut BTreeMap<Key, u64>) {
        for c in self.counts {
            *map.entry((c.type_, c.subtype)).or_default() += c.count;
        }
    }

    /// The sum of two results.
    pub fn merge(self, other: Counts) -> Counts {
        let mut map = BTreeMap::new();
        self.into_map(&mut map);
        other.into_map(&mut map);
        Counts::from_map(map)
    }
}

fn name(strings: &RowStrings, id: u32) -> Option<String> {
    strings
        .strings()
        .get_str(id)
        .map(std::borrow::Cow::into_owned)
}

/// Counts the epoch's events by (type, subtype).
#[epochd_job::job]
pub fn run(epoch: &Epoch) -> Result<Json<Counts>, JobError> {
    let types = epoch.strings_by_row("type");
    let subtypes = epoch.strings_by_row("subtype");
    // Count pairs of string ids (RowStrings::NONE where a row has none).
    // Ids are dictionary ids, few: a table, unless the strings are many.
    let (nt, ns) = (
        types.strings().len() as usize,
        subtypes.strings().len() as usize,
    );
    let mut pairs: BTreeMap<(u32, u32), u64> = BTreeMap::new();
    if (nt + 1).saturating_mul(ns + 1) <= 1 << 16 {
        let mut table = vec![0u64; (nt + 1) * (ns + 1)];
        for (t, s) in types.ids().iter().zip(subtypes.ids()) {
            let t = (*t as usize).min(nt);
            let s = (*s as usize).min(ns);
            table[t * (ns + 1) + s] += 1;
        }
        for (i, n) in table.into_iter().enumerate().filter(|(_, n)| *n > 0) {
            pairs.insert(((i / (ns + 1)) as u32, (i % (ns + 1)) as u32), n);
        }
    } else {
        for (t, s) in types.ids().iter().zip(subtypes.ids()) {
            *pairs.entry((*t, *s)).or_default() += 1;
        }
    }
    let mut map = BTreeMap::new();
    for ((t, s), n) in pairs {
        *map.entry((name(&types, t), name(&subtypes, s)))
            .or_default() += n;
    }
    Ok(Json(Counts::from_map(map)))
}

/// Adds two results.
#[epochd_job::merge]
pub fn merge(a: &[u8], b: &[u8]) -> Result<Json<Counts>, JobError> {
    let a: Counts = Json::parse(a)?;
    let b: Counts = Json::parse(b)?;
    Ok(Json(a.merge(b)))
}
