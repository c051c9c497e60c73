//! Parsing an ingest batch (NDJSON or a MessagePack stream) into validated
//! MessagePack events with their routing: epoch and lane (dc, type, subtype).
//!
//! This is the hot path of ingest, on the producer's request thread, so it
//! avoids work: MessagePack bodies are scanned once and, when every event is
//! kept, not copied at all; large NDJSON bodies are transcoded on all cores,
//! in pieces cut at line boundaries.

use std::borrow::Cow;

use rayon::prelude::*;

use crate::config::StoreConfig;
use crate::error::{EventError, EventRejection};
use crate::json::transcode_event;
use crate::key::{validate_dc, validate_type};
use crate::msgpack::{scan_event, EventHeader};

/// How many refused events a response lists; the total is always counted.
pub const MAX_REPORTED_REJECTIONS: usize = 100;

/// NDJSON bodies at least this large are parsed in parallel pieces.
const PARALLEL_PIECE_BYTES: usize = 256 << 10;

/// The encoding of an ingest body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line; blank lines are skipped.
    Ndjson,
    /// MessagePack maps, one after another.
    MsgPack,
}

/// The rules a batch is checked against.
#[derive(Debug, Clone)]
pub struct BatchRules {
    /// The dc of events that carry none.
    pub default_dc: String,
    /// Largest accepted event, in bytes of MessagePack.
    pub max_event_bytes: usize,
    /// Time checks; `None` when replaying already-accepted events.
    pub clock: Option<ClockRules>,
}

/// Checks of an event's timestamp against the store's clock.
#[derive(Debug, Clone, Copy)]
pub struct ClockRules {
    /// The store's clock, unix seconds.
    pub now: f64,
    /// How far in the future a timestamp may be, seconds.
    pub max_future_secs: u64,
    /// Events of epochs before this one are past retention: refused, counted.
    pub oldest_epoch: u64,
}

impl ClockRules {
    /// The rules at `now` (unix seconds) for a store with `config`.
    pub fn at(now: f64, config: &StoreConfig) -> ClockRules {
        ClockRules {
            now,
            max_future_secs: config.max_future_secs,
            oldest_epoch: (now as u64).saturating_sub(config.retention_secs),
        }
    }

    /// Refuses the epoch of a low-level chunk or manifest that an event's
    /// timestamp could not have: past `max_future_secs` ahead, or older
    /// than retention. The same bounds and words as for an event.
    pub fn check_epoch(&self, epoch: u64) -> Result<(), EventError> {
        self.check_ahead(epoch as f64)?;
        if epoch < self.oldest_epoch {
            return Err(self.too_old(epoch as f64));
        }
        Ok(())
    }

    /// Refuses a timestamp more than `max_future_secs` ahead of the clock.
    fn check_ahead(&self, timestamp: f64) -> Result<(), EventError> {
        let ahead = timestamp - self.now;
        if ahead > self.max_future_secs as f64 {
            return Err(EventError::FutureTimestamp {
                timestamp,
                ahead_secs: ahead,
                max_secs: self.max_future_secs,
            });
        }
        Ok(())
    }

    /// Why an event at `timestamp`, older than retention, is not stored.
    fn too_old(&self, timestamp: f64) -> EventError {
        EventError::TooOld(format!(
            "\"timestamp\" {timestamp} is epoch {}, older than the retention horizon (epoch {}): it would be deleted at once, so it is not stored",
            timestamp.floor() as u64,
            self.oldest_epoch
        ))
    }
}

/// The (dc, type, subtype) an event is filed under.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Lane {
    /// Data center.
    pub dc: String,
    /// Event type.
    pub event_type: String,
    /// Event subtype, if any.
    pub subtype: Option<String>,
}

/// One accepted event: where its bytes are in its [`Part`] and where it goes.
#[derive(Debug, Clone, Copy)]
pub struct ParsedEvent {
    /// Offset of the event in its part's data.
    pub start: usize,
    /// Length of the event.
    pub len: usize,
    /// Its epoch (the whole second of its timestamp).
    pub epoch: u64,
    /// Index into [`ParsedBatch::lanes`].
    pub lane: usize,
}

