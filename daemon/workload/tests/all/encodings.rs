//! MessagePack and JSON of the same event are the same value.

use epochd_workload::Format;

use crate::support::{both, decode_msgpack, decode_ndjson, reference, Ordered, EPOCH};

#[test]
fn both_encodings_decode_to_equal_json_values() {
    let (msgpack, ndjson) = both(&reference(), EPOCH, 5_000);
    let from_msgpack: Vec<serde_json::Value> = decode_msgpack(&msgpack);
    let from_json: Vec<serde_json::Value> = decode_ndjson(&ndjson);
    assert_eq!(from_msgpack.len(), 5_000);
    // serde_json::Value also tells ints from floats: Number(150) != Number(150.0).
    for (i, (m, j)) in from_msgpack.iter().zip(&from_json).enumerate() {
        assert_eq!(m, j, "event {i}");
    }
}

#[test]
fn both_encodings_keep_key_order_and_number_kinds() {
    let (msgpack, ndjson) = both(&reference(), EPOCH, 5_000);
    let from_msgpack: Vec<Ordered> = decode_msgpack(&msgpack);
    let from_json: Vec<Ordered> = decode_ndjson(&ndjson);
    assert_eq!(from_msgpack.len(), from_json.len());
    for (i, (m, j)) in from_msgpack.iter().zip(&from_json).enumerate() {
        assert_eq!(m, j, "event {i}");
    }
}

#[test]
fn events_write_the_same_bytes_one_by_one_as_in_bulk() {
    let w = reference();
    for format in [Format::MsgPack, Format::Ndjson] {
        let mut one_by_one = Vec::new();
        for e in w.epoch(EPOCH, 500) {
            e.write(format, &mut one_by_one);
        }
        assert_eq!(one_by_one, w.encode_epoch(EPOCH, 500, format), "{format:?}");
    }
}

#[test]
fn json_is_one_compact_line_per_event() {
    let w = reference();
    let mut line = Vec::new();
    for e in w.epoch(EPOCH, 1_000) {
        line.clear();
        e.write_json(&mut line);
        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
        assert_eq!(line.last(), Some(&b'\n'));
        // Compact: no space after ':' or ','.
        assert!(line.starts_with(b"{\"epoch\":1700000000,\"timestamp\":1700000000."));
    }
}

#[test]
fn json_escapes_the_warnings_that_need_it() {
    // One warning template carries double quotes; find an event with it and check that
    // both encodings still agree on the string.
    let w = reference();
    let (msgpack, ndjson) = both(&w, EPOCH, 20_000);
    let text = String::from_utf8(ndjson.clone()).expect("JSON is UTF-8");
    assert!(
        text.contains(r#"Argument \""#),
        "no escaped quote in 20k events"
    );
    let from_msgpack: Vec<Ordered> = decode_msgpack(&msgpack);
    let from_json: Vec<Ordered> = decode_ndjson(&ndjson);
    assert_eq!(from_msgpack, from_json);
}
