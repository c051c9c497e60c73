//! The cross-language conformance suite (sdk/ABI.md, "Conformance").
//!
//! Runs by the real daemon, in process (`Daemon::open` over a real store,
//! `Daemon::process` per commit; merges through the registry's
//! `JobModule::merge`, the call `streams.rs` folds an epoch's results with),
//! over generated epochs of the reference workload (four dcs, sparse fields,
//! the dynamic-key `experiments` map), one of 10k events per dc (more than
//! a window of the SDKs' row readers), hand-made events with unicode
//! strings and odd shapes, an epoch of hundreds of types and subtypes, and a
//! one-event epoch no job looks at:
//!
//! 1. Every language's module of each reference job (`count`, `latency`,
//!    `error-rate`): Rust is `wasm-jobs/out/<job>.wasm`, another language
//!    `wasm-jobs/out/<lang>/<job>.wasm` for every subdirectory present. Each
//!    gives, for every commit and for every epoch's merge, the same bytes as
//!    the Rust module. **Tolerance**: none but one: a JSON float may be
//!    written in any form that parses to the same IEEE 754 double (each
//!    float token is re-written in its shortest round-trip form before the
//!    comparison); everything else (key order, spacing, escapes, integers)
//!    must be byte-identical.
//! 2. The Rust modules' results equal an independent native computation over
//!    the events read back from the store (latency: histograms exactly,
//!    percentiles within the documented 1/128).
//! 3. Every module with a merge obeys the laws on random splits: the empty
//!    result is an identity both ways, merge is associative on random
//!    triples, and random groupings and orders of an epoch's dc results all
//!    give the daemon's (dc, seq)-order fold, which equals the native
//!    computation over all the epoch's events.
//! 4. The hand-written WebAssembly text job `wasm-jobs/wat/wallclock-sum.wat`
//!    (compiled here with the `wat` crate): rows, count and sum of the INT
//!    `tuning.wallclock` per commit equal a native computation, and its
//!    merge obeys the same laws.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use epochd::pipeline::{Daemon, Processed};
use epochd::registry::JobManifest;
use epochd::results::{Outcome, ResultRecord};
use epochd_decode::EpochMeta;
use epochd_hooks::CommitNotice;
use epochd_store::{Format, Store};
use epochd_workload::{Format as WorkloadFormat, Workload, WorkloadConfig};
use serde_json::{json, Value};

use crate::support::now;

pub(crate) const REFERENCE_JOBS: [&str; 3] = ["count", "latency", "error-rate"];
/// Generated epochs, events per epoch (over the four dcs).
const GENERATED_EPOCHS: u64 = 8;
const EVENTS_PER_EPOCH: usize = 600;
/// One more generated epoch, of more than 8192 events per dc.
const BIG_EPOCH_EVENTS: usize = 40_000;
/// Random groupings tried per epoch and module.
const GROUPINGS: usize = 6;

fn out_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../wasm-jobs/out")
}

/// (language, path) of every module of `job`: Rust first, then every
/// `out/<lang>/<job>.wasm` present, by language name.
pub(crate) fn modules_of(job: &str) -> Vec<(String, PathBuf)> {
    let rust = out_dir().join(format!("{job}.wasm"));
    assert!(
        rust.exists(),
        "{}: missing; build the jobs first with wasm-jobs/build (scripts/test does)",
        rust.display()
    );
    let mut found = vec![("rust".to_owned(), rust)];
    let mut langs: Vec<PathBuf> = std::fs::read_dir(out_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    langs.sort();
    for dir in langs {
        let path = dir.join(format!("{job}.wasm"));
        if path.exists() {
            let lang = dir.file_name().unwrap().to_string_lossy().into_owned();
            found.push((lang, path));
        }
    }
    found
}

pub(crate) fn wat_job() -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../wasm-jobs/wat/wallclock-sum.wat");
    wat::parse_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A small deterministic generator (xorshift64*), so failures reproduce.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            v.swap(i, self.below(i + 1));
        }
    }
}

