//! A store's closure (`Store::closed_through`, docs/CLUSTER.md, "The
//! gateway's contract"): held back by the oldest open epoch, then by the
//! oldest commit the daemon has not acknowledged, else by the clock.

use epochd_store::{Format, Store, StoreConfig};
use epochd_workload::Format as WorkloadFormat;

use crate::support::*;

#[test]
fn the_closure_waits_for_open_epochs_and_unacknowledged_commits() {
    let dir = tempfile::tempdir().unwrap();
    // No grace, and nothing sealed by itself: the test seals.
    let store = Store::open(StoreConfig {
        quiet_ms: 3_600_000,
        max_hold_ms: 3_600_000,
        ..quick_config(dir.path())
    })
    .unwrap();
    let before = now();
    assert!(
        store.closed_through() + 2 >= before,
        "only the clock holds it"
    );
    let epoch = before - 30;
    store
        .ingest(
            &encode([epoch], 200, WorkloadFormat::MsgPack),
            Format::MsgPack,
        )
        .unwrap();
    assert_eq!(store.closed_through(), epoch - 1, "an open epoch holds it");
    store.seal_all().unwrap();
    assert_eq!(
        store.closed_through(),
        epoch - 1,
        "a commit not acknowledged holds it"
    );
    let pending: Vec<_> = store.outbox().pending().map(Result::unwrap).collect();
    assert_eq!(pending.len(), 4, "one commit per dc");
    for notice in &pending[..3] {
        store.outbox().ack(notice.commit_id).unwrap();
    }
    assert_eq!(store.closed_through(), epoch - 1, "one dc still holds it");
    store.outbox().ack(pending[3].commit_id).unwrap();
    assert!(store.closed_through() + 2 >= before);
}
