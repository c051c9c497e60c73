//! Building what a relocator sends: chunk blobs and their manifest.

use std::collections::BTreeMap;

use crate::chunk::{compress, split_events, Checksum};
use crate::error::EventError;
use crate::key::ChunkKey;
use crate::manifest::{ChunkEntry, Manifest, MANIFEST_VERSION};
use crate::msgpack::scan_event;

/// One commit as a relocator uploads it: `PUT` every chunk, then the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// The chunk blobs under their keys.
    pub chunks: Vec<(ChunkKey, Vec<u8>)>,
    /// The manifest naming them.
    pub manifest: Manifest,
}

impl Upload {
    /// Groups MessagePack events (back to back) into one upload per (epoch,
    /// dc), in that order, each with one chunk per (type, subtype), compressed
    /// at zstd `level`, committed as `seq`. Events without `dc` go to `default_dc`.
    pub fn group(
        events: &[u8],
        seq: u32,
        default_dc: &str,
        level: i32,
    ) -> Result<Vec<Upload>, EventError> {
        type Lanes = BTreeMap<(String, Option<String>), (Vec<u8>, u64)>;
        let mut commits: BTreeMap<(u64, String), Lanes> = BTreeMap::new();
        for event in split_events(events) {
            let event = event.map_err(EventError::MsgPack)?;
            let (header, _) = scan_event(event)?;
            let dc = header.dc.unwrap_or(default_dc).to_owned();
            let lane = (
                header.event_type.to_owned(),
                header.subtype.map(str::to_owned),
            );
            let (raw, count) = commits
                .entry((header.timestamp.floor() as u64, dc))
                .or_default()
                .entry(lane)
                .or_default();
            raw.extend_from_slice(event);
            *count += 1;
        }
        Ok(commits
            .into_iter()
            .map(|((epoch, dc), lanes)| {
                let mut chunks = Vec::with_capacity(lanes.len());
                let mut entries = Vec::with_capacity(lanes.len());
                for ((event_type, subtype), (raw, events)) in lanes {
                    let blob = compress(&raw, level);
                    entries.push(ChunkEntry {
                        event_type: event_type.clone(),
                        subtype: subtype.clone(),
                        chunk: 0,
                        bytes: blob.len() as u64,
                        raw_bytes: raw.len() as u64,
                        events,
                        checksum: Checksum::of(&blob),
                    });
                    let key = ChunkKey {
                        epoch,
                        dc: dc.clone(),
                        event_type,
                        subtype,
                        chunk: 0,
                    };
                    chunks.push((key, blob));
                }
                let manifest = Manifest {
                    version: MANIFEST_VERSION,
                    epoch,
                    dc,
                    seq,
                    events: entries.iter().map(|e| e.events).sum(),
                    chunks: entries,
                };
                Upload { chunks, manifest }
            })
            .collect())
    }
}
