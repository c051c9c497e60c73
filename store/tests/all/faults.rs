//! Real faults: a tmpfs that fills up, a process out of file descriptors.
//! The store refuses what it cannot store with an error that says why,
//! recovers by itself when the resource comes back, and loses nothing it
//! acknowledged.

use std::time::{Duration, Instant};

use epochd_store::{Format, Store, StoreConfig, StoreError, StoreHealth};
use epochd_workload::Format as WorkloadFormat;

use crate::support::*;

fn wal_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir.join("wal"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum()
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The reproduction of issue 10.1: a 1 MiB batch meets a full disk halfway
/// through its WAL record; later batches are acknowledged; after a restart
/// every acknowledged event is there (before the fix, replay cut the log at
/// the torn record and lost every later batch).
#[test]
fn a_wal_append_torn_by_a_full_disk_leaves_no_hole_and_nothing_acknowledged_is_lost() {
    let root = tempfile::tempdir().unwrap();
    let _fs = Tmpfs::mount(root.path(), 24 << 20);
    let data = root.path().join("data");
    let config = StoreConfig {
        // No reserve: the append itself must meet the full disk.
        disk_reserve_bytes: 0,
        ..holding_config(&data)
    };
    let epoch = now() - 60;
    let mut acknowledged = Vec::new();
    {
        let store = Store::open(config.clone()).unwrap();
        let first = encode([epoch], 500, WorkloadFormat::MsgPack);
        store.ingest(&first, Format::MsgPack).unwrap();
        acknowledged.extend_from_slice(&first);

        let filler = _fs.fill(100 << 10);
        let wal_before = wal_bytes(&data);
        let big = encode([epoch + 1], 5000, WorkloadFormat::MsgPack);
        assert!(big.len() > 1 << 20, "a batch larger than the free space");
        let refused = store.ingest(&big, Format::MsgPack).unwrap_err();
        assert!(
            matches!(refused, StoreError::DiskFull { .. }),
            "a full disk is said as such: {refused}"
        );
        assert_eq!(
            wal_bytes(&data),
            wal_before,
            "the torn record is cut off again"
        );

        std::fs::remove_file(filler).unwrap();
        for i in 0..10 {
            let batch = encode([epoch + 2 + i], 200, WorkloadFormat::MsgPack);
            store.ingest(&batch, Format::MsgPack).unwrap();
            acknowledged.extend_from_slice(&batch);
        }
        // Dropped unsealed, as a kill -9 would leave it: only the WAL holds
        // the events.
    }
    let store = Store::open(config).unwrap();
    store.seal_all().unwrap();
    assert_eq!(
        stored_events(&store, epoch, epoch + 20),
        expected_events(&acknowledged),
        "every acknowledged event, once; nothing of the refused batch"
    );
}

/// Commits that meet a full disk keep their epochs; the store refuses
/// writes with a "disk full" error meanwhile, and recovers by itself once
/// space is back (before the fix it stopped for good, asking for a restart).
#[test]
fn commits_failing_on_a_full_disk_are_retried_and_the_store_recovers_without_a_restart() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    // Only the chunk files' directory fills up: the WAL and the database
    // keep working, so the fault hits the commit, not the ingest.
    let chunks = Tmpfs::mount(&data.join("chunks"), 256 << 10);
    let filler = chunks.fill(0);
    let store = Store::open(StoreConfig {
        disk_reserve_bytes: 0,
        ..quick_config(&data)
    })
    .unwrap();
    let epoch = now() - 60;
    let first = encode([epoch], 300, WorkloadFormat::MsgPack);
    let receipt = store.ingest(&first, Format::MsgPack).unwrap();
    wait_for("the store to be degraded by the failing commit", || {
        !store.health().is_ok()
    });
    match store.health() {
        StoreHealth::Degraded { fault, .. } => assert_eq!(fault, "disk_full"),
        other => panic!("expected a passing fault, found {other:?}"),
    }
    let refused = store
        .ingest(
            &encode([epoch + 1], 10, WorkloadFormat::MsgPack),
            Format::MsgPack,
        )
        .unwrap_err();
    assert!(
        matches!(refused, StoreError::DiskFull { .. }),
        "ingest says the disk is full: {refused}"
    );
    assert!(store.stats().commit_faults >= 1);
    assert!(store.stats().writes_refused >= 1);
    assert!(store.commits(0, u64::MAX, None).unwrap().is_empty());

    std::fs::remove_file(filler).unwrap();
    let commits = store
        .wait_committed(&receipt, Duration::from_secs(60))
        .expect("the sealer commits by itself once space is back");
    assert_eq!(commits.len(), 4, "one commit per dc");
    assert_eq!(store.health(), StoreHealth::Ok);
    let second = encode([epoch + 1], 300, WorkloadFormat::MsgPack);
    let receipt = store.ingest(&second, Format::MsgPack).unwrap();
    store
        .wait_committed(&receipt, Duration::from_secs(60))
        .unwrap();
    let mut all = first;
    all.extend_from_slice(&second);
    assert_eq!(
        stored_events(&store, epoch, epoch + 1),
        expected_events(&all)
    );
    let seqs: Vec<u32> = store
        .commits(epoch, epoch, None)
        .unwrap()
        .iter()
        .map(|c| c.seq)
        .collect();
    assert_eq!(
        seqs,
        [0, 0, 0, 0],
        "each epoch committed once, not in parts"
    );
}