/// Accepted events as MessagePack, back to back, and where each one is.
#[derive(Debug, Default)]
pub struct Part<'a> {
    /// The events' bytes: borrowed from the body when nothing had to change.
    pub data: Cow<'a, [u8]>,
    /// The events in input order.
    pub events: Vec<ParsedEvent>,
}

/// A batch that passed validation.
#[derive(Debug, Default)]
pub struct ParsedBatch<'a> {
    /// The accepted events, in input order, in one or more parts.
    pub parts: Vec<Part<'a>>,
    /// The distinct lanes of the batch.
    pub lanes: Vec<Lane>,
    /// Events refused because they are older than retention (the rest of the
    /// batch is still stored): the first few.
    pub too_old: Vec<EventRejection>,
    /// Total events refused as too old.
    pub too_old_total: usize,
}

impl ParsedBatch<'_> {
    /// How many events were accepted.
    pub fn event_count(&self) -> usize {
        self.parts.iter().map(|p| p.events.len()).sum()
    }

    /// Bytes of accepted events.
    pub fn byte_count(&self) -> usize {
        self.parts.iter().map(|p| p.data.len()).sum()
    }
}

impl Part<'_> {
    /// The bytes of one of its events.
    pub fn event_bytes(&self, event: &ParsedEvent) -> &[u8] {
        &self.data[event.start..event.start + event.len]
    }
}

/// Why a whole batch was refused: its invalid events (first few) and how many.
#[derive(Debug, Default)]
pub struct BatchRejected {
    /// The first invalid events, by position.
    pub rejections: Vec<EventRejection>,
    /// How many events were invalid.
    pub total: usize,
}

/// Parses and validates `body`. Any malformed or invalid event refuses the
/// whole batch (so a refused batch changes nothing); events older than
/// retention are left out and counted, the rest is accepted.
pub fn parse_batch<'a>(
    body: &'a [u8],
    format: Format,
    rules: &BatchRules,
) -> Result<ParsedBatch<'a>, BatchRejected> {
    match format {
        Format::MsgPack => parse_msgpack(body, rules),
        Format::Ndjson => parse_ndjson(body, rules),
    }
}

/// Collects the outcome of parsing one piece of a body.
#[derive(Default)]
struct Collector {
    lanes: Vec<Lane>,
    rejected: BatchRejected,
    too_old: Vec<EventRejection>,
    too_old_total: usize,
}

/// Where an event goes, or that it is too old to keep.
enum Route {
    Keep { epoch: u64, lane: usize },
    TooOld,
}

impl Collector {
    fn reject(&mut self, position: usize, error: EventError) {
        self.rejected.total += 1;
        if self.rejected.rejections.len() < MAX_REPORTED_REJECTIONS {
            self.rejected
                .rejections
                .push(EventRejection { position, error });
        }
    }

    /// Checks a scanned event against the rules and finds its lane.
    fn route(
        &mut self,
        header: &EventHeader<'_>,
        len: usize,
        position: usize,
        rules: &BatchRules,
    ) -> Result<Route, EventError> {
        if len > rules.max_event_bytes {
            return Err(EventError::TooLarge {
                size: len,
                limit: rules.max_event_bytes,
            });
        }
        let epoch = header.timestamp.floor() as u64;
        if let Some(clock) = rules.clock {
            clock.check_ahead(header.timestamp)?;
            if epoch < clock.oldest_epoch {
                self.too_old_total += 1;
                if self.too_old.len() < MAX_REPORTED_REJECTIONS {
                    let error = clock.too_old(header.timestamp);
                    self.too_old.push(EventRejection { position, error });
                }
                return Ok(Route::TooOld);
            }
        }
        let dc = header.dc.unwrap_or(&rules.default_dc);
        // A batch has few lanes (dcs x types x subtypes); a scan beats hashing,
        // and names are validated once per lane, not per event.
        let lane = match self.lanes.iter().position(|l| {
            l.dc == dc
                && l.event_type == header.event_type
                && l.subtype.as_deref() == header.subtype
        }) {
            Some(i) => i,
            None => {
                validate_dc(dc)?;
                validate_type("type", header.event_type)?;
                if let Some(subtype) = header.subtype {
                    validate_type("subtype", subtype)?;
                }
                self.lanes.push(Lane {
                    dc: dc.to_owned(),
                    event_type: header.event_type.to_owned(),
                    subtype: header.subtype.map(str::to_owned),
                });
                self.lanes.len() - 1
            }
        };
        Ok(Route::Keep { epoch, lane })
    }
}

