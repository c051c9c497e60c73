use epochd_job::testing::MockEpoch;
use epochd_job::{Epoch, JobError, Value, ValueType, BLOCK};
use serde_json::json;

use crate::Rng;

/// Events where `n.int` is an integer in ~70% of events and a float in
/// ~10%, `b` a bool in half, `d` dense: more than two blocks of rows.
fn events(rows: usize) -> Vec<serde_json::Value> {
    let mut rng = Rng::new(7);
    (0..rows)
        .map(|i| {
            let mut e = json!({"d": i as i64 * 3 - 5});
            let r = rng.below(100);
            if r < 70 {
                e["n"] = json!({"int": rng.below(1_000_000) as i64 - 500_000});
            } else if r < 80 {
                e["n"] = json!({"int": rng.below(1000) as f64 / 8.0});
            }
            if rng.percent(50) {
                e["b"] = json!(rng.percent(30));
            }
            e
        })
        .collect()
}

fn expected(events: &[serde_json::Value], path: &[&str]) -> Vec<(u32, serde_json::Value)> {
    events
        .iter()
        .enumerate()
        .filter_map(|(row, e)| {
            let v = path.iter().try_fold(e, |v, k| v.get(k))?;
            Some((row as u32, v.clone()))
        })
        .collect()
}

#[test]
fn sparse_int_column_scans_across_blocks() {
    let evs = events(2 * BLOCK + 1234);
    let want: Vec<(u32, i64)> = expected(&evs, &["n", "int"])
        .into_iter()
        .filter_map(|(r, v)| Some((r, v.as_i64()?)))
        .collect();
    let epoch = MockEpoch::from_events(1, "ams4", evs);
    epoch
        .run(|e: &Epoch| -> Result<(), JobError> {
            let col = e.int("n.int").expect("an INT column");
            assert!(!col.is_dense());
            assert_eq!(col.len() as usize, want.len());
            assert_eq!(col.iter().collect::<Vec<_>>(), want);
            assert_eq!(col.iter().len(), want.len());
            assert_eq!(
                col.values().collect::<Vec<_>>(),
                want.iter().map(|(_, v)| *v).collect::<Vec<_>>()
            );
            assert_eq!(col.to_vec().len(), want.len());
            let mut seen = Vec::new();
            let mut blocks = 0;
            col.for_each_block(|b| {
                assert_eq!(b.first as usize, seen.len());
                assert_eq!(b.rows.len(), b.values.len());
                assert!(b.values.len() <= BLOCK);
                seen.extend(b.rows.iter().copied().zip(b.values.iter().copied()));
                blocks += 1;
            });
            assert_eq!(seen, want);
            assert!(blocks >= 2);
            assert_eq!(
                col.column().rows(),
                want.iter().map(|(r, _)| *r).collect::<Vec<_>>()
            );
            // Lookups by row.
            for (row, v) in want.iter().step_by(997) {
                assert_eq!(col.get(*row), Some(*v));
            }
            let absent = (0..e.rows()).find(|r| want.binary_search_by_key(r, |(r, _)| *r).is_err());
            assert_eq!(col.get(absent.expect("some row has no int")), None);
            assert_eq!(col.get(e.rows() + 10), None);
            Ok(())
        })
        .unwrap();
}

#[test]
fn dense_column_rows_are_value_indices() {
    let evs = events(BLOCK + 3);
    let epoch = MockEpoch::from_events(1, "ams4", evs);
    epoch
        .run(|e: &Epoch| -> Result<(), JobError> {
            let col = e.int("d").expect("d");
            assert!(col.is_dense());
            assert_eq!(col.len(), e.rows());
            for (i, (row, v)) in col.iter().enumerate() {
                assert_eq!(row as usize, i);
                assert_eq!(v, i as i64 * 3 - 5);
            }
            assert_eq!(col.column().index_of(17), Some(17));
            assert_eq!(col.get(8000), Some(8000 * 3 - 5));
            assert_eq!(col.get(e.rows()), None);
            Ok(())
        })
        .unwrap();
}

#[test]
fn a_field_with_two_types_has_two_columns() {
    let evs = events(3000);
    let floats: Vec<(u32, f64)> = expected(&evs, &["n", "int"])
        .into_iter()
        .filter(|(_, v)| v.is_f64())
        .map(|(r, v)| (r, v.as_f64().unwrap()))
        .collect();
    let bools: Vec<(u32, bool)> = expected(&evs, &["b"])
        .into_iter()
        .map(|(r, v)| (r, v.as_bool().unwrap()))
        .collect();
    let epoch = MockEpoch::from_events(1, "ams4", evs);
    epoch
        .run(|e: &Epoch| -> Result<(), JobError> {
            assert_eq!(e.float("n.int").unwrap().iter().collect::<Vec<_>>(), floats);
            assert_eq!(e.bool("b").unwrap().iter().collect::<Vec<_>>(), bools);
            assert!(e.str("n.int").is_none());
            assert!(e.int("n").is_none(), "a fixed map has no column of its own");
            let col = e.column("n.int", ValueType::Float).unwrap();
            assert!(col.as_int().is_none());
            assert!(col.as_float().is_some());
            Ok(())
        })
        .unwrap();
}

#[test]
fn epoch_info_and_fields() {
    let epoch = MockEpoch::builder(1_700_000_123, "lhr4")
        .seq(2)
        .events([
            json!({"a": 1, "s": "héllo", "f": 2.5, "t": true, "z": null, "big": u64::MAX, "e": {}}),
            json!({"a": 2.0, "arr": [1, "x", {"k": 1}], "m": {"k": "v"}}),
        ])
        .build();
    epoch
        .run(|e: &Epoch| -> Result<(), JobError> {
            assert_eq!(e.epoch(), 1_700_000_123);
            assert_eq!(e.seq(), 2);
            assert_eq!(e.dc(), "lhr4");
            assert_eq!(e.rows(), 2);
            assert_eq!(e.field("a", 0), Some(Value::Int(1)));
            assert_eq!(e.field("a", 1), Some(Value::Float(2.0)));
            assert_eq!(e.field("s", 0), Some(Value::Str("héllo".into())));
            assert_eq!(e.field("f", 0), Some(Value::Float(2.5)));
            assert_eq!(e.field("t", 0), Some(Value::Bool(true)));
            assert_eq!(e.field("z", 0), Some(Value::Null));
            // Integers above 2^63 - 1 and empty maps are raw MessagePack.
            let mut big = vec![0xcf];
            big.extend_from_slice(&u64::MAX.to_be_bytes());
            assert_eq!(e.field("big", 0), Some(Value::Raw(big)));
            assert_eq!(e.field("e", 0), Some(Value::Raw(vec![0x80])));
            assert_eq!(e.field("m.k", 1), Some(Value::Str("v".into())));
            assert_eq!(
                e.field("arr", 1),
                Some(Value::List(vec![
                    Value::Int(1),
                    Value::Str("x".into()),
                    Value::Raw(vec![0x81, 0xa1, b'k', 1]),
                ]))
            );
            assert_eq!(e.field("arr", 0), None);
            assert_eq!(e.field("nope", 0), None);
            assert_eq!(e.field("s", 1), None);
            Ok(())
        })
        .unwrap();
}
