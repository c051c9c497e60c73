//! Reading chunks whose stored bytes were damaged on disk: each read says
//! which chunk and what is wrong ([`StoreError::CorruptChunk`]), while a
//! failure that may pass (no file descriptor left) stays an I/O error.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use epochd_store::{ChunkKey, Fault, Format, ManifestKey, Store, StoreError};
use epochd_workload::Format as WorkloadFormat;

use crate::support::*;

/// The bucket files of a store's data directory.
fn bucket_files(data: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(data.join("chunks"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "chunks"))
        .collect();
    files.sort();
    files
}

/// Commits `epochs`, one ingest each, and returns every chunk key of them.
fn commit(store: &Store, epochs: std::ops::Range<u64>) -> Vec<ChunkKey> {
    for e in epochs.clone() {
        store
            .ingest(&encode([e], 300, WorkloadFormat::MsgPack), Format::MsgPack)
            .unwrap();
    }
    store.seal_all().unwrap();
    let mut keys = Vec::new();
    for c in store.commits(epochs.start, epochs.end - 1, None).unwrap() {
        let manifest = store
            .manifest(&ManifestKey {
                epoch: c.epoch,
                dc: c.dc,
                seq: c.seq,
            })
            .unwrap()
            .unwrap();
        keys.extend(manifest.chunks.iter().map(|e| manifest.chunk_key(e)));
    }
    assert!(keys.len() > 4, "several chunks: {keys:?}");
    keys
}

/// Inverts every 7th byte of `file`, in place (the store keeps it open).
fn flip_bytes(file: &Path) {
    let f = std::fs::OpenOptions::new().write(true).open(file).unwrap();
    let mut bytes = std::fs::read(file).unwrap();
    for b in bytes.iter_mut().step_by(7) {
        *b = !*b;
    }
    f.write_all_at(&bytes, 0).unwrap();
    f.sync_all().unwrap();
}

#[test]
fn a_chunk_whose_bytes_were_flipped_is_corrupt_with_its_key_and_both_checksums() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(holding_config(dir.path())).unwrap();
    let keys = commit(&store, now() - 100..now() - 98);
    for file in bucket_files(dir.path()) {
        flip_bytes(&file);
    }
    for key in &keys {
        match store.chunk(key) {
            Err(StoreError::CorruptChunk { key: named, reason }) => {
                assert_eq!(*named, *key);
                assert!(
                    reason.starts_with("checksum mismatch: expected ")
                        && reason.contains(", actual "),
                    "{reason}"
                );
                let shown = StoreError::CorruptChunk { key: named, reason }.to_string();
                assert!(shown.contains(&key.to_string()), "{shown}");
            }
            other => panic!("{key}: expected a corrupt chunk, got {other:?}"),
        }
    }
}

#[test]
fn a_chunk_past_the_end_of_a_truncated_bucket_file_is_corrupt_and_says_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(holding_config(dir.path())).unwrap();
    let keys = commit(&store, now() - 100..now() - 98);
    let files = bucket_files(dir.path());
    for file in &files {
        let f = std::fs::OpenOptions::new().write(true).open(file).unwrap();
        let len = f.metadata().unwrap().len();
        f.set_len(len / 2).unwrap();
    }
    let (mut intact, mut truncated) = (0, 0);
    for key in &keys {
        match store.chunk(key) {
            Ok(Some(_)) => intact += 1,
            Err(StoreError::CorruptChunk { key: named, reason }) => {
                assert_eq!(*named, *key);
                assert!(reason.starts_with("truncated file: "), "{reason}");
                truncated += 1;
            }
            other => panic!("{key}: expected the chunk or a truncated one, got {other:?}"),
        }
    }
    assert!(truncated > 0, "the chunks past the cut are truncated");
    assert!(intact > 0, "the chunks before the cut still read");
}

#[test]
fn a_chunk_whose_bucket_file_is_missing_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let config = holding_config(dir.path());
    let keys = {
        let store = Store::open(config.clone()).unwrap();
        let keys = commit(&store, now() - 100..now() - 98);
        store.close().unwrap();
        keys
    };
    for file in bucket_files(dir.path()) {
        std::fs::remove_file(file).unwrap();
    }
    let store = Store::open(config).unwrap();
    match store.chunk(&keys[0]) {
        Err(StoreError::CorruptChunk { reason, .. }) => {
            assert!(
                reason.starts_with("bucket file ") && reason.ends_with(" is missing"),
                "{reason}"
            );
        }
        other => panic!("expected a corrupt chunk, got {other:?}"),
    }
}

const CHILD_DIR: &str = "EPOCHD_TEST_READ_FD_CHILD_DIR";

/// In a child process (the file-descriptor limit is per process): a chunk
/// whose bucket file cannot be opened for want of descriptors is an I/O
/// error that may pass, not corruption; it reads once descriptors are back.
fn fd_child() -> bool {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return false;
    };
    let config = holding_config(dir.as_ref());
    let keys = {
        let store = Store::open(config.clone()).unwrap();
        let keys = commit(&store, now() - 100..now() - 98);
        store.close().unwrap();
        keys
    };
    // Reopened: no bucket file is open yet.
    let store = Store::open(config).unwrap();
    rustix::process::setrlimit(
        rustix::process::Resource::Nofile,
        rustix::process::Rlimit {
            current: Some(256),
            maximum: Some(256),
        },
    )
    .unwrap();
    let mut held = Vec::new();
    while let Ok(f) = std::fs::File::open("/dev/null") {
        held.push(f);
    }
    let failed = store.chunk(&keys[0]).unwrap_err();
    assert!(
        !matches!(failed, StoreError::CorruptChunk { .. }),
        "no descriptor left is not corruption: {failed}"
    );
    assert_eq!(
        failed.transient_fault(),
        Some(Fault::NoDescriptors),
        "{failed}"
    );
    drop(held);
    assert!(store.chunk(&keys[0]).unwrap().is_some());
    true
}

#[test]
fn a_chunk_read_without_file_descriptors_is_a_passing_io_error_not_corruption() {
    if fd_child() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    run_in_child(
        "corrupt::a_chunk_read_without_file_descriptors_is_a_passing_io_error_not_corruption",
        (CHILD_DIR, dir.path()),
    );
}
