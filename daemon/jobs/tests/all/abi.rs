//! Every ABI v1 function against an epoch whose every value is known.

use std::collections::BTreeMap;

use epochd_jobs::{ErrorCode, RunLimits};
use epochd_workload::{Format, Workload, WorkloadConfig};
use serde_json::{json, Map, Value};

use crate::support::*;

const NOT_FOUND: i32 = ErrorCode::NotFound as i32;
const BAD_HANDLE: i32 = ErrorCode::BadHandle as i32;
const OUT_OF_RANGE: i32 = ErrorCode::OutOfRange as i32;
const WRONG_TYPE: i32 = ErrorCode::WrongType as i32;
const NOT_NOW: i32 = ErrorCode::NotNow as i32;

const EVENTS: usize = 600;

/// Event `i` of the known epoch (decoded from two chunks of 300: enough
/// for the decoder to keep mostly distinct strings plain): dense and sparse fields of every type, a
/// field with two types, dictionary and plain strings, a map with varying
/// keys, lists (empty ones included) and maps inside lists.
fn event(i: usize) -> Value {
    let mut e = Map::new();
    e.insert(
        "timestamp".into(),
        json!(1_700_000_000.0 + i as f64 / 1000.0),
    );
    e.insert("type".into(), json!(if i % 3 == 0 { "WEB" } else { "API" }));
    e.insert("n".into(), json!(i));
    if i % 2 == 0 {
        e.insert("ms".into(), json!(i * 7));
    }
    if i % 5 == 0 {
        e.insert("ratio".into(), json!(i));
    } else {
        e.insert("ratio".into(), json!(i as f64 / 4.0));
    }
    e.insert("ok".into(), json!(i % 4 == 0));
    e.insert("sid".into(), json!(format!("session-{i:05}")));
    if i % 10 == 0 {
        e.insert("gone".into(), Value::Null);
    }
    if i % 2 == 1 {
        let exp: Map<String, Value> = (0..3)
            .map(|j| (format!("k{}", i % 80 + j), json!(i * 10 + j)))
            .collect();
        e.insert("exp".into(), Value::Object(exp));
    }
    let tags: Vec<Value> = (0..i % 3)
        .map(|j| json!(format!("t{}", (i + j) % 4)))
        .collect();
    e.insert("tags".into(), Value::Array(tags));
    if i % 7 == 0 {
        e.insert("objs".into(), json!([{"x": i}]));
    }
    Value::Object(e)
}

fn known_epoch() -> epochd_decode::SharedEpoch {
    let events: Vec<Value> = (0..EVENTS).map(event).collect();
    epoch_of(meta(1_700_000_123, "ams4", 2), &events)
}

fn rows_where(f: impl Fn(usize) -> bool) -> Vec<u32> {
    (0..EVENTS).filter(|&i| f(i)).map(|i| i as u32).collect()
}

/// Runs `$dump_column` on column (path, type).
fn dump(path: &str, ty: i32) -> ColumnDump {
    let mut job = Job::new();
    let path = job.string(path);
    let job = job
        .run(&format!(
            "(local.set $out (call $dump_column (call $column {path} (i32.const {ty})) (i32.const 0)))
             (drop (call $emit (i32.const 0) (local.get $out)))
             (i32.const 0)"
        ))
        .compile();
    let result = run_ok(&job, &known_epoch(), b"");
    let mut r = Reader::new(&result);
    let dump = r.column();
    assert!(r.is_empty());
    dump
}

#[test]
fn epoch_seq_rows_and_dc() {
    let job = Job::new()
        .run(
            "(i64.store (i32.const 0) (call $epoch))
             (i32.store (i32.const 8) (call $seq))
             (i32.store (i32.const 12) (call $rows))
             ;; cap 2: copies \"am\", returns the full length
             (i32.store (i32.const 16) (call $dc (i32.const 20) (i32.const 2)))
             (i32.store (i32.const 24) (call $dc (i32.const 28) (i32.const 100)))
             (drop (call $emit (i32.const 0) (i32.const 32)))
             (i32.const 0)",
        )
        .compile();
    let result = run_ok(&job, &known_epoch(), b"");
    let mut r = Reader::new(&result);
    assert_eq!(r.i64(), 1_700_000_123);
    assert_eq!(r.i32(), 2, "seq");
    assert_eq!(r.i32(), EVENTS as i32, "rows");
    assert_eq!(r.i32(), 4, "dc length");
    assert_eq!(r.take(4), b"am\0\0", "only cap bytes are copied");
    assert_eq!(r.i32(), 4);
    assert_eq!(r.take(4), b"ams4");
}

