//! The NDJSON batch parser of the store's ingest path (store/src/batch.rs,
//! store/src/json.rs: JSON transcoded to MessagePack), on any bytes.
//!
//! Properties: nothing panics; every accepted event is MessagePack that the
//! store's own scanner accepts, filed under the lane and epoch it names,
//! and the accepted events, sent again as a MessagePack batch (which is
//! what the write-ahead log replays), are accepted again unchanged; a
//! one-line batch transcodes to the same value JSON parsing gives.
#![no_main]

use epochd_store::fuzzing::parse;
use epochd_store::{scan_event, Format};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(parsed) = parse(data, Format::Ndjson, true) else {
        return;
    };
    for event in &parsed.events {
        let (header, len) = scan_event(&event.bytes)
            .unwrap_or_else(|e| panic!("an accepted event does not scan: {e}"));
        assert_eq!(len, event.bytes.len());
        assert_eq!(header.timestamp.floor() as u64, event.epoch);
        assert_eq!(header.event_type, event.event_type);
        assert_eq!(header.subtype, event.subtype.as_deref());
        assert_eq!(header.dc.unwrap_or("local"), event.dc);
    }
    // What the write-ahead log holds is replayed as MessagePack, without
    // the clock checks: it must parse to the same events.
    let log: Vec<u8> = parsed.events.iter().flat_map(|e| e.bytes.clone()).collect();
    let replayed = parse(&log, Format::MsgPack, false)
        .unwrap_or_else(|refused| panic!("{refused} accepted events refused on replay"));
    assert_eq!(replayed.events, parsed.events);

    // One event on one line: the MessagePack is the JSON value, types kept.
    // Lines are blank by the store's rule (ASCII whitespace, form feed too).
    let mut lines = data
        .split(|b| *b == b'\n')
        .filter(|line| !line.iter().all(u8::is_ascii_whitespace));
    if let ([event], Some(line), None) = (&parsed.events[..], lines.next(), lines.next()) {
        let json: serde_json::Value = serde_json::from_slice(line).expect("accepted JSON parses");
        let back: serde_json::Value =
            rmp_serde::from_slice(&event.bytes).expect("stored MessagePack decodes");
        assert_eq!(back, json);
    }
});