fn parse_msgpack<'a>(body: &'a [u8], rules: &BatchRules) -> Result<ParsedBatch<'a>, BatchRejected> {
    let mut c = Collector::default();
    let mut events = Vec::new();
    let mut dropped = false;
    let mut pos = 0;
    let mut position = 0;
    while pos < body.len() {
        position += 1;
        let (header, len) = match scan_event(&body[pos..]) {
            Ok(scanned) => scanned,
            Err(error) => {
                // Without a valid event we cannot find the next one.
                c.reject(position, error);
                break;
            }
        };
        match c.route(&header, len, position, rules) {
            Ok(Route::Keep { epoch, lane }) => events.push(ParsedEvent {
                start: pos,
                len,
                epoch,
                lane,
            }),
            Ok(Route::TooOld) => dropped = true,
            Err(error) => c.reject(position, error),
        }
        pos += len;
    }
    if c.rejected.total > 0 {
        return Err(c.rejected);
    }
    let data = if dropped {
        // Keep only the accepted events, so the log holds exactly what is stored.
        let mut kept = Vec::with_capacity(body.len());
        for event in &mut events {
            let start = kept.len();
            kept.extend_from_slice(&body[event.start..event.start + event.len]);
            event.start = start;
        }
        Cow::Owned(kept)
    } else {
        Cow::Borrowed(body)
    };
    Ok(ParsedBatch {
        parts: vec![Part { data, events }],
        lanes: c.lanes,
        too_old: c.too_old,
        too_old_total: c.too_old_total,
    })
}

/// One piece of an NDJSON body, parsed.
struct Piece {
    part: Part<'static>,
    collector: Collector,
}

fn parse_ndjson_piece(piece: &[u8], first_line: usize, rules: &BatchRules) -> Piece {
    let mut c = Collector::default();
    // MessagePack is ~15% smaller than JSON on our workload.
    let mut data = Vec::with_capacity(piece.len());
    let mut events = Vec::new();
    for (index, line) in piece.split(|b| *b == b'\n').enumerate() {
        let position = first_line + index;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let start = data.len();
        let routed = transcode_event(line, &mut data)
            .and_then(|(header, len)| Ok((c.route(&header, len, position, rules)?, len)));
        match routed {
            Ok((Route::Keep { epoch, lane }, len)) => events.push(ParsedEvent {
                start,
                len,
                epoch,
                lane,
            }),
            Ok((Route::TooOld, _)) => data.truncate(start),
            Err(error) => {
                data.truncate(start);
                c.reject(position, error);
            }
        }
    }
    Piece {
        part: Part {
            data: Cow::Owned(data),
            events,
        },
        collector: c,
    }
}

/// Cuts `body` into about `n` pieces at line boundaries, each with the
/// 1-based number of its first line.
fn split_at_lines(body: &[u8], n: usize) -> Vec<(usize, &[u8])> {
    let target = body.len().div_ceil(n.max(1));
    let mut pieces = Vec::with_capacity(n);
    let mut start = 0;
    let mut line = 1;
    while start < body.len() {
        let mut end = (start + target).min(body.len());
        if end < body.len() {
            end = match body[end..].iter().position(|b| *b == b'\n') {
                Some(i) => end + i + 1,
                None => body.len(),
            };
        }
        let piece = &body[start..end];
        pieces.push((line, piece));
        line += piece.iter().filter(|b| **b == b'\n').count();
        start = end;
    }
    pieces
}

