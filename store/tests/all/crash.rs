//! Crashes at the worst moments of a commit, in a child process that aborts.
//!
//! The test re-runs its own binary with `EPOCHD_CRASHPOINT` set; the store
//! aborts the child there. The parent then reopens the store and checks.

use std::process::Command;

use epochd_store::{Format, Store};
use epochd_workload::Format as WorkloadFormat;

use crate::support::*;

const CHILD_DIR: &str = "EPOCHD_TEST_CHILD_DIR";
const CHILD_EPOCH: &str = "EPOCHD_TEST_CHILD_EPOCH";

/// In the child: ingest two epochs, then seal (which crashes).
fn child_work() -> bool {
    let (Ok(dir), Ok(epoch)) = (std::env::var(CHILD_DIR), std::env::var(CHILD_EPOCH)) else {
        return false;
    };
    let epoch: u64 = epoch.parse().unwrap();
    let store = Store::open(holding_config(dir.as_ref())).unwrap();
    store
        .ingest(
            &encode([epoch, epoch + 1], 300, WorkloadFormat::MsgPack),
            Format::MsgPack,
        )
        .unwrap();
    store.seal_all().unwrap();
    panic!("the crash point did not fire");
}

fn run_child(test: &str, crashpoint: &str, dir: &std::path::Path, epoch: u64) {
    let status = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR, dir)
        .env(CHILD_EPOCH, epoch.to_string())
        .env("EPOCHD_CRASHPOINT", crashpoint)
        .status()
        .unwrap();
    assert!(!status.success(), "the child must die at {crashpoint}");
    assert!(
        std::os::unix::process::ExitStatusExt::signal(&status).is_some(),
        "the child must be killed by a signal, not fail: {status:?}"
    );
}

#[test]
fn crash_between_chunks_and_manifest_leaves_no_commit_and_no_hook() {
    if child_work() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let epoch = now() - 30;
    run_child(
        "crash::crash_between_chunks_and_manifest_leaves_no_commit_and_no_hook",
        "after-chunks",
        dir.path(),
        epoch,
    );
    let store = Store::open(holding_config(dir.path())).unwrap();
    assert!(
        store.commits(0, u64::MAX, None).unwrap().is_empty(),
        "no commit"
    );
    assert!(store.outbox().is_empty(), "no hook");
    // The acknowledged events are still there, and commit exactly once.
    store.seal_all().unwrap();
    let expected = encode([epoch, epoch + 1], 300, WorkloadFormat::MsgPack);
    assert_eq!(
        stored_events(&store, epoch, epoch + 1),
        expected_events(&expected)
    );
}

#[test]
fn crash_right_after_the_manifest_still_delivers_the_hook() {
    if child_work() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let epoch = now() - 30;
    run_child(
        "crash::crash_right_after_the_manifest_still_delivers_the_hook",
        "after-commit",
        dir.path(),
        epoch,
    );
    let store = Store::open(holding_config(dir.path())).unwrap();
    let commits = store.commits(0, u64::MAX, None).unwrap();
    assert_eq!(
        commits.len(),
        8,
        "all 2 x 4 commits of the sealed batch are durable"
    );
    let pending: Vec<_> = store.outbox().pending().map(Result::unwrap).collect();
    assert_eq!(
        pending.len(),
        8,
        "each with its notice waiting for the daemon"
    );
    for (notice, commit) in pending.iter().zip(&commits) {
        assert_eq!(
            (notice.epoch, &notice.dc, notice.seq),
            (commit.epoch, &commit.dc, commit.seq)
        );
        assert_eq!(notice.manifest_digest, commit.digest);
    }
    // Nothing is committed twice after the restart.
    assert!(store.seal_all().unwrap().is_empty());
    // And the hook fires: a daemon attached now receives every notice.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let delivered = runtime.block_on(async {
        let (dispatcher, mut receiver) = epochd_hooks::local(
            store.outbox(),
            epochd_hooks::Wake::new(),
            epochd_hooks::DispatchOptions::default(),
        );
        let dispatch = tokio::spawn(dispatcher.run());
        let mut delivered = Vec::new();
        while delivered.len() < pending.len() {
            let delivery =
                tokio::time::timeout(std::time::Duration::from_secs(10), receiver.recv())
                    .await
                    .expect("a notice within 10 s")
                    .expect("the dispatcher is running");
            delivered.push(delivery.notice().clone());
            delivery.ack();
        }
        dispatch.abort();
        delivered
    });
    assert_eq!(delivered, pending);
}