#[test]
fn a_dense_int_column() {
    let d = dump("n", 0);
    assert!(d.handle >= 0);
    assert_eq!((d.len, d.dense), (EVENTS as i32, 1));
    assert_eq!(
        d.rows.unwrap(),
        rows_where(|_| true),
        "dense rows are 0..len"
    );
    assert_eq!(d.ints.unwrap(), (0..EVENTS as i64).collect::<Vec<_>>());
    assert_eq!(d.floats, Err(WRONG_TYPE));
    assert_eq!(d.bools, Err(WRONG_TYPE));
    assert_eq!(d.ids, Err(WRONG_TYPE));
    assert_eq!(d.dict_len, WRONG_TYPE);
    assert_eq!(d.dict.1, WRONG_TYPE);
    assert_eq!(d.bytes.1, WRONG_TYPE);
}

#[test]
fn a_sparse_int_column_has_its_rows() {
    let d = dump("ms", 0);
    let rows = rows_where(|i| i % 2 == 0);
    assert_eq!((d.len, d.dense), (rows.len() as i32, 0));
    assert_eq!(
        d.ints.unwrap(),
        rows.iter().map(|&i| i as i64 * 7).collect::<Vec<_>>()
    );
    assert_eq!(d.rows.unwrap(), rows);
}

#[test]
fn a_field_with_two_types_has_two_columns() {
    let ints = dump("ratio", 0);
    let floats = dump("ratio", 1);
    assert_eq!(ints.rows.unwrap(), rows_where(|i| i % 5 == 0));
    assert_eq!(
        ints.ints.unwrap(),
        rows_where(|i| i % 5 == 0)
            .iter()
            .map(|&i| i as i64)
            .collect::<Vec<_>>()
    );
    let rows = rows_where(|i| i % 5 != 0);
    assert_eq!(floats.rows.unwrap(), rows);
    assert_eq!(
        floats.floats.unwrap(),
        rows.iter().map(|&i| i as f64 / 4.0).collect::<Vec<_>>()
    );
    assert_eq!(floats.ints, Err(WRONG_TYPE));
}

#[test]
fn float_and_bool_columns() {
    let ts = dump("timestamp", 1);
    assert_eq!(ts.dense, 1);
    let expected: Vec<f64> = (0..EVENTS)
        .map(|i| 1_700_000_000.0 + i as f64 / 1000.0)
        .collect();
    assert_eq!(ts.floats.unwrap(), expected);
    let ok = dump("ok", 2);
    let expected: Vec<u8> = (0..EVENTS).map(|i| u8::from(i % 4 == 0)).collect();
    assert_eq!(ok.bools.unwrap(), expected);
    assert_eq!(ok.ints, Err(WRONG_TYPE));
}

#[test]
fn dictionary_strings_by_id_and_by_value() {
    let d = dump("type", 3);
    assert_eq!(d.dense, 1);
    // column_bytes reads the same strings one value at a time.
    assert_eq!(d.bytes.1, OUT_OF_RANGE);
    let strings = d.strings();
    let ids = d.ids.unwrap();
    assert_eq!(ids.len(), EVENTS);
    assert_eq!(d.dict_len, 2);
    let (dict, end) = d.dict;
    assert_eq!(end, OUT_OF_RANGE, "ids past dict_len are out of range");
    let dict: Vec<String> = dict
        .into_iter()
        .map(|b| String::from_utf8(b).unwrap())
        .collect();
    let by_id: Vec<&str> = ids.iter().map(|&id| dict[id as usize].as_str()).collect();
    let expected: Vec<&str> = (0..EVENTS)
        .map(|i| if i % 3 == 0 { "WEB" } else { "API" })
        .collect();
    assert_eq!(by_id, expected);
    assert_eq!(strings, expected);
}

