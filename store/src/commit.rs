//! The commit: chunks first, then the manifest together with the hook-outbox
//! entry (and, for ingested epochs, the WAL replay mark and the WAL position
//! the commit covers) in one sled transaction. Callers flush the database
//! before they report a commit.

use std::collections::HashMap;

use sled::transaction::{ConflictableTransactionError, Transactional, TransactionalTree};
use sled::Tree;

use epochd_hooks::{CommitNotice, Outbox, NOTICE_VERSION};

use crate::blobfile::{BlobFiles, BlobRef, BLOB_REF_LEN};
use crate::error::{ManifestError, StoreError};
use crate::key::{epoch_dc_prefix, lane_prefix, ChunkKey, ManifestKey};
use crate::manifest::{ChunkEntry, Manifest, MANIFEST_VERSION};
use crate::open_epochs::LaneKey;
use crate::wal::Lsn;

/// A compressed chunk ready to be stored.
pub struct CompressedChunk {
    /// Lane (type, subtype).
    pub lane: LaneKey,
    /// Stored bytes.
    pub blob: Vec<u8>,
    /// Raw size.
    pub raw_bytes: u64,
    /// Events in it.
    pub events: u64,
}

/// The trees a commit writes.
pub struct CommitTrees<'a> {
    /// Chunk pointers.
    pub chunks: &'a Tree,
    /// Chunk bytes.
    pub files: &'a BlobFiles,
    /// Manifests.
    pub manifests: &'a Tree,
    /// WAL replay marks per (epoch, dc).
    pub marks: &'a Tree,
    /// Per ingested commit (epoch, dc, seq), the WAL position it covers, so
    /// a batch from before a restart finds its commit (an idempotent
    /// repeat with `?wait=commit`).
    pub commit_lsns: &'a Tree,
    /// The hook outbox.
    pub outbox: &'a Outbox,
    /// For commit ids.
    pub db: &'a sled::Db,
    /// This node's name, for notices.
    pub node: &'a str,
}

/// What a commit produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The manifest written.
    pub manifest: Manifest,
    /// The notice queued for the daemon (`None` when the manifest was
    /// already committed and this was an idempotent repeat).
    pub notice: Option<CommitNotice>,
}

