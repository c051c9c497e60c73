//! The low-level ingest path, for relocators: [`Store::put_chunk`] stores
//! one compressed chunk, [`Store::put_manifest`] commits a manifest of
//! stored chunks.
//!
//! Guarantees: chunks are immutable (the same bytes again are accepted,
//! others refused) and durable before "created" is answered; a manifest is
//! committed only if every chunk it names is stored with the size,
//! checksum, raw size and event count it says, and every event belongs
//! under its chunk's key; otherwise nothing is committed. Epochs outside
//! the bounds an event's timestamp must keep are refused on both calls.

use crate::batch::ClockRules;
use crate::blobfile::BlobRef;
use crate::chunk::{decompress, split_events, Checksum};
use crate::clock;
use crate::commit::Committed;
use crate::error::{ManifestError, StoreError};
use crate::key::ChunkKey;
use crate::manifest::Manifest;
use crate::msgpack::scan_event;

use super::{Inner, Store};

/// Whether a PUT of a chunk stored new bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// The chunk was stored.
    Created,
    /// The same bytes were already stored under that key.
    AlreadyPresent,
}

impl Store {
    /// Low-level ingest: stores one chunk blob (zstd-compressed MessagePack
    /// events of the key's epoch, dc, type and subtype). Chunks are
    /// immutable: the same bytes again are accepted, different bytes refused.
    /// A chunk is invisible to readers of commits until a manifest names it.
    pub fn put_chunk(&self, key: &ChunkKey, blob: &[u8]) -> Result<PutOutcome, StoreError> {
        self.inner.check_writable()?;
        key.validate()?;
        self.inner
            .check_epoch(key.epoch, || format!("chunk {key}"))?;
        let raw = decompress(blob).map_err(|reason| StoreError::BadChunk {
            key: Box::new(key.clone()),
            reason,
        })?;
        self.inner
            .check_chunk_events(key, &raw)
            .map_err(|reason| StoreError::BadChunk {
                key: Box::new(key.clone()),
                reason,
            })?;
        let inner = &self.inner;
        let encoded = key.encode();
        let same = |existing: &[u8]| -> Result<PutOutcome, StoreError> {
            let existing = BlobRef::decode(existing)?;
            if existing.checksum == Checksum::of(blob) && existing.len as usize == blob.len() {
                Ok(PutOutcome::AlreadyPresent)
            } else {
                Err(StoreError::ChunkConflict(Box::new(key.clone())))
            }
        };
        if let Some(existing) = inner.chunks.get(&encoded)? {
            return same(&existing);
        }
        let pointer = inner
            .check_room(blob.len() as u64)
            .and_then(|()| inner.files.append(key.epoch, blob))
            .and_then(|pointer| inner.files.sync([pointer.bucket]).map(|()| pointer))
            .map_err(|e| inner.refusal(e))?;
        match inner.chunks.compare_and_swap(
            &encoded,
            None as Option<&[u8]>,
            Some(&pointer.encode()[..]),
        )? {
            Ok(()) => {
                // Durable before the client hears "created": its manifest
                // may arrive right after a crash.
                inner.db.flush()?;
                Ok(PutOutcome::Created)
            }
            Err(e) => same(e.current.as_deref().unwrap_or_default()),
        }
    }

    /// Low-level ingest: commits a manifest whose chunks are all stored. Each
    /// chunk's size, checksum, event count and events are verified first; on
    /// any mismatch nothing is committed. Committing the same manifest again
    /// is a no-op; a different manifest under the same (epoch, dc, seq) is a
    /// conflict.
    pub fn put_manifest(&self, manifest: Manifest) -> Result<Committed, StoreError> {
        let inner = &self.inner;
        inner.check_writable()?;
        inner.check_epoch(manifest.epoch, || {
            format!(
                "manifest {}/{}/{}",
                manifest.epoch, manifest.dc, manifest.seq
            )
        })?;
        manifest.check()?;
        for entry in &manifest.chunks {
            inner.verify_entry(&manifest, entry)?;
        }
        let committed = {
            let _guard = inner.commit_lock.lock();
            inner.trees().commit_manifest(manifest, &[], None)?
        };
        inner.db.flush()?;
        crate::crashpoint::crash_point("after-commit");
        if let Some(notice) = &committed.notice {
            inner.stats.commits.inc();
            inner.publish(std::slice::from_ref(notice));
        }
        Ok(committed)
    }
}

impl Inner {
    /// Refuses a low-level chunk or manifest whose epoch is outside the
    /// bounds an event's timestamp must keep: one such commit would move
    /// the newest epoch of every reader far ahead of the clock, or be
    /// deleted by retention at once.
    fn check_epoch(&self, epoch: u64, subject: impl FnOnce() -> String) -> Result<(), StoreError> {
        ClockRules::at(clock::now_secs_f64(), &self.config)
            .check_epoch(epoch)
            .map_err(|reason| StoreError::EpochOutOfBounds {
                subject: subject(),
                reason,
            })
    }

    /// Checks a relocator's chunk against its manifest entry.
    fn verify_entry(
        &self,
        manifest: &Manifest,
        entry: &crate::manifest::ChunkEntry,
    ) -> Result<(), StoreError> {
        let key = manifest.chunk_key(entry);
        let blob = self
            .chunk(&key)?
            .ok_or_else(|| ManifestError::MissingChunk(key.clone()))?;
        if blob.len() as u64 != entry.bytes {
            return Err(ManifestError::SizeMismatch {
                key,
                expected: entry.bytes,
                actual: blob.len() as u64,
            }
            .into());
        }
        let actual = Checksum::of(&blob);
        if actual != entry.checksum {
            return Err(ManifestError::ChecksumMismatch {
                key,
                expected: entry.checksum.to_string(),
                actual: actual.to_string(),
            }
            .into());
        }
        let bad = |reason: String| ManifestError::BadChunk {
            key: key.clone(),
            reason,
        };
        let raw = decompress(&blob).map_err(bad)?;
        if raw.len() as u64 != entry.raw_bytes {
            return Err(bad(format!(
                "{} raw bytes, the manifest says {}",
                raw.len(),
                entry.raw_bytes
            ))
            .into());
        }
        let events = self.check_chunk_events(&key, &raw).map_err(bad)?;
        if events != entry.events {
            return Err(bad(format!(
                "{events} events, the manifest says {}",
                entry.events
            ))
            .into());
        }
        Ok(())
    }

    /// Checks that every event of a chunk is valid and belongs under its
    /// key; returns how many there are.
    fn check_chunk_events(&self, key: &ChunkKey, raw: &[u8]) -> Result<u64, String> {
        let mut count = 0;
        for (i, event) in split_events(raw).enumerate() {
            let event = event.map_err(|e| format!("event {}: {e}", i + 1))?;
            let (header, _) = scan_event(event).map_err(|e| format!("event {}: {e}", i + 1))?;
            let dc = header.dc.unwrap_or(&self.config.default_dc);
            let epoch = header.timestamp.floor() as u64;
            if epoch != key.epoch
                || dc != key.dc
                || header.event_type != key.event_type
                || header.subtype != key.subtype.as_deref()
            {
                return Err(format!(
                    "event {} is epoch {epoch}, dc {dc}, type {}, subtype {}: it does not belong in this chunk",
                    i + 1,
                    header.event_type,
                    header.subtype.unwrap_or(crate::key::NO_SUBTYPE)
                ));
            }
            count += 1;
        }
        Ok(count)
    }
}