/// Hand-made events for epoch `t`. The store keeps `type`, `subtype` and
/// `dc` to ASCII names, so unicode and escape-worthy strings sit in other
/// fields (and map keys); around them: a missing subtype, floats, negatives,
/// huge values and strings where integers are usual, arrays of mixed
/// values, deep maps, `experiments` with unusual keys.
pub(crate) fn odd_events(t: u64) -> Vec<Value> {
    let ts = t as f64 + 0.25;
    vec![
        json!({"timestamp": ts, "type": "WEB", "dc": "ams4", "subtype": "cafe",
               "page": "café ☕", "tuning": {"wallclock": 120, "status": 503}}),
        json!({"timestamp": ts, "type": "WEB", "dc": "ams4", "subtype": "ja.page:1-x",
               "page": "日本語のページ", "tuning": {"wallclock": 7, "status": 200}}),
        json!({"timestamp": ts, "type": "WEB", "dc": "ams4", "subtype": "ja.page:1-x",
               "page": "🦀 emoji 𝄞", "tuning": {"wallclock": 12.9, "status": 500.0}}),
        json!({"timestamp": ts, "type": "WEB", "dc": "ams4", "subtype": "_escapes",
               "page": "q\"uote\\back\nslash\u{1}\u{7f}",
               "tuning": {"wallclock": 1_000_000_007_i64, "status": "500"}}),
        json!({"timestamp": ts, "type": "WEB", "dc": "ams4", "subtype": "negative",
               "tuning": {"wallclock": -40, "status": 599}}),
        json!({"timestamp": ts, "type": "WEB", "dc": "ams4",
               "tuning": {"wallclock": 3}}),
        json!({"timestamp": ts, "type": "WEB", "dc": "ams4", "subtype": "stringy",
               "tuning": {"wallclock": "fast", "status": 500}}),
        json!({"timestamp": ts, "type": "Omega", "dc": "ams4", "subtype": "unicode_keys",
               "tuning": {"wallclock": 64}, "list": [1, "two", [3, {"four": 4}], null],
               "experiments": {"exp_ü": 1, "exp_☃": 2, "": 3}}),
        json!({"timestamp": ts, "type": "web", "dc": "ams4", "subtype": "lowercase",
               "tuning": {"wallclock": 9_007_199_254_740_993_i64, "status": 502}}),
        json!({"timestamp": ts, "type": "AV", "dc": "ams5", "subtype": "availability_cluster",
               "tuning": {"wallclock": 5.5e3}, "nested": {"deep": {"deeper": {"deepest": "ø"}}}}),
        json!({"timestamp": ts, "type": "WEB", "dc": "ams5", "subtype": "cafe",
               "page": "café ☕", "tuning": {"wallclock": 130, "status": 404}}),
        json!({"timestamp": ts, "type": "WEB", "dc": "ams5", "subtype": "cafe",
               "tuning": {"wallclock": 1.0e300, "status": 500}}),
        json!({"timestamp": ts, "type": "WEB", "dc": "ams5", "subtype": "cafe",
               "tuning": {"wallclock": i64::MAX, "status": i64::MIN}}),
    ]
}

/// Events of one dc with hundreds of distinct `type`s and a hundred
/// `subtype`s (latency's result stays under the 64 KiB maximum): too
/// many pairs for the jobs' count table, so `count` takes its map path in
/// every language. (The store files each (type, subtype) in chunks of its
/// own, so these columns are always dictionary-coded: plain ones are
/// `every_language_agrees_on_plain_string_columns`.) WEB events with
/// errors among them, and a missing subtype in every seventh event.
fn many_strings_events(t: u64) -> Vec<Value> {
    (0..1000u64)
        .map(|i| {
            let type_ = if i % 5 == 0 {
                "WEB".to_owned()
            } else {
                format!("T{i:04}")
            };
            let mut e = json!({"timestamp": t as f64 + 0.5, "type": type_, "dc": "fra1",
                               "tuning": {"wallclock": (i * 37) % 1000,
                                          "status": if i % 3 == 0 { 500 } else { 200 }}});
            if i % 7 != 0 {
                e["subtype"] = json!(format!("s{:03}", (i * 7) % 110));
            }
            e
        })
        .collect()
}

