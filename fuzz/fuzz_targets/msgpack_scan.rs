//! The store's MessagePack event scanner (store/src/msgpack.rs) and the
//! MessagePack ingest path built on it (store/src/batch.rs), on any bytes.
//!
//! Properties: nothing panics; an event the scanner accepts is one
//! well-formed value by the generic walker too, with the same length; a
//! batch the ingest path accepts is its events back to back, each one
//! scanning to the lane and epoch it was filed under.
#![no_main]

use epochd_store::fuzzing::{parse, AcceptedEvent};
use epochd_store::{scan_event, split_events, validate_dc, validate_type, value_len, Format};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Event after event, as a batch body is walked.
    let mut pos = 0;
    while pos < data.len() {
        let Ok((header, len)) = scan_event(&data[pos..]) else {
            break;
        };
        assert!(len > 0 && len <= data.len() - pos, "length {len} at {pos}");
        assert_eq!(
            value_len(&data[pos..]),
            Ok(len),
            "scanner and walker disagree"
        );
        assert!(header.timestamp.is_finite() && header.timestamp >= 0.0);
        pos += len;
    }
    // As a stored chunk's bytes are split on reads.
    let mut covered = 0;
    for event in split_events(data) {
        match event {
            Ok(bytes) => covered += bytes.len(),
            Err(_) => break,
        }
    }
    assert!(covered <= data.len());

    // The ingest path, with the clock checks (a producer's batch) and
    // without (the write-ahead log replayed).
    for clock in [true, false] {
        let Ok(parsed) = parse(data, Format::MsgPack, clock) else {
            continue;
        };
        if parsed.too_old == 0 {
            let joined: Vec<u8> = parsed.events.iter().flat_map(|e| e.bytes.clone()).collect();
            assert_eq!(joined, data, "an accepted batch is stored as it came");
        }
        for event in &parsed.events {
            check_filed(event);
        }
    }
});

/// The event's bytes scan to the lane and epoch it was filed under, and
/// the lane's names are valid.
fn check_filed(event: &AcceptedEvent) {
    let (header, len) = scan_event(&event.bytes).expect("an accepted event scans");
    assert_eq!(len, event.bytes.len());
    assert_eq!(header.timestamp.floor() as u64, event.epoch);
    assert_eq!(header.event_type, event.event_type);
    assert_eq!(header.subtype, event.subtype.as_deref());
    assert_eq!(header.dc.unwrap_or("local"), event.dc);
    validate_dc(&event.dc).expect("a filed dc is valid");
    validate_type("type", &event.event_type).expect("a filed type is valid");
    if let Some(subtype) = &event.subtype {
        validate_type("subtype", subtype).expect("a filed subtype is valid");
    }
}
