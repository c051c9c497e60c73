//! The write-ahead log of accepted ingest batches.
//!
//! A batch is acknowledged to its producer once it is in this log and the log
//! is synced to disk; it is committed (chunked, compressed, manifest written)
//! later, when its epoch is sealed. After a crash, the log is replayed and the
//! events not yet in a commit are buffered again. Segments are deleted once
//! every event in them is committed.
//!
//! Record layout: `len: u32 BE | lsn: u64 BE | xxh3-64(lsn ++ payload): u64 BE | payload`.
//! The payload is the batch's events, preceded, for a batch sent with an
//! idempotency key, by the key's section (`idempotency.rs`); this log does
//! not look inside it.
//! A torn or corrupt record ends the log: it and anything after it in that
//! segment were never acknowledged (the sync did not return), so they are cut.
//!
//! That rule is only safe if nothing acknowledged can ever lie behind a torn
//! record, so a failed append (a full disk mid-record) leaves the segment as
//! if it never happened: records are written at an explicit offset, the
//! segment is cut back to the end of the last whole record, and the next
//! append starts there again. LSNs only grow, even across a cut tail:
//! [`Wal::open`] starts above every LSN a replay mark already names.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::error::StoreError;

const HEADER_LEN: usize = 4 + 8 + 8;

/// Largest record accepted when reading; bigger lengths mean corruption.
const MAX_RECORD_BYTES: usize = 1 << 30;

/// A log sequence number: the position of a batch in the log, from 1.
pub type Lsn = u64;

struct Segment {
    first_lsn: Lsn,
    last_lsn: Lsn,
    path: PathBuf,
}

struct Writer {
    file: Arc<File>,
    /// End of the last whole record in the current segment: where the next
    /// record is written, whatever a failed write left beyond it.
    len: u64,
    next_lsn: Lsn,
    segments: VecDeque<Segment>,
}

/// The log. Appends are ordered by the caller; syncs are grouped.
pub struct Wal {
    dir: PathBuf,
    segment_bytes: u64,
    writer: Mutex<Writer>,
    /// Highest LSN known to be on disk. Held while syncing, so concurrent
    /// callers wait for one fsync instead of issuing their own.
    synced: Mutex<Lsn>,
}

fn segment_path(dir: &Path, first_lsn: Lsn) -> PathBuf {
    dir.join(format!("{first_lsn:020}.wal"))
}

fn checksum(lsn: Lsn, payload: &[u8]) -> u64 {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    hasher.update(&lsn.to_be_bytes());
    hasher.update(payload);
    hasher.digest()
}

