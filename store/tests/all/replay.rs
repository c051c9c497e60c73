//! Acknowledged events survive a restart and are committed exactly once.

use epochd_store::{Format, Store};
use epochd_workload::Format as WorkloadFormat;

use crate::support::*;

#[test]
fn unsealed_events_are_committed_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let epoch = now() - 40;
    let events = encode([epoch, epoch + 1], 300, WorkloadFormat::MsgPack);
    {
        let store = Store::open(holding_config(dir.path())).unwrap();
        store.ingest(&events, Format::MsgPack).unwrap();
        assert!(store.commits(0, u64::MAX, None).unwrap().is_empty());
        // Dropped without sealing: only the write-ahead log has the events.
    }
    let store = Store::open(holding_config(dir.path())).unwrap();
    assert_eq!(store.stats().open_epochs, 8, "2 epochs x 4 dcs replayed");
    store.seal_all().unwrap();
    assert_eq!(
        stored_events(&store, epoch, epoch + 1),
        expected_events(&events)
    );
}

#[test]
fn replay_skips_what_was_committed_and_keeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let a = now() - 40;
    let first = encode([a, a + 1], 200, WorkloadFormat::MsgPack);
    let late_a = encode([a], 250, WorkloadFormat::MsgPack);
    // Events 200..250 of epoch `a` arrive late, beside a new epoch.
    let late_a: Vec<u8> = epochd_store::split_events(&late_a)
        .skip(200)
        .flat_map(|e| e.unwrap().to_vec())
        .collect();
    let c = encode([a + 2], 100, WorkloadFormat::MsgPack);
    {
        let store = Store::open(holding_config(dir.path())).unwrap();
        store.ingest(&first, Format::MsgPack).unwrap();
        store.seal_all().unwrap();
        let mut second = late_a.clone();
        second.extend_from_slice(&c);
        store.ingest(&second, Format::MsgPack).unwrap();
    }
    // The first batch's WAL record is still replayed (same segment), but its
    // events are already committed: they must not come back twice.
    let store = Store::open(holding_config(dir.path())).unwrap();
    store.seal_all().unwrap();
    let mut all = first.clone();
    all.extend_from_slice(&late_a);
    all.extend_from_slice(&c);
    assert_eq!(stored_events(&store, a, a + 2), expected_events(&all));
    let seqs: Vec<u32> = store
        .commits(a, a, Some("ams4"))
        .unwrap()
        .iter()
        .map(|c| c.seq)
        .collect();
    assert_eq!(seqs, [0, 1], "late events of a committed epoch form seq 1");
}

#[test]
fn the_log_is_trimmed_once_its_events_are_committed() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(epochd_store::StoreConfig {
        wal_segment_bytes: 64 * 1024,
        ..holding_config(dir.path())
    })
    .unwrap();
    let epoch = now() - 40;
    for e in 0..4 {
        store
            .ingest(
                &encode([epoch + e], 300, WorkloadFormat::MsgPack),
                Format::MsgPack,
            )
            .unwrap();
    }
    assert!(store.stats().wal_segments >= 4);
    store.seal_all().unwrap();
    assert_eq!(
        store.stats().wal_segments,
        1,
        "only the current segment remains"
    );
}
