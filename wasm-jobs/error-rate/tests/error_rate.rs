//! `error-rate` against an independent computation over the same events,
//! and its merge laws.

use std::collections::BTreeMap;

use error_rate::{merge, run, ErrorRate};
use serde_json::{json, Value};
use testkit::{check_merge_laws, edge_events, random_split, reference_epoch, Rng};

/// (web, errors) straight from the JSON events.
fn counts(events: &[Value]) -> (u64, u64) {
    let web: Vec<&Value> = events
        .iter()
        .filter(|e| e.get("type").and_then(Value::as_str) == Some("WEB"))
        .collect();
    let errors = web
        .iter()
        .filter(|e| {
            e.get("tuning")
                .and_then(|t| t.get("status"))
                .and_then(Value::as_i64)
                .is_some_and(|s| s >= 500)
        })
        .count();
    (web.len() as u64, errors as u64)
}

fn parse(bytes: &[u8]) -> ErrorRate {
    serde_json::from_slice(bytes).expect("an ErrorRate result")
}

#[test]
fn reference_epochs_match_an_independent_count() {
    let mut some_errors = false;
    for (seed, epoch) in [(1, 1_700_000_000), (5, 1_700_000_077)] {
        for (dc, events) in reference_epoch(seed, epoch, 20_000) {
            let got = parse(&testkit::run(run, epoch as i64, &dc, events.clone()));
            let (web, errors) = counts(&events);
            some_errors |= errors > 0;
            assert_eq!((got.web, got.errors), (web, errors), "{dc}");
            assert_eq!(got.dcs.len(), 1);
            assert_eq!((got.dcs[&dc].web, got.dcs[&dc].errors), (web, errors));
            assert_eq!(got.rate, Some(errors as f64 / web as f64));
        }
    }
    assert!(some_errors, "the workload has some 500s");
}

#[test]
fn edge_cases_match() {
    let events = edge_events();
    let got = parse(&testkit::run(run, 1, "ams4", events.clone()));
    assert_eq!((got.web, got.errors), counts(&events));
    assert_eq!((got.web, got.errors), (7, 4));
}

#[test]
fn result_format() {
    let events = vec![
        json!({"type": "WEB", "tuning": {"status": 200}}),
        json!({"type": "WEB", "tuning": {"status": 500}}),
        json!({"type": "WEB", "tuning": {"status": 302}}),
        json!({"type": "WEB"}),
        json!({"type": "AV", "tuning": {"status": 500}}),
    ];
    let got = testkit::run(run, 1, "ams4", events);
    assert_eq!(
        std::str::from_utf8(&got).unwrap(),
        r#"{"web":4,"errors":1,"rate":0.25,"dcs":{"ams4":{"web":4,"errors":1,"rate":0.25}}}"#
    );
    let none = testkit::run(run, 1, "lhr4", vec![json!({"type": "AV"})]);
    assert_eq!(
        none,
        br#"{"web":0,"errors":0,"rate":null,"dcs":{"lhr4":{"web":0,"errors":0,"rate":null}}}"#
    );
}

#[test]
fn merging_random_splits_gives_the_whole_and_obeys_the_laws() {
    let mut rng = Rng::new(23);
    let all = reference_epoch(11, 1_700_000_300, 5000);
    for _ in 0..4 {
        let mut results = Vec::new();
        let mut per_dc: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for (dc, events) in &all {
            let parts = 1 + rng.below(4) as usize;
            for part in random_split(events, parts, &mut rng) {
                let (w, e) = counts(&part);
                let slot = per_dc.entry(dc.clone()).or_default();
                slot.0 += w;
                slot.1 += e;
                results.push(testkit::run(run, 1_700_000_300, dc, part));
            }
        }
        let merged = parse(&check_merge_laws(merge, &results, &mut rng));
        assert_eq!(merged.dcs.len(), all.len());
        for (dc, (w, e)) in &per_dc {
            assert_eq!((merged.dcs[dc].web, merged.dcs[dc].errors), (*w, *e));
        }
        let web: u64 = per_dc.values().map(|(w, _)| w).sum();
        let errors: u64 = per_dc.values().map(|(_, e)| e).sum();
        assert_eq!((merged.web, merged.errors), (web, errors));
        assert_eq!(merged.rate, Some(errors as f64 / web as f64));
    }
}
