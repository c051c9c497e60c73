//! Chunk bytes live in append-only files, one per time bucket; sled holds a
//! small pointer per chunk key.
//!
//! Why not the chunk bytes inside sled: sled 0.34 does not give the space of
//! deleted values back to the file system under steady ingest (measured:
//! database bytes grew linearly over 400 epochs while only the newest 10 were
//! kept; see docs/STORAGE.md). Retention must free disk, so chunks are
//! grouped by epoch into bucket files that retention deletes whole. The
//! pointer is written in the same sled transaction as the manifest, after the
//! bytes are synced, so a crash leaves no pointer to bytes that are not on
//! disk, and bytes without a pointer are only garbage until their bucket goes.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::chunk::Checksum;
use crate::error::StoreError;

/// Where one chunk's bytes are, and their checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobRef {
    /// First epoch of the bucket file.
    pub bucket: u64,
    /// Offset in the file.
    pub offset: u64,
    /// Length in bytes.
    pub len: u32,
    /// xxh3-64 of the bytes.
    pub checksum: Checksum,
}

/// Encoded size of a [`BlobRef`].
pub const BLOB_REF_LEN: usize = 8 + 8 + 4 + 8;

impl BlobRef {
    /// The value stored in the `chunks` tree.
    pub fn encode(&self) -> [u8; BLOB_REF_LEN] {
        let mut out = [0u8; BLOB_REF_LEN];
        out[..8].copy_from_slice(&self.bucket.to_be_bytes());
        out[8..16].copy_from_slice(&self.offset.to_be_bytes());
        out[16..20].copy_from_slice(&self.len.to_be_bytes());
        out[20..].copy_from_slice(&self.checksum.0.to_be_bytes());
        out
    }

    /// Reads a value of the `chunks` tree.
    pub fn decode(bytes: &[u8]) -> Result<BlobRef, StoreError> {
        let bytes: &[u8; BLOB_REF_LEN] = bytes.try_into().map_err(|_| {
            StoreError::Corrupt(format!(
                "a chunk pointer has {} bytes, not {BLOB_REF_LEN}",
                bytes.len()
            ))
        })?;
        let u64_at = |i: usize| u64::from_be_bytes(bytes[i..i + 8].try_into().expect("8 bytes"));
        Ok(BlobRef {
            bucket: u64_at(0),
            offset: u64_at(8),
            len: u32::from_be_bytes(bytes[16..20].try_into().expect("4 bytes")),
            checksum: Checksum(u64_at(20)),
        })
    }
}

struct Bucket {
    file: File,
    /// Append position. Held while writing, so appends do not overlap.
    len: Mutex<u64>,
}

/// The bucket files of a store.
pub struct BlobFiles {
    dir: PathBuf,
    bucket_secs: u64,
    buckets: Mutex<HashMap<u64, Arc<Bucket>>>,
}

fn bucket_path(dir: &Path, bucket: u64) -> PathBuf {
    dir.join(format!("{bucket:020}.chunks"))
}

impl BlobFiles {
    /// Opens the bucket files in `dir`; each holds `bucket_secs` epochs.
    pub fn open(dir: &Path, bucket_secs: u64) -> Result<BlobFiles, StoreError> {
        fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
        Ok(BlobFiles {
            dir: dir.to_owned(),
            bucket_secs,
            buckets: Mutex::new(HashMap::new()),
        })
    }

    fn bucket_of(&self, epoch: u64) -> u64 {
        epoch - epoch % self.bucket_secs
    }

    fn bucket(&self, bucket: u64, create: bool) -> Result<Arc<Bucket>, StoreError> {
        let mut buckets = self.buckets.lock();
        if let Some(b) = buckets.get(&bucket) {
            return Ok(Arc::clone(b));
        }
        let path = bucket_path(&self.dir, bucket);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(create)
            .truncate(false)
            .open(&path)
            .map_err(|e| StoreError::io(&path, e))?;
        let len = file.metadata().map_err(|e| StoreError::io(&path, e))?.len();
        if create && len == 0 {
            // The new file's name must survive a crash along with its bytes.
            File::open(&self.dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| StoreError::io(&self.dir, e))?;
        }
        let b = Arc::new(Bucket {
            file,
            len: Mutex::new(len),
        });
        buckets.insert(bucket, Arc::clone(&b));
        Ok(b)
    }

