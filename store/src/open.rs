//! Epochs that have accepted events but are not sealed yet.
//!
//! Events are appended to a buffer per (epoch, dc) and, inside it, per lane
//! (type, subtype), cut into raw chunks at event boundaries once a lane
//! reaches the target size. The seal policy decides when an epoch is taken
//! out to be committed.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::batch::{Lane, ParsedBatch};
use crate::wal::Lsn;

/// (epoch, dc): the unit that is committed.
pub type EpochDc = (u64, String);

/// (type, subtype): how events are grouped into chunks.
pub type LaneKey = (String, Option<String>);

/// Raw MessagePack events of one future chunk.
#[derive(Debug, Default)]
pub struct RawChunk {
    /// The events, back to back.
    pub raw: Vec<u8>,
    /// How many.
    pub events: u64,
}

/// One (epoch, dc) being filled.
#[derive(Debug)]
pub struct OpenEpoch {
    /// Cut chunks and the chunk being filled, per lane.
    pub lanes: BTreeMap<LaneKey, Vec<RawChunk>>,
    /// Oldest WAL record with events in this epoch.
    pub first_lsn: Lsn,
    /// When the last event arrived.
    pub last_arrival: Instant,
    /// Buffered bytes.
    pub bytes: usize,
    /// Buffered events.
    pub events: u64,
}

/// An epoch taken out of the buffer to be committed.
#[derive(Debug)]
pub struct SealedEpoch {
    /// Which (epoch, dc).
    pub id: EpochDc,
    /// Every WAL record up to this one has had its events of `id` in this or
    /// an earlier commit: the replay mark.
    pub covered_lsn: Lsn,
    /// The buffered events.
    pub epoch: OpenEpoch,
}

/// When to seal.
#[derive(Debug, Clone, Copy)]
pub struct SealPolicy {
    /// Wait this long after the epoch's second ended.
    pub grace: Duration,
    /// Then seal once no event arrived for this long...
    pub quiet: Duration,
    /// ...or at the latest this long after the grace ended.
    pub max_hold: Duration,
}

/// All open epochs.
#[derive(Debug, Default)]
pub struct OpenEpochs {
    epochs: BTreeMap<EpochDc, OpenEpoch>,
    bytes: usize,
}

impl OpenEpochs {
    /// Adds the events of a batch appended to the WAL as record `lsn`.
    /// `covered` tells, for replay, which events are already committed.
    pub fn insert(
        &mut self,
        batch: &ParsedBatch,
        lsn: Lsn,
        chunk_target: usize,
        mut already_committed: impl FnMut(u64, &str) -> bool,
    ) -> Vec<EpochDc> {
        let now = Instant::now();
        let mut touched: Vec<EpochDc> = Vec::new();
        for event in &batch.events {
            let Lane {
                dc,
                event_type,
                subtype,
            } = &batch.lanes[event.lane];
            if already_committed(event.epoch, dc) {
                continue;
            }
            let id = (event.epoch, dc.clone());
            if touched.last() != Some(&id) && !touched.contains(&id) {
                touched.push(id.clone());
            }
            let open = self.epochs.entry(id).or_insert_with(|| OpenEpoch {
                lanes: BTreeMap::new(),
                first_lsn: lsn,
                last_arrival: now,
                bytes: 0,
                events: 0,
            });
            open.last_arrival = now;
            let chunks = open
                .lanes
                .entry((event_type.clone(), subtype.clone()))
                .or_default();
            let bytes = batch.event_bytes(event);
            let cut = chunks
                .last()
                .is_none_or(|c| c.raw.len() + bytes.len() > chunk_target && c.events > 0);
            if cut {
                chunks.push(RawChunk::default());
            }
            let chunk = chunks.last_mut().expect("pushed above");
            chunk.raw.extend_from_slice(bytes);
            chunk.events += 1;
            open.bytes += bytes.len();
            open.events += 1;
            self.bytes += bytes.len();
        }
        touched
    }

    /// Takes out every epoch the policy says is ready, plus the oldest ones
    /// while over `budget` bytes. `covered_lsn` is the last WAL record
    /// appended: every record up to it has been inserted.
    pub fn take_ready(
        &mut self,
        policy: &SealPolicy,
        budget: usize,
        covered_lsn: Lsn,
    ) -> Vec<SealedEpoch> {
        let now_wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let ready: Vec<EpochDc> = self
            .epochs
            .iter()
            .filter(|((epoch, _), open)| {
                let window_end = Duration::from_secs(epoch + 1) + policy.grace;
                now_wall >= window_end
                    && (open.last_arrival.elapsed() >= policy.quiet
                        || now_wall >= window_end + policy.max_hold)
            })
            .map(|(id, _)| id.clone())
            .collect();
        let mut sealed: Vec<SealedEpoch> = ready
            .into_iter()
            .map(|id| self.remove(id, covered_lsn))
            .collect();
        // Over budget: seal the oldest epochs early. Their late events go to
        // a supplementary commit; nothing is dropped.
        while self.bytes > budget {
            let Some(id) = self.epochs.keys().next().cloned() else {
                break;
            };
            sealed.push(self.remove(id, covered_lsn));
        }
        sealed
    }

    /// Takes out everything (for tests and shutdown).
    pub fn take_all(&mut self, covered_lsn: Lsn) -> Vec<SealedEpoch> {
        let ids: Vec<EpochDc> = self.epochs.keys().cloned().collect();
        ids.into_iter()
            .map(|id| self.remove(id, covered_lsn))
            .collect()
    }

    fn remove(&mut self, id: EpochDc, covered_lsn: Lsn) -> SealedEpoch {
        let epoch = self.epochs.remove(&id).expect("id taken from the map");
        self.bytes -= epoch.bytes;
        SealedEpoch {
            id,
            covered_lsn,
            epoch,
        }
    }

    /// Bytes buffered.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Epochs open.
    pub fn len(&self) -> usize {
        self.epochs.len()
    }

    /// The oldest WAL record still needed, if any epoch is open.
    pub fn oldest_lsn(&self) -> Option<Lsn> {
        self.epochs.values().map(|e| e.first_lsn).min()
    }
}
