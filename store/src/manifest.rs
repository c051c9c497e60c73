//! Manifests: the list of a commit's chunks. Writing one is the commit.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::chunk::Checksum;
use crate::error::{ManifestError, StoreError};
use crate::key::{validate_dc, validate_type, ChunkKey, ManifestKey};

/// The manifest format this store writes and reads.
pub const MANIFEST_VERSION: u16 = 1;

/// One commit of (epoch, dc): its chunks with sizes, event counts and checksums.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Format version, [`MANIFEST_VERSION`].
    pub version: u16,
    /// Unix second.
    pub epoch: u64,
    /// Data center.
    pub dc: String,
    /// 0 for the epoch's primary commit, 1.. for supplementary commits of late events.
    pub seq: u32,
    /// Events in all chunks.
    pub events: u64,
    /// The chunks, in key order.
    pub chunks: Vec<ChunkEntry>,
}

/// One chunk of a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChunkEntry {
    /// Event type of the chunk's events.
    #[serde(rename = "type")]
    pub event_type: String,
    /// Event subtype, if the events have one.
    #[serde(default)]
    pub subtype: Option<String>,
    /// Chunk number.
    pub chunk: u32,
    /// Stored (compressed) size.
    pub bytes: u64,
    /// Raw (MessagePack) size.
    pub raw_bytes: u64,
    /// Events in the chunk.
    pub events: u64,
    /// xxh3-64 of the stored bytes.
    pub checksum: Checksum,
}

impl Manifest {
    /// Where this manifest is stored.
    pub fn key(&self) -> ManifestKey {
        ManifestKey {
            epoch: self.epoch,
            dc: self.dc.clone(),
            seq: self.seq,
        }
    }

    /// The key of one of its chunks.
    pub fn chunk_key(&self, entry: &ChunkEntry) -> ChunkKey {
        ChunkKey {
            epoch: self.epoch,
            dc: self.dc.clone(),
            event_type: entry.event_type.clone(),
            subtype: entry.subtype.clone(),
            chunk: entry.chunk,
        }
    }

    /// The stored encoding (MessagePack with field names).
    pub fn encode(&self) -> Vec<u8> {
        rmp_serde::to_vec_named(self).expect("a manifest always serializes")
    }

    /// Reads a stored manifest.
    pub fn decode(bytes: &[u8]) -> Result<Manifest, StoreError> {
        rmp_serde::from_slice(bytes).map_err(|e| StoreError::Corrupt(format!("manifest: {e}")))
    }

    /// xxh3-128 of the stored encoding, as 32 hex digits: names this exact
    /// commit in hook notices.
    pub fn digest(&self) -> String {
        format!("{:032x}", xxhash_rust::xxh3::xxh3_128(&self.encode()))
    }

    /// Checks the manifest on its own: version, names, no chunk listed twice,
    /// and the event total equal to the sum of its chunks.
    pub fn check(&self) -> Result<(), StoreError> {
        if self.version != MANIFEST_VERSION {
            return Err(ManifestError::Version {
                found: self.version,
                supported: MANIFEST_VERSION,
            }
            .into());
        }
        validate_dc(&self.dc)?;
        let mut seen = HashSet::new();
        for entry in &self.chunks {
            validate_type("type", &entry.event_type)?;
            if let Some(subtype) = &entry.subtype {
                validate_type("subtype", subtype)?;
            }
            if !seen.insert((&entry.event_type, &entry.subtype, entry.chunk)) {
                return Err(ManifestError::Inconsistent(format!(
                    "chunk {} is listed twice",
                    self.chunk_key(entry)
                ))
                .into());
            }
        }
        // Checked: the counts are the sender's, and may add up past u64.
        let sum = self
            .chunks
            .iter()
            .try_fold(0u64, |sum, c| sum.checked_add(c.events));
        if sum != Some(self.events) {
            return Err(ManifestError::Inconsistent(format!(
                "\"events\" is {} but the chunks hold {}",
                self.events,
                sum.map_or_else(|| "more than 2^64".into(), |s| s.to_string())
            ))
            .into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(chunk: u32, events: u64) -> ChunkEntry {
        ChunkEntry {
            event_type: "WEB".into(),
            subtype: None,
            chunk,
            bytes: 1,
            raw_bytes: 1,
            events,
            checksum: Checksum(0),
        }
    }

    /// Regression (found with fuzz/manifest): event counts adding up past
    /// u64 panicked (debug builds) or wrapped (release builds, where the
    /// wrapped sum could even match) instead of refusing the manifest.
    #[test]
    fn event_counts_that_overflow_are_inconsistent() {
        let manifest = Manifest {
            version: MANIFEST_VERSION,
            epoch: 1,
            dc: "ams4".into(),
            seq: 0,
            events: 0,
            chunks: vec![entry(0, u64::MAX), entry(1, 1)],
        };
        let err = manifest.check().unwrap_err().to_string();
        assert!(err.contains("more than 2^64"), "{err}");
        let fine = Manifest {
            events: u64::MAX,
            chunks: vec![entry(0, u64::MAX - 1), entry(1, 1)],
            ..manifest
        };
        fine.check().unwrap();
    }
}
