//! Producer idempotency keys: a batch sent again with its key is stored
//! once, across restarts, and a refused batch leaves no key behind.

use std::time::Duration;

use epochd_store::{Format, Store, StoreConfig, StoreError};
use epochd_workload::Format as WorkloadFormat;

use crate::support::*;

const KEY: &str = "8e03978e-40d5-43e8-bc93-6894a57f9324";

fn ingest(
    store: &Store,
    body: &[u8],
    key: &str,
) -> Result<epochd_store::IngestReceipt, StoreError> {
    store.ingest_with_key(body, Format::MsgPack, Some(key))
}

#[test]
fn the_same_key_twice_stores_the_batch_once_and_answers_the_first_receipt() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(holding_config(dir.path())).unwrap();
    let epoch = now() - 40;
    let body = encode([epoch, epoch + 1], 100, WorkloadFormat::MsgPack);
    let first = ingest(&store, &body, KEY).unwrap();
    assert!(!first.replayed);
    assert_eq!(first.accepted, 200);
    let again = ingest(&store, &body, KEY).unwrap();
    assert!(again.replayed, "the repeat is marked");
    assert_eq!(
        (
            again.accepted,
            again.lsn,
            &again.epochs,
            again.too_old_total
        ),
        (
            first.accepted,
            first.lsn,
            &first.epochs,
            first.too_old_total
        )
    );
    let stats = store.stats();
    assert_eq!(stats.events_accepted, 200, "the repeat accepted nothing");
    assert_eq!(stats.idempotent_replays, 1);
    // Another key is another batch.
    ingest(&store, &body, "another-key").unwrap();
    store.seal_all().unwrap();
    let mut twice = body.clone();
    twice.extend_from_slice(&body);
    assert_eq!(
        stored_events(&store, epoch, epoch + 1),
        expected_events(&twice)
    );
}

#[test]
fn the_same_key_with_another_body_is_refused_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(holding_config(dir.path())).unwrap();
    let epoch = now() - 40;
    let body = encode([epoch], 50, WorkloadFormat::MsgPack);
    let other = encode([epoch + 1], 50, WorkloadFormat::MsgPack);
    ingest(&store, &body, KEY).unwrap();
    let err = ingest(&store, &other, KEY).unwrap_err();
    assert!(
        matches!(err, StoreError::IdempotencyKeyReused { .. }),
        "{err}"
    );
    assert!(err.is_client_error());
    assert_contains(&err, "different batch");
    // The same bytes as NDJSON are another request too.
    let ndjson = encode([epoch], 50, WorkloadFormat::Ndjson);
    let err = store
        .ingest_with_key(&ndjson, Format::Ndjson, Some(KEY))
        .unwrap_err();
    assert!(matches!(err, StoreError::IdempotencyKeyReused { .. }));
    assert_eq!(store.stats().events_accepted, 50);
    store.seal_all().unwrap();
    assert_eq!(
        stored_events(&store, epoch, epoch + 1),
        expected_events(&body)
    );
}

#[test]
fn a_key_that_is_not_printable_ascii_of_at_most_128_bytes_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(holding_config(dir.path())).unwrap();
    let body = encode([now() - 40], 5, WorkloadFormat::MsgPack);
    for key in ["", &"k".repeat(129), "new\nline", "ключ"] {
        let err = ingest(&store, &body, key).unwrap_err();
        assert!(
            matches!(err, StoreError::BadIdempotencyKey(_)),
            "{key:?}: {err}"
        );
        assert!(err.is_client_error());
    }
    assert_eq!(store.stats().events_accepted, 0);
}

#[test]
fn a_key_survives_a_reopen_without_sealing_through_the_write_ahead_log() {
    let dir = tempfile::tempdir().unwrap();
    let epoch = now() - 40;
    let body = encode([epoch], 80, WorkloadFormat::MsgPack);
    let first = {
        let store = Store::open(holding_config(dir.path())).unwrap();
        let receipt = ingest(&store, &body, KEY).unwrap();
        // Dropped without sealing: only the write-ahead log has the batch,
        // and its key.
        receipt
    };
    let store = Store::open(holding_config(dir.path())).unwrap();
    let again = ingest(&store, &body, KEY).unwrap();
    assert!(again.replayed, "the replayed log remembers the key");
    assert_eq!((again.accepted, again.lsn), (first.accepted, first.lsn));
    assert!(matches!(
        ingest(&store, &encode([epoch], 3, WorkloadFormat::MsgPack), KEY),
        Err(StoreError::IdempotencyKeyReused { .. })
    ));
    store.seal_all().unwrap();
    assert_eq!(stored_events(&store, epoch, epoch), expected_events(&body));
    // The repeat's commits, found after the restart.
    let commits = store
        .wait_committed(&again, Duration::from_secs(10))
        .unwrap();
    assert_eq!(commits.len(), 4, "one per dc: {commits:?}");
    assert!(commits.iter().all(|c| c.epoch == epoch && c.seq == 0));
}

