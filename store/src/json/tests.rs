//! Unit tests of the NDJSON transcoder (`json.rs`), kept apart so the
//! transcoder reads on its own.

use super::*;

/// Transcodes any JSON value (the event rules aside).
fn round_trip(json: &str) -> serde_json::Value {
    let mut out = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(json.as_bytes());
    let too_deep = Cell::new(false);
    Transcode {
        out: &mut out,
        depth: 1,
        too_deep: &too_deep,
    }
    .deserialize(&mut de)
    .unwrap();
    rmp_serde::from_slice(&out).unwrap()
}

#[test]
fn values_survive_the_trip_with_their_types() {
    let json = r#"{"a":1,"b":-7,"c":1.0,"d":"x\u00e9\n","e":[true,false,null],"f":{},"g":[],
        "h":18446744073709551615,"i":{"j":{"k":[{"l":2.5e-3}]}}}"#;
    let expected: serde_json::Value = serde_json::from_str(json).unwrap();
    let got = round_trip(json);
    assert_eq!(got, expected);
    assert!(got["c"].is_f64(), "1.0 must stay a float");
    assert!(got["a"].is_u64(), "1 must stay an integer");
}

#[test]
fn large_containers_use_wider_headers() {
    let many: Vec<String> = (0..70_000).map(|i| format!("\"k{i}\":{i}")).collect();
    let json = format!("{{{}}}", many.join(","));
    let got = round_trip(&json);
    assert_eq!(got.as_object().unwrap().len(), 70_000);
    let arr = format!(
        "[{}]",
        (0..20).map(|i| i.to_string()).collect::<Vec<_>>().join(",")
    );
    assert_eq!(round_trip(&arr).as_array().unwrap().len(), 20);
}

#[test]
fn errors_leave_the_output_untouched() {
    let mut out = vec![1, 2, 3];
    for bad in [
        r#"{"a":"#,
        r#"{"a":1} x"#,
        "",
        "{'a':1}",
        r#"{"timestamp":1}"#,
        r#"{"timestamp":1,"type":"A","type":"B"}"#,
        "[1]",
    ] {
        assert!(transcode_event(bad.as_bytes(), &mut out).is_err(), "{bad}");
        assert_eq!(out, [1, 2, 3]);
    }
}

/// Regression (found by fuzz/ndjson_batch): JSON nested 65 to 127
/// levels deep (serde_json stops at 128) was accepted, but the scanner
/// refuses its MessagePack, so the write-ahead log holding it no longer
/// replayed and the store did not open. Both now stop at `MAX_DEPTH`.
#[test]
fn nesting_is_bounded_as_the_scanner_bounds_it() {
    let nested = |levels: usize, inner: &str| {
        format!(
            r#"{{"timestamp":1,"type":"A","x":{}{inner}{}}}"#,
            "[".repeat(levels),
            "]".repeat(levels)
        )
    };
    for (json, ok) in [
        (nested(MAX_DEPTH, ""), true),
        (nested(MAX_DEPTH - 1, "1"), true),
        (nested(MAX_DEPTH - 1, r#"{"k":{}}"#), false),
        (nested(MAX_DEPTH + 1, ""), false),
        (nested(MAX_DEPTH, "1"), false),
        (nested(100, ""), false),
    ] {
        let mut out = Vec::new();
        let from_json = transcode_event(json.as_bytes(), &mut out).map(|(_, len)| len);
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        let msgpack = rmp_serde::to_vec(&value).unwrap();
        let scanned = crate::msgpack::scan_event(&msgpack);
        assert_eq!(from_json.is_ok(), ok, "{json}");
        assert_eq!(scanned.is_ok(), ok, "{json}");
        if !ok {
            assert_eq!(from_json.unwrap_err(), EventError::TooDeep(MAX_DEPTH));
        }
    }
}

#[test]
fn routing_fields_are_found_with_the_scanners_rules() {
    let cases = [
        r#"{"x":{"type":"inner"},"timestamp":12.5,"type":"WEB","subtype":"app","dc":"ams4"}"#,
        r#"{"timestamp":7,"type":"AV"}"#,
        r#"{"timestamp":-7,"type":"AV"}"#,
        r#"{"timestamp":"7","type":"AV"}"#,
        r#"{"timestamp":7,"type":["AV"]}"#,
        r#"{"timestamp":7,"dc":1,"type":"A"}"#,
        r#"{"timestamp":7,"timestamp":8,"type":"A"}"#,
        r#"{"type":"A"}"#,
        r#"[{"type":"A"}]"#,
        r#"{"timestamp":null,"type":"A"}"#,
    ];
    for json in cases {
        let mut out = Vec::new();
        let from_json = transcode_event(json.as_bytes(), &mut out).map(|(h, _)| format!("{h:?}"));
        let value: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
        let msgpack = rmp_serde::to_vec(&value).unwrap();
        let from_msgpack = crate::msgpack::scan_event(&msgpack).map(|(h, _)| format!("{h:?}"));
        if json.contains(r#""timestamp":8"#) || json.contains(r#""type":"B""#) {
            // serde_json::Value keeps one of a duplicated key: compare the error alone.
            assert_eq!(
                from_json.unwrap_err(),
                EventError::DuplicateField("timestamp")
            );
            continue;
        }
        assert_eq!(from_json, from_msgpack, "{json}");
    }
}