struct Fixture {
    _dir: tempfile::TempDir,
    store: Arc<Store>,
    daemon: Arc<Daemon>,
    notices: Vec<CommitNotice>,
    records: Vec<ResultRecord>,
    /// The job name of each (language, job) module registered, and the wat job.
    names: Vec<(String, String, String)>,
}

fn fixture() -> Fixture {
    let crate::jobs::Node {
        _dir: dir,
        store,
        daemon,
    } = crate::jobs::node(2, false);

    let mut names = Vec::new();
    for job in REFERENCE_JOBS {
        for (lang, path) in modules_of(job) {
            let name = format!("{job}-{lang}");
            let wasm = std::fs::read(&path).unwrap();
            daemon
                .registry()
                .submit(JobManifest::new(&name), &wasm)
                .unwrap_or_else(|e| panic!("{}: refused: {e}", path.display()));
            names.push((lang, job.to_owned(), name));
        }
    }
    daemon
        .registry()
        .submit(JobManifest::new("wallclock-sum-wat"), &wat_job())
        .unwrap();
    names.push((
        "wat".into(),
        "wallclock-sum".into(),
        "wallclock-sum-wat".into(),
    ));

    // Generated epochs, odd events mixed into two of them, and a last epoch
    // of one event that no job looks at (no subtype, no tuning, not WEB).
    let first = now() - 400;
    let w = Workload::new(WorkloadConfig::default());
    for e in first..first + GENERATED_EPOCHS {
        let mut bytes = w.encode_epoch(e, EVENTS_PER_EPOCH, WorkloadFormat::MsgPack);
        if e >= first + GENERATED_EPOCHS - 2 {
            for event in odd_events(e) {
                bytes.extend(rmp_serde::to_vec_named(&event).unwrap());
            }
        }
        store.ingest(&bytes, Format::MsgPack).unwrap();
    }
    // An epoch over several windows of rows of the SDKs' readers (8192).
    let big = first + GENERATED_EPOCHS;
    let bytes = w.encode_epoch(big, BIG_EPOCH_EVENTS, WorkloadFormat::MsgPack);
    store.ingest(&bytes, Format::MsgPack).unwrap();
    // An epoch with hundreds of types and subtypes.
    let many = big + 1;
    let bytes: Vec<u8> = many_strings_events(many)
        .iter()
        .flat_map(|e| rmp_serde::to_vec_named(e).unwrap())
        .collect();
    store.ingest(&bytes, Format::MsgPack).unwrap();
    let empty = many + 1;
    let lone = json!({"timestamp": empty, "type": "NOOP", "dc": "lhr4"});
    store
        .ingest(&rmp_serde::to_vec_named(&lone).unwrap(), Format::MsgPack)
        .unwrap();
    store.seal_all().unwrap();
    let notices: Vec<CommitNotice> = store.outbox().pending().map(Result::unwrap).collect();
    assert_eq!(notices.len() as u64, (GENERATED_EPOCHS + 1) * 4 + 2);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let records = rt.block_on(async {
        let mut out = Vec::new();
        for n in &notices {
            match daemon.process(n).await.unwrap() {
                Processed::Done(records) => out.extend(records),
                Processed::Gone => panic!("commit {n:?} is gone"),
            }
        }
        out
    });
    assert_eq!(records.len(), notices.len() * names.len());
    Fixture {
        _dir: dir,
        store,
        daemon,
        notices,
        records,
        names,
    }
}

impl Fixture {
    fn result(&self, job: &str, n: &CommitNotice) -> Vec<u8> {
        let r = self
            .records
            .iter()
            .find(|r| r.job == job && r.epoch == n.epoch && r.dc == n.dc && r.seq == n.seq)
            .unwrap_or_else(|| panic!("no {job} result for {}/{}/{}", n.epoch, n.dc, n.seq));
        match &r.outcome {
            Outcome::Ok { result } => result.clone(),
            Outcome::Error { kind, message } => {
                panic!("{job} failed on {}/{}: {kind}: {message}", r.epoch, r.dc)
            }
        }
    }

