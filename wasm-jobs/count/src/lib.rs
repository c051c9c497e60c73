//! Reference job `count`: how many events of each (type, subtype) the epoch
//! has. Merge adds the counts.
//!
//! Result (compact JSON, see wasm-jobs/README.md):
//! `{"events":N,"counts":[{"type":"AV","subtype":"availability_cluster","count":n},...]}`
//! sorted by (type, subtype), `null` (a missing or non-string field) first.

use std::collections::BTreeMap;

use epochd_job::{Dictionary, Epoch, JobError, Json, BLOCK};
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

fn name(strings: &Dictionary, id: u32) -> Option<String> {
    strings.get_str(id).map(std::borrow::Cow::into_owned)
}

/// Counts the epoch's events by (type, subtype).
#[epochd_job::job]
pub fn run(epoch: &Epoch) -> Result<Json<Counts>, JobError> {
    // Both fields read by row a block at a time, side by side (no per-row
    // array of the whole epoch), and their pairs of string ids counted.
    let (mut types, mut subtypes) = (epoch.row_ids("type"), epoch.row_ids("subtype"));
    let mut pairs = Pairs::new(types.dictionary_len(), subtypes.dictionary_len());
    let (mut t, mut s) = (vec![0; BLOCK], vec![0; BLOCK]);
    let rows = epoch.rows();
    for first in (0..rows).step_by(BLOCK) {
        let n = (rows - first).min(BLOCK as u32) as usize;
        types.read(first, &mut t[..n]);
        subtypes.read(first, &mut s[..n]);
        pairs.add(&t[..n], &s[..n]);
    }
    let mut map = BTreeMap::new();
    for ((t, s), n) in pairs.counted() {
        let key = (name(types.strings(), t), name(subtypes.strings(), s));
        *map.entry(key).or_default() += n;
    }
    Ok(Json(Counts::from_map(map)))
}

/// Events per pair of string ids (`RowStrings::NONE` where a row has none).
enum Pairs {
    /// Both fields' strings known before the first row and few (the usual
    /// case: dictionary-coded).
    Table(Table),
    /// Otherwise.
    Map(BTreeMap<(u32, u32), u64>),
}

impl Pairs {
    fn new(types: Option<u32>, subtypes: Option<u32>) -> Pairs {
        match types.zip(subtypes).and_then(|(nt, ns)| Table::new(nt, ns)) {
            Some(table) => Pairs::Table(table),
            None => Pairs::Map(BTreeMap::new()),
        }
    }

    fn add(&mut self, types: &[u32], subtypes: &[u32]) {
        match self {
            Pairs::Table(table) => table.add(types, subtypes),
            Pairs::Map(map) => {
                for (t, s) in types.iter().zip(subtypes) {
                    *map.entry((*t, *s)).or_default() += 1;
                }
            }
        }
    }

    /// Every pair counted, with its count.
    fn counted(self) -> BTreeMap<(u32, u32), u64> {
        match self {
            Pairs::Table(table) => table.pairs(),
            Pairs::Map(map) => map,
        }
    }
}

/// Events per (type id, subtype id), one cell per pair: ids index the
/// dictionaries, and a row without a string (`RowStrings::NONE`) counts in
/// the last cell of its side.
struct Table {
    nt: usize,
    ns: usize,
    cells: Vec<u64>,
}

impl Table {
    /// A table for `nt` and `ns` strings, unless it would be large.
    fn new(nt: u32, ns: u32) -> Option<Table> {
        let (nt, ns) = (nt as usize, ns as usize);
        let cells = (nt + 1).checked_mul(ns + 1).filter(|n| *n <= 1 << 16)?;
        Some(Table {
            nt,
            ns,
            cells: vec![0; cells],
        })
    }

    /// Counts the pairs `(types[i], subtypes[i])`. Unrolled by eight, in a
    /// function of its own: every loop head of a compiled job checks the
    /// run's deadline, and cranelift keeps fewer values in registers across
    /// that check in a large function; fewer, wider iterations pay for it
    /// less often (docs/BENCHMARKS.md, "Languages").
    #[inline(never)]
    fn add(&mut self, types: &[u32], subtypes: &[u32]) {
        let (nt, ns) = (self.nt, self.ns);
        let cells = &mut self.cells[..(nt + 1) * (ns + 1)];
        let n = types.len().min(subtypes.len());
        let (types, subtypes) = (&types[..n], &subtypes[..n]);
        let mut count = |t: u32, s: u32| {
            cells[(t as usize).min(nt) * (ns + 1) + (s as usize).min(ns)] += 1;
        };
        let (t8, s8) = (types.chunks_exact(8), subtypes.chunks_exact(8));
        let rest = t8.remainder().iter().zip(s8.remainder());
        for (t, s) in t8.zip(s8) {
            for i in 0..8 {
                count(t[i], s[i]);
            }
        }
        for (t, s) in rest {
            count(*t, *s);
        }
    }

    /// The pairs counted at least once.
    fn pairs(self) -> BTreeMap<(u32, u32), u64> {
        let ns = self.ns;
        self.cells
            .into_iter()
            .enumerate()
            .filter(|(_, n)| *n > 0)
            .map(|(i, n)| (((i / (ns + 1)) as u32, (i % (ns + 1)) as u32), n))
            .collect()
    }
}

/// Adds two results.
#[epochd_job::merge]
pub fn merge(a: &[u8], b: &[u8]) -> Result<Json<Counts>, JobError> {
    let a: Counts = Json::parse(a)?;
    let b: Counts = Json::parse(b)?;
    Ok(Json(a.merge(b)))
}