    /// Appends a chunk of `epoch` and returns where it is. Not durable until
    /// [`BlobFiles::sync`].
    pub fn append(&self, epoch: u64, bytes: &[u8]) -> Result<BlobRef, StoreError> {
        let bucket = self.bucket_of(epoch);
        let file = self.bucket(bucket, true)?;
        let len = u32::try_from(bytes.len()).map_err(|_| {
            StoreError::Corrupt(format!("a chunk of {} bytes is too large", bytes.len()))
        })?;
        let mut end = file.len.lock();
        let offset = *end;
        file.file
            .write_all_at(bytes, offset)
            .map_err(|e| StoreError::io(bucket_path(&self.dir, bucket), e))?;
        *end += u64::from(len);
        Ok(BlobRef {
            bucket,
            offset,
            len,
            checksum: Checksum::of(bytes),
        })
    }

    /// Makes the appended bytes of these buckets durable.
    pub fn sync(&self, refs: impl IntoIterator<Item = u64>) -> Result<(), StoreError> {
        let mut buckets: Vec<u64> = refs.into_iter().collect();
        buckets.sort_unstable();
        buckets.dedup();
        for bucket in buckets {
            self.bucket(bucket, false)?
                .file
                .sync_data()
                .map_err(|e| StoreError::io(bucket_path(&self.dir, bucket), e))?;
        }
        Ok(())
    }

    /// Reads a chunk's bytes and checks them against their checksum.
    ///
    /// Bytes that are wrong are [`StoreError::Corrupt`], saying what is
    /// wrong: a checksum mismatch, a file that ends before the chunk
    /// (truncated), a missing file. Reading them again gives the same
    /// answer. Any other failure to open or read the file (EIO, EMFILE,
    /// ENFILE) is [`StoreError::Io`], which may pass: a reader tries again.
    pub fn read(&self, r: &BlobRef) -> Result<Vec<u8>, StoreError> {
        let path = || bucket_path(&self.dir, r.bucket);
        let file = self.bucket(r.bucket, false).map_err(|e| match e {
            StoreError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                StoreError::Corrupt(format!("bucket file {} is missing", path().display()))
            }
            other => other,
        })?;
        let mut bytes = vec![0u8; r.len as usize];
        if let Err(e) = file.file.read_exact_at(&mut bytes, r.offset) {
            if e.kind() != std::io::ErrorKind::UnexpectedEof {
                return Err(StoreError::io(path(), e));
            }
            let size = file
                .file
                .metadata()
                .map_or_else(|_| "fewer".to_owned(), |m| m.len().to_string());
            return Err(StoreError::Corrupt(format!(
                "truncated file: {} has {size} bytes, the chunk's {} bytes at offset {} end at {}",
                path().display(),
                r.len,
                r.offset,
                r.offset + u64::from(r.len)
            )));
        }
        let actual = Checksum::of(&bytes);
        if actual != r.checksum {
            return Err(StoreError::Corrupt(format!(
                "checksum mismatch: expected {}, actual {} ({} bytes at offset {} of {})",
                r.checksum,
                actual,
                r.len,
                r.offset,
                path().display()
            )));
        }
        Ok(bytes)
    }

    /// Deletes the bucket files all of whose epochs are before `epoch`.
    /// Their pointers must already be gone.
    pub fn delete_before(&self, epoch: u64) -> Result<usize, StoreError> {
        let mut removed = 0;
        let mut buckets = self.buckets.lock();
        for entry in fs::read_dir(&self.dir).map_err(|e| StoreError::io(&self.dir, e))? {
            let path = entry.map_err(|e| StoreError::io(&self.dir, e))?.path();
            let bucket = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".chunks"))
                .and_then(|n| n.parse::<u64>().ok());
            if let Some(bucket) = bucket.filter(|b| b.saturating_add(self.bucket_secs) <= epoch) {
                buckets.remove(&bucket);
                fs::remove_file(&path).map_err(|e| StoreError::io(&path, e))?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}