    /// The epochs, each with its commits in (dc, seq) order.
    fn epochs(&self) -> BTreeMap<u64, Vec<&CommitNotice>> {
        let mut m: BTreeMap<u64, Vec<&CommitNotice>> = BTreeMap::new();
        for n in &self.notices {
            m.entry(n.epoch).or_default().push(n);
        }
        for v in m.values_mut() {
            v.sort_by(|a, b| (&a.dc, a.seq).cmp(&(&b.dc, b.seq)));
        }
        m
    }

    /// The events of a commit, read back from the store.
    fn events(&self, n: &CommitNotice) -> Vec<Value> {
        let key = epochd_store::ManifestKey {
            epoch: n.epoch,
            dc: n.dc.clone(),
            seq: n.seq,
        };
        let raw = self.store.commit_events(&key).unwrap().unwrap();
        epochd_store::split_events(&raw)
            .map(|e| rmp_serde::from_slice(e.unwrap()).unwrap())
            .collect()
    }

    /// The commit decoded as the daemon decodes it, from its stored chunks.
    fn decoded(&self, n: &CommitNotice) -> epochd_decode::SharedEpoch {
        let key = epochd_store::ManifestKey {
            epoch: n.epoch,
            dc: n.dc.clone(),
            seq: n.seq,
        };
        let manifest = self.store.manifest(&key).unwrap().unwrap();
        let blobs: Vec<Vec<u8>> = manifest
            .chunks
            .iter()
            .map(|c| self.store.chunk(&manifest.chunk_key(c)).unwrap().unwrap())
            .collect();
        let meta = EpochMeta {
            epoch: n.epoch,
            dc: n.dc.clone(),
            seq: n.seq,
        };
        epochd_decode::decode(meta, &blobs).unwrap()
    }

    /// `merge(a, b)` by the job's module, as the daemon's streams call it.
    fn merge(&self, job: &str, epoch: u64, a: &[u8], b: &[u8]) -> Vec<u8> {
        let j = self.daemon.registry().get(job).unwrap();
        let limits = j.manifest.limits();
        let meta = EpochMeta {
            epoch,
            dc: String::new(),
            seq: 0,
        };
        let report = j
            .module
            .merge(&limits, &meta, a, b, j.manifest.config.as_bytes());
        report.outcome.unwrap_or_else(|e| {
            panic!(
                "{job}: merge of {} and {} failed: {e}",
                String::from_utf8_lossy(a),
                String::from_utf8_lossy(b)
            )
        })
    }

    /// The daemon's fold: (dc, seq) order, left to right.
    fn fold(&self, job: &str, epoch: u64, results: &[Vec<u8>]) -> Vec<u8> {
        let mut acc = results[0].clone();
        for r in &results[1..] {
            acc = self.merge(job, epoch, &acc, r);
        }
        acc
    }
}

/// Rewrites every JSON float token (a number with `.`, `e` or `E`) outside
/// strings in its shortest round-trip form: the suite's only tolerance.
fn canonical_floats(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    let mut in_string = false;
    while i < bytes.len() {
        let c = bytes[i];
        if in_string {
            out.push(c);
            if c == b'\\' && i + 1 < bytes.len() {
                out.push(bytes[i + 1]);
                i += 1;
            } else if c == b'"' {
                in_string = false;
            }
            i += 1;
        } else if c == b'"' {
            in_string = true;
            out.push(c);
            i += 1;
        } else if c == b'-' || c.is_ascii_digit() {
            let start = i;
            while i < bytes.len()
                && matches!(bytes[i], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
            {
                i += 1;
            }
            let token = std::str::from_utf8(&bytes[start..i]).unwrap();
            match token
                .contains(['.', 'e', 'E'])
                .then(|| token.parse::<f64>())
            {
                Some(Ok(f)) => out.extend(serde_json::to_string(&f).unwrap().into_bytes()),
                _ => out.extend(token.as_bytes()),
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// Byte-identical (`Some(true)`), identical after rewriting floats
/// (`Some(false)`), or different (`None`).
pub(crate) fn same_result(a: &[u8], b: &[u8]) -> Option<bool> {
    if a == b {
        Some(true)
    } else {
        (canonical_floats(a) == canonical_floats(b)).then_some(false)
    }
}

pub(crate) fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn parse(b: &[u8]) -> Value {
    serde_json::from_slice(b).unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(b)))
}

// ---------------------------------------------------------------------------
// Native computations, from the result formats of wasm-jobs/README.md.

fn str_or_null(v: &Value) -> Option<String> {
    v.as_str().map(str::to_owned)
}

/// An INT value of the epoch (what lands in an `INT` column).
fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) if !n.is_f64() => n.as_i64(),
        _ => None,
    }
}