fn parse_ndjson<'a>(body: &'a [u8], rules: &BatchRules) -> Result<ParsedBatch<'a>, BatchRejected> {
    let pieces: Vec<Piece> = if body.len() < PARALLEL_PIECE_BYTES {
        vec![parse_ndjson_piece(body, 1, rules)]
    } else {
        split_at_lines(body, rayon::current_num_threads())
            .into_par_iter()
            .map(|(first_line, piece)| parse_ndjson_piece(piece, first_line, rules))
            .collect()
    };
    let mut batch = ParsedBatch::default();
    let mut rejected = BatchRejected::default();
    for Piece {
        mut part,
        collector,
    } in pieces
    {
        // Each piece numbered its own lanes: map them to the batch's.
        let map: Vec<usize> = collector
            .lanes
            .into_iter()
            .map(|lane| match batch.lanes.iter().position(|l| *l == lane) {
                Some(i) => i,
                None => {
                    batch.lanes.push(lane);
                    batch.lanes.len() - 1
                }
            })
            .collect();
        for event in &mut part.events {
            event.lane = map[event.lane];
        }
        batch.parts.push(part);
        rejected.total += collector.rejected.total;
        rejected.rejections.extend(collector.rejected.rejections);
        batch.too_old_total += collector.too_old_total;
        batch.too_old.extend(collector.too_old);
    }
    if rejected.total > 0 {
        rejected.rejections.truncate(MAX_REPORTED_REJECTIONS);
        return Err(rejected);
    }
    batch.too_old.truncate(MAX_REPORTED_REJECTIONS);
    Ok(batch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_cover_the_body_at_line_boundaries_with_their_line_numbers() {
        let body = b"a\nbb\n\nccc\nd";
        for n in 1..6 {
            let pieces = split_at_lines(body, n);
            let joined: Vec<u8> = pieces.iter().flat_map(|(_, p)| p.iter().copied()).collect();
            assert_eq!(joined, body);
            for (line, piece) in &pieces {
                let before = body[..piece.as_ptr() as usize - body.as_ptr() as usize]
                    .iter()
                    .filter(|b| **b == b'\n')
                    .count();
                assert_eq!(*line, before + 1);
                assert!(piece.ends_with(b"\n") || piece.ends_with(b"d"));
            }
        }
    }

    #[test]
    fn a_large_ndjson_body_parsed_in_pieces_keeps_order_and_line_numbers() {
        let rules = BatchRules {
            default_dc: "local".into(),
            max_event_bytes: 1 << 20,
            clock: None,
        };
        let mut body = Vec::new();
        for i in 0..20_000 {
            body.extend_from_slice(
                format!("{{\"timestamp\":{i},\"type\":\"T{}\",\"n\":{i}}}\n", i % 3).as_bytes(),
            );
        }
        assert!(body.len() > PARALLEL_PIECE_BYTES);
        let batch = parse_batch(&body, Format::Ndjson, &rules).unwrap();
        assert_eq!(batch.event_count(), 20_000);
        let epochs: Vec<u64> = batch
            .parts
            .iter()
            .flat_map(|p| p.events.iter().map(|e| e.epoch))
            .collect();
        assert_eq!(epochs, (0..20_000).collect::<Vec<u64>>());
        assert_eq!(batch.lanes.len(), 3);
        for part in &batch.parts {
            for e in &part.events {
                let (h, _) = scan_event(part.event_bytes(e)).unwrap();
                assert_eq!(batch.lanes[e.lane].event_type, h.event_type);
            }
        }
        body.extend_from_slice(b"{broken\n");
        let err = parse_batch(&body, Format::Ndjson, &rules).unwrap_err();
        assert_eq!(err.rejections[0].position, 20_001);
    }
}
