//! The relocators' path: PUT chunks, then PUT the manifest.

use epochd_store::{
    Checksum, ChunkKey, Manifest, ManifestError, ManifestKey, PutOutcome, Store, StoreError, Upload,
};
use epochd_workload::Format as WorkloadFormat;

use crate::support::*;

/// What a relocator sends for one (epoch, dc): its chunks, its manifest,
/// and (for checking) the raw events.
type RelocatorUpload = (Vec<(ChunkKey, Vec<u8>)>, Manifest, Vec<u8>);

/// The upload a relocator would send for one (epoch, dc).
fn relocator_upload(epoch: u64, dc: &str) -> RelocatorUpload {
    let all = encode([epoch], 400, WorkloadFormat::MsgPack);
    let mine: Vec<u8> = epochd_store::split_events(&all)
        .map(Result::unwrap)
        .filter(|e| epochd_store::scan_event(e).unwrap().0.dc == Some(dc))
        .flatten()
        .copied()
        .collect();
    let mut uploads = Upload::group(&mine, 0, "local", 3).unwrap();
    assert_eq!(uploads.len(), 1);
    let Upload { chunks, manifest } = uploads.pop().unwrap();
    (chunks, manifest, mine)
}

#[test]
fn chunks_then_manifest_commit_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(holding_config(dir.path())).unwrap();
    let epoch = now() - 50;
    let (chunks, manifest, events) = relocator_upload(epoch, "lhr4");
    for (key, blob) in &chunks {
        assert_eq!(store.put_chunk(key, blob).unwrap(), PutOutcome::Created);
        assert_eq!(
            store.put_chunk(key, blob).unwrap(),
            PutOutcome::AlreadyPresent
        );
    }
    let committed = store.put_manifest(manifest.clone()).unwrap();
    let notice = committed.notice.expect("a first commit queues a notice");
    assert_eq!(
        (notice.epoch, notice.dc.as_str(), notice.seq),
        (epoch, "lhr4", 0)
    );
    assert_eq!(notice.manifest_digest, manifest.digest());
    assert_eq!(store.outbox().len(), 1);
    assert_eq!(
        stored_events(&store, epoch, epoch),
        expected_events(&events)
    );
    // Idempotent: the same manifest again commits nothing new.
    assert!(store.put_manifest(manifest).unwrap().notice.is_none());
    assert_eq!(store.outbox().len(), 1);
}

#[test]
fn a_manifest_naming_a_missing_chunk_is_refused_and_commits_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(holding_config(dir.path())).unwrap();
    let (chunks, manifest, _) = relocator_upload(now() - 50, "ams5");
    for (key, blob) in chunks.iter().skip(1) {
        store.put_chunk(key, blob).unwrap();
    }
    let err = store.put_manifest(manifest.clone()).unwrap_err();
    assert!(
        matches!(&err, StoreError::Manifest(m) if matches!(**m, ManifestError::MissingChunk(_))),
        "{err}"
    );
    assert_contains(&err, "PUT every chunk before the manifest");
    assert!(store.manifest(&manifest.key()).unwrap().is_none());
    assert!(store.outbox().is_empty());
}

#[test]
fn checksum_size_and_count_mismatches_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(holding_config(dir.path())).unwrap();
    let (chunks, manifest, _) = relocator_upload(now() - 50, "ams4");
    for (key, blob) in &chunks {
        store.put_chunk(key, blob).unwrap();
    }
    let mut bad = manifest.clone();
    bad.chunks[0].checksum = Checksum(bad.chunks[0].checksum.0 ^ 1);
    assert_contains(&store.put_manifest(bad).unwrap_err(), "has checksum");
    let mut bad = manifest.clone();
    bad.chunks[0].bytes += 1;
    assert_contains(
        &store.put_manifest(bad).unwrap_err(),
        "bytes but the manifest says",
    );
    let mut bad = manifest.clone();
    bad.chunks[0].events += 1;
    bad.events += 1;
    assert_contains(
        &store.put_manifest(bad).unwrap_err(),
        "events, the manifest says",
    );
    let mut bad = manifest.clone();
    bad.events += 1;
    assert_contains(&store.put_manifest(bad).unwrap_err(), "but the chunks hold");
    let mut bad = manifest.clone();
    bad.version = 9;
    assert_contains(
        &store.put_manifest(bad).unwrap_err(),
        "manifest version 9 is not supported",
    );
    assert!(store.manifest(&manifest.key()).unwrap().is_none());
    assert!(store.outbox().is_empty());
    // The good one still commits afterwards.
    store.put_manifest(manifest).unwrap();
}