#[test]
fn plain_strings_have_no_dictionary() {
    let d = dump("sid", 3);
    assert_eq!(d.ids, Err(WRONG_TYPE));
    assert_eq!(d.dict_len, WRONG_TYPE);
    assert_eq!(d.dict.1, WRONG_TYPE);
    let expected: Vec<String> = (0..EVENTS).map(|i| format!("session-{i:05}")).collect();
    assert_eq!(d.strings(), expected);
    assert_eq!(d.bytes.1, OUT_OF_RANGE);
}

#[test]
fn a_null_column_has_only_rows() {
    let d = dump("gone", 4);
    assert_eq!(d.rows.unwrap(), rows_where(|i| i % 10 == 0));
    assert_eq!(d.len, (EVENTS / 10) as i32);
    assert_eq!(d.ints, Err(WRONG_TYPE));
    assert_eq!(d.bytes.1, WRONG_TYPE);
}

#[test]
fn missing_columns_and_bad_handles() {
    let mut job = Job::new();
    let n = job.string("n");
    let nope = job.string("nope");
    let exp = job.string("exp");
    let job = job
        .run(&format!(
            "(i32.store (i32.const 0) (call $column {nope} (i32.const 0)))
             (i32.store (i32.const 4) (call $column {n} (i32.const 1)))
             (i32.store (i32.const 8) (call $column {n} (i32.const 9)))
             (i32.store (i32.const 12) (call $column {n} (i32.const -256)))
             (local.set $h (call $column {n} (i32.const 0)))
             ;; the same column twice: the same handle
             (i32.store (i32.const 16) (i32.sub (call $column {n} (i32.const 0)) (local.get $h)))
             (i32.store (i32.const 20) (call $column_len (i32.const 999)))
             (i32.store (i32.const 24) (call $column_len (i32.const -1)))
             ;; a container handle is not a column handle, and the reverse
             (local.set $c (call $container {exp} (i32.const 0)))
             (i32.store (i32.const 28) (call $column_len (local.get $c)))
             (i32.store (i32.const 32) (call $container_len (local.get $h)))
             (i32.store (i32.const 36) (call $column_i64 (local.get $h) (i32.const 600) (i32.const 7) (i32.const 1024)))
             (i32.store (i32.const 40) (call $column_i64 (local.get $h) (i32.const 601) (i32.const 7) (i32.const 1024)))
             (i32.store (i32.const 44) (call $column_i64 (local.get $h) (i32.const -1) (i32.const 7) (i32.const 1024)))
             (i32.store (i32.const 48) (call $column_bytes (local.get $h) (i32.const 0) (i32.const 1024) (i32.const 8)))
             (i32.store (i32.const 52) (call $merge_input (i32.const 0) (i32.const 1024) (i32.const 8)))
             (i32.store (i32.const 56) (call $container {n} (i32.const 0)))
             (i32.store (i32.const 60) (call $container {exp} (i32.const 1)))
             (i32.store (i32.const 64) (call $container_keys (local.get $h)))
             (drop (call $emit (i32.const 0) (i32.const 68)))
             (i32.const 0)"
        ))
        .compile();
    let result = run_ok(&job, &known_epoch(), b"");
    let mut r = Reader::new(&result);
    let got: Vec<i32> = (0..17).map(|_| r.i32()).collect();
    assert_eq!(
        got,
        [
            NOT_FOUND,    // no such path
            NOT_FOUND,    // n has no FLOAT column
            NOT_FOUND,    // no type 9
            NOT_FOUND,    // type -256 (would be 0 as a byte)
            0,            // same handle
            BAD_HANDLE,   // never returned
            BAD_HANDLE,   // negative
            BAD_HANDLE,   // container handle to a column function
            BAD_HANDLE,   // column handle to a container function
            0,            // start == len: nothing to copy
            OUT_OF_RANGE, // start past the end
            OUT_OF_RANGE, // start is unsigned: -1 is 4294967295
            WRONG_TYPE,   // column_bytes on INT
            NOT_NOW,      // merge_input outside epochd_merge
            NOT_FOUND,    // n is not a container
            NOT_FOUND,    // exp is a map, not a list
            BAD_HANDLE,   // container_keys of a column handle
        ]
    );
}

