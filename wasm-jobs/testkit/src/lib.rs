//! Native test helpers of the jobs: epochs of the reference workload
//! (daemon/workload, specified in docs/WORKLOAD.md), events with the awkward
//! cases, random splits, and ABI v1's merge laws. Native only (it runs the
//! jobs through `epochd_job::testing`); empty on wasm32.
#![cfg(not(target_arch = "wasm32"))]

use std::collections::BTreeMap;

pub use epochd_job::testing::StrCoding;
use epochd_job::testing::{self, MockEpoch};
use epochd_job::JobResult;
use epochd_workload::{Workload, WorkloadConfig};
use serde_json::{json, Value};

pub use epochd_job::testing::Outcome;

pub use epochd_job::testing::Rng;

/// The events of one second of the reference workload, as JSON values,
/// grouped by dc (in event order).
pub fn reference_epoch(seed: u64, epoch: u64, count: usize) -> BTreeMap<String, Vec<Value>> {
    let workload = Workload::new(WorkloadConfig {
        seed,
        ..WorkloadConfig::default()
    });
    let mut by_dc: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut buf = Vec::new();
    for event in workload.epoch(epoch, count) {
        buf.clear();
        event.write_json(&mut buf);
        let value: Value = serde_json::from_slice(&buf).expect("the workload writes JSON");
        by_dc.entry(event.dc().to_owned()).or_default().push(value);
    }
    by_dc
}

/// Events with the cases the reference workload never has: missing and
/// non-string `type`/`subtype`, unicode, float, negative and string
/// latencies and statuses, nulls, and an empty event.
pub fn edge_events() -> Vec<Value> {
    vec![
        json!({"type": "WEB", "subtype": "app", "tuning": {"wallclock": 120, "status": 200}}),
        json!({"type": "WEB", "subtype": "app", "tuning": {"wallclock": 99.9, "status": 503}}),
        json!({"type": "WEB", "subtype": "app", "tuning": {"wallclock": -5, "status": 500}}),
        json!({"type": "WEB", "subtype": "api", "tuning": {"wallclock": "slow", "status": "500"}}),
        json!({"type": "WEB", "subtype": "ünïcödé ✓", "tuning": {"wallclock": 70000, "status": 599}}),
        json!({"type": "WEB", "tuning": {"wallclock": 10, "status": 502}}),
        json!({"type": "WEB", "subtype": 7, "tuning": {"wallclock": 11}}),
        json!({"type": "AV", "subtype": "availability_cluster", "latency_ms": 1.5}),
        json!({"type": "AV", "tuning": {"status": 500}}),
        json!({"subtype": "orphan", "tuning": {"wallclock": 3}}),
        json!({"type": null, "subtype": null, "tuning": null}),
        json!({"type": "web", "subtype": "app", "tuning": {"status": 500, "wallclock": 1e300}}),
        json!({}),
    ]
}

/// Splits `events` into `parts` runs of random lengths (some may be empty).
pub fn random_split(events: &[Value], parts: usize, rng: &mut Rng) -> Vec<Vec<Value>> {
    let mut cuts: Vec<usize> = (1..parts)
        .map(|_| rng.below(events.len() as u64 + 1) as usize)
        .collect();
    cuts.sort_unstable();
    let mut out = Vec::new();
    let mut start = 0;
    for cut in cuts.into_iter().chain([events.len()]) {
        out.push(events[start..cut].to_vec());
        start = cut;
    }
    out
}

/// Runs a job over `events` as one commit of (`epoch`, `dc`) and returns
/// its result, panicking with the failure if it failed.
///
/// The strings are coded as the daemon codes them; the job also runs with
/// every string column dictionary-coded and with none, and must give the
/// same bytes each time (jobs take a faster path over dictionary ids).
pub fn run<F, R>(job: F, epoch: i64, dc: &str, events: Vec<Value>) -> Vec<u8>
where
    F: Fn(&epochd_job::Epoch) -> R,
    R: JobResult,
{
    let result = run_coded(&job, epoch, dc, events.clone(), StrCoding::Auto);
    for coding in [StrCoding::Dictionary, StrCoding::Plain] {
        assert_eq!(
            String::from_utf8_lossy(&run_coded(&job, epoch, dc, events.clone(), coding)),
            String::from_utf8_lossy(&result),
            "the job's result with {coding:?} strings differs from the daemon's coding"
        );
    }
    result
}

/// Runs a job over `events` as one commit of (`epoch`, `dc`), its string
/// columns coded as `coding` says, and returns its result, panicking with
/// the failure if it failed.
pub fn run_coded<F, R>(
    job: F,
    epoch: i64,
    dc: &str,
    events: Vec<Value>,
    coding: StrCoding,
) -> Vec<u8>
where
    F: FnOnce(&epochd_job::Epoch) -> R,
    R: JobResult,
{
    MockEpoch::builder(epoch, dc)
        .events(events)
        .strings(coding)
        .build()
        .run(job)
        .unwrap()
}

/// Merges two results, panicking if the merge fails.
pub fn merge2<F, R>(merge: F, a: &[u8], b: &[u8]) -> Vec<u8>
where
    F: FnOnce(&[u8], &[u8]) -> R,
    R: JobResult,
{
    testing::merge(merge, a, b).unwrap()
}

/// Checks ABI v1's merge laws on `results` and returns their merge:
/// folding from the left, from the right and in a random tree give the
/// same bytes (associativity), and the empty result is an identity on every
/// partial merge.
pub fn check_merge_laws<F, R>(merge: F, results: &[Vec<u8>], rng: &mut Rng) -> Vec<u8>
where
    F: Fn(&[u8], &[u8]) -> R + Copy,
    R: JobResult,
{
    assert!(!results.is_empty());
    let left = results[1..]
        .iter()
        .fold(results[0].clone(), |acc, r| merge2(merge, &acc, r));
    let right = results[..results.len() - 1]
        .iter()
        .rev()
        .fold(results[results.len() - 1].clone(), |acc, r| {
            merge2(merge, r, &acc)
        });
    assert_eq!(
        String::from_utf8_lossy(&left),
        String::from_utf8_lossy(&right),
        "merge is not associative (left fold vs right fold)"
    );
    // A random tree: merge random neighbours until one is left.
    let mut items: Vec<Vec<u8>> = results.to_vec();
    while items.len() > 1 {
        let i = rng.below(items.len() as u64 - 1) as usize;
        let b = items.remove(i + 1);
        let a = std::mem::take(&mut items[i]);
        let m = merge2(merge, &a, &b);
        for x in [&a, &b, &m] {
            assert_eq!(&merge2(merge, x, b""), x, "merge(x, \"\") != x");
            assert_eq!(&merge2(merge, b"", x), x, "merge(\"\", x) != x");
        }
        items[i] = m;
    }
    assert_eq!(
        String::from_utf8_lossy(&items[0]),
        String::from_utf8_lossy(&left),
        "merge is not associative (random tree vs left fold)"
    );
    left
}
