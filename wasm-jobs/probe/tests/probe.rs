//! The probe runs over reference epochs and awkward events (its internal
//! cross-checks between APIs hold) and is deterministic.

use testkit::{edge_events, reference_epoch, StrCoding};

#[test]
fn probe_runs_and_is_deterministic() {
    for (dc, events) in reference_epoch(3, 1_700_000_000, 6000) {
        let a = testkit::run_coded(
            probe::run,
            1_700_000_000,
            &dc,
            events.clone(),
            StrCoding::Auto,
        );
        let b = testkit::run_coded(probe::run, 1_700_000_000, &dc, events, StrCoding::Auto);
        assert_eq!(a, b);
        let v: serde_json::Value = serde_json::from_slice(&a).unwrap();
        assert!(
            v["maps"]["experiments"]["entries"].as_u64().unwrap() > 0,
            "{v}"
        );
        assert!(
            v["strings"]["action.session_id"]["dictionary"].is_null(),
            "{v}"
        );
    }
    let out = testkit::run_coded(probe::run, 1, "edge", edge_events(), StrCoding::Auto);
    assert!(!out.is_empty());
    assert!(!testkit::run_coded(probe::run, 1, "empty", vec![], StrCoding::Auto).is_empty());
}
