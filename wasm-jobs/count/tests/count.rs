//! `count` against an independent computation over the same events, and its
//! merge laws.

use std::collections::BTreeMap;

use count::{merge, run, Count, Counts};
use serde_json::{json, Value};
use testkit::{check_merge_laws, edge_events, random_split, reference_epoch, Rng};

/// Counts straight from the JSON events.
fn expected(events: &[Value]) -> Counts {
    let mut map: BTreeMap<(Option<String>, Option<String>), u64> = BTreeMap::new();
    for e in events {
        let t = e.get("type").and_then(Value::as_str).map(str::to_owned);
        let s = e.get("subtype").and_then(Value::as_str).map(str::to_owned);
        *map.entry((t, s)).or_default() += 1;
    }
    Counts {
        events: events.len() as u64,
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

fn parse(bytes: &[u8]) -> Counts {
    serde_json::from_slice(bytes).expect("a Counts result")
}

#[test]
fn reference_epochs_match_an_independent_count() {
    for (seed, epoch) in [(1, 1_700_000_000), (2, 1_700_000_001), (3, 1_700_000_002)] {
        for (dc, events) in reference_epoch(seed, epoch, 4000) {
            let got = testkit::run(run, epoch as i64, &dc, events.clone());
            let want = expected(&events);
            assert_eq!(parse(&got), want, "{dc} {epoch}");
            assert_eq!(got, serde_json::to_vec(&want).unwrap(), "canonical bytes");
        }
    }
}

#[test]
fn edge_cases_match() {
    let events = edge_events();
    let got = parse(&testkit::run(run, 1, "ams4", events.clone()));
    assert_eq!(got, expected(&events));
    // Missing or non-string fields are null, sorted first.
    assert_eq!(got.counts[0].type_, None);
}

#[test]
fn result_format() {
    let events = vec![
        json!({"type": "WEB", "subtype": "app"}),
        json!({"type": "WEB", "subtype": "app"}),
        json!({"type": "AV", "subtype": "availability_cluster"}),
        json!({"type": "WEB"}),
    ];
    let got = testkit::run(run, 1, "ams4", events);
    assert_eq!(
        std::str::from_utf8(&got).unwrap(),
        r#"{"events":4,"counts":[{"type":"AV","subtype":"availability_cluster","count":1},{"type":"WEB","subtype":null,"count":1},{"type":"WEB","subtype":"app","count":2}]}"#
    );
    let empty = testkit::run(run, 1, "ams4", vec![]);
    assert_eq!(empty, br#"{"events":0,"counts":[]}"#);
}

#[test]
fn merging_random_splits_gives_the_whole_and_obeys_the_laws() {
    let mut rng = Rng::new(5);
    let all = reference_epoch(7, 1_700_000_100, 3000);
    for round in 0..5 {
        let mut results = Vec::new();
        let mut everything = Vec::new();
        for (dc, events) in &all {
            let parts = 1 + rng.below(4) as usize;
            for part in random_split(events, parts, &mut rng) {
                everything.extend(part.iter().cloned());
                results.push(testkit::run(run, 1_700_000_100, dc, part));
            }
        }
        if round == 0 {
            results.push(testkit::run(run, 1, "x", edge_events()));
            everything.extend(edge_events());
        }
        let merged = check_merge_laws(merge, &results, &mut rng);
        assert_eq!(parse(&merged), expected(&everything));
    }
}

#[test]
fn merge_refuses_what_is_not_a_count() {
    let out = epochd_job::testing::merge(merge, b"{\"events\":1}", b"{\"events\":1,\"counts\":[]}");
    assert!(!out.is_ok());
    assert!(out.failure.unwrap().starts_with("JSON: "));
}
