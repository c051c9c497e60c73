//! Conformance job `probe`: reads fields of the epoch through every API of
//! the SDK (block scans, iterators, lookups by row, dictionaries, plain
//! strings, map and list containers, `field`) and emits a JSON digest of
//! what it read: counts, FNV-1a hashes, a few sample values.
//!
//! Its point is the comparison: the same events run natively through
//! `epochd_job::testing::MockEpoch` and in the daemon over the real decoded
//! epoch must give the same bytes. That proves the mock (and so every native
//! test of a job) sees what the daemon shows.
//!
//! Config (optional): JSON `{"ints": [...], "floats": [...], "strings":
//! [...], "maps": [...], "lists": [...], "fields": [...]}` naming the paths
//! to read; the default names fields of the reference workload.

use epochd_job::{Container, Epoch, JobError, Json, ScalarColumn, Value};
use serde_json::{json, Map, Value as J};

const DEFAULT: &str = r#"{
  "ints": ["tuning.wallclock", "tuning.status", "pid", "action.user_id", "hotel_id", "cache_hit"],
  "floats": ["timestamp", "tuning.utime", "latency_ms"],
  "strings": ["type", "subtype", "dc", "action.session_id", "http.user_agent", "tuning.the_request"],
  "maps": ["experiments"],
  "lists": ["warnings"],
  "fields": ["tuning.wallclock", "subtype", "latency_ms", "experiments", "warnings", "action.is_robot"]
}"#;

