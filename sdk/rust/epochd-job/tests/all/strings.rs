use std::collections::HashMap;

use epochd_job::testing::{MockEpoch, StrCoding};
use epochd_job::{Epoch, JobError, RowStrings};
use serde_json::json;

use crate::Rng;

const NAMES: [&str; 5] = ["app", "ajax", "secure", "api", "möbile ✓"];

/// `subtype` repeats (5 values, missing in ~10% of events); `id` is unique
/// per event; `pid` is an int in some events and a string in others.
fn events(rows: usize) -> Vec<serde_json::Value> {
    let mut rng = Rng::new(11);
    (0..rows)
        .map(|i| {
            let mut e = json!({"id": format!("{i:016x}")});
            if !rng.percent(10) {
                e["subtype"] = json!(NAMES[rng.below(5) as usize]);
            }
            e["pid"] = if i % 3 == 0 { json!("n/a") } else { json!(i) };
            e
        })
        .collect()
}

fn check(coding: StrCoding) {
    let evs = events(20_000);
    let want: Vec<Option<&str>> = evs.iter().map(|e| e["subtype"].as_str()).collect();
    let epoch = MockEpoch::builder(5, "ams4")
        .events(evs.clone())
        .strings(coding)
        .build();
    let dict = coding != StrCoding::Plain;
    assert_eq!(epoch.has_dictionary("subtype"), Some(dict));
    if coding == StrCoding::Auto {
        assert_eq!(
            epoch.has_dictionary("id"),
            Some(false),
            "distinct strings go plain"
        );
    }
    epoch
        .run(|e: &Epoch| -> Result<(), JobError> {
            let col = e.str("subtype").expect("subtype");
            assert_eq!(col.has_dictionary(), dict);
            assert_eq!(col.len() as usize, want.iter().flatten().count());

            // Bytes per value, in row order.
            let mut seen = Vec::new();
            col.for_each(|row, s| seen.push((row, String::from_utf8(s.to_vec()).unwrap())));
            let expect: Vec<(u32, String)> = want
                .iter()
                .enumerate()
                .filter_map(|(r, s)| s.map(|s| (r as u32, s.to_owned())))
                .collect();
            assert_eq!(seen, expect);

            // Per-row ids, and the strings behind them.
            let by_row = col.by_row(e.rows());
            for (row, s) in want.iter().enumerate() {
                assert_eq!(
                    by_row
                        .get(row as u32)
                        .map(|b| std::str::from_utf8(b).unwrap()),
                    *s
                );
                assert_eq!(by_row.id(row as u32).is_none(), s.is_none());
            }
            let app = by_row.find("app").expect("app is there");
            assert_eq!(by_row.strings().get_str(app).unwrap(), "app");
            assert!(by_row.find("nope").is_none());
            assert_eq!(
                by_row
                    .ids()
                    .iter()
                    .filter(|id| **id == RowStrings::NONE)
                    .count(),
                want.iter().filter(|s| s.is_none()).count()
            );

            // Dictionary access.
            if dict {
                let d = col.dictionary().unwrap();
                assert_eq!(d.len(), 5);
                let mut ids = HashMap::new();
                for (row, id) in col.ids().unwrap() {
                    let s = d.get_str(id).unwrap().into_owned();
                    assert_eq!(Some(s.as_str()), want[row as usize]);
                    assert_eq!(*ids.entry(s).or_insert(id), id, "equal strings, equal ids");
                }
                assert_eq!(col.dict_entry(99), None);
                let mut n = 0;
                assert!(col.for_each_ids_block(|b| n += b.values.len()));
                assert_eq!(n as u32, col.len());
            } else {
                assert!(col.dictionary().is_none());
                assert!(col.ids().is_none());
                assert!(!col.for_each_ids_block(|_| {}));
            }

            // One value by index, and by row.
            let first = want.iter().position(Option::is_some).unwrap();
            assert_eq!(col.value(0).unwrap(), want[first].unwrap().as_bytes());
            let missing = want.iter().position(Option::is_none).unwrap();
            assert_eq!(col.get(missing as u32), None);
            assert_eq!(
                col.get(first as u32).unwrap(),
                want[first].unwrap().as_bytes()
            );

            // The mostly distinct column, read plainly.
            let ids = e.str("id").unwrap();
            assert_eq!(
                ids.get(12345).unwrap(),
                format!("{:016x}", 12345).as_bytes()
            );
            assert_eq!(ids.by_row(e.rows()).strings().len(), e.rows());

            // A field with two types.
            assert_eq!(e.str("pid").unwrap().len(), 20_000 / 3 + 1);
            assert_eq!(e.int("pid").unwrap().len(), 20_000 - (20_000 / 3 + 1));
            Ok(())
        })
        .unwrap();
}

