//! Entry points for the fuzz targets in `fuzz/`: the batch parser of the
//! ingest path is crate-private, so it is reached through here. Not part of
//! the store's API; nothing else should call it.

use crate::batch::{parse_batch, BatchRules, ClockRules};
use crate::Format;

/// One event a batch accepted, with where the parser filed it.
#[derive(Debug, Clone, PartialEq)]
pub struct AcceptedEvent {
    /// The event's MessagePack bytes, as stored.
    pub bytes: Vec<u8>,
    /// Its epoch.
    pub epoch: u64,
    /// Its lane: dc, type, subtype.
    pub dc: String,
    /// Event type.
    pub event_type: String,
    /// Event subtype.
    pub subtype: Option<String>,
}

/// What [`parse`] made of a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// The accepted events, in input order.
    pub events: Vec<AcceptedEvent>,
    /// Events left out as older than retention.
    pub too_old: usize,
}

/// The clock the fuzz targets parse against: a fixed "now", one hour of
/// future allowed, one day of retention. Fixed so a crash reproduces.
pub const NOW: f64 = 1_700_000_000.5;

/// Parses `body` as the ingest path does ([`Format::Ndjson`] or
/// [`Format::MsgPack`]), with default dc `local`, events up to 64 KiB, and
/// the clock checks on (`clock`) or off (as when the write-ahead log is
/// replayed). `Err` holds how many events were refused.
#[doc(hidden)]
pub fn parse(body: &[u8], format: Format, clock: bool) -> Result<Parsed, usize> {
    let rules = BatchRules {
        default_dc: "local".into(),
        max_event_bytes: 64 << 10,
        clock: clock.then_some(ClockRules {
            now: NOW,
            max_future_secs: 3600,
            oldest_epoch: NOW as u64 - 86_400,
        }),
    };
    let batch = parse_batch(body, format, &rules).map_err(|r| r.total)?;
    let mut events = Vec::with_capacity(batch.event_count());
    for part in &batch.parts {
        for event in &part.events {
            let lane = &batch.lanes[event.lane];
            events.push(AcceptedEvent {
                bytes: part.event_bytes(event).to_vec(),
                epoch: event.epoch,
                dc: lane.dc.clone(),
                event_type: lane.event_type.clone(),
                subtype: lane.subtype.clone(),
            });
        }
    }
    Ok(Parsed {
        events,
        too_old: batch.too_old_total,
    })
}