#[test]
fn a_key_survives_a_reopen_after_its_batch_was_committed_and_its_log_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let config = || StoreConfig {
        wal_segment_bytes: 64 * 1024,
        ..holding_config(dir.path())
    };
    let epoch = now() - 40;
    let body = encode([epoch], 300, WorkloadFormat::MsgPack);
    assert!(body.len() > 64 * 1024, "the batch fills its segment");
    let (first, first_commits) = {
        let store = Store::open(config()).unwrap();
        let receipt = ingest(&store, &body, KEY).unwrap();
        // A later batch of the same (epoch, dc)s, in the next segment, so
        // the repeat must find the first commit, not the last.
        let late = encode([epoch], 310, WorkloadFormat::MsgPack);
        let late: Vec<u8> = epochd_store::split_events(&late)
            .skip(300)
            .flat_map(|e| e.unwrap().to_vec())
            .collect();
        let commits = store.wait_committed(&receipt, Duration::ZERO);
        assert!(commits.is_err(), "not committed yet");
        store.seal_all().unwrap();
        let commits = store
            .wait_committed(&receipt, Duration::from_secs(10))
            .unwrap();
        store.ingest(&late, Format::MsgPack).unwrap();
        store.seal_all().unwrap();
        let wal: Vec<String> = std::fs::read_dir(dir.path().join("wal"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            !wal.contains(&format!("{:020}.wal", receipt.lsn.unwrap())),
            "the keyed batch's segment is deleted: {wal:?}"
        );
        (receipt, commits)
    };
    let store = Store::open(config()).unwrap();
    let again = ingest(&store, &body, KEY).unwrap();
    assert!(again.replayed, "the database remembers the key");
    assert_eq!(
        (again.accepted, again.lsn, &again.epochs),
        (first.accepted, first.lsn, &first.epochs)
    );
    // `?wait=commit` of the repeat names the first batch's commits (seq 0),
    // not the later ones (seq 1).
    let commits = store
        .wait_committed(&again, Duration::from_secs(10))
        .unwrap();
    assert_eq!(commits, first_commits);
    assert!(commits.iter().all(|c| c.seq == 0), "{commits:?}");
    assert!(store.seal_all().unwrap().is_empty(), "nothing stored again");
    assert_eq!(store.stats().events_accepted, 0);
}

#[test]
fn a_refused_batch_leaves_no_key_and_its_retry_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let epoch = now() - 40;
    let body = encode([epoch], 20, WorkloadFormat::MsgPack);
    {
        // A 507: a write would eat into an impossible disk reserve.
        let store = Store::open(StoreConfig {
            disk_reserve_bytes: u64::MAX / 2,
            ..holding_config(dir.path())
        })
        .unwrap();
        let err = ingest(&store, &body, KEY).unwrap_err();
        assert!(matches!(err, StoreError::DiskFull { .. }), "{err}");
        // A 400: an invalid batch, under the same key.
        let mut bad = body.clone();
        bad.truncate(bad.len() - 3);
        let err = ingest(&store, &bad, KEY).unwrap_err();
        assert!(matches!(err, StoreError::BadBatch { .. }), "{err}");
    }
    let store = Store::open(holding_config(dir.path())).unwrap();
    let retry = ingest(&store, &body, KEY).unwrap();
    assert!(!retry.replayed, "no refusal remembered the key");
    assert_eq!(retry.accepted, 20);
    store.seal_all().unwrap();
    assert_eq!(stored_events(&store, epoch, epoch), expected_events(&body));
}

#[test]
fn concurrent_requests_with_one_key_store_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(holding_config(dir.path())).unwrap();
    let epoch = now() - 40;
    let body = encode([epoch], 200, WorkloadFormat::MsgPack);
    let answers: Vec<Result<epochd_store::IngestReceipt, StoreError>> = std::thread::scope(|s| {
        let threads: Vec<_> = (0..8)
            .map(|_| s.spawn(|| ingest(&store, &body, KEY)))
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let stored = answers
        .iter()
        .filter(|a| a.as_ref().is_ok_and(|r| !r.replayed))
        .count();
    assert_eq!(stored, 1, "{answers:?}");
    for answer in &answers {
        match answer {
            Ok(_) | Err(StoreError::IdempotencyKeyInFlight { .. }) => {}
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert!(ingest(&store, &body, KEY).unwrap().replayed);
    store.seal_all().unwrap();
    assert_eq!(stored_events(&store, epoch, epoch), expected_events(&body));
}

#[test]
fn a_key_is_new_again_after_its_window() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig {
        idempotency_window_secs: 1,
        ..holding_config(dir.path())
    })
    .unwrap();
    let epoch = now() - 40;
    let body = encode([epoch], 10, WorkloadFormat::MsgPack);
    ingest(&store, &body, KEY).unwrap();
    // The window counts whole seconds from the first acceptance: at most
    // two seconds on.
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    loop {
        let answer = ingest(&store, &body, KEY).unwrap();
        if !answer.replayed {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the key never expired"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    store.seal_all().unwrap();
    let mut twice = body.clone();
    twice.extend_from_slice(&body);
    assert_eq!(stored_events(&store, epoch, epoch), expected_events(&twice));
}
