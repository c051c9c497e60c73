use std::collections::BTreeMap;

use epochd_job::testing::MockEpoch;
use epochd_job::{ContainerKind, Epoch, JobError, Value, ValueType};
use serde_json::json;

use crate::Rng;

/// `experiments`: 3..10 keys per event out of 300 names (a map container);
/// `warnings`: an array of 0..3 strings; `tuning`: a fixed map.
fn events(rows: usize) -> Vec<serde_json::Value> {
    let mut rng = Rng::new(3);
    (0..rows)
        .map(|i| {
            let mut exps = serde_json::Map::new();
            for _ in 0..3 + rng.below(8) {
                exps.insert(format!("exp_{:03}", rng.below(300)), json!(rng.below(3)));
            }
            let warnings: Vec<String> = (0..rng.below(4)).map(|w| format!("w{w}")).collect();
            let mut e = json!({"tuning": {"status": 200}, "warnings": warnings});
            if i % 5 != 0 {
                e["experiments"] = serde_json::Value::Object(exps);
            }
            e
        })
        .collect()
}

#[test]
fn map_container_entries_match_the_events() {
    let evs = events(3000);
    let epoch = MockEpoch::from_events(9, "fra3", evs.clone());
    epoch
        .run(|e: &Epoch| -> Result<(), JobError> {
            // More than 64 distinct keys: no per-key columns, one container.
            assert!(e.int("experiments.exp_001").is_none());
            assert!(e.list("experiments").is_none());
            let exps = e.map("experiments").expect("a map container");
            assert_eq!(exps.kind(), ContainerKind::Map);
            let holding: Vec<u32> = (0..3000).filter(|i| i % 5 != 0).collect();
            assert_eq!(exps.rows(), holding);
            assert_eq!(exps.len() as usize, holding.len());
            let offsets = exps.offsets();
            assert_eq!(offsets.len(), holding.len() + 1);
            assert_eq!(exps.entries(), *offsets.last().unwrap());

            let keys = exps.keys().expect("keys");
            assert!(keys.is_dense());
            let keys = keys.by_row(exps.entries());
            let values = exps.int_values().expect("int values");
            assert!(exps.str_values().is_none());
            let values = values.to_vec();
            for (row, entries) in exps.iter() {
                let want = evs[row as usize]["experiments"].as_object().unwrap();
                let got: BTreeMap<String, i64> = entries
                    .map(|i| {
                        let k = String::from_utf8(keys.get(i).unwrap().to_vec()).unwrap();
                        (k, values[i as usize])
                    })
                    .collect();
                let want: BTreeMap<String, i64> = want
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_i64().unwrap()))
                    .collect();
                assert_eq!(got, want, "row {row}");
            }
            assert_eq!(exps.entries_of(0), None);
            let r1 = exps.entries_of(1).unwrap();
            assert_eq!(r1, offsets[0]..offsets[1]);
            match e.field("experiments", 1) {
                Some(Value::Map(entries)) => assert_eq!(entries.len(), r1.len()),
                other => panic!("{other:?}"),
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn list_container_entries_match_the_events() {
    let evs = events(500);
    let epoch = MockEpoch::from_events(9, "fra3", evs.clone());
    epoch
        .run(|e: &Epoch| -> Result<(), JobError> {
            let w = e.list("warnings").expect("a list container");
            assert!(w.keys().is_none());
            // Every event has the array (some empty): it is held by every row.
            assert_eq!(w.len(), 500);
            let strs = w.str_values().unwrap();
            let texts = strs.by_row(w.entries());
            for (row, entries) in w.iter() {
                let want = evs[row as usize]["warnings"].as_array().unwrap();
                assert_eq!(entries.len(), want.len());
                for (i, v) in entries.zip(want) {
                    assert_eq!(texts.get(i).unwrap(), v.as_str().unwrap().as_bytes());
                }
            }
            assert!(w.values(ValueType::Int).is_none());
            assert_eq!(e.int("tuning.status").unwrap().len(), 500);
            Ok(())
        })
        .unwrap();
}

#[test]
fn a_map_with_few_keys_is_columns() {
    let evs = vec![json!({"m": {"a": 1, "b": 2}}), json!({"m": {"c": 3}})];
    let epoch = MockEpoch::from_events(1, "x", evs);
    epoch
        .run(|e: &Epoch| -> Result<(), JobError> {
            assert!(e.map("m").is_none());
            assert_eq!(e.int("m.c").unwrap().iter().collect::<Vec<_>>(), [(1, 3)]);
            Ok(())
        })
        .unwrap();
}
