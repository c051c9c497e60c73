//! Reading events back out of a decoded epoch, independently of the decoder.

use std::collections::HashMap;

use epochd_decode::{Column, ContainerKind, Epoch, ValueType};
use serde_json::{Map, Value};

/// The values of a column, by position in its row space.
pub fn column_values(col: &Column<'_>, space: usize) -> HashMap<usize, Value> {
    let rows: Vec<usize> = if col.dense() {
        (0..space).collect()
    } else {
        col.rows().unwrap().iter().map(|r| r as usize).collect()
    };
    let blob = |b: epochd_decode::Blobs<'_>, i: usize| {
        let offsets = b.offsets().unwrap();
        let bytes = b.bytes().unwrap().bytes();
        bytes[offsets.get(i) as usize..offsets.get(i + 1) as usize].to_vec()
    };
    let value = |i: usize| -> Value {
        match col.type_() {
            ValueType::Int => Value::from(col.ints().unwrap().get(i)),
            ValueType::Float => Value::from(col.floats().unwrap().get(i)),
            ValueType::Bool => Value::from(col.bools().unwrap().get(i) != 0),
            ValueType::Str => {
                let bytes = match col.ids() {
                    Some(ids) => blob(col.dict().unwrap(), ids.get(i) as usize),
                    None => blob(col.plain().unwrap(), i),
                };
                Value::String(String::from_utf8(bytes).unwrap())
            }
            ValueType::Null => Value::Null,
            ValueType::Raw => rmp_serde::from_slice(&blob(col.plain().unwrap(), i)).unwrap(),
            other => panic!("unknown type {other:?}"),
        }
    };
    rows.into_iter()
        .enumerate()
        .map(|(i, row)| (row, value(i)))
        .collect()
}

fn set_path(event: &mut Map<String, Value>, path: &str, value: Value) {
    let mut keys = path.split('.').peekable();
    let mut map = event;
    while let Some(key) = keys.next() {
        if keys.peek().is_none() {
            assert!(
                map.insert(key.to_owned(), value).is_none(),
                "{path} set twice"
            );
            return;
        }
        map = map
            .entry(key.to_owned())
            .or_insert_with(|| Value::Object(Map::new()))
            .as_object_mut()
            .unwrap();
    }
}

/// Every event of the epoch, rebuilt from its columns and containers.
pub fn reconstruct(view: Epoch<'_>) -> Vec<Value> {
    let rows = view.rows() as usize;
    let mut events = vec![Map::new(); rows];
    for col in view.columns().unwrap() {
        for (row, value) in column_values(&col, rows) {
            set_path(&mut events[row], col.path().unwrap(), value);
        }
    }
    for c in view.containers().unwrap() {
        let offsets = c.offsets().unwrap();
        let holders: Vec<usize> = if c.dense() {
            (0..rows).collect()
        } else {
            c.rows().unwrap().iter().map(|r| r as usize).collect()
        };
        let entries = offsets.get(offsets.len() - 1) as usize;
        let mut values: HashMap<usize, Value> = HashMap::new();
        for col in c.values().unwrap() {
            assert_eq!(col.path(), Some(""));
            values.extend(column_values(&col, entries));
        }
        let keys = c.keys().map(|k| column_values(&k, entries));
        for (i, row) in holders.into_iter().enumerate() {
            let range = offsets.get(i) as usize..offsets.get(i + 1) as usize;
            let value = match c.kind() {
                ContainerKind::Map => {
                    let keys = keys.as_ref().unwrap();
                    Value::Object(
                        range
                            .map(|e| (keys[&e].as_str().unwrap().to_owned(), values[&e].clone()))
                            .collect(),
                    )
                }
                _ => Value::Array(range.map(|e| values[&e].clone()).collect()),
            };
            set_path(&mut events[row], c.path().unwrap(), value);
        }
    }
    events.into_iter().map(Value::Object).collect()
}
