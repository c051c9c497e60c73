//! The proportions of docs/WORKLOAD.md, and configs that change them.

use std::collections::HashMap;

use epochd_workload::{ConfigError, Kind, Workload, WorkloadConfig};

use crate::support::{reference, EPOCH};

const N: usize = 20_000;

fn assert_share(what: &str, hits: usize, total: usize, expect: f64, tolerance: f64) {
    let share = hits as f64 / total as f64;
    assert!(
        (share - expect).abs() <= tolerance,
        "{what}: share {share:.4}, expected {expect:.4} +- {tolerance}"
    );
}

#[test]
fn web_and_av_are_mixed_40_60() {
    let web = reference()
        .epoch(EPOCH, N)
        .filter(|e| e.kind() == Kind::Web)
        .count();
    // Binomial sd at 20k events is 0.0035; allow ~4 sd.
    assert_share("WEB", web, N, 0.4, 0.015);
}

#[test]
fn data_centers_follow_their_weights() {
    let mut per_dc: HashMap<&str, usize> = HashMap::new();
    let w = reference();
    for e in w.epoch(EPOCH, N) {
        *per_dc.entry(e.dc()).or_default() += 1;
    }
    assert_eq!(per_dc.len(), 4);
    for (dc, weight) in [("ams4", 3.0), ("ams5", 2.0), ("lhr4", 1.0), ("fra3", 1.0)] {
        assert_share(dc, per_dc[dc], N, weight / 7.0, 0.015);
    }
}

#[test]
fn web_subtypes_and_statuses_follow_the_reference() {
    let w = reference();
    let web: Vec<_> = w
        .epoch(EPOCH, N)
        .filter(|e| e.kind() == Kind::Web)
        .collect();
    let count = |subtype: &str| web.iter().filter(|e| e.subtype() == subtype).count();
    assert_share("app", count("app"), web.len(), 3.0 / 8.0, 0.025);
    assert_share("ajax", count("ajax"), web.len(), 2.0 / 8.0, 0.025);
    for subtype in ["secure", "api", "mobile"] {
        assert_share(subtype, count(subtype), web.len(), 1.0 / 8.0, 0.02);
    }
    let ok = web.iter().filter(|e| e.status() == Some(200)).count();
    assert_share("status 200", ok, web.len(), 0.97, 0.008);
    let errors = web.iter().filter(|e| e.status() >= Some(500)).count();
    assert!(errors > 0, "the error-rate job needs some 5xx");

    let av: Vec<_> = w
        .epoch(EPOCH, 2_000)
        .filter(|e| e.kind() == Kind::Av)
        .collect();
    assert!(av.iter().all(|e| e.subtype() == "availability_cluster"));
    assert!(av
        .iter()
        .all(|e| e.status().is_none() && e.wallclock_ms().is_none()));
}

#[test]
fn wallclock_has_a_median_near_150_ms() {
    let mut wall: Vec<u64> = reference()
        .epoch(EPOCH, N)
        .filter_map(|e| e.wallclock_ms())
        .collect();
    wall.sort_unstable();
    let median = wall[wall.len() / 2];
    assert!(
        (135..=165).contains(&median),
        "median wallclock {median} ms"
    );
}

#[test]
fn a_custom_config_is_respected() {
    let w = Workload::new(WorkloadConfig {
        seed: 7,
        dcs: vec![("sin1".to_string(), 1), ("unused".to_string(), 0)],
        web_share: 1.0,
    });
    for e in w.epoch(EPOCH, 1_000) {
        assert_eq!((e.kind(), e.dc()), (Kind::Web, "sin1"));
        assert!(e.host().starts_with("app-") && e.host().contains(".sin1.prod."));
    }
    let av_only = Workload::new(WorkloadConfig {
        web_share: 0.0,
        ..WorkloadConfig::default()
    });
    assert!(av_only.epoch(EPOCH, 1_000).all(|e| e.kind() == Kind::Av));
}

#[test]
fn invalid_configs_are_rejected_with_a_reason() {
    let bad = |change: fn(&mut WorkloadConfig)| {
        let mut config = WorkloadConfig::default();
        change(&mut config);
        Workload::try_new(config).expect_err("an invalid config")
    };
    assert_eq!(bad(|c| c.dcs.clear()), ConfigError::NoDataCenter);
    assert_eq!(
        bad(|c| c.dcs.iter_mut().for_each(|d| d.1 = 0)),
        ConfigError::NoDataCenter
    );
    assert_eq!(bad(|c| c.dcs[1].0.clear()), ConfigError::EmptyDcName);
    assert_eq!(
        bad(|c| c.dcs.push(("ams4".to_string(), 1))),
        ConfigError::DuplicateDc("ams4".to_string())
    );
    assert!(matches!(
        bad(|c| c.web_share = 1.5),
        ConfigError::WebShare(_)
    ));
    assert!(matches!(
        bad(|c| c.web_share = f64::NAN),
        ConfigError::WebShare(_)
    ));
    let message = bad(|c| c.web_share = -0.1).to_string();
    assert!(message.contains("from 0 to 1"), "{message}");
}

#[test]
#[should_panic(expected = "invalid workload config")]
fn new_panics_on_an_invalid_config() {
    Workload::new(WorkloadConfig {
        dcs: Vec::new(),
        ..WorkloadConfig::default()
    });
}