/// 64-bit FNV-1a.
struct Fnv(u64);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    fn bytes(&mut self, b: &[u8]) {
        for x in b {
            self.0 = (self.0 ^ u64::from(*x)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn u64(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes());
    }

    fn hex(&self) -> String {
        format!("{:016x}", self.0)
    }
}

fn paths(config: &J, key: &str) -> Vec<String> {
    config[key]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| p.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Digest of a scalar column read three ways, which must agree.
fn scalar<T: epochd_job::Scalar + PartialEq>(col: &ScalarColumn<T>, bits: fn(T) -> u64) -> J {
    let mut h = Fnv::new();
    for (row, v) in col.iter() {
        h.u64(u64::from(row));
        h.u64(bits(v));
    }
    let mut blocks = Fnv::new();
    col.for_each_block(|b| {
        for (row, v) in b.rows.iter().zip(b.values) {
            blocks.u64(u64::from(*row));
            blocks.u64(bits(*v));
        }
    });
    assert_eq!(h.0, blocks.0, "iter and for_each_block disagree");
    let values: Vec<T> = col.values().collect();
    assert_eq!(values.len() as u32, col.len());
    let rows = col.column().rows();
    // Lookups by row: first, middle, last value.
    let mut samples = Vec::new();
    for i in [0, rows.len() / 2, rows.len().saturating_sub(1)] {
        if let Some(row) = rows.get(i) {
            let got = col.get(*row).map(bits);
            assert_eq!(
                got,
                Some(bits(values[i])),
                "get(row) disagrees with the scan"
            );
            samples.push(json!([row, got]));
        }
    }
    json!({"len": col.len(), "dense": col.is_dense(), "hash": h.hex(), "samples": samples})
}

fn strings(epoch: &Epoch, path: &str) -> J {
    let Some(col) = epoch.str(path) else {
        return J::Null;
    };
    let mut h = Fnv::new();
    col.for_each(|row, s| {
        h.u64(u64::from(row));
        h.bytes(s);
    });
    let by_row = col.by_row(epoch.rows());
    let mut h2 = Fnv::new();
    for row in 0..epoch.rows() {
        if let Some(s) = by_row.get(row) {
            h2.u64(u64::from(row));
            h2.bytes(s);
        }
    }
    assert_eq!(h.0, h2.0, "for_each and by_row disagree");
    let first = col
        .value(0)
        .map(|b| String::from_utf8_lossy(&b).into_owned());
    json!({
        "len": col.len(),
        "dense": col.is_dense(),
        "dictionary": col.dictionary_len(),
        "distinct": by_row.strings().len(),
        "hash": h.hex(),
        "first": first,
    })
}

fn container(c: &Container) -> J {
    let mut h = Fnv::new();
    let keys = c.keys().map(|k| k.by_row(c.entries()));
    let ints = c.int_values();
    let strs = c.str_values().map(|s| s.by_row(c.entries()));
    let ints = ints.map(|col| {
        let mut per_entry = vec![None; c.entries() as usize];
        for (entry, v) in col.iter() {
            per_entry[entry as usize] = Some(v);
        }
        per_entry
    });
    for (row, entries) in c.iter() {
        h.u64(u64::from(row));
        h.u64(entries.len() as u64);
        for e in entries {
            if let Some(k) = keys.as_ref().and_then(|k| k.get(e)) {
                h.bytes(k);
            }
            if let Some(v) = ints.as_ref().and_then(|i| i[e as usize]) {
                h.u64(v as u64);
            }
            if let Some(s) = strs.as_ref().and_then(|s| s.get(e)) {
                h.bytes(s);
            }
        }
    }
    let rows = c.rows();
    let sample = rows
        .get(rows.len() / 2)
        .map(|row| json!([row, c.entries_of(*row).map(|r| [r.start, r.end])]));
    json!({"len": c.len(), "entries": c.entries(), "hash": h.hex(), "sample": sample})
}

fn value_json(v: &Value) -> J {
    match v {
        Value::Int(i) => json!({"int": i}),
        Value::Float(f) => json!({"float": f}),
        Value::Bool(b) => json!({"bool": b}),
        Value::Str(s) => json!({"str": s}),
        Value::Null => json!({"null": null}),
        Value::Raw(b) => json!({"raw": b}),
        Value::List(l) => J::Array(l.iter().map(value_json).collect()),
        Value::Map(m) => J::Array(m.iter().map(|(k, v)| json!([k, value_json(v)])).collect()),
        _ => json!("?"),
    }
}

/// Reads everything the config names and digests it.
#[epochd_job::job]
pub fn run(epoch: &Epoch) -> Result<Json<J>, JobError> {
    let config: J = match epochd_job::config_json()? {
        Some(c) => c,
        None => serde_json::from_str(DEFAULT)?,
    };
    let mut out = Map::new();
    out.insert(
        "epoch".into(),
        json!({"epoch": epoch.epoch(), "seq": epoch.seq(), "rows": epoch.rows(), "dc": epoch.dc()}),
    );
    let mut ints = Map::new();
    for p in paths(&config, "ints") {
        let v = epoch.int(&p).map_or(J::Null, |c| scalar(&c, |v| v as u64));
        ints.insert(p, v);
    }
    out.insert("ints".into(), J::Object(ints));
    let mut floats = Map::new();
    for p in paths(&config, "floats") {
        let v = epoch
            .float(&p)
            .map_or(J::Null, |c| scalar(&c, f64::to_bits));
        floats.insert(p, v);
    }
    out.insert("floats".into(), J::Object(floats));
    let mut strs = Map::new();
    for p in paths(&config, "strings") {
        strs.insert(p.clone(), strings(epoch, &p));
    }
    out.insert("strings".into(), J::Object(strs));
    let mut maps = Map::new();
    for p in paths(&config, "maps") {
        maps.insert(p.clone(), epoch.map(&p).map_or(J::Null, |c| container(&c)));
    }
    out.insert("maps".into(), J::Object(maps));
    let mut lists = Map::new();
    for p in paths(&config, "lists") {
        lists.insert(p.clone(), epoch.list(&p).map_or(J::Null, |c| container(&c)));
    }
    out.insert("lists".into(), J::Object(lists));
    let mut fields = Map::new();
    let rows = epoch.rows();
    for p in paths(&config, "fields") {
        let sample: Vec<J> = [0, rows / 3, rows / 2, rows.saturating_sub(1)]
            .into_iter()
            .filter(|r| *r < rows)
            .map(|r| epoch.field(&p, r).as_ref().map_or(J::Null, value_json))
            .collect();
        fields.insert(p, J::Array(sample));
    }
    out.insert("fields".into(), J::Object(fields));
    Ok(Json(J::Object(out)))
}