#[test]
fn a_pointer_outside_memory_traps() {
    let mut job = Job::new();
    let n = job.string("n");
    let job = job
        .run(&format!(
            "(local.set $h (call $column {n} (i32.const 0)))
             ;; 64 pages = 0x400000 bytes; 8 values of 8 bytes at 0x3ffff8 do not fit
             (drop (call $column_i64 (local.get $h) (i32.const 0) (i32.const 2) (i32.const 0x3ffff8)))
             (i32.const 0)"
        ))
        .compile();
    let (err, _) = run_err(&job, &RunLimits::default(), &known_epoch());
    let text = err.to_string();
    assert!(matches!(err, epochd_jobs::RunError::Trap { .. }), "{text}");
    assert_contains(&text, "epochd.column_i64: destination 0x3ffff8..0x400008");
    assert_contains(&text, "outside the module's memory");

    // The destination is checked whole, even where fewer values exist.
    let job = Job::new()
        .run("(drop (call $emit (i32.const -16) (i32.const 32))) (i32.const 0)")
        .compile();
    let (err, _) = run_err(&job, &RunLimits::default(), &known_epoch());
    assert_contains(&err.to_string(), "epochd.emit: result 0xfffffff0..");
}

/// A map container: rows, offsets, keys (a dense STR column over the
/// entries) and values, rebuilt and compared with the events.
#[test]
fn a_map_container() {
    let mut job = Job::new();
    let exp = job.string("exp");
    let job = job
        .run(&format!(
            "(local.set $c (call $container {exp} (i32.const 0)))
             (i32.store (i32.const 0) (local.get $c))
             (i32.store (i32.const 4) (call $container_len (local.get $c)))
             (local.set $out (call $copy_all (i32.const {CONTAINER_ROWS}) (local.get $c) (i32.const 4) (i32.const 8)))
             (local.set $out (call $copy_all (i32.const {CONTAINER_OFFSETS}) (local.get $c) (i32.const 4) (local.get $out)))
             (local.set $out (call $dump_column (call $container_keys (local.get $c)) (local.get $out)))
             (local.set $out (call $dump_column (call $container_values (local.get $c) (i32.const 0)) (local.get $out)))
             (i32.store (local.get $out) (call $container_values (local.get $c) (i32.const 1)))
             (drop (call $emit (i32.const 0) (i32.add (local.get $out) (i32.const 4))))
             (i32.const 0)"
        ))
        .compile();
    let result = run_ok(&job, &known_epoch(), b"");
    let mut r = Reader::new(&result);
    assert!(r.i32() >= 0);
    let holders = rows_where(|i| i % 2 == 1);
    assert_eq!(r.i32(), holders.len() as i32);
    let u32s = |b: &[u8]| u32::from_le_bytes(b.try_into().unwrap());
    assert_eq!(r.values(4, u32s).unwrap(), holders);
    let offsets = r.values(4, u32s).unwrap();
    assert_eq!(
        offsets.len(),
        holders.len() + 1,
        "container_len + 1 offsets"
    );
    let keys = r.column();
    assert_eq!(
        keys.dense, 1,
        "map keys are a dense column over the entries"
    );
    let values = r.column();
    assert_eq!(r.i32(), NOT_FOUND, "no FLOAT values");
    let key_strings = keys.strings();
    let ints = values.ints.unwrap();
    assert_eq!(values.dense, 1);
    assert_eq!(values.rows.unwrap().len(), ints.len());
    for (h, &row) in holders.iter().enumerate() {
        let entries = offsets[h] as usize..offsets[h + 1] as usize;
        let got: BTreeMap<String, i64> =
            entries.map(|e| (key_strings[e].clone(), ints[e])).collect();
        let want: BTreeMap<String, i64> = event(row as usize)["exp"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_i64().unwrap()))
            .collect();
        assert_eq!(got, want, "row {row}");
    }
}

