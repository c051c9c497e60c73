use epochd_job::sketch::{bucket_of, LogHistogram, RELATIVE_ERROR};

use crate::Rng;

/// Latency-like values: lognormal-ish, a few zeros, a few huge.
fn values(rng: &mut Rng, n: usize) -> Vec<u64> {
    (0..n)
        .map(|_| match rng.below(100) {
            0 => 0,
            1 => rng.next_u64() >> rng.below(64),
            _ => {
                let exp = rng.below(1200) as f64 / 100.0;
                (2f64.powf(exp) * (1.0 + rng.below(1000) as f64 / 1000.0)) as u64
            }
        })
        .collect()
}

fn hist(vs: &[u64]) -> LogHistogram {
    let mut h = LogHistogram::new();
    for v in vs {
        h.record(*v);
    }
    h
}

fn merged(a: &LogHistogram, b: &LogHistogram) -> LogHistogram {
    let mut m = a.clone();
    m.merge(b);
    m
}

fn json(h: &LogHistogram) -> String {
    serde_json::to_string(h).unwrap()
}

#[test]
fn merge_is_associative_with_identity_on_random_splits() {
    let mut rng = Rng::new(42);
    for round in 0..50 {
        let n = 1 + rng.below(5000) as usize;
        let vs = values(&mut rng, n);
        let cut1 = rng.below(vs.len() as u64 + 1) as usize;
        let cut2 = cut1 + rng.below((vs.len() - cut1) as u64 + 1) as usize;
        let (a, b, c) = (hist(&vs[..cut1]), hist(&vs[cut1..cut2]), hist(&vs[cut2..]));
        let left = merged(&merged(&a, &b), &c);
        let right = merged(&a, &merged(&b, &c));
        assert_eq!(json(&left), json(&right), "round {round}");
        assert_eq!(json(&merged(&b, &a)), json(&merged(&a, &b)));
        let empty = LogHistogram::new();
        assert_eq!(json(&merged(&a, &empty)), json(&a));
        assert_eq!(json(&merged(&empty, &a)), json(&a));
        // The merge of a split is the histogram of the whole.
        assert_eq!(left, hist(&vs), "round {round}");
    }
}

#[test]
fn percentiles_are_within_the_documented_error() {
    let mut rng = Rng::new(9);
    for _ in 0..20 {
        let n = 1 + rng.below(20_000) as usize;
        let mut vs = values(&mut rng, n);
        let h = hist(&vs);
        vs.sort_unstable();
        for p in [0, 1, 25, 50, 90, 95, 99, 100] {
            let rank = ((vs.len() as u128 * p as u128).div_ceil(100) as usize).max(1);
            let exact = vs[rank - 1];
            let got = h.percentile(p).unwrap();
            let err = got.abs_diff(exact) as f64 / exact.max(1) as f64;
            assert!(err <= RELATIVE_ERROR, "p{p}: {got} vs {exact}");
            if exact < 128 {
                assert_eq!(got, exact, "exact below 128");
            }
            // Same bucket as the exact value (or clamped to min/max).
            assert!(bucket_of(got) == bucket_of(exact) || got == vs[0] || got == vs[vs.len() - 1]);
        }
        assert_eq!(h.min(), Some(vs[0]));
        assert_eq!(h.max(), vs.last().copied());
        assert_eq!(h.count(), vs.len() as u64);
    }
}

#[test]
fn empty_histogram() {
    let h = LogHistogram::new();
    assert!(h.is_empty());
    assert_eq!(h.percentile(50), None);
    assert_eq!(
        json(&h),
        r#"{"count":0,"min":null,"max":null,"sub_bits":6,"first":0,"counts":[]}"#
    );
    assert_eq!(serde_json::from_str::<LogHistogram>(&json(&h)).unwrap(), h);
}

#[test]
fn json_format_is_stable() {
    let h = hist(&[3, 3, 5, 200]);
    // 200: leading bit 7, 200 >> 1 = 100 -> bucket (1 + 1) * 64 + 36 = 164.
    assert_eq!(bucket_of(200), 164);
    let s = json(&h);
    let mut counts = vec![0u64; 162];
    counts[0] = 2;
    counts[2] = 1;
    counts[161] = 1;
    let want = serde_json::json!({
        "count": 4, "min": 3, "max": 200, "sub_bits": 6, "first": 3, "counts": counts
    });
    assert_eq!(serde_json::from_str::<serde_json::Value>(&s).unwrap(), want);
    assert_eq!(serde_json::from_str::<LogHistogram>(&s).unwrap(), h);
}

#[test]
fn inconsistent_json_is_refused() {
    for bad in [
        r#"{"count":1,"min":1,"max":1,"sub_bits":5,"first":1,"counts":[1]}"#,
        r#"{"count":2,"min":1,"max":1,"sub_bits":6,"first":1,"counts":[1]}"#,
        r#"{"count":1,"min":null,"max":1,"sub_bits":6,"first":1,"counts":[1]}"#,
        r#"{"count":1,"min":1,"max":1,"sub_bits":6,"first":4000,"counts":[1]}"#,
        r#"{"count":1,"min":1,"max":1,"sub_bits":6,"first":1,"counts":[1],"x":0}"#,
    ] {
        assert!(serde_json::from_str::<LogHistogram>(bad).is_err(), "{bad}");
    }
}