#[test]
fn chunks_are_immutable_and_must_hold_their_keys_events() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(holding_config(dir.path())).unwrap();
    let epoch = now() - 50;
    let (chunks, _, _) = relocator_upload(epoch, "ams4");
    let (key, blob) = &chunks[0];
    store.put_chunk(key, blob).unwrap();
    let other = &chunks[1].1;
    let err = store.put_chunk(key, other).unwrap_err();
    // Either refused as another lane's events, or as a conflict: never stored.
    assert!(err.is_client_error());
    assert_eq!(&store.chunk(key).unwrap().unwrap(), blob);
    let moved = ChunkKey {
        epoch: epoch + 1,
        ..key.clone()
    };
    assert_contains(
        &store.put_chunk(&moved, blob).unwrap_err(),
        "does not belong in this chunk",
    );
    assert_contains(
        &store.put_chunk(&moved, b"garbage").unwrap_err(),
        "not a zstd frame",
    );
}

#[test]
fn a_different_manifest_for_a_committed_key_is_a_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(holding_config(dir.path())).unwrap();
    let (chunks, manifest, _) = relocator_upload(now() - 50, "fra3");
    for (key, blob) in &chunks {
        store.put_chunk(key, blob).unwrap();
    }
    store.put_manifest(manifest.clone()).unwrap();
    let mut smaller = manifest.clone();
    let dropped = smaller.chunks.pop().unwrap();
    smaller.events -= dropped.events;
    let err = store.put_manifest(smaller).unwrap_err();
    assert!(
        matches!(&err, StoreError::Manifest(m)
            if matches!(**m, ManifestError::Conflict(ManifestKey { seq: 0, .. }))),
        "{err}"
    );
    // The same chunks may be committed under the next seq.
    let mut next = manifest;
    next.seq = 1;
    assert!(store.put_manifest(next).unwrap().notice.is_some());
}

/// A relocator's epoch is held to the bounds of an event's timestamp: one
/// far-future commit would otherwise become every reader's newest epoch,
/// and one older than retention would be deleted at once.
#[test]
fn chunks_and_manifests_of_epochs_outside_the_clocks_bounds_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(holding_config(dir.path())).unwrap();
    let retention = store.config().retention_secs;
    for (epoch, why) in [
        (now() + 100_000, "in the future"),
        (now() - retention - 3600, "older than the retention horizon"),
    ] {
        let (chunks, manifest, _) = relocator_upload(epoch, "lhr4");
        let (key, blob) = &chunks[0];
        let err = store.put_chunk(key, blob).unwrap_err();
        assert!(
            matches!(err, StoreError::EpochOutOfBounds { .. }) && err.is_client_error(),
            "{err:?}"
        );
        let message = err.to_string();
        assert!(
            message.contains(why) && message.contains("chunk "),
            "{message}"
        );
        let err = store.put_manifest(manifest).unwrap_err();
        assert!(err.to_string().contains(why), "{err}");
        assert!(store.chunk(key).unwrap().is_none(), "nothing was stored");
    }
    // At the edge of the future bound: taken.
    let (chunks, manifest, _) = relocator_upload(now() + 60, "lhr4");
    for (key, blob) in &chunks {
        store.put_chunk(key, blob).unwrap();
    }
    store.put_manifest(manifest).unwrap();
}