/// A list container held by every row (empty lists included), and maps
/// inside lists kept as RAW MessagePack.
#[test]
fn list_containers_offsets_and_raw_values() {
    let mut job = Job::new();
    let tags = job.string("tags");
    let objs = job.string("objs");
    let job = job
        .run(&format!(
            "(local.set $c (call $container {tags} (i32.const 1)))
             (i32.store (i32.const 0) (call $container_len (local.get $c)))
             (local.set $out (call $copy_all (i32.const {CONTAINER_ROWS}) (local.get $c) (i32.const 4) (i32.const 4)))
             (local.set $out (call $copy_all (i32.const {CONTAINER_OFFSETS}) (local.get $c) (i32.const 4) (local.get $out)))
             (i32.store (local.get $out) (call $container_keys (local.get $c)))
             (local.set $out (i32.add (local.get $out) (i32.const 4)))
             (local.set $out (call $dump_column (call $container_values (local.get $c) (i32.const 3)) (local.get $out)))
             (local.set $c (call $container {objs} (i32.const 1)))
             (local.set $out (call $copy_all (i32.const {CONTAINER_ROWS}) (local.get $c) (i32.const 4) (local.get $out)))
             (local.set $out (call $dump_column (call $container_values (local.get $c) (i32.const 5)) (local.get $out)))
             (drop (call $emit (i32.const 0) (local.get $out)))
             (i32.const 0)"
        ))
        .compile();
    let result = run_ok(&job, &known_epoch(), b"");
    let mut r = Reader::new(&result);
    let u32s = |b: &[u8]| u32::from_le_bytes(b.try_into().unwrap());
    assert_eq!(r.i32(), EVENTS as i32, "every row holds a list");
    assert_eq!(r.values(4, u32s).unwrap(), rows_where(|_| true));
    let offsets = r.values(4, u32s).unwrap();
    assert_eq!(r.i32(), WRONG_TYPE, "a list has no keys");
    let values = r.column();
    let strings = values.strings();
    for i in 0..EVENTS {
        let got = &strings[offsets[i] as usize..offsets[i + 1] as usize];
        let want: Vec<String> = event(i)["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(got, want, "row {i}");
    }
    // objs: maps inside a list are RAW MessagePack.
    let holders = r.values(4, u32s).unwrap();
    assert_eq!(holders, rows_where(|i| i % 7 == 0));
    let raw = r.column();
    assert_eq!(raw.ints, Err(WRONG_TYPE));
    let decoded: Vec<Value> = raw
        .bytes
        .0
        .iter()
        .map(|b| rmp_serde::from_slice(b).unwrap())
        .collect();
    let want: Vec<Value> = holders.iter().map(|&i| json!({"x": i})).collect();
    assert_eq!(decoded, want);
}

#[test]
fn config_is_read_with_a_cap() {
    let job = Job::new()
        .run(
            "(i32.store (i32.const 0) (call $config_len))
             (i32.store (i32.const 4) (call $config_read (i32.const 8) (i32.const 3)))
             (drop (call $emit (i32.const 0) (i32.const 12)))
             (i32.const 0)",
        )
        .compile();
    let result = run_ok(&job, &known_epoch(), b"hello");
    let mut r = Reader::new(&result);
    assert_eq!(r.i32(), 5);
    assert_eq!(r.i32(), 5, "config_read returns the full length");
    assert_eq!(r.take(4), b"hel\0");
    let result = run_ok(&job, &known_epoch(), b"");
    assert_eq!(&result[..8], &[0; 8]);
}

#[test]
fn logs_are_kept_within_their_limits() {
    let mut job = Job::new();
    let line = job.string("line");
    let job = job
        .run(&format!(
            "(loop $more
               (call $log (local.get $n) {line})
               (local.set $n (i32.add (local.get $n) (i32.const 1)))
               (br_if $more (i32.lt_u (local.get $n) (i32.const 100))))
             (i32.const 0)"
        ))
        .compile();
    let report = job.run(&RunLimits::default(), &known_epoch(), b"");
    assert!(report.is_ok());
    assert_eq!(report.logs.len(), epochd_jobs::MAX_LOG_LINES);
    assert_eq!(report.logs_dropped, 36);
    assert_eq!(report.logs[0].level, epochd_jobs::LogLevel::Error);
    assert_eq!(report.logs[2].level, epochd_jobs::LogLevel::Info);
    assert_eq!(report.logs[9].level, epochd_jobs::LogLevel::Debug);
    assert_eq!(report.logs[0].message, "line");

    // 20 KiB in one line: cut to the 16 KiB budget, then nothing more.
    let job = Job::new()
        .run(
            "(call $log (i32.const 2) (i32.const 0) (i32.const 20480))
             (call $log (i32.const 2) (i32.const 0) (i32.const 1))
             (i32.const 0)",
        )
        .compile();
    let report = job.run(&RunLimits::default(), &known_epoch(), b"");
    assert_eq!(report.logs.len(), 1);
    assert_eq!(report.logs[0].message.len(), epochd_jobs::MAX_LOG_BYTES);
    assert_eq!(report.logs_dropped, 1);
}