impl CommitTrees<'_> {
    /// The seq the next commit of (epoch, dc) gets. Callers hold the commit lock.
    pub fn next_seq(&self, epoch: u64, dc: &str) -> Result<u32, StoreError> {
        let last = self
            .manifests
            .scan_prefix(epoch_dc_prefix(epoch, dc))
            .keys()
            .next_back();
        Ok(match last.transpose()? {
            Some(key) => {
                let key = ManifestKey::decode(&key)
                    .ok_or_else(|| StoreError::Corrupt("undecodable manifest key".into()))?;
                key.seq + 1
            }
            None => 0,
        })
    }

    /// Stores the chunks of an ingested epoch under fresh chunk numbers (never
    /// overwriting a chunk), then commits them and their manifest, with the
    /// next seq, in one transaction.
    pub fn commit_ingested(
        &self,
        epoch: u64,
        dc: &str,
        chunks: Vec<CompressedChunk>,
        covered_lsn: Lsn,
    ) -> Result<Committed, StoreError> {
        let refs = chunks
            .iter()
            .map(|c| self.files.append(epoch, &c.blob))
            .collect::<Result<Vec<BlobRef>, _>>()?;
        self.files.sync(refs.iter().map(|r| r.bucket))?;
        crate::crashpoint::crash_point("after-chunks");
        loop {
            let mut next: HashMap<&LaneKey, u32> = HashMap::new();
            let mut entries = Vec::with_capacity(chunks.len());
            let mut pointers = Vec::with_capacity(chunks.len());
            for (chunk, blob) in chunks.iter().zip(&refs) {
                let (event_type, subtype) = &chunk.lane;
                let prefix = lane_prefix(epoch, dc, event_type, subtype.as_deref());
                let number = match next.get_mut(&chunk.lane) {
                    Some(n) => n,
                    None => {
                        let last = self
                            .chunks
                            .scan_prefix(&prefix)
                            .keys()
                            .next_back()
                            .transpose()?;
                        let first = match last {
                            Some(key) => chunk_number(&key)?.wrapping_add(1),
                            None => 0,
                        };
                        next.entry(&chunk.lane).or_insert(first)
                    }
                };
                let mut key = prefix;
                key.extend_from_slice(&number.to_be_bytes());
                pointers.push((key, blob.encode()));
                entries.push(ChunkEntry {
                    event_type: event_type.clone(),
                    subtype: subtype.clone(),
                    chunk: *number,
                    bytes: u64::from(blob.len),
                    raw_bytes: chunk.raw_bytes,
                    events: chunk.events,
                    checksum: blob.checksum,
                });
                *number = number.wrapping_add(1);
            }
            let manifest = Manifest {
                version: MANIFEST_VERSION,
                epoch,
                dc: dc.to_owned(),
                seq: self.next_seq(epoch, dc)?,
                events: entries.iter().map(|e| e.events).sum(),
                chunks: entries,
            };
            match self.commit_manifest(manifest, &pointers, Some(covered_lsn)) {
                // A relocator's upload took one of the numbers meanwhile:
                // chunks are immutable, so number again.
                Err(StoreError::ChunkConflict(_)) => continue,
                other => return other,
            }
        }
    }

    /// Writes `manifest`, its outbox notice and the given new chunk pointers
    /// atomically. The chunks' bytes must already be durable and checked. If
    /// the same manifest is already committed, nothing is written; a
    /// different one is a conflict, and so is a pointer whose key is taken.
    pub fn commit_manifest(
        &self,
        manifest: Manifest,
        new_chunks: &[(Vec<u8>, [u8; BLOB_REF_LEN])],
        covered_lsn: Option<Lsn>,
    ) -> Result<Committed, StoreError> {
        let key = manifest.key();
        let key_bytes = key.encode();
        if let Some(existing) = self.manifests.get(&key_bytes)? {
            if Manifest::decode(&existing)? == manifest {
                return Ok(Committed {
                    manifest,
                    notice: None,
                });
            }
            return Err(ManifestError::Conflict(key).into());
        }
        let notice = CommitNotice {
            version: NOTICE_VERSION,
            commit_id: self.db.generate_id()?,
            epoch: manifest.epoch,
            dc: manifest.dc.clone(),
            seq: manifest.seq,
            manifest_digest: manifest.digest(),
            node: self.node.to_owned(),
            events: manifest.events,
            chunks: manifest.chunks.len() as u32,
            committed_at_ms: crate::clock::now_ms(),
        };
        let encoded = manifest.encode();
        let mark_key = epoch_dc_prefix(manifest.epoch, &manifest.dc);
        let trees = (
            self.chunks,
            self.manifests,
            self.outbox.tree(),
            self.marks,
            self.commit_lsns,
        );
        trees.transaction(
            |(chunks, manifests, outbox, marks, commit_lsns): &(
                TransactionalTree,
                TransactionalTree,
                TransactionalTree,
                TransactionalTree,
                TransactionalTree,
            )| {
                if manifests.get(&key_bytes)?.is_some() {
                    return Err(ConflictableTransactionError::Abort(
                        ManifestError::Conflict(key.clone()).into(),
                    ));
                }
                for (chunk_key, pointer) in new_chunks {
                    if chunks.get(chunk_key)?.is_some() {
                        let key = ChunkKey::decode(chunk_key).expect("encoded by us");
                        return Err(ConflictableTransactionError::Abort(
                            StoreError::ChunkConflict(Box::new(key)),
                        ));
                    }
                    chunks.insert(chunk_key.as_slice(), pointer.as_slice())?;
                }
                manifests.insert(key_bytes.as_slice(), encoded.as_slice())?;
                Outbox::stage(outbox, &notice)?;
                if let Some(lsn) = covered_lsn {
                    marks.insert(mark_key.as_slice(), &lsn.to_be_bytes())?;
                    commit_lsns.insert(key_bytes.as_slice(), &lsn.to_be_bytes())?;
                }
                Ok(())
            },
        )?;
        Ok(Committed {
            manifest,
            notice: Some(notice),
        })
    }
}

fn chunk_number(key: &[u8]) -> Result<u32, StoreError> {
    key.last_chunk::<4>()
        .map(|b| u32::from_be_bytes(*b))
        .ok_or_else(|| StoreError::Corrupt("chunk key shorter than its number".into()))
}
