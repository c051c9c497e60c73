//! One committed (epoch, dc) of the reference workload, chunked the way the store
//! chunks it, generated and compressed before anything is timed: the input of the
//! benchmarks that decode commits.
//!
//! The store groups an (epoch, dc)'s events by lane (type, subtype), appends each event
//! to its lane's last chunk, and starts a new chunk when the event would take it past
//! the chunk target (a chunk always holds at least one event); the manifest lists the
//! chunks in key order (type, subtype, chunk number). [`Commit::generate`] does the
//! same with the events of one second of a one-dc workload.

use std::collections::BTreeMap;

use epochd_workload::{Workload, WorkloadConfig};

/// The raw (MessagePack) chunks of one (epoch, dc), in manifest order.
#[derive(Debug, Clone)]
pub struct Commit {
    epoch: u64,
    dc: String,
    events: usize,
    chunks: Vec<RawChunk>,
}

/// One chunk: MessagePack events back to back.
#[derive(Debug, Clone, Default)]
pub struct RawChunk {
    /// The events' bytes.
    pub raw: Vec<u8>,
    /// How many events.
    pub events: usize,
}

impl Commit {
    /// The first `events` events of second `epoch` of the reference mix (docs/WORKLOAD.md,
    /// seed 42) with every event in data center `dc`, cut into chunks of at most
    /// `chunk_target` raw bytes per (type, subtype) lane.
    pub fn generate(epoch: u64, dc: &str, events: usize, chunk_target: usize) -> Commit {
        let workload = Workload::new(WorkloadConfig {
            dcs: vec![(dc.to_string(), 1)],
            ..WorkloadConfig::default()
        });
        let mut lanes: BTreeMap<(&'static str, String), Vec<RawChunk>> = BTreeMap::new();
        let mut bytes = Vec::with_capacity(2048);
        for event in workload.epoch(epoch, events) {
            bytes.clear();
            event.write_msgpack(&mut bytes);
            let lane = (event.kind().as_str(), event.subtype().to_string());
            let chunks = lanes.entry(lane).or_default();
            let cut = chunks
                .last()
                .is_none_or(|c| c.raw.len() + bytes.len() > chunk_target && c.events > 0);
            if cut {
                chunks.push(RawChunk::default());
            }
            let chunk = chunks.last_mut().expect("pushed above");
            chunk.raw.extend_from_slice(&bytes);
            chunk.events += 1;
        }
        Commit {
            epoch,
            dc: dc.to_string(),
            events,
            chunks: lanes.into_values().flatten().collect(),
        }
    }

    /// The commit's (epoch, dc) as the decoder takes it (seq 0).
    pub fn meta(&self) -> epochd_decode::EpochMeta {
        epochd_decode::EpochMeta {
            epoch: self.epoch,
            dc: self.dc.clone(),
            seq: 0,
        }
    }

    /// The second.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The data center.
    pub fn dc(&self) -> &str {
        &self.dc
    }

    /// Events in all.
    pub fn events(&self) -> usize {
        self.events
    }

    /// The chunks, in manifest order.
    pub fn chunks(&self) -> &[RawChunk] {
        &self.chunks
    }

    /// The chunks' raw bytes, in manifest order.
    pub fn raws(&self) -> Vec<&[u8]> {
        self.chunks.iter().map(|c| c.raw.as_slice()).collect()
    }

    /// MessagePack bytes in all.
    pub fn len(&self) -> usize {
        self.chunks.iter().map(|c| c.raw.len()).sum()
    }

    /// Whether the commit holds no event.
    pub fn is_empty(&self) -> bool {
        self.events == 0
    }

    /// Every chunk compressed with the store's own `compress` at `level`: the blobs
    /// the store would hold.
    pub fn compress(&self, level: i32) -> Vec<Vec<u8>> {
        self.chunks
            .iter()
            .map(|c| epochd_store::compress(&c.raw, level))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_hold_every_event_once_within_the_target() {
        let target = 64 << 10;
        let commit = Commit::generate(1_700_000_000, "ams4", 2_000, target);
        assert_eq!(commit.events(), 2_000);
        assert_eq!(
            commit.chunks().iter().map(|c| c.events).sum::<usize>(),
            2_000
        );
        assert!(commit.chunks().len() > 6, "6 lanes, several chunks each");
        let mut events = 0;
        for chunk in commit.chunks() {
            assert!(chunk.raw.len() <= target);
            let split: Vec<_> = epochd_store::split_events(&chunk.raw)
                .collect::<Result<_, _>>()
                .unwrap();
            assert_eq!(split.len(), chunk.events);
            events += split.len();
        }
        assert_eq!(events, 2_000);
        let blobs = commit.compress(3);
        assert_eq!(blobs.len(), commit.chunks().len());
        assert_eq!(
            epochd_store::decompress(&blobs[0]).unwrap(),
            commit.chunks()[0].raw
        );
    }
}

/// The commit a benchmark runs on, from its command line: `--events`,
/// `--chunk-bytes`, `--level` (flattened into each binary's arguments).
#[derive(Debug, Clone, clap::Args)]
pub struct CommitArgs {
    /// Events in the commit (reference workload, docs/WORKLOAD.md).
    #[arg(long, default_value_t = 100_000)]
    pub events: usize,
    /// Largest raw chunk, bytes (default: the store's chunk target).
    #[arg(long, default_value_t = epochd_store::StoreConfig::default().chunk_target_bytes)]
    pub chunk_bytes: usize,
    /// zstd level of the chunks (the store's default is 3).
    #[arg(long, default_value_t = 3)]
    pub level: i32,
}

impl CommitArgs {
    /// The commit these arguments describe: second 1_700_000_000 in dc `ams4`
    /// (not yet compressed: [`Commit::compress`] at `level`).
    pub fn generate(&self) -> Commit {
        Commit::generate(1_700_000_000, "ams4", self.events, self.chunk_bytes)
    }
}
