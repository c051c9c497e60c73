//! The reference workload (docs/WORKLOAD.md), generated and encoded before anything is
//! timed.
//!
//! A benchmark describes its input with a [`StreamSpec`] (how many events over which
//! seconds), encodes it once per format into an [`EncodedStream`], and then cuts that
//! into request bodies ([`EncodedStream::batches`]) or compression pieces
//! ([`EncodedStream::pieces`]) without copying: both are slices cut at event
//! boundaries, so every piece holds whole events.

use epochd_workload::{Format, Workload};

/// Which events a stream holds: `events` spread evenly over the `epochs` seconds
/// starting at `first_epoch` (earlier seconds take one more when it does not divide).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamSpec {
    /// First second (unix time).
    pub first_epoch: u64,
    /// Number of consecutive seconds.
    pub epochs: u64,
    /// Events in all.
    pub events: usize,
}

impl StreamSpec {
    /// `events` over `epochs` seconds starting `secs_ago` seconds before now, so that a
    /// store accepts them (not older than its retention, not in the future) and seals
    /// them as soon as they stop arriving.
    pub fn recent(events: usize, epochs: u64, secs_ago: u64) -> StreamSpec {
        let now = epochd_store::clock::now_secs();
        StreamSpec {
            first_epoch: now.saturating_sub(secs_ago),
            epochs,
            events,
        }
    }

    /// Events in second `first_epoch + index`.
    pub fn events_in(&self, index: u64) -> usize {
        if index >= self.epochs {
            return 0;
        }
        let epochs = self.epochs as usize;
        let base = self.events / epochs;
        base + usize::from((index as usize) < self.events % epochs)
    }

    /// The last second holding events.
    pub fn last_epoch(&self) -> u64 {
        self.first_epoch + self.epochs.saturating_sub(1)
    }
}

/// One encoding of a stream: the events back to back, in timestamp order, and where
/// each one ends.
#[derive(Debug, Clone)]
pub struct EncodedStream {
    format: Format,
    bytes: Vec<u8>,
    /// End offset of each event in `bytes`.
    ends: Vec<usize>,
}

impl EncodedStream {
    /// Generates the events of `spec` from `workload` and encodes them in `format`
    /// (MessagePack maps back to back, or NDJSON lines).
    pub fn generate(workload: &Workload, spec: &StreamSpec, format: Format) -> EncodedStream {
        let per_event = match format {
            Format::MsgPack => 600,
            Format::Ndjson => 710,
        };
        let mut bytes = Vec::with_capacity(spec.events.saturating_mul(per_event));
        let mut ends = Vec::with_capacity(spec.events);
        for index in 0..spec.epochs {
            for event in workload.epoch(spec.first_epoch + index, spec.events_in(index)) {
                event.write(format, &mut bytes);
                ends.push(bytes.len());
            }
        }
        EncodedStream {
            format,
            bytes,
            ends,
        }
    }

    /// The encoding.
    pub fn format(&self) -> Format {
        self.format
    }

    /// All events, back to back.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Size in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether the stream holds no event.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Number of events.
    pub fn events(&self) -> usize {
        self.ends.len()
    }

    /// Consecutive runs of `events_per_batch` events (the last may be shorter): the
    /// request bodies a producer would send.
    pub fn batches(&self, events_per_batch: usize) -> Vec<&[u8]> {
        let per = events_per_batch.max(1);
        let mut out = Vec::with_capacity(self.ends.len().div_ceil(per));
        let mut start = 0;
        for chunk in self.ends.chunks(per) {
            let end = *chunk.last().expect("chunks are never empty");
            out.push(&self.bytes[start..end]);
            start = end;
        }
        out
    }

    /// Consecutive pieces of at most `max_bytes` each, cut at event boundaries, the way
    /// the store cuts chunks (a single event larger than `max_bytes` is a piece alone).
    pub fn pieces(&self, max_bytes: usize) -> Vec<&[u8]> {
        let mut out = Vec::with_capacity(self.bytes.len() / max_bytes.max(1) + 1);
        let mut start = 0;
        let mut last_end = 0;
        for &end in &self.ends {
            if end - start > max_bytes && last_end > start {
                out.push(&self.bytes[start..last_end]);
                start = last_end;
            }
            last_end = end;
        }
        if last_end > start {
            out.push(&self.bytes[start..last_end]);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use epochd_workload::WorkloadConfig;

    use super::*;

    fn spec() -> StreamSpec {
        StreamSpec {
            first_epoch: 1_700_000_000,
            epochs: 3,
            events: 1_001,
        }
    }

    #[test]
    fn events_are_spread_over_the_epochs() {
        let spec = spec();
        let counts: Vec<usize> = (0..4).map(|i| spec.events_in(i)).collect();
        assert_eq!(counts, [334, 334, 333, 0]);
        assert_eq!(spec.last_epoch(), 1_700_000_002);
    }

    #[test]
    fn batches_and_pieces_cover_the_stream_at_event_boundaries() {
        let workload = Workload::new(WorkloadConfig::default());
        for format in [Format::MsgPack, Format::Ndjson] {
            let stream = EncodedStream::generate(&workload, &spec(), format);
            assert_eq!(stream.events(), 1_001);

            let batches = stream.batches(100);
            assert_eq!(batches.len(), 11);
            assert_eq!(batches.concat(), stream.bytes());

            let pieces = stream.pieces(50_000);
            assert!(pieces.len() > 1);
            assert_eq!(pieces.concat(), stream.bytes());
            let mut offset = 0;
            for piece in &pieces {
                assert!(piece.len() <= 50_000);
                offset += piece.len();
                assert!(
                    stream.ends.binary_search(&offset).is_ok(),
                    "cut inside an event"
                );
            }
        }
        let ndjson = EncodedStream::generate(&workload, &spec(), Format::Ndjson);
        for batch in ndjson.batches(100) {
            assert_eq!(batch.last(), Some(&b'\n'));
        }
    }
}
