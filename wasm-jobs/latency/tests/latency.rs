//! `latency` against an independent computation over the same events, and
//! its merge laws.

use std::collections::BTreeMap;

use epochd_job::sketch::{LogHistogram, RELATIVE_ERROR};
use epochd_job::testing::MockEpoch;
use latency::{merge, run, Latency};
use serde_json::{json, Value};
use testkit::{check_merge_laws, edge_events, random_split, reference_epoch, Rng};

/// The values per subtype, straight from the JSON events.
fn values(events: &[Value], field: &str) -> BTreeMap<String, Vec<u64>> {
    let mut out: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for e in events {
        let Some(subtype) = e.get("subtype").and_then(Value::as_str) else {
            continue;
        };
        let v = field.split('.').try_fold(e, |v, k| v.get(k));
        let v = match v {
            Some(Value::Number(n)) if n.is_i64() => u64::try_from(n.as_i64().unwrap()).ok(),
            Some(Value::Number(n)) if n.is_f64() => n
                .as_f64()
                .filter(|f| f.is_finite() && *f >= 0.0)
                .map(|f| f as u64),
            _ => None,
        };
        if let Some(v) = v {
            out.entry(subtype.to_owned()).or_default().push(v);
        }
    }
    out
}

/// Checks a result against the exact values.
fn check(result: &Latency, mut exact: BTreeMap<String, Vec<u64>>) {
    assert_eq!(
        result.subtypes.keys().collect::<Vec<_>>(),
        exact.keys().collect::<Vec<_>>()
    );
    for (subtype, vs) in exact.iter_mut() {
        vs.sort_unstable();
        let s = &result.subtypes[subtype];
        assert_eq!(s.histogram.count(), vs.len() as u64);
        assert_eq!(s.histogram.min(), vs.first().copied());
        assert_eq!(s.histogram.max(), vs.last().copied());
        let mut h = LogHistogram::new();
        vs.iter().for_each(|v| h.record(*v));
        assert_eq!(s.histogram, h, "{subtype}: histogram");
        for (p, got) in [(50, s.p50), (95, s.p95), (99, s.p99)] {
            let rank = (vs.len() * p).div_ceil(100).max(1);
            let want = vs[rank - 1];
            let err = got.abs_diff(want) as f64 / want.max(1) as f64;
            assert!(
                err <= RELATIVE_ERROR,
                "{subtype} p{p}: {got} vs exact {want}"
            );
        }
    }
}

fn parse(bytes: &[u8]) -> Latency {
    serde_json::from_slice(bytes).expect("a Latency result")
}

#[test]
fn reference_epochs_match_exact_percentiles() {
    for (seed, epoch) in [(1, 1_700_000_000), (4, 1_700_000_050)] {
        for (dc, events) in reference_epoch(seed, epoch, 5000) {
            let got = parse(&testkit::run(run, epoch as i64, &dc, events.clone()));
            assert_eq!(got.field, "tuning.wallclock");
            check(&got, values(&events, "tuning.wallclock"));
        }
    }
}

#[test]
fn edge_cases_match() {
    let events = edge_events();
    let got = parse(&testkit::run(run, 1, "ams4", events.clone()));
    check(&got, values(&events, "tuning.wallclock"));
    // -5 and "slow" are ignored, 99.9 counts as 99, 1e300 saturates.
    assert_eq!(got.subtypes["app"].histogram.count(), 3);
    assert_eq!(got.subtypes["app"].histogram.min(), Some(99));
}

#[test]
fn the_config_names_another_field() {
    let events: Vec<Value> = reference_epoch(1, 1_700_000_000, 2000)
        .into_values()
        .flatten()
        .collect();
    let epoch = MockEpoch::builder(1_700_000_000, "ams4")
        .events(events.clone())
        .config(" latency_ms\n")
        .build();
    let got = parse(&epoch.run(run).unwrap());
    assert_eq!(got.field, "latency_ms");
    check(&got, values(&events, "latency_ms"));
    assert!(got.subtypes.contains_key("availability_cluster"));
}

#[test]
fn result_format() {
    let events = vec![
        json!({"subtype": "app", "tuning": {"wallclock": 100}}),
        json!({"subtype": "app", "tuning": {"wallclock": 300}}),
        json!({"subtype": "api", "tuning": {"wallclock": 5}}),
    ];
    let got = testkit::run(run, 1, "ams4", events);
    let want = concat!(
        r#"{"field":"tuning.wallclock","subtypes":{"#,
        r#""api":{"p50":5,"p95":5,"p99":5,"histogram":{"count":1,"min":5,"max":5,"sub_bits":6,"first":5,"counts":[1]}},"#,
        r#""app":{"p50":100,"p95":300,"p99":300,"histogram":{"count":2,"min":100,"max":300,"sub_bits":6,"first":100,"counts":[1,"#
    );
    let text = std::str::from_utf8(&got).unwrap();
    assert!(text.starts_with(want), "{text}");
    // 300 = 0b100101100: leading bit 8, 300 >> 2 = 75, bucket 3 * 64 + 11 = 203.
    assert!(text.ends_with(r#",1]}}}}"#), "{text}");
    assert_eq!(
        testkit::run(run, 1, "x", vec![]),
        br#"{"field":"tuning.wallclock","subtypes":{}}"#
    );
}

#[test]
fn merging_random_splits_gives_the_whole_and_obeys_the_laws() {
    let mut rng = Rng::new(17);
    let all = reference_epoch(9, 1_700_000_200, 3000);
    for _ in 0..4 {
        let mut results = Vec::new();
        let mut everything = Vec::new();
        for (dc, events) in &all {
            let parts = 1 + rng.below(4) as usize;
            for part in random_split(events, parts, &mut rng) {
                everything.extend(part.iter().cloned());
                results.push(testkit::run(run, 1_700_000_200, dc, part));
            }
        }
        let merged = parse(&check_merge_laws(merge, &results, &mut rng));
        check(&merged, values(&everything, "tuning.wallclock"));
        // Exactly what one run over everything gives.
        let whole = parse(&testkit::run(run, 1_700_000_200, "all", everything));
        assert_eq!(merged, whole);
    }
}

#[test]
fn merging_different_fields_fails() {
    let a = br#"{"field":"a","subtypes":{}}"#;
    let b = br#"{"field":"b","subtypes":{}}"#;
    let out = epochd_job::testing::merge(merge, a, b);
    assert_eq!(
        out.failure.as_deref(),
        Some(r#"cannot merge latencies of "a" and "b""#)
    );
}