/// The disk reserve: ingest is refused before the disk is full, so commits
/// have room to finish, and resumes once space is back.
#[test]
fn ingest_is_refused_below_the_disk_reserve_and_resumes_above_it() {
    let root = tempfile::tempdir().unwrap();
    let fs = Tmpfs::mount(root.path(), 16 << 20);
    let data = root.path().join("data");
    let store = Store::open(StoreConfig {
        disk_reserve_bytes: 4 << 20,
        ..holding_config(&data)
    })
    .unwrap();
    let filler = fs.fill(2 << 20);
    let batch = encode([now() - 30], 100, WorkloadFormat::MsgPack);
    let refused = store.ingest(&batch, Format::MsgPack).unwrap_err();
    assert!(
        matches!(&refused, StoreError::DiskFull { detail } if detail.contains("in reserve")),
        "{refused}"
    );
    assert!(matches!(store.health(), StoreHealth::Degraded { .. }));
    std::fs::remove_file(filler).unwrap();
    assert_eq!(store.health(), StoreHealth::Ok);
    assert_eq!(store.ingest(&batch, Format::MsgPack).unwrap().accepted, 100);
}

const CHILD_DIR: &str = "EPOCHD_TEST_FD_CHILD_DIR";

/// In a child process (the file-descriptor limit is per process): ingest,
/// use up every descriptor so the commit cannot open its chunk file, check
/// the refusal, give the descriptors back, and check the store recovers.
fn fd_child() -> bool {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return false;
    };
    let store = Store::open(StoreConfig {
        disk_reserve_bytes: 0,
        ..quick_config(dir.as_ref())
    })
    .unwrap();
    let epoch = now() - 60;
    let first = encode([epoch], 300, WorkloadFormat::MsgPack);
    let receipt = {
        // Lower the limit, then take every descriptor left under it.
        let (soft, hard) = (256, 256);
        rustix::process::setrlimit(
            rustix::process::Resource::Nofile,
            rustix::process::Rlimit {
                current: Some(soft),
                maximum: Some(hard),
            },
        )
        .unwrap();
        let mut held = Vec::new();
        while let Ok(f) = std::fs::File::open("/dev/null") {
            held.push(f);
        }
        // The WAL's segment is open already: ingest needs no new descriptor,
        // but the commit must open a chunk file.
        let receipt = store.ingest(&first, Format::MsgPack).unwrap();
        wait_for("the commit to fail for want of descriptors", || {
            matches!(
                store.health(),
                StoreHealth::Degraded {
                    fault: "no_file_descriptors",
                    ..
                }
            )
        });
        let refused = store
            .ingest(
                &encode([epoch + 1], 10, WorkloadFormat::MsgPack),
                Format::MsgPack,
            )
            .unwrap_err();
        assert!(
            matches!(refused, StoreError::Unavailable { .. }),
            "ingest says why: {refused}"
        );
        drop(held);
        receipt
    };
    store
        .wait_committed(&receipt, Duration::from_secs(60))
        .expect("the store recovers once descriptors are back");
    assert_eq!(store.health(), StoreHealth::Ok);
    assert_eq!(stored_events(&store, epoch, epoch), expected_events(&first));
    true
}

#[test]
fn a_store_out_of_file_descriptors_refuses_writes_then_recovers_without_a_restart() {
    if fd_child() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    run_in_child(
        "faults::a_store_out_of_file_descriptors_refuses_writes_then_recovers_without_a_restart",
        (CHILD_DIR, dir.path()),
    );
}
