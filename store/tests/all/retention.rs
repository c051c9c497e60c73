//! Retention deletes old epochs, keeps new ones, and gives the disk back.

use std::time::{Duration, Instant};

use epochd_store::{Format, Store, StoreConfig};
use epochd_workload::Format as WorkloadFormat;

use crate::support::*;

#[test]
fn sweeping_deletes_old_epochs_and_keeps_new_ones() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(holding_config(dir.path())).unwrap();
    let first = now() - 200;
    for e in first..first + 12 {
        store
            .ingest(&encode([e], 500, WorkloadFormat::MsgPack), Format::MsgPack)
            .unwrap();
    }
    store.seal_all().unwrap();
    let cut = first + 8;
    let report = store.sweep_before(cut).unwrap();
    assert_eq!(report.manifests, 8 * 4);
    assert!(report.chunks >= 8 * 4 * 2, "{report:?}");
    let left = store.commits(0, u64::MAX, None).unwrap();
    assert_eq!(left.len(), 4 * 4);
    assert!(left.iter().all(|c| c.epoch >= cut));
    assert_eq!(stored_events(&store, cut, first + 11).len(), 4 * 4);
    for e in first..cut {
        let key = epochd_store::ChunkKey {
            epoch: e,
            dc: "ams4".into(),
            event_type: "AV".into(),
            subtype: Some("availability_cluster".into()),
            chunk: 0,
        };
        assert!(store.chunk(&key).unwrap().is_none(), "chunk {key} survived");
    }
}

#[test]
fn disk_use_stays_flat_under_steady_ingest_with_retention() {
    // Ingest 90 epochs while keeping only the newest 10 (chunk files of 5
    // epochs): if deleted epochs gave no space back, the disk would grow
    // ninefold from epoch 10 to 90.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig {
        chunk_file_secs: 5,
        ..holding_config(dir.path())
    })
    .unwrap();
    let first = now() - 1000;
    let mut chunk_bytes = Vec::new();
    let mut written = 0;
    for e in first..first + 90 {
        store
            .ingest(
                &encode([e], 3_000, WorkloadFormat::MsgPack),
                Format::MsgPack,
            )
            .unwrap();
        written += store
            .seal_all()
            .unwrap()
            .iter()
            .flat_map(|c| &c.manifest.chunks)
            .map(|c| c.bytes)
            .sum::<u64>();
        store.sweep_before(e.saturating_sub(9)).unwrap();
        if (e - first + 1) % 10 == 0 {
            chunk_bytes.push(store.disk_usage().chunks);
        }
    }
    let usage = store.disk_usage();
    eprintln!("chunk file bytes every 10 epochs: {chunk_bytes:?}; at the end {usage:?}; {written} chunk bytes written");
    let plateau = chunk_bytes[1];
    assert!(
        chunk_bytes.iter().all(|b| *b <= plateau * 3 / 2),
        "chunk files grew past {plateau} bytes while retained data stayed the same: {chunk_bytes:?}"
    );
    assert!(
        usage.chunks * 4 < written,
        "most chunk bytes written must be gone"
    );
    assert!(
        usage.db * 10 < written,
        "the database holds only pointers and manifests"
    );
}

#[test]
fn the_background_sweeper_applies_the_retention() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig {
        retention_secs: 4,
        sweep_interval_ms: 100,
        ..quick_config(dir.path())
    })
    .unwrap();
    let old = now() - 2;
    let receipt = store
        .ingest(
            format!(r#"{{"type":"A","timestamp":{old}}}"#).as_bytes(),
            Format::Ndjson,
        )
        .unwrap();
    store
        .wait_committed(&receipt, Duration::from_secs(10))
        .unwrap();
    let fresh_at = now();
    assert_eq!(store.commits(old, old, None).unwrap().len(), 1);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !store.commits(old, old, None).unwrap().is_empty() {
        assert!(Instant::now() < deadline, "epoch {old} was never swept");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(now() >= old + 4, "swept before its retention ended");
    assert!(now() >= fresh_at);
}