impl Wal {
    /// Opens the log in `dir`, calling `replay` for every intact record in
    /// order, and cuts a torn tail. New records go to a fresh segment, from
    /// an LSN above both the last record kept and `min_next_lsn - 1` (the
    /// highest LSN a replay mark names: a cut tail must not hand out LSNs
    /// that a mark already claims as committed).
    pub fn open(
        dir: &Path,
        segment_bytes: u64,
        min_next_lsn: Lsn,
        mut replay: impl FnMut(Lsn, &[u8]) -> Result<(), StoreError>,
    ) -> Result<Wal, StoreError> {
        fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
        let mut names: Vec<(Lsn, PathBuf)> = Vec::new();
        for entry in fs::read_dir(dir).map_err(|e| StoreError::io(dir, e))? {
            let path = entry.map_err(|e| StoreError::io(dir, e))?.path();
            let first = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".wal"))
                .and_then(|n| n.parse::<Lsn>().ok());
            if let Some(first) = first {
                names.push((first, path));
            }
        }
        names.sort();
        // An empty segment still tells where LSNs had got to.
        let named = names.last().map_or(0, |(first, _)| *first);
        let mut segments = VecDeque::new();
        let mut last_lsn: Lsn = 0;
        for (first_lsn, path) in names {
            let seg_last = read_segment(&path, last_lsn, &mut replay)?;
            if seg_last >= first_lsn {
                last_lsn = seg_last;
                segments.push_back(Segment {
                    first_lsn,
                    last_lsn: seg_last,
                    path,
                });
            } else {
                // An empty segment (crash right after rotation): nothing to keep.
                fs::remove_file(&path).map_err(|e| StoreError::io(&path, e))?;
            }
        }
        let next_lsn = (last_lsn + 1).max(min_next_lsn).max(named);
        let file = create_segment(dir, next_lsn)?;
        segments.push_back(Segment {
            first_lsn: next_lsn,
            last_lsn: next_lsn - 1,
            path: segment_path(dir, next_lsn),
        });
        Ok(Wal {
            dir: dir.to_owned(),
            segment_bytes,
            writer: Mutex::new(Writer {
                file: Arc::new(file),
                len: 0,
                next_lsn,
                segments,
            }),
            synced: Mutex::new(next_lsn - 1),
        })
    }

    /// Appends one record, the concatenation of `parts`, and returns its
    /// LSN. Not yet durable: call [`Wal::sync`] before acknowledging.
    ///
    /// On an error (a full disk, say) the log is as if the append never
    /// happened: the record's bytes are cut off again and its LSN is handed
    /// to the next append, so no later record can land behind a torn one.
    pub fn append(&self, parts: &[&[u8]]) -> Result<Lsn, StoreError> {
        let total: usize = parts.iter().map(|p| p.len()).sum();
        let len = u32::try_from(total)
            .ok()
            .filter(|&len| len as usize <= MAX_RECORD_BYTES)
            .ok_or_else(|| {
                StoreError::Config(format!(
                    "a WAL record of {total} bytes is larger than {MAX_RECORD_BYTES}: lower max_body_bytes"
                ))
            })?;
        let mut w = self.writer.lock();
        if w.len >= self.segment_bytes {
            self.rotate(&mut w)?;
        }
        let lsn = w.next_lsn;
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        hasher.update(&lsn.to_be_bytes());
        for part in parts {
            hasher.update(part);
        }
        let mut header = [0u8; HEADER_LEN];
        header[..4].copy_from_slice(&len.to_be_bytes());
        header[4..12].copy_from_slice(&lsn.to_be_bytes());
        header[12..].copy_from_slice(&hasher.digest().to_be_bytes());
        let start = w.len;
        let mut offset = start;
        let written = std::iter::once(&header[..])
            .chain(parts.iter().copied())
            .try_for_each(|bytes| {
                w.file.write_all_at(bytes, offset)?;
                offset += bytes.len() as u64;
                Ok(())
            });
        if let Err(e) = written {
            let path = w.current_path(&self.dir);
            // Cut what a short write left, so the segment ends at its last
            // whole record. If even that fails, the bytes stay but harm
            // nothing: the next record overwrites them from `start`, and
            // replay stops at the first record that does not check out.
            if offset > start {
                if let Err(cut) = w.file.set_len(start) {
                    tracing::warn!(path = %path.display(), error = %cut,
                        "could not cut a failed append off the write-ahead log; the next append overwrites it");
                }
            }
            return Err(StoreError::io(path, e));
        }
        w.len = offset;
        w.next_lsn += 1;
        w.segments.back_mut().expect("current segment").last_lsn = lsn;
        Ok(lsn)
    }

    /// Makes every record up to `lsn` durable. Concurrent callers share one fsync.
    pub fn sync(&self, lsn: Lsn) -> Result<(), StoreError> {
        let mut synced = self.synced.lock();
        if *synced >= lsn {
            return Ok(());
        }
        let (file, upto) = {
            let w = self.writer.lock();
            (Arc::clone(&w.file), w.next_lsn - 1)
        };
        file.sync_data().map_err(|e| StoreError::io(&self.dir, e))?;
        *synced = upto;
        Ok(())
    }

    /// The LSN of the last appended record (0 when none).
    pub fn last_lsn(&self) -> Lsn {
        self.writer.lock().next_lsn - 1
    }

    /// Deletes the segments all of whose records have LSN < `lsn`: their
    /// events are committed. When the current segment is wholly committed
    /// too and holds at least `rotate_at` bytes, a new one is started so it
    /// can go as well: otherwise a quiet or refused producer would leave up
    /// to a whole segment of committed bytes on a disk that may be full.
    /// Under steady ingest the current segment is never wholly committed
    /// (the newest second is always open), so past `rotate_busy_at` bytes a
    /// new one is started anyway: the old one goes as soon as its last
    /// records are committed, a few seconds later, and the log stays near
    /// `rotate_busy_at` instead of a whole segment.
    pub fn release_before(
        &self,
        lsn: Lsn,
        rotate_at: u64,
        rotate_busy_at: u64,
    ) -> Result<usize, StoreError> {
        let mut w = self.writer.lock();
        let current = w.segments.back().expect("current segment");
        let holds_records = current.last_lsn >= current.first_lsn;
        let committed = current.last_lsn < lsn;
        if holds_records && ((committed && w.len >= rotate_at) || w.len >= rotate_busy_at) {
            self.rotate(&mut w)?;
        }
        let mut removed = 0;
        while w.segments.len() > 1 && w.segments.front().is_some_and(|s| s.last_lsn < lsn) {
            let segment = w.segments.front().expect("checked above");
            fs::remove_file(&segment.path).map_err(|e| StoreError::io(&segment.path, e))?;
            w.segments.pop_front();
            removed += 1;
        }
        Ok(removed)
    }

    /// Segments on disk (for tests and metrics).
    pub fn segment_count(&self) -> usize {
        self.writer.lock().segments.len()
    }

    /// Bytes of the current segment.
    #[cfg(test)]
    pub fn current_segment_bytes(&self) -> u64 {
        self.writer.lock().len
    }

    fn rotate(&self, w: &mut Writer) -> Result<(), StoreError> {
        // The old segment must be durable before records go elsewhere:
        // `sync` only fsyncs the current file.
        w.file
            .sync_data()
            .map_err(|e| StoreError::io(&self.dir, e))?;
        let first = w.next_lsn;
        w.file = Arc::new(create_segment(&self.dir, first)?);
        w.len = 0;
        w.segments.push_back(Segment {
            first_lsn: first,
            last_lsn: first - 1,
            path: segment_path(&self.dir, first),
        });
        Ok(())
    }
}

