//! Unit tests of the idempotency keys (`idempotency.rs`), kept apart so
//! the key table reads on its own.

use super::*;

fn record(key: &str, created: u64, lsn: Lsn) -> KeyRecord {
    KeyRecord {
        key: key.into(),
        created,
        body_hash: [7; 16],
        lsn,
        outcome: Outcome {
            accepted: 3,
            too_old_total: 1,
            too_old: vec![(2, "too old".into())],
            epochs: vec![(1_700_000_000, "ams4".into())],
        },
    }
}

#[test]
fn keys_are_printable_ascii_of_1_to_128_bytes() {
    validate_idempotency_key("8e03978e-40d5-43e8-bc93-6894a57f9324").unwrap();
    validate_idempotency_key(&"k".repeat(128)).unwrap();
    validate_idempotency_key("with space ~").unwrap();
    for bad in ["", &"k".repeat(129), "tab\there", "é", "nl\n"] {
        assert!(validate_idempotency_key(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn a_record_prefix_round_trips_and_a_plain_record_has_none() {
    let rec = record("abc", 5, 0);
    let mut payload = encode_record_prefix(&rec);
    payload.extend_from_slice(b"\x81events");
    let (found, events) = split_record(&payload, 42).unwrap();
    assert_eq!(found, Some(KeyRecord { lsn: 42, ..rec }));
    assert_eq!(events, b"\x81events");
    let (none, events) = split_record(b"\x81plain", 1).unwrap();
    assert!(none.is_none());
    assert_eq!(events, b"\x81plain");
    assert!(split_record(&payload[..8], 1).is_err(), "cut short");
}

#[test]
fn past_the_cap_the_oldest_key_is_forgotten_and_past_the_window_every_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::Config::new().path(dir.path()).open().unwrap();
    let keys = Keys::open(&db, 100, 2, 1000).unwrap();
    for (i, key) in ["a", "b", "c"].into_iter().enumerate() {
        let id = keys.begin(record(key, 1000 + i as u64, i as u64 + 1));
        keys.finish(key, id);
    }
    assert_eq!(keys.len(), 2);
    let asked = |key: &str, now| {
        let request = KeyedRequest {
            key: key.into(),
            body_hash: [7; 16],
        };
        keys.lookup(&request, now)
    };
    assert!(matches!(asked("a", 1002), Lookup::New), "the oldest went");
    assert!(matches!(asked("c", 1002), Lookup::Replay(_)));
    assert_eq!(keys.persist_before(&db, 10).unwrap(), 2);
    assert!(
        matches!(asked("b", 1101), Lookup::New),
        "b is past the window"
    );
    assert_eq!(keys.expire(1101).unwrap(), 1);
    assert_eq!(keys.len(), 1);
    drop(keys);
    let keys = Keys::open(&db, 100, 2, 1101).unwrap();
    assert_eq!(keys.len(), 1, "only c is in the tree and inside the window");
}
