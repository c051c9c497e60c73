//! Bad input is refused with a reason naming the problem, and changes nothing.

use epochd_store::{EventError, Format, Store, StoreConfig, StoreError};

use crate::support::*;

/// Ingests `body` and asserts it is refused with `needle` in the reason, and
/// that nothing was stored.
#[track_caller]
fn assert_refused(store: &Store, body: &[u8], format: Format, needle: &str) -> StoreError {
    let before = store.stats();
    let err = store.ingest(body, format).unwrap_err();
    assert!(err.is_client_error(), "{err} should be the client's fault");
    assert_contains(&err, needle);
    let after = store.stats();
    assert_eq!(after.events_accepted, before.events_accepted);
    assert_eq!(after.open_epochs, before.open_epochs);
    assert!(
        store.seal_all().unwrap().is_empty(),
        "nothing may be committed"
    );
    err
}

fn open(dir: &std::path::Path) -> Store {
    Store::open(StoreConfig {
        max_body_bytes: 64 * 1024,
        max_event_bytes: 16 * 1024,
        ..holding_config(dir)
    })
    .unwrap()
}

#[test]
fn malformed_json_is_reported_by_line_number_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let t = now() - 10;
    let body = format!(
        "{{\"timestamp\":{t},\"type\":\"A\"}}\n\n{{\"timestamp\":{t},\"type\":\"A\"\n{{\"timestamp\":{t},\"type\":\"A\"}}\n[1,2]\n"
    );
    let err = assert_refused(&store, body.as_bytes(), Format::Ndjson, "malformed JSON");
    let StoreError::BadBatch { rejections, total } = err else {
        panic!("expected BadBatch, got {err}");
    };
    assert_eq!(total, 2);
    assert_eq!(rejections[0].position, 3, "blank lines still count");
    assert_eq!(rejections[1].position, 5);
    assert!(matches!(
        rejections[1].error,
        EventError::Json(_) | EventError::NotAMap(_)
    ));
}

#[test]
fn malformed_msgpack_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let mut body = encode([now() - 10], 3, epochd_workload::Format::MsgPack);
    body.truncate(body.len() - 5);
    assert_refused(&store, &body, Format::MsgPack, "truncated");
    assert_refused(
        &store,
        &[0xc1, 0x00],
        Format::MsgPack,
        "found reserved byte 0xc1",
    );
}

#[test]
fn events_without_a_usable_timestamp_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    assert_refused(
        &store,
        br#"{"type":"A"}"#,
        Format::Ndjson,
        "missing \"timestamp\"",
    );
    assert_refused(
        &store,
        br#"{"type":"A","timestamp":"yesterday"}"#,
        Format::Ndjson,
        "found a string",
    );
    assert_refused(
        &store,
        br#"{"type":"A","timestamp":-5}"#,
        Format::Ndjson,
        "non-negative",
    );
    let far = now() + 3 * 3600;
    let body = format!(r#"{{"type":"A","timestamp":{far}}}"#);
    assert_refused(&store, body.as_bytes(), Format::Ndjson, "in the future");
    // Milliseconds by mistake: the message says what to check.
    let millis = now() * 1000;
    let body = format!(r#"{{"type":"A","timestamp":{millis}}}"#);
    assert_refused(&store, body.as_bytes(), Format::Ndjson, "not milliseconds");
}

#[test]
fn names_outside_the_alphabet_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let t = now() - 1;
    for (body, needle) in [
        (
            format!(r#"{{"type":"A","timestamp":{t},"dc":"AMS 4"}}"#),
            "not a valid data-center name",
        ),
        (
            format!(r#"{{"type":"A","timestamp":{t},"dc":7}}"#),
            "\"dc\" must be a string",
        ),
        (
            format!(r#"{{"type":"a/b","timestamp":{t}}}"#),
            "type \"a/b\" is not a valid name",
        ),
        (
            format!(r#"{{"type":"A","subtype":"","timestamp":{t}}}"#),
            "subtype \"\" is not a valid name",
        ),
        (format!(r#"{{"timestamp":{t}}}"#), "missing \"type\""),
    ] {
        assert_refused(&store, body.as_bytes(), Format::Ndjson, needle);
    }
}

#[test]
fn oversized_bodies_and_events_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let body = vec![b' '; 64 * 1024 + 1];
    let err = assert_refused(
        &store,
        &body,
        Format::Ndjson,
        "exceeds the limit of 65536 bytes",
    );
    assert!(matches!(err, StoreError::BodyTooLarge { .. }));
    let big = format!(
        r#"{{"type":"A","timestamp":{},"pad":"{}"}}"#,
        now(),
        "x".repeat(20_000)
    );
    assert_refused(
        &store,
        big.as_bytes(),
        Format::Ndjson,
        "exceeds the limit of 16384 bytes",
    );
}

#[test]
fn one_bad_line_refuses_the_whole_batch() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let mut body = encode([now() - 3], 20, epochd_workload::Format::Ndjson);
    body.extend_from_slice(b"{not json}\n");
    assert_refused(&store, &body, Format::Ndjson, "event 21: malformed JSON");
}

#[test]
fn events_older_than_retention_are_counted_and_the_rest_stored() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig {
        retention_secs: 3600,
        ..holding_config(dir.path())
    })
    .unwrap();
    let fresh = now() - 10;
    let stale = now() - 7200;
    let body = format!(
        "{{\"type\":\"A\",\"timestamp\":{fresh}}}\n{{\"type\":\"A\",\"timestamp\":{stale}}}\n{{\"type\":\"A\",\"timestamp\":0}}\n"
    );
    let receipt = store.ingest(body.as_bytes(), Format::Ndjson).unwrap();
    assert_eq!(receipt.accepted, 1);
    assert_eq!(receipt.too_old_total, 2);
    assert_eq!(receipt.too_old[0].position, 2);
    for rejection in &receipt.too_old {
        let reason = rejection.to_string();
        assert!(
            reason.contains("older than the retention horizon"),
            "{reason}"
        );
        // A timestamp of 0 is a number; it is only too old.
        assert!(!reason.contains("must be"), "{reason}");
    }
    assert!(receipt.too_old[1]
        .to_string()
        .contains("\"timestamp\" 0 is epoch 0"));
    assert_eq!(store.stats().events_too_old, 2);
    let commits = store.seal_all().unwrap();
    assert_eq!(commits.len(), 1);
    assert_eq!(commits[0].manifest.epoch, fresh);
}