fn native_count(events: &[&Value]) -> Value {
    let mut m: BTreeMap<(Option<String>, Option<String>), u64> = BTreeMap::new();
    for e in events {
        *m.entry((str_or_null(&e["type"]), str_or_null(&e["subtype"])))
            .or_default() += 1;
    }
    let counts: Vec<Value> = m
        .into_iter()
        .map(|((t, s), c)| json!({"type": t, "subtype": s, "count": c}))
        .collect();
    json!({"events": events.len(), "counts": counts})
}

/// Per dc: (web, errors).
fn native_error_rate(events: &[(&str, &Value)]) -> BTreeMap<String, (u64, u64)> {
    let mut m: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for (dc, e) in events {
        let entry = m.entry((*dc).to_owned()).or_default();
        if e["type"] == "WEB" {
            entry.0 += 1;
            if int(&e["tuning"]["status"]).is_some_and(|s| s >= 500) {
                entry.1 += 1;
            }
        }
    }
    m
}

/// The exact bytes error-rate must give (wasm-jobs/README.md). Built as
/// text: `serde_json`'s default parser may be one ulp off on floats, its
/// writer (ryu, shortest round-trip) is exact.
fn native_error_rate_bytes(native: &BTreeMap<String, (u64, u64)>) -> String {
    let entry = |web: u64, errors: u64| {
        let rate = if web == 0 {
            "null".to_owned()
        } else {
            serde_json::to_string(&(errors as f64 / web as f64)).unwrap()
        };
        format!(r#""web":{web},"errors":{errors},"rate":{rate}"#)
    };
    let (web, errors) = native
        .values()
        .fold((0, 0), |(w, e), &(dw, de)| (w + dw, e + de));
    let dcs: Vec<String> = native
        .iter()
        .map(|(dc, &(w, e))| format!("{}:{{{}}}", serde_json::to_string(dc).unwrap(), entry(w, e)))
        .collect();
    format!(r#"{{{},"dcs":{{{}}}}}"#, entry(web, errors), dcs.join(","))
}

/// The latency sketch's bucket of a value (wasm-jobs/README.md).
fn bucket(v: u64) -> u64 {
    if v < 64 {
        return v;
    }
    let e = 63 - u64::from(v.leading_zeros());
    let m = v >> (e - 6);
    (e - 5) * 64 + (m - 64)
}

fn native_latency_values(events: &[&Value]) -> BTreeMap<String, Vec<u64>> {
    let mut m: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for e in events {
        let Some(subtype) = e["subtype"].as_str() else {
            continue;
        };
        let w = &e["tuning"]["wallclock"];
        let value = match w {
            Value::Number(n) if n.is_f64() => {
                let f = n.as_f64().unwrap();
                (f.is_finite() && f >= 0.0).then_some(f as u64)
            }
            _ => int(w).and_then(|i| u64::try_from(i).ok()),
        };
        if let Some(v) = value {
            m.entry(subtype.to_owned()).or_default().push(v);
        }
    }
    m
}

fn check_latency(got: &Value, native: BTreeMap<String, Vec<u64>>, what: &str) {
    assert_eq!(got["field"], "tuning.wallclock", "{what}");
    let subtypes = got["subtypes"].as_object().unwrap();
    assert_eq!(
        subtypes.keys().collect::<Vec<_>>(),
        native.keys().collect::<Vec<_>>(),
        "latency subtypes of {what}"
    );
    for (subtype, mut values) in native {
        values.sort_unstable();
        let h = &got["subtypes"][&subtype]["histogram"];
        let first = bucket(values[0]);
        let last = bucket(*values.last().unwrap());
        let mut counts = vec![0u64; (last - first + 1) as usize];
        for &v in &values {
            counts[(bucket(v) - first) as usize] += 1;
        }
        let want = json!({"count": values.len(), "min": values[0], "max": values.last(),
                          "sub_bits": 6, "first": first, "counts": counts});
        assert_eq!(*h, want, "latency histogram of {subtype:?} in {what}");
        for p in [50u64, 95, 99] {
            let rank = (p as usize * values.len()).div_ceil(100).max(1);
            let exact = values[rank - 1];
            let job = got["subtypes"][&subtype][format!("p{p}")].as_u64().unwrap();
            assert!(
                job.abs_diff(exact) <= exact / 128 + 1,
                "p{p} of {subtype:?} in {what}: job {job}, exact {exact}"
            );
        }
    }
}

fn native_wallclock_sum(events: &[&Value]) -> String {
    let mut count = 0u64;
    let mut sum = 0i64;
    for e in events {
        if let Some(v) = int(&e["tuning"]["wallclock"]) {
            count += 1;
            sum = sum.wrapping_add(v);
        }
    }
    format!(r#"{{"rows":{},"count":{count},"sum":{sum}}}"#, events.len())
}

/// Checks `got` (a result of `job`, over `events` of the given dcs) against
/// the native computation.
fn check_native(job: &str, got: &[u8], events: &[(&str, &Value)], what: &str) {
    let plain: Vec<&Value> = events.iter().map(|(_, e)| *e).collect();
    match job {
        "count" => assert_eq!(parse(got), native_count(&plain), "count of {what}"),
        "error-rate" => assert_eq!(
            text(got),
            native_error_rate_bytes(&native_error_rate(events)),
            "error-rate of {what}"
        ),
        "latency" => check_latency(&parse(got), native_latency_values(&plain), what),
        "wallclock-sum" => assert_eq!(
            text(got),
            native_wallclock_sum(&plain),
            "wallclock-sum of {what}"
        ),
        _ => unreachable!(),
    }
}

/// The dictionary of the epoch's `STR` column at `path`; `None` when its
/// strings are plain. Panics when there is no such column.
fn str_dictionary<'a>(
    epoch: &epochd_decode::Epoch<'a>,
    path: &str,
) -> Option<epochd_decode::Blobs<'a>> {
    let columns = epoch.columns().unwrap();
    let mut str_columns = columns
        .iter()
        .filter(|c| c.type_() == epochd_decode::ValueType::Str);
    let col = str_columns.find(|c| c.path() == Some(path));
    col.unwrap_or_else(|| panic!("no STR column {path}")).dict()
}

#[test]
fn every_language_agrees_with_rust_and_native_and_every_merge_obeys_its_laws() {
    let f = fixture();
    let epochs = f.epochs();
    let events: BTreeMap<(u64, String, u32), Vec<Value>> = f
        .notices
        .iter()
        .map(|n| ((n.epoch, n.dc.clone(), n.seq), f.events(n)))
        .collect();
    let events_of = |n: &CommitNotice| &events[&(n.epoch, n.dc.clone(), n.seq)];
    let unicode = events
        .values()
        .flatten()
        .filter(|e| e["page"].as_str().is_some_and(|s| !s.is_ascii()))
        .count();
    assert!(unicode >= 6, "the odd events reached the jobs ({unicode})");
    // The epochs meant to stretch the jobs are what they say: one commit
    // past a window of the SDKs' row readers (8192 rows), and one with more
    // (type, subtype) pairs than the count table takes (65536).
    let fra1 = f.decoded(f.notices.iter().find(|n| n.dc == "fra1").unwrap());
    let strings = |path: &str| {
        let dict = str_dictionary(&fra1.view(), path).expect("dictionary-coded");
        dict.offsets().unwrap().len() - 1
    };
    let pairs = (strings("type") + 1) * (strings("subtype") + 1);
    assert!(pairs > 1 << 16, "{pairs} (type, subtype) pairs");
    let big = events.values().map(Vec::len).max();
    assert!(big > Some(8192), "the largest commit has {big:?} events");
    let mut rng = Rng(0x5eed_c0de_2024_0005);
    let mut checked: BTreeMap<String, Vec<String>> = BTreeMap::new();

    for (lang, job, name) in &f.names {
        let mut merges = 0usize;
        // Results equal to Rust's only after rewriting their floats.
        let mut float_forms = 0usize;
        let has_merge = f.daemon.registry().get(name).unwrap().module.has_merge();
        for (&epoch, commits) in &epochs {
            let results: Vec<Vec<u8>> = commits.iter().map(|n| f.result(name, n)).collect();
            // 1. Per commit: the same bytes as Rust's module; 2. Rust's (and
            //    the wat job's) equal the native computation.
            for (n, got) in commits.iter().zip(&results) {
                let what = format!("{name} on {}/{}/{}", n.epoch, n.dc, n.seq);
                if lang == "rust" || lang == "wat" {
                    let evs: Vec<(&str, &Value)> =
                        events_of(n).iter().map(|e| (n.dc.as_str(), e)).collect();
                    check_native(job, got, &evs, &what);
                } else {
                    let rust = f.result(&format!("{job}-rust"), n);
                    let same = same_result(got, &rust);
                    float_forms += usize::from(same == Some(false));
                    assert!(
                        same.is_some(),
                        "{what}: differs from Rust:\n  {lang}: {}\n  rust: {}",
                        text(got),
                        text(&rust)
                    );
                }
            }
            if !has_merge {
                continue;
            }
            // 3. The merge laws. Identity, both sides, on every result.
            for r in &results {
                assert_eq!(
                    text(&f.merge(name, epoch, r, b"")),
                    text(r),
                    "{name}: merge(a, \"\") != a"
                );
                assert_eq!(
                    text(&f.merge(name, epoch, b"", r)),
                    text(r),
                    "{name}: merge(\"\", a) != a"
                );
            }
            assert_eq!(
                text(&f.merge(name, epoch, b"", b"")),
                "",
                "{name}: merge(\"\", \"\") != \"\""
            );
            // The daemon's fold, (dc, seq) order.
            let folded = f.fold(name, epoch, &results);
            // Associativity on random triples (repeats allowed).
            if results.len() >= 2 {
                for _ in 0..2 {
                    let [a, b, c] = [0; 3].map(|_| &results[rng.below(results.len())]);
                    let left = f.merge(name, epoch, &f.merge(name, epoch, a, b), c);
                    let right = f.merge(name, epoch, a, &f.merge(name, epoch, b, c));
                    assert_eq!(
                        text(&left),
                        text(&right),
                        "{name}: ((a·b)·c) != (a·(b·c)) in epoch {epoch}"
                    );
                    merges += 4;
                }
            }
            // Random groupings and orders: merge two random neighbours of a
            // shuffled list until one is left.
            for _ in 0..GROUPINGS {
                let mut parts = results.clone();
                rng.shuffle(&mut parts);
                while parts.len() > 1 {
                    let i = rng.below(parts.len() - 1);
                    let b = parts.remove(i + 1);
                    parts[i] = f.merge(name, epoch, &parts[i], &b);
                    merges += 1;
                }
                assert_eq!(
                    text(&parts[0]),
                    text(&folded),
                    "{name}: a random grouping of epoch {epoch} differs from the (dc, seq) fold"
                );
            }
            // The fold equals the native computation over the whole epoch
            // (Rust and wat), or Rust's fold (other languages).
            let what = format!("{name}'s merge of epoch {epoch} ({} dcs)", commits.len());
            if lang == "rust" || lang == "wat" {
                let all: Vec<(&str, &Value)> = commits
                    .iter()
                    .flat_map(|n| events_of(n).iter().map(|e| (n.dc.as_str(), e)))
                    .collect();
                check_native(job, &folded, &all, &what);
            } else {
                let rust_name = format!("{job}-rust");
                let rust: Vec<Vec<u8>> = commits.iter().map(|n| f.result(&rust_name, n)).collect();
                let rust = f.fold(&rust_name, epoch, &rust);
                let same = same_result(&folded, &rust);
                float_forms += usize::from(same == Some(false));
                assert!(
                    same.is_some(),
                    "{what}: differs from Rust's:\n  {lang}: {}\n  rust: {}",
                    text(&folded),
                    text(&rust)
                );
            }
            merges += results.len() - 1;
        }
        let path = match lang.as_str() {
            "rust" => format!("wasm-jobs/out/{job}.wasm"),
            "wat" => "wasm-jobs/wat/wallclock-sum.wat".to_owned(),
            l => format!("wasm-jobs/out/{l}/{job}.wasm"),
        };
        let against = match lang.as_str() {
            "rust" | "wat" => "native",
            _ => "rust (bytes)",
        };
        checked.entry(lang.clone()).or_default().push(format!(
            "{job} ({path}): {} commits and {} merged epochs vs {against}{}, {merges} merges{}",
            f.notices.len(),
            if has_merge { epochs.len() } else { 0 },
            if float_forms > 0 {
                format!(" ({float_forms} equal only after rewriting floats)")
            } else {
                String::new()
            },
            if has_merge { "" } else { " (no merge)" }
        ));
    }
    eprintln!("conformance: modules checked, per language:");
    for (lang, jobs) in &checked {
        for j in jobs {
            eprintln!("  {lang:<6} {j}");
        }
    }
}

/// Events whose `type` and `subtype` are mostly distinct in their first
/// hundreds, so the decoder stores both as plain strings (no dictionary),
/// then repeat a few values: over 20k rows, past two windows of the SDKs'
/// row readers, WEB events with errors among them, a missing subtype in
/// every seventh event.
fn plain_string_events(t: u64) -> Vec<Value> {
    (0..20_000u64)
        .map(|i| {
            let type_ = match (i % 5, i < 400) {
                (0, _) => "WEB".to_owned(),
                (_, true) => format!("T{i:03}"),
                (_, false) => format!("T{:03}", i % 13),
            };
            let subtype = if i < 400 { i } else { i % 17 };
            let mut e = json!({"timestamp": t as f64 + 0.5, "type": type_, "dc": "fra1",
                               "tuning": {"wallclock": (i * 37) % 1000,
                                          "status": if i % 3 == 0 { 500 } else { 200 }}});
            if i % 7 != 0 {
                e["subtype"] = json!(format!("s{subtype:03}"));
            }
            e
        })
        .collect()
}

/// The store files each (type, subtype) in chunks of its own, so `type` and
/// `subtype` always reach jobs dictionary-coded; a decoder given one chunk
/// of mostly distinct ones stores them as plain strings, and every SDK then
/// interns them as it reads. Every language's module of each reference job,
/// run by the job runtime on such an epoch, gives the Rust module's bytes,
/// and those equal the native computation.
#[test]
fn every_language_agrees_on_plain_string_columns() {
    let t = 1_700_000_000;
    let events = plain_string_events(t);
    let raw: Vec<u8> = events
        .iter()
        .flat_map(|e| rmp_serde::to_vec_named(e).unwrap())
        .collect();
    let meta = EpochMeta {
        epoch: t,
        dc: "fra1".into(),
        seq: 0,
    };
    let epoch = epochd_decode::decode_raw(meta, &[raw]).unwrap();
    let view = epoch.view();
    for path in ["type", "subtype"] {
        assert!(
            str_dictionary(&view, path).is_none(),
            "{path} is dictionary-coded"
        );
    }
    assert_eq!(view.rows() as usize, events.len());

    let runtime = epochd_jobs::Runtime::new(epochd_jobs::RuntimeConfig::default()).unwrap();
    let limits = epochd_jobs::RunLimits::default();
    for job in REFERENCE_JOBS {
        let mut rust: Option<Vec<u8>> = None;
        for (lang, path) in modules_of(job) {
            let module = runtime.compile(&std::fs::read(&path).unwrap()).unwrap();
            let report = module.run(&limits, &epoch, b"");
            let got = report
                .outcome
                .unwrap_or_else(|e| panic!("{job} in {lang} failed: {e}"));
            match &rust {
                None => {
                    let with_dc: Vec<(&str, &Value)> = events.iter().map(|e| ("fra1", e)).collect();
                    check_native(job, &got, &with_dc, "the plain-strings epoch");
                    rust = Some(got);
                }
                Some(want) => assert!(
                    same_result(&got, want).is_some(),
                    "{job} in {lang} differs from Rust:\n  rust: {}\n  {lang}: {}",
                    text(want),
                    text(&got)
                ),
            }
        }
    }
}