#[test]
fn init_runs_before_run_in_every_instance() {
    let job = Job::new()
        .item(r#"(global $calls (mut i32) (i32.const 0))"#)
        .item(
            r#"(func (export "epochd_init") (result i32)
                 (global.set $calls (i32.add (global.get $calls) (i32.const 10)))
                 (i32.const 0))"#,
        )
        .run(
            "(global.set $calls (i32.add (global.get $calls) (i32.const 1)))
             (i32.store (i32.const 0) (global.get $calls))
             (drop (call $emit (i32.const 0) (i32.const 4)))
             (i32.const 0)",
        )
        .compile();
    assert!(job.has_init() && !job.has_merge());
    let epoch = known_epoch();
    for _ in 0..3 {
        // A fresh instance each time: init once, run once.
        assert_eq!(run_ok(&job, &epoch, b""), 11u32.to_le_bytes());
    }
}

/// A job over the reference workload: the sum of an INT column read in
/// blocks equals the native sum over the generated events.
#[test]
fn sum_of_a_workload_column_equals_the_native_sum() {
    let w = Workload::new(WorkloadConfig::default());
    let epoch_s = 1_700_000_000;
    let msgpack = w.encode_epoch(epoch_s, 3000, Format::MsgPack);
    let epoch = epochd_decode::decode_raw(meta(epoch_s, "ams4", 0), &[msgpack]).unwrap();
    let (native_sum, native_count) = w
        .epoch(epoch_s, 3000)
        .filter_map(|e| e.wallclock_ms())
        .fold((0u64, 0u32), |(s, c), v| (s + v, c + 1));
    assert!(native_count > 0);

    let mut job = Job::new();
    let path = job.string("tuning.wallclock");
    let job = job
        .run(&format!(
            "(local $sum i64) (local $start i32) (local $i i32)
             (local.set $h (call $column {path} (i32.const 0)))
             (if (i32.lt_s (local.get $h) (i32.const 0)) (then (return (i32.const 1))))
             (block $done
               (loop $block
                 ;; 1024 values at a time into a 4 KiB-aligned buffer
                 (local.set $n (call $column_i64 (local.get $h) (local.get $start) (i32.const 1024) (i32.const 0x10000)))
                 (br_if $done (i32.le_s (local.get $n) (i32.const 0)))
                 (local.set $i (i32.const 0))
                 (loop $value
                   (local.set $sum (i64.add (local.get $sum)
                     (i64.load (i32.add (i32.const 0x10000) (i32.shl (local.get $i) (i32.const 3))))))
                   (local.set $i (i32.add (local.get $i) (i32.const 1)))
                   (br_if $value (i32.lt_u (local.get $i) (local.get $n))))
                 (local.set $start (i32.add (local.get $start) (local.get $n)))
                 (br $block)))
             (i64.store (i32.const 0) (local.get $sum))
             (i32.store (i32.const 8) (local.get $start))
             (drop (call $emit (i32.const 0) (i32.const 12)))
             (i32.const 0)"
        ))
        .compile();
    let result = run_ok(&job, &epoch, b"");
    let mut r = Reader::new(&result);
    assert_eq!(r.i64() as u64, native_sum);
    assert_eq!(r.i32() as u32, native_count);
}