impl Writer {
    fn current_path(&self, dir: &Path) -> PathBuf {
        segment_path(
            dir,
            self.segments.back().expect("current segment").first_lsn,
        )
    }
}

fn create_segment(dir: &Path, first_lsn: Lsn) -> Result<File, StoreError> {
    let path = segment_path(dir, first_lsn);
    let file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&path)
        .map_err(|e| StoreError::io(&path, e))?;
    // The new file's directory entry must survive a crash too.
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io(dir, e))?;
    Ok(file)
}

/// Replays one segment; returns the last good LSN (or `prev_lsn` if none).
fn read_segment(
    path: &Path,
    prev_lsn: Lsn,
    replay: &mut impl FnMut(Lsn, &[u8]) -> Result<(), StoreError>,
) -> Result<Lsn, StoreError> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|e| StoreError::io(path, e))?;
    let mut pos = 0;
    let mut last = prev_lsn;
    while let Some(header) = bytes.get(pos..pos + HEADER_LEN) {
        let len = u32::from_be_bytes(header[..4].try_into().expect("4 bytes")) as usize;
        let lsn = u64::from_be_bytes(header[4..12].try_into().expect("8 bytes"));
        let sum = u64::from_be_bytes(header[12..].try_into().expect("8 bytes"));
        let Some(payload) = bytes.get(pos + HEADER_LEN..pos + HEADER_LEN + len) else {
            break;
        };
        if len > MAX_RECORD_BYTES || lsn <= last || checksum(lsn, payload) != sum {
            break;
        }
        replay(lsn, payload)?;
        last = lsn;
        pos += HEADER_LEN + len;
    }
    if pos < bytes.len() {
        tracing::warn!(
            path = %path.display(),
            kept = pos,
            cut = bytes.len() - pos,
            "cutting a torn or corrupt tail off the write-ahead log (it was never acknowledged)"
        );
        let file = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| StoreError::io(path, e))?;
        file.set_len(pos as u64)
            .and_then(|()| file.sync_all())
            .map_err(|e| StoreError::io(path, e))?;
    }
    Ok(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(dir: &Path) -> (Wal, Vec<(Lsn, Vec<u8>)>) {
        let mut seen = Vec::new();
        let wal = Wal::open(dir, 64, 0, |lsn, p| {
            seen.push((lsn, p.to_vec()));
            Ok(())
        })
        .unwrap();
        (wal, seen)
    }

    #[test]
    fn records_survive_reopen_in_order_across_segments() {
        let dir = tempfile::tempdir().unwrap();
        let (wal, seen) = collect(dir.path());
        assert!(seen.is_empty());
        for i in 0..10u8 {
            let lsn = wal.append(&[&[i; 40]]).unwrap();
            wal.sync(lsn).unwrap();
        }
        assert!(wal.segment_count() > 2, "64-byte segments must rotate");
        drop(wal);
        let (wal, seen) = collect(dir.path());
        assert_eq!(seen.len(), 10);
        for (i, (lsn, payload)) in seen.iter().enumerate() {
            assert_eq!(*lsn, i as u64 + 1);
            assert_eq!(payload, &vec![i as u8; 40]);
        }
        assert_eq!(wal.append(&[b"next"]).unwrap(), 11);
    }

    #[test]
    fn a_torn_tail_is_cut_and_the_rest_kept() {
        let dir = tempfile::tempdir().unwrap();
        let (wal, _) = collect(dir.path());
        let lsn = wal.append(&[b"first"]).unwrap();
        wal.append(&[b"sec", b"ond"]).unwrap();
        wal.sync(lsn + 1).unwrap();
        drop(wal);
        let path = segment_path(dir.path(), 1);
        let len = fs::metadata(&path).unwrap().len();
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(len - 3)
            .unwrap();
        let (_wal, seen) = collect(dir.path());
        assert_eq!(seen, vec![(1, b"first".to_vec())]);
        assert_eq!(fs::metadata(&path).unwrap().len(), (HEADER_LEN + 5) as u64);
    }

    #[test]
    fn released_segments_are_deleted_and_not_replayed() {
        let dir = tempfile::tempdir().unwrap();
        let (wal, _) = collect(dir.path());
        for i in 0..6u8 {
            wal.append(&[&[i; 50]]).unwrap();
        }
        wal.sync(6).unwrap();
        let before = wal.segment_count();
        wal.release_before(4, u64::MAX, u64::MAX).unwrap();
        assert!(wal.segment_count() < before);
        drop(wal);
        let (_wal, seen) = collect(dir.path());
        assert!(seen.iter().all(|(lsn, _)| *lsn >= 4), "{seen:?}");
        assert!(seen.iter().any(|(lsn, _)| *lsn == 6));
    }

    #[test]
    fn lsns_start_above_the_highest_replay_mark() {
        let dir = tempfile::tempdir().unwrap();
        let wal = Wal::open(dir.path(), 1 << 20, 100, |_, _| Ok(())).unwrap();
        assert_eq!(wal.append(&[b"a"]).unwrap(), 100);
        wal.sync(100).unwrap();
        drop(wal);
        let (wal, seen) = collect(dir.path());
        assert_eq!(seen, vec![(100, b"a".to_vec())]);
        assert_eq!(wal.append(&[b"b"]).unwrap(), 101);
    }

    /// Regression (the soak benchmark): under steady ingest a segment was
    /// never wholly committed, so the log grew to a whole segment (64 MiB)
    /// before it rotated.
    #[test]
    fn a_busy_segment_is_closed_past_its_size_and_deleted_once_committed() {
        let dir = tempfile::tempdir().unwrap();
        let wal = Wal::open(dir.path(), 1 << 20, 0, |_, _| Ok(())).unwrap();
        for i in 0..4u8 {
            wal.append(&[&[i; 100]]).unwrap();
        }
        wal.sync(4).unwrap();
        // Records 3 and 4 are not committed: the segment is closed anyway.
        assert_eq!(wal.release_before(3, 100, 300).unwrap(), 0);
        assert_eq!(wal.segment_count(), 2);
        assert_eq!(wal.current_segment_bytes(), 0);
        wal.append(&[b"five"]).unwrap();
        wal.sync(5).unwrap();
        // Once they are, the closed segment goes; the new one stays.
        assert_eq!(wal.release_before(5, u64::MAX, u64::MAX).unwrap(), 1);
        assert_eq!(wal.segment_count(), 1);
        drop(wal);
        let (_, seen) = collect(dir.path());
        assert_eq!(seen, vec![(5, b"five".to_vec())]);
    }

    #[test]
    fn a_wholly_committed_segment_is_closed_and_deleted_once_big_enough() {
        let dir = tempfile::tempdir().unwrap();
        let wal = Wal::open(dir.path(), 1 << 20, 0, |_, _| Ok(())).unwrap();
        for i in 0..4u8 {
            wal.append(&[&[i; 100]]).unwrap();
        }
        wal.sync(4).unwrap();
        assert_eq!(
            wal.release_before(5, 1 << 20, u64::MAX).unwrap(),
            0,
            "below the size"
        );
        assert!(wal.current_segment_bytes() > 0);
        assert_eq!(
            wal.release_before(4, 100, u64::MAX).unwrap(),
            0,
            "record 4 is not committed"
        );
        assert_eq!(wal.release_before(5, 100, u64::MAX).unwrap(), 1);
        assert_eq!(wal.segment_count(), 1);
        assert_eq!(wal.current_segment_bytes(), 0);
        drop(wal);
        let (wal, seen) = collect(dir.path());
        assert!(seen.is_empty(), "{seen:?}");
        assert_eq!(wal.append(&[b"next"]).unwrap(), 5, "LSNs go on");
    }
}