#[test]
fn dictionary_coded_strings() {
    check(StrCoding::Dictionary);
}

#[test]
fn plain_strings() {
    check(StrCoding::Plain);
}

#[test]
fn strings_coded_as_the_daemon_does() {
    check(StrCoding::Auto);
}

#[test]
fn a_missing_string_field_maps_no_row() {
    let epoch = MockEpoch::from_events(1, "x", [json!({"a": 1})]);
    epoch
        .run(|e: &Epoch| -> Result<(), JobError> {
            let r = e.strings_by_row("subtype");
            assert_eq!(r.ids(), &[RowStrings::NONE]);
            assert_eq!(r.id(0), None);
            Ok(())
        })
        .unwrap();
}

/// `RowIds` read in windows of every size gives what `by_row` gives, for a
/// dense and a sparse field, dictionary-coded or not, and a missing one.
#[test]
fn row_ids_read_in_windows_match_by_row() {
    let mut rng = Rng::new(5);
    let evs: Vec<serde_json::Value> = (0..3_000)
        .map(|i| {
            let mut e = json!({"kind": NAMES[rng.below(3) as usize], "id": format!("{i:08x}")});
            if rng.percent(30) {
                e["sub"] = json!(NAMES[rng.below(5) as usize]);
            }
            e
        })
        .collect();
    for coding in [StrCoding::Auto, StrCoding::Dictionary, StrCoding::Plain] {
        let epoch = MockEpoch::builder(5, "ams4")
            .events(evs.clone())
            .strings(coding)
            .build();
        epoch
            .run(|e: &Epoch| -> Result<(), JobError> {
                let rows = e.rows();
                for (path, dense) in [("kind", true), ("sub", false), ("id", true)] {
                    let col = e.str(path).unwrap();
                    assert_eq!(col.is_dense(), dense, "{path}");
                    let want = col.by_row(rows);
                    for window in [1usize, 7, 64, 1000, 4096, 10_000] {
                        let mut ids = e.row_ids(path);
                        assert_eq!(
                            ids.dictionary_len(),
                            col.has_dictionary().then(|| want.strings().len())
                        );
                        let mut out = vec![0u32; window];
                        let mut first = 0u32;
                        while first < rows + 10 {
                            ids.read(first, &mut out);
                            for (i, id) in out.iter().enumerate() {
                                let row = first as usize + i;
                                let expect = want.ids().get(row).copied();
                                assert_eq!(
                                    *id,
                                    expect.unwrap_or(RowStrings::NONE),
                                    "{path} ({coding:?}): row {row}, window {window}"
                                );
                            }
                            first += window as u32;
                        }
                        assert_eq!(ids.strings(), want.strings(), "{path} ({coding:?})");
                        // Rows in ascending order, from fresh windows and from
                        // the last one, then backwards.
                        let some = [0, 1, 2, 1500, rows / 2, rows - 1, rows, rows + 3, 9000];
                        for row in some.into_iter().chain(some.into_iter().rev()) {
                            assert_eq!(ids.get(row), want.id(row), "{path}: row {row}");
                            assert_eq!(
                                col.column().index_of(row).is_some(),
                                want.id(row).is_some(),
                                "{path}: index_of({row})"
                            );
                        }
                    }
                }
                let mut missing = e.row_ids("nope");
                assert_eq!(missing.dictionary_len(), Some(0));
                let mut out = [7u32; 4];
                missing.read(0, &mut out);
                assert_eq!(out, [RowStrings::NONE; 4]);
                Ok(())
            })
            .unwrap();
    }
}
