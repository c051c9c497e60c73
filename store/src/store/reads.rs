//! Reads of committed data: manifests, chunks (checked against their
//! checksums), a commit's events, and the list of commits.
//!
//! Guarantees: only committed data is listed (a manifest is written last,
//! in the commit transaction); a chunk deleted by retention while it is
//! read is `None`, not corruption; bytes that fail their checksum are an
//! error naming the chunk, never returned.

use crate::blobfile::BlobRef;
use crate::chunk::{decompress, Checksum};
use crate::error::StoreError;
use crate::key::{ChunkKey, ManifestKey};
use crate::manifest::Manifest;

use super::{Inner, Store};

/// A committed (epoch, dc, seq), as listed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CommitSummary {
    /// Unix second.
    pub epoch: u64,
    /// Data center.
    pub dc: String,
    /// 0 = primary commit, 1.. = supplementary.
    pub seq: u32,
    /// Events.
    pub events: u64,
    /// Chunks.
    pub chunks: usize,
    /// Stored bytes of all chunks.
    pub bytes: u64,
    /// Manifest digest (as in hook notices).
    pub digest: String,
}

impl Store {
    /// The manifest of one commit.
    pub fn manifest(&self, key: &ManifestKey) -> Result<Option<Manifest>, StoreError> {
        self.inner
            .manifests
            .get(key.encode())?
            .map(|bytes| Manifest::decode(&bytes))
            .transpose()
    }

    /// The stored bytes of one chunk, checked against their checksum.
    /// `None` when there is no such chunk (never stored, or deleted by
    /// retention). Bytes that are wrong (checksum mismatch, truncated or
    /// missing bucket file) are [`StoreError::CorruptChunk`], which reading
    /// again does not cure; an I/O error ([`StoreError::Io`]) may pass.
    pub fn chunk(&self, key: &ChunkKey) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.chunk(key)
    }

    /// The raw MessagePack events of one commit, in manifest order, each
    /// chunk checked against its checksum.
    pub fn commit_events(&self, key: &ManifestKey) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(manifest) = self.manifest(key)? else {
            return Ok(None);
        };
        let mut raw = Vec::new();
        for entry in &manifest.chunks {
            let chunk_key = manifest.chunk_key(entry);
            let blob = self.chunk(&chunk_key)?.ok_or_else(|| {
                StoreError::Corrupt(format!("committed chunk {chunk_key} is missing"))
            })?;
            if Checksum::of(&blob) != entry.checksum {
                return Err(StoreError::Corrupt(format!(
                    "chunk {chunk_key} fails its checksum"
                )));
            }
            raw.extend(decompress(&blob).map_err(StoreError::Corrupt)?);
        }
        Ok(Some(raw))
    }

    /// The commits with `from <= epoch <= to`, optionally of one dc, in
    /// (epoch, dc, seq) order.
    pub fn commits(
        &self,
        from: u64,
        to: u64,
        dc: Option<&str>,
    ) -> Result<Vec<CommitSummary>, StoreError> {
        let mut out = Vec::new();
        let end = to.saturating_add(1).to_be_bytes();
        for item in self.inner.manifests.range(from.to_be_bytes()..end) {
            let (_, value) = item?;
            let m = Manifest::decode(&value)?;
            if dc.is_some_and(|dc| dc != m.dc) {
                continue;
            }
            out.push(CommitSummary {
                epoch: m.epoch,
                dc: m.dc.clone(),
                seq: m.seq,
                events: m.events,
                chunks: m.chunks.len(),
                bytes: m.chunks.iter().map(|c| c.bytes).sum(),
                digest: m.digest(),
            });
        }
        Ok(out)
    }
}

impl Inner {
    pub(super) fn chunk(&self, key: &ChunkKey) -> Result<Option<Vec<u8>>, StoreError> {
        let encoded = key.encode();
        let Some(pointer) = self.chunks.get(&encoded)? else {
            return Ok(None);
        };
        match BlobRef::decode(&pointer).and_then(|r| self.files.read(&r)) {
            Ok(bytes) => Ok(Some(bytes)),
            // Retention deletes the pointer, then the file: a chunk whose
            // pointer went meanwhile is gone, not corrupt.
            Err(StoreError::Corrupt(_)) if !self.chunks.contains_key(&encoded)? => Ok(None),
            // Named with its key, so that a reader can record which chunk
            // is damaged instead of trying it again forever.
            Err(StoreError::Corrupt(reason)) => Err(StoreError::CorruptChunk {
                key: Box::new(key.clone()),
                reason,
            }),
            Err(e) => Err(e),
        }
    }
}
