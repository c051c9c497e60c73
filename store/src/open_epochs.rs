//! The open epochs: epochs that have accepted events but are not sealed
//! yet, buffered in memory until the sealer commits them. (Opening the
//! store is `Store::open`, in `store.rs`.)
//!
//! Events are appended to a buffer per (epoch, dc) and, inside it, per lane
//! (type, subtype), cut into raw chunks at event boundaries once a lane
//! reaches the target size. The seal policy decides when an epoch is taken
//! out to be committed.
//!
//! Guarantees: within a lane, events stay in insertion (WAL) order; epochs
//! put back after a failed commit (`restore`) go ahead of the events of the
//! same (epoch, dc) that arrived since, which are newer in the WAL; over the
//! buffer budget the oldest epochs are taken out early, never dropped.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use crate::batch::ParsedBatch;
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
    /// When its first event arrived.
    pub first_arrival: Instant,
    /// When its last event arrived.
    pub last_arrival: Instant,
    /// The insert that last added events to it.
    last_insert: u64,
    /// Buffered bytes.
    pub bytes: usize,
    /// Buffered events.
    pub events: u64,
}

impl OpenEpoch {
    fn new(lsn: Lsn, now: Instant, insert: u64) -> OpenEpoch {
        OpenEpoch {
            lanes: BTreeMap::new(),
            first_lsn: lsn,
            first_arrival: now,
            last_arrival: now,
            last_insert: insert,
            bytes: 0,
            events: 0,
        }
    }
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
    /// ...or once this long has passed since its first event arrived.
    pub max_hold: Duration,
}

/// All open epochs: epoch -> dc -> buffer. Nested maps, so an event finds
/// its buffer by borrowed names, without allocating.
#[derive(Debug, Default)]
pub struct OpenEpochs {
    epochs: BTreeMap<u64, HashMap<String, OpenEpoch>>,
    count: usize,
    inserts: u64,
    bytes: usize,
}

impl OpenEpochs {
    /// Adds the events of a batch appended to the WAL as record `lsn`.
    /// `already_committed(epoch, dc)` tells, for replay, which events are
    /// already in a commit. Returns the (epoch, dc) that received events.
    pub fn insert(
        &mut self,
        batch: &ParsedBatch<'_>,
        lsn: Lsn,
        chunk_target: usize,
        mut already_committed: impl FnMut(u64, &str) -> bool,
    ) -> Vec<EpochDc> {
        let now = Instant::now();
        self.inserts += 1;
        let insert = self.inserts;
        let lane_keys: Vec<LaneKey> = batch
            .lanes
            .iter()
            .map(|l| (l.event_type.clone(), l.subtype.clone()))
            .collect();
        let mut touched: Vec<EpochDc> = Vec::new();
        for part in &batch.parts {
            for event in &part.events {
                let lane = &batch.lanes[event.lane];
                if already_committed(event.epoch, &lane.dc) {
                    continue;
                }
                let dcs = self.epochs.entry(event.epoch).or_default();
                let open = match dcs.get_mut(lane.dc.as_str()) {
                    Some(open) => open,
                    None => {
                        self.count += 1;
                        touched.push((event.epoch, lane.dc.clone()));
                        dcs.entry(lane.dc.clone())
                            .or_insert(OpenEpoch::new(lsn, now, insert))
                    }
                };
                if open.last_insert != insert {
                    open.last_insert = insert;
                    open.last_arrival = now;
                    touched.push((event.epoch, lane.dc.clone()));
                }
                let lane_key = &lane_keys[event.lane];
                let chunks = match open.lanes.get_mut(lane_key) {
                    Some(chunks) => chunks,
                    None => open.lanes.entry(lane_key.clone()).or_default(),
                };
                let bytes = part.event_bytes(event);
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
        let now_wall = crate::clock::since_epoch();
        let mut ready: Vec<EpochDc> = Vec::new();
        for (epoch, dcs) in &self.epochs {
            let window_end = Duration::from_secs(epoch + 1) + policy.grace;
            if now_wall < window_end {
                // Later epochs end later still.
                break;
            }
            for (dc, open) in dcs {
                if open.last_arrival.elapsed() >= policy.quiet
                    || open.first_arrival.elapsed() >= policy.max_hold
                {
                    ready.push((*epoch, dc.clone()));
                }
            }
        }
        let mut sealed: Vec<SealedEpoch> = ready
            .into_iter()
            .map(|id| self.remove(id, covered_lsn))
            .collect();
        // Over budget: seal the oldest epochs early. Their late events go to
        // a supplementary commit; nothing is dropped.
        while self.bytes > budget {
            let Some(id) = self.oldest() else {
                break;
            };
            sealed.push(self.remove(id, covered_lsn));
        }
        sealed
    }

    /// Takes out everything (for tests and draining).
    pub fn take_all(&mut self, covered_lsn: Lsn) -> Vec<SealedEpoch> {
        let mut sealed = Vec::with_capacity(self.count);
        while let Some(id) = self.oldest() {
            sealed.push(self.remove(id, covered_lsn));
        }
        sealed
    }

    fn oldest(&self) -> Option<EpochDc> {
        let (epoch, dcs) = self.epochs.iter().next()?;
        let dc = dcs.keys().min()?;
        Some((*epoch, dc.clone()))
    }

    fn remove(&mut self, id: EpochDc, covered_lsn: Lsn) -> SealedEpoch {
        let dcs = self.epochs.get_mut(&id.0).expect("id taken from the map");
        let epoch = dcs.remove(&id.1).expect("id taken from the map");
        if dcs.is_empty() {
            self.epochs.remove(&id.0);
        }
        self.count -= 1;
        self.bytes -= epoch.bytes;
        SealedEpoch {
            id,
            covered_lsn,
            epoch,
        }
    }

    /// Puts back epochs whose commit failed, ahead of any events of the
    /// same (epoch, dc) that arrived since they were taken out: their
    /// events are older in the WAL, so they must be committed first.
    pub fn restore(&mut self, sealed: Vec<SealedEpoch>) {
        for SealedEpoch {
            id: (epoch, dc),
            epoch: mut back,
            ..
        } in sealed
        {
            self.bytes += back.bytes;
            let dcs = self.epochs.entry(epoch).or_default();
            match dcs.remove(&dc) {
                Some(newer) => {
                    for (lane, chunks) in newer.lanes {
                        back.lanes.entry(lane).or_default().extend(chunks);
                    }
                    back.first_lsn = back.first_lsn.min(newer.first_lsn);
                    back.last_arrival = newer.last_arrival;
                    back.last_insert = newer.last_insert;
                    back.bytes += newer.bytes;
                    back.events += newer.events;
                }
                None => self.count += 1,
            }
            dcs.insert(dc, back);
        }
    }

    /// Bytes buffered.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// (epoch, dc) open.
    pub fn len(&self) -> usize {
        self.count
    }

    /// The oldest epoch with events buffered, if any.
    pub fn oldest_epoch(&self) -> Option<u64> {
        self.epochs.keys().next().copied()
    }

    /// The oldest WAL record still needed, if any epoch is open.
    pub fn oldest_lsn(&self) -> Option<Lsn> {
        self.epochs
            .values()
            .flat_map(HashMap::values)
            .map(|e| e.first_lsn)
            .min()
    }
}
